package evidence

import (
	"errors"
	"fmt"
	"html"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/pipeline"
	"github.com/httplife/httplife/tcpstate"
)

// analyse runs a capture through the pipeline, with rec as its Tap and
// Observe when set, and returns the records (copies) by id.
func analyse(t *testing.T, path string, rec *Recorder, sequential bool) map[int]httpflow.Connection {
	t.Helper()
	src, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cfg := pipeline.Config{TCP: tcpstate.DefaultConfig(), Sequential: sequential, Transient: true}
	if rec != nil {
		cfg.Tap, cfg.Observe = rec, rec.Record
	}
	recs := map[int]httpflow.Connection{}
	if _, err := pipeline.Run(src, cfg, func(c *httpflow.Connection) {
		cp := *c
		cp.Transactions = append([]httpflow.Transaction(nil), c.Transactions...)
		cp.IdlePeriods = append([]httpflow.Idle(nil), c.IdlePeriods...)
		recs[c.ID] = cp
	}); err != nil {
		t.Fatal(err)
	}
	return recs
}

func mustTriggers(t *testing.T, s string) Triggers {
	t.Helper()
	tr, err := ParseTriggers(s)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// files lists Dir: base names, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	for _, f := range files(t, dir) {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

var ownName = regexp.MustCompile(`^(\d{8}T\d{6}\.\d{3}Z)_([0-9a-f.-]+_\d+)_([a-z-]+)_c(\d+)\.(pcap|html)$`)

// Every race and reset of the samples and the corpus gets a pcap of its
// own, named by time, server and why, with a report beside it; analysing
// that pcap again gives one connection with the same close, race and
// transactions; connections that are no incident leave nothing.
func TestIncidentsRoundTrip(t *testing.T) {
	paths, _ := filepath.Glob("../../samples/*.pcap")
	more, _ := filepath.Glob("../../../shared/corpus/*.pcap")
	paths = append(paths, more...)
	incidents := 0
	for _, p := range paths {
		for _, seq := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/sequential=%v", filepath.Base(p), seq), func(t *testing.T) {
				dir := t.TempDir()
				rec, err := New(Config{Dir: dir, On: mustTriggers(t, "race,reset"), PerMinute: 1000})
				if err != nil {
					t.Fatal(err)
				}
				recs := analyse(t, p, rec, seq)
				st := rec.Close()
				want := map[int]string{}
				for id, c := range recs {
					if why, ok := rec.cfg.On.Match(&c); ok {
						want[id] = why
					}
				}
				if int(st.Incidents) != len(want) || int(st.Written) != len(want) || st.Dropped != 0 {
					t.Fatalf("stats %+v, want %d incidents written", st, len(want))
				}
				if st.Memory != 0 {
					t.Errorf("%d bytes of packets still held after Close", st.Memory)
				}
				got := map[int]string{}
				for _, f := range files(t, dir) {
					m := ownName.FindStringSubmatch(f)
					if m == nil {
						t.Errorf("file %q is not named time_server_why_cID", f)
						continue
					}
					var id int
					fmt.Sscan(m[4], &id)
					c, ok := recs[id]
					if !ok {
						t.Errorf("file %q names connection %d, not in the capture", f, id)
						continue
					}
					if ts := c.LastPacketAt.UTC().Format("20060102T150405.000Z"); m[1] != ts || m[2] != endpointName(c.Server.String()) {
						t.Errorf("file %q: want time %s, server %s", f, ts, endpointName(c.Server.String()))
					}
					if m[5] == "html" {
						b, _ := os.ReadFile(filepath.Join(dir, f))
						if !strings.Contains(html.UnescapeString(string(b)), c.CommunityID) || !strings.Contains(string(b), strings.TrimSuffix(f, ".html")+".pcap") {
							t.Errorf("%s does not name the community id %s and its pcap", f, c.CommunityID)
						}
						continue
					}
					got[id] = m[3]
					again := analyse(t, filepath.Join(dir, f), nil, true)
					if len(again) != 1 {
						t.Errorf("%s: %d connections, want 1", f, len(again))
						continue
					}
					for _, a := range again {
						if a.Close.Reason != c.Close.Reason || len(a.Transactions) != len(c.Transactions) ||
							(a.Close.Race == nil) != (c.Close.Race == nil) || a.Close.Race != nil && a.Close.Race.Kind != c.Close.Race.Kind ||
							a.Client != c.Client || a.Server != c.Server || a.CommunityID != c.CommunityID {
							t.Errorf("%s analysed again: %s %s→%s, %d transactions, race %+v; the capture's: %s %s→%s, %d, %+v",
								f, a.Close.Reason, a.Client, a.Server, len(a.Transactions), a.Close.Race,
								c.Close.Reason, c.Client, c.Server, len(c.Transactions), c.Close.Race)
						}
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("pcaps for %v, want %v", got, want)
				}
				incidents += len(want)
			})
		}
	}
	if incidents == 0 {
		t.Fatal("no incident in any capture: the test tests nothing")
	}
}

