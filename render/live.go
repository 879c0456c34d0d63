package render

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/httplife/httplife/httpflow"
)

// LiveView is the terminal view of `httplife watch`: it keeps aggregates of
// the connections finished so far in bounded memory (counters, log-scale
// histograms for the percentiles, the TIME_WAIT periods still running, the
// last few closes) and draws one screen for a LiveFrame, about once a
// second.
//
// Call order: Add for each finished connection's record, Draw whenever the
// screen is due. Not safe for concurrent use.
type LiveView struct {
	closed, txns uint64
	reasons      map[httpflow.Reason]uint64
	byServer     uint64
	byClient     uint64
	byReset      uint64
	byOpen       uint64
	races        uint64
	twTotal      [3]uint64 // client, server, both
	tw           []liveTW  // TIME_WAIT periods not known to be over
	idle, final  logHist
	recent       []*liveRecent // the last liveRecentN closes, oldest first
}

// LiveFrame is what Draw shows besides the finished connections: the
// capture's counters and the connections still open.
type LiveFrame struct {
	Interface, Filter string
	Elapsed           time.Duration // wall time since the capture started
	PacketTime        time.Time     // the capture's clock (last packet, or later on a quiet wire)
	Packets           uint64        // packets captured
	TCPPackets        uint64
	Bytes             uint64
	Received          uint64 // packets the filter accepted (captured or dropped)
	Dropped           uint64 // dropped because the ring was full
	IfDropped         uint64 // dropped by the interface
	Open              int    // connections in the table
	Idle              int    // open, last payload from the server, none since for IdleAfter
	NoData            int    // open, no payload yet
	IdleAfter         time.Duration
	Requests          uint64  // requests seen start, open connections included
	RequestsPerSec    float64 // over the last frame
	Ended             bool    // the capture is over (final frame)
}

type liveTW struct {
	expires time.Time
	holder  int
}

type liveRecent struct {
	id               int
	client, reason   string
	closedBy, finalS string
	req              int
}

const liveRecentN = 6

// NewLiveView returns an empty view.
func NewLiveView() *LiveView { return &LiveView{reasons: map[httpflow.Reason]uint64{}} }

// Add counts one finished connection.
func (v *LiveView) Add(c *httpflow.Connection) {
	v.closed++
	v.txns += uint64(len(c.Transactions))
	v.reasons[c.Close.Reason]++
	switch {
	case c.ClosedByReset():
		v.byReset++
	case c.Close.FirstFinBy == httpflow.Client:
		v.byClient++
	case c.Close.FirstFinBy != httpflow.NoSide:
		v.byServer++
	default:
		v.byOpen++
	}
	if c.Close.Reason == httpflow.ReasonKeepaliveRace {
		v.races++
	}
	for _, p := range c.IdlePeriods {
		v.idle.add(p.Duration.Seconds())
	}
	if c.FinalIdle != nil {
		v.final.add(c.FinalIdle.Duration.Seconds())
	}
	if tw := c.TimeWait; tw != nil {
		h := -1
		switch tw.Holder {
		case httpflow.Client:
			h = 0
		case httpflow.Server:
			h = 1
		case httpflow.Both:
			h = 2
		}
		if h >= 0 {
			v.twTotal[h]++
			v.tw = append(v.tw, liveTW{tw.ExpiresAt, h})
		}
	}
	r := &liveRecent{id: c.ID, client: c.Client.String(), reason: c.Close.Reason.String(), closedBy: closedBy(c),
		finalS: finalIdle(c.FinalIdle), req: len(c.Transactions)}
	if len(v.recent) == liveRecentN {
		copy(v.recent, v.recent[1:])
		v.recent = v.recent[:liveRecentN-1]
	}
	v.recent = append(v.recent, r)
}

// timeWaitAt returns the TIME_WAIT periods running at t, by holder, and
// forgets those that are over.
func (v *LiveView) timeWaitAt(t time.Time) (n [3]int) {
	keep := v.tw[:0]
	for _, e := range v.tw {
		if e.expires.After(t) {
			keep = append(keep, e)
			n[e.holder]++
		}
	}
	clear(v.tw[len(keep):])
	v.tw = keep
	return n
}

