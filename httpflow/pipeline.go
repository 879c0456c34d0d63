package httpflow

import (
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/httplife/httplife/capture"
	"github.com/httplife/httplife/tcpstate"
)

// RunConfig is what a run over a source needs.
type RunConfig struct {
	TCP    tcpstate.Config
	TwoMSL time.Duration
	// PortsLabel is the "ports" option as given ("any" when empty).
	PortsLabel string
	// Progress, when set, is called every ~64k packets.
	Progress func(p Progress)
}

// Progress reports a run in flight.
type Progress struct {
	Packets uint64
	Bytes   uint64
	Open    int
}

// Result is what a run produced besides the records it emitted.
type Result struct {
	Capture CaptureInfo
	Options Options
	Summary Summary
	Table   tcpstate.Stats
}

// Run reads src to the end, passes each finished connection's record to
// emit (in the order connections finish) and returns the capture info and
// summary. A read error ends the run but keeps what was analysed: the
// error is returned with a Result that covers everything before it.
func Run(src capture.Source, cfg RunConfig, emit func(*Connection)) (*Result, error) {
	if cfg.TwoMSL <= 0 {
		cfg.TwoMSL = 60 * time.Second
	}
	cfg.TCP.TwoMSL = cfg.TwoMSL
	sb := NewSummaryBuilder()
	an := NewAnalyzer(Config{TwoMSL: cfg.TwoMSL}, func(c *Connection) {
		sb.Add(c)
		if emit != nil {
			emit(c)
		}
	})
	tab := tcpstate.NewTable(cfg.TCP, an.Factory())
	var err error
	var n uint64
	for {
		var seg *capture.Segment
		seg, err = src.Next()
		if err != nil {
			break
		}
		tab.Add(seg)
		n++
		if cfg.Progress != nil && n&0xffff == 0 {
			st := src.Stats()
			cfg.Progress(Progress{Packets: st.Packets, Bytes: st.Bytes, Open: tab.Open()})
		}
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	tab.Flush()
	st := src.Stats()
	res := &Result{
		Capture: captureInfo(st, tab.Stats()),
		Options: Options{TwoMSL: Secs(cfg.TwoMSL), Ports: cfg.PortsLabel},
		Summary: sb.Summary(),
		Table:   tab.Stats(),
	}
	if res.Options.Ports == "" {
		res.Options.Ports = "any"
	}
	if err != nil {
		res.Capture.Warnings = append(res.Capture.Warnings, st.Source+": read error after packet "+
			strconv.FormatUint(st.Packets, 10)+": "+err.Error())
	}
	return res, err
}

// CaptureInfoOf is the capture object Run reports, for callers that drive
// the table themselves (the live loop of watch).
func CaptureInfoOf(st *capture.Stats, ts tcpstate.Stats) CaptureInfo { return captureInfo(st, ts) }

func captureInfo(st *capture.Stats, ts tcpstate.Stats) CaptureInfo {
	ci := CaptureInfo{
		Source:        st.Source,
		Format:        st.Format,
		LinkTypes:     append([]string{}, st.LinkTypes...),
		FirstPacketAt: At(st.FirstPacketAt),
		LastPacketAt:  At(st.LastPacketAt),
		Packets:       st.Packets,
		TCPPackets:    st.TCPPackets,
		Bytes:         st.Bytes,
		Skipped: map[string]uint64{
			"non_tcp": st.Skipped.NonTCP, "undecodable": st.Skipped.Undecodable, "truncated": st.Skipped.Truncated,
		},
		Evicted:  ts.Evicted,
		Warnings: append([]string{}, st.Warnings...),
	}
	if !st.FirstPacketAt.IsZero() {
		ci.Duration = Secs(st.LastPacketAt.Sub(st.FirstPacketAt))
	}
	if st.Format == "live" {
		d := st.Dropped
		ci.Dropped = &d
		if d > 0 {
			ci.Warnings = append(ci.Warnings, strconv.FormatUint(d, 10)+" packets dropped by the kernel or the ring")
		}
	}
	if ts.Evicted > 0 {
		ci.Warnings = append(ci.Warnings, strconv.FormatUint(ts.Evicted, 10)+
			" connections evicted by the connection-table cap (half-open first)")
	}
	return ci
}

// Analyse runs src to the end and returns the whole document, connections
// in id order.
func Analyse(src capture.Source, cfg RunConfig) (*Document, error) {
	var conns []Connection
	res, err := Run(src, cfg, func(c *Connection) { conns = append(conns, *c) })
	sort.Slice(conns, func(i, j int) bool { return conns[i].ID < conns[j].ID })
	if conns == nil {
		conns = []Connection{}
	}
	doc := &Document{Schema: Schema, Capture: res.Capture, Options: res.Options, Connections: conns, Summary: res.Summary}
	return doc, err
}

// PortsLabel formats a port set for the options object.
func PortsLabel(ports []uint16) string {
	if len(ports) == 0 {
		return "any"
	}
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}
