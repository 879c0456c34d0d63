package tcpstate

import "testing"

func TestTransition(t *testing.T) {
	tests := []struct {
		from State
		ev   Event
		want State
	}{
		{Closed, EvSendSYN, SynSent},
		{Closed, EvSendSYNACK, SynReceived},
		{SynSent, EvSendSYNACK, SynReceived},
		{SynSent, EvAckPeerSYN, Established},
		{SynReceived, EvPeerAckedSYN, Established},
		{Closed, EvMidstream, Established},
		{Established, EvSendFIN, FinWait1},
		{Established, EvAckPeerFIN, CloseWait},
		{CloseWait, EvSendFIN, LastAck},
		{LastAck, EvPeerAckedFIN, Closed},
		{FinWait1, EvPeerAckedFIN, FinWait2},
		{FinWait2, EvAckPeerFIN, TimeWait},
		{FinWait1, EvAckPeerFIN, Closing},
		{Closing, EvPeerAckedFIN, TimeWait},
		{TimeWait, EvTimeWaitEnded, Closed},
		{Established, EvRST, Closed},
		{FinWait2, EvRST, Closed},
		// Events that do not apply leave the state alone.
		{Established, EvSendSYN, Established},
		{Established, EvPeerAckedFIN, Established},
		{TimeWait, EvSendFIN, TimeWait},
		{Closed, EvRST, Closed},
		{Established, EvMidstream, Established},
	}
	for _, tc := range tests {
		got, why := Transition(tc.from, tc.ev)
		if got != tc.want {
			t.Errorf("Transition(%v, %v) = %v, want %v", tc.from, tc.ev, got, tc.want)
		}
		if (got != tc.from) != (why != "") {
			t.Errorf("Transition(%v, %v): reason %q does not match a change to %v", tc.from, tc.ev, why, got)
		}
	}
}

func TestStateNames(t *testing.T) {
	want := map[State]string{Closed: "CLOSED", SynSent: "SYN_SENT", SynReceived: "SYN_RECEIVED", Established: "ESTABLISHED",
		FinWait1: "FIN_WAIT_1", FinWait2: "FIN_WAIT_2", CloseWait: "CLOSE_WAIT", Closing: "CLOSING", LastAck: "LAST_ACK", TimeWait: "TIME_WAIT"}
	for s, name := range want {
		if s.String() != name {
			t.Errorf("State(%d).String() = %q, want %q", s, s.String(), name)
		}
	}
}

func TestSeqWraps(t *testing.T) {
	tests := []struct {
		a, b   Seq
		before bool
	}{
		{1, 2, true},
		{2, 1, false},
		{0xfffffff0, 0x10, true}, // across the wrap
		{0x10, 0xfffffff0, false},
		{5, 5, false},
	}
	for _, tc := range tests {
		if got := tc.a.Before(tc.b); got != tc.before {
			t.Errorf("Seq(%#x).Before(%#x) = %v, want %v", tc.a, tc.b, got, tc.before)
		}
	}
	if d := Seq(0x10).Diff(0xfffffff0); d != 0x20 {
		t.Errorf("Seq(0x10).Diff(0xfffffff0) = %d, want 32", d)
	}
	if s := Seq(0xffffffff).Add(2); s != 1 {
		t.Errorf("Seq(0xffffffff).Add(2) = %d, want 1", s)
	}
}
