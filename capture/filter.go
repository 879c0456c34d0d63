package capture

import (
	"strings"

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
}

// newPktFilter returns the filter of expr, nil for an empty expression
// (or one of only spaces): every packet passes.
func newPktFilter(expr string) *pktFilter {
	if strings.TrimSpace(expr) == "" {
		return nil
	}
	return &pktFilter{expr: expr, progs: map[uint32]*bpf.Filter{}, errs: map[uint32]error{}}
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
			f.errs[link] = err
			f.cur = nil
			return err
		}
		f.progs[link] = p
	}
	f.cur, f.link = p, link
	return nil
}

// check compiles the filter for the link types a file declares (its pcap
// header, or the pcapng interfaces before its first packet).
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
