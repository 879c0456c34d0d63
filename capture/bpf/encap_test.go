package bpf

import (
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Named Ethernet packets for the primitives that look inside
// encapsulations, at Ethernet addresses, or at non-IP protocols.
func encapPackets() []namedPacket {
	var ps []namedPacket
	add := func(name string, frame []byte) { ps = append(ps, namedPacket{name, frame, 0}) }

	ip := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	add("mpls-tcp4", ether(macA, macB, nil, layers.EthernetTypeMPLSUnicast,
		&layers.MPLS{Label: 100, StackBottom: true, TTL: 64}, ip, tcp(1234, 80, 0x02, ip)))

	ip6p := ip6("2001:db8::1", "::1", layers.IPProtocolUDP)
	add("mpls2-udp6", ether(macA, macB, nil, layers.EthernetTypeMPLSUnicast,
		&layers.MPLS{Label: 1000, TTL: 64}, &layers.MPLS{Label: 16, StackBottom: true, TTL: 64}, ip6p, udp(53, 53, ip6p)))

	ip = ip4("10.0.0.2", "10.0.0.1", layers.IPProtocolTCP)
	add("pppoe-tcp4", ether(macB, macA, nil, layers.EthernetTypePPPoESession,
		&layers.PPPoE{Version: 1, Type: 1, SessionId: 7}, &layers.PPP{PPPType: 0x21}, ip, tcp(80, 1234, 0x12, ip)))

	add("pppoed", ether(macA, mac("ff:ff:ff:ff:ff:ff"), nil, layers.EthernetTypePPPoEDiscovery,
		&layers.PPPoE{Version: 1, Type: 1, Code: 0x09}, gopacket.Payload(make([]byte, 8))))

	inner := ip4("10.0.0.9", "10.0.0.1", layers.IPProtocolTCP)
	innerFrame := ether(macB, mac("ff:ff:ff:ff:ff:ff"), nil, layers.EthernetTypeIPv4, inner, tcp(5555, 80, 0x02, inner))
	outer := ip4("192.168.1.10", "1.2.3.4", layers.IPProtocolUDP)
	outer.Options = nops(4) // the Geneve header is found after IP options too
	add("geneve-teb", ether(macA, macB, nil, layers.EthernetTypeIPv4, outer, udp(40000, genevePort, outer),
		&layers.Geneve{VNI: 100, Protocol: layers.EthernetType(ethTEB),
			Options: []*layers.GeneveOption{{Class: 1, Type: 2, Data: make([]byte, 4)}}}, gopacket.Payload(innerFrame)))

	innerIP6 := ip6("fe80::1", "ff02::1", layers.IPProtocolUDP)
	outer6 := ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolUDP)
	add("geneve-ip6", ether(macA, macB, nil, layers.EthernetTypeIPv6, outer6, udp(40000, genevePort, outer6),
		&layers.Geneve{VNI: 5, Protocol: layers.EthernetTypeIPv6}, gopacket.Payload(serialize(innerIP6, udp(53, 53, innerIP6), gopacket.Payload("q")))))

	ip = ip4("0.0.0.0", "255.255.255.255", layers.IPProtocolUDP)
	add("bcast-udp4", ether(macA, mac("ff:ff:ff:ff:ff:ff"), nil, layers.EthernetTypeIPv4, ip, udp(68, 67, ip)))

	ip = ip4("10.0.0.1", "224.0.0.1", layers.IPProtocolUDP)
	add("mcast-udp4", ether(macA, mac("01:00:5e:00:00:01"), nil, layers.EthernetTypeIPv4, ip, udp(5353, 5353, ip)))

	ip6p = ip6("fe80::1", "ff02::1", layers.IPProtocolICMPv6)
	icmp6 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(134, 0)}
	if err := icmp6.SetNetworkLayerForChecksum(ip6p); err != nil {
		panic(err)
	}
	add("mcast-icmp6", ether(macA, mac("33:33:00:00:00:01"), nil, layers.EthernetTypeIPv6, ip6p, icmp6, gopacket.Payload(make([]byte, 12))))

	llc := func(dst string, body ...byte) []byte {
		f := append(append(append([]byte(nil), mac(dst)...), macA...), 0, byte(len(body)))
		return append(f, body...)
	}
	add("stp", llc("01:80:c2:00:00:00", append([]byte{llc8021D, llc8021D, 0x03}, make([]byte, 35)...)...))
	add("isis-l1-lsp", llc("09:00:2b:00:00:05", llcISONS, llcISONS, 0x03, isoISIS, 27, 1, 0, isisL1LSP, 0, 0))

	ip = ip4("10.0.0.1", "224.0.0.13", 103)
	add("pim4", ether(macA, mac("01:00:5e:00:00:0d"), nil, layers.EthernetTypeIPv4, ip, gopacket.Payload([]byte{0x20, 0, 0, 0})))
	return ps
}

