package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// Link types (LINKTYPE_ values as stored in pcap and pcapng files).
const (
	linkNull      = 0
	linkEthernet  = 1
	linkRawBSD    = 12 // DLT_RAW on most BSDs and Linux
	linkRawOpen   = 14 // DLT_RAW on OpenBSD
	linkRaw       = 101
	linkLoop      = 108
	linkLinuxSLL  = 113
	linkIPv4      = 228
	linkIPv6      = 229
	linkNFLOG     = 239
	linkPKTAP     = 258 // Apple's: what macOS's tcpdump -i any writes
	linkLinuxSLL2 = 276

	// Decoded by the slow path only (decap.go).
	linkARCNET       = 7 // ARCNET, BSD header
	linkPPP          = 9
	linkFDDI         = 10
	linkPPPSerial    = 50 // PPP in HDLC-like framing (RFC 1662)
	linkCHDLC        = 104
	linkIEEE80211    = 105
	linkPFLOG        = 117
	linkPrism        = 119
	linkRadiotap     = 127
	linkPPPWithDir   = 204
	linkARCNETLinux  = 129 // ARCNET, Linux header
	linkJuniperEther = 178
	linkIPOIB        = 242 // IP over InfiniBand
)

// LinkTypeName returns the libpcap name of a link type ("EN10MB",
// "LINUX_SLL2", ...), or "LINKTYPE_n" for one this package does not decode.
func LinkTypeName(lt uint32) string {
	switch lt {
	case linkNull:
		return "NULL"
	case linkEthernet:
		return "EN10MB"
	case linkRaw, linkRawBSD, linkRawOpen:
		return "RAW"
	case linkLoop:
		return "LOOP"
	case linkLinuxSLL:
		return "LINUX_SLL"
	case linkIPv4:
		return "IPV4"
	case linkIPv6:
		return "IPV6"
	case linkLinuxSLL2:
		return "LINUX_SLL2"
	case linkNFLOG:
		return "NFLOG"
	case linkPKTAP:
		return "PKTAP"
	case linkPPP:
		return "PPP"
	case linkFDDI:
		return "FDDI"
	case linkPPPSerial:
		return "PPP_SERIAL"
	case linkCHDLC:
		return "C_HDLC"
	case linkIEEE80211:
		return "IEEE802_11"
	case linkPFLOG:
		return "PFLOG"
	case linkPrism:
		return "PRISM_HEADER"
	case linkRadiotap:
		return "IEEE802_11_RADIO"
	case linkPPPWithDir:
		return "PPP_WITH_DIR"
	case linkARCNET:
		return "ARCNET_BSD"
	case linkARCNETLinux:
		return "ARCNET_LINUX"
	case linkJuniperEther:
		return "JUNIPER_ETHER"
	case linkIPOIB:
		return "IPOIB"
	}
	return fmt.Sprintf("LINKTYPE_%d", lt)
}

// Results of decode.
const (
	resTCP      = iota // a TCP segment was decoded into the Segment
	resNonTCP          // not TCP (ARP, UDP, ICMP, ...): skipped silently
	resCut             // headers cut by the capture's snaplen
	resBad             // undecodable: malformed headers
	resFragment        // an IP fragment held for reassembly (Skipped.Fragments)
	resLinkType        // link type not supported
	resSlow            // the fast path does not know a header: decap decodes it
	resFragDrop        // an IP fragment dropped: reassembly limit (warned once)
)

// problem describes why a packet could not be decoded. It is formatted only
// when a warning is actually recorded.
type problem struct {
	format string
	args   []any
}

