package tlsrec

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"
)

// A small capture reader for the tests: pcap and pcapng (with Decryption
// Secrets Blocks), Ethernet / Linux cooked / raw IP, IPv4 and IPv6, and a
// minimal per-direction TCP reassembly that yields each connection's bytes
// in capture order with the time of the packet that carried them.

type capEvent struct {
	d        Dir
	b        []byte
	t        time.Time
	fin, rst bool
}

type capConn struct {
	client, server netip.AddrPort
	syn            bool
	events         []capEvent // data in sequence order per direction, FIN/RST, in capture order
	next           [2]uint32
	started        [2]bool
	pending        [2]map[uint32][]byte // out-of-order segments (with their times)
	pendingT       [2]map[uint32]time.Time
	closed         bool
}

type capture struct {
	conns []*capConn
	dsb   []dsbBlock
}

type dsbBlock struct {
	typ  uint32
	data []byte
}

func readCapture(t testing.TB, path string) *capture {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := &capture{}
	byKey := map[[2]netip.AddrPort]*capConn{}
	pkt := func(link uint32, ts time.Time, b []byte) {
		c.packet(byKey, link, ts, b)
	}
	if len(raw) < 24 {
		t.Fatalf("%s: too short", path)
	}
	switch binary.LittleEndian.Uint32(raw) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		parsePcap(t, raw, binary.LittleEndian, pkt)
	case 0xd4c3b2a1, 0x4d3cb2a1:
		parsePcap(t, raw, binary.BigEndian, pkt)
	case 0x0a0d0d0a:
		c.parseNg(t, raw, pkt)
	default:
		t.Fatalf("%s: not pcap or pcapng", path)
	}
	return c
}

func parsePcap(t testing.TB, raw []byte, bo binary.ByteOrder, pkt func(uint32, time.Time, []byte)) {
	nano := bo.Uint32(raw) == 0xa1b23c4d
	link := bo.Uint32(raw[20:])
	for off := 24; off+16 <= len(raw); {
		sec, frac := bo.Uint32(raw[off:]), bo.Uint32(raw[off+4:])
		incl := int(bo.Uint32(raw[off+8:]))
		off += 16
		if off+incl > len(raw) {
			t.Fatalf("truncated pcap record")
		}
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		pkt(link, time.Unix(int64(sec), ns).UTC(), raw[off:off+incl])
		off += incl
	}
}

func (c *capture) parseNg(t testing.TB, raw []byte, pkt func(uint32, time.Time, []byte)) {
	var bo binary.ByteOrder = binary.LittleEndian
	type iface struct {
		link uint32
		res  float64 // units per second
	}
	var ifs []iface
	for off := 0; off+12 <= len(raw); {
		typ := bo.Uint32(raw[off:])
		if typ == 0x0a0d0d0a {
			if binary.BigEndian.Uint32(raw[off+8:]) == 0x1a2b3c4d {
				bo = binary.BigEndian
			} else {
				bo = binary.LittleEndian
			}
			ifs = nil
		}
		n := int(bo.Uint32(raw[off+4:]))
		if n < 12 || off+n > len(raw) {
			t.Fatalf("bad pcapng block at %d", off)
		}
		body := raw[off+8 : off+n-4]
		switch typ {
		case 1: // IDB
			f := iface{link: uint32(bo.Uint16(body)), res: 1e6}
			for o := 8; o+4 <= len(body); {
				code, l := bo.Uint16(body[o:]), int(bo.Uint16(body[o+2:]))
				if code == 0 {
					break
				}
				if code == 9 && l >= 1 {
					v := body[o+4]
					if v&0x80 == 0 {
						f.res = 1
						for i := 0; i < int(v); i++ {
							f.res *= 10
						}
					} else {
						f.res = float64(uint64(1) << (v & 0x7f))
					}
				}
				o += 4 + (l+3)&^3
			}
			ifs = append(ifs, f)
		case 6: // EPB
			id := bo.Uint32(body)
			ts := uint64(bo.Uint32(body[4:]))<<32 | uint64(bo.Uint32(body[8:]))
			capLen := int(bo.Uint32(body[12:]))
			f := ifs[id]
			sec := float64(ts) / f.res
			whole := int64(sec)
			ns := int64((float64(ts) - float64(whole)*f.res) * 1e9 / f.res)
			pkt(f.link, time.Unix(whole, ns).UTC(), body[20:20+capLen])
		case 0x0a: // DSB
			st, l := bo.Uint32(body), int(bo.Uint32(body[4:]))
			c.dsb = append(c.dsb, dsbBlock{st, append([]byte(nil), body[8:8+l]...)})
		}
		off += n
	}
}

