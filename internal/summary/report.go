package summary

import (
	"math"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/httplife/httplife/httpflow"
)

// What the HTML report draws, gathered in bounded memory: the records of
// the connections its timeline draws (all of them up to TimelineMax, else
// the most telling and a sample), rows for its table, the distributions of
// idle gaps and final idles, who closed and why, requests per connection,
// and the series of open, idle and TIME_WAIT connections over time.

// Limits of the report.
const (
	TimelineMax = 2000 // connections drawn in the timeline
	TableMax    = 3000 // rows of the connection table
	// keptTxs bounds the transactions of the kept records: past it, the
	// rows keep only their first and last few (the report draws at most
	// 12,000 anyway).
	keptTxs   = 48000
	rowTxKeep = 200 // transactions a kept record keeps at most: the first and last half
	rowTxMin  = 20
	// Kept per kind of telling connection once there are more than
	// TimelineMax, before the final choice.
	keepRaces, keepResets, keepErrors, keepLongest = TimelineMax / 4, TimelineMax / 5, TimelineMax / 5, TimelineMax / 10
	hostSeries                                     = 32 // TIME_WAIT series per role before "other"
	maxServers                                     = 10000
)

// Row is a connection the timeline may draw: its record, with at most
// its first and last few transactions (Total says how many it had).
type Row struct {
	Conn  httpflow.Connection
	Total int // transactions on the connection
}

// TableRow is a row of the report's connection table.
type TableRow struct {
	ID             int
	Client, Server string
	Requests       int
	Statuses       []StatusRun // the statuses in order as runs of equal ones, the first few
	MoreStatuses   bool        // runs after those

	Gaps               []time.Duration
	NGaps              int
	Final              time.Duration
	HasFinal           bool
	Closer, CloserSide string
	Reason             httpflow.Reason
	Evidence           string
}

// StatusRun is N transactions in a row with the same Status (0: none).
type StatusRun struct{ Status, N int }

// maxStatusRuns is the runs a table row keeps.
const maxStatusRuns = 7

// HostSeries is one host's TIME_WAITs over time.
type HostSeries struct {
	Role, Host string // "server"/"client"; Host "other servers" for the folded rest
	Points     []Point
	Bucketed   bool
	Peak       int
}

// Report is what the HTML report draws.
type Report struct {
	// Origin is time 0 of every chart; End the capture's end and XMax the
	// latest time drawn (TIME_WAITs run past the end), ms after Origin.
	Origin    time.Time
	End, XMax float64

	Connections, Transactions, Servers int
	ServersCapped                      bool // more than maxServers server endpoints

	// The timeline: the drawn rows in start order, and how many of the
	// drawn were races, resets and errors (when not all were drawn).
	Timeline            []Row
	TimelineAll         bool
	DrawnRaces          int
	DrawnResets         int
	DrawnErrors         int
	Table               []TableRow
	TableAll            bool
	Timeouts            []float64 // advertised Keep-Alive timeouts, > 0, ascending
	Gaps                Sketch
	Finals              [4]Sketch // final idle by who closed: server FIN, client FIN, both FIN, RST
	NFinals             int
	CloseCounts         map[CloseKey]int
	PerConn             []int // connections by transactions, 0..PerConnCap, then more
	MaxTx               int
	Open, Idle          []Point
	OpenBucketed        bool
	IdleBucketed        bool
	TimeWait            []HostSeries
	TimeWaitPastCapture bool
}

// CloseKey counts connections by close reason and who closed first
// ("server FIN", "client RST", ..., "none").
type CloseKey struct {
	Reason httpflow.Reason
	Closer string
}

// PerConnCap is the largest transactions-per-connection bar; more go in
// one.
const PerConnCap = 30

type reportStore struct {
	n, tx     int
	servers   map[netip.AddrPort]struct{}
	capped    bool
	all       []Row // every record while there are at most TimelineMax
	over      bool
	races     sampler
	resets    sampler
	errors    sampler
	rest      sampler
	longest   []Row // the keepLongest longest others, unordered
	shortest  int   // index in longest of the shortest of them (when full)
	rowCap    int   // transactions a kept row keeps
	keptTx    int
	rows      []TableRow // every row while at most TableMax, else the lowest ids
	rowsOver  bool
	rowsMaxID int // the highest id kept once rowsOver

	timeouts map[float64]bool
	finals   [4]Sketch
	closes   map[CloseKey]int
	perConn  [PerConnCap + 2]int
	maxTx    int
	open     series
	idle     series
	tw       map[twKey]*series
	twOther  [2]*series // servers, clients past hostSeries
	twHosts  [2]int
}

