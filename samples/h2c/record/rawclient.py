#!/usr/bin/env python3
"""rawclient.py HOST PORT: an HTTP/2 prior-knowledge client that waits
0.1 s after connecting before its preface, so that a server which speaks
first (Go's http2.Server.ServeConn, gRPC servers) has its SETTINGS in the
capture before the client's preface. One GET / (a static-table HPACK block),
0.2 s idle, then it closes."""
import socket
import sys
import time


def frame(typ, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([typ, flags]) + stream.to_bytes(4, "big") + payload


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    s = socket.create_connection((host, port))
    time.sleep(0.1)
    auth = f"{host}:{port}".encode()
    block = bytes([0x82, 0x86, 0x84, 0x41, len(auth)]) + auth  # :method GET, :scheme http, :path /, :authority
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0) + frame(1, 0x05, 1, block))
    buf, acked, done = b"", False, False
    s.settimeout(2)
    while not done:
        data = s.recv(65536)
        if not data:
            break
        buf += data
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            typ, flags, sid = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            buf = buf[9 + n:]
            if typ == 4 and not flags & 1 and not acked:
                s.sendall(frame(4, 1, 0))
                acked = True
            if sid == 1 and typ in (0, 1) and flags & 1:
                done = True
    time.sleep(0.2)
    s.close()
    print("rawclient: response", "complete" if done else "incomplete", file=sys.stderr)


if __name__ == "__main__":
    main()
