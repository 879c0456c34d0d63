package bpf

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// Differential test: every expression is compiled by this package
// (NewFilter, the file semantics) and by tcpdump -r on an empty capture
// file of each link type, and both programs are run over the same packets:
// generated ones and those of every capture in samples/ and the shared
// corpus. The accept/reject decisions must be identical for every packet,
// and the Filter interpreter must agree with golang.org/x/net/bpf's VM on
// both programs. Programs are not compared textually: libpcap's optimiser
// legitimately produces different code.

// target is a link type as the differential test compiles for it.
type target struct {
	name string   // for messages: tcpdump's name of the link type
	lt   LinkType // ours
	file uint32   // the LINKTYPE_ value in the capture file tcpdump reads
	be   bool     // a big-endian capture file (NULL: the address family too)
}

var targets = []target{
	{"EN10MB", Ethernet, 1, false},
	{"LINUX_SLL", LinuxSLL, 113, false},
	{"LINUX_SLL2", LinuxSLL2, 276, false},
	{"RAW", Raw, 101, false},
	{"NULL", Null, 0, false},
	{"NULL-BE", Null, 0, true},
	{"LOOP", Loop, 108, false},
	{"IPV4", IPv4, 228, false},
	{"IPV6", IPv6, 229, false},
}

var tcpdumpLinkNames = map[LinkType]string{Ethernet: "EN10MB", LinuxSLL: "LINUX_SLL", LinuxSLL2: "LINUX_SLL2", Raw: "RAW"}

// findTcpdump returns tcpdump's path, or "" to skip the tests that need it
// (BPF_TCPDUMP=none pretends it is missing, BPF_TCPDUMP=path chooses one).
func findTcpdump() string {
	switch v := os.Getenv("BPF_TCPDUMP"); v {
	case "":
	case "none":
		return ""
	default:
		return v
	}
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

// tdResult is what tcpdump -ddd gave for an expression: a program, or the
// error message it printed (msg), or a failure to run it (err).
type tdResult struct {
	prog []bpf.RawInstruction
	msg  string
	err  error
}

// tdCache holds tcpdump's answers for the whole test run: each
// (arguments, expression) is compiled once, whichever test asks.
var tdCache sync.Map // string -> *tdEntry

type tdEntry struct {
	once sync.Once
	res  tdResult
}

// tdPool bounds the tcpdump processes running at once.
var tdPool = make(chan struct{}, 6)

// runTcpdump returns tcpdump's program for expr with the given arguments
// before the expression ("-y", "EN10MB" or "-r", file or "-i", "lo").
func runTcpdump(tcpdump string, args []string, expr string) tdResult {
	key := strings.Join(args, "\x00") + "\x01" + expr
	e, _ := tdCache.LoadOrStore(key, &tdEntry{})
	ent := e.(*tdEntry)
	ent.once.Do(func() {
		tdPool <- struct{}{}
		defer func() { <-tdPool }()
		cmd := exec.Command(tcpdump, append(append([]string{"-ddd", "-s", "262144"}, args...), "--", expr)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			if _, ok := err.(*exec.ExitError); ok {
				ent.res = tdResult{msg: lastLine(stderr.String())}
				return
			}
			ent.res = tdResult{err: err}
			return
		}
		prog, err := parseDDD(stdout.String())
		ent.res = tdResult{prog: prog, err: err}
	})
	return ent.res
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// tcpdumpCompile is tcpdump -y LINKTYPE: the generic (not savefile)
// semantics of Compile.
func tcpdumpCompile(tcpdump, expr string, lt LinkType) ([]bpf.RawInstruction, string, error) {
	r := runTcpdump(tcpdump, []string{"-y", tcpdumpLinkNames[lt]}, expr)
	return r.prog, r.msg, r.err
}

var (
	emptyFilesOnce sync.Once
	emptyFilesDir  string
	emptyFilesErr  error
)

// emptyCapture returns the path of a capture file with no packets for
// target tg, for tcpdump -r.
func emptyCapture(tg target) (string, error) {
	emptyFilesOnce.Do(func() {
		emptyFilesDir, emptyFilesErr = os.MkdirTemp("", "bpf-tcpdump-")
		if emptyFilesErr != nil {
			return
		}
		for _, t := range targets {
			var order binary.ByteOrder = binary.LittleEndian
			if t.be {
				order = binary.BigEndian
			}
			h := make([]byte, 24)
			order.PutUint32(h[0:], 0xa1b2c3d4)
			order.PutUint16(h[4:], 2)
			order.PutUint16(h[6:], 4)
			order.PutUint32(h[16:], 262144)
			order.PutUint32(h[20:], t.file)
			if emptyFilesErr = os.WriteFile(filepath.Join(emptyFilesDir, t.name+".pcap"), h, 0o644); emptyFilesErr != nil {
				return
			}
		}
	})
	return filepath.Join(emptyFilesDir, tg.name+".pcap"), emptyFilesErr
}

func removeEmptyCaptures() {
	if emptyFilesDir != "" {
		os.RemoveAll(emptyFilesDir)
	}
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

// Captures.

// repoRoot finds the repository root from the package directory.
func repoRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// captureDirs are the directories whose captures the differential test
// reads: samples/ (recursively) and the shared corpus, when present.
func captureDirs() []string {
	root := repoRoot()
	dirs := []string{filepath.Join(root, "samples")}
	if d := os.Getenv("HTTPLIFE_CORPUS"); d != "" {
		return append(dirs, d)
	}
	for _, d := range []string{filepath.Join(root, "..", "shared", "corpus"), "/work/shared/corpus"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return append(dirs, d)
		}
	}
	return dirs
}

// capturedPackets holds the packets of a set of capture files by link
// type, and how many files were read.
type capturedPackets struct {
	byLink map[LinkType][][]byte
	files  int
}

var (
	capturesOnce sync.Once
	captures     capturedPackets
)

func readCaptures(t testing.TB) capturedPackets {
	capturesOnce.Do(func() {
		captures.byLink = map[LinkType][][]byte{}
		for _, dir := range captureDirs() {
			filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".pcap") || strings.HasSuffix(path, ".pcapng")) {
					return nil
				}
				lt, pkts, err := readCaptureFile(path)
				if err != nil {
					t.Logf("skipping %s: %v", path, err)
					return nil
				}
				captures.files++
				captures.byLink[lt] = append(captures.byLink[lt], pkts...)
				return nil
			})
		}
	})
	return captures
}

