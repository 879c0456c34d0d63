package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// h2Truth is samples/h2c/NAME.pcap.truth.json, made by
// samples/h2c/record/truth.py from tshark's HTTP/2 dissection.
type h2Truth struct {
	File        string `json:"file"`
	Connections []struct {
		Client, Server string
		// stream, method, path, status, request_start_at, request_end_at,
		// response_start_at, response_end_at
		RawStreams []map[string]any `json:"streams"`
		GoAwayAt   *string          `json:"goaway_at"`
		FirstFinBy *string          `json:"first_fin_by"`
	} `json:"connections"`
}

// The HTTP/2 cleartext captures of samples/h2c: Go's x/net/http2 on both
// sides (multiplexed streams, a POST, a response without content-length,
// the server's GOAWAY then FIN, a client's idle close), nginx, a server
// that speaks first, and curl's HTTP/1.1 Upgrade: h2c (the upgraded
// request is stream 1, its 101 an interim status). Every stream's method, path, status and the
// times of the frames that start and end its request and response are
// tshark's; the close reasons are the recordings' own (the server's idle
// timeout of 1 s; the clients' closes).
func TestH2Samples(t *testing.T) {
	reasons := map[string][]string{
		"go-h2c.pcap":       {"server-idle-timeout", "client-idle-close"},
		"nginx-h2c.pcap":    {"server-idle-timeout"},
		"server-first.pcap": {"client-idle-close"},
		"upgrade-h2c.pcap":  {"client-idle-close"},
	}
	files, _ := filepath.Glob("../../samples/h2c/*.pcap.truth.json")
	if len(files) != len(reasons) {
		t.Fatalf("%d truth files in samples/h2c, want %d", len(files), len(reasons))
	}
	for _, tf := range files {
		raw, err := os.ReadFile(tf)
		if err != nil {
			t.Fatal(err)
		}
		var want h2Truth
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("%s: %v", tf, err)
		}
		var got struct {
			Connections []struct {
				Client, Server string
				Transactions   []map[string]any
				Close          struct {
					FirstFinBy *string `json:"first_fin_by"`
					Reason     string
					Evidence   string
				}
				Anomalies []string
			}
		}
		if err := json.Unmarshal(analyseJSONBytes(t, filepath.Join(filepath.Dir(tf), want.File)), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Connections) != len(want.Connections) {
			t.Fatalf("%s: %d connections, want %d", want.File, len(got.Connections), len(want.Connections))
		}
		for i, wc := range want.Connections {
			gc := got.Connections[i]
			id := want.File + " " + wc.Client
			if gc.Client != wc.Client || gc.Server != wc.Server {
				t.Errorf("%s: connection %d is %s → %s", id, i+1, gc.Client, gc.Server)
				continue
			}
			if !slices.Contains(gc.Anomalies, "http2") || gc.Close.Reason != reasons[want.File][i] || strp(gc.Close.FirstFinBy) != strp(wc.FirstFinBy) {
				t.Errorf("%s: anomalies %q, close %s by %s; want http2 among them, %s by %s", id, gc.Anomalies, gc.Close.Reason,
					strp(gc.Close.FirstFinBy), reasons[want.File][i], strp(wc.FirstFinBy))
			}
			if (wc.GoAwayAt != nil) != strings.Contains(gc.Close.Evidence, "GOAWAY") {
				t.Errorf("%s: evidence %q; tshark's GOAWAY at %s", id, gc.Close.Evidence, strp(wc.GoAwayAt))
			}
			if len(gc.Transactions) != len(wc.RawStreams) {
				t.Errorf("%s: %d transactions, want %d streams", id, len(gc.Transactions), len(wc.RawStreams))
				continue
			}
			for k, ws := range wc.RawStreams {
				tx := gc.Transactions[k]
				for _, f := range [][2]string{{"method", "method"}, {"path", "uri"}, {"status", "status"},
					{"request_start_at", "request_start_at"}, {"request_end_at", "request_end_at"},
					{"response_start_at", "response_start_at"}, {"response_end_at", "response_end_at"}} {
					if !sameValue(ws[f[0]], tx[f[1]]) {
						t.Errorf("%s: stream %v: %s %v, want %v", id, ws["stream"], f[1], tx[f[1]], ws[f[0]])
					}
				}
				wantVer, wantInterim := "HTTP/2", "[]"
				if ws["interim"] != nil { // the upgraded request
					wantVer, wantInterim = "HTTP/1.1", "[101]"
				}
				if tx["request_version"] != wantVer || tx["response_version"] != "HTTP/2" || fmt.Sprint(tx["interim_statuses"]) != wantInterim || tx["complete"] != true {
					t.Errorf("%s: stream %v: request_version %v response_version %v interim %v complete %v; want %s, HTTP/2, %s, true", id, ws["stream"],
						tx["request_version"], tx["response_version"], tx["interim_statuses"], tx["complete"], wantVer, wantInterim)
				}
			}
		}
	}
}

// sameValue compares a truth value with a record's: numbers as numbers,
// times as times.
func sameValue(want, got any) bool {
	ws, ok1 := want.(string)
	gs, ok2 := got.(string)
	if ok1 && ok2 {
		wt, e1 := time.Parse(time.RFC3339Nano, ws)
		gt, e2 := time.Parse(time.RFC3339Nano, gs)
		if e1 == nil && e2 == nil {
			return wt.Equal(gt)
		}
	}
	return want == got
}
