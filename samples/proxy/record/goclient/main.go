// Command goclient is the pooled Go net/http client of the node-pool scenario
// (samples/proxy/record/record.sh).
//
// One http.Client (one Transport: IdleConnTimeout -idle-conn-timeout, 90 s
// by default as in http.DefaultTransport; MaxIdleConnsPerHost = -workers so
// that the pool keeps every connection) is shared by -workers goroutines
// that send requests in waves: wave 0 at once; wave w once every worker has
// its answer of wave w-1, gap_w (+ worker index x -offset) after the last
// answer came in. Request of worker i in wave w: POST /api/orders with a
// 40-byte JSON body when (w+i) % -post-every == 0, else GET /api/items (odd
// waves) or GET /api/items/<w>; each carries X-Request-Id: <prefix><w>-<i>.
// After the last wave the client idles -final-idle, then exits.
//
// What comes out on stdout is one JSON object per line (t: seconds since the
// epoch):
//
//	{"ev":"start", settings}
//	{"ev":"request","wave":w,"worker":i,"method":"GET","target":"/api/items","request_id":"...",
//	 "gap_s":x,"t_send":t,"t_done":t,"status":200|null,"error":"..."|null,"error_kind":"..."|null,
//	 "attempts":[{"local_port":p,"reused":b,"was_idle":b,"idle_s":x,"t":t,"wrote":b,"wrote_error":"..."}]}
//	{"ev":"end"}
//
// attempts lists every connection the Transport took for the request (its
// httptrace GotConn calls; wrote: its WroteRequest saw no error): more than
// one means the Transport retried by itself. error_kind: server-closed-idle ("http: server closed idle
// connection"), ECONNRESET, EOF, EPIPE or other.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	outMu sync.Mutex
	enc   = json.NewEncoder(os.Stdout)
)

func emit(m map[string]any) {
	outMu.Lock()
	defer outMu.Unlock()
	_ = enc.Encode(m)
}

func now() float64 { return float64(time.Now().UnixMicro()) / 1e6 }

func kind(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "server closed idle connection"):
		return "server-closed-idle"
	case strings.Contains(s, "connection reset by peer"):
		return "ECONNRESET"
	case strings.Contains(s, "broken pipe"):
		return "EPIPE"
	case strings.HasSuffix(s, "EOF"):
		return "EOF"
	}
	return "other"
}

func localPort(c net.Conn) int {
	if c == nil {
		return 0
	}
	_, p, _ := net.SplitHostPort(c.LocalAddr().String())
	n, _ := strconv.Atoi(p)
	return n
}

func main() {
	url := flag.String("url", "http://127.0.0.1:18430", "server base URL")
	workers := flag.Int("workers", 8, "goroutines (and pooled connections)")
	gapsFlag := flag.String("gaps", "", "comma-separated gaps in seconds, one per wave after the first")
	offset := flag.Duration("offset", 0, "extra delay per worker index")
	postEvery := flag.Int("post-every", 3, "every n-th request (by wave+worker) is a POST")
	idleConn := flag.Duration("idle-conn-timeout", 90*time.Second, "Transport.IdleConnTimeout")
	finalIdle := flag.Duration("final-idle", 8*time.Second, "idle time after the last wave")
	prefix := flag.String("prefix", "g", "request id prefix")
	flag.Parse()
	var gaps []time.Duration
	for _, f := range strings.Split(*gapsFlag, ",") {
		if f == "" {
			continue
		}
		x, err := strconv.ParseFloat(f, 64)
		if err != nil || x < 0 || x > 60 {
			fmt.Fprintf(os.Stderr, "bad gap %q\n", f)
			os.Exit(2)
		}
		gaps = append(gaps, time.Duration(x*float64(time.Second)))
	}
	if *workers < 1 || *workers > 64 {
		fmt.Fprintln(os.Stderr, "workers must be 1..64")
		os.Exit(2)
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.IdleConnTimeout = *idleConn
	tr.MaxIdleConnsPerHost = *workers
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	emit(map[string]any{"ev": "start", "t": now(), "go": runtime.Version(), "url": *url, "workers": *workers,
		"idle_conn_timeout_s": tr.IdleConnTimeout.Seconds(), "max_idle_conns_per_host": tr.MaxIdleConnsPerHost,
		"max_idle_conns": tr.MaxIdleConns, "disable_keep_alives": tr.DisableKeepAlives,
		"gaps_s": strings.Split(*gapsFlag, ","), "offset_s": offset.Seconds(), "final_idle_s": finalIdle.Seconds()})

	var lastMu sync.Mutex
	var last time.Time
	for w := 0; w <= len(gaps); w++ {
		var base time.Time
		if w > 0 {
			base = last.Add(gaps[w-1])
		}
		var wg sync.WaitGroup
		for i := 0; i < *workers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if w > 0 {
					time.Sleep(time.Until(base.Add(time.Duration(i) * *offset)))
				}
				one(client, *url, w, i, *postEvery, *prefix, gaps)
				lastMu.Lock()
				if t := time.Now(); t.After(last) {
					last = t
				}
				lastMu.Unlock()
			}(i)
		}
		wg.Wait()
	}
	time.Sleep(*finalIdle)
	emit(map[string]any{"ev": "end", "t": now()})
}

func one(client *http.Client, base string, w, i, postEvery int, prefix string, gaps []time.Duration) {
	method, target := "GET", fmt.Sprintf("/api/items/%d", w)
	if w%2 == 1 {
		target = "/api/items"
	}
	var body []byte
	if postEvery > 0 && (w+i)%postEvery == 0 {
		method, target = "POST", "/api/orders"
		body = []byte(fmt.Sprintf(`{"item":%d,"qty":%d,"note":"httplife"}`, w, i+1))
		body = append(body, bytes.Repeat([]byte(" "), max(0, 40-len(body)))...)
	}
	rid := fmt.Sprintf("%s%03d-%d", prefix, w, i)
	var mu sync.Mutex
	var attempts []map[string]any
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, map[string]any{"local_port": localPort(info.Conn), "reused": info.Reused,
				"was_idle": info.WasIdle, "idle_s": info.IdleTime.Seconds(), "t": now()})
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			mu.Lock()
			defer mu.Unlock()
			if len(attempts) == 0 {
				return
			}
			attempts[len(attempts)-1]["wrote"] = info.Err == nil
			if info.Err != nil {
				attempts[len(attempts)-1]["wrote_error"] = info.Err.Error()
			}
		},
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, base+target, rd)
	if err != nil {
		emit(map[string]any{"ev": "bad-request", "error": err.Error()})
		return
	}
	req.Header.Set("X-Request-Id", rid)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := map[string]any{"ev": "request", "wave": w, "worker": i, "method": method, "target": target, "request_id": rid}
	if w > 0 {
		rec["gap_s"] = gaps[w-1].Seconds()
	}
	rec["t_send"] = now()
	resp, err := client.Do(req)
	var status any
	var errS, errK any
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		status = resp.StatusCode
	} else {
		errS, errK = err.Error(), kind(err)
	}
	rec["t_done"] = now()
	rec["status"], rec["error"], rec["error_kind"] = status, errS, errK
	mu.Lock()
	rec["attempts"] = attempts
	mu.Unlock()
	emit(rec)
}
