#!/usr/bin/env python3
"""Derive the truth of a field capture (tunnels, tags, copies) from tshark.

usage: truth.py [OPTIONS] CAPTURE [PORT...]            > CAPTURE.truth.json
       truth.py --table [OPTIONS] CAPTURE [PORT...]    (one line per connection, no JSON)
       truth.py --info CAPTURE                         (file facts only)
       truth.py --readme DIR                           (rewrite DIR/README.md's table)

PORT(s): the HTTP server ports (default 8080), decoded as HTTP.
OPTIONS:
  --scenario NAME        scenario name (default: CAPTURE's name without extension)
  --description TEXT     what the scenario did
  --tool TEXT            the capture command
  --tcpdump-log LOG      add tcpdump's end-of-capture counts
  --files F1,F2,...      a rotated set (CAPTURE is its first file): the truth is
                         computed over `mergecap -w - F1 F2 ...`
  --full FULLCAP         a full-snaplen twin of CAPTURE (recorded at the same time
                         on the same interface): connections come from FULLCAP,
                         capture facts from CAPTURE (short-snaplen scenarios)
  --decode D             extra tshark decode-as (repeatable), e.g. udp.port==8472,vxlan
  --window S             duplicate window in seconds (default 0.2)
  --expect-reasons R,R   fail (exit 3) unless the close reasons are exactly these, in order
  --note TEXT            add a note (repeatable)
  --summary              also write the one-line-per-connection table to stderr

What it does (the corpus README's "How the truth was verified", samples/record/
expect.py, extended to encapsulations):
  1. Packet pass: `tshark -Y "tcp && !icmp && !icmpv6" -T fields -E occurrence=a`
     with frame.protocols and every occurrence of the IP, VLAN and tunnel
     fields. The INNERMOST IP and TCP layers are the connection's; the
     protocol path (e.g. eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp)
     gives the encapsulations outermost first, with their outer addresses and
     ids (VXLAN/Geneve VNI, GRE key, ERSPAN session, MPLS label, PPPoE
     session) and the 802.1Q/802.1ad ids.
  2. Duplicates: a packet whose inner IP packet equals one seen less than
     --window seconds before (every IP and TCP header field but TTL/hop limit
     and the IP header checksum, plus the payload; the link header and the
     encapsulation are ignored) is a copy; so is a data segment cut differently
     from the copy another encapsulation context carried (its sequence space
     shown by that context of its direction within 50 ms, new in its own: the
     bare and the tunnelled copy on an overlay node with segmentation
     offload). If there are copies, the capture is
     rewritten without them (`tshark -Y "!(frame.number in {...})" -w`) and
     everything below runs on that.
  3. Connections: tshark's tcp.stream, unless the same inner address/port
     pair occurs in two encapsulation contexts (two VNIs, two GRE keys): then
     each context is cut into its own file and dissected on its own (tshark
     would merge them into one stream).
  4. HTTP pass: tshark's HTTP dissector with reassembly (`-d tcp.port==P,http`,
     desegmentation on, out-of-order reassembly on); a message ends in the
     frame where tshark completes it. Requests, responses, idle gaps, final
     idle, FIN/RST, probes and the close reason follow expect.py exactly
     (the definitions of /work/shared/corpus/README.md, first rule that applies).
  5. Independent check: request lines / status lines found at the start of
     segment payloads (tcp.payload) are counted per connection and must agree
     with tshark's HTTP counts (verification.payload_lines).
File facts (format, link types, snaplen, pcapng Interface Statistics drops,
comments, packets whose timestamp goes backwards) are read from the file
itself by a small pcap/pcapng reader here. Times are the capture's.
"""
import datetime
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

AGG = "\x1e"
LINKTYPES = {0: "NULL", 1: "EN10MB", 101: "RAW", 113: "LINUX_SLL", 228: "IPV4", 229: "IPV6",
             239: "NFLOG", 276: "LINUX_SLL2", 12: "RAW"}


# -- small pcap / pcapng reader -------------------------------------------------

