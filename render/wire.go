package render

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/tcpstate"
)

// The wire schema: the JSON objects of shared/spec/lifecycle-json.md (the
// copy in docs/lifecycle-json.md), as Go types that encoding/json writes
// in the contract's field order, and the conversions from the typed
// records of httpflow. WriteJSON and NDJSON write the connection records
// with the hand-written encoder (jsonenc.go), which tests hold byte for
// byte to encoding/json of these types; change the two together. The
// types are also what a program reads the output back into.

// Time is a capture timestamp on the wire: RFC 3339 UTC with exactly nine
// fractional digits, or null when zero.
type Time struct{ time.Time }

// TimeFormat is the layout of every timestamp in the JSON output.
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// At wraps t.
func At(t time.Time) Time { return Time{t} }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return AppendTime(make([]byte, 0, len(TimeFormat)+2), t.Time), nil
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

// Seconds is a duration on the wire: seconds, a JSON number rounded to
// the nanosecond.
type Seconds float64

// Secs converts d to Seconds.
func Secs(d time.Duration) Seconds { return Seconds(d.Seconds()) }

// MarshalJSON writes the shortest representation of the value rounded to 1 ns.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return AppendSeconds(nil, s), nil
}

func roundNS(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 9, 64), 64)
	return v
}

// WirePerSide is a count per side.
type WirePerSide struct {
	Client uint64 `json:"client"`
	Server uint64 `json:"server"`
}

// WireHandshake is the three-way handshake.
type WireHandshake struct {
	SynAt    Time     `json:"syn_at"`
	SynAckAt Time     `json:"synack_at"`
	AckAt    Time     `json:"ack_at"`
	RTT      *Seconds `json:"rtt_s"`
}

// WireTransaction is one request and its response.
type WireTransaction struct {
	Index              int         `json:"index"`
	Method             *string     `json:"method"` // null for an inferred transaction
	URI                *string     `json:"uri"`
	RequestVersion     *string     `json:"request_version"`
	Status             *int        `json:"status"`
	ResponseVersion    *string     `json:"response_version"`
	RequestStartAt     Time        `json:"request_start_at"`
	RequestEndAt       Time        `json:"request_end_at"`
	ResponseStartAt    Time        `json:"response_start_at"`
	ResponseEndAt      Time        `json:"response_end_at"`
	RequestBytes       int64       `json:"request_bytes"`
	ResponseBytes      int64       `json:"response_bytes"`
	RequestConnection  *string     `json:"request_connection"`
	ResponseConnection *string     `json:"response_connection"`
	ResponseKeepAlive  *string     `json:"response_keep_alive"`
	ResponseFraming    *string     `json:"response_framing"`
	InterimStatuses    []int       `json:"interim_statuses"`
	Pipelined          bool        `json:"pipelined"`
	Complete           bool        `json:"complete"`
	Tunnel             bool        `json:"tunnel,omitempty"` // extension: CONNECT or Upgrade switched protocols after this transaction
	ServerTime         *Seconds    `json:"server_time_s,omitempty"`
	RequestID          string      `json:"request_id,omitempty"` // extension: X-Request-Id, traceparent, …
	Upstream           []WireTxRef `json:"upstream"`
	Downstream         *WireTxRef  `json:"downstream"`
	Inferred           bool        `json:"inferred"`
}

// WireTxRef names a transaction of another connection.
type WireTxRef struct {
	Connection  int `json:"connection"`
	Transaction int `json:"transaction"`
}

// WireIdle is a period with no HTTP message in flight.
type WireIdle struct {
	AfterTransaction int     `json:"after_transaction"`
	StartAt          Time    `json:"start_at"`
	EndAt            Time    `json:"end_at"`
	Duration         Seconds `json:"duration_s"`
}

// WireKeepAlive is what the server advertised and what HTTP rules imply.
type WireKeepAlive struct {
	AdvertisedTimeout *float64 `json:"advertised_timeout_s"`
	AdvertisedMax     *int     `json:"advertised_max"`
	Persistent        bool     `json:"persistent"`
}

// WireRace is the anatomy of a keep-alive race (close.race).
type WireRace struct {
	Kind        string  `json:"kind"`
	Transaction int     `json:"transaction"`
	Method      string  `json:"method"`
	Idempotent  bool    `json:"idempotent"`
	IdleBefore  Seconds `json:"idle_before_s"`
	// Extension: the RST of a silent drop acknowledged the request.
	RSTAckedRequest bool `json:"rst_acked_request"`
}

