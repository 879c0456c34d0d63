package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

const (
	sampleA = "../../samples/go-idle-timeout.pcap"
	sampleB = "../../samples/curl-post.pcap"
	field   = "../../samples/field/"
)

// The positional arguments split into inputs and a filter expression as
// tcpdump splits them; -r, --filter and --no-rotated.
func TestInputArgs(t *testing.T) {
	glob := "../../samples/c*.pcap"
	tests := []struct {
		args      []string
		inputs    []string
		expr      string
		noRotated bool
		err       string
	}{
		{args: []string{"nope.pcap"}, inputs: []string{"nope.pcap"}}, // the first is always an input: opening it says what is wrong
		{args: []string{sampleA, "tcp", "port", "80"}, inputs: []string{sampleA}, expr: "tcp port 80"},
		{args: []string{sampleA, "tcp port 80 and host 10.0.0.1"}, inputs: []string{sampleA}, expr: "tcp port 80 and host 10.0.0.1"},
		{args: []string{sampleA, sampleB, "port", "80"}, inputs: []string{sampleA, sampleB}, expr: "port 80"},
		{args: []string{sampleA, glob, field, "not", "port", "22"}, inputs: []string{sampleA, glob, field}, expr: "not port 22"},
		{args: []string{sampleA, "port", "80", sampleB}, inputs: []string{sampleA}, expr: "port 80 " + sampleB}, // after the expression starts, all is expression
		{args: []string{"-r", sampleA, "-r", sampleB}, inputs: []string{sampleA, sampleB}},
		{args: []string{"-r", sampleA, "port", "80"}, inputs: []string{sampleA}, expr: "port 80"},
		{args: []string{"-r", sampleA, sampleB}, inputs: []string{sampleA, sampleB}},
		{args: []string{"--filter", "port 80", sampleA}, inputs: []string{sampleA}, expr: "port 80"},
		{args: []string{"--filter", "  ", sampleA, " "}, inputs: []string{sampleA}},
		{args: []string{"--no-rotated", field + "rotated-C.pcap.gz"}, inputs: []string{field + "rotated-C.pcap.gz"}, noRotated: true},
		{args: []string{"--filter", "port 80", sampleA, "tcp"}, err: `a filter both in --filter ("port 80") and after the files ("tcp"): give one`},
		{args: []string{"--filter", "port 80"}, err: "takes a capture file, directory or glob"},
	}
	for _, cmdName := range []string{"analyse", "report", "advise"} {
		for _, tc := range tests {
			var got *analyseOptions
			s := &streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
			var c interface {
				SetArgs([]string)
				Execute() error
			}
			switch cmdName {
			case "analyse":
				c = newCmdAnalyse(s, func(o *analyseOptions) error { got = o; return nil })
			case "report":
				c = newCmdReport(s, func(o *analyseOptions) error { got = o; return nil })
			case "advise":
				c = newCmdAdvise(s, func(o *adviseOptions) error { got = &o.analyseOptions; return nil })
			}
			c.SetArgs(tc.args)
			err := c.Execute()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("%s %q: error %v, want %q", cmdName, tc.args, err, tc.err)
				}
				continue
			}
			if err != nil || got == nil {
				t.Errorf("%s %q: error %v", cmdName, tc.args, err)
				continue
			}
			if !reflect.DeepEqual(got.Inputs, tc.inputs) || got.Expr != tc.expr || got.NoRotated != tc.noRotated || got.Path != tc.inputs[0] {
				t.Errorf("%s %q: inputs %q, expr %q, no-rotated %v, path %q; want %q, %q, %v", cmdName, tc.args,
					got.Inputs, got.Expr, got.NoRotated, got.Path, tc.inputs, tc.expr, tc.noRotated)
			}
		}
	}
}

// runJSON runs analyse --format json and returns the exit code, the
// document (nil when the output is not JSON) and stderr.
func runJSON(t *testing.T, args ...string) (int, map[string]any, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"analyse", "--format", "json"}, args...), strings.NewReader(""), &out, &errOut)
	var doc map[string]any
	if json.Unmarshal(out.Bytes(), &doc) != nil {
		doc = nil
	}
	return code, doc, errOut.String()
}

