package bpf

// Expressions for the differential tests (tcpdump_test.go).

// diffExprs exercise the code generator: every primitive and qualifier
// combination, arithmetic corner cases, optimiser-sensitive structures.
var diffExprs = []string{
	"",
	// Protocols.
	"tcp", "udp", "icmp", "ip", "ip6", "arp", "rarp", "sctp", "icmp6", "igmp",
	"ip6 and tcp", "ip and udp", "ip6 and udp or arp", "tcp or udp and not icmp",
	"ip proto 6", "ip6 proto 17", "proto 1", "ip proto \\tcp", "ip6 proto \\ipv6-icmp", "ip proto 47",
	"ether proto 0x806", "ether proto \\ip6",
	// Ports.
	"port 80", "tcp port 80", "udp port 53", "port 80 or 8080", "tcp port 80 or 8080 or 443",
	"src port 80", "dst port 8080", "tcp dst port 443", "src or dst port 22", "src and dst port 80",
	"tcp src port 80 and dst port 8080", "sctp port 9", "port 0x50", "port 65535",
	"portrange 8000-8080", "tcp portrange 8000-8010", "src portrange 80-90", "dst portrange 9000-8000",
	"udp portrange 50-60", "portrange 22", "not portrange 1-1024",
	// Hosts and networks.
	"host 10.0.0.1", "src host 10.0.0.1", "dst host 192.168.1.10", "host 10.0.0.1 or 10.0.0.2",
	"host 10.0.0.1 and 10.0.0.2", "ip host 10.0.0.1", "arp host 10.0.0.1", "rarp src host 10.0.0.2",
	"src and dst host 10.0.0.1", "src or dst host 1.2.3.4", "host 10",
	"net 10.0.0.0/8", "net 192.168.0.0 mask 255.255.0.0", "src net 10.0.0.0/24", "dst net 192.168",
	"net 10", "net 0.0.0.0/0", "host 192.168.1", "ip net 192.168.0.0/23", "net 10.0.0.0 mask 255.0.255.0",
	"host ::1", "host 2001:db8::1", "src host fe80::1", "net 2001:db8::/32", "dst net fe80::/10",
	"ip6 net ::/0", "ip6 host 2001:db8::2 or 2001:db8::1", "host 10.0.0.1 or ::1", "net ::ffff:0:0/96",
	"ip6 src and dst net 2001:db8::/31", "host ::ffff:10.0.0.1",
	// Boolean structure and qualifier repetition.
	"not tcp", "! ip", "tcp and not port 22", "not (port 80 or port 443)", "!(tcp || udp)",
	"host 10.0.0.1 and (port 80 or 8080)", "host 10.0.0.1 and not 10.0.0.2", "host 10.0.0.1 && ! 10.0.0.2",
	"port 80 and (8080 or 443)", "host 10.0.0.1 and (tcp) or 10.0.0.2", "src host 10.0.0.1 or dst port 80 or 443",
	"tcp port 80 and host 10.0.0.1 or udp and port 53", "not not tcp", "ip and not (ip6 or arp)",
	// VLAN.
	"vlan", "vlan 100", "vlan and tcp port 80", "vlan 100 and host 10.0.0.1", "not vlan and tcp",
	"vlan or tcp", "vlan and vlan and ip", "tcp or vlan and udp", "vlan 200 and vlan 100", "vlan 0 and ip6",
	// Byte offsets and arithmetic.
	"tcp[13] & 2 != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "tcp[tcpflags] == tcp-syn",
	"tcp[tcpflags] & tcp-rst != 0", "ip[0] & 0xf != 5", "ip[2:2] > 100", "ip[6:2] & 0x1fff = 0",
	"udp[8:2] = 0x4854", "icmp[icmptype] = icmp-echo", "icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply",
	"icmp6[icmp6type] = icmp6-echo", "icmp6[0] >= 128", "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
	"ip[9] = 6", "ether[12:2] = 0x800", "ether[0] & 1 != 0", "link[6:4] = 0x02000000", "arp[6:2] = 1",
	"ip6[6] = 6", "ip6[40:2] = 80", "len > 100", "less 80", "greater 200", "len - 14 >= 40", "len <= 64",
	"tcp[0:2] > tcp[2:2]", "ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) != 0",
	"tcp[100] = 1 or udp", "ip[0] ^ 1 & 3 = 1", "ip[0] & 3 ^ 1 = 1", "tcp[13] % 3 = 1", "tcp[13] * 3 % 7 + 1 = 3", "tcp[13] % 3 * 2 = 1", "0 % ip[1] = 0", "tcp[13] / 2 = 1",
	"tcp[2:2] * 2 > 100", "tcp[0] / (tcp[13] & 1) = 0", "tcp[13] & 0 = 0", "tcp[100] = 1 or 1 = 1",
	"udp[0:2] < 1024", "udp[0:2] <= udp[2:2]", "ip[ip[0] & 3] = 0x45", "tcp[tcp[0] & 7:2] > 3",
	"sctp[0:2] = 9", "igmp[0] = 0x11", "ip[16:4] & 0xffffff00 = 0x0a000000", "1 + 2 * 3 = 7",
	"(tcp[13] & 0x12) = 0x12", "ip[2:2] - 20 < 40 and tcp", "ip[0] >> 4 = 4", "ip[8] << 1 > 100",
	"ip[1] | 1 = 1", "ip6[1] - 1 = 0xffffffff", "tcp[0] - 1 > 100",
	// Ethernet addresses.
	"ether host 00:00:00:00:00:00", "ether src 02:00:00:00:00:01", "ether dst 02:00:00:00:00:02 or ether src 02:00:00:00:00:02",
	"ether src and dst ff:ff:ff:ff:ff:ff", "ether host 02-00-00-00-00-01", "ether host 0200.0000.0001",
	"ether dst 020000000002", "ether src 2.0.0.0.0.1",
	"ip[0] + udp[0] = 0x45", "len - tcp[0] > 100", "ip6[0] & icmp6[0] != 0",
	// More combinations.
	"src or dst net 10.0.0.0/8", "ip6 src and dst host ::1", "ether src or dst 02:00:00:00:00:01",
	"host 10.0.0.1 or 10.0.0.2 or 192.168.1.10 or 1.2.3.4", "port 22 or 53 or 80 or 443 or 8080",
	"not port 22 and not port 53", "tcp and port not 80", "host 10.0.0.1 and port 80 or host 10.0.0.2 and port 8080",
	"(host 10.0.0.1 or host 10.0.0.2) and (tcp port 80 or udp port 53)", "vlan and (port 80 or 8080)",
	"vlan 100 or vlan 200", "net 192.168.0.0/16 and not net 192.168.1.0/24", "dst portrange 8000-8080 or src portrange 80-90",
	"ip6 and not ip6 proto 6", "icmp or icmp6", "arp or rarp", "udp and udp[8:4] = 0x48545450",
	"tcp[tcpflags] & (tcp-fin|tcp-rst) != 0 or tcp[tcpflags] = tcp-syn", "ip[2:2] > 40 and ip[2:2] < 100",
	"tcp src port 80 or dst port 80 and host 10.0.0.1", "host 2001:db8::1 and (port 80 or 8080)",
	"ip6 dst host ff02::1 or fe80::1", "greater 100 and less 200", "len = 60", "len != 54 and tcp",
	"ether[6:4] = 0x02000000 and ether[10:2] = 1", "ip and ip[8] < 64", "not vlan", "vlan 100 and tcp[13] & 2 != 0",
	"port 80 and vlan and port 8080", "host 10.0.0.1 and not (10.0.0.2 or 1.2.3.4)", "src host 10.0.0.1 and dst host 10.0.0.2 or 10.0.0.1",
	"port 53 or host 10.0.0.1 or port 80 or host 10.0.0.2", "tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)",
	"icmp[0] = 8 or icmp[0] = 0", "udp port 53 or udp port 5353 or tcp port 53", "ip6 net 2001:db8::/32 and not ip6 net 2001:db8:1::/48",
	// Cooked headers only (errors elsewhere, or kernel-only).
	"inbound", "outbound", "inbound and tcp port 80",
	// Expressions libpcap rejects outright.
	"tcp and udp", "arp and ip6 proto 6",
}

