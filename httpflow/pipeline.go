package httpflow

import (
	"errors"
	"io"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/tcpstate"
)

// RunConfig is what a run over a source needs.
type RunConfig struct {
	TCP    tcpstate.Config
	TwoMSL time.Duration
	// PortsLabel is the "ports" option as given ("any" when empty).
	PortsLabel string
	// Progress, when set, is called every ~64k packets.
	Progress func(p Progress)
	// Sequential reads and analyses on one goroutine. By default, with
	// more than one CPU, the work runs on three goroutines, each taking
	// its input in order: reading and decoding; TCP and HTTP analysis;
	// building, summarising and emitting records. Payloads stay in the
	// source's blocks (capture.Holder) until analysed. The output is the
	// same either way, record for record.
	Sequential bool
	// Transient says that emit keeps nothing of a record past its return
	// but strings (render.NDJSON writes it out): the memory of records'
	// transactions is reused.
	Transient bool
	// Lines, when set, encodes and writes the records of the connections
	// still open when the input ends, in place of emit (see Lines).
	Lines *Lines
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
	NewEncoder func() func(dst []byte, c *Connection) ([]byte, error)
	// Write writes an encoded record where emit would have written the
	// record, or takes its error (with no bytes). It is called in record
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
	Capture CaptureInfo
	Options Options
	Summary Summary
	Table   tcpstate.Stats
}

