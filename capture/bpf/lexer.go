package bpf

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// tokKind is the kind of a lexical token of a filter expression.
type tokKind int

const (
	tEOF    tokKind = iota
	tNum            // number (decimal, 0x hex, 0 octal) or a named constant such as tcp-syn
	tHID            // dotted IPv4 address or prefix: 1.2.3.4, 10.1
	tHID6           // IPv6 address
	tEID            // Ethernet (MAC) address
	tID             // any other word: a host, service or protocol name
	tKey            // keyword (text holds the keyword)
	tAnd            // and, &&
	tOr             // or, ||
	tNot            // not, !
	tLParen         // (
	tRParen         // )
	tLBrack         // [
	tRBrack         // ]
	tColon          // :
	tOp             // arithmetic operator: + - * / % & | ^ << >>
	tRel            // relational operator: = == != < > <= >=
)

type token struct {
	kind tokKind
	text string // source text (keyword, operator, name, address)
	num  uint32 // value of a tNum
	pos  int    // byte offset in the expression
}

func (t token) String() string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return strconv.Quote(t.text)
}

// keywords the compiler understands, besides the protocol names of
// protoKeywords.
var keywords = map[string]bool{
	"host": true, "net": true, "mask": true, "port": true, "portrange": true,
	"src": true, "dst": true, "proto": true,
	"vlan": true, "mpls": true, "pppoed": true, "pppoes": true, "geneve": true,
	"less": true, "greater": true, "len": true, "length": true, "byte": true,
	"broadcast": true, "multicast": true, "inbound": true, "outbound": true, "ifindex": true,
}

func isKeyword(w string) bool {
	_, isProto := protoKeywords[w]
	return keywords[w] || isProto
}

// unsupportedKeywords are pcap-filter(7) keywords this compiler does not
// implement. They are recognised only to give a clear error.
var unsupportedKeywords = map[string]bool{
	"gateway": true, "protochain": true,
	"lane": true, "llc": true, "metac": true, "bcc": true, "oam": true, "oamf4": true,
	"oamf4ec": true, "oamf4sc": true, "sc": true, "ilmic": true, "vpi": true, "vci": true,
	"connectmsg": true, "metaconnect": true,
	"on": true, "ifname": true, "rnr": true, "rulenum": true, "reason": true, "rset": true,
	"ruleset": true, "srnr": true, "subrulenum": true, "action": true,
	"fisu": true, "lssu": true, "lsu": true, "msu": true, "sio": true, "opc": true, "dpc": true, "sls": true,
	"hfisu": true, "hlssu": true, "hmsu": true, "hsio": true, "hopc": true, "hdpc": true, "hsls": true,
	"type": true, "subtype": true, "dir": true, "direction": true,
	"address1": true, "addr1": true, "address2": true, "addr2": true,
	"address3": true, "addr3": true, "address4": true, "addr4": true, "ra": true, "ta": true,
}