var encapTable = []struct {
	expr  string
	match []string
}{
	{"mpls", []string{"mpls-tcp4", "mpls2-udp6"}},
	{"mpls 100", []string{"mpls-tcp4"}},
	{"mpls 1000 and mpls 16 and ip6", []string{"mpls2-udp6"}},
	{"mpls and ip", []string{"mpls-tcp4"}}, // the first label of the other is not the last
	{"mpls and tcp port 80 and host 10.0.0.2", []string{"mpls-tcp4"}},
	{"mpls and mpls and udp port 53", []string{"mpls2-udp6"}},
	{"pppoes", []string{"pppoe-tcp4"}},
	{"pppoes 7 and tcp src port 80 and src host 10.0.0.2", []string{"pppoe-tcp4"}},
	{"pppoes 8", nil},
	{"pppoed", []string{"pppoed"}},
	{"geneve", []string{"geneve-teb", "geneve-ip6"}},
	{"geneve 100 and tcp dst port 80 and src host 10.0.0.9", []string{"geneve-teb"}},
	{"geneve and ether dst ff:ff:ff:ff:ff:ff and ether src 02:00:00:00:00:02", []string{"geneve-teb"}},
	{"geneve and broadcast", []string{"geneve-teb"}},
	{"geneve 5 and ip6 and udp port 53 and ip6 multicast", []string{"geneve-ip6"}},
	{"geneve and ether host 02:00:00:00:00:01", nil}, // the inner frame's addresses
	{"geneve 6", nil},
	{"broadcast", []string{"pppoed", "bcast-udp4"}},
	{"ip broadcast", []string{"bcast-udp4"}}, // the netmask is unknown: 255.255.255.255 or 0.0.0.0
	{"multicast", []string{"pppoed", "bcast-udp4", "mcast-udp4", "mcast-icmp6", "stp", "isis-l1-lsp", "pim4"}},
	{"ip multicast", []string{"bcast-udp4", "mcast-udp4", "pim4"}}, // 224.0.0.0 and above
	{"ip6 multicast", []string{"mcast-icmp6"}},
	{"stp", []string{"stp"}},
	{"iso", []string{"isis-l1-lsp"}},
	{"isis and l1 and lsp", []string{"isis-l1-lsp"}},
	{"l2 or iih or snp", nil},
	{"ether proto 0x42", []string{"stp"}}, // an LLC SAP
	{"pim and ip[9] = 103 and pim[0] = 0x20", []string{"pim4"}},
	{"ip proto 103", []string{"pim4"}},
}

func TestEncapsulations(t *testing.T) {
	pkts := encapPackets()
	var names []string
	for _, p := range pkts {
		names = append(names, p.name)
	}
	for _, tc := range encapTable {
		for _, m := range tc.match {
			if !slices.Contains(names, m) {
				t.Fatalf("%q names unknown packet %q", tc.expr, m)
			}
		}
		f, err := NewFilter(tc.expr, Ethernet)
		if err != nil {
			t.Errorf("NewFilter(%q): %v", tc.expr, err)
			continue
		}
		for _, p := range pkts {
			want := slices.Contains(tc.match, p.name)
			if got := f.Match(p.frame, len(p.frame)); got != want {
				t.Errorf("expr %q, packet %s: got match=%v, want %v\n%s", tc.expr, p.name, got, want, disasm(f.Program()))
			}
			// Every truncation: the reference VM must agree.
			for n := range p.frame {
				ok, err := Match(f.Program(), p.frame[:n])
				if err != nil {
					t.Fatal(err)
				}
				if got := f.Match(p.frame[:n], n); got != ok {
					t.Fatalf("expr %q, packet %s cut to %d bytes: Filter says %v, x/net/bpf %v", tc.expr, p.name, n, got, ok)
				}
			}
		}
	}
	// "geneve" disables the optimiser, as in libpcap: its programs keep
	// every test, even those whose outcome is known.
	opt, _ := Compile("ip and ip", Ethernet, 0)
	noopt, _ := Compile("geneve or ip and ip", Ethernet, 0)
	if len(opt) != 4 {
		t.Errorf("\"ip and ip\" is not optimised:\n%s", disasm(opt))
	}
	if strings.Count(disasm(noopt), "ldh [x + 0]") != 2 {
		t.Errorf("\"geneve or ip and ip\" was optimised:\n%s", disasm(noopt))
	}
}

