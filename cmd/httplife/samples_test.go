package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// expectFile is samples/NAME.expect.json: per-connection facts derived from
// the capture with tshark by samples/record/expect.py.
type expectFile struct {
	File        string `json:"file"`
	Connections []struct {
		Client      string    `json:"client"`
		Server      string    `json:"server"`
		Requests    int       `json:"requests"`
		Responses   int       `json:"responses"`
		Methods     []string  `json:"methods"`
		Statuses    []int     `json:"statuses"`
		IdleGapsS   []float64 `json:"idle_gaps_s"`
		FinalIdleS  *float64  `json:"final_idle_s"`
		FirstFinBy  *string   `json:"first_fin_by"`
		RstBy       *string   `json:"rst_by"`
		CloseReason string    `json:"close_reason"`
		Probes      int       `json:"tcp_keepalive_probes"`
		SynSeen     bool      `json:"syn_seen"`
	} `json:"connections"`
}

// The project's own captures give what tshark says: samples/ (Go net/http,
// lighttpd, Apache, python's http.server, curl, a race, IPv6 pipelining)
// and samples/heldout-sim/ (the corpus's 17 categories recorded again with
// other servers and timings).
func TestSamplesMatchExpectations(t *testing.T) {
	files, _ := filepath.Glob("../../samples/*.expect.json")
	more, _ := filepath.Glob("../../samples/heldout-sim/*.truth.json")
	if len(files) == 0 || len(more) == 0 {
		t.Fatal("no samples/*.expect.json or samples/heldout-sim/*.truth.json")
	}
	files = append(files, more...)
	for _, ef := range files {
		raw, err := os.ReadFile(ef)
		if err != nil {
			t.Fatal(err)
		}
		var want expectFile
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("%s: %v", ef, err)
		}
		path := filepath.Join(filepath.Dir(ef), want.File)
		var got struct {
			Connections []struct {
				Client, Server string
				SynSeen        bool `json:"syn_seen"`
				Transactions   []struct {
					Method string
					Status *int
				}
				IdlePeriods []struct {
					Duration float64 `json:"duration_s"`
				} `json:"idle_periods"`
				FinalIdle *struct {
					Duration float64 `json:"duration_s"`
				} `json:"final_idle"`
				Close struct {
					FirstFinBy *string `json:"first_fin_by"`
					RstBy      *string `json:"rst_by"`
					Reason     string
				}
				Probes map[string]int `json:"tcp_keepalive_probes"`
			}
		}
		doc := analyseJSON(t, path)
		b, _ := json.Marshal(doc)
		json.Unmarshal(b, &got)
		if len(got.Connections) != len(want.Connections) {
			t.Errorf("%s: %d connections, want %d", path, len(got.Connections), len(want.Connections))
			continue
		}
		for i, w := range want.Connections {
			g := got.Connections[i]
			where := path + " " + w.Client
			methods, statuses := []string{}, []int{}
			for _, tx := range g.Transactions {
				methods = append(methods, tx.Method)
				if tx.Status != nil {
					statuses = append(statuses, *tx.Status)
				}
			}
			var gaps []float64
			for _, p := range g.IdlePeriods {
				gaps = append(gaps, p.Duration)
			}
			check := func(what string, got, want any) {
				t.Helper()
				if !reflect.DeepEqual(norm(got), norm(want)) {
					t.Errorf("%s: %s = %v, want %v", where, what, got, want)
				}
			}
			check("client", g.Client, w.Client)
			check("server", g.Server, w.Server)
			check("syn_seen", g.SynSeen, w.SynSeen)
			check("requests", len(g.Transactions), w.Requests)
			check("responses", len(statuses), w.Responses)
			check("methods", methods, append([]string{}, w.Methods...))
			check("statuses", statuses, append([]int{}, w.Statuses...))
			check("first_fin_by", g.Close.FirstFinBy, w.FirstFinBy)
			check("rst_by", g.Close.RstBy, w.RstBy)
			check("reason", g.Close.Reason, w.CloseReason)
			check("probes", g.Probes["client"]+g.Probes["server"], w.Probes)
			if len(gaps) != len(w.IdleGapsS) {
				t.Errorf("%s: idle gaps %v, want %v", where, gaps, w.IdleGapsS)
			} else {
				for k := range gaps {
					if !within(gaps[k], w.IdleGapsS[k], 0.005, 0.02) {
						t.Errorf("%s: idle gap %d = %v, want %v", where, k, gaps[k], w.IdleGapsS[k])
					}
				}
			}
			if w.FinalIdleS != nil && (g.FinalIdle == nil || !within(g.FinalIdle.Duration, *w.FinalIdleS, 0.005, 0.02)) {
				t.Errorf("%s: final idle %+v, want %v", where, g.FinalIdle, *w.FinalIdleS)
			}
		}
	}
}
