package summary

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/httplife/httplife/httpflow"
)

var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

// exactSteps is the definition of a series: the number of intervals open
// at each instant (from their start to their end), ms after t0.
func exactSteps(ivs [][2]float64, end float64) func(at float64) int {
	return func(at float64) int {
		n := 0
		for _, iv := range ivs {
			to := iv[1]
			if to < 0 {
				to = end
			}
			if iv[0] <= at && at < to {
				n++
			}
		}
		return n
	}
}

func msTime(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }

// A few intervals give the exact steps.
func TestSeriesExact(t *testing.T) {
	var s series
	for _, iv := range [][2]float64{{1, 3}, {2, 5}, {3, 4}} {
		s.add(msTime(iv[0]), msTime(iv[1]))
	}
	s.add(msTime(6), time.Time{}) // still open at the end
	pts, bucketed := s.points(t0, 9, 10, stepBuckets)
	want := []Point{{0, 0}, {1, 1}, {2, 2}, {3, 2}, {4, 1}, {5, 0}, {6, 1}, {9, 0}, {10, 0}}
	if bucketed || !slices.Equal(pts, want) {
		t.Errorf("steps %v (bucketed %v), want %v", pts, bucketed, want)
	}
}

// Many intervals, arriving in any order and spanning more time than the
// grid first covers (to the right and to the left), give per bucket the
// most intervals open at once, never fewer than the exact peak within the
// bucket and never more than the intervals that overlap it.
func TestSeriesBucketed(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	var s series
	var ivs [][2]float64
	for i := 0; i < 20000; i++ {
		// Mostly short intervals in the middle; a few far out on both
		// sides, added late, so the grid moves back and widens.
		from := 5000 + r.Float64()*5000
		if i > 15000 && i%100 == 0 {
			from = r.Float64() * 100000
		}
		d := r.ExpFloat64() * 20
		ivs = append(ivs, [2]float64{from, from + d})
		s.add(msTime(from), msTime(from+d))
	}
	end := 0.0
	for _, iv := range ivs {
		end = max(end, iv[1])
	}
	pts, bucketed := s.points(t0, end, end, stepBuckets)
	if !bucketed || len(pts) != stepBuckets+1 {
		t.Fatalf("bucketed %v with %d points, want %d buckets", bucketed, len(pts), stepBuckets)
	}
	at := exactSteps(ivs, end)
	w := end / stepBuckets
	for b := 0; b < stepBuckets; b += 37 {
		lo, hi := float64(b)*w, float64(b+1)*w
		peak, overlap := 0, 0
		for x := lo; x < hi; x += w / 50 {
			peak = max(peak, at(x))
		}
		for _, iv := range ivs {
			if iv[0] < hi && iv[1] > lo {
				overlap++
			}
		}
		// The grid's buckets are coarser than the output's near the far
		// ends: the peak is bounded by the intervals overlapping the
		// grid buckets the output bucket touches.
		if got := pts[b].Value; got < peak {
			t.Errorf("bucket %d [%.1f, %.1f) ms: %d open, exact peak %d (%d overlap it)", b, lo, hi, got, peak, overlap)
		}
	}
	if s.width <= seriesMinWidth || len(s.starts) > seriesBuckets {
		t.Errorf("grid width %v, %d buckets: did not widen", time.Duration(s.width), len(s.starts))
	}
}

// The sampler keeps an even sample within twice its size, in order.
func TestSampler(t *testing.T) {
	s := sampler{max: 100}
	for i := 0; i < 100000; i++ {
		if s.takes() {
			s.add(Row{Conn: httpflow.Connection{ID: i}})
		} else {
			s.skip()
		}
	}
	if len(s.rows) < 100 || len(s.rows) >= 200 || s.total != 100000 {
		t.Fatalf("%d rows kept of %d, want 100-199", len(s.rows), s.total)
	}
	for i := 1; i < len(s.rows); i++ {
		if gap := s.rows[i].Conn.ID - s.rows[i-1].Conn.ID; gap != s.stride {
			t.Fatalf("rows %d and %d: ids %d apart, want the stride %d", i-1, i, gap, s.stride)
		}
	}
}

func conn2(id int, reason httpflow.Reason, dur time.Duration, status int) *httpflow.Connection {
	start := t0.Add(time.Duration(id) * time.Millisecond)
	c := &httpflow.Connection{ID: id, Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(id >> 8), byte(id)}), 40000),
		Server: netip.MustParseAddrPort("10.1.0.1:80"), FirstPacketAt: start, LastPacketAt: start.Add(dur)}
	c.Transactions = []httpflow.Transaction{{Index: 1, Method: "GET", URI: "/", RequestVersion: "HTTP/1.1", Status: status,
		RequestStartAt: start, ResponseEndAt: start.Add(time.Millisecond)}}
	c.Close = httpflow.Close{Reason: reason, FirstFinBy: httpflow.Server, FirstFinAt: start.Add(dur)}
	if reason == httpflow.ReasonReset {
		c.Close.RstBy, c.Close.RstAt, c.Close.FirstFinBy, c.Close.FirstFinAt = httpflow.Client, start.Add(dur), httpflow.NoSide, time.Time{}
	}
	return c
}

