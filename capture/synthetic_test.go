package capture

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var (
	v4src = netip.MustParseAddr("192.0.2.1")
	v4dst = netip.MustParseAddr("198.51.100.2")
	v6src = netip.MustParseAddr("2001:db8::1")
	v6dst = netip.MustParseAddr("2001:db8::2")
	macA  = net.HardwareAddr{0, 1, 2, 3, 4, 5}
	macB  = net.HardwareAddr{6, 7, 8, 9, 10, 11}
	t0    = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return slices.Clone(buf.Bytes())
}

// tcpSeg is the TCP layer every synthetic packet carries.
func tcpSeg() *layers.TCP {
	return &layers.TCP{SrcPort: 43102, DstPort: 80, Seq: 1000, Ack: 2000, PSH: true, ACK: true, Window: 512, DataOffset: 5}
}

var payload = []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")

// ipv4TCP is an IPv4 packet with options carrying a TCP segment.
func ipv4TCP(t testing.TB, opts ...layers.IPv4Option) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4src.AsSlice(), DstIP: v4dst.AsSlice(), Options: opts}
	tl := tcpSeg()
	tl.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip, tl, gopacket.Payload(payload))
}

// ipv6TCP is an IPv6 packet whose TCP segment follows the extension
// headers ext (raw bytes, first next-header value first).
func ipv6TCP(t testing.TB, first layers.IPProtocol, ext []byte) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: v6src.AsSlice(), DstIP: v6dst.AsSlice()}
	tl := tcpSeg()
	tl.SetNetworkLayerForChecksum(ip)
	tcpBytes := serialize(t, tl, gopacket.Payload(payload))
	if ext == nil {
		return serialize(t, ip, gopacket.Payload(tcpBytes))
	}
	ip.NextHeader = first
	return serialize(t, ip, gopacket.Payload(append(slices.Clone(ext), tcpBytes...)))
}

// extHdr is an 8-byte IPv6 extension header (hop-by-hop, destination
// options or routing) with a PadN option.
func extHdr(next layers.IPProtocol) []byte {
	return []byte{byte(next), 0, 1, 4, 0, 0, 0, 0}
}

func ether(t testing.TB, et layers.EthernetType, rest []byte, tags ...*layers.Dot1Q) []byte {
	ls := []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}}
	for _, tag := range tags {
		ls = append(ls, tag)
	}
	return serialize(t, append(ls, gopacket.Payload(rest))...)
}

func sll(proto uint16, rest []byte) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:], 0)   // packet type: to us
	binary.BigEndian.PutUint16(h[2:], 772) // ARPHRD_LOOPBACK
	binary.BigEndian.PutUint16(h[4:], 6)
	copy(h[6:], macA)
	binary.BigEndian.PutUint16(h[14:], proto)
	return append(h, rest...)
}

func sll2(proto uint16, rest []byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], proto)
	binary.BigEndian.PutUint32(h[4:], 1) // interface index
	binary.BigEndian.PutUint16(h[8:], 772)
	h[10] = 0 // packet type
	h[11] = 6
	copy(h[12:], macA)
	return append(h, rest...)
}

// pppHdr is a PPP header for protocol proto (0x0021 IPv4, 0x0057 IPv6),
// with HDLC-like framing's address and control bytes when hdlc is set.
func pppHdr(hdlc bool, proto uint16, rest []byte) []byte {
	var h []byte
	if hdlc {
		h = []byte{0xff, 0x03}
	}
	h = binary.BigEndian.AppendUint16(h, proto)
	return append(h, rest...)
}

// chdlc is a Cisco HDLC header (unicast address, control 0, EtherType).
func chdlc(et uint16, rest []byte) []byte {
	return append(binary.BigEndian.AppendUint16([]byte{0x0f, 0x00}, et), rest...)
}

// pflogHdr is an OpenBSD pflog header: length 61 (PFLOG_REAL_HDRLEN),
// padded to 64 bytes, for address family af, rule 7 passing inbound.
func pflogHdr(af byte, rest []byte) []byte {
	h := make([]byte, 64)
	h[0], h[1], h[2] = 61, af, 0 // length, af, action PF_PASS
	copy(h[4:], "em0")
	binary.BigEndian.PutUint32(h[36:], 7) // rulenr
	h[60] = 1                             // dir PF_IN
	return append(h, rest...)
}

