package httpflow_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/convtest"
	"github.com/httplife/httplife/tcpstate"
)

// analyse runs a pcap through capture, tcpstate and httpflow, as the
// pipeline does on one goroutine, and returns the records in the order
// the connections finished.
func analyse(t *testing.T, pcap []byte) []*httpflow.Connection {
	t.Helper()
	src, err := capture.OpenReader("conv.pcap", bytes.NewReader(pcap))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []*httpflow.Connection
	an := httpflow.NewAnalyzer(httpflow.Config{}, httpflow.Emitting(nil, func(c *httpflow.Connection) { out = append(out, c) }))
	tab := tcpstate.NewTable(tcpstate.DefaultConfig(), an.Factory())
	for {
		seg, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tab.Add(seg)
	}
	tab.Flush()
	return out
}

const (
	get     = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	get10   = "GET / HTTP/1.0\r\n\r\n"
	ok      = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	ok10    = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
	okClose = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
	okMax1  = "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=1\r\nContent-Length: 2\r\n\r\nok"
	okEOF   = "HTTP/1.1 200 OK\r\n\r\nuntil the close"
)

func exchange(req, resp string) func(c *convtest.Conv) {
	return func(c *convtest.Conv) {
		c.Send(convtest.Client, req, 0)
		c.Send(convtest.Server, resp, 0)
	}
}

