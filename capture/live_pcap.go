//go:build libpcap

package capture

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/pcap"
)

// The libpcap source (-tags libpcap): for systems other than Linux, or to
// use libpcap's own filter compiler. libpcap keeps one copy of each
// loopback packet itself.

const pcapReadTimeout = 50 * time.Millisecond

type pcapSource struct {
	acct     *liveAcct
	cfg      LiveConfig
	iface    string
	h        *pcap.Handle
	link     uint32
	snaplen  int
	captured uint64
	bytes    uint64
	last     pcap.Stats
	stopped  atomic.Bool
	err      error
}

func openLive(cfg LiveConfig) (LiveSource, error) {
	name := cfg.Interface
	ih, err := pcap.NewInactiveHandle(name)
	if err != nil {
		return nil, pcapOpenErr(name, err)
	}
	defer ih.CleanUp()
	ih.SetSnapLen(cfg.Snaplen)
	ih.SetPromisc(false)
	ih.SetBufferSize(cfg.Buffer)
	ih.SetTimeout(pcapReadTimeout)
	h, err := ih.Activate()
	if err != nil {
		return nil, pcapOpenErr(name, err)
	}
	if err := h.SetBPFFilter(cfg.Filter); err != nil {
		h.Close()
		return nil, filterErr(name, cfg.Filter, err)
	}
	s := &pcapSource{acct: newLiveAcct(name), cfg: cfg, iface: name, h: h, link: uint32(h.LinkType()), snaplen: h.SnapLen()}
	return s, nil
}

func pcapOpenErr(name string, err error) error {
	msg := err.Error()
	low := strings.ToLower(msg)
	switch {
	case strings.Contains(low, "permission") || strings.Contains(low, "not permitted"):
		return permissionErr(name, err)
	case strings.Contains(low, "no such device") || strings.Contains(low, "doesn't exist"):
		return liveErr(name, ErrNoInterface, "no interface %q (%s)", name, msg)
	}
	return liveErr(name, err, "capturing on %s: %s", name, msg)
}

func (s *pcapSource) Next() (*Segment, error) { return s.next(-1) }

func (s *pcapSource) NextTimeout(d time.Duration) (*Segment, error) {
	if d < 0 {
		d = 0
	}
	return s.next(d)
}

func (s *pcapSource) next(timeout time.Duration) (*Segment, error) {
	if s.err != nil {
		return nil, s.err
	}
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		if s.cfg.MaxPackets > 0 && s.captured >= s.cfg.MaxPackets {
			s.err = io.EOF
			return nil, s.err
		}
		data, ci, err := s.h.ZeroCopyReadPacketData()
		switch {
		case err == nil:
			s.captured++
			s.bytes += uint64(len(data))
			wire := max(ci.Length, len(data))
			ts := ci.Timestamp.UTC()
			if s.cfg.Packet != nil {
				s.cfg.Packet(ts, data, wire)
			}
			if seg := s.acct.take(s.link, data, ts, wire); seg != nil {
				return seg, nil
			}
			continue
		case errors.Is(err, pcap.NextErrorTimeoutExpired):
			if s.stopped.Load() {
				s.err = io.EOF
				return nil, s.err
			}
			if timeout >= 0 && !time.Now().Before(deadline) {
				return nil, ErrTimeout
			}
		case err == io.EOF:
			s.err = io.EOF
			return nil, s.err
		default:
			s.err = fmt.Errorf("capturing on %s: %w", s.iface, err)
			return nil, s.err
		}
	}
}

func (s *pcapSource) readStats() {
	if s.h == nil {
		return
	}
	if st, err := s.h.Stats(); err == nil {
		s.last = *st
	}
}

func (s *pcapSource) LiveStats() LiveStats {
	s.readStats()
	return LiveStats{
		Received:  uint64(s.last.PacketsReceived),
		Captured:  s.captured,
		Dropped:   uint64(s.last.PacketsDropped),
		IfDropped: uint64(s.last.PacketsIfDropped),
		RingBytes: s.cfg.Buffer,
	}
}

func (s *pcapSource) Stats() *Stats {
	s.readStats()
	return s.acct.statsWith(s.bytes, uint64(s.last.PacketsDropped))
}

func (s *pcapSource) LinkType() uint32 { return s.link }
func (s *pcapSource) Snaplen() int     { return s.snaplen }
func (s *pcapSource) Stop()            { s.stopped.Store(true) }

func (s *pcapSource) Close() error {
	if s.h != nil {
		s.readStats()
		s.h.Close()
		s.h = nil
	}
	if s.err == nil {
		s.err = errors.New("capture: Next called after Close")
	}
	return nil
}
