package capture

import (
	"strings"

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
	return &pktFilter{expr: expr, progs: map[uint32]*bpf.Filter{}, errs: map[uint32]error{}, none: map[uint32]error{}}
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
		if p, err = bpf.NewFilter(f.expr, bpf.LinkType(link)); err != nil {
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
	return nil
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
