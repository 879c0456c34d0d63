package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// The parser follows libpcap's yacc grammar (grammar.y), generating code as
// each primitive is recognised, in textual order, as libpcap does (this
// order is observable through "vlan", which moves the offsets of everything
// after it).
//
//	expr  := term { (and|or) (term | id) }      and/or: same precedence, left to right
//	term  := not term | rterm
//	rterm := head id | '(' expr ')' | pname | arth relop arth | other
//	head  := [pname] [dir] [host|net|port|portrange] | [pname] proto
//	id    := not id | '(' id { (and|or) id } ')' | address | number | name
//
// A bare id after and/or repeats the qualifiers of the primitive before it
// ("host a or b", "port 80 or 8080").

func (c *compiler) peek() token { return c.toks[c.pos] }

func (c *compiler) peekN(n int) token {
	if c.pos+n < len(c.toks) {
		return c.toks[c.pos+n]
	}
	return c.toks[len(c.toks)-1]
}

func (c *compiler) next() token {
	t := c.toks[c.pos]
	if t.kind != tEOF {
		c.pos++
	}
	return t
}

func (c *compiler) expect(k tokKind, what string) error {
	if t := c.next(); t.kind != k {
		return fmt.Errorf("syntax error: expected %s, got %v", what, t)
	}
	return nil
}

func (c *compiler) parse(expr string) (*bnode, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	c.toks, c.pos = toks, 0
	if c.peek().kind == tEOF {
		return nTrue, nil
	}
	for _, t := range toks {
		// libpcap does not optimise programs with Geneve; the constant
		// folding that depends on the optimiser must know it from the
		// start.
		if t.kind == tKey && t.text == "geneve" {
			c.noOptimize = true
		}
		if t.kind == tKey && t.text == "vlan" && c.mode == modeLive && c.vlanReserved == nil {
			c.vlanReserved = []int{c.allocReg(), c.allocReg()}
		}
	}
	n, _, err := c.parseExpr(qerr)
	if err != nil {
		return nil, err
	}
	if t := c.peek(); t.kind != tEOF {
		return nil, fmt.Errorf("syntax error: unexpected %v", t)
	}
	return n, nil
}

func isAndOr(t token) bool { return t.kind == tAnd || t.kind == tOr }

func combine(op token, a, b *bnode) *bnode {
	if op.kind == tAnd {
		return and(a, b)
	}
	return or(a, b)
}

func (c *compiler) parseExpr(ctx qual) (*bnode, qual, error) {
	n, q, err := c.parseTerm(ctx)
	if err != nil {
		return nil, q, err
	}
	for isAndOr(c.peek()) {
		op := c.next()
		var m *bnode
		if c.startsID() {
			m, q, err = c.parseID(q)
		} else {
			m, q, err = c.parseTerm(q)
		}
		if err != nil {
			return nil, q, err
		}
		n = combine(op, n, m)
	}
	return n, q, nil
}

// startsID reports whether the tokens after an and/or form a bare id
// (inheriting the previous qualifiers) rather than a term.
func (c *compiler) startsID() bool {
	i := 0
	for {
		t := c.peekN(i)
		switch t.kind {
		case tNot, tLParen:
			i++
			continue
		case tHID, tHID6, tEID:
			return true
		case tID:
			return !unsupportedKeywords[t.text]
		case tNum:
			switch c.peekN(i + 1).kind {
			case tOp, tRel:
				return false
			}
			return true
		}
		return false
	}
}

// maxDepth bounds the nesting of parentheses and negations.
const maxDepth = 500

func (c *compiler) enter() error {
	c.depth++
	if c.depth > maxDepth {
		return semErr("expression nested too deeply")
	}
	return nil
}

func (c *compiler) parseTerm(ctx qual) (*bnode, qual, error) {
	if err := c.enter(); err != nil {
		return nil, qerr, err
	}
	defer func() { c.depth-- }()
	if c.peek().kind == tNot {
		c.next()
		n, q, err := c.parseTerm(ctx)
		if err != nil {
			return nil, q, err
		}
		return not(n), q, nil
	}
	return c.parseRterm(ctx)
}

func isDirKeyword(t token) bool { return t.kind == tKey && (t.text == "src" || t.text == "dst") }

func isAddrKeyword(t token) bool {
	return t.kind == tKey && (t.text == "host" || t.text == "net" || t.text == "port" || t.text == "portrange" || t.text == "proto")
}

