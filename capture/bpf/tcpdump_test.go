package bpf

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// Differential test: every expression below is compiled by this package and
// by tcpdump (libpcap), for each link type, and both programs are run over
// the same packets in golang.org/x/net/bpf's VM. The accept/reject decisions
// must be identical for every packet. Programs are not compared textually:
// libpcap's optimiser legitimately produces different code.

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

var tcpdumpLinkNames = map[LinkType]string{Ethernet: "EN10MB", LinuxSLL: "LINUX_SLL", LinuxSLL2: "LINUX_SLL2", Raw: "RAW"}

func findTcpdump() string {
	for _, p := range []string{"/usr/sbin/tcpdump", "/usr/bin/tcpdump"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("tcpdump"); err == nil {
		return p
	}
	return ""
}

// tcpdumpCompile returns libpcap's program for expr from "tcpdump -ddd",
// or the error message tcpdump printed.
func tcpdumpCompile(tcpdump, expr string, lt LinkType) ([]bpf.RawInstruction, string, error) {
	cmd := exec.Command(tcpdump, "-ddd", "-y", tcpdumpLinkNames[lt], "-s", "262144", "--", expr)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); ok {
			return nil, strings.TrimSpace(stderr.String()), nil
		}
		return nil, "", err
	}
	prog, err := parseDDD(stdout.String())
	return prog, "", err
}

// parseDDD parses tcpdump -ddd output: the instruction count, then one
// "code jt jf k" line per instruction.
func parseDDD(out string) ([]bpf.RawInstruction, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	if !sc.Scan() {
		return nil, fmt.Errorf("empty tcpdump output")
	}
	n, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
	if err != nil {
		return nil, fmt.Errorf("bad instruction count %q", sc.Text())
	}
	var prog []bpf.RawInstruction
	for sc.Scan() {
		var op, jt, jf, k uint64
		if _, err := fmt.Sscanf(sc.Text(), "%d %d %d %d", &op, &jt, &jf, &k); err != nil {
			return nil, fmt.Errorf("bad instruction %q: %v", sc.Text(), err)
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(op), Jt: uint8(jt), Jf: uint8(jf), K: uint32(k)})
	}
	if len(prog) != n {
		return nil, fmt.Errorf("tcpdump announced %d instructions, printed %d", n, len(prog))
	}
	return prog, nil
}

// diffPackets returns the packets for a link type: generated frames (the
// same logical packets for every link type) and the capture corpus.
func diffPackets(lt LinkType, frames [][]byte, corpus map[LinkType][][]byte) [][]byte {
	r := rand.New(rand.NewPCG(uint64(lt), 99))
	pkts := make([][]byte, 0, len(frames)+len(corpus[Ethernet]))
	for _, f := range frames {
		pkts = append(pkts, toLink(f, lt, uint8(r.IntN(5))))
	}
	for _, f := range corpus[Ethernet] {
		pkts = append(pkts, toLink(f, lt, uint8(r.IntN(5))))
	}
	if lt != Ethernet {
		pkts = append(pkts, corpus[lt]...)
	}
	return pkts
}

