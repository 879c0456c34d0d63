package render

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/summary"
)

// WriteText writes the text report of a digest for an 80-column
// terminal: the summary and the findings first, then the connections: all
// of them for a small capture (or when the digest kept every line), else
// those that matter (keep-alive races, resets, errors, the longest, the
// slowest) and the rest in groups, so a big capture reads in a screen or
// two.
func WriteText(w io.Writer, d *summary.Digest) error {
	tw := &errWriter{w: w}
	writeSummary(tw, d)
	if len(d.Findings) > 0 {
		for i, f := range d.Findings {
			label := ""
			if i == 0 {
				label = "findings"
			}
			tw.printf("%-12s - %s\n", label, wrapWordsAt(f, 15, 15))
		}
	}
	WriteServers(tw, d, ServerView{Max: 5})
	if d.AllKept || len(d.Lines) > 0 {
		tw.printf("\n")
		writeLines(tw, d.Lines)
	}
	if !d.AllKept {
		writeNotable(tw, d)
		writeGroups(tw, d)
	}
	return tw.err
}

// writeLines writes connection lines grouped by server, in order of each
// server's first line.
func writeLines(tw *errWriter, lines []summary.Line) {
	var servers []netip.AddrPort
	byServer := map[netip.AddrPort][]*summary.Line{}
	for i := range lines {
		l := &lines[i]
		if _, ok := byServer[l.Server]; !ok {
			servers = append(servers, l.Server)
		}
		byServer[l.Server] = append(byServer[l.Server], l)
	}
	for i, s := range servers {
		ls := byServer[s]
		if i > 0 {
			tw.printf("\n")
		}
		tw.printf("server %s: %d connection%s%s\n", s, len(ls), plural(len(ls)), tlsNote(ls))
		// Columns as wide as their widest value: with IPv4 clients, up
		// to 99,999 connections, 9,999 requests on one and final idles
		// under 1,000 s, a line fits in 80 columns.
		idW, cliW, reqW, finW := 2, len("client"), len("req"), len("final s")
		for _, l := range ls {
			idW = max(idW, len(strconv.Itoa(l.ID)))
			cliW = max(cliW, len(l.Client.String()))
			reqW = max(reqW, len(strconv.Itoa(l.Requests)))
			finW = max(finW, len(finalIdle(l)))
		}
		tw.printf("%*s %-*s %*s %-*s %*s %-6s %s\n", idW, "id", cliW, "client", reqW, "req", gapsWidth, "idle gaps s",
			finW, "final s", "closed", "reason")
		for _, l := range ls {
			tw.printf("%*d %-*s %*d %-*s %*s %-6s %s\n", idW, l.ID, cliW, l.Client.String(), reqW, l.Requests,
				gapsWidth, gaps(l), finW, finalIdle(l), l.Closer, l.Reason)
		}
	}
}

// tlsNote says how many of a server's lines are TLS, their server names
// and how many were decrypted: " (TLS 8, SNI api.example; 8 decrypted)".
func tlsNote(ls []*summary.Line) string {
	n, dec := 0, 0
	var snis []string
	for _, l := range ls {
		if !l.TLS {
			continue
		}
		n++
		if l.Decrypted {
			dec++
		}
		if l.SNI != "" && len(snis) < 3 && !slices.Contains(snis, l.SNI) {
			snis = append(snis, l.SNI)
		}
	}
	if n == 0 {
		return ""
	}
	out := fmt.Sprintf(" (TLS %d", n)
	if len(snis) > 0 {
		out += ", SNI " + strings.Join(snis, ", ")
	}
	switch {
	case dec == n:
		out += "; decrypted)"
	case dec > 0:
		out += fmt.Sprintf("; %d decrypted, the rest inferred)", dec)
	default:
		out += "; inferred from records)"
	}
	return out
}

// notableKinds are the kinds of notable connection, in the order shown.
var notableKinds = []struct{ why, title string }{
	{"race", "keep-alive races"}, {"reset", "resets"}, {"error", "with 4xx/5xx or unanswered requests"},
	{"longest", "the longest"}, {"slowest", "the slowest to answer"},
}

