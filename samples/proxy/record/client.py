#!/usr/bin/env python3
"""Raw-socket HTTP/1.1 client of the proxy scenarios (samples/proxy/record/record.sh).

usage: client.py --port P --conns N --gaps G1,G2,... [options]

N threads, one downstream keep-alive connection each, send requests in
waves: wave 0 at once, then, after every thread has read its response of
wave w-1, wave w is sent gap_w seconds (+ thread index x --offset) after the
last response of wave w-1 was read. Waves keep the proxy's upstream pool
busy together, so that every upstream connection it reuses in wave w has
been idle for about gap_w: sweeping gap_w across the upstream's idle timeout
makes the proxy reuse connections just as the upstream closes them.

Request k of thread i in wave w: POST /api/orders (a 40-byte JSON body) when
(w + i) % --post-every == 0, else GET /api/items (odd waves) or
GET /api/items/<w> (even waves). Every request carries
X-Request-Id: <prefix><w>-<i>, which the proxies pass upstream unchanged: the
truth links both legs by it (the analyser sees only method and target).

Threads listed in --fresh open a new connection for every request and close
it after the response (the first request of a client session each time).
After a failed request (EOF or RST before a response) the thread reconnects
for its next request; it never retries a request itself.

After the last wave each thread idles until the server closes its
connection (at most --final-idle s), then closes.

Output (stdout): one JSON object per line:
  {"ev":"start", settings}
  {"ev":"connect","conn":i,"local_port":p,"t":...}
  {"ev":"request","wave":w,"conn":i,"local_port":p,"method","target","request_id",
   "gap_s":x,"t_send":epoch,"t_done":epoch,"status":n|null,"error":kind|null,"detail":s}
  {"ev":"idle-end","conn":i,"local_port":p,"t":...,"how":"server-eof"|"server-rst"|"limit","idle_s":x}
error kinds: closed-without-response (EOF before any response byte),
reset (ECONNRESET), eof-in-response, timeout.
Every socket has a timeout and every loop is bounded.
"""
import argparse
import json
import socket
import sys
import threading
import time

LOCK = threading.Lock()


def out(obj):
    with LOCK:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


class Closed(Exception):
    """The peer closed (or reset) before a whole response arrived."""

    def __init__(self, kind, detail=""):
        super().__init__(kind)
        self.kind, self.detail = kind, detail


