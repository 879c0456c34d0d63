package render

// A real-browser test of the HTML report: headless Chromium driven over the
// Chrome DevTools Protocol with a minimal WebSocket client (standard library
// only). Skipped when /usr/bin/chromium is absent.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httplife/httplife/httpflow"
)

var htmlShots = flag.String("html-shots", "", "directory to keep the browser test's screenshots in")

const htmlChromium = "/usr/bin/chromium"

// ---------------------------------------------------------------- WebSocket (RFC 6455), client side

type htmlWS struct {
	conn net.Conn
	br   *bufio.Reader
	wmu  sync.Mutex
}

func htmlDialWS(rawURL string) (*htmlWS, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 1<<16)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("websocket handshake: %s", resp.Status)
	}
	return &htmlWS{conn: conn, br: br}, nil
}

func (w *htmlWS) writeFrame(op byte, payload []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	hdr := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n < 1<<16:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	mask := make([]byte, 4)
	_, _ = rand.Read(mask)
	hdr = append(hdr, mask...)
	masked := make([]byte, len(payload))
	for i, b := range payload {
		masked[i] = b ^ mask[i%4]
	}
	_, err := w.conn.Write(append(hdr, masked...))
	return err
}

// read returns the next text or binary message.
func (w *htmlWS) read() ([]byte, error) {
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.br, h[:]); err != nil {
			return nil, err
		}
		fin, op := h[0]&0x80 != 0, h[0]&0x0f
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		var mask []byte
		if h[1]&0x80 != 0 {
			mask = make([]byte, 4)
			if _, err := io.ReadFull(w.br, mask); err != nil {
				return nil, err
			}
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(w.br, payload); err != nil {
			return nil, err
		}
		if mask != nil {
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
		}
		switch op {
		case 0x8:
			return nil, io.EOF
		case 0x9:
			_ = w.writeFrame(0xA, payload)
			continue
		case 0xA:
			continue
		}
		msg = append(msg, payload...)
		if fin {
			return msg, nil
		}
	}
}

// ---------------------------------------------------------------- CDP

type htmlCDPEvent struct {
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params"`
	SessionID string          `json:"sessionId"`
}

type htmlCDP struct {
	ws      *htmlWS
	mu      sync.Mutex
	nextID  int
	pending map[int]chan htmlCDPReply
	events  []htmlCDPEvent
	notify  chan struct{}
}

type htmlCDPReply struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	htmlCDPEvent
}

