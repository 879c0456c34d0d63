package httpflow

import (
	"strconv"
	"time"
)

// Schema is the value of the document's "schema" field.
const Schema = "httplife/v1"

// Time is a capture timestamp. It marshals as RFC 3339 UTC with exactly nine
// fractional digits, and as null when zero.
type Time struct{ time.Time }

// TimeFormat is the layout of every timestamp in the JSON output.
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// At wraps t.
func At(t time.Time) Time { return Time{t} }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return AppendTime(make([]byte, 0, len(TimeFormat)+2), t), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	t.Time = v
	return err
}

// String formats t as in the JSON output ("-" when zero).
func (t Time) String() string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(TimeFormat)
}

// Seconds is a duration that marshals as seconds (a JSON number).
type Seconds float64

// Secs converts d to Seconds, rounded to the nanosecond.
func Secs(d time.Duration) Seconds { return Seconds(d.Seconds()) }

// MarshalJSON writes the shortest representation of the value rounded to 1 ns.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return AppendSeconds(nil, s), nil
}

func roundNS(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 9, 64), 64)
	return v
}

// Side names one end of a connection.
type Side string

// The two sides.
const (
	Client Side = "client"
	Server Side = "server"
	Both   Side = "both"
)

// PerSide is a count per side.
type PerSide struct {
	Client uint64 `json:"client"`
	Server uint64 `json:"server"`
}

// Handshake is the three-way handshake as captured.
type Handshake struct {
	SynAt    Time     `json:"syn_at"`
	SynAckAt Time     `json:"synack_at"`
	AckAt    Time     `json:"ack_at"`
	RTT      *Seconds `json:"rtt_s"`
}

// Transaction is one request and its response.
type Transaction struct {
	Index              int      `json:"index"`
	Method             string   `json:"method"`
	URI                string   `json:"uri"`
	RequestVersion     string   `json:"request_version"`
	Status             *int     `json:"status"`
	ResponseVersion    *string  `json:"response_version"`
	RequestStartAt     Time     `json:"request_start_at"`
	RequestEndAt       Time     `json:"request_end_at"`
	ResponseStartAt    Time     `json:"response_start_at"`
	ResponseEndAt      Time     `json:"response_end_at"`
	RequestBytes       int64    `json:"request_bytes"`
	ResponseBytes      int64    `json:"response_bytes"`
	RequestConnection  *string  `json:"request_connection"`
	ResponseConnection *string  `json:"response_connection"`
	ResponseKeepAlive  *string  `json:"response_keep_alive"`
	ResponseFraming    *string  `json:"response_framing"`
	InterimStatuses    []int    `json:"interim_statuses"`
	Pipelined          bool     `json:"pipelined"`
	Complete           bool     `json:"complete"`
	Tunnel             bool     `json:"tunnel,omitempty"` // extension: CONNECT or Upgrade switched protocols after this transaction
	ThinkTime          *Seconds `json:"server_time_s,omitempty"`
}

// Idle is a period with no HTTP message in flight.
type Idle struct {
	AfterTransaction int     `json:"after_transaction"`
	StartAt          Time    `json:"start_at"`
	EndAt            Time    `json:"end_at"`
	Duration         Seconds `json:"duration_s"`
}

// KeepAlive is what the server advertised and what HTTP rules imply.
type KeepAlive struct {
	AdvertisedTimeout *float64 `json:"advertised_timeout_s"`
	AdvertisedMax     *int     `json:"advertised_max"`
	Persistent        bool     `json:"persistent"`
}

// Close says how and why the connection ended.
type Close struct {
	FirstFinBy  *Side  `json:"first_fin_by"`
	FirstFinAt  Time   `json:"first_fin_at"`
	RstBy       *Side  `json:"rst_by"`
	RstAt       Time   `json:"rst_at"`
	ClientState string `json:"client_state"`
	ServerState string `json:"server_state"`
	Reason      string `json:"reason"`
	Evidence    string `json:"evidence"`
}

// TimeWait says who holds TIME_WAIT and until when.
type TimeWait struct {
	Holder    Side `json:"holder"`
	EnteredAt Time `json:"entered_at"`
	ExpiresAt Time `json:"expires_at"`
}