func (c *compiler) parseRterm(ctx qual) (*bnode, qual, error) {
	t := c.peek()
	switch t.kind {
	case tLParen:
		// Either a parenthesised arithmetic expression starting a
		// comparison, "(tcp[0] & 1) = 1", or a parenthesised expression.
		save := c.pos
		n, err := c.parseRelation()
		if err == nil {
			return n, qerr, nil
		}
		var se *semanticError
		if errors.As(err, &se) {
			return nil, qerr, err
		}
		c.pos = save
		c.next()
		n, _, err = c.parseExpr(ctx)
		if err != nil {
			return nil, qerr, err
		}
		if err := c.expect(tRParen, "')'"); err != nil {
			return nil, qerr, err
		}
		return n, ctx, nil
	case tNum:
		n, err := c.parseRelation()
		return n, qerr, err
	case tOp:
		if t.text == "-" {
			n, err := c.parseRelation()
			return n, qerr, err
		}
	case tKey:
		if p, ok := protoKeywords[t.text]; ok {
			nt := c.peekN(1)
			switch {
			case nt.kind == tLBrack:
				n, err := c.parseRelation()
				return n, qerr, err
			case isDirKeyword(nt) || isAddrKeyword(nt):
				return c.parseHead()
			case nt.kind == tKey && nt.text == "broadcast":
				c.pos += 2
				n, err := c.broadcast(p)
				return n, qerr, err
			case nt.kind == tKey && nt.text == "multicast":
				c.pos += 2
				n, err := c.multicast(p)
				return n, qerr, err
			case nt.kind == tID && unsupportedKeywords[nt.text]:
				return nil, qerr, fmt.Errorf("unsupported filter primitive %q", t.text+" "+nt.text)
			}
			c.next()
			n, err := c.protoAbbrev(p)
			return n, qerr, err
		}
		switch t.text {
		case "src", "dst", "host", "net", "port", "portrange", "proto":
			return c.parseHead()
		case "len":
			n, err := c.parseRelation()
			return n, qerr, err
		case "broadcast":
			c.next()
			n, err := c.broadcast(pDefault)
			return n, qerr, err
		case "multicast":
			c.next()
			n, err := c.multicast(pDefault)
			return n, qerr, err
		case "vlan", "mpls", "pppoes", "geneve":
			c.next()
			v, has, err := c.parsePnum()
			if err != nil {
				return nil, qerr, err
			}
			switch t.text {
			case "vlan":
				return c.vlan(v, has), qerr, nil
			case "mpls":
				return c.mpls(v, has), qerr, nil
			case "pppoes":
				return c.pppoes(v, has), qerr, nil
			}
			return c.geneve(v, has), qerr, nil
		case "pppoed":
			c.next()
			return c.pppoed(), qerr, nil
		case "less", "greater":
			c.next()
			nt := c.next()
			if nt.kind != tNum {
				return nil, qerr, fmt.Errorf("syntax error: %s needs a number, got %v", t.text, nt)
			}
			return c.lenTest(t.text == "less", nt.num), qerr, nil
		case "byte":
			// byte NUM op NUM, op one of = < > & |.
			c.next()
			idx, op, val := c.next(), c.next(), c.next()
			opText := op.text
			if opText == "==" {
				opText = "="
			}
			if idx.kind != tNum || val.kind != tNum || !(op.kind == tRel || op.kind == tOp) ||
				!strings.Contains("=<>&|", opText) || len(opText) != 1 {
				return nil, qerr, errors.New("syntax error: byte needs an offset, an operator (= < > & |) and a value")
			}
			return c.byteOp(opText, idx.num, val.num), qerr, nil
		case "ifindex":
			c.next()
			nt := c.next()
			if nt.kind != tNum {
				return nil, qerr, fmt.Errorf("syntax error: ifindex needs a number, got %v", nt)
			}
			n, err := c.ifindex(nt.num)
			return n, qerr, err
		case "inbound", "outbound":
			c.next()
			n, err := c.inbound(t.text == "inbound")
			return n, qerr, err
		}
	case tID:
		if unsupportedKeywords[t.text] {
			return nil, qerr, fmt.Errorf("unsupported filter primitive %q", t.text)
		}
		return nil, qerr, fmt.Errorf("syntax error: unknown filter primitive %q (a name or address needs a qualifier such as \"host\" or \"port\")", t.text)
	case tHID, tHID6, tEID:
		return nil, qerr, fmt.Errorf("syntax error: address %s needs a qualifier such as \"host\" or \"net\"", t.text)
	case tEOF:
		return nil, qerr, errors.New("syntax error: unexpected end of expression")
	}
	return nil, qerr, fmt.Errorf("syntax error: unexpected %v", t)
}

