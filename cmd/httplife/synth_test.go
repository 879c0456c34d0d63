package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/httplife/httplife/internal/convtest"
)

type oneConn struct {
	Transactions []struct {
		Method   string `json:"method"`
		URI      string `json:"uri"`
		Status   *int   `json:"status"`
		Complete bool   `json:"complete"`
	} `json:"transactions"`
	Idle []struct {
		Duration float64 `json:"duration_s"`
	} `json:"idle_periods"`
	Close struct {
		FirstFinBy string `json:"first_fin_by"`
		Reason     string `json:"reason"`
	} `json:"close"`
	Missing   map[string]int `json:"missing_bytes"`
	Anomalies []string       `json:"anomalies"`
}

func analyseOne(t *testing.T, path string) oneConn {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run([]string{"analyse", "--format", "json", path}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var doc struct{ Connections []oneConn }
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Connections) != 1 {
		t.Fatalf("%d connections, want 1", len(doc.Connections))
	}
	return doc.Connections[0]
}

const okResp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// Hostile HTTP gets an anomaly and bounded memory; the TCP lifecycle and
// the requests around it are still reported.
func TestHostileHTTP(t *testing.T) {
	tests := []struct {
		name       string
		request    string
		response   string
		wantTx     int // transactions reported
		anomaly    string
		lastStatus int
	}{
		{"megabyte header line", "GET /a HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 3<<20) + "\r\n\r\n", okResp, 2, "headers-too-large", 200},
		{"ten thousand headers", "GET /a HTTP/1.1\r\n" + strings.Repeat("X-H: v\r\n", 10000) + "\r\n", okResp, 2, "", 200},
		{"bogus chunk size", "GET /a HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nxx\r\n", 2, "response-bad-chunk-size", 0},
		{"overflowing content-length", "GET /a HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 184467440737095516160\r\n\r\nok", 2, "response-bad-content-length", 0},
		{"content-length and transfer-encoding", "POST /a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", okResp, 2, "content-length-with-transfer-encoding", 200},
		{"two different content-lengths", "POST /a HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab", okResp, 2, "conflicting-content-length", 200},
	}
	for _, tc := range tests {
		c := convtest.New(t)
		c.Send(0, tc.request, 1448)
		c.Send(1, tc.response, 1448)
		c.Idle(100 * time.Millisecond)
		c.Send(0, "GET /next HTTP/1.1\r\n\r\n", 1448)
		c.Send(1, okResp, 1448)
		c.Idle(2 * time.Second)
		c.Close(convtest.Server)
		got := analyseOne(t, c.File())
		if len(got.Transactions) < 1 || got.Transactions[0].URI != "/a" {
			t.Errorf("%s: transactions %+v, want the first to be /a", tc.name, got.Transactions)
		}
		if tc.anomaly != "" && !strings.Contains(strings.Join(got.Anomalies, " "), tc.anomaly) {
			t.Errorf("%s: anomalies %q, want %q", tc.name, got.Anomalies, tc.anomaly)
		}
		if got.Close.FirstFinBy != "server" || got.Close.Reason == "" {
			t.Errorf("%s: close %+v, want the server's FIN and a reason", tc.name, got.Close)
		}
		if tc.lastStatus != 0 {
			last := got.Transactions[len(got.Transactions)-1]
			if len(got.Transactions) != tc.wantTx || last.URI != "/next" || last.Status == nil || *last.Status != tc.lastStatus {
				t.Errorf("%s: transactions %+v, want %d ending with /next %d", tc.name, got.Transactions, tc.wantTx, tc.lastStatus)
			}
		}
	}
}

// A kernel drop in the middle of a response body: the bytes are counted as
// missing, the framing carries on (Content-Length known), and the next
// request is still found; no transaction is invented.
func TestLossyCaptureResynchronises(t *testing.T) {
	body := strings.Repeat("x", 5000)
	c := convtest.New(t)
	c.Send(0, "GET /big HTTP/1.1\r\n\r\n", 1448)
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + body
	c.Send(1, resp[:1448], 1448)
	c.Drop(1)
	c.Send(1, resp[1448:2896], 1448)
	c.Send(1, resp[2896:], 1448)
	c.Idle(300 * time.Millisecond)
	// A request whose head is lost: parsing must pick up the one after it.
	c.Drop(1)
	c.Send(0, "GET /lost HTTP/1.1\r\n\r\n", 1448)
	c.Send(1, okResp, 1448)
	c.Idle(300 * time.Millisecond)
	c.Send(0, "GET /after HTTP/1.1\r\n\r\n", 1448)
	c.Send(1, okResp, 1448)
	c.Idle(time.Second)
	c.Close(convtest.Server)
	got := analyseOne(t, c.File())
	var uris []string
	for _, tx := range got.Transactions {
		uris = append(uris, tx.URI)
	}
	if strings.Join(uris, ",") != "/big,/after" {
		t.Errorf("transactions %v, want /big,/after (the lost request is not invented)", uris)
	}
	if got.Missing["server"] != 1448 || got.Missing["client"] != len("GET /lost HTTP/1.1\r\n\r\n") {
		t.Errorf("missing bytes %v, want server 1448 and client %d", got.Missing, len("GET /lost HTTP/1.1\r\n\r\n"))
	}
	if len(got.Transactions) > 0 && got.Transactions[0].Complete {
		t.Errorf("/big reported complete despite missing bytes")
	}
	if !strings.Contains(strings.Join(got.Anomalies, " "), "content-gap") {
		t.Errorf("anomalies %q, want content-gap", got.Anomalies)
	}
}
