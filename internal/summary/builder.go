// Package summary gathers what the outputs show about a whole capture from
// its connection records, as they finish, in bounded memory.
//
// In: httpflow.Connection records, one at a time (Builder.Add), in any
// order; a record may be reused by its producer once Add returns (what the
// builder keeps, it copies). Out: the SUMMARY object (Builder.Summary), the
// key findings, one sentence each (Builder.Findings), and a Digest for a
// capture's facts: the connections worth listing (every one of a small
// capture; else the keep-alive races, resets, errors, the longest and the
// slowest), the rest in groups, and the distributions and time series
// that the text output, the live view and the HTML report draw. One
// builder serves all of them, so each number is computed once.
//
// Memory: counters, 1 % histograms past 2^18 values, the TIME_WAITs still
// running, and a fixed number of kept records (their transactions trimmed
// to a budget) and lines; never a list of all connections, unless
// Config.All asks for a line for each.
package summary

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/httplife/httplife/httpflow"
)

// Config says what a Builder keeps besides the summary and findings.
type Config struct {
	// Text keeps what the text output lists: every connection of a small
	// capture, else the notable ones and groups of the rest.
	Text bool
	// All keeps a line for every connection (text output with --all).
	All bool
	// Timeline keeps what the HTML report draws: records for its timeline
	// and rows for its table, distributions and time series.
	Timeline bool
}

// Builder accumulates records. Not safe for concurrent use.
type Builder struct {
	cfg    Config
	tot    totals
	find   findingStats
	lines  lineStore
	report *reportStore // nil unless Config.Timeline
	srv    serverSet
	n      int

	// The time the records span: earliest and latest packet, latest
	// TIME_WAIT expiry.
	first, last, twMax time.Time

	notes        []string // the records' notes, for the capture's warnings
	notesDropped int
	// Connections that lack segments their peer acknowledged (captured
	// both ways), and the responses known to be among them.
	lossy, lostResponses int

	final *finalCache
}

// New returns an empty builder.
func New(cfg Config) *Builder {
	b := &Builder{cfg: cfg, tot: newTotals(), find: newFindingStats(), srv: newServerSet()}
	b.lines.all = cfg.All
	if cfg.Timeline {
		b.report = newReportStore()
	}
	return b
}

// reportMemory is about the most the report's store (Config.Timeline)
// holds: the rows kept for the timeline (keptTxs transactions at most),
// the table's rows and the charts' series.
const reportMemory = 32 << 20

// Memory is about the most memory the builder holds, beyond what every
// builder does: a run raises its soft memory limit by it, or the collector
// would run without pause near the limit (docs/performance.md).
func (b *Builder) Memory() int64 {
	if b.report != nil {
		return reportMemory
	}
	return 0
}

// Add counts one finished connection.
func (b *Builder) Add(c *httpflow.Connection) {
	b.n++
	b.tot.add(c)
	b.find.add(c)
	b.srv.add(c)
	if b.cfg.Text || b.cfg.All {
		b.lines.add(c)
	}
	for _, t := range [2]time.Time{c.FirstPacketAt, c.LastPacketAt} {
		if t.IsZero() {
			continue
		}
		if b.first.IsZero() || t.Before(b.first) {
			b.first = t
		}
		if t.After(b.last) {
			b.last = t
		}
	}
	if tw := c.TimeWait; tw != nil && tw.ExpiresAt.After(b.twMax) {
		b.twMax = tw.ExpiresAt
	}
	if b.report != nil {
		b.report.add(c)
	}
	if c.Unseen == httpflow.NoSide && slices.Contains(c.Anomalies, "content-gap") {
		b.lossy++
		for i := range c.Transactions {
			if c.Transactions[i].ResponseLost {
				b.lostResponses++
			}
		}
	}
	for _, n := range c.Notes {
		if len(b.notes) < maxNotes {
			b.notes = append(b.notes, fmt.Sprintf("connection %d: %s", c.ID, n))
		} else {
			b.notesDropped++
		}
	}
}

// maxNotes bounds the connections' notes kept for the capture's warnings.
const maxNotes = 50

