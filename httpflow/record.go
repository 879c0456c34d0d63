package httpflow

import (
	"net/netip"
	"slices"
	"time"

	"github.com/httplife/httplife/tcpstate"
)

// The lifecycle record of one connection, typed. Its wire form, the
// CONNECTION object of shared/spec/lifecycle-json.md, and the encoder that
// writes it are in package render: here endpoints are netip.AddrPort,
// times time.Time (zero: not seen) and durations time.Duration; sides,
// reasons and framings are small types whose String gives the spec's word.

// Side names one end of a connection, or none.
type Side uint8

// The sides. NoSide is the spec's null.
const (
	NoSide Side = iota
	Client
	Server
	Both // TIME_WAIT held by both (a simultaneous close)
)

var sideNames = [...]string{NoSide: "", Client: "client", Server: "server", Both: "both"}

func (s Side) String() string {
	if int(s) < len(sideNames) {
		return sideNames[s]
	}
	return "side?"
}

// sideOf is the Side of a tcpstate direction's sender.
func sideOf(d tcpstate.Dir) Side {
	if d == tcpstate.ServerToClient {
		return Server
	}
	return Client
}

// Reason is why a connection closed: the spec's list, in the order its
// rules apply (the first that applies wins).
type Reason uint8

// The close reasons, in rule order. The zero Reason is no reason (a record
// not classified).
const (
	ReasonKeepaliveRace Reason = iota + 1
	ReasonReset
	ReasonHTTP10
	ReasonClientCloseHeader
	ReasonMaxRequests
	ReasonServerCloseHeader
	ReasonCloseDelimited
	ReasonServerIdleTimeout
	ReasonClientIdleClose
	ReasonCaptureEnded
	ReasonUnknown
)

var reasonNames = [...]string{
	ReasonKeepaliveRace: "keepalive-race", ReasonReset: "reset", ReasonHTTP10: "http10-no-keepalive",
	ReasonClientCloseHeader: "client-close-header", ReasonMaxRequests: "max-requests",
	ReasonServerCloseHeader: "server-close-header", ReasonCloseDelimited: "close-delimited",
	ReasonServerIdleTimeout: "server-idle-timeout", ReasonClientIdleClose: "client-idle-close",
	ReasonCaptureEnded: "capture-ended", ReasonUnknown: "unknown",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason?"
}

// Reasons lists every close reason in rule order.
var Reasons = []Reason{
	ReasonKeepaliveRace, ReasonReset, ReasonHTTP10, ReasonClientCloseHeader, ReasonMaxRequests,
	ReasonServerCloseHeader, ReasonCloseDelimited, ReasonServerIdleTimeout, ReasonClientIdleClose,
	ReasonCaptureEnded, ReasonUnknown,
}

// ParseReason returns the Reason whose String is s.
func ParseReason(s string) (Reason, bool) {
	for _, r := range Reasons {
		if reasonNames[r] == s {
			return r, true
		}
	}
	return 0, false
}

// RaceKind says how a request was lost to a keep-alive race.
type RaceKind uint8

// The kinds of keep-alive race (spec, Additions: close.race.kind).
const (
	// RaceInFlight: the request left the client before the server's FIN
	// reached it; an unavoidable crossing, shortened only by ordering the
	// timeouts.
	RaceInFlight RaceKind = iota + 1
	// RaceStaleReuse: the client had already acknowledged the server's
	// FIN when it sent the request: its pool reused a connection it had
	// been told was closing.
	RaceStaleReuse
	// RaceSilentDrop: no FIN; the request after an idle period was
	// answered by a RST alone (a server, NAT or load balancer had expired
	// the connection without telling the client).
	RaceSilentDrop
)

var raceNames = [...]string{RaceInFlight: "in-flight", RaceStaleReuse: "stale-reuse", RaceSilentDrop: "silent-drop"}

func (k RaceKind) String() string {
	if int(k) < len(raceNames) && raceNames[k] != "" {
		return raceNames[k]
	}
	return "race?"
}

// ParseRaceKind returns the RaceKind whose String is s.
func ParseRaceKind(s string) (RaceKind, bool) {
	for k, name := range raceNames {
		if name == s && s != "" {
			return RaceKind(k), true
		}
	}
	return 0, false
}

// Race is the anatomy of a keep-alive race: the lost request.
type Race struct {
	Kind        RaceKind
	Transaction int    // the lost request's index
	Method      string // its method
	Idempotent  bool   // RFC 9110 §9.2.2: a proxy may retry it
	IdleBefore  time.Duration
	// RSTAckedRequest: a silent drop whose RST acknowledged the request:
	// the server had received it and closed with it unread (its idle
	// timeout fired as the request arrived), rather than a middlebox.
	RSTAckedRequest bool
}

