// Package metrics keeps the Prometheus metrics of an analysis: what watch
// serves on /metrics and analyse writes for node_exporter's textfile
// collector.
//
// In: finished connection records (Add, one at a time, in any order; a
// record may be reused once Add returns), the capture's counters and the
// packet clock (SetCapture), and, for a whole capture, the summary's
// inferred timeouts (SetServers). Out: the metric families below, through
// a prometheus.Collector (Metrics itself; Registry returns a registry
// holding it), or in the text exposition format (WriteText, WriteFile).
//
// Families (prefix httplife_, base units, counters end in _total):
//
//	connections_opened_total                      counter   connections the table created
//	connections_open                              gauge     connections in the table now
//	connections_evicted_total                     counter   connections the table's cap evicted
//	connections_closed_total{server,side,reason}  counter   finished connections by who ended them first and why
//	keepalive_races_total{server,kind}            counter   requests lost to keep-alive races, by kind
//	resets_total{server,side}                     counter   connections ended by a RST, by its sender
//	transactions_total{server}                    counter   HTTP transactions
//	idle_gap_seconds{server}                      histogram keep-alive idle gaps between a response and the next request
//	final_idle_seconds{server,side}               histogram idle before the close, by who closed
//	time_wait_connections{side,host}              gauge     TIME_WAITs held at the packet clock, by holder and its address
//	server_idle_timeout_seconds{server}           gauge     the server's idle timeout in force, inferred
//	client_idle_close_seconds{server}             gauge     its clients' pool idle timeout, inferred
//	packets_captured_total                        counter   packets read
//	packets_dropped_total                         counter   packets the kernel or ring dropped (live)
//	packets_duplicate_total                       counter   copies of a packet already seen (-i any, mirrors)
//	last_packet_timestamp_seconds                 gauge     the packet clock, Unix seconds
//
// Cardinality is bounded whatever the traffic: at most Config.MaxServers
// server endpoints get a label of their own (the busiest: ranked by
// connections that carried HTTP, then by connections; a server must have
// carried a request or two connections to be ranked, so a port scan never
// earns one), once given they keep it, and every other server counts as
// server="other"; likewise the Config.MaxHosts hosts holding the most
// TIME_WAITs at each collection, the rest host="other". Memory is bounded
// too (servers followed between collections, TIME_WAITs running).
//
// The clock is the packet: TIME_WAITs are held until the packet clock (the
// latest of SetCapture's Clock and the records' last packets) passes their
// expiry. Safe for concurrent use: Add and SetCapture on one goroutine,
// collections on others.
package metrics

import (
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/summary"
)

// Config bounds the label sets.
type Config struct {
	// MaxServers is the most server endpoints with a label of their own
	// (0: DefaultMaxServers); the rest are "other".
	MaxServers int
	// MaxHosts is the most TIME_WAIT holders with a label of their own
	// (0: DefaultMaxHosts); the rest are "other".
	MaxHosts int
}

// The defaults of Config.
const (
	DefaultMaxServers = 50
	DefaultMaxHosts   = 50
	// Other is the label value of the servers and hosts past the caps.
	Other = "other"
)

// Buckets are the upper bounds of the idle histograms, in seconds: around
// the usual idle timeouts (gunicorn 2 s, Apache 5 s, Apache 2.2 15 s, ALB
// and nginx upstream 60 s, nginx 75 s, IIS 120 s).
var Buckets = []float64{0.1, 0.5, 1, 2, 5, 10, 15, 30, 60, 75, 120, 300}

// Capture is what the capture counted so far.
type Capture struct {
	Packets    uint64 // packets read
	Dropped    uint64 // packets the kernel or ring dropped
	Duplicates uint64 // copies dropped (CaptureInfo.Duplicates)
	Opened     uint64 // connections the table created (tcpstate.Stats.Connections)
	Evicted    uint64 // connections the cap evicted
	Open       int    // connections in the table now
	// Clock is the packet clock: the last packet's time, or later on a
	// quiet wire (pipeline.Snapshot.Clock). Zero: unchanged.
	Clock time.Time
}

// Metrics accumulates the metrics. The zero value is not ready: use New.
type Metrics struct {
	mu      sync.Mutex
	cfg     Config
	srv     serverTable
	tw      twTable
	capture Capture
	clock   time.Time
	// inferred holds the summary's timeouts (SetServers), which replace
	// those inferred from the recent closes.
	inferred map[netip.AddrPort]httpflow.ServerSummary
}

