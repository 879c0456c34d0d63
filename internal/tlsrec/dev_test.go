package tlsrec

import (
	"os"
	"testing"
)

func TestDevDump(t *testing.T) {
	p := os.Getenv("TLSREC_PCAP")
	if p == "" {
		t.Skip()
	}
	cp := readCapture(t, p)
	var keys *KeyLog
	if k := os.Getenv("TLSREC_KEYS"); k != "" {
		f, _ := os.Open(k)
		keys, _ = ParseKeyLog(f)
	}
	for _, cn := range cp.conns {
		h := &recorder{}
		c := cn.feed(h, keys)
		in := c.Info()
		t.Logf("%s: %s %s sni=%q alpn=%q(%v) resumed=%v dec=%v cn=%v %v warn=%q", cn, in.Version, in.Cipher, in.SNI, in.ALPN, in.ALPNGuessed, in.Resumed, in.Decrypted, in.CloseNotify, in.CloseNotifySure, in.Warnings)
		for _, r := range h.recs {
			t.Logf("  %s %s/%s sure=%v len=%d dec=%v alert=%v last=%s", r.d, r.r.Type, r.r.Inner, r.r.Sure, r.r.Len, r.r.Decrypted, r.r.Alert, r.r.Last.Format("05.000000"))
		}
		t.Logf("  client: %q", h.plain[0])
	}
}
