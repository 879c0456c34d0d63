#!/usr/bin/env python3
"""Ground truth of the proxy captures (samples/proxy/), from tshark and the programs' own logs.

usage:
  truth.py write  SCENARIO CAPTURE LOGDIR   > CAPTURE.truth.json   (exit 1 if logs and capture disagree)
  truth.py accept SCENARIO CAPTURE LOGDIR   exit 0 if the run shows what the scenario is for (record.sh)
  truth.py table  TRUTH.json                a readable summary
  truth.py check  TRUTH.json...             re-derive each truth file from its capture and logs
                                            (paths next to it) and compare; exit 1 on any difference
  truth.py readme DIR                       rewrite the generated table of DIR/README.md

In: a capture of both legs of a proxy (client -> proxy and proxy -> upstream)
or of one client/server pair, and the logs record.sh collected (client.log,
upstream.log, nginx's access.log and error.log or haproxy.log,
tcpdump.log). Out: one JSON document (schema httplife-corpus-truth/v1, as in
/work/shared/corpus/README.md, plus the fields listed in
samples/proxy/README.md): per connection the corpus truth fields, per
transaction the request id and the link to the other leg, per race its kind
with the frames that show it, the client's log, counts from each program's
log, and per server endpoint the idle timeouts in force.

Packets: the two tshark passes of samples/record/expect.py (a TCP pass with
raw sequence numbers, and tshark's HTTP dissector with reassembly on every
server port); the definitions are those of the corpus README. expect.py is
also run on the capture and every field both compute must agree.
Every request carries X-Request-Id, which both proxies pass upstream
unchanged: it links a downstream transaction to the upstream transactions it
caused, and the client's and servers' log lines to the capture.
"""
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
AGG = "\x1e"
IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}

NGINX_DEFAULTS = {
    "proxy_next_upstream": "error timeout (default)",
    "proxy_next_upstream_tries": "0 = unlimited (default)",
    "proxy_connect_timeout_s": 60, "proxy_read_timeout_s": 60, "proxy_send_timeout_s": 60,
    "keepalive_requests": 1000, "upstream_keepalive_requests": 1000,
}
STALL_S = 0.05  # accept(): a server idle close or race this much past the timeout marks a stalled run
NODE_BUFFER_MS = 1000  # Node 20's HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER (lib/_http_server.js)

CLIENTS = {
    "python": "python3 raw-socket client (samples/proxy/record/client.py): keep-alive connections, requests in"
              " synchronized waves, X-Request-Id on every request, no retries of its own",
    "go": "Go net/http client (samples/proxy/record/goclient): one http.Client shared by 8 goroutines, requests"
          " in synchronized waves, httptrace of every connection each request took",
}

SCENARIOS = {
    "nginx-node-race": {
        "ports": {"downstream": 18400, "upstream": 18401},
        "proxy": "nginx", "upstream": "node", "client": "python", "config": "nginx-node-race.conf",
        "config_lines": ["keepalive 4;", "keepalive_timeout 10s;", "keepalive_timeout 3s 3;",
                         "proxy_http_version 1.1;", 'proxy_set_header Connection "";'],
        "settings": {
            "proxy": {"software": "nginx", "listen": "127.0.0.1:18400", "client_keepalive_timeout_s": 3,
                      "client_keepalive_header": "Keep-Alive: timeout=3", "upstream_keepalive": 4,
                      "upstream_keepalive_timeout_s": 10, "proxy_http_version": "1.1",
                      "proxy_set_header_connection": "", **NGINX_DEFAULTS},
            "upstream": {"software": "node", "listen": "127.0.0.1:18401", "keepAliveTimeout_ms": 1000,
                         "advertised": "Keep-Alive: timeout=1",
                         "idle_close_in_force_s": 2.0,
                         "note": "Node 20 arms the idle timer at keepAliveTimeout + 1000 ms"
                                 " (HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER) and advertises floor(keepAliveTimeout/1000)"},
        },
        "require": {"races": 1, "downstream_502": 1, "retried": 1},
    },
    "nginx-go-race": {
        "ports": {"downstream": 18410, "upstream": 18411},
        "proxy": "nginx", "upstream": "go", "client": "python", "config": "nginx-go-race.conf",
        "config_lines": ["keepalive 4;", "keepalive_timeout 10s;", "keepalive_timeout 3s 10;",
                         "proxy_http_version 1.1;", 'proxy_set_header Connection "";'],
        "settings": {
            "proxy": {"software": "nginx", "listen": "127.0.0.1:18410", "client_keepalive_timeout_s": 3,
                      "client_keepalive_header": "Keep-Alive: timeout=10",
                      "client_keepalive_note": "deliberately advertised 10 s while 3 s is in force",
                      "upstream_keepalive": 4, "upstream_keepalive_timeout_s": 10, "proxy_http_version": "1.1",
                      "proxy_set_header_connection": "", **NGINX_DEFAULTS},
            "upstream": {"software": "go net/http", "listen": "127.0.0.1:18411", "IdleTimeout_s": 1.0,
                         "ReadTimeout_s": 0, "ReadHeaderTimeout_s": 0, "WriteTimeout_s": 0, "advertised": None,
                         "idle_close_in_force_s": 1.0},
        },
        "require": {"races": 1, "downstream_502": 1, "retried": 1},
    },
    "haproxy-reuse": {
        "ports": {"downstream": 18420, "upstream": 18421},
        "proxy": "haproxy", "upstream": "node", "client": "python", "config": "haproxy-reuse.cfg",
        "config_lines": ["http-reuse always", "timeout http-keep-alive 3s", "timeout server 5s",
                         "timeout client 10s", "timeout connect 1s"],
        "settings": {
            "proxy": {"software": "haproxy", "listen": "127.0.0.1:18420", "http_reuse": "always",
                      "timeout_http_keep_alive_s": 3, "timeout_client_s": 10, "timeout_server_s": 5,
                      "timeout_connect_s": 1, "timeout_http_request_s": 5, "retry_on": "conn-failure (default)",
                      "retries": "3 (default, connection attempts only)", "pool_purge_delay_s": "5 (default)",
                      "client_keepalive_header": None},
            "upstream": {"software": "node", "listen": "127.0.0.1:18421", "keepAliveTimeout_ms": 1000,
                         "advertised": "Keep-Alive: timeout=1", "idle_close_in_force_s": 2.0,
                         "note": "Node 20 arms the idle timer at keepAliveTimeout + 1000 ms"},
        },
        "require": {"races": 1, "downstream_502": 1, "downstream_unanswered": 1},
    },
    "node-pool": {
        "ports": {"server": 18430},
        "proxy": None, "upstream": "node", "client": "go", "config": None, "config_lines": [],
        "settings": {
            "server": {"software": "node", "listen": "127.0.0.1:18430", "keepAliveTimeout_ms": "5000 (default)",
                       "headersTimeout_ms": "60000 (default)", "requestTimeout_ms": "300000 (default)",
                       "advertised": "Keep-Alive: timeout=5", "idle_close_in_force_s": 6.0,
                       "note": "Node 20 arms the idle timer at keepAliveTimeout + 1000 ms"},
            "client": {"software": "go net/http Transport", "IdleConnTimeout_s": 90, "MaxIdleConnsPerHost": 8,
                       "retries": "Transport retries a request that failed on a reused connection before any"
                                  " response byte when it is replayable (GET, HEAD, OPTIONS, TRACE or"
                                  " Idempotency-Key), never a POST"},
        },
        "require": {"races": 1, "client_visible": 1, "kinds": ["silent-drop", "stale-reuse"]},
    },
    "timeouts-ordered": {
        "ports": {"downstream": 18440, "upstream": 18441},
        "proxy": "nginx", "upstream": "node", "client": "python", "config": "timeouts-ordered.conf",
        "config_lines": ["keepalive 4;", "keepalive_timeout 1s;", "keepalive_timeout 2s 2;",
                         "proxy_http_version 1.1;", 'proxy_set_header Connection "";'],
        "settings": {
            "proxy": {"software": "nginx", "listen": "127.0.0.1:18440", "client_keepalive_timeout_s": 2,
                      "client_keepalive_header": "Keep-Alive: timeout=2", "upstream_keepalive": 4,
                      "upstream_keepalive_timeout_s": 1, "proxy_http_version": "1.1",
                      "proxy_set_header_connection": "", **NGINX_DEFAULTS},
            "upstream": {"software": "node", "listen": "127.0.0.1:18441", "keepAliveTimeout_ms": 3000,
                         "advertised": "Keep-Alive: timeout=3", "idle_close_in_force_s": 4.0,
                         "note": "never reached: nginx's pool closes idle connections after 1 s"},
        },
        "require": {"no_races": True, "client_idle_closes_upstream": 3, "server_idle_closes_downstream": 3},
    },
}