// parsePnum parses the optional number after vlan, mpls, pppoes and
// geneve: a number, possibly in parentheses.
func (c *compiler) parsePnum() (uint32, bool, error) {
	i := 0
	for c.peekN(i).kind == tLParen {
		i++
	}
	if c.peekN(i).kind != tNum {
		if i > 0 {
			return 0, false, fmt.Errorf("syntax error: expected a number after %v", c.peekN(i-1))
		}
		return 0, false, nil
	}
	for j := 1; j <= i; j++ {
		if c.peekN(i+j).kind != tRParen {
			return 0, false, errors.New("syntax error: expected ')'")
		}
	}
	v := c.peekN(i).num
	c.pos += 2*i + 1
	return v, true, nil
}

// parseRelation parses "arth relop arth".
func (c *compiler) parseRelation() (*bnode, error) {
	l, err := c.parseArth(0)
	if err != nil {
		return nil, err
	}
	op := c.next()
	if op.kind != tRel {
		return nil, fmt.Errorf("syntax error: expected a comparison operator, got %v", op)
	}
	r, err := c.parseArth(0)
	if err != nil {
		return nil, err
	}
	return c.relation(op.text, l, r)
}

// parseHead parses qualifiers and the id they apply to.
func (c *compiler) parseHead() (*bnode, qual, error) {
	q := qual{}
	if p, ok := protoKeywords[c.peek().text]; ok && c.peek().kind == tKey {
		q.proto = p
		c.next()
	}
	if t := c.peek(); isDirKeyword(t) {
		c.next()
		q.dir = dSrc
		if t.text == "dst" {
			q.dir = dDst
		}
		// "src or dst", "dst and src", ...
		if nt, nnt := c.peek(), c.peekN(1); isAndOr(nt) && isDirKeyword(nnt) && nnt.text != t.text {
			c.next()
			c.next()
			q.dir = dOr
			if nt.kind == tAnd {
				q.dir = dAnd
			}
		}
	}
	t := c.peek()
	switch {
	case t.kind == tKey && t.text == "proto":
		if q.dir != dDefault {
			return nil, q, errors.New("syntax error: a direction cannot qualify 'proto'")
		}
		q.addr = aProto
		c.next()
	case isAddrKeyword(t):
		q.addr = map[string]addrType{"host": aHost, "net": aNet, "port": aPort, "portrange": aPortrange}[t.text]
		c.next()
	case t.kind == tID && unsupportedKeywords[t.text]:
		return nil, q, fmt.Errorf("unsupported filter primitive %q", t.text)
	}
	n, q, err := c.parseID(q)
	return n, q, err
}

// parseID parses an id (an address, number or name, possibly negated or a
// parenthesised and/or list of ids) with qualifiers q.
func (c *compiler) parseID(q qual) (*bnode, qual, error) {
	if err := c.enter(); err != nil {
		return nil, q, err
	}
	defer func() { c.depth-- }()
	switch c.peek().kind {
	case tNot:
		c.next()
		n, q, err := c.parseID(q)
		if err != nil {
			return nil, q, err
		}
		return not(n), q, nil
	case tLParen:
		c.next()
		n, q, err := c.parseID(q)
		if err != nil {
			return nil, q, err
		}
		for isAndOr(c.peek()) {
			op := c.next()
			var m *bnode
			if m, q, err = c.parseID(q); err != nil {
				return nil, q, err
			}
			n = combine(op, n, m)
		}
		if err := c.expect(tRParen, "')'"); err != nil {
			return nil, q, err
		}
		return n, q, nil
	}
	n, err := c.parseNID(q)
	return n, q, err
}

