package parquet

import (
	"net/netip"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
)

// The rows of the three tables. docs/parquet.md documents every column;
// a test keeps it in step with these structs. Conventions: times are
// TIMESTAMP(NANOS, UTC), null when not seen; durations are seconds
// (DOUBLE); endpoints are split into an address (text) and a port;
// sides are "client"/"server" ("both" for TIME_WAIT), null for none;
// what the JSON has as null is null.

// ConnectionRow is one row of connections.parquet: a CONNECTION object,
// flat.
type ConnectionRow struct {
	CaptureSource string    `parquet:"capture_source,dict"`
	ID            int64     `parquet:"id,delta"`
	CommunityID   string    `parquet:"community_id"`
	ClientIP      string    `parquet:"client_ip,dict"`
	ClientPort    int32     `parquet:"client_port"`
	ServerIP      string    `parquet:"server_ip,dict"`
	ServerPort    int32     `parquet:"server_port"`
	IPVersion     int32     `parquet:"ip_version"`
	ClientGuessed bool      `parquet:"client_guessed"`
	SynSeen       bool      `parquet:"syn_seen"`
	FirstPacketAt time.Time `parquet:"first_packet_at,timestamp(nanosecond)"`
	LastPacketAt  time.Time `parquet:"last_packet_at,timestamp(nanosecond)"`
	DurationS     float64   `parquet:"duration_s"`

	SynAt    time.Time `parquet:"syn_at,optional,timestamp(nanosecond)"`
	SynAckAt time.Time `parquet:"synack_at,optional,timestamp(nanosecond)"`
	AckAt    time.Time `parquet:"ack_at,optional,timestamp(nanosecond)"`
	RTTS     *float64  `parquet:"rtt_s,optional"`

	PacketsClient      int64 `parquet:"packets_client"`
	PacketsServer      int64 `parquet:"packets_server"`
	PayloadBytesClient int64 `parquet:"payload_bytes_client"`
	PayloadBytesServer int64 `parquet:"payload_bytes_server"`
	Transactions       int32 `parquet:"transactions"`
	IdlePeriods        int32 `parquet:"idle_periods"`

	FinalIdleS                *float64  `parquet:"final_idle_s,optional"`
	FinalIdleAfterTransaction *int32    `parquet:"final_idle_after_transaction,optional"`
	FinalIdleStartAt          time.Time `parquet:"final_idle_start_at,optional,timestamp(nanosecond)"`

	AdvertisedTimeoutS *float64 `parquet:"advertised_timeout_s,optional"`
	AdvertisedMax      *int32   `parquet:"advertised_max,optional"`
	Persistent         bool     `parquet:"persistent"`

	FirstFinBy  string    `parquet:"first_fin_by,optional,dict"`
	FirstFinAt  time.Time `parquet:"first_fin_at,optional,timestamp(nanosecond)"`
	RstBy       string    `parquet:"rst_by,optional,dict"`
	RstAt       time.Time `parquet:"rst_at,optional,timestamp(nanosecond)"`
	ClientState string    `parquet:"client_state,dict"`
	ServerState string    `parquet:"server_state,dict"`
	Reason      string    `parquet:"reason,dict"`
	Evidence    string    `parquet:"evidence"`

	RaceKind        string   `parquet:"race_kind,optional,dict"`
	RaceTransaction *int32   `parquet:"race_transaction,optional"`
	RaceMethod      string   `parquet:"race_method,optional,dict"`
	RaceIdempotent  *bool    `parquet:"race_idempotent,optional"`
	RaceIdleBeforeS *float64 `parquet:"race_idle_before_s,optional"`

	TimeWaitHolder    string    `parquet:"time_wait_holder,optional,dict"`
	TimeWaitEnteredAt time.Time `parquet:"time_wait_entered_at,optional,timestamp(nanosecond)"`
	TimeWaitExpiresAt time.Time `parquet:"time_wait_expires_at,optional,timestamp(nanosecond)"`

	TCPKeepaliveProbesClient int64 `parquet:"tcp_keepalive_probes_client"`
	TCPKeepaliveProbesServer int64 `parquet:"tcp_keepalive_probes_server"`
	RetransmissionsClient    int64 `parquet:"retransmissions_client"`
	RetransmissionsServer    int64 `parquet:"retransmissions_server"`
	MissingBytesClient       int64 `parquet:"missing_bytes_client"`
	MissingBytesServer       int64 `parquet:"missing_bytes_server"`

	Anomalies      []string `parquet:"anomalies,list"`
	StrayCRLFBytes int64    `parquet:"stray_crlf_bytes"`
	History        string   `parquet:"history"`
	VLAN           []int32  `parquet:"vlan,list"`
	Tunnels        []string `parquet:"tunnels,list"`

	TLSVersion       string `parquet:"tls_version,optional,dict"`
	TLSSNI           string `parquet:"tls_sni,optional,dict"`
	TLSALPN          string `parquet:"tls_alpn,optional,dict"`
	TLSDecrypted     *bool  `parquet:"tls_decrypted,optional"`
	TLSCloseNotifyBy string `parquet:"tls_close_notify_by,optional,dict"`
}

