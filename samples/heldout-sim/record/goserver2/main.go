// goserver2: net/http server for the held-out simulation.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18400", "listen address")
	idle := flag.Duration("idle", 1500*time.Millisecond, "keep-alive idle timeout")
	flag.Parse()

	bodyA := "a.txt: " + strings.Repeat("a", 60) + "\n"
	bodyB := "b.txt: " + strings.Repeat("b", 200) + "\n"
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "hello from go %s\n", r.URL.Path)
	})
	mux.HandleFunc("/a.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"a-1"`)
		http.ServeContent(w, r, "a.txt", mod, strings.NewReader(bodyA))
	})
	mux.HandleFunc("/b.txt", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "b.txt", mod, strings.NewReader(bodyB))
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "got %d bytes\n", n)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if r.Method == http.MethodHead {
			w.Header().Set("Transfer-Encoding", "chunked")
			return
		}
		rc := http.NewResponseController(w)
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "part %d of 3 %s\n", i, bytes.Repeat([]byte("s"), 40*i))
			if err := rc.Flush(); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	// /drop: no response; close with SO_LINGER 0 (RST)
	mux.HandleFunc("/drop", func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			return
		}
		c, _, err := hj.Hijack()
		if err != nil {
			return
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	})

	srv := &http.Server{Addr: *addr, Handler: mux, IdleTimeout: *idle, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sc, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sc)
	}()
	network := "tcp4"
	if strings.HasPrefix(*addr, "[") {
		network = "tcp6"
	}
	ln, err := net.Listen(network, *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("goserver2 listening on %s (idle %s)", *addr, *idle)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
