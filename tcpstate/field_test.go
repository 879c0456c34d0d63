package tcpstate

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/httplife/httplife/capture"
)

// Captures as they come from the field: copies, directions out of order,
// times that go backwards, tunnels, the snaplen.

// fseg is a segment with the header fields copies and tunnels are told by.
type fseg struct {
	us       int64 // capture time, µs after t0 (may go backwards)
	cli      bool
	flags    uint8
	seq, ack uint32
	data     string
	id, sum  uint16 // IPv4 id, TCP checksum
	ck       uint64 // carrier key (a VXLAN VNI's carrier; ipipCarrier: carried, key 0)
	plen     int    // wire length when the snaplen cut the payload
}

var (
	cli6 = netip.MustParseAddrPort("[2001:db8::1]:40000")
	srv6 = netip.MustParseAddrPort("[2001:db8::2]:80")
)

// fieldRun is what a table made of segments.
type fieldRun struct {
	conns []*Conn
	logs  map[int][]string
	stats Stats
}

// ipipCarrier as fseg.ck is a tunnel without an id (IP-in-IP): a carrier,
// CarrierKey 0.
const ipipCarrier = 1 << 63

func feedField(t *testing.T, v6 bool, segs []fseg) fieldRun {
	t.Helper()
	carriers := map[uint64]*capture.Carrier{}
	carrier := func(ck uint64) *capture.Carrier {
		if ck == 0 {
			return nil
		}
		if carriers[ck] == nil {
			e := capture.Encap{Type: capture.EncapVXLAN, ID: uint32(ck), HasID: true}
			if ck == ipipCarrier {
				e = capture.Encap{Type: capture.EncapIPIP}
			}
			carriers[ck] = &capture.Carrier{Tunnel: []capture.Encap{e}}
		}
		return carriers[ck]
	}
	r := fieldRun{logs: map[int][]string{}}
	streams := map[int]*log{}
	tab := NewTable(DefaultConfig(), func(c *Conn) Stream {
		l := &log{conns: &r.conns}
		streams[c.ID] = l
		return l
	})
	c, s := cli, srv
	if v6 {
		c, s = cli6, srv6
	}
	t0 := time.Unix(1000, 0)
	for i, x := range segs {
		cs := &capture.Segment{N: uint64(i + 1), Time: t0.Add(time.Duration(x.us) * time.Microsecond), Src: c, Dst: s, Flags: x.flags,
			Seq: x.seq, Ack: x.ack, Payload: []byte(x.data), PayloadLen: len(x.data), IPID: x.id, TCPSum: x.sum,
			CarrierKey: x.ck, Carrier: carrier(x.ck), Window: 500}
		if x.ck == ipipCarrier {
			cs.CarrierKey = 0
		}
		if x.plen > 0 {
			cs.PayloadLen = x.plen
		}
		if !x.cli {
			cs.Src, cs.Dst = s, c
		}
		if v6 {
			cs.IPID = 0
		}
		tab.Add(cs)
	}
	tab.Flush()
	for id, l := range streams {
		r.logs[id] = l.events
	}
	r.stats = tab.Stats()
	return r
}

// hs is a handshake with ids and checksums, 100 µs a step.
func hs(ck uint64) []fseg {
	return []fseg{
		{0, true, S, 1000, 0, "", 1, 0x1111, ck, 0},
		{100, false, S | A, 5000, 1001, "", 2, 0x2222, ck, 0},
		{200, true, A, 1001, 5001, "", 3, 0x3333, ck, 0},
	}
}

func fjoin(a ...[]fseg) []fseg {
	var out []fseg
	for _, x := range a {
		out = append(out, x...)
	}
	return out
}

