// Command httplife shows what happens to every HTTP connection in a packet
// capture. See README.md.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
)

// softMemoryLimit keeps the garbage collector's headroom small: the live
// heap follows the connections open at once, and without a limit the
// process would hold about twice that. It is a soft limit (the GOMEMLIMIT
// environment variable overrides it): past it the collector only runs
// more often. At 64 MiB the 1 GB bench capture (live heap up to ~25 MB)
// never reaches it, and its four appended copies, whose closed
// connections' TIME_WAIT records pile up across copies, stay as flat
// (peak RSS 76 and 78 MB; at 80 MiB, 75 and 93 MB).
const softMemoryLimit = 64 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(softMemoryLimit)
	}
	// HTTPLIFE_CPUPROFILE=FILE writes a CPU profile of the run (for
	// `go tool pprof`), for performance work and reports.
	if path := os.Getenv("HTTPLIFE_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "httplife: HTTPLIFE_CPUPROFILE:", err)
			os.Exit(exitUsage)
		}
		code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		pprof.StopCPUProfile()
		f.Close()
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
