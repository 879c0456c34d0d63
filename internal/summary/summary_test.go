package summary

import (
	"fmt"
	"math"
	"math/rand"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/httplife/httplife/httpflow"
)

func secsDur(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }

func conn(tx int, idle []float64, final float64, holder httpflow.Side, server string, twAt time.Time) *httpflow.Connection {
	c := &httpflow.Connection{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort(server), Transactions: make([]httpflow.Transaction, tx)}
	for _, d := range idle {
		c.IdlePeriods = append(c.IdlePeriods, httpflow.Idle{Duration: secsDur(d)})
	}
	c.FinalIdle = &httpflow.Idle{Duration: secsDur(final)}
	c.Close = httpflow.Close{FirstFinBy: httpflow.Server, Reason: httpflow.ReasonServerIdleTimeout}
	if holder != httpflow.NoSide {
		c.TimeWait = &httpflow.TimeWait{Holder: holder, EnteredAt: twAt, ExpiresAt: twAt.Add(time.Minute)}
	}
	return c
}

func TestSummaryExact(t *testing.T) {
	b := New(Config{})
	t0 := time.Unix(1000, 0)
	// Three TIME_WAITs on the server: two overlap, the third starts after
	// the first expired.
	b.Add(conn(3, []float64{0.1, 0.2}, 2, httpflow.Server, "10.0.0.2:80", t0))
	b.Add(conn(1, nil, 2.5, httpflow.Server, "10.0.0.2:80", t0.Add(30*time.Second)))
	b.Add(conn(5, []float64{0.3, 0.4, 0.5, 0.6}, 1, httpflow.Server, "10.0.0.2:80", t0.Add(61*time.Second)))
	s := b.Summary()
	if s.Connections != 3 || s.Transactions != 9 {
		t.Errorf("connections %d transactions %d, want 3 and 9", s.Connections, s.Transactions)
	}
	if got := s.TransactionsPerConnection; got.Mean != 3 || got.P50 != 3 || got.Max != 5 {
		t.Errorf("per connection %+v, want mean 3, p50 3, max 5", got)
	}
	if got := s.IdleS; got.Count != 6 || got.P50 != 0.3 || got.P90 != 0.6 || got.Max != 0.6 {
		t.Errorf("idle %+v, want count 6, p50 0.3, p90 0.6, max 0.6", got)
	}
	if got := s.TimeWait.PeakConcurrent["10.0.0.2"]; got != 2 || s.TimeWait.Server != 3 {
		t.Errorf("TIME_WAIT peak %d (server %d), want 2 of 3", got, s.TimeWait.Server)
	}
}

// TIME_WAITs count by host, whatever the port, with endpoints in any
// order (the builder remembers the last one).
func TestSummaryTimeWaitByHost(t *testing.T) {
	b := New(Config{})
	t0 := time.Unix(1000, 0)
	for i, server := range []string{"10.0.0.2:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.2:8080", "[fe80::1%eth0]:80", "10.0.0.2:80", "[fe80::1%eth0]:443"} {
		b.Add(conn(1, nil, 1, httpflow.Server, server, t0.Add(time.Duration(i)*time.Second)))
	}
	want := map[string]int{"10.0.0.2": 4, "10.0.0.3": 1, "fe80::1%eth0": 2}
	if got := b.Summary().TimeWait.PeakConcurrent; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("TIME_WAIT peaks %v, want %v", got, want)
	}
}

// Past maxExact durations the builder keeps 1 % buckets: bounded memory,
// percentiles within 1 %.
func TestSummaryBoundedAndClose(t *testing.T) {
	b := New(Config{})
	r := rand.New(rand.NewSource(1))
	var all []float64
	n := maxExact + 50000
	for i := 0; i < n; i++ {
		v := math.Exp(r.NormFloat64()) // log-normal, like real idle gaps
		all = append(all, v)
		b.tot.idle.add(v)
	}
	if b.tot.idle.exact != nil || len(b.tot.idle.hist) > 5000 {
		t.Fatalf("after %d values: %d exact values kept, %d buckets", n, len(b.tot.idle.exact), len(b.tot.idle.hist))
	}
	sort.Float64s(all)
	d := b.tot.idle.distribution()
	for _, p := range []struct {
		q   float64
		got float64
	}{{0.5, d.P50}, {0.9, d.P90}, {0.99, d.P99}} {
		want := all[rank(n, p.q)]
		if math.Abs(float64(p.got)-want) > 0.011*want {
			t.Errorf("p%v = %v, exact %v: off by more than 1 %%", p.q*100, p.got, want)
		}
	}
	if d.Max != all[n-1] || d.Count != n {
		t.Errorf("max %v count %d, want %v and %d", d.Max, d.Count, all[n-1], n)
	}
}

