package tlsrec

import (
	"fmt"
	"time"
)

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