// dot11Data is an 802.11 data frame to the access point (To DS) with an
// LLC/SNAP header for EtherType et.
func dot11Data(et uint16, rest []byte) []byte {
	h := []byte{0x08, 0x01, 0, 0} // frame control: data, To DS; duration
	h = append(h, macB...)        // BSSID
	h = append(h, macA...)        // source
	h = append(h, macB...)        // destination
	h = append(h, 0x10, 0x00)     // sequence control
	h = append(h, 0xaa, 0xaa, 0x03, 0, 0, 0)
	h = binary.BigEndian.AppendUint16(h, et)
	return append(h, rest...)
}

// withFCS appends the 802.11 frame check sequence to frame.
func withFCS(frame []byte) []byte {
	return binary.LittleEndian.AppendUint32(frame, crc32.ChecksumIEEE(frame))
}

// radiotapHdr is a radiotap header with no fields.
func radiotapHdr(rest []byte) []byte { return append([]byte{0, 0, 8, 0, 0, 0, 0, 0}, rest...) }

// prismHdr is a 144-byte Prism monitoring header with its ten items empty.
func prismHdr(rest []byte) []byte {
	h := make([]byte, 144)
	binary.LittleEndian.PutUint32(h[0:], 0x44) // message code
	binary.LittleEndian.PutUint32(h[4:], 144)  // message length
	copy(h[8:], "wlan0")
	for i := 0; i < 10; i++ {
		binary.LittleEndian.PutUint32(h[24+12*i:], 0x1041+uint32(i)<<12)
		binary.LittleEndian.PutUint16(h[24+12*i+6:], 4)
	}
	return append(h, rest...)
}

// fddiLLC is an FDDI LLC frame with an LLC/SNAP header for EtherType et.
func fddiLLC(et uint16, rest []byte) []byte {
	h := []byte{0x50}
	h = append(h, macB...)
	h = append(h, macA...)
	h = append(h, 0xaa, 0xaa, 0x03, 0, 0, 0)
	h = binary.BigEndian.AppendUint16(h, et)
	return append(h, rest...)
}

func nullHdr(order binary.ByteOrder, af uint32, rest []byte) []byte {
	h := make([]byte, 4)
	order.PutUint32(h, af)
	return append(h, rest...)
}

func wantSeg(src, dst netip.Addr) seg {
	return seg{N: 1, Time: t0, Src: netip.AddrPortFrom(src, 43102), Dst: netip.AddrPortFrom(dst, 80),
		Seq: 1000, Ack: 2000, Flags: PSH | ACK, Window: 512, Payload: string(payload), PayloadLen: len(payload)}
}

// onePacket writes a one-packet pcap of link type lt.
func onePacket(t testing.TB, lt layers.LinkType, data []byte) []byte {
	return writePcap(t, []record{{data: data, ci: gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(data), Length: len(data)}, link: lt}}, pcapOpts{})
}

