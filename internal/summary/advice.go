package summary

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/httplife/httplife/httpflow"
)

// The advice: what to set, most important first, each with its numbers
// and the connections that show it. Every number comes from the capture.

// Advice kinds.
const (
	AdviceTimeoutOrder = "timeout-order"   // a client side keeps connections idle past its server's timeout
	AdviceRaces        = "races"           // requests lost to the server's close, no client timeout known
	AdviceSilentDrop   = "silent-drop"     // idle connections answered by a RST alone
	AdviceAdvertised   = "advertised"      // the timeout in force differs from the advertised one
	AdviceTimeWait     = "time-wait"       // TIME_WAIT near the ephemeral port range
	AdviceKeepAlive    = "keepalive"       // a shorter keep-alive would serve the reuse with fewer idle connections
	AdviceNoKeepAlive  = "no-keepalive"    // most connections carried one request
	ephemeralPorts     = 60999 - 32768 + 1 // Linux's default ip_local_port_range
)

// ids formats connection ids for evidence: "connections 3, 7, 12".
func ids(l []int, total int) string {
	if len(l) == 0 {
		return ""
	}
	s := make([]string, len(l))
	for i, id := range l {
		s[i] = fmt.Sprint(id)
	}
	word := "connection"
	if total > 1 {
		word = "connections"
	}
	out := word + " " + strings.Join(s, ", ")
	if total > len(l) {
		out += fmt.Sprintf(" (and %d more)", total-len(l))
	}
	return out
}

func secsStr(d time.Duration) string { return Secs(d.Seconds()) }

// TimeoutStr formats a measured timeout to the precision the capture
// gives it: "5.00 s", "750 ms".
func TimeoutStr(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return Secs(d.Seconds())
}

