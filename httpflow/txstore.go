package httpflow

import (
	"math"
	"math/bits"
	"time"
)

// The transactions of an open connection are kept in a compact form with
// no pointers: the garbage collector never scans them, however many
// requests a keep-alive connection carries, and each takes 112 bytes
// instead of a Transaction's 256. The record expands them once, when the
// connection is done.

// sref names a string of a flow: 0 is none (a nil pointer in the record),
// 1..len(common) a common value, above that one of the flow's own strings.
type sref uint32

// common lists the values most messages carry, shared by every flow.
var common = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT",
	"HTTP/1.0", "HTTP/1.1", "keep-alive", "close", "upgrade", "keep-alive, upgrade"}

// commonRef returns the sref of a common value, or 0. (A switch: faster
// than a map for these few short strings; TestCommonRef keeps it in step
// with common.)
func commonRef(s string) sref {
	switch s {
	case "GET":
		return 1
	case "HEAD":
		return 2
	case "POST":
		return 3
	case "PUT":
		return 4
	case "DELETE":
		return 5
	case "OPTIONS":
		return 6
	case "PATCH":
		return 7
	case "CONNECT":
		return 8
	case "HTTP/1.0":
		return 9
	case "HTTP/1.1":
		return 10
	case "keep-alive":
		return 11
	case "close":
		return 12
	case "upgrade":
		return 13
	case "keep-alive, upgrade":
		return 14
	}
	return 0
}

// commonPtr holds the one pointer every record shares for a common value.
var (
	commonPtr = func() []*string {
		p := make([]*string, len(common))
		for i := range common {
			p[i] = &common[i]
		}
		return p
	}()
)

// noTime marks a time not seen (yet).
const noTime = math.MinInt64

// ctx is one transaction while its connection is open.
type ctx struct {
	// Capture times as offsets from the flow's base time; noTime: none.
	reqStart, reqEnd, respStart, respEnd int64
	reqBytes, respBytes                  int64
	// Sequence numbers of the request and final response on their
	// directions (0: none yet).
	reqSeq, respSeq              uint64
	method, uri, reqVer, respVer sref
	reqConn, respConn, respKA    sref
	reqID                        sref   // the request's correlation id (X-Request-Id, traceparent, …)
	interim                      uint32 // 1-based index into flow.interims; 0: none
	status                       uint16 // 0: no final response yet
	// Decided when the response's header section ended (body.go).
	body    BodyKind
	persist Persistence
	// Connection tokens of the request and the response.
	reqClose, reqKeepAlive, respClose, respKeepAlive bool
	pipelined, complete                              bool
	reqDone, respDone, reqComplete                   bool // request ended (complete or cut); final response ended
	afterIdle, afterServerFIN                        bool // started after the previous response ended; bytes after the server's FIN
	inferred                                         bool // from TLS records (tls.go)
	reqHidden, respHidden                            bool // the header section was not captured whole (a gap, the snaplen)
	respLost                                         bool // the response was in server bytes the capture lost (flow.skipLost)
}

// txStore holds a connection's transactions in chunks that never move:
// 1, 2, 4, 8, 16 and 32 transactions, then 64 each. A connection with thousands
// of requests (a keep-alive pool) grows without copying what it has, and a
// connection with one request costs one small chunk.
type txStore struct {
	n      int
	chunks [][]ctx
}

const (
	txGrowing    = 6  // chunks that double: 1, 2, 4, 8, 16, 32
	txSmallTotal = 63 // transactions in them
	txBigChunk   = 64
)

// chunkOf returns the chunk and the offset in it of transaction i (0-based).
func chunkOf(i int) (k, off int) {
	if i < txSmallTotal {
		k = bits.Len(uint(i+1)) - 1
		return k, i - (1<<k - 1)
	}
	i -= txSmallTotal
	return txGrowing + i/txBigChunk, i % txBigChunk
}

func chunkSize(k int) int {
	if k < txGrowing {
		return 1 << k
	}
	return txBigChunk
}

// add appends a transaction and returns it.
func (s *txStore) add(t ctx) *ctx {
	k, off := chunkOf(s.n)
	if k == len(s.chunks) {
		s.chunks = append(s.chunks, make([]ctx, chunkSize(k)))
	}
	s.chunks[k][off] = t
	s.n++
	return &s.chunks[k][off]
}