func (p *problem) String() string {
	if p == nil || p.format == "" {
		return ""
	}
	return fmt.Sprintf(p.format, p.args...)
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// short returns the result for a header that does not fit in the captured
// bytes: cut by the snaplen when the record is shorter than the packet on
// the wire, malformed otherwise.
func short(cut bool, what string, have, need int) (int, *problem) {
	if cut {
		return resCut, &problem{"%s header cut by the snaplen (%d of %d bytes captured)", []any{what, have, need}}
	}
	return resBad, &problem{"packet too short for the %s header (%d of %d bytes)", []any{what, have, need}}
}

// decoder decodes packets: the fast path in this file for the common
// headers (link layers, VLAN tags, IPv4, IPv6, TCP, VXLAN), the slow path
// (decapper, built on gopacket) for everything else that can carry TCP.
// The zero value is ready to use. A decoder is not safe for concurrent use.
type decoder struct {
	car  carrierBuf
	slow *decapper // made on first use
	n    uint64    // the number of the packet being decoded (for the reassembler's warnings)
	// detached is set when the last segment's payload lies in a buffer
	// of the decoder (a reassembled datagram), not in the packet.
	detached bool
}

// packet decodes one link-layer frame of link type link captured at ts
// into seg (all fields but N and Time): by the fast path, or the slow path
// when the fast path does not know a header. wireLen is the packet's
// length on the wire as the record header announces it; len(data) <
// wireLen means the snaplen cut the packet. seg.Payload aliases data
// unless d.detached.
func (d *decoder) packet(link uint32, data []byte, wireLen int, ts time.Time, seg *Segment) (int, *problem) {
	if res, p := d.decode(link, data, wireLen, seg); res != resSlow {
		d.detached = false
		return res, p
	}
	return d.slowPacket(link, data, wireLen, ts, seg)
}

// slowPacket runs the slow path.
func (d *decoder) slowPacket(link uint32, data []byte, wireLen int, ts time.Time, seg *Segment) (int, *problem) {
	d.detached = false
	if d.slow == nil {
		d.slow = newDecapper(d)
	}
	return d.slow.packet(link, data, wireLen, ts, seg)
}

// decode is the fast path: it decodes a frame made of the headers it
// knows, and returns resSlow (having changed nothing the slow path needs)
// at the first one it does not. seg.Payload aliases data.
func (d *decoder) decode(link uint32, data []byte, wireLen int, seg *Segment) (int, *problem) {
	res, p := d.fast(link, data, wireLen, seg)
	if res == resTCP {
		d.car.done(seg)
	}
	return res, p
}

// fast is decode without setting seg.Carrier and seg.CarrierKey: call
// d.car.done(seg) after it returns resTCP.
func (d *decoder) fast(link uint32, data []byte, wireLen int, seg *Segment) (int, *problem) {
	d.car.n = counts{}
	cut := len(data) < wireLen
	switch link {
	case linkEthernet:
		if len(data) < 14 {
			return short(cut, "Ethernet", len(data), 14)
		}
		return d.ether(be16(data[12:]), data, 14, cut, seg)
	case linkLinuxSLL:
		if len(data) < 16 {
			return short(cut, "Linux cooked (SLL)", len(data), 16)
		}
		return d.ether(be16(data[14:]), data, 16, cut, seg)
	case linkLinuxSLL2:
		if len(data) < 20 {
			return short(cut, "Linux cooked v2 (SLL2)", len(data), 20)
		}
		return d.ether(be16(data[0:]), data, 20, cut, seg)
	case linkNull, linkLoop:
		if len(data) < 4 {
			return short(cut, "loopback", len(data), 4)
		}
		// The address family is in the capturing host's byte order for
		// NULL and in network byte order for LOOP; accept both for both.
		af := binary.LittleEndian.Uint32(data)
		if af > 0xffff {
			af = be32(data)
		}
		switch af {
		case 2:
			return d.ipv4(data[4:], cut, seg)
		case 24, 28, 30: // AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
			return d.ipv6(data[4:], cut, seg)
		}
		return resNonTCP, nil
	case linkRaw, linkRawBSD, linkRawOpen:
		if len(data) < 1 {
			return short(cut, "IP", 0, 1)
		}
		switch data[0] >> 4 {
		case 4:
			return d.ipv4(data, cut, seg)
		case 6:
			return d.ipv6(data, cut, seg)
		}
		return resBad, &problem{"bad IP version %d", []any{data[0] >> 4}}
	case linkIPv4:
		return d.ipv4(data, cut, seg)
	case linkIPv6:
		return d.ipv6(data, cut, seg)
	case linkPKTAP:
		inner, rest, res, p := pktap(data, cut)
		if res != resTCP {
			return res, p
		}
		return d.fast(inner, rest, wireLen-(len(data)-len(rest)), seg)
	case linkNFLOG, linkPPP, linkPPPSerial, linkPPPWithDir, linkCHDLC, linkPFLOG,
		linkIEEE80211, linkRadiotap, linkPrism, linkFDDI, linkARCNET, linkARCNETLinux, linkJuniperEther, linkIPOIB:
		return resSlow, nil
	}
	return resLinkType, nil
}

// pktap takes off Apple's PKTAP header (macOS's tcpdump -i any and -k):
// little-endian, its length, the record type (1: a packet) and the DLT
// of the packet after it, then the interface, the process and the
// like, which the analysis does not need.
func pktap(b []byte, cut bool) (inner uint32, rest []byte, res int, p *problem) {
	if len(b) < 12 {
		res, p = short(cut, "PKTAP", len(b), 12)
		return 0, nil, res, p
	}
	hl, typ, inner := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
	switch {
	case typ != 1: // not a packet record
		return 0, nil, resNonTCP, nil
	case hl < 12:
		return 0, nil, resBad, &problem{"PKTAP header length %d < 12", []any{hl}}
	case hl > uint32(len(b)):
		if cut {
			res, p = short(cut, "PKTAP", len(b), int(min(hl, 1<<16)))
			return 0, nil, res, p
		}
		return 0, nil, resBad, &problem{"PKTAP header length %d beyond the packet (%d bytes)", []any{hl, len(b)}}
	case inner == linkPKTAP:
		return 0, nil, resBad, &problem{"PKTAP inside PKTAP", nil}
	}
	return inner, b[hl:], resTCP, nil
}

// tagName names the 6-byte tags ether skips.
func tagName(et uint16) string {
	if et == 0x8909 {
		return "Cisco MetaData"
	}
	return "E-Tag"
}

// ether continues after an Ethernet-style header whose EtherType is et,
// with the next header at data[p:]. It records 802.1Q/802.1ad VLAN tags
// and skips VN-Tags, 802.1BR E-Tags and Cisco MetaData (SGT) headers.
func (d *decoder) ether(et uint16, data []byte, p int, cut bool, seg *Segment) (int, *problem) {
	for range 8 {
		if et == 0x0800 {
			return d.ipv4(data[p:], cut, seg)
		}
		switch et {
		case 0x86dd:
			return d.ipv6(data[p:], cut, seg)
		case 0x8100, 0x88a8, 0x9100, 0x9200, 0x9300:
			if len(data) < p+4 {
				return short(cut, "VLAN", len(data)-p, 4)
			}
			if !d.car.vlan(be16(data[p:]) & 0x0fff) {
				return resBad, tooManyVLANs
			}
			et = be16(data[p+2:])
			p += 4
		case 0x8926: // Cisco VN-Tag: 4 bytes, then the EtherType
			if len(data) < p+6 {
				return short(cut, "VN-Tag", len(data)-p, 6)
			}
			et = be16(data[p+4:])
			p += 6
		case 0x893f, 0x8909: // 802.1BR E-Tag, Cisco MetaData (TrustSec SGT): 6 bytes, then the EtherType
			if len(data) < p+8 {
				return short(cut, tagName(et), len(data)-p, 8)
			}
			et = be16(data[p+6:])
			p += 8
		case 0x8847, 0x8848, 0x8864: // MPLS, PPPoE session
			return resSlow, nil
		default:
			return resNonTCP, nil
		}
	}
	return resBad, &problem{"more than 7 nested VLAN tags", nil}
}

var (
	tooManyVLANs  = &problem{"more than %d VLAN tags", []any{maxVLAN}}
	tooManyEncaps = &problem{"more than %d nested encapsulations (a tunnel cycle?)", []any{maxEncap}}
)

// carriesTCP reports whether a fragment of IP protocol proto may hold TCP
// once reassembled: TCP itself, or a tunnel (UDP, IP-in-IP, GRE).
func carriesTCP(proto uint8) bool {
	switch proto {
	case 6, 17, 4, 41, 47:
		return true
	}
	return false
}

// ipv4 decodes an IPv4 packet at ip.
func (d *decoder) ipv4(ip []byte, cut bool, seg *Segment) (int, *problem) {
	if len(ip) < 20 {
		return short(cut, "IPv4", len(ip), 20)
	}
	if v := ip[0] >> 4; v != 4 {
		return resBad, &problem{"bad IP version %d in an IPv4 header", []any{v}}
	}
	hl := int(ip[0]&0x0f) * 4
	if hl < 20 {
		return resBad, &problem{"IPv4 header length %d < 20", []any{hl}}
	}
	if len(ip) < hl {
		return short(cut, "IPv4", len(ip), hl)
	}
	total := int(be16(ip[2:]))
	switch {
	case total == 0:
		// TCP segmentation offload on the capturing host: the length is
		// not filled in yet. Take what was captured.
		total = len(ip)
	case total < hl:
		return resBad, &problem{"IPv4 total length %d < header length %d", []any{total, hl}}
	}
	proto := ip[9]
	if frag := be16(ip[6:]); frag&0x3fff != 0 { // MF set or offset non-zero
		if carriesTCP(proto) {
			return resSlow, nil
		}
		return resNonTCP, nil
	}
	end := min(total, len(ip))
	if proto == 6 {
		seg.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), 0)
		seg.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), 0)
		seg.IPID = be16(ip[4:])
		seg.TTL = ip[8]
		return decodeTCP(ip[hl:end], total-hl, cut, seg)
	}
	switch proto {
	case 17:
		return d.udp(ip[hl:end], total-hl, cut, seg, ip)
	case 4, 41, 47: // IP in IP, IPv6 in IP, GRE
		return resSlow, nil
	}
	return resNonTCP, nil
}

