package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/internal/parquet"
)

// readProm parses a text exposition into its families.
func readProm(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("parsing the metrics: %v\n%s", err, text)
	}
	return fams
}

// promSum adds a counter or gauge family's samples whose labels include
// every name=value of want.
func promSum(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	mf := fams[name]
	if mf == nil {
		return 0
	}
	var n float64
	for _, m := range mf.Metric {
		ok := true
		for _, w := range want {
			k, v, _ := strings.Cut(w, "=")
			found := false
			for _, l := range m.Label {
				found = found || l.GetName() == k && l.GetValue() == v
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			n += m.Counter.GetValue()
		case m.Gauge != nil:
			n += m.Gauge.GetValue()
		}
	}
	return n
}

type docSummary struct {
	Connections []struct {
		Close struct {
			Race *struct {
				Kind string `json:"kind"`
			} `json:"race"`
		} `json:"close"`
	} `json:"connections"`
	Capture struct {
		Packets int `json:"packets"`
	} `json:"capture"`
	Summary struct {
		Connections  int            `json:"connections"`
		Transactions int            `json:"transactions"`
		Reasons      map[string]int `json:"reasons"`
		Servers      []struct {
			Server      string   `json:"server"`
			IdleTimeout *float64 `json:"idle_timeout_s"`
		} `json:"servers"`
	} `json:"summary"`
}

// analyse --metrics FILE writes, beside any output format, the metrics
// of the whole capture: what the JSON says, in the text format.
func TestAnalyseMetricsFile(t *testing.T) {
	paths, _ := filepath.Glob("../../samples/*.pcap")
	corpus, _ := filepath.Glob("../../../shared/corpus/*.pcap")
	paths = append(paths, corpus...)
	timeouts := 0
	for _, p := range paths {
		for _, format := range []string{"json", "ndjson", "text"} {
			file := filepath.Join(t.TempDir(), "httplife.prom")
			var out, errOut bytes.Buffer
			if code := run([]string{"analyse", "--format", format, "--metrics", file, p}, nil, &out, &errOut); code != 0 {
				t.Fatalf("analyse --metrics %s: exit %d: %s", p, code, errOut.String())
			}
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			fams := readProm(t, text)
			if format != "json" {
				if got := promSum(fams, "httplife_connections_opened_total"); got == 0 {
					t.Errorf("%s (%s): no connections opened in the metrics", p, format)
				}
				continue
			}
			var doc docSummary
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			for reason, n := range doc.Summary.Reasons {
				if got := promSum(fams, "httplife_connections_closed_total", "reason="+reason); got != float64(n) {
					t.Errorf("%s: closed{reason=%s} = %v, JSON %d", p, reason, got, n)
				}
			}
			kinds := map[string]int{}
			for _, c := range doc.Connections {
				if c.Close.Race != nil {
					kinds[c.Close.Race.Kind]++
				}
			}
			for k, n := range kinds {
				if got := promSum(fams, "httplife_keepalive_races_total", "kind="+k); got != float64(n) {
					t.Errorf("%s: races{kind=%s} = %v, JSON %d", p, k, got, n)
				}
			}
			if got := promSum(fams, "httplife_transactions_total"); got != float64(doc.Summary.Transactions) {
				t.Errorf("%s: transactions %v, JSON %d", p, got, doc.Summary.Transactions)
			}
			if got := promSum(fams, "httplife_packets_captured_total"); got != float64(doc.Capture.Packets) {
				t.Errorf("%s: packets %v, JSON %d", p, got, doc.Capture.Packets)
			}
			for _, sv := range doc.Summary.Servers {
				got := promSum(fams, "httplife_server_idle_timeout_seconds", "server="+sv.Server)
				if sv.IdleTimeout != nil {
					timeouts++
				}
				if sv.IdleTimeout != nil && math.Abs(got-*sv.IdleTimeout) > 1e-6 || sv.IdleTimeout == nil && got != 0 {
					t.Errorf("%s: %s: inferred timeout %v, JSON %v", p, sv.Server, got, sv.IdleTimeout)
				}
			}
		}
	}
	if timeouts == 0 {
		t.Error("no server with an inferred idle timeout in any capture")
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"analyse", "--metrics", "/nonexistent/dir/x.prom", "../../samples/curl-post.pcap"}, nil, &out, &errOut); code == 0 ||
		!strings.Contains(errOut.String(), "--metrics") {
		t.Errorf("analyse --metrics into a missing directory: exit %d, %s", code, errOut.String())
	}
}

