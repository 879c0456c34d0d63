package summary

import (
	"math"
	"sort"
	"time"
)

// series counts intervals over time ("connections open", "idle", "in
// TIME_WAIT") for a step chart, in bounded memory: the intervals
// themselves while there are few (exactly the steps), then counts of
// starts and ends in a grid of buckets whose width doubles as the time
// they span grows, from which the most intervals open in each bucket is
// read.
type series struct {
	exact    []ival
	bucketed bool
	base     int64 // Unix ns of bucket 0
	width    int64 // ns
	starts   []int32
	ends     []int32 // ends[i]: intervals that ended in bucket i
	openEnd  []int32 // openEnd[i]: intervals that started in bucket i and had not ended
}

// ival is an interval in Unix nanoseconds; to == openTo: still open at the
// end of the capture.
type ival struct{ from, to int64 }

const (
	openTo         = math.MaxInt64
	seriesExact    = 1500 // intervals kept as they are (3,000 steps at most)
	seriesBuckets  = 8192 // grid buckets at most
	seriesMinWidth = int64(time.Microsecond)
)

// add counts the interval from..to; a zero to means still open when the
// capture ended.
func (s *series) add(from, to time.Time) {
	iv := ival{from.UnixNano(), openTo}
	if !to.IsZero() {
		iv.to = to.UnixNano()
		if iv.to < iv.from {
			return
		}
	}
	if !s.bucketed {
		s.exact = append(s.exact, iv)
		if len(s.exact) > seriesExact {
			s.toGrid()
		}
		return
	}
	s.addGrid(iv)
}

func (s *series) toGrid() {
	s.bucketed = true
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, iv := range s.exact {
		lo = min(lo, iv.from)
		hi = max(hi, iv.from)
		if iv.to != openTo {
			hi = max(hi, iv.to)
		}
	}
	s.width = seriesMinWidth
	for (hi-lo)/s.width >= seriesBuckets {
		s.width *= 2
	}
	s.base = lo - lo%s.width
	n := int((hi-s.base)/s.width) + 1
	s.starts, s.ends, s.openEnd = make([]int32, n), make([]int32, n), make([]int32, n)
	for _, iv := range s.exact {
		s.addGrid(iv)
	}
	s.exact = nil
}

// index is the bucket of t, growing the grid to hold it.
func (s *series) index(t int64) int {
	for t < s.base || t >= s.base+int64(seriesBuckets)*s.width {
		s.grow(t)
	}
	i := int((t - s.base) / s.width)
	for i >= len(s.starts) {
		s.starts, s.ends, s.openEnd = append(s.starts, 0), append(s.ends, 0), append(s.openEnd, 0)
	}
	return i
}

// grow widens the grid until t fits: its base moves back to a bucket
// boundary at or before t, and its width doubles while the span is more
// than seriesBuckets buckets. Old buckets lie whole in new ones (the new
// boundaries are old ones), so the counts move exactly.
func (s *series) grow(t int64) {
	width := s.width
	for {
		lo := s.base
		if t < lo {
			lo -= (lo - t + width - 1) / width * width
		}
		hi := max(s.base+int64(len(s.starts))*s.width, t+1)
		if (hi-lo+width-1)/width <= seriesBuckets {
			s.rebase(lo, width)
			return
		}
		width *= 2
	}
}

// rebase moves the counts to a grid starting at base with width (a
// multiple of the current width, base on the current grid).
func (s *series) rebase(base, width int64) {
	n := len(s.starts)
	starts, ends, openEnd := make([]int32, 0, n), make([]int32, 0, n), make([]int32, 0, n)
	put := func(dst *[]int32, i int, v int32) {
		for len(*dst) <= i {
			*dst = append(*dst, 0)
		}
		(*dst)[i] += v
	}
	for i := 0; i < n; i++ {
		t := s.base + int64(i)*s.width
		j := int((t - base) / width)
		put(&starts, j, s.starts[i])
		put(&ends, j, s.ends[i])
		put(&openEnd, j, s.openEnd[i])
	}
	for len(ends) < len(starts) {
		ends = append(ends, 0)
	}
	for len(openEnd) < len(starts) {
		openEnd = append(openEnd, 0)
	}
	s.base, s.width, s.starts, s.ends, s.openEnd = base, width, starts, ends, openEnd
}

