// Package tcpstate follows TCP connections through a capture.
//
// In: decoded TCP segments (capture.Segment) in capture order, through
// Table.Add, then Table.Flush at the end of the input. A connection is its
// two endpoints and the tunnel that carries it (Segment.CarrierKey).
// Captures as they come from the field are taken as they are (order.go):
// a packet captured twice is processed once (Stats.Duplicates); a segment
// that acknowledges peer bytes not seen yet waits for them, so a mirror
// that delays one direction makes one connection with the right roles;
// times that go backwards and payloads the snaplen cut are counted
// (Stats.Warnings).
//
// Out: for every connection a Stream (made by the caller's Factory) receives
// the connection's payload in sequence order per direction, with the capture
// time of the packet that carried each byte, gaps where the capture lacks
// bytes (Conn.InCut tells the snaplen's from lost segments), the FIN and RST
// of each side, and finally Done with the Conn facts: handshake, packets and
// bytes per side, retransmissions, TCP keep-alive probes, missing and cut
// bytes, first FIN and RST, each side's RFC 9293 state and TIME_WAIT, and
// how each side's first packet was carried.
//
// Call order: Add for every segment, in capture order; Flush once at the end.
// Streams are called synchronously from Add and Flush. The clock is the
// packet: nothing here reads the wall clock.
package tcpstate

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/httplife/httplife/capture"
)

// Config tunes a Table.
type Config struct {
	// Ports, when not empty, keeps only connections with one of these ports.
	Ports map[uint16]bool
	// ServerPorts names ports that mark the server side when no SYN is seen.
	ServerPorts map[uint16]bool
	// TwoMSL is how long TIME_WAIT lasts (60 s on Linux; 0 or less: 60 s).
	// It is the one setting of 2MSL: Side.TimeWaitUntil carries it to
	// every later stage.
	TwoMSL time.Duration
	// Linger is how long, in capture time, a finished connection waits for
	// late packets (the last ACK, retransmitted FINs) before Done.
	Linger time.Duration
	// MaxConns caps the connection table (0: no cap). Past the cap,
	// half-open connections are evicted first, then the least recently
	// active ones.
	MaxConns int
	// MaxHalfOpen caps the connections that have neither completed a
	// handshake nor carried data (what a SYN flood makes), like a kernel's
	// SYN backlog: past twice this many, the oldest are evicted down to it
	// (0: MaxConns/10).
	MaxHalfOpen int
	// MaxBuffered caps the out-of-order bytes buffered per direction.
	MaxBuffered int
	// Shard makes the table one of several that share a capture, each
	// fed the segments of its own connections (internal/pipeline's
	// sharded run): a connection's ID is the packet number of its first
	// packet (the caller renumbers them in first-packet order), and Add
	// neither sweeps nor moves the clock past the segment: the caller
	// calls Advance with the capture's clock before each segment and
	// Sweep where a single table's Add would have swept (every SweepEvery
	// of capture time).
	Shard bool
}

// SweepEvery is how often, in capture time, a table reports the finished
// connections whose linger passed and forgets expired TIME_WAITs.
const SweepEvery = sweepEvery

// DefaultConfig returns the defaults of the CLI.
func DefaultConfig() Config {
	return Config{TwoMSL: 60 * time.Second, Linger: time.Second, MaxConns: 100000, MaxBuffered: 4 << 20}
}

// WithDefaults returns c with the defaults NewTable uses for the settings
// left at zero.
func (c Config) WithDefaults() Config {
	if c.Linger <= 0 {
		c.Linger = time.Second
	}
	if c.TwoMSL <= 0 {
		c.TwoMSL = DefaultConfig().TwoMSL
	}
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = 4 << 20
	}
	if c.MaxHalfOpen <= 0 && c.MaxConns > 0 {
		c.MaxHalfOpen = max(c.MaxConns/10, 1)
	}
	return c
}