// analyse --format parquet -o DIR writes the capture's partition of the
// three tables, as many rows as the JSON has connections; again, it
// replaces the partition and leaves no temporary file; without -o it is a
// usage error.
func TestAnalyseParquet(t *testing.T) {
	lake := t.TempDir()
	const p = "../../samples/client-rst-race.pcap"
	var doc docSummary
	var out, errOut bytes.Buffer
	if code := run([]string{"analyse", "--format", "json", p}, nil, &out, &errOut); code != 0 {
		t.Fatal(errOut.String())
	}
	json.Unmarshal(out.Bytes(), &doc)
	for round := 0; round < 2; round++ {
		out.Reset()
		errOut.Reset()
		if code := run([]string{"analyse", "--format", "parquet", "-o", lake, p}, nil, &out, &errOut); code != 0 || out.Len() != 0 {
			t.Fatalf("analyse --format parquet: exit %d, stdout %q, stderr %s", code, out.String(), errOut.String())
		}
		rows, err := pq.ReadFile[parquet.ConnectionRow](filepath.Join(lake, "connections", "capture=client-rst-race.pcap", "connections.parquet"))
		if err != nil || len(rows) != doc.Summary.Connections {
			t.Errorf("round %d: %d connection rows (%v), want %d", round, len(rows), err, doc.Summary.Connections)
		}
		txs, err := pq.ReadFile[parquet.TransactionRow](filepath.Join(lake, "transactions", "capture=client-rst-race.pcap", "transactions.parquet"))
		if err != nil || len(txs) != doc.Summary.Transactions {
			t.Errorf("round %d: %d transaction rows (%v), want %d", round, len(txs), err, doc.Summary.Transactions)
		}
	}
	var files []string
	filepath.Walk(lake, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			files = append(files, strings.TrimPrefix(p, lake+"/"))
		}
		return nil
	})
	want := []string{"connections/capture=client-rst-race.pcap/connections.parquet",
		"idle_periods/capture=client-rst-race.pcap/idle_periods.parquet", "transactions/capture=client-rst-race.pcap/transactions.parquet"}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("files %v, want %v", files, want)
	}
	// many captures: a partition each; their metrics in one file
	lake2 := t.TempDir()
	prom := filepath.Join(t.TempDir(), "all.prom")
	inputs := []string{p, "../../samples/curl-post.pcap", "../../samples/lighttpd.pcap"}
	errOut.Reset()
	if code := run(append([]string{"analyse", "--format", "parquet", "-o", lake2, "--metrics", prom}, inputs...), nil, &out, &errOut); code != 0 {
		t.Fatalf("analyse --format parquet of 3 captures: exit %d: %s", code, errOut.String())
	}
	wantConns, wantPackets := 0, 0
	for _, in := range inputs {
		var d docSummary
		out.Reset()
		run([]string{"analyse", "--format", "json", in}, nil, &out, &errOut)
		json.Unmarshal(out.Bytes(), &d)
		wantConns += d.Summary.Connections
		wantPackets += d.Capture.Packets
		rows, err := pq.ReadFile[parquet.ConnectionRow](filepath.Join(lake2, "connections", parquet.Partition(in), "connections.parquet"))
		if err != nil || len(rows) != d.Summary.Connections || len(rows) > 0 && rows[0].CaptureSource != in {
			t.Errorf("%s: %d rows (%v), want %d with capture_source %q", in, len(rows), err, d.Summary.Connections, in)
		}
	}
	text, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	fams := readProm(t, text)
	if got := promSum(fams, "httplife_connections_closed_total"); got != float64(wantConns) {
		t.Errorf("the metrics of 3 captures count %v connections, want %d", got, wantConns)
	}
	if got := promSum(fams, "httplife_packets_captured_total"); got != float64(wantPackets) {
		t.Errorf("the metrics of 3 captures count %v packets, want %d", got, wantPackets)
	}
	errOut.Reset()
	if code := run([]string{"analyse", "--format", "parquet", p}, nil, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "-o DIR") {
		t.Errorf("parquet without -o: exit %d, %s", code, errOut.String())
	}
}