// Notes returns the warnings the records carried (httpflow.Connection
// Notes), each naming its connection, at most maxNotes, and a last line
// counting the rest; then one line for each direction some connections
// were captured without.
func (b *Builder) Notes() []string {
	out := append([]string(nil), b.notes...)
	if b.notesDropped > 0 {
		out = append(out, fmt.Sprintf("%d more connection warnings not listed", b.notesDropped))
	}
	if b.lossy > 0 {
		s := fmt.Sprintf("%d of %d connections lack segments their peer acknowledged (anomaly content-gap): the capture lost packets (kernel drops, a mirror's or a tap's loss); what they held is unknown: not guessed, and not counted as unanswered", b.lossy, b.n)
		if b.lostResponses > 0 {
			s += fmt.Sprintf("; the requests around them show %s among what was lost (anomaly response-not-captured)", count(b.lostResponses, "response", "responses"))
		}
		out = append(out, s)
	}
	for _, missing := range [2]httpflow.Side{httpflow.Server, httpflow.Client} {
		if k := b.find.unseen[missing]; k > 0 {
			what := "their responses are not counted as unanswered"
			if missing == httpflow.Client {
				what = "their responses have no requests to pair with"
			}
			out = append(out, fmt.Sprintf("%d of %d connections hold none of the %s's packets (anomaly %s-packets-not-captured): the capture kept one direction of them; %s, and their close reason is unknown where the side captured closed",
				k, b.n, missing, missing, what))
		}
	}
	return out
}

// Connections is the number of records added.
func (b *Builder) Connections() int { return b.n }

// Summary returns the SUMMARY object of everything added so far, without
// what only the whole capture tells (servers, advice, findings: see
// Digest). It is cheap enough for a live view's every frame.
func (b *Builder) Summary() httpflow.Summary { return b.tot.summary() }

// servers finishes the per-server analysis (once): inferred timeouts,
// proxy legs, the what-if replays.
func (b *Builder) servers(twoMSL time.Duration) []*Server {
	if twoMSL <= 0 {
		twoMSL = 60 * time.Second
	}
	return b.srv.result(twoMSL)
}

// Final returns the SUMMARY object of the whole capture: Summary with the
// servers, the advice and the findings, and the servers' details.
func (b *Builder) Final(opts httpflow.Options) (httpflow.Summary, []*Server) {
	if f := b.final; f != nil && f.n == b.n && f.opts == opts {
		return f.s, f.servers // a run's and then its digest's: the replays run once
	}
	s, servers := b.final1(opts)
	b.final = &finalCache{b.n, opts, s, servers}
	return s, servers
}

// finalCache is Final's last answer, for as long as no record was added.
type finalCache struct {
	n       int
	opts    httpflow.Options
	s       httpflow.Summary
	servers []*Server
}

func (b *Builder) final1(opts httpflow.Options) (httpflow.Summary, []*Server) {
	s := b.Summary()
	servers := b.servers(opts.TwoMSL)
	s.Servers = make([]httpflow.ServerSummary, len(servers))
	for i, sv := range servers {
		x := sv.ServerSummary
		x.Hint, x.ClientHint = sv.HintServer, sv.HintClient
		x.RacesByKind = sv.RacesByKind
		x.LongestReuse, x.NearTimeout = sv.LongestReuse, sv.NearTimeout
		x.Upstreams, x.Downstreams = sv.Upstream, sv.Downstream
		x.DownstreamErrors, x.RetriedOK, x.RacesFromUpstream = sv.DownstreamErrors, sv.RetriedOK, sv.RacesFromUpstream
		x.ReplayCheck, x.Formula = sv.ReplayCheck, sv.Formula
		s.Servers[i] = x
	}
	s.Advice = advice(servers, &s, b.tot.twByHost)
	s.Findings = b.Findings()
	return s, servers
}

// Findings returns the key findings, one sentence each, most telling first.
func (b *Builder) Findings() []string { return b.find.sentences(&b.tot, b.last) }

