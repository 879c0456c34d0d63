package httpflow

import (
	"encoding/binary"
	"slices"
	"strconv"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/httplife/httplife/tcpstate"
)

// HTTP/2 in cleartext (h2c with prior knowledge, RFC 9113 3.3: gRPC and
// service meshes inside a cluster), and the plaintext of TLS connections
// whose ALPN chose h2. A connection is HTTP/2 when the client's first
// bytes are the connection preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
// or when the server speaks first with a SETTINGS frame (gRPC servers
// send theirs on accept). Each stream is a transaction: the request from
// the client's HEADERS to its END_STREAM, the response from the server's
// final HEADERS (:status, after any 1xx) to its END_STREAM. Header blocks
// are decoded with golang.org/x/net/http2/hpack, every one of them in
// order, since each changes the dynamic table the next ones refer to; so
// a gap in either direction ends the analysis of the connection's frames
// (anomaly content-gap). Frames are told apart by their 9-byte header
// alone: DATA and the other frames are counted and skipped, never held.

const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Frame types and flags (RFC 9113 6).
const (
	h2Data         = 0x0
	h2Headers      = 0x1
	h2RSTStream    = 0x3
	h2Settings     = 0x4
	h2PushPromise  = 0x5
	h2GoAway       = 0x7
	h2Continuation = 0x9

	h2EndStream  = 0x1
	h2EndHeaders = 0x4
	h2Padded     = 0x8
	h2Priority   = 0x20
)

// Bounds for hostile peers, per connection: a header block held until its
// END_HEADERS (servers refuse far less: nginx 32 KiB, Go 1 MiB of
// decoded headers), the open streams followed, a header value and the
// HPACK dynamic table the decoder keeps (peers advertise 4 KiB, some 64).
const (
	h2MaxBlock   = 64 << 10
	h2MaxStreams = 4096
	h2MaxString  = 64 << 10
	h2MaxTable   = 64 << 10
)

// h2Flow is the HTTP/2 side of a flow.
type h2Flow struct {
	dir     [2]h2Dir
	streams map[uint32]int // open streams: index of their transaction in txs
	broken  bool           // the frames can no longer be followed
	capped  bool           // streams beyond h2MaxStreams were not followed
	goAway  time.Time      // capture time of the server's first GOAWAY (zero: none)
}

// h2Dir reads one direction's frames.
type h2Dir struct {
	preface int // bytes of the client's preface still to come
	hdr     [9]byte
	hdrN    int
	// The frame being read.
	length     int
	typ, flags uint8
	stream     uint32
	start      time.Time // capture time of the frame header's first byte
	left       int       // payload bytes still to come
	hold       bool      // the payload is kept in buf (header blocks, RST_STREAM)
	buf        []byte
	// A header block spread over HEADERS and CONTINUATION frames.
	block       []byte
	blockStream uint32
	blockEnd    bool // the HEADERS frame had END_STREAM
	blockStart  time.Time
	blockBytes  int64
	inBlock     bool
	dec         *hpack.Decoder
}

// looksH2 reports whether a side's first bytes start HTTP/2: the client's
// preface ("PRI * ", a method no HTTP/1 server knows, chosen for that; the
// rest of the preface is checked as it comes), or a server's SETTINGS
// frame header on stream 0 in its first segment.
func looksH2(d tcpstate.Dir, b []byte) bool {
	if d == tcpstate.ClientToServer {
		return len(b) >= sniffLen && string(b[:sniffLen]) == h2Preface[:sniffLen]
	}
	return len(b) >= 9 && b[3] == h2Settings && b[4]&^1 == 0 && binary.BigEndian.Uint32(b[5:])&0x7fffffff == 0 &&
		(int(b[0])<<16|int(b[1])<<8|int(b[2]))%6 == 0
}