// WireClose says how and why the connection ended.
type WireClose struct {
	FirstFinBy  *string   `json:"first_fin_by"`
	FirstFinAt  Time      `json:"first_fin_at"`
	RstBy       *string   `json:"rst_by"`
	RstAt       Time      `json:"rst_at"`
	ClientState string    `json:"client_state"`
	ServerState string    `json:"server_state"`
	Reason      string    `json:"reason"`
	Evidence    string    `json:"evidence"`
	Race        *WireRace `json:"race"`
}

// WireTimeWait says who holds TIME_WAIT and until when.
type WireTimeWait struct {
	Holder    string `json:"holder"`
	EnteredAt Time   `json:"entered_at"`
	ExpiresAt Time   `json:"expires_at"`
}

// WireConnection is the CONNECTION object.
type WireConnection struct {
	ID                 int               `json:"id"`
	Client             string            `json:"client"`
	Server             string            `json:"server"`
	ClientGuessed      bool              `json:"client_guessed"`
	SynSeen            bool              `json:"syn_seen"`
	FirstPacketAt      Time              `json:"first_packet_at"`
	LastPacketAt       Time              `json:"last_packet_at"`
	Handshake          *WireHandshake    `json:"handshake"`
	Packets            WirePerSide       `json:"packets"`
	PayloadBytes       WirePerSide       `json:"payload_bytes"`
	Transactions       []WireTransaction `json:"transactions"`
	IdlePeriods        []WireIdle        `json:"idle_periods"`
	FinalIdle          *WireIdle         `json:"final_idle"`
	KeepAlive          WireKeepAlive     `json:"keep_alive"`
	Close              WireClose         `json:"close"`
	TimeWait           *WireTimeWait     `json:"time_wait"`
	TCPKeepaliveProbes WirePerSide       `json:"tcp_keepalive_probes"`
	Retransmissions    WirePerSide       `json:"retransmissions"`
	MissingBytes       WirePerSide       `json:"missing_bytes"`
	Anomalies          []string          `json:"anomalies"`
	StrayCRLFBytes     uint64            `json:"stray_crlf_bytes"` // extension, as in the corpus truth
	History            string            `json:"history"`
	CommunityID        string            `json:"community_id"`
	VLAN               []int             `json:"vlan"`
	Tunnel             []WireTunnel      `json:"tunnel"`
	TLS                *WireTLS          `json:"tls"`
}

// WireTunnel is one encapsulation, outermost first; the outer addresses
// are null for one with no IP header of its own (MPLS, PPPoE).
type WireTunnel struct {
	Type     string  `json:"type"`
	OuterSrc *string `json:"outer_src"`
	OuterDst *string `json:"outer_dst"`
	ID       *uint32 `json:"id"`
}

// WireTLS is a TLS connection's facts.
type WireTLS struct {
	Version       string  `json:"version"`
	SNI           *string `json:"sni"`
	ALPN          *string `json:"alpn"`
	Decrypted     bool    `json:"decrypted"`
	CloseNotifyBy *string `json:"close_notify_by"`
}

func wirePerSide(p httpflow.PerSide) WirePerSide { return WirePerSide{p.Client, p.Server} }

func wireSide(s httpflow.Side) *string {
	if s == httpflow.NoSide {
		return nil
	}
	v := s.String()
	return &v
}

func wireIdle(i *httpflow.Idle) WireIdle {
	return WireIdle{AfterTransaction: i.AfterTransaction, StartAt: At(i.StartAt), EndAt: At(i.EndAt), Duration: Secs(i.Duration)}
}