# -- small helpers -------------------------------------------------------------

def fail(msg):
    sys.exit(f"truth.py: {msg}")


def tshark(args):
    out = subprocess.run(["tshark", "-n"] + args, capture_output=True, text=True, check=True)
    return [line.split("\t") for line in out.stdout.split("\n") if line]


def flag(v):
    return v in ("1", "True", "true")


def ep(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def ns(epoch):
    """'1796411322.905123000' -> integer nanoseconds (exact)."""
    a, _, b = epoch.partition(".")
    return int(a) * 1_000_000_000 + int((b + "000000000")[:9])


def ns_float(t):
    return int(round(t * 1e9))


def ts(n):
    """integer ns -> RFC 3339 UTC with 9 fractional digits."""
    import datetime
    s, f = divmod(n, 1_000_000_000)
    d = datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{f:09d}Z"


def dur(a, b):
    return round((b - a) / 1e9, 9)


def median(xs):
    return round(statistics.median(xs), 6) if xs else None


def jl(path):
    """JSON-lines file -> list of objects (missing file: [])."""
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


# -- the packets -----------------------------------------------------------------

TCP_FIELDS = ["frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst",
              "ipv6.dst", "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset",
              "tcp.seq_raw", "tcp.ack_raw", "tcp.len", "tcp.analysis.keep_alive", "tcp.analysis.retransmission",
              "tcp.payload"]
HTTP_FIELDS = ["frame.number", "frame.time_epoch", "tcp.stream", "http.request.method", "http.request.uri",
               "http.request.version", "http.response.code", "http.response.version", "http.connection",
               "http.request.line", "http.response.line", "tcp.srcport"]


def packets_and_http(cap, ports):
    decode = sum([["-d", f"tcp.port=={p},http"] for p in ports], [])
    rows = tshark(["-r", cap, "-Y", "tcp", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
                  + sum([["-e", f] for f in TCP_FIELDS], []))
    hrows = tshark(["-r", cap] + decode + ["-o", "tcp.desegment_tcp_streams:TRUE", "-o", "http.desegment_headers:TRUE",
                                           "-o", "http.desegment_body:TRUE", "-Y", "http", "-T", "fields",
                                           "-E", "separator=/t", "-E", "occurrence=a", "-E", f"aggregator={AGG}"]
                   + sum([["-e", f] for f in HTTP_FIELDS], []))
    conns, order = {}, []
    for r in rows:
        r += [""] * (len(TCP_FIELDS) - len(r))
        d = dict(zip(TCP_FIELDS, r))
        s = int(d["tcp.stream"])
        p = {"frame": int(d["frame.number"]), "t": ns(d["frame.time_epoch"]),
             "src": ep(d["ip.src"] or d["ipv6.src"], d["tcp.srcport"]),
             "dst": ep(d["ip.dst"] or d["ipv6.dst"], d["tcp.dstport"]),
             "dport": int(d["tcp.dstport"]), "sport": int(d["tcp.srcport"]),
             "syn": flag(d["tcp.flags.syn"]), "ack": flag(d["tcp.flags.ack"]), "fin": flag(d["tcp.flags.fin"]),
             "rst": flag(d["tcp.flags.reset"]), "seq": int(d["tcp.seq_raw"] or 0), "ackno": int(d["tcp.ack_raw"] or 0),
             "len": int(d["tcp.len"] or 0), "ka": d["tcp.analysis.keep_alive"] != "",
             "retx": d["tcp.analysis.retransmission"] != "",
             "crlf": d["tcp.payload"].replace(":", "").lower() == "0d0a"}
        if s not in conns:
            conns[s] = {"pkts": [], "http": []}
            order.append(s)
        conns[s]["pkts"].append(p)
    for r in hrows:
        r += [""] * (len(HTTP_FIELDS) - len(r))
        d = dict(zip(HTTP_FIELDS, r))
        conns[int(d["tcp.stream"])]["http"].append(d)
    return conns, order, len(rows)


def header(lines, name):
    """Values of header NAME in tshark's http.*.line occurrences, in order."""
    out = []
    for ln in lines:
        ln = ln.replace("\\r\\n", "").strip()
        k, _, v = ln.partition(":")
        if k.strip().lower() == name:
            out.append(v.strip())
    return out


def seq_after(a, b):
    """a is at or after b in sequence space (mod 2^32)."""
    return ((a - b) & 0xFFFFFFFF) < 0x80000000


def connection(cid, s, c, legs):
    pk = c["pkts"]
    client = server = None
    syn_seen = guessed = False
    for p in pk:
        if p["syn"] and not p["ack"]:
            client, server, syn_seen = p["src"], p["dst"], True
            break
    reqs, resps, interim = [], [], []
    for d in c["http"]:
        fr, t = int(d["frame.number"]), ns(d["frame.time_epoch"])
        methods = [m for m in d["http.request.method"].split(AGG) if m]
        codes = [int(x) for x in d["http.response.code"].split(AGG) if x]
        conn_hdrs = [x.lower() for x in d["http.connection"].split(AGG) if x]
        if methods:
            uris = d["http.request.uri"].split(AGG)
            vers = d["http.request.version"].split(AGG)
            rids = header(d["http.request.line"].split(AGG), "x-request-id")
            for i, m in enumerate(methods):
                reqs.append({"frame": fr, "t": t, "method": m, "uri": uris[i] if i < len(uris) else None,
                             "version": vers[i] if i < len(vers) else None,
                             "request_id": rids[i] if len(rids) == len(methods) else None,
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
                kas = header(lines, "keep-alive")
                ka = kas[0] if kas else None
            for i, code in enumerate(codes):
                if code < 200:
                    interim.append(code)
                    continue
                resps.append({"frame": fr, "t": t, "status": code, "version": vers[i] if i < len(vers) else None,
                              "connection": conn_hdrs[i] if len(conn_hdrs) == len(codes) else
                              (conn_hdrs[-1] if conn_hdrs and len(final) == 1 else None),
                              "keep_alive": ka, "interim": interim})
                interim = []
    cl = [p for p in pk if p["src"] == client]
    sv = [p for p in pk if p["src"] == server]
    # request starts: first client payload segment after the frame that completed the previous request
    prev_done = 0
    for k, rq in enumerate(reqs):
        if k > 0 and reqs[k - 1]["frame"] == rq["frame"]:
            rq["start"], rq["start_frame"], rq["start_seq"] = rq["t"], rq["frame"], None
        else:
            seg = next(p for p in cl if p["len"] > 0 and not p["ka"] and not p["retx"] and not p["crlf"]
                       and prev_done < p["frame"] <= rq["frame"])
            rq["start"], rq["start_frame"], rq["start_seq"] = seg["t"], seg["frame"], seg["seq"]
            rq["start_ack"] = seg["ackno"]
        prev_done = rq["frame"]
    # response starts: first server payload segment after the previous response's end
    prev = 0
    for rs in resps:
        seg = next((p for p in sv if p["len"] > 0 and not p["retx"] and prev < p["frame"] <= rs["frame"]), None)
        rs["start"], rs["start_frame"] = (seg["t"], seg["frame"]) if seg else (rs["t"], rs["frame"])
        prev = rs["frame"]
    gaps, idle_periods, pipelined = [], [], False
    for k in range(1, len(reqs)):
        if k - 1 < len(resps):
            g = reqs[k]["start"] - resps[k - 1]["t"]
            if g > 0:
                gaps.append(dur(resps[k - 1]["t"], reqs[k]["start"]))
                idle_periods.append({"after_transaction": k, "start_at": ts(resps[k - 1]["t"]),
                                     "end_at": ts(reqs[k]["start"]), "duration_s": gaps[-1]})
            else:
                pipelined = True
                reqs[k]["pipelined"] = True
        else:
            pipelined = True
            reqs[k]["pipelined"] = True
    fins = [p for p in pk if p["fin"]]
    rsts = [p for p in pk if p["rst"]]
    first_fin = fins[0] if fins else None
    first_rst = rsts[0] if rsts else None
    side = lambda p: None if not p else ("client" if p["src"] == client else "server")  # noqa: E731
    first_fin_by, rst_by = side(first_fin), side(first_rst)
    ends = [p for p in (first_fin, first_rst) if p]
    first_end = min(ends, key=lambda p: p["frame"]) if ends else None
    final_idle = final_idle_s = None
    hs_ack = next((p for p in cl if p["ack"] and not p["syn"]), None)
    if first_end:
        before = [(k, r) for k, r in enumerate(resps) if r["frame"] < first_end["frame"]]
        if before:
            k, r = before[-1]
            final_idle = {"after_transaction": k + 1, "start_at": ts(r["t"]), "end_at": ts(first_end["t"]),
                          "duration_s": dur(r["t"], first_end["t"])}
        elif hs_ack:
            final_idle = {"after_transaction": 0, "start_at": ts(hs_ack["t"]), "end_at": ts(first_end["t"]),
                          "duration_s": dur(hs_ack["t"], first_end["t"])}
        final_idle_s = final_idle["duration_s"] if final_idle else None
    probes = {"client": sum(1 for p in cl if p["ka"]), "server": sum(1 for p in sv if p["ka"])}

    # close reason: the corpus README's rules, first that applies (as samples/record/expect.py)
    anomalies, race = [], None
    reason, evidence = None, ""
    srv_fin = next((p for p in fins if p["src"] == server), None)
    srv_rst = next((p for p in rsts if p["src"] == server), None)
    cli_fin = next((p for p in fins if p["src"] == client), None)
    unanswered = reqs[len(resps):]
    if unanswered:
        anomalies.append("last-request-unanswered")
    after_fin = [p for p in cl if srv_fin and p["len"] > 0 and not p["ka"] and p["frame"] > srv_fin["frame"]
                 and (not cli_fin or p["frame"] < cli_fin["frame"])]
    idle_before = lambda rq: len(resps) >= 1 and rq["start"] > resps[-1]["t"]  # noqa: E731
    if after_fin and unanswered:
        anomalies.append("request-after-server-fin")
        reason = "keepalive-race"
        evidence = f"client sent request bytes {dur(srv_fin['t'], after_fin[0]['t']):.6f} s after the server's FIN"
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
                    f"{dur(unanswered[0]['start'], srv_fin['t']):.6f} s before the server's FIN and was never answered")
    elif first_rst and (len({p['src'] for p in fins}) < 2
                        or first_rst["frame"] < max(next(p for p in fins if p["src"] == x)["frame"]
                                                    for x in (client, server))):
        reason = "reset"
        evidence = f"{rst_by} sent RST"
        if final_idle_s is not None and not unanswered:
            evidence += f" {final_idle_s:.6f} s after the last response, with no request in flight"
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
            reason, evidence = "max-requests", f"response {kmax[0]} advertised max={kmax[1]}"
        elif resps and "close" in (resps[-1]["connection"] or ""):
            reason, evidence = "server-close-header", "the last response carried Connection: close"
        elif first_fin_by == "server" and not unanswered:
            reason, evidence = "server-idle-timeout", f"server FIN {final_idle_s:.6f} s after the last response"
        elif first_fin_by == "client" and not unanswered:
            reason, evidence = "client-idle-close", f"client FIN {final_idle_s:.6f} s after the last response"
        elif not fins and not rsts:
            reason, evidence = "capture-ended", "no FIN or RST captured"
        else:
            reason, evidence = "unknown", "no rule applies"

    if reason == "keepalive-race":
        race = race_kind(unanswered[0], len(resps) + 1, resps, srv_fin, srv_rst, cl)
    adv = None
    kas = [r["keep_alive"] for r in resps if r["keep_alive"]]
    if kas:
        adv = {"timeout": None, "max": None}
        for part in kas[-1].split(","):
            k, _, v = part.strip().partition("=")
            if k in ("timeout", "max") and v.isdigit():
                adv[k] = int(v)
    # TIME_WAIT: the active closer once it ACKed the peer's FIN; null after any RST
    tw_holder = tw_at = None
    if not rsts and first_fin:
        closer = first_fin["src"]
        peer_fin = next((p for p in fins if p["src"] != closer), None)
        if peer_fin:
            fin_end = (peer_fin["seq"] + peer_fin["len"] + 1) & 0xFFFFFFFF
            ack = next((p for p in pk if p["src"] == closer and p["frame"] > peer_fin["frame"] and p["ack"]
                        and seq_after(p["ackno"], fin_end)), None)
            first_end_seq = (first_fin["seq"] + first_fin["len"] + 1) & 0xFFFFFFFF
            simultaneous = not seq_after(peer_fin["ackno"], first_end_seq)
            if ack:
                tw_holder, tw_at = ("both" if simultaneous else side(first_fin)), ts(ack["t"])
    leg = legs.get(int(server.rsplit(":", 1)[1]), "server")
    txs = []
    for k, rq in enumerate(reqs):
        rs = resps[k] if k < len(resps) else None
        txs.append({"index": k + 1, "method": rq["method"], "uri": rq["uri"], "request_id": rq["request_id"],
                    "request_version": rq["version"], "status": rs["status"] if rs else None,
                    "response_version": rs["version"] if rs else None,
                    "request_start_at": ts(rq["start"]), "request_start_frame": rq["start_frame"],
                    "request_end_at": ts(rq["t"]), "request_end_frame": rq["frame"],
                    "response_start_at": ts(rs["start"]) if rs else None,
                    "response_end_at": ts(rs["t"]) if rs else None,
                    "response_end_frame": rs["frame"] if rs else None,
                    "request_connection": rq["connection"], "response_connection": rs["connection"] if rs else None,
                    "response_keep_alive": rs["keep_alive"] if rs else None,
                    "interim_statuses": rs["interim"] if rs else [],
                    "pipelined": bool(rq.get("pipelined")), "complete": rs is not None})
    hs = None
    synp = next((p for p in cl if p["syn"] and not p["ack"]), None)
    synack = next((p for p in sv if p["syn"] and p["ack"]), None)
    if synp and synack and hs_ack:
        hs = {"syn_at": ts(synp["t"]), "synack_at": ts(synack["t"]), "ack_at": ts(hs_ack["t"]),
              "rtt_s": dur(synp["t"], hs_ack["t"])}
    return {
        "id": cid, "tcp_stream": s, "leg": leg, "client": client, "server": server, "client_guessed": guessed,
        "syn_seen": syn_seen, "first_packet_at": ts(pk[0]["t"]), "last_packet_at": ts(pk[-1]["t"]),
        "handshake": hs, "packets": {"client": len(cl), "server": len(sv)},
        "payload_bytes": {"client": sum(p["len"] for p in cl if not p["retx"]),
                          "server": sum(p["len"] for p in sv if not p["retx"])},
        "requests": len(reqs), "responses": len(resps), "methods": [r["method"] for r in reqs],
        "statuses": [r["status"] for r in resps], "idle_gaps_s": gaps, "final_idle_s": final_idle_s,
        "first_fin_by": first_fin_by, "rst_by": rst_by, "close_reason": reason,
        "advertised_keepalive": adv, "pipelined": pipelined,
        "tcp_keepalive_probes": probes["client"] + probes["server"], "tcp_keepalive_probes_by": probes,
        "idle_periods": idle_periods, "final_idle": final_idle,
        "close": {"first_fin_by": first_fin_by, "first_fin_at": ts(first_fin["t"]) if first_fin else None,
                  "first_fin_frame": first_fin["frame"] if first_fin else None,
                  "rst_by": rst_by, "rst_at": ts(first_rst["t"]) if first_rst else None,
                  "rst_frame": first_rst["frame"] if first_rst else None,
                  "reason": reason, "evidence": evidence, "race": race},
        "time_wait_holder": tw_holder, "time_wait_entered_at": tw_at,
        "retransmissions": {"client": sum(1 for p in cl if p["retx"]), "server": sum(1 for p in sv if p["retx"])},
        "anomalies": anomalies, "transactions": txs,
    }


def race_kind(rq, k, resps, srv_fin, srv_rst, cl):
    """The spec's close.race for the lost request rq (transaction k), judged from the packets."""
    frames = {"request_start": rq["start_frame"], "server_fin": srv_fin["frame"] if srv_fin else None,
              "client_ack_of_fin": None, "server_rst": srv_rst["frame"] if srv_rst else None}
    extra = {}
    if srv_fin:
        fin_end = (srv_fin["seq"] + srv_fin["len"] + 1) & 0xFFFFFFFF
        ack = next((p for p in cl if p["frame"] > srv_fin["frame"] and p["ack"] and seq_after(p["ackno"], fin_end)),
                   None)
        frames["client_ack_of_fin"] = ack["frame"] if ack else None
        extra["fin_to_request_s"] = dur(srv_fin["t"], rq["start"])
        if srv_fin["frame"] > rq["start_frame"]:
            kind = "in-flight"
            why = (f"the request (frame {rq['start_frame']}) left before the server's FIN (frame {srv_fin['frame']});"
                   f" the FIN does {'not ' if not seq_after(srv_fin['ackno'], rq['start_seq'] + 1) else ''}"
                   f"acknowledge it")
        elif ack and ack["frame"] <= rq["start_frame"]:
            kind = "stale-reuse"
            if ack["frame"] == rq["start_frame"]:
                why = (f"the request segment (frame {rq['start_frame']}) itself acknowledges the server's FIN"
                       f" (frame {srv_fin['frame']}, {dur(srv_fin['t'], rq['start']) * 1e3:.3f} ms earlier): the FIN"
                       f" had reached the client before it sent the request on that connection")
            else:
                why = (f"the client acknowledged the server's FIN (frame {srv_fin['frame']}) in frame {ack['frame']}"
                       f" and then sent the request (frame {rq['start_frame']}),"
                       f" {dur(srv_fin['t'], rq['start']) * 1e3:.3f} ms after the FIN")
        else:
            kind = "in-flight"
            why = (f"the request (frame {rq['start_frame']}) left after the server's FIN (frame {srv_fin['frame']})"
                   f" was sent but before the client acknowledged it"
                   f"{' (frame ' + str(ack['frame']) + ')' if ack else ''}")
    else:
        kind = "silent-drop"
        acks_req = srv_rst is not None and rq["start_seq"] is not None and \
            seq_after(srv_rst["ackno"], rq["start_seq"] + 1)
        extra["rst_acks_request"] = acks_req
        why = (f"no FIN; the server answered the request (frame {rq['start_frame']}) with a RST (frame "
               f"{srv_rst['frame'] if srv_rst else None}) {dur(rq['start'], srv_rst['t']) * 1e3:.3f} ms later"
               + ("; the RST acknowledges the request bytes: the server's kernel had received them and the"
                  " server closed the socket without reading them (a close with unread data sends RST, not FIN)"
                  if acks_req else ""))
    return {"kind": kind, "transaction": k, "method": rq["method"], "idempotent": rq["method"] in IDEMPOTENT,
            "idle_before_s": dur(resps[-1]["t"], rq["start"]) if resps else None,
            "request_id": rq["request_id"], "frames": frames, "judged": why, **extra}


# -- the logs ---------------------------------------------------------------------

def nginx_logs(logdir):
    access = [json.loads(line) for line in open(os.path.join(logdir, "access.log")) if line.strip()]
    for a in access:
        a["upstream_status_list"] = [x.strip() for x in a["upstream_status"].split(",") if x.strip()]
        a["upstream_addr_list"] = [x.strip() for x in a["upstream_addr"].split(",") if x.strip()]
    errors = []
    for line in open(os.path.join(logdir, "error.log")):
        if "[error]" not in line and "[warn]" not in line:
            continue
        msg = line.split("] ", 1)[1] if "] " in line else line
        msg = msg.split(": ", 1)[1] if ": " in msg else msg
        if msg.startswith("*"):
            msg = msg.split(" ", 1)[1]
        kind = msg.split(" while ")[0].split(", client:")[0]
        conn = line.split("*", 1)[1].split(" ", 1)[0] if "*" in line else None
        req = line.split('request: "', 1)[1].split('"', 1)[0] if 'request: "' in line else None
        errors.append({"time": line[:19], "connection": conn, "message": kind.strip(), "request": req,
                       "line": line.rstrip("\n")})
    return access, errors


def haproxy_log(logdir):
    out = []
    for line in open(os.path.join(logdir, "haproxy.log")):
        f = line.split()
        if len(f) < 12 or "/" not in f[3] or not f[5].lstrip("-").isdigit():
            continue
        timers = f[4].split("/")
        conns = f[8].split("/")
        out.append({"accept_date": f[0], "client": f[1], "frontend": f[2], "backend_server": f[3],
                    "timers_TR_Tw_Tc_Tr_Ta": timers, "status": int(f[5]), "bytes": int(f[6]),
                    "termination_state": f[7], "retries": int(conns[4].lstrip("+")),
                    "backend_port": int(f[10].split("=")[1]) if f[10].startswith("bp=") and
                    f[10].split("=")[1].isdigit() else None,
                    "request_id": f[11].split("=", 1)[1] if f[11].startswith("rid=") else None,
                    "request": line.split('"', 1)[1].rsplit('"', 1)[0] if '"' in line else None,
                    "line": line.rstrip("\n")})
    return out


def tcpdump_stats(logdir):
    stats = {}
    p = os.path.join(logdir, "tcpdump.log")
    for line in open(p) if os.path.exists(p) else []:
        n, _, what = line.strip().partition(" packets ")
        if n.isdigit() and what in ("captured", "received by filter", "dropped by kernel"):
            stats[what] = int(n)
    return stats


# -- putting it together -----------------------------------------------------------

def derive(name, cap, logdir):
    sc = SCENARIOS[name]
    legs = {v: k for k, v in sc["ports"].items()}
    ports = sorted(sc["ports"].values())
    conns, order, npk = packets_and_http(cap, ports)
    cs = [connection(i + 1, s, conns[s], legs) for i, s in enumerate(order)]
    problems = []

    # links by request id
    by_rid = {}
    for c in cs:
        for t in c["transactions"]:
            if t["request_id"] is None:
                problems.append(f"conn {c['id']} tx {t['index']}: no X-Request-Id")
                continue
            by_rid.setdefault(t["request_id"], []).append((c, t))
    proxy = sc["proxy"] is not None
    for rid, lst in by_rid.items():
        down = [(c, t) for c, t in lst if c["leg"] == "downstream"]
        up = sorted([(c, t) for c, t in lst if c["leg"] == "upstream"], key=lambda x: x[1]["request_start_at"])
        if proxy:
            if len(down) != 1:
                problems.append(f"request id {rid}: {len(down)} downstream transactions")
                continue
            dc, dt = down[0]
            dt["upstream"] = [{"connection": c["id"], "transaction": t["index"]} for c, t in up] or None
            for c, t in up:
                t["downstream"] = {"connection": dc["id"], "transaction": dt["index"]}
    for c in cs:
        for t in c["transactions"]:
            if proxy:
                t.setdefault("upstream" if c["leg"] == "downstream" else "downstream", None)

    # the client's log
    clog = jl(os.path.join(logdir, "client.log"))
    start = next((x for x in clog if x.get("ev") == "start"), {})
    creqs = [x for x in clog if x.get("ev") == "request"]
    client_key = "downstream" if proxy else "server"
    client_log = []
    for r in creqs:
        lst = sorted([(c, t) for c, t in by_rid.get(r["request_id"], []) if c["leg"] == client_key],
                     key=lambda x: x[1]["request_start_at"])
        ent = {"t_send": ts(ns_float(r["t_send"])), "t_done": ts(ns_float(r["t_done"])), "wave": r["wave"],
               "method": r["method"], "target": r["target"], "request_id": r["request_id"],
               "gap_s": r.get("gap_s"), "status": r["status"], "error": r.get("error_kind") or r.get("error"),
               "connections": [{"connection": c["id"], "transaction": t["index"]} for c, t in lst]}
        if "local_port" in r:
            ent["local_port"] = r["local_port"]
        if "attempts" in r:
            ent["attempts"] = [{"local_port": a["local_port"], "reused": a["reused"], "was_idle": a["was_idle"],
                                "idle_s": round(a["idle_s"], 6)} for a in r["attempts"] or []]
            ent["error_detail"] = r.get("error")
        client_log.append(ent)
        if not lst:
            if r["status"] is None and not any(a.get("wrote") for a in r.get("attempts") or []):
                ent["never_sent"] = True  # the client failed it before any byte left (e.g. a pool that saw the close)
            else:
                problems.append(f"client request {r['request_id']} not in the capture")
            continue
        answered = [t for c, t in lst if t["status"] is not None]
        got = answered[-1]["status"] if answered else None
        if got != r["status"]:
            problems.append(f"client request {r['request_id']}: client logged {r['status']}, capture shows {got}")
        if "local_port" in r and any(int(c["client"].rsplit(":", 1)[1]) != r["local_port"] for c, t in lst):
            problems.append(f"client request {r['request_id']}: local port {r['local_port']} differs from the capture")
        if "attempts" in r:
            ports_c = [int(c["client"].rsplit(":", 1)[1]) for c, t in lst]
            ports_l = [a["local_port"] for a in r["attempts"] or []]
            if ports_c != ports_l:
                problems.append(f"client request {r['request_id']}: attempts on ports {ports_l}, capture {ports_c}")
    n_cap = sum(1 for c in cs if c["leg"] == client_key for _ in c["transactions"])
    n_log = sum(len(e["connections"]) for e in client_log)
    if n_cap != n_log:
        problems.append(f"the capture has {n_cap} client-side transactions, the client's log accounts for {n_log}")

    counts = {"client": client_counts(creqs)}
    races = []
    for c in cs:
        r = c["close"]["race"]
        if r:
            races.append({"connection": c["id"], "leg": c["leg"], "client": c["client"], "server": c["server"], **r})
    program_logs = {}
    dlinks = []
    down502 = []
    if proxy:
        for c in cs:
            if c["leg"] != "downstream":
                continue
            for t in c["transactions"]:
                ups = t["upstream"] or []
                dlinks.append(ups)
        for rc in races:
            ct = next(t for c in cs if c["id"] == rc["connection"] for t in c["transactions"]
                      if t["index"] == rc["transaction"])
            d = ct.get("downstream")
            rc["downstream"] = d
            if d:
                dt = next(t for c in cs if c["id"] == d["connection"] for t in c["transactions"]
                          if t["index"] == d["transaction"])
                ups = dt["upstream"] or []
                rc["downstream_outcome"] = dt["status"] if dt["status"] is not None else "closed-without-response"
                rc["retried_on"] = ups[ups.index({"connection": c_id(rc), "transaction": rc["transaction"]}) + 1:] \
                    if {"connection": c_id(rc), "transaction": rc["transaction"]} in ups else []
        for c in cs:
            if c["leg"] != "downstream":
                continue
            for t in c["transactions"]:
                if t["status"] is not None and t["status"] < 500 and t["complete"]:
                    continue
                ups = t["upstream"] or []
                attempts = []
                for u in ups:
                    uc = next(x for x in cs if x["id"] == u["connection"])
                    ut = uc["transactions"][u["transaction"] - 1]
                    rr = uc["close"]["race"] if uc["close"]["race"] and \
                        uc["close"]["race"]["transaction"] == u["transaction"] else None
                    attempts.append({**u, "upstream_client": uc["client"], "status": ut["status"],
                                     "race": rr["kind"] if rr else None,
                                     "idle_before_s": rr["idle_before_s"] if rr else None,
                                     "frames": rr["frames"] if rr else None})
                down502.append({"connection": c["id"], "transaction": t["index"], "request_id": t["request_id"],
                                "method": t["method"], "uri": t["uri"], "status": t["status"],
                                "outcome": t["status"] if t["status"] is not None else "closed-without-response",
                                "upstream_attempts": attempts})
        for rc in races:
            if rc["leg"] != "downstream":
                continue
            f = next((x for x in down502 if x["connection"] == rc["connection"]
                      and x["transaction"] == rc["transaction"]), None)
            # the proxy closed this client connection without answering: the upstream race behind it
            rc["upstream_cause"] = f["upstream_attempts"] if f else None
        if sc["proxy"] == "nginx":
            access, errors = nginx_logs(logdir)
            program_logs["nginx_access"] = access
            program_logs["nginx_error"] = errors
            counts["proxy"] = nginx_counts(access, errors)
            check_nginx(access, errors, by_rid, cs, problems, down502)
        else:
            hl = haproxy_log(logdir)
            program_logs["haproxy"] = hl
            counts["proxy"] = haproxy_counts(hl, creqs)
            check_haproxy(hl, by_rid, cs, problems, down502)
    link_race_logs(races, client_log, program_logs, sc)
    up = jl(os.path.join(logdir, "upstream.log"))
    counts["upstream"] = upstream_counts(up)
    check_upstream(up, by_rid, cs, problems, "upstream" if proxy else "server")
    counts["capture"] = capture_counts(cs, races, proxy)
    check_settings(name, sc, up, start, problems)
    agree = expect_agreement(cap, ports, cs)
    if agree != "agree":
        problems.append(f"expect.py: {agree}")
    servers = server_summary(cs, sc)
    return {
        "cs": cs, "races": races, "down502": down502, "client_log": client_log, "client_start": start,
        "counts": counts, "program_logs": program_logs, "problems": problems, "servers": servers,
        "packets": npk, "expect_agreement": agree, "upstream_log": up,
    }


def link_race_logs(races, client_log, program_logs, sc):
    """Attach to every race what the client and the proxy logged about that request."""
    by_rid = {e["request_id"]: e for e in client_log}
    for rc in races:
        e = by_rid.get(rc["request_id"])
        rc["client_outcome"] = None if e is None else {
            k: e[k] for k in ("status", "error", "attempts", "error_detail") if k in e}
        if sc["proxy"] == "nginx":
            acc = next((a for a in program_logs["nginx_access"] if a["request_id"] == rc["request_id"]), None)
            rc["nginx_access"] = None if acc is None else {
                k: acc[k] for k in ("status", "upstream_addr", "upstream_status", "connection")}
            # the error line of this attempt: same nginx connection (*N), request line and second
            if acc:
                lines = [x for x in program_logs["nginx_error"] if x["connection"] == acc["connection"]
                         and x["request"] == acc["request"] and x["time"][-8:] == a_time(acc)]
                rc["nginx_error"] = [x["line"] for x in lines] or None
        elif sc["proxy"] == "haproxy":
            h = next((h for h in program_logs["haproxy"] if h["request_id"] == rc["request_id"]), None)
            rc["haproxy_log"] = h["line"] if h else None


def c_id(rc):
    return rc["connection"]


def client_counts(creqs):
    by_status, errors = {}, {}
    for r in creqs:
        if r["status"] is not None:
            by_status[str(r["status"])] = by_status.get(str(r["status"]), 0) + 1
        else:
            k = r.get("error_kind") or r.get("error")
            errors[k] = errors.get(k, 0) + 1
    failed = [r for r in creqs if r["status"] is None or r["status"] >= 500]
    out = {"requests": len(creqs), "by_status": by_status, "errors_by_kind": errors,
           "downstream_502": by_status.get("502", 0),
           "failed": len(failed), "posts_failed": sum(1 for r in failed if r["method"] == "POST"),
           "gets_failed": sum(1 for r in failed if r["method"] == "GET"),
           "posts": sum(1 for r in creqs if r["method"] == "POST")}
    if any("attempts" in r for r in creqs):
        out["retried_by_client_transport"] = sum(1 for r in creqs if len(r.get("attempts") or []) > 1)
        out["retried_ok"] = sum(1 for r in creqs if len(r.get("attempts") or []) > 1 and r["status"] is not None)
    return out


def nginx_counts(access, errors):
    kinds = {}
    for e in errors:
        kinds[e["message"]] = kinds.get(e["message"], 0) + 1
    by_status = {}
    for a in access:
        by_status[a["status"]] = by_status.get(a["status"], 0) + 1
    return {"access_log_requests": len(access), "by_status": by_status,
            "downstream_502": by_status.get("502", 0),
            "retried": sum(1 for a in access if len(a["upstream_status_list"]) > 1),
            "retried_ok": sum(1 for a in access if len(a["upstream_status_list"]) > 1 and a["status"] == "200"),
            "upstream_attempts": sum(len(a["upstream_status_list"]) for a in access),
            "upstream_attempts_failed": sum(1 for a in access for s in a["upstream_status_list"] if s == "502"),
            "posts_502": sum(1 for a in access if a["status"] == "502" and a["request"].startswith("POST ")),
            "error_log_lines": len(errors), "error_log_by_message": kinds}


def haproxy_counts(hl, creqs):
    by_status, term = {}, {}
    for h in hl:
        by_status[str(h["status"])] = by_status.get(str(h["status"]), 0) + 1
        term[h["termination_state"]] = term.get(h["termination_state"], 0) + 1
    logged = {h["request_id"] for h in hl}
    return {"log_lines": len(hl), "by_status": by_status, "termination_states": term,
            "downstream_502": by_status.get("502", 0), "retries_logged": sum(h["retries"] for h in hl),
            "requests_not_logged": sorted(r["request_id"] for r in creqs if r["request_id"] not in logged)}


def upstream_counts(up):
    reqs = [x for x in up if x.get("ev") == "request"]
    conns = [x for x in up if x.get("ev") == "connection" or (x.get("ev") == "state" and x.get("state") == "new")]
    closes = [x for x in up if x.get("ev") == "close" or (x.get("ev") == "state" and x.get("state") == "closed")]
    errs, cerrs = {}, {}
    for x in up:
        if x.get("ev") == "socket-error":
            errs[x["code"]] = errs.get(x["code"], 0) + 1
        elif x.get("ev") == "client-error":
            cerrs[x["code"]] = cerrs.get(x["code"], 0) + 1
    return {"connections_accepted": len(conns), "requests_served": len(reqs), "connections_closed": len(closes),
            "socket_errors": errs, "client_errors": cerrs}


def capture_counts(cs, races, proxy):
    kinds, methods = {}, {}
    for r in races:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
        methods[r["method"]] = methods.get(r["method"], 0) + 1
    out = {"connections": len(cs), "races": len(races), "races_by_kind": kinds, "races_by_method": methods,
           "races_idempotent": sum(1 for r in races if r["idempotent"]),
           "reasons": {}}
    for c in cs:
        key = f"{c['leg']}:{c['close_reason']}"
        out["reasons"][key] = out["reasons"].get(key, 0) + 1
    if proxy:
        down = [t for c in cs if c["leg"] == "downstream" for t in c["transactions"]]
        out["downstream_transactions"] = len(down)
        out["upstream_transactions"] = sum(len(c["transactions"]) for c in cs if c["leg"] == "upstream")
        out["downstream_502"] = sum(1 for t in down if t["status"] == 502)
        out["downstream_unanswered"] = sum(1 for t in down if t["status"] is None)
        out["retried"] = sum(1 for t in down if len(t["upstream"] or []) > 1)
        out["downstream_without_upstream"] = sum(1 for t in down if not t["upstream"])
        per_up = {}
        for r in races:
            if r["leg"] == "upstream":
                per_up[r["server"]] = per_up.get(r["server"], 0) + 1
        out["races_per_upstream"] = per_up
    return out


def check_nginx(access, errors, by_rid, cs, problems, down502):
    for a in access:
        lst = by_rid.get(a["request_id"], [])
        down = [t for c, t in lst if c["leg"] == "downstream"]
        up = [t for c, t in lst if c["leg"] == "upstream"]
        if len(down) != 1 or str(down[0]["status"]) != a["status"]:
            problems.append(f"access log {a['request_id']} status {a['status']} vs capture "
                            f"{[t['status'] for t in down]}")
        if len(up) != len(a["upstream_status_list"]):
            problems.append(f"access log {a['request_id']}: {len(a['upstream_status_list'])} upstream attempts,"
                            f" capture {len(up)}")
        for t, s in zip(sorted(up, key=lambda t: t["request_start_at"]), a["upstream_status_list"]):
            if (t["status"] is None) != (s == "502"):
                problems.append(f"access log {a['request_id']}: upstream status {s} vs capture {t['status']}")
    failed_up = sum(1 for c in cs if c["leg"] == "upstream" for t in c["transactions"] if t["status"] is None)
    race_lines = [e for e in errors if e["request"]]
    if len(race_lines) != failed_up:
        problems.append(f"nginx error log: {len(race_lines)} upstream errors, capture {failed_up} unanswered"
                        f" upstream requests")
    for d in down502:
        a = next((a for a in access if a["request_id"] == d["request_id"]), None)
        d["access_log"] = {k: a[k] for k in ("status", "upstream_addr", "upstream_status", "request_time",
                                             "upstream_connect_time", "connection")} if a else None
        if a:
            e = [e for e in errors if e["connection"] == a["connection"] and e["request"] == a["request"]
                 and e["time"][-8:] == a_time(a)]
            d["error_log"] = [x["line"] for x in e]


def a_time(a):
    import datetime
    return datetime.datetime.fromtimestamp(float(a["msec"])).strftime("%H:%M:%S")


def check_haproxy(hl, by_rid, cs, problems, down502):
    for h in hl:
        lst = by_rid.get(h["request_id"], [])
        down = [t for c, t in lst if c["leg"] == "downstream"]
        up = [(c, t) for c, t in lst if c["leg"] == "upstream"]
        if len(down) != 1 or down[0]["status"] != h["status"]:
            problems.append(f"haproxy log {h['request_id']} status {h['status']} vs capture "
                            f"{[t['status'] for t in down]}")
        if h["status"] != 502 and h["backend_port"] is not None:
            ans = [c for c, t in up if t["status"] is not None]
            if not ans or int(ans[-1]["client"].rsplit(":", 1)[1]) != h["backend_port"]:
                problems.append(f"haproxy log {h['request_id']}: backend port {h['backend_port']} vs capture")
    logged = {h["request_id"] for h in hl}
    for d in down502:
        h = next((h for h in hl if h["request_id"] == d["request_id"]), None)
        d["haproxy_log"] = h["line"] if h else None
        if d["status"] is None and d["request_id"] in logged:
            problems.append(f"{d['request_id']}: closed without response but logged by haproxy")


def check_upstream(up, by_rid, cs, problems, leg):
    served = {}
    for x in up:
        if x.get("ev") == "request":
            served.setdefault(x["request_id"], []).append(x)
    cap = {}
    for rid, lst in by_rid.items():
        for c, t in lst:
            if c["leg"] == leg and t["status"] is not None:
                cap.setdefault(rid, []).append((c, t))
    if set(served) != set(cap):
        problems.append(f"upstream log serves {len(served)} request ids, capture answers {len(cap)}"
                        f" (only in log: {sorted(set(served) - set(cap))[:5]},"
                        f" only in capture: {sorted(set(cap) - set(served))[:5]})")
    # the server saw ECONNRESET exactly on the connections whose client (the proxy) sent a RST
    reset_ports = sorted(x["peer_port"] for x in up if x.get("ev") == "socket-error" and x.get("code") == "ECONNRESET")
    cap_reset = sorted(int(c["client"].rsplit(":", 1)[1]) for c in cs if c["leg"] == leg and c["rst_by"] == "client")
    if reset_ports != cap_reset:
        problems.append(f"upstream log ECONNRESET on peer ports {reset_ports}, capture client RSTs on {cap_reset}")
    for rid, xs in served.items():
        if rid in cap and sorted(x["peer_port"] for x in xs) != sorted(int(c["client"].rsplit(":", 1)[1])
                                                                         for c, t in cap[rid]):
            problems.append(f"upstream log {rid}: peer port {[x['peer_port'] for x in xs]} vs capture")


def check_settings(name, sc, up, start, problems):
    if sc["config"]:
        text = open(os.path.join(HERE, sc["config"])).read()
        for line in sc["config_lines"]:
            if line not in text:
                problems.append(f"{sc['config']} lacks {line!r}")
    lst = next((x for x in up if x.get("ev") == "listening"), None)
    if lst is None:
        problems.append("upstream log has no listening line")
        return
    u = sc["settings"].get("upstream") or sc["settings"].get("server")
    if "node" in lst:
        want = u["keepAliveTimeout_ms"]
        want = 5000 if isinstance(want, str) else want
        if lst["keepAliveTimeout_ms"] != want:
            problems.append(f"node keepAliveTimeout {lst['keepAliveTimeout_ms']} != {want}")
    if "go" in lst and lst.get("idle_timeout_s") != u.get("IdleTimeout_s"):
        problems.append(f"go IdleTimeout {lst.get('idle_timeout_s')} != {u.get('IdleTimeout_s')}")
    if sc["client"] == "go" and start.get("idle_conn_timeout_s") != sc["settings"]["client"]["IdleConnTimeout_s"]:
        problems.append("go client IdleConnTimeout differs from the settings")


def expect_agreement(cap, ports, cs):
    out = subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "record", "expect.py"), cap]
                         + [str(p) for p in ports], capture_output=True, text=True, check=True)
    exp = json.loads(out.stdout)["connections"]
    if len(exp) != len(cs):
        return f"{len(exp)} connections vs {len(cs)}"
    diffs = []
    for e, c in zip(exp, cs):
        for k in ("client", "server", "requests", "responses", "methods", "statuses", "idle_gaps_s",
                  "final_idle_s", "first_fin_by", "rst_by", "close_reason", "pipelined", "advertised_keepalive",
                  "tcp_keepalive_probes", "syn_seen"):
            a, b = e[k], c[k]
            if k == "idle_gaps_s":
                ok = len(a) == len(b) and all(abs(x - y) < 2e-6 for x, y in zip(a, b))
            elif k == "final_idle_s":
                ok = (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 2e-6)
            else:
                ok = a == b
            if not ok:
                diffs.append(f"conn {c['id']} {k}: expect.py {a} vs {b}")
    return "agree" if not diffs else "; ".join(diffs[:5])


