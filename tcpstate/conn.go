package tcpstate

import (
	"net/netip"
	"time"

	"github.com/httplife/httplife/capture"
)

// Dir is a direction of data flow within a connection.
type Dir uint8

// The two directions.
const (
	ClientToServer Dir = 0
	ServerToClient Dir = 1
)

func (d Dir) String() string {
	if d == ClientToServer {
		return "client"
	}
	return "server"
}

// Side is what the capture shows one endpoint sending. Fields are final when
// Stream.Done is called.
type Side struct {
	Addr    netip.AddrPort
	State   State
	Packets uint64
	// PayloadBytes counts each sequence-space byte once (retransmissions
	// are not counted again).
	PayloadBytes    uint64
	Retransmissions uint64
	MissingBytes    uint64
	KeepaliveProbes uint64
	SynAt           time.Time // first SYN (or SYN-ACK) sent
	FinAt           time.Time // first FIN sent; zero when none
	RstAt           time.Time // first RST sent; zero when none
	// FinAck is the acknowledgement number the FIN carried, and FinAcks
	// reports whether the FIN carried the ACK flag.
	FinAck  Seq
	FinAcks bool
	// RstAck is the acknowledgement number on the RST (when RstAcks).
	RstAck  Seq
	RstAcks bool
	// AckedPeerFINAt is when this side first acknowledged the peer's FIN.
	AckedPeerFINAt time.Time
	// CutBytes counts payload bytes of captured segments that the
	// capture's snaplen cut off: their sequence space was seen, their
	// content was not (Stream.Gap reports them, Conn.InCut says so).
	// They are in PayloadBytes and, as bytes the capture lacks, in
	// MissingBytes; unlike segments the capture lacks they make no 'G'.
	CutBytes uint64
	// Carrier is how this side's first packet was carried: VLAN tags and
	// tunnels (shared, immutable); nil for a plain packet.
	Carrier *capture.Carrier
	// TimeWaitAt is when this side entered TIME_WAIT; zero when it did not.
	// TimeWaitUntil is when that TIME_WAIT ends: TimeWaitAt + the table's
	// 2MSL, the one place it is computed.
	TimeWaitAt, TimeWaitUntil time.Time

	h half
}

// NextSeq is the next sequence number this side would send, as far as the
// capture shows (one past the last byte delivered in order).
func (s *Side) NextSeq() Seq { return s.h.next }

// Conn is one TCP connection: the facts tcpstate established about it.
type Conn struct {
	ID int
	// Sides indexed by Dir: Sides[ClientToServer] is the client.
	Sides [2]Side
	// ClientGuessed is true when no SYN told which side is the client.
	ClientGuessed bool
	SynSeen       bool
	FirstPacketAt time.Time
	LastPacketAt  time.Time
	// The same as Unix ns, compared for each segment: held segments and
	// captures whose times go backwards come out of time order.
	firstNs, lastNs int64
	// Handshake times; zero when not captured.
	SynAt, SynAckAt, AckAt time.Time
	// Anomalies found at the TCP level, e.g. "port-reused-in-time-wait".
	Anomalies []string
	// Evicted is true when the connection table's cap forced this
	// connection out before it ended.
	Evicted bool

	hist      history       // Zeek-style history (history.go)
	twoMSL    time.Duration // the table's, for TimeWaitUntil
	roleKnown bool
	carried   bool      // the first segment had a carrier (VLAN tags, tunnels)
	queued    bool      // in the table's closing queue
	reported  bool      // Done was called
	finished  bool      // RST seen, or both FINs sent and acknowledged
	doneAt    time.Time // capture time when finished became true
	finishN   uint64    // the packet number that made it finished (queued)
	stream    Stream
	factory   Factory
	key       key

	// Segments held until the peer bytes they acknowledge are processed
	// (order.go), in capture order, with their payloads copied.
	held      []capture.Segment
	heldBytes int
	heldSince time.Time // capture time (the table's clock) the hold began
	expiries  uint8     // holds that ended unresolved
	holdOff   bool      // no more holds: the capture does not show what they wait for
	inCut     bool      // a Stream.Gap call in progress is of bytes the snaplen cut

	// Whether the peer's direction has a key of its own (its tunnel id
	// differs: Table.alias, key.go), and whether the connection is in the
	// table's one-way index.
	hasAlias bool
	inOneWay bool
	// What the bare and the carried copies showed of each side, once
	// both were seen (cross.go).
	cross *crossPaths

	// The identities of each side's last segments, for copies (order.go),
	// by Sides index; last, after every pointer, so that the garbage
	// collector does not scan them.
	dups [2]dupRing
}