func TestDuplicatesAndRetransmissions(t *testing.T) {
	req := fseg{1000, true, PA, 1001, 5001, "GET", 10, 0xaaaa, 0, 0}
	at := func(s fseg, us int64) fseg { s.us = us; return s }
	tests := []struct {
		name    string
		v6      bool
		segs    []fseg
		dups    uint64
		rexmits uint64
		packets uint64 // the client's
	}{
		{name: "ipv4 copy microseconds apart", segs: []fseg{req, at(req, 1020)}, dups: 1, packets: 3},
		{name: "ipv4 copy seen before its checksum was computed", // -i any: br0 then veth
			segs: []fseg{req, func() fseg { s := at(req, 1030); s.sum = 0x1234; return s }()}, dups: 1, packets: 3},
		{name: "ipv4 copy with an id 40 ms later", segs: []fseg{req, at(req, 41000)}, dups: 1, packets: 3},
		{name: "ipv4 same id and checksum 60 ms later is a retransmission", segs: []fseg{req, at(req, 61000)}, rexmits: 1, packets: 4},
		{name: "ipv4 retransmission: new id, 200 ms later",
			segs: []fseg{req, func() fseg { s := at(req, 201000); s.id = 11; s.sum = 0xbbbb; return s }()}, rexmits: 1, packets: 4},
		{name: "ipv4 fast retransmission: new id, 1 ms later",
			segs: []fseg{req, func() fseg { s := at(req, 2000); s.id = 11; return s }()}, rexmits: 1, packets: 4},
		{name: "ipv4 id 0 same checksum within 1 ms is a copy",
			segs: []fseg{func() fseg { s := req; s.id = 0; return s }(), func() fseg { s := at(req, 1800); s.id = 0; return s }()}, dups: 1, packets: 3},
		{name: "ipv4 id 0 same checksum 3 ms later is a retransmission (go-back-N)",
			segs: []fseg{func() fseg { s := req; s.id = 0; return s }(), func() fseg { s := at(req, 4000); s.id = 0; return s }()}, rexmits: 1, packets: 4},
		{name: "ipv6 copy 100 µs later", v6: true, segs: []fseg{req, at(req, 1100)}, dups: 1, packets: 3},
		{name: "ipv6 copy with another checksum 150 µs later (offload)", v6: true,
			segs: []fseg{req, func() fseg { s := at(req, 1150); s.sum = 0x1234; return s }()}, dups: 1, packets: 3},
		{name: "ipv6 same checksum 3 ms later is a retransmission", v6: true, segs: []fseg{req, at(req, 4000)}, rexmits: 1, packets: 4},
		{name: "ipv6 other checksum 500 µs later is a retransmission", v6: true,
			segs: []fseg{req, func() fseg { s := at(req, 1500); s.sum = 0x1234; return s }()}, rexmits: 1, packets: 4},
		{name: "copy captured earlier than its original (times backwards)", segs: []fseg{req, at(req, 990)}, dups: 1, packets: 3},
		{name: "made-up segments (id and checksum 0) are never copies",
			segs:    []fseg{func() fseg { s := req; s.id, s.sum = 0, 0; return s }(), func() fseg { s := at(req, 1001); s.id, s.sum = 0, 0; return s }()},
			rexmits: 1, packets: 4},
		{name: "a third copy too", segs: []fseg{req, at(req, 1010), at(req, 1020)}, dups: 2, packets: 3},
	}
	for _, tt := range tests {
		segs := fjoin(hs(0), tt.segs, []fseg{{300000, false, PA, 5001, 1004, "200", 20, 0xcccc, 0, 0}})
		r := feedField(t, tt.v6, segs)
		if len(r.conns) != 1 {
			t.Errorf("%s: %d connections, want 1", tt.name, len(r.conns))
			continue
		}
		c := r.conns[0]
		if r.stats.Duplicates != tt.dups || c.Client().Retransmissions != tt.rexmits || c.Client().Packets != tt.packets {
			t.Errorf("%s: duplicates %d, client retransmissions %d, client packets %d; want %d, %d, %d",
				tt.name, r.stats.Duplicates, c.Client().Retransmissions, c.Client().Packets, tt.dups, tt.rexmits, tt.packets)
		}
		if got := strings.Count(strings.Join(r.logs[c.ID], "\n"), `client data "GET"`); got != 1 {
			t.Errorf("%s: the request was delivered %d times, want once", tt.name, got)
		}
		if h := c.History(); (tt.rexmits > 0) != strings.Contains(h, "T") {
			t.Errorf("%s: history %q, want a T exactly when retransmitted", tt.name, h)
		}
	}
}

// A copy of a held segment captured earlier than the original gives the
// original its time: the earlier copy's.
func TestCopyBeforeHeldOriginalGivesItsTime(t *testing.T) {
	segs := fjoin(hs(0), []fseg{
		{1000, false, PA, 5001, 1004, "200", 20, 0xcccc, 0, 0}, // acknowledges the request still to come: held
		{900, false, PA, 5001, 1004, "200", 20, 0xcccc, 0, 0},  // its copy, stamped earlier (times backwards)
		{1500, true, PA, 1001, 5001, "GET", 10, 0xaaaa, 0, 0},
	})
	r := feedField(t, false, segs)
	want := `client data "GET" @1000001
server data "200" @1000000
done`
	if got := strings.Join(r.logs[1], "\n"); got != want {
		t.Errorf("stream calls:\n%s\nwant\n%s", got, want)
	}
	if r.stats.Duplicates != 1 || r.stats.Held != 1 || r.stats.Backwards != 1 {
		t.Errorf("duplicates %d held %d backwards %d, want 1, 1, 1", r.stats.Duplicates, r.stats.Held, r.stats.Backwards)
	}
	if got := r.conns[0].Server().Packets; got != 2 {
		t.Errorf("server packets %d, want 2 (the SYN-ACK and the response, once)", got)
	}
}

