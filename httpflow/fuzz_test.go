package httpflow

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/tcpstate"
)

// byteStreams collects the two reassembled byte streams of a connection.
type byteStreams struct{ b [2][]byte }

func (s *byteStreams) Data(d tcpstate.Dir, b []byte, _ time.Time) {
	if len(s.b[d]) < 4096 {
		s.b[d] = append(s.b[d], b[:min(len(b), 4096-len(s.b[d]))]...)
	}
}
func (s *byteStreams) Gap(tcpstate.Dir, int, time.Time) {}
func (s *byteStreams) FIN(tcpstate.Dir, time.Time)      {}
func (s *byteStreams) RST(tcpstate.Dir, time.Time)      {}
func (s *byteStreams) Done(*tcpstate.Conn)              {}

// realStreams returns the client and server bytes (the first 4 KiB of
// each) of the connections in the project's samples: real requests and
// responses of Go, lighttpd, Apache, python and curl for the fuzzers to
// mutate.
func realStreams(tb testing.TB) [][2][]byte {
	paths, _ := filepath.Glob("../samples/*.pcap")
	var out [][2][]byte
	for _, p := range paths {
		src, err := capture.Open(p)
		if err != nil {
			tb.Fatal(err)
		}
		var conns []*byteStreams
		tab := tcpstate.NewTable(tcpstate.DefaultConfig(), func(*tcpstate.Conn) tcpstate.Stream {
			s := &byteStreams{}
			conns = append(conns, s)
			return s
		})
		for {
			seg, err := src.Next()
			if err != nil {
				break
			}
			tab.Add(seg)
		}
		tab.Flush()
		src.Close()
		for _, c := range conns[:min(len(conns), 3)] {
			out = append(out, c.b)
		}
	}
	if len(out) == 0 {
		tb.Fatal("no sample connections")
	}
	return out
}

// FuzzFraming checks that the framer never panics, and that what it reports
// does not depend on how the stream was split into segments.
func FuzzFraming(f *testing.F) {
	for _, tc := range framingCases {
		f.Add([]byte(tc.in), tc.request, uint16(len(tc.in)/2), tc.closeAt)
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\n"), false, uint16(3), true)
	for i, s := range realStreams(f) {
		f.Add(s[0], true, uint16(i*37), i%2 == 0)
		f.Add(s[1], false, uint16(i*53), i%2 == 1)
	}
	f.Fuzz(func(t *testing.T, in []byte, request bool, split uint16, closeAt bool) {
		if len(in) > 1<<16 {
			return
		}
		methods := []string{"GET", "HEAD", "POST", "CONNECT"}
		whole := runFramer(request, methods, []string{string(in)}, closeAt)
		k := int(split) % (len(in) + 1)
		parts := runFramer(request, methods, []string{string(in[:k]), string(in[k:])}, closeAt)
		if startsWithStartLine(in[k:], request) {
			// The one place where the segments matter (framer.segmentStarts):
			// a segment that begins with a start line after bytes that are
			// no message begins a message, as tshark takes it.
			return
		}
		if strings.Join(whole, "\n") != strings.Join(parts, "\n") {
			t.Fatalf("input %q split at %d:\nwhole\n%s\nsplit\n%s", in, k, strings.Join(whole, "\n"), strings.Join(parts, "\n"))
		}
	})
}

// startsWithStartLine reports whether b begins with a whole status line
// (request: a request line with a common method).
func startsWithStartLine(b []byte, request bool) bool {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return false
	}
	l := bytes.TrimSuffix(b[:i], []byte("\r"))
	if request {
		m, _, _, ok := parseRequestLine(l)
		return ok && commonMethod(m)
	}
	_, _, ok := parseStatusLine(l)
	return ok
}

