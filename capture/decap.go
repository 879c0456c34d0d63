package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The slow path. The fast path (decode.go) hands over every packet with a
// header it does not know that could carry TCP: GRE (with keys, sequence
// numbers, routing, TEB, ERSPAN, PPTP, WCCP; also in UDP 4754), MPLS, PPPoE, IP in IP, Geneve,
// Teredo, GTP-U, AYIYA, TZSP, NFLOG and IP fragments. decapper decodes such a packet again
// from its first byte: the headers the fast path knows (link layers,
// Ethernet, VLAN, UDP) with the same small parsers, IPv4 and every tunnel
// header with gopacket's layers (and this package's NFLOG, Teredo,
// ERSPANIII, AYIYA and TZSP), until the innermost TCP header, which the fast path's code
// decodes. Fragments are reassembled (defrag.go) wherever they appear:
// outside a tunnel, which is then taken off the whole datagram, or inside.

// maxSteps bounds the headers of one packet (encapsulations and tags are
// bounded on their own; this is the backstop).
const maxSteps = 64

// decapper is the slow path of a decoder.
type decapper struct {
	d      *decoder
	fb     feedback
	ip4    layers.IPv4
	ip6f   layers.IPv6Fragment
	udp    layers.UDP
	gre    layers.GRE
	vxlan  layers.VXLAN
	geneve layers.Geneve
	ers2   layers.ERSPANII
	ers3   ERSPANIII
	nflog  NFLOG
	pflog  layers.PFLog
	teredo Teredo
	gtp    layers.GTPv1U
	ayiya  AYIYA
	tzsp   TZSP
	frags  *reassembler
}

func newDecapper(d *decoder) *decapper { return &decapper{d: d, frags: newReassembler()} }

// feedback records whether a gopacket decoder found the packet truncated.
type feedback struct{ truncated bool }

func (f *feedback) SetTruncated() { f.truncated = true }

// layerErr is the result for a header that gopacket could not decode:
// cut by the snaplen when the capture cut the packet, malformed otherwise.
func layerErr(cut bool, what string, err error) (int, *problem) {
	if cut {
		return resCut, &problem{"%s header cut by the snaplen (%v)", []any{what, err}}
	}
	return resBad, &problem{"%s: %v", []any{what, err}}
}

// The walk's steps for the tags gopacket has no layer for: a Cisco
// VN-Tag (4 bytes before the EtherType), an 802.1BR E-Tag or a Cisco
// MetaData header (TrustSec SGT; 6 bytes each).
const (
	stepVNTag gopacket.LayerType = -8926
	stepETag  gopacket.LayerType = -8927
)

// etherNext is the header after an EtherType (or GRE/Geneve protocol type).
func etherNext(et uint16) gopacket.LayerType {
	switch et {
	case 0x8926:
		return stepVNTag
	case 0x893f, 0x8909:
		return stepETag
	case 0x0800:
		return layers.LayerTypeIPv4
	case 0x86dd:
		return layers.LayerTypeIPv6
	case 0x8100, 0x88a8, 0x9100, 0x9200, 0x9300:
		return layers.LayerTypeDot1Q
	case 0x8847, 0x8848:
		return layers.LayerTypeMPLS
	case 0x8864:
		return layers.LayerTypePPPoE
	case 0x6558: // transparent Ethernet bridging
		return layers.LayerTypeEthernet
	case 0x88be:
		return layers.LayerTypeERSPANII
	case 0x22eb:
		return LayerTypeERSPANIII
	case 0x880b:
		return layers.LayerTypePPP
	}
	return gopacket.LayerTypeZero
}

// packet decodes a frame the fast path gave up on; see decoder.packet.
func (x *decapper) packet(link uint32, data []byte, wireLen int, ts time.Time, seg *Segment) (int, *problem) {
	x.d.car.reset()
	res, p := x.walk(link, data, len(data) < wireLen, ts, seg)
	if res == resTCP {
		x.d.car.finish(seg)
	}
	return res, p
}

