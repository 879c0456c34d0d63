package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/httplife/httplife/internal/pipeline"
)

// progressLine draws "\r 45% 345 MB of 763 MB, 1.2 M packets/s, 1234 open"
// on a terminal at most every 250 ms. It is safe to call from the reader
// goroutine.
type progressLine struct {
	mu      sync.Mutex
	w       io.Writer
	total   int64 // bytes in the file, 0 when unknown (stdin, gzip)
	start   time.Time
	last    time.Time
	drawn   bool
	nowFunc func() time.Time
}

func (p *progressLine) update(pr pipeline.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.nowFunc()
	if now.Sub(p.last) < 250*time.Millisecond {
		return
	}
	p.last = now
	rate := 0.0
	if el := now.Sub(p.start).Seconds(); el > 0 {
		rate = float64(pr.Packets) / el
	}
	where := fmt.Sprintf("%s read", mb(int64(pr.Bytes)))
	if p.total > 0 && int64(pr.Bytes) <= p.total {
		where = fmt.Sprintf("%3d%% %s of %s", int64(pr.Bytes)*100/p.total, mb(int64(pr.Bytes)), mb(p.total))
	}
	fmt.Fprintf(p.w, "\r%s, %.2f M packets/s, %d connections open \x1b[K", where, rate/1e6, pr.Open)
	p.drawn = true
}

// done erases the line.
func (p *progressLine) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func mb(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }

// isTerminal reports whether w is a terminal (a character device other
// than /dev/null).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}

// newProgress returns a progress line for path on errOut, or nil when
// errOut is not a terminal.
func newProgress(errOut io.Writer, path string) *progressLine {
	if !isTerminal(errOut) {
		return nil
	}
	p := &progressLine{w: errOut, nowFunc: time.Now}
	p.start = p.nowFunc()
	if st, err := os.Stat(path); err == nil && path != "-" && st.Mode().IsRegular() {
		p.total = st.Size()
	}
	return p
}
