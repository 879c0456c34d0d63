package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// proxyTruth is the part of samples/proxy/NAME.pcap.truth.json these tests
// read: what the scenario's programs logged and tshark showed
// (samples/proxy/README.md).
type proxyTruth struct {
	Connections []struct {
		ID           int    `json:"id"`
		Leg          string `json:"leg"`
		Transactions []struct {
			RequestID string `json:"request_id"`
		} `json:"transactions"`
	} `json:"connections"`
	Races []struct {
		Connection  int     `json:"connection"`
		Kind        string  `json:"kind"`
		Transaction int     `json:"transaction"`
		Idempotent  bool    `json:"idempotent"`
		IdleBeforeS float64 `json:"idle_before_s"`
		Cause       []struct {
			Connection  int `json:"connection"`
			Transaction int `json:"transaction"`
		} `json:"upstream_cause"`
	} `json:"races"`
	DownstreamFailures []struct {
		Connection  int `json:"connection"`
		Transaction int `json:"transaction"`
		Attempts    []struct {
			Connection  int `json:"connection"`
			Transaction int `json:"transaction"`
		} `json:"upstream_attempts"`
	} `json:"downstream_failures"`
	Servers []struct {
		Server          string    `json:"server"`
		Leg             string    `json:"leg"`
		IdleMedian      *float64  `json:"server_idle_closes_median_s"`
		ClientMedian    *float64  `json:"client_idle_closes_median_s"`
		Advertised      []float64 `json:"advertised_timeout_s"`
		Races           int       `json:"races"`
		ServerIdleClose []float64 `json:"server_idle_closes_s"`
	} `json:"servers"`
	Counts struct {
		Proxy struct {
			RetriedOK     *int `json:"retried_ok"`
			Downstream502 *int `json:"downstream_502"`
		} `json:"proxy"`
	} `json:"counts"`
}

type ref struct {
	Connection  int `json:"connection"`
	Transaction int `json:"transaction"`
}

// proxyDoc is the part of `analyse --format json` these tests read.
type proxyDoc struct {
	Connections []struct {
		ID           int
		Server       string
		Transactions []struct {
			Index      int
			Status     *int
			RequestID  string `json:"request_id"`
			Upstream   []ref
			Downstream *ref
		}
		Close struct {
			Reason   string
			Evidence string
			Race     *struct {
				Kind        string
				Transaction int
				Idempotent  bool
				IdleBeforeS float64 `json:"idle_before_s"`
			}
		}
	}
	Summary struct {
		Servers []struct {
			Server            string
			IdleTimeoutS      *float64 `json:"idle_timeout_s"`
			IdleTimeoutBasis  int      `json:"idle_timeout_basis"`
			AdvertisedS       *float64 `json:"advertised_timeout_s"`
			ClientIdleCloseS  *float64 `json:"client_idle_close_s"`
			Races             int
			RacesByKind       map[string]int `json:"races_by_kind"`
			DownstreamErrors  int            `json:"downstream_errors"`
			RetriedOK         int            `json:"retried_ok"`
			RacesFromUpstream int            `json:"races_from_upstream"`
			Hint              *string
			WhatIf            []struct {
				TimeoutS    float64 `json:"timeout_s"`
				Connections int
				Races       int
				Inferred    bool
			} `json:"what_if"`
		}
		Advice []struct {
			Kind   string
			Server *string
			Text   string
		}
	}
}

func analyseJSONBytes(t *testing.T, args ...string) []byte {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(append([]string{"analyse", "--format", "json"}, args...), nil, &out, &errOut); code != 0 {
		t.Fatalf("analyse %v: exit %d: %s", args, code, errOut.String())
	}
	return out.Bytes()
}

// The proxy scenarios of samples/proxy, recorded from nginx, HAProxy,
// Node.js and Go on loopback: the timeouts in force, each race's kind, the
// proxy legs behind each downstream error, and the advice, against what
// the programs logged and tshark showed.
func TestProxyScenarios(t *testing.T) {
	files, _ := filepath.Glob("../../samples/proxy/*.pcap.truth.json")
	if len(files) < 5 {
		t.Fatalf("want the 5 samples/proxy scenarios, found %d", len(files))
	}
	for _, tf := range files {
		capture := strings.TrimSuffix(tf, ".truth.json")
		name := filepath.Base(capture)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(tf)
			if err != nil {
				t.Fatal(err)
			}
			var want proxyTruth
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			var got proxyDoc
			if err := json.Unmarshal(analyseJSONBytes(t, capture), &got); err != nil {
				t.Fatal(err)
			}
			conns := map[int]int{}
			for i, c := range got.Connections {
				conns[c.ID] = i
			}
			checkProxyServers(t, &want, &got)
			checkProxyRaces(t, &want, &got, conns)
			checkProxyLegs(t, &want, &got, conns)
		})
	}
}

