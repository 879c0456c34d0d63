package capture

import (
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// maxWarnings is the number of warnings kept; later ones are only counted
// and summarised in one final line.
const maxWarnings = 50

// countReader counts the bytes read through it. When ioErr is set it records
// the first error other than end of file: a real I/O error of the input.
// err is the first error other than io.EOF seen (a truncated or corrupt
// gzip stream, for instance).
type countReader struct {
	r     io.Reader
	n     uint64
	ioErr *error
	err   error
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	if err != nil && err != io.EOF {
		if c.err == nil {
			c.err = err
		}
		if c.ioErr != nil && *c.ioErr == nil && err != io.ErrUnexpectedEOF {
			*c.ioErr = err
		}
	}
	return n, err
}

// source reads a pcap or pcapng stream.
type source struct {
	name    string
	closer  io.Closer
	raw     *countReader // the input as given; records I/O errors
	cnt     *countReader // the decompressed stream (raw when not compressed)
	br      *blockReader
	unz     io.ReadCloser // the decompressor of a compressed file; nil when plain
	unzName string        // its compression's name
	ioErr   error

	ng *ngReader // pcapng files; nil for pcap

	// pcap files, read here rather than by pcapgo.Reader (faster, and
	// tolerant of records longer than the header's snaplen)
	bigEndian bool
	nanos     bool
	hdrLen    int
	limit     int
	link      uint32
	big       []byte // buffer for records longer than a block
	inBlock   bool   // the last record read lies in br's current block

	seg      Segment
	dec      decoder
	stats    Stats
	err      error // sticky end of stream
	lastLink uint32
	links    []uint32

	// recs counts the packet records taken (those a filter rejected too):
	// the number of the last one, Segment.N.
	recs uint64
	filt *pktFilter // nil: every packet passes

	// file and fileN, when file is set, say where the packet being taken
	// lies: its file and its number there (a multi-file source's
	// decoding source). file is also set on a multi-file source's
	// readers, which name their file in their warnings.
	file  string
	fileN uint64
	// byFile: the packet being taken is numbered fileN in warnings, with
	// file "" (a multiSource of one file's interfaces)
	byFile bool

	// What the file says about itself, for its warnings and Stats.
	steps    backSteps // the records' timestamps, in the order read
	llErr    uint64    // packets flagged with link-layer errors (pcapng epb_flags)
	llErrAt  uint64
	llBits   uint32   // the error bits seen
	drops    uint64   // packets lost, by the packets' drop counts (pcapng)
	dropsAt  uint64   // the first packet with a drop count > 0
	dropsOK  bool     // a packet had a drop count
	comments []string // packet comments, at most maxComments
	// commentsLeft is the number of packet comments still kept; a
	// multi-file source's readers share their source's.
	commentsLeft *int
	moreComments uint64
	corrupt      bool // reading stopped at corrupt data (not a truncation)
	// primary, on the reader of one interface of a pcapng file other
	// than the first (multiSource), is the reader of the first: what
	// this one's packets say (comments, errors, drop counts) is kept
	// there, and this one's own warnings are not shown.
	primary *source
	// inputNotes are OpenInputs's notes about the input (the first
	// warnings).
	inputNotes []string

	warnings  []string // per-packet warnings, at most maxWarnings
	final     []string // end-of-stream warnings, always kept
	once      map[string]bool
	moreBad   uint64 // warnings not kept, by kind
	moreCut   uint64
	moreOther uint64
}

// Next returns the next TCP segment, io.EOF at the end of the capture, or
// another error for a failure to read the input. The returned Segment (and
// its Payload) is reused by the next call.
func (s *source) Next() (*Segment, error) {
	if s.err != nil {
		return nil, s.err
	}
	for {
		var (
			data    []byte
			ts      time.Time
			wireLen int
			link    uint32
			err     error
		)
		if s.ng != nil {
			data, ts, wireLen, link, err = s.readNg()
		} else {
			data, ts, wireLen, err = s.readPcap()
			link = s.link
		}
		if err != nil {
			s.err = err
			return nil, err
		}
		ns := ts.UnixNano()
		if ns < s.steps.prev {
			s.steps.back(s.recs+1, ns)
		}
		s.steps.prev = ns
		if seg := s.take(link, data, ts, wireLen); seg != nil {
			return seg, nil
		}
	}
}

// record reads the next packet record without decoding it, for a
// multi-file source: its bytes (valid until the next call), time, length
// on the wire and link type. The record is counted in s.recs.
func (s *source) record() (data []byte, ts time.Time, wireLen int, link uint32, err error) {
	if s.err != nil {
		return nil, ts, 0, 0, s.err
	}
	if s.ng != nil {
		data, ts, wireLen, link, err = s.readNg()
	} else {
		data, ts, wireLen, err = s.readPcap()
		link = s.link
	}
	if err != nil {
		s.err = err
		return nil, ts, 0, 0, err
	}
	ns := ts.UnixNano()
	if ns < s.steps.prev {
		s.steps.back(s.recs+1, ns)
	}
	s.steps.prev = ns
	s.recs++
	return data, ts, wireLen, link, nil
}

// backSteps follows timestamps in the order read, for the warning about
// those that go back in time.
type backSteps struct {
	prev int64         // the previous timestamp (Unix ns; math.MinInt64 before the first)
	n    uint64        // timestamps before the previous one
	at   uint64        // the number of the first of them
	most time.Duration // the longest step back
}

// back notes that timestamp number i, ns, is before the previous one
// (the caller sets prev).
func (b *backSteps) back(i uint64, ns int64) {
	if b.n == 0 {
		b.at = i
	}
	b.n++
	b.most = max(b.most, time.Duration(b.prev-ns))
}

// take counts one packet record of link type link and decodes it: the
// segment, or nil for a packet that is skipped (counted and, where it
// applies, warned about). The live sources share it with the file reader.
func (s *source) take(link uint32, data []byte, ts time.Time, wireLen int) *Segment {
	s.recs++
	n := s.recs
	if s.filt != nil && !s.pass(link, data, wireLen) {
		s.stats.Filtered++
		return nil
	}
	s.stats.Packets++
	if s.stats.Packets == 1 {
		s.stats.FirstPacketAt, s.stats.LastPacketAt = ts, ts
		s.noteLink(link)
	} else {
		if link != s.lastLink {
			s.noteLink(link)
		}
		// The earliest and the latest time, as capinfos reports them: a
		// merged or mirrored capture is not in time order.
		if ts.After(s.stats.LastPacketAt) {
			s.stats.LastPacketAt = ts
		} else if ts.Before(s.stats.FirstPacketAt) {
			s.stats.FirstPacketAt = ts
		}
	}

	seg := &s.seg
	s.dec.n = n
	// decoder.packet, by hand: the fast path is one call shallower.
	res, p := s.dec.fast(link, data, wireLen, seg)
	switch res {
	case resTCP:
		s.dec.car.done(seg)
		s.dec.detached = false
	case resSlow:
		res, p = s.dec.slowPacket(link, data, wireLen, ts, seg)
	default:
		s.dec.detached = false
	}
	switch res {
	case resTCP:
		seg.N = n
		seg.Time = ts
		s.stats.TCPPackets++
		if len(seg.Payload) < seg.PayloadLen {
			s.stats.TruncatedPayloads++
		}
		return seg
	case resNonTCP:
		s.stats.Skipped.NonTCP++
	case resCut:
		s.stats.Skipped.Truncated++
		if len(s.warnings) < maxWarnings {
			s.warnings = append(s.warnings, fmt.Sprintf("%s: %s", s.at(n), p))
		} else {
			s.moreCut++
		}
	case resBad:
		s.stats.Skipped.Undecodable++
		if len(s.warnings) < maxWarnings {
			s.warnings = append(s.warnings, fmt.Sprintf("%s: undecodable: %s", s.at(n), p))
		} else {
			s.moreBad++
		}
	case resFragment:
		s.stats.Skipped.Fragments++
	case resFragDrop:
		s.stats.Skipped.Undecodable++
		s.warnOnce("fragment limit", fmt.Sprintf("%s: %s; later drops are only counted", s.at(n), p))
	case resLinkType:
		s.stats.Skipped.Undecodable++
		name := LinkTypeName(link)
		s.warnOnce("link "+name, fmt.Sprintf("%s: link type %s (%d) is not supported; its packets are counted as undecodable", s.at(n), name, link))
	default:
		s.stats.Skipped.Undecodable++
		s.warnOnce("internal", fmt.Sprintf("%s: internal error: decoder result %d", s.at(n), res))
	}
	return nil
}

// at says where packet n (the one being taken) is, for a warning:
// "packet n", or "file F: packet m" for a multi-file source.
func (s *source) at(n uint64) string {
	if s.file == "" && !s.byFile {
		return loc("", n)
	}
	return loc(s.file, s.fileN)
}

// loc is "packet n", or "file F: packet n" when file is set.
func loc(file string, n uint64) string {
	if file == "" {
		return "packet " + strconv.FormatUint(n, 10)
	}
	return "file " + displayName(file) + ": packet " + strconv.FormatUint(n, 10)
}

// pass runs the filter on a packet record.
func (s *source) pass(link uint32, data []byte, wireLen int) bool {
	f := s.filt
	if link != f.link || f.cur == nil {
		if err := f.use(link); err != nil {
			name := LinkTypeName(link)
			s.warnOnce("filter "+name, fmt.Sprintf("%s: the filter cannot be compiled for link type %s (%v): its packets are rejected", s.at(s.recs), name, err))
			return false
		}
	}
	if f.curInner {
		in, ok := innerPacket(link, data)
		if !ok {
			return false
		}
		return f.cur.Match(in, wireLen-(len(data)-len(in)))
	}
	return f.cur.Match(data, wireLen)
}

func (s *source) noteLink(link uint32) {
	s.lastLink = link
	for _, l := range s.links {
		if l == link {
			return
		}
	}
	s.links = append(s.links, link)
	s.stats.LinkTypes = append(s.stats.LinkTypes, LinkTypeName(link))
}

func (s *source) warnOnce(kind, msg string) {
	if s.once == nil {
		s.once = map[string]bool{}
	}
	if s.once[kind] {
		return
	}
	s.once[kind] = true
	if len(s.warnings) < maxWarnings {
		s.warnings = append(s.warnings, msg)
	} else {
		s.moreOther++
	}
}

// end finishes the stream: a warning (if format is not empty) and io.EOF,
// or the input's I/O error if there was one. A clean end of the container
// format still gets a warning when the stream below it failed (a gzip
// stream cut at a block boundary).
func (s *source) end(format string, args ...any) error {
	if s.ioErr != nil {
		return fmt.Errorf("%s: read: %w", displayName(s.name), s.ioErr)
	}
	if format == "" && s.cnt.err != nil {
		format, args = s.errMsg(s.cnt.err)
	}
	if format != "" {
		s.final = append(s.final, displayName(s.name)+": "+fmt.Sprintf(format, args...))
		s.corrupt = format != truncated
	}
	// Consume what is left so that Bytes counts everything read.
	s.br.Discard(s.br.Buffered())
	return io.EOF
}

// endErr ends the stream after a read error err from the decompressed stream.
func (s *source) endErr(err error) error {
	if s.ioErr != nil {
		return s.end("")
	}
	if (err == io.EOF || err == io.ErrUnexpectedEOF) && s.cnt.err != nil {
		err = s.cnt.err // the record was cut short by the decompressor's error
	}
	format, args := s.errMsg(err)
	return s.end(format, args...)
}

// truncated is the warning of a file cut short: the only end-of-stream
// warning that does not mark the file corrupt.
const truncated = "file truncated after packet %d"

// errMsg is the warning for a stream that failed with err.
func (s *source) errMsg(err error) (string, []any) {
	n := s.recs
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return truncated, []any{n}
	case s.unz != nil && (s.unzName != "gzip" || isGzipErr(err)):
		// The input's own errors were taken as I/O errors before.
		return "corrupt %s data after packet %d (%v); stopped reading", []any{s.unzName, n, err}
	}
	return "read error after packet %d: %v; stopped reading", []any{n, err}
}