func TestTunnelIDsSeparateConnections(t *testing.T) {
	// Two VNIs carry the same 4-tuple at once, interleaved.
	a, b := hs(101), hs(102)
	b[1].seq, b[2].ack = 9000, 9001
	var segs []fseg
	for i := range a {
		segs = append(segs, a[i], b[i])
	}
	segs = append(segs,
		fseg{1000, true, PA, 1001, 5001, "one", 10, 0x10, 101, 0},
		fseg{1001, true, PA, 1001, 9001, "two", 10, 0x10, 102, 0}, // the same header but the tunnel: no copy
		fseg{1100, false, PA, 5001, 1004, "ONE", 20, 0x20, 101, 0},
		fseg{1101, false, PA, 9001, 1004, "TWO", 20, 0x21, 102, 0},
	)
	r := feedField(t, false, segs)
	if len(r.conns) != 2 || r.stats.Duplicates != 0 {
		t.Fatalf("%d connections, %d duplicates; want 2 connections, no duplicates", len(r.conns), r.stats.Duplicates)
	}
	for _, c := range r.conns {
		want := map[int]string{1: `client data "one" @1000001
server data "ONE" @1000001
done`, 2: `client data "two" @1000001
server data "TWO" @1000001
done`}[c.ID]
		if got := strings.Join(r.logs[c.ID], "\n"); got != want {
			t.Errorf("connection %d: stream calls:\n%s\nwant\n%s", c.ID, got, want)
		}
		if c.ClientGuessed || !c.SynSeen || c.Client().Packets != 3 || c.Server().Packets != 2 {
			t.Errorf("connection %d: guessed %v syn %v packets %d/%d; want false, true, 3/2", c.ID, c.ClientGuessed, c.SynSeen,
				c.Client().Packets, c.Server().Packets)
		}
	}
}

// A tunnel whose ids differ by direction (GRE ikey/okey, a VNI per
// direction) carries one connection.
func TestTunnelIDPerDirection(t *testing.T) {
	segs := hs(11)
	segs[1].ck = 10
	segs = append(segs, fseg{1000, true, PA, 1001, 5001, "GET", 10, 0x10, 11, 0}, fseg{1100, false, PA, 5001, 1004, "200", 20, 0x20, 10, 0},
		fseg{1200, true, F | A, 1004, 5004, "", 11, 0x11, 11, 0}, fseg{1300, false, F | A, 5004, 1005, "", 21, 0x21, 10, 0},
		fseg{1400, true, A, 1005, 5005, "", 12, 0x12, 11, 0})
	r := feedField(t, false, segs)
	if len(r.conns) != 1 {
		t.Fatalf("%d connections, want 1", len(r.conns))
	}
	c := r.conns[0]
	if c.Client().Packets != 5 || c.Server().Packets != 3 || c.Client().State != TimeWait || c.ClientGuessed {
		t.Errorf("packets %d/%d, client %v, guessed %v; want 5/3, TIME_WAIT, false", c.Client().Packets, c.Server().Packets,
			c.Client().State, c.ClientGuessed)
	}
	// A server segment in yet another tunnel that acknowledges nothing the
	// client sent is not this connection's.
	segs = fjoin(hs(11)[:1], []fseg{{100, false, S | A, 5000, 777, "", 2, 0x2222, 12, 0}})
	if r := feedField(t, false, segs); len(r.conns) != 2 {
		t.Errorf("a SYN-ACK for another SYN in another tunnel: %d connections, want 2", len(r.conns))
	}
}