func (c *compiler) parseNID(q qual) (*bnode, error) {
	t := c.next()
	switch t.kind {
	case tNum, tHID, tHID6, tEID, tID:
	default:
		return nil, fmt.Errorf("syntax error: expected an address, number or name, got %v", t)
	}
	if q.undef {
		return nil, fmt.Errorf("syntax error: %v has no qualifier to repeat (write e.g. \"host %s\" or \"port %s\")", t, t.text, t.text)
	}
	switch t.kind {
	case tNum:
		return c.genNcode("", t.num, q)
	case tHID:
		switch nt := c.peek(); {
		case nt.kind == tOp && nt.text == "/":
			c.next()
			n := c.next()
			if n.kind != tNum {
				return nil, fmt.Errorf("syntax error: expected a prefix length after '/', got %v", n)
			}
			return c.genMcode(t.text, "", n.num, q)
		case nt.kind == tKey && nt.text == "mask":
			c.next()
			m := c.next()
			if m.kind != tHID {
				return nil, fmt.Errorf("syntax error: expected a dotted netmask after 'mask', got %v", m)
			}
			return c.genMcode(t.text, m.text, 0, q)
		}
		switch q.addr {
		case aPort, aPortrange, aProto:
			return nil, fmt.Errorf("'%s' modifier applied to ip host", addrNames[q.addr])
		}
		return c.genNcode(t.text, 0, q)
	case tHID6:
		masklen := uint32(128)
		if nt := c.peek(); nt.kind == tOp && nt.text == "/" {
			c.next()
			n := c.next()
			if n.kind != tNum {
				return nil, fmt.Errorf("syntax error: expected a prefix length after '/', got %v", n)
			}
			masklen = n.num
		}
		return c.genMcode6(t.text, masklen, q)
	case tEID:
		if (q.addr == aHost || q.addr == aDefault) && q.proto == pLink {
			mac, err := parseMAC(t.text)
			if err != nil {
				return nil, err
			}
			return c.etherHost(mac, q.dir)
		}
		return nil, errors.New("ethernet address used in non-ether expression")
	}
	return c.genScode(t.text, q)
}

var addrNames = map[addrType]string{aHost: "host", aNet: "net", aPort: "port", aPortrange: "portrange", aProto: "proto"}

// genNcode handles a number (s == "") or a dotted IPv4 number s.
func (c *compiler) genNcode(s string, v uint32, q qual) (*bnode, error) {
	vlen := 32
	if s != "" {
		var err error
		if v, vlen, err = parseDotted(s); err != nil {
			return nil, err
		}
	}
	switch q.addr {
	case aDefault, aHost, aNet:
		if q.proto == pLink {
			return nil, errors.New("illegal link layer address")
		}
		if q.proto == pDECNET {
			return nil, errors.New("DECnet addresses are not supported")
		}
		mask := uint32(0xffffffff)
		if s == "" && q.addr == aNet {
			// "net 10" is 10.0.0.0/8.
			for v != 0 && v&0xff000000 == 0 {
				v <<= 8
				mask <<= 8
			}
		} else {
			// "net 192.168" is 192.168.0.0/16 (and "host 10" is 0.0.0.10).
			v <<= uint(32 - vlen)
			mask <<= uint(32 - vlen)
		}
		return c.host4(v, mask, q.proto, q.dir, hostOrNet(q.addr))
	case aPort, aPortrange:
		ipproto, err := portProto(q.proto, addrNames[q.addr])
		if err != nil {
			return nil, err
		}
		if v > 65535 {
			return nil, fmt.Errorf("illegal port number %d > 65535", v)
		}
		return c.portTest(v, v, ipproto, q.dir, q.addr == aPortrange), nil
	case aProto:
		return c.genProto(v, q.proto)
	}
	return nil, errors.New("syntax error")
}

func hostOrNet(a addrType) string {
	if a == aNet {
		return "net"
	}
	return "host"
}

// genMcode handles "net a.b.c.d/len" and "net a.b.c.d mask m.m.m.m".
func (c *compiler) genMcode(s1, s2 string, masklen uint32, q qual) (*bnode, error) {
	n, nlen, err := parseDotted(s1)
	if err != nil {
		return nil, err
	}
	n <<= uint(32 - nlen)
	var m uint32
	if s2 != "" {
		mv, mlen, err := parseDotted(s2)
		if err != nil {
			return nil, err
		}
		m = mv << uint(32-mlen)
		if n&^m != 0 {
			return nil, fmt.Errorf("non-network bits set in \"%s mask %s\"", s1, s2)
		}
	} else {
		if masklen > 32 {
			return nil, errors.New("mask length must be <= 32")
		}
		if masklen > 0 {
			m = 0xffffffff << (32 - masklen)
		}
		if n&^m != 0 {
			return nil, fmt.Errorf("non-network bits set in \"%s/%d\"", s1, masklen)
		}
	}
	if q.addr != aNet {
		return nil, errors.New("Mask syntax for networks only")
	}
	return c.host4(n, m, q.proto, q.dir, "net")
}

