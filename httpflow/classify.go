package httpflow

import (
	"fmt"
	"strconv"
	"time"
)

// The close classifier: why a connection ended. It is a pure function of
// the facts gathered when the record is built (facts, in build.go): each
// transaction's outcome and each side's FIN and RST. It applies the spec's
// rules in order, the first that applies wins, and says why in one
// sentence. It changes nothing; the record builder adds what it returns.

// txFact is what the classifier knows of one transaction.
type txFact struct {
	index          int
	method, uri    string
	reqStart       time.Time
	respEnd        time.Time // when respDone
	respDone       bool      // the final response ended
	respLost       bool      // the response was in bytes the capture lost (answered; respEnd unknown)
	afterIdle      bool      // the request started after the previous response ended
	afterServerFIN bool      // request bytes were captured after the server's FIN
	reqHTTP10      bool
	reqClose       bool // Connection: close on the request
	reqKeepAlive   bool // Connection: keep-alive on the request
	respClose      bool // Connection: close on the response
	body           BodyKind
	persist        Persistence
	// The request's or the response's header section was not captured
	// whole (the snaplen cut it, or a gap): its Connection header unknown.
	reqHidden, respHidden bool
}

// promptClose is how soon after a response a FIN is the close the
// exchange's headers asked for rather than an idle timeout.
const promptClose = 10 * time.Millisecond

// kaMax is a response that advertised Keep-Alive: max=.
type kaMax struct{ index, max int }

// closeFacts is everything the classifier reads.
type closeFacts struct {
	txs []txFact
	// Each side's first FIN and RST, by tcpstate.Dir (0: the client);
	// zero when none was captured.
	fin, rst [2]time.Time
	// finBy is who sent the first FIN when the FINs' acknowledgements say
	// it against their times (tcpstate.Conn.FirstFIN); NoSide: by times.
	finBy Side
	// When the client acknowledged the server's FIN (zero: it did not).
	clientAckedFINAt time.Time
	// The server's RST, and its FIN, acknowledged every byte the client
	// sent: whatever the times say, the client's requests came first.
	rstAcksAll, finAcksAll bool
	// The client's FIN acknowledged every byte the server sent.
	clientFinAcksAll bool
	// When the connection became idle before its first request.
	idleFrom   time.Time
	advertised *float64 // the server's last Keep-Alive: timeout=
	maxes      []kaMax  // responses that advertised max=, in order
	history    string   // Zeek-style TCP history, cited in evidence
	// The client's TLS close_notify came before the server's first FIN
	// (TLS.ClientEnded).
	clientEndedTLS bool
	// When the HTTP/2 server sent GOAWAY (zero: none, or not HTTP/2).
	goAway time.Time
	// The side none of whose packets the capture holds (NoSide: both
	// were captured).
	unseen Side
	// Connection.IdleUnknown: open before the capture began, no exchange
	// captured, the final idle from the first packet captured.
	idleUnknown bool
	// When the last response that answered no captured request ended
	// (zero: none), and whether it carried Connection: close.
	orphanEnd   time.Time
	orphanClose bool
	orphanEnds  string // why else it did not persist (orphanBodyToClose, "it was HTTP/1.0 without keep-alive"); "": it did
	// The capture held every byte the client had sent before it: the
	// response answered bytes that were no HTTP request.
	orphanOfCaptured bool
}

// orphanBodyToClose is closeFacts.orphanEnds for a response whose body
// ended with the close.
const orphanBodyToClose = "its body ended with the close"

// verdict is the classifier's answer.
type verdict struct {
	reason   Reason
	evidence string
	anomaly  string // an anomaly the reason implies ("" for none)
	race     *Race
}

// first returns the side and time of the earlier of two events.
func first(t [2]time.Time) (Side, time.Time, bool) {
	a, b := t[0], t[1]
	switch {
	case a.IsZero() && b.IsZero():
		return NoSide, time.Time{}, false
	case b.IsZero() || (!a.IsZero() && !b.Before(a)):
		return Client, a, true
	}
	return Server, b, true
}

// secs formats a duration for evidence: microseconds below a millisecond,
// milliseconds below a second.
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

// classify applies the close reasons of the spec in order.
func classify(f *closeFacts) verdict {
	v := classifyRules(f)
	if !f.goAway.IsZero() {
		v.evidence += "; HTTP/2 GOAWAY from the server"
		if s := sinceResponse(f.lastResponse(), f.goAway); s != "" {
			v.evidence += " " + s
		}
	}
	if f.history != "" {
		v.evidence += "; TCP history " + f.history
	}
	return v
}

