package summary

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"time"

	"github.com/httplife/httplife/httpflow"
)

// Per server endpoint: the idle timeout in force, inferred from the final
// idles of the connections it closed while idle; its clients' own idle
// closes (a pool's idle timeout); what it advertised; its races; and the
// log of its requests that the what-if replay and the proxy-leg links
// read. Bounded: at most maxServerStats servers are followed one by one,
// at most maxValues closes each, at most maxArrivals requests in all.

const (
	maxServerStats = 1000
	maxValues      = 8192
	maxArrivals    = 30000 // about 2 MB; the what-if replays cost about 0.15 µs a request and timeout
	// minBasis is the fewest closes an inferred timeout is based on.
	minBasis = 3
	// clientOnce is the idle below which a client's close is its use of
	// a connection once, not a pool's idle timeout.
	clientOnce = 50 * time.Millisecond
)

// Server is what the capture shows of one server endpoint: the summary's
// object and what the advice and the text output say besides.
type Server struct {
	httpflow.ServerSummary
	LongestReuse                 time.Duration // the longest idle gap after which a client sent a request (answered or lost)
	RacesByKind                  map[httpflow.RaceKind]int
	RaceIdempotent, RaceNonIdem  int
	RaceConns                    []int // the first few races' connection ids
	RaceRSTAcked                 int   // silent drops whose RST acknowledged the request: the server closed with it unread
	NearTimeout                  int   // requests that reused a connection idle for at least 90 % of IdleTimeout
	StaleLag                     time.Duration
	HintServer, HintClient       string // known defaults that match, as hints
	ClientBasis                  int
	Formula                      Formula
	ReplayCheck                  string // how close the replay at IdleTimeout came to the capture
	Upstream                     []netip.AddrPort
	Downstream                   []netip.AddrPort
	DownstreamErrors             int   // downstream 5xx or unanswered linked to a failed attempt here
	DownstreamErrorConns         []int // the first few downstream connections with such errors
	downstreamErrorConnsTotal    int
	DownstreamErrorPOSTs         int
	RetriedOK                    int // downstream requests answered after a retry here
	RacesFromUpstream            int // races here that were the proxy closing after its upstream request failed
	nArrivals, connsWithRequests int
	closeHolders                 [3]int // TIME_WAIT by client, server, both
	advertisedCounts             map[float64]int
	idleCloses, clientCloses     []float64
	gaps                         []float64
	staleLags                    []float64
	raceFinIdles                 []float64 // idle before the server's FIN on connections that raced
	// RaceCloseIdle is the median idle after which the server's FIN met a
	// request, when races had FINs.
	RaceCloseIdle    time.Duration
	HasRaceCloseIdle bool
	rtts             []float64
}

// WhatIf is a replay of a server's requests (httpflow.WhatIf).
type WhatIf = httpflow.WhatIf

// Formula is the tuning guides' seed (httpflow.Formula).
type Formula = httpflow.Formula

// arrival is one request in the order log.
type arrival struct {
	start, end int64 // Unix ns: request start, response end (or request end)
	rend       int64 // for a lost request: the end of its retry's response (0: none)
	methodURI  uint64
	rid        uint64 // hash of the request's correlation id; 0: none
	server     int32  // index into serverSet.list
	conn       int32  // connection id
	tx         int32  // transaction index
	client     uint32 // index into serverSet.clients
	status     int16
	flags      uint8 // arrival* flags
	race       httpflow.RaceKind
	closer     httpflow.Side // who closed after it when arrivalCloses
}

const (
	arrivalCloses   = 1 << iota // the connection closed after this request for a reason other than an idle timeout
	arrivalAnswered             // a final response ended
	arrivalFirst                // the first request on its connection
	arrivalIdle                 // it followed an idle period on its connection
	arrivalLost                 // lost to a keep-alive race
	arrivalPOST                 // a POST or PATCH: not idempotent
	arrivalRetry                // a client's retry of a request lost just before (whatIf's markRetries)
)

type serverSet struct {
	index         map[netip.AddrPort]int
	list          []*Server
	clients       map[netip.Addr]uint32 // client hosts of the arrivals
	links         links
	done          bool
	over          int         // connections of servers past maxServerStats
	arrivalChunks [][]arrival // the request log (appendArrival, arr)
	nArr          int
	capped        bool // maxArrivals reached
	first         time.Time
	last          time.Time
}

func newServerSet() serverSet {
	return serverSet{index: map[netip.AddrPort]int{}, clients: map[netip.Addr]uint32{}}
}

