#!/usr/bin/env python3
"""truth.py [--upgrade] CAPTURE PORT... > CAPTURE.truth.json

The HTTP/2 truth of a capture, from tshark's dissection (tshark -d
tcp.port==PORT,http2 -T json --no-duplicate-keys): per TCP connection, its
streams in the order of their request HEADERS, each with method, path,
final status and the capture times of the frames that start and end the
request (HEADERS; the frame with END_STREAM) and the response (the HEADERS
with a final :status; the frame with END_STREAM); the server's first
GOAWAY; who sent the first FIN. With --upgrade the ports are not forced
to HTTP/2: tshark follows an HTTP/1.1 Upgrade: h2c itself, and the
upgraded request (HTTP/1.1, answered 101) is stream 1, whose final
response comes in HTTP/2 frames.
"""
import json
import subprocess
import sys
from datetime import datetime, timezone


def ts(epoch):
    s, _, f = epoch.partition(".")
    t = datetime.fromtimestamp(int(s), tz=timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + (f + "000000000")[:9] + "Z"


def many(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def find(d, key):
    """The values of key anywhere in the nested dict d."""
    out = []
    if isinstance(d, dict):
        for k, v in d.items():
            if k == key:
                out += many(v)
            else:
                out += find(v, key)
    elif isinstance(d, list):
        for v in d:
            out += find(v, key)
    return out


def main():
    argv = sys.argv[1:]
    upgrade = argv[0] == "--upgrade"
    if upgrade:
        argv = argv[1:]
    cap, ports = argv[0], [int(p) for p in argv[1:]]
    args = ["tshark", "-r", cap, "-T", "json", "--no-duplicate-keys"]
    for p in ports if not upgrade else []:
        args += ["-d", f"tcp.port=={p},http2"]
    pkts = json.loads(subprocess.run(args, capture_output=True, check=True, text=True).stdout)
    conns = {}
    for p in pkts:
        ly = p["_source"]["layers"]
        tcp, ip = ly.get("tcp"), ly.get("ip") or ly.get("ipv6")
        if not tcp or not ip:
            continue
        src = f'{many(ip.get("ip.src") or ip.get("ipv6.src"))[0]}:{tcp["tcp.srcport"]}'
        dst = f'{many(ip.get("ip.dst") or ip.get("ipv6.dst"))[0]}:{tcp["tcp.dstport"]}'
        t = ts(ly["frame"]["frame.time_epoch"])
        sport, dport = int(tcp["tcp.srcport"]), int(tcp["tcp.dstport"])
        if dport in ports:
            client, server, who = src, dst, "client"
        elif sport in ports:
            client, server, who = dst, src, "server"
        else:
            continue
        c = conns.setdefault((client, server), {"client": client, "server": server, "streams": {}, "order": [],
                                                "goaway_at": None, "first_fin_by": None, "http1": None})
        h1 = ly.get("http")
        if h1 is not None:
            m, u = find(h1, "http.request.method"), find(h1, "http.request.uri")
            if who == "client" and m:
                c["http1"] = {"stream": 1, "method": m[0], "path": u[0], "status": None, "interim": [101],
                              "request_start_at": t, "request_end_at": t,
                              "response_start_at": None, "response_end_at": None}
            if who == "server" and "101" in find(h1, "http.response.code") and c["http1"] is not None:
                c["streams"][1] = c["http1"]
                c["order"].append(1)
        flags = int(tcp["tcp.flags"], 16)
        if flags & 1 and c["first_fin_by"] is None:
            c["first_fin_by"] = who
        for h2 in many(ly.get("http2")):
            for fr in many(h2.get("http2.stream")):
                typ, sid = int(fr.get("http2.type", "-1")), int(fr.get("http2.streamid", "0"))
                end = fr.get("http2.flags_tree", {}).get("http2.flags.end_stream") == "1"
                if typ == 7 and who == "server" and c["goaway_at"] is None:
                    c["goaway_at"] = t
                if sid == 0 or typ not in (0, 1):
                    continue
                hdrs = {}
                for h in many(fr.get("http2.header")):
                    hdrs.setdefault(h.get("http2.header.name"), h.get("http2.header.value"))
                s = c["streams"].get(sid)
                if who == "client":
                    if s is None and typ == 1:
                        s = {"stream": sid, "method": hdrs.get(":method"), "path": hdrs.get(":path"), "status": None,
                             "request_start_at": t, "request_end_at": None,
                             "response_start_at": None, "response_end_at": None}
                        c["streams"][sid] = s
                        c["order"].append(sid)
                    if s is not None and end:
                        s["request_end_at"] = t
                elif s is not None:
                    st = hdrs.get(":status")
                    if typ == 1 and st is not None and int(st) >= 200:
                        s["status"], s["response_start_at"] = int(st), t
                    if end and s["response_start_at"] is not None:
                        s["response_end_at"] = t
    out = {"schema": "httplife-h2-truth/v1", "file": cap.rsplit("/", 1)[-1], "server_ports": ports,
           "connections": [{"client": c["client"], "server": c["server"],
                            "streams": [c["streams"][i] for i in c["order"]],
                            "goaway_at": c["goaway_at"], "first_fin_by": c["first_fin_by"]}
                           for c in conns.values()]}
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
