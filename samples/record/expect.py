#!/usr/bin/env python3
"""Derive the per-connection facts of a sample capture from tshark's output.

usage: expect.py [--table] [--tcpdump-log LOG] CAPTURE PORT [PORT...]
       expect.py --readme SAMPLES_DIR

Writes CAPTURE's expectations as JSON (samples/NAME.expect.json format) to
stdout; with --table, a human-readable per-connection summary instead. With
--readme, rewrites the generated block of SAMPLES_DIR/README.md (between
<!-- facts:begin --> and <!-- facts:end -->) from SAMPLES_DIR/*.expect.json.
--tcpdump-log adds tcpdump's end-of-capture counts to the JSON.
PORT(s) are the server ports, decoded as HTTP (`-d tcp.port==PORT,http`).

Two tshark passes, as in the corpus README ("How the truth was verified"):
  * a TCP pass (every segment: stream, endpoints, flags, payload length,
    tcp.analysis.keep_alive / retransmission);
  * an HTTP pass (tshark's HTTP dissector with reassembly): each request and
    response is reported in the frame where tshark completes it, which is the
    message's end.
Definitions (those of /work/shared/corpus/README.md and spec/lifecycle-json.md):
  * client = sender of the SYN without ACK (else the sender of the first request);
  * request start = the first client payload segment (not a lone stray CRLF)
    after the frame that completed the previous request (the completing frame
    itself when several requests complete in one frame: pipelined in one send);
  * response end = frame where tshark completes it; 1xx responses are interim;
  * idle gap k = start(request k+1) - end(response k), only when positive
    (pipelined requests contribute none);
  * a response without Content-Length or chunked coding (and not 204/304)
    ends with its last byte (its body ended with the close: close-delimited);
  * a response that ended before the request it would pair with began
    answers no request (response-without-request): not paired, but it
    counts for the final idle;
  * final idle = first FIN or RST of either side - end of the last response
    ended before it (from the handshake's final ACK when none had ended);
  * close reason: the spec's list, first rule that applies.
"""
import json
import os
import subprocess
import sys

AGG = "\x1e"


def tshark(args):
    out = subprocess.run(["tshark", "-n"] + args, capture_output=True, text=True, check=True)
    return [line.split("\t") for line in out.stdout.split("\n") if line]


def flag(v):
    return v in ("1", "True", "true")


