package capture

import (
	"bytes"
	"testing"
	"time"
)

// What PcapWriter writes reads back, through pcapgo and through this
// package, as the packets given: bytes, nanosecond times, wire lengths.
func TestPcapWriterRoundTrip(t *testing.T) {
	in := []struct {
		ts      time.Time
		data    string
		wireLen int
	}{
		{time.Unix(1_700_000_000, 123_456_789), "first", 5},
		{time.Unix(1_700_000_001, 1), "cut", 1500},
		{time.Unix(1_700_000_002, 999_999_999), "", 60},
	}
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, 96, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range in {
		if err := w.WritePacket(p.ts, []byte(p.data), p.wireLen); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WritePacket(time.Unix(1, 0), []byte("long"), 2); err == nil {
		t.Error("WritePacket of 4 bytes with 2 on the wire: no error")
	}
	recs := records(t, buf.Bytes())
	if len(recs) != len(in) {
		t.Fatalf("pcapgo read %d packets, want %d", len(recs), len(in))
	}
	for i, p := range in {
		r := recs[i]
		if string(r.data) != p.data || !r.ci.Timestamp.Equal(p.ts) || r.ci.Length != p.wireLen || r.link != 1 {
			t.Errorf("packet %d: pcapgo read %q %v wire %d link %d; want %q %v wire %d link 1",
				i+1, r.data, r.ci.Timestamp, r.ci.Length, r.link, p.data, p.ts, p.wireLen)
		}
	}
	src, err := OpenReader("written.pcap", bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := src.Next(); err != nil {
			break
		}
	}
	st := src.Stats()
	if st.Packets != uint64(len(in)) || st.Format != "pcap" || !st.FirstPacketAt.Equal(in[0].ts) || !st.LastPacketAt.Equal(in[2].ts) {
		t.Errorf("read back: %d packets, format %s, first %v, last %v; want %d, pcap, %v, %v",
			st.Packets, st.Format, st.FirstPacketAt, st.LastPacketAt, len(in), in[0].ts, in[2].ts)
	}
}
