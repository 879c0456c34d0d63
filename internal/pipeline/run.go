// Package pipeline runs the analysis: it composes the stages, capture →
// tcpstate → httpflow, once, for capture files and for live capture.
//
// In: a capture.Source (a file, standard input, or a live interface) and a
// Config. Out: every finished connection's httpflow.Connection record,
// passed to the caller's emit function in the order connections finish
// (the same order on one goroutine or three), and a Result with the
// capture's facts and the summary.
//
// This package owns the goroutines, the batching between them, the
// quiet-wire clock of live captures and progress reporting; the stages run
// none. The clock of the analysis is the packet: the only wall-clock reads
// are the quiet-wire clock's and the live frames', for live sources.
//
// Goroutines (with two or more CPUs, unless Config.Sequential): the reader
// (capture: reading and decoding), the analyser (tcpstate and httpflow),
// and the emitter (building the records, the summary, emit). Each takes its
// input in order, so the records and their order are those of a run on one
// goroutine. Payloads are not copied between reader and analyser: they
// stay in the source's blocks (capture.Holder) until analysed.
package pipeline

import (
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/summary"
	"github.com/httplife/httplife/internal/tlsrec"
	"github.com/httplife/httplife/tcpstate"
)

// Config is what a run over a source needs.
type Config struct {
	// TCP configures the connection table; its TwoMSL is the run's.
	TCP tcpstate.Config
	// PortsLabel is the "ports" option as given ("any" when empty).
	PortsLabel string
	// Progress, when set, is called every ~64k packets, on the reader's
	// goroutine.
	Progress func(p Progress)
	// Sequential reads and analyses on one goroutine. By default, with
	// more than one CPU, the run uses three (see the package comment).
	Sequential bool
	// Transient says that emit keeps nothing of a record past its return
	// but strings (render.NDJSON writes it out): the memory of records'
	// transactions is reused.
	Transient bool
	// Lines, when set, encodes and writes the records of the connections
	// still open when the input ends, in place of emit (see Lines).
	Lines *Lines
	// Live, when set, runs a live source (a capture.LiveSource): see Live.
	Live *Live
	// Summary says what the run's summary.Builder keeps; Builder, when
	// set, is the builder to use instead of a new one (it is called on
	// the goroutine that calls emit).
	Summary summary.Config
	Builder *summary.Builder
	// KeyLog holds the TLS secrets that decrypt HTTPS connections
	// (--keylog, pcapng Decryption Secrets Blocks); nil: none.
	KeyLog *tlsrec.KeyLog
	// Shards spreads the connections of a file over this many analysis
	// workers (shard.go); 0: one per CPU but one from four CPUs on, none
	// below; negative: none.
	Shards int
	// Observe, when set, sees every record the summary does (the records
	// Lines writes included), in order, right before emit; calls never
	// overlap, though with Lines they may come from two goroutines in
	// turn. The record is emit's: reused after both return when Transient.
	Observe func(*httpflow.Connection)
	// Tap, when set, sees the packets of each connection (see Tap).
	Tap Tap
}

// Tap sees each segment the connection table took and each connection's
// end, on the goroutine that analyses (in capture order per connection;
// nothing is assumed about the order across connections). A connection's
// record is built after its Done. Nil costs nothing. A run with a Tap is
// not sharded (Config.Shards): its calls come from one goroutine.
type Tap interface {
	// Segment is called after the table took seg (not for segments it
	// filtered out by port or found late, after their connection's end);
	// seg and its payload are valid only during the call.
	Segment(seg *capture.Segment)
	// Done is called when the table ends connection c, before its record
	// is built; c is valid only during the call.
	Done(c *tcpstate.Conn)
}

// Live is what a run over a live source needs besides Config.
type Live struct {
	// Poll is the longest the reader waits for a packet before it looks
	// at the clock.
	Poll time.Duration
	// TickMargin keeps the quiet-wire clock behind packets the kernel may
	// still hold (the ring hands packets over in blocks). On a quiet wire
	// the table's clock is moved to the last packet's time plus the wall
	// time since it was read, less TickMargin, so that finished
	// connections are still reported.
	TickMargin time.Duration
	// Wrap, when set, wraps each connection's stream (to watch its
	// activity); it is called, and the streams it returns are called, on
	// the analysing goroutine.
	Wrap func(tcpstate.Stream) tcpstate.Stream
	// Frame, when set, is called about every FrameEvery of wall time with
	// the run's state, on the goroutine that calls emit, so it may read
	// what emit keeps.
	Frame      func(Snapshot)
	FrameEvery time.Duration
}

