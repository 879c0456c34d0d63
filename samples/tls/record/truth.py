#!/usr/bin/env python3
"""Derive the per-connection truth of a TLS sample capture from tshark.

usage: truth.py [--table] [--tcpdump-log LOG] [--describe JSON] CAPTURE KEYS PORT [PORT...]
       truth.py --readme DIR

Writes NAME.truth.json (schema httplife-tls-truth/v1) to stdout, or with
--table a one-line-per-connection summary. KEYS is the capture's key log
(NSS format), given to tshark as -o tls.keylog_file:KEYS; each PORT is decoded
as TLS (-d tcp.port==PORT,tls). --describe adds the scenario's description
(a JSON object: description, server, client) verbatim. --readme rewrites the
generated block of DIR/README.md (between <!-- facts:begin --> and
<!-- facts:end -->) from DIR/*.truth.json.

tshark passes (the approach of samples/record/expect.py, over TLS):
  * TCP: every segment (stream, endpoints, flags, payload length);
  * TLS records: per frame, the records' content types (after decryption the
    TLS 1.3 inner type), their senders, alerts (level, description),
    handshake message types (KeyUpdate = 24);
  * hellos: ClientHello SNI / ALPN / random, ServerHello version (the
    supported_versions extension when present), suite, ALPN, extensions,
    random (a HelloRetryRequest's is fixed), EncryptedExtensions ALPN;
  * HTTP over the decrypted streams: each request and response is reported
    in the frame where tshark completes it, which is the message's end;
    HTTP/2 requests (:method, :path) and responses (:status) likewise.
Definitions:
  * request start = the first client frame carrying application data after
    the frame that completed the previous response (or the handshake);
  * idle gap k = start(request k+1) - end(response k), when positive;
  * final idle = first FIN or RST - end of the last response before it;
  * close_notify_by = the side whose close_notify alert tshark decoded first.
"""
import json
import os
import subprocess
import sys

AGG = "\x1e"
HRR_RANDOM = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
VERSIONS = {"0x0301": "TLS 1.0", "0x0302": "TLS 1.1", "0x0303": "TLS 1.2", "0x0304": "TLS 1.3"}


def tshark(args):
    out = subprocess.run(["tshark", "-n"] + args, capture_output=True, text=True, check=True)
    return [line.split("\t") for line in out.stdout.split("\n") if line]


def fields(rows, names):
    for r in rows:
        r += [""] * (len(names) - len(r))
        yield dict(zip(names, r))


def run(cap, names, decode, extra=()):
    args = ["-r", cap] + decode + list(extra) + ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
                                                 "-E", f"aggregator={AGG}"]
    for n in names:
        args += ["-e", n]
    return list(fields(tshark(args), names))


