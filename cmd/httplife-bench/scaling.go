package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// procCounts is 1, 2, 3, 4, 6, 8, 12, 16, … up to the machine's CPUs.
func procCounts(n int) []int {
	var out []int
	for _, p := range []int{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128} {
		if p <= n {
			out = append(out, p)
		}
	}
	if out[len(out)-1] != n {
		out = append(out, n)
	}
	return out
}

// scaling measures httplife at every GOMAXPROCS from 1 to the machine's
// CPUs (ndjson, text and the HTML report), then NCPU copies of the run at
// once against NCPU floors at once, and judges the targets of issue 17.
func scaling(ctx context.Context, cfg config, w io.Writer, file, hl, self string, fl *result) error {
	ncpu := runtime.NumCPU()
	procs := procCounts(ncpu)
	rows := make([]scaleRow, len(procs))
	for i, p := range procs {
		env := []string{"GOMAXPROCS=" + strconv.Itoa(p)}
		rows[i] = scaleRow{procs: p,
			ndjson: result{name: "ndjson", argv: []string{hl, "analyse", "--format", "ndjson", file}, env: env},
			text:   result{name: "text", argv: []string{hl, "analyse", "--format", "text", file}, env: env},
			html:   result{name: "report", argv: []string{hl, "report", "-o", "/dev/null", file}, env: env},
		}
	}
	// Taking turns over every configuration, as measure does.
	for run := 1; run <= cfg.runs; run++ {
		for i := range rows {
			for _, r := range []*result{&rows[i].ndjson, &rows[i].text, &rows[i].html} {
				if r.err == nil {
					progress("GOMAXPROCS=%d %s run %d/%d: %.3f s", rows[i].procs, r.name, run, cfg.runs, r.runOnce(ctx).Seconds())
				}
			}
		}
	}
	fmt.Fprintf(w, "\nscaling   GOMAXPROCS from 1 to %d (best of %d; floor: %.3f s on one core)\n\n", ncpu, cfg.runs, fl.best.Seconds())
	fmt.Fprintf(w, "%10s %10s %10s %10s %12s %12s %12s %12s\n", "GOMAXPROCS", "ndjson s", "text s", "report s", "ndjson/floor", "speedup", "text/ndjson", "report/ndjson")
	base := rows[0].ndjson.best.Seconds()
	monotone := true
	for i, r := range rows {
		if r.ndjson.err != nil || r.text.err != nil || r.html.err != nil {
			fmt.Fprintf(w, "%10d failed: %v %v %v\n", r.procs, r.ndjson.err, r.text.err, r.html.err)
			continue
		}
		n, t, h := r.ndjson.best.Seconds(), r.text.best.Seconds(), r.html.best.Seconds()
		fmt.Fprintf(w, "%10d %10.3f %10.3f %10.3f %11.2f× %11.2f× %11.2f× %11.2f×\n", r.procs, n, t, h, n/fl.best.Seconds(), base/n, t/n, h/n)
		if i > 0 && n > 1.05*rows[i-1].ndjson.best.Seconds() {
			monotone = false
		}
	}
	fmt.Fprintln(w)
	last := rows[len(rows)-1]
	if two := findProcs(rows, 2); two >= 0 {
		x := rows[two].ndjson.best.Seconds() / fl.best.Seconds()
		fmt.Fprintf(w, "%-40s %7.2f× %8s  %s\n", "2 cores: ndjson / floor", x, "≤ 2×", verdict(x <= 2))
	}
	if ncpu >= 16 {
		x := last.ndjson.best.Seconds() / fl.best.Seconds()
		fmt.Fprintf(w, "%-40s %7.2f× %8s  %s\n", fmt.Sprintf("%d cores: ndjson / floor (one core)", ncpu), x, "≤ 1×", verdict(x <= 1))
		y := base / last.ndjson.best.Seconds()
		fmt.Fprintf(w, "%-40s %7.2f× %8s  %s\n", fmt.Sprintf("GOMAXPROCS=1 / GOMAXPROCS=%d", ncpu), y, "≥ 6×", verdict(y >= 6))
	}
	fmt.Fprintf(w, "%-40s %8s %8s  %s\n", "each GOMAXPROCS at least as fast as the one below (5 %)", "", "", verdict(monotone))
	worst := 0.0
	for _, r := range rows {
		if r.ndjson.err == nil {
			worst = max(worst, r.text.best.Seconds()/r.ndjson.best.Seconds(), r.html.best.Seconds()/r.ndjson.best.Seconds())
		}
	}
	fmt.Fprintf(w, "%-40s %7.2f× %8s  %s\n", "text and report / ndjson, worst", worst, "≤ 1.3×", verdict(worst <= 1.3))

	// NCPU captures at once: httplife's batch against the floors'.
	batch := func(argv []string) (time.Duration, error) {
		var best time.Duration
		for run := 0; run < cfg.runs; run++ {
			start := time.Now()
			var wg sync.WaitGroup
			var mu sync.Mutex
			var firstErr error
			for range ncpu {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := exec.CommandContext(ctx, argv[0], argv[1:]...).Run(); err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if firstErr != nil {
				return 0, firstErr
			}
			if d := time.Since(start); best == 0 || d < best {
				best = d
			}
		}
		return best, nil
	}
	hb, err1 := batch([]string{hl, "analyse", "--format", "ndjson", "-o", "/dev/null", file})
	fb, err2 := batch([]string{self, "floor", file})
	if err1 != nil || err2 != nil {
		fmt.Fprintf(w, "batch of %d: %v %v\n", ncpu, err1, err2)
		return nil
	}
	fmt.Fprintf(w, "\nbatch     %d copies at once: httplife %.3f s, floor %.3f s (%.2f×); one httplife alone at GOMAXPROCS=%d %.3f s (batch/alone %.2f×)\n",
		ncpu, hb.Seconds(), fb.Seconds(), hb.Seconds()/fb.Seconds(), ncpu, last.ndjson.best.Seconds(), hb.Seconds()/last.ndjson.best.Seconds())
	return nil
}

// scaleRow is httplife's three outputs measured at one GOMAXPROCS.
type scaleRow struct {
	procs              int
	ndjson, text, html result
}

func findProcs(rows []scaleRow, p int) int {
	for i := range rows {
		if rows[i].procs == p {
			return i
		}
	}
	return -1
}
