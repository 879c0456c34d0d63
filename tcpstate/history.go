package tcpstate

// The connection's history in the letters of Zeek's conn.log, which people
// who read Zeek logs take in at a glance:
//
//	S a SYN without ACK      H a SYN-ACK        A a pure ACK
//	D a packet with payload  F a FIN            R a RST
//	G a content gap          T a retransmission W a zero window
//	I FIN and RST together   Q SYN with FIN or RST
//	^ the roles were flipped (the first packet came from the server)
//
// Upper case for the client, lower case for the server, in the order seen.
// As in Zeek: A, D, I and Q are recorded once per side; S, H, F and R
// again only for a new sequence number; G, T and W when their count per
// side reaches 1, 10, 100, ... (Zeek also has C, bad checksums, which this
// package does not check.)

// maxHistory bounds a history's length; a connection that would write
// more keeps the first maxHistory letters.
const maxHistory = 48

// histSide is one side's history state.
type histSide struct {
	once              uint8 // letters of histOnce already written
	lastSYN, lastFIN  Seq
	lastRST           Seq
	synSet, finSet    bool
	rstSet            bool
	gaps, rexmits, w0 uint32 // counts for the scaled letters
	gapAt, rexmitAt   uint32 // the count at which the letter is written next
	w0At              uint32
}

const (
	histA uint8 = 1 << iota
	histD
	histI
	histQ
)

// history is a connection's letters. Each is stored with the index in
// Conn.Sides of the side that caused it in the high bit, so that the case
// is decided once the roles are known (and fixed when they swap).
type history struct {
	b     [maxHistory]byte
	n     uint8
	sides [2]histSide
}

const histSideBit = 0x80

func (h *history) add(side int, letter byte) {
	if int(h.n) < len(h.b) {
		h.b[h.n] = letter | byte(side)<<7
		h.n++
	}
}

// once writes letter for side the first time only.
func (h *history) once(side int, bit uint8, letter byte) {
	if s := &h.sides[side]; s.once&bit == 0 {
		s.once |= bit
		h.add(side, letter)
	}
}

// scaled counts an event and writes letter at counts 1, 10, 100, ...
func (h *history) scaled(side int, count, at *uint32, letter byte) {
	*count++
	if *at == 0 {
		*at = 1
	}
	if *count == *at {
		h.add(side, letter)
		if *at <= 1e8 {
			*at *= 10
		}
	}
}

// packet records the flags of a segment from side.
func (h *history) packet(side int, syn, ack, fin, rst bool, seq Seq, plen int, window uint16) {
	s := &h.sides[side]
	switch n := b2i(syn) + b2i(fin) + b2i(rst); {
	case n > 1:
		if fin && rst {
			h.once(side, histI, 'I')
		} else {
			h.once(side, histQ, 'Q')
		}
	case n == 1:
		switch {
		case syn:
			letter := byte('S')
			if ack {
				letter = 'H'
			}
			if !s.synSet || seq != s.lastSYN {
				h.add(side, letter)
			}
			s.lastSYN, s.synSet = seq, true
		case fin:
			end := seq.Add(plen)
			if !s.finSet || end != s.lastFIN {
				h.add(side, 'F')
			}
			s.lastFIN, s.finSet = end, true
		default:
			if !s.rstSet || seq != s.lastRST {
				h.add(side, 'R')
			}
			s.lastRST, s.rstSet = seq, true
		}
	case plen > 0:
		h.once(side, histD, 'D')
	case ack:
		h.once(side, histA, 'A')
	}
	if window == 0 && !syn && !fin && !rst {
		h.scaled(side, &s.w0, &s.w0At, 'W')
	}
}

func (h *history) retransmission(side int) {
	s := &h.sides[side]
	h.scaled(side, &s.rexmits, &s.rexmitAt, 'T')
}

func (h *history) gap(side int) {
	s := &h.sides[side]
	h.scaled(side, &s.gaps, &s.gapAt, 'G')
}

// flipped writes '^' (the roles were decided against the first packet's
// sender).
func (h *history) flipped() {
	if int(h.n) < len(h.b) {
		h.b[h.n] = '^'
		h.n++
	}
}

// swap exchanges the sides of every letter written (Conn.Sides swapped).
func (h *history) swap() {
	for i := range h.b[:h.n] {
		if h.b[i] != '^' {
			h.b[i] ^= histSideBit
		}
	}
	h.sides[0], h.sides[1] = h.sides[1], h.sides[0]
}

// String returns the history: side 0 (the client, once the roles are
// known) in upper case, side 1 in lower case.
func (h *history) String() string {
	var out [maxHistory]byte
	for i, c := range h.b[:h.n] {
		switch {
		case c == '^':
			out[i] = c
		case c&histSideBit != 0:
			out[i] = c&^histSideBit + ('a' - 'A')
		default:
			out[i] = c
		}
	}
	return string(out[:h.n])
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// History returns the connection's Zeek-style history string.
func (c *Conn) History() string { return c.hist.String() }