// Directions out of order: a mirror that delays the client's packets.
func TestDirectionsOutOfOrder(t *testing.T) {
	tests := []struct {
		name   string
		segs   []fseg
		want   string // stream calls
		syn    bool
		guess  bool
		expire uint64
	}{
		{name: "SYN-ACK before SYN, response before request", segs: []fseg{
			{0, false, S | A, 5000, 1001, "", 2, 0x2222, 0, 0},
			{100, false, A, 5001, 1004, "", 4, 0x4444, 0, 0},
			{200, false, PA, 5001, 1004, "200", 5, 0x5555, 0, 0},
			{5000, true, S, 1000, 0, "", 1, 0x1111, 0, 0},
			{5100, true, A, 1001, 5001, "", 3, 0x3333, 0, 0},
			{5200, true, PA, 1001, 5001, "GET", 6, 0x6666, 0, 0},
			{5300, true, A, 1004, 5004, "", 7, 0x7777, 0, 0},
		}, want: "client data \"GET\" @1000005\nserver data \"200\" @1000000\ndone", syn: true},
		{name: "response before its request after the handshake", segs: fjoin(hs(0), []fseg{
			{1000, false, PA, 5001, 1004, "200", 5, 0x5555, 0, 0},
			{6000, true, PA, 1001, 5001, "GET", 6, 0x6666, 0, 0},
			{6100, true, F | A, 1004, 5004, "", 7, 0x7777, 0, 0},
			{6200, false, F | A, 5004, 1005, "", 8, 0x8888, 0, 0},
		}), want: "client data \"GET\" @1000006\nserver data \"200\" @1000001\nclient FIN\nserver FIN\ndone", syn: true},
		{name: "data before the handshake seen: response, then request, no SYN", segs: []fseg{
			{0, false, PA, 5001, 1004, "HTTP/1.1 200 OK\r\n", 5, 0x5555, 0, 0},
			{5000, true, PA, 1001, 5001, "GET", 6, 0x6666, 0, 0},
			{5100, true, A, 1004, 5018, "", 7, 0x7777, 0, 0},
		}, want: "client data \"GET\" @1000005\nserver data \"HTTP/1.1 200 OK\\r\\n\" @1000000\ndone", guess: true},
		{name: "in order mid-stream: nothing moves", segs: []fseg{
			{0, false, PA, 5001, 1004, "HTTP/1.1 200 OK\r\n", 5, 0x5555, 0, 0},
			{100, true, A, 1004, 5018, "", 7, 0x7777, 0, 0},
			{200, true, PA, 1004, 5018, "GET", 8, 0x8888, 0, 0},
		}, want: "server data \"HTTP/1.1 200 OK\\r\\n\" @1000000\nclient data \"GET\" @1000000\ndone", guess: true},
		{name: "a RST without ACK before the request it answers (the keep-alive race through a mirror that delays the client)", segs: fjoin(hs(0), []fseg{
			{1000, true, PA, 1001, 5001, "GET", 4, 0x4444, 0, 0},
			{1100, false, PA, 5001, 1004, "200", 5, 0x5555, 0, 0},
			{1200, true, A, 1004, 5004, "", 6, 0x6666, 0, 0},
			{2000, false, F | A, 5004, 1004, "", 7, 0x7777, 0, 0},
			{2100, false, R, 5005, 0, "", 8, 0x8888, 0, 0}, // its seq: the request's ack
			{7000, true, PA, 1004, 5005, "GET2", 9, 0x9999, 0, 0},
		}), want: "client data \"GET\" @1000001\nserver data \"200\" @1000001\nserver FIN\nclient data \"GET2\" @1000007\nserver RST\ndone", syn: true},
		{name: "a RST without ACK that the peer's last ACK explains: at once", segs: fjoin(hs(0), []fseg{
			{1000, true, PA, 1001, 5001, "GET", 4, 0x4444, 0, 0},
			{1100, false, PA, 5001, 1004, "200", 5, 0x5555, 0, 0},
			{1200, true, A, 1004, 5004, "", 6, 0x6666, 0, 0},
			{2100, false, R, 5004, 0, "", 8, 0x8888, 0, 0},
		}), want: "client data \"GET\" @1000001\nserver data \"200\" @1000001\nserver RST\ndone", syn: true},
		{name: "the capture lost the request: the response waits 100 ms, no more", segs: fjoin(hs(0), []fseg{
			{1000, false, PA, 5001, 1004, "200", 5, 0x5555, 0, 0},
			{99000, true, A, 1001, 5001, "", 3, 0x3334, 0, 0}, // a probe-like ACK: still waiting
			{102000, true, PA, 1004, 5004, "next", 6, 0x6666, 0, 0},
		}), want: "server data \"200\" @1000001\nclient gap 3\nclient data \"next\" @1000102\ndone", syn: true, expire: 1},
	}
	for _, tt := range tests {
		r := feedField(t, false, tt.segs)
		if len(r.conns) != 1 {
			t.Errorf("%s: %d connections, want 1", tt.name, len(r.conns))
			continue
		}
		c := r.conns[0]
		if got := strings.Join(r.logs[c.ID], "\n"); got != tt.want {
			t.Errorf("%s: stream calls:\n%s\nwant\n%s", tt.name, got, tt.want)
		}
		if c.Client().Addr != cli || c.SynSeen != tt.syn || c.ClientGuessed != tt.guess {
			t.Errorf("%s: client %v syn %v guessed %v; want %v, %v, %v", tt.name, c.Client().Addr, c.SynSeen, c.ClientGuessed, cli, tt.syn, tt.guess)
		}
		if r.stats.HoldsExpired != tt.expire {
			t.Errorf("%s: %d holds expired, want %d", tt.name, r.stats.HoldsExpired, tt.expire)
		}
		first, last := tt.segs[0].us, tt.segs[0].us
		for _, s := range tt.segs {
			first, last = min(first, s.us), max(last, s.us)
		}
		t0 := time.Unix(1000, 0)
		if !c.FirstPacketAt.Equal(t0.Add(time.Duration(first)*time.Microsecond)) || !c.LastPacketAt.Equal(t0.Add(time.Duration(last)*time.Microsecond)) {
			t.Errorf("%s: first/last packet %v/%v, want the earliest and latest capture times", tt.name, c.FirstPacketAt, c.LastPacketAt)
		}
	}
}

