package tlsrec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// Record protection: key derivation (TLS 1.3 HKDF-Expand-Label, TLS 1.0–1.2
// PRF) and opening one record with AES-GCM, ChaCha20-Poly1305 or CBC+HMAC.

var (
	errAuth        = errors.New("record failed authentication")
	errShort       = errors.New("record too short for its cipher")
	errUnsupported = errors.New("cipher suite not supported for decryption")
)

// expandLabel is HKDF-Expand-Label (RFC 8446 7.1).
func expandLabel(h func() hash.Hash, secret []byte, label string, context []byte, n int) []byte {
	info := make([]byte, 0, 4+6+len(label)+len(context))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(6+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, byte(len(context)))
	info = append(info, context...)
	out, err := hkdf.Expand(h, secret, string(info), n)
	if err != nil {
		// only for n > 255*hash size, which never happens here
		panic("tlsrec: " + err.Error())
	}
	return out
}

// trafficKeys derives a TLS 1.3 record key and IV from a traffic secret.
func trafficKeys(s *suite, secret []byte) (key, iv []byte) {
	keyLen := s.keyLen
	return expandLabel(s.prf, secret, "key", nil, keyLen), expandLabel(s.prf, secret, "iv", nil, 12)
}

// nextSecret is the TLS 1.3 KeyUpdate step (RFC 8446 7.2).
func nextSecret(s *suite, secret []byte) []byte {
	return expandLabel(s.prf, secret, "traffic upd", nil, s.hashLen())
}

// pHash is P_hash of RFC 5246 section 5, filling out.
func pHash(out, secret, seed []byte, h func() hash.Hash) {
	m := hmac.New(h, secret)
	m.Write(seed)
	a := m.Sum(nil)
	for j := 0; j < len(out); {
		m.Reset()
		m.Write(a)
		m.Write(seed)
		b := m.Sum(nil)
		j += copy(out[j:], b)
		m.Reset()
		m.Write(a)
		a = m.Sum(a[:0])
	}
}

// prf is the TLS PRF: P_<hash> for TLS 1.2, P_MD5 xor P_SHA1 for TLS 1.0 and 1.1.
func prf(version uint16, h func() hash.Hash, secret []byte, label string, seed []byte, n int) []byte {
	ls := make([]byte, 0, len(label)+len(seed))
	ls = append(append(ls, label...), seed...)
	out := make([]byte, n)
	if version >= 0x0303 {
		pHash(out, secret, ls, h)
		return out
	}
	half := (len(secret) + 1) / 2
	pHash(out, secret[:half], ls, md5.New)
	tmp := make([]byte, n)
	pHash(tmp, secret[len(secret)-half:], ls, sha1.New)
	subtle.XORBytes(out, out, tmp)
	return out
}

// recordCipher opens the records of one direction under one key.
type recordCipher struct {
	s       *suite
	version uint16 // negotiated version
	seq     uint64
	aead    cipher.AEAD
	iv      [12]byte // TLS 1.3 and ChaCha: XOR mask; TLS 1.2 GCM: 4-byte salt
	// CBC
	block  cipher.Block
	cbc    cipher.BlockMode
	mac    hash.Hash
	chain  []byte // TLS 1.0: the IV of the next record (last ciphertext block)
	etm    bool
	macBuf [64]byte
	aad    [13]byte
	// TLS 1.3: the traffic secret, for KeyUpdate
	secret []byte
}

func newAEAD(s *suite, key []byte) (cipher.AEAD, error) {
	switch s.kind {
	case kindGCM:
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(b)
	case kindChaCha:
		return chacha20poly1305.New(key)
	}
	return nil, errUnsupported
}

// newCipher13 keys a TLS 1.3 direction from its traffic secret.
func newCipher13(s *suite, secret []byte) (*recordCipher, error) {
	if s.kind != kindGCM && s.kind != kindChaCha {
		return nil, errUnsupported
	}
	if len(secret) != s.hashLen() {
		return nil, errors.New("traffic secret length does not match the cipher suite's hash")
	}
	key, iv := trafficKeys(s, secret)
	a, err := newAEAD(s, key)
	if err != nil {
		return nil, err
	}
	rc := &recordCipher{s: s, version: 0x0304, aead: a, secret: secret}
	copy(rc.iv[:], iv)
	return rc, nil
}

