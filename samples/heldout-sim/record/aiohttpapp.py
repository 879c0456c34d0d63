"""aiohttp server for the held-out simulation, the routes of wsgiapp.py.
usage: aiohttpapp.py PORT KEEPALIVE_S [BIND]"""
import asyncio
import sys

from aiohttp import web

BODIES = {"/": b"index of the aiohttp test app\n" * 8, "/a.txt": b"a" * 612 + b"\n", "/b.txt": b"b" * 1999 + b"\n"}


async def static(req):
    b = BODIES.get(req.path)
    if b is None:
        return web.Response(status=404, body=b"not found\n", content_type="text/plain")
    return web.Response(body=b, content_type="text/plain")


async def stream(req):
    r = web.StreamResponse()
    r.content_type = "text/plain"
    await r.prepare(req)
    for k in range(3):
        await r.write((b"part %d " % k) * 20 + b"\n")
        await asyncio.sleep(0.02)
    await r.write_eof()
    return r


async def nocontent(req):
    return web.Response(status=204)


async def post(req):
    b = await req.read()
    return web.Response(body=b"got %d bytes\n" % len(b), content_type="text/plain")


app = web.Application()
app.router.add_get("/stream", stream)
app.router.add_get("/nocontent", nocontent)
app.router.add_post("/post", post)
app.router.add_get("/{tail:.*}", static)
web.run_app(app, host=sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1", port=int(sys.argv[1]),
            keepalive_timeout=float(sys.argv[2]), print=None)