// Wire returns the wire form of a record.
func Wire(c *httpflow.Connection) WireConnection {
	w := WireConnection{
		ID:                 c.ID,
		Client:             c.Client.String(),
		Server:             c.Server.String(),
		ClientGuessed:      c.ClientGuessed,
		SynSeen:            c.SynSeen,
		FirstPacketAt:      At(c.FirstPacketAt),
		LastPacketAt:       At(c.LastPacketAt),
		Packets:            wirePerSide(c.Packets),
		PayloadBytes:       wirePerSide(c.PayloadBytes),
		KeepAlive:          WireKeepAlive{c.KeepAlive.AdvertisedTimeout, c.KeepAlive.AdvertisedMax, c.KeepAlive.Persistent},
		TCPKeepaliveProbes: wirePerSide(c.TCPKeepaliveProbes),
		Retransmissions:    wirePerSide(c.Retransmissions),
		MissingBytes:       wirePerSide(c.MissingBytes),
		Anomalies:          c.Anomalies,
		StrayCRLFBytes:     c.StrayCRLFBytes,
		History:            c.History,
		CommunityID:        c.CommunityID,
	}
	if c.VLAN != nil {
		w.VLAN = make([]int, len(c.VLAN))
		for i, v := range c.VLAN {
			w.VLAN[i] = int(v)
		}
	}
	if c.Tunnel != nil {
		w.Tunnel = make([]WireTunnel, len(c.Tunnel))
		for i, t := range c.Tunnel {
			w.Tunnel[i] = WireTunnel{Type: t.Type, OuterSrc: wireAddr(t.OuterSrc), OuterDst: wireAddr(t.OuterDst)}
			if t.HasID {
				id := t.ID
				w.Tunnel[i].ID = &id
			}
		}
	}
	if t := c.TLS; t != nil {
		w.TLS = &WireTLS{Version: t.Version, Decrypted: t.Decrypted, CloseNotifyBy: wireSide(t.CloseNotifyBy)}
		if t.SNI != "" {
			v := t.SNI
			w.TLS.SNI = &v
		}
		if t.ALPN != "" {
			v := t.ALPN
			w.TLS.ALPN = &v
		}
	}
	if h := c.Handshake; h != nil {
		w.Handshake = &WireHandshake{SynAt: At(h.SynAt), SynAckAt: At(h.SynAckAt), AckAt: At(h.AckAt)}
		if rtt, ok := h.RTT(); ok {
			s := Secs(rtt)
			w.Handshake.RTT = &s
		}
	}
	if c.Transactions != nil {
		w.Transactions = make([]WireTransaction, len(c.Transactions))
		for i := range c.Transactions {
			w.Transactions[i] = wireTransaction(&c.Transactions[i])
		}
	}
	if c.IdlePeriods != nil {
		w.IdlePeriods = make([]WireIdle, len(c.IdlePeriods))
		for i := range c.IdlePeriods {
			w.IdlePeriods[i] = wireIdle(&c.IdlePeriods[i])
		}
	}
	if c.FinalIdle != nil {
		f := wireIdle(c.FinalIdle)
		w.FinalIdle = &f
	}
	cl := &c.Close
	w.Close = WireClose{
		FirstFinBy: wireSide(cl.FirstFinBy), FirstFinAt: At(cl.FirstFinAt),
		RstBy: wireSide(cl.RstBy), RstAt: At(cl.RstAt),
		ClientState: cl.ClientState.String(), ServerState: cl.ServerState.String(),
		Reason: cl.Reason.String(), Evidence: cl.Evidence,
	}
	if r := cl.Race; r != nil {
		w.Close.Race = &WireRace{Kind: r.Kind.String(), Transaction: r.Transaction, Method: r.Method,
			Idempotent: r.Idempotent, IdleBefore: Secs(r.IdleBefore), RSTAckedRequest: r.RSTAckedRequest}
	}
	if tw := c.TimeWait; tw != nil {
		w.TimeWait = &WireTimeWait{Holder: tw.Holder.String(), EnteredAt: At(tw.EnteredAt), ExpiresAt: At(tw.ExpiresAt)}
	}
	return w
}

func wireTransaction(t *httpflow.Transaction) WireTransaction {
	w := WireTransaction{
		Index:              t.Index,
		Method:             strOrNil(!t.Inferred, t.Method),
		URI:                strOrNil(!t.Inferred, t.URI),
		RequestVersion:     strOrNil(!t.Inferred, t.RequestVersion),
		RequestStartAt:     At(t.RequestStartAt),
		RequestEndAt:       At(t.RequestEndAt),
		ResponseStartAt:    At(t.ResponseStartAt),
		ResponseEndAt:      At(t.ResponseEndAt),
		RequestBytes:       t.RequestBytes,
		ResponseBytes:      t.ResponseBytes,
		RequestConnection:  t.RequestConnection,
		ResponseConnection: t.ResponseConnection,
		ResponseKeepAlive:  t.ResponseKeepAlive,
		InterimStatuses:    t.InterimStatuses,
		Pipelined:          t.Pipelined,
		Complete:           t.Complete,
		Tunnel:             t.Tunnel,
	}
	if t.Status != 0 {
		st := t.Status
		w.Status = &st
	}
	if t.ResponseVersion != "" {
		v := t.ResponseVersion
		w.ResponseVersion = &v
	}
	if t.Framing != httpflow.BodyUnknown {
		f := t.Framing.String()
		w.ResponseFraming = &f
	}
	w.RequestID = t.RequestID
	if t.HasServerTime {
		s := Secs(t.ServerTime)
		w.ServerTime = &s
	}
	if t.Upstream != nil {
		w.Upstream = make([]WireTxRef, len(t.Upstream))
		for i, r := range t.Upstream {
			w.Upstream[i] = WireTxRef{r.Conn, r.Tx}
		}
	}
	if r := t.Downstream; r != nil {
		w.Downstream = &WireTxRef{r.Conn, r.Tx}
	}
	w.Inferred = t.Inferred
	return w
}

