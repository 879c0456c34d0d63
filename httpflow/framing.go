package httpflow

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// Limits that bound the memory a hostile stream can take.
const (
	maxLine        = 64 << 10 // bytes of one start, header or chunk-size line kept
	maxHeaderBlock = 1 << 20  // bytes of one message's header section
)

type pstate uint8

const (
	psStart     pstate = iota // between messages
	psHeaders                 // start line seen, reading header lines
	psBody                    // Content-Length body: remaining bytes
	psChunkSize               // reading a chunk-size line
	psChunkData               // chunk data: remaining bytes
	psChunkCRLF               // the line ending after chunk data
	psTrailers                // trailer section after the last chunk
	psBodyClose               // close-delimited body
	psResync                  // after a gap or garbage: looking for a start line (msg, when set, is a message whose end was not captured)
	psTunnel                  // CONNECT or Upgrade: not HTTP any more
	psDead                    // the direction ended
)

// message is one HTTP message as the framer sees it. The framer reuses one
// per direction: handlers copy what they keep and tell messages apart by seq.
type message struct {
	seq        uint64    // 1, 2, … on this direction
	start, end time.Time // capture time of first and last byte
	bytes      int64
	complete   bool
	gap        bool
	begun      bool // its start line was valid (begin was called)

	// start line
	method, version string
	uri             []byte // valid during begin only
	status          int

	// headers httplife cares about
	connection    string // lower-cased, when hasConnection
	hasConnection bool
	keepAlive     []byte // raw value, valid until the next message
	hasKeepAlive  bool
	requestID     []byte // a request's correlation id (requestIDHeader), valid until the next message
	upgrade       bool
	length        lengthHeaders // Transfer-Encoding and Content-Length
	body          BodyKind      // decided when the header section ended
	interim       bool          // a 1xx other than 101

	headerBytes int
}

// handler receives the framer's events.
type handler interface {
	// begin is called when the first byte of a message is seen.
	begin(m *message)
	// headers is called when the header section is complete. It decides
	// the message's body (responses need their request): its kind, its
	// length for BodyLength, and whether the message is already known to
	// be incomplete (an invalid length).
	headers(m *message) (kind BodyKind, bodyLen int64, incomplete bool)
	// headersCut is called instead of headers when the capture lacks the
	// rest of the header section (a gap, the snaplen) after the start
	// line: the message is counted, its framing unknown; it ends where
	// the next message starts, or at the close.
	headersCut(m *message)
	// end is called when the message is complete, or cut short.
	end(m *message)
	anomaly(name string)
	strayCRLF(n int)
}

// tunneler is a handler that looks at the bytes after a tunnel began (an
// Upgrade to h2c goes on as HTTP/2).
type tunneler interface{ tunnel(b []byte, t time.Time) }

// framer splits one direction's byte stream into HTTP messages (RFC 9112).
type framer struct {
	request bool
	h       handler
	state   pstate
	line    []byte // storage of a line split across segments
	cur     []byte // the current line: line, or the packet bytes when it came whole
	lineLen int    // bytes of the current line, kept or not
	lineEnd bool
	lineAt  time.Time
	rem     int64    // body or chunk bytes still expected
	msg     *message // the message being read, or nil
	buf     message  // storage msg points to
	nmsg    uint64
	seen    bool   // a valid start line was seen on this direction
	kaBuf   []byte // storage of the message's Keep-Alive value
	ridBuf  []byte // storage of the request's correlation id
	// bodyUnsure: the message, a response to no captured request, announced
	// a body that a HEAD's answer would not have (segmentStarts).
	bodyUnsure bool
}

// maxRequestID bounds the correlation id kept per request.
const maxRequestID = 128

// isRequestIDHeader reports whether name is a header that carries a
// request's correlation id, which proxies pass on unchanged and so links
// the two legs of a proxied request: X-Request-Id (nginx $request_id,
// Heroku, Envoy), X-Correlation-Id, X-Amzn-Trace-Id (AWS load balancers),
// traceparent (W3C Trace Context) and X-B3-TraceId (Zipkin). The first one
// present wins.
func isRequestIDHeader(name []byte) bool {
	switch len(name) {
	case len("traceparent"):
		return asciiEqualFold(name, "traceparent")
	case len("x-request-id"): // and x-b3-traceid
		return asciiEqualFold(name, "x-request-id") || asciiEqualFold(name, "x-b3-traceid")
	case len("x-amzn-trace-id"):
		return asciiEqualFold(name, "x-amzn-trace-id")
	case len("x-correlation-id"):
		return asciiEqualFold(name, "x-correlation-id")
	}
	return false
}

