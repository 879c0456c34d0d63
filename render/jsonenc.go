package render

import (
	"math"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/httplife/httplife/httpflow"
)

// A hand-written encoder for httpflow.Connection records: it writes the
// bytes encoding/json writes for the record's wire form (WireConnection,
// wire.go) without building it. Records are most of every JSON and NDJSON
// output, and encoding/json spends most of its time on reflection and on
// re-validating what the MarshalJSON methods return. The fields are
// written in WireConnection's order under its tag names, omitempty where
// the tags say so, nil slices and pointers as null, strings escaped as
// encoding/json escapes them by default (HTML-safe), numbers formatted as
// encoding/json formats them. The tests hold it byte for byte to
// encoding/json of Wire(record) on every capture the project has and on
// synthetic and fuzzed records; change it together with wire.go.

// jsonEncoder appends JSON to b, compact or in the layout of
// json.Encoder.SetIndent("", "  ").
type jsonEncoder struct {
	b      []byte
	indent bool // SetIndent("", "  ") layout
	depth  int  // containers open around the current position (indent layout)
	// Compact: where each transaction of the record being written has its
	// request_start_at and response_end_at, which its idle periods repeat.
	times []txTimes
}

// txTimes is where a transaction's first and last times were written.
type txTimes struct{ reqStart, respEnd txRun }

// indentUnit is the per-level indent of WriteJSON.
const indentUnit = "  "

// spaces holds enough indentation for any record nested in a document.
const spaces = "                                                                "

// newline starts a line at the current depth.
func (e *jsonEncoder) newline() {
	e.b = append(e.b, '\n')
	for n := e.depth * len(indentUnit); n > 0; {
		k := min(n, len(spaces))
		e.b = append(e.b, spaces[:k]...)
		n -= k
	}
}

// open starts an object or a non-empty array.
func (e *jsonEncoder) open(c byte) {
	e.b = append(e.b, c)
	e.depth++
}

// close ends what open started. (Empty arrays are written whole, as "[]"
// in both layouts; no object is empty.)
func (e *jsonEncoder) close(c byte) {
	e.depth--
	if e.indent {
		e.newline()
	}
	e.b = append(e.b, c)
}

// key starts an object member: k is the quoted name and a colon, after a
// comma unless the member is the object's first. Compact, k is written
// as it is.
func (e *jsonEncoder) key(k string) {
	if !e.indent {
		e.b = append(e.b, k...)
		return
	}
	if k[0] == ',' {
		e.b = append(e.b, ',')
		k = k[1:]
	}
	e.newline()
	e.b = append(e.b, k...)
	e.b = append(e.b, ' ')
}

// elem starts the array element at index i.
func (e *jsonEncoder) elem(i int) {
	if i > 0 {
		e.b = append(e.b, ',')
	}
	if e.indent {
		e.newline()
	}
}

func (e *jsonEncoder) null() { e.b = append(e.b, "null"...) }

// array starts a slice of n elements as encoding/json writes one: null
// when nil, [] when empty, else "[" and true: the caller writes the
// elements (elem before each) and close(']').
func (e *jsonEncoder) array(isNil bool, n int) bool {
	switch {
	case isNil:
		e.null()
		return false
	case n == 0:
		e.b = append(e.b, "[]"...)
		return false
	}
	e.open('[')
	return true
}

func (e *jsonEncoder) bool(v bool) { e.b = strconv.AppendBool(e.b, v) }

func (e *jsonEncoder) int(v int64) { e.b = strconv.AppendInt(e.b, v, 10) }

func (e *jsonEncoder) uint(v uint64) { e.b = strconv.AppendUint(e.b, v, 10) }

func (e *jsonEncoder) string(s string) { e.b = appendJSONString(e.b, s) }

func (e *jsonEncoder) time(t time.Time) { e.b = AppendTime(e.b, t) }

func (e *jsonEncoder) seconds(d time.Duration) { e.b = AppendSeconds(e.b, Secs(d)) }

func (e *jsonEncoder) stringPtr(s *string) {
	if s == nil {
		e.null()
		return
	}
	e.string(*s)
}

// side writes a side, null for none.
func (e *jsonEncoder) side(s httpflow.Side) {
	if s == httpflow.NoSide {
		e.null()
		return
	}
	e.string(s.String())
}

