// Command httplife shows what happens to every HTTP connection in a packet
// capture. See README.md.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

func main() {
	limitMemory()
	// For performance work and reports: HTTPLIFE_CPUPROFILE=FILE writes a
	// CPU profile of the run (for `go tool pprof`), HTTPLIFE_TRACE=FILE an
	// execution trace (for `go tool trace`: which stage waits for which).
	// HTTPLIFE_MEMPROFILE=FILE writes the heap profile at the end (its
	// alloc_space view says what allocated the most).
	stop, err := startProfiles(os.Getenv("HTTPLIFE_CPUPROFILE"), os.Getenv("HTTPLIFE_TRACE"), os.Getenv("HTTPLIFE_MEMPROFILE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "httplife:", err)
		os.Exit(exitUsage)
	}
	code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// startProfiles starts the CPU profile and the execution trace asked for
// (empty paths: none) and returns what stops them.
func startProfiles(cpuPath, tracePath, memPath string) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			return stop, fmt.Errorf("HTTPLIFE_CPUPROFILE: %w", err)
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if tracePath != "" {
		f, err := os.Create(tracePath)
		if err == nil {
			err = trace.Start(f)
		}
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("HTTPLIFE_TRACE: %w", err)
		}
		stops = append(stops, func() { trace.Stop(); f.Close() })
	}
	if memPath != "" {
		f, err := os.Create(memPath)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("HTTPLIFE_MEMPROFILE: %w", err)
		}
		stops = append(stops, func() { pprof.Lookup("allocs").WriteTo(f, 0); f.Close() })
	}
	return stop, nil
}
