package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/layers"
)

// Limits of IP reassembly. Time is the packets' capture time.
const (
	maxFragDatagrams = 4096     // datagrams in progress
	maxFragBytes     = 16 << 20 // bytes held, counting fragOverhead per fragment
	fragOverhead     = 128      // what a held fragment costs beyond its payload
	fragTimeout      = 30 * time.Second
	sweepEvery       = time.Second
	maxIPv6Payload   = 65535
)

// fragKey identifies a datagram under reassembly: RFC 791's and RFC
// 8200's source, destination, protocol (IPv4) and identification, within
// a namespace: the hash of the carrier around the fragments, so that two
// tunnels carrying the same private addresses are kept apart.
type fragKey struct {
	ns       uint64
	src, dst netip.Addr
	id       uint32
	proto    uint8
	v6       bool
}

// fragEntry is the bookkeeping of one datagram under reassembly.
type fragEntry struct {
	cost  int       // bytes charged against maxFragBytes
	frags int       // fragments taken
	last  time.Time // capture time of the latest
	first uint64    // packet number of the first
	six   *frag6    // IPv6: the fragments (IPv4's are in ip4defrag)
}

// reassembler puts IPv4 fragments together with gopacket's ip4defrag and
// IPv6 fragments with frag6 (ip6defrag times fragments by the wall clock),
// within the limits above. Fragments are copied: the caller's buffers may
// be reused. A datagram whose fragments contradict each other (overlap,
// two ends) is dropped whole, as receivers do.
type reassembler struct {
	v4      map[uint64]*v4space
	entries map[fragKey]*fragEntry
	packet  uint64 // the packet number of the fragment being added (set by the reader)
	held    int
	swept   time.Time

	dropped      uint64 // fragments dropped at the limits
	expired      uint64 // datagrams that timed out incomplete
	expiredFrags uint64 // and their fragments
}

// v4space is the IPv4 defragmenter of one namespace.
type v4space struct {
	d *ip4defrag.IPv4Defragmenter
	n int // its datagrams in progress
}

func newReassembler() *reassembler {
	return &reassembler{v4: map[uint64]*v4space{}, entries: map[fragKey]*fragEntry{}}
}

var fragLimit = &problem{"IP fragment dropped: reassembly limit (%d datagrams in progress, %d MiB held)", []any{maxFragDatagrams, maxFragBytes >> 20}}

// admit says whether a fragment costing cost bytes may be held for the
// datagram of entry e (nil for a new datagram). Call sweep first.
func (r *reassembler) admit(e *fragEntry, cost int) bool {
	if (e == nil && len(r.entries) >= maxFragDatagrams) || r.held+cost > maxFragBytes {
		r.dropped++
		return false
	}
	return true
}

// sweep forgets, at most once per sweepEvery of capture time, the
// datagrams whose latest fragment is older than fragTimeout.
func (r *reassembler) sweep(ts time.Time) {
	if len(r.entries) == 0 {
		r.swept = ts
		return
	}
	if !ts.After(r.swept.Add(sweepEvery)) {
		return
	}
	r.swept = ts
	cutoff := ts.Add(-fragTimeout)
	for _, sp := range r.v4 {
		sp.d.DiscardOlderThan(cutoff)
	}
	for k, e := range r.entries {
		if e.last.Before(cutoff) {
			r.expired++
			r.expiredFrags += uint64(e.frags)
			r.forget(k, e)
		}
	}
}

// take charges a held fragment to its datagram's entry.
func (r *reassembler) take(k fragKey, e *fragEntry, cost int, ts time.Time) *fragEntry {
	if e == nil {
		e = &fragEntry{first: r.packet}
		r.entries[k] = e
		if !k.v6 {
			r.v4[k.ns].n++
		}
	}
	e.cost += cost
	e.frags++
	e.last = ts
	r.held += cost
	return e
}

func (r *reassembler) forget(k fragKey, e *fragEntry) {
	r.held -= e.cost
	delete(r.entries, k)
	if k.v6 {
		return
	}
	if sp := r.v4[k.ns]; sp != nil {
		if sp.n--; sp.n <= 0 {
			delete(r.v4, k.ns)
		}
	}
}

