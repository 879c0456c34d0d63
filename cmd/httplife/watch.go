package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/evidence"
	"github.com/httplife/httplife/internal/pipeline"
	"github.com/httplife/httplife/internal/summary"
	"github.com/httplife/httplife/render"
	"github.com/httplife/httplife/tcpstate"
)

// watchOptions holds the parsed flags of `httplife watch`. The embedded
// analyseOptions carries the flags the two commands share (--format,
// --two-msl, --ports, --server-ports, --max-connections).
type watchOptions struct {
	analyseOptions
	Interface string
	Filter    string
	Snaplen   int
	Buffer    int
	Duration  time.Duration
	Count     uint64
	Report    string // HTML report, rewritten as the capture goes
	Write     string // raw packets, as pcap
	// Live draws the terminal view: --format text on a terminal.
	Live bool
	// MetricsAddr serves /metrics there (metrics.go); Evidence keeps the
	// packets of incidents in that directory (--evidence-on, --evidence-max).
	MetricsAddr, Evidence         string
	EvidenceMax                   int64
	evidenceOnRaw, evidenceMaxRaw string
	evidenceOn                    evidence.Triggers
}

var watchFormats = []string{"text", "json", "ndjson"}

const (
	// watchKeep is the number of finished connections kept for --format
	// json (the last ones); NDJSON streams them all, and the summary, the
	// text output and the report (drawn from the summary's digest) always
	// cover all.
	watchKeep = 20000
	// watchPoll is the longest the loop waits for a packet before it
	// looks at the clock.
	watchPoll = 200 * time.Millisecond
	// watchFrame is how often the live view is drawn and the outputs are
	// flushed.
	watchFrame = time.Second
	// watchReportEvery is how often --report is rewritten (longer when
	// writing it takes long).
	watchReportEvery = 5 * time.Second
	// watchTickMargin keeps the quiet-wire clock behind packets the kernel
	// may still hold (the ring hands packets over in blocks).
	watchTickMargin = 250 * time.Millisecond
	// watchIdleAfter: an open connection whose server spoke last and that
	// has been quiet this long counts as idle in the live view.
	watchIdleAfter = time.Second
)

// newCmdWatch parses and validates; runF does the work (watchRun by
// default; tests inject their own).
func newCmdWatch(s *streams, runF func(*watchOptions) error) *cobra.Command {
	opts := &watchOptions{analyseOptions: analyseOptions{s: s}}
	var ports, serverPorts, buffer string
	cmd := &cobra.Command{
		Use:   "watch -i INTERFACE [flags] [FILTER]",
		Short: "Follow the HTTP connections on a network interface live",
		Long: `Captures on a network interface and reports every TCP connection as it
finishes, with the same records as analyse. On a terminal (--format text)
it shows a live view, redrawn every second; otherwise it writes the records
when the capture ends (text, json) or as each connection finishes (ndjson).
Ctrl-C, SIGTERM, --duration or --count end the capture: connections still
open are reported as capture-ended and every output is completed.

The filter is a tcpdump expression (--filter, or the arguments after the
flags); it runs in the kernel. Capturing needs root or CAP_NET_RAW.`,
		Example: `  sudo httplife watch -i eth0 --filter 'tcp port 80'
  sudo httplife watch -i lo --filter 'tcp port 8080' --format ndjson --duration 30s > conns.ndjson
  sudo httplife watch -i eth0 --report live.html -w session.pcap`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				if opts.Filter != "" {
					return usageError{fmt.Errorf("give the filter either with --filter or as arguments, not both (arguments: %q)", strings.Join(args, " "))}
				}
				opts.Filter = strings.Join(args, " ")
			}
			if err := opts.parseWatch(ports, serverPorts, buffer); err != nil {
				return usageError{err}
			}
			opts.Live = opts.Format == "text" && isTerminal(s.Out)
			if runF != nil {
				return runF(opts)
			}
			return watchRun(opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Interface, "interface", "i", "", `interface to capture on ("any": all of them)`)
	f.StringVar(&opts.Filter, "filter", "", "tcpdump filter expression, e.g. 'tcp port 80'")
	f.IntVar(&opts.Snaplen, "snaplen", capture.DefaultSnaplen, "bytes kept of each packet")
	f.StringVar(&buffer, "buffer", "64MiB", "kernel ring size (bytes; k, M, G suffixes are powers of 1024)")
	f.DurationVar(&opts.Duration, "duration", 0, "stop after this long (default: until Ctrl-C)")
	f.Uint64VarP(&opts.Count, "count", "c", 0, "stop after this many packets")
	f.StringVarP(&opts.Format, "format", "f", "text", "output format: text (a live view on a terminal), json or ndjson")
	f.StringVar(&opts.Report, "report", "", "write the HTML report to this file, rewritten every few seconds and at the end")
	f.StringVarP(&opts.Write, "write", "w", "", "also write the raw packets to this pcap file")
	f.BoolVar(&opts.All, "all", false, "text: list every connection at the end (by default a big capture's are summarised)")
	f.StringVar(&opts.MetricsAddr, "metrics", "", "serve Prometheus metrics on this address, e.g. 127.0.0.1:9187 (GET /metrics)")
	f.StringVar(&opts.Evidence, "evidence", "", "write the packets (a pcap and a small report) of each incident to this directory")
	f.StringVar(&opts.evidenceOnRaw, "evidence-on", "", "--evidence: the incidents, e.g. race,reset (the default), stale-reuse, server-idle-timeout, anomaly, content-gap, all")
	f.StringVar(&opts.evidenceMaxRaw, "evidence-max", "", "--evidence: the most the directory's evidence takes, the oldest going first (default 100MiB)")
	addAnalysisFlags(f, &opts.analyseOptions, &ports, &serverPorts)
	return cmd
}

