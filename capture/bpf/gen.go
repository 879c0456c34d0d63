package bpf

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Protocol, direction and address-type qualifiers (libpcap's Q_*).
type proto int

const (
	pDefault proto = iota
	pLink
	pIP
	pIP6
	pARP
	pRARP
	pTCP
	pUDP
	pICMP
	pICMP6
	pSCTP
	pIGMP
)

var protoKeywords = map[string]proto{
	"ether": pLink, "link": pLink, "ip": pIP, "ip6": pIP6, "arp": pARP, "rarp": pRARP,
	"tcp": pTCP, "udp": pUDP, "icmp": pICMP, "icmp6": pICMP6, "sctp": pSCTP, "igmp": pIGMP,
}

var protoNames = map[proto]string{
	pLink: "link-layer", pIP: "ip", pIP6: "ip6", pARP: "arp", pRARP: "rarp", pTCP: "tcp",
	pUDP: "udp", pICMP: "icmp", pICMP6: "icmp6", pSCTP: "sctp", pIGMP: "igmp",
}

type dir int

const (
	dDefault dir = iota
	dSrc
	dDst
	dOr  // src or dst
	dAnd // src and dst
)

type addrType int

const (
	aDefault addrType = iota
	aHost
	aNet
	aPort
	aPortrange
	aProto
)

// qual is the qualifier list of a primitive. undef marks libpcap's "qerr":
// the context after a primitive that has no qualifiers to pass on (tcp,
// vlan, a comparison), where a bare address or number is a syntax error.
type qual struct {
	proto proto
	dir   dir
	addr  addrType
	undef bool
}

var qerr = qual{undef: true}

// Ethernet types and IP protocol numbers.
const (
	ethIPv4  = 0x0800
	ethARP   = 0x0806
	ethRARP  = 0x8035
	ethIPv6  = 0x86dd
	eth8021Q = 0x8100
	eth8021A = 0x88a8
	ethQinQ  = 0x9100
	etherMTU = 1500

	ipprotoICMP   = 1
	ipprotoIGMP   = 2
	ipprotoTCP    = 6
	ipprotoUDP    = 17
	ipprotoFrag   = 44
	ipprotoICMPv6 = 58
	ipprotoSCTP   = 132
	protoUndef    = -1 // tcp, udp or sctp

	packetOutgoing = 4
	skfAdPktType   = 0xfffff000 + 4 // SKF_AD_OFF + SKF_AD_PKTTYPE
)

var ipProtoNames = map[string]uint32{
	"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "ipv6-icmp": 58, "sctp": 132,
}

var etherProtoNames = map[string]uint32{
	"ip": ethIPv4, "ip6": ethIPv6, "arp": ethARP, "rarp": ethRARP,
}

// compiler holds the state that libpcap keeps while generating code: the
// offsets of the link-layer type field and of the network-layer header,
// which "vlan" moves for everything generated after it.
type compiler struct {
	link        LinkType
	offLinkType int    // offset of the Ethernet type field, -1 if none
	offNL       uint32 // offset of the network-layer header

	toks  []token
	pos   int
	depth int // current nesting, bounded by maxDepth

	// libpcapArth reproduces libpcap's dropping of the right operand's
	// protocol tests in arithmetic (tests only).
	libpcapArth bool

	// cooked: LinuxSLL semantics for a SOCK_DGRAM socket (see cookedLoads).
	cooked bool
}

func newCompiler(l LinkType) (*compiler, error) {
	c := &compiler{link: l}
	switch l {
	case Ethernet:
		c.offLinkType, c.offNL = 12, 14
	case LinuxSLL:
		c.offLinkType, c.offNL = 14, 16
	case LinuxSLL2:
		c.offLinkType, c.offNL = 0, 20
	case Raw, linktypeRaw:
		c.link = Raw
		c.offLinkType, c.offNL = -1, 0
	default:
		return nil, fmt.Errorf("unsupported link type %d (supported: Ethernet 1, Raw 12/101, LinuxSLL 113, LinuxSLL2 276)", int(l))
	}
	return c, nil
}

// Basic tests.

func ldAbs(off uint32, size int) bpf.Instruction { return bpf.LoadAbsolute{Off: off, Size: size} }

// cmp tests the size-byte big-endian value at off for equality with v.
func cmp(off uint32, size int, v uint32) *bnode {
	return atom(bpf.JumpEqual, v, ldAbs(off, size))
}

// mcmp tests (value at off) & mask == v.
func mcmp(off uint32, size int, v, mask uint32) *bnode {
	switch {
	case mask == 0xffffffff:
		return cmp(off, size, v)
	case mask == 0:
		return konst(v == 0) // libpcap's optimiser drops the load as well
	}
	return atom(bpf.JumpEqual, v, ldAbs(off, size), bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
}

// linktype tests the network-layer protocol (an Ethernet type).
func (c *compiler) linktype(et uint32) *bnode {
	if c.link == Raw {
		switch et {
		case ethIPv4:
			return mcmp(0, 1, 0x40, 0xf0)
		case ethIPv6:
			return mcmp(0, 1, 0x60, 0xf0)
		}
		return nFalse
	}
	return cmp(uint32(c.offLinkType), 2, et)
}

// ipfrag is true unless the IPv4 packet is a fragment other than the first.
func (c *compiler) ipfrag() *bnode {
	return not(atom(bpf.JumpBitsSet, 0x1fff, ldAbs(c.offNL+6, 2)))
}

// loadIPHdrLen puts the IPv4 header length in X.
func (c *compiler) loadIPHdrLen() bpf.Instruction { return bpf.LoadMemShift{Off: c.offNL} }

// Protocols.

func (c *compiler) protoAbbrev(p proto) (*bnode, error) {
	switch p {
	case pTCP:
		return c.genProto(ipprotoTCP, pDefault)
	case pUDP:
		return c.genProto(ipprotoUDP, pDefault)
	case pSCTP:
		return c.genProto(ipprotoSCTP, pDefault)
	case pICMP:
		return c.genProto(ipprotoICMP, pIP)
	case pIGMP:
		return c.genProto(ipprotoIGMP, pIP)
	case pICMP6:
		return c.genProto(ipprotoICMPv6, pIP6)
	case pIP:
		return c.linktype(ethIPv4), nil
	case pIP6:
		return c.linktype(ethIPv6), nil
	case pARP:
		return c.linktype(ethARP), nil
	case pRARP:
		return c.linktype(ethRARP), nil
	}
	return nil, fmt.Errorf("link layer applied in wrong context")
}

// genProto is "[ip|ip6|ether] proto v".
func (c *compiler) genProto(v uint32, p proto) (*bnode, error) {
	switch p {
	case pDefault:
		b0, err := c.genProto(v, pIP)
		if err != nil {
			return nil, err
		}
		b1, err := c.genProto(v, pIP6)
		if err != nil {
			return nil, err
		}
		return or(b0, b1), nil
	case pIP:
		if v > 255 {
			return nil, fmt.Errorf("illegal protocol number %d > 255", v)
		}
		return and(c.linktype(ethIPv4), cmp(c.offNL+9, 1, v)), nil
	case pIP6:
		if v > 255 {
			return nil, fmt.Errorf("illegal protocol number %d > 255", v)
		}
		// The protocol, or a fragment header followed by the protocol.
		viaFrag := and(cmp(c.offNL+6, 1, ipprotoFrag), cmp(c.offNL+40, 1, v))
		return and(c.linktype(ethIPv6), or(cmp(c.offNL+6, 1, v), viaFrag)), nil
	case pLink:
		if v > 0xffff {
			return nil, fmt.Errorf("illegal Ethernet type %d > 65535", v)
		}
		if v <= etherMTU && c.link != Raw {
			return nil, fmt.Errorf("ether proto %d: 802.3 length/LLC protocol values (<= 1500) are not supported", v)
		}
		return c.linktype(v), nil
	case pARP, pRARP:
		return nil, fmt.Errorf("%s does not encapsulate another protocol", protoNames[p])
	}
	return nil, fmt.Errorf("'%s proto' is bogus", protoNames[p])
}

// Hosts and networks.

func (c *compiler) hostop(addr, mask uint32, d dir, et uint32, srcOff, dstOff uint32) *bnode {
	var off uint32
	switch d {
	case dSrc:
		off = srcOff
	case dDst:
		off = dstOff
	case dAnd:
		return and(c.hostop(addr, mask, dSrc, et, srcOff, dstOff), c.hostop(addr, mask, dDst, et, srcOff, dstOff))
	default:
		return or(c.hostop(addr, mask, dSrc, et, srcOff, dstOff), c.hostop(addr, mask, dDst, et, srcOff, dstOff))
	}
	return and(c.linktype(et), mcmp(c.offNL+off, 4, addr, mask))
}

func (c *compiler) host4(addr, mask uint32, p proto, d dir, what string) (*bnode, error) {
	switch p {
	case pDefault:
		b := or(c.hostop(addr, mask, d, ethIPv4, 12, 16), c.hostop(addr, mask, d, ethARP, 14, 24))
		return or(b, c.hostop(addr, mask, d, ethRARP, 14, 24)), nil
	case pIP:
		return c.hostop(addr, mask, d, ethIPv4, 12, 16), nil
	case pARP:
		return c.hostop(addr, mask, d, ethARP, 14, 24), nil
	case pRARP:
		return c.hostop(addr, mask, d, ethRARP, 14, 24), nil
	case pLink:
		return nil, fmt.Errorf("link-layer modifier applied to %s", what)
	case pIP6, pICMP6:
		return nil, fmt.Errorf("'%s' modifier applied to ip %s", protoNames[p], what)
	}
	return nil, fmt.Errorf("'%s' modifier applied to %s", protoNames[p], what)
}

func (c *compiler) hostop6(addr, mask [16]byte, d dir, srcOff, dstOff uint32) *bnode {
	var off uint32
	switch d {
	case dSrc:
		off = srcOff
	case dDst:
		off = dstOff
	case dAnd:
		return and(c.hostop6(addr, mask, dSrc, srcOff, dstOff), c.hostop6(addr, mask, dDst, srcOff, dstOff))
	default:
		return or(c.hostop6(addr, mask, dSrc, srcOff, dstOff), c.hostop6(addr, mask, dDst, srcOff, dstOff))
	}
	word := func(b [16]byte, i int) uint32 {
		return uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3])
	}
	b := mcmp(c.offNL+off+12, 4, word(addr, 3), word(mask, 3))
	for i := 2; i >= 0; i-- {
		b = and(mcmp(c.offNL+off+uint32(4*i), 4, word(addr, i), word(mask, i)), b)
	}
	return and(c.linktype(ethIPv6), b)
}

