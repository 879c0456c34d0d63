package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/httplife/httplife/httpflow"
	"github.com/httplife/httplife/internal/evidence"
	"github.com/httplife/httplife/internal/metrics"
	"github.com/httplife/httplife/internal/pipeline"
)

// observe adds f to the records cfg.Observe sees.
func observe(cfg *pipeline.Config, f func(*httpflow.Connection)) {
	if prev := cfg.Observe; prev != nil {
		cfg.Observe = func(c *httpflow.Connection) { prev(c); f(c) }
		return
	}
	cfg.Observe = f
}

// analyseMetrics is analyse --metrics FILE: the metrics of a whole
// capture, written when the run is over.
type analyseMetrics struct {
	path string
	m    *metrics.Metrics
}

// startMetrics sets cfg up for --metrics (nil when not asked for; cfg
// nil: set up later, with observe).
func (o *analyseOptions) startMetrics(cfg *pipeline.Config) *analyseMetrics {
	if o.MetricsFile == "" {
		return nil
	}
	am := &analyseMetrics{path: o.MetricsFile, m: metrics.New(metrics.Config{})}
	am.observe(cfg)
	return am
}

// observe has cfg's run feed the metrics.
func (am *analyseMetrics) observe(cfg *pipeline.Config) {
	if am != nil && cfg != nil {
		observe(cfg, am.m.Add)
	}
}

// setServers gives the metrics the summary's servers (one capture).
func (am *analyseMetrics) setServers(s []httpflow.ServerSummary) {
	if am != nil {
		am.m.SetServers(s)
	}
}

// writeCapture writes the metrics with the capture's counters.
func (am *analyseMetrics) writeCapture(c metrics.Capture) error {
	if am == nil {
		return nil
	}
	am.m.SetCapture(c)
	if err := am.m.WriteFile(am.path); err != nil {
		return fmt.Errorf("--metrics: %w", err)
	}
	return nil
}

// write writes the metrics of the run; werr is the output's error so far,
// returned when set.
func (am *analyseMetrics) write(res *pipeline.Result, werr error) error {
	if am == nil || res == nil {
		return werr
	}
	am.setServers(res.Summary.Servers)
	if err := am.writeCapture(metrics.CaptureOf(&res.Capture, res.Table.Connections, 0, res.Capture.LastPacketAt)); err != nil && werr == nil {
		return err
	}
	return werr
}

// parseExtras checks watch's --metrics and --evidence flags.
func (o *watchOptions) parseExtras() error {
	if o.Evidence == "" {
		if o.evidenceOnRaw != "" || o.evidenceMaxRaw != "" {
			return errors.New("--evidence-on and --evidence-max need --evidence DIR")
		}
		return nil
	}
	on, max := o.evidenceOnRaw, o.evidenceMaxRaw
	if on == "" {
		on = evidence.DefaultTriggers
	}
	if max == "" {
		max = defaultEvidenceMax
	}
	var err error
	if o.evidenceOn, err = evidence.ParseTriggers(on); err != nil {
		return fmt.Errorf("--evidence-on: %w", err)
	}
	n, err := parseSize("--evidence-max", max)
	if err != nil {
		return err
	}
	o.EvidenceMax = int64(n)
	return nil
}

// defaultEvidenceMax is --evidence-max's default.
const defaultEvidenceMax = "100MiB"

// watchExtras are watch's --metrics and --evidence: what they add to the
// run and what they finish when it is over.
type watchExtras struct {
	m    *metrics.Metrics
	srv  *http.Server
	done chan struct{}
	rec  *evidence.Recorder
	ev   evidence.Config
}

