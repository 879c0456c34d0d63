package bpf

import (
	"math/rand/v2"
	"testing"

	"golang.org/x/net/bpf"
)

// Benchmarks on this machine (2 shared cores, go test -bench Match):
// see BenchmarkMatch.

var benchExpr = "tcp port 80 and host 10.0.0.1"

func benchPackets() [][]byte {
	g := &packetGen{r: rand.New(rand.NewPCG(7, 8))}
	pkts := semanticFrames()
	for range 200 {
		pkts = append(pkts, g.frame())
	}
	return pkts
}

func BenchmarkMatch(b *testing.B) {
	pkts := benchPackets()
	for _, expr := range []string{benchExpr, "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", "vlan 100 and ip6 and port 53"} {
		f, err := NewFilter(expr, Ethernet)
		if err != nil {
			b.Fatal(err)
		}
		insns, _ := bpf.Disassemble(f.Program())
		vm, err := bpf.NewVM(insns)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("Filter/"+expr, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p := pkts[i%len(pkts)]
				f.Match(p, len(p))
			}
		})
		b.Run("xnetVM/"+expr, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p := pkts[i%len(pkts)]
				vm.Run(p)
			}
		})
	}
}
