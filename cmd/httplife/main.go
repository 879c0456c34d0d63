// Command httplife shows what happens to every HTTP connection in a packet
// capture. See README.md.
package main

import (
	"os"
	"runtime/debug"
)

// softMemoryLimit keeps the garbage collector's headroom small: the live
// heap follows the connections open at once, and without a limit the
// process would hold about twice that. It is a soft limit (the GOMEMLIMIT
// environment variable overrides it): past it the collector only runs
// more often.
const softMemoryLimit = 80 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(softMemoryLimit)
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