// namedConstants are the numeric names libpcap's scanner knows (they are
// numbers wherever a number is allowed).
var namedConstants = map[string]uint32{
	"icmptype": 0, "icmpcode": 1,
	"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4, "icmp-redirect": 5,
	"icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10, "icmp-timxceed": 11,
	"icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
	"icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
	"icmp6type": 0, "icmp6code": 1,
	"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3,
	"icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
	"icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133, "icmp6-routeradvert": 134,
	"icmp6-neighborsolicit": 135, "icmp6-neighboradvert": 136, "icmp6-redirect": 137,
	"icmp6-routerrenum": 138, "icmp6-nodeinformationquery": 139,
	"icmp6-nodeinformationresponse": 140, "icmp6-ineighbordiscoverysolicit": 141,
	"icmp6-ineighbordiscoveryadvert": 142, "icmp6-multicastlistenerreportv2": 143,
	"icmp6-homeagentdiscoveryrequest": 144, "icmp6-homeagentdiscoveryreply": 145,
	"icmp6-mobileprefixsolicit": 146, "icmp6-mobileprefixadvert": 147,
	"icmp6-certpathsolicit": 148, "icmp6-certpathadvert": 149,
	"icmp6-multicastrouteradvert": 151, "icmp6-multicastroutersolicit": 152,
	"icmp6-multicastrouterterm": 153,
	"tcpflags":                  13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// lex splits a filter expression into tokens, following the token rules of
// libpcap's scanner closely enough that the same expressions split the same
// way (for example "tcp-syn" and "8000-8080" are single words).
func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '\\':
			// "\name": a name that would otherwise be a keyword (ip proto \tcp).
			j := i + 1
			for j < len(s) && !strings.ContainsRune(" !()\n\t", rune(s[j])) {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("syntax error at offset %d: lone backslash", i)
			}
			toks = append(toks, token{kind: tID, text: s[i+1 : j], pos: i})
			i = j
			continue
		case isAlnum(c) || c == ':':
			t, n, err := lexWord(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i += n
			continue
		}
		// Punctuation and operators.
		two := ""
		if i+1 < len(s) {
			two = s[i : i+2]
		}
		switch two {
		case "&&":
			toks = append(toks, token{kind: tAnd, text: two, pos: i})
			i += 2
			continue
		case "||":
			toks = append(toks, token{kind: tOr, text: two, pos: i})
			i += 2
			continue
		case "<<", ">>":
			toks = append(toks, token{kind: tOp, text: two, pos: i})
			i += 2
			continue
		case "==", "!=", "<=", ">=":
			toks = append(toks, token{kind: tRel, text: two, pos: i})
			i += 2
			continue
		}
		switch c {
		case '!':
			toks = append(toks, token{kind: tNot, text: "!", pos: i})
		case '(':
			toks = append(toks, token{kind: tLParen, text: "(", pos: i})
		case ')':
			toks = append(toks, token{kind: tRParen, text: ")", pos: i})
		case '[':
			toks = append(toks, token{kind: tLBrack, text: "[", pos: i})
		case ']':
			toks = append(toks, token{kind: tRBrack, text: "]", pos: i})
		case '+', '-', '*', '/', '%', '&', '|', '^':
			toks = append(toks, token{kind: tOp, text: string(c), pos: i})
		case '=', '<', '>':
			toks = append(toks, token{kind: tRel, text: string(c), pos: i})
		default:
			return nil, fmt.Errorf("syntax error at offset %d: unexpected character %q", i, c)
		}
		i++
	}
	toks = append(toks, token{kind: tEOF, pos: len(s)})
	return toks, nil
}

// lexWord lexes a word starting at s[i]: an IPv6 or MAC address, a number,
// a dotted IPv4 address, a keyword or a name.
func lexWord(s string, i int) (token, int, error) {
	// IPv6 and colon-separated MAC addresses: at most 45 characters
	// ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"); the scan stops
	// there, which keeps long runs of colons linear.
	const maxAddr = 45
	j := i
	for j < len(s) && j-i <= maxAddr && (isAlnum(s[j]) || s[j] == ':' || s[j] == '.') {
		j++
	}
	if run := s[i:j]; j-i <= maxAddr && strings.Contains(run, ":") {
		if ip := net.ParseIP(run); ip != nil && strings.Contains(run, ":") {
			return token{kind: tHID6, text: run, pos: i}, j - i, nil
		}
		if isMAC(run, ':') {
			return token{kind: tEID, text: run, pos: i}, j - i, nil
		}
	}
	if s[i] == ':' {
		return token{kind: tColon, text: ":", pos: i}, 1, nil
	}
	// libpcap's word: [A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?
	j = i + 1
	for j < len(s) && (isAlnum(s[j]) || s[j] == '-' || s[j] == '_' || s[j] == '.') {
		j++
	}
	for j > i+1 && (s[j-1] == '-' || s[j-1] == '_') {
		j--
	}
	w := s[i:j]
	t := token{text: w, pos: i}
	switch {
	case isMACForm(w):
		// Before numbers, as in libpcap's scanner: "000000000000" is an
		// Ethernet address.
		t.kind = tEID
	case isNumber(w):
		v, err := parseNumber(w)
		if err != nil {
			return token{}, 0, err
		}
		t.kind, t.num = tNum, v
	case isDottedNumber(w):
		t.kind = tHID
	case w == "and":
		t.kind = tAnd
	case w == "or":
		t.kind = tOr
	case w == "not":
		t.kind = tNot
	case w == "length":
		t.kind, t.text = tKey, "len"
	case isKeyword(w):
		t.kind = tKey
	default:
		if v, ok := namedConstants[w]; ok {
			t.kind, t.num = tNum, v
		} else {
			t.kind = tID // includes unsupported keywords; the parser reports them
		}
	}
	return t, j - i, nil
}

