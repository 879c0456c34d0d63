package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Outer (tunnel endpoint) addresses.
var (
	o1  = netip.MustParseAddr("203.0.113.1")
	o2  = netip.MustParseAddr("203.0.113.2")
	o3  = netip.MustParseAddr("198.18.0.3")
	o4  = netip.MustParseAddr("198.18.0.4")
	o6a = netip.MustParseAddr("2001:db8:ff::a")
	o6b = netip.MustParseAddr("2001:db8:ff::b")
)

// ip4 is an IPv4 packet of protocol proto around rest.
func ip4(t testing.TB, src, dst netip.Addr, proto layers.IPProtocol, rest []byte) []byte {
	return serialize(t, &layers.IPv4{Version: 4, TTL: 64, Id: 77, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}, gopacket.Payload(rest))
}

// ip6 is an IPv6 packet with next header next around rest.
func ip6(t testing.TB, src, dst netip.Addr, next layers.IPProtocol, rest []byte) []byte {
	return serialize(t, &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}, gopacket.Payload(rest))
}

// udp4 is an IPv4/UDP datagram around rest.
func udp4(t testing.TB, src, dst netip.Addr, sport, dport uint16, rest []byte) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip, u, gopacket.Payload(rest))
}

// udp6 is an IPv6/UDP datagram around rest.
func udp6(t testing.TB, src, dst netip.Addr, sport, dport uint16, rest []byte) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip, u, gopacket.Payload(rest))
}

func vxlan(t testing.TB, vni uint32, frame []byte) []byte {
	return serialize(t, &layers.VXLAN{ValidIDFlag: true, VNI: vni}, gopacket.Payload(frame))
}

func gre(t testing.TB, g layers.GRE, rest []byte) []byte {
	return serialize(t, &g, gopacket.Payload(rest))
}

// mplsStack is labels, the last one the bottom of the stack, before rest.
func mplsStack(t testing.TB, rest []byte, labels ...uint32) []byte {
	var ls []gopacket.SerializableLayer
	for i, l := range labels {
		ls = append(ls, &layers.MPLS{Label: l, TTL: 64, StackBottom: i == len(labels)-1})
	}
	return serialize(t, append(ls, gopacket.Payload(rest))...)
}

// erspan3 is an ERSPAN III header (session, frame type ft, with the
// platform subheader when sub) before frame.
func erspan3(session uint16, ft uint8, sub bool, frame []byte) []byte {
	h := make([]byte, 12)
	binary.BigEndian.PutUint16(h, 2<<12|5)     // version 2, VLAN 5
	binary.BigEndian.PutUint16(h[2:], session) // CoS 0, BSO 0, T 0
	binary.BigEndian.PutUint32(h[4:], 123456)
	w := uint16(ft) << 10
	if sub {
		w |= 1
	}
	binary.BigEndian.PutUint16(h[10:], w)
	if sub {
		h = append(h, 1, 2, 3, 4, 5, 6, 7, 8)
	}
	return append(h, frame...)
}

// nflogRec is an NFLOG record of family fam with TLVs in the given byte
// order: a prefix, the payload (first when payloadFirst) and a mark.
func nflogRec(order binary.ByteOrder, fam uint8, payload []byte, payloadFirst bool) []byte {
	b := []byte{fam, 0, 0, 5}
	tlv := func(typ uint16, v []byte) {
		h := make([]byte, 4)
		order.PutUint16(h, uint16(4+len(v)))
		order.PutUint16(h[2:], typ)
		b = append(b, h...)
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	if payloadFirst {
		tlv(9, payload)
	}
	tlv(10, []byte("httplife\x00"))
	tlv(2, []byte{0, 0, 0, 7})
	if !payloadFirst {
		tlv(9, payload)
	}
	return b
}

// gtpU is a GTPv1-U header with flags fl (0x30: version 1, GTP, no
// optional fields; E, S or PN add the 4 optional bytes, which ext, when
// given, replaces together with its extension headers), message type
// G-PDU and TEID teid, before payload.
func gtpU(fl byte, teid uint32, ext []byte, payload []byte) []byte {
	opt := ext
	if fl&7 != 0 && opt == nil {
		opt = make([]byte, 4)
	}
	h := []byte{fl, 255, 0, 0, byte(teid >> 24), byte(teid >> 16), byte(teid >> 8), byte(teid)}
	h = append(h, opt...)
	binary.BigEndian.PutUint16(h[2:], uint16(len(opt)+len(payload)))
	return append(h, payload...)
}

// ayiya is an AYIYA header (forward, next header next) with an identity
// of 2^idLen bytes and a signature of 4×sigLen, before payload.
func ayiya(idLen, sigLen, next byte, payload []byte) []byte {
	h := []byte{idLen<<4 | 1, sigLen<<4 | 2, 2<<4 | 1, next, 0x4a, 0xf6, 0x4c, 0x05}
	h = append(h, make([]byte, 1<<idLen+4*int(sigLen))...)
	return append(h, payload...)
}

// tzsp is a TZSP header (version 1) of type typ for a frame of the
// encapsulation encap, with tagged fields tags before the END tag.
func tzsp(typ byte, encap uint16, tags []byte, frame []byte) []byte {
	h := append([]byte{1, typ, byte(encap >> 8), byte(encap)}, tags...)
	return append(append(h, 1), frame...)
}

// teredoOrigin is a Teredo origin indication for port and addr.
func teredoOrigin(port uint16, addr netip.Addr) []byte {
	a := addr.As4()
	return []byte{0, 0, byte(^port >> 8), byte(^port), ^a[0], ^a[1], ^a[2], ^a[3]}
}

// teredoAuth is a Teredo authentication header with a 3-byte client id
// and no authentication value.
func teredoAuth() []byte {
	return []byte{0, 1, 3, 0, 'c', 'i', 'd', 1, 2, 3, 4, 5, 6, 7, 8, 0}
}

// pkt is a packet for a table test: its link type and bytes.
type pkt struct {
	link layers.LinkType
	data []byte
}

// recordsOf makes records of pkts, one millisecond apart.
func recordsOf(pkts []pkt) []record {
	var recs []record
	for i, p := range pkts {
		recs = append(recs, record{data: p.data, link: p.link,
			ci: gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(p.data), Length: len(p.data)}})
	}
	return recs
}

// readPkts reads pkts written as a pcapng file.
func readPkts(t *testing.T, name string, pkts []pkt) result {
	t.Helper()
	return mustRead(t, name, writePcapng(t, recordsOf(pkts)))
}

// carrierOf builds a Carrier for a want.
func carrierOf(vlans []uint16, tunnel ...Encap) *Carrier {
	return &Carrier{VLANs: vlans, Tunnel: tunnel}
}