// ipv6 decodes an IPv6 packet at ip, walking the extension headers.
func (d *decoder) ipv6(ip []byte, cut bool, seg *Segment) (int, *problem) {
	if len(ip) < 40 {
		return short(cut, "IPv6", len(ip), 40)
	}
	if v := ip[0] >> 4; v != 6 {
		return resBad, &problem{"bad IP version %d in an IPv6 header", []any{v}}
	}
	total := 40 + int(be16(ip[4:]))
	if total == 40 {
		// A jumbogram (payload length in a hop-by-hop option) or
		// segmentation offload: take what was captured.
		total = len(ip)
	}
	end := min(total, len(ip))
	next := ip[6]
	p := 40
	for {
		switch next {
		case 6:
			seg.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip[8:24])), 0)
			seg.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip[24:40])), 0)
			seg.IPID = 0
			seg.TTL = ip[7]
			return decodeTCP(ip[p:end], total-p, cut, seg)
		case 17:
			return d.udp(ip[p:end], total-p, cut, seg, ip)
		case 4, 41, 47:
			return resSlow, nil
		case 0, 43, 60, 135, 139, 140, 51: // hop-by-hop, routing, destination, mobility, HIP, shim6, AH
			if p+2 > total {
				return resBad, &problem{"IPv6 extension header %d beyond the packet's length", []any{next}}
			}
			if p+2 > end {
				return short(cut, "IPv6 extension", end-p, 2)
			}
			n := (int(ip[p+1]) + 1) * 8
			if next == 51 {
				n = (int(ip[p+1]) + 2) * 4
			}
			if p+n > total {
				return resBad, &problem{"IPv6 extension header %d (%d bytes) beyond the packet's length", []any{next, n}}
			}
			if p+n > end {
				return short(cut, "IPv6 extension", end-p, n)
			}
			next = ip[p]
			p += n
		case 44: // fragment
			if p+8 > total {
				return resBad, &problem{"IPv6 fragment header beyond the packet's length", nil}
			}
			if p+8 > end {
				return short(cut, "IPv6 fragment", end-p, 8)
			}
			fo := be16(ip[p+2:])
			if fo&0xfff9 != 0 { // offset non-zero or more fragments
				if carriesTCP(ip[p]) {
					return resSlow, nil
				}
				return resNonTCP, nil
			}
			// An atomic fragment: the whole packet.
			next = ip[p]
			p += 8
		default: // ICMPv6, ESP, no next header, ...
			return resNonTCP, nil
		}
	}
}

