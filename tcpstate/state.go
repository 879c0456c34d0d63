package tcpstate

// State is one side's TCP state, inferred from what that side sent and
// what it acknowledged, with RFC 9293 names.
type State uint8

// The RFC 9293 states httplife can infer. LISTEN is not observable on the
// wire; a side that has sent nothing yet is Closed.
const (
	Closed State = iota
	SynSent
	SynReceived
	Established
	FinWait1
	FinWait2
	CloseWait
	Closing
	LastAck
	TimeWait
)

var stateNames = [...]string{
	Closed: "CLOSED", SynSent: "SYN_SENT", SynReceived: "SYN_RECEIVED", Established: "ESTABLISHED",
	FinWait1: "FIN_WAIT_1", FinWait2: "FIN_WAIT_2", CloseWait: "CLOSE_WAIT", Closing: "CLOSING",
	LastAck: "LAST_ACK", TimeWait: "TIME_WAIT",
}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// ParseState returns the State whose String is s.
func ParseState(s string) (State, bool) {
	for i, name := range stateNames {
		if name == s {
			return State(i), true
		}
	}
	return Closed, false
}

// connected reports whether the side can still send data.
func (s State) connected() bool { return s == Established || s == CloseWait }

// closing reports whether the side has sent its FIN.
func (s State) closing() bool {
	switch s {
	case FinWait1, FinWait2, Closing, LastAck, TimeWait:
		return true
	}
	return false
}

// Event is something one side did, seen from that side.
type Event uint8

// Events that drive a side's state.
const (
	EvSendSYN       Event = iota // sent a SYN without ACK
	EvSendSYNACK                 // sent a SYN with ACK
	EvAckPeerSYN                 // acknowledged the peer's SYN
	EvPeerAckedSYN               // the peer acknowledged our SYN
	EvSendFIN                    // sent a FIN
	EvAckPeerFIN                 // acknowledged the peer's FIN
	EvPeerAckedFIN               // the peer acknowledged our FIN
	EvRST                        // sent or received a RST
	EvMidstream                  // first seen without a handshake
	EvTimeWaitEnded              // 2MSL passed in capture time
)

var eventNames = [...]string{
	EvSendSYN: "send SYN", EvSendSYNACK: "send SYN-ACK", EvAckPeerSYN: "ACK peer's SYN",
	EvPeerAckedSYN: "peer ACKed our SYN", EvSendFIN: "send FIN", EvAckPeerFIN: "ACK peer's FIN",
	EvPeerAckedFIN: "peer ACKed our FIN", EvRST: "RST", EvMidstream: "seen mid-stream",
	EvTimeWaitEnded: "2MSL expired",
}

func (e Event) String() string {
	if int(e) < len(eventNames) {
		return eventNames[e]
	}
	return "unknown event"
}

// Transition returns the state after event e in state s, and the reason for
// the edge. When e does not apply in s the state is unchanged and the reason
// is empty.
func Transition(s State, e Event) (State, string) {
	switch {
	case e == EvRST:
		if s == Closed {
			return s, ""
		}
		return Closed, "RST aborts the connection"
	case e == EvMidstream && s == Closed:
		return Established, "data without a captured handshake"
	case e == EvSendSYN && s == Closed:
		return SynSent, "active open"
	case e == EvSendSYNACK && (s == Closed || s == SynSent):
		return SynReceived, "passive open: SYN answered"
	case e == EvAckPeerSYN && s == SynSent:
		return Established, "handshake completed by our ACK"
	case e == EvPeerAckedSYN && s == SynReceived:
		return Established, "our SYN-ACK was acknowledged"
	case e == EvSendFIN && (s == Established || s == SynReceived):
		return FinWait1, "active close: first FIN"
	case e == EvSendFIN && s == CloseWait:
		return LastAck, "passive close: FIN after the peer's"
	case e == EvSendFIN && s == SynSent:
		return Closed, "FIN before the handshake completed"
	case e == EvAckPeerFIN && (s == Established || s == SynReceived):
		return CloseWait, "peer's FIN received first"
	case e == EvAckPeerFIN && s == FinWait1:
		return Closing, "simultaneous close"
	case e == EvAckPeerFIN && s == FinWait2:
		return TimeWait, "active closer ACKed the peer's FIN"
	case e == EvPeerAckedFIN && s == FinWait1:
		return FinWait2, "our FIN was acknowledged"
	case e == EvPeerAckedFIN && s == Closing:
		return TimeWait, "simultaneous close completed"
	case e == EvPeerAckedFIN && s == LastAck:
		return Closed, "passive close completed"
	case e == EvTimeWaitEnded && s == TimeWait:
		return Closed, "2MSL passed"
	}
	return s, ""
}
