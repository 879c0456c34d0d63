package bpf

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Arithmetic expressions: "tcp[13] & 2", "ip[2:2] - ((ip[0] & 0xf) << 2)",
// "len". Values are unsigned 32-bit, as in the BPF machine.

type arthKind int

const (
	aConst arthKind = iota
	aLen
	aLoad
	aBin
	aNeg
)

type arth struct {
	kind   arthKind
	k      uint32    // aConst; aLen: added to the length (cooked sockets)
	op     bpf.ALUOp // aBin
	l, r   *arth     // aBin operands; aNeg operand (l); aLoad index (l)
	proto  proto     // aLoad
	size   int       // aLoad
	lc     loadCtx   // aLoad: the offsets where it was parsed (vlan, mpls, ... move them)
	checks *bnode    // protocol tests all loads in this value need, or nil
}

// semanticError is an error that is not a syntax error: the parser does not
// try another interpretation of the text after one.
type semanticError struct{ msg string }

func (e *semanticError) Error() string { return e.msg }

func semErr(format string, args ...any) error {
	return &semanticError{fmt.Sprintf(format, args...)}
}

func andChecks(a, b *bnode) *bnode {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return and(a, b)
}

var binOps = map[string]struct {
	op   bpf.ALUOp
	prec int
}{
	"|": {bpf.ALUOpOr, 1}, "&": {bpf.ALUOpAnd, 2},
	"<<": {bpf.ALUOpShiftLeft, 3}, ">>": {bpf.ALUOpShiftRight, 3},
	"+": {bpf.ALUOpAdd, 4}, "-": {bpf.ALUOpSub, 4},
	"*": {bpf.ALUOpMul, 5}, "/": {bpf.ALUOpDiv, 5},
}

// parseArth parses an arithmetic expression with libpcap's precedence:
// | < & < << >> < + - < * / < unary minus. '^' and '%' have no precedence
// in libpcap's grammar, so yacc always shifts them: each takes the operand
// just before it as its left side and everything after it (to the end of
// the expression) as its right side: "20 % 3 + 2" is 20 % (3 + 2) and
// "2 * 20 % 3" is 2 * (20 % 3), as in tcpdump.
func (c *compiler) parseArth(minPrec int) (*arth, error) {
	lhs, err := c.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		t := c.peek()
		if t.kind != tOp {
			return lhs, nil
		}
		bo, ok := binOps[t.text]
		if !ok || bo.prec < minPrec {
			return lhs, nil
		}
		c.next()
		rhs, err := c.parseArth(bo.prec + 1)
		if err != nil {
			return nil, err
		}
		if lhs, err = c.binop(bo.op, lhs, rhs); err != nil {
			return nil, err
		}
	}
}

func (c *compiler) parseUnary() (*arth, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer func() { c.depth-- }()
	if t := c.peek(); t.kind == tOp && t.text == "-" {
		c.next()
		x, err := c.parseUnary()
		if err != nil {
			return nil, err
		}
		if x.kind == aConst {
			return &arth{kind: aConst, k: -x.k, checks: x.checks}, nil
		}
		return &arth{kind: aNeg, l: x, checks: x.checks}, nil
	}
	p, err := c.parsePrimary()
	if err != nil {
		return nil, err
	}
	if t := c.peek(); t.kind == tOp && (t.text == "^" || t.text == "%") {
		c.next()
		rhs, err := c.parseArth(0)
		if err != nil {
			return nil, err
		}
		if t.text == "%" {
			return c.binop(bpf.ALUOpMod, p, rhs)
		}
		return c.binop(bpf.ALUOpXor, p, rhs)
	}
	return p, nil
}

func (c *compiler) parsePrimary() (*arth, error) {
	t := c.next()
	switch {
	case t.kind == tNum:
		return &arth{kind: aConst, k: t.num}, nil
	case t.kind == tKey && t.text == "len":
		return &arth{kind: aLen, k: c.lenAdjust()}, nil
	case t.kind == tLParen:
		x, err := c.parseArth(0)
		if err != nil {
			return nil, err
		}
		if err := c.expect(tRParen, "')'"); err != nil {
			return nil, err
		}
		return x, nil
	case t.kind == tKey && protoKeywords[t.text] != pDefault:
		p := protoKeywords[t.text]
		if err := c.expect(tLBrack, "'['"); err != nil {
			return nil, err
		}
		idx, err := c.parseArth(0)
		if err != nil {
			return nil, err
		}
		size := 1
		if c.peek().kind == tColon {
			c.next()
			n := c.next()
			if n.kind != tNum {
				return nil, fmt.Errorf("syntax error: expected a size after ':', got %v", n)
			}
			if n.num != 1 && n.num != 2 && n.num != 4 {
				return nil, semErr("data size must be 1, 2, or 4")
			}
			size = int(n.num)
		}
		if err := c.expect(tRBrack, "']'"); err != nil {
			return nil, err
		}
		return c.load(p, idx, size)
	}
	return nil, fmt.Errorf("syntax error: unexpected %v in arithmetic expression", t)
}