// UDP ports of tunnels.
const (
	portVXLAN      = 4789
	portVXLANLinux = 8472 // the Linux kernel's default before IANA's
	portGeneve     = 6081
	portTeredo     = 3544
	portGREinUDP   = 4754 // RFC 8086
	portGTPU       = 2152 // GTP-U, either side (3GPP TS 29.281)
	portAYIYA      = 5072 // AYIYA, either side
	portTZSP       = 37008
)

// udp looks at the UDP datagram at b (captured bytes, at most ipLen, the
// length the IP header ip announces for it): VXLAN is decoded here, other
// tunnels go to the slow path, the rest is not TCP.
func (d *decoder) udp(b []byte, ipLen int, cut bool, seg *Segment, ip []byte) (int, *problem) {
	if len(b) < 8 {
		return resNonTCP, nil
	}
	switch be16(b[2:]) {
	case portVXLAN, portVXLANLinux:
		return d.vxlan(b, ipLen, cut, seg, ip)
	case portGeneve, portTeredo, portGREinUDP, portGTPU, portAYIYA, portTZSP:
		return resSlow, nil
	}
	if sp := be16(b); sp == portTeredo || sp == portGTPU || sp == portAYIYA || teredoTCP(b, ipLen) {
		return resSlow, nil
	}
	return resNonTCP, nil
}

