package httpflow

import (
	"encoding/hex"
	"time"

	"github.com/httplife/httplife/internal/tlsrec"
	"github.com/httplife/httplife/tcpstate"
)

// HTTPS. A connection whose client opens with a TLS ClientHello (on any
// port) is followed by tlsrec: its records, and with the connection's
// secrets (Config.KeyLog) their plaintext, which goes to the HTTP/1.x
// framers as cleartext does, each record's bytes timed from the capture
// time of its first byte to that of its last. Without plaintext (no keys,
// or ALPN h2) the transactions are inferred from the records
// (tlsrec.Inferrer): a request is a run of client application-data
// records, its response the server's records that follow; they carry
// times and sizes, no method, URI or status, and Inferred. Either way the
// close is classified as for cleartext, from the same TCP facts.

// sniffLen is how many of the client's first bytes decide whether it
// speaks TLS (tlsrec.Looks).
const sniffLen = 6

// maxInferred bounds the inferred exchanges one connection keeps.
const maxInferred = 1 << 20

// tlsFlow is the TLS side of a flow.
type tlsFlow struct {
	conn    *tlsrec.Conn
	inf     tlsrec.Inferrer
	ex      txStore // the inferred exchanges, as transactions (no pointers, never moved)
	plain   bool    // plaintext reached the framers: the transactions are HTTP's
	h2      bool    // ALPN h2: plaintext is HTTP/2, not parsed
	checked bool    // ALPN looked at (on the first plaintext)
	dropped int     // exchanges over maxInferred
}

// sniff decides, from the client's first bytes, whether the connection is
// TLS. It returns true when b was taken (kept for later, or handed to
// tlsrec); false when the caller feeds it (and what was kept) to the
// framers.
func (f *flow) sniff(d tcpstate.Dir, b []byte, t time.Time) bool {
	if d != tcpstate.ClientToServer {
		f.sniffDone = true // a server that speaks first: not TLS
		if len(f.sniffed) == 0 && looksH2(d, b) {
			f.startH2() // a gRPC server's SETTINGS
			f.h2Data(d, b, t)
			return true
		}
		f.flushSniff()
		return false
	}
	need := sniffLen - len(f.sniffed)
	if len(f.sniffed) == 0 && len(b) >= sniffLen {
		f.sniffDone = true
		if tlsrec.Looks(b) {
			f.startTLS()
			f.tls.conn.Data(tlsrec.ClientToServer, b, t)
			return true
		}
		if looksH2(d, b) {
			f.startH2()
			f.h2Data(d, b, t)
			return true
		}
		return false
	}
	// A ClientHello split before its sixth byte: keep what came.
	take := min(need, len(b))
	f.sniffed = append(f.sniffed, b[:take]...)
	if len(f.sniffed) == 1 {
		f.sniffAt = t
	}
	if len(f.sniffed) < sniffLen && (f.sniffed[0] == 0x16 && (len(f.sniffed) < 2 || f.sniffed[1] == 3) ||
		string(f.sniffed) == h2Preface[:len(f.sniffed)]) {
		return true // maybe TLS or HTTP/2: wait for more (take == len(b) here)
	}
	f.sniffDone = true
	if tlsrec.Looks(f.sniffed) {
		f.startTLS()
		f.tls.conn.Data(tlsrec.ClientToServer, f.sniffed[:len(f.sniffed)-take], f.sniffAt)
		f.tls.conn.Data(tlsrec.ClientToServer, b, t)
		f.sniffed = f.sniffed[:0]
		return true
	}
	if looksH2(d, f.sniffed) {
		f.startH2()
		f.h2Data(d, f.sniffed[:len(f.sniffed)-take], f.sniffAt)
		f.h2Data(d, b, t)
		f.sniffed = f.sniffed[:0]
		return true
	}
	// Not TLS: what was kept goes to the framer first, then the rest.
	kept := f.sniffed[:len(f.sniffed)-take]
	if len(kept) > 0 {
		f.req.feed(kept, f.sniffAt)
	}
	f.sniffed = f.sniffed[:0]
	return false
}

// flushSniff hands bytes kept by sniff to the request framer.
func (f *flow) flushSniff() {
	if len(f.sniffed) > 0 {
		f.req.feed(f.sniffed, f.sniffAt)
		f.sniffed = f.sniffed[:0]
	}
}

func (f *flow) startTLS() {
	f.tls = &tlsFlow{}
	f.tls.conn = tlsrec.NewConn((*tlsHandler)(f), f.a.cfg.KeyLog)
}

func tlsDir(d tcpstate.Dir) tlsrec.Dir {
	if d == tcpstate.ClientToServer {
		return tlsrec.ClientToServer
	}
	return tlsrec.ServerToClient
}

func tcpDir(d tlsrec.Dir) tcpstate.Dir {
	if d == tlsrec.ClientToServer {
		return tcpstate.ClientToServer
	}
	return tcpstate.ServerToClient
}

