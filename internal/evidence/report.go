package evidence

import (
	"bytes"
	"fmt"
	"html/template"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/summary"
	"github.com/httplife/httplife/render"
)

// incident is what the writer needs of an incident: the facts its report
// shows, taken from the record when it was emitted (the record is reused
// after), and its packets.
type incident struct {
	At             time.Time // the connection's last packet
	First          time.Time
	ID             int
	Why            string
	Client, Server netip.AddrPort
	CommunityID    string
	Reason         string
	Evidence       string
	Race           string
	Closer         string
	FinalIdle      string
	TimeWait       string
	Carried        string // VLANs and tunnels, in words
	TLS            string
	Anomalies      []string
	History        string
	Txs            []txRow
	MoreTxs        int // transactions not listed
	Idles          []string
	MoreIdles      int
	JSON           string
	Seen, Kept     int // packets of the connection seen, kept
	Pcap           string
	flow           *flow
}

type txRow struct {
	Index          int
	Method, URI    string
	Status         string
	Request        string // start time, relative to the first packet
	Response       string
	Framing        string
	Lost, Complete bool
}

// Caps on what a report lists of one connection.
const (
	reportTxs   = 40 // transactions: the first and the last half
	reportIdles = 20
	reportJSON  = 64 << 10
	reportURI   = 200
)

