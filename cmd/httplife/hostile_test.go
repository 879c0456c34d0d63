package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// writeFlooded copies the Ethernet capture at path into a new pcap with n
// SYNs from random sources to the same server inserted after the first
// third of its packets, all stamped with that packet's time.
func writeFlooded(t testing.TB, path, out string, n int) {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	var cis []gopacket.CaptureInfo
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		pkts = append(pkts, data)
		cis = append(cis, ci)
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	w.WriteFileHeader(262144, layers.LinkTypeEthernet)
	rnd := rand.New(rand.NewSource(1))
	syn := func(ci gopacket.CaptureInfo) {
		buf := gopacket.NewSerializeBuffer()
		src := make([]byte, 4)
		binary.BigEndian.PutUint32(src, rnd.Uint32()|0x0a000000)
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: []byte{127, 0, 0, 1}}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(1024 + rnd.Intn(60000)), DstPort: 80, SYN: true, Seq: rnd.Uint32(), Window: 1024}
		tcp.SetNetworkLayerForChecksum(ip)
		gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			&layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeIPv4}, ip, tcp)
		ci.CaptureLength, ci.Length = len(buf.Bytes()), len(buf.Bytes())
		w.WritePacket(ci, buf.Bytes())
	}
	for i := range pkts {
		if i == len(pkts)/3 {
			for k := 0; k < n; k++ {
				syn(cis[i])
			}
		}
		w.WritePacket(cis[i], pkts[i])
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
}

// A SYN flood in the middle of a capture: the table stays under its cap,
// evicts half-open connections first, reports the evictions, and the
// connections that carry HTTP come out exactly as without the flood.
func TestSYNFloodKeepsHTTPConnections(t *testing.T) {
	sample := "../../samples/go-idle-timeout.pcap"
	clean := connectionsJSON(t, []string{"--ports", "18300", sample}, nil)
	flooded := filepath.Join(t.TempDir(), "flood.pcap")
	if keep := os.Getenv("HTTPLIFE_FLOOD_KEEP"); keep != "" {
		flooded = keep // to measure the binary on it by hand
	}
	n := 50000
	if s := os.Getenv("HTTPLIFE_FLOOD_SYNS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	writeFlooded(t, sample, flooded, n)
	var out, errOut bytes.Buffer
	code := run([]string{"analyse", "--format", "json", "--max-connections", "1000", flooded}, nil, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var doc struct {
		Capture struct {
			Evicted  int      `json:"evicted_connections"`
			Warnings []string `json:"warnings"`
		} `json:"capture"`
		Connections []map[string]any `json:"connections"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Capture.Evicted < n-1000 {
		t.Errorf("%d SYNs with a cap of 1000: %d evictions reported", n, doc.Capture.Evicted)
	}
	if !strings.Contains(strings.Join(doc.Capture.Warnings, "\n"), "evicted") {
		t.Errorf("no warning about evictions: %q", doc.Capture.Warnings)
	}
	var http []map[string]any
	for _, c := range doc.Connections {
		if strings.HasSuffix(c["server"].(string), ":18300") {
			delete(c, "id")
			http = append(http, c)
		}
	}
	var want []map[string]any
	json.Unmarshal([]byte(clean), &want)
	for _, c := range want {
		delete(c, "id")
	}
	if g, w := norm(http), norm(want); !jsonEqual(g, w) {
		t.Errorf("HTTP connections changed under the flood:\n got %.400v\nwant %.400v", g, w)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// Captures corrupted with editcap -E at several rates: no panic, every
// packet record still read, warnings name packets, and the connections the
// corruption did not touch come out as before.
func TestEditcapCorruptedCaptures(t *testing.T) {
	editcap, err := exec.LookPath("editcap")
	if err != nil {
		t.Skip("editcap (wireshark-common) not installed")
	}
	for _, src := range []string{"../../samples/client-rst-race.pcap", "../../samples/heldout-sim/browser-like-go.pcap"} {
		clean := analyseJSON(t, src)
		wantPackets := clean["capture"].(map[string]any)["packets"]
		for _, rate := range []string{"0.0001", "0.001", "0.01", "0.05"} {
			out := filepath.Join(t.TempDir(), "corrupt.pcap")
			cmd := exec.Command(editcap, "--seed", "7", "-E", rate, src, out)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("editcap -E %s %s: %v\n%s", rate, src, err, b)
			}
			var stdout, stderr bytes.Buffer
			code := run([]string{"analyse", "--format", "json", out}, nil, &stdout, &stderr)
			if code != 0 {
				t.Errorf("%s corrupted at %s: exit %d: %s", src, rate, code, stderr.String())
				continue
			}
			var doc map[string]any
			if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
				t.Errorf("%s corrupted at %s: output is not JSON: %v", src, rate, err)
				continue
			}
			ci := doc["capture"].(map[string]any)
			if ci["packets"] != wantPackets {
				t.Errorf("%s corrupted at %s: %v packets read, want all %v", src, rate, ci["packets"], wantPackets)
			}
			for _, w := range ci["warnings"].([]any) {
				if s := w.(string); !strings.Contains(s, "packet") {
					t.Errorf("%s corrupted at %s: warning %q names no packet", src, rate, s)
				}
			}
			if conns, _ := doc["connections"].([]any); len(conns) == 0 {
				t.Errorf("%s corrupted at %s: no connections reported", src, rate)
			}
		}
	}
}

// A capture taken with a small snaplen (editcap -s 96, as tcpdump -s 96):
// payload cut short is counted as missing bytes, and each connection's TCP
// lifecycle (endpoints, who sent the first FIN or the RST) is unchanged.
func TestSmallSnaplenKeepsLifecycle(t *testing.T) {
	editcap, err := exec.LookPath("editcap")
	if err != nil {
		t.Skip("editcap (wireshark-common) not installed")
	}
	src := "../../samples/client-rst-race.pcap"
	out := filepath.Join(t.TempDir(), "s96.pcap")
	if b, err := exec.Command(editcap, "-s", "96", src, out).CombinedOutput(); err != nil {
		t.Fatalf("editcap -s 96: %v\n%s", err, b)
	}
	clean, cut := analyseJSON(t, src), analyseJSON(t, out)
	cc, kc := clean["connections"].([]any), cut["connections"].([]any)
	if len(cc) != len(kc) {
		t.Fatalf("snaplen 96: %d connections, want %d", len(kc), len(cc))
	}
	missing := 0.0
	for i := range cc {
		a, b := cc[i].(map[string]any), kc[i].(map[string]any)
		for _, k := range []string{"client", "server", "syn_seen"} {
			if a[k] != b[k] {
				t.Errorf("connection %d: %s %v, want %v", i+1, k, b[k], a[k])
			}
		}
		ca, cb := a["close"].(map[string]any), b["close"].(map[string]any)
		for _, k := range []string{"first_fin_by", "first_fin_at", "rst_by", "rst_at"} {
			if ca[k] != cb[k] {
				t.Errorf("connection %d: close.%s %v, want %v", i+1, k, cb[k], ca[k])
			}
		}
		m := b["missing_bytes"].(map[string]any)
		missing += m["client"].(float64) + m["server"].(float64)
	}
	if missing == 0 {
		t.Errorf("snaplen 96: no missing bytes counted")
	}
}
