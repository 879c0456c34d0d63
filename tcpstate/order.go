package tcpstate

import (
	"time"

	"github.com/httplife/httplife/capture"
)

// Between a segment's arrival and its processing, two things for captures
// as they come from the field:
//
// Duplicates: the same IP packet captured twice (on two interfaces of
// `tcpdump -i any`, by a SPAN session that mirrors both ports, in merged
// captures), the copies differing at most in link header, interface, TTL
// or checksum. Each side keeps the identity of its last few segments
// (sequence and acknowledgement numbers, flags, payload length, window,
// IPv4 id; the TCP checksum apart; not the TTL, not the link header); a
// segment identical to one seen within a short time, before or after it,
// is a copy and is dropped before it changes anything (Stats.Duplicates).
// A retransmission is not identical: Linux sends it with a new IPv4 id
// and, with TCP timestamps, a new checksum, and no sooner than 10 ms (a
// tail-loss probe) or 200 ms (a timeout); a copy comes microseconds to a
// millisecond or two after the original. The windows: 50 ms for IPv4 with
// an id (some stacks resend the very packet, id and all, but not that
// soon); without an id (IPv6, or id 0) the checksums must agree too and
// the window is 1 ms (a sender without timestamps that goes back N
// resends a segment it sent 3 ms before: seen in the field), or 200 µs
// (two sightings of one packet on one host) when they do not. A segment
// whose IP id and checksum are both 0 (made up, or checksums zeroed) is
// never a copy.
//
// Reordering: a capture point fed by two paths (a mirror with latency on
// one direction, a tap, two interfaces) may show a SYN-ACK before its SYN
// or a response before its request. A segment that acknowledges bytes of
// the peer not yet processed is held (copied) until they are, then
// processed after them; the bytes it acknowledged came first on the wire.
// So is a reset without ACK whose sequence number the peer has not yet
// acknowledged: it answers the peer's segment that did (a keep-alive
// race's RST, seen before the request it answers).
// A segment that acknowledges nothing ahead is processed at once, so a
// capture in order costs a compare per segment. A hold ends after holdFor
// of capture time, or at holdMax segments, when what it waits for is not
// in the capture (the capture lost it, or sees one direction only): the
// held segments are then processed in capture order, and after
// holdExpiries such endings the connection is no longer held at all.
// Times stay as captured.

// Reordering.
const (
	holdFor      = 100 * time.Millisecond // capture time a hold waits at most
	holdMax      = 256                    // segments held per connection at most
	holdMaxBytes = 1 << 20                // payload bytes held per connection at most
	holdExpiries = 2                      // holds that may end unresolved before a connection is no longer held
	// tableHeldBytes bounds the payload held by all connections: past
	// it the oldest hold ends.
	tableHeldBytes = 64 << 20
)

// Duplicate detection.
const (
	dupSlots = 5 // segments remembered per side: a ring fills one cache line
	// dupWindowID is how far apart in capture time two IPv4 segments
	// with the same IP id and header are copies; dupWindow for those
	// without an id, which must have the same checksum too, and
	// dupWindowSum when their checksums differ.
	dupWindowID  = 50 * time.Millisecond
	dupWindow    = time.Millisecond
	dupWindowSum = 200 * time.Microsecond
)

// dupRing holds the identities (0: none) and capture times of a side's
// last dupSlots segments, in one cache line (a segment costs one line
// more than without it, with thousands of connections interleaved): the
// times in µs, as uint32, compared by their difference (right within 35
// minutes, the windows are milliseconds).
type dupRing struct {
	fp   [dupSlots]uint64
	at   [dupSlots]uint32
	next uint8
}

// fingerprint is a segment's identity as a copy keeps it: the header
// fields a copy shares and a retransmission does not, mixed into the high
// 48 bits, and the TCP checksum in the low 16. The checksum is apart
// because a copy may not share it: a packet the capturing host sent is
// seen once before its checksum is computed (offload) and once after, by
// `-i any` on a bridge. Never 0.
func fingerprint(seg *capture.Segment) uint64 {
	const m = 0x9e3779b97f4a7c15
	h := (uint64(seg.Seq)<<32 | uint64(seg.Ack)) * m
	h = (h ^ (uint64(seg.Flags) | uint64(seg.Window)<<8 | uint64(seg.IPID)<<24 | uint64(uint32(seg.PayloadLen))<<40)) * m
	h ^= h >> 29
	h = (h * m) &^ 0xffff
	if h == 0 {
		h = 1 << 16
	}
	return h | uint64(seg.TCPSum)
}

