package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestOpenErrors checks the errors for input that is no capture at all.
func TestOpenErrors(t *testing.T) {
	pcapHdr := writePcap(t, nil, pcapOpts{})
	badVersion := slices.Clone(pcapHdr)
	badVersion[4] = 9
	cases := []struct {
		name, data string
		msg        string
		reason     error
	}{
		{"empty.pcap", "", "empty.pcap: empty file", ErrEmpty},
		{"capture.pcap", "<html><body>", "capture.pcap: not a pcap or pcapng file (magic 3c68746d)", ErrNotCapture},
		{"short.pcap", "\xd4\xc3", "short.pcap: not a pcap or pcapng file (only 2 bytes)", ErrNotCapture},
		{"head.pcap", string(pcapHdr[:20]), "head.pcap: truncated pcap file header (20 of 24 bytes)", ErrNotCapture},
		{"version.pcap", string(badVersion), "version.pcap: unsupported pcap version 9.4", ErrNotCapture},
		{"ng.pcapng", "\x0a\x0d\x0d\x0a\x1c\x00\x00\x00", "ng.pcapng: truncated pcapng section header", ErrNotCapture},
		{"ngmagic.pcapng", "\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x01\x02\x03\x04", "ngmagic.pcapng: bad pcapng section header", ErrNotCapture},
		{"empty.gz", string(gzipBytes(t, nil)), "empty.gz: empty file (gzip-compressed)", ErrEmpty},
		{"text.gz", string(gzipBytes(t, []byte("hello world"))), "text.gz: gzip: not a pcap or pcapng file (magic 68656c6c)", ErrNotCapture},
		{"bad.gz", "\x1f\x8b\x08\x00garbage", "bad.gz: bad gzip data", nil},
		{"empty.zst", string(zstdBytes(t, nil)), "empty.zst: empty file (zstd-compressed)", ErrEmpty},
		{"text.zst", string(zstdBytes(t, []byte("hello world"))), "text.zst: zstd: not a pcap or pcapng file (magic 68656c6c)", ErrNotCapture},
		{"bad.zst", "\x28\xb5\x2f\xfdgarbage", "bad.zst: bad zstd data", nil},
		{"empty.lz4", string(lz4Bytes(t, nil)), "empty.lz4: empty file (lz4-compressed)", ErrEmpty},
		{"text.lz4", string(lz4Bytes(t, []byte("hello world"))), "text.lz4: lz4: not a pcap or pcapng file (magic 68656c6c)", ErrNotCapture},
		{"bad.lz4", "\x04\x22\x4d\x18garbage", "bad.lz4: bad lz4 data", nil},
		{"-", "", "stdin: empty file", ErrEmpty},
	}
	for _, c := range cases {
		src, err := OpenReader(c.name, strings.NewReader(c.data))
		if err == nil {
			src.Close()
			t.Errorf("OpenReader(%q, %q): no error, want %q", c.name, c.data, c.msg)
			continue
		}
		if !errors.Is(err, ErrOpen) || !strings.HasPrefix(err.Error(), c.msg) {
			t.Errorf("OpenReader(%q, %q) = %q, want ErrOpen with message %q", c.name, c.data, err, c.msg)
		}
		if c.reason != nil && !errors.Is(err, c.reason) {
			t.Errorf("OpenReader(%q): %v does not match %v", c.name, err, c.reason)
		}
	}
	_, err := OpenReader("io.pcap", &errReader{err: errDisk})
	if !errors.Is(err, ErrOpen) || !errors.Is(err, errDisk) {
		t.Errorf("OpenReader on a failing reader = %v, want ErrOpen wrapping %v", err, errDisk)
	}
}