func enc(typ EncapType, src, dst netip.Addr, id ...uint32) Encap {
	e := Encap{Type: typ, OuterSrc: src, OuterDst: dst}
	if len(id) > 0 {
		e.ID, e.HasID = id[0], true
	}
	return e
}

// gopacketInner decodes a record with gopacket.NewPacket and returns its
// innermost TCP segment (the TCP layer and the IP layer before it), or
// false when gopacket finds none.
func gopacketInner(rec record) (seg, bool) {
	p := gopacket.NewPacket(rec.data, rec.link, gopacket.Default)
	var ip gopacket.Layer
	for _, l := range p.Layers() {
		switch l.LayerType() {
		case layers.LayerTypeIPv4, layers.LayerTypeIPv6:
			ip = l
		case layers.LayerTypeTCP:
			tl := l.(*layers.TCP)
			s := seg{Time: rec.ci.Timestamp, Seq: tl.Seq, Ack: tl.Ack, Window: tl.Window, Payload: string(tl.Payload), PayloadLen: len(tl.Payload)}
			var src, dst netip.Addr
			switch n := ip.(type) {
			case *layers.IPv4:
				src, _ = netip.AddrFromSlice(n.SrcIP.To4())
				dst, _ = netip.AddrFromSlice(n.DstIP.To4())
			case *layers.IPv6:
				src, _ = netip.AddrFromSlice(n.SrcIP)
				dst, _ = netip.AddrFromSlice(n.DstIP)
			default:
				return seg{}, false
			}
			s.Src, s.Dst = netip.AddrPortFrom(src, uint16(tl.SrcPort)), netip.AddrPortFrom(dst, uint16(tl.DstPort))
			for bit, set := range []bool{tl.FIN, tl.SYN, tl.RST, tl.PSH, tl.ACK, tl.URG, tl.ECE, tl.CWR} {
				if set {
					s.Flags |= 1 << bit
				}
			}
			return s, true
		}
	}
	return seg{}, false
}

