#!/usr/bin/env bash
# Record the proxy and keep-alive race captures of samples/proxy/ (see
# samples/proxy/README.md) from real software on loopback.
#
# usage: samples/proxy/record/record.sh [SCENARIO...]     (default: all)
#   scenarios: nginx-node-race nginx-go-race haproxy-reuse node-pool timeouts-ordered
#
# Needs root (tcpdump on lo), tcpdump, tshark, nginx, haproxy, node
# (/usr/bin/node), python3 and Go (GO=/usr/local/go/bin/go by default).
# Ports 18400-18449 on 127.0.0.1 only. Every server runs here in the
# foreground with its config from samples/proxy/record/ and is stopped
# again; temp files and logs live in /tmp/httplife-proxy/SCENARIO.
#
# Per attempt (as for the corpus, /work/shared/corpus/README.md):
#   tcpdump -i lo -s 0 -B 131072 -U --immediate-mode -n -w FILE 'tcp port A or tcp port B'
#   (both legs of the proxy), wait until it listens, sleep 1, client, sleep 1,
#   SIGINT; require "0 packets dropped by kernel", a first packet that is a
#   SYN, and that truth.py accepts the run (what the scenario is for
#   happened: races and 502s, or none at all for timeouts-ordered); else
#   record again, at most 4 attempts. Then the capture goes to
#   samples/proxy/NAME.pcap, the programs' logs to samples/proxy/logs/NAME/
#   and truth.py writes samples/proxy/NAME.pcap.truth.json.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PROXY=$(dirname "$HERE")
REPO=$(dirname "$(dirname "$PROXY")")
TOP=/tmp/httplife-proxy
GO=${GO:-/usr/local/go/bin/go}
NODE=${NODE:-/usr/bin/node}
ALL=(nginx-node-race nginx-go-race haproxy-reuse node-pool timeouts-ordered)

log() { printf '== %s\n' "$*" >&2; }

PIDS=()
TCPDUMP_PID=
cleanup() {
    local p
    [[ -n $TCPDUMP_PID ]] && kill -INT "$TCPDUMP_PID" 2>/dev/null || true
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# seq_gaps FROM STEP N: N gaps FROM, FROM+STEP, ... (comma-separated)
seq_gaps() { python3 -c "import sys; a,s,n=float(sys.argv[1]),float(sys.argv[2]),int(sys.argv[3]); print(','.join('%.4f'%(a+s*k) for k in range(n)))" "$@"; }

# wait_listen PORT: until something listens on 127.0.0.1:PORT (at most 10 s)
wait_listen() {
    local i
    for i in $(seq 100); do
        if ss -Hltn "sport = :$1" | grep -q .; then return 0; fi
        sleep 0.1
    done
    log "nothing listens on port $1"; return 1
}

# start NAME CMD...: run CMD in the background, output to $TMP/NAME.log
start() {
    local name=$1; shift
    "$@" >"$TMP/$name.log" 2>&1 &
    PIDS+=($!)
}

stop_all() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    PIDS=()
}

