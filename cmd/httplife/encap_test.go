package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestEncapsulatedSamples re-writes every Ethernet capture of samples/
// (and of the shared corpus, where there is one) the way field captures
// arrive: inside each tunnel issue 12 names, tagged, twice as `-i any` or
// a SPAN port records it, with the outer packets fragmented, nested. The
// real servers' and clients' conversations stay what they were, so each
// re-written capture must analyse to exactly the connections and summary
// of the plain one, and say how it was carried (tunnel, vlan, the copies
// dropped). The outer headers are serialised by gopacket where it has a
// serialiser (the test oracle is an independent encoder), by hand
// otherwise (ERSPAN III, Teredo, NFLOG, LINUX_SLL2).
//
// Loopback segments (up to 64 KiB) are first cut to 1,448-byte segments,
// as segmentation offload puts them on a wire: a tunnel carries no more.
// The plain capture compared with is the cut one.
func TestEncapsulatedSamples(t *testing.T) {
	paths, _ := filepath.Glob("../../samples/*.pcap")
	for _, dir := range []string{"heldout-sim", "proxy", "tls", "h2c"} {
		more, _ := filepath.Glob(filepath.Join("../../samples", dir, "*.pcap"))
		paths = append(paths, more...)
	}
	corpus, _ := filepath.Glob("../../../shared/corpus/*.pcap")
	paths = append(paths, corpus...)
	if testing.Short() {
		paths = paths[:min(len(paths), 6)]
	}
	known := 0
	dir := t.TempDir()
	if d := os.Getenv("HTTPLIFE_ENCAP_DIR"); d != "" {
		dir = d // keep the re-written captures (to look at them with tshark)
	}
	captures := 0
	for _, path := range paths {
		pkts, link := cutPackets(t, path)
		if link != layers.LinkTypeEthernet {
			continue
		}
		captures++
		name := strings.TrimSuffix(filepath.Base(path), ".pcap")
		type plainKey struct {
			v6   bool
			snap int
		}
		plain := map[plainKey]analysed{}
		baseline := func(k plainKey) analysed {
			if a, ok := plain[k]; ok {
				return a
			}
			file := filepath.Join(dir, fmt.Sprintf("%s.plain-%v-%d.pcap", name, k.v6, k.snap))
			writeFrames(t, file, layers.LinkTypeEthernet, pkts, false, k.snap, false, func(p ipPacket) [][]byte {
				if k.v6 && !p.v6 {
					return nil
				}
				return [][]byte{p.frame()}
			})
			a := analyseLines(t, file)
			plain[k] = a
			return a
		}
		for _, w := range wrappings {
			if w.v6 && !hasV6(pkts) {
				continue
			}
			innerSnap := w.mirrorCut
			if w.snap > 0 {
				innerSnap = w.snap - w.overhead
			}
			want := baseline(plainKey{w.v6, innerSnap})
			file := filepath.Join(dir, name+"."+w.name+".pcap")
			if w.ng {
				file += "ng"
			}
			in := pkts
			if w.batch > 0 {
				in = batched(pkts, w.batch)
			}
			if w.delay > 0 {
				in = delayed(pkts, w.delay, w.lateServer)
			}
			frames := writeFrames(t, file, w.link, in, w.copies, w.snap, w.batch > 0, w.frames)
			parts := 1
			if w.rotate > 0 {
				parts = rotate(t, file, w.rotate)
			}
			got := analyseLines(t, file)
			label := fmt.Sprintf("%s in %s", path, w.name)
			if len(got.conns) != len(want.conns) {
				t.Errorf("%s: %d connections, want %d (as plain)", label, len(got.conns), len(want.conns))
				continue
			}
			wantConns := want.conns
			if w.delay > 0 {
				// Times moved: what the connections are and how they
				// ended must not.
				wantConns, got.conns = structure(byStart(wantConns)), structure(byStart(got.conns))
			}
			for i, c := range got.conns {
				tunnel, vlan := c["tunnel"], c["vlan"]
				c, wc := maps.Clone(c), maps.Clone(wantConns[i])
				for _, k := range []string{"tunnel", "vlan"} {
					delete(c, k)
					delete(wc, k)
				}
				if !reflect.DeepEqual(c, wc) {
					if k := encapKnown[filepath.Base(path)+" in "+w.name]; k != "" {
						known++
						continue
					}
					t.Errorf("%s: connection %d differs from the plain capture's:\n got %s\nwant %s", label, i+1, jsonOf(c), jsonOf(wc))
					continue
				}
				wantTunnel := w.tunnel
				if w.tunnel6 != nil && strings.HasPrefix(c["client"].(string), "[") {
					wantTunnel = w.tunnel6
				}
				if got := tunnelTypes(tunnel); !slices.Equal(got, wantTunnel) {
					t.Errorf("%s: connection %d tunnel %s, want types %v", label, i+1, jsonOf(tunnel), wantTunnel)
				}
				if got := vlanIDs(vlan); !slices.Equal(got, w.vlan) {
					t.Errorf("%s: connection %d vlan %s, want %v", label, i+1, jsonOf(vlan), w.vlan)
				}
			}
			if w.delay > 0 {
				continue // its times moved
			}
			if !reflect.DeepEqual(got.summary, want.summary) {
				t.Errorf("%s: summary differs from the plain capture's:\n got %s\nwant %s", label, jsonOf(got.summary), jsonOf(want.summary))
			}
			wantDup := 0.0
			if w.copies {
				wantDup = want.capture["packets"].(float64)
			}
			if d := got.capture["duplicates"]; d != wantDup {
				t.Errorf("%s: capture.duplicates %v, want %v", label, d, wantDup)
			}
			skipped := maps.Clone(want.capture["skipped"].(map[string]any))
			if w.fragments {
				skipped["fragments"] = float64(frames - len(pkts))
			}
			if g := got.capture["skipped"]; !reflect.DeepEqual(g, skipped) {
				t.Errorf("%s: capture.skipped %s, want %s", label, jsonOf(g), jsonOf(skipped))
			}
			for _, k := range []string{"warnings", "tcp_packets"} {
				if k == "tcp_packets" && w.copies {
					continue // counts the copies
				}
				gv, wv := got.capture[k], want.capture[k]
				if k == "warnings" && w.batch > 0 {
					// The interfaces were merged, which the first says
					// when the file was out of time order.
					l, _ := gv.([]any)
					merged := len(l) > 0 && strings.Contains(l[0].(string), "the packets of its 2 interfaces are analysed merged in time order")
					if merged != backwards(in) {
						t.Errorf("%s: warnings %s; the file goes back in time: %v", label, jsonOf(gv), backwards(in))
					}
					if merged {
						gv = l[1:]
					}
				}
				if k == "warnings" && parts > 1 {
					// The first names the set it read.
					l, _ := gv.([]any)
					rest := fmt.Sprintf("%s1", filepath.Base(file))
					if parts > 2 {
						rest += fmt.Sprintf(" to %s%d", filepath.Base(file), parts-1)
					}
					note := fmt.Sprintf("read with the rest of its rotated set, %s (%d files)", rest, parts)
					if len(l) == 0 || !strings.Contains(l[0].(string), note) {
						t.Errorf("%s: warnings %s, want first %q", label, jsonOf(gv), note)
						continue
					}
					gv = l[1:]
					if files, _ := got.capture["files"].([]any); len(files) != parts {
						t.Errorf("%s: capture.files %s, want %d", label, jsonOf(got.capture["files"]), parts)
					}
				}
				if k == "warnings" && frames != len(pkts) {
					// Copies and fragments number the packets anew.
					gv, wv = packetNumbers.ReplaceAllString(jsonOf(gv), "packet N"), packetNumbers.ReplaceAllString(jsonOf(wv), "packet N")
				}
				if !reflect.DeepEqual(gv, wv) {
					t.Errorf("%s: capture.%s %s, want the plain capture's %s", label, k, jsonOf(gv), jsonOf(wv))
				}
			}
		}
	}
	if captures == 0 {
		t.Fatal("no Ethernet capture in samples/")
	}
	if known > len(encapKnown) {
		t.Errorf("%d connections differ as known, want at most %d", known, len(encapKnown))
	}
	t.Logf("%d captures × %d wrappings", captures, len(wrappings))
}