def server_summary(cs, sc):
    out = {}
    for c in cs:
        s = out.setdefault(c["server"], {"server": c["server"], "leg": c["leg"], "connections": 0,
                                         "transactions": 0, "server_idle_closes_s": [],
                                         "client_idle_closes_s": [], "client_resets_idle_s": [],
                                         "advertised_timeout_s": set(), "races": 0, "races_by_kind": {}})
        s["connections"] += 1
        s["transactions"] += c["requests"]
        if c["close_reason"] == "server-idle-timeout":
            s["server_idle_closes_s"].append(c["final_idle_s"])
        elif c["close_reason"] == "client-idle-close":
            s["client_idle_closes_s"].append(c["final_idle_s"])
        elif c["close_reason"] == "reset" and c["rst_by"] == "client" and c["final_idle_s"] is not None:
            s["client_resets_idle_s"].append(c["final_idle_s"])
        if c["advertised_keepalive"] and c["advertised_keepalive"]["timeout"] is not None:
            s["advertised_timeout_s"].add(c["advertised_keepalive"]["timeout"])
        if c["close"]["race"]:
            s["races"] += 1
            k = c["close"]["race"]["kind"]
            s["races_by_kind"][k] = s["races_by_kind"].get(k, 0) + 1
    role = {sc["ports"][k]: k for k in sc["ports"]}
    for s in out.values():
        s["advertised_timeout_s"] = sorted(s["advertised_timeout_s"])
        for k in ("server_idle_closes_s", "client_idle_closes_s", "client_resets_idle_s"):
            xs = sorted(s[k])
            s[k] = xs
            s[k.replace("_s", "") + "_median_s"] = median(xs)
        port = int(s["server"].rsplit(":", 1)[1])
        settings = sc["settings"].get({"downstream": "proxy"}.get(role[port], role[port]))
        s["configured"] = settings
    return list(out.values())


