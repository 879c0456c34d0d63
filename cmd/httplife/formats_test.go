package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
)

// rewrite returns the capture at path rewritten as nanosecond pcap and as
// pcapng, each also gzip-compressed.
func rewrite(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReader(f))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var ns, ng bytes.Buffer
	w := pcapgo.NewWriterNanos(&ns)
	if err := w.WriteFileHeader(262144, r.LinkType()); err != nil {
		t.Fatal(err)
	}
	ngw, err := pcapgo.NewNgWriter(&ng, r.LinkType())
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
		ci.InterfaceIndex = 0
		if err := ngw.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := ngw.Flush(); err != nil {
		t.Fatal(err)
	}
	gz := func(b []byte) []byte {
		var out bytes.Buffer
		zw := gzip.NewWriter(&out)
		zw.Write(b)
		zw.Close()
		return out.Bytes()
	}
	orig, _ := os.ReadFile(path)
	return map[string][]byte{
		"nanosecond pcap": ns.Bytes(), "pcapng": ng.Bytes(),
		"gzip pcap": gz(orig), "gzip pcapng": gz(ng.Bytes()),
	}
}

func connectionsJSON(t *testing.T, args []string, stdin []byte) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(append([]string{"analyse", "--format", "json"}, args...), bytes.NewReader(stdin), &out, &errOut); code != 0 {
		t.Fatalf("analyse %v: exit %d: %s", args, code, errOut.String())
	}
	var doc struct {
		Connections json.RawMessage `json:"connections"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return string(doc.Connections)
}

// The same capture read as pcap, nanosecond pcap, pcapng, gzip and from
// standard input gives identical connections.
func TestSameConnectionsInEveryFormat(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(corpusDir, "*.pcap"))
	paths = append(paths, "../../samples/go-idle-timeout.pcap")
	for _, path := range paths {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		want := connectionsJSON(t, []string{path}, nil)
		orig, _ := os.ReadFile(path)
		if got := connectionsJSON(t, []string{"-"}, orig); got != want {
			t.Errorf("%s from stdin: connections differ from the file's", path)
		}
		dir := t.TempDir()
		for name, data := range rewrite(t, path) {
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".cap")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if got := connectionsJSON(t, []string{p}, nil); got != want {
				t.Errorf("%s rewritten as %s: connections differ\n got %.300s\nwant %.300s", path, name, got, want)
			}
		}
	}
}

// NDJSON carries the same records as JSON, one per line as each connection
// finishes, then the summary.
func TestNDJSONMatchesJSON(t *testing.T) {
	for _, path := range corpusCaptures(t) {
		path = strings.TrimSuffix(path, ".truth.json")
		var out, errOut bytes.Buffer
		if code := run([]string{"analyse", "--format", "ndjson", path}, nil, &out, &errOut); code != 0 {
			t.Fatalf("ndjson %s: exit %d %s", path, code, errOut.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		byID := map[float64]any{}
		for _, l := range lines[:len(lines)-1] {
			var c map[string]any
			if err := json.Unmarshal([]byte(l), &c); err != nil {
				t.Fatalf("%s: bad ndjson line %q: %v", path, l, err)
			}
			byID[c["id"].(float64)] = c
		}
		var last map[string]any
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last["summary"] == nil || last["capture"] == nil {
			t.Errorf("%s: last ndjson line %q is not {summary, capture}", path, lines[len(lines)-1])
		}
		doc := analyseJSON(t, path)
		conns := doc["connections"].([]any)
		if len(conns) != len(byID) {
			t.Errorf("%s: ndjson has %d connections, json %d", path, len(byID), len(conns))
		}
		for _, c := range conns {
			id := c.(map[string]any)["id"].(float64)
			if !reflect.DeepEqual(byID[id], c) {
				t.Errorf("%s: connection %v differs between ndjson and json", path, id)
			}
		}
		if !reflect.DeepEqual(norm(last["summary"]), norm(doc["summary"])) {
			t.Errorf("%s: ndjson summary %v differs from json summary %v", path, last["summary"], doc["summary"])
		}
	}
}