def file_info(path, max_bytes=1 << 30, records=False):
    """Facts of a pcap or pcapng file, read without tshark (bounded loops); with
    records, also info["records"]: (ts_ns, caplen, origlen, first 256 bytes) per packet."""
    info = {"format": None, "link_types": [], "interfaces": [], "packets": 0, "truncated_packets": 0,
            "bytes": os.path.getsize(path), "first_ts_ns": None, "last_ts_ns": None, "min_ts_ns": None,
            "max_ts_ns": None, "timestamps_backwards": 0, "shb_comments": [], "packet_comments": 0,
            "isb": [], "problems": [], "records": [] if records else None}
    with open(path, "rb") as f:
        data = f.read(max_bytes)
    if data[:2] == b"\x1f\x8b":  # gzip-compressed capture
        info["compression"] = "gzip"
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = d.decompress(data, max_bytes)
    prev = None

    def pkt(ts, incl, orig, raw=b""):
        nonlocal prev
        if records:
            info["records"].append((ts, incl, orig, bytes(raw[:256])))
        info["packets"] += 1
        if incl < orig:
            info["truncated_packets"] += 1
        if info["first_ts_ns"] is None:
            info["first_ts_ns"] = ts
        info["last_ts_ns"] = ts
        info["min_ts_ns"] = ts if info["min_ts_ns"] is None else min(info["min_ts_ns"], ts)
        info["max_ts_ns"] = ts if info["max_ts_ns"] is None else max(info["max_ts_ns"], ts)
        if prev is not None and ts < prev:
            info["timestamps_backwards"] += 1
        prev = ts

    if len(data) < 24:
        info["problems"].append("file too short")
        return info
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic[0] in (0xd4, 0x4d) else ">"
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        _, _, _, _, snap, lt = struct.unpack(e + "HHiIII", data[4:24])
        info["format"] = "pcap"
        info["link_types"] = [LINKTYPES.get(lt & 0xFFFF, str(lt & 0xFFFF))]
        info["interfaces"] = [{"link_type": info["link_types"][0], "snaplen": snap, "name": None,
                               "tsresol": "ns" if nano else "us"}]
        off = 24
        while off + 16 <= len(data):
            s, frac, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
            if incl > 0x4000000:
                info["problems"].append(f"record at {off}: length {incl}")
                break
            pkt(s * 1_000_000_000 + (frac if nano else frac * 1000), incl, orig, data[off + 16:off + 16 + incl])
            off += 16 + incl
        return info
    if magic != b"\x0a\x0d\x0d\x0a":
        info["problems"].append("neither pcap nor pcapng")
        return info
    info["format"] = "pcapng"
    off, e, ifs = 0, "<", []
    for _ in range(10_000_000):
        if off + 12 > len(data):
            break
        btype = struct.unpack(e + "I", data[off:off + 4])[0]
        if btype == 0x0A0D0D0A:
            bom = data[off + 8:off + 12]
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            ifs = []
        blen = struct.unpack(e + "I", data[off + 4:off + 8])[0]
        if blen < 12 or blen % 4 or off + blen > len(data):
            info["problems"].append(f"block at {off}: length {blen}")
            break
        body = data[off + 8:off + blen - 4]

        def options(buf):
            out, o = [], 0
            for _ in range(100000):
                if o + 4 > len(buf):
                    break
                code, ln = struct.unpack(e + "HH", buf[o:o + 4])
                if code == 0:
                    break
                out.append((code, buf[o + 4:o + 4 + ln]))
                o += 4 + ln + (-ln % 4)
            return out

        if btype == 0x0A0D0D0A:
            for code, v in options(body[16:]):
                if code == 1:
                    info["shb_comments"].append(v.decode("utf-8", "replace"))
        elif btype == 1 and len(body) >= 8:
            lt, _, snap = struct.unpack(e + "HHI", body[:8])
            resol, name = 6, None
            for code, v in options(body[8:]):
                if code == 9 and v:
                    resol = v[0]
                elif code == 2:
                    name = v.decode("utf-8", "replace")
            div = (2 ** (resol & 0x7F)) if resol & 0x80 else 10 ** resol
            ifs.append(div)
            info["interfaces"].append({"link_type": LINKTYPES.get(lt, str(lt)), "snaplen": snap, "name": name,
                                       "tsresol": {6: "us", 9: "ns"}.get(resol, str(resol))})
            if LINKTYPES.get(lt, str(lt)) not in info["link_types"]:
                info["link_types"].append(LINKTYPES.get(lt, str(lt)))
        elif btype == 6 and len(body) >= 20:
            iface, hi, lo, incl, orig = struct.unpack(e + "IIIII", body[:20])
            div = ifs[iface] if iface < len(ifs) else 1_000_000
            t = (hi << 32) | lo
            pkt(t * 1_000_000_000 // div, incl, orig, body[20:20 + incl])
            for code, v in options(body[20 + incl + (-incl % 4):]):
                if code == 1:
                    info["packet_comments"] += 1
        elif btype == 3 and len(body) >= 4:
            orig = struct.unpack(e + "I", body[:4])[0]
            pkt(info["last_ts_ns"] or 0, min(orig, len(body) - 4), orig)
        elif btype == 5 and len(body) >= 12:
            iface = struct.unpack(e + "I", body[:4])[0]
            st = {"interface": iface}
            names = {4: "ifrecv", 5: "ifdrop", 6: "filteraccept", 7: "osdrop", 8: "usrdeliv"}
            for code, v in options(body[12:]):
                if code in names and len(v) == 8:
                    st[names[code]] = struct.unpack(e + "Q", v)[0]
                elif code == 1:
                    st["comment"] = v.decode("utf-8", "replace")
            info["isb"].append(st)
        off += blen
    return info


def rfc3339(ns):
    if ns is None:
        return None
    s, frac = divmod(ns, 1_000_000_000)
    d = datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def epoch_ns(text):
    s, _, frac = text.partition(".")
    return int(s) * 1_000_000_000 + int((frac + "000000000")[:9])


def secs(ns):
    return round(ns / 1e9, 9)


# -- tshark -------------------------------------------------------------------

def tshark(args):
    out = subprocess.run(["tshark", "-n"] + args, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"tshark {' '.join(args)}: {out.stderr.strip()[-500:]}")
    return [line.split("\t") for line in out.stdout.split("\n") if line]


def tshark_version():
    out = subprocess.run(["tshark", "--version"], capture_output=True, text=True)
    return (out.stdout.splitlines() or ["tshark ?"])[0].split(" (Git")[0]


TSHARK_VERSION = None


def prefs(decode):
    d = []
    for x in decode:
        d += ["-d", x]
    return d + ["-o", "tcp.desegment_tcp_streams:TRUE", "-o", "tcp.reassemble_out_of_order:TRUE",
                "-o", "ip.defragment:TRUE", "-o", "ipv6.defragment:TRUE"]


TCP_FIELDS = ["frame.number", "frame.time_epoch", "frame.protocols", "frame.interface_id", "tcp.stream",
              "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
              "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset", "tcp.len",
              "tcp.analysis.keep_alive", "tcp.analysis.retransmission", "tcp.analysis.duplicate_ack",
              "tcp.payload",
              # encapsulation
              "vlan.id", "ieee8021ad.id", "vxlan.vni", "geneve.vni", "gre.flags.key", "gre.key", "erspan.spanid",
              "mpls.label", "mpls.bottom", "pppoe.session_id",
              # duplicate key: inner IP header but TTL/hop limit and checksum, TCP header, payload
              "ip.version", "ip.hdr_len", "ip.dsfield", "ip.len", "ip.id", "ip.flags", "ip.frag_offset", "ip.proto",
              "ipv6.tclass", "ipv6.flow", "ipv6.plen", "ipv6.nxt",
              "tcp.seq_raw", "tcp.ack_raw", "tcp.hdr_len", "tcp.flags", "tcp.window_size_value", "tcp.checksum",
              "tcp.urgent_pointer", "tcp.options"]
HTTP_FIELDS = ["frame.number", "frame.time_epoch", "tcp.stream", "http.request.method",
               "http.request.version", "http.response.code", "http.response.version",
               "http.connection", "http.response.line", "tcp.srcport"]
IPF = ["ip.version", "ip.hdr_len", "ip.dsfield", "ip.len", "ip.id", "ip.flags", "ip.frag_offset", "ip.proto"]
IP6F = ["ipv6.tclass", "ipv6.flow", "ipv6.plen", "ipv6.nxt"]
# not the TCP checksum either: a copy taken on a device with checksum offload (a bridge) has
# only the pseudo-header sum where the copy on the next device has the full one
TCPF = ["tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.hdr_len", "tcp.flags",
        "tcp.window_size_value", "tcp.urgent_pointer", "tcp.options", "tcp.payload"]


def ep(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def flag(v):
    return v in ("1", "True", "true")


def occ(d, k):
    v = d.get(k, "")
    return v.split(AGG) if v else []


def packet_pass(cap, decode):
    filt = "tcp && !icmp && !icmpv6"
    rows = tshark(["-r", cap] + prefs(decode) + ["-Y", filt, "-T", "fields", "-E", "separator=/t",
                                                 "-E", "occurrence=a", "-E", f"aggregator={AGG}"]
                  + sum([["-e", f] for f in TCP_FIELDS], []))
    pkts = []
    for r in rows:
        r += [""] * (len(TCP_FIELDS) - len(r))
        d = dict(zip(TCP_FIELDS, r))
        pkts.append(parse_packet(d))
    return pkts


def parse_packet(d):
    """One packet-pass row -> dict with the innermost IP/TCP facts and the encapsulation."""
    toks = d["frame.protocols"].split(":")
    ip4s, ip4d, ip6s, ip6d = occ(d, "ip.src"), occ(d, "ip.dst"), occ(d, "ipv6.src"), occ(d, "ipv6.dst")
    lists = {k: occ(d, k) for k in ("vlan.id", "ieee8021ad.id", "vxlan.vni", "geneve.vni", "gre.flags.key",
                                    "gre.key", "erspan.spanid", "mpls.label", "mpls.bottom", "pppoe.session_id")}
    idx = {k: 0 for k in lists}
    i4 = i6 = 0

    def take(k):
        lst = lists[k]
        v = lst[idx[k]] if idx[k] < len(lst) else None
        idx[k] += 1
        return v

    tunnel, vlan, last_ip, prev_l3 = [], [], None, None
    inner_fam = None
    for pos, t in enumerate(toks):
        if t in ("ip", "ipv6"):
            if t == "ip":
                cur = (ip4s[i4] if i4 < len(ip4s) else "?", ip4d[i4] if i4 < len(ip4d) else "?")
                i4 += 1
            else:
                cur = (ip6s[i6] if i6 < len(ip6s) else "?", ip6d[i6] if i6 < len(ip6d) else "?")
                i6 += 1
            # IP directly after IP (IPv6 extension headers in between): IP-in-IP
            j = pos - 1
            while j >= 0 and toks[j].startswith("ipv6."):
                j -= 1
            if last_ip is not None and j >= 0 and toks[j] in ("ip", "ipv6"):
                tunnel.append({"type": "ipip" if t == "ip" else "ip6ip", "outer_src": last_ip[0],
                               "outer_dst": last_ip[1], "id": None})
            last_ip, inner_fam = cur, t
        elif t == "vlan":
            vlan.append(int(take("vlan.id"), 0))
        elif t == "ieee8021ad":
            vlan.append(int(take("ieee8021ad.id"), 0))
        elif t == "vxlan":
            tunnel.append({"type": "vxlan", "outer_src": last_ip[0], "outer_dst": last_ip[1],
                           "id": int(take("vxlan.vni"), 0)})
        elif t == "geneve":
            tunnel.append({"type": "geneve", "outer_src": last_ip[0], "outer_dst": last_ip[1],
                           "id": int(take("geneve.vni"), 0)})
        elif t == "gre":
            haskey = flag(take("gre.flags.key") or "")
            key = take("gre.key") if haskey else None
            if pos + 1 < len(toks) and toks[pos + 1] == "erspan":
                tunnel.append({"type": "erspan", "outer_src": last_ip[0], "outer_dst": last_ip[1],
                               "id": int(take("erspan.spanid"), 0)})
            else:
                tunnel.append({"type": "gre", "outer_src": last_ip[0], "outer_dst": last_ip[1],
                               "id": int(key, 0) if key else None})
        elif t == "mpls":
            for _ in range(16):  # one "mpls" in frame.protocols for the whole label stack
                lab, bottom = take("mpls.label"), take("mpls.bottom")
                if lab is None:
                    break
                tunnel.append({"type": "mpls", "outer_src": None, "outer_dst": None, "id": int(lab, 0)})
                if flag(bottom or "1"):
                    break
        elif t == "pppoes":
            sid = take("pppoe.session_id")
            tunnel.append({"type": "pppoe", "outer_src": None, "outer_dst": None,
                           "id": int(sid, 0) if sid else None})
        elif t == "teredo":
            tunnel.append({"type": "teredo", "outer_src": last_ip[0], "outer_dst": last_ip[1], "id": None})
    if last_ip is None:
        last_ip = ("?", "?")

    def last(k):
        v = occ(d, k)
        return v[-1] if v else ""

    sport, dport = last("tcp.srcport"), last("tcp.dstport")
    inner = [inner_fam] + [last(k) for k in (IPF if inner_fam == "ip" else IP6F)] + list(last_ip) + \
            [last(k) for k in TCPF]
    return {"frame": int(d["frame.number"]), "ns": epoch_ns(d["frame.time_epoch"]),
            "iface": d["frame.interface_id"], "protocols": d["frame.protocols"],
            "stream": int(last("tcp.stream")), "src": ep(last_ip[0], sport), "dst": ep(last_ip[1], dport),
            "syn": flag(last("tcp.flags.syn")), "ack": flag(last("tcp.flags.ack")),
            "fin": flag(last("tcp.flags.fin")), "rst": flag(last("tcp.flags.reset")),
            "len": int(last("tcp.len") or 0), "ka": last("tcp.analysis.keep_alive") != "",
            "seq": int(last("tcp.seq_raw") or 0), "ackno": int(last("tcp.ack_raw") or 0),
            "retx": last("tcp.analysis.retransmission") != "", "dupack": last("tcp.analysis.duplicate_ack") != "",
            "payload": last("tcp.payload").replace(":", "").lower(),
            "crlf": last("tcp.payload").replace(":", "").lower() == "0d0a",
            "tunnel": tunnel, "vlan": vlan or None, "dupkey": "\t".join(inner)}


def context(p):
    """Encapsulation context of a packet, the same for both directions."""
    tun = tuple((t["type"], tuple(sorted([str(t["outer_src"]), str(t["outer_dst"])])), t["id"])
                for t in p["tunnel"])
    return (tun, tuple(p["vlan"] or ()))


def duplicates(pkts, window_ns, cut_window_ns=50_000_000):
    """Frame numbers of packets that repeat an inner IP packet seen < window before,
    and of copies cut differently: a data segment (payload, SYN or FIN) whose
    sequence space one encapsulation context showed of its direction less than
    cut_window before, while it is new in its own context (the bare copy of a
    tunnelled connection on an overlay node with segmentation offload: one
    large segment where the underlay carries several, or GRO's one for the
    underlay's several)."""
    seen, dups = {}, []
    shown = {}  # (src, dst, context) -> (end of sequence space shown, ns it advanced)

    def before(a, b):  # a < b in 32-bit sequence space
        return a != b and ((b - a) % (1 << 32)) < (1 << 31)

    for p in pkts:
        n = p["len"] + int(p["syn"]) + int(p["fin"])
        end = (p["seq"] + n) % (1 << 32)
        own_key = (p["src"], p["dst"], context(p))
        own = shown.get(own_key)
        fresh = n > 0 and (own is None or before(own[0], end))
        t = seen.get(p["dupkey"])
        copy = t is not None and abs(p["ns"] - t) < window_ns
        if not copy and fresh:
            for k, (e, at) in shown.items():
                if k[:2] == own_key[:2] and k != own_key and not before(e, end) and p["ns"] - at <= cut_window_ns:
                    copy = True
                    break
        if fresh:
            shown[own_key] = (end, p["ns"])
        if copy:
            dups.append(p["frame"])
            continue
        seen[p["dupkey"]] = p["ns"]
    return dups


def http_pass(cap, ports, decode):
    dec = list(decode) + [f"tcp.port=={p},http" for p in ports]
    return tshark(["-r", cap] + prefs(dec) + ["-o", "http.desegment_headers:TRUE", "-o", "http.desegment_body:TRUE",
                                             "-Y", "http && !icmp && !icmpv6", "-T", "fields", "-E", "separator=/t",
                                             "-E", "occurrence=a", "-E", f"aggregator={AGG}"]
                  + sum([["-e", f] for f in HTTP_FIELDS], []))


def write_subset(cap, frames, out, keep=True):
    """Write the frames of cap (keep=True) or all others (keep=False) to out."""
    sel = "frame.number in {" + ",".join(str(f) for f in frames) + "}"
    subprocess.run(["tshark", "-n", "-r", cap, "-Y", sel if keep else f"!({sel})", "-w", out],
                   check=True, capture_output=True)


# -- per-connection facts (samples/record/expect.py's definitions) ---------------

METHODS = ("GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "TRACE ", "CONNECT ")


def mark_retransmissions(pk):
    """Own retransmission flag ("rtx"): a data segment all of whose bytes were seen
    before in its direction (a segment captured out of order fills a hole and is
    not one). tshark's tcp.analysis.retransmission is kept ("retx") but is fooled
    by mirror copies delivered out of order (a request seen after its response)."""
    base, seen = {}, {}
    for p in pk:
        d = p["src"]
        if d not in base:
            base[d] = p["seq"] + (1 if p["syn"] else 0)
            seen[d] = []  # merged [start, end) intervals, relative
        rel = (p["seq"] - base[d]) % (1 << 32)
        if p["syn"]:
            p["rtx"] = False
            continue
        end = rel + p["len"]
        iv = seen[d]
        p["rtx"] = p["len"] > 0 and any(a <= rel and end <= b for a, b in iv)
        if p["len"] > 0:
            iv.append((rel, end))
            iv.sort()
            merged = [iv[0]]
            for a, b in iv[1:]:
                if a <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], b))
                else:
                    merged.append((a, b))
            seen[d] = merged


