package bpf

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

// A cooked-socket program, run on the network-layer packet with the
// packet type and protocol as ancillary data, must decide like the
// LinuxSLL program run on the packet with its cooked header.
func TestCookedSocket(t *testing.T) {
	g := &packetGen{r: rand.New(rand.NewPCG(5, 6))}
	var pkts [][]byte
	for _, f := range semanticFrames() {
		pkts = append(pkts, toLink(f, LinuxSLL, 0), toLink(f, LinuxSLL, 4))
	}
	for range 2000 {
		p := toLink(g.frame(), LinuxSLL, uint8(g.r.IntN(5)))
		if len(p) >= sllHeaderLen {
			pkts = append(pkts, p)
		}
	}
	exprs := append([]string{"ether[0:2] = 4", "ether[14:2] = 0x86dd", "len >= 76 and tcp", "less 70", "greater 80 and not ether[0:2] = 4"}, diffExprs...)
	var compared int
	for _, e := range exprs {
		sll, err := Compile(e, LinuxSLL, 0)
		if err != nil {
			continue
		}
		cooked, err := CompileCookedSocket(e, 0)
		if err != nil {
			if !strings.Contains(err.Error(), "cooked") {
				t.Errorf("CompileCookedSocket(%q): %v", e, err)
			}
			continue
		}
		if _, err := Match(cooked, pkts[0][sllHeaderLen:]); err == nil && usesAncillary(cooked) {
			t.Errorf("Match ran the cooked program of %q, which reads ancillary data", e)
		}
		vm, err := newVM(sll)
		if err != nil {
			t.Fatal(err)
		}
		compared++
		for _, p := range pkts {
			n, _ := vm.Run(p)
			anc := map[bpf.Extension]uint32{
				bpf.ExtType:  uint32(binary.BigEndian.Uint16(p[0:])),
				bpf.ExtProto: uint32(binary.BigEndian.Uint16(p[14:])),
			}
			got, _ := traceRunAnc(cooked, p[sllHeaderLen:], anc)
			if want := n > 0; got != want {
				t.Errorf("%q on % x: cooked socket program says %v, LinuxSLL program %v\ncooked:\n%s\nsll:\n%s", e, p, got, want, disasm(cooked), disasm(sll))
				break
			}
		}
	}
	if compared < 100 {
		t.Errorf("only %d expressions compared", compared)
	}

	for _, e := range []string{"ether[2] = 1", "ether[tcp[0]] = 1", "ether[1:2] = 3"} {
		if _, err := CompileCookedSocket(e, 0); err == nil || !strings.Contains(err.Error(), "cooked header") {
			t.Errorf("CompileCookedSocket(%q): got %v, want an error about the cooked header", e, err)
		}
	}
}

func usesAncillary(prog []bpf.RawInstruction) bool {
	insns, _ := bpf.Disassemble(prog)
	for _, ins := range insns {
		if x, ok := ins.(bpf.LoadExtension); ok && x.Num != bpf.ExtLen {
			return true
		}
	}
	return false
}