type twKey struct {
	role int // 0 server, 1 client
	host netip.Addr
}

func newReportStore() *reportStore {
	return &reportStore{servers: map[netip.AddrPort]struct{}{}, rowCap: rowTxKeep, timeouts: map[float64]bool{},
		closes: map[CloseKey]int{}, tw: map[twKey]*series{},
		races: sampler{max: keepRaces}, resets: sampler{max: keepResets}, errors: sampler{max: keepErrors},
		rest: sampler{max: TimelineMax}}
}

// kind says which telling kind c is: 1 race, 2 reset, 3 error, 0 none.
func kind(c *httpflow.Connection) int {
	switch _, how := c.Closer(); {
	case c.Close.Reason == httpflow.ReasonKeepaliveRace:
		return 1
	case c.Close.Reason == httpflow.ReasonReset || how == "RST":
		return 2
	case hasError(c):
		return 3
	}
	return 0
}

func (r *reportStore) add(c *httpflow.Connection) {
	r.n++
	r.tx += len(c.Transactions)
	if !r.capped {
		r.servers[c.Server] = struct{}{}
		if len(r.servers) > maxServers {
			r.capped, r.servers = true, nil
		}
	}
	r.timeline(c)
	r.table(c)
	r.charts(c)
}

// keep copies c for the timeline, with at most r.rowCap transactions.
func (r *reportStore) keep(c *httpflow.Connection) Row {
	row := Row{Conn: *c, Total: len(c.Transactions)}
	row.Conn.Transactions, row.Conn.IdlePeriods = trimRow(c.Transactions, c.IdlePeriods, r.rowCap)
	if c.FinalIdle != nil {
		f := *c.FinalIdle
		row.Conn.FinalIdle = &f
	}
	r.keptTx += len(row.Conn.Transactions)
	return row
}

// trimRow copies the first and last k/2 transactions and the idle periods
// between them.
func trimRow(txs []httpflow.Transaction, idles []httpflow.Idle, k int) ([]httpflow.Transaction, []httpflow.Idle) {
	n := len(txs)
	drawn := func(index int) bool { return n <= k || index <= k/2 || index > n-k/2 }
	outT := make([]httpflow.Transaction, 0, min(n, k))
	for i := range txs {
		if drawn(txs[i].Index) {
			outT = append(outT, txs[i])
		}
	}
	var outI []httpflow.Idle
	for _, p := range idles {
		if drawn(p.AfterTransaction) && drawn(p.AfterTransaction+1) {
			if outI == nil {
				outI = make([]httpflow.Idle, 0, min(len(idles), k))
			}
			outI = append(outI, p)
		}
	}
	return outT, outI
}

func (r *reportStore) timeline(c *httpflow.Connection) {
	if !r.over {
		r.all = append(r.all, r.keep(c))
		if len(r.all) > TimelineMax {
			r.over = true
			all := r.all
			r.all = nil
			for _, row := range all {
				r.classify(row)
			}
		}
	} else if r.wants(c) {
		// Copied only when a sample or the longest take it: most records
		// of a big capture are looked at, not kept.
		r.classify(r.keep(c))
	}
	if r.keptTx > keptTxs && r.rowCap > rowTxMin {
		r.rowCap = max(rowTxMin, r.rowCap/2) &^ 1
		r.keptTx = 0
		for _, rows := range [][]Row{r.all, r.races.rows, r.resets.rows, r.errors.rows, r.rest.rows, r.longest} {
			for i := range rows {
				c := &rows[i].Conn
				if len(c.Transactions) > r.rowCap {
					full := rows[i].Total
					c.Transactions, c.IdlePeriods = retrim(c, full, r.rowCap)
				}
				r.keptTx += len(c.Transactions)
			}
		}
	}
}

