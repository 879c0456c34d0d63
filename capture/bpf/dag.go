package bpf

import (
	"fmt"
	"math/bits"
	"sort"
	"strings"

	"golang.org/x/net/bpf"
)

// The boolean tree becomes a graph of blocks (an atom's statements and its
// conditional jump, with true and false successors) which is then put
// through the branch optimisations of libpcap's optimiser: jump threading
// (a test whose outcome is implied by a test on every path to it is
// skipped) and the "or/and pull-up" that regroups tests of the same value.
//
// Without an out-of-bounds load these only shorten the program. With one
// they matter: classic BPF rejects the packet when a load falls outside it,
// and libpcap's optimiser freely skips or reorders loads, so on truncated
// packets tcpdump's programs decide as if the loads happened in the
// optimised order. Doing the same transformations gives the same decisions.

type block struct {
	stmts  []bpf.Instruction
	cond   bpf.JumpTest
	useX   bool
	k      uint32
	jt, jf *block

	ret    bool // a return block (leaf)
	retVal uint32

	val  string // identifies the value of A the test looks at
	oval string // identifies the operand it is compared with

	// Analysis, recomputed after each change.
	id    int
	level int
	in    []edgeRef // incoming edges
	edom  bitset    // edge dominators of the true edge (2*id) and false edge (2*id+1)
	edomF bitset
	gen   int // analysis generation that last reached the block

	merged *block // set by intern: the identical block that replaces this one
}

type edgeRef struct {
	pred  *block
	sense bool // the pred's true edge
}

func (e edgeRef) get() *block {
	if e.sense {
		return e.pred.jt
	}
	return e.pred.jf
}

func (e edgeRef) set(b *block) {
	if e.sense {
		e.pred.jt = b
	} else {
		e.pred.jf = b
	}
}

// redirect points edge e at b, keeping the in-edge lists up to date.
func redirect(e edgeRef, b *block) {
	old := e.get()
	for i, x := range old.in {
		if x == e {
			old.in = append(old.in[:i], old.in[i+1:]...)
			break
		}
	}
	e.set(b)
	b.in = append(b.in, e)
}

type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (s bitset) set(i int) { s[i/64] |= 1 << (i % 64) }
func (s bitset) fill() {
	for i := range s {
		s[i] = ^uint64(0)
	}
}
func (s bitset) intersect(o bitset) {
	for i := range s {
		s[i] &= o[i]
	}
}

func stmtKey(stmts []bpf.Instruction) string {
	var b strings.Builder
	for _, s := range stmts {
		fmt.Fprintf(&b, "%#v;", s)
	}
	return b.String()
}

// buildGraph turns a (folded) tree into blocks, sharing the successor
// blocks as libpcap's backpatching does.
//
// With prune, a test whose outcome does not matter is left out (its loads
// are dead code, which libpcap's optimiser removes too).
func buildGraph(n *bnode, t, f *block, prune bool) *block {
	switch n.op {
	case opConst:
		if n.val {
			return t
		}
		return f
	case opNot:
		return buildGraph(n.a, f, t, prune)
	case opAnd:
		return buildGraph(n.a, buildGraph(n.b, t, f, prune), f, prune)
	case opOr:
		return buildGraph(n.a, t, buildGraph(n.b, t, f, prune), prune)
	}
	if t == f && prune {
		return t
	}
	key := stmtKey(n.stmts)
	b := &block{stmts: n.stmts, cond: n.cond, useX: n.useX, k: n.k, jt: t, jf: f, val: key}
	if n.useX {
		b.oval = "x:" + key
	} else {
		b.oval = fmt.Sprintf("k:%d", n.k)
	}
	return b
}

// graph holds the blocks reachable from the root in topological order.
type graph struct {
	root   *block
	blocks []*block // non-leaf blocks, root first
	gen    int
}

// analyse orders the reachable blocks topologically and computes levels
// and in-edges, plus edge dominators when withDom is set.
func (g *graph) analyse(withDom bool) {
	g.gen++
	var post []*block
	var visit func(b *block)
	visit = func(b *block) {
		if b.gen == g.gen {
			return
		}
		b.gen = g.gen
		b.in = b.in[:0]
		if b.ret {
			return
		}
		visit(b.jt)
		visit(b.jf)
		post = append(post, b)
	}
	visit(g.root)
	g.blocks = g.blocks[:0]
	for i := len(post) - 1; i >= 0; i-- {
		g.blocks = append(g.blocks, post[i])
	}
	for i, b := range g.blocks {
		b.id = i
	}
	// Levels (distance from the leaves) and in-edges.
	for i := len(g.blocks) - 1; i >= 0; i-- {
		b := g.blocks[i]
		lt, lf := 0, 0
		if !b.jt.ret {
			lt = b.jt.level
		}
		if !b.jf.ret {
			lf = b.jf.level
		}
		b.level = 1 + max(lt, lf)
	}
	for _, b := range g.blocks {
		b.jt.in = append(b.jt.in, edgeRef{b, true})
		b.jf.in = append(b.jf.in, edgeRef{b, false})
	}
	if !withDom {
		return
	}
	// Edge dominators: the edges on every path from the root to an edge,
	// the edge included.
	ne := 2 * len(g.blocks)
	for _, b := range g.blocks {
		d := newBitset(ne)
		if len(b.in) > 0 {
			d.fill()
			for _, e := range b.in {
				if e.sense {
					d.intersect(e.pred.edom)
				} else {
					d.intersect(e.pred.edomF)
				}
			}
		}
		b.edom, b.edomF = d, append(bitset(nil), d...)
		b.edom.set(2 * b.id)
		b.edomF.set(2*b.id + 1)
	}
}