# -- commands ---------------------------------------------------------------------

def describe(name, d):
    """One paragraph, for people: what the scenario's programs logged and what the capture shows."""
    c = d["counts"]
    cap = c["capture"]
    cl = c["client"]
    sc = SCENARIOS[name]
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(cap["races_by_kind"].items()))
    meth = ", ".join(f"{n} {k}" for k, n in sorted(cap["races_by_method"].items()))
    race_txt = f" ({kinds}; {meth})" if kinds else ""
    errs = ", ".join(f"{n} {k}" for k, n in sorted(cl["errors_by_kind"].items())) or "none"
    st = ", ".join(f"{n} x {k}" for k, n in sorted(cl["by_status"].items()))
    out = [f"The client sent {cl['requests']} requests ({cl['posts']} POST): {st}; errors it saw: {errs}."]
    if sc["proxy"] == "nginx":
        p = c["proxy"]
        msgs = "; ".join(f"{n} x '{k}'" for k, n in sorted(p["error_log_by_message"].items())) or "no errors"
        out.append(f"nginx's access log: {p['downstream_502']} x 502 ({p['posts_502']} of them POST, which nginx"
                   f" does not retry), {p['retried']} requests retried on another upstream connection"
                   f" ({p['retried_ok']} then answered 200), {p['upstream_attempts']} upstream attempts of which"
                   f" {p['upstream_attempts_failed']} failed; error log: {msgs}.")
    elif sc["proxy"] == "haproxy":
        p = c["proxy"]
        ts_ = ", ".join(f"{n} x {k}" for k, n in sorted(p["termination_states"].items()))
        out.append(f"HAProxy logged {p['log_lines']} requests ({ts_}), {p['downstream_502']} x 502;"
                   f" {len(p['requests_not_logged'])} requests have no log line: HAProxy closed those client"
                   f" connections without a response (a request lost on a reused server connection that was not"
                   f" the first of its client connection).")
    if "retried_by_client_transport" in cl:
        out.append(f"The Go Transport retried {cl['retried_by_client_transport']} requests on another connection by"
                   f" itself ({cl['retried_ok']} then answered); {cl['posts_failed']} POSTs failed.")
    out.append(f"The capture holds {cap['connections']} connections and {cap['races']} keep-alive races"
               f"{race_txt}" + (f"; {cap['downstream_502']} downstream 502s and"
                                        f" {cap['downstream_unanswered']} downstream requests closed without"
                                        f" a response" if sc["proxy"] else "") + ".")
    return " ".join(out)


