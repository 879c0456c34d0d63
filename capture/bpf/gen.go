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
	pIGRP
	pPIM
	pVRRP
	pCARP
	pAH
	pESP
	pATALK
	pAARP
	pDECNET
	pLAT
	pSCA
	pMOPDL
	pMOPRC
	pISO
	pESIS
	pISIS
	pISISL1
	pISISL2
	pISISIIH
	pISISLSP
	pISISSNP
	pISISPSNP
	pISISCSNP
	pCLNP
	pSTP
	pIPX
	pNETBEUI
	pRADIO
)

// protoKeywords are the protocol qualifiers of libpcap's scanner.
var protoKeywords = map[string]proto{
	"ether": pLink, "link": pLink, "ppp": pLink, "slip": pLink, "fddi": pLink, "tr": pLink, "wlan": pLink,
	"ip": pIP, "ip6": pIP6, "arp": pARP, "rarp": pRARP,
	"tcp": pTCP, "udp": pUDP, "icmp": pICMP, "icmp6": pICMP6, "sctp": pSCTP, "igmp": pIGMP,
	"igrp": pIGRP, "pim": pPIM, "vrrp": pVRRP, "carp": pCARP, "ah": pAH, "esp": pESP,
	"atalk": pATALK, "aarp": pAARP, "decnet": pDECNET, "lat": pLAT, "sca": pSCA, "mopdl": pMOPDL, "moprc": pMOPRC,
	"iso": pISO, "esis": pESIS, "es-is": pESIS, "isis": pISIS, "is-is": pISIS,
	"l1": pISISL1, "l2": pISISL2, "iih": pISISIIH, "lsp": pISISLSP, "snp": pISISSNP, "psnp": pISISPSNP, "csnp": pISISCSNP,
	"clnp": pCLNP, "stp": pSTP, "ipx": pIPX, "netbeui": pNETBEUI, "radio": pRADIO,
}

