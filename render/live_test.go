package render

import (
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/summary"
)

func secs(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }

func liveConn(id int, closer httpflow.Side, reason httpflow.Reason, gaps []float64, final float64, tw *httpflow.TimeWait) *httpflow.Connection {
	c := &httpflow.Connection{ID: id, Client: netip.MustParseAddrPort("127.0.0.1:40000"), Server: netip.MustParseAddrPort("127.0.0.1:80")}
	c.Transactions = make([]httpflow.Transaction, len(gaps)+1)
	for _, g := range gaps {
		c.IdlePeriods = append(c.IdlePeriods, httpflow.Idle{Duration: secs(g)})
	}
	c.FinalIdle = &httpflow.Idle{Duration: secs(final)}
	c.Close.FirstFinBy = closer
	c.Close.Reason = reason
	c.TimeWait = tw
	return c
}

func TestLiveViewDraw(t *testing.T) {
	v := NewLiveView()
	t0 := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	tw := func(h httpflow.Side, exp time.Duration) *httpflow.TimeWait {
		return &httpflow.TimeWait{Holder: h, EnteredAt: t0, ExpiresAt: t0.Add(exp)}
	}
	sb := summary.New(summary.Config{})
	for _, c := range []*httpflow.Connection{
		liveConn(1, httpflow.Server, httpflow.ReasonServerIdleTimeout, []float64{0.2, 0.4}, 2.0, tw(httpflow.Server, time.Minute)),
		liveConn(2, httpflow.Client, httpflow.ReasonClientIdleClose, []float64{0.3}, 0.3, tw(httpflow.Client, time.Second)),
		liveConn(3, httpflow.Server, httpflow.ReasonServerIdleTimeout, nil, 2.0, tw(httpflow.Server, time.Minute)),
	} {
		v.Add(c)
		sb.Add(c)
	}
	sum := sb.Summary()
	var b strings.Builder
	f := &LiveFrame{Interface: "lo", Filter: "tcp port 80", Elapsed: 83 * time.Second, PacketTime: t0.Add(10 * time.Second),
		Packets: 1234, TCPPackets: 1200, Bytes: 3 << 20, Received: 1240, Dropped: 6, IfDropped: 1,
		Open: 5, Idle: 2, NoData: 1, IdleAfter: time.Second, Requests: 99, RequestsPerSec: 12.5}
	if err := v.Draw(&b, f, &sum); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "\x1b[H") || !strings.HasSuffix(out, "\x1b[J") {
		t.Errorf("screen does not start at home and clear the rest: %q", out)
	}
	for _, want := range []string{
		`httplife watch lo "tcp port 80"   00:01:23   Ctrl-C to stop`,
		"packets      1234 captured of 1240 matched (1200 TCP, 3.0 MiB)",
		"dropped      6 by the kernel (ring full), 1 by the interface",
		"connections  5 open (2 idle >= 1s, 1 without data), 3 closed",
		"requests     12.5/s, 99 started, 6 in closed connections",
		"closed by    server 2, client 1, reset 0, open 0",
		"reasons      server-idle-timeout 2, client-idle-close 1",
		"idle gaps    3, p50 0.300 s, p90 0.400 s, p99 0.400 s, max 0.400 s",
		"final idle   3, p50 2.000 s, p90 2.000 s, p99 2.000 s, max 2.000 s",
		// Connection 2's TIME_WAIT is over 10 s on.
		"TIME_WAIT    now server 2, client 0, both 0\x1b[K\n             so far server 2, client 1, both 0",
		"     3 127.0.0.1:40000         1   2.000 server server-idle-timeout",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\x1b[J"), "\n") {
		l = strings.TrimPrefix(strings.TrimSuffix(l, "\x1b[K"), "\x1b[H")
		if len([]rune(l)) > 80 {
			t.Errorf("line longer than 80 columns: %q", l)
		}
	}
	if len(v.tw) != 2 {
		t.Errorf("%d TIME_WAIT periods kept, want the 2 still running", len(v.tw))
	}
}

// The view's memory does not grow with the connections: the last few
// closes, TIME_WAIT periods only while they run (the counts and
// percentiles are the summary's).
func TestLiveViewBounded(t *testing.T) {
	v := NewLiveView()
	t0 := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	for i := 1; i <= 50000; i++ {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		v.Add(liveConn(i, httpflow.Client, httpflow.ReasonClientIdleClose, []float64{0.1}, 0.2,
			&httpflow.TimeWait{Holder: httpflow.Client, EnteredAt: at, ExpiresAt: at.Add(time.Second)}))
		if i%1000 == 0 {
			v.timeWaitAt(at)
		}
	}
	if len(v.recent) != liveRecentN || len(v.tw) > 1000 {
		t.Errorf("state grew: %d recent, %d TIME_WAIT", len(v.recent), len(v.tw))
	}
}