def accept(name, cap, logdir):
    d = derive(name, cap, logdir)
    req = SCENARIOS[name]["require"]
    c = d["counts"]
    cap_c = c["capture"]
    why = list(d["problems"])
    if "races" in req and cap_c["races"] < req["races"]:
        why.append(f"only {cap_c['races']} races")
    if "downstream_502" in req and cap_c.get("downstream_502", 0) < req["downstream_502"]:
        why.append("no downstream 502")
    if "retried" in req and cap_c.get("retried", 0) < req["retried"]:
        why.append("no retried request")
    if "downstream_unanswered" in req and cap_c.get("downstream_unanswered", 0) < req["downstream_unanswered"]:
        why.append("no downstream request the proxy closed without answering")
    for k in req.get("kinds", []):
        if not cap_c["races_by_kind"].get(k):
            why.append(f"no {k} race")
    if "client_visible" in req and (c["client"]["failed"] < req["client_visible"]
                                    or c["client"].get("retried_by_client_transport", 0) < req["client_visible"]):
        why.append("the client needs both an error it saw and a request its Transport retried")
    if req.get("no_races") and (cap_c["races"] or c["client"]["failed"]):
        why.append(f"{cap_c['races']} races, {c['client']['failed']} failed requests")
    sv = {s["leg"]: s for s in d["servers"]}
    if "client_idle_closes_upstream" in req and len(sv["upstream"]["client_idle_closes_s"]) < \
            req["client_idle_closes_upstream"]:
        why.append("too few upstream connections closed idle by the proxy")
    if "server_idle_closes_downstream" in req and len(sv["downstream"]["server_idle_closes_s"]) < \
            req["server_idle_closes_downstream"]:
        why.append("too few downstream connections closed idle by the proxy")
    # a loaded machine can stall a server past its timeout (seen once: Node closed 2.5 s late);
    # such runs are recorded again, so that the captures show the timeouts as configured
    for s in d["servers"]:
        t = (s["configured"] or {}).get("idle_close_in_force_s")
        if t is None:
            continue
        late = [x for x in s["server_idle_closes_s"] if x > t + STALL_S]
        late += [r["idle_before_s"] for r in d["races"] if r["server"] == s["server"] and r["idle_before_s"] > t + STALL_S]
        if late:
            why.append(f"{s['server']} closed or raced {len(late)} times more than {STALL_S} s after its"
                       f" {t} s timeout (max {max(late)}): a stalled run")
    print(f"{name}: {describe(name, d)}", file=sys.stderr)
    for w in why:
        print(f"{name}: not accepted: {w}", file=sys.stderr)
    return 0 if not why else 1


