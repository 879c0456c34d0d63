package tlsrec

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The RFC 8448 section 3 trace: key derivation, and the whole conversation
// through a Conn with and without its secrets.

func TestRFC8448TrafficKeys(t *testing.T) {
	v := loadHex(t, "testdata/rfc8448.txt")
	s := suites[0x1301]
	for _, tc := range []struct{ secret, key, iv string }{
		{"server_handshake_traffic_secret", "server_handshake_key", "server_handshake_iv"},
		{"client_handshake_traffic_secret", "client_handshake_key", "client_handshake_iv"},
		{"server_application_traffic_secret", "server_application_key", "server_application_iv"},
		{"client_application_traffic_secret", "client_application_key", "client_application_iv"},
	} {
		key, iv := trafficKeys(s, v[tc.secret])
		if !bytes.Equal(key, v[tc.key]) || !bytes.Equal(iv, v[tc.iv]) {
			t.Errorf("trafficKeys(%s) = key %x iv %x, want %x %x", tc.secret, key, iv, v[tc.key], v[tc.iv])
		}
	}
}

func TestRFC8448RecordsOpen(t *testing.T) {
	v := loadHex(t, "testdata/rfc8448.txt")
	s := suites[0x1301]
	payload := make([]byte, 50)
	for i := range payload {
		payload[i] = byte(i)
	}
	for _, tc := range []struct {
		record, secret string
		seq            uint64
		inner          ContentType
		want           []byte // nil: only the length is checked
		n              int
	}{
		{"server_flight_record", "server_handshake_traffic_secret", 0, TypeHandshake, nil, 657},
		{"client_finished_record", "client_handshake_traffic_secret", 0, TypeHandshake, nil, 36},
		{"server_ticket_record", "server_application_traffic_secret", 0, TypeHandshake, nil, 205},
		{"client_app_record", "client_application_traffic_secret", 0, TypeApplicationData, payload, 50},
		{"server_app_record", "server_application_traffic_secret", 1, TypeApplicationData, payload, 50},
		{"client_alert_record", "client_application_traffic_secret", 1, TypeAlert, []byte{1, 0}, 2},
		{"server_alert_record", "server_application_traffic_secret", 2, TypeAlert, []byte{1, 0}, 2},
	} {
		rc, err := newCipher13(s, v[tc.secret])
		if err != nil {
			t.Fatal(err)
		}
		rec := v[tc.record]
		var hdr [5]byte
		copy(hdr[:], rec)
		for _, seq := range []uint64{tc.seq + 1, tc.seq} { // the wrong sequence number first: must fail
			rc.seq = seq
			out, inner, err := rc.open(make([]byte, len(rec)), &hdr, rec[5:])
			if seq != tc.seq {
				if err != errAuth {
					t.Errorf("%s at seq %d: err %v, want %v", tc.record, seq, err, errAuth)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", tc.record, err)
				continue
			}
			if inner != tc.inner || len(out) != tc.n || tc.want != nil && !bytes.Equal(out, tc.want) {
				t.Errorf("%s: inner %v, %d bytes %x; want %v, %d bytes %x", tc.record, inner, len(out), out, tc.inner, tc.n, tc.want)
			}
			if rc.seq != tc.seq+1 {
				t.Errorf("%s: seq %d after open, want %d", tc.record, rc.seq, tc.seq+1)
			}
		}
	}
}

// rfc8448Events is the trace as Data calls, one record each, 1 ms apart.
func rfc8448Events(t testing.TB) ([]event, string) {
	v := loadHex(t, "testdata/rfc8448.txt")
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	order := []struct {
		d    Dir
		name string
	}{
		{ClientToServer, "client_hello_record"}, {ServerToClient, "server_hello_record"},
		{ServerToClient, "server_flight_record"}, {ClientToServer, "client_finished_record"},
		{ServerToClient, "server_ticket_record"}, {ClientToServer, "client_app_record"},
		{ServerToClient, "server_app_record"}, {ClientToServer, "client_alert_record"},
		{ServerToClient, "server_alert_record"},
	}
	var evs []event
	for i, o := range order {
		evs = append(evs, event{o.d, v[o.name], base.Add(time.Duration(i) * time.Millisecond)})
	}
	cr := hex.EncodeToString(v["client_hello_record"][11:43])
	keys := fmt.Sprintf("CLIENT_HANDSHAKE_TRAFFIC_SECRET %s %x\nSERVER_HANDSHAKE_TRAFFIC_SECRET %s %x\n"+
		"CLIENT_TRAFFIC_SECRET_0 %s %x\nSERVER_TRAFFIC_SECRET_0 %s %x\n",
		cr, v["client_handshake_traffic_secret"], cr, v["server_handshake_traffic_secret"],
		cr, v["client_application_traffic_secret"], cr, v["server_application_traffic_secret"])
	return evs, keys
}

func TestRFC8448Conn(t *testing.T) {
	evs, keys := rfc8448Events(t)
	payload := make([]byte, 50)
	for i := range payload {
		payload[i] = byte(i)
	}
	type want struct {
		d     Dir
		inner ContentType
		sure  bool
		dec   bool
	}
	for _, tc := range []struct {
		name string
		keys string
		recs []want
	}{
		{"with keys", keys, []want{
			{0, TypeHandshake, true, false}, {1, TypeHandshake, true, false}, {1, TypeHandshake, true, true},
			{0, TypeHandshake, true, true}, {1, TypeHandshake, true, true}, {0, TypeApplicationData, true, true},
			{1, TypeApplicationData, true, true}, {0, TypeAlert, true, true}, {1, TypeAlert, true, true}}},
		{"without keys", "", []want{
			{0, TypeHandshake, true, false}, {1, TypeHandshake, true, false}, {1, TypeHandshake, false, false},
			{0, TypeHandshake, false, false}, {1, TypeHandshake, false, false}, {0, TypeApplicationData, false, false},
			{1, TypeApplicationData, false, false}, {0, TypeAlert, false, false}, {1, TypeAlert, false, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var kl *KeyLog
			if tc.keys != "" {
				kl = mustKeyLog(t, tc.keys)
			}
			h, in := run(evs, kl)
			if len(h.recs) != len(tc.recs) {
				t.Fatalf("%d records, want %d:\n%s", len(h.recs), len(tc.recs), h.summary())
			}
			for i, w := range tc.recs {
				r := h.recs[i]
				if r.d != w.d || r.r.Inner != w.inner || r.r.Sure != w.sure || r.r.Decrypted != w.dec {
					t.Errorf("record %d: %s %v sure=%v dec=%v, want %s %v sure=%v dec=%v", i, r.d, r.r.Inner, r.r.Sure,
						r.r.Decrypted, w.d, w.inner, w.sure, w.dec)
				}
				if !r.r.First.Equal(evs[i].t) || !r.r.Last.Equal(evs[i].t) || r.r.Len != len(evs[i].b) {
					t.Errorf("record %d: first %v last %v len %d, want %v and %d", i, r.r.First, r.r.Last, r.r.Len, evs[i].t, len(evs[i].b))
				}
			}
			if in.Version != "TLS 1.3" || in.SNI != "server" || in.CipherSuite != 0x1301 || in.Resumed || in.HelloRetry {
				t.Errorf("info: version %q sni %q suite %#x resumed %v hrr %v", in.Version, in.SNI, in.CipherSuite, in.Resumed, in.HelloRetry)
			}
			sure := tc.keys != ""
			if !in.CloseNotify[0].Equal(evs[7].t) || !in.CloseNotify[1].Equal(evs[8].t) || in.CloseNotifySure != [2]bool{sure, sure} {
				t.Errorf("close_notify %v sure %v, want %v %v sure %v", in.CloseNotify, in.CloseNotifySure, evs[7].t, evs[8].t, sure)
			}
			if by, ok := in.CloseNotifyBy(); !ok || by != ClientToServer {
				t.Errorf("CloseNotifyBy = %v %v, want client", by, ok)
			}
			if sure {
				if !in.Decrypted || !in.HaveKeys || !bytes.Equal(h.plain[0], payload) || !bytes.Equal(h.plain[1], payload) {
					t.Errorf("decrypted %v keys %v plaintext %x / %x, want the 50-byte payload both ways", in.Decrypted, in.HaveKeys, h.plain[0], h.plain[1])
				}
				if len(in.Warnings) != 0 {
					t.Errorf("warnings %q", in.Warnings)
				}
			} else if in.Decrypted || len(h.plain[0])+len(h.plain[1]) > 0 {
				t.Errorf("no keys but decrypted %v, plaintext %d bytes", in.Decrypted, len(h.plain[0])+len(h.plain[1]))
			}
			if in.AppRecords != [2]int{1, 1} {
				t.Errorf("application records %v, want [1 1]", in.AppRecords)
			}
		})
	}
}

// Every split of every record into two Data calls, and one byte per call,
// must give the same records and plaintext as whole records.
func TestRFC8448Splits(t *testing.T) {
	evs, keys := rfc8448Events(t)
	for _, k := range []string{"", keys} {
		var kl *KeyLog
		if k != "" {
			kl = mustKeyLog(t, k)
		}
		ref, _ := run(evs, kl)
		want := ref.summary()
		for i := range evs {
			for at := 1; at < len(evs[i].b); at++ {
				split := append([]event(nil), evs[:i]...)
				split = append(split, event{evs[i].d, evs[i].b[:at], evs[i].t}, event{evs[i].d, evs[i].b[at:], evs[i].t})
				split = append(split, evs[i+1:]...)
				if kl != nil {
					kl = mustKeyLog(t, k) // fresh: no shared state
				}
				h, _ := run(split, kl)
				if got := h.summary(); got != want {
					t.Fatalf("keys=%v: record %d split at %d:\n%s\nwant\n%s", k != "", i, at, got, want)
				}
			}
		}
		var bytewise []event
		for _, e := range evs {
			for j := range e.b {
				bytewise = append(bytewise, event{e.d, e.b[j : j+1], e.t})
			}
		}
		if h, _ := run(bytewise, kl); h.summary() != want {
			t.Errorf("keys=%v: one byte per call:\n%s\nwant\n%s", k != "", h.summary(), want)
		}
		// all records of a direction coalesced into as few calls as the order allows
		var merged []event
		for _, e := range evs {
			if n := len(merged); n > 0 && merged[n-1].d == e.d {
				merged[n-1].b = append(append([]byte(nil), merged[n-1].b...), e.b...)
				continue
			}
			merged = append(merged, e)
		}
		if h, _ := run(merged, kl); len(h.recs) != len(ref.recs) || !bytes.Equal(h.plain[0], ref.plain[0]) {
			t.Errorf("keys=%v: coalesced: %d records, want %d", k != "", len(h.recs), len(ref.recs))
		}
	}
}

// A key log with the application traffic secrets only: the handshake records
// stay judged, the application data is decrypted, nothing counts as failed.
func TestRFC8448TrafficSecretsOnly(t *testing.T) {
	evs, keys := rfc8448Events(t)
	var only []string
	for _, l := range strings.Split(keys, "\n") {
		if strings.Contains(l, "TRAFFIC_SECRET_0") {
			only = append(only, l)
		}
	}
	h, in := run(evs, mustKeyLog(t, strings.Join(only, "\n")))
	if !in.Decrypted || in.AuthFailures != [2]int{} || len(in.Warnings) > 0 || len(h.plain[0]) != 50 || len(h.plain[1]) != 50 {
		t.Errorf("decrypted %v failures %v warnings %q plaintext %d/%d", in.Decrypted, in.AuthFailures, in.Warnings, len(h.plain[0]), len(h.plain[1]))
	}
	if r := h.recs[2].r; r.Decrypted || r.Sure || r.Inner != TypeHandshake {
		t.Errorf("server flight: %+v, want judged handshake", r)
	}
}