// retrim keeps the first and last k/2 of a row's transactions (a row
// already trimmed to more).
func retrim(c *httpflow.Connection, total, k int) ([]httpflow.Transaction, []httpflow.Idle) {
	drawn := func(index int) bool { return total <= k || index <= k/2 || index > total-k/2 }
	var t []httpflow.Transaction
	for _, x := range c.Transactions {
		if drawn(x.Index) {
			if t == nil {
				t = make([]httpflow.Transaction, 0, min(len(c.Transactions), k))
			}
			t = append(t, x)
		}
	}
	var i []httpflow.Idle
	for _, p := range c.IdlePeriods {
		if drawn(p.AfterTransaction) && drawn(p.AfterTransaction+1) {
			if i == nil {
				i = make([]httpflow.Idle, 0, min(len(c.IdlePeriods), k))
			}
			i = append(i, p)
		}
	}
	return t, i
}

// wants reports whether classify would keep c (it counts c in its
// sampler when it would not).
func (r *reportStore) wants(c *httpflow.Connection) bool {
	var s *sampler
	switch kind(c) {
	case 1:
		s = &r.races
	case 2:
		s = &r.resets
	case 3:
		s = &r.errors
	default:
		if len(r.longest) < keepLongest || lessLong(&r.longest[r.shortest].Conn, c) {
			return true // it goes to the longest; their shortest to the sample
		}
		s = &r.rest
	}
	if !s.takes() {
		s.skip()
		return false
	}
	return true
}

// classify files a row under its kind, once there are too many to keep
// every one.
func (r *reportStore) classify(row Row) {
	switch kind(&row.Conn) {
	case 1:
		r.races.add(row)
	case 2:
		r.resets.add(row)
	case 3:
		r.errors.add(row)
	default:
		if len(r.longest) < keepLongest {
			r.longest = append(r.longest, row)
			if len(r.longest) == keepLongest {
				r.findShortest()
			}
			return
		}
		if lo := r.shortest; lessLong(&r.longest[lo].Conn, &row.Conn) {
			row, r.longest[lo] = r.longest[lo], row // the shorter goes to the sample
			r.findShortest()
		}
		r.rest.add(row)
	}
}

// findShortest notes which of the longest is the shortest.
func (r *reportStore) findShortest() {
	r.shortest = 0
	for i := range r.longest {
		if lessLong(&r.longest[i].Conn, &r.longest[r.shortest].Conn) {
			r.shortest = i
		}
	}
}

// lessLong orders connections by duration, then (longest first among
// equals) by id, descending.
func lessLong(a, b *httpflow.Connection) bool {
	da, db := connDuration(a), connDuration(b)
	if da != db {
		return da < db
	}
	return a.ID > b.ID
}

// sampler keeps an even sample of at most 2·max rows, in arrival order:
// every stride-th, the stride doubling (and every other row dropped) when
// full.
type sampler struct {
	max    int
	stride int
	seen   int
	total  int
	rows   []Row
}

// takes reports whether the next row added will be kept.
func (s *sampler) takes() bool { return s.stride == 0 || s.seen%s.stride == 0 }

// skip counts a row that takes said would not be kept.
func (s *sampler) skip() { s.total++; s.seen++ }

func (s *sampler) add(row Row) {
	s.total++
	if s.stride == 0 {
		s.stride = 1
	}
	s.seen++
	if (s.seen-1)%s.stride != 0 {
		return
	}
	s.rows = append(s.rows, row)
	if len(s.rows) >= 2*s.max {
		keep := s.rows[:0]
		for i := 0; i < len(s.rows); i += 2 {
			keep = append(keep, s.rows[i])
		}
		clear(s.rows[len(keep):])
		s.rows = keep
		s.stride *= 2
	}
}

// evenSample keeps k of rows, evenly spaced, in order.
func evenSample(rows []Row, k int) []Row {
	if k <= 0 {
		return nil
	}
	if len(rows) <= k {
		return rows
	}
	out := make([]Row, 0, k)
	for j := 0; j < k; j++ {
		out = append(out, rows[j*len(rows)/k])
	}
	return out
}

