package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const serverAddr = "127.0.0.1:18390"

// nginxConf is relative to nginx's prefix, the temporary directory.
const nginxConf = `daemon off;
worker_processes 2;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout 65;
    client_body_temp_path body;
    proxy_temp_path proxy;
    fastcgi_temp_path fastcgi;
    uwsgi_temp_path uwsgi;
    scgi_temp_path scgi;
    server {
        listen ` + serverAddr + `;
        root www;
    }
}
`

// makeCapture records real traffic on loopback into cfg.out: nginx serving a
// static file of cfg.body bytes to wrk (keep-alive) and ab (one connection
// per request) at the same time. It returns lines describing what happened
// and the packets tcpdump reported dropped by the kernel.
func makeCapture(ctx context.Context, cfg config, dir string) (lines []string, dropped int, err error) {
	if c, err := net.DialTimeout("tcp", serverAddr, 300*time.Millisecond); err == nil {
		c.Close()
		return nil, 0, fmt.Errorf("%s is already in use", serverAddr)
	}
	if err := os.MkdirAll(filepath.Join(dir, "www"), 0o755); err != nil {
		return nil, 0, err
	}
	body := bytes.Repeat([]byte("httplife\n"), cfg.body/9+1)[:cfg.body]
	conf := filepath.Join(dir, "nginx.conf")
	for _, err := range []error{
		os.Chmod(dir, 0o755), // nginx's workers do not run as root
		os.WriteFile(filepath.Join(dir, "www", "body.bin"), body, 0o644),
		os.WriteFile(conf, []byte(nginxConf), 0o644),
		os.MkdirAll(filepath.Dir(cfg.out), 0o755),
	} {
		if err != nil {
			return nil, 0, err
		}
	}

	nginx := exec.Command("nginx", "-p", dir+"/", "-c", conf, "-e", filepath.Join(dir, "error.log"))
	if err := nginx.Start(); err != nil {
		return nil, 0, err
	}
	defer stop(nginx, syscall.SIGTERM)
	if !waitListening(serverAddr, 5*time.Second) {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return nil, 0, fmt.Errorf("nginx did not start listening on %s: %s", serverAddr, tail(string(log), 400))
	}

	// Not --immediate-mode: libpcap then uses TPACKET_V3, whose ring packs
	// packets tightly instead of one snaplen-sized slot each, and SCHED_FIFO
	// keeps tcpdump ahead of the load (it needs little CPU, but promptly).
	tcpdumpArgs := []string{"tcpdump", "-i", "lo", "-s", "0", "-B", "131072", "-U", "-n", "-w", cfg.out}
	if os.Geteuid() == 0 {
		tcpdumpArgs = append(tcpdumpArgs, "-Z", "root") // else it drops to user tcpdump before opening the file
		if _, err := exec.LookPath("chrt"); err == nil {
			tcpdumpArgs = append([]string{"chrt", "-f", "50"}, tcpdumpArgs...)
		}
	}
	tcpdumpArgs = append(tcpdumpArgs, "tcp port 18390")
	_ = os.Remove(cfg.out)
	syscall.Sync() // no writeback of older files competing with the capture
	tcpdump := exec.Command(tcpdumpArgs[0], tcpdumpArgs[1:]...)
	stderr, err := tcpdump.StderrPipe()
	if err != nil {
		return nil, 0, err
	}
	if err := tcpdump.Start(); err != nil {
		return nil, 0, err
	}
	var tcpdumpLines []string
	listening, tcpdumpDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(tcpdumpDone)
		sc := bufio.NewScanner(stderr)
		for seen := false; sc.Scan(); {
			if !seen && strings.Contains(sc.Text(), "listening on") {
				seen = true
				close(listening)
			}
			tcpdumpLines = append(tcpdumpLines, sc.Text())
		}
	}()
	stopTcpdump := func() {
		_ = tcpdump.Process.Signal(syscall.SIGINT)
		select {
		case <-tcpdumpDone:
		case <-time.After(30 * time.Second):
			_ = tcpdump.Process.Kill()
			<-tcpdumpDone
		}
		_ = tcpdump.Wait()
	}
	select {
	case <-listening:
	case <-tcpdumpDone:
		_ = tcpdump.Wait()
		return nil, 0, fmt.Errorf("tcpdump: %s", strings.Join(tcpdumpLines, "; "))
	case <-time.After(10 * time.Second):
		stopTcpdump()
		return nil, 0, fmt.Errorf("tcpdump did not start: %s", strings.Join(tcpdumpLines, "; "))
	}

	url := "http://" + serverAddr + "/body.bin"
	wrkArgs := []string{"wrk", "-c", "64", "-t", "2", "-d", fmt.Sprintf("%ds", int(cfg.duration.Seconds())), url}
	abArgs := []string{"ab", "-q", "-n", fmt.Sprint(cfg.abRequests), "-c", "16", url}
	progress("traffic until the file has %d bytes or for %s: %s & %s", cfg.size, cfg.duration,
		strings.Join(wrkArgs, " "), strings.Join(abArgs, " "))
	loadCtx, cancel := context.WithTimeout(ctx, cfg.duration+2*time.Minute)
	defer cancel()
	var wrkOut, abOut bytes.Buffer
	wrk, wrkDone := startLoad(loadCtx, wrkArgs, &wrkOut)
	_, abDone := startLoad(loadCtx, abArgs, &abOut)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var wrkErr error
