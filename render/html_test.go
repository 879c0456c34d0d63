package render

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/summary"
	"github.com/httplife/httplife/tcpstate"
)

var updateHTML = flag.Bool("update-html", false, "rewrite render/testdata/html/*.golden")

// ---------------------------------------------------------------- document builders

// htmlT0 is the capture start of the built documents.
var htmlT0 = time.Date(2026, 11, 21, 22, 53, 1, 0, time.UTC)

func htmlAt(s float64) time.Time {
	return htmlT0.Add(time.Duration(s * float64(time.Second)))
}

// htmlTx is one transaction, times in seconds after htmlT0.
type htmlTx struct {
	method, uri string
	status      int // 0: no response
	req         float64
	think       float64 // request end to response start
	resp        float64 // response transfer
	pipelined   bool
	keepAlive   string // raw Keep-Alive response header
}

// htmlEnd says how the connection ended.
type htmlEnd struct {
	finBy   httpflow.Side // NoSide for none
	finAt   float64
	rstBy   httpflow.Side
	rstAt   float64
	tw      httpflow.Side // TIME_WAIT holder, NoSide for none
	reason  httpflow.Reason
	evid    string
	probes  httpflow.PerSide
	timeout *float64
	anomaly []string
}

// htmlBuild makes a Connection with consistent idle periods, final idle and
// TIME_WAIT from transactions and a close.
func htmlBuild(id int, client, server string, start float64, txs []htmlTx, e htmlEnd) httpflow.Connection {
	const reqDur = 0.0001
	rtt := 0.0003
	c := httpflow.Connection{
		ID: id, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server), SynSeen: true,
		FirstPacketAt:      htmlAt(start),
		Handshake:          &httpflow.Handshake{SynAt: htmlAt(start), SynAckAt: htmlAt(start + rtt/2), AckAt: htmlAt(start + rtt)},
		Packets:            httpflow.PerSide{Client: uint64(3 + 2*len(txs)), Server: uint64(2 + 2*len(txs))},
		KeepAlive:          httpflow.KeepAlive{AdvertisedTimeout: e.timeout, Persistent: true},
		Close:              httpflow.Close{Reason: e.reason, Evidence: e.evid, ClientState: tcpstate.Closed, ServerState: tcpstate.Closed},
		TCPKeepaliveProbes: e.probes,
		Anomalies:          e.anomaly,
	}
	last := start + rtt
	lastResp := -1.0
	lastRespIdx := 0
	closeAt := -1.0
	if e.finBy != httpflow.NoSide {
		closeAt = e.finAt
	}
	if e.rstBy != httpflow.NoSide && (closeAt < 0 || e.rstAt < closeAt) {
		closeAt = e.rstAt
	}
	prevEnd := -1.0
	for i, t := range txs {
		tx := httpflow.Transaction{
			Index: i + 1, Method: t.method, URI: t.uri, RequestVersion: "HTTP/1.1",
			RequestStartAt: htmlAt(t.req), RequestEndAt: htmlAt(t.req + reqDur),
			RequestBytes: int64(80 + len(t.uri)), Pipelined: t.pipelined,
		}
		ka := "keep-alive"
		tx.RequestConnection = &ka
		last = max(last, t.req+reqDur)
		if prevEnd >= 0 && t.req > prevEnd {
			c.IdlePeriods = append(c.IdlePeriods, httpflow.Idle{AfterTransaction: i, StartAt: htmlAt(prevEnd), EndAt: htmlAt(t.req), Duration: htmlAt(t.req).Sub(htmlAt(prevEnd))})
		}
		if t.status != 0 {
			tx.Status, tx.ResponseVersion, tx.Framing = t.status, "HTTP/1.1", httpflow.BodyLength
			rs := t.req + reqDur + t.think
			tx.ResponseStartAt, tx.ResponseEndAt = htmlAt(rs), htmlAt(rs+t.resp)
			tx.ResponseBytes = 240 + int64(t.resp*1e6)
			tx.Complete = true
			if t.keepAlive != "" {
				k := t.keepAlive
				tx.ResponseKeepAlive = &k
			}
			prevEnd = rs + t.resp
			if closeAt < 0 || prevEnd <= closeAt {
				lastResp, lastRespIdx = prevEnd, i+1
			}
			last = max(last, prevEnd)
		}
		c.Transactions = append(c.Transactions, tx)
	}
	if closeAt >= 0 {
		from, after := lastResp, lastRespIdx
		if from < 0 {
			from, after = start+rtt, 0
		}
		c.FinalIdle = &httpflow.Idle{AfterTransaction: after, StartAt: htmlAt(from), EndAt: htmlAt(closeAt), Duration: htmlAt(closeAt).Sub(htmlAt(from))}
	}
	if e.finBy != httpflow.NoSide {
		c.Close.FirstFinBy, c.Close.FirstFinAt = e.finBy, htmlAt(e.finAt)
		last = max(last, e.finAt+0.0004)
	}
	if e.rstBy != httpflow.NoSide {
		c.Close.RstBy, c.Close.RstAt = e.rstBy, htmlAt(e.rstAt)
		last = max(last, e.rstAt)
	}
	if e.tw != httpflow.NoSide {
		in := e.finAt + 0.0004
		c.TimeWait = &httpflow.TimeWait{Holder: e.tw, EnteredAt: htmlAt(in), ExpiresAt: htmlAt(in + 60)}
		if e.tw == httpflow.Client {
			c.Close.ClientState = tcpstate.TimeWait
		} else {
			c.Close.ServerState = tcpstate.TimeWait
		}
	}
	if e.reason == httpflow.ReasonCaptureEnded {
		c.Close.ClientState, c.Close.ServerState = tcpstate.Established, tcpstate.Established
		c.KeepAlive.Persistent = true
	}
	c.LastPacketAt = htmlAt(last)
	c.PayloadBytes = httpflow.PerSide{Client: uint64(c.Packets.Client) * 90, Server: uint64(c.Packets.Server) * 300}
	return c
}

