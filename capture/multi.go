package capture

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Options say how OpenInputs reads its inputs.
type Options struct {
	// Filter is a tcpdump (pcap-filter(7)) expression: only the packets
	// it accepts are analysed, as tcpdump -r would show them. It is
	// compiled with capture/bpf for each link type met; the packets it
	// rejects are counted in Stats.Filtered. "" for none.
	Filter string
	// NoRotated reads only the files named, not the rest of a rotated set
	// (see Inputs).
	NoRotated bool
	// MaxOpen caps the files open at once (0: DefaultMaxOpen). Files are
	// opened when the merge reaches their first packet and closed at
	// their end, so only files that overlap in time are open together.
	MaxOpen int
	// Stdin is read for "-" (nil: os.Stdin).
	Stdin io.Reader
	// Expanded, when set, is called with the files the arguments expand
	// to, before any is opened (the CLI prepares its heap by their size).
	Expanded func(files []string)
}

// DefaultMaxOpen is Options.MaxOpen's default.
const DefaultMaxOpen = 64

// Secrets is implemented by the file sources: the TLS key logs (NSS key
// log text, "CLIENT_RANDOM ...") of the pcapng Decryption Secrets Blocks
// read so far, in file order. For internal/tlsrec.KeyLog.AddDSB.
type Secrets interface {
	Secrets() [][]byte
}

// Partial is implemented by the sources of OpenInputs. Failed returns an
// *InputError when a file of a multi-file input could not be opened or
// read to the end for another reason than a truncation (it is named in
// the warnings; the other files were read); nil otherwise.
type Partial interface {
	Failed() error
}

// InputError lists the files of a multi-file input that could not be
// read, with why.
type InputError struct {
	Failed []string // "file: reason"
	Files  int      // the files of the input
}

func (e *InputError) Error() string {
	return fmt.Sprintf("%d of %d input files could not be read completely: %s", len(e.Failed), e.Files, strings.Join(e.Failed, "; "))
}

// OpenInputs opens what the arguments name (see Inputs) as one Source:
// a single file as Open does; several merged by timestamp into one stream
// in time order. A pcapng file whose section describes several interfaces
// before its first packet is merged by interface in the same way, as
// mergecap would write it (each interface's packets in their order in the
// file; equal times in file order; interfaces described after the first
// packet, or in a later section, are read with the last one described
// before it), unless it is standard input. Packet numbers (Segment.N)
// count the records of the whole merged input; warnings about a packet
// name its file and its number in that file ("file F: packet n"; "packet
// n" for one file of several interfaces). A file that cannot be opened
// or breaks is reported in the warnings and the others are read (see
// Partial). Errors: the *OpenError of Inputs or of a single file (or of
// the first when no file can be opened), a *FilterError when the filter
// does not compile for a file's link type.
func OpenInputs(args []string, o Options) (Source, error) {
	files, notes, err := Inputs(args, o.NoRotated)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, openErr("", nil, "no capture file given")
	}
	if o.Expanded != nil {
		o.Expanded(files)
	}
	filt := newPktFilter(o.Filter)
	if len(files) == 1 {
		var src Source
		if files[0] == "-" {
			in := o.Stdin
			if in == nil {
				in = os.Stdin
			}
			src, err = OpenReader("-", in)
		} else {
			src, err = Open(files[0])
		}
		if err != nil {
			return nil, err
		}
		s := src.(*source)
		if n := s.interfaces(); n > 1 && files[0] != "-" {
			// Merged by interface, below.
			s.Close()
		} else {
			return s.single(filt, o.Filter, notes)
		}
	}
	return openMerged(args, files, notes, filt, o)
}

// single finishes OpenInputs for one file read as it is.
func (s *source) single(filt *pktFilter, expr string, notes []string) (Source, error) {
	if filt != nil {
		err := filt.check(s)
		if err == nil {
			err = filt.allNone(s.name)
		}
		if err != nil {
			s.Close()
			return nil, err
		}
		s.filt, s.stats.Filter = filt, expr
	}
	s.inputNotes = notes
	return s, nil
}

