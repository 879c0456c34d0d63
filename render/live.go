package render

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/summary"
)

// LiveView is the terminal view of `httplife watch`. It draws the counts
// and percentiles of the connections finished so far from their summary
// (summary.Builder, which the report and the text output draw from too)
// and keeps, in bounded memory, what only it shows: the TIME_WAIT periods
// still running and the last few closes.
//
// Call order: Add for each finished connection's record, Draw whenever the
// screen is due. Not safe for concurrent use.
type LiveView struct {
	tw     []liveTW      // TIME_WAIT periods not known to be over
	recent []*liveRecent // the last liveRecentN closes, oldest first
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
func NewLiveView() *LiveView { return &LiveView{} }

// Add notes one finished connection.
func (v *LiveView) Add(c *httpflow.Connection) {
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
			v.tw = append(v.tw, liveTW{tw.ExpiresAt, h})
		}
	}
	l := summary.Line{}
	if c.FinalIdle != nil {
		l.Final, l.HasFinal = c.FinalIdle.Duration, true
	}
	r := &liveRecent{id: c.ID, client: c.Client.String(), reason: c.Close.Reason.String(), closedBy: summary.CloserWord(c),
		finalS: finalIdle(&l), req: len(c.Transactions)}
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

// Draw writes one screen, of the frame and the summary of the connections
// finished so far: cursor home, the lines (each clearing the rest of its
// row), then clears what is left below.
func (v *LiveView) Draw(w io.Writer, f *LiveFrame, s *httpflow.Summary) error {
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
	line("connections  %d open (%d idle >= %s, %d without data), %d closed", f.Open, f.Idle, f.IdleAfter, f.NoData, s.Connections)
	line("requests     %.1f/s, %d started, %d in closed connections", f.RequestsPerSec, f.Requests, s.Transactions)
	line("closed by    server %d, client %d, reset %d, open %d", s.ClosedBy.Server, s.ClosedBy.Client, s.ClosedBy.Reset, s.ClosedBy.Open)
	var reasons []string
	for _, r := range httpflow.Reasons {
		if n := s.Reasons[r]; n > 0 {
			reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
		}
	}
	line("reasons      %s", wrap(reasons, 13))
	line("idle gaps    %s", wrap(dist(s.IdleS), 13))
	line("final idle   %s", wrap(dist(s.FinalIdleS), 13))
	tw := v.timeWaitAt(f.PacketTime)
	line("TIME_WAIT    now server %d, client %d, both %d", tw[1], tw[0], tw[2])
	line("             so far server %d, client %d, both %d", s.TimeWait.Server, s.TimeWait.Client, s.TimeWait.Both)
	if s.KeepaliveRaces > 0 {
		line("races        %d request%s met a closing keep-alive connection", s.KeepaliveRaces, plural(s.KeepaliveRaces))
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
