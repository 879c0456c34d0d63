package render

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/summary"
)

// The text report fits an 80-column terminal with IPv4 clients, however
// many connections and requests, and whatever the close.
func TestTextFits80Columns(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 1, 2, 3, 0, time.UTC)
	var conns []httpflow.Connection
	for i, c := range []struct {
		id     int
		client string
		reqs   int
		reason httpflow.Reason
		rst    httpflow.Side
	}{
		{1, "10.0.0.1:1025", 0, httpflow.ReasonClientIdleClose, httpflow.NoSide},
		{9999, "255.255.255.255:65535", 1000, httpflow.ReasonHTTP10, httpflow.NoSide},
		{20188, "255.255.255.255:65535", 9999, httpflow.ReasonServerIdleTimeout, httpflow.Client},
		{99999, "192.168.100.200:54321", 7, httpflow.ReasonKeepaliveRace, httpflow.Server},
	} {
		conn := httpflow.Connection{ID: c.id, Client: netip.MustParseAddrPort(c.client), Server: netip.MustParseAddrPort("10.0.0.2:8080"),
			Transactions: make([]httpflow.Transaction, c.reqs)}
		for k := 1; k < c.reqs; k++ {
			conn.IdlePeriods = append(conn.IdlePeriods, httpflow.Idle{AfterTransaction: k, Duration: time.Duration(float64(k) * 1.234 * 1e9)})
		}
		conn.FinalIdle = &httpflow.Idle{Duration: 999567800 * time.Microsecond}
		conn.Close.Reason = c.reason
		conn.Close.FirstFinBy = httpflow.Server
		conn.Close.FirstFinAt = t0.Add(time.Duration(i) * time.Second)
		conn.Close.RstBy = c.rst
		conns = append(conns, conn)
	}
	doc := &httpflow.Document{
		Capture: httpflow.CaptureInfo{Source: "captures/2026-11-22/edge-lb-03.pcap.gz", Format: "pcapng",
			LinkTypes: []string{"EN10MB", "LINUX_SLL2"}, FirstPacketAt: t0, Duration: 86400 * time.Second,
			Packets: 123456789012, TCPPackets: 123456789000, Bytes: 98765432109876,
			Warnings: []string{"captures/2026-11-22/edge-lb-03.pcap.gz: corrupt gzip data after packet 123456789 (flate: corrupt input before offset 9876543210); stopped reading"}},
		Connections: conns,
		Summary: httpflow.Summary{Connections: 123456, Transactions: 98765432,
			TransactionsPerConnection: httpflow.PerConn{Mean: 800.12, P50: 1000, Max: 12345},
			ClosedBy:                  httpflow.ClosedBy{Client: 123456, Server: 123456, Reset: 123456, Open: 123456},
			Reasons: map[httpflow.Reason]int{httpflow.ReasonKeepaliveRace: 12345, httpflow.ReasonReset: 12345, httpflow.ReasonHTTP10: 12345,
				httpflow.ReasonClientCloseHeader: 12345, httpflow.ReasonServerIdleTimeout: 12345, httpflow.ReasonClientIdleClose: 12345},
			IdleS:               httpflow.Distribution{Count: 98765432, P50: 1234.5, P90: 1234.5, P99: 1234.5, Max: 1234.5},
			AdvertisedTimeoutsS: map[string]int{"5": 123456, "15": 123456, "60": 123456, "75": 123456, "120": 123456},
			TimeWait:            httpflow.TimeWaitSummary{Client: 123456, Server: 123456, PeakConcurrent: map[string]int{"10.0.0.1": 123456}},
			KeepaliveRaces:      12345,
		},
	}
	sb := summary.New(summary.Config{Text: true})
	for i := range doc.Connections {
		sb.Add(&doc.Connections[i])
	}
	d := sb.Digest(doc.Capture, doc.Options)
	d.Summary = doc.Summary // the extremes above, not what four records sum to
	var b bytes.Buffer
	if err := WriteText(&b, d); err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(b.String(), "\n") {
		if len(line) > 80 {
			t.Errorf("line %d is %d columns:\n%s\n(whole output:\n%s)", i+1, len(line), line, b.String())
		}
	}
	// Every connection's line is there, with its id, request count and reason.
	for _, want := range []string{"99999 192.168.100.200:54321    7 ", "RST sv keepalive-race", "RST cl server-idle-timeout", " 9999 1.234 +9997 "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}

