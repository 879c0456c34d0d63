package pipeline

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/internal/tlsrec"
	"github.com/httplife/httplife/tcpstate"
)

// reader feeds the table from the source, on one goroutine (sequential) or
// through batches handed to the analysing goroutine (pipelined).
type reader struct {
	src  capture.Source
	live capture.LiveSource // src, when it is live and Config.Live is set
	cfg  *Config
	tab  *tcpstate.Table
	tap  Tap // Config.Tap

	// The quiet-wire clock (live sources): the last packet's time, when it
	// was read (wall clock), and the packet time the table was moved to.
	lastPkt, lastRead, clock time.Time

	// afterBatch, when set, is called by the analyser after each batch.
	afterBatch func()

	// TLS secrets the source carries (pcapng Decryption Secrets Blocks)
	// go into keys as they are read: secrets says how many were taken,
	// pulled counts packets since the last look.
	keys    *tlsrec.KeyLog
	secrets int
	pulled  int

	// The state published for Live.Frame by the reader and the analyser
	// (pipelined runs).
	mu   sync.Mutex
	snap Snapshot
}

// next returns the next segment; for a live source it waits at most
// Live.Poll and returns (nil, nil) with the quiet-wire clock's time in
// tick when none came.
func (r *reader) next() (seg *capture.Segment, tick time.Time, err error) {
	if r.live == nil {
		seg, err = r.src.Next()
		r.pullSecrets()
		return seg, time.Time{}, err
	}
	seg, err = r.live.NextTimeout(r.cfg.Live.Poll)
	now := time.Now()
	switch {
	case err == nil:
		if seg.Time.After(r.lastPkt) {
			r.lastPkt = seg.Time
		}
		if r.lastPkt.After(r.clock) {
			r.clock = r.lastPkt
		}
		r.lastRead = now
		return seg, time.Time{}, nil
	case errors.Is(err, capture.ErrTimeout):
		if !r.lastRead.IsZero() {
			if t := r.lastPkt.Add(now.Sub(r.lastRead) - r.cfg.Live.TickMargin); t.After(r.clock) {
				r.clock = t
				return nil, t, nil
			}
		}
		return nil, time.Time{}, nil
	}
	return nil, time.Time{}, err
}

// pullSecrets hands the key log the Decryption Secrets Blocks the source
// read since the last look: after the first packet (a DSB comes before
// the packets it decrypts; editcap --inject-secrets puts it first), then
// every 4,096 packets.
func (r *reader) pullSecrets() {
	if r.keys == nil {
		return
	}
	if r.pulled++; r.pulled != 1 && r.pulled&4095 != 0 {
		return
	}
	sec, ok := r.src.(capture.Secrets)
	if !ok {
		return
	}
	all := sec.Secrets()
	for _, b := range all[min(r.secrets, len(all)):] {
		r.keys.AddDSB(tlsrec.SecretsTypeTLS, b)
	}
	r.secrets = max(r.secrets, len(all))
}

// sequential reads and analyses on this goroutine.
func (r *reader) sequential() error {
	var n uint64
	var nextFrame time.Time
	live := r.live != nil && r.cfg.Live.Frame != nil
	if live {
		nextFrame = time.Now().Add(r.cfg.Live.FrameEvery)
	}
	for {
		seg, tick, err := r.next()
		if err != nil {
			return err
		}
		switch {
		case seg != nil:
			r.add(seg)
			n++
			if r.cfg.Progress != nil && n&0xffff == 0 {
				st := r.src.Stats()
				r.cfg.Progress(Progress{Packets: st.Packets, Bytes: st.Bytes, Open: r.tab.Open()})
			}
		case !tick.IsZero():
			r.tab.Tick(tick)
		}
		if live {
			if now := time.Now(); !now.Before(nextFrame) {
				nextFrame = now.Add(r.cfg.Live.FrameEvery)
				r.cfg.Live.Frame(Snapshot{Source: r.src.Stats().Clone(), Live: r.live.LiveStats(),
					Table: r.tab.Stats(), Open: r.tab.Open(), Clock: r.clock})
			}
		}
	}
}