var packetNumbers = regexp.MustCompile(`packet \d+`)

// encapKnown are the re-written captures of which one connection may
// differ, with why; none at present. (A server's RST without ACK that a
// mirror recorded before the client's last request, delayed, used to end
// the client's stream there: post-body-crlf-python and
// connection-close-header-gunicorn-sync in mirror-delay. The peer's bytes
// after a RST are now read, as they crossed it.)
var encapKnown = map[string]string{}

// ipPacket is one IP packet of a capture, with the Ethernet addresses it
// came with.
type ipPacket struct {
	ts       time.Time
	src, dst []byte // Ethernet
	v6       bool
	ip       []byte
	key      string // the TCP connection it belongs to ("" if none)
	fromLow  bool   // sent by the lower address (a direction, for labels and outer addresses)
}

func (p ipPacket) etherType() layers.EthernetType {
	if p.v6 {
		return layers.EthernetTypeIPv6
	}
	return layers.EthernetTypeIPv4
}

// frame is the packet in its own Ethernet header.
func (p ipPacket) frame() []byte {
	return serial(&layers.Ethernet{SrcMAC: p.src, DstMAC: p.dst, EthernetType: p.etherType()}, gopacket.Payload(p.ip))
}

// cutPackets reads an Ethernet pcap's IP packets, TCP segments cut to at
// most 1,448 payload bytes (IPv4 ids counting up as the kernel's GSO
// does). Other frames are dropped.
func cutPackets(t *testing.T, path string) ([]ipPacket, layers.LinkType) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		return nil, r.LinkType()
	}
	const mss = 1448
	var out []ipPacket
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if ci.CaptureLength != ci.Length {
			t.Fatalf("%s: a packet cut by the snaplen; this test wants whole packets", path)
		}
		pkt := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.Default)
		eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if eth == nil || (eth.EthernetType != layers.EthernetTypeIPv4 && eth.EthernetType != layers.EthernetTypeIPv6) {
			continue
		}
		p := ipPacket{ts: ci.Timestamp, src: eth.SrcMAC, dst: eth.DstMAC, v6: eth.EthernetType == layers.EthernetTypeIPv6, ip: eth.Payload}
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		net := pkt.NetworkLayer()
		if tcp == nil || net == nil {
			out = append(out, p)
			continue
		}
		s, d := net.NetworkFlow().Src().Raw(), net.NetworkFlow().Dst().Raw()
		sp, dp := uint16(tcp.SrcPort), uint16(tcp.DstPort)
		p.fromLow = bytes.Compare(s, d) < 0 || (bytes.Equal(s, d) && sp < dp)
		if p.fromLow {
			p.key = fmt.Sprintf("%x:%d-%x:%d", s, sp, d, dp)
		} else {
			p.key = fmt.Sprintf("%x:%d-%x:%d", d, dp, s, sp)
		}
		if len(tcp.Payload) <= mss {
			out = append(out, p)
			continue
		}
		payload := tcp.Payload
		for off := 0; off < len(payload); off += mss {
			end := min(off+mss, len(payload))
			seg := *tcp
			seg.Seq = tcp.Seq + uint32(off)
			seg.FIN = tcp.FIN && end == len(payload)
			seg.PSH = tcp.PSH && end == len(payload)
			var ip gopacket.SerializableLayer
			switch n := net.(type) {
			case *layers.IPv4:
				c := *n
				c.Id = n.Id + uint16(off/mss)
				ip = &c
				seg.SetNetworkLayerForChecksum(&c)
			case *layers.IPv6:
				c := *n
				ip = &c
				seg.SetNetworkLayerForChecksum(&c)
			}
			q := p
			q.ip = serial(ip, &seg, gopacket.Payload(payload[off:end]))
			out = append(out, q)
		}
	}
	return out, layers.LinkTypeEthernet
}