func (s *series) addGrid(iv ival) {
	i := s.index(iv.from)
	if iv.to == openTo {
		s.starts[i]++
		s.openEnd[i]++
		return
	}
	j := s.index(iv.to)
	i = s.index(iv.from) // the grid may have moved
	s.starts[i]++
	s.ends[j]++
}

// Point is a step of a series: Value from At (ms after the origin) on.
type Point struct {
	At    float64
	Value int
}

// points returns the series as steps from 0 to xmax (ms after origin),
// open intervals running to end: the exact steps while few intervals were
// added (bucketed false), else the most open at once in each of up to
// outBuckets buckets.
func (s *series) points(origin time.Time, end, xmax float64, outBuckets int) (pts []Point, bucketed bool) {
	ms := func(ns int64) float64 {
		v := math.Round(float64(ns-origin.UnixNano())/1e3) / 1e3
		if v == 0 {
			return 0
		}
		return v
	}
	if !s.bucketed {
		type ev struct {
			t float64
			d int
		}
		evs := make([]ev, 0, 2*len(s.exact))
		for _, iv := range s.exact {
			to := end
			if iv.to != openTo {
				to = ms(iv.to)
			}
			from := ms(iv.from)
			if to < from {
				continue
			}
			evs = append(evs, ev{from, 1}, ev{to, -1})
		}
		sort.Slice(evs, func(a, b int) bool {
			if evs[a].t != evs[b].t {
				return evs[a].t < evs[b].t
			}
			return evs[a].d < evs[b].d
		})
		raw := []Point{{0, 0}}
		v := 0
		for i := 0; i < len(evs); {
			t := evs[i].t
			for i < len(evs) && evs[i].t == t {
				v += evs[i].d
				i++
			}
			if raw[len(raw)-1].At == t {
				raw[len(raw)-1].Value = v
			} else {
				raw = append(raw, Point{t, v})
			}
		}
		if xmax > raw[len(raw)-1].At {
			raw = append(raw, Point{xmax, v})
		}
		if len(raw) <= 2*seriesExact+1 {
			return raw, false
		}
		// Too many steps to draw each: the peak per bucket.
		return peakBuckets(raw, xmax, outBuckets), true
	}
	// The grid: open counts per bucket (intervals overlapping it), then
	// the peak per output bucket.
	n := len(s.starts)
	overlap := make([]int, n)
	open := 0
	for i := 0; i < n; i++ {
		open += int(s.starts[i])
		overlap[i] = open
		open -= int(s.ends[i])
	}
	width := xmax / float64(outBuckets)
	peaks := make([]int, outBuckets)
	if width > 0 {
		for i := 0; i < n; i++ {
			if overlap[i] == 0 {
				continue
			}
			// The output buckets grid bucket i touches.
			a, z := ms(s.base+int64(i)*s.width), ms(s.base+int64(i+1)*s.width)
			lo, hi := int(a/width), int(z/width)
			if z == float64(hi)*width {
				hi-- // ends on a boundary: not in the next bucket
			}
			for b := max(lo, 0); b <= min(hi, outBuckets-1); b++ {
				peaks[b] = max(peaks[b], overlap[i])
			}
		}
	}
	pts = make([]Point, 0, outBuckets+1)
	last := 0
	for b := 0; b < outBuckets; b++ {
		lo := float64(b) * width
		pts = append(pts, Point{math.Round(lo*1000) / 1000, peaks[b]})
		last = peaks[b]
	}
	pts = append(pts, Point{xmax, last})
	return pts, true
}

// peakBuckets keeps the peak of raw steps per bucket.
func peakBuckets(raw []Point, xmax float64, outBuckets int) []Point {
	width := xmax / float64(outBuckets)
	pts := make([]Point, 0, outBuckets+1)
	j, cur := 0, 0
	for b := 0; b < outBuckets; b++ {
		lo, hi := float64(b)*width, float64(b+1)*width
		peak := cur
		for j < len(raw) && raw[j].At < hi {
			cur = raw[j].Value
			peak = max(peak, cur)
			j++
		}
		pts = append(pts, Point{math.Round(lo*1000) / 1000, peak})
	}
	return append(pts, Point{xmax, cur})
}
