package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tlsTruth is samples/tls/NAME.truth.json: tshark's dissection with the
// scenario's key log (samples/tls/README.md).
type tlsTruth struct {
	Tolerances struct {
		TimeS float64 `json:"time_s"`
	} `json:"tolerances"`
	Connections []struct {
		Client, Server string
		TLS            struct {
			Version       string  `json:"version"`
			SNI           *string `json:"sni"`
			ALPN          *string `json:"alpn"`
			Decrypted     bool    `json:"decrypted"`
			CloseNotifyBy *string `json:"close_notify_by"`
		} `json:"tls"`
		HTTP2    bool `json:"http2"`
		Requests []struct {
			Method, URI string
		} `json:"requests"`
		Responses []struct {
			Status int `json:"status"`
		} `json:"responses"`
		IdleGapsS  []float64 `json:"idle_gaps_s"`
		FinalIdleS *float64  `json:"final_idle_s"`
		FirstFinBy *string   `json:"first_fin_by"`
		RstBy      *string   `json:"rst_by"`
	} `json:"connections"`
}

type tlsDoc struct {
	Capture struct {
		Warnings []string
	}
	Connections []struct {
		Client, Server string
		TLS            *struct {
			Version       string  `json:"version"`
			SNI           *string `json:"sni"`
			ALPN          *string `json:"alpn"`
			Decrypted     bool    `json:"decrypted"`
			CloseNotifyBy *string `json:"close_notify_by"`
		} `json:"tls"`
		Transactions []struct {
			Method, URI *string
			Status      *int
			Inferred    bool
		}
		IdlePeriods []struct {
			DurationS float64 `json:"duration_s"`
		} `json:"idle_periods"`
		FinalIdle *struct {
			DurationS float64 `json:"duration_s"`
		} `json:"final_idle"`
		Close struct {
			FirstFinBy *string `json:"first_fin_by"`
			RstBy      *string `json:"rst_by"`
			Reason     string
		}
	}
}

func strp(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

// Every HTTPS capture of samples/tls (nginx, Apache, curl, Python, Go;
// TLS 1.2 and 1.3, resumption, HelloRetryRequest, KeyUpdate, 0-RTT, a
// keep-alive race), analysed with its key log and without: with keys the
// requests, statuses and timing are tshark's decrypted HTTP; without, the
// inferred view gives the same connections, request counts, idle gaps,
// final idles and closes.
func TestTLSSamples(t *testing.T) {
	files, _ := filepath.Glob("../../samples/tls/*.truth.json")
	if len(files) < 15 {
		t.Fatalf("want the samples/tls scenarios, found %d", len(files))
	}
	for _, tf := range files {
		base := strings.TrimSuffix(tf, ".truth.json")
		raw, err := os.ReadFile(tf)
		if err != nil {
			t.Fatal(err)
		}
		var want tlsTruth
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("%s: %v", tf, err)
		}
		tol := want.Tolerances.TimeS
		if tol == 0 {
			tol = 0.005
		}
		for _, keys := range []bool{true, false} {
			name := filepath.Base(base)
			args := []string{base + ".pcap"}
			if keys {
				name += "/keys"
				args = append(args, "--keylog", base+".keys")
			}
			t.Run(name, func(t *testing.T) {
				var got tlsDoc
				if err := json.Unmarshal(analyseJSONBytes(t, args...), &got); err != nil {
					t.Fatal(err)
				}
				if len(got.Connections) != len(want.Connections) {
					t.Errorf("%d connections, want %d", len(got.Connections), len(want.Connections))
				}
				for _, wc := range want.Connections {
					found := false
					for _, gc := range got.Connections {
						if gc.Client != wc.Client || gc.Server != wc.Server {
							continue
						}
						found = true
						id := wc.Client
						if gc.TLS == nil {
							t.Errorf("%s: tls null", id)
							continue
						}
						if gc.TLS.Version != wc.TLS.Version || strp(gc.TLS.SNI) != strp(wc.TLS.SNI) || strp(gc.TLS.CloseNotifyBy) != strp(wc.TLS.CloseNotifyBy) {
							t.Errorf("%s: tls %s sni %s close_notify_by %s, want %s %s %s", id, gc.TLS.Version, strp(gc.TLS.SNI), strp(gc.TLS.CloseNotifyBy),
								wc.TLS.Version, strp(wc.TLS.SNI), strp(wc.TLS.CloseNotifyBy))
						}
						if keys && (gc.TLS.Decrypted != wc.TLS.Decrypted || wc.TLS.ALPN != nil && strp(gc.TLS.ALPN) != *wc.TLS.ALPN) {
							t.Errorf("%s: decrypted %v alpn %s, want %v %s", id, gc.TLS.Decrypted, strp(gc.TLS.ALPN), wc.TLS.Decrypted, strp(wc.TLS.ALPN))
						}
						if !keys && gc.TLS.Decrypted {
							t.Errorf("%s: decrypted without keys", id)
						}
						if strp(gc.Close.FirstFinBy) != strp(wc.FirstFinBy) || strp(gc.Close.RstBy) != strp(wc.RstBy) {
							t.Errorf("%s: first FIN %s RST %s, want %s %s", id, strp(gc.Close.FirstFinBy), strp(gc.Close.RstBy), strp(wc.FirstFinBy), strp(wc.RstBy))
						}
						if wc.FinalIdleS != nil && (gc.FinalIdle == nil || math.Abs(gc.FinalIdle.DurationS-*wc.FinalIdleS) > tol) {
							t.Errorf("%s: final idle %v, want %g", id, gc.FinalIdle, *wc.FinalIdleS)
						}
						if wc.HTTP2 && !(keys && wc.TLS.Decrypted) {
							continue // connection-level view only: the records of multiplexed streams
						}
						if len(gc.Transactions) != len(wc.Requests) {
							t.Errorf("%s: %d transactions, want %d", id, len(gc.Transactions), len(wc.Requests))
							continue
						}
						gaps := fmt.Sprint(len(gc.IdlePeriods))
						if wc.HTTP2 {
							// truth.py derives no idle gaps for HTTP/2 (its response
							// times are the HEADERS frames'); the streams' own facts
							// are compared below, and in TestH2Samples.
						} else if len(gc.IdlePeriods) != len(wc.IdleGapsS) {
							t.Errorf("%s: %s idle gaps, want %v", id, gaps, wc.IdleGapsS)
						} else {
							for i, g := range wc.IdleGapsS {
								if math.Abs(gc.IdlePeriods[i].DurationS-g) > tol {
									t.Errorf("%s: idle gap %d %g s, want %g", id, i, gc.IdlePeriods[i].DurationS, g)
								}
							}
						}
						for i, tx := range gc.Transactions {
							if keys && wc.TLS.Decrypted {
								r := wc.Requests[i]
								if tx.Inferred || strp(tx.Method) != r.Method || strp(tx.URI) != r.URI {
									t.Errorf("%s: transaction %d %s %s inferred %v, want %s %s", id, i+1, strp(tx.Method), strp(tx.URI), tx.Inferred, r.Method, r.URI)
								}
								if i < len(wc.Responses) && (tx.Status == nil || *tx.Status != wc.Responses[i].Status) {
									t.Errorf("%s: transaction %d status %v, want %d", id, i+1, tx.Status, wc.Responses[i].Status)
								}
							} else if !tx.Inferred || tx.Method != nil || tx.Status != nil {
								t.Errorf("%s: transaction %d without keys: inferred %v method %s status %v, want inferred with nulls", id, i+1, tx.Inferred, strp(tx.Method), tx.Status)
							}
						}
					}
					if !found {
						t.Errorf("no connection %s → %s", wc.Client, wc.Server)
					}
				}
			})
		}
	}
}