// WireCapture is the document's capture object.
type WireCapture struct {
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
	Files         []string          `json:"files"`
	Filter        *string           `json:"filter"`
	Duplicates    uint64            `json:"duplicates"`
}

// WireCaptureOf returns the wire form of the capture object.
func WireCaptureOf(ci *httpflow.CaptureInfo) WireCapture {
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	w := WireCapture{
		Source: ci.Source, Format: ci.Format, LinkTypes: orEmpty(ci.LinkTypes),
		FirstPacketAt: At(ci.FirstPacketAt), LastPacketAt: At(ci.LastPacketAt), Duration: Secs(ci.Duration),
		Packets: ci.Packets, TCPPackets: ci.TCPPackets, Bytes: ci.Bytes,
		Skipped: map[string]uint64{
			"non_tcp": ci.Skipped.NonTCP, "undecodable": ci.Skipped.Undecodable, "truncated": ci.Skipped.Truncated,
			"fragments": ci.Skipped.Fragments,
		},
		Dropped: ci.Dropped, Evicted: ci.Evicted, Warnings: orEmpty(ci.Warnings),
		Files: ci.Files, Duplicates: ci.Duplicates,
	}
	if ci.Filter != "" {
		f := ci.Filter
		w.Filter = &f
	}
	return w
}

// WireOptions is the document's options object.
type WireOptions struct {
	TwoMSL Seconds `json:"two_msl_s"`
	Ports  string  `json:"ports"`
}

// WireDistribution summarises a set of durations.
type WireDistribution struct {
	Count int     `json:"count"`
	P50   Seconds `json:"p50"`
	P90   Seconds `json:"p90"`
	P99   Seconds `json:"p99"`
	Max   Seconds `json:"max"`
}

// WirePerConn summarises transactions per connection.
type WirePerConn struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	Max  int     `json:"max"`
}

// WireClosedBy counts connections by who ended them.
type WireClosedBy struct {
	Client uint64 `json:"client"`
	Server uint64 `json:"server"`
	Reset  uint64 `json:"reset"`
	Open   uint64 `json:"open"`
}

// WireTimeWaitSummary counts TIME_WAIT holders.
type WireTimeWaitSummary struct {
	Client         uint64         `json:"client"`
	Server         uint64         `json:"server"`
	Both           uint64         `json:"both"`
	PeakConcurrent map[string]int `json:"peak_concurrent"`
}

// WireSummary is the SUMMARY object.
type WireSummary struct {
	Connections               int                 `json:"connections"`
	Transactions              int                 `json:"transactions"`
	TransactionsPerConnection WirePerConn         `json:"transactions_per_connection"`
	ClosedBy                  WireClosedBy        `json:"closed_by"`
	Reasons                   map[string]int      `json:"reasons"`
	IdleS                     WireDistribution    `json:"idle_s"`
	FinalIdleS                WireDistribution    `json:"final_idle_s"`
	AdvertisedTimeoutsS       map[string]int      `json:"advertised_timeouts_s"`
	TimeWait                  WireTimeWaitSummary `json:"time_wait"`
	KeepaliveRaces            int                 `json:"keepalive_races"`
	Servers                   []WireServer        `json:"servers"`
	Advice                    []WireAdvice        `json:"advice"`
	Findings                  []string            `json:"findings"` // extension: the key findings, one sentence each
}

