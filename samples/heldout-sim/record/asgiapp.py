"""ASGI app for uvicorn in the held-out simulation, the routes of wsgiapp.py:
/, /a.txt, /b.txt (Content-Length), /stream (no length: chunked on
HTTP/1.1, 3 parts 20 ms apart), /nocontent (204), /post (reads the body),
else 404."""
import asyncio

BODIES = {"/": b"index of the uvicorn test app\n" * 8, "/a.txt": b"a" * 612 + b"\n", "/b.txt": b"b" * 1999 + b"\n"}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/post":
        n, more = 0, True
        while more:
            m = await receive()
            n += len(m.get("body", b""))
            more = m.get("more_body", False)
        await plain(send, 200, b"got %d bytes\n" % n)
        return
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for k in range(3):
            await send({"type": "http.response.body", "body": (b"part %d " % k) * 20 + b"\n", "more_body": True})
            await asyncio.sleep(0.02)
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/nocontent":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    b = BODIES.get(path)
    if b is None:
        await plain(send, 404, b"not found\n")
        return
    await plain(send, 200, b)


async def plain(send, status, body):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
