#!/usr/bin/env bash
# Re-record the TLS sample captures in samples/tls/ (see samples/tls/README.md).
#
# usage: samples/tls/record/record.sh [SCENARIO...]     (default: all of them)
#
# Needs root (tcpdump on lo), tcpdump, tshark, editcap, openssl, nginx, apache2
# (mod_ssl), curl, python3 and Go (GO=/usr/local/go/bin/go by default).
# Everything runs on 127.0.0.1. Servers are started here in the foreground
# with a config from samples/tls/record/ and stopped again; the certificate,
# temp files, logs and document roots live in /tmp/httplife-tls.
#
# Procedure per capture (as samples/record/record.sh and the corpus):
#   tcpdump -i lo -s 0 -B 131072 -U --immediate-mode -n -w FILE 'tcp port P'
#   sleep 1; traffic (every client writes its TLS secrets to NAME.keys);
#   sleep 1; SIGINT to tcpdump; require "0 packets dropped by kernel", a
#   client that succeeded and a first packet that is the client's SYN (else
#   record again, up to 3 attempts). Then truth.py writes NAME.truth.json from
#   tshark's decryption with NAME.keys.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUTDIR=$(dirname "$HERE")
REPO=$(cd "$OUTDIR/../.." && pwd)
TMP=/tmp/httplife-tls
GO=${GO:-/usr/local/go/bin/go}
ALL=(nginx-tls13-curl nginx-tls13-python nginx-tls13-chacha nginx-tls12-gcm nginx-tls12-cbc
     nginx-tls12-chacha nginx-tls12-rsa-kex nginx-resumed apache-tls go-client nginx-idle-timeout
     nginx-tls-race nginx-h2 nginx-keyupdate nginx-hrr nginx-early-data)

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

# port_free PORT: nothing else may listen there (another program's traffic
# would end up in the capture)
port_free() {
    if ss -Hltn "sport = :$1" | grep -q .; then
        log "port $1 is already in use"; return 1
    fi
}

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

# the self-signed RSA certificate every server uses
make_cert() {
    [[ -s $TMP/cert.pem && -s $TMP/key.pem ]] && return 0
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 3650 \
        -subj /CN=httplife.test -addext subjectAltName=DNS:httplife.test,IP:127.0.0.1 2>/dev/null
    chmod 644 "$TMP/cert.pem" "$TMP/key.pem"
}

