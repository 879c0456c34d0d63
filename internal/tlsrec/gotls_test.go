//go:debug tlsrsakex=1
//go:debug tls3des=1
//go:debug tls10server=1

package tlsrec

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Conversations between Go's crypto/tls client and server over an in-memory
// pipe, every byte written recorded per direction with its order: real TLS
// streams of every version and suite Go speaks, with the client's key log.

var (
	certOnce sync.Once
	rsaCert  tls.Certificate
	ecCert   tls.Certificate
)

func testCerts(t testing.TB) {
	certOnce.Do(func() {
		mk := func(key any, pub any) tls.Certificate {
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "httplife.test"},
				DNSNames: []string{"httplife.test"}, NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
				NotAfter: time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
			if err != nil {
				panic(err)
			}
			return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		}
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaCert = mk(rk, &rk.PublicKey)
		ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		ecCert = mk(ek, &ek.PublicKey)
	})
}

// tcpPair is a connected pair over loopback (buffered, unlike net.Pipe,
// so that both sides may write at once as TLS 1.3 peers do).
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return c, r.c
}

// wire records writes in order; each gets the next millisecond.
type wire struct {
	mu   sync.Mutex
	evs  []event
	base time.Time
}

func (w *wire) add(d Dir, b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.evs = append(w.evs, event{d, append([]byte(nil), b...), w.base.Add(time.Duration(len(w.evs)) * time.Millisecond)})
}

type tap struct {
	net.Conn
	w *wire
	d Dir
}

func (c *tap) Write(b []byte) (int, error) {
	c.w.add(c.d, b)
	return c.Conn.Write(b)
}

type goResult struct {
	evs       []event
	keylog    string
	state     tls.ConnectionState
	requests  []byte
	responses []byte
}

// converse runs one connection: n requests, each answered, then the client
// closes (close_notify, then the server's).
func converse(t testing.TB, ccfg, scfg *tls.Config, n int) goResult {
	t.Helper()
	cp, sp := tcpPair(t)
	w := &wire{base: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	var kl bytes.Buffer
	ccfg = ccfg.Clone()
	ccfg.KeyLogWriter = &kl
	ccfg.ServerName = "httplife.test"
	ccfg.InsecureSkipVerify = true
	var res goResult
	var wg sync.WaitGroup
	wg.Add(1)
	var serr error
	go func() {
		defer wg.Done()
		s := tls.Server(&tap{sp, w, ServerToClient}, scfg)
		defer s.Close()
		br := bufio.NewReader(s)
		for i := 0; ; i++ {
			var req []byte
			for {
				l, err := br.ReadSlice('\n')
				if err != nil {
					if err != io.EOF {
						serr = err
					}
					return
				}
				req = append(req, l...)
				if string(l) == "\r\n" {
					break
				}
			}
			body := strings.Repeat("x", 10+i*3)
			resp := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			if _, err := io.WriteString(s, resp); err != nil {
				serr = err
				return
			}
		}
	}()
	c := tls.Client(&tap{cp, w, ClientToServer}, ccfg)
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	br := bufio.NewReader(c)
	for i := 0; i < n; i++ {
		req := fmt.Sprintf("GET /r%d HTTP/1.1\r\nHost: httplife.test\r\n\r\n", i)
		res.requests = append(res.requests, req...)
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		want := len(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 10+i*3)) + 10 + i*3
		buf := make([]byte, want)
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatal(err)
		}
		res.responses = append(res.responses, buf...)
	}
	res.state = c.ConnectionState()
	c.Close()
	wg.Wait()
	if serr != nil {
		t.Fatalf("server: %v", serr)
	}
	res.evs = w.evs
	res.keylog = kl.String()
	return res
}

