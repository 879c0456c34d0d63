#!/usr/bin/env bash
# Record the field captures of samples/field/ (see samples/field/README.md).
#
# usage: samples/field/record/record.sh [--out DIR] [SCENARIO...]   (default: all)
#        samples/field/record/record.sh --list
#
# Each scenario builds its topology from network namespaces (names hl-f<PID>-*),
# veth pairs, a Linux bridge, vxlan devices, tc mirred, iptables NFLOG, or,
# where this kernel lacks the device (GRE, Geneve, IP-in-IP, 802.1Q, MPLS), the
# userspace endpoint record/tund.py / mirror record/mirror.py; addresses are
# 10.x / 192.168.x / fd00:: inside those namespaces only. It runs nginx
# (record/nginx.conf, keepalive_timeout 1s) in the server namespace and the
# raw-socket client record/fclient.py in the client namespace, records with
#   tcpdump -s 0 -B 131072 -U --immediate-mode -n -Z root (or dumpcap)
# on the underlay / monitor interface (sleep 1 before and after the traffic),
# requires "0 packets dropped by kernel" (except pcapng-drops), derives the truth
# with record/truth.py, requires the intended close reasons (else records
# again, at most 3 attempts) and writes DIR/NAME.pcap[ng] + NAME.pcap[ng].truth.json
# (DIR: samples/field). Everything it made is removed by a trap on exit,
# also on Ctrl-C. Needs root, iproute2, tcpdump, dumpcap, tshark, editcap,
# mergecap, ethtool, iptables, nginx, python3.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
FIELD=$(dirname "$HERE")
OUT=$FIELD
P=hl-f$$
TMP=$(mktemp -d /tmp/hl-field.XXXXXX)
chmod 755 "$TMP"
TCPDUMP_BASE=(-s 0 -B 131072 -U --immediate-mode -n -Z root)
STD_REASONS=server-idle-timeout,client-idle-close,client-close-header
SHORT_REASONS=server-idle-timeout,client-idle-close

ALL=(vxlan-4789 vxlan-8472 vxlan-two-vni geneve gre gre-key-seq gretap erspan2 erspan3 ip6gre ip6tnl ipip sit
     vlan qinq mpls nflog fragments fragments-ipv6 any-duplicates span-double reorder dumpcap-two-if tap-two-if
     rotated-C rotated-G snaplen-96 snaplen-128 pcapng-drops pcapng-comments overlay-any overlay-any-client any-offload overlay-offload)

log() { printf '== %s\n' "$*" >&2; }

PIDS=()
CAPS=()
# teardown: stop what this run started (daemons and captures by pid, then any
# process left inside this run's namespaces) and delete the namespaces
# (names $P-*: unique to this run); with them go every veth, bridge, vxlan,
# TUN/TAP device, tc filter and iptables rule made in them.
teardown() {
    local pid ns
    for pid in "${CAPS[@]}" "${PIDS[@]}"; do kill -TERM "${pid%%:*}" 2>/dev/null || true; done
    sleep 0.2
    for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    done
    wait 2>/dev/null || true
    for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do ip netns del "$ns" 2>/dev/null || true; done
    PIDS=() CAPS=()
}
cleanup() {
    teardown
    [[ -n ${KEEP_TMP:-} ]] || rm -rf "$TMP"
}
SCN=
on_signal() {  # stop the running scenario at once: its processes, then its namespaces
    log interrupted
    if [[ -n $SCN ]]; then
        kill -TERM "$SCN" 2>/dev/null || true
        teardown
        wait "$SCN" 2>/dev/null || true  # it exits at its next command (its EXIT trap tears down too)
    fi
    exit 130
}
trap cleanup EXIT
trap on_signal INT TERM HUP

# -- topology helpers ----------------------------------------------------------

nsx() { local n=$1; shift; ip netns exec "$P-$n" "$@"; }

mkns() {  # mkns NAME...: namespaces with lo up, no DAD, no router solicitations
    local n
    for n in "$@"; do
        ip netns add "$P-$n"
        nsx "$n" ip link set lo up
        nsx "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
            net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.all.router_solicitations=0
    done
}

veth() {  # veth NS1 IF1 NS2 IF2 [MTU]: a veth pair, both ends up, checksums and TSO in software
    ip -n "$P-$1" link add "$2" type veth peer name "$4" netns "$P-$3"
    [[ -n ${5:-} ]] && { ip -n "$P-$1" link set "$2" mtu "$5"; ip -n "$P-$3" link set "$4" mtu "$5"; }
    if [[ -z ${OFFLOAD:-} ]]; then
        nsx "$1" ethtool -K "$2" tx off tso off gso off >/dev/null 2>&1 || true
        nsx "$3" ethtool -K "$4" tx off tso off gso off >/dev/null 2>&1 || true
    fi
    ip -n "$P-$1" link set "$2" up
    ip -n "$P-$3" link set "$4" up
}

addr() { ip -n "$P-$1" addr add "$3" dev "$2"; }                # addr NS IF CIDR
up() { ip -n "$P-$1" link set "$2" up; }
macof() { ip -n "$P-$1" -br link show "$2" | awk '{print $3}'; }  # macof NS IF

bg() {  # bg NS LOGNAME CMD...: a daemon inside NS
    local n=$1 name=$2; shift 2
    ip netns exec "$P-$n" "$@" >"$TMP/$name.log" 2>&1 &  # not nsx: $! must be the process itself
    PIDS+=("$!")
}

wait_for() {  # wait_for WHAT CMD...: until CMD succeeds (10 s)
    local what=$1; shift
    for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    log "timed out waiting for $what"; return 1
}