// startExtras sets rc and live up for --metrics and --evidence, and
// starts serving /metrics.
func (w *watcher) startExtras(rc *pipeline.Config, live *pipeline.Live) (*watchExtras, error) {
	o := w.o
	x := &watchExtras{}
	if o.Evidence != "" {
		x.ev = evidence.Config{Dir: o.Evidence, On: o.evidenceOn, MaxDisk: o.EvidenceMax,
			Warn: func(s string) { fmt.Fprintln(o.s.ErrOut, "httplife: warning:", s) }}
		rec, err := evidence.New(x.ev)
		if err != nil {
			return nil, err
		}
		x.rec = rec
		rc.Tap = rec
		observe(rc, rec.Record)
	}
	if o.MetricsAddr != "" {
		ln, err := net.Listen("tcp", o.MetricsAddr)
		if err != nil {
			x.stop()
			return nil, fmt.Errorf("--metrics: %w", err)
		}
		x.m = metrics.New(metrics.Config{})
		observe(rc, x.m.Add)
		reg := x.m.Registry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		if x.rec != nil {
			x.registerEvidence(reg)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" {
				http.NotFound(rw, r)
				return
			}
			fmt.Fprintln(rw, "httplife watch: the metrics are at /metrics")
		})
		x.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		x.done = make(chan struct{})
		go func() {
			defer close(x.done)
			if err := x.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(o.s.ErrOut, "httplife: warning: serving metrics:", err)
			}
		}()
		fmt.Fprintf(o.s.ErrOut, "httplife: metrics on http://%s/metrics\n", ln.Addr())
	}
	if x.m != nil || x.rec != nil {
		frame := live.Frame
		live.Frame = func(s pipeline.Snapshot) {
			x.snapshot(&s)
			if frame != nil {
				frame(s)
			}
		}
	}
	return x, nil
}

// snapshot passes a frame's counters and clock on (emitting goroutine).
func (x *watchExtras) snapshot(s *pipeline.Snapshot) {
	if x.m != nil {
		ci := pipeline.CaptureInfo(&s.Source, s.Table)
		x.m.SetCapture(metrics.CaptureOf(&ci, s.Table.Connections, s.Open, s.Clock))
	}
	if x.rec != nil && !s.Clock.IsZero() {
		x.rec.Tick(s.Clock)
	}
}

// registerEvidence exports the evidence recorder's counters.
func (x *watchExtras) registerEvidence(reg *prometheus.Registry) {
	st := func(f func(evidence.Stats) float64) func() float64 { return func() float64 { return f(x.rec.Stats()) } }
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "httplife_evidence_incidents_total",
			Help: "Connections whose close matched --evidence-on."}, st(func(s evidence.Stats) float64 { return float64(s.Incidents) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "httplife_evidence_written_total",
			Help: "Incidents whose packets were written to the evidence directory."}, st(func(s evidence.Stats) float64 { return float64(s.Written) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "httplife_evidence_dropped_total",
			Help: "Incidents not written: the writer was behind, their packets had been let go, the disk cap, or writing stopped."},
			st(func(s evidence.Stats) float64 { return float64(s.Dropped) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "httplife_evidence_disk_bytes",
			Help: "Bytes of evidence files in the evidence directory."}, st(func(s evidence.Stats) float64 { return float64(s.DiskBytes) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "httplife_evidence_memory_bytes",
			Help: "Bytes of packets the evidence recorder holds."}, st(func(s evidence.Stats) float64 { return float64(s.Memory) })),
	)
}

// finish brings the metrics up to the end of the capture, stops serving
// them and finishes the evidence; it reports the evidence on stderr.
func (x *watchExtras) finish(w *watcher, res *pipeline.Result) {
	if x.m != nil && res != nil {
		x.m.SetCapture(metrics.CaptureOf(&res.Capture, res.Table.Connections, 0, res.Capture.LastPacketAt))
	}
	if x.rec != nil {
		st := x.rec.Close()
		x.rec = nil
		fmt.Fprintf(w.o.s.ErrOut, "httplife: evidence: %d incidents, %d written to %s (%d files; %s of evidence there now), %d not written\n",
			st.Incidents, st.Written, x.ev.Dir, st.Files, sizeString(int(st.DiskBytes)), st.Dropped)
	}
	x.stop()
}

// stop stops serving metrics (and the recorder, when finish did not).
func (x *watchExtras) stop() {
	if x == nil {
		return
	}
	if x.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		x.srv.Shutdown(ctx)
		cancel()
		<-x.done
		x.srv = nil
	}
	if x.rec != nil {
		x.rec.Close()
		x.rec = nil
	}
}
