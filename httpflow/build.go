package httpflow

import (
	"strconv"
	"strings"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/tcpstate"
)

// Building a connection's record once its streams have ended: the stored
// transactions are expanded, the idle periods, the final idle, TIME_WAIT
// and keep-alive facts derived, then the close is classified (classify.go)
// from facts gathered here.

// expand turns the stored transactions into the record's; f.rec is the
// record's slice.
func (f *flow) expand(m *Memory) []Transaction {
	f.lastLost()
	n := f.txs.n
	if f.a.cfg.Transient && n > 0 && cap(m.txs) >= n { // n == 0: [], not null
		f.rec, m.txs = m.txs[:n], nil // every element is set whole below
	} else {
		f.rec = make([]Transaction, n)
	}
	for i := 0; i < n; i++ {
		c, t := f.txs.at(i), &f.rec[i]
		*t = Transaction{
			Index:              i + 1,
			Method:             f.strs.str(c.method),
			URI:                f.strs.str(c.uri),
			RequestVersion:     f.strs.str(c.reqVer),
			Status:             int(c.status),
			ResponseVersion:    f.strs.str(c.respVer),
			RequestStartAt:     f.clk.at(c.reqStart),
			RequestEndAt:       f.clk.at(c.reqEnd),
			ResponseStartAt:    f.clk.at(c.respStart),
			ResponseEndAt:      f.clk.at(c.respEnd),
			RequestBytes:       c.reqBytes,
			ResponseBytes:      c.respBytes,
			RequestConnection:  f.strs.ptr(c.reqConn),
			ResponseConnection: f.strs.ptr(c.respConn),
			ResponseKeepAlive:  f.strs.ptr(c.respKA),
			RequestID:          f.strs.str(c.reqID),
			Framing:            c.body,
			InterimStatuses:    noInterim,
			Pipelined:          c.pipelined,
			Complete:           c.complete,
			Inferred:           c.inferred,
			ResponseLost:       c.respLost,
		}
		switch c.body {
		case BodyTunnel:
			t.Framing, t.Tunnel = BodyNone, true
		case BodyInvalid:
			t.Framing = BodyUntilClose
		}
		if c.interim != 0 {
			t.InterimStatuses = f.interims[c.interim-1]
		}
		if c.respDone && c.respStart != noTime && c.reqEnd != noTime {
			if d := f.clk.sub(c.respStart, c.reqEnd, t.ResponseStartAt, t.RequestEndAt); d >= 0 {
				t.ServerTime, t.HasServerTime = d, true
			}
		}
	}
	return f.rec
}

