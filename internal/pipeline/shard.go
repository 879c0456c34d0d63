package pipeline

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/tcpstate"
)

// The sharded run: connections spread over N analysis workers, each with a
// connection table and an HTTP analyser of its own (tcpstate Config.Shard),
// its records built and encoded there; a merger puts them back into the
// order a single table gives, byte for byte.
//
//	reader ──rounds──▶ shard 0 … shard N-1 ──results──▶ merger ──▶ summary, emit / Lines
//
// The reader decodes the capture in order and cuts it into rounds of
// segments; each round goes to every shard, each getting the segments of
// its connections (tcpstate.ShardOf: a hash of the endpoints), the
// capture's clock before each, and the round's sweep points: the packets
// at which a single table's Add would have swept (every
// tcpstate.SweepEvery of capture time, among the segments the port filter
// keeps). A shard runs its table over that, and for every connection it
// finishes builds the record (and with Lines encodes it) and notes when a
// single table would have finished it: at a sweep point (in the order the
// connections became finished, which is their finishing packet's), at a
// packet (a port reused by a new SYN, an eviction), or at the end (in
// first-packet order). It also lists the connections the round created,
// by first packet. The merger takes each round's results from every
// shard, numbers the new connections in first-packet order, and emits the
// round's records sorted by those points. The ids the shards gave (first
// packet numbers) are replaced by the merger's, in the records and, for
// Lines, at the start of each encoded line.
//
// What differs from a single table: the connection cap (MaxConns and the
// half-open cap) is split between the shards, so which connections a flood
// evicts differs; and with timestamps that go backwards, the connections
// finished out of time order may be reported in another order.

// shardRound is one shard's part of a round.
type shardRound struct {
	segs   []capture.Segment
	nows   []time.Time // the capture's clock before each segment
	data   []byte
	blocks []*capture.Block
	sweeps []sweepPoint // the round's, shared by every shard (read only)
	last   bool         // the input ended: flush after it
}

// sweepPoint is where a single table would have swept: before packet n,
// with the clock at now.
type sweepPoint struct {
	n   uint64
	now time.Time
}

// shardItem is a finished connection's record, with when a single table
// would have finished it: (n, phase, sub) in order.
type shardItem struct {
	n         uint64 // the packet (math.MaxUint64: the end)
	phase     uint8  // 0 at the sweep before n, 1 while adding n, 2 at the end
	sub       uint64 // phase 0: the finishing packet; 1: order within n; 2: first packet
	x         httpflow.Finished
	rec       *httpflow.Connection
	m         *httpflow.Memory
	slab, off int // where the encoded line starts in the result's slabs (Lines)
	size      int // and its length
	err       error
	res       *shardResult
}

// shardResult is what a shard made of one round, or of part of the last
// one: at the end, the records of the connections still open come in
// chunks (more: another chunk follows) so that they do not all wait in
// memory for the merger.
type shardResult struct {
	created []uint64 // first packets of the connections created, ascending
	items   []shardItem
	slabs   [][]byte // the encoded lines, one after the other (Lines)
	txs     int      // transactions in items
	more    bool
	shard   *shard
}

// flushChunkTxs is the transactions a chunk of the end's records holds.
const flushChunkTxs = 4096

type shard struct {
	tab     *tcpstate.Table
	enc     func([]byte, *httpflow.Connection) ([]byte, error)
	scratch []byte
	n       uint64
	phase   uint8
	sub     uint64
	res     *shardResult
	out     chan<- *shardResult
	mems    chan *httpflow.Memory // records' memory the merger gave back: of small records
	bigMems chan *httpflow.Memory // and of big ones
	free    chan *shardResult     // results the merger is done with
	open    atomic.Int64
}

// shardCount is how many shards a run uses: Config.Shards, else the
// HTTPLIFE_SHARDS environment variable (for measurements), else one per
// CPU but one from four CPUs on (0: no sharding).
func shardCount(cfg *Config) int {
	if cfg.Shards != 0 {
		return max(cfg.Shards, 0)
	}
	if n := envShards; n != 0 {
		return max(n, 0)
	}
	if p := runtime.GOMAXPROCS(0); p >= 4 {
		return p - 1
	}
	return 0
}