// Snapshot is the state of a live run, for Live.Frame.
type Snapshot struct {
	Source capture.Stats
	Live   capture.LiveStats
	Table  tcpstate.Stats
	Open   int       // connections in the table
	Clock  time.Time // packet time, advanced on a quiet wire
}

// Lines lets a run with more than one CPU encode the records left when the
// input ends (the connections then open: in a capture of long keep-alive
// connections, much of the output) on two goroutines. Each builds and
// encodes a record with an encoder of its own, in turn; the encoded
// records are written in order. Without Lines the two goroutines build the
// records and emit gets them in order.
type Lines struct {
	// NewEncoder returns an encoder for one goroutine: it appends a record
	// to dst as emit would write it, or returns the error emit would meet.
	NewEncoder func() func(dst []byte, c *httpflow.Connection) ([]byte, error)
	// Write writes an encoded record where emit would have written the
	// record, or takes its error (with no bytes). It is called in record
	// order; a sharded run may pass a record's line in several pieces, in
	// order.
	Write func(line []byte, err error)
}

// Progress reports a run in flight.
type Progress struct {
	Packets uint64
	Bytes   uint64
	Open    int
}

// Result is what a run produced besides the records it emitted.
type Result struct {
	Capture httpflow.CaptureInfo
	Options httpflow.Options
	Summary httpflow.Summary
	Table   tcpstate.Stats
	Live    capture.LiveStats // live sources only
	// Builder is the summary of every record, for the digest.
	Builder *summary.Builder
}

// Digest is the run's summary.Digest.
func (r *Result) Digest() *summary.Digest { return r.Builder.Digest(r.Capture, r.Options) }

