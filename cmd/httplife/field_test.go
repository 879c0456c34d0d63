package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fieldTruth is what a samples/field truth file says beyond the corpus
// schema that corpus-score compares: the copies dropped, and per
// connection its packets, payload bytes, retransmissions and carrier.
type fieldTruth struct {
	Files   []string `json:"files"`
	Capture struct {
		Duplicates int `json:"duplicates"`
	} `json:"capture"`
	Connections []fieldConn `json:"connections"`
}

// fieldConn is what both the truth and httplife's JSON say of a
// connection, by the same names.
type fieldConn struct {
	ID              int            `json:"id"`
	Client          string         `json:"client"`
	Packets         map[string]int `json:"packets"`
	PayloadBytes    map[string]int `json:"payload_bytes"`
	Retransmissions map[string]int `json:"retransmissions"`
	Tunnel          []fieldEncap   `json:"tunnel"`
	VLAN            []int          `json:"vlan"`
}

type fieldEncap struct {
	Type     string  `json:"type"`
	OuterSrc *string `json:"outer_src"`
	OuterDst *string `json:"outer_dst"`
	ID       *int64  `json:"id"`
}

// TestFieldTruthDetails compares, for every capture of samples/field, the
// copies dropped (capture.duplicates) and each connection's packets,
// payload bytes, retransmissions, tunnel and VLAN tags with its truth
// (tshark's dissection, record/truth.py): the parts of the truth
// corpus-score does not score. Connections are matched by id (first-packet
// order); two connections share a 4-tuple in vxlan-two-vni.
func TestFieldTruthDetails(t *testing.T) {
	truths, _ := filepath.Glob(field + "*.truth.json")
	if len(truths) < 30 {
		t.Fatalf("%d truth files in %s, want at least 30", len(truths), field)
	}
	for _, tf := range truths {
		name := strings.TrimSuffix(filepath.Base(tf), ".truth.json")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(tf)
			if err != nil {
				t.Fatal(err)
			}
			var tr fieldTruth
			if err := json.Unmarshal(b, &tr); err != nil {
				t.Fatal(err)
			}
			args := []string{"--no-rotated", field + name}
			if len(tr.Files) > 1 {
				args = []string{"--no-rotated"}
				for _, f := range tr.Files {
					args = append(args, field+f)
				}
			}
			code, doc, stderr := runJSON(t, args...)
			if code != 0 || doc == nil {
				t.Fatalf("analyse %q: exit %d: %s", args, code, stderr)
			}
			var got fieldTruth
			raw, _ := json.Marshal(doc)
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			if got.Capture.Duplicates != tr.Capture.Duplicates {
				t.Errorf("capture.duplicates %d, want %d", got.Capture.Duplicates, tr.Capture.Duplicates)
			}
			if len(got.Connections) != len(tr.Connections) {
				t.Fatalf("%d connections, want %d", len(got.Connections), len(tr.Connections))
			}
			for i, w := range tr.Connections {
				g := got.Connections[i]
				what := fmt.Sprintf("connection %d (%s)", w.ID, w.Client)
				if g.Client != w.Client {
					t.Errorf("%s: client %s", what, g.Client)
					continue
				}
				for _, f := range []struct {
					field     string
					got, want map[string]int
				}{{"packets", g.Packets, w.Packets}, {"payload_bytes", g.PayloadBytes, w.PayloadBytes}, {"retransmissions", g.Retransmissions, w.Retransmissions}} {
					if !reflect.DeepEqual(f.got, f.want) {
						t.Errorf("%s: %s %v, want %v", what, f.field, f.got, f.want)
					}
				}
				if !reflect.DeepEqual(encaps(g.Tunnel), encaps(w.Tunnel)) {
					t.Errorf("%s: tunnel %v, want %v", what, encaps(g.Tunnel), encaps(w.Tunnel))
				}
				if len(g.VLAN)+len(w.VLAN) > 0 && !reflect.DeepEqual(g.VLAN, w.VLAN) {
					t.Errorf("%s: vlan %v, want %v", what, g.VLAN, w.VLAN)
				}
			}
		})
	}
}

// encaps writes a tunnel list as "type outer_src>outer_dst id" strings.
func encaps(es []fieldEncap) []string {
	var out []string
	for _, e := range es {
		s := e.Type
		if e.OuterSrc != nil || e.OuterDst != nil {
			s += fmt.Sprintf(" %s>%s", orDash(e.OuterSrc), orDash(e.OuterDst))
		}
		if e.ID != nil {
			s += fmt.Sprintf(" %d", *e.ID)
		}
		out = append(out, s)
	}
	return out
}

func orDash(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}

// zeekTraces holds Zeek's test traces (testing/btest/Traces of
// github.com/zeek/zeek), unpacked on the development machine only (never
// committed); the test below skips without them.
const zeekTraces = "/work/field/zeek/testing/btest/Traces/"

// TestZeekTunnelHTTP analyses the traces of Zeek's test suite that carry
// HTTP inside GTP-U and AYIYA and compares each request's method, status
// and URI prefix with Zeek's own baseline http.log (named per row), and
// the tunnel with its tunnel.log.
func TestZeekTunnelHTTP(t *testing.T) {
	tests := []struct {
		trace, baseline string
		tunnel          string
		want            []string // "METHOD status uri-prefix", in order
	}{
		{"tunnels/gtp/gtp2_different_udp_port.pcap", "core.tunnels.gtp.different_dl_and_ul", "gtp",
			[]string{"GET 200 /ads/flash/728x90_nx8com.swf?clickTAG=", "GET 200 /ads/flash/728x90_nx8com.swf?clickTAG="}},
		{"tunnels/gtp/gtp1_gn_normal_incl_fragmentation.pcap", "core.tunnels.gtp.outer_ip_frag", "gtp",
			[]string{"GET 206 /videoplayback?upn=MTU2MDY5NzQ5OTM0NTI3NDY4NDc&sparams="}},
		{"tunnels/ayiya3.pcap", "core.tunnels.ayiya", "ayiya",
			[]string{"GET 200 /", "GET 204 /csi?v=3&s=webhp&action=", "GET 204 /gen_204?atyp=i&ct=fade"}},
	}
	for _, tt := range tests {
		path := zeekTraces + tt.trace
		if _, err := os.Stat(path); err != nil {
			t.Skipf("no Zeek traces: %v", err)
		}
		code, doc, stderr := runJSON(t, path)
		if code != 0 || doc == nil {
			t.Errorf("%s: exit %d: %s", tt.trace, code, stderr)
			continue
		}
		var got []string
		for _, c := range doc["connections"].([]any) {
			m := c.(map[string]any)
			tun, _ := m["tunnel"].([]any)
			for _, x := range m["transactions"].([]any) {
				tx := x.(map[string]any)
				if len(tun) != 1 || tun[0].(map[string]any)["type"] != tt.tunnel {
					t.Errorf("%s: connection %v: tunnel %v, want one %s", tt.trace, m["id"], tun, tt.tunnel)
				}
				got = append(got, fmt.Sprintf("%v %v %v", tx["method"], tx["status"], tx["uri"]))
			}
		}
		ok := len(got) == len(tt.want)
		for i := 0; ok && i < len(got); i++ {
			ok = strings.HasPrefix(got[i], tt.want[i])
		}
		if !ok {
			t.Errorf("%s: requests\n%q\nwant (Zeek's %s/http.log)\n%q", tt.trace, got, tt.baseline, tt.want)
		}
	}
}