var envShards = func() int {
	n, _ := strconv.Atoi(os.Getenv("HTTPLIFE_SHARDS"))
	return n
}()

func (sh *shard) finish(x httpflow.Finished) {
	pool := sh.mems
	if x.Transactions() > smallRecord {
		pool = sh.bigMems
	}
	var m *httpflow.Memory
	select {
	case m = <-pool:
	default:
		m = new(httpflow.Memory)
	}
	if sh.phase == 2 && sh.res.txs >= flushChunkTxs {
		sh.res.more = true
		sh.out <- sh.res
		sh.res = sh.newResult()
	}
	it := shardItem{n: sh.n, phase: sh.phase, x: x, m: m, res: sh.res}
	it.rec = x.Record(m)
	switch sh.phase {
	case 0:
		it.sub = x.Conn().FinishedBy()
	case 1:
		it.sub = sh.sub
		sh.sub++
	default:
		it.sub = uint64(it.rec.ID)
	}
	if sh.enc != nil {
		// Encoded into the shard's own buffer (as large as its largest
		// record, once), then copied into the result's fixed-size slabs,
		// which go round: no memory is touched for the first time twice.
		sh.scratch, it.err = sh.enc(sh.scratch[:0], it.rec)
		it.slab, it.off, it.size = sh.res.put(sh.scratch)
	}
	sh.res.items = append(sh.res.items, it)
	sh.res.txs += len(it.rec.Transactions) + 1
}

// shardMemory is what a shard adds to the run's memory, about.
const shardMemory = 32 << 20

// slabSize is the size of the slabs encoded lines are copied into.
const slabSize = 256 << 10

// slabPool keeps slabs for reuse (not a sync.Pool: one that a garbage
// collection empties gives fresh memory, whose first touch costs more than
// the copy).
var slabPool = make(chan []byte, 64)

func getSlab() []byte {
	select {
	case b := <-slabPool:
		return b[:0]
	default:
		return make([]byte, 0, slabSize)
	}
}

func putSlab(b []byte) {
	select {
	case slabPool <- b:
	default:
	}
}

// put copies line into the result's slabs and says where it starts. A
// line starts with room for its id to be rewritten (renumber) in one
// slab.
func (r *shardResult) put(line []byte) (slab, off, size int) {
	if k := len(r.slabs); k == 0 || slabSize-len(r.slabs[k-1]) < 64 {
		r.slabs = append(r.slabs, getSlab())
	}
	slab, off, size = len(r.slabs)-1, len(r.slabs[len(r.slabs)-1]), len(line)
	for len(line) > 0 {
		k := len(r.slabs) - 1
		if len(r.slabs[k]) == slabSize {
			r.slabs = append(r.slabs, getSlab())
			k++
		}
		n := min(slabSize-len(r.slabs[k]), len(line))
		r.slabs[k] = append(r.slabs[k], line[:n]...)
		line = line[n:]
	}
	return slab, off, size
}

// write passes the line that starts at (slab, off) to w, in pieces, its
// id renumbered.
func (r *shardResult) write(slab, off, size, id int, buf []byte, w func([]byte, error)) []byte {
	first := true
	for size > 0 {
		b := r.slabs[slab][off:]
		n := min(len(b), size)
		if first {
			buf = renumber(buf[:0], b[:n], id)
			w(buf, nil)
			first = false
		} else {
			w(b[:n], nil)
		}
		size -= n
		slab, off = slab+1, 0
	}
	return buf
}

func (sh *shard) newResult() *shardResult {
	select {
	case res := <-sh.free:
		return res
	default:
		return &shardResult{shard: sh}
	}
}

