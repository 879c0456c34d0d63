package bpf

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Names in expressions are resolved the way libpcap resolves them through
// the C library: host names with /etc/hosts first and then DNS (all the
// addresses of a name), service names with /etc/services, protocol names
// with /etc/protocols, network names with /etc/networks and Ethernet host
// names with /etc/ethers.

// resolver looks names up. The package uses sysNames; tests replace it
// with one that never leaves the local files.
type resolver interface {
	// hosts returns all the addresses of a host name, or nil.
	hosts(name string) []net.IP
	// service returns the port of a service name for "tcp" or "udp".
	service(name, proto string) (int, bool)
	// protocol returns the number of an IP protocol name.
	protocol(name string) (int, bool)
	// network returns a network number as inet_network(3) gives it.
	network(name string) (uint32, bool)
	// ether returns the MAC address of an Ethernet host name.
	ether(name string) ([6]byte, bool)
}

// defaultNames is the resolver new compilers use.
var defaultNames resolver = &sysNames{root: "/", dns: true}

// sysNames reads the system databases under root ("/" normally); with dns
// set, host names missing from hosts are looked up with Go's resolver.
type sysNames struct {
	root string
	dns  bool

	once      sync.Once
	hostsDB   []hostEntry
	services  map[string]int // "name/proto"
	protocols map[string]int
	networks  map[string]uint32  // lower-case names
	ethers    map[string][6]byte // lower-case names
}

type hostEntry struct {
	ip    net.IP
	names []string
}

func (s *sysNames) load() {
	s.once.Do(func() {
		s.services = map[string]int{}
		s.protocols = map[string]int{}
		s.networks = map[string]uint32{}
		s.ethers = map[string][6]byte{}
		eachLine(filepath.Join(s.root, "etc/hosts"), func(f []string) {
			ip := net.ParseIP(strings.SplitN(f[0], "%", 2)[0])
			if ip == nil || len(f) < 2 {
				return
			}
			s.hostsDB = append(s.hostsDB, hostEntry{ip: ip, names: f[1:]})
		})
		eachLine(filepath.Join(s.root, "etc/services"), func(f []string) {
			if len(f) < 2 {
				return
			}
			port, proto, ok := strings.Cut(f[1], "/")
			if !ok {
				return
			}
			n, err := strconv.Atoi(port)
			if err != nil || n < 0 || n > 65535 {
				return
			}
			for _, name := range append([]string{f[0]}, f[2:]...) {
				k := name + "/" + proto
				if _, dup := s.services[k]; !dup { // the first entry wins
					s.services[k] = n
				}
			}
		})
		eachLine(filepath.Join(s.root, "etc/protocols"), func(f []string) {
			if len(f) < 2 {
				return
			}
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 0 || n > 255 {
				return
			}
			for _, name := range append([]string{f[0]}, f[2:]...) {
				if _, dup := s.protocols[name]; !dup {
					s.protocols[name] = n
				}
			}
		})
		eachLine(filepath.Join(s.root, "etc/networks"), func(f []string) {
			if len(f) < 2 {
				return
			}
			n, ok := inetNetwork(f[1])
			if !ok {
				return
			}
			for _, name := range append([]string{f[0]}, f[2:]...) {
				if _, dup := s.networks[strings.ToLower(name)]; !dup {
					s.networks[strings.ToLower(name)] = n
				}
			}
		})
		eachLine(filepath.Join(s.root, "etc/ethers"), func(f []string) {
			if len(f) < 2 {
				return
			}
			mac, err := net.ParseMAC(f[0])
			if err != nil || len(mac) != 6 {
				return
			}
			var m [6]byte
			copy(m[:], mac)
			if _, dup := s.ethers[strings.ToLower(f[1])]; !dup {
				s.ethers[strings.ToLower(f[1])] = m
			}
		})
	})
}

// eachLine calls fn with the fields of each non-comment line of a file (a
// missing file has no lines).
func eachLine(path string, fn func(fields []string)) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if fields := strings.Fields(line); len(fields) > 0 {
			fn(fields)
		}
	}
}

func (s *sysNames) hosts(name string) []net.IP {
	if ip, ok := inetAton(name); ok {
		return []net.IP{ip}
	}
	s.load()
	var ips []net.IP
	for _, e := range s.hostsDB {
		for _, n := range e.names {
			if strings.EqualFold(n, name) {
				ips = append(ips, e.ip)
				break
			}
		}
	}
	if len(ips) > 0 || !s.dns {
		return ips
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(context.Background(), name)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		ips = append(ips, a.IP)
	}
	return ips
}

func (s *sysNames) service(name, proto string) (int, bool) {
	if isDecimal(name) {
		return numericService(name), true
	}
	s.load()
	n, ok := s.services[name+"/"+proto]
	return n, ok
}

func (s *sysNames) protocol(name string) (int, bool) {
	s.load()
	n, ok := s.protocols[name]
	return n, ok
}

func (s *sysNames) network(name string) (uint32, bool) {
	s.load()
	n, ok := s.networks[strings.ToLower(name)]
	return n, ok
}

func (s *sysNames) ether(name string) ([6]byte, bool) {
	s.load()
	m, ok := s.ethers[strings.ToLower(name)]
	return m, ok
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// numericService is the port getaddrinfo(3) gives a numeric service: the
// number (saturated at ULONG_MAX by strtoul) truncated to an int and then
// to 16 bits.
func numericService(s string) int {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		v = ^uint64(0)
	}
	return int(uint16(int32(uint32(v))))
}

// parseCNumber parses a number as strtoul(3) with base 0 does for a whole
// string: 0x hex, leading 0 octal, else decimal.
func parseCNumber(s string) (uint64, bool) {
	base := 10
	switch {
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		base, s = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
	}
	v, err := strconv.ParseUint(s, base, 64)
	return v, err == nil
}

// inetAton parses the numeric IPv4 forms inet_aton(3) accepts ("127.1",
// "0x7f000001", "0177.0.0.1"), which getaddrinfo tries before the host
// databases.
func inetAton(s string) (net.IP, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return nil, false
	}
	var vals []uint64
	for _, p := range parts {
		v, ok := parseCNumber(p)
		if !ok || v > 0xffffffff {
			return nil, false
		}
		vals = append(vals, v)
	}
	var a uint64
	last := vals[len(vals)-1]
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return nil, false
		}
		a |= v << (24 - 8*uint(i))
	}
	if last >= 1<<(8*uint(5-len(vals))) && len(vals) > 1 {
		return nil, false
	}
	a |= last
	return net.IPv4(byte(a>>24), byte(a>>16), byte(a>>8), byte(a)).To4(), true
}

// inetNetwork parses a network number as inet_network(3): up to four
// dot-separated numbers (each 0x, 0 or decimal), each part shifted in.
func inetNetwork(s string) (uint32, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return 0, false
	}
	var v uint32
	for _, p := range parts {
		n, ok := parseCNumber(p)
		if !ok || n > 255 {
			return 0, false
		}
		v = v<<8 | uint32(n)
	}
	return v, true
}