// TestDecapsulation decodes one TCP packet in each encapsulation and
// nesting: the inner segment, its Carrier and key, and (where gopacket
// decodes the whole packet by itself) gopacket's view of the innermost TCP
// segment must agree.
func TestDecapsulation(t *testing.T) {
	v4, v6 := ipv4TCP(t), ipv6TCP(t, 0, nil)
	eth4 := ether(t, layers.EthernetTypeIPv4, v4)
	eth6 := ether(t, layers.EthernetTypeIPv6, v6)
	w4, w6 := wantSeg(v4src, v4dst), wantSeg(v6src, v6dst)
	en := layers.LinkTypeEthernet
	tag := func(id uint16, next layers.EthernetType) *layers.Dot1Q {
		return &layers.Dot1Q{VLANIdentifier: id, Type: next}
	}
	cases := []struct {
		name    string
		link    layers.LinkType
		data    []byte
		want    seg
		carrier *Carrier
		keyed   bool // CarrierKey != 0
		// gopacket does not decode the whole packet by itself (VXLAN on
		// 8472, ERSPAN I/III, Teredo, NFLOG, WCCP, GRE in UDP, PPTP ...).
		noGopacket bool
	}{
		{name: "VLAN>IPv4>GRE(key)>TEB Ethernet>VLAN>IPv6>TCP", link: en,
			data: ether(t, layers.EthernetTypeDot1Q, ip4(t, o1, o2, layers.IPProtocolGRE,
				gre(t, layers.GRE{KeyPresent: true, Key: 7, Protocol: layers.EthernetTypeTransparentEthernetBridging},
					ether(t, layers.EthernetTypeDot1Q, v6, tag(20, layers.EthernetTypeIPv6)))), tag(10, layers.EthernetTypeIPv4)),
			want: w6, carrier: carrierOf([]uint16{10, 20}, enc(EncapGRE, o1, o2, 7)), keyed: true},
		{name: "VXLAN in GRE in VLAN", link: en,
			data: ether(t, layers.EthernetTypeDot1Q, ip4(t, o1, o2, layers.IPProtocolGRE,
				gre(t, layers.GRE{Protocol: layers.EthernetTypeIPv4}, udp4(t, o3, o4, 40000, 4789, vxlan(t, 5001, eth4)))),
				tag(30, layers.EthernetTypeIPv4)),
			want: w4, carrier: carrierOf([]uint16{30}, enc(EncapGRE, o1, o2), enc(EncapVXLAN, o3, o4, 5001)), keyed: true},
		{name: "VXLAN (fast path)", link: en, data: ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 1234, 4789, vxlan(t, 42, eth6))),
			want: w6, carrier: carrierOf(nil, enc(EncapVXLAN, o1, o2, 42)), keyed: true},
		{name: "VXLAN on 8472 over IPv6 (fast path)", link: en, data: ether(t, layers.EthernetTypeIPv6, udp6(t, o6a, o6b, 1234, 8472, vxlan(t, 16777215, eth4))),
			want: w4, carrier: carrierOf(nil, enc(EncapVXLAN, o6a, o6b, 16777215)), keyed: true, noGopacket: true},
		{name: "VXLAN in VXLAN, tagged inside (fast path)", link: en,
			data: ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 1, 4789, vxlan(t, 1,
				ether(t, layers.EthernetTypeIPv4, udp4(t, o3, o4, 2, 4789, vxlan(t, 2,
					ether(t, layers.EthernetTypeQinQ, v4, tag(100, layers.EthernetTypeDot1Q), tag(200, layers.EthernetTypeIPv4)))))))),
			want: w4, carrier: carrierOf([]uint16{100, 200}, enc(EncapVXLAN, o1, o2, 1), enc(EncapVXLAN, o3, o4, 2)), keyed: true},
		{name: "MPLS stack of 3", link: en, data: ether(t, layers.EthernetTypeMPLSUnicast, mplsStack(t, v4, 100, 200, 300)),
			want: w4, carrier: carrierOf(nil, enc(EncapMPLS, netip.Addr{}, netip.Addr{}, 100), enc(EncapMPLS, netip.Addr{}, netip.Addr{}, 200), enc(EncapMPLS, netip.Addr{}, netip.Addr{}, 300))},
		{name: "MPLS in VLAN, IPv6", link: en, data: ether(t, layers.EthernetTypeDot1Q, mplsStack(t, v6, 16), tag(7, layers.EthernetTypeMPLSUnicast)),
			want: w6, carrier: carrierOf([]uint16{7}, enc(EncapMPLS, netip.Addr{}, netip.Addr{}, 16))},
		{name: "MPLS pseudowire with control word", link: en, data: ether(t, layers.EthernetTypeMPLSUnicast, mplsStack(t, append([]byte{0, 0, 0, 0}, eth4...), 99)),
			want: w4, carrier: carrierOf(nil, enc(EncapMPLS, netip.Addr{}, netip.Addr{}, 99)), noGopacket: true},
		{name: "PPPoE session over QinQ", link: en,
			data: ether(t, layers.EthernetTypeQinQ, serialize(t, &layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 0x1234},
				&layers.PPP{PPPType: layers.PPPTypeIPv4}, gopacket.Payload(v4)), tag(100, layers.EthernetTypeDot1Q), tag(10, layers.EthernetTypePPPoESession)),
			want: w4, carrier: carrierOf([]uint16{100, 10}, enc(EncapPPPoE, netip.Addr{}, netip.Addr{}, 0x1234)), keyed: true},
		{name: "ERSPAN II", link: en,
			data: ether(t, layers.EthernetTypeIPv4, ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{SeqPresent: true, Seq: 9, Protocol: layers.EthernetTypeERSPAN},
				serialize(t, &layers.ERSPANII{Version: 1, SessionID: 42, Index: 3}, gopacket.Payload(eth4))))),
			want: w4, carrier: carrierOf(nil, enc(EncapERSPAN, o1, o2, 42)), keyed: true},
		{name: "ERSPAN III with subheader", link: en,
			data: ether(t, layers.EthernetTypeIPv4, ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{SeqPresent: true, Protocol: 0x22eb}, erspan3(77, 0, true, eth6)))),
			want: w6, carrier: carrierOf(nil, enc(EncapERSPAN, o1, o2, 77)), keyed: true, noGopacket: true},
		{name: "ERSPAN III, IP frame", link: en,
			data: ether(t, layers.EthernetTypeIPv4, ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{SeqPresent: true, Protocol: 0x22eb}, erspan3(78, 2, false, v4)))),
			want: w4, carrier: carrierOf(nil, enc(EncapERSPAN, o1, o2, 78)), keyed: true, noGopacket: true},
		{name: "ERSPAN I (no sequence number)", link: en,
			data: ether(t, layers.EthernetTypeIPv4, ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{Protocol: layers.EthernetTypeERSPAN}, eth4))),
			want: w4, carrier: carrierOf(nil, enc(EncapERSPAN, o1, o2)), noGopacket: true},
		{name: "6in4", link: en, data: ether(t, layers.EthernetTypeIPv4, ip4(t, o1, o2, layers.IPProtocolIPv6, v6)),
			want: w6, carrier: carrierOf(nil, enc(EncapIP6IP, o1, o2))},
		{name: "IPv4 in IPv6", link: layers.LinkTypeRaw, data: ip6(t, o6a, o6b, layers.IPProtocolIPv4, v4),
			want: w4, carrier: carrierOf(nil, enc(EncapIPIP, o6a, o6b))},
		{name: "IPv6 in IPv6 after a destination options header", link: layers.LinkTypeRaw,
			data: ip6(t, o6a, o6b, layers.IPProtocolIPv6Destination, append(extHdr(layers.IPProtocolIPv6), v6...)),
			want: w6, carrier: carrierOf(nil, enc(EncapIP6IP, o6a, o6b))},
		{name: "IPv4 in IPv4 in IPv4", link: layers.LinkTypeRaw, data: ip4(t, o1, o2, layers.IPProtocolIPv4, ip4(t, o3, o4, layers.IPProtocolIPv4, v4)),
			want: w4, carrier: carrierOf(nil, enc(EncapIPIP, o1, o2), enc(EncapIPIP, o3, o4))},
		{name: "Teredo with origin indication", link: en,
			data: ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 3544, 51000, append(teredoOrigin(40000, o3), v6...))),
			want: w6, carrier: carrierOf(nil, enc(EncapTeredo, o1, o2)), noGopacket: true},
		{name: "Teredo with authentication and origin", link: en,
			data: ether(t, layers.EthernetTypeIPv4, udp4(t, o2, o1, 51000, 3544, append(append(teredoAuth(), teredoOrigin(1, o4)...), v6...))),
			want: w6, carrier: carrierOf(nil, enc(EncapTeredo, o2, o1)), noGopacket: true},
		{name: "Teredo between a client and a relay (no port 3544)", link: en,
			data: ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 3797, 32900, v6)),
			want: w6, carrier: carrierOf(nil, enc(EncapTeredo, o1, o2)), noGopacket: true},
		{name: "Teredo with origin indication, no port 3544", link: en,
			data: ether(t, layers.EthernetTypeIPv4, udp4(t, o2, o1, 32900, 3797, append(teredoOrigin(40000, o3), v6...))),
			want: w6, carrier: carrierOf(nil, enc(EncapTeredo, o2, o1)), noGopacket: true},
		{name: "Geneve with an option, Ethernet", link: en,
			data: ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 5555, 6081, serialize(t, &layers.Geneve{VNI: 9, Protocol: layers.EthernetTypeTransparentEthernetBridging,
				Options: []*layers.GeneveOption{{Class: 0x0102, Type: 0x80, Length: 8, Data: []byte{1, 2, 3, 4}}}}, gopacket.Payload(eth4)))),
			want: w4, carrier: carrierOf(nil, enc(EncapGeneve, o1, o2, 9)), keyed: true},
		{name: "Geneve carrying IPv6", link: en,
			data: ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 5555, 6081, serialize(t, &layers.Geneve{VNI: 10, Protocol: layers.EthernetTypeIPv6}, gopacket.Payload(v6)))),
			want: w6, carrier: carrierOf(nil, enc(EncapGeneve, o1, o2, 10)), keyed: true},
		{name: "GTP-U G-PDU, IPv4, on 2152 both sides", link: en,
			data: ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 2152, 2152, gtpU(0x30, 0xabcdef01, nil, v4))),
			want: w4, carrier: carrierOf(nil, enc(EncapGTP, o1, o2, 0xabcdef01))},
		{name: "GTP-U with sequence number and an extension header, IPv6, another source port", link: en,
			data: ether(t, layers.EthernetTypeIPv4, udp4(t, o2, o1, 5906, 2152, gtpU(0x36, 7, []byte{0, 1, 0, 0x85, 1, 0x10, 9, 0}, v6))),
			want: w6, carrier: carrierOf(nil, enc(EncapGTP, o2, o1, 7))},
		{name: "AYIYA, identity 16 bytes, signature 20, IPv6", link: en,
			data: ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 5072, 53859, ayiya(4, 5, 41, v6))),
			want: w6, carrier: carrierOf(nil, enc(EncapAYIYA, o1, o2)), noGopacket: true},
		{name: "TZSP (MikroTik's sniffer streaming to a collector), Ethernet", link: en,
			data: ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 41012, 37008, tzsp(0, 1, nil, eth4))),
			want: w4, carrier: carrierOf(nil, enc(EncapTZSP, o1, o2)), noGopacket: true},
		{name: "TZSP with padding and a tagged field, Ethernet with a VLAN tag", link: en,
			data: ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 41012, 37008, tzsp(1, 1, []byte{0, 0, 10, 1, 0x42},
				ether(t, layers.EthernetTypeDot1Q, v4, &layers.Dot1Q{VLANIdentifier: 33, Type: layers.EthernetTypeIPv4})))),
			want: w4, carrier: carrierOf([]uint16{33}, enc(EncapTZSP, o1, o2)), noGopacket: true},
		{name: "TZSP, 802.11", link: en,
			data: ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 41012, 37008, tzsp(0, 18, nil, dot11Data(0x0800, v4)))),
			want: w4, carrier: carrierOf(nil, enc(EncapTZSP, o1, o2)), noGopacket: true},
		{name: "802.11 in GRE (Aruba)", link: en,
			data: ether(t, layers.EthernetTypeIPv4, ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{Protocol: 0x8200}, dot11Data(0x0800, v4)))),
			want: w4, carrier: carrierOf(nil, enc(EncapGRE, o1, o2)), noGopacket: true},
		{name: "GRE in UDP 4754", link: en,
			data: ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 999, 4754, gre(t, layers.GRE{Protocol: layers.EthernetTypeIPv4}, v4))),
			want: w4, carrier: carrierOf(nil, enc(EncapGRE, o1, o2)), noGopacket: true},
		{name: "PPTP: enhanced GRE, PPP", link: en,
			data: ether(t, layers.EthernetTypeIPv4, ip4(t, o1, o2, layers.IPProtocolGRE,
				append([]byte{0x30, 0x81, 0x88, 0x0b, 0, byte(len(v4) + 2), 0, 5, 0, 0, 0, 1, 0, 0, 0, 0}, append([]byte{0xff, 0x03, 0x00, 0x21}, v4...)...))),
			want: w4, carrier: carrierOf(nil, enc(EncapGRE, o1, o2)), noGopacket: true},
		{name: "WCCP redirect in GRE", link: en,
			data: ether(t, layers.EthernetTypeIPv4, ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{Protocol: 0x883e}, append([]byte{0, 0, 0, 0}, v4...)))),
			want: w4, carrier: carrierOf(nil, enc(EncapGRE, o1, o2)), noGopacket: true},
		{name: "NFLOG, payload last", link: 239, data: nflogRec(binary.LittleEndian, 2, v4, false), want: w4, noGopacket: true},
		{name: "NFLOG, payload first, IPv6", link: 239, data: nflogRec(binary.LittleEndian, 10, v6, true), want: w6, noGopacket: true},
		{name: "NFLOG, big-endian attributes", link: 239, data: nflogRec(binary.BigEndian, 2, v4, false), want: w4, noGopacket: true},
		{name: "VN-Tag then VLAN", link: en, data: ether(t, 0x8926, append([]byte{0x80, 0x01, 0x00, 0x02, 0x81, 0x00, 0x00, 0x09, 0x08, 0x00}, v4...)),
			want: w4, carrier: carrierOf([]uint16{9}), noGopacket: true},
		{name: "VN-Tag then GRE (slow path)", link: en, data: ether(t, 0x8926, append([]byte{0x80, 0x01, 0x00, 0x02, 0x08, 0x00},
			ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{Protocol: layers.EthernetTypeIPv4}, v4))...)),
			want: w4, carrier: carrierOf(nil, enc(EncapGRE, o1, o2)), noGopacket: true},
		{name: "802.1BR E-Tag", link: en, data: ether(t, 0x893f, append([]byte{0x10, 0x00, 0x00, 0xd3, 0x00, 0x00, 0x08, 0x00}, v4...)),
			want: w4, noGopacket: true},
		{name: "Cisco MetaData (SGT) then VLAN", link: en, data: ether(t, 0x8909, append([]byte{0x01, 0x01, 0x00, 0x01, 0x00, 0x10, 0x81, 0x00, 0x00, 0x07, 0x86, 0xdd}, v6...)),
			want: w6, carrier: carrierOf([]uint16{7}), noGopacket: true},
		{name: "E-Tag then GRE (slow path)", link: en, data: ether(t, 0x893f, append([]byte{0x10, 0x00, 0x00, 0xd3, 0x00, 0x00, 0x08, 0x00},
			ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{Protocol: layers.EthernetTypeIPv4}, v4))...)),
			want: w4, carrier: carrierOf(nil, enc(EncapGRE, o1, o2)), noGopacket: true},
		{name: "GRE then E-Tag in bridged Ethernet (slow path)", link: en, data: ether(t, layers.EthernetTypeIPv4,
			ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{Protocol: layers.EthernetTypeTransparentEthernetBridging},
				ether(t, 0x893f, append([]byte{0x10, 0x00, 0x00, 0xd3, 0x00, 0x00, 0x08, 0x00}, v4...))))),
			want: w4, carrier: carrierOf(nil, enc(EncapGRE, o1, o2)), noGopacket: true},
		{name: "PKTAP, Ethernet (macOS tcpdump -i any)", link: 258, data: pktapHdr(1, eth4), want: w4, noGopacket: true},
		{name: "PKTAP, loopback", link: 258, data: pktapHdr(0, append([]byte{30, 0, 0, 0}, v6...)), want: w6, noGopacket: true},
		{name: "PKTAP, raw IP (utun)", link: 258, data: pktapHdr(12, v4), want: w4, noGopacket: true},
		{name: "PKTAP, Ethernet, GRE (slow path)", link: 258, data: pktapHdr(1, ether(t, layers.EthernetTypeIPv4,
			ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{Protocol: layers.EthernetTypeIPv4}, v4)))),
			want: w4, carrier: carrierOf(nil, enc(EncapGRE, o1, o2)), noGopacket: true},
		{name: "Linux SLL2, GRE", link: layers.LinkTypeLinuxSLL2, data: sll2(0x0800, ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{Protocol: layers.EthernetTypeIPv6}, v6))),
			want: w6, carrier: carrierOf(nil, enc(EncapGRE, o1, o2)), noGopacket: true},
	}
	for _, c := range cases {
		r := readPkts(t, c.name, []pkt{{c.link, c.data}})
		if err := diffSegs(r.segs, []seg{c.want}); err != nil {
			t.Errorf("%s: %v (warnings %q, skipped %+v)", c.name, err, r.stats.Warnings, r.stats.Skipped)
			continue
		}
		x := r.extra[0]
		if !x.carrier.Equal(c.carrier) {
			t.Errorf("%s: carrier %q, want %q", c.name, x.carrier, c.carrier)
		}
		if (x.key != 0) != c.keyed {
			t.Errorf("%s: CarrierKey %#x, want it non-zero: %v", c.name, x.key, c.keyed)
		}
		if x.detached {
			t.Errorf("%s: payload not in the reader's block", c.name)
		}
		if len(r.stats.Warnings) != 0 {
			t.Errorf("%s: warnings %q", c.name, r.stats.Warnings)
		}
		if !c.noGopacket {
			g, ok := gopacketInner(recordsOf([]pkt{{c.link, c.data}})[0])
			g.N = 1
			if !ok {
				t.Errorf("%s: gopacket finds no TCP", c.name)
			} else if err := diffSegs(r.segs, []seg{g}); err != nil {
				t.Errorf("%s: ours vs gopacket: %v", c.name, err)
			}
		}
	}
}

