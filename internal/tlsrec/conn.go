package tlsrec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

const (
	headerLen     = 5
	maxCiphertext = 1<<14 + 2048 // RFC 5246 6.2.3
	maxHSMessage  = 1 << 16      // ClientHello/ServerHello/EncryptedExtensions/tickets kept up to this size
	maxWarnings   = 16
	maxFailures   = 16 // consecutive authentication failures before giving up a direction
	maxSeqSkip    = 64 // sequence numbers tried ahead after lost bytes (once)
)

// TLS 1.3 key phases of a direction, indexes into dirState.ciph.
const (
	phaseEarly = 0
	phaseHS    = 1
	phaseApp   = 2
)

type dirState struct {
	// record framing
	hdr     [headerLen]byte
	hdrN    int
	inBody  bool
	need    int // body bytes outstanding
	typ     ContentType
	ver     uint16
	length  int
	first   time.Time
	last    time.Time
	off     int64 // stream offset of the next byte
	start   int64 // offset of the current record
	keep    bool  // buffer the body
	damaged bool  // part of the current body was lost
	buf     []byte
	plain   []byte // decryption output
	stopped bool
	resync  bool
	lastVer uint16 // record version of the last good header

	// handshake message reassembly
	hsHdr    [4]byte
	hsHdrN   int
	hsIn     bool
	hsNeed   int
	hsType   uint8
	hsKeep   bool
	hsBuf    []byte
	hsBroken bool

	// protection
	ccs       bool // TLS ≤ 1.2: ChangeCipherSpec sent, later records are encrypted
	ciph      [3]*recordCipher
	cur       int
	pending   int  // TLS 1.3: phase to switch to after this record (0: none)
	update    bool // TLS 1.3: KeyUpdate after this record
	failures  int
	noDecrypt bool
	seqSkip   int           // after lost bytes: sequence numbers to try ahead
	earlyAlt  *recordCipher // TLS 1.3 client: 0-RTT under the other suite of the secret's hash
	hsOK      bool          // TLS 1.3 client: a record decrypted under the handshake key
	early     int           // TLS 1.3 client: 0-RTT records not decrypted

	// counts and close
	records, appRecords int
	appBytes, plainN    int64
	authFail, keyUpd    int
	closeAt             time.Time // a close_notify read
	candAt              time.Time // the last record was an undecrypted alert
	candSure            bool
	candidate           bool
}

// Conn follows the TLS records of one TCP connection. It is not safe for
// concurrent use; one Conn per connection.
type Conn struct {
	h    Handler
	keys *KeyLog
	d    [2]dirState

	ch        *clientHello
	sh        *serverHello
	hrr       bool
	version   uint16
	suite     *suite
	sec       secrets
	haveSec   bool
	looked    bool
	setup12   bool
	full12    bool // TLS ≤ 1.2: Certificate / ServerKeyExchange / ServerHelloDone seen
	serverCCS bool
	ticket12  []byte
	master12  []byte
	ee        encryptedExtensions
	haveEE    bool
	clientFin bool // TLS 1.3: the client's Finished was seen (decrypted or judged)
	clientApp bool // TLS 1.3: the client sent application data after its Finished
	earlySent bool // TLS 1.3: the client sent records before the ServerHello (0-RTT)
	serverFin bool // TLS 1.3: the server's Finished was seen (decrypted, or judged after 0-RTT)
	decrypted bool
	keysFrom  string
	warned    map[string]bool
	warnings  []string
	dropped   int
}

// NewConn returns a Conn that reports to h (which may be nil) and decrypts
// with keys (which may be nil).
func NewConn(h Handler, keys *KeyLog) *Conn {
	return &Conn{h: h, keys: keys}
}

// Looks reports whether b, the first bytes a side sent, starts like a TLS
// handshake record carrying a ClientHello or ServerHello (SSL 3.0 to TLS
// 1.3 record versions), on any port. It needs the first 6 bytes and is false
// for fewer.
func Looks(b []byte) bool {
	if len(b) < 6 || b[0] != byte(TypeHandshake) || b[1] != 3 || b[2] > 4 {
		return false
	}
	n := int(b[3])<<8 | int(b[4])
	return n >= 4 && n <= 1<<14 && (b[5] == hsClientHello || b[5] == hsServerHello)
}

func (c *Conn) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if c.warned[msg] {
		return
	}
	if c.warned == nil {
		c.warned = map[string]bool{}
	}
	if len(c.warnings) >= maxWarnings {
		c.dropped++
		return
	}
	c.warned[msg] = true
	c.warnings = append(c.warnings, msg)
}