func hasV6(pkts []ipPacket) bool {
	return slices.ContainsFunc(pkts, func(p ipPacket) bool { return p.v6 })
}

// writeFrames writes a pcap of link type link with the frames wrap makes
// of each packet and returns how many it wrote. The frames of one packet
// share its time, except copies (spread): each 1 µs after the one before,
// never after the next packet. A snaplen (snap > 0) cuts the frames.
// ifaces (pcapng only) records each direction on its own interface.
func writeFrames(t *testing.T, file string, link layers.LinkType, pkts []ipPacket, spread bool, snap int, ifaces bool, wrap func(ipPacket) [][]byte) (frames int) {
	t.Helper()
	var buf bytes.Buffer
	var write func(gopacket.CaptureInfo, []byte) error
	if strings.HasSuffix(file, ".pcapng") {
		w, err := pcapgo.NewNgWriter(&buf, link)
		if err != nil {
			t.Fatal(err)
		}
		if ifaces {
			intf := pcapgo.DefaultNgInterface
			intf.LinkType, intf.Name = link, "tap-b"
			if _, err := w.AddInterface(intf); err != nil {
				t.Fatal(err)
			}
		}
		defer func() {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}()
		write = w.WritePacket
	} else {
		w := pcapgo.NewWriterNanos(&buf)
		if err := w.WriteFileHeader(262144, link); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}()
		write = w.WritePacket
	}
	for i, p := range pkts {
		fs := wrap(p)
		frames += len(fs)
		ts := p.ts
		for k, f := range fs {
			if k > 0 && spread {
				next := ts.Add(time.Microsecond)
				if i+1 < len(pkts) && next.After(pkts[i+1].ts) {
					next = pkts[i+1].ts
				}
				if next.After(ts) {
					ts = next
				}
			}
			ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(f), Length: len(f)}
			if ifaces && !p.fromLow {
				ci.InterfaceIndex = 1
			}
			if snap > 0 && len(f) > snap {
				f, ci.CaptureLength = f[:snap], snap
			}
			if err := write(ci, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	return frames
}

// delayed is the capture as a monitor port sees it when the copies of
// the client's packets (sent by the higher address: the ephemeral port),
// or the server's, arrive d late: stamped and written on arrival.
func delayed(pkts []ipPacket, d time.Duration, server bool) []ipPacket {
	out := slices.Clone(pkts)
	for i := range out {
		if out[i].fromLow == server {
			out[i].ts = out[i].ts.Add(d)
		}
	}
	slices.SortStableFunc(out, func(a, b ipPacket) int { return a.ts.Compare(b.ts) })
	return out
}

// byStart sorts connection records by endpoints, then first packet.
func byStart(cs []map[string]any) []map[string]any {
	cs = slices.Clone(cs)
	key := func(c map[string]any) string {
		return fmt.Sprint(c["client"], c["server"], c["first_packet_at"])
	}
	slices.SortStableFunc(cs, func(a, b map[string]any) int { return strings.Compare(key(a), key(b)) })
	return cs
}

// structure keeps of each connection record what does not depend on
// when its packets were seen: endpoints, the requests and responses,
// packets and bytes, who closed it and why.
func structure(cs []map[string]any) []map[string]any {
	var out []map[string]any
	for _, c := range cs {
		s := map[string]any{}
		for _, k := range []string{"client", "server", "syn_seen", "packets", "payload_bytes", "retransmissions", "missing_bytes", "tunnel", "vlan"} {
			s[k] = c[k]
		}
		var txs []any
		for _, tx := range c["transactions"].([]any) {
			m := tx.(map[string]any)
			txs = append(txs, []any{m["method"], m["uri"], m["status"], m["request_bytes"], m["response_bytes"], m["complete"]})
		}
		s["transactions"] = txs
		if cl, ok := c["close"].(map[string]any); ok {
			s["close"] = []any{cl["reason"], cl["first_fin_by"], cl["rst_by"], cl["client_state"], cl["server_state"]}
		}
		out = append(out, s)
	}
	return out
}

// backwards says whether a packet is earlier than the one before.
func backwards(pkts []ipPacket) bool {
	for i := 1; i < len(pkts); i++ {
		if pkts[i].ts.Before(pkts[i-1].ts) {
			return true
		}
	}
	return false
}

// batched reorders packets as dumpcap writes two interfaces: per batch
// of d, the packets sent by the lower address first, then the others,
// times as they were.
func batched(pkts []ipPacket, d time.Duration) []ipPacket {
	var out, a, b []ipPacket
	var start time.Time
	flush := func() {
		out = append(append(out, a...), b...)
		a, b = a[:0], b[:0]
	}
	for _, p := range pkts {
		if p.ts.Sub(start) >= d {
			flush()
			start = p.ts
		}
		if p.fromLow {
			a = append(a, p)
		} else {
			b = append(b, p)
		}
	}
	flush()
	return out
}

// rotate splits a pcap into files of every packets as tcpdump -C names
// them: the first keeps the name, the rest add 1, 2, ...
func rotate(t *testing.T, file string, every int) (files int) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var parts []*bytes.Buffer
	var w *pcapgo.Writer
	for n := 0; ; n++ {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if n%every == 0 {
			parts = append(parts, new(bytes.Buffer))
			w = pcapgo.NewWriterNanos(parts[len(parts)-1])
			if err := w.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range parts {
		name := file
		if i > 0 {
			name = fmt.Sprintf("%s%d", file, i)
		}
		if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return len(parts)
}

// A wrapping re-writes one IP packet as the field delivers it.
type wrapping struct {
	name   string
	link   layers.LinkType
	v6     bool // carries IPv6 only (Teredo); IPv4 packets are dropped
	copies bool // every packet twice: the second is a copy
	// fragments: the outer datagrams are fragmented (capture.skipped
	// counts all fragments but the last of each)
	fragments bool
	ng        bool // written as pcapng
	// snap: the capture's snaplen; overhead: the bytes of outer headers
	// it spends, so that the plain capture compared with is cut at
	// snap-overhead
	snap, overhead int
	// mirrorCut: the mirror session cut each inner frame to this many
	// bytes before encapsulating it (AWS Traffic Mirroring's packet
	// length, ERSPAN's truncation): the outer headers are whole and
	// agree with what follows them, so only the inner lengths say that
	// bytes are missing. Compared with the plain capture cut there.
	mirrorCut int
	rotate    int // split as tcpdump -C does, this many packets a file
	// batch: each direction comes from its own interface, and the file
	// holds batches of this much time, one direction's packets of the
	// batch before the other's, as dumpcap -i a -i b writes them
	batch time.Duration
	// delay: a mirror path delays the client's packets (timestamps of
	// arrival, the capture in arrival order): a SYN-ACK before its SYN,
	// responses before their requests. Compared: what each connection
	// is and how it ended, not its times.
	delay      time.Duration
	lateServer bool // the server's copies are late, not the client's
	frames     func(ipPacket) [][]byte
	tunnel     []string // the tunnel types each connection names, outermost first
	tunnel6    []string // those of an IPv6 connection, where they differ
	vlan       []int
}

// The tunnel's endpoints, one per direction.
var (
	outer4 = [2][]byte{{10, 99, 0, 1}, {10, 99, 0, 2}}
	outer6 = [2][]byte{{0xfd, 0, 0x99, 14: 0, 15: 1}, {0xfd, 0, 0x99, 14: 0, 15: 2}}
	macs   = [2][]byte{{2, 0, 0, 0, 0x99, 1}, {2, 0, 0, 0, 0x99, 2}}
)

func ends(p ipPacket) (a, b int) {
	if p.fromLow {
		return 0, 1
	}
	return 1, 0
}

// underlay4 is an Ethernet and IPv4 header from one tunnel end to the
// other, followed by ls.
func underlay4(p ipPacket, proto layers.IPProtocol, ls ...gopacket.SerializableLayer) []byte {
	a, b := ends(p)
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: outer4[a], DstIP: outer4[b], Id: uint16(p.ts.UnixNano() >> 10)}
	for _, l := range ls {
		if u, ok := l.(*layers.UDP); ok {
			u.SetNetworkLayerForChecksum(ip)
		}
	}
	return serial(append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: macs[a], DstMAC: macs[b], EthernetType: layers.EthernetTypeIPv4}, ip}, ls...)...)
}