func (c *compiler) host6(addr, mask [16]byte, p proto, d dir, what string) (*bnode, error) {
	switch p {
	case pDefault, pIP6:
		return c.hostop6(addr, mask, d, 8, 24), nil
	case pLink:
		return nil, fmt.Errorf("link-layer modifier applied to ip6 %s", what)
	}
	return nil, fmt.Errorf("'%s' modifier applied to ip6 %s", protoNames[p], what)
}

func (c *compiler) etherHost(mac [6]byte, d dir) (*bnode, error) {
	if c.link != Ethernet {
		return nil, fmt.Errorf("Ethernet addresses are only supported on Ethernet links, not %v", c.link)
	}
	bcmp := func(off uint32) *bnode {
		w := uint32(mac[2])<<24 | uint32(mac[3])<<16 | uint32(mac[4])<<8 | uint32(mac[5])
		h := uint32(mac[0])<<8 | uint32(mac[1])
		return and(cmp(off+2, 4, w), cmp(off, 2, h))
	}
	switch d {
	case dSrc:
		return bcmp(6), nil
	case dDst:
		return bcmp(0), nil
	case dAnd:
		return and(bcmp(6), bcmp(0)), nil
	}
	return or(bcmp(6), bcmp(0)), nil
}

// Ports.

// portDir combines the source-port and destination-port tests.
func portDir(d dir, atom func(off uint32) *bnode) *bnode {
	switch d {
	case dSrc:
		return atom(0)
	case dDst:
		return atom(2)
	case dAnd:
		return and(atom(0), atom(2))
	}
	return or(atom(0), atom(2))
}

