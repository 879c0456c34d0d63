package tlsrec

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Dir is a direction of the TCP connection.
type Dir uint8

const (
	ClientToServer Dir = 0
	ServerToClient Dir = 1
)

func (d Dir) String() string {
	if d == ClientToServer {
		return "client"
	}
	return "server"
}

// ContentType is a TLS record content type.
type ContentType uint8

const (
	TypeChangeCipherSpec ContentType = 20
	TypeAlert            ContentType = 21
	TypeHandshake        ContentType = 22
	TypeApplicationData  ContentType = 23
	TypeHeartbeat        ContentType = 24
)

func (t ContentType) String() string {
	switch t {
	case TypeChangeCipherSpec:
		return "change_cipher_spec"
	case TypeAlert:
		return "alert"
	case TypeHandshake:
		return "handshake"
	case TypeApplicationData:
		return "application_data"
	case TypeHeartbeat:
		return "heartbeat"
	}
	return fmt.Sprintf("content_type(%d)", uint8(t))
}

// Alert is a TLS alert.
type Alert struct {
	Level       uint8 // 1 warning, 2 fatal; 0 when not Known
	Description uint8 // 0 close_notify, ...; meaningful only when Known
	Known       bool  // the alert's bytes were read (cleartext or decrypted)
}

// AlertCloseNotify is the close_notify alert description.
const AlertCloseNotify = 0

func (a Alert) String() string {
	if !a.Known {
		return "encrypted alert"
	}
	name := alertNames[a.Description]
	if name == "" {
		name = fmt.Sprintf("alert(%d)", a.Description)
	}
	if a.Level == 2 {
		return "fatal " + name
	}
	return name
}

var alertNames = map[uint8]string{0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
	22: "record_overflow", 40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
	44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter",
	48: "unknown_ca", 49: "access_denied", 50: "decode_error", 51: "decrypt_error", 70: "protocol_version",
	71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
	100: "no_renegotiation", 109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
	113: "bad_certificate_status_response", 115: "unknown_psk_identity", 116: "certificate_required",
	120: "no_application_protocol"}

// Record describes one complete TLS record.
type Record struct {
	Type ContentType // content type on the wire
	// Inner is what the record carries: the wire type for a cleartext or TLS
	// 1.2 record, the inner content type of a decrypted TLS 1.3 record, and
	// otherwise a judgement (Sure false). In undecrypted TLS 1.3: the server's
	// records before the client's first protected record (after 0-RTT data:
	// up to one of Finished size) and that first client record (its Finished)
	// are handshake; server records after it but before any client
	// application data are handshake (NewSessionTickets); a record of exactly
	// alert size (2 bytes + type + 16-byte tag: 24 on the wire) is an alert;
	// one of KeyUpdate size (27) after the handshake is handshake; client
	// records before the ServerHello are 0-RTT application data (and then one
	// of EndOfEarlyData size, 26, is handshake); any other is application data.
	Inner     ContentType
	Sure      bool      // Inner was read or follows from the wire type; false when judged by size or position
	Version   uint16    // record layer version
	Len       int       // bytes on the wire, 5-byte header included
	Offset    int64     // stream offset of the record's first byte in its direction (lost bytes counted)
	First     time.Time // capture time of the record's first byte
	Last      time.Time // capture time of its last byte: when it could be processed
	Encrypted bool      // protected by record encryption
	Decrypted bool      // decrypted and authenticated
	Alert     Alert     // when Inner is TypeAlert
	Plain     int       // length of the decrypted content
}

// Handler receives what a Conn finds, in stream order per direction, and in
// the order of the Data calls across directions.
type Handler interface {
	// Record is called for every complete record.
	Record(d Dir, r Record)
	// Plaintext is called, after Record, with the decrypted application data
	// of one record (b is valid only during the call); first and last are the
	// capture times of the record's first and last byte.
	Plaintext(d Dir, b []byte, first, last time.Time)
}

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

