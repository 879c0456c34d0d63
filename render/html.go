package render

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
	echartsrender "github.com/go-echarts/go-echarts/v2/render"

	"github.com/httplife/httplife/httpflow"
)

// The HTML report is one self-contained file: the page layout and the
// charts' options (built with go-echarts) are written by this file, Apache
// ECharts and the page's own script are inlined from assets/, and all data
// taken from the capture travels in one JSON block.
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

// Size limits that keep a report of a large capture small and responsive.
const (
	htmlTimelineMax = 2000 // connections drawn in the timeline
	htmlRowTxMax    = 200  // transactions drawn on one row: the first and the last half
	htmlRowTxMin    = 20   // ... at least, when the budget below makes rows share
	// htmlTimelineTxs bounds the transactions drawn in the whole timeline:
	// echarts takes about 1 s per 40,000 drawn segments (three or four a
	// transaction) to set up and paint them in Chromium on a small
	// machine, and sub-pixel transactions add nothing to the picture.
	htmlTimelineTxs = 12000
	htmlTableMax    = 3000 // rows of the connection table
	htmlStepMax     = 3000 // points of an over-time series before it is bucketed
	htmlStepBuckets = 1500 // buckets of a bucketed over-time series
	htmlHostSeries  = 6    // TIME_WAIT series per role before "other"
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

// WriteHTML writes doc as one self-contained HTML report: a header with the
// key findings, the per-connection timeline, keep-alive idle histograms, who
// closed and why, requests per connection, open, idle and TIME_WAIT
// connections over time, and a table of connections. The page loads nothing
// from the network. The same document always gives the same bytes.
func WriteHTML(w io.Writer, doc *httpflow.Document) error {
	if doc == nil {
		doc = &httpflow.Document{}
	}
	r := newHTMLReport(doc)
	page, err := r.page()
	if err != nil {
		return err
	}
	return htmlPageTemplate.Execute(w, page)
}

// htmlReport holds what the report needs computed once.
type htmlReport struct {
	doc      *httpflow.Document
	conns    []*httpflow.Connection
	origin   time.Time
	end      float64 // capture end, ms after origin
	xmax     float64 // latest time of anything drawn, ms
	strs     []string
	strIdx   map[string]int
	drawn    []int // indexes into conns drawn in the timeline, in start order
	drawSet  map[int]bool
	elided   int // transactions of long connections not drawn on their rows
	rowTxMax int // transactions drawn on one row (even)
}

func newHTMLReport(doc *httpflow.Document) *htmlReport {
	r := &htmlReport{doc: doc, strs: []string{}, strIdx: map[string]int{}}
	for i := range doc.Connections {
		r.conns = append(r.conns, &doc.Connections[i])
	}
	r.origin = doc.Capture.FirstPacketAt
	var last time.Time
	for _, c := range r.conns {
		for _, t := range []time.Time{c.FirstPacketAt, c.LastPacketAt} {
			if t.IsZero() {
				continue
			}
			if r.origin.IsZero() || t.Before(r.origin) {
				r.origin = t
			}
			if t.After(last) {
				last = t
			}
		}
	}
	if t := doc.Capture.LastPacketAt; !t.IsZero() && t.After(last) {
		last = t
	}
	r.end = r.ms(last)
	r.xmax = r.end
	for _, c := range r.conns {
		if c.TimeWait != nil {
			r.xmax = math.Max(r.xmax, r.ms(c.TimeWait.ExpiresAt))
		}
	}
	if r.xmax <= 0 {
		r.xmax = 1
	}
	return r
}

// ms is t in milliseconds after the origin, rounded to the microsecond.
func (r *htmlReport) ms(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	v := math.Round(float64(t.Sub(r.origin))/1e3) / 1e3
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

type htmlRow struct {
	ID                 int
	Client, Server     string
	Requests           int
	Statuses           string
	Idle, Final        string
	Closer, CloserSide string
	Reason, ReasonCSS  string
	Evidence           string
}

func (r *htmlReport) page() (*htmlPage, error) {
	doc := r.doc
	p := &htmlPage{
		Title:          "httplife report",
		Source:         doc.Capture.Source,
		Warnings:       doc.Capture.Warnings,
		Schema:         httpflow.Schema,
		EchartsVersion: htmlEchartsVersion,
		EchartsNotice:  template.HTML("<!--\n" + htmlCommentSafe(htmlEchartsNotice) + "\nLicensed under the Apache License, Version 2.0; the bundled d3 parts under the BSD 3-Clause licence.\n-->"),
		EchartsJS:      template.JS(htmlEchartsJS),
		ReportJS:       template.JS(htmlReportJS),
		CSS:            template.CSS(htmlReportCSS),
	}
	if p.Source != "" {
		p.Title += ": " + p.Source
	}
	if p.Schema == "" {
		p.Schema = httpflow.Schema
	}
	r.pickTimeline()
	p.Stats, p.Extra = r.stats()
	p.Findings = r.findings()
	data := map[string]any{}
	p.Timeline = r.timelineChart(data) // before the note: it counts what rows leave out
	p.TimelineNote, p.TimelineEmpty = r.timelineNote(), len(r.drawn) == 0
	p.IdleGaps, p.FinalIdle, p.HistNote = r.idleCharts(data)
	p.Reasons, p.Sides = r.closeCharts()
	p.PerConn, p.PerConnNote = r.perConnChart()
	p.OverTime, p.TimeWait, p.OverTimeNote, p.TimeWaitNote = r.overTimeCharts()
	p.Rows, p.TableNote = r.table()
	data["strs"] = r.strs
	data["end"] = htmlNum(r.end)
	data["xmax"] = htmlNum(r.xmax)
	data["t0"] = r.origin.UTC().Format(TimeFormat)
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

// ---------------------------------------------------------------- helpers

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

// htmlCloser says who ended c first: "client", "server" or "both" with
// kind "FIN" or "RST", or "" when the capture holds neither.
func htmlCloser(c *httpflow.Connection) (side, kind string) {
	sd, k := c.Closer()
	return sd.String(), k
}

// htmlReasonRank orders reasons as the spec applies them.
func htmlReasonRank(reason httpflow.Reason) int { return int(reason) }

func htmlHost(endpoint netip.AddrPort) string { return endpoint.Addr().String() }

func htmlMedian(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// htmlSecs formats seconds for people: "2.0 s", "350 ms", "80 µs".
func htmlSecs(s float64) string {
	switch a := math.Abs(s); {
	case a >= 100:
		return strconv.FormatFloat(s, 'f', 0, 64) + " s"
	case a >= 1:
		return strconv.FormatFloat(s, 'f', 1, 64) + " s"
	case a >= 0.001:
		return strconv.FormatFloat(s*1e3, 'f', 0, 64) + " ms"
	case a == 0:
		return "0 s"
	default:
		return strconv.FormatFloat(s*1e6, 'f', 0, 64) + " µs"
	}
}

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

// htmlBytes formats a byte count in binary units (the HTML header and the
// live view).
func htmlBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func htmlIsRace(c *httpflow.Connection) bool { return c.Close.Reason == httpflow.ReasonKeepaliveRace }

func htmlIsReset(c *httpflow.Connection) bool {
	_, kind := htmlCloser(c)
	return c.Close.Reason == httpflow.ReasonReset || kind == "RST"
}

func htmlHasError(c *httpflow.Connection) bool {
	for i := range c.Transactions {
		t := &c.Transactions[i]
		if t.Status == 0 || t.Status >= 400 {
			return true
		}
	}
	return false
}

func htmlDuration(c *httpflow.Connection) time.Duration {
	if c.FirstPacketAt.IsZero() || c.LastPacketAt.IsZero() {
		return 0
	}
	return c.LastPacketAt.Sub(c.FirstPacketAt)
}

// ---------------------------------------------------------------- header

func (r *htmlReport) stats() ([]htmlStat, []string) {
	ci := &r.doc.Capture
	tx := 0
	for _, c := range r.conns {
		tx += len(c.Transactions)
	}
	var st []htmlStat
	span := "-"
	detail := ""
	first, last := ci.FirstPacketAt, ci.LastPacketAt
	if first.IsZero() && len(r.conns) > 0 {
		first = r.origin
		last = r.origin.Add(time.Duration(r.end * 1e6))
	}
	if !first.IsZero() {
		d := ci.Duration.Seconds()
		if d == 0 && !last.IsZero() {
			d = last.Sub(first).Seconds()
		}
		span = htmlSecs(d)
		detail = first.UTC().Format("2006-01-02 15:04:05.000") + " → " + last.UTC().Format("15:04:05.000") + " UTC"
	}
	st = append(st, htmlStat{"Time span", span, detail})
	pk := htmlThousands(ci.Packets)
	pd := ""
	if ci.TCPPackets != ci.Packets || ci.Bytes > 0 {
		pd = htmlThousands(ci.TCPPackets) + " TCP"
		if ci.Bytes > 0 {
			pd += ", " + htmlBytes(ci.Bytes)
		}
	}
	st = append(st, htmlStat{"Packets", pk, pd})
	servers := map[netip.AddrPort]bool{}
	for _, c := range r.conns {
		servers[c.Server] = true
	}
	st = append(st, htmlStat{"Connections", strconv.Itoa(len(r.conns)), htmlCount(len(servers), "server endpoint", "server endpoints")})
	reuse := "-"
	if len(r.conns) > 0 {
		reuse = strconv.FormatFloat(float64(tx)/float64(len(r.conns)), 'f', 2, 64) + " per connection"
	}
	st = append(st, htmlStat{"Transactions", strconv.Itoa(tx), reuse})
	format := ci.Format
	if len(ci.LinkTypes) > 0 {
		format += " " + strings.Join(ci.LinkTypes, ", ")
	}
	twoMSL := ""
	if r.doc.Options.TwoMSL > 0 {
		twoMSL = "2MSL " + htmlSecs(r.doc.Options.TwoMSL.Seconds())
	}
	st = append(st, htmlStat{"Format", strings.TrimSpace(format), twoMSL})

	var extra []string
	for _, k := range []struct {
		name string
		n    uint64
	}{{"non_tcp", ci.Skipped.NonTCP}, {"truncated", ci.Skipped.Truncated}, {"undecodable", ci.Skipped.Undecodable}} {
		if k.n > 0 {
			extra = append(extra, fmt.Sprintf("%s packets skipped (%s)", htmlThousands(k.n), k.name))
		}
	}
	if ci.Dropped != nil && *ci.Dropped > 0 {
		extra = append(extra, fmt.Sprintf("%s packets dropped by the kernel", htmlThousands(*ci.Dropped)))
	}
	if ci.Evicted > 0 {
		extra = append(extra, fmt.Sprintf("%s connections evicted early to bound memory", htmlThousands(ci.Evicted)))
	}
	return st, extra
}

// findings are one sentence each, most telling first.
func (r *htmlReport) findings() []string {
	n := len(r.conns)
	if n == 0 {
		return []string{"The capture holds no TCP connection carrying HTTP/1.x."}
	}
	byReason := map[httpflow.Reason][]*httpflow.Connection{}
	for _, c := range r.conns {
		byReason[c.Close.Reason] = append(byReason[c.Close.Reason], c)
	}
	finals := func(cs []*httpflow.Connection) []float64 {
		var v []float64
		for _, c := range cs {
			if c.FinalIdle != nil {
				v = append(v, c.FinalIdle.Duration.Seconds())
			}
		}
		return v
	}
	timeouts := func(cs []*httpflow.Connection) []float64 {
		seen := map[float64]bool{}
		var v []float64
		for _, c := range cs {
			if t := c.KeepAlive.AdvertisedTimeout; t != nil && !seen[*t] {
				seen[*t] = true
				v = append(v, *t)
			}
		}
		sort.Float64s(v)
		return v
	}
	timeoutText := func(v []float64) string {
		var parts []string
		for _, t := range v {
			parts = append(parts, "timeout="+strconv.FormatFloat(t, 'f', -1, 64))
		}
		return strings.Join(parts, ", ")
	}
	var out []string
	if cs := byReason[httpflow.ReasonKeepaliveRace]; len(cs) > 0 {
		var idle []float64
		for _, c := range cs {
			if k := len(c.IdlePeriods); k > 0 {
				idle = append(idle, c.IdlePeriods[k-1].Duration.Seconds())
			}
		}
		s := fmt.Sprintf("%s a closing connection (keep-alive race): the server closed an idle keep-alive connection as the client reused it", htmlCount(len(cs), "request met", "requests met"))
		if len(idle) > 0 {
			s += fmt.Sprintf(", after a median %s idle", htmlSecs(htmlMedian(idle)))
		}
		if t := timeouts(cs); len(t) > 0 {
			s += "; the server advertised " + timeoutText(t)
		}
		out = append(out, s+".")
	}
	if cs := byReason[httpflow.ReasonReset]; len(cs) > 0 {
		var cl, sv int
		for _, c := range cs {
			if c.Close.RstBy == httpflow.Client {
				cl++
			} else if c.Close.RstBy != httpflow.NoSide {
				sv++
			}
		}
		out = append(out, fmt.Sprintf("%s reset (%d by the client, %d by the server).", htmlCount(len(cs), "connection was", "connections were"), cl, sv))
	}
	if cs := byReason[httpflow.ReasonServerIdleTimeout]; len(cs) > 0 {
		s := fmt.Sprintf("%d of %d connections were closed by the server", len(cs), n)
		if f := finals(cs); len(f) > 0 {
			s += " after " + htmlSecs(htmlMedian(f)) + " idle (median)"
		}
		t := timeouts(cs)
		if len(t) > 0 {
			s += "; the server advertised " + timeoutText(t)
			if f := finals(cs); len(f) > 0 && htmlMedian(f) < 0.8*t[0] {
				s += ", yet closed sooner"
			}
		} else {
			s += "; no Keep-Alive timeout was advertised"
		}
		out = append(out, s+".")
	}
	if cs := byReason[httpflow.ReasonClientIdleClose]; len(cs) > 0 {
		s := fmt.Sprintf("The client closed %s", htmlCount(len(cs), "idle connection", "idle connections"))
		if f := finals(cs); len(f) > 0 {
			s += " after a median " + htmlSecs(htmlMedian(f))
		}
		out = append(out, s+".")
	}
	if cs := byReason[httpflow.ReasonHTTP10]; len(cs) > 0 {
		out = append(out, fmt.Sprintf("%s after one HTTP/1.0 exchange without keep-alive.", htmlCount(len(cs), "connection was closed", "connections were closed")))
	}
	if cs := byReason[httpflow.ReasonClientCloseHeader]; len(cs) > 0 {
		out = append(out, fmt.Sprintf("%s because the client sent Connection: close.", htmlCount(len(cs), "connection ended", "connections ended")))
	}
	if cs := byReason[httpflow.ReasonMaxRequests]; len(cs) > 0 {
		out = append(out, fmt.Sprintf("%s the server's Keep-Alive max and was closed.", htmlCount(len(cs), "connection reached", "connections reached")))
	}
	if cs := byReason[httpflow.ReasonServerCloseHeader]; len(cs) > 0 {
		out = append(out, fmt.Sprintf("The server ended %s with Connection: close the client had not asked for.", htmlCount(len(cs), "connection", "connections")))
	}
	if cs := byReason[httpflow.ReasonCloseDelimited]; len(cs) > 0 {
		out = append(out, fmt.Sprintf("%s with the server's close, which ended a response without Content-Length or chunking.", htmlCount(len(cs), "connection ended", "connections ended")))
	}
	if cs := byReason[httpflow.ReasonCaptureEnded]; len(cs) > 0 {
		out = append(out, fmt.Sprintf("%s still open when the capture ended.", htmlCount(len(cs), "connection was", "connections were")))
	}
	if cs := byReason[httpflow.ReasonUnknown]; len(cs) > 0 {
		out = append(out, fmt.Sprintf("%s for a reason not determined from the capture.", htmlCount(len(cs), "connection closed", "connections closed")))
	}

	tx, single, pipelined, errs, unanswered, probes, probeConns, guessed := 0, 0, 0, 0, 0, uint64(0), 0, 0
	maxTx := 0
	for _, c := range r.conns {
		tx += len(c.Transactions)
		if len(c.Transactions) == 1 {
			single++
		}
		maxTx = max(maxTx, len(c.Transactions))
		for i := range c.Transactions {
			t := &c.Transactions[i]
			if t.Pipelined {
				pipelined++
			}
			if t.Status == 0 {
				unanswered++
			} else if t.Status >= 400 {
				errs++
			}
		}
		if p := c.TCPKeepaliveProbes.Client + c.TCPKeepaliveProbes.Server; p > 0 {
			probes += p
			probeConns++
		}
		if !c.SynSeen {
			guessed++
		}
	}
	s := fmt.Sprintf("%s on %s: %.2f per connection (max %d)", htmlCount(tx, "transaction", "transactions"), htmlCount(n, "connection", "connections"), float64(tx)/float64(n), maxTx)
	if single > 0 {
		s += fmt.Sprintf("; %s a single request", htmlCount(single, "connection carried", "connections carried"))
	}
	out = append(out, s+".")
	if errs > 0 || unanswered > 0 {
		var parts []string
		if errs > 0 {
			parts = append(parts, htmlCount(errs, "response had a 4xx/5xx status", "responses had a 4xx/5xx status"))
		}
		if unanswered > 0 {
			parts = append(parts, htmlCount(unanswered, "request got no response", "requests got no response"))
		}
		out = append(out, htmlCapitalize(strings.Join(parts, "; ")+"."))
	}
	if pipelined > 0 {
		out = append(out, htmlCount(pipelined, "request was", "requests were")+" pipelined (sent before the previous response ended).")
	}
	var twc, tws, twb int
	peakHost, peak := "", 0
	for _, hs := range r.timeWaitHosts() {
		if hs.peak > peak {
			peak, peakHost = hs.peak, hs.role+" "+hs.host
		}
	}
	for _, c := range r.conns {
		if c.TimeWait == nil {
			continue
		}
		switch c.TimeWait.Holder {
		case httpflow.Client:
			twc++
		case httpflow.Server:
			tws++
		case httpflow.Both:
			twb++
		}
	}
	if twc+tws+twb > 0 {
		var parts []string
		if tws > 0 {
			parts = append(parts, fmt.Sprintf("by the server on %s", htmlCount(tws, "connection", "connections")))
		}
		if twc > 0 {
			parts = append(parts, fmt.Sprintf("by the client on %s", htmlCount(twc, "connection", "connections")))
		}
		if twb > 0 {
			parts = append(parts, fmt.Sprintf("by both (simultaneous close) on %s", htmlCount(twb, "connection", "connections")))
		}
		s := "TIME_WAIT was held " + strings.Join(parts, " and ")
		if peak > 0 {
			s += fmt.Sprintf("; at most %d at once on %s", peak, peakHost)
		}
		out = append(out, s+".")
	}
	if probeConns > 0 {
		out = append(out, fmt.Sprintf("%s TCP keep-alive probes (%d in all); they do not end an idle period.", htmlCount(probeConns, "connection carried", "connections carried"), probes))
	}
	if guessed > 0 {
		out = append(out, fmt.Sprintf("%s before the capture (no SYN seen).", htmlCount(guessed, "connection started", "connections started")))
	}
	return out
}

func htmlCapitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// ---------------------------------------------------------------- timeline

// pickTimeline chooses the connections the timeline draws: all of them up to
// htmlTimelineMax, else the most telling (keep-alive races, resets, 4xx/5xx
// or unanswered, the longest) and an even sample of the rest.
func (r *htmlReport) pickTimeline() {
	defer r.pickRowTxMax()
	n := len(r.conns)
	r.drawSet = map[int]bool{}
	if n <= htmlTimelineMax {
		for i := range r.conns {
			r.drawSet[i] = true
		}
	} else {
		budget := htmlTimelineMax
		take := func(idx []int, limit int) {
			limit = min(limit, budget)
			if len(idx) > limit {
				idx = htmlEvenSample(idx, limit)
			}
			for _, i := range idx {
				if !r.drawSet[i] {
					r.drawSet[i] = true
					budget--
				}
			}
		}
		var races, resets, errs []int
		for i, c := range r.conns {
			switch {
			case htmlIsRace(c):
				races = append(races, i)
			case htmlIsReset(c):
				resets = append(resets, i)
			case htmlHasError(c):
				errs = append(errs, i)
			}
		}
		take(races, htmlTimelineMax/4)
		take(resets, htmlTimelineMax/5)
		take(errs, htmlTimelineMax/5)
		longest := make([]int, n)
		for i := range longest {
			longest[i] = i
		}
		sort.SliceStable(longest, func(a, b int) bool {
			return htmlDuration(r.conns[longest[a]]) > htmlDuration(r.conns[longest[b]])
		})
		var top []int
		for _, i := range longest {
			if len(top) >= htmlTimelineMax/10 {
				break
			}
			if !r.drawSet[i] {
				top = append(top, i)
			}
		}
		take(top, len(top))
		var rest []int
		for i := range r.conns {
			if !r.drawSet[i] {
				rest = append(rest, i)
			}
		}
		take(rest, budget)
	}
	for i := range r.conns {
		if r.drawSet[i] {
			r.drawn = append(r.drawn, i)
		}
	}
	sort.SliceStable(r.drawn, func(a, b int) bool {
		ca, cb := r.conns[r.drawn[a]], r.conns[r.drawn[b]]
		if !ca.FirstPacketAt.Equal(cb.FirstPacketAt) {
			return ca.FirstPacketAt.Before(cb.FirstPacketAt)
		}
		return ca.ID < cb.ID
	})
}

// pickRowTxMax sets how many transactions a long connection's row draws:
// htmlRowTxMax, or fewer (down to htmlRowTxMin) when the drawn rows would
// hold more than htmlTimelineTxs transactions in all.
func (r *htmlReport) pickRowTxMax() {
	r.rowTxMax = htmlRowTxMax
	for r.rowTxMax > htmlRowTxMin {
		total := 0
		for _, i := range r.drawn {
			total += min(len(r.conns[i].Transactions), r.rowTxMax)
		}
		if total <= htmlTimelineTxs {
			break
		}
		r.rowTxMax = max(htmlRowTxMin, r.rowTxMax*3/4) &^ 1
	}
}

// htmlEvenSample keeps k of idx, evenly spaced, in order.
func htmlEvenSample(idx []int, k int) []int {
	if k <= 0 {
		return nil
	}
	out := make([]int, 0, k)
	for j := 0; j < k; j++ {
		out = append(out, idx[j*len(idx)/k])
	}
	return out
}

func (r *htmlReport) timelineNote() string {
	n := len(r.conns)
	elided := ""
	if r.elided > 0 {
		elided = fmt.Sprintf(" Rows of connections with more than %d requests show the first and the last %d; %d transactions in between are not drawn.",
			r.rowTxMax, r.rowTxMax/2, r.elided)
	}
	if len(r.drawn) == n {
		return strings.TrimSpace(elided)
	}
	var races, resets, errs int
	for _, i := range r.drawn {
		c := r.conns[i]
		switch {
		case htmlIsRace(c):
			races++
		case htmlIsReset(c):
			resets++
		case htmlHasError(c):
			errs++
		}
	}
	return fmt.Sprintf("%d of %d connections drawn (%d keep-alive races, %d resets, %d with 4xx/5xx or no response, the longest, and an even sample of the rest); %d connections are left out of the timeline but counted in every chart below.",
		len(r.drawn), n, races, resets, errs, n-len(r.drawn)) + elided
}

// Positions in a timeline row of the data block (see report.js).
func (r *htmlReport) timelineRow(c *httpflow.Connection) []any {
	cl := &c.Close
	var twH int
	var twIn, twOut any
	if tw := c.TimeWait; tw != nil {
		h := tw.Holder
		twH, twIn, twOut = htmlSideCode(h), r.at(tw.EnteredAt), r.at(tw.ExpiresAt)
	}
	var syn, ack any
	if h := c.Handshake; h != nil {
		syn = r.at(h.SynAt)
		ack = r.at(h.AckAt)
		if ack == nil {
			ack = r.at(h.SynAckAt)
		}
	}
	var ka any
	if t := c.KeepAlive.AdvertisedTimeout; t != nil {
		ka = htmlNum(*t)
	}
	// A connection with thousands of requests (a load generator's) shows
	// its first and last rowTxMax/2 transactions: the report stays small
	// and quick, and the row still shows how the connection began and ended.
	n, k := len(c.Transactions), r.rowTxMax
	drawn := func(index int) bool { return n <= k || index <= k/2 || index > n-k/2 }
	if n > k {
		r.elided += n - k
	}
	txs := make([]any, 0, min(n, k))
	var lastRespEnd time.Time
	for i := range c.Transactions {
		t := &c.Transactions[i]
		if t.ResponseEndAt.After(lastRespEnd) {
			lastRespEnd = t.ResponseEndAt
		}
		if !drawn(t.Index) {
			continue
		}
		var status any
		if t.Status != 0 {
			status = t.Status
		}
		flags := 0
		if t.Pipelined {
			flags |= 1
		}
		if t.Complete {
			flags |= 2
		}
		if t.Tunnel {
			flags |= 4
		}
		txs = append(txs, []any{r.at(t.RequestStartAt), r.at(t.RequestEndAt), r.at(t.ResponseStartAt), r.at(t.ResponseEndAt),
			r.str(t.Method), r.str(t.URI), status, flags, t.RequestBytes, t.ResponseBytes, t.Index})
	}
	idles := make([]any, 0, min(len(c.IdlePeriods), k))
	for _, p := range c.IdlePeriods {
		if drawn(p.AfterTransaction) && drawn(p.AfterTransaction+1) {
			idles = append(idles, []any{r.at(p.StartAt), r.at(p.EndAt), p.AfterTransaction})
		}
	}
	var final any
	if f := c.FinalIdle; f != nil {
		final = []any{r.at(f.StartAt), r.at(f.EndAt), f.AfterTransaction}
	}
	// A connection with neither FIN nor RST is drawn open to the end.
	var open any
	if cl.FirstFinAt.IsZero() && cl.RstAt.IsZero() {
		from := lastRespEnd
		if from.IsZero() && c.Handshake != nil {
			from = c.Handshake.AckAt
		}
		if from.IsZero() {
			from = c.FirstPacketAt
		}
		if !from.IsZero() {
			open = htmlNum(r.ms(from))
		}
	}
	flags := 0
	if !c.SynSeen {
		flags |= 1
	}
	if c.ClientGuessed {
		flags |= 2
	}
	return []any{
		c.ID, r.str(c.Client.String()), r.str(c.Server.String()), r.at(c.FirstPacketAt), r.at(c.LastPacketAt),
		r.str(cl.Reason.String()), r.str(cl.Evidence), htmlSideCode(cl.FirstFinBy), r.at(cl.FirstFinAt),
		htmlSideCode(cl.RstBy), r.at(cl.RstAt), twH, twIn, twOut, syn, ack,
		c.TCPKeepaliveProbes.Client, c.TCPKeepaliveProbes.Server, ka, r.str(strings.Join(c.Anomalies, ", ")),
		txs, idles, final, htmlReasonRank(cl.Reason), open, flags,
	}
}

func (r *htmlReport) timelineChart(data map[string]any) template.HTML {
	rows := make([]any, 0, len(r.drawn))
	for _, i := range r.drawn {
		rows = append(rows, r.timelineRow(r.conns[i]))
	}
	data["tl"] = map[string]any{"rows": rows, "total": len(r.conns)}
	if len(r.drawn) == 0 {
		return ""
	}
	n := len(r.drawn)
	const visible = 36
	height := min(max(n, 4), visible)*22 + 110
	// The initial view covers the capture; TIME_WAIT tails run past it.
	xEnd := float32(htmlPercent(r.end, r.xmax))
	zoom := []opts.DataZoom{
		{Type: "inside", XAxisIndex: 0, FilterMode: "weakFilter", Start: 0, End: xEnd},
		{Type: "slider", XAxisIndex: 0, FilterMode: "weakFilter", Start: 0, End: xEnd},
	}
	if n > visible {
		end := float32(100 * float64(visible) / float64(n))
		zoom = append(zoom,
			opts.DataZoom{Type: "inside", YAxisIndex: 0, FilterMode: "filter", Start: 0, End: end},
			opts.DataZoom{Type: "slider", YAxisIndex: 0, FilterMode: "filter", Start: 0, End: end, Orient: "vertical"})
	}
	c := charts.NewCustom()
	c.SetGlobalOptions(
		htmlInit("hl_timeline", height),
		charts.WithAnimation(false),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "item", Formatter: opts.FuncOpts("function (p) { return HL.tlTip(p); }")}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		charts.WithGridOpts(opts.Grid{Left: "180", Right: htmlIf(n > visible, "64", "24"), Top: "8", Bottom: "72"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Min: 0, Max: htmlNum(r.xmax), Name: "time since capture start",
			NameLocation: "middle", NameGap: 28,
			AxisLabel: &opts.AxisLabel{Formatter: opts.FuncOpts("function (v) { return HL.fmtAxis(v); }")},
			SplitLine: &opts.SplitLine{Show: opts.Bool(true), LineStyle: &opts.LineStyle{Color: "#eef0f3"}}}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Inverse: opts.Bool(true),
			AxisLabel: &opts.AxisLabel{Width: 168, Overflow: "truncate", FontSize: 11, Interval: "auto"},
			SplitLine: &opts.SplitLine{Show: opts.Bool(false)}}),
		charts.WithDataZoomOpts(zoom...),
	)
	c.AddSeries("connections", []opts.CustomData{},
		charts.WithCustomChartOpts(opts.CustomChart{RenderItem: opts.FuncOpts("function (p, api) { return HL.tlItem(p, api); }")}),
		charts.WithEncodeOpts(opts.Encode{X: []int{1, 2}, Y: 0}))
	c.AddJSFuncStrs(opts.FuncOpts(`HL.init("timeline", %MY_ECHARTS%);`))
	return htmlSnippet(c)
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

// htmlInit sets the chart id (fixed, for byte-identical output) and size.
func htmlInit(id string, height int) charts.GlobalOpts {
	return charts.WithInitializationOpts(opts.Initialization{ChartID: id, Width: "100%", Height: strconv.Itoa(height) + "px", Renderer: "canvas", Theme: "white"})
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

// ---------------------------------------------------------------- idle histograms

type htmlBins struct {
	width  float64
	n      int  // regular bins
	over   bool // plus one bin for everything >= n*width
	labels []string
	ranges []string
	prec   int
}

func htmlMakeBins(values []float64, marks []float64) htmlBins {
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	upper := 0.0
	if len(s) > 0 {
		upper = s[len(s)-1]
		if len(s) >= 200 {
			upper = s[int(math.Ceil(0.99*float64(len(s))))-1] * 1.05
		}
	}
	for _, m := range marks {
		upper = math.Max(upper, m*1.1)
	}
	if upper <= 0 {
		upper = 1
	}
	width := 1e-6
	for exp := -6; exp <= 6; exp++ {
		found := false
		for _, m := range []float64{1, 2, 5} {
			w := m * math.Pow(10, float64(exp))
			if upper/w <= 40 {
				width, found = w, true
				break
			}
		}
		if found {
			break
		}
	}
	b := htmlBins{width: width, n: int(math.Floor(upper/width)) + 1}
	b.prec = max(0, int(math.Ceil(-math.Log10(width)-1e-9)))
	if len(s) > 0 && s[len(s)-1] >= float64(b.n)*width {
		b.over = true
	}
	for i := 0; i < b.n; i++ {
		lo, hi := float64(i)*width, float64(i+1)*width
		b.labels = append(b.labels, strconv.FormatFloat(lo, 'f', b.prec, 64))
		b.ranges = append(b.ranges, strconv.FormatFloat(lo, 'f', b.prec, 64)+"–"+strconv.FormatFloat(hi, 'f', b.prec, 64)+" s")
	}
	if b.over {
		lo := strconv.FormatFloat(float64(b.n)*width, 'f', b.prec, 64)
		b.labels = append(b.labels, "≥"+lo)
		b.ranges = append(b.ranges, "≥ "+lo+" s")
	}
	return b
}

func (b *htmlBins) index(v float64) int {
	i := int(math.Floor(v/b.width + 1e-9))
	if i < 0 {
		i = 0
	}
	if i >= b.n {
		if b.over {
			return b.n
		}
		return b.n - 1
	}
	return i
}

func (b *htmlBins) label(v float64) string { return b.labels[b.index(v)] }

func (r *htmlReport) idleCharts(data map[string]any) (gapsChart, finalChart template.HTML, note string) {
	var gaps, finals []float64
	var timeouts []float64
	seen := map[float64]bool{}
	for _, c := range r.conns {
		for _, p := range c.IdlePeriods {
			gaps = append(gaps, p.Duration.Seconds())
		}
		if c.FinalIdle != nil {
			finals = append(finals, c.FinalIdle.Duration.Seconds())
		}
		if t := c.KeepAlive.AdvertisedTimeout; t != nil && !seen[*t] && *t > 0 {
			seen[*t] = true
			timeouts = append(timeouts, *t)
		}
	}
	sort.Float64s(timeouts)
	b := htmlMakeBins(append(append([]float64(nil), gaps...), finals...), timeouts)
	data["hist"] = map[string]any{"ranges": b.ranges}
	nb := len(b.labels)
	gapCount := make([]int, nb)
	for _, v := range gaps {
		gapCount[b.index(v)]++
	}
	// Final idle split by who closed.
	series := []struct {
		name, color string
		count       []int
	}{
		{"server FIN", htmlServer, make([]int, nb)},
		{"client FIN", htmlClient, make([]int, nb)},
		{"both FIN", htmlBoth, make([]int, nb)},
		{"RST", htmlRST, make([]int, nb)},
	}
	for _, c := range r.conns {
		if c.FinalIdle == nil {
			continue
		}
		i := b.index(c.FinalIdle.Duration.Seconds())
		switch side, kind := htmlCloser(c); {
		case kind == "RST":
			series[3].count[i]++
		case side == "client":
			series[1].count[i]++
		case side == "both":
			series[2].count[i]++
		default:
			series[0].count[i]++
		}
	}
	var marks []opts.MarkLineNameXAxisItem
	for _, t := range timeouts {
		marks = append(marks, opts.MarkLineNameXAxisItem{Name: "timeout=" + strconv.FormatFloat(t, 'f', -1, 64) + " s", XAxis: b.label(t)})
	}
	markStyle := opts.MarkLineStyle{Symbol: []string{"none", "none"},
		Label:     &opts.Label{Show: opts.Bool(true), Formatter: "{b}", Color: "#5b2a86", FontSize: 11},
		LineStyle: &opts.LineStyle{Color: "#8e6bbf", Width: 1.5, Type: "dashed"}}
	mk := func(id string, stack bool) *charts.Bar {
		bar := charts.NewBar()
		bar.SetGlobalOptions(
			htmlInit(id, 300),
			charts.WithAnimation(false),
			charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis", Formatter: opts.FuncOpts("function (p) { return HL.histTip(p); }")}),
			charts.WithLegendOpts(opts.Legend{Show: opts.Bool(stack), Top: "0", Right: "8"}),
			charts.WithGridOpts(opts.Grid{Left: "48", Right: "16", Top: "36", Bottom: "48"}),
			charts.WithXAxisOpts(opts.XAxis{Type: "category", Name: "seconds", NameLocation: "middle", NameGap: 28}),
			charts.WithYAxisOpts(opts.YAxis{Type: "value", MinInterval: 1, Name: htmlIf(stack, "connections", "gaps"),
				SplitLine: &opts.SplitLine{Show: opts.Bool(true), LineStyle: &opts.LineStyle{Color: "#eef0f3"}}}),
		)
		bar.SetXAxis(b.labels)
		return bar
	}
	g := mk("hl_idle_gaps", false)
	gopts := []charts.SeriesOpts{charts.WithItemStyleOpts(opts.ItemStyle{Color: htmlIdle}), charts.WithBarChartOpts(opts.BarChart{BarCategoryGap: "10%"})}
	if len(marks) > 0 {
		gopts = append(gopts, charts.WithMarkLineNameXAxisItemOpts(marks...), charts.WithMarkLineStyleOpts(markStyle))
	}
	g.AddSeries("idle gaps", htmlBarData(gapCount), gopts...)
	g.AddJSFuncStrs(opts.FuncOpts(`HL.init("idle_gaps", %MY_ECHARTS%);`))
	f := mk("hl_final_idle", true)
	for i, s := range series {
		if i > 0 && !slices.ContainsFunc(s.count, func(n int) bool { return n > 0 }) {
			continue // keep the legend to what occurred
		}
		so := []charts.SeriesOpts{charts.WithItemStyleOpts(opts.ItemStyle{Color: s.color}), charts.WithBarChartOpts(opts.BarChart{Stack: "closer", BarCategoryGap: "10%"})}
		if i == 0 && len(marks) > 0 {
			so = append(so, charts.WithMarkLineNameXAxisItemOpts(marks...), charts.WithMarkLineStyleOpts(markStyle))
		}
		f.AddSeries(s.name, htmlBarData(s.count), so...)
	}
	f.AddJSFuncStrs(opts.FuncOpts(`HL.init("final_idle", %MY_ECHARTS%);`))
	note = fmt.Sprintf("%d idle gaps between requests, %d final idle periods; bins of %s.", len(gaps), len(finals), htmlSecs(b.width))
	if len(timeouts) > 0 {
		var parts []string
		for _, t := range timeouts {
			parts = append(parts, strconv.FormatFloat(t, 'f', -1, 64)+" s")
		}
		note += " Dashed lines: Keep-Alive timeout advertised by the server (" + strings.Join(parts, ", ") + ")."
	}
	return htmlSnippet(g), htmlSnippet(f), note
}

func htmlBarData(v []int) []opts.BarData {
	out := make([]opts.BarData, len(v))
	for i, x := range v {
		out[i] = opts.BarData{Value: x}
	}
	return out
}

// ---------------------------------------------------------------- who closed

func (r *htmlReport) closeCharts() (reasons, sides template.HTML) {
	type key struct {
		reason httpflow.Reason
		closer string
	}
	counts := map[key]int{}
	byReason := map[httpflow.Reason]int{}
	for _, c := range r.conns {
		side, kind := htmlCloser(c)
		closer := "none"
		if side != "" {
			closer = side + " " + kind
		}
		counts[key{c.Close.Reason, closer}]++
		byReason[c.Close.Reason]++
	}
	var names []httpflow.Reason
	for k := range byReason {
		names = append(names, k)
	}
	slices.Sort(names)
	labels := make([]string, len(names))
	for i, n := range names {
		labels[i] = htmlChartLabel(n.String())
		if n == 0 {
			labels[i] = "(none)"
		}
	}
	closers := []struct{ key, name, color string }{
		{"server FIN", "server FIN", htmlServer},
		{"client FIN", "client FIN", htmlClient},
		{"both FIN", "simultaneous FIN", htmlBoth},
		{"server RST", "server RST", "#a61b1b"},
		{"client RST", "client RST", htmlRST},
		{"none", "no FIN/RST", htmlNeutral},
	}
	height := max(220, 60+36*len(names))
	bar := charts.NewBar()
	bar.SetGlobalOptions(
		htmlInit("hl_reasons", height),
		charts.WithAnimation(false),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis", AxisPointer: &opts.AxisPointer{Type: "shadow"}}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "0"}),
		charts.WithGridOpts(opts.Grid{Left: "150", Right: "24", Top: "56", Bottom: "28"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", MinInterval: 1,
			SplitLine: &opts.SplitLine{Show: opts.Bool(true), LineStyle: &opts.LineStyle{Color: "#eef0f3"}}}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Data: labels, Inverse: opts.Bool(true),
			AxisLabel: &opts.AxisLabel{Width: 140, Overflow: "truncate"}}),
	)
	for _, cl := range closers {
		v := make([]int, len(names))
		nonzero := false
		for i, n := range names {
			v[i] = counts[key{n, cl.key}]
			nonzero = nonzero || v[i] > 0
		}
		if !nonzero {
			continue
		}
		bar.AddSeries(cl.name, htmlBarData(v), charts.WithItemStyleOpts(opts.ItemStyle{Color: cl.color}),
			charts.WithBarChartOpts(opts.BarChart{Stack: "closer", BarCategoryGap: "30%"}),
			charts.WithLabelOpts(opts.Label{Show: opts.Bool(true), Position: "inside", Color: "#fff", FontSize: 11, Formatter: opts.FuncOpts("function (p) { return p.value > 0 ? p.value : ''; }")}))
	}
	bar.AddJSFuncStrs(opts.FuncOpts(`HL.init("reasons", %MY_ECHARTS%);`))

	// Who closed first, by side.
	var sc, ss, sb, rc, rs, open int
	for _, c := range r.conns {
		switch side, kind := htmlCloser(c); {
		case kind == "RST" && side == "client":
			rc++
		case kind == "RST":
			rs++
		case side == "client":
			sc++
		case side == "server":
			ss++
		case side == "both":
			sb++
		default:
			open++
		}
	}
	pie := charts.NewPie()
	pie.SetGlobalOptions(
		htmlInit("hl_sides", height),
		charts.WithAnimation(false),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "item", Formatter: "{b}: {c} ({d}%)"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Bottom: "0"}),
	)
	var pd []opts.PieData
	for _, x := range []struct {
		name  string
		n     int
		color string
	}{{"server FIN", ss, htmlServer}, {"client FIN", sc, htmlClient}, {"simultaneous FIN", sb, htmlBoth}, {"server RST", rs, "#a61b1b"}, {"client RST", rc, htmlRST}, {"still open", open, htmlNeutral}} {
		if x.n > 0 {
			pd = append(pd, opts.PieData{Name: x.name, Value: x.n, ItemStyle: &opts.ItemStyle{Color: x.color}})
		}
	}
	pie.AddSeries("first to close", pd,
		charts.WithPieChartOpts(opts.PieChart{Radius: []string{"40%", "64%"}, Center: []string{"50%", "46%"}}),
		charts.WithLabelOpts(opts.Label{Show: opts.Bool(true), FontSize: 11,
			Formatter: opts.FuncOpts("function (p) { return p.percent >= 4 ? p.name + ': ' + p.value : ''; }")}),
		charts.WithLabelLayoutOpts(opts.LabelLayout{HideOverlap: opts.Bool(true)}))
	pie.AddJSFuncStrs(opts.FuncOpts(`HL.init("sides", %MY_ECHARTS%);`))
	return htmlSnippet(bar), htmlSnippet(pie)
}

// ---------------------------------------------------------------- requests per connection

func (r *htmlReport) perConnChart() (template.HTML, string) {
	maxTx, tx := 0, 0
	for _, c := range r.conns {
		maxTx = max(maxTx, len(c.Transactions))
		tx += len(c.Transactions)
	}
	const cap = 30
	nb := min(maxTx, cap) + 1
	over := maxTx > cap
	if over {
		nb++
	}
	counts := make([]int, nb)
	labels := make([]string, nb)
	for i := range labels {
		labels[i] = strconv.Itoa(i)
	}
	if over {
		labels[nb-1] = "≥" + strconv.Itoa(cap+1)
	}
	for _, c := range r.conns {
		counts[min(len(c.Transactions), nb-1)]++
	}
	bar := charts.NewBar()
	bar.SetGlobalOptions(
		htmlInit("hl_per_conn", 300),
		charts.WithAnimation(false),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis", Formatter: opts.FuncOpts("function (p) { return HL.perConnTip(p); }")}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		charts.WithGridOpts(opts.Grid{Left: "48", Right: "16", Top: "24", Bottom: "48"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Name: "requests on the connection", NameLocation: "middle", NameGap: 28}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", MinInterval: 1, Name: "connections",
			SplitLine: &opts.SplitLine{Show: opts.Bool(true), LineStyle: &opts.LineStyle{Color: "#eef0f3"}}}),
	)
	bar.SetXAxis(labels)
	bar.AddSeries("connections", htmlBarData(counts), charts.WithItemStyleOpts(opts.ItemStyle{Color: htmlClient}),
		charts.WithBarChartOpts(opts.BarChart{BarCategoryGap: "20%"}))
	bar.AddJSFuncStrs(opts.FuncOpts(`HL.init("per_conn", %MY_ECHARTS%);`))
	note := "No connections."
	if len(r.conns) > 0 {
		note = fmt.Sprintf("Reuse ratio %.2f: %d transactions on %d connections.", float64(tx)/float64(len(r.conns)), tx, len(r.conns))
	}
	return htmlSnippet(bar), note
}

