package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// Filter is a compiled expression for packets read from a capture file,
// with a classic BPF interpreter that does not allocate. It is safe for
// concurrent use.
type Filter struct {
	expr string
	raw  []bpf.RawInstruction
	prog []insn
	// be is, for DLT_NULL, the program for packets whose address family
	// is big-endian (prog is for little-endian ones).
	be *Filter
}

// NewFilter compiles expr for packets of the given link type read from a
// capture file, as tcpdump -r does: the same as Compile, except that the
// primitives that need a live Linux socket's ancillary data ("inbound",
// "outbound" and "ifindex" on link types without a Linux cooked header)
// are errors, as they are in libpcap for savefiles.
//
// DLT_NULL's 4-byte address family is in the byte order of the machine
// that captured, which libpcap takes to be the capture file's: for Null,
// the Filter holds both programs libpcap would compile, for a
// little-endian and for a big-endian file, and runs the one that matches
// how each packet's address family is written.
func NewFilter(expr string, link LinkType) (*Filter, error) {
	return newFilter(expr, link, options{mode: modeFile})
}

func newFilter(expr string, link LinkType, o options) (*Filter, error) {
	f, err := filterFor(expr, link, o)
	if err != nil || link != Null {
		return f, err
	}
	o.nullBE = true
	if f.be, err = filterFor(expr, link, o); err != nil {
		return nil, err
	}
	return f, nil
}

func filterFor(expr string, link LinkType, o options) (*Filter, error) {
	raw, err := compile(expr, link, DefaultSnaplen, o)
	if err != nil {
		return nil, err
	}
	f, err := NewFilterProgram(raw)
	if err != nil {
		return nil, fmt.Errorf("bpf: filter %s: %v", quoteExpr(expr), err)
	}
	f.expr = expr
	return f, nil
}

// NewFilterProgram makes a Filter of a classic BPF program (from Compile,
// or tcpdump -ddd). The program must be valid for the kernel: known
// instructions, jumps inside the program, scratch registers 0 to 15, no
// constant division by zero, a return at the end; and it must not use
// Linux ancillary data (loads at offsets from 0xfffff000), which only the
// kernel has.
func NewFilterProgram(raw []bpf.RawInstruction) (*Filter, error) {
	if len(raw) == 0 || len(raw) > maxInstructions {
		return nil, fmt.Errorf("program of %d instructions", len(raw))
	}
	prog := make([]insn, len(raw))
	for pc, ri := range raw {
		in, err := decode(ri, pc, len(raw))
		if err != nil {
			return nil, fmt.Errorf("instruction %d (%v): %v", pc, ri.Disassemble(), err)
		}
		prog[pc] = in
	}
	switch prog[len(prog)-1].op {
	case iRetK, iRetA:
	default:
		return nil, errors.New("the program does not end with a return")
	}
	fuse(prog)
	return &Filter{raw: append([]bpf.RawInstruction(nil), raw...), prog: prog}, nil
}

// String returns the expression the filter was compiled from.
func (f *Filter) String() string { return f.expr }

// Program returns the classic BPF program (for DLT_NULL, the one for
// little-endian address families).
func (f *Filter) Program() []bpf.RawInstruction { return append([]bpf.RawInstruction(nil), f.raw...) }

// programFor returns the program Match runs for pkt.
func (f *Filter) programFor(pkt []byte) *Filter {
	if f.be != nil && len(pkt) >= 4 && binary.LittleEndian.Uint32(pkt) >= 256 {
		return f.be
	}
	return f
}

// Match reports whether the program accepts a packet: pkt is the captured
// data and wireLen the packet's length on the wire (what "len", "less"
// and "greater" test; it is at least len(pkt) for a capture that cut the
// packet). Loads beyond the captured data reject the packet, as in
// libpcap.
func (f *Filter) Match(pkt []byte, wireLen int) bool {
	if f.be != nil {
		f = f.programFor(pkt)
	}
	return f.run(pkt, uint32(wireLen)) != 0
}

// Internal operations, a dense range so that the interpreter's switch is a
// jump table.
const (
	iLdAbsW uint8 = iota
	iLdAbsH
	iLdAbsB
	iLdIndW
	iLdIndH
	iLdIndB
	iLdLen
	iLdImm
	iLdMem
	iLdxImm
	iLdxMem
	iLdxLen
	iLdxMsh
	iSt
	iStx
	iAddK
	iSubK
	iMulK
	iDivK
	iModK
	iAndK
	iOrK
	iXorK
	iLshK
	iRshK
	iAddX
	iSubX
	iMulX
	iDivX
	iModX
	iAndX
	iOrX
	iXorX
	iLshX
	iRshX
	iNeg
	iJa
	iJeqK
	iJgtK
	iJgeK
	iJsetK
	iJeqX
	iJgtX
	iJgeX
	iJsetX
	iRetK
	iRetA
	iTax
	iTxa
	// Fused "load A; jump on A and k" pairs: k2 is the jump's constant.
	iLdAbsHJeq
	iLdAbsBJeq
	iLdAbsWJeq
	iLdIndHJeq
	iLdAbsBJset
	iLdAbsHJset
)

