package evidence

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/tcpstate"
)

// driver plays connections straight into a Recorder, as the pipeline
// would: segments, the end, the record.
type driver struct {
	rec  *Recorder
	now  time.Time
	step time.Duration // between packets (0: 20 µs)
	seg  capture.Segment
	pay  []byte
}

func (d *driver) packet(src, dst netip.AddrPort, flags uint8, n int) {
	if d.step == 0 {
		d.step = 20 * time.Microsecond
	}
	d.now = d.now.Add(d.step)
	d.seg = capture.Segment{Time: d.now, Src: src, Dst: dst, Flags: flags, Seq: 1, Payload: d.pay[:n], PayloadLen: n}
	d.rec.Segment(&d.seg)
}

func (d *driver) end(id int, client, server netip.AddrPort, reason httpflow.Reason, rst httpflow.Side) {
	var c tcpstate.Conn
	c.ID = id
	c.Sides[0].Addr, c.Sides[1].Addr = client, server
	d.rec.Done(&c)
	r := httpflow.Connection{ID: id, Client: client, Server: server, FirstPacketAt: d.now, LastPacketAt: d.now}
	r.Close.Reason, r.Close.RstBy = reason, rst
	if rst != httpflow.NoSide {
		r.Close.RstAt = d.now
	}
	d.rec.Record(&r)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// Under load (100,000 connections at 5,000 a second of packet time, 2,000
// open at once, one in a hundred reset) the packets held stay under
// MaxMemory, the heap stays flat, the directory under MaxDisk, and every
// incident is written or counted as dropped.
func TestMemoryFlatUnderLoad(t *testing.T) {
	const (
		conns   = 100_000
		open    = 2000
		memCap  = 4 << 20
		diskCap = 2 << 20
	)
	dir := t.TempDir()
	rec, err := New(Config{Dir: dir, On: mustTriggers(t, "reset"), MaxMemory: memCap, MaxDisk: diskCap})
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{rec: rec, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), pay: make([]byte, 1460)}
	server := netip.MustParseAddrPort("192.0.2.1:80")
	client := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(1024+i%60000))
	}
	var base uint64
	maxMem := int64(0)
	step := 0
	for i := 0; i < conns+open; i++ {
		if i < conns { // open connection i: handshake and a request
			c := client(i)
			d.packet(c, server, capture.SYN, 0)
			d.packet(server, c, capture.SYN|capture.ACK, 0)
			d.packet(c, server, capture.ACK, 0)
			d.packet(c, server, capture.ACK|capture.PSH, 300)
		}
		if j := i - open/2; j >= 0 && j < conns { // connection j answers
			c := client(j)
			for k := 0; k < 6; k++ {
				d.packet(server, c, capture.ACK, 1460)
			}
			d.packet(c, server, capture.ACK, 0)
		}
		if j := i - open; j >= 0 { // connection j ends
			c := client(j)
			reason, rst := httpflow.ReasonServerIdleTimeout, httpflow.NoSide
			if j%100 == 0 {
				d.packet(server, c, capture.RST, 0)
				reason, rst = httpflow.ReasonReset, httpflow.Server
			} else {
				d.packet(server, c, capture.FIN|capture.ACK, 0)
				d.packet(c, server, capture.FIN|capture.ACK, 0)
			}
			d.end(j+1, c, server, reason, rst)
		}
		maxMem = max(maxMem, rec.mem.Load())
		if i%10000 == 0 {
			rec.Tick(d.now)
			step++
			if step == 3 {
				base = heapInUse()
			}
		}
	}
	end := heapInUse()
	st := rec.Close()
	t.Logf("stats %+v; heap %d MiB after 20k connections, %d MiB at the end; packet time %v",
		st, base>>20, end>>20, d.now.Sub(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)))
	if limit := int64(memCap + DefaultRing*(pktOverhead+DefaultSnap)); maxMem > limit || st.PeakMemory > limit {
		t.Errorf("packets held peaked at %d bytes (stats %d), cap %d", maxMem, st.PeakMemory, memCap)
	}
	if st.Evicted == 0 {
		t.Errorf("no connection let go: the memory cap was never reached (stats %+v)", st)
	}
	if end > base+16<<20 {
		t.Errorf("heap grew from %d MiB to %d MiB", base>>20, end>>20)
	}
	if got := dirBytes(t, dir); got > diskCap {
		t.Errorf("evidence takes %d bytes, cap %d", got, diskCap)
	}
	if st.Incidents != conns/100 || st.Written+st.Dropped != st.Incidents || st.Written == 0 {
		t.Errorf("stats %+v: want %d incidents, each written or dropped", st, conns/100)
	}
	if st.Memory != 0 {
		t.Errorf("%d bytes still held after Close", st.Memory)
	}
}