def connection(pk, http):
    """pk: the connection's packets in capture order; http: its HTTP-pass rows."""
    mark_retransmissions(pk)
    client = server = None
    syn_seen = guessed = False
    for p in pk:
        if p["syn"] and not p["ack"]:
            client, server, syn_seen = p["src"], p["dst"], True
            break
    reqs, resps, interim = [], [], []
    for d in http:
        fr, t = int(d["frame.number"]), epoch_ns(d["frame.time_epoch"])
        methods = [m for m in d["http.request.method"].split(AGG) if m]
        codes = [int(x) for x in d["http.response.code"].split(AGG) if x]
        conn_hdrs = [x.lower() for x in d["http.connection"].split(AGG) if x]
        if methods:
            vers = d["http.request.version"].split(AGG)
            for i, m in enumerate(methods):
                reqs.append({"frame": fr, "t": t, "method": m, "version": vers[i] if i < len(vers) else None,
                             "connection": conn_hdrs[i] if len(conn_hdrs) == len(methods) else
                             (conn_hdrs[-1] if conn_hdrs and i == len(methods) - 1 else None)})
            if client is None:
                guessed = True
                p = next(p for p in pk if p["frame"] == fr)
                client, server = p["src"], p["dst"]
        if codes:
            vers = d["http.response.version"].split(AGG)
            lines = [x for x in d["http.response.line"].split(AGG) if x]
            final = [x for x in codes if x >= 200]
            ka = None
            if len(codes) == 1:
                for ln in lines:
                    ln = ln.replace("\\r\\n", "").strip()
                    if ln.lower().startswith("keep-alive:"):
                        ka = ln.split(":", 1)[1].strip()
            for i, code in enumerate(codes):
                if code < 200:
                    interim.append(code)
                    continue
                resps.append({"frame": fr, "t": t, "status": code, "version": vers[i] if i < len(vers) else None,
                              "connection": conn_hdrs[i] if len(conn_hdrs) == len(codes) else
                              (conn_hdrs[-1] if conn_hdrs and len(final) == 1 else None),
                              "keep_alive": ka, "interim": interim})
                interim = []
    if client is None:  # no SYN, no request: the higher port is the client
        a, b = pk[0]["src"], pk[0]["dst"]
        pa, pb = int(a.rsplit(":", 1)[1]), int(b.rsplit(":", 1)[1])
        client, server = (a, b) if pa >= pb else (b, a)
        guessed = True
    cl = [p for p in pk if p["src"] == client]
    sv = [p for p in pk if p["src"] == server]
    prev_done = 0
    for k, rq in enumerate(reqs):
        if k > 0 and reqs[k - 1]["frame"] == rq["frame"]:
            rq["start"], rq["start_frame"] = rq["t"], rq["frame"]
        else:
            seg = next((p for p in cl if p["len"] > 0 and not p["ka"] and not p["rtx"] and not p["crlf"]
                        and prev_done < p["frame"] <= rq["frame"]), None)
            if seg is None:
                seg = next(p for p in cl if p["frame"] == rq["frame"])
            rq["start"], rq["start_frame"] = seg["ns"], seg["frame"]
        prev_done = rq["frame"]
    gaps, periods, pipelined = [], [], False
    for k in range(1, len(reqs)):
        if k - 1 < len(resps):
            g = reqs[k]["start"] - resps[k - 1]["t"]
            if g > 0:
                gaps.append(secs(g))
                periods.append({"after_transaction": k, "start_at": rfc3339(resps[k - 1]["t"]),
                                "end_at": rfc3339(reqs[k]["start"]), "duration_s": secs(g)})
            else:
                pipelined = True
        else:
            pipelined = True
    fins = [p for p in pk if p["fin"]]
    rsts = [p for p in pk if p["rst"]]
    first_fin = fins[0] if fins else None
    first_rst = rsts[0] if rsts else None
    fin_reordered = False
    if first_fin:
        # a FIN that acknowledges the other side's FIN was sent after it, whatever the
        # capture order says (mirror copies delivered out of order)
        other = next((p for p in fins if p["src"] != first_fin["src"]), None)
        if other and first_fin["ack"] and first_fin["ackno"] == (other["seq"] + other["len"] + 1) % (1 << 32):
            first_fin, fin_reordered = other, True
    first_fin_by = None if not first_fin else ("client" if first_fin["src"] == client else "server")
    rst_by = None if not first_rst else ("client" if first_rst["src"] == client else "server")
    ends = [p for p in (first_fin, first_rst) if p]
    first_end = min(ends, key=lambda p: p["frame"]) if ends else None
    final_idle = final_obj = None
    if first_end:
        before = [r for r in resps if r["frame"] < first_end["frame"]]
        if before:
            start, after = before[-1]["t"], len(before)
        else:
            hs = [p for p in cl if p["ack"] and not p["syn"]]
            start, after = (hs[0]["ns"] if hs else None), 0
        if start is not None:
            final_idle = secs(first_end["ns"] - start)
            final_obj = {"after_transaction": after, "start_at": rfc3339(start),
                         "end_at": rfc3339(first_end["ns"]), "duration_s": final_idle}
    probes_c = sum(1 for p in cl if p["ka"])
    probes_s = sum(1 for p in sv if p["ka"])

    anomalies = []
    srv_fin = next((p for p in fins if p["src"] == server), None)
    srv_rst = next((p for p in rsts if p["src"] == server), None)
    cli_fin = next((p for p in fins if p["src"] == client), None)
    unanswered = reqs[len(resps):]
    if len(reqs) > len(resps):
        anomalies.append("last-request-unanswered")
    after_fin = [p for p in cl if srv_fin and p["len"] > 0 and not p["ka"] and p["frame"] > srv_fin["frame"]
                 and (not cli_fin or p["frame"] < cli_fin["frame"])]

    def idle_before(rq):
        return len(resps) >= 1 and rq["start"] > resps[len(resps) - 1]["t"]

    if fin_reordered:
        anomalies.append("fin-order-differs-from-capture-order")
    if after_fin and unanswered:
        anomalies.append("request-after-server-fin")
        reason = "keepalive-race"
        evidence = f"client sent request bytes {secs(after_fin[0]['ns'] - srv_fin['ns']):.6f} s after the server's FIN"
    elif unanswered and srv_rst and not srv_fin and idle_before(unanswered[0]) \
            and srv_rst["frame"] > unanswered[0]["start_frame"]:
        anomalies.append("request-answered-by-server-rst")
        reason = "keepalive-race"
        evidence = "server answered the request that followed an idle period with a RST"
    elif unanswered and srv_fin and first_fin_by == "server" and idle_before(unanswered[0]) \
            and unanswered[0]["start_frame"] < srv_fin["frame"]:
        anomalies.append("request-lost-at-server-close")
        reason = "keepalive-race"
        evidence = "the request that followed an idle period reached the server before its FIN and was never answered"
    elif first_rst and (len({p["src"] for p in fins}) < 2
                        or first_rst["frame"] < max(next(p for p in fins if p["src"] == x)["frame"]
                                                    for x in (client, server))):
        reason = "reset"
        evidence = f"{rst_by} sent RST"
    elif reqs and reqs[-1]["version"] == "HTTP/1.0" and "keep-alive" not in (reqs[-1]["connection"] or ""):
        reason = "http10-no-keepalive"
        evidence = f"HTTP/1.0 request without Connection: keep-alive; {first_fin_by} sent the first FIN"
    elif reqs and "close" in (reqs[-1]["connection"] or ""):
        reason = "client-close-header"
        evidence = f"the last request carried Connection: close; {first_fin_by} sent the first FIN"
    else:
        kmax = None
        for i, r in enumerate(resps):
            if r["keep_alive"] and "max=" in r["keep_alive"]:
                kmax = (i + 1, int(r["keep_alive"].split("max=")[1].split(",")[0]))
        if first_fin_by == "server" and kmax and len(resps) == kmax[0] + kmax[1] \
                and resps and "close" in (resps[-1]["connection"] or ""):
            reason = "max-requests"
            evidence = f"response {kmax[0]} advertised Keep-Alive max={kmax[1]}; then Connection: close"
        elif resps and "close" in (resps[-1]["connection"] or ""):
            reason = "server-close-header"
            evidence = "the last response carried Connection: close, the request did not"
        elif first_fin_by == "server" and not unanswered:
            reason = "server-idle-timeout"
            evidence = f"server FIN {final_idle} s after the last response"
        elif first_fin_by == "client" and not unanswered:
            reason = "client-idle-close"
            evidence = f"client FIN {final_idle} s after the last response"
        elif not fins and not rsts:
            reason = "capture-ended"
            evidence = "no FIN or RST captured"
        else:
            reason, evidence = "unknown", "no rule applies"
    adv = None
    kas = [r["keep_alive"] for r in resps if r["keep_alive"]]
    if kas:
        adv = {"timeout": None, "max": None}
        for part in kas[-1].split(","):
            k, _, v = part.strip().partition("=")
            if k in ("timeout", "max") and v.isdigit():
                adv[k] = int(v)
    syn = next((p for p in cl if p["syn"] and not p["ack"]), None)
    synack = next((p for p in sv if p["syn"] and p["ack"]), None)
    hack = next((p for p in cl if p["ack"] and not p["syn"]), None)
    handshake = None
    if syn and synack and hack:
        handshake = {"syn_at": rfc3339(syn["ns"]), "synack_at": rfc3339(synack["ns"]),
                     "ack_at": rfc3339(hack["ns"]), "rtt_s": secs(hack["ns"] - syn["ns"])}
    first_c = cl[0] if cl else pk[0]
    # independent check: request/status lines at the start of segment payloads
    lines_req = sum(1 for p in cl if p["len"] > 0 and not p["rtx"]
                    and bytes.fromhex(p["payload"][:20]).decode("latin-1").startswith(METHODS))
    lines_resp = sum(1 for p in sv if p["len"] > 0 and not p["rtx"]
                     and bytes.fromhex(p["payload"][:16]).decode("latin-1").startswith("HTTP/1."))
    return {
        "client": client, "server": server, "client_guessed": guessed, "tcp_stream": pk[0]["stream"],
        "syn_seen": syn_seen,
        "first_packet_at": rfc3339(min(p["ns"] for p in pk)), "last_packet_at": rfc3339(max(p["ns"] for p in pk)),
        "handshake": handshake,
        "packets": {"client": len(cl), "server": len(sv)},
        "payload_bytes": {"client": sum(p["len"] for p in cl if not p["rtx"]),
                          "server": sum(p["len"] for p in sv if not p["rtx"])},
        "requests": len(reqs), "responses": len(resps),
        "methods": [r["method"] for r in reqs], "statuses": [r["status"] for r in resps],
        "idle_gaps_s": gaps, "final_idle_s": final_idle,
        "first_fin_by": first_fin_by, "rst_by": rst_by, "close_reason": reason,
        "advertised_keepalive": adv, "pipelined": pipelined,
        "tcp_keepalive_probes": probes_c + probes_s,
        "tcp_keepalive_probes_by": {"client": probes_c, "server": probes_s},
        "idle_periods": periods, "final_idle": final_obj,
        "close": {"first_fin_by": first_fin_by, "first_fin_at": rfc3339(first_fin["ns"]) if first_fin else None,
                  "rst_by": rst_by, "rst_at": rfc3339(first_rst["ns"]) if first_rst else None,
                  "reason": reason, "evidence": evidence},
        "retransmissions": {"client": sum(1 for p in cl if p["rtx"]), "server": sum(1 for p in sv if p["rtx"])},
        "tshark_retransmissions": sum(1 for p in pk if p["retx"]),
        "anomalies": anomalies,
        "tunnel": first_c["tunnel"] or None, "vlan": first_c["vlan"],
        "_lines": (lines_req, lines_resp),
        "_first_ns": min(p["ns"] for p in pk),
    }