// lastResponse is the last transaction whose response ended, or nil.
func (f *closeFacts) lastResponse() *txFact {
	for i := len(f.txs) - 1; i >= 0; i-- {
		if f.txs[i].respDone {
			return &f.txs[i]
		}
	}
	return nil
}

// outOfOrder explains, in evidence, a FIN or RST that acknowledges what
// the capture shows after it: a mirror delayed one direction's copies.
const outOfOrder = "the capture's copies of the two directions arrived out of order"

// sinceResponse is "X after the last response" (or "X before the last
// response ended") for an event at at, or "" when no response ended
// (lastResp nil).
func sinceResponse(lastResp *txFact, at time.Time) string {
	if lastResp == nil {
		return ""
	}
	if at.Before(lastResp.respEnd) {
		return secs(lastResp.respEnd.Sub(at)) + " before the last response ended"
	}
	return secs(at.Sub(lastResp.respEnd)) + " after the last response"
}

func classifyRules(f *closeFacts) verdict {
	const cl, sv = 0, 1
	finBy, finAt, finOK := first(f.fin)
	if finOK && f.finBy != NoSide && f.finBy != finBy {
		finBy, finAt = f.finBy, f.fin[f.finBy-Client]
	}
	rstBy, rstAt, rstOK := first(f.rst)
	var last *txFact
	if n := len(f.txs); n > 0 {
		last = &f.txs[n-1]
	}
	lastResp := f.lastResponse()
	sinceResp := func(at time.Time) string { return sinceResponse(lastResp, at) }
	advertised := ""
	if f.advertised != nil {
		advertised = "; server advertised timeout=" + strconv.FormatFloat(*f.advertised, 'f', -1, 64)
	}

	// 0. One direction not captured, and the side captured closed: what
	// the rules below read to tell why (the responses, or the requests,
	// and the other side's FIN and RST) is not in the capture. A side
	// captured that did not close leaves no close in the capture: the
	// rules say so (capture-ended).
	seen, missing := Client, "the responses"
	if f.unseen == Client {
		seen, missing = Server, "the requests"
	}
	if f.unseen != NoSide && (!f.fin[seen-Client].IsZero() || !f.rst[seen-Client].IsZero()) {
		ev := fmt.Sprintf("the capture holds only the %s's packets, none of the %s's (a mirror or capture filter that keeps one direction): %s, and who closed first, are not in it",
			seen, f.unseen, missing)
		if !f.rst[seen-Client].IsZero() {
			ev += "; the " + seen.String() + " sent a RST"
		} else if !f.fin[seen-Client].IsZero() {
			ev += "; the " + seen.String() + " sent a FIN"
		}
		return verdict{reason: ReasonUnknown, evidence: ev}
	}

	// 1. keepalive-race
	for i := range f.txs {
		t := &f.txs[i]
		if t.afterServerFIN && !t.respDone && !t.respLost {
			since := "?"
			if lastResp != nil {
				since = secs(f.fin[sv].Sub(lastResp.respEnd))
			}
			ev := fmt.Sprintf("request %d (%s %s) was sent %s after the server's FIN, which came %s after the last response, and was never answered",
				t.index, t.method, t.uri, secs(t.reqStart.Sub(f.fin[sv])), since)
			if !f.rst[sv].IsZero() {
				ev += "; the server answered it with a RST"
			}
			// The client's ACK of the FIN tells whether the FIN had reached
			// it when the request left: a request that does not acknowledge
			// the FIN crossed it (in flight), wherever the capture was taken.
			kind := RaceInFlight
			switch a := f.clientAckedFINAt; {
			case a.IsZero() || a.After(t.reqStart):
				ev += "; the request did not acknowledge the FIN: the two crossed"
			case a.Equal(t.reqStart):
				kind = RaceStaleReuse
				ev += "; the request itself acknowledged the FIN: the client reused a connection it had been told was closing"
			default:
				kind = RaceStaleReuse
				ev += "; the client had acknowledged the FIN " + secs(t.reqStart.Sub(a)) + " before it sent the request"
			}
			return verdict{ReasonKeepaliveRace, ev + advertised, "request-after-server-fin", f.race(kind, i)}
		}
	}
	if last != nil && !last.respDone && !last.respLost && last.afterIdle {
		svRST, svFIN := f.rst[sv], f.fin[sv]
		switch {
		case !svRST.IsZero() && (svFIN.IsZero() || svRST.Before(svFIN)) && (!last.reqStart.After(svRST) || f.rstAcksAll):
			// A RST that acknowledges the request answers it, though a
			// mirror that delays the client's copies stamps it earlier.
			later := secs(svRST.Sub(last.reqStart)) + " later"
			if svRST.Before(last.reqStart) {
				later = "(captured " + secs(last.reqStart.Sub(svRST)) + " before the request: " + outOfOrder + ")"
			}
			ev := fmt.Sprintf("request %d followed %s of idle and was answered by the server's RST %s",
				last.index, secs(last.reqStart.Sub(f.txs[len(f.txs)-2].respEnd)), later)
			race := f.race(RaceSilentDrop, len(f.txs)-1)
			if f.rstAcksAll {
				race.RSTAckedRequest = true
				ev += "; the RST acknowledges the request: the server had it and closed with it unread (its idle timeout fired as it arrived)"
			}
			return verdict{ReasonKeepaliveRace, ev, "request-answered-by-server-rst", race}
		case finOK && finBy == Server && (!last.reqStart.After(finAt) || f.finAcksAll):
			before := "sent " + secs(finAt.Sub(last.reqStart)) + " before it"
			if last.reqStart.After(finAt) {
				before = "which acknowledges it, though captured " + secs(last.reqStart.Sub(finAt)) + " after it: " + outOfOrder
			}
			ev := fmt.Sprintf("request %d crossed the server's FIN (%s) and was never answered",
				last.index, before)
			return verdict{ReasonKeepaliveRace, ev, "request-lost-at-server-close", f.race(RaceInFlight, len(f.txs)-1)}
		}
	}
	// 2. reset
	if rstOK {
		if f.fin[cl].IsZero() || f.fin[sv].IsZero() || rstAt.Before(f.fin[cl]) || rstAt.Before(f.fin[sv]) {
			ev := rstBy.String() + " RST"
			switch {
			case lastResp != nil:
				ev += " " + sinceResp(rstAt)
			case len(f.txs) > 0:
				ev += " before any response"
			default:
				ev += " with no request"
			}
			return verdict{reason: ReasonReset, evidence: ev}
		}
	}
	if !finOK { // a RST without both FINs was rule 2
		return verdict{reason: ReasonCaptureEnded, evidence: "no FIN or RST in the capture"}
	}
	closer := finBy.String()
	if last != nil && last.respLost {
		// The last response was in bytes the capture lost: what only
		// the request says still decides; the rest is unknown.
		lost := "; its response was in bytes the capture lost; " + closer + " FIN"
		switch {
		case last.method == "CONNECT":
			// Its answer began a tunnel or refused one: nothing to go by.
		case last.reqHTTP10 && !last.reqKeepAlive:
			return verdict{reason: ReasonHTTP10, evidence: "HTTP/1.0 request without Connection: keep-alive" + lost}
		case last.reqClose:
			return verdict{reason: ReasonClientCloseHeader, evidence: "request " + strconv.Itoa(last.index) + " carried Connection: close" + lost}
		}
		return verdict{reason: ReasonUnknown, evidence: "the response to request " + strconv.Itoa(last.index) +
			" was in bytes the capture lost, so whether it ended the connection is unknown; " + closer + " FIN"}
	}
	if last != nil && last.respDone {
		// 3. http10-no-keepalive: the request decides (an HTTP/1.0
		// response to an HTTP/1.1 request is said in the evidence of
		// rule 8).
		if last.reqHTTP10 && !last.reqKeepAlive {
			return verdict{reason: ReasonHTTP10, evidence: "HTTP/1.0 request without Connection: keep-alive; " + closer + " FIN " + sinceResp(finAt)}
		}
		// 4. client-close-header
		if last.reqClose {
			return verdict{reason: ReasonClientCloseHeader, evidence: "request " + strconv.Itoa(last.index) + " carried Connection: close; " + closer + " FIN " + sinceResp(finAt)}
		}
		// Neither message's headers were captured whole, and the close
		// came at once: what Connection: close on the request makes (a
		// server that closes by itself after a first response on a
		// connection it would keep is the rarer case).
		if last.reqHidden && last.respHidden && !finAt.Before(last.respEnd) && finAt.Sub(last.respEnd) <= promptClose {
			return verdict{reason: ReasonClientCloseHeader, evidence: "the headers of request " + strconv.Itoa(last.index) +
				" and its response were not captured (snaplen or gap); " + closer + " FIN " + sinceResp(finAt) +
				", as Connection: close on the request makes (assumed)"}
		}
		// 5. max-requests
		if finBy == Server {
			if ev, ok := f.maxRequests(len(f.txs)); ok {
				return verdict{reason: ReasonMaxRequests, evidence: ev}
			}
		}
		// 6. server-close-header
		if last.respClose {
			return verdict{reason: ReasonServerCloseHeader, evidence: "response " + strconv.Itoa(last.index) +
				" carried Connection: close though the request did not ask for it; " + closer + " FIN " + sinceResp(finAt)}
		}
		// 7. close-delimited
		if last.body == BodyUntilClose || last.body == BodyInvalid {
			return verdict{reason: ReasonCloseDelimited, evidence: "response " + strconv.Itoa(last.index) +
				" had no Content-Length and was not chunked: its body ended with the server's close; " + closer + " FIN " + sinceResp(finAt)}
		}
	}
	if last != nil && !last.respDone && lastResp != nil && lastResp.respClose {
		// Requests the server never answered after a response that said
		// Connection: close (pipelined behind it, or sent though it said
		// so): the server closed as that response said, and the requests
		// after it went unread, as servers that do not pipeline past a
		// close do (gunicorn's sync worker). Rules 3 and 4 read the last
		// request, 5 and 6 the last response, as for answered requests.
		unread := fmt.Sprintf("; the server did not answer request %d", lastResp.index+1)
		if last.index > lastResp.index+1 {
			unread = fmt.Sprintf("; the server did not answer requests %d-%d", lastResp.index+1, last.index)
		}
		unread += " after it; " + closer + " FIN " + sinceResp(finAt)
		switch {
		case last.reqHTTP10 && !last.reqKeepAlive:
			return verdict{reason: ReasonHTTP10, evidence: "HTTP/1.0 request " + strconv.Itoa(last.index) + " without Connection: keep-alive, after response " + strconv.Itoa(lastResp.index) + " carried Connection: close" + unread}
		case last.reqClose:
			return verdict{reason: ReasonClientCloseHeader, evidence: "request " + strconv.Itoa(last.index) + " carried Connection: close, and response " + strconv.Itoa(lastResp.index) + " too" + unread}
		}
		if finBy == Server {
			if ev, ok := f.maxRequests(lastResp.index); ok {
				return verdict{reason: ReasonMaxRequests, evidence: ev + unread}
			}
		}
		return verdict{reason: ReasonServerCloseHeader, evidence: "response " + strconv.Itoa(lastResp.index) +
			" carried Connection: close though its request did not ask for it" + unread}
	}
	if inFlight := f.inFlightAt(finAt, finBy == Client && f.clientFinAcksAll); inFlight != nil {
		return verdict{reason: ReasonUnknown, evidence: fmt.Sprintf("%s FIN while request %d (%s %s) was in flight", closer, inFlight.index, inFlight.method, inFlight.uri)}
	}
	idleFor := " with no request on the connection"
	if f.idleUnknown {
		idleFor = " with no request captured: the connection was open before the capture began, so how long it was idle is unknown"
	}
	if lastResp != nil {
		idleFor = " " + sinceResp(finAt)
		if finBy == Client && f.clientFinAcksAll && finAt.Before(lastResp.respEnd) {
			idleFor += ", though it acknowledges the whole response: " + outOfOrder
		}
	}
	if o := f.orphanEnd; !o.IsZero() && !o.After(finAt) && (lastResp == nil || o.After(lastResp.respEnd)) {
		// The last response answered no request the capture holds: the
		// client's bytes were no HTTP request (a bad request's error),
		// or the request was lost or sent before the capture began.
		answered := "a response whose request the capture lacks"
		if f.orphanOfCaptured {
			answered = "a response to client bytes that were no HTTP request"
		}
		// Rules 3, 4 and 6 hold whichever side sent the FIN (a server
		// that answers Connection: close and leaves the closing to the
		// client, as Node.js does past maxRequestsPerSocket); rule 7 only
		// when the server's close ended the body.
		switch {
		case f.orphanClose && f.orphanOfCaptured:
			// 6. server-close-header: the bytes it answered asked for nothing.
			return verdict{reason: ReasonServerCloseHeader, evidence: answered + " carried Connection: close; " + closer + " FIN " + secs(finAt.Sub(o)) + " after it"}
		case f.orphanClose:
			return verdict{reason: ReasonUnknown, evidence: closer + " FIN " + secs(finAt.Sub(o)) + " after " + answered +
				"; the response carried Connection: close, so the connection ended after it, but whether the request asked for that is unknown"}
		case f.orphanEnds == orphanBodyToClose && finBy == Server && f.orphanOfCaptured:
			// 7. close-delimited: the bytes it answered were no HEAD.
			return verdict{reason: ReasonCloseDelimited, evidence: answered + " had no Content-Length and was not chunked: its body ended with the server's close; server FIN " + secs(finAt.Sub(o)) + " after it"}
		case f.orphanEnds != "" && (finBy == Server || f.orphanEnds != orphanBodyToClose):
			return verdict{reason: ReasonUnknown, evidence: closer + " FIN " + secs(finAt.Sub(o)) + " after " + answered +
				"; " + f.orphanEnds + ", so the connection ended with it, but what the request said is unknown"}
		case !f.orphanOfCaptured && finAt.Sub(o) <= promptClose:
			// A close this soon is what the request's Connection: close or
			// HTTP/1.0 makes (rules 3, 4: Tornado answers HTTP/1.0 in
			// HTTP/1.1 without a Connection header, then closes), and the
			// request is not in the capture.
			return verdict{reason: ReasonUnknown, evidence: closer + " FIN " + secs(finAt.Sub(o)) + " after " + answered +
				"; a close that soon is the one a request asks for (Connection: close, HTTP/1.0), and what the request said is unknown"}
		}
		idleFor = " " + secs(finAt.Sub(o)) + " after " + answered
	}
	// 8. server-idle-timeout, 9. client-idle-close
	if finBy == Server {
		if last != nil && last.respDone && last.persist == CloseHTTP10 {
			advertised += "; the server answered HTTP/1.0 without keep-alive, so it does not keep connections open"
		}
		if f.clientEndedTLS {
			// The reason is the first FIN's; the evidence says the server
			// answered the client's end of the TLS session, so no server
			// timeout is inferred from it (internal/summary).
			advertised += "; it answered the client's TLS close_notify: the client ended the session"
		}
		return verdict{reason: ReasonServerIdleTimeout, evidence: "server FIN" + idleFor + advertised}
	}
	return verdict{reason: ReasonClientIdleClose, evidence: "client FIN" + idleFor + advertised}
}

