package render

import (
	"encoding/json"
	"io"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/summary"
)

// WriteAdvice writes what `httplife advise` prints: the findings, each
// server's timeouts in force and what-if table, and the advice.
func WriteAdvice(w io.Writer, d *summary.Digest) error {
	tw := &errWriter{w: w}
	tw.printf("capture      %s\n", d.Capture.Source)
	for i, f := range d.Findings {
		label := ""
		if i == 0 {
			label = "findings"
		}
		tw.printf("%-12s - %s\n", label, wrapWordsAt(f, 15, 15))
	}
	WriteServers(tw, d, ServerView{WhatIf: true})
	if len(d.Summary.Advice) == 0 {
		tw.printf("\n%-12s nothing to change: no server's timeouts are out of order in this capture\n", "advice")
	}
	for _, wr := range d.Capture.Warnings {
		tw.printf("warning      %s\n", wrapWords(wr, 13))
	}
	return tw.err
}

// WireAdvise is `httplife advise --format json`: the summary's findings,
// servers (with their what-if replays) and advice, and the capture.
type WireAdvise struct {
	Schema   string       `json:"schema"`
	Capture  WireCapture  `json:"capture"`
	Findings []string     `json:"findings"`
	Servers  []WireServer `json:"servers"`
	Advice   []WireAdvice `json:"advice"`
}

// WriteAdviceJSON writes WireAdvise.
func WriteAdviceJSON(w io.Writer, d *summary.Digest) error {
	s := WireSummaryOf(&d.Summary)
	out := WireAdvise{Schema: httpflow.Schema, Capture: WireCaptureOf(&d.Capture), Findings: s.Findings, Servers: s.Servers, Advice: s.Advice}
	if out.Findings == nil {
		out.Findings = []string{}
	}
	if out.Servers == nil {
		out.Servers = []WireServer{}
	}
	if out.Advice == nil {
		out.Advice = []WireAdvice{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
