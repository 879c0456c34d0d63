package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// seedPackets are one TCP packet per supported link type.
func seedPackets(t testing.TB) []record {
	v4, v6 := ipv4TCP(t), ipv6TCP(t, layers.IPProtocolIPv6HopByHop, extHdr(layers.IPProtocolTCP))
	mk := func(lt layers.LinkType, d []byte) record {
		return record{data: d, ci: gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(d), Length: len(d)}, link: lt}
	}
	return []record{
		mk(layers.LinkTypeEthernet, ether(t, layers.EthernetTypeDot1Q, v4, &layers.Dot1Q{Type: layers.EthernetTypeIPv4})),
		mk(layers.LinkTypeEthernet, ether(t, layers.EthernetTypeIPv6, v6)),
		mk(layers.LinkTypeLinuxSLL, sll(0x0800, v4)),
		mk(layers.LinkTypeLinuxSLL2, sll2(0x86dd, v6)),
		mk(layers.LinkTypeNull, nullHdr(binaryLE, 2, v4)),
		mk(layers.LinkTypeLoop, nullHdr(binaryBE, 30, v6)),
		mk(layers.LinkTypeRaw, v4),
		mk(layers.LinkTypeIPv6, v6),
		mk(layers.LinkType(258), pktapHdr(1, ether(t, layers.EthernetTypeIPv4, v4))),
	}
}

// seedFiles are small captures: synthetic ones in every container, and the
// first packets of corpus captures when the corpus is there.
func seedFiles(t testing.TB) [][]byte {
	pkts := seedPackets(t)
	files := [][]byte{
		writePcap(t, pkts[:1], pcapOpts{}),
		writePcap(t, pkts[2:4], pcapOpts{nanos: true, bigEndian: true}),
		writePcapng(t, pkts),
		gzipBytes(t, writePcap(t, pkts[6:7], pcapOpts{snaplen: 60, caplen: 60})),
		zstdBytes(t, writePcap(t, pkts[3:5], pcapOpts{})),
		lz4Bytes(t, writePcapng(t, pkts[1:3])),
	}
	for _, name := range []string{"client-closes.pcap", "pcapng.pcapng", "linux-any.pcap"} {
		data, err := os.ReadFile(filepath.Join(corpusDir, name))
		if err != nil {
			continue
		}
		recs := records(t, data)
		recs = recs[:min(len(recs), 5)]
		if name == "pcapng.pcapng" {
			files = append(files, writePcapng(t, recs))
		} else {
			files = append(files, writePcap(t, recs, pcapOpts{}))
		}
	}
	return files
}

// FuzzReader reads whole files: never a panic, an error other than ErrOpen
// or io.EOF, or inconsistent segments and counts.
func FuzzReader(f *testing.F) {
	for _, s := range seedFiles(f) {
		f.Add(s)
	}
	for _, s := range ngSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src, err := OpenReader("fuzz", bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("open error %v is not ErrOpen", err)
			}
			return
		}
		var last uint64
		for {
			s, err := src.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v (only io.EOF is possible on a bytes.Reader)", err)
			}
			if s.N <= last || len(s.Payload) > s.PayloadLen || s.PayloadLen < 0 {
				t.Fatalf("bad segment N=%d after %d, payload %d of %d", s.N, last, len(s.Payload), s.PayloadLen)
			}
			last = s.N
		}
		st := src.Stats()
		sk := st.Skipped
		if st.Packets != st.TCPPackets+sk.NonTCP+sk.Undecodable+sk.Truncated+sk.Fragments || st.Filtered != 0 {
			t.Fatalf("counts do not add up: %+v", st)
		}
		if last > st.Packets {
			t.Fatalf("segment %d of %d packets", last, st.Packets)
		}
		if len(st.Warnings) > maxWarnings+maxComments+maxNotes+10 {
			t.Fatalf("%d warnings", len(st.Warnings))
		}
		for _, w := range st.Warnings {
			if len(w) > 2*maxCommentLen+200 || strings.ContainsAny(w, "\n\r") {
				t.Fatalf("warning of %d bytes or lines: %q", len(w), w)
			}
		}
		if sec := src.(Secrets).Secrets(); len(sec) > 0 {
			n := 0
			for _, s := range sec {
				n += len(s)
			}
			if n > maxSecrets || n > len(data) && compressionOf(data) == nil {
				t.Fatalf("%d bytes of secrets from %d bytes", n, len(data))
			}
		}
		if st.Bytes > uint64(len(data)) && compressionOf(data) == nil { // Bytes counts what was decompressed
			t.Fatalf("Bytes %d > file size %d", st.Bytes, len(data))
		}
		src.Close()
	})
}