// protoNames are the names libpcap's error messages use.
var protoNames = map[proto]string{
	pLink: "link-layer", pIP: "ip", pIP6: "ip6", pARP: "arp", pRARP: "rarp", pTCP: "tcp",
	pUDP: "udp", pICMP: "icmp", pICMP6: "icmp6", pSCTP: "sctp", pIGMP: "igmp",
	pIGRP: "igrp", pPIM: "pim", pVRRP: "vrrp", pCARP: "carp", pAH: "ah", pESP: "esp",
	pATALK: "atalk", pAARP: "aarp", pDECNET: "decnet", pLAT: "lat", pSCA: "sca", pMOPDL: "mopdl", pMOPRC: "moprc",
	pISO: "iso", pESIS: "esis", pISIS: "isis", pISISL1: "l1", pISISL2: "l2", pISISIIH: "iih", pISISLSP: "lsp",
	pISISSNP: "snp", pISISPSNP: "psnp", pISISCSNP: "csnp", pCLNP: "clnp", pSTP: "stp", pIPX: "ipx",
	pNETBEUI: "netbeui", pRADIO: "radio",
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

// Ethernet types, LLC SAPs, PPP protocols and IP protocol numbers.
const (
	ethIPv4     = 0x0800
	ethARP      = 0x0806
	ethRARP     = 0x8035
	ethIPv6     = 0x86dd
	eth8021Q    = 0x8100
	eth8021A    = 0x88a8
	ethQinQ     = 0x9100
	ethMPLS     = 0x8847
	ethPPPoED   = 0x8863
	ethPPPoES   = 0x8864
	ethTEB      = 0x6558
	ethATalk    = 0x809b
	ethAARP     = 0x80f3
	ethIPX      = 0x8137
	ethDN       = 0x6003
	ethLAT      = 0x6004
	ethSCA      = 0x6007
	ethMOPDL    = 0x6001
	ethMOPRC    = 0x6002
	ethNS       = 0x0600
	ethLoopback = 0x9000
	etherMTU    = 1500

	llcIP      = 0x06
	llc8021D   = 0x42
	llcSNAP    = 0xaa
	llcIPX     = 0xe0
	llcNetBEUI = 0xf0
	llcISONS   = 0xfe

	sllP8023 = 0x0001 // LINUX_SLL_P_802_3
	sllP8022 = 0x0004 // LINUX_SLL_P_802_2

	pppIP       = 0x0021
	pppOSI      = 0x0023
	pppNS       = 0x0025
	pppDECnet   = 0x0027
	pppApple    = 0x0029
	pppIPX      = 0x002b
	pppBRPDU    = 0x0031
	pppIPv6     = 0x0057
	pppMPLSUcst = 0x0281

	isoCLNP = 0x81
	isoESIS = 0x82
	isoISIS = 0x83

	isisL1LANIIH = 15
	isisL2LANIIH = 16
	isisPTPIIH   = 17
	isisL1LSP    = 18
	isisL2LSP    = 20
	isisL1CSNP   = 24
	isisL2CSNP   = 25
	isisL1PSNP   = 26
	isisL2PSNP   = 27

	ipprotoICMP   = 1
	ipprotoIGMP   = 2
	ipprotoTCP    = 6
	ipprotoIGRP   = 9
	ipprotoUDP    = 17
	ipprotoFrag   = 44
	ipprotoESP    = 50
	ipprotoAH     = 51
	ipprotoICMPv6 = 58
	ipprotoPIM    = 103
	ipprotoVRRP   = 112
	ipprotoCARP   = 112
	ipprotoSCTP   = 132
	protoUndef    = -1 // tcp, udp or sctp

	genevePort = 6081

	packetOutgoing = 4
	skfAdOff       = 0xfffff000
	skfAdProto     = skfAdOff + 0  // SKF_AD_PROTOCOL
	skfAdPktType   = skfAdOff + 4  // SKF_AD_PKTTYPE
	skfAdIfindex   = skfAdOff + 8  // SKF_AD_IFINDEX
	skfAdVLANTag   = skfAdOff + 44 // SKF_AD_VLAN_TAG
	skfAdVLANPres  = skfAdOff + 48 // SKF_AD_VLAN_TAG_PRESENT

	// AF_INET6 values of the BSDs, FreeBSD and Darwin (DLT_NULL, DLT_LOOP).
	afINET         = 2
	afINET6BSD     = 24
	afINET6FreeBSD = 28
	afINET6Darwin  = 30
)

// offNotSet marks a link type without a type field (libpcap's
// OFFSET_NOT_SET).
const offNotSet = ^uint32(0)

// absOff is libpcap's bpf_abs_offset: an offset from the start of the
// packet, made of a constant and, when reg >= 0, the value held in scratch
// register reg (offsets that depend on the packet: after "geneve", or the
// live "vlan" test).
type absOff struct {
	k   uint32
	reg int
}

func constOff(k uint32) absOff { return absOff{k: k, reg: -1} }

func (o absOff) variable() bool { return o.reg >= 0 }

// offRel says what an offset is relative to (libpcap's e_offrel).
type offRel int

const (
	orPacket       offRel = iota // the start of the packet
	orLinkHdr                    // the link-layer header
	orPrevLinkHdr                // the previous link-layer header (PPPoE, Geneve)
	orLLC                        // the link-layer payload, 802.2 LLC header included
	orPrevMPLS                   // the previous MPLS label
	orLinkPL                     // the network-layer header
	orLinkPLNoSnap               // the network-layer header of 802.3/802.2 frames
	orLinkType                   // the link-layer type field
	orTranIPv4                   // the transport header after an IPv4 header
	orTranIPv6                   // the transport header after a 40-byte IPv6 header
)

// Compilation modes: where the program will run.
type mode int

const (
	modeGeneric mode = iota // Compile: packet data; Linux ancillary data for inbound/outbound
	modeFile                // NewFilter: packets read from a capture file
	modeLive                // CompileLive: a Linux socket filter on an Ethernet device
)

// Link types the code generator knows internally beyond the public ones:
// PPP, the link type of what follows a PPPoE session header.
const dltPPP LinkType = 9

// compiler holds the state that libpcap keeps while generating code: the
// link type and the offsets of the link-layer header, its type field and
// its payload, which "vlan", "mpls", "pppoes" and "geneve" change for
// everything generated after them (in textual order).
type compiler struct {
	link     LinkType // the capture's link type (libpcap's outermostlinktype)
	curLink  LinkType // the link type of the current layer
	prevLink LinkType

	offLinkHdr, offPrevLinkHdr, offLinkType, offLinkPL absOff
	offNL, offNLNoSnap                                 uint32 // network layer, relative to offLinkPL

	labelDepth int   // MPLS labels seen
	vlanDepth  int   // VLAN tags seen
	isGeneve   bool  // the current layer is a Geneve payload
	vlanRegs   []int // registers of the live "vlan" test, set to 0 at the start
	// vlanReserved are the registers the live "vlan" test will use, kept
	// from arithmetic before it too (they are initialised at the start).
	vlanReserved []int
	noOptimize   bool // libpcap does not optimise (Geneve): neither do we
	nextReg      int  // scratch registers used for variable offsets, from 15 down

	mode   mode
	nullBE bool // DLT_NULL captured on a big-endian machine

	toks  []token
	pos   int
	depth int // current nesting, bounded by maxDepth

	// libpcapArth reproduces libpcap's dropping of the right operand's
	// protocol tests in arithmetic (tests only).
	libpcapArth bool

	// cooked: LinuxSLL semantics for a SOCK_DGRAM socket (see cookedLoads).
	cooked bool

	// names resolves host, port, protocol, network and Ethernet names.
	names resolver
}

func newCompiler(l LinkType) (*compiler, error) {
	c := &compiler{link: l, nextReg: maxScratch - 1}
	c.offLinkHdr = constOff(0)
	switch l {
	case Ethernet:
		c.offLinkType, c.offLinkPL, c.offNLNoSnap = constOff(12), constOff(14), 3
	case LinuxSLL:
		c.offLinkType, c.offLinkPL = constOff(14), constOff(16)
	case LinuxSLL2:
		c.offLinkType, c.offLinkPL = constOff(0), constOff(20)
	case Null, Loop:
		c.offLinkType, c.offLinkPL = constOff(0), constOff(4)
	case Raw, linktypeRaw, rawOpenBSD:
		c.link = Raw
		c.offLinkType, c.offLinkPL = constOff(offNotSet), constOff(0)
	case IPv4, IPv6:
		c.offLinkType, c.offLinkPL = constOff(offNotSet), constOff(0)
	default:
		return nil, fmt.Errorf("unsupported link type %d (supported: NULL 0, Ethernet 1, Raw 12/14/101, LOOP 108, LinuxSLL 113, IPv4 228, IPv6 229, LinuxSLL2 276)", int(l))
	}
	c.curLink, c.prevLink = c.link, c.link
	c.offPrevLinkHdr = c.offLinkHdr
	return c, nil
}

// compileError carries a semantic error out of the code generator, as
// libpcap's bpf_error longjmps out of it; compile recovers it.
type compileError struct{ err error }

func (c *compiler) fail(format string, args ...any) {
	panic(compileError{semErr(format, args...)})
}

// allocReg returns a scratch register for a variable offset. They are
// taken from the top; arithmetic uses the registers below them.
func (c *compiler) allocReg() int {
	if c.nextReg < 0 {
		c.fail("too many registers needed to evaluate expression")
	}
	r := c.nextReg
	c.nextReg--
	return r
}

// scratchLimit is the number of registers arithmetic may use.
func (c *compiler) scratchLimit() int { return c.nextReg + 1 }

// Loads.

func ldAbs(off uint32, size int) bpf.Instruction { return bpf.LoadAbsolute{Off: off, Size: size} }

// loadAt loads size bytes at o + off.
func loadAt(o absOff, off uint32, size int) []bpf.Instruction {
	if o.variable() {
		return []bpf.Instruction{bpf.LoadScratch{Dst: bpf.RegX, N: o.reg}, bpf.LoadIndirect{Off: o.k + off, Size: size}}
	}
	return []bpf.Instruction{ldAbs(o.k+off, size)}
}

// loadCtx is what byte accesses ("ip[2:2]", "tcp[13]") need of the
// offsets where they appear.
type loadCtx struct {
	hdr, pl absOff
	nl      uint32
}

func (c *compiler) loadCtx() loadCtx {
	return loadCtx{hdr: c.offLinkHdr, pl: c.offLinkPL, nl: c.offNL}
}

// xIPHdrLen puts in X the IPv4 header length plus the variable part of
// the network-layer offset (libpcap's gen_loadx_iphdrlen).
func (l loadCtx) xIPHdrLen() []bpf.Instruction {
	if l.pl.variable() {
		return []bpf.Instruction{
			bpf.LoadScratch{Dst: bpf.RegX, N: l.pl.reg},
			bpf.LoadIndirect{Off: l.pl.k + l.nl, Size: 1},
			bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf},
			bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2},
			bpf.ALUOpX{Op: bpf.ALUOpAdd},
			bpf.TAX{},
		}
	}
	return []bpf.Instruction{bpf.LoadMemShift{Off: l.pl.k + l.nl}}
}

