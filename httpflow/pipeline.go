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
	tab.Flush()
	if out != nil {
		out.close()
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
	txs  int // transactions in buf
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
				x.f.finish(x.c)
			}
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

// close sends what is left and waits until every record was emitted.
func (e *emitter) close() {
	if len(e.buf) > 0 {
		e.ch <- e.buf
	}
	close(e.ch)
	<-e.done
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
			s := *seg
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
			b.segs = append(b.segs, s)
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