// load builds proto[idx:size] with the protocol tests libpcap puts in front
// of it, in libpcap's order.
func (c *compiler) load(p proto, idx *arth, size int) (*arth, error) {
	a := &arth{kind: aLoad, proto: p, size: size, l: idx, lc: c.loadCtx()}
	inner := idx.checks
	switch p {
	case pLink:
		a.checks = inner
	case pIP, pIP6, pARP, pRARP, pATALK, pDECNET, pSCA, pLAT, pMOPRC, pMOPDL:
		b, err := c.protoAbbrev(p)
		if err != nil {
			return nil, err
		}
		a.checks = andChecks(inner, b)
	case pTCP, pUDP, pICMP, pSCTP, pIGMP, pIGRP, pPIM, pVRRP, pCARP:
		b, err := c.protoAbbrev(p)
		if err != nil {
			return nil, err
		}
		a.checks = and(c.linktype(ethIPv4), andChecks(inner, and(b, c.ipfrag())))
	case pICMP6:
		a.checks = and(andChecks(inner, c.linktype(ethIPv6)), c.cmp(orLinkPL, 6, 1, ipprotoICMPv6))
	case pRADIO:
		return nil, semErr("radio information not present in capture")
	default:
		return nil, semErr("unsupported index operation")
	}
	return a, nil
}

// binop builds l op r, folding constants like libpcap's optimiser does
// (which matters because a folded-away load can no longer fail).
//
// The result needs the protocol tests of both operands. libpcap (up to at
// least 1.10) keeps only the left operand's: in "ip[0] + tcp[0]" it reads
// tcp[0] from UDP and ICMP packets too. The tests reproduce that with
// libpcapArth to compare everything else with tcpdump exactly.
func (c *compiler) binop(op bpf.ALUOp, l, r *arth) (*arth, error) {
	checks := andChecks(l.checks, r.checks)
	if c.libpcapArth {
		checks = l.checks
	}
	if r.kind == aConst {
		switch {
		case (op == bpf.ALUOpDiv) && r.k == 0:
			return nil, semErr("division by zero")
		case op == bpf.ALUOpMod && r.k == 0:
			return nil, semErr("modulus by zero")
		case (op == bpf.ALUOpShiftLeft || op == bpf.ALUOpShiftRight) && r.k > 31:
			return nil, semErr("shift by more than 31 bits")
		}
		if l.kind == aConst {
			return &arth{kind: aConst, k: foldOp(op, l.k, r.k), checks: checks}, nil
		}
		if c.noOptimize {
			// Unoptimised, libpcap keeps every load.
			return &arth{kind: aBin, op: op, l: l, r: r, checks: checks}, nil
		}
		if r.k == 0 && (op == bpf.ALUOpMul || op == bpf.ALUOpAnd) {
			return &arth{kind: aConst, k: 0, checks: checks}, nil
		}
	}
	if l.kind == aConst && l.k == 0 && r.kind != aConst && !c.noOptimize {
		// libpcap's optimiser: 0 op X is 0 for these (even 0 / 0)...
		switch op {
		case bpf.ALUOpMul, bpf.ALUOpDiv, bpf.ALUOpMod, bpf.ALUOpAnd, bpf.ALUOpShiftLeft, bpf.ALUOpShiftRight:
			return &arth{kind: aConst, k: 0, checks: checks}, nil
		case bpf.ALUOpAdd, bpf.ALUOpOr, bpf.ALUOpXor:
			// ... and X for these.
			x := *r
			x.checks = checks
			return &x, nil
		}
	}
	return &arth{kind: aBin, op: op, l: l, r: r, checks: checks}, nil
}

func foldOp(op bpf.ALUOp, a, b uint32) uint32 {
	switch op {
	case bpf.ALUOpAdd:
		return a + b
	case bpf.ALUOpSub:
		return a - b
	case bpf.ALUOpMul:
		return a * b
	case bpf.ALUOpDiv:
		return a / b
	case bpf.ALUOpMod:
		return a % b
	case bpf.ALUOpAnd:
		return a & b
	case bpf.ALUOpOr:
		return a | b
	case bpf.ALUOpXor:
		return a ^ b
	case bpf.ALUOpShiftLeft:
		return a << b
	case bpf.ALUOpShiftRight:
		return a >> b
	}
	panic("unknown ALU op")
}

// maxScratch is the number of BPF scratch memory slots.
const maxScratch = 16

var errTooComplex = semErr("expression too complex (needs more than %d scratch registers)", maxScratch)

