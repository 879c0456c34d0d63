package parquet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/internal/pipeline"
	"github.com/httplife/httplife/render"
	"github.com/httplife/httplife/tcpstate"
)

// duckDB returns the directory DuckDB's npm package was installed into
// (.ci/parquet-test.sh installs it into .ci/tools; HTTPLIFE_DUCKDB_TOOLS
// names another), skipping the test when it or node is absent, unless
// HTTPLIFE_DUCKDB_REQUIRED is set (CI: absence is a failure).
func duckDB(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HTTPLIFE_DUCKDB_TOOLS")
	if dir == "" {
		dir = "../../.ci/tools"
	}
	dir, _ = filepath.Abs(dir)
	_, nodeErr := exec.LookPath("node")
	_, pkgErr := os.Stat(filepath.Join(dir, "node_modules", "@duckdb", "node-api"))
	if nodeErr != nil || pkgErr != nil {
		msg := fmt.Sprintf("DuckDB not installed (node: %v; %s: %v): run .ci/parquet-test.sh", nodeErr, dir, pkgErr)
		if os.Getenv("HTTPLIFE_DUCKDB_REQUIRED") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// query runs named SQL statements in DuckDB and returns their rows.
func query(t *testing.T, tools string, qs map[string]string) map[string][]map[string]any {
	t.Helper()
	in, _ := json.Marshal(qs)
	cmd := exec.Command("node", "testdata/duckdb.cjs", tools)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb: %v: %s", err, stderr.String())
	}
	var res map[string][]map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("duckdb's output: %v: %.300s", err, out)
	}
	return res
}

// num reads a number DuckDB's JSON gives as a number or a string.
func num(t *testing.T, v any) float64 {
	t.Helper()
	switch x := v.(type) {
	case float64:
		return x
	case string:
		var f float64
		if _, err := fmt.Sscan(x, &f); err != nil {
			t.Fatalf("not a number: %q", x)
		}
		return f
	case nil:
		return math.NaN()
	}
	t.Fatalf("not a number: %#v", v)
	return 0
}

// jsonSummary is what the test compares of the JSON document.
type jsonSummary struct {
	Connections []struct {
		Close struct {
			Race *struct {
				Kind string `json:"kind"`
			} `json:"race"`
		} `json:"close"`
	} `json:"connections"`
	Summary struct {
		Connections  int            `json:"connections"`
		Transactions int            `json:"transactions"`
		Reasons      map[string]int `json:"reasons"`
		Races        int            `json:"keepalive_races"`
		Idle         struct {
			Count              int
			P50, P90, P99, Max float64
		} `json:"idle_s"`
		FinalIdle struct {
			Count              int
			P50, P90, P99, Max float64
		} `json:"final_idle_s"`
		TimeWait struct {
			Peak map[string]int `json:"peak_concurrent"`
		} `json:"time_wait"`
		ClosedBy struct {
			Reset int `json:"reset"`
		} `json:"closed_by"`
	} `json:"summary"`
}

