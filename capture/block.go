package capture

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// Block is a piece of the input that segment payloads point into. The
// reader holds one reference while it reads from the block; a consumer
// that keeps payloads past the next call to Next takes its own with Retain
// (see Holder) and calls Release when it is done with them. A block whose
// last reference is released is reused for later input.
type Block struct {
	buf  []byte
	refs atomic.Int32
	pool *blockPool
}

// Retain adds a reference: the block's bytes stay as they are until the
// matching Release.
func (b *Block) Retain() { b.refs.Add(1) }

// Release drops a reference taken with Retain.
func (b *Block) Release() {
	switch n := b.refs.Add(-1); {
	case n == 0:
		b.pool.put(b)
	case n < 0:
		panic("capture: Block released more often than retained")
	}
}

// Holder is implemented by sources that can keep a segment's payload valid
// past the next call to Next, so that a consumer on another goroutine need
// not copy it.
//
// Call order: after Next returns a segment, PayloadBlock says which block
// its payload points into (nil when it is in none: copy the payload then).
// Retain the block before the following call to Next and Release it when
// done with the payload.
type Holder interface {
	PayloadBlock() *Block
}

// blockPool keeps released blocks for reuse.
type blockPool struct {
	mu   sync.Mutex
	free []*Block
	size int
}

// maxFreeBlocks bounds the memory idle blocks keep. A consumer that holds
// blocks (the pipelined analysis: a few batches of about a block each)
// finds them here again instead of having new memory faulted in.
const maxFreeBlocks = 16

// maxRead caps one read from the input. Each read is a system call, which
// costs several microseconds in a VM; the bytes read stay in the CPU's
// cache as long as the blocks in use at once do (see bufSize).
const maxRead = 512 << 10

func (p *blockPool) get() *Block {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		b.refs.Store(1)
		return b
	}
	p.mu.Unlock()
	b := &Block{buf: make([]byte, p.size), pool: p}
	b.refs.Store(1)
	return b
}

func (p *blockPool) put(b *Block) {
	p.mu.Lock()
	if len(p.free) < maxFreeBlocks {
		p.free = append(p.free, b)
	}
	p.mu.Unlock()
}

var errNegativeRead = errors.New("capture: reader returned a negative count")

// blockReader is a buffered reader, like bufio.Reader, that never
// overwrites bytes it handed out: when the unread bytes must move to make
// room, they are copied into a fresh block and the old block is released,
// so payloads that point into it stay valid while a consumer holds it.
type blockReader struct {
	rd   io.Reader
	pool blockPool
	blk  *Block
	r, w int   // read and write positions in blk.buf
	err  error // sticky error of rd
}

func newBlockReader(rd io.Reader, size int) *blockReader {
	b := &blockReader{rd: rd}
	b.pool.size = size
	b.blk = b.pool.get()
	return b
}

// Size returns the size of the blocks: the longest Peek possible.
func (b *blockReader) Size() int { return len(b.blk.buf) }

// Buffered returns the number of bytes read from rd but not yet consumed.
func (b *blockReader) Buffered() int { return b.w - b.r }

// block returns the current block: slices that Peek returned since the
// last fill point into it.
func (b *blockReader) block() *Block { return b.blk }

// fill reads once from rd, first moving the unread bytes to a new block
// when fewer than need bytes fit after them in this one.
func (b *blockReader) fill(need int) {
	if len(b.blk.buf)-b.r < need {
		nb := b.pool.get()
		b.w = copy(nb.buf, b.blk.buf[b.r:b.w])
		b.r = 0
		old := b.blk
		b.blk = nb
		old.Release()
	}
	for i := 0; i < 100; i++ {
		n, err := b.rd.Read(b.blk.buf[b.w:min(len(b.blk.buf), b.w+max(maxRead, need-(b.w-b.r)))])
		if n < 0 {
			b.err = errNegativeRead
			return
		}
		b.w += n
		if err != nil {
			b.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	b.err = io.ErrNoProgress
}

// Peek returns the next n bytes without consuming them; fewer, with the
// reader's error, at the end of the input. The bytes stay valid as long as
// the block holding them (block) is.
func (b *blockReader) Peek(n int) ([]byte, error) {
	if n > len(b.blk.buf) {
		n = len(b.blk.buf)
	}
	for b.w-b.r < n && b.err == nil {
		b.fill(n)
	}
	if b.w-b.r < n {
		return b.blk.buf[b.r:b.w], b.err
	}
	return b.blk.buf[b.r : b.r+n], nil
}

// Discard skips the next n bytes and returns how many it skipped.
func (b *blockReader) Discard(n int) (int, error) {
	done := 0
	for {
		k := min(n-done, b.w-b.r)
		b.r += k
		done += k
		if done == n || b.err != nil {
			if done < n {
				return done, b.err
			}
			return done, nil
		}
		b.fill(1)
	}
}

// Read implements io.Reader.
func (b *blockReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.r == b.w {
		if b.err != nil {
			return 0, b.err
		}
		if len(p) >= len(b.blk.buf) {
			n, err := b.rd.Read(p)
			if n < 0 {
				n, err = 0, errNegativeRead
			}
			if err != nil {
				b.err = err
			}
			return n, nil
		}
		b.fill(1)
		if b.r == b.w {
			return 0, b.err
		}
	}
	n := copy(p, b.blk.buf[b.r:b.w])
	b.r += n
	return n, nil
}