func (c *compiler) loadXIPHdrLen() []bpf.Instruction { return c.loadCtx().xIPHdrLen() }

// ld is libpcap's gen_load_a: the statements that load size bytes at off
// relative to rel.
func (c *compiler) ld(rel offRel, off uint32, size int) []bpf.Instruction {
	switch rel {
	case orPacket:
		return []bpf.Instruction{ldAbs(off, size)}
	case orLinkHdr:
		return loadAt(c.offLinkHdr, off, size)
	case orPrevLinkHdr:
		return loadAt(c.offPrevLinkHdr, off, size)
	case orLLC:
		return loadAt(c.offLinkPL, off, size)
	case orPrevMPLS:
		return loadAt(c.offLinkPL, c.offNL-4+off, size)
	case orLinkPL:
		return loadAt(c.offLinkPL, c.offNL+off, size)
	case orLinkPLNoSnap:
		return loadAt(c.offLinkPL, c.offNLNoSnap+off, size)
	case orLinkType:
		return loadAt(c.offLinkType, off, size)
	case orTranIPv4:
		return append(c.loadXIPHdrLen(), bpf.LoadIndirect{Off: c.offLinkPL.k + c.offNL + off, Size: size})
	case orTranIPv6:
		return loadAt(c.offLinkPL, c.offNL+40+off, size)
	}
	panic("unknown offset relation")
}