// boundaries returns, for a plain pcap or pcapng file, the offsets where a
// cut leaves whole blocks (file header, records) and the end offset of each
// packet record.
func boundaries(t testing.TB, data []byte) (whole map[int]bool, packetEnds []int, headerLen int) {
	whole = map[int]bool{}
	if bytes.HasPrefix(data, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		order := binary.ByteOrder(binary.LittleEndian)
		if binary.BigEndian.Uint32(data[8:]) == 0x1a2b3c4d {
			order = binary.BigEndian
		}
		for off := 0; off+8 <= len(data); {
			typ, n := order.Uint32(data[off:]), int(order.Uint32(data[off+4:]))
			if off == 0 {
				headerLen = n
			}
			off += n
			whole[off] = true
			if typ == 6 || typ == 3 || typ == 2 {
				packetEnds = append(packetEnds, off)
			}
		}
		return whole, packetEnds, headerLen
	}
	whole[24] = true
	for off := 24; off+16 <= len(data); {
		off += 16 + int(binary.LittleEndian.Uint32(data[off+8:]))
		whole[off] = true
		packetEnds = append(packetEnds, off)
	}
	return whole, packetEnds, 24
}

// TestTruncatedFiles cuts corpus files at every offset in the first few
// hundred bytes and at a sample of later ones: the packets before the cut
// are read exactly as from the whole file, and a warning names the last
// one; nothing panics.
func TestTruncatedFiles(t *testing.T) {
	for _, name := range []string{"client-closes.pcap", "pcapng.pcapng", "ipv6.pcap", "linux-any.pcap"} {
		data := corpusFile(t, name)
		full := mustRead(t, name, data)
		whole, ends, hdr := boundaries(t, data)
		var offsets []int
		for off := 0; off < len(data); off++ {
			if off < 600 || off%37 == 0 || whole[off] || whole[off+1] || whole[off-1] {
				offsets = append(offsets, off)
			}
		}
		for _, off := range offsets {
			cut := data[:off]
			r, err := readBytes(t, name, cut)
			if off < hdr {
				if !errors.Is(err, ErrOpen) {
					t.Errorf("%s cut at %d (inside the file header): err %v, want ErrOpen", name, off, err)
				}
				continue
			}
			if err != nil || r.err != nil {
				t.Errorf("%s cut at %d: open %v, read %v; want a clean end", name, off, err, r.err)
				continue
			}
			n := 0
			for n < len(ends) && ends[n] <= off {
				n++
			}
			if r.stats.Packets != uint64(n) {
				t.Errorf("%s cut at %d: %d packets, want %d", name, off, r.stats.Packets, n)
			}
			wantSegs := full.segs[:0:0]
			for _, s := range full.segs {
				if s.N <= uint64(n) {
					wantSegs = append(wantSegs, s)
				}
			}
			if err := diffSegs(r.segs, wantSegs); err != nil {
				t.Errorf("%s cut at %d: %v", name, off, err)
			}
			warn := fmt.Sprintf("%s: file truncated after packet %d", name, n)
			if whole[off] {
				if len(r.stats.Warnings) != 0 {
					t.Errorf("%s cut at %d (a block boundary): warnings %q, want none", name, off, r.stats.Warnings)
				}
			} else if !slices.Equal(r.stats.Warnings, []string{warn}) {
				t.Errorf("%s cut at %d: warnings %q, want [%q]", name, off, r.stats.Warnings, warn)
			}
			if r.stats.Bytes != uint64(off) {
				t.Errorf("%s cut at %d: Bytes = %d, want %d", name, off, r.stats.Bytes, off)
			}
		}
	}
}

// TestTruncatedCompressed cuts gzip'd, zstd'd and LZ4'd captures: the
// segments read are a prefix of the whole file's, and the stream ends
// with a warning, not an error.
func TestTruncatedCompressed(t *testing.T) {
	packers := []struct {
		ext  string
		pack func(testing.TB, []byte) []byte
	}{{".gz", gzipBytes}, {".zst", zstdBytes}, {".lz4", lz4Bytes}}
	for _, name := range []string{"client-closes.pcap", "pcapng.pcapng"} {
		data := corpusFile(t, name)
		full := mustRead(t, name, data)
		for _, p := range packers {
			z, zname := p.pack(t, data), name+p.ext
			for off := 0; off < len(z); off += 1 + off/50 {
				r, err := readBytes(t, zname, z[:off])
				if err != nil {
					if !errors.Is(err, ErrOpen) {
						t.Errorf("%s cut at %d: open error %v is not ErrOpen", zname, off, err)
					}
					continue
				}
				if r.err != nil {
					t.Errorf("%s cut at %d: read error %v, want a warning", zname, off, r.err)
				}
				if len(r.segs) > len(full.segs) {
					t.Fatalf("%s cut at %d: more segments than the whole file", zname, off)
				}
				if err := diffSegs(r.segs, full.segs[:len(r.segs)]); err != nil {
					t.Errorf("%s cut at %d: %v", zname, off, err)
				}
				if len(r.stats.Warnings) != 1 || !strings.Contains(r.stats.Warnings[0], fmt.Sprintf("after packet %d", r.stats.Packets)) {
					t.Errorf("%s cut at %d: warnings %q, want one naming packet %d", zname, off, r.stats.Warnings, r.stats.Packets)
				}
			}
		}
	}
}