// TestSyntheticLinkTypes decodes one TCP packet per link type and
// encapsulation, written into a pcap file.
func TestSyntheticLinkTypes(t *testing.T) {
	v4 := ipv4TCP(t)
	v6 := ipv6TCP(t, 0, nil)
	w4, w6 := wantSeg(v4src, v4dst), wantSeg(v6src, v6dst)
	cases := []struct {
		name string
		link layers.LinkType
		data []byte
		want seg
		lt   string
		// gopacket does not decode this (DLT 12/14, IPV4/IPV6, BSD
		// address families other than its own, IPv6 atomic fragments).
		noGopacket bool
	}{
		{"ethernet ipv4", layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv4, v4), w4, "EN10MB", false},
		{"ethernet ipv6", layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv6, v6), w6, "EN10MB", false},
		{"ethernet 802.1Q", layers.LinkTypeEthernet, ether(t, layers.EthernetTypeDot1Q, v4,
			&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}), w4, "EN10MB", false},
		{"ethernet QinQ", layers.LinkTypeEthernet, ether(t, layers.EthernetTypeQinQ, v6,
			&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv6}), w6, "EN10MB", false},
		{"ethernet ipv4 options", layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv4,
			ipv4TCP(t, layers.IPv4Option{OptionType: 1}, layers.IPv4Option{OptionType: 1},
				layers.IPv4Option{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}},
				layers.IPv4Option{OptionType: 1})), w4, "EN10MB", false},
		{"ethernet ipv6 hop-by-hop + dest opts", layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv6,
			ipv6TCP(t, layers.IPProtocolIPv6HopByHop, append(extHdr(layers.IPProtocolIPv6Destination), extHdr(layers.IPProtocolTCP)...))), w6, "EN10MB", false},
		{"ipv6 routing + atomic fragment", layers.LinkTypeRaw,
			ipv6TCP(t, layers.IPProtocolIPv6Routing, append(extHdr(layers.IPProtocolIPv6Fragment), byte(layers.IPProtocolTCP), 0, 0, 0, 0, 0, 0, 1)), w6, "RAW", true},
		{"NULL little-endian ipv4", layers.LinkTypeNull, serialize(t, &layers.Loopback{Family: layers.ProtocolFamilyIPv4}, gopacket.Payload(v4)), w4, "NULL", false},
		{"NULL big-endian ipv4", layers.LinkTypeNull, nullHdr(binary.BigEndian, 2, v4), w4, "NULL", true},
		{"NULL little-endian ipv6 (24)", layers.LinkTypeNull, nullHdr(binary.LittleEndian, 24, v6), w6, "NULL", true},
		{"NULL big-endian ipv6 (28)", layers.LinkTypeNull, nullHdr(binary.BigEndian, 28, v6), w6, "NULL", true},
		{"NULL little-endian ipv6 (30)", layers.LinkTypeNull, nullHdr(binary.LittleEndian, 30, v6), w6, "NULL", true},
		{"LOOP ipv4", layers.LinkTypeLoop, nullHdr(binary.BigEndian, 2, v4), w4, "LOOP", true},
		{"LOOP ipv6", layers.LinkTypeLoop, nullHdr(binary.BigEndian, 30, v6), w6, "LOOP", true},
		{"ARCNET Linux, RFC 1051 ipv4", layers.LinkType(129), append([]byte{1, 2, 0, 0, 240}, v4...), w4, "ARCNET_LINUX", true},
		{"ARCNET Linux, RFC 1201 ipv4", layers.LinkType(129), append([]byte{1, 2, 0, 0, 212, 0, 0, 7}, v4...), w4, "ARCNET_LINUX", true},
		{"ARCNET Linux ipv6", layers.LinkType(129), append([]byte{1, 2, 0, 0, 0xc4, 0, 0, 7}, v6...), w6, "ARCNET_LINUX", true},
		{"ARCNET BSD, RFC 1201 ipv4", layers.LinkType(7), append([]byte{1, 2, 212, 0, 0, 7}, v4...), w4, "ARCNET_BSD", true},
		{"ARCNET BSD, RFC 1051 ipv4", layers.LinkType(7), append([]byte{1, 2, 240}, v4...), w4, "ARCNET_BSD", true},
		{"RAW ipv4", layers.LinkTypeRaw, v4, w4, "RAW", false},
		{"RAW ipv6", layers.LinkTypeRaw, v6, w6, "RAW", false},
		{"DLT_RAW 12", layers.LinkType(12), v4, w4, "RAW", true},
		{"DLT_RAW 14", layers.LinkType(14), v6, w6, "RAW", true},
		{"IPV4", layers.LinkTypeIPv4, v4, w4, "IPV4", true},
		{"IPV6", layers.LinkTypeIPv6, v6, w6, "IPV6", true},
		{"LINUX_SLL ipv4", layers.LinkTypeLinuxSLL, sll(0x0800, v4), w4, "LINUX_SLL", false},
		{"LINUX_SLL ipv6", layers.LinkTypeLinuxSLL, sll(0x86dd, v6), w6, "LINUX_SLL", false},
		{"LINUX_SLL2 ipv4", layers.LinkTypeLinuxSLL2, sll2(0x0800, v4), w4, "LINUX_SLL2", false},
		{"LINUX_SLL2 ipv6", layers.LinkTypeLinuxSLL2, sll2(0x86dd, v6), w6, "LINUX_SLL2", false},
		{"PPP ipv4", layers.LinkTypePPP, pppHdr(false, 0x0021, v4), w4, "PPP", false},
		{"PPP HDLC-framed ipv6", layers.LinkTypePPP, pppHdr(true, 0x0057, v6), w6, "PPP", false},
		{"PPP MPLS ipv4", layers.LinkTypePPP, pppHdr(false, 0x0281, mplsStack(t, v4, 100656)), w4, "PPP", true},
		{"IPoIB ipv4", layers.LinkType(242), append(append(make([]byte, 40), 0x08, 0x00, 0, 0), v4...), w4, "IPOIB", true},
		{"IPoIB ipv6", layers.LinkType(242), append(append(make([]byte, 40), 0x86, 0xdd, 0, 0), v6...), w6, "IPOIB", true},
		{"Juniper Ethernet with extensions", layers.LinkType(178), append([]byte{'M', 'G', 'C', 0x80, 0, 3, 1, 1, 6},
			ether(t, layers.EthernetTypeIPv4, v4)...), w4, "JUNIPER_ETHER", true},
		{"Juniper Ethernet without L2", layers.LinkType(178), append([]byte{'M', 'G', 'C', 0x02, 0, 0, 0, 0}, v6...), w6, "JUNIPER_ETHER", true},
		{"PPP_SERIAL ipv4", layers.LinkType(50), pppHdr(true, 0x0021, v4), w4, "PPP_SERIAL", true},
		{"PPP_WITH_DIR ipv4", layers.LinkType(204), append([]byte{1}, pppHdr(true, 0x0021, v4)...), w4, "PPP_WITH_DIR", true},
		{"C_HDLC ipv4", layers.LinkType(104), chdlc(0x0800, v4), w4, "C_HDLC", true},
		{"C_HDLC ipv6", layers.LinkType(104), chdlc(0x86dd, v6), w6, "C_HDLC", true},
		{"PFLOG ipv4", layers.LinkTypePFLog, pflogHdr(2, v4), w4, "PFLOG", false},
		{"PFLOG ipv6 (OpenBSD 24)", layers.LinkTypePFLog, pflogHdr(24, v6), w6, "PFLOG", false},
		{"IEEE802_11 ipv4 with FCS", layers.LinkTypeIEEE802_11, withFCS(dot11Data(0x0800, v4)), w4, "IEEE802_11", false},
		// gopacket's Dot11 takes the last 4 bytes for an FCS whether
		// there is one or not; tshark (and the IP length) do not.
		{"IEEE802_11 ipv4 without FCS", layers.LinkTypeIEEE802_11, dot11Data(0x0800, v4), w4, "IEEE802_11", true},
		{"IEEE802_11_RADIO ipv6", layers.LinkTypeIEEE80211Radio, radiotapHdr(dot11Data(0x86dd, v6)), w6, "IEEE802_11_RADIO", false},
		{"PRISM_HEADER ipv4", layers.LinkTypePrismHeader, prismHdr(withFCS(dot11Data(0x0800, v4))), w4, "PRISM_HEADER", false},
		{"FDDI ipv4", layers.LinkTypeFDDI, fddiLLC(0x0800, v4), w4, "FDDI", false},
	}
	for _, c := range cases {
		r := mustRead(t, c.name, onePacket(t, c.link, c.data))
		if err := diffSegs(r.segs, []seg{c.want}); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !slices.Equal(r.stats.LinkTypes, []string{c.lt}) || len(r.stats.Warnings) != 0 || r.stats.Packets != 1 {
			t.Errorf("%s: stats %+v, want link types [%s], 1 packet, no warnings", c.name, r.stats, c.lt)
		}
		// gopacket must agree where it decodes the encapsulation.
		if !c.noGopacket {
			gs := gopacketSegs([]record{{data: c.data, ci: gopacket.CaptureInfo{Timestamp: t0}, link: c.link}})
			if err := diffSegs(r.segs, gs); err != nil {
				t.Errorf("%s: ours vs gopacket: %v", c.name, err)
			}
		}
	}
}

