package render

import (
	"fmt"
	"html/template"
	"slices"
	"strconv"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/summary"
)

// Who closed and why (a bar per reason, stacked by closer, and a ring of
// closers), and requests per connection.

func (r *htmlReport) closeCharts() (reasons, sides template.HTML) {
	byReason := map[httpflow.Reason]int{}
	byCloser := map[string]int{}
	for k, n := range r.rep.CloseCounts {
		byReason[k.Reason] += n
		byCloser[k.Closer] += n
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
			v[i] = r.rep.CloseCounts[summary.CloseKey{Reason: n, Closer: cl.key}]
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
	pie := charts.NewPie()
	pie.SetGlobalOptions(
		htmlInit("hl_sides", height),
		charts.WithAnimation(false),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "item", Formatter: "{b}: {c} ({d}%)"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Bottom: "0"}),
	)
	var pd []opts.PieData
	for _, x := range []struct {
		name, key, color string
	}{{"server FIN", "server FIN", htmlServer}, {"client FIN", "client FIN", htmlClient}, {"simultaneous FIN", "both FIN", htmlBoth},
		{"server RST", "server RST", "#a61b1b"}, {"client RST", "client RST", htmlRST}, {"still open", "none", htmlNeutral}} {
		if n := byCloser[x.key]; n > 0 {
			pd = append(pd, opts.PieData{Name: x.name, Value: n, ItemStyle: &opts.ItemStyle{Color: x.color}})
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

func (r *htmlReport) perConnChart() (template.HTML, string) {
	rep := r.rep
	counts := rep.PerConn
	if len(counts) == 0 {
		counts = []int{0}
	}
	labels := make([]string, len(counts))
	for i := range labels {
		labels[i] = strconv.Itoa(i)
	}
	if rep.MaxTx > summary.PerConnCap {
		labels[len(labels)-1] = "≥" + strconv.Itoa(summary.PerConnCap+1)
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
	if rep.Connections > 0 {
		note = fmt.Sprintf("Reuse ratio %.2f: %d transactions on %d connections.", float64(rep.Transactions)/float64(rep.Connections), rep.Transactions, rep.Connections)
	}
	return htmlSnippet(bar), note
}