// TestSnaplenCut rewrites captures with a small caplen: payloads come back
// cut (Truncated), headers identical; cut headers are counted and warned
// about, with the warnings capped.
func TestSnaplenCut(t *testing.T) {
	for _, name := range []string{"browser-like.pcap", "ipv6.pcap", "linux-any.pcap", "pcapng.pcapng"} {
		data := corpusFile(t, name)
		full := mustRead(t, name, data)
		recs := records(t, data)
		for _, format := range []string{"pcap", "pcapng"} {
			cut96 := writePcap(t, recs, pcapOpts{nanos: true, snaplen: 96, caplen: 96})
			if format == "pcapng" {
				var cr []record
				for _, r := range recs {
					r.ci.Length = len(r.data)
					r.data = r.data[:min(len(r.data), 96)]
					r.ci.CaptureLength = len(r.data)
					cr = append(cr, r)
				}
				cut96 = writePcapng(t, cr)
			}
			label := name + "→caplen96." + format
			r := mustRead(t, label, cut96)
			if len(r.segs) != len(full.segs) || len(r.stats.Warnings) != 0 {
				t.Fatalf("%s: %d segments, warnings %q; want %d, none", label, len(r.segs), r.stats.Warnings, len(full.segs))
			}
			var truncated uint64
			for i, s := range r.segs {
				w := full.segs[i]
				if !strings.HasPrefix(w.Payload, s.Payload) || s.PayloadLen != w.PayloadLen {
					t.Errorf("%s: segment %d payload %d/%d bytes, want a prefix of %d/%d", label, i, len(s.Payload), s.PayloadLen, len(w.Payload), w.PayloadLen)
				}
				if len(s.Payload) < s.PayloadLen {
					truncated++
				} else if s.Payload != w.Payload {
					t.Errorf("%s: segment %d not truncated but payload differs", label, i)
				}
				s.Payload = w.Payload
				if err := diffSegs([]seg{s}, []seg{w}); err != nil {
					t.Errorf("%s: %v", label, err)
				}
			}
			if truncated == 0 || r.stats.TruncatedPayloads != truncated {
				t.Errorf("%s: TruncatedPayloads = %d, %d segments truncated; want equal and > 0", label, r.stats.TruncatedPayloads, truncated)
			}
		}

		// Cut inside the TCP header: every packet is skipped as truncated.
		label := name + "→caplen40"
		r := mustRead(t, label, writePcap(t, recs, pcapOpts{nanos: true, snaplen: 40, caplen: 40}))
		n := uint64(len(recs))
		if len(r.segs) != 0 || r.stats.Skipped.Truncated != n || r.stats.Packets != n {
			t.Errorf("%s: %d segments, %+v; want 0 segments, %d truncated", label, len(r.segs), r.stats.Skipped, n)
		}
		ws := r.stats.Warnings
		if want := min(n, maxWarnings); uint64(len(ws)) < want || !strings.HasPrefix(ws[0], "packet 1: ") || !strings.Contains(ws[0], "cut by the snaplen") {
			t.Errorf("%s: warnings %q, want %d starting with packet 1 cut by the snaplen", label, ws, want)
		}
		if n > maxWarnings {
			last := fmt.Sprintf("... and %d more packets with headers cut by the snaplen", n-maxWarnings)
			if len(ws) != maxWarnings+1 || ws[maxWarnings] != last {
				t.Errorf("%s: %d warnings ending %q, want %d ending %q", label, len(ws), ws[len(ws)-1], maxWarnings+1, last)
			}
		}
	}
}

