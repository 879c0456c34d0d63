package httpflow

import (
	"math"
	"net/netip"
	"sort"
	"strconv"
	"time"
)

// SummaryBuilder accumulates the SUMMARY object as records are emitted.
type SummaryBuilder struct {
	s        Summary
	perConn  []int
	idle     []float64
	final    []float64
	twByHost map[string][]twSpan
}

type twSpan struct{ from, to time.Time }

// NewSummaryBuilder returns an empty builder.
func NewSummaryBuilder() *SummaryBuilder {
	return &SummaryBuilder{
		s: Summary{
			Reasons:             map[string]int{},
			AdvertisedTimeoutsS: map[string]int{},
			TimeWait:            TimeWaitSummary{PeakConcurrent: map[string]int{}},
		},
		twByHost: map[string][]twSpan{},
	}
}

// Add counts one connection.
func (b *SummaryBuilder) Add(c *Connection) {
	s := &b.s
	s.Connections++
	s.Transactions += len(c.Transactions)
	b.perConn = append(b.perConn, len(c.Transactions))
	s.Reasons[c.Close.Reason]++
	switch {
	case ClosedByReset(c):
		s.ClosedBy.Reset++
	case c.Close.FirstFinBy != nil && *c.Close.FirstFinBy == Client:
		s.ClosedBy.Client++
	case c.Close.FirstFinBy != nil:
		s.ClosedBy.Server++
	default:
		s.ClosedBy.Open++
	}
	for _, p := range c.IdlePeriods {
		b.idle = append(b.idle, float64(p.Duration))
	}
	if c.FinalIdle != nil {
		b.final = append(b.final, float64(c.FinalIdle.Duration))
	}
	if t := c.KeepAlive.AdvertisedTimeout; t != nil {
		s.AdvertisedTimeoutsS[strconv.FormatFloat(*t, 'f', -1, 64)]++
	}
	if c.Close.Reason == ReasonKeepaliveRace {
		s.KeepaliveRaces++
	}
	if tw := c.TimeWait; tw != nil {
		span := twSpan{tw.EnteredAt.Time, tw.ExpiresAt.Time}
		switch tw.Holder {
		case Client:
			s.TimeWait.Client++
			b.addTW(c.Client, span)
		case Server:
			s.TimeWait.Server++
			b.addTW(c.Server, span)
		case Both:
			s.TimeWait.Both++
			b.addTW(c.Client, span)
			b.addTW(c.Server, span)
		}
	}
}

// ClosedByReset reports whether a RST ended the connection (before both
// FINs were exchanged).
func ClosedByReset(c *Connection) bool {
	return c.Close.RstBy != nil && (c.Close.Reason == ReasonReset || c.Close.FirstFinBy == nil ||
		c.Close.RstAt.Before(c.Close.FirstFinAt.Time))
}

func (b *SummaryBuilder) addTW(endpoint string, s twSpan) {
	ap, err := netip.ParseAddrPort(endpoint)
	host := endpoint
	if err == nil {
		host = ap.Addr().String()
	}
	b.twByHost[host] = append(b.twByHost[host], s)
}

// Summary returns the summary of everything added so far.
func (b *SummaryBuilder) Summary() Summary {
	s := b.s
	if n := len(b.perConn); n > 0 {
		sorted := append([]int(nil), b.perConn...)
		sort.Ints(sorted)
		sum := 0
		for _, v := range sorted {
			sum += v
		}
		s.TransactionsPerConnection = PerConn{
			Mean: math.Round(float64(sum)/float64(n)*1000) / 1000,
			P50:  float64(sorted[rank(n, 0.5)]),
			Max:  sorted[n-1],
		}
	}
	s.IdleS = distribution(b.idle)
	s.FinalIdleS = distribution(b.final)
	s.TimeWait.PeakConcurrent = map[string]int{}
	for host, spans := range b.twByHost {
		s.TimeWait.PeakConcurrent[host] = peak(spans)
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

func distribution(v []float64) Distribution {
	if len(v) == 0 {
		return Distribution{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	return Distribution{
		Count: n,
		P50:   Seconds(s[rank(n, 0.5)]),
		P90:   Seconds(s[rank(n, 0.9)]),
		P99:   Seconds(s[rank(n, 0.99)]),
		Max:   Seconds(s[n-1]),
	}
}

// peak is the largest number of spans open at one instant.
func peak(spans []twSpan) int {
	type ev struct {
		t time.Time
		d int
	}
	evs := make([]ev, 0, 2*len(spans))
	for _, s := range spans {
		evs = append(evs, ev{s.from, 1}, ev{s.to, -1})
	}
	sort.Slice(evs, func(i, j int) bool {
		if !evs[i].t.Equal(evs[j].t) {
			return evs[i].t.Before(evs[j].t)
		}
		return evs[i].d < evs[j].d
	})
	cur, max := 0, 0
	for _, e := range evs {
		cur += e.d
		if cur > max {
			max = cur
		}
	}
	return max
}