// peopleExprs are filters of the kinds people type: hosts, nets, ports and
// port ranges with src/dst, service, protocol, host and network names,
// and/or/not and parentheses, TCP flags, VLAN, MPLS, PPPoE, Geneve,
// broadcast and multicast, lengths, Ethernet addresses. Names must be in
// the standard /etc files (tcpdump resolves them there too); the ones that
// are errors must be errors for both compilers.
var peopleExprs = []string{
	// Host, service and network names.
	"host localhost", "src host localhost", "dst host localhost and tcp", "ip host localhost", "ip6 host localhost",
	"not host localhost", "arp host localhost", "host localhost and port http", "tcp and not host localhost",
	"port http", "tcp port http", "port https", "port www or port https", "port domain", "udp port domain",
	"tcp port domain or udp port domain", "port ssh", "not port ssh", "tcp dst port www", "src port http-alt",
	"port ntp", "udp port ntp", "udp port bootps or udp port bootpc", "port nfs", "port smtp or port submission",
	"tcp port ftp or ftp-data", "port telnet", "udp port snmp", "port imap or port pop3", "port kerberos",
	"dst port postgres", "tcp port mysql", "port sip", "udp port syslog", "tcp port ntp", "udp port http",
	"port nosuchservice", "portrange ftp-data-http", "portrange ftp-http", "tcp portrange ftp-ssh",
	"portrange 20-http", "udp portrange domain-ntp", "portrange 6000-6010", "src portrange 1-1023",
	"dst portrange http-https", "portrange 80-80", "tcp portrange 8000-8080 and host localhost",
	"net loopback", "net link-local", "src net loopback", "net default", "net nosuchnetwork",
	"ether host nosuchether",
	// Protocol names.
	"ip proto gre", "ip proto \\gre", "proto gre", "ip6 proto gre", "ip proto \\tcp", "proto \\udp", "ip proto esp",
	"ip proto \\ah", "ip proto ospf", "ip proto \\icmp", "ip6 proto \\ipv6-icmp", "proto 47", "ip proto 89",
	"ip proto nosuchproto", "ether proto \\arp", "ether proto \\ip", "ether proto \\ip6", "ether proto \\loopback",
	"ether proto \\aarp", "ether proto \\atalk", "ether proto \\decnet", "ether proto \\stp", "ether proto \\iso",
	"ether proto \\ipx", "ether proto \\netbeui", "ether proto \\sca", "ether proto 0x88cc", "ether proto 66",
	"ether proto 0xfe", "iso proto \\clnp", "iso proto \\esis", "iso proto \\isis", "isis proto 18",
	"pim", "vrrp", "carp", "igrp", "ah", "esp", "ah or esp", "pim or vrrp", "atalk", "aarp", "decnet", "lat", "sca",
	"mopdl", "moprc", "iso", "esis", "isis", "clnp", "stp", "ipx", "netbeui", "l1", "l2", "iih", "lsp", "snp",
	"csnp", "psnp", "radio", "pim[0] = 0x20", "vrrp[0] & 0xf0 = 0x20", "decnet[0] = 1",
	// Broadcast and multicast.
	"broadcast", "ether broadcast", "ip broadcast", "multicast", "ether multicast", "ip multicast",
	"ip6 multicast", "not broadcast and not multicast", "ether dst ff:ff:ff:ff:ff:ff", "ip6 broadcast",
	"tcp broadcast", "udp and ip multicast", "ip and not ip multicast and not ip broadcast", "arp and broadcast",
	// MPLS, PPPoE, Geneve, VLAN.
	"mpls", "mpls 100", "mpls and ip", "mpls 100 and ip6", "mpls and mpls 1000 and ip", "mpls 0 or mpls 1",
	"mpls and tcp port 80", "mpls and host 10.0.0.1", "mpls and net 10.0.0.0/8", "mpls and arp", "mpls and vlan",
	"vlan and mpls", "vlan 100 and mpls 16 and ip", "mpls 1048576", "mpls 1048575", "mpls and mpls and mpls",
	"mpls and ip6 and udp port 53",
	"pppoed", "pppoes", "pppoes 7", "pppoes and ip", "pppoes 0x1234 and tcp port 80", "pppoes and ip6 and udp",
	"pppoes and mpls", "pppoes and host 10.0.0.1", "pppoed or pppoes", "vlan and pppoes and ip", "pppoes and pppoes",
	"pppoes and ether[0] = 1", "pppoes and vlan", "pppoes 65536", "pppoes and ether host 02:00:00:00:00:01",
	"geneve", "geneve 100", "geneve and ip", "geneve and tcp port 80", "geneve 0xffffff and ip6",
	"geneve and ether host 02:00:00:00:00:01", "geneve and vlan and ip", "geneve and udp port 53",
	"geneve and broadcast", "not geneve", "geneve or ip6", "geneve and geneve", "udp port 6081 and geneve 5000",
	"geneve and ether[12:2] = 0x800", "geneve and mpls", "geneve 16777216", "geneve and ip[9] = 6",
	"geneve and tcp[13] & 2 != 0", "tcp[0] = 0 or geneve and ip6",
	"vlan 100 or vlan 200", "vlan 4095", "vlan and vlan 200", "vlan 100 && host 10.0.0.2", "vlan (100)",
	// Lengths, flags, bytes, Ethernet addresses.
	"less 64", "greater 1000", "less 100 and tcp", "greater 64 and udp", "len >= 1000", "length < 100",
	"length > 64 and ip6", "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack = 0",
	"tcp[13] & 2 != 0", "tcp[13] = 18", "tcp[tcpflags] & (tcp-push) != 0 and port 80", "tcp[tcpflags] & (tcp-rst|tcp-fin) != 0 and host localhost",
	"byte 12 = 8", "byte 0 & 1", "byte 23 > 5", "byte 23 < 17", "byte 0 | 0x80", "byte 13 == 0",
	"ether host 02:00:00:00:00:01 and not broadcast", "ether src 02:00:00:00:00:01 and ether dst ff:ff:ff:ff:ff:ff",
	"ether src 02:00:00:00:00:01 or ether src 02:00:00:00:00:02", "not ether src 02:00:00:00:00:01",
	// Combinations.
	"host 10.0.0.1 and not port ssh", "src 10.0.0.1 and dst port http", "dst net 192.168.0.0/16 and tcp dst port https",
	"not (src net 10.0.0.0/8 or dst net 10.0.0.0/8)", "(tcp or udp) and not port domain", "tcp and (port http or port https) and not host localhost",
	"icmp or icmp6 or arp", "ip6 and tcp and port 443", "udp and (port 67 or port 68)", "host 192.168.1.10 and (tcp port 80 or tcp port 443)",
	"src host 10.0.0.1 and dst host 10.0.0.2 and tcp", "tcp port 80 and (tcp[tcpflags] & tcp-syn != 0)",
	"ifindex 2", "inbound and port http", "outbound or udp",
	// Out-of-range numbers libpcap does not refuse.
	"ip proto 300", "ether proto 70000", "proto 256", "ip6 proto 1000 or tcp", "isis proto 300",
}

