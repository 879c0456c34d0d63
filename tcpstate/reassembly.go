package tcpstate

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/httplife/httplife/capture"
)

// half is the reassembly state of the bytes one side sends.
type half struct {
	seen      bool // a packet from this side was processed
	nextValid bool
	next      Seq // next sequence number expected in order
	isnValid  bool
	isn       Seq
	finValid  bool
	finSeq    Seq // sequence number of the FIN
	finDone   bool
	ackValid  bool
	ack       Seq // highest acknowledgement this side sent
	ack0      Seq // the first acknowledgement this side sent
	ooo       []pending
	oooBytes  int
	// procEnd is one past the highest sequence number (SYN and FIN
	// counted) of the segments processed: a peer's acknowledgement
	// beyond it acknowledges bytes still to come (order.go).
	procEnd   Seq
	procValid bool
}

// pending is an out-of-order segment waiting for the bytes before it.
type pending struct {
	seq  Seq
	data []byte // captured bytes (copied)
	plen int    // bytes on the wire
	t    time.Time
}

func (p *pending) end() Seq { return p.seq.Add(p.plen) }

func (c *Conn) sideOf(seg *capture.Segment) int {
	if seg.Src == c.Sides[0].Addr {
		return 0
	}
	return 1
}

// restartedBy reports whether a SYN without ACK starts a new connection on
// this 4-tuple rather than repeating the SYN of this one.
func (c *Conn) restartedBy(seg *capture.Segment) bool {
	if c.finished {
		return true
	}
	i := c.sideOf(seg)
	s := &c.Sides[i]
	if s.h.isnValid && s.State == SynSent && Seq(seg.Seq) == s.h.isn {
		return false // a retransmitted SYN
	}
	if c.Sides[0].State == TimeWait || c.Sides[1].State == TimeWait {
		return true
	}
	if !s.h.isnValid && c.answered(1-i, Seq(seg.Seq)) {
		return false // its SYN-ACK came first (a capture that reorders)
	}
	return !(s.h.isnValid && Seq(seg.Seq) == s.h.isn)
}

// answered reports whether side p sent a SYN-ACK for the SYN whose
// sequence number is isn, processed or held.
func (c *Conn) answered(p int, isn Seq) bool {
	ps := &c.Sides[p]
	if ps.h.isnValid && ps.h.ackValid && ps.h.ack == isn.Add(1) && !ps.SynAt.IsZero() {
		return true
	}
	for k := range c.held {
		h := &c.held[k]
		if h.Src == ps.Addr && h.Has(capture.SYN|capture.ACK) && Seq(h.Ack) == isn.Add(1) {
			return true
		}
	}
	return false
}

// halfOpen reports a connection that never carried data nor completed a
// handshake: what a SYN flood leaves behind.
func (c *Conn) halfOpen() bool {
	return c.AckAt.IsZero() && c.Sides[0].PayloadBytes == 0 && c.Sides[1].PayloadBytes == 0
}

func (c *Conn) transition(i int, e Event, t time.Time) {
	s := &c.Sides[i]
	ns, why := Transition(s.State, e)
	if why == "" {
		return
	}
	s.State = ns
	if ns == TimeWait && s.TimeWaitAt.IsZero() {
		s.TimeWaitAt, s.TimeWaitUntil = t, t.Add(c.twoMSL)
	}
}

// setRoles fixes which side is the client: Sides[client] becomes Sides[0].
func (c *Conn) setRoles(t *Table, client int, guessed bool) {
	if c.roleKnown {
		return
	}
	c.roleKnown = true
	c.ClientGuessed = guessed
	if client == 1 {
		c.Sides[0], c.Sides[1] = c.Sides[1], c.Sides[0]
		c.hist.swap()
		c.hist.flipped() // the first packet came from the server
		c.dups[0], c.dups[1] = c.dups[1], c.dups[0]
	}
	c.factory = t.factory
}

// sink returns the connection's Stream, made on first use: a connection
// that never carries anything (a SYN flood's) costs no HTTP state.
func (c *Conn) sink() Stream {
	if c.stream == nil && c.roleKnown && c.factory != nil {
		c.stream = c.factory(c)
		c.factory = nil
	}
	return c.stream
}

