package capture

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestCorpus reads every corpus capture and checks the counts, link type,
// format and times against its truth file.
func TestCorpus(t *testing.T) {
	for _, path := range corpusFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			tr := readTruth(t, path)
			src, err := Open(path)
			if err != nil {
				t.Fatalf("Open(%q): %v", path, err)
			}
			r := drain(t, src)
			if r.err != nil {
				t.Fatalf("%s: read: %v", path, r.err)
			}
			st := r.stats
			first, _ := time.Parse(time.RFC3339Nano, tr.Capture.FirstPacketAt)
			last, _ := time.Parse(time.RFC3339Nano, tr.Capture.LastPacketAt)
			checks := []struct {
				what      string
				got, want any
			}{
				{"Source", st.Source, path},
				{"Format", st.Format, tr.Capture.Format},
				{"LinkTypes", st.LinkTypes, []string{tr.Capture.LinkType}},
				{"Packets", st.Packets, tr.Capture.Packets},
				{"TCPPackets", st.TCPPackets, tr.Capture.TCPPackets},
				{"segments", uint64(len(r.segs)), tr.Capture.TCPPackets},
				{"Bytes", st.Bytes, tr.Capture.Bytes},
				{"FirstPacketAt", st.FirstPacketAt.Format(time.RFC3339Nano), first.Format(time.RFC3339Nano)},
				{"LastPacketAt", st.LastPacketAt.Format(time.RFC3339Nano), last.Format(time.RFC3339Nano)},
				{"Skipped", st.Skipped, Skipped{NonTCP: tr.Capture.Packets - tr.Capture.TCPPackets}},
				{"TruncatedPayloads", st.TruncatedPayloads, uint64(0)},
				{"Warnings", len(st.Warnings), 0},
			}
			for _, c := range checks {
				if !equalAny(c.got, c.want) {
					t.Errorf("%s: %s = %v, want %v", path, c.what, c.got, c.want)
				}
			}
			if !st.FirstPacketAt.Equal(first) || !st.LastPacketAt.Equal(last) {
				t.Errorf("%s: times %v..%v, want %v..%v", path, st.FirstPacketAt, st.LastPacketAt, first, last)
			}
			for i, s := range r.segs {
				if i > 0 && s.N <= r.segs[i-1].N {
					t.Fatalf("%s: segment %d has N=%d after N=%d", path, i, s.N, r.segs[i-1].N)
				}
			}
		})
	}
}

func equalAny(a, b any) bool {
	if as, ok := a.([]string); ok {
		bs, ok := b.([]string)
		return ok && slices.Equal(as, bs)
	}
	return a == b
}

// TestCorpusAgreesWithGopacket decodes every corpus packet with gopacket's
// own decoders and compares the TCP fields with ours.
func TestCorpusAgreesWithGopacket(t *testing.T) {
	for _, path := range corpusFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r := mustRead(t, path, data)
		recs := records(t, data)
		want := gopacketSegs(recs)
		if err := diffSegs(r.segs, want); err != nil {
			t.Errorf("%s: ours vs gopacket: %v", path, err)
		}
	}
}

// gopacketSegs decodes records with gopacket.NewPacket.
func gopacketSegs(recs []record) []seg {
	var out []seg
	for i, rec := range recs {
		p := gopacket.NewPacket(rec.data, rec.link, gopacket.Default)
		tl, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			continue
		}
		s := seg{N: uint64(i + 1), Time: rec.ci.Timestamp, Seq: tl.Seq, Ack: tl.Ack, Window: tl.Window, Payload: string(tl.Payload)}
		var src, dst []byte
		switch nl := p.NetworkLayer().(type) {
		case *layers.IPv4:
			src, dst = nl.SrcIP.To4(), nl.DstIP.To4()
			s.PayloadLen = int(nl.Length) - int(nl.IHL)*4 - int(tl.DataOffset)*4
		case *layers.IPv6:
			src, dst = nl.SrcIP.To16(), nl.DstIP.To16()
			s.PayloadLen = len(tl.Payload)
		}
		sa, _ := netipFrom(src)
		da, _ := netipFrom(dst)
		s.Src = addrPort(sa, uint16(tl.SrcPort))
		s.Dst = addrPort(da, uint16(tl.DstPort))
		for bit, set := range []bool{tl.FIN, tl.SYN, tl.RST, tl.PSH, tl.ACK, tl.URG, tl.ECE, tl.CWR} {
			if set {
				s.Flags |= 1 << bit
			}
		}
		out = append(out, s)
	}
	return out
}

