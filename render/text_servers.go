package render

import (
	"fmt"
	"sort"
	"strings"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/summary"
)

// The servers section of the text output: each server's idle timeout in
// force beside what it advertised, its clients' idle closes, its races and
// proxy legs, the what-if table; then the advice. `httplife advise` prints
// this section alone.

// ServerView says which servers the section shows and how much of each.
type ServerView struct {
	Max int // servers shown (0: all); those with advice and the busiest come first
	// WhatIf shows every shown server's what-if table; else only those of
	// the servers the advice names.
	WhatIf bool
}

// WriteServers writes the servers section and the advice of a digest.
func WriteServers(tw *errWriter, d *summary.Digest, v ServerView) {
	servers := chooseServers(d, v.Max)
	advised := advisedServers(d)
	for i, sv := range servers {
		label := ""
		if i == 0 {
			label = "servers"
		}
		tw.printf("\n")
		writeServer(tw, label, sv, v.WhatIf || advised[sv.Server.String()])
	}
	if n := len(d.Servers) - len(servers); n > 0 {
		tw.printf("%-12s (%d more server endpoint%s; httplife advise lists them all)\n", "", n, plural(n))
	}
	writeAdvice(tw, d.Summary.Advice)
}

// chooseServers returns the servers the advice names first, then the
// busiest, at most max (0: all); in address order within each.
func chooseServers(d *summary.Digest, max int) []*summary.Server {
	if max <= 0 || len(d.Servers) <= max {
		return d.Servers
	}
	advised := advisedServers(d)
	list := append([]*summary.Server(nil), d.Servers...)
	sort.SliceStable(list, func(i, j int) bool {
		ai, aj := advised[list[i].Server.String()], advised[list[j].Server.String()]
		if ai != aj {
			return ai
		}
		return list[i].Transactions > list[j].Transactions
	})
	list = list[:max]
	sort.Slice(list, func(i, j int) bool { return list[i].Server.Compare(list[j].Server) < 0 })
	return list
}

func advisedServers(d *summary.Digest) map[string]bool {
	advised := map[string]bool{}
	for _, a := range d.Summary.Advice {
		if a.Server.IsValid() {
			advised[a.Server.String()] = true
		}
	}
	return advised
}

func writeServer(tw *errWriter, label string, sv *summary.Server, whatIf bool) {
	tw.printf("%-12s %s  %d connection%s, %d request%s\n", label, sv.Server, sv.Connections, plural(sv.Connections), sv.Transactions, plural(sv.Transactions))
	var parts []string
	if sv.HasIdleTimeout {
		parts = append(parts, fmt.Sprintf("closes idle connections after %s (±%s, %d connection%s)",
			summary.TimeoutStr(sv.IdleTimeout), summary.Secs(sv.Spread.Seconds()), sv.Basis, plural(sv.Basis)))
	} else {
		parts = append(parts, "idle timeout not seen (fewer than 3 idle closes)")
	}
	if sv.HasAdvertised {
		parts = append(parts, fmt.Sprintf("advertises timeout=%g", sv.Advertised))
	}
	tw.printf("%-12s %s\n", "", wrap(parts, 13))
	if sv.HintServer != "" {
		tw.printf("%-12s %s\n", "", wrapWords("hint: "+sv.HintServer, 13))
	}
	parts = parts[:0]
	if sv.HasClientIdleClose {
		parts = append(parts, fmt.Sprintf("clients close idle connections after %s (%d connection%s)", summary.TimeoutStr(sv.ClientIdleClose), sv.ClientBasis, plural(sv.ClientBasis)))
	}
	if sv.LongestReuse > 0 {
		parts = append(parts, "reuse after up to "+summary.TimeoutStr(sv.LongestReuse)+" idle")
	}
	if sv.NearTimeout > 0 {
		parts = append(parts, fmt.Sprintf("%d request%s after ≥ 90 %% of the timeout", sv.NearTimeout, plural(sv.NearTimeout)))
	}
	if len(parts) > 0 {
		tw.printf("%-12s %s\n", "", wrap(parts, 13))
	}
	if sv.HintClient != "" {
		tw.printf("%-12s %s\n", "", wrapWords("hint: clients: "+sv.HintClient, 13))
	}
	if sv.Races > 0 {
		var kinds []string
		for _, k := range []httpflow.RaceKind{httpflow.RaceInFlight, httpflow.RaceStaleReuse, httpflow.RaceSilentDrop} {
			if n := sv.RacesByKind[k]; n > 0 {
				kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
			}
		}
		tw.printf("%-12s %s\n", "", wrap([]string{fmt.Sprintf("races %d (%s)", sv.Races, strings.Join(kinds, ", ")),
			fmt.Sprintf("%d idempotent, %d not", sv.RaceIdempotent, sv.RaceNonIdem)}, 13))
	}
	if len(sv.Downstream) > 0 || len(sv.Upstream) > 0 {
		parts = parts[:0]
		for _, a := range sv.Downstream {
			parts = append(parts, "behind proxy "+a.String())
		}
		for _, a := range sv.Upstream {
			parts = append(parts, "proxies to "+a.String())
		}
		if sv.DownstreamErrors > 0 {
			parts = append(parts, fmt.Sprintf("%d downstream error%s behind failed attempts here", sv.DownstreamErrors, plural(sv.DownstreamErrors)))
		}
		if sv.RetriedOK > 0 {
			parts = append(parts, fmt.Sprintf("%d retried and answered", sv.RetriedOK))
		}
		tw.printf("%-12s %s\n", "", wrap(parts, 13))
	}
	if whatIf && len(sv.WhatIf) > 0 {
		writeWhatIf(tw, sv)
	}
}

// writeWhatIf writes a server's replay table.
func writeWhatIf(tw *errWriter, sv *summary.Server) {
	tw.printf("%-12s %-9s %10s %9s %9s %9s %6s %7s\n", "", "what-if T", "handshakes", "idle mean", "idle peak", "TIME_WAIT", "races", "reused")
	for _, w := range sv.WhatIf {
		t := summary.Secs(w.Timeout.Seconds())
		if w.Inferred {
			t = summary.TimeoutStr(w.Timeout) + "*"
		}
		tw.printf("%-12s %9s %10d %9.1f %9d %9d %6d %7d\n", "", t, w.Connections, w.IdleMean, w.IdlePeak, w.TimeWaitPeak, w.Races, w.Reused)
	}
	if sv.ReplayCheck != "" {
		tw.printf("%-12s %s\n", "", wrapWords("* in force: "+sv.ReplayCheck, 13))
	}
	if f := sv.Formula; f.Valid {
		tw.printf("%-12s %s\n", "", wrapWords(fmt.Sprintf("formula: %s × %.2f requests/s ÷ %.2f requests per connection ≈ %.1f connections held; the replay holds %.1f (%.1f idle, %.1f busy): %s",
			summary.TimeoutStr(f.Timeout), f.RequestsPerSec, f.RequestsPerConn, f.Processes, f.ReplayHeldMean, f.ReplayIdleMean, f.ReplayBusyMean, f.DiffersBecause), 13))
	}
}

func writeAdvice(tw *errWriter, advice []httpflow.Advice) {
	if len(advice) == 0 {
		return
	}
	tw.printf("\n")
	for i, a := range advice {
		label := ""
		if i == 0 {
			label = "advice"
		}
		tw.printf("%-12s %s\n", label, wrapWordsAt(fmt.Sprintf("%d. %s", i+1, a.Text), 16, 13))
	}
}