// Digest is what the text output and the HTML report show of a capture.
type Digest struct {
	Capture  httpflow.CaptureInfo
	Options  httpflow.Options
	Summary  httpflow.Summary
	Findings []string
	Servers  []*Server // the servers' details, by address

	// Text: every connection's line when AllKept, else the connections
	// that matter and the rest in groups.
	AllKept bool
	Lines   []Line // id order
	Notable []Line // id order, when !AllKept
	// NotableCounts says how many connections each kind of notable had in
	// all (races, resets, errors), which Notable may not list whole.
	NotableCounts map[string]int
	Groups        []Group // by count, the most first

	// Report (Config.Timeline): see report.go.
	Report *Report
}

// Digest returns the digest of everything added, with the capture's
// facts and the run's options.
func (b *Builder) Digest(ci httpflow.CaptureInfo, opts httpflow.Options) *Digest {
	d := &Digest{Capture: ci, Options: opts}
	d.Summary, d.Servers = b.Final(opts)
	d.Findings = d.Summary.Findings
	d.AllKept, d.Lines, d.Notable, d.NotableCounts, d.Groups = b.lines.result()
	if b.report != nil {
		origin := ci.FirstPacketAt
		if !b.first.IsZero() && (origin.IsZero() || b.first.Before(origin)) {
			origin = b.first
		}
		last := b.last
		if ci.LastPacketAt.After(last) {
			last = ci.LastPacketAt
		}
		d.Report = b.report.result(origin, last, b.twMax, &b.tot.idle) // the idle gaps are the summary's
	}
	return d
}

// Line is one connection's line of the text output.
type Line struct {
	ID             int
	Client, Server netip.AddrPort
	Requests       int
	NGaps          int // idle gaps (Gaps has the first few)
	gapBuf         [maxLineGaps]time.Duration
	gapsKept       uint8
	Final          time.Duration
	HasFinal       bool
	Closer         string // "client", "server", "RST cl", "RST sv", "open"
	Reason         httpflow.Reason
	Why            string // for a notable: "race", "reset", "error", "longest", "slowest"
	// TLS connections: TLS set, their server name, whether decrypted
	// (else the transactions were inferred from the records).
	TLS, Decrypted bool
	SNI            string

	// What the digest sorts lines by, kept from the record.
	errorSeen         bool          // a 4xx/5xx or unanswered request
	duration, slowest time.Duration // first to last packet; the longest server time
	version           string        // the first request's HTTP version
}

// Gaps returns the first few idle gaps.
func (l *Line) Gaps() []time.Duration { return l.gapBuf[:l.gapsKept] }

// Duration is the time from the connection's first packet to its last.
func (l *Line) Duration() time.Duration { return l.duration }

// Slowest is the connection's longest server time (request end to
// response start).
func (l *Line) Slowest() time.Duration { return l.slowest }

// lineOf makes c's line.
func lineOf(c *httpflow.Connection) Line {
	l := Line{ID: c.ID, Client: c.Client, Server: c.Server, Requests: len(c.Transactions),
		NGaps: len(c.IdlePeriods), Closer: CloserWord(c), Reason: c.Close.Reason}
	k := min(len(c.IdlePeriods), maxLineGaps)
	for i := range k {
		l.gapBuf[i] = c.IdlePeriods[i].Duration
	}
	l.gapsKept = uint8(k)
	if c.FinalIdle != nil {
		l.Final, l.HasFinal = c.FinalIdle.Duration, true
	}
	l.errorSeen, l.duration, l.slowest = hasError(c), connDuration(c), slowestServerTime(c)
	if len(c.Transactions) > 0 {
		l.version = c.Transactions[0].RequestVersion
	}
	if t := c.TLS; t != nil {
		l.TLS, l.Decrypted, l.SNI = true, t.Decrypted, t.SNI
		if l.version == "" {
			l.version = t.Version + " (inferred)"
		}
	}
	return l
}

// maxLineGaps is the idle gaps a line keeps: more never fit its column.
const maxLineGaps = 4

// CloserWord says who closed c, as the text output's "closed" column
// does: the side of the first FIN, "RST cl"/"RST sv" when a RST ended it,
// "open" when neither was captured.
func CloserWord(c *httpflow.Connection) string {
	if c.ClosedByReset() {
		if c.Close.RstBy == httpflow.Client {
			return "RST cl"
		}
		return "RST sv"
	}
	if c.Close.FirstFinBy != httpflow.NoSide {
		return c.Close.FirstFinBy.String()
	}
	return "open"
}

