// Package capture turns packet sources into decoded TCP segments.
//
// In: a pcap or pcapng file (optionally gzip-compressed; the format is found
// from the magic bytes, never the file name), standard input, or (for watch)
// a live interface. Link types: Ethernet (with 802.1Q VLAN tags), Linux
// cooked v1 and v2, BSD loopback/NULL, raw IP; IPv4 and IPv6 with extension
// headers.
//
// Out: a stream of *Segment values in capture order, one per TCP packet, and
// Stats describing everything that was read, skipped or could not be decoded.
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
	N        uint64    // 1-based packet number in the capture (all packets, not only TCP)
	Time     time.Time // capture timestamp, exactly as recorded
	Src, Dst netip.AddrPort
	Seq, Ack uint32
	Flags    uint8
	Window   uint16
	Payload  []byte
	// PayloadLen is the TCP payload length the IP header announces. It is
	// larger than len(Payload) when the capture's snaplen cut the packet.
	PayloadLen int
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
}

// Stats describes a source after (or while) it is read.
type Stats struct {
	Source        string    // file name, "-" for stdin, or interface name
	Format        string    // "pcap", "pcapng" or "live"
	LinkTypes     []string  // e.g. "EN10MB", "LINUX_SLL2", in order first seen
	FirstPacketAt time.Time // zero when no packet was read
	LastPacketAt  time.Time
	Packets       uint64 // every packet record read
	TCPPackets    uint64 // packets returned as segments
	Bytes         uint64 // bytes read from the file (after gzip), or captured bytes for live sources
	Skipped       Skipped
	// TruncatedPayloads counts TCP segments returned with a payload the
	// snaplen cut short (Segment.Truncated); they are also in TCPPackets.
	TruncatedPayloads uint64
	Dropped           uint64   // live sources: packets the kernel or ring dropped
	Warnings          []string // human-readable, each names the packet number where it applies
}

// Source yields TCP segments. See the package comment for the call order.
type Source interface {
	Next() (*Segment, error)
	Stats() *Stats
	Close() error
}
