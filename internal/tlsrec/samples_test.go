package tlsrec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The recorded captures of samples/tls (real servers and clients on
// loopback, see samples/tls/README.md) against their truth from tshark with
// the same key logs: the decrypted view request for request, and the view
// without keys on connections, request runs, closes and idle gaps.

const samplesDir = "../../samples/tls"

type truthFile struct {
	File        string      `json:"file"`
	Keys        string      `json:"keys"`
	Connections []truthConn `json:"connections"`
	Tolerances  struct {
		TimeS float64 `json:"time_s"`
	} `json:"tolerances"`
}

type truthConn struct {
	Client string `json:"client"`
	TLS    struct {
		Version       string             `json:"version"`
		Cipher        string             `json:"cipher"`
		SNI           *string            `json:"sni"`
		ALPN          *string            `json:"alpn"`
		ClientALPN    []string           `json:"client_alpn"`
		Resumed       bool               `json:"resumed"`
		HelloRetry    bool               `json:"hello_retry"`
		KeyUpdates    map[string]int     `json:"key_updates"`
		CloseNotifyBy *string            `json:"close_notify_by"`
		CloseNotifyAt map[string]*string `json:"close_notify_at"`
		Decrypted     bool               `json:"decrypted"`
	} `json:"tls"`
	HTTP2    bool `json:"http2"`
	Requests []struct {
		Method  string `json:"method"`
		URI     string `json:"uri"`
		StartAt string `json:"start_at"`
		EndAt   string `json:"end_at"`
	} `json:"requests"`
	Responses []struct {
		Status int    `json:"status"`
		EndAt  string `json:"end_at"`
	} `json:"responses"`
	AppRecords map[string]int `json:"app_records"`
	IdleGaps   []float64      `json:"idle_gaps_s"`
}

func loadTruths(t *testing.T) map[string]*truthFile {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(samplesDir, "*.truth.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no truth files in %s (%v)", samplesDir, err)
	}
	out := map[string]*truthFile{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		tf := &truthFile{}
		if err := json.Unmarshal(b, tf); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		out[strings.TrimSuffix(filepath.Base(n), ".truth.json")] = tf
	}
	return out
}

func ts(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return v
}

func loadKeys(t testing.TB, path string) *KeyLog {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	k, err := ParseKeyLog(f)
	if err != nil {
		t.Fatal(err)
	}
	if st := k.Stats(); st.Bad > 0 {
		t.Fatalf("%s: %d bad lines: %q", path, st.Bad, k.Warnings())
	}
	return k
}

// httpMessage is one HTTP/1.x message found in a plaintext stream.
type httpMessage struct {
	line        string
	start, end  time.Time // times of the records carrying its first and last byte
	startOffset int
}

// timedStream is the plaintext of one direction with, per byte range, the
// record times.
type timedStream struct {
	b     []byte
	ends  []int // end offset of each chunk
	first []time.Time
	last  []time.Time
}

func (s *timedStream) at(off int) (time.Time, time.Time) {
	i := sort.SearchInts(s.ends, off+1)
	return s.first[i], s.last[i]
}

func streamOf(h *recorder, d Dir, plain []byte) *timedStream {
	s := &timedStream{b: plain}
	n := 0
	for _, c := range h.chunk {
		if c.d != d {
			continue
		}
		n += c.n
		s.ends = append(s.ends, n)
		s.first = append(s.first, c.first)
		s.last = append(s.last, c.last)
	}
	return s
}

