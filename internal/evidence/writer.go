package evidence

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/httplife/httplife/capture"
)

// ours matches the names of evidence files: what MaxDisk counts and may
// delete in Dir.
var ours = regexp.MustCompile(`^\d{8}T\d{4}[0-9.]*Z_[A-Za-z0-9._-]+\.(pcap|html)$`)

// diskFile is one of our files in Dir.
type diskFile struct {
	name string // base name
	size int64
}

// writer writes incidents on its own goroutine. Its counters are read by
// Stats from others, behind mu.
type writer struct {
	cfg   *Config
	files []diskFile // ours, oldest first
	total int64

	minute int64 // the minute (Unix minutes) of the incidents counted in own
	own    int   // incidents of that minute written to files of their own
	shared *sharedFile

	frame []byte

	mu sync.Mutex
	st writerStats
}

type writerStats struct {
	written, files, deleted, dropped uint64
	bytes                            int64
	stopped                          bool
}

// sharedFile is the pcap the incidents of a busy minute share, open.
type sharedFile struct {
	minute  int64
	name    string // base name, without the extension
	f       writeFile
	size    int64
	servers map[string]bool
	page    page
	full    int // incidents not kept: the file reached sharedMax
}

const (
	maxSharedListed = 200     // incidents a shared file's report lists
	sharedJSON      = 8 << 10 // bytes of each one's record it shows
)

// sharedMax bounds a minute's shared pcap: a twentieth of MaxDisk, at
// least 64 KiB (so a storm leaves room for the minutes before and after).
func (w *writer) sharedMax() int64 { return max(w.cfg.MaxDisk/20, 64<<10) }

func newWriter(cfg *Config) (*writer, error) {
	w := &writer{cfg: cfg, minute: -1}
	if err := cfg.fs.MkdirAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("evidence directory: %w", err)
	}
	ents, err := cfg.fs.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("evidence directory: %w", err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !ours.MatchString(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		w.files = append(w.files, diskFile{e.Name(), fi.Size()})
		w.total += fi.Size()
	}
	sort.Slice(w.files, func(i, j int) bool { return w.files[i].name < w.files[j].name }) // names begin with the time
	w.publish()
	return w, nil
}

func (w *writer) stats() writerStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}

// publish copies the disk usage to the counters.
func (w *writer) publish() {
	w.mu.Lock()
	w.st.bytes = w.total
	w.mu.Unlock()
}

func (w *writer) count(f func(*writerStats)) {
	w.mu.Lock()
	f(&w.st)
	w.mu.Unlock()
}

func (w *writer) stopped() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st.stopped
}

// fail stops evidence writing after a failed write.
func (w *writer) fail(what string, err error) {
	w.count(func(s *writerStats) { s.stopped = true })
	if w.cfg.Warn != nil {
		w.cfg.Warn(fmt.Sprintf("evidence: %s: %v; no more evidence is written (the capture goes on)", what, err))
	}
	if s := w.shared; s != nil {
		s.f.Close()
		w.shared = nil
	}
}

// endpointName is an endpoint as a file name part: 192.0.2.1_80,
// 2001-db8--1_443.
func endpointName(s string) string {
	host, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
	}
	host = strings.NewReplacer("[", "", "]", "", ":", "-", "%", "-").Replace(host)
	return host + "_" + port
}

// pcapHeader is the length of a pcap file's header.
const pcapHeader = 24

// pcapOf writes the packets of f as a pcap file into b (a shared file
// takes what follows the header).
func (w *writer) pcapOf(b *bytes.Buffer, f *flow) error {
	pw, err := capture.NewPcapWriter(b, uint32(40+20+w.cfg.Snap), linkRaw)
	if err != nil {
		return err
	}
	f.each(func(p *pkt) {
		if err != nil {
			return
		}
		var wire int
		w.frame, wire = f.frame(w.frame, p)
		err = pw.WritePacket(time.Unix(0, p.t), w.frame, wire)
	})
	return err
}

// room makes room for need more bytes under MaxDisk, deleting our oldest
// files (never keep); false when they cannot fit.
func (w *writer) room(need int64, keep string) bool {
	if need > w.cfg.MaxDisk {
		return false
	}
	kept := w.files[:0]
	var deleted uint64
	for i, f := range w.files {
		if w.total+need <= w.cfg.MaxDisk || f.name == keep {
			kept = append(kept, w.files[i])
			continue
		}
		w.cfg.fs.Remove(filepath.Join(w.cfg.Dir, f.name)) // gone already is as good
		w.total -= f.size
		deleted++
	}
	clear(w.files[len(kept):])
	w.files = kept
	w.count(func(s *writerStats) { s.deleted += deleted })
	return w.total+need <= w.cfg.MaxDisk
}

// writeFile writes one whole file and accounts for it.
func (w *writer) writeFile(name string, data []byte) bool {
	path := filepath.Join(w.cfg.Dir, name)
	f, err := w.cfg.fs.Create(path)
	if err == nil {
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		w.cfg.fs.Remove(path)
		w.fail("writing "+path, err)
		return false
	}
	w.files = append(w.files, diskFile{name, int64(len(data))})
	w.total += int64(len(data))
	w.count(func(s *writerStats) { s.files++ })
	return true
}