func TestGoTLS(t *testing.T) {
	testCerts(t)
	type cfg struct {
		name    string
		version uint16
		suite   uint16 // TLS ≤ 1.2: the only suite offered
		ec      bool   // ECDSA certificate
	}
	cases := []cfg{
		{"tls13", tls.VersionTLS13, 0, false},
		{"tls12-ecdhe-rsa-aes128-gcm", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, false},
		{"tls12-ecdhe-rsa-aes256-gcm", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, false},
		{"tls12-ecdhe-ecdsa-aes128-gcm", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true},
		{"tls12-ecdhe-ecdsa-aes256-gcm", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, true},
		{"tls12-ecdhe-rsa-chacha", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, false},
		{"tls12-ecdhe-ecdsa-chacha", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true},
		{"tls12-ecdhe-rsa-aes128-cbc-sha", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, false},
		{"tls12-ecdhe-rsa-aes256-cbc-sha", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, false},
		{"tls12-ecdhe-rsa-aes128-cbc-sha256", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, false},
		{"tls12-ecdhe-ecdsa-aes128-cbc-sha256", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, true},
		{"tls12-rsa-aes128-gcm", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_GCM_SHA256, false},
		{"tls12-rsa-aes256-gcm", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_256_GCM_SHA384, false},
		{"tls12-rsa-aes128-cbc-sha", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_CBC_SHA, false},
		{"tls12-rsa-aes128-cbc-sha256", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_CBC_SHA256, false},
		{"tls12-rsa-3des", tls.VersionTLS12, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, false},
		{"tls12-ecdhe-rsa-3des", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, false},
		{"tls11-ecdhe-rsa-aes128-cbc-sha", tls.VersionTLS11, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, false},
		{"tls10-ecdhe-rsa-aes128-cbc-sha", tls.VersionTLS10, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, false},
		{"tls10-rsa-aes256-cbc-sha", tls.VersionTLS10, tls.TLS_RSA_WITH_AES_256_CBC_SHA, false},
		{"tls10-rsa-3des", tls.VersionTLS10, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cert := rsaCert
			if tc.ec {
				cert = ecCert
			}
			scfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10, MaxVersion: tc.version,
				NextProtos: []string{"http/1.1"}}
			ccfg := &tls.Config{MinVersion: tc.version, MaxVersion: tc.version, NextProtos: []string{"h2", "http/1.1"}}
			if tc.suite != 0 {
				scfg.CipherSuites = []uint16{tc.suite}
				ccfg.CipherSuites = []uint16{tc.suite}
			}
			const n = 3
			res := converse(t, ccfg, scfg, n)
			if tc.suite != 0 && res.state.CipherSuite != tc.suite || res.state.Version != tc.version {
				t.Fatalf("negotiated %s %s, want %s", VersionName(res.state.Version), SuiteName(res.state.CipherSuite), tc.name)
			}
			keys := mustKeyLog(t, res.keylog)
			h, in := run(res.evs, keys)
			if in.Version != VersionName(tc.version) || in.CipherSuite != res.state.CipherSuite || in.SNI != "httplife.test" ||
				in.ALPN != "http/1.1" || in.ALPNGuessed || fmt.Sprint(in.ClientALPN) != "[h2 http/1.1]" {
				t.Errorf("info: %q %s sni %q alpn %q (guessed %v) client alpn %v", in.Version, in.Cipher, in.SNI, in.ALPN, in.ALPNGuessed, in.ClientALPN)
			}
			if !in.Decrypted || !in.HaveKeys || in.AuthFailures != [2]int{} || len(in.Warnings) > 0 {
				t.Errorf("decrypted %v keys %v failures %v warnings %q", in.Decrypted, in.HaveKeys, in.AuthFailures, in.Warnings)
			}
			if !bytes.Equal(h.plain[0], res.requests) || !bytes.Equal(h.plain[1], res.responses) {
				t.Errorf("plaintext:\nclient %q\nwant   %q\nserver %q\nwant   %q", h.plain[0], res.requests, h.plain[1], res.responses)
			}
			if by, ok := in.CloseNotifyBy(); !ok || by != ClientToServer || !in.CloseNotifySure[0] {
				t.Errorf("close_notify by %v (%v), sure %v, want the client's, sure", by, ok, in.CloseNotifySure)
			}
			// the plaintext's times are those of the records that carried it
			for _, ch := range h.chunk {
				if ch.first.After(ch.last) {
					t.Errorf("plaintext chunk first %v after last %v", ch.first, ch.last)
				}
			}
			// without keys: the same application-data records (TLS 1.2 surely, TLS 1.3 judged)
			hn, inn := run(res.evs, nil)
			if inn.Decrypted || inn.AppRecords != in.AppRecords {
				t.Errorf("without keys: decrypted %v, application records %v, want %v as with keys\n%s\nwith keys\n%s",
					inn.Decrypted, inn.AppRecords, in.AppRecords, hn.summary(), h.summary())
			}
			if inn.CloseNotify != in.CloseNotify {
				t.Errorf("without keys close_notify %v, with keys %v", inn.CloseNotify, in.CloseNotify)
			}
			if got := requestRuns(hn.recs); got != n {
				t.Errorf("without keys: %d request runs, want %d\n%s", got, n, hn.summary())
			}
			// with a key log that lacks this connection: a warning naming its client random
			other := mustKeyLog(t, "CLIENT_RANDOM "+strings.Repeat("ab", 32)+" "+strings.Repeat("cd", 48)+"\n")
			_, ino := run(res.evs, other)
			if ino.Decrypted || len(ino.Warnings) != 1 || !strings.Contains(ino.Warnings[0], fmt.Sprintf("%x", ino.ClientRandom)) {
				t.Errorf("with another key log: decrypted %v, warnings %q, want one naming %x", ino.Decrypted, ino.Warnings, ino.ClientRandom)
			}
		})
	}
}