// insn is a decoded instruction; jt and jf are absolute targets.
type insn struct {
	op     uint8
	jt, jf uint16
	k      uint32
	k2     uint32
}

var aluK = map[uint16]uint8{
	0x00: iAddK, 0x10: iSubK, 0x20: iMulK, 0x30: iDivK, 0x90: iModK,
	0x50: iAndK, 0x40: iOrK, 0xa0: iXorK, 0x60: iLshK, 0x70: iRshK,
}

var aluX = map[uint16]uint8{
	0x00: iAddX, 0x10: iSubX, 0x20: iMulX, 0x30: iDivX, 0x90: iModX,
	0x50: iAndX, 0x40: iOrX, 0xa0: iXorX, 0x60: iLshX, 0x70: iRshX,
}

func decode(ri bpf.RawInstruction, pc, n int) (insn, error) {
	in := insn{k: ri.K}
	if ri.Op > 0xff {
		return in, errors.New("unknown instruction")
	}
	target := func(off uint32) (uint16, error) {
		t := uint64(pc) + 1 + uint64(off)
		if t >= uint64(n) {
			return 0, errors.New("jump past the end of the program")
		}
		return uint16(t), nil
	}
	switch ri.Op {
	case 0x20, 0x28, 0x30: // ld[hb] [k]
		if ri.K >= skfAdOff {
			return in, errors.New("Linux ancillary data (kernel only)")
		}
		in.op = map[uint16]uint8{0x20: iLdAbsW, 0x28: iLdAbsH, 0x30: iLdAbsB}[ri.Op]
	case 0x40, 0x48, 0x50: // ld[hb] [x+k]
		in.op = map[uint16]uint8{0x40: iLdIndW, 0x48: iLdIndH, 0x50: iLdIndB}[ri.Op]
	case 0x80:
		in.op = iLdLen
	case 0x00:
		in.op = iLdImm
	case 0x60, 0x61, 0x02, 0x03: // ld M[k], ldx M[k], st, stx
		if ri.K >= 16 {
			return in, errors.New("scratch register out of range")
		}
		in.op = map[uint16]uint8{0x60: iLdMem, 0x61: iLdxMem, 0x02: iSt, 0x03: iStx}[ri.Op]
	case 0x01:
		in.op = iLdxImm
	case 0x81:
		in.op = iLdxLen
	case 0xb1:
		in.op = iLdxMsh
	case 0x84:
		in.op = iNeg
	case 0x06:
		in.op = iRetK
	case 0x16:
		in.op = iRetA
	case 0x07:
		in.op = iTax
	case 0x87:
		in.op = iTxa
	case 0x05: // ja
		t := uint64(pc) + 1 + uint64(ri.K)
		if t >= uint64(n) {
			return in, errors.New("jump past the end of the program")
		}
		in.op, in.jt = iJa, uint16(t)
	default:
		switch ri.Op & 0x07 {
		case 0x04: // ALU
			op, src := ri.Op&0xf0, ri.Op&0x08
			var ok bool
			if src == 0 {
				if in.op, ok = aluK[op]; ok && (op == 0x30 || op == 0x90) && ri.K == 0 {
					return in, errors.New("division by zero")
				}
			} else {
				in.op, ok = aluX[op]
			}
			if !ok {
				return in, errors.New("unknown instruction")
			}
		case 0x05: // conditional jumps
			ops := map[uint16]uint8{0x15: iJeqK, 0x25: iJgtK, 0x35: iJgeK, 0x45: iJsetK,
				0x1d: iJeqX, 0x2d: iJgtX, 0x3d: iJgeX, 0x4d: iJsetX}
			var ok bool
			if in.op, ok = ops[ri.Op]; !ok {
				return in, errors.New("unknown instruction")
			}
			var err error
			if in.jt, err = target(uint32(ri.Jt)); err != nil {
				return in, err
			}
			if in.jf, err = target(uint32(ri.Jf)); err != nil {
				return in, err
			}
		default:
			return in, errors.New("unknown instruction")
		}
	}
	return in, nil
}

// fuse turns "load; conditional jump" pairs into single operations. The
// jump stays in place for paths that jump to it directly.
func fuse(prog []insn) {
	for pc := 0; pc+1 < len(prog); pc++ {
		j := prog[pc+1]
		var op uint8
		switch {
		case j.op == iJeqK && prog[pc].op == iLdAbsH:
			op = iLdAbsHJeq
		case j.op == iJeqK && prog[pc].op == iLdAbsB:
			op = iLdAbsBJeq
		case j.op == iJeqK && prog[pc].op == iLdAbsW:
			op = iLdAbsWJeq
		case j.op == iJeqK && prog[pc].op == iLdIndH:
			op = iLdIndHJeq
		case j.op == iJsetK && prog[pc].op == iLdAbsB:
			op = iLdAbsBJset
		case j.op == iJsetK && prog[pc].op == iLdAbsH:
			op = iLdAbsHJset
		default:
			continue
		}
		prog[pc] = insn{op: op, jt: j.jt, jf: j.jf, k: prog[pc].k, k2: j.k}
	}
}

