package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

const fieldDirRel = "../samples/field/"

// writeFile writes data to dir/name and returns the path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tcpAt is one Ethernet TCP packet at time ts.
func tcpAt(t testing.TB, ts time.Time) record {
	r := seedPackets(t)[0]
	r.ci.Timestamp = ts
	return r
}

// pcapAt is a pcap file of one TCP packet at each of the times.
func pcapAt(t testing.TB, times ...time.Time) []byte {
	var recs []record
	for _, ts := range times {
		recs = append(recs, tcpAt(t, ts))
	}
	if len(recs) == 0 {
		return writePcap(t, nil, pcapOpts{})
	}
	return writePcap(t, recs, pcapOpts{nanos: true})
}

func rel(dir string, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		if r, err := filepath.Rel(dir, p); err == nil {
			out[i] = r
		} else {
			out[i] = p
		}
	}
	return out
}

// Inputs expands directories, globs and rotated sets, in numeric order.
func TestInputs(t *testing.T) {
	dir := t.TempDir()
	hdr := pcapAt(t)
	// tcpdump -C: cap.pcap, cap.pcap1 ... cap.pcap10 (written out of order)
	for _, k := range []string{"10", "2", "", "1", "3", "4", "5", "6", "7", "8", "9"} {
		writeFile(t, dir, "cap.pcap"+k, hdr)
	}
	// tcpdump -C -z gzip: the last file not yet compressed
	writeFile(t, dir, "z.pcap.gz", gzipBytes(t, hdr))
	writeFile(t, dir, "z.pcap1.gz", gzipBytes(t, hdr))
	writeFile(t, dir, "z.pcap2", hdr)
	// tcpdump -C -z zstd (which keeps the original: the set is the .zst
	// files once given the first) and -z lz4
	writeFile(t, dir, "s.pcap.zst", zstdBytes(t, hdr))
	writeFile(t, dir, "s.pcap1.zst", zstdBytes(t, hdr))
	writeFile(t, dir, "s.pcap2.lz4", lz4Bytes(t, hdr))
	// a directory of captures and other files
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	writeFile(t, sub, "b-10.pcapng", writePcapng(t, nil))
	writeFile(t, sub, "b-9.pcap", hdr)
	writeFile(t, sub, "b-9.pcap.truth.json", []byte(`{"schema": 1}`))
	writeFile(t, sub, "README", []byte("not a capture"))
	writeFile(t, sub, "c.pcap.gz", gzipBytes(t, hdr))
	writeFile(t, sub, "e.pcap.zst", zstdBytes(t, hdr))
	writeFile(t, sub, "f.pcap.lz4", lz4Bytes(t, hdr))
	os.Mkdir(filepath.Join(sub, "deeper"), 0o755)
	writeFile(t, filepath.Join(sub, "deeper"), "d.pcap", hdr)
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)

	capSet := []string{"cap.pcap"}
	for k := 1; k <= 10; k++ {
		capSet = append(capSet, fmt.Sprintf("cap.pcap%d", k))
	}
	tests := []struct {
		name      string
		args      []string
		noRotated bool
		want      []string // relative to dir
		note      string   // a note containing this
		err       string
	}{
		{"rotated -C set in numeric order", []string{"cap.pcap"}, false, capSet, "rotated set, cap.pcap1 to cap.pcap10 (11 files)", ""},
		{"--no-rotated", []string{"cap.pcap"}, true, []string{"cap.pcap"}, "", ""},
		{"a later member alone", []string{"cap.pcap3"}, false, []string{"cap.pcap3"}, "", ""},
		{"gzip'd set", []string{"z.pcap.gz"}, false, []string{"z.pcap.gz", "z.pcap1.gz", "z.pcap2"}, "rotated set, z.pcap1.gz to z.pcap2 (3 files)", ""},
		{"zstd'd and lz4'd set", []string{"s.pcap.zst"}, false, []string{"s.pcap.zst", "s.pcap1.zst", "s.pcap2.lz4"}, "rotated set, s.pcap1.zst to s.pcap2.lz4 (3 files)", ""},
		{"directory: captures only, natural order, not recursive", []string{"sub"}, false,
			[]string{"sub/b-9.pcap", "sub/b-10.pcapng", "sub/c.pcap.gz", "sub/e.pcap.zst", "sub/f.pcap.lz4"}, "2 files that are not pcap or pcapng captures skipped", ""},
		{"glob in natural order", []string{"cap.pcap?*"}, false, capSet[1:], "", ""},
		{"glob matching a directory", []string{"su?"}, false, []string{"sub/b-9.pcap", "sub/b-10.pcapng", "sub/c.pcap.gz", "sub/e.pcap.zst", "sub/f.pcap.lz4"}, "", ""},
		{"explicit list keeps its order, duplicates once", []string{"z.pcap2", "cap.pcap5", "./z.pcap2"}, false, []string{"z.pcap2", "cap.pcap5"}, "", ""},
		{"standard input", []string{"-"}, false, []string{"-"}, "", ""},
		{"standard input with files", []string{"-", "z.pcap2"}, false, nil, "", "standard input cannot be read with other files"},
		{"missing file", []string{"nope.pcap"}, false, nil, "", "nope.pcap: no such file or directory"},
		{"glob without a match", []string{"nope-*.pcap"}, false, nil, "", "nope-*.pcap: no file matches the pattern"},
		{"empty directory", []string{"empty"}, false, nil, "", "empty: no pcap or pcapng files in the directory"},
	}
	t.Chdir(dir)
	for _, tc := range tests {
		files, notes, err := Inputs(tc.args, tc.noRotated)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrOpen) {
				t.Errorf("%s: Inputs(%q) = %q, %v; want an ErrOpen containing %q", tc.name, tc.args, files, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Inputs(%q): %v", tc.name, tc.args, err)
			continue
		}
		got := make([]string, len(files))
		for i, f := range files {
			got[i] = filepath.ToSlash(filepath.Clean(f))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: Inputs(%q) = %q, want %q", tc.name, tc.args, got, tc.want)
		}
		joined := strings.Join(notes, "\n")
		if tc.note != "" && !strings.Contains(joined, tc.note) || tc.note == "" && len(notes) > 0 {
			t.Errorf("%s: Inputs(%q) notes %q, want one containing %q", tc.name, tc.args, notes, tc.note)
		}
	}
}