// requestRuns counts runs of client application-data records that follow
// server data (or come first): the inferred requests.
func requestRuns(recs []dirRecord) int {
	n := 0
	last := Dir(1)
	for _, x := range recs {
		if x.r.Inner != TypeApplicationData {
			continue
		}
		if x.d == ClientToServer && last == ServerToClient {
			n++
		}
		last = x.d
	}
	return n
}

func TestGoTLSResumption(t *testing.T) {
	testCerts(t)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(VersionName(v), func(t *testing.T) {
			scfg := &tls.Config{Certificates: []tls.Certificate{rsaCert}, MaxVersion: v}
			ccfg := &tls.Config{MinVersion: v, MaxVersion: v, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
			first := converse(t, ccfg, scfg, 1)
			second := converse(t, ccfg, scfg, 2)
			if !second.state.DidResume || first.state.DidResume {
				t.Fatalf("DidResume first %v second %v, want false true", first.state.DidResume, second.state.DidResume)
			}
			// one key log for both, the connections in order
			keys := mustKeyLog(t, first.keylog+second.keylog)
			_, in1 := run(first.evs, keys)
			h2, in2 := run(second.evs, keys)
			if in1.Resumed || !in2.Resumed || !in2.ResumeOffered {
				t.Errorf("resumed first %v second %v (offered %v), want false true", in1.Resumed, in2.Resumed, in2.ResumeOffered)
			}
			wantFrom := "CLIENT_RANDOM"
			if v == tls.VersionTLS12 {
				wantFrom = "ticket" // Go's client logs no CLIENT_RANDOM line for a resumed TLS 1.2 session
			}
			if in2.KeysFrom != wantFrom || in1.KeysFrom != "CLIENT_RANDOM" {
				t.Errorf("keys from %q, %q; want CLIENT_RANDOM, %q", in1.KeysFrom, in2.KeysFrom, wantFrom)
			}
			if !in2.Decrypted || !bytes.Equal(h2.plain[0], second.requests) || len(in2.Warnings) > 0 {
				t.Errorf("resumed connection: decrypted %v, plaintext %q, warnings %q", in2.Decrypted, h2.plain[0], in2.Warnings)
			}
			// without keys the resumption is seen all the same
			if _, inn := run(second.evs, nil); !inn.Resumed {
				t.Errorf("without keys: resumed %v, want true", inn.Resumed)
			}
			if v == tls.VersionTLS12 {
				// the second connection's own line missing: found through the first's ticket
				keys := mustKeyLog(t, first.keylog)
				run(first.evs, keys)
				h, in := run(second.evs, keys)
				if !in.Decrypted || !bytes.Equal(h.plain[1], second.responses) {
					t.Errorf("by ticket: decrypted %v plaintext %q warnings %q", in.Decrypted, h.plain[1], in.Warnings)
				}
			}
		})
	}
}