// WireServer is one server endpoint of summary.servers.
type WireServer struct {
	Server            string       `json:"server"`
	Connections       int          `json:"connections"`
	Transactions      int          `json:"transactions"`
	IdleTimeout       *Seconds     `json:"idle_timeout_s"`
	IdleTimeoutSpread *Seconds     `json:"idle_timeout_spread_s"`
	IdleTimeoutBasis  int          `json:"idle_timeout_basis"`
	AdvertisedTimeout *float64     `json:"advertised_timeout_s"`
	ClientIdleClose   *Seconds     `json:"client_idle_close_s"`
	Races             int          `json:"races"`
	WhatIf            []WireWhatIf `json:"what_if"`
	// Extensions.
	Hint              *string        `json:"hint"`        // a well-known default the idle timeout matches: a hint, not a finding
	ClientHint        *string        `json:"client_hint"` // the same for client_idle_close_s
	RacesByKind       map[string]int `json:"races_by_kind"`
	LongestReuse      *Seconds       `json:"longest_reuse_s"` // the longest idle after which a client sent a request
	NearTimeout       int            `json:"near_timeout"`    // requests that reused a connection idle ≥ 90 % of idle_timeout_s
	Upstreams         []string       `json:"upstreams"`       // servers this one proxies to (proxy legs)
	Downstreams       []string       `json:"downstreams"`     // proxies in front of this one
	DownstreamErrors  int            `json:"downstream_errors"`
	RetriedOK         int            `json:"retried_ok"`
	RacesFromUpstream int            `json:"races_from_upstream"`
	ReplayCheck       *string        `json:"replay_check"`
	Formula           *WireFormula   `json:"formula"`
}

// WireFormula is the tuning guides' seed beside the replay (extension).
type WireFormula struct {
	Timeout         Seconds `json:"timeout_s"`
	RequestsPerSec  float64 `json:"requests_per_s"`
	RequestsPerConn float64 `json:"requests_per_connection"`
	Processes       float64 `json:"processes"`
	ReplayIdleMean  float64 `json:"replay_idle_mean"`
	ReplayBusyMean  float64 `json:"replay_busy_mean"`
	ReplayHeldMean  float64 `json:"replay_held_mean"`
	DiffersBecause  string  `json:"differs_because"`
}

// WireWhatIf is one replay of a server's request arrivals.
type WireWhatIf struct {
	Timeout            Seconds `json:"timeout_s"`
	Connections        int     `json:"connections"`
	IdleMean           float64 `json:"idle_connections_mean"`
	IdlePeak           int     `json:"idle_connections_peak"`
	TimeWaitPeak       int     `json:"time_wait_peak"`
	Races              int     `json:"races"`
	TimeWaitHolder     string  `json:"time_wait_holder"`      // extension
	ClientTimeWaitPeak int     `json:"client_time_wait_peak"` // extension: the most one client host holds
	Reused             int     `json:"reused"`                // extension: requests on an idle connection
	Inferred           bool    `json:"inferred"`              // extension: the inferred timeout
}

// WireAdvice is one piece of advice.
type WireAdvice struct {
	Kind   string  `json:"kind"`
	Server *string `json:"server"`
	Text   string  `json:"text"`
}

func wireDistribution(d httpflow.Distribution) WireDistribution {
	return WireDistribution{d.Count, Seconds(d.P50), Seconds(d.P90), Seconds(d.P99), Seconds(d.Max)}
}

// WireSummaryOf returns the wire form of the summary.
func WireSummaryOf(s *httpflow.Summary) WireSummary {
	w := WireSummary{
		Connections: s.Connections, Transactions: s.Transactions,
		TransactionsPerConnection: WirePerConn{s.TransactionsPerConnection.Mean, s.TransactionsPerConnection.P50, s.TransactionsPerConnection.Max},
		ClosedBy:                  WireClosedBy{s.ClosedBy.Client, s.ClosedBy.Server, s.ClosedBy.Reset, s.ClosedBy.Open},
		Reasons:                   map[string]int{},
		IdleS:                     wireDistribution(s.IdleS),
		FinalIdleS:                wireDistribution(s.FinalIdleS),
		AdvertisedTimeoutsS:       s.AdvertisedTimeoutsS,
		TimeWait:                  WireTimeWaitSummary{s.TimeWait.Client, s.TimeWait.Server, s.TimeWait.Both, s.TimeWait.PeakConcurrent},
		KeepaliveRaces:            s.KeepaliveRaces,
	}
	for r, n := range s.Reasons {
		w.Reasons[r.String()] = n
	}
	if s.Servers != nil {
		w.Servers = make([]WireServer, len(s.Servers))
		for i := range s.Servers {
			w.Servers[i] = wireServer(&s.Servers[i])
		}
	}
	if s.Advice != nil {
		w.Advice = make([]WireAdvice, len(s.Advice))
		for i, a := range s.Advice {
			w.Advice[i] = WireAdvice{Kind: a.Kind, Text: a.Text}
			if a.Server.IsValid() {
				srv := a.Server.String()
				w.Advice[i].Server = &srv
			}
		}
	}
	w.Findings = s.Findings
	if w.AdvertisedTimeoutsS == nil {
		w.AdvertisedTimeoutsS = map[string]int{}
	}
	if w.TimeWait.PeakConcurrent == nil {
		w.TimeWait.PeakConcurrent = map[string]int{}
	}
	return w
}