// tcpdump -G sets are recognised by names that agree with the files'
// first packets, and only then.
func TestTimeSets(t *testing.T) {
	// The real set: rotated-G-02, -04, -06 (tcpdump -G 2 -w rotated-G-%S.pcap).
	files, _, err := Inputs([]string{fieldDirRel + "rotated-G-02.pcap"}, false)
	want := []string{fieldDirRel + "rotated-G-02.pcap", fieldDirRel + "rotated-G-04.pcap", fieldDirRel + "rotated-G-06.pcap"}
	if err != nil || !slices.Equal(rel(".", files), rel(".", want)) {
		t.Errorf("rotated-G-02.pcap: %q, %v; want %q", files, err, want)
	}
	// Other samples with digits in their names are no set.
	for _, name := range []string{"vxlan-4789.pcap", "erspan2.pcap", "snaplen-96.pcap", "rotated-G-04.pcap"} {
		files, notes, err := Inputs([]string{fieldDirRel + name}, false)
		if err != nil || len(files) != 1 || len(notes) != 0 {
			t.Errorf("%s: %q %q %v; want the file alone", name, files, notes, err)
		}
	}

	// Synthetic sets: 20:09:03 local to the capture is 20:09:03 UTC here;
	// the names carry the time their first packet came (the first file's:
	// when tcpdump started).
	base := time.Date(2026, 12, 4, 20, 9, 3, 554_000_000, time.UTC)
	at := func(d float64) time.Time { return base.Add(time.Duration(d * float64(time.Second))) }
	tests := []struct {
		name  string
		files map[string][]time.Time
		first string
		want  int // files in the set (0: none)
	}{
		{"seconds, wrapping at the minute", map[string][]time.Time{
			"s-58.pcap": {at(55.5), at(56.5)}, "s-00.pcap": {at(57.1), at(58.5)}, "s-02.pcap": {at(59.1)},
		}, "s-00.pcap", 0}, // s-00 is first by name but not by time: not the first of the set
		{"hours, minutes, seconds", map[string][]time.Time{
			"c-200902.pcap": {at(0), at(50)}, "c-201002.pcap": {at(59.2), at(100)}, "c-201102.pcap": {at(118.6)},
		}, "c-200902.pcap", 3},
		{"minutes", map[string][]time.Time{
			"m-2009.pcap": {at(0)}, "m-2019.pcap": {at(600 - 3 + 0.4)}, "m-2029.pcap": {at(1200 - 3 + 20)},
		}, "m-2009.pcap", 3},
		{"unix time", map[string][]time.Time{
			fmt.Sprintf("u-%d.pcap", base.Unix()-1): {at(0)}, fmt.Sprintf("u-%d.pcap", base.Unix()+9): {at(9.1)},
		}, fmt.Sprintf("u-%d.pcap", base.Unix()-1), 2},
		{"an empty first file", map[string][]time.Time{
			"e-02.pcap": nil, "e-04.pcap": {at(1.1)}, "e-06.pcap": {at(3.2)},
		}, "e-02.pcap", 3},
		{"names that disagree with the times", map[string][]time.Time{
			"test-01.pcap": {at(0), at(10)}, "test-02.pcap": {at(317), at(320)},
		}, "test-01.pcap", 0},
		{"port numbers", map[string][]time.Time{
			"port4242.pcap": {at(0)}, "port4243.pcap": {at(0.5)},
		}, "port4242.pcap", 0},
		{"no clock: 89 is no second or minute", map[string][]time.Time{
			"v-4789.pcap": {at(0)}, "v-8472.pcap": {at(5)},
		}, "v-4789.pcap", 0},
		{"hours alone are not enough", map[string][]time.Time{
			"h-20.pcap": {at(0)}, "h-21.pcap": {at(3000)},
		}, "h-20.pcap", 0},
		{"single digits never vary", map[string][]time.Time{
			"d1.pcap": {at(0)}, "d2.pcap": {at(1.1)},
		}, "d1.pcap", 0},
	}
	for _, tc := range tests {
		dir := t.TempDir()
		for name, times := range tc.files {
			writeFile(t, dir, name, pcapAt(t, times...))
		}
		files, _, err := Inputs([]string{filepath.Join(dir, tc.first)}, false)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got := len(files)
		if got == 1 {
			got = 0
		}
		if got != tc.want {
			t.Errorf("%s: %s expands to %q, want a set of %d", tc.name, tc.first, rel(dir, files), tc.want)
		}
	}
}

// readAll drains src like the pipeline does: payloads are retained in
// their blocks (Holder) until the end, and only then compared with a copy
// taken when each segment was read.
func readAll(t *testing.T, src Source) (segs []seg, st Stats) {
	t.Helper()
	var held []*Block
	var views [][]byte
	for {
		s, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		segs = append(segs, copySeg(s))
		views = append(views, s.Payload)
		if h, ok := src.(Holder); ok && len(s.Payload) > 0 {
			if b := h.PayloadBlock(); b != nil {
				b.Retain()
				held = append(held, b)
			} else {
				views[len(views)-1] = bytes.Clone(s.Payload)
			}
		}
	}
	for i, v := range views {
		if string(v) != segs[i].Payload {
			t.Fatalf("segment %d (#%d): payload changed while its block was held", i, segs[i].N)
		}
	}
	for _, b := range held {
		b.Release()
	}
	st = src.Stats().Clone()
	src.Close()
	return segs, st
}