// The handshake's times stay as captured when its packets come out of
// order, and the FIN that acknowledges the other came second.
func TestOutOfOrderHandshakeTimesAndFINOrder(t *testing.T) {
	segs := []fseg{
		{0, false, S | A, 5000, 1001, "", 2, 0x2222, 0, 0},
		{5000, true, S, 1000, 0, "", 1, 0x1111, 0, 0},
		{5100, true, A, 1001, 5001, "", 3, 0x3333, 0, 0},
		{9000, false, F | A, 5001, 1002, "", 4, 0x4444, 0, 0}, // acknowledges the client's FIN, captured later
		{14000, true, F | A, 1001, 5001, "", 5, 0x5555, 0, 0},
		{14100, true, A, 1002, 5002, "", 6, 0x6666, 0, 0},
	}
	r := feedField(t, false, segs)
	if len(r.conns) != 1 {
		t.Fatalf("%d connections, want 1", len(r.conns))
	}
	c := r.conns[0]
	t0 := time.Unix(1000, 0)
	us := func(n int64) time.Time { return t0.Add(time.Duration(n) * time.Microsecond) }
	if !c.SynAt.Equal(us(5000)) || !c.SynAckAt.Equal(us(0)) || !c.AckAt.Equal(us(5100)) {
		t.Errorf("handshake %v/%v/%v, want the capture times", c.SynAt, c.SynAckAt, c.AckAt)
	}
	if d, at, ok := c.FirstFIN(); !ok || d != ClientToServer || !at.Equal(us(14000)) {
		t.Errorf("first FIN by %v at %v (ok %v), want the client's at 14 ms", d, at, ok)
	}
	if c.Client().State != TimeWait || c.Server().State != Closed {
		t.Errorf("states %v/%v, want TIME_WAIT/CLOSED", c.Client().State, c.Server().State)
	}
}

func TestBackwardsTimestampsAreCountedAndKept(t *testing.T) {
	segs := fjoin(hs(0), []fseg{
		{50000, true, PA, 1001, 5001, "GET", 10, 0x10, 0, 0},
		{20000, false, PA, 5001, 1004, "200", 20, 0x20, 0, 0}, // another interface's batch, stamped earlier
		{60000, true, A, 1004, 5004, "", 11, 0x11, 0, 0},
		{30000, false, A, 5004, 1004, "", 21, 0x21, 0, 0},
	})
	r := feedField(t, false, segs)
	if r.stats.Backwards != 2 || r.stats.BackwardsMax != 30*time.Millisecond || r.stats.FirstBackwards != 5 {
		t.Errorf("backwards %d from packet %d by up to %v, want 2 from packet 5 by up to 30ms", r.stats.Backwards, r.stats.FirstBackwards, r.stats.BackwardsMax)
	}
	want := "client data \"GET\" @1000050\nserver data \"200\" @1000020\ndone"
	if got := strings.Join(r.logs[1], "\n"); got != want {
		t.Errorf("stream calls:\n%s\nwant\n%s", got, want)
	}
	if c := r.conns[0]; !c.LastPacketAt.Equal(time.Unix(1000, 0).Add(60 * time.Millisecond)) {
		t.Errorf("last packet %v, want the latest time", c.LastPacketAt)
	}
}

// cutLog is a Stream that logs whether each gap was a snaplen cut.
type cutLog struct {
	c      *Conn
	events *[]string
}

func (l cutLog) Data(d Dir, b []byte, _ time.Time) {
	*l.events = append(*l.events, fmt.Sprintf("%v data %q", d, b))
}
func (l cutLog) Gap(d Dir, n int, _ time.Time) {
	*l.events = append(*l.events, fmt.Sprintf("%v gap %d cut=%v", d, n, l.c.InCut()))
}
func (l cutLog) FIN(Dir, time.Time) {}
func (l cutLog) RST(Dir, time.Time) {}
func (l cutLog) Done(*Conn)         {}

