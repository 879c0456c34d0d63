package capture

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fieldDir holds public test traces of other tools (Zeek, tcpdump,
// tcptrace, justniffer), unpacked on the development machine only.
const fieldDir = "/work/field"

// fieldSamples holds the project's own captures of real tunnels (recorded
// between network namespaces), when there are any: all of them are read.
const fieldSamples = "../samples/field/"

// fieldNames picks the traces about encapsulations and fragments.
var fieldNames = regexp.MustCompile(`(?i)vxlan|geneve|gre|erspan|mpls|pppoe|teredo|nflog|6in4|6in6|4in6|ipip|tunnel|frag|qinq|vlan|sit`)

// fieldKnown are differences from tshark that are understood, by file
// name: how many packets differ, and why (tshark's view is not the one
// this package takes, or the encapsulation is not one it takes off).
var fieldKnown = map[string]struct {
	n   int
	why string
}{
	// The first fragment, cut by the snaplen, cannot be reassembled;
	// tshark shows the TCP header it holds.
	"bgp_pmsi_tunnel-oobr.pcap": {1, "a lone first fragment cut by the snaplen"},
	// BIG TCP / GSO super-packets: IPv4 total length and UDP length 0.
	// tshark calls the UDP length bogus; this package takes the captured
	// length, as it does for TSO packets.
	"bigtcp-ipv4-geneve-ipv4.pcap": {1, "UDP length 0 (BIG TCP)"},
	"bigtcp-ipv4-geneve-ipv6.pcap": {1, "UDP length 0 (BIG TCP)"},
	"bigtcp-ipv4-vxlan-ipv4.pcap":  {1, "UDP length 0 (BIG TCP)"},
	"bigtcp-ipv4-vxlan-ipv6.pcap":  {1, "UDP length 0 (BIG TCP)"},
	"bigtcp-ipv6-geneve-ipv4.pcap": {1, "UDP length 0 (BIG TCP)"},
	"bigtcp-ipv6-geneve-ipv6.pcap": {1, "UDP length 0 (BIG TCP)"},
	"bigtcp-ipv6-vxlan-ipv4.pcap":  {1, "UDP length 0 (BIG TCP)"},
	"bigtcp-ipv6-vxlan-ipv6.pcap":  {1, "UDP length 0 (BIG TCP)"},
	// A fragment overlapping bytes held: dropped with its datagram, as
	// Linux and RFC 5722 do; tshark reassembles it.
	"fragmented-4.pcap": {1, "overlapping fragments dropped"},
	// A TCP header cut by the snaplen: tshark shows what is there.
	"vntag_vlan_sandwich_clean.pcap": {1, "TCP header cut by the snaplen"},
	// tcpdump's suite (every capture of its tests/ is read): fuzzer
	// captures whose malformed packets tshark still shows a TCP header
	// in, and a refusal of this package's with a warning.
	"beep-oobr.pcap":                         {1, "a malformed IPv6 packet (fuzzer)"},
	"bgp-bgp_capabilities_print-oobr-1.pcap": {1, "a malformed packet (fuzzer)"},
	"bgp-bgp_capabilities_print-oobr-2.pcap": {1, "a malformed packet (fuzzer)"},
	"heapoverflow-tcp_print.pcap":            {1, "a malformed packet (fuzzer)"},
	"rpki-rtr-oobr.pcap":                     {1, "a malformed packet (fuzzer)"},
	"tcp-auth-heapoverflow.pcap":             {1, "a malformed packet (fuzzer)"},
	"bigtcp-ipv6.pcap":                       {1, "IPv6 payload length 0 (BIG TCP)"},
	// Not connections: the frames an OpenFlow packet-in or an sFlow
	// sample quotes (tshark dissects them; this package keeps the
	// OpenFlow connection itself).
	"of13_ericsson.pcapng": {4, "frames quoted in OpenFlow messages"},
	"sflow_expanded.pcap":  {1, "a header quoted in an sFlow sample"},
	// Aruba's 802.11 in GRE: an A-MSDU frame aggregates two TCP
	// segments, which tshark splits; this package takes one segment per
	// packet.
	"gre-aruba-amsdu.pcap": {1, "an 802.11 A-MSDU of two TCP segments is not split"},
}

// tsharkSeg is one TCP packet as tshark sees it: its innermost 4-tuple,
// raw sequence number, and what carried it: VLAN ids, tunnel ids by
// type, and how many tunnels of some types and IP headers were around it.
type tsharkSeg struct {
	src, dst netip.AddrPort
	seq      uint32
	carrier  string
}

func (s tsharkSeg) String() string {
	return fmt.Sprintf("%v>%v seq=%d [%s]", s.src, s.dst, s.seq, s.carrier)
}

// tsharkFields are the fields asked of tshark, all occurrences of each.
var tsharkFields = []string{"frame.number", "frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
	"tcp.srcport", "tcp.dstport", "tcp.seq_raw",
	"vlan.id", "mpls.label", "vxlan.vni", "geneve.vni", "gre.key", "erspan.spanid", "pppoe.session_id",
	"ieee8021ad.id"} // an 802.1ad (QinQ) outer tag is not a vlan.id to tshark

// carrierSig describes a carrier in the terms tshark's fields allow: the
// ids of each kind in order (vlan, mpls, vxlan, geneve, gre keys, erspan
// sessions, pppoe sessions), the number of GRE and Teredo headers, and the
// number of IP headers around the TCP segment.
func carrierSig(vlan, mpls, vxlan, geneve, greKey, erspan, pppoe []string, gre, teredo, ips int) string {
	return fmt.Sprintf("vlan %v mpls %v vxlan %v geneve %v gre-key %v erspan %v pppoe %v gre %d teredo %d ip %d",
		vlan, mpls, vxlan, geneve, greKey, erspan, pppoe, gre, teredo, ips)
}

// ourSig is carrierSig for a segment of this package.
func ourSig(c *Carrier) string {
	var vlan, mpls, vxlan, geneve, greKey, erspan, pppoe []string
	gre, teredo, ips := 0, 0, 1
	if c != nil {
		for _, v := range c.VLANs {
			vlan = append(vlan, strconv.Itoa(int(v)))
		}
		for _, e := range c.Tunnel {
			id := strconv.Itoa(int(e.ID))
			switch e.Type {
			case EncapMPLS:
				mpls = append(mpls, id)
				continue
			case EncapPPPoE:
				pppoe = append(pppoe, id)
				continue
			case EncapVXLAN:
				vxlan = append(vxlan, id)
			case EncapGeneve:
				geneve = append(geneve, id)
			case EncapGRE:
				gre++
				if e.HasID {
					greKey = append(greKey, id)
				}
			case EncapERSPAN:
				gre++
				if e.HasID {
					erspan = append(erspan, id)
				}
			case EncapTeredo:
				teredo++
			}
			ips++ // every other tunnel has an IP header of its own
		}
	}
	return carrierSig(vlan, mpls, vxlan, geneve, greKey, erspan, pppoe, gre, teredo, ips)
}

// tsharkTCP runs tshark on path and returns its TCP packets by frame
// number. Packets whose TCP header is quoted in an ICMP error are left
// out. An error is tshark's (a link type it does not read).
func tsharkTCP(path string) (map[uint64]tsharkSeg, error) {
	args := []string{"-n", "-r", path, "-d", "udp.port==8472,vxlan", "-o", "teredo.heuristic_teredo:TRUE", "-Y", "tcp", "-T", "fields",
		"-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=/t"}
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	out, err := cachedOutput(path, "tshark", args...)
	if err != nil {
		return nil, fmt.Errorf("tshark -r %s: %v", path, err)
	}
	list := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	last := func(s string) string {
		l := list(s)
		if len(l) == 0 {
			return ""
		}
		return l[len(l)-1]
	}
	segs := map[uint64]tsharkSeg{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < len(tsharkFields) || f[8] == "" {
			continue
		}
		n, _ := strconv.ParseUint(f[0], 10, 64)
		fam := ""
		quoted := false
		gre, teredo, ips := 0, 0, 0
		for _, p := range strings.Split(f[1], ":") {
			if p == "tcp" {
				break
			}
			switch p {
			case "ip", "ipv6":
				fam = p
				ips++
			case "icmp", "icmpv6":
				quoted = true
			case "gre":
				gre++
			case "teredo":
				teredo++
			}
		}
		if quoted || fam == "" {
			continue
		}
		sa, da := last(f[2]), last(f[3])
		if fam == "ipv6" {
			sa, da = last(f[4]), last(f[5])
		}
		src, err1 := netip.ParseAddr(sa)
		dst, err2 := netip.ParseAddr(da)
		sp, err3 := strconv.ParseUint(last(f[6]), 10, 16)
		dp, err4 := strconv.ParseUint(last(f[7]), 10, 16)
		seq, err5 := strconv.ParseUint(last(f[8]), 10, 32)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
			return nil, fmt.Errorf("%s: tshark line %q: bad fields", path, sc.Text())
		}
		// ids: decimal or 0x-prefixed hex, made decimal.
		var bad error
		ids := func(s string) []string {
			var out []string
			for _, x := range list(s) {
				v, err := strconv.ParseUint(x, 0, 32)
				if err != nil && bad == nil {
					bad = fmt.Errorf("%s: tshark line %q: bad id %q", path, sc.Text(), x)
				}
				out = append(out, strconv.FormatUint(v, 10))
			}
			return out
		}
		sig := carrierSig(append(ids(f[16]), ids(f[9])...), ids(f[10]), ids(f[11]), ids(f[12]), ids(f[13]), ids(f[14]), ids(f[15]), gre, teredo, ips)
		if bad != nil {
			return nil, bad
		}
		segs[n] = tsharkSeg{netip.AddrPortFrom(src, uint16(sp)), netip.AddrPortFrom(dst, uint16(dp)), uint32(seq), sig}
	}
	return segs, nil
}