// TransactionRow is one row of transactions.parquet: a TRANSACTION
// object with its connection's keys.
type TransactionRow struct {
	CaptureSource string `parquet:"capture_source,dict"`
	ConnectionID  int64  `parquet:"connection_id,delta"`
	CommunityID   string `parquet:"community_id"`
	ClientIP      string `parquet:"client_ip,dict"`
	ClientPort    int32  `parquet:"client_port"`
	ServerIP      string `parquet:"server_ip,dict"`
	ServerPort    int32  `parquet:"server_port"`

	Index           int32  `parquet:"index"`
	Method          string `parquet:"method,optional,dict"`
	URI             string `parquet:"uri,optional"`
	RequestVersion  string `parquet:"request_version,optional,dict"`
	Status          int32  `parquet:"status,optional"`
	ResponseVersion string `parquet:"response_version,optional,dict"`

	RequestStartAt  time.Time `parquet:"request_start_at,optional,timestamp(nanosecond)"`
	RequestEndAt    time.Time `parquet:"request_end_at,optional,timestamp(nanosecond)"`
	ResponseStartAt time.Time `parquet:"response_start_at,optional,timestamp(nanosecond)"`
	ResponseEndAt   time.Time `parquet:"response_end_at,optional,timestamp(nanosecond)"`
	RequestBytes    int64     `parquet:"request_bytes"`
	ResponseBytes   int64     `parquet:"response_bytes"`

	RequestConnection  *string  `parquet:"request_connection,optional,dict"`
	ResponseConnection *string  `parquet:"response_connection,optional,dict"`
	ResponseKeepAlive  *string  `parquet:"response_keep_alive,optional,dict"`
	ResponseFraming    string   `parquet:"response_framing,optional,dict"`
	InterimStatuses    []int32  `parquet:"interim_statuses,list"`
	Pipelined          bool     `parquet:"pipelined"`
	Complete           bool     `parquet:"complete"`
	Inferred           bool     `parquet:"inferred"`
	Tunnel             bool     `parquet:"tunnel"`
	RequestID          string   `parquet:"request_id,optional"`
	ServerTimeS        *float64 `parquet:"server_time_s,optional"`
	LostToRace         bool     `parquet:"lost_to_race"`
}

// IdleRow is one row of idle_periods.parquet: an IDLE object of a
// connection's idle_periods (the final idle is in connections.parquet).
type IdleRow struct {
	CaptureSource    string    `parquet:"capture_source,dict"`
	ConnectionID     int64     `parquet:"connection_id,delta"`
	CommunityID      string    `parquet:"community_id"`
	ClientIP         string    `parquet:"client_ip,dict"`
	ClientPort       int32     `parquet:"client_port"`
	ServerIP         string    `parquet:"server_ip,dict"`
	ServerPort       int32     `parquet:"server_port"`
	AfterTransaction int32     `parquet:"after_transaction"`
	StartAt          time.Time `parquet:"start_at,timestamp(nanosecond)"`
	EndAt            time.Time `parquet:"end_at,timestamp(nanosecond)"`
	DurationS        float64   `parquet:"duration_s"`
}

func side(s httpflow.Side) string { return s.String() } // "" (null) for none

func ptr[T any](v T) *T { return &v }

// copyStr copies what p points to: a row never points into a record,
// whose memory is reused once it was written (pipeline.Config.Transient).
func copyStr(p *string) *string {
	if p == nil {
		return nil
	}
	return ptr(*p)
}

func addr(a netip.Addr) string { return a.String() } // as the JSON writes it

// communityID is the record's, or computed from its endpoints when the
// record has none.
func communityID(c *httpflow.Connection) string {
	if c.CommunityID != "" {
		return c.CommunityID
	}
	return capture.CommunityID(c.Client, c.Server, 6)
}

