package tcpstate

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/httplife/httplife/capture"
)

// snap is what a Stream saw of a connection at Done.
type snap struct{ out *[]string }

func (s snap) Data(Dir, []byte, time.Time) {}
func (s snap) Gap(Dir, int, time.Time)     {}
func (s snap) FIN(Dir, time.Time)          {}
func (s snap) RST(Dir, time.Time)          {}
func (s snap) Done(c *Conn)                { *s.out = append(*s.out, describe(c)) }

func describe(c *Conn) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id %d evicted %v syn %v guessed %v first %d last %d hs %d/%d/%d anomalies %v",
		c.ID, c.Evicted, c.SynSeen, c.ClientGuessed, c.FirstPacketAt.UnixNano(), c.LastPacketAt.UnixNano(),
		c.SynAt.UnixNano(), c.SynAckAt.UnixNano(), c.AckAt.UnixNano(), c.Anomalies)
	for i := range c.Sides {
		s := &c.Sides[i]
		fmt.Fprintf(&b, " | %v %v pk %d by %d re %d miss %d probes %d fin %d rst %d tw %d", s.Addr, s.State, s.Packets,
			s.PayloadBytes, s.Retransmissions, s.MissingBytes, s.KeepaliveProbes, s.FinAt.UnixNano(), s.RstAt.UnixNano(), s.TimeWaitAt.UnixNano())
	}
	return b.String()
}

// A table that reuses Conns given back with Recycle reports exactly what a
// table that never reuses them reports, through port reuse, lingering
// closes, resets, evictions and a SYN flood, though its queues still point
// at Conns reused for other connections.
func TestRecycledConnsReportTheSame(t *testing.T) {
	srv := netip.MustParseAddrPort("10.0.0.2:80")
	type tseg struct {
		at  time.Duration
		seg capture.Segment
	}
	var segs []tseg
	add := func(at time.Duration, src, dst netip.AddrPort, flags uint8, seq, ack uint32, data string) {
		segs = append(segs, tseg{at, capture.Segment{Src: src, Dst: dst, Flags: flags, Seq: seq, Ack: ack,
			Payload: []byte(data), PayloadLen: len(data)}})
	}
	ms := time.Millisecond
	for k := 0; k < 3000; k++ {
		s := time.Duration(k) * 3 * ms
		cl := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(20000+k%250)) // ports come back ~750 ms later
		ci, si := uint32(1000*k), uint32(7000*k+5)
		add(s, cl, srv, S, ci, 0, "")
		add(s+ms, srv, cl, S|A, si, ci+1, "")
		add(s+2*ms, cl, srv, A, ci+1, si+1, "")
		add(s+3*ms, cl, srv, PA, ci+1, si+1, "GET / HTTP/1.1\r\n\r\n")
		add(s+5*ms, srv, cl, PA, si+1, ci+19, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		c2, s2 := ci+19, si+39
		switch k % 4 {
		case 0: // client closes
			add(s+20*ms, cl, srv, F|A, c2, s2, "")
			add(s+21*ms, srv, cl, F|A, s2, c2+1, "")
			add(s+22*ms, cl, srv, A, c2+1, s2+1, "")
		case 1: // server closes
			add(s+20*ms, srv, cl, F|A, s2, c2, "")
			add(s+21*ms, cl, srv, F|A, c2, s2+1, "")
			add(s+22*ms, srv, cl, A, s2+1, c2+1, "")
		case 2: // client reset
			add(s+20*ms, cl, srv, R|A, c2, s2, "")
		}
		if k%3 == 0 { // a flood of half-open connections
			flood := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(k)}), uint16(1024+k))
			add(s+ms/2, flood, srv, S, uint32(k), 0, "")
		}
	}
	sort.SliceStable(segs, func(i, j int) bool { return segs[i].at < segs[j].at })
	t0 := time.Unix(1000, 0)
	run := func(recycle bool) []string {
		cfg := DefaultConfig()
		cfg.MaxConns = 300 // evictions, and half-open ones capped at 30
		var out []string
		var tab *Table
		tab = NewTable(cfg, func(c *Conn) Stream {
			if recycle {
				return recycler{snap{&out}, &tab}
			}
			return snap{&out}
		})
		if recycle {
			// Reuse at once: queues then still point at Conns that
			// already carry another connection.
			tab.free = make(chan *Conn, 1)
		}
		for _, s := range segs {
			seg := s.seg
			seg.Time = t0.Add(s.at)
			tab.Add(&seg)
		}
		tab.Flush()
		if recycle && len(tab.free) == 0 {
			t.Errorf("no Conn came back for reuse")
		}
		return out
	}
	plain, reused := run(false), run(true)
	if len(plain) != len(reused) {
		t.Fatalf("%d connections reported without reuse, %d with", len(plain), len(reused))
	}
	for i := range plain {
		if plain[i] != reused[i] {
			t.Fatalf("report %d differs:\nwithout reuse %s\nwith reuse    %s", i, plain[i], reused[i])
		}
	}
	if len(plain) < 3000 {
		t.Fatalf("only %d connections reported", len(plain))
	}
}