// cmp tests the size-byte big-endian value at off (relative to rel) for
// equality with v.
func (c *compiler) cmp(rel offRel, off uint32, size int, v uint32) *bnode {
	return atom(bpf.JumpEqual, v, c.ld(rel, off, size)...)
}

// mcmp tests (value at off) & mask == v.
func (c *compiler) mcmp(rel offRel, off uint32, size int, v, mask uint32) *bnode {
	switch {
	case mask == 0xffffffff:
		return c.cmp(rel, off, size, v)
	case mask == 0 && !c.noOptimize:
		return konst(v == 0) // libpcap's optimiser drops the load as well
	}
	return atom(bpf.JumpEqual, v, append(c.ld(rel, off, size), bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})...)
}

// ncmp is "value at off > v" (gt) or ">= v".
func (c *compiler) cmpGT(rel offRel, off uint32, size int, v uint32) *bnode {
	return atom(bpf.JumpGreaterThan, v, c.ld(rel, off, size)...)
}

func (c *compiler) cmpGE(rel offRel, off uint32, size int, v uint32) *bnode {
	return atom(bpf.JumpGreaterOrEqual, v, c.ld(rel, off, size)...)
}

// bcmp compares len(v) bytes at off with v, last word first (libpcap's
// gen_bcmp).
func (c *compiler) bcmp(rel offRel, off uint32, v []byte) *bnode {
	var b *bnode
	add := func(t *bnode) {
		if b == nil {
			b = t
		} else {
			b = and(b, t)
		}
	}
	size := uint32(len(v))
	for size >= 4 {
		p := v[size-4:]
		add(c.cmp(rel, off+size-4, 4, uint32(p[0])<<24|uint32(p[1])<<16|uint32(p[2])<<8|uint32(p[3])))
		size -= 4
	}
	for size >= 2 {
		p := v[size-2:]
		add(c.cmp(rel, off+size-2, 2, uint32(p[0])<<8|uint32(p[1])))
		size -= 2
	}
	if size > 0 {
		add(c.cmp(rel, off, 1, uint32(v[0])))
	}
	return b
}

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

// Protocols.