// record builds the CONNECTION record from the flow and the TCP facts.
func (f *flow) record(c *tcpstate.Conn, m *Memory) *Connection {
	cl, sv := c.Client(), c.Server()
	r := &Connection{
		ID:                 c.ID,
		Client:             cl.Addr,
		Server:             sv.Addr,
		ClientGuessed:      c.ClientGuessed,
		SynSeen:            c.SynSeen,
		FirstPacketAt:      c.FirstPacketAt,
		LastPacketAt:       c.LastPacketAt,
		Packets:            PerSide{cl.Packets, sv.Packets},
		PayloadBytes:       PerSide{cl.PayloadBytes, sv.PayloadBytes},
		TCPKeepaliveProbes: PerSide{cl.KeepaliveProbes, sv.KeepaliveProbes},
		Retransmissions:    PerSide{cl.Retransmissions, sv.Retransmissions},
		MissingBytes:       PerSide{cl.MissingBytes, sv.MissingBytes},
		Transactions:       f.expand(m),
		IdlePeriods:        []Idle{},
		StrayCRLFBytes:     f.stray,
		History:            c.History(),
		Unseen:             unseenSide(c),
	}
	if r.Unseen == Server {
		// Whether a request came before the previous response ended is
		// not in a capture without the responses.
		for i := range r.Transactions {
			r.Transactions[i].Pipelined = false
		}
	}
	if f.tls != nil {
		f.tlsRecord(r, sv.FinAt)
	}
	if c.SynSeen {
		r.Handshake = &Handshake{SynAt: c.SynAt, SynAckAt: c.SynAckAt, AckAt: c.AckAt}
	}
	r.CommunityID = capture.CommunityID(cl.Addr, sv.Addr, 6)
	r.VLAN, r.Tunnel = carrierOf(c.Carrier())
	idles := 0
	for i := 1; i < f.txs.n; i++ {
		if f.txs.at(i).afterIdle {
			idles++
		}
	}
	if idles > 0 {
		if f.a.cfg.Transient && cap(m.idles) >= idles {
			r.IdlePeriods, m.idles = m.idles[:0], nil
		} else {
			r.IdlePeriods = make([]Idle, 0, idles)
		}
		f.idles = r.IdlePeriods
	}
	for i := range r.Transactions {
		t, x := &r.Transactions[i], f.txs.at(i)
		if i > 0 && x.afterIdle {
			prev, px := &r.Transactions[i-1], f.txs.at(i-1)
			from, to := prev.ResponseEndAt, t.RequestStartAt
			r.IdlePeriods = append(r.IdlePeriods, Idle{AfterTransaction: prev.Index, StartAt: from, EndAt: to,
				Duration: f.clk.sub(x.reqStart, px.respEnd, to, from)})
		}
		if !x.respDone && !x.respLost && r.Unseen != Server { // unanswered, not merely not captured
			if i == len(r.Transactions)-1 {
				f.anomaly("last-request-unanswered")
			} else {
				f.anomaly("request-unanswered")
			}
		}
	}
	r.KeepAlive = f.keepAlive(r.Transactions)
	r.FinalIdle = f.finalIdle(c, r.Transactions)
	r.TimeWait = timeWaitOf(c)
	r.Close = closeOf(c)
	switch r.Unseen {
	case Client:
		f.anomaly("client-packets-not-captured")
	case Server:
		f.anomaly("server-packets-not-captured")
	}
	cf := f.facts(c, r, m)
	v := classify(cf)
	if cap(cf.txs) <= maxReusedTxs {
		m.facts = cf.txs[:0] // strings only point into the record, which outlives this
	}
	r.Close.Reason, r.Close.Evidence, r.Close.Race = v.reason, v.evidence, v.race
	if v.anomaly != "" {
		f.anomaly(v.anomaly)
	}
	anomalies := append([]string{}, c.Anomalies...)
	if c.Evicted {
		anomalies = append(anomalies, "evicted")
	}
	for _, a := range f.anomalies {
		if !contains(anomalies, a) {
			anomalies = append(anomalies, a)
		}
	}
	r.Anomalies = anomalies
	return r
}

// unseenSide is the side none of whose packets the capture holds
// (tcpstate.Conn.Unseen), NoSide when both were captured.
func unseenSide(c *tcpstate.Conn) Side {
	d, ok := c.Unseen()
	switch {
	case !ok:
		return NoSide
	case d == tcpstate.ClientToServer:
		return Client
	}
	return Server
}