func (c *compiler) genMcode6(s string, masklen uint32, q qual) (*bnode, error) {
	ip := net.ParseIP(s)
	if ip == nil || !strings.Contains(s, ":") {
		return nil, fmt.Errorf("invalid IPv6 address %q", s)
	}
	if masklen > 128 {
		return nil, errors.New("mask length must be <= 128")
	}
	var addr, mask [16]byte
	copy(addr[:], ip.To16())
	for i := 0; i < int(masklen); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	for i := range addr {
		if addr[i]&^mask[i] != 0 {
			return nil, fmt.Errorf("non-network bits set in \"%s/%d\"", s, masklen)
		}
	}
	switch q.addr {
	case aDefault, aHost:
		if masklen != 128 {
			return nil, errors.New("Mask syntax for networks only")
		}
	case aNet:
	default:
		return nil, errors.New("invalid qualifier against IPv6 address")
	}
	return c.host6(addr, mask, q.proto, q.dir, hostOrNet(q.addr))
}

// genScode handles a name (libpcap's gen_scode): a host, network,
// Ethernet host, service, port range or protocol name.
func (c *compiler) genScode(name string, q qual) (*bnode, error) {
	switch q.addr {
	case aNet:
		addr, ok := c.names.network(name)
		if !ok || addr == 0 {
			return nil, fmt.Errorf("unknown network '%s'", name)
		}
		mask := uint32(0xffffffff)
		for addr != 0 && addr&0xff000000 == 0 {
			addr <<= 8
			mask <<= 8
		}
		return c.host4(addr, mask, q.proto, q.dir, "net")
	case aDefault, aHost:
		if q.proto == pLink {
			if c.curLink != Ethernet {
				return nil, errors.New("only ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel supports link-level host name")
			}
			mac, ok := c.names.ether(name)
			if !ok {
				return nil, fmt.Errorf("unknown ether host '%s'", name)
			}
			return andPrev(c.prevLinkHdrCheck(), c.ehostop(mac[:], q.dir)), nil
		}
		if q.proto == pDECNET {
			return nil, fmt.Errorf("decnet name support not included, '%s' cannot be translated", name)
		}
		addrs := c.names.hosts(name)
		if len(addrs) == 0 {
			return nil, fmt.Errorf("unknown host '%s'", name)
		}
		// Raw link types have no ARP: only IPv4 and IPv6.
		p4, p6 := q.proto, q.proto
		if c.offLinkType.k == offNotSet && q.proto == pDefault {
			p4, p6 = pIP, pIP6
		}
		var b *bnode
		for _, ip := range addrs {
			var tmp *bnode
			var err error
			if ip4 := ip.To4(); ip4 != nil {
				if p4 == pIP6 {
					continue
				}
				tmp, err = c.host4(binary.BigEndian.Uint32(ip4), 0xffffffff, p4, q.dir, "host")
			} else {
				if p6 == pIP {
					continue
				}
				var a, full [16]byte
				copy(a[:], ip.To16())
				for i := range full {
					full[i] = 0xff
				}
				tmp, err = c.host6(a, full, p6, q.dir, "host")
			}
			if err != nil {
				return nil, err
			}
			if b == nil {
				b = tmp
			} else {
				b = or(b, tmp)
			}
		}
		if b == nil {
			return nil, fmt.Errorf("unknown host '%s' for specified address family", name)
		}
		return b, nil
	case aPort:
		if _, err := portProto(q.proto, "port"); err != nil {
			return nil, err
		}
		port, real, ok := c.nameToPort(name)
		if !ok {
			return nil, fmt.Errorf("unknown port '%s'", name)
		}
		real, err := qualifyPortProto(q.proto, real, "port '"+name+"'")
		if err != nil {
			return nil, err
		}
		return c.portTest(uint32(port), uint32(port), real, q.dir, false), nil
	case aPortrange:
		if _, err := portProto(q.proto, "portrange"); err != nil {
			return nil, err
		}
		p1, p2, real, ok := c.nameToPortRange(name)
		if !ok {
			return nil, fmt.Errorf("unknown port in range '%s'", name)
		}
		real, err := qualifyPortProto(q.proto, real, "port in range '"+name+"'")
		if err != nil {
			return nil, err
		}
		for _, p := range []int{p1, p2} {
			if p < 0 {
				return nil, fmt.Errorf("illegal port number %d < 0", p)
			}
			if p > 65535 {
				return nil, fmt.Errorf("illegal port number %d > 65535", p)
			}
		}
		return c.portTest(uint32(p1), uint32(p2), real, q.dir, true), nil
	case aProto:
		v, err := c.lookupProto(name, q.proto)
		if err != nil {
			return nil, err
		}
		return c.genProto(v, q.proto)
	}
	return nil, errors.New("syntax error")
}

