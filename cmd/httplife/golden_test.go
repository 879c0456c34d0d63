package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// Every bundled sample's text and JSON output is pinned by a golden file;
// refresh them with `go test ./cmd/httplife -run Golden -update` and read
// the diff.
func TestGoldenSamples(t *testing.T) {
	samples, _ := filepath.Glob("../../samples/*.pcap*")
	if len(samples) == 0 {
		t.Fatal("no samples in ../../samples")
	}
	for _, path := range samples {
		for _, format := range []string{"text", "json"} {
			name := filepath.Base(path) + "." + format
			var out, errOut bytes.Buffer
			if code := run([]string{"analyse", "--format", format, path}, nil, &out, &errOut); code != 0 {
				t.Fatalf("analyse %s: exit %d %s", path, code, errOut.String())
			}
			// The source path is the only thing that depends on where the
			// test runs from.
			got := strings.ReplaceAll(out.String(), path, "samples/"+filepath.Base(path))
			golden := filepath.Join("testdata", "golden", name)
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%s: %v (run with -update to create it)", golden, err)
			}
			if got != string(want) {
				t.Errorf("analyse --format %s %s differs from %s:\n%s", format, path, golden, firstDiff(got, string(want)))
			}
		}
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n got  " + a + "\n want " + b
		}
	}
	return ""
}