// copyOf reports whether a segment with identity fp captured at at
// (Unix ns) is a copy of one in the ring, captured before or after it
// within the window its identity allows; if not, it is remembered. It
// returns how much later than the original the copy was captured (< 0:
// earlier).
func (r *dupRing) copyOf(fp uint64, at int64, withID bool) (time.Duration, bool) {
	us := uint32(at / 1000)
	// Unrolled: the common case, no identity alike, is five compares.
	if h := fp >> 16; r.fp[0]>>16 == h || r.fp[1]>>16 == h || r.fp[2]>>16 == h || r.fp[3]>>16 == h || r.fp[4]>>16 == h {
		if later, ok := r.match(fp, us, withID); ok {
			return later, true
		}
	}
	r.fp[r.next], r.at[r.next] = fp, us
	if r.next++; r.next == dupSlots {
		r.next = 0
	}
	return 0, false
}

// copyOf's unrolled compares cover the ring.
var _ = [1]struct{}{}[dupSlots-5]

// match is copyOf's slow path: an identity alike is in the ring.
func (r *dupRing) match(fp uint64, us uint32, withID bool) (time.Duration, bool) {
	for i, e := range &r.fp {
		if e>>16 != fp>>16 {
			continue
		}
		later := int64(int32(us - r.at[i]))
		d := later
		if d < 0 {
			d = -d
		}
		switch d *= 1000; {
		case withID && d <= int64(dupWindowID),
			e == fp && d <= int64(dupWindow),
			d <= int64(dupWindowSum):
			return time.Duration(later) * time.Microsecond, true
		}
	}
	return 0, false
}

// duplicate reports whether seg is a copy of a segment of c captured
// moments before (or, in a capture whose times go backwards, after); a
// copy is counted and changes nothing else. A copy with the earlier time
// gives it to an original still held.
// at is seg.Time in Unix ns, i the index in c.Sides of its sender.
func (c *Conn) duplicate(t *Table, seg *capture.Segment, at int64, i int) bool {
	if seg.IPID == 0 && seg.TCPSum == 0 {
		return false // nothing tells a copy from a retransmission (a made-up segment)
	}
	fp := fingerprint(seg)
	later, dup := c.dups[i].copyOf(fp, at, seg.IPID != 0)
	if dup {
		c.dropCopy(t, seg, fp, later)
	}
	return dup
}

// dropCopy counts seg, a copy captured later than its original (< 0:
// earlier); an earlier copy gives its time to an original still held.
func (c *Conn) dropCopy(t *Table, seg *capture.Segment, fp uint64, later time.Duration) {
	t.stats.Duplicates++
	if later < 0 {
		for k := range c.held {
			if h := &c.held[k]; fingerprint(h)>>16 == fp>>16 && h.Src == seg.Src {
				h.Time = seg.Time
				break
			}
		}
	}
}

// holdRef is the table's reference to a connection holding segments since
// a capture time.
type holdRef struct {
	connRef
	since time.Time
}

// ready reports whether y, sent by side i, can be processed now: it
// acknowledges no byte of the peer still to come. z is the peer's next
// segment waiting, nil when none: a peer segment that starts at or past
// y's acknowledgement shows that the bytes y acknowledged before it are
// not in the capture.
func (c *Conn) ready(y *capture.Segment, i int, z *capture.Segment) bool {
	if c.holdOff {
		return true
	}
	if y.Flags&(capture.ACK|capture.RST) == capture.RST {
		// A reset without ACK answers a segment of the peer's and takes
		// its sequence number from that segment's acknowledgement (RFC
		// 9293 3.10.7.1; Linux's reply to data for a closed socket, the
		// keep-alive race's RST): until the peer has acknowledged that
		// far, the segment it answers is still to come.
		q := &c.Sides[1-i].h
		return q.ackValid && !Seq(y.Seq).After(q.ack)
	}
	if y.Flags&capture.ACK == 0 {
		return true
	}
	p := &c.Sides[1-i].h
	a := Seq(y.Ack)
	if p.procValid && !a.After(p.procEnd) {
		return true
	}
	return z != nil && !Seq(z.Seq).Before(a)
}

// submit takes seg, which arrived now, into c: processed at once when
// nothing is held and it acknowledges nothing still to come; else merged
// with the held segments, each side in capture order, each segment after
// the peer's bytes it acknowledges; what cannot be processed yet is held.
// i is the index in c.Sides of seg's sender, ns seg.Time in Unix ns.
func (c *Conn) submit(t *Table, seg *capture.Segment, i int, ns int64) {
	if len(c.held) == 0 {
		if c.ready(seg, i, nil) {
			c.add(t, seg, ns)
		} else {
			c.hold(t, seg)
		}
		return
	}
	if c.merge(t, seg, ns) {
		return
	}
	c.hold(t, seg)
}

