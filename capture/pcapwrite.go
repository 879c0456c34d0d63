package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// PcapWriter writes packets as a little-endian pcap file with nanosecond
// timestamps (magic a1b23c4d), as `tcpdump --time-stamp-precision nano -w`
// does; every reader of pcap, this one included, reads it.
//
// Call order: NewPcapWriter writes the file header; then WritePacket for
// each packet. Buffering and closing are the caller's.
type PcapWriter struct {
	w   io.Writer
	hdr [16]byte
}

// NewPcapWriter writes the file header, for packets of link type link cut
// at snaplen bytes.
func NewPcapWriter(w io.Writer, snaplen, link uint32) (*PcapWriter, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b23c4d)
	binary.LittleEndian.PutUint16(h[4:], 2) // version 2.4
	binary.LittleEndian.PutUint16(h[6:], 4)
	// 8:16 time zone and accuracy: 0
	binary.LittleEndian.PutUint32(h[16:], snaplen)
	binary.LittleEndian.PutUint32(h[20:], link)
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &PcapWriter{w: w}, nil
}

// WritePacket writes one packet captured at ts: its captured bytes and its
// length on the wire (at least len(data)).
func (p *PcapWriter) WritePacket(ts time.Time, data []byte, wireLen int) error {
	if wireLen < len(data) {
		return fmt.Errorf("pcap: packet of %d captured bytes longer than its %d bytes on the wire", len(data), wireLen)
	}
	binary.LittleEndian.PutUint32(p.hdr[0:], uint32(ts.Unix()))
	binary.LittleEndian.PutUint32(p.hdr[4:], uint32(ts.Nanosecond()))
	binary.LittleEndian.PutUint32(p.hdr[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(p.hdr[12:], uint32(wireLen))
	if _, err := p.w.Write(p.hdr[:]); err != nil {
		return err
	}
	_, err := p.w.Write(data)
	return err
}