// Info is what the Conn found out about the connection so far.
type Info struct {
	// Version is the negotiated version from the ServerHello ("TLS 1.2",
	// "TLS 1.3"; a HelloRetryRequest's counts), "" when none was seen;
	// ClientVersion is the highest version the ClientHello offered.
	Version, ClientVersion string
	SNI                    string   // server_name of the ClientHello, "" when none
	ClientALPN             []string // protocols the client offered
	// ALPN is the server's choice ("h2", "http/1.1"), "" when none. In TLS
	// 1.3 it is encrypted: without keys it is the client's only offer when it
	// offered exactly one (ALPNGuessed), else "".
	ALPN        string
	ALPNGuessed bool
	// Resumed: TLS 1.3 pre_shared_key accepted; TLS ≤ 1.2 abbreviated
	// handshake (the server's ChangeCipherSpec came with no Certificate,
	// ServerKeyExchange or ServerHelloDone), else an echoed session ID.
	Resumed, ResumeOffered bool
	HelloRetry             bool   // a HelloRetryRequest was sent
	EarlyData              bool   // the client offered 0-RTT data
	EarlyDataAccepted      bool   // the server accepted it (decrypted EncryptedExtensions only)
	CipherSuite            uint16 // the server's choice
	Cipher                 string // its name
	ClientRandom           [32]byte
	HaveKeys               bool // the key log had secrets for this connection
	// KeysFrom says how they were found: "CLIENT_RANDOM" (its client random's
	// lines), or for a resumed TLS 1.2 session whose own line is missing (Go's
	// client writes none) "ticket" or "session ID" of an earlier connection
	// this KeyLog decrypted (or of a Wireshark "RSA Session-ID:" line).
	KeysFrom  string
	Decrypted bool // application data was decrypted and authenticated
	// CloseNotify is when each side's close_notify record ended (zero: none).
	// A decrypted or cleartext close_notify counts wherever it is; an
	// undecrypted alert counts as close_notify when it is the last record its
	// side sent: a TLS 1.2 record of type alert (CloseNotifySure true: surely
	// an alert, its description unread), or a TLS 1.3 record of alert size
	// (CloseNotifySure false).
	CloseNotify     [2]time.Time
	CloseNotifySure [2]bool
	Records         [2]int   // complete records per direction
	AppRecords      [2]int   // of them application data (Inner)
	AppBytes        [2]int64 // their bytes on the wire
	PlainBytes      [2]int64 // decrypted content bytes
	AuthFailures    [2]int   // records that failed authentication
	KeyUpdates      [2]int   // TLS 1.3 KeyUpdate messages decrypted
	EarlyRecords    int      // 0-RTT records not decrypted
	Stopped         [2]bool  // following the direction stopped (not TLS, forged length)
	Warnings        []string
}

// CloseNotifyBy is the side whose close_notify ended first, and whether there was one.
func (i *Info) CloseNotifyBy() (Dir, bool) {
	c, s := i.CloseNotify[0], i.CloseNotify[1]
	switch {
	case c.IsZero() && s.IsZero():
		return 0, false
	case s.IsZero() || !c.IsZero() && !s.Before(c):
		return ClientToServer, true
	}
	return ServerToClient, true
}

// Info returns what the Conn found so far.
func (c *Conn) Info() Info {
	var in Info
	in.Version = VersionName(c.version)
	if c.ch != nil {
		in.ClientVersion = VersionName(c.ch.maxVersion())
		in.SNI = c.ch.sni
		in.ClientALPN = append([]string(nil), c.ch.alpn...)
		in.ClientRandom = c.ch.random
		in.EarlyData = c.ch.earlyData
		in.ResumeOffered = c.ch.psk || len(c.ch.ticket) > 0 || (len(c.ch.sessionID) > 0 && c.ch.maxVersion() < 0x0304)
	}
	in.HelloRetry = c.hrr
	if c.sh != nil {
		in.CipherSuite = c.sh.suite
		in.Cipher = SuiteName(c.sh.suite)
		if c.version == 0x0304 {
			in.Resumed = c.sh.psk
			if c.haveEE {
				in.ALPN = c.ee.alpn
				in.EarlyDataAccepted = c.ee.earlyData
			} else if c.ch != nil && len(c.ch.alpn) == 1 {
				in.ALPN, in.ALPNGuessed = c.ch.alpn[0], true
			}
		} else {
			in.ALPN = c.sh.alpn
			if c.serverCCS {
				in.Resumed = !c.full12
			} else {
				in.Resumed = c.ch != nil && len(c.sh.sessionID) > 0 && string(c.sh.sessionID) == string(c.ch.sessionID)
			}
		}
	}
	in.HaveKeys = c.haveSec
	if c.haveSec {
		in.KeysFrom = c.keysFrom
	}
	in.Decrypted = c.decrypted
	for i := range c.d {
		s := &c.d[i]
		if !s.closeAt.IsZero() {
			in.CloseNotify[i], in.CloseNotifySure[i] = s.closeAt, true
		} else if s.candidate {
			in.CloseNotify[i], in.CloseNotifySure[i] = s.candAt, s.candSure
		}
		in.Records[i] = s.records
		in.AppRecords[i] = s.appRecords
		in.AppBytes[i] = s.appBytes
		in.PlainBytes[i] = s.plainN
		in.AuthFailures[i] = s.authFail
		in.KeyUpdates[i] = s.keyUpd
		in.Stopped[i] = s.stopped
	}
	in.EarlyRecords = c.d[ClientToServer].early
	in.Warnings = append([]string(nil), c.warnings...)
	if c.dropped > 0 {
		in.Warnings = append(in.Warnings, fmt.Sprintf("%d more warnings", c.dropped))
	}
	return in
}
