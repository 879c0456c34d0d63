package render

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"

	"github.com/httplife/httplife/internal/summary"
)

// The connection timeline: one row per drawn connection (the digest chose
// them: every one up to summary.TimelineMax, else the most telling and a
// sample), drawn by report.js from the rows of the data block.

// pickRowTxMax sets how many transactions a long connection's row draws:
// htmlRowTxMax, or fewer (down to htmlRowTxMin) when the drawn rows would
// hold more than htmlTimelineTxs transactions in all.
func (r *htmlReport) pickRowTxMax() {
	r.rowTxMax = htmlRowTxMax
	for r.rowTxMax > htmlRowTxMin {
		total := 0
		for _, row := range r.rep.Timeline {
			total += min(row.Total, r.rowTxMax)
		}
		if total <= htmlTimelineTxs {
			break
		}
		r.rowTxMax = max(htmlRowTxMin, r.rowTxMax*3/4) &^ 1
	}
}

func (r *htmlReport) timelineNote() string {
	n, drawn := r.rep.Connections, len(r.rep.Timeline)
	elided := ""
	if r.elided > 0 {
		elided = fmt.Sprintf(" Rows of connections with more than %d requests show the first and the last %d; %d transactions in between are not drawn.",
			r.rowTxMax, r.rowTxMax/2, r.elided)
	}
	if r.rep.TimelineAll {
		return strings.TrimSpace(elided)
	}
	return fmt.Sprintf("%d of %d connections drawn (%d keep-alive races, %d resets, %d with 4xx/5xx or no response, the longest, and an even sample of the rest); %d connections are left out of the timeline but counted in every chart below.",
		drawn, n, r.rep.DrawnRaces, r.rep.DrawnResets, r.rep.DrawnErrors, n-drawn) + elided
}

// Positions in a timeline row of the data block (see report.js).
func (r *htmlReport) timelineRow(row *summary.Row) []any {
	c := &row.Conn
	cl := &c.Close
	var twH int
	var twIn, twOut any
	if tw := c.TimeWait; tw != nil {
		twH, twIn, twOut = htmlSideCode(tw.Holder), r.at(tw.EnteredAt), r.at(tw.ExpiresAt)
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
	n, k := row.Total, r.rowTxMax
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
		c.ID, r.str(c.Client.String()), r.str(summary.ServerLabel(c)), r.at(c.FirstPacketAt), r.at(c.LastPacketAt),
		r.str(cl.Reason.String()), r.str(cl.Evidence), htmlSideCode(cl.FirstFinBy), r.at(cl.FirstFinAt),
		htmlSideCode(cl.RstBy), r.at(cl.RstAt), twH, twIn, twOut, syn, ack,
		c.TCPKeepaliveProbes.Client, c.TCPKeepaliveProbes.Server, ka, r.str(strings.Join(c.Anomalies, ", ")),
		txs, idles, final, int(cl.Reason), open, flags,
	}
}

func (r *htmlReport) timelineChart(data map[string]any) template.HTML {
	r.pickRowTxMax()
	rows := make([]any, 0, len(r.rep.Timeline))
	for i := range r.rep.Timeline {
		rows = append(rows, r.timelineRow(&r.rep.Timeline[i]))
	}
	data["tl"] = map[string]any{"rows": rows, "total": r.rep.Connections}
	n := len(r.rep.Timeline)
	if n == 0 {
		return ""
	}
	const visible = 36
	height := min(max(n, 4), visible)*22 + 110
	// The initial view covers the capture; TIME_WAIT tails run past it.
	xEnd := float32(htmlPercent(r.rep.End, r.rep.XMax))
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
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Min: 0, Max: htmlNum(r.rep.XMax), Name: "time since capture start",
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

// htmlInit sets the chart id (fixed, for byte-identical output) and size.
func htmlInit(id string, height int) charts.GlobalOpts {
	return charts.WithInitializationOpts(opts.Initialization{ChartID: id, Width: "100%", Height: strconv.Itoa(height) + "px", Renderer: "canvas", Theme: "white"})
}