// Data hands the Conn the next bytes of direction d, in sequence order; b is
// valid only during the call and t is the capture time of the packet that
// carried them.
func (c *Conn) Data(d Dir, b []byte, t time.Time) {
	s := &c.d[d&1]
	d &= 1
	for len(b) > 0 {
		if s.stopped {
			s.off += int64(len(b))
			return
		}
		if s.resync {
			b = c.scan(d, b, t)
			continue
		}
		if !s.inBody {
			if s.hdrN == 0 {
				s.first = t
				s.start = s.off
			}
			n := copy(s.hdr[s.hdrN:], b)
			s.hdrN += n
			s.off += int64(n)
			b = b[n:]
			if s.hdrN < headerLen {
				return
			}
			s.last = t
			c.begin(d)
			continue
		}
		n := s.need
		if n > len(b) {
			n = len(b)
		}
		if s.keep {
			s.buf = append(s.buf, b[:n]...)
		}
		s.need -= n
		s.off += int64(n)
		s.last = t
		b = b[n:]
		if s.need == 0 {
			c.complete(d)
		}
	}
}

// plausible reports whether h could be the header of a record in a stream
// whose last good record version was ver (0: none yet).
func plausible(h *[headerLen]byte, ver uint16) bool {
	t := ContentType(h[0])
	v := binary.BigEndian.Uint16(h[1:])
	n := int(h[3])<<8 | int(h[4])
	if t < TypeChangeCipherSpec || t > TypeApplicationData || n == 0 || n > maxCiphertext {
		return false
	}
	if t == TypeChangeCipherSpec && n != 1 {
		return false
	}
	if ver != 0 {
		return v == ver
	}
	return v >= 0x0300 && v <= 0x0304
}

// scan looks for the next plausible record header after lost bytes, one
// byte at a time; it returns the rest of b once one is found.
func (c *Conn) scan(d Dir, b []byte, t time.Time) []byte {
	s := &c.d[d]
	for len(b) > 0 {
		if s.hdrN == headerLen {
			copy(s.hdr[:], s.hdr[1:])
			s.hdrN--
		}
		s.hdr[s.hdrN] = b[0]
		s.hdrN++
		s.off++
		b = b[1:]
		if s.hdrN == headerLen && plausible(&s.hdr, s.lastVer) {
			s.resync = false
			s.start = s.off - headerLen
			s.first, s.last = t, t
			c.warn("%s: resynchronised at offset %d", d, s.start)
			c.begin(d)
			return b
		}
	}
	return b
}

// begin starts the record whose header s.hdr holds.
func (c *Conn) begin(d Dir) {
	s := &c.d[d]
	s.hdrN = 0
	s.typ = ContentType(s.hdr[0])
	s.ver = binary.BigEndian.Uint16(s.hdr[1:])
	s.length = int(s.hdr[3])<<8 | int(s.hdr[4])
	if s.typ < TypeChangeCipherSpec || s.typ > TypeHeartbeat || s.hdr[1] != 3 {
		c.warn("%s: bytes at offset %d are not a TLS record (%02x %02x %02x): stopped following this direction",
			d, s.start, s.hdr[0], s.hdr[1], s.hdr[2])
		s.stopped = true
		return
	}
	if s.length > maxCiphertext {
		c.warn("%s: forged record length %d at offset %d (at most %d): stopped following this direction",
			d, s.length, s.start, maxCiphertext)
		s.stopped = true
		return
	}
	s.lastVer = s.ver
	s.need = s.length
	s.inBody = true
	s.damaged = false
	s.buf = s.buf[:0]
	s.keep = c.wantBody(d)
	if s.keep && cap(s.buf) < s.length {
		n := s.length // cleartext handshake records: their size
		if c.encrypted(d) {
			n = maxCiphertext // decrypting: one buffer of the largest size, reused
		}
		s.buf = make([]byte, 0, n)
	}
	if s.need == 0 {
		c.complete(d)
	}
}

// encrypted reports whether the current record of d is protected.
func (c *Conn) encrypted(d Dir) bool {
	s := &c.d[d]
	switch s.typ {
	case TypeChangeCipherSpec:
		return false
	case TypeApplicationData:
		return true
	}
	return s.ccs && c.version != 0x0304
}

// canDecrypt reports whether direction d has a key to try.
func (c *Conn) canDecrypt(d Dir) bool {
	s := &c.d[d]
	if s.noDecrypt {
		return false
	}
	for _, rc := range s.ciph[s.cur:] {
		if rc != nil {
			return true
		}
	}
	return false
}

func (c *Conn) wantBody(d Dir) bool {
	s := &c.d[d]
	if s.typ == TypeHeartbeat {
		return false
	}
	if !c.encrypted(d) {
		return s.typ != TypeApplicationData
	}
	return c.canDecrypt(d)
}

