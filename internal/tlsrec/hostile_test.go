package tlsrec

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func hasWarning(in Info, sub string) bool {
	for _, w := range in.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

func TestForgedAndForeign(t *testing.T) {
	evs, keys := rfc8448Events(t)
	t0 := evs[0].t
	for _, tc := range []struct {
		name  string
		extra []byte // sent by the client after its application-data record
		warn  string
	}{
		{"forged length", []byte{23, 3, 3, 0xff, 0xff, 1, 2, 3}, "forged record length 65535"},
		{"length just over the limit", []byte{23, 3, 3, (maxCiphertext + 1) >> 8, (maxCiphertext + 1) & 0xff}, "forged record length 18433"},
		{"HTTP instead of TLS", []byte("GET / HTTP/1.1\r\n\r\n"), "are not a TLS record (47 45 54)"},
		{"bad version", []byte{23, 9, 9, 0, 1, 0}, "are not a TLS record"},
	} {
		for _, k := range []string{"", keys} {
			var kl *KeyLog
			if k != "" {
				kl = mustKeyLog(t, k)
			}
			h := &recorder{}
			c := NewConn(h, kl)
			for _, e := range evs[:6] {
				c.Data(e.d, e.b, e.t)
			}
			c.Data(ClientToServer, tc.extra, t0)
			c.Data(ClientToServer, bytes.Repeat([]byte{23, 3, 3, 0, 20}, 1000), t0) // ignored from now on
			c.Gap(ClientToServer, 100)
			for _, e := range evs[6:] {
				c.Data(e.d, e.b, e.t)
			}
			in := c.Info()
			if !in.Stopped[0] || in.Stopped[1] || !hasWarning(in, tc.warn) || in.Records[0] != 3 || in.Records[1] != 5 {
				t.Errorf("%s (keys %v): stopped %v records %v warnings %q", tc.name, kl != nil, in.Stopped, in.Records, in.Warnings)
			}
		}
	}
}

// Bytes lost inside a record, across record boundaries and inside a header:
// the Conn resynchronises; with keys the records after the loss still
// decrypt (their sequence numbers are tried ahead).
func TestGaps(t *testing.T) {
	evs, keys := rfc8448Events(t)
	payload := make([]byte, 50)
	for i := range payload {
		payload[i] = byte(i)
	}
	type step struct {
		ev   int // event index, -1 for a gap
		from int // bytes of the event: [from:to]
		to   int
		d    Dir
		gap  int
	}
	all := func(i int) step { return step{ev: i, from: 0, to: len(evs[i].b)} }
	gap := func(d Dir, n int) step { return step{ev: -1, d: d, gap: n} }
	for _, tc := range []struct {
		name        string
		steps       []step
		serverPlain bool // the server's 50 bytes still decrypted
		clientPlain bool
		warn        string
	}{
		{"inside the server's application record",
			[]step{all(0), all(1), all(2), all(3), all(4), all(5), {ev: 6, from: 0, to: 20}, gap(1, 30), {ev: 6, from: 50, to: 72}, all(7), all(8)},
			false, true, "30 bytes lost at offset"},
		{"the whole ticket record",
			[]step{all(0), all(1), all(2), all(3), gap(1, 227), all(5), all(6), all(7), all(8)},
			true, true, "resynchronised"},
		{"the rest of a record and the next one's header",
			[]step{all(0), all(1), all(2), all(3), {ev: 4, from: 0, to: 100}, all(5), gap(1, 127+3), {ev: 6, from: 3, to: 72}, all(7), all(8)},
			false, true, "record boundaries lost"},
		{"client header split by a loss",
			[]step{all(0), all(1), all(2), all(3), all(4), {ev: 5, from: 0, to: 2}, gap(0, 3), {ev: 5, from: 5, to: 72}, all(6), all(7), all(8)},
			true, false, "resynchronised"},
	} {
		for _, k := range []string{"", keys} {
			var kl *KeyLog
			if k != "" {
				kl = mustKeyLog(t, k)
			}
			h := &recorder{}
			c := NewConn(h, kl)
			for _, s := range tc.steps {
				if s.ev < 0 {
					c.Gap(s.d, s.gap)
					continue
				}
				e := evs[s.ev]
				if s.from < s.to {
					c.Data(e.d, e.b[s.from:s.to], e.t)
				}
			}
			in := c.Info()
			if !hasWarning(in, tc.warn) {
				t.Errorf("%s (keys %v): warnings %q, want one with %q", tc.name, kl != nil, in.Warnings, tc.warn)
			}
			if kl == nil {
				if in.CloseNotify[1].IsZero() || in.Stopped != [2]bool{} {
					t.Errorf("%s: no keys: close_notify %v stopped %v", tc.name, in.CloseNotify, in.Stopped)
				}
				continue
			}
			if got := bytes.Equal(h.plain[1], payload); got != tc.serverPlain {
				t.Errorf("%s: server plaintext %x, want it decrypted: %v", tc.name, h.plain[1], tc.serverPlain)
			}
			if got := bytes.Equal(h.plain[0], payload); got != tc.clientPlain {
				t.Errorf("%s: client plaintext %x, want it decrypted: %v", tc.name, h.plain[0], tc.clientPlain)
			}
			if !in.CloseNotifySure[1] || in.CloseNotify[1].IsZero() {
				t.Errorf("%s: the server's close_notify after the loss not decrypted: %v %v; warnings %q", tc.name, in.CloseNotify, in.CloseNotifySure, in.Warnings)
			}
		}
	}
}

// Without keys a TLS 1.3 record of alert size counts as close_notify only
// when nothing follows it on its side.
func TestJudgedAlertRetracted(t *testing.T) {
	evs, _ := rfc8448Events(t)
	alert := evs[7].b // the client's 24-byte close_notify record
	var fake []byte
	fake = append(fake, alert...)
	h := &recorder{}
	c := NewConn(h, nil)
	for _, e := range evs[:6] {
		c.Data(e.d, e.b, e.t)
	}
	later := evs[5].t.Add(time.Second)
	c.Data(ClientToServer, fake, evs[5].t) // alert-sized, but more follows: a 2-byte data record
	c.Data(ClientToServer, evs[5].b, later)
	in := c.Info()
	if !in.CloseNotify[0].IsZero() || !hasWarning(in, "judged an alert by its size was followed by more records") {
		t.Errorf("close_notify %v, warnings %q; want none and the judgement named", in.CloseNotify, in.Warnings)
	}
	c.Data(ClientToServer, alert, later)
	if in := c.Info(); !in.CloseNotify[0].Equal(later) || in.CloseNotifySure[0] {
		t.Errorf("last alert-sized record: close_notify %v sure %v, want %v unsure", in.CloseNotify[0], in.CloseNotifySure[0], later)
	}
}

// Many small handshake records: a ClientHello split over records of a few
// bytes each (as RFC 8446 allows) and over one-byte TCP segments.
func TestFragmentedHandshake(t *testing.T) {
	evs, keys := rfc8448Events(t)
	ch := evs[0].b[5:]
	for _, size := range []int{1, 2, 7, 100} {
		var frag []byte
		for i := 0; i < len(ch); i += size {
			j := min(i+size, len(ch))
			frag = append(frag, 22, 3, 1, byte((j-i)>>8), byte(j-i))
			frag = append(frag, ch[i:j]...)
		}
		h := &recorder{}
		c := NewConn(h, mustKeyLog(t, keys))
		for i := range frag {
			c.Data(ClientToServer, frag[i:i+1], evs[0].t)
		}
		for _, e := range evs[1:] {
			c.Data(e.d, e.b, e.t)
		}
		in := c.Info()
		if in.SNI != "server" || !in.Decrypted || len(in.Warnings) > 0 || in.Records[0] != (len(ch)+size-1)/size+3 {
			t.Errorf("ClientHello in %d-byte records: sni %q decrypted %v records %v warnings %q", size, in.SNI, in.Decrypted, in.Records, in.Warnings)
		}
	}
}

// Records that do not authenticate, one after another: counted, then the
// direction's decryption given up, the record view kept.
func TestManyAuthFailures(t *testing.T) {
	evs, keys := rfc8448Events(t)
	c := NewConn(&recorder{}, mustKeyLog(t, keys))
	for _, e := range evs[:6] {
		c.Data(e.d, e.b, e.t)
	}
	bad := append([]byte(nil), evs[5].b...)
	bad[20] ^= 1
	for i := 0; i < 40; i++ {
		c.Data(ClientToServer, bad, evs[5].t)
	}
	in := c.Info()
	if in.AuthFailures[0] != maxFailures || !hasWarning(in, "gave up decrypting this direction") || in.Records[0] != 43 || len(in.Warnings) != 2 {
		t.Errorf("failures %v records %v warnings %q", in.AuthFailures, in.Records, in.Warnings)
	}
}

// Bytes lost inside the ClientHello: its facts are unknown, said once, and
// the rest of the connection is still followed.
func TestGapInHandshake(t *testing.T) {
	evs, keys := rfc8448Events(t)
	ch := evs[0].b
	c := NewConn(&recorder{}, mustKeyLog(t, keys))
	c.Data(ClientToServer, ch[:50], evs[0].t)
	c.Gap(ClientToServer, 40)
	c.Data(ClientToServer, ch[90:], evs[0].t)
	for _, e := range evs[1:] {
		c.Data(e.d, e.b, e.t)
	}
	in := c.Info()
	if in.SNI != "" || in.Version != "TLS 1.3" || !hasWarning(in, "handshake bytes lost") || in.Records != [2]int{4, 5} || in.Decrypted || !hasWarning(in, "client random unknown (no ClientHello)") {
		t.Errorf("sni %q version %q records %v decrypted %v warnings %q", in.SNI, in.Version, in.Records, in.Decrypted, in.Warnings)
	}
}