// The packets in an evidence pcap are those of the capture: read back,
// each segment has the original's endpoints, numbers, flags, window, TTL,
// IP id and payload; and tshark, when installed, finds every checksum
// right.
func TestPacketsAsCaptured(t *testing.T) {
	const p = "../../samples/client-rst-race.pcap"
	dir := t.TempDir()
	rec, err := New(Config{Dir: dir, On: mustTriggers(t, "all"), PerMinute: 1000})
	if err != nil {
		t.Fatal(err)
	}
	recs := analyse(t, p, rec, true)
	rec.Close()
	// the capture's segments by connection
	src, err := capture.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	type seg struct {
		Src, Dst     netip.AddrPort
		Seq, Ack     uint32
		Flags, TTL   uint8
		Window, IPID uint16
		Payload      string
		Time         int64
	}
	orig := map[flowKey][]seg{}
	for {
		s, err := src.Next()
		if err != nil {
			break
		}
		k := keyOf(s.Src, s.Dst)
		orig[k] = append(orig[k], seg{s.Src, s.Dst, s.Seq, s.Ack, s.Flags, s.TTL, s.Window, s.IPID, string(s.Payload), s.Time.UnixNano()})
	}
	src.Close()
	n := 0
	for _, f := range files(t, dir) {
		if !strings.HasSuffix(f, ".pcap") {
			continue
		}
		n++
		tshark := n <= 3 // a second each: three will do
		ev, err := capture.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		var got []seg
		var k flowKey
		for {
			s, err := ev.Next()
			if err != nil {
				break
			}
			k = keyOf(s.Src, s.Dst)
			got = append(got, seg{s.Src, s.Dst, s.Seq, s.Ack, s.Flags, s.TTL, s.Window, s.IPID, string(s.Payload), s.Time.UnixNano()})
		}
		ev.Close()
		if fmt.Sprint(got) != fmt.Sprint(orig[k]) {
			t.Errorf("%s: segments\n%v\nwant\n%v", f, got, orig[k])
		}
		if _, err := exec.LookPath("tshark"); err == nil && tshark {
			out, err := exec.Command("tshark", "-r", filepath.Join(dir, f), "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
				"-Y", "tcp.checksum.status != 1 || ip.checksum.status != 1").Output()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("%s: tshark finds bad checksums (%v): %s", f, err, out)
			}
		}
	}
	if n != len(recs) {
		t.Errorf("%d pcaps for %d connections with --evidence-on all", n, len(recs))
	}
}

