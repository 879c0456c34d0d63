package bpf

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// A bnode is a boolean expression over atoms. An atom is a straight-line
// sequence of statements (loads and arithmetic, leaving a value in A and
// possibly X) followed by one conditional jump. This mirrors the block
// structure libpcap's code generator builds before optimisation, which
// matters for one observable property of classic BPF: a load outside the
// packet ends the whole program with "reject", so which loads run on which
// path has to be the same as in tcpdump's programs.
type bnode struct {
	op    nodeOp
	a, b  *bnode
	val   bool              // opConst
	stmts []bpf.Instruction // opAtom
	cond  bpf.JumpTest      // opAtom: JumpEqual, JumpGreaterThan, JumpGreaterOrEqual or JumpBitsSet
	useX  bool              // opAtom: compare A with X instead of k
	k     uint32            // opAtom
}

type nodeOp int

const (
	opConst nodeOp = iota
	opAtom
	opAnd
	opOr
	opNot
)

var (
	nTrue  = &bnode{op: opConst, val: true}
	nFalse = &bnode{op: opConst, val: false}
)

func konst(v bool) *bnode {
	if v {
		return nTrue
	}
	return nFalse
}

func and(a, b *bnode) *bnode { return &bnode{op: opAnd, a: a, b: b} }
func or(a, b *bnode) *bnode  { return &bnode{op: opOr, a: a, b: b} }
func not(a *bnode) *bnode    { return &bnode{op: opNot, a: a} }

func atom(cond bpf.JumpTest, k uint32, stmts ...bpf.Instruction) *bnode {
	return &bnode{op: opAtom, cond: cond, k: k, stmts: stmts}
}

func atomX(cond bpf.JumpTest, stmts ...bpf.Instruction) *bnode {
	return &bnode{op: opAtom, cond: cond, useX: true, stmts: stmts}
}

// maxInstructions is the kernel's limit on a classic BPF program
// (BPF_MAXINSNS).
const maxInstructions = 4096

// skip returns how many instructions a jump placed at reversed index p must
// skip to reach the instruction at reversed index target (programs are
// generated backwards, so that every jump target is already placed).
func skip(p, target int) int { return p - target - 1 }

// fold removes constants from the tree: "x and false" and "x or true"
// become constants because x's outcome no longer matters (its loads are dead
// code, which libpcap's optimiser removes too); "x and true" becomes x.
func fold(n *bnode) *bnode {
	switch n.op {
	case opNot:
		a := fold(n.a)
		if a.op == opConst {
			return konst(!a.val)
		}
		if a.op == opNot {
			return a.a
		}
		return not(a)
	case opAnd, opOr:
		a, b := fold(n.a), fold(n.b)
		absorb := n.op == opOr // the value that decides the result
		if a.op == opConst {
			if a.val == absorb {
				return a
			}
			return b
		}
		if b.op == opConst {
			if b.val == absorb {
				return b
			}
			return a
		}
		return &bnode{op: n.op, a: a, b: b}
	}
	return n
}

// maxAtoms bounds the number of tests before optimisation: threading
// removes many (an "or" of hosts repeats the link-type test for every
// address), but far beyond this the program cannot fit in the kernel's
// limit anyway.
const maxAtoms = 3 * maxInstructions

func countAtoms(n *bnode) int {
	switch n.op {
	case opAtom:
		return 1
	case opNot:
		return countAtoms(n.a)
	case opAnd, opOr:
		return countAtoms(n.a) + countAtoms(n.b)
	}
	return 0
}

// errRejectsAll is returned, like libpcap does, for an expression that can
// never match.
var errRejectsAll = fmt.Errorf("expression rejects all packets")

// assemble turns a boolean tree into a classic BPF program that returns
// snaplen for matching packets and 0 for the others. Without optimisation
// (noOpt) every test is kept, in the order of the expression, as libpcap
// leaves unoptimised programs; prologue is put at the start of the program.
func assemble(root *bnode, snaplen uint32, cooked, noOpt bool, prologue []bpf.Instruction) ([]bpf.RawInstruction, error) {
	accept := &block{ret: true, retVal: snaplen}
	reject := &block{ret: true, retVal: 0}
	folded := root
	if !noOpt {
		folded = fold(root)
	}
	if n := countAtoms(folded); n > maxAtoms {
		return nil, fmt.Errorf("filter program too large (%d tests; the kernel limit is %d instructions)", n, maxInstructions)
	}
	entry := buildGraph(folded, accept, reject, !noOpt)
	var prog []bpf.Instruction
	switch {
	case entry == reject && !noOpt:
		return nil, errRejectsAll
	case entry == reject:
		prog = []bpf.Instruction{bpf.RetConstant{Val: 0}}
	case entry == accept:
		prog = []bpf.Instruction{bpf.RetConstant{Val: snaplen}}
	default:
		g := &graph{root: entry}
		if !noOpt {
			g.optimize()
		}
		switch {
		case g.root == reject:
			return nil, errRejectsAll
		case g.root == accept:
			prog = []bpf.Instruction{bpf.RetConstant{Val: snaplen}}
		default:
			if len(prologue) > 0 {
				g.root.stmts = append(append([]bpf.Instruction(nil), prologue...), g.root.stmts...)
			}
			var err error
			if prog, err = g.emit(); err != nil {
				return nil, err
			}
		}
	}
	if len(prog) > maxInstructions {
		return nil, fmt.Errorf("filter program too large (%d instructions, the kernel limit is %d)", len(prog), maxInstructions)
	}
	if cooked {
		if err := cookedLoads(prog); err != nil {
			return nil, err
		}
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("internal error: %v", err)
	}
	return raw, nil
}
