// Package bpf compiles tcpdump / pcap-filter(7) expressions to classic BPF
// programs without cgo or libpcap, for live capture with AF_PACKET
// (SO_ATTACH_FILTER) and for filtering packets read from files.
//
// In: an expression and a link type (a DLT_ value: Ethernet, Linux cooked
// v1/v2, raw IP, BSD loopback, raw IPv4/IPv6). Out: a classic BPF program
// (Compile, CompileLive, CompileCookedSocket) to attach to a socket, or a
// Filter (NewFilter) whose Match decides, without allocating, whether a
// packet read from a capture file passes, as tcpdump -r would.
//
// The code generator follows libpcap 1.10's (gencode.c), including its
// model of the header offsets that "vlan", "mpls", "pppoes" and "geneve"
// move, and the programs go through the branch optimisations of libpcap's
// optimiser (jump threading and the or/and pull-ups; none with "geneve",
// as libpcap does not optimise those), so they accept the same packets as
// tcpdump's, including packets truncated inside the headers a filter reads
// (classic BPF rejects a packet as soon as a load falls outside it, so the
// order of the loads is observable there). The instructions themselves
// differ: the tests run both programs over generated and captured packets
// and require identical decisions.
//
// Supported (see Compile for the details):
//
//   - host, net (/len, mask, short forms, names), port and portrange
//     (numbers or service names) with src/dst/"src or dst"/"src and dst";
//     gateway is not supported;
//   - protocols: ip, ip6, arp, rarp, tcp, udp, icmp, icmp6, sctp, igmp,
//     igrp, pim, vrrp, carp, ah, esp; atalk, aarp, decnet, lat, sca, mopdl,
//     moprc; the 802.2 LLC ones iso, esis, isis (and its l1, l2, iih, lsp,
//     snp, csnp, psnp), clnp, stp, ipx, netbeui; "[ip|ip6|ether|iso|isis]
//     proto N|name" ("ip proto gre", "ether proto \arp", "ether proto 0x42");
//   - ether host/src/dst (addresses or /etc/ethers names), broadcast and
//     multicast (ether, ip, ip6);
//   - encapsulations: vlan [id], mpls [label], pppoed, pppoes [session],
//     geneve [vni];
//   - less, greater, len, "byte N op M", byte-offset comparisons such as
//     "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0" (also pim[], vrrp[],
//     decnet[], ...);
//   - inbound/outbound, ifindex (Linux cooked headers, or kernel data);
//   - and, or, not, parentheses and tcpdump's implicit qualifier repetition
//     ("port 80 or 8080").
//
// Anything else (protochain, llc, 802.11, ATM, SS7, pf fields, DECnet
// addresses) is an error, never a program that matches something else.
//
// Names are looked up as libpcap looks them up through the C library:
// host names in /etc/hosts, then DNS, giving all the addresses of the name
// ("host localhost" is 127.0.0.1 and, if /etc/hosts says so, ::1); service
// names in /etc/services (a name with TCP and UDP entries of the same port
// means either protocol; "udp port http" is an error when http is TCP
// only; "portrange ftp-http" joins two names); protocol names in
// /etc/protocols; network names in /etc/networks; Ethernet host names in
// /etc/ethers.
//
// Where this package deliberately differs from libpcap 1.10:
//
//   - In arithmetic, libpcap keeps only the protocol tests of the left
//     operand: "ip[2:2] - tcp[12] > 0" reads tcp[12] from UDP and ICMP
//     packets too. Here each operand's tests apply.
//   - libpcap's "byte N & M" and "byte N | M" never load byte N (they test
//     what the A register happens to hold); here they test byte N.
//   - A few expressions libpcap's optimiser miscompiles or refuses
//     ("1&1=1 && 1=1&1", which tcpdump turns into a test of the
//     uninitialised X register; "tcp[0] % tcp[0] = 0", refused with
//     "modulus by zero") are compiled as written.
package bpf

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"golang.org/x/net/bpf"
)

// LinkType is a pcap link-layer header type (a DLT_ value): it tells the
// compiler where the network-layer header starts.
type LinkType int

const (
	// Null is DLT_NULL: BSD loopback, a 4-byte address family in the byte
	// order of the capturing machine, then the IPv4 or IPv6 packet.
	Null LinkType = 0
	// Ethernet is DLT_EN10MB: Ethernet II frames. On Linux the loopback
	// device "lo" is Ethernet-framed (zero MAC addresses), so it uses this
	// type too.
	Ethernet LinkType = 1
	// Raw is DLT_RAW (12 on Linux): the packet starts with the IPv4 or IPv6
	// header. LINKTYPE_RAW (101, its value in capture files) and 14 (DLT_RAW
	// on OpenBSD) are accepted as the same thing.
	Raw LinkType = 12
	// Loop is DLT_LOOP: OpenBSD loopback, like Null but with the address
	// family in network byte order.
	Loop LinkType = 108
	// LinuxSLL is DLT_LINUX_SLL: the 16-byte Linux "cooked" header, as
	// libpcap presents captures on the "any" device.
	LinuxSLL LinkType = 113
	// IPv4 is DLT_IPV4: raw IPv4 packets only.
	IPv4 LinkType = 228
	// IPv6 is DLT_IPV6: raw IPv6 packets only.
	IPv6 LinkType = 229
	// LinuxSLL2 is DLT_LINUX_SLL2: the 20-byte version 2 cooked header
	// (what tcpdump -i any writes to files).
	LinuxSLL2 LinkType = 276

	rawOpenBSD  LinkType = 14
	linktypeRaw LinkType = 101
)