// TestDecodeCases covers the decoder's verdicts on odd packets.
func TestDecodeCases(t *testing.T) {
	v4 := ipv4TCP(t)
	eth := ether(t, layers.EthernetTypeIPv4, v4)
	// A bare ACK, padded to Ethernet's 60-byte minimum.
	ackIP := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4src.AsSlice(), DstIP: v4dst.AsSlice()}
	ack := tcpSeg()
	ack.PSH = false
	ack.SetNetworkLayerForChecksum(ackIP)
	padded := append(ether(t, layers.EthernetTypeIPv4, serialize(t, ackIP, ack)), 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa)
	tso := slices.Clone(eth)
	binary.BigEndian.PutUint16(tso[14+2:], 0)
	udp := func() []byte {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: v4src.AsSlice(), DstIP: v4dst.AsSlice()}
		u := &layers.UDP{SrcPort: 53, DstPort: 53}
		u.SetNetworkLayerForChecksum(ip)
		return serialize(t, ip, u, gopacket.Payload("dns"))
	}()
	arp := serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: macA, SourceProtAddress: v4src.AsSlice(), DstHwAddress: macB, DstProtAddress: v4dst.AsSlice()})
	icmp6 := serialize(t, &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: v6src.AsSlice(), DstIP: v6dst.AsSlice()},
		gopacket.Payload([]byte{128, 0, 0, 0, 0, 1, 0, 1}))
	patch := func(b []byte, off int, v ...byte) []byte {
		b = slices.Clone(b)
		copy(b[off:], v)
		return b
	}
	frag6 := func(next layers.IPProtocol, offM uint16) []byte {
		f := []byte{byte(next), 0, byte(offM >> 8), byte(offM), 0, 0, 0, 9}
		return ipv6TCP(t, layers.IPProtocolIPv6Fragment, f)
	}
	cases := []struct {
		name     string
		link     uint32
		data     []byte
		wireLen  int // 0: len(data)
		res      int
		payload  string
		plen     int
		msgMatch string
	}{
		{name: "ethernet padding ignored", link: 1, data: padded, res: resTCP, payload: "", plen: 0},
		{name: "IPv4 total length 0 (TSO)", link: 1, data: tso, res: resTCP, payload: string(payload), plen: len(payload)},
		{name: "snaplen cut in payload", link: 1, data: eth[:60], wireLen: len(eth), res: resTCP, payload: string(payload[:6]), plen: len(payload)},
		{name: "snaplen cut in TCP header", link: 1, data: eth[:40], wireLen: len(eth), res: resCut, msgMatch: "TCP header cut by the snaplen (6 of 20"},
		{name: "snaplen cut in Ethernet header", link: 1, data: eth[:10], wireLen: len(eth), res: resCut},
		{name: "short frame, not cut", link: 1, data: eth[:40], res: resBad, msgMatch: "too short for the TCP header"},
		{name: "IP length beyond frame", link: 1, data: eth[:60], res: resTCP, payload: string(payload[:6]), plen: len(payload)},
		{name: "UDP", link: 101, data: udp, res: resNonTCP},
		{name: "ARP", link: 1, data: arp, res: resNonTCP},
		{name: "ICMPv6", link: 229, data: icmp6, res: resNonTCP},
		{name: "802.3 length field", link: 1, data: patch(eth, 12, 0x00, 0x40), res: resNonTCP},
		{name: "NULL other family", link: 0, data: nullHdr(binary.LittleEndian, 7, v4), res: resNonTCP},
		{name: "bad IP version", link: 1, data: patch(eth, 14, 0x75), res: resBad, msgMatch: "bad IP version 7"},
		{name: "RAW bad IP version", link: 101, data: patch(v4, 0, 0x15), res: resBad, msgMatch: "bad IP version 1"},
		{name: "IHL 3", link: 101, data: patch(v4, 0, 0x43), res: resBad, msgMatch: "IPv4 header length 12 < 20"},
		{name: "IHL 15 beyond packet", link: 228, data: patch(v4, 0, 0x4f)[:40], res: resBad, msgMatch: "too short for the IPv4 header (40 of 60"},
		{name: "total length < IHL", link: 101, data: patch(v4, 2, 0, 10), res: resBad, msgMatch: "total length 10"},
		{name: "TCP data offset 3", link: 101, data: patch(v4, 20+12, 0x30), res: resBad, msgMatch: "TCP header length 12 < 20"},
		{name: "TCP data offset beyond segment", link: 101, data: patch(patch(v4, 2, 0, 40), 32, 0x80), res: resBad, msgMatch: "TCP header length 32 > segment length 20"},
		{name: "TCP segment < 20", link: 101, data: patch(v4, 2, 0, 30), res: resBad, msgMatch: "TCP segment length 10"},
		{name: "IPv4 first fragment (MF)", link: 101, data: patch(v4, 6, 0x20, 0), res: resFragment},
		{name: "IPv4 later fragment", link: 101, data: patch(v4, 6, 0, 0x10), res: resFragment},
		{name: "IPv4 UDP fragment", link: 101, data: patch(udp, 6, 0x20, 0), res: resFragment},
		{name: "IPv4 ICMP fragment", link: 101, data: patch(patch(udp, 9, 1), 6, 0x20, 0), res: resNonTCP},
		{name: "IPv6 fragment with M, odd length", link: 229, data: frag6(layers.IPProtocolTCP, 1), res: resBad, msgMatch: "47 bytes, not a multiple of 8, is not the last"},
		{name: "IPv6 later fragment", link: 229, data: frag6(layers.IPProtocolTCP, 8<<3), res: resFragment},
		{name: "IPv6 UDP fragment", link: 229, data: frag6(layers.IPProtocolUDP, 8<<3), res: resFragment},
		{name: "IPv6 ICMPv6 fragment", link: 229, data: frag6(layers.IPProtocolICMPv6, 1), res: resNonTCP},
		{name: "IPv6 ext header beyond packet", link: 229, data: ipv6TCP(t, layers.IPProtocolIPv6HopByHop, []byte{6, 200, 0, 0, 0, 0, 0, 0}), res: resBad},
		{name: "IPv6 ext header cut by snaplen", link: 229, data: ipv6TCP(t, layers.IPProtocolIPv6HopByHop, extHdr(6))[:44], wireLen: 100, res: resCut},
		{name: "VLAN tag cut", link: 1, data: ether(t, layers.EthernetTypeDot1Q, v4, &layers.Dot1Q{Type: layers.EthernetTypeIPv4})[:16], wireLen: 100, res: resCut},
		{name: "too many VLAN tags", link: 1, data: bytes.Repeat([]byte{0x81, 0}, 40), res: resBad},
		{name: "unknown link type", link: 147, data: eth, res: resLinkType},
		{name: "empty RAW", link: 101, data: nil, res: resBad},
		{name: "empty SLL2", link: 276, data: nil, wireLen: 60, res: resCut},
	}
	for _, c := range cases {
		var s Segment
		wl := c.wireLen
		if wl == 0 {
			wl = len(c.data)
		}
		var d decoder
		res, p := d.packet(c.link, c.data, wl, t0, &s)
		if res != c.res {
			t.Errorf("%s: decode = %d (%s), want %d", c.name, res, p, c.res)
			continue
		}
		if res == resTCP && (string(s.Payload) != c.payload || s.PayloadLen != c.plen) {
			t.Errorf("%s: payload %q (len %d), want %q (len %d)", c.name, s.Payload, s.PayloadLen, c.payload, c.plen)
		}
		if c.msgMatch != "" && !strings.Contains(p.String(), c.msgMatch) {
			t.Errorf("%s: problem %q, want it to contain %q", c.name, p, c.msgMatch)
		}
		if res != resTCP && res != resNonTCP && res != resLinkType && res != resFragment && p.String() == "" {
			t.Errorf("%s: no problem text for result %d", c.name, res)
		}
	}
}

