package tlsrec

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// KeyLog holds TLS secrets read from key log text: the NSS key log format
// (draft-ietf-tls-keylogfile) that curl, Firefox, Chrome, Go's
// tls.Config.KeyLogWriter, Python's SSLContext.keylog_filename and OpenSSL's
// SSL_CTX_set_keylog_callback write, from a file (SSLKEYLOGFILE) or a pcapng
// Decryption Secrets Block. Each line is "LABEL <client random hex> <secret hex>":
//
//	CLIENT_RANDOM                   TLS 1.0–1.2 master secret (48 bytes)
//	CLIENT_EARLY_TRAFFIC_SECRET     TLS 1.3 0-RTT
//	CLIENT_HANDSHAKE_TRAFFIC_SECRET TLS 1.3 handshake, client to server
//	SERVER_HANDSHAKE_TRAFFIC_SECRET TLS 1.3 handshake, server to client
//	CLIENT_TRAFFIC_SECRET_0         TLS 1.3 application data, client to server
//	SERVER_TRAFFIC_SECRET_0         TLS 1.3 application data, server to client
//	CLIENT_TRAFFIC_SECRET_N         after a KeyUpdate (OpenSSL 3.0 writes "N" literally), in order;
//	SERVER_TRAFFIC_SECRET_N         checked against the secrets derived from the previous ones
//	EXPORTER_SECRET, EARLY_EXPORTER_SECRET, ECH_SECRET, ECH_CONFIG   kept or ignored; not needed to decrypt
//
// Wireshark's "RSA Session-ID:<hex> Master-Key:<hex>" lines key TLS 1.2
// sessions by session ID. "RSA" and "PMS_CLIENT_RANDOM" pre-master lines are
// recognised and counted but not used. Lines starting with '#' are comments;
// blank lines, CR before LF and surrounding white space are accepted; any other
// line is counted as bad and named in Warnings (the first few of them), never
// fatal.
//
// A KeyLog also remembers the master secrets of TLS 1.2 sessions it decrypted,
// by session ID and ticket, so that a resumed session whose own client random
// is missing from the log is still decrypted. It is safe for concurrent use.
type KeyLog struct {
	mu        sync.Mutex
	byRandom  map[[32]byte]*secrets
	bySession map[string][]byte   // TLS 1.2 session ID -> master secret
	byTicket  map[[32]byte][]byte // SHA-256 of a TLS 1.2 ticket -> master secret
	sessions  int                 // session IDs read from "RSA Session-ID:" lines
	stats     KeyLogStats
	warnings  []string
	dropped   int // warnings not kept
}

// KeyLogStats counts the lines read into a KeyLog.
type KeyLogStats struct {
	Lines      int // lines read, all kinds
	Secrets    int // lines that added a secret
	Comments   int
	Blank      int
	Bad        int // garbage: unknown label, bad hex, wrong length, overlong line
	Duplicates int // the same secret again
	Conflicts  int // another value for a secret already held (the first is kept)
	Unused     int // recognised lines that cannot be used (RSA/PMS pre-master secrets, ECH)
}

type secrets struct {
	master        []byte
	clientEarly   []byte
	clientHS      []byte
	serverHS      []byte
	client0       []byte
	server0       []byte
	exporter      []byte
	earlyExporter []byte
	// secrets after each KeyUpdate, in order, as OpenSSL logs them
	// (CLIENT_TRAFFIC_SECRET_N / SERVER_TRAFFIC_SECRET_N)
	clientN, serverN [][]byte
}

const (
	maxKeyLogLine     = 4096
	maxKeyLogWarnings = 20
	maxSessionCache   = 1 << 16
	// SecretsTypeTLS is the pcapng Decryption Secrets Block type of TLS key log text ('TLSK').
	SecretsTypeTLS = 0x544c534b
)

// NewKeyLog returns an empty KeyLog (to be filled from Decryption Secrets Blocks).
func NewKeyLog() *KeyLog {
	return &KeyLog{byRandom: map[[32]byte]*secrets{}}
}

// ParseKeyLog reads key log text. The error is only r's (I/O); bad lines are
// counted in Stats and named in Warnings.
func ParseKeyLog(r io.Reader) (*KeyLog, error) {
	k := NewKeyLog()
	return k, k.Read(r, "")
}

