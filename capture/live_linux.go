//go:build linux && !libpcap

package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	xbpf "golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/httplife/httplife/capture/bpf"
)

// The AF_PACKET source: a socket bound to one interface (or all, in cooked
// mode), a TPACKET_V3 ring shared with the kernel, the compiled filter
// attached with SO_ATTACH_FILTER before the socket is bound so that no
// unfiltered packet is ever captured.

const (
	ethPAll        = 0x0003
	skfAdOff       = 0xfffff000 // SKF_AD_OFF (-0x1000) as an unsigned load offset
	skfAdProtocol  = 0
	skfAdPktType   = 4
	skfAdIfIndex   = 8
	sllHdrLen      = 16
	tpacket3HdrLen = 48 // TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
	sockaddrLLLen  = 20
	blockTimeoutMs = 50 // a block is handed over at the latest this long after its first packet
	blockHdrStatus = 8  // offset of block_status in struct tpacket_block_desc
	blockHdrNum    = 12 // num_pkts
	blockHdrFirst  = 16 // offset_to_first_pkt
)

type afpSource struct {
	acct    *liveAcct
	cfg     LiveConfig
	iface   string
	fd, efd int
	ring    []byte
	bsize   int // block size
	nblocks int
	link    uint32
	cooked  bool

	cur     int    // index of the block being read or waited for
	blk     []byte // the block being read; nil when waiting
	left    int    // packets left in blk
	off     int    // offset in blk of the next packet
	scratch []byte

	captured, bytes uint64
	// The kernel's counters, accumulated: reading them resets them.
	received, drops, freezes uint64
	ifDrop0                  uint64
	ifDropOK                 bool

	stopped atomic.Bool
	drained bool       // the wait for the last block after Stop is done
	efdMu   sync.Mutex // guards efd between Stop and Close
	err     error
}