// TestCarrierKeys checks which carriers separate connections: two VNIs
// and two GRE keys do, the two directions of one tunnel (swapped outer
// addresses, different MPLS labels) do not; and that segments share one
// Carrier per distinct carrier.
func TestCarrierKeys(t *testing.T) {
	v4 := ipv4TCP(t)
	eth4 := ether(t, layers.EthernetTypeIPv4, v4)
	vx := func(src, dst netip.Addr, vni uint32) pkt {
		return pkt{layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv4, udp4(t, src, dst, 1000, 4789, vxlan(t, vni, eth4)))}
	}
	gk := func(src, dst netip.Addr, key uint32) pkt {
		return pkt{layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv4, ip4(t, src, dst, layers.IPProtocolGRE,
			gre(t, layers.GRE{KeyPresent: true, Key: key, Protocol: layers.EthernetTypeIPv4}, v4)))}
	}
	ml := func(label uint32) pkt {
		return pkt{layers.LinkTypeEthernet, ether(t, layers.EthernetTypeMPLSUnicast, mplsStack(t, v4, label))}
	}
	cases := []struct {
		name     string
		a, b     pkt
		sameKey  bool
		sameCarr bool
	}{
		{"two VNIs", vx(o1, o2, 1), vx(o1, o2, 2), false, false},
		{"one VNI, both directions", vx(o1, o2, 1), vx(o2, o1, 1), true, false},
		{"two GRE keys", gk(o1, o2, 5), gk(o1, o2, 6), false, false},
		{"one GRE key, both directions", gk(o1, o2, 5), gk(o2, o1, 5), true, false},
		{"MPLS labels per direction", ml(100), ml(200), true, false},
		{"VXLAN vs GRE, same id", vx(o1, o2, 5), gk(o1, o2, 5), false, false},
		{"the same carrier twice", vx(o1, o2, 3), vx(o1, o2, 3), true, true},
	}
	for _, c := range cases {
		r := readPkts(t, c.name, []pkt{c.a, c.b, c.a, c.b})
		if len(r.segs) != 4 {
			t.Errorf("%s: %d segments, want 4 (warnings %q)", c.name, len(r.segs), r.stats.Warnings)
			continue
		}
		ka, kb := r.extra[0].key, r.extra[1].key
		if (ka == kb) != c.sameKey {
			t.Errorf("%s: keys %#x and %#x, want equal: %v", c.name, ka, kb, c.sameKey)
		}
		ca, cb := r.extra[0].carrier, r.extra[1].carrier
		if ca.Equal(cb) != c.sameCarr {
			t.Errorf("%s: carriers %q and %q, want equal: %v", c.name, ca, cb, c.sameCarr)
		}
		// The third and fourth packets get the very Carriers of the first two.
		if r.extra[2].carrier != ca || r.extra[3].carrier != cb || r.extra[2].key != ka || r.extra[3].key != kb {
			t.Errorf("%s: carriers not shared: %p %p %p %p", c.name, ca, cb, r.extra[2].carrier, r.extra[3].carrier)
		}
	}
	// Untagged packets have no carrier and key 0; a tagged one after them
	// has its own, and untagged ones after it none again.
	plain := pkt{layers.LinkTypeEthernet, eth4}
	tagged := pkt{layers.LinkTypeEthernet, ether(t, layers.EthernetTypeDot1Q, v4, &layers.Dot1Q{VLANIdentifier: 3, Type: layers.EthernetTypeIPv4})}
	r := readPkts(t, "plain and tagged", []pkt{plain, tagged, plain})
	if len(r.extra) != 3 || r.extra[0].carrier != nil || r.extra[2].carrier != nil || r.extra[2].key != 0 ||
		!r.extra[1].carrier.Equal(carrierOf([]uint16{3})) || r.extra[1].key != 0 {
		t.Errorf("plain and tagged: extras %+v", r.extra)
	}
}