// Run reads src to the end, passes each finished connection's record to
// emit (in the order connections finish) and returns the capture info and
// summary. A read error ends the run but keeps what was analysed: the
// error is returned with a Result that covers everything before it.
func Run(src capture.Source, cfg Config, emit func(*httpflow.Connection)) (*Result, error) {
	sb := cfg.Builder
	if sb == nil {
		sb = summary.New(cfg.Summary)
	}
	if extra := sb.Memory(); extra > 0 {
		if lim := debug.SetMemoryLimit(-1); lim > 0 && lim < math.MaxInt64/2 {
			debug.SetMemoryLimit(lim + extra)
			defer debug.SetMemoryLimit(lim)
		}
	}
	lines := cfg.Lines
	if emit == nil {
		lines = nil
	}
	add := sb.Add
	if obs := cfg.Observe; obs != nil {
		add = func(c *httpflow.Connection) { sb.Add(c); obs(c) }
	}
	deliver := func(c *httpflow.Connection) {
		add(c)
		if emit != nil {
			emit(c)
		}
	}
	parallel := !cfg.Sequential && runtime.GOMAXPROCS(0) >= 2
	var tab *tcpstate.Table
	keys := cfg.KeyLog
	if _, ok := src.(capture.Secrets); ok && keys == nil {
		keys = tlsrec.NewKeyLog() // for the capture's own secrets; empty, it warns of nothing
	}
	hcfg := httpflow.Config{Transient: cfg.Transient, KeyLog: keys}
	r := &reader{src: src, cfg: &cfg, keys: keys}
	if live, ok := src.(capture.LiveSource); ok && cfg.Live != nil {
		r.live = live
	}
	nShards := 0
	if r.live == nil && !cfg.Sequential && cfg.Tap == nil { // a Tap is called on one goroutine
		if n := shardCount(&cfg); n >= 2 {
			nShards = n
		}
	}
	var out *emitter
	var finish func(httpflow.Finished)
	if nShards > 0 {
		finish = func(httpflow.Finished) { panic("pipeline: sharded run finished a connection on the lone table") }
	} else if parallel {
		if r.live != nil {
			out = newEmitter(deliver, cfg.Live, r.snapshot)
			r.afterBatch = out.flush
		} else {
			out = newEmitter(deliver, nil, nil)
		}
		finish = out.send
	} else {
		finish = httpflow.Emitting(new(httpflow.Memory), deliver)
	}
	an := httpflow.NewAnalyzer(hcfg, func(x httpflow.Finished) { finish(x) })
	factory := an.Factory()
	if cfg.Live != nil && cfg.Live.Wrap != nil {
		inner, wrap := factory, cfg.Live.Wrap
		factory = func(c *tcpstate.Conn) tcpstate.Stream { return wrap(inner(c)) }
	}
	if cfg.Tap != nil {
		inner, tap := factory, cfg.Tap
		factory = func(c *tcpstate.Conn) tcpstate.Stream { return tapStream{inner(c), tap} }
	}
	tab = tcpstate.NewTable(cfg.TCP, factory)
	r.tab = tab
	r.tap = cfg.Tap

	var err error
	var shardStats *tcpstate.Stats
	if nShards > 0 {
		st, serr := r.sharded(nShards, hcfg, deliver, add, lines)
		shardStats, err = &st, serr
	} else if parallel {
		err = r.pipelined()
	} else {
		err = r.sequential()
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if shardStats != nil {
		// every record was emitted by the merger
	} else if out == nil {
		tab.Flush()
	} else {
		// The records of the connections still open are built (and
		// encoded) two at a time, on this goroutine and the emitter's.
		t := &tail{add: add, emit: emit, lines: lines}
		finish = func(x httpflow.Finished) { t.items = append(t.items, x) }
		tab.Flush()
		out.close(t)
	}
	st := src.Stats()
	ts := tab.Stats()
	if shardStats != nil {
		ts = *shardStats
	}
	res := &Result{
		Capture: CaptureInfo(st, ts),
		Options: httpflow.Options{TwoMSL: tab.Config().TwoMSL, Ports: cfg.PortsLabel},
		Table:   ts,
		Builder: sb,
	}
	if r.live != nil {
		res.Live = r.live.LiveStats()
	}
	if res.Options.Ports == "" {
		res.Options.Ports = "any"
	}
	res.Summary, _ = sb.Final(res.Options)
	res.Capture.Warnings = append(res.Capture.Warnings, sb.Notes()...)
	if keys != nil {
		res.Capture.Warnings = append(res.Capture.Warnings, keys.Warnings()...)
	}
	if err != nil {
		if r.live != nil {
			res.Capture.Warnings = append(res.Capture.Warnings, st.Source+": capture failed after packet "+
				strconv.FormatUint(st.Packets, 10)+": "+err.Error())
		} else {
			res.Capture.Warnings = append(res.Capture.Warnings, st.Source+": read error after packet "+
				strconv.FormatUint(st.Packets, 10)+": "+err.Error())
		}
	}
	return res, err
}

// CaptureInfo is the capture object of the lifecycle document, from the
// source's and the table's counters.
func CaptureInfo(st *capture.Stats, ts tcpstate.Stats) httpflow.CaptureInfo {
	ci := httpflow.CaptureInfo{
		Source:        st.Source,
		Format:        st.Format,
		LinkTypes:     append([]string{}, st.LinkTypes...),
		FirstPacketAt: st.FirstPacketAt,
		LastPacketAt:  st.LastPacketAt,
		Packets:       st.Packets,
		TCPPackets:    st.TCPPackets,
		Bytes:         st.Bytes,
		Skipped:       httpflow.Skipped{NonTCP: st.Skipped.NonTCP, Undecodable: st.Skipped.Undecodable, Truncated: st.Skipped.Truncated, Fragments: st.Skipped.Fragments},
		Evicted:       ts.Evicted,
		Duplicates:    ts.Duplicates,
		Warnings:      append(append([]string{}, st.Warnings...), ts.Warnings()...),
	}
	if !st.FirstPacketAt.IsZero() {
		ci.Duration = st.LastPacketAt.Sub(st.FirstPacketAt)
	}
	if st.Format == "live" || st.DropCounts {
		d := st.Dropped
		ci.Dropped = &d
		if d > 0 && st.Format == "live" { // a file's source warns itself
			ci.Warnings = append(ci.Warnings, strconv.FormatUint(d, 10)+" packets dropped by the kernel or the ring")
		}
	}
	if len(st.Files) > 1 {
		ci.Files = append([]string(nil), st.Files...)
	}
	ci.Filter = st.Filter
	if ts.Evicted > 0 {
		ci.Warnings = append(ci.Warnings, strconv.FormatUint(ts.Evicted, 10)+
			" connections evicted by the connection-table cap (half-open first)")
	}
	return ci
}

// Analyse runs src to the end and returns the whole document, connections
// in id order, and the run's result.
func Analyse(src capture.Source, cfg Config) (*httpflow.Document, *Result, error) {
	var conns []httpflow.Connection
	res, err := Run(src, cfg, func(c *httpflow.Connection) { conns = append(conns, *c) })
	sort.Slice(conns, func(i, j int) bool { return conns[i].ID < conns[j].ID })
	if conns == nil {
		conns = []httpflow.Connection{}
	}
	// The proxy legs: each transaction's links to the other leg's.
	up, down := res.Builder.Links()
	if len(up) > 0 || len(down) > 0 {
		for i := range conns {
			c := &conns[i]
			for k := range c.Transactions {
				t := &c.Transactions[k]
				ref := httpflow.TxRef{Conn: c.ID, Tx: t.Index}
				if u, ok := up[ref]; ok {
					t.Upstream = u
				}
				if d, ok := down[ref]; ok {
					t.Downstream = &d
				}
			}
		}
	}
	if len(up) > 0 {
		proxyCauses(conns)
	}
	doc := &httpflow.Document{Capture: res.Capture, Options: res.Options, Connections: conns, Summary: res.Summary}
	return doc, res, err
}

// PortsLabel formats a port set for the options object.
func PortsLabel(ports []uint16) string {
	if len(ports) == 0 {
		return "any"
	}
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}

// proxyCauses rewrites the evidence of a downstream connection that a
// proxy closed because the upstream request behind its last request
// failed: on the downstream leg that is no crossing with an idle timeout,
// whatever the packets' order suggests (the kind stays the packets').
func proxyCauses(conns []httpflow.Connection) {
	byID := make(map[int]*httpflow.Connection, len(conns))
	for i := range conns {
		byID[conns[i].ID] = &conns[i]
	}
	for i := range conns {
		c := &conns[i]
		r := c.Close.Race
		if r == nil || r.Transaction < 1 || r.Transaction > len(c.Transactions) {
			continue
		}
		t := &c.Transactions[r.Transaction-1]
		if t.Status != 0 || len(t.Upstream) == 0 {
			continue
		}
		last := t.Upstream[len(t.Upstream)-1]
		u := byID[last.Conn]
		if u == nil || last.Tx < 1 || last.Tx > len(u.Transactions) || u.Transactions[last.Tx-1].Status != 0 && u.Transactions[last.Tx-1].Status < 500 {
			continue
		}
		what := "got no response"
		if st := u.Transactions[last.Tx-1].Status; st != 0 {
			what = fmt.Sprintf("was answered %d", st)
		}
		if ur := u.Close.Race; ur != nil && ur.Transaction == last.Tx {
			what = "was lost to a " + ur.Kind.String() + " race"
		} else if u.Close.RstBy == httpflow.Server {
			what += " (the upstream reset the connection)"
		}
		history := ""
		if j := strings.LastIndex(c.Close.Evidence, "; TCP history "); j >= 0 {
			history = c.Close.Evidence[j:]
		}
		c.Close.Evidence = fmt.Sprintf("request %d after %s of idle was never answered: the proxy closed this connection because the upstream request it caused (connection %d, transaction %d) %s; not a crossing with this leg's idle timeout%s",
			r.Transaction, summary.Secs(r.IdleBefore.Seconds()), last.Conn, last.Tx, what, history)
	}
}

// tapStream tells the Tap of its connection's end before the stream below.
type tapStream struct {
	tcpstate.Stream
	tap Tap
}

func (s tapStream) Done(c *tcpstate.Conn) {
	s.tap.Done(c)
	s.Stream.Done(c)
}
