package summary

import (
	"cmp"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/httplife/httplife/httpflow"
)

// Proxy legs: when a capture holds both sides of a proxy (client → proxy
// and proxy → upstream), each downstream request is linked to the
// upstream requests it caused: the same method and target, sent by the
// proxy's address while the downstream request was open (from its start to
// its response's end; five seconds when it got none), in order; a failed
// attempt (lost to a race, unanswered, or 5xx) and the retry after it are
// both linked. A pair of servers counts as proxy and upstream when at
// least half of the smaller side's requests link.

// TxRef names a transaction: a connection id and a transaction index.
type TxRef = httpflow.TxRef

// links are the proxy legs found.
type links struct {
	up   map[TxRef][]TxRef // downstream transaction → upstream attempts, in order
	down map[TxRef]TxRef   // upstream transaction → the downstream one
}

const unansweredWindow = 5 * time.Second

func (s *serverSet) link() {
	s.links = links{up: map[TxRef][]TxRef{}, down: map[TxRef]TxRef{}}
	if len(s.list) < 2 || s.capped && s.nArr == 0 {
		return
	}
	byServer := make([][]int, len(s.list)) // arrival indexes, by start
	clientsOf := make([]map[uint32]bool, len(s.list))
	for i := 0; i < s.nArr; i++ {
		a := s.arr(i)
		byServer[a.server] = append(byServer[a.server], i)
		if clientsOf[a.server] == nil {
			clientsOf[a.server] = map[uint32]bool{}
		}
		clientsOf[a.server][a.client] = true
	}
	for _, idx := range byServer {
		slices.SortFunc(idx, func(x, y int) int { return cmp.Compare(s.arr(x).start, s.arr(y).start) })
	}
	for d, ds := range s.list {
		for u, us := range s.list {
			proxy, ok := s.clients[ds.Server.Addr()]
			if d == u || len(byServer[d]) == 0 || len(byServer[u]) == 0 || !ok || !clientsOf[u][proxy] {
				continue
			}
			s.linkPair(byServer[d], byServer[u], ds, us)
		}
	}
}