func (x *decapper) walk(link uint32, b []byte, cut bool, ts time.Time, seg *Segment) (int, *problem) {
	car := &x.d.car
	var typ gopacket.LayerType
	switch link {
	case linkEthernet:
		typ = layers.LayerTypeEthernet
	case linkLinuxSLL:
		if len(b) < 16 {
			return short(cut, "Linux cooked (SLL)", len(b), 16)
		}
		typ, b = etherNext(be16(b[14:])), b[16:]
	case linkLinuxSLL2:
		if len(b) < 20 {
			return short(cut, "Linux cooked v2 (SLL2)", len(b), 20)
		}
		typ, b = etherNext(be16(b[0:])), b[20:]
	case linkNull, linkLoop:
		if len(b) < 4 {
			return short(cut, "loopback", len(b), 4)
		}
		b = b[4:]
		typ = nextByVersion(b)
	case linkRaw, linkRawBSD, linkRawOpen, linkIPv4, linkIPv6:
		typ = nextByVersion(b)
	case linkNFLOG:
		typ = LayerTypeNFLOG
	case linkPKTAP:
		inner, rest, res, p := pktap(b, cut)
		if res != resTCP {
			return res, p
		}
		return x.walk(inner, rest, cut, ts, seg)
	case linkPPP, linkPPPSerial:
		typ = layers.LayerTypePPP // with or without HDLC's address and control bytes
	case linkPPPWithDir:
		if len(b) < 1 {
			return short(cut, "PPP direction", 0, 1)
		}
		typ, b = layers.LayerTypePPP, b[1:]
	case linkCHDLC, linkIPOIB:
		et, rest, ok := etherTypeHeader(link, b)
		if !ok {
			h := etherTypeHeaders[link]
			return short(cut, h.name, len(b), h.len)
		}
		typ, b = etherNext(et), rest
	case linkJuniperEther:
		var res int
		var p *problem
		if res, p, typ, b = juniper(b, cut); res != resTCP {
			return res, p
		}
	case linkARCNET, linkARCNETLinux:
		var res int
		var p *problem
		if res, p, typ, b = arcnet(link, b, cut); res != resTCP {
			return res, p
		}
	case linkPFLOG:
		pf := &x.pflog
		if err := pf.DecodeFromBytes(b, &x.fb); err != nil {
			return layerErr(cut, "PFLOG", err)
		}
		switch typ, b = pf.NextLayerType(), pf.Payload; typ {
		case layers.LayerTypeIPv4, layers.LayerTypeIPv6:
		default:
			return resNonTCP, nil
		}
	case linkIEEE80211, linkRadiotap, linkPrism, linkFDDI:
		var res int
		var p *problem
		if res, p, b = linkToIP(link, b, cut); res != resTCP {
			return res, p
		}
		typ = nextByVersion(b)
	default:
		return resLinkType, nil
	}
	// src, dst: the addresses of the latest IP header, the outer ones of
	// a tunnel that follows; ipLen: the length it announces for its
	// payload, b.
	var src, dst netip.Addr
	ipLen := len(b)
	for range maxSteps {
		x.fb.truncated = false
		switch typ {
		case gopacket.LayerTypeZero:
			return resNonTCP, nil

		case layers.LayerTypeEthernet:
			if len(b) < 14 {
				return short(cut, "Ethernet", len(b), 14)
			}
			et := be16(b[12:])
			if et < 0x0600 { // an 802.3 length: LLC, not IP
				return resNonTCP, nil
			}
			typ, b = etherNext(et), b[14:]

		case layers.LayerTypeDot1Q:
			if len(b) < 4 {
				return short(cut, "VLAN", len(b), 4)
			}
			if !car.vlan(be16(b) & 0x0fff) {
				return resBad, tooManyVLANs
			}
			typ, b = etherNext(be16(b[2:])), b[4:]

		case stepVNTag:
			if len(b) < 6 {
				return short(cut, "VN-Tag", len(b), 6)
			}
			typ, b = etherNext(be16(b[4:])), b[6:]

		case stepETag:
			if len(b) < 8 {
				return short(cut, "E-Tag or Cisco MetaData", len(b), 8)
			}
			typ, b = etherNext(be16(b[6:])), b[8:]

		case layers.LayerTypeIPv4:
			if len(b) > 0 && b[0]>>4 != 4 {
				return resBad, &problem{"bad IP version %d in an IPv4 header", []any{b[0] >> 4}}
			}
			ip := &x.ip4
			if err := ip.DecodeFromBytes(b, &x.fb); err != nil {
				return layerErr(cut && x.fb.truncated, "IPv4", err)
			}
			if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
				if !carriesTCP(uint8(ip.Protocol)) {
					return resNonTCP, nil
				}
				if want := int(ip.Length) - int(ip.IHL)*4; len(ip.Payload) < want {
					if cut {
						return resCut, &problem{"IPv4 fragment cut by the snaplen (%d of %d bytes)", []any{len(ip.Payload), want}}
					}
					return resBad, &problem{"IPv4 fragment shorter (%d bytes) than its length field says (%d)", []any{len(ip.Payload), want}}
				}
				x.frags.packet = x.d.n
				whole, res, p := x.frags.add4(car.hash(), ip, ts)
				if res != resTCP {
					return res, p
				}
				x.d.detached = true
				cut = false
				b = whole
				continue // the datagram, from its (new) IPv4 header
			}
			src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
			ipLen = int(ip.Length) - int(ip.IHL)*4
			next, p := x.ipNext(uint8(ip.Protocol), src, dst)
			if p != nil {
				return resBad, p
			}
			if next == layers.LayerTypeTCP {
				return x.d.ipv4(b, cut, seg)
			}
			typ, b = next, ip.Payload

		case layers.LayerTypeIPv6:
			res, p, next, rest, n := x.ipv6(b, cut, ts)
			switch {
			case res != resTCP:
				return res, p
			case n.whole != nil:
				// A reassembled packet, from its (new) IPv6 header.
				x.d.detached = true
				cut = false
				b = n.whole
				continue
			case next == layers.LayerTypeTCP:
				return x.d.ipv6(b, cut, seg)
			}
			src, dst, ipLen = n.src, n.dst, n.ipLen
			typ, b = next, rest

		case layers.LayerTypeUDP:
			if err := x.udp.DecodeFromBytes(b, &x.fb); err != nil {
				return layerErr(cut, "UDP", err)
			}
			n, p := udpLen(b, ipLen)
			if p != nil {
				return resBad, p
			}
			teredo := teredoTCP(b, ipLen)
			b = b[8:min(n, len(b))]
			sport, dport := uint16(x.udp.SrcPort), uint16(x.udp.DstPort)
			switch {
			case dport == portVXLAN || dport == portVXLANLinux:
				typ = layers.LayerTypeVXLAN
			case dport == portGeneve:
				typ = layers.LayerTypeGeneve
			case dport == portTeredo || sport == portTeredo || teredo:
				typ = LayerTypeTeredo
			case dport == portGREinUDP:
				typ = layers.LayerTypeGRE
			case dport == portGTPU || sport == portGTPU:
				typ = layers.LayerTypeGTPv1U
			case dport == portAYIYA || sport == portAYIYA:
				typ = LayerTypeAYIYA
			case dport == portTZSP:
				typ = LayerTypeTZSP
			default:
				return resNonTCP, nil
			}

		case layers.LayerTypeVXLAN:
			vx := &x.vxlan
			if err := vx.DecodeFromBytes(b, &x.fb); err != nil {
				return layerErr(cut, "VXLAN", err)
			}
			if !vx.ValidIDFlag {
				return resNonTCP, nil
			}
			if !car.encap(Encap{Type: EncapVXLAN, OuterSrc: src, OuterDst: dst, ID: vx.VNI, HasID: true}) {
				return resBad, tooManyEncaps
			}
			typ, b = layers.LayerTypeEthernet, vx.Payload

		case layers.LayerTypeGeneve:
			g := &x.geneve
			if err := g.DecodeFromBytes(b, &x.fb); err != nil {
				return layerErr(cut, "Geneve", err)
			}
			// The options must fill the options length exactly (gopacket
			// counts their end in a byte: compare modulo 256).
			hl := 8 + int(g.OptionsLength)
			if uint8(len(g.Contents)) != uint8(hl) {
				return resBad, &problem{"Geneve options do not fill the header's options length (%d bytes)", []any{g.OptionsLength}}
			}
			if g.Version != 0 {
				return resNonTCP, nil
			}
			if !car.encap(Encap{Type: EncapGeneve, OuterSrc: src, OuterDst: dst, ID: g.VNI, HasID: true}) {
				return resBad, tooManyEncaps
			}
			switch typ = etherNext(uint16(g.Protocol)); typ {
			case layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeIPv6:
			default:
				return resNonTCP, nil
			}
			b = b[hl:]

		case layers.LayerTypeGRE:
			g := &x.gre
			if err := g.DecodeFromBytes(b, &x.fb); err != nil {
				return layerErr(cut, "GRE", err)
			}
			typ, b = etherNext(uint16(g.Protocol)), g.Payload
			if g.Protocol == 0x883e {
				// WCCP: a 4-byte redirect header (WCCPv2) before the
				// redirected IP packet, or the packet itself (WCCPv1).
				if len(b) > 0 && b[0]>>4 != 4 && len(b) >= 4 {
					b = b[4:]
				}
				typ = nextByVersion(b)
			}
			aruba := g.Protocol >= 0x8200 && g.Protocol <= 0x8299 && g.Version == 0
			switch {
			case typ == layers.LayerTypeERSPANII && !g.SeqPresent:
				// ERSPAN Type I: no ERSPAN header, the mirrored frame.
				if !car.encap(Encap{Type: EncapERSPAN, OuterSrc: src, OuterDst: dst}) {
					return resBad, tooManyEncaps
				}
				typ = layers.LayerTypeEthernet
			case typ == layers.LayerTypeERSPANII || typ == LayerTypeERSPANIII:
				// The ERSPAN header is the encapsulation that counts.
			default:
				// PPTP's enhanced GRE (version 1) has no key: its key
				// field holds a payload length and a per-direction call id.
				e := Encap{Type: EncapGRE, OuterSrc: src, OuterDst: dst}
				if g.KeyPresent && g.Version == 0 {
					e.ID, e.HasID = g.Key, true
				}
				if !car.encap(e) {
					return resBad, tooManyEncaps
				}
			}
			if aruba {
				// Aruba access points tunnel their clients' 802.11
				// frames to the controller in GRE 0x8200-0x8299 (as
				// Zeek and Wireshark take them).
				var res int
				var p *problem
				if res, p, b = linkToIP(linkIEEE80211, b, cut); res != resTCP {
					return res, p
				}
				typ = nextByVersion(b)
			}

		case layers.LayerTypeERSPANII:
			e := &x.ers2
			if err := e.DecodeFromBytes(b, &x.fb); err != nil {
				return layerErr(cut, "ERSPAN II", err)
			}
			if !car.encap(Encap{Type: EncapERSPAN, OuterSrc: src, OuterDst: dst, ID: uint32(e.SessionID), HasID: true}) {
				return resBad, tooManyEncaps
			}
			typ, b = layers.LayerTypeEthernet, e.Payload

		case LayerTypeERSPANIII:
			e := &x.ers3
			if err := e.DecodeFromBytes(b, &x.fb); err != nil {
				return layerErr(cut, "ERSPAN III", err)
			}
			if !car.encap(Encap{Type: EncapERSPAN, OuterSrc: src, OuterDst: dst, ID: uint32(e.SessionID), HasID: true}) {
				return resBad, tooManyEncaps
			}
			typ, b = e.NextLayerType(), e.Payload

		case layers.LayerTypeMPLS:
			res, p, rest := x.mpls(b, cut)
			if res != resTCP {
				return res, p
			}
			typ, b = mplsNext(rest)

		case layers.LayerTypePPPoE:
			// gopacket decodes PPPoE and PPP only as whole packets;
			// Lazy stops it after the PPP header.
			pkt := gopacket.NewPacket(b, layers.EthernetTypePPPoESession, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
			pe, _ := pkt.Layer(layers.LayerTypePPPoE).(*layers.PPPoE)
			if pe == nil {
				return layerErr(cut, "PPPoE", pktErr(pkt))
			}
			if !car.encap(Encap{Type: EncapPPPoE, ID: uint32(pe.SessionId), HasID: true}) {
				return resBad, tooManyEncaps
			}
			typ, b = pppNext(pkt)

		case layers.LayerTypePPP:
			typ, b = pppNext(gopacket.NewPacket(b, layers.LayerTypePPP, gopacket.DecodeOptions{Lazy: true, NoCopy: true}))

		case layers.LayerTypeGTPv1U:
			// User data only (a G-PDU: GTPv1, not GTP', message type
			// 255) holding IP, as Zeek takes it; the rest (GTP-U's echo
			// and error messages, another protocol on the port) is not
			// TCP. Nor is GTP inside GTP (Zeek does not look either).
			if len(b) < 8 || b[0]>>4 != 0x3 || b[1] != 255 || car.has(EncapGTP) {
				return resNonTCP, nil
			}
			g := &x.gtp
			if err := g.DecodeFromBytes(b, &x.fb); err != nil {
				if n := binary.BigEndian.Uint16(b[2:]); 8+int(n) > len(b) && !cut {
					return resBad, &problem{"GTP-U length %d is past the datagram's %d bytes", []any{n, len(b) - 8}}
				}
				return layerErr(cut, "GTP-U", err)
			}
			// The payload ends where the header's length says.
			pl := g.Payload[:min(len(g.Payload), max(0, 8+int(g.MessageLength)-len(g.Contents)))]
			if typ = nextByVersion(pl); typ == gopacket.LayerTypeZero {
				return resNonTCP, nil
			}
			if !car.encap(Encap{Type: EncapGTP, OuterSrc: src, OuterDst: dst, ID: g.TEID, HasID: true}) {
				return resBad, tooManyEncaps
			}
			b = pl

		case LayerTypeAYIYA:
			a := &x.ayiya
			if err := a.DecodeFromBytes(b, &x.fb); err != nil {
				return layerErr(cut, "AYIYA", err)
			}
			if typ = a.NextLayerType(); typ == gopacket.LayerTypeZero {
				return resNonTCP, nil
			}
			if !car.encap(Encap{Type: EncapAYIYA, OuterSrc: src, OuterDst: dst}) {
				return resBad, tooManyEncaps
			}
			b = a.Payload

		case LayerTypeTZSP:
			z := &x.tzsp
			if err := z.DecodeFromBytes(b, &x.fb); err != nil {
				return layerErr(cut, "TZSP", err)
			}
			next := z.NextLayerType()
			if next == gopacket.LayerTypeZero {
				return resNonTCP, nil
			}
			if !car.encap(Encap{Type: EncapTZSP, OuterSrc: src, OuterDst: dst}) {
				return resBad, tooManyEncaps
			}
			typ, b = next, z.Payload
			if next == layers.LayerTypeDot11 {
				// A wireless sniffer's frame: 802.11 as on the link
				// type, as for Aruba's GRE.
				var res int
				var p *problem
				if res, p, b = linkToIP(linkIEEE80211, b, cut); res != resTCP {
					return res, p
				}
				typ = nextByVersion(b)
			}

		case LayerTypeTeredo:
			t := &x.teredo
			if err := t.DecodeFromBytes(b, &x.fb); err != nil {
				if errors.Is(err, errNotTeredo) {
					return resNonTCP, nil
				}
				return layerErr(cut, "Teredo", err)
			}
			if !car.encap(Encap{Type: EncapTeredo, OuterSrc: src, OuterDst: dst}) {
				return resBad, tooManyEncaps
			}
			typ, b = layers.LayerTypeIPv6, t.Payload

		case LayerTypeNFLOG:
			n := &x.nflog
			if err := n.DecodeFromBytes(b, &x.fb); err != nil {
				return layerErr(cut && x.fb.truncated, "NFLOG", err)
			}
			typ, b = n.NextLayerType(), n.Payload

		default:
			return resNonTCP, nil
		}
	}
	return resBad, &problem{"more than %d headers", []any{maxSteps}}
}