load:
	for {
		select {
		case wrkErr = <-wrkDone:
			break load
		case <-tick.C:
			if fi, err := os.Stat(cfg.out); err == nil && fi.Size() >= cfg.size && wrk.Process != nil {
				_ = wrk.Process.Signal(os.Interrupt) // wrk stops and prints its results
			}
		}
	}
	if wrkErr != nil {
		fmt.Fprintf(&wrkOut, "\nerror: %v", wrkErr)
	}
	if err := <-abDone; err != nil {
		fmt.Fprintf(&abOut, "\nerror: %v", err)
	}
	waitQuiet(cfg.out) // tcpdump may still be emptying its ring
	stopTcpdump()
	if ctx.Err() != nil {
		return nil, 0, ctx.Err()
	}

	for _, line := range tcpdumpLines {
		if strings.HasSuffix(line, "packets dropped by kernel") {
			fmt.Sscan(line, &dropped)
		}
	}
	lines = []string{
		"traffic   " + strings.Join(wrkArgs, " ") + ": " + pick(wrkOut.String(), "requests in", "Socket errors", "Non-2xx", "error:"),
		"          " + strings.Join(abArgs, " ") + ": " + pick(abOut.String(), "Time taken", "Complete requests", "Failed requests", "error:"),
		"tcpdump   " + strings.Join(tcpdumpArgs, " ") + ": " + pick(strings.Join(tcpdumpLines, "\n"), "packets"),
	}
	return lines, dropped, nil
}

// startLoad starts a load generator; the channel gets its exit.
func startLoad(ctx context.Context, argv []string, out *bytes.Buffer) (*exec.Cmd, chan error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		done <- err
		return cmd, done
	}
	go func() { done <- cmd.Wait() }()
	return cmd, done
}

// pick joins the lines of out that contain one of the markers.
func pick(out string, markers ...string) string {
	var kept []string
	for _, line := range strings.Split(out, "\n") {
		for _, m := range markers {
			if strings.Contains(line, m) {
				kept = append(kept, strings.Join(strings.Fields(line), " "))
				break
			}
		}
	}
	return strings.Join(kept, "; ")
}

// waitQuiet waits until path has not grown for 2 s (libpcap hands over a
// partly filled block after 1 s), at most 60 s.
func waitQuiet(path string) {
	var last int64 = -1
	for quiet, i := 0, 0; quiet < 4 && i < 120; i++ {
		time.Sleep(500 * time.Millisecond)
		fi, err := os.Stat(path)
		if err != nil {
			return
		}
		if fi.Size() == last {
			quiet++
		} else {
			quiet, last = 0, fi.Size()
		}
	}
}

func waitListening(addr string, limit time.Duration) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return true
		}
	}
	return false
}

// stop signals a started process and waits up to 10 s before killing it.
func stop(cmd *exec.Cmd, sig os.Signal) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
