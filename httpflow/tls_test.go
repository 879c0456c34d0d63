package httpflow_test

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/convtest"
)

// record is a TLS record of type typ (0x16 handshake, 0x17 application
// data) and version 1.2 carrying body.
func record(typ byte, body []byte) string {
	h := []byte{typ, 3, 3, 0, 0}
	binary.BigEndian.PutUint16(h[3:], uint16(len(body)))
	return string(append(h, body...))
}

// hello is a minimal handshake message of type t (1 ClientHello, 2
// ServerHello) for TLS 1.2 with one cipher suite.
func hello(t byte) string {
	b := []byte{3, 3}
	b = append(b, make([]byte, 32)...) // random
	b = append(b, 0)                   // session id
	if t == 1 {
		b = append(b, 0, 2, 0xc0, 0x2f, 1, 0) // suites, compression
	} else {
		b = append(b, 0xc0, 0x2f, 0) // suite, compression
	}
	b = append(b, 0, 0) // no extensions
	msg := append([]byte{t, 0, 0, 0}, b...)
	msg[3] = byte(len(b))
	return record(0x16, msg)
}

// HTTPS without keys: the ClientHello on any port (here split into 1-byte
// segments) makes the connection TLS; application-data records make the
// inferred transactions, with their idle gaps, and the close is
// classified as for cleartext.
func TestTLSInferred(t *testing.T) {
	c := convtest.NewWithoutHandshake(t).Ports(40000, 8443)
	c.Handshake()
	c.Send(convtest.Client, hello(1), 1)
	c.Send(convtest.Server, hello(2), 0)
	c.Send(convtest.Client, record(0x17, make([]byte, 300)), 0)
	c.Send(convtest.Server, record(0x17, make([]byte, 2000))+record(0x17, make([]byte, 100)), 1000)
	c.Idle(2 * time.Second)
	c.Send(convtest.Client, record(0x17, make([]byte, 300)), 0)
	c.Send(convtest.Server, record(0x17, make([]byte, 500)), 0)
	c.Idle(5 * time.Second)
	c.Send(convtest.Server, record(0x15, []byte{1, 0}), 0) // close_notify in the clear (TLS 1.2 before keys: a test)
	c.Close(convtest.Server)
	recs := analyse(t, c.Bytes())
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r.TLS == nil || r.TLS.Version != "TLS 1.2" || r.TLS.Decrypted || r.TLS.CloseNotifyBy != httpflow.Server {
		t.Fatalf("tls %+v, want TLS 1.2, not decrypted, close_notify by the server", r.TLS)
	}
	if len(r.Transactions) != 2 {
		t.Fatalf("%d transactions, want 2: %+v", len(r.Transactions), r.Transactions)
	}
	for i, tx := range r.Transactions {
		if !tx.Inferred || tx.Method != "" || tx.Status != 0 || !tx.Answered() {
			t.Errorf("transaction %d: %+v, want inferred and answered", i+1, tx)
		}
	}
	if got := r.Transactions[0].ResponseBytes; got != 2000+5+100+5 {
		t.Errorf("response 1: %d bytes, want the two records' 2110", got)
	}
	if len(r.IdlePeriods) != 1 || r.IdlePeriods[0].Duration < 2*time.Second || r.IdlePeriods[0].Duration > 2010*time.Millisecond {
		t.Errorf("idle periods %+v, want one of about 2 s", r.IdlePeriods)
	}
	if r.Close.Reason != httpflow.ReasonServerIdleTimeout || r.FinalIdle == nil || r.FinalIdle.Duration < 5*time.Second {
		t.Errorf("close %s, final idle %+v; want server-idle-timeout after about 5 s", r.Close.Reason, r.FinalIdle)
	}
	for _, a := range r.Anomalies {
		if strings.Contains(a, "non-http") {
			t.Errorf("anomaly %s on a TLS connection", a)
		}
	}
}

