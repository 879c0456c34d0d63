package bpf

import (
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

// FuzzCompile checks that Compile never panics and that whatever it
// accepts is a valid classic BPF program: it decodes, respects the
// kernel's size limit, ends every path with a return, loads in the
// golang.org/x/net/bpf VM and runs on packets of the link type without
// error, and compiling again gives the same program. It is self-contained;
// the comparison with tcpdump is TestDifferentialTcpdump's job, unless
// BPF_FUZZ_TCPDUMP=1 is set: then every expression is also compiled by
// tcpdump (when installed) and the decisions are compared (slow: tcpdump is
// run four times per input).
//
//	go test ./capture/bpf -run '^$' -fuzz FuzzCompile -fuzztime 1m
func FuzzCompile(f *testing.F) {
	tcpdump := ""
	if os.Getenv("BPF_FUZZ_TCPDUMP") != "" {
		tcpdump = findTcpdump()
	}
	for _, e := range allExprs() {
		f.Add(e)
	}
	for _, e := range liveExprs {
		f.Add(e)
	}
	for _, tc := range semanticTable {
		f.Add(tc.expr)
	}
	frames := semanticFrames()
	g := &packetGen{r: rand.New(rand.NewPCG(3, 4))}
	for range 20 {
		frames = append(frames, g.frame())
	}
	for _, p := range encapPackets() {
		frames = append(frames, p.frame)
	}
	links := []LinkType{Ethernet, LinuxSLL, LinuxSLL2, Raw, Null, Loop, IPv4, IPv6}
	packets := map[LinkType][][]byte{}
	for _, lt := range links {
		for i, fr := range frames {
			packets[lt] = append(packets[lt], toLink(fr, lt, uint8(i)))
		}
		packets[lt] = append(packets[lt], nil, []byte{0x45})
	}

	f.Fuzz(func(t *testing.T, expr string) {
		if prog, err := CompileLive(expr, Ethernet, 1000); err == nil {
			if _, ok := bpf.Disassemble(prog); !ok || len(prog) > maxInstructions {
				t.Fatalf("CompileLive(%q): invalid program\n%s", expr, disasm(prog))
			}
		}
		for _, lt := range links {
			f, ferr := NewFilter(expr, lt)
			prog, err := Compile(expr, lt, 1000)
			if ferr == nil && err == nil && !slices.Equal(f.Program(), withSnaplen(prog, DefaultSnaplen)) {
				t.Fatalf("%v: NewFilter(%q) and Compile give different programs:\n%s\n%s", lt, expr, disasm(f.Program()), disasm(prog))
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "bpf: ") || strings.Contains(err.Error(), "internal error") {
					t.Fatalf("%v: Compile(%q): bad error %q", lt, expr, err)
				}
				continue
			}
			checkProgram(t, expr, lt, prog, packets[lt])
			if tcpdump != "" && tcpdumpLinkNames[lt] != "" && !strings.ContainsAny(expr, "\x00\n") {
				compareWithTcpdump(t, tcpdump, expr, lt, packets[lt])
			}
			again, err := Compile(expr, lt, 1000)
			if err != nil || !slices.Equal(prog, again) {
				t.Fatalf("%v: Compile(%q) is not deterministic (%v)", lt, expr, err)
			}
		}
	})
}

// withSnaplen returns prog with its accepting returns set to snaplen.
func withSnaplen(prog []bpf.RawInstruction, snaplen uint32) []bpf.RawInstruction {
	out := append([]bpf.RawInstruction(nil), prog...)
	for i, ri := range out {
		if ri.Op == 0x06 && ri.K != 0 {
			out[i].K = snaplen
		}
	}
	return out
}

func checkProgram(t *testing.T, expr string, lt LinkType, prog []bpf.RawInstruction, packets [][]byte) {
	t.Helper()
	if len(prog) == 0 || len(prog) > maxInstructions {
		t.Fatalf("%v: Compile(%q): program of %d instructions", lt, expr, len(prog))
	}
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatalf("%v: Compile(%q): undecodable instructions:\n%s", lt, expr, disasm(prog))
	}
	usesAncillary := false
	for i, ins := range insns {
		switch ins := ins.(type) {
		case bpf.LoadExtension:
			if ins.Num != bpf.ExtLen {
				usesAncillary = true
			}
		case bpf.RetConstant:
			if ins.Val != 0 && ins.Val != 1000 {
				t.Fatalf("%v: Compile(%q): instruction %d returns %d", lt, expr, i, ins.Val)
			}
		case bpf.RetA:
			t.Fatalf("%v: Compile(%q): instruction %d returns A", lt, expr, i)
		case bpf.ALUOpConstant:
			if (ins.Op == bpf.ALUOpDiv || ins.Op == bpf.ALUOpMod) && ins.Val == 0 ||
				(ins.Op == bpf.ALUOpShiftLeft || ins.Op == bpf.ALUOpShiftRight) && ins.Val > 31 {
				t.Fatalf("%v: Compile(%q): instruction %d (%v) is refused by the kernel", lt, expr, i, ins)
			}
		}
	}
	vm, err := newVM(prog)
	if usesAncillary {
		if err == nil {
			t.Fatalf("%v: Compile(%q): ancillary-data program loaded in the VM", lt, expr)
		}
		return
	}
	if err != nil {
		t.Fatalf("%v: Compile(%q): %v\n%s", lt, expr, err, disasm(prog))
	}
	flt, err := NewFilterProgram(prog)
	if err != nil {
		t.Fatalf("%v: Compile(%q): not a Filter: %v\n%s", lt, expr, err, disasm(prog))
	}
	for _, p := range packets {
		n, err := vm.Run(p)
		if err != nil {
			t.Fatalf("%v: Compile(%q): running on % x: %v", lt, expr, p, err)
		}
		if got := flt.run(p, uint32(len(p))); int(got) != n {
			t.Fatalf("%v: Compile(%q) on % x: the Filter returns %d, the VM %d\n%s", lt, expr, p, got, n, disasm(prog))
		}
	}
}