// ipNext is the header after an IP header of protocol proto from src to
// dst; for IP in IP it records the tunnel.
func (x *decapper) ipNext(proto uint8, src, dst netip.Addr) (gopacket.LayerType, *problem) {
	switch proto {
	case 6:
		return layers.LayerTypeTCP, nil
	case 17:
		return layers.LayerTypeUDP, nil
	case 47:
		return layers.LayerTypeGRE, nil
	case 4, 41:
		t, next := EncapIPIP, layers.LayerTypeIPv4
		if proto == 41 {
			t, next = EncapIP6IP, layers.LayerTypeIPv6
		}
		if !x.d.car.encap(Encap{Type: t, OuterSrc: src, OuterDst: dst}) {
			return 0, tooManyEncaps
		}
		return next, nil
	}
	return gopacket.LayerTypeZero, nil
}

// ip6Info is what ipv6 found out about an IPv6 packet.
type ip6Info struct {
	src, dst netip.Addr
	ipLen    int    // the payload length announced for the header after the extension headers
	whole    []byte // a reassembled packet
}

// ipv6 walks the IPv6 packet at b to the header after its extension
// headers. It returns resTCP (meaning: go on) with the next layer type and
// its bytes; for a fragment that completes a packet, resTCP, IPv6, nil and
// the packet in info.whole; otherwise the result to give up with.
func (x *decapper) ipv6(ip []byte, cut bool, ts time.Time) (int, *problem, gopacket.LayerType, []byte, ip6Info) {
	var n ip6Info
	if len(ip) < 40 {
		res, p := short(cut, "IPv6", len(ip), 40)
		return res, p, 0, nil, n
	}
	if v := ip[0] >> 4; v != 6 {
		return resBad, &problem{"bad IP version %d in an IPv6 header", []any{v}}, 0, nil, n
	}
	total := 40 + int(be16(ip[4:]))
	if total == 40 {
		total = len(ip) // a jumbogram or segmentation offload, as in the fast path
	}
	end := min(total, len(ip))
	n.src, n.dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
	next := ip[6]
	p := 40
	for range maxSteps {
		switch next {
		case 0, 43, 60, 135, 139, 140, 51: // as in the fast path
			if p+2 > end {
				res, pr := short(cut && p+2 <= total, "IPv6 extension", end-p, 2)
				return res, pr, 0, nil, n
			}
			l := (int(ip[p+1]) + 1) * 8
			if next == 51 {
				l = (int(ip[p+1]) + 2) * 4
			}
			if p+l > end {
				res, pr := short(cut && p+l <= total, "IPv6 extension", end-p, l)
				return res, pr, 0, nil, n
			}
			next = ip[p]
			p += l
		case 44:
			f := &x.ip6f
			if err := f.DecodeFromBytes(ip[p:end], &x.fb); err != nil {
				res, pr := layerErr(cut && p+8 <= total, "IPv6 fragment", err)
				return res, pr, 0, nil, n
			}
			if f.FragmentOffset == 0 && !f.MoreFragments { // atomic: the whole packet
				next = ip[p]
				p += 8
				continue
			}
			if !carriesTCP(uint8(f.NextHeader)) {
				return resNonTCP, nil, 0, nil, n
			}
			if end < total {
				if cut {
					return resCut, &problem{"IPv6 fragment cut by the snaplen (%d of %d bytes)", []any{end - p - 8, total - p - 8}}, 0, nil, n
				}
				return resBad, &problem{"IPv6 fragment shorter (%d bytes) than its length field says (%d)", []any{end - p - 8, total - p - 8}}, 0, nil, n
			}
			x.frags.packet = x.d.n
			whole, res, pr := x.frags.add6(x.d.car.hash(), n.src, n.dst, f, ip[7], ip[0]<<4|ip[1]>>4, ip[p+8:end], ts)
			if res != resTCP {
				return res, pr, 0, nil, n
			}
			n.whole = whole
			return resTCP, nil, layers.LayerTypeIPv6, nil, n
		default:
			t, pr := x.ipNext(next, n.src, n.dst)
			if pr != nil {
				return resBad, pr, 0, nil, n
			}
			if t == gopacket.LayerTypeZero {
				return resNonTCP, nil, 0, nil, n
			}
			n.ipLen = total - p
			return resTCP, nil, t, ip[p:end], n
		}
	}
	return resBad, &problem{"more than %d IPv6 extension headers", []any{maxSteps}}, 0, nil, n
}