def ep(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def ts(epoch):
    """RFC 3339 UTC with 9 fractional digits from tshark's frame.time_epoch."""
    whole, _, frac = epoch.partition(".")
    frac = (frac + "000000000")[:9]
    import datetime
    d = datetime.datetime.fromtimestamp(int(whole), datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + "." + frac + "Z"


def num(epoch):
    whole, _, frac = epoch.partition(".")
    return int(whole) * 10**9 + int((frac + "000000000")[:9])


def agg(v):
    return [x for x in v.split(AGG) if x != ""]


SUITES = {"0x1301": "TLS_AES_128_GCM_SHA256", "0x1302": "TLS_AES_256_GCM_SHA384",
          "0x1303": "TLS_CHACHA20_POLY1305_SHA256", "0xc02f": "ECDHE-RSA-AES128-GCM-SHA256",
          "0xc030": "ECDHE-RSA-AES256-GCM-SHA384", "0xc013": "ECDHE-RSA-AES128-SHA",
          "0xc027": "ECDHE-RSA-AES128-SHA256", "0xc028": "ECDHE-RSA-AES256-SHA384",
          "0xcca8": "ECDHE-RSA-CHACHA20-POLY1305", "0x009c": "AES128-GCM-SHA256", "0x0035": "AES256-SHA"}


def readme(d):
    begin, end = "<!-- facts:begin -->", "<!-- facts:end -->"
    lines = [begin]
    for name in sorted(os.listdir(d)):
        if not name.endswith(".truth.json"):
            continue
        doc = json.load(open(os.path.join(d, name)))
        st = doc.get("tcpdump_stats") or {}
        lines += ["", f"#### {doc['file']}", "", doc.get("description", ""), "",
                  f"{len(doc['connections'])} connection(s), port {', '.join(map(str, doc['server_ports']))}; "
                  f"tcpdump: {st.get('captured', '?')} packets captured, {st.get('dropped by kernel', '?')} dropped by kernel.", "",
                  "| # | version, suite | SNI / ALPN | requests → statuses | idle gaps s | close_notify by | first FIN | RST |",
                  "|---|---|---|---|---|---|---|---|"]
        for i, c in enumerate(doc["connections"], 1):
            t = c["tls"]
            extra = [x for x, on in (("resumed", t["resumed"]), ("HelloRetryRequest", t["hello_retry"]),
                                     ("HTTP/2", c["http2"])) if on]
            if sum(t["key_updates"].values()):
                extra.append(f"KeyUpdates c{t['key_updates']['client']}/s{t['key_updates']['server']}")
            lines.append(
                f"| {i} | {t['version']} {SUITES.get(t['cipher'], t['cipher'])}{' (' + ', '.join(extra) + ')' if extra else ''} "
                f"| {t['sni'] or '–'} / {t['alpn'] or '–'} "
                f"| {' '.join(r['method'] + ' ' + r['uri'] for r in c['requests'])} → {' '.join(str(r['status']) for r in c['responses']) or '–'} "
                f"| {', '.join('%.3f' % g for g in c['idle_gaps_s']) or '–'} | {t['close_notify_by'] or '–'} "
                f"| {c['first_fin_by'] or '–'} | {c['rst_by'] or '–'} |")
    lines += ["", end]
    path = os.path.join(d, "README.md")
    text = open(path).read()
    a, b = text.index(begin), text.index(end) + len(end)
    open(path, "w").write(text[:a] + "\n".join(lines) + text[b:])


def main():
    args = sys.argv[1:]
    if args and args[0] == "--readme":
        readme(args[1])
        return
    table, stats, desc = False, None, {}
    while args and args[0].startswith("--"):
        if args[0] == "--table":
            table, args = True, args[1:]
        elif args[0] == "--tcpdump-log":
            stats = {}
            for line in open(args[1]):
                n, _, what = line.strip().partition(" packets ")
                if n.isdigit() and what in ("captured", "received by filter", "dropped by kernel"):
                    stats[what] = int(n)
            args = args[2:]
        elif args[0] == "--describe":
            desc = json.loads(args[1])
            args = args[2:]
        else:
            sys.exit(__doc__)
    if len(args) < 3:
        sys.exit(__doc__)
    cap, keys, ports = args[0], args[1], [int(p) for p in args[2:]]
    decode = ["-o", f"tls.keylog_file:{keys}", "-o", "tcp.desegment_tcp_streams:TRUE",
              "-o", "tls.desegment_ssl_records:TRUE", "-o", "tls.desegment_ssl_application_data:TRUE",
              "-o", "http.desegment_headers:TRUE", "-o", "http.desegment_body:TRUE"]
    for p in ports:
        decode += ["-d", f"tcp.port=={p},tls"]

    tcp = run(cap, ["frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "ipv6.src", "tcp.srcport",
                    "ip.dst", "ipv6.dst", "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin",
                    "tcp.flags.reset", "tcp.len"], [], ["-Y", "tcp"])
    recs = run(cap, ["frame.number", "frame.time_epoch", "tcp.stream", "tcp.srcport", "tls.record.content_type",
                     "tls.record.opaque_type", "tls.record.length", "tls.alert_message.level",
                     "tls.alert_message.desc", "tls.handshake.type"], decode, ["-Y", "tls"])
    hello = run(cap, ["frame.number", "tcp.stream", "tcp.srcport", "tls.handshake.type",
                      "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str",
                      "tls.handshake.version", "tls.handshake.extensions.supported_version",
                      "tls.handshake.ciphersuite", "tls.handshake.random", "tls.handshake.extension.type",
                      "tls.handshake.session_id"],
                decode, ["-Y", "tls.handshake.type==1 || tls.handshake.type==2 || tls.handshake.type==8"])
    http = run(cap, ["frame.number", "frame.time_epoch", "tcp.stream", "http.request.method", "http.request.uri",
                     "http.request.version", "http.response.code", "http.response.version",
                     "http2.headers.method", "http2.headers.path", "http2.headers.status"],
               decode, ["-Y", "http || http2.headers.method || http2.headers.status"])

    conns, order = {}, []
    for d in tcp:
        s = int(d["tcp.stream"])
        if s not in conns:
            conns[s] = {"pkts": [], "recs": [], "hello": [], "http": []}
            order.append(s)
        conns[s]["pkts"].append({
            "frame": int(d["frame.number"]), "t": d["frame.time_epoch"],
            "src": ep(d["ip.src"] or d["ipv6.src"], d["tcp.srcport"]),
            "dst": ep(d["ip.dst"] or d["ipv6.dst"], d["tcp.dstport"]), "sport": int(d["tcp.srcport"]),
            "syn": d["tcp.flags.syn"] in ("1", "True"), "ack": d["tcp.flags.ack"] in ("1", "True"),
            "fin": d["tcp.flags.fin"] in ("1", "True"), "rst": d["tcp.flags.reset"] in ("1", "True"),
            "len": int(d["tcp.len"] or 0)})
    for d in recs:
        conns[int(d["tcp.stream"])]["recs"].append(d)
    for d in hello:
        conns[int(d["tcp.stream"])]["hello"].append(d)
    for d in http:
        conns[int(d["tcp.stream"])]["http"].append(d)

    out = []
    for s in order:
        c = conns[s]
        pk = c["pkts"]
        syn = next((p for p in pk if p["syn"] and not p["ack"]), None)
        if syn is None:
            continue
        client, server = syn["src"], syn["dst"]
        cport = syn["sport"]
        side = lambda sport: "client" if int(sport) == cport else "server"  # noqa: E731
        tls = {"version": None, "cipher": None, "sni": None, "alpn": None, "client_alpn": [], "resumed": False,
               "hello_retry": False, "client_random": None,
               "key_updates": {"client": 0, "server": 0}, "close_notify_by": None,
               "close_notify_at": {"client": None, "server": None}, "alerts": [], "decrypted": False}
        full = False
        for d in c["hello"]:
            types = agg(d["tls.handshake.type"])
            who = side(d["tcp.srcport"])
            if "1" in types and who == "client" and tls["client_random"] is None:
                tls["sni"] = agg(d["tls.handshake.extensions_server_name"])[0] if d["tls.handshake.extensions_server_name"] else None
                tls["client_alpn"] = agg(d["tls.handshake.extensions_alpn_str"])
                tls["client_random"] = agg(d["tls.handshake.random"])[0].replace(":", "")
            if "2" in types and who == "server":
                rnd = agg(d["tls.handshake.random"])[0].replace(":", "")
                sv = agg(d["tls.handshake.extensions.supported_version"])
                v = sv[0] if sv else agg(d["tls.handshake.version"])[0]
                tls["version"] = VERSIONS.get(v, v)
                if rnd == HRR_RANDOM:
                    tls["hello_retry"] = True
                    continue
                tls["cipher"] = agg(d["tls.handshake.ciphersuite"])[0]
                exts = agg(d["tls.handshake.extension.type"])
                if tls["version"] == "TLS 1.3":
                    tls["resumed"] = "41" in exts
                else:
                    alpn = agg(d["tls.handshake.extensions_alpn_str"])
                    tls["alpn"] = alpn[0] if alpn else None
            if "8" in types and who == "server":
                alpn = agg(d["tls.handshake.extensions_alpn_str"])
                tls["alpn"] = alpn[0] if alpn else None
        app = {"client": [], "server": []}
        for d in c["recs"]:
            who = side(d["tcp.srcport"])
            cts = agg(d["tls.record.content_type"])
            hs = agg(d["tls.handshake.type"])
            if "11" in hs and who == "server":
                full = True
            tls["key_updates"][who] += hs.count("24")
            for ct in cts:
                if ct == "23":
                    app[who].append({"frame": int(d["frame.number"]), "t": d["frame.time_epoch"]})
            for lvl, desc_ in zip(agg(d["tls.alert_message.level"]), agg(d["tls.alert_message.desc"])):
                tls["alerts"].append({"by": who, "level": int(lvl), "description": int(desc_), "at": ts(d["frame.time_epoch"])})
                if desc_ == "0" and tls["close_notify_at"][who] is None:
                    tls["close_notify_at"][who] = ts(d["frame.time_epoch"])
                    if tls["close_notify_by"] is None:
                        tls["close_notify_by"] = who
        if tls["version"] != "TLS 1.3" and tls["version"] is not None:
            tls["resumed"] = not full
        tls["decrypted"] = bool(app["client"] or app["server"])
        # HTTP
        reqs, resps, h2 = [], [], False
        for d in c["http"]:
            fr, t = int(d["frame.number"]), d["frame.time_epoch"]
            for m, u, v in zip(agg(d["http.request.method"]), agg(d["http.request.uri"]),
                               agg(d["http.request.version"]) + [None] * 99):
                reqs.append({"method": m, "uri": u, "version": v, "frame": fr, "t": t})
            for code, v in zip(agg(d["http.response.code"]), agg(d["http.response.version"]) + [None] * 99):
                if int(code) >= 200:
                    resps.append({"status": int(code), "version": v, "frame": fr, "t": t})
            for m, u in zip(agg(d["http2.headers.method"]), agg(d["http2.headers.path"])):
                h2 = True
                reqs.append({"method": m, "uri": u, "version": "HTTP/2", "frame": fr, "t": t})
            for code in agg(d["http2.headers.status"]):
                h2 = True
                resps.append({"status": int(code), "version": "HTTP/2", "frame": fr, "t": t})
        # request starts: first client application-data frame after the previous response's end
        prev = 0
        for k, rq in enumerate(reqs):
            st = next((a for a in app["client"] if prev < a["frame"] <= rq["frame"]), None)
            rq["start"] = st["t"] if st else rq["t"]
            if k < len(resps):
                prev = resps[k]["frame"]
        gaps = []
        if not h2:
            for k in range(1, len(reqs)):
                if k - 1 < len(resps):
                    g = (num(reqs[k]["start"]) - num(resps[k - 1]["t"])) / 1e9
                    if g > 0:
                        gaps.append(round(g, 6))
        fins = [p for p in pk if p["fin"]]
        rsts = [p for p in pk if p["rst"]]
        first_fin, first_rst = (fins or [None])[0], (rsts or [None])[0]
        ends = [p for p in (first_fin, first_rst) if p]
        first_end = min(ends, key=lambda p: p["frame"]) if ends else None
        final_idle = None
        if first_end and not h2:
            before = [r for r in resps if r["frame"] < first_end["frame"]]
            if before:
                final_idle = round((num(first_end["t"]) - num(before[-1]["t"])) / 1e9, 6)
        by = lambda p: None if p is None else ("client" if p["src"] == client else "server")  # noqa: E731
        out.append({
            "client": client, "server": server, "tcp_stream": s, "tls": tls, "http2": h2,
            "requests": [{"method": r["method"], "uri": r["uri"], "version": r["version"], "start_at": ts(r["start"]),
                          "end_at": ts(r["t"])} for r in reqs],
            "responses": [{"status": r["status"], "version": r["version"], "end_at": ts(r["t"])} for r in resps],
            "app_records": {"client": len(app["client"]), "server": len(app["server"])},
            "idle_gaps_s": gaps, "final_idle_s": final_idle,
            "first_fin_by": by(first_fin), "first_fin_at": ts(first_fin["t"]) if first_fin else None,
            "rst_by": by(first_rst), "rst_at": ts(first_rst["t"]) if first_rst else None,
        })

    if table:
        for i, c in enumerate(out, 1):
            t = c["tls"]
            print(f"{i}: {c['client']} -> {c['server']}: {t['version']} {t['cipher']} sni={t['sni']} alpn={t['alpn']}"
                  f"{' resumed' if t['resumed'] else ''}{' HRR' if t['hello_retry'] else ''}"
                  f"{' keyupdates ' + str(t['key_updates']) if sum(t['key_updates'].values()) else ''}; "
                  f"{[r['method'] + ' ' + r['uri'] for r in c['requests']]} -> {[r['status'] for r in c['responses']]}; "
                  f"idle {c['idle_gaps_s']}; final {c['final_idle_s']}; close_notify {t['close_notify_by']}; "
                  f"FIN {c['first_fin_by']}; RST {c['rst_by']}")
        return
    tv = subprocess.run(["tshark", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    doc = {"schema": "httplife-tls-truth/v1", "file": os.path.basename(cap), "keys": os.path.basename(keys),
           "server_ports": ports}
    doc.update(desc)
    doc.update({"tcpdump_stats": stats, "tshark": tv, "tolerances": {"time_s": 0.005}, "connections": out})
    json.dump(doc, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
