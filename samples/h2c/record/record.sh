#!/bin/bash
# record.sh [OUT]: records samples/h2c/ on loopback and derives the truth
# with tshark (truth.py). Needs go, nginx, tcpdump, tshark, python3; run as
# root (tcpdump on lo).
#
#   go-h2c.pcap      Go x/net/http2 client and server (h2cpair): multiplexed
#                    streams, a POST, a response without content-length, the
#                    server's idle close (GOAWAY, FIN a second later), and a
#                    client that closes its idle connection
#   nginx-h2c.pcap   nginx 1.22 (keepalive_timeout 1s), Go client: GOAWAY and FIN
#   upgrade-h2c.pcap curl --http2 to h2cpair: HTTP/1.1 Upgrade: h2c, 101, then HTTP/2
#   server-first.pcap  Go's http2.Server.ServeConn and a client that waits before
#                    its preface: the server's SETTINGS come first
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/..}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null; rm -rf "$tmp"' EXIT
go build -C "$here/../../.." -o "$tmp/h2cpair" ./samples/h2c/record/h2cpair

record() { # record NAME FILTER CMD...
	local name=$1 filter=$2; shift 2
	tcpdump -i lo -B 131072 --immediate-mode -w "$tmp/$name.pcap" "$filter" 2>"$tmp/$name.err" &
	local tp=$!
	sleep 1
	"$@"
	sleep 0.5
	kill -INT $tp; wait $tp || true
	grep -q '^0 packets dropped by kernel' "$tmp/$name.err" || { cat "$tmp/$name.err"; exit 1; }
	cp "$tmp/$name.pcap" "$out/$name.pcap"
}

"$tmp/h2cpair" server -addr 127.0.0.1:18491 -native 127.0.0.1:18492 -idle 1s & sleep 0.5
record go-h2c 'tcp port 18491 or tcp port 18492' "$tmp/h2cpair" client -addr 127.0.0.1:18491 -native 127.0.0.1:18492 -idle 1s
python3 "$here/truth.py" "$out/go-h2c.pcap" 18491 18492 >"$out/go-h2c.pcap.truth.json"
record upgrade-h2c 'tcp port 18491' curl -s --http2 http://127.0.0.1:18491/ http://127.0.0.1:18491/slow
python3 "$here/truth.py" --upgrade "$out/upgrade-h2c.pcap" 18491 >"$out/upgrade-h2c.pcap.truth.json"
record server-first 'tcp port 18492' python3 "$here/rawclient.py" 127.0.0.1 18492
python3 "$here/truth.py" "$out/server-first.pcap" 18492 >"$out/server-first.pcap.truth.json"

sed "s|PREFIX|$tmp|" "$here/nginx.conf" >"$tmp/nginx.conf"
nginx -c "$tmp/nginx.conf" -p "$tmp"; sleep 0.5
record nginx-h2c 'tcp port 18493' "$tmp/h2cpair" idle -addr 127.0.0.1:18493 -idle 1s
python3 "$here/truth.py" "$out/nginx-h2c.pcap" 18493 >"$out/nginx-h2c.pcap.truth.json"
echo "recorded into $out"