// interfaces is the number of interfaces a pcapng file describes before
// its first packet; 0 for pcap.
func (s *source) interfaces() int {
	if s.ng == nil {
		return 0
	}
	return len(s.ng.ifaces)
}

// openMerged finishes OpenInputs for several files, or one pcapng file
// of several interfaces: each file, and each interface of a pcapng file
// that describes several (dumpcap -i a -i b writes each interface's
// packets in batches, out of time order), is a member of the merge.
func openMerged(args, files, notes []string, filt *pktFilter, o Options) (Source, error) {
	m := &multiSource{arg: args[0], notes: notes, maxOpen: o.MaxOpen, comments: maxComments, nfiles: len(files), single: len(files) == 1}
	if m.maxOpen <= 0 {
		m.maxOpen = DefaultMaxOpen
	}
	m.acct.name, m.acct.byFile = args[0], m.single
	if filt != nil {
		m.acct.filt, m.acct.stats.Filter = filt, o.Filter
	}
	var firstErr error
	for i, p := range files {
		f := &member{path: p, idx: i, iface: -1}
		s, err := openFile(p, probeSize)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			m.fail(f, err, errors.Is(err, ErrEmpty))
			continue
		}
		if filt != nil {
			if err := filt.check(s); err != nil {
				s.Close()
				return nil, err
			}
		}
		// The time of the first packet orders the files; the file is
		// opened again when the merge reaches it. The readers of a
		// file's interfaces open with it.
		n := s.interfaces()
		_, ts, _, _, rerr := s.record()
		f.first, f.empty = ts, rerr != nil
		s.Close()
		m.pend = append(m.pend, f)
		if n > 1 && p != "-" {
			f.iface = 0
			for k := 1; k < n; k++ {
				m.pend = append(m.pend, &member{path: p, idx: i, iface: k, of: f, first: f.first, empty: f.empty, last: k == n-1})
			}
		}
	}
	if len(m.pend) == 0 {
		return nil, firstErr
	}
	if filt != nil {
		if err := filt.allNone(m.pend[0].path); err != nil {
			return nil, err
		}
	}
	// Files without a packet first (they are only read for their
	// warnings), then by first packet, in the order given for equal times.
	slices.SortStableFunc(m.pend, func(a, b *member) int {
		switch {
		case a.empty != b.empty:
			if a.empty {
				return -1
			}
			return 1
		case a.empty:
			return 0
		}
		return a.first.Compare(b.first)
	})
	return m, nil
}

// multiSource merges the packet records of several files by timestamp
// (a k-way merge over each open file's next record) and decodes them with
// one decoder, so that fragments, counters and packet numbers are those
// of one capture.
//
// Holder: a segment's payload lies in a block of its file's reader (or,
// as for one file, in none). A file's reader is only read again after the
// segment taken from its last record was returned and the caller had its
// chance to retain that block, so the blocks of the records waiting in the
// merge stay as they are.
type multiSource struct {
	acct    source    // decodes, filters and counts the merged stream
	arg     string    // the first argument as given: Stats.Source
	pend    []*member // not yet opened, in the order to open them
	heap    []*member // open, each with its next record: a min-heap by time
	opened  []*member // every file opened, in that order
	cur     *member   // the file of the record taken last
	maxOpen int
	nfiles  int
	notes   []string // the inputs' notes, files that could not be opened
	failed  []string
	// comments is the number of packet comments still kept (all files).
	comments int
	crowded  bool // files were opened late: more than maxOpen overlapped
	// single: one file, merged by interface (Stats says so, and lists
	// no files)
	single bool
	err    error
	stats  Stats
}

// member is one file of a multiSource.
type member struct {
	path  string
	idx   int // in the order given: equal times are taken in this order
	first time.Time
	empty bool // no packet was found when the file was first opened
	src   *source
	// iface is the pcapng interface whose packets this member reads, -1
	// for all of them. A file of several interfaces has a member per
	// interface; of is the member of interface 0 (nil on that one),
	// which keeps what the file says.
	iface int
	of    *member
	last  bool // the member of the file's last interface
	// The next record.
	data []byte
	ts   time.Time
	wire int
	link uint32
}