func htmlNewCDP(ws *htmlWS) *htmlCDP {
	c := &htmlCDP{ws: ws, pending: map[int]chan htmlCDPReply{}, notify: make(chan struct{}, 1)}
	go func() {
		for {
			b, err := ws.read()
			if err != nil {
				c.mu.Lock()
				for _, ch := range c.pending {
					close(ch)
				}
				c.pending = nil
				c.mu.Unlock()
				return
			}
			var r htmlCDPReply
			if json.Unmarshal(b, &r) != nil {
				continue
			}
			c.mu.Lock()
			if r.ID != 0 {
				if ch, ok := c.pending[r.ID]; ok {
					ch <- r
					delete(c.pending, r.ID)
				}
			} else if r.Method != "" {
				c.events = append(c.events, r.htmlCDPEvent)
				select {
				case c.notify <- struct{}{}:
				default:
				}
			}
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *htmlCDP) call(ctx context.Context, session, method string, params any, result any) error {
	c.mu.Lock()
	if c.pending == nil {
		c.mu.Unlock()
		return errors.New("cdp: connection closed")
	}
	c.nextID++
	id := c.nextID
	ch := make(chan htmlCDPReply, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if params == nil {
		msg["params"] = map[string]any{}
	}
	if session != "" {
		msg["sessionId"] = session
	}
	b, _ := json.Marshal(msg)
	if err := c.ws.writeFrame(0x1, b); err != nil {
		return err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return errors.New("cdp: connection closed")
		}
		if r.Error != nil {
			return fmt.Errorf("cdp %s: %s", method, r.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(r.Result, result)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cdp %s: %w", method, ctx.Err())
	}
}

// waitEvent waits for an event of session with the method name.
func (c *htmlCDP) waitEvent(ctx context.Context, session, method string, from int) error {
	for {
		c.mu.Lock()
		for _, e := range c.events[min(from, len(c.events)):] {
			if e.Method == method && e.SessionID == session {
				c.mu.Unlock()
				return nil
			}
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", method, ctx.Err())
		}
	}
}

func (c *htmlCDP) eventsOf(session string) []htmlCDPEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []htmlCDPEvent
	for _, e := range c.events {
		if e.SessionID == session {
			out = append(out, e)
		}
	}
	return out
}

// eval runs a JavaScript expression and decodes its JSON-string result.
func (c *htmlCDP) eval(ctx context.Context, session, expr string, out any) error {
	var r struct {
		Result struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := c.call(ctx, session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r); err != nil {
		return err
	}
	if r.ExceptionDetails != nil {
		return fmt.Errorf("evaluate: %s %s", r.ExceptionDetails.Text, r.ExceptionDetails.Exception.Description)
	}
	if out == nil {
		return nil
	}
	var s string
	if err := json.Unmarshal(r.Result.Value, &s); err != nil {
		return json.Unmarshal(r.Result.Value, out)
	}
	return json.Unmarshal([]byte(s), out)
}

// htmlBrowser starts headless Chromium and connects to it.
func htmlBrowser(t *testing.T) *htmlCDP {
	t.Helper()
	if _, err := os.Stat(htmlChromium); err != nil {
		t.Skipf("%s not installed", htmlChromium)
	}
	profile := t.TempDir()
	cmd := exec.Command(htmlChromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
		"--disable-extensions", "--mute-audio", "--hide-scrollbars", "--no-default-browser-check",
		"--user-data-dir="+profile, "--remote-debugging-port=0", "--window-size=1400,1000", "about:blank")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var port, path string
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort"))
		if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); err == nil && len(lines) == 2 {
			port, path = lines[0], lines[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromium did not start: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	ws, err := htmlDialWS("ws://127.0.0.1:" + port + path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.conn.Close() })
	return htmlNewCDP(ws)
}

// htmlPageRun is what one report did in the browser.
type htmlPageRun struct {
	session  string
	fileURL  string
	loadTime time.Duration
	png      []byte
}

// htmlOpen loads file in a new tab and waits for the report to be ready.
func htmlOpen(ctx context.Context, t *testing.T, c *htmlCDP, file string, width, height int) *htmlPageRun {
	t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := c.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatal(err)
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := c.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		t.Fatal(err)
	}
	s := att.SessionID
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable", "Network.enable"} {
		if err := c.call(ctx, s, m, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.call(ctx, s, "Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		t.Fatal(err)
	}
	u := (&url.URL{Scheme: "file", Path: file}).String()
	start := time.Now()
	if err := c.call(ctx, s, "Page.navigate", map[string]any{"url": u}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.waitEvent(ctx, s, "Page.loadEventFired", 0); err != nil {
		t.Fatal(err)
	}
	for {
		var ready string
		if err := c.eval(ctx, s, `JSON.stringify(document.documentElement.getAttribute("data-hl-ready") || "")`, &ready); err != nil {
			t.Fatal(err)
		}
		if ready == "1" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: report never became ready", file)
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Let echarts finish progressive rendering.
	if err := c.eval(ctx, s, `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(() => r("null"), 200))))`, nil); err != nil {
		t.Fatal(err)
	}
	return &htmlPageRun{session: s, fileURL: u, loadTime: time.Since(start)}
}

// htmlCheckQuiet asserts no console error, exception or request other than the file itself.
func htmlCheckQuiet(t *testing.T, c *htmlCDP, p *htmlPageRun, name string) {
	t.Helper()
	for _, e := range c.eventsOf(p.session) {
		switch e.Method {
		case "Runtime.exceptionThrown":
			t.Errorf("%s: exception: %s", name, e.Params)
		case "Runtime.consoleAPICalled":
			var v struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(e.Params, &v)
			if v.Type == "error" || v.Type == "assert" || v.Type == "warning" {
				t.Errorf("%s: console %s: %s", name, v.Type, e.Params)
			}
		case "Log.entryAdded":
			var v struct {
				Entry struct {
					Level string `json:"level"`
					Text  string `json:"text"`
					URL   string `json:"url"`
				} `json:"entry"`
			}
			_ = json.Unmarshal(e.Params, &v)
			if v.Entry.Level == "error" || v.Entry.Level == "warning" {
				t.Errorf("%s: log %s: %s %s", name, v.Entry.Level, v.Entry.Text, v.Entry.URL)
			}
		case "Network.requestWillBeSent":
			var v struct {
				Request struct {
					URL string `json:"url"`
				} `json:"request"`
			}
			_ = json.Unmarshal(e.Params, &v)
			if v.Request.URL != p.fileURL {
				t.Errorf("%s: request to %q", name, v.Request.URL)
			}
		case "Network.loadingFailed":
			t.Errorf("%s: loading failed: %s", name, e.Params)
		}
	}
}

// htmlChartState reports, per chart, its canvas count, size and series data lengths.
type htmlChartState struct {
	Canvas int   `json:"canvas"`
	W      int   `json:"w"`
	H      int   `json:"h"`
	Series []int `json:"series"`
}

type htmlPageState struct {
	Charts  map[string]htmlChartState `json:"charts"`
	Title   string                    `json:"title"`
	Pwned   any                       `json:"pwned"`
	Images  int                       `json:"images"`
	Scripts int                       `json:"scripts"`
	Rows    int                       `json:"rows"`
	YLabels int                       `json:"ylabels"`
}

const htmlStateJS = `JSON.stringify({
  charts: Object.fromEntries(Object.entries(HL.charts).map(([k, ch]) => [k, {
    canvas: ch.getDom().querySelectorAll("canvas").length, w: ch.getWidth(), h: ch.getHeight(),
    series: ch.getOption().series.map(s => (s.data || []).length)}])),
  title: document.title, pwned: window.__pwned === undefined ? null : window.__pwned,
  images: document.images.length, scripts: document.scripts.length,
  rows: document.querySelectorAll("table.hl-table tbody tr").length,
  ylabels: ((HL.charts.timeline && HL.charts.timeline.getOption().yAxis[0].data) || []).length
})`

func htmlState(ctx context.Context, t *testing.T, c *htmlCDP, p *htmlPageRun) htmlPageState {
	t.Helper()
	var st htmlPageState
	if err := c.eval(ctx, p.session, htmlStateJS, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func htmlScreenshot(ctx context.Context, t *testing.T, c *htmlCDP, p *htmlPageRun, clipHeight int) []byte {
	t.Helper()
	params := map[string]any{"format": "png"}
	if clipHeight > 0 {
		params["clip"] = map[string]any{"x": 0, "y": 0, "width": 1400, "height": clipHeight, "scale": 1}
		params["captureBeyondViewport"] = true
	}
	var shot struct {
		Data string `json:"data"`
	}
	if err := c.call(ctx, p.session, "Page.captureScreenshot", params, &shot); err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// htmlCheckPNG asserts a screenshot is a real picture: big enough, many colours.
func htmlCheckPNG(t *testing.T, name string, b []byte) {
	t.Helper()
	if len(b) < 40<<10 {
		t.Errorf("%s: screenshot only %d bytes", name, len(b))
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	colours := map[[3]uint32]bool{}
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y += 3 {
		for x := bd.Min.X; x < bd.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	if len(colours) < 50 {
		t.Errorf("%s: screenshot has only %d colours", name, len(colours))
	}
	// The timeline's segment colours must be on screen: client blue and server orange.
	if !htmlHasColour(img, 0x2f, 0x6f, 0xd0) || !htmlHasColour(img, 0xe8, 0x74, 0x1c) {
		t.Errorf("%s: timeline colours not found in the screenshot", name)
	}
}

func htmlHasColour(img image.Image, r, g, b uint32) bool {
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr>>8 == r && cg>>8 == g && cb>>8 == b {
				return true
			}
		}
	}
	return false
}

func htmlKeepShot(t *testing.T, name string, b []byte) {
	if *htmlShots == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(*htmlShots, name+".png"), b, 0o644); err != nil {
		t.Error(err)
	}
}

func TestBrowserHTML(t *testing.T) {
	c := htmlBrowser(t)
	extra := strings.Count(os.Getenv("HTTPLIFE_HTML_JSON"), ",") + 1
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second+time.Duration(extra)*10*time.Second)
	defer cancel()
	dir := t.TempDir()
	write := func(name string, doc *httpflow.Document) string {
		path := filepath.Join(dir, name+".html")
		if err := os.WriteFile(path, htmlRender(t, doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	docs := []struct {
		name string
		doc  *httpflow.Document
	}{{"basic", htmlTestDoc()}, {"hostile", htmlHostileDoc()}}
	for _, f := range []string{"keepalive-race.pcap.truth.json", "browser-like.pcap.truth.json"} {
		if _, err := os.Stat(filepath.Join(htmlCorpus, f)); err == nil {
			docs = append(docs, struct {
				name string
				doc  *httpflow.Document
			}{strings.TrimSuffix(f, ".pcap.truth.json"), htmlTruthDoc(t, filepath.Join(htmlCorpus, f))})
		}
	}
	// Analyser output to check too: HTTPLIFE_HTML_JSON=a.json,b.json
	for _, f := range strings.Split(os.Getenv("HTTPLIFE_HTML_JSON"), ",") {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc := &httpflow.Document{}
		if err := json.Unmarshal(b, doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		docs = append(docs, struct {
			name string
			doc  *httpflow.Document
		}{"json-" + strings.TrimSuffix(filepath.Base(f), ".json"), doc})
	}
	wantCharts := []string{"timeline", "idle_gaps", "final_idle", "reasons", "sides", "per_conn", "over_time", "time_wait"}
	for _, d := range docs {
		p := htmlOpen(ctx, t, c, write(d.name, d.doc), 1400, 1000)
		htmlCheckQuiet(t, c, p, d.name)
		st := htmlState(ctx, t, c, p)
		for _, k := range wantCharts {
			ch, ok := st.Charts[k]
			if !ok {
				t.Errorf("%s: chart %s not initialised", d.name, k)
				continue
			}
			if ch.Canvas == 0 || ch.W < 200 || ch.H < 150 {
				t.Errorf("%s: chart %s not drawn: %+v", d.name, k, ch)
			}
			total := 0
			for _, n := range ch.Series {
				total += n
			}
			if total == 0 && k != "time_wait" {
				t.Errorf("%s: chart %s has no data: %+v", d.name, k, ch)
			}
		}
		if st.YLabels != len(d.doc.Connections) || st.Rows != len(d.doc.Connections) {
			t.Errorf("%s: %d timeline rows, %d table rows, want %d", d.name, st.YLabels, st.Rows, len(d.doc.Connections))
		}
		if st.Pwned != nil || st.Title != "httplife report: "+d.doc.Capture.Source || st.Images != 0 {
			t.Errorf("%s: injected markup ran: %+v", d.name, st)
		}
		if st.Scripts != 3+len(wantCharts)+1 {
			t.Errorf("%s: %d script elements", d.name, st.Scripts)
		}
		shot := htmlScreenshot(ctx, t, c, p, 0)
		htmlCheckPNG(t, d.name, shot)
		htmlKeepShot(t, d.name, shot)
		if d.name == "basic" && *htmlShots != "" {
			var h int
			if err := c.eval(ctx, p.session, `JSON.stringify(document.documentElement.scrollHeight)`, &h); err != nil {
				t.Fatal(err)
			}
			htmlKeepShot(t, "basic-full", htmlScreenshot(ctx, t, c, p, h))
		}
		t.Logf("%s: ready in %v", d.name, p.loadTime)

		if d.name != "hostile" {
			continue
		}
		// Show every tooltip of the hostile connections: nothing may run,
		// and the payload must appear as text.
		var tip struct {
			Shown int    `json:"shown"`
			Text  string `json:"text"`
			Imgs  int    `json:"imgs"`
			Pwned any    `json:"pwned"`
			Cell  string `json:"cell"`
		}
		const tipJS = `(async () => {
  const ch = HL.charts.timeline, data = ch.getOption().series[0].data;
  let text = "", shown = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i][4] > 1) continue;
    ch.dispatchAction({type: "showTip", seriesIndex: 0, dataIndex: i});
    await new Promise(r => setTimeout(r, 30));
    const tips = [...ch.getDom().querySelectorAll("div")].filter(d => d.querySelector(".hl-tip"));
    if (tips.length) { shown++; text += tips[0].textContent + "\n"; }
  }
  return JSON.stringify({shown, text, imgs: document.querySelectorAll("img").length,
    pwned: window.__pwned === undefined ? null : window.__pwned,
    cell: document.querySelector("#conn-2 td:nth-child(2)").textContent});
})()`
		if err := c.eval(ctx, p.session, tipJS, &tip); err != nil {
			t.Fatal(err)
		}
		if tip.Shown == 0 {
			t.Error("hostile: no tooltip shown")
		}
		if tip.Imgs != 0 || tip.Pwned != nil {
			t.Errorf("hostile: tooltip injected markup: %+v", tip)
		}
		for _, s := range []string{`<script>window.__pwned=1;document.title="PWNED"</script>`, `"><img src=x onerror="window.__pwned=2;document.title='PWNED'">`, "</script><script>window.__pwned=3</script>"} {
			if !strings.Contains(tip.Text, s) {
				t.Errorf("hostile: tooltip text lacks %q", s)
			}
		}
		if want := d.doc.Connections[1].Client.String(); tip.Cell != want {
			t.Errorf("hostile: table cell %q, want %q", tip.Cell, want)
		}
		htmlCheckQuiet(t, c, p, "hostile after tooltips")
	}

	// A large capture: the page must load and re-order quickly.
	large := htmlLargeDoc(20000)
	p := htmlOpen(ctx, t, c, write("large", large), 1400, 1000)
	htmlCheckQuiet(t, c, p, "large")
	st := htmlState(ctx, t, c, p)
	if st.YLabels != htmlTimelineMax || st.Rows != htmlTableMax {
		t.Errorf("large: %d timeline rows, %d table rows", st.YLabels, st.Rows)
	}
	var took float64
	if err := c.eval(ctx, p.session, `(() => { const t = performance.now(); const s = document.getElementById("hl-order");
  for (const v of ["duration", "reason", "start"]) { s.value = v; s.dispatchEvent(new Event("change")); }
  return JSON.stringify(performance.now() - t); })()`, &took); err != nil {
		t.Fatal(err)
	}
	// Scrolling the rows re-fits the time axis to them.
	var fit struct{ Before, After, Rows []float64 }
	if err := c.eval(ctx, p.session, `(async () => {
  const ch = HL.charts.timeline, x = () => { const z = ch.getOption().dataZoom[0]; return [z.startValue, z.endValue]; };
  const before = x();
  ch.dispatchAction({type: "dataZoom", dataZoomIndex: 2, start: 50, end: 51.8});
  await new Promise(r => setTimeout(r, 100));
  const z = ch.getOption().dataZoom[2];
  return JSON.stringify({Before: before, After: x(), Rows: [z.startValue, z.endValue]});
})()`, &fit); err != nil {
		t.Fatal(err)
	}
	// The rows at half way start well after the first rows do, so the axis
	// must start later and span less; it may still reach the capture's end,
	// since a row still open at the end is drawn up to it.
	if len(fit.After) != 2 || len(fit.Before) != 2 || fit.After[0] <= fit.Before[0]+60000 ||
		fit.After[1]-fit.After[0] >= fit.Before[1]-fit.Before[0] {
		t.Errorf("large: time axis not fitted to the rows in view: %+v", fit)
	}
	t.Logf("large: ready in %v, three re-orders in %.0f ms; rows %v shown over %v ms", p.loadTime, took, fit.Rows, fit.After)
	// About 2 s and 0.5 s on an idle machine; generous bounds for loaded CI.
	if p.loadTime > 30*time.Second || took > 15000 {
		t.Errorf("large report too slow: load %v, re-order %.0f ms", p.loadTime, took)
	}
	shot := htmlScreenshot(ctx, t, c, p, 0)
	htmlCheckPNG(t, "large", shot)
	htmlKeepShot(t, "large", shot)
}