// TestSelectKth checks selection against a sort: random, duplicated,
// sorted, reversed and constant inputs, every k of the small ones.
func TestSelectKth(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	inputs := map[string][]float64{"empty": nil, "one": {3}}
	for _, n := range []int{2, 3, 7, 64, 1000} {
		rnd, dup, asc, desc, same := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		for i := range n {
			rnd[i] = r.ExpFloat64()
			dup[i] = float64(r.Intn(4))
			asc[i], desc[i], same[i] = float64(i), float64(n-i), 1.5
		}
		for name, in := range map[string][]float64{"random": rnd, "duplicates": dup, "ascending": asc, "descending": desc, "constant": same} {
			inputs[fmt.Sprintf("%s %d", name, n)] = in
		}
	}
	for name, in := range inputs {
		want := slices.Clone(in)
		slices.Sort(want)
		for k := range in {
			if len(in) > 100 && k%37 != 0 && k != len(in)-1 {
				continue
			}
			s := slices.Clone(in)
			selectKth(s, k)
			if s[k] != want[k] {
				t.Fatalf("%s: selectKth(k=%d) put %v at k, sort puts %v", name, k, s[k], want[k])
			}
			for i, v := range s {
				if i < k && v > s[k] || i > k && v < s[k] {
					t.Fatalf("%s: selectKth(k=%d): s[%d] = %v on the wrong side of %v", name, k, i, v, s[k])
				}
			}
			got := slices.Clone(s)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: selectKth(k=%d) changed the values", name, k)
			}
		}
	}
}

// BenchmarkDistribution is the summary's percentiles of 165,000 idle gaps,
// as many as the 1 GB bench capture has.
func BenchmarkDistribution(b *testing.B) {
	r := rand.New(rand.NewSource(3))
	var q quantiles
	for range 165000 {
		q.add(math.Exp(r.NormFloat64()))
	}
	orig := slices.Clone(q.exact)
	for b.Loop() {
		copy(q.exact, orig) // distribution reorders them
		q.distribution()
	}
}

// A server's FIN that answered the client's TLS close_notify is the
// client's idle close: it feeds the clients' idle close, never the
// server's inferred idle timeout.
func TestServerInferenceClientEndedTLS(t *testing.T) {
	for _, ended := range []bool{false, true} {
		b := New(Config{})
		t0 := time.Unix(1000, 0)
		for i := range 12 {
			c := conn(2, []float64{0.1}, 5+float64(i%3)*0.001, httpflow.Server, "10.0.0.2:443", t0.Add(time.Duration(i)*10*time.Second))
			c.ID = i + 1
			c.KeepAlive.Persistent = true
			c.TLS = &httpflow.TLS{Version: "TLS 1.2", CloseNotifyBy: httpflow.Client, ClientEnded: ended}
			b.Add(c)
		}
		_, servers := b.Final(httpflow.Options{})
		if len(servers) != 1 {
			t.Fatalf("ended %v: %d servers, want 1", ended, len(servers))
		}
		sv := servers[0]
		if sv.HasIdleTimeout == ended {
			t.Errorf("ended %v: server idle timeout inferred %v (%v), want %v", ended, sv.HasIdleTimeout, sv.IdleTimeout, !ended)
		}
		if ended && (!sv.HasClientIdleClose || sv.ClientIdleClose < 4900*time.Millisecond || sv.ClientIdleClose > 5100*time.Millisecond) {
			t.Errorf("ended %v: clients' idle close %v (%v), want about 5 s", ended, sv.ClientIdleClose, sv.HasClientIdleClose)
		}
	}
}

// An HTTP/2 server's idle close starts with its GOAWAY (Go's FIN follows a
// second later): the idle timeout inferred is the GOAWAY's, not the FIN's.
func TestServerInferenceGoAway(t *testing.T) {
	for _, goAway := range []bool{false, true} {
		b := New(Config{})
		t0 := time.Unix(1000, 0)
		for i := range 12 {
			start := t0.Add(time.Duration(i) * 10 * time.Second)
			c := conn(2, []float64{0.1}, 2+float64(i%3)*0.001, httpflow.Server, "10.0.0.2:8080", start)
			c.ID = i + 1
			c.KeepAlive.Persistent = true
			c.FinalIdle.StartAt, c.FinalIdle.EndAt = start, start.Add(c.FinalIdle.Duration)
			if goAway {
				c.Close.GoAwayAt = start.Add(time.Second + time.Duration(i%3)*time.Millisecond)
			}
			b.Add(c)
		}
		sum, servers := b.Final(httpflow.Options{})
		if len(servers) != 1 || !servers[0].HasIdleTimeout {
			t.Fatalf("GOAWAY %v: servers %+v, want one with an idle timeout", goAway, servers)
		}
		want, finding := 2*time.Second, "closed by the server after 2.0 s idle"
		if goAway {
			want, finding = time.Second, "closed by the server after 1.0 s idle"
		}
		if f := strings.Join(sum.Findings, "\n"); !strings.Contains(f, finding) {
			t.Errorf("GOAWAY %v: findings %q, want one saying %q", goAway, sum.Findings, finding)
		}
		if d := servers[0].IdleTimeout - want; d < -5*time.Millisecond || d > 5*time.Millisecond {
			t.Errorf("GOAWAY %v: idle timeout %v, want about %v", goAway, servers[0].IdleTimeout, want)
		}
	}
}

