#!/usr/bin/env python3
"""python http.server for the held-out simulation.
usage: pyserver.py BIND PORT DOCROOT PROTOCOL(HTTP/1.0|HTTP/1.1) IDLE_TIMEOUT_S
Serves DOCROOT (SimpleHTTPRequestHandler) plus /chunked (3 chunks, 20 ms apart)."""
import functools
import socket
import sys
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

bind, port, root, proto, idle = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])


class H(SimpleHTTPRequestHandler):
    protocol_version = proto
    timeout = idle

    def log_message(self, fmt, *args):
        sys.stderr.write("%.4f %s\n" % (time.monotonic(), fmt % args))

    def do_GET(self):
        if self.path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(3):
                d = (f"chunk {i} " + "c" * 30 + "\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(d), d))
                self.wfile.flush()
                time.sleep(0.02)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        return super().do_GET()


    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class S(ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    daemon_threads = True


S((bind, port), functools.partial(H, directory=root)).serve_forever()