// messages splits a plaintext stream into HTTP/1.x messages by their
// framing: headers, then Content-Length or chunked body (requests here have
// no bodies). 1xx responses are skipped.
func messages(t *testing.T, s *timedStream, responses bool) []httpMessage {
	var out []httpMessage
	b := s.b
	off := 0
	for off < len(b) {
		i := bytes.Index(b[off:], []byte("\r\n\r\n"))
		if i < 0 {
			t.Errorf("incomplete message at offset %d: %q", off, b[off:])
			return out
		}
		head := string(b[off : off+i])
		end := off + i + 4
		lines := strings.Split(head, "\r\n")
		cl, chunked := 0, false
		for _, l := range lines[1:] {
			k, v, _ := strings.Cut(l, ":")
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "content-length":
				cl, _ = strconv.Atoi(strings.TrimSpace(v))
			case "transfer-encoding":
				chunked = strings.Contains(strings.ToLower(v), "chunked")
			}
		}
		if chunked {
			for {
				j := bytes.Index(b[end:], []byte("\r\n"))
				if j < 0 {
					t.Errorf("bad chunk at %d", end)
					return out
				}
				n, err := strconv.ParseInt(strings.Split(string(b[end:end+j]), ";")[0], 16, 32)
				if err != nil {
					t.Errorf("bad chunk size at %d", end)
					return out
				}
				end += j + 2 + int(n) + 2
				if n == 0 {
					break
				}
			}
		} else {
			end += cl
		}
		if end > len(b) {
			t.Errorf("message at %d ends at %d past the stream's %d bytes", off, end, len(b))
			return out
		}
		first, _ := s.at(off)
		_, last := s.at(end - 1)
		if !(responses && strings.HasPrefix(lines[0], "HTTP/1.1 1")) {
			out = append(out, httpMessage{line: lines[0], start: first, end: last, startOffset: off})
		}
		off = end
	}
	return out
}

// inferred runs the records through an Inferrer.
func inferred(recs []dirRecord) []Exchange {
	var x Inferrer
	var out []Exchange
	for _, r := range recs {
		if e, ok := x.Add(r.d, r.r); ok {
			out = append(out, e)
		}
	}
	if e, ok := x.Flush(); ok {
		out = append(out, e)
	}
	return out
}

func within(got, want, tol float64) bool {
	d := got - want
	return d <= tol && d >= -tol
}

func TestSamples(t *testing.T) {
	truths := loadTruths(t)
	names := make([]string, 0, len(truths))
	for n := range truths {
		names = append(names, n)
	}
	sort.Strings(names)
	total := map[string]int{}
	for _, name := range names {
		tf := truths[name]
		t.Run(name, func(t *testing.T) {
			cp := readCapture(t, filepath.Join(samplesDir, tf.File))
			byClient := map[string]*capConn{}
			for _, cn := range cp.conns {
				byClient[cn.client.String()] = cn
			}
			if len(cp.conns) != len(tf.Connections) {
				t.Errorf("%d connections in the capture, truth has %d", len(cp.conns), len(tf.Connections))
			}
			keys := loadKeys(t, filepath.Join(samplesDir, tf.Keys))
			for ci, tc := range tf.Connections {
				cn := byClient[tc.Client]
				if cn == nil {
					t.Errorf("connection %d: %s not in the capture", ci+1, tc.Client)
					continue
				}
				label := fmt.Sprintf("conn %d (%s)", ci+1, tc.Client)
				h := &recorder{}
				in := cn.feed(h, keys).Info()
				total["connections"]++
				checkInfo(t, label, in, tc, true)
				if tc.HTTP2 {
					total["h2"]++
					if !bytes.HasPrefix(h.plain[0], []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")) {
						t.Errorf("%s: h2 plaintext does not start with the connection preface: %q", label, h.plain[0][:min(40, len(h.plain[0]))])
					}
				} else {
					checkHTTP(t, label, h, tc)
					total["requests"] += len(tc.Requests)
				}
				// without keys
				hn := &recorder{}
				inn := cn.feed(hn, nil).Info()
				checkInfo(t, label+" without keys", inn, tc, false)
				if inn.CloseNotify != in.CloseNotify {
					t.Errorf("%s: close_notify without keys %v, with keys %v", label, inn.CloseNotify, in.CloseNotify)
				}
				if !tc.HTTP2 {
					checkInferred(t, label, hn.recs, tc, tf.Tolerances.TimeS)
				}
				if inn.Records != in.Records || len(inn.Warnings) > 0 {
					t.Errorf("%s: without keys %v records, warnings %q; with keys %v", label, inn.Records, inn.Warnings, in.Records)
				}
			}
		})
	}
	t.Logf("checked %d connections, %d HTTP/1.1 requests, %d h2 connections", total["connections"], total["requests"], total["h2"])
}

