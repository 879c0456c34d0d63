package bpf

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// Named Ethernet test packets, built with gopacket's layers.
type namedPacket struct {
	name  string
	frame []byte
	ipv   int // 4 or 6 when the packet is IP and untagged (representable as raw IP), else 0
}

func semanticPackets() []namedPacket {
	var ps []namedPacket
	add := func(name string, ipv int, frame []byte) { ps = append(ps, namedPacket{name, frame, ipv}) }

	ip := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	add("tcp4-syn", 4, ether(macA, macB, nil, layers.EthernetTypeIPv4, ip, tcp(1234, 80, 0x02, ip)))

	ip = ip4("10.0.0.2", "10.0.0.1", layers.IPProtocolTCP)
	ip.Options = nops(12) // IHL 8: the ports are 12 bytes later
	add("tcp4-opts", 4, ether(macB, macA, nil, layers.EthernetTypeIPv4, ip, tcp(80, 1234, 0x12, ip), gopacket.Payload("HTTP/1.1 200 OK\r\n")))

	ip = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	add("tcp4-get", 4, ether(macA, macB, nil, layers.EthernetTypeIPv4, ip, tcp(1234, 8080, 0x18, ip), gopacket.Payload("GET / HTTP/1.1\r\n\r\n")))

	ip = ip4("192.168.1.10", "10.0.0.1", layers.IPProtocolUDP)
	add("udp4-dns", 4, ether(macB, macA, nil, layers.EthernetTypeIPv4, ip, udp(53, 5353, ip), gopacket.Payload("answer")))

	ip = ip4("10.0.0.1", "1.2.3.4", layers.IPProtocolICMPv4)
	add("icmp4-echo", 4, ether(macA, macB, nil, layers.EthernetTypeIPv4, ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}))

	ip = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolSCTP)
	add("sctp4", 4, ether(macA, macB, nil, layers.EthernetTypeIPv4, ip, &layers.SCTP{SrcPort: 80, DstPort: 9}))

	// A non-first fragment whose payload looks like ports 80 -> 80 (it is
	// the middle of a UDP payload): port filters must not match it.
	ip = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP)
	ip.FragOffset = 185
	add("udp4-frag2", 4, ether(macA, macB, nil, layers.EthernetTypeIPv4, ip, gopacket.Payload([]byte{0, 80, 0, 80, 0, 8, 0, 0, 1, 2, 3, 4})))

	ip = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	ip.Flags = layers.IPv4MoreFragments
	add("tcp4-frag1", 4, ether(macA, macB, nil, layers.EthernetTypeIPv4, ip, tcp(80, 1234, 0x10, ip), gopacket.Payload(make([]byte, 32))))

	ip6p := ip6("2001:db8::1", "::1", layers.IPProtocolTCP)
	add("tcp6-synack", 6, ether(macA, macB, nil, layers.EthernetTypeIPv6, ip6p, tcp(40000, 8080, 0x12, ip6p)))

	ip6p = ip6("fe80::1", "ff02::1", layers.IPProtocolUDP)
	add("udp6", 6, ether(macA, macB, nil, layers.EthernetTypeIPv6, ip6p, udp(546, 547, ip6p), gopacket.Payload("dhcp")))

	ip6p = ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolICMPv6)
	icmp6 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
	if err := icmp6.SetNetworkLayerForChecksum(ip6p); err != nil {
		panic(err)
	}
	add("icmp6-echo", 6, ether(macA, macB, nil, layers.EthernetTypeIPv6, ip6p, icmp6, gopacket.Payload("ping")))

	// IPv6 with a fragment header before TCP: "tcp" sees it, "port" does not
	// (libpcap only looks for ports right after the fixed header).
	ip6p = ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolIPv6Fragment)
	add("tcp6-fraghdr", 6, ether(macA, macB, nil, layers.EthernetTypeIPv6, ip6p,
		&layers.IPv6Fragment{NextHeader: layers.IPProtocolTCP, MoreFragments: true, Identification: 1}, tcp(80, 1234, 0x10, ip6p)))

	add("arp-request", 0, ether(macA, mac("ff:ff:ff:ff:ff:ff"), nil, layers.EthernetTypeARP, arp(1, "10.0.0.1", "10.0.0.2")))

	ip = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	add("vlan100-tcp4", 0, ether(macA, macB, []vlanTag{{0x8100, 100}}, layers.EthernetTypeIPv4, ip, tcp(1234, 80, 0x02, ip)))

	ip6p = ip6("2001:db8::1", "::1", layers.IPProtocolUDP)
	add("qinq-udp6", 0, ether(macA, macB, []vlanTag{{0x88a8, 200}, {0x8100, 100}}, layers.EthernetTypeIPv6, ip6p, udp(53, 53, ip6p)))

	add("lldp", 0, ether(macA, mac("01:80:c2:00:00:0e"), nil, 0x88cc, gopacket.Payload(make([]byte, 46))))

	ip = ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	add("tcp4-truncated", 0, ether(macA, macB, nil, layers.EthernetTypeIPv4, ip, tcp(1234, 80, 0x02, ip))[:30])
	return ps
}