// FuzzDecode decodes one packet's bytes as each link type.
func FuzzDecode(f *testing.F) {
	for _, r := range seedPackets(f) {
		f.Add(uint16(r.link), r.data, false)
	}
	f.Add(uint16(0), []byte{2, 0, 0, 0, 0x45}, true)
	for _, s := range decapSeeds(f) {
		for _, p := range s {
			f.Add(uint16(p.link), p.data, false)
		}
	}
	// Real packets: the first ones of each sample (handshakes, requests,
	// responses, FINs) over Ethernet, IPv4 and IPv6.
	samples, _ := filepath.Glob("../samples/*.pcap")
	for _, p := range samples {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		recs := records(f, data)
		for _, r := range recs[:min(len(recs), 12)] {
			f.Add(uint16(r.link), r.data, false)
		}
	}
	f.Fuzz(func(t *testing.T, link uint16, data []byte, cut bool) {
		wire := len(data)
		if cut {
			wire += 1000
		}
		var s Segment
		var d decoder
		res, p := d.decode(uint32(link), data, wire, &s)
		_ = p.String()
		switch res {
		case resTCP:
			if len(s.Payload) > s.PayloadLen || s.PayloadLen < 0 || !s.Src.IsValid() || !s.Dst.IsValid() {
				t.Fatalf("bad segment: payload %d of %d, %v > %v", len(s.Payload), s.PayloadLen, s.Src, s.Dst)
			}
			if len(s.Payload) > 0 && !aliases(data, s.Payload) {
				t.Fatalf("payload does not point into the packet")
			}
		case resNonTCP, resCut, resBad, resLinkType, resSlow:
		default:
			t.Fatalf("unknown result %d", res)
		}
	})
}

// aliases reports whether sub lies inside b.
func aliases(b, sub []byte) bool {
	if len(sub) == 0 || len(b) == 0 {
		return false
	}
	start := &b[0]
	for i := range b {
		if &b[i] == &sub[0] {
			return i+len(sub) <= len(b) && &b[i+len(sub)-1] == &sub[len(sub)-1]
		}
	}
	_ = start
	return false
}

// BenchmarkRead reads the biggest corpus capture from memory.
func BenchmarkRead(b *testing.B) {
	var biggest string
	var size int64
	for _, p := range corpusFiles(b) {
		if fi, err := os.Stat(p); err == nil && fi.Size() > size {
			biggest, size = p, fi.Size()
		}
	}
	data, err := os.ReadFile(biggest)
	if err != nil {
		b.Fatal(err)
	}
	benchRead(b, data)
}

// BenchmarkReadLarge reads a ~64 MB pcap made of corpus packets repeated.
func BenchmarkReadLarge(b *testing.B) {
	data := corpusFile(b, "keepalive-race.pcap")
	recs := records(b, data)
	var all []record
	ts := t0
	for len(all)*400 < 64<<20 {
		for _, r := range recs {
			ts = ts.Add(time.Microsecond)
			r.ci.Timestamp = ts
			all = append(all, r)
		}
	}
	benchRead(b, writePcap(b, all, pcapOpts{nanos: true}))
}