func (s *serverSet) client(a netip.Addr) uint32 {
	i, ok := s.clients[a]
	if !ok {
		i = uint32(len(s.clients))
		s.clients[a] = i
	}
	return i
}

func hashMethodURI(m, u string) uint64 {
	// FNV-1a over method, a separator and the URI.
	h := uint64(14695981039346656037)
	for i := 0; i < len(m); i++ {
		h = (h ^ uint64(m[i])) * 1099511628211
	}
	h = (h ^ ' ') * 1099511628211
	for i := 0; i < len(u); i++ {
		h = (h ^ uint64(u[i])) * 1099511628211
	}
	return h
}

func appendCappedF(v []float64, x float64) []float64 {
	if len(v) < maxValues {
		return append(v, x)
	}
	return v
}

func (s *serverSet) add(c *httpflow.Connection) {
	i, ok := s.index[c.Server]
	if !ok {
		if len(s.list) >= maxServerStats {
			s.over++
			return
		}
		i = len(s.list)
		s.index[c.Server] = i
		s.list = append(s.list, &Server{ServerSummary: httpflow.ServerSummary{Server: c.Server},
			RacesByKind: map[httpflow.RaceKind]int{}, advertisedCounts: map[float64]int{}})
	}
	sv := s.list[i]
	sv.Connections++
	sv.Transactions += len(c.Transactions)
	if len(c.Transactions) > 0 {
		sv.connsWithRequests++
	}
	for _, t := range [2]time.Time{c.FirstPacketAt, c.LastPacketAt} {
		if t.IsZero() {
			continue
		}
		if s.first.IsZero() || t.Before(s.first) {
			s.first = t
		}
		if t.After(s.last) {
			s.last = t
		}
	}
	if h := c.Handshake; h != nil {
		if rtt, ok := h.RTT(); ok && len(sv.rtts) < maxValues {
			sv.rtts = append(sv.rtts, rtt.Seconds())
		}
	}
	if t := c.KeepAlive.AdvertisedTimeout; t != nil {
		sv.advertisedCounts[*t]++
	}
	if f := c.FinalIdle; f != nil && len(c.Transactions) > 0 && c.KeepAlive.Persistent {
		switch reason := c.Close.Reason; {
		case reason == httpflow.ReasonServerIdleTimeout && clientEndedTLS(c):
			// The server's FIN answered the client's close_notify: the
			// client's idle close, no timeout of the server's.
			sv.clientCloses = appendCappedF(sv.clientCloses, f.Duration.Seconds())
		case reason == httpflow.ReasonServerIdleTimeout:
			sv.idleCloses = appendCappedF(sv.idleCloses, closingIdle(c).Seconds())
		case reason == httpflow.ReasonClientIdleClose:
			sv.clientCloses = appendCappedF(sv.clientCloses, f.Duration.Seconds())
		}
	}
	for _, p := range c.IdlePeriods {
		k := p.AfterTransaction // the request after it was answered?
		if k >= 0 && k < len(c.Transactions) && p.Duration > sv.LongestReuse {
			sv.LongestReuse = p.Duration
		}
		sv.gaps = appendCappedF(sv.gaps, p.Duration.Seconds())
	}
	if r := c.Close.Race; r != nil && c.Close.Reason == httpflow.ReasonKeepaliveRace {
		sv.Races++
		sv.RacesByKind[r.Kind]++
		if r.IdleBefore > sv.LongestReuse {
			sv.LongestReuse = r.IdleBefore
		}
		if k := r.Transaction - 1; c.Close.FirstFinBy == httpflow.Server && k >= 1 && k < len(c.Transactions) {
			if prev := c.Transactions[k-1].ResponseEndAt; !prev.IsZero() && c.Close.FirstFinAt.After(prev) {
				sv.raceFinIdles = appendCappedF(sv.raceFinIdles, c.Close.FirstFinAt.Sub(prev).Seconds())
			}
		}
		if r.Idempotent {
			sv.RaceIdempotent++
		} else {
			sv.RaceNonIdem++
		}
		if len(sv.RaceConns) < 10 {
			sv.RaceConns = append(sv.RaceConns, c.ID)
		}
		if r.Kind == httpflow.RaceSilentDrop && r.RSTAckedRequest {
			sv.RaceRSTAcked++
		}
		if r.Kind == httpflow.RaceStaleReuse && r.Transaction >= 1 && r.Transaction <= len(c.Transactions) && !c.Close.FirstFinAt.IsZero() {
			if lag := c.Transactions[r.Transaction-1].RequestStartAt.Sub(c.Close.FirstFinAt); lag > 0 {
				sv.staleLags = appendCappedF(sv.staleLags, lag.Seconds())
			}
		}
	}
	if tw := c.TimeWait; tw != nil {
		switch tw.Holder {
		case httpflow.Client:
			sv.closeHolders[0]++
		case httpflow.Server:
			sv.closeHolders[1]++
		case httpflow.Both:
			sv.closeHolders[2]++
		}
	}
	// The request log.
	client := s.client(c.Client.Addr())
	clientClosed := c.Close.Reason == httpflow.ReasonClientIdleClose ||
		c.Close.Reason == httpflow.ReasonServerIdleTimeout && clientEndedTLS(c)
	for k := range c.Transactions {
		if s.nArr >= maxArrivals {
			s.capped = true
			break
		}
		t := &c.Transactions[k]
		a := arrival{server: int32(i), conn: int32(c.ID), tx: int32(t.Index), client: client,
			start: t.RequestStartAt.UnixNano(), methodURI: hashMethodURI(t.Method, t.URI), status: int16(t.Status)}
		if t.RequestID != "" {
			a.rid = hashMethodURI("", t.RequestID) | 1
		}
		end := t.ResponseEndAt
		if end.IsZero() {
			end = t.RequestEndAt
		}
		if end.IsZero() {
			end = t.RequestStartAt
		}
		a.end = end.UnixNano()
		if t.Answered() {
			a.flags |= arrivalAnswered
		}
		if t.Method == "POST" || t.Method == "PATCH" {
			a.flags |= arrivalPOST
		}
		if k == 0 {
			a.flags |= arrivalFirst
		}
		if k > 0 && !t.Pipelined {
			a.flags |= arrivalIdle
		}
		if r := c.Close.Race; r != nil && r.Transaction == t.Index {
			a.flags |= arrivalLost
			a.race = r.Kind
		}
		// The connection closed after its last request for a reason the
		// replay keeps whatever the timeout: not persistent, or its client
		// closed at once (a client that uses each connection once).
		if k == len(c.Transactions)-1 && (!c.KeepAlive.Persistent ||
			clientClosed && c.FinalIdle != nil && c.FinalIdle.Duration < clientOnce) {
			a.flags |= arrivalCloses
			a.closer = c.Close.FirstFinBy
			if c.Close.FirstFinBy == httpflow.NoSide {
				a.closer = httpflow.Server
			}
		}
		s.appendArrival(a)
		sv.nArrivals++
	}
}