func htmlF(v float64) *float64 { return &v }

// htmlFinish fills the capture info of doc (the report does not read the summary).
func htmlFinish(doc *httpflow.Document, source string) {
	doc.Options = httpflow.Options{TwoMSL: 60 * time.Second, Ports: "any"}
	var last time.Time
	var pk uint64
	for i := range doc.Connections {
		c := &doc.Connections[i]
		if c.LastPacketAt.After(last) {
			last = c.LastPacketAt
		}
		pk += c.Packets.Client + c.Packets.Server
	}
	first := htmlT0
	if len(doc.Connections) > 0 {
		first = doc.Connections[0].FirstPacketAt
	}
	doc.Capture = httpflow.CaptureInfo{
		Source: source, Format: "pcap", LinkTypes: []string{"EN10MB"},
		FirstPacketAt: first, LastPacketAt: last, Duration: last.Sub(first),
		Packets: pk + 4, TCPPackets: pk, Bytes: pk * 420, Skipped: httpflow.Skipped{NonTCP: 4},
		Warnings: []string{},
	}
}

// htmlTestDoc is a realistic small capture: keep-alive connections closed by
// the server's idle timeout, a client close, resets, a keep-alive race, a
// pipelined connection, an error and one still open at the end.
func htmlTestDoc() *httpflow.Document {
	two := 2.0
	ka := "timeout=2, max=100"
	doc := &httpflow.Document{}
	add := func(c httpflow.Connection) { doc.Connections = append(doc.Connections, c) }
	srv := "10.0.0.80:80"
	add(htmlBuild(1, "10.0.0.5:50001", srv, 0, []htmlTx{
		{method: "GET", uri: "/", status: 200, req: 0.001, think: 0.004, resp: 0.002, keepAlive: ka},
		{method: "GET", uri: "/a.txt", status: 200, req: 0.307, think: 0.002, resp: 0.001, keepAlive: ka},
		{method: "GET", uri: "/b.txt", status: 200, req: 1.11, think: 0.003, resp: 0.02, keepAlive: ka},
	}, htmlEnd{finBy: httpflow.Server, finAt: 3.1339, tw: httpflow.Server, reason: httpflow.ReasonServerIdleTimeout,
		evid: "server FIN 2.001 s after the last response; server advertised timeout=2", timeout: &two}))
	add(htmlBuild(2, "10.0.0.5:50002", srv, 0.2, []htmlTx{
		{method: "GET", uri: "/index.html", status: 200, req: 0.201, think: 0.01, resp: 0.05},
		{method: "POST", uri: "/api/login?next=%2Fhome", status: 302, req: 0.65, think: 0.03, resp: 0.001},
	}, htmlEnd{finBy: httpflow.Client, finAt: 1.281, tw: httpflow.Client, reason: httpflow.ReasonClientIdleClose,
		evid: "client FIN 0.600 s after the last response"}))
	add(htmlBuild(3, "10.0.0.6:41000", srv, 0.5, []htmlTx{
		{method: "GET", uri: "/img/logo.png", status: 200, req: 0.501, think: 0.002, resp: 0.2},
		{method: "GET", uri: "/missing", status: 404, req: 0.9, think: 0.002, resp: 0.001},
	}, htmlEnd{rstBy: httpflow.Client, rstAt: 1.4, reason: httpflow.ReasonReset, evid: "client RST 0.497 s after the last response"}))
	add(htmlBuild(4, "10.0.0.7:42000", srv, 0.8, []htmlTx{
		{method: "GET", uri: "/", status: 200, req: 0.801, think: 0.003, resp: 0.002, keepAlive: ka},
		{method: "GET", uri: "/late", req: 2.8055},
	}, htmlEnd{finBy: httpflow.Server, finAt: 2.806, rstBy: httpflow.Server, rstAt: 2.8061, reason: httpflow.ReasonKeepaliveRace,
		evid: "client sent request bytes 0.000100 s after the server's FIN", timeout: &two,
		anomaly: []string{"last-request-unanswered", "request-after-server-fin"}}))
	add(htmlBuild(5, "10.0.0.8:43000", srv, 1.0, []htmlTx{
		{method: "GET", uri: "/p1", status: 200, req: 1.001, think: 0.01, resp: 0.03, keepAlive: ka},
		{method: "GET", uri: "/p2", status: 200, req: 1.001, think: 0.045, resp: 0.03, pipelined: true, keepAlive: ka},
		{method: "GET", uri: "/p3", status: 200, req: 1.001, think: 0.08, resp: 0.03, pipelined: true, keepAlive: ka},
		{method: "GET", uri: "/p4", status: 200, req: 1.612, think: 0.004, resp: 0.004, keepAlive: ka},
	}, htmlEnd{finBy: httpflow.Server, finAt: 3.621, tw: httpflow.Server, reason: httpflow.ReasonServerIdleTimeout,
		evid: "server FIN 2.001 s after the last response; server advertised timeout=2", timeout: &two}))
	add(htmlBuild(6, "10.0.0.9:44000", "10.0.0.81:8080", 1.3, []htmlTx{
		{method: "GET", uri: "/api/items?page=2", status: 500, req: 1.301, think: 0.25, resp: 0.002},
	}, htmlEnd{finBy: httpflow.Server, finAt: 1.5535, tw: httpflow.Server, reason: httpflow.ReasonServerCloseHeader,
		evid: "the last response carried Connection: close"}))
	add(htmlBuild(7, "10.0.0.10:45000", srv, 2.0, []htmlTx{
		{method: "GET", uri: "/stream", status: 200, req: 2.001, think: 0.002, resp: 0.4},
	}, htmlEnd{reason: httpflow.ReasonCaptureEnded, evid: "no FIN or RST in the capture", probes: httpflow.PerSide{Client: 2}}))
	add(htmlBuild(8, "10.0.0.5:50003", "10.0.0.81:8080", 2.2, []htmlTx{
		{method: "GET", uri: "/health", status: 200, req: 2.201, think: 0.001, resp: 0.001},
	}, htmlEnd{finBy: httpflow.Server, finAt: 2.2035, tw: httpflow.Server, reason: httpflow.ReasonHTTP10,
		evid: "HTTP/1.0 request without Connection: keep-alive"}))
	htmlFinish(doc, "demo.pcap")
	return doc
}

