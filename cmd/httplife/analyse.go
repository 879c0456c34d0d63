package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/pipeline"
	"github.com/httplife/httplife/internal/summary"
	"github.com/httplife/httplife/internal/tlsrec"
	"github.com/httplife/httplife/render"
	"github.com/httplife/httplife/tcpstate"
)

// analyseOptions holds the parsed flags of `httplife analyse`.
type analyseOptions struct {
	s *streams
	// Path is the first input as given (for messages); Inputs are all of
	// them (files, directories, globs, "-"), Expr the packet filter
	// (--filter or the words after the inputs), NoRotated says to read
	// only the files named (not the rest of a rotated set).
	Path        string
	Inputs      []string
	Expr        string
	NoRotated   bool
	Format      string
	Output      string
	TwoMSL      time.Duration
	Ports       []uint16
	ServerPorts []uint16
	MaxConns    int
	// All lists every connection in the text output (else a big capture's
	// are summarised: those that matter, then the rest in groups).
	All bool
	// KeyLog is the SSLKEYLOGFILE that decrypts HTTPS ("": none).
	KeyLog string
	// MetricsFile receives the capture's Prometheus metrics (metrics.go).
	MetricsFile string
}

var formats = []string{"text", "json", "ndjson", "html", "parquet"}

// newCmdAnalyse parses and validates; runF does the work (analyseRun by
// default; tests inject their own).
func newCmdAnalyse(s *streams, runF func(*analyseOptions) error) *cobra.Command {
	opts := &analyseOptions{s: s}
	var ports, serverPorts string
	in := &inputFlags{}
	cmd := &cobra.Command{
		Use:     "analyse [flags] CAPTURE... [FILTER EXPRESSION]",
		Aliases: []string{"analyze"},
		Short:   "Report the lifecycle of every TCP connection in a capture file",
		Long: `Reads pcap or pcapng files (optionally gzip-, zstd- or lz4-compressed;
"-" for standard input) and reports, for every TCP connection: the
handshake, each HTTP/1.x request and response, every keep-alive idle
period, who sent the first FIN or the RST, each side's TCP state, who
holds TIME_WAIT, and why the connection closed.

` + inputsHelp,
		Example: `  httplife analyse capture.pcap
  httplife analyse --format json capture.pcapng.gz
  tcpdump -i eth0 -w - | httplife analyse -
  httplife analyse --format ndjson big.pcap > conns.ndjson
  httplife analyse cap.pcap                  # and cap.pcap1, cap.pcap2, ... (tcpdump -C)
  httplife analyse 'cap-*.pcap' captures/    # a glob, a directory: merged in time order
  httplife analyse cap.pcap tcp port 80 and host 10.0.0.1
  httplife analyse -r a.pcap -r b.pcap --filter 'port 8080'`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.inputs("analyse", in, args); err != nil {
				return usageError{err}
			}
			if err := opts.parse(ports, serverPorts); err != nil {
				return usageError{err}
			}
			if runF != nil {
				return runF(opts)
			}
			return analyseRun(opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Format, "format", "f", "text", "output format: text, json, ndjson, html or parquet (-o DIR: docs/parquet.md)")
	f.StringVarP(&opts.Output, "output", "o", "", "write to this file instead of standard output (parquet: to this directory)")
	f.StringVar(&opts.MetricsFile, "metrics", "", "also write the capture's Prometheus metrics to this file (text format, for node_exporter's textfile collector)")
	f.BoolVar(&opts.All, "all", false, "text: list every connection (by default a big capture's are summarised)")
	addInputFlags(f, opts, in)
	addAnalysisFlags(f, opts, &ports, &serverPorts)
	return cmd
}

// inputsHelp is the help on inputs and filters of analyse, report and
// advise.
const inputsHelp = `Several files, directories (their capture files) and globs (quoted, so that
the shell leaves them: 'cap-*.pcap') are read as one capture, merged in time
order: connections continue across files. A file that is the first of a
rotated set brings the rest with it: tcpdump -C's cap.pcap, cap.pcap1,
cap.pcap2, ... (also compressed by -z gzip, -z zstd or -z lz4), and
tcpdump -G's time-named files whose names carry minutes or seconds
(cap-%H%M%S.pcap) agreeing with their first packets (for hourly names
give a glob); --no-rotated reads only the files named. The interfaces of
a pcapng file (dumpcap -i a -i b, which writes each one's packets in
batches) are merged in time order the same way. A file that cannot be
read is named in the warnings, the others are analysed, and the exit
status is 1.

A tcpdump filter expression may follow the files, as one argument or as
several words (the first argument that is not a file, directory or glob
starts it), or be given with --filter: only the packets it accepts are
analysed, as tcpdump -r would show them.`

// inputFlags are the raw input flags, for analyseOptions.inputs.
type inputFlags struct {
	reads  []string
	filter string
}

// addInputFlags adds the flags that say what to read, shared by analyse,
// report and advise.
func addInputFlags(f *pflag.FlagSet, opts *analyseOptions, in *inputFlags) {
	f.StringArrayVarP(&in.reads, "read", "r", nil, "read this capture file (as tcpdump -r; repeatable; the same as naming it)")
	f.StringVar(&in.filter, "filter", "", "tcpdump filter expression, e.g. 'tcp port 80' (or give it after the files)")
	f.BoolVar(&opts.NoRotated, "no-rotated", false, "read only the files named, not the rest of their rotated set (tcpdump -C/-G)")
}

// inputs sorts the positional arguments into inputs and the filter
// expression, as tcpdump does: after the -r files (or, without -r, the
// first argument, always an input), each argument that names an existing
// file or directory, or a glob with a match, is an input; the first that
// does not starts the expression, which is the rest, joined by spaces.
func (o *analyseOptions) inputs(command string, in *inputFlags, args []string) error {
	inputs := append([]string(nil), in.reads...)
	rest := args
	if len(inputs) == 0 {
		if len(rest) == 0 {
			return fmt.Errorf("%s takes a capture file, directory or glob (or -r FILE, or - for standard input)", command)
		}
		inputs, rest = append(inputs, rest[0]), rest[1:]
	}
	for len(rest) > 0 && capture.IsInput(rest[0]) {
		inputs, rest = append(inputs, rest[0]), rest[1:]
	}
	expr := strings.TrimSpace(strings.Join(rest, " "))
	flag := strings.TrimSpace(in.filter)
	if expr != "" && flag != "" {
		return fmt.Errorf("a filter both in --filter (%q) and after the files (%q): give one", flag, expr)
	}
	if expr == "" {
		expr = flag
	}
	o.Inputs, o.Path, o.Expr = inputs, inputs[0], expr
	return nil
}

// addAnalysisFlags adds the flags that tune the analysis, shared by analyse,
// report and watch; ports and serverPorts receive the raw lists for parse.
func addAnalysisFlags(f *pflag.FlagSet, opts *analyseOptions, ports, serverPorts *string) {
	f.DurationVar(&opts.TwoMSL, "two-msl", 60*time.Second, "how long TIME_WAIT lasts (2MSL)")
	f.StringVar(ports, "ports", "", "only connections with one of these ports, e.g. 80,8080 (default: all TCP)")
	f.StringVar(serverPorts, "server-ports", "", "ports that mark the server side when no SYN was captured")
	f.IntVar(&opts.MaxConns, "max-connections", tcpstate.DefaultConfig().MaxConns,
		"cap on connections tracked at once; half-open ones are evicted first (0: no cap)")
	f.StringVar(&opts.KeyLog, "keylog", "", "TLS key log file (SSLKEYLOGFILE format) that decrypts HTTPS connections")
}

func (o *analyseOptions) parse(ports, serverPorts string) error {
	ok := false
	for _, f := range formats {
		ok = ok || o.Format == f
	}
	if !ok {
		return fmt.Errorf("--format %q: want one of %s", o.Format, strings.Join(formats, ", "))
	}
	if o.TwoMSL < 0 {
		return fmt.Errorf("--two-msl %s: must not be negative", o.TwoMSL)
	}
	if o.MaxConns < 0 {
		return fmt.Errorf("--max-connections %d: must not be negative", o.MaxConns)
	}
	var err error
	if o.Ports, err = parsePorts("--ports", ports); err != nil {
		return err
	}
	o.ServerPorts, err = parsePorts("--server-ports", serverPorts)
	return err
}

// parsePorts reads a comma-separated port list.
func parsePorts(flag, s string) ([]uint16, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []uint16
	seen := map[uint16]bool{}
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%s %q: %q is not a port number (1-65535)", flag, s, strings.TrimSpace(p))
		}
		if !seen[uint16(n)] {
			seen[uint16(n)] = true
			out = append(out, uint16(n))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func portSet(p []uint16) map[uint16]bool {
	if len(p) == 0 {
		return nil
	}
	m := make(map[uint16]bool, len(p))
	for _, x := range p {
		m[x] = true
	}
	return m
}

func (o *analyseOptions) runConfig() (pipeline.Config, error) {
	tc := tcpstate.DefaultConfig()
	tc.Ports = portSet(o.Ports)
	tc.ServerPorts = portSet(o.ServerPorts)
	tc.MaxConns = o.MaxConns
	tc.TwoMSL = o.TwoMSL
	cfg := pipeline.Config{TCP: tc, PortsLabel: pipeline.PortsLabel(o.Ports)}
	if o.KeyLog != "" {
		f, err := os.Open(o.KeyLog)
		if err != nil {
			return cfg, usageError{fmt.Errorf("--keylog: %w", err)}
		}
		defer f.Close()
		k := tlsrec.NewKeyLog()
		if err := k.Read(f, o.KeyLog); err != nil {
			return cfg, usageError{fmt.Errorf("--keylog %s: %w", o.KeyLog, err)}
		}
		if k.Len() == 0 {
			return cfg, usageError{fmt.Errorf("--keylog %s: no TLS secrets in it (want SSLKEYLOGFILE lines such as CLIENT_RANDOM or CLIENT_TRAFFIC_SECRET_0)", o.KeyLog)}
		}
		cfg.KeyLog = k
	}
	return cfg, nil
}

// bigCapture is the file size from which an analysis prepares its heap
// (prepareHeap). Below it the heap stays small and the preparation, a
// collection of a few milliseconds, would be a cost of its own.
const bigCapture = 64 << 20

// openSource opens the inputs: files, directories, globs, "-" for
// standard input, with the filter. The heap is prepared for big inputs:
// standard input, or files of bigCapture bytes in all.
func openSource(o *analyseOptions) (capture.Source, error) {
	big := func(files []string) {
		var size int64
		for _, p := range files {
			fi, err := os.Stat(p)
			if err == nil {
				size += fi.Size()
			}
			if p == "-" || size >= bigCapture {
				prepareHeap()
				return
			}
		}
	}
	return capture.OpenInputs(o.Inputs, capture.Options{Filter: o.Expr, NoRotated: o.NoRotated, Stdin: o.s.In, Expanded: big})
}

// inputErr is the run's read error, or else the error of the files of a
// multi-file input that could not be read.
func inputErr(src capture.Source, rerr error) error {
	if rerr != nil {
		return rerr
	}
	if p, ok := src.(capture.Partial); ok {
		return p.Failed()
	}
	return nil
}

func analyseRun(o *analyseOptions) error {
	if o.Format == "parquet" {
		return analyseParquet(o) // parquet.go
	}
	src, err := openSource(o)
	if err != nil {
		return usageError{err}
	}
	defer src.Close()
	out := o.s.Out
	if o.Output != "" {
		f, err := os.Create(o.Output)
		if err != nil {
			return usageError{err}
		}
		defer f.Close()
		out = f
	}
	bw := bufio.NewWriterSize(out, 1<<16)
	defer bw.Flush()
	cfg, err := o.runConfig()
	if err != nil {
		return err
	}
	if p := newProgress(o.s.ErrOut, o.Path); p != nil {
		cfg.Progress = p.update
		defer p.done()
	}
	mt := o.startMetrics(&cfg)
	if o.Format == "ndjson" {
		cfg.Transient = true // each record is written out, then forgotten
		nd := render.NewNDJSON(bw)
		var werr error
		cfg.Lines = &pipeline.Lines{
			NewEncoder: func() func([]byte, *httpflow.Connection) ([]byte, error) { return new(render.LineEncoder).Append },
			Write: func(line []byte, err error) {
				if werr == nil {
					werr = err
				}
				if werr == nil {
					werr = nd.Write(line)
				}
			},
		}
		res, rerr := pipeline.Run(src, cfg, func(c *httpflow.Connection) {
			if werr == nil {
				werr = nd.Connection(c)
			}
		})
		if werr == nil {
			werr = nd.End(res.Summary, res.Capture)
		}
		werr = mt.write(res, werr)
		return finish(o, res.Capture.Warnings, inputErr(src, rerr), werr, bw)
	}
	if o.Format == "json" {
		doc, res, rerr := pipeline.Analyse(src, cfg)
		werr := mt.write(res, render.WriteJSON(bw, doc))
		return finish(o, doc.Capture.Warnings, inputErr(src, rerr), werr, bw)
	}
	// Text and HTML draw from the run's digest: records are summarised as
	// they finish, in bounded memory, and forgotten.
	cfg.Transient = true
	cfg.Summary = summary.Config{Text: o.Format == "text", All: o.All, Timeline: o.Format == "html"}
	res, rerr := pipeline.Run(src, cfg, nil)
	var werr error
	if o.Format == "html" {
		werr = render.WriteHTML(bw, res.Digest())
	} else {
		werr = render.WriteText(bw, res.Digest())
	}
	werr = mt.write(res, werr)
	return finish(o, res.Capture.Warnings, inputErr(src, rerr), werr, bw)
}

// finish reports warnings on stderr (text output shows them itself) and
// turns read and write errors into the command's error.
func finish(o *analyseOptions, warnings []string, rerr, werr error, bw *bufio.Writer) error {
	if err := bw.Flush(); werr == nil {
		werr = err
	}
	if o.Format != "text" || o.Output != "" {
		for _, w := range warnings {
			fmt.Fprintln(o.s.ErrOut, "httplife: warning:", w)
		}
	}
	if werr != nil {
		return fmt.Errorf("writing output: %w", werr)
	}
	var ie *capture.InputError
	if errors.As(rerr, &ie) {
		return fmt.Errorf("%w (the report covers the other files)", rerr)
	}
	if rerr != nil {
		return fmt.Errorf("%s: %w (the report covers everything before it)", o.Path, rerr)
	}
	return nil
}