func analyseJSON(t *testing.T, path string) jsonSummary {
	t.Helper()
	src, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	doc, _, err := pipeline.Analyse(src, pipeline.Config{TCP: tcpstate.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := render.WriteJSON(&b, doc); err != nil {
		t.Fatal(err)
	}
	var s jsonSummary
	if err := json.Unmarshal(b.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// The Parquet files of many captures, read by a real DuckDB through one
// glob per table, give the JSON's numbers, capture by capture:
// connections per close reason, resets, races by kind, transactions,
// idle-gap and final-idle percentiles, the most TIME_WAITs held at once
// per host.
func TestDuckDB(t *testing.T) {
	tools := duckDB(t)
	lake := t.TempDir()
	want := map[string]jsonSummary{}
	for _, p := range captures(t) {
		export(t, lake, p)
		want[strings.TrimPrefix(Partition(p), "capture=")] = analyseJSON(t, p)
	}
	c := fmt.Sprintf("read_parquet('%s/connections/*/*.parquet', hive_partitioning = true)", lake)
	tx := fmt.Sprintf("read_parquet('%s/transactions/*/*.parquet', hive_partitioning = true)", lake)
	idle := fmt.Sprintf("read_parquet('%s/idle_periods/*/*.parquet', hive_partitioning = true)", lake)
	pct := func(col, from string) string {
		return fmt.Sprintf(`SELECT capture, count(*) AS n, quantile_disc(%[1]s, 0.5) AS p50, quantile_disc(%[1]s, 0.9) AS p90,
			quantile_disc(%[1]s, 0.99) AS p99, max(%[1]s) AS mx FROM %[2]s WHERE %[1]s IS NOT NULL GROUP BY capture`, col, from)
	}
	res := query(t, tools, map[string]string{
		"reasons": "SELECT capture, reason, count(*) AS n FROM " + c + " GROUP BY ALL",
		"resets": "SELECT capture, count(*) AS n FROM " + c +
			" WHERE rst_by IS NOT NULL AND (reason = 'reset' OR first_fin_by IS NULL OR rst_at < first_fin_at) GROUP BY ALL",
		"races": "SELECT capture, race_kind, count(*) AS n FROM " + c + " WHERE reason = 'keepalive-race' GROUP BY ALL",
		"txs":   "SELECT capture, count(*) AS n, sum(CASE WHEN lost_to_race THEN 1 ELSE 0 END) AS lost FROM " + tx + " GROUP BY ALL",
		"idle":  pct("duration_s", idle),
		"final": pct("final_idle_s", c),
		"tw": `WITH h AS (
			SELECT capture, client_ip AS host, time_wait_entered_at AS s, time_wait_expires_at AS e FROM ` + c + ` WHERE time_wait_holder IN ('client', 'both')
			UNION ALL
			SELECT capture, server_ip, time_wait_entered_at, time_wait_expires_at FROM ` + c + ` WHERE time_wait_holder IN ('server', 'both')),
		ev AS (SELECT capture, host, s AS t, 1 AS d FROM h UNION ALL SELECT capture, host, e, -1 FROM h)
		SELECT capture, host, max(held) AS peak FROM (
			SELECT capture, host, sum(d) OVER (PARTITION BY capture, host ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS held FROM ev)
		GROUP BY ALL`,
	})
	got := map[string]map[string]float64{} // capture -> "what" -> value
	put := func(capture, what string, v float64) {
		if got[capture] == nil {
			got[capture] = map[string]float64{}
		}
		got[capture][what] = v
	}
	for _, r := range res["reasons"] {
		put(r["capture"].(string), "reason "+r["reason"].(string), num(t, r["n"]))
	}
	for _, r := range res["resets"] {
		put(r["capture"].(string), "resets", num(t, r["n"]))
	}
	for _, r := range res["races"] {
		put(r["capture"].(string), "race "+fmt.Sprint(r["race_kind"]), num(t, r["n"]))
	}
	for _, r := range res["txs"] {
		put(r["capture"].(string), "transactions", num(t, r["n"]))
		put(r["capture"].(string), "lost", num(t, r["lost"]))
	}
	for _, which := range []string{"idle", "final"} {
		for _, r := range res[which] {
			for _, k := range []string{"n", "p50", "p90", "p99", "mx"} {
				put(r["capture"].(string), which+" "+k, num(t, r[k]))
			}
		}
	}
	for _, r := range res["tw"] {
		put(r["capture"].(string), "tw "+r["host"].(string), num(t, r["peak"]))
	}
	checked := 0
	for name, s := range want {
		w := map[string]float64{}
		for reason, n := range s.Summary.Reasons {
			w["reason "+reason] = float64(n)
		}
		if s.Summary.ClosedBy.Reset > 0 {
			w["resets"] = float64(s.Summary.ClosedBy.Reset)
		}
		for _, c := range s.Connections {
			if c.Close.Race != nil {
				w["race "+c.Close.Race.Kind]++
			}
		}
		if s.Summary.Transactions > 0 {
			w["transactions"] = float64(s.Summary.Transactions)
			w["lost"] = float64(s.Summary.Races) // each race loses one request
		}
		if d := s.Summary.Idle; d.Count > 0 {
			w["idle n"], w["idle p50"], w["idle p90"], w["idle p99"], w["idle mx"] = float64(d.Count), d.P50, d.P90, d.P99, d.Max
		}
		if d := s.Summary.FinalIdle; d.Count > 0 {
			w["final n"], w["final p50"], w["final p90"], w["final p99"], w["final mx"] = float64(d.Count), d.P50, d.P90, d.P99, d.Max
		}
		for host, n := range s.Summary.TimeWait.Peak {
			w["tw "+host] = float64(n)
		}
		g := got[name]
		var keys []string
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, gok := g[k]
			wv, wok := w[k]
			// the JSON writes seconds to the microsecond
			if gok != wok || math.Abs(gv-wv) > 1e-6 {
				t.Errorf("%s: %s: DuckDB says %v (%v), the JSON %v (%v)", name, k, gv, gok, wv, wok)
			}
			checked++
		}
	}
	if checked < 100 {
		t.Errorf("only %d numbers compared", checked)
	}
	t.Logf("%d numbers of %d captures agree", checked, len(want))
}