// htmlHostileDoc puts attack strings everywhere the capture can reach.
func htmlHostileDoc() *httpflow.Document {
	doc := htmlTestDoc()
	const s1 = `<script>window.__pwned=1;document.title="PWNED"</script>`
	const s2 = `"><img src=x onerror="window.__pwned=2;document.title='PWNED'">`
	const s3 = `</script><script>window.__pwned=3</script>`
	c := &doc.Connections[0]
	c.Transactions[0].URI = "/search?q=" + s1
	c.Transactions[1].URI = s2
	c.Transactions[2].Method = s3
	c.Close.Evidence = "evidence " + s2 + s1
	c.Anomalies = []string{s1, s2}
	// Endpoints, reasons and sides are typed: no text from the capture
	// reaches the page through them.
	doc.Connections[1].Transactions[0].URI = s2
	doc.Connections[2].Close.Evidence = s1
	doc.Connections[3].Transactions[0].URI = "/__f__\"__f__;window.__pwned=5;//"
	ua := "Mozilla/5.0 " + s1
	doc.Connections[4].Transactions[0].RequestConnection = &ua
	// go-echarts turns "__f__…__f__" in its options into raw JavaScript.
	doc.Connections[4].Transactions[0].Method = "__f__window.__pwned=7__f__"
	doc.Connections[5].Close.Evidence = "__f__window.__pwned=6__f__"
	doc.Capture.Source = s2 + ".pcap"
	doc.Capture.Warnings = []string{"file truncated " + s1, s2}
	doc.Capture.LinkTypes = []string{s1}
	return doc
}