// Run reads src to the end, passes each finished connection's record to
// emit (in the order connections finish) and returns the capture info and
// summary. A read error ends the run but keeps what was analysed: the
// error is returned with a Result that covers everything before it.
func Run(src capture.Source, cfg RunConfig, emit func(*Connection)) (*Result, error) {
	if cfg.TwoMSL <= 0 {
		cfg.TwoMSL = 60 * time.Second
	}
	cfg.TCP.TwoMSL = cfg.TwoMSL
	sb := NewSummaryBuilder()
	lines := cfg.Lines
	if emit == nil {
		lines = nil
	}
	deliver := func(c *Connection) {
		sb.Add(c)
		if emit != nil {
			emit(c)
		}
	}
	parallel := !cfg.Sequential && runtime.GOMAXPROCS(0) >= 2
	an := NewAnalyzer(Config{TwoMSL: cfg.TwoMSL, Transient: cfg.Transient}, deliver)
	var out *emitter
	if parallel {
		// Records are built, summarised and passed to emit (encoding,
		// writing) on a goroutine of their own, in the order the
		// connections finished.
		out = newEmitter()
		an.finish = out.send
	}
	tab := tcpstate.NewTable(cfg.TCP, an.Factory())
	an.release = tab.Recycle
	var err error
	if parallel {
		err = runPipelined(src, tab, cfg.Progress)
	} else {
		err = runSequential(src, tab, cfg.Progress)
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if out == nil {
		tab.Flush()
	} else {
		// The records of the connections still open are built (and
		// encoded) two at a time, on this goroutine and the emitter's.
		t := &tail{a: an, add: sb.Add, emit: emit, lines: lines}
		an.finish = func(f *flow, c *tcpstate.Conn) { t.items = append(t.items, finished{f, c}) }
		tab.Flush()
		out.close(t)
	}
	st := src.Stats()
	res := &Result{
		Capture: captureInfo(st, tab.Stats()),
		Options: Options{TwoMSL: Secs(cfg.TwoMSL), Ports: cfg.PortsLabel},
		Summary: sb.Summary(),
		Table:   tab.Stats(),
	}
	if res.Options.Ports == "" {
		res.Options.Ports = "any"
	}
	if err != nil {
		res.Capture.Warnings = append(res.Capture.Warnings, st.Source+": read error after packet "+
			strconv.FormatUint(st.Packets, 10)+": "+err.Error())
	}
	return res, err
}

// CaptureInfoOf is the capture object Run reports, for callers that drive
// the table themselves (the live loop of watch).
func CaptureInfoOf(st *capture.Stats, ts tcpstate.Stats) CaptureInfo { return captureInfo(st, ts) }

func runSequential(src capture.Source, tab *tcpstate.Table, progress func(Progress)) error {
	var n uint64
	for {
		seg, err := src.Next()
		if err != nil {
			return err
		}
		tab.Add(seg)
		n++
		if progress != nil && n&0xffff == 0 {
			st := src.Stats()
			progress(Progress{Packets: st.Packets, Bytes: st.Bytes, Open: tab.Open()})
		}
	}
}

// emitter builds and emits the records of finished flows on a goroutine
// of its own, in the order the flows finished, a few at a time. The flows
// waiting are bounded by count and by transactions, so memory stays flat
// when the writer is slower than the analysis.
type emitter struct {
	ch   chan []finished
	buf  []finished
	txs  int   // transactions in buf
	tail *tail // set before ch is closed
	done chan struct{}
}

type finished struct {
	f *flow
	c *tcpstate.Conn
}

const (
	emitBatch    = 256  // flows per batch at most
	emitBatchTxs = 4096 // transactions per batch, past which it is sent
	emitQueue    = 4    // batches waiting at most
)

func newEmitter() *emitter {
	e := &emitter{ch: make(chan []finished, emitQueue), done: make(chan struct{})}
	go func() {
		defer close(e.done)
		for batch := range e.ch {
			for _, x := range batch {
				x.f.finish(x.c, &x.f.a.mem)
			}
		}
		if t := e.tail; t != nil {
			close(t.turn[0]) // every record before t's was emitted
			t.work(&t.a.mem)
		}
	}()
	return e
}

func (e *emitter) send(f *flow, c *tcpstate.Conn) {
	if e.buf == nil {
		e.buf = make([]finished, 0, emitBatch)
	}
	e.buf = append(e.buf, finished{f, c})
	e.txs += f.txs.n
	if len(e.buf) == emitBatch || e.txs >= emitBatchTxs {
		e.ch <- e.buf
		e.buf, e.txs = nil, 0
	}
}

// close sends what is left, then builds and emits the records of t with
// the emitter (after everything sent before), and waits until every record
// was emitted.
func (e *emitter) close(t *tail) {
	if len(e.buf) > 0 {
		e.ch <- e.buf
	}
	t.split()
	e.tail = t
	close(e.ch)
	t.work(new(recMem))
	<-e.done
}

// tail is the flows left when the input ended, in runs of consecutive
// flows. Two goroutines take the runs one at a time, in order, build the
// records of a run (and encode them, with Lines) and wait for its turn to
// pass them on: run k is passed on after run k-1.
type tail struct {
	a     *Analyzer
	items []finished
	add   func(*Connection) // the summary's
	emit  func(*Connection)
	lines *Lines
	runs  []int // run k is items[runs[k]:runs[k+1]]
	next  atomic.Int64
	turn  []chan struct{} // turn[k] is closed once run k may be passed on
}

// tailRunTxs is the transactions from which a run ends: short records go
// a few at a time, since each turn costs a wake-up of the other goroutine.
const tailRunTxs = 256

// split cuts the flows into runs.
func (t *tail) split() {
	n := 0
	for i, x := range t.items {
		if n == 0 {
			t.runs = append(t.runs, i)
		}
		if n += x.f.txs.n + 1; n >= tailRunTxs {
			n = 0
		}
	}
	t.runs = append(t.runs, len(t.items))
	t.turn = make([]chan struct{}, len(t.runs))
	for i := range t.turn {
		t.turn[i] = make(chan struct{})
	}
}

// work builds and passes on runs until none is left. The run's largest
// record uses m, the memory this goroutine reuses from run to run; the
// others (short by the runs' making) have their own.
func (t *tail) work(m *recMem) {
	var (
		enc  func([]byte, *Connection) ([]byte, error)
		buf  []byte
		ends []int
		errs []error
		recs []*Connection
	)
	if t.lines != nil {
		enc = t.lines.NewEncoder()
	}
	for {
		k := int(t.next.Add(1) - 1)
		if k >= len(t.runs)-1 {
			return
		}
		items := t.items[t.runs[k]:t.runs[k+1]]
		big := 0
		for i, x := range items {
			if x.f.txs.n > items[big].f.txs.n {
				big = i
			}
		}
		buf, ends, errs, recs = buf[:0], ends[:0], errs[:0], recs[:0]
		for i, x := range items {
			mem := m
			if i != big {
				mem = new(recMem)
			}
			rec := x.f.record(x.c, mem)
			recs = append(recs, rec)
			if enc != nil {
				at := len(buf)
				var err error
				if buf, err = enc(buf, rec); err != nil {
					buf = buf[:at]
				}
				ends, errs = append(ends, len(buf)), append(errs, err)
			}
		}
		<-t.turn[k]
		from := 0
		for i, rec := range recs {
			t.add(rec)
			switch {
			case enc != nil:
				t.lines.Write(buf[from:ends[i]], errs[i])
				from = ends[i]
			case t.emit != nil:
				t.emit(rec)
			}
		}
		close(t.turn[k+1])
		for i, x := range items {
			if i != big {
				x.f.done(x.c, nil)
			}
		}
		items[big].f.done(items[big].c, m)
	}
}

// batch carries decoded segments from the reader to the analysis. Their
// payloads point into the source's blocks (held until the batch is
// analysed) or, for sources that reuse their buffer, into data.
type batch struct {
	segs   []capture.Segment
	data   []byte
	blocks []*capture.Block
}

// A batch is about two blocks (capture's 512 KiB); two of them wait at
// most. The reader then stays only a few blocks ahead of the analysis, so
// what it reads is still in the CPU's cache when it is analysed, and the
// goroutines wake each other about 1,000 times per GB.
const (
	batchSegs  = 512
	batchBytes = 1 << 20
	batchQueue = 2
)

// runPipelined reads and decodes on a goroutine of its own and analyses the
// segments, in capture order, on this one.
func runPipelined(src capture.Source, tab *tcpstate.Table, progress func(Progress)) error {
	full := make(chan *batch, batchQueue)
	free := make(chan *batch, batchQueue+2)
	for i := 0; i < cap(free); i++ {
		free <- &batch{segs: make([]capture.Segment, 0, batchSegs)}
	}
	holder, _ := src.(capture.Holder)
	var rerr error
	var open atomic.Int64
	go func() {
		defer close(full)
		b := <-free
		var n uint64
		for {
			seg, err := src.Next()
			if err != nil {
				rerr = err
				break
			}
			if len(b.segs) == cap(b.segs) || (len(b.data) > 0 && len(b.data)+len(seg.Payload) > batchBytes) {
				full <- b
				b = <-free
			}
			b.segs = append(b.segs, *seg)
			s := &b.segs[len(b.segs)-1]
			var blk *capture.Block
			if holder != nil && len(seg.Payload) > 0 {
				blk = holder.PayloadBlock()
			}
			switch {
			case blk != nil:
				if k := len(b.blocks); k == 0 || b.blocks[k-1] != blk {
					blk.Retain()
					b.blocks = append(b.blocks, blk)
				}
			case len(seg.Payload) > 0:
				if b.data == nil {
					b.data = make([]byte, 0, batchBytes)
				}
				if len(seg.Payload) <= cap(b.data)-len(b.data) {
					off := len(b.data)
					b.data = append(b.data, seg.Payload...)
					s.Payload = b.data[off:len(b.data):len(b.data)]
				} else {
					s.Payload = append([]byte(nil), seg.Payload...) // larger than a batch
				}
			}
			n++
			if progress != nil && n&0xffff == 0 {
				st := src.Stats()
				progress(Progress{Packets: st.Packets, Bytes: st.Bytes, Open: int(open.Load())})
			}
		}
		full <- b
	}()
	for b := range full {
		for i := range b.segs {
			tab.Add(&b.segs[i])
			b.segs[i].Payload = nil
		}
		open.Store(int64(tab.Open()))
		for i, blk := range b.blocks {
			blk.Release()
			b.blocks[i] = nil
		}
		b.segs, b.data, b.blocks = b.segs[:0], b.data[:0], b.blocks[:0]
		free <- b
	}
	return rerr
}

func captureInfo(st *capture.Stats, ts tcpstate.Stats) CaptureInfo {
	ci := CaptureInfo{
		Source:        st.Source,
		Format:        st.Format,
		LinkTypes:     append([]string{}, st.LinkTypes...),
		FirstPacketAt: At(st.FirstPacketAt),
		LastPacketAt:  At(st.LastPacketAt),
		Packets:       st.Packets,
		TCPPackets:    st.TCPPackets,
		Bytes:         st.Bytes,
		Skipped: map[string]uint64{
			"non_tcp": st.Skipped.NonTCP, "undecodable": st.Skipped.Undecodable, "truncated": st.Skipped.Truncated,
		},
		Evicted:  ts.Evicted,
		Warnings: append([]string{}, st.Warnings...),
	}
	if !st.FirstPacketAt.IsZero() {
		ci.Duration = Secs(st.LastPacketAt.Sub(st.FirstPacketAt))
	}
	if st.Format == "live" {
		d := st.Dropped
		ci.Dropped = &d
		if d > 0 {
			ci.Warnings = append(ci.Warnings, strconv.FormatUint(d, 10)+" packets dropped by the kernel or the ring")
		}
	}
	if ts.Evicted > 0 {
		ci.Warnings = append(ci.Warnings, strconv.FormatUint(ts.Evicted, 10)+
			" connections evicted by the connection-table cap (half-open first)")
	}
	return ci
}

// Analyse runs src to the end and returns the whole document, connections
// in id order.
func Analyse(src capture.Source, cfg RunConfig) (*Document, error) {
	var conns []Connection
	res, err := Run(src, cfg, func(c *Connection) { conns = append(conns, *c) })
	sort.Slice(conns, func(i, j int) bool { return conns[i].ID < conns[j].ID })
	if conns == nil {
		conns = []Connection{}
	}
	doc := &Document{Schema: Schema, Capture: res.Capture, Options: res.Options, Connections: conns, Summary: res.Summary}
	return doc, err
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
