// Command goserver is the tiny net/http server used to record
// samples/go-idle-timeout.pcap (see samples/record/record.sh).
//
// It serves HTTP/1.1 on a loopback address with a 1.5 s keep-alive idle
// timeout:
//
//	/        a short fixed body (Content-Length)
//	/stream  a chunked body written in three flushed parts 20 ms apart
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18300", "listen address")
	idle := flag.Duration("idle", 1500*time.Millisecond, "keep-alive idle timeout")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "hello from go %s\n", r.URL.Path)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rc := http.NewResponseController(w)
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "part %d of 3\n", i)
			if err := rc.Flush(); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	srv := &http.Server{
		Addr:              *addr,
		Handler:           mux,
		IdleTimeout:       *idle,
		ReadHeaderTimeout: 5 * time.Second,
	}
	srv.SetKeepAlivesEnabled(true)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()

	log.Printf("goserver listening on %s (idle timeout %s)", *addr, *idle)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