// New returns empty metrics.
func New(cfg Config) *Metrics {
	if cfg.MaxServers <= 0 {
		cfg.MaxServers = DefaultMaxServers
	}
	if cfg.MaxHosts <= 0 {
		cfg.MaxHosts = DefaultMaxHosts
	}
	m := &Metrics{cfg: cfg}
	m.srv.init(cfg.MaxServers)
	m.tw.init(cfg.MaxHosts)
	return m
}

// Add counts one finished connection.
func (m *Metrics) Add(c *httpflow.Connection) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.LastPacketAt.After(m.clock) {
		m.clock = c.LastPacketAt
	}
	m.srv.stats(c.Server).add(c)
	if tw := c.TimeWait; tw != nil {
		exp := tw.ExpiresAt.UnixNano()
		switch tw.Holder {
		case httpflow.Client:
			m.tw.add(c.Client.Addr(), sideClient, exp)
		case httpflow.Server:
			m.tw.add(c.Server.Addr(), sideServer, exp)
		case httpflow.Both:
			m.tw.add(c.Client.Addr(), sideClient, exp)
			m.tw.add(c.Server.Addr(), sideServer, exp)
		}
	}
}

// SetCapture records the capture's counters and advances the clock.
func (m *Metrics) SetCapture(c Capture) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.capture = c
	if c.Clock.After(m.clock) {
		m.clock = c.Clock
	}
}

// SetServers gives the summary's servers of a whole capture: their
// inferred timeouts are exported instead of those of the recent closes,
// so that the metrics say what the JSON summary says.
func (m *Metrics) SetServers(servers []httpflow.ServerSummary) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inferred = make(map[netip.AddrPort]httpflow.ServerSummary, len(servers))
	for _, s := range servers {
		m.inferred[s.Server] = s
	}
}

// CaptureOf returns the counters of a capture's facts and the table's.
func CaptureOf(ci *httpflow.CaptureInfo, opened uint64, open int, clock time.Time) Capture {
	c := Capture{Packets: ci.Packets, Duplicates: ci.Duplicates, Opened: opened, Evicted: ci.Evicted, Open: open, Clock: clock}
	if ci.Dropped != nil {
		c.Dropped = *ci.Dropped
	}
	return c
}

// Registry returns a registry that holds m.
func (m *Metrics) Registry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(m)
	return r
}