def build(name, cap, logdir):
    d = derive(name, cap, logdir)
    sc = SCENARIOS[name]
    stats = tcpdump_stats(logdir)
    cmd = open(os.path.join(logdir, "tcpdump.cmd")).read().strip().replace("NAME.pcap", os.path.basename(cap))
    up = d["upstream_log"]
    lst = next((x for x in up if x.get("ev") == "listening"), {})
    versions = {"tshark": subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.split("\n")[0]}
    if sc["proxy"] == "nginx":
        versions["nginx"] = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    if sc["proxy"] == "haproxy":
        versions["haproxy"] = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    if "node" in lst:
        versions["node"] = lst["node"]
    if "go" in lst:
        versions["go_upstream"] = lst["go"]
    if d["client_start"].get("go"):
        versions["go_client"] = d["client_start"]["go"]
    if d["client_start"].get("python"):
        versions["python_client"] = d["client_start"]["python"]
    pk = d["cs"]
    first = min(c["first_packet_at"] for c in pk)
    last = max(c["last_packet_at"] for c in pk)
    doc = {
        "schema": "httplife-corpus-truth/v1",
        "scenario": name,
        "set": "dev",
        "file": os.path.basename(cap),
        "description": describe(name, d),
        "topology": topology(sc),
        "settings": {**sc["settings"], "client_run": {k: v for k, v in d["client_start"].items() if k not in ("ev",)}},
        "software": versions,
        "server": ", ".join(f"{s['configured'].get('software')} on {s['server']} ({s['leg']})"
                            for s in d["servers"] if s.get("configured")),
        "client": CLIENTS[sc["client"]],
        "capture": {"format": "pcap", "link_type": "EN10MB", "tool": cmd, "packets": d["packets"],
                    "tcp_packets": d["packets"], "bytes": os.path.getsize(cap), "first_packet_at": first,
                    "last_packet_at": last, "tcpdump_stats": stats},
        "connections": d["cs"],
        "races": d["races"],
        "downstream_failures": d["down502"] if sc["proxy"] else None,
        "servers": d["servers"],
        "counts": d["counts"],
        "client_log": d["client_log"],
        "program_logs": {"files": sorted(os.listdir(logdir)), **{
            k: v for k, v in d["program_logs"].items() if k in ("nginx_error",)}},
        "tolerances": {"time_s": 0.005, "relative": 0.02},
        "verification": {"expect_py": d["expect_agreement"],
                         "logs_vs_capture": "agree" if not d["problems"] else d["problems"],
                         "problems": d["problems"]},
        "notes": notes(name, d),
    }
    return doc, d["problems"]


