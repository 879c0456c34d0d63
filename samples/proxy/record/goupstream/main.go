// Command goupstream is the Go net/http upstream of the nginx-go-race
// scenario (samples/proxy/record/record.sh).
//
// It serves HTTP/1.1 on -addr with http.Server.IdleTimeout = -idle and no
// other timeout set; every route answers 200 with a short JSON body
// (Content-Length), POST bodies read first. What comes out on stdout is one
// JSON object per line, with the wall-clock time t in seconds since the
// epoch:
//
//	{"ev":"listening","go":"go1.26.8","idle_timeout_s":1,...}
//	{"ev":"state","peer_port":N,"state":"new|active|idle|hijacked|closed"}
//	{"ev":"request","peer_port":N,"method":"GET","url":"/","request_id":"r001-0","n":k}
//
// peer_port is the proxy's ephemeral port: the upstream connection's key in
// the capture. The server stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

var (
	outMu sync.Mutex
	enc   = json.NewEncoder(os.Stdout)
)

func emit(m map[string]any) {
	m["t"] = float64(time.Now().UnixMicro()) / 1e6
	outMu.Lock()
	defer outMu.Unlock()
	_ = enc.Encode(m)
}

func port(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

type ctxKey struct{}

// counter counts the requests of one connection.
type counter struct {
	mu sync.Mutex
	n  int
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18411", "listen address")
	idle := flag.Duration("idle", time.Second, "http.Server.IdleTimeout")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		c, _ := r.Context().Value(ctxKey{}).(*counter)
		k := 0
		if c != nil {
			c.mu.Lock()
			c.n++
			k = c.n
			c.mu.Unlock()
		}
		emit(map[string]any{"ev": "request", "peer_port": port(r.RemoteAddr), "method": r.Method, "url": r.URL.RequestURI(),
			"request_id": r.Header.Get("X-Request-Id"), "n": k, "body_bytes": n})
		body := fmt.Sprintf("{\"server\":\"go\",\"method\":%q,\"url\":%q,\"n\":%d}\n", r.Method, r.URL.RequestURI(), k)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = io.WriteString(w, body)
	})

	srv := &http.Server{
		Addr:        *addr,
		Handler:     mux,
		IdleTimeout: *idle,
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, ctxKey{}, &counter{})
		},
		ConnState: func(c net.Conn, s http.ConnState) {
			emit(map[string]any{"ev": "state", "peer_port": port(c.RemoteAddr().String()), "state": s.String()})
		},
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	emit(map[string]any{"ev": "listening", "go": runtime.Version(), "addr": *addr, "idle_timeout_s": idle.Seconds(),
		"read_timeout_s": srv.ReadTimeout.Seconds(), "read_header_timeout_s": srv.ReadHeaderTimeout.Seconds(),
		"write_timeout_s": srv.WriteTimeout.Seconds()})
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		emit(map[string]any{"ev": "error", "error": err.Error()})
		os.Exit(1)
	}
}