// ---------------------------------------------------------------- over time

type htmlInterval struct{ from, to float64 }

// htmlSteps turns intervals into a step series (value from each point on)
// from 0 to xmax; with too many points it keeps the peak per bucket.
func htmlSteps(iv []htmlInterval, xmax float64) (pts [][2]htmlNum, bucketed bool) {
	type ev struct {
		t float64
		d int
	}
	evs := make([]ev, 0, 2*len(iv))
	for _, i := range iv {
		if i.to < i.from {
			continue
		}
		evs = append(evs, ev{i.from, 1}, ev{i.to, -1})
	}
	sort.Slice(evs, func(a, b int) bool {
		if evs[a].t != evs[b].t {
			return evs[a].t < evs[b].t
		}
		return evs[a].d < evs[b].d
	})
	type pt struct {
		t float64
		v int
	}
	raw := []pt{{0, 0}}
	v := 0
	for i := 0; i < len(evs); {
		t := evs[i].t
		for i < len(evs) && evs[i].t == t {
			v += evs[i].d
			i++
		}
		if raw[len(raw)-1].t == t {
			raw[len(raw)-1].v = v
		} else {
			raw = append(raw, pt{t, v})
		}
	}
	if xmax > raw[len(raw)-1].t {
		raw = append(raw, pt{xmax, v})
	}
	if len(raw) <= htmlStepMax {
		for _, p := range raw {
			pts = append(pts, [2]htmlNum{htmlNum(p.t), htmlNum(p.v)})
		}
		return pts, false
	}
	width := xmax / htmlStepBuckets
	j := 0
	cur := 0
	for b := 0; b < htmlStepBuckets; b++ {
		lo, hi := float64(b)*width, float64(b+1)*width
		peak := cur
		for j < len(raw) && raw[j].t < hi {
			cur = raw[j].v
			peak = max(peak, cur)
			j++
		}
		pts = append(pts, [2]htmlNum{htmlNum(math.Round(lo*1000) / 1000), htmlNum(peak)})
	}
	pts = append(pts, [2]htmlNum{htmlNum(xmax), htmlNum(cur)})
	return pts, true
}

