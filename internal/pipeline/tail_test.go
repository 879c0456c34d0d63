package pipeline_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/pipeline"
	"github.com/httplife/httplife/render"
	"github.com/httplife/httplife/tcpstate"
)

// openAtEnd writes a capture of n keep-alive connections, interleaved, none
// closed when it ends: connection i makes txs(i) GET transactions. All
// their records are built at the end of the input (the run's tail).
func openAtEnd(tb testing.TB, n int, txs func(i int) int) string {
	tb.Helper()
	var buf bytes.Buffer
	w, err := capture.NewPcapWriter(&buf, 65535, 1)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	type conn struct {
		port     uint16
		seq      [2]uint32
		left     int
		shakeOff bool
	}
	packet := func(c *conn, from int, flags byte, payload string) {
		p := make([]byte, 54+len(payload))
		binary.BigEndian.PutUint16(p[12:], 0x0800)
		ip := p[14:34]
		ip[0], ip[8], ip[9] = 0x45, 64, 6
		binary.BigEndian.PutUint16(ip[2:], uint16(40+len(payload)))
		addr := [2][4]byte{{10, 0, 0, 1}, {10, 0, 0, 2}}
		copy(ip[12:16], addr[from][:])
		copy(ip[16:20], addr[1-from][:])
		tcp := p[34:54]
		ports := [2]uint16{c.port, 80}
		binary.BigEndian.PutUint16(tcp[0:], ports[from])
		binary.BigEndian.PutUint16(tcp[2:], ports[1-from])
		binary.BigEndian.PutUint32(tcp[4:], c.seq[from])
		if flags&0x10 != 0 {
			binary.BigEndian.PutUint32(tcp[8:], c.seq[1-from])
		}
		tcp[12], tcp[13] = 5<<4, flags
		binary.BigEndian.PutUint16(tcp[14:], 65535)
		copy(p[54:], payload)
		now = now.Add(100 * time.Microsecond)
		if err := w.WritePacket(now, p, len(p)); err != nil {
			tb.Fatal(err)
		}
		c.seq[from] += uint32(len(payload))
		if flags&0x02 != 0 {
			c.seq[from]++
		}
	}
	conns := make([]*conn, n)
	for i := range conns {
		c := &conn{port: uint16(20000 + i), seq: [2]uint32{1000, 9000}, left: txs(i)}
		conns[i] = c
		packet(c, 0, 0x02, "")
		packet(c, 1, 0x12, "")
		packet(c, 0, 0x10, "")
	}
	for more := true; more; {
		more = false
		for i, c := range conns {
			if c.left == 0 {
				continue
			}
			more = true
			c.left--
			packet(c, 0, 0x18, "GET /"+strconv.Itoa(i)+" HTTP/1.1\r\nHost: x\r\n\r\n")
			body := "hello from " + strconv.Itoa(i)
			packet(c, 1, 0x18, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
			packet(c, 0, 0x10, "")
		}
	}
	path := filepath.Join(tb.TempDir(), "open-at-end.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// ndjsonOf runs a capture as `analyse --format ndjson` does, with or
// without Lines, and returns what was written.
func ndjsonOf(tb testing.TB, path string, sequential, lines bool) []byte {
	tb.Helper()
	src, err := capture.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	var out bytes.Buffer
	nd := render.NewNDJSON(&out)
	cfg := pipeline.Config{TCP: tcpstate.DefaultConfig(), Sequential: sequential, Transient: true}
	if lines {
		cfg.Lines = &pipeline.Lines{
			NewEncoder: func() func([]byte, *httpflow.Connection) ([]byte, error) { return new(render.LineEncoder).Append },
			Write: func(line []byte, err error) {
				if err != nil {
					tb.Fatalf("%s: encoding: %v", path, err)
				}
				if err := nd.Write(line); err != nil {
					tb.Fatal(err)
				}
			},
		}
	}
	res, err := pipeline.Run(src, cfg, func(c *httpflow.Connection) {
		if err := nd.Connection(c); err != nil {
			tb.Fatal(err)
		}
	})
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	if err := nd.End(res.Summary, res.Capture); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

// The records left at the end of the input are built and encoded by two
// goroutines and written in order: the output is the sequential run's,
// byte for byte, for runs of one long record and of many short ones.
func TestTailEqualsSequential(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // the pipelined run needs two
	open := openAtEnd(t, 300, func(i int) int { return []int{0, 1, 2, 700, 3, 40, 300}[i%7] })
	for _, p := range append(captures(t), open) {
		want := ndjsonOf(t, p, true, false)
		for _, lines := range []bool{false, true} {
			got := ndjsonOf(t, p, false, lines)
			if !bytes.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Errorf("%s (Lines %v): output differs from the sequential run's at byte %d of %d:\ngot  %.200q\nwant %.200q",
					p, lines, i, len(want), got[i:], want[i:])
			}
		}
	}
	if n := bytes.Count(ndjsonOf(t, open, false, true), []byte("\n")); n != 301 {
		t.Errorf("%s: %d lines, want 300 records and the summary", open, n)
	}
}

// Lines.Write gets every record of the tail in order, with the encoder's
// error in place of the line when it fails.
func TestTailLinesOrderAndErrors(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	open := openAtEnd(t, 200, func(i int) int { return []int{1, 0, 300, 2}[i%4] })
	var emitted, written []string
	src, err := capture.Open(open)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	errOdd := errors.New("odd")
	cfg := pipeline.Config{TCP: tcpstate.DefaultConfig(), Transient: true, Lines: &pipeline.Lines{
		NewEncoder: func() func([]byte, *httpflow.Connection) ([]byte, error) {
			return func(dst []byte, c *httpflow.Connection) ([]byte, error) {
				if c.ID%2 == 1 {
					return append(dst, "partial"...), errOdd // Run must drop what a failing encoder appended
				}
				return append(dst, fmt.Sprintf("%d/%d;", c.ID, len(c.Transactions))...), nil
			}
		},
		Write: func(line []byte, err error) {
			if err != nil {
				if len(line) > 0 {
					t.Errorf("Write got %q with error %v, want no bytes", line, err)
				}
				line = []byte(err.Error())
			}
			written = append(written, string(line))
		},
	}}
	if _, err := pipeline.Run(src, cfg, func(c *httpflow.Connection) { emitted = append(emitted, "emit") }); err != nil {
		t.Fatal(err)
	}
	if len(emitted) != 0 {
		t.Errorf("emit called %d times, want 0: every connection is open at the end", len(emitted))
	}
	if len(written) != 200 {
		t.Fatalf("Write called %d times, want 200", len(written))
	}
	for i, got := range written {
		id := i + 1
		want := fmt.Sprintf("%d/%d;", id, []int{1, 0, 300, 2}[i%4])
		if id%2 == 1 {
			want = "odd"
		}
		if got != want {
			t.Errorf("Write %d: got %q, want %q", i, got, want)
		}
	}
}
