package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// result is one program measured on one file.
type result struct {
	name       string
	argv       []string
	keepStdout bool          // else stdout goes to /dev/null
	env        []string      // added to the environment
	best       time.Duration // best wall time over the runs
	bestCPU    time.Duration // best user + system CPU time over the runs
	peakKiB    int64         // largest ru_maxrss over the runs
	stdout     string        // of the last run, when kept
	err        error
}

// measure runs each program n times, taking turns so that a busy moment
// of the machine does not fall on one program's runs only.
func measure(ctx context.Context, rs []result, n int) {
	for i := 1; i <= n; i++ {
		for j := range rs {
			if r := &rs[j]; r.err == nil {
				progress("%s run %d/%d: %.3f s", r.name, i, n, r.runOnce(ctx).Seconds())
			}
		}
	}
}

func (r *result) runOnce(ctx context.Context) time.Duration {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, r.argv[0], r.argv[1:]...)
	if len(r.env) > 0 {
		cmd.Env = append(os.Environ(), r.env...)
	}
	if r.keepStdout {
		cmd.Stdout = &stdout // nil would be /dev/null
	}
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		r.err = fmt.Errorf("%s: %v: %s", strings.Join(r.argv, " "), err, tail(stderr.String(), 400))
		return wall
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.peakKiB = max(r.peakKiB, ru.Maxrss) // KiB on Linux
	}
	if cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(); r.bestCPU == 0 || cpu < r.bestCPU {
		r.bestCPU = cpu
	}
	if r.best == 0 || wall < r.best {
		r.best = wall
	}
	r.stdout = stdout.String()
	return wall
}

// warm reads the file once so every program finds it in the page cache.
func warm(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.CopyBuffer(io.Discard, f, make([]byte, 1<<20))
}

// lastLine runs argv once, untimed, and returns the last line it prints.
func lastLine(ctx context.Context, argv []string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	last := ""
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		last = sc.Text()
	}
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, tail(stderr.String(), 400))
	}
	return last, sc.Err()
}

// machine describes the host in one line.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 && f[0] == "MemTotal:" {
			kib, _ := strconv.ParseFloat(f[1], 64)
			mem = fmt.Sprintf("%.1f GiB", kib/(1<<20))
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("nproc %d, %s, %s RAM, Linux %s, %s",
		runtime.NumCPU(), cpu, mem, strings.TrimSpace(string(kernel)), runtime.Version())
}

// loadavg is the 1-minute load average.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// version is the first line a program prints about its version.
func version(ctx context.Context, argv ...string) string {
	out, _ := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "Running as user") {
			return line
		}
	}
	return argv[0] + " (version unknown)"
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// commas formats 1234567 as 1,234,567.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func mb(kib int64) float64 { return float64(kib) * 1024 / 1e6 }

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "httplife-bench: "+format+"\n", args...)
}
