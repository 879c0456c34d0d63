package bpf

import (
	"encoding/binary"
	"math/rand/v2"
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Test packets: built with gopacket's layers as Ethernet frames, and
// converted to the other link types (Linux cooked v1/v2, raw IP) by
// replacing the 14-byte Ethernet header.

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

var (
	macA = mac("02:00:00:00:00:01")
	macB = mac("02:00:00:00:00:02")
)

// vlanTag is one 802.1Q tag: its TPID and VLAN id.
type vlanTag struct {
	tpid layers.EthernetType
	vid  uint16
}

// ether wraps network-layer layers in an Ethernet header and optional VLAN
// tags; etherType is the type of what follows the last tag.
func ether(src, dst net.HardwareAddr, tags []vlanTag, etherType layers.EthernetType, payload ...gopacket.SerializableLayer) []byte {
	ls := []gopacket.SerializableLayer{}
	first := etherType
	if len(tags) > 0 {
		first = tags[0].tpid
	}
	ls = append(ls, &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: first})
	for i, t := range tags {
		next := etherType
		if i+1 < len(tags) {
			next = tags[i+1].tpid
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: t.vid, Priority: 3, Type: next})
	}
	return serialize(append(ls, payload...)...)
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4(), Id: 7}
}

func ip6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

func tcp(sport, dport uint16, flags byte, nl gopacket.NetworkLayer) *layers.TCP {
	t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1, Window: 512,
		FIN: flags&0x01 != 0, SYN: flags&0x02 != 0, RST: flags&0x04 != 0, PSH: flags&0x08 != 0,
		ACK: flags&0x10 != 0, URG: flags&0x20 != 0, ECE: flags&0x40 != 0, CWR: flags&0x80 != 0}
	if err := t.SetNetworkLayerForChecksum(nl); err != nil {
		panic(err)
	}
	return t
}

func udp(sport, dport uint16, nl gopacket.NetworkLayer) *layers.UDP {
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := u.SetNetworkLayerForChecksum(nl); err != nil {
		panic(err)
	}
	return u
}

func arp(op uint16, senderIP, targetIP string) *layers.ARP {
	return &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
		SourceHwAddress: macA, SourceProtAddress: net.ParseIP(senderIP).To4(),
		DstHwAddress: make([]byte, 6), DstProtAddress: net.ParseIP(targetIP).To4()}
}

// nops returns n bytes of IPv4 "no operation" options.
func nops(n int) []layers.IPv4Option {
	o := make([]layers.IPv4Option, n)
	for i := range o {
		o[i].OptionType = 1
	}
	return o
}

// toLink converts an Ethernet frame to the same packet on another link
// type. The cooked headers carry the Ethernet type; raw IP drops the link
// header altogether.
func toLink(frame []byte, lt LinkType, pktType uint8) []byte {
	if len(frame) < 14 {
		// Too short to convert faithfully: keep it short and broken.
		return append([]byte(nil), frame...)
	}
	payload := frame[14:]
	var h []byte
	switch lt {
	case Ethernet:
		return append([]byte(nil), frame...)
	case Raw, IPv4, IPv6:
		return append([]byte(nil), payload...)
	case Null, Loop:
		h = make([]byte, 4)
		af := loopbackAF(binary.BigEndian.Uint16(frame[12:]), pktType)
		if lt == Null {
			binary.LittleEndian.PutUint32(h, af) // the capturing machine's order (the test's files are little-endian)
		} else {
			binary.BigEndian.PutUint32(h, af)
		}
	case LinuxSLL:
		h = make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], uint16(pktType))
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], frame[6:12])
		binary.BigEndian.PutUint16(h[14:], sllProtocol(frame))
	case LinuxSLL2:
		h = make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], sllProtocol(frame))
		binary.BigEndian.PutUint32(h[4:], 2) // interface index
		binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
		h[10] = pktType
		h[11] = 6
		copy(h[12:], frame[6:12])
	default:
		panic("unknown link type")
	}
	return append(h, payload...)
}

// sllProtocol is the protocol field of a Linux cooked header for an
// Ethernet frame: its type, or for 802.3 frames LINUX_SLL_P_802_3 (raw
// IPX) or LINUX_SLL_P_802_2.
func sllProtocol(frame []byte) uint16 {
	et := binary.BigEndian.Uint16(frame[12:])
	switch {
	case et > etherMTU:
		return et
	case len(frame) >= 16 && frame[14] == 0xff && frame[15] == 0xff:
		return sllP8023
	}
	return sllP8022
}

