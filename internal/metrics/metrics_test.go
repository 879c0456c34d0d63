package metrics

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/pipeline"
	"github.com/httplife/httplife/tcpstate"
)

// series gathers m and returns every sample by "name{l=v,...}" (labels in
// name order); a histogram gives name_count, name_sum and name_bucket.
func series(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.Metric {
			var ls []string
			for _, l := range mt.Label {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			key := func(suffix string, extra ...string) string {
				all := append(append([]string(nil), ls...), extra...)
				sort.Strings(all)
				return mf.GetName() + suffix + "{" + strings.Join(all, ",") + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key("")] = mt.Counter.GetValue()
			case dto.MetricType_GAUGE:
				out[key("")] = mt.Gauge.GetValue()
			case dto.MetricType_HISTOGRAM:
				h := mt.Histogram
				out[key("_count")] = float64(h.GetSampleCount())
				out[key("_sum")] = h.GetSampleSum()
				for _, b := range h.Bucket {
					out[key("_bucket", fmt.Sprintf("le=%g", b.GetUpperBound()))] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

// sum adds the samples of a family whose labels include every one of want
// ("k=v").
func sum(s map[string]float64, name string, want ...string) float64 {
	var n float64
	for k, v := range s {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && (strings.Contains(k, "{"+w+",") || strings.Contains(k, ","+w+",") ||
				strings.Contains(k, ","+w+"}") || strings.Contains(k, "{"+w+"}"))
		}
		if ok {
			n += v
		}
	}
	return n
}

func captures(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, g := range []string{"../../samples/*.pcap", "../../../shared/corpus/*.pcap", "../../../shared/corpus/*.pcapng"} {
		m, _ := filepath.Glob(g)
		out = append(out, m...)
	}
	if len(out) == 0 {
		t.Fatal("no captures found")
	}
	return out
}

// run analyses a capture with the metrics fed by the pipeline's Observe,
// as analyse --metrics does, and returns the metrics, the records (copies)
// and the run's result.
func run(t *testing.T, path string, cfg pipeline.Config) (*Metrics, []httpflow.Connection, *pipeline.Result) {
	t.Helper()
	src, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	m := New(Config{})
	cfg.TCP = tcpstate.DefaultConfig()
	cfg.Observe = m.Add
	var recs []httpflow.Connection
	res, err := pipeline.Run(src, cfg, func(c *httpflow.Connection) { recs = append(recs, *c) })
	if err != nil {
		t.Fatal(err)
	}
	m.SetCapture(CaptureOf(&res.Capture, res.Table.Connections, 0, res.Capture.LastPacketAt))
	return m, recs, res
}

// The metrics of every sample and corpus capture say what the JSON summary
// and the records say: closes by reason and by closer, races by kind,
// resets, transactions, idle gaps and final idles, packets, connections.
func TestMetricsMatchTheSummary(t *testing.T) {
	for _, p := range captures(t) {
		t.Run(filepath.Base(p), func(t *testing.T) {
			m, recs, res := run(t, p, pipeline.Config{})
			s := series(t, m)
			sum2 := res.Summary
			check := func(what string, got, want float64) {
				t.Helper()
				if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
					t.Errorf("%s: %s = %v, want %v", p, what, got, want)
				}
			}
			check("connections_closed_total", sum(s, "httplife_connections_closed_total"), float64(sum2.Connections))
			for _, r := range httpflow.Reasons {
				check("connections_closed_total{reason="+r.String()+"}",
					sum(s, "httplife_connections_closed_total", "reason="+r.String()), float64(sum2.Reasons[r]))
			}
			check("closed by client FIN", sum(s, "httplife_connections_closed_total", "side=client")-sum(s, "httplife_resets_total", "side=client"),
				float64(sum2.ClosedBy.Client))
			check("closed by server FIN", sum(s, "httplife_connections_closed_total", "side=server")-sum(s, "httplife_resets_total", "side=server"),
				float64(sum2.ClosedBy.Server))
			check("connections_closed_total{side=none}", sum(s, "httplife_connections_closed_total", "side=none"), float64(sum2.ClosedBy.Open))
			check("resets_total", sum(s, "httplife_resets_total"), float64(sum2.ClosedBy.Reset))
			check("keepalive_races_total", sum(s, "httplife_keepalive_races_total"), float64(sum2.KeepaliveRaces))
			kinds := map[string]int{}
			var idleSum float64
			for _, c := range recs {
				if r := c.Close.Race; r != nil {
					kinds[r.Kind.String()]++
				}
				for _, p := range c.IdlePeriods {
					idleSum += p.Duration.Seconds()
				}
			}
			for k, n := range kinds {
				check("keepalive_races_total{kind="+k+"}", sum(s, "httplife_keepalive_races_total", "kind="+k), float64(n))
			}
			check("transactions_total", sum(s, "httplife_transactions_total"), float64(sum2.Transactions))
			check("idle_gap_seconds_count", sum(s, "httplife_idle_gap_seconds_count"), float64(sum2.IdleS.Count))
			check("idle_gap_seconds_sum", sum(s, "httplife_idle_gap_seconds_sum"), idleSum)
			check("final_idle_seconds_count", sum(s, "httplife_final_idle_seconds_count"), float64(sum2.FinalIdleS.Count))
			if sum2.IdleS.Count > 0 {
				// the bucket holding the largest gap counts them all; the
				// one below the median's bound fewer than half
				ub := Buckets[len(Buckets)-1]
				for _, b := range Buckets {
					if b >= sum2.IdleS.Max {
						ub = b
						break
					}
				}
				check(fmt.Sprintf("idle_gap_seconds_bucket{le=%g}", ub), sum(s, "httplife_idle_gap_seconds_bucket", fmt.Sprintf("le=%g", ub)), float64(sum2.IdleS.Count))
			}
			check("packets_captured_total", s["httplife_packets_captured_total{}"], float64(res.Capture.Packets))
			check("connections_opened_total", s["httplife_connections_opened_total{}"], float64(res.Table.Connections))
			check("connections_open", s["httplife_connections_open{}"], 0)
		})
	}
}

// With Lines (ndjson's two-goroutine tail), Observe still sees every
// record: the metrics are those of the plain run.
func TestMetricsWithLines(t *testing.T) {
	p := "../../samples/client-rst-race.pcap"
	plain, _, _ := run(t, p, pipeline.Config{Transient: true})
	lines, _, _ := run(t, p, pipeline.Config{Transient: true, Lines: &pipeline.Lines{
		NewEncoder: func() func([]byte, *httpflow.Connection) ([]byte, error) {
			return func(dst []byte, c *httpflow.Connection) ([]byte, error) { return append(dst, '.'), nil }
		},
		Write: func([]byte, error) {},
	}})
	a, b := series(t, plain), series(t, lines)
	if len(a) == 0 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("metrics differ with Lines:\n got %v\nwant %v", b, a)
	}
}

// The families follow the Prometheus conventions (promlint: base units,
// _total counters, help strings, no camel case).
func TestLint(t *testing.T) {
	m, _, _ := run(t, "../../samples/client-rst-race.pcap", pipeline.Config{})
	problems, err := testutil.CollectAndLint(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// conn builds a record: server endpoint, reason, closer (FIN) or
// rst side, transactions, idle gaps and final idle in seconds.
type connSpec struct {
	server   string
	client   string
	reason   httpflow.Reason
	fin, rst httpflow.Side
	race     httpflow.RaceKind
	txs      int
	gaps     []float64
	final    float64 // < 0: none
	twHolder httpflow.Side
	twFrom   float64 // seconds after t0
	twFor    float64
}

func (s connSpec) record() *httpflow.Connection {
	c := &httpflow.Connection{Server: netip.MustParseAddrPort(s.server), FirstPacketAt: t0, LastPacketAt: t0.Add(time.Second)}
	if s.client == "" {
		s.client = "10.0.0.1:40000"
	}
	c.Client = netip.MustParseAddrPort(s.client)
	c.Close.Reason = s.reason
	c.Close.FirstFinBy = s.fin
	if s.fin != httpflow.NoSide {
		c.Close.FirstFinAt = t0.Add(time.Second)
	}
	c.Close.RstBy = s.rst
	if s.rst != httpflow.NoSide {
		c.Close.RstAt = t0.Add(900 * time.Millisecond)
	}
	if s.race != 0 {
		c.Close.Race = &httpflow.Race{Kind: s.race, Transaction: s.txs}
	}
	for i := 0; i < s.txs; i++ {
		c.Transactions = append(c.Transactions, httpflow.Transaction{Index: i + 1})
	}
	for _, g := range s.gaps {
		c.IdlePeriods = append(c.IdlePeriods, httpflow.Idle{Duration: time.Duration(g * 1e9)})
	}
	if s.final >= 0 {
		c.FinalIdle = &httpflow.Idle{Duration: time.Duration(s.final * 1e9)}
	}
	c.KeepAlive.Persistent = true
	if s.twHolder != httpflow.NoSide {
		from := t0.Add(time.Duration(s.twFrom * 1e9))
		c.TimeWait = &httpflow.TimeWait{Holder: s.twHolder, EnteredAt: from, ExpiresAt: from.Add(time.Duration(s.twFor * 1e9))}
	}
	return c
}

// The exposition of a few records, exactly: labels, values, histogram
// buckets, the inferred timeout of three idle closes.
func TestExposition(t *testing.T) {
	m := New(Config{})
	for _, s := range []connSpec{
		{server: "192.0.2.1:80", reason: httpflow.ReasonServerIdleTimeout, fin: httpflow.Server, txs: 2, gaps: []float64{0.3}, final: 5.01, twHolder: httpflow.Server, twFor: 60},
		{server: "192.0.2.1:80", reason: httpflow.ReasonServerIdleTimeout, fin: httpflow.Server, txs: 1, final: 5.0, twHolder: httpflow.Server, twFor: 60},
		{server: "192.0.2.1:80", reason: httpflow.ReasonServerIdleTimeout, fin: httpflow.Server, txs: 1, final: 5.02, twHolder: httpflow.Server, twFrom: 10, twFor: 60},
		{server: "192.0.2.1:80", reason: httpflow.ReasonKeepaliveRace, fin: httpflow.Server, race: httpflow.RaceStaleReuse, txs: 2, gaps: []float64{4.9}, final: 4.8},
		{server: "[2001:db8::1]:8080", reason: httpflow.ReasonReset, rst: httpflow.Client, txs: 1, final: 0.05},
	} {
		m.Add(s.record())
	}
	m.SetCapture(Capture{Packets: 100, Dropped: 3, Duplicates: 2, Opened: 6, Open: 1, Clock: t0.Add(65 * time.Second)})
	want := `
# HELP httplife_connections_closed_total Finished TCP connections, by server endpoint, who ended them first (the RST's sender when a RST did; none: no FIN or RST captured) and the close reason.
# TYPE httplife_connections_closed_total counter
httplife_connections_closed_total{reason="keepalive-race",server="192.0.2.1:80",side="server"} 1
httplife_connections_closed_total{reason="reset",server="[2001:db8::1]:8080",side="client"} 1
httplife_connections_closed_total{reason="server-idle-timeout",server="192.0.2.1:80",side="server"} 3
# HELP httplife_connections_open TCP connections in the connection table now.
# TYPE httplife_connections_open gauge
httplife_connections_open 1
# HELP httplife_connections_opened_total TCP connections the connection table created.
# TYPE httplife_connections_opened_total counter
httplife_connections_opened_total 6
# HELP httplife_keepalive_races_total Requests lost to a keep-alive race (a request met the server's close of an idle connection), by server endpoint and kind.
# TYPE httplife_keepalive_races_total counter
httplife_keepalive_races_total{kind="stale-reuse",server="192.0.2.1:80"} 1
# HELP httplife_packets_captured_total Packets read from the capture.
# TYPE httplife_packets_captured_total counter
httplife_packets_captured_total 100
# HELP httplife_packets_dropped_total Packets the kernel or the capture ring dropped.
# TYPE httplife_packets_dropped_total counter
httplife_packets_dropped_total 3
# HELP httplife_packets_duplicate_total Packets dropped as copies of one captured before (the same packet on two interfaces, or mirrored twice).
# TYPE httplife_packets_duplicate_total counter
httplife_packets_duplicate_total 2
# HELP httplife_resets_total TCP connections a RST ended, by server endpoint and the RST's sender.
# TYPE httplife_resets_total counter
httplife_resets_total{server="[2001:db8::1]:8080",side="client"} 1
# HELP httplife_server_idle_timeout_seconds The server's idle timeout in force, inferred from the final idles of the connections it closed while idle (at least 3).
# TYPE httplife_server_idle_timeout_seconds gauge
httplife_server_idle_timeout_seconds{server="192.0.2.1:80"} 5.01
# HELP httplife_time_wait_connections TIME_WAIT states held at the packet clock, by holder side and host address.
# TYPE httplife_time_wait_connections gauge
httplife_time_wait_connections{host="192.0.2.1",side="server"} 1
# HELP httplife_transactions_total HTTP request/response exchanges, by server endpoint.
# TYPE httplife_transactions_total counter
httplife_transactions_total{server="192.0.2.1:80"} 6
httplife_transactions_total{server="[2001:db8::1]:8080"} 1
`
	names := []string{"httplife_connections_closed_total", "httplife_connections_open", "httplife_connections_opened_total",
		"httplife_keepalive_races_total", "httplife_packets_captured_total", "httplife_packets_dropped_total",
		"httplife_packets_duplicate_total", "httplife_resets_total", "httplife_server_idle_timeout_seconds",
		"httplife_time_wait_connections", "httplife_transactions_total"}
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	s := series(t, m)
	for k, want := range map[string]float64{
		"httplife_idle_gap_seconds_count{server=192.0.2.1:80}":                      2,
		"httplife_idle_gap_seconds_bucket{le=0.1,server=192.0.2.1:80}":              0,
		"httplife_idle_gap_seconds_bucket{le=0.5,server=192.0.2.1:80}":              1,
		"httplife_idle_gap_seconds_bucket{le=2,server=192.0.2.1:80}":                1,
		"httplife_idle_gap_seconds_bucket{le=5,server=192.0.2.1:80}":                2,
		"httplife_final_idle_seconds_count{server=192.0.2.1:80,side=server}":        4,
		"httplife_final_idle_seconds_bucket{le=5,server=192.0.2.1:80,side=server}":  2, // 4.8 and 5.0
		"httplife_final_idle_seconds_bucket{le=10,server=192.0.2.1:80,side=server}": 4,
		"httplife_final_idle_seconds_count{server=[2001:db8::1]:8080,side=client}":  1,
		"httplife_last_packet_timestamp_seconds{}":                                  float64(t0.Unix() + 65),
	} {
		if got, ok := s[k]; !ok || math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	if got := s["httplife_idle_gap_seconds_sum{server=192.0.2.1:80}"]; math.Abs(got-5.2) > 1e-9 {
		t.Errorf("idle_gap_seconds_sum = %v, want 5.2", got)
	}
}

// TIME_WAIT held now follows the packet clock: entries expire as it
// passes them, both holders count on their own hosts, and past MaxHosts
// the hosts holding fewest are "other".
func TestTimeWaitAtTheClock(t *testing.T) {
	m := New(Config{MaxHosts: 2})
	add := func(client string, holder httpflow.Side, from, dur float64) {
		m.Add(connSpec{server: "192.0.2.1:80", client: client, reason: httpflow.ReasonClientIdleClose, fin: httpflow.Client,
			final: 1, twHolder: holder, twFrom: from, twFor: dur}.record())
	}
	add("10.0.0.1:1000", httpflow.Client, 0, 60)
	add("10.0.0.1:1001", httpflow.Client, 1, 60)
	add("10.0.0.2:1000", httpflow.Client, 2, 60)
	add("10.0.0.3:1000", httpflow.Both, 3, 60)
	add("10.0.0.4:1000", httpflow.Client, 4, 10)
	cases := []struct {
		at   float64
		want map[string]float64
	}{
		// 10.0.0.1 holds 2, then by address 10.0.0.2; the rest is other
		{5, map[string]float64{"client,10.0.0.1": 2, "client,10.0.0.2": 1, "client,other": 2, "server,other": 1}},
		{14, map[string]float64{"client,10.0.0.1": 2, "client,10.0.0.2": 1, "client,other": 1, "server,other": 1}},
		{60.5, map[string]float64{"client,10.0.0.1": 1, "client,10.0.0.2": 1, "client,other": 1, "server,other": 1}},
		{62, map[string]float64{"client,10.0.0.3": 1, "server,192.0.2.1": 1}},
		{63, map[string]float64{}},
	}
	for _, c := range cases {
		m.SetCapture(Capture{Clock: t0.Add(time.Duration(c.at * 1e9))})
		got := map[string]float64{}
		for k, v := range series(t, m) {
			if rest, ok := strings.CutPrefix(k, "httplife_time_wait_connections{host="); ok {
				host, side, _ := strings.Cut(strings.TrimSuffix(rest, "}"), ",side=")
				got[side+","+host] = v
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("at t0+%gs: TIME_WAIT %v, want %v", c.at, got, c.want)
		}
	}
}

// At most MaxServers servers get a label, the busiest first; the rest
// count as "other"; totals are kept; and no series ever goes down from
// one collection to the next.
func TestServerLabelsCappedAndMonotone(t *testing.T) {
	m := New(Config{MaxServers: 5})
	var prev map[string]float64
	total := 0
	for round := 0; round < 4; round++ {
		for i := 0; i < 40; i++ {
			// server i gets i%7+1 connections with one request each
			for k := 0; k <= i%7; k++ {
				m.Add(connSpec{server: fmt.Sprintf("192.0.2.%d:80", i+round*40), reason: httpflow.ReasonServerIdleTimeout,
					fin: httpflow.Server, txs: 1, final: 1}.record())
				total++
			}
		}
		s := series(t, m)
		servers := map[string]bool{}
		for k := range s {
			if _, rest, ok := strings.Cut(k, "server="); ok {
				servers[strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || r == '}' })[0]] = true
			}
		}
		if len(servers) != 6 || !servers["other"] {
			t.Errorf("round %d: server labels %v, want 5 and other", round, servers)
		}
		if got := sum(s, "httplife_connections_closed_total"); got != float64(total) {
			t.Errorf("round %d: connections_closed_total sums to %v, want %d", round, got, total)
		}
		for k, v := range prev {
			if strings.HasPrefix(k, "httplife_time_wait") || strings.HasPrefix(k, "httplife_server_idle") {
				continue
			}
			if s[k] < v {
				t.Errorf("round %d: %s went down from %v to %v", round, k, v, s[k])
			}
		}
		if round == 0 {
			// the first collection labels the busiest: 7 connections each
			for _, a := range []string{"192.0.2.6:80", "192.0.2.13:80", "192.0.2.20:80", "192.0.2.27:80", "192.0.2.34:80"} {
				if !servers[a] {
					t.Errorf("busiest server %s has no label of its own (labels %v)", a, servers)
				}
			}
		}
		prev = s
	}
}

// A scan of a million server ports (one SYN answered by a RST each) gives
// no server a label, keeps the memory of the candidates bounded and
// counts every connection under "other".
func TestScanDoesNotGrowLabels(t *testing.T) {
	if testing.Short() {
		t.Skip("a million records")
	}
	m := New(Config{})
	c := connSpec{server: "192.0.2.1:1", reason: httpflow.ReasonReset, rst: httpflow.Server, final: -1}.record()
	const n = 1_000_000
	maxCand := 0
	for i := 0; i < n; i++ {
		c.Server = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i >> 16)}), uint16(i))
		m.Add(c)
		maxCand = max(maxCand, m.srv.candidates)
		if i%250_000 == 0 {
			series(t, m) // a scrape now and then
		}
	}
	if maxCand > maxCandidates {
		t.Errorf("candidates grew to %d, cap %d", maxCand, maxCandidates)
	}
	s := series(t, m)
	if len(s) > 12 { // the unlabelled families, and other's
		t.Errorf("%d series after the scan, want a handful: %v", len(s), s)
	}
	if got := s["httplife_connections_closed_total{reason=reset,server=other,side=server}"]; got != n {
		t.Errorf("other's resets = %v, want %d", got, n)
	}
	if len(m.srv.index) != 0 {
		t.Errorf("%d servers still followed after the last collection", len(m.srv.index))
	}
}