func benchRead(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var pkts uint64
	for b.Loop() {
		src, err := OpenReader("bench", bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := src.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
		pkts += src.Stats().Packets
	}
	b.ReportMetric(float64(pkts)/b.Elapsed().Seconds(), "pkts/s")
}

// decapSeeds are packets in each encapsulation the decoder takes off, and
// fragment sequences (each a list of packets of one link type).
func decapSeeds(t testing.TB) [][]pkt {
	v4, v6 := ipv4TCP(t), ipv6TCP(t, 0, nil)
	eth4 := ether(t, layers.EthernetTypeIPv4, v4)
	en := layers.LinkTypeEthernet
	one := func(link layers.LinkType, data []byte) []pkt { return []pkt{{link, data}} }
	seeds := [][]pkt{
		one(en, ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 1, 4789, vxlan(t, 5, eth4)))),
		one(en, ether(t, layers.EthernetTypeIPv6, udp6(t, o6a, o6b, 1, 8472, vxlan(t, 6, ether(t, layers.EthernetTypeIPv6, v6))))),
		one(en, ether(t, layers.EthernetTypeDot1Q, ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{KeyPresent: true, Key: 7, SeqPresent: true,
			Protocol: layers.EthernetTypeTransparentEthernetBridging}, eth4)), &layers.Dot1Q{VLANIdentifier: 4, Type: layers.EthernetTypeIPv4})),
		one(en, ether(t, layers.EthernetTypeMPLSUnicast, mplsStack(t, v4, 1, 2, 3))),
		one(en, ether(t, layers.EthernetTypePPPoESession, serialize(t, &layers.PPPoE{Version: 1, Type: 1, SessionId: 9},
			&layers.PPP{PPPType: layers.PPPTypeIPv6}, gopacket.Payload(v6)))),
		one(en, ether(t, layers.EthernetTypeIPv4, ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{SeqPresent: true, Protocol: layers.EthernetTypeERSPAN},
			serialize(t, &layers.ERSPANII{Version: 1, SessionID: 3}, gopacket.Payload(eth4)))))),
		one(en, ether(t, layers.EthernetTypeIPv4, ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{Protocol: 0x22eb}, erspan3(8, 0, true, eth4))))),
		one(layers.LinkTypeRaw, ip4(t, o1, o2, layers.IPProtocolIPv6, v6)),
		one(layers.LinkTypeRaw, ip6(t, o6a, o6b, layers.IPProtocolIPv4, v4)),
		one(en, ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 3544, 2, append(append(teredoAuth(), teredoOrigin(1, o3)...), v6...)))),
		one(en, ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 2, 6081, serialize(t, &layers.Geneve{VNI: 1, Protocol: layers.EthernetTypeTransparentEthernetBridging,
			Options: []*layers.GeneveOption{{Class: 1, Type: 2, Length: 8, Data: []byte{1, 2, 3, 4}}}}, gopacket.Payload(eth4))))),
		one(en, ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 2, 4754, gre(t, layers.GRE{Protocol: layers.EthernetTypeIPv4}, v4)))),
		one(en, ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 2152, 2152, gtpU(0x30, 5, nil, v4)))),
		one(en, ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 5906, 2152, gtpU(0x34, 5, []byte{0, 0, 0, 0x85, 1, 0x10, 9, 0}, v6)))),
		one(en, ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 5072, 1, ayiya(4, 5, 41, v6)))),
		one(en, ether(t, layers.EthernetTypeIPv4, udp4(t, o1, o2, 41012, 37008, tzsp(0, 1, []byte{0, 10, 1, 0x42}, eth4)))),
		one(239, nflogRec(binary.LittleEndian, 2, v4, false)),
		one(239, nflogRec(binary.BigEndian, 10, v6, true)),
		one(en, ether(t, 0x8926, append([]byte{0x80, 1, 0, 2, 8, 0}, v4...))),
		// Link types only the slow path decodes.
		one(layers.LinkTypePPP, pppHdr(true, 0x0057, v6)),
		one(layers.LinkType(204), append([]byte{1}, pppHdr(false, 0x0021, v4)...)),
		one(layers.LinkType(104), chdlc(0x0800, ip4(t, o1, o2, layers.IPProtocolGRE, gre(t, layers.GRE{Protocol: layers.EthernetTypeIPv4}, v4)))),
		one(layers.LinkTypePFLog, pflogHdr(24, v6)),
		one(layers.LinkTypeIEEE80211Radio, radiotapHdr(dot11Data(0x0800, v4))),
		one(layers.LinkTypePrismHeader, prismHdr(withFCS(dot11Data(0x86dd, v6)))),
		one(layers.LinkTypeFDDI, fddiLLC(0x0800, v4)),
		one(layers.LinkType(129), append([]byte{1, 2, 0, 0, 212, 0, 0, 7}, v4...)),
		one(layers.LinkType(178), append([]byte{'M', 'G', 'C', 0x80, 0, 3, 1, 1, 6}, eth4...)),
		one(layers.LinkType(242), append(append(make([]byte, 40), 0x08, 0x00, 0, 0), v4...)),
		one(layers.LinkType(7), append([]byte{1, 2, 0xc4, 0xff, 0, 0, 0, 0, 0, 7}, v6...)),
	}
	big := bigTCP(t, 1200, 0x77, v4src, v4dst)
	var fr []pkt
	for _, f := range frag4(big, [2]int{400, 800}, [2]int{0, 400}, [2]int{800, 1220}, [2]int{392, 808}) {
		fr = append(fr, pkt{layers.LinkTypeRaw, f})
	}
	seeds = append(seeds, fr)
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: v6src.AsSlice(), DstIP: v6dst.AsSlice()}
	tl := tcpSeg()
	tl.SetNetworkLayerForChecksum(ip)
	var fr6 []pkt
	for _, f := range fragIPv6(serialize(t, ip, tl, gopacket.Payload(big[40:])), 5, [2]int{600, 1220}, [2]int{0, 600}) {
		fr6 = append(fr6, pkt{layers.LinkTypeIPv6, f})
	}
	seeds = append(seeds, fr6)
	vx := udp4(t, o1, o2, 9, 4789, vxlan(t, 2, ether(t, layers.EthernetTypeIPv4, big)))
	var frvx []pkt
	for _, f := range frag4(vx, [2]int{0, 800}, [2]int{800, len(vx) - 20}) {
		frvx = append(frvx, pkt{layers.LinkTypeRaw, f})
	}
	return append(seeds, frvx)
}

