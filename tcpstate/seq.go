package tcpstate

// Seq is a TCP sequence number. Comparisons are wrap-safe (RFC 9293 §3.4):
// a is before b when the signed 32-bit difference a−b is negative.
type Seq uint32

// Add returns s advanced by n.
func (s Seq) Add(n int) Seq { return s + Seq(uint32(n)) }

// Diff returns s − o as a signed distance.
func (s Seq) Diff(o Seq) int64 { return int64(int32(uint32(s) - uint32(o))) }

// Before reports s < o in sequence space.
func (s Seq) Before(o Seq) bool { return int32(uint32(s)-uint32(o)) < 0 }

// AtOrBefore reports s <= o in sequence space.
func (s Seq) AtOrBefore(o Seq) bool { return int32(uint32(s)-uint32(o)) <= 0 }

// After reports s > o in sequence space.
func (s Seq) After(o Seq) bool { return o.Before(s) }
