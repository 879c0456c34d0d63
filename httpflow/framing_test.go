package httpflow

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder is a handler that logs what the framer reports.
type recorder struct {
	events  []string
	methods []string // for responses: the method of each request, in order
	n       int
}

func (r *recorder) begin(m *message) {
	if m.status == 0 { // a request
		r.events = append(r.events, "begin "+m.method+" "+string(m.uri))
	} else {
		r.events = append(r.events, fmt.Sprintf("begin %d", m.status))
	}
}

func (r *recorder) headers(m *message) (BodyKind, int64, bool) {
	if m.status == 0 {
		k, n := requestBody(&m.length)
		return k, n, false
	}
	method := "GET"
	if r.n < len(r.methods) {
		method = r.methods[r.n]
	}
	if m.status >= 200 || m.status == 101 {
		r.n++
	}
	return responseBody(method, m.status, &m.length)
}

func (r *recorder) headersCut(m *message) {
	r.events = append(r.events, "headers cut")
	if m.status >= 200 || m.status == 101 {
		r.n++ // this response used its request, as headers would have
	}
}

func (r *recorder) end(m *message) {
	r.events = append(r.events, fmt.Sprintf("end %d bytes complete=%v framing=%s", m.bytes, m.complete, m.body))
}
func (r *recorder) anomaly(name string) { r.events = append(r.events, "anomaly "+name) }
func (r *recorder) strayCRLF(n int) {
	// Consecutive reports are one run of stray bytes, however they were split.
	if k := len(r.events) - 1; k >= 0 && strings.HasPrefix(r.events[k], "stray ") {
		var m int
		fmt.Sscanf(r.events[k], "stray %d", &m)
		n += m
		r.events = r.events[:k]
	}
	r.events = append(r.events, fmt.Sprintf("stray %d", n))
}