// feed consumes b, carried by a packet captured at t.
func (f *framer) feed(b []byte, t time.Time) {
	if f.lineLen > 0 || f.bodyUnsure {
		f.segmentStarts(b)
	}
	for len(b) > 0 {
		switch f.state {
		case psDead:
			return
		case psTunnel:
			if tn, ok := f.h.(tunneler); ok {
				tn.tunnel(b, t)
			}
			return
		case psStart:
			// RFC 9112 §2.2: ignore at least one empty line before a request.
			i := 0
			for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
				i++
			}
			if i > 0 {
				f.h.strayCRLF(i)
				b = b[i:]
				continue
			}
			f.msg = f.newMessage(t, t, 0)
			f.state = psHeaders
			f.resetLine()
		case psResync:
			n := f.takeLine(b, t)
			b = b[n:]
			if f.lineDone() {
				if sl, ok := f.parseStart(f.trimLine()); ok {
					f.restart(sl, t)
					continue
				}
				f.account(f.lineLen, t) // of a message whose end was not captured, if any
				f.resetLine()
			}
		case psHeaders, psChunkSize, psChunkCRLF, psTrailers:
			if f.state == psHeaders && f.lineLen == 0 && f.msg.begun {
				if n := f.headerLines(b, t); n > 0 {
					b = b[n:]
					continue
				}
			}
			n := f.takeLine(b, t)
			f.account(n, t)
			b = b[n:]
			if f.state == psHeaders {
				f.msg.headerBytes += n
				if f.msg.headerBytes > maxHeaderBlock {
					f.h.anomaly("headers-too-large")
					f.cut()
					continue
				}
			}
			if f.lineDone() {
				f.onLine(f.trimLine())
				if f.state != psResync {
					f.resetLine()
				}
			}
		case psBody, psChunkData:
			n := int64(len(b))
			if n > f.rem {
				n = f.rem
			}
			f.rem -= n
			f.account(int(n), t)
			b = b[n:]
			if f.rem == 0 {
				if f.state == psBody {
					f.finish(true)
				} else {
					f.state = psChunkCRLF
				}
			}
		case psBodyClose:
			f.account(len(b), t)
			b = nil
		}
	}
}

// headerLines is the fast path of feed for header lines that are whole in
// b: it consumes them (and the empty line that ends the section) as the
// general path would, line by line, and returns how many bytes it took.
// It stops at a partial line, a line too long, or a header section about
// to grow too big, and leaves those to the general path.
func (f *framer) headerLines(b []byte, t time.Time) int {
	m := f.msg
	used := 0
	for f.state == psHeaders {
		i := bytes.IndexByte(b[used:], '\n')
		if i < 0 || i+1 > maxLine || m.headerBytes+i+1 > maxHeaderBlock {
			break
		}
		n := i + 1
		line := b[used : used+i]
		if i > 0 && line[i-1] == '\r' {
			line = line[:i-1]
		}
		if used == 0 && t.After(m.end) { // t is every line's time
			m.end = t
		}
		used += n
		m.headerBytes += n
		m.bytes += int64(n)
		if len(line) == 0 {
			f.headersDone()
			break
		}
		f.header(line)
	}
	return used
}

// newMessage starts the next message in the framer's own storage, from
// start to end, its first n bytes (its start line, when already read)
// counted. It is set in place: a message is too big to pass around.
func (f *framer) newMessage(start, end time.Time, n int) *message {
	f.nmsg++
	f.buf = message{seq: f.nmsg, start: start, end: end, bytes: int64(n), headerBytes: n}
	return &f.buf
}

// account adds n bytes carried at t to the current message.
func (f *framer) account(n int, t time.Time) {
	if f.msg == nil || n == 0 {
		return
	}
	f.msg.bytes += int64(n)
	if t.After(f.msg.end) {
		f.msg.end = t
	}
}