// protoAbbrev is a protocol name used as a primitive ("tcp", "pim", "stp").
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
	case pIGRP:
		return c.genProto(ipprotoIGRP, pIP)
	case pPIM:
		return c.genProto(ipprotoPIM, pDefault)
	case pVRRP:
		return c.genProto(ipprotoVRRP, pIP)
	case pCARP:
		return c.genProto(ipprotoCARP, pIP)
	case pICMP6:
		return c.genProto(ipprotoICMPv6, pIP6)
	case pAH:
		return c.genProto(ipprotoAH, pDefault)
	case pESP:
		return c.genProto(ipprotoESP, pDefault)
	case pIP:
		return c.linktype(ethIPv4), nil
	case pIP6:
		return c.linktype(ethIPv6), nil
	case pARP:
		return c.linktype(ethARP), nil
	case pRARP:
		return c.linktype(ethRARP), nil
	case pATALK:
		return c.linktype(ethATalk), nil
	case pAARP:
		return c.linktype(ethAARP), nil
	case pDECNET:
		return c.linktype(ethDN), nil
	case pSCA:
		return c.linktype(ethSCA), nil
	case pLAT:
		return c.linktype(ethLAT), nil
	case pMOPDL:
		return c.linktype(ethMOPDL), nil
	case pMOPRC:
		return c.linktype(ethMOPRC), nil
	case pISO:
		return c.linktype(llcISONS), nil
	case pESIS:
		return c.genProto(isoESIS, pISO)
	case pISIS:
		return c.genProto(isoISIS, pISO)
	case pCLNP:
		return c.genProto(isoCLNP, pISO)
	case pISISL1:
		return c.isisTypes(isisL1LANIIH, isisPTPIIH, isisL1LSP, isisL1CSNP, isisL1PSNP)
	case pISISL2:
		return c.isisTypes(isisL2LANIIH, isisPTPIIH, isisL2LSP, isisL2CSNP, isisL2PSNP)
	case pISISIIH:
		return c.isisTypes(isisL1LANIIH, isisL2LANIIH, isisPTPIIH)
	case pISISLSP:
		return c.isisTypes(isisL1LSP, isisL2LSP)
	case pISISSNP:
		return c.isisTypes(isisL1CSNP, isisL2CSNP, isisL1PSNP, isisL2PSNP)
	case pISISCSNP:
		return c.isisTypes(isisL1CSNP, isisL2CSNP)
	case pISISPSNP:
		return c.isisTypes(isisL1PSNP, isisL2PSNP)
	case pSTP:
		return c.linktype(llc8021D), nil
	case pIPX:
		return c.linktype(llcIPX), nil
	case pNETBEUI:
		return c.linktype(llcNetBEUI), nil
	case pRADIO:
		return nil, semErr("'radio' is not a valid protocol type")
	}
	return nil, semErr("link layer applied in wrong context")
}

// isisTypes is "isis proto t0 or isis proto t1 ...".
func (c *compiler) isisTypes(types ...uint32) (*bnode, error) {
	var b *bnode
	for _, t := range types {
		x, err := c.genProto(t, pISIS)
		if err != nil {
			return nil, err
		}
		if b == nil {
			b = x
		} else {
			b = or(b, x)
		}
	}
	return b, nil
}

// genProto is "[ip|ip6|ether|iso|isis] proto v" (libpcap's gen_proto).
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
	case pLink:
		return c.linktype(v), nil
	case pIP:
		return and(c.linktype(ethIPv4), c.cmp(orLinkPL, 9, 1, v)), nil
	case pIP6:
		// The protocol, or a fragment header followed by the protocol.
		viaFrag := and(c.cmp(orLinkPL, 6, 1, ipprotoFrag), c.cmp(orLinkPL, 40, 1, v))
		return and(c.linktype(ethIPv6), or(c.cmp(orLinkPL, 6, 1, v), viaFrag)), nil
	case pISO:
		return and(c.linktype(llcISONS), c.cmp(orLinkPLNoSnap, 0, 1, v)), nil
	case pISIS:
		b0, err := c.genProto(isoISIS, pISO)
		if err != nil {
			return nil, err
		}
		return and(b0, c.cmp(orLinkPLNoSnap, 4, 1, v)), nil
	case pARP, pRARP:
		return nil, semErr("%s does not encapsulate another protocol", protoNames[p])
	case pATALK:
		return nil, semErr("AppleTalk encapsulation is not specifiable")
	case pDECNET:
		return nil, semErr("DECNET encapsulation is not specifiable")
	case pLAT, pSCA, pMOPRC, pMOPDL:
		return nil, semErr("%s does not encapsulate another protocol", upper(protoNames[p]))
	case pCLNP:
		return nil, semErr("'clnp proto' is not supported")
	}
	return nil, semErr("'%s proto' is bogus", protoNames[p])
}

