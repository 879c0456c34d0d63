package render_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/httplife/httplife/render"
)

// slowSeconds is the definition of a Seconds in JSON: rounded to the
// nanosecond by a decimal round trip, then the shortest 'f' form.
func slowSeconds(f float64) string {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 9, 64), 64)
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// slowTime is the definition of a Time in JSON.
func slowTime(t time.Time) string {
	if t.IsZero() {
		return "null"
	}
	return `"` + t.UTC().Format(render.TimeFormat) + `"`
}

// checkSeconds compares AppendSeconds and Seconds.MarshalJSON with the
// definition for f.
func checkSeconds(t *testing.T, name string, f float64) {
	t.Helper()
	want := slowSeconds(f)
	if got := string(render.AppendSeconds([]byte("x"), render.Seconds(f))); got != "x"+want {
		t.Fatalf("%s: AppendSeconds(%v, bits %#x) = %q, want %q", name, f, math.Float64bits(f), got[1:], want)
	}
	got, err := render.Seconds(f).MarshalJSON()
	if err != nil || string(got) != want {
		t.Fatalf("%s: Seconds(%v).MarshalJSON() = %q, %v, want %q", name, f, got, err, want)
	}
}

// checkTime compares AppendTime and Time.MarshalJSON with the definition
// for tm.
func checkTime(t *testing.T, name string, tm time.Time) {
	t.Helper()
	want := slowTime(tm)
	if got := string(render.AppendTime([]byte("x"), tm)); got != "x"+want {
		t.Fatalf("%s: AppendTime(%v; unix %d ns %d) = %s, want %s", name, tm, tm.Unix(), tm.Nanosecond(), got[1:], want)
	}
	got, err := render.At(tm).MarshalJSON()
	if err != nil || string(got) != want {
		t.Fatalf("%s: Time(%v).MarshalJSON() = %s, %v, want %s", name, tm, got, err, want)
	}
}

// secondsEdges are values AppendSeconds must get right, each with a name.
var secondsEdges = []struct {
	name string
	f    float64
}{
	{"zero", 0},
	{"negative zero", math.Copysign(0, -1)},
	{"tiny", 1e-10},
	{"tiny negative", -1e-10},
	{"half ns", 5e-10},
	{"half ns negative", -5e-10},
	{"just under half ns", math.Nextafter(5e-10, 0)},
	{"just over half ns", math.Nextafter(5e-10, 1)},
	{"exact binary tie 2^-10", 0.0009765625},
	{"exact binary tie 2^-10 negative", -0.0009765625},
	{"exact binary tie 3*2^-10", 0.0029296875},
	{"one ns", 1e-9},
	{"one", 1},
	{"minus one", -1},
	{"a half", 0.5},
	{"nine digits", 123.456789012},
	{"nine digits negative", -123.456789012},
	{"all nines", 0.999999999},
	{"rounds up to one", 0.9999999996},
	{"rounds up to two", 1.9999999999},
	{"ten digits", 0.1234567895},
	{"just under 1e6", math.Nextafter(1e6, 0)},
	{"1e6", 1e6},
	{"1e6 and a ns", 1e6 + 1e-9},
	{"1e9", 1e9},
	{"1e15", 1e15},
	{"1e21", 1e21},
	{"1e300", 1e300},
	{"max float", math.MaxFloat64},
	{"min float", -math.MaxFloat64},
	{"smallest subnormal", math.SmallestNonzeroFloat64},
	{"smallest subnormal negative", -math.SmallestNonzeroFloat64},
	{"2^53 ns", float64(1<<53) / 1e9},
	{"a day", 86400},
	{"a year", 365 * 86400},
	{"60 s", 60},
	{"Secs(1.5 ms)", float64(render.Secs(1500 * time.Microsecond))},
	{"Secs(max duration)", float64(render.Secs(time.Duration(math.MaxInt64)))},
	{"Secs(min duration)", float64(render.Secs(time.Duration(math.MinInt64)))},
	{"+Inf", math.Inf(1)},
	{"-Inf", math.Inf(-1)},
	{"NaN", math.NaN()},
}

func TestAppendSecondsEdges(t *testing.T) {
	for _, tc := range secondsEdges {
		checkSeconds(t, tc.name, tc.f)
	}
}

