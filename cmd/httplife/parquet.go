package main

import (
	"errors"
	"fmt"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/metrics"
	"github.com/httplife/httplife/internal/parquet"
	"github.com/httplife/httplife/internal/pipeline"
)

// analyseParquet is analyse --format parquet -o DIR: each input named
// (a file with its rotated set, a directory, a quoted glob, "-") is a
// capture of its own, analysed on its own into its partition of DIR's
// three tables (docs/parquet.md), streamed as --format ndjson streams. So
// `analyse --format parquet -o lake/ cap-*.pcap` gives a partition per
// file. With --metrics, the metrics of them all go to one file.
func analyseParquet(o *analyseOptions) error {
	if o.Output == "" {
		return usageError{errors.New("--format parquet writes a directory of tables: give it with -o DIR")}
	}
	mt := o.startMetrics(nil)
	var total metrics.Capture
	var failed error
	for _, in := range o.Inputs {
		one := *o
		one.Inputs, one.Path = []string{in}, in
		res, err := parquetOne(&one, mt)
		if res != nil {
			ci := &res.Capture
			total.Packets += ci.Packets
			total.Duplicates += ci.Duplicates
			total.Evicted += ci.Evicted
			total.Opened += res.Table.Connections
			if ci.Dropped != nil {
				total.Dropped += *ci.Dropped
			}
			if ci.LastPacketAt.After(total.Clock) {
				total.Clock = ci.LastPacketAt
			}
		}
		var u usageError
		switch {
		case err == nil:
		case errors.As(err, &u) && len(o.Inputs) > 1:
			fmt.Fprintln(o.s.ErrOut, "httplife: warning:", err) // the others are written
			failed = err
		default:
			return err
		}
		if len(o.Inputs) == 1 && res != nil {
			mt.setServers(res.Summary.Servers)
		}
	}
	if err := mt.writeCapture(total); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	if failed != nil {
		return fmt.Errorf("%w (the other captures are written)", failed)
	}
	return nil
}

// parquetOne writes one capture's partition.
func parquetOne(o *analyseOptions, mt *analyseMetrics) (*pipeline.Result, error) {
	src, err := openSource(o)
	if err != nil {
		return nil, usageError{err}
	}
	defer src.Close()
	cfg, err := o.runConfig()
	if err != nil {
		return nil, err
	}
	if p := newProgress(o.s.ErrOut, o.Path); p != nil {
		cfg.Progress = p.update
		defer p.done()
	}
	mt.observe(&cfg)
	pw, err := parquet.Create(o.Output, o.Path)
	if err != nil {
		return nil, usageError{fmt.Errorf("-o %s: %w", o.Output, err)}
	}
	cfg.Transient = true // each record is written out, then forgotten
	var werr error
	res, rerr := pipeline.Run(src, cfg, func(c *httpflow.Connection) {
		if werr == nil {
			werr = pw.Add(c)
		}
	})
	if err := pw.Close(); werr == nil {
		werr = err
	}
	for _, w := range res.Capture.Warnings {
		fmt.Fprintln(o.s.ErrOut, "httplife: warning:", w)
	}
	if werr != nil {
		return res, fmt.Errorf("writing output: %w", werr)
	}
	if err := inputErr(src, rerr); err != nil {
		return res, fmt.Errorf("%s: %w (the tables cover everything before it)", o.Path, err)
	}
	return res, nil
}