// transportProtos expands protoUndef to SCTP, TCP and UDP in libpcap's
// order and combines fn over them with "or".
func transportProtos(ipproto int, fn func(uint32) *bnode) *bnode {
	if ipproto != protoUndef {
		return fn(uint32(ipproto))
	}
	return or(fn(ipprotoSCTP), or(fn(ipprotoTCP), fn(ipprotoUDP)))
}

// portTest builds "port" (lo == hi) or "portrange" for IPv6 then IPv4.
func (c *compiler) portTest(lo, hi uint32, ipproto int, d dir, isRange bool) *bnode {
	if lo > hi {
		lo, hi = hi, lo
	}
	// IPv4: the transport header is after the IP header and its options.
	atom4 := func(off uint32) *bnode {
		load := func() []bpf.Instruction {
			return []bpf.Instruction{c.loadIPHdrLen(), bpf.LoadIndirect{Off: c.offNL + off, Size: 2}}
		}
		if !isRange {
			return atom(bpf.JumpEqual, lo, load()...)
		}
		return and(atom(bpf.JumpGreaterOrEqual, lo, load()...), not(atom(bpf.JumpGreaterThan, hi, load()...)))
	}
	// IPv6: only when the transport header directly follows the header.
	atom6 := func(off uint32) *bnode {
		if !isRange {
			return cmp(c.offNL+40+off, 2, lo)
		}
		return and(atom(bpf.JumpGreaterOrEqual, lo, ldAbs(c.offNL+40+off, 2)),
			not(atom(bpf.JumpGreaterThan, hi, ldAbs(c.offNL+40+off, 2))))
	}
	v4 := and(c.linktype(ethIPv4), transportProtos(ipproto, func(p uint32) *bnode {
		return and(and(cmp(c.offNL+9, 1, p), c.ipfrag()), portDir(d, atom4))
	}))
	v6 := and(c.linktype(ethIPv6), transportProtos(ipproto, func(p uint32) *bnode {
		return and(cmp(c.offNL+6, 1, p), portDir(d, atom6))
	}))
	return or(v6, v4)
}

