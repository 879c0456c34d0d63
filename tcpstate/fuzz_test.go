package tcpstate

import (
	"testing"
	"time"

	"github.com/httplife/httplife/capture"
)

// counter is a Stream that checks the call order and counts bytes.
type counter struct {
	t     *testing.T
	done  int
	bytes [2]int
	fin   [2]bool
}

func (c *counter) Data(d Dir, b []byte, _ time.Time) {
	if c.done > 0 {
		c.t.Fatalf("Data after Done")
	}
	if c.fin[d] {
		c.t.Fatalf("Data in direction %v after its FIN", d)
	}
	c.bytes[d] += len(b)
}
func (c *counter) Gap(d Dir, n int, _ time.Time) {
	if n <= 0 {
		c.t.Fatalf("Gap of %d bytes", n)
	}
}
func (c *counter) FIN(d Dir, _ time.Time) {
	if c.fin[d] {
		c.t.Fatalf("second FIN in direction %v", d)
	}
	c.fin[d] = true
}
func (c *counter) RST(Dir, time.Time) {}
func (c *counter) Done(*Conn)         { c.done++ }

// FuzzSegments feeds one connection random segments (each 6 bytes of the
// input: side, flags, a sequence and an acknowledgement offset, a payload
// length) and checks the table's promises: no panic, Done exactly once, no
// data after a FIN, bytes delivered bounded by what was sent.
func FuzzSegments(f *testing.F) {
	var seed []byte
	for _, s := range join(handshake, []seg{
		{10, true, PA, 1001, 5001, "GET", 0},
		{12, false, PA, 5001, 1004, "200", 0},
		{2000, false, F | A, 5004, 1004, "", 0},
		{2001, true, F | A, 1004, 5005, "", 0},
		{2002, false, A, 5005, 1005, "", 0},
	}) {
		side := byte(0)
		if !s.fromCli {
			side = 1
		}
		seed = append(seed, side, s.flags, byte(s.seq%256), byte(s.ack%256), byte(len(s.data)), 0)
	}
	f.Add(seed)
	f.Add([]byte{0, S, 0, 0, 0, 0, 1, S | A, 0, 1, 0, 0, 0, A, 1, 1, 0, 0, 0, PA, 1, 1, 200, 0, 0, R, 0, 0, 0, 0})
	// Reordered: the server's SYN-ACK and response (acknowledging the
	// request) before the client's SYN and request; then a response
	// acknowledging bytes never sent.
	f.Add([]byte{1, S | A, 0, 1, 0, 0, 1, PA, 1, 4, 3, 0, 0, S, 0, 0, 0, 0, 0, A, 1, 1, 0, 0, 0, PA, 1, 1, 3, 0, 1, PA, 4, 90, 9, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		var streams []*counter
		tab := NewTable(Config{MaxBuffered: 1 << 12, MaxConns: 4}, func(c *Conn) Stream {
			s := &counter{t: t}
			streams = append(streams, s)
			return s
		})
		payload := make([]byte, 256)
		for i := range payload {
			payload[i] = 'a' + byte(i%26)
		}
		t0 := time.Unix(100, 0)
		sent := [2]int{}
		for i := 0; i+6 <= len(in); i += 6 {
			b := in[i : i+6]
			seg := &capture.Segment{Time: t0.Add(time.Duration(i) * time.Millisecond), Flags: b[1],
				Seq: 1000 + uint32(b[2])*7, Ack: 5000 + uint32(b[3])*7, Payload: payload[:b[4]], PayloadLen: int(b[4]) + int(b[5]%4)}
			d := int(b[0] & 1)
			if d == 0 {
				seg.Src, seg.Dst = cli, srv
			} else {
				seg.Src, seg.Dst = srv, cli
			}
			sent[d] += seg.PayloadLen
			tab.Add(seg)
		}
		tab.Flush()
		total := 0
		for _, s := range streams {
			if s.done != 1 {
				t.Fatalf("Done called %d times", s.done)
			}
			total += s.bytes[0] + s.bytes[1]
		}
		if total > sent[0]+sent[1] {
			t.Fatalf("delivered %d bytes, only %d were sent", total, sent[0]+sent[1])
		}
		if tab.Open() != 0 {
			t.Fatalf("%d connections left after Flush", tab.Open())
		}
	})
}