func openLive(cfg LiveConfig) (LiveSource, error) {
	name := cfg.Interface
	s := &afpSource{cfg: cfg, iface: name, fd: -1, efd: -1}
	ifIndex := 0
	loIndex := -1 // the loopback interface in cooked "any" captures
	loopback := false
	var bpfLink bpf.LinkType
	if name == "any" {
		s.cooked = true
		s.link, bpfLink = linkLinuxSLL, bpf.LinuxSLL
		if ifs, err := net.Interfaces(); err == nil {
			for _, ifi := range ifs {
				if ifi.Flags&net.FlagLoopback != 0 {
					loIndex = ifi.Index
					break
				}
			}
		}
	} else {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return nil, liveErr(name, ErrNoInterface, "no interface %q%s", name, interfaceList())
		}
		ifIndex = ifi.Index
		switch hatype(name) {
		case unix.ARPHRD_ETHER:
			s.link, bpfLink = linkEthernet, bpf.Ethernet
		case unix.ARPHRD_LOOPBACK:
			s.link, bpfLink = linkEthernet, bpf.Ethernet
			loopback = true
		case unix.ARPHRD_NONE, unix.ARPHRD_RAWIP:
			s.link, bpfLink = linkRaw, bpf.Raw
		default:
			// Anything else (PPP, tunnels, ...) in cooked mode, as libpcap.
			s.cooked = true
			s.link, bpfLink = linkLinuxSLL, bpf.LinuxSLL
		}
		if ifi.Flags&net.FlagLoopback != 0 {
			loopback = true
		}
	}

	prog, err := bpf.Compile(cfg.Filter, bpfLink, cfg.Snaplen)
	if err != nil {
		return nil, filterErr(name, cfg.Filter, err)
	}
	if s.cooked {
		// A cooked socket's filter sees the packet from the network
		// header on: move the offsets as libpcap does.
		if prog, err = fixCooked(prog); err != nil {
			return nil, filterErr(name, cfg.Filter, err)
		}
	}
	if len(prog) > 4000 { // BPF_MAXINSNS is 4096, with room for the prefix below
		return nil, filterErr(name, cfg.Filter, fmt.Errorf("%d instructions, more than the kernel accepts", len(prog)))
	}
	// On loopback the kernel shows every packet twice, outgoing then
	// incoming: keep the incoming copy (as libpcap does).
	switch {
	case loopback:
		prog = dropLoopbackOutgoing(prog, -1)
	case s.cooked && loIndex > 0:
		prog = dropLoopbackOutgoing(prog, loIndex)
	}

	stype := unix.SOCK_RAW
	if s.cooked {
		stype = unix.SOCK_DGRAM
	}
	// Protocol 0: no packet is queued before bind, after the filter.
	fd, err := unix.Socket(unix.AF_PACKET, stype|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, permissionErr(name, os.NewSyscallError("socket", err))
		}
		return nil, liveErr(name, err, "capturing on %s: socket: %v", name, err)
	}
	s.fd = fd
	fail := func(what string, err error) (LiveSource, error) {
		s.closeAll()
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, permissionErr(name, os.NewSyscallError(what, err))
		}
		return nil, liveErr(name, err, "capturing on %s: %s: %v", name, what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail("setsockopt PACKET_VERSION TPACKET_V3", err)
	}
	s.bsize, s.nblocks = ringGeometry(cfg.Snaplen, cfg.Buffer)
	req := unix.TpacketReq3{
		Block_size:     uint32(s.bsize),
		Block_nr:       uint32(s.nblocks),
		Frame_size:     uint32(s.bsize),
		Frame_nr:       uint32(s.nblocks),
		Retire_blk_tov: blockTimeoutMs,
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail("setsockopt PACKET_RX_RING", err)
	}
	s.ring, err = unix.Mmap(fd, 0, s.bsize*s.nblocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail(fmt.Sprintf("mmap of a %d-byte ring", s.bsize*s.nblocks), err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fail("setsockopt SO_ATTACH_FILTER", err)
	}
	s.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fail("eventfd", err)
	}
	if name != "any" {
		s.ifDrop0, s.ifDropOK = readIfDropped(name)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(ethPAll), Ifindex: ifIndex}); err != nil {
		if errors.Is(err, unix.ENETDOWN) {
			s.closeAll()
			return nil, liveErr(name, err, "capturing on %s: the interface is down", name)
		}
		return fail("bind", err)
	}
	s.acct = newLiveAcct(name)
	return s, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// hatype returns the interface's ARPHRD_ type.
func hatype(name string) uint16 {
	if b, err := os.ReadFile("/sys/class/net/" + name + "/type"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 16); err == nil {
			return uint16(v)
		}
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return unix.ARPHRD_ETHER
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return unix.ARPHRD_ETHER
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return unix.ARPHRD_ETHER
	}
	return ifr.Uint16() // sa_family of the hardware address
}

func interfaceList() string {
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) == 0 {
		return ""
	}
	names := make([]string, 0, len(ifs)+1)
	for _, ifi := range ifs {
		names = append(names, ifi.Name)
	}
	names = append(names, "any")
	return " (interfaces: " + strings.Join(names, ", ") + ")"
}

func readIfDropped(name string) (uint64, bool) {
	b, err := os.ReadFile("/sys/class/net/" + name + "/statistics/rx_dropped")
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}

// ringGeometry chooses the ring's blocks: each holds at least one packet
// of the snaplen, or of 64 KiB (the largest a segmentation offload makes;
// libpcap sizes its frames so too) when the snaplen is larger, with its
// headers; and there are at least two. Small blocks are handed over
// sooner and let the kernel fill one while the reader empties another.
func ringGeometry(snaplen, buffer int) (bsize, nblocks int) {
	need := min(snaplen, 65536) + 128 // tpacket3_hdr, sockaddr_ll, alignment, a VLAN tag
	bsize = os.Getpagesize()
	for bsize < need {
		bsize <<= 1
	}
	nblocks = max(buffer/bsize, 2)
	return bsize, nblocks
}