// The inferred idle timeout is the summary's: from the recent closes
// (watch) and, for a whole capture, from SetServers.
func TestInferredTimeoutIsTheSummarys(t *testing.T) {
	found := 0
	for _, p := range captures(t) {
		m, _, res := run(t, p, pipeline.Config{})
		live := series(t, m)
		m.SetServers(res.Summary.Servers)
		final := series(t, m)
		for _, sv := range res.Summary.Servers {
			k := "httplife_server_idle_timeout_seconds{server=" + sv.Server.String() + "}"
			for name, s := range map[string]map[string]float64{"recent": live, "summary": final} {
				got, ok := s[k]
				if ok != sv.HasIdleTimeout || ok && math.Abs(got-sv.IdleTimeout.Seconds()) > 1e-9 {
					t.Errorf("%s (%s): %s = %v (present %v), want %v (inferred %v)", p, name, k, got, ok, sv.IdleTimeout.Seconds(), sv.HasIdleTimeout)
				}
			}
			if sv.HasIdleTimeout {
				found++
			}
		}
	}
	if found == 0 {
		t.Error("no capture has a server with an inferred idle timeout: the test tests nothing")
	}
}

// WriteText writes what the text format parser reads back, the same
// samples as a gather.
func TestWriteText(t *testing.T) {
	m, _, _ := run(t, "../../samples/client-rst-race.pcap", pipeline.Config{})
	var b bytes.Buffer
	if err := m.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(&b)
	if err != nil {
		t.Fatalf("parsing our text: %v", err)
	}
	if got := fams["httplife_keepalive_races_total"]; got == nil || len(got.Metric) == 0 {
		t.Fatalf("no races in the text: %v", fams)
	}
	path := filepath.Join(t.TempDir(), "httplife.prom")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}
