package bpf

import "golang.org/x/net/bpf"

// Other primitives.

func (c *compiler) inbound(in bool) (*bnode, error) {
	var out *bnode
	switch c.curLink {
	case LinuxSLL:
		out = c.cmp(orLinkHdr, 0, 2, packetOutgoing)
	case LinuxSLL2:
		out = c.cmp(orLinkHdr, 10, 1, packetOutgoing)
	default:
		if c.mode == modeFile {
			return nil, semErr("inbound/outbound not supported on %s when reading savefiles", linktypeName(c.curLink))
		}
		// Kernel ancillary data (libpcap does the same on live captures).
		out = atom(bpf.JumpEqual, packetOutgoing, bpf.RawInstruction{Op: 0x28, K: skfAdPktType})
	}
	if in {
		return not(out), nil
	}
	return out, nil
}

// ifindex is "ifindex N": the interface of a LinuxSLL2 packet, or the
// kernel's ancillary data on a live socket.
func (c *compiler) ifindex(n uint32) (*bnode, error) {
	if c.curLink == LinuxSLL2 {
		return c.cmp(orLinkHdr, 4, 4, n), nil
	}
	if c.mode == modeFile {
		return nil, semErr("ifindex not supported on %s when reading savefiles", linktypeName(c.curLink))
	}
	return atom(bpf.JumpEqual, n, bpf.RawInstruction{Op: 0x20, K: skfAdIfindex}), nil
}

// lenTest is "less n" (len <= n) or "greater n" (len >= n).
func (c *compiler) lenTest(less bool, n uint32) *bnode {
	load := []bpf.Instruction{bpf.LoadExtension{Num: bpf.ExtLen}}
	if adj := c.lenAdjust(); adj != 0 {
		load = append(load, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: adj})
	}
	if less {
		return not(atom(bpf.JumpGreaterThan, n, load...))
	}
	return atom(bpf.JumpGreaterOrEqual, n, load...)
}

// byteOp is "byte idx op val": the byte at idx of the link-layer header
// compared (=, <, >) or tested with a mask (&, |: nonzero).
func (c *compiler) byteOp(op string, idx, val uint32) *bnode {
	switch op {
	case "=":
		return c.cmp(orLinkHdr, idx, 1, val)
	case "<":
		return not(c.cmpGE(orLinkHdr, idx, 1, val))
	case ">":
		return c.cmpGT(orLinkHdr, idx, 1, val)
	}
	alu := bpf.ALUOpAnd
	if op == "|" {
		alu = bpf.ALUOpOr
	}
	return not(atom(bpf.JumpEqual, 0, append(c.ld(orLinkHdr, idx, 1), bpf.ALUOpConstant{Op: alu, Val: val})...))
}

// broadcast is "[ether|ip] broadcast". The netmask is unknown for files
// (0, as in tcpdump -r), so "ip broadcast" is 0.0.0.0 or 255.255.255.255.
func (c *compiler) broadcast(p proto) (*bnode, error) {
	switch p {
	case pDefault, pLink:
		if c.curLink != Ethernet {
			return nil, semErr("not a broadcast link")
		}
		return andPrev(c.prevLinkHdrCheck(), c.ehostop([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, dDst)), nil
	case pIP:
		const netmask = 0
		hostmask := ^uint32(netmask)
		b := or(c.mcmp(orLinkPL, 16, 4, 0, hostmask), c.mcmp(orLinkPL, 16, 4, hostmask, hostmask))
		return and(c.linktype(ethIPv4), b), nil
	}
	return nil, semErr("only link-layer/IP broadcast filters supported")
}

// multicast is "[ether|ip|ip6] multicast".
func (c *compiler) multicast(p proto) (*bnode, error) {
	switch p {
	case pDefault, pLink:
		if c.curLink != Ethernet {
			return nil, semErr("link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel")
		}
		return andPrev(c.prevLinkHdrCheck(), atom(bpf.JumpBitsSet, 1, c.ld(orLinkHdr, 0, 1)...)), nil
	case pIP:
		return and(c.linktype(ethIPv4), c.cmpGE(orLinkPL, 16, 1, 224)), nil
	case pIP6:
		return and(c.linktype(ethIPv6), c.cmp(orLinkPL, 24, 1, 255)), nil
	}
	return nil, semErr("link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel")
}

// lenAdjust is what must be added to the kernel's packet length to get the
// length of the packet as the expression sees it.
func (c *compiler) lenAdjust() uint32 {
	if c.cooked {
		return sllHeaderLen
	}
	return 0
}