// loopbackAF is the BSD address family for an Ethernet type: IPv4 is 2,
// IPv6 one of the BSDs' values (or Linux's 10, which no BSD uses), others
// something else.
func loopbackAF(et uint16, choice uint8) uint32 {
	switch et {
	case ethIPv4:
		return afINET
	case ethIPv6:
		return []uint32{afINET6BSD, afINET6FreeBSD, afINET6Darwin, 10, afINET6BSD}[choice%5]
	}
	return []uint32{7, 0, 1, 23, 0x1000002}[choice%5]
}

// toNullBE converts an Ethernet frame to DLT_NULL as a big-endian machine
// captures it.
func toNullBE(frame []byte, choice uint8) []byte {
	if len(frame) < 14 {
		return append([]byte(nil), frame...)
	}
	h := binary.BigEndian.AppendUint32(nil, loopbackAF(binary.BigEndian.Uint16(frame[12:]), choice))
	return append(h, frame[14:]...)
}

// Random packets for the differential test: every layer combination the
// compiler knows about, with addresses and ports from small pools so that
// the filters match often, plus truncated, corrupted and random packets.

var (
	poolIP4 = []string{"10.0.0.1", "10.0.0.2", "192.168.1.10", "127.0.0.1", "1.2.3.4", "10.1.2.3", "192.168.0.255", "0.0.0.10", "192.168.5.1",
		"255.255.255.255", "0.0.0.0", "224.0.0.1", "239.255.255.250", "127.0.0.0"}
	poolIP6 = []string{"::1", "fe80::1", "2001:db8::1", "2001:db8::2", "2001:db8:1::5", "ff02::1", "::ffff:10.0.0.1", "2001:db9::1", "ff05::2"}
	poolMAC = []net.HardwareAddr{mac("00:00:00:00:00:00"), macA, macB, mac("ff:ff:ff:ff:ff:ff"), mac("01:00:5e:00:00:01"),
		mac("33:33:00:00:00:01"), mac("ff:ff:ff:ff:ff:fe")}
	poolPort = []uint16{80, 8080, 443, 53, 22, 8000, 8005, 8010, 8081, 9000, 0, 65535, 7, 9, 67, 6081, 123}
	poolVID  = []uint16{0, 100, 200, 4095, 5}
	poolTPID = []layers.EthernetType{0x8100, 0x88a8, 0x9100}
)

type packetGen struct{ r *rand.Rand }

func pick[T any](g *packetGen, s []T) T { return s[g.r.IntN(len(s))] }

func (g *packetGen) port() uint16 {
	if g.r.IntN(5) == 0 {
		return uint16(g.r.IntN(65536))
	}
	return pick(g, poolPort)
}

func (g *packetGen) payload() gopacket.Payload {
	switch g.r.IntN(4) {
	case 0:
		return gopacket.Payload("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	case 1:
		return gopacket.Payload("HTTP/1.1 200 OK\r\n\r\n")
	case 2:
		return nil
	}
	b := make([]byte, g.r.IntN(64))
	for i := range b {
		b[i] = byte(g.r.IntN(256))
	}
	return b
}

func (g *packetGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.IntN(256))
	}
	return b
}

// transport4 returns an IPv4 packet's layers.
func (g *packetGen) network4() (layers.EthernetType, []gopacket.SerializableLayer) {
	protos := []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolICMPv4, layers.IPProtocolSCTP, layers.IPProtocolIGMP, 47, layers.IPProtocol(g.r.IntN(256)),
		layers.IPProtocolTCP, layers.IPProtocolUDP, 50, 51, 103, 112, 9}
	ip := ip4(pick(g, poolIP4), pick(g, poolIP4), pick(g, protos))
	if g.r.IntN(3) == 0 {
		ip.Options = nops(4 * (1 + g.r.IntN(10)))
	}
	if g.r.IntN(6) == 0 {
		ip.Flags = layers.IPv4MoreFragments
	}
	if g.r.IntN(6) == 0 {
		ip.FragOffset = uint16(g.r.IntN(0x2000))
	}
	if g.r.IntN(10) == 0 {
		ip.Flags |= layers.IPv4DontFragment
	}
	ls := []gopacket.SerializableLayer{ip}
	switch ip.Protocol {
	case layers.IPProtocolTCP:
		ls = append(ls, tcp(g.port(), g.port(), byte(g.r.IntN(256)), ip), g.payload())
	case layers.IPProtocolUDP:
		ls = append(ls, udp(g.port(), g.port(), ip), g.payload())
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(pick(g, []uint8{0, 3, 8, 11, 5, uint8(g.r.IntN(256))}), 0)}, g.payload())
	case layers.IPProtocolSCTP:
		ls = append(ls, &layers.SCTP{SrcPort: layers.SCTPPort(g.port()), DstPort: layers.SCTPPort(g.port())}, g.payload())
	default:
		ls = append(ls, gopacket.Payload(g.bytes(g.r.IntN(40))))
	}
	return layers.EthernetTypeIPv4, ls
}

