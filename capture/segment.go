// Package capture turns packet sources into decoded TCP segments.
//
// In: a pcap or pcapng file (optionally gzip-, zstd- or LZ4-compressed; the
// format is found from the magic bytes, never the file name), standard input, several files
// merged into one stream in time order (OpenInputs: lists, directories,
// globs, rotated sets, with a tcpdump filter; the interfaces of a pcapng
// file that describes several are merged the same way, since dumpcap -i a
// -i b writes each one's packets in batches), or (for watch) a live
// interface. Link types: Ethernet, Linux cooked v1 and v2, BSD
// loopback/NULL, raw IP, NFLOG, PPP (also HDLC-framed and with a
// direction byte), Cisco HDLC, OpenBSD pflog, Apple's PKTAP (macOS's
// tcpdump -i any), 802.11 (bare, radiotap, Prism; unencrypted data
// frames) and FDDI; IPv4 and IPv6 with extension
// headers.
//
// Tags and tunnels are taken off down to the innermost TCP segment, nested
// up to 8 encapsulations deep: 802.1Q/802.1ad (QinQ) tags, VN-Tags, 802.1BR
// E-Tags and Cisco MetaData (TrustSec SGT) headers;
// VXLAN (UDP 4789 and 8472) and Geneve (6081); GRE with keys, sequence
// numbers and routing, carrying IP, transparent Ethernet bridging, ERSPAN
// I, II and III, PPP (PPTP) or WCCP redirects, also in UDP 4754; MPLS label
// stacks (IP or an Ethernet pseudowire inside); PPPoE sessions; IPv4 and
// IPv6 in IPv4 and IPv6; Teredo (UDP 3544, or any ports for a datagram
// shaped like Teredo carrying TCP). IPv4 and IPv6 fragments, outside a
// tunnel or inside, are reassembled within bounds (4096 datagrams, 16 MiB,
// 30 s of capture time). VLAN tags and VXLAN are decoded by a fast path of
// this package (decode.go), the rest by gopacket's layers (decap.go).
// Each segment's Carrier says how it was carried.
//
// Out: a stream of *Segment values in capture order, one per TCP packet, and
// Stats describing everything that was read, skipped or could not be decoded
// (with what pcapng files say: drops, comments; their TLS key logs through
// Secrets).
//
// Call order for a Source: Next until it returns io.EOF (or another error,
// which is fatal for the source: everything returned before it stays valid),
// then Stats, then Close. Next never panics on malformed input: a packet that
// cannot be decoded is counted in Stats.Skipped and noted in Stats.Warnings
// with its packet number, and reading goes on.
package capture

import (
	"net/netip"
	"time"
)

// TCP flag bits as they appear in Segment.Flags.
const (
	FIN uint8 = 0x01
	SYN uint8 = 0x02
	RST uint8 = 0x04
	PSH uint8 = 0x08
	ACK uint8 = 0x10
	URG uint8 = 0x20
	ECE uint8 = 0x40
	CWR uint8 = 0x80
)

// Segment is one decoded TCP packet.
//
// Payload aliases the source's read buffer: it is valid only until the next
// call to Next. Copy what you keep.
type Segment struct {
	N        uint64    // 1-based packet number in the capture (all packets, not only TCP; those a filter rejected too; across the files of a merged input, in the order read)
	Time     time.Time // capture timestamp, exactly as recorded
	Src, Dst netip.AddrPort
	Seq, Ack uint32
	Flags    uint8
	// TTL is the IPv4 TTL / IPv6 hop limit of the innermost IP header.
	TTL    uint8
	Window uint16
	// IPID is the IPv4 identification (0 for IPv6) and TCPSum the TCP
	// checksum, as captured: with the other header fields they tell a
	// copy of a packet (seen twice by -i any or a SPAN port) from a
	// retransmission.
	IPID, TCPSum uint16
	Payload      []byte
	// PayloadLen is the TCP payload length the IP header announces. It is
	// larger than len(Payload) when the capture's snaplen cut the packet.
	PayloadLen int
	// Carrier says how the packet was carried: VLAN tags and tunnels,
	// outer first. nil for an untagged, unencapsulated packet. Carriers
	// are immutable and shared: the decoder reuses the pointer while
	// packets have the same carrier (it compares before allocating).
	Carrier *Carrier
	// CarrierKey separates connections that share an inner 4-tuple but
	// travel in different tunnels: a hash of the tunnel types and their
	// direction-independent ids (VXLAN/Geneve VNI, GRE key, ERSPAN
	// session, PPPoE session). MPLS labels, VLAN ids and outer addresses
	// are NOT in it (they differ by direction on real networks). 0 when
	// no such id.
	CarrierKey uint64
}

// Has reports whether all bits in f are set in s.Flags.
func (s *Segment) Has(f uint8) bool { return s.Flags&f == f }

// Truncated reports whether the capture cut this segment's payload short.
func (s *Segment) Truncated() bool { return len(s.Payload) < s.PayloadLen }

// Skipped counts packets that carry no usable TCP segment.
type Skipped struct {
	NonTCP      uint64 `json:"non_tcp"`
	Undecodable uint64 `json:"undecodable"`
	Truncated   uint64 `json:"truncated"`
	// Fragments counts IP fragments held for reassembly: every fragment
	// of a datagram but the one that completes it (that one is counted
	// as what the datagram is: a TCP packet, non-TCP, ...), and those of
	// datagrams that never completed. Fragments dropped as malformed or
	// over the reassembly limits are Undecodable instead.
	Fragments uint64 `json:"fragments"`
}

// Stats describes a source after (or while) it is read.
type Stats struct {
	Source        string    // file name, "-" for stdin, or interface name
	Format        string    // "pcap", "pcapng" or "live"
	LinkTypes     []string  // e.g. "EN10MB", "LINUX_SLL2", in order first seen
	FirstPacketAt time.Time // the earliest packet's time; zero when no packet was read
	LastPacketAt  time.Time // the latest packet's time (not the last record's: captures may be out of order)
	Packets       uint64    // every packet record read
	TCPPackets    uint64    // packets returned as segments
	Bytes         uint64    // bytes read from the file (after decompression), or captured bytes for live sources
	Skipped       Skipped
	// TruncatedPayloads counts TCP segments returned with a payload the
	// snaplen cut short (Segment.Truncated); they are also in TCPPackets.
	TruncatedPayloads uint64
	// Dropped is the number of packets the kernel or ring dropped (live
	// sources), or that a pcapng file's statistics blocks (else its
	// packets' drop counts) say were dropped while capturing. DropCounts
	// says whether a file said (for a live source, Format "live" says
	// that Dropped is known).
	Dropped    uint64
	DropCounts bool
	// Filtered counts the packet records the filter rejected; they are
	// not in Packets (but are numbered: Segment.N counts them). Filter is
	// the filter expression, "" for none.
	Filtered uint64
	Filter   string
	// Files are the files read, in the order they were first read, when
	// there are more than one (Source is then the first argument as
	// given).
	Files    []string
	Warnings []string // human-readable, each names the packet number where it applies
}

// Source yields TCP segments. See the package comment for the call order.
type Source interface {
	Next() (*Segment, error)
	Stats() *Stats
	Close() error
}