docroot() {
    mkdir -p "$1"
    printf '<!doctype html>\n<title>httplife field sample</title>\n<p>index of the httplife field server</p>\n' >"$1/index.html"
    printf 'a.txt: %s\n' "$(printf 'a%.0s' $(seq 60))" >"$1/a.txt"
    printf 'b.txt: %s\n' "$(printf 'b%.0s' $(seq 200))" >"$1/b.txt"
    python3 -c 'import sys; sys.stdout.write("".join("c.txt line %03d %s\n" % (i, "c" * 45) for i in range(64)))' >"$1/c.txt"
    python3 -c 'import sys; sys.stdout.write("".join("big.txt line %06d %s\n" % (i, "d" * 52) for i in range(13000)))' >"$1/big.txt"
    touch -d '2026-01-01 00:00:00 UTC' "$1"/*.html "$1"/*.txt
    chmod -R a+rX "$1"
}

nginx_in() {  # nginx_in NS [TAG]: nginx on port 8080 of every address of NS
    local n=$1 tag=${2:-$1} p=$TMP/nginx-${2:-$1}
    mkdir -p "$p/logs" "$p/tmp"
    chmod 777 "$p/tmp"
    docroot "$p/html"
    bg "$n" "nginx-$tag" nginx -p "$p/" -e "$p/logs/error.log" -c "$HERE/nginx.conf" -g 'daemon off;'
    wait_for "nginx in $n" nsx "$n" sh -c "ss -Hltn 'sport = :8080' | grep -q ."
}

tund() {  # tund NS DEV ARGS...: userspace tunnel endpoint, wait for its device
    local n=$1 dev=$2; shift 2
    bg "$n" "tund-$n-$dev" python3 "$HERE/tund.py" "$@" --dev "$dev"
    wait_for "tund device $dev" ip -n "$P-$n" link show "$dev"
}

client() {  # client NS PLAN HOST [ARGS...]
    local n=$1; shift
    nsx "$n" python3 "$HERE/fclient.py" "$1" "$2" 8080 "${@:3}"
}

# -- capture helpers -----------------------------------------------------------

TOOL=
cap_tcpdump() {  # cap_tcpdump NS FILE ARGS...: tcpdump ARGS -w FILE in NS
    local n=$1 file=$2; shift 2
    local lg
    lg="$TMP/$(basename "$file").tcpdump.log"
    ip netns exec "$P-$n" tcpdump "${TCPDUMP_BASE[@]}" "$@" -w "$file" 2>"$lg" &
    CAPS+=("$!:$lg:tcpdump")
    [[ -n $TDLOG ]] || TDLOG=$lg
    [[ -n $TOOL ]] || TOOL="tcpdump ${TCPDUMP_BASE[*]} $* -w $(basename "$file")"
    wait_for "tcpdump to listen" grep -q 'listening on' "$lg"
}

cap_dumpcap() {  # cap_dumpcap NS FILE ARGS...
    local n=$1 file=$2; shift 2
    local lg
    lg="$TMP/$(basename "$file").dumpcap.log"
    ip netns exec "$P-$n" dumpcap -q "$@" -w "$file" 2>"$lg" &
    CAPS+=("$!:$lg:dumpcap")
    [[ -n $TOOL ]] || TOOL="dumpcap $* -w $(basename "$file")"
    wait_for "dumpcap to capture" grep -q 'File:' "$lg"
}

caps_start_done() { sleep 1; }

caps_stop() {  # stop every capture; fail on kernel drops unless ALLOW_DROPS
    sleep 1
    local c pid lg kind ok=0 d
    for c in "${CAPS[@]}"; do kill -INT "${c%%:*}" 2>/dev/null || true; done
    for c in "${CAPS[@]}"; do
        pid=${c%%:*}; lg=${c#*:}; kind=${lg##*:}; lg=${lg%:*}
        wait "$pid" || true
        if [[ $kind == tcpdump ]]; then
            log "$(basename "$lg"): $(grep -E 'packets (captured|received by filter|dropped by kernel)' "$lg" | tr '\n' ' ')"
            d=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$lg")
        else
            log "$(basename "$lg"): $(grep -E 'Packets' "$lg" | tr '\n' ' ')"
            d=$(sed -n "s/.*received\/dropped on interface '[^']*': [0-9]*\/\([0-9]*\).*/\1/p" "$lg" |
                awk '{s += $1} END {print NR ? s : "x"}')
        fi
        if [[ -z ${ALLOW_DROPS:-} && ${d:-x} != 0 ]]; then log "capture dropped packets ($d)"; ok=1; fi
    done
    CAPS=()
    return $ok
}

