// Command goclient is the Go HTTPS client used to record the TLS sample
// captures (see samples/tls/record/record.sh).
//
// It makes the requests of -plan over one keep-alive connection of
// net/http's Transport (HTTP/1.1 only), pausing after each as the plan says,
// writing the TLS secrets to -keylog with crypto/tls's Config.KeyLogWriter,
// and then closes the idle connection (close_notify, then FIN).
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18620", "server address")
	sni := flag.String("sni", "httplife.test", "server name")
	keylog := flag.String("keylog", "", "key log file (appended)")
	version := flag.String("tls", "1.3", "TLS version: 1.2 or 1.3")
	cipher := flag.String("cipher", "", "TLS 1.2 cipher suite (Go's name), the only one offered")
	plan := flag.String("plan", "/:0.3,/a.txt:0.6,/b.txt:0", "PATH:SECONDS_AFTER,...")
	flag.Parse()

	kl, err := os.OpenFile(*keylog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	defer kl.Close()
	cfg := &tls.Config{ServerName: *sni, InsecureSkipVerify: true, KeyLogWriter: kl, NextProtos: []string{"http/1.1"}}
	switch *version {
	case "1.2":
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	case "1.3":
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	default:
		log.Fatalf("-tls %q: want 1.2 or 1.3", *version)
	}
	if *cipher != "" {
		for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
			if s.Name == *cipher {
				cfg.CipherSuites = []uint16{s.ID}
			}
		}
		if cfg.CipherSuites == nil {
			log.Fatalf("unknown cipher suite %q", *cipher)
		}
	}
	tr := &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, step := range strings.Split(*plan, ",") {
		path, pause, _ := strings.Cut(step, ":")
		resp, err := client.Get("https://" + *addr + path)
		if err != nil {
			log.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		st := resp.TLS
		fmt.Printf("%s %s: %s, %d bytes; %s %s\n", time.Now().Format("15:04:05.000"), path, resp.Status, n,
			tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
		if p, err := strconv.ParseFloat(pause, 64); err == nil && p > 0 {
			time.Sleep(time.Duration(p * float64(time.Second)))
		}
	}
	tr.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
}
