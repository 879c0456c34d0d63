// Package convtest builds TCP conversations packet by packet, as the pcap
// files a capture of them would be, for the tests of every package: a
// client and a server, a handshake, messages split into segments each
// ACKed by the peer, idle periods, FINs and RSTs by either side, lost
// segments. The packets are serialised by gopacket, so the bytes are what
// a capture holds.
//
// In: calls that say what each side sends and when. Out: the pcap bytes
// (Bytes), or a file of them (File).
package convtest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The two sides.
const (
	Client = 0
	Server = 1
)

// Start is the capture time of a conversation's first packet.
var Start = time.Unix(1700000000, 0).UTC()

// Conv is one conversation between 10.0.0.1:40000 (the client) and
// 10.0.0.2:80 (the server), by default.
type Conv struct {
	t    testing.TB
	pkts []packet  // written in time order by Bytes
	Now  time.Time // the time of the last packet; each packet is 1 ms after the one before unless Idle says otherwise
	Step time.Duration
	// Delay stamps each side's packets this much later than they were
	// sent, as a mirror port whose copies of one direction arrive late
	// records them; the file holds them in time order.
	Delay [2]time.Duration
	// Omit leaves a side's packets out of the file, those written before
	// as well, as a mirror or a capture filter that keeps one direction
	// does.
	Omit [2]bool
	seq  [2]uint32
	ip   [2][]byte
	port [2]layers.TCPPort
	drop int // data segments still to leave out of the capture
}

// New starts a conversation with a handshake.
func New(t testing.TB) *Conv {
	c := NewWithoutHandshake(t)
	c.Handshake()
	return c
}

// NewWithoutHandshake starts a conversation whose capture begins after
// the handshake (no SYN seen).
func NewWithoutHandshake(t testing.TB) *Conv {
	return &Conv{t: t, Now: Start, Step: time.Millisecond, seq: [2]uint32{1000, 5000},
		ip: [2][]byte{{10, 0, 0, 1}, {10, 0, 0, 2}}, port: [2]layers.TCPPort{40000, 80}}
}

// packet is one captured packet.
type packet struct {
	at   time.Time
	data []byte
	from int
}

// Ports sets the client's and the server's ports; call it before any
// packet (after NewWithoutHandshake, then Handshake).
func (c *Conv) Ports(client, server uint16) *Conv {
	c.port = [2]layers.TCPPort{layers.TCPPort(client), layers.TCPPort(server)}
	return c
}

// Handshake writes SYN, SYN-ACK, ACK.
func (c *Conv) Handshake() {
	c.Packet(Client, layers.TCP{SYN: true}, nil)
	c.seq[Client]++
	c.Packet(Server, layers.TCP{SYN: true, ACK: true}, nil)
	c.seq[Server]++
	c.Packet(Client, layers.TCP{ACK: true}, nil)
}

// Packet writes one segment from side from with the flags of tcp (ports,
// sequence and acknowledgment numbers are the conversation's; every
// segment but the first SYN acknowledges what the peer sent) carrying
// payload, 1 ms (Step) after the previous packet. It does not advance
// the sequence numbers: Send, FIN and the like do.
func (c *Conv) Packet(from int, tcp layers.TCP, payload []byte) {
	if !tcp.SYN || tcp.ACK {
		tcp.ACK = true
		tcp.Ack = c.seq[1-from]
	}
	c.packet(from, tcp, payload)
}

// packet writes a segment with exactly the flags of tcp.
func (c *Conv) packet(from int, tcp layers.TCP, payload []byte) {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: c.ip[from], DstIP: c.ip[1-from]}
	tcp.SrcPort, tcp.DstPort = c.port[from], c.port[1-from]
	tcp.Seq = c.seq[from]
	tcp.Window = 65535
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		c.t.Fatal(err)
	}
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeIPv4},
		ip, &tcp, gopacket.Payload(payload)); err != nil {
		c.t.Fatal(err)
	}
	c.Now = c.Now.Add(c.Step)
	c.pkts = append(c.pkts, packet{c.Now.Add(c.Delay[from]), bytes.Clone(sb.Bytes()), from})
}

// Send writes msg from side from in segments of at most mss bytes (0: one
// segment), each ACKed by the peer.
func (c *Conv) Send(from int, msg string, mss int) {
	c.send(from, msg, mss, true)
}

// SendUnacked writes msg from side from in one segment that the peer does
// not acknowledge (yet).
func (c *Conv) SendUnacked(from int, msg string) { c.send(from, msg, 0, false) }

func (c *Conv) send(from int, msg string, mss int, ack bool) {
	if mss <= 0 {
		mss = len(msg)
	}
	for len(msg) > 0 {
		n := min(mss, len(msg))
		if c.drop > 0 {
			c.drop--
		} else {
			c.Packet(from, layers.TCP{PSH: true}, []byte(msg[:n]))
		}
		c.seq[from] += uint32(n)
		if ack {
			c.Packet(1-from, layers.TCP{}, nil)
		}
		msg = msg[n:]
	}
}

// Drop leaves the next n data segments out of the capture (a kernel drop):
// their bytes are sent, not captured.
func (c *Conv) Drop(n int) { c.drop += n }

// Idle lets d pass before the next packet.
func (c *Conv) Idle(d time.Duration) { c.Now = c.Now.Add(d) }

// FIN writes a FIN from side from (not acknowledged yet).
func (c *Conv) FIN(from int) {
	c.Packet(from, layers.TCP{FIN: true}, nil)
	c.seq[from]++
}

// ACK writes a bare ACK from side from of everything the peer sent.
func (c *Conv) ACK(from int) { c.Packet(from, layers.TCP{}, nil) }

// RST writes a RST from side from (acknowledging what the peer sent).
func (c *Conv) RST(from int) { c.Packet(from, layers.TCP{RST: true}, nil) }

// Reset writes a RST without ACK from side from, as a stack answers a
// segment for a socket it has closed (RFC 9293 3.10.7.1): its sequence
// number is the one the peer acknowledged.
func (c *Conv) Reset(from int) { c.packet(from, layers.TCP{RST: true}, nil) }

// Close writes an orderly close that side from starts: its FIN, the
// peer's FIN (which acknowledges it), and the last ACK.
func (c *Conv) Close(from int) {
	c.FIN(from)
	c.FIN(1 - from)
	c.ACK(from)
}

// Bytes returns the pcap file written so far.
func (c *Conv) Bytes() []byte {
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		c.t.Fatal(err)
	}
	pkts := slices.Clone(c.pkts)
	slices.SortStableFunc(pkts, func(a, b packet) int { return a.at.Compare(b.at) })
	for _, p := range pkts {
		if c.Omit[p.from] {
			continue
		}
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: p.at, CaptureLength: len(p.data), Length: len(p.data)}, p.data); err != nil {
			c.t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// File writes the pcap file to the test's temporary directory and returns
// its path.
func (c *Conv) File() string {
	p := filepath.Join(c.t.TempDir(), "conv.pcap")
	if err := os.WriteFile(p, c.Bytes(), 0o644); err != nil {
		c.t.Fatal(err)
	}
	return p
}
