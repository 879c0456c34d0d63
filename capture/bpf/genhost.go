package bpf

import "fmt"

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
	return and(c.linktype(et), c.mcmp(orLinkPL, off, 4, addr, mask))
}

// hostModifierErrors are libpcap's messages for protocol qualifiers that
// cannot qualify an IPv4 host or network (%s is "host" or "net").
var hostModifierErrors = map[proto]string{
	pATALK: "AppleTalk host filtering not implemented", pLAT: "LAT host filtering not implemented",
	pSCA: "SCA host filtering not implemented", pMOPRC: "MOPRC host filtering not implemented",
	pMOPDL: "MOPDL host filtering not implemented", pAARP: "AARP host filtering not implemented",
	pISO: "ISO host filtering not implemented", pIPX: "IPX host filtering not implemented",
	pDECNET: "DECnet host filtering is not supported", pIP6: "'ip6' modifier applied to ip host",
}

func (c *compiler) host4(addr, mask uint32, p proto, d dir, what string) (*bnode, error) {
	switch p {
	case pDefault:
		b := c.hostop(addr, mask, d, ethIPv4, 12, 16)
		if c.labelDepth == 0 {
			b = or(b, c.hostop(addr, mask, d, ethARP, 14, 24))
			b = or(b, c.hostop(addr, mask, d, ethRARP, 14, 24))
		}
		return b, nil
	case pIP:
		return c.hostop(addr, mask, d, ethIPv4, 12, 16), nil
	case pARP:
		return c.hostop(addr, mask, d, ethARP, 14, 24), nil
	case pRARP:
		return c.hostop(addr, mask, d, ethRARP, 14, 24), nil
	case pLink:
		return nil, semErr("link-layer modifier applied to %s", what)
	}
	if msg, ok := hostModifierErrors[p]; ok {
		return nil, semErr("%s", msg)
	}
	return nil, semErr("'%s' modifier applied to %s", protoNames[p], what)
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
	b := c.mcmp(orLinkPL, off+12, 4, word(addr, 3), word(mask, 3))
	for i := 2; i >= 0; i-- {
		b = and(c.mcmp(orLinkPL, off+uint32(4*i), 4, word(addr, i), word(mask, i)), b)
	}
	return and(c.linktype(ethIPv6), b)
}

func (c *compiler) host6(addr, mask [16]byte, p proto, d dir, what string) (*bnode, error) {
	switch p {
	case pDefault, pIP6:
		return c.hostop6(addr, mask, d, 8, 24), nil
	case pLink:
		return nil, semErr("link-layer modifier applied to ip6 %s", what)
	case pATALK:
		return nil, semErr("AppleTalk modifier applied to ip6 %s", what)
	}
	return nil, semErr("'%s' modifier applied to ip6 %s", protoNames[p], what)
}

// etherHost is "ether [src|dst] host MAC".
func (c *compiler) etherHost(mac [6]byte, d dir) (*bnode, error) {
	if c.curLink != Ethernet {
		return nil, semErr("ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel (not %s)", linktypeName(c.curLink))
	}
	return andPrev(c.prevLinkHdrCheck(), c.ehostop(mac[:], d)), nil
}

func (c *compiler) ehostop(mac []byte, d dir) *bnode {
	switch d {
	case dSrc:
		return c.bcmp(orLinkHdr, 6, mac)
	case dDst:
		return c.bcmp(orLinkHdr, 0, mac)
	case dAnd:
		return and(c.ehostop(mac, dSrc), c.ehostop(mac, dDst))
	}
	return or(c.ehostop(mac, dSrc), c.ehostop(mac, dDst))
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

// transportProtos expands protoUndef to TCP, UDP and SCTP in libpcap's
// order and combines fn over them with "or".
func transportProtos(ipproto int, fn func(uint32) *bnode) *bnode {
	if ipproto != protoUndef {
		return fn(uint32(ipproto))
	}
	return or(fn(ipprotoSCTP), or(fn(ipprotoTCP), fn(ipprotoUDP)))
}

// port4 is libpcap's gen_port (isRange false) or gen_portrange: IPv4.
func (c *compiler) port4(lo, hi uint32, ipproto int, d dir, isRange bool) *bnode {
	atom4 := func(off uint32) *bnode {
		if !isRange {
			return c.cmp(orTranIPv4, off, 2, lo)
		}
		return and(c.cmpGE(orTranIPv4, off, 2, lo), not(c.cmpGT(orTranIPv4, off, 2, hi)))
	}
	return and(c.linktype(ethIPv4), transportProtos(ipproto, func(p uint32) *bnode {
		return and(and(c.cmp(orLinkPL, 9, 1, p), c.ipfrag()), portDir(d, atom4))
	}))
}

// port6 is libpcap's gen_port6 or gen_portrange6: the transport header
// must directly follow the IPv6 header.
func (c *compiler) port6(lo, hi uint32, ipproto int, d dir, isRange bool) *bnode {
	atom6 := func(off uint32) *bnode {
		if !isRange {
			return c.cmp(orTranIPv6, off, 2, lo)
		}
		return and(c.cmpGE(orTranIPv6, off, 2, lo), not(c.cmpGT(orTranIPv6, off, 2, hi)))
	}
	return and(c.linktype(ethIPv6), transportProtos(ipproto, func(p uint32) *bnode {
		return and(c.cmp(orLinkPL, 6, 1, p), portDir(d, atom6))
	}))
}

// portTest builds "port" (lo == hi) or "portrange" for IPv6 then IPv4.
func (c *compiler) portTest(lo, hi uint32, ipproto int, d dir, isRange bool) *bnode {
	if lo > hi {
		lo, hi = hi, lo
	}
	v4 := c.port4(lo, hi, ipproto, d, isRange)
	return or(c.port6(lo, hi, ipproto, d, isRange), v4)
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