// Past PerMinute incidents in a minute, the minute's others share one
// pcap (all their connections) and one report.
func TestBusyMinuteShares(t *testing.T) {
	const p = "../../samples/client-rst-race.pcap" // 10 connections in 3 s
	dir := t.TempDir()
	rec, err := New(Config{Dir: dir, On: mustTriggers(t, "all"), PerMinute: 3})
	if err != nil {
		t.Fatal(err)
	}
	recs := analyse(t, p, rec, false)
	st := rec.Close()
	if st.Written != uint64(len(recs)) {
		t.Fatalf("stats %+v, want %d written", st, len(recs))
	}
	var own, shared []string
	for _, f := range files(t, dir) {
		switch {
		case strings.HasSuffix(f, "_minute.pcap"):
			shared = append(shared, f)
		case strings.HasSuffix(f, ".pcap"):
			own = append(own, f)
		}
	}
	if len(own) != 3 || len(shared) != 1 {
		t.Fatalf("own pcaps %v and shared %v; want 3 and 1", own, shared)
	}
	again := analyse(t, filepath.Join(dir, shared[0]), nil, true)
	if len(again) != len(recs)-3 {
		t.Errorf("the shared pcap holds %d connections, want %d", len(again), len(recs)-3)
	}
	html, err := os.ReadFile(filepath.Join(dir, strings.TrimSuffix(shared[0], ".pcap")+".html"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(html), "<h2>Connection "); got != len(recs)-3 {
		t.Errorf("the shared report lists %d connections, want %d", got, len(recs)-3)
	}
}

// Evidence stays under MaxDisk: the oldest files go to make room, the
// latest incidents stay, and files not ours are never touched.
func TestDiskCap(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	// an older run's evidence counts too
	old := filepath.Join(dir, "20200101T000000.000Z_10.0.0.1_80_reset_c1.pcap")
	if err := os.WriteFile(old, make([]byte, 3000), 0o644); err != nil {
		t.Fatal(err)
	}
	const capBytes = 24 << 10
	rec, err := New(Config{Dir: dir, On: mustTriggers(t, "all"), PerMinute: 1000, MaxDisk: capBytes})
	if err != nil {
		t.Fatal(err)
	}
	recs := analyse(t, "../../samples/client-rst-race.pcap", rec, true)
	st := rec.Close()
	if got := dirBytes(t, dir) - 4; got > capBytes || st.DiskBytes != got {
		t.Errorf("evidence takes %d bytes (stats say %d), cap %d", got, st.DiskBytes, capBytes)
	}
	if st.Deleted == 0 {
		t.Errorf("nothing deleted (stats %+v): the cap was never reached", st)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the oldest evidence %s is still there (%v)", old, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Errorf("a file not ours was touched: %v", err)
	}
	last := 0
	for id := range recs {
		last = max(last, id)
	}
	found := false
	for _, f := range files(t, dir) {
		found = found || strings.HasSuffix(f, fmt.Sprintf("_c%d.pcap", last))
	}
	if !found {
		t.Errorf("the last incident (connection %d) is not kept: %v", last, files(t, dir))
	}
}

// failingFS fails every write once limit bytes were written: a full disk.
type failingFS struct {
	osFS
	mu      sync.Mutex
	written int
	limit   int
}

type failingFile struct {
	f  *os.File
	fs *failingFS
}

func (fs *failingFS) Create(name string) (writeFile, error) {
	f, err := os.Create(name)
	return &failingFile{f, fs}, err
}

func (f *failingFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.fs.written+len(p) > f.fs.limit {
		return 0, &os.PathError{Op: "write", Path: f.f.Name(), Err: syscall.ENOSPC}
	}
	f.fs.written += len(p)
	return f.f.Write(p)
}

func (f *failingFile) Close() error { return f.f.Close() }

// A full disk stops evidence writing with one warning; the analysis goes
// on to the end and every record is emitted; no half-written file stays.
func TestFullDiskStopsEvidenceOnly(t *testing.T) {
	for _, perMinute := range []int{1000, 2} {
		t.Run(fmt.Sprintf("per-minute=%d", perMinute), func(t *testing.T) {
			dir := t.TempDir()
			var warnings []string
			var mu sync.Mutex
			rec, err := New(Config{Dir: dir, On: mustTriggers(t, "all"), PerMinute: perMinute,
				Warn: func(s string) { mu.Lock(); warnings = append(warnings, s); mu.Unlock() },
				fs:   &failingFS{limit: 30000}})
			if err != nil {
				t.Fatal(err)
			}
			recs := analyse(t, "../../samples/client-rst-race.pcap", rec, false)
			st := rec.Close()
			if len(recs) != 10 {
				t.Fatalf("%d records, want the capture's 10", len(recs))
			}
			if !st.Stopped || len(warnings) != 1 || !strings.Contains(warnings[0], "no space left") ||
				!strings.Contains(warnings[0], "the capture goes on") {
				t.Errorf("stopped %v, warnings %q; want one about the full disk", st.Stopped, warnings)
			}
			if st.Written == 0 || st.Written+st.Dropped != st.Incidents {
				t.Errorf("stats %+v: want some written, the rest dropped", st)
			}
			for _, f := range files(t, dir) {
				if fi, _ := os.Stat(filepath.Join(dir, f)); fi.Size() == 0 {
					t.Errorf("empty file %s left behind", f)
				}
			}
		})
	}
}

// On a real full file system (a small tmpfs; root only) the same.
func TestFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	var warned []string
	rec, err := New(Config{Dir: dir, On: mustTriggers(t, "all"), PerMinute: 1000, MaxDisk: 1 << 30,
		Warn: func(s string) { warned = append(warned, s) }})
	if err != nil {
		t.Fatal(err)
	}
	recs := analyse(t, "../../samples/client-rst-race.pcap", rec, true)
	st := rec.Close()
	if len(recs) != 10 || !st.Stopped || len(warned) != 1 || !strings.Contains(warned[0], "no space") {
		t.Errorf("records %d, stats %+v, warnings %q: want 10 records and writing stopped on ENOSPC", len(recs), st, warned)
	}
}