// fixCooked rewrites a program compiled for LINUX_SLL so that it runs on a
// SOCK_DGRAM packet socket, whose filter sees the packet without the cooked
// header: loads past the header move back by its length, and loads of its
// packet type and protocol fields become the kernel's ancillary loads (as
// libpcap's fix_offset does).
func fixCooked(prog []xbpf.RawInstruction) ([]xbpf.RawInstruction, error) {
	out := append([]xbpf.RawInstruction(nil), prog...)
	for i := range out {
		p := &out[i]
		class := p.Op & 0x07
		mode := p.Op & 0xe0
		if class != 0x00 && class != 0x01 { // BPF_LD, BPF_LDX
			continue
		}
		if mode != 0x20 && mode != 0x40 && mode != 0xa0 { // BPF_ABS, BPF_IND, BPF_MSH
			continue
		}
		switch {
		case p.K >= skfAdOff:
		case p.K >= sllHdrLen:
			p.K -= sllHdrLen
		case p.K == 0 && mode == 0x20:
			p.K = skfAdOff + skfAdPktType
		case p.K == 14 && mode == 0x20:
			p.K = skfAdOff + skfAdProtocol
		default:
			return nil, fmt.Errorf("the filter reads byte %d of the cooked header, which the kernel does not provide", p.K)
		}
	}
	return out, nil
}

// dropLoopbackOutgoing puts in front of prog a test that rejects outgoing
// packets: all of them when lo < 0 (a socket bound to the loopback
// interface), else those of interface index lo.
func dropLoopbackOutgoing(prog []xbpf.RawInstruction, lo int) []xbpf.RawInstruction {
	var pre []xbpf.Instruction
	pre = append(pre, xbpf.LoadAbsolute{Off: skfAdOff + skfAdPktType, Size: 4})
	if lo < 0 {
		pre = append(pre,
			xbpf.JumpIf{Cond: xbpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 0, SkipFalse: 1},
			xbpf.RetConstant{Val: 0},
		)
	} else {
		pre = append(pre,
			xbpf.JumpIf{Cond: xbpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 0, SkipFalse: 3},
			xbpf.LoadAbsolute{Off: skfAdOff + skfAdIfIndex, Size: 4},
			xbpf.JumpIf{Cond: xbpf.JumpEqual, Val: uint32(lo), SkipTrue: 0, SkipFalse: 1},
			xbpf.RetConstant{Val: 0},
		)
	}
	// Leave A and X as the kernel starts a program: zero.
	pre = append(pre, xbpf.LoadConstant{Dst: xbpf.RegA, Val: 0}, xbpf.TAX{})
	raw, err := xbpf.Assemble(pre)
	if err != nil {
		panic("capture: assembling the loopback prefix: " + err.Error())
	}
	return append(raw, prog...)
}

func (s *afpSource) Next() (*Segment, error) { return s.next(-1) }

func (s *afpSource) NextTimeout(d time.Duration) (*Segment, error) {
	if d < 0 {
		d = 0
	}
	return s.next(d)
}

// next returns the next segment, waiting at most timeout (forever when
// negative).
func (s *afpSource) next(timeout time.Duration) (*Segment, error) {
	if s.err != nil {
		return nil, s.err
	}
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		if s.cfg.MaxPackets > 0 && s.captured >= s.cfg.MaxPackets {
			s.err = io.EOF
			return nil, s.err
		}
		data, ts, wireLen, ok := s.packet()
		if ok {
			s.captured++
			s.bytes += uint64(len(data))
			if s.cfg.Packet != nil {
				s.cfg.Packet(ts, data, wireLen)
			}
			if seg := s.acct.take(s.link, data, ts, wireLen); seg != nil {
				return seg, nil
			}
			continue
		}
		if s.stopped.Load() {
			if !s.drained {
				// Packets captured just before Stop may sit in a block
				// the kernel has not handed over yet: wait for it.
				s.drained = true
				if err := s.poll(2*blockTimeoutMs, false); err == nil {
					continue
				}
			}
			s.err = io.EOF
			return nil, s.err
		}
		wait := -1
		if timeout >= 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return nil, ErrTimeout
			}
			wait = int((left + time.Millisecond - 1) / time.Millisecond)
		}
		if err := s.poll(wait, true); err != nil {
			s.err = err
			return nil, err
		}
	}
}

