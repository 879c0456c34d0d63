package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestCaptureStartsMidTraffic starts each capture of samples/ and the
// corpus at 30, 50 and 70 % of its packets, as tcpdump started on a busy
// server does (inside responses, between a request and its answer, in
// idle periods), and requires every exchange whose request the shortened
// capture holds from its first byte to come out as in the whole capture,
// in order, each response on its own request. Before 2ba265f one cut
// (chunked.pcap at 50 %, a 304's tail) paired every later response with
// the request before its own; until the framer began requests at segment
// starts too, curl-post.pcap at 30 % (inside a form body without a line
// feed) read the body and the next request line as one malformed line.
func TestCaptureStartsMidTraffic(t *testing.T) {
	paths := globCaptures("../../samples/*.pcap", "../../samples/heldout-sim/*.pcap", "../../../shared/corpus/*.pcap")
	if testing.Short() {
		paths = paths[:min(len(paths), 6)]
	}
	checked := 0
	for _, path := range paths {
		orig := analyseLines(t, path)
		for _, pct := range []int{30, 50, 70} {
			file := filepath.Join(t.TempDir(), fmt.Sprintf("%d-%s", pct, filepath.Base(path)))
			start, ok := capturedFrom(t, path, file, pct)
			if !ok {
				continue
			}
			got := analyseLines(t, file)
			byClient := map[any]map[string]any{}
			for _, c := range got.conns {
				byClient[c["client"]] = c
			}
			for _, c := range orig.conns {
				var want []string
				for _, x := range c["transactions"].([]any) {
					m := x.(map[string]any)
					if at, _ := time.Parse(time.RFC3339Nano, m["request_start_at"].(string)); at.After(start) {
						want = append(want, exchangeOf(m))
					}
				}
				if len(want) == 0 {
					continue
				}
				checked++
				var have []string
				if g := byClient[c["client"]]; g != nil {
					for _, x := range g["transactions"].([]any) {
						have = append(have, exchangeOf(x.(map[string]any)))
					}
				}
				if len(have) < len(want) || !slices.Equal(have[len(have)-len(want):], want) {
					t.Errorf("%s from %d %% of its packets: connection %v: exchanges %q, want them to end with %q", path, pct, c["client"], have, want)
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("%d connections checked, want at least 100", checked)
	}
	t.Logf("%d connections of %d captures, each begun at 30, 50 and 70 %%", checked, len(paths))
}

// exchangeOf is a transaction's method, target and status, for messages.
func exchangeOf(m map[string]any) string {
	return fmt.Sprintf("%v %v %v", m["method"], m["uri"], m["status"])
}

// capturedFrom copies the pcap in to out from its packet at pct % on and
// returns that packet's time; false when in has too few packets.
func capturedFrom(t *testing.T, in, out string, pct int) (time.Time, bool) {
	t.Helper()
	c := readPcapFile(t, in)
	n := len(c.recs)
	k := n * pct / 100
	if k < 2 || k >= n {
		return time.Time{}, false
	}
	c.recs = c.recs[k:]
	c.write(t, out)
	return c.recs[0].ci.Timestamp, true
}
