package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestOneDirectionCaptures analyses every corpus capture as a mirror or
// filter that keeps one direction delivers it (the capture filter of
// the command line keeps the packets to the servers, or from them), as a
// user would: each connection whose other side's data the capture's
// acknowledgements show says that side's packets were not captured, its
// close reason is unknown, its requests are neither unanswered nor
// pipelined, and the findings start with it.
func TestOneDirectionCaptures(t *testing.T) {
	checked := map[string]int{}
	for _, tf := range corpusCaptures(t) {
		raw, err := os.ReadFile(tf)
		if err != nil {
			t.Fatal(err)
		}
		var truth truthFile
		if err := json.Unmarshal(raw, &truth); err != nil {
			t.Fatalf("%s: %v", tf, err)
		}
		capPath := strings.TrimSuffix(tf, ".truth.json")
		var servers []netip.AddrPort
		for _, c := range truth.Connections {
			if ap, err := netip.ParseAddrPort(c.Server); err == nil && !slices.Contains(servers, ap) {
				servers = append(servers, ap)
			}
		}
		if len(servers) == 0 {
			continue
		}
		for _, keep := range []string{"client", "server"} {
			dir, missing, data := "dst", "server", "server"
			if keep == "server" {
				dir, missing, data = "src", "client", "client"
			}
			var terms []string
			for _, s := range servers {
				terms = append(terms, fmt.Sprintf("(%s host %s and %s port %d)", dir, s.Addr(), dir, s.Port()))
			}
			filter := strings.Join(terms, " or ")
			doc := analyseJSON(t, capPath, filter)
			conns, _ := doc["connections"].([]any)
			flagged := 0
			for _, want := range truth.Connections {
				var got map[string]any
				for _, c := range conns {
					if m := c.(map[string]any); m["client"] == want.Client && m["server"] == want.Server {
						got = m
						break
					}
				}
				if want.PayloadBytes[data] == 0 {
					continue // nothing of the other side for the capture's acknowledgements to show
				}
				where := fmt.Sprintf("%s %q: %s->%s", capPath, filter, want.Client, want.Server)
				if got == nil {
					t.Errorf("%s: not reported", where)
					continue
				}
				an := strs(got["anomalies"])
				if !slices.Contains(an, missing+"-packets-not-captured") {
					t.Errorf("%s: anomalies %q, want %s-packets-not-captured", where, an, missing)
					continue
				}
				if slices.Contains(an, "request-unanswered") || slices.Contains(an, "last-request-unanswered") {
					t.Errorf("%s: anomalies %q call requests unanswered", where, an)
				}
				// Unknown when the side captured closed; else no close is in
				// the capture.
				cl := got["close"].(map[string]any)
				if cl["first_fin_by"] == nil && cl["rst_by"] == nil {
					if cl["reason"] != "capture-ended" {
						t.Errorf("%s: reason %v (%v), want capture-ended (the %s did not close)", where, cl["reason"], cl["evidence"], keep)
					}
				} else if cl["reason"] != "unknown" || !strings.Contains(cl["evidence"].(string), "holds only the "+keep+"'s packets") {
					t.Errorf("%s: reason %v (%v), want unknown, saying the capture holds the %s's packets only", where, cl["reason"], cl["evidence"], keep)
				}
				txs, _ := got["transactions"].([]any)
				wantTx := want.Requests
				if keep == "server" {
					wantTx = 0 // responses without their requests pair with nothing
				}
				if len(txs) != wantTx {
					t.Errorf("%s: %d transactions, want %d", where, len(txs), wantTx)
				}
				for _, x := range txs {
					if x.(map[string]any)["pipelined"] == true {
						t.Errorf("%s: a transaction is pipelined", where)
					}
				}
			}
			for _, c := range conns {
				if slices.Contains(strs(c.(map[string]any)["anomalies"]), missing+"-packets-not-captured") {
					flagged++
				}
			}
			if flagged > 0 {
				checked[keep]++
				f := strs(doc["summary"].(map[string]any)["findings"])
				lead := fmt.Sprintf("%d of %d connections were captured in one direction only, the %s's", flagged, len(conns), keep)
				if len(f) == 0 || !strings.HasPrefix(f[0], lead) {
					t.Errorf("%s %q: findings %q, want the first to start %q", capPath, filter, f, lead)
				}
				w := strings.Join(strs(doc["capture"].(map[string]any)["warnings"]), "\n")
				if !strings.Contains(w, missing+"-packets-not-captured") {
					t.Errorf("%s %q: warnings %q name no %s-packets-not-captured", capPath, filter, w, missing)
				}
			}
		}
	}
	if checked["client"] < 10 || checked["server"] < 10 {
		t.Errorf("only %d captures checked with the clients' packets, %d with the servers'", checked["client"], checked["server"])
	}
}