// takeLine appends b up to and including the first LF to the line buffer
// (keeping at most maxLine bytes) and returns how many bytes it consumed.
func (f *framer) takeLine(b []byte, t time.Time) int {
	if f.lineLen == 0 {
		f.lineAt = t
	}
	n := len(b)
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		n = i + 1
		f.lineEnd = true
		if f.lineLen == 0 && n <= maxLine {
			// The whole line is in this segment: no copy. The caller
			// reads it before feed returns.
			f.cur, f.lineLen = b[:n], n
			return n
		}
	}
	if room := maxLine - len(f.line); room > 0 {
		k := n
		if k > room {
			k = room
		}
		if f.line == nil {
			f.line = make([]byte, 0, 128)
		}
		f.line = append(f.line, b[:k]...)
	}
	f.lineLen += n
	f.cur = f.line
	return n
}

func (f *framer) lineDone() bool { return f.lineEnd }

func (f *framer) resetLine() { f.line, f.cur, f.lineLen, f.lineEnd = f.line[:0], nil, 0, false }

func (f *framer) trimLine() []byte {
	l := f.cur
	if len(l) > 0 && l[len(l)-1] == '\n' {
		l = l[:len(l)-1]
	}
	if len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	return l
}

func (f *framer) onLine(line []byte) {
	if f.lineLen > maxLine {
		f.h.anomaly("line-too-long")
	}
	switch f.state {
	case psHeaders:
		if !f.msg.begun {
			sl, ok := f.parseStart(line)
			if !ok && f.request {
				if sl, ok = parseMalformedRequestLine(line); ok {
					f.h.anomaly("malformed-request-line")
				}
			}
			if !ok {
				if !f.seen {
					f.h.anomaly("non-http-payload")
				} else {
					f.h.anomaly("malformed-start-line")
				}
				f.abandon()
				return
			}
			f.startLine(sl)
			return
		}
		if len(line) == 0 {
			f.headersDone()
			return
		}
		f.header(line)
	case psChunkSize:
		size, ok := parseChunkSize(line)
		if !ok {
			f.h.anomaly("bad-chunk-size")
			f.cut()
			return
		}
		if size == 0 {
			f.state = psTrailers
			return
		}
		f.rem = size
		f.state = psChunkData
	case psChunkCRLF:
		if len(line) != 0 {
			f.h.anomaly("bad-chunk-framing")
			f.cut()
			return
		}
		f.state = psChunkSize
	case psTrailers:
		if len(line) == 0 {
			f.finish(true)
		}
	}
}

// startFields are the parts of a valid start line. Its byte slices alias
// the line.
type startFields struct {
	method, uri, version []byte
	status               int
}

// parseStart parses a request or status line (by the framer's direction)
// and says whether it is valid.
func (f *framer) parseStart(line []byte) (sl startFields, ok bool) {
	if f.request {
		sl.method, sl.uri, sl.version, ok = parseRequestLine(line)
	} else {
		sl.version, sl.status, ok = parseStatusLine(line)
	}
	return sl, ok
}