// InferTimeout is the idle timeout that final idles (seconds) show, as the
// summary infers a server's (idle_timeout_s) and its clients' pools'
// (client_idle_close_s): the median of the largest cluster of values,
// its half-width and size; ok is false when the cluster has fewer than
// the 3 values an inference needs.
func InferTimeout(finalIdles []float64) (timeout, spread time.Duration, basis int, ok bool) {
	m, sp, n := cluster(finalIdles)
	if n < minBasis {
		return 0, 0, n, false
	}
	return secsDuration(m), secsDuration(sp), n, true
}

// cluster finds the largest cluster of values (within max(10 ms, 5 %) of
// its smallest) and returns its median, half-width and size.
func cluster(v []float64) (median, spread float64, n int) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	best, bi, bj := 0, 0, 0
	for i, j := 0, 0; i < len(s); i++ {
		tol := math.Max(0.010, 0.05*s[i])
		if j < i {
			j = i
		}
		for j+1 < len(s) && s[j+1]-s[i] <= tol {
			j++
		}
		if j-i+1 > best {
			best, bi, bj = j-i+1, i, j
		}
	}
	w := s[bi : bj+1]
	m := w[len(w)/2]
	if len(w)%2 == 0 {
		m = (w[len(w)/2-1] + w[len(w)/2]) / 2
	}
	return m, (w[len(w)-1] - w[0]) / 2, len(w)
}

func secsDuration(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }

// knownDefault names the well-known default a timeout matches, as a hint.
func knownDefault(t float64, client bool) string {
	type def struct {
		secs  float64
		name  string
		tolS  float64
		asCli bool
	}
	defs := []def{
		{75, "nginx keepalive_timeout's default 75 s", 1, false},
		{5, "the default 5 s of Apache KeepAliveTimeout and lighttpd server.max-keep-alive-idle", 0.3, false},
		{6, "Node.js's default keepAliveTimeout 5 s (Node closes about 1 s after it)", 0.3, false},
		{2, "gunicorn's default keepalive 2 s", 0.2, false},
		{20, "Tomcat's default keepAliveTimeout (connectionTimeout 20 s)", 1, false},
		{60, "a 60 s idle timeout (AWS ALB's default; nginx upstream keepalive_timeout's default)", 1.5, false},
		{120, "IIS's default connection timeout 120 s", 2, false},
		{15, "Apache 2.2's default KeepAliveTimeout 15 s", 0.8, false},
		{90, "Go http.Transport's default IdleConnTimeout 90 s", 2, true},
		{60, "nginx upstream keepalive_timeout's default 60 s", 1.5, true},
		{350, "AWS NLB's fixed idle timeout 350 s", 5, true},
	}
	for _, d := range defs {
		if d.asCli == client && math.Abs(t-d.secs) <= d.tolS {
			return d.name
		}
	}
	return ""
}

