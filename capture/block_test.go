package capture

import (
	"bytes"
	"io"
	"math/rand"
	"testing"
	"testing/iotest"
)

// A blockReader returns the input's bytes in order whatever mix of Peek,
// Discard and Read consumes them, and never overwrites the bytes of a block
// that someone still holds.
func TestBlockReader(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		input int
		wrap  func(io.Reader) io.Reader
	}{
		{"plain", 64, 5000, func(r io.Reader) io.Reader { return r }},
		{"one byte reads", 64, 3000, iotest.OneByteReader},
		{"half reads", 100, 5000, iotest.HalfReader},
		{"big blocks", 4096, 20000, iotest.DataErrReader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(1))
			in := make([]byte, tc.input)
			rng.Read(in)
			br := newBlockReader(tc.wrap(bytes.NewReader(in)), tc.size)
			type held struct {
				blk  *Block
				data []byte
				want []byte
			}
			var holds []held
			pos := 0
			for step := 0; pos < len(in); step++ {
				n := 1 + rng.Intn(tc.size)
				switch rng.Intn(3) {
				case 0: // Peek, keep the bytes, Discard
					p, err := br.Peek(n)
					want := in[pos:min(pos+n, len(in))]
					if !bytes.Equal(p, want) {
						t.Fatalf("step %d: Peek(%d) at %d = %d bytes (err %v), want %d bytes equal to the input", step, n, pos, len(p), err, len(want))
					}
					if rng.Intn(2) == 0 {
						blk := br.block()
						blk.Retain()
						holds = append(holds, held{blk, p, append([]byte(nil), p...)})
					}
					br.Discard(len(p))
					pos += len(p)
				case 1:
					k, _ := br.Discard(n)
					if k != min(n, len(in)-pos) {
						t.Fatalf("step %d: Discard(%d) at %d = %d", step, n, pos, k)
					}
					pos += k
				case 2:
					p := make([]byte, n)
					k, err := br.Read(p)
					if err != nil && err != io.EOF {
						t.Fatalf("step %d: Read: %v", step, err)
					}
					if !bytes.Equal(p[:k], in[pos:pos+k]) {
						t.Fatalf("step %d: Read at %d returned other bytes", step, pos)
					}
					pos += k
				}
				// Release the oldest holds now and then, checking they were
				// never overwritten.
				for len(holds) > 0 && rng.Intn(3) == 0 {
					h := holds[0]
					if !bytes.Equal(h.data, h.want) {
						t.Fatalf("step %d: a held block was overwritten", step)
					}
					h.blk.Release()
					holds = holds[1:]
				}
			}
			for _, h := range holds {
				if !bytes.Equal(h.data, h.want) {
					t.Fatalf("a held block was overwritten")
				}
				h.blk.Release()
			}
			if p, err := br.Peek(1); len(p) != 0 || err == nil {
				t.Fatalf("Peek at the end = %q, %v; want nothing and an error", p, err)
			}
		})
	}
}

func TestBlockReleasedTooOften(t *testing.T) {
	br := newBlockReader(bytes.NewReader(nil), 16)
	b := br.block()
	b.Release() // the reader's own reference
	defer func() {
		if recover() == nil {
			t.Fatal("a second Release did not panic")
		}
	}()
	b.Release()
}
