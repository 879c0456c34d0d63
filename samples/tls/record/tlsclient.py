#!/usr/bin/env python3
"""Python ssl client used by record.sh to drive the TLS sample captures.

usage: tlsclient.py [options] SCENARIO

Every connection writes its secrets with SSLContext.keylog_filename (the
NSS key log format), sends exact HTTP/1.1 request bytes with chosen sleeps
between them and reads each response by its framing (Content-Length or
chunked). Every socket has a timeout; every loop is bounded. One line per
event goes to stdout.

Scenarios:
  spaced   one connection, the requests of --plan ("PATH:SLEEP_AFTER,..."),
           then --end: "unwrap" (close_notify, then FIN), "close" (FIN only),
           or "wait" (stay idle until the server closes)
  resume   two connections per version in --versions: the second resumes the
           first's session (TLS 1.2 ticket, TLS 1.3 PSK)
  race     --n connections in parallel: a GET, then a second GET
           --idle + offset seconds after the first response, the offsets
           swept over --lo..--hi ms around the server's keep-alive timeout
"""
import argparse
import socket
import ssl
import sys
import threading
import time

T0 = time.monotonic()
LOCK = threading.Lock()
OP_NO_ENCRYPT_THEN_MAC = 0x00080000  # OpenSSL's SSL_OP_NO_ENCRYPT_THEN_MAC


def log(name, msg):
    with LOCK:
        print(f"{time.monotonic() - T0:8.4f} {name}: {msg}", flush=True)


def context(a, version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.keylog_filename = a.keylog
    v = version or a.tls
    if v == "1.2":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif v == "1.3":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    if a.ciphers:
        ctx.set_ciphers(a.ciphers)
    if a.no_etm:
        ctx.options |= OP_NO_ENCRYPT_THEN_MAC
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class Conn:
    def __init__(self, a, name, ctx, session=None):
        self.name, self.a = name, a
        raw = socket.create_connection((a.host, a.port), timeout=10)
        self.s = ctx.wrap_socket(raw, server_hostname=a.sni or None, session=session)
        self.buf = b""
        log(name, f"{self.s.version()} {self.s.cipher()[0]} local port {self.s.getsockname()[1]} "
                  f"alpn {self.s.selected_alpn_protocol()} resumed {self.s.session_reused}")

    def send(self, path):
        req = (f"GET {path} HTTP/1.1\r\nHost: {self.a.sni or self.a.host}:{self.a.port}\r\n"
               f"User-Agent: httplife-tls-samples/1\r\n\r\n").encode()
        self.s.sendall(req)
        log(self.name, f"sent GET {path}")

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("eof")
        self.buf += d

    def response(self):
        for _ in range(10000):
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            self.fill()
        head, self.buf = self.buf[:i].decode("latin-1"), self.buf[i + 4:]
        lines = head.split("\r\n")
        hd = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        if "content-length" in hd:
            n = int(hd["content-length"])
            for _ in range(100000):
                if len(self.buf) >= n:
                    break
                self.fill()
            self.buf = self.buf[n:]
        elif hd.get("transfer-encoding", "").lower() == "chunked":
            for _ in range(10000):
                while b"\r\n" not in self.buf:
                    self.fill()
                size_line, _, self.buf = self.buf.partition(b"\r\n")
                n = int(size_line.split(b";")[0], 16)
                while len(self.buf) < n + 2:
                    self.fill()
                self.buf = self.buf[n + 2:]
                if n == 0:
                    break
        log(self.name, f"response {lines[0]}")
        return lines[0]

    def get(self, path):
        self.send(path)
        return self.response()

    def wait_close(self, limit):
        end = time.monotonic() + limit
        self.s.settimeout(limit)
        try:
            while time.monotonic() < end:
                if not self.s.recv(65536):
                    log(self.name, "server closed (EOF after its close_notify or FIN)")
                    return
        except (ssl.SSLError, OSError) as e:
            log(self.name, f"server closed: {e!r}")
            return
        log(self.name, "no close from the server")

    def end(self, how):
        if how == "unwrap":
            try:
                self.s.unwrap()  # sends close_notify, waits for the server's
            except (ssl.SSLError, OSError) as e:
                log(self.name, f"unwrap: {e!r}")
        elif how == "wait":
            self.wait_close(self.a.wait)
        self.s.close()
        log(self.name, f"closed ({how})")


def spaced(a):
    c = Conn(a, "conn1", context(a))
    for step in a.plan.split(","):
        path, _, pause = step.partition(":")
        c.get(path)
        time.sleep(float(pause or 0))
    c.end(a.end)


def resume(a):
    for v in a.versions.split(","):
        ctx = context(a, v)
        c = Conn(a, f"tls{v}-first", ctx)
        c.get("/a.txt")
        time.sleep(0.2)  # TLS 1.3 tickets arrive after the handshake
        sess = c.s.session
        c.end("unwrap")
        time.sleep(0.3)
        c2 = Conn(a, f"tls{v}-resumed", ctx, session=sess)
        if not c2.s.session_reused:
            log(c2.name, "NOT resumed")
        c2.get("/b.txt")
        time.sleep(0.2)
        c2.end("unwrap")
        time.sleep(0.3)


def race(a):
    n = a.n
    offsets = [a.lo + (a.hi - a.lo) * i / (n - 1) for i in range(n)]

    def one(i, off_ms):
        name = f"conn{i + 1}"
        c = Conn(a, name, context(a))
        c.get("/")
        target = time.monotonic() + a.idle + off_ms / 1000.0
        time.sleep(max(0.0, target - time.monotonic() - 0.005))
        for _ in range(10_000_000):
            if time.monotonic() >= target:
                break
        try:
            c.send("/a.txt")
            c.response()
            log(name, f"offset {off_ms:+.2f} ms: answered")
            c.wait_close(a.idle + 2.0)
        except (EOFError, ssl.SSLError, OSError) as e:
            log(name, f"offset {off_ms:+.2f} ms: lost: {e!r}")
        c.s.close()

    threads = [threading.Thread(target=one, args=(i, off)) for i, off in enumerate(offsets)]
    for th in threads:
        th.start()
        time.sleep(0.03)
    for th in threads:
        th.join(20)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", choices=["spaced", "resume", "race"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--sni", default="httplife.test")
    p.add_argument("--keylog", required=True)
    p.add_argument("--tls", choices=["1.2", "1.3", "any"], default="any")
    p.add_argument("--ciphers", default="")
    p.add_argument("--no-etm", action="store_true")
    p.add_argument("--plan", default="/:0.3,/a.txt:0.6,/b.txt:0")
    p.add_argument("--end", choices=["unwrap", "close", "wait"], default="unwrap")
    p.add_argument("--wait", type=float, default=6.0)
    p.add_argument("--versions", default="1.2,1.3")
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--idle", type=float, default=1.0)
    p.add_argument("--lo", type=float, default=-3.0)
    p.add_argument("--hi", type=float, default=4.0)
    a = p.parse_args()
    {"spaced": spaced, "resume": resume, "race": race}[a.scenario](a)


if __name__ == "__main__":
    sys.exit(main())
