package httpflow

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/httplife/httplife/tcpstate"
)

// expand turns the stored transactions into the record's; f.rec is the
// record's slice.
func (f *flow) expand(m *Memory) []Transaction {
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
			ResponseVersion:    f.strs.ptr(c.respVer),
			RequestStartAt:     f.clk.at(c.reqStart),
			RequestEndAt:       f.clk.at(c.reqEnd),
			ResponseStartAt:    f.clk.at(c.respStart),
			ResponseEndAt:      f.clk.at(c.respEnd),
			RequestBytes:       c.reqBytes,
			ResponseBytes:      c.respBytes,
			RequestConnection:  f.strs.ptr(c.reqConn),
			ResponseConnection: f.strs.ptr(c.respConn),
			ResponseKeepAlive:  f.strs.ptr(c.respKA),
			ResponseFraming:    f.strs.ptr(c.framing),
			InterimStatuses:    noInterim,
			Pipelined:          c.pipelined,
			Complete:           c.complete,
			Tunnel:             c.tunnel,
		}
		if c.status != 0 {
			t.Status = statusPtr(int(c.status))
		}
		if c.interim != 0 {
			t.InterimStatuses = f.interims[c.interim-1]
		}
	}
	return f.rec
}

// lastTxn returns the record's last transaction, ok=false when there is none.
func (f *flow) lastTxn() (txn, bool) {
	if len(f.rec) == 0 {
		return txn{}, false
	}
	return f.tx(len(f.rec) - 1), true
}

// record builds the CONNECTION object from the flow and the TCP facts.
func (f *flow) record(c *tcpstate.Conn, m *Memory) *Connection {
	cl, sv := c.Client(), c.Server()
	r := &Connection{
		ID:                 c.ID,
		Client:             cl.Addr.String(),
		Server:             sv.Addr.String(),
		ClientGuessed:      c.ClientGuessed,
		SynSeen:            c.SynSeen,
		FirstPacketAt:      At(c.FirstPacketAt),
		LastPacketAt:       At(c.LastPacketAt),
		Packets:            PerSide{cl.Packets, sv.Packets},
		PayloadBytes:       PerSide{cl.PayloadBytes, sv.PayloadBytes},
		TCPKeepaliveProbes: PerSide{cl.KeepaliveProbes, sv.KeepaliveProbes},
		Retransmissions:    PerSide{cl.Retransmissions, sv.Retransmissions},
		MissingBytes:       PerSide{cl.MissingBytes, sv.MissingBytes},
		Transactions:       f.expand(m),
		IdlePeriods:        []Idle{},
		StrayCRLFBytes:     f.stray,
	}
	if c.SynSeen {
		h := &Handshake{SynAt: At(c.SynAt), SynAckAt: At(c.SynAckAt), AckAt: At(c.AckAt)}
		if !c.AckAt.IsZero() {
			rtt := Secs(c.AckAt.Sub(c.SynAt))
			h.RTT = &rtt
		}
		r.Handshake = h
	}
	var think []Seconds // one allocation for every server_time_s
	if f.a.cfg.Transient && cap(m.think) >= len(f.rec) {
		// Stale values are harmless: ThinkTime points at think[i] only
		// once it is set.
		think, m.think = m.think[:len(f.rec)], nil
	} else {
		think = make([]Seconds, len(f.rec))
	}
	f.think = think
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
		t := f.tx(i)
		if t.respDone && !t.ResponseStartAt.IsZero() && !t.RequestEndAt.IsZero() {
			if d := Secs(f.clk.sub(t.respStart, t.reqEnd, t.ResponseStartAt.Time, t.RequestEndAt.Time)); d >= 0 {
				think[i] = d
				t.ThinkTime = &think[i]
			}
		}
		if i > 0 && t.afterIdle {
			prev := &r.Transactions[i-1]
			from, to := prev.ResponseEndAt.Time, t.RequestStartAt.Time
			r.IdlePeriods = append(r.IdlePeriods, idle(prev.Index, from, to, f.clk.sub(t.reqStart, f.txs.at(i-1).respEnd, to, from)))
		}
		if !t.respDone {
			if i == len(f.rec)-1 {
				f.anomaly("last-request-unanswered")
			} else {
				f.anomaly("request-unanswered")
			}
		}
	}
	r.KeepAlive = f.keepAlive()
	r.FinalIdle = f.finalIdle(c)
	r.Close = f.closeOf(c)
	r.TimeWait = f.timeWait(c)
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

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// idle is the idle period from from to to, d long, after transaction
// after.
func idle(after int, from, to time.Time, d time.Duration) Idle {
	return Idle{AfterTransaction: after, StartAt: At(from), EndAt: At(to), Duration: Secs(d)}
}