// htmlMerge returns the union of iv as disjoint intervals in order.
func htmlMerge(iv []htmlInterval) []htmlInterval {
	if len(iv) < 2 {
		return iv
	}
	s := append([]htmlInterval(nil), iv...)
	sort.Slice(s, func(a, b int) bool { return s[a].from < s[b].from })
	out := s[:1]
	for _, x := range s[1:] {
		if last := &out[len(out)-1]; x.from <= last.to {
			last.to = math.Max(last.to, x.to)
		} else {
			out = append(out, x)
		}
	}
	return out
}

type htmlHostTW struct {
	role, host string
	iv         []htmlInterval
	peak       int
}

// timeWaitHosts groups TIME_WAIT periods by holder host, servers first.
func (r *htmlReport) timeWaitHosts() []*htmlHostTW {
	m := map[[2]string]*htmlHostTW{}
	add := func(role string, endpoint netip.AddrPort, iv htmlInterval) {
		k := [2]string{role, htmlHost(endpoint)}
		h := m[k]
		if h == nil {
			h = &htmlHostTW{role: role, host: k[1]}
			m[k] = h
		}
		h.iv = append(h.iv, iv)
	}
	for _, c := range r.conns {
		tw := c.TimeWait
		if tw == nil || tw.EnteredAt.IsZero() {
			continue
		}
		iv := htmlInterval{r.ms(tw.EnteredAt), r.ms(tw.ExpiresAt)}
		if tw.ExpiresAt.IsZero() {
			iv.to = r.xmax
		}
		switch tw.Holder {
		case httpflow.Server:
			add("server", c.Server, iv)
		case httpflow.Client:
			add("client", c.Client, iv)
		case httpflow.Both:
			add("server", c.Server, iv)
			add("client", c.Client, iv)
		}
	}
	out := make([]*htmlHostTW, 0, len(m))
	for _, h := range m {
		pts, _ := htmlSteps(h.iv, r.xmax)
		for _, p := range pts {
			h.peak = max(h.peak, int(p[1]))
		}
		out = append(out, h)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].role != out[b].role {
			return out[a].role == "server"
		}
		if out[a].peak != out[b].peak {
			return out[a].peak > out[b].peak
		}
		return out[a].host < out[b].host
	})
	return out
}