func isGzipErr(err error) bool {
	var ce flate.CorruptInputError
	return errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &ce)
}

// readPcap reads one pcap record.
func (s *source) readPcap() (data []byte, ts time.Time, wireLen int, err error) {
	h, err := s.br.Peek(s.hdrLen)
	if len(h) < s.hdrLen {
		if len(h) == 0 && err == io.EOF && s.ioErr == nil {
			return nil, ts, 0, s.end("")
		}
		return nil, ts, 0, s.endErr(err)
	}
	var sec, frac, caplen, origlen uint32
	if s.bigEndian {
		sec, frac, caplen, origlen = be32(h), be32(h[4:]), be32(h[8:]), be32(h[12:])
	} else {
		sec, frac, caplen, origlen = le32(h), le32(h[4:]), le32(h[8:]), le32(h[12:])
	}
	if uint64(caplen) > uint64(s.limit) {
		return nil, ts, 0, s.end("packet %d: corrupt record header (captured length %d > %d); stopped reading",
			s.recs+1, caplen, s.limit)
	}
	n := int(caplen)
	if s.nanos {
		ts = time.Unix(int64(sec), int64(frac)).UTC()
	} else {
		ts = time.Unix(int64(sec), int64(frac)*1000).UTC()
	}
	wireLen = max(int(origlen), n)
	s.br.Discard(s.hdrLen)
	if n <= s.br.Size() {
		data, err = s.br.Peek(n)
		if len(data) < n {
			return nil, ts, 0, s.endErr(err)
		}
		s.br.Discard(n)
		s.inBlock = true
		return data, ts, wireLen, nil
	}
	// A record longer than a block: read it in pieces, so that a
	// corrupt length cannot make us allocate more than the file holds.
	s.inBlock = false
	s.big = s.big[:0]
	for len(s.big) < n {
		chunk := min(n-len(s.big), bufSize)
		s.big = append(s.big, make([]byte, chunk)...)
		k, err := io.ReadFull(s.br, s.big[len(s.big)-chunk:])
		if k < chunk {
			return nil, ts, 0, s.endErr(err)
		}
	}
	return s.big, ts, wireLen, nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// readNg reads one pcapng packet.
func (s *source) readNg() (data []byte, ts time.Time, wireLen int, link uint32, err error) {
	data, ts, wireLen, link, s.inBlock, err = s.ng.next()
	s.recs += s.ng.skipped // other interfaces' packets (multiSource)
	s.ng.skipped = 0
	if err != nil {
		if err == io.EOF && s.ioErr == nil {
			return nil, ts, 0, 0, s.end("")
		}
		if s.ioErr == nil && err != io.ErrUnexpectedEOF && !isGzipErr(err) {
			return nil, ts, 0, 0, s.end("corrupt pcapng block after packet %d (%v); stopped reading", s.recs, err)
		}
		return nil, ts, 0, 0, s.endErr(err)
	}
	if s.ng.opts {
		s.packetOptions()
	}
	return data, ts, wireLen, link, nil
}

// maxComments bounds the packet comments kept as warnings (per source;
// a multi-file source's files share it).
const maxComments = 20

// packetOptions takes what the options of the pcapng packet just read
// (record s.recs+1) say: a comment, link-layer errors, a drop count.
func (s *source) packetOptions() {
	n := s.recs + 1
	ng := s.ng
	if s.primary != nil {
		// One interface's reader: the file's reader of interface 0
		// keeps what the packets say.
		s = s.primary
	}
	if ng.comment != nil {
		if s.commentsLeft == nil {
			left := maxComments
			s.commentsLeft = &left
		}
		switch t := cleanComment(ng.comment); {
		case t == "":
		case *s.commentsLeft > 0:
			*s.commentsLeft--
			s.comments = append(s.comments, loc(s.file, n)+": comment: "+t)
		default:
			s.moreComments++
		}
	}
	if e := ng.flags & epbErrors; e != 0 {
		if s.llErr == 0 || n < s.llErrAt {
			s.llErrAt = n
		}
		s.llErr++
		s.llBits |= e
	}
	if ng.dropsOK {
		s.dropsOK = true
		if ng.drops > 0 && (s.drops == 0 || n < s.dropsAt) {
			s.dropsAt = n
		}
		s.drops += ng.drops
	}
}

// epbErrors are the link-layer error bits of epb_flags, highest first.
const epbErrors = 0xffff0000

var epbErrorNames = []string{"symbol", "preamble", "start frame delimiter", "unaligned frame", "wrong inter-frame gap", "packet too short", "packet too long", "CRC"}

// linkErrors names the error bits in bits (epb_flags).
func linkErrors(bits uint32) string {
	var names []string
	for i, name := range epbErrorNames {
		if bits&(1<<(31-i)) != 0 {
			names = append(names, name)
		}
	}
	if bits&0x00ff0000 != 0 {
		names = append(names, fmt.Sprintf("other (%#x)", bits&0x00ff0000))
	}
	return strings.Join(names, ", ")
}

// PayloadBlock implements Holder: the block the last segment's payload
// points into, nil for records longer than a block and for datagrams
// reassembled from fragments.
func (s *source) PayloadBlock() *Block {
	if !s.inBlock || s.dec.detached {
		return nil
	}
	return s.br.block()
}

// Stats returns the statistics so far. The pointer stays valid; its
// contents are updated by every call to Stats.
func (s *source) Stats() *Stats {
	if s.br != nil {
		s.stats.Bytes = s.cnt.n - uint64(s.br.Buffered())
	}
	if d, ok := s.dropped(); ok {
		s.stats.Dropped, s.stats.DropCounts = d, true
	}
	s.stats.Warnings = s.warningList()
	return &s.stats
}

// dropped is the number of packets a pcapng file says were dropped while
// capturing: by its Interface Statistics Blocks (the interfaces' drop
// counters), or else by its packets' drop counts; ok is false when it
// says nothing.
func (s *source) dropped() (n uint64, ok bool) {
	if s.ng == nil {
		return 0, false
	}
	if ifd, osd, ok := s.ng.dropped(); ok {
		return ifd + osd, true
	}
	return s.drops, s.dropsOK
}

// facts are the warnings about the file as a whole: timestamps that go
// backwards, and what a pcapng file says about drops and errors.
func (s *source) facts() []string {
	var w []string
	name := displayName(s.name)
	if b := &s.steps; b.n > 0 && s.file == "" && (s.ng == nil || s.ng.only < 0) { // a multi-file source sums its files'
		w = append(w, backwardsWarning(b.n, 1, name, b.at, b.most))
	}
	if s.ng == nil {
		return w
	}
	if ifd, osd, ok := s.ng.dropped(); ok && ifd+osd > 0 {
		if osd == 0 {
			w = append(w, fmt.Sprintf("%s: %d packets dropped by the kernel while capturing (pcapng statistics)", name, ifd))
		} else {
			w = append(w, fmt.Sprintf("%s: %d packets dropped while capturing (pcapng statistics: %d by the interface, %d by the operating system)", name, ifd+osd, ifd, osd))
		}
	}
	if s.drops > 0 {
		w = append(w, fmt.Sprintf("%s: %d packets lost while capturing, by the packets' drop counts (pcapng), the first before packet %d", name, s.drops, s.dropsAt))
	}
	if s.llErr > 0 {
		w = append(w, fmt.Sprintf("%s: %d packets flagged with link-layer errors (%s) by the capturing interface, the first packet %d", name, s.llErr, linkErrors(s.llBits), s.llErrAt))
	}
	if s.ng.secLost > 0 {
		w = append(w, fmt.Sprintf("%s: %d decryption secrets blocks not kept (not TLS key logs, malformed, or past %d MiB)", name, s.ng.secLost, maxSecrets>>20))
	}
	return w
}

// backwardsWarning says that timestamps went back n times in files files,
// first at packet at of file name, by up to most.
func backwardsWarning(n uint64, files int, name string, at uint64, most time.Duration) string {
	in := ""
	if files > 1 {
		in = fmt.Sprintf(" in %d files", files)
	}
	times := "times"
	if n == 1 {
		times = "time"
	}
	why := "packets stamped on several CPUs or interfaces"
	if most >= time.Millisecond {
		why = "a merged or multi-interface capture: dumpcap -i a -i b writes each interface's packets in batches"
	}
	return fmt.Sprintf("timestamps go backwards %d %s%s (first at file %s packet %d; at most %v back: %s); packets are analysed in capture order, times as captured",
		n, times, in, name, at, most, why)
}

// Secrets implements Secrets: the TLS key logs of the file's Decryption
// Secrets Blocks read so far.
func (s *source) Secrets() [][]byte {
	if s.ng == nil {
		return nil
	}
	return s.ng.secrets
}

// warningList returns the warnings kept, a line for those only counted,
// then the end-of-stream warnings; nil when there are none.
func (s *source) warningList() []string {
	var notes []string
	if s.ng != nil {
		for _, n := range s.ng.notes {
			if n.iface < 0 {
				notes = append(notes, "file "+displayName(s.name)+": comment: "+n.text)
			} else {
				notes = append(notes, fmt.Sprintf("file %s: interface %d: comment: %s", displayName(s.name), n.iface, n.text))
			}
		}
	}
	w := make([]string, 0, len(s.inputNotes)+len(notes)+len(s.warnings)+len(s.comments)+len(s.final)+4)
	w = append(w, s.inputNotes...)
	w = append(w, notes...)
	w = append(w, s.warnings...)
	if more := s.moreBad + s.moreCut + s.moreOther; more > 0 {
		var parts []string
		if s.moreBad > 0 {
			parts = append(parts, fmt.Sprintf("%d more undecodable packets", s.moreBad))
		}
		if s.moreCut > 0 {
			parts = append(parts, fmt.Sprintf("%d more packets with headers cut by the snaplen", s.moreCut))
		}
		if s.moreOther > 0 {
			parts = append(parts, fmt.Sprintf("%d more warnings", s.moreOther))
		}
		w = append(w, "... and "+strings.Join(parts, ", "))
	}
	w = append(w, s.comments...)
	if s.moreComments > 0 {
		w = append(w, fmt.Sprintf("... and %d more packet comments", s.moreComments))
	}
	if s.dec.slow != nil {
		if f := s.dec.slow.frags.summary(); f != "" {
			w = append(w, f)
		}
	}
	w = append(w, s.facts()...)
	w = append(w, s.final...)
	if len(w) == 0 {
		w = nil
	}
	return w
}

// Close releases the input. Open's file is closed; OpenReader's reader is not.
func (s *source) Close() error {
	s.err = errors.New("capture: Next called after Close")
	if s.unz != nil {
		s.unz.Close()
	}
	if s.closer != nil {
		c := s.closer
		s.closer = nil
		return c.Close()
	}
	return nil
}

// release drops the buffers of a source read to its end and closed, so
// that a multi-file source's finished files keep only their counters,
// warnings and secrets. Stats stays valid; Next returns s.err.
func (s *source) release() {
	if s.br != nil {
		s.stats.Bytes = s.cnt.n - uint64(s.br.Buffered())
	}
	s.br, s.big, s.unz, s.raw, s.cnt, s.inBlock = nil, nil, nil, nil, nil, false
	if s.ng != nil {
		s.ng.br, s.ng.big, s.ng.comment = nil, nil, nil
	}
}

// Clone returns a deep copy of the statistics.
func (st *Stats) Clone() Stats {
	c := *st
	c.LinkTypes = append([]string(nil), st.LinkTypes...)
	c.Warnings = append([]string(nil), st.Warnings...)
	c.Files = append([]string(nil), st.Files...)
	return c
}
