package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the analysis ran but the input could not be read to the end
	exitUsage = 2 // bad flags, or a file that cannot be opened or is not a capture
)

// usageError marks errors that exit with exitUsage.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// streams are the command's standard streams, injected for tests.
type streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

func newCmdRoot(s *streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "httplife",
		Short:         "What really happens to every HTTP connection in a packet capture",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newCmdAnalyse(s, nil),
		newCmdAdvise(s, nil),
		newCmdReport(s, nil),
		newCmdWatch(s, nil),
	)
	return root
}

func run(args []string, in io.Reader, out, errOut io.Writer) int {
	s := &streams{In: in, Out: out, ErrOut: errOut}
	root := newCmdRoot(s)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(errOut, "httplife:", err)
	var u usageError
	if errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown command") {
		return exitUsage
	}
	return exitError
}