func underlay6(p ipPacket, next layers.IPProtocol, ls ...gopacket.SerializableLayer) []byte {
	a, b := ends(p)
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: outer6[a], DstIP: outer6[b]}
	for _, l := range ls {
		if u, ok := l.(*layers.UDP); ok {
			u.SetNetworkLayerForChecksum(ip)
		}
	}
	return serial(append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: macs[a], DstMAC: macs[b], EthernetType: layers.EthernetTypeIPv6}, ip}, ls...)...)
}

func udp(src, dst uint16) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(src), DstPort: layers.UDPPort(dst)}
}

// entropy is a source port from the inner flow, as VXLAN and Geneve
// senders pick them.
func entropy(p ipPacket) uint16 {
	h := uint16(0)
	for _, c := range p.key {
		h = h*31 + uint16(c)
	}
	return 49152 + h%16384
}

func one(b []byte) [][]byte { return [][]byte{b} }

// cut is b cut to at most n bytes.
func cut(b []byte, n int) []byte { return b[:min(len(b), n)] }

func gre(proto layers.EthernetType) *layers.GRE { return &layers.GRE{Protocol: proto} }

var wrappings = []wrapping{
	{name: "vlan", link: layers.LinkTypeEthernet, vlan: []int{10}, frames: func(p ipPacket) [][]byte {
		return one(serial(&layers.Ethernet{SrcMAC: p.src, DstMAC: p.dst, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 10, Type: p.etherType()}, gopacket.Payload(p.ip)))
	}},
	{name: "qinq", link: layers.LinkTypeEthernet, vlan: []int{100, 10}, frames: func(p ipPacket) [][]byte {
		return one(serial(&layers.Ethernet{SrcMAC: p.src, DstMAC: p.dst, EthernetType: layers.EthernetTypeQinQ},
			&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 10, Type: p.etherType()}, gopacket.Payload(p.ip)))
	}},
	{name: "vxlan-4789", link: layers.LinkTypeEthernet, tunnel: []string{"vxlan"}, frames: func(p ipPacket) [][]byte {
		return one(underlay4(p, layers.IPProtocolUDP, udp(entropy(p), 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 100}, gopacket.Payload(p.frame())))
	}},
	{name: "vxlan-8472-v6", link: layers.LinkTypeEthernet, tunnel: []string{"vxlan"}, frames: func(p ipPacket) [][]byte {
		return one(underlay6(p, layers.IPProtocolUDP, udp(entropy(p), 8472), &layers.VXLAN{ValidIDFlag: true, VNI: 200}, gopacket.Payload(p.frame())))
	}},
	{name: "geneve", link: layers.LinkTypeEthernet, tunnel: []string{"geneve"}, frames: func(p ipPacket) [][]byte {
		return one(underlay4(p, layers.IPProtocolUDP, udp(entropy(p), 6081), &layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: 5000}, gopacket.Payload(p.frame())))
	}},
	{name: "gre", link: layers.LinkTypeEthernet, tunnel: []string{"gre"}, frames: func(p ipPacket) [][]byte {
		return one(underlay4(p, layers.IPProtocolGRE, gre(p.etherType()), gopacket.Payload(p.ip)))
	}},
	{name: "gre-key-seq", link: layers.LinkTypeEthernet, tunnel: []string{"gre"}, frames: func(p ipPacket) [][]byte {
		g := &layers.GRE{Protocol: p.etherType(), KeyPresent: true, Key: 42, SeqPresent: true, Seq: uint32(p.ts.UnixMicro())}
		return one(underlay4(p, layers.IPProtocolGRE, g, gopacket.Payload(p.ip)))
	}},
	{name: "gretap-v6", link: layers.LinkTypeEthernet, tunnel: []string{"gre"}, frames: func(p ipPacket) [][]byte {
		return one(underlay6(p, layers.IPProtocolGRE, gre(layers.EthernetTypeTransparentEthernetBridging), gopacket.Payload(p.frame())))
	}},
	{name: "erspan2", link: layers.LinkTypeEthernet, tunnel: []string{"erspan"}, frames: func(p ipPacket) [][]byte {
		g := &layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true, Seq: uint32(p.ts.UnixMicro())}
		// Both directions mirrored from one port to one collector.
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolGRE, SrcIP: outer4[0], DstIP: outer4[1]}
		return one(serial(&layers.Ethernet{SrcMAC: macs[0], DstMAC: macs[1], EthernetType: layers.EthernetTypeIPv4}, ip, g,
			&layers.ERSPANII{Version: 1, SessionID: 12, Index: 3}, gopacket.Payload(p.frame())))
	}},
	{name: "erspan3", link: layers.LinkTypeEthernet, tunnel: []string{"erspan"}, frames: func(p ipPacket) [][]byte {
		g := &layers.GRE{Protocol: 0x22eb, SeqPresent: true, Seq: uint32(p.ts.UnixMicro())}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolGRE, SrcIP: outer4[0], DstIP: outer4[1]}
		return one(serial(&layers.Ethernet{SrcMAC: macs[0], DstMAC: macs[1], EthernetType: layers.EthernetTypeIPv4}, ip, g,
			gopacket.Payload(erspan3Header(13, p)), gopacket.Payload(p.frame())))
	}},
	{name: "mpls", link: layers.LinkTypeEthernet, tunnel: []string{"mpls", "mpls"}, frames: func(p ipPacket) [][]byte {
		a, b := ends(p)
		outer, inner := uint32(16001+a), uint32(20001+a)
		return one(serial(&layers.Ethernet{SrcMAC: macs[a], DstMAC: macs[b], EthernetType: layers.EthernetTypeMPLSUnicast},
			&layers.MPLS{Label: outer, TTL: 64}, &layers.MPLS{Label: inner, TTL: 64, StackBottom: true}, gopacket.Payload(p.ip)))
	}},
	{name: "pppoe", link: layers.LinkTypeEthernet, tunnel: []string{"pppoe"}, frames: func(p ipPacket) [][]byte {
		typ := layers.PPPTypeIPv4
		if p.v6 {
			typ = layers.PPPTypeIPv6
		}
		return one(serial(&layers.Ethernet{SrcMAC: p.src, DstMAC: p.dst, EthernetType: layers.EthernetTypePPPoESession},
			&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 0x1234}, &layers.PPP{PPPType: typ}, gopacket.Payload(p.ip)))
	}},
	{name: "ip-in-ip", link: layers.LinkTypeEthernet, tunnel: []string{"ipip"}, tunnel6: []string{"ip6ip"}, frames: func(p ipPacket) [][]byte {
		proto := layers.IPProtocolIPv4
		if p.v6 {
			proto = layers.IPProtocolIPv6 // 6in4
		}
		return one(underlay4(p, proto, gopacket.Payload(p.ip)))
	}},
	{name: "ip-in-ipv6", link: layers.LinkTypeEthernet, tunnel: []string{"ipip"}, tunnel6: []string{"ip6ip"}, frames: func(p ipPacket) [][]byte {
		proto := layers.IPProtocolIPv4
		if p.v6 {
			proto = layers.IPProtocolIPv6
		}
		return one(underlay6(p, proto, gopacket.Payload(p.ip)))
	}},
	{name: "teredo", link: layers.LinkTypeEthernet, v6: true, tunnel: []string{"teredo"}, frames: func(p ipPacket) [][]byte {
		if !p.v6 {
			return nil
		}
		return one(underlay4(p, layers.IPProtocolUDP, udp(3544, 3544), gopacket.Payload(p.ip)))
	}},
	{name: "nflog", link: layers.LinkType(239), frames: func(p ipPacket) [][]byte { return one(nflog(p)) }},
	{name: "any-copies", link: layers.LinkType(276), copies: true, frames: func(p ipPacket) [][]byte {
		// tcpdump -i any on a bridge host: the pod's veth, then the bridge.
		return [][]byte{sll2(p, 7), sll2(p, 3)}
	}},
	{name: "span-copies", link: layers.LinkTypeEthernet, copies: true, frames: func(p ipPacket) [][]byte {
		return [][]byte{p.frame(), p.frame()}
	}},
	{name: "span-vlan-copies", link: layers.LinkTypeEthernet, copies: true, vlan: []int{10}, frames: func(p ipPacket) [][]byte {
		// A SPAN session of a trunk port and of the access port: the
		// first copy tagged, the second not.
		return [][]byte{serial(&layers.Ethernet{SrcMAC: p.src, DstMAC: p.dst, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 10, Type: p.etherType()}, gopacket.Payload(p.ip)), p.frame()}
	}},
	{name: "any-overlay-copies", link: layers.LinkType(276), copies: true, frames: func(p ipPacket) [][]byte {
		// tcpdump -i any on an overlay node: the pod's veth, then the
		// underlay's VXLAN.
		under := underlay4(p, layers.IPProtocolUDP, udp(entropy(p), 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 100}, gopacket.Payload(p.frame()))
		q := p
		q.ip, q.v6 = under[14:], false
		return [][]byte{sll2(p, 7), sll2(q, 2)}
	}},
	{name: "routed-copies", link: layers.LinkType(276), copies: true, frames: func(p ipPacket) [][]byte {
		// The same packet before and after a hop of the host's routing:
		// another interface, the TTL one less.
		q := p
		q.ip = forwarded(p)
		return [][]byte{sll2(p, 4), sll2(q, 9)}
	}},
	{name: "sll-copies", link: layers.LinkTypeLinuxSLL, copies: true, frames: func(p ipPacket) [][]byte {
		// A live `-i any` through libpcap: LINUX_SLL, no interface index.
		return [][]byte{sll(p, 4), sll(p, 0)}
	}},
	{name: "vlan-in-vxlan", link: layers.LinkTypeEthernet, tunnel: []string{"vxlan"}, vlan: []int{30}, frames: func(p ipPacket) [][]byte {
		inner := serial(&layers.Ethernet{SrcMAC: p.src, DstMAC: p.dst, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 30, Type: p.etherType()}, gopacket.Payload(p.ip))
		return one(underlay4(p, layers.IPProtocolUDP, udp(entropy(p), 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 101}, gopacket.Payload(inner)))
	}},
	{name: "geneve-option", link: layers.LinkTypeEthernet, ng: true, tunnel: []string{"geneve"}, frames: func(p ipPacket) [][]byte {
		// OVN's tunnel key option (class 0x0102), in a pcapng file.
		g := &layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: 7,
			Options: []*layers.GeneveOption{{Class: 0x0102, Type: 0x80, Data: []byte{0, 1, 0, 2}}}}
		return one(underlay4(p, layers.IPProtocolUDP, udp(entropy(p), 6081), g, gopacket.Payload(p.frame())))
	}},
	{name: "gre-checksum", link: layers.LinkTypeEthernet, tunnel: []string{"gre"}, frames: func(p ipPacket) [][]byte {
		g := &layers.GRE{Protocol: p.etherType(), ChecksumPresent: true, KeyPresent: true, Key: 5}
		return one(underlay4(p, layers.IPProtocolGRE, g, gopacket.Payload(p.ip)))
	}},
	{name: "mpls-in-gre", link: layers.LinkTypeEthernet, tunnel: []string{"gre", "mpls"}, frames: func(p ipPacket) [][]byte {
		return one(underlay4(p, layers.IPProtocolGRE, gre(layers.EthernetTypeMPLSUnicast),
			&layers.MPLS{Label: 3000, TTL: 64, StackBottom: true}, gopacket.Payload(p.ip)))
	}},
	{name: "vxlan6-fragments", link: layers.LinkTypeEthernet, fragments: true, tunnel: []string{"vxlan"}, frames: func(p ipPacket) [][]byte {
		return fragment6(underlay6(p, layers.IPProtocolUDP, udp(entropy(p), 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 301}, gopacket.Payload(p.frame())), 1280, uint32(p.ts.UnixNano()>>8))
	}},
	{name: "vxlan-snaplen", link: layers.LinkTypeEthernet, snap: 178, overhead: 50, tunnel: []string{"vxlan"}, frames: func(p ipPacket) [][]byte {
		// tcpdump -s 178 on the underlay: 128 bytes of each inner frame.
		return one(underlay4(p, layers.IPProtocolUDP, udp(entropy(p), 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 100}, gopacket.Payload(p.frame())))
	}},
	{name: "vxlan-mirror-cut", link: layers.LinkTypeEthernet, mirrorCut: 128, tunnel: []string{"vxlan"}, frames: func(p ipPacket) [][]byte {
		// AWS Traffic Mirroring with a packet length of 128: each
		// mirrored frame cut to 128 bytes, then put in VXLAN whole.
		return one(underlay4(p, layers.IPProtocolUDP, udp(entropy(p), 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 77}, gopacket.Payload(cut(p.frame(), 128))))
	}},
	{name: "erspan2-mirror-cut", link: layers.LinkTypeEthernet, mirrorCut: 96, tunnel: []string{"erspan"}, frames: func(p ipPacket) [][]byte {
		// A switch's ERSPAN session with truncation (monitor session
		// ... mtu 96 on Nexus): the T bit set, the frame cut.
		return one(underlay4(p, layers.IPProtocolGRE, &layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true, Seq: uint32(p.ts.UnixNano())},
			&layers.ERSPANII{Version: 1, VLANIdentifier: 10, SessionID: 5, IsTruncated: len(p.frame()) > 96}, gopacket.Payload(cut(p.frame(), 96))))
	}},
	{name: "tzsp", link: layers.LinkTypeEthernet, tunnel: []string{"tzsp"}, frames: func(p ipPacket) [][]byte {
		// A MikroTik router's sniffer streaming what it sees, both
		// directions, to a collector: TZSP (UDP 37008), Ethernet.
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: outer4[0], DstIP: outer4[1]}
		u := udp(41012, 37008)
		u.SetNetworkLayerForChecksum(ip)
		return one(serial(&layers.Ethernet{SrcMAC: macs[0], DstMAC: macs[1], EthernetType: layers.EthernetTypeIPv4}, ip, u,
			gopacket.Payload(append([]byte{1, 0, 0, 1, 1}, p.frame()...))))
	}},
	{name: "gre-snaplen", link: layers.LinkTypeEthernet, snap: 96, overhead: 24, tunnel: []string{"gre"}, frames: func(p ipPacket) [][]byte {
		// tcpdump -s 96 where GRE (no key) carries IP: 72 bytes of the
		// inner frame's worth.
		return one(underlay4(p, layers.IPProtocolGRE, gre(p.etherType()), gopacket.Payload(p.ip)))
	}},
	{name: "any-snaplen", link: layers.LinkType(276), snap: 134, overhead: 6, copies: true, frames: func(p ipPacket) [][]byte {
		return [][]byte{sll2(p, 7), sll2(p, 3)}
	}},
	{name: "vxlan-rotated", link: layers.LinkTypeEthernet, rotate: 7, tunnel: []string{"vxlan"}, frames: func(p ipPacket) [][]byte {
		// tcpdump -C: cap.pcap, cap.pcap1, ...; analysed by naming the first.
		return one(underlay4(p, layers.IPProtocolUDP, udp(entropy(p), 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 100}, gopacket.Payload(p.frame())))
	}},
	{name: "tap-two-interfaces", link: layers.LinkTypeEthernet, ng: true, batch: 50 * time.Millisecond, frames: func(p ipPacket) [][]byte {
		// A passive tap's two ports, one direction each, recorded by
		// dumpcap -i a -i b: a pcapng of two interfaces, each one's
		// packets in batches of 50 ms.
		return one(p.frame())
	}},
	{name: "mirror-delay", link: layers.LinkTypeEthernet, delay: 5 * time.Millisecond, frames: func(p ipPacket) [][]byte {
		return one(p.frame())
	}},
	{name: "mirror-delay-server", link: layers.LinkTypeEthernet, delay: 5 * time.Millisecond, lateServer: true, frames: func(p ipPacket) [][]byte {
		return one(p.frame())
	}},
	{name: "vxlan-fragments", link: layers.LinkTypeEthernet, fragments: true, tunnel: []string{"vxlan"}, frames: func(p ipPacket) [][]byte {
		return fragment4(underlay4(p, layers.IPProtocolUDP, udp(entropy(p), 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 300}, gopacket.Payload(p.frame())), 1480)
	}},
	{name: "nested", link: layers.LinkTypeEthernet, vlan: []int{20}, tunnel: []string{"gre", "vxlan"}, frames: func(p ipPacket) [][]byte {
		// VXLAN inside GRE (Ethernet bridging, key 9) inside VLAN 20.
		a, b := ends(p)
		vx := underlay4(p, layers.IPProtocolUDP, udp(entropy(p), 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 400}, gopacket.Payload(p.frame()))
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolGRE, SrcIP: []byte{172, 16, 0, byte(1 + a)}, DstIP: []byte{172, 16, 0, byte(1 + b)}}
		return one(serial(&layers.Ethernet{SrcMAC: macs[a], DstMAC: macs[b], EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 20, Type: layers.EthernetTypeIPv4}, ip,
			&layers.GRE{Protocol: layers.EthernetTypeTransparentEthernetBridging, KeyPresent: true, Key: 9}, gopacket.Payload(vx)))
	}},
}

