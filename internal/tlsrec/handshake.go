package tlsrec

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
)

// Handshake message types (RFC 8446 4, RFC 5246 7.4).
const (
	hsClientHello         = 1
	hsServerHello         = 2
	hsNewSessionTicket    = 4
	hsEndOfEarlyData      = 5
	hsEncryptedExtensions = 8
	hsCertificate         = 11
	hsServerKeyExchange   = 12
	hsCertificateRequest  = 13
	hsServerHelloDone     = 14
	hsCertificateVerify   = 15
	hsClientKeyExchange   = 16
	hsFinished            = 20
	hsKeyUpdate           = 24
)

// Extensions read here.
const (
	extServerName        = 0
	extALPN              = 16
	extEncryptThenMAC    = 22
	extExtendedMaster    = 23
	extSessionTicket     = 35
	extPreSharedKey      = 41
	extEarlyData         = 42
	extSupportedVersions = 43
)

// helloRetryRandom is the ServerHello.random of a HelloRetryRequest (RFC 8446 4.1.3).
var helloRetryRandom = [32]byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

const (
	maxALPN     = 16  // protocols kept from one ClientHello
	maxNameLen  = 255 // SNI and ALPN bytes kept
	maxVersions = 16
)

type clientHello struct {
	version     uint16
	random      [32]byte
	sessionID   []byte
	sni         string
	alpn        []string
	versions    []uint16 // supported_versions, GREASE removed
	ticket      []byte   // session_ticket extension data (TLS 1.2 resumption)
	ticketExt   bool
	psk         bool // pre_shared_key offered (TLS 1.3 resumption)
	earlyData   bool
	etm, ems    bool
	suitesCount int
}

// maxVersion is the highest version the client offered.
func (ch *clientHello) maxVersion() uint16 {
	v := ch.version
	for _, x := range ch.versions {
		if x > v && (x <= 0x0304 || x>>8 == 0x7f) {
			v = x
		}
	}
	return v
}

type serverHello struct {
	legacy      uint16
	version     uint16 // supported_versions if present, else legacy
	random      [32]byte
	sessionID   []byte
	suite       uint16
	compression uint8
	alpn        string
	hasALPN     bool
	etm, ems    bool
	psk         bool
	ticketExt   bool // TLS 1.2: the server will send a NewSessionTicket
	hrr         bool
}

func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// clean makes a peer-chosen name safe to print: valid UTF-8, no control characters.
func clean(b []byte) string {
	if len(b) > maxNameLen {
		b = b[:maxNameLen]
	}
	ok := utf8.Valid(b)
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			ok = false
			break
		}
	}
	if ok {
		return string(b)
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '\uFFFD'
		}
		return r
	}, s)
}

// parseClientHello reads a ClientHello body (without the 4-byte handshake header).
func parseClientHello(b []byte) (*clientHello, bool) {
	s := cryptobyte.String(b)
	ch := &clientHello{}
	var random, sid, cs, comp cryptobyte.String
	if !s.ReadUint16(&ch.version) || !s.ReadBytes((*[]byte)(&random), 32) ||
		!s.ReadUint8LengthPrefixed(&sid) || len(sid) > 32 ||
		!s.ReadUint16LengthPrefixed(&cs) || !s.ReadUint8LengthPrefixed(&comp) {
		return nil, false
	}
	copy(ch.random[:], random)
	ch.sessionID = append([]byte(nil), sid...)
	ch.suitesCount = len(cs) / 2
	if s.Empty() {
		return ch, true // no extensions (SSL 3.0 style)
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) {
		return nil, false
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, false
		}
		switch typ {
		case extServerName:
			var list cryptobyte.String
			if !data.ReadUint16LengthPrefixed(&list) {
				continue
			}
			for !list.Empty() {
				var nt uint8
				var name cryptobyte.String
				if !list.ReadUint8(&nt) || !list.ReadUint16LengthPrefixed(&name) {
					break
				}
				if nt == 0 && ch.sni == "" {
					ch.sni = clean(name)
				}
			}
		case extALPN:
			var list cryptobyte.String
			if !data.ReadUint16LengthPrefixed(&list) {
				continue
			}
			for !list.Empty() && len(ch.alpn) < maxALPN {
				var p cryptobyte.String
				if !list.ReadUint8LengthPrefixed(&p) {
					break
				}
				ch.alpn = append(ch.alpn, clean(p))
			}
		case extSupportedVersions:
			var list cryptobyte.String
			if !data.ReadUint8LengthPrefixed(&list) {
				continue
			}
			for !list.Empty() && len(ch.versions) < maxVersions {
				var v uint16
				if !list.ReadUint16(&v) {
					break
				}
				if !isGREASE(v) {
					ch.versions = append(ch.versions, v)
				}
			}
		case extSessionTicket:
			ch.ticketExt = true
			if len(data) > 0 && len(data) <= 1<<16 {
				ch.ticket = append([]byte(nil), data...)
			}
		case extPreSharedKey:
			ch.psk = true
		case extEarlyData:
			ch.earlyData = true
		case extEncryptThenMAC:
			ch.etm = true
		case extExtendedMaster:
			ch.ems = true
		}
	}
	return ch, true
}