// foldEdge returns the block an edge into child can go to instead, given
// that the dominating edge e was taken, or nil.
func foldEdge(child *block, e edgeRef) *block {
	p := e.pred
	if child.cond != p.cond || child.useX != p.useX || child.val != p.val {
		return nil
	}
	if child.oval == p.oval {
		if e.sense {
			return child.jt
		}
		return child.jf
	}
	if e.sense && child.cond == bpf.JumpEqual && !child.useX {
		// A equals a different constant.
		return child.jf
	}
	return nil
}

// optJ threads an edge past blocks whose outcome its dominators decide.
func (g *graph) optJ(e edgeRef, dom bitset) bool {
	changed := false
	for {
		succ := e.get()
		if succ.ret {
			return changed
		}
		if succ.jt == succ.jf {
			e.set(succ.jt)
			changed = true
			continue
		}
		var target *block
	search:
		for w, word := range dom {
			for word != 0 {
				bit := bits.TrailingZeros64(word)
				word &^= 1 << bit
				id := 64*w + bit
				if target = foldEdge(succ, edgeRef{g.blocks[id/2], id%2 == 0}); target != nil {
					break search
				}
			}
		}
		if target == nil {
			return changed
		}
		e.set(target)
		changed = true
	}
}

// pullup is libpcap's or_pullup (orChain) and and_pullup (!orChain): in a
// chain of tests that all jump to the same place on success (or, for and,
// on failure), a test of the value the chain's predecessor tested is moved
// up next to it. Unlike libpcap it only moves blocks that have no other
// entry than the chain, which keeps the transformation valid whatever the
// graph looks like.
func pullup(b *block, orChain bool) bool {
	if len(b.in) == 0 {
		return false
	}
	val := b.in[0].pred.val
	for _, e := range b.in[1:] {
		if e.pred.val != val {
			return false
		}
	}
	exit := func(x *block) *block { // where the chain goes on "success"
		if orChain {
			return x.jt
		}
		return x.jf
	}
	next := func(x *block) edgeRef { return edgeRef{x, !orChain} }
	diff := b.in[0]
	atTop := true
	for {
		d := diff.get()
		if d.ret || exit(d) != exit(b) {
			return false
		}
		if !atTop && len(d.in) != 1 {
			return false
		}
		if d.val != val {
			break
		}
		diff = next(d)
		atTop = false
	}
	same := next(diff.get())
	for {
		s := same.get()
		if s.ret || exit(s) != exit(b) || len(s.in) != 1 {
			return false
		}
		if s.val == val {
			break
		}
		same = next(s)
	}
	pull := same.get()
	redirect(same, next(pull).get())
	redirect(next(pull), diff.get())
	if atTop {
		for _, e := range append([]edgeRef(nil), b.in...) {
			if e.pred != pull {
				redirect(e, pull)
			}
		}
	} else {
		redirect(diff, pull)
	}
	return true
}

