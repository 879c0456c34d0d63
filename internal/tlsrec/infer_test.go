package tlsrec

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestInferrer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// a script: c/s = client/server application data, h = server handshake record, a = client alert
	for _, tc := range []struct {
		script  string
		want    string // per exchange: request records/response records, first..last in ms
		orphans int
	}{
		{"cs cs", "1/1 0-1; 1/1 2-3", 0},
		{"ccs", "2/1 0-2", 0},
		{"c sss c", "1/3 0-3; 1/0 4-4", 0},
		{"s hc s a", "1/1 2-3", 1},
		{"", "", 0},
		{"h h s s", "", 2},
		{"cscscs", "1/1 0-1; 1/1 2-3; 1/1 4-5", 0},
	} {
		var x Inferrer
		var got []string
		add := func(e Exchange) {
			end := e.Request.Last
			if e.Response.Records > 0 {
				end = e.Response.Last
			}
			got = append(got, fmt.Sprintf("%d/%d %d-%d", e.Request.Records, e.Response.Records,
				e.Request.First.Sub(t0).Milliseconds(), end.Sub(t0).Milliseconds()))
		}
		ms := 0
		for _, ch := range tc.script {
			if ch == ' ' {
				continue
			}
			at := t0.Add(time.Duration(ms) * time.Millisecond)
			ms++
			r := Record{Inner: TypeApplicationData, First: at, Last: at, Len: 100}
			d := ClientToServer
			switch ch {
			case 's':
				d = ServerToClient
			case 'h':
				d, r.Inner = ServerToClient, TypeHandshake
			case 'a':
				r.Inner = TypeAlert
			}
			if e, ok := x.Add(d, r); ok {
				add(e)
			}
		}
		if e, ok := x.Flush(); ok {
			add(e)
		}
		if g := strings.Join(got, "; "); g != tc.want || x.Orphans != tc.orphans {
			t.Errorf("%q: exchanges %q orphans %d, want %q %d", tc.script, g, x.Orphans, tc.want, tc.orphans)
		}
	}
}
