package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Layers gopacket v1.7.7 does not have, written as gopacket layers
// (DecodingLayers with registered LayerTypes and decoders, so that
// gopacket.NewPacket decodes them too): NFLOG, Teredo, ERSPAN Type III,
// AYIYA and TZSP.

// Layer types of this package (1000-1999 are gopacket's range for
// application layers).
var (
	LayerTypeAYIYA     = gopacket.RegisterLayerType(1650, gopacket.LayerTypeMetadata{Name: "AYIYA", Decoder: gopacket.DecodeFunc(decodeAYIYA)})
	LayerTypeNFLOG     = gopacket.RegisterLayerType(1647, gopacket.LayerTypeMetadata{Name: "NFLOG", Decoder: gopacket.DecodeFunc(decodeNFLOG)})
	LayerTypeTeredo    = gopacket.RegisterLayerType(1648, gopacket.LayerTypeMetadata{Name: "Teredo", Decoder: gopacket.DecodeFunc(decodeTeredo)})
	LayerTypeERSPANIII = gopacket.RegisterLayerType(1649, gopacket.LayerTypeMetadata{Name: "ERSPANIII", Decoder: gopacket.DecodeFunc(decodeERSPANIII)})
	LayerTypeTZSP      = gopacket.RegisterLayerType(1651, gopacket.LayerTypeMetadata{Name: "TZSP", Decoder: gopacket.DecodeFunc(decodeTZSP)})
)

// nextByVersion is the layer type of an IP packet found by the version
// nibble of its first byte.
func nextByVersion(b []byte) gopacket.LayerType {
	if len(b) > 0 {
		switch b[0] >> 4 {
		case 4:
			return layers.LayerTypeIPv4
		case 6:
			return layers.LayerTypeIPv6
		}
	}
	return gopacket.LayerTypeZero
}

// decodeWith is gopacket's decodingLayerDecoder for this package's layers.
func decodeWith(l gopacket.DecodingLayer, data []byte, p gopacket.PacketBuilder) error {
	if err := l.DecodeFromBytes(data, p); err != nil {
		return err
	}
	p.AddLayer(l.(gopacket.Layer))
	next := l.NextLayerType()
	if next == gopacket.LayerTypeZero {
		return nil
	}
	return p.NextDecoder(next)
}

// nfulaPayload is the NFLOG attribute type of the logged packet
// (NFULA_PAYLOAD in linux/netfilter/nfnetlink_log.h).
const nfulaPayload = 9

// NFLOGTLV is one attribute of an NFLOG record.
type NFLOGTLV struct {
	Type  uint16 // without the netlink flag bits
	Value []byte
}

// NFLOG is the header of a LINKTYPE_NFLOG (239) record: Linux netfilter's
// log of a packet. A 4-byte header (address family, version, resource id
// in network byte order) is followed by type-length-value attributes
// whose length and type are in the capturing host's byte order, each
// padded to 4 bytes; the NFULA_PAYLOAD attribute holds the packet from
// its network header on (https://www.tcpdump.org/linktypes/LINKTYPE_NFLOG.html).
// Payload is that attribute's value, nil when there is none.
type NFLOG struct {
	layers.BaseLayer
	Family     uint8 // AF_INET 2, AF_INET6 10, ...
	Version    uint8
	ResourceID uint16
	BigEndian  bool // the attributes' lengths and types are big-endian
	TLVs       []NFLOGTLV
}

// LayerType implements gopacket.Layer.
func (n *NFLOG) LayerType() gopacket.LayerType { return LayerTypeNFLOG }

// CanDecode implements gopacket.DecodingLayer.
func (n *NFLOG) CanDecode() gopacket.LayerClass { return LayerTypeNFLOG }

// NextLayerType implements gopacket.DecodingLayer: IPv4 or IPv6 by the
// address family (or, for others, the payload's version nibble).
func (n *NFLOG) NextLayerType() gopacket.LayerType {
	if n.Payload == nil {
		return gopacket.LayerTypeZero
	}
	switch n.Family {
	case 2:
		return layers.LayerTypeIPv4
	case 10:
		return layers.LayerTypeIPv6
	}
	return nextByVersion(n.Payload)
}

