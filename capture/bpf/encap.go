package bpf

import "golang.org/x/net/bpf"

// Encapsulations: "vlan", "mpls", "pppoes" and "geneve" test for a header
// and then move the offsets that everything after them in the expression
// (in textual order, whatever the and/or structure) uses, as in libpcap.

func (c *compiler) vlanTPIDTest() *bnode {
	return or(or(c.linktype(eth8021Q), c.linktype(eth8021A)), c.linktype(ethQinQ))
}

func (c *compiler) vlanVIDTest(id uint32) *bnode {
	if id > 0x0fff {
		c.fail("VLAN tag %d greater than maximum %d", id, 0x0fff)
	}
	return c.mcmp(orLinkPL, 0, 2, id, 0x0fff)
}

// vlan is "vlan [id]".
func (c *compiler) vlan(id uint32, hasID bool) *bnode {
	if c.labelDepth > 0 {
		c.fail("no VLAN match after MPLS")
	}
	if c.curLink != Ethernet {
		c.fail("no VLAN support for %s", linktypeName(c.curLink))
	}
	var b *bnode
	if c.mode == modeLive && c.vlanDepth == 0 && !c.offLinkHdr.variable() && c.offLinkHdr.k == 0 {
		b = c.vlanAncillary(id, hasID)
	} else {
		b = c.vlanTPIDTest()
		if hasID {
			b = and(b, c.vlanVIDTest(id))
		}
		// Both the payload and the type field follow the tag.
		c.offLinkPL.k += 4
		c.offLinkType.k += 4
	}
	c.vlanDepth++
	return b
}

// vlanAncillary is libpcap's test of the outermost tag on a live Linux
// socket: the kernel usually removes the tag from the packet and reports
// it as ancillary data (SKF_AD_VLAN_TAG_PRESENT, SKF_AD_VLAN_TAG), but it
// may also still be in the packet. Which one holds is only known at run
// time, so the offsets of what follows become variable: registers that
// hold 0, or 4 when the tag was found in the packet (they are set to 0 at
// the start of the program).
func (c *compiler) vlanAncillary(id uint32, hasID bool) *bnode {
	present := atom(bpf.JumpEqual, 1, bpf.RawInstruction{Op: 0x30, K: skfAdVLANPres})
	// The in-packet tests use the offsets before the tag.
	tpidQ, tpidAD, tpidQinQ := c.linktype(eth8021Q), c.linktype(eth8021A), c.linktype(ethQinQ)
	var vidPkt *bnode
	if hasID {
		vidPkt = c.vlanVIDTest(id)
	}
	// When the tag is in the packet, everything after it moves 4 bytes:
	// the first TPID test adds 4 to both registers.
	var add []bpf.Instruction
	for _, o := range []*absOff{&c.offLinkPL, &c.offLinkType} {
		if o.reg < 0 {
			o.reg = c.vlanReserved[len(add)/3]
		}
		add = append(add, bpf.LoadScratch{Dst: bpf.RegA, N: o.reg}, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 4},
			bpf.StoreScratch{Src: bpf.RegA, N: o.reg})
	}
	c.vlanRegs = []int{c.offLinkPL.reg, c.offLinkType.reg}
	tpidQ.stmts = append(add, tpidQ.stmts...)
	b := or(present, or(or(tpidQ, tpidAD), tpidQinQ))
	if !hasID {
		return b
	}
	// The VLAN id: from the ancillary data when the tag is there, else
	// from the packet.
	present2 := atom(bpf.JumpEqual, 1, bpf.RawInstruction{Op: 0x30, K: skfAdVLANPres})
	vidAnc := atom(bpf.JumpEqual, id, bpf.RawInstruction{Op: 0x30, K: skfAdVLANTag}, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0fff})
	vid := or(and(present2, vidAnc), and(not(present2), vidPkt))
	return and(b, vid)
}

// vlanPrologue initialises the registers of the live "vlan" test.
func (c *compiler) vlanPrologue() []bpf.Instruction {
	if c.vlanRegs == nil {
		return nil
	}
	return []bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: 0},
		bpf.StoreScratch{Src: bpf.RegA, N: c.vlanRegs[0]}, bpf.StoreScratch{Src: bpf.RegA, N: c.vlanRegs[1]}}
}

// mpls is "mpls [label]".
func (c *compiler) mpls(label uint32, hasLabel bool) *bnode {
	var b *bnode
	if c.labelDepth > 0 {
		// Inside a label stack: the previous label is not the last.
		b = c.mcmp(orPrevMPLS, 2, 1, 0, 0x01)
	} else {
		switch c.curLink {
		case Ethernet:
			b = c.linktype(ethMPLS)
		case dltPPP:
			b = c.linktype(pppMPLSUcst)
		default:
			c.fail("no MPLS support for %s", linktypeName(c.curLink))
		}
	}
	if hasLabel {
		if label > 0xfffff {
			c.fail("MPLS label %d greater than maximum %d", label, 0xfffff)
		}
		b = and(b, c.mcmp(orLinkPL, 0, 4, label<<12, 0xfffff000))
	}
	c.offNLNoSnap += 4
	c.offNL += 4
	c.labelDepth++
	return b
}

// pppoed is "pppoed": PPPoE discovery packets.
func (c *compiler) pppoed() *bnode { return c.linktype(ethPPPoED) }