// Connection is the lifecycle record of one TCP connection.
type Connection struct {
	ID                 int           `json:"id"`
	Client             string        `json:"client"`
	Server             string        `json:"server"`
	ClientGuessed      bool          `json:"client_guessed"`
	SynSeen            bool          `json:"syn_seen"`
	FirstPacketAt      Time          `json:"first_packet_at"`
	LastPacketAt       Time          `json:"last_packet_at"`
	Handshake          *Handshake    `json:"handshake"`
	Packets            PerSide       `json:"packets"`
	PayloadBytes       PerSide       `json:"payload_bytes"`
	Transactions       []Transaction `json:"transactions"`
	IdlePeriods        []Idle        `json:"idle_periods"`
	FinalIdle          *Idle         `json:"final_idle"`
	KeepAlive          KeepAlive     `json:"keep_alive"`
	Close              Close         `json:"close"`
	TimeWait           *TimeWait     `json:"time_wait"`
	TCPKeepaliveProbes PerSide       `json:"tcp_keepalive_probes"`
	Retransmissions    PerSide       `json:"retransmissions"`
	MissingBytes       PerSide       `json:"missing_bytes"`
	Anomalies          []string      `json:"anomalies"`
	StrayCRLFBytes     uint64        `json:"stray_crlf_bytes"` // extension, as in the corpus truth
}

// Close reasons, in the order the spec applies them.
const (
	ReasonKeepaliveRace     = "keepalive-race"
	ReasonReset             = "reset"
	ReasonHTTP10            = "http10-no-keepalive"
	ReasonClientCloseHeader = "client-close-header"
	ReasonMaxRequests       = "max-requests"
	ReasonServerCloseHeader = "server-close-header"
	ReasonServerIdleTimeout = "server-idle-timeout"
	ReasonClientIdleClose   = "client-idle-close"
	ReasonCaptureEnded      = "capture-ended"
	ReasonUnknown           = "unknown"
)

// Reasons lists every close reason in rule order.
var Reasons = []string{
	ReasonKeepaliveRace, ReasonReset, ReasonHTTP10, ReasonClientCloseHeader, ReasonMaxRequests,
	ReasonServerCloseHeader, ReasonServerIdleTimeout, ReasonClientIdleClose, ReasonCaptureEnded, ReasonUnknown,
}

// Distribution summarises a set of durations.
type Distribution struct {
	Count int     `json:"count"`
	P50   Seconds `json:"p50"`
	P90   Seconds `json:"p90"`
	P99   Seconds `json:"p99"`
	Max   Seconds `json:"max"`
}

// PerConn summarises transactions per connection.
type PerConn struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	Max  int     `json:"max"`
}

// ClosedBy counts connections by who ended them.
type ClosedBy struct {
	Client uint64 `json:"client"`
	Server uint64 `json:"server"`
	Reset  uint64 `json:"reset"`
	Open   uint64 `json:"open"`
}

// TimeWaitSummary counts TIME_WAIT holders.
type TimeWaitSummary struct {
	Client         uint64         `json:"client"`
	Server         uint64         `json:"server"`
	Both           uint64         `json:"both"`
	PeakConcurrent map[string]int `json:"peak_concurrent"`
}

// Summary is the whole capture in numbers.
type Summary struct {
	Connections               int             `json:"connections"`
	Transactions              int             `json:"transactions"`
	TransactionsPerConnection PerConn         `json:"transactions_per_connection"`
	ClosedBy                  ClosedBy        `json:"closed_by"`
	Reasons                   map[string]int  `json:"reasons"`
	IdleS                     Distribution    `json:"idle_s"`
	FinalIdleS                Distribution    `json:"final_idle_s"`
	AdvertisedTimeoutsS       map[string]int  `json:"advertised_timeouts_s"`
	TimeWait                  TimeWaitSummary `json:"time_wait"`
	KeepaliveRaces            int             `json:"keepalive_races"`
}

// CaptureInfo is the document's "capture" object.
type CaptureInfo struct {
	Source        string            `json:"source"`
	Format        string            `json:"format"`
	LinkTypes     []string          `json:"link_types"`
	FirstPacketAt Time              `json:"first_packet_at"`
	LastPacketAt  Time              `json:"last_packet_at"`
	Duration      Seconds           `json:"duration_s"`
	Packets       uint64            `json:"packets"`
	TCPPackets    uint64            `json:"tcp_packets"`
	Bytes         uint64            `json:"bytes"`
	Skipped       map[string]uint64 `json:"skipped"`
	Dropped       *uint64           `json:"dropped,omitempty"`
	Evicted       uint64            `json:"evicted_connections,omitempty"`
	Warnings      []string          `json:"warnings"`
}

// Options is the document's "options" object.
type Options struct {
	TwoMSL Seconds `json:"two_msl_s"`
	Ports  string  `json:"ports"`
}

// Document is the whole --format json output.
type Document struct {
	Schema      string       `json:"schema"`
	Capture     CaptureInfo  `json:"capture"`
	Options     Options      `json:"options"`
	Connections []Connection `json:"connections"`
	Summary     Summary      `json:"summary"`
}
