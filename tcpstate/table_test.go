package tcpstate

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/httplife/httplife/capture"
)

var (
	cli = netip.MustParseAddrPort("10.0.0.1:40000")
	srv = netip.MustParseAddrPort("10.0.0.2:80")
)

// log is a Stream that records every call.
type log struct {
	events []string
	conns  *[]*Conn
}

func (l *log) Data(d Dir, b []byte, t time.Time) {
	l.events = append(l.events, fmt.Sprintf("%v data %q @%d", d, b, t.UnixMilli()))
}
func (l *log) Gap(d Dir, n int, t time.Time) {
	l.events = append(l.events, fmt.Sprintf("%v gap %d", d, n))
}
func (l *log) FIN(d Dir, t time.Time) { l.events = append(l.events, fmt.Sprintf("%v FIN", d)) }
func (l *log) RST(d Dir, t time.Time) { l.events = append(l.events, fmt.Sprintf("%v RST", d)) }
func (l *log) Done(c *Conn) {
	l.events = append(l.events, "done")
	*l.conns = append(*l.conns, c)
}

// seg is a compact segment description: from client or server, flags,
// sequence and ack relative to ISNs 1000 (client) and 5000 (server).
type seg struct {
	ms      int
	fromCli bool
	flags   uint8
	seq     uint32
	ack     uint32
	data    string
	plen    int // wire length when the capture cut the payload
}

func feed(t *testing.T, cfg Config, segs []seg) ([]*Conn, map[int][]string) {
	t.Helper()
	var conns []*Conn
	logs := map[int][]string{}
	streams := map[int]*log{}
	tab := NewTable(cfg, func(c *Conn) Stream {
		l := &log{conns: &conns}
		streams[c.ID] = l
		return l
	})
	t0 := time.Unix(1000, 0)
	for _, s := range segs {
		cs := &capture.Segment{Time: t0.Add(time.Duration(s.ms) * time.Millisecond), Flags: s.flags,
			Seq: s.seq, Ack: s.ack, Payload: []byte(s.data), PayloadLen: len(s.data)}
		if s.plen > 0 {
			cs.PayloadLen = s.plen
		}
		if s.fromCli {
			cs.Src, cs.Dst = cli, srv
		} else {
			cs.Src, cs.Dst = srv, cli
		}
		tab.Add(cs)
	}
	tab.Flush()
	for id, l := range streams {
		logs[id] = l.events
	}
	return conns, logs
}

const (
	S  = capture.SYN
	A  = capture.ACK
	F  = capture.FIN
	R  = capture.RST
	PA = capture.PSH | capture.ACK
)

// handshake: client ISN 1000, server ISN 5000.
var handshake = []seg{
	{0, true, S, 1000, 0, "", 0},
	{1, false, S | A, 5000, 1001, "", 0},
	{2, true, A, 1001, 5001, "", 0},
}

func join(a ...[]seg) []seg {
	var out []seg
	for _, x := range a {
		out = append(out, x...)
	}
	return out
}

func TestServerClosesFirst(t *testing.T) {
	segs := join(handshake, []seg{
		{10, true, PA, 1001, 5001, "GET", 0},
		{11, false, A, 5001, 1004, "", 0},
		{12, false, PA, 5001, 1004, "200", 0},
		{13, true, A, 1004, 5004, "", 0},
		{2000, false, F | A, 5004, 1004, "", 0}, // server idle timeout
		{2001, true, F | A, 1004, 5005, "", 0},  // client ACKs and closes
		{2002, false, A, 5005, 1005, "", 0},     // server ACKs: TIME_WAIT
	})
	conns, logs := feed(t, DefaultConfig(), segs)
	if len(conns) != 1 {
		t.Fatalf("got %d connections, want 1", len(conns))
	}
	c := conns[0]
	want := `client data "GET" @1000010
server data "200" @1000012
server FIN
client FIN
done`
	if got := strings.Join(logs[1], "\n"); got != want {
		t.Errorf("stream calls:\n%s\nwant\n%s", got, want)
	}
	if got := c.Client().State; got != Closed {
		t.Errorf("client state %v, want CLOSED", got)
	}
	if got := c.Server().State; got != TimeWait {
		t.Errorf("server state %v, want TIME_WAIT", got)
	}
	if c.Server().TimeWaitAt.IsZero() || !c.Client().TimeWaitAt.IsZero() {
		t.Errorf("TIME_WAIT entered: client %v server %v; want server only", c.Client().TimeWaitAt, c.Server().TimeWaitAt)
	}
	d, _, ok := c.FirstFIN()
	if !ok || d != ServerToClient {
		t.Errorf("first FIN by %v (ok=%v), want server", d, ok)
	}
	if !c.SynSeen || c.ClientGuessed || c.AckAt.IsZero() {
		t.Errorf("handshake: syn_seen %v guessed %v ack_at %v", c.SynSeen, c.ClientGuessed, c.AckAt)
	}
}