// run interprets the program like the Linux kernel and libpcap's
// bpf_filter (and golang.org/x/net/bpf): a load outside the packet or a
// division by zero returns 0; shifts by 32 or more give 0.
func (f *Filter) run(pkt []byte, wireLen uint32) uint32 {
	var a, x uint32
	var mem [16]uint32
	prog := f.prog
	n := uint(len(pkt))
	pc := 0
	for {
		in := &prog[pc]
		switch in.op {
		case iLdAbsW:
			k := uint(in.k)
			if k+4 > n {
				return 0
			}
			a = binary.BigEndian.Uint32(pkt[k:])
		case iLdAbsH:
			k := uint(in.k)
			if k+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(pkt[k:]))
		case iLdAbsB:
			k := uint(in.k)
			if k >= n {
				return 0
			}
			a = uint32(pkt[k])
		case iLdIndW:
			k := uint(in.k) + uint(x)
			if k+4 > n {
				return 0
			}
			a = binary.BigEndian.Uint32(pkt[k:])
		case iLdIndH:
			k := uint(in.k) + uint(x)
			if k+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(pkt[k:]))
		case iLdIndB:
			k := uint(in.k) + uint(x)
			if k >= n {
				return 0
			}
			a = uint32(pkt[k])
		case iLdLen:
			a = wireLen
		case iLdImm:
			a = in.k
		case iLdMem:
			a = mem[in.k&15]
		case iLdxImm:
			x = in.k
		case iLdxMem:
			x = mem[in.k&15]
		case iLdxLen:
			x = wireLen
		case iLdxMsh:
			k := uint(in.k)
			if k >= n {
				return 0
			}
			x = uint32(pkt[k]&0xf) << 2
		case iSt:
			mem[in.k&15] = a
		case iStx:
			mem[in.k&15] = x
		case iAddK:
			a += in.k
		case iSubK:
			a -= in.k
		case iMulK:
			a *= in.k
		case iDivK:
			a /= in.k
		case iModK:
			a %= in.k
		case iAndK:
			a &= in.k
		case iOrK:
			a |= in.k
		case iXorK:
			a ^= in.k
		case iLshK:
			a = shl(a, in.k)
		case iRshK:
			a = shr(a, in.k)
		case iAddX:
			a += x
		case iSubX:
			a -= x
		case iMulX:
			a *= x
		case iDivX:
			if x == 0 {
				return 0
			}
			a /= x
		case iModX:
			if x == 0 {
				return 0
			}
			a %= x
		case iAndX:
			a &= x
		case iOrX:
			a |= x
		case iXorX:
			a ^= x
		case iLshX:
			a = shl(a, x)
		case iRshX:
			a = shr(a, x)
		case iNeg:
			a = -a
		case iJa:
			pc = int(in.jt)
			continue
		case iJeqK:
			pc = branch(a == in.k, in)
			continue
		case iJgtK:
			pc = branch(a > in.k, in)
			continue
		case iJgeK:
			pc = branch(a >= in.k, in)
			continue
		case iJsetK:
			pc = branch(a&in.k != 0, in)
			continue
		case iJeqX:
			pc = branch(a == x, in)
			continue
		case iJgtX:
			pc = branch(a > x, in)
			continue
		case iJgeX:
			pc = branch(a >= x, in)
			continue
		case iJsetX:
			pc = branch(a&x != 0, in)
			continue
		case iRetK:
			return in.k
		case iRetA:
			return a
		case iTax:
			x = a
		case iTxa:
			a = x
		case iLdAbsHJeq:
			k := uint(in.k)
			if k+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(pkt[k:]))
			pc = branch(a == in.k2, in)
			continue
		case iLdAbsBJeq:
			k := uint(in.k)
			if k >= n {
				return 0
			}
			a = uint32(pkt[k])
			pc = branch(a == in.k2, in)
			continue
		case iLdAbsWJeq:
			k := uint(in.k)
			if k+4 > n {
				return 0
			}
			a = binary.BigEndian.Uint32(pkt[k:])
			pc = branch(a == in.k2, in)
			continue
		case iLdIndHJeq:
			k := uint(in.k) + uint(x)
			if k+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(pkt[k:]))
			pc = branch(a == in.k2, in)
			continue
		case iLdAbsBJset:
			k := uint(in.k)
			if k >= n {
				return 0
			}
			a = uint32(pkt[k])
			pc = branch(a&in.k2 != 0, in)
			continue
		case iLdAbsHJset:
			k := uint(in.k)
			if k+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(pkt[k:]))
			pc = branch(a&in.k2 != 0, in)
			continue
		}
		pc++
	}
}

func branch(cond bool, in *insn) int {
	if cond {
		return int(in.jt)
	}
	return int(in.jf)
}

func shl(a, n uint32) uint32 {
	if n >= 32 {
		return 0
	}
	return a << n
}

func shr(a, n uint32) uint32 {
	if n >= 32 {
		return 0
	}
	return a >> n
}
