// Package tlsrec follows the TLS record layer of one TCP connection, with or
// without the connection's secrets.
//
// In: each direction's reassembled bytes in sequence order, each piece with
// the capture time of the packet that carried it (Conn.Data), lost byte
// counts (Conn.Gap), and optionally a KeyLog: secrets by client random from an
// SSLKEYLOGFILE (ParseKeyLog) or pcapng Decryption Secrets Blocks
// (KeyLog.AddDSB).
//
// Out, to a Handler, in stream order per direction: every complete record
// (Record: wire and inner content type, length, stream offset, capture times
// of its first and last byte, encrypted/decrypted, alert) and, with keys, the
// decrypted application data of each record (Handler.Plaintext, with the
// record's times) to be analysed as HTTP/1.x (or HTTP/2 when Info.ALPN is
// "h2"). Conn.Info sums up the connection: versions, SNI, ALPN, suite,
// resumption, HelloRetryRequest, 0-RTT, who sent close_notify when and how
// sure that is, counts, and warnings.
//
// Versions and ciphers. Handshakes of SSL 3.0 to TLS 1.3 are parsed
// (ClientHello SNI, ALPN, supported_versions, session ID, ticket, PSK, early
// data; ServerHello version, suite, ALPN, encrypt_then_mac; TLS 1.3
// EncryptedExtensions once decrypted), on any port, handshake messages
// fragmented over records and records over segments. Decryption covers TLS
// 1.3 with AES-128/256-GCM and ChaCha20-Poly1305 (handshake and application
// traffic secrets, KeyUpdate, 0-RTT with CLIENT_EARLY_TRAFFIC_SECRET) and TLS
// 1.0–1.2 keyed by CLIENT_RANDOM (any key exchange, RSA included): AES-GCM,
// ChaCha20-Poly1305, AES-CBC and 3DES-CBC with HMAC-SHA1/SHA256/SHA384,
// MAC-then-encrypt or encrypt_then_mac (RFC 7366). A resumed TLS 1.2 session
// whose own CLIENT_RANDOM line is missing (Go's client writes none) is keyed
// by the ticket or session ID of an earlier connection decrypted with the same
// KeyLog. CCM suites, RC4, NULL and compression are named, not decrypted.
//
// Without keys nothing is copied or allocated per application-data record:
// a record is framed by its header and its body skipped. In TLS 1.2 the
// wire content type tells an encrypted alert from application data; in TLS
// 1.3 every protected record says application_data, so Record.Inner is then a
// judgement (Record.Sure false) by position and size: the server's flight and
// the client's first protected record (its Finished) are handshake, a record
// of exactly alert size (24 bytes on the wire with a 16-byte tag) is an alert,
// and one counts as close_notify when it is the last record its side sent
// (Info.CloseNotifySure false). A 2-byte application-data record (a lone
// CRLF) has the same size; when more records follow it the judgement is
// withdrawn and named in the warnings. The ALPN choice is encrypted in TLS
// 1.3: without keys Info.ALPN is the client's only offer when it made one
// (Info.ALPNGuessed), else "".
//
// Inferred transactions (the spec's "inferred": true) are built by the
// caller from the records: a request is a run of client records whose Inner
// is application data after server data (or first), its response the
// server's application-data records that follow; the request starts at its
// first record's First, the response ends at its last record's Last.
//
// Hostile input: a record length over 2^14+2048 (forged), or bytes that are no
// TLS record, stop that direction with a warning (Info.Stopped); records that
// fail authentication are counted (Info.AuthFailures), 16 in a row end
// decryption of that direction; lost bytes inside a record lose that record,
// lost record boundaries are found again by scanning for a plausible header
// (with keys the next sequence numbers are tried once). Memory is bounded: at
// most one record of ciphertext, one of plaintext and one handshake message
// (64 KiB) per direction, and a bounded number of warnings.
//
// The spec's CONNECTION "tls" object maps from Info as: version = Version,
// sni = SNI (null when ""), alpn = ALPN (null when ""), decrypted =
// Decrypted, close_notify_by = CloseNotifyBy.
package tlsrec
