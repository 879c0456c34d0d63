package capture

import (
	"fmt"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	xbpf "golang.org/x/net/bpf"

	"github.com/httplife/httplife/capture/bpf"
)

// FilterError says why a filter expression does not compile for a file's
// link type: OpenInputs's error for it, matched by errors.Is(err,
// ErrFilter). The CLI maps it to its usage exit code.
type FilterError struct {
	Expr string
	File string // the file whose link type it was compiled for
	Link string // the link type's name
	Err  error  // the compiler's error (its message quotes the expression)
}

func (e *FilterError) Error() string {
	return displayName(e.File) + " (link type " + e.Link + "): " + e.Err.Error()
}

// Unwrap returns the compiler's error.
func (e *FilterError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrFilter) true for every *FilterError.
func (e *FilterError) Is(target error) bool { return target == ErrFilter }

// pktFilter is a tcpdump expression compiled, as tcpdump -r does, for
// each link type it meets (capture/bpf's file mode).
type pktFilter struct {
	expr  string
	link  uint32      // the link type of cur
	cur   *bpf.Filter // nil until use
	progs map[uint32]*bpf.Filter
	errs  map[uint32]error
	// inner are the link types the compiler has no program for, by the
	// link type it compiled for instead: that of what their headers
	// carry (innerLink).
	inner    map[uint32]uint32
	curInner bool // cur is compiled for what link's headers carry
	// none are the link types for which the expression rejects every
	// packet ("arp" on raw IP): an error for tcpdump, and for an input
	// all of whose link types are so, but not for one link type of a
	// mixed input.
	none map[uint32]error
}

// rejectAll is the program of a link type in none.
var rejectAll = func() *bpf.Filter {
	raw, err := xbpf.Assemble([]xbpf.Instruction{xbpf.RetConstant{Val: 0}})
	if err == nil {
		var f *bpf.Filter
		if f, err = bpf.NewFilterProgram(raw); err == nil {
			return f
		}
	}
	panic("capture: the reject-all filter: " + err.Error())
}()

// newPktFilter returns the filter of expr, nil for an empty expression
// (or one of only spaces): every packet passes.
func newPktFilter(expr string) *pktFilter {
	if strings.TrimSpace(expr) == "" {
		return nil
	}
	return &pktFilter{expr: expr, progs: map[uint32]*bpf.Filter{}, errs: map[uint32]error{}, none: map[uint32]error{}, inner: map[uint32]uint32{}}
}

// use makes link's program the current one, compiling it on first use.
func (f *pktFilter) use(link uint32) error {
	if err := f.errs[link]; err != nil {
		f.cur = nil
		return err
	}
	p := f.progs[link]
	if p == nil {
		var err error
		compileFor := link
		if in, ok := innerLink(link); ok {
			compileFor, f.inner[link] = in, in
		}
		if p, err = bpf.NewFilter(f.expr, bpf.LinkType(compileFor)); err != nil {
			if compileFor != link {
				err = fmt.Errorf("%v (compiled for the %s frames that %s's headers carry)", err, LinkTypeName(compileFor), LinkTypeName(link))
			}
			if !strings.HasSuffix(err.Error(), "expression rejects all packets") {
				f.errs[link] = err
				f.cur = nil
				return err
			}
			f.none[link], p = err, rejectAll
		}
		f.progs[link] = p
	}
	f.cur, f.link = p, link
	_, f.curInner = f.inner[link]
	return nil
}

// innerLink is, for a link type the filter compiler has no program for,
// the link type of what its headers carry, which the filter is compiled
// for and run on (innerPacket): Ethernet for Juniper's header, IP for
// the others the slow path decodes. libpcap compiles for these headers
// themselves; here keywords of the outer link layer (a PPP protocol, an
// 802.11 address) are refused, the rest (hosts, ports, protocols, bytes
// of IP and TCP) means what it means to tcpdump.
func innerLink(link uint32) (uint32, bool) {
	switch link {
	case linkJuniperEther:
		return linkEthernet, true
	case linkNFLOG, linkPPP, linkPPPSerial, linkPPPWithDir, linkCHDLC, linkPFLOG, linkIEEE80211, linkRadiotap,
		linkPrism, linkFDDI, linkARCNET, linkARCNETLinux, linkIPOIB, linkPKTAP:
		return linkRaw, true
	}
	return 0, false
}

