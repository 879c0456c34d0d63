// Package httpflow turns reassembled TCP connections into HTTP connection
// lifecycles: HTTP/1.x (framing.go), HTTP/2 stream by stream in cleartext
// or decrypted (h2.go), HTTPS through internal/tlsrec (tls.go).
//
// In: the tcpstate.Stream calls for each connection (in-order bytes of both
// directions with capture times, gaps, FIN, RST, and the final tcpstate.Conn
// facts).
//
// Out: for each connection, once its streams end, a Finished value whose
// Record is the CONNECTION object of shared/spec/lifecycle-json.md: its
// transactions with first- and last-byte times, keep-alive idle periods,
// the final idle, the close with its reason and evidence, TIME_WAIT, and
// anomalies; and a Summary over all records (SummaryBuilder).
//
// Call order: NewAnalyzer, pass Analyzer.Factory to tcpstate.NewTable, feed
// the table; each finished connection is handed to the out function given
// to NewAnalyzer, in the order connections finish, on the goroutine that
// feeds the table. Its record may be built there or on another goroutine
// (internal/pipeline decides); this package starts none. The clock is the
// packet: nothing here reads the wall clock.
package httpflow

import (
	"time"

	"github.com/httplife/httplife/internal/tlsrec"
	"github.com/httplife/httplife/tcpstate"
)

// Config tunes the analysis.
type Config struct {
	// Transient says that whoever uses a record keeps nothing of it past
	// Finished.Done but strings: the memory of its transactions and their
	// times is reused for the next record built with the same Memory.
	Transient bool
	// KeyLog holds TLS secrets (an SSLKEYLOGFILE, pcapng Decryption
	// Secrets Blocks) that decrypt HTTPS connections; nil or empty: TLS
	// connections get the inferred view (tls.go).
	KeyLog *tlsrec.KeyLog
}

// Analyzer makes a flow per connection and hands each finished one over.
type Analyzer struct {
	cfg  Config
	out  func(Finished)
	free chan *flow // flows done with, for reuse
}

// Finished is a connection whose streams have ended: its record can be
// built, on any goroutine, once. Call Record, use the record, then Done.
type Finished struct {
	f *flow
	c *tcpstate.Conn
}

// Conn returns the connection's TCP facts.
func (x Finished) Conn() *tcpstate.Conn { return x.c }

// Transactions is the number of transactions the record will hold: the
// weight of building it.
func (x Finished) Transactions() int { return x.f.txs.n }

// Record builds the CONNECTION record. m is memory the calling goroutine
// reuses from record to record (Config.Transient); nil for fresh memory.
func (x Finished) Record(m *Memory) *Connection {
	if m == nil {
		m = new(Memory)
	}
	return x.f.record(x.c, m)
}

// Done ends the connection once its record was used: the record's memory
// goes back to m (nil: to nobody) and the flow is recycled.
func (x Finished) Done(m *Memory) { x.f.done(x.c, m) }

// Memory is the memory of a record's transactions and idle periods, which with Config.Transient the goroutine that builds records
// reuses for its next one. The zero value is ready to use; one Memory per
// goroutine.
type Memory struct {
	txs   []Transaction
	idles []Idle
	facts []txFact // the close classifier's input, used within record
}

// maxReusedTxs bounds the transactions' memory kept for the next record:
// at most about 8 MB a Memory (a Transaction, its fact and its idle period
// take about 500 bytes), so a keep-alive pool's connections (thousands of
// requests each, often all open at the end of the capture) reuse one
// record's memory instead of each allocating and zeroing its own
// (docs/performance.md).
const maxReusedTxs = 16384

// maxFreeFlows bounds the flows kept for reuse.
const maxFreeFlows = 1024

// NewAnalyzer returns an Analyzer that hands each finished connection to
// out, in the order connections finish, on the goroutine that feeds the
// tcpstate table.
func NewAnalyzer(cfg Config, out func(Finished)) *Analyzer {
	return &Analyzer{cfg: cfg, out: out, free: make(chan *flow, maxFreeFlows)}
}

// Emitting returns an out function for NewAnalyzer that builds each record
// at once with m and passes it to emit.
func Emitting(m *Memory, emit func(*Connection)) func(Finished) {
	return func(x Finished) {
		rec := x.Record(m)
		if emit != nil {
			emit(rec)
		}
		x.Done(m)
	}
}

