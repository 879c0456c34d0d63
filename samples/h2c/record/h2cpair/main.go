// Command h2cpair is the HTTP/2 cleartext server and client used to record
// samples/h2c/ (see samples/h2c/record/record.sh): Go's x/net/http2 on
// both sides, prior knowledge (no Upgrade), on loopback.
//
//	h2cpair server -addr A -native B -idle 1s
//	h2cpair client -addr A -native B
//	h2cpair idle -addr A -idle 1s
//
// The server listens on A through h2c.NewHandler (it reads the client's
// preface first, as net/http servers do) and on B with http2.Server.ServeConn
// (it writes its SETTINGS on accept, as gRPC servers do); both close a
// connection idle for -idle with GOAWAY and FIN. Paths: / (a short body),
// /slow (the same after 200 ms), /big (64 KiB), /post (reads the body,
// answers its length), /nolen (no content-length, two flushed writes).
//
// The client makes, on A: GET /, then /slow and /big at once (two
// multiplexed streams), POST /post (10 KiB), 0.3 s idle, GET /nolen, then
// stays idle until the server's idle close. On B: GET /, 0.2 s idle, GET
// /slow, 0.2 s idle, then it closes the connection itself.
//
// Mode idle is a client for another server (nginx): GET /, 0.2 s idle,
// GET /a.txt, then idle until the server's idle close.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: h2cpair server|client [flags]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18491", "h2c.NewHandler address")
	native := fs.String("native", "127.0.0.1:18492", "http2.Server.ServeConn address")
	idle := fs.Duration("idle", time.Second, "server idle timeout")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "server":
		server(*addr, *native, *idle)
	case "client":
		client(*addr, *native, *idle)
	case "idle":
		c := &http.Client{Transport: transport()}
		get(c, "GET", "http://"+*addr+"/", nil)
		time.Sleep(200 * time.Millisecond)
		get(c, "GET", "http://"+*addr+"/a.txt", nil)
		time.Sleep(*idle + 500*time.Millisecond)
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
}

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello over h2c") })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
		fmt.Fprintln(w, "slow hello over h2c")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "65536")
		w.Write(bytes.Repeat([]byte("b"), 65536))
	})
	mux.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d bytes\n", n)
	})
	mux.HandleFunc("/nolen", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part one\n")
		w.(http.Flusher).Flush()
		time.Sleep(20 * time.Millisecond)
		io.WriteString(w, "part two\n")
	})
	return mux
}

func server(addr, native string, idle time.Duration) {
	h2s := &http2.Server{IdleTimeout: idle}
	hs := &http.Server{Addr: addr, Handler: h2c.NewHandler(handler(), h2s), IdleTimeout: idle}
	go func() { log.Fatal(hs.ListenAndServe()) }()
	ln, err := net.Listen("tcp", native)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go h2s.ServeConn(c, &http2.ServeConnOpts{Handler: handler()})
	}
}

func transport() *http2.Transport {
	return &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

func get(c *http.Client, method, url string, body io.Reader) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		log.Fatalf("%s %s: %v", method, url, err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	log.Printf("%s %s: %d, %d bytes, %s", method, url, resp.StatusCode, n, resp.Proto)
}

func client(addr, native string, idle time.Duration) {
	a := &http.Client{Transport: transport()}
	base := "http://" + addr
	get(a, "GET", base+"/", nil)
	var wg sync.WaitGroup
	for _, p := range []string{"/slow", "/big"} {
		wg.Add(1)
		go func() { defer wg.Done(); get(a, "GET", base+p, nil) }()
	}
	wg.Wait()
	get(a, "POST", base+"/post", strings.NewReader(strings.Repeat("p", 10240)))
	time.Sleep(300 * time.Millisecond)
	get(a, "GET", base+"/nolen", nil)

	bt := transport()
	b := &http.Client{Transport: bt}
	nb := "http://" + native
	get(b, "GET", nb+"/", nil)
	time.Sleep(200 * time.Millisecond)
	get(b, "GET", nb+"/slow", nil)
	time.Sleep(200 * time.Millisecond)
	bt.CloseIdleConnections()

	time.Sleep(idle + 500*time.Millisecond) // A: the server's idle close
}
