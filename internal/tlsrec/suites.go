package tlsrec

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
)

// cipherKind is how a suite protects records.
type cipherKind uint8

const (
	kindUnsupported cipherKind = iota // known name, no decryption (CCM, RC4, NULL, ...)
	kindGCM                           // AES-GCM: TLS 1.2 with an 8-byte explicit nonce, TLS 1.3 without
	kindChaCha                        // ChaCha20-Poly1305 (RFC 7905, RFC 8446)
	kindCBC                           // block cipher in CBC mode with an HMAC (MAC-then-encrypt or RFC 7366 encrypt-then-MAC)
)

// suite describes one cipher suite as far as record protection needs it.
type suite struct {
	id     uint16
	name   string
	tls13  bool
	kind   cipherKind
	keyLen int              // cipher key bytes
	ivLen  int              // implicit IV bytes taken from the TLS 1.2 key block (GCM 4, ChaCha 12, CBC block size)
	des    bool             // CBC with 3DES instead of AES
	mac    func() hash.Hash // CBC HMAC hash
	macLen int
	prf    func() hash.Hash // TLS 1.2 PRF hash, TLS 1.3 HKDF hash
}

func (s *suite) hashLen() int { return s.prf().Size() }

var suites = map[uint16]*suite{}

func init() {
	add := func(s suite) {
		if s.mac != nil {
			s.macLen = s.mac().Size()
		}
		if s.prf == nil {
			s.prf = sha256.New
		}
		switch s.kind {
		case kindGCM:
			s.ivLen = 4
		case kindChaCha:
			s.ivLen = 12
			s.keyLen = 32
		case kindCBC:
			s.ivLen = 16
			if s.des {
				s.ivLen = 8
			}
		}
		c := s
		suites[s.id] = &c
	}
	gcm := func(id uint16, name string, key int, prf func() hash.Hash) {
		add(suite{id: id, name: name, kind: kindGCM, keyLen: key, prf: prf})
	}
	cbc := func(id uint16, name string, key int, mac, prf func() hash.Hash) {
		add(suite{id: id, name: name, kind: kindCBC, keyLen: key, mac: mac, prf: prf})
	}
	// TLS 1.3 (RFC 8446 B.4)
	add(suite{id: 0x1301, name: "TLS_AES_128_GCM_SHA256", tls13: true, kind: kindGCM, keyLen: 16, prf: sha256.New})
	add(suite{id: 0x1302, name: "TLS_AES_256_GCM_SHA384", tls13: true, kind: kindGCM, keyLen: 32, prf: sha512.New384})
	add(suite{id: 0x1303, name: "TLS_CHACHA20_POLY1305_SHA256", tls13: true, kind: kindChaCha, prf: sha256.New})
	add(suite{id: 0x1304, name: "TLS_AES_128_CCM_SHA256", tls13: true, prf: sha256.New})
	add(suite{id: 0x1305, name: "TLS_AES_128_CCM_8_SHA256", tls13: true, prf: sha256.New})

	// TLS 1.2 AES-GCM (RFC 5288, RFC 5289, RFC 5487)
	gcm(0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256", 16, sha256.New)
	gcm(0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384", 32, sha512.New384)
	gcm(0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", 16, sha256.New)
	gcm(0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", 32, sha512.New384)
	gcm(0x00a8, "TLS_PSK_WITH_AES_128_GCM_SHA256", 16, sha256.New)
	gcm(0x00a9, "TLS_PSK_WITH_AES_256_GCM_SHA384", 32, sha512.New384)
	gcm(0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 16, sha256.New)
	gcm(0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 32, sha512.New384)
	gcm(0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 16, sha256.New)
	gcm(0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 32, sha512.New384)

	// TLS 1.2 ChaCha20-Poly1305 (RFC 7905)
	add(suite{id: 0xcca8, name: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", kind: kindChaCha})
	add(suite{id: 0xcca9, name: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", kind: kindChaCha})
	add(suite{id: 0xccaa, name: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", kind: kindChaCha})
	add(suite{id: 0xccab, name: "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256", kind: kindChaCha})
	add(suite{id: 0xccac, name: "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256", kind: kindChaCha})

	// CBC with HMAC (RFC 5246, RFC 4492, RFC 5289)
	cbc(0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA", 16, sha1.New, nil)
	cbc(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", 32, sha1.New, nil)
	cbc(0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256", 16, sha256.New, nil)
	cbc(0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256", 32, sha256.New, nil)
	cbc(0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", 16, sha1.New, nil)
	cbc(0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", 32, sha1.New, nil)
	cbc(0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", 16, sha256.New, nil)
	cbc(0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", 32, sha256.New, nil)
	cbc(0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 16, sha1.New, nil)
	cbc(0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 32, sha1.New, nil)
	cbc(0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 16, sha1.New, nil)
	cbc(0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 32, sha1.New, nil)
	cbc(0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 16, sha256.New, nil)
	cbc(0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", 32, sha512.New384, sha512.New384)
	cbc(0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 16, sha256.New, nil)
	cbc(0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", 32, sha512.New384, sha512.New384)
	for _, s := range []struct {
		id   uint16
		name string
	}{{0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"}, {0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"},
		{0xc008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"}, {0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"}} {
		add(suite{id: s.id, name: s.name, kind: kindCBC, keyLen: 24, des: true, mac: sha1.New})
	}
	// Named so that Info can say what was negotiated; not decrypted.
	for _, s := range []struct {
		id   uint16
		name string
	}{{0x0004, "TLS_RSA_WITH_RC4_128_MD5"}, {0x0005, "TLS_RSA_WITH_RC4_128_SHA"},
		{0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"}, {0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"},
		{0xc0ac, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"}, {0xc0ad, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"},
		{0xc09c, "TLS_RSA_WITH_AES_128_CCM"}, {0xc09d, "TLS_RSA_WITH_AES_256_CCM"},
		{0x0000, "TLS_NULL_WITH_NULL_NULL"}} {
		add(suite{id: s.id, name: s.name})
	}
}

// SuiteName returns the IANA name of a cipher suite, or its number in hex.
func SuiteName(id uint16) string {
	if s := suites[id]; s != nil {
		return s.name
	}
	return fmt.Sprintf("0x%04x", id)
}

// VersionName names a protocol version as on the wire: "TLS 1.0" … "TLS 1.3",
// "SSL 3.0", "TLS 1.3 draft N", else the number in hex.
func VersionName(v uint16) string {
	switch {
	case v == 0x0300:
		return "SSL 3.0"
	case v >= 0x0301 && v <= 0x0304:
		return fmt.Sprintf("TLS 1.%d", v-0x0301)
	case v>>8 == 0x7f:
		return fmt.Sprintf("TLS 1.3 draft %d", v&0xff)
	case v == 0:
		return ""
	}
	return fmt.Sprintf("0x%04x", v)
}
