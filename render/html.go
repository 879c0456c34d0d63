package render

import (
	_ "embed"
	"encoding/json"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	echartsrender "github.com/go-echarts/go-echarts/v2/render"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/summary"
)

// The HTML report is one self-contained file: the page layout and the
// charts' options (built with go-echarts) are written by the html_*.go
// files, one a part of the page, from a summary.Digest; Apache ECharts and
// the page's own script are inlined from assets/, and all data taken from
// the capture travels in one JSON block.
//
// Safety: go-echarts writes chart options into a <script> element without
// HTML escaping, so no free text from the capture goes through it. Strings
// from the capture reach the page only through html/template (text and
// attributes) or the JSON data block (json.Marshal escapes <, > and &), and
// the page's script shows them with textContent or an explicit escape.
// Chart labels that go-echarts does write (reason names, host addresses) pass
// htmlChartLabel, which keeps a small set of harmless characters.

var (
	//go:embed assets/echarts.min.js
	htmlEchartsJS string
	//go:embed assets/echarts-NOTICE.txt
	htmlEchartsNotice string
	//go:embed assets/report.js
	htmlReportJS string
	//go:embed assets/report.css
	htmlReportCSS string
	//go:embed assets/report.html.tmpl
	htmlPageSource string
)

// htmlEchartsVersion is the version of assets/echarts.min.js.
const htmlEchartsVersion = "5.6.0"

// Limits that keep a report of a large capture small and responsive (the
// digest keeps what they need: summary.TimelineMax, summary.TableMax).
const (
	htmlTimelineMax = summary.TimelineMax
	htmlTableMax    = summary.TableMax
	htmlRowTxMax    = 200 // transactions drawn on one row: the first and the last half
	htmlRowTxMin    = 20  // ... at least, when the budget below makes rows share
	// htmlTimelineTxs bounds the transactions drawn in the whole timeline:
	// echarts takes about 1 s per 40,000 drawn segments (three or four a
	// transaction) to set up and paint them in Chromium on a small
	// machine, and sub-pixel transactions add nothing to the picture.
	htmlTimelineTxs = 12000
	htmlHostSeries  = 6 // TIME_WAIT series per role before "other"
)

// Side colours, used consistently: client blue, server orange, RST red.
const (
	htmlClient      = "#2f6fd0"
	htmlClientLight = "#9dbdf0"
	htmlServer      = "#e8741c"
	htmlServerLight = "#f6c48f"
	htmlBoth        = "#8e6bbf"
	htmlRST         = "#d62728"
	htmlIdle        = "#7fc79a"
	htmlFinalIdle   = "#2f8f55"
	htmlNeutral     = "#8a96a3"
)

var htmlPageTemplate = template.Must(template.New("report").Parse(htmlPageSource))

// WriteHTML writes the report of a digest (its Report must be set:
// summary.Config.Timeline) as one self-contained HTML page: a header with
// the key findings, the per-connection timeline, keep-alive idle
// histograms, who closed and why, requests per connection, open, idle and
// TIME_WAIT connections over time, and a table of connections. The page
// loads nothing from the network. The same digest always gives the same
// bytes.
func WriteHTML(w io.Writer, d *summary.Digest) error {
	if d == nil {
		d = &summary.Digest{}
	}
	if d.Report == nil {
		d.Report = summary.New(summary.Config{Timeline: true}).Digest(d.Capture, d.Options).Report
	}
	r := &htmlReport{d: d, rep: d.Report, strs: []string{}, strIdx: map[string]int{}}
	page, err := r.page()
	if err != nil {
		return err
	}
	return htmlPageTemplate.Execute(w, page)
}

// htmlReport is one page being written.
type htmlReport struct {
	d        *summary.Digest
	rep      *summary.Report
	strs     []string
	strIdx   map[string]int
	elided   int // transactions of long connections not drawn on their rows
	rowTxMax int // transactions drawn on one row (even)
}

// ms is t in milliseconds after the origin, rounded to the microsecond.
func (r *htmlReport) ms(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	v := math.Round(float64(t.Sub(r.rep.Origin))/1e3) / 1e3
	if v == 0 {
		return 0 // no "-0"
	}
	return v
}

// at is ms(t) for the JSON data block, or null for a zero time.
func (r *htmlReport) at(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return htmlNum(r.ms(t))
}

// str interns s in the data block's string table.
func (r *htmlReport) str(s string) int {
	if i, ok := r.strIdx[s]; ok {
		return i
	}
	r.strIdx[s] = len(r.strs)
	r.strs = append(r.strs, s)
	return len(r.strs) - 1
}

// htmlNum marshals as the shortest decimal, never in exponent form.
type htmlNum float64

func (n htmlNum) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'f', -1, 64), nil
}