func TestRetransmissionOutOfOrderProbeAndGap(t *testing.T) {
	segs := join(handshake, []seg{
		{10, true, PA, 1001, 5001, "GET ", 0},
		{11, true, PA, 1001, 5001, "GET ", 0}, // retransmission
		{12, true, PA, 1009, 5001, "HTTP", 0}, // out of order: bytes 1009..1012
		{13, true, PA, 1005, 5001, "/ab ", 0}, // fills 1005..1008
		{14, true, A, 1012, 5001, "", 0},      // keep-alive probe: seq = next-1
		{15, true, A, 1012, 5001, "x", 0},     // 1-byte probe
		{16, false, PA, 5001, 1013, "HTTP/1.1", 0},
		{17, false, PA, 5019, 1013, "tail", 0}, // 10 bytes missing from the capture
		{18, true, A, 1013, 5023, "", 0},       // client ACKs them all
		{19, false, PA, 5023, 1013, "abc", 6},  // snaplen cut: 3 of 6 bytes
	})
	conns, logs := feed(t, DefaultConfig(), segs)
	c := conns[0]
	want := `client data "GET " @1000010
client data "/ab " @1000013
client data "HTTP" @1000012
server data "HTTP/1.1" @1000016
server gap 10
server data "tail" @1000017
server data "abc" @1000019
server gap 3
done`
	if got := strings.Join(logs[1], "\n"); got != want {
		t.Errorf("stream calls:\n%s\nwant\n%s", got, want)
	}
	if c.Client().Retransmissions != 1 {
		t.Errorf("client retransmissions %d, want 1", c.Client().Retransmissions)
	}
	if c.Client().KeepaliveProbes != 2 {
		t.Errorf("client keep-alive probes %d, want 2", c.Client().KeepaliveProbes)
	}
	// The 10 bytes never captured and the 3 the snaplen cut off a captured
	// segment are missing; the 3 are also cut.
	if c.Server().MissingBytes != 13 || c.Server().CutBytes != 3 {
		t.Errorf("server missing bytes %d, cut bytes %d; want 13 and 3", c.Server().MissingBytes, c.Server().CutBytes)
	}
	// Payload bytes are the bytes of segments seen, each once: the 10 bytes
	// never captured are missing, not payload; the snaplen-cut ones were seen.
	if c.Client().PayloadBytes != 12 || c.Server().PayloadBytes != 8+4+6 {
		t.Errorf("payload bytes client %d server %d, want 12 and 18", c.Client().PayloadBytes, c.Server().PayloadBytes)
	}
}

func TestMidstreamGuessesClient(t *testing.T) {
	segs := []seg{
		{0, false, PA, 7000, 3000, "HTTP/1.1 200 OK\r\n", 0}, // a response first: the sender is the server
		{1, true, A, 3000, 7017, "", 0},
		{2, true, PA, 3000, 7017, "GET / HTTP/1.1\r\n\r\n", 0},
	}
	conns, _ := feed(t, DefaultConfig(), segs)
	c := conns[0]
	if c.Client().Addr != cli || !c.ClientGuessed || c.SynSeen {
		t.Errorf("client %v guessed %v syn %v; want %v, true, false", c.Client().Addr, c.ClientGuessed, c.SynSeen, cli)
	}
	if c.Client().State != Established || c.Server().State != Established {
		t.Errorf("states %v/%v, want ESTABLISHED both", c.Client().State, c.Server().State)
	}
}