docroot() {
    mkdir -p "$1"
    printf '<!doctype html>\n<title>httplife TLS sample</title>\n<p>index of the httplife TLS samples server</p>\n' >"$1/index.html"
    printf 'a.txt: %s\n' "$(printf 'a%.0s' $(seq 60))" >"$1/a.txt"
    printf 'b.txt: %s\n' "$(printf 'b%.0s' $(seq 2000))" >"$1/b.txt"
    touch -d '2026-01-01 00:00:00 UTC' "$1"/*.html "$1"/*.txt
    chmod -R a+rX "$1"
}

capture_start() {
    local i
    rm -f "$TMP/$1.pcap" "$TMP/$1.keys"
    tcpdump -i lo -s 0 -B 131072 -U --immediate-mode -n -w "$TMP/$1.pcap" "tcp port $2" \
        2>"$TMP/$1.tcpdump.log" &
    TCPDUMP_PID=$!
    for i in $(seq 200); do
        grep -q 'listening on' "$TMP/$1.tcpdump.log" && break
        sleep 0.05
    done
    sleep 1
}

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

# record NAME PORT BODY-FUNCTION [CHECK-FUNCTION]
record() {
    local name=$1 port=$2 body=$3 check=${4:-} attempt ok
    for attempt in 1 2 3; do
        log "$name: attempt $attempt"
        capture_start "$name" "$port"
        ok=1
        KEYS=$TMP/$name.keys PORT=$port "$body" >"$TMP/$name.client.log" 2>&1 ||
            { log "$name: client failed ($?), see $TMP/$name.client.log"; ok=0; }
        capture_stop "$name" || { log "$name: tcpdump dropped packets"; ok=0; }
        if [[ $ok == 1 && $(tshark -n -r "$TMP/$name.pcap" -c 1 -T fields -e tcp.flags.syn -e tcp.flags.ack 2>/dev/null) != 1$'\t'0 ]]; then
            log "$name: the capture does not start with the client's SYN"; ok=0
        fi
        if [[ $ok == 1 && ! -s $TMP/$name.keys ]]; then
            log "$name: no key log written"; ok=0
        fi
        if [[ $ok == 1 && -n $check ]] && ! "$check" "$name" "$port"; then
            log "$name: capture rejected by $check"; ok=0
        fi
        [[ $ok == 1 ]] && return 0
    done
    log "$name: giving up after 3 attempts"
    return 1
}

# finish NAME PORT DESCRIPTION-JSON: copy capture and key log, write the truth
finish() {
    local name=$1 port=$2 desc=$3
    cp "$TMP/$name.pcap" "$OUTDIR/$name.pcap"
    cp "$TMP/$name.keys" "$OUTDIR/$name.keys"
    python3 "$HERE/truth.py" --tcpdump-log "$TMP/$name.tcpdump.log" --describe "$desc" \
        "$OUTDIR/$name.pcap" "$OUTDIR/$name.keys" "$port" >"$OUTDIR/$name.truth.json"
    python3 "$HERE/truth.py" --table "$OUTDIR/$name.pcap" "$OUTDIR/$name.keys" "$port" >&2
}

# truth_has NAME PORT PYTHON-EXPR: EXPR over the truth's connections (list c) is true
truth_has() {
    python3 "$HERE/truth.py" "$TMP/$1.pcap" "$TMP/$1.keys" "$2" |
        python3 -c "import json,sys; c=json.load(sys.stdin)['connections']; sys.exit(0 if ($3) else 1)"
}

nginx_start() {
    local p=$TMP/nginx
    mkdir -p "$p/logs" "$p/tmp"
    docroot "$p/html"
    chmod 777 "$p/tmp"
    start_server nginx nginx -p "$p/" -e "$p/logs/error.log" -c "$HERE/nginx.conf" -g 'daemon off;'
}

# nginx_scenario NAME PORT TRAFFIC CHECK DESCRIPTION-JSON
nginx_scenario() {
    port_free "$2"
    nginx_start
    wait_listen "$2"
    record "$1" "$2" "$3" "$4"
    stop_server
    finish "$1" "$2" "$5"
}

# curl over TLS to httplife.test (SNI) on 127.0.0.1:$PORT, secrets to $KEYS
tcurl() { SSLKEYLOGFILE=$KEYS curl -sS -k --resolve "httplife.test:$PORT:127.0.0.1" "$@"; }
U() { printf 'https://httplife.test:%s%s' "$PORT" "$1"; }
pyc() { python3 "$HERE/tlsclient.py" --port "$PORT" --keylog "$KEYS" "$@"; }
N3='-o /dev/null -o /dev/null -o /dev/null'

# -- scenarios ---------------------------------------------------------------

t_tls13_curl() {
    # one connection, three requests spaced by --rate; then one without SNI (IP literal)
    tcurl --http1.1 --tlsv1.3 --tls13-ciphers TLS_AES_128_GCM_SHA256 --rate 2/s $N3 "$(U /)" "$(U /a.txt)" "$(U /b.txt)"
    sleep 0.3
    SSLKEYLOGFILE=$KEYS curl -sS -k --http1.1 --tls13-ciphers TLS_AES_128_GCM_SHA256 -o /dev/null "https://127.0.0.1:$PORT/a.txt"
}
scn_nginx-tls13-curl() {
    nginx_scenario nginx-tls13-curl 18611 t_tls13_curl "" \
        '{"description": "curl (SSLKEYLOGFILE), TLS 1.3 TLS_AES_128_GCM_SHA256: one keep-alive connection with three GETs spaced 0.5 s by --rate, closed by curl (close_notify, FIN); then one GET to the IP literal (no SNI)", "server": "nginx 1.22.1, OpenSSL 3.0", "client": "curl 7.88.1, OpenSSL 3.0"}'
    editcap --inject-secrets "tls,$OUTDIR/nginx-tls13-curl.keys" "$OUTDIR/nginx-tls13-curl.pcap" "$OUTDIR/nginx-tls13-curl.dsb.pcapng"
    log "nginx-tls13-curl: wrote nginx-tls13-curl.dsb.pcapng (secrets injected)"
}

t_tls13_python() {
    pyc --tls 1.3 --plan "/:0.4,/a.txt:0.8,/b.txt:0.2" --end unwrap spaced
    sleep 0.3
    pyc --tls 1.3 --plan "/a.txt:0.3,/:0.3" --end close spaced
}
scn_nginx-tls13-python() {
    nginx_scenario nginx-tls13-python 18612 t_tls13_python "" \
        '{"description": "Python ssl (keylog_filename), TLS 1.3 (OpenSSL default: TLS_AES_256_GCM_SHA384): three GETs spaced 0.4 and 0.8 s, closed with unwrap() (close_notify both ways, then FIN); then two GETs spaced 0.3 s, closed without close_notify", "server": "nginx 1.22.1, OpenSSL 3.0", "client": "Python 3.11 ssl, OpenSSL 3.0"}'
}

t_tls13_chacha() {
    tcurl --http1.1 --tlsv1.3 --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256 --rate 3/s -o /dev/null -o /dev/null "$(U /)" "$(U /b.txt)"
}
scn_nginx-tls13-chacha() {
    nginx_scenario nginx-tls13-chacha 18613 t_tls13_chacha "" \
        '{"description": "curl, TLS 1.3 TLS_CHACHA20_POLY1305_SHA256, two GETs spaced 0.33 s on one connection", "server": "nginx 1.22.1, OpenSSL 3.0", "client": "curl 7.88.1, OpenSSL 3.0"}'
}

t_tls12_gcm() {
    tcurl --http1.1 --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256 --rate 2/s -o /dev/null -o /dev/null "$(U /)" "$(U /a.txt)"
    sleep 0.3
    pyc --tls 1.2 --ciphers ECDHE-RSA-AES256-GCM-SHA384 --plan "/b.txt:0.5,/:0" --end unwrap spaced
}
scn_nginx-tls12-gcm() {
    nginx_scenario nginx-tls12-gcm 18614 t_tls12_gcm "" \
        '{"description": "TLS 1.2 AES-GCM: curl ECDHE-RSA-AES128-GCM-SHA256 (two GETs 0.5 s apart); Python ECDHE-RSA-AES256-GCM-SHA384 (two GETs 0.5 s apart, unwrap)", "server": "nginx 1.22.1, OpenSSL 3.0", "client": "curl 7.88.1; Python 3.11 ssl"}'
}

t_tls12_cbc() {
    tcurl --http1.1 --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-RSA-AES128-SHA --rate 2/s -o /dev/null -o /dev/null "$(U /)" "$(U /b.txt)"
    sleep 0.3
    pyc --tls 1.2 --ciphers ECDHE-RSA-AES256-SHA384 --no-etm --plan "/a.txt:0.4,/b.txt:0" --end unwrap spaced
    sleep 0.3
    pyc --tls 1.2 --ciphers ECDHE-RSA-AES128-SHA256 --plan "/:0.3,/a.txt:0" --end unwrap spaced
}
scn_nginx-tls12-cbc() {
    nginx_scenario nginx-tls12-cbc 18615 t_tls12_cbc "" \
        '{"description": "TLS 1.2 CBC with HMAC: curl ECDHE-RSA-AES128-SHA (encrypt_then_mac negotiated, RFC 7366); Python ECDHE-RSA-AES256-SHA384 with SSL_OP_NO_ENCRYPT_THEN_MAC (MAC-then-encrypt); Python ECDHE-RSA-AES128-SHA256 (encrypt_then_mac)", "server": "nginx 1.22.1, OpenSSL 3.0", "client": "curl 7.88.1; Python 3.11 ssl"}'
}

t_tls12_chacha() {
    tcurl --http1.1 --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-RSA-CHACHA20-POLY1305 --rate 2/s -o /dev/null -o /dev/null "$(U /a.txt)" "$(U /)"
}
scn_nginx-tls12-chacha() {
    nginx_scenario nginx-tls12-chacha 18616 t_tls12_chacha "" \
        '{"description": "curl, TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305, two GETs 0.5 s apart", "server": "nginx 1.22.1, OpenSSL 3.0", "client": "curl 7.88.1, OpenSSL 3.0"}'
}

t_tls12_rsa() {
    tcurl --http1.1 --tlsv1.2 --tls-max 1.2 --ciphers AES128-GCM-SHA256 --rate 2/s -o /dev/null -o /dev/null "$(U /)" "$(U /b.txt)"
    sleep 0.3
    pyc --tls 1.2 --ciphers AES256-SHA --plan "/a.txt:0.3,/:0" --end unwrap spaced
}
scn_nginx-tls12-rsa-kex() {
    nginx_scenario nginx-tls12-rsa-kex 18617 t_tls12_rsa "" \
        '{"description": "TLS 1.2 with RSA key exchange (no forward secrecy; the key log still has CLIENT_RANDOM): curl AES128-GCM-SHA256; Python AES256-SHA (CBC, encrypt_then_mac)", "server": "nginx 1.22.1, OpenSSL 3.0", "client": "curl 7.88.1; Python 3.11 ssl"}'
}

t_resumed() {
    pyc --versions 1.2,1.3 resume
    sleep 0.3
    # curl: Connection: close makes the second URL open a second connection,
    # which offers the first's session (curl 7.88 resumes it in TLS 1.3; in
    # TLS 1.2 it found the session stale and made a full handshake)
    tcurl --http1.1 --tlsv1.3 -H 'Connection: close' -o /dev/null -o /dev/null "$(U /)" "$(U /a.txt)"
}
scn_nginx-resumed() {
    nginx_scenario nginx-resumed 18618 t_resumed "truth_resumed" \
        '{"description": "Session resumption: Python TLS 1.2 then a second connection with its session (ticket), the same in TLS 1.3 (PSK); curl TLS 1.3 with Connection: close twice, the second connection offering the first session", "server": "nginx 1.22.1, OpenSSL 3.0 (session tickets on)", "client": "Python 3.11 ssl; curl 7.88.1"}'
}
truth_resumed() { truth_has "$1" "$2" 'sum(x["tls"]["resumed"] for x in c) >= 2'; }

t_apache() {
    pyc --tls 1.3 --plan "/:0.5,/a.txt:0.5,/b.txt:0" --end wait --wait 5 spaced
    sleep 0.3
    tcurl --http1.1 --tlsv1.2 --tls-max 1.2 --rate 2/s -o /dev/null -o /dev/null "$(U /)" "$(U /a.txt)"
}
scn_apache-tls() {
    port_free 18619
    mkdir -p "$TMP/apache"
    docroot "$TMP/apache/htdocs"
    start_server apache2 apache2 -f "$HERE/apache2.conf" -DFOREGROUND
    wait_listen 18619
    record apache-tls 18619 t_apache
    stop_server
    finish apache-tls 18619 \
        '{"description": "Apache mod_ssl: Python TLS 1.3, three GETs 0.5 s apart, then idle until Apache'"'"'s KeepAliveTimeout 2 closes; curl TLS 1.2, two GETs 0.5 s apart", "server": "Apache 2.4 (event MPM) mod_ssl, OpenSSL 3.0, KeepAliveTimeout 2", "client": "Python 3.11 ssl; curl 7.88.1"}'
}

t_go() {
    "$TMP/goclient" -addr "127.0.0.1:$PORT" -keylog "$KEYS" -tls 1.3 -plan "/:0.4,/a.txt:0.4,/b.txt:0"
    sleep 0.3
    "$TMP/goclient" -addr "127.0.0.1:$PORT" -keylog "$KEYS" -tls 1.2 -cipher TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256 -plan "/a.txt:0.3,/:0"
}
scn_go-client() {
    (cd "$REPO" && "$GO" build -o "$TMP/goclient" ./samples/tls/record/goclient)
    nginx_scenario go-client 18620 t_go "" \
        '{"description": "Go net/http client (crypto/tls KeyLogWriter): TLS 1.3 three GETs 0.4 s apart; TLS 1.2 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256 (Go has no encrypt_then_mac: MAC-then-encrypt) two GETs; each closed by CloseIdleConnections (close_notify, FIN)", "server": "nginx 1.22.1, OpenSSL 3.0", "client": "Go 1.26 net/http"}'
}

t_idle() {
    pyc --tls 1.3 --plan "/:0.5,/a.txt:0" --end wait --wait 5 spaced
    sleep 0.3
    pyc --tls 1.2 --plan "/b.txt:0" --end wait --wait 5 spaced
}
scn_nginx-idle-timeout() {
    nginx_scenario nginx-idle-timeout 18621 t_idle "truth_idle" \
        '{"description": "nginx keepalive_timeout 2s: Python TLS 1.3 (two GETs 0.5 s apart) and TLS 1.2 (one GET) stay idle; nginx closes each after 2 s with close_notify and FIN", "server": "nginx 1.22.1, OpenSSL 3.0, keepalive_timeout 2s", "client": "Python 3.11 ssl"}'
}
truth_idle() { truth_has "$1" "$2" 'all(x["tls"]["close_notify_by"] == "server" and x["first_fin_by"] == "server" for x in c)'; }

t_race() { pyc --tls 1.3 --n 8 --idle 1.0 --lo -3 --hi 4 race; }
scn_nginx-tls-race() {
    nginx_scenario nginx-tls-race 18622 t_race "truth_race" \
        '{"description": "Keep-alive race over TLS: 8 parallel Python TLS 1.3 connections, a GET, then a second GET 1 s + offset after the first response, offsets -3..+4 ms around nginx'"'"'s keepalive_timeout 1s: some second requests are answered, some cross the server'"'"'s close_notify and FIN", "server": "nginx 1.22.1, OpenSSL 3.0, keepalive_timeout 1s", "client": "Python 3.11 ssl"}'
}
truth_race() { truth_has "$1" "$2" 'any(len(x["responses"]) < len(x["requests"]) for x in c) and any(len(x["responses"]) == 2 for x in c)'; }

t_h2() { tcurl --http2 --rate 2/s $N3 "$(U /)" "$(U /a.txt)" "$(U /b.txt)"; }
scn_nginx-h2() {
    nginx_scenario nginx-h2 18623 t_h2 "" \
        '{"description": "curl --http2 (ALPN h2), TLS 1.3, three GETs 0.5 s apart on one HTTP/2 connection", "server": "nginx 1.22.1 http2, OpenSSL 3.0", "client": "curl 7.88.1, nghttp2 1.52"}'
}

t_keyupdate() {
    # s_client's command letter "K" (alone on a line) sends a KeyUpdate that
    # requests the peer's; "k" one that does not
    {
        printf 'GET / HTTP/1.1\r\nHost: httplife.test\r\n\r\n'; sleep 0.5
        printf 'K\n'; sleep 0.5
        printf 'GET /a.txt HTTP/1.1\r\nHost: httplife.test\r\n\r\n'; sleep 0.5
        printf 'k\n'; sleep 0.5
        printf 'GET /b.txt HTTP/1.1\r\nHost: httplife.test\r\n\r\n'; sleep 0.5
    } | openssl s_client -connect "127.0.0.1:$PORT" -servername httplife.test -keylogfile "$KEYS" -no_ign_eof
}
scn_nginx-keyupdate() {
    nginx_scenario nginx-keyupdate 18624 t_keyupdate "truth_keyupdate" \
        '{"description": "openssl s_client (-keylogfile), TLS 1.3: GET, KeyUpdate with update_requested (nginx answers with its own), GET, KeyUpdate without, GET; s_client closes at the end of its input", "server": "nginx 1.22.1, OpenSSL 3.0", "client": "openssl s_client 3.0"}'
}
truth_keyupdate() { truth_has "$1" "$2" 'c[0]["tls"]["key_updates"]["client"] == 2 and c[0]["tls"]["key_updates"]["server"] >= 1 and len(c[0]["responses"]) == 3'; }

t_hrr() { tcurl --http1.1 --tlsv1.3 --rate 3/s -o /dev/null -o /dev/null "$(U /)" "$(U /a.txt)"; }
scn_nginx-hrr() {
    nginx_scenario nginx-hrr 18625 t_hrr "truth_hrr" \
        '{"description": "HelloRetryRequest: nginx accepts only secp384r1 key shares, curl offers an X25519 share first; two GETs 0.33 s apart", "server": "nginx 1.22.1, OpenSSL 3.0, ssl_ecdh_curve secp384r1", "client": "curl 7.88.1, OpenSSL 3.0"}'
}
truth_hrr() { truth_has "$1" "$2" 'c[0]["tls"]["hello_retry"]'; }

t_early() {
    printf 'GET / HTTP/1.1\r\nHost: httplife.test\r\n\r\n' >"$TMP/early-req1.txt"
    printf 'GET /a.txt HTTP/1.1\r\nHost: httplife.test\r\n\r\n' >"$TMP/early-req2.txt"
    rm -f "$TMP/early.sess"
    { cat "$TMP/early-req1.txt"; sleep 0.6; } |
        openssl s_client -connect "127.0.0.1:$PORT" -servername httplife.test -keylogfile "$KEYS" -sess_out "$TMP/early.sess" -no_ign_eof
    sleep 0.3
    { sleep 0.6; } |
        openssl s_client -connect "127.0.0.1:$PORT" -servername httplife.test -keylogfile "$KEYS" -sess_in "$TMP/early.sess" \
            -early_data "$TMP/early-req2.txt" -no_ign_eof
}
scn_nginx-early-data() {
    nginx_scenario nginx-early-data 18626 t_early "" \
        '{"description": "TLS 1.3 0-RTT: openssl s_client saves the session of a first GET, a second s_client resumes it and sends a GET as early data (nginx ssl_early_data on)", "server": "nginx 1.22.1, OpenSSL 3.0, ssl_early_data on", "client": "openssl s_client 3.0"}'
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
make_cert
for s in "${scenarios[@]}"; do
    log "scenario $s"
    "scn_$s"
done
if grep -q '<!-- facts:begin -->' "$OUTDIR/README.md" 2>/dev/null; then
    python3 "$HERE/truth.py" --readme "$OUTDIR"
fi
log "done; captures in $OUTDIR"
du -ch "$OUTDIR"/*.pcap* | tail -1 >&2
