package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// ngBuilder writes pcapng blocks in either byte order, for tests.
type ngBuilder struct {
	buf bytes.Buffer
	bo  byteOrder
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func (b *ngBuilder) block(typ uint32, body []byte) {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(len(body) + 12)
	b.buf.Write(b.bo.AppendUint32(b.bo.AppendUint32(nil, typ), n))
	b.buf.Write(body)
	b.buf.Write(b.bo.AppendUint32(nil, n))
}

func (b *ngBuilder) option(code uint16, v []byte) []byte {
	o := b.bo.AppendUint16(b.bo.AppendUint16(nil, code), uint16(len(v)))
	o = append(o, v...)
	for len(o)%4 != 0 {
		o = append(o, 0)
	}
	return o
}

func (b *ngBuilder) section(minor uint16) {
	body := b.bo.AppendUint32(nil, ngByteOrderMagic)
	body = b.bo.AppendUint16(b.bo.AppendUint16(body, 1), minor)
	body = b.bo.AppendUint64(body, ^uint64(0)) // section length unknown
	body = append(body, b.option(3, []byte("test"))...)
	b.block(ngSHB, append(body, 0, 0, 0, 0))
}

func (b *ngBuilder) iface(link uint16, snaplen uint32, opts ...[]byte) {
	body := b.bo.AppendUint32(b.bo.AppendUint16(b.bo.AppendUint16(nil, link), 0), snaplen)
	for _, o := range opts {
		body = append(body, o...)
	}
	b.block(ngIDB, append(body, 0, 0, 0, 0))
}

func (b *ngBuilder) epb(id uint32, ts uint64, data []byte, orig int) {
	body := b.bo.AppendUint32(nil, id)
	body = b.bo.AppendUint32(b.bo.AppendUint32(body, uint32(ts>>32)), uint32(ts))
	body = b.bo.AppendUint32(b.bo.AppendUint32(body, uint32(len(data))), uint32(orig))
	body = append(body, data...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	b.block(ngEPB, append(body, b.option(1, []byte("a comment"))...))
}

func (b *ngBuilder) pb(id uint16, ts uint64, data []byte) {
	body := b.bo.AppendUint16(b.bo.AppendUint16(nil, id), 0)
	body = b.bo.AppendUint32(b.bo.AppendUint32(body, uint32(ts>>32)), uint32(ts))
	body = b.bo.AppendUint32(b.bo.AppendUint32(body, uint32(len(data))), uint32(len(data)))
	b.block(ngPB, append(body, data...))
}

func (b *ngBuilder) spb(data []byte, orig int) {
	b.block(ngSPB, append(b.bo.AppendUint32(nil, uint32(orig)), data...))
}

type ngPacket struct {
	data    string
	ts      time.Time
	wireLen int
	link    uint32
	inBlock bool
}

func readNgAll(t *testing.T, data []byte) ([]ngPacket, error) {
	t.Helper()
	r, err := newNgReader(newBlockReader(bytes.NewReader(data), bufSize))
	if err != nil {
		return nil, err
	}
	var out []ngPacket
	for {
		d, ts, wl, link, in, err := r.next()
		if err != nil {
			return out, err
		}
		out = append(out, ngPacket{string(d), ts, wl, link, in})
	}
}

// The pcapng reader against packets written by hand: both byte orders,
// several sections and interfaces, decimal and binary timestamp
// resolutions, a timestamp offset, enhanced, simple and obsolete packet
// blocks, blocks it skips, and a packet longer than a read block.
func TestNgReaderBlocks(t *testing.T) {
	big := strings.Repeat("x", bufSize+100)
	for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		b := &ngBuilder{bo: bo}
		b.section(0)
		b.iface(1, 13)                                      // Ethernet, µs (default), snaplen 13
		b.iface(113, 96, b.option(ngOptTSResol, []byte{9})) // Linux SLL, ns
		b.block(4, []byte{0, 0, 0, 0})                      // name resolution: skipped
		b.epb(0, 1_700_000_000_123_456, []byte("abc"), 60)
		b.epb(1, 1_700_000_001_000_000_007, []byte("defg"), 4)
		b.block(5, make([]byte, 16))  // interface statistics: skipped
		b.block(0xbad0, []byte("??")) // unknown: skipped
		b.spb([]byte("simple packet"), 200)
		b.pb(1, 1_700_000_002_000_000_009, []byte("obsolete"))
		b.section(2)    // a new section forgets the interfaces
		b.iface(101, 0, // raw IP, 2^-20 s, 10 s later
			b.option(ngOptTSResol, []byte{0x80 | 20}),
			b.option(ngOptTSOffset, bo.AppendUint64(nil, 10)))
		b.epb(0, 3<<20|1<<19, []byte("half"), 4) // 3.5 s
		b.epb(0, 5, []byte(big), len(big))
		want := []ngPacket{
			{"abc", time.Unix(1_700_000_000, 123_456_000).UTC(), 60, 1, true},
			{"defg", time.Unix(1_700_000_001, 7).UTC(), 4, 113, true},
			{"simple packet", time.Time{}, 200, 1, true},
			{"obsolete", time.Unix(1_700_000_002, 9).UTC(), 8, 113, true},
			{"half", time.Unix(13, 500_000_000).UTC(), 4, 101, true},
			{big, time.Unix(10, 4768).UTC(), len(big), 101, false}, // 5/2^20 s = 4768.37 ns
		}
		got, err := readNgAll(t, b.buf.Bytes())
		if err != io.EOF {
			t.Errorf("%v: ended with %v, want io.EOF", bo, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%v: %d packets, want %d", bo, len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.data != w.data || !g.ts.Equal(w.ts) || g.wireLen != w.wireLen || g.link != w.link || g.inBlock != w.inBlock {
				t.Errorf("%v: packet %d: got %.20q %v wire %d link %d inBlock %v; want %.20q %v wire %d link %d inBlock %v",
					bo, i+1, g.data, g.ts, g.wireLen, g.link, g.inBlock, w.data, w.ts, w.wireLen, w.link, w.inBlock)
			}
		}
	}
}

// Corrupt blocks end the stream with an error that says what is wrong; a
// stream cut inside a block ends with io.ErrUnexpectedEOF.
func TestNgReaderCorrupt(t *testing.T) {
	good := func() *ngBuilder {
		b := &ngBuilder{bo: binary.LittleEndian}
		b.section(0)
		b.iface(1, 0)
		b.epb(0, 1, []byte("ok"), 2)
		return b
	}
	le := binary.LittleEndian
	tests := []struct {
		name string
		tail func(b *ngBuilder) []byte
		want string
	}{
		{"cut inside a block", func(b *ngBuilder) []byte { return b.buf.Bytes()[:b.buf.Len()-3] }, io.ErrUnexpectedEOF.Error()},
		{"length not a multiple of 4", func(b *ngBuilder) []byte {
			return append(b.buf.Bytes(), le.AppendUint32(le.AppendUint32(nil, ngEPB), 30)...)
		}, "has length 30"},
		{"length below 12", func(b *ngBuilder) []byte {
			return append(b.buf.Bytes(), le.AppendUint32(le.AppendUint32(nil, ngEPB), 8)...)
		}, "has length 8"},
		{"huge length", func(b *ngBuilder) []byte {
			return append(b.buf.Bytes(), le.AppendUint32(le.AppendUint32(nil, ngEPB), 0xfffffff0)...)
		}, "has length 4294967280"},
		{"trailing length differs", func(b *ngBuilder) []byte {
			b.epb(0, 2, []byte("bad"), 3)
			d := b.buf.Bytes()
			le.PutUint32(d[len(d)-4:], 1000)
			return d
		}, "1000 at its end"},
		{"unknown interface", func(b *ngBuilder) []byte { b.epb(7, 1, []byte("x"), 1); return b.buf.Bytes() }, "interface 7"},
		{"captured length past the block", func(b *ngBuilder) []byte {
			b.epb(0, 1, []byte("abcd"), 4)
			d := b.buf.Bytes()
			le.PutUint32(d[len(d)-32:], 400) // caplen: then original length, data, option (16 bytes), trailer
			return d
		}, "400 captured bytes"},
		{"unsupported resolution", func(b *ngBuilder) []byte {
			b.iface(1, 0, b.option(ngOptTSResol, []byte{30}))
			return b.buf.Bytes()
		}, "resolution"},
		{"pcapng 2.0", func(b *ngBuilder) []byte {
			b.buf.Reset()
			b.section(0)
			d := b.buf.Bytes()
			le.PutUint16(d[12:], 2)
			return d
		}, "version 2.0"},
	}
	for _, tt := range tests {
		data := tt.tail(good())
		got, err := readNgAll(t, data)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
		if tt.name != "pcapng 2.0" && tt.name != "cut inside a block" && len(got) != 1 {
			t.Errorf("%s: %d packets before the error, want the good one", tt.name, len(got))
		}
	}
}

// ngSeeds returns small pcapng files of every block kind the reader
// knows, in both byte orders, for the fuzz targets.
func ngSeeds() [][]byte {
	var out [][]byte
	for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		b := &ngBuilder{bo: bo}
		b.section(0)
		b.iface(1, 128)
		b.iface(101, 0, b.option(ngOptTSResol, []byte{0x80 | 20}), b.option(ngOptTSOffset, bo.AppendUint64(nil, 10)))
		ip := "E\x00\x00(\x00\x01\x00\x00@\x06\x00\x00\x7f\x00\x00\x01\x7f\x00\x00\x01" +
			"\x00P\x1f\x90\x00\x00\x00\x01\x00\x00\x00\x00P\x02\xff\xff\x00\x00\x00\x00"
		b.epb(1, 1<<20, []byte(ip), 40)
		b.spb([]byte(strings.Repeat("\x00", 14)+ip), 54)
		b.pb(1, 2<<20, []byte(ip))
		b.block(5, make([]byte, 16))
		out = append(out, bytes.Clone(b.buf.Bytes()))
		// Statistics, comments, flags, drop counts, secrets.
		out = append(out, optionsCapture(bo))
		// A key log longer than a read block.
		b = &ngBuilder{bo: bo}
		b.section(0)
		b.iface(101, 0)
		b.dsb(ngSecretsTLS, bytes.Repeat([]byte("CLIENT_RANDOM 00 00\n"), bufSize/20+10))
		b.epbOpts(0, 1, []byte(rawTCP), b.option(ngOptComment, []byte("after the secrets")))
		out = append(out, bytes.Clone(b.buf.Bytes()))
	}
	return out
}