// TestCarrierShareNoAlloc decodes alternating directions of one VXLAN
// tunnel: after the first two packets, decoding allocates nothing.
func TestCarrierShareNoAlloc(t *testing.T) {
	eth4 := ether(t, layers.EthernetTypeIPv4, ipv4TCP(t))
	a := ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 1000, 4789, vxlan(t, 7, eth4)))
	b := ether(t, layers.EthernetTypeIPv4, udp4(t, o2, o1, 1000, 4789, vxlan(t, 7, eth4)))
	var d decoder
	var s Segment
	for _, p := range [][]byte{a, b} {
		if res, pr := d.decode(linkEthernet, p, len(p), &s); res != resTCP {
			t.Fatalf("decode = %d (%s)", res, pr)
		}
	}
	n := testing.AllocsPerRun(100, func() {
		d.decode(linkEthernet, a, len(a), &s)
		d.decode(linkEthernet, b, len(b), &s)
	})
	if n != 0 {
		t.Errorf("%v allocations per two VXLAN packets, want 0", n)
	}
}

// bigTCP is an IPv4 TCP packet (id 0x4242) with an n-byte payload.
func bigTCP(t testing.TB, n int, id uint16, src, dst netip.Addr) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 63, Id: id, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	tl := tcpSeg()
	tl.SetNetworkLayerForChecksum(ip)
	body := make([]byte, n)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	return serialize(t, ip, tl, gopacket.Payload(body))
}

// frag4 cuts the IPv4 packet p into fragments: pieces[i] is [start, end)
// of its payload (multiples of 8 but the last).
func frag4(p []byte, pieces ...[2]int) [][]byte {
	hl := int(p[0]&0x0f) * 4
	body := p[hl:]
	var out [][]byte
	for _, pc := range pieces {
		f := slices.Clone(p[:hl])
		f = append(f, body[pc[0]:pc[1]]...)
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		fo := uint16(pc[0] / 8)
		if pc[1] < len(body) {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:], fo)
		binary.BigEndian.PutUint16(f[10:], 0)
		out = append(out, f)
	}
	return out
}