func readCaptureFile(path string) (LinkType, [][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	var lt LinkType
	var next func() ([]byte, error)
	if strings.HasSuffix(path, ".pcapng") {
		ng, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return 0, nil, err
		}
		lt = LinkType(ng.LinkType())
		next = func() ([]byte, error) { d, _, err := ng.ReadPacketData(); return d, err }
	} else {
		pr, err := pcapgo.NewReader(f)
		if err != nil {
			return 0, nil, err
		}
		lt = LinkType(pr.LinkType())
		next = func() ([]byte, error) { d, _, err := pr.ReadPacketData(); return d, err }
	}
	var pkts [][]byte
	for {
		d, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return lt, pkts, nil // a truncated capture: keep what was read
		}
		pkts = append(pkts, append([]byte(nil), d...))
	}
	return lt, pkts, nil
}

// convert returns an Ethernet frame as the target's link type carries it.
func convert(frame []byte, tg target, choice uint8) []byte {
	if tg.lt == Null && len(frame) < 14 {
		// Give short frames an address family in the file's byte order
		// too: a Filter picks the program by the order the packet's
		// family is written in, tcpdump takes the file's.
		frame = append(binary.BigEndian.AppendUint16(make([]byte, 12), []uint16{ethIPv4, ethIPv6, 0x88cc}[choice%3]), frame...)
	}
	if tg.lt == Null && tg.be {
		return toNullBE(frame, choice)
	}
	return toLink(frame, tg.lt, choice)
}

// targetPackets returns the packets for a target: the generated frames and
// the captured Ethernet frames converted to its link type, plus the
// captures of that link type, without duplicates.
func targetPackets(tg target, frames [][]byte, caps capturedPackets) [][]byte {
	r := rand.New(rand.NewPCG(uint64(tg.lt)+uint64(len(tg.name)), 99))
	seen := map[string]bool{}
	var pkts [][]byte
	add := func(p []byte) {
		if !seen[string(p)] {
			seen[string(p)] = true
			pkts = append(pkts, p)
		}
	}
	for _, f := range frames {
		add(convert(f, tg, uint8(r.IntN(5))))
	}
	for _, f := range caps.byLink[Ethernet] {
		add(convert(f, tg, uint8(r.IntN(5))))
	}
	if tg.lt != Ethernet && !tg.be {
		for _, p := range caps.byLink[tg.lt] {
			add(p)
		}
	}
	return pkts
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
	// libpcap's "byte N & M" and "byte N | M" never load byte N: they test
	// whatever A holds. Here they test the byte.
	"byte 0 & 1":    "ether[0] & 1 != 0",
	"byte 0 | 0x80": "ether[0] | 0x80 != 0",
}

