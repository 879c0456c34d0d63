#!/usr/bin/env python3
"""Held-out simulation client (reuses Conn from samples/record/client.py, copied here).
usage: client2.py SCENARIO PORT [ARGS...]"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "record"))  # samples/record/client.py
from client import Conn, log, sleep  # noqa: E402

H = "127.0.0.1"


def ka_server_timeout(port, gaps=(0.15, 0.7), host=H, fam=socket.AF_INET, paths=("/", "/a.txt", "/b.txt"), limit=6.0):
    c = Conn(1, host, port, family=fam)
    c.get(paths[0])
    for g, p in zip(gaps, paths[1:]):
        sleep(g)
        c.get(p)
    c.wait_eof(limit)
    c.close()


def client_closes(port, gap=0.7, idle=0.15, host=H, fam=socket.AF_INET):
    c = Conn(1, host, port, family=fam)
    c.get("/")
    sleep(gap)
    c.get("/a.txt")
    sleep(idle)
    c.close()


def conn_close_header(port):
    c = Conn(1, H, port)
    c.get("/")
    sleep(0.15)
    c.get("/a.txt", headers=["Connection: close"])
    c.wait_eof(3.0)
    c.close()


def http10(port, third_idle=0.7):
    # 1: HTTP/1.0 without Connection header
    c = Conn(1, H, port)
    c.get("/", version="HTTP/1.0")
    c.wait_eof(3.0)
    c.close()
    sleep(0.2)
    # 2 is ab -k (run by the shell); 3: HTTP/1.0 + keep-alive, 2 requests 0.15 s apart
    c = Conn(3, H, port)
    _, _, hd, _, _ = c.get("/a.txt", version="HTTP/1.0", headers=["Connection: keep-alive"])
    if "keep-alive" in (hd.get("connection") or "").lower():
        sleep(0.15)
        c.get("/b.txt", version="HTTP/1.0", headers=["Connection: keep-alive"])
        sleep(third_idle)
    else:
        c.wait_eof(3.0)
    c.close()


def http10_python(port):
    # python's default http.server (HTTP/1.0): 1.0 plain, 1.1 keep-alive, 1.0 + keep-alive
    c = Conn(1, H, port)
    c.get("/", version="HTTP/1.0")
    c.wait_eof(3.0)
    c.close()
    sleep(0.2)
    c = Conn(2, H, port)
    c.get("/a.txt")  # HTTP/1.1 + Connection: keep-alive, answered HTTP/1.0 and closed
    c.wait_eof(3.0)
    c.close()
    sleep(0.2)
    c = Conn(3, H, port)
    c.get("/b.txt", version="HTTP/1.0", headers=["Connection: keep-alive"])
    c.wait_eof(3.0)
    c.close()


def max_requests(port, n=6, gap=0.15, last_idle=0.3):
    done = 0
    k = 0
    for _ in range(n):
        k += 1
        c = Conn(k, H, port)
        closed = False
        while done < n:
            _, _, hd, _, _ = c.get(f"/a.txt?n={done + 1}")
            done += 1
            if "close" in (hd.get("connection") or "").lower():
                c.wait_eof(3.0)
                closed = True
                break
            if done < n:
                sleep(gap)
        if not closed:
            sleep(last_idle)
        c.close()
        if done >= n:
            break
        sleep(gap)


def tcp_probes(port, limit=6.0):
    c = Conn(1, H, port)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 5)
    c.get("/")
    c.wait_eof(limit)
    c.close()


def wait_file(path, limit=30.0):
    for _ in range(int(limit / 0.05)):
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    raise SystemExit("no go file")


def midstream(port, flagdir, gap=0.7, end="client", idle=0.15, limit=6.0):
    c = Conn(1, H, port)
    c.get("/")
    open(os.path.join(flagdir, "ready"), "w").close()
    wait_file(os.path.join(flagdir, "go"))
    c.get("/a.txt")
    sleep(gap)
    c.get("/b.txt")
    if end == "client":
        sleep(idle)
    else:
        c.wait_eof(limit)
    c.close()


def chunked_go(port):
    c = Conn(1, H, port)
    c.get("/stream")
    sleep(0.15)
    c.get("/stream", method="HEAD")
    sleep(0.2)
    _, _, hd, _, _ = c.get("/a.txt")
    sleep(0.15)
    c.get("/a.txt", headers=[f"If-None-Match: {hd.get('etag')}"])
    sleep(0.2)
    c.get("/nocontent")
    sleep(0.3)
    c.get("/stream")
    c.wait_eof(5.0)
    c.close()


def chunked_python(port):
    c = Conn(1, H, port)
    c.get("/chunked")
    sleep(0.25)
    c.get("/a.txt", method="HEAD")
    sleep(0.15)
    c.get("/chunked")
    sleep(0.15)
    c.get("/missing.txt")
    c.wait_eof(5.0)
    c.close()


def pipelining(port, limit=5.0):
    c = Conn(1, H, port)
    c.send(c.request("GET", "/") + c.request("GET", "/a.txt") + c.request("GET", "/b.txt"))
    for _ in range(3):
        c.response()
    sleep(0.7)
    c.get("/a.txt")
    c.wait_eof(limit)
    c.close()


def post_crlf(port, limit=5.0):
    c = Conn(1, H, port)
    body = b"name=httplife&x=" + b"y" * 10
    c.send(c.request("POST", "/post", headers=["Content-Type: application/x-www-form-urlencoded"], body=body) + b"\r\n")
    c.response()
    sleep(0.2)
    c.get("/")
    sleep(0.25)
    c.close()
    sleep(0.2)
    c = Conn(2, H, port)
    body = b"f=" + b"z" * 498
    c.send(c.request("POST", "/post", headers=["Content-Type: application/x-www-form-urlencoded"], body=body))
    c.response()
    sleep(0.1)
    c.send(b"\r\n")
    sleep(0.5)
    c.get("/a.txt")
    c.wait_eof(limit)
    c.close()


def reset(port, drop="/drop"):
    c = Conn(1, H, port)
    c.get("/")
    sleep(0.15)
    c.get("/a.txt")
    sleep(0.7)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    sleep(0.2)
    c = Conn(2, H, port)
    c.send(c.request("GET", drop))
    try:
        c.response()
    except (EOFError, ConnectionResetError) as e:
        log(2, f"no response: {e!r}")
    c.close()


def browser_like(port, limit=4.0):
    pool = [Conn(i + 1, H, port) for i in range(5)]
    pool[0].get("/")
    bursts = [(7, 0.6), (6, 1.1), (5, 0)]
    k = 0
    for n, pause in bursts:
        assign = {}
        for j in range(n):
            assign.setdefault(k % 5, []).append(["/", "/a.txt", "/b.txt"][j % 3])
            k += 1
        ths = [threading.Thread(target=lambda c=pool[i], ps=ps: [c.get(p) for p in ps]) for i, ps in assign.items()]
        for t in ths:
            t.start()
        for t in ths:
            t.join(10)
        sleep(pause)
    sleep(0.5)
    pool[0].close()
    pool[1].close()
    ths = [threading.Thread(target=lambda c=c: (c.wait_eof(limit), c.close())) for c in pool[2:]]
    for t in ths:
        t.start()
    for t in ths:
        t.join(10)


def race(port, n=16, lo_ms=-3.0, hi_ms=4.0, parallel=True, limit=4.0):
    # probe connection: how long after a response does the server close?
    c = Conn(0, H, port)
    c.get("/")
    t = time.monotonic()
    c.wait_eof(limit)
    d = time.monotonic() - t
    c.close()
    log(0, f"probe: server closed {d:.4f} s after the response")
    offsets = [lo_ms + (hi_ms - lo_ms) * i / (n - 1) for i in range(n)]

    def one(i, off_ms):
        c = Conn(i + 1, H, port)
        c.get("/")
        target = time.monotonic() + d + off_ms / 1000.0
        time.sleep(max(0.0, target - time.monotonic() - 0.005))
        for _ in range(10_000_000):
            if time.monotonic() >= target:
                break
        try:
            c.send(c.request("GET", "/a.txt"))
        except OSError as e:
            log(c.name, f"offset {off_ms:+.2f} ms: send failed: {e!r}")
            c.close()
            return
        try:
            _, status, _, _, _ = c.response()
            log(c.name, f"offset {off_ms:+.2f} ms: second request answered {status}")
            c.wait_eof(limit)
        except EOFError:
            log(c.name, f"offset {off_ms:+.2f} ms: second request lost: EOF, no response")
        except ConnectionResetError:
            log(c.name, f"offset {off_ms:+.2f} ms: second request lost: ECONNRESET, no response")
        except socket.timeout:
            log(c.name, f"offset {off_ms:+.2f} ms: timeout")
        c.close()

    if parallel:
        ths = [threading.Thread(target=one, args=(i, off)) for i, off in enumerate(offsets)]
        for th in ths:
            th.start()
            time.sleep(0.03)
        for th in ths:
            th.join(20)
    else:
        for i, off in enumerate(offsets):
            one(i, off)
            time.sleep(0.05)


def probes_closewait(port, linger_after_eof=2.6):
    c = Conn(1, H, port)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 5)
    c.get("/")
    c.wait_eof(5.0)
    sleep(linger_after_eof)  # stay in CLOSE_WAIT: the kernel keeps probing
    c.close()


SC = {"probes-closewait": probes_closewait,
    "ka-timeout": ka_server_timeout, "client-closes": client_closes, "conn-close": conn_close_header,
    "http10": http10, "http10-python": http10_python, "max-requests": max_requests, "probes": tcp_probes,
    "midstream": midstream, "chunked-go": chunked_go, "chunked-python": chunked_python,
    "pipelining": pipelining, "post-crlf": post_crlf, "reset": reset, "browser": browser_like, "race": race,
}

if __name__ == "__main__":
    name, port = sys.argv[1], int(sys.argv[2])
    kw = {}
    for a in sys.argv[3:]:
        k, _, v = a.partition("=")
        try:
            v = float(v) if "." in v or v.lstrip("-").isdigit() else v
            if isinstance(v, float) and v.is_integer() and k in ("n",):
                v = int(v)
        except ValueError:
            pass
        if v in ("True", "False"):
            v = v == "True"
        kw[k] = v
    if "fam6" in kw:
        kw.pop("fam6")
        kw["fam"] = socket.AF_INET6
    SC[name](port, **kw)
