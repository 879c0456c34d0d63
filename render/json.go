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

// WriteJSON writes the document as indented JSON.
func WriteJSON(w io.Writer, doc *httpflow.Document) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// NDJSON streams one connection per line, then a summary line.
type NDJSON struct {
	enc *json.Encoder
}

// NewNDJSON returns a streaming writer on w.
func NewNDJSON(w io.Writer) *NDJSON { return &NDJSON{enc: json.NewEncoder(w)} }

// Connection writes one record.
func (n *NDJSON) Connection(c *httpflow.Connection) error { return n.enc.Encode(c) }

// End writes the last line: {"summary": ..., "capture": ...}.
func (n *NDJSON) End(s httpflow.Summary, ci httpflow.CaptureInfo) error {
	return n.enc.Encode(struct {
		Summary httpflow.Summary     `json:"summary"`
		Capture httpflow.CaptureInfo `json:"capture"`
	}{s, ci})
}
