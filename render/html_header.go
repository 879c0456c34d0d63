package render

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The report's header: the capture in numbers.

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

func (r *htmlReport) stats() ([]htmlStat, []string) {
	ci, rep := &r.d.Capture, r.rep
	var st []htmlStat
	span := "-"
	detail := ""
	first, last := ci.FirstPacketAt, ci.LastPacketAt
	if first.IsZero() && rep.Connections > 0 {
		first = rep.Origin
		last = rep.Origin.Add(time.Duration(rep.End * 1e6))
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
	servers := htmlCount(rep.Servers, "server endpoint", "server endpoints")
	if rep.ServersCapped {
		servers = "more than 10,000 server endpoints"
	}
	st = append(st, htmlStat{"Connections", strconv.Itoa(rep.Connections), servers})
	reuse := "-"
	if rep.Connections > 0 {
		reuse = strconv.FormatFloat(float64(rep.Transactions)/float64(rep.Connections), 'f', 2, 64) + " per connection"
	}
	st = append(st, htmlStat{"Transactions", strconv.Itoa(rep.Transactions), reuse})
	format := ci.Format
	if len(ci.LinkTypes) > 0 {
		format += " " + strings.Join(ci.LinkTypes, ", ")
	}
	twoMSL := ""
	if r.d.Options.TwoMSL > 0 {
		twoMSL = "2MSL " + htmlSecs(r.d.Options.TwoMSL.Seconds())
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