// A key log that holds no secrets, or cannot be read, is a usage error;
// one without this capture's secrets leaves the connections inferred and
// says which client randoms had none.
func TestKeyLogErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.keys")
	os.WriteFile(junk, []byte("garbage\nCLIENT_RANDOM zz yy\n"), 0o644)
	other := filepath.Join(dir, "other.keys")
	os.WriteFile(other, []byte("CLIENT_RANDOM "+strings.Repeat("ab", 32)+" "+strings.Repeat("cd", 48)+"\n"), 0o644)
	capture := "../../samples/tls/nginx-tls12-gcm.pcap"
	for _, tc := range []struct {
		keylog string
		code   int
		stderr string
	}{
		{filepath.Join(dir, "missing.keys"), exitUsage, "--keylog"},
		{junk, exitUsage, "no TLS secrets"},
	} {
		var out, errOut bytes.Buffer
		if code := run([]string{"analyse", "--keylog", tc.keylog, capture}, nil, &out, &errOut); code != tc.code || !strings.Contains(errOut.String(), tc.stderr) {
			t.Errorf("--keylog %s: exit %d, stderr %q; want %d and %q", tc.keylog, code, errOut.String(), tc.code, tc.stderr)
		}
	}
	var got tlsDoc
	if err := json.Unmarshal(analyseJSONBytes(t, "--keylog", other, capture), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Connections) == 0 || got.Connections[0].TLS == nil || got.Connections[0].TLS.Decrypted || !got.Connections[0].Transactions[0].Inferred {
		t.Fatalf("with another capture's keys: %+v", got.Connections)
	}
	if w := strings.Join(got.Capture.Warnings, "\n"); !strings.Contains(w, "no TLS secrets for client random") {
		t.Errorf("warnings %q do not name the client random without secrets", w)
	}
}

// A pcapng with the key log injected (editcap --inject-secrets) is
// decrypted without --keylog.
func TestTLSDecryptionSecretsBlock(t *testing.T) {
	var got tlsDoc
	if err := json.Unmarshal(analyseJSONBytes(t, "../../samples/tls/nginx-tls13-curl.dsb.pcapng"), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Connections) != 2 {
		t.Fatalf("%d connections, want 2", len(got.Connections))
	}
	for _, c := range got.Connections {
		if c.TLS == nil || !c.TLS.Decrypted || len(c.Transactions) == 0 || c.Transactions[0].Inferred || strp(c.Transactions[0].Method) != "GET" {
			t.Errorf("%s: tls %+v transactions %+v, want decrypted GETs", c.Client, c.TLS, c.Transactions)
		}
	}
}
