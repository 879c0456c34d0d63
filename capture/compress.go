package capture

import (
	"bufio"
	"compress/gzip"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compressed capture files: gzip (tcpdump -z gzip, editcap, most
// archives), zstd and LZ4 (which Wireshark, editcap and mergecap read
// and write, and which people reach for with big captures), found by
// their magic bytes, never by the file's name. The decoders are the
// standard library's and those of klauspost/compress and pierrec/lz4,
// which parquet-go already brings in.

// A compression is one format the reader decompresses.
type compression struct {
	name  string // in messages: "gzip", "zstd", "lz4"
	magic []byte
	open  func(r io.Reader) (io.ReadCloser, error)
}

// zstdMaxWindow bounds a zstd frame's window, the decoder's memory: zstd
// --long uses 128 MiB; a frame that asks for more is corrupt data.
const zstdMaxWindow = 128 << 20

var compressions = []compression{
	{"gzip", []byte{0x1f, 0x8b}, func(r io.Reader) (io.ReadCloser, error) {
		return gzip.NewReader(bufio.NewReaderSize(r, 64<<10))
	}},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}, func(r io.Reader) (io.ReadCloser, error) {
		// One goroutine: the analysis keeps the cores busy.
		d, err := zstd.NewReader(bufio.NewReaderSize(r, 64<<10), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}},
	{"lz4", []byte{0x04, 0x22, 0x4d, 0x18}, func(r io.Reader) (io.ReadCloser, error) {
		return io.NopCloser(lz4.NewReader(bufio.NewReaderSize(r, 64<<10))), nil
	}},
}

// compressionOf is the compression whose magic head starts with, or nil.
func compressionOf(head []byte) *compression {
	for i := range compressions {
		c := &compressions[i]
		if len(head) >= len(c.magic) && string(head[:len(c.magic)]) == string(c.magic) {
			return c
		}
	}
	return nil
}
