package bpf

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// Live VLAN filters: the kernel usually moves the outermost tag of a
// received frame out of the packet into ancillary data. CompileLive's
// programs only run in the kernel, so the tests run them in the test
// interpreter with the ancillary values the kernel would give.

// kernelView is a frame as an AF_PACKET socket filter sees it.
type kernelView struct {
	pkt []byte
	anc map[bpf.Extension]uint32
}

func ancillary(present bool, tci uint16, pktType uint32) map[bpf.Extension]uint32 {
	p := uint32(0)
	if present {
		p = 1
	}
	return map[bpf.Extension]uint32{bpf.ExtVLANTagPresent: p, bpf.ExtVLANTag: uint32(tci), bpf.ExtType: pktType,
		bpf.ExtInterfaceIndex: 1, bpf.ExtProto: 0}
}

// kernelViews returns the ways a frame can reach the filter: as it is, and,
// when its outermost tag is 802.1Q or 802.1ad, with that tag removed into
// the ancillary data.
func kernelViews(frame []byte, pktType uint32) []kernelView {
	views := []kernelView{{frame, ancillary(false, 0, pktType)}}
	if len(frame) >= 18 {
		if tpid := binary.BigEndian.Uint16(frame[12:]); tpid == eth8021Q || tpid == eth8021A {
			stripped := append(append([]byte(nil), frame[:12]...), frame[16:]...)
			views = append(views, kernelView{stripped, ancillary(true, binary.BigEndian.Uint16(frame[14:]), pktType)})
		}
	}
	return views
}