// WriteText writes the metrics in the Prometheus text format.
func (m *Metrics) WriteText(w io.Writer) error {
	mfs, err := m.Registry().Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes the metrics in the text format to path, through a
// temporary file renamed over it (the textfile collector never reads half
// a file).
func (m *Metrics) WriteFile(path string) error {
	return prometheus.WriteToTextfile(path, m.Registry())
}

// Sides as label values and indexes.
const (
	sideClient = iota
	sideServer
	sideNone
	nSides
)

var sideNames = [nSides]string{"client", "server", "none"}

func sideIndex(s httpflow.Side) int {
	switch s {
	case httpflow.Client:
		return sideClient
	case httpflow.Server:
		return sideServer
	}
	return sideNone
}

// The reasons' label values, by httpflow.Reason (0: a record without one).
var reasonNames = func() []string {
	n := make([]string, len(httpflow.Reasons)+1)
	n[0] = "none"
	for _, r := range httpflow.Reasons {
		n[r] = r.String()
	}
	return n
}()

// The race kinds' label values, by httpflow.RaceKind (0: not known).
var raceNames = []string{"unknown", httpflow.RaceInFlight.String(), httpflow.RaceStaleReuse.String(), httpflow.RaceSilentDrop.String()}

// hist is a histogram over Buckets: counts per bucket (the last one past
// every bound), the sum and the count.
type hist struct {
	counts [13]uint64 // len(Buckets)+1
	sum    float64
	n      uint64
}

func (h *hist) observe(v float64) {
	i := 0
	for i < len(Buckets) && v > Buckets[i] {
		i++
	}
	h.counts[i]++
	h.sum += v
	h.n++
}

func (h *hist) merge(o *hist) {
	for i := range h.counts {
		h.counts[i] += o.counts[i]
	}
	h.sum += o.sum
	h.n += o.n
}

// cumulative returns the buckets as client_golang wants them.
func (h *hist) cumulative() map[float64]uint64 {
	b := make(map[float64]uint64, len(Buckets))
	var c uint64
	for i, ub := range Buckets {
		c += h.counts[i]
		b[ub] = c
	}
	return b
}

// recentN is how many of a server's latest idle closes its inferred
// timeouts come from (watch: the timeouts in force now).
const recentN = 256

// recent keeps the last recentN values.
type recent struct {
	v    []float64
	next int
}

func (r *recent) add(x float64) {
	if len(r.v) < recentN {
		r.v = append(r.v, x)
		return
	}
	r.v[r.next] = x
	r.next = (r.next + 1) % recentN
}

// serverStats is what the metrics count of one server endpoint (or of all
// those labelled "other").
type serverStats struct {
	addr             netip.AddrPort
	label            string // "" while it has no label of its own
	conns, httpConns uint64
	closed           [nSides][]uint64 // by side, by reason
	races            [4]uint64        // by race kind
	resets           [2]uint64        // by the RST's sender: client, server
	transactions     uint64
	idle             hist
	final            [nSides]hist
	idleCloses       recent // final idles of the server's idle closes
	clientCloses     recent // ... of the client's
}

func newServerStats(a netip.AddrPort) *serverStats {
	s := &serverStats{addr: a}
	for i := range s.closed {
		s.closed[i] = make([]uint64, len(reasonNames))
	}
	return s
}

func (s *serverStats) add(c *httpflow.Connection) {
	s.conns++
	if len(c.Transactions) > 0 {
		s.httpConns++
	}
	s.transactions += uint64(len(c.Transactions))
	// Who ended it first: the RST's sender when a RST ended it (the
	// summary's closed_by.reset), else the first FIN's, else none.
	reset := c.ClosedByReset()
	si := sideIndex(c.Close.FirstFinBy)
	if reset {
		si = sideIndex(c.Close.RstBy)
	}
	if r := int(c.Close.Reason); r < len(reasonNames) {
		s.closed[si][r]++
	}
	if c.Close.Reason == httpflow.ReasonKeepaliveRace {
		k := 0
		if r := c.Close.Race; r != nil && int(r.Kind) < len(raceNames) {
			k = int(r.Kind)
		}
		s.races[k]++
	}
	if reset && si != sideNone {
		s.resets[si]++
	}
	for _, p := range c.IdlePeriods {
		s.idle.observe(p.Duration.Seconds())
	}
	if f := c.FinalIdle; f != nil {
		s.final[si].observe(f.Duration.Seconds())
		// What the summary infers timeouts from (servers.go).
		if len(c.Transactions) > 0 && c.KeepAlive.Persistent {
			switch c.Close.Reason {
			case httpflow.ReasonServerIdleTimeout:
				s.idleCloses.add(f.Duration.Seconds())
			case httpflow.ReasonClientIdleClose:
				s.clientCloses.add(f.Duration.Seconds())
			}
		}
	}
}

// merge adds o's counts to s (not its recent closes: "other" infers no
// timeout).
func (s *serverStats) merge(o *serverStats) {
	s.conns += o.conns
	s.httpConns += o.httpConns
	s.transactions += o.transactions
	for i := range s.closed {
		for r, n := range o.closed[i] {
			s.closed[i][r] += n
		}
		s.final[i].merge(&o.final[i])
	}
	for i, n := range o.races {
		s.races[i] += n
	}
	for i, n := range o.resets {
		s.resets[i] += n
	}
	s.idle.merge(&o.idle)
}

// timeouts returns the server's inferred timeouts (seconds; ok false when
// not inferred).
func (m *Metrics) timeouts(s *serverStats) (idle float64, idleOK bool, client float64, clientOK bool) {
	if sv, ok := m.inferred[s.addr]; ok {
		return sv.IdleTimeout.Seconds(), sv.HasIdleTimeout, sv.ClientIdleClose.Seconds(), sv.HasClientIdleClose
	}
	if m.inferred != nil {
		return 0, false, 0, false
	}
	if t, _, _, ok := summary.InferTimeout(s.idleCloses.v); ok {
		idle, idleOK = t.Seconds(), true
	}
	if t, _, _, ok := summary.InferTimeout(s.clientCloses.v); ok {
		client, clientOK = t.Seconds(), true
	}
	return idle, idleOK, client, clientOK
}