func writeNotable(tw *errWriter, d *summary.Digest) {
	if len(d.Notable) == 0 {
		return
	}
	tw.printf("\nthe connections that matter (httplife analyse --all lists every one):\n")
	for _, k := range notableKinds {
		var ls []summary.Line
		for _, l := range d.Notable {
			if l.Why == k.why {
				ls = append(ls, l)
			}
		}
		if len(ls) == 0 {
			continue
		}
		title := k.title
		if n := d.NotableCounts[k.why]; n > len(ls) {
			title = fmt.Sprintf("%s: %d, the first %d", k.title, n, len(ls))
		} else if n > 0 {
			title = fmt.Sprintf("%s: %d", k.title, n)
		}
		switch k.why {
		case "longest":
			lo, hi := ls[0].Duration(), ls[0].Duration()
			for _, l := range ls {
				lo, hi = min(lo, l.Duration()), max(hi, l.Duration())
			}
			title += " (first to last packet: " + summary.Secs(lo.Seconds()) + " to " + summary.Secs(hi.Seconds()) + ")"
		case "slowest":
			lo, hi := ls[0].Slowest(), ls[0].Slowest()
			for _, l := range ls {
				lo, hi = min(lo, l.Slowest()), max(hi, l.Slowest())
			}
			title += " (server time: " + summary.Secs(lo.Seconds()) + " to " + summary.Secs(hi.Seconds()) + ")"
		}
		tw.printf("\n%s\n", title)
		writeLines(tw, ls)
	}
}

func writeGroups(tw *errWriter, d *summary.Digest) {
	if len(d.Groups) == 0 {
		return
	}
	total := 0
	srvW := len("server")
	for _, g := range d.Groups {
		total += g.Count
		if !g.Other {
			srvW = max(srvW, len(g.Server.String()))
		}
	}
	tw.printf("\nthe other %s connection%s, grouped:\n", thousands(total), plural(total))
	tw.printf("%7s %-*s %-3s %-5s %-6s %-10s %s\n", "count", srvW, "server", "ver", "req", "closed", "final idle", "reason")
	for _, g := range d.Groups {
		if g.Other {
			tw.printf("%7s %s\n", thousands(g.Count), "in other groups")
			continue
		}
		ver := "-"
		if v, ok := strings.CutPrefix(g.Version, "HTTP/"); ok {
			ver = v
		} else if g.Version != "" {
			ver = g.Version
		}
		tw.printf("%7s %-*s %-3s %-5s %-6s %-10s %s\n", thousands(g.Count), srvW, g.Server.String(), ver, g.Requests,
			g.Closer, g.Final, g.Reason)
	}
}

// thousands writes n with commas between thousands.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// gapsWidth is the width of the idle gaps column: the first gaps, then
// "+N" for the rest.
const gapsWidth = 12

func gaps(l *summary.Line) string {
	if l.NGaps == 0 {
		return "-"
	}
	var parts []string
	n := 0
	for _, x := range l.Gaps() {
		s := strconv.FormatFloat(x.Seconds(), 'f', 3, 64)
		if n+len(s)+1 > gapsWidth {
			more := "+" + strconv.Itoa(l.NGaps-len(parts))
			for n+len(more) > gapsWidth && len(parts) > 0 {
				last := parts[len(parts)-1]
				parts = parts[:len(parts)-1]
				n -= len(last) + 1
				more = "+" + strconv.Itoa(l.NGaps-len(parts))
			}
			parts = append(parts, more)
			return strings.Join(parts, " ")
		}
		parts = append(parts, s)
		n += len(s) + 1
	}
	if len(parts) < l.NGaps {
		more := "+" + strconv.Itoa(l.NGaps-len(parts))
		for n+len(more) > gapsWidth && len(parts) > 0 {
			last := parts[len(parts)-1]
			parts = parts[:len(parts)-1]
			n -= len(last) + 1
			more = "+" + strconv.Itoa(l.NGaps-len(parts))
		}
		parts = append(parts, more)
	}
	return strings.Join(parts, " ")
}

func finalIdle(l *summary.Line) string {
	if !l.HasFinal {
		return "-"
	}
	return strconv.FormatFloat(l.Final.Seconds(), 'f', 3, 64)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func writeSummary(tw *errWriter, d *summary.Digest) {
	ci, s := &d.Capture, &d.Summary
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
	head := fmt.Sprintf("TIME_WAIT    server %d, client %d, both %d", s.TimeWait.Server, s.TimeWait.Client, s.TimeWait.Both)
	tw.printf("%s", head)
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
		tw.printf("; peak %s", wrapTail(parts, 13, len(head)+len("; peak ")))
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
	return []string{strconv.Itoa(d.Count), fmt.Sprintf("p50 %.3f s", d.P50), fmt.Sprintf("p90 %.3f s", d.P90),
		fmt.Sprintf("p99 %.3f s", d.P99), fmt.Sprintf("max %.3f s", d.Max)}
}

// wrap joins parts with ", " and breaks lines before 80 columns, indenting
// continuation lines by indent spaces.
func wrap(parts []string, indent int) string { return wrapTail(parts, indent, indent) }

// wrapTail is wrap for parts that start at column first.
func wrapTail(parts []string, indent, first int) string {
	if len(parts) == 0 {
		return "none"
	}
	var b strings.Builder
	col := first
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
func wrapWords(text string, indent int) string { return wrapWordsAt(text, indent, indent) }

// wrapWordsAt is wrapWords for text that starts at column first.
func wrapWordsAt(text string, indent, first int) string {
	var b strings.Builder
	col := first
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