// Draw writes one screen: cursor home, the lines (each clearing the rest of
// its row), then clears what is left below.
func (v *LiveView) Draw(w io.Writer, f *LiveFrame) error {
	var b strings.Builder
	line := func(format string, a ...any) {
		s := fmt.Sprintf(format, a...)
		for _, l := range strings.Split(s, "\n") {
			b.WriteString(l)
			b.WriteString("\x1b[K\n")
		}
	}
	b.WriteString("\x1b[H")
	state := "Ctrl-C to stop"
	if f.Ended {
		state = "capture ended"
	}
	filter := f.Filter
	if filter == "" {
		filter = "(no filter)"
	} else {
		filter = fmt.Sprintf("%q", filter)
	}
	line("httplife watch %s %s   %s   %s", f.Interface, clip(filter, 36), clock(f.Elapsed), state)
	line("")
	line("packets      %d captured of %d matched (%d TCP, %s)", f.Packets, f.Received, f.TCPPackets, htmlBytes(f.Bytes))
	line("dropped      %d by the kernel (ring full), %d by the interface", f.Dropped, f.IfDropped)
	line("connections  %d open (%d idle >= %s, %d without data), %d closed", f.Open, f.Idle, f.IdleAfter, f.NoData, v.closed)
	line("requests     %.1f/s, %d started, %d in closed connections", f.RequestsPerSec, f.Requests, v.txns)
	line("closed by    server %d, client %d, reset %d, open %d", v.byServer, v.byClient, v.byReset, v.byOpen)
	var reasons []string
	for _, r := range httpflow.Reasons {
		if n := v.reasons[r]; n > 0 {
			reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
		}
	}
	line("reasons      %s", wrap(reasons, 13))
	line("idle gaps    %s", v.idle.String())
	line("final idle   %s", v.final.String())
	tw := v.timeWaitAt(f.PacketTime)
	line("TIME_WAIT    now server %d, client %d, both %d", tw[1], tw[0], tw[2])
	line("             so far server %d, client %d, both %d", v.twTotal[1], v.twTotal[0], v.twTotal[2])
	if v.races > 0 {
		line("races        %d request%s met a closing keep-alive connection", v.races, plural(int(v.races)))
	}
	if len(v.recent) > 0 {
		line("")
		line("last closed")
		line("%6s %-21s %3s %7s %-6s %s", "id", "client", "req", "final s", "closed", "reason")
		for i := len(v.recent) - 1; i >= 0; i-- {
			r := v.recent[i]
			line("%6d %-21s %3d %7s %-6s %s", r.id, clip(r.client, 21), r.req, r.finalS, r.closedBy, r.reason)
		}
	}
	b.WriteString("\x1b[J")
	_, err := io.WriteString(w, b.String())
	return err
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func clock(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// logHist is a histogram of durations in seconds on a log scale: 1 µs to
// about 32 hours in buckets 1 % apart, so percentiles are read within 1 %
// in constant memory. Values outside the range go to the end buckets.
type logHist struct {
	n      uint64
	max    float64
	counts []uint64
}

const (
	histMin   = 1e-6
	histRatio = 1.01
	histN     = 2560 // histMin·histRatio^histN ≈ 1.2e5 s
)

func histIndex(v float64) int {
	if v <= histMin {
		return 0
	}
	i := int(math.Log(v/histMin)/math.Log(histRatio)) + 1
	return min(i, histN-1)
}

// histValue is the middle of bucket i.
func histValue(i int) float64 {
	if i == 0 {
		return 0
	}
	return histMin * math.Pow(histRatio, float64(i)-0.5)
}

func (h *logHist) add(v float64) {
	if h.counts == nil {
		h.counts = make([]uint64, histN)
	}
	h.counts[histIndex(v)]++
	h.n++
	if v > h.max {
		h.max = v
	}
}

// quantile returns the nearest-rank quantile q.
func (h *logHist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	if rank >= h.n {
		return h.max
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(histValue(i), h.max)
		}
	}
	return h.max
}

func (h *logHist) String() string {
	if h.n == 0 {
		return "none"
	}
	return fmt.Sprintf("%d, p50 %.3f s, p90 %.3f s, p99 %.3f s, max %.3f s",
		h.n, h.quantile(0.5), h.quantile(0.9), h.quantile(0.99), h.max)
}
