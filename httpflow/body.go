package httpflow

// How a message's body ends and whether the connection persists after an
// exchange are decided once, when a message's header section is complete,
// in the order RFC 9112 gives (§6.3 for the body, §9.3 for persistence):
// requestBody, responseBody and persistence, side by side here as net/http's
// transfer.go has fixLength and shouldClose. The rest of the package only
// reads their typed answers.
//
// Strictness, chosen once: an observer cannot reject a message, so where
// the RFC tells a recipient to reject one (a request whose length cannot be
// determined), the framer gives up on that direction's framing until the
// next message start it can find (BodyInvalid); a response whose length is
// invalid is read to the close, and marked incomplete, as the RFC tells a
// user agent to do.

// BodyKind is how a message's body ends.
type BodyKind uint8

// The body kinds. BodyUnknown is a message not seen (the spec's null).
const (
	BodyUnknown    BodyKind = iota
	BodyNone                // no body: HEAD, 1xx, 204, 304; a request with neither length nor chunking
	BodyLength              // Content-Length
	BodyChunked             // Transfer-Encoding ending in chunked
	BodyUntilClose          // the body ends with the connection (responses)
	BodyTunnel              // 2xx to CONNECT, 101: the connection stops carrying HTTP
	BodyInvalid             // the length cannot be determined (a request)
)

var bodyNames = [...]string{BodyUnknown: "", BodyNone: "no-body", BodyLength: "content-length",
	BodyChunked: "chunked", BodyUntilClose: "close-delimited", BodyTunnel: "tunnel", BodyInvalid: "invalid"}

// String returns the spec's response_framing word ("no-body",
// "content-length", "chunked", "close-delimited"), or "tunnel" and
// "invalid", which the record writes as "no-body" and "close-delimited".
func (k BodyKind) String() string {
	if int(k) < len(bodyNames) {
		return bodyNames[k]
	}
	return "body?"
}

// ParseBodyKind returns the BodyKind whose String is s.
func ParseBodyKind(s string) (BodyKind, bool) {
	for k, name := range bodyNames {
		if name == s && s != "" {
			return BodyKind(k), true
		}
	}
	return BodyUnknown, false
}

// lengthHeaders are the facts of a header section that decide a body.
type lengthHeaders struct {
	te, chunked bool // Transfer-Encoding present; its final coding is chunked
	hasCL       bool
	cl          int64
	badCL       bool // a Content-Length that is invalid or conflicts with another
}

// requestBody decides a request's body (RFC 9112 §6.3 rules 3, 4, 6 and 7):
// chunked; another transfer coding or an invalid length makes the body's
// end unknowable; Content-Length; else none.
func requestBody(h *lengthHeaders) (BodyKind, int64) {
	switch {
	case h.te && h.chunked:
		return BodyChunked, 0
	case h.te, h.badCL:
		return BodyInvalid, 0
	case h.hasCL:
		return BodyLength, h.cl
	}
	return BodyNone, 0
}

// responseBody decides a response's body (RFC 9112 §6.3 rules 1 to 8):
// no body after HEAD and for 1xx, 204 and 304 (101 and a 2xx to CONNECT
// switch to a tunnel); chunked; another transfer coding reads to the close;
// an invalid length reads to the close, incomplete; Content-Length; else
// to the close.
func responseBody(method string, status int, h *lengthHeaders) (kind BodyKind, n int64, incomplete bool) {
	switch {
	case status == 101, method == "CONNECT" && status >= 200 && status < 300:
		return BodyTunnel, 0, false
	case method == "HEAD", status >= 100 && status < 200, status == 204, status == 304:
		return BodyNone, 0, false
	case h.te && h.chunked:
		return BodyChunked, 0, false
	case h.te:
		return BodyUntilClose, 0, false
	case h.badCL:
		return BodyUntilClose, 0, true
	case h.hasCL:
		return BodyLength, h.cl, false
	}
	return BodyUntilClose, 0, false
}

// Persistence is whether a connection persists after an exchange, and if
// not, why.
type Persistence uint8

// The persistence answers, in the order persistence checks them.
const (
	Persists            Persistence = iota
	CloseTunnel                     // the connection switched protocols
	CloseRequested                  // the request carried Connection: close
	CloseAnnounced                  // the response carried Connection: close
	CloseHTTP10                     // HTTP/1.0 without Connection: keep-alive
	CloseBodyUntilClose             // the response's body ends with the connection
)

var persistenceNames = [...]string{Persists: "persists", CloseTunnel: "tunnel", CloseRequested: "request Connection: close",
	CloseAnnounced: "response Connection: close", CloseHTTP10: "HTTP/1.0 without keep-alive",
	CloseBodyUntilClose: "body ends at the close"}

func (p Persistence) String() string {
	if int(p) < len(persistenceNames) {
		return persistenceNames[p]
	}
	return "persistence?"
}

// exchangeHeaders are the facts of a request and its response that decide
// persistence.
type exchangeHeaders struct {
	reqVersion, respVersion  string
	reqClose, reqKeepAlive   bool // Connection tokens of the request
	respClose, respKeepAlive bool // and of the response
	respBody                 BodyKind
	haveResponse             bool
}

// persistence decides, by RFC 9112 §9.3, whether the connection persists
// after an exchange: a tunnel ends HTTP; any Connection: close ends it;
// HTTP/1.0 (request or response) persists only with Connection:
// keep-alive; a response whose body ends with the close ends it (§6.3);
// HTTP/1.1 persists otherwise. Without a response only the request
// decides.
func persistence(h *exchangeHeaders) Persistence {
	switch {
	case h.haveResponse && h.respBody == BodyTunnel:
		return CloseTunnel
	case h.reqClose:
		return CloseRequested
	case h.haveResponse && h.respClose:
		return CloseAnnounced
	case h.reqVersion == "HTTP/1.0" && !h.reqKeepAlive:
		return CloseHTTP10
	case h.haveResponse && h.respVersion == "HTTP/1.0" && !h.respKeepAlive:
		return CloseHTTP10
	case h.haveResponse && (h.respBody == BodyUntilClose || h.respBody == BodyInvalid):
		return CloseBodyUntilClose
	}
	return Persists
}

// idempotent reports whether method is idempotent (RFC 9110 §9.2.2): a
// proxy may retry it on another connection.
func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}