func (r *htmlReport) overTimeCharts() (overTime, timeWait template.HTML, otNote, twNote string) {
	var open, idle []htmlInterval
	for _, c := range r.conns {
		from := r.ms(c.FirstPacketAt)
		to := r.end
		cl := &c.Close
		if !cl.FirstFinAt.IsZero() {
			to = r.ms(cl.FirstFinAt)
		}
		if !cl.RstAt.IsZero() {
			to = math.Min(to, r.ms(cl.RstAt))
		}
		open = append(open, htmlInterval{from, to})
		// Idle periods and the final idle can overlap (a keep-alive race):
		// count their union, within the open interval.
		var ci []htmlInterval
		for _, p := range c.IdlePeriods {
			ci = append(ci, htmlInterval{r.ms(p.StartAt), r.ms(p.EndAt)})
		}
		if f := c.FinalIdle; f != nil {
			ci = append(ci, htmlInterval{r.ms(f.StartAt), r.ms(f.EndAt)})
		} else if cl.FirstFinAt.IsZero() && cl.RstAt.IsZero() {
			var last time.Time
			for i := range c.Transactions {
				if t := c.Transactions[i].ResponseEndAt; t.After(last) {
					last = t
				}
			}
			if !last.IsZero() {
				ci = append(ci, htmlInterval{r.ms(last), r.end})
			}
		}
		for _, iv := range htmlMerge(ci) {
			iv.from, iv.to = math.Max(iv.from, from), math.Min(iv.to, to)
			if iv.to > iv.from {
				idle = append(idle, iv)
			}
		}
	}
	axisEnd := math.Max(r.end, 1)
	openPts, b1 := htmlSteps(open, axisEnd)
	idlePts, b2 := htmlSteps(idle, axisEnd)
	line := func(id string, height int, xmax float64, name string) *charts.Line {
		l := charts.NewLine()
		l.SetGlobalOptions(
			htmlInit(id, height),
			charts.WithAnimation(false),
			charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis", Formatter: opts.FuncOpts("function (p) { return HL.timeTip(p); }")}),
			charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Type: "scroll", Top: "0"}),
			charts.WithGridOpts(opts.Grid{Left: "48", Right: "24", Top: "40", Bottom: "72"}),
			charts.WithXAxisOpts(opts.XAxis{Type: "value", Min: 0, Max: htmlNum(xmax), Name: "time since capture start", NameLocation: "middle", NameGap: 28,
				AxisLabel: &opts.AxisLabel{Formatter: opts.FuncOpts("function (v) { return HL.fmtAxis(v); }")}}),
			charts.WithYAxisOpts(opts.YAxis{Type: "value", MinInterval: 1, Name: name,
				SplitLine: &opts.SplitLine{Show: opts.Bool(true), LineStyle: &opts.LineStyle{Color: "#eef0f3"}}}),
			charts.WithDataZoomOpts(opts.DataZoom{Type: "inside", XAxisIndex: 0, FilterMode: "none"},
				opts.DataZoom{Type: "slider", XAxisIndex: 0, FilterMode: "none", Start: 0, End: 100}),
		)
		return l
	}
	steps := func(pts [][2]htmlNum, color string, area bool, dashed bool) []charts.SeriesOpts {
		so := []charts.SeriesOpts{
			charts.WithLineChartOpts(opts.LineChart{Step: "end", ShowSymbol: opts.Bool(false), Symbol: "none"}),
			charts.WithItemStyleOpts(opts.ItemStyle{Color: color}),
			charts.WithLineStyleOpts(opts.LineStyle{Color: color, Width: 1.5, Type: htmlIf(dashed, "dashed", "solid")}),
			charts.WithSeriesOpts(func(s *charts.SingleSeries) { s.Data = pts }),
		}
		if area {
			so = append(so, charts.WithAreaStyleOpts(opts.AreaStyle{Color: color, Opacity: opts.Float(0.12)}))
		}
		return so
	}
	ot := line("hl_over_time", 300, axisEnd, "connections")
	ot.AddSeries("open (established)", nil, steps(openPts, "#4a5a6a", true, false)...)
	ot.AddSeries("idle (keep-alive, no request in flight)", nil, steps(idlePts, htmlFinalIdle, true, false)...)
	ot.AddJSFuncStrs(opts.FuncOpts(`HL.init("over_time", %MY_ECHARTS%);`))
	if b1 || b2 {
		otNote = fmt.Sprintf("Too many changes to draw each: the peak per %s is shown.", htmlSecs(axisEnd/htmlStepBuckets/1000))
	}

	hosts := r.timeWaitHosts()
	tw := line("hl_time_wait", 300, r.xmax, "")
	if r.end > 0 && r.xmax > r.end {
		twNote = "TIME_WAIT runs past the end of the capture (dotted line): the tail is projected with 2MSL = " + htmlSecs(r.doc.Options.TwoMSL.Seconds()) + "."
	}
	// Keep the busiest hosts per role; fold the others.
	var shown []*htmlHostTW
	other := map[string]*htmlHostTW{}
	perRole := map[string]int{}
	for _, h := range hosts {
		if perRole[h.role] < htmlHostSeries {
			perRole[h.role]++
			shown = append(shown, h)
			continue
		}
		o := other[h.role]
		if o == nil {
			o = &htmlHostTW{role: h.role, host: "other " + h.role + "s"}
			other[h.role] = o
		}
		o.iv = append(o.iv, h.iv...)
	}
	for _, role := range []string{"server", "client"} {
		if o := other[role]; o != nil {
			shown = append(shown, o)
		}
	}
	sort.SliceStable(shown, func(a, b int) bool { return shown[a].role == "server" && shown[b].role != "server" })
	serverColors := []string{"#e8741c", "#c4561a", "#f2a65a", "#a8460f", "#f7c08a", "#8a3a0c", "#d9a070"}
	clientColors := []string{"#2f6fd0", "#1d4f9e", "#6d9be3", "#173d78", "#9dbdf0", "#0f2c57", "#7f9fcf"}
	ns, nc := 0, 0
	for _, h := range shown {
		pts, bucketed := htmlSteps(h.iv, r.xmax)
		if bucketed && twNote == "" {
			twNote = "Peak per bucket shown."
		}
		var color string
		if h.role == "server" {
			color = serverColors[ns%len(serverColors)]
			ns++
		} else {
			color = clientColors[nc%len(clientColors)]
			nc++
		}
		name := h.host
		if !strings.HasPrefix(name, "other ") {
			name = h.role + " " + h.host
		}
		tw.AddSeries(htmlChartLabel(name), nil, steps(pts, color, false, h.role == "client")...)
	}
	if len(shown) > 0 && r.end > 0 && r.xmax > r.end {
		tw.MultiSeries[0].MarkLines = &opts.MarkLines{Data: []any{opts.MarkLineNameXAxisItem{Name: "capture end", XAxis: htmlNum(r.end)}}}
		tw.MultiSeries[0].MarkLineStyle = opts.MarkLineStyle{Symbol: []string{"none", "none"},
			Label:     &opts.Label{Show: opts.Bool(true), Formatter: "{b}", Color: "#555", FontSize: 11},
			LineStyle: &opts.LineStyle{Color: "#999", Type: "dotted", Width: 1}}
	}
	tw.AddJSFuncStrs(opts.FuncOpts(`HL.init("time_wait", %MY_ECHARTS%);`))
	if len(shown) == 0 {
		twNote = "No connection reached TIME_WAIT in the capture."
	}
	return htmlSnippet(ot), htmlSnippet(tw), otNote, twNote
}

