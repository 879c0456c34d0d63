// Package parquet writes connection records as flat, typed Parquet
// tables: analyse --format parquet -o DIR.
//
// In: finished connection records (Writer.Add, one at a time, in any
// order; a record may be reused once Add returns) of one capture. Out,
// three tables, each a directory of DIR with the capture's partition in
// it (NAME: the capture's file name, made safe):
//
//	DIR/connections/capture=NAME/connections.parquet    a row per connection
//	DIR/transactions/capture=NAME/transactions.parquet  a row per request/response
//	DIR/idle_periods/capture=NAME/idle_periods.parquet  a row per keep-alive idle gap
//
// their columns documented in docs/parquet.md. Each row carries the
// capture's source and the connection's community_id (the join key of
// Zeek, Suricata, Arkime and Elastic logs) and id. Captures written to the
// same DIR are partitions of the same three tables (Hive-style: the
// partition column is "capture"), which one glob each reads
// (DIR/connections/*/*.parquet) and which Spark, Trino or Hive take as
// partitioned tables rooted at DIR/connections, ....
//
// Streaming: rows are written in row groups of at most RowGroupRows rows,
// so memory stays flat however big the capture. The files are written
// under temporary names and renamed when Close succeeds: a partition is
// whole or absent.
package parquet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	pq "github.com/parquet-go/parquet-go"

	"github.com/httplife/httplife/httpflow"
)

// The table files of a partition.
const (
	ConnectionsFile  = "connections.parquet"
	TransactionsFile = "transactions.parquet"
	IdlePeriodsFile  = "idle_periods.parquet"
)

// RowGroupRows bounds the rows of a row group (what a writer holds in
// memory before it writes them out).
var RowGroupRows int64 = 16384

// batch is the rows handed to parquet-go per Write call.
const batch = 256

// Partition returns the directory name of a capture's partition:
// capture=NAME, NAME the source's base name with any byte other than
// letters, digits, '.', '-' and '_' replaced by '_' ("stdin" for "-").
func Partition(source string) string {
	name := filepath.Base(source)
	if source == "-" || source == "" || name == "." || name == "/" {
		name = "stdin"
	}
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if b[0] == '.' {
		b[0] = '_' // no hidden directories (engines skip them)
	}
	return "capture=" + string(b)
}

// table is one file being written.
type table[T any] struct {
	path string // final path
	f    *os.File
	w    *pq.GenericWriter[T]
	rows []T
	err  error
}

func newTable[T any](dir, name, source string) (*table[T], error) {
	t := &table[T]{path: filepath.Join(dir, name), rows: make([]T, 0, batch)}
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return nil, err
	}
	t.f = f
	t.w = pq.NewGenericWriter[T](f, pq.Compression(&pq.Snappy), pq.MaxRowsPerRowGroup(RowGroupRows),
		pq.CreatedBy("httplife", "", ""), pq.KeyValueMetadata("httplife.capture_source", source),
		pq.KeyValueMetadata("httplife.schema", "httplife-parquet/v1"))
	return t, nil
}

// next returns the next row to fill, writing the batch out when full.
func (t *table[T]) next() *T {
	if len(t.rows) == cap(t.rows) {
		t.flush()
	}
	t.rows = t.rows[:len(t.rows)+1]
	return &t.rows[len(t.rows)-1]
}

func (t *table[T]) flush() {
	if len(t.rows) > 0 && t.err == nil {
		_, t.err = t.w.Write(t.rows)
	}
	clear(t.rows) // let go of what the rows point to
	t.rows = t.rows[:0]
}

func (t *table[T]) close() error {
	t.flush()
	if err := t.w.Close(); t.err == nil {
		t.err = err
	}
	if err := t.f.Close(); t.err == nil {
		t.err = err
	}
	return t.err
}

// Writer writes one capture's partition.
type Writer struct {
	dir    string // the data set's
	source string
	conns  *table[ConnectionRow]
	txs    *table[TransactionRow]
	idles  *table[IdlePeriodRow]
	n      int
}

