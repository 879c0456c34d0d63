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
