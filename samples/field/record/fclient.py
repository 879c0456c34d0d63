#!/usr/bin/env python3
"""Traffic driver for the field captures (samples/field/record/record.sh).

usage: fclient.py PLAN HOST PORT [--bind-port N] [--pace S]

Runs one PLAN of HTTP/1.1 keep-alive connections from this network namespace
to HOST:PORT (IPv4 or IPv6 literal) with the raw-socket client of
samples/record/client.py (exact request bytes, responses read by their
framing, every socket with a timeout) and logs what it observed to stdout.

Plans (the server is nginx with keepalive_timeout 1s, record/nginx.conf):
  standard  conn 1: GET /, 0.2 s, GET /a.txt, 0.4 s, GET /c.txt (4 KB, several
            segments), then idle until nginx's 1 s keep-alive timeout closes
            (server-idle-timeout); conn 2: GET /, 0.3 s, GET /b.txt, the client
            closes after 0.3 s idle (client-idle-close); conn 3: GET /a.txt with
            Connection: close (client-close-header).
  short     conn 1 and conn 2 of standard only.
  long      like short, but conn 1 has six GETs 0.5 s apart (spans rotated
            files) before the server's idle close.
  big       like long, but conn 1 is GET /, GET /big.txt (0.95 MB), GET /a.txt,
            GET /b.txt, 0.5 s apart (crosses tcpdump -C 1's file boundary).
  race      two connections that reuse the connection the moment nginx's
            keep-alive close arrives (GET /, then GET /a.txt after the FIN:
            nginx answers with a RST, keepalive-race), then conn 3 of standard.
  one       conn 2 of standard only.
--bind-port binds every connection's source port to N, N+1, ... (the same
inner 4-tuple in two overlays); --pace multiplies every sleep.
"""
import os
import select
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "record"))
import client as rc  # noqa: E402  samples/record/client.py


class Conn(rc.Conn):
    """rc.Conn that may bind its source port before connecting."""

    def __init__(self, name, host, port, bind_port=None, timeout=10.0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.name = name
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if bind_port:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", bind_port))
        self.sock.connect((host, port))
        self.host = host if fam == socket.AF_INET else f"[{host}]"
        self.port = port
        self.buf = b""
        self.eof = False
        rc.log(self.name, f"connected from local port {self.sock.getsockname()[1]}")


def conn_server_timeout(n, host, port, bind, pace, gets=("/", "/a.txt", "/c.txt"), gap=(0.2, 0.4)):
    c = Conn(n, host, port, bind)
    for i, path in enumerate(gets):
        if i:
            rc.sleep(gap[min(i - 1, len(gap) - 1)] * pace)
        c.get(path)
    if not c.wait_eof(4.0):
        raise SystemExit(f"conn {n}: the server did not close")
    c.close()


def conn_client_close(n, host, port, bind, pace):
    c = Conn(n, host, port, bind)
    c.get("/")
    rc.sleep(0.3 * pace)
    c.get("/b.txt")
    rc.sleep(0.3 * pace)
    c.close()


def conn_close_header(n, host, port, bind, pace):
    c = Conn(n, host, port, bind)
    c.get("/a.txt", headers=["Connection: close"])
    c.wait_eof(2.0)
    c.close()


def conn_race(n, host, port, bind, pace):
    """The keep-alive race, made certain: GET /, then the client reuses the
    connection the moment nginx's keep-alive close (its FIN) arrives, as a
    pool that checks nothing does; nginx has closed the socket and answers
    the request with a RST."""
    c = Conn(n, host, port, bind)
    c.get("/")
    r, _, _ = select.select([c.sock], [], [], 4.0)
    if not r:
        raise SystemExit(f"conn {n}: the server did not close")
    try:
        c.send(c.request("GET", "/a.txt"))
        c.response()
        rc.log(c.name, "second request answered: no race")
    except (EOFError, ConnectionResetError, BrokenPipeError) as e:
        rc.log(c.name, f"second request lost: {e!r}")
    c.close()


def main():
    args = sys.argv[1:]
    bind, pace = None, 1.0
    while len(args) > 3:
        if args[-2] == "--bind-port":
            bind = int(args[-1])
        elif args[-2] == "--pace":
            pace = float(args[-1])
        else:
            sys.exit(__doc__)
        args = args[:-2]
    if len(args) != 3:
        sys.exit(__doc__)
    plan, host, port = args[0], args[1], int(args[2])
    b = (lambda k: bind + k) if bind else (lambda k: None)
    if plan == "standard":
        conn_server_timeout(1, host, port, b(0), pace)
        rc.sleep(0.2)
        conn_client_close(2, host, port, b(1), pace)
        rc.sleep(0.2)
        conn_close_header(3, host, port, b(2), pace)
    elif plan == "short":
        conn_server_timeout(1, host, port, b(0), pace)
        rc.sleep(0.2)
        conn_client_close(2, host, port, b(1), pace)
    elif plan == "long":
        conn_server_timeout(1, host, port, b(0), pace, gets=("/", "/c.txt", "/a.txt", "/c.txt", "/b.txt", "/c.txt"),
                            gap=(0.5,))
        rc.sleep(0.2)
        conn_client_close(2, host, port, b(1), pace)
    elif plan == "big":
        conn_server_timeout(1, host, port, b(0), pace, gets=("/", "/big.txt", "/a.txt", "/b.txt"), gap=(0.5,))
        rc.sleep(0.2)
        conn_client_close(2, host, port, b(1), pace)
    elif plan == "race":
        conn_race(1, host, port, b(0), pace)
        rc.sleep(0.2)
        conn_race(2, host, port, b(1), pace)
        rc.sleep(0.2)
        conn_close_header(3, host, port, b(2), pace)
    elif plan == "one":
        conn_client_close(1, host, port, b(0), pace)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