// epbOpts is an Enhanced Packet Block with the given options (no default
// comment, unlike epb).
func (b *ngBuilder) epbOpts(id uint32, ts uint64, data []byte, opts ...[]byte) {
	body := b.bo.AppendUint32(nil, id)
	body = b.bo.AppendUint32(b.bo.AppendUint32(body, uint32(ts>>32)), uint32(ts))
	body = b.bo.AppendUint32(b.bo.AppendUint32(body, uint32(len(data))), uint32(len(data)))
	body = append(body, data...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	for _, o := range opts {
		body = append(body, o...)
	}
	if len(opts) > 0 {
		body = append(body, 0, 0, 0, 0)
	}
	b.block(ngEPB, body)
}

// isb is an Interface Statistics Block for interface id.
func (b *ngBuilder) isb(id uint32, opts ...[]byte) {
	body := b.bo.AppendUint32(nil, id)
	body = append(body, make([]byte, 8)...)
	for _, o := range opts {
		body = append(body, o...)
	}
	b.block(ngISB, append(body, 0, 0, 0, 0))
}

// dsb is a Decryption Secrets Block.
func (b *ngBuilder) dsb(typ uint32, secret []byte) {
	body := b.bo.AppendUint32(b.bo.AppendUint32(nil, typ), uint32(len(secret)))
	b.block(ngDSB, append(body, secret...))
}

func (b *ngBuilder) u64opt(code uint16, v uint64) []byte {
	return b.option(code, b.bo.AppendUint64(nil, v))
}
func (b *ngBuilder) u32opt(code uint16, v uint32) []byte {
	return b.option(code, b.bo.AppendUint32(nil, v))
}

// rawTCP is an IPv4 TCP SYN.
const rawTCP = "E\x00\x00(\x00\x01\x00\x00@\x06\x00\x00\x7f\x00\x00\x01\x7f\x00\x00\x01" +
	"\x00P\x1f\x90\x00\x00\x00\x01\x00\x00\x00\x00P\x02\xff\xff\x00\x00\x00\x00"

// optionsCapture is a pcapng file, in byte order bo, with every block and
// option the reader takes something from.
func optionsCapture(bo byteOrder) []byte {
	b := &ngBuilder{bo: bo}
	ip := rawTCP
	// A section header with a comment of two lines.
	body := b.bo.AppendUint32(nil, ngByteOrderMagic)
	body = b.bo.AppendUint16(b.bo.AppendUint16(body, 1), 0)
	body = b.bo.AppendUint64(body, ^uint64(0))
	body = append(body, b.option(ngOptComment, []byte("capture of\r\n  the   outage"))...)
	b.block(ngSHB, append(body, 0, 0, 0, 0))
	b.iface(101, 0, b.option(ngOptComment, []byte("uplink")))
	b.iface(101, 0)
	b.dsb(ngSecretsTLS, []byte("CLIENT_RANDOM 01 02\n"))
	b.dsb(0x5353484b, []byte("ssh key")) // SSH: not kept
	b.epbOpts(0, 1, []byte(ip), b.option(ngOptComment, []byte("retransmitted?")))
	b.epbOpts(1, 2, []byte(ip), b.u32opt(ngOptEPBFlags, 1|1<<24|1<<31), b.u64opt(ngOptEPBDrops, 0))
	b.epbOpts(0, 3, []byte(ip), b.u64opt(ngOptEPBDrops, 7), b.option(ngOptComment, []byte("")))
	b.epbOpts(1, 4, []byte(ip), b.u32opt(ngOptEPBFlags, 2|1<<24), b.u64opt(ngOptEPBDrops, 5))
	b.isb(0, b.u64opt(ngOptISBIfDrop, 10), b.u64opt(ngOptISBOSDrop, 1))
	b.isb(0, b.u64opt(ngOptISBIfDrop, 40), b.u64opt(ngOptISBOSDrop, 2), b.option(ngOptComment, []byte("Counters provided by dumpcap"))) // the last counts
	b.isb(1, b.u64opt(ngOptISBIfDrop, 3))
	b.isb(2, b.u64opt(4, 99))          // isb_ifrecv only: no drop counter
	b.block(ngISB, []byte{1, 2, 3, 4}) // too short: ignored
	return b.buf.Bytes()
}

// The pcapng options the reader takes: comments of sections, interfaces
// and packets; epb_flags errors and drop counts; interface statistics;
// decryption secrets. Both byte orders.
func TestNgOptions(t *testing.T) {
	for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		src, err := OpenReader("opts.pcapng", bytes.NewReader(optionsCapture(bo)))
		if err != nil {
			t.Fatalf("%v: %v", bo, err)
		}
		r := drain(t, src)
		if len(r.segs) != 4 {
			t.Errorf("%v: %d segments, want 4", bo, len(r.segs))
		}
		want := []string{
			"file opts.pcapng: comment: capture of the outage",
			"file opts.pcapng: interface 0: comment: uplink",
			"packet 1: comment: retransmitted?",
			"opts.pcapng: 45 packets dropped while capturing (pcapng statistics: 43 by the interface, 2 by the operating system)",
			"opts.pcapng: 12 packets lost while capturing, by the packets' drop counts (pcapng), the first before packet 3",
			"opts.pcapng: 2 packets flagged with link-layer errors (symbol, CRC) by the capturing interface, the first packet 2",
			"opts.pcapng: 1 decryption secrets blocks not kept (not TLS key logs, malformed, or past 64 MiB)",
		}
		if !slices.Equal(r.stats.Warnings, want) {
			t.Errorf("%v: warnings\n%q\nwant\n%q", bo, r.stats.Warnings, want)
		}
		if r.stats.Dropped != 45 || !r.stats.DropCounts {
			t.Errorf("%v: dropped %d (known %v), want 45 from the last statistics of each interface", bo, r.stats.Dropped, r.stats.DropCounts)
		}
		sec := src.(Secrets).Secrets()
		if len(sec) != 1 || string(sec[0]) != "CLIENT_RANDOM 01 02\n" {
			t.Errorf("%v: secrets %q, want the TLS key log", bo, sec)
		}
	}
	// Without statistics blocks the packets' drop counts are the drops.
	b := &ngBuilder{bo: binary.LittleEndian}
	b.section(0)
	b.iface(101, 0)
	b.epbOpts(0, 1, []byte(rawTCP), b.u64opt(ngOptEPBDrops, 4))
	r := mustRead(t, "drops.pcapng", b.buf.Bytes())
	if r.stats.Dropped != 4 || !r.stats.DropCounts {
		t.Errorf("drop counts only: dropped %d (known %v), want 4", r.stats.Dropped, r.stats.DropCounts)
	}
	// Neither: unknown.
	b = &ngBuilder{bo: binary.LittleEndian}
	b.section(0)
	b.iface(101, 0)
	b.epbOpts(0, 1, []byte(rawTCP))
	if r := mustRead(t, "plain.pcapng", b.buf.Bytes()); r.stats.DropCounts || r.stats.Warnings != nil {
		t.Errorf("no counters: known %v, warnings %q; want unknown, none", r.stats.DropCounts, r.stats.Warnings)
	}
}

// Comments are cut to one line of bounded length; past maxComments they
// are only counted.
func TestNgComments(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"  two\nlines\t\x00end  ", "two lines end"},
		{"bad \xff utf8", "bad \ufffd utf8"},
		{long, strings.Repeat("é", 100) + "..."},
		{"\n\n", ""},
	}
	for _, tc := range tests {
		if got := cleanComment([]byte(tc.in)); got != tc.want {
			t.Errorf("cleanComment(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	b := &ngBuilder{bo: binary.LittleEndian}
	b.section(0)
	b.iface(101, 0)
	for i := range maxComments + 5 {
		b.epbOpts(0, uint64(i), []byte(rawTCP), b.option(ngOptComment, fmt.Appendf(nil, "note %d", i+1)))
	}
	r := mustRead(t, "many.pcapng", b.buf.Bytes())
	w := r.stats.Warnings
	if len(w) != maxComments+1 || w[0] != "packet 1: comment: note 1" || w[maxComments-1] != fmt.Sprintf("packet %d: comment: note %d", maxComments, maxComments) ||
		w[maxComments] != "... and 5 more packet comments" {
		t.Errorf("%d comments: warnings %q", maxComments+5, w)
	}
}