func wireServer(s *httpflow.ServerSummary) WireServer {
	w := WireServer{Server: s.Server.String(), Connections: s.Connections, Transactions: s.Transactions,
		IdleTimeoutBasis: s.Basis, Races: s.Races, WhatIf: []WireWhatIf{}}
	if s.HasIdleTimeout {
		t, sp := Secs(s.IdleTimeout), Secs(s.Spread)
		w.IdleTimeout, w.IdleTimeoutSpread = &t, &sp
	}
	if s.HasAdvertised {
		a := s.Advertised
		w.AdvertisedTimeout = &a
	}
	if s.HasClientIdleClose {
		c := Secs(s.ClientIdleClose)
		w.ClientIdleClose = &c
	}
	str := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	r3 := func(f float64) float64 { return math.Round(f*1000) / 1000 }
	w.Hint, w.ClientHint, w.ReplayCheck = str(s.Hint), str(s.ClientHint), str(s.ReplayCheck)
	w.RacesByKind = map[string]int{}
	for k, n := range s.RacesByKind {
		w.RacesByKind[k.String()] = n
	}
	if s.LongestReuse > 0 {
		l := Secs(s.LongestReuse)
		w.LongestReuse = &l
	}
	w.NearTimeout, w.DownstreamErrors, w.RetriedOK, w.RacesFromUpstream = s.NearTimeout, s.DownstreamErrors, s.RetriedOK, s.RacesFromUpstream
	w.Upstreams, w.Downstreams = []string{}, []string{}
	for _, a := range s.Upstreams {
		w.Upstreams = append(w.Upstreams, a.String())
	}
	for _, a := range s.Downstreams {
		w.Downstreams = append(w.Downstreams, a.String())
	}
	if f := s.Formula; f.Valid {
		w.Formula = &WireFormula{Timeout: Secs(f.Timeout), RequestsPerSec: r3(f.RequestsPerSec), RequestsPerConn: r3(f.RequestsPerConn),
			Processes: r3(f.Processes), ReplayIdleMean: r3(f.ReplayIdleMean), ReplayBusyMean: r3(f.ReplayBusyMean),
			ReplayHeldMean: r3(f.ReplayHeldMean), DiffersBecause: f.DiffersBecause}
	}
	for _, x := range s.WhatIf {
		w.WhatIf = append(w.WhatIf, WireWhatIf{Timeout: Secs(x.Timeout), Connections: x.Connections,
			IdleMean: math.Round(x.IdleMean*1000) / 1000, IdlePeak: x.IdlePeak, TimeWaitPeak: x.TimeWaitPeak, Races: x.Races,
			TimeWaitHolder: x.TimeWaitHolder, ClientTimeWaitPeak: x.ClientTimeWaitPeak, Reused: x.Reused, Inferred: x.Inferred})
	}
	return w
}

// WireDocument is the whole --format json output.
type WireDocument struct {
	Schema      string           `json:"schema"`
	Capture     WireCapture      `json:"capture"`
	Options     WireOptions      `json:"options"`
	Connections []WireConnection `json:"connections"`
	Summary     WireSummary      `json:"summary"`
}

// WireDocumentOf returns the wire form of a whole document.
func WireDocumentOf(d *httpflow.Document) WireDocument {
	w := WireDocument{
		Schema:  httpflow.Schema,
		Capture: WireCaptureOf(&d.Capture),
		Options: WireOptions{Secs(d.Options.TwoMSL), d.Options.Ports},
		Summary: WireSummaryOf(&d.Summary),
	}
	if d.Connections != nil {
		w.Connections = make([]WireConnection, len(d.Connections))
		for i := range d.Connections {
			w.Connections[i] = Wire(&d.Connections[i])
		}
	}
	return w
}

