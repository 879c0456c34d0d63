package capture

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Live capture (httplife watch).
//
// OpenLive opens a network interface and returns a LiveSource: a Source
// whose segments are decoded exactly as the file readers decode theirs, with
// Stats.Format "live" and Stats.Dropped filled from the kernel's counters.
//
// Builds: on Linux the default build captures with an AF_PACKET socket and a
// memory-mapped TPACKET_V3 ring (pure Go, no cgo, no libpcap). With
// -tags libpcap it captures through libpcap instead (any system libpcap
// supports; needs cgo). Other default builds return ErrLiveUnsupported.

// Defaults of LiveConfig.
const (
	DefaultSnaplen = 262144   // bytes kept of each packet, libpcap's maximum
	DefaultBuffer  = 64 << 20 // kernel ring size
)

// LiveConfig says what to capture.
type LiveConfig struct {
	// Interface to capture on, e.g. "eth0", "lo", or "any" for all
	// interfaces (Linux; captured in cooked mode, link type LINUX_SLL).
	Interface string
	// Filter is a tcpdump (pcap-filter(7)) expression; empty captures every
	// packet. It runs in the kernel. An expression that cannot be compiled
	// is an error, never a capture of everything.
	Filter string
	// Snaplen is the number of bytes kept of each packet (0: DefaultSnaplen).
	Snaplen int
	// Buffer is the size of the kernel's ring in bytes (0: DefaultBuffer).
	// The AF_PACKET ring is made of blocks a little larger than the
	// snaplen, and has at least two.
	Buffer int
	// MaxPackets, when not 0, ends the capture (io.EOF) after this many
	// packets, like tcpdump -c.
	MaxPackets uint64
	// Packet, when set, is called with every captured packet before it is
	// decoded: its capture time, its bytes as captured (link-layer header
	// included, of LiveSource.LinkType; valid only during the call) and its
	// length on the wire. It is how watch -w writes a pcap file.
	Packet func(ts time.Time, data []byte, wireLen int)
}

// LiveSource is a Source on a live interface. Next blocks until a TCP
// segment arrives, or returns io.EOF once Stop was called (after the packets
// already in the ring) or MaxPackets were read.
type LiveSource interface {
	Source
	// NextTimeout is Next waiting at most d: it returns ErrTimeout, which
	// is not fatal, when no TCP segment came in time.
	NextTimeout(d time.Duration) (*Segment, error)
	// Stop ends the capture: Next and NextTimeout return the packets
	// already captured, then io.EOF. It may be called from any goroutine,
	// and more than once.
	Stop()
	// LinkType is the LINKTYPE_ value of the packets given to
	// LiveConfig.Packet (EN10MB, LINUX_SLL or RAW).
	LinkType() uint32
	// Snaplen is the snaplen in effect.
	Snaplen() int
	// LiveStats returns the capture's counters, read from the kernel.
	LiveStats() LiveStats
}

// LiveStats are the counters of a live capture.
type LiveStats struct {
	// Received counts the packets the filter accepted, whether they were
	// captured or dropped.
	Received uint64
	// Captured counts the packets read from the ring.
	Captured uint64
	// Dropped counts the packets the filter accepted that the kernel could
	// not hand over because the ring (or libpcap's buffer) was full: what
	// tcpdump calls "dropped by kernel". This is Stats.Dropped.
	Dropped uint64
	// IfDropped counts the packets the interface dropped during the
	// capture (all traffic, not only the filter's; 0 when unknown, e.g. on
	// "any"): tcpdump's "dropped by interface".
	IfDropped uint64
	// RingFreezes counts the times the ring was full (AF_PACKET only).
	RingFreezes uint64
	// RingBytes is the size of the ring or buffer in effect.
	RingBytes int
}

// Reasons wrapped in a *LiveError, for errors.Is.
var (
	ErrPermission      = errors.New("permission denied")
	ErrNoInterface     = errors.New("no such interface")
	ErrFilter          = errors.New("bad filter")
	ErrLiveUnsupported = errors.New("live capture needs Linux or -tags libpcap")
)

// ErrTimeout is returned by NextTimeout when no segment came in time.
var ErrTimeout = errors.New("capture: no packet before the timeout")

// LiveError is the error type of OpenLive. Its message names the interface,
// e.g. "capturing on lo needs root or CAP_NET_RAW (socket: operation not
// permitted)".
type LiveError struct {
	Interface string
	Msg       string // the whole message
	Err       error  // ErrPermission, ErrNoInterface, ErrFilter, ErrLiveUnsupported, or a system error
}

func (e *LiveError) Error() string { return e.Msg }

// Unwrap returns the underlying error.
func (e *LiveError) Unwrap() error { return e.Err }

func liveErr(iface string, err error, format string, args ...any) error {
	return &LiveError{Interface: iface, Msg: fmt.Sprintf(format, args...), Err: err}
}

// permissionErr is the error for a capture the process is not allowed to
// start; cause is what the system said.
func permissionErr(iface string, cause error) error {
	return liveErr(iface, ErrPermission, "capturing on %s needs root or CAP_NET_RAW (%v)", iface, cause)
}

func filterErr(iface, filter string, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "bpf: ")
	if !strings.Contains(msg, filter) {
		msg = fmt.Sprintf("filter %q: %s", filter, msg)
	}
	return liveErr(iface, ErrFilter, "%s; nothing captured", msg)
}

// OpenLive starts a capture. Errors are of type *LiveError: a missing
// interface (ErrNoInterface), a filter that cannot be compiled (ErrFilter),
// missing privileges (ErrPermission), a build without live capture
// (ErrLiveUnsupported), or what the system refused.
func OpenLive(cfg LiveConfig) (LiveSource, error) {
	if cfg.Interface == "" {
		return nil, liveErr("", ErrNoInterface, "no interface given")
	}
	if cfg.Snaplen <= 0 {
		cfg.Snaplen = DefaultSnaplen
	}
	if cfg.Snaplen > DefaultSnaplen {
		cfg.Snaplen = DefaultSnaplen
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	return openLive(cfg)
}

// liveAcct does the per-packet accounting and decoding of a live source
// with the file reader's code (source.take), so that live segments, counts
// and warnings are exactly those of a file holding the same packets.
type liveAcct struct {
	source
}

func newLiveAcct(name string) *liveAcct {
	a := &liveAcct{}
	a.name = name
	a.stats.Source = name
	a.stats.Format = "live"
	return a
}

// statsWith fills the counters a live source knows and returns the stats.
func (a *liveAcct) statsWith(bytes, dropped uint64) *Stats {
	a.stats.Bytes = bytes
	a.stats.Dropped = dropped
	a.stats.Warnings = a.warningList()
	return &a.stats
}