// DecodeFromBytes implements gopacket.DecodingLayer. The attributes' byte
// order is the one in which the first attribute's length fits the record.
func (n *NFLOG) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 4 {
		df.SetTruncated()
		return fmt.Errorf("NFLOG header needs 4 bytes, have %d", len(data))
	}
	n.Family, n.Version, n.ResourceID = data[0], data[1], binary.BigEndian.Uint16(data[2:])
	n.TLVs = n.TLVs[:0]
	n.BaseLayer = layers.BaseLayer{Contents: data}
	var order binary.ByteOrder = binary.LittleEndian
	n.BigEndian = false
	if len(data) >= 8 {
		fits := func(l uint16) bool { return l >= 4 && int(l) <= len(data)-4 }
		if le := binary.LittleEndian.Uint16(data[4:]); !fits(le) && fits(binary.BigEndian.Uint16(data[4:])) {
			order, n.BigEndian = binary.BigEndian, true
		}
	}
	for off := 4; off+4 <= len(data); {
		l := int(order.Uint16(data[off:]))
		typ := order.Uint16(data[off+2:]) & 0x3fff // without NLA_F_NESTED, NLA_F_NET_BYTEORDER
		if l < 4 {
			return fmt.Errorf("NFLOG attribute %d at offset %d: length %d < 4", typ, off, l)
		}
		if off+l > len(data) {
			df.SetTruncated()
			return fmt.Errorf("NFLOG attribute %d at offset %d: length %d beyond the record (%d bytes)", typ, off, l, len(data))
		}
		v := data[off+4 : off+l]
		n.TLVs = append(n.TLVs, NFLOGTLV{Type: typ, Value: v})
		if typ == nfulaPayload && n.Payload == nil {
			n.Payload = v
		}
		off += (l + 3) &^ 3
	}
	return nil
}

func decodeNFLOG(data []byte, p gopacket.PacketBuilder) error { return decodeWith(&NFLOG{}, data, p) }

// Teredo is the header of an RFC 4380 Teredo packet: an IPv6 packet in a
// UDP datagram (port 3544 at the server or relay), optionally preceded by
// an authentication header and an origin indication. Payload is the IPv6
// packet.
type Teredo struct {
	layers.BaseLayer
	HasAuth      bool
	ClientID     []byte
	AuthValue    []byte
	Nonce        uint64
	Confirmation uint8
	HasOrigin    bool
	OriginPort   uint16     // de-obfuscated
	OriginAddr   netip.Addr // de-obfuscated
}

// ErrTeredoLength is returned for a Teredo header whose lengths do not fit
// the datagram: a header that lies (not merely another protocol on the port).
var ErrTeredoLength = errors.New("Teredo header longer than the datagram")

// errNotTeredo is returned for a datagram that holds no IPv6 packet.
var errNotTeredo = errors.New("not a Teredo packet: no IPv6 header")

// LayerType implements gopacket.Layer.
func (t *Teredo) LayerType() gopacket.LayerType { return LayerTypeTeredo }

// CanDecode implements gopacket.DecodingLayer.
func (t *Teredo) CanDecode() gopacket.LayerClass { return LayerTypeTeredo }

// NextLayerType implements gopacket.DecodingLayer.
func (t *Teredo) NextLayerType() gopacket.LayerType { return layers.LayerTypeIPv6 }

// DecodeFromBytes implements gopacket.DecodingLayer.
func (t *Teredo) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	*t = Teredo{}
	off := 0
	if len(data) >= 2 && data[0] == 0 && data[1] == 1 {
		if len(data) < 4 {
			df.SetTruncated()
			return ErrTeredoLength
		}
		idLen, auLen := int(data[2]), int(data[3])
		n := 4 + idLen + auLen + 9
		if len(data) < n {
			df.SetTruncated()
			return ErrTeredoLength
		}
		t.HasAuth = true
		t.ClientID = data[4 : 4+idLen]
		t.AuthValue = data[4+idLen : 4+idLen+auLen]
		t.Nonce = binary.BigEndian.Uint64(data[4+idLen+auLen:])
		t.Confirmation = data[n-1]
		off = n
	}
	if len(data) >= off+2 && data[off] == 0 && data[off+1] == 0 {
		if len(data) < off+8 {
			df.SetTruncated()
			return ErrTeredoLength
		}
		t.HasOrigin = true
		t.OriginPort = binary.BigEndian.Uint16(data[off+2:]) ^ 0xffff
		a := [4]byte(data[off+4 : off+8])
		for i := range a {
			a[i] ^= 0xff
		}
		t.OriginAddr = netip.AddrFrom4(a)
		off += 8
	}
	rest := data[off:]
	if len(rest) < 40 || rest[0]>>4 != 6 {
		return errNotTeredo
	}
	if 40+int(binary.BigEndian.Uint16(rest[4:])) > len(rest) {
		df.SetTruncated()
		return ErrTeredoLength
	}
	t.BaseLayer = layers.BaseLayer{Contents: data[:off], Payload: rest}
	return nil
}

func decodeTeredo(data []byte, p gopacket.PacketBuilder) error { return decodeWith(&Teredo{}, data, p) }

