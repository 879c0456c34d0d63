#!/usr/bin/env bash
# Re-record the sample captures in samples/ (see samples/README.md).
#
# usage: samples/record/record.sh [SCENARIO...]     (default: all of them)
#   scenarios: go-idle-timeout lighttpd apache-maxreq python-http10 curl-post
#              client-rst-race pipelined-ipv6
#
# Needs root (tcpdump on lo), tcpdump, tshark, nginx, lighttpd, apache2, curl,
# python3 and Go (GO=/usr/local/go/bin/go by default). Every server is started
# here in the foreground with a config from samples/record/ and stopped again;
# their temp files, logs and document roots live in /tmp/httplife-rec.
#
# Procedure per capture (as for the corpus, /work/shared/corpus/README.md):
#   tcpdump -i lo -s 0 -B 131072 -U --immediate-mode -n -Z root -w FILE 'tcp port P'
#   sleep 1; traffic; sleep 1; SIGINT to tcpdump; require "0 packets dropped
#   by kernel" (else record again, up to 3 attempts). Then
#   expect.py writes samples/NAME.expect.json from tshark's view of the capture.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SAMPLES=$(dirname "$HERE")
REPO=$(dirname "$SAMPLES")
TMP=/tmp/httplife-rec
GO=${GO:-/usr/local/go/bin/go}
ALL=(go-idle-timeout lighttpd apache-maxreq python-http10 curl-post client-rst-race pipelined-ipv6)

mkdir -p "$TMP"
chmod 755 "$TMP"

log() { printf '== %s\n' "$*" >&2; }

SERVER_PID=
TCPDUMP_PID=
cleanup() {
    [[ -n $TCPDUMP_PID ]] && kill -INT "$TCPDUMP_PID" 2>/dev/null || true
    [[ -n $SERVER_PID ]] && kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

# wait_listen PORT: until something listens on PORT (bounded: 10 s)
wait_listen() {
    local i
    for i in $(seq 100); do
        if ss -Hltn "sport = :$1" | grep -q .; then return 0; fi
        sleep 0.1
    done
    log "nothing listens on port $1"; return 1
}

# start_server LOGNAME CMD...: runs CMD in the background (foreground mode)
start_server() {
    local name=$1; shift
    "$@" >"$TMP/$name.server.log" 2>&1 &
    SERVER_PID=$!
}

stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}

# capture_start NAME PORT: tcpdump into $TMP/NAME.pcap; once it says it is
# listening (its start-up can take over a second), 1 s of quiet
capture_start() {
    local i
    rm -f "$TMP/$1.pcap"
    tcpdump -i lo -s 0 -B 131072 -U --immediate-mode -n -Z root -w "$TMP/$1.pcap" "tcp port $2" \
        2>"$TMP/$1.tcpdump.log" &
    TCPDUMP_PID=$!
    for i in $(seq 200); do
        grep -q 'listening on' "$TMP/$1.tcpdump.log" && break
        sleep 0.05
    done
    sleep 1
}

# capture_stop NAME: 1 s of quiet, SIGINT, check the kernel dropped nothing
capture_stop() {
    sleep 1
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    local stats dropped
    stats=$(grep -E 'packets (captured|received by filter|dropped by kernel)' "$TMP/$1.tcpdump.log" | tr '\n' ' ')
    dropped=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$TMP/$1.tcpdump.log")
    log "$1: tcpdump: $stats"
    [[ $dropped == 0 ]]
}

# finish NAME PORT...: copy the capture into samples/, write NAME.expect.json
finish() {
    local name=$1; shift
    cp "$TMP/$name.pcap" "$SAMPLES/$name.pcap"
    python3 "$HERE/expect.py" --tcpdump-log "$TMP/$name.tcpdump.log" "$SAMPLES/$name.pcap" "$@" \
        >"$SAMPLES/$name.expect.json"
    python3 "$HERE/expect.py" --table "$SAMPLES/$name.pcap" "$@" >&2
    log "$name: client log $TMP/$name.client.log"
}