// guessClient picks the client of a connection whose SYN was not captured:
// the sender of a request line, the receiver of a status line, the side
// that is not on a configured server port, the side with a Teredo address
// (2001::/32: Teredo serves clients behind NATs, whose ephemeral ports
// are often below the server's, 1025-5000 on older Windows), the side not
// on a well-known or common HTTP server port, else the higher
// (ephemeral) port.
func (c *Conn) guessClient(t *Table, i int, payload []byte) int {
	if looksLikeRequest(payload) {
		return i
	}
	if bytes.HasPrefix(payload, []byte("HTTP/")) {
		return 1 - i
	}
	p0, p1 := c.Sides[0].Addr.Port(), c.Sides[1].Addr.Port()
	if t.cfg.ServerPorts[p0] != t.cfg.ServerPorts[p1] {
		if t.cfg.ServerPorts[p0] {
			return 1
		}
		return 0
	}
	if t0, t1 := teredo(c.Sides[0].Addr.Addr()), teredo(c.Sides[1].Addr.Addr()); t0 != t1 {
		if t0 {
			return 0
		}
		return 1
	}
	if s0, s1 := serverPort(p0), serverPort(p1); s0 != s1 {
		if s0 {
			return 1
		}
		return 0
	}
	if p1 > p0 {
		return 1
	}
	return 0
}

// teredo reports whether a is a Teredo address (2001:0::/32, RFC 4380).
func teredo(a netip.Addr) bool {
	if !a.Is6() || a.Is4In6() {
		return false
	}
	b := a.As16()
	return b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0
}

// serverPort reports whether p is a port servers listen on: a well-known
// port (below 1024) or a common HTTP one.
func serverPort(p uint16) bool {
	switch p {
	case 1080, 3128, 8000, 8008, 8080, 8081, 8088, 8443, 8888, 9000, 9080, 9443:
		return true
	}
	return p < 1024 && p != 0
}

var methods = [][]byte{
	[]byte("GET "), []byte("HEAD "), []byte("POST "), []byte("PUT "), []byte("DELETE "),
	[]byte("OPTIONS "), []byte("PATCH "), []byte("CONNECT "), []byte("TRACE "), []byte("PRI "),
}

func looksLikeRequest(b []byte) bool {
	for _, m := range methods {
		if bytes.HasPrefix(b, m) {
			return true
		}
	}
	return false
}

// add processes one segment of this connection; ns is its time in Unix ns.
func (c *Conn) add(t *Table, seg *capture.Segment, ns int64) {
	i := c.sideOf(seg)
	now := seg.Time
	// Held segments and captures whose times go backwards come out of
	// time order: the first and last packet times are the extremes.
	if ns > c.lastNs {
		c.LastPacketAt, c.lastNs = now, ns
	}
	if ns < c.firstNs {
		c.FirstPacketAt, c.firstNs = now, ns
	}
	syn, ack, fin, rst := seg.Has(capture.SYN), seg.Has(capture.ACK), seg.Has(capture.FIN), seg.Has(capture.RST)

	if syn && !c.roleKnown {
		if ack {
			// The SYN-ACK's receiver is the client; without its SYN in the
			// capture the spec still calls the client guessed.
			c.setRoles(t, 1-i, true)
		} else {
			c.SynSeen = true
			c.setRoles(t, i, false)
		}
	} else if syn && !ack && c.ClientGuessed && c.sideOf(seg) == 0 {
		c.ClientGuessed = false // the SYN came after its SYN-ACK: the guess is confirmed
	}
	if !c.roleKnown && seg.PayloadLen > 0 && !rst {
		c.setRoles(t, c.guessClient(t, i, seg.Payload), true)
	}
	i = c.sideOf(seg)
	s := &c.Sides[i]
	s.Packets++
	c.hist.packet(i, syn, ack, fin, rst, Seq(seg.Seq), seg.PayloadLen, seg.Window)
	firstFromSide := !s.h.seen
	s.h.seen = true
	seq := Seq(seg.Seq)
	if firstFromSide {
		s.Carrier = seg.Carrier
	}
	if end := seq.Add(seg.PayloadLen + b2i(syn) + b2i(fin)); !s.h.procValid || end.After(s.h.procEnd) {
		s.h.procEnd, s.h.procValid = end, true
	}

	if syn {
		if s.SynAt.IsZero() {
			s.SynAt = now
			if ack {
				c.SynAckAt = now
			} else {
				c.SynAt = now
				c.SynSeen = true
			}
		}
		s.h.isn, s.h.isnValid = seq, true
		// A repeated SYN may move the start of the stream only while
		// nothing of it was delivered.
		if !s.h.nextValid || (!s.h.finValid && s.PayloadBytes == 0 && (s.State == Closed || s.State == SynSent)) {
			s.h.next, s.h.nextValid = seq.Add(1), true
		}
		if ack {
			c.transition(i, EvSendSYNACK, now)
		} else {
			c.transition(i, EvSendSYN, now)
		}
		seq = seq.Add(1)
	} else if firstFromSide && !rst && s.State == Closed && c.SynAt.IsZero() && c.SynAckAt.IsZero() {
		c.transition(i, EvMidstream, now)
	}
	if !s.h.nextValid && !rst {
		s.h.next, s.h.nextValid = seq, true
	}

	if ack {
		c.ackFrom(t, i, Seq(seg.Ack), now)
	}
	if rst {
		c.rstFrom(t, i, seg, now)
		return
	}

	plen := seg.PayloadLen
	if plen == 0 && !fin {
		if !syn && s.h.nextValid && seq == s.h.next-1 && !s.h.finDone {
			s.KeepaliveProbes++
		}
		return
	}
	if plen <= 1 && !fin && !syn && s.h.nextValid && seq == s.h.next-1 {
		s.KeepaliveProbes++
		return
	}
	if fin {
		end := seq.Add(plen)
		if !s.h.finValid {
			s.h.finValid, s.h.finSeq = true, end
			s.FinAt = now
			s.FinAck, s.FinAcks = Seq(seg.Ack), ack
			c.transition(i, EvSendFIN, now)
		} else if plen == 0 {
			s.Retransmissions++
			c.hist.retransmission(i)
		}
	}
	if plen > 0 {
		c.segment(t, i, seq, seg.Payload, plen, now)
	}
	c.tryFIN(i)
	c.checkFinished(now)
}