// fragIPv6 cuts the IPv6 packet p (no extension headers) into fragments
// with identification id.
func fragIPv6(p []byte, id uint32, pieces ...[2]int) [][]byte {
	body := p[40:]
	var out [][]byte
	for _, pc := range pieces {
		f := slices.Clone(p[:40])
		f[6] = 44
		fo := uint16(pc[0]/8) << 3
		if pc[1] < len(body) {
			fo |= 1
		}
		fh := []byte{p[6], 0, byte(fo >> 8), byte(fo), 0, 0, 0, 0}
		binary.BigEndian.PutUint32(fh[4:], id)
		f = append(f, fh...)
		f = append(f, body[pc[0]:pc[1]]...)
		binary.BigEndian.PutUint16(f[4:], uint16(len(f)-40))
		out = append(out, f)
	}
	return out
}

// TestFragments reassembles IPv4 and IPv6 fragments, outside and inside
// tunnels, and checks what happens to ones that cannot make a datagram.
func TestFragments(t *testing.T) {
	big := bigTCP(t, 3000, 0x4242, v4src, v4dst)
	wantBig := func(n uint64) seg {
		w := wantSeg(v4src, v4dst)
		w.N, w.Time = n, t0.Add(time.Duration(n-1)*time.Millisecond)
		w.Payload = string(big[40:])
		w.PayloadLen = 3000
		return w
	}
	big6 := func() []byte {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: v6src.AsSlice(), DstIP: v6dst.AsSlice()}
		tl := tcpSeg()
		tl.SetNetworkLayerForChecksum(ip)
		return serialize(t, ip, tl, gopacket.Payload(big[40:]))
	}()
	wantBig6 := func(n uint64) seg {
		w := wantBig(n)
		w.Src, w.Dst = netip.AddrPortFrom(v6src, 43102), netip.AddrPortFrom(v6dst, 80)
		return w
	}
	raw := func(ps ...[]byte) []pkt {
		var out []pkt
		for _, p := range ps {
			out = append(out, pkt{layers.LinkTypeRaw, p})
		}
		return out
	}
	f := frag4(big, [2]int{0, 1000}, [2]int{1000, 2000}, [2]int{2000, 3020})
	f6 := fragIPv6(big6, 99, [2]int{0, 1496}, [2]int{1496, 3020})
	// VXLAN over a small underlay MTU: the OUTER datagram is fragmented.
	vxBig := udp4(t, o1, o2, 777, 4789, vxlan(t, 31, ether(t, layers.EthernetTypeIPv4, big)))
	binary.BigEndian.PutUint16(vxBig[4:], 0x5151)
	n := len(vxBig) - 20
	fvx := frag4(vxBig, [2]int{0, 1480}, [2]int{1480, n})
	// A fragmented inner packet inside GRE: each fragment its own GRE packet.
	inGRE := func(p []byte) pkt {
		return pkt{layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv4, ip4(t, o3, o4, layers.IPProtocolGRE, gre(t, layers.GRE{KeyPresent: true, Key: 1, Protocol: layers.EthernetTypeIPv4}, p)))}
	}
	overlap := frag4(big, [2]int{0, 1000}, [2]int{992, 3020})
	cases := []struct {
		name     string
		pkts     []pkt
		want     []seg
		carrier  *Carrier
		skipped  Skipped
		warnings []string
	}{
		{"IPv4 in order", raw(f...), []seg{wantBig(3)}, nil, Skipped{Fragments: 2}, nil},
		{"IPv4 out of order", raw(f[2], f[0], f[1]), []seg{wantBig(3)}, nil, Skipped{Fragments: 2}, nil},
		{"IPv4 with a repeat", raw(f[1], f[0], f[1], f[2]), []seg{wantBig(4)}, nil, Skipped{Fragments: 3}, nil},
		{"IPv6 out of order", raw(f6[1], f6[0]), []seg{wantBig6(2)}, nil, Skipped{Fragments: 1}, nil},
		{"IPv4 overlapping", raw(overlap...), nil, nil, Skipped{Fragments: 1, Undecodable: 1},
			[]string{"packet 2: undecodable: IPv4 fragment (id 16962, offset 992) rejected: fragment overlaps another one"}},
		{"IPv4 incomplete", raw(f[0], f[2]), nil, nil, Skipped{Fragments: 2},
			[]string{"IP reassembly: 1 datagrams (2 fragments) still incomplete"}},
		{"VXLAN, outer fragments", []pkt{{layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv4, fvx[1])}, {layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv4, fvx[0])}},
			[]seg{wantBig(2)}, carrierOf(nil, enc(EncapVXLAN, o1, o2, 31)), Skipped{Fragments: 1}, nil},
		{"fragments inside GRE", []pkt{inGRE(f[0]), inGRE(f[2]), inGRE(f[1])}, []seg{wantBig(3)}, carrierOf(nil, enc(EncapGRE, o3, o4, 1)), Skipped{Fragments: 2}, nil},
		{"the same fragments in two tunnels", []pkt{inGRE(f[0]), raw(f[1])[0], inGRE(f[1]), raw(f[2])[0]}, []seg{}, nil, Skipped{Fragments: 4},
			[]string{"IP reassembly: 2 datagrams (4 fragments) still incomplete"}},
	}
	for _, c := range cases {
		r := readPkts(t, c.name, c.pkts)
		if err := diffSegs(r.segs, c.want); err != nil {
			t.Errorf("%s: %v (warnings %q)", c.name, err, r.stats.Warnings)
			continue
		}
		for i, x := range r.extra {
			if !x.detached {
				t.Errorf("%s: segment %d: PayloadBlock is not nil for a reassembled payload", c.name, i)
			}
			if !x.carrier.Equal(c.carrier) {
				t.Errorf("%s: carrier %q, want %q", c.name, x.carrier, c.carrier)
			}
		}
		if r.stats.Skipped != c.skipped {
			t.Errorf("%s: skipped %+v, want %+v", c.name, r.stats.Skipped, c.skipped)
		}
		if len(r.stats.Warnings) != len(c.warnings) {
			t.Errorf("%s: warnings %q, want %q", c.name, r.stats.Warnings, c.warnings)
			continue
		}
		for i, w := range c.warnings {
			if !strings.HasPrefix(r.stats.Warnings[i], w) {
				t.Errorf("%s: warning %q, want prefix %q", c.name, r.stats.Warnings[i], w)
			}
		}
	}
}

