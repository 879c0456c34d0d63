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