func checkInfo(t *testing.T, label string, in Info, tc truthConn, withKeys bool) {
	t.Helper()
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	cipher, _ := strconv.ParseUint(strings.TrimPrefix(tc.TLS.Cipher, "0x"), 16, 16)
	if in.Version != tc.TLS.Version || in.CipherSuite != uint16(cipher) || in.SNI != str(tc.TLS.SNI) ||
		in.Resumed != tc.TLS.Resumed || in.HelloRetry != tc.TLS.HelloRetry ||
		fmt.Sprint(in.ClientALPN) != fmt.Sprint(tc.TLS.ClientALPN) {
		t.Errorf("%s: %s %s sni %q resumed %v hrr %v client alpn %v; want %s %s %q %v %v %v", label, in.Version, in.Cipher, in.SNI,
			in.Resumed, in.HelloRetry, in.ClientALPN, tc.TLS.Version, tc.TLS.Cipher, str(tc.TLS.SNI), tc.TLS.Resumed, tc.TLS.HelloRetry, tc.TLS.ClientALPN)
	}
	alpn := str(tc.TLS.ALPN)
	if withKeys || tc.TLS.Version != "TLS 1.3" {
		if in.ALPN != alpn || in.ALPNGuessed {
			t.Errorf("%s: alpn %q (guessed %v), want %q", label, in.ALPN, in.ALPNGuessed, alpn)
		}
	} else if in.ALPN != "" && in.ALPN != alpn {
		t.Errorf("%s: guessed alpn %q, want %q or none", label, in.ALPN, alpn)
	}
	if withKeys {
		if in.Decrypted != tc.TLS.Decrypted || !in.HaveKeys || len(in.Warnings) > 0 || in.AuthFailures != [2]int{} {
			t.Errorf("%s: decrypted %v (keys %v), want %v; failures %v warnings %q", label, in.Decrypted, in.HaveKeys, tc.TLS.Decrypted, in.AuthFailures, in.Warnings)
		}
		if in.KeyUpdates[0] != tc.TLS.KeyUpdates["client"] || in.KeyUpdates[1] != tc.TLS.KeyUpdates["server"] {
			t.Errorf("%s: key updates %v, want %v", label, in.KeyUpdates, tc.TLS.KeyUpdates)
		}
	} else if in.Decrypted {
		t.Errorf("%s: decrypted without keys", label)
	}
	for i, side := range []string{"client", "server"} {
		want := tc.TLS.CloseNotifyAt[side]
		got := in.CloseNotify[i]
		switch {
		case want == nil && !got.IsZero():
			t.Errorf("%s: %s close_notify at %v, truth has none", label, side, got)
		case want != nil && (got.IsZero() || got.Format(time.RFC3339Nano) != strings.Replace(*want, ".000000000", "", 1) && !got.Equal(mustTime(*want))):
			t.Errorf("%s: %s close_notify at %v, want %s", label, side, got, *want)
		case want != nil && in.CloseNotifySure[i] != (withKeys || tc.TLS.Version != "TLS 1.3"):
			t.Errorf("%s: %s close_notify sure %v", label, side, in.CloseNotifySure[i])
		}
	}
	by, ok := in.CloseNotifyBy()
	if (tc.TLS.CloseNotifyBy != nil) != ok || ok && by.String() != *tc.TLS.CloseNotifyBy {
		t.Errorf("%s: close_notify by %v (%v), want %v", label, by, ok, str(tc.TLS.CloseNotifyBy))
	}
}

func mustTime(s string) time.Time {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return v
}

func checkHTTP(t *testing.T, label string, h *recorder, tc truthConn) {
	t.Helper()
	reqs := messages(t, streamOf(h, ClientToServer, h.plain[0]), false)
	resps := messages(t, streamOf(h, ServerToClient, h.plain[1]), true)
	if len(reqs) != len(tc.Requests) || len(resps) != len(tc.Responses) {
		t.Errorf("%s: %d requests %d responses decrypted, tshark %d %d", label, len(reqs), len(resps), len(tc.Requests), len(tc.Responses))
		return
	}
	for i, r := range reqs {
		w := tc.Requests[i]
		if want := w.Method + " " + w.URI + " "; !strings.HasPrefix(r.line, want) {
			t.Errorf("%s: request %d %q, tshark %q", label, i+1, r.line, want)
		}
		if !r.end.Equal(mustTime(w.EndAt)) || !r.start.Equal(mustTime(w.StartAt)) {
			t.Errorf("%s: request %d from %v to %v, tshark %s to %s", label, i+1, r.start, r.end, w.StartAt, w.EndAt)
		}
	}
	for i, r := range resps {
		w := tc.Responses[i]
		if want := fmt.Sprintf("HTTP/1.1 %d ", w.Status); !strings.HasPrefix(r.line, want) {
			t.Errorf("%s: response %d %q, tshark %q", label, i+1, r.line, want)
		}
		if !r.end.Equal(mustTime(w.EndAt)) {
			t.Errorf("%s: response %d ends %v, tshark %s", label, i+1, r.end, w.EndAt)
		}
	}
	// idle gaps of the decrypted view
	var gaps []float64
	for i := 1; i < len(reqs) && i-1 < len(resps); i++ {
		if g := reqs[i].start.Sub(resps[i-1].end).Seconds(); g > 0 {
			gaps = append(gaps, g)
		}
	}
	if len(gaps) != len(tc.IdleGaps) {
		t.Errorf("%s: idle gaps %v, tshark %v", label, gaps, tc.IdleGaps)
		return
	}
	for i := range gaps {
		if !within(gaps[i], tc.IdleGaps[i], 1e-6) {
			t.Errorf("%s: idle gap %d %.6f, tshark %.6f", label, i+1, gaps[i], tc.IdleGaps[i])
		}
	}
}