// readCorpus reads /work/shared/corpus/*.pcap (or $HTTPLIFE_CORPUS) by link
// type. A missing corpus is not an error: the generated packets remain.
func readCorpus(t testing.TB) map[LinkType][][]byte {
	dir := os.Getenv("HTTPLIFE_CORPUS")
	if dir == "" {
		dir = "/work/shared/corpus"
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
	out := map[LinkType][][]byte{}
	for _, fn := range files {
		f, err := os.Open(fn)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(f)
		if err != nil {
			f.Close()
			t.Logf("skipping %s: %v", fn, err)
			continue
		}
		lt := LinkType(r.LinkType())
		for {
			data, _, err := r.ReadPacketData()
			if err != nil {
				break
			}
			out[lt] = append(out[lt], append([]byte(nil), data...))
		}
		f.Close()
	}
	return out
}

// tcpdumpEquivalent lists expressions where this compiler deliberately
// differs from libpcap 1.10, with the expression whose tcpdump program must
// decide like ours.
//
// libpcap's gen_arth() keeps only the protocol tests of the LEFT operand of
// an arithmetic operator, so in "ip[2:2] - tcp[12]" nothing checks that the
// packet is TCP before reading tcp[12] (it reads whatever follows the IPv4
// header). We keep the tests of both operands.
var tcpdumpEquivalent = map[string]string{
	"ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) != 0": "ip proto 6 and ip[6:2] & 0x1fff = 0 and (ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) != 0)",
	"ip[0] + udp[0] = 0x45":  "ip proto 17 and ip[6:2] & 0x1fff = 0 and ip[0] + udp[0] = 0x45",
	"len - tcp[0] > 100":     "ip proto 6 and ip[6:2] & 0x1fff = 0 and len - tcp[0] > 100",
	"ip6[0] & icmp6[0] != 0": "ip6[6] = 58 and ip6[0] & icmp6[0] != 0",
	"0 % ip[1] = 0":          "ip",
}

func TestDifferentialTcpdump(t *testing.T) {
	tcpdump := findTcpdump()
	if tcpdump == "" {
		t.Skip("tcpdump not installed (apt-get install tcpdump to run the differential test)")
	}
	if out, err := exec.Command(tcpdump, "--version").CombinedOutput(); err == nil {
		t.Logf("%s", strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "; "))
	}
	if _, msg, err := tcpdumpCompile(tcpdump, "ip", Ethernet); err != nil || msg != "" {
		t.Skipf("tcpdump cannot compile filters offline here (%v %s)", err, msg)
	}
	g := &packetGen{r: rand.New(rand.NewPCG(1, 2))}
	nFrames, nTrunc := 3000, 60
	if testing.Short() {
		nFrames, nTrunc = 500, 10
	}
	if os.Getenv("BPF_DIFF_LONG") != "" {
		nFrames, nTrunc = 20000, 500
	}
	var frames [][]byte
	for range nFrames {
		frames = append(frames, g.frame())
	}
	frames = append(frames, semanticFrames()...)
	// Every truncation of some frames: classic BPF rejects a packet when a
	// load falls outside it, so which loads run, and in which order, is
	// observable there.
	for range nTrunc {
		f := g.frame()
		for n := range f {
			frames = append(frames, f[:n])
		}
	}
	corpus := readCorpus(t)
	t.Logf("%d generated packets; corpus: %d Ethernet packets, %d Linux cooked v2 packets",
		len(frames), len(corpus[Ethernet]), len(corpus[LinuxSLL2]))
	links := []LinkType{Ethernet, LinuxSLL, LinuxSLL2, Raw}
	pkts := map[LinkType][][]byte{}
	for _, lt := range links {
		pkts[lt] = diffPackets(lt, frames, corpus)
	}

	var jobs []*diffJob
	for _, lt := range links {
		for _, e := range diffExprs {
			te := e
			if eq, ok := tcpdumpEquivalent[e]; ok {
				te = eq
			}
			jobs = append(jobs, &diffJob{lt: lt, expr: e, tcpdumpExpr: te})
			if te != e {
				// Also compare the libpcap-compatible arithmetic exactly.
				jobs = append(jobs, &diffJob{lt: lt, expr: e, tcpdumpExpr: e, compat: true})
			}
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2*runtime.GOMAXPROCS(0))
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			j.theirs, j.theirErr, j.fatal = tcpdumpCompile(tcpdump, j.tcpdumpExpr, j.lt)
			var err error
			if j.ours, err = compile(j.expr, j.lt, DefaultSnaplen, j.compat, false); err != nil {
				j.ourErr = err.Error()
			}
			j.run(pkts[j.lt])
		}()
	}
	wg.Wait()

	var compared, runs, bothErr, kernelOnly, skipped int
	for _, j := range jobs {
		name := fmt.Sprintf("%s/%q", tcpdumpLinkNames[j.lt], j.expr)
		if j.compat {
			name += "(libpcap arithmetic)"
		}
		switch {
		case j.fatal != nil:
			t.Fatalf("%s: running tcpdump: %v", name, j.fatal)
		case j.kernelOK:
			kernelOnly++
		case j.compared:
			compared++
			runs += len(pkts[j.lt])
			if len(j.fails) > 0 {
				t.Errorf("%s: decisions differ from tcpdump's:\n%s\nours:\n%s\ntcpdump's (%q):\n%s",
					name, strings.Join(j.fails, "\n"), disasm(j.ours), j.tcpdumpExpr, disasm(j.theirs))
			}
		case j.theirErr != "" && j.ourErr != "":
			bothErr++
			if testing.Verbose() {
				t.Logf("%s: rejected by both: tcpdump: %s; ours: %s", name, j.theirErr, j.ourErr)
			}
		case j.theirErr != "" && strings.Contains(j.expr, "\\") && strings.Contains(j.theirErr, "unknown"):
			skipped++ // tcpdump resolves protocol names through /etc/protocols, which may be missing
			t.Logf("%s: skipped, tcpdump says %s", name, j.theirErr)
		case j.theirErr != "":
			t.Errorf("%s: tcpdump rejects the expression (%s) but we compiled it:\n%s", name, j.theirErr, disasm(j.ours))
		case j.ourErr != "":
			t.Errorf("%s: we reject the expression (%s) but tcpdump compiles it:\n%s", name, j.ourErr, disasm(j.theirs))
		default:
			t.Errorf("%s: not compared: %v", name, j.fails)
		}
	}
	t.Logf("%d (expression, link type) pairs compared with tcpdump, %d packet decisions in all (%d, %d, %d, %d packets for Ethernet, SLL, SLL2, raw): %d pairs rejected by both, %d kernel-only, %d skipped",
		compared, runs, len(pkts[Ethernet]), len(pkts[LinuxSLL]), len(pkts[LinuxSLL2]), len(pkts[Raw]), bothErr, kernelOnly, skipped)
}