func (o *watchOptions) parseWatch(ports, serverPorts, buffer string) error {
	if o.Interface == "" {
		return errors.New("watch needs an interface: -i NAME (e.g. -i eth0, -i lo, -i any)")
	}
	ok := false
	for _, f := range watchFormats {
		ok = ok || o.Format == f
	}
	if !ok {
		hint := ""
		if o.Format == "html" {
			hint = " (for HTML use --report FILE)"
		}
		return fmt.Errorf("--format %q: want one of %s%s", o.Format, strings.Join(watchFormats, ", "), hint)
	}
	if err := o.parse(ports, serverPorts); err != nil {
		return err
	}
	if o.Snaplen < 1 || o.Snaplen > capture.DefaultSnaplen {
		return fmt.Errorf("--snaplen %d: want 1 to %d", o.Snaplen, capture.DefaultSnaplen)
	}
	var err error
	if o.Buffer, err = parseSize("--buffer", buffer); err != nil {
		return err
	}
	if o.Duration < 0 {
		return fmt.Errorf("--duration %s: must not be negative", o.Duration)
	}
	if o.Report != "" && o.Report == o.Write {
		return fmt.Errorf("--report and -w name the same file %q", o.Report)
	}
	return o.parseExtras()
}

// parseSize reads a byte count with an optional k, M or G suffix (powers
// of 1024; "KiB", "kb", "K" alike).
func parseSize(flag, s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseUint(t, 10, 32)
	if err != nil || n == 0 || n*uint64(mult) > 1<<34 {
		return 0, fmt.Errorf("%s %q: want a size such as 65536, 512KiB or 64MiB", flag, s)
	}
	return int(n) * mult, nil
}

// watcher is the live run's state. The pipeline calls emit and frame on
// one goroutine (the one that builds records) and the live streams on the
// analysing one; what both read is behind mu.
type watcher struct {
	o    *watchOptions
	src  capture.LiveSource
	opts httpflow.Options

	out  *bufio.Writer
	nd   *render.NDJSON
	werr error // first error writing standard output

	sb    *summary.Builder      // the pipeline's: summary, text and report
	keep  bool                  // keep records for --format json
	kept  []httpflow.Connection // ring of the last watchKeep records
	next  int                   // next slot of kept once full
	total int                   // records emitted

	// live view
	view         *render.LiveView
	start        time.Time // wall clock, for the view's elapsed time
	nextReport   time.Time
	lastFrame    time.Time
	lastRequests uint64
	snap         pipeline.Snapshot // the last frame's

	// What the live streams note, on the analysing goroutine.
	mu       sync.Mutex
	tracked  map[*liveStream]struct{}
	requests uint64

	// -w: written by the capture's reader, flushed by frames.
	pcapMu   sync.Mutex
	pcapFile *os.File
	pcapBuf  *bufio.Writer
	pcapW    *capture.PcapWriter
	pcapErr  error
}