# docroot DIR: the small static files every server serves
docroot() {
    mkdir -p "$1"
    printf '<!doctype html>\n<title>httplife sample</title>\n<p>index of the httplife samples server</p>\n' >"$1/index.html"
    printf 'a.txt: %s\n' "$(printf 'a%.0s' $(seq 60))" >"$1/a.txt"
    printf 'b.txt: %s\n' "$(printf 'b%.0s' $(seq 200))" >"$1/b.txt"
    # fixed mtime so that Last-Modified / ETag do not depend on the run
    touch -d '2026-01-01 00:00:00 UTC' "$1"/*.html "$1"/*.txt
    chmod -R a+rX "$1"
}

# record NAME PORT BODY-FUNCTION [CHECK-FUNCTION]: up to 3 attempts until the
# client succeeded, tcpdump dropped nothing, the capture starts with the
# client's SYN and CHECK-FUNCTION (if given) accepts the capture
record() {
    local name=$1 port=$2 body=$3 check=${4:-} attempt ok
    for attempt in 1 2 3; do
        log "$name: attempt $attempt"
        capture_start "$name" "$port"
        ok=1
        "$body" >"$TMP/$name.client.log" 2>&1 || { log "$name: client failed ($?), see $TMP/$name.client.log"; ok=0; }
        capture_stop "$name" || { log "$name: tcpdump dropped packets"; ok=0; }
        if [[ $ok == 1 && $(tshark -n -r "$TMP/$name.pcap" -c 1 -T fields -e tcp.flags.syn -e tcp.flags.ack 2>/dev/null) != 1$'\t'0 ]]; then
            log "$name: the capture does not start with the client's SYN"; ok=0
        fi
        if [[ $ok == 1 && -n $check ]] && ! "$check" "$name"; then
            log "$name: capture rejected by $check"; ok=0
        fi
        [[ $ok == 1 ]] && return 0
    done
    log "$name: giving up after 3 attempts"
    return 1
}

nginx_start() {
    local p=$TMP/nginx
    mkdir -p "$p/logs" "$p/tmp"
    docroot "$p/html"
    chmod 777 "$p/tmp"
    start_server nginx nginx -p "$p/" -e "$p/logs/error.log" -c "$HERE/nginx.conf" -g 'daemon off;'
}

# -- scenarios ---------------------------------------------------------------

go_traffic() { python3 "$HERE/client.py" go-idle-timeout 18300; }
scn_go-idle-timeout() {
    (cd "$REPO" && "$GO" build -o "$TMP/goserver" ./samples/record/goserver)
    start_server goserver "$TMP/goserver" -addr 127.0.0.1:18300 -idle 1500ms
    wait_listen 18300
    record go-idle-timeout 18300 go_traffic
    stop_server
    finish go-idle-timeout 18300
}

lighttpd_traffic() { python3 "$HERE/client.py" lighttpd 18310; }
scn_lighttpd() {
    mkdir -p "$TMP/lighttpd"
    docroot "$TMP/lighttpd/htdocs"
    start_server lighttpd lighttpd -D -f "$HERE/lighttpd.conf"
    wait_listen 18310
    record lighttpd 18310 lighttpd_traffic
    stop_server
    finish lighttpd 18310
}

apache_traffic() { python3 "$HERE/client.py" apache-maxreq 18320; }
scn_apache-maxreq() {
    mkdir -p "$TMP/apache"
    docroot "$TMP/apache/htdocs"
    start_server apache2 apache2 -f "$HERE/apache2.conf" -DFOREGROUND
    wait_listen 18320
    record apache-maxreq 18320 apache_traffic
    stop_server
    finish apache-maxreq 18320
}

python_traffic() {
    local u=http://127.0.0.1:18330
    curl -sS -v -o /dev/null -o /dev/null -o /dev/null "$u/a.txt" "$u/b.txt" "$u/"
}
scn_python-http10() {
    docroot "$TMP/pyhttp"
    start_server pyhttp python3 -m http.server 18330 --bind 127.0.0.1 --directory "$TMP/pyhttp"
    wait_listen 18330
    record python-http10 18330 python_traffic
    stop_server
    finish python-http10 18330
}

curl_post_traffic() {
    local u=http://127.0.0.1:18340
    # one curl process, one connection: POST with a 2000-byte body and
    # Expect: 100-continue (curl 7.88 adds it by itself only above 1 MiB, so
    # it is asked for with -H), a chunked upload, a HEAD; the last
    # transfer (port 18341, not captured) is a ~3 s rate-limited download that
    # keeps curl alive so that nginx's 2 s keepalive_timeout closes 18340.
    curl -sS -v --http1.1 -o /dev/null -H 'Expect: 100-continue' --data-binary @"$TMP/curl/body2k.txt" "$u/post" \
        --next -o /dev/null -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/curl/upload.txt" "$u/post" \
        --next -I "$u/" \
        --next -o /dev/null --max-time 10 http://127.0.0.1:18341/slow.txt
}
scn_curl-post() {
    mkdir -p "$TMP/curl"
    python3 -c 'import sys; sys.stdout.write("".join("f%03d=xxxxxxxxxx&" % i for i in range(134))[:2000])' \
        >"$TMP/curl/body2k.txt"
    python3 -c 'import sys; sys.stdout.write("".join("line %03d of the chunked upload\n" % i for i in range(40)))' \
        >"$TMP/curl/upload.txt"
    nginx_start
    wait_listen 18340
    head -c 3000 /dev/zero | tr '\0' 's' >"$TMP/nginx/html/slow.txt"
    record curl-post 18340 curl_post_traffic
    stop_server
    finish curl-post 18340
}

race_traffic() { python3 "$HERE/client.py" client-rst-race 18350; }
# keep a capture only if it has both kinds: a race and a normal idle close
race_check() {
    local reasons
    reasons=$(python3 "$HERE/expect.py" "$TMP/$1.pcap" 18350 |
        python3 -c 'import json,sys; print(" ".join(c["close_reason"] for c in json.load(sys.stdin)["connections"]))')
    log "$1: reasons: $reasons"
    [[ $reasons == *keepalive-race* && $reasons == *server-idle-timeout* ]]
}
scn_client-rst-race() {
    nginx_start
    wait_listen 18350
    record client-rst-race 18350 race_traffic race_check
    stop_server
    finish client-rst-race 18350
}

ipv6_traffic() { python3 "$HERE/client.py" pipelined-ipv6 18360; }
scn_pipelined-ipv6() {
    nginx_start
    wait_listen 18360
    record pipelined-ipv6 18360 ipv6_traffic
    stop_server
    finish pipelined-ipv6 18360
}

# -- main --------------------------------------------------------------------

[[ $(id -u) == 0 ]] || { log "run as root (tcpdump on lo)"; exit 1; }
scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=("${ALL[@]}")
for s in "${scenarios[@]}"; do
    if ! declare -F "scn_$s" >/dev/null; then
        log "unknown scenario $s (known: ${ALL[*]})"; exit 2
    fi
done
for s in "${scenarios[@]}"; do
    log "scenario $s"
    "scn_$s"
done
# refresh the generated per-connection tables of samples/README.md
if grep -q '<!-- facts:begin -->' "$SAMPLES/README.md" 2>/dev/null; then
    python3 "$HERE/expect.py" --readme "$SAMPLES"
fi
log "done; samples in $SAMPLES"
du -ch "$SAMPLES"/*.pcap | tail -1 >&2