type diffJob struct {
	lt                 LinkType
	compat             bool // compiled like libpcap's gen_arth
	tolerateOOB        bool // ignore differences on packets where a program loads past the end
	expr, tcpdumpExpr  string
	ours, theirs       []bpf.RawInstruction
	ourErr, theirErr   string
	fatal              error
	compared, kernelOK bool
	fails              []string
}

// run compares the decisions of the two programs over pkts.
func (j *diffJob) run(pkts [][]byte) {
	rejectsAll := strings.Contains(j.theirErr, "rejects all packets")
	if j.fatal != nil || j.ourErr != "" || (j.theirErr != "" && !rejectsAll) {
		return
	}
	ourVM, err := newVM(j.ours)
	if err != nil {
		if strings.Contains(err.Error(), "extension") {
			j.kernelOK = true // inbound/outbound on Ethernet or raw IP: kernel ancillary data
			return
		}
		j.fails = append(j.fails, fmt.Sprintf("our program does not load in the VM: %v", err))
		j.compared = true
		return
	}
	var theirVM *bpf.VM // nil: tcpdump says it rejects everything
	if insns, _ := bpf.Disassemble(j.theirs); slices.ContainsFunc(insns, func(i bpf.Instruction) bool { _, ok := i.(bpf.NegateA); return ok }) {
		j.kernelOK = true // unary minus: x/net/bpf's VM has no NEG
		return
	}
	if !rejectsAll {
		if theirVM, err = newVM(j.theirs); err != nil {
			j.fails = append(j.fails, fmt.Sprintf("tcpdump's program does not load in the VM: %v", err))
			j.compared = true
			return
		}
	}
	j.compared = true
	for k, p := range pkts {
		n, err := ourVM.Run(p)
		if err != nil {
			j.fails = append(j.fails, fmt.Sprintf("packet %d: our program: %v", k, err))
			return
		}
		want := false
		if theirVM != nil {
			m, err := theirVM.Run(p)
			if err != nil {
				j.fails = append(j.fails, fmt.Sprintf("packet %d: tcpdump's program: %v", k, err))
				return
			}
			want = m > 0
		}
		if got := n > 0; got != want {
			_, oobOurs := traceRun(j.ours, p)
			_, oobTheirs := traceRun(j.theirs, p)
			if j.tolerateOOB && (oobOurs || oobTheirs) {
				continue
			}
			j.fails = append(j.fails, fmt.Sprintf("packet %d (%d bytes) % x: got match=%v, tcpdump %v (load past the end: ours %v, tcpdump's %v)",
				k, len(p), p, got, want, oobOurs, oobTheirs))
			if len(j.fails) >= 3 {
				return
			}
		}
	}
}

