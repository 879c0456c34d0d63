"""Tornado server for the held-out simulation, the routes of wsgiapp.py.
usage: tornadoapp.py PORT IDLE_S [BIND]"""
import asyncio
import sys

import tornado.httpserver
import tornado.web

BODIES = {"/": b"index of the tornado test app\n" * 8, "/a.txt": b"a" * 612 + b"\n", "/b.txt": b"b" * 1999 + b"\n"}


class Static(tornado.web.RequestHandler):
    def get(self):
        b = BODIES.get(self.request.path)
        if b is None:
            self.set_status(404)
            b = b"not found\n"
        self.set_header("Content-Type", "text/plain")
        self.write(b)

    def head(self):
        self.get()


class Stream(tornado.web.RequestHandler):
    async def get(self):
        self.set_header("Content-Type", "text/plain")
        for k in range(3):
            self.write((b"part %d " % k) * 20 + b"\n")
            await self.flush()
            await asyncio.sleep(0.02)


class NoContent(tornado.web.RequestHandler):
    def get(self):
        self.set_status(204)


class Post(tornado.web.RequestHandler):
    def post(self):
        self.set_header("Content-Type", "text/plain")
        self.write(b"got %d bytes\n" % len(self.request.body))


async def main():
    port, idle = int(sys.argv[1]), float(sys.argv[2])
    bind = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
    app = tornado.web.Application([(r"/stream", Stream), (r"/nocontent", NoContent), (r"/post", Post), (r".*", Static)])
    srv = tornado.httpserver.HTTPServer(app, idle_connection_timeout=idle)
    srv.listen(port, address=bind)
    await asyncio.Event().wait()

asyncio.run(main())