// linkExprs are compared on every link type (the others only on
// Ethernet): each kind of primitive once or twice.
var linkExprs = []string{
	"", "tcp", "udp", "ip", "ip6", "arp", "icmp", "icmp6", "sctp", "ip proto 47", "ip6 proto 17", "proto 1",
	"ip proto gre", "ether proto \\ip6", "ether proto 0x806", "ether proto 66", "ether proto \\iso", "ether proto \\ipx",
	"ether proto \\atalk", "iso", "stp", "netbeui", "l1", "isis proto 18", "decnet", "pim", "esp",
	"port 80", "tcp port http", "src port 80 and dst portrange 1000-9000", "portrange ftp-http", "port domain",
	"host 10.0.0.1", "host localhost", "src net 10.0.0.0/8", "net loopback", "host ::1", "net 2001:db8::/32",
	"not tcp and not udp", "tcp port 80 and (host 10.0.0.1 or host 10.0.0.2)", "tcp[13] & 2 != 0",
	"tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", "ip[8] < 64", "ip6[6] = 6", "udp[8:2] = 0x4854", "icmp6[0] >= 128",
	"less 80", "greater 200", "len - 14 >= 40", "ether[0] & 1 != 0", "link[0:2] = 0x0800", "byte 0 = 0x45",
	"ether host 02:00:00:00:00:01", "broadcast", "multicast", "ip broadcast", "ip multicast", "ip6 multicast",
	"vlan", "vlan 100 and tcp", "mpls and ip", "pppoes and ip", "pppoed", "geneve and ip", "geneve 100 and tcp port 80",
	"inbound", "outbound and tcp", "ifindex 2",
}