// Bytes the snaplen cut are told apart from segments the capture lacks:
// cut (InCut during their Gap, CutBytes), missing both, 'G' only for the
// lost segments.
func TestSnaplenCutBytes(t *testing.T) {
	var events []string
	var conn *Conn
	tab := NewTable(DefaultConfig(), func(c *Conn) Stream { conn = c; return cutLog{c, &events} })
	t0 := time.Unix(1000, 0)
	n := uint64(0)
	add := func(ms int, fromCli bool, flags uint8, seq, ack uint32, data string, plen int) {
		n++
		s := &capture.Segment{N: n, Time: t0.Add(time.Duration(ms) * time.Millisecond), Src: cli, Dst: srv, Flags: flags,
			Seq: seq, Ack: ack, Payload: []byte(data), PayloadLen: plen}
		if !fromCli {
			s.Src, s.Dst = srv, cli
		}
		tab.Add(s)
	}
	add(0, true, S, 1000, 0, "", 0)
	add(1, false, S|A, 5000, 1001, "", 0)
	add(2, true, A, 1001, 5001, "", 0)
	add(3, true, PA, 1001, 5001, "GET / HTTP/1.1\r\nHo", 96)  // cut: 18 of 96
	add(4, false, PA, 5001, 1097, "HTTP/1.1 200 OK\r\n", 331) // cut: 17 of 331
	add(5, false, PA, 5332, 1097, "more", 4)
	add(6, true, A, 1097, 5300, "", 0)       // acknowledges less than was seen
	add(7, false, PA, 5390, 1097, "late", 4) // 54 bytes the capture lacks: missing
	add(8, true, A, 1097, 5394, "", 0)
	tab.Flush()
	want := `client data "GET / HTTP/1.1\r\nHo"
client gap 78 cut=true
server data "HTTP/1.1 200 OK\r\n"
server gap 314 cut=true
server data "more"
server gap 54 cut=false
server data "late"`
	if got := strings.Join(events, "\n"); got != want {
		t.Errorf("stream calls:\n%s\nwant\n%s", got, want)
	}
	cl, sv := conn.Client(), conn.Server()
	if cl.CutBytes != 78 || sv.CutBytes != 314 || cl.MissingBytes != 78 || sv.MissingBytes != 314+54 {
		t.Errorf("cut %d/%d missing %d/%d, want cut 78/314, missing 78/368", cl.CutBytes, sv.CutBytes, cl.MissingBytes, sv.MissingBytes)
	}
	if cl.PayloadBytes != 96 || sv.PayloadBytes != 331+4+4 {
		t.Errorf("payload bytes %d/%d, want 96/339", cl.PayloadBytes, sv.PayloadBytes)
	}
	if h := conn.History(); strings.Count(h, "g") != 1 || strings.Contains(h, "G") {
		t.Errorf("history %q: want one server gap (the lost bytes), none for cuts", h)
	}
	st := tab.Stats()
	if st.CutSegments != 2 || st.CutBytes != 78+314 {
		t.Errorf("stats: %d segments cut, %d bytes; want 2, 392", st.CutSegments, st.CutBytes)
	}
	if w := strings.Join(st.Warnings(), "\n"); !strings.Contains(w, "2 segments cut by the snaplen (392 bytes) from packet 4") {
		t.Errorf("warnings %q, want the snaplen one", w)
	}
}

func TestCarrierOfEachSide(t *testing.T) {
	up := &capture.Carrier{VLANs: []uint16{10}, Tunnel: []capture.Encap{{Type: capture.EncapVXLAN, ID: 7, HasID: true}}}
	down := &capture.Carrier{VLANs: []uint16{20}}
	var conns []*Conn
	tab := NewTable(DefaultConfig(), func(c *Conn) Stream { return &log{conns: &conns} })
	t0 := time.Unix(1000, 0)
	tab.Add(&capture.Segment{Time: t0, Src: srv, Dst: cli, Flags: S | A, Seq: 5000, Ack: 1001, Carrier: down})
	tab.Add(&capture.Segment{Time: t0, Src: cli, Dst: srv, Flags: A, Seq: 1001, Ack: 5001, Carrier: up})
	tab.Add(&capture.Segment{Time: t0, Src: cli, Dst: srv, Flags: PA, Seq: 1001, Ack: 5001, Payload: []byte("x"), PayloadLen: 1})
	tab.Flush()
	c := conns[0]
	if c.Client().Carrier != up || c.Server().Carrier != down || c.Carrier() != up {
		t.Errorf("carriers client %v server %v conn %v; want each side's first packet's, the client's for the connection",
			c.Client().Carrier, c.Server().Carrier, c.Carrier())
	}
}