// htmlLargeDoc has n connections across a few servers and many clients,
// generated deterministically.
func htmlLargeDoc(n int) *httpflow.Document {
	rng := rand.New(rand.NewPCG(1, 2))
	doc := &httpflow.Document{Connections: make([]httpflow.Connection, 0, n)}
	span := 600.0
	timeouts := []float64{5, 15, 60}
	paths := []string{"/", "/api/v1/items", "/static/app.js", "/static/app.css", "/img/a.png", "/login", "/health"}
	for i := 0; i < n; i++ {
		start := span * float64(i) / float64(n)
		srvN := rng.IntN(3)
		server := fmt.Sprintf("10.1.0.%d:80", 10+srvN)
		client := fmt.Sprintf("10.2.%d.%d:%d", rng.IntN(4), rng.IntN(250)+1, 30000+i%30000)
		timeout := timeouts[srvN]
		k := 1 + rng.IntN(8)
		var txs []htmlTx
		t := start + 0.001
		for j := 0; j < k; j++ {
			status := 200
			switch x := rng.IntN(100); {
			case x < 3:
				status = 404
			case x < 4:
				status = 503
			}
			think, resp := 0.001+rng.Float64()*0.05, 0.0005+rng.Float64()*0.02
			txs = append(txs, htmlTx{method: "GET", uri: paths[rng.IntN(len(paths))] + fmt.Sprintf("?id=%d", rng.IntN(1000)), status: status,
				req: t, think: think, resp: resp, keepAlive: fmt.Sprintf("timeout=%g", timeout)})
			t += 0.0001 + think + resp + rng.ExpFloat64()*0.8
		}
		lastEnd := txs[len(txs)-1].req + 0.0001 + txs[len(txs)-1].think + txs[len(txs)-1].resp
		to := timeout
		var e htmlEnd
		switch x := rng.IntN(100); {
		case x < 55:
			e = htmlEnd{finBy: httpflow.Server, finAt: lastEnd + to, tw: httpflow.Server, reason: httpflow.ReasonServerIdleTimeout, timeout: &to,
				evid: fmt.Sprintf("server FIN %.3f s after the last response; server advertised timeout=%g", to, to)}
		case x < 85:
			d := rng.Float64() * 4
			e = htmlEnd{finBy: httpflow.Client, finAt: lastEnd + d, tw: httpflow.Client, reason: httpflow.ReasonClientIdleClose, timeout: &to,
				evid: fmt.Sprintf("client FIN %.3f s after the last response", d)}
		case x < 90:
			d := rng.Float64() * 2
			e = htmlEnd{rstBy: httpflow.Client, rstAt: lastEnd + d, reason: httpflow.ReasonReset, timeout: &to, evid: "client RST"}
		case x < 93:
			txs = append(txs, htmlTx{method: "GET", uri: "/again", req: lastEnd + to + 0.0002})
			e = htmlEnd{finBy: httpflow.Server, finAt: lastEnd + to, rstBy: httpflow.Server, rstAt: lastEnd + to + 0.0003, timeout: &to,
				reason: httpflow.ReasonKeepaliveRace, evid: "client sent request bytes after the server's FIN", anomaly: []string{"request-after-server-fin"}}
		case x < 97:
			e = htmlEnd{finBy: httpflow.Server, finAt: lastEnd + 0.0002, tw: httpflow.Server, reason: httpflow.ReasonServerCloseHeader, timeout: &to, evid: "Connection: close"}
		default:
			e = htmlEnd{reason: httpflow.ReasonCaptureEnded, timeout: &to, evid: "no FIN or RST"}
		}
		doc.Connections = append(doc.Connections, htmlBuild(i+1, client, server, start, txs, e))
	}
	htmlFinish(doc, "big.pcap")
	return doc
}