func (r *reportStore) table(c *httpflow.Connection) {
	if r.rowsOver && c.ID > r.rowsMaxID {
		return // not among the lowest ids kept
	}
	row := TableRow{ID: c.ID, Client: c.Client.String(), Server: ServerLabel(c), Requests: len(c.Transactions),
		NGaps: len(c.IdlePeriods), Reason: c.Close.Reason, Evidence: c.Close.Evidence}
	side, how := c.Closer()
	row.Closer, row.CloserSide = "open", side.String()
	if side != httpflow.NoSide {
		row.Closer = side.String() + " " + how
	}
	if how == "RST" {
		row.CloserSide = "rst"
	}
	for i := range c.Transactions {
		st := c.Transactions[i].Status
		if n := len(row.Statuses); n > 0 && row.Statuses[n-1].Status == st {
			row.Statuses[n-1].N++
			continue
		}
		if len(row.Statuses) == maxStatusRuns {
			row.MoreStatuses = true
			break
		}
		row.Statuses = append(row.Statuses, StatusRun{st, 1})
	}
	for i := 0; i < len(c.IdlePeriods) && i < 6; i++ {
		row.Gaps = append(row.Gaps, c.IdlePeriods[i].Duration)
	}
	if c.FinalIdle != nil {
		row.Final, row.HasFinal = c.FinalIdle.Duration, true
	}
	r.rows = append(r.rows, row)
	if len(r.rows) > 2*TableMax {
		// Keep the lowest ids (records come about in id order).
		sort.Slice(r.rows, func(i, j int) bool { return r.rows[i].ID < r.rows[j].ID })
		clear(r.rows[TableMax:])
		r.rows = r.rows[:TableMax]
		r.rowsOver, r.rowsMaxID = true, r.rows[TableMax-1].ID
	}
}

// closerKey is who closed c first, as the report's charts name it.
func closerKey(c *httpflow.Connection) string {
	side, how := c.Closer()
	if side == httpflow.NoSide {
		return "none"
	}
	return side.String() + " " + how
}

func (r *reportStore) charts(c *httpflow.Connection) {
	if t := c.KeepAlive.AdvertisedTimeout; t != nil && *t > 0 && len(r.timeouts) < maxTimeouts {
		r.timeouts[*t] = true
	}
	if f := c.FinalIdle; f != nil {
		i := 0
		switch side, how := c.Closer(); {
		case how == "RST":
			i = 3
		case side == httpflow.Client:
			i = 1
		case side == httpflow.Both:
			i = 2
		}
		r.finals[i].add(f.Duration.Seconds())
	}
	r.closes[CloseKey{c.Close.Reason, closerKey(c)}]++
	r.perConn[min(len(c.Transactions), PerConnCap+1)]++
	r.maxTx = max(r.maxTx, len(c.Transactions))

	// Open: from the first packet to the first FIN or RST, else to the end.
	cl := &c.Close
	to := time.Time{}
	if !cl.FirstFinAt.IsZero() {
		to = cl.FirstFinAt
	}
	if !cl.RstAt.IsZero() && (to.IsZero() || cl.RstAt.Before(to)) {
		to = cl.RstAt
	}
	r.open.add(c.FirstPacketAt, to)
	// Idle: the union of the idle periods and the final idle (they can
	// overlap: a keep-alive race), within the open interval.
	var ivs []ival
	for _, p := range c.IdlePeriods {
		ivs = append(ivs, ival{p.StartAt.UnixNano(), p.EndAt.UnixNano()})
	}
	if f := c.FinalIdle; f != nil {
		ivs = append(ivs, ival{f.StartAt.UnixNano(), f.EndAt.UnixNano()})
	} else if to.IsZero() {
		var last time.Time
		for i := range c.Transactions {
			if t := c.Transactions[i].ResponseEndAt; t.After(last) {
				last = t
			}
		}
		if !last.IsZero() {
			ivs = append(ivs, ival{last.UnixNano(), openTo})
		}
	}
	from := c.FirstPacketAt.UnixNano()
	end := int64(openTo)
	if !to.IsZero() {
		end = to.UnixNano()
	}
	for _, iv := range mergeIvals(ivs) {
		iv.from, iv.to = max(iv.from, from), min(iv.to, end)
		if iv.to > iv.from {
			a := time.Unix(0, iv.from)
			b := time.Time{}
			if iv.to != openTo {
				b = time.Unix(0, iv.to)
			}
			r.idle.add(a, b)
		}
	}
	if tw := c.TimeWait; tw != nil && !tw.EnteredAt.IsZero() {
		switch tw.Holder {
		case httpflow.Server:
			r.addTW(0, c.Server.Addr(), tw)
		case httpflow.Client:
			r.addTW(1, c.Client.Addr(), tw)
		case httpflow.Both:
			r.addTW(0, c.Server.Addr(), tw)
			r.addTW(1, c.Client.Addr(), tw)
		}
	}
}