// addrPort writes an endpoint as its String: "ip:port", "[ip6]:port".
func (e *jsonEncoder) addrPort(a netip.AddrPort) {
	if !a.IsValid() {
		e.string(a.String())
		return
	}
	e.b = append(e.b, '"')
	at := len(e.b)
	e.b = a.AppendTo(e.b)
	for _, c := range e.b[at:] {
		if !htmlSafe[c] { // a zone (never in a capture): escape as encoding/json does
			e.b = appendJSONString(e.b[:at-1], a.String())
			return
		}
	}
	e.b = append(e.b, '"')
}

// float64 formats a finite f as encoding/json does: like strconv 'f', or
// 'e' without a leading zero in the exponent for very small and very
// large magnitudes.
func (e *jsonEncoder) float64(f float64) {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	e.b = strconv.AppendFloat(e.b, f, format, -1, 64)
	if format == 'e' {
		// e-07 to e-7
		if n := len(e.b); n >= 4 && e.b[n-4] == 'e' && e.b[n-3] == '-' && e.b[n-2] == '0' {
			e.b[n-2] = e.b[n-1]
			e.b = e.b[:n-1]
		}
	}
}

func (e *jsonEncoder) perSide(p httpflow.PerSide) {
	e.open('{')
	e.key(`"client":`)
	e.uint(p.Client)
	e.key(`,"server":`)
	e.uint(p.Server)
	e.close('}')
}

