//go:build linux

package main

import (
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"unsafe"
)

// hugeHeapBytes is how much of the heap's growth preferHugePages marks: more
// than the analysis of any capture needs at once (its peak RSS stays under
// 100 MB), and only address space until the heap grows into it.
const hugeHeapBytes = 128 << 20

const (
	hugePageSize = 2 << 20
	madvHugepage = 14 // MADV_HUGEPAGE
)

var heapOnce sync.Once

// prepareHeap readies the heap for a long analysis, once per process.
func prepareHeap() { heapOnce.Do(func() { preferHugePages(hugeHeapBytes) }) }

// preferHugePages asks the kernel to back the heap the analysis grows into
// with transparent huge pages (madvise MADV_HUGEPAGE), which the kernel
// only gives a process that asks when its THP policy is "madvise", the
// default of Debian and others.
//
// Why: in the VM httplife is measured on, the first touch of a 4 KiB page
// costs about 16 µs. The analysis of a 1 GB capture touched about 20,000
// of them, 0.3 s of its 1.1 s of CPU; in 2 MiB pages it faults about 3,000
// times.
//
// How: the Go runtime maps heap memory as the heap grows and has no setting
// for huge pages (it stopped asking for them in Go 1.21.1). So one large
// allocation maps the heap's next size bytes without touching them, they
// are marked, and a collection frees the allocation at once: the heap then
// grows into the marked range. GODEBUG=disablethp=1, the runtime's own
// switch against huge pages, turns this off.
func preferHugePages(size int) {
	if strings.Contains(os.Getenv("GODEBUG"), "disablethp=1") {
		return
	}
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil ||
		!strings.Contains(string(b), "[madvise]") {
		return // no THP, or the kernel already decides alone
	}
	b := make([]byte, size) // fresh memory: mapped, not touched (nor zeroed)
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	beg := (p + hugePageSize - 1) &^ (hugePageSize - 1)
	end := (p + uintptr(size)) &^ (hugePageSize - 1)
	if end > beg {
		_ = syscall.Madvise(b[beg-p:end-p], madvHugepage) // advice only: an error leaves 4 KiB pages
	}
	runtime.KeepAlive(b)
	b = nil
	runtime.GC()
}