// mpls decodes the label stack at b with gopacket, recording one
// encapsulation per label; it returns resTCP and the bytes after the
// stack, or the result to give up with.
func (x *decapper) mpls(b []byte, cut bool) (int, *problem, []byte) {
	// Find the bottom of the stack first, so that a stack without one
	// costs nothing and gopacket decodes only the labels.
	k := 0
	for {
		if len(b) < 4*(k+1) {
			res, p := short(cut, "MPLS", len(b)-4*k, 4)
			return res, p, nil
		}
		k++
		if b[4*k-2]&1 != 0 {
			break
		}
		if int(x.d.car.n.e)+k > maxEncap {
			return resBad, tooManyEncaps, nil
		}
	}
	if int(x.d.car.n.e)+k > maxEncap {
		return resBad, tooManyEncaps, nil
	}
	pkt := gopacket.NewPacket(b[:4*k], layers.LayerTypeMPLS, gopacket.DecodeOptions{NoCopy: true})
	labels := 0
	for _, l := range pkt.Layers() {
		m, ok := l.(*layers.MPLS)
		if !ok {
			break
		}
		x.d.car.encap(Encap{Type: EncapMPLS, ID: m.Label, HasID: true})
		labels++
	}
	if labels != k {
		return resBad, &problem{"MPLS: gopacket decoded %d of %d labels (%v)", []any{labels, k, pktErr(pkt)}}, nil
	}
	return resTCP, nil, b[4*k:]
}