// IdlePeriodRow is IdleRow (the name of idle_periods.parquet's rows).
type IdlePeriodRow = IdleRow

// The tables: the directories of DIR.
const (
	ConnectionsTable  = "connections"
	TransactionsTable = "transactions"
	IdlePeriodsTable  = "idle_periods"
)

// Create makes the capture's partition directories in dir and starts its
// three files. A partition already there is replaced when Close succeeds.
func Create(dir, source string) (*Writer, error) {
	w := &Writer{dir: dir, source: source}
	part := func(table string) (string, error) {
		p := filepath.Join(dir, table, Partition(source))
		return p, os.MkdirAll(p, 0o755)
	}
	p, err := part(ConnectionsTable)
	if err == nil {
		w.conns, err = newTable[ConnectionRow](p, ConnectionsFile, source)
	}
	if err == nil {
		if p, err = part(TransactionsTable); err == nil {
			w.txs, err = newTable[TransactionRow](p, TransactionsFile, source)
		}
	}
	if err == nil {
		if p, err = part(IdlePeriodsTable); err == nil {
			w.idles, err = newTable[IdleRow](p, IdlePeriodsFile, source)
		}
	}
	if err != nil {
		w.abort()
		return nil, err
	}
	return w, nil
}

// Files are the three files the writer writes (there once Close
// succeeded).
func (w *Writer) Files() []string { return []string{w.conns.path, w.txs.path, w.idles.path} }

// Add writes the rows of one connection.
func (w *Writer) Add(c *httpflow.Connection) error {
	w.n++
	cid := communityID(c)
	cr := w.conns.next()
	connectionRow(cr, w.source, cid, c)
	base := TransactionRow{CaptureSource: w.source, ConnectionID: cr.ID, CommunityID: cid,
		ClientIP: cr.ClientIP, ClientPort: cr.ClientPort, ServerIP: cr.ServerIP, ServerPort: cr.ServerPort}
	race := 0
	if r := c.Close.Race; r != nil {
		race = r.Transaction
	}
	for i := range c.Transactions {
		transactionRow(w.txs.next(), &base, &c.Transactions[i], race)
	}
	for _, p := range c.IdlePeriods {
		*w.idles.next() = IdleRow{CaptureSource: w.source, ConnectionID: cr.ID, CommunityID: cid,
			ClientIP: cr.ClientIP, ClientPort: cr.ClientPort, ServerIP: cr.ServerIP, ServerPort: cr.ServerPort,
			AfterTransaction: int32(p.AfterTransaction), StartAt: p.StartAt.UTC(), EndAt: p.EndAt.UTC(), DurationS: p.Duration.Seconds()}
	}
	return errors.Join(w.conns.err, w.txs.err, w.idles.err)
}

// Connections is the number of connections added.
func (w *Writer) Connections() int { return w.n }

// Close finishes the three files and renames them into place; on an error
// none is left.
func (w *Writer) Close() error {
	err := errors.Join(w.conns.close(), w.txs.close(), w.idles.close())
	if err != nil {
		w.abort()
		return fmt.Errorf("writing %s: %w", w.dir, err)
	}
	for _, t := range []struct{ tmp, path string }{{w.conns.f.Name(), w.conns.path}, {w.txs.f.Name(), w.txs.path}, {w.idles.f.Name(), w.idles.path}} {
		if err := os.Chmod(t.tmp, 0o644); err != nil {
			w.abort()
			return err
		}
		if err := os.Rename(t.tmp, t.path); err != nil {
			w.abort()
			return err
		}
	}
	return nil
}

// abort removes the temporary files.
func (w *Writer) abort() {
	for _, f := range []string{tmpName(w.conns), tmpName(w.txs), tmpName(w.idles)} {
		if f != "" && strings.HasSuffix(f, ".tmp") {
			os.Remove(f)
		}
	}
}

func tmpName[T any](t *table[T]) string {
	if t == nil || t.f == nil {
		return ""
	}
	return t.f.Name()
}
