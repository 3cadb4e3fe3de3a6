#!/usr/bin/env bash
# bench-add-zones.sh: many new secondary zones added at once to a running
# pharos (issue 12 item 9: "1,000 members in one step, all served within
# 10 s"), loopback only.  A Knot primary serves N generated zones; pharos
# starts with one of them, then the other N-1 are added in one step and the
# time until every one answers its SOA NOERROR + AA is measured.  Each new
# zone's first version is transferred and written to disk before it is
# served, so this measures the transfers, the builds and the fsyncs.
#
# usage: scripts/bench-add-zones.sh [options]
#   --zones N        zones added (z00001.bench ...)                  [1000]
#   --records N      records per zone                                [12]
#   --how H          sighup: append [[zone]] tables to the config and
#                    send SIGHUP (one reload adds them all);
#                    api: POST /zones once per zone, 8 at a time (kept-
#                    alive connections, scripts/bench/post_zones.py);
#                    batch: one POST /zones with a JSON array of them
#                    all                                             [sighup]
#   --port N         first loopback port to try                      [31700]
#   --timeout N      seconds to wait for all to be served            [300]
#   --keep           keep the work dir
#   -h, --help
# environment: PHAROS_BIN=path  (default target/release/pharos; not built)
# prints: added_s (from the SIGHUP or the first POST until all served);
#   with api and batch also api_s (until the last POST was answered)
set -uo pipefail
# shellcheck source=scripts/bench/common.sh
. "$(dirname "$0")/bench/common.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
zpy=$here/bench/zones.py
lib=$here/bench/benchlib.py

zones=1000
records=12
how=sighup
port_base=31700
timeout=300
keep=0
usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'; }
die() { echo "bench-add-zones: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        --zones) zones=${2:?}; shift ;;
        --records) records=${2:?}; shift ;;
        --how) how=${2:?}; shift ;;
        --port) port_base=${2:?}; shift ;;
        --timeout) timeout=${2:?}; shift ;;
        --keep) keep=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done
for v in zones records port_base timeout; do
    is_uint "${!v}" || die "--${v//_/-} must be a non-negative integer"
done
[ "$zones" -ge 2 ] || die "--zones must be >= 2"
case $how in sighup|api|batch) ;; *) die "--how: sighup, api or batch" ;; esac
KNOTD=$(find_bin knotd) || die "knotd missing (apt-get install -y knot)"
command -v curl >/dev/null 2>&1 || [ "$how" != batch ] || die "curl is needed for --how batch"
PY=$(python3 -c 'import sys; print(sys.executable)') || die "python3 does not run"
PHAROS=${PHAROS_BIN:-$repo/target/release/pharos}
[ -x "$PHAROS" ] || die "$PHAROS not found (cargo build --release, or PHAROS_BIN=)"
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt $((zones + 1024)) ]; then
    ulimit -n $((zones + 1024)) 2>/dev/null || true
fi