// run analyses the rounds in order and hands each one's result on.
func (sh *shard) run(in <-chan *shardRound, free chan<- *shardRound, out chan<- *shardResult) {
	defer close(out)
	sh.out = out
	for rd := range in {
		res := sh.newResult()
		sh.res = res
		si := 0
		for i := range rd.segs {
			seg := &rd.segs[i]
			for ; si < len(rd.sweeps) && rd.sweeps[si].n <= seg.N; si++ {
				sh.n, sh.phase = rd.sweeps[si].n, 0
				sh.tab.Sweep(rd.sweeps[si].now)
			}
			sh.tab.Advance(rd.nows[i])
			before := sh.tab.Stats().Connections
			sh.n, sh.phase, sh.sub = seg.N, 1, 0
			sh.tab.Add(seg)
			if sh.tab.Stats().Connections != before {
				res.created = append(res.created, seg.N)
			}
			seg.Payload = nil
		}
		for ; si < len(rd.sweeps); si++ {
			sh.n, sh.phase = rd.sweeps[si].n, 0
			sh.tab.Sweep(rd.sweeps[si].now)
		}
		if rd.last {
			sh.n, sh.phase = math.MaxUint64, 2
			sh.tab.Flush()
		}
		sh.open.Store(int64(sh.tab.Open()))
		for i, blk := range rd.blocks {
			blk.Release()
			rd.blocks[i] = nil
		}
		last := rd.last
		rd.segs, rd.nows, rd.data, rd.blocks, rd.sweeps, rd.last = rd.segs[:0], rd.nows[:0], rd.data[:0], rd.blocks[:0], nil, false
		free <- rd
		out <- sh.res
		if last {
			return
		}
	}
}

// Rounds: about this many segments in all, or bytes of payload copied
// into a round (sources that reuse their buffer); a few rounds in flight.
// The records' memory a shard keeps for reuse, by the size of the record
// it served: many for small records (a round may hold hundreds), a few for
// big ones (each can hold thousands of transactions).
const (
	smallRecord  = 16 // transactions
	shardMems    = 1024
	shardBigMems = 16
)

const (
	roundSegs  = 4096
	roundBytes = 4 << 20
	roundQueue = 3
)

