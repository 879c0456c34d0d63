// Package render writes lifecycle records for people and programs.
//
// In: httpflow records (a whole httpflow.Document, or Connection records one
// at a time followed by the summary, for streaming).
//
// Out: text for an 80-column terminal, the JSON document and NDJSON stream
// of shared/spec/lifecycle-json.md, and a self-contained HTML report.
//
// Call order for streaming output (NDJSON): Connection for each record as
// it finishes, then End once with the summary and capture info.
package render

import (
	"encoding/json"
	"io"

	"github.com/httplife/httplife/httpflow"
)

// WriteJSON writes the document as indented JSON, exactly as
// json.Encoder with SetIndent("", "  ") writes it. The connection records
// are written by the hand-written encoder, in chunks; the rest by
// encoding/json. As with json.Encoder, nothing is written when the
// document cannot be encoded.
func WriteJSON(w io.Writer, doc *httpflow.Document) error {
	if doc == nil || !documentEncodable(doc) {
		return writeJSONReflect(w, doc)
	}
	// The members around the connections, indented one level in.
	capture, err1 := json.MarshalIndent(WireCaptureOf(&doc.Capture), indentUnit, indentUnit)
	options, err2 := json.MarshalIndent(WireOptions{Secs(doc.Options.TwoMSL), doc.Options.Ports}, indentUnit, indentUnit)
	summary, err3 := json.MarshalIndent(WireSummaryOf(&doc.Summary), indentUnit, indentUnit)
	if err1 != nil || err2 != nil || err3 != nil {
		return writeJSONReflect(w, doc) // its error, as it reports it
	}
	e := &jsonEncoder{b: make([]byte, 0, jsonChunk+jsonChunk/4), indent: true, depth: 2}
	e.b = append(e.b, "{\n  \"schema\": "...)
	e.b = appendJSONString(e.b, httpflow.Schema)
	e.b = append(e.b, ",\n  \"capture\": "...)
	e.b = append(e.b, capture...)
	e.b = append(e.b, ",\n  \"options\": "...)
	e.b = append(e.b, options...)
	e.b = append(e.b, ",\n  \"connections\": "...)
	switch {
	case doc.Connections == nil:
		e.null()
	case len(doc.Connections) == 0:
		e.b = append(e.b, "[]"...)
	default:
		e.b = append(e.b, '[')
		for i := range doc.Connections {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.newline()
			e.connection(&doc.Connections[i])
			if len(e.b) >= jsonChunk {
				if _, err := w.Write(e.b); err != nil {
					return err
				}
				e.b = e.b[:0]
			}
		}
		e.b = append(e.b, "\n  ]"...)
	}
	e.b = append(e.b, ",\n  \"summary\": "...)
	e.b = append(e.b, summary...)
	e.b = append(e.b, "\n}\n"...)
	_, err := w.Write(e.b)
	return err
}

// jsonChunk is the size WriteJSON gathers before each write.
const jsonChunk = 64 << 10

// writeJSONReflect is WriteJSON by encoding/json alone.
func writeJSONReflect(w io.Writer, doc *httpflow.Document) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if doc == nil {
		return enc.Encode(nil)
	}
	return enc.Encode(WireDocumentOf(doc))
}

// documentEncodable reports whether every connection record of doc is
// encodable. WriteJSON checks before it writes anything, so that a
// document encoding/json refuses writes nothing, as it would.
func documentEncodable(doc *httpflow.Document) bool {
	for i := range doc.Connections {
		if !encodable(&doc.Connections[i]) {
			return false
		}
	}
	return true
}

// NDJSON streams one connection per line, then a summary line.
type NDJSON struct {
	w   io.Writer
	enc *json.Encoder // for the last line
	e   jsonEncoder   // its buffer is reused from record to record
	err error         // the first write error; like json.Encoder's, it sticks
}

// NewNDJSON returns a streaming writer on w.
func NewNDJSON(w io.Writer) *NDJSON { return &NDJSON{w: w, enc: json.NewEncoder(w)} }

// Connection writes one record: the line json.Encoder would write, with
// one Write call.
func (n *NDJSON) Connection(c *httpflow.Connection) error {
	if n.err != nil {
		return n.err
	}
	line, err := n.e.line(c, 0)
	if err != nil {
		return err
	}
	return n.Write(line)
}

// Write writes a line a LineEncoder encoded, as Connection would have.
func (n *NDJSON) Write(line []byte) error {
	if n.err != nil {
		return n.err
	}
	_, n.err = n.w.Write(line)
	return n.err
}

// LineEncoder encodes records as NDJSON.Connection writes them, for a
// goroutine of its own; NDJSON.Write writes its lines.
type LineEncoder struct{ e jsonEncoder }

// Append appends c's line to dst, or returns dst and the error Connection
// would return.
func (l *LineEncoder) Append(dst []byte, c *httpflow.Connection) ([]byte, error) {
	l.e.b = dst
	b, err := l.e.line(c, len(dst))
	l.e.b = nil
	if err != nil {
		return dst, err
	}
	return b, nil
}

// line appends c's NDJSON line to e's buffer from position at.
func (e *jsonEncoder) line(c *httpflow.Connection, at int) ([]byte, error) {
	e.b = e.b[:at]
	if c == nil || !encodable(c) {
		// "null", or the error encoding/json reports.
		var b []byte
		var err error
		if c == nil {
			b, err = json.Marshal(nil)
		} else {
			b, err = json.Marshal(Wire(c))
		}
		if err != nil {
			return nil, err
		}
		e.b = append(e.b, b...)
	} else {
		e.connection(c)
	}
	e.b = append(e.b, '\n')
	return e.b, nil
}

// End writes the last line: {"summary": ..., "capture": ...}.
func (n *NDJSON) End(s httpflow.Summary, ci httpflow.CaptureInfo) error {
	if n.err != nil {
		return n.err
	}
	return n.enc.Encode(WireEnd{WireSummaryOf(&s), WireCaptureOf(&ci)})
}

// WireEnd is the last line of the NDJSON stream.
type WireEnd struct {
	Summary WireSummary `json:"summary"`
	Capture WireCapture `json:"capture"`
}