def topology(sc):
    p = sc["ports"]
    if sc["proxy"]:
        return {"client": f"{sc['client']} (127.0.0.1, ephemeral ports)",
                "downstream": f"client -> {sc['proxy']} 127.0.0.1:{p['downstream']}",
                "upstream": f"{sc['proxy']} -> {sc['upstream']} 127.0.0.1:{p['upstream']}",
                "legs_by_server_port": {str(p["downstream"]): "downstream", str(p["upstream"]): "upstream"}}
    return {"client": f"{sc['client']} (127.0.0.1, ephemeral ports)",
            "server": f"{sc['upstream']} 127.0.0.1:{p['server']}", "legs_by_server_port": {str(p["server"]): "server"}}


def notes(name, d):
    out = []
    kinds = d["counts"]["capture"]["races_by_kind"]
    if kinds.get("silent-drop"):
        n = sum(1 for r in d["races"] if r["kind"] == "silent-drop" and r.get("rst_acks_request"))
        out.append(f"{kinds['silent-drop']} race(s) are silent-drop by the spec's packet definition (no FIN, the"
                   f" request answered by a RST alone); in {n} of them the RST acknowledges the request bytes: the"
                   f" upstream closed the idle socket with the request unread in its receive buffer, which"
                   f" makes Linux send RST instead of FIN. No middlebox is involved: it is a crossing that"
                   f" looks like a silent drop on the wire.")
    if d["servers"]:
        for s in d["servers"]:
            if s["client_idle_closes_s"] and not s["server_idle_closes_s"] and len(s["client_idle_closes_s"]) >= 3:
                out.append(f"{s['server']} never closed an idle connection itself: its clients closed all"
                           f" {len(s['client_idle_closes_s'])} after {s['client_idle_closes_median_s']} s idle"
                           f" (median), before its own timeout")
            if s["advertised_timeout_s"] and s["server_idle_closes_median_s"] is not None and \
                    abs(s["advertised_timeout_s"][-1] - s["server_idle_closes_median_s"]) > 0.5:
                out.append(f"{s['server']} advertises Keep-Alive timeout={s['advertised_timeout_s'][-1]} but closes"
                           f" idle connections after {s['server_idle_closes_median_s']} s (median of"
                           f" {len(s['server_idle_closes_s'])})")
    return out