// TestSkippedCounts reads a file mixing TCP, non-TCP, fragments and an
// unsupported link type in a multi-interface pcapng.
func TestSkippedCounts(t *testing.T) {
	v4 := ipv4TCP(t)
	frag := slices.Clone(v4)
	frag[6] = 0x20
	udpIP := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: v4src.AsSlice(), DstIP: v4dst.AsSlice()}
	udpL := &layers.UDP{SrcPort: 1, DstPort: 2}
	udpL.SetNetworkLayerForChecksum(udpIP)
	udp := serialize(t, udpIP, udpL)
	mk := func(lt layers.LinkType, d []byte, i int) record {
		return record{data: d, ci: gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(d), Length: len(d)}, link: lt}
	}
	recs := []record{
		mk(layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv4, v4), 0),
		mk(layers.LinkTypeLinuxSLL2, sll2(0x0800, v4), 1),
		mk(layers.LinkTypeRaw, udp, 2),
		mk(layers.LinkTypeRaw, frag, 3),
		mk(layers.LinkTypeRaw, frag, 4),
		mk(layers.LinkType(147), v4, 5), // DLT_USER0: not supported
		mk(layers.LinkType(147), v4, 6),
		mk(layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv4, v4), 7),
	}
	r := mustRead(t, "mixed.pcapng", writePcapng(t, recs))
	st := r.stats
	wantLinks := []string{"EN10MB", "LINUX_SLL2", "RAW", "LINKTYPE_147"}
	if !slices.Equal(st.LinkTypes, wantLinks) {
		t.Errorf("mixed.pcapng: LinkTypes %v, want %v", st.LinkTypes, wantLinks)
	}
	// The two copies of a first fragment are held (the second repeats the
	// first) for a datagram that never completes.
	if want := (Skipped{NonTCP: 1, Undecodable: 2, Fragments: 2}); st.Packets != 8 || st.TCPPackets != 3 || st.Skipped != want {
		t.Errorf("mixed.pcapng: packets %d, tcp %d, skipped %+v; want 8, 3, %+v", st.Packets, st.TCPPackets, st.Skipped, want)
	}
	var ns []uint64
	for _, s := range r.segs {
		ns = append(ns, s.N)
	}
	if !slices.Equal(ns, []uint64{1, 2, 8}) {
		t.Errorf("mixed.pcapng: segment numbers %v, want [1 2 8]", ns)
	}
	wantWarn := []string{"packet 6: link type LINKTYPE_147 (147) is not supported", "IP reassembly: 1 datagrams (2 fragments) still incomplete"}
	if len(st.Warnings) != len(wantWarn) {
		t.Fatalf("mixed.pcapng: warnings %q, want one per kind: %q", st.Warnings, wantWarn)
	}
	for i, w := range wantWarn {
		if !strings.HasPrefix(st.Warnings[i], w) {
			t.Errorf("mixed.pcapng: warning %d = %q, want prefix %q", i, st.Warnings[i], w)
		}
	}
	if !st.LastPacketAt.Equal(t0.Add(7*time.Millisecond)) || !st.FirstPacketAt.Equal(t0) {
		t.Errorf("mixed.pcapng: times %v..%v", st.FirstPacketAt, st.LastPacketAt)
	}
}