// liveStream passes a connection's stream to the analyser and notes what
// the live view shows of open connections: who spoke last and when, and
// the requests started (client payload after none or after the server's).
type liveStream struct {
	tcpstate.Stream
	w     *watcher
	last  time.Time
	spoke int8 // -1 nobody yet, else the tcpstate.Dir of the last payload
}

func (l *liveStream) Data(d tcpstate.Dir, b []byte, t time.Time) {
	l.w.mu.Lock()
	if d == tcpstate.ClientToServer && l.spoke != int8(tcpstate.ClientToServer) {
		l.w.requests++
	}
	l.spoke, l.last = int8(d), t
	l.w.mu.Unlock()
	l.Stream.Data(d, b, t)
}

func (l *liveStream) Done(c *tcpstate.Conn) {
	l.w.mu.Lock()
	delete(l.w.tracked, l)
	l.w.mu.Unlock()
	l.Stream.Done(c)
}

func (w *watcher) wrap(s tcpstate.Stream) tcpstate.Stream {
	l := &liveStream{Stream: s, w: w, spoke: -1}
	w.mu.Lock()
	w.tracked[l] = struct{}{}
	w.mu.Unlock()
	return l
}

func (w *watcher) emit(c *httpflow.Connection) {
	w.total++
	if w.view != nil {
		w.view.Add(c)
	}
	if w.nd != nil && w.werr == nil {
		w.werr = w.nd.Connection(c)
	}
	if w.keep {
		if len(w.kept) < watchKeep {
			w.kept = append(w.kept, *c)
		} else {
			w.kept[w.next] = *c
			w.next = (w.next + 1) % watchKeep
		}
	}
}

func (w *watcher) writePacket(ts time.Time, data []byte, wireLen int) {
	w.pcapMu.Lock()
	defer w.pcapMu.Unlock()
	if w.pcapW == nil || w.pcapErr != nil {
		return
	}
	if err := w.pcapW.WritePacket(ts, data, wireLen); err != nil {
		w.pcapErr = err
	}
}