type tlsHandler flow

// Record implements tlsrec.Handler: every record feeds the inferred view.
func (h *tlsHandler) Record(d tlsrec.Dir, r tlsrec.Record) {
	x := (*flow)(h).tls
	if ex, ok := x.inf.Add(d, r); ok {
		(*flow)(h).keepInferred(ex)
	}
}

// keepInferred keeps an inferred exchange as a transaction; finishTLS
// makes them the connection's unless plaintext came.
func (f *flow) keepInferred(e tlsrec.Exchange) {
	x := f.tls
	if x.ex.n >= maxInferred {
		x.dropped++
		return
	}
	cx := ctx{
		reqStart: f.clk.off(e.Request.First), reqEnd: f.clk.off(e.Request.Last),
		respStart: noTime, respEnd: noTime,
		reqBytes: e.Request.Bytes, respBytes: e.Response.Bytes,
		reqSeq: uint64(x.ex.n + 1), reqDone: true, reqComplete: true,
		inferred: true,
	}
	if e.Response.Records > 0 {
		cx.respStart, cx.respEnd = f.clk.off(e.Response.First), f.clk.off(e.Response.Last)
		cx.respDone, cx.complete = true, true
	}
	x.ex.follow(&cx)
	x.ex.add(cx)
}

// Plaintext implements tlsrec.Handler: decrypted application data is
// HTTP/1.x (unless ALPN chose h2), its first byte timed at the record's
// first byte and the rest at its last.
func (h *tlsHandler) Plaintext(d tlsrec.Dir, b []byte, first, last time.Time) {
	f := (*flow)(h)
	x := f.tls
	if !x.checked {
		x.checked = true
		if in := x.conn.Info(); in.ALPN == "h2" {
			x.h2 = true
		}
	}
	if len(b) == 0 {
		return
	}
	x.plain = true
	if x.h2 {
		if f.h2 == nil {
			f.startH2()
		}
		f.h2Data(tcpDir(d), b[:1], first)
		if len(b) > 1 {
			f.h2Data(tcpDir(d), b[1:], last)
		}
		return
	}
	fr := &f.resp
	if d == tlsrec.ClientToServer {
		fr = &f.req
	}
	fr.feed(b[:1], first)
	if len(b) > 1 {
		fr.feed(b[1:], last)
	}
	if d == tlsrec.ClientToServer && f.serverFIN && f.req.msg != nil && f.txs.n > 0 {
		f.txs.last().afterServerFIN = true
	}
}

// finishTLS, when the streams ended, makes the transactions of a TLS
// connection that gave no plaintext from its inferred exchanges.
func (f *flow) finishTLS(c *tcpstate.Conn) {
	x := f.tls
	if ex, ok := x.inf.Flush(); ok {
		f.keepInferred(ex)
	}
	if x.plain || x.ex.n == 0 {
		x.ex = txStore{}
		return
	}
	if svFIN := c.Server().FinAt; !svFIN.IsZero() {
		fin := f.clk.off(svFIN)
		for i := 0; i < x.ex.n; i++ {
			if cx := x.ex.at(i); cx.reqStart > fin {
				cx.afterServerFIN = true
			}
		}
	}
	// f.txs is empty: a TLS connection's framers see plaintext only, and
	// none came.
	f.txs, x.ex = x.ex, txStore{}
}

// tlsRecord is the record's tls object and the notes for the capture's
// warnings.
func (f *flow) tlsRecord(r *Connection, serverFIN time.Time) {
	x := f.tls
	in := x.conn.Info()
	t := &TLS{Version: in.Version, SNI: in.SNI, ALPN: in.ALPN, Decrypted: in.Decrypted && x.plain}
	if in.Decrypted && x.h2 {
		t.Decrypted = true
	}
	if d, ok := in.CloseNotifyBy(); ok {
		t.CloseNotifyBy = Server
		if d == tlsrec.ClientToServer {
			t.CloseNotifyBy = Client
			cn := in.CloseNotify[0]
			t.ClientEnded = !serverFIN.IsZero() && cn.Before(serverFIN)
		}
	}
	if t.Version == "" {
		t.Version = in.ClientVersion
	}
	r.TLS = t
	if x.h2 {
		f.anomaly("http2")
	}
	if k := f.a.cfg.KeyLog; k != nil && k.Len() > 0 && !in.HaveKeys && in.ClientRandom != ([32]byte{}) {
		f.anomaly("tls-keys-missing")
		r.Notes = append(r.Notes, "no TLS secrets for client random "+hex.EncodeToString(in.ClientRandom[:])+": its transactions are inferred from the records")
	}
	for _, w := range in.Warnings {
		r.Notes = append(r.Notes, "TLS: "+w)
	}
	if x.dropped > 0 {
		f.anomaly("tls-exchanges-capped")
	}
}