func portProto(p proto, what string) (int, error) {
	switch p {
	case pDefault:
		return protoUndef, nil
	case pTCP:
		return ipprotoTCP, nil
	case pUDP:
		return ipprotoUDP, nil
	case pSCTP:
		return ipprotoSCTP, nil
	}
	return 0, fmt.Errorf("illegal qualifier of '%s'", what)
}

// Other primitives.

func (c *compiler) vlan(id uint32, hasID bool) (*bnode, error) {
	if c.link != Ethernet {
		return nil, fmt.Errorf("no VLAN support for %v", c.link)
	}
	if hasID && id > 4095 {
		return nil, fmt.Errorf("VLAN tag %d greater than maximum 4095", id)
	}
	lt := uint32(c.offLinkType)
	b := or(or(cmp(lt, 2, eth8021Q), cmp(lt, 2, eth8021A)), cmp(lt, 2, ethQinQ))
	if hasID {
		b = and(b, mcmp(c.offNL, 2, id, 0x0fff))
	}
	// Everything after the tag is 4 bytes further on, for the rest of the
	// expression.
	c.offLinkType += 4
	c.offNL += 4
	return b, nil
}

func (c *compiler) inbound(in bool) *bnode {
	var out *bnode
	switch c.link {
	case LinuxSLL:
		out = cmp(0, 2, packetOutgoing)
	case LinuxSLL2:
		out = cmp(10, 1, packetOutgoing)
	default:
		// Kernel ancillary data (libpcap does the same on live captures).
		out = atom(bpf.JumpEqual, packetOutgoing, bpf.RawInstruction{Op: 0x28, K: skfAdPktType})
	}
	if in {
		return not(out)
	}
	return out
}

// lenTest is "less n" (len <= n) or "greater n" (len >= n).
func (c *compiler) lenTest(less bool, n uint32) *bnode {
	load := []bpf.Instruction{bpf.LoadExtension{Num: bpf.ExtLen}}
	if adj := c.lenAdjust(); adj != 0 {
		load = append(load, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: adj})
	}
	if less {
		return not(atom(bpf.JumpGreaterThan, n, load...))
	}
	return atom(bpf.JumpGreaterOrEqual, n, load...)
}

// lenAdjust is what must be added to the kernel's packet length to get the
// length of the packet as the expression sees it.
func (c *compiler) lenAdjust() uint32 {
	if c.cooked {
		return sllHeaderLen
	}
	return 0
}

// Linux cooked sockets (AF_PACKET, SOCK_DGRAM): the kernel runs the filter
// on the network-layer packet; the cooked header's packet type and protocol
// are ancillary data. As libpcap does for live "any" captures, a program
// compiled for LinuxSLL is adapted: loads past the 16-byte header move 16
// bytes back, the two header fields become ancillary loads, and other
// header bytes cannot be read.
const (
	sllHeaderLen = 16
	skfAdOff     = 0xfffff000
	skfAdProto   = skfAdOff + 0
)

func cookedLoads(prog []bpf.Instruction) error {
	for i, ins := range prog {
		switch ins := ins.(type) {
		case bpf.LoadAbsolute:
			switch {
			case ins.Off >= sllHeaderLen:
				ins.Off -= sllHeaderLen
				prog[i] = ins
			case ins.Off == 14 && ins.Size == 2:
				prog[i] = bpf.RawInstruction{Op: 0x28, K: skfAdProto} // ldh [proto]
			case ins.Off == 0 && ins.Size == 2:
				prog[i] = bpf.RawInstruction{Op: 0x28, K: skfAdPktType} // ldh [type]
			default:
				return fmt.Errorf("a cooked socket filter cannot read byte %d of the Linux cooked header (only the packet type and protocol fields)", ins.Off)
			}
		case bpf.LoadIndirect:
			if ins.Off < sllHeaderLen {
				return fmt.Errorf("a cooked socket filter cannot index into the Linux cooked header")
			}
			ins.Off -= sllHeaderLen
			prog[i] = ins
		case bpf.LoadMemShift:
			if ins.Off < sllHeaderLen {
				return fmt.Errorf("a cooked socket filter cannot read byte %d of the Linux cooked header", ins.Off)
			}
			ins.Off -= sllHeaderLen
			prog[i] = ins
		}
	}
	return nil
}
