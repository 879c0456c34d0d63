package capture

import (
	"net/netip"
	"testing"
)

// TestCommunityID checks CommunityID against the published test vectors:
// corelight/community-id-spec's baseline (baseline_deflt.json, seed 0)
// and the examples of Zeek's and other implementations' documentation.
// Each flow must give the same ID in both directions.
func TestCommunityID(t *testing.T) {
	ap := netip.MustParseAddrPort
	cases := []struct {
		a, b  string
		proto uint8
		want  string
	}{
		{"1.2.3.4:1122", "5.6.7.8:3344", 6, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
		{"1.2.3.4:1122", "5.6.7.8:3344", 17, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
		{"128.232.110.120:34855", "66.35.250.204:80", 6, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{"192.168.1.52:54585", "8.8.8.8:53", 17, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
		{"[2001:470:e5bf:dead:4957:2174:e82c:4887]:63943", "[2607:f8b0:400c:c03::1a]:25", 6, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
		// Equal ports: the addresses decide the order.
		{"192.168.170.8:7", "192.168.170.56:7", 132, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
	}
	for _, c := range cases {
		a, b := ap(c.a), ap(c.b)
		if got := CommunityID(a, b, c.proto); got != c.want {
			t.Errorf("CommunityID(%s, %s, %d) = %s, want %s", a, b, c.proto, got, c.want)
		}
		if got := CommunityID(b, a, c.proto); got != c.want {
			t.Errorf("CommunityID(%s, %s, %d) = %s, want %s (the reverse direction)", b, a, c.proto, got, c.want)
		}
	}
	// An IPv4-mapped address is its IPv4 address.
	m := netip.AddrPortFrom(netip.MustParseAddr("::ffff:1.2.3.4"), 1122)
	if got, want := CommunityID(m, ap("5.6.7.8:3344"), 6), "1:wCb3OG7yAFWelaUydu0D+125CLM="; got != want {
		t.Errorf("CommunityID(%s, 5.6.7.8:3344, 6) = %s, want %s", m, got, want)
	}
}

// TestCarrierEqualString covers Carrier.Equal (nil and empty carriers are
// equal) and the String forms of carriers and encapsulation types.
func TestCarrierEqualString(t *testing.T) {
	gre := Encap{Type: EncapGRE, OuterSrc: o1, OuterDst: o2, ID: 7, HasID: true}
	full := &Carrier{VLANs: []uint16{10, 20}, Tunnel: []Encap{gre, {Type: EncapMPLS, ID: 16, HasID: true}}}
	cases := []struct {
		a, b *Carrier
		eq   bool
	}{
		{nil, nil, true},
		{nil, &Carrier{}, true},
		{full, &Carrier{VLANs: []uint16{10, 20}, Tunnel: []Encap{gre, {Type: EncapMPLS, ID: 16, HasID: true}}}, true},
		{full, &Carrier{VLANs: []uint16{10}, Tunnel: full.Tunnel}, false},
		{full, &Carrier{VLANs: []uint16{10, 21}, Tunnel: full.Tunnel}, false},
		{full, &Carrier{VLANs: full.VLANs, Tunnel: []Encap{gre}}, false},
		{&Carrier{Tunnel: []Encap{gre}}, &Carrier{Tunnel: []Encap{{Type: EncapGRE, OuterSrc: o2, OuterDst: o1, ID: 7, HasID: true}}}, false},
		{&Carrier{Tunnel: []Encap{{Type: EncapGRE}}}, &Carrier{Tunnel: []Encap{{Type: EncapGRE, HasID: true}}}, false},
		{full, nil, false},
	}
	for _, c := range cases {
		if got := c.a.Equal(c.b); got != c.eq {
			t.Errorf("(%q).Equal(%q) = %v, want %v", c.a, c.b, got, c.eq)
		}
		if got := c.b.Equal(c.a); got != c.eq {
			t.Errorf("(%q).Equal(%q) = %v, want %v", c.b, c.a, got, c.eq)
		}
	}
	if got, want := full.String(), "vlan 10 > vlan 20 > gre 203.0.113.1>203.0.113.2 id 7 > mpls id 16"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	names := map[EncapType]string{EncapVXLAN: "vxlan", EncapGeneve: "geneve", EncapGRE: "gre", EncapERSPAN: "erspan", EncapMPLS: "mpls",
		EncapPPPoE: "pppoe", EncapIPIP: "ipip", EncapIP6IP: "ip6ip", EncapTeredo: "teredo", 0: "encap0", 42: "encap42"}
	for typ, want := range names {
		if got := typ.String(); got != want {
			t.Errorf("EncapType(%d).String() = %q, want %q", typ, got, want)
		}
	}
}
