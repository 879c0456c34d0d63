package httpflow

import (
	"math"
	"reflect"
	"testing"
	"time"
	"unsafe"
)

// Every index maps to its own slot, chunk by chunk, and slots never move.
func TestTxStore(t *testing.T) {
	var s txStore
	var ptrs []*ctx
	for i := 0; i < 1000; i++ {
		ptrs = append(ptrs, s.add(ctx{reqSeq: uint64(i)}))
		k, off := chunkOf(i)
		if off < 0 || off >= chunkSize(k) {
			t.Fatalf("chunkOf(%d) = %d, %d: offset outside a chunk of %d", i, k, off, chunkSize(k))
		}
	}
	for i := 0; i < 1000; i++ {
		if got := s.at(i).reqSeq; got != uint64(i) {
			t.Fatalf("at(%d).reqSeq = %d, want %d", i, got, i)
		}
		if s.at(i) != ptrs[i] {
			t.Fatalf("transaction %d moved", i)
		}
	}
	if s.last() != ptrs[999] {
		t.Fatalf("last() is not the last transaction added")
	}
}

// The stored form has no pointers, so the garbage collector skips it.
func TestCtxHasNoPointers(t *testing.T) {
	if sz := unsafe.Sizeof(ctx{}); sz > 128 {
		t.Errorf("ctx is %d bytes, want at most 128", sz)
	}
	if hasPointers(ctx{}) {
		t.Errorf("ctx holds pointers: the collector would scan every stored transaction")
	}
}

// Strings are shared: common values by every flow, a repeated value by
// one entry of the flow's table, and each pointer once per string.
func TestStrTable(t *testing.T) {
	var st strTable
	get := st.refString("GET")
	if get == 0 || int(get) > len(common) || st.str(get) != "GET" || st.ptr(get) != commonPtr[get-1] {
		t.Fatalf("GET is not the common value: ref %d", get)
	}
	a := st.ref([]byte("/a"))
	b := st.ref([]byte("/b"))
	if a2 := st.ref([]byte("/a")); a2 != a {
		t.Errorf("ref(/a) again = %d, want %d (one of the last few values)", a2, a)
	}
	if st.str(a) != "/a" || st.str(b) != "/b" || st.str(0) != "" {
		t.Errorf("str: %q %q %q", st.str(a), st.str(b), st.str(0))
	}
	if st.ptr(0) != nil || st.ptr(a) == nil || *st.ptr(a) != "/a" || st.ptr(a) != st.ptr(a) {
		t.Errorf("ptr: not one shared pointer per string")
	}
}

// Offsets give back the exact times, and the zero time for noTime.
func TestClock(t *testing.T) {
	var c clock
	base := time.Unix(1700000000, 123456789).UTC()
	for _, d := range []time.Duration{0, 1, -1, time.Hour, -time.Hour, 100 * 365 * 24 * time.Hour} {
		tm := base.Add(d)
		if got := c.at(c.off(tm)); !got.Equal(tm) || got.Location() != tm.Location() {
			t.Errorf("at(off(%v)) = %v", tm, got)
		}
	}
	if !c.at(noTime).IsZero() {
		t.Errorf("at(noTime) is not zero")
	}
	if off := c.off(time.Unix(-1<<40, 0)); off == noTime {
		t.Errorf("a saturated offset equals noTime")
	}
}

// off is time.Time.Sub from the first time, saturating as Sub does, on
// both sides of its fast path's 2^32-second bound.
func TestClockOffIsSub(t *testing.T) {
	for _, base := range []time.Time{time.Unix(1700000000, 999999999), time.Unix(-5, 1), time.Unix(0, 0).UTC(), time.Unix(1<<35, 7)} {
		c := clock{}
		c.off(base)
		for _, ds := range []int64{0, 1, -1, 86400, 1<<32 - 1, 1 - 1<<32, 1 << 32, -1 << 32, 9223372036, -9223372036, 9223372037, -9223372037, 1 << 40, -1 << 40} {
			for _, ns := range []int64{0, 1, 999999999, -999999999} {
				tm := time.Unix(base.Unix()+ds, int64(base.Nanosecond())+ns)
				want := int64(tm.Sub(base))
				if want == noTime {
					want = noTime + 1
				}
				if got := c.off(tm); got != want {
					t.Errorf("base %v: off(%v) = %d, want %d (Sub)", base, tm, got, want)
				}
			}
		}
	}
}

// sub is Sub of the offsets' times, overflow and noTime included.
func TestClockSub(t *testing.T) {
	c := clock{}
	c.off(time.Unix(1700000000, 5))
	offs := []int64{noTime, noTime + 1, noTime + 2, -1 << 62, -1e9, -1, 0, 1, 1e9, 1 << 62, math.MaxInt64 - 1, math.MaxInt64}
	for _, a := range offs {
		for _, b := range offs {
			to, from := c.at(a), c.at(b)
			if got, want := c.sub(a, b, to, from), to.Sub(from); got != want {
				t.Errorf("sub(%d, %d) = %d, want %d (Sub)", a, b, got, want)
			}
		}
	}
}

func hasPointers(v any) bool {
	return reflectHasPointers(reflect.TypeOf(v))
}

func reflectHasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	case reflect.Array:
		return reflectHasPointers(t.Elem())
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if reflectHasPointers(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

func TestCommonRef(t *testing.T) {
	for i, s := range common {
		if got := commonRef(s); got != sref(i+1) {
			t.Errorf("commonRef(%q) = %d, want %d", s, got, i+1)
		}
	}
	for _, s := range []string{"", "get", "HTTP/2.0", "Keep-Alive", "/"} {
		if got := commonRef(s); got != 0 {
			t.Errorf("commonRef(%q) = %d, want 0", s, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { commonRef(string([]byte("keep-alive"))) }); n != 0 {
		t.Errorf("commonRef(string(b)) allocates %v times", n)
	}
}