// erspan3Header is a 12-byte ERSPAN type III header (no platform
// subheader), direction bit by the packet's direction.
func erspan3Header(session uint16, p ipPacket) []byte {
	h := make([]byte, 12)
	binary.BigEndian.PutUint16(h[0:], 2<<12|10) // version 2 (type III), VLAN 10
	binary.BigEndian.PutUint16(h[2:], session&0x3ff)
	binary.BigEndian.PutUint32(h[4:], uint32(p.ts.UnixMicro()))
	flags := uint16(0)
	if !p.fromLow {
		flags |= 1 << 3 // D: egress
	}
	binary.BigEndian.PutUint16(h[10:], flags)
	return h
}

// nflog is an NFLOG (link type 239) record of the packet: header, the
// packet-header TLV, the payload TLV (TLV lengths in host order, little
// endian here).
func nflog(p ipPacket) []byte {
	family := byte(2)
	proto := uint16(layers.EthernetTypeIPv4)
	if p.v6 {
		family, proto = 10, uint16(layers.EthernetTypeIPv6)
	}
	b := []byte{family, 0, 0, 5}
	tlv := func(typ uint16, v []byte) {
		h := make([]byte, 4)
		binary.LittleEndian.PutUint16(h, uint16(4+len(v)))
		binary.LittleEndian.PutUint16(h[2:], typ)
		b = append(b, h...)
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	tlv(1, []byte{byte(proto >> 8), byte(proto), 1, 0}) // NFULA_PACKET_HDR: hw protocol, hook
	tlv(10, []byte("hl\x00"))                           // NFULA_PREFIX
	tlv(9, p.ip)                                        // NFULA_PAYLOAD
	return b
}

// sll2 is the packet in a LINUX_SLL2 header for interface ifindex.
func sll2(p ipPacket, ifindex uint32) []byte {
	h := make([]byte, 20, 20+len(p.ip))
	binary.BigEndian.PutUint16(h[0:], uint16(p.etherType()))
	binary.BigEndian.PutUint32(h[4:], ifindex)
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	if !p.fromLow {
		h[10] = 4 // PACKET_OUTGOING
	}
	h[11] = 6
	copy(h[12:], p.src)
	return append(h, p.ip...)
}

// fragment4 cuts the IPv4 packet of an Ethernet frame into fragments of
// at most mtu bytes, as a sender without DF does.
func fragment4(frame []byte, mtu int) [][]byte {
	eth, ip := frame[:14], frame[14:]
	hl := int(ip[0]&15) * 4
	if len(ip) <= mtu {
		return [][]byte{frame}
	}
	payload := ip[hl:]
	step := (mtu - hl) &^ 7
	var out [][]byte
	for off := 0; off < len(payload); off += step {
		end := min(off+step, len(payload))
		f := slices.Concat(eth, ip[:hl], payload[off:end])
		h := f[14 : 14+hl]
		binary.BigEndian.PutUint16(h[2:], uint16(hl+end-off))
		fo := uint16(off / 8)
		if end < len(payload) {
			fo |= 1 << 13 // MF
		}
		binary.BigEndian.PutUint16(h[6:], fo)
		h[10], h[11] = 0, 0
		binary.BigEndian.PutUint16(h[10:], ^sum16(h))
		out = append(out, f)
	}
	return out
}

// forwarded is the IP packet one routing hop later: TTL (hop limit) one
// less, the IPv4 header checksum updated.
func forwarded(p ipPacket) []byte {
	ip := slices.Clone(p.ip)
	if p.v6 {
		ip[7]--
		return ip
	}
	ip[8]--
	hl := int(ip[0]&15) * 4
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^sum16(ip[:hl]))
	return ip
}

