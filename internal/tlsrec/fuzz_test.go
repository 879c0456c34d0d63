package tlsrec

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Fuzz targets: the record parser without keys, the decryptor with a fixed
// key log over recorded streams mutated, the key log parser, the hellos.

// encodeEvents serialises Data calls as [dir][len16][bytes]...; a dir byte
// with 0x80 set is a Gap of len bytes.
func encodeEvents(evs []event) []byte {
	var b []byte
	for _, e := range evs {
		for i := 0; i < len(e.b); i += 0xffff {
			j := min(i+0xffff, len(e.b))
			b = append(b, byte(e.d))
			b = binary.BigEndian.AppendUint16(b, uint16(j-i))
			b = append(b, e.b[i:j]...)
		}
	}
	return b
}

// replay runs serialised events through c; event k gets time base+k ms.
func replay(c *Conn, data []byte) (fed [2]int) {
	base := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for k := 0; len(data) >= 3; k++ {
		op, n := data[0], int(binary.BigEndian.Uint16(data[1:]))
		data = data[3:]
		d := Dir(op & 1)
		if op&0x80 != 0 {
			c.Gap(d, n)
			continue
		}
		n = min(n, len(data))
		c.Data(d, data[:n], base.Add(time.Duration(k)*time.Millisecond))
		fed[d] += n
		data = data[n:]
	}
	return fed
}

// checkBounded asserts the Conn's buffers stay within one record.
func checkBounded(t *testing.T, c *Conn) {
	for i := range c.d {
		s := &c.d[i]
		if cap(s.buf) > maxCiphertext || cap(s.plain) > maxCiphertext || cap(s.hsBuf) > 2*maxHSMessage {
			t.Fatalf("dir %d: buffers %d %d %d past their bounds", i, cap(s.buf), cap(s.plain), cap(s.hsBuf))
		}
	}
}

type checkingHandler struct {
	t    *testing.T
	last [2]int64
	n    [2]int
}

func (h *checkingHandler) Record(d Dir, r Record) {
	if r.Len < headerLen || r.Len > headerLen+maxCiphertext || r.Offset < h.last[d] || r.Last.Before(r.First) ||
		r.Plain > r.Len || r.Decrypted && !r.Encrypted {
		h.t.Fatalf("bad record %+v after offset %d", r, h.last[d])
	}
	h.last[d] = r.Offset + int64(r.Len)
	h.n[d]++
}

func (h *checkingHandler) Plaintext(d Dir, b []byte, first, last time.Time) {
	if len(b) == 0 || len(b) > maxCiphertext || last.Before(first) {
		h.t.Fatalf("bad plaintext of %d bytes", len(b))
	}
}

func fuzzSeeds(f *testing.F) {
	evs, _ := rfc8448Events(f)
	f.Add(encodeEvents(evs))
	for _, name := range []string{"nginx-tls12-cbc.pcap", "nginx-tls13-chacha.pcap", "nginx-early-data.pcap", "nginx-keyupdate.pcap"} {
		cp := readCapture(f, filepath.Join(samplesDir, name))
		for _, cn := range cp.conns {
			var evs []event
			for _, e := range cn.events {
				if len(e.b) > 0 {
					evs = append(evs, event{e.d, e.b, e.t})
				}
			}
			f.Add(encodeEvents(evs))
		}
	}
	f.Add([]byte{0, 0, 5, 22, 3, 1, 0xff, 0xff})
	f.Add([]byte{0x80, 0, 10, 1, 0, 3, 23, 3, 3})
}

func FuzzRecords(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		h := &checkingHandler{t: t}
		c := NewConn(h, nil)
		replay(c, data)
		checkBounded(t, c)
		in := c.Info()
		if in.Decrypted || in.PlainBytes != [2]int64{} || in.Records != h.n || len(in.Warnings) > maxWarnings+1 {
			t.Fatalf("no keys: %+v, handler saw %v records", in, h.n)
		}
	})
}

var fuzzKeys struct {
	text string
}

func fuzzKeyText(f *testing.F) string {
	if fuzzKeys.text != "" {
		return fuzzKeys.text
	}
	_, k := rfc8448Events(f)
	var sb strings.Builder
	sb.WriteString(k)
	for _, name := range []string{"nginx-tls12-cbc.keys", "nginx-tls13-chacha.keys", "nginx-early-data.keys", "nginx-keyupdate.keys"} {
		sb.Write(mustRead(f, filepath.Join(samplesDir, name)))
	}
	fuzzKeys.text = sb.String()
	return fuzzKeys.text
}

func FuzzDecrypt(f *testing.F) {
	fuzzSeeds(f)
	text := fuzzKeyText(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		keys := mustKeyLog(t, text)
		h := &checkingHandler{t: t}
		c := NewConn(h, keys)
		replay(c, data)
		checkBounded(t, c)
		in := c.Info()
		if in.Records != h.n || in.AuthFailures[0] > in.Records[0] || in.AuthFailures[1] > in.Records[1] {
			t.Fatalf("%+v, handler saw %v records", in, h.n)
		}
	})
}

func FuzzKeyLog(f *testing.F) {
	f.Add([]byte(fuzzKeyText(f)))
	f.Add([]byte("# comment\r\n\r\nCLIENT_RANDOM " + hexOf(1, 32) + " " + hexOf(2, 48) + "\nRSA Session-ID:00 Master-Key:11\n"))
	f.Add([]byte(strings.Repeat("x", 5000) + "\n\x00\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKeyLog(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		st := k.Stats()
		if st.Secrets+st.Comments+st.Blank+st.Bad+st.Duplicates+st.Conflicts+st.Unused != st.Lines {
			t.Fatalf("line counts do not add up: %+v", st)
		}
		lines := bytes.Count(data, []byte("\n"))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			lines++
		}
		if st.Lines > lines || k.Len() > st.Secrets || len(k.Warnings()) > maxKeyLogWarnings+1 {
			t.Fatalf("%d lines of input, stats %+v, len %d, %d warnings", lines, st, k.Len(), len(k.Warnings()))
		}
		k.AddDSB(SecretsTypeTLS, data)
		if k.Stats().Lines < st.Lines {
			t.Fatal("the DSB's lines were not added")
		}
	})
}

func FuzzHellos(f *testing.F) {
	v := loadHex(f, "testdata/rfc8448.txt")
	f.Add(v["client_hello_record"][9:])
	f.Add(v["server_hello_record"][9:])
	f.Add(clientHelloBody(0x0303, make([]byte, 32), []ext{{0, sniExt("x")}, {16, alpnExt("h2")}, {43, u16list(0x0304)}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if ch, ok := parseClientHello(data); ok {
			if len(ch.sessionID) > 32 || len(ch.alpn) > maxALPN || len(ch.sni) > 3*maxNameLen || len(ch.versions) > maxVersions {
				t.Fatalf("client hello out of bounds: %+v", ch)
			}
			_ = ch.maxVersion()
		}
		if sh, ok := parseServerHello(data); ok && (len(sh.sessionID) > 32 || len(sh.alpn) > 3*maxNameLen) {
			t.Fatalf("server hello out of bounds: %+v", sh)
		}
		parseEncryptedExtensions(data)
		parseTicket12(data)
	})
}