func openInputs(t *testing.T, args []string, o Options) Source {
	t.Helper()
	src, err := OpenInputs(args, o)
	if err != nil {
		t.Fatalf("OpenInputs(%q): %v", args, err)
	}
	return src
}

// A capture split into two files, named in either order, reads back as
// the capture itself: the same segments in the same order, numbered 1..
// across the input; warnings name the file and its packet number.
func TestMergeSplitCapture(t *testing.T) {
	src := "../samples/client-rst-race.pcap"
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	recs := records(t, data)
	// Every third packet to b, and one broken packet in b (its Ethernet
	// header cut) to see where warnings point.
	var a, b []record
	for i, r := range recs {
		if i%3 == 1 {
			b = append(b, r)
		} else {
			a = append(a, r)
		}
	}
	for i := 1; i < len(recs); i++ {
		if !recs[i].ci.Timestamp.After(recs[i-1].ci.Timestamp) {
			t.Fatalf("%s: packets %d and %d have the same time: the merge's order between files would be arbitrary", src, i, i+1)
		}
	}
	bad := b[1] // at the same time as b[1], after it
	bad.data = bad.data[:10]
	bad.ci.Length = 10
	b = slices.Insert(b, 2, bad)
	all := slices.Clone(recs)
	all = slices.Insert(all, 1+slices.IndexFunc(all, func(r record) bool { return r.ci.Timestamp.Equal(bad.ci.Timestamp) }), bad)
	dir := t.TempDir()
	pa := writeFile(t, dir, "a.pcap", writePcap(t, a, pcapOpts{}))
	pb := writeFile(t, dir, "b.pcap", writePcap(t, b, pcapOpts{}))
	want, wantSt := readAll(t, openInputs(t, []string{writeFile(t, dir, "all.pcap", writePcap(t, all, pcapOpts{}))}, Options{}))
	for _, order := range [][]string{{pa, pb}, {pb, pa}} {
		got, st := readAll(t, openInputs(t, order, Options{}))
		if err := diffSegs(got, want); err != nil {
			t.Errorf("%q: %v", rel(dir, order), err)
		}
		if st.Packets != wantSt.Packets || st.TCPPackets != wantSt.TCPPackets || st.Skipped != wantSt.Skipped {
			t.Errorf("%q: counts %d/%d %+v, want %d/%d %+v", rel(dir, order), st.Packets, st.TCPPackets, st.Skipped,
				wantSt.Packets, wantSt.TCPPackets, wantSt.Skipped)
		}
		if !st.FirstPacketAt.Equal(wantSt.FirstPacketAt) || !st.LastPacketAt.Equal(wantSt.LastPacketAt) {
			t.Errorf("%q: packets from %v to %v, want %v to %v", rel(dir, order), st.FirstPacketAt, st.LastPacketAt, wantSt.FirstPacketAt, wantSt.LastPacketAt)
		}
		wantFiles := []string{pa, pb} // by first packet: a holds the first
		if st.Source != order[0] || !slices.Equal(st.Files, wantFiles) || st.Format != "pcap" {
			t.Errorf("%q: source %q, files %q, format %q; want %q, %q, pcap", rel(dir, order), st.Source, st.Files, st.Format, order[0], wantFiles)
		}
		if fi1, fi2 := fileSize(t, pa), fileSize(t, pb); st.Bytes != fi1+fi2 {
			t.Errorf("%q: %d bytes, want %d", rel(dir, order), st.Bytes, fi1+fi2)
		}
		wantWarn := fmt.Sprintf("file %s: packet 3: undecodable: packet too short for the Ethernet header (10 of 14 bytes)", pb)
		if !slices.Contains(st.Warnings, wantWarn) {
			t.Errorf("%q: warnings %q, want %q", rel(dir, order), st.Warnings, wantWarn)
		}
	}
}

func fileSize(t *testing.T, p string) uint64 {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(fi.Size())
}

// The real rotated sets read as the one capture mergecap makes of them
// (the truth's numbers), a connection continuing across the files.
func TestRotatedSets(t *testing.T) {
	for _, name := range []string{"rotated-C.pcap.gz", "rotated-G-02.pcap"} {
		p := fieldDirRel + name
		tr := readTruth(t, p)
		segs, st := readAll(t, openInputs(t, []string{p}, Options{}))
		if st.Packets != tr.Capture.Packets || st.TCPPackets != tr.Capture.TCPPackets || uint64(len(segs)) != tr.Capture.TCPPackets {
			t.Errorf("%s: %d packets, %d TCP (%d segments); want %d, %d", name, st.Packets, st.TCPPackets, len(segs), tr.Capture.Packets, tr.Capture.TCPPackets)
		}
		if got := st.FirstPacketAt.Format(time.RFC3339Nano); !sameInstant(got, tr.Capture.FirstPacketAt) {
			t.Errorf("%s: first packet %s, want %s", name, got, tr.Capture.FirstPacketAt)
		}
		if got := st.LastPacketAt.Format(time.RFC3339Nano); !sameInstant(got, tr.Capture.LastPacketAt) {
			t.Errorf("%s: last packet %s, want %s", name, got, tr.Capture.LastPacketAt)
		}
		if len(st.Files) < 2 {
			t.Fatalf("%s: files %q, want the set", name, st.Files)
		}
		for i := 1; i < len(segs); i++ {
			if segs[i].N <= segs[i-1].N || segs[i].Time.Before(segs[i-1].Time) {
				t.Fatalf("%s: segment %v after %v", name, segs[i], segs[i-1])
			}
		}
		// The first connection (its client sent the first SYN) has
		// packets in every file of the set.
		client := segs[0].Src
		for _, f := range st.Files {
			fs, _ := readAll(t, openInputs(t, []string{f}, Options{NoRotated: true}))
			lo, hi := fs[0].Time, fs[len(fs)-1].Time
			if !slices.ContainsFunc(segs, func(s seg) bool {
				return (s.Src == client || s.Dst == client) && !s.Time.Before(lo) && !s.Time.After(hi)
			}) {
				t.Errorf("%s: the first connection (client %v) has no packet in %s", name, client, f)
			}
		}
	}
}

