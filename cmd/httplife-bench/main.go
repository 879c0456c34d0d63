// Command httplife-bench measures httplife on one big capture against a bare
// gopacket read loop (the floor), tshark and tcptrace: best wall and CPU time
// and peak RSS of each, and the ratios the project targets. Without a capture it first
// records one: nginx on loopback under wrk and ab, captured by tcpdump.
// See README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

type config struct {
	runs       int
	httplife   string
	out        string
	append4    bool
	install    bool
	duration   time.Duration
	size       int64
	body       int
	abRequests int
	capture    string
	scaling    bool
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "floor" { // hidden: the floor, measured as its own process
		packets, tcp, err := floor(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
		fmt.Printf("packets %d tcp %d\n", packets, tcp)
		return
	}
	if len(os.Args) == 4 && os.Args[1] == "append4" { // hidden: write the 4-copy capture, to measure it alone
		if _, err := appendCopies(os.Args[2], os.Args[3], 4); err != nil {
			fmt.Fprintln(os.Stderr, "append4:", err)
			os.Exit(1)
		}
		return
	}
	var cfg config
	flag.IntVar(&cfg.runs, "runs", 3, "timed runs of each program; the best wall time is reported")
	flag.StringVar(&cfg.httplife, "httplife", "", "httplife binary to measure (default: build ./cmd/httplife with CGO_ENABLED=0)")
	flag.StringVar(&cfg.out, "out", "/tmp/httplife-bench/big.pcap", "where the capture is written when no CAPTURE is given")
	flag.BoolVar(&cfg.append4, "append4", false, "also measure httplife on 4 time-shifted copies of the capture in one file")
	flag.BoolVar(&cfg.install, "install", false, "apt-get install missing tools (as root)")
	flag.Int64Var(&cfg.size, "size", 1e9, "when making the capture, stop wrk once the file has this many bytes")
	flag.DurationVar(&cfg.duration, "duration", 20*time.Second, "when making the capture, stop wrk after this long at the latest")
	flag.IntVar(&cfg.body, "body", 5000, "size in bytes of the file nginx serves when making the capture")
	flag.IntVar(&cfg.abRequests, "ab-requests", 20000, "ab's requests (one connection each) when making the capture")
	flag.BoolVar(&cfg.scaling, "scaling", false, "also measure how httplife scales with cores: GOMAXPROCS from 1 to the machine's, ndjson, text and report, and NCPU captures at once")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./cmd/httplife-bench [flags] [CAPTURE]\n\n"+
			"Measures httplife, the floor, tshark and tcptrace on CAPTURE; without CAPTURE,\n"+
			"records one first (nginx + wrk + ab on 127.0.0.1:18390, tcpdump) into --out.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 1 || cfg.runs < 1 || cfg.body < 1 || cfg.duration < time.Second {
		flag.Usage()
		os.Exit(2)
	}
	cfg.capture = flag.Arg(0)
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg, os.Stdout)
	stopSignals()
	if err != nil {
		fmt.Fprintln(os.Stderr, "httplife-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, w io.Writer) error {
	dir, err := os.MkdirTemp("", "httplife-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	makers := []string{"nginx", "tcpdump", "wrk", "ab"}
	needed := []string{"tshark", "tcptrace"}
	if cfg.capture == "" {
		needed = append(makers, needed...)
	}
	missing := missingTools(ctx, needed, cfg.install)
	var header []string
	file := cfg.capture
	if file == "" {
		var lacking []string
		for _, m := range makers {
			if missing[m] {
				lacking = append(lacking, m)
			}
		}
		if len(lacking) > 0 {
			return fmt.Errorf("cannot make the capture without %s", strings.Join(lacking, ", "))
		}
		for attempt := 1; ; attempt++ {
			lines, dropped, err := makeCapture(ctx, cfg, dir)
			if err != nil {
				return err
			}
			header, file = lines, cfg.out
			if dropped == 0 || attempt == 3 {
				break
			}
			progress("tcpdump dropped %d packets: recording again (%d/3)", dropped, attempt+1)
		}
	}

	hl := cfg.httplife
	if hl == "" {
		hl = filepath.Join(dir, "httplife")
		if err := buildHttplife(ctx, hl); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	size, err := warm(file)
	if err != nil {
		return err
	}
	httplifeArgs := []string{hl, "analyse", "--format", "ndjson", file}
	last, err := lastLine(ctx, httplifeArgs) // untimed: checks it works, reads the summary
	if err != nil {
		return err
	}
	var summary struct {
		Summary struct{ Connections, Transactions int64 }
	}
	_ = json.Unmarshal([]byte(last), &summary)
	loadBefore := loadavg()
	results := []result{
		{name: "httplife", argv: httplifeArgs},
		{name: "floor", argv: []string{self, "floor", file}, keepStdout: true},
	}
	versions := map[string]string{"floor": gopacketVersion() + " pcapgo + DecodingLayerParser"}
	if !missing["tshark"] {
		versions["tshark"] = version(ctx, "tshark", "--version")
		results = append(results, result{name: "tshark", argv: []string{"tshark", "-r", file, "-q", "-z", "conv,tcp", "-z", "http,tree"}})
	}
	if !missing["tcptrace"] {
		versions["tcptrace"] = version(ctx, "tcptrace", "-v")
		results = append(results, result{name: "tcptrace", argv: []string{"tcptrace", "-l", "-n", file}})
	}
	measure(ctx, results, cfg.runs)
	var packets, tcpPackets int64
	fmt.Sscanf(results[1].stdout, "packets %d tcp %d", &packets, &tcpPackets)

	fmt.Fprintf(w, "httplife-bench %s: best of %d runs each, page cache warm\n", time.Now().Format("2006-01-02"), cfg.runs)
	fmt.Fprintf(w, "machine   %s\n", machine())
	fmt.Fprintf(w, "load avg  %s before the runs, %s after (1 min)\n", loadBefore, loadavg())
	fmt.Fprintf(w, "capture   %s: %s bytes (%.2f GB), %s packets (%s TCP); httplife: %s connections, %s transactions\n",
		file, commas(size), float64(size)/1e9, commas(packets), commas(tcpPackets),
		commas(summary.Summary.Connections), commas(summary.Summary.Transactions))
	for _, line := range header {
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
	table(w, results, packets)
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintf(w, "%-9s %s", r.name, command(r.argv, file, hl, self))
		if v := versions[r.name]; v != "" {
			fmt.Fprintf(w, "   [%s]", v)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	get := func(name string) *result {
		for i := range results {
			if results[i].name == name && results[i].err == nil {
				return &results[i]
			}
		}
		return nil
	}
	h, f, t, tt := get("httplife"), get("floor"), get("tshark"), get("tcptrace")
	fmt.Fprintf(w, "%-22s %12s %10s  %-7s %s\n", "target", "wall", "target", "", "CPU time")
	ratio(w, "httplife / floor", h, f, func(x float64) bool { return x <= 2 }, "≤ 2×")
	ratio(w, "tshark / httplife", t, h, func(x float64) bool { return x >= 15 }, "≥ 15×")
	ratio(w, "tcptrace / httplife", tt, h, func(x float64) bool { return x >= 2 }, "≥ 2×")
	if h != nil {
		fmt.Fprintf(w, "%-22s %9.1f MB %10s  %s\n", "httplife peak RSS", mb(h.peakKiB), "≤ 100 MB", verdict(mb(h.peakKiB) <= 100))
	}

	if cfg.append4 && h != nil {
		if err := appendFour(ctx, cfg, w, file, dir, httplifeArgs, self, h); err != nil {
			return err
		}
	}
	if cfg.scaling && h != nil && f != nil {
		return scaling(ctx, cfg, w, file, hl, self, f)
	}
	return nil
}

// appendFour measures httplife (and the floor) on four time-shifted copies of file.
func appendFour(ctx context.Context, cfg config, w io.Writer, file, dir string, httplifeArgs []string, self string, one *result) error {
	x4 := filepath.Join(dir, strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))+"-x4.pcap")
	progress("writing %s", x4)
	packets, err := appendCopies(file, x4, 4)
	if err != nil {
		return err
	}
	size, err := warm(x4)
	if err != nil {
		return err
	}
	argv := append(append([]string(nil), httplifeArgs[:len(httplifeArgs)-1]...), x4)
	results := []result{
		{name: "httplife", argv: argv},
		{name: "floor", argv: []string{self, "floor", x4}, keepStdout: true},
	}
	measure(ctx, results, cfg.runs)
	fmt.Fprintf(w, "\nappend4   4 copies of the capture, each shifted by its duration + 1 s: %s bytes (%.2f GB), %s packets\n\n",
		commas(size), float64(size)/1e9, commas(int64(packets)))
	table(w, results, int64(packets))
	if h := results[0]; h.err == nil {
		fmt.Fprintf(w, "\n%-22s %9.2f×  %10s  %s\n", "peak RSS x4 / x1", float64(h.peakKiB)/float64(one.peakKiB),
			"≈ 1×", verdict(float64(h.peakKiB) <= 1.1*float64(one.peakKiB)))
		fmt.Fprintf(w, "%-22s %9.2f×  %10s  CPU time %.2f×\n", "wall time x4 / x1", h.best.Seconds()/one.best.Seconds(),
			"(≈ 4×)", h.bestCPU.Seconds()/one.bestCPU.Seconds())
	}
	return nil
}

func table(w io.Writer, results []result, packets int64) {
	fmt.Fprintf(w, "%-9s %12s %11s %12s %14s\n", "program", "best wall s", "best CPU s", "peak RSS MB", "packets/s")
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(w, "%-9s failed: %v\n", r.name, r.err)
			continue
		}
		fmt.Fprintf(w, "%-9s %12.3f %11.3f %12.1f %14s\n", r.name, r.best.Seconds(), r.bestCPU.Seconds(),
			mb(r.peakKiB), commas(int64(float64(packets)/r.best.Seconds())))
	}
}

func ratio(w io.Writer, name string, a, b *result, ok func(float64) bool, target string) {
	if a == nil || b == nil {
		fmt.Fprintf(w, "%-22s %12s %10s\n", name, "n/a", target)
		return
	}
	x := a.best.Seconds() / b.best.Seconds()
	fmt.Fprintf(w, "%-22s %11.2f× %10s  %-7s %.2f×\n", name, x, target, verdict(ok(x)), a.bestCPU.Seconds()/b.bestCPU.Seconds())
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// command prints argv with the long temporary paths replaced by names.
func command(argv []string, file, hl, self string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		switch a {
		case file:
			a = "FILE"
		case hl:
			a = "httplife"
		case self:
			a = "httplife-bench"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func gopacketVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/gopacket/gopacket" {
				return "gopacket " + d.Version
			}
		}
	}
	return "gopacket"
}

// buildHttplife builds ./cmd/httplife of this module into bin.
func buildHttplife(ctx context.Context, bin string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	progress("building httplife: CGO_ENABLED=0 go build -o %s ./cmd/httplife", bin)
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/httplife/httplife/cmd/httplife")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building httplife (run inside the repository, or pass --httplife): %v\n%s", err, out)
	}
	return nil
}
