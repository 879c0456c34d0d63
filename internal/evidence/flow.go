package evidence

import (
	"encoding/binary"
	"net/netip"

	"github.com/httplife/httplife/capture"
)

// pkt is one packet kept: the TCP segment's facts and up to Config.Snap
// bytes of its payload.
type pkt struct {
	t         int64 // Unix ns
	seq, ack  uint32
	plen      int32 // payload length on the wire
	win, ipid uint16
	flags     uint8
	ttl       uint8
	fromB     bool // sent by the flow's b endpoint
	data      []byte
}

// pktOverhead is what a packet costs besides its payload bytes (the
// struct and the slice header), for the memory budget.
const pktOverhead = 64

func (p *pkt) cost() int { return pktOverhead + cap(p.data) }

// flowOverhead is what a connection followed costs besides its packets
// (the flow, its map entry, the slices' growth): measured, 200,000
// one-SYN connections took 64 MiB of heap.
const flowOverhead = 280

// flow is the packets kept of one connection: the first few (the
// handshake) and a ring of the latest. Flows not sealed yet are in an LRU
// list, the most recently active first.
type flow struct {
	a, b       netip.AddrPort // a sent the first packet
	head       []pkt          // the first Config.Head packets
	ring       []pkt          // the latest, circular once full
	next       int            // ring's oldest slot once full
	seen       int            // packets seen
	bytes      int            // memory held
	prev, newr *flow          // LRU neighbours (older, newer)
}

func (f *flow) add(seg *capture.Segment, cfg *Config) (grew int) {
	f.seen++
	var p *pkt
	switch {
	case len(f.head) < cfg.Head:
		f.head = append(f.head, pkt{})
		p = &f.head[len(f.head)-1]
	case len(f.ring) < cfg.Ring:
		f.ring = append(f.ring, pkt{})
		p = &f.ring[len(f.ring)-1]
	default:
		p = &f.ring[f.next]
		f.next = (f.next + 1) % len(f.ring)
		grew -= p.cost()
	}
	n := min(len(seg.Payload), cfg.Snap)
	data := p.data[:0]
	if cap(data) < n || cap(data) > 2*n+64 {
		data = nil // reuse a slot's buffer only when it fits about right
		if n > 0 {
			data = make([]byte, 0, n)
		}
	}
	*p = pkt{t: seg.Time.UnixNano(), seq: seg.Seq, ack: seg.Ack, plen: int32(seg.PayloadLen), win: seg.Window,
		ipid: seg.IPID, flags: seg.Flags, ttl: seg.TTL, fromB: seg.Src != f.a, data: append(data, seg.Payload[:n]...)}
	if p.plen < int32(len(seg.Payload)) {
		p.plen = int32(len(seg.Payload))
	}
	grew += p.cost()
	f.bytes += grew
	return grew
}

// dropped is how many packets between the head and the ring were let go.
func (f *flow) dropped() int { return f.seen - len(f.head) - len(f.ring) }

// each calls fn with the packets kept, in the order seen.
func (f *flow) each(fn func(p *pkt)) {
	for i := range f.head {
		fn(&f.head[i])
	}
	for i := range f.ring {
		fn(&f.ring[(f.next+i)%len(f.ring)])
	}
}

// The link type of the evidence pcaps: raw IP (LINKTYPE_RAW), since
// packets are written from the decoded segments.
const linkRaw = 101

// frame returns p as a raw IPv4 or IPv6 packet with a 20-byte TCP header
// (the segment's options are not kept) in dst[:0], and its length on the
// wire. Checksums are computed (the TCP one only when the whole payload
// was kept).
func (f *flow) frame(dst []byte, p *pkt) ([]byte, int) {
	src, dstAP := f.a, f.b
	if p.fromB {
		src, dstAP = f.b, f.a
	}
	v4 := src.Addr().Is4() || src.Addr().Is4In6() && dstAP.Addr().Is4In6()
	ipLen := 40
	if v4 {
		ipLen = 20
	}
	wire := ipLen + 20 + int(p.plen)
	n := ipLen + 20 + len(p.data)
	dst = append(dst[:0], make([]byte, n)...)
	ip, tcp := dst[:ipLen], dst[ipLen:ipLen+20]
	s, d := src.Addr(), dstAP.Addr()
	if v4 {
		s4, d4 := s.Unmap().As4(), d.Unmap().As4()
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(min(wire, 0xffff)))
		binary.BigEndian.PutUint16(ip[4:], p.ipid)
		ip[8], ip[9] = p.ttl, 6
		copy(ip[12:16], s4[:])
		copy(ip[16:20], d4[:])
		binary.BigEndian.PutUint16(ip[10:], ^fold(sum16(0, ip)))
	} else {
		s16, d16 := s.As16(), d.As16()
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(min(20+int(p.plen), 0xffff)))
		ip[6], ip[7] = 6, p.ttl
		copy(ip[8:24], s16[:])
		copy(ip[24:40], d16[:])
	}
	binary.BigEndian.PutUint16(tcp[0:], src.Port())
	binary.BigEndian.PutUint16(tcp[2:], dstAP.Port())
	binary.BigEndian.PutUint32(tcp[4:], p.seq)
	binary.BigEndian.PutUint32(tcp[8:], p.ack)
	tcp[12], tcp[13] = 5<<4, p.flags
	binary.BigEndian.PutUint16(tcp[14:], p.win)
	copy(dst[ipLen+20:], p.data)
	if len(p.data) == int(p.plen) {
		// the pseudo-header, then the segment
		var c uint32
		if v4 {
			c = sum16(c, ip[12:20])
		} else {
			c = sum16(c, ip[8:40])
		}
		c += 6 + uint32(20+len(p.data))
		c = sum16(c, dst[ipLen:])
		binary.BigEndian.PutUint16(tcp[16:], ^fold(c))
	}
	return dst, wire
}

// sum16 adds b to the one's complement sum c (b of even length but for
// the last chunk).
func sum16(c uint32, b []byte) uint32 {
	for len(b) >= 2 {
		c += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		c += uint32(b[0]) << 8
	}
	return c
}

func fold(c uint32) uint16 {
	for c > 0xffff {
		c = c>>16 + c&0xffff
	}
	return uint16(c)
}
