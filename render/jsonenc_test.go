package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/pipeline"
	"github.com/httplife/httplife/tcpstate"
)

// The hand-written encoder is held byte for byte to encoding/json: on the
// records of every capture the project has, on synthetic records that
// exercise every field and every escape, and under fuzzing.

// reflectNDJSON is the definition of NDJSON.Connection: json.Encoder's
// line for c's wire form.
func reflectNDJSON(c *httpflow.Connection) (string, error) {
	var b bytes.Buffer
	var err error
	if c == nil {
		err = json.NewEncoder(&b).Encode(nil)
	} else {
		err = json.NewEncoder(&b).Encode(Wire(c))
	}
	return b.String(), err
}

// fastNDJSON is what NDJSON.Connection writes for c.
func fastNDJSON(c *httpflow.Connection) (string, error) {
	var b bytes.Buffer
	err := NewNDJSON(&b).Connection(c)
	return b.String(), err
}

// documentJSON writes doc with write, returning the output and the error.
func documentJSON(write func(*bytes.Buffer, *httpflow.Document) error, doc *httpflow.Document) (string, error) {
	var b bytes.Buffer
	err := write(&b, doc)
	return b.String(), err
}

func writeFast(b *bytes.Buffer, doc *httpflow.Document) error    { return WriteJSON(b, doc) }
func writeReflect(b *bytes.Buffer, doc *httpflow.Document) error { return writeJSONReflect(b, doc) }

// checkConnection compares both encodings of c with encoding/json's: the
// NDJSON line, and the record inside an indented document.
func checkConnection(t *testing.T, name string, c *httpflow.Connection) {
	t.Helper()
	want, werr := reflectNDJSON(c)
	got, gerr := fastNDJSON(c)
	if got != want || !sameError(gerr, werr) {
		t.Errorf("%s: NDJSON line\ngot  %q (error %v)\nwant %q (error %v)\n%s", name, got, gerr, want, werr, firstByteDiff(got, want))
	}
	doc := &httpflow.Document{Connections: []httpflow.Connection{*c}}
	checkDocument(t, name, doc)
}