// A hostile stream of segments that acknowledge what never comes holds at
// most holdMax segments, then goes on in capture order.
func TestHoldIsBounded(t *testing.T) {
	var conns []*Conn
	var most int
	tab := NewTable(DefaultConfig(), func(c *Conn) Stream { return &log{conns: &conns} })
	t0 := time.Unix(1000, 0)
	tab.Add(&capture.Segment{Time: t0, Src: cli, Dst: srv, Flags: S, Seq: 1000})
	for i := 0; i < 3*holdMax; i++ {
		tab.Add(&capture.Segment{Time: t0, Src: srv, Dst: cli, Flags: PA, Seq: 5000 + uint32(i), Ack: 900000, Payload: []byte("y"), PayloadLen: 1})
		for _, c := range tab.conns {
			most = max(most, len(c.held))
		}
	}
	tab.Flush()
	if most > holdMax {
		t.Errorf("%d segments held at once, want at most %d", most, holdMax)
	}
	if p := conns[0].Server().Packets; p != 3*holdMax {
		t.Errorf("server packets %d, want %d: every held segment is processed", p, 3*holdMax)
	}
	if st := tab.Stats(); st.HoldsExpired != holdExpiries {
		t.Errorf("%d holds ended unresolved, want %d (then no more holds)", st.HoldsExpired, holdExpiries)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		st   Stats
		want []string
	}{
		{Stats{}, nil},
		{Stats{Duplicates: 5, Held: 3}, nil}, // capture.duplicates says it
		{Stats{Backwards: 4, BackwardsMax: 166 * time.Millisecond, FirstBackwards: 37}, nil}, // the capture's warning
		{Stats{CutSegments: 14, CutBytes: 6028, FirstCut: 6},
			[]string{"14 segments cut by the snaplen (6028 bytes) from packet 6; responses and bodies past the cut are counted, not parsed"}},
	}
	for _, tt := range tests {
		got := tt.st.Warnings()
		ok := len(got) == len(tt.want)
		for i := 0; ok && i < len(got); i++ {
			ok = strings.HasPrefix(got[i], tt.want[i])
		}
		if !ok {
			t.Errorf("Warnings of %+v:\n%q\nwant prefixes\n%q", tt.st, got, tt.want)
		}
	}
}

// Without a SYN and without HTTP to tell, the client is guessed from the
// endpoints: a Teredo address is a client's; a well-known or common HTTP
// port is a server's, though the client's ephemeral port is lower (older
// Windows: 1025-5000); else the higher port is the client's.
func TestGuessClientFromEndpoints(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		first, second netip.AddrPort // the first packet's source and destination
		client        netip.AddrPort
	}{
		{ap("[2001:0:4137:9e50:8000:f12a:b9c8:2815]:1286"), ap("[2001:4860:0:2001::68]:80"), ap("[2001:0:4137:9e50:8000:f12a:b9c8:2815]:1286")},
		{ap("[2001:4860:0:2001::68]:80"), ap("[2001:0:4137:9e50:8000:f12a:b9c8:2815]:1286"), ap("[2001:0:4137:9e50:8000:f12a:b9c8:2815]:1286")},
		{ap("[2001:4860:0:2001::68]:9999"), ap("[2001:0:4137:9e50:8000:f12a:b9c8:2815]:50000"), ap("[2001:0:4137:9e50:8000:f12a:b9c8:2815]:50000")},
		{ap("[2001:4860:0:2001::68]:5555"), ap("[2001:0:4137:9e50:8000:f12a:b9c8:2815]:1286"), ap("[2001:0:4137:9e50:8000:f12a:b9c8:2815]:1286")},
		{ap("10.0.0.2:8080"), ap("10.0.0.1:1286"), ap("10.0.0.1:1286")},
		{ap("10.0.0.1:1286"), ap("10.0.0.2:8080"), ap("10.0.0.1:1286")},
		{ap("10.0.0.2:443"), ap("10.0.0.1:60000"), ap("10.0.0.1:60000")},
		{ap("10.0.0.2:20000"), ap("10.0.0.1:40000"), ap("10.0.0.1:40000")},
	}
	for _, tt := range tests {
		var conns []*Conn
		tab := NewTable(DefaultConfig(), func(c *Conn) Stream { return &log{conns: &conns} })
		t0 := time.Unix(1000, 0)
		tab.Add(&capture.Segment{Time: t0, Src: tt.first, Dst: tt.second, Flags: A, Seq: 7, Ack: 9})
		tab.Add(&capture.Segment{Time: t0, Src: tt.second, Dst: tt.first, Flags: A, Seq: 9, Ack: 7})
		tab.Add(&capture.Segment{Time: t0, Src: tt.first, Dst: tt.second, Flags: PA, Seq: 7, Ack: 9, Payload: []byte{1}, PayloadLen: 1})
		tab.Flush()
		if len(conns) != 1 || conns[0].Client().Addr != tt.client || !conns[0].ClientGuessed {
			t.Errorf("%v -> %v: client %v (of %d connections), want %v, guessed", tt.first, tt.second, conns[0].Client().Addr, len(conns), tt.client)
		}
	}
}

// Copies over two carriers: `-i any` on an overlay node sees each packet
// bare (the vxlan device, a pod's veth) and inside the tunnel (the
// underlay), in either order by direction, and the bare copy of a data
// segment may be one large (offloaded) segment that the tunnel carries as
// several, or the other way round (GRO).
func TestBareAndTunnelledCopies(t *testing.T) {
	for _, vni := range []uint64{0x77, ipipCarrier} { // a VXLAN VNI, IP-in-IP (no id)
		bareAndTunnelled(t, vni)
	}
}

