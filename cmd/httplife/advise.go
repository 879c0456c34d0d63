package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/httplife/httplife/internal/pipeline"
	"github.com/httplife/httplife/internal/summary"
	"github.com/httplife/httplife/render"
)

// adviseOptions holds the parsed flags of `httplife advise`: the analysis
// flags analyse has, and text or json.
type adviseOptions struct {
	analyseOptions
}

// newCmdAdvise is `httplife advise CAPTURE`: the findings, each server's
// timeouts in force and what-if table, and the advice, alone.
func newCmdAdvise(s *streams, runF func(*adviseOptions) error) *cobra.Command {
	opts := &adviseOptions{analyseOptions{s: s}}
	var ports, serverPorts string
	in := &inputFlags{}
	cmd := &cobra.Command{
		Use:   "advise [flags] CAPTURE... [FILTER EXPRESSION]",
		Short: "Say which timeouts are out of order and what to set, from a capture",
		Long: `Analyses a capture like "httplife analyse" and prints only the answers: for
each server endpoint the idle timeout in force (inferred from the
connections it closed while idle) beside the one it advertised, its clients'
idle closes, its keep-alive races by kind, the proxy legs behind them, and
a what-if table that replays the capture's own requests against other idle
timeouts (handshakes, idle connections held, TIME_WAIT, races); then the
advice, most important first, each with its numbers and connection ids.

` + inputsHelp,
		Example: `  httplife advise capture.pcap
  httplife advise --format json --ports 8080 capture.pcapng.gz`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.inputs("advise", in, args); err != nil {
				return usageError{err}
			}
			if opts.Format != "text" && opts.Format != "json" {
				return usageError{fmt.Errorf("--format %q: want text or json", opts.Format)}
			}
			if err := opts.parse(ports, serverPorts); err != nil {
				return usageError{err}
			}
			if runF != nil {
				return runF(opts)
			}
			return adviseRun(opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Format, "format", "f", "text", "output format: text or json")
	f.StringVarP(&opts.Output, "output", "o", "", "write to this file instead of standard output")
	addInputFlags(f, &opts.analyseOptions, in)
	addAnalysisFlags(f, &opts.analyseOptions, &ports, &serverPorts)
	return cmd
}

func adviseRun(o *adviseOptions) error {
	src, err := openSource(&o.analyseOptions)
	if err != nil {
		return usageError{err}
	}
	defer src.Close()
	out := o.s.Out
	if o.Output != "" {
		f, err := os.Create(o.Output)
		if err != nil {
			return usageError{err}
		}
		defer f.Close()
		out = f
	}
	bw := bufio.NewWriterSize(out, 1<<16)
	defer bw.Flush()
	cfg, err := o.runConfig()
	if err != nil {
		return err
	}
	if p := newProgress(o.s.ErrOut, o.Path); p != nil {
		cfg.Progress = p.update
		defer p.done()
	}
	cfg.Transient = true
	cfg.Summary = summary.Config{}
	res, rerr := pipeline.Run(src, cfg, nil)
	var werr error
	if o.Format == "json" {
		werr = render.WriteAdviceJSON(bw, res.Digest())
	} else {
		werr = render.WriteAdvice(bw, res.Digest())
	}
	return finish(&o.analyseOptions, res.Capture.Warnings, inputErr(src, rerr), werr, bw)
}