// merge processes what is ready of the held segments and seg (nil: none;
// ns its time in Unix ns), oldest first, and reports whether seg was
// processed.
func (c *Conn) merge(t *Table, seg *capture.Segment, ns int64) (consumed bool) {
	for {
		// The next segment waiting from each side: the first held one,
		// else seg. at is its index in held, -1 for seg.
		var heads [2]*capture.Segment
		at := [2]int{-1, -1}
		for k := range c.held {
			h := &c.held[k]
			if j := c.sideOf(h); heads[j] == nil {
				heads[j], at[j] = h, k
				if heads[1-j] != nil {
					break
				}
			}
		}
		if seg != nil && !consumed {
			if j := c.sideOf(seg); heads[j] == nil {
				heads[j] = seg
			}
		}
		first := 0 // the side whose head came first in the capture (seg is the newest)
		switch {
		case heads[0] == nil, heads[1] != nil && at[0] < 0:
			first = 1
		case heads[1] == nil, at[1] < 0:
		case at[1] < at[0]:
			first = 1
		}
		progressed := false
		for _, j := range [2]int{first, 1 - first} {
			y := heads[j]
			if y == nil || !c.ready(y, j, heads[1-j]) {
				continue
			}
			if at[j] < 0 {
				c.add(t, seg, ns)
				consumed = true
			} else {
				h := c.held[at[j]]
				c.unhold(t, at[j])
				c.add(t, &h, h.Time.UnixNano())
			}
			progressed = true
			break
		}
		if !progressed {
			return consumed
		}
	}
}

// hold keeps a copy of seg until it can be processed.
func (c *Conn) hold(t *Table, seg *capture.Segment) {
	h := *seg
	if len(seg.Payload) > 0 {
		h.Payload = append([]byte(nil), seg.Payload...)
	}
	if len(c.held) == 0 {
		c.heldSince = t.now
		t.holdQ = append(t.holdQ, holdRef{connRef{c}, t.now})
	}
	c.held = append(c.held, h)
	c.heldBytes += len(h.Payload)
	t.heldBytes += len(h.Payload)
	t.stats.Held++
	if len(c.held) > holdMax || c.heldBytes > holdMaxBytes {
		c.endHold(t)
	}
	for t.heldBytes > tableHeldBytes && t.holdAt < len(t.holdQ) {
		if r := t.holdQ[t.holdAt]; r.live() && len(r.c.held) > 0 {
			r.c.endHold(t)
			t.settle(r.c)
		}
		t.holdAt++
	}
}

// unhold removes held segment k.
func (c *Conn) unhold(t *Table, k int) {
	n := len(c.held[k].Payload)
	c.heldBytes -= n
	t.heldBytes -= n
	copy(c.held[k:], c.held[k+1:])
	c.held[len(c.held)-1] = capture.Segment{}
	c.held = c.held[:len(c.held)-1]
	if len(c.held) == 0 {
		c.held = c.held[:0]
	}
}

// endHold ends a hold that waited in vain: what is ready goes first, then
// the rest in capture order.
func (c *Conn) endHold(t *Table) {
	if len(c.held) == 0 {
		return
	}
	t.stats.HoldsExpired++
	c.expiries++
	c.merge(t, nil, 0)
	c.flushHeld(t)
	if c.expiries >= holdExpiries {
		c.holdOff = true
	}
}

// flushHeld processes every held segment, in capture order.
func (c *Conn) flushHeld(t *Table) {
	for len(c.held) > 0 {
		h := c.held[0]
		c.unhold(t, 0)
		c.add(t, &h, h.Time.UnixNano())
	}
	c.held = nil
}

// expireHolds ends the holds that began holdFor or more before now.
func (t *Table) expireHolds() {
	for t.holdAt < len(t.holdQ) {
		r := t.holdQ[t.holdAt]
		if r.live() && len(r.c.held) > 0 && r.c.heldSince.Equal(r.since) {
			if t.now.Sub(r.since) < holdFor {
				break
			}
			r.c.endHold(t)
			t.settle(r.c)
		}
		t.holdAt++
	}
	if t.holdAt == len(t.holdQ) {
		clear(t.holdQ)
		t.holdQ, t.holdAt = t.holdQ[:0], 0
	} else if t.holdAt > len(t.holdQ)/2 {
		n := copy(t.holdQ, t.holdQ[t.holdAt:])
		clear(t.holdQ[n:])
		t.holdQ, t.holdAt = t.holdQ[:n], 0
	}
}