// mplsNext guesses what follows an MPLS label stack, as Wireshark and
// Zeek do: IPv4 or IPv6 by the version nibble; a pseudowire control word
// (first nibble 0) and an Ethernet frame; otherwise an Ethernet frame.
func mplsNext(b []byte) (gopacket.LayerType, []byte) {
	if len(b) == 0 {
		return gopacket.LayerTypeZero, b
	}
	switch b[0] >> 4 {
	case 4:
		if b[0]&0x0f >= 5 {
			return layers.LayerTypeIPv4, b
		}
	case 6:
		return layers.LayerTypeIPv6, b
	case 0:
		if len(b) < 4 {
			return gopacket.LayerTypeZero, b
		}
		return layers.LayerTypeEthernet, b[4:]
	}
	return layers.LayerTypeEthernet, b
}

// etherTypeHeader takes off the header of a link type that names its
// payload by an EtherType: Cisco HDLC (address, control, EtherType) and
// IP over InfiniBand (44 bytes, the EtherType at byte 40: tcpdump's
// print-ipoib.c); ok=false when the record is shorter than the header.
func etherTypeHeader(link uint32, b []byte) (et uint16, rest []byte, ok bool) {
	h := etherTypeHeaders[link]
	if len(b) < h.len {
		return 0, nil, false
	}
	return be16(b[h.at:]), b[h.len:], true
}

