package render

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/httplife/httplife/httpflow"
)

// WriteText writes one line per connection, grouped by server, then the
// summary, so that a long table never hides it.
func WriteText(w io.Writer, doc *httpflow.Document) error {
	tw := &errWriter{w: w}
	servers := []string{}
	byServer := map[string][]*httpflow.Connection{}
	for i := range doc.Connections {
		c := &doc.Connections[i]
		if _, ok := byServer[c.Server]; !ok {
			servers = append(servers, c.Server)
		}
		byServer[c.Server] = append(byServer[c.Server], c)
	}
	for _, s := range servers {
		conns := byServer[s]
		tw.printf("server %s: %d connection%s\n", s, len(conns), plural(len(conns)))
		tw.printf("%4s %-21s %3s %-14s %7s %-6s %s\n", "id", "client", "req", "idle gaps s", "final s", "closed", "reason")
		for _, c := range conns {
			tw.printf("%4d %-21s %3d %-14s %7s %-6s %s\n", c.ID, c.Client, len(c.Transactions),
				gaps(c.IdlePeriods), finalIdle(c.FinalIdle), closedBy(c), c.Close.Reason)
		}
		tw.printf("\n")
	}
	writeSummary(tw, doc)
	return tw.err
}

func gaps(p []httpflow.Idle) string {
	if len(p) == 0 {
		return "-"
	}
	var parts []string
	n := 0
	for _, x := range p {
		s := strconv.FormatFloat(float64(x.Duration), 'f', 3, 64)
		if n+len(s)+1 > 14 {
			more := "+" + strconv.Itoa(len(p)-len(parts))
			for n+len(more) > 14 && len(parts) > 0 {
				last := parts[len(parts)-1]
				parts = parts[:len(parts)-1]
				n -= len(last) + 1
				more = "+" + strconv.Itoa(len(p)-len(parts))
			}
			parts = append(parts, more)
			break
		}
		parts = append(parts, s)
		n += len(s) + 1
	}
	return strings.Join(parts, " ")
}

func finalIdle(i *httpflow.Idle) string {
	if i == nil {
		return "-"
	}
	return strconv.FormatFloat(float64(i.Duration), 'f', 3, 64)
}

func closedBy(c *httpflow.Connection) string {
	if httpflow.ClosedByReset(c) {
		return "RST " + string(*c.Close.RstBy)[:1]
	}
	if c.Close.FirstFinBy != nil {
		return string(*c.Close.FirstFinBy)
	}
	return "open"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func writeSummary(tw *errWriter, doc *httpflow.Document) {
	ci, s := &doc.Capture, &doc.Summary
	tw.printf("capture      %s (%s %s)\n", ci.Source, ci.Format, strings.Join(ci.LinkTypes, ","))
	if !ci.FirstPacketAt.IsZero() {
		tw.printf("             %s, %.3f s\n", ci.FirstPacketAt.UTC().Format("2006-01-02 15:04:05.000"), float64(ci.Duration))
	}
	tw.printf("             %d packets, %d TCP, %d bytes\n", ci.Packets, ci.TCPPackets, ci.Bytes)
	tw.printf("connections  %d, %d transactions, requests per connection mean %.2f, median %g, max %d\n",
		s.Connections, s.Transactions, s.TransactionsPerConnection.Mean, s.TransactionsPerConnection.P50, s.TransactionsPerConnection.Max)
	tw.printf("closed by    server %d, client %d, reset %d, open %d\n", s.ClosedBy.Server, s.ClosedBy.Client, s.ClosedBy.Reset, s.ClosedBy.Open)
	var reasons []string
	for _, r := range httpflow.Reasons {
		if n := s.Reasons[r]; n > 0 {
			reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
		}
	}
	tw.printf("reasons      %s\n", wrap(reasons, 13))
	tw.printf("idle gaps    %s\n", dist(s.IdleS))
	tw.printf("final idle   %s\n", dist(s.FinalIdleS))
	if len(s.AdvertisedTimeoutsS) > 0 {
		keys := make([]string, 0, len(s.AdvertisedTimeoutsS))
		for k := range s.AdvertisedTimeoutsS {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("timeout=%s on %d", k, s.AdvertisedTimeoutsS[k]))
		}
		tw.printf("keep-alive   advertised %s\n", wrap(parts, 13))
	}
	tw.printf("TIME_WAIT    server %d, client %d, both %d", s.TimeWait.Server, s.TimeWait.Client, s.TimeWait.Both)
	if len(s.TimeWait.PeakConcurrent) > 0 {
		hosts := make([]string, 0, len(s.TimeWait.PeakConcurrent))
		for h := range s.TimeWait.PeakConcurrent {
			hosts = append(hosts, h)
		}
		sort.Strings(hosts)
		var parts []string
		for _, h := range hosts {
			parts = append(parts, fmt.Sprintf("%d on %s", s.TimeWait.PeakConcurrent[h], h))
		}
		tw.printf("; peak %s", strings.Join(parts, ", "))
	}
	tw.printf("\n")
	if s.KeepaliveRaces > 0 {
		tw.printf("races        %d request%s met a closing keep-alive connection\n", s.KeepaliveRaces, plural(s.KeepaliveRaces))
	}
	for _, w := range ci.Warnings {
		tw.printf("warning      %s\n", w)
	}
}

func dist(d httpflow.Distribution) string {
	if d.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("%d, p50 %.3f s, p90 %.3f s, p99 %.3f s, max %.3f s", d.Count, float64(d.P50), float64(d.P90), float64(d.P99), float64(d.Max))
}

// wrap joins parts with ", " and breaks lines before 80 columns, indenting
// continuation lines by indent spaces.
func wrap(parts []string, indent int) string {
	if len(parts) == 0 {
		return "none"
	}
	var b strings.Builder
	col := indent
	for i, p := range parts {
		sep := ""
		if i > 0 {
			sep = ", "
		}
		if i > 0 && col+len(sep)+len(p) > 79 {
			b.WriteString(",\n" + strings.Repeat(" ", indent))
			col = indent
			sep = ""
		}
		b.WriteString(sep + p)
		col += len(sep) + len(p)
	}
	return b.String()
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}