// connectionRow fills r from c.
func connectionRow(r *ConnectionRow, source, cid string, c *httpflow.Connection) {
	*r = ConnectionRow{
		CaptureSource: source, ID: int64(c.ID), CommunityID: cid,
		ClientIP: addr(c.Client.Addr()), ClientPort: int32(c.Client.Port()),
		ServerIP: addr(c.Server.Addr()), ServerPort: int32(c.Server.Port()), IPVersion: 6,
		ClientGuessed: c.ClientGuessed, SynSeen: c.SynSeen,
		FirstPacketAt: c.FirstPacketAt.UTC(), LastPacketAt: c.LastPacketAt.UTC(),
		DurationS:     c.LastPacketAt.Sub(c.FirstPacketAt).Seconds(),
		PacketsClient: int64(c.Packets.Client), PacketsServer: int64(c.Packets.Server),
		PayloadBytesClient: int64(c.PayloadBytes.Client), PayloadBytesServer: int64(c.PayloadBytes.Server),
		Transactions: int32(len(c.Transactions)), IdlePeriods: int32(len(c.IdlePeriods)),
		Persistent: c.KeepAlive.Persistent,
		FirstFinBy: side(c.Close.FirstFinBy), FirstFinAt: utc(c.Close.FirstFinAt),
		RstBy: side(c.Close.RstBy), RstAt: utc(c.Close.RstAt),
		ClientState: c.Close.ClientState.String(), ServerState: c.Close.ServerState.String(),
		Reason: c.Close.Reason.String(), Evidence: c.Close.Evidence,
		TCPKeepaliveProbesClient: int64(c.TCPKeepaliveProbes.Client), TCPKeepaliveProbesServer: int64(c.TCPKeepaliveProbes.Server),
		RetransmissionsClient: int64(c.Retransmissions.Client), RetransmissionsServer: int64(c.Retransmissions.Server),
		MissingBytesClient: int64(c.MissingBytes.Client), MissingBytesServer: int64(c.MissingBytes.Server),
		Anomalies: append([]string(nil), c.Anomalies...), StrayCRLFBytes: int64(c.StrayCRLFBytes), History: c.History,
	}
	if c.Client.Addr().Is4() {
		r.IPVersion = 4
	}
	if h := c.Handshake; h != nil {
		r.SynAt, r.SynAckAt, r.AckAt = utc(h.SynAt), utc(h.SynAckAt), utc(h.AckAt)
		if rtt, ok := h.RTT(); ok {
			r.RTTS = ptr(rtt.Seconds())
		}
	}
	if f := c.FinalIdle; f != nil {
		r.FinalIdleS, r.FinalIdleAfterTransaction, r.FinalIdleStartAt = ptr(f.Duration.Seconds()), ptr(int32(f.AfterTransaction)), utc(f.StartAt)
	}
	if t := c.KeepAlive.AdvertisedTimeout; t != nil {
		r.AdvertisedTimeoutS = ptr(*t)
	}
	if m := c.KeepAlive.AdvertisedMax; m != nil {
		r.AdvertisedMax = ptr(int32(*m))
	}
	if rc := c.Close.Race; rc != nil {
		r.RaceKind, r.RaceTransaction, r.RaceMethod = rc.Kind.String(), ptr(int32(rc.Transaction)), rc.Method
		r.RaceIdempotent, r.RaceIdleBeforeS = ptr(rc.Idempotent), ptr(rc.IdleBefore.Seconds())
	}
	if tw := c.TimeWait; tw != nil {
		r.TimeWaitHolder, r.TimeWaitEnteredAt, r.TimeWaitExpiresAt = side(tw.Holder), utc(tw.EnteredAt), utc(tw.ExpiresAt)
	}
	for _, v := range c.VLAN {
		r.VLAN = append(r.VLAN, int32(v))
	}
	for _, t := range c.Tunnel {
		r.Tunnels = append(r.Tunnels, t.Type)
	}
	if t := c.TLS; t != nil {
		r.TLSVersion, r.TLSSNI, r.TLSALPN, r.TLSDecrypted, r.TLSCloseNotifyBy = t.Version, t.SNI, t.ALPN, ptr(t.Decrypted), side(t.CloseNotifyBy)
	}
}

// utc is t in UTC; the zero time stays zero (null).
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

func transactionRow(r *TransactionRow, base *TransactionRow, t *httpflow.Transaction, race int) {
	*r = TransactionRow{
		CaptureSource: base.CaptureSource, ConnectionID: base.ConnectionID, CommunityID: base.CommunityID,
		ClientIP: base.ClientIP, ClientPort: base.ClientPort, ServerIP: base.ServerIP, ServerPort: base.ServerPort,
		Index: int32(t.Index), Method: t.Method, URI: t.URI, RequestVersion: t.RequestVersion,
		Status: int32(t.Status), ResponseVersion: t.ResponseVersion,
		RequestStartAt: utc(t.RequestStartAt), RequestEndAt: utc(t.RequestEndAt),
		ResponseStartAt: utc(t.ResponseStartAt), ResponseEndAt: utc(t.ResponseEndAt),
		RequestBytes: t.RequestBytes, ResponseBytes: t.ResponseBytes,
		RequestConnection: copyStr(t.RequestConnection), ResponseConnection: copyStr(t.ResponseConnection),
		ResponseKeepAlive: copyStr(t.ResponseKeepAlive),
		Pipelined:         t.Pipelined, Complete: t.Complete, Inferred: t.Inferred, Tunnel: t.Tunnel,
		RequestID: t.RequestID, LostToRace: race == t.Index,
	}
	if t.Framing != httpflow.BodyUnknown {
		r.ResponseFraming = t.Framing.String()
	}
	for _, s := range t.InterimStatuses {
		r.InterimStatuses = append(r.InterimStatuses, int32(s))
	}
	if t.HasServerTime {
		r.ServerTimeS = ptr(t.ServerTime.Seconds())
	}
}