func semanticFrames() [][]byte {
	var fs [][]byte
	for _, p := range semanticPackets() {
		fs = append(fs, p.frame)
	}
	return fs
}

// semanticTable lists, for each expression, the packets of
// semanticPackets it matches. ethOnly expressions are Ethernet-specific.
var semanticTable = []struct {
	expr    string
	match   []string
	ethOnly bool
}{
	{expr: "", match: []string{"*"}},
	{expr: "tcp", match: []string{"tcp4-syn", "tcp4-opts", "tcp4-get", "tcp4-frag1", "tcp6-synack", "tcp6-fraghdr", "tcp4-truncated"}},
	{expr: "udp", match: []string{"udp4-dns", "udp4-frag2", "udp6"}},
	{expr: "icmp", match: []string{"icmp4-echo"}},
	{expr: "icmp6", match: []string{"icmp6-echo"}},
	{expr: "sctp", match: []string{"sctp4"}},
	{expr: "ip6", match: []string{"tcp6-synack", "udp6", "icmp6-echo", "tcp6-fraghdr"}},
	{expr: "ip6 and tcp", match: []string{"tcp6-synack", "tcp6-fraghdr"}},
	{expr: "arp", match: []string{"arp-request"}},
	{expr: "not ip and not ip6", match: []string{"arp-request", "vlan100-tcp4", "qinq-udp6", "lldp"}},
	{expr: "tcp port 80", match: []string{"tcp4-syn", "tcp4-opts", "tcp4-frag1"}},
	{expr: "port 80", match: []string{"tcp4-syn", "tcp4-opts", "tcp4-frag1", "sctp4"}},
	{expr: "port 80 or 8080", match: []string{"tcp4-syn", "tcp4-opts", "tcp4-get", "tcp4-frag1", "sctp4", "tcp6-synack"}},
	{expr: "src port 80", match: []string{"tcp4-opts", "tcp4-frag1", "sctp4"}},
	{expr: "dst port 80", match: []string{"tcp4-syn"}},
	{expr: "udp port 53", match: []string{"udp4-dns"}},
	{expr: "dst port 8080", match: []string{"tcp4-get", "tcp6-synack"}},
	{expr: "udp port 547", match: []string{"udp6"}},
	{expr: "portrange 8000-8080", match: []string{"tcp4-get", "tcp6-synack"}},
	{expr: "tcp portrange 1-100", match: []string{"tcp4-syn", "tcp4-opts", "tcp4-frag1"}},
	{expr: "udp portrange 500-600", match: []string{"udp6"}},
	{expr: "src portrange 40000-50000", match: []string{"tcp6-synack"}},
	{expr: "host 10.0.0.1", match: []string{"tcp4-syn", "tcp4-opts", "tcp4-get", "udp4-dns", "icmp4-echo", "sctp4", "udp4-frag2", "tcp4-frag1", "arp-request", "tcp4-truncated"}},
	// (The truncated packet still holds the IPv4 source address.)
	{expr: "ip host 10.0.0.1", match: []string{"tcp4-syn", "tcp4-opts", "tcp4-get", "udp4-dns", "icmp4-echo", "sctp4", "udp4-frag2", "tcp4-frag1", "tcp4-truncated"}},
	{expr: "src host 10.0.0.2", match: []string{"tcp4-opts"}},
	{expr: "dst host 10.0.0.2", match: []string{"tcp4-syn", "tcp4-get", "sctp4", "udp4-frag2", "tcp4-frag1", "arp-request"}},
	{expr: "host 1.2.3.4 or 192.168.1.10", match: []string{"icmp4-echo", "udp4-dns"}},
	{expr: "host 10.0.0.1 and 10.0.0.2", match: []string{"tcp4-syn", "tcp4-opts", "tcp4-get", "sctp4", "udp4-frag2", "tcp4-frag1", "arp-request"}},
	{expr: "net 192.168.0.0/16", match: []string{"udp4-dns"}},
	{expr: "net 192.168.1.0 mask 255.255.255.0", match: []string{"udp4-dns"}},
	{expr: "src net 10.0.0.0/8 and dst net 1.0.0.0/8", match: []string{"icmp4-echo"}},
	{expr: "host ::1", match: []string{"tcp6-synack"}},
	{expr: "host 2001:db8::1", match: []string{"tcp6-synack", "icmp6-echo", "tcp6-fraghdr"}},
	{expr: "dst host 2001:db8::2", match: []string{"icmp6-echo", "tcp6-fraghdr"}},
	{expr: "net fe80::/10", match: []string{"udp6"}},
	{expr: "dst net ff00::/8", match: []string{"udp6"}},
	{expr: "not tcp", match: []string{"udp4-dns", "icmp4-echo", "sctp4", "udp4-frag2", "udp6", "icmp6-echo", "arp-request", "vlan100-tcp4", "qinq-udp6", "lldp"}},
	{expr: "tcp and not port 80", match: []string{"tcp4-get", "tcp6-synack", "tcp6-fraghdr"}},
	{expr: "!(tcp || udp || icmp6) && ip", match: []string{"icmp4-echo", "sctp4"}},
	{expr: "host 10.0.0.1 and (port 80 or 8080)", match: []string{"tcp4-syn", "tcp4-opts", "tcp4-get", "sctp4", "tcp4-frag1"}},
	{expr: "udp or tcp and port 53", match: []string{"udp4-dns"}}, // and/or are left-associative: (udp or tcp) and port 53
	{expr: "tcp[13] & 2 != 0", match: []string{"tcp4-syn", "tcp4-opts"}},
	{expr: "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", match: []string{"tcp4-syn", "tcp4-opts", "tcp4-get", "tcp4-frag1"}},
	{expr: "tcp[tcpflags] == tcp-syn", match: []string{"tcp4-syn"}},
	{expr: "tcp[tcpflags] & tcp-push != 0", match: []string{"tcp4-get"}},
	{expr: "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", match: []string{"tcp4-get"}},
	{expr: "ip[0] & 0xf != 5", match: []string{"tcp4-opts"}},
	{expr: "ip[6:2] & 0x1fff != 0", match: []string{"udp4-frag2"}},
	{expr: "icmp[icmptype] = icmp-echo", match: []string{"icmp4-echo"}},
	{expr: "icmp6[icmp6type] = icmp6-echo", match: []string{"icmp6-echo"}},
	{expr: "ip6[6] = 44", match: []string{"tcp6-fraghdr"}},
	{expr: "udp[0:2] = 53", match: []string{"udp4-dns"}},
	{expr: "less 39 and tcp", match: []string{"tcp4-truncated"}},
	// Unlike libpcap, both operands' protocol tests apply: tcpdump would
	// also match the TCP packets here, reading "udp[0]" from their header.
	{expr: "ip[9] + udp[0] > 0", match: []string{"udp4-dns"}},
	{expr: "greater 80", match: []string{"tcp4-opts", "tcp4-frag1", "tcp6-fraghdr"}, ethOnly: true}, // lengths differ per link type
	{expr: "vlan", match: []string{"vlan100-tcp4", "qinq-udp6"}, ethOnly: true},
	{expr: "vlan 100", match: []string{"vlan100-tcp4"}, ethOnly: true},
	{expr: "vlan 200", match: []string{"qinq-udp6"}, ethOnly: true},
	{expr: "vlan and tcp port 80", match: []string{"vlan100-tcp4"}, ethOnly: true},
	{expr: "vlan and host 10.0.0.2", match: []string{"vlan100-tcp4"}, ethOnly: true},
	{expr: "vlan 200 and vlan 100 and udp port 53", match: []string{"qinq-udp6"}, ethOnly: true},
	{expr: "vlan and ip6", match: nil, ethOnly: true}, // the QinQ packet's second header is a tag, not IPv6
	{expr: "ether host 02:00:00:00:00:01", match: []string{"*"}, ethOnly: true},
	{expr: "ether dst 02:00:00:00:00:01", match: []string{"tcp4-opts", "udp4-dns"}, ethOnly: true},
	{expr: "ether src ff:ff:ff:ff:ff:ff", match: nil, ethOnly: true},
	{expr: "ether proto 0x88cc", match: []string{"lldp"}, ethOnly: true},
}