// What --evidence-on accepts and what each word matches.
func TestTriggers(t *testing.T) {
	race := &httpflow.Connection{Close: httpflow.Close{Reason: httpflow.ReasonKeepaliveRace,
		Race: &httpflow.Race{Kind: httpflow.RaceSilentDrop}, RstBy: httpflow.Server}}
	reset := &httpflow.Connection{Close: httpflow.Close{Reason: httpflow.ReasonReset, RstBy: httpflow.Client}}
	idle := &httpflow.Connection{Close: httpflow.Close{Reason: httpflow.ReasonServerIdleTimeout, FirstFinBy: httpflow.Server},
		Anomalies: []string{"stray-crlf"}}
	gap := &httpflow.Connection{Close: httpflow.Close{Reason: httpflow.ReasonClientIdleClose, FirstFinBy: httpflow.Client},
		Anomalies: []string{"response-bad-chunk-size", "content-gap"}}
	all := []*httpflow.Connection{race, reset, idle, gap}
	cases := []struct {
		on   string
		want []string // why, per connection above ("" none)
	}{
		{"race,reset", []string{"race-silent-drop", "reset", "", ""}},
		{"race", []string{"race-silent-drop", "", "", ""}},
		{"stale-reuse", []string{"", "", "", ""}},
		{" silent-drop ", []string{"race-silent-drop", "", "", ""}},
		{"reset", []string{"reset", "reset", "", ""}}, // a silent drop ends in a RST too
		{"server-idle-timeout", []string{"", "", "server-idle-timeout", ""}},
		{"anomaly", []string{"", "", "stray-crlf", "response-bad-chunk-size"}},
		{"content-gap", []string{"", "", "", "content-gap"}},
		{"response-bad-chunk-size,keepalive-race", []string{"race-silent-drop", "", "", "response-bad-chunk-size"}},
		{"all", []string{"race-silent-drop", "reset", "server-idle-timeout", "client-idle-close"}},
		{"RACE,Reset", []string{"race-silent-drop", "reset", "", ""}},
	}
	for _, c := range cases {
		tr, err := ParseTriggers(c.on)
		if err != nil {
			t.Errorf("ParseTriggers(%q): %v", c.on, err)
			continue
		}
		var got []string
		for _, x := range all {
			why, ok := tr.Match(x)
			if ok != (why != "") {
				t.Errorf("%q: Match gives %q, %v", c.on, why, ok)
			}
			got = append(got, why)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("--evidence-on %q matches %q, want %q", c.on, got, c.want)
		}
	}
	for _, bad := range []string{"", " , ", "rase", "response-", "response-nonsense", "race,bogus"} {
		if _, err := ParseTriggers(bad); err == nil {
			t.Errorf("ParseTriggers(%q) accepted", bad)
		}
	}
}

// Anomalies names every anomaly the analysis gives, read from the
// sources of httpflow and tcpstate, and is sorted.
func TestAnomalyNamesInStep(t *testing.T) {
	if !sort.StringsAreSorted(Anomalies) {
		t.Errorf("Anomalies is not sorted: %v", Anomalies)
	}
	res := []*regexp.Regexp{
		regexp.MustCompile(`anomaly\("([a-z0-9-]+)"\)`),
		regexp.MustCompile(`h2Break\("([a-z0-9-]+)"\)`),
		regexp.MustCompile(`Anomalies = append\(c\.Anomalies, "([a-z0-9-]+)"\)`),
		regexp.MustCompile(`verdict\{Reason\w+, [^,]+, "([a-z0-9-]+)"`),
	}
	found := map[string]bool{}
	for _, g := range []string{"../../httpflow/*.go", "../../tcpstate/*.go"} {
		paths, _ := filepath.Glob(g)
		for _, p := range paths {
			if strings.HasSuffix(p, "_test.go") {
				continue
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, re := range res {
				for _, m := range re.FindAllStringSubmatch(string(b), -1) {
					found[m[1]] = true
				}
			}
		}
	}
	if len(found) < 15 {
		t.Fatalf("found only %d anomaly names in the sources: %v", len(found), found)
	}
	for a := range found {
		if !known(a) {
			t.Errorf("anomaly %q (in the sources) is not in Anomalies", a)
		}
	}
	for _, a := range Anomalies {
		if !found[a] {
			t.Errorf("Anomalies names %q, which the sources never give", a)
		}
	}
}

// An error from New for a directory that cannot be made.
func TestNewBadDir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := New(Config{Dir: filepath.Join(f, "sub")}); err == nil {
		t.Error("New with a directory under a file: no error")
	}
	if _, err := New(Config{}); err == nil || !errors.Is(err, err) {
		t.Error("New without a directory: no error")
	}
}

var _ = time.Second