// allExprs is every expression of the differential test, once.
func allExprs() []string {
	var out []string
	seen := map[string]bool{}
	for _, list := range [][]string{diffExprs, peopleExprs, linkExprs} {
		for _, e := range list {
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	return out
}

func TestDifferentialTcpdump(t *testing.T) {
	tcpdump := findTcpdump()
	if tcpdump == "" {
		t.Skip("tcpdump not installed (apt-get install tcpdump to run the differential test)")
	}
	if out, err := exec.Command(tcpdump, "--version").CombinedOutput(); err == nil {
		t.Logf("%s", strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "; "))
	}
	if _, err := emptyCapture(targets[0]); err != nil {
		t.Fatal(err)
	}
	if r := runTcpdump(tcpdump, []string{"-r", filepath.Join(emptyFilesDir, "EN10MB.pcap")}, "ip"); r.err != nil || r.msg != "" {
		t.Skipf("tcpdump cannot compile filters for capture files here (%v %s)", r.err, r.msg)
	}
	long := os.Getenv("BPF_DIFF_LONG") != ""
	g := &packetGen{r: rand.New(rand.NewPCG(1, 2))}
	nFrames, nTrunc := 3000, 60
	if testing.Short() {
		nFrames, nTrunc = 500, 10
	}
	if long {
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
	caps := readCaptures(t)
	t.Logf("%d generated frames; %d capture files in %v: %d Ethernet packets, %d Linux cooked v2 packets",
		len(frames), caps.files, captureDirs(), len(caps.byLink[Ethernet]), len(caps.byLink[LinuxSLL2]))

	pkts := map[string][][]byte{}
	var jobs []*diffJob
	for _, tg := range targets {
		pkts[tg.name] = targetPackets(tg, frames, caps)
		exprs := linkExprs
		if tg.lt == Ethernet || long {
			exprs = allExprs()
		}
		file, _ := emptyCapture(tg)
		for _, e := range exprs {
			te := e
			if eq, ok := tcpdumpEquivalent[e]; ok {
				te = eq
			}
			jobs = append(jobs, &diffJob{tg: tg, lt: tg.lt, file: file, expr: e, tcpdumpExpr: te})
			if te != e && !strings.HasPrefix(e, "byte") {
				// Also compare the libpcap-compatible arithmetic exactly.
				jobs = append(jobs, &diffJob{tg: tg, lt: tg.lt, file: file, expr: e, tcpdumpExpr: e, compat: true})
			}
		}
	}
	var wg sync.WaitGroup
	work := make(chan *diffJob)
	for range 2 * cap(tdPool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				j.compileOurs()
				if strings.Contains(j.ourErr, "unknown host") {
					// Not in /etc/hosts: tcpdump would ask DNS.
					j.theirErr = "not asked (a DNS name)"
					continue
				}
				r := runTcpdump(tcpdump, []string{"-r", j.file}, j.tcpdumpExpr)
				j.theirs, j.theirErr, j.fatal = r.prog, r.msg, r.err
				j.run(pkts[j.tg.name])
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()

	var compared, runs, bothErr, unnamed int
	perTarget := map[string]int{}
	for _, j := range jobs {
		name := fmt.Sprintf("%s/%q", j.tg.name, j.expr)
		if j.compat {
			name += "(libpcap arithmetic)"
		}
		switch {
		case j.fatal != nil:
			t.Fatalf("%s: running tcpdump: %v", name, j.fatal)
		case j.compared:
			compared++
			perTarget[j.tg.name]++
			runs += len(pkts[j.tg.name])
			if len(j.fails) > 0 {
				t.Errorf("%s: decisions differ:\n%s\nours:\n%s\ntcpdump's (%q):\n%s",
					name, strings.Join(j.fails, "\n"), disasm(j.ours), j.tcpdumpExpr, disasm(j.theirs))
			}
		case j.theirErr != "" && j.ourErr != "":
			bothErr++
			if testing.Verbose() {
				t.Logf("%s: rejected by both: tcpdump: %s; ours: %s", name, j.theirErr, j.ourErr)
			}
		case j.theirErr != "" && strings.Contains(j.theirErr, "unknown") && !strings.Contains(j.ourErr+j.expr, "nosuch"):
			// A name missing from this machine's /etc files: tcpdump
			// resolves through the C library, which may know more.
			unnamed++
			t.Logf("%s: skipped, tcpdump says %s", name, j.theirErr)
		case j.theirErr != "":
			t.Errorf("%s: tcpdump rejects the expression (%s) but we compiled it:\n%s", name, j.theirErr, disasm(j.ours))
		case j.ourErr != "":
			t.Errorf("%s: we reject the expression (%s) but tcpdump compiles it:\n%s", name, j.ourErr, disasm(j.theirs))
		default:
			t.Errorf("%s: not compared: %v", name, j.fails)
		}
	}
	var counts []string
	for _, tg := range targets {
		counts = append(counts, fmt.Sprintf("%s %d exprs x %d packets", tg.name, perTarget[tg.name], len(pkts[tg.name])))
	}
	t.Logf("%d (expression, link type) pairs compared with tcpdump, %d packet decisions in all (%s); %d pairs rejected by both, %d skipped",
		compared, runs, strings.Join(counts, ", "), bothErr, unnamed)
	if compared < 150 {
		t.Errorf("only %d expressions compared", compared)
	}
}

type diffJob struct {
	tg                target
	lt                LinkType
	file              string
	compat            bool // compiled like libpcap's gen_arth
	tolerateOOB       bool // ignore differences on packets where a program loads past the end
	expr, tcpdumpExpr string
	ours, theirs      []bpf.RawInstruction
	filter            *Filter // ours, nil in the fuzz test
	ourErr, theirErr  string
	fatal             error
	compared          bool
	fails             []string
}

// compileOurs compiles the expression with NewFilter's semantics, and
// checks that Compile gives the same program where the two agree.
func (j *diffJob) compileOurs() {
	j.ours, j.ourErr, j.fails, j.filter = nil, "", nil, nil
	o := options{mode: modeFile, libpcapArth: j.compat}
	f, err := newFilter(j.expr, j.lt, o)
	if err != nil {
		j.ourErr = err.Error()
		return
	}
	j.filter, j.ours = f, f.Program()
	if j.tg.be {
		j.ours = f.be.Program()
	}
	if strings.Contains(j.expr, "bound") || strings.Contains(j.expr, "ifindex") {
		return
	}
	generic, err := compile(j.expr, j.lt, DefaultSnaplen, options{libpcapArth: j.compat})
	if err != nil || !slices.Equal(generic, f.Program()) {
		j.fails = append(j.fails, fmt.Sprintf("Compile gives another program (%v):\n%s", err, disasm(generic)))
	}
}

// run compares the decisions of the two programs over pkts: ours through
// the Filter interpreter and the x/net/bpf VM, tcpdump's through both too
// (or the test interpreter when the VM cannot run it).
func (j *diffJob) run(pkts [][]byte) {
	rejectsAll := strings.Contains(j.theirErr, "rejects all packets")
	if j.fatal != nil || j.ourErr != "" || (j.theirErr != "" && !rejectsAll) {
		return
	}
	j.compared = true
	ours := j.filter
	if ours == nil { // the fuzz test's programs
		var err error
		if ours, err = NewFilterProgram(j.ours); err != nil {
			j.fails = append(j.fails, fmt.Sprintf("our program is not a Filter: %v", err))
			return
		}
	}
	vms := map[*Filter]*bpf.VM{}
	for _, f := range []*Filter{ours, ours.be} {
		if f == nil {
			continue
		}
		vm, err := newVM(f.Program())
		if err != nil {
			j.fails = append(j.fails, fmt.Sprintf("our program does not load in the VM: %v", err))
			return
		}
		vms[f] = vm
	}
	var err error
	var theirs *Filter
	var theirVM *bpf.VM // nil: tcpdump's program needs the test interpreter
	if !rejectsAll {
		if theirs, err = NewFilterProgram(j.theirs); err != nil {
			j.fails = append(j.fails, fmt.Sprintf("tcpdump's program is not a Filter: %v", err))
			return
		}
		insns, _ := bpf.Disassemble(j.theirs)
		if !slices.ContainsFunc(insns, func(i bpf.Instruction) bool { _, ok := i.(bpf.NegateA); return ok }) {
			if theirVM, err = newVM(j.theirs); err != nil {
				j.fails = append(j.fails, fmt.Sprintf("tcpdump's program does not load in the VM: %v", err))
				return
			}
		}
	}
	for k, p := range pkts {
		n, err := vms[ours.programFor(p)].Run(p)
		if err != nil {
			j.fails = append(j.fails, fmt.Sprintf("packet %d: our program: %v", k, err))
			return
		}
		got := ours.Match(p, len(p))
		if got != (n > 0) {
			j.fails = append(j.fails, fmt.Sprintf("packet %d (%d bytes) % x: Filter says %v, the x/net/bpf VM %v", k, len(p), p, got, n > 0))
			return
		}
		want := false
		if theirs != nil {
			want = theirs.Match(p, len(p))
			var ref bool
			if theirVM != nil {
				m, err := theirVM.Run(p)
				if err != nil {
					j.fails = append(j.fails, fmt.Sprintf("packet %d: tcpdump's program: %v", k, err))
					return
				}
				ref = m > 0
			} else {
				ref, _ = traceRun(j.theirs, p)
			}
			if ref != want {
				j.fails = append(j.fails, fmt.Sprintf("packet %d (%d bytes) % x: on tcpdump's program Filter says %v, the reference %v", k, len(p), p, want, ref))
				return
			}
		}
		if got != want {
			_, oobOurs := traceRun(ours.programFor(p).Program(), p)
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