func (l LinkType) String() string {
	switch l {
	case Null:
		return "BSD loopback"
	case Ethernet:
		return "Ethernet"
	case Raw, linktypeRaw, rawOpenBSD:
		return "Raw IP"
	case Loop:
		return "OpenBSD loopback"
	case LinuxSLL:
		return "Linux cooked v1"
	case IPv4:
		return "Raw IPv4"
	case IPv6:
		return "Raw IPv6"
	case LinuxSLL2:
		return "Linux cooked v2"
	}
	return fmt.Sprintf("link type %d", int(l))
}

// DefaultSnaplen is what matching packets return (the number of bytes to
// keep) when Compile is given a snaplen <= 0; it is libpcap's maximum.
const DefaultSnaplen = 262144

// Compile compiles a pcap-filter(7) expression for packets of the given link
// type. Matching packets make the program return snaplen (DefaultSnaplen if
// snaplen <= 0), others 0. The empty expression (or one of only spaces)
// matches every packet. Names are resolved as the package comment says.
// The supported primitives follow libpcap 1.10 semantics, including the
// less obvious ones:
//
//   - "host" and "net" without a protocol also match ARP and RARP packets
//     whose sender or target protocol address matches (except after
//     "mpls"); a host name matches any of its addresses.
//   - "port" and "portrange" without tcp/udp match TCP, UDP and SCTP; on IPv4
//     they skip IP options and never match fragments other than the first;
//     on IPv6 the port is only found when the transport header directly
//     follows the 40-byte IPv6 header.
//   - "tcp", "udp", "sctp", "ip6 proto N" look behind one IPv6 fragment
//     header; "tcp[...]" and the other transport-layer byte accesses only
//     work on IPv4 (as in libpcap).
//   - "vlan" matches 802.1Q/802.1ad/QinQ tags (TPID 0x8100, 0x88a8, 0x9100)
//     and, as in tcpdump, moves every offset used AFTER it in the expression
//     (in textual order, whatever the and/or structure, even negated:
//     write "tcp and not vlan", not "not vlan and tcp") 4 bytes further.
//     On a live Linux socket the kernel usually strips the outermost tag
//     before the filter runs: use CompileLive there.
//   - "mpls [label]" likewise moves what follows past a 4-byte label; after
//     it only IPv4 and IPv6 can be tested ("mpls and ip", by the IP version
//     and the bottom-of-stack bit), a second "mpls" is the next label.
//   - "pppoes [session]" tests PPPoE session frames (Ethernet type 0x8864);
//     what follows is a PPP packet ("pppoes and ip" tests the PPP protocol
//     0x0021). "pppoed" is PPPoE discovery.
//   - "geneve [vni]" is UDP to port 6081 with a version 0 Geneve header;
//     what follows is the encapsulated frame, an Ethernet frame (Transparent
//     Ethernet Bridging) or a bare network-layer packet, at offsets computed
//     at run time (the header has options).
//   - "broadcast" and "multicast" are Ethernet destination tests (link
//     types without Ethernet addresses refuse them); "ip broadcast" is the
//     destination 255.255.255.255 or 0.0.0.0 (the netmask of a capture file
//     is unknown: libpcap then takes 0, as tcpdump -r does); "ip multicast"
//     is a destination of 224.0.0.0 or above, "ip6 multicast" ff00::/8.
//   - "inbound"/"outbound" read the packet type from the cooked header on
//     LinuxSLL/LinuxSLL2, "ifindex N" the interface from the LinuxSLL2
//     header; on other link types they use the Linux kernel's ancillary
//     data, which only a kernel socket filter has (Match returns an error
//     for such programs; NewFilter refuses them, as libpcap does for
//     capture files).
//   - DLT_NULL and DLT_LOOP match IPv6 by each BSD's AF_INET6 (24, 28, 30),
//     as libpcap does for capture files; DLT_IPV4 and DLT_IPV6 need no test.
//     DLT_NULL's address family is in the byte order of the capturing
//     machine: Compile's programs are for a little-endian one (NewFilter
//     handles both).
//   - Comparisons ("tcp[13] & 2 != 0", "ip[2:2] > 576", "len >= 100") are
//     unsigned 32-bit; the operators are + - * / % & | ^ << >> and unary -,
//     with libpcap's precedence: | < & < << >> < + - < * / < unary minus,
//     and, because libpcap's grammar gives them none, % and ^ take the
//     operand just before them and everything after them ("20 % 3 + 2" is
//     20 % 5). A division by a value that is zero at run time rejects the
//     packet, as in the kernel.
func Compile(expr string, linkType LinkType, snaplen int) ([]bpf.RawInstruction, error) {
	return compile(expr, linkType, snaplen, options{})
}

