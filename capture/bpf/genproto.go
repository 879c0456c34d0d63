package bpf

// Protocols.

// protoAbbrev is a protocol name used as a primitive ("tcp", "pim", "stp").
func (c *compiler) protoAbbrev(p proto) (*bnode, error) {
	switch p {
	case pTCP:
		return c.genProto(ipprotoTCP, pDefault)
	case pUDP:
		return c.genProto(ipprotoUDP, pDefault)
	case pSCTP:
		return c.genProto(ipprotoSCTP, pDefault)
	case pICMP:
		return c.genProto(ipprotoICMP, pIP)
	case pIGMP:
		return c.genProto(ipprotoIGMP, pIP)
	case pIGRP:
		return c.genProto(ipprotoIGRP, pIP)
	case pPIM:
		return c.genProto(ipprotoPIM, pDefault)
	case pVRRP:
		return c.genProto(ipprotoVRRP, pIP)
	case pCARP:
		return c.genProto(ipprotoCARP, pIP)
	case pICMP6:
		return c.genProto(ipprotoICMPv6, pIP6)
	case pAH:
		return c.genProto(ipprotoAH, pDefault)
	case pESP:
		return c.genProto(ipprotoESP, pDefault)
	case pIP:
		return c.linktype(ethIPv4), nil
	case pIP6:
		return c.linktype(ethIPv6), nil
	case pARP:
		return c.linktype(ethARP), nil
	case pRARP:
		return c.linktype(ethRARP), nil
	case pATALK:
		return c.linktype(ethATalk), nil
	case pAARP:
		return c.linktype(ethAARP), nil
	case pDECNET:
		return c.linktype(ethDN), nil
	case pSCA:
		return c.linktype(ethSCA), nil
	case pLAT:
		return c.linktype(ethLAT), nil
	case pMOPDL:
		return c.linktype(ethMOPDL), nil
	case pMOPRC:
		return c.linktype(ethMOPRC), nil
	case pISO:
		return c.linktype(llcISONS), nil
	case pESIS:
		return c.genProto(isoESIS, pISO)
	case pISIS:
		return c.genProto(isoISIS, pISO)
	case pCLNP:
		return c.genProto(isoCLNP, pISO)
	case pISISL1:
		return c.isisTypes(isisL1LANIIH, isisPTPIIH, isisL1LSP, isisL1CSNP, isisL1PSNP)
	case pISISL2:
		return c.isisTypes(isisL2LANIIH, isisPTPIIH, isisL2LSP, isisL2CSNP, isisL2PSNP)
	case pISISIIH:
		return c.isisTypes(isisL1LANIIH, isisL2LANIIH, isisPTPIIH)
	case pISISLSP:
		return c.isisTypes(isisL1LSP, isisL2LSP)
	case pISISSNP:
		return c.isisTypes(isisL1CSNP, isisL2CSNP, isisL1PSNP, isisL2PSNP)
	case pISISCSNP:
		return c.isisTypes(isisL1CSNP, isisL2CSNP)
	case pISISPSNP:
		return c.isisTypes(isisL1PSNP, isisL2PSNP)
	case pSTP:
		return c.linktype(llc8021D), nil
	case pIPX:
		return c.linktype(llcIPX), nil
	case pNETBEUI:
		return c.linktype(llcNetBEUI), nil
	case pRADIO:
		return nil, semErr("'radio' is not a valid protocol type")
	}
	return nil, semErr("link layer applied in wrong context")
}

// isisTypes is "isis proto t0 or isis proto t1 ...".
func (c *compiler) isisTypes(types ...uint32) (*bnode, error) {
	var b *bnode
	for _, t := range types {
		x, err := c.genProto(t, pISIS)
		if err != nil {
			return nil, err
		}
		if b == nil {
			b = x
		} else {
			b = or(b, x)
		}
	}
	return b, nil
}

// genProto is "[ip|ip6|ether|iso|isis] proto v" (libpcap's gen_proto).
func (c *compiler) genProto(v uint32, p proto) (*bnode, error) {
	switch p {
	case pDefault:
		b0, err := c.genProto(v, pIP)
		if err != nil {
			return nil, err
		}
		b1, err := c.genProto(v, pIP6)
		if err != nil {
			return nil, err
		}
		return or(b0, b1), nil
	case pLink:
		return c.linktype(v), nil
	case pIP:
		return and(c.linktype(ethIPv4), c.cmp(orLinkPL, 9, 1, v)), nil
	case pIP6:
		// The protocol, or a fragment header followed by the protocol.
		viaFrag := and(c.cmp(orLinkPL, 6, 1, ipprotoFrag), c.cmp(orLinkPL, 40, 1, v))
		return and(c.linktype(ethIPv6), or(c.cmp(orLinkPL, 6, 1, v), viaFrag)), nil
	case pISO:
		return and(c.linktype(llcISONS), c.cmp(orLinkPLNoSnap, 0, 1, v)), nil
	case pISIS:
		b0, err := c.genProto(isoISIS, pISO)
		if err != nil {
			return nil, err
		}
		return and(b0, c.cmp(orLinkPLNoSnap, 4, 1, v)), nil
	case pARP, pRARP:
		return nil, semErr("%s does not encapsulate another protocol", protoNames[p])
	case pATALK:
		return nil, semErr("AppleTalk encapsulation is not specifiable")
	case pDECNET:
		return nil, semErr("DECNET encapsulation is not specifiable")
	case pLAT, pSCA, pMOPRC, pMOPDL:
		return nil, semErr("%s does not encapsulate another protocol", upper(protoNames[p]))
	case pCLNP:
		return nil, semErr("'clnp proto' is not supported")
	}
	return nil, semErr("'%s proto' is bogus", protoNames[p])
}

func upper(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch >= 'a' && ch <= 'z' {
			b[i] = ch - 'a' + 'A'
		}
	}
	return string(b)
}
