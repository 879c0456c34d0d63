package pipeline

import (
	"sync/atomic"
	"time"

	"github.com/httplife/httplife/httpflow"
)

// emitter builds and emits the records of finished connections on a
// goroutine of its own, in the order they finished, a few at a time. The
// connections waiting are bounded by count and by transactions, so memory
// stays flat when the writer is slower than the analysis.
type emitter struct {
	ch      chan []httpflow.Finished
	buf     []httpflow.Finished
	txs     int   // transactions in buf
	tail    *tail // set before ch is closed
	done    chan struct{}
	deliver func(*httpflow.Connection)

	// Live runs: frame (Live.Frame) is called every frameEvery with what
	// snapshot returns.
	frame      func(Snapshot)
	snapshot   func() Snapshot
	frameEvery time.Duration
}

const (
	emitBatch    = 256  // connections per batch at most
	emitBatchTxs = 4096 // transactions per batch, past which it is sent
	emitQueue    = 4    // batches waiting at most
)

// newEmitter starts the emitter. live and snapshot are for live runs with
// frames, else nil.
func newEmitter(deliver func(*httpflow.Connection), live *Live, snapshot func() Snapshot) *emitter {
	e := &emitter{ch: make(chan []httpflow.Finished, emitQueue), done: make(chan struct{}), deliver: deliver}
	if live != nil && live.Frame != nil && snapshot != nil {
		e.frame, e.snapshot, e.frameEvery = live.Frame, snapshot, live.FrameEvery
	}
	go e.run()
	return e
}

func (e *emitter) run() {
	defer close(e.done)
	var m httpflow.Memory
	emit := httpflow.Emitting(&m, e.deliver)
	var tick <-chan time.Time
	if e.frame != nil {
		t := time.NewTicker(e.frameEvery)
		defer t.Stop()
		tick = t.C
	}
loop:
	for {
		select {
		case batch, ok := <-e.ch:
			if !ok {
				break loop
			}
			for _, x := range batch {
				emit(x)
			}
		case <-tick:
			e.frame(e.snapshot())
		}
	}
	if t := e.tail; t != nil {
		close(t.turn[0]) // every record before t's was emitted
		t.work(&m)
	}
}

func (e *emitter) send(x httpflow.Finished) {
	if e.buf == nil {
		e.buf = make([]httpflow.Finished, 0, emitBatch)
	}
	e.buf = append(e.buf, x)
	e.txs += x.Transactions()
	if len(e.buf) == emitBatch || e.txs >= emitBatchTxs {
		e.ch <- e.buf
		e.buf, e.txs = nil, 0
	}
}

// flush hands over the connections gathered so far (a live run does after
// each batch, so that records are not held back on a quiet wire).
func (e *emitter) flush() {
	if len(e.buf) > 0 {
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
	t.work(new(httpflow.Memory))
	<-e.done
}

// tail is the connections left when the input ended, in runs of
// consecutive ones. Two goroutines take the runs one at a time, in order,
// build the records of a run (and encode them, with Lines) and wait for its
// turn to pass them on: run k is passed on after run k-1.
type tail struct {
	items []httpflow.Finished
	add   func(*httpflow.Connection) // the summary's
	emit  func(*httpflow.Connection)
	lines *Lines
	runs  []int // run k is items[runs[k]:runs[k+1]]
	next  atomic.Int64
	turn  []chan struct{} // turn[k] is closed once run k may be passed on
}

// tailRunTxs is the transactions from which a run ends: short records go
// a few at a time, since each turn costs a wake-up of the other goroutine.
const tailRunTxs = 256

// split cuts the connections into runs.
func (t *tail) split() {
	n := 0
	for i, x := range t.items {
		if n == 0 {
			t.runs = append(t.runs, i)
		}
		if n += x.Transactions() + 1; n >= tailRunTxs {
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
func (t *tail) work(m *httpflow.Memory) {
	var (
		enc  func([]byte, *httpflow.Connection) ([]byte, error)
		buf  []byte
		ends []int
		errs []error
		recs []*httpflow.Connection
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
			if x.Transactions() > items[big].Transactions() {
				big = i
			}
		}
		buf, ends, errs, recs = buf[:0], ends[:0], errs[:0], recs[:0]
		for i, x := range items {
			mem := m
			if i != big {
				mem = nil // fresh memory
			}
			rec := x.Record(mem)
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
				x.Done(nil)
			}
		}
		items[big].Done(m)
	}
}