// Stats counts what the table did.
type Stats struct {
	Connections uint64 // connections created
	Filtered    uint64 // segments outside Config.Ports
	Late        uint64 // segments of connections already reported
	Evicted     uint64 // connections evicted by the cap
	// Duplicates counts segments dropped as copies of one captured
	// moments before (order.go): never processed, never retransmissions.
	Duplicates uint64
	// Held counts segments held because they acknowledged bytes of the
	// peer not processed yet (a capture that reorders the directions);
	// HoldsExpired the holds that ended without those bytes.
	Held, HoldsExpired uint64
	// Backwards counts segments captured earlier than the segment before
	// them (merged or multi-interface captures), BackwardsMax the largest
	// such step.
	Backwards    uint64
	BackwardsMax time.Duration
	// CutSegments counts segments whose payload the snaplen cut, CutBytes
	// the payload bytes cut off them (duplicates not counted).
	CutSegments, CutBytes uint64
	// The packet numbers (capture.Segment.N) of the first backwards step
	// and the first cut segment, for the warnings.
	FirstBackwards, FirstCut uint64
}

// Warnings says, for people, what in the counters changes how a capture's
// records read: timestamps that went backwards, payloads the snaplen cut.
func (s Stats) Warnings() []string {
	var w []string
	// Backwards timestamps are the capture's to say (it sees every
	// packet, and which file it came from); the counts stay in Stats.
	if s.CutSegments > 0 {
		w = append(w, fmt.Sprintf("%d segments cut by the snaplen (%d bytes) from packet %d; responses and bodies past the cut are counted, not parsed",
			s.CutSegments, s.CutBytes, s.FirstCut))
	}
	return w
}

// sweepEvery is how often, in capture time, sweep runs from Add.
const sweepEvery = 250 * time.Millisecond

// ShardOf returns which of n tables (Config.Shard) seg's connection goes
// to: a hash of its endpoints, the same both ways and whatever tunnel id
// each direction carries (a one-way tunnel key joins its connection in
// the same table).
func ShardOf(seg *capture.Segment, n int) int {
	k := makeKey(seg.Src, seg.Dst, 0)
	h := k.a1 ^ k.a0<<1
	h = h*0x9e3779b97f4a7c15 ^ k.b1 ^ k.b0<<1
	h = h*0x9e3779b97f4a7c15 ^ uint64(k.pa)<<16 ^ uint64(k.pb)
	h *= 0x9e3779b97f4a7c15
	return int((h >> 32) * uint64(n) >> 32)
}

// instant is a time.Time reduced to the instant, a pointer-free form for
// the tombstones.
type instant struct {
	sec  int64
	nsec int32
}

func instantOf(t time.Time) instant { return instant{t.Unix(), int32(t.Nanosecond())} }

func (i instant) before(j instant) bool {
	return i.sec < j.sec || i.sec == j.sec && i.nsec < j.nsec
}

// connRef is a queue's reference to a connection, stale once the
// connection was reported. A Conn is never reused for another connection
// (docs/performance.md: reusing them showed no gain), so a reference can
// only go stale that way.
type connRef struct {
	c *Conn
}

// live reports whether the reference is still to an unreported connection.
func (r connRef) live() bool { return !r.c.reported }

// tomb remembers a reported connection until its TIME_WAIT (or linger)
// ends, so that its late packets do not open a new one.
type tomb struct {
	expires instant // end of TIME_WAIT (or of the linger)
	tw      bool    // a side was in TIME_WAIT
}

// tombEntry is a tomb's place in the expiry queue.
type tombEntry struct {
	k       key
	expires instant
}

// Table is the connection table.
type Table struct {
	cfg     Config
	factory Factory
	conns   map[key]*Conn
	recent  *[recentSlots]*Conn // connections of recent segments, by key.slot(); each also in conns
	tombs   map[key]tomb
	tombQ   []tombEntry
	tombAt  int       // tombQ[:tombAt] expired
	closing []connRef // finished connections waiting out the linger, in the order they finished
	halfQ   []connRef // connections opened by a SYN, oldest first; some no longer half-open
	nextID  int
	now     time.Time
	last    int64     // the previous segment's time, Unix ns
	sweepAt time.Time // when Add runs sweep next: sweepEvery after the last
	cur     uint64    // the packet number of the segment being added
	stats   Stats
	// Connections holding segments (order.go), in the order their holds
	// began; holdQ[:holdAt] done with. heldBytes: payload held by all.
	holdQ     []holdRef
	holdAt    int
	heldBytes int
	// Connections in a tunnel with an id that carried one direction
	// only, by their endpoints (key.go).
	oneWay map[key]oneWay
	alias  map[*Conn]key // the second key of connections that have one
	// Connections whose key has a carrier id, by their endpoints: where
	// a bare copy of their segments looks for them (cross.go).
	tunneled map[key]*Conn
}