// Who ended the session: a client's close_notify that the server's FIN
// answers (curl, Go's tls.Conn.Close) is the client's end of the session,
// said in the evidence and in TLS.ClientEnded; the close reason stays the
// first FIN's. A client's close_notify after the server's FIN (the server
// timed out silently) is not.
func TestTLSClientEnded(t *testing.T) {
	for _, tc := range []struct {
		name        string
		notifyFirst bool
		wantEnded   bool
	}{
		{"client close_notify, then server FIN", true, true},
		{"server FIN, then client close_notify", false, false},
	} {
		c := convtest.NewWithoutHandshake(t).Ports(40000, 8443)
		c.Handshake()
		c.Send(convtest.Client, hello(1), 0)
		c.Send(convtest.Server, hello(2), 0)
		c.Send(convtest.Client, record(0x17, make([]byte, 300)), 0)
		c.Send(convtest.Server, record(0x17, make([]byte, 2000)), 0)
		c.Idle(300 * time.Millisecond)
		if tc.notifyFirst {
			c.Send(convtest.Client, record(0x15, []byte{1, 0}), 0)
			c.Idle(time.Millisecond)
			c.Close(convtest.Server)
		} else {
			c.FIN(convtest.Server)
			c.Idle(time.Millisecond)
			c.Send(convtest.Client, record(0x15, []byte{1, 0}), 0)
			c.FIN(convtest.Client)
			c.ACK(convtest.Server)
		}
		recs := analyse(t, c.Bytes())
		if len(recs) != 1 {
			t.Fatalf("%s: %d records", tc.name, len(recs))
		}
		r := recs[0]
		if r.TLS == nil || r.TLS.CloseNotifyBy != httpflow.Client || r.TLS.ClientEnded != tc.wantEnded {
			t.Errorf("%s: tls %+v, want close_notify by the client, ClientEnded %v", tc.name, r.TLS, tc.wantEnded)
			continue
		}
		if r.Close.Reason != httpflow.ReasonServerIdleTimeout {
			t.Errorf("%s: reason %s, want server-idle-timeout (the first FIN's)", tc.name, r.Close.Reason)
		}
		if got := strings.Contains(r.Close.Evidence, "close_notify"); got != tc.wantEnded {
			t.Errorf("%s: evidence %q; mentions the client's close_notify: %v, want %v", tc.name, r.Close.Evidence, got, tc.wantEnded)
		}
	}
}

// The first bytes decide: a request line split before its sixth byte is
// still HTTP, a server that speaks first is not TLS, and bytes that start
// like a record header but are not one go to the HTTP parser.
func TestTLSSniff(t *testing.T) {
	tests := []struct {
		name  string
		build func(c *convtest.Conv)
		tls   bool
		txs   int
	}{
		{"request line in 1-byte segments", func(c *convtest.Conv) {
			c.Send(convtest.Client, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1)
			c.Send(convtest.Server, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0)
		}, false, 1},
		{"ClientHello in 2-byte segments", func(c *convtest.Conv) {
			c.Send(convtest.Client, hello(1), 2)
			c.Send(convtest.Server, hello(2), 0)
		}, true, 0},
		{"server speaks first", func(c *convtest.Conv) {
			c.Send(convtest.Server, hello(2), 0)
			c.Send(convtest.Client, hello(1), 0)
		}, false, 0},
		{"a record header that is not one", func(c *convtest.Conv) {
			c.Send(convtest.Client, "\x16\x03", 0)
			c.Send(convtest.Client, "\x09GET / HTTP/1.1\r\n\r\n", 0)
		}, false, 0},
	}
	for _, tc := range tests {
		c := convtest.New(t)
		tc.build(c)
		c.Close(convtest.Client)
		recs := analyse(t, c.Bytes())
		if len(recs) != 1 {
			t.Fatalf("%s: %d records", tc.name, len(recs))
		}
		r := recs[0]
		if (r.TLS != nil) != tc.tls || len(r.Transactions) != tc.txs {
			t.Errorf("%s: tls %+v, %d transactions; want tls %v, %d", tc.name, r.TLS, len(r.Transactions), tc.tls, tc.txs)
		}
		if tc.txs == 1 && r.Transactions[0].Method != "GET" {
			t.Errorf("%s: %+v", tc.name, r.Transactions[0])
		}
	}
}