// watch's new flags: --evidence-on and --evidence-max want --evidence and
// valid values; --metrics an address (checked when it listens).
func TestWatchExtraFlags(t *testing.T) {
	for _, c := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-i", "lo", "--evidence-on", "race"}, "need --evidence DIR"},
		{[]string{"-i", "lo", "--evidence-max", "1M"}, "need --evidence DIR"},
		{[]string{"-i", "lo", "--evidence", "d", "--evidence-on", "rase"}, `"rase" is not a trigger`},
		{[]string{"-i", "lo", "--evidence", "d", "--evidence-max", "0"}, `--evidence-max "0": want a size`},
		{[]string{"-i", "lo", "--evidence", "d", "--evidence-on", "stale-reuse,content-gap", "--evidence-max", "5MiB", "--metrics", ":9187"}, ""},
	} {
		var got *watchOptions
		s := &streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
		cmd := newCmdWatch(s, func(o *watchOptions) error { got = o; return nil })
		cmd.SetArgs(c.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("watch %q: error %v, want %q", c.args, err, c.wantErr)
			}
			continue
		}
		if err != nil || got.EvidenceMax != 5<<20 || got.MetricsAddr != ":9187" || got.Evidence != "d" {
			t.Errorf("watch %q: %v, options %+v", c.args, err, got)
		}
	}
	if os.Geteuid() != 0 {
		return // the address is tried once the capture is open: that needs root
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"watch", "-i", "lo", "--metrics", "256.0.0.1:1", "--duration", "1s"}, nil, &out, &errOut); code != exitUsage ||
		!strings.Contains(errOut.String(), "--metrics") {
		t.Errorf("watch --metrics on a bad address: exit %d, %s", code, errOut.String())
	}
}

// writeScan writes a raw-IP capture of a port scan: for each of n server
// ports, conns connections (a SYN answered by a RST).
func writeScan(t *testing.T, path string, n, conns int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := capture.NewPcapWriter(bw, 65535, 101)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	p := make([]byte, 40)
	packet := func(src, dst [4]byte, sport, dport uint16, flags byte, seq, ack uint32) {
		clear(p)
		p[0], p[8], p[9] = 0x45, 64, 6
		binary.BigEndian.PutUint16(p[2:], 40)
		copy(p[12:16], src[:])
		copy(p[16:20], dst[:])
		binary.BigEndian.PutUint16(p[20:], sport)
		binary.BigEndian.PutUint16(p[22:], dport)
		binary.BigEndian.PutUint32(p[24:], seq)
		binary.BigEndian.PutUint32(p[28:], ack)
		p[32], p[33] = 5<<4, flags
		binary.BigEndian.PutUint16(p[34:], 1024)
		now = now.Add(10 * time.Microsecond)
		if err := w.WritePacket(now, p, len(p)); err != nil {
			t.Fatal(err)
		}
	}
	scanner, target := [4]byte{198, 51, 100, 7}, [4]byte{192, 0, 2, 1}
	for i := 0; i < n; i++ {
		for k := 0; k < conns; k++ {
			sport := uint16(20000 + k)
			packet(scanner, target, sport, uint16(1+i), 0x02, 1000, 0)
			packet(target, scanner, uint16(1+i), sport, 0x14, 0, 1001)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
}

// A hostile capture, a scan of 60,000 server ports, does not grow the
// label set: with one connection a port no server earns a label; with two
// at most 50 do; every connection is counted, under "other" if need be.
func TestScanCaptureLabelsCapped(t *testing.T) {
	for _, c := range []struct{ conns, maxServers int }{{1, 0}, {2, 50}} {
		dir := t.TempDir()
		pcap, prom := filepath.Join(dir, "scan.pcap"), filepath.Join(dir, "scan.prom")
		const ports = 60000
		writeScan(t, pcap, ports, c.conns)
		var out, errOut bytes.Buffer
		if code := run([]string{"analyse", "--format", "ndjson", "--metrics", prom, pcap}, nil, &out, &errOut); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		text, err := os.ReadFile(prom)
		if err != nil {
			t.Fatal(err)
		}
		fams := readProm(t, text)
		servers := map[string]bool{}
		for _, mf := range fams {
			for _, m := range mf.Metric {
				for _, l := range m.Label {
					if l.GetName() == "server" && l.GetValue() != "other" {
						servers[l.GetValue()] = true
					}
				}
			}
		}
		if len(servers) > c.maxServers {
			t.Errorf("%d connections a port: %d server labels, want at most %d", c.conns, len(servers), c.maxServers)
		}
		if got := promSum(fams, "httplife_connections_closed_total"); got != ports*float64(c.conns) {
			t.Errorf("%d connections a port: %v connections counted, want %d", c.conns, got, ports*c.conns)
		}
		if got := promSum(fams, "httplife_resets_total", "server=other"); got < ports*float64(c.conns)-50*float64(c.conns) {
			t.Errorf("%d connections a port: other's resets %v", c.conns, got)
		}
		if len(text) > 128<<10 { // 50 servers, each a few series
			t.Errorf("%d connections a port: %d bytes of metrics", c.conns, len(text))
		}
	}
}
