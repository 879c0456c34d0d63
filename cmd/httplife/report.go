package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// newCmdReport is `httplife report CAPTURE -o report.html`: analyse with
// --format html, writing to a file by default.
func newCmdReport(s *streams, runF func(*analyseOptions) error) *cobra.Command {
	cmd := newCmdAnalyse(s, runF)
	cmd.Use = "report [flags] CAPTURE... [FILTER EXPRESSION]"
	cmd.Aliases = nil
	cmd.Short = "Write a self-contained HTML timeline report of a capture"
	cmd.Long = `Analyses a capture like "httplife analyse" and writes one self-contained
HTML file (no network access needed to open it): the connection timeline,
keep-alive idle histograms, who closed and why, requests per connection,
open, idle and TIME_WAIT connections over time, and a table of connections.

` + inputsHelp
	cmd.Example = `  httplife report capture.pcap -o report.html
  httplife report --ports 8080 capture.pcapng.gz -o -   # to standard output
  httplife report -o day.html 'cap-*.pcap' tcp port 443`
	f := cmd.Flags()
	f.Lookup("format").DefValue = "html"
	f.Set("format", "html")
	f.Lookup("output").DefValue = "report.html"
	f.Set("output", "report.html")
	f.MarkHidden("format")
	inner := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if inner != nil {
			if err := inner(c, args); err != nil {
				return err
			}
		}
		if v, _ := c.Flags().GetString("format"); v != "html" {
			return usageError{fmt.Errorf("report writes HTML; use analyse for --format %s", v)}
		}
		if o, _ := c.Flags().GetString("output"); strings.TrimSpace(o) == "-" {
			c.Flags().Set("output", "")
		}
		return nil
	}
	return cmd
}
