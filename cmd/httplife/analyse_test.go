package main

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/httplife/httplife/internal/pipeline"
)

func TestAnalyseFlags(t *testing.T) {
	tests := []struct {
		args     []string
		wantErr  string
		wantOpts analyseOptions
	}{
		{args: []string{"x.pcap"}, wantOpts: analyseOptions{Path: "x.pcap", Inputs: []string{"x.pcap"}, Format: "text", TwoMSL: time.Minute, MaxConns: 100000}},
		{args: []string{"--format", "json", "--two-msl", "30s", "--ports", "8080, 80,80", "--server-ports", "9000", "-"},
			wantOpts: analyseOptions{Path: "-", Inputs: []string{"-"}, Format: "json", TwoMSL: 30 * time.Second, Ports: []uint16{80, 8080}, ServerPorts: []uint16{9000}, MaxConns: 100000}},
		{args: []string{"-f", "ndjson", "--max-connections", "0", "a"}, wantOpts: analyseOptions{Path: "a", Inputs: []string{"a"}, Format: "ndjson", TwoMSL: time.Minute}},
		{args: []string{"--format", "xml", "a"}, wantErr: `--format "xml": want one of text, json, ndjson, html`},
		{args: []string{"--ports", "80,http", "a"}, wantErr: `"http" is not a port number`},
		{args: []string{"--ports", "70000", "a"}, wantErr: `"70000" is not a port number`},
		{args: []string{"--two-msl", "-1s", "a"}, wantErr: "must not be negative"},
		{args: []string{}, wantErr: "analyse takes a capture file, directory or glob (or -r FILE, or - for standard input)"},
		{args: []string{"a", "b"}, wantOpts: analyseOptions{Path: "a", Inputs: []string{"a"}, Expr: "b", Format: "text", TwoMSL: time.Minute, MaxConns: 100000}},
		{args: []string{"--bogus", "a"}, wantErr: "unknown flag: --bogus"},
	}
	for _, tc := range tests {
		var got *analyseOptions
		s := &streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
		cmd := newCmdAnalyse(s, func(o *analyseOptions) error { got = o; return nil })
		cmd.SetArgs(tc.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("analyse %q: error %v, want one containing %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("analyse %q: unexpected error %v", tc.args, err)
			continue
		}
		got.s = nil
		if !reflect.DeepEqual(*got, tc.wantOpts) {
			t.Errorf("analyse %q: options\n got %+v\nwant %+v", tc.args, *got, tc.wantOpts)
		}
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"analyse", "/nonexistent/x.pcap"}, 2, "/nonexistent/x.pcap"},
		{[]string{"analyse", "--format", "yaml", "x"}, 2, "--format"},
		{[]string{"analyse", "analyse_test.go"}, 2, "analyse_test.go"},
		{[]string{"nosuchcommand"}, 2, "unknown command"},
	}
	for _, tc := range tests {
		var out, errOut bytes.Buffer
		code := run(tc.args, strings.NewReader(""), &out, &errOut)
		if code != tc.code || !strings.Contains(errOut.String(), tc.wantErr) {
			t.Errorf("httplife %q: exit %d, stderr %q; want exit %d and stderr naming %q", tc.args, code, errOut.String(), tc.code, tc.wantErr)
		}
	}
}

func TestReportFlags(t *testing.T) {
	tests := []struct {
		args       []string
		wantOutput string
		wantErr    string
	}{
		{[]string{"x.pcap"}, "report.html", ""},
		{[]string{"-o", "r.html", "x.pcap"}, "r.html", ""},
		{[]string{"-o", "-", "x.pcap"}, "", ""},
		{[]string{"--format", "json", "x.pcap"}, "", "report writes HTML"},
	}
	for _, tc := range tests {
		var got *analyseOptions
		s := &streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
		cmd := newCmdReport(s, func(o *analyseOptions) error { got = o; return nil })
		cmd.SetArgs(tc.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("report %q: error %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got == nil || got.Format != "html" || got.Output != tc.wantOutput {
			t.Errorf("report %q: err %v, options %+v; want format html, output %q", tc.args, err, got, tc.wantOutput)
		}
	}
}

// `httplife report` end to end: a file is written, it is HTML, and the
// capture's URIs are in it.
func TestReportWritesHTML(t *testing.T) {
	out := t.TempDir() + "/r.html"
	var o, e bytes.Buffer
	if code := run([]string{"report", "-o", out, "../../samples/go-idle-timeout.pcap"}, nil, &o, &e); code != 0 {
		t.Fatalf("exit %d: %s", code, e.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("<!DOCTYPE html>")) || !bytes.Contains(b, []byte("/stream")) {
		t.Errorf("%s: %d bytes, not an HTML report of the sample", out, len(b))
	}
}

func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	p := &progressLine{w: &buf, total: 1000e6, start: now, nowFunc: func() time.Time { return now }}
	now = now.Add(2 * time.Second)
	p.update(pipeline.Progress{Packets: 3e6, Bytes: 250e6, Open: 12})
	p.update(pipeline.Progress{Packets: 3e6 + 1, Bytes: 251e6, Open: 12}) // within 250 ms: not drawn
	p.done()
	want := "\r 25% 250 MB of 1000 MB, 1.50 M packets/s, 12 connections open \x1b[K\r\x1b[K"
	if buf.String() != want {
		t.Errorf("progress output %q, want %q", buf.String(), want)
	}
	if newProgress(&bytes.Buffer{}, "x") != nil {
		t.Errorf("a progress line on a non-terminal writer")
	}
}
