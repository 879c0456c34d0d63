package summary

import (
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/httplife/httplife/httpflow"
)

func TestRadixSort(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, n := range []int{0, 1, 5, 511, 512, 513, 10000} {
		for _, bits := range []uint{8, 20, 40, 63} {
			v := make([]uint64, n)
			for i := range v {
				v[i] = r.Uint64() >> (64 - bits)
			}
			want := slices.Clone(v)
			slices.Sort(want)
			radixSort(v, nil)
			if !slices.Equal(v, want) {
				t.Errorf("radixSort of %d %d-bit values is not sorted", n, bits)
			}
		}
	}
}

func TestPeaks(t *testing.T) {
	var p peaks
	p.reset(0)
	// [0,10) [5,15) [10,20) [10,11): at 10 the first ends as two start.
	for _, iv := range [][2]int64{{0, 10}, {5, 15}, {10, 20}, {10, 11}, {30, 30}} {
		p.add(iv[0], iv[1])
	}
	if got := p.peak(); got != 3 {
		t.Errorf("peak %d, want 3", got)
	}
}

// One client host sends a request every 3 s for a minute, each answered
// in 10 ms: against a 2 s timeout every request opens a connection (the
// server closes each one idle); against 5 s one connection serves them
// all; at exactly 3 s the requests race.
func TestReplayOneClient(t *testing.T) {
	var arr []*arrival
	base := int64(1e9)
	for i := 0; i < 20; i++ {
		s := base + int64(i)*int64(3*time.Second)
		arr = append(arr, &arrival{start: s, end: s + int64(10*time.Millisecond), conn: int32(i + 1)})
	}
	from, to := base, base+int64(60*time.Second)
	reqs, byEnd, nConns, nClients := replayReqs(arr, from)
	var ps [2]peaks
	for _, tc := range []struct {
		T                        time.Duration
		conns, reused, races, tw int
	}{
		{2 * time.Second, 20, 0, 0, 20},
		{5 * time.Second, 1, 19, 0, 0}, // its close at 62 s is after the capture
		{2990 * time.Millisecond, 1 + 19, 0, 19, 20},
	} {
		w, _ := replay(reqs, byEnd, nConns, nClients, tc.T, 0, 60*time.Second, time.Millisecond, 100*time.Microsecond, from, to, &ps[0], &ps[1])
		if w.Connections != tc.conns || w.Reused != tc.reused || w.Races != tc.races || w.TimeWaitPeak != tc.tw {
			t.Errorf("T=%s: connections %d reused %d races %d TIME_WAIT peak %d, want %d %d %d %d",
				tc.T, w.Connections, w.Reused, w.Races, w.TimeWaitPeak, tc.conns, tc.reused, tc.races, tc.tw)
		}
		if w.IdlePeak != 1 {
			t.Errorf("T=%s: idle peak %d, want 1", tc.T, w.IdlePeak)
		}
	}
}

// markRetries folds a lost request and its retry into one.
func TestMarkRetries(t *testing.T) {
	s := int64(1e9)
	lost := &arrival{start: s, end: s + 1e5, methodURI: 7, flags: arrivalLost}
	retry := &arrival{start: s + 2e5, end: s + 5e6, methodURI: 7}
	other := &arrival{start: s + 3e5, end: s + 4e5, methodURI: 8}
	late := &arrival{start: s + 3e9, end: s + 3e9 + 1, methodURI: 7}
	markRetries([]*arrival{lost, retry, other, late})
	if retry.flags&arrivalRetry == 0 || other.flags&arrivalRetry != 0 || late.flags&arrivalRetry != 0 || lost.rend != retry.end {
		t.Errorf("retry %b other %b late %b lost.rend %d", retry.flags, other.flags, late.flags, lost.rend)
	}
}

// A replay that says it is saturated stands for every longer timeout:
// random servers (bursts of requests from a few clients, gaps from 1 ms to
// minutes, some connections closing after a request, a client idle
// timeout or none), each replayed against a ladder of timeouts; after the
// first saturated one, each longer replay must equal it but for Timeout.
// Both outcomes must occur, or the test proves nothing.
func TestReplaySaturated(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	ladder := []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second, 2 * time.Second,
		5 * time.Second, 10 * time.Second, 30 * time.Second, 60 * time.Second, 120 * time.Second, time.Hour}
	var sawSat, sawUnsat int
	for trial := 0; trial < 300; trial++ {
		var arr []*arrival
		base := int64(1e9)
		at := base
		maxGap := []time.Duration{5 * time.Millisecond, time.Second, 40 * time.Second, 3 * time.Minute}[trial%4]
		nClients := 1 + rng.Intn(3)
		for i := 0; i < 5+rng.Intn(60); i++ {
			at += rng.Int63n(int64(maxGap)) + 1
			a := &arrival{start: at, end: at + rng.Int63n(int64(20*time.Millisecond)) + 1,
				conn: int32(1 + rng.Intn(8)), client: uint32(rng.Intn(nClients))}
			if rng.Intn(10) == 0 {
				a.flags |= arrivalCloses
				a.closer = []httpflow.Side{httpflow.Client, httpflow.Server}[rng.Intn(2)]
			}
			arr = append(arr, a)
		}
		from, to := base, at+rng.Int63n(int64(maxGap))+int64(25*time.Millisecond)
		var clientT time.Duration
		if trial%3 == 0 {
			clientT = time.Duration(rng.Int63n(int64(20 * time.Second)))
		}
		reqs, byEnd, nConns, nc := replayReqs(arr, from)
		var ps [2]peaks
		var first *WhatIf
		for _, T := range ladder {
			w, saturated := replay(reqs, byEnd, nConns, nc, T, clientT, 60*time.Second, time.Millisecond, 100*time.Microsecond, from, to, &ps[0], &ps[1])
			if first != nil {
				want := *first
				want.Timeout = T
				if w != want {
					t.Fatalf("trial %d: T=%s after saturated T=%s: got %+v, want %+v", trial, T, first.Timeout, w, want)
				}
				continue
			}
			if saturated {
				sawSat++
				first = &w
			} else {
				sawUnsat++
			}
		}
	}
	if sawSat == 0 || sawUnsat == 0 {
		t.Fatalf("saturated %d, not saturated %d replays: the trials do not cover both", sawSat, sawUnsat)
	}
}