// Random values of every kind the fast path sees or borders on.
func TestAppendSecondsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 200000
	if testing.Short() {
		n = 20000
	}
	sign := func(f float64) float64 {
		if r.IntN(2) == 0 {
			return -f
		}
		return f
	}
	kinds := []struct {
		name string
		gen  func() float64
	}{
		// What the analysis makes: durations, mostly short.
		{"duration µs", func() float64 { return float64(render.Secs(time.Duration(r.Int64N(1e6)))) }},
		{"duration s", func() float64 { return float64(render.Secs(time.Duration(r.Int64N(1e11)))) }},
		{"duration days", func() float64 { return float64(render.Secs(time.Duration(r.Int64N(1e15)))) }},
		{"duration any", func() float64 { return sign(float64(render.Secs(time.Duration(r.Int64())))) }},
		// Decimal nanoseconds, as printed and parsed.
		{"decimal ns", func() float64 {
			f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(r.Int64N(1e15))/1e9, 'f', 9, 64), 64)
			return sign(f)
		}},
		// Within a few ulps of a half nanosecond, both sides.
		{"near half", func() float64 {
			f := (float64(r.Int64N(1e12)) + 0.5) / 1e9
			for k := r.IntN(4); k > 0; k-- {
				f = math.Nextafter(f, math.Inf(2*r.IntN(2)-1))
			}
			return sign(f)
		}},
		{"uniform below 1e6", func() float64 { return sign(r.Float64() * 1e6) }},
		{"uniform below 1e-6", func() float64 { return sign(r.Float64() * 1e-6) }},
		{"log-uniform", func() float64 { return sign(math.Pow(10, r.Float64()*40-20)) }},
		{"any bits", func() float64 { return math.Float64frombits(r.Uint64()) }},
	}
	for _, k := range kinds {
		for range n / len(kinds) {
			checkSeconds(t, k.name, k.gen())
		}
	}
}

func FuzzAppendSeconds(f *testing.F) {
	for _, tc := range secondsEdges {
		f.Add(tc.f)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		checkSeconds(t, "fuzz", v)
	})
}

// timeEdges are instants AppendTime must get right, each with a name.
var timeEdges = []struct {
	name string
	t    time.Time
}{
	{"zero", time.Time{}},
	{"zero in a zone", time.Time{}.In(time.FixedZone("X", 3600))},
	{"unix epoch", time.Unix(0, 0)},
	{"before the epoch", time.Unix(-1, 999999999)},
	{"capture", time.Date(2026, 12, 2, 3, 4, 43, 313115000, time.UTC)},
	{"a zone east", time.Date(2026, 1, 1, 0, 30, 0, 1, time.FixedZone("E", 5*3600+1800))},
	{"a zone west", time.Date(2025, 12, 31, 22, 0, 0, 5, time.FixedZone("W", -7*3600))},
	{"local clock", time.Now()},
	{"year 1 plus 1 ns", time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)},
	{"year 1 end", time.Date(1, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	{"year 0", time.Date(0, 6, 15, 12, 0, 0, 0, time.UTC)},
	{"just before year 1", time.Date(0, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	{"year -1", time.Date(-1, 3, 1, 0, 0, 0, 0, time.UTC)},
	{"year -10000", time.Date(-10000, 3, 1, 0, 0, 0, 0, time.UTC)},
	{"year 999", time.Date(999, 12, 31, 23, 59, 59, 0, time.UTC)},
	{"year 1000", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)},
	{"year 9999 end", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	{"year 292277026596", time.Unix(math.MaxInt64-62135596800, 0)},
	{"leap day 2000", time.Date(2000, 2, 29, 23, 59, 59, 0, time.UTC)},
	{"march 2000", time.Date(2000, 3, 1, 0, 0, 0, 0, time.UTC)},
	{"no leap day 1900", time.Date(1900, 2, 28, 12, 0, 0, 0, time.UTC)},
	{"march 1900", time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC)},
	{"no leap day 2100", time.Date(2100, 2, 28, 23, 59, 59, 0, time.UTC)},
	{"leap day 1600", time.Date(1600, 2, 29, 0, 0, 0, 0, time.UTC)},
	{"leap day 4", time.Date(4, 2, 29, 0, 0, 0, 0, time.UTC)},
	{"new year 2024", time.Date(2023, 12, 31, 23, 59, 59, 999999999, time.UTC)},
}

func TestAppendTimeEdges(t *testing.T) {
	for _, tc := range timeEdges {
		checkTime(t, tc.name, tc.t)
	}
}

func TestAppendTimeRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n := 200000
	if testing.Short() {
		n = 20000
	}
	const lo, hi = -62135596800 - 1e10, 253402300799 + 1e10 // years 0001..9999 and beyond
	for i := range n {
		var sec int64
		switch i % 4 {
		case 0: // anywhere in and around the fast range
			sec = lo + r.Int64N(hi-lo)
		case 1: // recent
			sec = 1.5e9 + r.Int64N(1e9)
		case 2: // at a day boundary in years 0001..9999, or a second off it
			sec = (r.Int64N(3652059)-719162)*86400 + r.Int64N(3) - 1
		default: // anything
			sec = r.Int64() >> r.IntN(64)
		}
		tm := time.Unix(sec, r.Int64N(1e9))
		if i%8 == 0 {
			tm = tm.In(time.FixedZone("Z", (r.IntN(49)-24)*1800))
		}
		checkTime(t, "random", tm)
	}
}

func FuzzAppendTime(f *testing.F) {
	for _, tc := range timeEdges {
		f.Add(tc.t.Unix(), int64(tc.t.Nanosecond()))
	}
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		checkTime(t, "fuzz", time.Unix(sec, nsec))
	})
}