// checkDocument compares WriteJSON's output for doc with encoding/json's.
func checkDocument(t *testing.T, name string, doc *httpflow.Document) {
	t.Helper()
	want, werr := documentJSON(writeReflect, doc)
	got, gerr := documentJSON(writeFast, doc)
	if got != want || !sameError(gerr, werr) {
		t.Errorf("%s: WriteJSON\ngot  %q (error %v)\nwant %q (error %v)\n%s", name, got, gerr, want, werr, firstByteDiff(got, want))
	}
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// firstByteDiff shows where got and want part.
func firstByteDiff(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	if i == len(got) && i == len(want) {
		return "(same bytes)"
	}
	from := max(i-40, 0)
	return "first difference at byte " + strconv.Itoa(i) + ":\ngot  …" + clipBytes(got[from:], 80) + "\nwant …" + clipBytes(want[from:], 80)
}

func clipBytes(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// captureFiles lists every capture in the repository and in the shared
// corpus beside it.
func captureFiles(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, g := range []string{"../samples/*.pcap*", "../samples/heldout-sim/*.pcap*", "../samples/field/*.pcap*", "../samples/h2c/*.pcap*", "../../shared/corpus/*.pcap*"} {
		m, _ := filepath.Glob(g)
		for _, p := range m {
			if strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng") {
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		tb.Fatal("no captures found")
	}
	return out
}

// analysed is a capture's document, analysed once per test binary.
var analysed sync.Map // path → *httpflow.Document

func analyse(tb testing.TB, path string) *httpflow.Document {
	tb.Helper()
	if doc, ok := analysed.Load(path); ok {
		return doc.(*httpflow.Document)
	}
	src, err := capture.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	doc, _, err := pipeline.Analyse(src, pipeline.Config{TCP: tcpstate.DefaultConfig()})
	if err != nil {
		tb.Logf("%s: %v (kept what was analysed)", path, err)
	}
	analysed.Store(path, doc)
	return doc
}

// Every record of every capture, as an NDJSON line and in the document.
func TestEncoderMatchesEncodingJSONOnCaptures(t *testing.T) {
	records := 0
	for _, path := range captureFiles(t) {
		doc := analyse(t, path)
		for i := range doc.Connections {
			c := &doc.Connections[i]
			want, werr := reflectNDJSON(c)
			got, gerr := fastNDJSON(c)
			if got != want || gerr != nil || werr != nil {
				t.Errorf("%s: connection %d: NDJSON line\ngot  %q (error %v)\nwant %q (error %v)\n%s", path, c.ID, got, gerr, want, werr, firstByteDiff(got, want))
			}
			records++
		}
		checkDocument(t, path, doc)
	}
	t.Logf("%d records", records)
}

// The indented document around the records: no connections, none, and
// hostile strings in the parts encoding/json still writes.
func TestWriteJSONDocuments(t *testing.T) {
	one := []httpflow.Connection{*fullConnection()}
	for _, tc := range []struct {
		name string
		doc  *httpflow.Document
	}{
		{"nil document", nil},
		{"zero document", &httpflow.Document{}},
		{"nil connections", &httpflow.Document{Capture: httpflow.CaptureInfo{Source: "a.pcap"}}},
		{"empty connections", &httpflow.Document{Connections: []httpflow.Connection{}}},
		{"one connection", &httpflow.Document{Connections: one}},
		{"hostile capture", &httpflow.Document{
			Capture:     httpflow.CaptureInfo{Source: "</script>&.pcap", LinkTypes: []string{}, Warnings: []string{"a\nb", "<\u2028\"\\\x01\xff>"}, Skipped: httpflow.Skipped{NonTCP: 1}},
			Options:     httpflow.Options{TwoMSL: 60 * time.Second, Ports: "<80>"},
			Connections: one,
		}},
		{"many connections", &httpflow.Document{Connections: manyConnections(200)}},
		{"refused summary", &httpflow.Document{Summary: httpflow.Summary{IdleS: httpflow.Distribution{P50: math.Inf(1)}}, Connections: one}},
		{"refused record", &httpflow.Document{Connections: append(manyConnections(3), httpflow.Connection{KeepAlive: httpflow.KeepAlive{AdvertisedTimeout: ptr(math.Inf(-1))}})}},
	} {
		checkDocument(t, tc.name, tc.doc)
	}
}

// manyConnections returns n varied records, more than one write's worth.
func manyConnections(n int) []httpflow.Connection {
	out := make([]httpflow.Connection, n)
	for i := range out {
		c := fullConnection()
		c.ID = i
		if i%3 == 0 {
			c.Transactions = nil
		}
		out[i] = *c
	}
	return out
}

var (
	hostileStrings = []string{
		"",
		"plain",
		"<script>alert('x')</script>",
		"a & b > c < d",
		`quote " and backslash \ and slash /`,
		"\x00\x01\x07\x08\x09\x0a\x0b\x0c\x0d\x1b\x1f\x20\x7f",
		"tab\tnewline\ncr\rff\fbs\b",
		"invalid \xff\xfe UTF-8 \xc3 and truncated \xe2\x80",
		"overlong \xc0\xaf and surrogate \xed\xa0\x80",
		"line\u2028separator\u2029paragraph",
		"µs, ünïcödé, 日本語, 🙂",
		"\u2027\u202a just beside the separators",
		"\xe2\x80\xa8 raw U+2028 bytes",
		"ends in a lone byte \xc3",
		strings.Repeat("long <&> ", 200),
	}
	edgeTimes = []time.Time{
		{},
		time.Date(2026, 12, 2, 3, 4, 43, 313115000, time.UTC),
		time.Date(2026, 12, 2, 3, 4, 43, 1, time.FixedZone("E", 19800)),
		time.Unix(0, 0),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(0, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(-42, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Date(999, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2000, 2, 29, 12, 0, 0, 0, time.UTC),
		time.Now(),
	}
	edgeDurations = []time.Duration{
		0, 1, -1, 449 * time.Microsecond, 976562, -250 * time.Millisecond, time.Second, time.Minute,
		1e15, math.MaxInt64, math.MinInt64, -1234567891,
	}
	edgeFloats = []float64{
		0, math.Copysign(0, -1), 5, 0.5, 1e-6, 9.99e-7, 1e-7, 1.5e-300, 1e20, 1e21, 1.2345e22, -3, math.MaxFloat64, math.SmallestNonzeroFloat64,
	}
)

func ptr[T any](v T) *T { return &v }

// fullConnection has every field set to something other than its zero.
func fullConnection() *httpflow.Connection {
	t0 := time.Date(2026, 12, 2, 3, 4, 43, 313115000, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	return &httpflow.Connection{
		ID:            7,
		Client:        netip.MustParseAddrPort("127.0.0.1:43002"),
		Server:        netip.MustParseAddrPort("[::1]:80"),
		ClientGuessed: true,
		SynSeen:       true,
		FirstPacketAt: at(0),
		LastPacketAt:  at(time.Second),
		Handshake:     &httpflow.Handshake{SynAt: at(0), SynAckAt: at(7 * time.Microsecond), AckAt: at(10 * time.Microsecond)},
		Packets:       httpflow.PerSide{Client: 5, Server: math.MaxUint64},
		PayloadBytes:  httpflow.PerSide{Client: 91, Server: 5236},
		Transactions: []httpflow.Transaction{{
			Index: 1, Method: "GET", URI: "/a?b=<c>&d", RequestVersion: "HTTP/1.1",
			Status: 200, ResponseVersion: "HTTP/1.1",
			RequestStartAt: at(1000), RequestEndAt: at(2000), ResponseStartAt: at(3000), ResponseEndAt: at(4000),
			RequestBytes: 91, ResponseBytes: -1,
			RequestConnection: ptr("keep-alive"), ResponseConnection: ptr("close"), ResponseKeepAlive: ptr("timeout=5, max=100"), Framing: httpflow.BodyChunked,
			InterimStatuses: []int{100, 103}, Pipelined: true, Complete: true, Tunnel: true, ServerTime: 449 * time.Microsecond, HasServerTime: true,
		}, {
			Index: 2, Method: "CONNECT", URI: "example.com:443", RequestVersion: "HTTP/1.0",
			InterimStatuses: []int{},
		}},
		IdlePeriods: []httpflow.Idle{{AfterTransaction: 1, StartAt: at(4000), EndAt: at(5000), Duration: 1000}},
		FinalIdle:   &httpflow.Idle{AfterTransaction: 2, StartAt: at(6000), EndAt: at(7000), Duration: 1000},
		KeepAlive:   httpflow.KeepAlive{AdvertisedTimeout: ptr(5.0), AdvertisedMax: ptr(100), Persistent: true},
		Close: httpflow.Close{
			FirstFinBy: httpflow.Server, FirstFinAt: at(time.Second), RstBy: httpflow.Client, RstAt: at(time.Second),
			ClientState: tcpstate.Closed, ServerState: tcpstate.TimeWait, Reason: httpflow.ReasonKeepaliveRace, Evidence: "server FIN 14 µs after the last response",
			Race: &httpflow.Race{Kind: httpflow.RaceStaleReuse, Transaction: 2, Method: "CONNECT", IdleBefore: 2 * time.Second},
		},
		TimeWait:           &httpflow.TimeWait{Holder: httpflow.Both, EnteredAt: at(time.Second), ExpiresAt: at(time.Minute)},
		TCPKeepaliveProbes: httpflow.PerSide{Client: 1, Server: 2},
		Retransmissions:    httpflow.PerSide{Client: 3, Server: 4},
		MissingBytes:       httpflow.PerSide{Client: 5, Server: 6},
		Anomalies:          []string{"port-reused-in-time-wait", "<odd>"},
		StrayCRLFBytes:     2,
		History:            "ShADadFfR",
		CommunityID:        "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
		VLAN:               []uint16{100, 4095},
		Tunnel: []httpflow.Tunnel{
			{Type: "vxlan", OuterSrc: netip.MustParseAddr("10.0.0.1"), OuterDst: netip.MustParseAddr("fd00::2"), ID: 4242, HasID: true},
			{Type: "ipip", OuterSrc: netip.MustParseAddr("192.0.2.1"), OuterDst: netip.MustParseAddr("192.0.2.2")},
		},
		TLS: &httpflow.TLS{Version: "TLS 1.3", SNI: "example.com", ALPN: "http/1.1", Decrypted: true, CloseNotifyBy: httpflow.Server},
	}
}

// syntheticConnections names records that exercise every field.
func syntheticConnections() map[string]*httpflow.Connection {
	out := map[string]*httpflow.Connection{
		"zero":  {},
		"full":  fullConnection(),
		"empty": {Transactions: []httpflow.Transaction{}, IdlePeriods: []httpflow.Idle{}, Anomalies: []string{}},
		"empty transaction": {Transactions: []httpflow.Transaction{{}}, IdlePeriods: []httpflow.Idle{{}}, FinalIdle: &httpflow.Idle{},
			Handshake: &httpflow.Handshake{}, TimeWait: &httpflow.TimeWait{}, Anomalies: []string{""}, Close: httpflow.Close{Race: &httpflow.Race{}}},
		"min and max ints": {ID: math.MinInt, StrayCRLFBytes: math.MaxUint64, Transactions: []httpflow.Transaction{{
			Index: math.MaxInt, Status: math.MinInt, RequestBytes: math.MinInt64, ResponseBytes: math.MaxInt64, InterimStatuses: []int{-1, 0, math.MaxInt},
		}}, KeepAlive: httpflow.KeepAlive{AdvertisedMax: ptr(-1)}},
		"tunnels without outer addresses": func() *httpflow.Connection {
			c := fullConnection()
			c.Tunnel = []httpflow.Tunnel{{Type: "mpls", ID: 16001, HasID: true}, {Type: "pppoe", OuterSrc: netip.MustParseAddr("10.0.0.1")}}
			return c
		}(),
		"tls without names": func() *httpflow.Connection {
			c := fullConnection()
			c.TLS = &httpflow.TLS{Version: "TLS 1.2"}
			c.VLAN, c.Tunnel = []uint16{}, []httpflow.Tunnel{}
			c.Transactions[0].Inferred = true
			return c
		}(),
		"zone in an address": func() *httpflow.Connection {
			c := fullConnection()
			c.Client = netip.AddrPortFrom(netip.MustParseAddr("fe80::1").WithZone("<eth0>&\"\x01"), 80)
			return c
		}(),
		"nil connection": nil,
	}
	kinds := []httpflow.BodyKind{httpflow.BodyUnknown, httpflow.BodyNone, httpflow.BodyLength, httpflow.BodyChunked, httpflow.BodyUntilClose}
	for i, r := range httpflow.Reasons {
		c := fullConnection()
		c.Close.Reason = r
		c.Close.FirstFinBy, c.Close.RstBy, c.TimeWait.Holder = httpflow.Side(i%4), httpflow.Side((i+1)%4), httpflow.Side(i%3+1)
		c.Close.ClientState, c.Close.ServerState = tcpstate.State(i%10), tcpstate.State((i+3)%10)
		c.Transactions[0].Framing = kinds[i%len(kinds)]
		c.Close.Race.Kind = httpflow.RaceKind(i%3 + 1)
		out["reason "+r.String()] = c
	}
	for i, s := range hostileStrings {
		c := fullConnection()
		c.Transactions[0].Method, c.Transactions[0].URI, c.Transactions[0].RequestVersion = s, s, s
		c.Transactions[0].ResponseVersion, c.Transactions[0].RequestConnection = s, &s
		c.Transactions[1].ResponseKeepAlive, c.Transactions[1].ResponseConnection = &s, &s
		c.Close.Evidence, c.Close.Race.Method, c.History = s, s, s
		c.TLS.SNI, c.TLS.ALPN, c.Tunnel[0].Type, c.CommunityID = s, s, s, s
		c.Anomalies = []string{s, s}
		out["hostile string "+strconv.Itoa(i)] = c
	}
	for i, tm := range edgeTimes {
		c := fullConnection()
		c.FirstPacketAt, c.Handshake.SynAckAt, c.Transactions[1].ResponseEndAt = tm, tm, tm
		c.IdlePeriods[0].StartAt, c.Close.RstAt, c.TimeWait.ExpiresAt = tm, tm, tm
		out["edge time "+strconv.Itoa(i)] = c
	}
	for i, d := range edgeDurations {
		c := fullConnection()
		c.Handshake.AckAt = c.Handshake.SynAt.Add(d)
		c.Transactions[0].ServerTime, c.Transactions[1].ServerTime, c.Transactions[1].HasServerTime = d, d, true
		c.IdlePeriods[0].Duration, c.FinalIdle.Duration, c.Close.Race.IdleBefore = d, d, d
		out["edge duration "+strconv.Itoa(i)] = c
	}
	for i, f := range edgeFloats {
		c := fullConnection()
		c.KeepAlive.AdvertisedTimeout = &f
		out["edge float "+strconv.Itoa(i)] = c
	}
	for name, f := range map[string]float64{"+Inf": math.Inf(1), "-Inf": math.Inf(-1), "NaN": math.NaN()} {
		c := fullConnection()
		c.KeepAlive.AdvertisedTimeout = &f
		out[name+" advertised"] = c
	}
	return out
}

func TestEncoderMatchesEncodingJSONSynthetic(t *testing.T) {
	for name, c := range syntheticConnections() {
		if c == nil {
			continue // below
		}
		checkConnection(t, name, c)
	}
	// A nil record: json.Encoder writes null.
	want, _ := reflectNDJSON(nil)
	if got, err := fastNDJSON(nil); got != want || err != nil {
		t.Errorf("nil connection: NDJSON line %q, %v, want %q", got, err, want)
	}
}

// A refused record writes nothing, returns encoding/json's error and
// leaves the stream usable, as with json.Encoder.
func TestNDJSONRefusedRecord(t *testing.T) {
	bad := fullConnection()
	bad.KeepAlive.AdvertisedTimeout = ptr(math.NaN())
	good := fullConnection()
	var got, want bytes.Buffer
	nd, enc := NewNDJSON(&got), json.NewEncoder(&want)
	for i, c := range []*httpflow.Connection{good, bad, good} {
		gerr, werr := nd.Connection(c), enc.Encode(Wire(c))
		if !sameError(gerr, werr) {
			t.Errorf("record %d: error %v, want %v", i, gerr, werr)
		}
	}
	if got.String() != want.String() {
		t.Errorf("stream\ngot  %q\nwant %q", got.String(), want.String())
	}
}

// LineEncoder.Append appends what NDJSON.Connection writes, record after
// record with one encoder, and leaves dst as it was when it refuses a
// record.
func TestLineEncoderAppend(t *testing.T) {
	bad := fullConnection()
	bad.KeepAlive.AdvertisedTimeout = ptr(math.NaN())
	recs := []*httpflow.Connection{nil, bad}
	for _, c := range syntheticConnections() {
		recs = append(recs, c)
	}
	recs = append(recs, bad, fullConnection())
	var le LineEncoder
	var dst []byte
	for i, c := range recs {
		want, werr := fastNDJSON(c)
		before := string(dst)
		var err error
		dst, err = le.Append(dst, c)
		if !sameError(err, werr) || string(dst) != before+want {
			t.Errorf("record %d: appended %q (error %v), want %q (error %v)", i, string(dst)[min(len(before), len(dst)):], err, want, werr)
		}
		dst = dst[:len(before)+len(want)]
	}
}

// failingWriter fails every write after the first n.
type failingWriter struct{ n int }

var errFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errFull
	}
	w.n--
	return len(p), nil
}

// A write error sticks, as with json.Encoder: later records and the last
// line return it.
func TestNDJSONWriteErrorSticks(t *testing.T) {
	nd := NewNDJSON(&failingWriter{n: 1})
	c := fullConnection()
	if err := nd.Connection(c); err != nil {
		t.Fatalf("first record: %v, want no error", err)
	}
	for i := range 2 {
		if err := nd.Connection(c); err != errFull {
			t.Errorf("record %d after a failed write: %v, want %v", i, err, errFull)
		}
	}
	if err := nd.End(httpflow.Summary{}, httpflow.CaptureInfo{}); err != errFull {
		t.Errorf("End after a failed write: %v, want %v", err, errFull)
	}
}

// The encoder reuses its buffer: a record costs no allocation.
func TestNDJSONAllocs(t *testing.T) {
	nd := NewNDJSON(&bytes.Buffer{})
	c := fullConnection()
	var w bytes.Buffer
	nd.w = &w
	nd.Connection(c)
	if n := testing.AllocsPerRun(100, func() {
		w.Reset()
		nd.Connection(c)
	}); n != 0 {
		t.Errorf("NDJSON.Connection: %v allocations per record, want 0", n)
	}
}

// FuzzAppendConnection builds a record from the fuzzer's strings, numbers,
// float bits and instants and compares both encodings with encoding/json.
func FuzzAppendConnection(f *testing.F) {
	for i, s := range hostileStrings {
		tm := edgeTimes[i%len(edgeTimes)]
		f.Add(s, hostileStrings[(i+1)%len(hostileStrings)], int64(i)-3, uint64(i)<<60,
			uint64(edgeDurations[i%len(edgeDurations)]), math.Float64bits(edgeFloats[i%len(edgeFloats)]),
			tm.Unix(), int64(tm.Nanosecond()), uint16(i*2654435761))
	}
	f.Add("", "", int64(0), uint64(0), uint64(0), uint64(0), int64(0), int64(0), uint16(0))
	f.Add("x", "y", int64(-1), uint64(math.MaxUint64), math.Float64bits(math.Inf(1)), math.Float64bits(math.NaN()), int64(math.MinInt64), int64(-1), uint16(math.MaxUint16))
	f.Fuzz(func(t *testing.T, s1, s2 string, i int64, u uint64, secBits, floatBits uint64, unix, nanos int64, flags uint16) {
		c := fuzzConnection(s1, s2, i, u, secBits, floatBits, unix, nanos, flags)
		checkConnection(t, "fuzz", c)
	})
}

// fuzzConnection spreads the fuzzer's values over every field; the bits
// of flags choose nil, empty or set for each slice and pointer.
func fuzzConnection(s1, s2 string, i int64, u uint64, durBits, floatBits uint64, unix, nanos int64, flags uint16) *httpflow.Connection {
	bit := func(k int) bool { return flags&(1<<k) != 0 }
	tm := time.Unix(unix, nanos)
	if bit(15) {
		tm = time.Time{}
	}
	d := time.Duration(durBits)
	fl := math.Float64frombits(floatBits)
	side := httpflow.Side(u % 4)
	var a16 [16]byte
	for k := range a16 {
		a16[k] = byte(u >> (k % 8 * 8))
	}
	c := &httpflow.Connection{
		ID: int(i), Client: netip.AddrPortFrom(netip.AddrFrom16(a16), uint16(i)), Server: netip.AddrPortFrom(netip.AddrFrom4([4]byte(a16[:4])), uint16(u)),
		ClientGuessed: bit(0), SynSeen: bit(1),
		FirstPacketAt: tm, LastPacketAt: time.Unix(unix, nanos).Add(time.Duration(i)),
		Packets: httpflow.PerSide{Client: u, Server: uint64(i)}, PayloadBytes: httpflow.PerSide{Client: ^u},
		KeepAlive: httpflow.KeepAlive{Persistent: bit(2)},
		Close: httpflow.Close{FirstFinAt: tm, RstAt: tm, ClientState: tcpstate.State(u % 11), ServerState: tcpstate.State(i & 15),
			Reason: httpflow.Reason(u % 13), Evidence: s1 + s2},
		TCPKeepaliveProbes: httpflow.PerSide{Server: u >> 3}, Retransmissions: httpflow.PerSide{Client: u >> 7}, MissingBytes: httpflow.PerSide{Client: 1},
		StrayCRLFBytes: u * 3, History: s2,
	}
	if bit(3) {
		c.Handshake = &httpflow.Handshake{SynAt: tm, SynAckAt: tm, AckAt: c.LastPacketAt}
		if bit(4) {
			c.Handshake.AckAt = time.Time{}
		}
	}
	if bit(5) {
		c.Transactions = []httpflow.Transaction{}
	}
	if bit(6) {
		txn := httpflow.Transaction{
			Index: int(i), Method: s1, URI: s2, RequestVersion: s1, RequestStartAt: tm, ResponseEndAt: tm,
			RequestBytes: i, ResponseBytes: int64(u), Pipelined: bit(7), Complete: bit(8), Tunnel: bit(9),
		}
		if bit(10) {
			txn.Status, txn.ResponseVersion, txn.Framing = int(i), s2, httpflow.BodyKind(u%7)
			txn.InterimStatuses = []int{int(i), 100}
			txn.ServerTime, txn.HasServerTime = d, true
		} else if bit(11) {
			txn.InterimStatuses = []int{}
			txn.RequestConnection, txn.ResponseConnection, txn.ResponseKeepAlive = &s1, &s2, &s1
		}
		c.Transactions = append(c.Transactions, txn, httpflow.Transaction{Index: 2, URI: s2 + s1})
	}
	if bit(12) {
		c.IdlePeriods = []httpflow.Idle{{AfterTransaction: int(i), StartAt: tm, EndAt: tm, Duration: d}, {}}
		c.FinalIdle = &httpflow.Idle{Duration: d, EndAt: tm}
		c.KeepAlive.AdvertisedTimeout, c.KeepAlive.AdvertisedMax = &fl, ptr(int(i))
		c.Close.Race = &httpflow.Race{Kind: httpflow.RaceKind(u % 5), Transaction: int(i), Method: s1, Idempotent: bit(13), IdleBefore: d}
	} else if bit(13) {
		c.IdlePeriods, c.Anomalies = []httpflow.Idle{}, []string{}
		c.Close.FirstFinBy, c.Close.RstBy = side, side
	}
	if bit(14) {
		c.TimeWait = &httpflow.TimeWait{Holder: side, EnteredAt: tm, ExpiresAt: c.LastPacketAt}
		c.Anomalies = []string{s1, s2, ""}
	}
	return c
}

// benchRecords returns the records of every capture in the repository,
// or of $HTTPLIFE_BIG_CAPTURE when set, and their total NDJSON size.
func benchRecords(b *testing.B) ([]httpflow.Connection, int64) {
	b.Helper()
	paths := captureFiles(b)
	if big := os.Getenv("HTTPLIFE_BIG_CAPTURE"); big != "" {
		paths = []string{big}
	}
	var recs []httpflow.Connection
	for _, p := range paths {
		recs = append(recs, analyse(b, p).Connections...)
	}
	var size int64
	for i := range recs {
		line, _ := fastNDJSON(&recs[i])
		size += int64(len(line))
	}
	return recs, size
}

// BenchmarkNDJSON encodes every record of the captures as NDJSON lines:
// the hand-written encoder against encoding/json. One op is all records.
func BenchmarkNDJSON(b *testing.B) {
	recs, size := benchRecords(b)
	b.Run("fast", func(b *testing.B) {
		nd := NewNDJSON(discard{})
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			for i := range recs {
				nd.Connection(&recs[i])
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		enc := json.NewEncoder(discard{})
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			for i := range recs {
				enc.Encode(Wire(&recs[i]))
			}
		}
	})
}

// BenchmarkWriteJSON writes the indented document of the same records.
func BenchmarkWriteJSON(b *testing.B) {
	recs, _ := benchRecords(b)
	doc := &httpflow.Document{Connections: recs}
	var out bytes.Buffer
	WriteJSON(&out, doc)
	size := int64(out.Len())
	for _, m := range []struct {
		name  string
		write func(w discard, doc *httpflow.Document) error
	}{
		{"fast", func(w discard, doc *httpflow.Document) error { return WriteJSON(w, doc) }},
		{"encoding-json", func(w discard, doc *httpflow.Document) error { return writeJSONReflect(w, doc) }},
	} {
		b.Run(m.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				m.write(discard{}, doc)
			}
		})
	}
}

// discard is io.Discard without its interface indirection in the way of
// escape analysis.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestEncoderRepeatedTransactions encodes keep-alive connections whose
// transactions repeat the previous one's facts but for one field at a
// time, each cached run of fields in turn (nil, empty and set values
// included), so a run copied from the previous transaction where it
// differs shows against encoding/json.
func TestEncoderRepeatedTransactions(t *testing.T) {
	str := func(s string) *string { return &s }
	base := func(i int) httpflow.Transaction {
		return httpflow.Transaction{
			Index: i + 1, Method: "GET", URI: "/a", RequestVersion: "HTTP/1.1", Status: 200,
			ResponseVersion: "HTTP/1.1", RequestBytes: 40, ResponseBytes: int64(100 + i),
			ResponseConnection: str("keep-alive"), Framing: httpflow.BodyLength,
			InterimStatuses: []int{}, Complete: true,
		}
	}
	changes := map[string]func(*httpflow.Transaction){
		"same":                func(*httpflow.Transaction) {},
		"method":              func(x *httpflow.Transaction) { x.Method = "POST" },
		"uri":                 func(x *httpflow.Transaction) { x.URI = "/b" },
		"uri escaped":         func(x *httpflow.Transaction) { x.URI = "/a<b>&\"" },
		"request version":     func(x *httpflow.Transaction) { x.RequestVersion = "HTTP/1.0" },
		"status":              func(x *httpflow.Transaction) { x.Status = 404 },
		"no status":           func(x *httpflow.Transaction) { x.Status = 0 },
		"response version":    func(x *httpflow.Transaction) { x.ResponseVersion = "HTTP/1.0" },
		"no response version": func(x *httpflow.Transaction) { x.ResponseVersion = "" },
		"request connection":  func(x *httpflow.Transaction) { x.RequestConnection = str("close") },
		"response connection": func(x *httpflow.Transaction) { x.ResponseConnection = str("close") },
		"no resp connection":  func(x *httpflow.Transaction) { x.ResponseConnection = nil },
		"keep-alive":          func(x *httpflow.Transaction) { x.ResponseKeepAlive = str("timeout=5") },
		"framing":             func(x *httpflow.Transaction) { x.Framing = httpflow.BodyChunked },
		"no framing":          func(x *httpflow.Transaction) { x.Framing = httpflow.BodyUnknown },
		"interim":             func(x *httpflow.Transaction) { x.InterimStatuses = []int{100} },
		"interim nil":         func(x *httpflow.Transaction) { x.InterimStatuses = nil },
	}
	for name, change := range changes {
		for _, at := range []int{1, 2, 5} { // the changed transaction; those after it repeat it, then the base
			c := fullConnection()
			c.Transactions = nil
			for i := 0; i < 8; i++ {
				x := base(i)
				if i >= at && i < at+2 {
					change(&x)
				}
				c.Transactions = append(c.Transactions, x)
			}
			checkConnection(t, fmt.Sprintf("%s at %d", name, at), c)
		}
	}
}

// TestEncoderRepeatedTimes encodes transactions that start and end at the
// same time or not, and idle periods that run from one transaction's end
// to the next one's start or not (other times, times in another location,
// zero times, transactions out of range), so a time's text copied where
// the times differ shows against encoding/json.
func TestEncoderRepeatedTimes(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 3, 4, 43, 313115000, time.UTC)
	at := func(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }
	elsewhere := func(x time.Time) time.Time { return x.In(time.FixedZone("X", 3600)) }
	var txs []httpflow.Transaction
	for i := 0; i < 6; i++ {
		b := 1000 * i
		x := httpflow.Transaction{Index: i + 1, Method: "GET", URI: "/", RequestVersion: "HTTP/1.1", InterimStatuses: []int{},
			RequestStartAt: at(b), RequestEndAt: at(b), ResponseStartAt: at(b + 100), ResponseEndAt: at(b + 100)}
		switch i {
		case 1:
			x.RequestEndAt, x.ResponseEndAt = at(b+1), at(b+101) // two segments each
		case 2:
			x.RequestEndAt, x.ResponseEndAt = elsewhere(x.RequestStartAt), elsewhere(x.ResponseStartAt)
		case 3:
			x.ResponseStartAt, x.ResponseEndAt = time.Time{}, time.Time{} // no response
		}
		txs = append(txs, x)
	}
	idle := func(after int, from, to time.Time) httpflow.Idle {
		return httpflow.Idle{AfterTransaction: after, StartAt: from, EndAt: to, Duration: to.Sub(from)}
	}
	idles := []httpflow.Idle{
		idle(1, txs[0].ResponseEndAt, txs[1].RequestStartAt),            // the usual gap: both copied
		idle(2, at(1500), at(1600)),                                     // other times
		idle(3, elsewhere(txs[2].ResponseEndAt), txs[3].RequestStartAt), // same instant, other location
		idle(4, txs[3].ResponseEndAt, txs[4].RequestStartAt),            // a zero start
		idle(5, txs[4].ResponseEndAt, at(4999)),                         // a start copied, an end not
		idle(0, txs[0].RequestStartAt, txs[0].ResponseEndAt),            // out of range
		idle(6, txs[5].ResponseEndAt, txs[5].ResponseEndAt),             // out of range
		idle(-1, time.Time{}, time.Time{}),
	}
	c := fullConnection()
	c.Transactions, c.IdlePeriods = txs, idles
	checkConnection(t, "repeated times", c)
	c.Transactions = txs[:3] // fewer transactions than the idle periods name
	checkConnection(t, "idle periods past the transactions", c)
	c.Transactions = nil
	checkConnection(t, "idle periods without transactions", c)
}
