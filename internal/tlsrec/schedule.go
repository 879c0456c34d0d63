package tlsrec

import "encoding/hex"

// lookup finds the connection's secrets by client random (once found, kept).
func (c *Conn) lookup() {
	if c.haveSec || c.ch == nil || c.keys == nil {
		return
	}
	c.sec, c.haveSec = c.keys.lookup(c.ch.random)
}

// noKeys warns, once, that the key log lacks this connection.
func (c *Conn) noKeys(what string) {
	if c.keys == nil || c.looked || c.keys.Len() == 0 {
		return
	}
	c.looked = true
	cr := "unknown (no ClientHello)"
	if c.ch != nil {
		cr = hex.EncodeToString(c.ch.random[:])
	}
	c.warn("no %s for client random %s", what, cr)
}

// setupEarly prepares 0-RTT decryption when the client offers it and the
// key log has its secret. The suite is the PSK's, unknown until the
// ServerHello: by the secret's length it is TLS_AES_256_GCM_SHA384 (48 bytes)
// or one of TLS_AES_128_GCM_SHA256 and TLS_CHACHA20_POLY1305_SHA256 (32),
// both kept and tried.
func (c *Conn) setupEarly() {
	if !c.haveSec || !c.ch.earlyData || c.sec.clientEarly == nil {
		return
	}
	cl := &c.d[ClientToServer]
	ids := []uint16{0x1301, 0x1303}
	if len(c.sec.clientEarly) == 48 {
		ids = []uint16{0x1302}
	}
	for i, id := range ids {
		rc, err := newCipher13(suites[id], c.sec.clientEarly)
		if err != nil {
			continue
		}
		if i == 0 {
			cl.ciph[phaseEarly] = rc
		} else {
			cl.earlyAlt = rc
		}
	}
}

// startTLS13 keys both directions after a TLS 1.3 ServerHello.
func (c *Conn) startTLS13() {
	c.lookup()
	if c.keys == nil {
		return
	}
	if !c.haveSec {
		c.noKeys("TLS 1.3 secrets")
		return
	}
	c.keysFrom = "CLIENT_RANDOM"
	if c.suite == nil || (c.suite.kind != kindGCM && c.suite.kind != kindChaCha) {
		c.warn("cipher suite %s is not supported for decryption", SuiteName(c.sh.suite))
		return
	}
	mk := func(secret []byte) *recordCipher {
		if secret == nil {
			return nil
		}
		rc, err := newCipher13(c.suite, secret)
		if err != nil {
			c.warn("%v", err)
			return nil
		}
		return rc
	}
	cl, sv := &c.d[ClientToServer], &c.d[ServerToClient]
	if early := cl.ciph[phaseEarly]; early != nil && early.s != c.suite && early.seq == 0 {
		// nothing decrypted under the guessed suite: the server's choice is the PSK's
		cl.ciph[phaseEarly] = mk(c.sec.clientEarly)
	}
	cl.earlyAlt = nil
	cl.ciph[phaseHS], cl.ciph[phaseApp] = mk(c.sec.clientHS), mk(c.sec.client0)
	sv.ciph[phaseHS], sv.ciph[phaseApp] = mk(c.sec.serverHS), mk(c.sec.server0)
	sv.cur = phaseHS
	if cl.ciph[phaseEarly] == nil {
		cl.cur = phaseHS
	}
	if cl.ciph[phaseApp] == nil && sv.ciph[phaseApp] == nil {
		c.warn("no TLS 1.3 traffic secrets (CLIENT_TRAFFIC_SECRET_0 / SERVER_TRAFFIC_SECRET_0) for client random %s",
			hex.EncodeToString(c.ch.random[:]))
	}
}

// startTLS12 keys both directions of a TLS 1.0–1.2 connection at its first
// ChangeCipherSpec.
func (c *Conn) startTLS12() {
	if c.setup12 || c.keys == nil {
		return
	}
	c.setup12 = true
	if c.ch == nil || c.sh == nil {
		c.warn("ChangeCipherSpec without a ClientHello and ServerHello: not decrypted")
		return
	}
	c.lookup()
	master := c.sec.master
	c.keysFrom = "CLIENT_RANDOM"
	if master == nil {
		var sid []byte
		if len(c.sh.sessionID) > 0 && string(c.sh.sessionID) == string(c.ch.sessionID) {
			sid = c.sh.sessionID
		}
		master, c.keysFrom = c.keys.sessionMaster(sid, c.ch.ticket)
	}
	if master == nil {
		c.noKeys("master secret (CLIENT_RANDOM)")
		return
	}
	if c.suite == nil || c.suite.kind == kindUnsupported {
		c.warn("cipher suite %s is not supported for decryption", SuiteName(c.sh.suite))
		return
	}
	etm := c.sh.etm && c.suite.kind == kindCBC
	cl, sv, err := newCiphers12(c.suite, c.version, master, c.ch.random, c.sh.random, etm)
	if err != nil {
		c.warn("%s: %v", SuiteName(c.sh.suite), err)
		return
	}
	c.haveSec = true
	c.master12 = master
	c.d[ClientToServer].ciph[phaseApp], c.d[ClientToServer].cur = cl, phaseApp
	c.d[ServerToClient].ciph[phaseApp], c.d[ServerToClient].cur = sv, phaseApp
	c.keys.remember(c.sh.sessionID, c.ticket12, master)
}