// connection writes c. The caller must have checked encodable(c).
func (e *jsonEncoder) connection(c *httpflow.Connection) {
	e.open('{')
	e.key(`"id":`)
	e.int(int64(c.ID))
	e.key(`,"client":`)
	e.addrPort(c.Client)
	e.key(`,"server":`)
	e.addrPort(c.Server)
	e.key(`,"client_guessed":`)
	e.bool(c.ClientGuessed)
	e.key(`,"syn_seen":`)
	e.bool(c.SynSeen)
	e.key(`,"first_packet_at":`)
	e.time(c.FirstPacketAt)
	e.key(`,"last_packet_at":`)
	e.time(c.LastPacketAt)
	e.key(`,"handshake":`)
	if h := c.Handshake; h == nil {
		e.null()
	} else {
		e.open('{')
		e.key(`"syn_at":`)
		e.time(h.SynAt)
		e.key(`,"synack_at":`)
		e.time(h.SynAckAt)
		e.key(`,"ack_at":`)
		e.time(h.AckAt)
		e.key(`,"rtt_s":`)
		if rtt, ok := h.RTT(); ok {
			e.seconds(rtt)
		} else {
			e.null()
		}
		e.close('}')
	}
	e.key(`,"packets":`)
	e.perSide(c.Packets)
	e.key(`,"payload_bytes":`)
	e.perSide(c.PayloadBytes)
	e.key(`,"transactions":`)
	e.times = e.times[:0]
	if e.array(c.Transactions == nil, len(c.Transactions)) {
		var rep txRepeats
		for i := range c.Transactions {
			e.elem(i)
			e.transaction(&c.Transactions[i], &rep)
		}
		e.close(']')
	}
	e.key(`,"idle_periods":`)
	if e.array(c.IdlePeriods == nil, len(c.IdlePeriods)) {
		for i := range c.IdlePeriods {
			e.elem(i)
			e.idle(&c.IdlePeriods[i], c.Transactions)
		}
		e.close(']')
	}
	e.key(`,"final_idle":`)
	if c.FinalIdle == nil {
		e.null()
	} else {
		e.idle(c.FinalIdle, nil)
	}
	e.key(`,"keep_alive":`)
	e.open('{')
	e.key(`"advertised_timeout_s":`)
	if t := c.KeepAlive.AdvertisedTimeout; t == nil {
		e.null()
	} else {
		e.float64(*t)
	}
	e.key(`,"advertised_max":`)
	if m := c.KeepAlive.AdvertisedMax; m == nil {
		e.null()
	} else {
		e.int(int64(*m))
	}
	e.key(`,"persistent":`)
	e.bool(c.KeepAlive.Persistent)
	e.close('}')
	e.key(`,"close":`)
	e.open('{')
	e.key(`"first_fin_by":`)
	e.side(c.Close.FirstFinBy)
	e.key(`,"first_fin_at":`)
	e.time(c.Close.FirstFinAt)
	e.key(`,"rst_by":`)
	e.side(c.Close.RstBy)
	e.key(`,"rst_at":`)
	e.time(c.Close.RstAt)
	e.key(`,"client_state":`)
	e.string(c.Close.ClientState.String())
	e.key(`,"server_state":`)
	e.string(c.Close.ServerState.String())
	e.key(`,"reason":`)
	e.string(c.Close.Reason.String())
	e.key(`,"evidence":`)
	e.string(c.Close.Evidence)
	e.key(`,"race":`)
	if r := c.Close.Race; r == nil {
		e.null()
	} else {
		e.open('{')
		e.key(`"kind":`)
		e.string(r.Kind.String())
		e.key(`,"transaction":`)
		e.int(int64(r.Transaction))
		e.key(`,"method":`)
		e.string(r.Method)
		e.key(`,"idempotent":`)
		e.bool(r.Idempotent)
		e.key(`,"idle_before_s":`)
		e.seconds(r.IdleBefore)
		e.key(`,"rst_acked_request":`)
		e.bool(r.RSTAckedRequest)
		e.close('}')
	}
	e.close('}')
	e.key(`,"time_wait":`)
	if tw := c.TimeWait; tw == nil {
		e.null()
	} else {
		e.open('{')
		e.key(`"holder":`)
		e.string(tw.Holder.String())
		e.key(`,"entered_at":`)
		e.time(tw.EnteredAt)
		e.key(`,"expires_at":`)
		e.time(tw.ExpiresAt)
		e.close('}')
	}
	e.key(`,"tcp_keepalive_probes":`)
	e.perSide(c.TCPKeepaliveProbes)
	e.key(`,"retransmissions":`)
	e.perSide(c.Retransmissions)
	e.key(`,"missing_bytes":`)
	e.perSide(c.MissingBytes)
	e.key(`,"anomalies":`)
	if e.array(c.Anomalies == nil, len(c.Anomalies)) {
		for i, a := range c.Anomalies {
			e.elem(i)
			e.string(a)
		}
		e.close(']')
	}
	e.key(`,"stray_crlf_bytes":`)
	e.uint(c.StrayCRLFBytes)
	e.key(`,"history":`)
	e.string(c.History)
	e.key(`,"community_id":`)
	e.string(c.CommunityID)
	e.key(`,"vlan":`)
	if e.array(c.VLAN == nil, len(c.VLAN)) {
		for i, v := range c.VLAN {
			e.elem(i)
			e.int(int64(v))
		}
		e.close(']')
	}
	e.key(`,"tunnel":`)
	if e.array(c.Tunnel == nil, len(c.Tunnel)) {
		for i := range c.Tunnel {
			t := &c.Tunnel[i]
			e.elem(i)
			e.open('{')
			e.key(`"type":`)
			e.string(t.Type)
			e.key(`,"outer_src":`)
			e.addrOrNull(t.OuterSrc)
			e.key(`,"outer_dst":`)
			e.addrOrNull(t.OuterDst)
			e.key(`,"id":`)
			if t.HasID {
				e.int(int64(t.ID))
			} else {
				e.null()
			}
			e.close('}')
		}
		e.close(']')
	}
	e.key(`,"tls":`)
	if t := c.TLS; t == nil {
		e.null()
	} else {
		e.open('{')
		e.key(`"version":`)
		e.string(t.Version)
		e.key(`,"sni":`)
		e.stringOrNull(t.SNI)
		e.key(`,"alpn":`)
		e.stringOrNull(t.ALPN)
		e.key(`,"decrypted":`)
		e.bool(t.Decrypted)
		e.key(`,"close_notify_by":`)
		e.side(t.CloseNotifyBy)
		e.close('}')
	}
	e.close('}')
}

func (e *jsonEncoder) inferredString(inferred bool, s string) {
	if inferred {
		e.null()
	} else {
		e.string(s)
	}
}

// addrOrNull writes a, quoted, or null when it is not valid.
func (e *jsonEncoder) addrOrNull(a netip.Addr) {
	if !a.IsValid() {
		e.null()
		return
	}
	e.b = append(a.AppendTo(append(e.b, '"')), '"')
}