// ackFrom processes an acknowledgement sent by side i.
func (c *Conn) ackFrom(t *Table, i int, a Seq, now time.Time) {
	s, p := &c.Sides[i], &c.Sides[1-i]
	if !s.h.ackValid {
		s.h.ack, s.h.ack0, s.h.ackValid = a, a, true
	} else if a.After(s.h.ack) {
		s.h.ack = a
	}
	if p.h.isnValid && !a.Before(p.h.isn.Add(1)) {
		if s.State == SynSent {
			c.transition(i, EvAckPeerSYN, now)
			if i == 0 && c.AckAt.IsZero() && !c.SynAckAt.IsZero() {
				c.AckAt = now
			}
		}
		if p.State == SynReceived {
			c.transition(1-i, EvPeerAckedSYN, now)
		}
	}
	// Bytes the peer acknowledged that the capture never showed: a gap,
	// once later data (or the FIN) proves the hole will not be filled.
	c.fillHoles(1-i, false)
	if p.h.finValid && !a.Before(p.h.finSeq.Add(1)) && s.AckedPeerFINAt.IsZero() {
		s.AckedPeerFINAt = now
		c.transition(i, EvAckPeerFIN, now)
		c.transition(1-i, EvPeerAckedFIN, now)
		c.checkFinished(now)
	}
}

func (c *Conn) rstFrom(t *Table, i int, seg *capture.Segment, now time.Time) {
	s := &c.Sides[i]
	if s.RstAt.IsZero() {
		s.RstAt = now
		s.RstAck, s.RstAcks = Seq(seg.Ack), seg.Has(capture.ACK)
		if st := c.sink(); st != nil {
			st.RST(Dir(i), now)
		}
	}
	c.transition(0, EvRST, now)
	c.transition(1, EvRST, now)
	if !c.finished {
		c.finished, c.doneAt = true, now
	}
}

func (c *Conn) checkFinished(now time.Time) {
	if !c.finished && !c.Sides[0].AckedPeerFINAt.IsZero() && !c.Sides[1].AckedPeerFINAt.IsZero() {
		c.finished, c.doneAt = true, now
	}
}

// segment handles plen payload bytes of side i starting at seq, of which
// data were captured.
func (c *Conn) segment(t *Table, i int, seq Seq, data []byte, plen int, now time.Time) {
	s := &c.Sides[i]
	h := &s.h
	end := seq.Add(plen)
	if h.finValid && end.After(h.finSeq) {
		// Bytes past the FIN: no TCP sends them; keep them out of the stream.
		c.anomaly("data-after-fin")
		keep := int(h.finSeq.Diff(seq))
		if keep <= 0 {
			return
		}
		plen, end = keep, h.finSeq
		if len(data) > keep {
			data = data[:keep]
		}
	}
	switch {
	case end.AtOrBefore(h.next):
		s.Retransmissions++
		c.hist.retransmission(i)
		return
	case seq.After(h.next):
		if h.oooBytes+len(data) > t.cfg.MaxBuffered {
			c.fillHoles(i, true)
			if seq.After(h.next) {
				// Still ahead after giving up on every hole before the
				// buffered data: skip to this segment.
				c.gap(i, int(seq.Diff(h.next)), now)
			}
			c.deliver(i, seq, data, plen, now)
			c.drain(i)
			return
		}
		h.insert(pending{seq: seq, data: append([]byte(nil), data...), plen: plen, t: now})
		h.oooBytes += len(data)
		c.fillHoles(i, false)
		return
	}
	if seq.Before(h.next) {
		s.Retransmissions++
		c.hist.retransmission(i)
	}
	c.deliver(i, seq, data, plen, now)
	c.drain(i)
}

