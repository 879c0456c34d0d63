package tcpstate

import (
	"encoding/binary"
	"net/netip"

	"github.com/httplife/httplife/capture"
)

// key identifies a connection by its two endpoints, the lower first, and
// the tunnel that carries it (capture.Segment.CarrierKey: the same private
// 4-tuple in two VXLAN VNIs or two GRE keys is two connections). It is
// plain words (addresses from packets carry no zone), so the maps keyed by
// it hold nothing the garbage collector must scan.
type key struct {
	a0, a1, b0, b1 uint64 // addresses, IPv4 in IPv4-mapped form, as big-endian halves
	ck             uint64 // the carrier key: 0 for a packet not in a tunnel with an id
	pa, pb         uint16
	v6             bool // the addresses are IPv6 (an IPv4-mapped IPv6 address is not the IPv4 one)
}

// makeKey orders the endpoints the same for both directions: as integers.
// Words, not byte arrays, so that comparing keys is a few compares inline.
// carrier is the segment's CarrierKey, the same for both directions.
func makeKey(x, y netip.AddrPort, carrier uint64) key {
	xa, ya := x.Addr(), y.Addr()
	k := key{pa: x.Port(), pb: y.Port(), v6: xa.Is6(), ck: carrier}
	k.a0, k.a1 = addrWords(xa)
	k.b0, k.b1 = addrWords(ya)
	if k.a0 > k.b0 || k.a0 == k.b0 && (k.a1 > k.b1 || k.a1 == k.b1 && k.pa > k.pb) {
		k.a0, k.a1, k.b0, k.b1, k.pa, k.pb = k.b0, k.b1, k.a0, k.a1, k.pb, k.pa
	}
	return k
}

// addrWords returns a's 16 bytes (IPv4 in IPv4-mapped form) as two
// big-endian words; an IPv4 address (every one on most captures) without
// the round trip through As16's array, which costs a third of makeKey.
func addrWords(a netip.Addr) (hi, lo uint64) {
	if a.Is4() {
		b := a.As4()
		return 0, 0xffff<<32 | uint64(binary.BigEndian.Uint32(b[:]))
	}
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// eq is k == o, compared inline (== on the struct calls memequal), the
// words most likely to differ first.
func (k *key) eq(o *key) bool {
	return k.pa == o.pa && k.pb == o.pb && k.a1 == o.a1 && k.b1 == o.b1 && k.a0 == o.a0 && k.b0 == o.b0 && k.ck == o.ck && k.v6 == o.v6
}

// recentSlots is the size of the table's cache of recent connections.
const recentSlots = 1 << 12

// slot is k's place in the cache of recent connections: a multiplicative
// hash of its ports, addresses and carrier key.
func (k *key) slot() uint32 {
	h := k.a1 ^ k.a0<<1 ^ k.ck
	h = h*0x9e3779b97f4a7c15 ^ k.b1 ^ k.b0<<1
	h = h*0x9e3779b97f4a7c15 ^ uint64(k.pa)<<16 ^ uint64(k.pb)
	return uint32((h * 0x9e3779b97f4a7c15) >> (64 - 12))
}

// Tunnels whose ids differ by direction. A GRE tunnel's ends may send with
// different keys (Linux ikey/okey), an OVS Geneve or an ERSPAN setup with
// a VNI or session per direction: the two directions of one connection
// then have different carrier keys. A connection in a tunnel with an id
// that has carried one direction only is indexed by its endpoints alone
// (Table.oneWay); a segment of the other direction whose own key matches
// no connection, and whose acknowledgement falls in what the first
// direction sent, joins it under that second key (Table.alias). Two
// tunnels carrying the same 4-tuple both ways stay two connections.

// oneWay is a connection in the index and the endpoint it heard from.
type oneWay struct {
	c   *Conn
	src netip.AddrPort
}

// tuple is k without its carrier key.
func (k key) tuple() key {
	k.ck = 0
	return k
}

// pairOf returns the one-way connection that seg, whose key k matched
// none, is the other direction of; nil when none.
func (t *Table) pairOf(k key, seg *capture.Segment) *Conn {
	w, ok := t.oneWay[k.tuple()]
	if !ok || w.c.reported || w.c.hasAlias || w.src == seg.Src || seg.Flags&capture.ACK == 0 {
		return nil
	}
	c := w.c
	if !c.acksSent(w.src, seg) {
		return nil
	}
	delete(t.oneWay, k.tuple())
	c.inOneWay = false
	c.hasAlias = true
	t.alias[c] = k
	t.conns[k] = c
	return c
}

// acksSent reports whether seg's acknowledgement falls in what src sent
// on c: past src's ISN (one past it for a SYN-ACK) when its SYN was seen,
// and no further than its last byte seen, within 1 MiB.
func (c *Conn) acksSent(src netip.AddrPort, seg *capture.Segment) bool {
	h := &c.Sides[0].h
	if c.Sides[1].Addr == src {
		h = &c.Sides[1].h
	}
	a := Seq(seg.Ack)
	if h.isnValid && (a.AtOrBefore(h.isn) || seg.Has(capture.SYN) && a != h.isn.Add(1)) {
		return false
	}
	for k := range c.held { // a SYN still held
		if s := &c.held[k]; s.Src == src && s.Has(capture.SYN) &&
			(a.AtOrBefore(Seq(s.Seq)) || seg.Has(capture.SYN) && a != Seq(s.Seq).Add(1)) {
			return false
		}
	}
	end, ok := c.sentEnd(h, src)
	d := end.Diff(a)
	return ok && d >= 0 && d < 1<<20
}

// sentEnd is one past the highest sequence number src (whose reassembly
// state is h) sent on c, as far as processed or held segments show.
func (c *Conn) sentEnd(h *half, src netip.AddrPort) (Seq, bool) {
	end, ok := h.procEnd, h.procValid
	for k := range c.held {
		s := &c.held[k]
		if s.Src != src {
			continue
		}
		e := Seq(s.Seq).Add(s.PayloadLen + b2i(s.Has(capture.SYN)) + b2i(s.Has(capture.FIN)))
		if !ok || e.After(end) {
			end, ok = e, true
		}
	}
	return end, ok
}

// heard notes seg on c, which is in the one-way index: once the other
// endpoint sends, it leaves it.
func (t *Table) heard(c *Conn, seg *capture.Segment) {
	tk := c.key.tuple()
	if w, ok := t.oneWay[tk]; ok && w.c == c && w.src != seg.Src {
		delete(t.oneWay, tk)
		c.inOneWay = false
	}
}
