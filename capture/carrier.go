package capture

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// EncapType is the kind of one encapsulation around a packet.
type EncapType uint8

// Encapsulation types. Their String forms are the spec's tunnel types.
const (
	EncapVXLAN  EncapType = iota + 1 // VXLAN, UDP 4789 or 8472
	EncapGeneve                      // Geneve, UDP 6081
	EncapGRE                         // GRE (RFC 2784/2890, PPTP's enhanced GRE)
	EncapERSPAN                      // ERSPAN I, II or III (over GRE)
	EncapMPLS                        // one MPLS label
	EncapPPPoE                       // a PPPoE session
	EncapIPIP                        // IPv4 inside IPv4 or IPv6
	EncapIP6IP                       // IPv6 inside IPv4 or IPv6 (6in4/sit, ip6tnl)
	EncapTeredo                      // IPv6 inside UDP 3544 (RFC 4380)
	EncapGTP                         // GTP-U (GTPv1 user plane, UDP 2152): mobile core networks
	EncapAYIYA                       // AYIYA (UDP 5072): IPv6 tunnel brokers
	EncapTZSP                        // TZSP (UDP 37008): remote sniffers' copies (MikroTik)
)

// String returns the spec's name of the type: "vxlan", "geneve", "gre",
// "erspan", "mpls", "pppoe", "ipip", "ip6ip" or "teredo"; httplife's
// "gtp", "ayiya" or "tzsp" for the three it adds.
func (t EncapType) String() string {
	switch t {
	case EncapVXLAN:
		return "vxlan"
	case EncapGeneve:
		return "geneve"
	case EncapGRE:
		return "gre"
	case EncapERSPAN:
		return "erspan"
	case EncapMPLS:
		return "mpls"
	case EncapPPPoE:
		return "pppoe"
	case EncapIPIP:
		return "ipip"
	case EncapIP6IP:
		return "ip6ip"
	case EncapTeredo:
		return "teredo"
	case EncapGTP:
		return "gtp"
	case EncapAYIYA:
		return "ayiya"
	case EncapTZSP:
		return "tzsp"
	}
	return "encap" + strconv.Itoa(int(t))
}

// Encap is one encapsulation: a tunnel header, an MPLS label or a PPPoE
// session.
type Encap struct {
	Type EncapType
	// OuterSrc and OuterDst are the addresses of the IP header that
	// carries the tunnel; zero for mpls and pppoe.
	OuterSrc, OuterDst netip.Addr
	// ID is the VXLAN/Geneve VNI, GRE key, ERSPAN session id, MPLS label,
	// PPPoE session id or GTP-U TEID, when HasID.
	ID    uint32
	HasID bool
}

// Carrier says how a packet was carried.
type Carrier struct {
	// VLANs are the 802.1Q/802.1ad ids, outer first: those of the
	// outermost Ethernet header, then those of inner Ethernet frames in
	// order.
	VLANs []uint16
	// Tunnel holds the encapsulations, outermost first.
	Tunnel []Encap
}

// Equal reports whether c and o describe the same carrier. nil equals nil
// and a Carrier without tags or tunnels.
func (c *Carrier) Equal(o *Carrier) bool {
	if c == o {
		return true
	}
	var cv, ov []uint16
	var ct, ot []Encap
	if c != nil {
		cv, ct = c.VLANs, c.Tunnel
	}
	if o != nil {
		ov, ot = o.VLANs, o.Tunnel
	}
	if len(cv) != len(ov) || len(ct) != len(ot) {
		return false
	}
	for i := range cv {
		if cv[i] != ov[i] {
			return false
		}
	}
	for i := range ct {
		if ct[i] != ot[i] {
			return false
		}
	}
	return true
}