// TestPcapngTwoInterfaces keeps the packets of both interfaces of a pcapng
// file with two link types (pcapgo drops them without WantMixedLinkType).
func TestPcapngTwoInterfaces(t *testing.T) {
	v4, v6 := ipv4TCP(t), ipv6TCP(t, 0, nil)
	var recs []record
	for i := range 6 {
		lt, d := layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv4, v4)
		if i%2 == 1 {
			lt, d = layers.LinkTypeLinuxSLL, sll(0x86dd, v6)
		}
		recs = append(recs, record{data: d, ci: gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Second), CaptureLength: len(d), Length: len(d)}, link: lt})
	}
	data := writePcapng(t, recs)
	if ng, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions); err == nil {
		n := 0
		for {
			if _, _, err := ng.ReadPacketData(); err != nil {
				break
			}
			n++
		}
		t.Logf("pcapgo without WantMixedLinkType reads %d of 6 packets", n)
	}
	r := mustRead(t, "two-ifaces.pcapng", data)
	if len(r.segs) != 6 || !slices.Equal(r.stats.LinkTypes, []string{"EN10MB", "LINUX_SLL"}) {
		t.Fatalf("two-ifaces.pcapng: %d segments, link types %v; want 6, [EN10MB LINUX_SLL]", len(r.segs), r.stats.LinkTypes)
	}
	for i, s := range r.segs {
		want := wantSeg(v4src, v4dst)
		if i%2 == 1 {
			want = wantSeg(v6src, v6dst)
		}
		want.N, want.Time = uint64(i+1), t0.Add(time.Duration(i)*time.Second)
		if err := diffSegs([]seg{s}, []seg{want}); err != nil {
			t.Errorf("two-ifaces.pcapng: %v", err)
		}
	}
}