// add4 takes the IPv4 fragment ip (decoded by gopacket; its payload holds
// all the bytes its length announces) in namespace ns. It returns the
// whole datagram (a fresh buffer: an IPv4 header without options, then the
// payload) and resTCP when the fragment completes one; resFragment when it
// is held (or repeats bytes held); resFragDrop at the limits; resBad with
// the reason when ip4defrag rejects it (the datagram is dropped whole).
func (r *reassembler) add4(ns uint64, ip *layers.IPv4, ts time.Time) ([]byte, int, *problem) {
	src, _ := netip.AddrFromSlice(ip.SrcIP)
	dst, _ := netip.AddrFromSlice(ip.DstIP)
	k := fragKey{ns: ns, src: src, dst: dst, id: uint32(ip.Id), proto: uint8(ip.Protocol)}
	r.sweep(ts)
	e := r.entries[k]
	cost := len(ip.Payload) + fragOverhead
	if !r.admit(e, cost) {
		return nil, resFragDrop, fragLimit
	}
	// ip4defrag keeps the layer: give it one of its own.
	cp := &layers.IPv4{Version: 4, IHL: ip.IHL, TOS: ip.TOS, Length: ip.Length, Id: ip.Id, Flags: ip.Flags,
		FragOffset: ip.FragOffset, TTL: ip.TTL, Protocol: ip.Protocol,
		SrcIP: slices.Clone(ip.SrcIP), DstIP: slices.Clone(ip.DstIP)}
	cp.Payload = slices.Clone(ip.Payload)
	sp := r.v4[ns]
	if sp == nil {
		sp = &v4space{d: ip4defrag.NewIPv4Defragmenter()}
		r.v4[ns] = sp
	}
	out, err := sp.d.DefragIPv4WithTimestamp(cp, ts)
	switch {
	case err != nil: // ip4defrag dropped the datagram's fragments
		if e != nil {
			r.forget(k, e)
		} else if sp.n == 0 {
			delete(r.v4, ns)
		}
		msg := strings.TrimPrefix(err.Error(), "defrag: ")
		return nil, resBad, &problem{"IPv4 fragment (id %d, offset %d) rejected: %s; its datagram is dropped", []any{ip.Id, int(ip.FragOffset) * 8, msg}}
	case out == nil:
		r.take(k, e, cost, ts)
		return nil, resFragment, nil
	}
	if e != nil {
		r.forget(k, e)
	} else if sp.n == 0 {
		delete(r.v4, ns)
	}
	b := make([]byte, 20+len(out.Payload))
	b[0] = 0x45
	b[1] = out.TOS
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], out.Id)
	b[8] = out.TTL
	b[9] = uint8(out.Protocol)
	copy(b[12:16], out.SrcIP.To4())
	copy(b[16:20], out.DstIP.To4())
	copy(b[20:], out.Payload)
	return b, resTCP, nil
}

// frag6 holds the fragments of one IPv6 packet: sorted by offset, never
// overlapping. end is the highest byte seen, the packet's end once the
// last fragment is in.
type frag6 struct {
	pieces []piece6
	end    int
	have   int
	last   bool
	next   uint8 // from the first (offset 0) fragment
	hop    uint8
	tc     uint8
}

type piece6 struct {
	start, end int
	data       []byte
}