func (c *capture) packet(byKey map[[2]netip.AddrPort]*capConn, link uint32, ts time.Time, b []byte) {
	switch link {
	case 1: // Ethernet
		if len(b) < 14 {
			return
		}
		et := binary.BigEndian.Uint16(b[12:])
		b = b[14:]
		if et == 0x8100 && len(b) >= 4 {
			et, b = binary.BigEndian.Uint16(b[2:]), b[4:]
		}
		if et != 0x0800 && et != 0x86dd {
			return
		}
	case 113: // Linux SLL
		if len(b) < 16 {
			return
		}
		b = b[16:]
	case 276: // Linux SLL2
		if len(b) < 20 {
			return
		}
		b = b[20:]
	case 101, 228, 229: // raw IP
	default:
		return
	}
	if len(b) < 1 {
		return
	}
	var src, dst netip.Addr
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 || b[9] != 6 {
			return
		}
		ihl := int(b[0]&15) * 4
		tot := int(binary.BigEndian.Uint16(b[2:]))
		if tot < ihl || tot > len(b) {
			return
		}
		src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		b = b[ihl:tot]
	case 6:
		if len(b) < 40 || b[6] != 6 {
			return
		}
		pl := int(binary.BigEndian.Uint16(b[4:]))
		if 40+pl > len(b) {
			return
		}
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		b = b[40 : 40+pl]
	default:
		return
	}
	if len(b) < 20 {
		return
	}
	sp, dp := binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
	seq := binary.BigEndian.Uint32(b[4:])
	doff := int(b[12]>>4) * 4
	flags := b[13]
	if doff < 20 || doff > len(b) {
		return
	}
	payload := b[doff:]
	a, z := netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	key := [2]netip.AddrPort{a, z}
	if z.Compare(a) < 0 {
		key = [2]netip.AddrPort{z, a}
	}
	syn, ack, fin, rst := flags&2 != 0, flags&16 != 0, flags&1 != 0, flags&4 != 0
	cn := byKey[key]
	if cn == nil || syn && !ack && cn.closed {
		cn = &capConn{client: a, server: z, syn: syn && !ack}
		if !syn || ack {
			// no SYN: the sender of the first packet is taken as the client
		}
		byKey[key] = cn
		c.conns = append(c.conns, cn)
	}
	d := ClientToServer
	if a != cn.client {
		d = ServerToClient
	}
	if syn {
		cn.next[d] = seq + 1
		cn.started[d] = true
		return
	}
	if !cn.started[d] {
		cn.next[d] = seq
		cn.started[d] = true
	}
	if len(payload) > 0 {
		cn.segment(d, seq, payload, ts)
	}
	if fin || rst {
		cn.events = append(cn.events, capEvent{d: d, t: ts, fin: fin, rst: rst})
		cn.closed = true
	}
}

func (cn *capConn) segment(d Dir, seq uint32, p []byte, ts time.Time) {
	off := int32(seq - cn.next[d])
	if off < 0 { // retransmitted or overlapping
		if int(-off) >= len(p) {
			return
		}
		p, seq = p[-off:], cn.next[d]
		off = 0
	}
	if off > 0 {
		if cn.pending[d] == nil {
			cn.pending[d], cn.pendingT[d] = map[uint32][]byte{}, map[uint32]time.Time{}
		}
		cn.pending[d][seq] = append([]byte(nil), p...)
		cn.pendingT[d][seq] = ts
		return
	}
	cn.events = append(cn.events, capEvent{d: d, b: append([]byte(nil), p...), t: ts})
	cn.next[d] += uint32(len(p))
	for {
		q, ok := cn.pending[d][cn.next[d]]
		if !ok {
			return
		}
		delete(cn.pending[d], cn.next[d])
		cn.events = append(cn.events, capEvent{d: d, b: q, t: ts})
		cn.next[d] += uint32(len(q))
	}
}

func (cn *capConn) String() string { return fmt.Sprintf("%s -> %s", cn.client, cn.server) }

// feed runs a connection's bytes through a Conn.
func (cn *capConn) feed(h Handler, keys *KeyLog) *Conn {
	c := NewConn(h, keys)
	for _, e := range cn.events {
		if len(e.b) > 0 {
			c.Data(e.d, e.b, e.t)
		}
	}
	return c
}
