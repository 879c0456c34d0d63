package summary

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/httplife/httplife/httpflow"
)

// findingStats is what the key findings are computed from, gathered as
// records come: per close reason the count, the final idles and the
// advertised timeouts; the races' idle before the lost request; counts of
// resets, transactions, errors, pipelining, probes and guessed clients.
type findingStats struct {
	byReason   [len(reasonSlots)]reasonStats
	rstClient  int // reset connections by who sent the RST
	rstServer  int
	tx, single int
	maxTx      int
	pipelined  int
	errs       int // 4xx/5xx responses
	unanswered int
	// awaiting counts the requests still waiting for their response when
	// the capture ended (httpflow.Connection.AwaitingFrom), the earliest
	// of them sent at awaitingSince.
	awaiting      int
	awaitingSince time.Time
	probes        uint64
	probeConns    int
	guessed       int // no SYN seen
	// Connections captured in one direction only, by the side whose
	// packets are missing (httpflow.Connection.Unseen).
	unseen [httpflow.Server + 1]int
	// Server-idle-timeout closes that answered the client's TLS
	// close_notify.
	clientEndedTLS int
	twHolders      [4]int
	// TIME_WAITs held at once per host in each role (the summary's
	// peak_concurrent merges the roles).
	twRole map[twRoleKey]*twHeap
}

type twRoleKey struct {
	server bool
	host   netip.Addr
}

// reasonSlots are the reasons, indexed by their value.
var reasonSlots = [httpflow.ReasonUnknown + 1]struct{}{}

type reasonStats struct {
	n      int
	finals quantiles // final idle, seconds
	// idleUnknown counts the connections whose final idle is no measured
	// idle (httpflow.Connection.IdleUnknown), not in finals.
	idleUnknown int
	raceIdle    quantiles // keep-alive races: the last idle gap, seconds
	timeouts    map[float64]bool
}

// maxTimeouts bounds the distinct advertised timeouts remembered per reason.
const maxTimeouts = 64

func newFindingStats() findingStats { return findingStats{twRole: map[twRoleKey]*twHeap{}} }

func (f *findingStats) addTW(server bool, host netip.Addr, s twSpan) {
	k := twRoleKey{server, host}
	h := f.twRole[k]
	if h == nil {
		h = &twHeap{}
		f.twRole[k] = h
	}
	h.add(s)
}

// peakTimeWait is the role and host that held the most TIME_WAITs at once.
func (f *findingStats) peakTimeWait() (string, int) {
	var best twRoleKey
	peak := 0
	for k, h := range f.twRole {
		better := h.peak > peak
		if h.peak == peak && peak > 0 {
			// the same order as the report: servers first, then by address
			better = k.server && !best.server || k.server == best.server && k.host.Less(best.host)
		}
		if better {
			best, peak = k, h.peak
		}
	}
	if peak == 0 {
		return "", 0
	}
	role := "client "
	if best.server {
		role = "server "
	}
	return role + best.host.String(), peak
}