// Raw IP has three link type numbers; DLT_NULL accepts the address
// family in either byte order, DLT_LOOP only in network order.
func TestLinkTypeAliases(t *testing.T) {
	for _, e := range []string{"tcp port 80", "host 10.0.0.1 or ip6", "ip[0] & 0xf > 5"} {
		a, _ := Compile(e, Raw, 0)
		for _, lt := range []LinkType{14, 101} {
			if b, err := Compile(e, lt, 0); err != nil || !slices.Equal(a, b) {
				t.Errorf("%q: link type %d compiles differently from 12 (%v)", e, lt, err)
			}
		}
	}
	ip := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	payload := serialize(ip, tcp(1234, 80, 0x02, ip))
	ip6p := ip6("2001:db8::1", "::1", layers.IPProtocolTCP)
	payload6 := serialize(ip6p, tcp(1234, 80, 0x02, ip6p))
	tests := []struct {
		lt      LinkType
		hdr     []byte
		payload []byte
		want    bool
	}{
		{Null, []byte{2, 0, 0, 0}, payload, true},
		{Null, []byte{0, 0, 0, 2}, payload, true},
		{Null, []byte{24, 0, 0, 0}, payload6, true},
		{Null, []byte{0, 0, 0, 30}, payload6, true},
		{Null, []byte{0, 0, 0, 28}, payload6, true},
		{Null, []byte{10, 0, 0, 0}, payload6, false}, // Linux's AF_INET6: no BSD writes it
		{Null, []byte{2, 0, 0, 1}, payload, false},
		{Loop, []byte{0, 0, 0, 2}, payload, true},
		{Loop, []byte{2, 0, 0, 0}, payload, false},
		{Loop, []byte{0, 0, 0, 24}, payload6, true},
		{IPv4, nil, payload, true},
		{IPv6, nil, payload6, true},
		{IPv4, nil, payload6, false},
	}
	for _, tc := range tests {
		f, err := NewFilter("tcp port 80", tc.lt)
		if err != nil {
			t.Fatal(err)
		}
		p := append(append([]byte(nil), tc.hdr...), tc.payload...)
		if got := f.Match(p, len(p)); got != tc.want {
			t.Errorf("%v, header % x: got %v, want %v\n%s", tc.lt, tc.hdr, got, tc.want, disasm(f.Program()))
		}
	}
}

// NewFilter refuses what a capture file cannot answer, as tcpdump -r does.
func TestNewFilterFileSemantics(t *testing.T) {
	for _, tc := range []struct {
		expr string
		lt   LinkType
		want string
	}{
		{"inbound", Ethernet, "inbound/outbound not supported on Ethernet when reading savefiles"},
		{"outbound and tcp", Raw, "not supported on Raw IP when reading savefiles"},
		{"ifindex 3", Ethernet, "ifindex not supported on Ethernet when reading savefiles"},
		{"inbound", LinuxSLL, ""},
		{"ifindex 3", LinuxSLL2, ""},
		{"tcp", LinkType(105), "unsupported link type 105"},
	} {
		f, err := NewFilter(tc.expr, tc.lt)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("NewFilter(%q, %v): %v", tc.expr, tc.lt, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("NewFilter(%q, %v): got %v, want an error containing %q", tc.expr, tc.lt, err, tc.want)
		case err == nil && f.String() != tc.expr:
			t.Errorf("NewFilter(%q).String() = %q", tc.expr, f.String())
		}
	}
	// Compile keeps the live meaning of inbound (kernel ancillary data).
	if _, err := Compile("inbound", Ethernet, 0); err != nil {
		t.Errorf("Compile(inbound): %v", err)
	}
	// "len" is the length on the wire, not the captured length.
	f, err := NewFilter("greater 1000", Ethernet)
	if err != nil {
		t.Fatal(err)
	}
	pkt := semanticPackets()[0].frame
	if f.Match(pkt, len(pkt)) || !f.Match(pkt, 1500) {
		t.Errorf("greater 1000: the wire length is not what counts")
	}
}
