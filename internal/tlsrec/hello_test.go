package tlsrec

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

type ext struct {
	typ  uint16
	data []byte
}

func u16list(vs ...uint16) []byte {
	var b cryptobyte.Builder
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, v := range vs {
			b.AddUint16(v)
		}
	})
	return b.BytesOrPanic()
}

func sniExt(name string) []byte {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint8(0)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(name)) })
	})
	return b.BytesOrPanic()
}

func alpnExt(ps ...string) []byte {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, p := range ps {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p)) })
		}
	})
	return b.BytesOrPanic()
}

func clientHelloBody(version uint16, sid []byte, exts []ext) []byte {
	var b cryptobyte.Builder
	b.AddUint16(version)
	b.AddBytes(make([]byte, 32))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sid) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x1301); b.AddUint16(0xc02f) })
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
	if exts != nil {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, e := range exts {
				b.AddUint16(e.typ)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.data) })
			}
		})
	}
	return b.BytesOrPanic()
}

func serverHelloBody(version uint16, random [32]byte, sid []byte, suite uint16, exts []ext) []byte {
	var b cryptobyte.Builder
	b.AddUint16(version)
	b.AddBytes(random[:])
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sid) })
	b.AddUint16(suite)
	b.AddUint8(0)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, e := range exts {
			b.AddUint16(e.typ)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.data) })
		}
	})
	return b.BytesOrPanic()
}

func TestParseClientHello(t *testing.T) {
	many := make([]string, 20)
	for i := range many {
		many[i] = fmt.Sprintf("p%d", i)
	}
	sid := make([]byte, 32)
	for _, tc := range []struct {
		name string
		body []byte
		ok   bool
		want string
	}{
		{"tls13 offer", clientHelloBody(0x0303, sid, []ext{{0, sniExt("example.com")}, {16, alpnExt("h2", "http/1.1")},
			{43, u16list(0x3a3a, 0x0304, 0x0303)}, {42, nil}, {41, []byte{0, 0}}}), true,
			"sni=example.com alpn=[h2 http/1.1] versions=[772 771] max=TLS 1.3 psk=true early=true ticket=0 sid=32"},
		{"tls12 ticket", clientHelloBody(0x0303, nil, []ext{{35, []byte{1, 2, 3}}, {22, nil}, {23, nil}}), true,
			"sni= alpn=[] versions=[] max=TLS 1.2 psk=false early=false ticket=3 sid=0"},
		{"no extensions", clientHelloBody(0x0301, nil, nil), true,
			"sni= alpn=[] versions=[] max=TLS 1.0 psk=false early=false ticket=0 sid=0"},
		{"control characters in SNI", clientHelloBody(0x0303, nil, []ext{{0, sniExt("a\x00b\nc\xff")}}), true,
			"sni=a\uFFFDb\uFFFDc\uFFFD alpn=[] versions=[] max=TLS 1.2 psk=false early=false ticket=0 sid=0"},
		{"twenty ALPN protocols", clientHelloBody(0x0303, nil, []ext{{16, alpnExt(many...)}}), true,
			"sni= alpn=[" + strings.Join(many[:16], " ") + "] versions=[] max=TLS 1.2 psk=false early=false ticket=0 sid=0"},
		{"truncated", clientHelloBody(0x0303, sid, []ext{{0, sniExt("example.com")}})[:60], false, ""},
		{"session id too long", append([]byte{3, 3}, append(make([]byte, 32), 33)...), false, ""},
		{"empty", nil, false, ""},
	} {
		ch, ok := parseClientHello(tc.body)
		if ok != tc.ok {
			t.Errorf("%s: ok %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		got := fmt.Sprintf("sni=%s alpn=%v versions=%v max=%s psk=%v early=%v ticket=%d sid=%d", ch.sni, ch.alpn, ch.versions,
			VersionName(ch.maxVersion()), ch.psk, ch.earlyData, len(ch.ticket), len(ch.sessionID))
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestParseServerHello(t *testing.T) {
	var r [32]byte
	for _, tc := range []struct {
		name string
		body []byte
		ok   bool
		want string
	}{
		{"tls12 alpn etm", serverHelloBody(0x0303, r, []byte{1, 2}, 0xc013, []ext{{16, alpnExt("h2")}, {22, nil}, {23, nil}}), true,
			"v=TLS 1.2 suite=0xc013 alpn=h2(true) etm=true ems=true psk=false hrr=false sid=2"},
		{"tls13 psk", serverHelloBody(0x0303, r, nil, 0x1302, []ext{{43, []byte{3, 4}}, {41, []byte{0, 0}}}), true,
			"v=TLS 1.3 suite=0x1302 alpn=(false) etm=false ems=false psk=true hrr=false sid=0"},
		{"hello retry", serverHelloBody(0x0303, helloRetryRandom, nil, 0x1301, []ext{{43, []byte{3, 4}}}), true,
			"v=TLS 1.3 suite=0x1301 alpn=(false) etm=false ems=false psk=false hrr=true sid=0"},
		{"truncated extensions", serverHelloBody(0x0303, r, nil, 0x1301, []ext{{43, []byte{3, 4}}})[:44], false, ""},
	} {
		sh, ok := parseServerHello(tc.body)
		if ok != tc.ok {
			t.Errorf("%s: ok %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		got := fmt.Sprintf("v=%s suite=%#04x alpn=%s(%v) etm=%v ems=%v psk=%v hrr=%v sid=%d", VersionName(sh.version), sh.suite,
			sh.alpn, sh.hasALPN, sh.etm, sh.ems, sh.psk, sh.hrr, len(sh.sessionID))
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestLooks(t *testing.T) {
	v := loadHex(t, "testdata/rfc8448.txt")
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"ClientHello", v["client_hello_record"], true},
		{"ServerHello", v["server_hello_record"], true},
		{"first 6 bytes", v["client_hello_record"][:6], true},
		{"5 bytes", v["client_hello_record"][:5], false},
		{"application data", v["client_app_record"], false},
		{"HTTP", []byte("GET / HTTP/1.1\r\n"), false},
		{"SSLv2 hello", []byte{0x80, 0x2e, 0x01, 0x03, 0x01, 0x00}, false},
		{"record version 4.0", []byte{22, 4, 0, 0, 40, 1}, false},
		{"Finished", []byte{22, 3, 3, 0, 40, 20}, false},
		{"oversized", []byte{22, 3, 3, 0x40, 0x01, 1}, false},
	} {
		if got := Looks(tc.b); got != tc.want {
			t.Errorf("Looks(%s % x) = %v, want %v", tc.name, tc.b[:min(6, len(tc.b))], got, tc.want)
		}
	}
}