func sameInstant(a, b string) bool {
	x, err1 := time.Parse(time.RFC3339Nano, a)
	y, err2 := time.Parse(time.RFC3339Nano, b)
	return err1 == nil && err2 == nil && x.Equal(y)
}

// A file that cannot be opened, or breaks, among others: a warning that
// names it (and the packet where it broke), the others read, Failed says
// so. A truncated last file is only a warning.
func TestBrokenMember(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	good1 := writeFile(t, dir, "1.pcap", pcapAt(t, t0, t0.Add(time.Second)))
	good3 := writeFile(t, dir, "3.pcap", pcapAt(t, t0.Add(4*time.Second)))
	corrupt := pcapAt(t, t0.Add(2*time.Second), t0.Add(3*time.Second))
	binaryLE.PutUint32(corrupt[24+16+len(tcpAt(t, t0).data)+8:], 1<<30) // the second record's captured length
	full := pcapAt(t, t0.Add(2*time.Second), t0.Add(3*time.Second))
	tests := []struct {
		name   string
		data   []byte
		segs   int // segments read in all; -1: any
		warn   string
		failed bool
	}{
		{"not a capture", []byte("<html>"), 3, "2.pcap: not a pcap or pcapng file (magic 3c68746d); the other files were read", true},
		{"empty", nil, 3, "2.pcap: empty file: skipped", false},
		{"corrupt record header", corrupt, 4, "2.pcap: packet 2: corrupt record header (captured length 1073741824 > 262144); stopped reading", true},
		{"truncated", full[:len(full)-5], 4, "2.pcap: file truncated after packet 1", false},
		{"corrupt gzip", func() []byte { g := gzipBytes(t, full); g[len(g)/2] ^= 0xff; return g }(), -1, "corrupt", true},
	}
	for _, tc := range tests {
		p := writeFile(t, dir, "2.pcap", tc.data)
		src := openInputs(t, []string{good1, p, good3}, Options{})
		segs, st := readAll(t, src)
		if tc.segs >= 0 && len(segs) != tc.segs {
			t.Errorf("%s: %d segments, want %d", tc.name, len(segs), tc.segs)
		}
		if !slices.ContainsFunc(st.Warnings, func(w string) bool {
			return strings.HasPrefix(w, filepath.Join(dir, "2.pcap")) && strings.Contains(w, strings.TrimPrefix(tc.warn, "2.pcap"))
		}) {
			t.Errorf("%s: warnings %q, want one naming the file: %q", tc.name, st.Warnings, tc.warn)
		}
		ferr := src.(Partial).Failed()
		var ie *InputError
		if tc.failed != (ferr != nil) || ferr != nil && (!errors.As(ferr, &ie) || ie.Files != 3 || len(ie.Failed) != 1 || !strings.Contains(ie.Failed[0], p)) {
			t.Errorf("%s: Failed() = %v, want failed %v naming %s", tc.name, ferr, tc.failed, p)
		}
	}
	// No file can be opened: the first one's error.
	bad := writeFile(t, dir, "bad.pcap", []byte("nope"))
	bad2 := writeFile(t, dir, "bad2.pcap", []byte("<html>"))
	if _, err := OpenInputs([]string{bad, bad2}, Options{}); err == nil || !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), "bad.pcap: not a pcap") {
		t.Errorf("all files bad: %v, want bad.pcap's open error", err)
	}
}

// Files that overlap in time beyond MaxOpen are still all read; the merge
// says it could not keep time order.
func TestMaxOpen(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var paths []string
	for i := range 5 {
		paths = append(paths, writeFile(t, dir, fmt.Sprintf("f%d.pcap", i), pcapAt(t, t0.Add(time.Duration(i)*time.Millisecond), t0.Add(time.Second+time.Duration(i)*time.Millisecond))))
	}
	for _, max := range []int{2, 5} {
		segs, st := readAll(t, openInputs(t, paths, Options{MaxOpen: max}))
		ordered := slices.IsSortedFunc(segs, func(a, b seg) int { return a.Time.Compare(b.Time) })
		crowded := slices.ContainsFunc(st.Warnings, func(w string) bool { return strings.Contains(w, "more than 2 files overlap in time") })
		if len(segs) != 10 || ordered != (max == 5) || crowded != (max == 2) {
			t.Errorf("MaxOpen %d: %d segments, in time order %v, warned %v; want 10, %v, %v", max, len(segs), ordered, crowded, max == 5, max == 2)
		}
	}
}