func strs(v any) []string {
	a, _ := v.([]any)
	if a == nil {
		return nil
	}
	out := make([]string, len(a))
	for i, x := range a {
		out[i], _ = x.(string)
	}
	return out
}

// corpusTruth is the part of a truth file these tests compare.
type corpusTruth struct {
	Connections []struct {
		Client      string `json:"client"`
		Server      string `json:"server"`
		Requests    int    `json:"requests"`
		CloseReason string `json:"close_reason"`
	} `json:"connections"`
	Files []string `json:"files"`
}

func readCorpusTruth(t *testing.T, capture string) corpusTruth {
	t.Helper()
	b, err := os.ReadFile(capture + ".truth.json")
	if err != nil {
		t.Fatal(err)
	}
	var tr corpusTruth
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// conns returns, per connection, "client>server requests reason".
func conns(doc map[string]any) []string {
	var out []string
	cs, _ := doc["connections"].([]any)
	for _, c := range cs {
		m := c.(map[string]any)
		tx, _ := m["transactions"].([]any)
		cl, _ := m["close"].(map[string]any)
		out = append(out, m["client"].(string)+">"+m["server"].(string)+" "+strings.Repeat("r", len(tx))+" "+cl["reason"].(string))
	}
	slices.Sort(out)
	return out
}

func truthConns(tr corpusTruth) []string {
	var out []string
	for _, c := range tr.Connections {
		out = append(out, c.Client+">"+c.Server+" "+strings.Repeat("r", c.Requests)+" "+c.CloseReason)
	}
	slices.Sort(out)
	return out
}

// Many files as one capture: the rotated sets (named by their first
// file, as a directory, as a glob, as an explicit list out of order), a
// connection continuing across files as one connection with all its
// requests, capture.files in the order read.
func TestManyInputs(t *testing.T) {
	gDir := t.TempDir()
	var gFiles []string
	for _, n := range []string{"rotated-G-02.pcap", "rotated-G-04.pcap", "rotated-G-06.pcap"} {
		b, err := os.ReadFile(field + n)
		if err != nil {
			t.Fatal(err)
		}
		gFiles = append(gFiles, filepath.Join(gDir, n))
		if err := os.WriteFile(gFiles[len(gFiles)-1], b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(gDir, "notes.txt"), []byte("not a capture"), 0o644)
	cFiles := []string{field + "rotated-C.pcap.gz", field + "rotated-C.pcap1"}
	gTruth, cTruth := readCorpusTruth(t, field+"rotated-G-02.pcap"), readCorpusTruth(t, field+"rotated-C.pcap.gz")
	tests := []struct {
		name   string
		args   []string
		source string
		files  []string
		truth  corpusTruth
		warn   string
	}{
		{"-C set by its first file", []string{cFiles[0]}, cFiles[0], cFiles, cTruth, "read with the rest of its rotated set, rotated-C.pcap1 (2 files)"},
		{"-G set by its first file", []string{gFiles[0]}, gFiles[0], gFiles, gTruth, "read with the rest of its rotated set, rotated-G-04.pcap to rotated-G-06.pcap (3 files)"},
		{"a directory", []string{gDir}, gDir, gFiles, gTruth, "1 files that are not pcap or pcapng captures skipped"},
		{"a glob", []string{filepath.Join(gDir, "rotated-G-*.pcap")}, filepath.Join(gDir, "rotated-G-*.pcap"), gFiles, gTruth, ""},
		{"a list out of order", []string{"--no-rotated", gFiles[2], gFiles[0], gFiles[1]}, gFiles[2], gFiles, gTruth, ""},
		{"-r", []string{"-r", cFiles[1], "-r", cFiles[0], "--no-rotated"}, cFiles[1], cFiles, cTruth, ""},
	}
	for _, tc := range tests {
		code, doc, stderr := runJSON(t, tc.args...)
		if code != 0 || doc == nil {
			t.Errorf("%s: analyse %q: exit %d: %s", tc.name, tc.args, code, stderr)
			continue
		}
		ci := doc["capture"].(map[string]any)
		if ci["source"] != tc.source || !slices.Equal(strs(ci["files"]), tc.files) {
			t.Errorf("%s: capture.source %v, files %q; want %q, %q", tc.name, ci["source"], strs(ci["files"]), tc.source, tc.files)
		}
		if got, want := conns(doc), truthConns(tc.truth); !slices.Equal(got, want) {
			t.Errorf("%s: connections\n%q\nwant (truth)\n%q", tc.name, got, want)
		}
		w := strs(ci["warnings"])
		if tc.warn != "" && !slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, tc.warn) }) || tc.warn == "" && len(w) > 0 {
			t.Errorf("%s: warnings %q, want %q", tc.name, w, tc.warn)
		}
	}
	// One file: no capture.files.
	if _, doc, _ := runJSON(t, "--no-rotated", cFiles[0]); doc == nil || doc["capture"].(map[string]any)["files"] != nil {
		t.Errorf("one file: capture.files %v, want null", doc["capture"].(map[string]any)["files"])
	}
}

