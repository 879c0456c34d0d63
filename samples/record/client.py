#!/usr/bin/env python3
"""Raw-socket HTTP/1.x client used by record.sh to drive the sample captures.

usage: client.py SCENARIO PORT

It writes exact request bytes with chosen sleeps between them, reads each
response by its framing (1xx interim responses skipped; HEAD/204/304 without
body; Content-Length; chunked; else until EOF) and logs what it observed, one
line per event, to stdout. Every loop is bounded; every socket has a timeout.

Scenarios: go-idle-timeout, lighttpd, apache-maxreq, client-rst-race,
pipelined-ipv6 (the curl-driven captures need no client here).
"""
import socket
import sys
import threading
import time

T0 = time.monotonic()
LOCK = threading.Lock()


def log(conn, msg):
    with LOCK:
        print(f"{time.monotonic() - T0:8.4f} conn{conn}: {msg}", flush=True)


class Conn:
    def __init__(self, name, host, port, family=socket.AF_INET, timeout=10.0):
        self.name = name
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.host = host if family == socket.AF_INET else f"[{host}]"
        self.port = port
        self.buf = b""
        self.eof = False
        log(self.name, f"connected from local port {self.sock.getsockname()[1]}")

    # -- writing -----------------------------------------------------------
    def request(self, method, path, headers=(), version="HTTP/1.1", body=b"", keepalive=True):
        lines = [f"{method} {path} {version}", f"Host: {self.host}:{self.port}",
                 "User-Agent: httplife-samples/1"]
        names = {h.split(":", 1)[0].strip().lower() for h in headers}
        if keepalive and version == "HTTP/1.1" and "connection" not in names:
            lines.append("Connection: keep-alive")
        lines += list(headers)
        if body:
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def send(self, data):
        self.sock.sendall(data)
        first = data.split(b"\r\n", 1)[0].decode(errors="replace")
        log(self.name, f"sent {len(data)} bytes ({first} ...)")

    # -- reading -----------------------------------------------------------
    def _fill(self):
        if self.eof:
            return False
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _line(self):
        for _ in range(10000):
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line.decode("latin-1")
            if not self._fill():
                raise EOFError("eof inside a header line")
        raise RuntimeError("line too long")

    def _exact(self, n):
        for _ in range(100000):
            if len(self.buf) >= n:
                data, self.buf = self.buf[:n], self.buf[n:]
                return data
            if not self._fill():
                raise EOFError("eof inside a body")
        raise RuntimeError("body too long")

    def _head(self):
        status_line = self._line()
        headers = {}
        for _ in range(200):
            line = self._line()
            if line == "":
                break
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        parts = status_line.split(" ", 2)
        return parts[0], int(parts[1]), headers

    def response(self, method="GET"):
        """Read one final response; returns (version, status, headers, body, interim)."""
        interim = []
        for _ in range(10):
            version, status, headers = self._head()
            if 100 <= status < 200:
                interim.append(status)
                continue
            break
        body = b""
        if method == "HEAD" or status in (204, 304):
            pass
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            for _ in range(100000):
                size = int(self._line().split(";")[0], 16)
                if size == 0:
                    for _ in range(100):  # trailers
                        if self._line() == "":
                            break
                    break
                body += self._exact(size)
                self._exact(2)
        elif "content-length" in headers:
            body = self._exact(int(headers["content-length"]))
        else:
            for _ in range(100000):
                if not self._fill():
                    break
            body, self.buf = self.buf, b""
        extra = f" interim {interim}" if interim else ""
        log(self.name, f"got {version} {status} body {len(body)} B"
                       f" Connection={headers.get('connection')!r} Keep-Alive={headers.get('keep-alive')!r}{extra}")
        return version, status, headers, body, interim

    def get(self, path, method="GET", headers=(), **kw):
        self.send(self.request(method, path, headers, **kw))
        return self.response(method)

    def wait_eof(self, limit=6.0):
        """Wait (at most `limit` s) for the server to close; True on EOF."""
        deadline = time.monotonic() + limit
        old = self.sock.gettimeout()
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    if not self._fill():
                        log(self.name, "read EOF (server closed)")
                        return True
                except socket.timeout:
                    break
                except ConnectionResetError:
                    log(self.name, "read ECONNRESET")
                    return True
            log(self.name, "no EOF within limit")
            return False
        finally:
            self.sock.settimeout(old)

    def close(self):
        self.sock.close()
        log(self.name, "closed")


def sleep(s):
    time.sleep(s)


# -- scenarios --------------------------------------------------------------

