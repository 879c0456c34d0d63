package render

import (
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// Fast, allocation-free formatting of the two JSON scalars every record is
// full of. Both produce exactly the bytes of the straightforward
// formulation (time.Time.AppendFormat and the strconv round trip in
// roundNS) and fall back to it wherever the fast path is not proven equal.

// AppendTime appends t as Time.MarshalJSON writes it: a quoted RFC 3339 UTC
// timestamp with exactly nine fractional digits, or null when t is zero.
// It formats years 0001 through 9999 itself, writing in place, and leaves
// other years to time.Time.AppendFormat.
func AppendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	sec := t.Unix()
	if sec < minFastUnix || sec > maxFastUnix {
		b = append(b, '"')
		b = t.UTC().AppendFormat(b, TimeFormat)
		return append(b, '"')
	}
	const n = len(TimeFormat) + 2
	at := len(b)
	b = slices.Grow(b, n)[:at+n]
	putTimestamp(b[at:at+n], uint64(sec-minFastUnix), uint64(t.Nanosecond()))
	return b
}

// The range of Unix seconds AppendTime formats itself: years 0001 through
// 9999, which TimeFormat prints as exactly four digits.
const (
	minFastUnix = -62135596800 // 0001-01-01T00:00:00Z
	maxFastUnix = 253402300799 // 9999-12-31T23:59:59Z
)

// putTimestamp writes "2006-01-02T15:04:05.000000000Z", quoted, to b (32
// bytes) for the instant s seconds and ns nanoseconds after 0001-01-01
// (UTC), as t.UTC().AppendFormat(b, TimeFormat) would: the civil date
// from the day count, then fixed-width digits.
func putTimestamp(b []byte, s, ns uint64) {
	_ = b[31]
	days, sod := s/86400, s%86400
	y, m, d := date(days)
	b[0] = '"'
	put4(b[1:], y)
	b[5] = '-'
	put2(b[6:], m)
	b[8] = '-'
	put2(b[9:], d)
	b[11] = 'T'
	put2(b[12:], sod/3600)
	b[14] = ':'
	put2(b[15:], sod/60%60)
	b[17] = ':'
	put2(b[18:], sod%60)
	b[20] = '.'
	put3(b[21:], ns/1e6)
	put3(b[24:], ns/1e3%1e3)
	put3(b[27:], ns%1e3)
	b[30] = 'Z'
	b[31] = '"'
}

// lastDate caches the most recent date: the day count plus one in the
// high 32 bits, then year<<9 | month<<5 | day. A capture spans few days,
// so nearly every timestamp hits it. Goroutines may share it: each load
// sees one whole entry.
var lastDate atomic.Uint64

// date is civil through lastDate.
func date(days uint64) (year, month, day uint64) {
	if v := lastDate.Load(); v>>32 == days+1 {
		return v >> 9 & (1<<14 - 1), v >> 5 & 15, v & 31
	}
	year, month, day = civil(days)
	lastDate.Store((days+1)<<32 | year<<9 | month<<5 | day)
	return year, month, day
}

// civil converts a day count from 0001-01-01 (proleptic Gregorian, as the
// time package counts) to year, month and day. It is the era-based
// algorithm of H. Hinnant's "chrono-compatible low-level date algorithms",
// with eras starting on March 1 so that leap days fall at the end of a year.
func civil(days uint64) (year, month, day uint64) {
	// Shift to 0000-03-01, the start of an era.
	z := days + 306
	era := z / 146097
	doe := z - era*146097                                  // day of era, [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of era, [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // day of year from March 1, [0, 365]
	mp := (5*doy + 2) / 153                                // month from March, [0, 11]
	day = doy - (153*mp+2)/5 + 1
	year = yoe + era*400
	if mp < 10 {
		month = mp + 3
	} else {
		month = mp - 9
		year++
	}
	return year, month, day
}

// digitPairs holds "00" through "99".
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// put2, put3 and put4 write v (which must fit) as zero-padded decimal.
func put2(b []byte, v uint64) {
	_ = b[1]
	b[0], b[1] = digitPairs[2*v], digitPairs[2*v+1]
}

func put3(b []byte, v uint64) {
	b[0] = byte('0' + v/100)
	put2(b[1:], v%100)
}

func put4(b []byte, v uint64) {
	put2(b, v/100)
	put2(b[2:], v%100)
}

// AppendSeconds appends s as Seconds.MarshalJSON writes it: the value
// rounded to the nanosecond, in the shortest decimal that reads back as
// that float64. Infinities and NaN are appended as strconv writes them
// ("+Inf", "-Inf", "NaN"), which is not JSON; encoding/json refuses them.
//
// The fast path covers |f| < 1e6 and is exact:
//
//   - X = |f|*1e9 is below 1e15 < 2^50, and y = float64(X) is X correctly
//     rounded. Every k+0.5 (k an integer) below 2^52 is a float64, and
//     rounding is monotonic, so y lies on the same side of each such half
//     as X does, or on it. Hence, unless y's fraction is exactly 0.5,
//     rounding y to the nearest integer gives n, the nearest integer to X,
//     and X is not a tie: FormatFloat(f, 'f', 9) prints sign and n/1e9.
//   - n/1e9 has at most 15 significant digits (n <= 1e15), and a decimal of
//     at most 15 significant digits is the unique shortest decimal that
//     parses to its nearest float64. So ParseFloat and AppendFloat(-1)
//     print n/1e9 itself, trailing zeros trimmed.
//
// Exact halves, a zero with its sign bit set (printed "-0"), |f| >= 1e6,
// infinities and NaN take the strconv round trip.
func AppendSeconds(b []byte, s Seconds) []byte {
	f := float64(s)
	a := math.Abs(f)
	if !(a < 1e6) { // also NaN
		return appendSecondsSlow(b, f)
	}
	y := a * 1e9
	fl := math.Floor(y)
	r := y - fl // exact
	if r == 0.5 {
		return appendSecondsSlow(b, f)
	}
	n := uint64(fl)
	if r > 0.5 {
		n++
	}
	if math.Signbit(f) {
		if n == 0 {
			return appendSecondsSlow(b, f)
		}
		b = append(b, '-')
	}
	b = strconv.AppendUint(b, n/1e9, 10)
	frac := n % 1e9
	if frac == 0 {
		return b
	}
	var buf [10]byte
	buf[0] = '.'
	put3(buf[1:], frac/1e6)
	put3(buf[4:], frac/1e3%1e3)
	put3(buf[7:], frac%1e3)
	end := len(buf)
	for buf[end-1] == '0' {
		end--
	}
	return append(b, buf[:end]...)
}

// appendSecondsSlow is the definition AppendSeconds implements: round to
// the nanosecond by a decimal round trip, then print the shortest form.
func appendSecondsSlow(b []byte, f float64) []byte {
	return strconv.AppendFloat(b, roundNS(f), 'f', -1, 64)
}