// htmlTruthDoc converts a corpus truth file into a Document.
func htmlTruthDoc(t testing.TB, path string) *httpflow.Document {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("corpus not available: %v", err)
	}
	var truth struct {
		File    string `json:"file"`
		Capture struct {
			Format        string `json:"format"`
			LinkType      string `json:"link_type"`
			Packets       uint64 `json:"packets"`
			TCPPackets    uint64 `json:"tcp_packets"`
			Bytes         uint64 `json:"bytes"`
			FirstPacketAt Time   `json:"first_packet_at"`
			LastPacketAt  Time   `json:"last_packet_at"`
		} `json:"capture"`
		Connections []struct {
			WireConnection
			Probes    int         `json:"tcp_keepalive_probes"` // a count in the truth, per side below
			ProbesBy  WirePerSide `json:"tcp_keepalive_probes_by"`
			TWHolder  *string     `json:"time_wait_holder"`
			TWEntered Time        `json:"time_wait_entered_at"`
			Adv       *struct {
				Timeout *float64 `json:"timeout"`
				Max     *int     `json:"max"`
			} `json:"advertised_keepalive"`
		} `json:"connections"`
	}
	if err := json.Unmarshal(raw, &truth); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	doc := &httpflow.Document{Options: httpflow.Options{TwoMSL: 60 * time.Second, Ports: "any"}}
	for _, tc := range truth.Connections {
		w := tc.WireConnection
		w.TCPKeepaliveProbes = tc.ProbesBy
		if w.Close.ClientState == "" {
			w.Close.ClientState, w.Close.ServerState = "CLOSED", "CLOSED"
		}
		c, err := FromWire(&w)
		if err != nil {
			t.Fatalf("%s: connection %d: %v", path, w.ID, err)
		}
		if tc.Adv != nil {
			c.KeepAlive.AdvertisedTimeout, c.KeepAlive.AdvertisedMax = tc.Adv.Timeout, tc.Adv.Max
		}
		if tc.TWHolder != nil && !tc.TWEntered.IsZero() {
			h, err := parseSide(tc.TWHolder)
			if err != nil {
				t.Fatal(err)
			}
			c.TimeWait = &httpflow.TimeWait{Holder: h, EnteredAt: tc.TWEntered.Time, ExpiresAt: tc.TWEntered.Add(60 * time.Second)}
		}
		doc.Connections = append(doc.Connections, c)
	}
	ci := truth.Capture
	doc.Capture = httpflow.CaptureInfo{Source: truth.File, Format: ci.Format, LinkTypes: []string{ci.LinkType},
		FirstPacketAt: ci.FirstPacketAt.Time, LastPacketAt: ci.LastPacketAt.Time, Duration: ci.LastPacketAt.Sub(ci.FirstPacketAt.Time),
		Packets: ci.Packets, TCPPackets: ci.TCPPackets, Bytes: ci.Bytes, Warnings: []string{}}
	return doc
}

const htmlCorpus = "../../shared/corpus"

// ---------------------------------------------------------------- helpers

// htmlDigest summarises a document's records as a run does, for the report.
func htmlDigest(doc *httpflow.Document) *summary.Digest {
	if doc == nil {
		return nil
	}
	b := summary.New(summary.Config{Timeline: true})
	for i := range doc.Connections {
		b.Add(&doc.Connections[i])
	}
	return b.Digest(doc.Capture, doc.Options)
}

func htmlRender(t testing.TB, doc *httpflow.Document) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, htmlDigest(doc)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// htmlDataBlock returns the page's JSON data block, decoded.
func htmlDataBlock(t testing.TB, page []byte) map[string]any {
	t.Helper()
	m := regexp.MustCompile(`(?s)<script type="application/json" id="hl-data">(.*?)</script>`).FindSubmatch(page)
	if m == nil {
		t.Fatal("no data block")
	}
	var v map[string]any
	if err := json.Unmarshal(m[1], &v); err != nil {
		t.Fatalf("data block: %v", err)
	}
	return v
}