func checkInferred(t *testing.T, label string, recs []dirRecord, tc truthConn, tol float64) {
	t.Helper()
	tx := inferred(recs)
	if len(tx) != len(tc.Requests) {
		t.Errorf("%s: %d inferred request runs, tshark %d requests", label, len(tx), len(tc.Requests))
		return
	}
	answered := 0
	for _, x := range tx {
		if x.Response.Records > 0 {
			answered++
		}
	}
	if answered != len(tc.Responses) {
		t.Errorf("%s: %d inferred responses, tshark %d", label, answered, len(tc.Responses))
	}
	var gaps []float64
	for i := 1; i < len(tx); i++ {
		if g := tx[i].Request.First.Sub(tx[i-1].Response.Last).Seconds(); tx[i-1].Response.Records > 0 && g > 0 {
			gaps = append(gaps, g)
		}
	}
	if len(gaps) != len(tc.IdleGaps) {
		t.Errorf("%s: inferred idle gaps %v, tshark %v", label, gaps, tc.IdleGaps)
		return
	}
	for i := range gaps {
		if !within(gaps[i], tc.IdleGaps[i], tol) {
			t.Errorf("%s: inferred idle gap %d %.6f, tshark %.6f", label, i+1, gaps[i], tc.IdleGaps[i])
		}
	}
	for i, x := range tx {
		if i < len(tc.Responses) && x.Response.Records > 0 && !x.Response.Last.Equal(mustTime(tc.Responses[i].EndAt)) {
			t.Errorf("%s: inferred response %d ends %v, tshark %s", label, i+1, x.Response.Last, tc.Responses[i].EndAt)
		}
	}
}

// The pcapng with the key log injected (editcap --inject-secrets) decrypts
// with its Decryption Secrets Block alone, as the capture with the key log file.
func TestSamplesDSB(t *testing.T) {
	cp := readCapture(t, filepath.Join(samplesDir, "nginx-tls13-curl.dsb.pcapng"))
	if len(cp.dsb) != 1 || cp.dsb[0].typ != SecretsTypeTLS {
		t.Fatalf("%d decryption secrets blocks, want one of type TLSK", len(cp.dsb))
	}
	k := NewKeyLog()
	k.AddDSB(cp.dsb[0].typ, cp.dsb[0].data)
	file := loadKeys(t, filepath.Join(samplesDir, "nginx-tls13-curl.keys"))
	if k.Len() != file.Len() || k.Len() == 0 {
		t.Fatalf("DSB key log holds %d client randoms, the file %d", k.Len(), file.Len())
	}
	ref := readCapture(t, filepath.Join(samplesDir, "nginx-tls13-curl.pcap"))
	if len(ref.conns) != len(cp.conns) {
		t.Fatalf("%d connections in the pcapng, %d in the pcap", len(cp.conns), len(ref.conns))
	}
	for i, cn := range cp.conns {
		h, hr := &recorder{}, &recorder{}
		in := cn.feed(h, k).Info()
		ref.conns[i].feed(hr, file)
		if !in.Decrypted || h.summary() != hr.summary() {
			t.Errorf("conn %d: decrypted %v; with the DSB:\n%s\nwith the file:\n%s", i+1, in.Decrypted, h.summary(), hr.summary())
		}
	}
}