// packetList encodes packets for FuzzDecap: each a 2-byte length and its
// bytes.
func packetList(ps []pkt) []byte {
	var b []byte
	for _, p := range ps {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.data)))
		b = append(b, p.data...)
	}
	return b
}

// FuzzDecap decodes a sequence of packets (see packetList) of one link
// type with one decoder, fast and slow path and reassembly: never a panic,
// consistent segments, and reassembly within its limits.
func FuzzDecap(f *testing.F) {
	for _, s := range decapSeeds(f) {
		f.Add(uint16(s[0].link), packetList(s), false)
	}
	f.Fuzz(func(t *testing.T, link uint16, data []byte, cut bool) {
		var d decoder
		ts := t0
		for len(data) >= 2 {
			n := min(int(be16(data)), len(data)-2)
			p := data[2 : 2+n]
			data = data[2+n:]
			wire := len(p)
			if cut {
				wire += 100
			}
			var s Segment
			res, pr := d.packet(uint32(link), p, wire, ts, &s)
			_ = pr.String()
			if len(p) > 0 {
				ts = ts.Add(time.Duration(p[len(p)-1]) * 200 * time.Millisecond)
			}
			switch res {
			case resTCP:
				if len(s.Payload) > s.PayloadLen || s.PayloadLen < 0 || !s.Src.IsValid() || !s.Dst.IsValid() {
					t.Fatalf("bad segment: payload %d of %d, %v > %v", len(s.Payload), s.PayloadLen, s.Src, s.Dst)
				}
				if !d.detached && len(s.Payload) > 0 && !aliases(p, s.Payload) {
					t.Fatalf("payload neither in the packet nor detached")
				}
				if c := s.Carrier; c != nil && (len(c.VLANs) > maxVLAN || len(c.Tunnel) > maxEncap || len(c.VLANs)+len(c.Tunnel) == 0) {
					t.Fatalf("carrier %q beyond the bounds or empty", c)
				}
				if s.Carrier == nil && s.CarrierKey != 0 {
					t.Fatalf("key %#x without a carrier", s.CarrierKey)
				}
			case resNonTCP, resCut, resBad, resFragment, resFragDrop, resLinkType:
				if res != resNonTCP && res != resLinkType && res != resFragment && pr.String() == "" {
					t.Fatalf("result %d without a reason", res)
				}
			default:
				t.Fatalf("unknown result %d", res)
			}
			if d.slow == nil {
				continue
			}
			r := d.slow.frags
			held := 0
			for _, e := range r.entries {
				held += e.cost
			}
			if held != r.held || r.held > maxFragBytes || len(r.entries) > maxFragDatagrams {
				t.Fatalf("reassembly holds %d bytes (%d counted), %d datagrams", held, r.held, len(r.entries))
			}
		}
	})
}

