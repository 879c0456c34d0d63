// upstream.js: the Node.js HTTP/1.1 server behind the proxies of samples/proxy
// (and the server of the node-pool scenario), run by record.sh.
//
// usage: node upstream.js --port P [--keep-alive-timeout MS] [--name NAME]
//
// Without --keep-alive-timeout the server keeps Node's defaults (Node 20:
// keepAliveTimeout 5000 ms, headersTimeout 60000 ms, requestTimeout 300000 ms).
// Every route answers 200 with a short JSON body (Content-Length); POST bodies
// are read first. What goes out on stdout, one JSON object per line, with the
// wall-clock time `t` (seconds since the epoch, sub-millisecond):
//   {"ev":"listening", settings...}
//   {"ev":"connection","peer_port":N}            a TCP connection was accepted
//   {"ev":"request","peer_port":N,"method","url","request_id","n":k}
//   {"ev":"close","peer_port":N,"requests":k,"had_error":bool}
//   {"ev":"socket-error","peer_port":N,"code":"ECONNRESET"}
//   {"ev":"client-error","peer_port":N,"code":...}   (Node's 'clientError')
// peer_port is the client's (the proxy's) ephemeral port: the upstream
// connection's key in the capture.
'use strict';
const http = require('http');
const { performance } = require('perf_hooks');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const port = Number(arg('--port', '18401'));
const kat = arg('--keep-alive-timeout', null);
const name = arg('--name', 'node');

const now = () => (performance.timeOrigin + performance.now()) / 1000;
const log = (o) => process.stdout.write(JSON.stringify({ t: Number(now().toFixed(6)), ...o }) + '\n');

const server = http.createServer((req, res) => {
  const sock = req.socket;
  sock._n = (sock._n || 0) + 1;
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    log({ ev: 'request', peer_port: sock.remotePort, method: req.method, url: req.url,
      request_id: req.headers['x-request-id'] || null, n: sock._n,
      body_bytes: chunks.reduce((a, c) => a + c.length, 0) });
    const body = JSON.stringify({ server: name, method: req.method, url: req.url, n: sock._n }) + '\n';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
});
if (kat !== null) server.keepAliveTimeout = Number(kat);

server.on('connection', (sock) => {
  const p = sock.remotePort;
  log({ ev: 'connection', peer_port: p });
  sock.on('error', (e) => log({ ev: 'socket-error', peer_port: p, code: e.code || String(e) }));
  sock.on('close', (hadError) => log({ ev: 'close', peer_port: p, requests: sock._n || 0, had_error: hadError }));
});
server.on('clientError', (e, sock) => {
  log({ ev: 'client-error', peer_port: sock.remotePort, code: e.code || String(e) });
  if (sock.writable) sock.destroy();
});

server.listen(port, '127.0.0.1', () => {
  log({ ev: 'listening', name, node: process.version, port,
    keepAliveTimeout_ms: server.keepAliveTimeout, keepAliveTimeout_default: kat === null,
    headersTimeout_ms: server.headersTimeout, requestTimeout_ms: server.requestTimeout,
    maxRequestsPerSocket: server.maxRequestsPerSocket });
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => { log({ ev: 'stopping', signal: sig }); process.exit(0); });
}