func TestPortReuseStartsNewConnection(t *testing.T) {
	first := join(handshake, []seg{
		{10, true, F | A, 1001, 5001, "", 0},
		{11, false, F | A, 5001, 1002, "", 0},
		{12, true, A, 1002, 5002, "", 0},
	})
	second := []seg{
		{500, true, S, 90000, 0, "", 0},
		{501, false, S | A, 123, 90001, "", 0},
		{502, true, A, 90001, 124, "", 0},
		{503, true, R | A, 90001, 124, "", 0},
	}
	conns, _ := feed(t, DefaultConfig(), join(first, second))
	if len(conns) != 2 {
		t.Fatalf("got %d connections, want 2", len(conns))
	}
	if conns[0].Client().State != TimeWait {
		t.Errorf("first connection: client state %v, want TIME_WAIT", conns[0].Client().State)
	}
	if got := strings.Join(conns[1].Anomalies, ","); got != "port-reused-in-time-wait" {
		t.Errorf("second connection anomalies %q, want port-reused-in-time-wait", got)
	}
	if d, _, ok := conns[1].FirstRST(); !ok || d != ClientToServer {
		t.Errorf("second connection RST by %v (ok %v), want client", d, ok)
	}
}

func TestSimultaneousClose(t *testing.T) {
	segs := join(handshake, []seg{
		{10, true, F | A, 1001, 5001, "", 0},
		{10, false, F | A, 5001, 1001, "", 0}, // crossed: does not ACK the client's FIN
		{11, true, A, 1002, 5002, "", 0},
		{11, false, A, 5002, 1002, "", 0},
	})
	conns, _ := feed(t, DefaultConfig(), segs)
	c := conns[0]
	if c.Client().State != TimeWait || c.Server().State != TimeWait {
		t.Errorf("states %v/%v, want TIME_WAIT both", c.Client().State, c.Server().State)
	}
}

func TestSynFloodIsCapped(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxConns = 100
	var conns []*Conn
	tab := NewTable(cfg, func(c *Conn) Stream { return &log{conns: &conns} })
	t0 := time.Unix(1000, 0)
	// One real connection with data, then 10,000 SYNs from other ports.
	for _, s := range join(handshake, []seg{{5, true, PA, 1001, 5001, "GET / HTTP/1.1\r\n\r\n", 0}}) {
		cs := &capture.Segment{Time: t0.Add(time.Duration(s.ms) * time.Millisecond), Src: cli, Dst: srv, Flags: s.flags, Seq: s.seq, Ack: s.ack, Payload: []byte(s.data), PayloadLen: len(s.data)}
		if !s.fromCli {
			cs.Src, cs.Dst = srv, cli
		}
		tab.Add(cs)
	}
	for i := 0; i < 10000; i++ {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i >> 8)}), uint16(1024+i))
		tab.Add(&capture.Segment{Time: t0.Add(time.Second), Src: src, Dst: srv, Flags: S, Seq: uint32(i)})
		if tab.Open() > cfg.MaxConns {
			t.Fatalf("after %d SYNs the table holds %d connections, cap %d", i+1, tab.Open(), cfg.MaxConns)
		}
	}
	if tab.Stats().Evicted == 0 {
		t.Errorf("no evictions reported")
	}
	for _, c := range conns {
		if c.Client().Addr == cli {
			t.Errorf("the established connection with data was evicted before the half-open ones")
		}
	}
}

func TestMakeKey(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		x1, y1, x2, y2 string
		same           bool
	}{
		{"10.0.0.1:80", "10.0.0.2:5000", "10.0.0.2:5000", "10.0.0.1:80", true},
		{"10.0.0.1:80", "10.0.0.2:5000", "10.0.0.1:80", "10.0.0.2:5000", true},
		{"10.0.0.1:80", "10.0.0.2:5000", "10.0.0.1:80", "10.0.0.2:5001", false},
		{"10.0.0.1:80", "10.0.0.2:5000", "10.0.0.1:5000", "10.0.0.2:80", false},
		{"10.0.0.1:80", "10.0.0.2:5000", "[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.2]:5000", false},
		{"[2001:db8::1]:80", "[2001:db8::2]:5000", "[2001:db8::2]:5000", "[2001:db8::1]:80", true},
		{"[2001:db8::1]:80", "[2001:db8::2]:5000", "[2001:db8::1]:80", "[2001:db8::3]:5000", false},
	}
	for _, tt := range tests {
		k1 := makeKey(ap(tt.x1), ap(tt.y1), 0)
		k2 := makeKey(ap(tt.x2), ap(tt.y2), 0)
		if got := k1 == k2; got != tt.same {
			t.Errorf("makeKey(%s, %s) == makeKey(%s, %s): got %v, want %v", tt.x1, tt.y1, tt.x2, tt.y2, got, tt.same)
		}
	}
}

