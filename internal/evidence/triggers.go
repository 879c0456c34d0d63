package evidence

import (
	"fmt"
	"sort"
	"strings"

	"github.com/httplife/httplife/httpflow"
)

// Triggers says which finished connections are incidents worth their
// packets: the words of --evidence-on.
//
//	race        a keep-alive race (any kind)
//	in-flight, stale-reuse, silent-drop
//	            a race of that kind
//	reset       a RST ended the connection
//	REASON      the close reason (server-idle-timeout, max-requests, ...)
//	anomaly     any anomaly
//	ANOMALY     that anomaly (content-gap, request-unanswered, ...)
//	all         every connection
type Triggers struct {
	all, race, reset, anyAnomaly bool
	kinds                        [4]bool
	reasons                      []bool // by httpflow.Reason
	anomalies                    map[string]bool
}

// DefaultTriggers is what --evidence-on is by default.
const DefaultTriggers = "race,reset"

// Anomalies lists the anomaly names the analysis gives (httpflow and
// tcpstate; a test keeps the list in step with their sources), sorted.
// A response's framing anomalies are also named with "response-" before
// them (response-bad-chunk-size).
var Anomalies = []string{
	"bad-chunk-framing", "bad-chunk-size", "bad-content-length", "client-packets-not-captured", "conflicting-content-length", "content-gap",
	"content-length-with-transfer-encoding", "data-after-fin", "headers-too-large", "http2", "http2-bad-continuation",
	"http2-bad-padding", "http2-bad-priority", "http2-bad-push-promise", "http2-bad-status", "http2-frame-too-large",
	"http2-header-error", "http2-stream-reset", "http2-streams-capped", "last-request-unanswered",
	"line-too-long", "malformed-request-line", "malformed-start-line", "non-http-payload", "port-reused-in-time-wait",
	"request-after-server-fin", "request-answered-by-server-rst", "request-lost-at-server-close", "request-unanswered",
	"request-unknown-transfer-encoding", "response-not-captured", "response-without-request", "server-packets-not-captured", "stray-crlf", "tls-exchanges-capped",
	"tls-keys-missing", "tunnel",
}

// ParseTriggers reads a comma-separated list of the words above.
func ParseTriggers(s string) (Triggers, error) {
	t := Triggers{reasons: make([]bool, len(httpflow.Reasons)+1), anomalies: map[string]bool{}}
	n := 0
	for _, w := range strings.Split(s, ",") {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" {
			continue
		}
		n++
		switch w {
		case "all":
			t.all = true
			continue
		case "race", "races":
			t.race = true
			continue
		case "reset", "resets", "rst":
			t.reset = true
			continue
		case "anomaly", "anomalies":
			t.anyAnomaly = true
			continue
		}
		if k, ok := httpflow.ParseRaceKind(w); ok && int(k) < len(t.kinds) {
			t.kinds[k] = true
			continue
		}
		if r, ok := httpflow.ParseReason(w); ok && int(r) < len(t.reasons) {
			t.reasons[r] = true
			continue
		}
		if known(w) {
			t.anomalies[w] = true
			continue
		}
		return Triggers{}, fmt.Errorf("%q is not a trigger: want race, a race kind (in-flight, stale-reuse, silent-drop), reset, a close reason (%s), anomaly, an anomaly name (%s) or all",
			w, reasonList(), strings.Join(Anomalies, ", "))
	}
	if n == 0 {
		return Triggers{}, fmt.Errorf("no trigger given: want e.g. %q", DefaultTriggers)
	}
	return t, nil
}

func known(anomaly string) bool {
	i := sort.SearchStrings(Anomalies, anomaly)
	if i < len(Anomalies) && Anomalies[i] == anomaly {
		return true
	}
	rest, ok := strings.CutPrefix(anomaly, "response-")
	return ok && rest != "" && known(rest)
}

func reasonList() string {
	s := make([]string, len(httpflow.Reasons))
	for i, r := range httpflow.Reasons {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

// Match says whether c is an incident and names why, in a word fit for a
// file name ("race-stale-reuse", "reset", "server-idle-timeout", an
// anomaly's name, "connection").
func (t *Triggers) Match(c *httpflow.Connection) (string, bool) {
	race := c.Close.Reason == httpflow.ReasonKeepaliveRace
	kind := httpflow.RaceKind(0)
	if r := c.Close.Race; race && r != nil {
		kind = r.Kind
	}
	raceWhy := "race"
	if kind != 0 {
		raceWhy = "race-" + kind.String()
	}
	switch {
	case race && (t.race || int(kind) < len(t.kinds) && t.kinds[kind]):
		return raceWhy, true
	case t.reset && c.ClosedByReset():
		return "reset", true
	case int(c.Close.Reason) < len(t.reasons) && t.reasons[c.Close.Reason]:
		if race {
			return raceWhy, true
		}
		return c.Close.Reason.String(), true
	}
	for _, a := range c.Anomalies {
		if t.anyAnomaly || t.anomalies[a] {
			return a, true
		}
	}
	if t.all {
		if race {
			return raceWhy, true
		}
		return c.Close.Reason.String(), true
	}
	return "", false
}
