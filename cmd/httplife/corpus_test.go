package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// corpusDir is the shared corpus of real captures with tshark-checked truth,
// beside the checkout (CI has it there).
const corpusDir = "../../../shared/corpus"

type truthFile struct {
	Scenario   string `json:"scenario"`
	File       string `json:"file"`
	Tolerances struct {
		TimeS    float64 `json:"time_s"`
		Relative float64 `json:"relative"`
	} `json:"tolerances"`
	Connections []truthConn `json:"connections"`
}

type truthConn struct {
	Client, Server  string
	SynSeen         bool             `json:"syn_seen"`
	ClientGuessed   bool             `json:"client_guessed"`
	Requests        int              `json:"requests"`
	Responses       int              `json:"responses"`
	Statuses        []int            `json:"statuses"`
	IdleGapsS       []float64        `json:"idle_gaps_s"`
	FinalIdleS      *float64         `json:"final_idle_s"`
	FirstFinBy      *string          `json:"first_fin_by"`
	RstBy           *string          `json:"rst_by"`
	CloseReason     string           `json:"close_reason"`
	Probes          int              `json:"tcp_keepalive_probes"`
	ProbesBy        map[string]int   `json:"tcp_keepalive_probes_by"`
	Packets         map[string]int   `json:"packets"`
	PayloadBytes    map[string]int   `json:"payload_bytes"`
	FirstPacketAt   string           `json:"first_packet_at"`
	LastPacketAt    string           `json:"last_packet_at"`
	Handshake       map[string]any   `json:"handshake"`
	IdlePeriods     []map[string]any `json:"idle_periods"`
	FinalIdle       map[string]any   `json:"final_idle"`
	Close           map[string]any   `json:"close"`
	TimeWaitHolder  *string          `json:"time_wait_holder"`
	TimeWaitEntered *string          `json:"time_wait_entered_at"`
	StrayCRLFBytes  int              `json:"stray_crlf_bytes"`
	Retransmissions map[string]int   `json:"retransmissions"`
	MissingBytes    map[string]int   `json:"missing_bytes"`
	Anomalies       []string         `json:"anomalies"`
	Transactions    []map[string]any `json:"transactions"`
}

func corpusCaptures(t *testing.T) []string {
	t.Helper()
	truths, _ := filepath.Glob(filepath.Join(corpusDir, "*.truth.json"))
	if len(truths) == 0 {
		t.Skip("no corpus at " + corpusDir)
	}
	return truths
}

// analyseJSON runs `httplife analyse --format json path` in-process.
func analyseJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"analyse", "--format", "json"}, args...), strings.NewReader(""), &out, &errOut)
	if code != 0 {
		t.Fatalf("httplife analyse %v: exit %d, stderr %s", args, code, errOut.String())
	}
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("httplife analyse %v: output is not JSON: %v", args, err)
	}
	return doc
}

// norm turns a decoded JSON value into something comparable with the truth.
func norm(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}

func TestCorpusMatchesTruth(t *testing.T) {
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
		t.Run(truth.Scenario, func(t *testing.T) {
			doc := analyseJSON(t, capPath)
			conns, _ := doc["connections"].([]any)
			if len(conns) != len(truth.Connections) {
				t.Fatalf("%s: %d connections, want %d", capPath, len(conns), len(truth.Connections))
			}
			for i, want := range truth.Connections {
				got := conns[i].(map[string]any)
				where := capPath + " conn " + want.Client
				eq := func(field string, g, w any) {
					t.Helper()
					if !reflect.DeepEqual(norm(g), norm(w)) {
						t.Errorf("%s: %s = %v, want %v", where, field, norm(g), norm(w))
					}
				}
				eq("client", got["client"], want.Client)
				eq("server", got["server"], want.Server)
				eq("syn_seen", got["syn_seen"], want.SynSeen)
				eq("client_guessed", got["client_guessed"], want.ClientGuessed)
				eq("packets", got["packets"], want.Packets)
				eq("payload_bytes", got["payload_bytes"], want.PayloadBytes)
				eq("first_packet_at", got["first_packet_at"], want.FirstPacketAt)
				eq("last_packet_at", got["last_packet_at"], want.LastPacketAt)
				eq("tcp_keepalive_probes", got["tcp_keepalive_probes"], want.ProbesBy)
				eq("retransmissions", got["retransmissions"], want.Retransmissions)
				eq("missing_bytes", got["missing_bytes"], want.MissingBytes)
				eq("stray_crlf_bytes", got["stray_crlf_bytes"], want.StrayCRLFBytes)
				eq("anomalies", sortedStrings(got["anomalies"]), sortedStrings(want.Anomalies))
				if want.Handshake != nil {
					h, _ := got["handshake"].(map[string]any)
					for _, k := range []string{"syn_at", "synack_at", "ack_at"} {
						eq("handshake."+k, h[k], want.Handshake[k])
					}
				} else {
					eq("handshake", got["handshake"], nil)
				}
				eq("idle_periods", got["idle_periods"], want.IdlePeriods)
				eq("final_idle", got["final_idle"], want.FinalIdle)
				cl := got["close"].(map[string]any)
				for _, k := range []string{"first_fin_by", "first_fin_at", "rst_by", "rst_at", "reason"} {
					eq("close."+k, cl[k], want.Close[k])
				}
				var holder, entered any
				if tw, ok := got["time_wait"].(map[string]any); ok {
					holder, entered = tw["holder"], tw["entered_at"]
				}
				eq("time_wait.holder", holder, want.TimeWaitHolder)
				eq("time_wait.entered_at", entered, want.TimeWaitEntered)
				txs, _ := got["transactions"].([]any)
				if len(txs) != len(want.Transactions) {
					t.Errorf("%s: %d transactions, want %d", where, len(txs), len(want.Transactions))
					continue
				}
				for j, wt := range want.Transactions {
					gt := txs[j].(map[string]any)
					for k, wv := range wt {
						eq("transactions["+strconv.Itoa(j)+"]."+k, gt[k], wv)
					}
				}
				// The scorer's own checks, with its tolerance on durations.
				var gaps []float64
				for _, p := range got["idle_periods"].([]any) {
					gaps = append(gaps, p.(map[string]any)["duration_s"].(float64))
				}
				if len(gaps) != len(want.IdleGapsS) {
					t.Errorf("%s: idle gaps %v, want %v", where, gaps, want.IdleGapsS)
				}
				for k := range gaps {
					if k < len(want.IdleGapsS) && !within(gaps[k], want.IdleGapsS[k], truth.Tolerances.TimeS, truth.Tolerances.Relative) {
						t.Errorf("%s: idle gap %d = %v, want %v", where, k, gaps[k], want.IdleGapsS[k])
					}
				}
			}
		})
	}
}

func within(a, b, tol, rel float64) bool {
	if tol == 0 {
		tol = 0.005
	}
	if rel == 0 {
		rel = 0.02
	}
	return math.Abs(a-b) <= math.Max(tol, rel*math.Abs(b))
}

func sortedStrings(v any) []string {
	var out []string
	switch x := v.(type) {
	case []any:
		for _, s := range x {
			out = append(out, s.(string))
		}
	case []string:
		out = append(out, x...)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}
