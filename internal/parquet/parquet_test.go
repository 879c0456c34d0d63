package parquet

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/pipeline"
	"github.com/httplife/httplife/tcpstate"
)

func captures(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, g := range []string{"../../samples/*.pcap", "../../samples/field/*.pcap*", "../../../shared/corpus/*.pcap", "../../../shared/corpus/*.pcapng"} {
		m, _ := filepath.Glob(g)
		for _, p := range m {
			if !strings.HasSuffix(p, ".json") {
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no captures found")
	}
	return out
}

// export writes a capture's partition into lake as analyse --format
// parquet does (transient records, emitted once each) and returns the
// records as the JSON document has them (in id order) and the run.
func export(t *testing.T, lake, path string) ([]httpflow.Connection, *pipeline.Result) {
	t.Helper()
	src, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Create(lake, path)
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	if _, err := pipeline.Run(src, pipeline.Config{TCP: tcpstate.DefaultConfig(), Transient: true}, func(c *httpflow.Connection) {
		if werr == nil {
			werr = w.Add(c)
		}
	}); err != nil {
		t.Fatal(err)
	}
	src.Close()
	if err := w.Close(); werr != nil || err != nil {
		t.Fatalf("writing %s: %v %v", path, werr, err)
	}
	src, err = capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	doc, res, err := pipeline.Analyse(src, pipeline.Config{TCP: tcpstate.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	return doc.Connections, res
}

func read[T any](t *testing.T, lake, table, file, path string) []T {
	t.Helper()
	rows, err := pq.ReadFile[T](filepath.Join(lake, table, Partition(path), file))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "null"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func f64(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprintf("%.9f", *p)
}

// Each table reads back with a row for every connection, transaction and
// idle gap of every sample, field and corpus capture, each row saying what
// the record says: endpoints split, times to the nanosecond, durations in
// seconds, nulls where the record has none.
func TestRoundTrip(t *testing.T) {
	lake := t.TempDir()
	for _, p := range captures(t) {
		t.Run(filepath.Base(p), func(t *testing.T) {
			recs, _ := export(t, lake, p)
			conns := read[ConnectionRow](t, lake, ConnectionsTable, ConnectionsFile, p)
			txs := read[TransactionRow](t, lake, TransactionsTable, TransactionsFile, p)
			idles := read[IdleRow](t, lake, IdlePeriodsTable, IdlePeriodsFile, p)
			byID := map[int64]*ConnectionRow{}
			for i := range conns {
				byID[conns[i].ID] = &conns[i]
			}
			if len(conns) != len(recs) {
				t.Fatalf("%d connection rows, %d records", len(conns), len(recs))
			}
			nTx, nIdle := 0, 0
			for i := range recs {
				c := &recs[i]
				r := byID[int64(c.ID)]
				if r == nil {
					t.Errorf("no row for connection %d", c.ID)
					continue
				}
				nTx += len(c.Transactions)
				nIdle += len(c.IdlePeriods)
				var finalIdle *float64
				if c.FinalIdle != nil {
					finalIdle = ptr(c.FinalIdle.Duration.Seconds())
				}
				race, tw := "null", "null"
				if c.Close.Race != nil {
					race = c.Close.Race.Kind.String()
				}
				if c.TimeWait != nil {
					tw = c.TimeWait.Holder.String() + " " + ts(c.TimeWait.EnteredAt) + " " + ts(c.TimeWait.ExpiresAt)
				}
				want := fmt.Sprintln(p, c.Client.Addr(), c.Client.Port(), c.Server.Addr(), c.Server.Port(), ts(c.FirstPacketAt), ts(c.LastPacketAt),
					c.Close.Reason, c.Close.FirstFinBy, ts(c.Close.FirstFinAt), c.Close.RstBy, ts(c.Close.RstAt), race, tw, f64(finalIdle),
					len(c.Transactions), len(c.IdlePeriods), c.Packets.Client, c.Packets.Server, c.History, fmt.Sprint(c.Anomalies),
					capture.CommunityID(c.Client, c.Server, 6))
				orNull := func(s string) string {
					if s == "" {
						return "null"
					}
					return s
				}
				rtw := "null"
				if r.TimeWaitHolder != "" {
					rtw = r.TimeWaitHolder + " " + ts(r.TimeWaitEnteredAt) + " " + ts(r.TimeWaitExpiresAt)
				}
				got := fmt.Sprintln(r.CaptureSource, r.ClientIP, r.ClientPort, r.ServerIP, r.ServerPort, ts(r.FirstPacketAt), ts(r.LastPacketAt),
					r.Reason, r.FirstFinBy, ts(r.FirstFinAt), r.RstBy, ts(r.RstAt), orNull(r.RaceKind), rtw, f64(r.FinalIdleS),
					r.Transactions, r.IdlePeriods, r.PacketsClient, r.PacketsServer, r.History, fmt.Sprint(r.Anomalies), r.CommunityID)
				if got != want {
					t.Errorf("connection %d:\n row %s\nwant %s", c.ID, got, want)
				}
			}
			if len(txs) != nTx || len(idles) != nIdle {
				t.Errorf("%d transaction rows and %d idle rows; the records have %d and %d", len(txs), len(idles), nTx, nIdle)
			}
			byTx := map[[2]int64]*TransactionRow{}
			for i := range txs {
				byTx[[2]int64{txs[i].ConnectionID, int64(txs[i].Index)}] = &txs[i]
			}
			for i := range recs {
				c := &recs[i]
				for k := range c.Transactions {
					tx := &c.Transactions[k]
					r := byTx[[2]int64{int64(c.ID), int64(tx.Index)}]
					if r == nil {
						t.Errorf("no row for transaction %d of connection %d", tx.Index, c.ID)
						continue
					}
					lost := c.Close.Race != nil && c.Close.Race.Transaction == tx.Index
					if r.Method != tx.Method || r.URI != tx.URI || int(r.Status) != tx.Status || r.ResponseBytes != tx.ResponseBytes ||
						ts(r.RequestStartAt) != ts(tx.RequestStartAt) || ts(r.ResponseEndAt) != ts(tx.ResponseEndAt) ||
						r.LostToRace != lost || r.ResponseFraming != tx.Framing.String() || r.Complete != tx.Complete ||
						fmt.Sprint(r.RequestConnection != nil) != fmt.Sprint(tx.RequestConnection != nil) {
						t.Errorf("connection %d transaction %d: row %+v, record %+v", c.ID, tx.Index, r, tx)
					}
				}
			}
			var sum, want float64
			for i := range idles {
				sum += idles[i].DurationS
			}
			for i := range recs {
				for _, p := range recs[i].IdlePeriods {
					want += p.Duration.Seconds()
				}
			}
			if math.Abs(sum-want) > 1e-6 {
				t.Errorf("idle durations sum to %v, the records' to %v", sum, want)
			}
		})
	}
}

// Partition names are safe directory names.
func TestPartition(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"cap-1.pcap", "capture=cap-1.pcap"},
		{"/data/captures/node a/cap 2.pcapng.gz", "capture=cap_2.pcapng.gz"},
		{"-", "capture=stdin"},
		{"", "capture=stdin"},
		{".hidden.pcap", "capture=_hidden.pcap"},
		{"x=y/../é.pcap", "capture=__.pcap"},
	} {
		if got := Partition(c.in); got != c.want {
			t.Errorf("Partition(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// docs/parquet.md documents every column of every table, in order, with
// its type and whether it can be null.
func TestSchemaDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/parquet.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([a-z_0-9]+)` \\| ([A-Z()]+) \\| (yes|no) \\|")
	tables := map[string][]string{}
	var cur string
	for _, l := range strings.Split(string(doc), "\n") {
		if h, ok := strings.CutPrefix(l, "## "); ok {
			cur = h
		}
		if m := row.FindStringSubmatch(l); m != nil {
			tables[cur] = append(tables[cur], m[1]+" "+m[2]+" "+m[3])
		}
	}
	for file, model := range map[string]any{ConnectionsFile: ConnectionRow{}, TransactionsFile: TransactionRow{}, IdlePeriodsFile: IdleRow{}} {
		var want []string
		for _, f := range pq.SchemaOf(model).Fields() {
			want = append(want, f.Name()+" "+docType(f)+" "+map[bool]string{true: "yes", false: "no"}[f.Optional()])
		}
		if got := tables[file]; strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("docs/parquet.md, %s:\n%s\nthe schema:\n%s", file, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// docType names a column's type as the docs do (DuckDB's names).
func docType(f pq.Field) string {
	if lt := f.Type().LogicalType(); lt != nil {
		switch lt.Value.(type) {
		case *format.ListType:
			return "LIST(" + docType(f.Fields()[0].Fields()[0]) + ")"
		case *format.TimestampType:
			return "TIMESTAMP"
		case *format.StringType:
			return "VARCHAR"
		}
	}
	switch f.Type().Kind() {
	case pq.Boolean:
		return "BOOLEAN"
	case pq.Int32:
		return "INTEGER"
	case pq.Int64:
		return "BIGINT"
	case pq.Double:
		return "DOUBLE"
	}
	return f.Type().String()
}

// The writer's memory stays flat: over 60,000 connections of 20
// transactions each, the heap's peak in the last 10,000 stays where it was
// between 10,000 and 20,000 (by then every table wrote a row group). The
// heap swings by 10 MiB as row groups fill and flush, so peaks over a
// window are compared, not single readings.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("a million rows")
	}
	w, err := Create(t.TempDir(), "big.pcap")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := &httpflow.Connection{Client: mustAP("10.0.0.1:40000"), Server: mustAP("192.0.2.1:80"),
		Close: httpflow.Close{Reason: httpflow.ReasonServerIdleTimeout, FirstFinBy: httpflow.Server}}
	for k := 0; k < 20; k++ {
		c.Transactions = append(c.Transactions, httpflow.Transaction{Index: k + 1, Method: "GET", URI: fmt.Sprintf("/item/%d", k), Status: 200})
		c.IdlePeriods = append(c.IdlePeriods, httpflow.Idle{AfterTransaction: k + 1, Duration: time.Duration(k) * time.Millisecond})
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	var early, late uint64
	for i := 0; i < 60000; i++ {
		c.ID = i + 1
		c.FirstPacketAt = base.Add(time.Duration(i) * time.Millisecond)
		c.LastPacketAt = c.FirstPacketAt.Add(time.Second)
		for k := range c.Transactions {
			c.Transactions[k].RequestStartAt = c.FirstPacketAt.Add(time.Duration(k) * time.Millisecond)
		}
		if err := w.Add(c); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			switch {
			case i >= 10000 && i < 20000: // every table past its first row group
				early = max(early, heap())
			case i >= 50000:
				late = max(late, heap())
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("heap peak %d MiB over connections 10,000-20,000, %d MiB over 50,000-60,000", early>>20, late>>20)
	if late > early+8<<20 {
		t.Errorf("heap's peak grew from %d MiB to %d MiB", early>>20, late>>20)
	}
	f, err := os.Open(w.Files()[1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	pf, err := pq.OpenFile(f, fi.Size())
	if err != nil || pf.NumRows() != 60000*20 || len(pf.RowGroups()) < 60000*20/int(RowGroupRows) {
		t.Errorf("transactions file: %v, %d rows in %d row groups; want %d rows in groups of at most %d", err, pf.NumRows(), len(pf.RowGroups()), 60000*20, RowGroupRows)
	}
}

// A failed write leaves no file: Close reports it and removes the
// temporary files.
func TestNothingLeftOnError(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, "x.pcap")
	if err != nil {
		t.Fatal(err)
	}
	w.conns.f.Close() // the next write fails
	c := &httpflow.Connection{ID: 1, Client: mustAP("10.0.0.1:1"), Server: mustAP("10.0.0.2:80")}
	for i := 0; i < 2*batch; i++ {
		w.Add(c)
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after a failed write: no error")
	}
	var left []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("files left after a failed export: %v", left)
	}
	f := filepath.Join(dir, "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := Create(f, "y"); err == nil {
		t.Error("Create under a file: no error")
	}
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