func TestInstantBefore(t *testing.T) {
	base := time.Unix(1700000000, 500)
	tests := []struct {
		a, b time.Time
	}{
		{base, base.Add(time.Nanosecond)},
		{base, base.Add(time.Second)},
		{base.Add(-time.Second), base},
		{time.Unix(-5, 999999999), time.Unix(-4, 0)},
	}
	for _, tt := range tests {
		if !instantOf(tt.a).before(instantOf(tt.b)) {
			t.Errorf("instantOf(%v).before(instantOf(%v)) = false, want true", tt.a, tt.b)
		}
		if instantOf(tt.b).before(instantOf(tt.a)) || instantOf(tt.a).before(instantOf(tt.a)) {
			t.Errorf("instant order of %v and %v disagrees with time.Time's", tt.a, tt.b)
		}
	}
}

// TestManyInterleavedConnections runs more connections at once than the
// table's cache of recent connections has slots, their packets
// interleaved, so slots are shared and overwritten: every connection must
// still get exactly its own packets and data.
func TestManyInterleavedConnections(t *testing.T) {
	const n = 3 * recentSlots
	got := make(map[int]string, n)
	var done []*Conn
	tab := NewTable(DefaultConfig(), func(c *Conn) Stream { return &collect{c: c, got: got, done: &done} })
	t0 := time.Unix(1000, 0)
	client := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(40000+i%7))
	}
	add := func(ms int, i int, fromCli bool, flags uint8, seq, ack uint32, data string) {
		s := &capture.Segment{Time: t0.Add(time.Duration(ms) * time.Millisecond), Src: client(i), Dst: srv,
			Flags: flags, Seq: seq, Ack: ack, Payload: []byte(data), PayloadLen: len(data)}
		if !fromCli {
			s.Src, s.Dst = s.Dst, s.Src
		}
		tab.Add(s)
	}
	for i := 0; i < n; i++ {
		add(0, i, true, S, 1000, 0, "")
		add(0, i, false, S|A, 5000, 1001, "")
	}
	// Data in a scrambled order (i*7919 mod n visits every i once).
	for k := 0; k < n; k++ {
		i := k * 7919 % n
		add(1, i, true, A, 1001, 5001, "")
		add(1, i, true, PA, 1001, 5001, fmt.Sprintf("req %d", i))
	}
	for i := n - 1; i >= 0; i-- {
		add(2, i, false, PA, 5001, 1001+uint32(len(fmt.Sprintf("req %d", i))), fmt.Sprintf("resp %d", i))
	}
	tab.Flush()
	if len(done) != n {
		t.Fatalf("%d connections reported, want %d", len(done), n)
	}
	for _, c := range done {
		i := int(c.Client().Addr.Addr().As4()[2])<<8 | int(c.Client().Addr.Addr().As4()[3])
		want := fmt.Sprintf("C:req %d|S:resp %d|", i, i)
		if got[c.ID] != want {
			t.Errorf("connection %d (client %v): data %q, want %q", c.ID, c.Client().Addr, got[c.ID], want)
		}
		if p := c.Client().Packets + c.Server().Packets; p != 5 {
			t.Errorf("connection %d (client %v): %d packets, want 5", c.ID, c.Client().Addr, p)
		}
	}
}

// collect is a Stream that keeps each connection's data as one string.
type collect struct {
	c    *Conn
	got  map[int]string
	done *[]*Conn
}

func (s *collect) Data(d Dir, b []byte, _ time.Time) {
	p := "C:"
	if d == ServerToClient {
		p = "S:"
	}
	s.got[s.c.ID] += p + string(b) + "|"
}
func (s *collect) Gap(Dir, int, time.Time) {}
func (s *collect) FIN(Dir, time.Time)      {}
func (s *collect) RST(Dir, time.Time)      {}
func (s *collect) Done(c *Conn)            { *s.done = append(*s.done, c) }