// sharded runs the capture over n shards. Each record goes, in order, to
// deliver (the summary's Add and emit), or with lines to lines.Write,
// encoded, and to summaryAdd.
func (r *reader) sharded(n int, hcfg httpflow.Config, deliver, summaryAdd func(*httpflow.Connection), lines *Lines) (tcpstate.Stats, error) {
	tcfg := r.cfg.TCP.WithDefaults()
	ports := tcfg.Ports
	tcfg.Ports, tcfg.Shard = nil, true // the reader filters, and sweeps for all
	if tcfg.MaxConns > 0 {
		tcfg.MaxConns = max(tcfg.MaxConns/n, 1)
		tcfg.MaxHalfOpen = max(tcfg.MaxHalfOpen/n, 1)
	}
	// Each shard holds a table, flows and records of its own, and the
	// rounds and results in flight: a soft memory limit (the CLI's) grows
	// by shardMemory a shard, or the collector would run without pause.
	if lim := debug.SetMemoryLimit(-1); lim > 0 && lim < math.MaxInt64/2 {
		debug.SetMemoryLimit(lim + int64(n)*shardMemory)
		defer debug.SetMemoryLimit(lim)
	}
	shards := make([]*shard, n)
	ins := make([]chan *shardRound, n)
	frees := make([]chan *shardRound, n)
	outs := make([]chan *shardResult, n)
	for i := range shards {
		sh := &shard{mems: make(chan *httpflow.Memory, shardMems), bigMems: make(chan *httpflow.Memory, shardBigMems),
			free: make(chan *shardResult, roundQueue+2)}
		if lines != nil {
			sh.enc = lines.NewEncoder()
		}
		an := httpflow.NewAnalyzer(hcfg, sh.finish)
		sh.tab = tcpstate.NewTable(tcfg, an.Factory())
		shards[i] = sh
		ins[i] = make(chan *shardRound, roundQueue)
		frees[i] = make(chan *shardRound, roundQueue+1)
		for range cap(frees[i]) {
			frees[i] <- &shardRound{}
		}
		outs[i] = make(chan *shardResult, roundQueue)
		go sh.run(ins[i], frees[i], outs[i])
	}

	// The reader: decode, cut into rounds, route.
	var rerr error
	var filtered uint64
	var back tcpstate.Stats // the backwards timestamps, counted here for every table
	var lastNs int64
	go func() {
		holder, _ := r.src.(capture.Holder)
		rounds := make([]*shardRound, n)
		for i := range rounds {
			rounds[i] = <-frees[i]
		}
		var sweeps []sweepPoint
		var now, sweepAt time.Time
		segs, copied := 0, 0
		var count uint64
		send := func(last bool) {
			for i, rd := range rounds {
				rd.sweeps, rd.last = sweeps, last
				ins[i] <- rd
				if !last {
					rounds[i] = <-frees[i]
				}
			}
			sweeps, segs, copied = nil, 0, 0
		}
		for {
			seg, err := r.src.Next()
			r.pullSecrets()
			if err != nil {
				rerr = err
				break
			}
			if ns := seg.Time.UnixNano(); seg.Time.After(now) {
				now = seg.Time
				lastNs = ns
			} else {
				if ns < lastNs { // as tcpstate.Table.Add counts them
					if back.Backwards == 0 {
						back.FirstBackwards = seg.N
					}
					back.Backwards++
					back.BackwardsMax = max(back.BackwardsMax, time.Duration(lastNs-ns))
				}
				lastNs = ns
			}
			if len(ports) > 0 && !ports[seg.Src.Port()] && !ports[seg.Dst.Port()] {
				filtered++
				continue
			}
			if !now.Before(sweepAt) {
				sweeps = append(sweeps, sweepPoint{seg.N, now})
				sweepAt = now.Add(tcpstate.SweepEvery)
			}
			rd := rounds[tcpstate.ShardOf(seg, n)]
			rd.segs = append(rd.segs, *seg)
			rd.nows = append(rd.nows, now)
			s := &rd.segs[len(rd.segs)-1]
			var blk *capture.Block
			if holder != nil && len(seg.Payload) > 0 {
				blk = holder.PayloadBlock()
			}
			switch {
			case blk != nil:
				if k := len(rd.blocks); k == 0 || rd.blocks[k-1] != blk {
					blk.Retain()
					rd.blocks = append(rd.blocks, blk)
				}
			case len(seg.Payload) > 0:
				if cap(rd.data) == 0 {
					rd.data = make([]byte, 0, roundBytes/n+4096)
				}
				if len(seg.Payload) <= cap(rd.data)-len(rd.data) {
					off := len(rd.data)
					rd.data = append(rd.data, seg.Payload...)
					s.Payload = rd.data[off:len(rd.data):len(rd.data)]
				} else {
					s.Payload = append([]byte(nil), seg.Payload...)
				}
				copied += len(seg.Payload)
			}
			segs++
			count++
			if r.cfg.Progress != nil && count&0xffff == 0 {
				st := r.src.Stats()
				open := 0
				for _, sh := range shards {
					open += int(sh.open.Load())
				}
				r.cfg.Progress(Progress{Packets: st.Packets, Bytes: st.Bytes, Open: open})
			}
			if segs >= roundSegs || copied >= roundBytes {
				send(false)
			}
		}
		send(true)
	}()

	r.merge(outs, deliver, summaryAdd, lines)
	var st tcpstate.Stats
	for _, sh := range shards {
		s := sh.tab.Stats()
		st.Connections += s.Connections
		st.Late += s.Late
		st.Evicted += s.Evicted
		st.Duplicates += s.Duplicates
		st.Held += s.Held
		st.HoldsExpired += s.HoldsExpired
		st.CutSegments += s.CutSegments
		st.CutBytes += s.CutBytes
		if s.FirstCut != 0 && (st.FirstCut == 0 || s.FirstCut < st.FirstCut) {
			st.FirstCut = s.FirstCut
		}
	}
	st.Filtered = filtered
	st.Backwards, st.BackwardsMax, st.FirstBackwards = back.Backwards, back.BackwardsMax, back.FirstBackwards
	return st, rerr
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// renumber appends line, an encoded record that starts {"id":N, with the
// id replaced by id.
func renumber(dst, line []byte, id int) []byte {
	const head = `{"id":`
	if len(line) < len(head) || string(line[:len(head)]) != head {
		return append(dst, line...) // an error's empty line
	}
	i := len(head)
	for i < len(line) && (line[i] >= '0' && line[i] <= '9' || line[i] == '-') {
		i++
	}
	dst = append(dst, head...)
	dst = strconv.AppendInt(dst, int64(id), 10)
	return append(dst, line[i:]...)
}

// merge takes the shards' results round by round and delivers the
// records in a single table's order.
func (r *reader) merge(outs []chan *shardResult, deliver, summaryAdd func(*httpflow.Connection), lines *Lines) {
	n := len(outs)
	ids := map[int]int{}
	nextID := 0
	var created []uint64
	var items []shardItem
	var lineBuf []byte
	put := func(it *shardItem) {
		first := it.rec.ID
		it.rec.ID = ids[first]
		delete(ids, first)
		if lines != nil {
			if it.err != nil {
				lines.Write(nil, it.err)
			} else {
				lineBuf = it.res.write(it.slab, it.off, it.size, it.rec.ID, lineBuf, lines.Write)
			}
			summaryAdd(it.rec)
		} else {
			deliver(it.rec)
		}
		big := len(it.rec.Transactions) > smallRecord
		it.x.Done(it.m)
		pool := it.res.shard.mems
		if big {
			pool = it.res.shard.bigMems
		}
		select {
		case pool <- it.m:
		default:
		}
	}
	recycle := func(res *shardResult) {
		clear(res.items) // the records' memory is the shard's again
		for i, b := range res.slabs {
			putSlab(b)
			res.slabs[i] = nil
		}
		res.created, res.items, res.slabs, res.txs, res.more = res.created[:0], res.items[:0], res.slabs[:0], 0, false
		select {
		case res.shard.free <- res:
		default:
		}
	}
	results := make([]*shardResult, n)
	next := make([]int, n) // each shard's next end-of-input item
	for {
		open := 0
		for i := range outs {
			res, ok := <-outs[i]
			results[i] = nil
			if ok {
				results[i] = res
				open++
			}
		}
		if open == 0 {
			return
		}
		// The round's new connections, numbered in first-packet order.
		created, items = created[:0], items[:0]
		for _, res := range results {
			if res != nil {
				created = append(created, res.created...)
			}
		}
		slices.Sort(created)
		for _, first := range created {
			nextID++
			ids[int(first)] = nextID
		}
		// The records finished while packets came, in a single table's
		// order; they are all in each shard's first chunk.
		for i, res := range results {
			next[i] = 0
			if res == nil {
				continue
			}
			for k := range res.items {
				if res.items[k].phase < 2 {
					items = append(items, res.items[k])
				}
			}
		}
		slices.SortStableFunc(items, func(a, b shardItem) int {
			switch {
			case a.n != b.n:
				return cmpU(a.n, b.n)
			case a.phase != b.phase:
				return int(a.phase) - int(b.phase)
			}
			return cmpU(a.sub, b.sub)
		})
		for i := range items {
			put(&items[i])
		}
		clear(items)
		// The records of the connections open at the end, in first-packet
		// order: a merge of the shards' chunks as they come.
		for {
			best := -1
			for i := range results {
				res := results[i]
				for res != nil {
					for next[i] < len(res.items) && res.items[next[i]].phase < 2 {
						next[i]++
					}
					if next[i] < len(res.items) || !res.more {
						break
					}
					recycle(res)
					res = <-outs[i]
					results[i], next[i] = res, 0
				}
				if res != nil && next[i] < len(res.items) && (best < 0 || res.items[next[i]].sub < results[best].items[next[best]].sub) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			put(&results[best].items[next[best]])
			next[best]++
		}
		for _, res := range results {
			if res != nil {
				recycle(res)
			}
		}
	}
}
