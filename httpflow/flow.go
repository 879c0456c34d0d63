// Package httpflow turns reassembled TCP connections into HTTP/1.x
// connection lifecycles.
//
// In: the tcpstate.Stream calls for each connection (in-order bytes of both
// directions with capture times, gaps, FIN, RST, and the final tcpstate.Conn
// facts).
//
// Out: one Connection record per connection (the CONNECTION object of
// shared/spec/lifecycle-json.md): its transactions with first- and
// last-byte times, keep-alive idle periods, the final idle, the close with
// its reason and evidence, TIME_WAIT, and anomalies; and a Summary over all
// records (SummaryBuilder).
//
// Call order: NewAnalyzer, pass Analyzer.Factory to tcpstate.NewTable, feed
// the table; each finished connection's record is passed to the emit
// function given to NewAnalyzer, in the order connections finish. The clock
// is the packet: nothing here reads the wall clock.
package httpflow

import (
	"time"

	"github.com/httplife/httplife/tcpstate"
)

// Config tunes the analysis.
type Config struct {
	TwoMSL time.Duration
}

// Analyzer makes a flow per connection and emits its record when done.
type Analyzer struct {
	cfg  Config
	emit func(*Connection)
}

// NewAnalyzer returns an Analyzer that passes each finished connection's
// record to emit.
func NewAnalyzer(cfg Config, emit func(*Connection)) *Analyzer {
	if cfg.TwoMSL <= 0 {
		cfg.TwoMSL = 60 * time.Second
	}
	return &Analyzer{cfg: cfg, emit: emit}
}

// Factory returns the tcpstate.Factory that feeds this analyzer.
func (a *Analyzer) Factory() tcpstate.Factory {
	return func(c *tcpstate.Conn) tcpstate.Stream { return newFlow(a) }
}

// txMeta is what the analysis knows of a transaction beyond its record.
type txMeta struct {
	// Sequence numbers of this transaction's request and final response
	// on their directions (0: none yet).
	reqSeq, respSeq uint64
	reqDone         bool // request ended (complete or cut)
	respDone        bool // final response ended
	reqComplete     bool
	afterIdle       bool // started after the previous response ended
	afterServerFIN  bool // request bytes sent after the server's FIN
}

// txn is a view of one transaction: its record and what goes with it. It
// is valid until the next transaction is added (the slices may move).
type txn struct {
	*Transaction
	*txMeta
}

// flow follows the HTTP exchange of one connection. Transactions are kept
// in two parallel slices, so that the record takes the first one as it is.
type flow struct {
	a          *Analyzer
	req, resp  framer
	trans      []Transaction
	meta       []txMeta
	nextResp   int // index of the first transaction awaiting its final response
	respTarget int // index of the transaction the response being read belongs to, or -1
	anomalies  []string
	stray      uint64
	serverFIN  bool
	lastURI    string  // the previous request's URI, shared when the next one repeats it
	lastKA     *string // the last Keep-Alive value, shared while it repeats
}

// tx returns a view of transaction i.
func (f *flow) tx(i int) txn { return txn{&f.trans[i], &f.meta[i]} }

func newFlow(a *Analyzer) *flow {
	f := &flow{a: a, respTarget: -1}
	f.req = framer{request: true, h: (*reqHandler)(f)}
	f.resp = framer{h: (*respHandler)(f)}
	return f
}

func (f *flow) anomaly(name string) {
	for _, a := range f.anomalies {
		if a == name {
			return
		}
	}
	f.anomalies = append(f.anomalies, name)
}

// Data implements tcpstate.Stream.
func (f *flow) Data(d tcpstate.Dir, b []byte, t time.Time) {
	if d == tcpstate.ClientToServer {
		f.req.feed(b, t)
		if f.serverFIN && f.req.msg != nil && len(f.meta) > 0 {
			f.meta[len(f.meta)-1].afterServerFIN = true
		}
		return
	}
	f.resp.feed(b, t)
}