var framingCases = []struct {
	name    string
	request bool
	methods []string
	in      string
	want    []string
	closeAt bool // send a FIN after the input
}{
	{name: "get", request: true, in: "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		want: []string{"begin GET /", "end 27 bytes complete=true framing=no-body"}},
	{name: "post with body and stray CRLF", request: true,
		in: "POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\r\nGET / HTTP/1.0\r\n\r\n",
		want: []string{"begin POST /p", "end 44 bytes complete=true framing=content-length", "stray 2",
			"begin GET /", "end 18 bytes complete=true framing=no-body"}},
	{name: "chunked request", request: true,
		in:   "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		want: []string{"begin POST /c", "end 63 bytes complete=true framing=chunked"}},
	{name: "pipelined", request: true, in: "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
		want: []string{"begin GET /a", "end 19 bytes complete=true framing=no-body", "begin GET /b", "end 19 bytes complete=true framing=no-body"}},
	{name: "content-length response", in: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
		want: []string{"begin 200", "end 41 bytes complete=true framing=content-length"}},
	{name: "chunked response with trailer and extension", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
		want: []string{"begin 200", "end 76 bytes complete=true framing=chunked"}},
	{name: "head response has no body", methods: []string{"HEAD"}, in: "HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n",
		want: []string{"begin 200", "end 39 bytes complete=true framing=no-body"}},
	{name: "304 and 204 have no body", methods: []string{"GET", "GET"},
		in:   "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		want: []string{"begin 304", "end 48 bytes complete=true framing=no-body", "begin 204", "end 27 bytes complete=true framing=no-body"}},
	{name: "interim 100 then 200", methods: []string{"POST"},
		in:   "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		want: []string{"begin 100", "end 25 bytes complete=true framing=no-body", "begin 200", "end 38 bytes complete=true framing=content-length"}},
	{name: "close-delimited", in: "HTTP/1.0 200 OK\r\n\r\nbody until close", closeAt: true,
		want: []string{"begin 200", "end 35 bytes complete=true framing=close-delimited"}},
	{name: "truncated content-length at close", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", closeAt: true,
		want: []string{"begin 200", "end 42 bytes complete=false framing=content-length"}},
	{name: "101 switches to a tunnel", in: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
		want: []string{"begin 101", "end 56 bytes complete=true framing=tunnel"}},
	{name: "bogus chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nxx",
		want: []string{"begin 200", "anomaly bad-chunk-size", "end 69 bytes complete=false framing=chunked"}},
	{name: "overflowing content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		want: []string{"begin 200", "anomaly bad-content-length", "end 60 bytes complete=false framing=close-delimited"}, closeAt: true},
	// RFC 9112 §6.3 rule 5: a request whose lengths conflict has no
	// determinable end (a server answers 400 and closes); its framing is
	// invalid and the framer looks for the next request line.
	{name: "conflicting content-length", request: true, in: "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
		want: []string{"begin POST /", "anomaly conflicting-content-length", "end 57 bytes complete=false framing=invalid"}},
	{name: "conflicting content-length in a response", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy", closeAt: true,
		want: []string{"begin 200", "anomaly conflicting-content-length", "end 59 bytes complete=false framing=close-delimited"}},
	{name: "both content-length and chunked", in: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		want: []string{"begin 200", "anomaly content-length-with-transfer-encoding", "end 73 bytes complete=true framing=chunked"}},
	{name: "not http", request: true, in: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n",
		want: []string{"anomaly non-http-payload"}},
	{name: "extension method", request: true, in: "M-SEARCH * HTTP/1.1\r\nMan: \"ssdp:discover\"\r\n\r\n",
		want: []string{"begin M-SEARCH *", "end 45 bytes complete=true framing=no-body"}},
	// A request line that is not one but names HTTP: a request all the
	// same, its response paired with it (a server answers 400).
	{name: "method with a delimiter", request: true, in: "GE{T / HTTP/1.1\r\n\r\n",
		want: []string{"anomaly malformed-request-line", "begin  GE{T /", "end 19 bytes complete=true framing=no-body"}},
	{name: "version cut short", request: true, in: "GET / HTTP/1.\nHost: a\n\n",
		want: []string{"anomaly malformed-request-line", "begin GET / HTTP/1.", "end 23 bytes complete=true framing=no-body"}},
	{name: "no target", request: true, in: "OPTIONS HTTP/1.1\r\nHost: a\r\n\r\n",
		want: []string{"anomaly malformed-request-line", "begin OPTIONS ", "end 29 bytes complete=true framing=no-body"}},
	{name: "no spaces, UTF-8 method", request: true, in: "\xc3\x83\xc3\x82/HTTP/1.1\r\n\r\n",
		want: []string{"anomaly malformed-request-line", "begin  \xc3\x83\xc3\x82/HTTP/1.1", "end 17 bytes complete=true framing=no-body"}},
	{name: "a request line after binary bytes", request: true, in: "\xdd\x00\x00\x00 GET /txt HTTP/1.1\r\nHost: a\r\n\r\n",
		want: []string{"anomaly malformed-request-line", "begin GET /txt", "end 35 bytes complete=true framing=no-body"}},
	{name: "HTTP/0.9 request is not taken for a malformed one", request: true, in: "GET /index.html\r\n",
		want: []string{"anomaly non-http-payload"}},
	{name: "another protocol's line", request: true, in: "EHLO mail.example.com\r\n",
		want: []string{"anomaly non-http-payload"}},
	{name: "method with a control byte", request: true, in: "G\x7fT / HTTP/1.1\r\n\r\n",
		want: []string{"anomaly non-http-payload"}},
	{name: "resync after garbage", request: true, in: "garbage line\r\nmore\r\nGET /x HTTP/1.1\r\n\r\n",
		want: []string{"anomaly non-http-payload", "begin GET /x", "end 19 bytes complete=true framing=no-body"}},
}

func runFramer(request bool, methods []string, chunks []string, closeAt bool) []string {
	r := &recorder{methods: methods}
	f := &framer{request: request, h: r}
	t0 := time.Unix(0, 0)
	for i, c := range chunks {
		f.feed([]byte(c), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if closeAt {
		f.close(true)
	}
	return r.events
}

func TestFramingSplitAtEveryOffset(t *testing.T) {
	for _, tc := range framingCases {
		whole := runFramer(tc.request, tc.methods, []string{tc.in}, tc.closeAt)
		if got, want := strings.Join(whole, "\n"), strings.Join(tc.want, "\n"); got != want {
			t.Errorf("%s: fed whole %q:\ngot\n%s\nwant\n%s", tc.name, tc.in, got, want)
			continue
		}
		for i := 1; i < len(tc.in); i++ {
			if startsWithStartLine([]byte(tc.in[i:]), tc.request) {
				continue // a segment that begins with a start line begins a message (framer.segmentStarts)
			}
			got := runFramer(tc.request, tc.methods, []string{tc.in[:i], tc.in[i:]}, tc.closeAt)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("%s: split at %d:\ngot\n%s\nwant\n%s", tc.name, i, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				break
			}
		}
		// One byte at a time.
		var bytesIn []string
		for i := 0; i < len(tc.in); i++ {
			bytesIn = append(bytesIn, tc.in[i:i+1])
		}
		if got := runFramer(tc.request, tc.methods, bytesIn, tc.closeAt); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: byte by byte:\ngot\n%s\nwant\n%s", tc.name, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

func TestFramingHugeHeaderIsBounded(t *testing.T) {
	r := &recorder{}
	f := &framer{request: true, h: r}
	f.feed([]byte("GET / HTTP/1.1\r\nX-Big: "), time.Unix(0, 0))
	chunk := []byte(strings.Repeat("a", 1<<16))
	for i := 0; i < 64; i++ { // 4 MiB header line
		f.feed(chunk, time.Unix(0, 0))
		if cap(f.line) > 2*maxLine {
			t.Fatalf("line buffer grew to %d bytes", cap(f.line))
		}
	}
	got := strings.Join(r.events, "\n")
	if !strings.Contains(got, "anomaly headers-too-large") {
		t.Errorf("4 MiB header: got events\n%s\nwant a headers-too-large anomaly", got)
	}
}

func TestFramingGapInBodyKeepsFraming(t *testing.T) {
	r := &recorder{}
	f := &framer{h: r}
	f.feed([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"), time.Unix(0, 0))
	f.gap(4, time.Unix(0, 0), false)
	f.feed([]byte("xyzHTTP/1.1 204 No Content\r\n\r\n"), time.Unix(0, 0))
	want := "begin 200\nanomaly content-gap\nend 49 bytes complete=false framing=content-length\nbegin 204\nend 27 bytes complete=true framing=no-body"
	if got := strings.Join(r.events, "\n"); got != want {
		t.Errorf("gap inside a body:\ngot\n%s\nwant\n%s", got, want)
	}
}

func TestFramingResyncAfterGapInHeaders(t *testing.T) {
	r := &recorder{}
	f := &framer{request: true, h: r}
	f.feed([]byte("GET /a HTTP/1.1\r\nHo"), time.Unix(0, 0))
	f.gap(100, time.Unix(0, 0), false)
	f.feed([]byte("rest of something\r\nGET /b HTTP/1.1\r\n\r\n"), time.Unix(0, 0))
	got := strings.Join(r.events, "\n")
	// The request is counted; its end is where the next request starts:
	// the line after the gap is its.
	want := "begin GET /a\nanomaly content-gap\nheaders cut\nend 138 bytes complete=false framing=\nbegin GET /b\nend 19 bytes complete=true framing=no-body"
	if got != want {
		t.Errorf("gap in headers:\ngot\n%s\nwant\n%s", got, want)
	}
}

// nopHandler takes what the framer reports, deciding body lengths as a flow
// does (a GET for every response).
type nopHandler struct{}

func (nopHandler) begin(*message) {}
func (nopHandler) headers(m *message) (BodyKind, int64, bool) {
	if m.method != "" {
		k, n := requestBody(&m.length)
		return k, n, false
	}
	return responseBody("GET", m.status, &m.length)
}
func (nopHandler) headersCut(*message) {}
func (nopHandler) end(*message)        {}
func (nopHandler) anomaly(string)      {}
func (nopHandler) strayCRLF(n int)     {}

// BenchmarkFraming frames the samples' real request and response streams,
// each fed as one segment.
func BenchmarkFraming(b *testing.B) {
	streams := realStreams(b)
	var n int64
	for _, s := range streams {
		n += int64(len(s[0]) + len(s[1]))
	}
	b.SetBytes(n)
	b.ReportAllocs()
	t0 := time.Unix(1, 0)
	for b.Loop() {
		for _, s := range streams {
			req := framer{request: true, h: nopHandler{}}
			resp := framer{h: nopHandler{}}
			req.feed(s[0], t0)
			resp.feed(s[1], t0)
			req.close(true)
			resp.close(true)
		}
	}
}

// TestIsToken checks the token table against RFC 9110's tchar, byte by
// byte, and the length bounds.
func TestIsToken(t *testing.T) {
	const delims = "()<>@,;:\\\"/[]?={}"
	for c := 0; c < 256; c++ {
		want := c > ' ' && c < 0x7f && !strings.ContainsRune(delims, rune(c))
		if got := isToken([]byte{byte(c)}); got != want {
			t.Errorf("isToken(%q) = %v, want %v", byte(c), got, want)
		}
	}
	for _, tc := range []struct {
		in   string
		want bool
	}{{"", false}, {"GET", true}, {"M-SEARCH", true}, {strings.Repeat("A", 32), true}, {strings.Repeat("A", 33), false}, {"GE T", false}} {
		if got := isToken([]byte(tc.in)); got != tc.want {
			t.Errorf("isToken(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// A capture that begins inside a message whose body does not end in a
// line feed (JSON), on a connection whose every message is such: the
// segment that starts with the next start line begins it, so the stream
// is followed again from the first message whose start is captured. A
// request line split inside its method, or with a method that is not a
// common one, is no such segment: the next is read with the tail.
func TestSegmentStartsAfterBodyTail(t *testing.T) {
	req := "POST /api HTTP/1.1\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"b\":2}"
	tests := []struct {
		name    string
		request bool
		chunks  []string
		begins  int
	}{
		{"responses after a body's tail", false, []string{"\"y\":0,\n\"x\":[1,2]}", resp, resp, resp}, 3},
		{"requests after a body's tail", true, []string{"\"y\":0,\n\"x\":[1,2]}", req, req, req}, 3},
		{"requests after a form body's tail, no line feed before them", true, []string{"f124=xxxx&f125=yy", req, req}, 2},
		{"a request line split in its method", true, []string{"\"y\":0,\n\"x\":[1,2]}", "PO", req[2:], req}, 1},
		{"a request line with an uncommon method", true, []string{"\"y\":0,\n\"x\":[1,2]}", "MKCOL /a HTTP/1.1\r\n\r\n", req}, 1},
	}
	for _, tc := range tests {
		ev := runFramer(tc.request, []string{"POST"}, tc.chunks, false)
		n := 0
		for _, e := range ev {
			if e == "begin POST /api" || e == "begin 200" {
				n++
			}
		}
		if n != tc.begins {
			t.Errorf("%s: %d messages begun, want %d:\n%s", tc.name, n, tc.begins, strings.Join(ev, "\n"))
		}
	}
}