// etherTypeHeaders are those headers: a name for messages, where the
// EtherType is, how long the header is.
var etherTypeHeaders = map[uint32]struct {
	name    string
	at, len int
}{
	linkCHDLC: {"Cisco HDLC", 2, 4},
	linkIPOIB: {"IPoIB", 40, 44},
}

// Juniper's capture header flags (tcpdump's print-juniper.c).
const (
	juniperNoL2 = 0x02 // the link-layer header was stripped
	juniperExt  = 0x80 // extension TLVs follow, after their length
)

// juniper takes off the header of LINKTYPE_JUNIPER_ETHER (178), what a
// Juniper router's "monitor traffic" writes: "MGC", flags, then, with
// the extension flag, a 2-byte length and that many bytes of TLVs; then
// the Ethernet frame, or, with the no-L2 flag, 4 bytes and the IP packet.
func juniper(b []byte, cut bool) (int, *problem, gopacket.LayerType, []byte) {
	if len(b) < 4 {
		res, p := short(cut, "Juniper", len(b), 4)
		return res, p, 0, nil
	}
	if b[0] != 'M' || b[1] != 'G' || b[2] != 'C' {
		return resBad, &problem{"Juniper header without its magic number (MGC)", nil}, 0, nil
	}
	flags, hl := b[3], 4
	if flags&juniperExt != 0 {
		if len(b) < 6 {
			res, p := short(cut, "Juniper extensions", len(b), 6)
			return res, p, 0, nil
		}
		hl = 6 + int(be16(b[4:]))
	}
	if flags&juniperNoL2 != 0 {
		hl += 4
	}
	if len(b) < hl {
		res, p := short(cut, "Juniper", len(b), hl)
		return res, p, 0, nil
	}
	if flags&juniperNoL2 != 0 {
		if typ := nextByVersion(b[hl:]); typ != gopacket.LayerTypeZero {
			return resTCP, nil, typ, b[hl:]
		}
		return resNonTCP, nil, 0, nil
	}
	return resTCP, nil, layers.LayerTypeEthernet, b[hl:]
}

