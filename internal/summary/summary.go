package summary

import (
	"maps"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/httplife/httplife/httpflow"
)

// totals accumulates the SUMMARY object. Its memory is bounded however
// many connections it sees (watch runs for hours): transactions per
// connection are counted by value, durations are kept exactly up to
// maxExact values and in 1 % histogram buckets beyond, and TIME_WAIT peaks
// are tracked per host with only the TIME_WAITs still running at the time.
type totals struct {
	s        httpflow.Summary
	perConn  map[int]int // transactions on a connection -> connections
	txSum    int
	idle     quantiles
	final    quantiles
	twByHost map[netip.Addr]*twHeap
	lastTW   struct { // the last host addTW saw, and its heap
		host netip.Addr
		h    *twHeap
	}
}

type twSpan struct{ from, to time.Time }

func newTotals() totals {
	return totals{
		s: httpflow.Summary{
			Reasons:             map[httpflow.Reason]int{},
			AdvertisedTimeoutsS: map[string]int{},
			TimeWait:            httpflow.TimeWaitSummary{PeakConcurrent: map[string]int{}},
		},
		perConn:  map[int]int{},
		twByHost: map[netip.Addr]*twHeap{},
	}
}

// add counts one connection.
func (b *totals) add(c *httpflow.Connection) {
	s := &b.s
	s.Connections++
	s.Transactions += len(c.Transactions)
	b.perConn[len(c.Transactions)]++
	b.txSum += len(c.Transactions)
	s.Reasons[c.Close.Reason]++
	switch {
	case c.ClosedByReset():
		s.ClosedBy.Reset++
	case c.Close.FirstFinBy == httpflow.Client:
		s.ClosedBy.Client++
	case c.Close.FirstFinBy != httpflow.NoSide:
		s.ClosedBy.Server++
	default:
		s.ClosedBy.Open++
	}
	for _, p := range c.IdlePeriods {
		b.idle.add(p.Duration.Seconds())
	}
	if c.FinalIdle != nil {
		b.final.add(c.FinalIdle.Duration.Seconds())
	}
	if t := c.KeepAlive.AdvertisedTimeout; t != nil {
		s.AdvertisedTimeoutsS[strconv.FormatFloat(*t, 'f', -1, 64)]++
	}
	if c.Close.Reason == httpflow.ReasonKeepaliveRace {
		s.KeepaliveRaces++
	}
	if tw := c.TimeWait; tw != nil {
		span := twSpan{tw.EnteredAt, tw.ExpiresAt}
		switch tw.Holder {
		case httpflow.Client:
			s.TimeWait.Client++
			b.addTW(c.Client.Addr(), span)
		case httpflow.Server:
			s.TimeWait.Server++
			b.addTW(c.Server.Addr(), span)
		case httpflow.Both:
			s.TimeWait.Both++
			b.addTW(c.Client.Addr(), span)
			b.addTW(c.Server.Addr(), span)
		}
	}
}

func (b *totals) addTW(host netip.Addr, s twSpan) {
	if host == b.lastTW.host && b.lastTW.h != nil {
		b.lastTW.h.add(s) // a server, holding TIME_WAIT again and again
		return
	}
	h := b.twByHost[host]
	if h == nil {
		h = &twHeap{}
		b.twByHost[host] = h
	}
	b.lastTW.host, b.lastTW.h = host, h
	h.add(s)
}

// summary returns the summary of everything added so far.
func (b *totals) summary() httpflow.Summary {
	s := b.s
	s.Reasons = maps.Clone(b.s.Reasons)
	s.AdvertisedTimeoutsS = maps.Clone(b.s.AdvertisedTimeoutsS)
	if n := s.Connections; n > 0 {
		counts := make([]int, 0, len(b.perConn))
		for k := range b.perConn {
			counts = append(counts, k)
		}
		sort.Ints(counts)
		median, seen := 0, 0
		for _, k := range counts {
			seen += b.perConn[k]
			if seen > rank(n, 0.5) {
				median = k
				break
			}
		}
		s.TransactionsPerConnection = httpflow.PerConn{
			Mean: math.Round(float64(b.txSum)/float64(n)*1000) / 1000,
			P50:  float64(median),
			Max:  counts[len(counts)-1],
		}
	}
	s.IdleS = b.idle.distribution()
	s.FinalIdleS = b.final.distribution()
	s.TimeWait.PeakConcurrent = map[string]int{}
	for host, h := range b.twByHost {
		s.TimeWait.PeakConcurrent[host.String()] = h.peak
	}
	return s
}

// rank is the nearest-rank index of quantile q among n sorted values.
func rank(n int, q float64) int {
	i := int(math.Ceil(q*float64(n))) - 1
	if i < 0 {
		i = 0
	}
	if i >= n {
		i = n - 1
	}
	return i
}

// maxExact is how many durations quantiles keeps before it switches to
// histogram buckets.
const maxExact = 1 << 18

// quantiles gathers durations for percentiles: exact values while there
// are few, then buckets 1 % wide (so a percentile is within 1 %).
type quantiles struct {
	exact []float64
	hist  map[int]int // bucket -> count, once len(exact) reached maxExact
	n     int
	max   float64
}

const bucketBase = 1.01

func bucketOf(v float64) int {
	if v <= 1e-9 {
		return math.MinInt32
	}
	return int(math.Floor(math.Log(v) / math.Log(bucketBase)))
}

func bucketValue(b int) float64 {
	if b == math.MinInt32 {
		return 0
	}
	return math.Pow(bucketBase, float64(b)+0.5)
}