def connections(cap, ports, decode, problems):
    """Dissect cap; returns (connection list, packet list)."""
    pkts = packet_pass(cap, decode)
    hrows = http_pass(cap, ports, decode)
    by_stream, order = {}, []
    for p in pkts:
        if p["stream"] not in by_stream:
            by_stream[p["stream"]] = []
            order.append(p["stream"])
        by_stream[p["stream"]].append(p)
    http = {}
    for r in hrows:
        r += [""] * (len(HTTP_FIELDS) - len(r))
        d = dict(zip(HTTP_FIELDS, r))
        http.setdefault(int(d["tcp.stream"].split(AGG)[-1]), []).append(d)
    out = []
    for s in order:
        pk = by_stream[s]
        for side in {p["src"] for p in pk}:
            ctx = {context(p) for p in pk if p["src"] == side}
            if len(ctx) > 1:
                problems.append(f"tcp.stream {s} mixes encapsulation contexts {sorted(map(str, ctx))}")
        out.append(connection(pk, http.get(s, [])))
    return out, pkts


def readme(d):
    """Rewrite the generated table of D/README.md (between <!-- table:begin/end -->)."""
    begin, end = "<!-- table:begin -->", "<!-- table:end -->"
    lines = [begin, "", "| capture | link type | packets | copies | TCP paths tshark shows | connections: close reasons "
                        "| encapsulation (client->server) |", "|---|---|---|---|---|---|---|"]
    for name in sorted(os.listdir(d)):
        if not name.endswith(".truth.json"):
            continue
        with open(os.path.join(d, name)) as f:
            t = json.load(f)
        cap = t["capture"]
        files = t.get("files") or [t["file"]]
        fname = t["file"] + (f" (+{len(files) - 1} more)" if len(files) > 1 else "")
        lt = "/".join(cap["link_types"]) + (f", snaplen {cap['snaplen']}" if cap["snaplen"] < 65535 else "")
        paths = "<br>".join(f"`{k}` ×{v}" for k, v in sorted(cap.get("protocol_paths", {}).items(),
                                                              key=lambda kv: -kv[1]))
        reasons = {}
        for c in t["connections"]:
            reasons[c["close_reason"]] = reasons.get(c["close_reason"], 0) + 1
        rs = ", ".join(f"{v}× {k}" for k, v in reasons.items())
        encs = []
        for c in t["connections"]:
            e = " / ".join(f"{x['type']} {x['outer_src'] or ''}{'→' + x['outer_dst'] if x['outer_dst'] else ''}"
                           f"{' id ' + str(x['id']) if x['id'] is not None else ''}" for x in (c["tunnel"] or []))
            if c["vlan"]:
                e = (e + " / " if e else "") + "vlan " + ",".join(map(str, c["vlan"]))
            if e and e not in encs:
                encs.append(e)
        drops = f"; {cap['dropped']['ifdrop']} dropped (ISB)" if cap.get("dropped") and cap["dropped"]["ifdrop"] else ""
        lines.append(f"| `{fname}` | {lt} | {cap['packets']} | {cap['duplicates']}{drops} | {paths} "
                     f"| {len(t['connections'])}: {rs} | {'<br>'.join(encs) or '–'} |")
    lines += ["", end]
    path = os.path.join(d, "README.md")
    with open(path) as f:
        text = f.read()
    a, b = text.index(begin), text.index(end) + len(end)
    with open(path, "w") as f:
        f.write(text[:a] + "\n".join(lines) + text[b:])