// cachedOutput runs name with args, whose output depends only on the file
// at path, or returns the output kept from an earlier run on the same
// file (same size and modification time) with the same arguments.
func cachedOutput(path, name string, args ...string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d\x00%s\x00%q", path, fi.Size(), fi.ModTime().UnixNano(), name, args)))
	dir := filepath.Join(os.TempDir(), "httplife-tshark-cache")
	cache := filepath.Join(dir, hex.EncodeToString(h[:16]))
	if out, err := os.ReadFile(cache); err == nil {
		return out, nil
	}
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, stderr.String())
	}
	if os.MkdirAll(dir, 0o755) == nil {
		tmp := cache + ".tmp" + strconv.Itoa(os.Getpid())
		if os.WriteFile(tmp, out, 0o644) == nil {
			os.Rename(tmp, cache)
		}
	}
	return out, nil
}

// TestFieldTraces reads the public traces about tunnels, tags and
// fragments, every capture of tcpdump's test suite (under fieldDir's
// tcpdump/tests/), and the project's samples/field captures, and compares every TCP segment (packet number, innermost
// 4-tuple, sequence number, carrier ids) with tshark's decoding of the
// same file.
// It runs only where the traces and tshark are installed; tshark's output
// is kept in the temporary directory for later runs.
func TestFieldTraces(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: tshark runs take a while")
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	var files []string
	pick := func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		name := d.Name()
		if !fieldNames.MatchString(name) && !strings.Contains(p, "/tunnels/") && !strings.Contains(p, "/tcpdump/tests/") && !strings.HasPrefix(p, fieldSamples) {
			return nil
		}
		for _, ext := range []string{".pcap", ".pcapng", ".pcap.gz", ".dmp.gz", ".pcapng.gz"} {
			if strings.HasSuffix(name, ext) {
				files = append(files, p)
				break
			}
		}
		return nil
	}
	for _, dir := range []string{fieldDir, fieldSamples} {
		filepath.WalkDir(dir, pick)
	}
	if len(files) == 0 {
		t.Skipf("no captures in %s or %s", fieldDir, fieldSamples)
	}
	sort.Strings(files)
	// tshark on two cores at most at a time.
	wants := make([]map[uint64]tsharkSeg, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			wants[i], errs[i] = tsharkTCP(f)
		}()
	}
	wg.Wait()
	total, matched := 0, 0
	for i, path := range files {
		rel, err := filepath.Rel(fieldDir, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = path
		}
		t.Run(rel, func(t *testing.T) {
			want := wants[i]
			if errs[i] != nil {
				t.Skip(errs[i])
			}
			src, err := Open(path)
			if err != nil {
				t.Skipf("Open: %v", err)
			}
			r := drain(t, src)
			got := map[uint64]tsharkSeg{}
			for i, s := range r.segs {
				got[s.N] = tsharkSeg{s.Src, s.Dst, s.Seq, ourSig(r.extra[i].carrier)}
			}
			var diffs []string
			for n, w := range want {
				g, ok := got[n]
				switch {
				case !ok:
					diffs = append(diffs, fmt.Sprintf("packet %d: missing, tshark has %v", n, w))
				case g != w:
					diffs = append(diffs, fmt.Sprintf("packet %d: got %v, tshark has %v", n, g, w))
				}
			}
			for n, g := range got {
				if _, ok := want[n]; !ok {
					diffs = append(diffs, fmt.Sprintf("packet %d: got %v, tshark has no TCP", n, g))
				}
			}
			sort.Strings(diffs)
			total += len(want)
			matched += len(want) - len(diffs)
			if len(diffs) == 0 {
				t.Logf("%d TCP packets agree (of %d packets)", len(want), r.stats.Packets)
				return
			}
			if k, ok := fieldKnown[filepath.Base(path)]; ok && k.n == len(diffs) {
				t.Logf("%d differences from tshark, known: %s", len(diffs), k.why)
				return
			}
			t.Errorf("%s: %d of %d TCP packets differ from tshark; first: %s; warnings %q, skipped %+v",
				rel, len(diffs), len(want), strings.Join(diffs[:min(5, len(diffs))], "; "), r.stats.Warnings, r.stats.Skipped)
		})
	}
	t.Logf("%d files, %d TCP packets per tshark, %d agree", len(files), total, matched)
}