// The filter: only matching packets come out, with the numbers they have
// in the file; the rejected ones are counted apart; every link type of
// the input gets its own program.
func TestFilterInputs(t *testing.T) {
	p := fieldDirRel + "dumpcap-two-if.pcapng"
	all, allSt := readAll(t, openInputs(t, []string{p}, Options{}))
	tests := []struct {
		expr string
		keep func(s seg) bool
	}{
		{"tcp port 8080 and host 10.51.0.1", func(s seg) bool { return s.Src.Addr().String() == "10.51.0.1" || s.Dst.Addr().String() == "10.51.0.1" }},
		{"tcp[tcpflags] & tcp-syn != 0", func(s seg) bool { return s.Flags&SYN != 0 }},
		{"  ", func(seg) bool { return true }},
		{"udp", func(seg) bool { return false }},
	}
	for _, tc := range tests {
		got, st := readAll(t, openInputs(t, []string{p}, Options{Filter: tc.expr}))
		var want []seg
		for _, s := range all {
			if tc.keep(s) {
				want = append(want, s)
			}
		}
		if err := diffSegs(got, want); err != nil {
			t.Errorf("filter %q: %v", tc.expr, err)
		}
		wantFilter := tc.expr
		if strings.TrimSpace(tc.expr) == "" {
			wantFilter = ""
		}
		if st.Packets+st.Filtered != allSt.Packets || st.Filter != wantFilter || st.TCPPackets != uint64(len(want)) {
			t.Errorf("filter %q: %d packets + %d filtered (want %d in all), %d TCP (want %d), filter %q", tc.expr, st.Packets, st.Filtered, allSt.Packets, st.TCPPackets, len(want), st.Filter)
		}
	}
	// Two link types: raw IP and Ethernet, merged.
	dir := t.TempDir()
	pk := seedPackets(t)
	eth, raw := pk[1], pk[6]
	if eth.link != layers.LinkTypeEthernet || raw.link != layers.LinkTypeRaw {
		t.Fatal("seed packets changed")
	}
	raw.ci.Timestamp = eth.ci.Timestamp.Add(time.Second)
	pe := writeFile(t, dir, "eth.pcap", writePcap(t, []record{eth}, pcapOpts{}))
	pr := writeFile(t, dir, "raw.pcap", writePcap(t, []record{raw}, pcapOpts{}))
	for _, tc := range []struct {
		expr string
		n    int
	}{{"ip or ip6", 2}, {"ip", 1}, {"ip6", 1}, {"arp", 0},
		{"tcp", 1}, // as in tcpdump: "tcp" does not look behind the IPv6 packet's hop-by-hop header
	} {
		got, _ := readAll(t, openInputs(t, []string{pe, pr}, Options{Filter: tc.expr}))
		if len(got) != tc.n {
			t.Errorf("filter %q over Ethernet and raw IP: %d segments, want %d", tc.expr, len(got), tc.n)
		}
	}
	// Expressions that do not compile, for the file's link type.
	for _, tc := range []struct {
		args []string
		expr string
		msg  string
	}{
		{[]string{p}, "tcp port", `dumpcap-two-if.pcapng (link type EN10MB): bpf: filter "tcp port": syntax error`},
		{[]string{pe, pr}, "ether host 1:2:3:4:5:6", `raw.pcap (link type RAW): bpf: filter "ether host 1:2:3:4:5:6"`},
		{[]string{fieldDirRel + "nflog.pcap"}, "ether host 1:2:3:4:5:6", `nflog.pcap (link type NFLOG): bpf: filter "ether host 1:2:3:4:5:6"`},
		{[]string{fieldDirRel + "nflog.pcap"}, "ether host 1:2:3:4:5:6", "(compiled for the RAW frames that NFLOG's headers carry)"},
		{[]string{p}, "inbound", "inbound/outbound not supported on Ethernet"},
		{[]string{pr}, "arp", `raw.pcap (link type RAW): bpf: filter "arp": expression rejects all packets`},
	} {
		_, err := OpenInputs(tc.args, Options{Filter: tc.expr})
		var fe *FilterError
		if !errors.As(err, &fe) || !errors.Is(err, ErrFilter) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("filter %q on %q: %v, want a FilterError containing %q", tc.expr, tc.args, err, tc.msg)
		}
	}
}

// What pcapng files say about themselves, from the project's field
// captures and the TLS sample with a Decryption Secrets Block.
func TestPcapngFileFacts(t *testing.T) {
	tests := []struct {
		file     string
		dropped  uint64
		counts   bool
		warnings []string
	}{
		{"pcapng-drops.pcapng.gz", 22720, true, []string{"pcapng-drops.pcapng.gz: 22720 packets dropped by the kernel while capturing (pcapng statistics)"}},
		{"dumpcap-two-if.pcapng", 0, true, []string{"file " + fieldDirRel + "dumpcap-two-if.pcapng: the packets of its 2 interfaces are analysed merged in time order, as mergecap would write them: in the file their timestamps go backwards 4 times (first at packet 49, at most 166.326186ms back: dumpcap -i a -i b writes each interface's packets in batches)"}},
		{"pcapng-comments.pcapng", 0, false, []string{
			"file " + fieldDirRel + "pcapng-comments.pcapng: comment: httplife field sample: three connections to nginx 10.10.0.2:8080 (keepalive_timeout 1s)",
			"packet 3: comment: first SYN (client 10.10.0.1)",
			"packet 6: comment: first request: GET /",
			"packet 20: comment: nginx closes the idle connection"}},
		{"rotated-G-04.pcap", 0, false, nil},
	}
	for _, tc := range tests {
		_, st := readAll(t, openInputs(t, []string{fieldDirRel + tc.file}, Options{}))
		w := slices.Clone(st.Warnings)
		for i := range w {
			w[i] = strings.TrimPrefix(w[i], fieldDirRel)
		}
		if st.Dropped != tc.dropped || st.DropCounts != tc.counts || !slices.Equal(w, tc.warnings) && !slices.Equal(st.Warnings, tc.warnings) {
			t.Errorf("%s: dropped %d (known %v), warnings %q; want %d (%v), %q", tc.file, st.Dropped, st.DropCounts, st.Warnings, tc.dropped, tc.counts, tc.warnings)
		}
	}
	// Merged with another file, the drops add up and the comments name
	// their file.
	_, st := readAll(t, openInputs(t, []string{fieldDirRel + "pcapng-drops.pcapng.gz", fieldDirRel + "pcapng-comments.pcapng"}, Options{}))
	if st.Dropped != 22720 || !st.DropCounts || !slices.Contains(st.Warnings, "file "+fieldDirRel+"pcapng-comments.pcapng: packet 6: comment: first request: GET /") {
		t.Errorf("two pcapng files: dropped %d (%v), warnings %q", st.Dropped, st.DropCounts, st.Warnings)
	}

	// Timestamps going back in several files: one warning for all. (A
	// pcap copy of dumpcap's two interfaces, whose batches a pcap file
	// cannot tell apart.)
	b, err := os.ReadFile(fieldDirRel + "dumpcap-two-if.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	two := writeFile(t, dir, "two-if.pcap", writePcap(t, records(t, b), pcapOpts{nanos: true}))
	cp := writeFile(t, dir, "copy.pcap", writePcap(t, records(t, b), pcapOpts{nanos: true}))
	_, st = readAll(t, openInputs(t, []string{two, cp}, Options{}))
	want := "timestamps go backwards 8 times in 2 files (first at file " + two + " packet 49; at most 166.326186ms back: a merged or multi-interface capture: dumpcap -i a -i b writes each interface's packets in batches); packets are analysed in capture order, times as captured"
	if n := len(slices.DeleteFunc(slices.Clone(st.Warnings), func(w string) bool { return !strings.HasPrefix(w, "timestamps") })); n != 1 || !slices.Contains(st.Warnings, want) {
		t.Errorf("two files with timestamps going back: warnings %q, want one: %q", st.Warnings, want)
	}

	p := "../samples/tls/nginx-tls13-curl.dsb.pcapng"
	keys, err := os.ReadFile("../samples/tls/nginx-tls13-curl.keys")
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{p}, {p, "../samples/tls/nginx-tls13-curl.pcap"}} {
		src := openInputs(t, args, Options{})
		readAll(t, src)
		sec := src.(Secrets).Secrets()
		if len(sec) != 1 || !bytes.Equal(sec[0], keys) {
			t.Errorf("%q: %d secrets, want the key log nginx-tls13-curl.keys", args, len(sec))
		}
	}
}

