package summary

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/httplife/httplife/httpflow"
)

// The what-if replay: a server's requests, as the capture shows them
// arrive (per client host, in order, with the observed response times),
// replayed against server idle timeouts T. Each client host keeps a pool
// of connections: a request takes the connection the capture shows it on
// while the replay has that one open and idle, else the most recently used
// idle one (as Go's and nginx's pools do), or opens a connection when none
// is idle; a
// connection idle for T is closed by the server (which then holds
// TIME_WAIT for 2MSL), or for the clients' own idle close first when the
// capture shows one (the client holds TIME_WAIT); connections the capture
// shows closing after a request for another reason (Connection: close,
// HTTP/1.0, a request limit) close after it there too. A request that
// reuses a connection idle for between T minus half a round trip (or half
// the spread of the server's idle closes, its timer's jitter) and T
// plus the client's lag in noticing a FIN (half a round trip, or the
// stale-reuse lag the capture shows) is expected to race.

// WhatIfTimeouts are the timeouts every replay tries, besides the
// inferred one.
var WhatIfTimeouts = []time.Duration{1 * time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
	15 * time.Second, 30 * time.Second, 60 * time.Second, 75 * time.Second, 120 * time.Second}

// intervalPeak returns the most intervals [start, end) open at once,
// exactly (by sorting their ends).
func intervalPeak(iv [][2]int64) int {
	if len(iv) == 0 {
		return 0
	}
	starts := make([]int64, len(iv))
	ends := make([]int64, len(iv))
	for i, x := range iv {
		starts[i], ends[i] = x[0], x[1]
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	sort.Slice(ends, func(i, j int) bool { return ends[i] < ends[j] })
	open, p, k := 0, 0, 0
	for _, st := range starts {
		for k < len(ends) && ends[k] <= st {
			open--
			k++
		}
		open++
		p = max(p, open)
	}
	return p
}

// peaks counts the most intervals open at once, exactly: each interval
// is two events, sorted by a radix sort (linear in the events; a
// comparison sort of the hundreds of thousands of intervals a big
// capture's replays make cost most of its summary).
type peaks struct {
	from    int64
	ev, tmp []uint64
}

func (p *peaks) reset(from int64) { p.from, p.ev = from, p.ev[:0] }

// add counts [a, b); an end sorts before a start at the same instant.
func (p *peaks) add(a, b int64) {
	if b > a && a >= p.from {
		p.ev = append(p.ev, uint64(a-p.from)<<1|1, uint64(b-p.from)<<1)
	}
}

func (p *peaks) peak() int {
	p.tmp = radixSort(p.ev, p.tmp)
	open, m := 0, 0
	for _, e := range p.ev {
		if e&1 == 1 {
			open++
			m = max(m, open)
		} else {
			open--
		}
	}
	return m
}

// radixSort sorts v in place (LSD, 11 bits a pass, as many passes as
// its largest value needs; a comparison sort for short slices), using tmp
// as scratch; it returns the scratch.
func radixSort(v, tmp []uint64) []uint64 {
	if len(v) < 512 {
		slices.Sort(v)
		return tmp
	}
	var hi uint64
	for _, x := range v {
		hi |= x
	}
	if cap(tmp) < len(v) {
		tmp = make([]uint64, len(v))
	}
	tmp = tmp[:len(v)]
	const bits = 11
	src, dst := v, tmp
	var count [1 << bits]int
	for shift := uint(0); shift < 64 && hi>>shift != 0; shift += bits {
		clear(count[:])
		for _, x := range src {
			count[(x>>shift)&(1<<bits-1)]++
		}
		pos := 0
		for i, c := range count {
			count[i] = pos
			pos += c
		}
		for _, x := range src {
			d := (x >> shift) & (1<<bits - 1)
			dst[count[d]] = x
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &v[0] {
		copy(v, src)
	}
	return tmp
}

// poolConn is one connection of the replay.
type poolConn struct {
	lastEnd int64
	last    int32 // index of its last request
	open    bool
	idle    bool   // in its pool's idle list (at entry gen)
	gen     uint32 // bumped when it leaves the idle list: older entries are stale
}

type idleEntry struct {
	c   *poolConn
	gen uint32
}

// pool is one client host's idle connections in the order they became
// idle (so by lastEnd: the oldest first, the most recent last). Taking one
// from the middle (the connection the capture used) leaves a stale entry
// behind, skipped later: every operation is amortised O(1).
type pool struct {
	idle []idleEntry
	head int
}

func (p *pool) pushIdle(c *poolConn) {
	c.idle = true
	if p.head > 64 && p.head > len(p.idle)/2 { // reuse the space the oldest left
		n := copy(p.idle, p.idle[p.head:])
		p.idle, p.head = p.idle[:n], 0
	}
	p.idle = append(p.idle, idleEntry{c, c.gen})
}

// leaveIdle takes c out of the idle list.
func (c *poolConn) leaveIdle() { c.idle = false; c.gen++ }

// oldest returns the idle connection idle longest, or nil.
func (p *pool) oldest() *poolConn {
	for p.head < len(p.idle) {
		e := p.idle[p.head]
		if e.c.idle && e.c.gen == e.gen {
			return e.c
		}
		p.head++
	}
	p.idle, p.head = p.idle[:0], 0
	return nil
}

// newest returns the most recently idle connection, or nil.
func (p *pool) newest() *poolConn {
	for len(p.idle) > p.head {
		e := p.idle[len(p.idle)-1]
		if e.c.idle && e.c.gen == e.gen {
			return e.c
		}
		p.idle = p.idle[:len(p.idle)-1]
	}
	return nil
}

// replayReq is one request as the replay reads it: its arrivals in start
// order, dense indexes for the capture's connection and the client host,
// and when it ended (its retry's response for a lost request).
type replayReq struct {
	start, end int64
	conn       int32 // dense index of the capture's connection
	client     uint32
	closes     bool // the connection closes after it whatever the timeout
	closer     httpflow.Side
}

// replayReqs makes the replay's requests of a server's arrivals (by
// start, retries marked), leaving the retries out: the lost request they
// repeat stands for both.
func replayReqs(arr []*arrival, from int64) (reqs []replayReq, byEnd []int32, nConns, nClients int) {
	// Dense connection indexes: a slice over the ids' range when it is
	// not much wider than the requests, else a map.
	lo, hi := int32(math.MaxInt32), int32(math.MinInt32)
	for _, a := range arr {
		lo, hi = min(lo, a.conn), max(hi, a.conn)
	}
	var denseS []int32
	var denseM map[int32]int32
	if len(arr) > 0 && int64(hi)-int64(lo) < 4*int64(len(arr))+1024 {
		denseS = make([]int32, int(hi-lo)+1)
	} else {
		denseM = map[int32]int32{}
	}
	denseOf := func(id int32) int32 {
		if denseS != nil {
			if denseS[id-lo] == 0 {
				nConns++
				denseS[id-lo] = int32(nConns)
			}
			return denseS[id-lo] - 1
		}
		d, ok := denseM[id]
		if !ok {
			d = int32(nConns)
			nConns++
			denseM[id] = d
		}
		return d
	}
	reqs = make([]replayReq, 0, len(arr))
	for _, a := range arr {
		if a.flags&arrivalRetry != 0 {
			continue
		}
		end := max(a.end, a.start, a.rend)
		reqs = append(reqs, replayReq{start: a.start, end: end, conn: denseOf(a.conn), client: a.client,
			closes: a.flags&arrivalCloses != 0, closer: a.closer})
		nClients = max(nClients, int(a.client)+1)
	}
	// The requests by end: a radix sort of (end, index) keys when they
	// fit 64 bits, else a comparison sort.
	byEnd = make([]int32, len(reqs))
	const idxBits = 18 // maxArrivals < 1<<18
	maxEnd := int64(0)
	for i := range reqs {
		maxEnd = max(maxEnd, reqs[i].end-from)
	}
	if len(reqs) < 1<<idxBits && maxEnd >= 0 && maxEnd < 1<<(64-idxBits) {
		keys := make([]uint64, len(reqs))
		for i := range reqs {
			keys[i] = uint64(max(reqs[i].end-from, 0))<<idxBits | uint64(i)
		}
		radixSort(keys, nil)
		for i, k := range keys {
			byEnd[i] = int32(k & (1<<idxBits - 1))
		}
	} else {
		for i := range byEnd {
			byEnd[i] = int32(i)
		}
		sort.SliceStable(byEnd, func(i, j int) bool { return reqs[byEnd[i]].end < reqs[byEnd[j]].end })
	}
	return reqs, byEnd, nConns, nClients
}

// replay runs a server's requests against timeout T.
// idleP and twP are reset here.
//
// saturated reports that nothing in the replay depended on T: no idle
// connection reached its timeout (before a request, or before the capture
// ended) and no request raced a close. Each of those tests compares a
// gap the capture fixes against the close delay or T, and both only grow
// with T (the close delay is min(T, clientT) when the client's timeout is
// shorter), so every test comes out the same for any longer timeout: the
// replay of a longer T is this one's, but for its Timeout (whatIf skips
// it; TestReplaySaturated checks the claim).
func replay(reqs []replayReq, byEnd []int32, nConns, nClients int, T, clientT, twoMSL time.Duration, early, lag time.Duration, from, to int64, idleP, twP *peaks) (w WhatIf, saturated bool) {
	w = WhatIf{Timeout: T}
	timed := 0 // closes at a time T decides
	span := to - from
	if span <= 0 {
		span = 1
	}
	idleP.reset(from)
	twP.reset(from)
	clientTW := map[uint32][][2]int64{}
	pools := make([]*pool, nClients)
	owner := make([]*poolConn, nConns) // the capture's connection → the replay's
	var idleNS float64
	tS, cS := int64(T), int64(clientT)
	closeDelay, closer := tS, httpflow.Server
	if cS > 0 && cS < tS {
		closeDelay, closer = cS, httpflow.Client
	}
	close := func(c *poolConn, at int64, by httpflow.Side, client uint32) {
		c.open = false
		twP.add(at, at+int64(twoMSL))
		if by == httpflow.Client {
			clientTW[client] = append(clientTW[client], [2]int64{at, at + int64(twoMSL)})
		}
	}
	idleFor := func(c *poolConn, until int64) {
		if until > c.lastEnd {
			idleNS += float64(until - c.lastEnd)
			idleP.add(c.lastEnd, until)
		}
	}
	// Requests end in the same order whatever the timeout: byEnd walks
	// them, making each one's connection idle when it ended (if it is
	// still that connection's last request) before a later request starts.
	connOf := make([]*poolConn, len(reqs))
	next := 0
	ended := func(t int64) {
		for ; next < len(byEnd) && reqs[byEnd[next]].end <= t; next++ {
			k := byEnd[next]
			c := connOf[k]
			if c != nil && c.open && !c.idle && c.lastEnd == reqs[k].end && c.last == k {
				pools[reqs[k].client].pushIdle(c)
			}
		}
	}
	// expire closes the client's idle connections whose timeout passed by t.
	expire := func(p *pool, client uint32, t int64) {
		for c := p.oldest(); c != nil && c.lastEnd+closeDelay+int64(lag) <= t; c = p.oldest() {
			c.leaveIdle()
			idleFor(c, c.lastEnd+closeDelay)
			close(c, c.lastEnd+closeDelay, closer, client)
			timed++
		}
	}
	for i := range reqs {
		a := &reqs[i]
		p := pools[a.client]
		if p == nil {
			p = &pool{}
			pools[a.client] = p
		}
		ended(a.start)
		expire(p, a.client, a.start)
		// The connection the capture used, while the replay keeps it
		// open and idle; else the pool's most recently used idle one.
		pick := owner[a.conn]
		if pick == nil || !pick.open || !pick.idle {
			pick = p.newest()
		}
		if pick != nil {
			pick.leaveIdle()
			gap := a.start - pick.lastEnd
			idleFor(pick, a.start)
			if gap >= tS-int64(early) && (cS == 0 || cS >= tS) {
				// The request meets the server's close: lost, and retried
				// on a new connection.
				w.Races++
				close(pick, pick.lastEnd+tS, httpflow.Server, a.client)
				pick = nil
			} else {
				w.Reused++
			}
		}
		if pick == nil {
			pick = &poolConn{open: true}
			w.Connections++
		}
		owner[a.conn] = pick
		pick.lastEnd, pick.last = a.end, int32(i)
		connOf[i] = pick
		if a.closes {
			close(pick, pick.lastEnd, a.closer, a.client)
		}
	}
	// What is still open when the capture ends stays idle until its
	// timeout.
	ended(math.MaxInt64)
	for client, p := range pools {
		if p == nil {
			continue
		}
		for _, e := range p.idle[p.head:] {
			c := e.c
			if !c.idle || c.gen != e.gen || !c.open {
				continue
			}
			closeAt := c.lastEnd + closeDelay
			idleFor(c, min(closeAt, to))
			if closeAt <= to {
				close(c, closeAt, closer, uint32(client))
				timed++
			}
		}
	}
	w.IdleMean = idleNS / float64(span)
	w.IdlePeak = idleP.peak()
	w.TimeWaitPeak = twP.peak()
	for _, iv := range clientTW {
		w.ClientTimeWaitPeak = max(w.ClientTimeWaitPeak, intervalPeak(iv))
	}
	return w, timed == 0 && w.Races == 0
}

// whatIf replays each server's requests.
func (s *serverSet) whatIf(twoMSL time.Duration) {
	if s.nArr == 0 || s.first.IsZero() {
		return
	}
	byServer := make([][]*arrival, len(s.list))
	for i := 0; i < s.nArr; i++ {
		a := s.arr(i)
		byServer[a.server] = append(byServer[a.server], a)
	}
	from, to := s.first.UnixNano(), s.last.UnixNano()
	// As many replays at once as there are processors, each with a pair
	// of event buffers it reuses.
	free := make(chan *[2]peaks, runtime.GOMAXPROCS(0))
	for range cap(free) {
		free <- new([2]peaks)
	}
	for i, sv := range s.list {
		arr := byServer[i]
		if len(arr) == 0 {
			continue
		}
		sortByStart(arr, from)
		rtts := append([]float64(nil), sv.rtts...)
		sort.Float64s(rtts)
		rttHalf := 50 * time.Microsecond
		if len(rtts) > 0 {
			rttHalf = secsDuration(rtts[len(rtts)/2] / 2)
		}
		lag := max(rttHalf, sv.StaleLag)
		// A request that arrives this much before the timeout may still
		// meet the close: half a round trip, or the jitter of the server's
		// timer the capture shows (half the spread of its idle closes).
		early := rttHalf
		if sv.HasIdleTimeout {
			early = max(early, min(sv.Spread/2, sv.IdleTimeout/10))
		}
		markRetries(arr)
		var clientT time.Duration
		if sv.HasClientIdleClose && sv.ClientIdleClose >= clientOnce {
			clientT = sv.ClientIdleClose
		}
		ts := append([]time.Duration(nil), WhatIfTimeouts...)
		if sv.HasIdleTimeout {
			ts = append(ts, sv.IdleTimeout)
			sort.Slice(ts, func(a, b int) bool { return ts[a] < ts[b] })
		}
		// Each replay on its own goroutine, shortest timeout first; once one
		// is saturated (see replay), the longer ones not yet started are
		// its copies.
		reqs, byEnd, nConns, nClients := replayReqs(arr, from)
		results := make([]WhatIf, len(ts))
		var mu sync.Mutex
		satK := len(ts) // the shortest saturated replay's index (under mu)
		var wg sync.WaitGroup
		for k, T := range ts {
			ps := <-free
			mu.Lock()
			skip := satK < k
			mu.Unlock()
			if skip {
				free <- ps
				continue
			}
			wg.Add(1)
			go func() {
				defer func() { free <- ps; wg.Done() }()
				w, saturated := replay(reqs, byEnd, nConns, nClients, T, clientT, twoMSL, early, lag, from, to, &ps[0], &ps[1])
				results[k] = w
				if saturated {
					mu.Lock()
					satK = min(satK, k)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for k, T := range ts {
			if k > satK {
				results[k] = results[satK]
				results[k].Timeout = T
			}
			w := results[k]
			w.Inferred = sv.HasIdleTimeout && T == sv.IdleTimeout
			switch c, sv2 := sv.closeHolders[0], sv.closeHolders[1]; {
			case clientT > 0 && clientT < T:
				w.TimeWaitHolder = "client"
			case c > sv2:
				w.TimeWaitHolder = "client"
			default:
				w.TimeWaitHolder = "server"
			}
			sv.WhatIf = append(sv.WhatIf, w)
			if w.Inferred {
				sv.ReplayCheck = replayCheck(&w, sv, arr, s.capped)
				sv.Formula = formula(sv, &w, arr, from, to)
			}
		}
		if !sv.HasIdleTimeout && sv.HasAdvertised && sv.Advertised > 0 {
			T := secsDuration(sv.Advertised)
			var w WhatIf
			if satK < len(ts) && ts[satK] <= T {
				w = results[satK]
				w.Timeout = T
			} else {
				ps := <-free
				w, _ = replay(reqs, byEnd, nConns, nClients, T, clientT, twoMSL, early, lag, from, to, &ps[0], &ps[1])
				free <- ps
			}
			sv.Formula = formula(sv, &w, arr, from, to)
		}
	}
}

// sortByStart sorts a server's arrivals by start, ties in log order: a
// radix sort of (start, index) keys when they fit 64 bits, else a stable
// comparison sort.
func sortByStart(arr []*arrival, from int64) {
	const idxBits = 17 // maxArrivals < 1<<17
	hi := int64(0)
	for _, a := range arr {
		hi = max(hi, a.start-from)
	}
	if len(arr) >= 1<<idxBits || hi >= 1<<(63-idxBits) {
		slices.SortStableFunc(arr, func(x, y *arrival) int { return cmp.Compare(x.start, y.start) })
		return
	}
	keys := make([]uint64, len(arr))
	for i, a := range arr {
		keys[i] = uint64(max(a.start-from, 0))<<idxBits | uint64(i)
	}
	radixSort(keys, nil)
	sorted := make([]*arrival, len(arr))
	for i, k := range keys {
		sorted[i] = arr[k&(1<<idxBits-1)]
	}
	copy(arr, sorted)
}

// retryWindow is how soon after a lost request its client's repeat of it
// counts as a retry.
const retryWindow = time.Second

// markRetries marks each request that repeats (same client host, method
// and target) a request lost to a race that ended at most retryWindow
// before it: a proxy or a client pool retrying on a new connection. The
// replay counts the two as one request, which races or not by the
// timeout replayed, and ends when the retry's response ended.
func markRetries(arr []*arrival) {
	type key struct {
		client uint32
		mu     uint64
	}
	pending := map[key]*arrival{}
	for _, a := range arr {
		k := key{a.client, a.methodURI}
		if p := pending[k]; p != nil && a.start >= p.end && a.start-p.end <= int64(retryWindow) {
			a.flags |= arrivalRetry
			p.rend = a.end
			delete(pending, k)
			if a.flags&arrivalLost != 0 {
				pending[k] = p // lost again: the next retry still belongs to p
			}
			continue
		}
		if a.flags&arrivalLost != 0 {
			pending[k] = a
		}
	}
}

// replayCheck says how close the replay at the inferred timeout came to
// what the capture shows.
func replayCheck(w *WhatIf, sv *Server, arr []*arrival, capped bool) string {
	conns := map[int32]bool{}
	races := 0
	for _, a := range arr {
		conns[a.conn] = true
		if a.flags&arrivalLost != 0 {
			races++
		}
	}
	got, want := w.Connections, len(conns)
	off := 0.0
	if want > 0 {
		off = 100 * math.Abs(float64(got-want)) / float64(want)
	}
	scope := ""
	if capped && len(arr) < sv.Transactions {
		scope = fmt.Sprintf(" (of the %d requests the replay keeps)", len(arr))
	}
	return fmt.Sprintf("at the inferred %s the replay opens %d connections where the capture shows %d carrying requests%s (%.1f %% off) and expects %d races where it shows %d",
		Secs(w.Timeout.Seconds()), got, want, scope, off, w.Races, races)
}

// formula computes the tuning guides' seed and compares it with the
// replay at the same timeout.
func formula(sv *Server, w *WhatIf, arr []*arrival, from, to int64) Formula {
	d := float64(to-from) / 1e9
	if d <= 0 || sv.connsWithRequests == 0 {
		return Formula{}
	}
	f := Formula{Timeout: w.Timeout, CaptureDurationS: d, Valid: true}
	f.RequestsPerSec = float64(len(arr)) / d
	f.RequestsPerConn = float64(len(arr)) / float64(sv.connsWithRequests)
	f.Processes = w.Timeout.Seconds() * f.RequestsPerSec / f.RequestsPerConn
	var busy float64
	for _, a := range arr {
		busy += float64(max(a.end-a.start, 0))
	}
	f.ReplayIdleMean = w.IdleMean
	f.ReplayBusyMean = busy / float64(to-from)
	f.ReplayHeldMean = f.ReplayIdleMean + f.ReplayBusyMean
	switch {
	case f.ReplayHeldMean < 0.7*f.Processes:
		f.DiffersBecause = "the formula has every connection wait out the whole timeout after its last request; here connections are reused (or closed) well before it, so fewer are held"
	case f.ReplayHeldMean > 1.3*f.Processes:
		f.DiffersBecause = "the formula assumes requests arrive evenly; here they come in bursts that need more connections at once than the average rate does"
	default:
		f.DiffersBecause = "they agree within 30 %: requests arrive about evenly and connections wait out the timeout"
	}
	return f
}