// Filters: capture.filter, the connections the filter keeps, the
// expression's forms; a bad one is a usage error that shows the
// compiler's message.
func TestFilterArgs(t *testing.T) {
	p := field + "dumpcap-two-if.pcapng"
	tr := readCorpusTruth(t, p)
	var c2 []string
	for _, c := range truthConns(tr) {
		if strings.HasPrefix(c, "10.52.0.1:") {
			c2 = append(c2, c)
		}
	}
	if len(c2) != 2 {
		t.Fatalf("the truth has %d connections of client 10.52.0.1, want 2", len(c2))
	}
	for _, args := range [][]string{
		{p, "host", "10.52.0.1"},
		{p, "host 10.52.0.1"},
		{"--filter", "host 10.52.0.1", p},
		{"-r", p, "host", "10.52.0.1"},
	} {
		code, doc, stderr := runJSON(t, args...)
		if code != 0 || doc == nil {
			t.Errorf("analyse %q: exit %d: %s", args, code, stderr)
			continue
		}
		ci := doc["capture"].(map[string]any)
		if ci["filter"] != "host 10.52.0.1" || !slices.Equal(conns(doc), c2) {
			t.Errorf("analyse %q: capture.filter %v, connections %q; want %q, %q", args, ci["filter"], conns(doc), "host 10.52.0.1", c2)
		}
	}
	if _, doc, _ := runJSON(t, p); doc == nil || doc["capture"].(map[string]any)["filter"] != nil {
		t.Errorf("no filter: capture.filter %v, want null", doc["capture"].(map[string]any)["filter"])
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{p, "tcp", "port"}, `dumpcap-two-if.pcapng (link type EN10MB): bpf: filter "tcp port": syntax error`},
		{[]string{"--filter", "gateway foo", p}, `bpf: filter "gateway foo"`},
		{[]string{field + "nflog.pcap", "ether", "src", "1:2:3:4:5:6"}, "(compiled for the RAW frames that NFLOG's headers carry)"},
	} {
		var out, errOut bytes.Buffer
		code := run(append([]string{"analyse"}, tc.args...), nil, &out, &errOut)
		if code != exitUsage || !strings.Contains(errOut.String(), tc.msg) || out.Len() > 0 {
			t.Errorf("analyse %q: exit %d, stderr %q, %d bytes out; want exit 2 and %q", tc.args, code, errOut.String(), out.Len(), tc.msg)
		}
	}
}