// Factory returns the tcpstate.Factory that feeds this analyzer.
func (a *Analyzer) Factory() tcpstate.Factory {
	return func(c *tcpstate.Conn) tcpstate.Stream {
		f := newFlow(a)
		f.conn = c
		return f
	}
}

// flow follows the HTTP exchange of one connection.
type flow struct {
	a          *Analyzer
	req, resp  framer
	txs        txStore
	strs       strTable
	clk        clock
	interims   [][]int // interim statuses, for the few transactions that have them
	nextResp   int     // index of the first transaction awaiting its final response
	respTarget int     // index of the transaction the response being read belongs to, or -1
	anomalies  []string
	stray      uint64
	serverFIN  bool
	conn       *tcpstate.Conn // whose Gap calls say whether the snaplen cut the bytes
	// respLost: server bytes since the last response began were lost (a
	// gap) or were no response (not HTTP); pipelines: a response began
	// after a later request had been sent, with nothing lost before it
	// (the client pipelines). Together they decide skipLost. lostPending:
	// a gap between two responses while a request waited for its own:
	// the lost bytes began that response (lastLost).
	respLost, pipelines, lostPending bool
	// orphanEnd: when the last final response that answered no captured
	// request ended (noTime: none; the capture began between a request
	// and its response, or lost the request); orphanClose: it carried
	// Connection: close; orphanEnds: it ended the connection by its own
	// terms otherwise ("": no): HTTP/1.0 without keep-alive, or a body
	// that ends with the close.
	orphanEnd   int64
	orphanClose bool
	orphanEnds  string
	// orphanOfCaptured: when that response came, the capture held every
	// byte the client had sent (its SYN, no gap): the response answered
	// client bytes that were no HTTP request. reqGap: the client's bytes
	// had a gap.
	orphanOfCaptured, reqGap bool

	// TLS (tls.go): the client's first bytes until they tell, then the
	// record layer when they were a ClientHello.
	sniffDone bool
	sniffed   []byte
	sniffAt   time.Time
	tls       *tlsFlow
	h2        *h2Flow // HTTP/2 (h2.go): cleartext, or the plaintext of TLS with ALPN h2
	tunneled  [2]bool // a direction's bytes after a tunnel began were looked at (upgradeH2)
	tunHead   [2][]byte
	tunAt     [2]time.Time

	// The record's transactions and idle periods, expanded from txs when
	// the connection is done.
	rec   []Transaction
	idles []Idle
}

func newFlow(a *Analyzer) *flow {
	select {
	case f := <-a.free:
		return f
	default:
	}
	f := &flow{a: a, respTarget: -1, orphanEnd: noTime}
	f.req = framer{request: true, h: (*reqHandler)(f)}
	f.resp = framer{h: (*respHandler)(f)}
	return f
}

// recycle resets a flow whose record was emitted and keeps it for the next
// connection. What the record shares (strings, interim statuses,
// anomalies) is dropped, not reused; the framers' buffers and the first
// transaction chunks are kept.
func (f *flow) recycle() {
	a := f.a
	if len(a.free) == cap(a.free) {
		return
	}
	chunks := f.txs.chunks // add overwrites a slot whole: no need to clear them
	if len(chunks) > 4 {
		clear(chunks[4:]) // keep up to 15 transactions' room; bigger chunks go
		chunks = chunks[:4]
	}
	reqLine, reqKA := small(f.req.line), small(f.req.kaBuf)
	respLine, respKA := small(f.resp.line), small(f.resp.kaBuf)
	*f = flow{a: a, respTarget: -1, orphanEnd: noTime}
	f.txs.chunks = chunks
	f.req = framer{request: true, h: (*reqHandler)(f), line: reqLine, kaBuf: reqKA}
	f.resp = framer{h: (*respHandler)(f), line: respLine, kaBuf: respKA}
	select {
	case a.free <- f:
	default:
	}
}

// clientCaptured reports whether the capture holds every byte the client
// has sent so far: its SYN, and no gap in its bytes.
func (f *flow) clientCaptured() bool { return f.conn != nil && f.conn.SynSeen && !f.reqGap }