func (e *jsonEncoder) stringOrNull(s string) {
	if s == "" {
		e.null()
	} else {
		e.string(s)
	}
}

// txRepeats remembers, within one record, where the previous
// transaction's two runs of request-and-response facts were written. The
// transactions of a keep-alive connection mostly repeat them (method, URI,
// versions, status; connection headers, framing): compact, a repeated run
// is copied whole instead of written field by field.
type txRepeats struct {
	prev       *httpflow.Transaction // the previous one written compact; its runs are head and conn
	head, conn txRun
}

// txRun is a span of e.b.
type txRun struct{ from, to int }

// again writes run r once more and makes r the new copy.
func (e *jsonEncoder) again(r *txRun) {
	from := len(e.b)
	e.b = append(e.b, e.b[r.from:r.to]...)
	*r = txRun{from, len(e.b)}
}

// sameHead and sameConn say whether t's two runs of fields would be
// written as p's were.
func sameHead(t, p *httpflow.Transaction) bool {
	return t.Method == p.Method && t.URI == p.URI && t.RequestVersion == p.RequestVersion &&
		t.Status == p.Status && t.ResponseVersion == p.ResponseVersion && t.Inferred == p.Inferred
}

func sameConn(t, p *httpflow.Transaction) bool {
	return emptyList(t.InterimStatuses) && emptyList(p.InterimStatuses) &&
		eqPtr(t.RequestConnection, p.RequestConnection) && eqPtr(t.ResponseConnection, p.ResponseConnection) &&
		eqPtr(t.ResponseKeepAlive, p.ResponseKeepAlive) && t.Framing == p.Framing
}

// emptyList reports whether s is written as [].
func emptyList(s []int) bool { return s != nil && len(s) == 0 }

func (e *jsonEncoder) transaction(t *httpflow.Transaction, rep *txRepeats) {
	p := rep.prev
	if !e.indent {
		rep.prev = t
	}
	e.open('{')
	e.key(`"index":`)
	e.int(int64(t.Index))
	if p != nil && sameHead(t, p) {
		e.again(&rep.head)
	} else {
		from := len(e.b)
		// An inferred transaction's request line is unknown: null.
		e.key(`,"method":`)
		e.inferredString(t.Inferred, t.Method)
		e.key(`,"uri":`)
		e.inferredString(t.Inferred, t.URI)
		e.key(`,"request_version":`)
		e.inferredString(t.Inferred, t.RequestVersion)
		e.key(`,"status":`)
		if t.Status == 0 {
			e.null()
		} else {
			e.int(int64(t.Status))
		}
		e.key(`,"response_version":`)
		if t.ResponseVersion == "" {
			e.null()
		} else {
			e.string(t.ResponseVersion)
		}
		rep.head = txRun{from, len(e.b)}
	}
	// A request or response carried in one segment starts and ends at the
	// same time: its second time is a copy of the first's text.
	e.key(`,"request_start_at":`)
	reqStart := e.timeRun(t.RequestStartAt)
	e.key(`,"request_end_at":`)
	e.timeAgain(t.RequestEndAt, t.RequestStartAt, reqStart)
	e.key(`,"response_start_at":`)
	respStart := e.timeRun(t.ResponseStartAt)
	e.key(`,"response_end_at":`)
	respEnd := e.timeAgain(t.ResponseEndAt, t.ResponseStartAt, respStart)
	if !e.indent {
		e.times = append(e.times, txTimes{reqStart, respEnd})
	}
	e.key(`,"request_bytes":`)
	e.int(t.RequestBytes)
	e.key(`,"response_bytes":`)
	e.int(t.ResponseBytes)
	if p != nil && sameConn(t, p) {
		e.again(&rep.conn)
	} else {
		from := len(e.b)
		e.key(`,"request_connection":`)
		e.stringPtr(t.RequestConnection)
		e.key(`,"response_connection":`)
		e.stringPtr(t.ResponseConnection)
		e.key(`,"response_keep_alive":`)
		e.stringPtr(t.ResponseKeepAlive)
		e.key(`,"response_framing":`)
		if t.Framing == httpflow.BodyUnknown {
			e.null()
		} else {
			e.string(t.Framing.String())
		}
		e.key(`,"interim_statuses":`)
		if e.array(t.InterimStatuses == nil, len(t.InterimStatuses)) {
			for i, s := range t.InterimStatuses {
				e.elem(i)
				e.int(int64(s))
			}
			e.close(']')
		}
		rep.conn = txRun{from, len(e.b)}
	}
	e.key(`,"pipelined":`)
	e.bool(t.Pipelined)
	e.key(`,"complete":`)
	e.bool(t.Complete)
	if t.Tunnel {
		e.key(`,"tunnel":`)
		e.bool(true)
	}
	if t.HasServerTime {
		e.key(`,"server_time_s":`)
		e.seconds(t.ServerTime)
	}
	if t.RequestID != "" {
		e.key(`,"request_id":`)
		e.string(t.RequestID)
	}
	e.key(`,"upstream":`)
	if e.array(t.Upstream == nil, len(t.Upstream)) {
		for i, r := range t.Upstream {
			e.elem(i)
			e.txRef(r)
		}
		e.close(']')
	}
	e.key(`,"downstream":`)
	if r := t.Downstream; r == nil {
		e.null()
	} else {
		e.txRef(*r)
	}
	e.key(`,"inferred":`)
	e.bool(t.Inferred)
	e.close('}')
}