// TestRewrittenFormats rewrites every corpus capture as nanosecond pcap,
// big-endian pcap, pcapng, gzip'd pcap and pcapng, zstd'd and LZ4'd: all must give the
// same segments as the original.
func TestRewrittenFormats(t *testing.T) {
	for _, path := range corpusFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := mustRead(t, path, data)
		recs := records(t, data)
		// µs pcap cannot hold the nanoseconds of a pcapng original.
		subMicro := false
		for _, r := range recs {
			subMicro = subMicro || r.ci.Timestamp.Nanosecond()%1000 != 0
		}
		variants := []struct {
			name   string
			format string
			data   []byte
		}{
			{"ns.pcap", "pcap", writePcap(t, recs, pcapOpts{nanos: true})},
			{"be-ns.pcap", "pcap", writePcap(t, recs, pcapOpts{nanos: true, bigEndian: true})},
			{"ng.pcapng", "pcapng", writePcapng(t, recs)},
			{"ng.pcapng.gz", "pcapng", gzipBytes(t, writePcapng(t, recs))},
			{"orig.gz", want.stats.Format, gzipBytes(t, data)},
			{"ns.pcap.gz", "pcap", gzipBytes(t, writePcap(t, recs, pcapOpts{nanos: true}))},
			{"orig.zst", want.stats.Format, zstdBytes(t, data)},
			{"ng.pcapng.lz4", "pcapng", lz4Bytes(t, writePcapng(t, recs))},
		}
		if !subMicro {
			variants = append(variants,
				struct {
					name, format string
					data         []byte
				}{"be-us.pcap", "pcap", writePcap(t, recs, pcapOpts{bigEndian: true})},
				struct {
					name, format string
					data         []byte
				}{"us.pcap.gz", "pcap", gzipBytes(t, writePcap(t, recs, pcapOpts{}))},
			)
		}
		for _, v := range variants {
			name := filepath.Base(path) + "→" + v.name
			got := mustRead(t, name, v.data)
			if err := diffSegs(got.segs, want.segs); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			st, ws := got.stats, want.stats
			if st.Format != v.format || st.Packets != ws.Packets || st.TCPPackets != ws.TCPPackets ||
				!slices.Equal(st.LinkTypes, ws.LinkTypes) || !st.FirstPacketAt.Equal(ws.FirstPacketAt) ||
				!st.LastPacketAt.Equal(ws.LastPacketAt) || len(st.Warnings) != 0 {
				t.Errorf("%s: stats %+v, want format %s and as %+v", name, st, v.format, ws)
			}
		}
	}
}

// TestOpenFile covers Open with real files: a plain one, a gzip'd one whose
// name says nothing, a missing one and a directory.
func TestOpenFile(t *testing.T) {
	data := corpusFile(t, "client-closes.pcap")
	dir := t.TempDir()
	gz := filepath.Join(dir, "capture.bin")
	if err := os.WriteFile(gz, gzipBytes(t, data), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := Open(gz)
	if err != nil {
		t.Fatalf("Open(%s): %v", gz, err)
	}
	r := drain(t, src)
	if r.stats.Format != "pcap" || r.stats.Packets != 13 || r.stats.Bytes != uint64(len(data)) {
		t.Errorf("Open(%s): stats %+v, want pcap, 13 packets, %d bytes", gz, r.stats, len(data))
	}

	missing := filepath.Join(dir, "missing.pcap")
	_, err = Open(missing)
	if !errors.Is(err, ErrOpen) || !errors.Is(err, os.ErrNotExist) || err.Error() != missing+": no such file or directory" {
		t.Errorf("Open(%s) = %v, want ErrOpen + ErrNotExist naming the file", missing, err)
	}
	_, err = Open(dir)
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Name != dir {
		t.Errorf("Open(%s) (a directory) = %v, want an *OpenError naming it", dir, err)
	}
}