// FuzzFlow drives a whole connection's flow with arbitrary client and
// server bytes, gaps, FINs and RSTs, and checks the record is sound.
func FuzzFlow(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), uint8(0))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No\r\n\r\n"), uint8(5))
	f.Add([]byte("HEAD / HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"), uint8(9))
	f.Add([]byte("CONNECT a:443 HTTP/1.1\r\n\r\n\x16\x03"), []byte("HTTP/1.1 200 OK\r\n\r\n\x16\x03"), uint8(3))
	for i, s := range realStreams(f) {
		f.Add(s[0], s[1], uint8(i))
	}
	f.Fuzz(func(t *testing.T, req, resp []byte, script uint8) {
		var got []*Connection
		a := NewAnalyzer(Config{}, Emitting(new(Memory), func(c *Connection) { got = append(got, c) }))
		fl := a.Factory()(&tcpstate.Conn{}).(*flow)
		t0 := time.Unix(1, 0)
		// Interleave the two directions in chunks; the script's bits add
		// gaps, a client FIN, a server FIN or a RST.
		ci, si := 0, 0
		for step := 0; ci < len(req) || si < len(resp); step++ {
			now := t0.Add(time.Duration(step) * time.Millisecond)
			n := 1 + step%7
			if ci < len(req) {
				e := min(ci+n, len(req))
				fl.Data(tcpstate.ClientToServer, req[ci:e], now)
				ci = e
			}
			if si < len(resp) {
				e := min(si+n*3, len(resp))
				fl.Data(tcpstate.ServerToClient, resp[si:e], now)
				si = e
			}
			if script&1 != 0 && step == 1 {
				fl.Gap(tcpstate.ServerToClient, 10, now)
			}
		}
		now := t0.Add(time.Second)
		if script&2 != 0 {
			fl.FIN(tcpstate.ServerToClient, now)
		}
		if script&4 != 0 {
			fl.FIN(tcpstate.ClientToServer, now)
		}
		if script&8 != 0 {
			fl.RST(tcpstate.ServerToClient, now)
		}
		c := &tcpstate.Conn{FirstPacketAt: t0, LastPacketAt: now}
		fl.Done(c)
		if len(got) != 1 {
			t.Fatalf("Done emitted %d records, want 1", len(got))
		}
		r := got[0]
		for i, tx := range r.Transactions {
			if tx.Index != i+1 {
				t.Fatalf("transaction %d has index %d", i, tx.Index)
			}
			if tx.Status == 0 && tx.Complete {
				t.Fatalf("transaction %d complete without a response", tx.Index)
			}
		}
		for _, p := range r.IdlePeriods {
			if p.Duration < 0 || p.AfterTransaction < 1 || p.AfterTransaction >= len(r.Transactions) {
				t.Fatalf("bad idle period %+v with %d transactions", p, len(r.Transactions))
			}
		}
		if r.Close.Reason == 0 {
			t.Fatalf("no close reason")
		}
	})
}

// Found by FuzzFlow: a request whose first bytes came before the previous
// response's last byte, but whose request line was complete only after it,
// is pipelined; it has no idle period before it (it had one of -1 ms).
func TestRequestStartedBeforeResponseEndIsPipelined(t *testing.T) {
	var got []*Connection
	a := NewAnalyzer(Config{}, Emitting(new(Memory), func(c *Connection) { got = append(got, c) }))
	fl := a.Factory()(&tcpstate.Conn{}).(*flow)
	at := func(ms int) time.Time { return time.Unix(1, 0).Add(time.Duration(ms) * time.Millisecond) }
	fl.Data(tcpstate.ClientToServer, []byte("GET /a HTTP/1.1\r\n\r\n"), at(1))
	fl.Data(tcpstate.ServerToClient, []byte("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nok"), at(2))
	fl.Data(tcpstate.ClientToServer, []byte("GET /b HT"), at(3)) // before the response ends
	fl.Data(tcpstate.ServerToClient, []byte("ok"), at(4))
	fl.Data(tcpstate.ClientToServer, []byte("TP/1.1\r\n\r\n"), at(5)) // the line is whole only now
	fl.Data(tcpstate.ServerToClient, []byte("HTTP/1.1 204 No Content\r\n\r\n"), at(6))
	fl.Done(&tcpstate.Conn{FirstPacketAt: at(0), LastPacketAt: at(6)})
	r := got[0]
	if len(r.Transactions) != 2 {
		t.Fatalf("%d transactions, want 2", len(r.Transactions))
	}
	if tx := r.Transactions[1]; !tx.Pipelined || !tx.RequestStartAt.Equal(at(3)) {
		t.Errorf("request 2: pipelined %v, start %v; want pipelined, start %v", tx.Pipelined, tx.RequestStartAt, at(3))
	}
	if len(r.IdlePeriods) != 0 {
		t.Errorf("idle periods %+v, want none", r.IdlePeriods)
	}
}