// deliver passes the part of [seq, seq+plen) at or after next to the stream.
func (c *Conn) deliver(i int, seq Seq, data []byte, plen int, t time.Time) {
	s := &c.Sides[i]
	off := int(s.h.next.Diff(seq))
	if off < 0 || off >= plen {
		return
	}
	n := plen - off
	s.PayloadBytes += uint64(n)
	var b []byte
	if off < len(data) {
		b = data[off:]
	}
	if st := c.sink(); len(b) > 0 && st != nil {
		st.Data(Dir(i), b, t)
	}
	if lost := n - len(b); lost > 0 {
		// Bytes of this segment that the snaplen cut: seen on the wire,
		// not captured. Missing, but no sequence-space gap: no 'G'.
		s.MissingBytes += uint64(lost)
		s.CutBytes += uint64(lost)
		if st := c.sink(); st != nil {
			c.inCut = true
			st.Gap(Dir(i), lost, t)
			c.inCut = false
		}
	}
	s.h.next = seq.Add(plen)
}

// gap skips n bytes of side i that the capture lacks.
func (c *Conn) gap(i int, n int, t time.Time) {
	if n <= 0 {
		return
	}
	s := &c.Sides[i]
	s.MissingBytes += uint64(n)
	c.hist.gap(i)
	s.h.next = s.h.next.Add(n)
	if st := c.sink(); st != nil {
		st.Gap(Dir(i), n, t)
	}
}

// drain delivers buffered segments that have become in order.
func (c *Conn) drain(i int) {
	h := &c.Sides[i].h
	for len(h.ooo) > 0 && h.ooo[0].seq.AtOrBefore(h.next) {
		p := h.ooo[0]
		h.ooo = h.ooo[1:]
		h.oooBytes -= len(p.data)
		if p.end().AtOrBefore(h.next) {
			c.Sides[i].Retransmissions++
			c.hist.retransmission(i)
			continue
		}
		c.deliver(i, p.seq, p.data, p.plen, p.t)
	}
	if len(h.ooo) == 0 {
		h.ooo = nil
	}
}

// fillHoles declares missing the bytes of side i before its buffered data
// or its FIN that the peer acknowledged (so no retransmission will come),
// or all of them when force is set.
func (c *Conn) fillHoles(i int, force bool) {
	s, p := &c.Sides[i], &c.Sides[1-i]
	h := &s.h
	if !h.nextValid || h.finDone {
		return
	}
	for {
		var limit Seq
		switch {
		case len(h.ooo) > 0:
			limit = h.ooo[0].seq
		case h.finValid && !h.finDone:
			limit = h.finSeq
		default:
			return
		}
		if !force {
			if !p.h.ackValid || !p.h.ack.After(h.next) {
				return
			}
			if p.h.ack.Before(limit) {
				limit = p.h.ack
			}
		}
		if !limit.After(h.next) {
			return
		}
		t := c.LastPacketAt
		if len(h.ooo) > 0 {
			t = h.ooo[0].t
		}
		c.gap(i, int(limit.Diff(h.next)), t)
		c.drain(i)
		c.tryFIN(i)
	}
}

// tryFIN signals side i's FIN once every byte before it is accounted for.
func (c *Conn) tryFIN(i int) {
	s := &c.Sides[i]
	h := &s.h
	if h.finValid && !h.finDone && h.next == h.finSeq {
		h.finDone = true
		h.next = h.finSeq.Add(1)
		if len(h.ooo) > 0 {
			// Buffered bytes beyond the FIN: no TCP sends them.
			c.anomaly("data-after-fin")
			h.ooo, h.oooBytes = nil, 0
		}
		if st := c.sink(); st != nil {
			st.FIN(Dir(i), s.FinAt)
		}
	}
}

// flush gives up on every hole, then passes what is left to the stream.
func (c *Conn) flush(t *Table) {
	if !c.roleKnown {
		c.setRoles(t, c.guessClient(t, 0, nil), !c.SynSeen && c.SynAckAt.IsZero())
	}
	for i := range c.Sides {
		c.fillHoles(i, true)
	}
	for i := range c.Sides {
		s := &c.Sides[i]
		if s.State == TimeWait && !t.now.Before(s.TimeWaitUntil) {
			c.transition(i, EvTimeWaitEnded, t.now)
		}
	}
}

func (c *Conn) anomaly(name string) {
	for _, a := range c.Anomalies {
		if a == name {
			return
		}
	}
	c.Anomalies = append(c.Anomalies, name)
}

func (h *half) insert(p pending) {
	j := len(h.ooo)
	for j > 0 && p.seq.Before(h.ooo[j-1].seq) {
		j--
	}
	h.ooo = append(h.ooo, pending{})
	copy(h.ooo[j+1:], h.ooo[j:])
	h.ooo[j] = p
}
