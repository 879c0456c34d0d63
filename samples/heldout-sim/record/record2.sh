#!/usr/bin/env bash
# Held-out simulation recorder. usage: record2.sh NAME... (see the scn_ functions)
set -uo pipefail
HD=/tmp/heldout
REC=$HD/rec
OUT=${OUT:-$HD/out}
EXPECT=/work/main/samples/record/expect.py
mkdir -p "$REC" "$OUT"
log() { printf '== %s\n' "$*" >&2; }
SERVER_PID= ; TCPDUMP_PID=
cleanup() {
    [[ -n $TCPDUMP_PID ]] && kill -INT "$TCPDUMP_PID" 2>/dev/null
    [[ -n $SERVER_PID ]] && kill -TERM "$SERVER_PID" 2>/dev/null
    wait 2>/dev/null
}
trap cleanup EXIT
wait_listen() { local i; for i in $(seq 100); do ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.1; done; log "nothing on $1"; return 1; }
start_server() { local n=$1; shift; "$@" >"$REC/$n.server.log" 2>&1 & SERVER_PID=$!; }
stop_server() { [[ -n $SERVER_PID ]] && { kill -TERM "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=; }; sleep 0.3; }

# capture_start FILE PORT [IFACE] [TOOL]
capture_start() {
    local f=$1 port=$2 ifc=${3:-lo} tool=${4:-tcpdump} i
    rm -f "$f"
    if [[ $tool == dumpcap ]]; then
        dumpcap -i "$ifc" -s 0 -B 2 -f "tcp port $port" -w "$f" 2>"$f.caplog" &
        TCPDUMP_PID=$!
        for i in $(seq 200); do grep -q 'Capturing on' "$f.caplog" && break; sleep 0.05; done
    else
        tcpdump -i "$ifc" -s 0 -B 131072 -U --immediate-mode -n -Z root -w "$f" "tcp port $port" 2>"$f.caplog" &
        TCPDUMP_PID=$!
        for i in $(seq 200); do grep -q 'listening on' "$f.caplog" && break; sleep 0.05; done
    fi
    sleep 1
}
capture_stop() {
    local f=$1
    sleep 1
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID"; TCPDUMP_PID=
    cat "$f.caplog" >&2
    if grep -q 'dropped by kernel' "$f.caplog"; then
        [[ $(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$f.caplog") == 0 ]]
    else
        grep -q "dropped on interface 'lo': [0-9]*/0 " "$f.caplog" || grep -q "dropped on interface 'lo': [0-9]*/0$" "$f.caplog" || grep -q "/0 (pcap:0/dumpcap:0" "$f.caplog"
    fi
}
# truth NAME FILE SCENARIO DESC PORT...
truth() {
    local name=$1 f=$2 scen=$3 desc=$4; shift 4
    python3 "$EXPECT" --tcpdump-log "$f.caplog" "$f" "$@" >"$REC/$name.expect.json" || return 1
    python3 "$HD/mk_truth.py" "$REC/$name.expect.json" "$scen" "$desc" >"$f.truth.json"
    python3 "$EXPECT" --table "$f" "$@" >&2
}
# rec NAME EXT PORT SCENARIO DESC CLIENTFN [IFACE] [TOOL]: capture one run (up to 3 attempts)
rec() {
    local name=$1 ext=$2 port=$3 scen=$4 desc=$5 fn=$6 ifc=${7:-lo} tool=${8:-tcpdump} a
    local f=$OUT/$name.$ext
    for a in 1 2 3; do
        log "$name attempt $a"
        if [[ $fn == midstream_* ]]; then "$fn" "$f" "$port" "$ifc" "$tool"; else
        capture_start "$f" "$port" "$ifc" "$tool"
        "$fn" >"$REC/$name.client.log" 2>&1 || log "client failed"
        fi
        if capture_stop "$f"; then
            truth "$name" "$f" "$scen" "$desc" "$port" && { mv "$f.caplog" "$REC/$name.caplog"; return 0; }
        fi
        log "$name: retry"
    done
    return 1
}

lighttpd_start() { # NAME PORT IDLE [EXTRA] [BIND]
    local n=$1 p=$2 idle=$3 extra=${4:-} bind=${5:-127.0.0.1}
    cat >"$REC/$n.lighttpd.conf" <<C
server.document-root  = "$REC/htdocs"
server.bind           = "$bind"
server.port           = $p
server.username       = "www-data"
server.groupname      = "www-data"
server.max-keep-alive-idle = $idle
index-file.names      = ( "index.html" )
mimetype.assign       = ( ".html" => "text/html", ".txt" => "text/plain" )
static-file.etags     = "enable"
$extra
C
    start_server "$n" lighttpd -D -f "$REC/$n.lighttpd.conf"; wait_listen "$p"
}
apache_start() { # NAME PORT KATIMEOUT MAXREQ [MPM]
    local n=$1 p=$2 kt=$3 mx=$4 mpm=${5:-event}
    mkdir -p "$REC/apache-$n"
    cat >"$REC/$n.apache2.conf" <<C
ServerRoot "/etc/apache2"
LoadModule mpm_${mpm}_module /usr/lib/apache2/modules/mod_mpm_${mpm}.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
User www-data
Group www-data
ServerName 127.0.0.1
Listen $p
DefaultRuntimeDir $REC/apache-$n
PidFile $REC/apache-$n/apache2.pid
ErrorLog $REC/apache-$n/error.log
LogLevel info
TypesConfig /etc/mime.types
DocumentRoot $REC/htdocs
DirectoryIndex index.html
<Directory />
    Require all denied
    AllowOverride None
</Directory>
<Directory $REC/htdocs>
    Require all granted
</Directory>
KeepAlive On
KeepAliveTimeout $kt
MaxKeepAliveRequests $mx
C
    start_server "$n" setsid apache2 -f "$REC/$n.apache2.conf" -DFOREGROUND; wait_listen "${p##*:}"
}
go_start() { start_server "$1" "$HD/goserver2/goserver2" -addr "$2" -idle "$3"; wait_listen "${2##*:}"; }
py_start() { start_server "$1" python3 "$HD/pyserver.py" "$2" "$3" "$REC/htdocs" "$4" "$5"; wait_listen "$3"; }
C2() { python3 "$HD/client2.py" "$@"; }

# midstream driver: client does its first request, then tcpdump starts, then the client goes on
midstream_run() { # FILE PORT IFACE TOOL CLIENTARGS...
    local f=$1 port=$2 ifc=$3 tool=$4; shift 4
    local fd=$REC/ms.$$; rm -rf "$fd"; mkdir -p "$fd"
    C2 midstream "$port" flagdir="$fd" "$@" >"$REC/midstream.$port.client.log" 2>&1 &
    local cp=$! i
    for i in $(seq 200); do [[ -e $fd/ready ]] && break; sleep 0.05; done
    capture_start "$f" "$port" "$ifc" "$tool"
    touch "$fd/go"
    wait "$cp"
}

# ---------------- scenarios ----------------
scn_keepalive-race-go() {
    go_start race-go 127.0.0.1:18400 1s
    fn() { C2 race 18400 n=16 lo_ms=-3 hi_ms=4; }
    rec keepalive-race-go pcap 18400 keepalive-race "Go net/http IdleTimeout 1s; probe conn then 16 parallel conns, second GET at measured close delay -3..+4 ms" fn
    stop_server
}
scn_keepalive-race-lighttpd() {
    lighttpd_start race-lt 18401 1
    fn() { C2 race 18401 n=12 lo_ms=-3 hi_ms=5 parallel=False; }
    rec keepalive-race-lighttpd pcap 18401 keepalive-race "lighttpd 1.4.69 max-keep-alive-idle=1; probe conn then 12 sequential conns, second GET at measured close delay -3..+5 ms" fn
    stop_server
}
scn_keepalive-race-apache() {
    apache_start race-ap 127.0.0.1:18402 2 100
    fn() { C2 race 18402 n=14 lo_ms=-3 hi_ms=5 limit=5.0; }
    rec keepalive-race-apache pcap 18402 keepalive-race "apache 2.4 event KeepAliveTimeout 2; probe conn then 14 parallel conns, second GET at measured close delay -3..+5 ms" fn
    stop_server
}
scn_http10-lighttpd() {
    lighttpd_start h10-lt 18403 5
    fn() { python3 - <<P
import sys; sys.argv=["x"]; sys.path.insert(0,"$HD")
import client2, subprocess, time
from client import Conn
c = Conn(1, "127.0.0.1", 18403); c.get("/", version="HTTP/1.0"); c.wait_eof(3.0); c.close()
time.sleep(0.2)
subprocess.run(["ab", "-k", "-n", "4", "-c", "1", "http://127.0.0.1:18403/a.txt"], stdout=subprocess.DEVNULL, timeout=20)
time.sleep(0.2)
c = Conn(3, "127.0.0.1", 18403)
c.get("/a.txt", version="HTTP/1.0", headers=["Connection: keep-alive"]); time.sleep(0.15)
c.get("/b.txt", version="HTTP/1.0", headers=["Connection: keep-alive"]); time.sleep(0.7); c.close()
P
    }
    rec http10-lighttpd pcap 18403 http10 "lighttpd idle 5: HTTP/1.0 plain; ab -k -n 4 -c 1; HTTP/1.0 + keep-alive x2 0.15 s apart, client closes after 0.7 s" fn
    stop_server
}
scn_http10-apache() {
    apache_start h10-ap 127.0.0.1:18404 5 100
    fn() { python3 - <<P
import sys; sys.path.insert(0,"$HD")
import subprocess, time
from client import Conn
c = Conn(1, "127.0.0.1", 18404); c.get("/", version="HTTP/1.0"); c.wait_eof(3.0); c.close()
time.sleep(0.2)
subprocess.run(["ab", "-k", "-n", "4", "-c", "1", "http://127.0.0.1:18404/a.txt"], stdout=subprocess.DEVNULL, timeout=20)
time.sleep(0.2)
c = Conn(3, "127.0.0.1", 18404)
c.get("/a.txt", version="HTTP/1.0", headers=["Connection: keep-alive"]); time.sleep(0.15)
c.get("/b.txt", version="HTTP/1.0", headers=["Connection: keep-alive"]); time.sleep(0.7); c.close()
P
    }
    rec http10-apache pcap 18404 http10 "apache event KeepAliveTimeout 5: HTTP/1.0 plain; ab -k -n 4 -c 1; HTTP/1.0 + keep-alive x2 0.15 s apart, client closes after 0.7 s" fn
    stop_server
}
scn_http10-python() {
    py_start h10-py 127.0.0.1 18405 HTTP/1.0 5
    fn() { C2 http10-python 18405; ab -k -n 3 -c 1 http://127.0.0.1:18405/a.txt >/dev/null; }
    rec http10-python pcap 18405 http10 "python http.server default (HTTP/1.0): 1.0 plain; 1.1 keep-alive request (answered 1.0, server closes); 1.0 + keep-alive (server closes); ab -k -n 3 -c 1" fn
    stop_server
}
scn_many-short-lighttpd() {
    lighttpd_start ms-lt 18406 5
    fn() { ab -n 50 -c 5 http://127.0.0.1:18406/a.txt >/dev/null; }
    rec many-short-lighttpd pcap 18406 many-short "lighttpd: ab -n 50 -c 5 (HTTP/1.0, no keep-alive)" fn
    stop_server
}
scn_many-short-apache() {
    apache_start ms-ap 127.0.0.1:18407 5 100
    fn() { ab -n 50 -c 5 http://127.0.0.1:18407/a.txt >/dev/null; }
    rec many-short-apache pcap 18407 many-short "apache event: ab -n 50 -c 5 (HTTP/1.0, no keep-alive)" fn
    stop_server
}
scn_many-short-python() {
    py_start ms-py 127.0.0.1 18408 HTTP/1.0 5
    fn() { ab -n 40 -c 4 http://127.0.0.1:18408/a.txt >/dev/null; }
    rec many-short-python pcap 18408 many-short "python http.server (HTTP/1.0): ab -n 40 -c 4" fn
    stop_server
}
scn_max-requests-lighttpd() {
    lighttpd_start mr-lt 18409 5 'server.max-keep-alive-requests = 3'
    fn() { C2 max-requests 18409 n=5 gap=0.15 last_idle=0.3; }
    rec max-requests-lighttpd pcap 18409 max-requests "lighttpd max-keep-alive-requests=3: 5 GETs 0.15 s apart, reconnect on close, client closes last after 0.3 s" fn
    stop_server
}
scn_max-requests-apache() {
    apache_start mr-ap 127.0.0.1:18410 3 4
    fn() { C2 max-requests 18410 n=7 gap=0.12 last_idle=0.25; }
    rec max-requests-apache pcap 18410 max-requests "apache event MaxKeepAliveRequests 4, KeepAliveTimeout 3: 7 GETs 0.12 s apart, reconnect on close, client closes last after 0.25 s" fn
    stop_server
}
scn_tcp-keepalive-probes-go() {
    go_start pr-go 127.0.0.1:18411 2600ms
    fn() { C2 probes 18411; }
    rec tcp-keepalive-probes-go pcap 18411 tcp-keepalive-probes "Go IdleTimeout 2.6s; client SO_KEEPALIVE idle 1 intvl 1: one GET, probes at ~1 s, ~2 s, Go closes at 2.6 s" fn
    stop_server
}
scn_tcp-keepalive-probes-python() {
    py_start pr-py 127.0.0.1 18412 HTTP/1.1 3.5
    fn() { C2 probes 18412; }
    rec tcp-keepalive-probes-python pcap 18412 tcp-keepalive-probes "python http.server HTTP/1.1, socket timeout 3.5 s; client keepalive probes at ~1, 2, 3 s" fn
    stop_server
}
midstream_lt() { midstream_run "$1" "$2" "$3" "$4" gap=0.7 end=client idle=0.15; }
scn_midstream-lighttpd() {
    lighttpd_start mid-lt 18413 10
    rec midstream-lighttpd pcap 18413 midstream "lighttpd idle 10: GET / before the capture; GET /a.txt, 0.7 s, GET /b.txt, client closes after 0.15 s" midstream_lt
    stop_server
}
midstream_ap() { midstream_run "$1" "$2" "$3" "$4" gap=0.3 end=server; }
scn_midstream-apache() {
    apache_start mid-ap 127.0.0.1:18414 3 100
    rec midstream-apache pcap 18414 midstream "apache KeepAliveTimeout 3: GET / before the capture; GET /a.txt, 0.3 s, GET /b.txt, apache's 3 s timeout" midstream_ap
    stop_server
}
scn_chunked-go() {
    go_start ch-go 127.0.0.1:18415 2s
    fn() { C2 chunked-go 18415; }
    rec chunked-go pcap 18415 chunked "Go IdleTimeout 2s: GET /stream (chunked, 3 flushes 20 ms apart), HEAD, GET a.txt (ETag), conditional 304, 204, GET /stream; gaps .15/.2/.15/.2/.3; Go closes" fn
    stop_server
}
scn_chunked-python() {
    py_start ch-py 127.0.0.1 18430 HTTP/1.1 1.5
    fn() { C2 chunked-python 18430; }
    rec chunked-python pcap 18430 chunked "python http.server HTTP/1.1 timeout 1.5: GET /chunked, HEAD, GET /chunked, 404 (python sends Connection: close on errors)" fn
    stop_server
}
scn_keepalive-server-timeout-apache() {
    apache_start kst-ap 127.0.0.1:18416 3 100
    fn() { C2 ka-timeout 18416; }
    rec keepalive-server-timeout-apache pcap 18416 keepalive-server-timeout "apache event KeepAliveTimeout 3: GET /, a.txt, b.txt, gaps 0.15/0.7, apache closes" fn
    stop_server
}
scn_keepalive-server-timeout-python() {
    py_start kst-py 127.0.0.1 18417 HTTP/1.1 1.5
    fn() { C2 ka-timeout 18417; }
    rec keepalive-server-timeout-python pcap 18417 keepalive-server-timeout "python http.server HTTP/1.1 timeout 1.5: 3 GETs gaps 0.15/0.7, python closes" fn
    stop_server
}
scn_keepalive-server-timeout-lighttpd() {
    lighttpd_start kst-lt 18431 3
    fn() { C2 ka-timeout 18431 limit=7.0; }
    rec keepalive-server-timeout-lighttpd pcap 18431 keepalive-server-timeout "lighttpd max-keep-alive-idle 3: 3 GETs gaps 0.15/0.7, lighttpd closes" fn
    stop_server
}
scn_client-closes-go() {
    go_start cc-go 127.0.0.1:18418 10s
    fn() { C2 client-closes 18418 gap=0.7 idle=0.15; }
    rec client-closes-go pcap 18418 client-closes "Go IdleTimeout 10s: 2 GETs 0.7 s apart, client closes after 0.15 s" fn
    stop_server
}
scn_connection-close-header-go() {
    go_start cch-go 127.0.0.1:18419 10s
    fn() { C2 conn-close 18419; }
    rec connection-close-header-go pcap 18419 connection-close-header "Go: GET /, 0.15 s, GET /a.txt with Connection: close" fn
    stop_server
}
scn_connection-close-header-lighttpd() {
    lighttpd_start cch-lt 18420 10
    fn() { C2 conn-close 18420; }
    rec connection-close-header-lighttpd pcap 18420 connection-close-header "lighttpd: GET /, 0.15 s, GET /a.txt with Connection: close" fn
    stop_server
}
scn_pipelining-go() {
    go_start pl-go 127.0.0.1:18421 1500ms
    fn() { C2 pipelining 18421; }
    rec pipelining-go pcap 18421 pipelining "Go IdleTimeout 1.5s: 3 GETs in one send, 0.7 s, 4th GET, Go closes" fn
    stop_server
}
scn_pipelining-lighttpd() {
    lighttpd_start pl-lt 18422 2
    fn() { C2 pipelining 18422; }
    rec pipelining-lighttpd pcap 18422 pipelining "lighttpd idle 2: 3 GETs in one send, 0.7 s, 4th GET, lighttpd closes" fn
    stop_server
}
scn_post-body-crlf-go() {
    go_start pc-go 127.0.0.1:18423 1500ms
    fn() { C2 post-crlf 18423; }
    rec post-body-crlf-go pcap 18423 post-body-crlf "Go IdleTimeout 1.5s: POST+CRLF one segment, GET, client closes; POST, CRLF alone 0.1 s later, GET 0.5 s after, Go closes" fn
    stop_server
}
scn_post-body-crlf-apache() {
    apache_start pc-ap 127.0.0.1:18424 2 100
    mkdir -p "$REC/htdocs"; printf 'ok\n' >"$REC/htdocs/post"; chmod a+r "$REC/htdocs/post"
    fn() { C2 post-crlf 18424; }
    rec post-body-crlf-apache pcap 18424 post-body-crlf "apache KeepAliveTimeout 2: POST+CRLF one segment, GET, client closes; POST, CRLF alone 0.1 s later, GET 0.5 s after, apache closes" fn
    stop_server
}
scn_reset-go() {
    go_start rs-go 127.0.0.1:18425 10s
    fn() { C2 reset 18425; }
    rec reset-go pcap 18425 reset "Go: 2 GETs, 0.7 s, client SO_LINGER 0 close (RST); GET /drop: handler hijacks and closes with linger 0 (server RST, no response)" fn
    stop_server
}
scn_ipv6-lighttpd() {
    lighttpd_start v6-lt 18426 2 '' '[::1]'
    fn() { C2 ka-timeout 18426 host=::1 fam6=1 limit=5.0; }
    rec ipv6-lighttpd pcap 18426 ipv6 "lighttpd on [::1] idle 2: 3 GETs gaps 0.15/0.7, lighttpd closes" fn
    stop_server
}
scn_ipv6-go() {
    go_start v6-go '[::1]:18432' 1200ms
    fn() { C2 client-closes 18432 host=::1 fam6=1 gap=0.3 idle=0.9; }
    rec ipv6-go pcap 18432 ipv6 "Go on [::1] IdleTimeout 1.2s: 2 GETs 0.3 s apart, client closes after 0.9 s" fn
    stop_server
}
scn_linux-any-apache() {
    apache_start la-ap 127.0.0.1:18427 5 100
    fn() { C2 client-closes 18427 gap=0.15 idle=0.7; }
    rec linux-any-apache pcap 18427 linux-any "apache, tcpdump -i any (LINUX_SLL2): 2 GETs 0.15 s apart, client closes after 0.7 s" fn any
    stop_server
}
scn_pcapng-go() {
    go_start png-go 127.0.0.1:18428 1500ms
    fn() { C2 ka-timeout 18428 limit=4.0; }
    rec pcapng-go pcapng 18428 pcapng "Go IdleTimeout 1.5s, dumpcap pcapng: 3 GETs gaps 0.15/0.7, Go closes" fn lo dumpcap
    stop_server
}
scn_browser-like-go() {
    go_start br-go 127.0.0.1:18429 2s
    fn() { C2 browser 18429; }
    rec browser-like-go pcap 18429 browser-like "Go IdleTimeout 2s: pool of 5, GET / then bursts 7, 6, 5 round-robin with 0.6/1.1 s pauses; client closes 1-2 after 0.5 s, Go closes 3-5" fn
    stop_server
}
scn_browser-like-lighttpd() {
    lighttpd_start br-lt 18433 2
    fn() { C2 browser 18433; }
    rec browser-like-lighttpd pcap 18433 browser-like "lighttpd idle 2: pool of 5, bursts 7, 6, 5 with 0.6/1.1 s pauses; client closes 1-2 after 0.5 s, lighttpd closes 3-5" fn
    stop_server
}
scn_keepalive-race-python() {
    py_start race-py 127.0.0.1 18434 HTTP/1.1 1
    fn() { C2 race 18434 n=12 lo_ms=-3 hi_ms=5; }
    rec keepalive-race-python pcap 18434 keepalive-race "python http.server HTTP/1.1 socket timeout 1 s; probe then 12 parallel conns sweeping -3..+5 ms" fn
    stop_server
}

scn_keepalive-race-go-narrow() {
    go_start race-go2 127.0.0.1:18435 1500ms
    fn() { C2 race 18435 n=16 lo_ms=-1.2 hi_ms=0.3; }
    rec keepalive-race-go-narrow pcap 18435 keepalive-race "Go net/http IdleTimeout 1.5s; probe conn then 16 parallel conns, second GET at measured close delay -1.2..+0.3 ms (crossing window)" fn
    stop_server
}
scn_many-short-go() {
    go_start ms-go 127.0.0.1:18436 5s
    fn() { ab -n 50 -c 5 http://127.0.0.1:18436/a.txt >/dev/null; }
    rec many-short-go pcap 18436 many-short "Go net/http: ab -n 50 -c 5 (HTTP/1.0, no keep-alive)" fn
    stop_server
}
scn_http10-go() {
    go_start h10-go 127.0.0.1:18437 5s
    fn() { python3 - <<P
import sys; sys.path.insert(0,"$HD")
import subprocess, time
from client import Conn
c = Conn(1, "127.0.0.1", 18437); c.get("/", version="HTTP/1.0"); c.wait_eof(3.0); c.close()
time.sleep(0.2)
subprocess.run(["ab", "-k", "-n", "4", "-c", "1", "http://127.0.0.1:18437/a.txt"], stdout=subprocess.DEVNULL, timeout=20)
time.sleep(0.2)
c = Conn(3, "127.0.0.1", 18437)
c.get("/a.txt", version="HTTP/1.0", headers=["Connection: keep-alive"]); time.sleep(0.15)
c.get("/b.txt", version="HTTP/1.0", headers=["Connection: keep-alive"]); time.sleep(0.7); c.close()
P
    }
    rec http10-go pcap 18437 http10 "Go net/http IdleTimeout 5s: HTTP/1.0 plain; ab -k -n 4 -c 1; HTTP/1.0 + keep-alive x2 0.15 s apart, client closes after 0.7 s" fn
    stop_server
}
scn_tcp-keepalive-probes-lighttpd() {
    lighttpd_start pr-lt 18438 2
    fn() { C2 probes 18438; }
    rec tcp-keepalive-probes-lighttpd pcap 18438 tcp-keepalive-probes "lighttpd idle 2 (closes ~3 s after the response); client probes at ~1, 2, 3 s: the 3rd probe and the FIN collide" fn
    stop_server
}
scn_tcp-keepalive-probes-apache() {
    apache_start pr-ap 127.0.0.1:18439 3 100
    fn() { C2 probes 18439; }
    rec tcp-keepalive-probes-apache pcap 18439 tcp-keepalive-probes "apache event KeepAliveTimeout 3; client probes at ~1, 2, 3 s (3rd probe vs apache's FIN)" fn
    stop_server
}
scn_keepalive-race-lighttpd-parallel() {
    lighttpd_start race-lt2 18440 2
    fn() { C2 race 18440 n=16 lo_ms=-40 hi_ms=5 limit=5.0; }
    rec keepalive-race-lighttpd-parallel pcap 18440 keepalive-race "lighttpd idle 2; probe conn then 16 parallel conns, second GET at measured close delay -40..+5 ms" fn
    stop_server
}
scn_keepalive-race-apache-prefork() {
    apache_start race-ap2 127.0.0.1:18441 1 100 prefork
    fn() { C2 race 18441 n=14 lo_ms=-3 hi_ms=4; }
    rec keepalive-race-apache-prefork pcap 18441 keepalive-race "apache prefork KeepAliveTimeout 1; probe conn then 14 parallel conns sweeping -3..+4 ms" fn
    stop_server
}
scn_pipelining-apache() {
    apache_start pl-ap 127.0.0.1:18442 2 100
    fn() { C2 pipelining 18442; }
    rec pipelining-apache pcap 18442 pipelining "apache KeepAliveTimeout 2: 3 GETs in one send, 0.7 s, 4th GET, apache closes" fn
    stop_server
}
scn_pipelining-python() {
    py_start pl-py 127.0.0.1 18443 HTTP/1.1 1.5
    fn() { C2 pipelining 18443; }
    rec pipelining-python pcap 18443 pipelining "python http.server HTTP/1.1 timeout 1.5: 3 GETs in one send, 0.7 s, 4th GET, python closes" fn
    stop_server
}
scn_client-closes-python() {
    py_start cc-py 127.0.0.1 18444 HTTP/1.1 10
    fn() { C2 client-closes 18444 gap=0.4 idle=0.6; }
    rec client-closes-python pcap 18444 client-closes "python http.server HTTP/1.1: 2 GETs 0.4 s apart, client closes after 0.6 s" fn
    stop_server
}
scn_reset-python() {
    py_start rs-py 127.0.0.1 18445 HTTP/1.1 10
    fn() { C2 reset 18445 drop=/a.txt; }
    rec reset-python pcap 18445 reset "python http.server HTTP/1.1: 2 GETs, client SO_LINGER 0 RST; conn 2: GET answered, then client RST" fn
    stop_server
}
scn_ipv6-apache() {
    apache_start v6-ap '[::1]:18446' 2 100
    fn() { C2 ka-timeout 18446 host=::1 fam6=1 limit=5.0; }
    rec ipv6-apache pcap 18446 ipv6 "apache on [::1] KeepAliveTimeout 2: 3 GETs gaps 0.15/0.7, apache closes" fn
    stop_server
}

scn_post-body-crlf-python() {
    py_start pc-py 127.0.0.1 18448 HTTP/1.1 2
    fn() { C2 post-crlf 18448; }
    rec post-body-crlf-python pcap 18448 post-body-crlf "python http.server HTTP/1.1 (do_POST) timeout 2: POST+CRLF one segment, GET 0.2 s later, client closes; POST, CRLF alone 0.1 s later, GET 0.5 s after (python treats a bare CRLF line as the end of the connection)" fn
    stop_server
}
scn_browser-like-apache() {
    apache_start br-ap 127.0.0.1:18449 2 100
    fn() { C2 browser 18449; }
    rec browser-like-apache pcap 18449 browser-like "apache event KeepAliveTimeout 2: pool of 5, bursts 7, 6, 5 with 0.6/1.1 s pauses; client closes 1-2 after 0.5 s, apache closes 3-5" fn
    stop_server
}
midstream_go() { midstream_run "$1" "$2" "$3" "$4" gap=0.45 end=server; }
scn_midstream-go() {
    go_start mid-go 127.0.0.1:18450 1500ms
    rec midstream-go pcap 18450 midstream "Go IdleTimeout 1.5s: GET / before the capture; GET /a.txt, 0.45 s, GET /b.txt, Go's timeout" midstream_go
    stop_server
}
midstream_py() { midstream_run "$1" "$2" "$3" "$4" gap=0.2 end=client idle=0.35; }
scn_midstream-python() {
    py_start mid-py 127.0.0.1 18451 HTTP/1.1 10
    rec midstream-python pcap 18451 midstream "python http.server HTTP/1.1: GET / before the capture; GET /a.txt, 0.2 s, GET /b.txt, client closes after 0.35 s" midstream_py
    stop_server
}
scn_linux-any-go-ipv6() {
    go_start la-go '[::1]:18452' 1s
    fn() { C2 ka-timeout 18452 host=::1 fam6=1 limit=4.0; }
    rec linux-any-go-ipv6 pcap 18452 linux-any "Go on [::1] IdleTimeout 1s, tcpdump -i any (LINUX_SLL2, IPv6): 3 GETs gaps 0.15/0.7, Go closes" fn any
    stop_server
}
scn_tcp-keepalive-probes-closewait-go() {
    go_start prcw-go 127.0.0.1:18447 1500ms
    fn() { C2 probes-closewait 18447; }
    rec tcp-keepalive-probes-closewait-go pcap 18447 tcp-keepalive-probes "Go IdleTimeout 1.5s; client probes every 1 s; after the server FIN the client stays in CLOSE_WAIT 2.6 s (its kernel keeps probing) then closes" fn
    stop_server
}

# ---------------- Node.js (http.createServer, keepAliveTimeout, maxRequestsPerSocket) ----------------
NODESERVER=${NODESERVER:-$(dirname "$(readlink -f "$0")")/nodeserver.js}
node_start() { start_server "$1" node "$NODESERVER" "$2" "$3" "$4" ${5:-}; wait_listen "$3"; } # NAME BIND PORT KA_MS [MAXREQ]
scn_keepalive-race-node() {
    node_start race-nd 127.0.0.1 18460 1000
    fn() { C2 race 18460 n=16 lo_ms=-3 hi_ms=4; }
    rec keepalive-race-node pcap 18460 keepalive-race "Node.js 20 keepAliveTimeout 1000; probe conn then 16 parallel conns, second GET at measured close delay -3..+4 ms" fn
    stop_server
}
scn_keepalive-server-timeout-node() {
    node_start kst-nd 127.0.0.1 18461 1300
    fn() { C2 ka-timeout 18461 limit=5.0; }
    rec keepalive-server-timeout-node pcap 18461 keepalive-server-timeout "Node.js keepAliveTimeout 1300 (Keep-Alive: timeout=1): 3 GETs gaps 0.15/0.7, Node closes" fn
    stop_server
}
scn_http10-node() {
    node_start h10-nd 127.0.0.1 18462 5000
    fn() { C2 http10 18462; ab -k -n 4 -c 1 http://127.0.0.1:18462/a.txt >/dev/null; }
    rec http10-node pcap 18462 http10 "Node.js keepAliveTimeout 5000: HTTP/1.0 plain; HTTP/1.0 + keep-alive x2 0.15 s apart, client closes after 0.7 s; ab -k -n 4 -c 1" fn
    stop_server
}
scn_many-short-node() {
    node_start ms-nd 127.0.0.1 18463 5000
    fn() { ab -n 40 -c 4 http://127.0.0.1:18463/a.txt >/dev/null; }
    rec many-short-node pcap 18463 many-short "Node.js keepAliveTimeout 5000: ab -n 40 -c 4 (HTTP/1.0, no keep-alive)" fn
    stop_server
}
scn_max-requests-node() {
    node_start mr-nd 127.0.0.1 18464 5000 3
    fn() { C2 max-requests 18464 n=7 gap=0.12 last_idle=0.25; }
    rec max-requests-node pcap 18464 max-requests "Node.js maxRequestsPerSocket 3: 7 GETs 0.12 s apart; the 3rd response on each connection says Connection: close, yet Node leaves the close to the client, which closes 3 s later (server-close-header); conn 3 has the 7th, client closes after 0.25 s" fn
    stop_server
}
scn_tcp-keepalive-probes-node() {
    node_start pr-nd 127.0.0.1 18465 3200
    fn() { C2 probes 18465; }
    rec tcp-keepalive-probes-node pcap 18465 tcp-keepalive-probes "Node.js keepAliveTimeout 3200; client SO_KEEPALIVE idle 1 s interval 1 s; Node closes" fn
    stop_server
}
midstream_node() { midstream_run "$1" "$2" "$3" "$4" gap=0.3 end=server limit=5.0; }
scn_midstream-node() {
    node_start mid-nd 127.0.0.1 18466 3000
    rec midstream-node pcap 18466 midstream "Node.js keepAliveTimeout 3000: GET / before the capture; GET /a.txt, 0.3 s, GET /b.txt, Node's timeout" midstream_node
    stop_server
}
scn_chunked-node() {
    node_start ch-nd 127.0.0.1 18467 2000
    fn() { C2 chunked-go 18467; }
    rec chunked-node pcap 18467 chunked "Node.js keepAliveTimeout 2000: chunked /stream, HEAD /stream, /a.txt, 304, 204, /stream, Node closes" fn
    stop_server
}
scn_client-closes-node() {
    node_start cc-nd 127.0.0.1 18468 10000
    fn() { C2 client-closes 18468 gap=0.45 idle=0.2; }
    rec client-closes-node pcap 18468 client-closes "Node.js keepAliveTimeout 10000: 2 GETs 0.45 s apart, client closes after 0.2 s" fn
    stop_server
}
scn_connection-close-header-node() {
    node_start cch-nd 127.0.0.1 18469 10000
    fn() { C2 conn-close 18469; }
    rec connection-close-header-node pcap 18469 connection-close-header "Node.js keepAliveTimeout 10000: GET /, 0.15 s, GET /a.txt with Connection: close" fn
    stop_server
}
scn_pipelining-node() {
    node_start pl-nd 127.0.0.1 18470 1500
    fn() { C2 pipelining 18470; }
    rec pipelining-node pcap 18470 pipelining "Node.js keepAliveTimeout 1500: 3 GETs in one send, 0.7 s, GET, Node closes" fn
    stop_server
}
scn_post-body-crlf-node() {
    node_start pc-nd 127.0.0.1 18471 1500
    fn() { C2 post-crlf 18471; }
    rec post-body-crlf-node pcap 18471 post-body-crlf "Node.js keepAliveTimeout 1500: POST + stray CRLF in one send, GET, client closes; POST, CRLF 0.1 s later, GET 0.5 s later, Node closes" fn
    stop_server
}
scn_reset-node() {
    node_start rs-nd 127.0.0.1 18472 10000
    fn() { C2 reset 18472; }
    rec reset-node pcap 18472 reset "Node.js: 2 GETs then the client aborts (SO_LINGER 0: RST); GET /drop answered by resetAndDestroy (RST)" fn
    stop_server
}
scn_ipv6-node() {
    node_start v6-nd ::1 18473 1200
    fn() { C2 ka-timeout 18473 host=::1 fam6=1 limit=5.0; }
    rec ipv6-node pcap 18473 ipv6 "Node.js on [::1] keepAliveTimeout 1200: 3 GETs gaps 0.15/0.7, Node closes" fn
    stop_server
}
scn_linux-any-node() {
    node_start la-nd 127.0.0.1 18474 5000
    fn() { C2 client-closes 18474 gap=0.2 idle=0.6; }
    rec linux-any-node pcap 18474 linux-any "Node.js keepAliveTimeout 5000, tcpdump -i any: 2 GETs 0.2 s apart, client closes after 0.6 s" fn any
    stop_server
}
scn_pcapng-node() {
    node_start png-nd 127.0.0.1 18475 1100
    fn() { C2 ka-timeout 18475 limit=4.0; }
    rec pcapng-node pcapng 18475 pcapng "Node.js keepAliveTimeout 1100, dumpcap pcapng: 3 GETs gaps 0.15/0.7, Node closes" fn lo dumpcap
    stop_server
}
scn_browser-like-node() {
    node_start br-nd 127.0.0.1 18476 2000
    fn() { C2 browser 18476; }
    rec browser-like-node pcap 18476 browser-like "Node.js keepAliveTimeout 2000: pool of 5, bursts 7, 6, 5 with 0.6/1.1 s pauses; client closes 1-2 after 0.5 s, Node closes 3-5" fn
    stop_server
}

# ---------------- h2o, gunicorn, Tomcat, Varnish (Debian 12 packages) ----------------
RECDIR=$(dirname "$(readlink -f "$0")")
mkhtdocs() { # the static files the scenarios ask for
    mkdir -p "$REC/htdocs"
    [[ -s $REC/htdocs/b.txt ]] && return
    python3 -c "import sys; open(sys.argv[1]+'/index.html','w').write('<html><body>'+'x'*300+'</body></html>\n'); open(sys.argv[1]+'/a.txt','w').write('a'*612+'\n'); open(sys.argv[1]+'/b.txt','w').write('b'*1999+'\n')" "$REC/htdocs"
    chmod -R a+rX "$REC/htdocs"
}
h2o_start() { # NAME PORT IDLE_S [BIND]
    local n=$1 p=$2 idle=$3 bind=${4:-127.0.0.1}; mkhtdocs
    cat >"$REC/$n.h2o.conf" <<C
listen:
  host: "$bind"
  port: $p
user: www-data
num-threads: 1
http1-request-timeout: $idle
error-log: $REC/$n.h2o.err
hosts:
  default:
    paths:
      /:
        file.dir: $REC/htdocs
C
    start_server "$n" h2o -c "$REC/$n.h2o.conf"; wait_listen "$p"
}
gunicorn_start() { # NAME PORT WORKER(gthread|sync) KEEPALIVE_S [BIND]
    local threads=(--threads 4); [[ $3 == sync ]] && threads=() # more than one thread makes gunicorn use gthread
    start_server "$1" gunicorn -b "${5:-127.0.0.1}:$2" --worker-class "$3" "${threads[@]}" --workers 1 --keep-alive "$4" --chdir "$RECDIR" wsgiapp:app; wait_listen "$2"
}
tomcat_start() { # NAME PORT KEEPALIVE_MS MAXREQ
    local n=$1 p=$2 ka=$3 mx=$4 b=$REC/tomcat-$1; mkhtdocs
    rm -rf "$b"; mkdir -p "$b/conf" "$b/logs" "$b/temp" "$b/work" "$b/webapps"
    cp /etc/tomcat10/web.xml /etc/tomcat10/logging.properties /etc/tomcat10/catalina.properties "$b/conf/"
    cp -r "$REC/htdocs" "$b/webapps/ROOT"
    cat >"$b/conf/server.xml" <<C
<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="$p" address="127.0.0.1" protocol="HTTP/1.1" keepAliveTimeout="$ka" maxKeepAliveRequests="$mx" connectionTimeout="20000"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>
C
    CATALINA_BASE=$b CATALINA_HOME=/usr/share/tomcat10 start_server "$n" /usr/share/tomcat10/bin/catalina.sh run
    local i; for i in $(seq 300); do ss -Hltn "sport = :$p" | grep -q . && break; sleep 0.1; done
    sleep 1; curl -s -o /dev/null "http://127.0.0.1:$p/a.txt" # the first request loads the default servlet: not in the capture
}
varnish_start() { # NAME PORT BACKEND_PORT TIMEOUT_IDLE_S
    local n=$1 p=$2 bp=$3 idle=$4
    node_start "$n-backend" 127.0.0.1 "$bp" 30000; BACKEND_PID=$SERVER_PID
    start_server "$n" varnishd -F -n "$REC/varnish-$n" -a "127.0.0.1:$p" -b "127.0.0.1:$bp" -s malloc,16m -p timeout_idle="$idle"; wait_listen "$p"
}
stop_varnish() { stop_server; [[ -n ${BACKEND_PID:-} ]] && { kill -TERM "$BACKEND_PID" 2>/dev/null; wait "$BACKEND_PID" 2>/dev/null; BACKEND_PID=; }; }

scn_keepalive-server-timeout-h2o() {
    h2o_start kst-h2o 18480 2
    fn() { C2 ka-timeout 18480 limit=5.0; }
    rec keepalive-server-timeout-h2o pcap 18480 keepalive-server-timeout "h2o 2.2.5 http1-request-timeout 2: 3 GETs gaps 0.15/0.7, h2o closes" fn
    stop_server
}
scn_keepalive-race-h2o() {
    h2o_start race-h2o 18481 1
    fn() { C2 race 18481 n=16 lo_ms=-4 hi_ms=4; }
    rec keepalive-race-h2o pcap 18481 keepalive-race "h2o http1-request-timeout 1; probe conn then 16 parallel conns, second GET at measured close delay -4..+4 ms" fn
    stop_server
}
scn_pipelining-h2o() {
    h2o_start pl-h2o 18482 2
    fn() { C2 pipelining 18482; }
    rec pipelining-h2o pcap 18482 pipelining "h2o http1-request-timeout 2: 3 GETs in one send, 0.7 s, GET, h2o closes" fn
    stop_server
}
scn_http10-h2o() {
    h2o_start h10-h2o 18483 5
    fn() { C2 http10 18483; ab -k -n 4 -c 1 http://127.0.0.1:18483/a.txt >/dev/null; }
    rec http10-h2o pcap 18483 http10 "h2o http1-request-timeout 5: HTTP/1.0 plain; HTTP/1.0 + keep-alive x2 0.15 s apart, client closes after 0.7 s; ab -k -n 4 -c 1" fn
    stop_server
}
scn_post-body-crlf-h2o() {
    h2o_start pc-h2o 18484 2
    fn() { C2 post-crlf 18484; }
    rec post-body-crlf-h2o pcap 18484 post-body-crlf "h2o http1-request-timeout 2 (POST to a static file: 405): POST + stray CRLF in one send, GET, client closes; POST, CRLF 0.1 s later, GET 0.5 s later" fn
    stop_server
}
scn_keepalive-server-timeout-gunicorn() {
    gunicorn_start kst-gu 18485 gthread 2
    fn() { C2 ka-timeout 18485 limit=5.0; }
    rec keepalive-server-timeout-gunicorn pcap 18485 keepalive-server-timeout "gunicorn 20.1 gthread --keep-alive 2: 3 GETs gaps 0.15/0.7, gunicorn closes" fn
    stop_server
}
scn_keepalive-race-gunicorn() {
    gunicorn_start race-gu 18486 gthread 1
    fn() { C2 race 18486 n=14 lo_ms=-4 hi_ms=4; }
    rec keepalive-race-gunicorn pcap 18486 keepalive-race "gunicorn gthread --keep-alive 1; probe conn then 14 parallel conns, second GET at measured close delay -4..+4 ms" fn
    stop_server
}
scn_chunked-gunicorn() {
    gunicorn_start ch-gu 18487 gthread 2
    fn() { C2 chunked-go 18487; }
    rec chunked-gunicorn pcap 18487 chunked "gunicorn gthread --keep-alive 2: /stream (chunked), HEAD /stream, /a.txt, the same with If-None-Match (no ETag: 200), 204, /stream" fn
    stop_server
}
scn_connection-close-header-gunicorn-sync() {
    gunicorn_start cc-gus 18488 sync 2
    fn() { C2 client-closes 18488 gap=0.3 idle=0.3; C2 pipelining 18488 limit=2.0; }
    rec connection-close-header-gunicorn-sync pcap 18488 connection-close-header "gunicorn sync worker (Connection: close on every response, then its FIN): a client that ignores it sends a 2nd GET 0.3 s later and gets a RST (keepalive-race by rule 1); 3 pipelined GETs, the first answered with Connection: close (server-close-header)" fn
    stop_server
}
scn_pipelining-gunicorn() {
    gunicorn_start pl-gu 18489 gthread 2
    fn() { C2 pipelining 18489; }
    rec pipelining-gunicorn pcap 18489 pipelining "gunicorn gthread --keep-alive 2: 3 GETs in one send; gunicorn answers the first only and closes 2 s later (the client, waiting for the second response, gets the FIN)" fn
    stop_server
}
scn_keepalive-server-timeout-tomcat() {
    tomcat_start kst-tc 18490 1500 100
    fn() { C2 ka-timeout 18490 limit=5.0; }
    rec keepalive-server-timeout-tomcat pcap 18490 keepalive-server-timeout "Tomcat 10.1 keepAliveTimeout 1500: 3 GETs gaps 0.15/0.7, Tomcat closes" fn
    stop_server
}
scn_max-requests-tomcat() {
    tomcat_start mr-tc 18491 3000 3
    fn() { C2 max-requests 18491 n=7 gap=0.12 last_idle=0.25; }
    rec max-requests-tomcat pcap 18491 max-requests "Tomcat maxKeepAliveRequests 3: 7 GETs 0.12 s apart" fn
    stop_server
}
scn_keepalive-race-tomcat() {
    tomcat_start race-tc 18492 1000 100
    fn() { C2 race 18492 n=14 lo_ms=-4 hi_ms=4; }
    rec keepalive-race-tomcat pcap 18492 keepalive-race "Tomcat keepAliveTimeout 1000; probe conn then 14 parallel conns, second GET at measured close delay -4..+4 ms" fn
    stop_server
}
scn_pipelining-tomcat() {
    tomcat_start pl-tc 18493 1500 100
    fn() { C2 pipelining 18493; }
    rec pipelining-tomcat pcap 18493 pipelining "Tomcat keepAliveTimeout 1500: 3 GETs in one send, 0.7 s, GET, Tomcat closes" fn
    stop_server
}
scn_keepalive-server-timeout-varnish() {
    varnish_start kst-vn 18494 18495 1.5
    fn() { C2 ka-timeout 18494 limit=5.0; }
    rec keepalive-server-timeout-varnish pcap 18494 keepalive-server-timeout "Varnish 7.1 timeout_idle 1.5 before a Node.js backend: 3 GETs gaps 0.15/0.7, Varnish closes" fn
    stop_varnish
}
scn_keepalive-race-varnish() {
    varnish_start race-vn 18496 18497 1
    fn() { C2 race 18496 n=14 lo_ms=-4 hi_ms=4; }
    rec keepalive-race-varnish pcap 18496 keepalive-race "Varnish timeout_idle 1; probe conn then 14 parallel conns, second GET at measured close delay -4..+4 ms" fn
    stop_varnish
}

# ---------------- uvicorn, waitress, Tornado, aiohttp, Puma, Caddy (Debian 12 packages) ----------------
# The Python servers run under Debian's /usr/bin/python3, where apt installs them.
SYSPY=/usr/bin/python3
uvicorn_start() { # NAME PORT KEEPALIVE_S
    start_server "$1" "$SYSPY" -m uvicorn --app-dir "$RECDIR" --host 127.0.0.1 --port "$2" --http h11 --timeout-keep-alive "$3" --no-access-log asgiapp:app; wait_listen "$2"
}
waitress_start() { # NAME PORT CHANNEL_TIMEOUT_S
    PYTHONPATH=$RECDIR start_server "$1" "$SYSPY" -m waitress --listen="127.0.0.1:$2" --channel-timeout="$3" --cleanup-interval=1 --threads=4 wsgiapp:app; wait_listen "$2"
}
tornado_start() { start_server "$1" "$SYSPY" "$RECDIR/tornadoapp.py" "$2" "$3"; wait_listen "$2"; } # NAME PORT IDLE_S
aiohttp_start() { start_server "$1" "$SYSPY" "$RECDIR/aiohttpapp.py" "$2" "$3"; wait_listen "$2"; } # NAME PORT KEEPALIVE_S
puma_start() { # NAME PORT PERSISTENT_TIMEOUT_S
    printf 'bind "tcp://127.0.0.1:%s"\nthreads 1, 4\nworkers 0\npersistent_timeout %s\nquiet\n' "$2" "$3" >"$REC/$1.puma.rb"
    start_server "$1" puma -C "$REC/$1.puma.rb" "$RECDIR/config.ru"; wait_listen "$2"
}
caddy_start() { # NAME PORT IDLE (a Go duration)
    mkhtdocs
    printf '{\n\tadmin off\n\tservers {\n\t\ttimeouts {\n\t\t\tidle %s\n\t\t}\n\t}\n}\nhttp://127.0.0.1:%s {\n\troot * %s\n\tfile_server\n}\n' "$3" "$2" "$REC/htdocs" >"$REC/$1.Caddyfile"
    start_server "$1" caddy run --adapter caddyfile --config "$REC/$1.Caddyfile"; wait_listen "$2"
}
jetty_start() { # NAME PORT IDLE_S: Jetty 9.4 (Debian's jetty9), static files by its DefaultServlet
    local n=$1 p=$2 b=$REC/jetty-$1 ms; ms=$(python3 -c "print(int(float('$3') * 1000))"); mkhtdocs
    rm -rf "$b"; mkdir -p "$b/webapps"; cp -r "$REC/htdocs" "$b/webapps/ROOT"
    (cd "$b" && java -jar /usr/share/jetty9/start.jar jetty.home=/usr/share/jetty9 jetty.base="$b" --add-to-start=http,deploy >"$REC/$n.jetty-setup.log" 2>&1)
    start_server "$n" java -jar /usr/share/jetty9/start.jar jetty.home=/usr/share/jetty9 jetty.base="$b" \
        jetty.http.host=127.0.0.1 jetty.http.port="$p" jetty.http.idleTimeout="$ms"
    local i; for i in $(seq 300); do ss -Hltn "sport = :$p" | grep -q . && break; sleep 0.1; done
    sleep 0.5; curl -s -o /dev/null "http://127.0.0.1:$p/a.txt" # the first request warms the JVM: not in the capture
}
webfs_start() { mkhtdocs; start_server "$1" webfsd -F -4 -i 127.0.0.1 -p "$2" -r "$REC/htdocs" -f index.html -t "$3" -u www-data -g www-data; wait_listen "$2"; } # NAME PORT TIMEOUT_S
busybox_start() { mkhtdocs; start_server "$1" busybox httpd -f -p "127.0.0.1:$2" -h "$REC/htdocs" -u www-data; wait_listen "$2"; } # NAME PORT (no keep-alive)
BUN=${BUN:-/tmp/bun/node_modules/.bin/bun} # npm install bun (1.4.5)
bun_start() { start_server "$1" "$BUN" "$RECDIR/bunserver.js" "$2" "$3"; wait_listen "$2"; } # NAME PORT IDLE_S
# One set of scenarios per server: scn_SCENARIO-SERVER for each SERVER
# below, on ports 18500 + 10 * server + scenario (from Jetty on, 10 more:
# 18580-18587, webfs 18590s, BusyBox 18600s).
PYSRV=(uvicorn waitress tornado aiohttp puma caddy bun jetty webfs busybox)
pysrv_desc() { case $1 in
    uvicorn) echo "uvicorn 0.17 (h11) --timeout-keep-alive";; waitress) echo "waitress 2.1 --channel-timeout (--cleanup-interval=1)";;
    tornado) echo "Tornado 6.2 idle_connection_timeout";; aiohttp) echo "aiohttp 3.8 keepalive_timeout";;
    puma) echo "Puma 5.6 persistent_timeout";; caddy) echo "Caddy 2.6 timeouts idle";;
    bun) echo "Bun 1.4.5 Bun.serve idleTimeout";; jetty) echo "Jetty 9.4.57 (static files) jetty.http.idleTimeout, in s";;
    webfs) echo "webfs 1.21 webfsd -t";; busybox) echo "BusyBox 1.35 httpd (no keep-alive; the number is unused)";; esac; }
pysrv_start() { # SERVER NAME PORT SECONDS
    case $1 in caddy) caddy_start "$2" "$3" "${4}s";; busybox) busybox_start "$2" "$3";; *) "${1}_start" "$2" "$3" "$4";; esac
}
pysrv_port() { local i; for i in "${!PYSRV[@]}"; do [[ ${PYSRV[$i]} == "$1" ]] && echo $((18500 + 10 * i + (i >= 7 ? 10 : 0) + $2)); done; } # 18570s: Deno
for srv in "${PYSRV[@]}"; do
eval "
scn_keepalive-server-timeout-$srv() {
    local p=\$(pysrv_port $srv 0); pysrv_start $srv kst-$srv \$p 2
    fn() { C2 ka-timeout \$p limit=5.0; }
    rec keepalive-server-timeout-$srv pcap \$p keepalive-server-timeout \"\$(pysrv_desc $srv) 2: 3 GETs gaps 0.15/0.7, then the server's idle close (or the client's after 5 s)\" fn
    stop_server
}
scn_keepalive-race-$srv() {
    local p=\$(pysrv_port $srv 1); pysrv_start $srv race-$srv \$p 1
    fn() { C2 race \$p n=14 lo_ms=-4 hi_ms=4; }
    rec keepalive-race-$srv pcap \$p keepalive-race \"\$(pysrv_desc $srv) 1; probe conn then 14 parallel conns, second GET at measured close delay -4..+4 ms\" fn
    stop_server
}
scn_pipelining-$srv() {
    local p=\$(pysrv_port $srv 2); pysrv_start $srv pl-$srv \$p 2
    fn() { C2 pipelining \$p; }
    rec pipelining-$srv pcap \$p pipelining \"\$(pysrv_desc $srv) 2: 3 GETs in one send, 0.7 s, GET, then the server's idle close\" fn
    stop_server
}
scn_http10-$srv() {
    local p=\$(pysrv_port $srv 3); pysrv_start $srv h10-$srv \$p 5
    fn() { C2 http10 \$p; ab -k -n 4 -c 1 http://127.0.0.1:\$p/a.txt >/dev/null; }
    rec http10-$srv pcap \$p http10 \"\$(pysrv_desc $srv) 5: HTTP/1.0 plain; HTTP/1.0 + keep-alive x2 0.15 s apart, client closes after 0.7 s; ab -k -n 4 -c 1\" fn
    stop_server
}
scn_post-body-crlf-$srv() {
    local p=\$(pysrv_port $srv 4); pysrv_start $srv pc-$srv \$p 2
    fn() { C2 post-crlf \$p; }
    rec post-body-crlf-$srv pcap \$p post-body-crlf \"\$(pysrv_desc $srv) 2: POST /post + stray CRLF in one send, GET, client closes; POST, CRLF 0.1 s later, GET 0.5 s later\" fn
    stop_server
}
scn_chunked-$srv() {
    local p=\$(pysrv_port $srv 5); pysrv_start $srv ch-$srv \$p 2
    fn() { C2 chunked-go \$p; }
    rec chunked-$srv pcap \$p chunked \"\$(pysrv_desc $srv) 2: GET /stream (no length), HEAD /stream, /a.txt, the same with If-None-Match, /nocontent (204), /stream; gaps .15/.2/.15/.2/.3\" fn
    stop_server
}
scn_connection-close-header-$srv() {
    local p=\$(pysrv_port $srv 6); pysrv_start $srv cch-$srv \$p 10
    fn() { C2 conn-close \$p; }
    rec connection-close-header-$srv pcap \$p connection-close-header \"\$(pysrv_desc $srv) 10: GET /, 0.15 s, GET /a.txt with Connection: close\" fn
    stop_server
}
scn_client-closes-$srv() {
    local p=\$(pysrv_port $srv 7); pysrv_start $srv cc-$srv \$p 10
    fn() { C2 client-closes \$p gap=0.7 idle=0.15; }
    rec client-closes-$srv pcap \$p client-closes \"\$(pysrv_desc $srv) 10: 2 GETs 0.7 s apart, client closes after 0.15 s\" fn
    stop_server
}
"
done
unset -f scn_chunked-jetty scn_chunked-webfs scn_chunked-busybox # static files: no /stream, /nocontent
# Deno 2.9.6's Deno.serve (hyper underneath; `npm install deno`) has no
# idle timeout and kept an idle connection open for 150 s: no server
# timeout or race scenarios, the client closes. Ports 18570-18575.
DENO=${DENO:-/tmp/deno/node_modules/.bin/deno}
deno_start() { start_server "$1" "$DENO" run --allow-net "$RECDIR/denoserver.js" "$2"; wait_listen "$2"; } # NAME PORT
DENOD="Deno 2.9.6 Deno.serve (no idle timeout)"
scn_pipelining-deno() {
    deno_start pl-deno 18570
    fn() { C2 pipelining 18570 limit=2.0; }
    rec pipelining-deno pcap 18570 pipelining "$DENOD: 3 GETs in one send, 0.7 s, GET, client closes 2 s later" fn
    stop_server
}
scn_http10-deno() {
    deno_start h10-deno 18571
    fn() { C2 http10 18571; ab -k -n 4 -c 1 http://127.0.0.1:18571/a.txt >/dev/null; }
    rec http10-deno pcap 18571 http10 "$DENOD: HTTP/1.0 plain; HTTP/1.0 + keep-alive x2 0.15 s apart, client closes after 0.7 s; ab -k -n 4 -c 1" fn
    stop_server
}
scn_post-body-crlf-deno() {
    deno_start pc-deno 18572
    fn() { C2 post-crlf 18572 limit=2.0; }
    rec post-body-crlf-deno pcap 18572 post-body-crlf "$DENOD: POST /post + stray CRLF in one send, GET, client closes; POST, CRLF 0.1 s later, GET 0.5 s later, client closes 2 s later" fn
    stop_server
}
scn_chunked-deno() {
    deno_start ch-deno 18573
    fn() { C2 chunked-go 18573; }
    rec chunked-deno pcap 18573 chunked "$DENOD: GET /stream (no length), HEAD /stream, /a.txt, the same with If-None-Match, /nocontent (204), /stream; gaps .15/.2/.15/.2/.3; client closes 5 s later" fn
    stop_server
}
scn_connection-close-header-deno() {
    deno_start cch-deno 18574
    fn() { C2 conn-close 18574; }
    rec connection-close-header-deno pcap 18574 connection-close-header "$DENOD: GET /, 0.15 s, GET /a.txt with Connection: close" fn
    stop_server
}
scn_client-closes-deno() {
    deno_start cc-deno 18575
    fn() { C2 client-closes 18575 gap=0.7 idle=0.15; }
    rec client-closes-deno pcap 18575 client-closes "$DENOD: 2 GETs 0.7 s apart, client closes after 0.15 s" fn
    stop_server
}
[[ $(id -u) == 0 ]] || exit 1
for s in "$@"; do log "scenario $s"; "scn_$s" || log "FAILED $s"; done
