package tlsrec

import "encoding/binary"

// open tries the direction's ciphers from the current phase on; on success
// with a later one the direction moves to that phase.
func (c *Conn) open(d Dir, body []byte) ([]byte, ContentType, bool) {
	s := &c.d[d]
	if cap(s.plain) < maxCiphertext {
		s.plain = make([]byte, maxCiphertext)
	}
	dst := s.plain[:cap(s.plain)]
	hdr := &s.hdr
	hdr[0] = byte(s.typ)
	binary.BigEndian.PutUint16(hdr[1:], s.ver)
	binary.BigEndian.PutUint16(hdr[3:], uint16(s.length))
	for i := s.cur; i < len(s.ciph)+1; i++ {
		var rc *recordCipher
		switch {
		case i < len(s.ciph):
			rc = s.ciph[i]
		case s.cur == phaseEarly:
			rc = s.earlyAlt
		}
		if rc == nil {
			continue
		}
		base := rc.seq
		tries := 1
		if i == s.cur {
			tries += s.seqSkip
		}
		for k := 0; k < tries; k++ {
			rc.seq = base + uint64(k)
			out, inner, err := rc.open(dst, hdr, body)
			if err == nil {
				if i == len(s.ciph) {
					s.ciph[phaseEarly], s.earlyAlt, i = rc, nil, phaseEarly
				}
				s.cur = i
				s.failures = 0
				s.seqSkip = 0
				return out, inner, true
			}
			if err != errAuth && err != errShort {
				c.warn("%s: %v", d, err)
			}
		}
		rc.seq = base
	}
	s.seqSkip = 0 // tried ahead once, after the loss: no more
	return nil, 0, false
}

// failed handles a record no key opened.
func (c *Conn) failed(d Dir, r *Record) {
	s := &c.d[d]
	if rc := s.ciph[s.cur]; rc != nil {
		rc.seq++ // the sender used a sequence number for it
	}
	s.authFail++
	s.failures++
	if s.authFail == 1 {
		c.warn("%s: record at offset %d failed authentication (Info.AuthFailures counts them all)", d, r.Offset)
	}
	if s.failures >= maxFailures {
		s.noDecrypt = true
		c.warn("%s: %d records in a row failed authentication: gave up decrypting this direction", d, s.failures)
	}
}

// record12 handles an encrypted TLS 1.0–1.2 record.
func (c *Conn) record12(d Dir, r *Record, body []byte) []byte {
	s := &c.d[d]
	if body != nil && c.canDecrypt(d) {
		out, _, ok := c.open(d, body)
		if !ok {
			c.failed(d, r)
		} else {
			r.Decrypted = true
			r.Plain = len(out)
			s.plainN += int64(len(out))
			switch r.Type {
			case TypeAlert:
				r.Alert = parseAlert(out)
				c.alert(d, r)
			case TypeHandshake:
				c.handshake(d, out)
			case TypeApplicationData:
				c.decrypted = true
				return out
			}
			return nil
		}
	} else if s.damaged {
		if rc := s.ciph[s.cur]; rc != nil && !s.noDecrypt {
			rc.seq++
		}
	}
	if r.Type == TypeAlert {
		c.alert(d, r)
	}
	return nil
}

// record13 handles an encrypted TLS 1.3 record (or 0-RTT data).
func (c *Conn) record13(d Dir, r *Record, body []byte) []byte {
	s := &c.d[d]
	if body != nil && c.canDecrypt(d) {
		out, inner, ok := c.open(d, body)
		if ok {
			if d == ClientToServer && s.cur >= phaseHS {
				s.hsOK = true
			}
			r.Decrypted = true
			r.Inner = inner
			r.Plain = len(out)
			s.plainN += int64(len(out))
			switch inner {
			case TypeHandshake:
				c.handshake(d, out)
			case TypeAlert:
				r.Alert = parseAlert(out)
				c.alert(d, r)
			case TypeApplicationData:
				c.decrypted = true
				return out
			}
			return nil
		}
		switch {
		case d == ClientToServer && !s.hsOK && c.ch != nil && c.ch.earlyData && s.cur <= phaseHS:
			// 0-RTT data under a key we do not have (or rejected by the server)
			s.early++
		case s.ciph[s.cur] == nil:
			// a phase whose secret the key log lacks (e.g. only *_TRAFFIC_SECRET_0):
			// its records cannot be opened, which is no failure
		default:
			c.failed(d, r)
		}
	} else if s.damaged {
		if rc := s.ciph[s.cur]; rc != nil && !s.noDecrypt {
			rc.seq++
		}
	}
	c.judge13(d, r)
	return nil
}

// judge13 classifies an undecrypted TLS 1.3 record by size and position.
func (c *Conn) judge13(d Dir, r *Record) {
	r.Sure = false
	tag := 16
	if c.suite != nil && c.suite.id == 0x1305 {
		tag = 8
	}
	switch {
	case r.Len == headerLen+2+1+tag:
		r.Inner = TypeAlert
		c.alert(d, r)
	case d == ClientToServer && c.sh == nil:
		r.Inner = TypeApplicationData // 0-RTT
		c.earlySent = true
	case d == ClientToServer && !c.clientFin && c.earlySent && r.Len == headerLen+4+1+tag:
		r.Inner = TypeHandshake // EndOfEarlyData; the Finished follows
	case d == ClientToServer && !c.clientFin:
		r.Inner = TypeHandshake
		c.clientFin = true
	case c.clientFin && r.Len == headerLen+5+1+tag:
		r.Inner = TypeHandshake // KeyUpdate
	case d == ServerToClient && !c.serverFin && !c.clientFin:
		// the server's flight; after 0-RTT data its end is seen by the
		// Finished's size (then data answering the 0-RTT request follows)
		r.Inner = TypeHandshake
		if c.earlySent && c.suite != nil && r.Len == headerLen+4+c.suite.hashLen()+1+tag {
			c.serverFin = true
		}
	case d == ServerToClient && c.clientFin && !c.clientApp:
		r.Inner = TypeHandshake // NewSessionTicket
	default:
		r.Inner = TypeApplicationData
	}
}