func checkProxyServers(t *testing.T, want *proxyTruth, got *proxyDoc) {
	for _, ws := range want.Servers {
		var gs *struct {
			Server            string
			IdleTimeoutS      *float64 `json:"idle_timeout_s"`
			IdleTimeoutBasis  int      `json:"idle_timeout_basis"`
			AdvertisedS       *float64 `json:"advertised_timeout_s"`
			ClientIdleCloseS  *float64 `json:"client_idle_close_s"`
			Races             int
			RacesByKind       map[string]int `json:"races_by_kind"`
			DownstreamErrors  int            `json:"downstream_errors"`
			RetriedOK         int            `json:"retried_ok"`
			RacesFromUpstream int            `json:"races_from_upstream"`
			Hint              *string
			WhatIf            []struct {
				TimeoutS    float64 `json:"timeout_s"`
				Connections int
				Races       int
				Inferred    bool
			} `json:"what_if"`
		}
		for i := range got.Summary.Servers {
			if got.Summary.Servers[i].Server == ws.Server {
				gs = &got.Summary.Servers[i]
			}
		}
		if gs == nil {
			t.Errorf("summary.servers lacks %s", ws.Server)
			continue
		}
		switch {
		case ws.IdleMedian == nil && len(ws.ServerIdleClose) < 3:
			if gs.IdleTimeoutS != nil {
				t.Errorf("%s: idle_timeout_s %g, want null (%d idle closes)", ws.Server, *gs.IdleTimeoutS, len(ws.ServerIdleClose))
			}
		case ws.IdleMedian != nil && len(ws.ServerIdleClose) >= 3:
			if gs.IdleTimeoutS == nil || math.Abs(*gs.IdleTimeoutS-*ws.IdleMedian) > 0.005 {
				t.Errorf("%s: idle_timeout_s %v, want %g (median of %d idle closes)", ws.Server, ptrf(gs.IdleTimeoutS), *ws.IdleMedian, len(ws.ServerIdleClose))
			}
		}
		if ws.ClientMedian != nil && len(ws.ServerIdleClose) >= 0 {
			if gs.ClientIdleCloseS == nil || math.Abs(*gs.ClientIdleCloseS-*ws.ClientMedian) > 0.005 {
				t.Errorf("%s: client_idle_close_s %v, want %g", ws.Server, ptrf(gs.ClientIdleCloseS), *ws.ClientMedian)
			}
		}
		if len(ws.Advertised) == 1 && (gs.AdvertisedS == nil || *gs.AdvertisedS != ws.Advertised[0]) {
			t.Errorf("%s: advertised_timeout_s %v, want %g", ws.Server, ptrf(gs.AdvertisedS), ws.Advertised[0])
		}
		if gs.Races != ws.Races {
			t.Errorf("%s: races %d, want %d", ws.Server, gs.Races, ws.Races)
		}
		// The replay at the inferred timeout reproduces the capture's
		// connections within 12 % (it models the client pools).
		for _, w := range gs.WhatIf {
			if w.Inferred && ws.Leg == "upstream" {
				n := 0
				for _, c := range got.Connections {
					if c.Server == ws.Server && len(c.Transactions) > 0 {
						n++
					}
				}
				if math.Abs(float64(w.Connections-n)) > 0.12*float64(n) {
					t.Errorf("%s: replay at the inferred %g s opens %d connections, the capture shows %d", ws.Server, w.TimeoutS, w.Connections, n)
				}
			}
		}
		// The advice names the order of the timeouts where the upstream
		// raced, with its numbers.
		if ws.Leg == "upstream" && ws.Races > 0 {
			found := false
			for _, a := range got.Summary.Advice {
				if a.Kind == "timeout-order" && a.Server != nil && *a.Server == ws.Server {
					found = true
					for _, must := range []string{itoa(ws.Races) + " requests raced", "time out first"} {
						if !strings.Contains(a.Text, must) {
							t.Errorf("%s: advice %q lacks %q", ws.Server, a.Text, must)
						}
					}
				}
			}
			if !found {
				t.Errorf("%s: no timeout-order advice; advice: %+v", ws.Server, got.Summary.Advice)
			}
		}
		if ws.Leg == "upstream" && want.Counts.Proxy.RetriedOK != nil && gs.RetriedOK != *want.Counts.Proxy.RetriedOK {
			t.Errorf("%s: retried_ok %d, want %d (the proxy's access log)", ws.Server, gs.RetriedOK, *want.Counts.Proxy.RetriedOK)
		}
	}
}

func checkProxyRaces(t *testing.T, want *proxyTruth, got *proxyDoc, conns map[int]int) {
	n := 0
	for _, c := range got.Connections {
		if c.Close.Race != nil {
			n++
		}
	}
	if n != len(want.Races) {
		t.Errorf("%d races, want %d", n, len(want.Races))
	}
	for _, wr := range want.Races {
		i, ok := conns[wr.Connection]
		if !ok {
			t.Errorf("no connection %d", wr.Connection)
			continue
		}
		c := &got.Connections[i]
		r := c.Close.Race
		if r == nil || c.Close.Reason != "keepalive-race" {
			t.Errorf("connection %d: reason %s race %v, want a %s race", wr.Connection, c.Close.Reason, r, wr.Kind)
			continue
		}
		if r.Kind != wr.Kind || r.Transaction != wr.Transaction || r.Idempotent != wr.Idempotent || math.Abs(r.IdleBeforeS-wr.IdleBeforeS) > 0.0005 {
			t.Errorf("connection %d: race %+v, want kind %s transaction %d idempotent %v idle %g", wr.Connection, *r, wr.Kind, wr.Transaction, wr.Idempotent, wr.IdleBeforeS)
		}
		// A downstream race a proxy caused says so, naming the upstream
		// request behind it.
		if len(wr.Cause) > 0 {
			cause := wr.Cause[len(wr.Cause)-1]
			must := "connection " + itoa(cause.Connection) + ", transaction " + itoa(cause.Transaction)
			if !strings.Contains(c.Close.Evidence, must) || !strings.Contains(c.Close.Evidence, "proxy closed") {
				t.Errorf("connection %d: evidence %q does not name the upstream cause (%s)", wr.Connection, c.Close.Evidence, must)
			}
		}
	}
}