// parsePartialStart parses the beginning of a start line whose end the
// capture lacks: a status line with its code (parseStatusLine needs no
// more), or a request line's method (upper-case letters) and the start of
// its target, the version unknown.
func (f *framer) parsePartialStart(line []byte) (sl startFields, ok bool) {
	if !f.request {
		sl.version, sl.status, ok = parseStatusLine(line)
		return sl, ok
	}
	if sl.method, sl.uri, sl.version, ok = parseRequestLine(line); ok {
		return sl, true
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || sp == len(line)-1 || !isToken(line[:sp]) {
		return sl, false
	}
	for _, c := range line[:sp] {
		if c < 'A' || c > 'Z' {
			return sl, false
		}
	}
	uri := line[sp+1:]
	if j := bytes.LastIndexByte(uri, ' '); j > 0 && isVersionPrefix(uri[j+1:]) {
		uri = uri[:j] // the target ended; the version was cut
	}
	return startFields{method: line[:sp], uri: uri}, true
}

// isVersionPrefix reports whether b is the beginning of an HTTP version
// ("HTTP/1.1" cut anywhere).
func isVersionPrefix(b []byte) bool {
	const v = "HTTP/1.1"
	if len(b) > len(v) {
		return false
	}
	for i, c := range b {
		switch {
		case i < 5 && c != v[i], i == 5 && (c < '0' || c > '9'), i == 6 && c != '.', i == 7 && (c < '0' || c > '9'):
			return false
		}
	}
	return true
}

// restart begins, in psResync, the message whose start line the current
// line is: a message whose end was not captured ends (incomplete) where it
// begins.
func (f *framer) restart(sl startFields, t time.Time) {
	at, n := f.lineAt, f.lineLen
	if f.msg != nil {
		f.finish(false) // the line stays where it is: sl still reads it
	}
	f.msg = f.newMessage(at, t, n)
	f.state = psHeaders
	f.startLine(sl)
	f.resetLine()
}

// startLine begins the message whose start line parseStart accepted.
func (f *framer) startLine(sl startFields) {
	f.seen = true
	f.msg.begun = true
	f.msg.version, f.msg.status = internBytes(sl.version), sl.status
	if f.request {
		f.msg.method, f.msg.uri = internBytes(sl.method), sl.uri
	}
	f.h.begin(f.msg)
}

func (f *framer) header(line []byte) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return // obs-fold or junk: ignored, as most servers do
	}
	name := line[:i]
	m := f.msg
	switch len(name) {
	case len("connection"), len("content-length"), len("transfer-encoding"), len("upgrade"): // keep-alive: 10 too
	case len("traceparent"), len("x-request-id"), len("x-amzn-trace-id"), len("x-correlation-id"):
		if f.request && m.requestID == nil && isRequestIDHeader(name) {
			raw := bytes.TrimSpace(line[i+1:])
			if len(raw) > maxRequestID {
				raw = raw[:maxRequestID]
			}
			f.ridBuf = append(f.ridBuf[:0], raw...)
			m.requestID = f.ridBuf
		}
		return
	default:
		return // none of the headers below: no work for the rest
	}
	raw := bytes.TrimSpace(line[i+1:])
	switch {
	case asciiEqualFold(name, "connection"):
		v := lowerIntern(raw)
		if m.hasConnection {
			v = m.connection + ", " + v
		}
		m.connection, m.hasConnection = v, true
	case asciiEqualFold(name, "keep-alive"):
		f.kaBuf = append(f.kaBuf[:0], raw...)
		m.keepAlive, m.hasKeepAlive = f.kaBuf, true
	case asciiEqualFold(name, "content-length"):
		n, err := parseDecimal(raw)
		if err != nil || n < 0 {
			f.h.anomaly("bad-content-length")
			m.length.badCL = true
			return
		}
		if m.length.hasCL && n != m.length.cl {
			f.h.anomaly("conflicting-content-length")
			m.length.badCL = true
			return
		}
		m.length.cl, m.length.hasCL = n, true
	case asciiEqualFold(name, "transfer-encoding"):
		m.length.te = true
		codings := lower(string(raw))
		if j := lastIndexComma(codings); j >= 0 {
			codings = codings[j+1:]
		}
		m.length.chunked = trimSpace(codings) == "chunked"
	case asciiEqualFold(name, "upgrade"):
		m.upgrade = true
	}
}

func (f *framer) headersDone() {
	m := f.msg
	if m.length.te && m.length.hasCL {
		f.h.anomaly("content-length-with-transfer-encoding")
	}
	kind, n, incomplete := f.h.headers(m)
	m.body = kind
	if incomplete {
		m.gap = true
	}
	switch kind {
	case BodyChunked:
		f.state = psChunkSize
	case BodyLength:
		if n == 0 {
			f.finish(true)
			return
		}
		f.rem = n
		f.state = psBody
	case BodyUntilClose:
		f.state = psBodyClose
	case BodyTunnel:
		f.finish(true)
		f.state = psTunnel
	case BodyInvalid:
		f.finish(false)
		f.state = psResync
	default: // no body
		f.finish(true)
	}
}

// finish ends the current message.
func (f *framer) finish(complete bool) {
	m := f.msg
	if m == nil {
		return
	}
	f.msg, f.bodyUnsure = nil, false
	m.complete = complete && !m.gap
	f.state = psStart
	f.resetLine()
	if m.begun {
		f.h.end(m)
	}
}