// With Config.Transient the records' transactions are reused: each record,
// encoded when emitted, must be what a fresh one encodes to, whatever came
// before it (no transactions first, more, fewer, none again).
func TestTransientReuseEncodesFresh(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(1, 0).Add(time.Duration(ms) * time.Millisecond) }
	conns := [][]string{
		nil,
		{"/a", "/b", "/c"},
		{"/d"},
		nil,
		{"/e", "/f"},
	}
	run := func(transient bool) []string {
		var out []string
		a := NewAnalyzer(Config{Transient: transient}, Emitting(new(Memory), func(c *Connection) {
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}))
		for _, uris := range conns {
			fl := a.Factory()(&tcpstate.Conn{}).(*flow)
			ms := 0
			for i, u := range uris {
				ms += 10
				fl.Data(tcpstate.ClientToServer, []byte("GET "+u+" HTTP/1.1\r\n\r\n"), at(ms))
				if i != 1 { // the second request gets no response: no server time
					fl.Data(tcpstate.ServerToClient, []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), at(ms+1))
				}
			}
			fl.Done(&tcpstate.Conn{FirstPacketAt: at(0), LastPacketAt: at(ms + 5)})
		}
		return out
	}
	fresh, reused := run(false), run(true)
	if len(fresh) != len(conns) || len(reused) != len(conns) {
		t.Fatalf("%d and %d records, want %d", len(fresh), len(reused), len(conns))
	}
	for i := range fresh {
		if fresh[i] != reused[i] {
			t.Errorf("record %d (%d requests):\nfresh  %s\nreused %s", i, len(conns[i]), fresh[i], reused[i])
		}
	}
}

// A keep-alive pool's connection carries thousands of requests (wrk's, a
// load balancer's); with Config.Transient the next record reuses its
// transactions' memory instead of allocating as much again.
func TestTransientReusesPoolSizedRecords(t *testing.T) {
	at := func(us int) time.Time { return time.Unix(1, 0).Add(time.Duration(us) * time.Microsecond) }
	const reqs = 5000 // above the 4,096 once kept, below maxReusedTxs
	var recs [][]Transaction
	a := NewAnalyzer(Config{Transient: true}, Emitting(new(Memory), func(c *Connection) {
		recs = append(recs, c.Transactions)
	}))
	for range 2 {
		fl := a.Factory()(&tcpstate.Conn{}).(*flow)
		us := 0
		for range reqs {
			us += 10
			fl.Data(tcpstate.ClientToServer, []byte("GET / HTTP/1.1\r\n\r\n"), at(us))
			fl.Data(tcpstate.ServerToClient, []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), at(us+1))
		}
		fl.Done(&tcpstate.Conn{FirstPacketAt: at(0), LastPacketAt: at(us + 5)})
	}
	if len(recs) != 2 || len(recs[0]) != reqs || len(recs[1]) != reqs {
		t.Fatalf("got %d records, want 2 of %d transactions", len(recs), reqs)
	}
	if &recs[0][0] != &recs[1][0] {
		t.Errorf("the second %d-transaction record got fresh memory; want the first one's reused", reqs)
	}
}

// FuzzFramingCuts feeds the framer segments whose ends are cut or lost
// (the input's script says where and how much) and checks it never
// panics, keeps its line buffer bounded, and reports every message it ends
// after it began it, with a byte count no smaller than what was fed of it.
func FuzzFramingCuts(f *testing.F) {
	for _, tc := range framingCases {
		f.Add([]byte(tc.in), tc.request, []byte{byte(len(tc.in) / 3), 30, 0x80 | byte(len(tc.in)/2), 200})
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 4000\r\n\r\nabc"), false, []byte{29, 200, 30, 255})
	f.Add([]byte("GET /a/long/uri HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n\r\n"), true, []byte{10, 90, 0x80 | 20, 4})
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc"), false, []byte{52, 13, 2, 40})
	f.Fuzz(func(t *testing.T, in []byte, request bool, script []byte) {
		if len(in) > 1<<16 || len(script) > 64 {
			return
		}
		r := &recorder{methods: []string{"GET", "HEAD", "POST", "CONNECT"}}
		fr := &framer{request: request, h: r}
		at := time.Unix(0, 0)
		// Pairs of script bytes: feed the next k bytes, then a gap of
		// n bytes (the high bit of k: lost, else cut).
		for i := 0; i+1 < len(script) && len(in) > 0; i += 2 {
			k := min(int(script[i]&0x7f), len(in))
			fr.feed(in[:k], at)
			in = in[k:]
			if n := int(script[i+1]); n > 0 {
				fr.gap(n, at, script[i]&0x80 == 0)
			}
			at = at.Add(time.Millisecond)
			if cap(fr.line) > 2*maxLine {
				t.Fatalf("line buffer grew to %d bytes", cap(fr.line))
			}
		}
		fr.feed(in, at)
		fr.close(true)
		open := false
		for _, e := range r.events {
			switch {
			case strings.HasPrefix(e, "begin "):
				open = true
			case strings.HasPrefix(e, "end "):
				if !open {
					t.Fatalf("an end without a begin: %q", r.events)
				}
				open = false
				if strings.HasPrefix(e, "end -") {
					t.Fatalf("negative byte count: %q", e)
				}
			}
		}
	})
}