// follow marks c, about to be added, as coming after an idle connection
// or pipelined, by the capture times of the transaction before it: a
// request whose first bytes came before the previous response's last byte
// is pipelined, even when its request line was only complete after that
// response ended.
func (s *txStore) follow(c *ctx) {
	if prev := s.last(); prev != nil {
		if prev.respDone && prev.respEnd <= c.reqStart {
			c.afterIdle = true
		} else {
			c.pipelined = true
		}
	}
}

// at returns transaction i (0-based).
func (s *txStore) at(i int) *ctx {
	k, off := chunkOf(i)
	return &s.chunks[k][off]
}

// last returns the last transaction, or nil.
func (s *txStore) last() *ctx {
	if s.n == 0 {
		return nil
	}
	return s.at(s.n - 1)
}

// strTable holds a flow's strings other than the common ones, with the
// pointer each record field shares.
type strTable struct {
	strs []string
	ptrs []*string
}

// ref returns the sref of b: the string last stored (URIs and header
// values repeat on a connection), one of the few before it, or a new entry.
// Common values are not looked for (refString does).
func (t *strTable) ref(b []byte) sref {
	if n := len(t.strs); n > 0 && t.strs[n-1] == string(b) {
		return sref(len(common) + n)
	}
	for i := len(t.strs) - 2; i >= 0 && i >= len(t.strs)-4; i-- {
		if t.strs[i] == string(b) {
			return sref(len(common) + i + 1)
		}
	}
	t.strs = append(t.strs, string(b))
	return sref(len(common) + len(t.strs))
}

// refString is ref for a string.
func (t *strTable) refString(s string) sref {
	if r := commonRef(s); r != 0 {
		return r
	}
	if n := len(t.strs); n > 0 && t.strs[n-1] == s {
		return sref(len(common) + n)
	}
	t.strs = append(t.strs, s)
	return sref(len(common) + len(t.strs))
}

// str returns the string r names ("" for none).
func (t *strTable) str(r sref) string {
	switch {
	case r == 0:
		return ""
	case int(r) <= len(common):
		return common[r-1]
	}
	return t.strs[int(r)-len(common)-1]
}

// ptr returns the pointer a record holds for r: nil for none, one shared
// pointer per string.
func (t *strTable) ptr(r sref) *string {
	switch {
	case r == 0:
		return nil
	case int(r) <= len(common):
		return commonPtr[r-1]
	}
	i := int(r) - len(common) - 1
	for len(t.ptrs) <= i {
		t.ptrs = append(t.ptrs, nil)
	}
	if t.ptrs[i] == nil {
		t.ptrs[i] = &t.strs[i]
	}
	return t.ptrs[i]
}

// clock turns capture times into offsets from a base and back.
type clock struct {
	base      time.Time
	sec, nsec int64 // base's Unix seconds and nanoseconds
	set       bool
}

// off returns t as an offset. Times more than 292 years from the first one
// saturate (time.Time.Sub).
func (c *clock) off(t time.Time) int64 {
	if !c.set {
		c.base, c.sec, c.nsec, c.set = t, t.Unix(), int64(t.Nanosecond()), true
	}
	// What t.Sub(c.base) returns for times without monotonic readings (all
	// capture times: the clock is the packet) within 136 years of each
	// other, without its overflow checks.
	if ds := t.Unix() - c.sec; ds > -1<<32 && ds < 1<<32 {
		return ds*1e9 + int64(t.Nanosecond()) - c.nsec
	}
	if d := int64(t.Sub(c.base)); d != noTime {
		return d
	}
	return noTime + 1
}

// sub returns to.Sub(from) for the times of the offsets a and b
// (to = c.at(a), from = c.at(b)): a-b when both are offsets and the
// difference does not overflow, else what Sub returns.
func (c *clock) sub(a, b int64, to, from time.Time) time.Duration {
	if a != noTime && b != noTime {
		// a-b overflows only when a and b differ in sign and the result
		// differs in sign from a.
		if d := a - b; (a^b) >= 0 || (a^d) >= 0 {
			return time.Duration(d)
		}
	}
	return to.Sub(from)
}

// at returns the time of an offset, zero for noTime.
func (c *clock) at(off int64) time.Time {
	if off == noTime {
		return time.Time{}
	}
	return c.base.Add(time.Duration(off))
}
