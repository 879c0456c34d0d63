#!/usr/bin/env bash
# CI check of the analyser on field captures (tunnels, tags, copies, rotation).
#
# usage: samples/field/record/ci.sh --bin PATH [--keep DIR] [SCENARIO...]
#        samples/field/record/ci.sh --bin PATH --dir DIR      (score captures already in DIR,
#                                                             e.g. samples/field: no root needed)
#
# Re-records the CI subset (default: vxlan-4789 gre-key-seq vlan qinq any-duplicates overlay-any
# reorder tap-two-if fragments rotated-C; about 110 s) with record.sh into a temporary
# directory (needs root: network namespaces), which writes each capture's truth
# with truth.py, then runs
#     /work/shared/tools/corpus-score --bin PATH DIR
# (override with CORPUS_SCORE=...) and prints its report. Exit status: 0 only if
# every scenario was recorded and every check passed; 1 if a check failed, 2 if
# recording failed, 3 on usage errors, 130 when interrupted. Failures are printed,
# never hidden. The namespaces record.sh makes (hl-f<its PID>-*) are removed by
# its own trap; this script removes any it left (if it was killed) on every exit,
# Ctrl-C included. --keep DIR copies the recorded captures and truths to DIR.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SCORE=${CORPUS_SCORE:-/work/shared/tools/corpus-score}
SUBSET=(vxlan-4789 gre-key-seq vlan qinq any-duplicates overlay-any reorder tap-two-if fragments rotated-C)
BIN='' KEEP='' DIR=''
scn=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --bin) BIN=$2; shift 2 ;;
        --keep) KEEP=$2; shift 2 ;;
        --dir) DIR=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) scn+=("$1"); shift ;;
    esac
done
[[ -n $BIN ]] || { echo "ci.sh: --bin PATH is required" >&2; exit 3; }
[[ -x $BIN ]] || { echo "ci.sh: $BIN is not executable" >&2; exit 3; }
[[ ${#scn[@]} -gt 0 ]] || scn=("${SUBSET[@]}")

REC='' DOG=''
WORK=
cleanup() {
    [[ -n $DOG ]] && kill "$DOG" 2>/dev/null
    if [[ -n $REC ]]; then
        kill -TERM "$REC" 2>/dev/null && wait "$REC" 2>/dev/null
        local ns pid
        for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^hl-f$REC-" || true); do
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
            echo "ci.sh: removed leftover namespace $ns" >&2
        done
    fi
    [[ -n $WORK ]] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "ci.sh: interrupted" >&2; exit 130' INT TERM HUP

start=$(date +%s)
rec_rc=0
if [[ -z $DIR ]]; then
    [[ $(id -u) == 0 ]] || { echo "ci.sh: recording needs root (or use --dir)" >&2; exit 3; }
    WORK=$(mktemp -d /tmp/hl-field-ci.XXXXXX)
    DIR=$WORK
    echo "== recording ${scn[*]} into $DIR"
    # record.sh in the background (its namespaces are hl-f<its PID>-*) so that a signal
    # here reaches it through cleanup; a watchdog stops it after 170 s
    "$HERE/record.sh" --out "$DIR" "${scn[@]}" &
    REC=$!
    (
        trap 'kill "$z" 2>/dev/null; exit 0' TERM
        sleep 170 & z=$!
        wait "$z" && kill -TERM "$REC" 2>/dev/null && echo "ci.sh: record.sh over 170 s, stopped" >&2
    ) &
    DOG=$!
    wait "$REC"
    rec_rc=$?
    kill "$DOG" 2>/dev/null; wait "$DOG" 2>/dev/null
    for ns in $(ip netns list | awk '{print $1}' | grep "^hl-f$REC-" || true); do
        ip netns del "$ns" 2>/dev/null && echo "ci.sh: removed leftover namespace $ns" >&2
    done
    REC=
    if [[ $rec_rc != 0 ]]; then
        echo "ci.sh: record.sh failed (exit $rec_rc)" >&2
    fi
    [[ -n $KEEP ]] && { mkdir -p "$KEEP"; cp "$DIR"/* "$KEEP"/; }
fi
n=$(ls "$DIR"/*.truth.json 2>/dev/null | wc -l)
echo "== scoring $n capture(s) in $DIR with $BIN"
"$SCORE" --bin "$BIN" "$DIR"
score_rc=$?
echo "== $(( $(date +%s) - start )) s; record: $([[ $rec_rc == 0 ]] && echo ok || echo "FAILED ($rec_rc)"); score: $([[ $score_rc == 0 ]] && echo ok || echo "FAILED ($score_rc)")"
[[ $rec_rc == 0 ]] || exit 2
[[ $score_rc == 0 ]] || exit 1
exit 0