# record NAME EXT EXPECT START TRAFFIC [TRUTH-ARGS...]: up to 3 attempts of
#   START (starts the captures into $TMP/NAME.EXT), 1 s, TRAFFIC, 1 s, stop,
#   $POST (if set: runs after the captures stopped; may set FILES, the files of
#   a set, first first), truth.py --expect-reasons EXPECT; then publish to $OUT.
record() {
    local name=$1 ext=$2 expect=$3 start=$4 traffic=$5 attempt ok
    shift 5
    for attempt in 1 2 3; do
        log "$name: attempt $attempt"
        rm -f "$TMP/$name".* "$TMP/$name"-*
        TOOL='' FILES='' TDLOG='' ATTEMPT=$attempt
        "$start"
        caps_start_done
        ok=1
        "$traffic" >"$TMP/$name.client.log" 2>&1 || { log "$name: traffic failed, $(tail -3 "$TMP/$name.client.log")"; ok=0; }
        caps_stop || ok=0
        if [[ $ok == 1 && -n ${POST:-} ]]; then "$POST" || { log "$name: $POST failed"; ok=0; }; fi
        if [[ $ok == 1 ]]; then
            local first=$TMP/$name.$ext files=()
            [[ -n $FILES ]] && { read -ra files <<<"$FILES"; first=${files[0]}; }
            local targs=(--scenario "$name" --description "$DESC" --tool "$TOOL" --expect-reasons "$expect")
            [[ -n $TDLOG ]] && targs+=(--tcpdump-log "$TDLOG")
            [[ ${#files[@]} -gt 1 ]] && targs+=(--files "$(IFS=,; echo "${files[*]}")")
            if python3 "$HERE/truth.py" --summary "${targs[@]}" "$@" "$first" >"$TMP/truth.json" 2>"$TMP/truth.err"; then
                [[ ${#files[@]} -gt 0 ]] || files=("$first")
                local f
                for f in "${files[@]}"; do cp "$f" "$OUT/"; chmod 644 "$OUT/$(basename "$f")"; done
                cp "$TMP/truth.json" "$OUT/$(basename "$first").truth.json"
                cat "$TMP/truth.err" >&2
                log "$name: wrote $(basename "$first") ($(du -ch "${files[@]}" | tail -1 | cut -f1))"
                return 0
            fi
            log "$name: truth rejected: $(cat "$TMP/truth.err")"
        fi
    done
    log "$name: giving up after 3 attempts"
    return 1
}

# -- topologies shared by several scenarios -----------------------------------

# two hosts c and s on one veth: c:u0 10.10.0.1/24 -- s:u1 10.10.0.2/24 (+ fd00:10::1,2/64)
pair() {
    mkns c s
    veth c u0 s u1
    addr c u0 10.10.0.1/24; addr s u1 10.10.0.2/24
    addr c u0 fd00:10::1/64; addr s u1 fd00:10::2/64
}

# -- scenarios ----------------------------------------------------------------

std_traffic() { client c standard "$HOST"; }
short_traffic() { client c short "$HOST"; }
race_traffic() { client c race "$HOST"; }
start_u1() { cap_tcpdump s "$TMP/$NAME.pcap" -i u1; }

vxlan_pair() {  # vxlan_pair ID DSTPORT-ARGS... : vxlan over pair, inner 192.168.100.1/2
    local id=$1; shift
    pair
    local d0=(dev u0) d1=(dev u1)
    [[ -z ${NODEV:-} ]] || d0=() d1=()
    ip -n "$P-c" link add vx0 type vxlan id "$id" "$@" local 10.10.0.1 remote 10.10.0.2 "${d0[@]}" 2>/dev/null
    ip -n "$P-s" link add vx0 type vxlan id "$id" "$@" local 10.10.0.2 remote 10.10.0.1 "${d1[@]}" 2>/dev/null
    addr c vx0 192.168.100.1/24; addr s vx0 192.168.100.2/24
    up c vx0; up s vx0
    nginx_in s
    HOST=192.168.100.2
}

scn_vxlan-4789() {
    DESC="VXLAN VNI 100, UDP port 4789 (IANA), between two namespaces over a veth; captured on the server's underlay. Inner: nginx 1.22.1 (keepalive_timeout 1s) and the raw-socket client: conn 1 three GETs (gaps 0.2, 0.4 s) then nginx's idle close; conn 2 two GETs 0.3 s apart, client closes after 0.3 s; conn 3 one GET with Connection: close."
    vxlan_pair 100 dstport 4789
    record vxlan-4789 pcap "$STD_REASONS" start_u1 std_traffic
}

scn_overlay-any() {
    DESC="A flannel/Calico-like overlay node: VXLAN VNI 100 (UDP 4789) between two namespaces over a veth, 'tcpdump -i any' in the server's namespace (LINUX_SLL2): every packet is seen twice, once plain on the vxlan device vx0 and once inside VXLAN on the underlay u1 (inbound: u1 first; outbound: vx0 first). Inner traffic as vxlan-4789."
    vxlan_pair 100 dstport 4789
    record overlay-any pcap "$STD_REASONS" start_any_s std_traffic
}
start_any_s() { cap_tcpdump s "$TMP/$NAME.pcap" -i any; }

scn_overlay-offload() {
    DESC="overlay-any with the underlay veth's offloads left on (TSO, GSO, checksum offload, as on a cloud VM's NIC): the underlay too may carry large segments inside VXLAN. 'tcpdump -i any' in the server's namespace. Inner traffic as vxlan-4789."
    OFFLOAD=1 vxlan_pair 100 dstport 4789
    record overlay-offload pcap "$STD_REASONS" start_any_s std_traffic
}

scn_overlay-any-client() {
    DESC="overlay-any seen from the client's node: 'tcpdump -i any' in the client's namespace. Outbound packets are seen bare on vx0 first, inbound ones inside VXLAN on u0 first; the server's 4 KB response leaves nginx's side as one segment and arrives as three, which the client's vx0 may see joined again (GRO). Inner traffic as vxlan-4789."
    vxlan_pair 100 dstport 4789
    record overlay-any-client pcap "$STD_REASONS" start_any_c std_traffic
}
start_any_c() { cap_tcpdump c "$TMP/$NAME.pcap" -i any; }

scn_vxlan-8472() {
    DESC="VXLAN VNI 200 on Linux's default port 8472 (ip link add ... type vxlan without dstport); captured on the server's underlay; tshark needs -d udp.port==8472,vxlan. Inner traffic as vxlan-4789."
    vxlan_pair 200
    record vxlan-8472 pcap "$STD_REASONS" start_u1 std_traffic --decode udp.port==8472,vxlan
}

scn_vxlan-two-vni() {
    DESC="Two VXLAN overlays (VNI 101 and 102) between the same two hypervisor namespaces (underlay 10.20.0.1 -- 10.20.0.2, port 4789), each VXLAN device moved into its own tenant namespace with IDENTICAL inner addresses 192.168.50.1 -> 192.168.50.2; both clients bind the same source ports, so the inner 4-tuples are the same in both VNIs (the outer UDP source port is the same too: it is a hash of the inner flow). Each tenant: conn 1 three GETs then nginx's idle close, conn 2 two GETs then the client's close; tenant 2 starts 0.1 s after tenant 1. Captured on hypervisor 1's underlay."
    mkns h1 h2 c1 c2 s1 s2
    veth h1 u0 h2 u1
    addr h1 u0 10.20.0.1/24; addr h2 u1 10.20.0.2/24
    local v
    for v in 1 2; do
        ip -n "$P-h1" link add vx$v type vxlan id $((100 + v)) dstport 4789 local 10.20.0.1 remote 10.20.0.2 dev u0
        ip -n "$P-h2" link add vx$v type vxlan id $((100 + v)) dstport 4789 local 10.20.0.2 remote 10.20.0.1 dev u1
        ip -n "$P-h1" link set vx$v netns "$P-c$v"
        ip -n "$P-h2" link set vx$v netns "$P-s$v"
        addr c$v vx$v 192.168.50.1/24; addr s$v vx$v 192.168.50.2/24
        up c$v vx$v; up s$v vx$v
        nginx_in s$v
    done
    record vxlan-two-vni pcap server-idle-timeout,server-idle-timeout,client-idle-close,client-idle-close \
        start_two_vni two_vni_traffic
}
start_two_vni() { cap_tcpdump h1 "$TMP/vxlan-two-vni.pcap" -i u0; }
two_vni_traffic() {
    local port=$((40000 + 10 * ATTEMPT)) rc=0
    client c1 short 192.168.50.2 --bind-port $port &
    local a=$!
    sleep 0.1
    client c2 short 192.168.50.2 --bind-port $port || rc=1
    wait $a || rc=1
    return $rc
}

scn_fragments() {
    DESC="VXLAN (VNI 300, port 4789) whose device MTU (1500) is larger than what the 1500-byte underlay can carry with the 50-byte VXLAN overhead: every full-size inner segment (the 4 KB /c.txt response) leaves in an outer UDP datagram that the sender fragments (DF not set). Captured on the server's underlay; tshark reassembles the outer fragments. Inner traffic as vxlan-4789."
    # no "dev": a vxlan device bound to its lower device may not exceed the lower MTU minus 50
    NODEV=1 vxlan_pair 300 dstport 4789
    ip -n "$P-c" link set vx0 mtu 1500; ip -n "$P-s" link set vx0 mtu 1500
    record fragments pcap "$STD_REASONS" start_u1 std_traffic
}

scn_fragments-ipv6() {
    DESC="VXLAN (VNI 301, port 4789) over an IPv6 underlay (fd00:10::1 -- fd00:10::2, MTU 1500) carrying 1500-byte inner frames: every full-size inner segment (the 4 KB /c.txt response) leaves in an outer IPv6 UDP datagram of 1530 bytes that the sender's IPv6 stack fragments (Fragment extension header). The VXLAN endpoints are record/tund.py's userspace vxlan on UDP sockets: Linux's own vxlan device does not fragment an oversize IPv6 datagram (it drops it and lowers the inner path MTU). Captured on the server's underlay; tshark reassembles the outer fragments. Inner traffic as vxlan-4789 (inner IPv4)."
    pair
    tund c t0 vxlan "${V6C[@]}" --vni 301
    tund s t0 vxlan "${V6S[@]}" --vni 301
    addr c t0 192.168.101.1/24; addr s t0 192.168.101.2/24
    up c t0; up s t0
    nginx_in s
    HOST=192.168.101.2
    record fragments-ipv6 pcap "$STD_REASONS" start_u1 std_traffic
}

# userspace tunnels (tund.py) over the pair: inner 192.168.110.1/2 (IPv4) or fd00:110::1/2 (IPv6)
tund_pair() {  # tund_pair INNER-FAMILY TUND-ARGS-C -- TUND-ARGS-S
    local fam=$1; shift
    local ac=() as=()
    while [[ $1 != -- ]]; do ac+=("$1"); shift; done
    shift
    as=("$@")
    pair
    tund c t0 "${ac[@]}"
    tund s t0 "${as[@]}"
    ip -n "$P-c" link set t0 mtu 1400; ip -n "$P-s" link set t0 mtu 1400
    if [[ $fam == 6 ]]; then
        addr c t0 fd00:110::1/64; addr s t0 fd00:110::2/64; HOST=fd00:110::2
    else
        addr c t0 192.168.110.1/24; addr s t0 192.168.110.2/24; HOST=192.168.110.2
    fi
    up c t0; up s t0
    nginx_in s
}
V4C=(--local 10.10.0.1 --remote 10.10.0.2)
V4S=(--local 10.10.0.2 --remote 10.10.0.1)
V6C=(--local fd00:10::1 --remote fd00:10::2)
V6S=(--local fd00:10::2 --remote fd00:10::1)
USERSPACE="The kernel here has no such device (built without the module), so record/tund.py is the tunnel endpoint in both namespaces: it owns a TUN/TAP device the kernel routes the inner traffic into, and writes the encapsulation (see tund.py)."

scn_geneve() {
    DESC="Geneve (UDP 6081, VNI 5000, Ethernet payload, one 4-byte OVN-class option, source port from a hash of the inner flow), between two namespaces; captured on the server's underlay. $USERSPACE Inner traffic as vxlan-4789."
    tund_pair 4 geneve "${V4C[@]}" --vni 5000 -- geneve "${V4S[@]}" --vni 5000
    record geneve pcap "$STD_REASONS" start_u1 std_traffic
}
scn_gre() {
    DESC="GRE (IPv4 protocol 47, no key, no sequence numbers, inner IPv4) between two namespaces; captured on the server's underlay. $USERSPACE Inner traffic as vxlan-4789."
    tund_pair 4 gre "${V4C[@]}" -- gre "${V4S[@]}"
    record gre pcap "$STD_REASONS" start_u1 std_traffic
}
scn_gre-key-seq() {
    DESC="GRE with key 0x2a (42) and sequence numbers (K and S bits), inner IPv4; captured on the server's underlay. $USERSPACE Inner traffic as vxlan-4789."
    tund_pair 4 gre "${V4C[@]}" --key 42 --seq -- gre "${V4S[@]}" --key 42 --seq
    record gre-key-seq pcap "$STD_REASONS" start_u1 std_traffic
}
scn_gretap() {
    DESC="GRE transparent Ethernet bridging (gretap: GRE protocol 0x6558, key 7, Ethernet inside); captured on the server's underlay. $USERSPACE Inner traffic as vxlan-4789."
    tund_pair 4 gretap "${V4C[@]}" --key 7 -- gretap "${V4S[@]}" --key 7
    record gretap pcap "$STD_REASONS" start_u1 std_traffic
}
scn_ip6gre() {
    DESC="GRE over IPv6 (ip6gre: next header 47 after a Destination Options header with Tunnel Encapsulation Limit 4, no key), inner IPv4, underlay fd00:10::1 -- fd00:10::2; captured on the server's underlay. $USERSPACE Inner traffic as vxlan-4789."
    tund_pair 4 ip6gre "${V6C[@]}" -- ip6gre "${V6S[@]}"
    record ip6gre pcap "$STD_REASONS" start_u1 std_traffic
}
scn_ip6tnl() {
    DESC="IPv4-in-IPv6 (ip6tnl mode ipip6: next header 4 after a Destination Options header with Tunnel Encapsulation Limit 4), underlay fd00:10::1 -- fd00:10::2; captured on the server's underlay. $USERSPACE Inner traffic as vxlan-4789."
    tund_pair 4 ip6tnl "${V6C[@]}" -- ip6tnl "${V6S[@]}"
    record ip6tnl pcap "$STD_REASONS" start_u1 std_traffic
}
scn_ipip() {
    DESC="IPv4-in-IPv4 (ipip, protocol 4) between 10.10.0.1 and 10.10.0.2; captured on the server's underlay. $USERSPACE Inner traffic as vxlan-4789."
    tund_pair 4 ipip "${V4C[@]}" -- ipip "${V4S[@]}"
    record ipip pcap "$STD_REASONS" start_u1 std_traffic
}
scn_sit() {
    DESC="IPv6-in-IPv4 (sit / 6in4, protocol 41), inner fd00:110::1 -> [fd00:110::2]:8080; captured on the server's underlay. $USERSPACE Inner traffic as vxlan-4789, over IPv6."
    tund_pair 6 sit "${V4C[@]}" -- sit "${V4S[@]}"
    record sit pcap "$STD_REASONS" start_u1 std_traffic
}

tag_pair() {  # tag_pair MODE VLANS: L2 tags on a veth with no addresses; inner on TAP t0
    local mode=$1 vl=$2
    mkns c s
    veth c u0 s u1
    tund c t0 "$mode" --underlay u0 --vlan "$vl"
    tund s t0 "$mode" --underlay u1 --vlan "$vl"
    ip -n "$P-c" link set t0 mtu 1400; ip -n "$P-s" link set t0 mtu 1400
    addr c t0 192.168.120.1/24; addr s t0 192.168.120.2/24
    up c t0; up s t0
    nginx_in s
    HOST=192.168.120.2
}
scn_vlan() {
    DESC="802.1Q VLAN 10 on a veth (the frames on the veth carry the tag; the kernel here has no 8021q, so record/tund.py tags and untags, keeping the inner host on a TAP device); captured on the server's side of the veth. Inner traffic as vxlan-4789."
    tag_pair vlan 10
    record vlan pcap "$STD_REASONS" start_u1 std_traffic
}
scn_qinq() {
    DESC="Q-in-Q: 802.1ad S-tag 100 outside an 802.1Q C-tag 10 on a veth (record/tund.py tags and untags; the kernel here has no 8021q); captured on the server's side of the veth. Inner traffic as vxlan-4789."
    tag_pair qinq 100,10
    record qinq pcap "$STD_REASONS" start_u1 std_traffic
}
scn_mpls() {
    DESC="MPLS over Ethernet (0x8847), two labels (client->server 16001/20001, server->client 16002/20002, bottom-of-stack on the second, TTL copied from the inner IPv4 TTL), inner IPv4 on a veth with no IP addresses; the kernel here has no mpls_router (CONFIG_MPLS_ROUTING not set), so record/tund.py pushes and pops the labels. Captured on the server's side of the veth. Inner traffic as vxlan-4789."
    mkns c s
    veth c u0 s u1
    local mc ms
    mc=$(macof c u0); ms=$(macof s u1)
    tund c t0 mpls --underlay u0 --peer-mac "$ms" --labels 16001,20001 --rx-labels 16002,20002
    tund s t0 mpls --underlay u1 --peer-mac "$mc" --labels 16002,20002 --rx-labels 16001,20001
    ip -n "$P-c" link set t0 mtu 1400; ip -n "$P-s" link set t0 mtu 1400
    addr c t0 192.168.130.1/24; addr s t0 192.168.130.2/24
    up c t0; up s t0
    nginx_in s
    HOST=192.168.130.2
    record mpls pcap "$STD_REASONS" start_u1 std_traffic
}

scn_nflog() {
    DESC="iptables NFLOG: in the server namespace, 'iptables -A INPUT -p tcp --dport 8080 -j NFLOG --nflog-group 5 --nflog-threshold 1' and the same for OUTPUT --sport 8080, captured with 'tcpdump -i nflog:5' (link type NFLOG, 239: no Ethernet header, each packet in NFLOG TLVs). Plain IPv4 10.10.0.1 -> 10.10.0.2:8080; traffic as vxlan-4789."
    pair
    # --nflog-threshold 1: iptables-nft otherwise leaves the kernel's default (batches of up
    # to 100 packets or 1 s), and libpcap stamps every packet of a batch with its arrival
    nsx s iptables -A INPUT -p tcp --dport 8080 -j NFLOG --nflog-group 5 --nflog-threshold 1
    nsx s iptables -A OUTPUT -p tcp --sport 8080 -j NFLOG --nflog-group 5 --nflog-threshold 1
    nginx_in s
    HOST=10.10.0.2
    record nflog pcap "$STD_REASONS" start_nflog std_traffic
}
start_nflog() { cap_tcpdump s "$TMP/nflog.pcap" -i nflog:5; }

scn_any-duplicates() {
    DESC="A Docker-like node: namespace 'host' with bridge br0 (10.40.0.1/24) and two veths to two container namespaces k1 (10.40.0.2, nginx) and k2 (10.40.0.3); 'tcpdump -i any' in the host namespace (LINUX_SLL2) sees every packet twice: host->k1 traffic on br0 and on the veth, k2->k1 traffic on both veths. Host client: the three connections of vxlan-4789; then the k2 client: two connections (three GETs then nginx's idle close; two GETs then the client's close)."
    scn_any_topology
    record any-duplicates pcap "$STD_REASONS,$SHORT_REASONS" start_any any_traffic
}
scn_any_topology() {
    mkns host k1 k2
    ip -n "$P-host" link add br0 type bridge
    up host br0
    addr host br0 10.40.0.1/24
    veth host vh1 k1 eth0
    veth host vh2 k2 eth0
    ip -n "$P-host" link set vh1 master br0; ip -n "$P-host" link set vh2 master br0
    addr k1 eth0 10.40.0.2/24; addr k2 eth0 10.40.0.3/24
    nginx_in k1
}
start_any() { cap_tcpdump host "$TMP/$NAME.pcap" -i any; }

scn_any-offload() {
    DESC="any-duplicates with the veths' offloads left on, as on a real Docker node (checksum offload, TSO, GSO): 'tcpdump -i any' sees the large segments before the kernel would cut them, each twice. Traffic as any-duplicates."
    OFFLOAD=1 scn_any_topology
    record any-offload pcap "$STD_REASONS,$SHORT_REASONS" start_any any_traffic
}
any_traffic() { client host standard 10.40.0.2 && sleep 0.2 && client k2 short 10.40.0.2; }

switch3() {  # c -- [sw: br0 pc ps] -- s, monitor namespace m on sw:mon -- m:eth0
    mkns c s sw m
    ip -n "$P-sw" link add br0 type bridge
    up sw br0
    veth c eth0 sw pc
    veth s eth0 sw ps
    veth sw mon m eth0 "${1:-1500}"
    ip -n "$P-sw" link set pc master br0; ip -n "$P-sw" link set ps master br0
    addr c eth0 10.70.0.1/24; addr s eth0 10.70.0.2/24
    nginx_in s
    HOST=10.70.0.2
}
start_m() { cap_tcpdump m "$TMP/$NAME.pcap" -i eth0; }

scn_span-double() {
    DESC="A switch namespace (bridge br0, ports pc to the client and ps to the server) mirrors ingress AND egress of BOTH ports to a monitor port with tc (clsact, 'u32 match u32 0 0 action mirred egress mirror dev mon'), the classic SPAN session that lists both ports: every packet is captured twice (once entering one port, once leaving the other), a few microseconds apart. Captured in the monitor namespace. Traffic as vxlan-4789, plain IPv4 10.70.0.1 -> 10.70.0.2:8080."
    switch3
    local port dir
    for port in pc ps; do
        nsx sw tc qdisc add dev $port clsact
        for dir in ingress egress; do
            nsx sw tc filter add dev $port $dir protocol all u32 match u32 0 0 action mirred egress mirror dev mon
        done
    done
    record span-double pcap "$STD_REASONS" start_m std_traffic
}

scn_reorder() {
    DESC="Mirror copies delivered out of order: the switch namespace mirrors the server port's ingress (server->client frames) to the monitor port with tc mirred at once, and the client port's ingress (client->server frames) through record/mirror.py with 5 ms of delay (this kernel has no netem): the monitor sees each SYN-ACK before its SYN, responses before their requests; timestamps are the monitor's arrival times. Traffic as vxlan-4789, plain IPv4 10.70.0.1 -> 10.70.0.2:8080."
    switch3
    nsx sw tc qdisc add dev ps clsact
    nsx sw tc filter add dev ps ingress protocol all u32 match u32 0 0 action mirred egress mirror dev mon
    bg sw mirror-reorder python3 "$HERE/mirror.py" copy --from pc --only in --to mon --delay 0.005
    wait_for "mirror.py" grep -q ready "$TMP/mirror-reorder.log"
    record reorder pcap "$STD_REASONS" start_m std_traffic
}

erspan_topo() {  # erspan_topo VERSION
    switch3 9000
    addr sw mon 10.80.0.1/24; addr m eth0 10.80.0.2/24
    nsx m iptables -A INPUT -p gre -j DROP  # a collector: no ICMP protocol-unreachable back
    bg sw mirror-erspan python3 "$HERE/mirror.py" erspan --from pc --local 10.80.0.1 --remote 10.80.0.2 \
        --version "$1" --session 42 --index 3 --hwid 5
    wait_for "mirror.py" grep -q ready "$TMP/mirror-erspan.log"
}
scn_erspan2() {
    DESC="ERSPAN type II: a switch namespace mirrors both directions of its client port pc to a collector 10.80.0.2 in GRE (protocol 0x88BE, S bit and sequence numbers, session 42, index 3), MTU 9000 on the mirror link; captured on the collector. The kernel here has no erspan device (no ip_gre), so record/mirror.py is the mirror session. Traffic as vxlan-4789, plain IPv4 10.70.0.1 -> 10.70.0.2:8080 inside."
    erspan_topo 2
    record erspan2 pcap "$STD_REASONS" start_m std_traffic
}
scn_erspan3() {
    DESC="ERSPAN type III: as erspan2 but GRE protocol 0x22EB, version 2 header with a 100-us timestamp taken at the mirror, hardware id 5 and the direction bit (0: frame entering the client port, 1: leaving it). record/mirror.py is the mirror session (no ip_gre here). Traffic as vxlan-4789."
    erspan_topo 3
    record erspan3 pcap "$STD_REASONS" start_m std_traffic
}

scn_dumpcap-two-if() {
    DESC="dumpcap on two interfaces of the server namespace at once (-i e1 -i e2, pcapng with two Interface Description Blocks): client c1 (10.51.0.1 -> 10.51.0.2 on e1) runs the three connections of vxlan-4789 while client c2 (10.52.0.1 -> 10.52.0.2 on e2) runs two connections 0.15 s later; dumpcap writes each interface's packets as its buffer delivers them, so timestamps in the file go backwards where the interfaces interleave."
    mkns s c1 c2
    veth c1 eth0 s e1
    veth c2 eth0 s e2
    addr c1 eth0 10.51.0.1/24; addr s e1 10.51.0.2/24
    addr c2 eth0 10.52.0.1/24; addr s e2 10.52.0.2/24
    nginx_in s
    record dumpcap-two-if pcapng server-idle-timeout,server-idle-timeout,client-idle-close,client-idle-close,client-close-header \
        start_two_if two_if_traffic
}
start_two_if() { cap_dumpcap s "$TMP/dumpcap-two-if.pcapng" -i e1 -i e2; }
two_if_traffic() {
    local rc=0
    client c1 standard 10.51.0.2 &
    local a=$!
    sleep 0.15
    client c2 short 10.52.0.2 || rc=1
    wait $a || rc=1
    return $rc
}

scn_tap-two-if() {
    DESC="A passive tap's two monitor ports, one direction each, recorded by dumpcap on both at once: the switch namespace mirrors the client port's ingress (client->server frames) to mon0 and the server port's ingress (server->client frames) to mon1 with tc mirred; the monitor namespace runs dumpcap -i eth0 -i eth1 (pcapng with two Interface Description Blocks). dumpcap writes each interface's packets in batches, so in the file a connection's two directions come apart (a response before its request, a FIN before the data it follows); the kernel stamps every copy on arrival, so the times are right. Traffic: fclient.py's race plan (two keep-alive races: the client reuses each connection the moment nginx's FIN arrives and gets a RST; then a Connection: close request), plain IPv4 10.70.0.1 -> 10.70.0.2:8080."
    mkns c s sw m
    ip -n "$P-sw" link add br0 type bridge
    up sw br0
    veth c eth0 sw pc
    veth s eth0 sw ps
    veth sw mon0 m eth0
    veth sw mon1 m eth1
    ip -n "$P-sw" link set pc master br0; ip -n "$P-sw" link set ps master br0
    addr c eth0 10.70.0.1/24; addr s eth0 10.70.0.2/24
    nginx_in s
    HOST=10.70.0.2
    nsx sw tc qdisc add dev pc clsact
    nsx sw tc filter add dev pc ingress protocol all u32 match u32 0 0 action mirred egress mirror dev mon0
    nsx sw tc qdisc add dev ps clsact
    nsx sw tc filter add dev ps ingress protocol all u32 match u32 0 0 action mirred egress mirror dev mon1
    record tap-two-if pcapng keepalive-race,keepalive-race,client-close-header start_tap race_traffic
}
start_tap() { cap_dumpcap m "$TMP/tap-two-if.pcapng" -i eth0 -i eth1; }

scn_rotated-C() {
    DESC="A size-rotated capture: 'tcpdump -C 1 -z gzip -w rotated-C.pcap' (a new file once the current one exceeds 1,000,000 bytes; tcpdump gzips each file it rotates out, as is common on capture hosts) wrote rotated-C.pcap.gz and rotated-C.pcap1; connection 1 (GET /, GET /big.txt of 0.95 MB, GET /a.txt, GET /b.txt, 0.5 s apart, then nginx's idle close) spans both files. Connection 2: two GETs, the client closes (in the second file). Plain IPv4 10.10.0.1 -> 10.10.0.2:8080, captured on the server's veth. The truth is computed over 'mergecap -w - FILES'."
    pair
    nginx_in s
    HOST=10.10.0.2
    NAME_SET=rotated-C.pcap POST=set_files record rotated-C pcap "$SHORT_REASONS" start_rot_c big_traffic
}
start_rot_c() { cap_tcpdump s "$TMP/rotated-C.pcap" -i u1 -C 1 -z gzip; }
big_traffic() { client c big "$HOST"; }
long_traffic() { client c long "$HOST"; }
set_files() {  # the files of the set, oldest first
    sleep 0.5  # tcpdump -z gzip runs in the background
    # shellcheck disable=SC2010  # names are ours (no spaces); ls -tr gives the order
    FILES=$(cd "$TMP" && ls -tr | grep "^$NAME_SET" | grep -v '\.log$' | sed "s|^|$TMP/|" | tr '\n' ' ')
    log "$NAME: files: $FILES"
    [[ $(wc -w <<<"$FILES") -ge 2 ]]
}

scn_rotated-G() {
    DESC="A time-rotated capture: 'tcpdump -G 2 -w rotated-G-%S.pcap' (a new file every 2 s, named by the second it was opened); connection 1 (six GETs 0.5 s apart then nginx's idle close) spans the files. Connection 2: two GETs, the client closes. Plain IPv4 10.10.0.1 -> 10.10.0.2:8080, captured on the server's veth. The truth (in the first file's .truth.json) is computed over 'mergecap -w - FILES'."
    pair
    nginx_in s
    HOST=10.10.0.2
    NAME_SET=rotated-G- POST=set_files record rotated-G pcap "$SHORT_REASONS" start_rot_g long_traffic
}
start_rot_g() { cap_tcpdump s "$TMP/rotated-G-%S.pcap" -i u1 -G 2; }

snap() {  # snap N
    DESC="Short snaplen: 'tcpdump -s $1' on the server's veth (plain IPv4 10.10.0.1 -> 10.10.0.2:8080, Ethernet + IPv4 + TCP with timestamps = 66 bytes of headers, so only $(( $1 - 66 )) bytes of each segment's payload are kept). A full-snaplen tcpdump ran on the same interface at the same time; the truth comes from that twin (same packets, same timestamps) and is what really happened. Traffic as vxlan-4789."
    pair
    nginx_in s
    HOST=10.10.0.2
    SNAP=$1
    record snaplen-$1 pcap "$STD_REASONS" start_snap std_traffic --full "$TMP/snaplen-$1-full.pcap"
}
start_snap() {
    cap_tcpdump s "$TMP/snaplen-$SNAP.pcap" -i u1 -s "$SNAP"
    cap_tcpdump s "$TMP/snaplen-$SNAP-full.pcap" -i u1
}
scn_snaplen-96() { snap 96; }
scn_snaplen-128() { snap 128; }

scn_pcapng-drops() {
    DESC="Kernel drops recorded in the pcapng Interface Statistics Block: dumpcap -B 1 (a 1 MiB ring) on the server's veth; between two HTTP connections (each: GET /, 0.3 s, GET /b.txt, client closes after 0.3 s) dumpcap is stopped (SIGSTOP) for 1.5 s while the client sends 30000 small UDP datagrams to port 9 (dropped by iptables in the server namespace), then continued (SIGCONT): the ring overflows and the kernel drops what does not fit. The HTTP packets are all there. Stored gzip-compressed (the UDP flood compresses ~20x)."
    pair
    nsx s iptables -A INPUT -p udp --dport 9 -j DROP
    nginx_in s
    HOST=10.10.0.2
    ALLOW_DROPS=1 POST=gzip_drops record pcapng-drops pcapng client-idle-close,client-idle-close start_drops drops_traffic
}
gzip_drops() {
    gzip -9 "$TMP/pcapng-drops.pcapng"
    FILES=$TMP/pcapng-drops.pcapng.gz
}
start_drops() { cap_dumpcap s "$TMP/pcapng-drops.pcapng" -i u1 -B 1; }
drops_traffic() {
    client c one "$HOST" || return 1
    local c
    c=${CAPS[0]%%:*}
    sleep 0.3
    kill -STOP "$c"
    nsx c python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(30000):
    s.sendto(b"flood %05d" % i, ("10.10.0.2", 9))'
    sleep 0.5
    kill -CONT "$c"
    sleep 0.5
    client c one "$HOST"
}

scn_pcapng-comments() {
    DESC="A dumpcap pcapng (server's veth, plain IPv4 10.10.0.1 -> 10.10.0.2:8080, traffic as vxlan-4789) annotated afterwards as users do: 'editcap --capture-comment' (a section-header comment) and 'editcap -a N:TEXT' comments on the first SYN, the first request and the server's first FIN."
    pair
    nginx_in s
    HOST=10.10.0.2
    POST=post_comments record pcapng-comments pcapng "$STD_REASONS" start_comments comments_traffic
}
start_comments() { cap_dumpcap s "$TMP/pcapng-comments.raw.pcapng" -i u1; }
comments_traffic() { std_traffic; }
post_comments() {  # after the capture stopped: comment it
    local raw=$TMP/pcapng-comments.raw.pcapng syn req fin
    syn=$(tshark -r "$raw" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e frame.number | head -1)
    req=$(tshark -r "$raw" -d tcp.port==8080,http -Y 'http.request' -T fields -e frame.number | head -1)
    fin=$(tshark -r "$raw" -Y 'tcp.flags.fin==1 && tcp.srcport==8080' -T fields -e frame.number | head -1)
    editcap --capture-comment "httplife field sample: three connections to nginx 10.10.0.2:8080 (keepalive_timeout 1s)" \
        -a "$syn:first SYN (client 10.10.0.1)" -a "$req:first request: GET /" -a "$fin:nginx closes the idle connection" \
        "$raw" "$TMP/pcapng-comments.pcapng"
    TOOL="$TOOL; editcap --capture-comment TEXT -a $syn:TEXT -a $req:TEXT -a $fin:TEXT pcapng-comments.raw.pcapng pcapng-comments.pcapng"
}

# -- main ------------------------------------------------------------------------

if [[ ${1:-} == --list ]]; then printf '%s\n' "${ALL[@]}"; exit 0; fi
if [[ ${1:-} == --out ]]; then OUT=$(cd "$2" && pwd); shift 2; fi
[[ $(id -u) == 0 ]] || { log "run as root (network namespaces)"; exit 1; }
# Without ethtool the veths keep TSO: the capture then holds 64 KB segments
# instead of the wire's (rotated-C stays under tcpdump -C's 1 MB and never
# rotates), and veth()'s offload calls fail silently; so fail here.
for tool in ip tcpdump dumpcap tshark editcap mergecap ethtool iptables nginx python3; do
    command -v "$tool" >/dev/null || { log "needs $tool (see the header of $0)"; exit 1; }
done
scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=("${ALL[@]}")
for s in "${scenarios[@]}"; do
    declare -F "scn_$s" >/dev/null || { log "unknown scenario $s (known: ${ALL[*]})"; exit 2; }
done
failed=()
for s in "${scenarios[@]}"; do
    log "scenario $s"
    set +e
    # each scenario in a subshell of its own (set -e active, its own traps), torn down
    # after; in the background, so that a signal here is handled at once (on_signal)
    (
        set -e
        trap teardown EXIT
        trap 'exit 130' INT TERM HUP
        NAME=$s HOST=
        "scn_$s"
    ) &
    SCN=$!
    wait "$SCN"
    rc=$?
    SCN=
    set -e
    teardown
    [[ $rc == 130 ]] && exit 130
    [[ $rc == 0 ]] || failed+=("$s")
done
if [[ ${#failed[@]} -gt 0 ]]; then log "FAILED: ${failed[*]}"; exit 1; fi
log "done: ${scenarios[*]} in $OUT"