capture_start() {
    local i filter="tcp port $1"
    [[ $# -gt 1 ]] && filter="$filter or tcp port $2"
    rm -f "$TMP/capture.pcap"
    tcpdump -i lo -s 0 -B 131072 -U --immediate-mode -n -Z root -w "$TMP/capture.pcap" "$filter" \
        2>"$TMP/tcpdump.log" &
    TCPDUMP_PID=$!
    for i in $(seq 200); do
        grep -q 'listening on' "$TMP/tcpdump.log" && break
        sleep 0.05
    done
    echo "tcpdump -i lo -s 0 -B 131072 -U --immediate-mode -n -Z root -w NAME.pcap '$filter'" >"$TMP/tcpdump.cmd"
    sleep 1
}

capture_stop() {
    sleep 1
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    local dropped
    dropped=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$TMP/tcpdump.log")
    log "$NAME: tcpdump: $(grep -E 'packets (captured|received|dropped)' "$TMP/tcpdump.log" | tr '\n' ' ')"
    [[ $dropped == 0 ]]
}

# setup NAME: a fresh $TMP for one attempt
setup() {
    NAME=$1
    TMP=$TOP/$NAME
    rm -rf "$TMP"
    mkdir -p "$TMP/logs" "$TMP/tmp"
    chmod 777 "$TMP/tmp"
}

# attempt NAME SERVERS-FN CLIENT-FN PORT [PORT2]: one recording; 0 if accepted
attempt() {
    local name=$1 servers=$2 client=$3 ok=1
    shift 3
    setup "$name"
    "$servers"
    capture_start "$@"
    "$client" >"$TMP/client.log" 2>"$TMP/client.stderr" || { log "$name: client failed ($?)"; ok=0; }
    capture_stop || { log "$name: tcpdump dropped packets"; ok=0; }
    stop_all
    collect_logs
    if [[ $ok == 1 && $(tshark -n -r "$TMP/capture.pcap" -c 1 -T fields -e tcp.flags.syn -e tcp.flags.ack 2>/dev/null) != 1$'\t'0 ]]; then
        log "$name: the capture does not start with a SYN"; ok=0
    fi
    if [[ $ok == 1 ]] && ! python3 "$HERE/truth.py" accept "$name" "$TMP/capture.pcap" "$TMP/logs"; then
        log "$name: truth.py did not accept the run"; ok=0
    fi
    [[ $ok == 1 ]]
}

# collect_logs: the programs' logs of this attempt into $TMP/logs
collect_logs() {
    local f
    for f in client.log upstream.log haproxy.log tcpdump.log tcpdump.cmd; do
        [[ -f $TMP/$f ]] && cp "$TMP/$f" "$TMP/logs/$f"
    done
    [[ -f $TMP/logs/access.log ]] || true
    return 0
}

record() {
    local name=$1 n
    shift
    for n in 1 2 3 4; do
        log "$name: attempt $n"
        if attempt "$name" "$@"; then
            finish "$name"
            return 0
        fi
    done
    log "$name: giving up after 4 attempts"
    return 1
}

finish() {
    local name=$1 dst=$PROXY/logs/$1
    cp "$TMP/capture.pcap" "$PROXY/$name.pcap"
    rm -rf "$dst"
    mkdir -p "$dst"
    cp "$TMP"/logs/*.log "$TMP/logs/tcpdump.cmd" "$dst/"
    python3 "$HERE/truth.py" write "$name" "$PROXY/$name.pcap" "$dst" >"$PROXY/$name.pcap.truth.json"
    python3 "$HERE/truth.py" table "$PROXY/$name.pcap.truth.json" >&2
}

nginx_start() { # CONF
    start nginx nginx -p "$TMP/" -e logs/error.log -c "$HERE/$1" -g 'daemon off;'
}

# -- scenarios ---------------------------------------------------------------

# nginx-node-race: 4 downstream connections in waves; 2 short gaps, then 22
# gaps sweeping 1.997 .. 2.0075 s across the moment Node.js closes an idle
# upstream connection (keepAliveTimeout 1000 ms + Node's 1 s buffer = 2 s).
nnr_servers() {
    start upstream "$NODE" "$HERE/upstream.js" --port 18401 --keep-alive-timeout 1000 --name node
    nginx_start nginx-node-race.conf
    wait_listen 18401
    wait_listen 18400
}
nnr_client() {
    python3 "$HERE/client.py" --port 18400 --conns 4 --offset 0.0005 --final-idle 5 --prefix n \
        --gaps "0.3000,1.0000,$(seq_gaps 1.997 0.0005 22)"
}
scn_nginx-node-race() { record nginx-node-race nnr_servers nnr_client 18400 18401; }

# nginx-go-race: the same against Go's net/http (IdleTimeout 1 s, no buffer).
ngr_servers() {
    (cd "$REPO" && "$GO" build -o "$TOP/goupstream" ./samples/proxy/record/goupstream)
    start upstream "$TOP/goupstream" -addr 127.0.0.1:18411 -idle 1s
    nginx_start nginx-go-race.conf
    wait_listen 18411
    wait_listen 18410
}
ngr_client() {
    python3 "$HERE/client.py" --port 18410 --conns 4 --offset 0.0005 --final-idle 5 --prefix g \
        --gaps "0.3000,0.6000,$(seq_gaps 0.997 0.0005 24)"
}
scn_nginx-go-race() { record nginx-go-race ngr_servers ngr_client 18410 18411; }

# haproxy-reuse: 5 client connections through HAProxy (http-reuse always) to
# Node.js (1000 ms + 1 s buffer); clients 3 and 4 open a new connection for
# every request, so their requests are first requests of a client session.
hr_servers() {
    start upstream "$NODE" "$HERE/upstream.js" --port 18421 --keep-alive-timeout 1000 --name node
    start haproxy haproxy -db -f "$HERE/haproxy-reuse.cfg"
    wait_listen 18421
    wait_listen 18420
}
hr_client() {
    python3 "$HERE/client.py" --port 18420 --conns 5 --offset 0.0005 --final-idle 5 --prefix h --fresh 3,4 \
        --gaps "0.3000,1.0000,$(seq_gaps 1.997 0.0005 20)"
}
scn_haproxy-reuse() { record haproxy-reuse hr_servers hr_client 18420 18421; }

# node-pool: Node.js with its defaults (keepAliveTimeout 5000 ms: advertises
# timeout=5, closes after 6 s) and one Go http.Client (IdleConnTimeout 90 s)
# with 8 workers in waves; gaps sweep 5.998 .. 6.0062 s.
np_servers() {
    (cd "$REPO" && "$GO" build -o "$TOP/goclient" ./samples/proxy/record/goclient)
    start upstream "$NODE" "$HERE/upstream.js" --port 18430 --name node
    wait_listen 18430
}
np_client() {
    "$TOP/goclient" -url http://127.0.0.1:18430 -workers 8 -offset 500us -final-idle 7s -prefix p \
        -gaps "1.0000,$(seq_gaps 5.998 0.0006 12)"
}
scn_node-pool() { record node-pool np_servers np_client 18430; }

# timeouts-ordered: nginx's upstream pool (keepalive_timeout 1s) drops idle
# connections before Node.js (3000 ms + 1 s buffer) would; gaps sweep 0.8 ..
# 1.2 s across the pool's timeout; at the end nginx's client-side 2 s timeout.
to_servers() {
    start upstream "$NODE" "$HERE/upstream.js" --port 18441 --keep-alive-timeout 3000 --name node
    nginx_start timeouts-ordered.conf
    wait_listen 18441
    wait_listen 18440
}
to_client() {
    python3 "$HERE/client.py" --port 18440 --conns 4 --offset 0.005 --final-idle 4 --prefix o \
        --gaps "$(seq_gaps 0.80 0.04 11)"
}
scn_timeouts-ordered() { record timeouts-ordered to_servers to_client 18440 18441; }

# -- main --------------------------------------------------------------------

[[ $(id -u) == 0 ]] || { log "run as root (tcpdump on lo)"; exit 1; }
scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=("${ALL[@]}")
for s in "${scenarios[@]}"; do
    declare -F "scn_$s" >/dev/null || { log "unknown scenario $s (known: ${ALL[*]})"; exit 2; }
done
mkdir -p "$TOP"
for s in "${scenarios[@]}"; do
    log "scenario $s"
    "scn_$s"
done
log "done; captures in $PROXY"
du -ch "$PROXY"/*.pcap | tail -1 >&2
