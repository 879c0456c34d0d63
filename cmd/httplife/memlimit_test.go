package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// A live heap past the soft limit raises the limit to leave the collector
// minHeadroom above it; one under the limit leaves the limit as it is.
func TestKeepHeadroom(t *testing.T) {
	old := debug.SetMemoryLimit(softMemoryLimit)
	defer debug.SetMemoryLimit(old)

	runtime.GC()
	keepHeadroom()
	if got := debug.SetMemoryLimit(-1); got != softMemoryLimit {
		t.Errorf("small live heap: limit %d, want %d unchanged", got, softMemoryLimit)
	}

	const big = 96 << 20
	live := make([]byte, big)
	runtime.GC()
	keepHeadroom()
	if got := debug.SetMemoryLimit(-1); got < big+minHeadroom {
		t.Errorf("live heap of %d bytes: limit %d, want at least %d", big, got, big+minHeadroom)
	}
	runtime.KeepAlive(live)
}

// afterEachGC's function runs after a collection, and again after the next.
func TestAfterEachGC(t *testing.T) {
	calls := make(chan struct{}, 16)
	afterEachGC(func() {
		select {
		case calls <- struct{}{}:
		default:
		}
	})
	for i := 1; i <= 2; i++ {
		runtime.GC()
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("collection %d: the function was not called", i)
		}
	}
}
