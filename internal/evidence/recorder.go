// Package evidence keeps the packets of troubled connections: watch
// --evidence.
//
// In: every segment the connection table took and each connection's end
// (Recorder is a pipeline.Tap: Segment and Done, on the analysing
// goroutine), then each finished connection's record (Record, on the
// goroutine that emits records) and the packet clock now and then (Tick).
// Out: for each connection whose record matches the triggers (a keep-alive
// race, a reset, an anomaly of the user's choice: Triggers), a pcap of its
// packets and a small HTML report beside it, in Config.Dir, named by the
// time of its last packet, its server and why
// (20260301T120000.123Z_192.0.2.1_80_race-stale-reuse_c42.pcap); past
// Config.PerMinute incidents in a minute of packet time, the minute's
// others share one pcap and one report (20260301T1200Z_minute.pcap).
//
// Bounded: per connection the first Config.Head packets and a ring of the
// latest Config.Ring, each with at most Config.Snap payload bytes; in all
// at most Config.MaxMemory bytes (past it, the connections quiet longest
// are let go) and Config.MaxFlows connections; on disk at most
// Config.MaxDisk bytes of evidence files (the oldest are deleted to make
// room). Writing happens on a goroutine of its own; when it falls behind,
// incidents are dropped, never the capture held up. A failed write (a full
// disk) stops evidence writing with a warning; the capture goes on.
//
// The pcaps hold the packets as decoded: raw IP (LINKTYPE_RAW), the
// segment's addresses, ports, sequence numbers, flags, window, TTL and IP
// id, its payload (cut at Snap), a 20-byte TCP header (options are not
// kept) and computed checksums; link layers, VLAN tags and tunnels are
// not in them (the report names them).
//
// The clock is the packet: file names and the per-minute grouping use
// packet times.
package evidence

import (
	"errors"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/tcpstate"
)

// Config says where evidence goes and bounds it.
type Config struct {
	Dir string
	On  Triggers
	// MaxDisk bounds the evidence files in Dir, bytes (0: DefaultMaxDisk).
	MaxDisk int64
	// MaxMemory bounds the packets held, bytes (0: DefaultMaxMemory).
	MaxMemory int64
	// MaxFlows bounds the connections followed (0: DefaultMaxFlows).
	MaxFlows int
	// Head and Ring: the first Head and the last Ring packets of a
	// connection are kept (0: DefaultHead, DefaultRing).
	Head, Ring int
	// Snap is the payload bytes kept of each packet (0: DefaultSnap).
	Snap int
	// PerMinute is how many incidents of a minute get files of their own;
	// the minute's others share one pcap and report (0: DefaultPerMinute).
	PerMinute int
	// Warn, when set, is given each warning (a failed write).
	Warn func(string)

	fs fileSystem // tests: nil is the operating system's
}

// The defaults of Config.
const (
	DefaultMaxDisk   = 100 << 20
	DefaultMaxMemory = 32 << 20
	DefaultMaxFlows  = 100000
	DefaultHead      = 4
	DefaultRing      = 60
	DefaultSnap      = 1024
	DefaultPerMinute = 10
)

// queueLen is the incidents waiting for the writer at most.
const queueLen = 256

// Stats counts what the recorder did.
type Stats struct {
	Incidents uint64 // records that matched the triggers
	Written   uint64 // incidents written
	Files     uint64 // files written (pcaps and reports)
	Deleted   uint64 // old files deleted to stay under MaxDisk
	// Dropped counts incidents not written: the writer was behind, the
	// connection's packets had been let go, they did not fit MaxDisk, or
	// writing had stopped.
	Dropped    uint64
	Evicted    uint64 // connections whose packets were let go for MaxMemory or MaxFlows
	Memory     int64  // bytes of packets held now
	PeakMemory int64
	DiskBytes  int64 // bytes of evidence files in Dir now
	Stopped    bool  // a write failed: no more evidence is written
}

type flowKey struct{ lo, hi netip.AddrPort }

func keyOf(a, b netip.AddrPort) flowKey {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return flowKey{a, b}
}

// Recorder keeps packets and writes incidents. See the package comment
// for which goroutine calls what.
type Recorder struct {
	cfg Config

	// The analysing goroutine's: the connections followed, in an LRU list.
	flows          map[flowKey]*flow
	oldest, newest *flow

	mem, peak atomic.Int64

	mu     sync.Mutex
	sealed map[int]*flow // ended connections awaiting their record, by id

	queue chan job
	done  chan struct{}
	w     *writer

	incidents, dropped, evicted atomic.Uint64
}

// job is an incident for the writer, or a tick of the packet clock.
type job struct {
	inc  *incident
	tick time.Time
}

// New creates Dir if need be, takes account of the evidence files already
// in it and starts the writer.
func New(cfg Config) (*Recorder, error) {
	if cfg.Dir == "" {
		return nil, errors.New("evidence: no directory")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxFlows, DefaultMaxFlows)
	def(&cfg.Head, DefaultHead)
	def(&cfg.Ring, DefaultRing)
	def(&cfg.Snap, DefaultSnap)
	def(&cfg.PerMinute, DefaultPerMinute)
	if cfg.MaxDisk <= 0 {
		cfg.MaxDisk = DefaultMaxDisk
	}
	if cfg.MaxMemory <= 0 {
		cfg.MaxMemory = DefaultMaxMemory
	}
	if cfg.On.reasons == nil {
		cfg.On, _ = ParseTriggers(DefaultTriggers)
	}
	if cfg.fs == nil {
		cfg.fs = osFS{}
	}
	w, err := newWriter(&cfg)
	if err != nil {
		return nil, err
	}
	r := &Recorder{cfg: cfg, flows: map[flowKey]*flow{}, sealed: map[int]*flow{},
		queue: make(chan job, queueLen), done: make(chan struct{}), w: w}
	go func() {
		defer close(r.done)
		for j := range r.queue {
			if j.inc != nil {
				r.w.incident(j.inc)
				r.release(j.inc.flow)
				j.inc.flow = nil
			} else {
				r.w.tick(j.tick)
			}
		}
		r.w.close()
	}()
	return r, nil
}

