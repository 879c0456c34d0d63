package tlsrec

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// loadHex reads a testdata file of "== NAME" sections of hex octets.
func loadHex(t testing.TB, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	var name string
	var sb strings.Builder
	flush := func() {
		if name == "" {
			return
		}
		b, err := hex.DecodeString(sb.String())
		if err != nil {
			t.Fatalf("%s: section %s: %v", path, name, err)
		}
		out[name] = b
		sb.Reset()
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "=="):
			flush()
			name = strings.TrimSpace(l[2:])
		default:
			sb.WriteString(strings.Join(strings.Fields(l), ""))
		}
	}
	flush()
	return out
}

// recorder is a Handler that keeps everything it is given.
type recorder struct {
	recs  []dirRecord
	plain [2][]byte
	chunk []plainChunk
}

type dirRecord struct {
	d Dir
	r Record
}

type plainChunk struct {
	d           Dir
	n           int
	first, last time.Time
}

func (h *recorder) Record(d Dir, r Record) { h.recs = append(h.recs, dirRecord{d, r}) }
func (h *recorder) Plaintext(d Dir, b []byte, first, last time.Time) {
	h.plain[d] = append(h.plain[d], b...)
	h.chunk = append(h.chunk, plainChunk{d, len(b), first, last})
}

// summary is a one-line-per-record description, for comparing runs.
func (h *recorder) summary() string {
	var sb strings.Builder
	for _, x := range h.recs {
		r := x.r
		fmt.Fprintf(&sb, "%s %s/%s sure=%v len=%d off=%d enc=%v dec=%v alert=%v plain=%d\n",
			x.d, r.Type, r.Inner, r.Sure, r.Len, r.Offset, r.Encrypted, r.Decrypted, r.Alert, r.Plain)
	}
	fmt.Fprintf(&sb, "client plain %x\nserver plain %x\n", h.plain[0], h.plain[1])
	return sb.String()
}

// event is one Data call.
type event struct {
	d Dir
	b []byte
	t time.Time
}

func run(evs []event, keys *KeyLog) (*recorder, Info) {
	h := &recorder{}
	c := NewConn(h, keys)
	for _, e := range evs {
		c.Data(e.d, e.b, e.t)
	}
	return h, c.Info()
}

func mustKeyLog(t testing.TB, text string) *KeyLog {
	t.Helper()
	k, err := ParseKeyLog(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
