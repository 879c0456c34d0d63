package tlsrec

import "time"

// Span is a run of application-data records of one side.
type Span struct {
	First   time.Time // capture time of the first record's first byte
	Last    time.Time // capture time of the last record's last byte
	Records int
	Bytes   int64 // on the wire, record headers included
}

func (s *Span) add(r Record) {
	if s.Records == 0 {
		s.First = r.First
	}
	s.Last = r.Last
	s.Records++
	s.Bytes += int64(r.Len)
}

// Exchange is one inferred transaction: a request run and its response.
type Exchange struct {
	Request  Span
	Response Span // Records 0: unanswered
}

// Inferrer builds the inferred transactions of a connection that was not
// decrypted from its records: a request is a run of client records whose
// Inner is application data, started by the first such record or by one
// after server data; its response is the server's application-data records
// that follow, until the next request. Other records (handshake, alerts,
// judged NewSessionTickets) are ignored, and so is server data before the
// first request. The zero value is ready to use.
type Inferrer struct {
	cur     Exchange
	open    bool
	last    Dir
	Orphans int // server application-data records before any request
}

// Add feeds the next record (in the order the Handler got them). When the
// record starts a new request, the previous exchange is complete and
// returned with ok true.
func (x *Inferrer) Add(d Dir, r Record) (done Exchange, ok bool) {
	if r.Inner != TypeApplicationData {
		return Exchange{}, false
	}
	defer func() { x.last = d }()
	if d == ServerToClient {
		if !x.open {
			x.Orphans++
			return Exchange{}, false
		}
		x.cur.Response.add(r)
		return Exchange{}, false
	}
	if x.open && x.last == ClientToServer {
		x.cur.Request.add(r)
		return Exchange{}, false
	}
	done, ok = x.cur, x.open
	x.cur = Exchange{}
	x.cur.Request.add(r)
	x.open = true
	return done, ok
}

// Flush returns the exchange in progress, if any, and forgets it.
func (x *Inferrer) Flush() (Exchange, bool) {
	done, ok := x.cur, x.open
	x.cur, x.open = Exchange{}, false
	return done, ok
}