// raceKinds says how many races of each kind: "9 in-flight, 5 stale-reuse".
func raceKinds(m map[httpflow.RaceKind]int) string {
	var parts []string
	for _, k := range []httpflow.RaceKind{httpflow.RaceInFlight, httpflow.RaceStaleReuse, httpflow.RaceSilentDrop} {
		if n := m[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	return strings.Join(parts, ", ")
}

// advice derives the advice from the servers and the summary.
func advice(servers []*Server, sum *httpflow.Summary, tw map[netip.Addr]*twHeap) []httpflow.Advice {
	type ranked struct {
		rank int
		a    httpflow.Advice
	}
	var out []ranked
	add := func(rank int, kind string, server netip.AddrPort, text string) {
		out = append(out, ranked{rank, httpflow.Advice{Kind: kind, Server: server, Text: text}})
	}
	for _, sv := range servers {
		who, verb := "the clients of "+sv.Server.String(), "reuse"
		if len(sv.Downstream) > 0 {
			who, verb = "the upstream pool at "+sv.Downstream[0].Addr().String(), "reuses"
		}
		failedDown := ""
		if sv.DownstreamErrors > 0 {
			failedDown = fmt.Sprintf(", %d of them reached the client as an error (%d POST)", sv.DownstreamErrors, sv.DownstreamErrorPOSTs)
			if len(sv.DownstreamErrorConns) > 0 {
				failedDown += " on downstream " + ids(sv.DownstreamErrorConns, sv.downstreamErrorConnsTotal)
			}
		}
		retried := ""
		if sv.RetriedOK > 0 {
			retried = fmt.Sprintf("; %d idempotent requests were retried and answered", sv.RetriedOK)
		}
		// 1. The order of the timeouts. Races that were a proxy closing
		// after its upstream failed are the upstream's advice.
		own := sv.Races - sv.RacesFromUpstream
		if sv.RacesFromUpstream > 0 {
			ups := make([]string, len(sv.Upstream))
			for i, u := range sv.Upstream {
				ups[i] = u.String()
			}
			add(1, AdviceRaces, sv.Server, fmt.Sprintf("%d of the %d requests to %s that met its close were not crossings with its own idle timeout: it closed those client connections because the upstream request each caused (at %s) failed; see the advice for the upstream.",
				sv.RacesFromUpstream, sv.Races, sv.Server, strings.Join(ups, ", ")))
		}
		if own <= 0 {
			// nothing of its own
		} else if sv.Races > 0 && sv.HasIdleTimeout {
			text := fmt.Sprintf("%s %s connections idle for up to %s, and %s closes them after %s (±%s, %d connections): %d requests raced (%s; %d non-idempotent)%s%s",
				who, verb, TimeoutStr(sv.LongestReuse), sv.Server, TimeoutStr(sv.IdleTimeout), secsStr(sv.Spread), sv.Basis, sv.Races, raceKinds(sv.RacesByKind), sv.RaceNonIdem, failedDown, retried)
			if sv.NearTimeout > 0 {
				text += fmt.Sprintf("; %d requests reused a connection idle for 90 %% of the server's timeout or more", sv.NearTimeout)
			}
			below := sv.IdleTimeout
			if rc := sv.RaceCloseIdle; sv.HasRaceCloseIdle && math.Abs((rc-below).Seconds()) > math.Max(0.25, 0.1*below.Seconds()) {
				text += fmt.Sprintf("; but the FINs that met those requests came after %s of idle, not %s: something besides the idle timeout closes its connections (a proxy closes a client's connection when the upstream connection serving it closes)", TimeoutStr(rc), TimeoutStr(below))
				below = min(below, rc)
			}
			text += fmt.Sprintf(". The side that reuses must time out first: set the client side's idle timeout below %s (%s leaves room for the round trip and timer slack)",
				TimeoutStr(below), secsStr(roundDown(below*8/10)))
			if sv.HasClientIdleClose && sv.ClientIdleClose > sv.IdleTimeout {
				text += fmt.Sprintf(", or the server's above the client side's %s (%s or more)", TimeoutStr(sv.ClientIdleClose), secsStr(roundUp(sv.ClientIdleClose+sv.ClientIdleClose/5)))
			} else {
				text += ", or the server's above the client side's idle timeout (which this capture does not show)"
			}
			text += "; " + ids(sv.RaceConns, sv.Races) + "."
			add(0, AdviceTimeoutOrder, sv.Server, text)
		} else if sv.Races > 0 {
			text := fmt.Sprintf("%d requests to %s met its close of an idle connection (%s; %d non-idempotent)%s%s; the capture shows too few of its idle closes to tell its timeout: make the client side time out first; %s.",
				sv.Races, sv.Server, raceKinds(sv.RacesByKind), sv.RaceNonIdem, failedDown, retried, ids(sv.RaceConns, sv.Races))
			add(1, AdviceRaces, sv.Server, text)
		}
		if n := sv.RacesByKind[httpflow.RaceSilentDrop]; n > 0 {
			text := fmt.Sprintf("%d idle connections to %s were answered by a RST alone (no FIN)", n, sv.Server)
			if sv.RaceRSTAcked == n {
				text += ": each RST acknowledges the request, so the server itself closed with it unread as its idle timeout fired, not a middlebox"
			} else if sv.RaceRSTAcked > 0 {
				text += fmt.Sprintf(": %d of them acknowledge the request (the server closed with it unread); for the other %d a NAT, load balancer or conntrack expired the connection without telling either side: keep the client's idle timeout below theirs", sv.RaceRSTAcked, n-sv.RaceRSTAcked)
			} else {
				text += ": a NAT, load balancer or conntrack between them expired the connection without telling either side: keep the client's idle timeout below theirs, or enable TCP keep-alive probes more often than their idle timeout"
			}
			add(2, AdviceSilentDrop, sv.Server, text+".")
		}
		// 2. Advertised and in force.
		if sv.HasIdleTimeout && sv.HasAdvertised {
			adv := sv.Advertised
			in := sv.IdleTimeout.Seconds()
			if math.Abs(in-adv) > math.Max(0.25, 0.1*adv) {
				text := fmt.Sprintf("%s advertises Keep-Alive: timeout=%s but closes idle connections after %s (±%s, %d connections)",
					sv.Server, fmtFloat(adv), TimeoutStr(sv.IdleTimeout), secsStr(sv.Spread), sv.Basis)
				if in > adv {
					text += ": clients that trust the header close sooner than needed"
				} else {
					text += ": clients that trust the header reuse connections the server has already closed"
				}
				if sv.HintServer != "" {
					text += " (" + sv.HintServer + ")"
				}
				add(3, AdviceAdvertised, sv.Server, text+".")
			}
		}
		// 3. Keep-alive tuning from the replay.
		if w, alt, ok := betterTimeout(sv); ok {
			text := fmt.Sprintf("for %s, an idle timeout of %s would serve %.0f %% of the reuse it sees at %s with %.0f %% fewer idle connections (mean %.1f instead of %.1f",
				sv.Server, secsStr(alt.Timeout), 100*float64(alt.Reused)/float64(max(w.Reused, 1)), secsStr(w.Timeout),
				100*(1-alt.IdleMean/w.IdleMean), alt.IdleMean, w.IdleMean)
			if alt.IdlePeak != w.IdlePeak {
				text += fmt.Sprintf(", peak %d instead of %d", alt.IdlePeak, w.IdlePeak)
			}
			text += ")"
			if d := alt.Connections - w.Connections; d > 0 {
				text += fmt.Sprintf(" and %d more handshakes (%d instead of %d)", d, alt.Connections, w.Connections)
			} else {
				text += " and no more handshakes"
			}
			if alt.Races < w.Races {
				text += fmt.Sprintf(", and %d races expected instead of %d", alt.Races, w.Races)
			}
			add(5, AdviceKeepAlive, sv.Server, text+" (the capture's own requests replayed).")
		}
		// 4. No keep-alive.
		if sv.Connections >= 20 && sv.Transactions > 0 && float64(sv.Transactions)/float64(sv.Connections) < 1.2 {
			add(6, AdviceNoKeepAlive, sv.Server, fmt.Sprintf("%s served %d requests on %d connections (%.2f per connection): each paid a handshake and left a TIME_WAIT; keep-alive (HTTP/1.1, or Connection: keep-alive) would reuse them",
				sv.Server, sv.Transactions, sv.Connections, float64(sv.Transactions)/float64(sv.Connections))+".")
		}
	}
	// TIME_WAIT against the ephemeral ports.
	var hosts []netip.Addr
	for h, heap := range tw {
		if heap.peak >= ephemeralPorts/4 {
			hosts = append(hosts, h)
		}
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Less(hosts[j]) })
	for _, h := range hosts {
		p := tw[h].peak
		add(4, AdviceTimeWait, netip.AddrPort{}, fmt.Sprintf("%s held %d TIME_WAITs at once: %.0f %% of Linux's default %d ephemeral ports (32768-60999); a client that runs out cannot open connections to the same server: reuse connections (keep-alive), or let the server close first",
			h, p, 100*float64(p)/ephemeralPorts, ephemeralPorts)+".")
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].rank < out[j].rank })
	res := make([]httpflow.Advice, len(out))
	for i := range out {
		res[i] = out[i].a
	}
	return res
}

