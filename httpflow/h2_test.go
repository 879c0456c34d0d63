package httpflow

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/httplife/httplife/tcpstate"
)

// h2Conv writes an HTTP/2 conversation with x/net/http2's Framer and
// hpack's Encoder (one per direction, as peers keep them): the test's
// oracle for the wire format.
type h2Conv struct {
	t     *testing.T
	steps []h2Step
	enc   [2]*hpack.Encoder
	hbuf  [2]*bytes.Buffer
	at    time.Duration
}

type h2Step struct {
	d  tcpstate.Dir
	b  []byte
	at time.Duration
}

var h2t0 = time.Unix(1700000000, 0).UTC()

func newH2Conv(t *testing.T) *h2Conv {
	c := &h2Conv{t: t}
	for i := range c.enc {
		c.hbuf[i] = new(bytes.Buffer)
		c.enc[i] = hpack.NewEncoder(c.hbuf[i])
	}
	return c
}

// after moves the conversation's clock on.
func (c *h2Conv) after(d time.Duration) *h2Conv { c.at += d; return c }

// raw adds bytes as they are.
func (c *h2Conv) raw(d tcpstate.Dir, b []byte) *h2Conv {
	c.steps = append(c.steps, h2Step{d, b, c.at})
	return c
}

// frames adds what write writes with a Framer.
func (c *h2Conv) frames(d tcpstate.Dir, write func(fr *http2.Framer)) *h2Conv {
	var b bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	fr.AllowIllegalWrites = true
	write(fr)
	return c.raw(d, b.Bytes())
}

// block HPACK-encodes header fields "name: value" in direction d.
func (c *h2Conv) block(d tcpstate.Dir, fields ...string) []byte {
	c.hbuf[d].Reset()
	for _, f := range fields {
		name, value, _ := strings.Cut(f, ": ")
		if err := c.enc[d].WriteField(hpack.HeaderField{Name: name, Value: value}); err != nil {
			c.t.Fatal(err)
		}
	}
	return slices.Clone(c.hbuf[d].Bytes())
}

func (c *h2Conv) preface() *h2Conv {
	return c.raw(tcpstate.ClientToServer, []byte(h2Preface)).frames(tcpstate.ClientToServer, func(fr *http2.Framer) { fr.WriteSettings() })
}

// request writes a request's HEADERS on stream s, ending the stream when end.
func (c *h2Conv) request(s uint32, end bool, fields ...string) *h2Conv {
	blk := c.block(tcpstate.ClientToServer, fields...)
	return c.frames(tcpstate.ClientToServer, func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: blk, EndStream: end, EndHeaders: true})
	})
}

// response writes a response's HEADERS on stream s.
func (c *h2Conv) response(s uint32, end bool, fields ...string) *h2Conv {
	blk := c.block(tcpstate.ServerToClient, fields...)
	return c.frames(tcpstate.ServerToClient, func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: blk, EndStream: end, EndHeaders: true})
	})
}

func (c *h2Conv) data(d tcpstate.Dir, s uint32, end bool, n int) *h2Conv {
	return c.frames(d, func(fr *http2.Framer) { fr.WriteData(s, end, bytes.Repeat([]byte("x"), n)) })
}

// run feeds the conversation to a flow, each step whole or (split) byte by
// byte, then a gap when gapAt ≥ 0 before step gapAt, and returns the record.
func (c *h2Conv) run(split bool, gapAt int) *Connection {
	var got []*Connection
	a := NewAnalyzer(Config{}, Emitting(new(Memory), func(r *Connection) { got = append(got, r) }))
	fl := a.Factory()(&tcpstate.Conn{}).(*flow)
	for i, s := range c.steps {
		now := h2t0.Add(s.at)
		if i == gapAt {
			fl.Gap(s.d, 100, now)
		}
		// The server's first bytes stay whole: it is recognised as HTTP/2
		// by a SETTINGS frame header in its first segment.
		if !split || i == 0 && s.d == tcpstate.ServerToClient {
			fl.Data(s.d, s.b, now)
			continue
		}
		for k := range s.b {
			fl.Data(s.d, s.b[k:k+1], now)
		}
	}
	fl.Done(&tcpstate.Conn{FirstPacketAt: h2t0, LastPacketAt: h2t0.Add(c.at)})
	if len(got) != 1 {
		c.t.Fatalf("%d records, want 1", len(got))
	}
	return got[0]
}