// innerPacket is what the headers of a record of a link type innerLink
// names carry: the Ethernet frame or the IP packet; ok=false when it
// carries neither (LCP, ARP, 802.11 management frames, a bad header).
func innerPacket(link uint32, b []byte) (inner []byte, ok bool) {
	switch link {
	case linkJuniperEther:
		res, _, typ, rest := juniper(b, false)
		return rest, res == resTCP && typ == layers.LayerTypeEthernet
	case linkARCNET, linkARCNETLinux:
		res, _, _, rest := arcnet(link, b, false)
		return rest, res == resTCP
	case linkIPOIB, linkCHDLC:
		et, rest, ok := etherTypeHeader(link, b)
		return rest, ok && (et == 0x0800 || et == 0x86dd)
	case linkNFLOG:
		var n NFLOG
		if n.DecodeFromBytes(b, gopacket.NilDecodeFeedback) != nil || nextByVersion(n.Payload) == gopacket.LayerTypeZero {
			return nil, false
		}
		return n.Payload, true
	case linkPFLOG:
		var pf layers.PFLog
		if pf.DecodeFromBytes(b, gopacket.NilDecodeFeedback) != nil || nextByVersion(pf.Payload) == gopacket.LayerTypeZero {
			return nil, false
		}
		return pf.Payload, true
	case linkPPP, linkPPPSerial, linkPPPWithDir:
		if link == linkPPPWithDir {
			if len(b) < 1 {
				return nil, false
			}
			b = b[1:]
		}
		typ, rest := pppNext(gopacket.NewPacket(b, layers.LayerTypePPP, gopacket.DecodeOptions{Lazy: true, NoCopy: true}))
		return rest, typ == layers.LayerTypeIPv4 || typ == layers.LayerTypeIPv6
	case linkIEEE80211, linkRadiotap, linkPrism, linkFDDI:
		res, _, rest := linkToIP(link, b, false)
		return rest, res == resTCP
	case linkPKTAP: // each packet's own link type after the header: Ethernet, loopback or raw IP on macOS
		inner, rest, res, _ := pktap(b, false)
		if res != resTCP {
			return nil, false
		}
		switch inner {
		case linkEthernet:
			if len(rest) >= 14 && (be16(rest[12:]) == 0x0800 || be16(rest[12:]) == 0x86dd) {
				rest = rest[14:]
			} else {
				return nil, false
			}
		case linkNull, linkLoop:
			if len(rest) < 4 {
				return nil, false
			}
			rest = rest[4:]
		case linkRaw, linkRawBSD, linkRawOpen:
		default:
			return nil, false
		}
		return rest, nextByVersion(rest) != gopacket.LayerTypeZero
	}
	return nil, false
}

// check compiles the filter for the link types a file declares (its pcap
// header, or the pcapng interfaces before its first packet). Link types
// for which the expression rejects every packet are no error here (see
// allNone).
func (f *pktFilter) check(s *source) error {
	var links []uint32
	if s.ng != nil {
		for _, in := range s.ng.ifaces {
			links = append(links, in.link)
		}
	} else {
		links = append(links, s.link)
	}
	for _, l := range links {
		if err := f.use(l); err != nil {
			return &FilterError{Expr: f.expr, File: s.name, Link: LinkTypeName(l), Err: err}
		}
	}
	return nil
}

// allNone returns, when the expression rejects every packet of every link
// type compiled for, the error that says so for the first file (file).
func (f *pktFilter) allNone(file string) error {
	if len(f.none) == 0 || len(f.none) < len(f.progs) {
		return nil
	}
	for l, err := range f.none {
		return &FilterError{Expr: f.expr, File: file, Link: LinkTypeName(l), Err: err}
	}
	return nil
}