// result finishes the servers: inferred timeouts, what-if, links (once).
func (s *serverSet) result(twoMSL time.Duration) []*Server {
	if s.done {
		return s.sorted()
	}
	s.done = true
	for _, sv := range s.list {
		if m, sp, n := cluster(sv.idleCloses); n >= minBasis {
			sv.IdleTimeout, sv.Spread, sv.Basis, sv.HasIdleTimeout = secsDuration(m), secsDuration(sp), n, true
			sv.HintServer = knownDefault(m, false)
		}
		if m, _, n := cluster(sv.clientCloses); n >= minBasis {
			sv.ClientIdleClose, sv.ClientBasis, sv.HasClientIdleClose = secsDuration(m), n, true
			sv.HintClient = knownDefault(m, true)
		}
		best := 0
		for t, n := range sv.advertisedCounts {
			if n > best || n == best && t < sv.Advertised {
				best, sv.Advertised, sv.HasAdvertised = n, t, true
			}
		}
		if sv.HasIdleTimeout && sv.HasAdvertised {
			if d := sv.IdleTimeout.Seconds() - sv.Advertised; d > 0.8 && d < 1.3 {
				sv.HintServer = fmt.Sprintf("the pattern of Node.js 20's http server: keepAliveTimeout %s advertised, its idle timer armed 1 s later", fmtFloat(sv.Advertised)+" s")
			}
		}
		if sv.HasIdleTimeout {
			limit := 0.9 * sv.IdleTimeout.Seconds()
			for _, g := range sv.gaps {
				if g >= limit {
					sv.NearTimeout++
				}
			}
		}
		if len(sv.raceFinIdles) > 0 {
			l := append([]float64(nil), sv.raceFinIdles...)
			sort.Float64s(l)
			sv.RaceCloseIdle, sv.HasRaceCloseIdle = secsDuration(l[len(l)/2]), true
		}
		if len(sv.staleLags) > 0 {
			l := append([]float64(nil), sv.staleLags...)
			sort.Float64s(l)
			sv.StaleLag = secsDuration(l[int(math.Ceil(0.9*float64(len(l))))-1])
		}
	}
	s.link()
	s.whatIf(twoMSL)
	return s.sorted()
}

func (s *serverSet) sorted() []*Server {
	out := append([]*Server(nil), s.list...)
	sort.Slice(out, func(i, j int) bool { return out[i].Server.Compare(out[j].Server) < 0 })
	return out
}

// The arrival log is kept in chunks that never move: appending never
// copies what is there, and no allocation is bigger than a chunk.
const arrivalChunk = 8192

func (s *serverSet) appendArrival(a arrival) {
	if s.nArr%arrivalChunk == 0 {
		s.arrivalChunks = append(s.arrivalChunks, make([]arrival, arrivalChunk))
	}
	s.arrivalChunks[s.nArr/arrivalChunk][s.nArr%arrivalChunk] = a
	s.nArr++
}

// arr returns arrival i.
func (s *serverSet) arr(i int) *arrival { return &s.arrivalChunks[i/arrivalChunk][i%arrivalChunk] }

// clientEndedTLS reports whether the client ended c's TLS session with a
// close_notify before the server's first FIN (httpflow.TLS.ClientEnded).
func clientEndedTLS(c *httpflow.Connection) bool { return c.TLS != nil && c.TLS.ClientEnded }

// closingIdle is how long the connection was idle when its close began:
// the final idle period, up to an HTTP/2 server's GOAWAY when it sent one
// in that period (its timeout fired there; Go's FIN follows a second
// later). c.FinalIdle must be set.
func closingIdle(c *httpflow.Connection) time.Duration {
	f := c.FinalIdle
	if g := c.Close.GoAwayAt; !g.IsZero() && !g.Before(f.StartAt) && g.Before(f.EndAt) {
		return g.Sub(f.StartAt)
	}
	return f.Duration
}
