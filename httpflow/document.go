package httpflow

import "time"

// The rest of the lifecycle document, typed: what the capture was, the
// options of the run, and the summary over every record. Their wire form
// is in package render, like the records'.

// Schema is the value of the document's "schema" field.
const Schema = "httplife/v1"

// Skipped counts packets that carried no usable TCP segment.
type Skipped struct {
	NonTCP, Undecodable, Truncated uint64
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
	Dropped                     *uint64 // live captures only
	Evicted                     uint64  // connections evicted by the table's cap
	Warnings                    []string
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
}

// Document is the whole lifecycle document.
type Document struct {
	Capture     CaptureInfo
	Options     Options
	Connections []Connection
	Summary     Summary
}