func (f *flow) startH2() {
	h := &h2Flow{streams: make(map[uint32]int)}
	h.dir[tcpstate.ClientToServer].preface = len(h2Preface)
	for i := range h.dir {
		d := &h.dir[i]
		d.dec = hpack.NewDecoder(4096, nil) // DecodeFull returns the fields
		// A passive observer accepts the table size the peers agreed on,
		// up to a bound (beyond it the block is an HPACK error).
		d.dec.SetAllowedMaxDynamicTableSize(h2MaxTable)
		d.dec.SetMaxStringLength(h2MaxString)
	}
	f.h2 = h
	f.anomaly("http2")
}

// upgradeH2 looks at a direction's first bytes after a 101 Switching
// Protocols: when they start HTTP/2 (Upgrade: h2c, RFC 7540 3.2, which
// RFC 9113 deprecates and servers still accept), the upgraded request is
// stream 1, its 101 an interim answer
// (stream 1's HEADERS carry the final one), and the rest is read as
// frames. Anything else (a WebSocket) stays a tunnel.
func (f *flow) upgradeH2(d tcpstate.Dir, b []byte, t time.Time) {
	if f.h2 != nil {
		f.h2Data(d, b, t)
		return
	}
	if f.tunneled[d] {
		return
	}
	// The first bytes may come a few at a time: hold them until they tell.
	need := sniffLen
	if d == tcpstate.ServerToClient {
		need = 9
	}
	if len(f.tunHead[d]) == 0 {
		f.tunAt[d] = t
	}
	take := min(len(b), need-len(f.tunHead[d]))
	f.tunHead[d] = append(f.tunHead[d], b[:take]...)
	b = b[take:]
	head := f.tunHead[d]
	if len(head) < need && mayBeH2(d, head) {
		return
	}
	f.tunneled[d] = true
	i := f.txs.n - 1
	if i < 0 || !looksH2(d, head) {
		return
	}
	c := f.txs.at(i)
	if c.status != 101 || c.body != BodyTunnel {
		return
	}
	f.startH2()
	f.addInterim(c, 101)
	c.status, c.respVer, c.respStart, c.respEnd = 0, 0, noTime, noTime
	c.respDone, c.complete, c.body, c.persist = false, false, BodyUnknown, Persists
	f.anomalies = slices.DeleteFunc(f.anomalies, func(a string) bool { return a == "tunnel" })
	f.h2.streams[1] = i
	if o := 1 - d; len(f.tunHead[o]) > 0 { // the other side's first bytes, held
		f.h2Data(o, f.tunHead[o], f.tunAt[o])
	}
	f.h2Data(d, head, f.tunAt[d])
	f.h2Data(d, b, t)
}

// mayBeH2 reports whether head, fewer bytes than looksH2 needs, may still
// start HTTP/2 in direction d.
func mayBeH2(d tcpstate.Dir, head []byte) bool {
	if d == tcpstate.ClientToServer {
		return string(head) == h2Preface[:len(head)]
	}
	for k, v := range head {
		switch {
		case k == 3 && v != h2Settings, k == 4 && v&^1 != 0, k >= 5 && v != 0:
			return false
		}
	}
	return true
}