// linkPacket returns p on link type lt, or false when it is not
// representable there (tagged or non-IP packets on raw IP).
func linkPacket(p namedPacket, lt LinkType) ([]byte, bool) {
	switch lt {
	case Ethernet:
		return p.frame, true
	case Raw:
		if p.ipv == 0 {
			return nil, false
		}
	}
	if len(p.frame) < 14 {
		return nil, false
	}
	return toLink(p.frame, lt, 0), true
}

func TestSemantics(t *testing.T) {
	pkts := semanticPackets()
	for _, lt := range []LinkType{Ethernet, LinuxSLL, LinuxSLL2, Raw} {
		for _, tc := range semanticTable {
			if tc.ethOnly && lt != Ethernet {
				continue
			}
			prog, err := Compile(tc.expr, lt, 0)
			if err != nil {
				// Acceptable if no packet representable on this link
				// type should match (arp on raw IP).
				anyWanted := false
				for _, p := range pkts {
					if _, ok := linkPacket(p, lt); ok && (slices.Contains(tc.match, p.name) || slices.Contains(tc.match, "*")) {
						anyWanted = true
					}
				}
				if !anyWanted && strings.Contains(err.Error(), "rejects all packets") {
					continue
				}
				t.Errorf("%v: Compile(%q): %v", lt, tc.expr, err)
				continue
			}
			for _, p := range pkts {
				data, ok := linkPacket(p, lt)
				if !ok {
					continue
				}
				got, err := Match(prog, data)
				if err != nil {
					t.Errorf("%v: Match(%q, %s): %v", lt, tc.expr, p.name, err)
					continue
				}
				want := slices.Contains(tc.match, p.name) || slices.Contains(tc.match, "*")
				if got != want {
					t.Errorf("%v: expr %q, packet %s: got match=%v, want %v\n%s", lt, tc.expr, p.name, got, want, disasm(prog))
				}
			}
		}
	}
}

