package render

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/httplife/httplife/internal/summary"
)

// The table of connections (the digest keeps up to summary.TableMax rows).

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

func (r *htmlReport) table() ([]htmlRow, string) {
	note := ""
	if !r.rep.TableAll {
		note = fmt.Sprintf("%d of %d connections listed (those drawn in the timeline, then the lowest ids); the JSON output has them all.", len(r.rep.Table), r.rep.Connections)
	}
	rows := make([]htmlRow, 0, len(r.rep.Table))
	for i := range r.rep.Table {
		t := &r.rep.Table[i]
		statuses := strings.Join(htmlCompress(t.Statuses, t.MoreStatuses), " ")
		rows = append(rows, htmlRow{
			ID: t.ID, Client: t.Client, Server: t.Server, Requests: t.Requests, Statuses: statuses,
			Idle: htmlGaps(t), Final: htmlFinal(t), Closer: t.Closer, CloserSide: t.CloserSide,
			Reason: t.Reason.String(), ReasonCSS: htmlReasonClass(t.Reason), Evidence: t.Evidence,
		})
	}
	return rows, note
}

// htmlCompress writes status runs as "200×3 404"; after six, or when
// more runs were left out, "…".
func htmlCompress(runs []summary.StatusRun, more bool) []string {
	var out []string
	for i, r := range runs {
		s := "–"
		if r.Status != 0 {
			s = strconv.Itoa(r.Status)
		}
		if r.N > 1 {
			s += "×" + strconv.Itoa(r.N)
		}
		out = append(out, s)
		if len(out) >= 6 && (i < len(runs)-1 || more) {
			return append(out, "…")
		}
	}
	return out
}

func htmlGaps(t *summary.TableRow) string {
	if t.NGaps == 0 {
		return "–"
	}
	var parts []string
	for i, x := range t.Gaps {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("… (+%d)", t.NGaps-5))
			break
		}
		parts = append(parts, strconv.FormatFloat(x.Seconds(), 'f', 3, 64))
	}
	return strings.Join(parts, ", ")
}

func htmlFinal(t *summary.TableRow) string {
	if !t.HasFinal {
		return "–"
	}
	return strconv.FormatFloat(t.Final.Seconds(), 'f', 3, 64)
}