func TestCompileLiveInstructions(t *testing.T) {
	prog, err := CompileLive("vlan 100 and tcp port 80", Ethernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	insns, _ := bpf.Disassemble(prog)
	// The offset registers are set to 0 first, then the tag is looked
	// for in the ancillary data, its id read from there.
	if len(insns) < 3 || insns[0] != (bpf.LoadConstant{Dst: bpf.RegA, Val: 0}) {
		t.Fatalf("program does not start by clearing the offset registers:\n%s", disasm(prog))
	}
	st1, ok1 := insns[1].(bpf.StoreScratch)
	st2, ok2 := insns[2].(bpf.StoreScratch)
	if !ok1 || !ok2 || st1.N == st2.N {
		t.Fatalf("program does not clear two registers:\n%s", disasm(prog))
	}
	if !slices.Contains(insns, bpf.Instruction(bpf.LoadExtension{Num: bpf.ExtVLANTagPresent})) ||
		!slices.Contains(insns, bpf.Instruction(bpf.LoadExtension{Num: bpf.ExtVLANTag})) {
		t.Errorf("no SKF_AD_VLAN_TAG_PRESENT and SKF_AD_VLAN_TAG loads:\n%s", disasm(prog))
	}
	if !slices.ContainsFunc(insns, func(i bpf.Instruction) bool {
		l, ok := i.(bpf.LoadScratch)
		return ok && l.Dst == bpf.RegX && (l.N == st1.N || l.N == st2.N)
	}) {
		t.Errorf("no load at a variable offset after the tag:\n%s", disasm(prog))
	}
	if _, err := Match(prog, make([]byte, 60)); err == nil {
		t.Error("Match ran a program that reads ancillary data")
	}

	ip := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	tagged := func(vid uint16) []byte {
		return ether(macA, macB, []vlanTag{{0x8100, vid}}, layers.EthernetTypeIPv4, ip, tcp(1234, 80, 0x02, ip))
	}
	untagged := ether(macA, macB, nil, layers.EthernetTypeIPv4, ip, tcp(1234, 80, 0x02, ip))
	qinq := ether(macA, macB, []vlanTag{{0x88a8, 100}, {0x8100, 200}}, layers.EthernetTypeIPv4, ip, tcp(1234, 80, 0x02, ip))
	stripped := func(f []byte) []byte { return append(append([]byte(nil), f[:12]...), f[16:]...) }
	tests := []struct {
		name, expr string
		pkt        []byte
		present    bool
		tci        uint16
		want       bool
	}{
		{"tag in metadata", "vlan 100 and tcp port 80", untagged, true, 0x6064, true}, // priority 3, id 100
		{"tag in packet", "vlan 100 and tcp port 80", tagged(100), false, 0, true},
		{"other id in packet", "vlan 100 and tcp port 80", tagged(200), false, 0, false},
		{"other id in metadata", "vlan 100 and tcp port 80", untagged, true, 200, false},
		{"no tag", "vlan 100 and tcp port 80", untagged, false, 0, false},
		{"no tag, any vlan", "vlan", untagged, false, 0, false},
		{"metadata, any vlan", "vlan", untagged, true, 0, true},
		{"outer in metadata, inner in packet", "vlan 100 and vlan 200 and tcp", stripped(qinq), true, 100, true},
		{"both in packet", "vlan 100 and vlan 200 and tcp", qinq, false, 0, true},
		{"outer stripped, wrong inner", "vlan 100 and vlan 300", stripped(qinq), true, 100, false},
		{"not vlan, tag in metadata", "tcp and not vlan", untagged, true, 100, false},
		{"not vlan, no tag", "tcp and not vlan", untagged, false, 0, true},
		// As in libpcap, what follows "vlan" is read after the tag even
		// when the test is negated: "not vlan and tcp" looks for TCP 4
		// bytes too far.
		{"not vlan first", "not vlan and tcp", untagged, false, 0, false},
	}
	for _, tc := range tests {
		prog, err := CompileLive(tc.expr, Ethernet, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := traceRunAnc(prog, tc.pkt, ancillary(tc.present, tc.tci, 0))
		if got != tc.want {
			t.Errorf("%s: %q: got %v, want %v\n%s", tc.name, tc.expr, got, tc.want, disasm(prog))
		}
	}

	// Without "vlan", CompileLive is Compile.
	for _, e := range []string{"tcp port 80", "host 10.0.0.1 and not arp", "mpls and ip", "geneve and ip", "inbound"} {
		a, errA := CompileLive(e, Ethernet, 0)
		b, errB := Compile(e, Ethernet, 0)
		if errA != nil || errB != nil || !slices.Equal(a, b) {
			t.Errorf("%q: CompileLive and Compile differ (%v, %v)", e, errA, errB)
		}
	}
	// Inner layers' "vlan" is in the packet: no ancillary data after
	// PPPoE (an error) or Geneve.
	prog, err = CompileLive("geneve and vlan 5", Ethernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	if insns, _ := bpf.Disassemble(prog); slices.Contains(insns, bpf.Instruction(bpf.LoadExtension{Num: bpf.ExtVLANTagPresent})) {
		t.Errorf("geneve and vlan: the inner tag was looked for in the ancillary data:\n%s", disasm(prog))
	}
}

var liveExprs = []string{
	"vlan", "vlan 100", "vlan 0", "vlan 4095", "not vlan", "vlan and tcp port 80", "vlan 100 and host 10.0.0.1",
	"vlan 100 and vlan 200", "vlan and vlan and ip", "vlan and vlan 200 and udp port 53", "vlan or tcp", "tcp or vlan and udp",
	"vlan 100 or vlan 200", "vlan 200 and ip6", "vlan and ip6 and port 53", "port 80 and vlan and port 8080",
	"vlan and tcp[13] & 2 != 0", "vlan and ip[9] = 6", "vlan and len > 100", "vlan and ether host 02:00:00:00:00:01",
	"vlan and broadcast", "vlan and multicast", "vlan and mpls and ip", "vlan 5 and mpls 100", "vlan and pppoes and ip",
	"vlan and geneve and ip", "geneve and vlan 100", "vlan and arp", "ether[12:2] = 0x8100 or vlan 5",
	"vlan and not ip and not ip6", "(vlan and ip) or ip6", "vlan and inbound", "outbound and vlan 100",
	"tcp", "host 10.0.0.1", "inbound and tcp", "ifindex 1 or vlan",
}

// CompileLive decides like libpcap's live programs (tcpdump -i lo), run
// on the kernel's views of each frame.
func TestCompileLiveTcpdump(t *testing.T) {
	tcpdump := findTcpdump()
	if tcpdump == "" {
		t.Skip("tcpdump not installed")
	}
	if r := runTcpdump(tcpdump, []string{"-i", "lo"}, "vlan"); r.err != nil || r.msg != "" {
		t.Skipf("tcpdump cannot compile live filters for lo here (%v %s)", r.err, r.msg)
	} else if insns, _ := bpf.Disassemble(r.prog); !slices.Contains(insns, bpf.Instruction(bpf.LoadExtension{Num: bpf.ExtVLANTagPresent})) {
		t.Skipf("this libpcap does not test VLAN tags in ancillary data:\n%s", disasm(r.prog))
	}
	g := &packetGen{r: rand.New(rand.NewPCG(21, 22))}
	frames := semanticFrames()
	for range 3000 {
		frames = append(frames, g.frame())
	}
	var views []kernelView
	for i, f := range frames {
		views = append(views, kernelViews(f, uint32([]int{0, 4, 1}[i%3]))...)
	}
	compared := 0
	for _, e := range liveExprs {
		r := runTcpdump(tcpdump, []string{"-i", "lo"}, e)
		if r.err != nil {
			t.Fatal(r.err)
		}
		ours, err := CompileLive(e, Ethernet, 0)
		switch {
		case r.msg != "" && err != nil:
			continue
		case r.msg != "":
			t.Errorf("%q: tcpdump says %s, we compile it", e, r.msg)
			continue
		case err != nil:
			t.Errorf("%q: %v; tcpdump compiles it", e, err)
			continue
		}
		compared++
		for _, v := range views {
			got, _ := traceRunAnc(ours, v.pkt, v.anc)
			want, _ := traceRunAnc(r.prog, v.pkt, v.anc)
			if got != want {
				t.Errorf("%q on % x (vlan present %d, tci %#x): got %v, tcpdump %v\nours:\n%s\ntcpdump's:\n%s",
					e, v.pkt, v.anc[bpf.ExtVLANTagPresent], v.anc[bpf.ExtVLANTag], got, want, disasm(ours), disasm(r.prog))
				break
			}
		}
	}
	t.Logf("%d live expressions x %d kernel views compared with tcpdump -i lo", compared, len(views))
	if compared < len(liveExprs)-3 {
		t.Errorf("only %d of %d expressions compared", compared, len(liveExprs))
	}
}