func (f *findingStats) add(c *httpflow.Connection) {
	r := c.Close.Reason
	if int(r) < len(f.byReason) {
		st := &f.byReason[r]
		st.n++
		if c.IdleUnknown() {
			st.idleUnknown++
		} else if c.FinalIdle != nil {
			st.finals.add(closingIdle(c).Seconds())
		}
		if r == httpflow.ReasonKeepaliveRace {
			if k := len(c.IdlePeriods); k > 0 {
				st.raceIdle.add(c.IdlePeriods[k-1].Duration.Seconds())
			}
		}
		if t := c.KeepAlive.AdvertisedTimeout; t != nil {
			if st.timeouts == nil {
				st.timeouts = map[float64]bool{}
			}
			if len(st.timeouts) < maxTimeouts {
				st.timeouts[*t] = true
			}
		}
	}
	if r == httpflow.ReasonServerIdleTimeout && clientEndedTLS(c) {
		f.clientEndedTLS++
	}
	if r == httpflow.ReasonReset {
		switch c.Close.RstBy {
		case httpflow.Client:
			f.rstClient++
		case httpflow.Server:
			f.rstServer++
		}
	}
	f.tx += len(c.Transactions)
	if len(c.Transactions) == 1 {
		f.single++
	}
	f.maxTx = max(f.maxTx, len(c.Transactions))
	awaiting := c.AwaitingFrom()
	for i := range c.Transactions {
		t := &c.Transactions[i]
		if t.Pipelined {
			f.pipelined++
		}
		switch {
		case t.Answered():
			if t.Status >= 400 {
				f.errs++
			}
		case c.Unseen == httpflow.Server: // not captured, not unanswered
		case i >= awaiting: // the capture ended first
			f.awaiting++
			if f.awaitingSince.IsZero() || t.RequestStartAt.Before(f.awaitingSince) {
				f.awaitingSince = t.RequestStartAt
			}
		default:
			f.unanswered++
		}
	}
	if p := c.TCPKeepaliveProbes.Client + c.TCPKeepaliveProbes.Server; p > 0 {
		f.probes += p
		f.probeConns++
	}
	if c.Unseen == httpflow.Client || c.Unseen == httpflow.Server {
		f.unseen[c.Unseen]++
	}
	if !c.SynSeen && c.Unseen != httpflow.Client { // the SYN cannot be seen without the client's packets
		f.guessed++
	}
	if tw := c.TimeWait; tw != nil && int(tw.Holder) < len(f.twHolders) {
		f.twHolders[tw.Holder]++
		span := twSpan{tw.EnteredAt, tw.ExpiresAt}
		if tw.Holder == httpflow.Server || tw.Holder == httpflow.Both {
			f.addTW(true, c.Server.Addr(), span)
		}
		if tw.Holder == httpflow.Client || tw.Holder == httpflow.Both {
			f.addTW(false, c.Client.Addr(), span)
		}
	}
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Secs formats seconds for people: "2.0 s", "350 ms", "80 µs".
func Secs(s float64) string {
	switch a := math.Abs(s); {
	case a >= 100:
		return strconv.FormatFloat(s, 'f', 0, 64) + " s"
	case a >= 1:
		return strconv.FormatFloat(s, 'f', 1, 64) + " s"
	case a >= 0.001:
		return strconv.FormatFloat(s*1e3, 'f', 0, 64) + " ms"
	case a == 0:
		return "0 s"
	default:
		return strconv.FormatFloat(s*1e6, 'f', 0, 64) + " µs"
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// idleUnknownNote says for how many of the connections the idle time is
// unknown because they were open before the capture began and it holds
// no exchange of theirs (httpflow.Connection.IdleUnknown); "" when none.
func (st *reasonStats) idleUnknownNote() string {
	switch st.idleUnknown {
	case 0:
		return ""
	case 1:
		return "; for 1 of them, open before the capture began with no exchange captured, the idle time is unknown"
	}
	return fmt.Sprintf("; for %d of them, open before the capture began with no exchange captured, the idle time is unknown", st.idleUnknown)
}

func (st *reasonStats) sortedTimeouts() []float64 {
	v := make([]float64, 0, len(st.timeouts))
	for t := range st.timeouts {
		v = append(v, t)
	}
	sort.Float64s(v)
	return v
}

func timeoutText(v []float64) string {
	parts := make([]string, len(v))
	for i, t := range v {
		parts[i] = "timeout=" + strconv.FormatFloat(t, 'f', -1, 64)
	}
	return strings.Join(parts, ", ")
}

// sentences are the findings, one sentence each, most telling first.
// end is the time of the capture's last packet.
func (f *findingStats) sentences(tot *totals, end time.Time) []string {
	n := tot.s.Connections
	if n == 0 {
		return []string{"The capture holds no TCP connection carrying HTTP/1.x."}
	}
	var out []string
	out = append(out, f.unseenSentences(n)...)
	reason := func(r httpflow.Reason) *reasonStats { return &f.byReason[r] }
	if st := reason(httpflow.ReasonKeepaliveRace); st.n > 0 {
		s := count(st.n, "request met", "requests met") + " a closing connection (keep-alive race): the server closed an idle keep-alive connection as the client reused it"
		if st.raceIdle.n > 0 {
			s += ", after a median " + Secs(st.raceIdle.median()) + " idle"
		}
		if t := st.sortedTimeouts(); len(t) > 0 {
			s += "; the server advertised " + timeoutText(t)
		}
		out = append(out, s+".")
	}
	if st := reason(httpflow.ReasonReset); st.n > 0 {
		out = append(out, fmt.Sprintf("%s reset (%d by the client, %d by the server).", count(st.n, "connection was", "connections were"), f.rstClient, f.rstServer))
	}
	if st := reason(httpflow.ReasonServerIdleTimeout); st.n > 0 {
		s := fmt.Sprintf("%d of %d connections were closed by the server", st.n, n)
		if st.finals.n > 0 {
			s += " after " + Secs(st.finals.median()) + " idle (median)"
		}
		s += st.idleUnknownNote()
		if k := f.clientEndedTLS; k > 0 {
			s += fmt.Sprintf(", %d of them answering the client's TLS close_notify (the client ended the session)", k)
		}
		if t := st.sortedTimeouts(); len(t) > 0 {
			s += "; the server advertised " + timeoutText(t)
			if st.finals.n > 0 && st.finals.median() < 0.8*t[0] {
				s += ", yet closed sooner"
			}
		} else {
			s += "; no Keep-Alive timeout was advertised"
		}
		out = append(out, s+".")
	}
	if st := reason(httpflow.ReasonClientIdleClose); st.n > 0 {
		s := "The client closed " + count(st.n, "idle connection", "idle connections")
		if st.finals.n > 0 {
			s += " after a median " + Secs(st.finals.median())
		}
		out = append(out, s+st.idleUnknownNote()+".")
	}
	if st := reason(httpflow.ReasonHTTP10); st.n > 0 {
		out = append(out, count(st.n, "connection was closed", "connections were closed")+" after one HTTP/1.0 exchange without keep-alive.")
	}
	if st := reason(httpflow.ReasonClientCloseHeader); st.n > 0 {
		out = append(out, count(st.n, "connection ended", "connections ended")+" because the client sent Connection: close.")
	}
	if st := reason(httpflow.ReasonMaxRequests); st.n > 0 {
		out = append(out, count(st.n, "connection reached", "connections reached")+" the server's Keep-Alive max and was closed.")
	}
	if st := reason(httpflow.ReasonServerCloseHeader); st.n > 0 {
		out = append(out, "The server ended "+count(st.n, "connection", "connections")+" with Connection: close the client had not asked for.")
	}
	if st := reason(httpflow.ReasonCloseDelimited); st.n > 0 {
		out = append(out, count(st.n, "connection ended", "connections ended")+" with the server's close, which ended a response without Content-Length or chunking.")
	}
	if st := reason(httpflow.ReasonCaptureEnded); st.n > 0 {
		out = append(out, count(st.n, "connection was", "connections were")+" still open when the capture ended.")
	}
	if st := reason(httpflow.ReasonUnknown); st.n > 0 {
		out = append(out, count(st.n, "connection closed", "connections closed")+" for a reason not determined from the capture.")
	}

	s := fmt.Sprintf("%s on %s: %.2f per connection (max %d)", count(f.tx, "transaction", "transactions"), count(n, "connection", "connections"), float64(f.tx)/float64(n), f.maxTx)
	if f.single > 0 {
		s += "; " + count(f.single, "connection carried", "connections carried") + " a single request"
	}
	out = append(out, s+".")
	if f.errs > 0 || f.unanswered > 0 {
		var parts []string
		if f.errs > 0 {
			parts = append(parts, count(f.errs, "response had a 4xx/5xx status", "responses had a 4xx/5xx status"))
		}
		if f.unanswered > 0 {
			parts = append(parts, count(f.unanswered, "request got no response", "requests got no response"))
		}
		out = append(out, capitalize(strings.Join(parts, "; ")+"."))
	}
	if f.awaiting > 0 {
		s := count(f.awaiting, "request was", "requests were") + " still waiting for a response when the capture ended"
		if !end.IsZero() && !f.awaitingSince.IsZero() && end.After(f.awaitingSince) {
			s += " (the longest for " + Secs(end.Sub(f.awaitingSince).Seconds()) + ")"
		}
		out = append(out, s+".")
	}
	if f.pipelined > 0 {
		out = append(out, count(f.pipelined, "request was", "requests were")+" pipelined (sent before the previous response ended).")
	}
	twc, tws, twb := f.twHolders[httpflow.Client], f.twHolders[httpflow.Server], f.twHolders[httpflow.Both]
	if twc+tws+twb > 0 {
		var parts []string
		if tws > 0 {
			parts = append(parts, "by the server on "+count(tws, "connection", "connections"))
		}
		if twc > 0 {
			parts = append(parts, "by the client on "+count(twc, "connection", "connections"))
		}
		if twb > 0 {
			parts = append(parts, "by both (simultaneous close) on "+count(twb, "connection", "connections"))
		}
		s := "TIME_WAIT was held " + strings.Join(parts, " and ")
		if host, peak := f.peakTimeWait(); peak > 0 {
			s += fmt.Sprintf("; at most %d at once on %s", peak, host)
		}
		out = append(out, s+".")
	}
	if f.probeConns > 0 {
		out = append(out, fmt.Sprintf("%s TCP keep-alive probes (%d in all); they do not end an idle period.", count(f.probeConns, "connection carried", "connections carried"), f.probes))
	}
	if f.guessed > 0 {
		out = append(out, count(f.guessed, "connection started", "connections started")+" before the capture (no SYN seen).")
	}
	return out
}

// unseenSentences are the findings on connections captured in one
// direction only: they come first, as what the capture cannot tell.
func (f *findingStats) unseenSentences(n int) []string {
	var out []string
	for _, missing := range [2]httpflow.Side{httpflow.Server, httpflow.Client} {
		k := f.unseen[missing]
		if k == 0 {
			continue
		}
		seen, what := httpflow.Client, "responses"
		if missing == httpflow.Client {
			seen, what = httpflow.Server, "requests"
		}
		s := fmt.Sprintf("%d of %d connections were captured in one direction only, the %s's: the capture holds none of their %s's packets, so their %s, and who closed first, are unknown",
			k, n, seen, missing, what)
		if 2*k >= n {
			s += "; a mirror or capture filter that keeps one direction does this (AWS Traffic Mirroring's filter rules are per direction), as does asymmetric routing past the capture point"
		}
		out = append(out, s+".")
	}
	return out
}

// median is the nearest-rank median of the values.
func (q *quantiles) median() float64 { return q.distribution().P50 }
