package tlsrec

import (
	"fmt"
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