func (m *multiSource) fail(f *member, err error, empty bool) {
	if empty {
		m.notes = append(m.notes, err.Error()+": skipped")
		return
	}
	m.notes = append(m.notes, err.Error()+"; the other files were read")
	m.failed = append(m.failed, err.Error())
}

// Next returns the next segment in time order.
func (m *multiSource) Next() (*Segment, error) {
	if m.err != nil {
		return nil, m.err
	}
	for {
		if f := m.cur; f != nil {
			m.cur = nil
			if m.advance(f) {
				m.down(0)
			} else {
				m.pop()
			}
		}
		m.openDue()
		if len(m.heap) == 0 {
			m.err = io.EOF
			return nil, io.EOF
		}
		f := m.heap[0]
		m.cur = f
		m.acct.fileN = f.src.recs
		if !m.single {
			m.acct.file = f.path
		}
		if seg := m.acct.take(f.link, f.data, f.ts, f.wire); seg != nil {
			return seg, nil
		}
	}
}

// openDue opens the files whose first packet the merge has reached.
func (m *multiSource) openDue() {
	for len(m.pend) > 0 {
		p := m.pend[0]
		if len(m.heap) > 0 && !p.empty && p.first.After(m.heap[0].ts) {
			return
		}
		if len(m.heap) >= m.maxOpen {
			if !m.crowded {
				m.crowded = true
				m.notes = append(m.notes, fmt.Sprintf("more than %d files overlap in time: those past the limit are read when another ends, out of time order", m.maxOpen))
			}
			return
		}
		m.pend = m.pend[1:]
		src, err := Open(p.path)
		if err != nil { // it opened a moment ago
			m.fail(p, err, false)
			continue
		}
		s := src.(*source)
		s.commentsLeft = &m.comments
		if !m.single {
			s.file = p.path
		}
		if p.iface >= 0 && s.ng != nil {
			// The last interface's member also reads those described
			// later (after the first packet, or in a later section,
			// whose interface ids start again at 0).
			s.ng.only, s.ng.rest = p.iface, p.last
			if p.of != nil {
				s.ng.quiet, s.ng.notes = true, nil
				s.primary = p.of.src
			}
		}
		p.src = s
		m.opened = append(m.opened, p)
		if m.advance(p) {
			m.heap = append(m.heap, p)
			m.up(len(m.heap) - 1)
		}
	}
}

// advance reads f's next record; at the end of the file it closes it and
// returns false.
func (m *multiSource) advance(f *member) bool {
	var err error
	f.data, f.ts, f.wire, f.link, err = f.src.record()
	if err == nil {
		return true
	}
	f.data = nil
	switch {
	case f.of != nil: // the reader of interface 0 reports
	case err != io.EOF: // an I/O error
		msg := fmt.Sprintf("%v after packet %d; stopped reading it", err, f.src.recs)
		m.notes = append(m.notes, msg)
		m.failed = append(m.failed, msg)
	case f.src.corrupt && !m.single: // one file: a warning, as when read alone
		m.failed = append(m.failed, f.src.final[len(f.src.final)-1])
	}
	f.src.Close()
	f.src.release() // the blocks the caller still holds live on without the reader
	return false
}

func (m *multiSource) less(i, j int) bool {
	a, b := m.heap[i], m.heap[j]
	if c := a.ts.Compare(b.ts); c != 0 {
		return c < 0
	}
	if a.idx != b.idx {
		return a.idx < b.idx
	}
	return a.src.recs < b.src.recs // one file's interfaces: in file order
}

func (m *multiSource) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !m.less(i, p) {
			return
		}
		m.heap[i], m.heap[p] = m.heap[p], m.heap[i]
		i = p
	}
}

