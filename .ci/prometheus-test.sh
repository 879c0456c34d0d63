#!/usr/bin/env bash
# CI: httplife's metrics in a real Prometheus. Starts, on loopback only:
# a python HTTP server with a 0.3 s idle timeout, `httplife watch -i lo
# --metrics` on its port, and Debian's `prometheus` scraping watch every
# second; makes traffic with keep-alive races (requests sent after the
# server's idle close), client closes, server idle closes and
# `Connection: close` requests; waits until Prometheus has scraped every
# connection; then checks with PromQL through Prometheus' HTTP API that the
# closes by reason and the races by kind are those watch reported (its
# NDJSON records, written when the capture ends).
#
# usage: sudo .ci/prometheus-test.sh      (needs root for the capture on lo,
#        python3, curl, and prometheus: apt-get install prometheus)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
for tool in prometheus python3 curl go; do
  command -v "$tool" >/dev/null || { echo "prometheus-test: $tool not installed" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "prometheus-test: the capture on lo needs root" >&2; exit 1; }

tmp=$(mktemp -d /tmp/httplife-prom.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
log() { printf '== %s\n' "$*" >&2; }

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
HTTP_PORT=$(freeport); METRICS_PORT=$(freeport); PROM_PORT=$(freeport)

log "building httplife"
CGO_ENABLED=0 go build -o "$tmp/httplife" ./cmd/httplife

log "HTTP server on 127.0.0.1:$HTTP_PORT (idle timeout 0.3 s)"
cat >"$tmp/server.py" <<'EOF'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 0.3  # an idle keep-alive connection is closed after 0.3 s
    def do_GET(self):
        body = b"hello\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
python3 "$tmp/server.py" "$HTTP_PORT" &
pids+=($!)

log "httplife watch --metrics 127.0.0.1:$METRICS_PORT"
"$tmp/httplife" watch -i lo --filter "tcp port $HTTP_PORT" --format ndjson --metrics "127.0.0.1:$METRICS_PORT" \
  >"$tmp/watch.ndjson" 2>"$tmp/watch.err" &
WATCH=$!
pids+=($WATCH)
for _ in $(seq 100); do grep -q 'capturing on' "$tmp/watch.err" && break; sleep 0.1; done
grep -q 'capturing on' "$tmp/watch.err" || { cat "$tmp/watch.err" >&2; exit 1; }

log "prometheus on 127.0.0.1:$PROM_PORT, scraping every second"
cat >"$tmp/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: httplife
    static_configs: [{targets: ["127.0.0.1:$METRICS_PORT"]}]
EOF
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$tmp/prometheus.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do curl -fs "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null || { tail "$tmp/prometheus.log" >&2; exit 1; }

log "traffic: races, client closes, server idle closes, Connection: close"
cat >"$tmp/traffic.py" <<'EOF'
import socket, sys, threading, time
port = int(sys.argv[1])
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s
def get(s, close=False):
    hdr = "Connection: close\r\n" if close else ""
    s.sendall(f"GET / HTTP/1.1\r\nHost: x\r\n{hdr}\r\n".encode())
    buf = b""
    while b"hello\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
def race():          # a second request 0.7 s after the server's 0.3 s idle close
    s = conn(); get(s); time.sleep(0.7)
    try:
        s.sendall(b"GET /lost HTTP/1.1\r\nHost: x\r\n\r\n"); s.recv(4096)
    except OSError:
        pass
    s.close()
def client_close():  # the client closes after 0.1 s idle
    s = conn(); get(s); time.sleep(0.1); s.close()
def server_close():  # the server's idle timeout closes it
    s = conn(); get(s)
    while s.recv(4096):
        pass
    s.close()
def close_header():
    s = conn(); get(s, close=True)
    while s.recv(4096):
        pass
    s.close()
ts = [threading.Thread(target=f) for f in [race] * 5 + [client_close] * 4 + [server_close] * 2 + [close_header] * 3]
for t in ts:
    t.start(); time.sleep(0.02)
for t in ts:
    t.join(10)
print(len(ts))
EOF
total=$(python3 "$tmp/traffic.py" "$HTTP_PORT")

query() { curl -fsG "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1"; }
log "waiting for Prometheus to have scraped all $total connections"
ok=
for _ in $(seq 60); do
  n=$(query 'sum(httplife_connections_closed_total)' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)')
  if [ "$n" = "$total" ]; then ok=1; break; fi
  sleep 0.5
done
[ -n "$ok" ] || { echo "prometheus-test: Prometheus has $n of $total connections" >&2; tail "$tmp/watch.err" >&2; exit 1; }
query 'sum by (reason) (httplife_connections_closed_total)' >"$tmp/reasons.json"
query 'sum by (kind) (httplife_keepalive_races_total)' >"$tmp/races.json"
query 'sum(httplife_resets_total)' >"$tmp/resets.json"

log "stopping watch; comparing its records with PromQL"
kill -INT "$WATCH"
wait "$WATCH" || { cat "$tmp/watch.err" >&2; exit 1; }
python3 - "$tmp" "$total" <<'EOF'
import collections, json, sys
tmp, total = sys.argv[1], int(sys.argv[2])
lines = [json.loads(l) for l in open(f"{tmp}/watch.ndjson") if l.strip()]
conns = [l for l in lines if "close" in l]
summary = lines[-1]["summary"]
want_reasons = collections.Counter(c["close"]["reason"] for c in conns)
want_kinds = collections.Counter(c["close"]["race"]["kind"] for c in conns if c["close"].get("race"))
def vec(name, label):
    r = json.load(open(f"{tmp}/{name}.json"))["data"]["result"]
    return {m["metric"].get(label, ""): int(float(m["value"][1])) for m in r}
got_reasons, got_kinds = vec("reasons", "reason"), vec("races", "kind")
got_resets = sum(vec("resets", "x").values())
print("watch reported:", dict(want_reasons), "races", dict(want_kinds), "resets", summary["closed_by"]["reset"])
print("PromQL says:   ", got_reasons, "races", got_kinds, "resets", got_resets)
bad = []
if len(conns) != total: bad.append(f"watch reported {len(conns)} connections, the traffic made {total}")
if dict(want_reasons) != got_reasons: bad.append("closes by reason differ")
if dict(want_kinds) != got_kinds: bad.append("races by kind differ")
if summary["closed_by"]["reset"] != got_resets: bad.append("resets differ")
if want_reasons.get("keepalive-race", 0) < 1: bad.append("the traffic made no keep-alive race")
if bad:
    sys.exit("prometheus-test: FAIL: " + "; ".join(bad))
print("prometheus-test: ok")
EOF
