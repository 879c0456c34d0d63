package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("httplife_"+name, help, labels, nil)
}

var (
	descOpened = desc("connections_opened_total", "TCP connections the connection table created.")
	descOpen   = desc("connections_open", "TCP connections in the connection table now.")
	descEvict  = desc("connections_evicted_total", "TCP connections the connection table's cap evicted before they ended.")
	descClosed = desc("connections_closed_total",
		"Finished TCP connections, by server endpoint, who ended them first (the RST's sender when a RST did; none: no FIN or RST captured) and the close reason.",
		"server", "side", "reason")
	descRaces = desc("keepalive_races_total",
		"Requests lost to a keep-alive race (a request met the server's close of an idle connection), by server endpoint and kind.",
		"server", "kind")
	descResets = desc("resets_total", "TCP connections a RST ended, by server endpoint and the RST's sender.", "server", "side")
	descTxs    = desc("transactions_total", "HTTP request/response exchanges, by server endpoint.", "server")
	descIdle   = desc("idle_gap_seconds",
		"Keep-alive idle gaps: from the end of a response to the start of the next request on the connection, by server endpoint.", "server")
	descFinal = desc("final_idle_seconds",
		"Idle before a connection's first FIN or RST, by server endpoint and who closed it.", "server", "side")
	descTW = desc("time_wait_connections",
		"TIME_WAIT states held at the packet clock, by holder side and host address.", "side", "host")
	descIdleTO = desc("server_idle_timeout_seconds",
		"The server's idle timeout in force, inferred from the final idles of the connections it closed while idle (at least 3).", "server")
	descClientTO = desc("client_idle_close_seconds",
		"The idle after which the server's clients close their connections (a pool's idle timeout), inferred (at least 3).", "server")
	descPackets = desc("packets_captured_total", "Packets read from the capture.")
	descDropped = desc("packets_dropped_total", "Packets the kernel or the capture ring dropped.")
	descDups    = desc("packets_duplicate_total", "Packets dropped as copies of one captured before (the same packet on two interfaces, or mirrored twice).")
	descClock   = desc("last_packet_timestamp_seconds", "The packet clock: the last packet's capture time (later on a quiet wire), in Unix seconds.")

	allDescs = []*prometheus.Desc{descOpened, descOpen, descEvict, descClosed, descRaces, descResets, descTxs,
		descIdle, descFinal, descTW, descIdleTO, descClientTO, descPackets, descDropped, descDups, descClock}
)

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it settles the labels, lets go
// of the TIME_WAITs over at the packet clock and sends every series.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.srv.settle()
	if !m.clock.IsZero() {
		m.tw.expire(m.clock.UnixNano())
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	c := &m.capture
	counter(descOpened, c.Opened)
	gauge(descOpen, float64(c.Open))
	counter(descEvict, c.Evicted)
	counter(descPackets, c.Packets)
	counter(descDropped, c.Dropped)
	counter(descDups, c.Duplicates)
	if !m.clock.IsZero() {
		gauge(descClock, float64(m.clock.UnixNano())/1e9)
	}

	all := append(append([]*serverStats(nil), m.srv.labelled...), m.srv.other)
	for _, s := range all {
		if s.conns == 0 {
			continue // "other" before anything fell into it
		}
		for side, byReason := range s.closed {
			for r, n := range byReason {
				if n > 0 {
					counter(descClosed, n, s.label, sideNames[side], reasonNames[r])
				}
			}
		}
		for k, n := range s.races {
			if n > 0 {
				counter(descRaces, n, s.label, raceNames[k])
			}
		}
		for side, n := range s.resets {
			if n > 0 {
				counter(descResets, n, s.label, sideNames[side])
			}
		}
		counter(descTxs, s.transactions, s.label)
		if s.idle.n > 0 {
			ch <- prometheus.MustNewConstHistogram(descIdle, s.idle.n, s.idle.sum, s.idle.cumulative(), s.label)
		}
		for side := range s.final {
			if h := &s.final[side]; h.n > 0 {
				ch <- prometheus.MustNewConstHistogram(descFinal, h.n, h.sum, h.cumulative(), s.label, sideNames[side])
			}
		}
		if s == m.srv.other {
			continue
		}
		idle, idleOK, client, clientOK := m.timeouts(s)
		if idleOK {
			gauge(descIdleTO, idle, s.label)
		}
		if clientOK {
			gauge(descClientTO, client, s.label)
		}
	}
	for _, r := range m.tw.rows() {
		for side, n := range r.held {
			if n > 0 {
				gauge(descTW, float64(n), sideNames[side], r.label)
			}
		}
	}
}
