package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// corpusDir is the shared corpus, relative to the package directory.
const corpusDir = "../../shared/corpus"

// corpusFiles lists the corpus captures, or skips the test when the corpus
// is absent.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpus %s not available: %v", corpusDir, err)
	}
	var files []string
	for _, pat := range []string{"*.pcap", "*.pcapng"} {
		m, err := filepath.Glob(filepath.Join(corpusDir, pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skipf("no captures in %s", corpusDir)
	}
	sort.Strings(files)
	return files
}

// corpusFile returns the bytes of one corpus capture, or skips.
func corpusFile(t testing.TB, name string) []byte {
	t.Helper()
	corpusFiles(t)
	data, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		t.Skipf("corpus file %s not available: %v", name, err)
	}
	return data
}

// truth is the part of a corpus truth file this package checks.
type truth struct {
	Capture struct {
		Format        string `json:"format"`
		LinkType      string `json:"link_type"`
		Packets       uint64 `json:"packets"`
		TCPPackets    uint64 `json:"tcp_packets"`
		Bytes         uint64 `json:"bytes"`
		FirstPacketAt string `json:"first_packet_at"`
		LastPacketAt  string `json:"last_packet_at"`
	} `json:"capture"`
}

func readTruth(t testing.TB, capture string) truth {
	t.Helper()
	var tr truth
	data, err := os.ReadFile(capture + ".truth.json")
	if err != nil {
		t.Fatalf("%s: truth file: %v", capture, err)
	}
	if err := json.Unmarshal(data, &tr); err != nil {
		t.Fatalf("%s.truth.json: %v", capture, err)
	}
	return tr
}

// seg is a copy of a Segment that outlives the next call to Next.
type seg struct {
	N          uint64
	Time       time.Time
	Src, Dst   netip.AddrPort
	Seq, Ack   uint32
	Flags      uint8
	Window     uint16
	Payload    string
	PayloadLen int
}

func (s seg) String() string {
	return fmt.Sprintf("#%d %s %s>%s seq=%d ack=%d flags=%#x win=%d len=%d/%d",
		s.N, s.Time.Format(time.RFC3339Nano), s.Src, s.Dst, s.Seq, s.Ack, s.Flags, s.Window, len(s.Payload), s.PayloadLen)
}

func copySeg(s *Segment) seg {
	return seg{s.N, s.Time, s.Src, s.Dst, s.Seq, s.Ack, s.Flags, s.Window, string(s.Payload), s.PayloadLen}
}

// result is everything a Source gave.
type result struct {
	segs  []seg
	extra []segExtra // for each of segs
	stats Stats
	err   error // the error that ended the stream, nil for io.EOF
}

// segExtra is what a Segment says beyond seg: how it was carried and the
// header fields that tell copies from retransmissions.
type segExtra struct {
	carrier      *Carrier
	key          uint64
	ipid, tcpSum uint16
	ttl          uint8
	detached     bool // PayloadBlock was nil for a payload read from a block
}

// drain reads src to its end and closes it.
func drain(t testing.TB, src Source) result {
	t.Helper()
	var r result
	for {
		s, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			r.err = err
			break
		}
		if s.Truncated() != (len(s.Payload) < s.PayloadLen) {
			t.Fatalf("packet %d: Truncated() disagrees with lengths", s.N)
		}
		r.segs = append(r.segs, copySeg(s))
		x := segExtra{carrier: s.Carrier, key: s.CarrierKey, ipid: s.IPID, tcpSum: s.TCPSum, ttl: s.TTL}
		if h, ok := src.(Holder); ok && len(s.Payload) > 0 {
			x.detached = h.PayloadBlock() == nil
		}
		r.extra = append(r.extra, x)
	}
	r.stats = src.Stats().Clone()
	if err := src.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	return r
}

// readBytes opens data as a capture named name and reads it all.
func readBytes(t testing.TB, name string, data []byte) (result, error) {
	t.Helper()
	src, err := OpenReader(name, bytes.NewReader(data))
	if err != nil {
		return result{}, err
	}
	return drain(t, src), nil
}

// mustRead is readBytes for input that must open and read without an I/O error.
func mustRead(t testing.TB, name string, data []byte) result {
	t.Helper()
	r, err := readBytes(t, name, data)
	if err != nil {
		t.Fatalf("%s: open: %v", name, err)
	}
	if r.err != nil {
		t.Fatalf("%s: read: %v", name, r.err)
	}
	return r
}

// record is one packet record of a capture, read by pcapgo (independently
// of this package's reader).
type record struct {
	data []byte
	ci   gopacket.CaptureInfo
	link layers.LinkType
}

// records reads all packet records of a pcap or pcapng file with pcapgo.
func records(t testing.TB, data []byte) []record {
	t.Helper()
	var out []record
	if bytes.HasPrefix(data, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			t.Fatal(err)
		}
		for {
			d, ci, err := r.ReadPacketData()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, record{d, ci, ci.AncillaryData[0].(layers.LinkType)})
		}
	}
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, record{d, ci, r.LinkType()})
	}
}

// pcapOpts says how writePcap writes a file.
type pcapOpts struct {
	nanos     bool
	bigEndian bool
	snaplen   uint32 // 0: 262144
	caplen    int    // > 0: cut every record to this many bytes
}