// NewTable returns an empty table. factory is called once per connection,
// when its client side is known.
func NewTable(cfg Config, factory Factory) *Table {
	cfg = cfg.WithDefaults()
	return &Table{cfg: cfg, factory: factory, conns: make(map[key]*Conn), tombs: make(map[key]tomb), oneWay: make(map[key]oneWay), alias: make(map[*Conn]key), tunneled: make(map[key]*Conn),
		recent: new([recentSlots]*Conn)}
}

// Config returns the table's settings, defaults filled in.
func (t *Table) Config() Config { return t.cfg }

// Stats returns the table's counters.
func (t *Table) Stats() Stats { return t.stats }

// Open returns the number of connections in the table.
func (t *Table) Open() int { return len(t.conns) }

// Add processes one segment. seg and its payload are not retained.
func (t *Table) Add(seg *capture.Segment) {
	t.cur = seg.N
	ns := seg.Time.UnixNano()
	if seg.Time.After(t.now) {
		t.now = seg.Time
	} else if ns < t.last && !t.cfg.Shard { // a sharded run counts these for all the tables
		if t.stats.Backwards == 0 {
			t.stats.FirstBackwards = seg.N
		}
		t.stats.Backwards++
		if d := time.Duration(t.last - ns); d > t.stats.BackwardsMax {
			t.stats.BackwardsMax = d
		}
	}
	t.last = ns
	if len(t.cfg.Ports) > 0 && !t.cfg.Ports[seg.Src.Port()] && !t.cfg.Ports[seg.Dst.Port()] {
		t.stats.Filtered++
		return
	}
	if len(t.holdQ) > 0 {
		t.expireHolds()
	}
	if !t.cfg.Shard && !t.now.Before(t.sweepAt) {
		t.sweep()
	}
	k := makeKey(seg.Src, seg.Dst, seg.CarrierKey)
	syn := seg.Flags&(capture.SYN|capture.ACK) == capture.SYN
	// The connections of recent packets are looked at before the map: a
	// few thousand slots hold the busy connections, where the map costs a
	// cache miss or two per packet.
	slot := k.slot()
	c := t.recent[slot]
	if c == nil || !c.key.eq(&k) {
		c = t.conns[k]
		if c == nil && k.ck != 0 {
			c = t.pairOf(k, seg)
		}
		if c == nil {
			c = t.crossOf(k, seg, ns)
		}
	}
	if c != nil && c.inOneWay {
		t.heard(c, seg)
	}
	if c != nil && c.cross == nil && (seg.Carrier != nil) != c.carried {
		c.startCross()
	}
	if c != nil && c.duplicate(t, seg, ns, c.sideOf(seg)) {
		if c.cross != nil {
			c.cross.shown(c, seg, ns)
		}
		return
	}
	if c != nil && c.cross != nil && c.crossCopy(t, seg, ns) {
		return
	}
	if c != nil && syn && c.restartedBy(seg) {
		t.done(c)
		c = nil
	}
	if c == nil {
		tb, dead := t.tombs[k]
		if dead && !syn {
			t.stats.Late++
			return
		}
		c = t.newConn(k, seg)
		c.duplicate(t, seg, ns, 0) // remembers its identity
		if syn && t.cfg.MaxHalfOpen > 0 {
			t.halfQ = append(t.halfQ, connRef{c})
			if len(t.halfQ) >= 2*t.cfg.MaxHalfOpen {
				// Amortised: the queue is walked once per MaxHalfOpen SYNs.
				t.trimHalfOpen(t.cfg.MaxHalfOpen)
			}
		}
		if dead {
			delete(t.tombs, k)
			if tb.tw && instantOf(seg.Time).before(tb.expires) {
				c.Anomalies = append(c.Anomalies, "port-reused-in-time-wait")
			}
		}
	}
	if seg.PayloadLen > len(seg.Payload) {
		if t.stats.CutSegments == 0 {
			t.stats.FirstCut = seg.N
		}
		t.stats.CutSegments++
		t.stats.CutBytes += uint64(seg.PayloadLen - len(seg.Payload))
	}
	if i := c.sideOf(seg); len(c.held) == 0 && c.ready(seg, i, nil) {
		c.add(t, seg, ns) // submit's common case, inline
	} else {
		c.submit(t, seg, i, ns)
	}
	t.recent[slot] = c
	if c.reported {
		t.recent[slot] = nil
	}
	if c.finished && !c.queued {
		t.settle(c)
	}
}