// update performs a TLS 1.3 KeyUpdate on rc.
func (rc *recordCipher) update() error {
	n, err := newCipher13(rc.s, nextSecret(rc.s, rc.secret))
	if err != nil {
		return err
	}
	*rc = *n
	return nil
}

// newCiphers12 derives both directions' ciphers of a TLS 1.0–1.2 connection
// from its master secret (RFC 5246 6.3).
func newCiphers12(s *suite, version uint16, master []byte, clientRandom, serverRandom [32]byte, etm bool) (client, server *recordCipher, err error) {
	if s.kind == kindUnsupported || s.tls13 {
		return nil, nil, errUnsupported
	}
	if version < 0x0301 || version > 0x0303 {
		return nil, nil, errors.New("protocol version not supported for decryption")
	}
	seed := make([]byte, 0, 64)
	seed = append(append(seed, serverRandom[:]...), clientRandom[:]...)
	n := 2*s.macLen + 2*s.keyLen + 2*s.ivLen
	kb := prf(version, s.prf, master, "key expansion", seed, n)
	cMAC, kb := kb[:s.macLen], kb[s.macLen:]
	sMAC, kb := kb[:s.macLen], kb[s.macLen:]
	cKey, kb := kb[:s.keyLen], kb[s.keyLen:]
	sKey, kb := kb[:s.keyLen], kb[s.keyLen:]
	cIV, sIV := kb[:s.ivLen], kb[s.ivLen:2*s.ivLen]
	mk := func(key, mac, iv []byte) (*recordCipher, error) {
		rc := &recordCipher{s: s, version: version}
		switch s.kind {
		case kindGCM, kindChaCha:
			a, err := newAEAD(s, key)
			if err != nil {
				return nil, err
			}
			rc.aead = a
			copy(rc.iv[:], iv)
		case kindCBC:
			var b cipher.Block
			var err error
			if s.des {
				b, err = des.NewTripleDESCipher(key)
			} else {
				b, err = aes.NewCipher(key)
			}
			if err != nil {
				return nil, err
			}
			rc.block = b
			rc.mac = hmac.New(s.mac, mac)
			rc.etm = etm
			if version == 0x0301 {
				rc.chain = append([]byte(nil), iv...)
			}
		}
		return rc, nil
	}
	if client, err = mk(cKey, cMAC, cIV); err != nil {
		return nil, nil, err
	}
	if server, err = mk(sKey, sMAC, sIV); err != nil {
		return nil, nil, err
	}
	return client, server, nil
}

// open decrypts and authenticates one record body (hdr is its 5-byte
// header) into dst, which must not overlap body. It returns the content and,
// for TLS 1.3, the inner content type (else the header's). The sequence
// number advances only on success.
func (rc *recordCipher) open(dst []byte, hdr *[5]byte, body []byte) ([]byte, ContentType, error) {
	typ := ContentType(hdr[0])
	switch {
	case rc.version == 0x0304:
		if len(body) < rc.aead.Overhead() {
			return nil, 0, errShort
		}
		var nonce [12]byte
		rc.nonceXOR(&nonce)
		out, err := rc.aead.Open(dst[:0], nonce[:], body, hdr[:])
		if err != nil {
			return nil, 0, errAuth
		}
		rc.seq++
		// TLSInnerPlaintext: content, type, zero padding
		i := len(out) - 1
		for i >= 0 && out[i] == 0 {
			i--
		}
		if i < 0 {
			return nil, 0, errors.New("decrypted record has no content type")
		}
		return out[:i], ContentType(out[i]), nil
	case rc.aead != nil:
		var nonce [12]byte
		ct := body
		if rc.s.kind == kindGCM {
			if len(body) < 8+rc.aead.Overhead() {
				return nil, 0, errShort
			}
			copy(nonce[:4], rc.iv[:4])
			copy(nonce[4:], body[:8])
			ct = body[8:]
		} else {
			if len(body) < rc.aead.Overhead() {
				return nil, 0, errShort
			}
			rc.nonceXOR(&nonce)
		}
		aad := rc.additional(hdr, len(ct)-rc.aead.Overhead())
		out, err := rc.aead.Open(dst[:0], nonce[:], ct, aad)
		if err != nil {
			return nil, 0, errAuth
		}
		rc.seq++
		return out, typ, nil
	case rc.block != nil:
		out, err := rc.openCBC(dst, hdr, body)
		if err != nil {
			return nil, 0, err
		}
		rc.seq++
		return out, typ, nil
	}
	return nil, 0, errUnsupported
}

