package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Inputs names what the arguments of OpenInputs expand to.
//
// Each argument is "-" (standard input, alone), a directory (the capture
// files in it, not its subdirectories: files whose first bytes are a pcap,
// pcapng or compressed (gzip, zstd, LZ4) pcap/pcapng magic; the others are skipped), a
// glob the shell did not expand ("cap-*.pcap": every match), or a file.
// A file that is the first of a rotated set brings the rest of the set
// with it, unless noRotated:
//
//   - tcpdump -C (size): the file X (or X.gz) when X1 or X1.gz exists: X,
//     X1, X2, ... up to the first number missing, each plain or compressed
//     (tcpdump -z gzip, -z zstd, -z lz4: X1.gz, X1.zst, X1.lz4);
//   - tcpdump -G (time, strftime names such as cap-%H%M%S.pcap): the files
//     of the same directory whose names differ from X only in its runs of
//     two or more digits, when X comes first in name order, the digits
//     that differ read as a clock (hours, minutes, seconds: two digits
//     each, with minutes or seconds; or a 10-digit Unix time) agree with
//     the files' first packet times (the first file may be opened before
//     its first packet, each later one is named by the time its first
//     packet came, within a few seconds), and no file's first packet comes
//     before X's. Names of hours alone (cap-%H.pcap) are not recognised:
//     time zones make them agree with any time.
//
// Files are listed once each, in the order given, directories and globs
// in natural order (cap.pcap2 before cap.pcap10). Notes are lines for the
// warnings (a rotated set read, files skipped in a directory).
func Inputs(args []string, noRotated bool) (files, notes []string, err error) {
	seen := map[string]bool{}
	add := func(p string) {
		k := filepath.Clean(p)
		if p == "-" {
			k = p
		}
		if !seen[k] {
			seen[k] = true
			files = append(files, p)
		}
	}
	for _, a := range args {
		if a == "-" {
			add(a)
			continue
		}
		if a == "" {
			return nil, nil, openErr(a, nil, "no capture file given")
		}
		fi, serr := os.Stat(a)
		switch {
		case serr == nil && fi.IsDir():
			list, skipped, err := dirCaptures(a)
			if err != nil {
				return nil, nil, err
			}
			if len(list) == 0 {
				return nil, nil, openErr(a, ErrNotCapture, "no pcap or pcapng files in the directory")
			}
			if skipped > 0 {
				notes = append(notes, fmt.Sprintf("%s: %d files that are not pcap or pcapng captures skipped", a, skipped))
			}
			for _, p := range list {
				add(p)
			}
		case serr == nil:
			set := []string{a}
			if !noRotated {
				if s := rotatedSet(a); len(s) > 1 {
					set = s
					rest := filepath.Base(s[1])
					if len(s) > 2 {
						rest += " to " + filepath.Base(s[len(s)-1])
					}
					notes = append(notes, fmt.Sprintf("%s: read with the rest of its rotated set, %s (%d files); --no-rotated reads only the file named",
						a, rest, len(s)))
				}
			}
			for _, p := range set {
				add(p)
			}
		case hasMeta(a):
			m, gerr := filepath.Glob(a)
			if gerr != nil {
				return nil, nil, openErr(a, gerr, "bad pattern: %v", gerr)
			}
			sortNatural(m)
			n := 0
			for _, p := range m {
				fi, err := os.Stat(p)
				if err != nil {
					continue
				}
				if fi.IsDir() {
					list, _, err := dirCaptures(p)
					if err != nil {
						return nil, nil, err
					}
					for _, q := range list {
						add(q)
						n++
					}
					continue
				}
				add(p)
				n++
			}
			if n == 0 {
				return nil, nil, openErr(a, fs.ErrNotExist, "no file matches the pattern")
			}
		default:
			msg := serr.Error()
			var pe *fs.PathError
			if errors.As(serr, &pe) {
				msg = pe.Err.Error()
			}
			return nil, nil, &OpenError{Name: a, Msg: msg, Err: serr}
		}
	}
	if len(files) > 1 && seen["-"] {
		return nil, nil, openErr("-", nil, "standard input cannot be read with other files")
	}
	return files, notes, nil
}

