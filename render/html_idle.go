package render

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"

	"github.com/httplife/httplife/internal/summary"
)

// The keep-alive idle histograms: idle gaps between requests, and final
// idles by who closed, with the advertised Keep-Alive timeouts marked.

type htmlBins struct {
	width  float64
	n      int  // regular bins
	over   bool // plus one bin for everything >= n*width
	labels []string
	ranges []string
	prec   int
}

// htmlMakeBins chooses bins for values whose largest is maxV and whose
// 99th percentile is p99 (n values), so that the marks fit too.
func htmlMakeBins(n int, p99, maxV float64, marks []float64) htmlBins {
	upper := maxV
	if n >= 200 {
		upper = p99 * 1.05
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
	if n > 0 && maxV >= float64(b.n)*width {
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

// htmlCounts bins a sketch's values.
func htmlCounts(s *summary.Sketch, b *htmlBins) []int {
	out := make([]int, len(b.labels))
	s.Each(func(v float64, n int) { out[b.index(v)] += n })
	return out
}

func (r *htmlReport) idleCharts(data map[string]any) (gapsChart, finalChart template.HTML, note string) {
	rep := r.rep
	// The bins cover gaps and final idles together.
	var all summary.Sketch
	all.Merge(&rep.Gaps)
	for i := range rep.Finals {
		all.Merge(&rep.Finals[i])
	}
	b := htmlMakeBins(all.Len(), all.Quantile(0.99), all.Max(), rep.Timeouts)
	data["hist"] = map[string]any{"ranges": b.ranges}
	gapCount := htmlCounts(&rep.Gaps, &b)
	// Final idle split by who closed.
	series := []struct {
		name, color string
		count       []int
	}{
		{"server FIN", htmlServer, htmlCounts(&rep.Finals[0], &b)},
		{"client FIN", htmlClient, htmlCounts(&rep.Finals[1], &b)},
		{"both FIN", htmlBoth, htmlCounts(&rep.Finals[2], &b)},
		{"RST", htmlRST, htmlCounts(&rep.Finals[3], &b)},
	}
	var marks []opts.MarkLineNameXAxisItem
	for _, t := range rep.Timeouts {
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
	note = fmt.Sprintf("%d idle gaps between requests, %d final idle periods; bins of %s.", rep.Gaps.Len(), rep.NFinals, htmlSecs(b.width))
	if len(rep.Timeouts) > 0 {
		var parts []string
		for _, t := range rep.Timeouts {
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
