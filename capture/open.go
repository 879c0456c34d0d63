package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
)

// ErrOpen is matched (errors.Is) by every error Open and OpenReader return:
// a missing or unreadable file, an empty file, a file that is not a pcap or
// pcapng capture. The CLI maps it to its "bad input" exit code.
var ErrOpen = errors.New("cannot open capture")

// Reasons wrapped in an *OpenError, for errors.Is.
var (
	ErrEmpty      = errors.New("empty file")
	ErrNotCapture = errors.New("not a pcap or pcapng file")
)

// OpenError is the error type of Open and OpenReader. Its message names the
// file, e.g. "capture.pcap: not a pcap or pcapng file (magic 3c68746d)".
type OpenError struct {
	Name string // the file name as given ("-" for standard input)
	Msg  string // what went wrong, without the name
	Err  error  // the underlying error (ErrEmpty, ErrNotCapture, an *fs.PathError, ...), may be nil
}

func (e *OpenError) Error() string { return displayName(e.Name) + ": " + e.Msg }

// Unwrap returns the underlying error.
func (e *OpenError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrOpen) true for every *OpenError.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

func displayName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return name
}

func openErr(name string, err error, format string, args ...any) error {
	return &OpenError{Name: name, Msg: fmt.Sprintf(format, args...), Err: err}
}

// bufSize is the size of the read blocks. Records up to this size (twice
// the largest snaplen, 262,144) are returned without copying
// (Segment.Payload points into a block). The pipelined analysis holds a
// few blocks at once; the smaller they are, the more of them stay in the
// CPU's cache while the kernel copies the file into them.
const bufSize = 512 << 10

// Open opens a pcap or pcapng capture file, optionally compressed (gzip,
// zstd or LZ4: compress.go); path
// "-" is standard input. The format is found from the magic bytes only.
// Errors match ErrOpen and are of type *OpenError.
func Open(path string) (Source, error) {
	if path == "-" {
		return OpenReader(path, os.Stdin)
	}
	s, err := openFile(path, bufSize)
	if err != nil {
		return nil, err // not a nil *source in an interface
	}
	return s, nil
}

// probeSize is the block size of a file opened only for its first packet.
const probeSize = 64 << 10

// openFile opens a file with blocks of at most bs bytes.
func openFile(path string, bs int) (*source, error) {
	if path == "" {
		return nil, openErr(path, nil, "no capture file given")
	}
	f, err := os.Open(path)
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, &OpenError{Name: path, Msg: msg, Err: err}
	}
	size := int64(-1)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	src, err := openReaderSize(path, f, size, bs)
	if err != nil {
		f.Close()
		return nil, err
	}
	src.closer = f
	return src, nil
}

// OpenReader reads a capture from r, which is not closed by the Source's
// Close. name is used in messages and Stats.Source ("-" for stdin).
func OpenReader(name string, r io.Reader) (Source, error) {
	size := int64(-1)
	if l, ok := r.(interface{ Len() int }); ok { // bytes.Reader, strings.Reader, bytes.Buffer
		size = int64(l.Len())
	}
	src, err := openReader(name, r, size)
	if err != nil {
		return nil, err
	}
	return src, nil
}

// openReader opens r; size is its length when known, else -1.
func openReader(name string, r io.Reader, size int64) (*source, error) {
	return openReaderSize(name, r, size, bufSize)
}