// small returns b emptied, or nil when it grew big (a hostile line).
func small(b []byte) []byte {
	if cap(b) > 4096 {
		return nil
	}
	return b[:0]
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
	if f.tls != nil {
		f.tls.conn.Data(tlsDir(d), b, t)
		return
	}
	if f.h2 != nil {
		f.h2Data(d, b, t)
		return
	}
	if !f.sniffDone && f.sniff(d, b, t) {
		return
	}
	if d == tcpstate.ClientToServer {
		f.req.feed(b, t)
		if f.serverFIN && f.req.msg != nil && f.txs.n > 0 {
			f.txs.last().afterServerFIN = true
		}
		return
	}
	f.resp.feed(b, t)
}

// Gap implements tcpstate.Stream.
func (f *flow) Gap(d tcpstate.Dir, n int, t time.Time) {
	if f.tls != nil {
		f.tls.conn.Gap(tlsDir(d), n)
		return
	}
	if f.h2 != nil {
		if !f.h2.broken {
			f.h2Break("content-gap")
		}
		return
	}
	if !f.sniffDone {
		f.sniffDone = true
		f.flushSniff()
	}
	cut := f.conn != nil && f.conn.InCut()
	if d == tcpstate.ClientToServer {
		f.reqGap = f.reqGap || !cut
		f.req.gap(n, t, cut)
		return
	}
	// Between two responses, or past the end of one (the body's length
	// known), the bytes lost begin the next response.
	between := f.respTarget < 0 && f.resp.msg == nil
	f.resp.gap(n, t, cut)
	if !cut && f.nextResp < f.txs.n && f.respTarget < 0 && (between || f.resp.state == psResync && f.resp.msg == nil) {
		f.lostPending = true
	}
}

// lastLost marks the last request's response as lost when the capture
// ended (or the connection closed) after a gap in the server's bytes
// that came while that request waited for its response, with no response
// begun after it: the bytes the client acknowledged and the capture lacks
// were that response (or its start).
func (f *flow) lastLost() {
	if f.lostPending && f.respTarget < 0 && f.nextResp == f.txs.n-1 {
		f.txs.at(f.nextResp).respLost = true
		f.anomaly("response-not-captured")
	}
}

// FIN implements tcpstate.Stream.
func (f *flow) FIN(d tcpstate.Dir, t time.Time) {
	if !f.sniffDone && d == tcpstate.ClientToServer {
		f.sniffDone = true
		f.flushSniff()
	}
	if d == tcpstate.ClientToServer {
		f.req.close(true)
		return
	}
	f.serverFIN = true
	f.resp.close(true)
}

// RST implements tcpstate.Stream.
// The sender's stream ends with its RST; the peer's stays open until
// Done, for bytes it sent before the RST reached it (they crossed it, or a
// mirror that delays one direction recorded them after it).
func (f *flow) RST(d tcpstate.Dir, t time.Time) {
	if d == tcpstate.ClientToServer {
		f.req.close(false)
	} else {
		f.resp.close(false)
	}
}

// Done implements tcpstate.Stream: the streams ended, the connection is
// handed over. Neither f nor c changes after Done, so its record may be
// built on another goroutine.
func (f *flow) Done(c *tcpstate.Conn) {
	if !f.sniffDone {
		f.flushSniff()
	}
	f.req.close(false)
	f.resp.close(false)
	if f.tls != nil {
		f.finishTLS(c)
	}
	f.a.out(Finished{f, c})
}

// done ends the flow once its record was used: the record's memory goes
// back to m (nil: to nobody) and the flow is recycled.
func (f *flow) done(c *tcpstate.Conn, m *Memory) {
	a := f.a
	if m != nil && a.cfg.Transient && cap(f.rec) <= maxReusedTxs {
		m.txs = f.rec[:0]
		if f.idles != nil {
			m.idles = f.idles[:0]
		}
	}
	f.recycle()
}

type reqHandler flow

func (h *reqHandler) begin(m *message) {
	f := (*flow)(h)
	// A response whose end the capture hid was over when its last byte
	// came before this request.
	f.resp.endOpen(m.start)
	c := ctx{
		method:         f.strs.refString(m.method),
		uri:            f.strs.ref(m.uri),
		reqVer:         f.strs.refString(m.version),
		reqStart:       f.clk.off(m.start),
		reqEnd:         noTime,
		respStart:      noTime,
		respEnd:        noTime,
		reqSeq:         m.seq,
		afterServerFIN: f.serverFIN,
	}
	f.txs.follow(&c)
	if c.afterIdle && f.orphanEnd != noTime && f.orphanEnd > f.txs.last().respEnd && !f.clientCaptured() {
		// A response to a request the capture lost came between: the
		// connection was not idle from the previous response to this
		// request, and no idle period is measured. A server's error for
		// client bytes that were no request (the capture holds them all,
		// gaps before this request included: h11's 400 for a stray CRLF)
		// leaves the period as it was: no request was in it.
		c.afterIdle = false
	}
	f.txs.add(c)
}