// String describes the carrier outer first, e.g.
// "vlan 10 > gre 192.0.2.1>192.0.2.2 id 7 > vlan 20"; "" for nil. Inner
// VLAN tags follow the tunnels: the string does not say which Ethernet
// header held which tag.
func (c *Carrier) String() string {
	if c == nil {
		return ""
	}
	var parts []string
	for _, v := range c.VLANs {
		parts = append(parts, "vlan "+strconv.Itoa(int(v)))
	}
	for _, e := range c.Tunnel {
		s := e.Type.String()
		if e.OuterSrc.IsValid() || e.OuterDst.IsValid() {
			s += " " + e.OuterSrc.String() + ">" + e.OuterDst.String()
		}
		if e.HasID {
			s += fmt.Sprintf(" id %d", e.ID)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " > ")
}

// Bounds of a carrier: more is a malformed packet (or a tunnel cycle).
const (
	maxEncap = 8 // encapsulations (each MPLS label counts)
	maxVLAN  = 8 // VLAN tags, all Ethernet headers together
)

// carrierCache is the number of recent carriers a decoder keeps to share.
const carrierCache = 64

// carrierBuf collects the tags and tunnels of the packet being decoded and
// turns them into a shared *Carrier. The zero value is ready to use.
type carrierBuf struct {
	vlans  [maxVLAN]uint16
	encs   [maxEncap]Encap
	n      counts
	turn   bool // which of two full slots a new carrier replaces
	recent [2]carrierEntry
	cache  [carrierCache]carrierEntry
}

// carrierEntry is a shared carrier and its CarrierKey.
type carrierEntry struct {
	c   *Carrier
	key uint64
}

// counts are how many VLAN tags and encapsulations a carrierBuf holds.
type counts struct{ v, e uint8 }

// reset starts a new packet.
func (b *carrierBuf) reset() { b.n = counts{} }

// done sets seg.Carrier and seg.CarrierKey, after a packet was decoded.
func (b *carrierBuf) done(seg *Segment) {
	if b.n != (counts{}) {
		b.finish(seg)
	} else if seg.Carrier != nil {
		seg.Carrier, seg.CarrierKey = nil, 0
	}
}

// vlan records a VLAN id; false when there are already maxVLAN.
func (b *carrierBuf) vlan(id uint16) bool {
	if int(b.n.v) == maxVLAN {
		return false
	}
	b.vlans[int(b.n.v)] = id
	b.n.v++
	return true
}

// encap records an encapsulation; false when there are already maxEncap.
func (b *carrierBuf) encap(e Encap) bool {
	if int(b.n.e) == maxEncap {
		return false
	}
	b.encs[int(b.n.e)] = e
	b.n.e++
	return true
}

// has reports whether an encapsulation of type t is recorded.
func (b *carrierBuf) has(t EncapType) bool {
	for i := range int(b.n.e) {
		if b.encs[i].Type == t {
			return true
		}
	}
	return false
}

// finish sets seg.Carrier and seg.CarrierKey from what was recorded. A
// carrier equal to a recent one is that one: nothing is allocated.
func (b *carrierBuf) finish(seg *Segment) {
	if int(b.n.v) == 0 && int(b.n.e) == 0 {
		seg.Carrier, seg.CarrierKey = nil, 0
		return
	}
	if c := seg.Carrier; c != nil && b.equal(c) {
		return // the last packet's: seg.CarrierKey is still its key
	}
	// The two most recent carriers: the two directions of a tunnel.
	for i := range b.recent {
		if r := b.recent[i]; r.c != nil && b.equal(r.c) {
			b.recent[0], b.recent[i] = r, b.recent[0]
			seg.Carrier, seg.CarrierKey = r.c, r.key
			return
		}
	}
	// Two slots of the cache may hold a carrier: the hash's low bits and
	// high bits pick them. A new carrier takes an empty one, or each in
	// turn.
	h := b.hash()
	e1, e2 := &b.cache[h%carrierCache], &b.cache[(h>>32)%carrierCache]
	e := e1
	switch {
	case e1.c != nil && b.equal(e1.c):
	case e2.c != nil && b.equal(e2.c):
		e = e2
	default:
		if e1.c != nil && (e2.c == nil || b.turn) {
			e = e2
		}
		b.turn = !b.turn
		c := &Carrier{}
		if int(b.n.v) > 0 {
			c.VLANs = append([]uint16(nil), b.vlans[:int(b.n.v)]...)
		}
		if int(b.n.e) > 0 {
			c.Tunnel = append([]Encap(nil), b.encs[:int(b.n.e)]...)
		}
		e.c, e.key = c, carrierKey(c.Tunnel)
	}
	b.recent[1], b.recent[0] = b.recent[0], *e
	seg.Carrier, seg.CarrierKey = e.c, e.key
}

func (b *carrierBuf) equal(c *Carrier) bool {
	if len(c.VLANs) != int(b.n.v) || len(c.Tunnel) != int(b.n.e) {
		return false
	}
	for i, v := range c.VLANs {
		if b.vlans[i] != v {
			return false
		}
	}
	for i := range c.Tunnel {
		if b.encs[i] != c.Tunnel[i] {
			return false
		}
	}
	return true
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func mix(h, x uint64) uint64 { return (h ^ x) * fnvPrime }

func mixAddr(h uint64, a netip.Addr) uint64 {
	if !a.IsValid() {
		return mix(h, 0)
	}
	b := a.As16()
	return mix(mix(h, be64(b[:8])), be64(b[8:]))
}

func be64(b []byte) uint64 { return uint64(be32(b))<<32 | uint64(be32(b[4:])) }

// hash is a hash of everything recorded, for the cache and for the
// reassembly of fragments (which keeps tunnels apart).
func (b *carrierBuf) hash() uint64 {
	h := uint64(fnvOffset)
	for _, v := range b.vlans[:int(b.n.v)] {
		h = mix(h, uint64(v)|1<<32)
	}
	for i := range b.encs[:int(b.n.e)] {
		e := &b.encs[i]
		x := uint64(e.Type)<<40 | uint64(e.ID)
		if e.HasID {
			x |= 1 << 48
		}
		h = mix(h, x)
		if e.OuterSrc.IsValid() || e.OuterDst.IsValid() {
			h = mixAddr(mixAddr(h, e.OuterSrc), e.OuterDst)
		}
	}
	return h
}

// carrierKey is Segment.CarrierKey for a tunnel list: FNV-1a over the type
// and id of each encapsulation that has a direction-independent id (not
// an MPLS label, not a GTP-U TEID: each direction of a GTP tunnel has the
// TEID its receiver chose); 0 when none has.
func carrierKey(t []Encap) uint64 {
	h := uint64(fnvOffset)
	any := false
	for _, e := range t {
		if !e.HasID || e.Type == EncapMPLS || e.Type == EncapGTP {
			continue
		}
		any = true
		h = mix(h, uint64(e.Type)<<32|uint64(e.ID))
	}
	switch {
	case !any:
		return 0
	case h == 0:
		return 1
	}
	return h
}