// settle queues c for its report once it finished.
func (t *Table) settle(c *Conn) {
	if c.finished && !c.queued && !c.reported {
		c.queued, c.finishN = true, t.cur
		t.closing = append(t.closing, connRef{c})
	}
}

// Advance moves the table's clock to now when it is later (Config.Shard:
// the capture's clock, which other tables' packets moved).
func (t *Table) Advance(now time.Time) {
	if now.After(t.now) {
		t.now = now
	}
}

// Sweep moves the clock to now and reports the finished connections whose
// linger passed, as Add does every SweepEvery (Config.Shard).
func (t *Table) Sweep(now time.Time) { t.Tick(now) }

func (t *Table) newConn(k key, seg *capture.Segment) *Conn {
	if t.cfg.MaxConns > 0 && len(t.conns) >= t.cfg.MaxConns {
		t.evict()
	}
	t.nextID++
	t.stats.Connections++
	c := new(Conn)
	c.ID, c.key, c.FirstPacketAt, c.twoMSL = t.nextID, k, seg.Time, t.cfg.TwoMSL
	if t.cfg.Shard {
		c.ID = int(seg.N)
	}
	c.firstNs, c.lastNs = seg.Time.UnixNano(), math.MinInt64
	c.carried = seg.Carrier != nil
	c.Sides[0].Addr = seg.Src
	c.Sides[1].Addr = seg.Dst
	t.conns[k] = c
	if k.ck != 0 {
		t.oneWay[k.tuple()] = oneWay{c, seg.Src}
		c.inOneWay = true
		t.tunneled[k.tuple()] = c
	}
	return c
}

// trimHalfOpen drops from the half-open queue what is no longer half-open,
// then evicts the oldest half-open connections until at most keep remain.
func (t *Table) trimHalfOpen(keep int) {
	live := t.halfQ[:0]
	for _, r := range t.halfQ {
		if r.live() && r.c.halfOpen() {
			live = append(live, r)
		}
	}
	clear(t.halfQ[len(live):])
	t.halfQ = live
	if n := len(live) - keep; n > 0 {
		for _, r := range live[:n] {
			r.c.Evicted = true
			t.stats.Evicted++
			t.done(r.c)
		}
		t.halfQ = append(t.halfQ[:0], live[n:]...)
	}
}

// evict makes room for one connection: half-open ones (no data, no
// completed handshake) first, then a tenth of the cap, least recently
// active first.
func (t *Table) evict() {
	n := t.cfg.MaxConns / 10
	if n < 1 {
		n = 1
	}
	before := t.stats.Evicted
	t.trimHalfOpen(len(t.halfQ) - n)
	if t.stats.Evicted > before && len(t.conns) < t.cfg.MaxConns {
		return
	}
	victims := make([]*Conn, 0, len(t.conns))
	for _, c := range t.conns {
		victims = append(victims, c)
	}
	sort.Slice(victims, func(i, j int) bool {
		a, b := victims[i], victims[j]
		if ha, hb := a.halfOpen(), b.halfOpen(); ha != hb {
			return ha
		}
		if !a.LastPacketAt.Equal(b.LastPacketAt) {
			return a.LastPacketAt.Before(b.LastPacketAt)
		}
		return a.ID < b.ID
	})
	for _, c := range victims[:n] {
		if c.reported {
			continue // a connection with two keys is listed twice
		}
		c.Evicted = true
		t.stats.Evicted++
		t.done(c)
	}
}