// encoding/json goes through the methods; the values it writes are the
// definitions.
func TestMarshalThroughEncodingJSON(t *testing.T) {
	for _, tc := range secondsEdges {
		if math.IsInf(tc.f, 0) || math.IsNaN(tc.f) {
			if b, err := json.Marshal(render.Seconds(tc.f)); err == nil {
				t.Errorf("%s: json.Marshal(Seconds(%v)) = %s, want an error", tc.name, tc.f, b)
			}
			continue
		}
		b, err := json.Marshal(render.Seconds(tc.f))
		if want := slowSeconds(tc.f); err != nil || string(b) != want {
			t.Errorf("%s: json.Marshal(Seconds(%v)) = %s, %v, want %s", tc.name, tc.f, b, err, want)
		}
	}
	for _, tc := range timeEdges {
		b, err := json.Marshal(render.At(tc.t))
		if want := slowTime(tc.t); err != nil || string(b) != want {
			t.Errorf("%s: json.Marshal(At(%v)) = %s, %v, want %s", tc.name, tc.t, b, err, want)
		}
	}
}

// The values records hold format without allocating.
func TestAppendAllocs(t *testing.T) {
	b := make([]byte, 0, 64)
	tm := render.At(time.Date(2026, 12, 2, 3, 4, 43, 313115000, time.UTC))
	s := render.Secs(449 * time.Microsecond)
	if n := testing.AllocsPerRun(100, func() { b = render.AppendTime(b[:0], tm.Time) }); n != 0 {
		t.Errorf("AppendTime(%v): %v allocations, want 0", tm, n)
	}
	if n := testing.AllocsPerRun(100, func() { b = render.AppendSeconds(b[:0], s) }); n != 0 {
		t.Errorf("AppendSeconds(%v): %v allocations, want 0", float64(s), n)
	}
}

func BenchmarkAppendSeconds(b *testing.B) {
	buf := make([]byte, 0, 64)
	s := render.Secs(449 * time.Microsecond)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			buf = render.AppendSeconds(buf[:0], s)
		}
	})
	b.Run("definition", func(b *testing.B) {
		for b.Loop() {
			buf = append(buf[:0], slowSeconds(float64(s))...)
		}
	})
}

func BenchmarkAppendTime(b *testing.B) {
	buf := make([]byte, 0, 64)
	tm := time.Date(2026, 12, 2, 3, 4, 43, 313115000, time.UTC)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			buf = render.AppendTime(buf[:0], tm)
		}
	})
	b.Run("definition", func(b *testing.B) {
		for b.Loop() {
			buf = tm.UTC().AppendFormat(buf[:0], render.TimeFormat)
		}
	})
}

// Goroutines formatting times of different days share the date cache
// safely (run with -race).
func TestAppendTimeConcurrent(t *testing.T) {
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 2000 {
				tm := time.Date(2000+g, 1+time.Month(i%12), 1+i%28, 0, 0, i%60, i, time.UTC)
				want := slowTime(tm)
				if got := string(render.AppendTime(nil, tm)); got != want {
					t.Errorf("goroutine %d: AppendTime(%v) = %s, want %s", g, tm, got, want)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