// optimize applies jump threading and pull-ups until nothing changes. As
// in libpcap, one pass threads every edge with the dominator information
// computed at its start (still sound after earlier redirections: a new path
// only skips a test whose outcome was already implied), then tries the
// pull-ups bottom-up.
func (g *graph) optimize() {
	for pass := 0; pass < 100; pass++ {
		g.analyse(true)
		changed := false
		byLevel := append([]*block(nil), g.blocks...)
		sort.SliceStable(byLevel, func(i, j int) bool { return byLevel[i].level < byLevel[j].level })
		for _, b := range byLevel {
			if g.optJ(edgeRef{b, true}, b.edom) {
				changed = true
			}
			if g.optJ(edgeRef{b, false}, b.edomF) {
				changed = true
			}
		}
		g.analyse(false)
		for _, b := range byLevel {
			if b.gen != g.gen {
				continue // no longer reachable
			}
			for _, or := range []bool{true, false} {
				if pullup(b, or) {
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	g.intern()
	g.optRoot()
}

// intern merges identical blocks (same test, same successors), bottom-up,
// as libpcap's intern_blocks: "port 80 or 8080" tests the ports of TCP,
// UDP and SCTP packets with one chain instead of three.
func (g *graph) intern() {
	g.analyse(false)
	type key struct {
		val, oval string
		cond      bpf.JumpTest
		useX      bool
		jt, jf    *block
	}
	canon := map[key]*block{}
	for i := len(g.blocks) - 1; i >= 0; i-- {
		b := g.blocks[i]
		if b.jt.merged != nil {
			b.jt = b.jt.merged
		}
		if b.jf.merged != nil {
			b.jf = b.jf.merged
		}
		k := key{b.val, b.oval, b.cond, b.useX, b.jt, b.jf}
		if c, ok := canon[k]; ok {
			b.merged = c
		} else {
			canon[k] = b
		}
	}
	if g.root.merged != nil {
		g.root = g.root.merged
	}
}

// optRoot is libpcap's opt_root: a root whose test does not matter is
// skipped; its statements move to the new root, unless that is a return.
func (g *graph) optRoot() {
	stmts := g.root.stmts
	if g.root.ret || g.root.jt != g.root.jf {
		return
	}
	for !g.root.ret && g.root.jt == g.root.jf {
		g.root = g.root.jt
	}
	if !g.root.ret {
		g.root.stmts = append(append([]bpf.Instruction(nil), stmts...), g.root.stmts...)
	}
}

// emitGraph lays the blocks out in topological order (all jumps forward)
// and returns the program.
func (g *graph) emit() ([]bpf.Instruction, error) {
	g.analyse(false)
	var rev []bpf.Instruction
	push := func(ins bpf.Instruction) int {
		rev = append(rev, ins)
		return len(rev) - 1
	}
	label := map[*block]int{}
	for _, leaf := range g.leaves() {
		label[leaf] = push(bpf.RetConstant{Val: leaf.retVal})
	}
	for i := len(g.blocks) - 1; i >= 0; i-- {
		b := g.blocks[i]
		if len(rev) > maxInstructions {
			return nil, fmt.Errorf("filter program too large (more than %d instructions, the kernel limit)", maxInstructions)
		}
		t, f := label[b.jt], label[b.jf]
		p := len(rev)
		if skip(p, t) > 255 {
			t = push(bpf.Jump{Skip: uint32(skip(len(rev), t))})
		}
		if skip(len(rev), f) > 255 {
			f = push(bpf.Jump{Skip: uint32(skip(len(rev), f))})
		}
		p = len(rev)
		st, sf := uint8(skip(p, t)), uint8(skip(p, f))
		if b.useX {
			push(bpf.JumpIfX{Cond: b.cond, SkipTrue: st, SkipFalse: sf})
		} else {
			push(bpf.JumpIf{Cond: b.cond, Val: b.k, SkipTrue: st, SkipFalse: sf})
		}
		stmts := b.stmts
		switch {
		case b != g.root && allPreds(b, func(p *block) bool { return p.val == b.val }):
			// Every predecessor computed exactly this: A, X and the
			// scratch memory already hold the values.
			stmts = nil
		case b != g.root && len(stmts) > 0 && allPreds(b, func(p *block) bool { return exitsWith(p, stmts[0]) }):
			// X already holds the IPv4 header length.
			stmts = stmts[1:]
		}
		for j := len(stmts) - 1; j >= 0; j-- {
			push(stmts[j])
		}
		label[b] = len(rev) - 1
	}
	if label[g.root] != len(rev)-1 {
		return nil, fmt.Errorf("internal error: entry block is not first")
	}
	prog := make([]bpf.Instruction, len(rev))
	for i, ins := range rev {
		prog[len(rev)-1-i] = ins
	}
	return prog, nil
}

func allPreds(b *block, f func(*block) bool) bool {
	for _, e := range b.in {
		if !f(e.pred) {
			return false
		}
	}
	return len(b.in) > 0
}

// exitsWith reports whether ins is a LoadMemShift whose result is still in
// X at the end of block p.
func exitsWith(p *block, ins bpf.Instruction) bool {
	msh, ok := ins.(bpf.LoadMemShift)
	if !ok {
		return false
	}
	for j := len(p.stmts) - 1; j >= 0; j-- {
		switch s := p.stmts[j].(type) {
		case bpf.LoadMemShift:
			return s == msh
		case bpf.TAX:
			return false
		case bpf.LoadConstant:
			if s.Dst == bpf.RegX {
				return false
			}
		case bpf.LoadScratch:
			if s.Dst == bpf.RegX {
				return false
			}
		}
	}
	return false
}

// leaves returns the return blocks in a fixed order (reject, then accept).
func (g *graph) leaves() []*block {
	var ls []*block
	seen := map[*block]bool{}
	for _, b := range g.blocks {
		for _, s := range []*block{b.jt, b.jf} {
			if s.ret && !seen[s] {
				seen[s] = true
				ls = append(ls, s)
			}
		}
	}
	// Reject first so it ends the program, like libpcap's layout.
	for i := 1; i < len(ls); i++ {
		if ls[i].retVal < ls[i-1].retVal {
			ls[i], ls[i-1] = ls[i-1], ls[i]
		}
	}
	return ls
}