// cut ends the current message as incomplete and looks for the next one.
func (f *framer) cut() {
	f.finish(false)
	f.state = psResync
	f.resetLine()
}

// abandon drops a message whose start line was not HTTP.
func (f *framer) abandon() {
	f.msg = nil
	f.state = psResync
	f.resetLine()
}

// gap reports n bytes of the stream that the capture lacks at this point:
// segments it did not capture, or (cut) the part of a captured segment,
// carried at t, that its snaplen cut off. A gap is a content-gap anomaly;
// a cut is not (the capture says so once). Either way what the bytes hid
// is unknown, not an error: a body keeps its framing where its length is
// known; a message whose start line was captured is counted, its end
// where the next message starts; the rest is skipped to the next start
// line.
func (f *framer) gap(n int, t time.Time, cut bool) {
	if f.state == psDead || f.state == psTunnel {
		return
	}
	if !cut {
		f.h.anomaly("content-gap")
	}
	m := f.msg
	hidden := func(k int64) { // k bytes of m not captured
		m.gap = true
		m.bytes += k
		if cut && t.After(m.end) {
			m.end = t
		}
	}
	switch f.state {
	case psBody, psChunkData:
		if int64(n) <= f.rem {
			hidden(int64(n))
			f.rem -= int64(n)
			if f.rem == 0 {
				if f.state == psBody {
					f.finish(false)
				} else {
					f.state = psChunkCRLF
				}
			}
			return
		}
		if f.state == psBody { // the message ends inside the gap; the next begins in it
			hidden(f.rem)
			f.finish(false)
			f.state = psResync
			return
		}
		hidden(int64(n)) // past the chunk: the chunk framing was not captured
	case psBodyClose:
		hidden(int64(n))
		return
	case psHeaders:
		if !m.begun {
			sl, ok := f.parsePartialStart(f.trimLine())
			if !ok || f.lineLen == 0 {
				f.msg = nil // no start line: nothing to count
				break
			}
			f.startLine(sl)
		}
		hidden(int64(n))
		f.h.headersCut(m)
	case psChunkSize, psChunkCRLF, psTrailers:
		hidden(int64(n))
	case psResync:
		if f.lineLen > 0 { // a line the gap cut: perhaps the start of a message
			if sl, ok := f.parsePartialStart(f.trimLine()); ok {
				f.restart(sl, t)
				m = f.msg
				hidden(int64(n))
				f.h.headersCut(m)
				break
			}
			f.account(f.lineLen, t)
		}
		if m != nil {
			hidden(int64(n))
		}
	default: // psStart: the next message begins in the gap
	}
	f.state = psResync
	f.resetLine()
}

// endOpen ends, incomplete, a message whose end the capture hid (psResync
// with a message) if its last byte came at or before at: the other
// direction's next message shows it was over.
func (f *framer) endOpen(at time.Time) {
	if f.state == psResync && f.msg != nil && !f.msg.end.After(at) {
		f.finish(false)
		f.state = psResync
	}
}

// close ends the direction: a FIN (clean) or a RST.
func (f *framer) close(clean bool) {
	if f.msg != nil {
		if f.state == psBodyClose {
			f.finish(clean)
		} else {
			f.finish(false)
		}
	}
	f.state = psDead
}

func parseRequestLine(l []byte) (method, uri, version []byte, ok bool) {
	sp1 := bytes.IndexByte(l, ' ')
	if sp1 <= 0 {
		return
	}
	sp2 := bytes.LastIndexByte(l, ' ')
	if sp2 <= sp1+1 {
		return
	}
	m, u, v := l[:sp1], bytes.TrimSpace(l[sp1+1:sp2]), l[sp2+1:]
	if !isToken(m) || len(u) == 0 || !isVersion(v) {
		return
	}
	return m, u, v, true
}

