package httpflow

import (
	"net/netip"
	"time"
)

// The rest of the lifecycle document, typed: what the capture was, the
// options of the run, and the summary over every record. Their wire form
// is in package render, like the records'.

// Schema is the value of the document's "schema" field.
const Schema = "httplife/v1"

// Skipped counts packets that carried no usable TCP segment.
type Skipped struct {
	NonTCP, Undecodable, Truncated uint64
	Fragments                      uint64 // IP fragments held for reassembly (each counted in the datagram they made)
}

// CaptureInfo is the document's capture object.
type CaptureInfo struct {
	Source                      string
	Format                      string
	LinkTypes                   []string
	FirstPacketAt, LastPacketAt time.Time
	Duration                    time.Duration
	Packets, TCPPackets, Bytes  uint64
	Skipped                     Skipped
	Dropped                     *uint64 // packets the kernel dropped: live captures, pcapng statistics blocks
	Evicted                     uint64  // connections evicted by the table's cap
	Warnings                    []string
	// Files are the files read, in order, when more than one; Filter the
	// packet filter expression ("" when none); Duplicates the packets
	// dropped as copies of one captured before (-i any, mirrors).
	Files      []string
	Filter     string
	Duplicates uint64
}

// Options is the document's options object.
type Options struct {
	TwoMSL time.Duration
	Ports  string
}

// Distribution summarises a set of durations, in seconds.
type Distribution struct {
	Count              int
	P50, P90, P99, Max float64
}

// PerConn summarises transactions per connection.
type PerConn struct {
	Mean, P50 float64
	Max       int
}

// ClosedBy counts connections by who ended them.
type ClosedBy struct {
	Client, Server, Reset, Open uint64
}

// TimeWaitSummary counts TIME_WAIT holders and the most held at once per
// host.
type TimeWaitSummary struct {
	Client, Server, Both uint64
	PeakConcurrent       map[string]int
}

// Summary is the whole capture in numbers.
type Summary struct {
	Connections               int
	Transactions              int
	TransactionsPerConnection PerConn
	ClosedBy                  ClosedBy
	Reasons                   map[Reason]int
	IdleS                     Distribution
	FinalIdleS                Distribution
	AdvertisedTimeoutsS       map[string]int // by the timeout as written, e.g. "5"
	TimeWait                  TimeWaitSummary
	KeepaliveRaces            int
	// Set once the capture has ended (summary.Builder.Digest), nil before:
	// each server endpoint, the advice, the key findings.
	Servers  []ServerSummary
	Advice   []Advice
	Findings []string
}

// Document is the whole lifecycle document.
type Document struct {
	Capture     CaptureInfo
	Options     Options
	Connections []Connection
	Summary     Summary
}

// ServerSummary is what the capture shows of one server endpoint: the
// idle timeout in force and its clients' (the spec's summary.servers).
type ServerSummary struct {
	Server       netip.AddrPort
	Connections  int
	Transactions int
	// IdleTimeout is the server's idle timeout in force, inferred from the
	// final idles of the connections it closed while idle: the median of
	// the cluster that holds most of them, Spread its half-width, Basis
	// how many. HasIdleTimeout is false when fewer than 3.
	IdleTimeout, Spread time.Duration
	Basis               int
	HasIdleTimeout      bool
	// ClientIdleClose is the same for the connections its clients closed
	// while idle (a pool's idle timeout).
	ClientIdleClose    time.Duration
	HasClientIdleClose bool
	// Advertised is the Keep-Alive timeout= it advertised most, seconds.
	Advertised    float64
	HasAdvertised bool
	Races         int
	WhatIf        []WhatIf
	// Extensions. Hints name a well-known default the inferred timeout
	// matches (a hint, never a finding); the links name the other legs of
	// a proxy; ReplayCheck says how close the replay at the inferred
	// timeout came to the capture; Formula is the tuning guides' seed.
	Hint, ClientHint       string
	RacesByKind            map[RaceKind]int
	LongestReuse           time.Duration // longest idle after which a client sent a request
	NearTimeout            int           // requests that reused a connection idle ≥ 90 % of IdleTimeout
	Upstreams, Downstreams []netip.AddrPort
	DownstreamErrors       int // downstream errors (5xx, no response) behind a failed attempt here
	RetriedOK              int // downstream requests answered after a retry here
	RacesFromUpstream      int // races here that were a proxy closing after its upstream request failed
	ReplayCheck            string
	Formula                Formula
}

// Formula is the seed of the Apache tuning guides computed from measured
// inputs: Processes ≈ Timeout × RequestsPerSec ÷ RequestsPerConn, beside
// what the replay at the same timeout holds.
type Formula struct {
	Timeout          time.Duration
	RequestsPerSec   float64
	RequestsPerConn  float64
	Processes        float64
	ReplayIdleMean   float64 // the replay's mean idle connections at Timeout
	ReplayBusyMean   float64 // and busy ones
	ReplayHeldMean   float64 // idle + busy
	DiffersBecause   string
	Valid            bool
	CaptureDurationS float64
}

// WhatIf is the capture's own request arrivals to a server replayed
// against a server idle timeout.
type WhatIf struct {
	Timeout      time.Duration
	Connections  int     // opened (handshakes)
	IdleMean     float64 // idle connections held, on average
	IdlePeak     int
	TimeWaitPeak int
	Races        int // requests expected to meet the server's close
	// Extensions: who holds most TIME_WAITs, the most one client host
	// holds at once, requests that reused an idle connection, whether
	// Timeout is the inferred one.
	TimeWaitHolder     string
	ClientTimeWaitPeak int
	Reused             int
	Inferred           bool
}

// Advice is one piece of advice, most important first in Summary.Advice.
type Advice struct {
	Kind   string
	Server netip.AddrPort // the zero AddrPort: not about one server
	Text   string
}