// The page model of report.html.tmpl.
type htmlPage struct {
	Title          string
	Source         string
	Stats          []htmlStat
	Extra          []string
	Warnings       []string
	Findings       []string
	TimelineNote   string
	TimelineEmpty  bool
	Timeline       template.HTML
	IdleGaps       template.HTML
	FinalIdle      template.HTML
	HistNote       string
	Reasons        template.HTML
	Sides          template.HTML
	PerConn        template.HTML
	PerConnNote    string
	OverTime       template.HTML
	TimeWait       template.HTML
	TimeWaitNote   string
	OverTimeNote   string
	Rows           []htmlRow
	TableNote      string
	Schema         string
	EchartsVersion string
	EchartsNotice  template.HTML
	EchartsJS      template.JS
	ReportJS       template.JS
	CSS            template.CSS
	Data           template.JS
}

type htmlStat struct{ Label, Value, Detail string }

func (r *htmlReport) page() (*htmlPage, error) {
	d := r.d
	p := &htmlPage{
		Title:          "httplife report",
		Source:         d.Capture.Source,
		Warnings:       d.Capture.Warnings,
		Schema:         httpflow.Schema,
		EchartsVersion: htmlEchartsVersion,
		EchartsNotice:  template.HTML("<!--\n" + htmlCommentSafe(htmlEchartsNotice) + "\nLicensed under the Apache License, Version 2.0; the bundled d3 parts under the BSD 3-Clause licence.\n-->"),
		EchartsJS:      template.JS(htmlEchartsJS),
		ReportJS:       template.JS(htmlReportJS),
		CSS:            template.CSS(htmlReportCSS),
		Findings:       d.Findings,
	}
	if p.Source != "" {
		p.Title += ": " + p.Source
	}
	if len(p.Findings) == 0 {
		p.Findings = summary.New(summary.Config{}).Findings()
	}
	p.Stats, p.Extra = r.stats()
	data := map[string]any{}
	p.Timeline = r.timelineChart(data) // before the note: it counts what rows leave out
	p.TimelineNote, p.TimelineEmpty = r.timelineNote(), len(r.rep.Timeline) == 0
	p.IdleGaps, p.FinalIdle, p.HistNote = r.idleCharts(data)
	p.Reasons, p.Sides = r.closeCharts()
	p.PerConn, p.PerConnNote = r.perConnChart()
	p.OverTime, p.TimeWait, p.OverTimeNote, p.TimeWaitNote = r.overTimeCharts()
	p.Rows, p.TableNote = r.table()
	data["strs"] = r.strs
	data["end"] = htmlNum(r.rep.End)
	data["xmax"] = htmlNum(r.rep.XMax)
	data["t0"] = r.rep.Origin.UTC().Format(TimeFormat)
	js, err := json.Marshal(data) // escapes <, >, & and U+2028/9
	if err != nil {
		return nil, err
	}
	p.Data = template.JS(js)
	return p, nil
}

// htmlCommentSafe keeps text from ending an HTML comment early.
func htmlCommentSafe(s string) string {
	s = strings.TrimSpace(s)
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "- -")
	}
	return strings.ReplaceAll(s, ">", ")")
}

// htmlChartLabel makes a string safe for go-echarts, which writes its options
// into a script element unescaped and turns "__f__" markers into raw
// JavaScript: anything but letters, digits and a few punctuation marks (no
// quote, backslash, angle bracket, underscore or parenthesis) becomes "?".
// Reason names and IP addresses pass intact.
func htmlChartLabel(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i >= 80 {
			b.WriteString("…")
			break
		}
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			strings.ContainsRune(" .:-[]%=,+", c):
			b.WriteRune(c)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

func htmlSideCode(s httpflow.Side) int {
	switch s {
	case httpflow.Client:
		return 1
	case httpflow.Server:
		return 2
	case httpflow.Both:
		return 3
	}
	return 0
}

// htmlSecs formats seconds for people: "2.0 s", "350 ms", "80 µs".
func htmlSecs(s float64) string { return summary.Secs(s) }

func htmlCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func htmlThousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func htmlIf(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func htmlPercent(v, of float64) float64 {
	if of <= 0 {
		return 100
	}
	p := math.Ceil(100*v/of*1.02 + 0.5)
	return math.Min(100, math.Max(p, 1))
}

// htmlChart is what every go-echarts chart type provides.
type htmlChart interface {
	ClearPresetJSAssets()
	RenderSnippet() echartsrender.ChartSnippet
}

// htmlSnippet renders a chart's element and script without any asset:
// echarts itself is inlined once in the page head. The snippet holds only
// constants, numbers and htmlChartLabel strings.
func htmlSnippet(c htmlChart) template.HTML {
	c.ClearPresetJSAssets()
	s := c.RenderSnippet()
	return template.HTML(s.Element + "\n" + s.Script)
}

func htmlReasonClass(reason httpflow.Reason) string {
	if reason >= httpflow.ReasonKeepaliveRace && reason <= httpflow.ReasonUnknown {
		return "r-" + reason.String()
	}
	return "r-other"
}