// txLine describes a transaction for comparisons: method, URI, status,
// the four times in ms from the start, the bytes, the interim statuses.
func txLine(tx *Transaction) string {
	ms := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return fmt.Sprint(t.Sub(h2t0).Milliseconds())
	}
	framing := tx.Framing.String()
	if framing == "" {
		framing = "null"
	}
	return fmt.Sprintf("%s %s %s %d req %s-%s resp %s-%s bytes %d/%d interim %v complete %v framing %s",
		tx.Method, tx.URI, tx.RequestVersion, tx.Status, ms(tx.RequestStartAt), ms(tx.RequestEndAt),
		ms(tx.ResponseStartAt), ms(tx.ResponseEndAt), tx.RequestBytes, tx.ResponseBytes, tx.InterimStatuses, tx.Complete, framing)
}

func TestH2Streams(t *testing.T) {
	const cs, sc = tcpstate.ClientToServer, tcpstate.ServerToClient
	tests := []struct {
		name      string
		conv      func(c *h2Conv)
		gapAt     int
		want      []string // txLine of each transaction
		anomalies []string
		goAway    time.Duration // > 0: Close.GoAwayAt
	}{
		{
			name: "GET with a body in two DATA frames",
			conv: func(c *h2Conv) {
				c.preface().request(1, true, ":method: GET", ":scheme: http", ":path: /a", ":authority: h")
				c.after(5*time.Millisecond).frames(sc, func(fr *http2.Framer) { fr.WriteSettings() })
				c.response(1, false, ":status: 200", "content-length: 20")
				c.after(time.Millisecond).data(sc, 1, false, 10).after(time.Millisecond).data(sc, 1, true, 10)
			},
			gapAt: -1,
			// Frame headers and payloads: 9+9 for the request's HEADERS;
			// 9+5 for the response's, and 2×(9+10) for its DATA.
			want: []string{"GET /a HTTP/2 200 req 0-0 resp 5-7 bytes 18/52 interim [] complete true framing content-length"},
		},
		{
			name: "padding, priority, CONTINUATION, 100 Continue, trailers",
			conv: func(c *h2Conv) {
				c.preface()
				blk := c.block(cs, ":method: POST", ":scheme: http", ":path: /upload", ":authority: h", "x-request-id: abc")
				c.frames(cs, func(fr *http2.Framer) {
					fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:3], PadLength: 4,
						Priority: http2.PriorityParam{StreamDep: 0, Weight: 15}})
					fr.WriteContinuation(1, false, blk[3:5])
					fr.WriteContinuation(1, true, blk[5:])
				})
				c.after(2*time.Millisecond).response(1, false, ":status: 100")
				c.after(time.Millisecond).data(cs, 1, false, 100)
				c.after(time.Millisecond).data(cs, 1, true, 50)
				c.after(3*time.Millisecond).response(1, false, ":status: 201")
				c.after(time.Millisecond).data(sc, 1, false, 5)
				c.after(time.Millisecond).response(1, true, "grpc-status: 0")
			},
			gapAt: -1,
			want:  []string{"POST /upload HTTP/2 201 req 0-4 resp 7-9 bytes 0/0 interim [100] complete true framing null"},
		},
		{
			name: "two multiplexed streams, answered out of order",
			conv: func(c *h2Conv) {
				c.preface().request(1, true, ":method: GET", ":path: /slow").request(3, true, ":method: GET", ":path: /fast")
				c.after(2*time.Millisecond).response(3, true, ":status: 204")
				c.after(8*time.Millisecond).response(1, false, ":status: 200").data(sc, 1, true, 3)
			},
			gapAt: -1,
			want: []string{
				"GET /slow HTTP/2 200 req 0-0 resp 10-10 bytes 0/0 interim [] complete true framing null",
				"GET /fast HTTP/2 204 req 0-0 resp 2-2 bytes 0/0 interim [] complete true framing no-body",
			},
		},
		{
			name: "a stream the server resets, then GOAWAY",
			conv: func(c *h2Conv) {
				c.preface().request(1, true, ":method: GET", ":path: /x")
				c.after(3*time.Millisecond).frames(sc, func(fr *http2.Framer) { fr.WriteRSTStream(1, http2.ErrCodeRefusedStream) })
				c.after(time.Second).frames(sc, func(fr *http2.Framer) { fr.WriteGoAway(1, http2.ErrCodeNo, nil) })
			},
			gapAt:     -1,
			want:      []string{"GET /x HTTP/2 0 req 0-0 resp --- bytes 0/0 interim [] complete false framing null"},
			anomalies: []string{"http2", "http2-stream-reset", "last-request-unanswered"},
			goAway:    1003 * time.Millisecond,
		},
		{
			name: "the server's SETTINGS first (a gRPC server)",
			conv: func(c *h2Conv) {
				c.frames(sc, func(fr *http2.Framer) {
					fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
				})
				c.after(time.Millisecond).preface().request(1, false, ":method: POST", ":path: /pkg.Svc/Call", "content-type: application/grpc")
				c.data(cs, 1, true, 12)
				c.after(time.Millisecond).response(1, false, ":status: 200", "content-type: application/grpc").data(sc, 1, false, 9)
				c.response(1, true, "grpc-status: 0")
			},
			gapAt: -1,
			want:  []string{"POST /pkg.Svc/Call HTTP/2 200 req 1-1 resp 2-2 bytes 0/0 interim [] complete true framing null"},
		},
		{
			name: "HTTP/1.1 Upgrade: h2c, the server's SETTINGS in the 101's segment",
			conv: func(c *h2Conv) {
				c.raw(cs, []byte("GET /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"))
				var settings bytes.Buffer
				http2.NewFramer(&settings, nil).WriteSettings()
				c.after(time.Millisecond).raw(sc, append([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"), settings.Bytes()...))
				c.after(time.Millisecond).preface()
				c.after(time.Millisecond).response(1, false, ":status: 200").data(sc, 1, true, 4)
				c.after(time.Millisecond).request(3, true, ":method: GET", ":path: /next")
				c.after(time.Millisecond).response(3, true, ":status: 204")
			},
			gapAt: -1,
			want: []string{
				"GET /up HTTP/1.1 200 req 0-0 resp 3-3 bytes 0/0 interim [101] complete true framing null",
				"GET /next HTTP/2 204 req 4-4 resp 5-5 bytes 0/0 interim [] complete true framing no-body",
			},
		},
		{
			name: "a WebSocket after its 101 stays a tunnel",
			conv: func(c *h2Conv) {
				c.raw(cs, []byte("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"))
				c.after(time.Millisecond).raw(sc, []byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"))
				c.after(time.Millisecond).raw(cs, []byte("\x81\x85\x01\x02\x03\x04iguhn"))
			},
			gapAt:     -1,
			want:      []string{"GET /ws HTTP/1.1 101 req 0-0 resp 1-1 bytes 0/0 interim [] complete true framing no-body"},
			anomalies: []string{"tunnel"},
		},
		{
			name: "a gap ends the analysis of the frames",
			conv: func(c *h2Conv) {
				c.preface().request(1, true, ":method: GET", ":path: /")
				c.after(time.Millisecond).response(1, true, ":status: 200")
				c.after(time.Millisecond).request(3, true, ":method: GET", ":path: /after-gap")
			},
			gapAt:     4,
			want:      []string{"GET / HTTP/2 200 req 0-0 resp 1-1 bytes 0/0 interim [] complete true framing no-body"},
			anomalies: []string{"http2", "content-gap"},
		},
		{
			name: "a preface that goes wrong",
			conv: func(c *h2Conv) {
				c.raw(cs, []byte("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"))
			},
			gapAt:     -1,
			anomalies: []string{"http2", "non-http-payload"},
		},
		{
			name: "an HPACK table larger than the bound",
			conv: func(c *h2Conv) {
				c.enc[cs].SetMaxDynamicTableSizeLimit(1 << 20)
				c.enc[cs].SetMaxDynamicTableSize(h2MaxTable * 2)
				c.preface().request(1, true, ":method: GET", ":path: /")
			},
			gapAt:     -1,
			anomalies: []string{"http2", "http2-header-error"},
		},
		{
			name: "a header block longer than the bound",
			conv: func(c *h2Conv) {
				c.preface().raw(cs, []byte{0x10, 0x00, 0x00, h2Headers, h2EndHeaders, 0, 0, 0, 1})
			},
			gapAt:     -1,
			anomalies: []string{"http2", "http2-frame-too-large"},
		},
	}
	for _, tc := range tests {
		var lines [2][]string
		for i, split := range []bool{false, true} {
			c := newH2Conv(t)
			tc.conv(c)
			r := c.run(split, tc.gapAt)
			for k := range r.Transactions {
				lines[i] = append(lines[i], txLine(&r.Transactions[k]))
			}
			// Byte counts depend on nothing but the frames: check them in the
			// first case only, where they are written out.
			if !split {
				want := tc.anomalies
				if want == nil {
					want = []string{"http2"}
				}
				if !slices.Equal(r.Anomalies, want) {
					t.Errorf("%s: anomalies %q, want %q", tc.name, r.Anomalies, want)
				}
				if g := r.Close.GoAwayAt; tc.goAway > 0 != !g.IsZero() || tc.goAway > 0 && g.Sub(h2t0) != tc.goAway {
					t.Errorf("%s: GOAWAY at %v, want %v after the start", tc.name, g, tc.goAway)
				}
				if tc.goAway > 0 && !strings.Contains(r.Close.Evidence, "HTTP/2 GOAWAY from the server") {
					t.Errorf("%s: evidence %q does not cite the GOAWAY", tc.name, r.Close.Evidence)
				}
			}
		}
		if !slices.Equal(lines[0], lines[1]) {
			t.Errorf("%s: fed whole\n%s\nbyte by byte\n%s", tc.name, strings.Join(lines[0], "\n"), strings.Join(lines[1], "\n"))
		}
		got := lines[0]
		for k := range got {
			got[k] = zeroBytes(got[k], tc.want, k)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s:\ngot  %s\nwant %s", tc.name, strings.Join(got, "\n     "), strings.Join(tc.want, "\n     "))
		}
	}
}

// zeroBytes replaces the byte counts of line with 0/0 when the wanted line
// at k has them so (the cases whose frame sizes are the Framer's business).
func zeroBytes(line string, want []string, k int) string {
	if k >= len(want) || !strings.Contains(want[k], "bytes 0/0") {
		return line
	}
	i := strings.Index(line, "bytes ")
	j := strings.Index(line[i:], " interim")
	return line[:i] + "bytes 0/0" + line[i+j:]
}

// TestH2StreamsCapped: a client that opens streams without end is
// followed up to h2MaxStreams open at once, and the rest noted.
func TestH2StreamsCapped(t *testing.T) {
	c := newH2Conv(t).preface()
	for s := uint32(1); s < 2*(h2MaxStreams+10); s += 2 {
		c.request(s, false, ":method: GET", ":path: /")
	}
	r := c.run(false, -1)
	if len(r.Transactions) != h2MaxStreams || !slices.Contains(r.Anomalies, "http2-streams-capped") {
		t.Errorf("%d transactions, anomalies %q; want %d and http2-streams-capped", len(r.Transactions), r.Anomalies, h2MaxStreams)
	}
}

// FuzzH2 feeds arbitrary frames after the preface in both directions:
// never a panic, and a sound record.
func FuzzH2(f *testing.F) {
	c := newH2Conv(&testing.T{})
	c.preface().request(1, false, ":method: POST", ":path: /a").data(tcpstate.ClientToServer, 1, true, 3)
	c.response(1, false, ":status: 200").data(tcpstate.ServerToClient, 1, true, 2)
	var cl, sv []byte
	for _, s := range c.steps {
		if s.d == tcpstate.ClientToServer {
			cl = append(cl, s.b...)
		} else {
			sv = append(sv, s.b...)
		}
	}
	f.Add(cl[len(h2Preface):], sv, uint8(3))
	f.Add([]byte{0, 0, 5, 1, 0x2c, 0, 0, 0, 1, 3, 0x80, 0, 0, 0}, []byte{0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, uint8(1))
	f.Fuzz(func(t *testing.T, req, resp []byte, chunk uint8) {
		var got []*Connection
		a := NewAnalyzer(Config{}, Emitting(new(Memory), func(r *Connection) { got = append(got, r) }))
		fl := a.Factory()(&tcpstate.Conn{}).(*flow)
		n := 1 + int(chunk)%32
		req = append([]byte(h2Preface), req...)
		for i, j, step := 0, 0, 0; i < len(req) || j < len(resp); step++ {
			now := h2t0.Add(time.Duration(step) * time.Millisecond)
			if i < len(req) {
				e := min(i+n, len(req))
				fl.Data(tcpstate.ClientToServer, req[i:e], now)
				i = e
			}
			if j < len(resp) {
				e := min(j+n, len(resp))
				fl.Data(tcpstate.ServerToClient, resp[j:e], now)
				j = e
			}
		}
		fl.Done(&tcpstate.Conn{FirstPacketAt: h2t0, LastPacketAt: h2t0.Add(time.Hour)})
		if len(got) != 1 {
			t.Fatalf("%d records", len(got))
		}
		for i, tx := range got[0].Transactions {
			if tx.Index != i+1 || tx.Complete && tx.Status == 0 || tx.Status != 0 && (tx.Status < 200 || tx.Status > 999) {
				t.Fatalf("transaction %d: %s", i+1, txLine(&tx))
			}
		}
		if fl.h2 != nil && len(fl.h2.streams) > h2MaxStreams {
			t.Fatalf("%d open streams followed", len(fl.h2.streams))
		}
	})
}