// A hostile scan, a million server ports each answered by a RST (every
// one an incident with --evidence-on reset), leaves a directory under
// MaxDisk with a bounded number of files, and the recorder's memory of it
// all let go.
func TestHostileScanBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a million connections")
	}
	dir := t.TempDir()
	const diskCap = 1 << 20
	rec, err := New(Config{Dir: dir, On: mustTriggers(t, "reset"), MaxDisk: diskCap})
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{rec: rec, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), pay: make([]byte, 0), step: 100 * time.Microsecond}
	client := netip.MustParseAddrPort("198.51.100.7:40000")
	const n = 1_000_000
	for i := 0; i < n; i++ {
		server := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, byte(2 + i>>16), 1}), uint16(i))
		d.packet(client, server, capture.SYN, 0)
		d.packet(server, client, capture.RST|capture.ACK, 0)
		d.end(i+1, client, server, httpflow.ReasonReset, httpflow.Server)
		if i%50000 == 0 {
			rec.Tick(d.now)
		}
	}
	st := rec.Close()
	names := files(t, dir)
	minutes := int(d.now.Sub(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)).Minutes()) + 1
	t.Logf("stats %+v; %d files over %d minutes of packet time", st, len(names), minutes)
	if got := dirBytes(t, dir); got > diskCap {
		t.Errorf("evidence takes %d bytes, cap %d", got, diskCap)
	}
	if max := minutes * 2 * (DefaultPerMinute + 1); len(names) > max {
		t.Errorf("%d files, want at most %d (%d minutes)", len(names), max, minutes)
	}
	shared, reports := 0, 0
	for _, f := range names {
		if strings.HasSuffix(f, "_minute.pcap") {
			shared++
		}
		if strings.HasSuffix(f, "_minute.html") {
			reports++
		}
	}
	// The oldest minutes went to make room; the last ones are there, each
	// with its report, which says how many the full file could not take.
	if shared == 0 || reports != shared {
		t.Errorf("%d shared pcaps and %d reports over %d minutes: %v", shared, reports, minutes, names)
	}
	last := strings.TrimSuffix(names[len(names)-1], ".pcap") + ".html" // "…_minute.html" sorts before "….pcap"
	if html, err := os.ReadFile(filepath.Join(dir, last)); err != nil || !strings.HasSuffix(last, "_minute.html") ||
		!regexp.MustCompile(`\d+ more incidents of this minute are not in the file`).Match(html) {
		t.Errorf("the last file %s (%v) is not a minute's report saying how many incidents were not kept", last, err)
	}
	if st.Incidents != n || st.Written+st.Dropped != n || st.Memory != 0 || len(rec.flows) != 0 || len(rec.sealed) != 0 {
		t.Errorf("stats %+v, flows %d, sealed %d: want %d incidents, all accounted for, nothing held", st, len(rec.flows), len(rec.sealed), n)
	}
}

// A long connection keeps its first packets and its latest: the pcap
// holds Head+Ring of them, and the report says how many it saw.
func TestRingKeepsHeadAndTail(t *testing.T) {
	dir := t.TempDir()
	rec, err := New(Config{Dir: dir, On: mustTriggers(t, "reset"), Head: 3, Ring: 10, Snap: 100})
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{rec: rec, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), pay: make([]byte, 1460)}
	c, s := netip.MustParseAddrPort("10.0.0.1:5000"), netip.MustParseAddrPort("[2001:db8::80]:80")
	c = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), 5000)
	for i := 0; i < 1000; i++ {
		d.seg = capture.Segment{}
		d.now = d.now.Add(time.Millisecond)
		seg := capture.Segment{Time: d.now, Src: c, Dst: s, Flags: capture.ACK, Seq: uint32(i * 1460), Payload: d.pay, PayloadLen: 1460}
		rec.Segment(&seg)
	}
	d.packet(s, c, capture.RST, 0)
	d.end(7, c, s, httpflow.ReasonReset, httpflow.Server)
	st := rec.Close()
	if st.Written != 1 {
		t.Fatalf("stats %+v", st)
	}
	var pcap string
	for _, f := range files(t, dir) {
		if strings.HasSuffix(f, ".pcap") {
			pcap = f
		}
	}
	if !strings.Contains(pcap, "_2001-db8--80_80_reset_c7") {
		t.Errorf("pcap name %q: want the IPv6 server in it", pcap)
	}
	src, err := capture.Open(dir + "/" + pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var seqs []uint32
	for {
		seg, err := src.Next()
		if err != nil {
			break
		}
		if len(seg.Payload) > 100 || seg.PayloadLen != 1460 && seg.Flags&capture.RST == 0 {
			t.Errorf("segment %d: %d bytes kept of %d, want 100 of 1460", seg.N, len(seg.Payload), seg.PayloadLen)
		}
		seqs = append(seqs, seg.Seq)
	}
	want := []uint32{0, 1460, 2920}
	for i := 991; i < 1000; i++ {
		want = append(want, uint32(i*1460))
	}
	want = append(want, 1) // the RST
	if fmt.Sprint(seqs) != fmt.Sprint(want) {
		t.Errorf("sequence numbers kept %v, want %v", seqs, want)
	}
}