// add gives seg to the table, then to the Tap when there is one and the
// table took it.
func (r *reader) add(seg *capture.Segment) {
	if r.tap == nil {
		r.tab.Add(seg)
		return
	}
	before := r.tab.Stats()
	r.tab.Add(seg)
	if after := r.tab.Stats(); after.Filtered == before.Filtered && after.Late == before.Late {
		r.tap.Segment(seg)
	}
}

// batch carries decoded segments from the reader to the analysis. Their
// payloads point into the source's blocks (held until the batch is
// analysed) or, for sources that reuse their buffer, into data. tick, when
// set, moves the table's clock after the segments (a quiet wire).
type batch struct {
	segs   []capture.Segment
	data   []byte
	blocks []*capture.Block
	tick   time.Time
}

// A batch is about two blocks (capture's 512 KiB); two of them wait at
// most. The reader then stays only a few blocks ahead of the analysis, so
// what it reads is still in the CPU's cache when it is analysed, and the
// goroutines wake each other about 1,000 times per GB. A live batch is
// also handed over when the wire goes quiet, and at the latest liveBatchAge
// after its first packet.
const (
	batchSegs    = 512
	batchBytes   = 1 << 20
	batchQueue   = 2
	liveBatchAge = 100 * time.Millisecond
)

// pipelined reads and decodes on a goroutine of its own and analyses the
// segments, in capture order, on this one.
func (r *reader) pipelined() error {
	full := make(chan *batch, batchQueue)
	free := make(chan *batch, batchQueue+2)
	for i := 0; i < cap(free); i++ {
		free <- &batch{segs: make([]capture.Segment, 0, batchSegs)}
	}
	holder, _ := r.src.(capture.Holder)
	var rerr error
	var open atomic.Int64
	go func() {
		defer close(full)
		b := <-free
		var n uint64
		var started time.Time // wall clock of a live batch's first packet
		send := func() {
			if r.live != nil {
				r.publishSource()
			}
			full <- b
			b = <-free
		}
		for {
			seg, tick, err := r.next()
			if err != nil {
				rerr = err
				break
			}
			if seg == nil {
				if !tick.IsZero() || len(b.segs) > 0 {
					b.tick = tick
					send()
				} else if r.live != nil {
					r.publishSource()
				}
				continue
			}
			if len(b.segs) == cap(b.segs) || (len(b.data) > 0 && len(b.data)+len(seg.Payload) > batchBytes) {
				send()
			}
			if r.live != nil && len(b.segs) == 0 {
				started = time.Now()
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
			if r.cfg.Progress != nil && n&0xffff == 0 {
				st := r.src.Stats()
				r.cfg.Progress(Progress{Packets: st.Packets, Bytes: st.Bytes, Open: int(open.Load())})
			}
			if r.live != nil && time.Since(started) >= liveBatchAge {
				send()
			}
		}
		full <- b
	}()
	for b := range full {
		for i := range b.segs {
			r.add(&b.segs[i])
			b.segs[i].Payload = nil
		}
		if !b.tick.IsZero() {
			r.tab.Tick(b.tick)
		}
		open.Store(int64(r.tab.Open()))
		if r.live != nil {
			r.publishTable()
		}
		if r.afterBatch != nil {
			r.afterBatch()
		}
		for i, blk := range b.blocks {
			blk.Release()
			b.blocks[i] = nil
		}
		b.segs, b.data, b.blocks, b.tick = b.segs[:0], b.data[:0], b.blocks[:0], time.Time{}
		free <- b
	}
	return rerr
}

// publishSource records the source's counters for Live.Frame (reader).
func (r *reader) publishSource() {
	st, ls := r.src.Stats().Clone(), r.live.LiveStats()
	r.mu.Lock()
	r.snap.Source, r.snap.Live, r.snap.Clock = st, ls, r.clock
	r.mu.Unlock()
}

// publishTable records the table's counters for Live.Frame (analyser).
func (r *reader) publishTable() {
	ts, open := r.tab.Stats(), r.tab.Open()
	r.mu.Lock()
	r.snap.Table, r.snap.Open = ts, open
	r.mu.Unlock()
}

// snapshot returns the state published last.
func (r *reader) snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snap
}