// TestRelinkedCorpus rewrites every corpus capture (Ethernet frames) into
// each link type that only the slow path decodes, one frame for one: the
// same segments must come out, numbered alike, whatever carried them.
func TestRelinkedCorpus(t *testing.T) {
	pppProto := func(et uint16) uint16 {
		switch et {
		case 0x0800:
			return 0x0021
		case 0x86dd:
			return 0x0057
		}
		return 0xc021 // LCP: not IP
	}
	af := func(et uint16, v6 byte) byte {
		switch et {
		case 0x0800:
			return 2
		case 0x86dd:
			return v6
		}
		return 0
	}
	links := []struct {
		name string
		link layers.LinkType
		wrap func(et uint16, p []byte) []byte
	}{
		{"PPP", layers.LinkTypePPP, func(et uint16, p []byte) []byte { return pppHdr(false, pppProto(et), p) }},
		{"PPP_SERIAL", layers.LinkType(50), func(et uint16, p []byte) []byte { return pppHdr(true, pppProto(et), p) }},
		{"PPP_WITH_DIR", layers.LinkType(204), func(et uint16, p []byte) []byte { return append([]byte{0}, pppHdr(true, pppProto(et), p)...) }},
		{"C_HDLC", layers.LinkType(104), chdlc},
		{"PFLOG", layers.LinkTypePFLog, func(et uint16, p []byte) []byte { return pflogHdr(af(et, 28), p) }},
		{"IEEE802_11", layers.LinkTypeIEEE802_11, func(et uint16, p []byte) []byte { return withFCS(dot11Data(et, p)) }},
		{"IEEE802_11_RADIO", layers.LinkTypeIEEE80211Radio, func(et uint16, p []byte) []byte { return radiotapHdr(dot11Data(et, p)) }},
		{"PRISM_HEADER", layers.LinkTypePrismHeader, func(et uint16, p []byte) []byte { return prismHdr(dot11Data(et, p)) }},
		{"FDDI", layers.LinkTypeFDDI, fddiLLC},
	}
	files, err := filepath.Glob("../samples/*.pcap")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in ../samples: %v", err)
	}
	if _, err := os.Stat(corpusDir); err == nil {
		files = append(files, corpusFiles(t)...)
	}
	n := 0
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		recs := records(t, data)
		if len(recs) == 0 || recs[0].link != layers.LinkTypeEthernet {
			continue
		}
		n++
		want := mustRead(t, path, data)
		for _, l := range links {
			out := make([]record, 0, len(recs))
			for _, r := range recs {
				if len(r.data) < 14 {
					t.Fatalf("%s: a frame of %d bytes", path, len(r.data))
				}
				b := l.wrap(binary.BigEndian.Uint16(r.data[12:]), r.data[14:])
				ci := r.ci
				ci.Length += len(b) - len(r.data)
				ci.CaptureLength = len(b)
				out = append(out, record{data: b, ci: ci, link: l.link})
			}
			name := filepath.Base(path) + "→" + l.name
			got := mustRead(t, name, writePcap(t, out, pcapOpts{nanos: true}))
			if err := diffSegs(got.segs, want.segs); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if st := got.stats; !slices.Equal(st.LinkTypes, []string{l.name}) || st.Packets != want.stats.Packets || len(st.Warnings) != 0 {
				t.Errorf("%s: link types %q, %d packets, warnings %q; want [%s], %d, none", name, st.LinkTypes, st.Packets, st.Warnings, l.name, want.stats.Packets)
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d Ethernet captures among %d files", n, len(files))
	}
	t.Logf("%d captures, each in %d link types", n, len(links))
}