func watchRun(o *watchOptions) error {
	prepareHeap() // a live capture may run long and busy
	// Ctrl-C and SIGTERM end the capture cleanly from here on.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := &watcher{o: o, keep: o.Format == "json", tracked: map[*liveStream]struct{}{}}
	cfg := capture.LiveConfig{Interface: o.Interface, Filter: o.Filter, Snaplen: o.Snaplen, Buffer: o.Buffer, MaxPackets: o.Count}
	if o.Write != "" {
		cfg.Packet = w.writePacket
	}
	src, err := capture.OpenLive(cfg)
	if err != nil {
		return usageError{err}
	}
	defer src.Close()
	w.src = src
	if o.Write != "" {
		if err := w.openPcap(); err != nil {
			return usageError{err}
		}
		defer w.closePcap()
	}

	rc, err := o.runConfig()
	if err != nil {
		return err
	}
	w.opts = httpflow.Options{TwoMSL: rc.TCP.WithDefaults().TwoMSL, Ports: rc.PortsLabel}
	w.sb = summary.New(summary.Config{Text: o.Format == "text", All: o.All, Timeline: o.Report != ""})
	rc.Builder = w.sb
	rc.Transient = !w.keep // what is not kept for JSON is summarised, then forgotten
	live := &pipeline.Live{Poll: watchPoll, TickMargin: watchTickMargin, Frame: w.frame, FrameEvery: watchFrame}
	if o.Live {
		w.view = render.NewLiveView()
		live.Wrap = w.wrap
	}
	rc.Live = live
	ext, err := w.startExtras(&rc, live)
	if err != nil {
		return usageError{err}
	}
	defer ext.stop()
	w.out = bufio.NewWriterSize(o.s.Out, 1<<16)
	if o.Format == "ndjson" {
		w.nd = render.NewNDJSON(w.out)
	}
	if o.Report != "" {
		// An empty report at once: a path that cannot be written fails now.
		if err := w.writeReport(nil); err != nil {
			return usageError{err}
		}
	}

	filter := "no filter"
	if o.Filter != "" {
		filter = fmt.Sprintf("filter %q", o.Filter)
	}
	fmt.Fprintf(o.s.ErrOut, "httplife: capturing on %s (%s, snaplen %d, ring %s), %s; Ctrl-C to stop\n",
		o.Interface, capture.LinkTypeName(src.LinkType()), src.Snaplen(), sizeString(src.LiveStats().RingBytes), filter)

	ended := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			src.Stop()
		case <-ended:
		}
	}()
	if o.Duration > 0 {
		t := time.AfterFunc(o.Duration, src.Stop)
		defer t.Stop()
	}
	w.start = time.Now()
	w.lastFrame, w.nextReport = w.start, w.start.Add(watchReportEvery)
	if o.Live {
		io.WriteString(w.out, "\x1b[H\x1b[2J")
		w.draw(0, 0, false)
	}
	res, rerr := pipeline.Run(src, rc, w.emit)
	close(ended)
	ext.finish(w, res)

	ci, ls := res.Capture, res.Live
	switch {
	case o.Format == "ndjson":
		if w.werr == nil {
			w.werr = w.nd.End(w.sb.Summary(), ci)
		}
	case w.werr != nil:
	case o.Format == "json":
		w.werr = render.WriteJSON(w.out, w.document(ci, 0))
	default:
		if o.Live {
			w.snap = pipeline.Snapshot{Source: src.Stats().Clone(), Live: ls, Table: res.Table, Clock: w.snap.Clock}
			w.draw(time.Since(w.start), 0, true)
			fmt.Fprintln(w.out)
		}
		w.werr = render.WriteText(w.out, w.sb.Digest(ci, w.opts))
	}
	if err := w.out.Flush(); w.werr == nil {
		w.werr = err
	}
	var reportErr error
	if o.Report != "" {
		reportErr = w.writeReport(&ci)
	}
	pcapErr := w.closePcap()

	fmt.Fprintf(o.s.ErrOut, "httplife: %d packets captured, %d received by filter, %d dropped by kernel (ring full), %d dropped by interface\n",
		ls.Captured, ls.Received, ls.Dropped, ls.IfDropped)
	if o.Format != "text" {
		for _, m := range ci.Warnings {
			fmt.Fprintln(o.s.ErrOut, "httplife: warning:", m)
		}
	}
	switch {
	case w.werr != nil:
		return fmt.Errorf("writing output: %w", w.werr)
	case reportErr != nil:
		return fmt.Errorf("writing the report: %w", reportErr)
	case pcapErr != nil:
		return fmt.Errorf("writing %s: %w", o.Write, pcapErr)
	case rerr != nil:
		return fmt.Errorf("%w (the report covers everything before it)", rerr)
	}
	return nil
}

// frame is the pipeline's Live.Frame, every watchFrame: draw the view,
// flush the outputs, rewrite the report when it is due.
func (w *watcher) frame(s pipeline.Snapshot) {
	w.snap = s
	now := time.Now()
	if w.o.Live {
		w.mu.Lock()
		reqs := w.requests
		w.mu.Unlock()
		rps := float64(reqs-w.lastRequests) / now.Sub(w.lastFrame).Seconds()
		w.lastFrame, w.lastRequests = now, reqs
		w.draw(now.Sub(w.start), rps, false)
	}
	if w.werr == nil {
		w.werr = w.out.Flush()
	}
	w.pcapMu.Lock()
	if w.pcapBuf != nil && w.pcapErr == nil {
		w.pcapErr = w.pcapBuf.Flush()
	}
	pcapErr := w.pcapErr
	w.pcapMu.Unlock()
	if w.werr != nil || pcapErr != nil {
		w.src.Stop() // an output failed: end the capture, report the error
	}
	if w.o.Report != "" && !now.Before(w.nextReport) {
		if err := w.writeReport(nil); err != nil {
			fmt.Fprintln(w.o.s.ErrOut, "httplife: warning: writing the report:", err)
		}
		took := time.Since(now)
		w.nextReport = time.Now().Add(max(watchReportEvery, 10*took))
	}
}

