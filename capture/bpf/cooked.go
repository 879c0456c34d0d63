package bpf

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Linux cooked sockets (AF_PACKET, SOCK_DGRAM): the kernel runs the filter
// on the network-layer packet; the cooked header's packet type and protocol
// are ancillary data. As libpcap does for live "any" captures, a program
// compiled for LinuxSLL is adapted: loads past the 16-byte header move 16
// bytes back, the two header fields become ancillary loads, and other
// header bytes cannot be read.
const sllHeaderLen = 16

func cookedLoads(prog []bpf.Instruction) error {
	for i, ins := range prog {
		switch ins := ins.(type) {
		case bpf.LoadAbsolute:
			switch {
			case ins.Off >= sllHeaderLen:
				ins.Off -= sllHeaderLen
				prog[i] = ins
			case ins.Off == 14 && ins.Size == 2:
				prog[i] = bpf.RawInstruction{Op: 0x28, K: skfAdProto} // ldh [proto]
			case ins.Off == 0 && ins.Size == 2:
				prog[i] = bpf.RawInstruction{Op: 0x28, K: skfAdPktType} // ldh [type]
			default:
				return fmt.Errorf("a cooked socket filter cannot read byte %d of the Linux cooked header (only the packet type and protocol fields)", ins.Off)
			}
		case bpf.LoadIndirect:
			if ins.Off < sllHeaderLen {
				return fmt.Errorf("a cooked socket filter cannot index into the Linux cooked header")
			}
			ins.Off -= sllHeaderLen
			prog[i] = ins
		case bpf.LoadMemShift:
			if ins.Off < sllHeaderLen {
				return fmt.Errorf("a cooked socket filter cannot read byte %d of the Linux cooked header", ins.Off)
			}
			ins.Off -= sllHeaderLen
			prog[i] = ins
		}
	}
	return nil
}
