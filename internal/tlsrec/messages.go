package tlsrec

// breakHS stops handshake parsing in d after lost bytes.
func (c *Conn) breakHS(d Dir) {
	s := &c.d[d]
	if !s.hsBroken {
		s.hsBroken = true
		c.warn("%s: handshake bytes lost: handshake messages no longer parsed", d)
	}
}

// handshake reassembles handshake messages from record content.
func (c *Conn) handshake(d Dir, b []byte) {
	s := &c.d[d]
	if s.hsBroken {
		return
	}
	for len(b) > 0 {
		if !s.hsIn {
			n := copy(s.hsHdr[s.hsHdrN:], b)
			s.hsHdrN += n
			b = b[n:]
			if s.hsHdrN < 4 {
				return
			}
			s.hsHdrN = 0
			s.hsIn = true
			s.hsType = s.hsHdr[0]
			s.hsNeed = int(s.hsHdr[1])<<16 | int(s.hsHdr[2])<<8 | int(s.hsHdr[3])
			s.hsKeep = keepMessage(s.hsType)
			if s.hsKeep && s.hsNeed > maxHSMessage {
				c.warn("%s: handshake message %d of %d bytes not parsed", d, s.hsType, s.hsNeed)
				s.hsKeep = false
			}
			s.hsBuf = s.hsBuf[:0]
		}
		n := min(s.hsNeed, len(b))
		if s.hsKeep {
			s.hsBuf = append(s.hsBuf, b[:n]...)
		}
		s.hsNeed -= n
		b = b[n:]
		if s.hsNeed == 0 {
			s.hsIn = false
			c.message(d, s.hsType, s.hsBuf)
		}
	}
}

func keepMessage(t uint8) bool {
	switch t {
	case hsClientHello, hsServerHello, hsEncryptedExtensions, hsNewSessionTicket, hsKeyUpdate:
		return true
	}
	return false
}

// message handles one complete handshake message of direction d.
func (c *Conn) message(d Dir, t uint8, b []byte) {
	s := &c.d[d]
	switch {
	case t == hsClientHello && d == ClientToServer:
		ch, ok := parseClientHello(b)
		if !ok {
			c.warn("client: malformed ClientHello")
			return
		}
		if c.ch == nil {
			c.ch = ch
			c.lookup()
			c.setupEarly()
		} else if ch.random != c.ch.random {
			c.warn("client: a second ClientHello with another random (renegotiation) is not followed")
		}
	case t == hsServerHello && d == ServerToClient:
		sh, ok := parseServerHello(b)
		if !ok {
			c.warn("server: malformed ServerHello")
			return
		}
		if sh.hrr {
			c.hrr = true
			c.version = sh.version
			return
		}
		if c.sh != nil {
			c.warn("server: a second ServerHello (renegotiation) is not followed")
			return
		}
		c.sh = sh
		c.version = sh.version
		c.suite = suites[sh.suite]
		if c.version == 0x0304 {
			c.startTLS13()
		} else if sh.compression != 0 {
			c.warn("compression method %d: decrypted data is compressed and not analysed", sh.compression)
		}
	case d == ServerToClient && (t == hsCertificate || t == hsServerKeyExchange || t == hsServerHelloDone || t == hsCertificateRequest):
		if c.version != 0x0304 && !s.ccs {
			c.full12 = true
		}
	case t == hsNewSessionTicket && d == ServerToClient && c.version != 0x0304:
		if tk, ok := parseTicket12(b); ok {
			c.ticket12 = append(c.ticket12[:0], tk...)
			if c.master12 != nil {
				c.keys.remember(nil, c.ticket12, c.master12)
			}
		}
	case t == hsEncryptedExtensions && d == ServerToClient:
		if ee, ok := parseEncryptedExtensions(b); ok {
			c.ee, c.haveEE = ee, true
		}
	case t == hsFinished && c.version == 0x0304:
		if d == ClientToServer {
			c.clientFin = true
		} else {
			c.serverFin = true
		}
		if s.cur < phaseApp {
			s.pending = phaseApp
		}
	case t == hsEndOfEarlyData && d == ClientToServer && c.version == 0x0304:
		s.pending = phaseHS
	case t == hsKeyUpdate && c.version == 0x0304:
		s.update = true
	}
}