// FuzzMulti reads two fuzzed files (or one, when the second is empty) as
// one input, with a filter: never a panic or an error from Next;
// segments numbered in increasing order; counts that add up to the
// files' records; the bounds on warnings.
func FuzzMulti(f *testing.F) {
	files := append(seedFiles(f), ngSeeds()...)
	for i := range files {
		f.Add(files[i], files[(i+1)%len(files)], i%2 == 0)
	}
	// Files of two interfaces, merged by interface (and with each other).
	if two, err := os.ReadFile(fieldDirRel + "dumpcap-two-if.pcapng"); err == nil {
		f.Add(two, two, false)
		f.Add(two, []byte{}, false) // alone: merged by interface
		f.Add(two, files[0], true)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, a, b []byte, filter bool) {
		pa := writeFile(t, dir, "a", a)
		pb := writeFile(t, dir, "b", b)
		o := Options{MaxOpen: 1 + len(a)%3}
		if filter {
			o.Filter = "tcp or ip6"
		}
		args := []string{pa, pb}
		if len(b) == 0 {
			args = args[:1] // one file (of several interfaces, merged by them)
		}
		src, err := OpenInputs(args, o)
		if err != nil {
			if !errors.Is(err, ErrOpen) && !errors.Is(err, ErrFilter) {
				t.Fatalf("open error %v is neither ErrOpen nor ErrFilter", err)
			}
			return
		}
		defer src.Close()
		var last uint64
		for {
			s, err := src.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if s.N <= last || len(s.Payload) > s.PayloadLen {
				t.Fatalf("bad segment N=%d after %d, payload %d of %d", s.N, last, len(s.Payload), s.PayloadLen)
			}
			last = s.N
		}
		st := src.Stats()
		sk := st.Skipped
		if st.Packets != st.TCPPackets+sk.NonTCP+sk.Undecodable+sk.Truncated+sk.Fragments || last > st.Packets+st.Filtered {
			t.Fatalf("counts do not add up: %+v (last segment %d)", st, last)
		}
		if len(st.Warnings) > 2*(maxWarnings+maxComments+maxNotes+10) {
			t.Fatalf("%d warnings", len(st.Warnings))
		}
	})
}

// A file read to its end keeps no buffers: a long rotated set holds the
// memory of the files open at once, not of all it read.
func TestFinishedMembersReleased(t *testing.T) {
	src := openInputs(t, []string{fieldDirRel + "rotated-C.pcap.gz"}, Options{})
	m := src.(*multiSource)
	var first *member
	for {
		_, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if first == nil && len(m.opened) > 1 && !slices.Contains(m.heap, m.opened[0]) {
			first = m.opened[0] // the first file ended, the second is read
			if first.src.br != nil || first.src.cnt != nil {
				t.Errorf("%s still holds its reader after its end", first.path)
			}
		}
	}
	if first == nil {
		t.Fatal("the second file was never opened")
	}
	st := src.Stats()
	if st.Bytes == 0 || len(st.Files) != 2 {
		t.Errorf("stats after the release: %d bytes, files %q", st.Bytes, st.Files)
	}
	for _, f := range m.opened {
		if f.src.br != nil {
			t.Errorf("%s still holds its reader at the end", f.path)
		}
	}
	src.Close()
}

// TestCaptureSpan checks the capture's first and last packet times on
// inputs that are not in time order: they are the earliest and the latest
// packet's (as capinfos reports them), so the duration is never negative.
// The oracle is gopacket's pcapng reader.
func TestCaptureSpan(t *testing.T) {
	span := func(file string) (first, last time.Time) {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for {
			_, ci, err := r.ReadPacketData()
			if err != nil {
				break
			}
			if first.IsZero() || ci.Timestamp.Before(first) {
				first = ci.Timestamp
			}
			if ci.Timestamp.After(last) {
				last = ci.Timestamp
			}
		}
		return first, last
	}
	two, com := fieldDirRel+"dumpcap-two-if.pcapng", fieldDirRel+"pcapng-comments.pcapng"
	f2, l2 := span(two)
	fc, lc := span(com)
	if !fc.After(l2) {
		t.Fatalf("%s ends at %v, after %s starts (%v): the test needs the second file to be earlier", two, l2, com, fc)
	}
	a, err := os.ReadFile(com)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(two)
	if err != nil {
		t.Fatal(err)
	}
	// The later capture first, then the earlier one: two pcapng sections
	// in one file, as `cat` makes them.
	cat := writeFile(t, t.TempDir(), "cat.pcapng", append(a, b...))
	tests := []struct {
		args        []string
		first, last time.Time
	}{
		{[]string{two}, f2, l2}, // dumpcap's batches per interface: times go back within the file
		{[]string{cat}, f2, lc},
		{[]string{com, two}, f2, lc}, // two files, merged in time order
	}
	for _, tc := range tests {
		_, st := readAll(t, openInputs(t, tc.args, Options{}))
		if !st.FirstPacketAt.Equal(tc.first) || !st.LastPacketAt.Equal(tc.last) {
			t.Errorf("%q: first %v, last %v; want %v, %v", tc.args, st.FirstPacketAt, st.LastPacketAt, tc.first, tc.last)
		}
	}
}