// IsInput reports whether arg names input for Inputs: "-", an existing
// file or directory, or a glob with a match. The CLI takes the arguments
// after the first one that is not for the filter expression, as tcpdump
// does.
func IsInput(arg string) bool {
	if arg == "-" {
		return true
	}
	if _, err := os.Stat(arg); err == nil {
		return true
	}
	if !hasMeta(arg) {
		return false
	}
	m, _ := filepath.Glob(arg)
	return len(m) > 0
}

func hasMeta(p string) bool { return strings.ContainsAny(p, "*?[") }

// dirCaptures lists the capture files of a directory in natural order and
// counts the other regular files.
func dirCaptures(dir string) (list []string, skipped int, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, 0, &OpenError{Name: dir, Msg: msg, Err: err}
	}
	var names []string
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p) // follows links
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if isCaptureFile(p) {
			names = append(names, p)
		} else {
			skipped++
		}
	}
	sortNatural(names)
	return names, skipped, nil
}

// isCaptureFile reports whether a file starts with a pcap or pcapng magic,
// also inside gzip, zstd or LZ4.
func isCaptureFile(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var head [4]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return false
	}
	if c := compressionOf(head[:]); c != nil {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return false
		}
		zr, err := c.open(f)
		if err != nil {
			return false
		}
		defer zr.Close()
		if _, err := io.ReadFull(zr, head[:]); err != nil {
			return false
		}
	}
	switch binary.BigEndian.Uint32(head[:]) {
	case 0x0a0d0d0a, 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0xa1b2cd34, 0x34cdb2a1:
		return true
	}
	return false
}

// sortNatural sorts names with runs of digits compared as numbers.
func sortNatural(names []string) {
	slices.SortStableFunc(names, compareNatural)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// compareNatural compares a and b with runs of digits compared by value
// ("x2" < "x10"; equal values by length: "x02" after "x2").
func compareNatural(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if isDigit(a[i]) && isDigit(b[j]) {
			si, sj := i, j
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			x, y := strings.TrimLeft(a[si:i], "0"), strings.TrimLeft(b[sj:j], "0")
			if len(x) != len(y) {
				return len(x) - len(y)
			}
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
			if d := (i - si) - (j - sj); d != 0 {
				return d
			}
			continue
		}
		if a[i] != b[j] {
			return int(a[i]) - int(b[j])
		}
		i++
		j++
	}
	return (len(a) - i) - (len(b) - j)
}

// maxSetFiles bounds a rotated set.
const maxSetFiles = 100000

// rotatedSet returns the rotated set path is the first file of (see
// Inputs), or nil.
func rotatedSet(path string) []string {
	if s := sizeSet(path); s != nil {
		return s
	}
	return timeSet(path)
}

// packedExts are the names the compressors give their files.
var packedExts = []string{".gz", ".zst", ".lz4"}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// sizeSet is tcpdump -C's set: X, X1, X2, ... (each maybe compressed by
// -z gzip, -z zstd or -z lz4: X1.gz, X1.zst, X1.lz4).
func sizeSet(path string) []string {
	base := path
	for _, ext := range packedExts {
		base = strings.TrimSuffix(base, ext)
	}
	member := func(k int) string {
		p := fmt.Sprintf("%s%d", base, k)
		if isFile(p) {
			return p
		}
		for _, ext := range packedExts {
			if isFile(p + ext) {
				return p + ext
			}
		}
		return ""
	}
	if member(1) == "" {
		return nil
	}
	set := []string{path}
	for k := 1; k < maxSetFiles; k++ {
		m := member(k)
		if m == "" {
			break
		}
		set = append(set, m)
	}
	return set
}

