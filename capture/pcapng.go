package capture

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ngReader reads the packets of a pcapng stream (draft-ietf-opsawg-pcapng):
// Enhanced, Simple and (obsolete) Packet blocks, each with its interface's
// link type and timestamp resolution and offset. Other blocks are skipped.
// It reads through the source's blockReader like the pcap reader does, so
// a packet's bytes stay in a block (see Holder) unless it is longer than
// a block.
//
// It replaces pcapgo.NgReader, whose package pulls in gopacket/layers:
// 5 MB of pointer-holding tables that every garbage collection scanned.
//
// Call order: newNgReader reads the first Section Header Block; then next
// for each packet until it returns an error (io.EOF at a clean end,
// io.ErrUnexpectedEOF for a stream cut inside a block, the blockReader's
// error for a failed read, or a description of a corrupt block).
type ngReader struct {
	br     *blockReader
	be     bool      // the section's byte order is big-endian
	ifaces []ngIface // the section's interfaces, by ID
	big    []byte    // a packet longer than a block
	// pending is the error of a block read ahead by leadingInterfaces,
	// returned by the next call to next.
	pending error

	// What the options of the packet block next returned last say (EPB
	// and PB only): opts is set when the block had any option at all, and
	// only then do the fields below hold what they said (else they are
	// stale).
	opts    bool
	flags   uint32 // epb_flags; 0 when absent
	drops   uint64 // epb_dropcount or the PB's drops count
	dropsOK bool   // a drop count was given
	comment []byte // the first opt_comment; points into the block

	// One interface's packets (see multiSource): only >= 0 returns the
	// packets of interface only (and with rest those of the interfaces
	// after it) and counts the others in skipped (which the caller
	// resets); -1 returns every packet. quiet ignores what
	// the other blocks say (another reader of the file keeps it).
	// While only is set, a reader that is not quiet follows the whole
	// file's timestamps in file order in steps, packets counted in seen.
	only    int
	rest    bool // also the packets of the interfaces after only (later IDBs, later sections)
	skipped uint64
	quiet   bool
	seen    uint64
	steps   backSteps

	// What the other blocks said, collected as they go by.
	sections int      // sections seen, less one (the key of stats)
	notes    []ngNote // section and interface comments, in file order
	stats    []ngStat // the last statistics block of each interface
	secrets  [][]byte // Decryption Secrets Blocks of TLS key logs (copies)
	secLen   int      // bytes in secrets
	secLost  int      // secrets blocks not kept: over maxSecrets or another kind
}

// ngNote is a comment of a section header or an interface description.
type ngNote struct {
	iface int // -1: the section's
	text  string
}

// ngStat is what the last Interface Statistics Block of an interface
// said: the counters are from the start of the capture, so the last one
// counts everything.
type ngStat struct {
	section, iface int
	ifdrop, osdrop uint64
	hasIf, hasOS   bool
}

// ngIface is what an Interface Description Block says about its packets.
type ngIface struct {
	link    uint32
	snaplen uint32
	units   uint64 // timestamp units per second
	offset  int64  // seconds added to every timestamp (if_tsoffset)
}

const (
	ngSHB = 0x0a0d0d0a // Section Header Block (the same in both byte orders)
	ngIDB = 1          // Interface Description Block
	ngPB  = 2          // Packet Block (obsolete)
	ngSPB = 3          // Simple Packet Block
	ngISB = 5          // Interface Statistics Block
	ngEPB = 6          // Enhanced Packet Block
	ngDSB = 10         // Decryption Secrets Block

	ngOptComment   = 1 // opt_comment, in every block
	ngOptEPBFlags  = 2 // epb_flags (also the PB's pack_flags)
	ngOptEPBDrops  = 4 // epb_dropcount
	ngOptISBIfDrop = 5 // isb_ifdrop
	ngOptISBOSDrop = 7 // isb_osdrop

	// ngSecretsTLS is the secrets type of an NSS key log ("TLSK").
	ngSecretsTLS = 0x544c534b
	// maxSecrets bounds the key log bytes kept from a capture.
	maxSecrets = 64 << 20
	// maxNotes bounds the section and interface comments kept.
	maxNotes = 64

	ngByteOrderMagic uint32 = 0x1a2b3c4d

	ngOptEnd      = 0
	ngOptTSResol  = 9  // if_tsresol
	ngOptTSOffset = 14 // if_tsoffset

	// ngMaxBlock bounds a block's length, as Wireshark does (16 MiB):
	// past it the length field is taken for corruption.
	ngMaxBlock = 16 << 20
)

var errNgSectionHeader = errors.New("not a pcapng section header")

func (r *ngReader) u16(b []byte) uint16 {
	if r.be {
		return uint16(b[0])<<8 | uint16(b[1])
	}
	return uint16(b[0]) | uint16(b[1])<<8
}

