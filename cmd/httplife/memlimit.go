package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// softMemoryLimit keeps the garbage collector's headroom small: the live
// heap follows the connections open at once, and without a limit the
// process would hold about twice that. It is soft (the GOMEMLIMIT
// environment variable overrides it): past it the collector only runs more
// often, so peak RSS stays flat however long the capture
// (docs/performance.md).
const softMemoryLimit = 64 << 20

// minHeadroom is the least room the collector keeps above the live heap.
// A fixed limit leaves none once the live heap itself nears it: the
// connections open at the end of a long capture of keep-alive pools hold
// every transaction they carried (64 TLS connections of 5,900 inferred
// exchanges each: a 57 MB live heap), and under 64 MiB the collector ran
// 47 times in 0.9 s, back to back. After each collection the limit is
// raised to the live heap plus minHeadroom, so such a run collects about
// as often as one whose live heap fits (8 times; 0.84 -> 0.55 s, peak RSS
// 96 -> 117 MB). 36 MiB rather than 32 lets the collector run less often
// on the bench's captures (live heap under 40 MB) while their peak RSS
// stays under 100 MB; 40 MiB reached 99 MB (docs/performance.md). It never
// comes down within a run.
const minHeadroom = 36 << 20

// limitMemory sets the soft memory limit and keeps minHeadroom above the
// live heap, unless GOMEMLIMIT chose the limit.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(softMemoryLimit)
	afterEachGC(keepHeadroom)
}

// gcTick is garbage made to learn when a collection ran: its finalizer
// runs after the cycle that found it unreachable. It holds a pointer so
// that it is not batched with other tiny objects.
type gcTick struct{ _ *byte }

// afterEachGC calls f on the finalizer goroutine after every collection.
func afterEachGC(f func()) {
	runtime.SetFinalizer(&gcTick{}, func(*gcTick) {
		f()
		afterEachGC(f)
	})
}

var liveHeap = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

// keepHeadroom raises the soft memory limit to the live heap plus
// minHeadroom when it is below that. Only the finalizer goroutine calls it.
func keepHeadroom() {
	metrics.Read(liveHeap)
	if liveHeap[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	want := int64(liveHeap[0].Value.Uint64()) + minHeadroom
	if lim := debug.SetMemoryLimit(-1); lim < want && lim < math.MaxInt64/2 {
		debug.SetMemoryLimit(want)
	}
}
