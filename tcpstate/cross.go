package tcpstate

import (
	"github.com/httplife/httplife/capture"
)

// Copies over two carriers. `tcpdump -i any` on an overlay node (flannel,
// Calico or Cilium in VXLAN mode, a hypervisor's Geneve) sees each packet
// of a pod's connection twice: bare on the pod's veth or the vxlan device,
// and inside the tunnel on the underlay. The bare copy's key has no carrier
// id, the tunnelled one's has the VNI, so they would be two connections,
// each packet counted once in each. A segment whose key matches no
// connection while the same endpoints have one under the other kind of key
// (bare against tunnelled; Table.crossOf) joins it under its own key as
// the connection's alias (Table.alias) when it is a copy of a segment of
// that connection or continues its sequence space. Two tunnels with ids
// (two VNIs) are never joined this way: that is the same private 4-tuple
// in two tenants.
//
// The two copies may be cut differently: the bare copy on a device with
// segmentation offload is one large segment that the underlay carries as
// several (or the receiver's GRO joins the underlay's segments into one).
// Those pieces are not copies by identity (dupRing); a data segment that
// brings nothing new against what the other kind of copy showed of its
// side within dupWindowID, while it is new among its own kind, is one
// (Conn.crossCopy). A retransmission is old among its own kind too and
// stays a retransmission. The kinds are bare and carried (VLAN tags or
// tunnels, Segment.Carrier), whatever the key: an IP-in-IP tunnel or a
// GRE one without a key has no carrier id, so its copies share the bare
// copies' connection from the start. A connection keeps the two apart
// from the first segment of the kind its first segment was not
// (Conn.startCross).

// crossPaths is what the two kinds of copy of a connection have shown of
// each side: [side][kind], kind 0 that of the connection's first segment.
type crossPaths struct {
	seen [2][2]pathEnd
}

// pathEnd is one past the highest sequence number a carrier showed of a
// side, and the capture time (Unix ns) it last advanced.
type pathEnd struct {
	end Seq
	at  int64
	ok  bool
}

// crossOf returns the connection that seg, whose key k matched none,
// is a copy or continuation of under the other kind of key: the bare
// connection of a tunnelled segment, the tunnelled one of a bare segment;
// nil when none. It joins k to the connection as its alias.
func (t *Table) crossOf(k key, seg *capture.Segment, ns int64) *Conn {
	var c *Conn
	switch {
	case k.ck != 0:
		c = t.conns[k.tuple()]
	case len(t.tunneled) > 0:
		c = t.tunneled[k]
	}
	if c == nil || c.reported || c.hasAlias || !c.continuedBy(seg, ns) {
		return nil
	}
	if c.inOneWay {
		delete(t.oneWay, c.key.tuple())
		c.inOneWay = false
	}
	c.hasAlias = true
	t.alias[c] = k
	t.conns[k] = c
	return c
}

// continuedBy reports whether seg belongs to c: a copy of one of its
// recent segments, an acknowledgement of what the peer sent, or a segment
// within 1 MiB of what its own side sent.
func (c *Conn) continuedBy(seg *capture.Segment, ns int64) bool {
	i := c.sideOf(seg)
	if seg.IPID != 0 || seg.TCPSum != 0 {
		if _, ok := c.dups[i].match(fingerprint(seg), uint32(ns/1000), seg.IPID != 0); ok {
			return true
		}
	}
	if seg.Has(capture.ACK) && c.acksSent(seg.Dst, seg) {
		return true
	}
	h := &c.Sides[i].h
	d := Seq(seg.Seq).Diff(h.procEnd)
	return h.procValid && d > -(1<<20) && d < 1<<20
}

// startCross starts keeping the kinds of copy apart, when a segment of the
// kind c's first segment was not arrives: what c processed so far is the
// first kind's.
func (c *Conn) startCross() {
	x := new(crossPaths)
	for i := range c.Sides {
		if h := &c.Sides[i].h; h.procValid {
			x.seen[i][0] = pathEnd{end: h.procEnd, at: c.lastNs, ok: true}
		}
	}
	c.cross = x
}

// crossCopy reports whether seg, a segment of a joined connection that is
// not a copy by identity, is a copy cut differently (above): its data
// already shown by the other carrier within dupWindowID and new on its
// own. A copy is counted and changes nothing else.
func (c *Conn) crossCopy(t *Table, seg *capture.Segment, ns int64) bool {
	own, other, end, ok := c.cross.sides(c, seg)
	if !ok {
		return false
	}
	if own.ok && !own.end.Before(end) {
		return false // old on its own carrier: a retransmission
	}
	own.end, own.at, own.ok = end, ns, true
	if other.ok && end.AtOrBefore(other.end) && ns-other.at <= int64(dupWindowID) {
		t.stats.Duplicates++
		return true
	}
	return false
}

// shown notes seg, a copy by identity, as shown by its carrier.
func (x *crossPaths) shown(c *Conn, seg *capture.Segment, ns int64) {
	if own, _, end, ok := x.sides(c, seg); ok && (!own.ok || own.end.Before(end)) {
		own.end, own.at, own.ok = end, ns, true
	}
}

// sides returns what seg's carrier (own) and the other carrier showed of
// seg's side, and one past seg's last sequence number; ok=false for a
// segment that takes no sequence space.
func (x *crossPaths) sides(c *Conn, seg *capture.Segment) (own, other *pathEnd, end Seq, ok bool) {
	n := seg.PayloadLen + b2i(seg.Has(capture.SYN)) + b2i(seg.Has(capture.FIN))
	if n == 0 {
		return nil, nil, 0, false
	}
	p := 0
	if (seg.Carrier != nil) != c.carried {
		p = 1
	}
	side := &x.seen[c.sideOf(seg)]
	return &side[p], &side[1-p], Seq(seg.Seq).Add(n), true
}