func (rc *recordCipher) nonceXOR(nonce *[12]byte) {
	*nonce = rc.iv
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], rc.seq)
	for i := range s {
		nonce[4+i] ^= s[i]
	}
}

// additional is the TLS 1.2 MAC / AEAD input header: seq, type, version, length.
func (rc *recordCipher) additional(hdr *[5]byte, n int) []byte {
	binary.BigEndian.PutUint64(rc.aad[:8], rc.seq)
	rc.aad[8] = hdr[0]
	rc.aad[9], rc.aad[10] = hdr[1], hdr[2]
	binary.BigEndian.PutUint16(rc.aad[11:], uint16(n))
	return rc.aad[:]
}

func (rc *recordCipher) macOf(hdr *[5]byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	rc.mac.Reset()
	rc.mac.Write(rc.additional(hdr, n))
	for _, p := range parts {
		rc.mac.Write(p)
	}
	return rc.mac.Sum(rc.macBuf[:0])
}

type ivSetter interface{ SetIV([]byte) }

func (rc *recordCipher) decryptCBC(dst, iv, ct []byte) {
	if rc.cbc == nil {
		rc.cbc = cipher.NewCBCDecrypter(rc.block, iv)
	} else if s, ok := rc.cbc.(ivSetter); ok {
		s.SetIV(iv)
	} else {
		rc.cbc = cipher.NewCBCDecrypter(rc.block, iv)
	}
	rc.cbc.CryptBlocks(dst, ct)
}

func (rc *recordCipher) openCBC(dst []byte, hdr *[5]byte, body []byte) ([]byte, error) {
	bs := rc.block.BlockSize()
	ml := rc.s.macLen
	if rc.etm {
		// RFC 7366: IV || ENC(content || padding) || MAC over the header and IV || ciphertext
		if len(body) < ml+bs {
			return nil, errShort
		}
		enc, mac := body[:len(body)-ml], body[len(body)-ml:]
		if !hmac.Equal(rc.macOf(hdr, enc), mac) {
			return nil, errAuth
		}
		iv, ct := rc.chain, enc
		if rc.version >= 0x0302 {
			iv, ct = enc[:bs], enc[bs:]
		}
		if len(ct) == 0 || len(ct)%bs != 0 {
			return nil, errShort
		}
		out := dst[:len(ct)]
		rc.decryptCBC(out, iv, ct)
		if rc.version < 0x0302 {
			rc.chain = append(rc.chain[:0], ct[len(ct)-bs:]...)
		}
		pad := int(out[len(out)-1])
		if pad+1 > len(out) {
			return nil, errors.New("bad CBC padding")
		}
		return out[:len(out)-pad-1], nil
	}
	iv, ct := rc.chain, body
	if rc.version >= 0x0302 {
		if len(body) < bs {
			return nil, errShort
		}
		iv, ct = body[:bs], body[bs:]
	}
	if len(ct) < ml+1 || len(ct)%bs != 0 {
		return nil, errShort
	}
	out := dst[:len(ct)]
	rc.decryptCBC(out, iv, ct)
	if rc.version < 0x0302 {
		rc.chain = append(rc.chain[:0], ct[len(ct)-bs:]...)
	}
	pad := int(out[len(out)-1])
	if pad+1+ml > len(out) {
		return nil, errAuth
	}
	for _, p := range out[len(out)-1-pad : len(out)-1] {
		if int(p) != pad {
			return nil, errAuth
		}
	}
	content := out[:len(out)-1-pad-ml]
	mac := out[len(out)-1-pad-ml : len(out)-1-pad]
	if !hmac.Equal(rc.macOf(hdr, content), mac) {
		return nil, errAuth
	}
	return content, nil
}
