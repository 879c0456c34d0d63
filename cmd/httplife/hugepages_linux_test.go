//go:build linux

package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestPreferHugePages checks that the heap grows into memory marked for
// huge pages: after preferHugePages, a new large allocation lies in a
// mapping whose VmFlags include "hg" (MADV_HUGEPAGE).
func TestPreferHugePages(t *testing.T) {
	policy, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !strings.Contains(string(policy), "[madvise]") {
		t.Skipf("THP policy is not madvise (%q, %v)", policy, err)
	}
	t.Setenv("GODEBUG", "")
	preferHugePages(64 << 20)
	b := make([]byte, 16<<20)
	// The marked range starts at the first 2 MiB boundary: look past it.
	addr := uint64(uintptrOf(b)) + 8<<20
	b[8<<20] = 1
	flags, ok := vmFlags(t, addr)
	if !ok {
		t.Fatalf("no mapping in /proc/self/smaps holds %#x", addr)
	}
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Errorf("mapping holding the new allocation at %#x (8 MiB into a new allocation) has VmFlags %q, want hg among them", addr, flags)
	}
}

// vmFlags returns the VmFlags of the mapping of this process that holds addr.
func vmFlags(t *testing.T, addr uint64) (string, bool) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := strings.Cut(strings.Fields(line + " ")[0], "-"); ok && !strings.HasSuffix(line, ":") {
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = l <= addr && addr < h
				continue
			}
		}
		if in {
			if v, ok := strings.CutPrefix(line, "VmFlags:"); ok {
				return strings.TrimSpace(v), true
			}
		}
	}
	return "", false
}

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
