// Node.js http server for the held-out simulation.
// usage: node nodeserver.js BIND PORT KEEPALIVE_MS [MAX_REQUESTS_PER_SOCKET]
// Serves /, /a.txt, /b.txt (Content-Length, ETag, 304 on If-None-Match),
// /stream and /chunked (3 chunks 20 ms apart, chunked), /nocontent (204),
// /post (reads the body, 200), /drop (RST: socket.resetAndDestroy), else 404.
'use strict';
const http = require('http');
const [bind, port, ka, maxReq] = process.argv.slice(2);
const bodies = {
  '/': 'index of the node test server\n'.repeat(8),
  '/a.txt': 'a'.repeat(612) + '\n',
  '/b.txt': 'b'.repeat(1999) + '\n',
};
const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  const t = (Date.now() / 1000).toFixed(4);
  process.stderr.write(`${t} ${req.socket.remotePort} ${req.method} ${req.url} HTTP/${req.httpVersion}\n`);
  if (path === '/drop') {
    req.socket.resetAndDestroy();
    return;
  }
  if (path === '/post') {
    let n = 0;
    req.on('data', (d) => { n += d.length; });
    req.on('end', () => {
      const b = `got ${n} bytes\n`;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(b) });
      res.end(b);
    });
    return;
  }
  req.resume();
  if (path === '/stream' || path === '/chunked') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    let k = 0;
    const tick = () => {
      if (k === 3) { res.end(); return; }
      res.write(`chunk ${k++} `.repeat(20) + '\n');
      setTimeout(tick, 20);
    };
    tick();
    return;
  }
  if (path === '/nocontent') {
    res.writeHead(204);
    res.end();
    return;
  }
  const b = bodies[path];
  if (b === undefined) {
    res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': 10 });
    res.end('not found\n');
    return;
  }
  const etag = `"${path.length}-${b.length}"`;
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, { ETag: etag });
    res.end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': b.length, ETag: etag });
  res.end(b);
});
server.keepAliveTimeout = Number(ka);
if (maxReq) server.maxRequestsPerSocket = Number(maxReq);
server.listen(Number(port), bind);
process.on('SIGTERM', () => process.exit(0));