// CompileLive compiles expr for a live Linux AF_PACKET socket (SOCK_RAW)
// on a device of the given link type, as libpcap does for live captures on
// Linux. The difference with Compile is "vlan": the kernel usually removes
// the outermost VLAN tag from the packet before the filter runs and keeps
// it as ancillary data, so, like libpcap, the program tests for the tag
// there (SKF_AD_VLAN_TAG_PRESENT, and SKF_AD_VLAN_TAG for "vlan N") or, if
// absent, in the packet, and everything after the outermost "vlan" is read
// at an offset known only at run time (4 bytes further when the tag was in
// the packet). Inner tags ("vlan 100 and vlan 200") are always in the
// packet. Such programs only run in the kernel: Match cannot evaluate
// them.
func CompileLive(expr string, linkType LinkType, snaplen int) ([]bpf.RawInstruction, error) {
	return compile(expr, linkType, snaplen, options{mode: modeLive})
}

// CompileCookedSocket compiles expr for a Linux AF_PACKET socket of type
// SOCK_DGRAM (the "cooked" mode libpcap uses for the "any" device). Such a
// socket's filter runs on the network-layer packet, without the link-layer
// header: attaching a LinuxSLL program there would read the wrong bytes.
// The program matches exactly the packets Compile(expr, LinuxSLL, snaplen)
// matches once they are given a Linux cooked header: offsets are moved 16
// bytes back, the cooked header's packet type and protocol are read from
// the kernel's ancillary data (SKF_AD_PKTTYPE, SKF_AD_PROTOCOL), "len"
// counts the 16 header bytes, and expressions that read other header bytes
// (ether[2] for instance) are errors. Like inbound on Ethernet, such
// programs only run in the kernel: Match cannot evaluate them.
func CompileCookedSocket(expr string, snaplen int) ([]bpf.RawInstruction, error) {
	return compile(expr, LinuxSLL, snaplen, options{cooked: true})
}

type options struct {
	mode        mode
	cooked      bool
	libpcapArth bool     // tests: libpcap's arithmetic protocol tests
	names       resolver // nil: defaultNames
	nullBE      bool     // DLT_NULL from a big-endian machine
}

func compile(expr string, linkType LinkType, snaplen int, o options) (prog []bpf.RawInstruction, err error) {
	if snaplen <= 0 {
		snaplen = DefaultSnaplen
	}
	c, err := newCompiler(linkType)
	if err != nil {
		return nil, fmt.Errorf("bpf: %v", err)
	}
	c.libpcapArth, c.cooked, c.mode, c.names, c.nullBE = o.libpcapArth, o.cooked, o.mode, o.names, o.nullBE
	if c.names == nil {
		c.names = defaultNames
	}
	defer func() {
		if r := recover(); r != nil {
			ce, ok := r.(compileError)
			if !ok {
				panic(r)
			}
			prog, err = nil, fmt.Errorf("bpf: filter %s: %v", quoteExpr(expr), ce.err)
		}
	}()
	root, err := c.parse(expr)
	if err != nil {
		return nil, fmt.Errorf("bpf: filter %s: %v", quoteExpr(expr), err)
	}
	prog, err = assemble(root, uint32(snaplen), c.cooked, c.noOptimize, c.vlanPrologue())
	if err != nil {
		return nil, fmt.Errorf("bpf: filter %s: %v", quoteExpr(expr), err)
	}
	return prog, nil
}

// quoteExpr quotes an expression for an error message, shortening long ones.
func quoteExpr(expr string) string {
	const max = 100
	if len(expr) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(expr[cut]) {
			cut--
		}
		return strconv.Quote(expr[:cut]) + "..."
	}
	return strconv.Quote(expr)
}

// Match runs prog on pkt in the golang.org/x/net/bpf virtual machine and
// reports whether the packet is accepted (the program returns a non-zero
// length). Programs that use Linux ancillary data (inbound/outbound on
// Ethernet) cannot run outside the kernel and give an error.
func Match(prog []bpf.RawInstruction, pkt []byte) (bool, error) {
	vm, err := newVM(prog)
	if err != nil {
		return false, err
	}
	n, err := vm.Run(pkt)
	if err != nil {
		return false, fmt.Errorf("bpf: %v", err)
	}
	return n > 0, nil
}

func newVM(prog []bpf.RawInstruction) (*bpf.VM, error) {
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		return nil, errors.New("bpf: program contains instructions golang.org/x/net/bpf cannot decode")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		return nil, fmt.Errorf("bpf: %v", err)
	}
	return vm, nil
}