// Exit statuses and messages of inputs that are partly or wholly bad.
func TestInputErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pcap")
	os.WriteFile(bad, []byte("<html>"), 0o644)
	tests := []struct {
		args   []string
		code   int
		stderr []string
		conns  int // connections in the JSON; -1: no output
	}{
		{[]string{sampleA, bad, sampleB}, exitError, []string{"warning: " + bad + ": not a pcap or pcapng file (magic 3c68746d); the other files were read",
			"httplife: 1 of 3 input files could not be read completely: " + bad + ": not a pcap or pcapng file (magic 3c68746d) (the report covers the other files)"}, 2},
		{[]string{bad, filepath.Join(dir, "bad.pcap")}, exitUsage, []string{bad + ": not a pcap or pcapng file"}, -1},
		{[]string{sampleA, "-"}, exitUsage, []string{"standard input cannot be read with other files"}, -1},
		{[]string{filepath.Join(dir, "nope-*.pcap")}, exitUsage, []string{"nope-*.pcap: no file matches the pattern"}, -1},
		{[]string{dir + "/"}, exitUsage, []string{"no pcap or pcapng files in the directory"}, -1},
	}
	for _, tc := range tests {
		code, doc, stderr := runJSON(t, tc.args...)
		if code != tc.code {
			t.Errorf("analyse %q: exit %d, want %d (%s)", tc.args, code, tc.code, stderr)
		}
		for _, s := range tc.stderr {
			if !strings.Contains(stderr, s) {
				t.Errorf("analyse %q: stderr %q, want %q", tc.args, stderr, s)
			}
		}
		if tc.conns >= 0 && (doc == nil || len(doc["connections"].([]any)) < tc.conns) {
			t.Errorf("analyse %q: output %v, want at least %d connections", tc.args, doc != nil, tc.conns)
		}
	}
}

// capture.dropped: from the pcapng statistics of a file, null for a file
// that says nothing (pcap).
func TestDroppedField(t *testing.T) {
	for _, tc := range []struct {
		file string
		want any
	}{
		{"pcapng-drops.pcapng.gz", 22720.0},
		{"dumpcap-two-if.pcapng", 0.0},
		{"rotated-G-04.pcap", nil},
	} {
		_, doc, stderr := runJSON(t, field+tc.file)
		if doc == nil {
			t.Fatalf("%s: %s", tc.file, stderr)
		}
		if got := doc["capture"].(map[string]any)["dropped"]; got != tc.want {
			t.Errorf("%s: capture.dropped %v, want %v", tc.file, got, tc.want)
		}
	}
	_, doc, stderr := runJSON(t, field+"pcapng-drops.pcapng.gz")
	if w := strs(doc["capture"].(map[string]any)["warnings"]); !slices.Contains(w, field+"pcapng-drops.pcapng.gz: 22720 packets dropped by the kernel while capturing (pcapng statistics)") ||
		!strings.Contains(stderr, "22720 packets dropped by the kernel") {
		t.Errorf("pcapng-drops: warnings %q, stderr %q", w, stderr)
	}
}

// report and advise read the same inputs.
func TestReportAdviseInputs(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.html")
	var o, e bytes.Buffer
	if code := run([]string{"report", "-o", out, field + "rotated-C.pcap.gz", "tcp", "port", "8080"}, nil, &o, &e); code != 0 {
		t.Fatalf("report: exit %d: %s", code, e.String())
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.HasPrefix(b, []byte("<!DOCTYPE html>")) || !bytes.Contains(b, []byte("/big.txt")) {
		t.Errorf("report of the rotated set: %v, %d bytes, want HTML naming /big.txt (in the set's first file)", err, len(b))
	}
	o.Reset()
	e.Reset()
	if code := run([]string{"advise", "--format", "json", "--filter", "port 8080", field + "rotated-G-02.pcap"}, nil, &o, &e); code != 0 {
		t.Fatalf("advise: exit %d: %s", code, e.String())
	}
	if !json.Valid(o.Bytes()) || !bytes.Contains(o.Bytes(), []byte("10.10.0.2:8080")) {
		t.Errorf("advise of the rotated set: %s", o.String())
	}
}

// A capture compressed with zstd or lz4 (as Wireshark, editcap and the
// tools themselves write them) analyses as the plain file does.
func TestCompressedInputs(t *testing.T) {
	data, err := os.ReadFile(sampleA)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var zb, lb bytes.Buffer
	zw, _ := zstd.NewWriter(&zb)
	zw.Write(data)
	zw.Close()
	lw := lz4.NewWriter(&lb)
	lw.Write(data)
	lw.Close()
	plain := analyseJSONBytes(t, sampleA)
	for name, b := range map[string][]byte{"a.pcap.zst": zb.Bytes(), "a.pcap.lz4": lb.Bytes()} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got := analyseJSONBytes(t, p)
		if want := bytes.ReplaceAll(plain, []byte(sampleA), []byte(p)); !bytes.Equal(got, want) {
			t.Errorf("%s: output differs from the plain file's:\n got %s\nwant %s", name, got, want)
		}
	}
}
