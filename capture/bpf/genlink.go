package bpf

import "golang.org/x/net/bpf"

// Link-layer types.

// linktypeName describes a link type in libpcap's words.
func linktypeName(l LinkType) string {
	switch l {
	case dltPPP:
		return "PPP"
	case Null:
		return "BSD loopback"
	case Loop:
		return "OpenBSD loopback"
	case IPv4:
		return "Raw IPv4"
	case IPv6:
		return "Raw IPv6"
	}
	return l.String()
}

// linktype tests the network-layer protocol: an Ethernet type, or an LLC
// SAP when <= 1500 (libpcap's gen_linktype).
func (c *compiler) linktype(ll uint32) *bnode {
	if c.labelDepth > 0 {
		return c.mplsLinktype(ll)
	}
	switch c.curLink {
	case Ethernet:
		return c.etherLinktype(ll)
	case LinuxSLL:
		return c.sllLinktype(ll)
	case Raw:
		switch ll {
		case ethIPv4:
			return c.mcmp(orLinkHdr, 0, 1, 0x40, 0xf0)
		case ethIPv6:
			return c.mcmp(orLinkHdr, 0, 1, 0x60, 0xf0)
		}
		return nFalse
	case IPv4:
		return konst(ll == ethIPv4)
	case IPv6:
		return konst(ll == ethIPv6)
	case dltPPP:
		return c.cmp(orLinkType, 0, 2, pppType(ll))
	case Null, Loop:
		switch ll {
		case ethIPv4:
			return c.loopbackLinktype(afINET)
		case ethIPv6:
			// A capture file may come from any BSD: all three values.
			b := or(c.loopbackLinktype(afINET6BSD), c.loopbackLinktype(afINET6FreeBSD))
			return or(b, c.loopbackLinktype(afINET6Darwin))
		}
		return nFalse
	}
	// LinuxSLL2: the type field holds an Ethernet type.
	return c.cmp(orLinkType, 0, 2, ll)
}

// loopbackLinktype tests the 4-byte address family of DLT_NULL (in the
// byte order of the capturing machine: little-endian unless nullBE) or
// DLT_LOOP (network byte order).
func (c *compiler) loopbackLinktype(af uint32) *bnode {
	if c.curLink == Null && !c.nullBE {
		af = af<<24 | af>>24 | (af>>8)&0xff00 | (af<<8)&0xff0000
	}
	return c.cmp(orLinkHdr, 0, 4, af)
}

func pppType(ll uint32) uint32 {
	switch ll {
	case ethIPv4:
		return pppIP
	case ethIPv6:
		return pppIPv6
	case ethDN:
		return pppDECnet
	case ethATalk:
		return pppApple
	case ethNS:
		return pppNS
	case llcISONS:
		return pppOSI
	case llc8021D:
		return pppBRPDU
	case llcIPX:
		return pppIPX
	}
	return ll
}

// snap tests for an 802.2 LLC SNAP header with the given organisation code
// and protocol type.
func (c *compiler) snap(org, ptype uint32) *bnode {
	return c.bcmp(orLLC, 0, []byte{llcSNAP, llcSNAP, 0x03, byte(org >> 16), byte(org >> 8), byte(org), byte(ptype >> 8), byte(ptype)})
}

// notType8023 is true for 802.3 frames: the type field is a length.
func (c *compiler) isLength() *bnode { return not(c.cmpGT(orLinkType, 0, 2, etherMTU)) }

func (c *compiler) etherLinktype(ll uint32) *bnode {
	switch ll {
	case llcISONS, llcIP, llcNetBEUI:
		return and(c.isLength(), c.cmp(orLLC, 0, 2, ll<<8|ll))
	case llcIPX:
		b := or(c.cmp(orLLC, 0, 1, llcIPX), c.cmp(orLLC, 0, 2, 0xffff))
		b = or(c.snap(0, ethIPX), b)
		b = and(c.isLength(), b)
		return or(c.cmp(orLinkType, 0, 2, ethIPX), b)
	case ethATalk, ethAARP:
		var s *bnode
		if ll == ethATalk {
			s = c.snap(0x080007, ethATalk)
		} else {
			s = c.snap(0, ethAARP)
		}
		return or(c.cmp(orLinkType, 0, 2, ll), and(c.isLength(), s))
	}
	if ll <= etherMTU {
		return and(c.isLength(), c.cmp(orLinkType, 2, 1, ll))
	}
	return c.cmp(orLinkType, 0, 2, ll)
}

func (c *compiler) sllLinktype(ll uint32) *bnode {
	switch ll {
	case llcISONS, llcIP, llcNetBEUI:
		return and(c.cmp(orLinkType, 0, 2, sllP8022), c.cmp(orLLC, 0, 2, ll<<8|ll))
	case llcIPX:
		b := or(c.cmp(orLLC, 0, 1, llcIPX), c.snap(0, ethIPX))
		b = and(c.cmp(orLinkType, 0, 2, sllP8022), b)
		b = or(c.cmp(orLinkType, 0, 2, sllP8023), b)
		return or(c.cmp(orLinkType, 0, 2, ethIPX), b)
	case ethATalk, ethAARP:
		var s *bnode
		if ll == ethATalk {
			s = c.snap(0x080007, ethATalk)
		} else {
			s = c.snap(0, ethAARP)
		}
		return or(c.cmp(orLinkType, 0, 2, ll), and(c.cmp(orLinkType, 0, 2, sllP8022), s))
	}
	if ll <= etherMTU {
		return and(c.cmp(orLinkType, 0, 2, sllP8022), c.cmp(orLinkHdr, c.offLinkPL.k, 1, ll))
	}
	return c.cmp(orLinkType, 0, 2, ll)
}

// mplsLinktype tests the protocol inside an MPLS label stack: the
// bottom-of-stack bit of the last label and the IP version.
func (c *compiler) mplsLinktype(ll uint32) *bnode {
	var ver uint32
	switch ll {
	case ethIPv4:
		ver = 0x40
	case ethIPv6:
		ver = 0x60
	default:
		c.fail("unsupported protocol over mpls")
	}
	return and(c.mcmp(orLinkPL, ^uint32(1), 1, 0x01, 0x01), c.mcmp(orLinkPL, 0, 1, ver, 0xf0))
}

// prevLinkHdrCheck is the test that the current layer has a link-layer
// header at all (after Geneve, which may carry bare IP), or nil.
func (c *compiler) prevLinkHdrCheck() *bnode {
	if c.isGeneve {
		return c.geneveLLCheck()
	}
	return nil
}

func andPrev(check, b *bnode) *bnode {
	if check == nil {
		return b
	}
	return and(check, b)
}

// ipfrag is true unless the IPv4 packet is a fragment other than the first.
func (c *compiler) ipfrag() *bnode {
	return not(atom(bpf.JumpBitsSet, 0x1fff, c.ld(orLinkPL, 6, 2)...))
}