// addInterim adds an interim (1xx) status to c's list.
func (f *flow) addInterim(c *ctx, st int) {
	if c.interim == 0 {
		f.interims = append(f.interims, nil)
		c.interim = uint32(len(f.interims))
	}
	f.interims[c.interim-1] = append(f.interims[c.interim-1], st)
}

// noInterim is the empty interim-status list of most transactions
// (appending to it allocates, so sharing it is safe).
var noInterim = []int{}

// headers notes the request's Connection header and decides its body.
func (h *reqHandler) headers(m *message) (BodyKind, int64, bool) {
	f := (*flow)(h)
	if c := f.txs.last(); c != nil {
		if m.hasConnection {
			c.reqConn = f.strs.refString(m.connection)
			c.reqClose, c.reqKeepAlive = hasToken(m.connection, "close"), hasToken(m.connection, "keep-alive")
		}
		if m.requestID != nil {
			c.reqID = f.strs.ref(m.requestID)
		}
	}
	kind, n := requestBody(&m.length)
	if kind == BodyInvalid && m.length.te {
		f.anomaly("request-unknown-transfer-encoding")
	}
	return kind, n, false
}

// headersCut notes a request whose header section was not captured whole.
func (h *reqHandler) headersCut(m *message) {
	if c := (*flow)(h).txs.last(); c != nil && c.reqSeq == m.seq {
		c.reqHidden = true
	}
}

func (h *reqHandler) end(m *message) {
	f := (*flow)(h)
	c := f.txs.last()
	if c == nil || c.reqSeq != m.seq {
		return
	}
	c.reqDone = true
	c.reqComplete = m.complete
	c.reqEnd = f.clk.off(m.end)
	c.reqBytes = m.bytes
}

func (h *reqHandler) anomaly(name string) { (*flow)(h).anomaly(name) }

func (h *reqHandler) tunnel(b []byte, t time.Time) {
	(*flow)(h).upgradeH2(tcpstate.ClientToServer, b, t)
}

func (h *respHandler) tunnel(b []byte, t time.Time) {
	(*flow)(h).upgradeH2(tcpstate.ServerToClient, b, t)
}

func (h *reqHandler) strayCRLF(n int) {
	f := (*flow)(h)
	f.stray += uint64(n)
	f.anomaly("stray-crlf")
}

type respHandler flow

func (h *respHandler) begin(m *message) {
	f := (*flow)(h)
	// A request whose end the capture hid was over when its last byte
	// came before its response.
	f.req.endOpen(m.start)
	f.respTarget = -1
	start := f.clk.off(m.start)
	f.lostPending = false
	if f.respLost {
		f.respLost = false
		if !f.pipelines {
			f.skipLost(start)
		}
	} else if f.nextResp+1 < f.txs.n && f.txs.at(f.nextResp+1).reqStart < start {
		f.pipelines = true
	}
	if f.nextResp < f.txs.n {
		f.respTarget = f.nextResp
	} else {
		f.anomaly("response-without-request")
	}
}

// skipLost passes over the responses that server bytes the capture lost
// (or could not read as HTTP) must have held, before a response that
// began at start: on a connection whose client does not pipeline, a
// request sent before this response began was sent after the response to
// the one before it had come. Without it one lost segment of response
// headers (a kernel drop) pairs every later response with the request
// before its own, to the end of the connection.
func (f *flow) skipLost(start int64) {
	lost := false
	for f.nextResp+1 < f.txs.n {
		next := f.txs.at(f.nextResp + 1)
		if next.reqStart == noTime || next.reqStart >= start {
			break
		}
		f.txs.at(f.nextResp).respLost = true
		next.pipelined = false // it only seemed to be: the response before it was not seen
		f.nextResp++
		lost = true
	}
	if lost {
		f.anomaly("response-not-captured")
	}
}