// draw draws the live view from the last snapshot.
func (w *watcher) draw(elapsed time.Duration, rps float64, ended bool) {
	st, ls := &w.snap.Source, &w.snap.Live
	w.mu.Lock()
	f := &render.LiveFrame{
		Interface: w.o.Interface, Filter: w.o.Filter, Elapsed: elapsed, PacketTime: w.snap.Clock,
		Packets: st.Packets, TCPPackets: st.TCPPackets, Bytes: st.Bytes,
		Received: ls.Received, Dropped: ls.Dropped, IfDropped: ls.IfDropped,
		Open: w.snap.Open, IdleAfter: watchIdleAfter,
		Requests: w.requests, RequestsPerSec: rps, Ended: ended,
	}
	withData := 0
	for l := range w.tracked {
		if l.spoke < 0 {
			continue
		}
		withData++
		if l.spoke == int8(tcpstate.ServerToClient) && w.snap.Clock.Sub(l.last) >= watchIdleAfter {
			f.Idle++
		}
	}
	w.mu.Unlock()
	f.NoData = max(f.Open-withData, 0)
	if w.werr == nil {
		sum := w.sb.Summary()
		w.werr = w.view.Draw(w.out, f, &sum)
	}
	if w.werr == nil {
		w.werr = w.out.Flush()
	}
}

// document is the lifecycle document of the records kept, in id order;
// open is the number of connections still open (0 once the capture ended).
func (w *watcher) document(ci httpflow.CaptureInfo, open int) *httpflow.Document {
	conns := make([]httpflow.Connection, len(w.kept))
	copy(conns, w.kept)
	sort.Slice(conns, func(i, j int) bool { return conns[i].ID < conns[j].ID })
	ci.Warnings = append([]string(nil), ci.Warnings...)
	if w.total > len(conns) {
		ci.Warnings = append(ci.Warnings, fmt.Sprintf("only the last %d of %d connections are listed (--format ndjson streams every one); the summary covers all",
			len(conns), w.total))
	}
	if open > 0 {
		ci.Warnings = append(ci.Warnings, fmt.Sprintf("capture in progress: connections still open (%d) are not listed yet", open))
	}
	return &httpflow.Document{Capture: ci, Options: w.opts, Connections: conns, Summary: w.sb.Summary()}
}

// writeReport writes the HTML report to a temporary file beside it, then
// renames it over the report, so that a reader never sees half a file.
// final is the capture info at the end; nil while the capture goes on.
func (w *watcher) writeReport(final *httpflow.CaptureInfo) error {
	var ci httpflow.CaptureInfo
	if final != nil {
		ci = *final
	} else {
		ci = pipeline.CaptureInfo(&w.snap.Source, w.snap.Table)
		if n := w.snap.Open; n > 0 {
			ci.Warnings = append(ci.Warnings, fmt.Sprintf("capture in progress: connections still open (%d) are not listed yet", n))
		}
	}
	d := w.sb.Digest(ci, w.opts)
	path := w.o.Report
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	err = render.WriteHTML(bw, d)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (w *watcher) openPcap() error {
	w.pcapMu.Lock()
	defer w.pcapMu.Unlock()
	f, err := os.Create(w.o.Write)
	if err != nil {
		return err
	}
	w.pcapFile = f
	w.pcapBuf = bufio.NewWriterSize(f, 1<<16)
	pw, err := capture.NewPcapWriter(w.pcapBuf, uint32(w.src.Snaplen()), uint32(w.src.LinkType()))
	if err != nil {
		return err
	}
	w.pcapW = pw
	return nil
}

// closePcap flushes and closes the -w file; it returns the first error.
func (w *watcher) closePcap() error {
	w.pcapMu.Lock()
	defer w.pcapMu.Unlock()
	if w.pcapFile == nil {
		return nil
	}
	err := w.pcapErr
	if ferr := w.pcapBuf.Flush(); err == nil {
		err = ferr
	}
	if cerr := w.pcapFile.Close(); err == nil {
		err = cerr
	}
	w.pcapFile, w.pcapW = nil, nil
	return err
}

func sizeString(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