// keepAlive reads the server's last Keep-Alive header and decides
// persistence after the last transaction.
func (f *flow) keepAlive() KeepAlive {
	var ka KeepAlive
	for i := len(f.rec) - 1; i >= 0; i-- {
		if v := f.rec[i].ResponseKeepAlive; v != nil {
			ka.AdvertisedTimeout, ka.AdvertisedMax = parseKeepAlive(*v)
			break
		}
	}
	if t, ok := f.lastTxn(); ok {
		ka.Persistent = !shouldClose(t)
	}
	return ka
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

func hasToken(h *string, tok string) bool {
	if h == nil {
		return false
	}
	for rest := *h; ; {
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

// shouldClose decides, by HTTP/1.x rules, whether the connection ends after
// transaction t: any Connection: close; HTTP/1.0 (request or response)
// without Connection: keep-alive; a tunnel.
func shouldClose(t txn) bool {
	if hasToken(t.RequestConnection, "close") || hasToken(t.ResponseConnection, "close") || t.Tunnel {
		return true
	}
	if http10NoKeepAlive(t) {
		return true
	}
	return false
}

func http10NoKeepAlive(t txn) bool {
	if t.RequestVersion == "HTTP/1.0" && !hasToken(t.RequestConnection, "keep-alive") {
		return true
	}
	if t.ResponseVersion != nil && *t.ResponseVersion == "HTTP/1.0" && !hasToken(t.ResponseConnection, "keep-alive") {
		return true
	}
	return false
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
func (f *flow) finalIdle(c *tcpstate.Conn) *Idle {
	end, ok := firstEnd(c)
	if !ok {
		return nil
	}
	after, start := 0, time.Time{}
	for i := 0; i < len(f.rec); i++ {
		t := f.tx(i)
		if t.respDone && !t.ResponseEndAt.After(end) && !t.ResponseEndAt.Before(start) {
			after, start = t.Index, t.ResponseEndAt.Time
		}
	}
	if after == 0 {
		switch {
		case !c.AckAt.IsZero():
			start = c.AckAt
		case !c.SynAckAt.IsZero():
			start = c.SynAckAt
		default:
			start = c.FirstPacketAt
		}
		if start.After(end) {
			start = end
		}
	}
	i := idle(after, start, end, end.Sub(start))
	return &i
}

func side(d tcpstate.Dir) *Side {
	s := Client
	if d == tcpstate.ServerToClient {
		s = Server
	}
	return &s
}

func (f *flow) timeWait(c *tcpstate.Conn) *TimeWait {
	if _, _, rst := c.FirstRST(); rst {
		return nil
	}
	cl, sv := c.Client(), c.Server()
	var tw TimeWait
	var until time.Time
	switch {
	case !cl.TimeWaitAt.IsZero() && !sv.TimeWaitAt.IsZero():
		tw.Holder = Both
		tw.EnteredAt, until = At(cl.TimeWaitAt), cl.TimeWaitUntil
		if sv.TimeWaitAt.Before(cl.TimeWaitAt) {
			tw.EnteredAt, until = At(sv.TimeWaitAt), sv.TimeWaitUntil
		}
	case !cl.TimeWaitAt.IsZero():
		tw.Holder, tw.EnteredAt, until = Client, At(cl.TimeWaitAt), cl.TimeWaitUntil
	case !sv.TimeWaitAt.IsZero():
		tw.Holder, tw.EnteredAt, until = Server, At(sv.TimeWaitAt), sv.TimeWaitUntil
	default:
		return nil
	}
	tw.ExpiresAt = At(until)
	return &tw
}

// closeOf fills CLOSE: who closed, each side's state, and the reason with
// its evidence, taking the first rule of the spec that applies.
func (f *flow) closeOf(c *tcpstate.Conn) Close {
	var cl Close
	finDir, finAt, finOK := c.FirstFIN()
	rstDir, rstAt, rstOK := c.FirstRST()
	if finOK {
		cl.FirstFinBy, cl.FirstFinAt = side(finDir), At(finAt)
	}
	if rstOK {
		cl.RstBy, cl.RstAt = side(rstDir), At(rstAt)
	}
	cl.ClientState = c.Client().State.String()
	cl.ServerState = c.Server().State.String()
	cl.Reason, cl.Evidence = f.reason(c)
	return cl
}

// secs formats a duration for evidence: milliseconds below a second.
func secs(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Millisecond:
		return strconv.FormatInt(int64(d/time.Microsecond), 10) + " µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + " s"
}

func sinceRespShort(last txn, at time.Time) string {
	if last.Transaction == nil {
		return "?"
	}
	return secs(at.Sub(last.ResponseEndAt.Time))
}

func (f *flow) reason(c *tcpstate.Conn) (string, string) {
	cl, sv := c.Client(), c.Server()
	finDir, finAt, finOK := c.FirstFIN()
	_, _, rstOK := c.FirstRST()
	last, haveLast := f.lastTxn()
	var lastResp txn
	for i := len(f.rec) - 1; i >= 0; i-- {
		if f.txs.at(i).respDone {
			lastResp = f.tx(i)
			break
		}
	}
	sinceResp := func(at time.Time) string {
		if lastResp.Transaction == nil {
			return ""
		}
		return secs(at.Sub(lastResp.ResponseEndAt.Time)) + " after the last response"
	}
	advertised := ""
	if ka := f.keepAlive(); ka.AdvertisedTimeout != nil {
		advertised = "; server advertised timeout=" + strconv.FormatFloat(*ka.AdvertisedTimeout, 'f', -1, 64)
	}

	// 1. keepalive-race
	for i := 0; i < len(f.rec); i++ {
		t := f.tx(i)
		if t.afterServerFIN && !t.respDone {
			f.anomaly("request-after-server-fin")
			ev := fmt.Sprintf("request %d (%s %s) was sent %s after the server's FIN, which came %s after the last response, and was never answered",
				t.Index, t.Method, t.URI, secs(t.RequestStartAt.Sub(sv.FinAt)), sinceRespShort(lastResp, sv.FinAt))
			if !sv.RstAt.IsZero() {
				ev += "; the server answered it with a RST"
			}
			return ReasonKeepaliveRace, ev + advertised
		}
	}
	if haveLast && !last.respDone && last.afterIdle {
		switch {
		case !sv.RstAt.IsZero() && (sv.FinAt.IsZero() || sv.RstAt.Before(sv.FinAt)) && !last.RequestStartAt.After(sv.RstAt):
			f.anomaly("request-answered-by-server-rst")
			return ReasonKeepaliveRace, fmt.Sprintf("request %d followed %s of idle and was answered by the server's RST %s later",
				last.Index, secs(last.RequestStartAt.Sub(f.rec[last.Index-2].ResponseEndAt.Time)), secs(sv.RstAt.Sub(last.RequestStartAt.Time)))
		case finOK && finDir == tcpstate.ServerToClient && !last.RequestStartAt.After(finAt):
			f.anomaly("request-lost-at-server-close")
			return ReasonKeepaliveRace, fmt.Sprintf("request %d crossed the server's FIN (sent %s before it) and was never answered",
				last.Index, secs(finAt.Sub(last.RequestStartAt.Time)))
		}
	}
	// 2. reset
	if rstOK {
		_, rstAt, _ := c.FirstRST()
		if cl.FinAt.IsZero() || sv.FinAt.IsZero() || rstAt.Before(cl.FinAt) || rstAt.Before(sv.FinAt) {
			who := "client"
			if d, _, _ := c.FirstRST(); d == tcpstate.ServerToClient {
				who = "server"
			}
			ev := who + " RST"
			if s := sinceResp(rstAt); s != "" {
				ev += " " + s
			} else if len(f.rec) > 0 {
				ev += " before any response"
			} else {
				ev += " with no request"
			}
			return ReasonReset, ev
		}
	}
	if !finOK {
		if rstOK {
			return ReasonUnknown, "a RST came after both FINs"
		}
		return ReasonCaptureEnded, "no FIN or RST in the capture"
	}
	closer := "client"
	if finDir == tcpstate.ServerToClient {
		closer = "server"
	}
	inFlight := f.inFlightAt(finAt)
	if haveLast && last.respDone {
		// 3. http10-no-keepalive: the request decides (an HTTP/1.0 response
		// to an HTTP/1.1 request is said in the evidence of rule 7).
		if last.RequestVersion == "HTTP/1.0" && !hasToken(last.RequestConnection, "keep-alive") {
			// (Concatenated: fmt is slow here, and every HTTP/1.0
			// connection ends here.)
			return ReasonHTTP10, "HTTP/1.0 request without Connection: keep-alive; " + closer + " FIN " + sinceResp(finAt)
		}
		// 4. client-close-header
		if hasToken(last.RequestConnection, "close") {
			return ReasonClientCloseHeader, "request " + strconv.Itoa(last.Index) + " carried Connection: close; " + closer + " FIN " + sinceResp(finAt)
		}
		// 5. max-requests
		if finDir == tcpstate.ServerToClient {
			if ev, ok := f.maxRequests(); ok {
				return ReasonMaxRequests, ev
			}
		}
		// 6. server-close-header
		if hasToken(last.ResponseConnection, "close") {
			return ReasonServerCloseHeader, "response " + strconv.Itoa(last.Index) +
				" carried Connection: close though the request did not ask for it; " + closer + " FIN " + sinceResp(finAt)
		}
	}
	if inFlight.Transaction == nil {
		idleFor := ""
		if lastResp.Transaction != nil {
			idleFor = " " + sinceResp(finAt)
		} else {
			idleFor = " with no request on the connection"
		}
		// 7. server-idle-timeout, 8. client-idle-close
		if finDir == tcpstate.ServerToClient {
			if haveLast && last.respDone && http10NoKeepAlive(last) {
				advertised += "; the server answered HTTP/1.0 without keep-alive, so it does not keep connections open"
			}
			return ReasonServerIdleTimeout, "server FIN" + idleFor + advertised
		}
		return ReasonClientIdleClose, "client FIN" + idleFor + advertised
	}
	return ReasonUnknown, fmt.Sprintf("%s FIN while request %d (%s %s) was in flight", closer, inFlight.Index, inFlight.Method, inFlight.URI)
}

// inFlightAt returns the first request started at or before t whose
// response had not ended by t.
func (f *flow) inFlightAt(t time.Time) txn {
	for i := 0; i < len(f.rec); i++ {
		x := f.tx(i)
		if x.RequestStartAt.After(t) {
			break
		}
		if !x.respDone || x.ResponseEndAt.After(t) {
			return x
		}
	}
	return txn{}
}

// maxRequests reports whether the server's advertised Keep-Alive max ran
// out: response k advertised max=m and k+m requests were served (Apache
// counts down), or a constant max=m was advertised and m were served.
func (f *flow) maxRequests() (string, bool) {
	n := len(f.rec)
	lastK, lastMax, constant := 0, 0, true
	first := -1
	var prev *string // values repeat as one shared string: parse each once
	var m *int
	for i := 0; i < n; i++ {
		t := &f.rec[i]
		if t.ResponseKeepAlive == nil {
			continue
		}
		if t.ResponseKeepAlive != prev {
			prev = t.ResponseKeepAlive
			_, m = parseKeepAlive(*prev)
		}
		if m == nil {
			continue
		}
		if first >= 0 && *m != first {
			constant = false
		}
		if first < 0 {
			first = *m
		}
		lastK, lastMax = t.Index, *m
	}
	if lastK == 0 {
		return "", false
	}
	if n == lastK+lastMax {
		return fmt.Sprintf("response %d advertised max=%d and the server closed after request %d", lastK, lastMax, n), true
	}
	if constant && n == lastMax && lastK < n {
		return fmt.Sprintf("the server advertised max=%d and closed after %d requests", lastMax, n), true
	}
	return "", false
}