func checkProxyLegs(t *testing.T, want *proxyTruth, got *proxyDoc, conns map[int]int) {
	// Every downstream request links to the upstream requests that carried
	// its X-Request-Id, in order, and they link back.
	down := map[string]ref{}
	up := map[string][]ref{}
	for _, c := range want.Connections {
		for k, tx := range c.Transactions {
			if tx.RequestID == "" {
				continue
			}
			r := ref{c.ID, k + 1}
			if c.Leg == "downstream" {
				down[tx.RequestID] = r
			} else if c.Leg == "upstream" {
				up[tx.RequestID] = append(up[tx.RequestID], r)
			}
		}
	}
	if len(up) == 0 {
		return // no proxy in this scenario
	}
	bad := 0
	for id, d := range down {
		tx := got.Connections[conns[d.Connection]].Transactions[d.Transaction-1]
		if tx.RequestID != id {
			t.Errorf("connection %d transaction %d: request_id %q, want %q", d.Connection, d.Transaction, tx.RequestID, id)
		}
		w := up[id]
		if len(w) != len(tx.Upstream) {
			bad++
			if bad <= 5 {
				t.Errorf("%s (connection %d transaction %d): upstream %v, want %v", id, d.Connection, d.Transaction, tx.Upstream, w)
			}
			continue
		}
		for k := range w {
			if !containsRef(tx.Upstream, w[k]) {
				bad++
				t.Errorf("%s: upstream %v, want %v", id, tx.Upstream, w)
				break
			}
			u := got.Connections[conns[w[k].Connection]].Transactions[w[k].Transaction-1]
			if u.Downstream == nil || *u.Downstream != d {
				t.Errorf("%s: upstream %v links back to %v, want %v", id, w[k], u.Downstream, d)
			}
		}
	}
	for _, f := range want.DownstreamFailures {
		tx := got.Connections[conns[f.Connection]].Transactions[f.Transaction-1]
		if len(tx.Upstream) != len(f.Attempts) {
			t.Errorf("downstream failure %d/%d: upstream %v, want %v", f.Connection, f.Transaction, tx.Upstream, f.Attempts)
		}
	}
}

func containsRef(l []ref, r ref) bool {
	for _, x := range l {
		if x == r {
			return true
		}
	}
	return false
}

func ptrf(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// `httplife advise` prints the findings, the what-if table and the advice
// alone, as text and as JSON.
func TestAdviseCommand(t *testing.T) {
	capture := "../../samples/proxy/nginx-node-race.pcap"
	var out, errOut bytes.Buffer
	if code := run([]string{"advise", capture}, nil, &out, &errOut); code != 0 {
		t.Fatalf("advise: exit %d: %s", code, errOut.String())
	}
	text := out.String()
	flat := strings.Join(strings.Fields(text), " ") // the advice is wrapped at 80 columns
	for _, must := range []string{"findings", "what-if T", "2.00 s*", "closes idle connections after 2.00 s", "advice       1. the upstream pool at 127.0.0.1",
		"17 requests raced (1 stale-reuse, 16 silent-drop", "13 idempotent requests were retried"} {
		if !strings.Contains(flat, strings.Join(strings.Fields(must), " ")) {
			t.Errorf("advise output lacks %q:\n%s", must, text)
		}
	}
	if strings.Contains(text, "id client") {
		t.Errorf("advise lists connections:\n%s", text)
	}
	out.Reset()
	if code := run([]string{"advise", "--format", "json", capture}, nil, &out, &errOut); code != 0 {
		t.Fatalf("advise --format json: exit %d: %s", code, errOut.String())
	}
	var doc struct {
		Schema   string
		Findings []string
		Servers  []struct {
			Server string
			WhatIf []json.RawMessage `json:"what_if"`
		}
		Advice []struct{ Kind, Text string }
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != "httplife/v1" || len(doc.Servers) != 2 || len(doc.Servers[1].WhatIf) != 10 || len(doc.Advice) == 0 || doc.Advice[0].Kind != "timeout-order" {
		t.Errorf("advise --format json: %s", out.String())
	}
	if code := run([]string{"advise", "--format", "html", capture}, nil, &out, &errOut); code != exitUsage {
		t.Errorf("advise --format html: exit %d, want %d", code, exitUsage)
	}
}