func (w *writer) incident(inc *incident) {
	if w.stopped() {
		w.count(func(s *writerStats) { s.dropped++ })
		return
	}
	minute := inc.At.Unix() / 60
	if inc.At.Unix() < 0 {
		minute = 0
	}
	if s := w.shared; s != nil && s.minute != minute {
		w.closeShared()
	}
	if minute != w.minute {
		w.minute, w.own = minute, 0
	}
	ok := false
	if w.own < w.cfg.PerMinute {
		ok = w.writeOwn(inc)
		if ok {
			w.own++
		}
	} else {
		ok = w.appendShared(inc, minute)
	}
	w.count(func(s *writerStats) {
		if ok {
			s.written++
		} else {
			s.dropped++
		}
	})
	w.publish()
}

func (w *writer) writeOwn(inc *incident) bool {
	base := fmt.Sprintf("%s_%s_%s_c%d", inc.At.UTC().Format("20060102T150405.000Z"), endpointName(inc.Server.String()), inc.Why, inc.ID)
	inc.Pcap = base + ".pcap"
	var b bytes.Buffer
	if err := w.pcapOf(&b, inc.flow); err != nil {
		return false
	}
	html, err := renderPage(&page{Title: fmt.Sprintf("httplife evidence: %s on %s at %s", inc.Why, inc.Server, inc.At.UTC().Format("2006-01-02 15:04:05.000 UTC")),
		Pcap: inc.Pcap, Incidents: []*incident{inc}})
	if err != nil {
		return false
	}
	inc.JSON = "" // the page has it; the incident is done with
	if !w.room(int64(b.Len()+len(html)), "") {
		return false
	}
	return w.writeFile(inc.Pcap, b.Bytes()) && w.writeFile(base+".html", html)
}

func (w *writer) appendShared(inc *incident, minute int64) bool {
	var b bytes.Buffer
	if err := w.pcapOf(&b, inc.flow); err != nil {
		return false
	}
	s := w.shared
	if s == nil {
		name := time.Unix(minute*60, 0).UTC().Format("20060102T1504Z") + "_minute"
		path := filepath.Join(w.cfg.Dir, name+".pcap")
		if !w.room(int64(b.Len()), "") {
			return false
		}
		f, err := w.cfg.fs.Create(path)
		if err == nil {
			if _, err = f.Write(b.Bytes()[:pcapHeader]); err != nil {
				f.Close()
			}
		}
		if err != nil {
			w.cfg.fs.Remove(path)
			w.fail("writing "+path, err)
			return false
		}
		s = &sharedFile{minute: minute, name: name, f: f, size: pcapHeader, servers: map[string]bool{}}
		s.page.Pcap = name + ".pcap"
		w.files = append(w.files, diskFile{name + ".pcap", s.size})
		w.total += s.size
		w.shared = s
		w.count(func(st *writerStats) { st.files++ })
	}
	pkts := b.Bytes()[pcapHeader:]
	if s.size+int64(len(pkts)) > w.sharedMax() || !w.room(int64(len(pkts)), s.page.Pcap) {
		s.full++
		return false
	}
	if _, err := s.f.Write(pkts); err != nil {
		w.fail("writing "+filepath.Join(w.cfg.Dir, s.page.Pcap), err)
		return false
	}
	s.size += int64(len(pkts))
	w.total += int64(len(pkts))
	for i := range w.files {
		if w.files[i].name == s.page.Pcap {
			w.files[i].size = s.size
		}
	}
	inc.Pcap = s.page.Pcap
	inc.JSON = cut(inc.JSON, sharedJSON)
	s.servers[inc.Server.String()] = true
	if len(s.page.Incidents) < maxSharedListed {
		s.page.Incidents = append(s.page.Incidents, inc)
	} else {
		s.page.More++
	}
	return true
}

// closeShared finishes the minute's shared file and writes its report.
func (w *writer) closeShared() {
	s := w.shared
	if s == nil {
		return
	}
	w.shared = nil
	if err := s.f.Close(); err != nil {
		w.fail("writing "+filepath.Join(w.cfg.Dir, s.page.Pcap), err)
		return
	}
	n := len(s.page.Incidents) + s.page.More
	s.page.Full = s.full
	what := "servers"
	if len(s.servers) == 1 {
		for k := range s.servers {
			what = k
		}
	}
	s.page.Title = fmt.Sprintf("httplife evidence: %d incidents on %s in the minute from %s", n, what,
		time.Unix(s.minute*60, 0).UTC().Format("2006-01-02 15:04 UTC"))
	html, err := renderPage(&s.page)
	if err != nil || !w.room(int64(len(html)), s.page.Pcap) {
		return
	}
	w.writeFile(s.name+".html", html)
	w.publish()
}

// tick finishes the shared file once the packet clock left its minute.
func (w *writer) tick(now time.Time) {
	if s := w.shared; s != nil && now.Unix()/60 > s.minute {
		w.closeShared()
	}
}

func (w *writer) close() {
	w.closeShared()
	w.publish()
}