// Gap tells the Conn that n bytes of direction d were lost. Within a record
// body only that record is lost; otherwise the Conn looks for the next
// plausible record header and, with keys, tries the sequence numbers the lost
// bytes could have used. Both are said in Info's Warnings.
func (c *Conn) Gap(d Dir, n int) {
	d &= 1
	s := &c.d[d]
	if n <= 0 {
		return
	}
	lostAt := s.off
	s.off += int64(n)
	if s.stopped {
		return
	}
	if s.inBody && n <= s.need {
		s.need -= n
		s.damaged = true
		c.warn("%s: %d bytes lost at offset %d inside a record", d, n, lostAt)
		if s.need == 0 {
			c.complete(d)
		}
		return
	}
	if s.resync {
		return
	}
	lost := n
	if s.inBody {
		lost -= s.need
	}
	c.warn("%s: %d bytes lost at offset %d: record boundaries lost, resynchronising", d, n, lostAt)
	s.inBody = false
	s.need = 0
	s.hdrN = 0
	s.resync = true
	s.hsIn, s.hsHdrN, s.hsNeed = false, 0, 0
	if c.version == 0x0301 && c.encrypted(d) {
		// TLS 1.0 CBC chains its IV through the lost records
		s.noDecrypt = true
	}
	if k := lost/22 + 2; k > s.seqSkip {
		s.seqSkip = min(k, maxSeqSkip)
	}
}

// complete processes the record now fully received in direction d.
func (c *Conn) complete(d Dir) {
	s := &c.d[d]
	s.inBody = false
	r := Record{Type: s.typ, Inner: s.typ, Sure: true, Version: s.ver, Len: headerLen + s.length,
		Offset: s.start, First: s.first, Last: s.last, Encrypted: c.encrypted(d)}
	s.records++
	if s.candidate {
		s.candidate = false
		if !s.candSure {
			c.warn("%s: a record judged an alert by its size was followed by more records: it was probably data", d)
		}
	}
	body := s.buf
	if !s.keep || s.damaged {
		body = nil
	}
	var plain []byte
	switch {
	case s.typ == TypeChangeCipherSpec:
		// TLS 1.3 sends it only for middlebox compatibility; before any
		// ServerHello it is TLS 1.3's too (a TLS 1.2 client sends it later)
		compat := c.version == 0x0304 || c.sh == nil && c.ch != nil && c.ch.maxVersion() >= 0x0304
		if !compat {
			s.ccs = true
			if d == ServerToClient {
				c.serverCCS = true
			}
			c.startTLS12()
		}
	case r.Encrypted && c.version == 0x0304 || s.typ == TypeApplicationData && c.version == 0 && d == ClientToServer && c.ch != nil && c.ch.earlyData:
		plain = c.record13(d, &r, body)
	case r.Encrypted:
		plain = c.record12(d, &r, body)
	case s.typ == TypeAlert:
		r.Alert = parseAlert(body)
		c.alert(d, &r)
	case s.typ == TypeHandshake:
		if s.damaged {
			c.breakHS(d)
		} else {
			c.handshake(d, body)
		}
	}
	if r.Inner == TypeApplicationData {
		s.appRecords++
		s.appBytes += int64(r.Len)
		if d == ClientToServer && c.clientFin {
			c.clientApp = true
		}
	}
	if c.h != nil {
		c.h.Record(d, r)
		if len(plain) > 0 {
			c.h.Plaintext(d, plain, r.First, r.Last)
		}
	}
	c.afterRecord(d)
}

func parseAlert(b []byte) Alert {
	if len(b) < 2 {
		return Alert{}
	}
	return Alert{Level: b[0], Description: b[1], Known: true}
}

// alert notes an alert record of direction d.
func (c *Conn) alert(d Dir, r *Record) {
	s := &c.d[d]
	r.Inner = TypeAlert
	if !r.Alert.Known {
		s.candidate, s.candAt, s.candSure = true, r.Last, r.Sure
		return
	}
	if r.Alert.Description == AlertCloseNotify {
		if s.closeAt.IsZero() {
			s.closeAt = r.Last
		}
		return
	}
	c.warn("%s sent %s", d, r.Alert)
}

// afterRecord applies the key changes a record announced.
func (c *Conn) afterRecord(d Dir) {
	s := &c.d[d]
	if s.pending != 0 {
		s.cur = s.pending
		s.pending = 0
	}
	if s.update {
		s.update = false
		s.keyUpd++
		if rc := s.ciph[phaseApp]; rc != nil {
			if err := rc.update(); err != nil {
				c.warn("%s: key update: %v", d, err)
				s.noDecrypt = true
				return
			}
			logged := c.sec.clientN
			if d == ServerToClient {
				logged = c.sec.serverN
			}
			if s.keyUpd <= len(logged) && !bytes.Equal(logged[s.keyUpd-1], rc.secret) {
				c.warn("%s: the secret after key update %d differs from the key log's %s_TRAFFIC_SECRET_N: the logged one is used",
					d, s.keyUpd, strings.ToUpper(d.String()))
				if n, err := newCipher13(rc.s, logged[s.keyUpd-1]); err == nil {
					*rc = *n
				}
			}
		}
	}
}