// add6 takes an IPv6 fragment in namespace ns: src and dst, the fragment
// header's fields, the hop limit and traffic class of its IPv6 header and
// its payload (the bytes after the fragment header, all the packet
// announces). Results as for add4; the datagram is an IPv6 header without
// extension headers, then the payload.
func (r *reassembler) add6(ns uint64, src, dst netip.Addr, fh *layers.IPv6Fragment, hop, tc uint8, payload []byte, ts time.Time) ([]byte, int, *problem) {
	start := int(fh.FragmentOffset) * 8
	end := start + len(payload)
	if end > maxIPv6Payload {
		return nil, resBad, &problem{"IPv6 fragment (id %d) ends at byte %d, beyond %d", []any{fh.Identification, end, maxIPv6Payload}}
	}
	if fh.MoreFragments && len(payload)%8 != 0 {
		return nil, resBad, &problem{"IPv6 fragment (id %d, offset %d) of %d bytes, not a multiple of 8, is not the last", []any{fh.Identification, start, len(payload)}}
	}
	k := fragKey{ns: ns, src: src, dst: dst, id: fh.Identification, v6: true}
	r.sweep(ts)
	e := r.entries[k]
	cost := len(payload) + fragOverhead
	if !r.admit(e, cost) {
		return nil, resFragDrop, fragLimit
	}
	f := &frag6{}
	if e != nil {
		f = e.six
	}
	drop := func(why string) ([]byte, int, *problem) {
		if e != nil {
			r.forget(k, e)
		}
		return nil, resBad, &problem{"IPv6 fragment (id %d, offset %d): %s; its packet is dropped", []any{fh.Identification, start, why}}
	}
	if start == end {
		return drop("empty")
	}
	// The stored pieces [i, j) share bytes with this one.
	i := sort.Search(len(f.pieces), func(n int) bool { return f.pieces[n].end > start })
	j := i
	for j < len(f.pieces) && f.pieces[j].start < end {
		j++
	}
	if i < j {
		if f.covered(i, j, start, end) {
			r.take(k, e, 0, ts) // a repeat: counted, nothing more held
			return nil, resFragment, nil
		}
		return drop("overlaps another fragment")
	}
	switch {
	case !fh.MoreFragments:
		if end < f.end || (f.last && end != f.end) {
			return drop("the last fragment does not end the packet")
		}
		f.last, f.end = true, end
	case end > f.end:
		if f.last {
			return drop("beyond the last fragment")
		}
		f.end = end
	}
	if start == 0 {
		f.next, f.hop, f.tc = uint8(fh.NextHeader), hop, tc
	}
	f.pieces = slices.Insert(f.pieces, i, piece6{start, end, slices.Clone(payload)})
	f.have += end - start
	if !f.last || f.have != f.end {
		e = r.take(k, e, cost, ts)
		e.six = f
		return nil, resFragment, nil
	}
	if e != nil {
		r.forget(k, e)
	}
	b := make([]byte, 40, 40+f.end)
	b[0] = 0x60 | f.tc>>4
	b[1] = f.tc << 4
	binary.BigEndian.PutUint16(b[4:], uint16(f.end))
	b[6] = f.next
	b[7] = f.hop
	s16, d16 := src.As16(), dst.As16()
	copy(b[8:24], s16[:])
	copy(b[24:40], d16[:])
	for _, p := range f.pieces {
		b = append(b, p.data...)
	}
	return b, resTCP, nil
}

// covered tells whether the pieces [i, j), which all touch [start, end),
// hold every byte of it.
func (f *frag6) covered(i, j, start, end int) bool {
	if f.pieces[i].start > start || f.pieces[j-1].end < end {
		return false
	}
	for n := i; n < j-1; n++ {
		if f.pieces[n].end != f.pieces[n+1].start {
			return false
		}
	}
	return true
}

// summary is the warning about fragments that made no datagram, "" when
// all did.
func (r *reassembler) summary() string {
	var parts []string
	if r.dropped > 0 {
		parts = append(parts, fmt.Sprintf("%d fragments dropped: reassembly limit (%d datagrams in progress, %d MiB held)", r.dropped, maxFragDatagrams, maxFragBytes>>20))
	}
	if r.expired > 0 {
		parts = append(parts, fmt.Sprintf("%d datagrams (%d fragments) timed out incomplete after %v", r.expired, r.expiredFrags, fragTimeout))
	}
	if n := len(r.entries); n > 0 {
		frags, first := 0, uint64(0)
		for _, e := range r.entries {
			frags += e.frags
			if first == 0 || e.first != 0 && e.first < first {
				first = e.first
			}
		}
		at := ""
		if first != 0 {
			at = fmt.Sprintf(", the first from packet %d", first)
		}
		parts = append(parts, fmt.Sprintf("%d datagrams (%d fragments) still incomplete%s", n, frags, at))
	}
	if parts == nil {
		return ""
	}
	return "IP reassembly: " + strings.Join(parts, "; ")
}
