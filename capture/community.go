package capture

import (
	"crypto/sha1"
	"encoding/base64"
	"net/netip"
)

// CommunityID returns the Community ID v1 (seed 0) of the flow between a
// and b over IP protocol proto (6 TCP, 17 UDP, 132 SCTP: protocols with
// ports): "1:" + base64(SHA-1(seed, src ip, dst ip, proto, 0, src port,
// dst port)), the endpoints ordered as corelight/community-id-spec says
// (the smaller address first, the smaller port when the addresses are
// equal), so that both directions give the same ID. IPv4-mapped IPv6
// addresses count as IPv4; when one address is IPv4 and the other IPv6,
// both are hashed in their 16-byte form.
func CommunityID(a, b netip.AddrPort, proto uint8) string {
	sa, sb := a.Addr().Unmap(), b.Addr().Unmap()
	pa, pb := a.Port(), b.Port()
	if c := sa.Compare(sb); c > 0 || (c == 0 && pa > pb) {
		sa, sb, pa, pb = sb, sa, pb, pa
	}
	var buf [2 + 16 + 16 + 2 + 4]byte // seed 0 in buf[0:2]
	n := 2
	if sa.Is4() && sb.Is4() {
		a4, b4 := sa.As4(), sb.As4()
		n += copy(buf[n:], a4[:])
		n += copy(buf[n:], b4[:])
	} else {
		a16, b16 := sa.As16(), sb.As16()
		n += copy(buf[n:], a16[:])
		n += copy(buf[n:], b16[:])
	}
	buf[n] = proto
	buf[n+1] = 0
	buf[n+2], buf[n+3] = byte(pa>>8), byte(pa)
	buf[n+4], buf[n+5] = byte(pb>>8), byte(pb)
	sum := sha1.Sum(buf[:n+6])
	return "1:" + base64.StdEncoding.EncodeToString(sum[:])
}
