package bpf

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeEtc writes a set of system databases under a temporary root.
func fakeEtc(t *testing.T) *sysNames {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"hosts": `# comment
127.0.0.1	localhost
::1	localhost ip6-localhost
10.0.0.1 alpha alpha.example # trailing comment
2001:db8::1 beta
10.0.0.2 beta
192.168.1.10 Gamma
fe80::1%eth0 linklocal
`,
		"services": `http		80/tcp		www
domain		53/tcp
domain		53/udp
bootps		67/udp
split		8080/tcp
split		9090/udp
dup		1000/tcp
dup		2000/tcp
broken		x/tcp
`,
		"protocols": "tcp\t6\tTCP\ngre\t47\tGRE\nospf 89 OSPFIGP\nbad 300\n",
		"networks":  "loopback\t127.0.0.0\nten 10\nTenOne 10.1\nzero 0.0.0.0\nhexnet 0x0a.2\n",
		"ethers":    "02:00:00:00:00:01 hosta\n02:00:00:00:00:02 HostB\nnonsense line here\n",
	}
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &sysNames{root: root}
}

// Names resolve to what the files say: each expression must decide like
// its numeric equivalent on every packet.
func TestNames(t *testing.T) {
	names := fakeEtc(t)
	tests := []struct {
		expr, numeric string
		lt            LinkType
	}{
		{"host localhost", "host 127.0.0.1 or host ::1", Ethernet},
		{"src host localhost", "src host 127.0.0.1 or src host ::1", Ethernet},
		{"ip host localhost", "ip host 127.0.0.1", Ethernet},
		{"ip6 host localhost", "ip6 host ::1", Ethernet},
		{"host localhost", "ip host 127.0.0.1 or ip6 host ::1", Raw}, // no ARP without a link-layer type
		{"host ip6-localhost", "host ::1", LinuxSLL2},
		{"host beta", "host 2001:db8::1 or host 10.0.0.2", Ethernet},
		{"host ALPHA.example and tcp", "host 10.0.0.1 and tcp", Ethernet},
		{"host gamma", "host 192.168.1.10", Null},
		{"host linklocal", "host fe80::1", Ethernet},
		{"port http", "tcp port 80", Ethernet}, // only a TCP service
		{"port www", "tcp port 80", Ethernet},
		{"port domain", "port 53", Ethernet}, // TCP and UDP: any protocol
		{"udp port domain", "udp port 53", Ethernet},
		{"port bootps", "udp port 67", Ethernet},
		{"port split", "tcp port 8080", Ethernet}, // different ports: TCP's
		{"port dup", "tcp port 1000", Ethernet},   // the first entry wins
		{"portrange http-split", "tcp portrange 80-8080", Ethernet},
		{"portrange domain-http", "portrange 53-80", Ethernet}, // different protocols: any
		{"portrange 50-http", "portrange 50-80", Ethernet},
		{"portrange 100-50", "portrange 50-100", Ethernet},
		{"portrange 7-9-3", "portrange 7-9", Ethernet},         // sscanf reads "%d-%d"
		{"portrange 66000-http", "portrange 464-80", Ethernet}, // getaddrinfo truncates numeric services to 16 bits
		{"ip proto gre", "ip proto 47", Ethernet},
		{"proto \\GRE", "proto 47", Ethernet},
		{"ip6 proto ospf", "ip6 proto 89", Ethernet},
		{"ether proto \\ip6", "ip6", Ethernet},
		{"ether proto \\stp", "stp", Ethernet},
		{"net loopback", "host 127.0.0.0", Ethernet}, // a whole-address network number: libpcap masks nothing
		{"net ten", "net 10.0.0.0/8", Ethernet},
		{"net tenone", "net 10.1.0.0/16", Ethernet}, // names are case-insensitive
		{"net hexnet", "net 10.2.0.0/16", Ethernet},
		{"ether host hosta", "ether host 02:00:00:00:00:01", Ethernet},
		{"ether src hostb", "ether src 02:00:00:00:00:02", Ethernet},
	}
	g := &packetGen{r: rand.New(rand.NewPCG(11, 12))}
	var frames [][]byte
	for range 3000 {
		frames = append(frames, g.frame())
	}
	frames = append(frames, semanticFrames()...)
	for _, tc := range tests {
		prog, err := compile(tc.expr, tc.lt, 0, options{names: names})
		if err != nil {
			t.Errorf("%v: %q: %v", tc.lt, tc.expr, err)
			continue
		}
		want, err := compile(tc.numeric, tc.lt, 0, options{names: names})
		if err != nil {
			t.Fatalf("%v: %q: %v", tc.lt, tc.numeric, err)
		}
		f, _ := NewFilterProgram(prog)
		w, _ := NewFilterProgram(want)
		matched := 0
		for _, fr := range frames {
			p := toLink(fr, tc.lt, 0)
			got, exp := f.Match(p, len(p)), w.Match(p, len(p))
			if got != exp {
				t.Errorf("%v: %q on % x: got %v, %q says %v\n%s", tc.lt, tc.expr, p, got, tc.numeric, exp, disasm(prog))
				break
			}
			if got {
				matched++
			}
		}
		if matched == 0 && !strings.Contains(tc.expr, "hexnet") && !strings.Contains(tc.expr, "dup") {
			t.Errorf("%v: %q matched none of %d packets: the test does not test it", tc.lt, tc.expr, len(frames))
		}
	}

	errs := []struct{ expr, want string }{
		{"host nosuch", "unknown host 'nosuch'"},
		{"ip6 host alpha", "unknown host 'alpha' for specified address family"},
		{"arp host localhost", "'arp' modifier applied to ip6 host"},
		{"arp host alpha", ""},
		{"tcp host localhost", "'tcp' modifier applied to host"},
		{"udp port http", "port 'http' is tcp"},
		{"tcp port bootps", "port 'bootps' is udp"},
		{"sctp port domain", "port 'domain' is"}, // neither: any protocol is fine
		{"udp portrange http-split", "port in range 'http-split' is tcp"},
		{"port broken", "unknown port 'broken'"},
		{"portrange http", "unknown port in range 'http'"},
		{"ip proto bad", "unknown ip proto 'bad'"},
		{"ether proto \\gre", "unknown ether proto 'gre'"},
		{"net zero", "unknown network 'zero'"}, // network 0 is "unknown" for libpcap
		{"ether host nosuch", "unknown ether host 'nosuch'"},
		{"ether host hosta", ""},
	}
	for _, tc := range errs {
		_, err := compile(tc.expr, Ethernet, 0, options{names: names})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.expr, err)
		case tc.expr == "sctp port domain":
			if err != nil {
				t.Errorf("%q: %v (a service of both TCP and UDP goes with sctp)", tc.expr, err)
			}
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: got error %v, want %q", tc.expr, err, tc.want)
		}
	}
}