func (r *reportStore) addTW(role int, host netip.Addr, tw *httpflow.TimeWait) {
	s := r.tw[twKey{role, host}]
	if s == nil {
		if r.twHosts[role] >= hostSeries {
			if r.twOther[role] == nil {
				r.twOther[role] = &series{}
			}
			s = r.twOther[role]
		} else {
			s = &series{}
			r.tw[twKey{role, host}] = s
			r.twHosts[role]++
		}
	}
	s.add(tw.EnteredAt, tw.ExpiresAt)
}

// mergeIvals returns the union of iv as disjoint intervals in order.
func mergeIvals(iv []ival) []ival {
	if len(iv) < 2 {
		return iv
	}
	s := slices.Clone(iv)
	sort.Slice(s, func(a, b int) bool { return s[a].from < s[b].from })
	out := s[:1]
	for _, x := range s[1:] {
		if last := &out[len(out)-1]; x.from <= last.to {
			last.to = max(last.to, x.to)
		} else {
			out = append(out, x)
		}
	}
	return out
}

// result chooses what the report draws.
func (r *reportStore) result(origin, last, twMax time.Time, gaps *Sketch) *Report {
	ms := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		v := math.Round(float64(t.Sub(origin))/1e3) / 1e3
		if v == 0 {
			return 0
		}
		return v
	}
	rep := &Report{Origin: origin, Connections: r.n, Transactions: r.tx, Servers: len(r.servers), ServersCapped: r.capped,
		CloseCounts: r.closes, MaxTx: r.maxTx, Gaps: *gaps, Finals: r.finals}
	rep.End = ms(last)
	rep.XMax = rep.End
	if tw := ms(twMax); tw > rep.XMax {
		rep.XMax = tw
	}
	if rep.XMax <= 0 {
		rep.XMax = 1
	}
	for t := range r.timeouts {
		rep.Timeouts = append(rep.Timeouts, t)
	}
	sort.Float64s(rep.Timeouts)
	for i := range r.finals {
		rep.NFinals += r.finals[i].n
	}
	k := min(r.maxTx, PerConnCap) + 1
	if r.maxTx > PerConnCap {
		k++
	}
	rep.PerConn = append([]int(nil), r.perConn[:k]...)

	// The timeline.
	if !r.over {
		rep.Timeline, rep.TimelineAll = r.all, true
	} else {
		budget := TimelineMax
		rep.Timeline = make([]Row, 0, TimelineMax)
		drawn := make(map[int]bool, TimelineMax)
		take := func(rows []Row, limit int, counter *int) {
			limit = min(limit, budget)
			for _, row := range evenSample(rows, limit) {
				if !drawn[row.Conn.ID] {
					drawn[row.Conn.ID] = true
					rep.Timeline = append(rep.Timeline, row)
					budget--
					if counter != nil {
						*counter++
					}
				}
			}
		}
		take(r.races.rows, keepRaces, &rep.DrawnRaces)
		take(r.resets.rows, keepResets, &rep.DrawnResets)
		take(r.errors.rows, keepErrors, &rep.DrawnErrors)
		long := slices.Clone(r.longest)
		sort.Slice(long, func(i, j int) bool { return lessLong(&long[j].Conn, &long[i].Conn) })
		take(long, len(long), nil)
		rest := make([]Row, 0, len(r.rest.rows))
		for _, row := range r.rest.rows {
			if !drawn[row.Conn.ID] {
				rest = append(rest, row)
			}
		}
		sort.Slice(rest, func(i, j int) bool { return rest[i].Conn.ID < rest[j].Conn.ID })
		take(rest, budget, nil)
	}
	sort.SliceStable(rep.Timeline, func(a, b int) bool {
		ca, cb := &rep.Timeline[a].Conn, &rep.Timeline[b].Conn
		if !ca.FirstPacketAt.Equal(cb.FirstPacketAt) {
			return ca.FirstPacketAt.Before(cb.FirstPacketAt)
		}
		return ca.ID < cb.ID
	})

	// The table: every row, or those drawn then the lowest ids.
	rows := slices.Clone(r.rows)
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	if !r.rowsOver && len(rows) <= TableMax {
		rep.Table, rep.TableAll = rows, true
	} else {
		in := map[int]bool{}
		byID := map[int]*TableRow{}
		for i := range rows {
			byID[rows[i].ID] = &rows[i]
		}
		table := make([]TableRow, 0, TableMax)
		for _, row := range rep.Timeline {
			if len(table) >= TableMax {
				break
			}
			if tr, ok := byID[row.Conn.ID]; ok {
				in[tr.ID] = true
				table = append(table, *tr)
			} else {
				tr := tableRowOf(&row.Conn, row.Total)
				in[tr.ID] = true
				table = append(table, tr)
			}
		}
		for _, tr := range rows {
			if len(table) >= TableMax {
				break
			}
			if !in[tr.ID] {
				table = append(table, tr)
			}
		}
		sort.Slice(table, func(i, j int) bool { return table[i].ID < table[j].ID })
		rep.Table = table
	}

	// Series.
	end := rep.End
	axisEnd := math.Max(end, 1)
	rep.Open, rep.OpenBucketed = r.open.points(origin, end, axisEnd, stepBuckets)
	rep.Idle, rep.IdleBucketed = r.idle.points(origin, end, axisEnd, stepBuckets)
	for k, s := range r.tw {
		role := [2]string{"server", "client"}[k.role]
		pts, b := s.points(origin, rep.XMax, rep.XMax, stepBuckets)
		rep.TimeWait = append(rep.TimeWait, HostSeries{Role: role, Host: k.host.String(), Points: pts, Bucketed: b, Peak: peakOf(pts)})
	}
	for role, s := range r.twOther {
		if s == nil {
			continue
		}
		name := [2]string{"server", "client"}[role]
		pts, b := s.points(origin, rep.XMax, rep.XMax, stepBuckets)
		rep.TimeWait = append(rep.TimeWait, HostSeries{Role: name, Host: "other " + name + "s", Points: pts, Bucketed: b, Peak: peakOf(pts)})
	}
	sort.Slice(rep.TimeWait, func(a, b int) bool {
		x, y := rep.TimeWait[a], rep.TimeWait[b]
		if x.Role != y.Role {
			return x.Role == "server"
		}
		xo, yo := strings.HasPrefix(x.Host, "other "), strings.HasPrefix(y.Host, "other ")
		if xo != yo {
			return yo
		}
		if x.Peak != y.Peak {
			return x.Peak > y.Peak
		}
		return x.Host < y.Host
	})
	rep.TimeWaitPastCapture = rep.End > 0 && rep.XMax > rep.End
	return rep
}

// stepBuckets is the buckets of a bucketed series.
const stepBuckets = 1500

func peakOf(pts []Point) int {
	p := 0
	for _, x := range pts {
		p = max(p, x.Value)
	}
	return p
}

// tableRowOf makes a table row from a (possibly trimmed) record.
func tableRowOf(c *httpflow.Connection, total int) TableRow {
	var r reportStore
	r.table(c)
	row := r.rows[0]
	row.Requests = total
	return row
}

// ServerLabel is the server's address, and for a TLS connection its
// server name and whether it was decrypted: "10.0.0.5:443 (TLS, SNI
// api.example, decrypted)".
func ServerLabel(c *httpflow.Connection) string {
	s := c.Server.String()
	t := c.TLS
	if t == nil {
		return s
	}
	s += " (" + t.Version
	if t.Version == "" {
		s += "TLS"
	}
	if t.SNI != "" {
		s += ", SNI " + t.SNI
	}
	if t.Decrypted {
		s += ", decrypted)"
	} else {
		s += ", inferred from records)"
	}
	return s
}