// sweep reports finished connections whose linger has passed and forgets
// expired tombstones.
func (t *Table) sweep() {
	t.sweepAt = t.now.Add(sweepEvery)
	i := 0
	for ; i < len(t.closing); i++ {
		r := t.closing[i]
		if !r.live() {
			continue
		}
		c := r.c
		if t.now.Sub(c.doneAt) < t.cfg.Linger {
			break
		}
		t.done(c)
	}
	n := copy(t.closing, t.closing[i:])
	clear(t.closing[n:])
	t.closing = t.closing[:n]
	for ; t.tombAt < len(t.tombQ); t.tombAt++ {
		tb := t.tombQ[t.tombAt]
		if instantOf(t.now).before(tb.expires) {
			break
		}
		if cur, ok := t.tombs[tb.k]; ok && cur.expires == tb.expires {
			delete(t.tombs, tb.k)
		}
	}
	if t.tombAt > len(t.tombQ)/2 { // forget the expired half, now and then
		t.tombQ = t.tombQ[:copy(t.tombQ, t.tombQ[t.tombAt:])]
		t.tombAt = 0
	}
	if len(t.halfQ) > 1024 {
		// Forget connections that are no longer half-open, so the queue
		// does not keep finished connections alive.
		t.trimHalfOpen(len(t.halfQ))
	}
}

// done finishes c: forced reassembly of what is left, then Stream.Done.
func (t *Table) done(c *Conn) {
	if c.reported {
		return
	}
	c.reported = true
	if t.conns[c.key] == c {
		delete(t.conns, c.key)
	}
	if slot := c.key.slot(); t.recent[slot] == c {
		t.recent[slot] = nil
	}
	if c.inOneWay {
		if w := t.oneWay[c.key.tuple()]; w.c == c {
			delete(t.oneWay, c.key.tuple())
		}
		c.inOneWay = false
	}
	if c.key.ck != 0 && t.tunneled[c.key.tuple()] == c {
		delete(t.tunneled, c.key.tuple())
	}
	var alias key
	hasAlias := c.hasAlias
	if hasAlias {
		alias = t.alias[c]
		delete(t.alias, c)
		if t.conns[alias] == c {
			delete(t.conns, alias)
		}
		if slot := alias.slot(); t.recent[slot] == c {
			t.recent[slot] = nil
		}
	}
	c.flushHeld(t)
	c.flush(t)
	if !c.Evicted {
		expires, tw := c.LastPacketAt.Add(t.cfg.Linger), false
		for i := range c.Sides {
			if s := &c.Sides[i]; !s.TimeWaitAt.IsZero() {
				tw = true
				if s.TimeWaitUntil.After(expires) {
					expires = s.TimeWaitUntil
				}
			}
		}
		if expires.After(t.now) {
			tb := tomb{expires: instantOf(expires), tw: tw}
			t.tombs[c.key] = tb
			t.tombQ = append(t.tombQ, tombEntry{c.key, tb.expires})
			if hasAlias {
				t.tombs[alias] = tb
				t.tombQ = append(t.tombQ, tombEntry{alias, tb.expires})
			}
		}
	}
	if c.Evicted && c.halfOpen() && c.stream == nil {
		// A half-open connection pushed out by the cap (a SYN flood): it
		// is counted in Stats.Evicted, not reported one by one.
		return
	}
	if st := c.sink(); st != nil {
		c.stream = nil // queues may still point at c: let the stream's memory go
		st.Done(c)     // the last use of c here
	}
}

// Tick advances the table's clock to now without a packet, so that a live
// capture on a quiet wire still reports finished connections. now must be
// packet time (e.g. the last packet's time plus the time since), never
// ahead of packets still to come.
func (t *Table) Tick(now time.Time) {
	if now.After(t.now) {
		t.now = now
	}
	if len(t.holdQ) > 0 {
		t.expireHolds()
	}
	t.sweep()
}

// Flush finishes every connection still in the table, in order of first
// packet. Call it once, at the end of the input.
func (t *Table) Flush() {
	all := make([]*Conn, 0, len(t.conns))
	for _, c := range t.conns {
		all = append(all, c)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	for _, c := range all {
		t.done(c)
	}
	t.closing = nil
	t.holdQ, t.holdAt, t.heldBytes = nil, 0, 0
}