func upper(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch >= 'a' && ch <= 'z' {
			b[i] = ch - 'a' + 'A'
		}
	}
	return string(b)
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

// Other primitives.

func (c *compiler) inbound(in bool) (*bnode, error) {
	var out *bnode
	switch c.curLink {
	case LinuxSLL:
		out = c.cmp(orLinkHdr, 0, 2, packetOutgoing)
	case LinuxSLL2:
		out = c.cmp(orLinkHdr, 10, 1, packetOutgoing)
	default:
		if c.mode == modeFile {
			return nil, semErr("inbound/outbound not supported on %s when reading savefiles", linktypeName(c.curLink))
		}
		// Kernel ancillary data (libpcap does the same on live captures).
		out = atom(bpf.JumpEqual, packetOutgoing, bpf.RawInstruction{Op: 0x28, K: skfAdPktType})
	}
	if in {
		return not(out), nil
	}
	return out, nil
}

// ifindex is "ifindex N": the interface of a LinuxSLL2 packet, or the
// kernel's ancillary data on a live socket.
func (c *compiler) ifindex(n uint32) (*bnode, error) {
	if c.curLink == LinuxSLL2 {
		return c.cmp(orLinkHdr, 4, 4, n), nil
	}
	if c.mode == modeFile {
		return nil, semErr("ifindex not supported on %s when reading savefiles", linktypeName(c.curLink))
	}
	return atom(bpf.JumpEqual, n, bpf.RawInstruction{Op: 0x20, K: skfAdIfindex}), nil
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

// byteOp is "byte idx op val": the byte at idx of the link-layer header
// compared (=, <, >) or tested with a mask (&, |: nonzero).
func (c *compiler) byteOp(op string, idx, val uint32) *bnode {
	switch op {
	case "=":
		return c.cmp(orLinkHdr, idx, 1, val)
	case "<":
		return not(c.cmpGE(orLinkHdr, idx, 1, val))
	case ">":
		return c.cmpGT(orLinkHdr, idx, 1, val)
	}
	alu := bpf.ALUOpAnd
	if op == "|" {
		alu = bpf.ALUOpOr
	}
	return not(atom(bpf.JumpEqual, 0, append(c.ld(orLinkHdr, idx, 1), bpf.ALUOpConstant{Op: alu, Val: val})...))
}

// broadcast is "[ether|ip] broadcast". The netmask is unknown for files
// (0, as in tcpdump -r), so "ip broadcast" is 0.0.0.0 or 255.255.255.255.
func (c *compiler) broadcast(p proto) (*bnode, error) {
	switch p {
	case pDefault, pLink:
		if c.curLink != Ethernet {
			return nil, semErr("not a broadcast link")
		}
		return andPrev(c.prevLinkHdrCheck(), c.ehostop([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, dDst)), nil
	case pIP:
		const netmask = 0
		hostmask := ^uint32(netmask)
		b := or(c.mcmp(orLinkPL, 16, 4, 0, hostmask), c.mcmp(orLinkPL, 16, 4, hostmask, hostmask))
		return and(c.linktype(ethIPv4), b), nil
	}
	return nil, semErr("only link-layer/IP broadcast filters supported")
}

// multicast is "[ether|ip|ip6] multicast".
func (c *compiler) multicast(p proto) (*bnode, error) {
	switch p {
	case pDefault, pLink:
		if c.curLink != Ethernet {
			return nil, semErr("link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel")
		}
		return andPrev(c.prevLinkHdrCheck(), atom(bpf.JumpBitsSet, 1, c.ld(orLinkHdr, 0, 1)...)), nil
	case pIP:
		return and(c.linktype(ethIPv4), c.cmpGE(orLinkPL, 16, 1, 224)), nil
	case pIP6:
		return and(c.linktype(ethIPv6), c.cmp(orLinkPL, 24, 1, 255)), nil
	}
	return nil, semErr("link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel")
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
const sllHeaderLen = 16

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