// TestFragmentLimits floods the reassembler: datagrams beyond the limit
// are dropped with one warning and counted, memory stays bounded, and old
// datagrams time out by capture time.
func TestFragmentLimits(t *testing.T) {
	var d decoder
	var s Segment
	first := func(id uint16, size int) []byte {
		return frag4(bigTCP(t, size, id, v4src, v4dst), [2]int{0, size / 2})[0]
	}
	counts := map[int]int{}
	for i := range maxFragDatagrams + 100 {
		p := first(uint16(i), 64)
		res, _ := d.packet(linkRaw, p, len(p), t0, &s)
		counts[res]++
	}
	if counts[resFragment] != maxFragDatagrams || counts[resFragDrop] != 100 {
		t.Errorf("datagram flood: results %v, want %d held and 100 dropped", counts, maxFragDatagrams)
	}
	fr := d.slow.frags
	if len(fr.entries) != maxFragDatagrams || fr.dropped != 100 {
		t.Errorf("datagram flood: %d in progress, %d dropped", len(fr.entries), fr.dropped)
	}
	// 31 s later every one of them has timed out: a new fragment is held.
	p := first(1, 64)
	if res, pr := d.packet(linkRaw, p, len(p), t0.Add(31*time.Second), &s); res != resFragment {
		t.Errorf("after the timeout: %d (%s), want the fragment held", res, pr)
	}
	if fr.expired != maxFragDatagrams || len(fr.entries) != 1 {
		t.Errorf("after the timeout: %d expired, %d in progress; want %d, 1", fr.expired, len(fr.entries), maxFragDatagrams)
	}
	if sum := fr.summary(); !strings.Contains(sum, "100 fragments dropped: reassembly limit") || !strings.Contains(sum, "4096 datagrams (4096 fragments) timed out") {
		t.Errorf("summary %q", sum)
	}
	// Bytes: big fragments of distinct datagrams until 16 MiB are held.
	var e decoder
	held := 0
	for i := range 700 {
		p := first(uint16(i), 60000)
		res, _ := e.packet(linkRaw, p, len(p), t0, &s)
		if res == resFragment {
			held++
		}
		if e.slow.frags.held > maxFragBytes {
			t.Fatalf("%d bytes held > %d", e.slow.frags.held, maxFragBytes)
		}
	}
	if want := maxFragBytes / (30000 + fragOverhead); held != want {
		t.Errorf("byte flood: %d held, want %d", held, want)
	}
	// The reader warns once and sums up at the end.
	var pk []pkt
	for i := range maxFragDatagrams + 3 {
		pk = append(pk, pkt{layers.LinkTypeRaw, first(uint16(i), 64)})
	}
	r := readPkts(t, "flood", pk)
	if r.stats.Skipped != (Skipped{Fragments: maxFragDatagrams, Undecodable: 3}) {
		t.Errorf("flood: skipped %+v", r.stats.Skipped)
	}
	want := []string{fmt.Sprintf("packet %d: IP fragment dropped: reassembly limit", maxFragDatagrams+1), "IP reassembly: 3 fragments dropped"}
	if len(r.stats.Warnings) != 2 || !strings.HasPrefix(r.stats.Warnings[0], want[0]) || !strings.HasPrefix(r.stats.Warnings[1], want[1]) {
		t.Errorf("flood: warnings %q, want prefixes %q", r.stats.Warnings, want)
	}
}