func TestGoTLSHelloRetry(t *testing.T) {
	testCerts(t)
	scfg := &tls.Config{Certificates: []tls.Certificate{ecCert}, CurvePreferences: []tls.CurveID{tls.CurveP384}}
	ccfg := &tls.Config{MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP384}}
	res := converse(t, ccfg, scfg, 2)
	h, in := run(res.evs, mustKeyLog(t, res.keylog))
	if !in.HelloRetry || in.Version != "TLS 1.3" || !in.Decrypted || !bytes.Equal(h.plain[0], res.requests) || len(in.Warnings) > 0 {
		t.Errorf("hello retry %v version %q decrypted %v plaintext %q warnings %q", in.HelloRetry, in.Version, in.Decrypted, h.plain[0], in.Warnings)
	}
	if _, inn := run(res.evs, nil); !inn.HelloRetry || inn.AppRecords != in.AppRecords {
		t.Errorf("without keys: hello retry %v, application records %v, want %v", inn.HelloRetry, inn.AppRecords, in.AppRecords)
	}
}

// A record whose ciphertext was changed fails authentication; the others
// still decrypt.
func TestGoTLSTampered(t *testing.T) {
	testCerts(t)
	for _, tc := range []struct {
		name    string
		version uint16
		suite   uint16
	}{
		{"tls13", tls.VersionTLS13, 0},
		{"tls12-gcm", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		{"tls12-chacha", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256},
		{"tls12-cbc", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA},
		{"tls10-cbc", tls.VersionTLS10, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scfg := &tls.Config{Certificates: []tls.Certificate{rsaCert}, MinVersion: tls.VersionTLS10, MaxVersion: tc.version}
			ccfg := &tls.Config{MinVersion: tc.version, MaxVersion: tc.version}
			if tc.suite != 0 {
				scfg.CipherSuites, ccfg.CipherSuites = []uint16{tc.suite}, []uint16{tc.suite}
			}
			res := converse(t, ccfg, scfg, 3)
			// the client's second request: the second client write after the handshake that holds a request
			idx, seen := -1, 0
			for i, e := range res.evs {
				if e.d == ClientToServer && e.b[0] == byte(TypeApplicationData) && len(e.b) > 60 {
					if seen++; seen == 2 {
						idx = i
					}
				}
			}
			if idx < 0 {
				t.Fatal("no second request record")
			}
			evs := append([]event(nil), res.evs...)
			evs[idx].b = append([]byte(nil), evs[idx].b...)
			evs[idx].b[len(evs[idx].b)/2] ^= 0x40
			h, in := run(evs, mustKeyLog(t, res.keylog))
			lost := "GET /r1 HTTP/1.1\r\nHost: httplife.test\r\n\r\n"
			if tc.version == tls.VersionTLS10 {
				lost = lost[1:] // Go splits TLS 1.0 CBC records 1/n-1: "G" is a record of its own
			}
			want := strings.Replace(string(res.requests), lost, "", 1)
			if in.AuthFailures != [2]int{1, 0} || string(h.plain[0]) != want || !bytes.Equal(h.plain[1], res.responses) {
				t.Errorf("failures %v, client plaintext %q, want 1 failure and %q", in.AuthFailures, h.plain[0], want)
			}
			found := false
			for _, w := range in.Warnings {
				found = found || strings.Contains(w, "failed authentication")
			}
			if !found {
				t.Errorf("warnings %q name no authentication failure", in.Warnings)
			}
		})
	}
}