// Filters on the link types the compiler has no program for run on what
// their headers carry: the IP packet (the Ethernet frame for Juniper's),
// so that hosts, ports and protocols select as tcpdump -r selects on
// other captures; a record that carries no IP packet never passes.
func TestFilterCarriedPackets(t *testing.T) {
	v4, v6 := ipv4TCP(t), ipv6TCP(t, 0, nil) // 192.0.2.1:43102 > 198.51.100.2:80, and v6src > v6dst
	dir := t.TempDir()
	tests := []struct {
		name string
		link layers.LinkType
		data []byte
	}{ // the IPv6 ones: PPP with direction, pflog, IPoIB
		{"PPP", layers.LinkTypePPP, pppHdr(false, 0x0021, v4)},
		{"PPP with direction", layers.LinkType(204), append([]byte{1}, pppHdr(false, 0x0057, v6)...)},
		{"Cisco HDLC", layers.LinkType(104), chdlc(0x0800, v4)},
		{"NFLOG", 239, nflogRec(binary.LittleEndian, 2, v4, false)},
		{"pflog", layers.LinkTypePFLog, pflogHdr(24, v6)},
		{"802.11 radiotap", layers.LinkTypeIEEE80211Radio, radiotapHdr(dot11Data(0x0800, v4))},
		{"ARCNET Linux", layers.LinkType(129), append([]byte{1, 2, 0, 0, 212, 0, 0, 7}, v4...)},
		{"Juniper Ethernet", layers.LinkType(178), append([]byte{'M', 'G', 'C', 0x80, 0, 3, 1, 1, 6}, ether(t, layers.EthernetTypeIPv4, v4)...)},
		{"IPoIB", layers.LinkType(242), append(append(make([]byte, 40), 0x86, 0xdd, 0, 0), v6...)},
		{"PKTAP, Ethernet", layers.LinkType(258), pktapHdr(1, ether(t, layers.EthernetTypeIPv4, v4))},
		{"PKTAP, loopback", layers.LinkType(258), pktapHdr(0, append([]byte{30, 0, 0, 0}, v6...))},
	}
	for i, tt := range tests {
		rec := record{data: tt.data, link: tt.link, ci: gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(tt.data), Length: len(tt.data)}}
		p := writeFile(t, dir, fmt.Sprintf("l%d.pcap", i), writePcap(t, []record{rec}, pcapOpts{}))
		isV6 := bytes.HasSuffix(tt.data, v6)
		for _, f := range []struct {
			expr string
			n    int
		}{
			{"tcp dst port 80", 1}, {"tcp port 81", 0}, {"src host 192.0.2.1 or src host " + v6src.String(), 1},
			{"host 203.0.113.9", 0}, {"udp", 0},
			// As libpcap: tcp[] looks into IPv4 only.
			{"tcp[tcpflags] & tcp-push != 0", map[bool]int{false: 1, true: 0}[isV6]},
		} {
			got, _ := readAll(t, openInputs(t, []string{p}, Options{Filter: f.expr}))
			if len(got) != f.n {
				t.Errorf("%s: filter %q: %d segments, want %d", tt.name, f.expr, len(got), f.n)
			}
		}
	}
}