func rel(t, origin time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return "+" + summary.Secs(t.Sub(origin).Seconds())
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func newIncident(c *httpflow.Connection, why string, f *flow) *incident {
	inc := &incident{At: c.LastPacketAt, First: c.FirstPacketAt, ID: c.ID, Why: why, Client: c.Client, Server: c.Server,
		CommunityID: c.CommunityID, Reason: c.Close.Reason.String(), Evidence: c.Close.Evidence, Closer: summary.CloserWord(c),
		Anomalies: append([]string(nil), c.Anomalies...), History: c.History, Seen: f.seen, Kept: len(f.head) + len(f.ring), flow: f}
	if r := c.Close.Race; r != nil {
		inc.Race = fmt.Sprintf("%s: request %d (%s) after %s idle", r.Kind, r.Transaction, r.Method, summary.Secs(r.IdleBefore.Seconds()))
		if r.Idempotent {
			inc.Race += ", idempotent (a proxy may retry it)"
		} else {
			inc.Race += ", not idempotent (the error reaches the user)"
		}
	}
	if fi := c.FinalIdle; fi != nil {
		inc.FinalIdle = summary.Secs(fi.Duration.Seconds()) + " after transaction " + strconv.Itoa(fi.AfterTransaction)
	}
	if tw := c.TimeWait; tw != nil {
		inc.TimeWait = fmt.Sprintf("%s, from %s to %s", tw.Holder, rel(tw.EnteredAt, c.FirstPacketAt), rel(tw.ExpiresAt, c.FirstPacketAt))
	}
	var carried []string
	for _, v := range c.VLAN {
		carried = append(carried, "VLAN "+strconv.Itoa(int(v)))
	}
	for _, t := range c.Tunnel {
		s := t.Type
		if t.OuterSrc.IsValid() || t.OuterDst.IsValid() {
			s += " " + t.OuterSrc.String() + " → " + t.OuterDst.String()
		}
		if t.HasID {
			s += " id " + strconv.FormatUint(uint64(t.ID), 10)
		}
		carried = append(carried, s)
	}
	inc.Carried = strings.Join(carried, "; ")
	if t := c.TLS; t != nil {
		inc.TLS = strings.TrimSpace(t.Version + " " + t.SNI + " " + t.ALPN)
	}
	race := 0
	if c.Close.Race != nil {
		race = c.Close.Race.Transaction
	}
	row := func(t *httpflow.Transaction) txRow {
		r := txRow{Index: t.Index, Method: t.Method, URI: cut(t.URI, reportURI), Status: "–",
			Request: rel(t.RequestStartAt, c.FirstPacketAt), Response: rel(t.ResponseStartAt, c.FirstPacketAt),
			Framing: t.Framing.String(), Lost: t.Index == race, Complete: t.Complete}
		if t.Status != 0 {
			r.Status = strconv.Itoa(t.Status)
		}
		if t.Inferred {
			r.Method = "(TLS)"
		}
		return r
	}
	txs := c.Transactions
	if len(txs) > reportTxs {
		inc.MoreTxs = len(txs) - reportTxs
		for i := range txs[:reportTxs/2] {
			inc.Txs = append(inc.Txs, row(&txs[i]))
		}
		txs = txs[len(txs)-reportTxs/2:]
	}
	for i := range txs {
		inc.Txs = append(inc.Txs, row(&txs[i]))
	}
	for i, p := range c.IdlePeriods {
		if i == reportIdles {
			inc.MoreIdles = len(c.IdlePeriods) - reportIdles
			break
		}
		inc.Idles = append(inc.Idles, summary.Secs(p.Duration.Seconds()))
	}
	if b, err := new(render.LineEncoder).Append(nil, c); err == nil {
		inc.JSON = cut(string(b), reportJSON)
	}
	return inc
}

// page is a report: one incident, or a minute's shared file.
type page struct {
	Title     string
	Pcap      string
	Incidents []*incident
	More      int // incidents of the file not listed
	Full      int // incidents of the minute not kept: the file was full
}

var reportTemplate = template.Must(template.New("evidence").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:70em}
h1{font-size:1.3em} h2{font-size:1.1em;margin-top:1.6em;border-top:1px solid #ccc;padding-top:.6em}
table{border-collapse:collapse} td,th{padding:.15em .6em;text-align:left;vertical-align:top}
th{color:#555;font-weight:600} .facts th{width:11em} tr.lost td{color:#c22;font-weight:600}
code,pre{font:12px ui-monospace,monospace} pre{white-space:pre-wrap;word-break:break-all;background:#f4f4f4;padding:.5em}
</style></head><body>
<h1>{{.Title}}</h1>
<p>Packets: <a href="{{.Pcap}}">{{.Pcap}}</a> (raw IP, as decoded: TCP options and link layers are not kept). Analyse them again with <code>httplife analyse {{.Pcap}}</code>.</p>
{{range .Incidents}}
<h2>Connection {{.ID}}: {{.Why}}</h2>
<table class="facts">
<tr><th>client → server</th><td>{{.Client}} → {{.Server}}</td></tr>
<tr><th>community id</th><td><code>{{.CommunityID}}</code></td></tr>
<tr><th>first, last packet</th><td>{{.First.UTC.Format "2006-01-02 15:04:05.000000"}} UTC, {{.At.UTC.Format "15:04:05.000000"}}</td></tr>
<tr><th>close</th><td>{{.Reason}}, by {{.Closer}}: {{.Evidence}}</td></tr>
{{if .Race}}<tr><th>race</th><td>{{.Race}}</td></tr>{{end}}
{{if .FinalIdle}}<tr><th>final idle</th><td>{{.FinalIdle}}</td></tr>{{end}}
{{if .TimeWait}}<tr><th>TIME_WAIT</th><td>{{.TimeWait}}</td></tr>{{end}}
{{if .Anomalies}}<tr><th>anomalies</th><td>{{range $i, $a := .Anomalies}}{{if $i}}, {{end}}{{$a}}{{end}}</td></tr>{{end}}
{{if .Carried}}<tr><th>carried in</th><td>{{.Carried}}</td></tr>{{end}}
{{if .TLS}}<tr><th>TLS</th><td>{{.TLS}}</td></tr>{{end}}
<tr><th>TCP history</th><td><code>{{.History}}</code></td></tr>
<tr><th>packets</th><td>{{.Kept}} of {{.Seen}} in the pcap{{if lt .Kept .Seen}} (the first ones and the last ones){{end}}</td></tr>
{{if .Idles}}<tr><th>idle gaps</th><td>{{range $i, $d := .Idles}}{{if $i}}, {{end}}{{$d}}{{end}}{{if .MoreIdles}} and {{.MoreIdles}} more{{end}}</td></tr>{{end}}
</table>
{{if .Txs}}<table>
<tr><th>#</th><th>request</th><th>status</th><th>request at</th><th>response at</th><th>body</th></tr>
{{range .Txs}}<tr{{if .Lost}} class="lost"{{end}}><td>{{.Index}}</td><td>{{.Method}} {{.URI}}</td><td>{{.Status}}{{if .Lost}} (lost to the race){{end}}</td><td>{{.Request}}</td><td>{{.Response}}</td><td>{{.Framing}}</td></tr>
{{end}}</table>{{if .MoreTxs}}<p>… and {{.MoreTxs}} more transactions in the middle (in the record below).</p>{{end}}{{end}}
<details><summary>The record (JSON)</summary><pre>{{.JSON}}</pre></details>
{{end}}
{{if .More}}<p>… and {{.More}} more incidents in this file, not listed here.</p>{{end}}
{{if .Full}}<p>{{.Full}} more incidents of this minute are not in the file: it reached its size limit.</p>{{end}}
</body></html>
`))

func renderPage(p *page) ([]byte, error) {
	var b bytes.Buffer
	err := reportTemplate.Execute(&b, p)
	return b.Bytes(), err
}