// h2Data hands the HTTP/2 reader the next bytes of direction d.
func (f *flow) h2Data(d tcpstate.Dir, b []byte, t time.Time) {
	h := f.h2
	x := &h.dir[d]
	for len(b) > 0 && !h.broken {
		if x.preface > 0 {
			n := min(x.preface, len(b))
			at := len(h2Preface) - x.preface
			if string(b[:n]) != h2Preface[at:at+n] {
				f.h2Break("non-http-payload")
				return
			}
			x.preface -= n
			b = b[n:]
			continue
		}
		if x.left == 0 && x.hdrN < 9 {
			if x.hdrN == 0 {
				x.start = t
			}
			n := copy(x.hdr[x.hdrN:], b)
			x.hdrN += n
			b = b[n:]
			if x.hdrN < 9 {
				return
			}
			x.length = int(x.hdr[0])<<16 | int(x.hdr[1])<<8 | int(x.hdr[2])
			x.typ, x.flags = x.hdr[3], x.hdr[4]
			x.stream = binary.BigEndian.Uint32(x.hdr[5:]) & 0x7fffffff
			x.left = x.length
			x.hold = x.typ == h2Headers || x.typ == h2Continuation || x.typ == h2PushPromise || x.typ == h2RSTStream
			if x.hold && x.length > h2MaxBlock {
				f.h2Break("http2-frame-too-large")
				return
			}
			if x.inBlock && x.typ != h2Continuation {
				f.h2Break("http2-bad-continuation")
				return
			}
			x.buf = x.buf[:0]
			if x.left > 0 {
				continue
			}
		} else {
			n := min(x.left, len(b))
			if x.hold {
				x.buf = append(x.buf, b[:n]...)
			}
			x.left -= n
			b = b[n:]
			if x.left > 0 {
				return
			}
		}
		x.hdrN = 0
		f.h2Frame(d, x, t)
	}
}

// h2Break stops following the connection's frames.
func (f *flow) h2Break(anomaly string) {
	f.h2.broken = true
	f.anomaly(anomaly)
}

// h2Frame handles a frame of direction d whose last byte came at t.
func (f *flow) h2Frame(d tcpstate.Dir, x *h2Dir, t time.Time) {
	size := int64(9 + x.length)
	switch x.typ {
	case h2Data:
		if x.stream == 0 {
			return
		}
		f.h2Bytes(d, x.stream, size)
		if x.flags&h2EndStream != 0 {
			f.h2End(d, x.stream, t)
		}
	case h2Headers, h2PushPromise:
		p := x.buf
		if x.flags&h2Padded != 0 {
			if len(p) < 1 || int(p[0]) >= len(p) {
				f.h2Break("http2-bad-padding")
				return
			}
			p = p[1 : len(p)-int(p[0])]
		}
		if x.typ == h2PushPromise {
			if len(p) < 4 {
				f.h2Break("http2-bad-push-promise")
				return
			}
			p = p[4:]
		} else if x.flags&h2Priority != 0 {
			if len(p) < 5 {
				f.h2Break("http2-bad-priority")
				return
			}
			p = p[5:]
		}
		x.block = append(x.block[:0], p...)
		x.blockStream, x.blockStart, x.blockBytes = x.stream, x.start, size
		x.blockEnd = x.typ == h2Headers && x.flags&h2EndStream != 0
		if x.typ == h2PushPromise {
			x.blockStream = 0 // decoded for the table's sake; the promised stream is not followed
		}
		x.inBlock = true
		if x.flags&h2EndHeaders != 0 {
			f.h2Block(d, x, t)
		}
	case h2Continuation:
		if !x.inBlock || (x.stream != x.blockStream && x.blockStream != 0) {
			f.h2Break("http2-bad-continuation")
			return
		}
		if len(x.block)+len(x.buf) > h2MaxBlock {
			f.h2Break("http2-frame-too-large")
			return
		}
		x.block = append(x.block, x.buf...)
		x.blockBytes += size
		if x.flags&h2EndHeaders != 0 {
			f.h2Block(d, x, t)
		}
	case h2GoAway:
		// The server's GOAWAY starts its close: Go and nginx send it when
		// the idle timeout fires, and the FIN follows (Go: a second later).
		if d == tcpstate.ServerToClient && f.h2.goAway.IsZero() {
			f.h2.goAway = x.start
		}
	case h2RSTStream:
		if i, ok := f.h2.streams[x.stream]; ok {
			delete(f.h2.streams, x.stream)
			c := f.txs.at(i)
			if !c.reqDone {
				c.reqDone, c.reqEnd = true, f.clk.off(t)
			}
			f.anomaly("http2-stream-reset")
		}
	}
}