// pppoes is "pppoes [session]": PPPoE session packets. What follows is a
// PPP packet.
func (c *compiler) pppoes(sess uint32, hasSess bool) *bnode {
	b := c.linktype(ethPPPoES)
	if hasSess {
		if sess > 0xffff {
			c.fail("PPPoE session number %d greater than maximum %d", sess, 0xffff)
		}
		b = and(b, c.mcmp(orLinkPL, 0, 4, sess, 0xffff))
	}
	c.pushLinkHdr(dltPPP, absOff{k: c.offLinkPL.k + c.offNL + 6, reg: c.offLinkPL.reg})
	c.offLinkType = c.offLinkHdr
	c.offLinkPL.k = c.offLinkHdr.k + 2
	c.offNL, c.offNLNoSnap = 0, 0
	return b
}

func (c *compiler) pushLinkHdr(l LinkType, hdr absOff) {
	c.prevLink, c.offPrevLinkHdr = c.curLink, c.offLinkHdr
	c.curLink, c.offLinkHdr = l, hdr
	c.isGeneve = false
}

// geneve is "geneve [vni]": Geneve (UDP port 6081) over IPv4 or IPv6. What
// follows is the encapsulated frame: Ethernet (Transparent Ethernet
// Bridging) or a bare network-layer packet, at offsets only known at run
// time. As libpcap, programs with Geneve are not optimised.
func (c *compiler) geneve(vni uint32, hasVNI bool) *bnode {
	check := func(rel offRel, port *bnode) *bnode {
		b := and(port, c.mcmp(rel, 8, 1, 0, 0xc0)) // version 0
		if hasVNI {
			if vni > 0xffffff {
				c.fail("Geneve VNI %d greater than maximum %d", vni, 0xffffff)
			}
			b = and(b, c.mcmp(rel, 12, 4, vni<<8, 0xffffff00))
		}
		return b
	}
	// Each check ends with A holding the IP header length (plus the
	// variable part of the network-layer offset), which the offset
	// computation below starts from.
	g4 := check(orTranIPv4, c.port4(genevePort, genevePort, ipprotoUDP, dDst, false))
	g4 = and(g4, atomX(bpf.JumpEqual, append(c.loadXIPHdrLen(), bpf.TXA{})...))
	g6 := check(orTranIPv6, c.port6(genevePort, genevePort, ipprotoUDP, dDst, false))
	var s6 []bpf.Instruction
	if c.offLinkPL.variable() {
		s6 = []bpf.Instruction{bpf.LoadScratch{Dst: bpf.RegX, N: c.offLinkPL.reg},
			bpf.LoadConstant{Dst: bpf.RegA, Val: 40}, bpf.ALUOpX{Op: bpf.ALUOpAdd}}
	} else {
		s6 = []bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: 40}}
	}
	g6 = and(g6, atomX(bpf.JumpEqual, append(s6, bpf.TAX{})...))
	b := or(g4, g6)

	// The offsets (libpcap's gen_geneve_offsets): the Geneve header starts
	// after the UDP header; its protocol field is 2 bytes in; its length
	// is 8 bytes plus 4 * the option length in its first byte.
	regType := c.allocReg()
	s := []bpf.Instruction{
		bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: c.offLinkPL.k + c.offNL + 8},
		bpf.TAX{},
		bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 2},
		bpf.StoreScratch{Src: bpf.RegA, N: regType},
		bpf.LoadIndirect{Off: 0, Size: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x3f},
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: 4},
		bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 8},
		bpf.ALUOpX{Op: bpf.ALUOpAdd},
	}
	regHdr := c.allocReg()
	c.pushLinkHdr(Ethernet, absOff{k: 0, reg: regHdr})
	c.offLinkType = absOff{k: 0, reg: regType}
	s = append(s, bpf.StoreScratch{Src: bpf.RegA, N: regHdr},
		bpf.LoadIndirect{Off: 2, Size: 2},
		bpf.LoadScratch{Dst: bpf.RegX, N: regHdr})
	// Transparent Ethernet Bridging: the payload and its type field are
	// after the inner Ethernet header.
	isTEB := atom(bpf.JumpEqual, ethTEB, s...)
	regPL := c.allocReg()
	teb := atom(bpf.JumpEqual, 0, bpf.TXA{}, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 12},
		bpf.StoreScratch{Src: bpf.RegA, N: regType}, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 2}, bpf.TAX{},
		bpf.LoadConstant{Dst: bpf.RegA, Val: 0})
	store := atom(bpf.JumpEqual, 0, bpf.StoreScratch{Src: bpf.RegX, N: regPL}, bpf.LoadConstant{Dst: bpf.RegA, Val: 0})
	c.offLinkPL = absOff{k: 0, reg: regPL}
	c.offNL = 0
	c.isGeneve = true
	return and(b, and(or(and(isTEB, teb), nTrue), store))
}

// geneveLLCheck is true when the Geneve payload is an Ethernet frame: the
// link-layer header and payload offsets differ.
func (c *compiler) geneveLLCheck() *bnode {
	return not(atomX(bpf.JumpEqual, bpf.LoadScratch{Dst: bpf.RegA, N: c.offLinkHdr.reg},
		bpf.LoadScratch{Dst: bpf.RegX, N: c.offLinkPL.reg}))
}