// Read adds the lines of r to k; source (a file name, or "") prefixes the
// warnings. The error is only r's.
func (k *KeyLog) Read(r io.Reader, source string) error {
	br := bufio.NewReaderSize(r, maxKeyLogLine)
	line := 0
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			line++
			k.mu.Lock()
			k.stats.Lines++
			k.stats.Bad++
			k.warnLocked(source, line, fmt.Sprintf("line longer than %d bytes", maxKeyLogLine))
			k.mu.Unlock()
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			continue
		}
		if len(b) > 0 {
			line++
			k.line(source, line, b)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// AddDSB adds the secrets of a pcapng Decryption Secrets Block. Only type
// SecretsTypeTLS (key log text) is used; other types are named in Warnings.
func (k *KeyLog) AddDSB(secretsType uint32, data []byte) {
	if secretsType != SecretsTypeTLS {
		name := map[uint32]string{0x57474b4c: "WireGuard", 0x5353484b: "SSH", 0x4f50434b: "OPC UA",
			0x5a4e574b: "ZigBee NWK", 0x5a415053: "ZigBee APS"}[secretsType]
		if name == "" {
			name = "unknown"
		}
		k.mu.Lock()
		k.warnLocked("decryption secrets block", 0, fmt.Sprintf("type 0x%08x (%s) ignored", secretsType, name))
		k.mu.Unlock()
		return
	}
	_ = k.Read(bytes.NewReader(data), "decryption secrets block")
}

// Len is the number of client randoms (and TLS 1.2 session IDs) with secrets.
func (k *KeyLog) Len() int {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.byRandom) + k.sessions
}

// Stats counts the lines read so far.
func (k *KeyLog) Stats() KeyLogStats {
	if k == nil {
		return KeyLogStats{}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stats
}

// Warnings names bad lines ("line 7: unknown label \"FOO\""), the first few
// of them, and then how many more there were.
func (k *KeyLog) Warnings() []string {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	w := append([]string(nil), k.warnings...)
	if k.dropped > 0 {
		w = append(w, fmt.Sprintf("%d more key log warnings", k.dropped))
	}
	return w
}

func (k *KeyLog) warnLocked(source string, line int, msg string) {
	if len(k.warnings) >= maxKeyLogWarnings {
		k.dropped++
		return
	}
	p := ""
	if source != "" {
		p = source + ": "
	}
	if line > 0 {
		p += "line " + strconv.Itoa(line) + ": "
	}
	k.warnings = append(k.warnings, p+msg)
}

// fields splits b at runs of spaces and tabs, at most len(out) fields.
func fields(b []byte, out [][]byte) int {
	n := 0
	for len(b) > 0 {
		for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
			b = b[1:]
		}
		if len(b) == 0 {
			break
		}
		i := 0
		for i < len(b) && b[i] != ' ' && b[i] != '\t' {
			i++
		}
		if n == len(out) {
			return n + 1
		}
		out[n] = b[:i]
		n++
		b = b[i:]
	}
	return n
}

func quoteShort(b []byte) string {
	if len(b) > 40 {
		return strconv.Quote(string(b[:40])) + "…"
	}
	return strconv.Quote(string(b))
}