// A big capture's text leads with the summary and the findings, lists the
// connections that matter (races, resets, errors, the longest, the
// slowest) and groups the rest, in 80 columns, so that 20,000 connections
// read in a screen or two; every connection is counted once.
func TestTextBigCaptureIsSummarised(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 1, 2, 3, 0, time.UTC)
	srv := netip.MustParseAddrPort("255.255.255.255:65535")
	sb := summary.New(summary.Config{Text: true})
	const n = 20000
	for i := 1; i <= n; i++ {
		c := httpflow.Connection{ID: i, Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(i)),
			Server: srv, FirstPacketAt: t0.Add(time.Duration(i) * time.Millisecond), LastPacketAt: t0.Add(time.Duration(i)*time.Millisecond + time.Duration(i%997)*time.Microsecond)}
		c.Transactions = []httpflow.Transaction{{Index: 1, Method: "GET", URI: "/", RequestVersion: "HTTP/1.0", Status: 200}}
		c.FinalIdle = &httpflow.Idle{Duration: time.Duration(i%3) * time.Millisecond}
		c.Close = httpflow.Close{FirstFinBy: httpflow.Server, FirstFinAt: c.LastPacketAt, Reason: httpflow.ReasonHTTP10}
		switch {
		case i%1000 == 7:
			c.Close.Reason = httpflow.ReasonKeepaliveRace
		case i%2000 == 11:
			c.Close.RstBy, c.Close.RstAt, c.Close.Reason = httpflow.Client, c.LastPacketAt, httpflow.ReasonReset
		case i%500 == 3:
			c.Transactions[0].Status = 503
		}
		sb.Add(&c)
	}
	d := sb.Digest(httpflow.CaptureInfo{Source: "big.pcap", Format: "pcap"}, httpflow.Options{})
	var b bytes.Buffer
	if err := WriteText(&b, d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	if len(lines) > 120 {
		t.Errorf("%d lines for %d connections, want a screen or two", len(lines), n)
	}
	for i, l := range lines {
		if len([]rune(l)) > 80 {
			t.Errorf("line %d is %d columns: %q", i+1, len([]rune(l)), l)
		}
	}
	if !strings.HasPrefix(out, "capture      big.pcap\n") || !strings.Contains(out, "findings     - ") {
		t.Errorf("does not lead with the summary and the findings:\n%s", out)
	}
	for _, want := range []string{"keep-alive races: 20, the first 10", "resets: 10", "with 4xx/5xx or unanswered requests: 40, the first 10",
		"the longest (first to last packet: ", "the other 19,9", "grouped:", "http10-no-keepalive"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	// The notables and the groups count every connection once.
	counted := len(d.Notable)
	for _, g := range d.Groups {
		counted += g.Count
	}
	notListed := 0
	for _, k := range []string{"race", "reset", "error"} {
		listed := 0
		for _, l := range d.Notable {
			if l.Why == k {
				listed++
			}
		}
		notListed += d.NotableCounts[k] - listed
	}
	if counted+notListed != n {
		t.Errorf("notables %d + groups + unlisted notables %d = %d, want %d", len(d.Notable), notListed, counted+notListed, n)
	}
	// --all: every line.
	all := summary.New(summary.Config{All: true})
	for i := 1; i <= 100; i++ {
		all.Add(&httpflow.Connection{ID: i, Server: srv, Client: srv, Close: httpflow.Close{Reason: httpflow.ReasonCaptureEnded}})
	}
	b.Reset()
	if err := WriteText(&b, all.Digest(httpflow.CaptureInfo{}, httpflow.Options{})); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(b.String(), " capture-ended\n"); got != 100 {
		t.Errorf("--all listed %d connections, want 100", got)
	}
}
