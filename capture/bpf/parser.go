package bpf

import (
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
		case "vlan":
			c.next()
			if nt := c.peek(); nt.kind == tNum && !isArthOrRel(c.peekN(1)) {
				c.next()
				n, err := c.vlan(nt.num, true)
				return n, qerr, err
			}
			n, err := c.vlan(0, false)
			return n, qerr, err
		case "less", "greater":
			c.next()
			nt := c.next()
			if nt.kind != tNum {
				return nil, qerr, fmt.Errorf("syntax error: %s needs a number, got %v", t.text, nt)
			}
			return c.lenTest(t.text == "less", nt.num), qerr, nil
		case "inbound", "outbound":
			c.next()
			return c.inbound(t.text == "inbound"), qerr, nil
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

func isArthOrRel(t token) bool { return t.kind == tOp || t.kind == tRel }

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
	return relation(op.text, l, r)
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

// genScode handles a name.
func (c *compiler) genScode(name string, q qual) (*bnode, error) {
	switch q.addr {
	case aDefault, aHost:
		if q.proto == pLink {
			return nil, fmt.Errorf("cannot use Ethernet host name %q: only MAC addresses are supported", name)
		}
		if name != "localhost" {
			return nil, fmt.Errorf("cannot use host name %q: only IP address literals are supported (names are not resolved)", name)
		}
		// localhost: 127.0.0.1 and ::1, as in the usual /etc/hosts.
		var b *bnode
		if q.proto != pIP6 && q.proto != pICMP6 {
			h, err := c.host4(0x7f000001, 0xffffffff, q.proto, q.dir, "host")
			if err != nil {
				return nil, err
			}
			b = h
		}
		if q.proto == pDefault || q.proto == pIP6 {
			var one, full [16]byte
			one[15] = 1
			for i := range full {
				full[i] = 0xff
			}
			h, err := c.host6(one, full, q.proto, q.dir, "host")
			if err != nil {
				return nil, err
			}
			if b == nil {
				b = h
			} else {
				b = or(b, h)
			}
		}
		if b == nil {
			return c.host4(0x7f000001, 0xffffffff, q.proto, q.dir, "host") // reports the error
		}
		return b, nil
	case aNet:
		return nil, fmt.Errorf("cannot use network name %q: only numeric networks are supported", name)
	case aPort:
		if _, err := portProto(q.proto, "port"); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("cannot use port name %q: only port numbers are supported", name)
	case aPortrange:
		ipproto, err := portProto(q.proto, "portrange")
		if err != nil {
			return nil, err
		}
		lo, hi, ok := strings.Cut(name, "-")
		if !ok {
			return nil, fmt.Errorf("invalid port range %q", name)
		}
		// Decimal, as libpcap reads ranges ("010-012" is 10 to 12).
		var ports [2]uint32
		for i, s := range []string{lo, hi} {
			if s == "" || strings.Trim(s, "0123456789") != "" {
				return nil, fmt.Errorf("cannot use port name %q in port range %q: only decimal port numbers are supported", s, name)
			}
			v, err := strconv.ParseUint(s, 10, 32)
			if err != nil || v > 65535 {
				return nil, fmt.Errorf("illegal port number %s > 65535", s)
			}
			ports[i] = uint32(v)
		}
		return c.portTest(ports[0], ports[1], ipproto, q.dir, true), nil
	case aProto:
		var v uint32
		var ok bool
		if q.proto == pLink {
			v, ok = etherProtoNames[name]
		} else {
			v, ok = ipProtoNames[name]
		}
		if !ok {
			return nil, fmt.Errorf("unknown or unsupported protocol name %s", strconv.Quote(name))
		}
		return c.genProto(v, q.proto)
	}
	return nil, errors.New("syntax error")
}