func isNumber(w string) bool {
	if len(w) > 2 && (w[:2] == "0x" || w[:2] == "0X") {
		for k := 2; k < len(w); k++ {
			if !isHex(w[k]) {
				return false
			}
		}
		return true
	}
	for k := 0; k < len(w); k++ {
		if w[k] < '0' || w[k] > '9' {
			return false
		}
	}
	return len(w) > 0
}

// parseNumber converts a number the way libpcap does: 0x is hex, a leading
// 0 is octal, anything else decimal; it must fit in 32 bits.
func parseNumber(w string) (uint32, error) {
	base := 10
	digits := w
	switch {
	case len(w) > 2 && (w[:2] == "0x" || w[:2] == "0X"):
		base, digits = 16, w[2:]
	case len(w) > 1 && w[0] == '0':
		base, digits = 8, w[1:]
		for k := 0; k < len(digits); k++ {
			if digits[k] > '7' {
				return 0, fmt.Errorf("number %s contains non-octal digit", w)
			}
		}
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		return 0, fmt.Errorf("number %s overflows 32 bits", w)
	}
	return uint32(v), nil
}

// isDottedNumber reports whether w is 2 to 4 numbers separated by dots
// (libpcap's "HID": 10.1, 192.168.1, 1.2.3.4). As in libpcap's scanner a
// part may be hexadecimal ("0x7f.1"), which then is an invalid address.
func isDottedNumber(w string) bool {
	parts := strings.Split(w, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if !isNumber(p) {
			return false
		}
	}
	return true
}

// isMACForm reports whether w is one of libpcap's Ethernet address forms
// without colons: 6 groups of 1-2 hex digits separated by '-' or '.',
// xxxx.xxxx.xxxx, or 12 hex digits.
func isMACForm(w string) bool {
	if isMAC(w, '-') || isMAC(w, '.') {
		return true
	}
	hex4 := func(p string) bool { return len(p) == 4 && strings.Trim(p, "0123456789abcdefABCDEF") == "" }
	if parts := strings.Split(w, "."); len(parts) == 3 && hex4(parts[0]) && hex4(parts[1]) && hex4(parts[2]) {
		return true
	}
	return len(w) == 12 && hex4(w[0:4]) && hex4(w[4:8]) && hex4(w[8:12])
}

func isMAC(w string, sep byte) bool {
	parts := strings.Split(w, string(sep))
	if len(parts) != 6 {
		return false
	}
	for _, p := range parts {
		if len(p) < 1 || len(p) > 2 {
			return false
		}
		for k := 0; k < len(p); k++ {
			if !isHex(p[k]) {
				return false
			}
		}
	}
	return true
}

func parseMAC(w string) ([6]byte, error) {
	var m [6]byte
	var hex string
	switch {
	case isMAC(w, ':') || isMAC(w, '-') || isMAC(w, '.'):
		for _, p := range strings.FieldsFunc(w, func(r rune) bool { return r == ':' || r == '-' || r == '.' }) {
			if len(p) == 1 {
				p = "0" + p
			}
			hex += p
		}
	case isMACForm(w):
		hex = strings.ReplaceAll(w, ".", "")
	default:
		return m, fmt.Errorf("invalid MAC address %q", w)
	}
	for k := range m {
		v, err := strconv.ParseUint(hex[2*k:2*k+2], 16, 8)
		if err != nil {
			return m, fmt.Errorf("invalid MAC address %q", w)
		}
		m[k] = byte(v)
	}
	return m, nil
}

// parseDotted converts a 2-4 part dotted IPv4 number as libpcap's
// __pcap_atoin does: the value of the given octets, right aligned, and the
// number of bits they cover.
func parseDotted(w string) (v uint32, bits int, err error) {
	for _, p := range strings.Split(w, ".") {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil || n > 255 {
			return 0, 0, fmt.Errorf("invalid IPv4 address %q", w)
		}
		v = v<<8 | uint32(n)
		bits += 8
	}
	return v, bits, nil
}
