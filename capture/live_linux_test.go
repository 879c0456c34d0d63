//go:build linux

package capture

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root")
	}
}

// loopbackTraffic opens a listener on 127.0.0.1, connects to it, sends
// "ping" and gets "pong" back, then both sides close. It returns the port.
func loopbackTraffic(t *testing.T, start func(port int) LiveSource) (LiveSource, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	src := start(port)
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			done <- err
			return
		}
		_, err = c.Write([]byte("pong"))
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	io.ReadFull(c, buf)
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return src, port
}

// collect reads segments until quiet for 300 ms.
func collect(t *testing.T, src LiveSource) []string {
	t.Helper()
	var got []string
	for {
		seg, err := src.NextTimeout(300 * time.Millisecond)
		if errors.Is(err, ErrTimeout) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s>%s flags=%02x seq=%d len=%d %q", seg.Src, seg.Dst, seg.Flags, seg.Seq, seg.PayloadLen, seg.Payload))
	}
}

func checkOnce(t *testing.T, segs []string) {
	t.Helper()
	seen := map[string]int{}
	syn, ping, pong := 0, 0, 0
	for _, s := range segs {
		seen[s]++
		if strings.Contains(s, "flags=02 ") {
			syn++
		}
		if strings.Contains(s, `"ping"`) {
			ping++
		}
		if strings.Contains(s, `"pong"`) {
			pong++
		}
	}
	for s, n := range seen {
		if n > 1 {
			t.Errorf("segment seen %d times: %s", n, s)
		}
	}
	if syn != 1 || ping != 1 || pong != 1 {
		t.Errorf("SYN %d, ping %d, pong %d times, want once each; segments:\n%s", syn, ping, pong, strings.Join(segs, "\n"))
	}
	if len(segs) < 8 { // SYN, SYN-ACK, ACK, ping, ACK, pong, ACK, FIN, ...
		t.Errorf("%d segments, want at least 8:\n%s", len(segs), strings.Join(segs, "\n"))
	}
}

func TestLiveLoopbackKeepsOneCopy(t *testing.T) {
	needRoot(t)
	for _, iface := range []string{"lo", "any"} {
		t.Run(iface, func(t *testing.T) {
			var raw int
			var src LiveSource
			src, _ = loopbackTraffic(t, func(port int) LiveSource {
				s, err := OpenLive(LiveConfig{Interface: iface, Filter: fmt.Sprintf("tcp port %d", port), Buffer: 1 << 20,
					Packet: func(ts time.Time, data []byte, wireLen int) { raw++ }})
				if err != nil {
					t.Fatal(err)
				}
				return s
			})
			defer src.Close()
			segs := collect(t, src)
			checkOnce(t, segs)
			st := src.Stats()
			want := "EN10MB"
			if iface == "any" {
				want = "LINUX_SLL"
			}
			if st.Format != "live" || st.Source != iface || len(st.LinkTypes) != 1 || st.LinkTypes[0] != want {
				t.Errorf("stats: format %q source %q link types %v, want live %s [%s]", st.Format, st.Source, st.LinkTypes, iface, want)
			}
			if st.Packets != uint64(raw) || st.TCPPackets != uint64(len(segs)) || st.Dropped != 0 {
				t.Errorf("stats: %d packets (%d raw), %d TCP (%d segments), %d dropped", st.Packets, raw, st.TCPPackets, len(segs), st.Dropped)
			}
			ls := src.LiveStats()
			if ls.Captured != uint64(raw) || ls.Received < ls.Captured || ls.Dropped != 0 {
				t.Errorf("live stats %+v, %d packets seen", ls, raw)
			}
		})
	}
}

func TestLiveStopAndMaxPackets(t *testing.T) {
	needRoot(t)
	src, _ := loopbackTraffic(t, func(port int) LiveSource {
		s, err := OpenLive(LiveConfig{Interface: "lo", Filter: fmt.Sprintf("tcp port %d", port), MaxPackets: 3})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	defer src.Close()
	n := 0
	for {
		_, err := src.NextTimeout(time.Second)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d segments: %v", n, err)
		}
		n++
	}
	if n != 3 || src.Stats().Packets != 3 {
		t.Errorf("MaxPackets 3: %d segments, %d packets", n, src.Stats().Packets)
	}

	// Stop from another goroutine wakes a blocked Next.
	s2, err := OpenLive(LiveConfig{Interface: "lo", Filter: "tcp port 1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	go func() { time.Sleep(100 * time.Millisecond); s2.Stop() }()
	start := time.Now()
	if _, err := s2.Next(); err != io.EOF {
		t.Errorf("Next after Stop: %v, want io.EOF", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if _, err := s2.NextTimeout(0); err != io.EOF {
		t.Errorf("NextTimeout after the end: %v, want io.EOF", err)
	}
}

func TestLiveOpenErrors(t *testing.T) {
	_, err := OpenLive(LiveConfig{Interface: "lo", Filter: "gateway foo"})
	var le *LiveError
	if !errors.Is(err, ErrFilter) || !errors.As(err, &le) || !strings.Contains(err.Error(), "gateway") {
		t.Errorf("filter gateway foo: %v, want ErrFilter naming gateway", err)
	}
	_, err = OpenLive(LiveConfig{Interface: "nosuchif0", Filter: "tcp"})
	if !errors.Is(err, ErrNoInterface) || !strings.Contains(err.Error(), "nosuchif0") {
		t.Errorf("missing interface: %v, want ErrNoInterface", err)
	}
	if os.Geteuid() != 0 {
		_, err = OpenLive(LiveConfig{Interface: "lo"})
		if !errors.Is(err, ErrPermission) || err.Error() != "" && !strings.Contains(err.Error(), "capturing on lo needs root or CAP_NET_RAW") {
			t.Errorf("without root: %v, want ErrPermission", err)
		}
	}
	err = permissionErr("lo", errors.New("socket: operation not permitted"))
	if !errors.Is(err, ErrPermission) || err.Error() != "capturing on lo needs root or CAP_NET_RAW (socket: operation not permitted)" {
		t.Errorf("permission error: %v", err)
	}
}