// timeSet is tcpdump -G's set that path is the first of, or nil.
func timeSet(path string) []string {
	dir, base := filepath.Split(path)
	// The positions that may differ: runs of two or more digits.
	vary := make([]bool, len(base))
	any := false
	for i := 0; i < len(base); {
		if !isDigit(base[i]) {
			i++
			continue
		}
		j := i
		for j < len(base) && isDigit(base[j]) {
			j++
		}
		if j-i >= 2 {
			for k := i; k < j; k++ {
				vary[k] = true
			}
			any = true
		}
		i = j
	}
	if !any {
		return nil
	}
	d := dir
	if d == "" {
		d = "."
	}
	ents, err := os.ReadDir(d)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if len(n) != len(base) || !sameShape(base, n, vary) || !isFile(filepath.Join(dir, n)) {
			continue
		}
		names = append(names, n)
		if len(names) > maxSetFiles {
			return nil
		}
	}
	if len(names) < 2 {
		return nil
	}
	sortNatural(names)
	if names[0] != base {
		return nil
	}
	// The digits that differ, and the files' first packet times.
	type cand struct {
		name  string
		first time.Time
		ok    bool // has a packet
	}
	cands := make([]cand, len(names))
	for i, n := range names {
		cands[i].name = n
		cands[i].first, cands[i].ok = firstPacketTime(filepath.Join(dir, n))
	}
	differ := make([]bool, len(base))
	for _, n := range names[1:] {
		for k := range base {
			if n[k] != base[k] {
				differ[k] = true
			}
		}
	}
	// The runs of digits that differ somewhere.
	var runs [][2]int // [start, end) within base
	for i := 0; i < len(base); {
		if !vary[i] {
			i++
			continue
		}
		j := i
		for j < len(base) && vary[j] {
			j++
		}
		if slices.Contains(differ[i:j], true) {
			runs = append(runs, [2]int{i, j})
		}
		i = j
	}
	if len(runs) == 0 {
		return nil
	}
	var withTime []cand
	for _, c := range cands {
		if c.ok {
			withTime = append(withTime, c)
		}
	}
	if len(withTime) == 0 {
		return nil
	}
	slices.SortStableFunc(withTime, func(a, b cand) int { return a.first.Compare(b.first) })
	first := cands[0]
	if first.ok {
		for _, c := range withTime {
			if c.first.Before(first.first) {
				return nil
			}
		}
	}
	if !clockAgrees(base, runs, differ, withTime[0].name == base, func(i int) (string, time.Time) {
		return withTime[i].name, withTime[i].first
	}, len(withTime)) {
		return nil
	}
	set := make([]string, len(names))
	for i, n := range names {
		set[i] = filepath.Join(dir, n)
	}
	return set
}

// sameShape reports whether n equals base except at vary positions, where
// both have digits.
func sameShape(base, n string, vary []bool) bool {
	for k := 0; k < len(base); k++ {
		if vary[k] {
			if !isDigit(n[k]) {
				return false
			}
		} else if n[k] != base[k] {
			return false
		}
	}
	return true
}

// firstPacketTime reads the time of a file's first packet record.
func firstPacketTime(p string) (time.Time, bool) {
	src, err := openFile(p, probeSize)
	if err != nil {
		return time.Time{}, false
	}
	defer src.Close()
	_, ts, _, _, err := src.record()
	return ts, err == nil
}