// ---------------------------------------------------------------- table

func (r *htmlReport) table() ([]htmlRow, string) {
	idx := make([]int, 0, min(len(r.conns), htmlTableMax))
	note := ""
	if len(r.conns) <= htmlTableMax {
		for i := range r.conns {
			idx = append(idx, i)
		}
	} else {
		in := map[int]bool{}
		for _, i := range r.drawn {
			if len(idx) < htmlTableMax {
				in[i] = true
				idx = append(idx, i)
			}
		}
		for i := range r.conns {
			if len(idx) >= htmlTableMax {
				break
			}
			if !in[i] {
				idx = append(idx, i)
			}
		}
		sort.Ints(idx)
		note = fmt.Sprintf("%d of %d connections listed (those drawn in the timeline, then the lowest ids); the JSON output has them all.", len(idx), len(r.conns))
	}
	rows := make([]htmlRow, 0, len(idx))
	for _, i := range idx {
		c := r.conns[i]
		side, kind := htmlCloser(c)
		closer := "open"
		if side != "" {
			closer = side + " " + kind
		}
		closerSide := side
		if kind == "RST" {
			closerSide = "rst"
		}
		var st []string
		for j := range c.Transactions {
			if s := c.Transactions[j].Status; s != 0 {
				st = append(st, strconv.Itoa(s))
			} else {
				st = append(st, "–")
			}
		}
		statuses := strings.Join(htmlCompress(st), " ")
		rows = append(rows, htmlRow{
			ID: c.ID, Client: c.Client.String(), Server: c.Server.String(), Requests: len(c.Transactions), Statuses: statuses,
			Idle: htmlGaps(c.IdlePeriods), Final: htmlFinal(c.FinalIdle), Closer: closer, CloserSide: closerSide,
			Reason: c.Close.Reason.String(), ReasonCSS: htmlReasonClass(c.Close.Reason), Evidence: c.Close.Evidence,
		})
	}
	return rows, note
}