// A pcapng file of two interfaces whose packets dumpcap wrote in batches
// (interface 0's of each batch, then interface 1's: out of time order)
// reads as the capture in time order, as mergecap would write it; what
// the file says about itself (statistics, secrets, comments, a packet
// that cannot be decoded) is counted once, packets named by their number
// in the file; the merge is said once. The file order is what
// httplife analysed before, and a tap's two directions come apart in it
// (TestEncapsulatedSamples in cmd/httplife: a keep-alive race read as a
// reset).
func TestMergeInterfaces(t *testing.T) {
	data, err := os.ReadFile("../samples/client-rst-race.pcap")
	if err != nil {
		t.Fatal(err)
	}
	recs := records(t, data)
	dir := t.TempDir()
	want, wantSt := readAll(t, openInputs(t, []string{writeFile(t, dir, "all.pcap", writePcap(t, recs, pcapOpts{}))}, Options{}))

	b := &ngBuilder{bo: binary.LittleEndian}
	b.section(0)
	b.iface(1, 0)
	b.iface(1, 0)
	us := func(r record) uint64 { return uint64(r.ci.Timestamp.UnixMicro()) }
	var order []int // file position -> index in recs
	const batch = 4
	commentAt := 0
	for start := 0; start < len(recs); start += batch {
		for _, iface := range []int{0, 1} {
			for i := start; i < min(start+batch, len(recs)); i++ {
				if i%2 != iface {
					continue
				}
				order = append(order, i)
				if iface == 1 && commentAt == 0 && i > 4 {
					commentAt = len(order)
					b.epbOpts(1, us(recs[i]), recs[i].data, b.option(ngOptComment, []byte("on the second interface")))
					continue
				}
				b.epbOpts(uint32(iface), us(recs[i]), recs[i].data)
			}
		}
		if start == 0 {
			b.dsb(ngSecretsTLS, []byte("CLIENT_RANDOM 00 11\n"))
		}
	}
	// A packet of interface 1 cut inside its Ethernet header, at the time
	// of the last packet.
	b.epbOpts(1, us(recs[len(recs)-1]), recs[len(recs)-1].data[:10])
	bad := len(order) + 1
	b.isb(0, b.u64opt(ngOptISBIfDrop, 3))
	b.isb(1, b.u64opt(ngOptISBIfDrop, 4))
	path := writeFile(t, dir, "two.pcapng", b.buf.Bytes())
	backAt := 0
	for k := 1; k < len(order); k++ {
		if recs[order[k]].ci.Timestamp.Before(recs[order[k-1]].ci.Timestamp) {
			backAt = k + 1
			break
		}
	}
	if backAt == 0 {
		t.Fatal("the file is in time order: nothing to merge")
	}

	src := openInputs(t, []string{path}, Options{})
	got, st := readAll(t, src)
	for i := range want {
		want[i].N = 0 // numbered in the merged order
	}
	for i := range got {
		got[i].N = 0
	}
	if err := diffSegs(got, want); err != nil {
		t.Errorf("merged interfaces: %v", err)
	}
	if st.Packets != wantSt.Packets+1 || st.TCPPackets != wantSt.TCPPackets || st.Skipped.Undecodable != 1 {
		t.Errorf("counts %d/%d %+v, want %d/%d and one undecodable", st.Packets, st.TCPPackets, st.Skipped, wantSt.Packets+1, wantSt.TCPPackets)
	}
	if st.Dropped != 7 || !st.DropCounts || st.Files != nil || st.Source != path || st.Format != "pcapng" || st.Bytes != fileSize(t, path) {
		t.Errorf("dropped %d (%v), files %q, source %q, format %q, bytes %d; want 7, none, %q, pcapng, %d", st.Dropped, st.DropCounts, st.Files, st.Source, st.Format, st.Bytes, path, fileSize(t, path))
	}
	if sec := src.(Secrets).Secrets(); len(sec) != 1 {
		t.Errorf("%d secrets, want 1", len(sec))
	}
	wantWarn := []string{
		fmt.Sprintf("packet %d: undecodable: packet too short for the Ethernet header (10 of 14 bytes)", bad),
		fmt.Sprintf("packet %d: comment: on the second interface", commentAt),
		path + ": 7 packets dropped by the kernel while capturing (pcapng statistics)",
	}
	merged := 0
	for _, w := range st.Warnings {
		if strings.Contains(w, "the packets of its 2 interfaces are analysed merged in time order") {
			merged++
			if !strings.Contains(w, fmt.Sprintf("(first at packet %d,", backAt)) {
				t.Errorf("merge warning %q, want the first step back at packet %d", w, backAt)
			}
		}
	}
	for _, w := range wantWarn {
		if !slices.Contains(st.Warnings, w) {
			t.Errorf("warnings %q, want %q", st.Warnings, w)
		}
	}
	if merged != 1 || len(st.Warnings) != len(wantWarn)+1 {
		t.Errorf("warnings %q: want the merge said once and %d others", st.Warnings, len(wantWarn))
	}
}

// Interfaces described after the first packet, and a second section
// whose interface ids start again at 0: every packet is read once, those
// of the later interfaces with the last interface described before the
// first packet, in file order among them.
func TestMergeInterfacesLater(t *testing.T) {
	b := &ngBuilder{bo: binary.LittleEndian}
	b.section(0)
	b.iface(101, 0) // raw IP
	b.iface(101, 0)
	at := func(ms uint64) uint64 { return 1_700_000_000_000_000 + ms*1000 }
	pkt := func(port byte) []byte {
		p := []byte(rawTCP)
		p[21] = port // the source port's low byte names the packet
		return p
	}
	b.epbOpts(0, at(20), pkt(2))
	b.epbOpts(1, at(10), pkt(1)) // back in time
	b.iface(101, 0)              // interface 2, after the first packet
	b.epbOpts(2, at(30), pkt(3))
	b.epbOpts(1, at(25), pkt(4))
	b.section(0)
	b.iface(101, 0)
	b.epbOpts(0, at(40), pkt(5))
	path := writeFile(t, t.TempDir(), "later.pcapng", b.buf.Bytes())
	got, st := readAll(t, openInputs(t, []string{path}, Options{}))
	var ports []uint16
	for _, s := range got {
		ports = append(ports, s.Src.Port()&0xff)
	}
	if want := []uint16{1, 2, 3, 4, 5}; !slices.Equal(ports, want) || st.TCPPackets != 5 {
		t.Errorf("packets %v (%d TCP), want %v", ports, st.TCPPackets, want)
	}
}

// A corrupt block in a file of two interfaces: the packets before it are
// read, the corruption is a warning (said once) as for a file read alone,
// not a failed input.
func TestMergeInterfacesCorrupt(t *testing.T) {
	b := &ngBuilder{bo: binary.LittleEndian}
	b.section(0)
	b.iface(101, 0)
	b.iface(101, 0)
	at := func(ms uint64) uint64 { return 1_700_000_000_000_000 + ms*1000 }
	b.epbOpts(0, at(20), []byte(rawTCP))
	b.epbOpts(1, at(10), []byte(rawTCP))
	b.buf.Write([]byte{6, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}) // an EPB of 2 GiB
	b.buf.Write(make([]byte, 64))
	path := writeFile(t, t.TempDir(), "corrupt.pcapng", b.buf.Bytes())
	src := openInputs(t, []string{path}, Options{})
	got, st := readAll(t, openInputs(t, []string{path}, Options{}))
	n := 0
	for _, w := range st.Warnings {
		if strings.Contains(w, "corrupt pcapng block after packet 2") {
			n++
		}
	}
	if len(got) != 2 || n != 1 {
		t.Errorf("%d segments, warnings %q; want 2 and the corruption said once", len(got), st.Warnings)
	}
	readAll(t, src)
	if err := src.(Partial).Failed(); err != nil {
		t.Errorf("Failed: %v, want nil (one file)", err)
	}
}