work=$(mktemp -d /tmp/pharos-bench-add.XXXXXX) || die "mktemp failed"
declare -A spid=()
cleanup() {
    local s pid
    for s in "${!spid[@]}"; do
        pid=${spid[$s]}
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    [ "$keep" = 1 ] && echo "bench-add-zones: work dir kept: $work" >&2 ||
        rm -rf "${work:?}/zones" "$work/pharos/var" "$work/primary/db"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cp "$PHAROS" "$work/pharos-bin" || die "cannot copy $PHAROS"

"$PY" "$zpy" gen-zones "$work" --zones "$zones" --records "$records" >/dev/null || die "zone generation failed"
zlist=$work/zones.txt
head -n 1 "$zlist" >"$work/first.txt"
tail -n +2 "$zlist" >"$work/added.txt"

next_port=$port_base
pick_port; pport=$port
pick_port; dport=$port
pick_port; mport=$port

P=$work/primary
mkdir -p "$P/db" "$P/run"
{ cat <<EOF
server:
    rundir: $P/run
    listen: 127.0.0.1@$pport
database:
    storage: $P/db
log:
  - target: $P/knot.log
    any: warning
acl:
  - id: transfer
    address: 127.0.0.1
    action: transfer
template:
  - id: default
    storage: $work/zones
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
    acl: transfer
zone:
EOF
  awk '{ printf "  - domain: %s\n", $1 }' "$zlist"; } >"$P/knot.conf"
t0=$EPOCHREALTIME
"$KNOTD" -c "$P/knot.conf" >"$P/stdout.log" 2>&1 &
spid[primary]=$!
"$PY" "$zpy" wait --port "$pport" --zones-file "$zlist" --t0 "$t0" --pid "${spid[primary]}" \
    --timeout "$timeout" >/dev/null || die "the primary did not load its zones"

PH=$work/pharos
mkdir -p "$PH"
echo bench-add-token >"$PH/token"
chmod 600 "$PH/token"
zone_tables() { awk -v p="127.0.0.1:$pport" '{ printf "\n[[zone]]\nname = \"%s\"\nprimaries = [\"%s\"]\n", $1, p }' "$1"; }
{ cat <<EOF
[node]
id = "bench-add"
data-dir = "$PH/var"

[dns]
listen = ["127.0.0.1:$dport"]

[mgmt]
listen = "127.0.0.1:$mport"
token-file = "$PH/token"
EOF
  zone_tables "$work/first.txt"; } >"$PH/pharos.toml"
t0=$EPOCHREALTIME
PHAROS_LOG=${PHAROS_LOG:-info} "$work/pharos-bin" serve --config "$PH/pharos.toml" >"$PH/pharos.log" 2>&1 &
spid[pharos]=$!
"$PY" "$zpy" wait --port "$dport" --zones-file "$work/first.txt" --t0 "$t0" --pid "${spid[pharos]}" \
    --timeout 60 >/dev/null || die "pharos did not serve its first zone (see $PH/pharos.log)"

n=$((zones - 1))
echo "bench-add-zones: adding $n zones ($how) to pharos $("$work/pharos-bin" --version 2>/dev/null | head -n 1)"
t0=$EPOCHREALTIME
if [ "$how" = sighup ]; then
    zone_tables "$work/added.txt" >>"$PH/pharos.toml"
    t0=$EPOCHREALTIME
    kill -HUP "${spid[pharos]}"
elif [ "$how" = batch ]; then
    awk -v p="127.0.0.1:$pport" 'BEGIN { printf "[" } { printf "%s{\"name\": \"%s\", \"primaries\": [\"%s\"]}", (NR > 1 ? "," : ""), $1, p } END { print "]" }' \
        "$work/added.txt" >"$work/batch.json"
    t0=$EPOCHREALTIME
    { curl -sf -o "$work/batch.out" -X POST -H 'content-type: application/json' \
        -H 'authorization: Bearer bench-add-token' --data-binary "@$work/batch.json" \
        "http://127.0.0.1:$mport/zones" || echo "bench-add-zones: the batch POST failed" >&2
      echo "$EPOCHREALTIME" >"$work/api_end"; } &
    posts=$!
else
    { "$PY" "$here/bench/post_zones.py" --url "http://127.0.0.1:$mport" --token bench-add-token \
        --primary "127.0.0.1:$pport" --zones-file "$work/added.txt" --parallel 8
      echo "$EPOCHREALTIME" >"$work/api_end"; } &
    posts=$!
fi
"$PY" "$zpy" wait --port "$dport" --zones-file "$work/added.txt" --t0 "$t0" --pid "${spid[pharos]}" \
    --timeout "$timeout" >"$work/added_s" || { cat "$work/added_s"; die "not all served (see $PH/pharos.log)"; }
api=
if [ "$how" != sighup ]; then
    wait "$posts"
    api=" api_s=$(awk -v a="$t0" -v b="$(cat "$work/api_end")" 'BEGIN { printf "%.3f", b - a }')"
fi
echo "added_s=$(cat "$work/added_s")$api zones=$n how=$how"
echo "log: $PH/pharos.log"