func bareAndTunnelled(t *testing.T, vni uint64) {
	kind := map[uint64]string{0x77: "vxlan", ipipCarrier: "ipip"}[vni]
	// copies returns s in both carriers, the first one first, 5 µs apart.
	copies := func(s fseg, tunnelFirst bool) []fseg {
		a, b := s, s
		a.ck, b.ck, b.us = 0, vni, s.us+5
		if tunnelFirst {
			a.ck, b.ck = vni, 0
		}
		return []fseg{a, b}
	}
	both := func(tunnelFirstClient bool, segs ...fseg) []fseg {
		var out []fseg
		for _, s := range segs {
			out = append(out, copies(s, s.cli == tunnelFirstClient)...)
		}
		return out
	}
	h := hs(0)
	req := fseg{1000, true, PA, 1001, 5001, "GET", 10, 0xaaaa, 0, 0}
	resp := fseg{1100, false, PA, 5001, 1004, "200 ok", 20, 0xcccc, 0, 0}
	fin := fseg{2000, false, F | A, 5007, 1004, "", 21, 0xdddd, 0, 0}
	// The response bare as one segment, in the tunnel as three.
	gso := func(tunnelFirst bool, ck uint64) []fseg {
		big := fseg{1100, false, PA, 5001, 1004, "200 ok", 20, 0xcccc, ck, 0}
		other := vni
		if ck == vni {
			other = 0
		}
		pieces := []fseg{
			{1105, false, A, 5001, 1004, "20", 30, 0x01, other, 0},
			{1106, false, A, 5003, 1004, "0 ", 31, 0x02, other, 0},
			{1107, false, PA, 5005, 1004, "ok", 32, 0x03, other, 0},
		}
		if tunnelFirst {
			for i := range pieces {
				pieces[i].us -= 10
			}
			return append(pieces, big)
		}
		return append([]fseg{big}, pieces...)
	}
	tests := []struct {
		name         string
		segs         []fseg
		conns        int
		dups         uint64
		srvPackets   uint64
		srvRexmits   uint64
		wantResponse string
	}{
		{"server's node: client's copies tunnelled first, server's bare first",
			both(true, h[0], h[1], h[2], req, resp, fin), 1, 6, 3, 0, `server data "200 ok"`},
		{"client's node: client's copies bare first",
			both(false, h[0], h[1], h[2], req, resp, fin), 1, 6, 3, 0, `server data "200 ok"`},
		{"bare offloaded segment, the tunnel's three pieces after it",
			fjoin(both(true, h[0], h[1], h[2], req), gso(false, 0), both(true, fin)), 1, 4 + 3 + 1, 3, 0, `server data "200 ok"`},
		{"the tunnel's three pieces, then GRO's bare one",
			fjoin(both(false, h[0], h[1], h[2], req), gso(true, vni), both(false, fin)), 1, 4 + 1 + 1, 5, 0, `server data "20"`},
		{"a retransmission in both carriers stays one retransmission",
			fjoin(both(true, h[0], h[1], h[2], req, resp), both(true, fseg{300000, false, PA, 5001, 1004, "200 ok", 40, 0xcccc, 0, 0}), both(true, fin)),
			1, 7, 4, 1, `server data "200 ok"`},
		{"bare and tunnelled with unrelated sequence numbers are two connections (ids only)",
			fjoin(hs(0), func() []fseg {
				x := hs(vni)
				x[0].seq, x[1].ack, x[2].seq = 77000, 77001, 77001
				x[1].seq, x[2].ack = 88000, 88001
				x[0].sum, x[1].sum, x[2].sum = 1, 2, 3
				return x
			}()), 2, 0, 1, 0, ""},
	}
	for _, tt := range tests {
		if vni == ipipCarrier && tt.conns == 2 {
			continue // the same key: one connection, the second SYN a new one on it
		}
		tt.name = kind + ": " + tt.name
		r := feedField(t, false, tt.segs)
		if len(r.conns) != tt.conns || r.stats.Duplicates != tt.dups {
			t.Errorf("%s: %d connections, %d duplicates; want %d, %d", tt.name, len(r.conns), r.stats.Duplicates, tt.conns, tt.dups)
			continue
		}
		c := r.conns[0]
		if s := c.Server(); s.Packets != tt.srvPackets || s.Retransmissions != tt.srvRexmits {
			t.Errorf("%s: server packets %d, retransmissions %d; want %d, %d", tt.name, s.Packets, s.Retransmissions, tt.srvPackets, tt.srvRexmits)
		}
		if tt.wantResponse != "" {
			if got := strings.Join(r.logs[c.ID], "\n"); !strings.Contains(got, tt.wantResponse) || strings.Count(got, `client data "GET"`) != 1 {
				t.Errorf("%s: stream calls:\n%s\nwant the request once and %s", tt.name, got, tt.wantResponse)
			}
		}
	}
}