// disasm renders a program for failure messages.
func disasm(prog []bpf.RawInstruction) string {
	if prog == nil {
		return "  (none)"
	}
	var b strings.Builder
	for i, ri := range prog {
		fmt.Fprintf(&b, "  %3d: %v\n", i, ri.Disassemble())
	}
	return b.String()
}

// traceRun interprets prog like the kernel and x/net/bpf do, and also
// reports whether the program stopped on a load outside the packet.
func traceRun(prog []bpf.RawInstruction, pkt []byte) (accept, oob bool) {
	return traceRunAnc(prog, pkt, nil)
}

// traceRunAnc is traceRun with Linux ancillary data for the
// SKF_AD_OFF+n loads (n is the key).
func traceRunAnc(prog []bpf.RawInstruction, pkt []byte, anc map[bpf.Extension]uint32) (accept, oob bool) {
	insns, _ := bpf.Disassemble(prog)
	var a, x uint32
	var mem [16]uint32
	load := func(off uint32, size int) (uint32, bool) {
		end := uint64(off) + uint64(size)
		if end > uint64(len(pkt)) {
			return 0, false
		}
		var v uint32
		for _, b := range pkt[off:end] {
			v = v<<8 | uint32(b)
		}
		return v, true
	}
	for pc := 0; pc < len(insns); pc++ {
		ok := true
		switch ins := insns[pc].(type) {
		case bpf.LoadAbsolute:
			a, ok = load(ins.Off, ins.Size)
		case bpf.LoadIndirect:
			a, ok = load(ins.Off+x, ins.Size)
		case bpf.LoadMemShift:
			var v uint32
			v, ok = load(ins.Off, 1)
			x = (v & 0xf) * 4
		case bpf.LoadConstant:
			if ins.Dst == bpf.RegA {
				a = ins.Val
			} else {
				x = ins.Val
			}
		case bpf.LoadExtension:
			if ins.Num == bpf.ExtLen {
				a = uint32(len(pkt))
			} else {
				v, found := anc[ins.Num]
				if !found {
					panic(fmt.Sprintf("no ancillary value for extension %d", ins.Num))
				}
				a = v
			}
		case bpf.LoadScratch:
			if ins.Dst == bpf.RegA {
				a = mem[ins.N]
			} else {
				x = mem[ins.N]
			}
		case bpf.StoreScratch:
			if ins.Src == bpf.RegA {
				mem[ins.N] = a
			} else {
				mem[ins.N] = x
			}
		case bpf.ALUOpConstant:
			a = foldOp(ins.Op, a, ins.Val)
		case bpf.ALUOpX:
			if x == 0 && (ins.Op == bpf.ALUOpDiv || ins.Op == bpf.ALUOpMod) {
				return false, false
			}
			if (ins.Op == bpf.ALUOpShiftLeft || ins.Op == bpf.ALUOpShiftRight) && x > 31 {
				a = 0
			} else {
				a = foldOp(ins.Op, a, x)
			}
		case bpf.TAX:
			x = a
		case bpf.TXA:
			a = x
		case bpf.Jump:
			pc += int(ins.Skip)
		case bpf.JumpIf:
			pc += jumpSkip(ins.Cond, a, ins.Val, ins.SkipTrue, ins.SkipFalse)
		case bpf.JumpIfX:
			pc += jumpSkip(ins.Cond, a, x, ins.SkipTrue, ins.SkipFalse)
		case bpf.RetConstant:
			return ins.Val > 0, false
		case bpf.RetA:
			return a > 0, false
		}
		if !ok {
			return false, true
		}
	}
	return false, false
}

func jumpSkip(c bpf.JumpTest, a, v uint32, st, sf uint8) int {
	var t bool
	switch c {
	case bpf.JumpEqual:
		t = a == v
	case bpf.JumpNotEqual:
		t = a != v
	case bpf.JumpGreaterThan:
		t = a > v
	case bpf.JumpLessThan:
		t = a < v
	case bpf.JumpGreaterOrEqual:
		t = a >= v
	case bpf.JumpLessOrEqual:
		t = a <= v
	case bpf.JumpBitsSet:
		t = a&v != 0
	case bpf.JumpBitsNotSet:
		t = a&v == 0
	}
	if t {
		return int(st)
	}
	return int(sf)
}