// qualifyPortProto checks a service's protocol against the tcp/udp/sctp
// qualifier, as libpcap does: "udp port http" is an error.
func qualifyPortProto(p proto, real int, what string) (int, error) {
	var want int
	switch p {
	case pTCP:
		want = ipprotoTCP
	case pUDP:
		want = ipprotoUDP
	case pSCTP:
		want = ipprotoSCTP
	default:
		return real, nil
	}
	if real != protoUndef && real != want {
		return 0, fmt.Errorf("%s is %s", what, map[int]string{ipprotoTCP: "tcp", ipprotoUDP: "udp", ipprotoSCTP: "sctp"}[real])
	}
	return want, nil
}

// nameToPort is libpcap's pcap_nametoport: the TCP and UDP ports of a
// service; when both exist and agree, any transport protocol.
func (c *compiler) nameToPort(name string) (port, ipproto int, ok bool) {
	tcp, tok := c.names.service(name, "tcp")
	udp, uok := c.names.service(name, "udp")
	switch {
	case tok && uok && tcp == udp:
		return tcp, protoUndef, true
	case tok:
		return tcp, ipprotoTCP, true
	case uok:
		return udp, ipprotoUDP, true
	}
	return 0, 0, false
}

// nameToPortRange is libpcap's pcap_nametoportrange: "N-M" as sscanf
// "%d-%d" reads it, or two service names (or numbers) around the first '-'.
func (c *compiler) nameToPortRange(name string) (p1, p2, ipproto int, ok bool) {
	if a, b, ok := scanRange(name); ok {
		return a, b, protoUndef, true
	}
	lo, hi, found := strings.Cut(name, "-")
	if !found {
		return 0, 0, 0, false
	}
	p1, proto1, ok1 := c.nameToPort(lo)
	if !ok1 {
		return 0, 0, 0, false
	}
	p2, proto2, ok2 := c.nameToPort(hi)
	if !ok2 {
		return 0, 0, 0, false
	}
	if proto1 != proto2 {
		proto2 = protoUndef
	}
	return p1, p2, proto2, true
}

// scanRange reads "%d-%d" as sscanf does: a signed decimal, '-', a signed
// decimal, anything after that ignored.
func scanRange(s string) (int, int, bool) {
	num := func(s string) (int, string, bool) {
		i := 0
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i {
			return 0, s, false
		}
		v, err := strconv.ParseInt(s[:j], 10, 32)
		if err != nil {
			v = 1 << 31 // out of range either way
			if s[0] == '-' {
				v = -v
			}
		}
		return int(v), s[j:], true
	}
	a, rest, ok := num(s)
	if !ok || !strings.HasPrefix(rest, "-") {
		return 0, 0, false
	}
	b, _, ok := num(rest[1:])
	return a, b, ok
}

// lookupProto is libpcap's lookup_proto: a protocol name after "proto".
func (c *compiler) lookupProto(name string, p proto) (uint32, error) {
	switch p {
	case pDefault, pIP, pIP6:
		v, ok := c.names.protocol(name)
		if !ok {
			return 0, fmt.Errorf("unknown ip proto '%s'", name)
		}
		return uint32(v), nil
	case pLink:
		if v, ok := etherProtoNames[name]; ok {
			return v, nil
		}
		if v, ok := llcNames[name]; ok {
			return v, nil
		}
		return 0, fmt.Errorf("unknown ether proto '%s'", name)
	case pISO:
		switch name {
		case "esis":
			return isoESIS, nil
		case "isis":
			return isoISIS, nil
		case "clnp":
			return isoCLNP, nil
		}
		return 0, fmt.Errorf("unknown osi proto '%s'", name)
	}
	return 0, fmt.Errorf("unknown protocol: %s", name)
}

// etherProtoNames and llcNames are libpcap's built-in tables for "ether
// proto \name".
var etherProtoNames = map[string]uint32{
	"aarp": ethAARP, "arp": ethARP, "atalk": ethATalk, "decnet": ethDN, "ip": ethIPv4, "ip6": ethIPv6,
	"lat": ethLAT, "loopback": ethLoopback, "mopdl": ethMOPDL, "moprc": ethMOPRC, "rarp": ethRARP, "sca": ethSCA,
}

var llcNames = map[string]uint32{"iso": llcISONS, "stp": llc8021D, "ipx": llcIPX, "netbeui": llcNetBEUI}