// htmlStripEcharts replaces the inlined echarts library by a marker, to keep
// golden files small and readable.
func htmlStripEcharts(page []byte) []byte {
	return bytes.Replace(page, []byte(htmlEchartsJS), []byte("/* echarts.min.js "+htmlEchartsVersion+" */"), 1)
}

// ---------------------------------------------------------------- tests

func TestHTMLGolden(t *testing.T) {
	got := htmlStripEcharts(htmlRender(t, htmlTestDoc()))
	path := filepath.Join("testdata", "html", "basic.golden")
	if *updateHTML {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./render -run HTML -update-html)", err)
	}
	if !bytes.Equal(got, want) {
		a, b := string(got), string(want)
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		lo := max(0, i-200)
		t.Fatalf("output differs from %s at byte %d (run go test ./render -run HTML -update-html)\n got: %q\nwant: %q",
			path, i, a[lo:min(len(a), i+200)], b[lo:min(len(b), i+200)])
	}
}

func TestHTMLDeterministic(t *testing.T) {
	for name, doc := range map[string]func() *httpflow.Document{
		"basic": htmlTestDoc, "hostile": htmlHostileDoc, "large": func() *httpflow.Document { return htmlLargeDoc(3000) },
	} {
		a, b := htmlRender(t, doc()), htmlRender(t, doc())
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two runs differ", name)
		}
	}
}

// External resources: any src/href/url/import that leaves the file.
var htmlExternalRE = regexp.MustCompile(`(?i)(\b(src|href|action|poster|srcset|data|formaction|background)\s*=\s*["']?\s*(https?:|//|ftp:|ws:))|url\(\s*["']?\s*(https?:|//)|@import|<link\b|<iframe\b|<object\b|<embed\b|<base\b|\bfetch\(|XMLHttpRequest\(|new WebSocket|sendBeacon|importScripts`)

func TestHTMLOffline(t *testing.T) {
	page := htmlRender(t, htmlTestDoc())
	// echarts contains SVG namespace URIs and licence links as strings; what
	// matters is that nothing in the page loads them.
	if m := htmlExternalRE.FindAll(page, 5); m != nil {
		t.Errorf("external resource references: %q", m)
	}
	for _, s := range []string{"go-echarts-assets", "cdn.", "jsdelivr", "unpkg", "googleapis", "<script src", "<script type=\"text/javascript\" src"} {
		if bytes.Contains(page, []byte(s)) {
			t.Errorf("page mentions %q", s)
		}
	}
	if !bytes.Contains(page, []byte(htmlEchartsJS)) {
		t.Error("echarts is not inlined")
	}
	if !bytes.Contains(page, []byte("Apache ECharts")) || !bytes.Contains(page, []byte("The Apache Software Foundation")) {
		t.Error("echarts NOTICE missing from the page")
	}
}

func TestHTMLEscaping(t *testing.T) {
	doc := htmlHostileDoc()
	page := htmlStripEcharts(htmlRender(t, doc)) // echarts' own code holds markup strings
	for _, raw := range []string{"<script>window.__pwned", "<img src=x", "</script><script>", `"><img`, "__f__\"__f__"} {
		if bytes.Contains(page, []byte(raw)) {
			i := bytes.Index(page, []byte(raw))
			t.Errorf("raw %q in the page: %q", raw, page[max(0, i-80):min(len(page), i+80)])
		}
	}
	// Escaped forms: in HTML text and attributes, and in the JSON block.
	for _, esc := range []string{
		"&lt;script&gt;window.__pwned=1;document.title=&#34;PWNED&#34;&lt;/script&gt;", // warning, evidence, reason (HTML text)
		"&#34;&gt;&lt;img src=x onerror=&#34;window.__pwned=2",                         // source, client (HTML text)
		`\u003cscript\u003ewindow.__pwned=1`,                                           // URI in the JSON block
		`\"\u003e\u003cimg src=x onerror=\"window.__pwned=2`,
	} {
		if !bytes.Contains(page, []byte(esc)) {
			t.Errorf("escaped form %q not found", esc)
		}
	}
	// Only the page's own scripts exist: data, echarts, report.js, one per chart, ready.
	if got, want := bytes.Count(page, []byte("<script")), 3+8+1; got != want {
		t.Errorf("%d <script> tags, want %d", got, want)
	}
	// The data block still holds the exact strings (escaping is lossless).
	data := htmlDataBlock(t, page)
	strs := map[string]bool{}
	for _, s := range data["strs"].([]any) {
		strs[s.(string)] = true
	}
	for _, s := range []string{doc.Connections[0].Transactions[0].URI, doc.Connections[0].Transactions[1].URI, doc.Connections[0].Transactions[2].Method, doc.Connections[1].Transactions[0].URI} {
		if !strs[s] {
			t.Errorf("string %q lost in the data block", s)
		}
	}
	for _, sn := range regexp.MustCompile(`(?s)<script type="text/javascript">.*?</script>`).FindAll(page, -1) {
		if bytes.Contains(sn, []byte("__pwned")) || bytes.Contains(sn, []byte("__f__")) {
			t.Errorf("capture text in a chart script: %.300s", sn)
		}
	}
}