// h2Bytes counts a frame of a stream in its message.
func (f *flow) h2Bytes(d tcpstate.Dir, stream uint32, n int64) {
	i, ok := f.h2.streams[stream]
	if !ok {
		return
	}
	c := f.txs.at(i)
	if d == tcpstate.ClientToServer {
		c.reqBytes += n
	} else {
		c.respBytes += n
	}
}

// h2End ends direction d's message on a stream (END_STREAM) at t.
func (f *flow) h2End(d tcpstate.Dir, stream uint32, t time.Time) {
	i, ok := f.h2.streams[stream]
	if !ok {
		return
	}
	c := f.txs.at(i)
	if d == tcpstate.ClientToServer {
		c.reqDone, c.reqComplete, c.reqEnd = true, true, f.clk.off(t)
		return
	}
	if c.respStart == noTime {
		return // the stream ended without a final response: unanswered
	}
	c.respDone, c.respEnd = true, f.clk.off(t)
	c.complete = c.reqComplete
	delete(f.h2.streams, stream)
}

// h2Block decodes a complete header block and applies it to its stream.
func (f *flow) h2Block(d tcpstate.Dir, x *h2Dir, t time.Time) {
	x.inBlock = false
	fields, err := x.dec.DecodeFull(x.block)
	if err != nil {
		f.h2Break("http2-header-error")
		return
	}
	s := x.blockStream
	if s == 0 {
		return
	}
	var method, path, authority, status, length, rid []byte
	for _, hf := range fields {
		switch hf.Name {
		case ":method":
			method = []byte(hf.Value)
		case ":path":
			path = []byte(hf.Value)
		case ":authority":
			authority = []byte(hf.Value)
		case ":status":
			status = []byte(hf.Value)
		case "content-length":
			length = []byte(hf.Value)
		default:
			if rid == nil && isRequestIDHeader([]byte(hf.Name)) {
				rid = []byte(hf.Value[:min(len(hf.Value), maxRequestID)])
			}
		}
	}
	i, open := f.h2.streams[s]
	if d == tcpstate.ClientToServer {
		if !open {
			if len(f.h2.streams) >= h2MaxStreams {
				if !f.h2.capped {
					f.h2.capped = true
					f.anomaly("http2-streams-capped")
				}
				return
			}
			if path == nil {
				path = authority // CONNECT
			}
			c := ctx{
				method: f.strs.ref(method), uri: f.strs.ref(path), reqVer: f.strs.refString("HTTP/2"),
				reqStart: f.clk.off(x.blockStart), reqEnd: noTime, respStart: noTime, respEnd: noTime,
				reqSeq: uint64(s), reqBytes: x.blockBytes, afterServerFIN: f.serverFIN,
			}
			if rid != nil {
				c.reqID = f.strs.ref(rid)
			}
			f.txs.follow(&c)
			f.txs.add(c)
			i = f.txs.n - 1
			f.h2.streams[s] = i
		} else {
			f.txs.at(i).reqBytes += x.blockBytes // trailers
		}
		if x.blockEnd {
			f.h2End(d, s, t)
		}
		return
	}
	if !open {
		f.anomaly("response-without-request")
		return
	}
	c := f.txs.at(i)
	c.respBytes += x.blockBytes
	if status != nil {
		st, err := strconv.Atoi(string(status))
		if err != nil || st < 100 || st > 999 {
			f.h2Break("http2-bad-status")
			return
		}
		if st < 200 {
			f.addInterim(c, st)
			return
		}
		c.status, c.respSeq = uint16(st), uint64(s)
		c.respVer = f.strs.refString("HTTP/2")
		c.respStart = f.clk.off(x.blockStart)
		c.persist = Persists
		switch {
		case length != nil:
			c.body = BodyLength
		case x.blockEnd:
			c.body = BodyNone
		}
	}
	if x.blockEnd {
		f.h2End(d, s, t)
	}
}
