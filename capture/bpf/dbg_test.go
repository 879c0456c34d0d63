package bpf

import (
	"os"
	"strings"
	"testing"
)

func TestDbgExprs(t *testing.T) {
	for _, e := range strings.Split(os.Getenv("DBG_EXPRS"), ";") {
		p, err := compile(e, Ethernet, 0, true)
		t.Logf("%q: %v\n%s", e, err, disasm(p))
		tp, terr, _ := tcpdumpCompile("/usr/bin/tcpdump", e, Ethernet)
		t.Logf("tcpdump: %s\n%s", terr, disasm(tp))
	}
}