// teredoTCP reports whether the UDP datagram at b (captured bytes; ipLen
// is the length the IP header announces for it) is, by its shape, a
// Teredo packet that carries TCP, on whatever ports (a Teredo client and
// a relay talk between ports of their own; only servers use 3544): after
// an origin indication, if any, an IPv6 header with next header TCP whose
// payload length fills the datagram exactly. As Zeek and Wireshark's
// heuristic do, but only for TCP.
func teredoTCP(b []byte, ipLen int) bool {
	n := int(be16(b[4:]))
	if n == 0 || n > ipLen {
		return false
	}
	off := 8
	if len(b) >= 16 && b[8] == 0 && b[9] == 0 {
		off = 16
	}
	if len(b) < off+40 {
		return false
	}
	return b[off]>>4 == 6 && b[off+6] == 6 && off+40+int(be16(b[off+4:])) == n
}

// udpLen checks the length field of the UDP header at b against ipLen,
// the length the IP header announces: the datagram's length.
func udpLen(b []byte, ipLen int) (int, *problem) {
	n := int(be16(b[4:]))
	switch {
	case n == 0: // a jumbogram, or segmentation offload
		return ipLen, nil
	case n < 8:
		return 0, &problem{"UDP length %d < 8", []any{n}}
	case n > ipLen:
		return 0, &problem{"UDP length %d beyond the IP payload (%d bytes)", []any{n, ipLen}}
	}
	return n, nil
}

// outerAddrs returns the addresses of the IPv4 or IPv6 header at ip.
func outerAddrs(ip []byte) (src, dst netip.Addr) {
	if ip[0]>>4 == 4 {
		return netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
	}
	return netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
}

// vxlan decodes the VXLAN packet in the UDP datagram at b (see udp).
func (d *decoder) vxlan(b []byte, ipLen int, cut bool, seg *Segment, ip []byte) (int, *problem) {
	n, p := udpLen(b, ipLen)
	if p != nil {
		return resBad, p
	}
	if n < 16 {
		return resBad, &problem{"UDP length %d too short for a VXLAN header", []any{n}}
	}
	if len(b) < 16 {
		return short(cut, "VXLAN", len(b)-8, 8)
	}
	if b[8]&0x08 == 0 { // no I flag: no VNI, not VXLAN (RFC 7348)
		return resNonTCP, nil
	}
	src, dst := outerAddrs(ip)
	if !d.car.encap(Encap{Type: EncapVXLAN, OuterSrc: src, OuterDst: dst, ID: be32(b[12:]) >> 8, HasID: true}) {
		return resBad, tooManyEncaps
	}
	inner := b[16:min(n, len(b))]
	if len(inner) < 14 {
		return short(cut, "Ethernet (in VXLAN)", len(inner), 14)
	}
	return d.ether(be16(inner[12:]), inner, 14, cut, seg)
}

// decodeTCP decodes the TCP segment at b (the captured bytes, at most
// segLen), where segLen is the segment length the IP header announces.
func decodeTCP(b []byte, segLen int, cut bool, seg *Segment) (int, *problem) {
	if segLen < 20 {
		return resBad, &problem{"TCP segment length %d < 20", []any{segLen}}
	}
	if len(b) < 20 {
		return short(cut, "TCP", len(b), 20)
	}
	off := int(b[12]>>4) * 4
	if off < 20 {
		return resBad, &problem{"TCP header length %d < 20", []any{off}}
	}
	if off > segLen {
		return resBad, &problem{"TCP header length %d > segment length %d", []any{off, segLen}}
	}
	if len(b) < off {
		return short(cut, "TCP", len(b), off)
	}
	seg.Src = netip.AddrPortFrom(seg.Src.Addr(), be16(b[0:]))
	seg.Dst = netip.AddrPortFrom(seg.Dst.Addr(), be16(b[2:]))
	seg.Seq = be32(b[4:])
	seg.Ack = be32(b[8:])
	seg.Flags = b[13]
	seg.Window = be16(b[14:])
	seg.TCPSum = be16(b[16:])
	seg.Payload = b[off:]
	seg.PayloadLen = segLen - off
	return resTCP, nil
}
