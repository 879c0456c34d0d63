package metrics

import (
	"net/netip"
	"sort"
)

// maxCandidates bounds the servers followed between two collections that
// have no label yet: past it, the less busy half counts as "other".
const maxCandidates = 1000

// serverTable gives servers their labels. A server seen for the first
// time is a candidate; at each collection (settle) the busiest eligible
// candidates take the free labels, for good, and the other candidates are
// folded into "other". So a series never goes down: "other" only ever
// takes counts that were never exported under another label, and a
// labelled server's series starts with everything it counted.
type serverTable struct {
	max        int
	labelled   []*serverStats
	index      map[netip.AddrPort]*serverStats // the labelled and the candidates
	candidates int
	other      *serverStats
}

func (t *serverTable) init(max int) {
	t.max = max
	t.index = map[netip.AddrPort]*serverStats{}
	t.other = newServerStats(netip.AddrPort{})
	t.other.label = Other
}

// stats returns the stats that count a's connections.
func (t *serverTable) stats(a netip.AddrPort) *serverStats {
	if s, ok := t.index[a]; ok {
		return s
	}
	if t.candidates >= maxCandidates {
		t.shed()
	}
	s := newServerStats(a)
	t.index[a] = s
	t.candidates++
	return s
}

// eligible says whether a candidate may take a label: it carried HTTP or
// more than one connection (a port scan's one SYN per port never does).
func eligible(s *serverStats) bool { return s.httpConns > 0 || s.conns > 1 }

// busier orders candidates, the busiest first.
func busier(a, b *serverStats) bool {
	if a.httpConns != b.httpConns {
		return a.httpConns > b.httpConns
	}
	if a.conns != b.conns {
		return a.conns > b.conns
	}
	return a.addr.Compare(b.addr) < 0
}

func (t *serverTable) candidateList() []*serverStats {
	l := make([]*serverStats, 0, t.candidates)
	for _, s := range t.index {
		if s.label == "" {
			l = append(l, s)
		}
	}
	sort.Slice(l, func(i, j int) bool { return busier(l[i], l[j]) })
	return l
}

// shed folds the less busy half of the candidates into "other".
func (t *serverTable) shed() {
	l := t.candidateList()
	for _, s := range l[len(l)/2:] {
		t.fold(s)
	}
}

func (t *serverTable) fold(s *serverStats) {
	t.other.merge(s)
	delete(t.index, s.addr)
	t.candidates--
}

// settle labels the busiest eligible candidates while labels are free and
// folds the others into "other" (called before each collection).
func (t *serverTable) settle() {
	if t.candidates == 0 {
		return
	}
	for _, s := range t.candidateList() {
		if len(t.labelled) < t.max && eligible(s) {
			s.label = s.addr.String()
			t.labelled = append(t.labelled, s)
			t.candidates--
			continue
		}
		t.fold(s)
	}
	sort.Slice(t.labelled, func(i, j int) bool { return t.labelled[i].addr.Compare(t.labelled[j].addr) < 0 })
}

// maxTimeWaits bounds the TIME_WAITs followed (16 bytes each): past it,
// the one that ends first is let go early.
const maxTimeWaits = 1 << 20

type twEntry struct {
	exp  int64 // Unix ns
	host int32
	side uint8
}

type twHost struct {
	addr netip.Addr
	held [2]int // by side: client, server
}

// twTable follows the TIME_WAITs running at the packet clock, per holder
// host: a min-heap of expiries and the count per host.
type twTable struct {
	max    int
	heap   []twEntry
	hosts  []twHost
	free   []int32
	byAddr map[netip.Addr]int32
}

func (t *twTable) init(max int) {
	t.max = max
	t.byAddr = map[netip.Addr]int32{}
}

func (t *twTable) add(a netip.Addr, side int, exp int64) {
	i, ok := t.byAddr[a]
	if !ok {
		if n := len(t.free); n > 0 {
			i, t.free = t.free[n-1], t.free[:n-1]
			t.hosts[i] = twHost{addr: a}
		} else {
			i = int32(len(t.hosts))
			t.hosts = append(t.hosts, twHost{addr: a})
		}
		t.byAddr[a] = i
	}
	t.hosts[i].held[side]++
	if len(t.heap) >= maxTimeWaits {
		t.pop()
	}
	t.push(twEntry{exp, i, uint8(side)})
}

// expire lets go of the TIME_WAITs over at now (Unix ns).
func (t *twTable) expire(now int64) {
	for len(t.heap) > 0 && t.heap[0].exp <= now {
		t.pop()
	}
}

func (t *twTable) push(e twEntry) {
	t.heap = append(t.heap, e)
	for i := len(t.heap) - 1; i > 0; {
		p := (i - 1) / 2
		if t.heap[p].exp <= t.heap[i].exp {
			break
		}
		t.heap[i], t.heap[p] = t.heap[p], t.heap[i]
		i = p
	}
}

// pop removes the entry that ends first and its count.
func (t *twTable) pop() {
	e := t.heap[0]
	n := len(t.heap) - 1
	t.heap[0] = t.heap[n]
	t.heap = t.heap[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && t.heap[l].exp < t.heap[m].exp {
			m = l
		}
		if r := l + 1; r < n && t.heap[r].exp < t.heap[m].exp {
			m = r
		}
		if m == i {
			break
		}
		t.heap[i], t.heap[m] = t.heap[m], t.heap[i]
		i = m
	}
	h := &t.hosts[e.host]
	h.held[e.side]--
	if h.held[0] == 0 && h.held[1] == 0 {
		delete(t.byAddr, h.addr)
		t.free = append(t.free, e.host)
	}
}

// twRow is one exported series pair: a host (or "other") and its counts.
type twRow struct {
	label string
	held  [2]int
}

// rows returns the hosts holding TIME_WAIT, the t.max holding the most by
// address, then "other" with the rest (when any).
func (t *twTable) rows() []twRow {
	hs := make([]*twHost, 0, len(t.byAddr))
	for _, i := range t.byAddr {
		hs = append(hs, &t.hosts[i])
	}
	sort.Slice(hs, func(i, j int) bool {
		a, b := hs[i].held[0]+hs[i].held[1], hs[j].held[0]+hs[j].held[1]
		if a != b {
			return a > b
		}
		return hs[i].addr.Compare(hs[j].addr) < 0
	})
	var rows []twRow
	var other twRow
	for k, h := range hs {
		if k < t.max {
			rows = append(rows, twRow{label: h.addr.String(), held: h.held})
			continue
		}
		other.held[0] += h.held[0]
		other.held[1] += h.held[1]
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].label < rows[j].label })
	if len(hs) > t.max {
		other.label = Other
		rows = append(rows, other)
	}
	return rows
}
