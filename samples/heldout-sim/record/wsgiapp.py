"""WSGI app for gunicorn in the held-out simulation: /, /a.txt, /b.txt
(Content-Length), /stream (no length: chunked on HTTP/1.1, 3 parts 20 ms
apart), /nocontent (204), /post (reads the body), else 404."""
import time

BODIES = {"/": b"index of the gunicorn test app\n" * 8, "/a.txt": b"a" * 612 + b"\n", "/b.txt": b"b" * 1999 + b"\n"}


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/post":
        n = len(environ["wsgi.input"].read())
        b = b"got %d bytes\n" % n
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(b)))])
        return [b]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def parts():
            for k in range(3):
                yield (b"part %d " % k) * 20 + b"\n"
                time.sleep(0.02)
        return parts()
    if path == "/nocontent":
        start_response("204 No Content", [])
        return []
    b = BODIES.get(path)
    if b is None:
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "10")])
        return [b"not found\n"]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(b)))])
    return [b]