// Group is connections that have the same server, HTTP version, number of
// requests (in ranges), closer, reason and final idle (in ranges).
type Group struct {
	Count    int
	Server   netip.AddrPort
	Version  string // of the first request; "" for none
	Requests string // "0", "1", "2-9", "10-99", "100+"
	Closer   string
	Final    string // "< 1 ms", ..., "none"
	Reason   httpflow.Reason
	Other    bool // the groups past maxGroups, folded
}

// Limits of what the text digest keeps.
const (
	// smallCapture is the number of connections up to which the text
	// output lists every one.
	smallCapture = 40
	maxNotable   = 10 // connections listed per kind of notable
	maxLongest   = 5  // the longest and the slowest listed
	maxGroups    = 200
)

// lineStore keeps the text lines.
type lineStore struct {
	all   bool // keep every line
	lines []Line
	over  bool // more than smallCapture connections seen (and !all)

	races, resets, errors []Line // the first maxNotable of each
	counts                map[string]int
	longest, slowest      topLines
	groups                map[groupKey]int
	other                 int
}

type groupKey struct {
	server                   netip.AddrPort
	version, requests, final string
	closer                   string
	reason                   httpflow.Reason
}

func (s *lineStore) add(c *httpflow.Connection) {
	l := lineOf(c)
	if s.all || !s.over {
		s.lines = append(s.lines, l)
		if !s.all && len(s.lines) > smallCapture {
			s.over = true
			old := s.lines
			s.lines = nil
			for i := range old {
				s.digest(old[i])
			}
			return
		}
		if s.all {
			s.digest(l)
		}
		return
	}
	s.digest(l)
}

// digest counts l among the notables and groups.
func (s *lineStore) digest(l Line) {
	if s.counts == nil {
		s.counts = map[string]int{}
		s.groups = map[groupKey]int{}
		s.longest.max, s.slowest.max = maxLongest, maxLongest
	}
	kind := ""
	switch {
	case l.Reason == httpflow.ReasonKeepaliveRace:
		kind = "race"
	case l.Reason == httpflow.ReasonReset || l.Closer == "RST cl" || l.Closer == "RST sv":
		kind = "reset"
	case l.errorSeen:
		kind = "error"
	}
	if kind != "" {
		s.counts[kind]++
		l.Why = kind
		switch kind {
		case "race":
			s.races = appendCapped(s.races, l)
		case "reset":
			s.resets = appendCapped(s.resets, l)
		case "error":
			s.errors = appendCapped(s.errors, l)
		}
		return
	}
	// The longest and the slowest keep the top few; a line they push out
	// (or never take) is grouped, so the groups and the notables together
	// count every connection once.
	cand := l
	for _, t := range []*topLines{&s.longest, &s.slowest} {
		v := cand.duration
		if t == &s.slowest {
			v = cand.slowest
		}
		kept, out, pushed := t.offer(cand, v)
		if !kept {
			continue
		}
		if !pushed {
			return
		}
		cand = out
	}
	s.group(cand)
}

func appendCapped(ls []Line, l Line) []Line {
	if len(ls) < maxNotable {
		ls = append(ls, l)
	}
	return ls
}

func (s *lineStore) group(l Line) {
	k := groupKey{server: l.Server, requests: requestRange(l.Requests), final: finalRange(l),
		closer: l.Closer, reason: l.Reason, version: l.version}
	if _, ok := s.groups[k]; !ok && len(s.groups) >= maxGroups {
		s.other++
		return
	}
	s.groups[k]++
}

func requestRange(n int) string {
	switch {
	case n <= 1:
		return [...]string{"0", "1"}[n]
	case n < 10:
		return "2-9"
	case n < 100:
		return "10-99"
	}
	return "100+"
}