// writePcap writes recs (all of one link type) as a pcap file. Little-endian
// files are written by pcapgo.Writer, big-endian ones by hand.
func writePcap(t testing.TB, recs []record, o pcapOpts) []byte {
	t.Helper()
	link := layers.LinkTypeEthernet
	if len(recs) > 0 {
		link = recs[0].link
	}
	if o.snaplen == 0 {
		o.snaplen = 262144
	}
	var buf bytes.Buffer
	cut := func(r record) ([]byte, gopacket.CaptureInfo) {
		d, ci := r.data, r.ci
		ci.AncillaryData = nil
		if o.caplen > 0 && len(d) > o.caplen {
			d = d[:o.caplen]
		}
		ci.CaptureLength = len(d)
		if ci.Length < len(d) {
			ci.Length = len(d)
		}
		return d, ci
	}
	if !o.bigEndian {
		w := pcapgo.NewWriter(&buf)
		if o.nanos {
			w = pcapgo.NewWriterNanos(&buf)
		}
		if err := w.WriteFileHeader(o.snaplen, link); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			d, ci := cut(r)
			if err := w.WritePacket(ci, d); err != nil {
				t.Fatal(err)
			}
		}
		return buf.Bytes()
	}
	be := binary.BigEndian
	h := make([]byte, 24)
	magic := uint32(0xa1b2c3d4)
	if o.nanos {
		magic = 0xa1b23c4d
	}
	be.PutUint32(h, magic)
	be.PutUint16(h[4:], 2)
	be.PutUint16(h[6:], 4)
	be.PutUint32(h[16:], o.snaplen)
	be.PutUint32(h[20:], uint32(link))
	buf.Write(h)
	for _, r := range recs {
		d, ci := cut(r)
		rh := make([]byte, 16)
		frac := ci.Timestamp.Nanosecond()
		if !o.nanos {
			frac /= 1000
		}
		be.PutUint32(rh, uint32(ci.Timestamp.Unix()))
		be.PutUint32(rh[4:], uint32(frac))
		be.PutUint32(rh[8:], uint32(ci.CaptureLength))
		be.PutUint32(rh[12:], uint32(ci.Length))
		buf.Write(rh)
		buf.Write(d)
	}
	return buf.Bytes()
}

// writePcapng writes recs as pcapng with nanosecond timestamps, one
// interface per link type in order of first use.
func writePcapng(t testing.TB, recs []record) []byte {
	t.Helper()
	var buf bytes.Buffer
	ifaces := map[layers.LinkType]int{}
	intf := func(lt layers.LinkType) pcapgo.NgInterface {
		i := pcapgo.DefaultNgInterface
		i.LinkType = lt
		i.Name = fmt.Sprintf("if%d", len(ifaces))
		return i
	}
	first := layers.LinkTypeEthernet
	if len(recs) > 0 {
		first = recs[0].link
	}
	w, err := pcapgo.NewNgWriterInterface(&buf, intf(first), pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	ifaces[first] = 0
	for _, r := range recs {
		id, ok := ifaces[r.link]
		if !ok {
			if id, err = w.AddInterface(intf(r.link)); err != nil {
				t.Fatal(err)
			}
			ifaces[r.link] = id
		}
		ci := r.ci
		ci.AncillaryData = nil
		ci.InterfaceIndex = id
		if err := w.WritePacket(ci, r.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zstdBytes and lz4Bytes compress data as the zstd and lz4 tools do, but
// in blocks of at most 1 KiB (a flush after each), so that a file cut
// anywhere still decodes up to the cut.
func zstdBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	writeFlushed(t, zw, data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func lz4Bytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := lz4.NewWriter(&buf)
	writeFlushed(t, zw, data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFlushed(t testing.TB, w interface {
	io.Writer
	Flush() error
}, data []byte) {
	for len(data) > 0 {
		n := min(len(data), 1024)
		if _, err := w.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
}

// pktapHdr is Apple's PKTAP header (108 bytes, version 1, as macOS's
// tcpdump -i any writes it) before a packet of link type dlt.
func pktapHdr(dlt uint32, pkt []byte) []byte {
	h := make([]byte, 108, 108+len(pkt))
	binary.LittleEndian.PutUint32(h[0:], 108)
	binary.LittleEndian.PutUint32(h[4:], 1) // PTH_TYPE_PACKET
	binary.LittleEndian.PutUint32(h[8:], dlt)
	copy(h[12:], "en0")
	return append(h, pkt...)
}

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// diffSegs reports the first difference between two segment sequences.
func diffSegs(got, want []seg) error {
	for i := range min(len(got), len(want)) {
		if got[i].Time.Equal(want[i].Time) {
			got[i].Time = want[i].Time // same instant, maybe another *Location
		}
		if got[i] != want[i] {
			return fmt.Errorf("segment %d:\n got  %v\n want %v", i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("got %d segments, want %d", len(got), len(want))
	}
	return nil
}

// errReader returns data, then err.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

var errDisk = errors.New("disk on fire")

func netipFrom(b []byte) (netip.Addr, bool) { return netip.AddrFromSlice(b) }

func addrPort(a netip.Addr, p uint16) netip.AddrPort { return netip.AddrPortFrom(a, p) }

var (
	binaryLE = binary.LittleEndian
	binaryBE = binary.BigEndian
)