// PerSide is a count per side.
type PerSide struct {
	Client, Server uint64
}

// Handshake is the three-way handshake as captured; a time is zero when
// its packet was not.
type Handshake struct {
	SynAt, SynAckAt, AckAt time.Time
}

// RTT is AckAt − SynAt, ok=false when the final ACK was not captured.
func (h *Handshake) RTT() (time.Duration, bool) {
	if h.AckAt.IsZero() {
		return 0, false
	}
	return h.AckAt.Sub(h.SynAt), true
}

// Transaction is one request and its response. A time is zero when the
// message (or that byte of it) was not seen.
type Transaction struct {
	Index                          int // 1-based on the connection
	Method, URI, RequestVersion    string
	Status                         int    // 0: no final response
	ResponseVersion                string // "": no final response
	RequestStartAt, RequestEndAt   time.Time
	ResponseStartAt, ResponseEndAt time.Time
	RequestBytes, ResponseBytes    int64
	// The Connection headers (lower-cased) and the raw Keep-Alive header
	// of the response; nil when absent.
	RequestConnection, ResponseConnection, ResponseKeepAlive *string
	// Inferred: on a TLS connection that was not decrypted, the
	// transaction was inferred from the records (Method, URI, Status and
	// versions are then empty; times and sizes are the records').
	Inferred bool
	// RequestID is the request's correlation id, the value of the first
	// of X-Request-Id, X-Correlation-Id, X-Amzn-Trace-Id, traceparent or
	// X-B3-TraceId it carried (at most 128 bytes); "" when none.
	RequestID string
	// Framing is how the response's body ended (BodyUnknown: no final
	// response). A tunnel's response is BodyNone with Tunnel set.
	Framing         BodyKind
	InterimStatuses []int
	Pipelined       bool
	Complete        bool
	Tunnel          bool // CONNECT or Upgrade switched protocols after this transaction
	// ResponseLost: the response was among server bytes the capture lost
	// (a gap before the next response, on a connection that does not
	// pipeline; anomaly response-not-captured). Status and the response's
	// times are then unknown; the request was answered. Not on the wire.
	ResponseLost bool
	// ServerTime is request end to response start, when HasServerTime.
	ServerTime    time.Duration
	HasServerTime bool
	// When the capture holds both legs of a proxy: the upstream
	// transactions this downstream one caused, in the order tried, or the
	// downstream transaction this upstream one served (summary's links).
	Upstream   []TxRef
	Downstream *TxRef
}

// Answered reports whether the transaction got its final response: a
// status, for an inferred one response records, or a response the capture
// lost.
func (t *Transaction) Answered() bool {
	return t.Status != 0 || t.Inferred && !t.ResponseEndAt.IsZero() || t.ResponseLost
}

// TxRef names a transaction: a connection id and a transaction index.
type TxRef struct{ Conn, Tx int }

// Idle is a period with no HTTP message in flight, after transaction
// AfterTransaction (0: from the handshake).
type Idle struct {
	AfterTransaction int
	StartAt, EndAt   time.Time
	Duration         time.Duration
}

// KeepAlive is what the server advertised and what HTTP rules imply.
type KeepAlive struct {
	AdvertisedTimeout *float64 // seconds, from Keep-Alive: timeout=
	AdvertisedMax     *int
	// Persistent: by HTTP/1.x rules the connection should have stayed open
	// after the last transaction (decided at its response's header time).
	Persistent bool
}

// Close says how and why the connection ended.
type Close struct {
	FirstFinBy               Side
	FirstFinAt               time.Time
	RstBy                    Side
	RstAt                    time.Time
	ClientState, ServerState tcpstate.State
	Reason                   Reason
	Evidence                 string
	Race                     *Race // set when Reason is ReasonKeepaliveRace
	// GoAwayAt is when an HTTP/2 server sent its first GOAWAY, which
	// starts its close (the FIN may follow a second later); zero when
	// none. Not in the wire record: the evidence cites it, and the summary
	// takes a server's idle timeout from it.
	GoAwayAt time.Time
}

// TimeWait says who holds TIME_WAIT and until when.
type TimeWait struct {
	Holder               Side
	EnteredAt, ExpiresAt time.Time
}