def ep(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def readme(samples):
    """Rewrite the generated facts block of SAMPLES/README.md from SAMPLES/*.expect.json."""
    begin, end = "<!-- facts:begin -->", "<!-- facts:end -->"
    lines = [begin]
    for name in sorted(os.listdir(samples)):
        if not name.endswith(".expect.json"):
            continue
        doc = json.load(open(os.path.join(samples, name)))
        st = doc.get("tcpdump_stats") or {}
        lines += ["", f"#### {doc['file']}", "",
                  f"{len(doc['connections'])} connection(s); server port(s) {', '.join(map(str, doc['server_ports']))}; "
                  f"tcpdump: {st.get('captured', '?')} packets captured, "
                  f"{st.get('dropped by kernel', '?')} dropped by kernel.", "",
                  "| # | client → server | req/resp | methods → statuses | idle gaps s | final idle s "
                  "| first FIN | RST | close reason |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for i, c in enumerate(doc["connections"], 1):
            st = []
            for code, interim in zip(c["statuses"], c["interim_statuses"]):
                st.append("+".join(str(x) for x in interim + [code]))
            extra = []
            if c["anomalies"]:
                extra.append(", ".join(a for a in c["anomalies"] if a != "last-request-unanswered"))
            if c["pipelined"]:
                extra.append("pipelined")
            if c["advertised_keepalive"]:
                extra.append("last Keep-Alive: " + ", ".join(f"{k}={v}" for k, v in
                                                            c["advertised_keepalive"].items() if v is not None))
            fi = "%.3f" % c["final_idle_s"] if c["final_idle_s"] is not None else "–"
            lines.append(
                f"| {i} | {c['client']} → {c['server']} | {c['requests']}/{c['responses']} "
                f"| {' '.join(c['methods'])} → {' '.join(st) or '–'} "
                f"| {', '.join('%.3f' % g for g in c['idle_gaps_s']) or '–'} | {fi} "
                f"| {c['first_fin_by'] or '–'} | {c['rst_by'] or '–'} "
                f"| **{c['close_reason']}**{' (' + '; '.join(x for x in extra if x) + ')' if any(extra) else ''} |")
    lines += ["", end]
    path = os.path.join(samples, "README.md")
    text = open(path).read()
    a, b = text.index(begin), text.index(end) + len(end)
    open(path, "w").write(text[:a] + "\n".join(lines) + text[b:])


def main():
    args = sys.argv[1:]
    if args and args[0] == "--readme":
        readme(args[1])
        return
    table = False
    stats = None
    if args and args[0] == "--table":
        table, args = True, args[1:]
    if len(args) > 1 and args[0] == "--tcpdump-log":
        stats = {}
        for line in open(args[1]):
            n, _, what = line.strip().partition(" packets ")
            if n.isdigit() and what in ("captured", "received by filter", "dropped by kernel"):
                stats[what] = int(n)
        args = args[2:]
    if len(args) < 2:
        sys.exit(__doc__)
    cap, ports = args[0], [int(p) for p in args[1:]]
    decode = []
    for p in ports:
        decode += ["-d", f"tcp.port=={p},http"]

    tcp_fields = ["frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "ipv6.src", "tcp.srcport",
                  "ip.dst", "ipv6.dst", "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin",
                  "tcp.flags.reset", "tcp.len", "tcp.analysis.keep_alive", "tcp.analysis.retransmission", "tcp.payload"]
    rows = tshark(["-r", cap, "-Y", "tcp", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
                  + sum([["-e", f] for f in tcp_fields], []))
    http_fields = ["frame.number", "frame.time_epoch", "tcp.stream", "http.request.method",
                   "http.request.version", "http.response.code", "http.response.version",
                   "http.connection", "http.response.line", "tcp.srcport",
                   "http.content_length_header", "http.transfer_encoding"]
    hrows = tshark(["-r", cap] + decode + ["-o", "tcp.desegment_tcp_streams:TRUE",
                                           "-o", "http.desegment_headers:TRUE",
                                           "-o", "http.desegment_body:TRUE", "-Y", "http",
                                           "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
                                           "-E", f"aggregator={AGG}"]
                   + sum([["-e", f] for f in http_fields], []))

    conns = {}
    order = []
    for r in rows:
        r += [""] * (len(tcp_fields) - len(r))
        d = dict(zip(tcp_fields, r))
        s = int(d["tcp.stream"])
        src = ep(d["ip.src"] or d["ipv6.src"], d["tcp.srcport"])
        dst = ep(d["ip.dst"] or d["ipv6.dst"], d["tcp.dstport"])
        pkt = {"frame": int(d["frame.number"]), "t": float(d["frame.time_epoch"]), "src": src, "dst": dst,
               "syn": flag(d["tcp.flags.syn"]), "ack": flag(d["tcp.flags.ack"]),
               "fin": flag(d["tcp.flags.fin"]), "rst": flag(d["tcp.flags.reset"]),
               "len": int(d["tcp.len"] or 0), "ka": d["tcp.analysis.keep_alive"] != "",
               "retx": d["tcp.analysis.retransmission"] != "",
               "crlf": d["tcp.payload"].replace(":", "").lower() == "0d0a"}
        if s not in conns:
            conns[s] = {"pkts": [], "http": []}
            order.append(s)
        conns[s]["pkts"].append(pkt)
    for r in hrows:
        r += [""] * (len(http_fields) - len(r))
        d = dict(zip(http_fields, r))
        s = int(d["tcp.stream"])
        conns[s]["http"].append(d)

    out = []
    for s in order:
        c = conns[s]
        pk = c["pkts"]
        client = server = None
        syn_seen = False
        guessed = False
        for p in pk:
            if p["syn"] and not p["ack"]:
                client, server, syn_seen = p["src"], p["dst"], True
                break
        reqs, resps, interim = [], [], []
        for d in c["http"]:
            fr, t = int(d["frame.number"]), float(d["frame.time_epoch"])
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
                        ln = ln.replace("\\r\\n", "").strip()  # tshark shows the line's CRLF as \r\n
                        if ln.lower().startswith("keep-alive:"):
                            ka = ln.split(":", 1)[1].strip()
                for i, code in enumerate(codes):
                    if code < 200:
                        interim.append(code)
                        continue
                    # Framed: a length, chunked, or a status without a body.
                    # Only a frame completing one response is read for it
                    # (in a frame of several, the headers cannot be told apart).
                    framed = (len(codes) > 1 or code in (204, 304) or d["http.content_length_header"] != ""
                              or d["http.transfer_encoding"] != "")
                    resps.append({"frame": fr, "t": t, "status": code, "version": vers[i] if i < len(vers) else None,
                                  "framed": framed,
                                  "connection": conn_hdrs[i] if len(conn_hdrs) == len(codes) else
                                  (conn_hdrs[-1] if conn_hdrs and len(final) == 1 else None),
                                  "keep_alive": ka, "interim": interim})
                    interim = []
        cl = [p for p in pk if p["src"] == client]
        sv = [p for p in pk if p["src"] == server]
        # request start times
        prev_done = 0
        for k, rq in enumerate(reqs):
            if k > 0 and reqs[k - 1]["frame"] == rq["frame"]:
                rq["start"] = rq["t"]
                rq["start_frame"] = rq["frame"]
            else:
                seg = next(p for p in cl if p["len"] > 0 and not p["ka"] and not p["retx"] and not p["crlf"]
                           and prev_done < p["frame"] <= rq["frame"])
                rq["start"], rq["start_frame"] = seg["t"], seg["frame"]
            prev_done = rq["frame"]
        # A response without a length (close-delimited) ends with its last
        # byte, not where tshark completes it (at the close).
        for r in resps:
            if not r["framed"]:
                last = [p for p in sv if p["len"] > 0 and not p["retx"] and p["frame"] <= r["frame"]]
                if last:
                    r["t"], r["frame"] = last[-1]["t"], last[-1]["frame"]
        # A response that ended before its request began answers none (a
        # server's error for bytes that were no request: h11's 400 for a
        # stray CRLF): left out of the pairing, kept for the final idle.
        all_resps, paired = resps, []
        for r in resps:
            if len(paired) < len(reqs) and r["frame"] < reqs[len(paired)]["start_frame"]:
                continue
            paired.append(r)
        resps = paired
        # idle gaps and pipelining
        gaps, pipelined = [], False
        for k in range(1, len(reqs)):
            if k - 1 < len(resps):
                g = reqs[k]["start"] - resps[k - 1]["t"]
                if g > 0:
                    gaps.append(round(g, 6))
                else:
                    pipelined = True
            else:
                pipelined = True
        fins = [p for p in pk if p["fin"]]
        rsts = [p for p in pk if p["rst"]]
        first_fin = fins[0] if fins else None
        first_rst = rsts[0] if rsts else None
        first_fin_by = None if not first_fin else ("client" if first_fin["src"] == client else "server")
        rst_by = None if not first_rst else ("client" if first_rst["src"] == client else "server")
        ends = [p for p in (first_fin, first_rst) if p]
        first_end = min(ends, key=lambda p: p["frame"]) if ends else None
        final_idle = None
        if first_end:
            # A response whose last bytes ride in the FIN's own segment
            # ended with it (final idle 0).
            before = [r for r in all_resps if r["frame"] <= first_end["frame"]]
            if before:
                final_idle = round(first_end["t"] - before[-1]["t"], 6)
            else:
                hs = [p for p in cl if p["ack"] and not p["syn"]]
                final_idle = round(first_end["t"] - hs[0]["t"], 6) if hs else None
        probes = sum(1 for p in pk if p["ka"])

        # close reason, first rule that applies
        anomalies = ["response-without-request"] if len(all_resps) > len(resps) else []
        reason, evidence = None, ""
        srv_fin = next((p for p in fins if p["src"] == server), None)
        srv_rst = next((p for p in rsts if p["src"] == server), None)
        cli_fin = next((p for p in fins if p["src"] == client), None)
        unanswered = reqs[len(resps):]
        if len(reqs) > len(resps):
            anomalies.append("last-request-unanswered")
        after_fin = [p for p in cl if srv_fin and p["len"] > 0 and not p["ka"] and p["frame"] > srv_fin["frame"]
                     and (not cli_fin or p["frame"] < cli_fin["frame"])]
        idle_before = lambda rq: len(resps) >= 1 and rq["start"] > resps[len(resps) - 1]["t"]  # noqa: E731
        if after_fin and unanswered:
            anomalies.append("request-after-server-fin")
            reason = "keepalive-race"
            evidence = f"client sent request bytes {after_fin[0]['t'] - srv_fin['t']:.6f} s after the server's FIN"
        elif unanswered and srv_rst and not srv_fin and idle_before(unanswered[0]) \
                and srv_rst["frame"] > unanswered[0]["start_frame"]:
            anomalies.append("request-answered-by-server-rst")
            reason = "keepalive-race"
            evidence = "server answered the request that followed an idle period with a RST"
        elif unanswered and srv_fin and first_fin_by == "server" and idle_before(unanswered[0]) \
                and unanswered[0]["start_frame"] < srv_fin["frame"]:
            anomalies.append("request-lost-at-server-close")
            reason = "keepalive-race"
            evidence = (f"the request that followed an idle period reached the server "
                        f"{srv_fin['t'] - unanswered[0]['start']:.6f} s before the server's FIN and was never answered")
        elif first_rst and (len({p['src'] for p in fins}) < 2
                            or first_rst["frame"] < max(next(p for p in fins if p["src"] == x)["frame"]
                                                        for x in (client, server))):
            reason = "reset"
            evidence = f"{rst_by} sent RST"
        elif reqs and reqs[-1]["version"] == "HTTP/1.0" and "keep-alive" not in (reqs[-1]["connection"] or ""):
            # The corpus README's rule 3: the last REQUEST is HTTP/1.0 without
            # keep-alive (an HTTP/1.1 request answered in HTTP/1.0 falls through).
            reason = "http10-no-keepalive"
            evidence = (f"{reqs[-1]['version']} request / {resps[-1]['version'] if resps else None} response "
                        f"without Connection: keep-alive; {first_fin_by} sent the first FIN")
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
                evidence = (f"response {kmax[0]} advertised Keep-Alive max={kmax[1]}; response {len(resps)} "
                            f"said Connection: close and the server sent the first FIN")
            elif resps and "close" in (resps[-1]["connection"] or ""):
                reason = "server-close-header"
                evidence = "the last response carried Connection: close, the request did not"
            elif resps and not resps[-1]["framed"] and first_fin_by == "server" and not unanswered \
                    and (len(resps) > len(reqs) or reqs[len(resps) - 1]["method"] != "HEAD"):
                reason = "close-delimited"
                evidence = "the last response had no length: the server's close ended its body"
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
                reason = "unknown"
                evidence = "no rule applies"
        adv = None
        kas = [r["keep_alive"] for r in resps if r["keep_alive"]]
        if kas:
            adv = {"timeout": None, "max": None}
            for part in kas[-1].split(","):
                k, _, v = part.strip().partition("=")
                if k in ("timeout", "max") and v.isdigit():
                    adv[k] = int(v)
        out.append({
            "client": client, "server": server, "client_guessed": guessed, "tcp_stream": s,
            "requests": len(reqs), "responses": len(resps),
            "methods": [r["method"] for r in reqs], "statuses": [r["status"] for r in resps],
            "interim_statuses": [r["interim"] for r in resps],
            "request_versions": [r["version"] for r in reqs], "response_versions": [r["version"] for r in resps],
            "idle_gaps_s": gaps, "final_idle_s": final_idle,
            "first_fin_by": first_fin_by, "rst_by": rst_by, "close_reason": reason, "evidence": evidence,
            "anomalies": anomalies, "pipelined": pipelined, "advertised_keepalive": adv,
            "tcp_keepalive_probes": probes, "syn_seen": syn_seen,
            "packets": {"client": len(cl), "server": len(sv)},
        })

    if table:
        for i, c in enumerate(out, 1):
            print(f"{i}: {c['client']} -> {c['server']}: {c['requests']} req {c['methods']} -> {c['statuses']}"
                  f"{' interim ' + str(c['interim_statuses']) if any(c['interim_statuses']) else ''}; "
                  f"idle {['%.3f' % g for g in c['idle_gaps_s']]}; final "
                  f"{'%.3f' % c['final_idle_s'] if c['final_idle_s'] is not None else None}; "
                  f"FIN {c['first_fin_by']}; RST {c['rst_by']}; {c['close_reason']}"
                  f"{' ' + str(c['anomalies']) if c['anomalies'] else ''}"
                  f"{' pipelined' if c['pipelined'] else ''}"
                  f"{' KA ' + str(c['advertised_keepalive']) if c['advertised_keepalive'] else ''}"
                  f"{' probes ' + str(c['tcp_keepalive_probes']) if c['tcp_keepalive_probes'] else ''}"
                  f"{' no-SYN' if not c['syn_seen'] else ''}")
        return
    doc = {"file": os.path.basename(cap), "server_ports": ports, "tcpdump_stats": stats,
           "tolerances": {"time_s": 0.005, "relative": 0.02},
           "connections": out}
    json.dump(doc, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