// headers notes the response's facts on its transaction and decides, once,
// its body and whether the connection persists after it.
func (h *respHandler) headers(m *message) (BodyKind, int64, bool) {
	f := (*flow)(h)
	var c *ctx
	method := ""
	if f.respTarget >= 0 {
		c = f.txs.at(f.respTarget)
		method = f.strs.str(c.method)
	}
	st := m.status
	if st >= 100 && st < 200 && st != 101 {
		m.interim = true
		if c != nil {
			f.addInterim(c, st)
		}
		return BodyNone, 0, false
	}
	kind, n, incomplete := responseBody(method, st, &m.length)
	if c == nil && (kind == BodyLength || kind == BodyChunked || kind == BodyUntilClose) {
		// Its request, which the capture lacks, may have been a HEAD: the
		// body it announces may not follow (framer.segmentStarts).
		f.resp.bodyUnsure = true
	}
	if c != nil {
		c.respSeq = m.seq
		c.status = uint16(st) // parseStatusLine: 100..999
		c.respVer = f.strs.refString(m.version)
		c.respStart = f.clk.off(m.start)
		c.respConn, c.respClose, c.respKeepAlive = 0, false, false
		if m.hasConnection {
			c.respConn = f.strs.refString(m.connection)
			c.respClose, c.respKeepAlive = hasToken(m.connection, "close"), hasToken(m.connection, "keep-alive")
		}
		if m.hasKeepAlive {
			c.respKA = f.strs.ref(m.keepAlive)
		}
		c.body = kind
		c.persist = persistence(&exchangeHeaders{
			reqVersion: f.strs.str(c.reqVer), respVersion: m.version,
			reqClose: c.reqClose, reqKeepAlive: c.reqKeepAlive, respClose: c.respClose, respKeepAlive: c.respKeepAlive,
			respBody: kind, haveResponse: true,
		})
	}
	if kind == BodyTunnel {
		f.req.state = psTunnel
		f.anomaly("tunnel")
	}
	return kind, n, incomplete
}

// headersCut counts a response whose header section was not captured
// whole: its status is known; what only the missing headers tell (the
// body's framing, Connection) is unknown, not guessed, unless the status
// and method decide it (no body, a tunnel).
func (h *respHandler) headersCut(m *message) {
	f := (*flow)(h)
	kind, _, _ := h.headers(m) // the header lines captured, if any
	if m.interim || f.respTarget < 0 {
		return
	}
	c := f.txs.at(f.respTarget)
	if c.respSeq != m.seq {
		return
	}
	c.respHidden = true
	if kind != BodyNone && kind != BodyTunnel {
		c.body = BodyUnknown
		c.persist = persistence(&exchangeHeaders{
			reqVersion: f.strs.str(c.reqVer), respVersion: m.version,
			reqClose: c.reqClose, reqKeepAlive: c.reqKeepAlive, respClose: c.respClose, respKeepAlive: c.respKeepAlive,
			respBody: BodyUnknown, haveResponse: true,
		})
	}
}

func (h *respHandler) end(m *message) {
	f := (*flow)(h)
	if m.interim {
		return
	}
	if f.respTarget < 0 {
		if m.begun {
			f.orphanEnd = f.clk.off(m.end)
			f.orphanClose = m.hasConnection && hasToken(m.connection, "close")
			switch {
			case m.version == "HTTP/1.0" && !(m.hasConnection && hasToken(m.connection, "keep-alive")):
				f.orphanEnds = "it was HTTP/1.0 without keep-alive"
			case m.body == BodyUntilClose:
				f.orphanEnds = orphanBodyToClose
			default:
				f.orphanEnds = ""
			}
			f.orphanOfCaptured = f.clientCaptured()
		}
		return
	}
	c := f.txs.at(f.respTarget)
	if c.respSeq != m.seq {
		return
	}
	f.respTarget = -1
	c.respDone = true
	c.respEnd = f.clk.off(m.end)
	c.respBytes = m.bytes
	c.complete = c.reqComplete && m.complete
	f.nextResp++
}

func (h *respHandler) anomaly(name string) {
	switch name {
	case "non-http-payload", "content-gap", "malformed-start-line":
		(*flow)(h).respLost = true
	}
	if name == "non-http-payload" || name == "content-gap" {
		(*flow)(h).anomaly(name)
		return
	}
	(*flow)(h).anomaly("response-" + name)
}

func (h *respHandler) strayCRLF(n int) {}

// internBytes returns the shared string for b when it is a common value,
// else a new one.
func internBytes(b []byte) string {
	if r := commonRef(string(b)); r != 0 { // no allocation for the lookup
		return common[r-1]
	}
	return string(b)
}

var statuses [1000]int

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