func (q *quantiles) add(v float64) {
	q.n++
	if q.n == 1 || v > q.max {
		q.max = v
	}
	if q.hist == nil && len(q.exact) < maxExact {
		q.exact = append(q.exact, v)
		return
	}
	if q.hist == nil {
		q.hist = map[int]int{}
		for _, x := range q.exact {
			q.hist[bucketOf(x)]++
		}
		q.exact = nil
	}
	q.hist[bucketOf(v)]++
}

func (q *quantiles) distribution() httpflow.Distribution {
	if q.n == 0 {
		return httpflow.Distribution{}
	}
	d := httpflow.Distribution{Count: q.n, Max: q.max}
	if q.hist == nil {
		// Three order statistics, found by selection in place (the order
		// of the values kept does not matter): a sort of a copy of the
		// 165,000 idle gaps of the bench capture took 19 ms, at the very
		// end of the run with nothing else left to do; this, 2.5 ms.
		s := q.exact
		r50, r90, r99 := rank(q.n, 0.5), rank(q.n, 0.9), rank(q.n, 0.99)
		selectKth(s, r99)
		selectKth(s[:r99+1], r90)
		selectKth(s[:r90+1], r50)
		d.P50, d.P90, d.P99 = s[r50], s[r90], s[r99]
		return d
	}
	keys := make([]int, 0, len(q.hist))
	for k := range q.hist {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	at := func(p float64) float64 {
		r, seen := rank(q.n, p), 0
		for _, k := range keys {
			seen += q.hist[k]
			if seen > r {
				return math.Min(bucketValue(k), q.max)
			}
		}
		return q.max
	}
	d.P50, d.P90, d.P99 = at(0.5), at(0.9), at(0.99)
	return d
}

// selectKth reorders s so that s[k] is the value a sort would put there,
// none before it larger and none after it smaller (quickselect, median of
// three; past 2·log2(n) rounds it sorts what is left, so hostile input
// cannot make it quadratic). The values are durations: no NaNs.
func selectKth(s []float64, k int) {
	lo, hi := 0, len(s)-1
	for depth := 2 * bits.Len(uint(len(s))); hi > lo; depth-- {
		if depth == 0 {
			slices.Sort(s[lo : hi+1])
			return
		}
		mid := lo + (hi-lo)/2
		if s[mid] < s[lo] {
			s[mid], s[lo] = s[lo], s[mid]
		}
		if s[hi] < s[lo] {
			s[hi], s[lo] = s[lo], s[hi]
		}
		if s[hi] < s[mid] {
			s[hi], s[mid] = s[mid], s[hi]
		}
		pivot := s[mid]
		i, j := lo, hi
		for i <= j {
			for s[i] < pivot {
				i++
			}
			for s[j] > pivot {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		// s[lo..j] ≤ pivot ≤ s[i..hi], and s[j+1..i-1] == pivot.
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return
		}
	}
}

// twHeap tracks, for one host, the TIME_WAITs still running (their expiry
// times, a min-heap) and the most held at once. Records arrive about in
// the order their TIME_WAIT began.
type twHeap struct {
	exp  []time.Time
	peak int
}

func (h *twHeap) add(s twSpan) {
	for len(h.exp) > 0 && !h.exp[0].After(s.from) {
		h.pop()
	}
	h.push(s.to)
	if len(h.exp) > h.peak {
		h.peak = len(h.exp)
	}
}

func (h *twHeap) push(t time.Time) {
	h.exp = append(h.exp, t)
	for i := len(h.exp) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.exp[i].Before(h.exp[p]) {
			break
		}
		h.exp[i], h.exp[p] = h.exp[p], h.exp[i]
		i = p
	}
}

func (h *twHeap) pop() {
	n := len(h.exp) - 1
	h.exp[0] = h.exp[n]
	h.exp = h.exp[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && h.exp[l].Before(h.exp[m]) {
			m = l
		}
		if r := l + 1; r < n && h.exp[r].Before(h.exp[m]) {
			m = r
		}
		if m == i {
			return
		}
		h.exp[i], h.exp[m] = h.exp[m], h.exp[i]
		i = m
	}
}

// Sketch is a set of durations in seconds: exact up to maxExact values, in
// 1 % buckets beyond (so a quantile is within 1 %).
type Sketch = quantiles

// Len is the number of values.
func (q *quantiles) Len() int { return q.n }

// Max is the largest value (0 when none).
func (q *quantiles) Max() float64 { return q.max }

// Quantile is the nearest-rank quantile p of the values.
func (q *quantiles) Quantile(p float64) float64 {
	if q.n == 0 {
		return 0
	}
	if q.hist == nil {
		s := slices.Clone(q.exact)
		k := rank(q.n, p)
		selectKth(s, k)
		return s[k]
	}
	keys := make([]int, 0, len(q.hist))
	for k := range q.hist {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	r, seen := rank(q.n, p), 0
	for _, k := range keys {
		seen += q.hist[k]
		if seen > r {
			return math.Min(bucketValue(k), q.max)
		}
	}
	return q.max
}

// Each calls f with every value and how often it was added (bucket
// middles past maxExact, capped at Max).
func (q *quantiles) Each(f func(v float64, n int)) {
	if q.hist == nil {
		for _, v := range q.exact {
			f(v, 1)
		}
		return
	}
	for k, n := range q.hist {
		f(math.Min(bucketValue(k), q.max), n)
	}
}

// Add adds a value.
func (q *quantiles) Add(v float64) { q.add(v) }

// Merge adds every value of o, as adding them one by one would.
func (q *quantiles) Merge(o *quantiles) {
	if o.n == 0 {
		return
	}
	if q.hist == nil && o.hist == nil && len(q.exact)+len(o.exact) <= maxExact {
		if q.n == 0 || o.max > q.max {
			q.max = o.max
		}
		q.n += o.n
		q.exact = append(q.exact, o.exact...)
		return
	}
	o.Each(func(v float64, n int) {
		for range n {
			q.add(v)
		}
	})
}
