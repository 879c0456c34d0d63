package evidence

import (
	"strings"
	"testing"

	"github.com/httplife/httplife/httpflow"
)

// ParseTriggers never panics; what it accepts it accepts again in any
// case and with spaces, and every word it accepts alone matches some
// record or none without panicking.
func FuzzParseTriggers(f *testing.F) {
	for _, s := range []string{"race,reset", "all", "anomaly", "response-bad-chunk-size", "silent-drop, max-requests", ",,", "response-response-", "Race"} {
		f.Add(s)
	}
	recs := []*httpflow.Connection{
		{Close: httpflow.Close{Reason: httpflow.ReasonKeepaliveRace, Race: &httpflow.Race{Kind: httpflow.RaceInFlight}}},
		{Close: httpflow.Close{Reason: httpflow.ReasonReset, RstBy: httpflow.Server}, Anomalies: []string{"content-gap"}},
		{Close: httpflow.Close{Reason: httpflow.Reason(200)}},
		{Close: httpflow.Close{Reason: httpflow.ReasonKeepaliveRace, Race: &httpflow.Race{Kind: httpflow.RaceKind(9)}}},
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := ParseTriggers(s)
		if err != nil {
			return
		}
		ascii := strings.IndexFunc(s, func(r rune) bool { return r >= 0x80 }) < 0
		if _, err := ParseTriggers(" " + strings.ToUpper(s) + " "); err != nil && ascii {
			t.Errorf("%q accepted, its upper case not: %v", s, err)
		}
		for _, r := range recs {
			if why, ok := tr.Match(r); ok != (why != "") {
				t.Errorf("%q: Match gives %q, %v", s, why, ok)
			}
		}
	})
}