def go_idle_timeout(port):
    h = "127.0.0.1"
    # 1: three GETs, idle gaps 0.2 s and 0.5 s, then idle until Go's 1.5 s IdleTimeout.
    c = Conn(1, h, port)
    c.get("/")
    sleep(0.2)
    c.get("/a")
    sleep(0.5)
    c.get("/b")
    c.wait_eof(4.0)
    c.close()
    sleep(0.3)
    # 2: GET, 0.3 s, GET with Connection: close -> Go answers Connection: close and closes.
    c = Conn(2, h, port)
    c.get("/")
    sleep(0.3)
    c.get("/c", headers=["Connection: close"])
    c.wait_eof(2.0)
    c.close()
    sleep(0.3)
    # 3: chunked streamed body (3 flushed parts 20 ms apart), 0.2 s, GET, client closes after 0.3 s.
    c = Conn(3, h, port)
    c.get("/stream")
    sleep(0.2)
    c.get("/")
    sleep(0.3)
    c.close()


def lighttpd(port):
    h = "127.0.0.1"
    # 1: three GETs with gaps 0.3 s and 0.6 s, then lighttpd's keep-alive idle close.
    c = Conn(1, h, port)
    c.get("/")
    sleep(0.3)
    c.get("/a.txt")
    sleep(0.6)
    c.get("/b.txt")
    c.wait_eof(5.0)
    c.close()
    sleep(0.3)
    # 2: HEAD, conditional GETs (304 by ETag, 304 by date), a 404; client closes after 0.3 s.
    c = Conn(2, h, port)
    _, _, hd, _, _ = c.get("/a.txt", method="HEAD")
    etag, lm = hd.get("etag"), hd.get("last-modified")
    sleep(0.2)
    c.get("/a.txt", headers=[f"If-None-Match: {etag}"])
    sleep(0.2)
    c.get("/a.txt", headers=[f"If-Modified-Since: {lm}"])
    sleep(0.2)
    c.get("/nope.txt")
    sleep(0.3)
    c.close()


def apache_maxreq(port):
    h = "127.0.0.1"
    # 1: GETs 0.1 s apart until apache answers Connection: close (MaxKeepAliveRequests).
    c = Conn(1, h, port)
    for i in range(10):
        _, _, hd, _, _ = c.get(f"/?n={i + 1}")
        if "close" in hd.get("connection", "").lower():
            c.wait_eof(3.0)
            break
        sleep(0.1)
    c.close()
    sleep(0.3)
    # 2: one GET, the client closes after 0.3 s idle.
    c = Conn(2, h, port)
    c.get("/")
    sleep(0.3)
    c.close()


def client_rst_race(port, n=10, lo_ms=-3.0, hi_ms=5.0, ka_s=1.0):
    """n parallel connections: GET, then a second GET ka_s + offset after the
    first response; offsets sweep lo_ms..hi_ms across the server's close."""
    offsets = [lo_ms + (hi_ms - lo_ms) * i / (n - 1) for i in range(n)]

    def one(i, off_ms):
        c = Conn(i + 1, "127.0.0.1", port)
        c.get("/")
        t = time.monotonic()
        target = t + ka_s + off_ms / 1000.0
        # sleep most of the way, then spin for the last few ms (bounded)
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
            c.wait_eof(ka_s + 2.0)  # answered: stay idle until the server closes
        except EOFError:
            log(c.name, f"offset {off_ms:+.2f} ms: second request lost: EOF (server FIN), no response")
        except ConnectionResetError:
            log(c.name, f"offset {off_ms:+.2f} ms: second request lost: ECONNRESET, no response")
        except socket.timeout:
            log(c.name, f"offset {off_ms:+.2f} ms: second request: timeout")
        c.close()

    threads = [threading.Thread(target=one, args=(i, off)) for i, off in enumerate(offsets)]
    for th in threads:
        th.start()
        time.sleep(0.02)  # keep the SYNs (and connection order) distinct
    for th in threads:
        th.join(15)


def pipelined_ipv6(port):
    c = Conn(1, "::1", port, family=socket.AF_INET6)
    # three requests in one send() before reading anything
    c.send(c.request("GET", "/") + c.request("GET", "/a.txt") + c.request("GET", "/b.txt"))
    for _ in range(3):
        c.response()
    sleep(0.3)
    c.get("/a.txt")
    sleep(0.4)
    c.close()


SCENARIOS = {
    "go-idle-timeout": go_idle_timeout,
    "lighttpd": lighttpd,
    "apache-maxreq": apache_maxreq,
    "client-rst-race": client_rst_race,
    "pipelined-ipv6": pipelined_ipv6,
}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in SCENARIOS:
        sys.exit(__doc__)
    SCENARIOS[sys.argv[1]](int(sys.argv[2]))