// ERSPANIII is the header of an ERSPAN Type III packet (GRE protocol
// 0x22eb; draft-foschiano-erspan-03 section 4.3): 12 bytes, then an
// 8-byte platform-specific subheader when the O flag is set. Payload is
// the mirrored frame: Ethernet (frame type 0) or IP (frame type 2).
type ERSPANIII struct {
	layers.BaseLayer
	Version     uint8
	VLAN        uint16
	CoS         uint8
	BSO         uint8
	Truncated   bool
	SessionID   uint16
	Timestamp   uint32
	SGT         uint16
	P           bool
	FrameType   uint8
	HardwareID  uint8
	Direction   bool // D: egress
	Granularity uint8
	Subheader   []byte // the platform-specific subheader, when O is set
}

// LayerType implements gopacket.Layer.
func (e *ERSPANIII) LayerType() gopacket.LayerType { return LayerTypeERSPANIII }

// CanDecode implements gopacket.DecodingLayer.
func (e *ERSPANIII) CanDecode() gopacket.LayerClass { return LayerTypeERSPANIII }

// NextLayerType implements gopacket.DecodingLayer.
func (e *ERSPANIII) NextLayerType() gopacket.LayerType {
	switch e.FrameType {
	case 0:
		return layers.LayerTypeEthernet
	case 2:
		return nextByVersion(e.Payload)
	}
	return gopacket.LayerTypeZero
}

// DecodeFromBytes implements gopacket.DecodingLayer.
func (e *ERSPANIII) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 12 {
		df.SetTruncated()
		return fmt.Errorf("ERSPAN III header needs 12 bytes, have %d", len(data))
	}
	w0, w2 := binary.BigEndian.Uint16(data), binary.BigEndian.Uint16(data[2:])
	w10 := binary.BigEndian.Uint16(data[10:])
	*e = ERSPANIII{
		Version:     uint8(w0 >> 12),
		VLAN:        w0 & 0x0fff,
		CoS:         uint8(w2 >> 13),
		BSO:         uint8(w2>>11) & 3,
		Truncated:   w2&0x400 != 0,
		SessionID:   w2 & 0x3ff,
		Timestamp:   binary.BigEndian.Uint32(data[4:]),
		SGT:         binary.BigEndian.Uint16(data[8:]),
		P:           w10&0x8000 != 0,
		FrameType:   uint8(w10>>10) & 0x1f,
		HardwareID:  uint8(w10>>4) & 0x3f,
		Direction:   w10&0x8 != 0,
		Granularity: uint8(w10>>1) & 3,
	}
	if e.Version != 2 {
		return fmt.Errorf("ERSPAN III header with version %d, not 2", e.Version)
	}
	n := 12
	if w10&1 != 0 {
		if len(data) < 20 {
			df.SetTruncated()
			return fmt.Errorf("ERSPAN III platform subheader needs 8 bytes, have %d", len(data)-12)
		}
		e.Subheader = data[12:20]
		n = 20
	}
	e.BaseLayer = layers.BaseLayer{Contents: data[:n], Payload: data[n:]}
	return nil
}

func decodeERSPANIII(data []byte, p gopacket.PacketBuilder) error {
	return decodeWith(&ERSPANIII{}, data, p)
}

// AYIYA is the header of an AYIYA packet ("Anything In Anything", the
// SixXS tunnel broker's IPv6-over-UDP tunnel, UDP 5072;
// draft-massar-v6ops-ayiya-02): 8 bytes, an identity of 2^IDLen bytes and
// a signature of 4×SigLen bytes, then the packet of protocol NextHeader.
// Payload is that packet.
type AYIYA struct {
	layers.BaseLayer
	IDLen, IDType   uint8
	SigLen, HashMth uint8
	AuthMth, OpCode uint8
	NextHeader      layers.IPProtocol
	Epoch           uint32
	Identity        []byte
	Signature       []byte
}

// AYIYA's opcode for a packet to forward (the others are echo requests
// and replies, motd requests and replies, query requests and responses).
const ayiyaForward = 1

// ErrAYIYALength is returned for an AYIYA header whose identity and
// signature do not fit the datagram.
var ErrAYIYALength = errors.New("AYIYA header longer than the datagram")

// LayerType implements gopacket.Layer.
func (a *AYIYA) LayerType() gopacket.LayerType { return LayerTypeAYIYA }

// CanDecode implements gopacket.DecodingLayer.
func (a *AYIYA) CanDecode() gopacket.LayerClass { return LayerTypeAYIYA }