class Conn:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.local_port = self.sock.getsockname()[1]
        self.buf = b""
        self.got_any = False

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError as e:
            raise Closed("reset" if not self.got_any else "reset-in-response", str(e))
        except socket.timeout as e:
            raise Closed("timeout", str(e))
        if not chunk:
            raise Closed("closed-without-response" if not self.got_any else "eof-in-response")
        self.got_any = True
        self.buf += chunk

    def _line(self):
        for _ in range(10000):
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line.decode("latin-1")
            if len(self.buf) > 65536:
                raise Closed("bad-response", "header line too long")
            self._fill()
        raise Closed("bad-response", "header line too long")

    def response(self):
        """Read one response (Content-Length or chunked body); returns (status, headers)."""
        self.got_any = bool(self.buf)
        for _ in range(10):
            parts = self._line().split(" ", 2)
            if len(parts) < 2 or not parts[1].isdigit():
                raise Closed("bad-response", "status line " + " ".join(parts)[:80])
            status = int(parts[1])
            headers = {}
            for _ in range(200):
                line = self._line()
                if line == "":
                    break
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            if status >= 200:
                break
        if "chunked" in headers.get("transfer-encoding", "").lower():
            for _ in range(100000):
                size = int(self._line().split(";")[0], 16)
                if size == 0:
                    for _ in range(100):
                        if self._line() == "":
                            break
                    break
                while len(self.buf) < size + 2:
                    self._fill()
                self.buf = self.buf[size + 2:]
        else:
            n = int(headers.get("content-length", "0"))
            for _ in range(100000):
                if len(self.buf) >= n:
                    break
                self._fill()
            self.buf = self.buf[n:]
        return status, headers

    def wait_close(self, limit):
        """Idle until the server closes (EOF or RST) or `limit` s pass."""
        t0 = time.monotonic()
        deadline = t0 + limit
        for _ in range(100000):
            left = deadline - time.monotonic()
            if left <= 0:
                return "limit", time.monotonic() - t0
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return "limit", time.monotonic() - t0
            except ConnectionResetError:
                return "server-rst", time.monotonic() - t0
            if not chunk:
                return "server-eof", time.monotonic() - t0
        return "limit", time.monotonic() - t0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--gaps", required=True, help="comma-separated gaps in seconds, one per wave after the first")
    ap.add_argument("--offset", type=float, default=0.0, help="extra delay per thread index, s")
    ap.add_argument("--post-every", type=int, default=3)
    ap.add_argument("--fresh", default="", help="comma-separated thread indexes that reconnect for every request")
    ap.add_argument("--final-idle", type=float, default=5.0)
    ap.add_argument("--prefix", default="r")
    ap.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args()
    gaps = [float(x) for x in a.gaps.split(",") if x]
    fresh = {int(x) for x in a.fresh.split(",") if x}
    out({"ev": "start", "t": time.time(), "port": a.port, "conns": a.conns, "gaps": gaps, "offset": a.offset,
         "post_every": a.post_every, "fresh": sorted(fresh), "final_idle": a.final_idle,
         "python": sys.version.split()[0]})
    state = {"release": time.monotonic()}

    def mark():
        state["release"] = time.monotonic()

    barrier = threading.Barrier(a.conns, action=mark)
    errors = []

    def worker(i):
        conn = None
        try:
            for w in range(len(gaps) + 1):
                if w > 0:
                    barrier.wait(timeout=60)
                    due = state["release"] + gaps[w - 1] + i * a.offset
                    pause = due - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                if conn is None:
                    conn = Conn(a.host, a.port, a.timeout)
                    out({"ev": "connect", "conn": i, "local_port": conn.local_port, "t": time.time()})
                post = a.post_every > 0 and (w + i) % a.post_every == 0
                rid = f"{a.prefix}{w:03d}-{i}"
                if post:
                    method, target = "POST", "/api/orders"
                    body = json.dumps({"item": w, "qty": i + 1, "note": "httplife"}).encode()
                    body = body + b" " * max(0, 40 - len(body))
                else:
                    method, target = "GET", ("/api/items" if w % 2 else f"/api/items/{w}")
                    body = b""
                head = [f"{method} {target} HTTP/1.1", f"Host: {a.host}:{a.port}", "User-Agent: httplife-proxy/1",
                        "Accept: */*", f"X-Request-Id: {rid}"]
                if body:
                    head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
                data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
                rec = {"ev": "request", "wave": w, "conn": i, "local_port": conn.local_port, "method": method,
                       "target": target, "request_id": rid, "gap_s": gaps[w - 1] if w else None}
                rec["t_send"] = time.time()
                status = err = detail = None
                try:
                    try:
                        conn.sock.sendall(data)
                    except (BrokenPipeError, ConnectionResetError) as e:
                        raise Closed("reset", "on send: " + str(e))
                    status, _ = conn.response()
                except Closed as e:
                    err, detail = e.kind, e.detail
                rec.update({"t_done": time.time(), "status": status, "error": err, "detail": detail})
                out(rec)
                if err is not None or i in fresh:
                    conn.close()
                    conn = None
            if conn is not None:
                how, idle = conn.wait_close(a.final_idle)
                out({"ev": "idle-end", "conn": i, "local_port": conn.local_port, "t": time.time(), "how": how,
                     "idle_s": round(idle, 6)})
                conn.close()
        except Exception as e:  # noqa: BLE001 - reported, makes the run fail
            errors.append(f"thread {i}: {type(e).__name__}: {e}")
            barrier.abort()
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    if errors:
        out({"ev": "failed", "errors": errors})
        sys.exit(1)
    out({"ev": "end", "t": time.time()})


if __name__ == "__main__":
    main()