func TestInetAton(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for not numeric
	}{
		{"127.0.0.1", "127.0.0.1"}, {"127.1", "127.0.0.1"}, {"0x7f000001", "127.0.0.1"}, {"0177.0.0.1", "127.0.0.1"},
		{"10.65535", "10.0.255.255"}, {"10.65536", "10.1.0.0"}, {"10.16777216", ""}, {"1.2.3.256", ""}, {"1.2.3.4.5", ""}, {"localhost", ""},
		{"1..2", ""}, {"08", ""}, {"4294967295", "255.255.255.255"}, {"4294967296", ""},
	}
	for _, tc := range tests {
		ip, ok := inetAton(tc.in)
		got := ""
		if ok {
			got = ip.String()
		}
		if got != tc.want {
			t.Errorf("inetAton(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want uint32
		ok   bool
	}{{"127.0.0.0", 0x7f000000, true}, {"10", 10, true}, {"10.1", 0x0a01, true}, {"0x0a.2", 0x0a02, true}, {"1.256", 0, false}, {"a", 0, false}} {
		got, ok := inetNetwork(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("inetNetwork(%q) = %#x, %v; want %#x, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if n := numericService("70000"); n != 4464 {
		t.Errorf("numericService(70000) = %d, want 4464", n)
	}
	if n := numericService("99999999999999999999999"); n != 65535 {
		t.Errorf("numericService(huge) = %d, want 65535", n)
	}
}