// TestGarbageInPacket overwrites packet headers with garbage: a warning names
// the packet, the following packets are still read.
func TestGarbageInPacket(t *testing.T) {
	data := corpusFile(t, "keepalive-race.pcap")
	full := mustRead(t, "keepalive-race.pcap", data)
	_, ends, _ := boundaries(t, data)
	bad := slices.Clone(data)
	spoil := []int{5, 77, 200}
	for _, k := range spoil {
		start := 24
		if k > 1 {
			start = ends[k-2]
		}
		copy(bad[start+16+14:], bytes.Repeat([]byte{0xff}, 8)) // the IP header after Ethernet
	}
	r := mustRead(t, "garbage.pcap", bad)
	var want []seg
	for _, s := range full.segs {
		if !slices.Contains(spoil, int(s.N)) {
			want = append(want, s)
		}
	}
	if err := diffSegs(r.segs, want); err != nil {
		t.Errorf("garbage.pcap: %v", err)
	}
	if r.stats.Packets != full.stats.Packets || r.stats.Skipped.Undecodable != 3 {
		t.Errorf("garbage.pcap: %d packets, %+v; want %d, 3 undecodable", r.stats.Packets, r.stats.Skipped, full.stats.Packets)
	}
	for i, k := range spoil {
		want := fmt.Sprintf("packet %d: undecodable: bad IP version 15", k)
		if i >= len(r.stats.Warnings) || !strings.HasPrefix(r.stats.Warnings[i], want) {
			t.Errorf("garbage.pcap: warnings %q, want #%d to start with %q", r.stats.Warnings, i, want)
		}
	}
}

// TestCorruptRecordHeader gives a record a bogus length: reading stops there
// with a warning, everything before is kept.
func TestCorruptRecordHeader(t *testing.T) {
	data := corpusFile(t, "keepalive-race.pcap")
	full := mustRead(t, "keepalive-race.pcap", data)
	_, ends, _ := boundaries(t, data)
	for _, caplen := range []uint32{0xffffffff, 0x7fffffff, 262145, 1 << 24} {
		bad := slices.Clone(data)
		binary.LittleEndian.PutUint32(bad[ends[9]+8:], caplen) // record of packet 11
		r := mustRead(t, "corrupt.pcap", bad)
		if err := diffSegs(r.segs, full.segs[:10]); err != nil {
			t.Errorf("corrupt.pcap (caplen %d): %v", caplen, err)
		}
		want := fmt.Sprintf("corrupt.pcap: packet 11: corrupt record header (captured length %d > 262144); stopped reading", caplen)
		if !slices.Equal(r.stats.Warnings, []string{want}) {
			t.Errorf("corrupt.pcap (caplen %d): warnings %q, want [%q]", caplen, r.stats.Warnings, want)
		}
	}

	// A bogus length that fits: the records after it are misaligned; the
	// reader must not panic and must keep the first 10.
	bad := slices.Clone(data)
	binary.LittleEndian.PutUint32(bad[ends[9]+8:], 1000)
	r := mustRead(t, "misaligned.pcap", bad)
	if err := diffSegs(r.segs[:10], full.segs[:10]); err != nil {
		t.Errorf("misaligned.pcap: %v", err)
	}

	// pcapng: a corrupt block length ends the stream with a warning.
	ng := corpusFile(t, "pcapng.pcapng")
	nfull := mustRead(t, "pcapng.pcapng", ng)
	_, nends, _ := boundaries(t, ng)
	for _, blen := range []uint32{0, 4, 13, 0xfffffff0} {
		bad := slices.Clone(ng)
		binary.LittleEndian.PutUint32(bad[nends[4]+4:], blen) // block of packet 6
		r := mustRead(t, "corrupt.pcapng", bad)
		if len(r.segs) < 5 || diffSegs(r.segs[:5], nfull.segs[:5]) != nil {
			t.Errorf("corrupt.pcapng (block length %d): %d segments, want the first 5 intact", blen, len(r.segs))
		}
		if len(r.stats.Warnings) == 0 {
			t.Errorf("corrupt.pcapng (block length %d): no warning", blen)
		}
	}
}