// race describes the keep-alive race that lost transaction i.
func (f *closeFacts) race(kind RaceKind, i int) *Race {
	t := &f.txs[i]
	idleFrom := f.idleFrom
	if i > 0 && f.txs[i-1].respDone {
		idleFrom = f.txs[i-1].respEnd
	}
	r := &Race{Kind: kind, Transaction: t.index, Method: t.method, Idempotent: idempotent(t.method)}
	if d := t.reqStart.Sub(idleFrom); d > 0 && !idleFrom.IsZero() {
		r.IdleBefore = d
	}
	return r
}

// inFlightAt returns the first request started at or before t whose
// response had not ended by t. acked: the FIN at t acknowledges every
// byte of the peer's, so a response that ended came before it, whatever
// the times say (a mirror that delays the server's copies).
func (f *closeFacts) inFlightAt(t time.Time, acked bool) *txFact {
	for i := range f.txs {
		x := &f.txs[i]
		if x.reqStart.After(t) {
			break
		}
		if x.respLost {
			continue // answered before the next request, whose response came
		}
		if !x.respDone || (x.respEnd.After(t) && !acked) {
			return x
		}
	}
	return nil
}

// maxRequests reports whether the server's advertised Keep-Alive max ran
// out when it had served n requests: response k advertised max=m and
// n = k+m (Apache counts down), or a constant max=m was advertised and
// n = m.
func (f *closeFacts) maxRequests(n int) (string, bool) {
	if len(f.maxes) == 0 {
		return "", false
	}
	constant := true
	for _, m := range f.maxes {
		constant = constant && m.max == f.maxes[0].max
	}
	last := f.maxes[len(f.maxes)-1]
	if n == last.index+last.max {
		return fmt.Sprintf("response %d advertised max=%d and the server closed after request %d", last.index, last.max, n), true
	}
	if constant && n == last.max && last.index < n {
		return fmt.Sprintf("the server advertised max=%d and closed after %d requests", last.max, n), true
	}
	return "", false
}