// FromWire reads a record back from its wire form (a program reading the
// JSON output, the tests). It is the inverse of Wire for everything Wire
// writes.
func FromWire(w *WireConnection) (httpflow.Connection, error) {
	c := httpflow.Connection{
		ID: w.ID, ClientGuessed: w.ClientGuessed, SynSeen: w.SynSeen,
		FirstPacketAt: w.FirstPacketAt.Time, LastPacketAt: w.LastPacketAt.Time,
		Packets: httpflow.PerSide(w.Packets), PayloadBytes: httpflow.PerSide(w.PayloadBytes),
		KeepAlive:          httpflow.KeepAlive{AdvertisedTimeout: w.KeepAlive.AdvertisedTimeout, AdvertisedMax: w.KeepAlive.AdvertisedMax, Persistent: w.KeepAlive.Persistent},
		TCPKeepaliveProbes: httpflow.PerSide(w.TCPKeepaliveProbes),
		Retransmissions:    httpflow.PerSide(w.Retransmissions), MissingBytes: httpflow.PerSide(w.MissingBytes),
		Anomalies: w.Anomalies, StrayCRLFBytes: w.StrayCRLFBytes, History: w.History,
	}
	var err error
	if c.Client, err = netip.ParseAddrPort(w.Client); err != nil {
		return c, fmt.Errorf("client: %v", err)
	}
	if c.Server, err = netip.ParseAddrPort(w.Server); err != nil {
		return c, fmt.Errorf("server: %v", err)
	}
	if h := w.Handshake; h != nil {
		c.Handshake = &httpflow.Handshake{SynAt: h.SynAt.Time, SynAckAt: h.SynAckAt.Time, AckAt: h.AckAt.Time}
	}
	if w.Transactions != nil {
		c.Transactions = make([]httpflow.Transaction, len(w.Transactions))
		for i := range w.Transactions {
			t, x := &w.Transactions[i], &c.Transactions[i]
			*x = httpflow.Transaction{Index: t.Index, Method: Deref(t.Method), URI: Deref(t.URI), RequestVersion: Deref(t.RequestVersion),
				RequestStartAt: t.RequestStartAt.Time, RequestEndAt: t.RequestEndAt.Time,
				ResponseStartAt: t.ResponseStartAt.Time, ResponseEndAt: t.ResponseEndAt.Time,
				RequestBytes: t.RequestBytes, ResponseBytes: t.ResponseBytes,
				RequestConnection: t.RequestConnection, ResponseConnection: t.ResponseConnection, ResponseKeepAlive: t.ResponseKeepAlive,
				InterimStatuses: t.InterimStatuses, Pipelined: t.Pipelined, Complete: t.Complete, Tunnel: t.Tunnel}
			if t.Status != nil {
				x.Status = *t.Status
			}
			if t.ResponseVersion != nil {
				x.ResponseVersion = *t.ResponseVersion
			}
			if t.ResponseFraming != nil {
				k, ok := httpflow.ParseBodyKind(*t.ResponseFraming)
				if !ok {
					return c, fmt.Errorf("transaction %d: response_framing %q", t.Index, *t.ResponseFraming)
				}
				x.Framing = k
			}
			if t.ServerTime != nil {
				x.ServerTime, x.HasServerTime = durationOf(*t.ServerTime), true
			}
			x.RequestID = t.RequestID
			if t.Upstream != nil {
				x.Upstream = make([]httpflow.TxRef, len(t.Upstream))
				for j, r := range t.Upstream {
					x.Upstream[j] = httpflow.TxRef{Conn: r.Connection, Tx: r.Transaction}
				}
			}
			if r := t.Downstream; r != nil {
				x.Downstream = &httpflow.TxRef{Conn: r.Connection, Tx: r.Transaction}
			}
			x.Inferred = t.Inferred
		}
	}
	idle := func(i *WireIdle) httpflow.Idle {
		return httpflow.Idle{AfterTransaction: i.AfterTransaction, StartAt: i.StartAt.Time, EndAt: i.EndAt.Time, Duration: durationOf(i.Duration)}
	}
	if w.IdlePeriods != nil {
		c.IdlePeriods = make([]httpflow.Idle, len(w.IdlePeriods))
		for i := range w.IdlePeriods {
			c.IdlePeriods[i] = idle(&w.IdlePeriods[i])
		}
	}
	if w.FinalIdle != nil {
		f := idle(w.FinalIdle)
		c.FinalIdle = &f
	}
	cl := &w.Close
	c.Close = httpflow.Close{FirstFinAt: cl.FirstFinAt.Time, RstAt: cl.RstAt.Time, Evidence: cl.Evidence}
	if c.Close.FirstFinBy, err = parseSide(cl.FirstFinBy); err != nil {
		return c, err
	}
	if c.Close.RstBy, err = parseSide(cl.RstBy); err != nil {
		return c, err
	}
	var ok bool
	if c.Close.ClientState, ok = tcpstate.ParseState(cl.ClientState); !ok {
		return c, fmt.Errorf("client_state %q", cl.ClientState)
	}
	if c.Close.ServerState, ok = tcpstate.ParseState(cl.ServerState); !ok {
		return c, fmt.Errorf("server_state %q", cl.ServerState)
	}
	if c.Close.Reason, ok = httpflow.ParseReason(cl.Reason); !ok {
		return c, fmt.Errorf("reason %q", cl.Reason)
	}
	if r := cl.Race; r != nil {
		k, ok := httpflow.ParseRaceKind(r.Kind)
		if !ok {
			return c, fmt.Errorf("race kind %q", r.Kind)
		}
		c.Close.Race = &httpflow.Race{Kind: k, Transaction: r.Transaction, Method: r.Method, Idempotent: r.Idempotent,
			IdleBefore: durationOf(r.IdleBefore), RSTAckedRequest: r.RSTAckedRequest}
	}
	if tw := w.TimeWait; tw != nil {
		h, err := parseSide(&tw.Holder)
		if err != nil {
			return c, err
		}
		c.TimeWait = &httpflow.TimeWait{Holder: h, EnteredAt: tw.EnteredAt.Time, ExpiresAt: tw.ExpiresAt.Time}
	}
	c.CommunityID = w.CommunityID
	if w.VLAN != nil {
		c.VLAN = make([]uint16, len(w.VLAN))
		for i, v := range w.VLAN {
			c.VLAN[i] = uint16(v)
		}
	}
	if w.Tunnel != nil {
		c.Tunnel = make([]httpflow.Tunnel, len(w.Tunnel))
		for i, t := range w.Tunnel {
			x := httpflow.Tunnel{Type: t.Type}
			if x.OuterSrc, err = parseAddr(t.OuterSrc); err != nil {
				return c, fmt.Errorf("tunnel outer_src: %v", err)
			}
			if x.OuterDst, err = parseAddr(t.OuterDst); err != nil {
				return c, fmt.Errorf("tunnel outer_dst: %v", err)
			}
			if t.ID != nil {
				x.ID, x.HasID = *t.ID, true
			}
			c.Tunnel[i] = x
		}
	}
	if t := w.TLS; t != nil {
		x := &httpflow.TLS{Version: t.Version, Decrypted: t.Decrypted}
		if t.SNI != nil {
			x.SNI = *t.SNI
		}
		if t.ALPN != nil {
			x.ALPN = *t.ALPN
		}
		if x.CloseNotifyBy, err = parseSide(t.CloseNotifyBy); err != nil {
			return c, err
		}
		c.TLS = x
	}
	return c, nil
}

// durationOf is the duration of s seconds, to the nanosecond.
func durationOf(s Seconds) time.Duration { return time.Duration(math.Round(float64(s) * 1e9)) }

func parseSide(s *string) (httpflow.Side, error) {
	if s == nil {
		return httpflow.NoSide, nil
	}
	switch *s {
	case "client":
		return httpflow.Client, nil
	case "server":
		return httpflow.Server, nil
	case "both":
		return httpflow.Both, nil
	}
	return httpflow.NoSide, fmt.Errorf("side %q", *s)
}

// wireAddr is a: null when it is not valid.
func wireAddr(a netip.Addr) *string {
	if !a.IsValid() {
		return nil
	}
	s := a.String()
	return &s
}

// parseAddr is wireAddr's inverse.
func parseAddr(s *string) (netip.Addr, error) {
	if s == nil {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(*s)
}

func strOrNil(ok bool, s string) *string {
	if !ok {
		return nil
	}
	return &s
}

// Deref is *s, or "" for nil (a WireTransaction's method, uri, request_version).
func Deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