// InCut reports, during a Stream.Gap call, whether the gap is bytes the
// capture's snaplen cut off a segment it captured (counted in
// Side.CutBytes), not segments the capture lacks.
func (c *Conn) InCut() bool { return c.inCut }

// Carrier is how the connection's packets were carried: the client's
// first packet's carrier, else the server's; nil when plain.
func (c *Conn) Carrier() *capture.Carrier {
	if cr := c.Sides[ClientToServer].Carrier; cr != nil || c.Sides[ClientToServer].Packets > 0 {
		return cr
	}
	return c.Sides[ServerToClient].Carrier
}

// Client returns the client side.
func (c *Conn) Client() *Side { return &c.Sides[ClientToServer] }

// Server returns the server side.
func (c *Conn) Server() *Side { return &c.Sides[ServerToClient] }

// FirstFIN returns the direction whose side sent the first FIN, and ok=false
// when no FIN was captured. A FIN that acknowledges the other side's FIN
// came second whatever the capture times say (a capture point that sees
// the directions with different delays); else the earlier time wins.
func (c *Conn) FirstFIN() (d Dir, at time.Time, ok bool) {
	a, b := &c.Sides[0], &c.Sides[1]
	if !a.FinAt.IsZero() && !b.FinAt.IsZero() {
		switch {
		case b.acksFIN(a) && !a.acksFIN(b):
			return ClientToServer, a.FinAt, true
		case a.acksFIN(b) && !b.acksFIN(a):
			return ServerToClient, b.FinAt, true
		}
	}
	return first(a.FinAt, b.FinAt)
}

// acksFIN reports whether s's FIN acknowledged p's FIN.
func (s *Side) acksFIN(p *Side) bool {
	return s.FinAcks && p.h.finValid && !s.FinAck.Before(p.h.finSeq.Add(1))
}

// Unseen returns the direction none of whose packets the capture holds
// although the other side acknowledged, during the capture, sequence
// space of it (data, a FIN) that the capture never showed. A mirror or a
// capture filter that keeps one direction gives such connections (AWS
// Traffic Mirroring's filter rules are per direction; asymmetric routing
// takes the other direction past the capture point). ok is false when
// both directions were captured, and when the direction seen proves
// nothing of the other: unanswered SYNs, or a connection the capture
// caught only the edge of (a request in its last packet, a lone ACK),
// whose acknowledgements never moved.
func (c *Conn) Unseen() (d Dir, ok bool) {
	for i := range 2 {
		s, seen := &c.Sides[i], &c.Sides[1-i]
		if s.Packets == 0 && seen.h.ackValid && seen.h.ack.After(seen.h.ack0) {
			return Dir(i), true
		}
	}
	return 0, false
}

// FirstRST returns the side that sent the first RST.
func (c *Conn) FirstRST() (d Dir, at time.Time, ok bool) {
	return first(c.Sides[0].RstAt, c.Sides[1].RstAt)
}

func first(a, b time.Time) (Dir, time.Time, bool) {
	switch {
	case a.IsZero() && b.IsZero():
		return 0, time.Time{}, false
	case b.IsZero() || (!a.IsZero() && !b.Before(a)):
		return ClientToServer, a, true
	default:
		return ServerToClient, b, true
	}
}

// Finished reports whether the connection ended in the capture (a RST, or
// both FINs sent and acknowledged).
func (c *Conn) Finished() bool { return c.finished }

// FinishedBy is the packet number of the segment that finished the
// connection (a RST, or the last ACK of both FINs), 0 when none did.
func (c *Conn) FinishedBy() uint64 { return c.finishN }

// Stream receives what tcpstate reassembles for one connection, in capture
// order. Call order, for one connection:
//
//	Data / Gap / FIN / RST, interleaved in capture order, any number of times
//	Done, exactly once, last
//
// Data delivers bytes of direction d in sequence order with no overlap;
// b is only valid during the call. t is the capture time of the packet that
// carried the bytes. Gap reports n bytes of direction d that the capture
// lacks, between the bytes delivered before and after. FIN is called when
// direction d's FIN is reached in sequence order (every byte before it was
// delivered or reported as a gap). RST is called when side d sends a RST.
// Done is called when the connection is finished and its Conn facts are
// final (or at the end of the input).
//
// No Data, Gap, FIN or RST is delivered before the client side is known
// (from the SYN, or from the first payload). The Stream is created at its
// first call; a half-open connection evicted by the table's cap gets none.
type Stream interface {
	Data(d Dir, b []byte, t time.Time)
	Gap(d Dir, n int, t time.Time)
	FIN(d Dir, t time.Time)
	RST(d Dir, t time.Time)
	Done(c *Conn)
}

// Factory makes the Stream for a connection once its client side is known.
type Factory func(c *Conn) Stream