// clockAgrees reports whether the differing digits of the n files' names
// (name(i), in order of their first packet times first(i)) read as a clock
// agree with those times. The clock: a 10-digit run as a Unix time, or the
// two-digit groups that differ (those of the last run that differs, and
// of runs just before it: up to three) as hours, minutes, seconds with the
// last group the seconds, the minutes or the hours. The first file may be
// named before its first packet (openedEarly: it is the file named): from
// it to the next the clock must advance at least the time between their
// first packets, less the slack; between the others it must advance that
// time, within the slack.
func clockAgrees(base string, runs [][2]int, differ []bool, openedEarly bool, at func(int) (string, time.Time), n int) bool {
	if n < 2 {
		return true // nothing to compare: the names alone
	}
	const slack = 5 // seconds: the time tcpdump may take to name a file after the packet came
	type hyp struct {
		value func(name string) (float64, bool)
		unit  float64 // seconds of the last unit
		wrap  float64 // the clock's period, 0 for none
		// abs is the period modulo which the clock reads as Unix time
		// whatever the time zone: 900 s for a clock of seconds or minutes
		// (zones are whole quarter hours apart) or its period if shorter, 0
		// for a Unix time (read
		// as is).
		abs float64
	}
	var hyps []hyp
	last := runs[len(runs)-1]
	if last[1]-last[0] == 10 {
		s, e := last[0], last[1]
		hyps = append(hyps, hyp{unit: 1, abs: 0, value: func(name string) (float64, bool) {
			var v float64
			for _, c := range name[s:e] {
				v = v*10 + float64(c-'0')
			}
			return v, true
		}})
	}
	// Two-digit groups from the end of each run, the last groups first.
	var groups []int // start offsets, last first
	for r := len(runs) - 1; r >= 0; r-- {
		s, e := runs[r][0], runs[r][1]
		for g := e - 2; g >= s; g -= 2 {
			groups = append(groups, g)
		}
		if (e-s)%2 != 0 {
			break // an odd digit left over: no clock groups further left
		}
	}
	// The groups that matter: from the last one that differs, leftwards,
	// while they differ or lie between ones that do; at most 3.
	firstDiff := -1
	for i, g := range groups {
		if differ[g] || differ[g+1] {
			firstDiff = i
			break
		}
	}
	if firstDiff < 0 {
		return false
	}
	lastDiff := firstDiff
	for i := firstDiff; i < len(groups); i++ {
		if differ[groups[i]] || differ[groups[i]+1] {
			lastDiff = i
		}
	}
	gs := groups[firstDiff : lastDiff+1]
	units := []float64{1, 60, 3600}
	radix := []float64{60, 60, 24}
	// A clock of hours alone (cap-%H.pcap) says nothing the time zone
	// does not blur: only clocks with minutes or seconds are tried.
	for u := 0; u+len(gs) <= len(units) && u < 2; u++ {
		wrap := 1.0
		for k := range gs {
			wrap *= radix[u+k]
		}
		hyps = append(hyps, hyp{unit: units[u], wrap: wrap * units[u], abs: min(wrap*units[u], 900), value: func(name string) (float64, bool) {
			v := 0.0
			for k, g := range gs {
				x := float64(name[g]-'0')*10 + float64(name[g+1]-'0')
				if x >= radix[u+k] {
					return 0, false
				}
				v += x * units[u+k]
			}
			return v, true
		}})
	}
	// named says whether the clock of name agrees with the time t of its
	// first packet: the name is the time that packet was written, cut to
	// the clock's unit.
	named := func(h hyp, v float64, t time.Time) bool {
		u := float64(t.UnixNano()) / 1e9
		d := v - u
		if h.abs > 0 {
			d = math.Mod(d, h.abs)
			if d < 0 {
				d += h.abs
			}
			if d > h.abs/2 {
				d -= h.abs
			}
		}
		return d > -h.unit && d <= slack
	}
	for _, h := range hyps {
		ok := true
		prevName, prevT := at(0)
		pv, good := h.value(prevName)
		if !good || !openedEarly && !named(h, pv, prevT) {
			continue
		}
		for i := 1; i < n && ok; i++ {
			name, t := at(i)
			v, good := h.value(name)
			if !good || !named(h, v, t) {
				ok = false
				break
			}
			dt := t.Sub(prevT).Seconds()
			dv := v - pv
			if h.wrap > 0 {
				// The clock advanced dv plus whole periods: the
				// number of them nearest to dt.
				dv = math.Mod(dv, h.wrap)
				if dv < 0 {
					dv += h.wrap
				}
				dv += math.Round((dt-dv)/h.wrap) * h.wrap
			}
			tol := slack + h.unit
			if i == 1 && openedEarly {
				ok = dv >= dt-tol
			} else {
				ok = math.Abs(dv-dt) <= tol
			}
			pv, prevT = v, t
		}
		if ok {
			return true
		}
	}
	return false
}