// carrierOf is the record's vlan and tunnel of a carrier (the client's
// first packet's): nil and nil for a plain connection. The carrier is
// shared and immutable; the record gets copies.
func carrierOf(cr *capture.Carrier) ([]uint16, []Tunnel) {
	if cr == nil {
		return nil, nil
	}
	var vlan []uint16
	if len(cr.VLANs) > 0 {
		vlan = append([]uint16(nil), cr.VLANs...)
	}
	var tun []Tunnel
	if len(cr.Tunnel) > 0 {
		tun = make([]Tunnel, len(cr.Tunnel))
		for i, e := range cr.Tunnel {
			tun[i] = Tunnel{Type: e.Type.String(), OuterSrc: e.OuterSrc, OuterDst: e.OuterDst, ID: e.ID, HasID: e.HasID}
		}
	}
	return vlan, tun
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// keepAlive reads the server's last Keep-Alive header and takes the
// persistence decided for the last transaction.
func (f *flow) keepAlive(txs []Transaction) KeepAlive {
	var ka KeepAlive
	for i := len(txs) - 1; i >= 0; i-- {
		if v := txs[i].ResponseKeepAlive; v != nil {
			ka.AdvertisedTimeout, ka.AdvertisedMax = parseKeepAlive(*v)
			break
		}
	}
	if n := len(txs); n > 0 {
		ka.Persistent = f.persistsAfter(n-1) == Persists
	}
	return ka
}

// persistsAfter is the persistence decided for transaction i: at its
// response's header time, or from the request alone when no response was
// seen.
func (f *flow) persistsAfter(i int) Persistence {
	x := f.txs.at(i)
	if x.status != 0 {
		return x.persist
	}
	return persistence(&exchangeHeaders{reqVersion: f.strs.str(x.reqVer), reqClose: x.reqClose, reqKeepAlive: x.reqKeepAlive})
}

// parseKeepAlive reads `timeout=N, max=M`.
func parseKeepAlive(v string) (timeout *float64, max *int) {
	for rest, more := v, true; more; {
		var part string
		part, rest, more = strings.Cut(rest, ",")
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch k = strings.TrimSpace(k); {
		case strings.EqualFold(k, "timeout"):
			if x, err := strconv.ParseFloat(val, 64); err == nil && x >= 0 {
				timeout = &x
			}
		case strings.EqualFold(k, "max"):
			if x, err := strconv.Atoi(val); err == nil {
				max = &x
			}
		}
	}
	return
}

// hasToken reports whether the comma-separated header value h (lower-cased)
// holds tok.
func hasToken(h string, tok string) bool {
	for rest := h; ; {
		p, more, found := strings.Cut(rest, ",")
		if strings.TrimSpace(p) == tok {
			return true
		}
		if !found {
			return false
		}
		rest = more
	}
}

// firstEnd is the first FIN or RST of either side.
func firstEnd(c *tcpstate.Conn) (time.Time, bool) {
	_, fin, okF := c.FirstFIN()
	_, rst, okR := c.FirstRST()
	switch {
	case okF && (!okR || !rst.Before(fin)):
		return fin, true
	case okR:
		return rst, true
	}
	return time.Time{}, false
}

// finalIdle runs from the end of the last response that ended before the
// first FIN or RST (or the handshake's final ACK) to that FIN or RST.
func (f *flow) finalIdle(c *tcpstate.Conn, txs []Transaction) *Idle {
	end, ok := firstEnd(c)
	if !ok {
		return nil
	}
	after, start := 0, time.Time{}
	for i := range txs {
		t := &txs[i]
		if f.txs.at(i).respDone && !t.ResponseEndAt.After(end) && !t.ResponseEndAt.Before(start) {
			after, start = t.Index, t.ResponseEndAt
		}
	}
	if after == 0 {
		start = handshakeEnd(c)
		if start.After(end) {
			start = end
		}
	}
	// A response whose request the capture lacks is a response too: the
	// idle runs from its end when it came last.
	if f.orphanEnd != noTime {
		if o := f.clk.at(f.orphanEnd); o.After(start) && !o.After(end) {
			start = o
		}
	}
	return &Idle{AfterTransaction: after, StartAt: start, EndAt: end, Duration: end.Sub(start)}
}

// handshakeEnd is when the connection became idle before its first
// request: the handshake's final ACK, else the SYN-ACK, else the first
// packet.
func handshakeEnd(c *tcpstate.Conn) time.Time {
	switch {
	case !c.AckAt.IsZero():
		return c.AckAt
	case !c.SynAckAt.IsZero():
		return c.SynAckAt
	}
	return c.FirstPacketAt
}

// timeWaitOf says who holds TIME_WAIT: the side that entered it first,
// both for a simultaneous close, none after a RST.
func timeWaitOf(c *tcpstate.Conn) *TimeWait {
	if _, _, rst := c.FirstRST(); rst {
		return nil
	}
	cl, sv := c.Client(), c.Server()
	var tw TimeWait
	switch {
	case !cl.TimeWaitAt.IsZero() && !sv.TimeWaitAt.IsZero():
		tw.Holder = Both
		tw.EnteredAt, tw.ExpiresAt = cl.TimeWaitAt, cl.TimeWaitUntil
		if sv.TimeWaitAt.Before(cl.TimeWaitAt) {
			tw.EnteredAt, tw.ExpiresAt = sv.TimeWaitAt, sv.TimeWaitUntil
		}
	case !cl.TimeWaitAt.IsZero():
		tw.Holder, tw.EnteredAt, tw.ExpiresAt = Client, cl.TimeWaitAt, cl.TimeWaitUntil
	case !sv.TimeWaitAt.IsZero():
		tw.Holder, tw.EnteredAt, tw.ExpiresAt = Server, sv.TimeWaitAt, sv.TimeWaitUntil
	default:
		return nil
	}
	return &tw
}

// closeOf fills CLOSE but for the reason: who closed and each side's state.
func closeOf(c *tcpstate.Conn) Close {
	var cl Close
	if d, at, ok := c.FirstFIN(); ok {
		cl.FirstFinBy, cl.FirstFinAt = sideOf(d), at
	}
	if d, at, ok := c.FirstRST(); ok {
		cl.RstBy, cl.RstAt = sideOf(d), at
	}
	cl.ClientState = c.Client().State
	cl.ServerState = c.Server().State
	return cl
}

// facts gathers what the close classifier reads.
func (f *flow) facts(c *tcpstate.Conn, r *Connection, m *Memory) *closeFacts {
	cl, sv := c.Client(), c.Server()
	txs := m.facts
	if n := len(r.Transactions); cap(txs) >= n {
		txs = txs[:n]
	} else {
		txs = make([]txFact, n)
	}
	m.facts = nil
	cf := &closeFacts{
		txs:              txs,
		fin:              [2]time.Time{cl.FinAt, sv.FinAt},
		rst:              [2]time.Time{cl.RstAt, sv.RstAt},
		clientAckedFINAt: cl.AckedPeerFINAt,
		rstAcksAll:       acksAll(cl, sv.RstAck, sv.RstAcks && !sv.RstAt.IsZero()),
		finAcksAll:       acksAll(cl, sv.FinAck, sv.FinAcks && !sv.FinAt.IsZero()),
		clientFinAcksAll: acksAll(sv, cl.FinAck, cl.FinAcks && !cl.FinAt.IsZero()),
		finBy:            r.Close.FirstFinBy,
		idleFrom:         handshakeEnd(c),
		advertised:       r.KeepAlive.AdvertisedTimeout,
		history:          r.History,
		clientEndedTLS:   r.TLS != nil && r.TLS.ClientEnded,
		unseen:           r.Unseen,
		idleUnknown:      r.IdleUnknown() && f.orphanEnd == noTime, // r.Anomalies is set after the verdict
		orphanClose:      f.orphanClose,
		orphanEnds:       f.orphanEnds,
		orphanOfCaptured: f.orphanOfCaptured && cl.MissingBytes == 0, // a gap found later counts too
	}
	if f.orphanEnd != noTime {
		cf.orphanEnd = f.clk.at(f.orphanEnd)
	}
	if f.h2 != nil {
		cf.goAway = f.h2.goAway
		r.Close.GoAwayAt = f.h2.goAway
	}
	var prev *string // values repeat as one shared string: parse each once
	var mx *int
	for i := range r.Transactions {
		t, x := &r.Transactions[i], f.txs.at(i)
		cf.txs[i] = txFact{
			index: t.Index, method: t.Method, uri: t.URI,
			reqStart: t.RequestStartAt, respEnd: t.ResponseEndAt,
			respDone: x.respDone, respLost: x.respLost, afterIdle: x.afterIdle, afterServerFIN: x.afterServerFIN,
			reqHTTP10: t.RequestVersion == "HTTP/1.0", reqClose: x.reqClose, reqKeepAlive: x.reqKeepAlive,
			respClose: x.respClose, body: x.body, persist: f.persistsAfter(i),
			reqHidden: x.reqHidden, respHidden: x.respHidden,
		}
		if v := t.ResponseKeepAlive; v != nil {
			if v != prev {
				prev = v
				_, mx = parseKeepAlive(*v)
			}
			if mx != nil {
				cf.maxes = append(cf.maxes, kaMax{index: t.Index, max: *mx})
			}
		}
	}
	return cf
}

// acksAll reports whether an acknowledgement (ok: one was sent, at a
// FIN or RST captured) covers every byte peer sent, its FIN aside.
func acksAll(peer *tcpstate.Side, ack tcpstate.Seq, ok bool) bool {
	if !ok {
		return false
	}
	end := peer.NextSeq()
	if !peer.FinAt.IsZero() {
		end--
	}
	return !ack.Before(end)
}