func TestSnaplenAndEmpty(t *testing.T) {
	prog, err := Compile("", Ethernet, 1500)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) != 1 || prog[0] != (bpf.RawInstruction{Op: 0x06, K: 1500}) {
		t.Errorf("empty expression: got\n%s", disasm(prog))
	}
	prog, err = Compile("  ", Raw, 0)
	if err != nil || len(prog) != 1 || prog[0].K != DefaultSnaplen {
		t.Errorf("blank expression with snaplen 0: %v\n%s", err, disasm(prog))
	}
	prog, err = Compile("tcp", Ethernet, 96)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := newVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	n, err := vm.Run(semanticPackets()[0].frame)
	if err != nil || n != 96 {
		t.Errorf("accepted packet: Run = %d, %v; want 96", n, err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		expr string
		lt   LinkType
		want string
	}{
		{"gateway 1.2.3.4", Ethernet, `unsupported filter primitive "gateway"`},
		{"ip6 broadcast", Ethernet, `only link-layer/IP broadcast filters supported`},
		{"tcp multicast", Ethernet, `link-layer multicast filters supported only`},
		{"broadcast", LinuxSLL, `not a broadcast link`},
		{"multicast", Raw, `link-layer multicast filters supported only`},
		{"ip6 protochain 6", Ethernet, `unsupported filter primitive "ip6 protochain"`},
		{"mpls", LinuxSLL2, `no MPLS support for Linux cooked v2`},
		{"mpls and arp", Ethernet, `unsupported protocol over mpls`},
		{"mpls and vlan", Ethernet, `no VLAN match after MPLS`},
		{"mpls 1048576", Ethernet, `MPLS label 1048576 greater than maximum 1048575`},
		{"pppoes 65536", Ethernet, `PPPoE session number 65536 greater than maximum 65535`},
		{"pppoes and vlan", Ethernet, `no VLAN support for PPP`},
		{"pppoes and ether host 1:2:3:4:5:6", Ethernet, `ethernet addresses supported only`},
		{"geneve 16777216", Ethernet, `Geneve VNI 16777216 greater than maximum 16777215`},
		{"radio", Ethernet, `'radio' is not a valid protocol type`},
		{"radio[0] = 1", Ethernet, `radio information not present`},
		{"tcp proto 6", Ethernet, `'tcp proto' is bogus`},
		{"pim host 1.2.3.4", Ethernet, `'pim' modifier applied to host`},
		{"iso proto \\nosuch", Ethernet, `unknown osi proto 'nosuch'`},
		{"decnet host 1.2", Ethernet, `DECnet addresses are not supported`},
		{"host nosuch.invalid", Ethernet, `unknown host 'nosuch.invalid'`},
		{"host 10.0.0.1 or nosuch", Ethernet, `unknown host 'nosuch'`},
		{"net nosuchnet", Ethernet, `unknown network 'nosuchnet'`},
		{"port nosuchservice", Ethernet, `unknown port 'nosuchservice'`},
		{"portrange ftp-data-http", Ethernet, `unknown port in range 'ftp-data-http'`},
		{"portrange 1--2", Ethernet, `illegal port number -2 < 0`},
		{"portrange 1-70000", Ethernet, `illegal port number 70000 > 65535`},
		{"ether host nosuchether", Ethernet, `unknown ether host 'nosuchether'`},
		{"ether host foo", LinuxSLL, `only ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel supports link-level host name`},
		{"byte 1 != 2", Ethernet, `syntax error`},
		{"vlan (tcp)", Ethernet, `syntax error`},
		{"ifindex", Ethernet, `ifindex needs a number`},
		{"localhost", Ethernet, `unknown filter primitive "localhost"`},
		{"1.2.3.4", Ethernet, `needs a qualifier`},
		{"tcp and 80", Ethernet, `no qualifier to repeat`},
		{"(host 1.2.3.4) or 5.6.7.8", Ethernet, `no qualifier to repeat`},
		{"tcp 80", Ethernet, `syntax error`},
		{"port 99999", Ethernet, `illegal port number 99999 > 65535`},
		{"ip port 80", Ethernet, `illegal qualifier of 'port'`},
		{"tcp host 1.2.3.4", Ethernet, `'tcp' modifier applied to host`},
		{"ip host ::1", Ethernet, `'ip' modifier applied to ip6 host`},
		{"ip6 host 1.2.3.4", Ethernet, `'ip6' modifier applied to ip host`},
		{"net 10.0.0.1/8", Ethernet, `non-network bits set in "10.0.0.1/8"`},
		{"net 10.0.0.0/33", Ethernet, `mask length must be <= 32`},
		{"host 10.0.0.0/8", Ethernet, `Mask syntax for networks only`},
		{"host fe80::/10", Ethernet, `Mask syntax for networks only`},
		{"net fe80::1/10", Ethernet, `non-network bits set`},
		{"port ::1", Ethernet, `invalid qualifier against IPv6 address`},
		{"port 1.2.3.4", Ethernet, `'port' modifier applied to ip host`},
		{"host 1.2.3.400", Ethernet, `invalid IPv4 address`},
		{"tcp[0:3] = 1", Ethernet, `data size must be 1, 2, or 4`},
		{"tcp[0] / 0 = 1", Ethernet, `division by zero`},
		{"tcp[0] % 0 = 1", Ethernet, `modulus by zero`},
		{"tcp[0] << 32 = 0", Ethernet, `shift by more than 31 bits`},
		{"vlan 5000", Ethernet, `VLAN tag 5000 greater than maximum 4095`},
		{"vlan", LinuxSLL, `no VLAN support for Linux cooked v1`},
		{"vlan", Raw, `no VLAN support`},
		{"ether host 1:2:3:4:5:6", LinuxSLL2, `ethernet addresses supported only on ethernet`},
		{"host 1:2:3:4:5:6", Ethernet, `ethernet address used in non-ether expression`},
		{"tcp and udp", Ethernet, `expression rejects all packets`}, // found by jump threading, as in libpcap
		{"arp", Raw, `expression rejects all packets`},
		{"port 08", Ethernet, `number 08 contains non-octal digit`},
		{"port 99999999999", Ethernet, `overflows 32 bits`},
		{"tcp[", Ethernet, `syntax error`},
		{"(tcp", Ethernet, `syntax error`},
		{"tcp)", Ethernet, `syntax error`},
		{"host", Ethernet, `syntax error`},
		{"not", Ethernet, `syntax error`},
		{"tcp and", Ethernet, `syntax error`},
		{"src 1.0.0.0/8", Ethernet, `Mask syntax for networks only`},
		{"ip proto \\nosuch", Ethernet, `unknown ip proto 'nosuch'`},
		{"arp proto 6", Ethernet, `arp does not encapsulate another protocol`},
		{"src proto 6", Ethernet, `direction cannot qualify 'proto'`},
		{"tcp # comment", Ethernet, `unexpected character '#'`},
		{"tcp", LinkType(105), `unsupported link type 105`},
		{"host 0x7f.1", Ethernet, `invalid IPv4 address`},
		{"less", Ethernet, `less needs a number`},
		{"ether[0] = 1 and ip6[0:1:2] = 1", Ethernet, `syntax error`},
		{"tcp[0] = 1 = 2", Ethernet, `syntax error`},
	}
	for _, tc := range tests {
		_, err := Compile(tc.expr, tc.lt, 0)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: Compile(%q): unexpected error %v", tc.lt, tc.expr, err)
		case tc.want != "" && err == nil:
			t.Errorf("%v: Compile(%q) succeeded, want error containing %q", tc.lt, tc.expr, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%v: Compile(%q): error %q, want it to contain %q", tc.lt, tc.expr, err, tc.want)
		}
	}
}

