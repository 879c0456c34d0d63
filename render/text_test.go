package render

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/httplife/httplife/httpflow"
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
	var b bytes.Buffer
	if err := WriteText(&b, doc); err != nil {
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