// sum16 is the ones' complement sum of b (even length).
func sum16(b []byte) uint16 {
	sum := uint32(0)
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// sll is the packet in a LINUX_SLL header (packet type 0, to us, or 4,
// outgoing).
func sll(p ipPacket, typ uint16) []byte {
	h := make([]byte, 16, 16+len(p.ip))
	binary.BigEndian.PutUint16(h[0:], typ)
	binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:], 6)
	copy(h[6:], p.src)
	binary.BigEndian.PutUint16(h[14:], uint16(p.etherType()))
	return append(h, p.ip...)
}

// fragment6 cuts the IPv6 packet of an Ethernet frame into fragments of
// at most mtu bytes with a Fragment header (id), as a sender does.
func fragment6(frame []byte, mtu int, id uint32) [][]byte {
	eth, ip := frame[:14], frame[14:]
	if len(ip) <= mtu {
		return [][]byte{frame}
	}
	next, payload := ip[6], ip[40:]
	step := (mtu - 48) &^ 7
	var out [][]byte
	for off := 0; off < len(payload); off += step {
		end := min(off+step, len(payload))
		fh := make([]byte, 8)
		fh[0] = next
		fo := uint16(off/8) << 3
		if end < len(payload) {
			fo |= 1 // M
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], id)
		f := slices.Concat(eth, ip[:40], fh, payload[off:end])
		h := f[14:]
		h[6] = 44 // Fragment
		binary.BigEndian.PutUint16(h[4:], uint16(8+end-off))
		out = append(out, f)
	}
	return out
}

// serial serialises layers with lengths and checksums fixed.
func serial(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	return slices.Clone(buf.Bytes())
}

// analyseLines runs `analyse --format ndjson` and returns its connection
// records, its summary and its capture section, decoded.
type analysed struct {
	conns            []map[string]any
	summary, capture map[string]any
}

func analyseLines(t *testing.T, file string) (a analysed) {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run([]string{"analyse", "--format", "ndjson", file}, nil, &out, &errOut); code != 0 {
		t.Fatalf("analyse %s: exit %d: %s", file, code, errOut.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("analyse %s: %v in %q", file, err, line)
		}
		if s, ok := m["summary"]; ok {
			a.summary, _ = s.(map[string]any)
			a.capture, _ = m["capture"].(map[string]any)
			continue
		}
		a.conns = append(a.conns, m)
	}
	return a
}

func tunnelTypes(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, e := range l {
		m, _ := e.(map[string]any)
		s, _ := m["type"].(string)
		out = append(out, s)
	}
	return out
}

func vlanIDs(v any) []int {
	var out []int
	l, _ := v.([]any)
	for _, e := range l {
		f, _ := e.(float64)
		out = append(out, int(f))
	}
	return out
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