// Gap implements tcpstate.Stream.
func (f *flow) Gap(d tcpstate.Dir, n int, t time.Time) {
	if d == tcpstate.ClientToServer {
		f.req.gap(n, t)
	} else {
		f.resp.gap(n, t)
	}
}

// FIN implements tcpstate.Stream.
func (f *flow) FIN(d tcpstate.Dir, t time.Time) {
	if d == tcpstate.ClientToServer {
		f.req.close(true)
		return
	}
	f.serverFIN = true
	f.resp.close(true)
}

// RST implements tcpstate.Stream.
func (f *flow) RST(d tcpstate.Dir, t time.Time) {
	f.req.close(false)
	f.resp.close(false)
}

// Done implements tcpstate.Stream.
func (f *flow) Done(c *tcpstate.Conn) {
	f.req.close(false)
	f.resp.close(false)
	rec := f.record(c)
	if f.a.emit != nil {
		f.a.emit(rec)
	}
}

type reqHandler flow

func (h *reqHandler) begin(m *message) {
	f := (*flow)(h)
	if string(m.uri) != f.lastURI {
		f.lastURI = string(m.uri)
	}
	uri := f.lastURI
	f.trans = append(f.trans, Transaction{
		Index:             len(f.trans) + 1,
		Method:            intern(m.method),
		URI:               uri,
		RequestVersion:    intern(m.version),
		RequestStartAt:    At(m.start),
		RequestConnection: m.connection,
		InterimStatuses:   noInterim,
	})
	mt := txMeta{reqSeq: m.seq, afterServerFIN: f.serverFIN}
	if n := len(f.meta); n > 0 {
		if f.meta[n-1].respDone {
			mt.afterIdle = true
		} else {
			f.trans[n].Pipelined = true
		}
	}
	f.meta = append(f.meta, mt)
}

// noInterim is the empty interim-status list every transaction starts with
// (appending to it allocates, so sharing it is safe).
var noInterim = []int{}

func (h *reqHandler) headers(m *message) (string, int64) {
	f := (*flow)(h)
	if n := len(f.trans); n > 0 {
		f.trans[n-1].RequestConnection = m.connection
	}
	switch {
	case m.chunked:
		return FramingChunked, 0
	case m.te:
		(*flow)(h).anomaly("request-unknown-transfer-encoding")
		return framingBad, 0
	case m.hasCL:
		return FramingContentLength, m.cl
	}
	return FramingNoBody, 0
}

func (h *reqHandler) end(m *message) {
	f := (*flow)(h)
	t, ok := f.lastTxn()
	if !ok || t.reqSeq != m.seq {
		return
	}
	t.reqDone = true
	t.reqComplete = m.complete
	t.RequestEndAt = At(m.end)
	t.RequestBytes = m.bytes
}

func (h *reqHandler) anomaly(name string) { (*flow)(h).anomaly(name) }

func (h *reqHandler) strayCRLF(n int) {
	f := (*flow)(h)
	f.stray += uint64(n)
	f.anomaly("stray-crlf")
}

// lastTxn returns the last transaction, ok=false when there is none.
func (f *flow) lastTxn() (txn, bool) {
	if len(f.trans) == 0 {
		return txn{}, false
	}
	return f.tx(len(f.trans) - 1), true
}

type respHandler flow

func (h *respHandler) begin(m *message) {
	f := (*flow)(h)
	f.respTarget = -1
	if f.nextResp < len(f.trans) {
		f.respTarget = f.nextResp
	} else {
		f.anomaly("response-without-request")
	}
}