def main():
    args = sys.argv[1:]
    opt = {"scenario": None, "description": "", "tool": None, "tcpdump_log": None, "files": None, "full": None,
           "window": 0.2, "expect": None}
    decode, notes, table = ["udp.port==8472,vxlan"], [], False
    if args[:1] == ["--info"]:
        json.dump(file_info(args[1]), sys.stdout, indent=1)
        print()
        return
    if args[:1] == ["--readme"]:
        readme(args[1])
        return
    summary = False
    while args and args[0].startswith("--"):
        a = args.pop(0)
        if a == "--table":
            table = True
        elif a == "--summary":
            summary = True
        elif a == "--decode":
            decode.append(args.pop(0))
        elif a == "--note":
            notes.append(args.pop(0))
        elif a in ("--scenario", "--description", "--tool", "--tcpdump-log", "--files", "--full", "--window",
                   "--expect-reasons"):
            opt[{"--tcpdump-log": "tcpdump_log", "--expect-reasons": "expect"}.get(a, a[2:])] = args.pop(0)
        else:
            sys.exit(__doc__)
    if not args:
        sys.exit(__doc__)
    cap = args[0]
    ports = [int(p) for p in args[1:]] or [8080]
    name = os.path.basename(cap)
    scenario = opt["scenario"] or name.split(".")[0]
    global TSHARK_VERSION
    TSHARK_VERSION = tshark_version()
    tmp = tempfile.mkdtemp(prefix="hl-truth.")
    problems, vnotes = [], []
    try:
        files = opt["files"].split(",") if opt["files"] else [cap]
        finfo = [file_info(f) for f in files]
        src = files[0]
        if len(files) > 1:
            src = os.path.join(tmp, "merged.pcapng")
            subprocess.run(["mergecap", "-w", src] + files, check=True, capture_output=True)
        if opt["full"]:
            # the twin must hold the same packets: same count, same original lengths, the
            # short capture's bytes a prefix of the twin's, timestamps within 1 ms
            full = file_info(opt["full"], records=True)["records"]
            mine = file_info(cap, records=True)["records"]
            same = len(full) == len(mine) and all(a[2] == b[2] and b[3].startswith(a[3])
                                                  for a, b in zip(mine, full))
            dt = max((abs(a[0] - b[0]) for a, b in zip(mine, full)), default=0)
            if not same or dt > 1_000_000:
                problems.append(f"full-snaplen twin differs: {len(full)} vs {len(mine)} packets, "
                                f"same bytes {same}, max time difference {dt} ns")
            vnotes.append(f"truth from the full-snaplen twin {os.path.basename(opt['full'])} (not shipped): "
                          f"{len(full)} packets, the same as here (original lengths, the kept bytes), "
                          f"timestamps at most {dt / 1000:.0f} us apart (two sockets stamp separately)")
            src = opt["full"]
        pkts = packet_pass(src, decode)
        paths = {}
        for p in pkts:
            k = p["protocols"].split(":tcp")[0] + ":tcp"
            paths[k] = paths.get(k, 0) + 1
        dups = duplicates(pkts, int(float(opt["window"]) * 1e9))
        flagged = sum(1 for p in pkts if p["retx"] or p["dupack"])
        tcp_packets_all = len(pkts)
        if dups:
            dd = os.path.join(tmp, "dedup.pcapng")
            write_subset(src, dups, dd, keep=False)
            vnotes.append(f"{len(dups)} copies removed before the truth was computed; tshark had flagged "
                          f"{flagged} packets of the original as retransmission or duplicate ACK")
            src = dd
            pkts = packet_pass(src, decode)
            left = duplicates(pkts, int(float(opt["window"]) * 1e9))
            if left:
                problems.append(f"{len(left)} copies left after removing them")
        # the same inner endpoints in two contexts (one direction of one tcp.stream
        # arriving in two VNIs / GRE keys): dissect each context on its own
        ctx_of = {}
        for p in pkts:
            ctx_of.setdefault((p["stream"], p["src"]), set()).add(context(p))
        clash = any(len(v) > 1 for v in ctx_of.values())
        conns = []
        if clash:
            groups = {}
            for p in pkts:
                groups.setdefault(context(p), []).append(p["frame"])
            vnotes.append(f"the same inner endpoints occur in {len(groups)} encapsulation contexts: "
                          f"each was dissected from its own cut of the capture")
            for i, (ctx, frames) in enumerate(sorted(groups.items(), key=lambda kv: kv[1][0])):
                part = os.path.join(tmp, f"ctx{i}.pcapng")
                write_subset(src, frames, part)
                cs, _ = connections(part, ports, decode, problems)
                conns += cs
        else:
            conns, _ = connections(src, ports, decode, problems)
        conns.sort(key=lambda c: c["_first_ns"])
        lines_ok = True
        for i, c in enumerate(conns, 1):
            c["id"] = i
            lr, ls = c.pop("_lines")
            c.pop("_first_ns")
            if (lr, ls) != (c["requests"], c["responses"]) and not opt["full"]:
                lines_ok = False
                problems.append(f"conn {i}: {lr} request lines / {ls} status lines at segment starts, "
                                f"tshark HTTP: {c['requests']}/{c['responses']}")
        if opt["expect"] is not None:
            want = [x for x in opt["expect"].split(",") if x]
            got = [c["close_reason"] for c in conns]
            if got != want:
                print(f"truth.py: {name}: close reasons {got}, want {want}", file=sys.stderr)
                sys.exit(3)
        for c in conns:
            if table or summary:
                print(file=sys.stdout if table else sys.stderr, *[f"{c['id']}: {c['client']} -> {c['server']} {c['requests']} req {c['methods']} -> "
                      f"{c['statuses']}; idle {['%.3f' % g for g in c['idle_gaps_s']]}; final "
                      f"{c['final_idle_s'] if c['final_idle_s'] is None else '%.3f' % c['final_idle_s']}; "
                      f"FIN {c['first_fin_by']}; RST {c['rst_by']}; {c['close_reason']}; "
                      f"pk {c['packets']['client']}/{c['packets']['server']}; "
                      f"tunnel {[(t['type'], t['id']) for t in (c['tunnel'] or [])] or None}; vlan {c['vlan']}"])
        if table or summary:
            print(f"duplicates {len(dups)}; problems {problems}", file=sys.stdout if table else sys.stderr)
        if table:
            return
        first = finfo[0]
        stats = None
        if opt["tcpdump_log"]:
            stats = {}
            with open(opt["tcpdump_log"]) as f:
                for line in f:
                    n, _, what = line.strip().partition(" packets ")
                    if n.isdigit() and what in ("captured", "received by filter", "dropped by kernel"):
                        stats[what] = stats.get(what, 0) + int(n)
        isb = [s for fi in finfo for s in fi["isb"]]
        dropped = None
        if isb:
            dropped = {"ifdrop": sum(s.get("ifdrop", 0) for s in isb), "osdrop": sum(s.get("osdrop", 0) for s in isb),
                       "per_interface": isb}
        doc = {
            "schema": "httplife-corpus-truth/v1",
            "scenario": scenario, "set": "field", "file": name,
            "files": [os.path.basename(f) for f in files] if len(files) > 1 else None,
            "description": opt["description"],
            "capture": {
                "format": first["format"],
                "link_type": first["link_types"][0] if len(first["link_types"]) == 1 else first["link_types"],
                "link_types": first["link_types"],
                "interfaces": first["interfaces"],
                "tool": opt["tool"],
                "packets": sum(fi["packets"] for fi in finfo),
                "tcp_packets": tcp_packets_all,
                "bytes": sum(fi["bytes"] for fi in finfo),
                "first_packet_at": rfc3339(min(fi["min_ts_ns"] for fi in finfo if fi["min_ts_ns"] is not None)),
                "last_packet_at": rfc3339(max(fi["max_ts_ns"] for fi in finfo if fi["max_ts_ns"] is not None)),
                "timestamps_backwards": sum(fi["timestamps_backwards"] for fi in finfo),
                "snaplen": min(i["snaplen"] for fi in finfo for i in fi["interfaces"]),
                "truncated_packets": sum(fi["truncated_packets"] for fi in finfo),
                "duplicates": len(dups),
                "protocol_paths": paths,
                "dropped": dropped,
                "comments": {"section": first["shb_comments"], "packets": first["packet_comments"]}
                if first["format"] == "pcapng" else None,
                "tcpdump_stats": stats,
                "truth_from": os.path.basename(opt["full"]) if opt["full"] else None,
            },
            "tolerances": {"time_s": 0.005, "relative": 0.02},
            "verification": {"method": f"truth.py: tshark packet and HTTP passes ({TSHARK_VERSION})",
                             "payload_lines": "agree" if lines_ok else "differ",
                             "problems": problems + [p for fi in finfo for p in fi["problems"]]},
            "notes": notes + vnotes,
            "connections": conns,
        }
        json.dump(doc, sys.stdout, indent=1)
        print()
        if problems:
            print(f"truth.py: {name}: problems: {problems}", file=sys.stderr)
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