// genValue appends code that leaves the value of a in A, using scratch
// slots from depth up to (not including) limit. X is clobbered.
func genValue(a *arth, depth, limit int, out []bpf.Instruction) ([]bpf.Instruction, error) {
	var err error
	switch a.kind {
	case aConst:
		return append(out, bpf.LoadConstant{Dst: bpf.RegA, Val: a.k}), nil
	case aLen:
		out = append(out, bpf.LoadExtension{Num: bpf.ExtLen})
		if a.k != 0 { // cooked socket: the header the kernel does not count
			out = append(out, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: a.k})
		}
		return out, nil
	case aNeg:
		if out, err = genValue(a.l, depth, limit, out); err != nil {
			return nil, err
		}
		// -A; x/net/bpf's VM has no NEG, multiplying wraps the same way.
		return append(out, bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: 0xffffffff}), nil
	case aBin:
		if out, err = genValue(a.l, depth, limit, out); err != nil {
			return nil, err
		}
		if a.r.kind == aConst {
			return append(out, bpf.ALUOpConstant{Op: a.op, Val: a.r.k}), nil
		}
		if depth >= limit {
			return nil, errTooComplex
		}
		out = append(out, bpf.StoreScratch{Src: bpf.RegA, N: depth})
		if out, err = genValue(a.r, depth+1, limit, out); err != nil {
			return nil, err
		}
		return append(out, bpf.TAX{}, bpf.LoadScratch{Dst: bpf.RegA, N: depth}, bpf.ALUOpX{Op: a.op}), nil
	case aLoad:
		lc := a.lc
		var base absOff // the header the index is relative to
		var extra uint32
		transport := false
		switch a.proto {
		case pLink:
			base = lc.hdr
		case pICMP6:
			base, extra = lc.pl, lc.nl+40
		case pIP, pIP6, pARP, pRARP, pATALK, pDECNET, pSCA, pLAT, pMOPRC, pMOPDL:
			base, extra = lc.pl, lc.nl
		default: // tcp, udp, icmp, ...: after the IPv4 header and options
			transport = true
		}
		if a.l.kind == aConst {
			if transport {
				return append(append(out, lc.xIPHdrLen()...), bpf.LoadIndirect{Off: lc.pl.k + lc.nl + a.l.k, Size: a.size}), nil
			}
			return append(out, loadAt(base, extra+a.l.k, a.size)...), nil
		}
		if out, err = genValue(a.l, depth, limit, out); err != nil {
			return nil, err
		}
		switch {
		case transport:
			if depth >= limit {
				return nil, errTooComplex
			}
			out = append(out, bpf.StoreScratch{Src: bpf.RegA, N: depth})
			out = append(out, lc.xIPHdrLen()...)
			out = append(out, bpf.LoadScratch{Dst: bpf.RegA, N: depth}, bpf.ALUOpX{Op: bpf.ALUOpAdd})
			base, extra = constOff(lc.pl.k), lc.nl
		case base.variable():
			out = append(out, bpf.LoadScratch{Dst: bpf.RegX, N: base.reg}, bpf.ALUOpX{Op: bpf.ALUOpAdd})
		}
		return append(out, bpf.TAX{}, bpf.LoadIndirect{Off: base.k + extra, Size: a.size}), nil
	}
	return nil, fmt.Errorf("internal error: unknown value kind %d", a.kind)
}

// relation builds "l relop r".
func (c *compiler) relation(op string, l, r *arth) (*bnode, error) {
	limit := c.scratchLimit()
	var cond bpf.JumpTest
	negate := false
	switch op {
	case "=", "==":
		cond = bpf.JumpEqual
	case "!=":
		cond, negate = bpf.JumpEqual, true
	case ">":
		cond = bpf.JumpGreaterThan
	case ">=":
		cond = bpf.JumpGreaterOrEqual
	case "<":
		cond, negate = bpf.JumpGreaterOrEqual, true
	case "<=":
		cond, negate = bpf.JumpGreaterThan, true
	default:
		return nil, fmt.Errorf("syntax error: unknown comparison %q", op)
	}
	var test *bnode
	switch {
	case l.kind == aConst && r.kind == aConst:
		var v bool
		switch cond {
		case bpf.JumpEqual:
			v = l.k == r.k
		case bpf.JumpGreaterThan:
			v = l.k > r.k
		case bpf.JumpGreaterOrEqual:
			v = l.k >= r.k
		}
		test = konst(v)
	case r.kind == aConst:
		stmts, err := genValue(l, 0, limit, nil)
		if err != nil {
			return nil, err
		}
		test = atom(cond, r.k, stmts...)
	default:
		if limit < 1 {
			return nil, errTooComplex
		}
		stmts, err := genValue(l, 0, limit, nil)
		if err != nil {
			return nil, err
		}
		stmts = append(stmts, bpf.StoreScratch{Src: bpf.RegA, N: 0})
		if stmts, err = genValue(r, 1, limit, stmts); err != nil {
			return nil, err
		}
		stmts = append(stmts, bpf.TAX{}, bpf.LoadScratch{Dst: bpf.RegA, N: 0})
		test = atomX(cond, stmts...)
	}
	if negate {
		test = not(test)
	}
	if checks := andChecks(l.checks, r.checks); checks != nil {
		return and(checks, test), nil
	}
	return test, nil
}
