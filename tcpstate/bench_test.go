package tcpstate

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/httplife/httplife/capture"
)

// nopStream takes what the table delivers and drops it.
type nopStream struct{}

func (nopStream) Data(Dir, []byte, time.Time) {}
func (nopStream) Gap(Dir, int, time.Time)     {}
func (nopStream) FIN(Dir, time.Time)          {}
func (nopStream) RST(Dir, time.Time)          {}
func (nopStream) Done(*Conn)                  {}

// loadSegments decodes captures into memory (payloads copied), so that the
// benchmark measures the table alone.
func loadSegments(b *testing.B) []capture.Segment {
	paths, _ := filepath.Glob("../samples/*.pcap")
	more, _ := filepath.Glob("../../shared/corpus/*.pcap")
	paths = append(paths, more...)
	if big := os.Getenv("HTTPLIFE_BIG_CAPTURE"); big != "" {
		paths = []string{big}
	}
	var segs []capture.Segment
	for _, p := range paths {
		src, err := capture.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		for {
			s, err := src.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			c := *s
			c.Payload = append([]byte(nil), s.Payload...)
			segs = append(segs, c)
		}
		src.Close()
	}
	return segs
}

// BenchmarkTable feeds the samples' and corpus's segments (or
// HTTPLIFE_BIG_CAPTURE's) through a connection table: TCP state and
// reassembly, no HTTP.
func BenchmarkTable(b *testing.B) {
	segs := loadSegments(b)
	var bytes int64
	for i := range segs {
		bytes += int64(len(segs[i].Payload))
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	for b.Loop() {
		tab := NewTable(DefaultConfig(), func(*Conn) Stream { return nopStream{} })
		for i := range segs {
			tab.Add(&segs[i])
		}
		tab.Flush()
	}
	b.ReportMetric(float64(len(segs))*float64(b.N)/b.Elapsed().Seconds(), "segments/s")
}