func (h *respHandler) headers(m *message) (string, int64) {
	f := (*flow)(h)
	var t *Transaction
	method := ""
	if f.respTarget >= 0 {
		t = &f.trans[f.respTarget]
		method = t.Method
	}
	st := m.status
	if st >= 100 && st < 200 && st != 101 {
		m.interim = true
		if t != nil {
			t.InterimStatuses = append(t.InterimStatuses, st)
		}
		return FramingNoBody, 0
	}
	framing, n := responseFraming(method, m)
	if t != nil {
		f.meta[f.respTarget].respSeq = m.seq
		t.Status, t.ResponseVersion = statusPtr(st), internPtr(&m.version)
		t.ResponseStartAt = At(m.start)
		t.ResponseConnection = m.connection
		if m.hasKeepAlive {
			// One string per distinct value on the connection.
			if f.lastKA == nil || *f.lastKA != string(m.keepAlive) {
				v := string(m.keepAlive)
				f.lastKA = &v
			}
			t.ResponseKeepAlive = f.lastKA
		}
		fr := framing
		if fr == framingTunnel {
			fr = FramingNoBody
			t.Tunnel = true
		}
		t.ResponseFraming = framingPtr(fr)
	}
	if framing == framingTunnel {
		f.req.state = psTunnel
		f.anomaly("tunnel")
	}
	return framing, n
}

// responseFraming decides how a response's body ends, in RFC 9112 §6.3
// order: no body for HEAD, 1xx, 204 and 304; a tunnel after a 2xx to
// CONNECT or a 101; chunked; another transfer coding (read to the close);
// Content-Length; else read to the close.
func responseFraming(method string, m *message) (string, int64) {
	st := m.status
	switch {
	case method == "CONNECT" && st >= 200 && st < 300, st == 101:
		return framingTunnel, 0
	case method == "HEAD", st >= 100 && st < 200, st == 204, st == 304:
		return FramingNoBody, 0
	case m.chunked:
		return FramingChunked, 0
	case m.te:
		return FramingClose, 0
	case m.hasCL:
		return FramingContentLength, m.cl
	}
	return FramingClose, 0
}

func (h *respHandler) end(m *message) {
	f := (*flow)(h)
	if m.interim || f.respTarget < 0 || f.meta[f.respTarget].respSeq != m.seq {
		return
	}
	t := f.tx(f.respTarget)
	f.respTarget = -1
	t.respDone = true
	t.ResponseEndAt = At(m.end)
	t.ResponseBytes = m.bytes
	t.Complete = t.reqComplete && m.complete
	f.nextResp++
}

func (h *respHandler) anomaly(name string) {
	if name == "non-http-payload" || name == "content-gap" {
		(*flow)(h).anomaly(name)
		return
	}
	(*flow)(h).anomaly("response-" + name)
}

func (h *respHandler) strayCRLF(n int) {}

// Common header values and tokens, shared by every transaction that has
// them instead of one copy each.
var interned = func() map[string]*string {
	m := map[string]*string{}
	for _, v := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT",
		"HTTP/1.0", "HTTP/1.1", "keep-alive", "close", "upgrade", "keep-alive, upgrade",
		FramingContentLength, FramingChunked, FramingClose, FramingNoBody} {
		v := v
		m[v] = &v
	}
	return m
}()

// internBytes returns the shared string for b, or a new one.
func internBytes(b []byte) string {
	if p, ok := interned[string(b)]; ok { // no allocation for the lookup
		return *p
	}
	return string(b)
}

func intern(s string) string {
	if p, ok := interned[s]; ok {
		return *p
	}
	return s
}

// sharedPtr returns the shared pointer to s when it is a common value,
// else a new one.
func sharedPtr(s string) *string {
	if p, ok := interned[s]; ok {
		return p
	}
	p := new(string) // not &s: that would move s to the heap on every call
	*p = s
	return p
}

func internPtr(s *string) *string {
	if s == nil {
		return nil
	}
	if p, ok := interned[*s]; ok {
		return p
	}
	v := *s
	return &v
}

var statuses [600]int

func init() {
	for i := range statuses {
		statuses[i] = i
	}
}

// statusPtr returns a shared pointer for a status code.
func statusPtr(st int) *int {
	if st >= 0 && st < len(statuses) {
		return &statuses[st]
	}
	p := new(int)
	*p = st
	return p
}

// framingPtr returns the shared pointer for a framing name.
func framingPtr(fr string) *string { return sharedPtr(fr) }
