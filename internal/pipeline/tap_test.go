package pipeline_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/pipeline"
	"github.com/httplife/httplife/tcpstate"
)

// countingTap notes the segments of each 4-tuple and each connection's
// end.
type countingTap struct {
	segs     int
	open     map[[2]netip.AddrPort]int // segments since the tuple's last Done
	done     map[int]int               // connection id -> its segments
	afterEnd int                       // segments of a tuple right after its Done that open nothing
}

func tuple(a, b netip.AddrPort) [2]netip.AddrPort {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return [2]netip.AddrPort{a, b}
}

func (t *countingTap) Segment(seg *capture.Segment) {
	t.segs++
	t.open[tuple(seg.Src, seg.Dst)]++
}

func (t *countingTap) Done(c *tcpstate.Conn) {
	k := tuple(c.Sides[0].Addr, c.Sides[1].Addr)
	t.done[c.ID] = t.open[k]
	delete(t.open, k)
}

// The Tap sees every segment the table took (none it filtered or found
// late) and each connection's end before its record; Observe sees every
// record, in emit's order, with and without Lines.
func TestTapAndObserve(t *testing.T) {
	var segs, filtered, late uint64
	for _, p := range append(captures(t), lateCapture(t)) {
		for i, seq := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/sequential=%v", filepath.Base(p), seq), func(t *testing.T) {
				src, err := capture.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				tap := &countingTap{open: map[[2]netip.AddrPort]int{}, done: map[int]int{}}
				var observed, emitted []int
				cfg := pipeline.Config{TCP: tcpstate.DefaultConfig(), Sequential: seq, Tap: tap,
					Observe: func(c *httpflow.Connection) { observed = append(observed, c.ID) }}
				if i == 1 {
					cfg.TCP.Ports = map[uint16]bool{80: true, 8080: true, 18350: true} // some segments filtered
				}
				res, err := pipeline.Run(src, cfg, func(c *httpflow.Connection) {
					emitted = append(emitted, c.ID)
					if _, ok := tap.done[c.ID]; !ok {
						t.Errorf("record %d emitted before the Tap saw its end", c.ID)
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				st := src.Stats()
				segs, filtered, late = segs+uint64(tap.segs), filtered+res.Table.Filtered, late+res.Table.Late
				if want := int(st.TCPPackets - res.Table.Filtered - res.Table.Late); tap.segs != want {
					t.Errorf("Tap saw %d segments, want %d (TCP %d, filtered %d, late %d)", tap.segs, want, st.TCPPackets, res.Table.Filtered, res.Table.Late)
				}
				if len(tap.done) != len(emitted) {
					t.Errorf("Tap saw %d ends, %d records were emitted", len(tap.done), len(emitted))
				}
				if fmt.Sprint(observed) != fmt.Sprint(emitted) {
					t.Errorf("Observe saw %v, emit %v", observed, emitted)
				}
				for id, n := range tap.done {
					if n == 0 {
						t.Errorf("connection %d ended with no segment seen", id)
					}
				}
			})
		}
	}
	if segs == 0 || filtered == 0 || late == 0 {
		t.Errorf("segments seen %d, filtered %d, late %d: want some of each", segs, filtered, late)
	}
	// With Lines the tail's records reach Observe (and not emit); sharded
	// too. A Tap keeps a run from being sharded: it still sees everything.
	for _, shards := range []int{-1, 3} {
		for _, tapped := range []bool{false, true} {
			src, err := capture.Open("../../samples/client-rst-race.pcap")
			if err != nil {
				t.Fatal(err)
			}
			observed, written := 0, 0
			cfg := pipeline.Config{TCP: tcpstate.DefaultConfig(), Transient: true, Shards: shards, Observe: func(*httpflow.Connection) { observed++ },
				Lines: &pipeline.Lines{
					NewEncoder: func() func([]byte, *httpflow.Connection) ([]byte, error) {
						return func(b []byte, _ *httpflow.Connection) ([]byte, error) {
							return append(b, '{', '"', 'i', 'd', '"', ':', '1', '}'), nil
						}
					},
					Write: func([]byte, error) { written++ },
				}}
			tap := &countingTap{open: map[[2]netip.AddrPort]int{}, done: map[int]int{}}
			if tapped {
				cfg.Tap = tap
			}
			emitted := 0
			res, err := pipeline.Run(src, cfg, func(*httpflow.Connection) { emitted++ })
			src.Close()
			if err != nil {
				t.Fatal(err)
			}
			if observed != res.Summary.Connections || observed != emitted+written || observed != 10 {
				t.Errorf("shards %d, tap %v, with Lines: observed %d, emitted %d + written %d, summary %d", shards, tapped, observed, emitted, written, res.Summary.Connections)
			}
			if tapped && (len(tap.done) != 10 || tap.segs != 102) {
				t.Errorf("shards %d: the Tap saw %d ends and %d segments, want 10 and 102", shards, len(tap.done), tap.segs)
			}
		}
	}
}

// lateCapture writes a connection that closes, then, 3 s later (in its
// TIME_WAIT), a retransmission of the client's last ACK: a late segment.
func lateCapture(tb testing.TB) string {
	tb.Helper()
	var buf bytes.Buffer
	w, err := capture.NewPcapWriter(&buf, 65535, 101) // raw IP
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	seq := [2]uint32{1000, 9000}
	packet := func(from int, flags byte, payload string, after time.Duration) {
		p := make([]byte, 40+len(payload))
		p[0], p[8], p[9] = 0x45, 64, 6
		binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
		addr := [2][4]byte{{10, 0, 0, 1}, {10, 0, 0, 2}}
		copy(p[12:16], addr[from][:])
		copy(p[16:20], addr[1-from][:])
		ports := [2]uint16{40000, 80}
		binary.BigEndian.PutUint16(p[20:], ports[from])
		binary.BigEndian.PutUint16(p[22:], ports[1-from])
		binary.BigEndian.PutUint32(p[24:], seq[from])
		binary.BigEndian.PutUint32(p[28:], seq[1-from])
		p[32], p[33] = 5<<4, flags
		binary.BigEndian.PutUint16(p[34:], 65535)
		copy(p[40:], payload)
		now = now.Add(after)
		if err := w.WritePacket(now, p, len(p)); err != nil {
			tb.Fatal(err)
		}
		seq[from] += uint32(len(payload))
		if flags&0x03 != 0 { // SYN, FIN
			seq[from]++
		}
	}
	ms := time.Millisecond
	packet(0, 0x02, "", ms)
	packet(1, 0x12, "", ms)
	packet(0, 0x10, "", ms)
	packet(0, 0x18, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ms)
	packet(1, 0x18, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", ms)
	packet(0, 0x11, "", 100*ms) // client FIN
	packet(1, 0x11, "", ms)
	packet(0, 0x10, "", ms)
	seq[0]--
	packet(0, 0x10, "", 3*time.Second) // late
	seq[0]++
	path := filepath.Join(tb.TempDir(), "late.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}
