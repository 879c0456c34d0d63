package render

import (
	"fmt"
	"html/template"
	"sort"
	"strings"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"

	"github.com/httplife/httplife/internal/summary"
)

// Connections open and idle over time, and TIME_WAITs over time per host.

func htmlPoints(pts []summary.Point) [][2]htmlNum {
	out := make([][2]htmlNum, len(pts))
	for i, p := range pts {
		out[i] = [2]htmlNum{htmlNum(p.At), htmlNum(p.Value)}
	}
	return out
}

func (r *htmlReport) overTimeCharts() (overTime, timeWait template.HTML, otNote, twNote string) {
	rep := r.rep
	axisEnd := max(rep.End, 1)
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
	ot.AddSeries("open (established)", nil, steps(htmlPoints(rep.Open), "#4a5a6a", true, false)...)
	ot.AddSeries("idle (keep-alive, no request in flight)", nil, steps(htmlPoints(rep.Idle), htmlFinalIdle, true, false)...)
	ot.AddJSFuncStrs(opts.FuncOpts(`HL.init("over_time", %MY_ECHARTS%);`))
	if rep.OpenBucketed || rep.IdleBucketed {
		otNote = fmt.Sprintf("Too many changes to draw each: the peak per %s is shown.", htmlSecs(axisEnd/1500/1000))
	}

	tw := line("hl_time_wait", 300, rep.XMax, "")
	if rep.TimeWaitPastCapture {
		twNote = "TIME_WAIT runs past the end of the capture (dotted line): the tail is projected with 2MSL = " + htmlSecs(r.d.Options.TwoMSL.Seconds()) + "."
	}
	// Keep the busiest hosts per role; fold the others into one series.
	var shown []summary.HostSeries
	other := map[string]*summary.HostSeries{}
	perRole := map[string]int{}
	for _, h := range rep.TimeWait {
		if !strings.HasPrefix(h.Host, "other ") && perRole[h.Role] < htmlHostSeries {
			perRole[h.Role]++
			shown = append(shown, h)
			continue
		}
		o := other[h.Role]
		if o == nil {
			o = &summary.HostSeries{Role: h.Role, Host: "other " + h.Role + "s"}
			other[h.Role] = o
		}
		o.Points, o.Bucketed = addPoints(o.Points, h.Points), o.Bucketed || h.Bucketed
	}
	for _, role := range []string{"server", "client"} {
		if o := other[role]; o != nil {
			shown = append(shown, *o)
		}
	}
	sort.SliceStable(shown, func(a, b int) bool { return shown[a].Role == "server" && shown[b].Role != "server" })
	serverColors := []string{"#e8741c", "#c4561a", "#f2a65a", "#a8460f", "#f7c08a", "#8a3a0c", "#d9a070"}
	clientColors := []string{"#2f6fd0", "#1d4f9e", "#6d9be3", "#173d78", "#9dbdf0", "#0f2c57", "#7f9fcf"}
	ns, nc := 0, 0
	for _, h := range shown {
		if h.Bucketed && twNote == "" {
			twNote = "Peak per bucket shown."
		}
		var color string
		if h.Role == "server" {
			color = serverColors[ns%len(serverColors)]
			ns++
		} else {
			color = clientColors[nc%len(clientColors)]
			nc++
		}
		name := h.Host
		if !strings.HasPrefix(name, "other ") {
			name = h.Role + " " + h.Host
		}
		tw.AddSeries(htmlChartLabel(name), nil, steps(htmlPoints(h.Points), color, false, h.Role == "client")...)
	}
	if len(shown) > 0 && rep.TimeWaitPastCapture {
		tw.MultiSeries[0].MarkLines = &opts.MarkLines{Data: []any{opts.MarkLineNameXAxisItem{Name: "capture end", XAxis: htmlNum(rep.End)}}}
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

// addPoints sums two step series (the value of each at every step of
// either).
func addPoints(a, b []summary.Point) []summary.Point {
	if len(a) == 0 {
		return append([]summary.Point(nil), b...)
	}
	var out []summary.Point
	i, j, va, vb := 0, 0, 0, 0
	for i < len(a) || j < len(b) {
		var t float64
		switch {
		case j >= len(b) || i < len(a) && a[i].At < b[j].At:
			t, va = a[i].At, a[i].Value
			i++
		case i >= len(a) || b[j].At < a[i].At:
			t, vb = b[j].At, b[j].Value
			j++
		default:
			t, va, vb = a[i].At, a[i].Value, b[j].Value
			i++
			j++
		}
		if n := len(out); n > 0 && out[n-1].At == t {
			out[n-1].Value = va + vb
		} else {
			out = append(out, summary.Point{At: t, Value: va + vb})
		}
	}
	return out
}