// Every close reason of the spec, and for every pair of rules that can
// both apply, the earlier rule wins: one conversation per row, real
// packets through capture, tcpstate and httpflow.
func TestCloseReasons(t *testing.T) {
	type build func(c *convtest.Conv)
	seq := func(steps ...build) build {
		return func(c *convtest.Conv) {
			for _, s := range steps {
				s(c)
			}
		}
	}
	idle := func(d time.Duration) build { return func(c *convtest.Conv) { c.Idle(d) } }
	closeBy := func(side int) build { return func(c *convtest.Conv) { c.Close(side) } }
	rst := func(side int) build { return func(c *convtest.Conv) { c.RST(side) } }
	first := exchange(get, ok)
	tests := []struct {
		name   string
		steps  build
		reason httpflow.Reason
		race   httpflow.RaceKind
		inEv   string // a phrase the evidence must hold
	}{
		// One row per reason.
		{"in-flight race", seq(first, idle(time.Second), func(c *convtest.Conv) {
			c.SendUnacked(convtest.Client, get) // crosses the FIN: does not acknowledge it
			c.FIN(convtest.Server)
			c.RST(convtest.Server)
		}), httpflow.ReasonKeepaliveRace, httpflow.RaceInFlight, "crossed"},
		{"stale-reuse race", seq(first, idle(time.Second), func(c *convtest.Conv) {
			c.FIN(convtest.Server)
			c.ACK(convtest.Client) // the client has the FIN
			c.Idle(10 * time.Millisecond)
			c.SendUnacked(convtest.Client, get)
			c.RST(convtest.Server)
		}), httpflow.ReasonKeepaliveRace, httpflow.RaceStaleReuse, "acknowledged the FIN"},
		// A mirror that delays the client's packets records the server's
		// RST (its answer to the request) before the request itself.
		{"stale-reuse race, the request recorded after the RST", seq(first, idle(time.Second), func(c *convtest.Conv) {
			c.FIN(convtest.Server)
			c.ACK(convtest.Client)
			c.Idle(10 * time.Millisecond)
			c.Reset(convtest.Server)
			c.SendUnacked(convtest.Client, get)
		}), httpflow.ReasonKeepaliveRace, httpflow.RaceStaleReuse, "acknowledged the FIN"},
		{"silent-drop race", seq(first, idle(time.Second), func(c *convtest.Conv) {
			c.SendUnacked(convtest.Client, get)
			c.RST(convtest.Server)
		}), httpflow.ReasonKeepaliveRace, httpflow.RaceSilentDrop, "answered by the server's RST"},
		{"reset", seq(first, rst(convtest.Client)), httpflow.ReasonReset, 0, "client RST"},
		{"http10-no-keepalive", seq(exchange(get10, ok10), closeBy(convtest.Server)), httpflow.ReasonHTTP10, 0, "HTTP/1.0 request"},
		{"client-close-header", seq(exchange("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", ok), closeBy(convtest.Server)), httpflow.ReasonClientCloseHeader, 0, "Connection: close"},
		// Apache counts max down: max=1 on response 1 allows one more; the
		// last response says Connection: close.
		{"max-requests", seq(exchange(get, okMax1), exchange(get, ok), closeBy(convtest.Server)), httpflow.ReasonMaxRequests, 0, "max=1"},
		{"server-close-header", seq(exchange(get, okClose), closeBy(convtest.Server)), httpflow.ReasonServerCloseHeader, 0, "Connection: close"},
		{"close-delimited", seq(exchange(get, okEOF), closeBy(convtest.Server)), httpflow.ReasonCloseDelimited, 0, "no Content-Length"},
		{"server-idle-timeout", seq(first, idle(5*time.Second), closeBy(convtest.Server)), httpflow.ReasonServerIdleTimeout, 0, "server FIN 5.00"},
		{"client-idle-close", seq(first, idle(2*time.Second), closeBy(convtest.Client)), httpflow.ReasonClientIdleClose, 0, "client FIN"},
		{"capture-ended", first, httpflow.ReasonCaptureEnded, 0, "no FIN or RST"},
		{"unknown: FIN while a request is in flight", seq(func(c *convtest.Conv) {
			c.Send(convtest.Client, get, 0)
			c.FIN(convtest.Server)
			c.Send(convtest.Server, ok, 0)
		}), httpflow.ReasonUnknown, 0, "in flight"},
		{"a RST after both FINs is no reset", seq(first, idle(time.Second), closeBy(convtest.Server), rst(convtest.Client)), httpflow.ReasonServerIdleTimeout, 0, ""},

		// Through a mirror that delays the client's copies 5 ms: the
		// server's answer is captured before the request it answers; the
		// acknowledgements say the order.
		{"silent-drop race, the RST captured first", seq(first, idle(time.Second), func(c *convtest.Conv) {
			c.Delay[convtest.Client] = 5 * time.Millisecond
			c.SendUnacked(convtest.Client, get)
			c.RST(convtest.Server) // acknowledges the request
		}), httpflow.ReasonKeepaliveRace, httpflow.RaceSilentDrop, "arrived out of order"},
		{"in-flight race, the FIN captured first", seq(first, idle(time.Second), func(c *convtest.Conv) {
			c.Delay[convtest.Client] = 5 * time.Millisecond
			c.SendUnacked(convtest.Client, get)
			c.FIN(convtest.Server) // acknowledges the request
		}), httpflow.ReasonKeepaliveRace, httpflow.RaceInFlight, "arrived out of order"},
		{"stale-reuse race, a RST without ACK captured first", seq(first, idle(time.Second), func(c *convtest.Conv) {
			c.FIN(convtest.Server)
			c.Idle(10 * time.Millisecond)
			c.Delay[convtest.Client] = 5 * time.Millisecond
			c.SendUnacked(convtest.Client, get) // acknowledges the FIN
			c.Reset(convtest.Server)            // its sequence number: the request's acknowledgement
		}), httpflow.ReasonKeepaliveRace, httpflow.RaceStaleReuse, "the request itself acknowledged the FIN"},

		{"client-idle-close, the server's copies late", seq(func(c *convtest.Conv) {
			c.Delay[convtest.Server] = 5 * time.Millisecond
		}, first, closeBy(convtest.Client)), httpflow.ReasonClientIdleClose, 0, "arrived out of order"},

		// One direction not captured: nothing the rules read is whole.
		{"unknown: the server's packets not captured", seq(func(c *convtest.Conv) { c.Omit[convtest.Server] = true },
			first, idle(time.Second), closeBy(convtest.Server)), httpflow.ReasonUnknown, 0, "holds only the client's packets"},
		{"unknown: the client's packets not captured", seq(func(c *convtest.Conv) { c.Omit[convtest.Client] = true },
			first, idle(time.Second), closeBy(convtest.Server)), httpflow.ReasonUnknown, 0, "holds only the server's packets, none of the client's (a mirror"},

		// Precedence: the earlier rule wins.
		// A race the capture cannot show: the client's side did not close,
		// so the capture holds no close at all.
		{"one direction, no close captured", seq(func(c *convtest.Conv) { c.Omit[convtest.Server] = true }, first, idle(time.Second), func(c *convtest.Conv) {
			c.SendUnacked(convtest.Client, get)
			c.FIN(convtest.Server)
			c.RST(convtest.Server)
		}), httpflow.ReasonCaptureEnded, 0, "no FIN or RST in the capture"},
		{"one direction over race", seq(func(c *convtest.Conv) { c.Omit[convtest.Server] = true }, first, idle(time.Second), func(c *convtest.Conv) {
			c.SendUnacked(convtest.Client, get)
			c.FIN(convtest.Server)
			c.RST(convtest.Server)
			c.RST(convtest.Client)
		}), httpflow.ReasonUnknown, 0, "the responses, and who closed first, are not in it; the client sent a RST"},
		{"one direction over reset", seq(func(c *convtest.Conv) { c.Omit[convtest.Client] = true }, first, rst(convtest.Server)),
			httpflow.ReasonUnknown, 0, "the server sent a RST"},
		{"race over reset", seq(first, idle(time.Second), func(c *convtest.Conv) {
			c.SendUnacked(convtest.Client, get)
			c.RST(convtest.Server)
			c.RST(convtest.Client)
		}), httpflow.ReasonKeepaliveRace, httpflow.RaceSilentDrop, ""},
		{"race over http10", seq(exchange("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"),
			idle(time.Second), func(c *convtest.Conv) {
				c.SendUnacked(convtest.Client, get10)
				c.FIN(convtest.Server)
			}), httpflow.ReasonKeepaliveRace, httpflow.RaceInFlight, ""},
		{"reset over http10", seq(exchange(get10, ok10), rst(convtest.Server)), httpflow.ReasonReset, 0, "server RST"},
		{"reset over client-close-header", seq(exchange("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", ok), rst(convtest.Client)), httpflow.ReasonReset, 0, ""},
		{"reset over close-delimited", seq(exchange(get, okEOF), rst(convtest.Server)), httpflow.ReasonReset, 0, ""},
		{"http10 over client-close-header", seq(exchange("GET / HTTP/1.0\r\nConnection: close\r\n\r\n", ok10), closeBy(convtest.Server)), httpflow.ReasonHTTP10, 0, ""},
		{"http10 over server-close-header", seq(exchange(get10, "HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"), closeBy(convtest.Server)), httpflow.ReasonHTTP10, 0, ""},
		{"client-close-header over max-requests", seq(exchange("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", okMax1), closeBy(convtest.Server)), httpflow.ReasonClientCloseHeader, 0, ""},
		{"client-close-header over server-close-header", seq(exchange("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", okClose), closeBy(convtest.Server)), httpflow.ReasonClientCloseHeader, 0, ""},
		{"client-close-header over client FIN", seq(exchange("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", ok), closeBy(convtest.Client)), httpflow.ReasonClientCloseHeader, 0, ""},
		{"max-requests over server-close-header", seq(exchange(get, okMax1), exchange(get, okClose), closeBy(convtest.Server)), httpflow.ReasonMaxRequests, 0, ""},
		{"max-requests over close-delimited", seq(exchange(get, okMax1), exchange(get, okEOF), closeBy(convtest.Server)), httpflow.ReasonMaxRequests, 0, ""},
		{"max-requests needs the server's FIN", seq(exchange(get, okMax1), exchange(get, ok), closeBy(convtest.Client)), httpflow.ReasonClientIdleClose, 0, ""},
		{"server-close-header over close-delimited", seq(exchange(get, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the close"), closeBy(convtest.Server)), httpflow.ReasonServerCloseHeader, 0, ""},
		{"server-close-header over server-idle-timeout", seq(exchange(get, okClose), idle(5*time.Second), closeBy(convtest.Server)), httpflow.ReasonServerCloseHeader, 0, ""},
		{"close-delimited over server-idle-timeout", seq(exchange(get, okEOF), idle(5*time.Second), closeBy(convtest.Server)), httpflow.ReasonCloseDelimited, 0, ""},
		{"an answered request after idle is no race", seq(first, idle(time.Second), first, closeBy(convtest.Server)), httpflow.ReasonServerIdleTimeout, 0, ""},

		// Requests pipelined behind a response that said Connection: close
		// go unanswered (gunicorn's sync worker,
		// samples/heldout-sim/connection-close-header-gunicorn-sync): the
		// close is that response's, not a FIN while requests were in flight.
		{"server-close-header, requests pipelined behind it unanswered", seq(func(c *convtest.Conv) {
			c.Send(convtest.Client, get+get+get, 0)
			c.Send(convtest.Server, okClose, 0)
		}, closeBy(convtest.Server)), httpflow.ReasonServerCloseHeader, 0, "the server did not answer requests 2-3 after it"},
		{"max-requests, a request pipelined behind the last unanswered", seq(exchange(get, okMax1), func(c *convtest.Conv) {
			c.Send(convtest.Client, get+get, 0)
			c.Send(convtest.Server, okClose, 0)
		}, closeBy(convtest.Server)), httpflow.ReasonMaxRequests, 0, "max=1 and the server closed after request 2; the server did not answer request 3"},
		{"client-close-header on an unanswered pipelined request", seq(func(c *convtest.Conv) {
			c.Send(convtest.Client, get+"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 0)
			c.Send(convtest.Server, okClose, 0)
		}, closeBy(convtest.Server)), httpflow.ReasonClientCloseHeader, 0, "request 2 carried Connection: close"},
		{"a request in flight behind a keep-alive response is still unknown", seq(func(c *convtest.Conv) {
			c.Send(convtest.Client, get+get, 0)
			c.Send(convtest.Server, ok, 0)
		}, closeBy(convtest.Server)), httpflow.ReasonUnknown, 0, "in flight"},
	}
	for _, tc := range tests {
		c := convtest.New(t)
		tc.steps(c)
		recs := analyse(t, c.Bytes())
		if len(recs) != 1 {
			t.Errorf("%s: %d records, want 1", tc.name, len(recs))
			continue
		}
		r := recs[0]
		if r.Close.Reason != tc.reason {
			t.Errorf("%s: reason %s (%s), want %s", tc.name, r.Close.Reason, r.Close.Evidence, tc.reason)
			continue
		}
		switch {
		case tc.race == 0 && r.Close.Race != nil:
			t.Errorf("%s: race %+v, want none", tc.name, *r.Close.Race)
		case tc.race != 0 && (r.Close.Race == nil || r.Close.Race.Kind != tc.race):
			t.Errorf("%s: race %+v, want %s (%s)", tc.name, r.Close.Race, tc.race, r.Close.Evidence)
		}
		if !strings.Contains(r.Close.Evidence, tc.inEv) || !strings.Contains(r.Close.Evidence, "; TCP history ") {
			t.Errorf("%s: evidence %q lacks %q or the TCP history", tc.name, r.Close.Evidence, tc.inEv)
		}
	}
}

// A request line that is not one (a fuzzer's, a broken client's) is still
// a request: the server's answer pairs with it, and the close is judged
// by that answer, as for any request.
func TestMalformedRequestLineAnswered(t *testing.T) {
	bad400 := "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
	tests := []struct {
		line, method, uri, version string
	}{
		{"GET / HTTP/1.", "GET", "/ HTTP/1.", ""},
		{"OPTIONS HTTP/1.1", "OPTIONS", "", "HTTP/1.1"},
		{"GET/HTTP/1.1", "", "GET/HTTP/1.1", ""},
		{"\xc3\x83\xc3\x82 / HTTP/1.1", "", "\xc3\x83\xc3\x82 /", "HTTP/1.1"},
	}
	for _, tt := range tests {
		c := convtest.New(t)
		c.Send(convtest.Client, tt.line+"\r\nHost: a\r\n\r\n", 0)
		c.Send(convtest.Server, bad400, 0)
		c.Close(convtest.Server)
		recs := analyse(t, c.Bytes())
		if len(recs) != 1 || len(recs[0].Transactions) != 1 {
			t.Errorf("%q: %d records, want 1 with one transaction", tt.line, len(recs))
			continue
		}
		r, x := recs[0], recs[0].Transactions[0]
		if x.Method != tt.method || x.URI != tt.uri || x.RequestVersion != tt.version || x.Status != 400 || !x.Complete {
			t.Errorf("%q: method %q uri %q version %q status %d complete %v; want %q %q %q 400 true",
				tt.line, x.Method, x.URI, x.RequestVersion, x.Status, x.Complete, tt.method, tt.uri, tt.version)
		}
		if r.Close.Reason != httpflow.ReasonServerCloseHeader || !slices.Contains(r.Anomalies, "malformed-request-line") || slices.Contains(r.Anomalies, "non-http-payload") {
			t.Errorf("%q: reason %s, anomalies %q; want server-close-header and malformed-request-line", tt.line, r.Close.Reason, r.Anomalies)
		}
	}
}

// A capture of one direction (a mirror or filter that keeps it) says so:
// the anomaly names the side whose packets are missing, the requests are
// not called unanswered or pipelined for want of the responses, and a
// client's unanswered SYNs or a lone ACK are no such capture.
func TestOneDirection(t *testing.T) {
	twoExchanges := func(c *convtest.Conv) {
		exchange(get, ok)(c)
		c.Idle(time.Second)
		exchange(get, ok)(c)
		c.Idle(5 * time.Second)
		c.Close(convtest.Server)
	}
	tests := []struct {
		name      string
		handshake bool
		build     func(c *convtest.Conv)
		omit      int // the side left out; -1 none
		anomaly   string
		txs       int
	}{
		{"both directions", true, twoExchanges, -1, "", 2},
		{"the client's only", true, twoExchanges, convtest.Server, "server-packets-not-captured", 2},
		{"the server's only", true, twoExchanges, convtest.Client, "client-packets-not-captured", 0},
		{"unanswered SYNs", false, func(c *convtest.Conv) {
			c.Packet(convtest.Client, layers.TCP{SYN: true}, nil)
			c.Idle(time.Second)
			c.Packet(convtest.Client, layers.TCP{SYN: true}, nil)
		}, convtest.Server, "", 0},
		{"a lone ACK", false, func(c *convtest.Conv) { c.ACK(convtest.Client) }, convtest.Server, "", 0},
		// The capture ended as a request on an older connection left: its
		// acknowledgements never moved, so nothing says the server's
		// packets were not captured.
		{"a request in the last packet", false, func(c *convtest.Conv) { c.SendUnacked(convtest.Client, get) }, convtest.Server, "", 1},
	}
	for _, tc := range tests {
		c := convtest.NewWithoutHandshake(t)
		if tc.handshake {
			c.Handshake()
		}
		tc.build(c)
		if tc.omit >= 0 {
			c.Omit[tc.omit] = true
		}
		recs := analyse(t, c.Bytes())
		if len(recs) != 1 {
			t.Errorf("%s: %d records, want 1", tc.name, len(recs))
			continue
		}
		r := recs[0]
		for _, a := range []string{"client-packets-not-captured", "server-packets-not-captured"} {
			if got := slices.Contains(r.Anomalies, a); got != (a == tc.anomaly) {
				t.Errorf("%s: anomalies %q: %s present %v, want %v", tc.name, r.Anomalies, a, got, !got)
			}
		}
		if tc.anomaly != "" && (slices.Contains(r.Anomalies, "request-unanswered") || slices.Contains(r.Anomalies, "last-request-unanswered")) {
			t.Errorf("%s: anomalies %q call a request unanswered", tc.name, r.Anomalies)
		}
		if len(r.Transactions) != tc.txs {
			t.Errorf("%s: %d transactions, want %d", tc.name, len(r.Transactions), tc.txs)
		}
		for _, x := range r.Transactions {
			if x.Pipelined {
				t.Errorf("%s: transaction %d pipelined", tc.name, x.Index)
			}
		}
		if tc.anomaly != "" && r.Close.Reason != httpflow.ReasonUnknown {
			t.Errorf("%s: reason %s (%s), want unknown", tc.name, r.Close.Reason, r.Close.Evidence)
		}
		if tc.name == "a request in the last packet" && r.Close.Reason != httpflow.ReasonCaptureEnded {
			t.Errorf("%s: reason %s (%s), want capture-ended", tc.name, r.Close.Reason, r.Close.Evidence)
		}
	}
}

// A capture that begins inside a response (tcpdump started on a busy
// server): the server's data answers no captured request, and its close
// comes moments later. The reason stays the rule's (no request in
// flight), but the evidence says the idle time is unknown, and a
// connection with a captured exchange after such data is no such case.
func TestMidResponse(t *testing.T) {
	tail := strings.Repeat("x", 700) // the end of a body whose headers came before the capture
	tests := []struct {
		name  string
		steps func(c *convtest.Conv)
		mid   bool
		inEv  string
	}{
		{"a response's tail, then the server's close", func(c *convtest.Conv) {
			c.Send(convtest.Server, tail, 0)
			c.Close(convtest.Server)
		}, true, "the connection was open before the capture began, so how long it was idle is unknown"},
		{"a response's tail, an exchange, the server's idle close", func(c *convtest.Conv) {
			c.Send(convtest.Server, tail, 0)
			exchange(get, ok)(c)
			c.Idle(5 * time.Second)
			c.Close(convtest.Server)
		}, false, "server FIN 5.00"},
		{"no data, the server's close", func(c *convtest.Conv) {
			c.ACK(convtest.Client)
			c.Close(convtest.Server)
		}, true, "the connection was open before the capture began"},
		{"a response whose request the capture lacks, the server's close", func(c *convtest.Conv) {
			c.Send(convtest.Server, ok, 0)
			c.Idle(2 * time.Second)
			c.Close(convtest.Server)
		}, false, "server FIN 2.00"},
	}
	for _, tc := range tests {
		c := convtest.NewWithoutHandshake(t)
		tc.steps(c)
		recs := analyse(t, c.Bytes())
		if len(recs) != 1 {
			t.Errorf("%s: %d records, want 1", tc.name, len(recs))
			continue
		}
		r := recs[0]
		if r.IdleUnknown() != tc.mid || r.Close.Reason != httpflow.ReasonServerIdleTimeout || !strings.Contains(r.Close.Evidence, tc.inEv) {
			t.Errorf("%s: IdleUnknown %v, reason %s, evidence %q; want %v, server-idle-timeout, evidence with %q",
				tc.name, r.IdleUnknown(), r.Close.Reason, r.Close.Evidence, tc.mid, tc.inEv)
		}
	}
}

// A response the capture lost (a kernel drop of its segments) on a
// connection that does not pipeline: the next response answers the next
// request, not the one before it, to the end of the connection; the lost
// one is answered with its status unknown. When the client pipelines,
// the responses stay in request order: nothing says which one was lost.
func TestLostResponse(t *testing.T) {
	req := func(i int) string { return fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i) }
	resp := func(i int) string { return fmt.Sprintf("HTTP/1.1 %d OK\r\nContent-Length: 2\r\n\r\nok", 200+i) }
	tail := "HTTP/1.1 404 Not Found\r\nContent-Length: 60\r\n\r\n" + strings.Repeat("A", 60)
	tests := []struct {
		name     string
		steps    func(c *convtest.Conv)
		statuses []int
		lost     int // 1-based transaction whose response was lost; 0: none
	}{
		{"whole response dropped", func(c *convtest.Conv) {
			exchange(req(1), resp(1))(c)
			c.Send(convtest.Client, req(2), 0)
			c.Drop(1)
			c.Send(convtest.Server, resp(2), 0)
			for i := 3; i <= 5; i++ {
				c.Idle(time.Second)
				exchange(req(i), resp(i))(c)
			}
		}, []int{201, 0, 203, 204, 205}, 2},
		{"headers dropped, the body's tail captured", func(c *convtest.Conv) {
			exchange(req(1), resp(1))(c)
			c.Send(convtest.Client, req(2), 0)
			c.Drop(1)
			c.Send(convtest.Server, tail, 40)
			for i := 3; i <= 4; i++ {
				exchange(req(i), resp(i))(c)
			}
		}, []int{201, 0, 203, 204}, 2},
		{"a pipelining client", func(c *convtest.Conv) {
			c.Send(convtest.Client, req(1), 0)
			c.Send(convtest.Client, req(2), 0)
			c.Send(convtest.Server, resp(1), 0)
			c.Send(convtest.Server, resp(2), 0)
			c.Send(convtest.Client, req(3), 0)
			c.Send(convtest.Client, req(4), 0)
			c.Drop(1)
			c.Send(convtest.Server, resp(3), 0)
			c.Send(convtest.Server, resp(4), 0)
		}, []int{201, 202, 204, 0}, 0},
	}
	for _, tc := range tests {
		c := convtest.New(t)
		tc.steps(c)
		c.Idle(time.Second)
		c.Close(convtest.Server)
		recs := analyse(t, c.Bytes())
		if len(recs) != 1 {
			t.Errorf("%s: %d records, want 1", tc.name, len(recs))
			continue
		}
		r := recs[0]
		var got []int
		lost := 0
		for i, x := range r.Transactions {
			got = append(got, x.Status)
			if x.ResponseLost {
				lost = i + 1
				if !x.Answered() || (i+1 < len(r.Transactions) && r.Transactions[i+1].Pipelined) {
					t.Errorf("%s: transaction %d: answered %v, the next pipelined %v; want true, false", tc.name, i+1, x.Answered(), r.Transactions[i+1].Pipelined)
				}
			}
		}
		if !slices.Equal(got, tc.statuses) || lost != tc.lost || slices.Contains(r.Anomalies, "response-not-captured") != (tc.lost > 0) {
			t.Errorf("%s: statuses %v, lost response %d, anomalies %q; want %v, %d", tc.name, got, lost, r.Anomalies, tc.statuses, tc.lost)
		}
		if tc.lost > 0 && (r.Close.Reason != httpflow.ReasonServerIdleTimeout || slices.Contains(r.Anomalies, "request-unanswered") || slices.Contains(r.Anomalies, "last-request-unanswered")) {
			t.Errorf("%s: reason %s (%s), anomalies %q; want server-idle-timeout, nothing unanswered", tc.name, r.Close.Reason, r.Close.Evidence, r.Anomalies)
		}
	}
}

// The last response answers no request the capture holds, or the last
// request's response is in bytes the capture lost: the close is judged by
// what is known, and said to be unknown where nothing decides it.
func TestOrphanAndLostLastResponse(t *testing.T) {
	closing := "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
	tests := []struct {
		name      string
		handshake bool
		steps     func(c *convtest.Conv)
		reason    httpflow.Reason
		inEv      string
		final     time.Duration // the final idle, within 10 ms; 0: not checked
		lost      bool          // the last transaction's response was lost
		idles     int           // idle periods; -1: not checked
	}{
		{"an error for bytes that were no request", true, func(c *convtest.Conv) {
			c.Send(convtest.Client, "\x16\x03\x01 not http\r\n", 0)
			c.Send(convtest.Server, closing, 0)
			c.Close(convtest.Server)
		}, httpflow.ReasonServerCloseHeader, "a response to client bytes that were no HTTP request carried Connection: close", 0, false, -1},
		{"Connection: close on a response whose request was before the capture", false, func(c *convtest.Conv) {
			c.Send(convtest.Server, closing, 0)
			c.Close(convtest.Server)
		}, httpflow.ReasonUnknown, "whose request the capture lacks; the response carried Connection: close", 0, false, -1},
		{"a lost request's response, then the server's idle close", true, func(c *convtest.Conv) {
			c.Idle(time.Second)
			c.Drop(1)
			c.Send(convtest.Client, get, 0)
			c.Send(convtest.Server, ok, 0)
			c.Idle(2 * time.Second)
			c.Close(convtest.Server)
		}, httpflow.ReasonServerIdleTimeout, "server FIN 2.00", 2 * time.Second, false, -1},
		{"HTTP/1.0, its response lost", true, func(c *convtest.Conv) {
			c.Send(convtest.Client, get10, 0)
			c.Drop(1)
			c.Send(convtest.Server, ok10, 0)
			c.Close(convtest.Server)
		}, httpflow.ReasonHTTP10, "its response was in bytes the capture lost", 0, true, -1},
		{"HTTP/1.1, its response lost", true, func(c *convtest.Conv) {
			c.Send(convtest.Client, get, 0)
			c.Drop(1)
			c.Send(convtest.Server, ok, 0)
			c.Idle(time.Second)
			c.Close(convtest.Server)
		}, httpflow.ReasonUnknown, "was in bytes the capture lost, so whether it ended the connection is unknown", 0, true, -1},
		{"an HTTP/1.0 response whose request the capture lacks", false, func(c *convtest.Conv) {
			c.Send(convtest.Server, ok10, 0)
			c.Close(convtest.Server)
		}, httpflow.ReasonUnknown, "it was HTTP/1.0 without keep-alive, so the connection ended with it", 0, false, -1},
		{"a body to the close for bytes that were no request", true, func(c *convtest.Conv) {
			c.Send(convtest.Client, "\x16\x03\x01 not http\r\n", 0)
			c.Send(convtest.Server, okEOF, 0)
			c.Close(convtest.Server)
		}, httpflow.ReasonCloseDelimited, "its body ended with the server's close", 0, false, -1},
		// Node.js past maxRequestsPerSocket answers Connection: close and
		// leaves the close to the client (samples/heldout-sim/max-requests-node).
		{"Connection: close to a lost request, then the client's close", true, func(c *convtest.Conv) {
			exchange(get, ok)(c)
			c.Idle(100 * time.Millisecond)
			c.Drop(1)
			c.Send(convtest.Client, get, 0)
			c.Send(convtest.Server, closing, 0)
			c.Idle(3 * time.Second)
			c.Close(convtest.Client)
		}, httpflow.ReasonUnknown, "after a response whose request the capture lacks; the response carried Connection: close", 3 * time.Second, false, -1},
		{"Connection: close to bytes that were no request, then the client's close", true, func(c *convtest.Conv) {
			c.Send(convtest.Client, "\x16\x03\x01 not http\r\n", 0)
			c.Send(convtest.Server, closing, 0)
			c.Idle(time.Second)
			c.Close(convtest.Client)
		}, httpflow.ReasonServerCloseHeader, "no HTTP request carried Connection: close; client FIN 1.00", 0, false, -1},
		{"an HTTP/1.0 response whose request the capture lacks, then the client's close", false, func(c *convtest.Conv) {
			c.Send(convtest.Server, ok10, 0)
			c.Close(convtest.Client)
		}, httpflow.ReasonUnknown, "after a response whose request the capture lacks; it was HTTP/1.0 without keep-alive", 0, false, -1},
		{"a lost request between two exchanges", true, func(c *convtest.Conv) {
			exchange(get, ok)(c)
			c.Idle(time.Second)
			c.Drop(1)
			c.Send(convtest.Client, get, 0)
			c.Send(convtest.Server, ok, 0)
			c.Idle(500 * time.Millisecond)
			exchange(get, ok)(c)
			c.Idle(2 * time.Second)
			c.Close(convtest.Server)
		}, httpflow.ReasonServerIdleTimeout, "server FIN 2.00", 2 * time.Second, false, 0},
		// Tornado answers HTTP/1.0 in HTTP/1.1 without a Connection
		// header, then closes (samples/heldout-sim/http10-tornado, less
		// the request's packet): a close that prompt may be the lost
		// request's.
		{"a lost request's persistent-looking response, then the server's prompt close", true, func(c *convtest.Conv) {
			c.Drop(1)
			c.Send(convtest.Client, get10, 0)
			c.Send(convtest.Server, ok, 0)
			c.Idle(300 * time.Microsecond)
			c.Close(convtest.Server)
		}, httpflow.ReasonUnknown, "a close that soon is the one a request asks for", 0, false, -1},
		// uvicorn (h11) answers a stray CRLF with a 400 of its own
		// (samples/heldout-sim/post-body-crlf-uvicorn): the capture holds
		// every client byte, no request was in the period, and it stays.
		{"an error for a stray CRLF between two exchanges", true, func(c *convtest.Conv) {
			exchange(get, ok)(c)
			c.Idle(100 * time.Millisecond)
			c.Send(convtest.Client, "\r\n", 0)
			c.Send(convtest.Server, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 0)
			c.Idle(500 * time.Millisecond)
			exchange(get, ok)(c)
			c.Idle(2 * time.Second)
			c.Close(convtest.Server)
		}, httpflow.ReasonServerIdleTimeout, "server FIN 2.00", 2 * time.Second, false, 1},
	}
	for _, tc := range tests {
		c := convtest.NewWithoutHandshake(t)
		if tc.handshake {
			c = convtest.New(t)
		}
		tc.steps(c)
		recs := analyse(t, c.Bytes())
		if len(recs) != 1 {
			t.Errorf("%s: %d records, want 1", tc.name, len(recs))
			continue
		}
		r := recs[0]
		if r.Close.Reason != tc.reason || !strings.Contains(r.Close.Evidence, tc.inEv) {
			t.Errorf("%s: reason %s, evidence %q; want %s, evidence with %q", tc.name, r.Close.Reason, r.Close.Evidence, tc.reason, tc.inEv)
		}
		if tc.final > 0 && (r.FinalIdle == nil || r.FinalIdle.Duration < tc.final || r.FinalIdle.Duration > tc.final+10*time.Millisecond) {
			t.Errorf("%s: final idle %+v, want %v from the end of the response", tc.name, r.FinalIdle, tc.final)
		}
		if tc.idles >= 0 && len(r.IdlePeriods) != tc.idles {
			t.Errorf("%s: idle periods %+v, want %d (none across a response whose request was lost)", tc.name, r.IdlePeriods, tc.idles)
		}
		n := len(r.Transactions)
		gotLost := n > 0 && r.Transactions[n-1].ResponseLost
		if gotLost != tc.lost || slices.Contains(r.Anomalies, "response-not-captured") != tc.lost ||
			tc.lost && slices.Contains(r.Anomalies, "last-request-unanswered") {
			t.Errorf("%s: last response lost %v, anomalies %q; want lost %v", tc.name, gotLost, r.Anomalies, tc.lost)
		}
	}
}

// A lost HEAD request leaves its response answering no captured request;
// the body its headers announce never comes, and the next response, in
// the next segment, begins where the body would have been: it pairs with
// its own request, and so do the ones after.
func TestLostHEADRequest(t *testing.T) {
	for _, head := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", // no length: to the close, but for the HEAD
	} {
		c := convtest.New(t)
		exchange(get, ok)(c)
		c.Drop(1)
		c.Send(convtest.Client, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", 0)
		c.Send(convtest.Server, head, 0)
		exchange("GET /b HTTP/1.1\r\n\r\n", "HTTP/1.1 203 OK\r\nContent-Length: 2\r\n\r\nok")(c)
		exchange("GET /c HTTP/1.1\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n")(c)
		c.Idle(time.Second)
		c.Close(convtest.Server)
		recs := analyse(t, c.Bytes())
		if len(recs) != 1 {
			t.Fatalf("%q: %d records", head, len(recs))
		}
		var got []int
		for _, x := range recs[0].Transactions {
			got = append(got, x.Status)
		}
		if r := recs[0]; !slices.Equal(got, []int{200, 203, 204}) || r.Close.Reason != httpflow.ReasonServerIdleTimeout {
			t.Errorf("HEAD answered %q: statuses %v, reason %s (%s); want [200 203 204], server-idle-timeout", head, got, r.Close.Reason, r.Close.Evidence)
		}
	}
}