// openReaderSize is openReader with blocks of at most bufLen bytes.
func openReaderSize(name string, r io.Reader, size int64, bufLen int) (*source, error) {
	s := &source{name: name, steps: backSteps{prev: math.MinInt64}}
	s.stats.Source = name
	s.raw = &countReader{r: r, ioErr: &s.ioErr}
	s.cnt = s.raw

	// Look at the first bytes before choosing the buffers.
	var first [4]byte
	n, _ := io.ReadFull(s.raw, first[:])
	if n == 0 {
		if s.ioErr != nil {
			return nil, s.readOpenErr(s.ioErr)
		}
		return nil, openErr(name, ErrEmpty, "empty file")
	}
	in := io.MultiReader(bytes.NewReader(first[:n]), s.raw)
	gz := "" // "gzip: ", "zstd: ", "lz4: " before a message on a compressed file
	if c := compressionOf(first[:n]); c != nil {
		zr, err := c.open(in)
		if err != nil {
			if s.ioErr != nil {
				return nil, s.readOpenErr(s.ioErr)
			}
			return nil, openErr(name, err, "bad %s data: %v", c.name, err)
		}
		s.unz, s.unzName = zr, c.name
		s.cnt = &countReader{r: zr}
		s.br = newBlockReader(s.cnt, bufLen)
		gz = c.name + ": "
	} else {
		bs := bufLen
		if size >= 0 && size+64 < int64(bufLen) {
			bs = max(int(size)+64, 4096)
		}
		s.br = newBlockReader(in, bs)
	}
	head, err := s.br.Peek(4)
	if len(head) == 0 {
		if s.ioErr != nil {
			return nil, s.readOpenErr(s.ioErr)
		}
		if err != nil && err != io.EOF {
			return nil, openErr(name, err, "bad %s data: %v", s.unzName, err)
		}
		return nil, openErr(name, ErrEmpty, "empty file (%s-compressed)", s.unzName)
	}
	if len(head) < 4 {
		if s.ioErr != nil {
			return nil, s.readOpenErr(s.ioErr)
		}
		return nil, openErr(name, ErrNotCapture, "%snot a pcap or pcapng file (only %d bytes)", gz, len(head))
	}

	magic := binary.BigEndian.Uint32(head)
	switch magic {
	case 0x0a0d0d0a:
		ng, err := newNgReader(s.br)
		if err != nil {
			if s.ioErr != nil {
				return nil, s.readOpenErr(s.ioErr)
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, openErr(name, ErrNotCapture, "%struncated pcapng section header", gz)
			}
			return nil, openErr(name, ErrNotCapture, "%sbad pcapng section header: %v", gz, err)
		}
		s.ng = ng
		s.stats.Format = "pcapng"
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0xa1b2cd34, 0x34cdb2a1:
		if err := s.pcapHeader(gz); err != nil {
			return nil, err
		}
		s.stats.Format = "pcap"
	default:
		return nil, openErr(name, ErrNotCapture, "%snot a pcap or pcapng file (magic %08x)", gz, magic)
	}
	return s, nil
}

func (s *source) readOpenErr(err error) error {
	return &OpenError{Name: s.name, Msg: "read: " + err.Error(), Err: err}
}

// pcapHeader reads the 24-byte pcap file header.
func (s *source) pcapHeader(gz string) error {
	h, _ := s.br.Peek(24)
	if len(h) < 24 {
		if s.ioErr != nil {
			return s.readOpenErr(s.ioErr)
		}
		return openErr(s.name, ErrNotCapture, "%struncated pcap file header (%d of 24 bytes)", gz, len(h))
	}
	var order binary.ByteOrder = binary.LittleEndian
	magic := order.Uint32(h)
	if magic>>16 != 0xa1b2 {
		order = binary.BigEndian
		magic = order.Uint32(h)
	}
	s.bigEndian = order == binary.BigEndian
	s.nanos = magic == 0xa1b23c4d
	s.hdrLen = 16
	if magic == 0xa1b2cd34 { // Kuznetzov's patched libpcap: 8 more bytes per record
		s.hdrLen = 24
	}
	if major := order.Uint16(h[4:]); major != 2 {
		return openErr(s.name, ErrNotCapture, "%sunsupported pcap version %d.%d", gz, major, order.Uint16(h[6:]))
	}
	snaplen := order.Uint32(h[16:])
	// Like libpcap, accept records longer than the header's snaplen up to
	// the 256 KiB every libpcap accepts.
	s.limit = 262144
	if snaplen > uint32(s.limit) {
		s.limit = int(min(snaplen, 1<<30))
	}
	s.link = order.Uint32(h[20:]) & 0xffff // the upper bits carry FCS information
	s.br.Discard(24)
	return nil
}