// TestWarningsCap feeds many undecodable packets: at most maxWarnings are
// kept, plus one summary line.
func TestWarningsCap(t *testing.T) {
	var recs []record
	for i := range 1234 {
		d := []byte{0x75, 0, 0, 40, 1, 2, 3, 4}
		recs = append(recs, record{data: d, ci: gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i)), CaptureLength: len(d), Length: len(d)}, link: layers.LinkTypeRaw})
	}
	r := mustRead(t, "hostile.pcap", writePcap(t, recs, pcapOpts{nanos: true}))
	ws := r.stats.Warnings
	if len(ws) != maxWarnings+1 || ws[0] != "packet 1: undecodable: bad IP version 7" ||
		ws[maxWarnings] != fmt.Sprintf("... and %d more undecodable packets", 1234-maxWarnings) {
		t.Errorf("hostile.pcap: %d warnings, first %q, last %q", len(ws), ws[0], ws[len(ws)-1])
	}
	if r.stats.Skipped.Undecodable != 1234 {
		t.Errorf("hostile.pcap: %+v, want 1234 undecodable", r.stats.Skipped)
	}
}

// TestIOError: a failing input ends Next with an error wrapping the cause,
// after the packets read before it.
func TestIOError(t *testing.T) {
	data := corpusFile(t, "client-closes.pcap")
	full := mustRead(t, "client-closes.pcap", data)
	for _, gz := range []bool{false, true} {
		in := data
		if gz {
			in = gzipBytes(t, data)
		}
		src, err := OpenReader("disk.pcap", &errReader{data: in[:len(in)-100], err: errDisk})
		if err != nil {
			t.Fatal(err)
		}
		r := drain(t, src)
		if !errors.Is(r.err, errDisk) || !strings.HasPrefix(r.err.Error(), "disk.pcap: read: ") {
			t.Errorf("disk.pcap (gzip %v): read error %v, want one wrapping %v", gz, r.err, errDisk)
		}
		if len(r.segs) == 0 || diffSegs(r.segs, full.segs[:len(r.segs)]) != nil {
			t.Errorf("disk.pcap (gzip %v): %d segments, want a non-empty prefix of the file's", gz, len(r.segs))
		}
	}
}

// TestCaplenBeyondSnaplen accepts records longer than the header's snaplen
// (writers that do not cut), as libpcap does, and large snaplens.
func TestCaplenBeyondSnaplen(t *testing.T) {
	data := corpusFile(t, "browser-like.pcap")
	full := mustRead(t, "browser-like.pcap", data)
	recs := records(t, data)
	for _, snap := range []uint32{64, 1500, 65535, 262144, 0xffffffff} {
		name := fmt.Sprintf("snaplen%d.pcap", snap)
		r := mustRead(t, name, writePcap(t, recs, pcapOpts{snaplen: snap}))
		if err := diffSegs(r.segs, full.segs); err != nil || len(r.stats.Warnings) != 0 {
			t.Errorf("%s: %v, warnings %q", name, err, r.stats.Warnings)
		}
	}
	// A packet bigger than the read buffer.
	big := make([]byte, 14+20+20+3*bufSize/2)
	copy(big, ether(t, layers.EthernetTypeIPv4, ipv4TCP(t)))
	binary.BigEndian.PutUint16(big[14+2:], 0) // TSO: length from the capture
	for i := 14 + 40; i < len(big); i++ {
		big[i] = byte(i)
	}
	recs = []record{{data: big, ci: gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(big), Length: len(big)}, link: layers.LinkTypeEthernet}}
	r := mustRead(t, "big.pcap", writePcap(t, recs, pcapOpts{snaplen: uint32(len(big))}))
	if len(r.segs) != 1 || r.segs[0].Payload != string(big[54:]) || r.stats.Bytes != uint64(24+16+len(big)) {
		t.Errorf("big.pcap: %d segments, stats %+v", len(r.segs), r.stats)
	}
}