// ARCNET protocol ids (RFC 1201, RFC 1051 for the old ones; ANSI 878.1).
const (
	arcIPOld    = 240 // RFC 1051 IP
	arcARPOld   = 241
	arcDiagnose = 0x80
	arcIP       = 212 // RFC 1201 IP
	arcIPv6     = 0xc4
)

// arcnet takes off an ARCNET header (LINKTYPE_ARCNET_BSD, 7: source,
// destination, protocol id; LINKTYPE_ARCNET_LINUX, 129: source,
// destination, a 2-byte offset, protocol id), as tcpdump's print-arcnet.c
// reads them: the RFC 1051 ids have nothing more, RFC 1201's add a split
// flag and a sequence number (BSD: after an exception flag 0xff, 4 bytes
// more). A BSD packet that is an RFC 1201 fragment is refused with a
// reason: fragments are not reassembled (Linux hands its captures over
// reassembled). The result is the IP layer and its bytes.
func arcnet(link uint32, b []byte, cut bool) (int, *problem, gopacket.LayerType, []byte) {
	off := 2 // the protocol id's offset
	if link == linkARCNETLinux {
		off = 4
	}
	if len(b) <= off {
		res, p := short(cut, "ARCNET", len(b), off+1)
		return res, p, 0, nil
	}
	id, hl := b[off], off+1
	if id != arcIPOld && id != arcARPOld && id != arcDiagnose {
		hl = off + 4 // split flag, sequence number
		if link == linkARCNET && len(b) > off+1 && b[off+1] == 0xff {
			hl = off + 8 // exception packet: its flag and sequence number follow
		}
		if len(b) < hl {
			res, p := short(cut, "ARCNET", len(b), hl)
			return res, p, 0, nil
		}
		if flag := b[hl-3]; link == linkARCNET && flag != 0 {
			return resBad, &problem{"ARCNET fragment (split flag %#x): RFC 1201 fragments are not reassembled", []any{flag}}, 0, nil
		}
	}
	switch id {
	case arcIPOld, arcIP:
		return resTCP, nil, layers.LayerTypeIPv4, b[hl:]
	case arcIPv6:
		return resTCP, nil, layers.LayerTypeIPv6, b[hl:]
	}
	return resNonTCP, nil, 0, nil
}