func (g *packetGen) network6() (layers.EthernetType, []gopacket.SerializableLayer) {
	protos := []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolICMPv6, layers.IPProtocolSCTP, layers.IPProtocolIPv6Fragment, layers.IPProtocolIPv6Fragment, layers.IPProtocol(g.r.IntN(256)),
		layers.IPProtocolUDP, 50, 51, 103, 89}
	ip := ip6(pick(g, poolIP6), pick(g, poolIP6), pick(g, protos))
	ls := []gopacket.SerializableLayer{ip}
	next := ip.NextHeader
	if next == layers.IPProtocolIPv6Fragment {
		next = pick(g, []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolICMPv6, 0})
		ls = append(ls, &layers.IPv6Fragment{NextHeader: next, FragmentOffset: uint16(g.r.IntN(2) * g.r.IntN(100)), MoreFragments: g.r.IntN(2) == 0, Identification: 9})
	}
	switch next {
	case layers.IPProtocolTCP:
		ls = append(ls, tcp(g.port(), g.port(), byte(g.r.IntN(256)), ip), g.payload())
	case layers.IPProtocolUDP:
		ls = append(ls, udp(g.port(), g.port(), ip), g.payload())
	case layers.IPProtocolICMPv6:
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(pick(g, []uint8{128, 129, 135, 136, 1, uint8(g.r.IntN(256))}), 0)}
		if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
			panic(err)
		}
		ls = append(ls, icmp, g.payload())
	case layers.IPProtocolSCTP:
		ls = append(ls, &layers.SCTP{SrcPort: layers.SCTPPort(g.port()), DstPort: layers.SCTPPort(g.port())}, g.payload())
	default:
		ls = append(ls, gopacket.Payload(g.bytes(g.r.IntN(48))))
	}
	return layers.EthernetTypeIPv6, ls
}

// frame returns a random Ethernet frame.
func (g *packetGen) frame() []byte {
	if g.r.IntN(50) == 0 {
		return g.bytes(g.r.IntN(100))
	}
	if g.r.IntN(4) == 0 {
		return g.encapFrame()
	}
	var tags []vlanTag
	switch n := g.r.IntN(20); {
	case n < 4:
		tags = []vlanTag{{pick(g, poolTPID), pick(g, poolVID)}}
	case n < 5:
		tags = []vlanTag{{pick(g, poolTPID), pick(g, poolVID)}, {pick(g, poolTPID), pick(g, poolVID)}}
	}
	var et layers.EthernetType
	var ls []gopacket.SerializableLayer
	switch n := g.r.IntN(20); {
	case n < 9:
		et, ls = g.network4()
	case n < 16:
		et, ls = g.network6()
	case n < 18:
		et = pick(g, []layers.EthernetType{layers.EthernetTypeARP, 0x8035})
		ls = []gopacket.SerializableLayer{arp(uint16(1+g.r.IntN(2)), pick(g, poolIP4), pick(g, poolIP4))}
	default:
		et = pick(g, []layers.EthernetType{0x88cc, 0x0800, 0x86dd, 0x0806, 0x8100, 0x05dc, layers.EthernetType(g.r.IntN(65536))})
		ls = []gopacket.SerializableLayer{gopacket.Payload(g.bytes(g.r.IntN(80)))}
	}
	f := ether(pick(g, poolMAC), pick(g, poolMAC), tags, et, ls...)
	switch n := g.r.IntN(100); {
	case n < 12:
		f = f[:g.r.IntN(len(f))]
	case n < 15:
		f[g.r.IntN(len(f))] = byte(g.r.IntN(256))
	}
	return f
}