// FuzzFieldSegments feeds random segments the way field captures bring
// them: copies, directions out of order, times that go backwards, several
// tunnels, cut payloads. Each segment is 8 bytes of the input: side and
// tunnel, flags, sequence and acknowledgement offsets, payload length,
// bytes cut, IP id and checksum, and a signed time step. It checks the
// table's promises: no panic, Done exactly once per stream, no data after
// a FIN, bytes delivered bounded by what was sent, holds bounded, nothing
// left after Flush.
func FuzzFieldSegments(f *testing.F) {
	enc := func(segs ...[8]byte) []byte {
		var b []byte
		for _, s := range segs {
			b = append(b, s[:]...)
		}
		return b
	}
	syn := [8]byte{0, S, 0, 0, 0, 0, 1, 1}
	synack := [8]byte{1, S | A, 0, 1, 0, 0, 2, 1}
	ack := [8]byte{0, A, 1, 1, 0, 0, 3, 1}
	req := [8]byte{0, PA, 1, 1, 21, 0, 4, 1}
	resp := [8]byte{1, PA, 1, 4, 28, 3, 5, 1}
	fin := [8]byte{1, F | A, 5, 4, 0, 0, 6, 10}
	f.Add(enc(syn, synack, ack, req, req, resp, resp, fin))                                            // every packet twice
	f.Add(enc(synack, resp, syn, ack, req, fin))                                                       // the server's direction first
	f.Add(enc(syn, [8]byte{2, S, 0, 0, 0, 0, 1, 0}, synack, [8]byte{3, S | A, 0, 1, 0, 0, 2, 1}, req)) // two tunnels
	f.Add(enc(syn, synack, ack, req, [8]byte{1, PA, 1, 4, 28, 3, 5, 0xf0}, resp, fin))                 // times backwards
	f.Add(enc(syn, [8]byte{1, PA, 1, 200, 10, 0, 9, 1}, [8]byte{1, PA, 3, 200, 10, 0, 10, 1}, ack))    // acknowledges what never comes
	tun := func(s [8]byte) [8]byte { s[0] |= 2; return s }                                             // the same in VNI 101
	f.Add(enc(tun(syn), syn, synack, tun(synack), tun(ack), ack, resp, tun(resp), fin, tun(fin)))      // bare and tunnelled copies
	f.Fuzz(func(t *testing.T, in []byte) {
		var streams []*counter
		tab := NewTable(Config{MaxBuffered: 1 << 12, MaxConns: 8}, func(c *Conn) Stream {
			s := &counter{t: t}
			streams = append(streams, s)
			return s
		})
		payload := make([]byte, 256)
		for i := range payload {
			payload[i] = 'a' + byte(i%26)
		}
		now := time.Unix(100, 0)
		sent, n := 0, 0
		for i := 0; i+8 <= len(in); i += 8 {
			b := in[i : i+8]
			now = now.Add(time.Duration(int8(b[7])) * 100 * time.Microsecond)
			seg := &capture.Segment{Time: now, Flags: b[1], Seq: 1000 + uint32(b[2])*7, Ack: 5000 + uint32(b[3])*7,
				Payload: payload[:b[4]], PayloadLen: int(b[4]) + int(b[5]%8), IPID: uint16(b[6]), TCPSum: uint16(b[6]) * 31,
				CarrierKey: []uint64{0, 101, 102, 103}[b[0]>>1&3], Window: 100}
			if b[0]&1 == 0 {
				seg.Src, seg.Dst = cli, srv
			} else {
				seg.Src, seg.Dst = srv, cli
				seg.Seq, seg.Ack = seg.Ack, seg.Seq
			}
			sent += seg.PayloadLen
			n++
			tab.Add(seg)
			for _, c := range tab.conns {
				if len(c.held) > holdMax {
					t.Fatalf("%d segments held", len(c.held))
				}
			}
		}
		tab.Flush()
		total := 0
		for _, s := range streams {
			if s.done != 1 {
				t.Fatalf("Done called %d times", s.done)
			}
			total += s.bytes[0] + s.bytes[1]
		}
		if total > sent {
			t.Fatalf("delivered %d bytes, only %d were sent", total, sent)
		}
		if st := tab.Stats(); st.Duplicates > uint64(n) {
			t.Fatalf("%d duplicates of %d segments", st.Duplicates, n)
		}
		if tab.Open() != 0 || len(tab.oneWay) != 0 || tab.heldBytes != 0 || len(tab.tunneled) != 0 || len(tab.alias) != 0 {
			t.Fatalf("after Flush: %d connections, %d one-way, %d bytes held, %d tunnelled, %d aliases",
				tab.Open(), len(tab.oneWay), tab.heldBytes, len(tab.tunneled), len(tab.alias))
		}
	})
}