// TestLateSegmentAfterReport sends a segment of a connection after the
// table reported it (closed, linger over): it is counted as late and
// changes nothing of the reported connection.
func TestLateSegmentAfterReport(t *testing.T) {
	var conns []*Conn
	tab := NewTable(DefaultConfig(), func(c *Conn) Stream { return &log{conns: &conns} })
	t0 := time.Unix(1000, 0)
	segs := join(handshake, []seg{
		{10, true, F | A, 1001, 5001, "", 0},
		{11, false, F | A, 5001, 1002, "", 0},
		{12, true, A, 1002, 5002, "", 0},
		{3000, false, A, 5002, 1002, "", 0}, // past the linger: the connection was reported
		{3001, false, A, 5002, 1002, "", 0},
	})
	for i, s := range segs {
		cs := &capture.Segment{Time: t0.Add(time.Duration(s.ms) * time.Millisecond), Src: cli, Dst: srv,
			Flags: s.flags, Seq: s.seq, Ack: s.ack}
		if !s.fromCli {
			cs.Src, cs.Dst = srv, cli
		}
		tab.Add(cs)
		if i == 6 && len(conns) != 1 {
			t.Fatalf("after the first late segment: %d connections reported, want 1", len(conns))
		}
	}
	tab.Flush()
	if len(conns) != 1 {
		t.Fatalf("%d connections reported, want 1", len(conns))
	}
	if got := tab.Stats().Late; got != 2 {
		t.Errorf("late segments: got %d, want 2", got)
	}
	if p := conns[0].Server().Packets; p != 2 {
		t.Errorf("server packets of the reported connection: got %d, want 2", p)
	}
}

// TestKeyEq checks eq against == on keys differing in each field.
func TestKeyEq(t *testing.T) {
	base := makeKey(netip.MustParseAddrPort("[2001:db8::1]:80"), netip.MustParseAddrPort("[2001:db8::2]:5000"), 7)
	variants := []func(*key){
		func(*key) {},
		func(k *key) { k.a0++ }, func(k *key) { k.a1++ }, func(k *key) { k.b0++ }, func(k *key) { k.b1++ },
		func(k *key) { k.pa++ }, func(k *key) { k.pb++ }, func(k *key) { k.v6 = !k.v6 }, func(k *key) { k.ck++ },
	}
	for i, v := range variants {
		k := base
		v(&k)
		if got, want := base.eq(&k), base == k; got != want {
			t.Errorf("variant %d: eq = %v, == says %v", i, got, want)
		}
	}
}

// makeKey takes the addresses' 16 bytes, IPv4 in IPv4-mapped form, as
// big-endian words, whichever way they come, for IPv4, IPv6 and
// IPv4-mapped IPv6 (a different key from the IPv4 one).
func TestMakeKeyWords(t *testing.T) {
	ref := func(x, y netip.AddrPort) key { // As16 whole, then words
		xa, ya := x.Addr().As16(), y.Addr().As16()
		k := key{a0: binary.BigEndian.Uint64(xa[:8]), a1: binary.BigEndian.Uint64(xa[8:]),
			b0: binary.BigEndian.Uint64(ya[:8]), b1: binary.BigEndian.Uint64(ya[8:]),
			pa: x.Port(), pb: y.Port(), v6: x.Addr().Is6()}
		if k.a0 > k.b0 || k.a0 == k.b0 && (k.a1 > k.b1 || k.a1 == k.b1 && k.pa > k.pb) {
			k.a0, k.a1, k.b0, k.b1, k.pa, k.pb = k.b0, k.b1, k.a0, k.a1, k.pb, k.pa
		}
		return k
	}
	eps := []string{"127.0.0.1:1", "127.0.0.1:2", "10.0.0.2:80", "255.255.255.255:65535", "0.0.0.0:0",
		"[::1]:80", "[2001:db8::2]:3", "[::ffff:10.0.0.2]:80", "[ffff::ffff]:1", "[::]:0"}
	for _, a := range eps {
		for _, b := range eps {
			x, y := netip.MustParseAddrPort(a), netip.MustParseAddrPort(b)
			if got, want := makeKey(x, y, 0), ref(x, y); got != want {
				t.Errorf("makeKey(%v, %v) = %+v, want %+v", x, y, got, want)
			}
		}
	}
	if makeKey(netip.MustParseAddrPort("10.0.0.2:80"), netip.MustParseAddrPort("10.0.0.1:4"), 0) ==
		makeKey(netip.MustParseAddrPort("[::ffff:10.0.0.2]:80"), netip.MustParseAddrPort("[::ffff:10.0.0.1]:4"), 0) {
		t.Errorf("an IPv4 connection and its IPv4-mapped IPv6 twin share a key")
	}
}