func (k *KeyLog) line(source string, line int, b []byte) {
	b = bytes.TrimRight(b, "\r\n")
	b = bytes.Trim(b, " \t\r")
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stats.Lines++
	if len(b) == 0 {
		k.stats.Blank++
		return
	}
	if b[0] == '#' {
		k.stats.Comments++
		return
	}
	bad := func(msg string) {
		k.stats.Bad++
		k.warnLocked(source, line, msg)
	}
	var f [4][]byte
	n := fields(b, f[:])
	label := string(f[0])
	if label == "RSA" && n == 3 && bytes.HasPrefix(f[1], []byte("Session-ID:")) && bytes.HasPrefix(f[2], []byte("Master-Key:")) {
		sid, err1 := hex.DecodeString(string(f[1][len("Session-ID:"):]))
		ms, err2 := hex.DecodeString(string(f[2][len("Master-Key:"):]))
		if err1 != nil || err2 != nil || len(sid) == 0 || len(sid) > 32 || len(ms) != 48 {
			bad("bad RSA Session-ID / Master-Key line")
			return
		}
		if k.bySession == nil {
			k.bySession = map[string][]byte{}
		}
		if old, ok := k.bySession[string(sid)]; ok {
			k.noteDup(source, line, old, ms)
			return
		}
		k.bySession[string(sid)] = ms
		k.sessions++
		k.stats.Secrets++
		return
	}
	if n != 3 {
		bad(fmt.Sprintf("%d fields, want 3: %s", n, quoteShort(b)))
		return
	}
	var dst func(*secrets) *[]byte
	lens := []int{32, 48}
	switch label {
	case "CLIENT_RANDOM":
		dst, lens = func(s *secrets) *[]byte { return &s.master }, []int{48}
	case "CLIENT_EARLY_TRAFFIC_SECRET":
		dst = func(s *secrets) *[]byte { return &s.clientEarly }
	case "CLIENT_HANDSHAKE_TRAFFIC_SECRET":
		dst = func(s *secrets) *[]byte { return &s.clientHS }
	case "SERVER_HANDSHAKE_TRAFFIC_SECRET":
		dst = func(s *secrets) *[]byte { return &s.serverHS }
	case "CLIENT_TRAFFIC_SECRET_0":
		dst = func(s *secrets) *[]byte { return &s.client0 }
	case "SERVER_TRAFFIC_SECRET_0":
		dst = func(s *secrets) *[]byte { return &s.server0 }
	case "EXPORTER_SECRET":
		dst = func(s *secrets) *[]byte { return &s.exporter }
	case "EARLY_EXPORTER_SECRET", "EARLY_EXPORTER_MASTER_SECRET":
		dst = func(s *secrets) *[]byte { return &s.earlyExporter }
	case "CLIENT_TRAFFIC_SECRET_N", "SERVER_TRAFFIC_SECRET_N":
		dst = nil
	case "RSA", "PMS_CLIENT_RANDOM", "ECH_SECRET", "ECH_CONFIG":
		k.stats.Unused++
		return
	default:
		bad("unknown label " + quoteShort(f[0]))
		return
	}
	var cr [32]byte
	if len(f[1]) != 64 {
		bad(fmt.Sprintf("%s: client random of %d hex digits, want 64", label, len(f[1])))
		return
	}
	if _, err := hex.Decode(cr[:], f[1]); err != nil {
		bad(label + ": client random is not hex")
		return
	}
	sec, err := hex.DecodeString(string(f[2]))
	if err != nil {
		bad(label + ": secret is not hex")
		return
	}
	okLen := false
	for _, l := range lens {
		okLen = okLen || len(sec) == l
	}
	if !okLen {
		bad(fmt.Sprintf("%s: secret of %d bytes, want %v", label, len(sec), lens))
		return
	}
	s := k.byRandom[cr]
	if s == nil {
		s = &secrets{}
		k.byRandom[cr] = s
	}
	if dst == nil { // a KeyUpdate's secret: kept in order
		if label == "CLIENT_TRAFFIC_SECRET_N" {
			s.clientN = append(s.clientN, sec)
		} else {
			s.serverN = append(s.serverN, sec)
		}
		k.stats.Secrets++
		return
	}
	p := dst(s)
	if *p != nil {
		k.noteDup(source, line, *p, sec)
		return
	}
	*p = sec
	k.stats.Secrets++
}

func (k *KeyLog) noteDup(source string, line int, old, new []byte) {
	if bytes.Equal(old, new) {
		k.stats.Duplicates++
		return
	}
	k.stats.Conflicts++
	k.warnLocked(source, line, "another value for a secret already read (the first is kept)")
}

// lookup returns a copy of the secrets of a client random.
func (k *KeyLog) lookup(cr [32]byte) (secrets, bool) {
	if k == nil {
		return secrets{}, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.byRandom[cr]
	if s == nil {
		return secrets{}, false
	}
	return *s, true
}

// sessionMaster finds the master secret of a resumed TLS 1.2 session by its
// ticket or session ID.
func (k *KeyLog) sessionMaster(sessionID, ticket []byte) ([]byte, string) {
	if k == nil {
		return nil, ""
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(ticket) > 0 && k.byTicket != nil {
		if m := k.byTicket[sha256.Sum256(ticket)]; m != nil {
			return m, "ticket"
		}
	}
	if len(sessionID) > 0 && k.bySession != nil {
		if m := k.bySession[string(sessionID)]; m != nil {
			return m, "session ID"
		}
	}
	return nil, ""
}

// remember records a TLS 1.2 session's master secret under its session ID and ticket.
func (k *KeyLog) remember(sessionID, ticket, master []byte) {
	if k == nil || len(master) == 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(sessionID) > 0 {
		if k.bySession == nil {
			k.bySession = map[string][]byte{}
		}
		if _, ok := k.bySession[string(sessionID)]; !ok && len(k.bySession) < maxSessionCache {
			k.bySession[string(sessionID)] = master
		}
	}
	if len(ticket) > 0 {
		if k.byTicket == nil {
			k.byTicket = map[[32]byte][]byte{}
		}
		if len(k.byTicket) < maxSessionCache {
			k.byTicket[sha256.Sum256(ticket)] = master
		}
	}
}