// htmlCompress turns "200 200 200 404" into "200×3 404".
func htmlCompress(v []string) []string {
	var out []string
	for i := 0; i < len(v); {
		j := i
		for j < len(v) && v[j] == v[i] {
			j++
		}
		if j-i > 1 {
			out = append(out, v[i]+"×"+strconv.Itoa(j-i))
		} else {
			out = append(out, v[i])
		}
		i = j
		if len(out) >= 6 && i < len(v) {
			out = append(out, "…")
			break
		}
	}
	return out
}

func htmlGaps(p []httpflow.Idle) string {
	if len(p) == 0 {
		return "–"
	}
	var parts []string
	for i, x := range p {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("… (+%d)", len(p)-5))
			break
		}
		parts = append(parts, strconv.FormatFloat(x.Duration.Seconds(), 'f', 3, 64))
	}
	return strings.Join(parts, ", ")
}

func htmlFinal(i *httpflow.Idle) string {
	if i == nil {
		return "–"
	}
	return strconv.FormatFloat(i.Duration.Seconds(), 'f', 3, 64)
}

func htmlReasonClass(reason httpflow.Reason) string {
	if reason >= httpflow.ReasonKeepaliveRace && reason <= httpflow.ReasonUnknown {
		return "r-" + reason.String()
	}
	return "r-other"
}
