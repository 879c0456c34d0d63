package evidence

import (
	"net/netip"
	"testing"
	"time"

	"github.com/httplife/httplife/capture"
)

// A SYN flood (300,000 connections of one packet, none ever ending) keeps
// the recorder's heap near what it accounts, under MaxMemory.
func TestSYNFloodBounded(t *testing.T) {
	rec, err := New(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	before := heapInUse()
	now := time.Unix(1700000000, 0)
	dst := netip.MustParseAddrPort("192.0.2.1:80")
	for i := 0; i < 300000; i++ {
		seg := capture.Segment{Time: now, Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 1000),
			Dst: dst, Flags: capture.SYN}
		rec.Segment(&seg)
	}
	grew := int64(heapInUse()) - int64(before)
	st := rec.Stats()
	t.Logf("%d connections followed, %d MiB accounted, heap grew %d MiB, %d let go", len(rec.flows), st.Memory>>20, grew>>20, st.Evicted)
	if len(rec.flows) > DefaultMaxFlows || st.Memory > DefaultMaxMemory {
		t.Errorf("%d connections, %d bytes held: caps %d, %d", len(rec.flows), st.Memory, DefaultMaxFlows, DefaultMaxMemory)
	}
	if grew > 2*DefaultMaxMemory {
		t.Errorf("heap grew %d MiB for %d MiB accounted", grew>>20, st.Memory>>20)
	}
	rec.Close()
}