// parseMalformedRequestLine takes a request line that parseRequestLine
// refused but that is still a request a server answers (usually with 400),
// as Zeek logs it (with a weird):
//   - a valid request line after a space and bytes that are not one (a
//     client's framing bug, a proxy's leftovers: "\xdd\x00\x00\x00 GET
//     /txt HTTP/1.1"): that request;
//   - else text (no control bytes) that names an HTTP version somewhere,
//     as a fuzzer or a broken client writes it ("GET / HTTP/1.", "OPTIONS
//     HTTP/1.1", "GET/HTTP/1.1", "CCM_POST /HTTP/1.1"): the method is its
//     first word when that is a token, the version its last word when that
//     is one, the target what lies between, each nil when absent.
//
// A line of another protocol (SMTP's "EHLO host") is not one, nor is an
// HTTP/0.9 request ("GET /path"), answered without a status line; nor
// "OPTIONS" alone, which a server may still answer: without a version
// nothing tells it from an HTTP/0.9 request cut short.
func parseMalformedRequestLine(l []byte) (sl startFields, ok bool) {
	if len(l) == 0 || len(l) > maxLine {
		return sl, false
	}
	// A valid request line after bytes that are not one (a client's
	// framing bug, a proxy's leftovers): that request.
	for i := 1; i < len(l); i++ {
		if l[i-1] == ' ' && tchar[l[i]] {
			if m, u, v, ok := parseRequestLine(l[i:]); ok {
				return startFields{method: m, uri: u, version: v}, true
			}
		}
	}
	for _, c := range l {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return sl, false
		}
	}
	// The words, by their offsets in l.
	var at [][2]int
	for i := 0; i < len(l); {
		for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
			i++
		}
		j := i
		for j < len(l) && l[j] != ' ' && l[j] != '\t' {
			j++
		}
		if j > i {
			at = append(at, [2]int{i, j})
		}
		i = j
	}
	if len(at) == 0 || !bytes.Contains(l, []byte("HTTP/")) {
		// Another protocol's line, or an HTTP/0.9 request ("GET /"),
		// whose response has no status line to pair with.
		return sl, false
	}
	word := func(k int) []byte { return l[at[k][0]:at[k][1]] }
	if isToken(word(0)) {
		sl.method, at = word(0), at[1:]
	}
	if n := len(at); n > 0 && isVersion(word(n-1)) {
		sl.version, at = word(n-1), at[:n-1]
	}
	if len(at) > 0 {
		sl.uri = l[at[0][0]:at[len(at)-1][1]]
	}
	return sl, true
}

func parseStatusLine(l []byte) (version []byte, status int, ok bool) {
	if len(l) < 12 || !isVersion(l[:8]) || l[8] != ' ' {
		return
	}
	c := l[9:12]
	if c[0] < '1' || c[0] > '9' || c[1] < '0' || c[1] > '9' || c[2] < '0' || c[2] > '9' {
		return
	}
	if len(l) > 12 && l[12] != ' ' {
		return
	}
	return l[:8], int(c[0]-'0')*100 + int(c[1]-'0')*10 + int(c[2]-'0'), true
}

func isVersion(v []byte) bool {
	return len(v) == 8 && string(v[:5]) == "HTTP/" && v[5] >= '0' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' && v[7] <= '9'
}

// tchar marks the bytes RFC 9110 §5.6.2 allows in a token: visible ASCII
// but the delimiters.
var tchar = func() (t [256]bool) {
	for c := '!'; c < 0x7f; c++ {
		t[c] = !strings.ContainsRune("()<>@,;:\\\"/[]?={}", c)
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 || len(b) > 32 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}

// parseDecimal parses a Content-Length value: digits only, no overflow.
func parseDecimal(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 18 {
		return 0, strconv.ErrRange
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// parseChunkSize parses a chunk-size line (hex, optional extensions).
func parseChunkSize(l []byte) (int64, bool) {
	if i := bytes.IndexByte(l, ';'); i >= 0 {
		l = l[:i]
	}
	l = bytes.TrimSpace(l)
	if len(l) == 0 || len(l) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range l {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// lowerIntern lower-cases b, sharing the string of a common value.
func lowerIntern(b []byte) string {
	var buf [32]byte
	if len(b) <= len(buf) {
		l := buf[:len(b)]
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			l[i] = c
		}
		return internBytes(l)
	}
	return lower(string(b))
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func lastIndexComma(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ',' {
			return i
		}
	}
	return -1
}

func trimSpace(s string) string { return string(bytes.TrimSpace([]byte(s))) }