// pppNext is the header after the PPP header of pkt (gopacket's decoding of a
// PPPoE session or PPP frame) and its bytes; LayerTypeZero for anything
// but IPv4, IPv6 and MPLS (LCP, IPCP, compressed or encrypted frames).
func pppNext(pkt gopacket.Packet) (gopacket.LayerType, []byte) {
	pp, _ := pkt.Layer(layers.LayerTypePPP).(*layers.PPP)
	if pp == nil {
		return gopacket.LayerTypeZero, nil
	}
	switch pp.PPPType {
	case layers.PPPTypeIPv4:
		return layers.LayerTypeIPv4, pp.Payload
	case layers.PPPTypeIPv6:
		return layers.LayerTypeIPv6, pp.Payload
	case layers.PPPTypeMPLSUnicast, layers.PPPTypeMPLSMulticast:
		return layers.LayerTypeMPLS, pp.Payload
	}
	return gopacket.LayerTypeZero, nil
}

// linkToIP decodes a frame of a link type whose headers are gopacket's
// alone to decode (802.11 with or without radiotap or Prism headers, and
// its LLC/SNAP; FDDI): it returns the frame's IP packet, from its first
// header, or the result to give up with (resNonTCP for a frame that
// carries no IP: management and control frames, encrypted data).
func linkToIP(link uint32, b []byte, cut bool) (int, *problem, []byte) {
	pkt := gopacket.NewPacket(b, layers.LinkType(link), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	off := 0 // where the layer starts in b: each layer's payload follows its header
	for _, l := range pkt.Layers() {
		h := l.LayerContents()
		switch l.LayerType() {
		case layers.LayerTypeIPv4, layers.LayerTypeIPv6:
			// gopacket may have decoded a copy (radiotap without an FCS
			// appends one): the header must be at off in b too.
			if off > len(b) || !bytes.HasPrefix(b[off:], h) {
				return resBad, &problem{"%s: the IP header is not where the link headers end", []any{LinkTypeName(link)}}, nil
			}
			return resTCP, nil, b[off:]
		}
		off += len(h)
	}
	if el := pkt.ErrorLayer(); el != nil {
		res, p := layerErr(cut, LinkTypeName(link), el.Error())
		return res, p, nil
	}
	return resNonTCP, nil, nil
}

// pktErr is the error of a packet gopacket could not decode.
func pktErr(pkt gopacket.Packet) error {
	if el := pkt.ErrorLayer(); el != nil {
		return el.Error()
	}
	return errors.New("no such header")
}