def table(doc):
    lines = [f"{doc['scenario']}: {doc['description']}"]
    for c in doc["connections"]:
        r = c["close"]["race"]
        lines.append(f"  {c['id']:3d} {c['leg']:10s} {c['client']} -> {c['server']}: {c['requests']} req"
                     f" {''.join(m[0] for m in c['methods'])} -> {c['statuses']}; final "
                     f"{c['final_idle_s']}; FIN {c['first_fin_by']}; RST {c['rst_by']}; {c['close_reason']}"
                     + (f" [{r['kind']} {r['method']} idle {r['idle_before_s']:.6f} frames {r['frames']}]" if r else ""))
    for s in doc["servers"]:
        lines.append(f"  server {s['server']} ({s['leg']}): {s['connections']} conns, {s['transactions']} tx,"
                     f" server idle closes median {s['server_idle_closes_median_s']} (n={len(s['server_idle_closes_s'])}),"
                     f" client idle closes median {s['client_idle_closes_median_s']} (n={len(s['client_idle_closes_s'])}),"
                     f" advertised {s['advertised_timeout_s']}, races {s['races']}")
    return "\n".join(lines)


def readme(dirpath):
    """Rewrite the generated block of DIR/README.md (between the facts markers) from DIR/*.truth.json."""
    begin, end = "<!-- facts:begin -->", "<!-- facts:end -->"
    lines = [begin, "", "| capture | packets, bytes | connections | client saw | proxy logged | races in the capture"
             " (kind (leg): connection ids) | timeouts in force (median final idle, n) |", "|---|---|---|---|---|---|---|"]
    for name in sorted(os.listdir(dirpath)):
        if not name.endswith(".truth.json"):
            continue
        d = json.load(open(os.path.join(dirpath, name)))
        c = d["counts"]
        cl = c["client"]
        saw = ", ".join([f"{n} x {k}" for k, n in sorted(cl["by_status"].items())]
                        + [f"{n} x {k}" for k, n in sorted(cl["errors_by_kind"].items())])
        if "retried_by_client_transport" in cl:
            saw += f"; Transport retried {cl['retried_by_client_transport']}"
        p = c.get("proxy")
        if p and "retried" in p:
            pl = f"{p['downstream_502']} x 502, {p['retried']} retried, error log: " + ", ".join(
                f"{n} x {k.split(' (')[0].replace('upstream prematurely closed connection', 'prematurely closed')}"
                for k, n in sorted(p["error_log_by_message"].items())) if p["error_log_by_message"] else \
                f"{p['downstream_502']} x 502, {p['retried']} retried, error log: none"
        elif p:
            pl = ", ".join(f"{n} x {k}" for k, n in sorted(p["termination_states"].items())) + \
                f"; {len(p['requests_not_logged'])} requests not logged"
        else:
            pl = "–"
        kinds = {}
        for r in d["races"]:
            kinds.setdefault(f"{r['kind']} ({r['leg']})", []).append(str(r["connection"]))
        rc = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(kinds.items())) or "none"
        to = "; ".join(
            f"{s['server']}: " + ", ".join(x for x in [
                f"server {s['server_idle_closes_median_s']} s (n={len(s['server_idle_closes_s'])})"
                if s["server_idle_closes_s"] else "",
                f"client {s['client_idle_closes_median_s']} s (n={len(s['client_idle_closes_s'])})"
                if s["client_idle_closes_s"] else "",
                f"advertised {s['advertised_timeout_s'][-1]}" if s["advertised_timeout_s"] else ""] if x)
            for s in d["servers"])
        lines.append(f"| {d['file']} | {d['capture']['packets']}, {d['capture']['bytes']} | {len(d['connections'])}"
                     f" | {saw} | {pl} | {rc} | {to} |")
    lines += ["", end]
    path = os.path.join(dirpath, "README.md")
    text = open(path).read()
    a, b = text.index(begin), text.index(end) + len(end)
    open(path, "w").write(text[:a] + "\n".join(lines) + text[b:])


def strip_volatile(doc):
    """The parts of a truth document that re-deriving must reproduce (versions may change)."""
    d = dict(doc)
    for k in ("software", "server"):
        d.pop(k, None)
    return json.loads(json.dumps(d))


def check(paths):
    bad = 0
    for p in paths:
        doc = json.load(open(p))
        base = os.path.dirname(os.path.abspath(p))
        cap = os.path.join(base, doc["file"])
        logdir = os.path.join(base, "logs", doc["scenario"])
        new, problems = build(doc["scenario"], cap, logdir)
        a, b = strip_volatile(doc), strip_volatile(new)
        diffs = []
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                diffs.append(k)
        if problems:
            diffs.append(f"problems: {problems[:3]}")
        print(f"{os.path.basename(p)}: {'ok' if not diffs else 'DIFFERS in ' + ', '.join(diffs)}")
        bad += bool(diffs)
    return 1 if bad else 0


def dumps(obj, depth=0, pretty=3):
    """JSON with one line per item down to `pretty` levels, compact below (transactions: one line each)."""
    one_per_line = depth == pretty and isinstance(obj, list) and all(isinstance(x, dict) for x in obj)
    if (depth >= pretty and not one_per_line) or not isinstance(obj, (dict, list)) or not obj:
        return json.dumps(obj, separators=(", ", ": "))
    pad, inner = " " * depth, " " * (depth + 1)
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, depth + 1, pretty)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    items = [f"{inner}{dumps(v, depth + 1, pretty)}" for v in obj]
    if one_per_line:
        items = [inner + json.dumps(v, separators=(", ", ": ")) for v in obj]
    return "[\n" + ",\n".join(items) + "\n" + pad + "]"


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "write":
        doc, problems = build(a[1], a[2], a[3])
        print(dumps(doc))
        if problems:
            print("\n".join(f"problem: {x}" for x in problems), file=sys.stderr)
            sys.exit(1)
    elif len(a) == 4 and a[0] == "accept":
        sys.exit(accept(a[1], a[2], a[3]))
    elif len(a) == 2 and a[0] == "table":
        print(table(json.load(open(a[1]))))
    elif len(a) == 2 and a[0] == "readme":
        readme(a[1])
    elif len(a) >= 2 and a[0] == "check":
        sys.exit(check(a[1:]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
