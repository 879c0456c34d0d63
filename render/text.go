package render

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/httplife/httplife/httpflow"
)

// WriteText writes one line per connection, grouped by server, then the
// summary, so that a long table never hides it.
func WriteText(w io.Writer, doc *httpflow.Document) error {
	tw := &errWriter{w: w}
	servers := []netip.AddrPort{}
	byServer := map[netip.AddrPort][]*httpflow.Connection{}
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
		// Columns as wide as their widest value: with IPv4 clients, up
		// to 99,999 connections, 9,999 requests on one and final idles
		// under 1,000 s, a line fits in 80 columns.
		idW, cliW, reqW, finW := 2, len("client"), len("req"), len("final s")
		for _, c := range conns {
			idW = max(idW, len(strconv.Itoa(c.ID)))
			cliW = max(cliW, len(c.Client.String()))
			reqW = max(reqW, len(strconv.Itoa(len(c.Transactions))))
			finW = max(finW, len(finalIdle(c.FinalIdle)))
		}
		tw.printf("%*s %-*s %*s %-*s %*s %-6s %s\n", idW, "id", cliW, "client", reqW, "req", gapsWidth, "idle gaps s",
			finW, "final s", "closed", "reason")
		for _, c := range conns {
			tw.printf("%*d %-*s %*d %-*s %*s %-6s %s\n", idW, c.ID, cliW, c.Client.String(), reqW, len(c.Transactions),
				gapsWidth, gaps(c.IdlePeriods), finW, finalIdle(c.FinalIdle), closedBy(c), c.Close.Reason)
		}
		tw.printf("\n")
	}
	writeSummary(tw, doc)
	return tw.err
}

// gapsWidth is the width of the idle gaps column: the first gaps, then
// "+N" for the rest.
const gapsWidth = 12

func gaps(p []httpflow.Idle) string {
	if len(p) == 0 {
		return "-"
	}
	var parts []string
	n := 0
	for _, x := range p {
		s := strconv.FormatFloat(x.Duration.Seconds(), 'f', 3, 64)
		if n+len(s)+1 > gapsWidth {
			more := "+" + strconv.Itoa(len(p)-len(parts))
			for n+len(more) > gapsWidth && len(parts) > 0 {
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
	return strconv.FormatFloat(i.Duration.Seconds(), 'f', 3, 64)
}

func closedBy(c *httpflow.Connection) string {
	if c.ClosedByReset() {
		if c.Close.RstBy == httpflow.Client {
			return "RST cl"
		}
		return "RST sv"
	}
	if c.Close.FirstFinBy != httpflow.NoSide {
		return c.Close.FirstFinBy.String()
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
	tw.printf("capture      %s\n", ci.Source)
	tw.printf("             %s %s", ci.Format, strings.Join(ci.LinkTypes, ","))
	if !ci.FirstPacketAt.IsZero() {
		tw.printf(", %s, %.3f s", ci.FirstPacketAt.UTC().Format("2006-01-02 15:04:05.000"), ci.Duration.Seconds())
	}
	tw.printf("\n")
	tw.printf("             %d packets, %d TCP, %d bytes\n", ci.Packets, ci.TCPPackets, ci.Bytes)
	tw.printf("connections  %s\n", wrap([]string{
		fmt.Sprintf("%d", s.Connections), fmt.Sprintf("%d transactions", s.Transactions),
		fmt.Sprintf("per connection mean %.2f", s.TransactionsPerConnection.Mean),
		fmt.Sprintf("median %g", s.TransactionsPerConnection.P50), fmt.Sprintf("max %d", s.TransactionsPerConnection.Max)}, 13))
	tw.printf("closed by    server %d, client %d, reset %d, open %d\n", s.ClosedBy.Server, s.ClosedBy.Client, s.ClosedBy.Reset, s.ClosedBy.Open)
	var reasons []string
	for _, r := range httpflow.Reasons {
		if n := s.Reasons[r]; n > 0 {
			reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
		}
	}
	tw.printf("reasons      %s\n", wrap(reasons, 13))
	tw.printf("idle gaps    %s\n", wrap(dist(s.IdleS), 13))
	tw.printf("final idle   %s\n", wrap(dist(s.FinalIdleS), 13))
	if len(s.AdvertisedTimeoutsS) > 0 {
		keys := make([]string, 0, len(s.AdvertisedTimeoutsS))
		for k := range s.AdvertisedTimeoutsS {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { // numerically: 5 before 15
			a, _ := strconv.ParseFloat(keys[i], 64)
			b, _ := strconv.ParseFloat(keys[j], 64)
			return a < b || a == b && keys[i] < keys[j]
		})
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("timeout=%s on %d", k, s.AdvertisedTimeoutsS[k]))
		}
		parts[0] = "advertised " + parts[0]
		tw.printf("keep-alive   %s\n", wrap(parts, 13))
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
		tw.printf("warning      %s\n", wrapWords(w, 13))
	}
}

func dist(d httpflow.Distribution) []string {
	if d.Count == 0 {
		return nil // "none"
	}
	return []string{strconv.Itoa(d.Count), fmt.Sprintf("p50 %.3f s", float64(d.P50)), fmt.Sprintf("p90 %.3f s", float64(d.P90)),
		fmt.Sprintf("p99 %.3f s", float64(d.P99)), fmt.Sprintf("max %.3f s", float64(d.Max))}
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

// wrapWords breaks text between words before 80 columns, indenting
// continuation lines by indent spaces. A word longer than a line (a path)
// stays whole.
func wrapWords(text string, indent int) string {
	var b strings.Builder
	col := indent
	for i, w := range strings.Fields(text) {
		switch {
		case i == 0:
		case col+1+len(w) > 79:
			b.WriteString("\n" + strings.Repeat(" ", indent))
			col = indent
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
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
