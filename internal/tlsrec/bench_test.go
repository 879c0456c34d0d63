package tlsrec

import (
	"path/filepath"
	"testing"
	"time"
)

// nopHandler counts what it is given, like a caller that keeps little.
type nopHandler struct{ records, plain int }

func (h *nopHandler) Record(d Dir, r Record)                           { h.records++ }
func (h *nopHandler) Plaintext(d Dir, b []byte, first, last time.Time) { h.plain += len(b) }

// benchStream is a recorded connection's events (nginx, curl, TLS 1.3, three
// requests; plus the TLS 1.2 CBC capture's connections).
func benchEvents(b *testing.B, name string) ([]capEvent, int64) {
	cp := readCapture(b, filepath.Join(samplesDir, name))
	var evs []capEvent
	var n int64
	for _, cn := range cp.conns {
		for _, e := range cn.events {
			if len(e.b) > 0 {
				evs = append(evs, e)
				n += int64(len(e.b))
			}
		}
	}
	return evs, n
}

func benchmarkConn(b *testing.B, name string, keys *KeyLog) {
	evs, n := benchEvents(b, name)
	b.SetBytes(n)
	b.ReportAllocs()
	h := &nopHandler{}
	for b.Loop() {
		c := NewConn(h, keys)
		for _, e := range evs {
			c.Data(e.d, e.b, e.t)
		}
	}
}

// The no-keys path: record framing, hellos parsed, application data skipped.
func BenchmarkNoKeys(b *testing.B) { benchmarkConn(b, "nginx-tls-race.pcap", nil) }

// With keys: every record decrypted (AES-256-GCM).
func BenchmarkWithKeys(b *testing.B) {
	benchmarkConn(b, "nginx-tls-race.pcap", loadKeys(b, filepath.Join(samplesDir, "nginx-tls-race.keys")))
}

// Application data alone after the handshake: no allocation per record.
func TestNoKeysAppDataAllocs(t *testing.T) {
	evs, _ := rfc8448Events(t)
	c := NewConn(&nopHandler{}, nil)
	for _, e := range evs[:5] {
		c.Data(e.d, e.b, e.t)
	}
	app := evs[5].b
	allocs := testing.AllocsPerRun(1000, func() {
		c.Data(ClientToServer, app[:3], evs[5].t)
		c.Data(ClientToServer, app[3:], evs[5].t)
		c.Data(ServerToClient, evs[6].b, evs[6].t)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per application-data record pair without keys, want 0", allocs)
	}
}

// A long-lived connection: the RFC 8448 handshake, then 16 KiB application
// data records (their ciphertext is not looked at without keys).
func BenchmarkNoKeysAppData(b *testing.B) {
	evs, _ := rfc8448Events(b)
	rec := make([]byte, 5+16384+17)
	copy(rec, []byte{23, 3, 3, byte((16384 + 17) >> 8), byte((16384 + 17) & 0xff)})
	seg := make([]byte, 0, 64*1024)
	for len(seg)+len(rec) <= cap(seg) {
		seg = append(seg, rec...)
	}
	b.SetBytes(int64(len(seg)))
	b.ReportAllocs()
	c := NewConn(&nopHandler{}, nil)
	for _, e := range evs[:6] {
		c.Data(e.d, e.b, e.t)
	}
	t := evs[5].t
	for b.Loop() {
		// TCP-sized pieces that do not align with the records
		for i := 0; i < len(seg); i += 1448 {
			c.Data(ServerToClient, seg[i:min(i+1448, len(seg))], t)
		}
	}
}