func compareWithTcpdump(t *testing.T, tcpdump, expr string, lt LinkType, packets [][]byte) {
	t.Helper()
	prog, err := compile(expr, lt, DefaultSnaplen, options{libpcapArth: true}) // libpcap's arithmetic protocol tests
	if err != nil {
		t.Fatalf("%v: %q: compiles only without libpcap arithmetic: %v", lt, expr, err)
	}
	if usesAncillary(prog) {
		return // kernel only (inbound on Ethernet)
	}
	// Only differences on complete packets count here: for contrived
	// expressions (tautologies such as "host !1 or 0 or 0.0 or 1") our
	// optimiser can simplify further than libpcap's, which changes the
	// decision only on packets truncated inside the headers.
	j := &diffJob{lt: lt, expr: expr, tcpdumpExpr: expr, ours: prog, tolerateOOB: true}
	j.theirs, j.theirErr, j.fatal = tcpdumpCompile(tcpdump, expr, lt)
	if j.fatal != nil {
		t.Fatal(j.fatal)
	}
	if strings.Contains(j.theirErr, "by zero") {
		// libpcap's optimiser refuses "x % x" and similar with
		// "modulus by zero"; we compile them (a zero divisor at run
		// time rejects the packet, as in the kernel).
		return
	}
	if usesUnsetX(j.theirs) {
		// A libpcap optimiser bug: "1&1=1&&1=1&1" compiles to
		// "ld #1; jneq x" with X never loaded.
		return
	}
	if j.theirErr != "" && !strings.Contains(j.theirErr, "rejects all packets") {
		t.Fatalf("%v: we compile %q, tcpdump says: %s\n%s", lt, expr, j.theirErr, disasm(prog))
	}
	j.run(packets)
	if len(j.fails) > 0 {
		t.Fatalf("%v: %q: decisions differ from tcpdump's:\n%s\nours:\n%s\ntcpdump's:\n%s",
			lt, expr, strings.Join(j.fails, "\n"), disasm(prog), disasm(j.theirs))
	}
}

// usesUnsetX reports whether some path through prog reads X before setting
// it (the kernel and the VM then read 0).
func usesUnsetX(prog []bpf.RawInstruction) bool {
	insns, _ := bpf.Disassemble(prog)
	// set[i]: X is set on every path reaching instruction i.
	set := make([]bool, len(insns)+1)
	reached := make([]bool, len(insns)+1)
	reached[0] = true
	merge := func(to int, x bool) {
		if to >= len(insns) {
			return
		}
		if !reached[to] {
			reached[to], set[to] = true, x
		} else {
			set[to] = set[to] && x
		}
	}
	for i, ins := range insns {
		if !reached[i] {
			continue
		}
		x := set[i]
		switch ins := ins.(type) {
		case bpf.JumpIfX, bpf.ALUOpX, bpf.LoadIndirect, bpf.TXA:
			if !x {
				return true
			}
		case bpf.StoreScratch:
			if ins.Src == bpf.RegX && !x {
				return true
			}
		case bpf.TAX, bpf.LoadMemShift:
			x = true
		case bpf.LoadConstant:
			x = x || ins.Dst == bpf.RegX
		case bpf.LoadScratch:
			x = x || ins.Dst == bpf.RegX
		}
		switch ins := ins.(type) {
		case bpf.Jump:
			merge(i+1+int(ins.Skip), x)
		case bpf.JumpIf:
			merge(i+1+int(ins.SkipTrue), x)
			merge(i+1+int(ins.SkipFalse), x)
		case bpf.JumpIfX:
			merge(i+1+int(ins.SkipTrue), x)
			merge(i+1+int(ins.SkipFalse), x)
		case bpf.RetA, bpf.RetConstant:
		default:
			merge(i+1, x)
		}
	}
	return false
}