// parseServerHello reads a ServerHello body (or a HelloRetryRequest).
func parseServerHello(b []byte) (*serverHello, bool) {
	s := cryptobyte.String(b)
	sh := &serverHello{}
	var random, sid cryptobyte.String
	if !s.ReadUint16(&sh.legacy) || !s.ReadBytes((*[]byte)(&random), 32) ||
		!s.ReadUint8LengthPrefixed(&sid) || len(sid) > 32 ||
		!s.ReadUint16(&sh.suite) || !s.ReadUint8(&sh.compression) {
		return nil, false
	}
	copy(sh.random[:], random)
	sh.sessionID = append([]byte(nil), sid...)
	sh.version = sh.legacy
	sh.hrr = sh.random == helloRetryRandom
	if s.Empty() {
		return sh, true
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) {
		return nil, false
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, false
		}
		switch typ {
		case extSupportedVersions:
			var v uint16
			if data.ReadUint16(&v) {
				sh.version = v
			}
		case extALPN:
			if p, ok := readALPNChoice(data); ok {
				sh.alpn, sh.hasALPN = p, true
			}
		case extEncryptThenMAC:
			sh.etm = true
		case extExtendedMaster:
			sh.ems = true
		case extPreSharedKey:
			sh.psk = true
		case extSessionTicket:
			sh.ticketExt = true
		}
	}
	return sh, true
}

// readALPNChoice reads a server's ALPN extension: a list of exactly one protocol.
func readALPNChoice(data cryptobyte.String) (string, bool) {
	var list, p cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) || !list.ReadUint8LengthPrefixed(&p) {
		return "", false
	}
	return clean(p), true
}

// encryptedExtensions holds what a TLS 1.3 EncryptedExtensions says.
type encryptedExtensions struct {
	alpn      string
	hasALPN   bool
	earlyData bool
}

func parseEncryptedExtensions(b []byte) (encryptedExtensions, bool) {
	var ee encryptedExtensions
	s := cryptobyte.String(b)
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) {
		return ee, false
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return ee, false
		}
		switch typ {
		case extALPN:
			if p, ok := readALPNChoice(data); ok {
				ee.alpn, ee.hasALPN = p, true
			}
		case extEarlyData:
			ee.earlyData = true
		}
	}
	return ee, true
}

// parseTicket12 returns the ticket of a TLS 1.2 NewSessionTicket (RFC 5077).
func parseTicket12(b []byte) ([]byte, bool) {
	s := cryptobyte.String(b)
	var lifetime uint32
	var t cryptobyte.String
	if !s.ReadUint32(&lifetime) || !s.ReadUint16LengthPrefixed(&t) || len(t) == 0 {
		return nil, false
	}
	return t, true
}
