package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// source is what pcapgo.Reader and pcapgo.NgReader have in common.
type source interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
	Resolution() gopacket.TimestampResolution
}

// openCapture opens a pcap (optionally gzip'd) or pcapng file.
func openCapture(path string) (source, *os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	var src source
	if magic, _ := br.Peek(4); bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		src, err = pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
	} else {
		src, err = pcapgo.NewReader(br)
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return src, f, nil
}

// floor is the bare read loop httplife is compared with: zero-copy reads and
// one DecodingLayerParser, counting packets and TCP packets.
func floor(path string) (packets, tcpPackets int, err error) {
	src, f, err := openCapture(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var (
		eth   layers.Ethernet
		sll   layers.LinuxSLL
		ip4   layers.IPv4
		ip6   layers.IPv6
		tcp   layers.TCP
		first gopacket.LayerType
	)
	switch src.LinkType() {
	case layers.LinkTypeEthernet:
		first = layers.LayerTypeEthernet
	case layers.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	default:
		return 0, 0, fmt.Errorf("%s: link type %v not supported by the floor", path, src.LinkType())
	}
	parser := gopacket.NewDecodingLayerParser(first, &eth, &sll, &ip4, &ip6, &tcp)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 4)
	for {
		data, _, err := src.ZeroCopyReadPacketData()
		if err == io.EOF {
			return packets, tcpPackets, nil
		}
		if err != nil {
			return packets, tcpPackets, fmt.Errorf("%s: packet %d: %w", path, packets+1, err)
		}
		packets++
		_ = parser.DecodeLayers(data, &decoded) // truncated packets simply stop early
		if n := len(decoded); n > 0 && decoded[n-1] == layers.LayerTypeTCP {
			tcpPackets++
		}
	}
}

// appendCopies writes copies time-shifted copies of src into dst, one after
// the other: copy k is shifted by k × (the capture's duration + 1 s).
func appendCopies(srcPath, dstPath string, copies int) (packets int, err error) {
	out, err := os.Create(dstPath)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	bw := bufio.NewWriterSize(out, 1<<20)
	var w *pcapgo.Writer
	var shift time.Duration
	for k := 0; k < copies; k++ {
		src, f, err := openCapture(srcPath)
		if err != nil {
			return packets, err
		}
		if w == nil {
			w = pcapgo.NewWriter(bw)
			if src.Resolution() == gopacket.TimestampResolutionNanosecond {
				w = pcapgo.NewWriterNanos(bw)
			}
			snaplen := uint32(262144)
			if s, ok := src.(interface{ Snaplen() uint32 }); ok {
				snaplen = s.Snaplen()
			}
			if err := w.WriteFileHeader(snaplen, src.LinkType()); err != nil {
				f.Close()
				return packets, err
			}
		}
		var minT, maxT time.Time
		for {
			data, ci, err := src.ZeroCopyReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return packets, fmt.Errorf("%s: %w", srcPath, err)
			}
			if minT.IsZero() || ci.Timestamp.Before(minT) {
				minT = ci.Timestamp
			}
			if ci.Timestamp.After(maxT) {
				maxT = ci.Timestamp
			}
			ci.Timestamp = ci.Timestamp.Add(time.Duration(k) * shift)
			if err := w.WritePacket(ci, data); err != nil {
				f.Close()
				return packets, err
			}
			packets++
		}
		f.Close()
		if k == 0 {
			shift = maxT.Sub(minT) + time.Second
		}
	}
	if err := bw.Flush(); err != nil {
		return packets, err
	}
	return packets, out.Close()
}