// TestDecapBadInput covers lying headers, tunnel cycles and other packets
// that must be warned about, not decoded.
func TestDecapBadInput(t *testing.T) {
	v4, v6 := ipv4TCP(t), ipv6TCP(t, 0, nil)
	eth4 := ether(t, layers.EthernetTypeIPv4, v4)
	nest := v4
	for range maxEncap + 1 {
		nest = ip4(t, o1, o2, layers.IPProtocolIPv4, nest)
	}
	vxl := udp4(t, o1, o2, 1, 4789, vxlan(t, 1, eth4))
	binary.BigEndian.PutUint16(vxl[24:], uint16(len(vxl)-20+8)) // UDP length beyond the IP payload
	gen := udp4(t, o1, o2, 1, 6081, serialize(t, &layers.Geneve{VNI: 1, Protocol: layers.EthernetTypeIPv4}, gopacket.Payload(v4)))
	gen[28] |= 2                                                                   // options length 8 bytes, but none there
	greCut := ip4(t, o1, o2, layers.IPProtocolGRE, []byte{0x20, 0, 0x08, 0, 0, 0}) // key flag, 2 of 4 key bytes
	nfl := nflogRec(binary.LittleEndian, 2, v4, false)
	pad := (4 - len(v4)%4) % 4
	binary.LittleEndian.PutUint16(nfl[len(nfl)-len(v4)-pad-4:], uint16(len(v4)+100))
	ter := udp4(t, o1, o2, 3544, 1, append([]byte{0, 1, 200, 0}, make([]byte, 50)...))
	cases := []struct {
		name string
		p    pkt
		res  int
		msg  string
	}{
		{"IP in IP cycle", pkt{layers.LinkTypeRaw, nest}, resBad, "more than 8 nested encapsulations"},
		{"MPLS without a bottom label", pkt{layers.LinkTypeEthernet, ether(t, layers.EthernetTypeMPLSUnicast, slices.Repeat([]byte{0, 0x10, 0, 64}, 20))}, resBad, "more than 8 nested encapsulations"},
		{"UDP length beyond the packet (VXLAN)", pkt{layers.LinkTypeRaw, vxl}, resBad, "UDP length"},
		{"Geneve options length lies", pkt{layers.LinkTypeRaw, gen}, resBad, "Geneve"},
		{"GRE header cut short", pkt{layers.LinkTypeRaw, greCut}, resBad, "GRE"},
		{"NFLOG attribute longer than the record", pkt{239, nfl}, resBad, "NFLOG attribute 9"},
		{"Teredo authentication longer than the datagram", pkt{layers.LinkTypeRaw, ter}, resBad, "Teredo"},
		{"too many VLAN tags across VXLAN", pkt{layers.LinkTypeEthernet, func() []byte {
			tags := []*layers.Dot1Q{}
			for range 5 {
				tags = append(tags, &layers.Dot1Q{VLANIdentifier: 1, Type: layers.EthernetTypeDot1Q})
			}
			tags[4].Type = layers.EthernetTypeIPv4
			inner := ether(t, layers.EthernetTypeDot1Q, v4, tags...)
			return ether(t, layers.EthernetTypeDot1Q, udp4(t, o1, o2, 1, 4789, vxlan(t, 1, inner)), tags...)
		}()}, resBad, "more than 8 VLAN tags"},
		{"GTP-U length past the datagram", pkt{layers.LinkTypeRaw, udp4(t, o1, o2, 2152, 2152, func() []byte {
			g := gtpU(0x30, 1, nil, v4)
			binary.BigEndian.PutUint16(g[2:], uint16(len(v4)+40))
			return g
		}())}, resBad, "GTP-U length"},
		{"GTP-U extension header past the datagram", pkt{layers.LinkTypeRaw, udp4(t, o1, o2, 2152, 2152, gtpU(0x34, 1, []byte{0, 0, 0, 0x85, 200}, nil))}, resBad, "GTP-U"},
		{"AYIYA identity longer than the datagram", pkt{layers.LinkTypeRaw, udp4(t, o1, o2, 5072, 1, ayiya(15, 15, 41, nil)[:40])}, resBad, "AYIYA"},
		{"GTP port, not a G-PDU (echo request)", pkt{layers.LinkTypeRaw, udp4(t, o1, o2, 2152, 2152, []byte{0x32, 1, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0})}, resNonTCP, ""},
		{"GTP port, not GTP (DNS)", pkt{layers.LinkTypeRaw, udp4(t, o1, o2, 2152, 53, []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0})}, resNonTCP, ""},
		{"GTP inside GTP is not taken off again", pkt{layers.LinkTypeRaw, udp4(t, o1, o2, 2152, 2152, gtpU(0x30, 1, nil, udp4(t, o3, o4, 2152, 2152, gtpU(0x30, 2, nil, v4))))}, resNonTCP, ""},
		{"TZSP tagged fields without END", pkt{layers.LinkTypeRaw, udp4(t, o1, o2, 1, 37008, []byte{1, 0, 0, 1, 10, 200, 0x42})}, resBad, "TZSP"},
		{"TZSP keep-alive", pkt{layers.LinkTypeRaw, udp4(t, o1, o2, 1, 37008, []byte{1, 4, 0, 0})}, resNonTCP, ""},
		{"TZSP version 2", pkt{layers.LinkTypeRaw, udp4(t, o1, o2, 1, 37008, func() []byte { z := tzsp(0, 1, nil, ether(t, layers.EthernetTypeIPv4, v4)); z[0] = 2; return z }())}, resNonTCP, ""},
		{"AYIYA, not a forward (echo)", pkt{layers.LinkTypeRaw, udp4(t, o1, o2, 5072, 1, func() []byte { a := ayiya(0, 0, 41, v6); a[2] = 0x22; return a }())}, resNonTCP, ""},
		{"Juniper header without its magic", pkt{layers.LinkType(178), append([]byte{'X', 'G', 'C', 0}, make([]byte, 20)...)}, resBad, "magic"},
		{"Juniper extensions longer than the packet", pkt{layers.LinkType(178), []byte{'M', 'G', 'C', 0x80, 0x10, 0, 1, 2}}, resBad, "Juniper"},
		{"IPoIB header cut", pkt{layers.LinkType(242), make([]byte, 30)}, resBad, "IPoIB"},
		{"ARCNET fragment", pkt{layers.LinkType(7), append([]byte{1, 2, 212, 3, 0, 7}, v4...)}, resBad, "ARCNET fragment"},
		{"ARCNET header cut", pkt{layers.LinkType(129), []byte{1, 2, 0, 0}}, resBad, "ARCNET"},
		{"ARCNET ARP", pkt{layers.LinkType(129), []byte{1, 2, 0, 0, 241, 0, 1, 8, 0}}, resNonTCP, ""},
		{"Teredo port, not Teredo", pkt{layers.LinkTypeRaw, udp4(t, o1, o2, 3544, 1, []byte("hello, not IPv6"))}, resNonTCP, ""},
		{"IPv6 in UDP that does not fill the datagram", pkt{layers.LinkTypeRaw, udp4(t, o1, o2, 5000, 5001, append(slices.Clone(v6), 0))}, resNonTCP, ""},
		{"IPv6 in UDP not carrying TCP", pkt{layers.LinkTypeRaw, udp4(t, o1, o2, 5000, 5001, ip6(t, o6a, o6b, layers.IPProtocolNoNextHeader, nil))}, resNonTCP, ""},
		{"VXLAN without the I flag", pkt{layers.LinkTypeRaw, udp4(t, o1, o2, 1, 4789, append([]byte{0, 0, 0, 0, 0, 0, 1, 0}, eth4...))}, resNonTCP, ""},
		{"PPPoE discovery, not a session", pkt{layers.LinkTypeEthernet, ether(t, layers.EthernetTypePPPoEDiscovery, []byte{0x11, 9, 0, 0, 0, 0})}, resNonTCP, ""},
		{"GRE 0x8200 (Aruba) with an 802.11 frame cut short", pkt{layers.LinkTypeRaw, ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{Protocol: 0x8200}, []byte{0x08, 0, 0, 0}))}, resBad, "IEEE802_11"},
	}
	for _, c := range cases {
		var d decoder
		var s Segment
		res, p := d.packet(uint32(c.p.link), c.p.data, len(c.p.data), t0, &s)
		if res != c.res || !strings.Contains(p.String(), c.msg) {
			t.Errorf("%s: %d (%q), want %d with %q", c.name, res, p, c.res, c.msg)
		}
		if c.res != resBad {
			continue
		}
		r := readPkts(t, c.name, []pkt{c.p})
		if r.stats.Skipped.Undecodable != 1 || len(r.stats.Warnings) != 1 || !strings.HasPrefix(r.stats.Warnings[0], "packet 1: undecodable: ") {
			t.Errorf("%s: skipped %+v, warnings %q; want one undecodable packet, warned", c.name, r.stats.Skipped, r.stats.Warnings)
		}
	}
}

// TestSlowPathAgrees decodes every corpus packet (and VXLAN-wrapped
// copies) with the slow path as well: it must give what the fast path
// gives.
func TestSlowPathAgrees(t *testing.T) {
	var fast, slow decoder
	slow.slow = newDecapper(&slow)
	n := 0
	check := func(name string, link uint32, data []byte) {
		var a, b Segment
		ra, pa := fast.decode(link, data, len(data), &a)
		rb, pb := slow.slow.packet(link, data, len(data), t0, &b)
		if ra != rb || (ra == resTCP && (copySeg(&a) != copySeg(&b) || !a.Carrier.Equal(b.Carrier) || a.CarrierKey != b.CarrierKey ||
			a.IPID != b.IPID || a.TTL != b.TTL || a.TCPSum != b.TCPSum)) {
			t.Errorf("%s: fast %d (%s) %v [%s], slow %d (%s) %v [%s]", name, ra, pa, copySeg(&a), a.Carrier, rb, pb, copySeg(&b), b.Carrier)
		}
		n++
	}
	for _, path := range corpusFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, rec := range records(t, data) {
			name := fmt.Sprintf("%s #%d", path, i+1)
			check(name, uint32(rec.link), rec.data)
			if rec.link == layers.LinkTypeEthernet {
				w := ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 9, 4789, vxlan(t, 5, rec.data)))
				check(name+" in VXLAN", linkEthernet, w)
			}
		}
	}
	t.Logf("%d packets", n)
}
