package bpf

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// Interpreters for the tests: tcpdump's programs may use NEG, which
// golang.org/x/net/bpf's VM does not implement, and live programs read
// Linux ancillary data.

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
		case bpf.NegateA:
			a = -a
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