func finalRange(l Line) string {
	if !l.HasFinal {
		return "none"
	}
	for _, r := range []struct {
		below time.Duration
		name  string
	}{{time.Millisecond, "< 1 ms"}, {10 * time.Millisecond, "< 10 ms"}, {100 * time.Millisecond, "< 100 ms"},
		{time.Second, "< 1 s"}, {10 * time.Second, "< 10 s"}, {time.Minute, "< 60 s"}} {
		if l.Final < r.below {
			return r.name
		}
	}
	return ">= 60 s"
}

// result returns the lines, or the notables and groups.
func (s *lineStore) result() (allKept bool, lines, notable []Line, counts map[string]int, groups []Group) {
	if s.all || !s.over {
		lines = append([]Line(nil), s.lines...)
		sort.Slice(lines, func(i, j int) bool { return lines[i].ID < lines[j].ID })
		if !s.all {
			return true, lines, nil, nil, nil
		}
	}
	seen := map[int]bool{}
	for _, part := range [][]Line{s.races, s.resets, s.errors, s.longest.sorted("longest"), s.slowest.sorted("slowest")} {
		for _, l := range part {
			if !seen[l.ID] {
				seen[l.ID] = true
				notable = append(notable, l)
			}
		}
	}
	sort.Slice(notable, func(i, j int) bool { return notable[i].ID < notable[j].ID })
	for k, n := range s.groups {
		groups = append(groups, Group{Count: n, Server: k.server, Version: k.version, Requests: k.requests,
			Closer: k.closer, Final: k.final, Reason: k.reason})
	}
	sort.Slice(groups, func(i, j int) bool {
		a, b := groups[i], groups[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Server != b.Server {
			return a.Server.Compare(b.Server) < 0
		}
		if a.Reason != b.Reason {
			return a.Reason < b.Reason
		}
		if a.Requests != b.Requests {
			return a.Requests < b.Requests
		}
		if a.Closer != b.Closer {
			return a.Closer < b.Closer
		}
		if a.Final != b.Final {
			return a.Final < b.Final
		}
		return a.Version < b.Version
	})
	if s.other > 0 {
		groups = append(groups, Group{Count: s.other, Other: true})
	}
	return s.all, lines, notable, s.counts, groups
}

// topLines keeps the max lines with the largest values.
type topLines struct {
	max   int
	lines []Line
	vals  []time.Duration
}

// offer keeps l when its value v is among the largest so far; it reports
// whether l is kept and the line it pushed out, if any.
func (t *topLines) offer(l Line, v time.Duration) (kept bool, out Line, pushed bool) {
	if v <= 0 {
		return false, Line{}, false
	}
	if len(t.lines) < t.max {
		t.lines, t.vals = append(t.lines, l), append(t.vals, v)
		return true, Line{}, false
	}
	lo := 0
	for i := range t.vals {
		if t.vals[i] < t.vals[lo] {
			lo = i
		}
	}
	if v <= t.vals[lo] {
		return false, Line{}, false
	}
	out = t.lines[lo]
	t.lines[lo], t.vals[lo] = l, v
	return true, out, true
}

func (t *topLines) sorted(why string) []Line {
	out := make([]Line, len(t.lines))
	for i, l := range t.lines {
		l.Why = why
		out[i] = l
	}
	return out
}

// hasError reports whether a response was a 4xx/5xx or missing.
func hasError(c *httpflow.Connection) bool {
	awaiting := c.AwaitingFrom()
	for i := range c.Transactions {
		t := &c.Transactions[i]
		if t.Status >= 400 || !t.Answered() && c.Unseen != httpflow.Server && i < awaiting {
			return true
		}
	}
	return false
}

// connDuration is the time from c's first packet to its last.
func connDuration(c *httpflow.Connection) time.Duration {
	if c.FirstPacketAt.IsZero() || c.LastPacketAt.IsZero() {
		return 0
	}
	return c.LastPacketAt.Sub(c.FirstPacketAt)
}

// slowestServerTime is c's longest server time (request end to response
// start).
func slowestServerTime(c *httpflow.Connection) time.Duration {
	var m time.Duration
	for i := range c.Transactions {
		if t := &c.Transactions[i]; t.HasServerTime && t.ServerTime > m {
			m = t.ServerTime
		}
	}
	return m
}