// recycler gives each Conn back at Done, as httpflow does once the record
// is built.
type recycler struct {
	snap
	tab **Table
}

func (r recycler) Done(c *Conn) {
	r.snap.Done(c)
	(*r.tab).Recycle(c)
}

// The sharpest case: a finished connection is reported early by port
// reuse, its Conn is reused at once for the new connection on that
// 4-tuple, which stays open; the old entry in the closing queue must not
// report the new connection when the linger runs out.
func TestReusedConnIsNotReportedByAStaleEntry(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	a := netip.MustParseAddrPort("10.0.0.1:40000")
	b := netip.MustParseAddrPort("10.0.0.1:40001")
	type step struct {
		at       time.Duration
		src, dst netip.AddrPort
		flags    uint8
		seq, ack uint32
	}
	var steps []step
	conn := func(at time.Duration, cl netip.AddrPort, isn uint32, close bool) {
		steps = append(steps,
			step{at, cl, srv, S, isn, 0}, step{at + ms(1), srv, cl, S | A, 9000, isn + 1}, step{at + ms(2), cl, srv, A, isn + 1, 9001})
		if close {
			steps = append(steps, step{at + ms(20), cl, srv, F | A, isn + 1, 9001}, step{at + ms(21), srv, cl, F | A, 9001, isn + 2},
				step{at + ms(22), cl, srv, A, isn + 2, 9002})
		}
	}
	conn(0, a, 1000, true)                                       // A: closed at 22 ms, lingers until 1.022 s
	conn(ms(500), a, 5000, false)                                // A': port reuse at 500 ms, stays open
	conn(ms(600), b, 7000, true)                                 // B: closed at 622 ms
	steps = append(steps, step{ms(2000), b, srv, A, 7002, 9002}) // time moves on: sweeps run
	run := func(recycle bool) []int {
		var ids []int
		var tab *Table
		tab = NewTable(DefaultConfig(), func(c *Conn) Stream {
			return idLog{&ids, recycle, &tab}
		})
		tab.free = make(chan *Conn, 1)
		t0 := time.Unix(1000, 0)
		for _, s := range steps {
			tab.Add(&capture.Segment{Time: t0.Add(s.at), Src: s.src, Dst: s.dst, Flags: s.flags, Seq: s.seq, Ack: s.ack})
		}
		tab.Flush()
		return ids
	}
	want := []int{1, 3, 2} // A at the port reuse, B after its linger, A' (still open) at the end
	for _, recycle := range []bool{false, true} {
		if got := run(recycle); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("recycle %v: reported %v, want %v", recycle, got, want)
		}
	}
}

type idLog struct {
	ids     *[]int
	recycle bool
	tab     **Table
}

func (l idLog) Data(Dir, []byte, time.Time) {}
func (l idLog) Gap(Dir, int, time.Time)     {}
func (l idLog) FIN(Dir, time.Time)          {}
func (l idLog) RST(Dir, time.Time)          {}
func (l idLog) Done(c *Conn) {
	*l.ids = append(*l.ids, c.ID)
	if l.recycle {
		(*l.tab).Recycle(c)
	}
}
