package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWatchFlags(t *testing.T) {
	base := func(o watchOptions) watchOptions {
		if o.Format == "" {
			o.Format = "text"
		}
		if o.TwoMSL == 0 {
			o.TwoMSL = time.Minute
		}
		if o.MaxConns == 0 {
			o.MaxConns = 100000
		}
		if o.Snaplen == 0 {
			o.Snaplen = 262144
		}
		if o.Buffer == 0 {
			o.Buffer = 64 << 20
		}
		return o
	}
	tests := []struct {
		args    []string
		wantErr string
		want    watchOptions
	}{
		{args: []string{"-i", "lo"}, want: base(watchOptions{Interface: "lo"})},
		{args: []string{"-i", "eth0", "--filter", "tcp port 80", "-f", "ndjson", "--duration", "30s", "-c", "1000",
			"--buffer", "2MiB", "--snaplen", "1500", "--report", "r.html", "-w", "s.pcap", "--ports", "80,8080", "--two-msl", "30s"},
			want: base(watchOptions{analyseOptions: analyseOptions{Format: "ndjson", TwoMSL: 30 * time.Second, Ports: []uint16{80, 8080}},
				Interface: "eth0", Filter: "tcp port 80", Duration: 30 * time.Second, Count: 1000, Buffer: 2 << 20, Snaplen: 1500,
				Report: "r.html", Write: "s.pcap"})},
		{args: []string{"--interface", "any", "tcp", "port", "80"}, want: base(watchOptions{Interface: "any", Filter: "tcp port 80"})},
		{args: []string{"-i", "lo", "--buffer", "131072"}, want: base(watchOptions{Interface: "lo", Buffer: 131072})},
		{args: []string{"-i", "lo", "--buffer", "512k"}, want: base(watchOptions{Interface: "lo", Buffer: 512 << 10})},
		{args: []string{"-i", "lo", "--buffer", "1 GiB"}, want: base(watchOptions{Interface: "lo", Buffer: 1 << 30})},
		{args: []string{"-i", "lo", "--max-connections", "0", "--server-ports", "9000"},
			want: func() watchOptions {
				o := base(watchOptions{analyseOptions: analyseOptions{ServerPorts: []uint16{9000}}, Interface: "lo"})
				o.MaxConns = 0
				return o
			}()},
		{args: []string{}, wantErr: "watch needs an interface: -i NAME"},
		{args: []string{"-i", "lo", "--format", "html"}, wantErr: `--format "html": want one of text, json, ndjson (for HTML use --report FILE)`},
		{args: []string{"-i", "lo", "--buffer", "lots"}, wantErr: `--buffer "lots": want a size`},
		{args: []string{"-i", "lo", "--buffer", "0"}, wantErr: `--buffer "0": want a size`},
		{args: []string{"-i", "lo", "--snaplen", "0"}, wantErr: "--snaplen 0: want 1 to 262144"},
		{args: []string{"-i", "lo", "--duration", "-1s"}, wantErr: "must not be negative"},
		{args: []string{"-i", "lo", "--ports", "http"}, wantErr: `"http" is not a port number`},
		{args: []string{"-i", "lo", "--filter", "tcp", "port", "80"}, wantErr: "either with --filter or as arguments"},
		{args: []string{"-i", "lo", "--report", "x", "-w", "x"}, wantErr: "name the same file"},
	}
	for _, tc := range tests {
		var got *watchOptions
		s := &streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
		cmd := newCmdWatch(s, func(o *watchOptions) error { got = o; return nil })
		cmd.SetArgs(tc.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("watch %q: error %v, want one containing %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("watch %q: unexpected error %v", tc.args, err)
			continue
		}
		got.s = nil
		if tc.want.Live || got.Live {
			t.Errorf("watch %q: live view on a buffer", tc.args)
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("watch %q: options\n got %+v\nwant %+v", tc.args, *got, tc.want)
		}
	}
}

// A filter that cannot be compiled is refused before anything is captured
// (no privileges needed to see it), with the usage exit code.
func TestWatchRefusesBadFilter(t *testing.T) {
	for _, filter := range []string{"gateway foo", "tcp port", "port 99999"} {
		var out, errOut bytes.Buffer
		code := run([]string{"watch", "-i", "lo", "--filter", filter, "--duration", "1s"}, nil, &out, &errOut)
		msg := errOut.String()
		if code != exitUsage || !strings.Contains(msg, "filter") || !strings.Contains(msg, "nothing captured") || out.Len() != 0 {
			t.Errorf("watch --filter %q: exit %d, stdout %q, stderr %q; want exit 2 and a message about the filter", filter, code, out.String(), msg)
		}
	}
	var out, errOut bytes.Buffer
	code := run([]string{"watch", "-i", "nosuchif0", "--duration", "1s"}, nil, &out, &errOut)
	if code != exitUsage || !strings.Contains(errOut.String(), `no interface "nosuchif0"`) {
		t.Errorf("watch -i nosuchif0: exit %d, stderr %q", code, errOut.String())
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int{"1": 1, "4096": 4096, "8k": 8192, "8K": 8192, "8KiB": 8192, "8 kb": 8192,
		"64MiB": 64 << 20, "64m": 64 << 20, "2G": 2 << 30, "100b": 100} {
		if got, err := parseSize("--buffer", in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "k", "-1", "1.5M", "64 MiBs", "99G"} {
		if _, err := parseSize("--buffer", in); err == nil {
			t.Errorf("parseSize(%q): no error", in)
		}
	}
}