// Connections captured in one direction lead the findings and the
// warnings; their requests without responses are not called unanswered.
func TestOneDirectionFindings(t *testing.T) {
	b := New(Config{})
	for i := range 4 {
		c := conn(2, nil, 1, httpflow.NoSide, "10.0.0.2:80", time.Time{})
		c.Close.Reason = httpflow.ReasonUnknown
		if i < 3 {
			c.Unseen = httpflow.Server
		}
		b.Add(c)
	}
	f := b.Findings()
	want := "3 of 4 connections were captured in one direction only, the client's: the capture holds none of their server's packets"
	if len(f) == 0 || !strings.HasPrefix(f[0], want) || !strings.Contains(f[0], "AWS Traffic Mirroring") {
		t.Errorf("findings %q, want the first to start %q and name the mirror", f, want)
	}
	// Only the connection captured whole has unanswered requests.
	if got := strings.Join(f, "\n"); !strings.Contains(got, "2 requests got no response") {
		t.Errorf("findings %q, want 2 requests unanswered (of the connection captured whole)", f)
	}
	n := b.Notes()
	if len(n) != 1 || !strings.HasPrefix(n[0], "3 of 4 connections hold none of the server's packets (anomaly server-packets-not-captured)") {
		t.Errorf("notes %q, want one line on the 3 connections", n)
	}
}

// A capture that starts and stops in the middle of traffic: requests
// still waiting when it ended are not called unanswered (nor errors), and
// a connection first seen inside a response lends the findings no idle
// time (its final idle runs from the capture's first packet of it).
func TestFindingsCaptureEdges(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := New(Config{Text: true})

	waiting := conn(2, nil, 0, httpflow.NoSide, "10.0.0.2:80", time.Time{})
	waiting.Transactions[0].Status = 200
	waiting.Transactions[1].RequestStartAt = t0.Add(time.Second)
	waiting.FinalIdle, waiting.Close = nil, httpflow.Close{Reason: httpflow.ReasonCaptureEnded}
	waiting.FirstPacketAt, waiting.LastPacketAt = t0, t0.Add(time.Second)
	b.Add(waiting)

	closed := conn(1, nil, 0, httpflow.NoSide, "10.0.0.2:80", time.Time{}) // a FIN, no response
	closed.Close.Reason = httpflow.ReasonUnknown
	closed.FirstPacketAt, closed.LastPacketAt = t0, t0.Add(3500*time.Millisecond)
	b.Add(closed)

	mid := conn(0, nil, 10e-6, httpflow.Server, "10.0.0.2:80", t0)
	mid.PayloadBytes.Server = 900
	b.Add(mid)
	idle := conn(1, nil, 5, httpflow.Server, "10.0.0.2:80", t0)
	idle.Transactions[0].Status = 200
	b.Add(idle)

	got := strings.Join(b.Findings(), "\n")
	for _, want := range []string{
		"1 request got no response.",
		"1 request was still waiting for a response when the capture ended (the longest for 2.5 s).",
		"2 of 4 connections were closed by the server after 5.0 s idle (median); for 1 of them, open before the capture began with no exchange captured, the idle time is unknown;",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("findings lack %q:\n%s", want, got)
		}
	}
	if !mid.IdleUnknown() || waiting.IdleUnknown() {
		t.Errorf("IdleUnknown: %v for the connection first seen inside a response, %v for one with transactions; want true, false", mid.IdleUnknown(), waiting.IdleUnknown())
	}
	if hasError(waiting) || !hasError(closed) {
		t.Errorf("hasError: %v for a request the capture's end cut off, %v for one closed unanswered; want false, true", hasError(waiting), hasError(closed))
	}
}

// A lossy capture says so once: the connections with segments the peer
// acknowledged and the capture lacks (not those captured one way), and
// the responses known to be among them.
func TestLossyNote(t *testing.T) {
	b := New(Config{})
	lossy := conn(2, nil, 1, httpflow.NoSide, "10.0.0.2:80", time.Time{})
	lossy.Anomalies = []string{"content-gap", "response-not-captured"}
	lossy.Transactions[0].ResponseLost = true
	oneWay := conn(1, nil, 1, httpflow.NoSide, "10.0.0.2:80", time.Time{})
	oneWay.Anomalies, oneWay.Unseen = []string{"content-gap"}, httpflow.Server
	b.Add(lossy)
	b.Add(oneWay)
	b.Add(conn(1, nil, 1, httpflow.NoSide, "10.0.0.2:80", time.Time{}))
	notes := strings.Join(b.Notes(), "\n")
	for _, want := range []string{"1 of 3 connections lack segments their peer acknowledged (anomaly content-gap)", "show 1 response among what was lost (anomaly response-not-captured)"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}
