package pipeline_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/pipeline"
	"github.com/httplife/httplife/render"
	"github.com/httplife/httplife/tcpstate"
)

// captures returns the project's samples and, when present, the shared
// corpus beside the checkout.
func captures(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, g := range []string{"../../samples/*.pcap", "../../../shared/corpus/*.pcap", "../../../shared/corpus/*.pcapng"} {
		m, _ := filepath.Glob(g)
		out = append(out, m...)
	}
	if len(out) == 0 {
		tb.Fatal("no captures found")
	}
	return out
}

// emitted runs a capture and returns every record as JSON, in emission order.
func emitted(tb testing.TB, path string, sequential bool) ([]string, *pipeline.Result) {
	return emittedCfg(tb, path, pipeline.Config{TCP: tcpstate.DefaultConfig(), Sequential: sequential})
}

func emittedCfg(tb testing.TB, path string, cfg pipeline.Config) ([]string, *pipeline.Result) {
	tb.Helper()
	src, err := capture.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	var recs []string
	res, err := pipeline.Run(src, cfg, func(c *httpflow.Connection) {
		b, _ := json.Marshal(c)
		recs = append(recs, string(b))
	})
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return recs, res
}

// The pipelined run (reader on its own goroutine) emits exactly what the
// sequential one does, in the same order.
func TestPipelinedEqualsSequential(t *testing.T) {
	paths := captures(t)
	if big := os.Getenv("HTTPLIFE_BIG_CAPTURE"); big != "" {
		paths = append(paths, big)
	}
	for _, p := range paths {
		seq, rs := emitted(t, p, true)
		par, rp := emittedCfg(t, p, pipeline.Config{TCP: tcpstate.DefaultConfig(), Shards: -1})
		if len(seq) != len(par) {
			t.Errorf("%s: sequential emitted %d records, pipelined %d", p, len(seq), len(par))
			continue
		}
		for i := range seq {
			if seq[i] != par[i] {
				t.Errorf("%s: record %d differs:\nsequential %.300s\npipelined  %.300s", p, i, seq[i], par[i])
				break
			}
		}
		a, _ := json.Marshal(rs)
		b, _ := json.Marshal(rp)
		if string(a) != string(b) {
			t.Errorf("%s: results differ:\n%s\n%s", p, a, b)
		}
	}
}

// The sharded run (connections spread over N tables, records merged back)
// emits exactly what the sequential one does, in the same order, with the
// same summary, for every shard count; and with Lines, the same encoded
// lines.
func TestShardedEqualsSequential(t *testing.T) {
	paths := captures(t)
	more, _ := filepath.Glob("../../samples/*/*.pcap")
	paths = append(paths, more...)
	if big := os.Getenv("HTTPLIFE_BIG_CAPTURE"); big != "" {
		paths = append(paths, big)
	}
	for _, p := range paths {
		seq, rs := emitted(t, p, true)
		a, _ := json.Marshal(rs)
		for _, n := range []int{2, 3, 8} {
			sh, rsh := emittedCfg(t, p, pipeline.Config{TCP: tcpstate.DefaultConfig(), Shards: n})
			if len(seq) != len(sh) {
				t.Errorf("%s: sequential emitted %d records, %d shards %d", p, len(seq), n, len(sh))
				continue
			}
			for i := range seq {
				if seq[i] != sh[i] {
					t.Errorf("%s: record %d differs with %d shards:\nsequential %.300s\nsharded    %.300s", p, i, n, seq[i], sh[i])
					break
				}
			}
			if b, _ := json.Marshal(rsh); string(a) != string(b) {
				t.Errorf("%s: results differ with %d shards:\n%s\n%s", p, n, a, b)
			}
			// Lines: encoded on the shards, renumbered by the merger.
			want := ndjsonLines(t, p, pipeline.Config{TCP: tcpstate.DefaultConfig(), Sequential: true})
			got := ndjsonLines(t, p, pipeline.Config{TCP: tcpstate.DefaultConfig(), Shards: n, Transient: true})
			if got != want {
				t.Errorf("%s: NDJSON lines differ with %d shards (%d bytes, want %d)", p, n, len(got), len(want))
			}
		}
	}
}

// ndjsonLines runs a capture as the CLI's --format ndjson does and returns
// the lines.
func ndjsonLines(tb testing.TB, path string, cfg pipeline.Config) string {
	tb.Helper()
	src, err := capture.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	var out bytes.Buffer
	nd := render.NewNDJSON(&out)
	cfg.Lines = &pipeline.Lines{
		NewEncoder: func() func([]byte, *httpflow.Connection) ([]byte, error) { return new(render.LineEncoder).Append },
		Write: func(line []byte, err error) {
			if err != nil {
				tb.Fatalf("%s: %v", path, err)
			}
			nd.Write(line)
		},
	}
	if _, err := pipeline.Run(src, cfg, func(c *httpflow.Connection) { nd.Connection(c) }); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return out.String()
}

// With RunConfig.Transient the records' memory is reused from one record
// to the next; each record, encoded when emitted, is still the same.
func TestTransientRecordsEqualFresh(t *testing.T) {
	for _, p := range captures(t) {
		for _, seq := range []bool{true, false} {
			fresh, _ := emittedCfg(t, p, pipeline.Config{TCP: tcpstate.DefaultConfig(), Sequential: seq})
			reused, _ := emittedCfg(t, p, pipeline.Config{TCP: tcpstate.DefaultConfig(), Sequential: seq, Transient: true})
			if len(fresh) != len(reused) {
				t.Errorf("%s (sequential %v): %d records, %d with Transient", p, seq, len(fresh), len(reused))
				continue
			}
			for i := range fresh {
				if fresh[i] != reused[i] {
					t.Errorf("%s (sequential %v): record %d differs with Transient:\nfresh  %.300s\nreused %.300s", p, seq, i, fresh[i], reused[i])
					break
				}
			}
		}
	}
}

// BenchmarkPipeline runs the whole analysis over every sample and corpus
// capture (or HTTPLIFE_BIG_CAPTURE), sequentially and pipelined.
func BenchmarkPipeline(b *testing.B) {
	paths := captures(b)
	if big := os.Getenv("HTTPLIFE_BIG_CAPTURE"); big != "" {
		paths = []string{big}
	}
	var size int64
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil {
			size += st.Size()
		}
	}
	for _, mode := range []struct {
		name   string
		seq    bool
		shards int
	}{{"sequential", true, 0}, {"pipelined", false, -1}, {"sharded-2", false, 2}, {"sharded-4", false, 4}} {
		b.Run(mode.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				for _, p := range paths {
					src, err := capture.Open(p)
					if err != nil {
						b.Fatal(err)
					}
					pipeline.Run(src, pipeline.Config{TCP: tcpstate.DefaultConfig(), Sequential: mode.seq, Shards: mode.shards}, nil)
					src.Close()
				}
			}
		})
	}
}
