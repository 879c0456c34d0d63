package bpf

import (
	"encoding/binary"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Encapsulated and non-IP frames for the differential test: MPLS label
// stacks, PPPoE, Geneve, 802.3 frames with 802.2 LLC (OSI, STP, IPX,
// NetBEUI, SNAP) and the Ethernet types of the other protocol names.

// networkBytes returns a random IPv4 or IPv6 packet (or random bytes) and
// its Ethernet type.
func (g *packetGen) networkBytes() (uint16, []byte) {
	switch g.r.IntN(5) {
	case 0, 1:
		_, ls := g.network4()
		return ethIPv4, serialize(ls...)
	case 2, 3:
		_, ls := g.network6()
		return ethIPv6, serialize(ls...)
	}
	return uint16(g.r.IntN(65536)), g.bytes(g.r.IntN(60))
}

func (g *packetGen) maybeTags() []vlanTag {
	if g.r.IntN(6) == 0 {
		return []vlanTag{{pick(g, poolTPID), pick(g, poolVID)}}
	}
	return nil
}

var poolLabels = []uint32{0, 1, 3, 100, 1000, 0xfffff, 16}

// encapFrame returns a random encapsulated or non-IP Ethernet frame.
func (g *packetGen) encapFrame() []byte {
	src, dst := pick(g, poolMAC), pick(g, poolMAC)
	var f []byte
	switch g.r.IntN(9) {
	case 0, 1: // MPLS
		n := 1 + g.r.IntN(3)
		var ls []gopacket.SerializableLayer
		for i := range n {
			bottom := i == n-1
			if g.r.IntN(8) == 0 {
				bottom = !bottom
			}
			ls = append(ls, &layers.MPLS{Label: pick(g, poolLabels), TrafficClass: uint8(g.r.IntN(8)), StackBottom: bottom, TTL: 64})
		}
		_, p := g.networkBytes()
		f = ether(src, dst, g.maybeTags(), layers.EthernetTypeMPLSUnicast, append(ls, gopacket.Payload(p))...)
	case 2, 3: // PPPoE session
		var ppp layers.PPPType
		var p []byte
		switch g.r.IntN(5) {
		case 0, 1:
			_, ls := g.network4()
			ppp, p = 0x0021, serialize(ls...)
		case 2:
			_, ls := g.network6()
			ppp, p = 0x0057, serialize(ls...)
		case 3:
			ppp = 0x0281
			_, ip := g.networkBytes()
			p = append(binary.BigEndian.AppendUint32(nil, pick(g, poolLabels)<<12|0x100|64), ip...)
		default:
			ppp, p = layers.PPPType(pick(g, []uint16{0xc021, 0x8021, 0x0806, 0x002b, 0x0027})), g.bytes(g.r.IntN(40))
		}
		sess := pick(g, []uint16{0, 1, 7, 0x1234, 0xffff})
		f = ether(src, dst, g.maybeTags(), layers.EthernetTypePPPoESession,
			&layers.PPPoE{Version: 1, Type: 1, Code: 0, SessionId: sess}, &layers.PPP{PPPType: ppp}, gopacket.Payload(p))
	case 4: // PPPoE discovery
		f = ether(src, dst, nil, layers.EthernetTypePPPoEDiscovery, &layers.PPPoE{Version: 1, Type: 1, Code: 0x09}, gopacket.Payload(g.bytes(g.r.IntN(30))))
	case 5, 6: // Geneve
		f = g.geneveFrame(src, dst)
	case 7: // 802.3 with LLC
		f = g.llcFrame(src, dst)
	default: // other Ethernet types
		et := pick(g, []uint16{ethDN, ethLAT, ethSCA, ethMOPDL, ethMOPRC, ethATalk, ethAARP, ethIPX, ethLoopback, ethTEB, 0x8035})
		f = ether(src, dst, g.maybeTags(), layers.EthernetType(et), gopacket.Payload(g.bytes(g.r.IntN(60))))
	}
	switch n := g.r.IntN(100); {
	case n < 8:
		f = f[:g.r.IntN(len(f))]
	case n < 10:
		f[g.r.IntN(len(f))] = byte(g.r.IntN(256))
	}
	return f
}

func (g *packetGen) geneveFrame(src, dst []byte) []byte {
	gn := &layers.Geneve{Version: 0, VNI: pick(g, []uint32{0, 1, 100, 0xffffff, 5000})}
	if g.r.IntN(8) == 0 {
		gn.Version = uint8(1 + g.r.IntN(3))
	}
	for range g.r.IntN(3) {
		gn.Options = append(gn.Options, &layers.GeneveOption{Class: 0x0102, Type: 0x80, Data: g.bytes(4 * g.r.IntN(3))})
	}
	var inner []byte
	switch g.r.IntN(4) {
	case 0, 1:
		gn.Protocol = layers.EthernetType(ethTEB)
		_, ls := g.network4()
		if g.r.IntN(2) == 0 {
			_, ls = g.network6()
			inner = ether(pick(g, poolMAC), pick(g, poolMAC), g.maybeTags(), layers.EthernetTypeIPv6, ls...)
		} else {
			inner = ether(pick(g, poolMAC), pick(g, poolMAC), g.maybeTags(), layers.EthernetTypeIPv4, ls...)
		}
	case 2:
		et, p := g.networkBytes()
		gn.Protocol, inner = layers.EthernetType(et), p
	default:
		gn.Protocol, inner = layers.EthernetType(ethMPLS), g.bytes(g.r.IntN(40))
	}
	dport := uint16(genevePort)
	if g.r.IntN(6) == 0 {
		dport = g.port()
	}
	if g.r.IntN(2) == 0 {
		ip := ip4(pick(g, poolIP4), pick(g, poolIP4), layers.IPProtocolUDP)
		if g.r.IntN(4) == 0 {
			ip.Options = nops(4 * (1 + g.r.IntN(3)))
		}
		return ether(src, dst, g.maybeTags(), layers.EthernetTypeIPv4, ip, udp(g.port(), dport, ip), gn, gopacket.Payload(inner))
	}
	ip := ip6(pick(g, poolIP6), pick(g, poolIP6), layers.IPProtocolUDP)
	return ether(src, dst, g.maybeTags(), layers.EthernetTypeIPv6, ip, udp(g.port(), dport, ip), gn, gopacket.Payload(inner))
}

// llcFrame returns an 802.3 frame (length instead of type) with an 802.2
// LLC header.
func (g *packetGen) llcFrame(src, dst []byte) []byte {
	var body []byte
	switch g.r.IntN(8) {
	case 0: // OSI: CLNP, ES-IS or IS-IS with an IS-IS PDU type 4 bytes in
		nlpid := pick(g, []byte{isoCLNP, isoESIS, isoISIS, isoISIS, 0x8a})
		pdu := pick(g, []byte{isisL1LANIIH, isisL2LANIIH, isisPTPIIH, isisL1LSP, isisL2LSP, isisL1CSNP, isisL2CSNP, isisL1PSNP, isisL2PSNP, 19})
		body = append([]byte{llcISONS, llcISONS, 0x03, nlpid, 27, 1, 0, pdu}, g.bytes(g.r.IntN(20))...)
	case 1: // spanning tree
		body = append([]byte{llc8021D, llc8021D, 0x03}, g.bytes(35)...)
	case 2: // NetBEUI
		body = append([]byte{llcNetBEUI, llcNetBEUI, 0x03}, g.bytes(g.r.IntN(30))...)
	case 3: // IPX: 802.2, raw 802.3, SNAP
		body = pick(g, [][]byte{{llcIPX, llcIPX, 0x03}, {0xff, 0xff}, {llcSNAP, llcSNAP, 0x03, 0, 0, 0, 0x81, 0x37}})
		body = append(append([]byte(nil), body...), g.bytes(g.r.IntN(30))...)
	case 4: // SNAP AppleTalk and AARP
		body = pick(g, [][]byte{{llcSNAP, llcSNAP, 0x03, 0x08, 0x00, 0x07, 0x80, 0x9b}, {llcSNAP, llcSNAP, 0x03, 0, 0, 0, 0x80, 0xf3}, {llcSNAP, llcSNAP, 0x03, 0, 0, 0, 0x08, 0x00}})
		body = append(append([]byte(nil), body...), g.bytes(g.r.IntN(30))...)
	case 5: // IP over 802.2
		_, p := g.networkBytes()
		body = append([]byte{llcIP, llcIP, 0x03}, p...)
	default:
		body = append([]byte{byte(g.r.IntN(256)), byte(g.r.IntN(256)), 0x03}, g.bytes(g.r.IntN(30))...)
	}
	n := len(body)
	if g.r.IntN(10) == 0 {
		n = pick(g, []int{0, 1500, 1501, 1536})
	}
	f := append(append(append([]byte(nil), dst...), src...), byte(n>>8), byte(n))
	return append(f, body...)
}