// tunnelRecords wraps BenchmarkReadLarge's corpus packets, repeated to
// about 64 MB, with wrap: given an Ethernet frame and whether it goes from
// the client (the higher port) to the server, it returns the new frame.
func tunnelRecords(b *testing.B, wrap func(frame []byte, up bool) []byte) []byte {
	recs := records(b, corpusFile(b, "keepalive-race.pcap"))
	var d decoder
	var s Segment
	var wrapped []record
	for _, r := range recs {
		if res, _ := d.decode(uint32(r.link), r.data, len(r.data), &s); res != resTCP || r.link != layers.LinkTypeEthernet {
			b.Fatalf("keepalive-race.pcap: not an Ethernet TCP packet")
		}
		w := wrap(r.data, s.Src.Port() > s.Dst.Port())
		r.data = w
		r.ci.CaptureLength, r.ci.Length = len(w), len(w)
		wrapped = append(wrapped, r)
	}
	var all []record
	ts := t0
	size := 0
	for size < 64<<20 {
		for _, r := range wrapped {
			ts = ts.Add(time.Microsecond)
			r.ci.Timestamp = ts
			all = append(all, r)
			size += len(r.data) + 16
		}
	}
	return writePcap(b, all, pcapOpts{nanos: true})
}

// BenchmarkReadVXLAN reads a VXLAN-mirrored capture (BenchmarkReadLarge's
// packets in VXLAN, VNI 42, the outer addresses following the inner
// direction): the fast path.
func BenchmarkReadVXLAN(b *testing.B) {
	benchRead(b, tunnelRecords(b, func(frame []byte, up bool) []byte {
		src, dst := o1, o2
		if !up {
			src, dst = dst, src
		}
		return ether(b, layers.EthernetTypeIPv4, udp4(b, src, dst, 40000, 4789, vxlan(b, 42, frame)))
	}))
}

// BenchmarkReadGRE reads the same packets in GRE with a key and
// transparent Ethernet bridging: the slow path, gopacket's decoders.
func BenchmarkReadGRE(b *testing.B) {
	benchRead(b, tunnelRecords(b, func(frame []byte, up bool) []byte {
		src, dst := o1, o2
		if !up {
			src, dst = dst, src
		}
		return ether(b, layers.EthernetTypeIPv4, ip4(b, src, dst, layers.IPProtocolGRE,
			gre(b, layers.GRE{KeyPresent: true, Key: 9, Protocol: layers.EthernetTypeTransparentEthernetBridging}, frame)))
	}))
}

// FuzzInnerPacket feeds innerPacket, which a filter on a link type the
// compiler has no program for runs on every record, arbitrary records of
// each such link type: no panic, and what it returns lies inside the
// record.
func FuzzInnerPacket(f *testing.F) {
	for _, s := range decapSeeds(f) {
		if _, ok := innerLink(uint32(s[0].link)); ok {
			f.Add(uint32(s[0].link), s[0].data)
		}
	}
	f.Fuzz(func(t *testing.T, link uint32, data []byte) {
		for _, l := range []uint32{link, linkNFLOG, linkPPP, linkPPPWithDir, linkCHDLC, linkPFLOG, linkRadiotap, linkARCNET, linkARCNETLinux, linkJuniperEther, linkIPOIB} {
			if _, ok := innerLink(l); !ok {
				continue
			}
			in, ok := innerPacket(l, data)
			if ok && len(in) > 0 && !aliases(data, in) {
				t.Fatalf("link %d: the carried packet is not inside the record", l)
			}
		}
	})
}