func (m *multiSource) down(i int) {
	n := len(m.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && m.less(r, l) {
			c = r
		}
		if !m.less(c, i) {
			return
		}
		m.heap[i], m.heap[c] = m.heap[c], m.heap[i]
		i = c
	}
}

func (m *multiSource) pop() {
	n := len(m.heap) - 1
	m.heap[0] = m.heap[n]
	m.heap[n] = nil
	m.heap = m.heap[:n]
	if n > 0 {
		m.down(0)
	}
}

// PayloadBlock implements Holder.
func (m *multiSource) PayloadBlock() *Block {
	f := m.cur
	if f == nil || f.src == nil || !f.src.inBlock || m.acct.dec.detached {
		return nil
	}
	return f.src.br.block()
}

// Stats returns the statistics of the merged input so far: the merged
// stream's counters, the files' bytes and drop counts summed, and the
// warnings of the input, the merged stream and each file.
func (m *multiSource) Stats() *Stats {
	a := &m.acct.stats
	st := &m.stats
	*st = *a
	st.Source = m.arg
	st.Format = ""
	st.Bytes, st.Dropped, st.DropCounts = 0, 0, false
	st.Files = st.Files[:0]
	w := append([]string(nil), m.notes...)
	w = append(w, m.acct.warningList()...)
	var back uint64
	var backFiles int
	var backFirst *source
	var backMax time.Duration
	for _, f := range m.opened {
		if b := &f.src.steps; b.n > 0 {
			back += b.n
			if f.of == nil || f.of.src.steps.n == 0 {
				backFiles++
			}
			backMax = max(backMax, b.most)
			if backFirst == nil {
				backFirst = f.src
			}
		}
		if f.of != nil {
			continue // its file's is counted on interface 0's member
		}
		if f.iface >= 0 && f.src.ng != nil && f.src.ng.steps.n > 0 {
			w = append(w, mergedWarning(f.src))
		}
		fs := f.src.Stats()
		if st.Format == "" {
			st.Format = fs.Format
		}
		st.Bytes += fs.Bytes
		if fs.DropCounts {
			st.Dropped += fs.Dropped
			st.DropCounts = true
		}
		st.Files = append(st.Files, f.path)
		w = append(w, fs.Warnings...)
	}
	if back > 0 {
		w = append(w, backwardsWarning(back, backFiles, backFirst.name, backFirst.steps.at, backMax))
	}
	if len(w) == 0 {
		w = nil
	}
	st.Warnings = w
	if m.single {
		st.Files = nil
	}
	return st
}

// mergedWarning says that the packets of the interfaces of s's file were
// merged in time order, and how far from it the file's order was.
func mergedWarning(s *source) string {
	ng, b := s.ng, &s.ng.steps
	times := "times"
	if b.n == 1 {
		times = "time"
	}
	return fmt.Sprintf("file %s: the packets of its %d interfaces are analysed merged in time order, as mergecap would write them: in the file their timestamps go backwards %d %s (first at packet %d, at most %v back: dumpcap -i a -i b writes each interface's packets in batches)",
		displayName(s.name), len(ng.ifaces), b.n, times, b.at, b.most)
}

// Secrets implements Secrets.
func (m *multiSource) Secrets() [][]byte {
	var out [][]byte
	for _, f := range m.opened {
		out = append(out, f.src.Secrets()...)
	}
	return out
}

// Failed implements Partial.
func (m *multiSource) Failed() error {
	if len(m.failed) == 0 {
		return nil
	}
	return &InputError{Failed: slices.Clone(m.failed), Files: m.nfiles}
}

// Failed implements Partial: a single file is never partial (its
// problems are warnings, or Next's error).
func (s *source) Failed() error { return nil }

// Close closes the files still open.
func (m *multiSource) Close() error {
	m.err = errors.New("capture: Next called after Close")
	var first error
	for _, f := range m.heap {
		if err := f.src.Close(); err != nil && first == nil {
			first = err
		}
	}
	m.heap = nil
	m.cur = nil
	return first
}