// Long expressions need jumps farther than the 255 instructions a
// conditional jump can reach; the result must still be right.
func TestLongJumps(t *testing.T) {
	var hosts []string
	for i := 0; i < 300; i++ {
		hosts = append(hosts, "10.9."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250))
	}
	expr := "(host " + strings.Join(hosts, " or ") + ") and tcp port 80"
	prog, err := Compile(expr, Ethernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) < 600 {
		t.Fatalf("program has only %d instructions; the test wants long jumps", len(prog))
	}
	for _, h := range []string{"10.9.0.0", "10.9.0.77", "10.9.1.49", "10.9.1.50"} {
		ip := ip4(h, "10.0.0.1", layers.IPProtocolTCP)
		pkt := ether(macA, macB, nil, layers.EthernetTypeIPv4, ip, tcp(80, 5555, 0x10, ip))
		got, err := Match(prog, pkt)
		if err != nil {
			t.Fatal(err)
		}
		if want := h != "10.9.1.50"; got != want {
			t.Errorf("host %s: got %v, want %v", h, got, want)
		}
	}
	// Far too long for the kernel.
	var ports []string
	for i := 1; i < 2000; i++ {
		ports = append(ports, strconv.Itoa(i))
	}
	if _, err := Compile("port "+strings.Join(ports, " or "), Ethernet, 0); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("huge filter: got %v, want a too-large error", err)
	}
}

func TestMatchKernelOnly(t *testing.T) {
	prog, err := Compile("inbound", Ethernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Match(prog, semanticPackets()[0].frame); err == nil {
		t.Error("Match of an Ethernet 'inbound' program succeeded; want an error (kernel ancillary data)")
	}
	prog, err = Compile("inbound", LinuxSLL, 0)
	if err != nil {
		t.Fatal(err)
	}
	in := toLink(semanticPackets()[0].frame, LinuxSLL, 0)
	out := toLink(semanticPackets()[0].frame, LinuxSLL, 4)
	if ok, _ := Match(prog, in); !ok {
		t.Error("inbound did not match a PACKET_HOST packet")
	}
	if ok, _ := Match(prog, out); ok {
		t.Error("inbound matched a PACKET_OUTGOING packet")
	}
}

// The table must name real packets.
func TestSemanticTableNames(t *testing.T) {
	var names []string
	for _, p := range semanticPackets() {
		names = append(names, p.name)
	}
	sort.Strings(names)
	for _, tc := range semanticTable {
		for _, m := range tc.match {
			if _, ok := slices.BinarySearch(names, m); !ok && m != "*" {
				t.Errorf("expression %q names unknown packet %q", tc.expr, m)
			}
		}
	}
}