// poll waits for the ring, the stop event (when stop is set) or wait
// milliseconds.
func (s *afpSource) poll(wait int, stop bool) error {
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN | unix.POLLERR}, {Fd: int32(s.efd), Events: unix.POLLIN}}
	if !stop {
		fds = fds[:1]
	}
	for {
		_, err := unix.Poll(fds, wait)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("capturing on %s: poll: %w", s.iface, err)
		}
		break
	}
	if fds[0].Revents&unix.POLLERR != 0 {
		if e, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && e != 0 {
			errno := syscall.Errno(e)
			if errno == unix.ENETDOWN {
				return fmt.Errorf("capturing on %s: the interface went down", s.iface)
			}
			return fmt.Errorf("capturing on %s: %w", s.iface, errno)
		}
	}
	return nil
}

func (s *afpSource) status(blk []byte) *uint32 {
	return (*uint32)(unsafe.Pointer(&blk[blockHdrStatus]))
}

// packet returns the next packet of the ring, if one is there. The block
// it is in goes back to the kernel on the call after its last packet, so
// that the data stays valid until the next call.
func (s *afpSource) packet() (data []byte, ts time.Time, wireLen int, ok bool) {
	for {
		if s.blk != nil && s.left == 0 {
			atomic.StoreUint32(s.status(s.blk), unix.TP_STATUS_KERNEL)
			s.blk = nil
			s.cur = (s.cur + 1) % s.nblocks
		}
		if s.blk == nil {
			blk := s.ring[s.cur*s.bsize : (s.cur+1)*s.bsize]
			if atomic.LoadUint32(s.status(blk))&unix.TP_STATUS_USER == 0 {
				return nil, ts, 0, false
			}
			s.blk = blk
			s.left = int(nativeUint32(blk[blockHdrNum:]))
			s.off = int(nativeUint32(blk[blockHdrFirst:]))
			continue
		}
		h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&s.blk[s.off]))
		base := s.off
		s.left--
		s.off += int(h.Next_offset)
		data, wireLen = s.frame(base, h)
		if data == nil {
			continue
		}
		return data, time.Unix(int64(h.Sec), int64(h.Nsec)).UTC(), wireLen, true
	}
}