func (e *jsonEncoder) txRef(r httpflow.TxRef) {
	e.open('{')
	e.key(`"connection":`)
	e.int(int64(r.Conn))
	e.key(`,"transaction":`)
	e.int(int64(r.Tx))
	e.close('}')
}

// timeRun writes t and returns where.
func (e *jsonEncoder) timeRun(t time.Time) txRun {
	from := len(e.b)
	e.time(t)
	return txRun{from, len(e.b)}
}

// timeAgain writes t, copying r (where p was written) when t is p, and
// returns where t was written. Equal values are one instant, which
// AppendTime writes one way, whatever the location.
func (e *jsonEncoder) timeAgain(t, p time.Time, r txRun) txRun {
	if t == p && r.to > r.from {
		e.again(&r)
		return r
	}
	return e.timeRun(t)
}

// eqPtr reports whether a and b are both nil or point at equal values.
func eqPtr[T comparable](a, b *T) bool {
	return a == b || a != nil && b != nil && *a == *b
}

// idle writes an idle period. One between transactions (txs: the record's)
// mostly runs from a response's end to the next request's start, whose
// texts are copied when the times are those.
func (e *jsonEncoder) idle(i *httpflow.Idle, txs []httpflow.Transaction) {
	e.open('{')
	e.key(`"after_transaction":`)
	e.int(int64(i.AfterTransaction))
	var prev, next txTimes
	var prevT, nextT time.Time
	if k := i.AfterTransaction; !e.indent && len(e.times) == len(txs) && k >= 1 && k < len(txs) {
		prev, next = e.times[k-1], e.times[k]
		prevT, nextT = txs[k-1].ResponseEndAt, txs[k].RequestStartAt
	}
	e.key(`,"start_at":`)
	e.timeAgain(i.StartAt, prevT, prev.respEnd)
	e.key(`,"end_at":`)
	e.timeAgain(i.EndAt, nextT, next.reqStart)
	e.key(`,"duration_s":`)
	e.seconds(i.Duration)
	e.close('}')
}

// encodable reports whether encoding/json can marshal c's wire form. The
// only value a record can hold that JSON cannot is a non-finite advertised
// timeout (the parser never makes one); for such a record the callers
// leave the encoding, and the error, to encoding/json.
func encodable(c *httpflow.Connection) bool {
	if t := c.KeepAlive.AdvertisedTimeout; t != nil && !finite(*t) {
		return false
	}
	return true
}

func finite(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }

// htmlSafe marks the bytes encoding/json copies into a string unescaped:
// printable ASCII other than the quote, the backslash and the HTML
// specials <, > and &. Bytes from 0x80 up are false: UTF-8 is checked.
var htmlSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes strings by
// default: \" \\ \b \f \n \r \t, other control bytes and <, >, & as
// \u00XX, U+2028 and U+2029 as \u2028 and \u2029, and each byte of
// invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	i := 0
	for i < len(s) && htmlSafe[s[i]] {
		i++
	}
	if i == len(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if htmlSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			start = i + size
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			start = i + size
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
