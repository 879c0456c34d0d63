package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
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
	linkLinuxSLL2 = 276
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
	}
	return fmt.Sprintf("LINKTYPE_%d", lt)
}

// Results of decode.
const (
	resTCP      = iota // a TCP segment was decoded into the Segment
	resNonTCP          // not TCP (ARP, UDP, ICMP, ...): skipped silently
	resCut             // headers cut by the capture's snaplen
	resBad             // undecodable: malformed headers
	resFragment        // TCP inside an IP fragment: undecodable, warned once
	resLinkType        // link type not supported
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

// decode decodes one link-layer frame of link type link into seg (all fields
// but N and Time). wireLen is the packet's length on the wire as the record
// header announces it; len(data) < wireLen means the snaplen cut the packet.
// seg.Payload aliases data.
func decode(link uint32, data []byte, wireLen int, seg *Segment) (int, *problem) {
	cut := len(data) < wireLen
	switch link {
	case linkEthernet:
		if len(data) < 14 {
			return short(cut, "Ethernet", len(data), 14)
		}
		return decodeEther(be16(data[12:]), data, 14, cut, seg)
	case linkLinuxSLL:
		if len(data) < 16 {
			return short(cut, "Linux cooked (SLL)", len(data), 16)
		}
		return decodeEther(be16(data[14:]), data, 16, cut, seg)
	case linkLinuxSLL2:
		if len(data) < 20 {
			return short(cut, "Linux cooked v2 (SLL2)", len(data), 20)
		}
		return decodeEther(be16(data[0:]), data, 20, cut, seg)
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
			return decodeIPv4(data[4:], cut, seg)
		case 24, 28, 30: // AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
			return decodeIPv6(data[4:], cut, seg)
		}
		return resNonTCP, nil
	case linkRaw, linkRawBSD, linkRawOpen:
		if len(data) < 1 {
			return short(cut, "IP", 0, 1)
		}
		switch data[0] >> 4 {
		case 4:
			return decodeIPv4(data, cut, seg)
		case 6:
			return decodeIPv6(data, cut, seg)
		}
		return resBad, &problem{"bad IP version %d", []any{data[0] >> 4}}
	case linkIPv4:
		return decodeIPv4(data, cut, seg)
	case linkIPv6:
		return decodeIPv6(data, cut, seg)
	}
	return resLinkType, nil
}

// decodeEther continues after an Ethernet-style header whose EtherType is
// et, with the next header at data[p:]. It skips 802.1Q/802.1ad VLAN tags.
func decodeEther(et uint16, data []byte, p int, cut bool, seg *Segment) (int, *problem) {
	for range 8 {
		switch et {
		case 0x0800:
			return decodeIPv4(data[p:], cut, seg)
		case 0x86dd:
			return decodeIPv6(data[p:], cut, seg)
		case 0x8100, 0x88a8, 0x9100, 0x9200, 0x9300:
			if len(data) < p+4 {
				return short(cut, "VLAN", len(data)-p, 4)
			}
			et = be16(data[p+2:])
			p += 4
		default:
			return resNonTCP, nil
		}
	}
	return resBad, &problem{"more than 7 nested VLAN tags", nil}
}

// decodeIPv4 decodes an IPv4 packet at ip.
func decodeIPv4(ip []byte, cut bool, seg *Segment) (int, *problem) {
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
		if proto == 6 {
			return resFragment, &problem{"IPv4 fragment of a TCP segment skipped (IP reassembly is not supported)", nil}
		}
		return resNonTCP, nil
	}
	if proto != 6 {
		return resNonTCP, nil
	}
	seg.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), 0)
	seg.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), 0)
	end := min(total, len(ip))
	return decodeTCP(ip[hl:end], total-hl, cut, seg)
}

// decodeIPv6 decodes an IPv6 packet at ip, walking the extension headers.
func decodeIPv6(ip []byte, cut bool, seg *Segment) (int, *problem) {
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
			return decodeTCP(ip[p:end], total-p, cut, seg)
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
				if ip[p] == 6 {
					return resFragment, &problem{"IPv6 fragment of a TCP segment skipped (IP reassembly is not supported)", nil}
				}
				return resNonTCP, nil
			}
			// An atomic fragment: the whole packet.
			next = ip[p]
			p += 8
		default: // UDP, ICMPv6, ESP, no next header, ...
			return resNonTCP, nil
		}
	}
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
	seg.Payload = b[off:]
	seg.PayloadLen = segLen - off
	return resTCP, nil
}