// frame returns the packet at base in the current block as the link type
// says: the cooked header built in front of the data from the sockaddr_ll
// in cooked mode, and the VLAN tag the kernel took out put back.
func (s *afpSource) frame(base int, h *unix.Tpacket3Hdr) ([]byte, int) {
	blk := s.blk
	mac := base + int(h.Mac)
	end := mac + int(h.Snaplen)
	if int(h.Mac) < tpacket3HdrLen+sockaddrLLLen || end > len(blk) {
		return nil, 0 // not a layout this code knows: skip it
	}
	wireLen := int(h.Len)
	var tag []byte
	if h.Status&unix.TP_STATUS_VLAN_VALID != 0 && (s.link == linkEthernet || s.cooked) {
		tpid := uint16(0x8100)
		if h.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && h.Hv1.Vlan_tpid != 0 {
			tpid = h.Hv1.Vlan_tpid
		}
		tag = []byte{byte(tpid >> 8), byte(tpid), byte(h.Hv1.Vlan_tci >> 8), byte(h.Hv1.Vlan_tci)}
		wireLen += 4
	}
	room := int(h.Mac) - (tpacket3HdrLen + sockaddrLLLen) // free bytes in front of the data
	if !s.cooked {
		if tag == nil {
			return blk[mac:end], wireLen
		}
		if end-mac < 12 {
			return blk[mac:end], wireLen - 4
		}
		if room >= 4 {
			copy(blk[mac-4:], blk[mac:mac+12])
			copy(blk[mac+8:], tag)
			return blk[mac-4 : end], wireLen
		}
		buf := append(append(append(s.scratch[:0], blk[mac:mac+12]...), tag...), blk[mac+12:end]...)
		s.scratch = buf
		return buf, wireLen
	}
	// Cooked: struct sockaddr_ll follows the tpacket3_hdr.
	ll := blk[base+tpacket3HdrLen : base+tpacket3HdrLen+sockaddrLLLen]
	var hdr [sllHdrLen + 4]byte
	pkttype := uint16(ll[10])
	hatype := nativeUint16(ll[8:])
	halen := min(int(ll[11]), 8)
	binary.BigEndian.PutUint16(hdr[0:], pkttype)
	binary.BigEndian.PutUint16(hdr[2:], hatype)
	binary.BigEndian.PutUint16(hdr[4:], uint16(halen))
	copy(hdr[6:6+halen], ll[12:12+halen])
	copy(hdr[14:16], ll[2:4]) // sll_protocol, already in network order
	n := sllHdrLen
	if tag != nil {
		// The tag's TPID takes the protocol's place, the protocol follows the TCI.
		copy(hdr[16:18], tag[2:4])
		copy(hdr[18:20], ll[2:4])
		copy(hdr[14:16], tag[0:2])
		n += 4
	}
	wireLen += sllHdrLen
	if room >= n {
		copy(blk[mac-n:], hdr[:n])
		return blk[mac-n : end], wireLen
	}
	buf := append(append(s.scratch[:0], hdr[:n]...), blk[mac:end]...)
	s.scratch = buf
	return buf, wireLen
}

func nativeUint32(b []byte) uint32 { return *(*uint32)(unsafe.Pointer(&b[0])) }
func nativeUint16(b []byte) uint16 { return *(*uint16)(unsafe.Pointer(&b[0])) }

// readSockStats adds the kernel's counters (which reading resets) to s.sock.
func (s *afpSource) readSockStats() {
	if s.fd < 0 {
		return
	}
	st, err := unix.GetsockoptTpacketStatsV3(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return
	}
	s.received += uint64(st.Packets) // includes the drops
	s.drops += uint64(st.Drops)
	s.freezes += uint64(st.Freeze_q_cnt)
}

func (s *afpSource) LiveStats() LiveStats {
	s.readSockStats()
	ls := LiveStats{
		Received:    s.received,
		Captured:    s.captured,
		Dropped:     s.drops,
		RingFreezes: s.freezes,
		RingBytes:   s.bsize * s.nblocks,
	}
	if s.ifDropOK {
		if v, ok := readIfDropped(s.iface); ok && v >= s.ifDrop0 {
			ls.IfDropped = v - s.ifDrop0
		}
	}
	return ls
}

func (s *afpSource) Stats() *Stats {
	s.readSockStats()
	return s.acct.statsWith(s.bytes, s.drops)
}

func (s *afpSource) LinkType() uint32 { return s.link }
func (s *afpSource) Snaplen() int     { return s.cfg.Snaplen }

func (s *afpSource) Stop() {
	if s.stopped.Swap(true) {
		return
	}
	s.efdMu.Lock()
	defer s.efdMu.Unlock()
	if s.efd >= 0 {
		var one [8]byte
		one[0] = 1
		unix.Write(s.efd, one[:])
	}
}

func (s *afpSource) Close() error {
	s.readSockStats()
	s.closeAll()
	if s.err == nil {
		s.err = errors.New("capture: Next called after Close")
	}
	return nil
}

func (s *afpSource) closeAll() {
	if s.ring != nil {
		unix.Munmap(s.ring)
		s.ring = nil
		s.blk = nil
	}
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
	s.efdMu.Lock()
	if s.efd >= 0 {
		unix.Close(s.efd)
		s.efd = -1
	}
	s.efdMu.Unlock()
}
