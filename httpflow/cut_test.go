package httpflow

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/tcpstate"
)

// Payloads the capture did not keep whole: the snaplen cut them (a cut), or
// segments are missing (a gap).

// TestFramingCutPayloads feeds the framer captured bytes and cuts or gaps
// between them.
func TestFramingCutPayloads(t *testing.T) {
	type step struct {
		data string
		gap  int
		lost bool // a gap of segments the capture lacks, not a cut
	}
	tests := []struct {
		name    string
		request bool
		methods []string
		steps   []step
		closeAt bool
		want    []string
	}{
		{name: "status line whole, headers cut: counted, ends at the next status line",
			steps: []step{{data: "HTTP/1.1 200 OK\r\nServer: ngin", gap: 300}, {data: "HTTP/1.1 204 No Content\r\n\r\n"}},
			want:  []string{"begin 200", "headers cut", "end 329 bytes complete=false framing=", "begin 204", "end 27 bytes complete=true framing=no-body"}},
		{name: "headers lost with a segment: the same, and a content gap",
			steps: []step{{data: "HTTP/1.1 200 OK\r\nServer: ngin", gap: 300, lost: true}, {data: "HTTP/1.1 204 No Content\r\n\r\n"}},
			want: []string{"begin 200", "anomaly content-gap", "headers cut", "end 329 bytes complete=false framing=",
				"begin 204", "end 27 bytes complete=true framing=no-body"}},
		{name: "body bytes after the cut of a message's segments are its",
			steps: []step{{data: "HTTP/1.1 200 OK\r\nServer: ngin", gap: 1418}, {data: "cccccccc\nline 2 ccc", gap: 1428},
				{data: "cccc\nlast", gap: 800}}, closeAt: true,
			want: []string{"begin 200", "headers cut", "end 3703 bytes complete=false framing="}},
		{name: "body cut, Content-Length keeps the framing",
			steps: []step{{data: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", gap: 7}, {data: "HTTP/1.1 204 No Content\r\n\r\n"}},
			want:  []string{"begin 200", "end 49 bytes complete=false framing=content-length", "begin 204", "end 27 bytes complete=true framing=no-body"}},
		{name: "body cut past its end: the next message is found",
			steps: []step{{data: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", gap: 40}, {data: "HTTP/1.1 204 No Content\r\n\r\n"}},
			want:  []string{"begin 200", "end 49 bytes complete=false framing=content-length", "begin 204", "end 27 bytes complete=true framing=no-body"}},
		{name: "chunk data cut: the chunk framing goes on",
			steps: []step{{data: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", gap: 3}, {data: "\r\n0\r\n\r\n"}},
			want:  []string{"begin 200", "end 62 bytes complete=false framing=chunked"}},
		{name: "cut past the chunk: the end is unknown, the close ends it",
			steps: []step{{data: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", gap: 50}}, closeAt: true,
			want: []string{"begin 200", "end 102 bytes complete=false framing=chunked"}},
		{name: "request line cut in its target: the request is counted", request: true,
			steps: []step{{data: "GET /a/very/long/pa", gap: 80}, {data: "GET /b HTTP/1.1\r\n\r\n"}},
			want: []string{"begin GET /a/very/long/pa", "headers cut", "end 99 bytes complete=false framing=",
				"begin GET /b", "end 19 bytes complete=true framing=no-body"}},
		{name: "request line cut in the next segment too", request: true,
			steps: []step{{data: "GET / HTTP/1.1\r\nHost: a", gap: 70}, {data: "POST /upload/somewhere/lo", gap: 900}}, closeAt: true,
			want: []string{"begin GET /", "headers cut", "end 93 bytes complete=false framing=",
				"begin POST /upload/somewhere/lo", "headers cut", "end 925 bytes complete=false framing="}},
		{name: "request line cut in its version", request: true,
			steps: []step{{data: "GET /images/sf.net_box.gif HTT", gap: 466}}, closeAt: true,
			want: []string{"begin GET /images/sf.net_box.gif", "headers cut", "end 496 bytes complete=false framing="}},
		{name: "status line cut before its code: no message", methods: []string{"GET", "GET"},
			steps: []step{{data: "HTTP/1.1 2", gap: 100}, {data: "HTTP/1.1 204 No Content\r\n\r\n"}},
			want:  []string{"begin 204", "end 27 bytes complete=true framing=no-body"}},
		{name: "an interim response cut, then the final one", methods: []string{"POST"},
			steps: []step{{data: "HTTP/1.1 100 Continue\r\n", gap: 2}, {data: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}},
			want: []string{"begin 100", "headers cut", "end 25 bytes complete=false framing=", "begin 200",
				"end 38 bytes complete=true framing=content-length"}},
		{name: "a body line that is no start line stays in the body",
			steps: []step{{data: "HTTP/1.1 200 OK\r\nX: y", gap: 10}, {data: "HTTP/1.1 is a protocol\r\nmore", gap: 5}}, closeAt: true,
			want: []string{"begin 200", "headers cut", "end 64 bytes complete=false framing="}},
	}
	for _, tt := range tests {
		r := &recorder{methods: tt.methods}
		f := &framer{request: tt.request, h: r}
		at := time.Unix(0, 0)
		for _, s := range tt.steps {
			f.feed([]byte(s.data), at)
			if s.gap > 0 {
				f.gap(s.gap, at, !s.lost)
			}
			at = at.Add(time.Millisecond)
		}
		if tt.closeAt {
			f.close(true)
		}
		if got, want := strings.Join(r.events, "\n"), strings.Join(tt.want, "\n"); got != want {
			t.Errorf("%s:\ngot\n%s\nwant\n%s", tt.name, got, want)
		}
	}
}

// seg is one segment of a connection between 10.0.0.1:40000 and
// 10.0.0.2:80 with ISNs 1000 and 5000: data are the captured bytes, wire
// their length on the wire.
type cutSeg struct {
	ms       int
	fromCli  bool
	flags    uint8
	seq, ack uint32
	data     string
	wire     int
}

// analyse runs segments through a table and the analyser and returns the
// records.
func analyse(t *testing.T, segs []cutSeg) []*Connection {
	t.Helper()
	var got []*Connection
	a := NewAnalyzer(Config{}, Emitting(new(Memory), func(c *Connection) { got = append(got, c) }))
	tab := tcpstate.NewTable(tcpstate.DefaultConfig(), a.Factory())
	cl, sv := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")
	t0 := time.Unix(1000, 0)
	for _, s := range segs {
		cs := &capture.Segment{Time: t0.Add(time.Duration(s.ms) * time.Millisecond), Src: cl, Dst: sv, Flags: s.flags,
			Seq: s.seq, Ack: s.ack, Payload: []byte(s.data), PayloadLen: max(s.wire, len(s.data))}
		if !s.fromCli {
			cs.Src, cs.Dst = sv, cl
		}
		tab.Add(cs)
	}
	tab.Flush()
	return got
}

const (
	syn = capture.SYN
	ack = capture.ACK
	fin = capture.FIN
	pa  = capture.PSH | capture.ACK
)

// snaplenConn is a keep-alive connection captured with `tcpdump -s 96`
// (30 bytes of each payload): GET / (96 bytes), a 331-byte response;
// 200 ms idle; GET /c.txt (101 bytes), a 4144-byte response in three
// segments; the server closes 1 s later.
func snaplenConn() []cutSeg {
	return []cutSeg{
		{0, true, syn, 1000, 0, "", 0},
		{1, false, syn | ack, 5000, 1001, "", 0},
		{2, true, ack, 1001, 5001, "", 0},
		{3, true, pa, 1001, 5001, "GET / HTTP/1.1\r\nHost: 10.10.0.", 96},
		{4, false, pa, 5001, 1097, "HTTP/1.1 200 OK\r\nServer: nginx", 331},
		{5, true, ack, 1097, 5332, "", 0},
		{205, true, pa, 1097, 5332, "GET /c.txt HTTP/1.1\r\nHost: 10.", 101},
		{206, false, ack, 5332, 1198, "HTTP/1.1 200 OK\r\nServer: nginx", 1448},
		{206, false, ack, 6780, 1198, "ccccccccccc\nc.txt line 020 ccc", 1448},
		{206, false, pa, 8228, 1198, "cccccccccccccccccccccccccc\nc.", 1248},
		{207, true, ack, 1198, 9476, "", 0},
		{1206, false, fin | ack, 9476, 1198, "", 0},
		{1207, true, fin | ack, 1198, 9477, "", 0},
		{1208, false, ack, 9477, 1199, "", 0},
	}
}

func TestSnaplenConnectionIsAnalysed(t *testing.T) {
	got := analyse(t, snaplenConn())
	if len(got) != 1 {
		t.Fatalf("%d records, want 1", len(got))
	}
	r := got[0]
	if len(r.Transactions) != 2 {
		t.Fatalf("%d transactions, want 2", len(r.Transactions))
	}
	for i, want := range []struct {
		uri        string
		reqB, resB int64
	}{{"/", 96, 331}, {"/c.txt", 101, 4144}} {
		tx := r.Transactions[i]
		if tx.Status != 200 || tx.URI != want.uri || tx.RequestBytes != want.reqB || tx.ResponseBytes != want.resB ||
			tx.Complete || tx.Framing != BodyUnknown || tx.Pipelined {
			t.Errorf("transaction %d: status %d uri %q bytes %d/%d complete %v framing %q pipelined %v; want 200 %q %d/%d, incomplete, unknown framing, not pipelined",
				i+1, tx.Status, tx.URI, tx.RequestBytes, tx.ResponseBytes, tx.Complete, tx.Framing, tx.Pipelined, want.uri, want.reqB, want.resB)
		}
	}
	at := func(ms int) time.Time { return time.Unix(1000, 0).Add(time.Duration(ms) * time.Millisecond) }
	if tx := r.Transactions[1]; !tx.ResponseEndAt.Equal(at(206)) || !tx.RequestEndAt.Equal(at(205)) {
		t.Errorf("transaction 2 ends: request %v response %v; want the last captured segments' times", tx.RequestEndAt, tx.ResponseEndAt)
	}
	if len(r.IdlePeriods) != 1 || r.IdlePeriods[0].Duration != 201*time.Millisecond {
		t.Errorf("idle periods %+v, want one of 201 ms", r.IdlePeriods)
	}
	if r.FinalIdle == nil || r.FinalIdle.Duration != 1000*time.Millisecond {
		t.Errorf("final idle %+v, want 1 s", r.FinalIdle)
	}
	if r.Close.Reason != ReasonServerIdleTimeout {
		t.Errorf("close reason %v (%s), want server-idle-timeout", r.Close.Reason, r.Close.Evidence)
	}
	var cut PerSide // what the snaplen kept out
	for _, s := range snaplenConn() {
		if n := uint64(max(s.wire-len(s.data), 0)); s.fromCli {
			cut.Client += n
		} else {
			cut.Server += n
		}
	}
	if len(r.Anomalies) != 0 || r.MissingBytes != cut || strings.ContainsAny(r.History, "Gg") {
		t.Errorf("anomalies %v, missing bytes %+v, history %q; want no anomaly and no G: what the snaplen cut is not an error, only bytes not captured",
			r.Anomalies, r.MissingBytes, r.History)
	}
}

// A close at once after a response whose exchange's headers were cut: the
// close the request's Connection: close makes, said to be assumed; one a
// second later is an idle timeout; a lost segment is still a content gap.
func TestCutHeadersAndTheClose(t *testing.T) {
	conn := func(finAfter int) []cutSeg {
		return []cutSeg{
			{0, true, syn, 1000, 0, "", 0},
			{1, false, syn | ack, 5000, 1001, "", 0},
			{2, true, ack, 1001, 5001, "", 0},
			{3, true, pa, 1001, 5001, "GET /a.txt HTTP/1.1\r\nHost: 10.", 96},
			{4, false, pa, 5001, 1097, "HTTP/1.1 200 OK\r\nServer: nginx", 300},
			{4 + finAfter, false, fin | ack, 5301, 1097, "", 0},
			{5 + finAfter, true, fin | ack, 1097, 5302, "", 0},
			{6 + finAfter, false, ack, 5302, 1098, "", 0},
		}
	}
	for _, tt := range []struct {
		finAfter int
		want     Reason
		evidence string
	}{
		{0, ReasonClientCloseHeader, "(assumed)"},
		{1000, ReasonServerIdleTimeout, "server FIN 1.000 s after the last response"},
	} {
		r := analyse(t, conn(tt.finAfter))[0]
		if r.Close.Reason != tt.want || !strings.Contains(r.Close.Evidence, tt.evidence) {
			t.Errorf("FIN %d ms after the response: reason %v (%s), want %v with %q", tt.finAfter, r.Close.Reason, r.Close.Evidence, tt.want, tt.evidence)
		}
		if len(r.Transactions) != 1 || r.Transactions[0].Status != 200 {
			t.Errorf("FIN %d ms after the response: transactions %+v, want one answered 200", tt.finAfter, r.Transactions)
		}
	}
	// The same response with its second half lost instead of cut.
	segs := conn(1000)
	segs[4] = cutSeg{4, false, pa, 5001, 1097, "HTTP/1.1 200 OK\r\nServer: nginx", 0}
	segs = append(segs[:5], append([]cutSeg{{4, true, ack, 1097, 5301, "", 0}}, segs[5:]...)...)
	r := analyse(t, segs)[0]
	if len(r.Transactions) != 1 || r.Transactions[0].Status != 200 || !contains(r.Anomalies, "content-gap") {
		t.Errorf("lost segment: transactions %+v anomalies %v; want the 200 counted and a content-gap", r.Transactions, r.Anomalies)
	}
}