func fmtFloat(f float64) string { return fmt.Sprintf("%g", f) }

// roundDown rounds a duration down to a whole second (to 100 ms below 2 s).
func roundDown(d time.Duration) time.Duration {
	step := time.Second
	if d < 2*time.Second {
		step = 100 * time.Millisecond
	}
	return d / step * step
}

// roundUp rounds a duration up to a whole second (to 100 ms below 2 s).
func roundUp(d time.Duration) time.Duration {
	step := time.Second
	if d < 2*time.Second {
		step = 100 * time.Millisecond
	}
	return (d + step - 1) / step * step
}

// betterTimeout finds, among the replays, a shorter timeout than the one
// in force (or advertised) that keeps at least 95 % of the reuse with at
// least 30 % fewer idle connections on average.
func betterTimeout(sv *Server) (cur, alt WhatIf, ok bool) {
	var curT time.Duration
	switch {
	case sv.HasIdleTimeout:
		curT = sv.IdleTimeout
	case sv.HasAdvertised:
		curT = secsDuration(sv.Advertised)
	default:
		return
	}
	found := false
	for _, w := range sv.WhatIf {
		if w.Timeout == curT || !found && w.Timeout >= curT {
			cur, found = w, true
		}
	}
	if !found || cur.Reused < 20 || cur.IdleMean < 1 {
		return
	}
	for _, w := range sv.WhatIf {
		if w.Timeout >= cur.Timeout {
			continue
		}
		if float64(w.Reused) >= 0.95*float64(cur.Reused) && w.IdleMean <= 0.7*cur.IdleMean && w.Races <= cur.Races {
			if !ok || w.Timeout < alt.Timeout {
				alt, ok = w, true
			}
		}
	}
	return
}