// Past TimelineMax connections the report draws the telling ones first:
// races, resets and errors up to their shares, the longest, then an even
// sample; it never keeps more than a bounded number of records.
func TestReportChoosesTheTellingConnections(t *testing.T) {
	b := New(Config{Timeline: true})
	const n = 50000
	races, resets, errs := 0, 0, 0
	for i := 1; i <= n; i++ {
		reason, status := httpflow.ReasonServerIdleTimeout, 200
		switch {
		case i%97 == 0:
			reason = httpflow.ReasonKeepaliveRace
			races++
		case i%501 == 0:
			reason = httpflow.ReasonReset
			resets++
		case i%301 == 0:
			status = 503
			errs++
		}
		dur := time.Duration(i%1000) * time.Millisecond
		if i == 12345 {
			dur = time.Hour // the longest
		}
		b.Add(conn2(i, reason, dur, status))
	}
	kept := len(b.report.races.rows) + len(b.report.resets.rows) + len(b.report.errors.rows) + len(b.report.rest.rows) + len(b.report.longest)
	if kept > 2*(keepRaces+keepResets+keepErrors+TimelineMax)+keepLongest {
		t.Errorf("%d records kept", kept)
	}
	rep := b.Digest(httpflow.CaptureInfo{}, httpflow.Options{}).Report
	if rep.TimelineAll || len(rep.Timeline) != TimelineMax {
		t.Fatalf("timeline: all %v, %d rows, want %d", rep.TimelineAll, len(rep.Timeline), TimelineMax)
	}
	if rep.DrawnRaces != min(races, keepRaces) || rep.DrawnResets != min(resets, keepResets) {
		t.Errorf("drawn races %d of %d, resets %d of %d", rep.DrawnRaces, races, rep.DrawnResets, resets)
	}
	if rep.DrawnErrors < min(errs, keepErrors)/2 {
		t.Errorf("drawn errors %d of %d", rep.DrawnErrors, errs)
	}
	found := false
	for i := 1; i < len(rep.Timeline); i++ {
		a, c := &rep.Timeline[i-1].Conn, &rep.Timeline[i].Conn
		if c.FirstPacketAt.Before(a.FirstPacketAt) {
			t.Fatalf("timeline not in start order at %d", i)
		}
	}
	for _, r := range rep.Timeline {
		found = found || r.Conn.ID == 12345
	}
	if !found {
		t.Errorf("the longest connection is not drawn")
	}
	if len(rep.Table) != TableMax || rep.TableAll {
		t.Errorf("table %d rows (all %v), want %d", len(rep.Table), rep.TableAll, TableMax)
	}
	if rep.Connections != n || rep.Transactions != n {
		t.Errorf("%d connections, %d transactions, want %d", rep.Connections, rep.Transactions, n)
	}
}

// A small capture's lines are all kept; past smallCapture the text keeps
// the notables and groups, which count every connection once.
func TestLinesSmallThenDigest(t *testing.T) {
	for _, n := range []int{1, smallCapture, smallCapture + 1, 5000} {
		b := New(Config{Text: true})
		for i := 1; i <= n; i++ {
			reason := httpflow.ReasonClientIdleClose
			if i%7 == 0 {
				reason = httpflow.ReasonKeepaliveRace
			}
			b.Add(conn2(i, reason, time.Duration(i)*time.Microsecond, 200))
		}
		d := b.Digest(httpflow.CaptureInfo{}, httpflow.Options{})
		if small := n <= smallCapture; d.AllKept != small {
			t.Errorf("n=%d: AllKept %v", n, d.AllKept)
			continue
		}
		if d.AllKept {
			if len(d.Lines) != n {
				t.Errorf("n=%d: %d lines", n, len(d.Lines))
			}
			continue
		}
		total := len(d.Notable) + d.NotableCounts["race"] - countWhy(d.Notable, "race")
		for _, g := range d.Groups {
			total += g.Count
		}
		if total != n {
			t.Errorf("n=%d: notables and groups count %d connections", n, total)
		}
		if got := d.NotableCounts["race"]; got != n/7 {
			t.Errorf("n=%d: %d races counted, want %d", n, got, n/7)
		}
	}
}

func countWhy(ls []Line, why string) int {
	n := 0
	for _, l := range ls {
		if l.Why == why {
			n++
		}
	}
	return n
}

// BenchmarkBuilderAdd is the cost of summarising one record for each
// output.
func BenchmarkBuilderAdd(b *testing.B) {
	recs := make([]*httpflow.Connection, 4096)
	for i := range recs {
		recs[i] = conn2(i+1, httpflow.Reason(i%11+1), time.Duration(i)*time.Millisecond, 200+i%5*100)
	}
	for _, cfg := range []Config{{}, {Text: true}, {Timeline: true}} {
		b.Run(fmt.Sprintf("%+v", cfg), func(b *testing.B) {
			sb := New(cfg)
			i := 0
			for b.Loop() {
				sb.Add(recs[i%len(recs)])
				i++
			}
		})
	}
}