func (r *ngReader) u32(b []byte) uint32 {
	if r.be {
		return be32(b)
	}
	return le32(b)
}

func (r *ngReader) u64(b []byte) uint64 {
	if r.be {
		return uint64(be32(b))<<32 | uint64(be32(b[4:]))
	}
	return uint64(le32(b)) | uint64(le32(b[4:]))<<32
}

// newNgReader reads the Section Header Block at the start of br.
func newNgReader(br *blockReader) (*ngReader, error) {
	r := &ngReader{br: br, sections: -1, only: -1, steps: backSteps{prev: math.MinInt64}}
	typ, body, _, err := r.block()
	if err != nil {
		return nil, unexpected(err)
	}
	if typ != ngSHB {
		return nil, errNgSectionHeader
	}
	if err := r.section(body); err != nil {
		return nil, err
	}
	r.leadingInterfaces()
	return r, nil
}

// leadingInterfaces reads the Interface Description Blocks that follow
// the section header, so that the link types of a file are known before
// its first packet (a filter is compiled for them when the file is
// opened). An error is kept for next.
func (r *ngReader) leadingInterfaces() {
	for {
		h, _ := r.br.Peek(8)
		if len(h) < 8 || r.u32(h) != ngIDB {
			return
		}
		_, body, _, err := r.block()
		if err == nil {
			err = r.iface(body)
		}
		if err != nil {
			r.pending = err
			return
		}
	}
}

// unexpected turns the end of the stream inside a block into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// block reads the next block and returns its type and body (the block
// without type, length and trailing length). A body up to a block of br
// (nearly every one) points into br's current block (inBlock); a longer
// one is read into r.big (packet blocks) or skipped and returned empty
// (others). It returns io.EOF only at the very end of the stream, between
// blocks.
func (r *ngReader) block() (typ uint32, body []byte, inBlock bool, err error) {
	h, err := r.br.Peek(8)
	if len(h) < 8 {
		if len(h) == 0 && err == io.EOF {
			return 0, nil, false, io.EOF
		}
		return 0, nil, false, unexpected(err)
	}
	typ = le32(h) // a section header's type reads the same either way
	if typ == ngSHB {
		h, err = r.br.Peek(12)
		if len(h) < 12 {
			return 0, nil, false, unexpected(err)
		}
		switch ngByteOrderMagic {
		case be32(h[8:]):
			r.be = true
		case le32(h[8:]):
			r.be = false
		default:
			return 0, nil, false, fmt.Errorf("bad byte-order magic %08x in a section header", be32(h[8:]))
		}
	} else {
		typ = r.u32(h)
	}
	n := int64(r.u32(h[4:]))
	if n < 12 || n%4 != 0 || n > ngMaxBlock {
		return 0, nil, false, fmt.Errorf("block of type %#x has length %d", typ, n)
	}
	size := int(n)
	if size <= r.br.Size() {
		b, err := r.br.Peek(size)
		if len(b) < size {
			return 0, nil, false, unexpected(err)
		}
		if t := r.u32(b[size-4:]); t != uint32(n) {
			return 0, nil, false, fmt.Errorf("block of type %#x has length %d at its start, %d at its end", typ, n, t)
		}
		r.br.Discard(size)
		return typ, b[8 : size-4], true, nil
	}
	// Longer than a block: only a packet block (or a key log) is worth
	// the copy.
	r.br.Discard(8)
	if typ != ngEPB && typ != ngSPB && typ != ngPB && typ != ngDSB {
		if k, err := r.br.Discard(size - 8); k < size-8 {
			return 0, nil, false, unexpected(err)
		}
		return typ, nil, false, nil
	}
	r.big = r.big[:0]
	for len(r.big) < size-8 {
		chunk := min(size-8-len(r.big), bufSize)
		r.big = append(r.big, make([]byte, chunk)...)
		if k, err := io.ReadFull(r.br, r.big[len(r.big)-chunk:]); k < chunk {
			return 0, nil, false, unexpected(err)
		}
	}
	if t := r.u32(r.big[size-12:]); t != uint32(n) {
		return 0, nil, false, fmt.Errorf("block of type %#x has length %d at its start, %d at its end", typ, n, t)
	}
	return typ, r.big[:size-12], false, nil
}

// section starts a new section from its header's body.
func (r *ngReader) section(body []byte) error {
	if len(body) < 16 {
		return fmt.Errorf("section header of %d bytes", len(body)+12)
	}
	// Version 1.0; 1.2 was written by some tools for 1.0 (Wireshark reads it too).
	if major, minor := r.u16(body[4:]), r.u16(body[6:]); major != 1 || minor != 0 && minor != 2 {
		return fmt.Errorf("pcapng version %d.%d is not supported", major, minor)
	}
	r.ifaces = r.ifaces[:0]
	r.sections++
	r.options(body[16:], func(code uint16, v []byte) {
		if code == ngOptComment {
			r.note(-1, v)
		}
	})
	return nil
}