// linkPair links the requests of downstream server d to those of upstream
// server u, keeping the links when enough of them match.
func (s *serverSet) linkPair(dIdx, uIdx []int, ds, us *Server) {
	// Upstream requests by method and target, in start order.
	byKey := map[uint64][]int{}
	for _, i := range uIdx {
		a := s.arr(i)
		byKey[a.methodURI] = append(byKey[a.methodURI], i)
	}
	// Correlation ids the downstream requests carry: an upstream request
	// with one of them belongs to that downstream request and no other.
	downIDs := map[uint64]bool{}
	for _, i := range dIdx {
		if r := s.arr(i).rid; r != 0 {
			downIDs[r] = true
		}
	}
	used := map[int]bool{}
	type link struct {
		down     int // arrival index
		attempts []int
	}
	found := map[TxRef]link{}
	limitOf := func(da *arrival) int64 {
		if da.flags&arrivalAnswered == 0 {
			return da.start + int64(unansweredWindow)
		}
		return da.end
	}
	// take returns the unused upstream request of key that starts in
	// [from, to] and, when answered, ends by end: the one with the
	// correlation id rid when there is one, else the earliest that carries
	// no other downstream request's id.
	take := func(key, rid uint64, from, to, end int64) int {
		pick := -1
		for _, j := range byKey[key] {
			ua := s.arr(j)
			if ua.start > to {
				break
			}
			if used[j] || ua.start < from {
				continue
			}
			if ua.flags&arrivalAnswered != 0 && end > 0 && ua.end > end+int64(time.Millisecond) {
				continue
			}
			if rid != 0 && ua.rid == rid {
				pick = j
				break
			}
			if pick < 0 && (ua.rid == 0 || !downIDs[ua.rid]) {
				pick = j
				if rid == 0 || !downIDs[rid] {
					break
				}
			}
		}
		if pick >= 0 {
			used[pick] = true
		}
		return pick
	}
	// First attempts, in downstream start order; then the retries of
	// those that failed, each after the attempt before it ended.
	var chains []*link
	for _, i := range dIdx {
		da := s.arr(i)
		end := int64(0)
		if da.flags&arrivalAnswered != 0 {
			end = da.end
		}
		if j := take(da.methodURI, da.rid, da.start, limitOf(da), end); j >= 0 {
			chains = append(chains, &link{i, []int{j}})
		}
	}
	for more := true; more; {
		more = false
		for _, l := range chains {
			last := s.arr(l.attempts[len(l.attempts)-1])
			da := s.arr(l.down)
			if !failed(last) || da.flags&arrivalAnswered == 0 && da.status == 0 && len(l.attempts) > 4 {
				continue
			}
			end := int64(0)
			if da.flags&arrivalAnswered != 0 {
				end = da.end
			}
			if j := take(da.methodURI, da.rid, last.end, limitOf(da), end); j >= 0 {
				l.attempts = append(l.attempts, j)
				more = true
			}
		}
	}
	matched := len(chains)
	for _, l := range chains {
		da := s.arr(l.down)
		found[TxRef{Conn: int(da.conn), Tx: int(da.tx)}] = *l
	}
	smaller := min(len(dIdx), len(uIdx))
	if matched < minBasis || 2*matched < smaller {
		return
	}
	ds.Upstream = appendAddr(ds.Upstream, us.Server)
	us.Downstream = appendAddr(us.Downstream, ds.Server)
	refs := make([]TxRef, 0, len(found))
	for ref := range found {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool {
		return refs[i].Conn < refs[j].Conn || refs[i].Conn == refs[j].Conn && refs[i].Tx < refs[j].Tx
	})
	lastErrConn := -1
	for _, ref := range refs {
		l := found[ref]
		attempts := l.attempts
		var ups []TxRef
		anyFailed := false
		for _, j := range attempts {
			ua := s.arr(j)
			r := TxRef{Conn: int(ua.conn), Tx: int(ua.tx)}
			ups = append(ups, r)
			s.links.down[r] = ref
			anyFailed = anyFailed || failed(ua)
		}
		s.links.up[ref] = append(s.links.up[ref], ups...)
		da := s.arr(l.down)
		if !anyFailed {
			continue
		}
		if da.flags&arrivalLost != 0 && failed(s.arr(attempts[len(attempts)-1])) {
			ds.RacesFromUpstream++
		}
		if da.flags&arrivalAnswered == 0 || da.status >= 500 {
			us.DownstreamErrors++
			if da.flags&arrivalPOST != 0 {
				us.DownstreamErrorPOSTs++
			}
			if ref.Conn != lastErrConn {
				lastErrConn = ref.Conn
				us.downstreamErrorConnsTotal++
				if len(us.DownstreamErrorConns) < 10 {
					us.DownstreamErrorConns = append(us.DownstreamErrorConns, ref.Conn)
				}
			}
		} else if len(attempts) > 1 {
			us.RetriedOK++
		}
	}
	sort.Ints(us.DownstreamErrorConns)
}

// failed reports whether an upstream attempt failed: lost to a race,
// unanswered, or a 5xx.
func failed(a *arrival) bool {
	return a.flags&arrivalLost != 0 || a.flags&arrivalAnswered == 0 || a.status >= 500
}

func appendAddr(l []netip.AddrPort, a netip.AddrPort) []netip.AddrPort {
	for _, x := range l {
		if x == a {
			return l
		}
	}
	return append(l, a)
}

// Links returns the proxy legs found: the upstream attempts of each
// downstream transaction, and the downstream transaction of each upstream
// one. Call it after Final or Digest.
func (b *Builder) Links() (up map[TxRef][]TxRef, down map[TxRef]TxRef) {
	b.servers(0)
	return b.srv.links.up, b.srv.links.down
}