func TestHTMLContent(t *testing.T) {
	doc := htmlTestDoc()
	page := string(htmlRender(t, doc))
	for _, want := range []string{
		"<title>httplife report: demo.pcap</title>",
		"2 of 8 connections were closed by the server after 2.0 s idle (median); the server advertised timeout=2.",
		"1 request met a closing connection (keep-alive race)",
		"1 connection was reset (1 by the client, 0 by the server).",
		"The client closed 1 idle connection after a median 600 ms.",
		"1 connection was still open when the capture ended.",
		"2 requests were pipelined",
		"1 connection carried TCP keep-alive probes (2 in all)",
		"16 transactions on 8 connections: 2.00 per connection (max 4)",
		`id="hl_timeline"`, `id="hl_idle_gaps"`, `id="hl_final_idle"`, `id="hl_reasons"`, `id="hl_sides"`,
		`id="hl_per_conn"`, `id="hl_over_time"`, `id="hl_time_wait"`,
		`"name":"timeout=2 s"`,
		`<tr id="conn-4">`,
		"keepalive-race",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	data := htmlDataBlock(t, []byte(page))
	tl := data["tl"].(map[string]any)
	if rows := tl["rows"].([]any); len(rows) != len(doc.Connections) {
		t.Errorf("timeline rows %d, want %d", len(rows), len(doc.Connections))
	}
	// Times are relative milliseconds: connection 1's FIN at 3.1339 s.
	row := tl["rows"].([]any)[0].([]any)
	if got := row[8].(float64); got != 3133.9 {
		t.Errorf("first FIN at %v ms, want 3133.9", got)
	}
}

func TestHTMLEmpty(t *testing.T) {
	for _, doc := range []*httpflow.Document{nil, {}, {Capture: httpflow.CaptureInfo{Source: "empty.pcap"}}} {
		page := htmlRender(t, doc)
		if !bytes.Contains(page, []byte("No connections to draw.")) {
			t.Error("empty document: no notice")
		}
	}
}

func TestHTMLLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	doc := htmlLargeDoc(20000)
	start := time.Now()
	page := htmlRender(t, doc)
	took := time.Since(start)
	t.Logf("20000 connections: %.1f MB in %v", float64(len(page))/1e6, took)
	if len(page) > 15<<20 {
		t.Errorf("page is %d bytes, want < 15 MB", len(page))
	}
	if took > 60*time.Second { // about 1 s on an idle machine; see BenchmarkWriteHTML20k
		t.Errorf("rendering took %v", took)
	}
	for _, want := range []string{
		fmt.Sprintf("%d of 20000 connections drawn", htmlTimelineMax),
		fmt.Sprintf("%d connections are left out of the timeline", 20000-htmlTimelineMax),
		fmt.Sprintf("%d of 20000 connections listed", htmlTableMax),
	} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	data := htmlDataBlock(t, page)
	rows := data["tl"].(map[string]any)["rows"].([]any)
	if len(rows) != htmlTimelineMax {
		t.Errorf("timeline rows %d, want %d", len(rows), htmlTimelineMax)
	}
	races := 0
	for _, r := range rows {
		if data["strs"].([]any)[int(r.([]any)[5].(float64))] == httpflow.ReasonKeepaliveRace.String() {
			races++
		}
	}
	want := 0
	for i := range doc.Connections {
		if doc.Connections[i].Close.Reason == httpflow.ReasonKeepaliveRace {
			want++
		}
	}
	if races < min(want, htmlTimelineMax/4) {
		t.Errorf("timeline keeps %d keep-alive races, want at least %d", races, min(want, htmlTimelineMax/4))
	}
}

func TestHTMLCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(htmlCorpus, "*.truth.json"))
	if len(files) == 0 {
		t.Skip("corpus not available")
	}
	for _, f := range files {
		doc := htmlTruthDoc(t, f)
		page := htmlRender(t, doc)
		if len(page) > 2<<20 {
			t.Errorf("%s: %d bytes", f, len(page))
		}
		if strings.HasPrefix(filepath.Base(f), "keepalive-race") &&
			!bytes.Contains(page, []byte("requests met a closing connection (keep-alive race)")) {
			t.Errorf("%s: no keep-alive race finding", f)
		}
		if strings.HasPrefix(filepath.Base(f), "keepalive-server-timeout") &&
			!bytes.Contains(page, []byte("1 of 1 connections were closed by the server after 2.0 s idle (median); the server advertised timeout=2.")) {
			t.Errorf("%s: no server timeout finding", f)
		}
	}
}

// BenchmarkWriteHTML20k summarises 20,000 records and writes their report.
func BenchmarkWriteHTML20k(b *testing.B) {
	doc := htmlLargeDoc(20000)
	var buf bytes.Buffer
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf.Reset()
		if err := WriteHTML(&buf, htmlDigest(doc)); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

// A load generator's connection with thousands of requests is drawn with its
// first and last htmlRowTxMax/2 transactions, and the page says so.
func TestHTMLLongConnectionRowIsCapped(t *testing.T) {
	doc := htmlTestDoc()
	c := &doc.Connections[0]
	base := c.Transactions[0]
	c.Transactions, c.IdlePeriods = nil, nil
	for i := 1; i <= 5000; i++ {
		tx := base
		tx.Index = i
		tx.URI = "/req-" + strconv.Itoa(i)
		c.Transactions = append(c.Transactions, tx)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, htmlDigest(doc)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, uri := range []string{"/req-1\"", "/req-100\"", "/req-4901\"", "/req-5000\""} {
		if !strings.Contains(out, uri) {
			t.Errorf("report lacks %s", uri)
		}
	}
	for _, uri := range []string{"/req-101\"", "/req-2500\"", "/req-4900\""} {
		if strings.Contains(out, uri) {
			t.Errorf("report draws %s, which should be left out of the row", uri)
		}
	}
	if !strings.Contains(out, "4800 transactions in between are not drawn") {
		t.Errorf("report does not say that 4800 transactions are not drawn")
	}
}

// Many long connections share a budget of drawn transactions: each row
// draws fewer (down to htmlRowTxMin), and the page says how many.
func TestHTMLManyLongConnectionsShareTheBudget(t *testing.T) {
	doc := htmlTestDoc()
	base := doc.Connections[0]
	doc.Connections = nil
	for id := 1; id <= 200; id++ {
		c := base
		c.ID = id
		c.Transactions, c.IdlePeriods = nil, nil
		for i := 1; i <= 1000; i++ {
			tx := base.Transactions[0]
			tx.Index = i
			tx.URI = fmt.Sprintf("/c%d-r%d", id, i)
			c.Transactions = append(c.Transactions, tx)
		}
		doc.Connections = append(doc.Connections, c)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, htmlDigest(doc)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	drawnTx := strings.Count(out, `"/c`)
	if drawnTx > htmlTimelineTxs+400 { // +400: the table lists a URI per row
		t.Errorf("%d transactions drawn, budget %d", drawnTx, htmlTimelineTxs)
	}
	// 200 rows x k <= 12,000: k = 46 (200, 150, 112, 84, 62, 46).
	for _, uri := range []string{"/c1-r1\"", "/c1-r23\"", "/c200-r1000\"", "/c200-r978\""} {
		if !strings.Contains(out, uri) {
			t.Errorf("report lacks %s", uri)
		}
	}
	if strings.Contains(out, "/c1-r24\"") || strings.Contains(out, "/c1-r500\"") {
		t.Errorf("report draws more than the first 23 transactions of a row")
	}
	if !strings.Contains(out, "show the first and the last 23; 190800 transactions in between are not drawn") {
		t.Errorf("report does not say what it left out: %s", regexp.MustCompile(`Rows of connections[^.]*\.[^.]*\.`).FindString(out))
	}
}