// Connection is the lifecycle record of one TCP connection.
type Connection struct {
	ID                            int
	Client, Server                netip.AddrPort
	ClientGuessed                 bool
	SynSeen                       bool
	FirstPacketAt, LastPacketAt   time.Time
	Handshake                     *Handshake // nil when no SYN was captured
	Packets, PayloadBytes         PerSide
	Transactions                  []Transaction
	IdlePeriods                   []Idle
	FinalIdle                     *Idle
	KeepAlive                     KeepAlive
	Close                         Close
	TimeWait                      *TimeWait
	TCPKeepaliveProbes            PerSide
	Retransmissions, MissingBytes PerSide
	Anomalies                     []string
	StrayCRLFBytes                uint64
	// History is each side's TCP events in the letters of Zeek's conn.log
	// (upper case client, lower case server).
	History string
	// How the connection was carried and named across tools: the
	// Community ID v1 of its (inner) 5-tuple, its 802.1Q/802.1ad ids
	// (outer first; nil when untagged), its encapsulations (outermost
	// first; nil when none), its TLS facts (nil for cleartext).
	CommunityID string
	VLAN        []uint16
	Tunnel      []Tunnel
	TLS         *TLS
	// Unseen is the side none of whose packets the capture holds although
	// the other's show the connection took place (tcpstate.Conn.Unseen):
	// a mirror or filter that kept one direction. NoSide normally. Not on
	// the wire: the anomaly client- or server-packets-not-captured says it.
	Unseen Side
	// Notes are warnings about this connection for the capture's list
	// (a TLS connection without its secrets); not part of the record's
	// wire form.
	Notes []string
}

// Tunnel is one encapsulation a connection's packets were carried in.
type Tunnel struct {
	Type     string // "vxlan", "geneve", "gre", "erspan", "mpls", "pppoe", "ipip", "ip6ip", "teredo"
	OuterSrc netip.Addr
	OuterDst netip.Addr
	ID       uint32 // VNI, GRE key, ERSPAN session, MPLS label, PPPoE session, when HasID
	HasID    bool
}

// TLS is what a TLS connection showed: the negotiated version, the
// ClientHello's server name and the chosen ALPN protocol ("" when not
// seen), whether its records were decrypted, who sent close_notify first.
type TLS struct {
	Version       string // "TLS 1.2", "TLS 1.3", …
	SNI, ALPN     string
	Decrypted     bool
	CloseNotifyBy Side
	// ClientEnded: the client's close_notify came before the server's
	// first FIN (and before any close_notify of the server's): the client
	// ended the session and the server's FIN answered it, so the server's
	// idle close is no idle timeout of its own. Not on the wire: the
	// close's evidence says it.
	ClientEnded bool
}

// IdleUnknown reports whether c's final idle is no measured idle: c was
// open before the capture began (no SYN) and carried no exchange the
// capture holds, so its final idle runs from its first packet captured
// (the tail of a response whose start the capture missed, or the close
// itself), not from the end of a response (a response whose request the
// capture lacks, response-without-request, is one). As on every busy
// connection when tcpdump starts.
func (c *Connection) IdleUnknown() bool {
	return !c.SynSeen && len(c.Transactions) == 0 && c.FinalIdle != nil && c.FinalIdle.StartAt.Equal(c.FirstPacketAt) &&
		!slices.Contains(c.Anomalies, "response-without-request")
}

// AwaitingFrom returns the index of c's first transaction that was still
// waiting for its response when the capture ended: c's FIN and RST were
// not captured, and neither it nor any later request was answered
// (len(c.Transactions) when none was). Such a request is not known to be
// unanswered: the capture stopped first.
func (c *Connection) AwaitingFrom() int {
	n := len(c.Transactions)
	if c.Close.FirstFinBy != NoSide || c.Close.RstBy != NoSide {
		return n
	}
	for n > 0 && !c.Transactions[n-1].Answered() {
		n--
	}
	return n
}

// ClosedByReset reports whether a RST ended the connection (before both
// FINs were exchanged).
func (c *Connection) ClosedByReset() bool {
	return c.Close.RstBy != NoSide && (c.Close.Reason == ReasonReset || c.Close.FirstFinBy == NoSide ||
		c.Close.RstAt.Before(c.Close.FirstFinAt))
}

// Closer says who ended c first and how: a side with "FIN" or "RST", or
// NoSide and "" when the capture holds neither.
func (c *Connection) Closer() (Side, string) {
	cl := &c.Close
	rst := cl.RstBy != NoSide && !cl.RstAt.IsZero()
	fin := cl.FirstFinBy != NoSide && !cl.FirstFinAt.IsZero()
	switch {
	case rst && (!fin || cl.RstAt.Before(cl.FirstFinAt)):
		return cl.RstBy, "RST"
	case fin:
		return cl.FirstFinBy, "FIN"
	case cl.RstBy != NoSide:
		return cl.RstBy, "RST"
	case cl.FirstFinBy != NoSide:
		return cl.FirstFinBy, "FIN"
	}
	return NoSide, ""
}