// note keeps a section (iface -1) or interface comment.
func (r *ngReader) note(iface int, v []byte) {
	if len(r.notes) < maxNotes && !r.quiet {
		if t := cleanComment(v); t != "" {
			r.notes = append(r.notes, ngNote{iface, t})
		}
	}
}

// maxCommentLen is the length, in bytes, a comment is cut to.
const maxCommentLen = 200

// cleanComment makes a comment fit for a one-line warning: control
// characters (newlines) become spaces, runs of spaces one, invalid UTF-8
// the replacement character, at most maxCommentLen bytes (cut at a
// character boundary, "..." added).
func cleanComment(v []byte) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(string(v[:min(len(v), 4*maxCommentLen)]), "\uFFFD") {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > maxCommentLen {
			b.WriteString("...")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// options calls f for each option in b, up to the end-of-options option or
// the first that does not fit.
func (r *ngReader) options(b []byte, f func(code uint16, v []byte)) {
	for len(b) >= 4 {
		code, n := r.u16(b), int(r.u16(b[2:]))
		if code == ngOptEnd || 4+n > len(b) {
			return
		}
		f(code, b[4:4+n])
		b = b[min(len(b), 4+(n+3)&^3):]
	}
}

// iface adds the interface an Interface Description Block describes.
func (r *ngReader) iface(body []byte) error {
	if len(body) < 8 {
		return fmt.Errorf("interface description of %d bytes", len(body)+12)
	}
	in := ngIface{link: uint32(r.u16(body)), snaplen: r.u32(body[4:]), units: 1e6}
	var err error
	r.options(body[8:], func(code uint16, v []byte) {
		switch {
		case code == ngOptTSResol && len(v) >= 1:
			e := uint(v[0] & 0x7f)
			switch {
			case v[0]&0x80 != 0 && e <= 63:
				in.units = 1 << e
			case v[0]&0x80 == 0 && e <= 19:
				in.units = 1
				for range e {
					in.units *= 10
				}
			default:
				err = fmt.Errorf("interface %d: timestamp resolution %#02x is not supported", len(r.ifaces), v[0])
			}
		case code == ngOptTSOffset && len(v) >= 8:
			in.offset = int64(r.u64(v))
		case code == ngOptComment:
			r.note(len(r.ifaces), v)
		}
	})
	if err != nil {
		return err
	}
	r.ifaces = append(r.ifaces, in)
	return nil
}

// packetOptions reads the options of a packet block (b: after the
// padded packet data); pb marks the obsolete Packet Block, whose drop
// count is in its header.
func (r *ngReader) packetOptions(b []byte, pb bool) {
	r.flags, r.drops, r.dropsOK, r.comment = 0, 0, false, nil
	r.options(b, func(code uint16, v []byte) {
		r.opts = true
		switch {
		case code == ngOptComment && r.comment == nil:
			r.comment = v
		case code == ngOptEPBFlags && len(v) >= 4:
			r.flags = r.u32(v)
		case code == ngOptEPBDrops && len(v) >= 8 && !pb:
			r.drops, r.dropsOK = r.u64(v), true
		}
	})
}

// statistics keeps what an Interface Statistics Block says about drops.
// A block too short for its header is ignored (Wireshark rejects it, but
// the packets around it are good).
func (r *ngReader) statistics(body []byte) {
	if len(body) < 12 || r.quiet {
		return
	}
	st := ngStat{section: r.sections, iface: int(r.u32(body))}
	r.options(body[12:], func(code uint16, v []byte) {
		switch {
		case code == ngOptISBIfDrop && len(v) >= 8:
			st.ifdrop, st.hasIf = r.u64(v), true
		case code == ngOptISBOSDrop && len(v) >= 8:
			st.osdrop, st.hasOS = r.u64(v), true
		}
	})
	if !st.hasIf && !st.hasOS {
		return
	}
	for i := range r.stats {
		if r.stats[i].section == st.section && r.stats[i].iface == st.iface {
			r.stats[i] = st // the counters run from the start: the last block counts all
			return
		}
	}
	if len(r.stats) < maxNotes {
		r.stats = append(r.stats, st)
	}
}

// decryptionSecrets keeps a copy of a TLS key log from a Decryption
// Secrets Block; other kinds of secrets are counted in secLost.
func (r *ngReader) decryptionSecrets(body []byte) {
	if len(body) < 8 || r.quiet {
		return
	}
	typ, n := r.u32(body), r.u32(body[4:])
	if typ != ngSecretsTLS || uint64(n) > uint64(len(body)-8) || r.secLen+int(n) > maxSecrets {
		r.secLost++
		return
	}
	r.secrets = append(r.secrets, append([]byte(nil), body[8:8+n]...))
	r.secLen += int(n)
}

// dropped sums the drop counters of the interfaces' last statistics
// blocks; ok is false when no block gave one.
func (r *ngReader) dropped() (ifdrop, osdrop uint64, ok bool) {
	for _, st := range r.stats {
		ifdrop += st.ifdrop
		osdrop += st.osdrop
	}
	return ifdrop, osdrop, len(r.stats) > 0
}

// time converts a timestamp of interface in, in its units, to a time.
func (in *ngIface) time(ts uint64) time.Time {
	sec, frac := ts/in.units, ts%in.units
	hi, lo := bits.Mul64(frac, 1e9)
	ns, _ := bits.Div64(hi, lo, in.units) // frac < units: no overflow
	return time.Unix(int64(sec)+in.offset, int64(ns)).UTC()
}

// next returns the next packet: its bytes, time, length on the wire, link
// type, and whether the bytes lie in br's current block.
func (r *ngReader) next() (data []byte, ts time.Time, wireLen int, link uint32, inBlock bool, err error) {
	if r.pending != nil {
		err, r.pending = r.pending, nil
		return nil, ts, 0, 0, false, err
	}
	for {
		typ, body, inBlock, err := r.block()
		if err != nil {
			return nil, ts, 0, 0, false, err
		}
		var id, caplen, origlen uint32
		var stamp uint64
		r.opts = false
		switch typ {
		case ngSHB:
			if err := r.section(body); err != nil {
				return nil, ts, 0, 0, false, err
			}
			continue
		case ngIDB:
			if err := r.iface(body); err != nil {
				return nil, ts, 0, 0, false, err
			}
			continue
		case ngEPB:
			if len(body) < 20 {
				return nil, ts, 0, 0, false, fmt.Errorf("enhanced packet block of %d bytes", len(body)+12)
			}
			id, stamp = r.u32(body), uint64(r.u32(body[4:]))<<32|uint64(r.u32(body[8:]))
			caplen, origlen, body = r.u32(body[12:]), r.u32(body[16:]), body[20:]
			if uint64(caplen)+3 < uint64(len(body)) {
				r.packetOptions(body[(int(caplen)+3)&^3:], false)
			}
		case ngPB:
			if len(body) < 20 {
				return nil, ts, 0, 0, false, fmt.Errorf("packet block of %d bytes", len(body)+12)
			}
			id, stamp = uint32(r.u16(body)), uint64(r.u32(body[4:]))<<32|uint64(r.u32(body[8:]))
			drops := r.u16(body[2:])
			caplen, origlen, body = r.u32(body[12:]), r.u32(body[16:]), body[20:]
			if uint64(caplen)+3 < uint64(len(body)) {
				r.packetOptions(body[(int(caplen)+3)&^3:], true)
			}
			if drops != 0 && drops != 0xffff { // 0xffff: not known
				if !r.opts {
					r.flags, r.comment = 0, nil
				}
				r.opts, r.drops, r.dropsOK = true, uint64(drops), true
			}
		case ngISB:
			r.statistics(body)
			continue
		case ngDSB:
			r.decryptionSecrets(body)
			continue
		case ngSPB:
			if len(body) < 4 {
				return nil, ts, 0, 0, false, fmt.Errorf("simple packet block of %d bytes", len(body)+12)
			}
			origlen, body = r.u32(body), body[4:]
			caplen = min(origlen, uint32(len(body)))
			if len(r.ifaces) > 0 && r.ifaces[0].snaplen > 0 {
				caplen = min(caplen, r.ifaces[0].snaplen)
			}
		default:
			continue
		}
		if int(id) >= len(r.ifaces) {
			return nil, ts, 0, 0, false, fmt.Errorf("packet of interface %d, but %d interfaces are described", id, len(r.ifaces))
		}
		if uint64(caplen) > uint64(len(body)) {
			return nil, ts, 0, 0, false, fmt.Errorf("packet of %d captured bytes in a block with room for %d", caplen, len(body))
		}
		in := &r.ifaces[id]
		if typ != ngSPB { // a simple packet block has no time (pcapgo: the zero time)
			ts = in.time(stamp)
		}
		if r.only >= 0 {
			if !r.quiet {
				r.seen++
				ns := ts.UnixNano()
				if ns < r.steps.prev {
					r.steps.back(r.seen, ns)
				}
				r.steps.prev = ns
			}
			if int(id) != r.only && !(r.rest && int(id) > r.only) {
				r.skipped++
				continue
			}
		}
		return body[:caplen], ts, max(int(origlen), int(caplen)), in.link, inBlock, nil
	}
}