// Segment keeps a packet of its connection (pipeline.Tap).
func (r *Recorder) Segment(seg *capture.Segment) {
	k := keyOf(seg.Src, seg.Dst)
	f := r.flows[k]
	switch {
	case f == nil:
		if len(r.flows) >= r.cfg.MaxFlows {
			r.evict(r.oldest)
		}
		f = &flow{a: seg.Src, b: seg.Dst, bytes: flowOverhead}
		r.mem.Add(flowOverhead)
		r.flows[k] = f
		r.link(f)
	case f != r.newest:
		r.unlink(f)
		r.link(f)
	}
	m := r.mem.Add(int64(f.add(seg, &r.cfg)))
	if m > r.peak.Load() {
		r.peak.Store(m)
	}
	if m > r.cfg.MaxMemory {
		// Let go of the connections quiet longest, down to 7/8 of the cap.
		for r.mem.Load() > r.cfg.MaxMemory-r.cfg.MaxMemory/8 && r.oldest != nil && r.oldest != f {
			r.evict(r.oldest)
		}
	}
}

// Done seals the packets of a connection that ended (pipeline.Tap): they
// wait for its record.
func (r *Recorder) Done(c *tcpstate.Conn) {
	k := keyOf(c.Sides[0].Addr, c.Sides[1].Addr)
	f := r.flows[k]
	if f == nil {
		return
	}
	delete(r.flows, k)
	r.unlink(f)
	r.mu.Lock()
	if len(r.sealed) < r.cfg.MaxFlows {
		r.sealed[c.ID] = f
		f = nil
	}
	r.mu.Unlock()
	if f != nil {
		r.evicted.Add(1)
		r.release(f)
	}
}

// Record decides whether a finished connection is an incident and, if so,
// hands it to the writer; its packets are let go otherwise.
func (r *Recorder) Record(c *httpflow.Connection) {
	r.mu.Lock()
	f := r.sealed[c.ID]
	delete(r.sealed, c.ID)
	r.mu.Unlock()
	why, ok := r.cfg.On.Match(c)
	if !ok {
		if f != nil {
			r.release(f)
		}
		return
	}
	r.incidents.Add(1)
	if f == nil {
		r.dropped.Add(1) // its packets were let go (memory) or never seen
		return
	}
	inc := newIncident(c, why, f)
	select {
	case r.queue <- job{inc: inc}:
	default:
		r.dropped.Add(1)
		r.release(f)
	}
}

// Tick tells the writer the packet clock, so that a minute's shared file
// is finished once the minute is over.
func (r *Recorder) Tick(now time.Time) {
	select {
	case r.queue <- job{tick: now}:
	default:
	}
}

// Close writes what is queued, finishes the shared file and stops the
// writer. Call it once, after the last Record.
func (r *Recorder) Close() Stats {
	close(r.queue)
	<-r.done
	return r.Stats()
}

// Stats returns the counters (the writer's as of its last incident).
func (r *Recorder) Stats() Stats {
	ws := r.w.stats()
	return Stats{Incidents: r.incidents.Load(), Written: ws.written, Files: ws.files, Deleted: ws.deleted,
		Dropped: r.dropped.Load() + ws.dropped, Evicted: r.evicted.Load(),
		Memory: r.mem.Load(), PeakMemory: r.peak.Load(), DiskBytes: ws.bytes, Stopped: ws.stopped}
}

func (r *Recorder) release(f *flow) {
	if f != nil {
		r.mem.Add(-int64(f.bytes))
	}
}

func (r *Recorder) evict(f *flow) {
	if f == nil {
		return
	}
	delete(r.flows, keyOf(f.a, f.b))
	r.unlink(f)
	r.evicted.Add(1)
	r.release(f)
}

// link makes f the newest of the LRU list.
func (r *Recorder) link(f *flow) {
	f.prev, f.newr = r.newest, nil
	if r.newest != nil {
		r.newest.newr = f
	} else {
		r.oldest = f
	}
	r.newest = f
}

func (r *Recorder) unlink(f *flow) {
	if f.prev != nil {
		f.prev.newr = f.newr
	} else if r.oldest == f {
		r.oldest = f.newr
	}
	if f.newr != nil {
		f.newr.prev = f.prev
	} else if r.newest == f {
		r.newest = f.prev
	}
	f.prev, f.newr = nil, nil
}

// fileSystem is what the writer does to files (tests inject failures).
type fileSystem interface {
	MkdirAll(dir string) error
	ReadDir(dir string) ([]os.DirEntry, error)
	Create(name string) (writeFile, error)
	Remove(name string) error
	Rename(from, to string) error
}

type writeFile interface {
	Write(p []byte) (int, error)
	Close() error
}

type osFS struct{}

func (osFS) MkdirAll(dir string) error                 { return os.MkdirAll(dir, 0o755) }
func (osFS) ReadDir(dir string) ([]os.DirEntry, error) { return os.ReadDir(dir) }
func (osFS) Create(name string) (writeFile, error)     { return os.Create(name) }
func (osFS) Remove(name string) error                  { return os.Remove(name) }
func (osFS) Rename(from, to string) error              { return os.Rename(from, to) }
