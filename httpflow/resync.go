package httpflow

import "bytes"

// Resynchronising at segment starts: where a capture began inside a
// message, lost bytes, or holds bytes that are no message, the framer
// (framing.go) takes a segment that begins with a whole start line as the
// start of the next message, as tshark's dissector does.

// segmentStarts handles a segment b that begins with a whole start line
// while a line of earlier segments is pending that cannot begin one (the
// end of a body whose start the capture missed, or other bytes that are
// no message): the sender began the next message with this segment, as
// tshark's dissector assumes of every segment outside a message. The
// pending bytes are dropped for what they are (non-HTTP, or the rest of
// the message whose end was not captured) and the start line is read
// afresh. Without it the tail of a body that does not end in a line feed
// (JSON, most binary) swallows the next start line, and with it every
// message after, each body's tail swallowing the next.
//
// While looking for a start line, or for the first one. A request line
// only with a common method and after pending bytes that cannot begin a
// request line, since the rest of a request line split inside its method
// ("GE", "T / HTTP/1.1") can itself read as one; "HTTP/" cannot begin
// mid-line.
func (f *framer) segmentStarts(b []byte) {
	unsure := f.bodyUnsure && (f.state == psBody || f.state == psChunkSize || f.state == psBodyClose) && f.msg != nil
	if !unsure && (f.lineLen == 0 || f.state != psResync && (f.state != psHeaders || f.msg == nil || f.msg.begun)) {
		return
	}
	i := bytes.IndexByte(b[:min(len(b), maxLine)], '\n')
	if i < 0 {
		return
	}
	line := b[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	sl, ok := f.parseStart(line)
	switch {
	case !ok:
		return
	case unsure:
		// A response whose request the capture lacks announced a body,
		// and the next segment begins a response: it answered a HEAD (or
		// its body ended early); the body is not waited for.
		f.finish(true)
		return
	case f.request && (!commonMethod(sl.method) || f.couldBeRequestLine(f.line)):
		return
	case !f.request && couldBeStatusLine(f.line):
		return
	}
	if f.state == psResync {
		f.account(f.lineLen, f.lineAt) // of a message whose end was not captured, if any
		f.resetLine()
		return
	}
	if !f.seen {
		f.h.anomaly("non-http-payload")
	} else {
		f.h.anomaly("malformed-start-line")
	}
	f.abandon()
}

// commonMethod reports whether m is one of RFC 9110's methods or PATCH.
func commonMethod(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH":
		return true
	}
	return false
}

// couldBeRequestLine reports whether p, the first bytes of a line whose
// end is still to come, may be a request line split across segments: a
// token (a method, or part of one), or a method, a space and the start of
// a target.
func (f *framer) couldBeRequestLine(p []byte) bool {
	if isToken(p) {
		return true
	}
	_, ok := f.parsePartialStart(p)
	return ok
}

// couldBeStatusLine reports whether p, the first bytes of a line whose end
// is still to come, may be a status line split across segments: it is
// "HTTP/" or a part of it, or begins with it.
func couldBeStatusLine(p []byte) bool {
	const v = "HTTP/"
	n := min(len(p), len(v))
	return string(p[:n]) == v[:n]
}
