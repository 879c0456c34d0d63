package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
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

// TestOwnLayersInGopacket decodes NFLOG, Teredo and ERSPAN III packets
// with gopacket.NewPacket from this package's layer types: gopacket finds
// the layers and the TCP segment inside, with the header fields set.
func TestOwnLayersInGopacket(t *testing.T) {
	v4, v6 := ipv4TCP(t), ipv6TCP(t, 0, nil)
	cases := []struct {
		name   string
		data   []byte
		first  gopacket.LayerType
		layers []gopacket.LayerType
		check  func(l gopacket.Layer) string
	}{
		{"NFLOG", nflogRec(binary.LittleEndian, 2, v4, false), LayerTypeNFLOG,
			[]gopacket.LayerType{LayerTypeNFLOG, layers.LayerTypeIPv4, layers.LayerTypeTCP, gopacket.LayerTypePayload},
			func(l gopacket.Layer) string {
				n := l.(*NFLOG)
				if n.Family != 2 || n.ResourceID != 5 || n.BigEndian || len(n.TLVs) != 3 || string(n.TLVs[0].Value) != "httplife\x00" {
					return fmt.Sprintf("%+v", n)
				}
				return ""
			}},
		{"Teredo", append(append(teredoAuth(), teredoOrigin(40000, o3)...), v6...), LayerTypeTeredo,
			[]gopacket.LayerType{LayerTypeTeredo, layers.LayerTypeIPv6, layers.LayerTypeTCP, gopacket.LayerTypePayload},
			func(l gopacket.Layer) string {
				x := l.(*Teredo)
				if !x.HasAuth || string(x.ClientID) != "cid" || x.Nonce != 0x0102030405060708 || !x.HasOrigin || x.OriginPort != 40000 || x.OriginAddr != o3 {
					return fmt.Sprintf("%+v", x)
				}
				return ""
			}},
		{"ERSPAN III", erspan3(77, 0, true, ether(t, layers.EthernetTypeIPv4, v4)), LayerTypeERSPANIII,
			[]gopacket.LayerType{LayerTypeERSPANIII, layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeTCP, gopacket.LayerTypePayload},
			func(l gopacket.Layer) string {
				e := l.(*ERSPANIII)
				if e.Version != 2 || e.VLAN != 5 || e.SessionID != 77 || e.Timestamp != 123456 || e.FrameType != 0 || len(e.Subheader) != 8 {
					return fmt.Sprintf("%+v", e)
				}
				return ""
			}},
	}
	for _, c := range cases {
		p := gopacket.NewPacket(c.data, c.first, gopacket.Default)
		var got []gopacket.LayerType
		for _, l := range p.Layers() {
			got = append(got, l.LayerType())
		}
		if !slices.Equal(got, c.layers) {
			t.Errorf("%s: layers %v, want %v (%v)", c.name, got, c.layers, p.ErrorLayer())
			continue
		}
		if msg := c.check(p.Layers()[0]); msg != "" {
			t.Errorf("%s: fields %s", c.name, msg)
		}
		if tl, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); !ok || tl.Seq != 1000 || string(tl.Payload) != string(payload) {
			t.Errorf("%s: TCP %+v", c.name, tl)
		}
	}
}