// NextLayerType implements gopacket.DecodingLayer: IPv4 or IPv6 for a
// packet to forward, nothing for the others.
func (a *AYIYA) NextLayerType() gopacket.LayerType {
	if a.OpCode != ayiyaForward {
		return gopacket.LayerTypeZero
	}
	switch a.NextHeader {
	case layers.IPProtocolIPv4:
		return layers.LayerTypeIPv4
	case layers.IPProtocolIPv6:
		return layers.LayerTypeIPv6
	}
	return gopacket.LayerTypeZero
}

// DecodeFromBytes implements gopacket.DecodingLayer.
func (a *AYIYA) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	*a = AYIYA{}
	if len(data) < 8 {
		df.SetTruncated()
		return ErrAYIYALength
	}
	a.IDLen, a.IDType = data[0]>>4, data[0]&0x0f
	a.SigLen, a.HashMth = data[1]>>4, data[1]&0x0f
	a.AuthMth, a.OpCode = data[2]>>4, data[2]&0x0f
	a.NextHeader = layers.IPProtocol(data[3])
	a.Epoch = binary.BigEndian.Uint32(data[4:])
	idn, sign := 1<<a.IDLen, 4*int(a.SigLen)
	n := 8 + idn + sign
	if len(data) < n {
		df.SetTruncated()
		return ErrAYIYALength
	}
	a.Identity, a.Signature = data[8:8+idn], data[8+idn:n]
	a.BaseLayer = layers.BaseLayer{Contents: data[:n], Payload: data[n:]}
	return nil
}

func decodeAYIYA(data []byte, p gopacket.PacketBuilder) error { return decodeWith(&AYIYA{}, data, p) }

// TZSP is the header of a TZSP packet (TaZmen Sniffer Protocol, UDP
// 37008), in which remote sniffers stream copies of the frames they see:
// MikroTik RouterOS's packet sniffer (/tool sniffer, streaming), its
// mangle action sniff-tzsp, and some wireless access points. A version
// (1), a type, the encapsulation of the frame, tagged fields up to the
// END tag (the sniffers send none but END); Payload is the frame, as
// Wireshark's packet-tzsp.c reads it.
type TZSP struct {
	layers.BaseLayer
	Version, Type uint8
	Encapsulation uint16
}

// TZSP's types that carry a frame (the others: configuration, keep-alive,
// port opener), its tags that have no length, and its encapsulations of
// the frames this package decodes.
const (
	tzspReceived, tzspTransmit = 0, 1
	tzspPadding, tzspEnd       = 0, 1
	tzspEthernet, tzspDot11    = 1, 18
)

// ErrTZSPTags is returned for TZSP tagged fields that run past the
// datagram or lack the END tag.
var ErrTZSPTags = errors.New("TZSP tagged fields without END")

// LayerType implements gopacket.Layer.
func (z *TZSP) LayerType() gopacket.LayerType { return LayerTypeTZSP }

// CanDecode implements gopacket.DecodingLayer.
func (z *TZSP) CanDecode() gopacket.LayerClass { return LayerTypeTZSP }

// NextLayerType implements gopacket.DecodingLayer: the frame of a
// received or transmitted packet in Ethernet or 802.11, else nothing.
func (z *TZSP) NextLayerType() gopacket.LayerType {
	if z.Version != 1 || z.Type != tzspReceived && z.Type != tzspTransmit {
		return gopacket.LayerTypeZero
	}
	switch z.Encapsulation {
	case tzspEthernet:
		return layers.LayerTypeEthernet
	case tzspDot11:
		return layers.LayerTypeDot11
	}
	return gopacket.LayerTypeZero
}

// DecodeFromBytes implements gopacket.DecodingLayer.
func (z *TZSP) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	*z = TZSP{}
	if len(data) < 4 {
		df.SetTruncated()
		return ErrTZSPTags
	}
	z.Version, z.Type, z.Encapsulation = data[0], data[1], binary.BigEndian.Uint16(data[2:])
	n := 4
	if z.Type == tzspReceived || z.Type == tzspTransmit {
		for {
			if n >= len(data) {
				df.SetTruncated()
				return ErrTZSPTags
			}
			tag := data[n]
			if tag == tzspEnd {
				n++
				break
			}
			if tag == tzspPadding {
				n++
				continue
			}
			if n+1 >= len(data) || n+2+int(data[n+1]) > len(data) {
				df.SetTruncated()
				return ErrTZSPTags
			}
			n += 2 + int(data[n+1])
		}
	}
	z.BaseLayer = layers.BaseLayer{Contents: data[:n], Payload: data[n:]}
	return nil
}

func decodeTZSP(data []byte, p gopacket.PacketBuilder) error { return decodeWith(&TZSP{}, data, p) }
