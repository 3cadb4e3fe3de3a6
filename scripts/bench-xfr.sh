#!/usr/bin/env bash
# bench-xfr.sh: zone transfer benchmark for pharos as a secondary, against
# Knot DNS as the secondary of the same Knot primary (loopback only).
# Measures, as the issue asks:
#   - axfr-in:  time from process start until a fresh secondary answers the
#               1,000,000-record big.test at the primary's serial (pharos and
#               Knot, alternating rounds), its logged transfer time and RSS;
#   - notify:   small.test changed on the primary (knotc zone-commit) until
#               the secondary answers the new serial (target: median < 50 ms);
#   - ixfr:     one record of big.test changed, until the new serial is
#               answered (target: < 10 ms); Knot as the reference;
#   - qps:      pharos' qps on small.test idle, and while it AXFRs big.test.
# See scripts/bench/xfr-README.md.
#
# usage: scripts/bench-xfr.sh [options]
#   --servers LIST     secondaries to bench, subset of pharos,knot  [pharos,knot]
#   --quick            --big-count 200000 --rounds 2 --duration 3 --during-rounds 2
#                      (options given explicitly still win)
#   --big-count N      A records in big.test                       [1000000]
#   --rounds N         AXFR-in rounds per secondary (medians)       [3]
#   --notify-count N   small.test changes for the NOTIFY latency    [20]
#   --ixfr-count N     big.test one-record changes for the IXFR     [5]
#   --duration N       seconds of the idle dnsperf run              [10]
#   --during-rounds N  pharos restarts without big.test for the
#                      qps-during-AXFR runs                         [3]
#   --clients N        dnsperf clients (-c)                         [4]
#   --outstanding N    dnsperf max outstanding queries (-q)         [100]
#   --port N           first loopback port to try                   [53800]
#   --timeout N        seconds to wait for a load or a transfer     [180]
#   --build            run `cargo build --release` even if target/release/pharos exists
#   --keep             keep the whole work dir (zones, server data); otherwise
#                      only results, configs and logs are kept
#   -h, --help
# environment: PHAROS_BIN=path  bench this pharos binary (no build)
# exit status: 0 all runs done, 1 a server failed to build/load/transfer/answer,
#              2 setup error.  Missing a target is not an error: read `target`.
set -uo pipefail
# shellcheck source=scripts/bench/common.sh
. "$(dirname "$0")/bench/common.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
xfr=$here/bench/xfr.py
lib=$here/bench/benchlib.py

servers=pharos,knot
big_count=1000000
rounds=3
notify_count=20
ixfr_count=5
duration=10
during_rounds=3
clients=4
outstanding=100
port_base=53800
timeout=180
build=0
keep=0
quick=0
explicit=" "   # options given on the command line (--quick leaves them alone)

usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'; }
die() { echo "bench-xfr: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case $1 in
        --servers) servers=${2:?--servers needs a value}; shift ;;
        --servers=*) servers=${1#*=} ;;
        --quick) quick=1 ;;
        --big-count) big_count=${2:?}; shift ;;
        --big-count=*) big_count=${1#*=} ;;
        --rounds) rounds=${2:?}; shift ;;
        --rounds=*) rounds=${1#*=} ;;
        --notify-count) notify_count=${2:?}; shift ;;
        --notify-count=*) notify_count=${1#*=} ;;
        --ixfr-count) ixfr_count=${2:?}; shift ;;
        --ixfr-count=*) ixfr_count=${1#*=} ;;
        --duration) duration=${2:?}; shift ;;
        --duration=*) duration=${1#*=} ;;
        --during-rounds) during_rounds=${2:?}; shift ;;
        --during-rounds=*) during_rounds=${1#*=} ;;
        --clients) clients=${2:?}; shift ;;
        --clients=*) clients=${1#*=} ;;
        --outstanding) outstanding=${2:?}; shift ;;
        --outstanding=*) outstanding=${1#*=} ;;
        --port) port_base=${2:?}; shift ;;
        --port=*) port_base=${1#*=} ;;
        --timeout) timeout=${2:?}; shift ;;
        --timeout=*) timeout=${1#*=} ;;
        --build) build=1 ;;
        --keep) keep=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    case $1 in --*) explicit+="${1%%=*} " ;; esac
    shift
done
if [ "$quick" = 1 ]; then
    [[ $explicit == *" --big-count "* ]] || big_count=200000
    [[ $explicit == *" --rounds "* ]] || rounds=2
    [[ $explicit == *" --duration "* ]] || duration=3
    [[ $explicit == *" --during-rounds "* ]] || during_rounds=2
fi
for v in big_count rounds notify_count ixfr_count duration during_rounds clients outstanding port_base timeout; do
    is_uint "${!v}" || die "--${v//_/-} must be a non-negative integer, got '${!v}'"
done
[ "$big_count" -gt 0 ] || die "--big-count must be > 0"
[ "$duration" -gt 0 ] || die "--duration must be > 0"
[ "$timeout" -gt 0 ] || die "--timeout must be > 0"

server_list=()
IFS=, read -r -a req <<<"$servers"
for s in "${req[@]}"; do
    case $s in
        pharos|knot) [[ " ${server_list[*]} " == *" $s "* ]] || server_list+=("$s") ;;
        "") ;;
        *) die "--servers: unknown secondary '$s' (choose from pharos,knot)" ;;
    esac
done
[ ${#server_list[@]} -gt 0 ] || die "--servers: empty list"

# ------------------------------------------------------------------ tools
missing=()
KNOTD=$(find_bin knotd) || missing+=(knot)
KNOTC=$(find_bin knotc) || missing+=(knot)
DNSPERF=$(find_bin dnsperf) || missing+=(dnsperf)
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench-xfr: missing: ${missing[*]}" >&2
    echo "bench-xfr: install with: apt-get install -y knot dnsperf" >&2
    exit 2
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed (apt-get install -y python3)"
# the interpreter itself, not a wrapper (a pyenv shim adds ~0.2 s per call,
# which would delay the start of the qps-during-AXFR runs)
PY=$(python3 -c 'import sys; print(sys.executable)') || die "python3 does not run"
[ -e /proc/self/stat ] || die "/proc is needed"
# xfr.py runs knotc and dnsperf by name
PATH="$(dirname "$KNOTC"):$(dirname "$DNSPERF"):$PATH"
export PATH

PHAROS=${PHAROS_BIN:-$repo/target/release/pharos}
pharos_error=""
if has pharos; then
    if [ -n "${PHAROS_BIN:-}" ]; then
        [ -x "$PHAROS" ] || die "PHAROS_BIN=$PHAROS is not an executable"
    elif [ "$build" = 1 ] || [ ! -x "$PHAROS" ]; then
        command -v cargo >/dev/null 2>&1 || die "cargo not found (needed to build pharos; or use --servers knot)"
        echo "bench-xfr: cargo build --release (in $repo)" >&2
        if ! (cd "$repo" && cargo build --release --bin pharos) >&2; then
            if [ -x "$PHAROS" ]; then
                echo "bench-xfr: pharos does not build now; benching the existing $PHAROS" >&2
            else
                pharos_error="fail:build"
                echo "bench-xfr: pharos does not build; it is reported as failed" >&2
            fi
        fi
    fi
    if [ -z "$pharos_error" ] && [ ! -x "$PHAROS" ]; then
        pharos_error="fail:no-binary"
        echo "bench-xfr: $PHAROS not found after the build" >&2
    fi
fi

# --------------------------------------------------------- work dir, cleanup
work=$(mktemp -d /tmp/pharos-bench-xfr.XXXXXX) || die "mktemp failed"
results=$work/results.tsv
results_json=$work/results.json
declare -A spid=()

stop_server() {  # name (primary, pharos, knot)
    local s=$1 pid=${spid[$1]:-}
    [ -n "$pid" ] || return 0
    unset "spid[$s]"
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "bench-xfr: $s (pid $pid) did not stop on TERM, sending KILL" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local s
    for s in "${!spid[@]}"; do stop_server "$s"; done
    if [ "$keep" = 1 ]; then
        echo "bench-xfr: work dir kept: $work" >&2
    elif [ -d "$work" ]; then
        # keep what is small and worth reading: results, configs, logs
        rm -rf "$work/zones" "$work/queries" "$work"/*/db "$work"/*/pharos-var \
            "$work"/*/zones "$work"/*/run
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------- run info
{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host=$(uname -srm)"
    echo "cpus=$(nproc)"
    echo "cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "knot=$("$KNOTD" --version 2>&1 | head -n 1)"
    echo "dnsperf=$("$DNSPERF" -h 2>&1 | sed -n 's/^Version //p' | head -n 1)"
    if has pharos; then
        rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
        if [ -n "$(git -C "$repo" status --porcelain -- src Cargo.toml 2>/dev/null)" ]; then rev=$rev+dirty; fi
        echo "pharos=$rev"
        echo "pharos_bin=$PHAROS ($(date -u -r "$PHAROS" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null))"
    fi
    echo "servers=$(IFS=,; echo "${server_list[*]}")"
    echo "big_count=$big_count"
    echo "rounds=$rounds"
    echo "notify_count=$notify_count"
    echo "ixfr_count=$ixfr_count"
    echo "idle_duration_s=$duration"
    echo "during_rounds=$during_rounds"
    echo "dnsperf_args=-c $clients -q $outstanding"
} >"$work/meta.txt"
sed 's/^/  /' "$work/meta.txt"
echo "bench-xfr: work dir $work"

echo "bench-xfr: generating zones (big.test: $big_count records)..."
t=$SECONDS
"$PY" "$xfr" gen-zones "$work" --big-count "$big_count" || die "zone generation failed"
echo "bench-xfr: zones ready in $((SECONDS - t)) s"

# -------------------------------------------------------------------- ports
next_port=$port_base
pick_port; pport=$port       # primary
pick_port; phport=$port      # pharos
pick_port; kport=$port       # knot secondary

# ------------------------------------------------------------------ configs
P=$work/primary
mkdir -p "$P/db" "$P/run"
cat >"$P/knot.conf" <<EOF
# Knot primary for scripts/bench-xfr.sh
server:
    identity: primary
    rundir: $P/run
    pidfile: $P/run/knot.pid
    listen: 127.0.0.1@$pport
database:
    storage: $P/db
control:
    listen: $P/run/knot.sock
log:
  - target: $P/knot.log
    any: info
remote:
  - id: pharos
    address: 127.0.0.1@$phport
  - id: knot-secondary
    address: 127.0.0.1@$kport
acl:
  - id: transfer
    address: 127.0.0.1
    action: transfer
template:
  - id: default
    storage: $work/zones
    file: "%s.zone"
    zonefile-sync: -1          # never write the zone file back
    zonefile-load: whole
    journal-content: changes   # knotc changes are kept for IXFR
    semantic-checks: off
    acl: transfer
    notify: [$(has pharos && echo -n pharos)$(has pharos && has knot && echo -n ", ")$(has knot && echo -n knot-secondary)]
zone:
  - domain: small.test
  - domain: big.test
EOF

K=$work/knot
mkdir -p "$K"
cat >"$K/knot.conf" <<EOF
# Knot as the secondary of the same primary, for scripts/bench-xfr.sh
server:
    identity: knot-secondary
    rundir: $K/run
    pidfile: $K/run/knot.pid
    listen: 127.0.0.1@$kport
database:
    storage: $K/db
control:
    listen: $K/run/knot.sock
log:
  - target: $K/knot.log
    any: info
remote:
  - id: primary
    address: 127.0.0.1@$pport
acl:
  - id: notify
    address: 127.0.0.1
    action: notify
template:
  - id: default
    storage: $K/zones
    file: "%s.zone"
    master: primary
    acl: notify
    zonefile-sync: -1          # never write a zone file
    zonefile-load: none
    journal-content: none      # no journal: the zone lives in memory only
    semantic-checks: off
zone:
  - domain: small.test
  - domain: big.test
EOF

PH=$work/pharos
mkdir -p "$PH"
cat >"$PH/pharos.toml" <<EOF
# pharos as the secondary, for scripts/bench-xfr.sh
[node]
id = "bench"
data-dir = "$PH/pharos-var"

[dns]
listen = ["127.0.0.1:$phport"]

# rate limiting off: dnsperf asks from one address
[dns.rrl]
responses-per-second = 0

[[zone]]
name = "big.test"
primaries = ["127.0.0.1:$pport"]

[[zone]]
name = "small.test"
primaries = ["127.0.0.1:$pport"]
EOF

"$KNOTC" -c "$P/knot.conf" conf-check >"$P/conf-check.log" 2>&1 || {
    cat "$P/conf-check.log" >&2; die "primary config rejected"; }
if has knot; then
    "$KNOTC" -c "$K/knot.conf" conf-check >"$K/conf-check.log" 2>&1 || {
        cat "$K/conf-check.log" >&2; die "Knot secondary config rejected"; }
fi
if has pharos && [ -z "$pharos_error" ]; then
    "$PHAROS" check-config "$PH/pharos.toml" >"$PH/conf-check.log" 2>&1 || {
        echo "  pharos check-config $PH/pharos.toml failed:" >&2
        sed 's/^/    /' "$PH/conf-check.log" >&2; }
fi

# ------------------------------------------------------------ start/stop
# start_secondary NAME TAG: starts it, its log in $log; sets t0 (Unix time
# just before the start) and spid[NAME]
start_secondary() {
    local s=$1 tag=$2
    t0=$EPOCHREALTIME
    case $s in
        pharos)
            log=$PH/pharos-$tag.log
            "$PHAROS" serve --config "$PH/pharos.toml" >"$log" 2>&1 & ;;
        knot)
            log=$K/knot.log
            rm -f "$log"
            mkdir -p "$K/run" "$K/db" "$K/zones"
            "$KNOTD" -c "$K/knot.conf" >"$K/stdout-$tag.log" 2>&1 & ;;
    esac
    spid[$s]=$!
    cur_tag[$s]=$tag
}
declare -A cur_tag=()
stop_secondary() {
    local s=$1
    stop_server "$s"
    # Knot logs to one file (set in its config): keep one per start
    if [ "$s" = knot ] && [ -f "$K/knot.log" ]; then
        mv "$K/knot.log" "$K/knot-${cur_tag[$s]}.log"
    fi
}
empty_data() {  # NAME: the secondary starts with nothing
    case $1 in
        pharos) rm -rf "$PH/pharos-var" ;;
        knot) rm -rf "$K/db" "$K/zones" "$K/run" ;;
    esac
}
show_log() {  # file
    [ -s "$1" ] || return 0
    echo "---- $1 (last 15 lines)" >&2
    tail -n 15 "$1" >&2
}
fail_row() {  # scenario server status
    printf '%s\t%s\t1\t%s\n' "$1" "$2" "$3" | "$PY" -c '
import sys; sys.path.insert(0, sys.argv[1]); import xfr
sc, srv, run, st = sys.stdin.read().rstrip("\n").split("\t")
xfr.append_row(sys.argv[2], {"scenario": sc, "server": srv, "run": run, "status": st})
' "$here/bench" "$results"
}

# The primary NOTIFYs only the secondary being measured (a NOTIFY to a
# stopped one can hold up the next one in Knot's list by ~0.6 s).
primary_notify() {  # remote id (pharos or knot-secondary)
    { "$KNOTC" -c "$P/knot.conf" conf-begin &&
      "$KNOTC" -c "$P/knot.conf" conf-unset 'template[default].notify' &&
      "$KNOTC" -c "$P/knot.conf" conf-set 'template[default].notify' "$1" &&
      "$KNOTC" -c "$P/knot.conf" conf-commit; } >>"$P/knotc.log" 2>&1 || {
        "$KNOTC" -c "$P/knot.conf" conf-abort >/dev/null 2>&1
        tail -n 5 "$P/knotc.log" >&2
        die "could not point the primary's NOTIFY at $1"; }
}

primary_serial() {  # zone -> serial on stdout
    "$PY" "$xfr" wait-soa 127.0.0.1 "$pport" "$1" 10
}

# ------------------------------------------------------------------ primary
echo
echo "=== primary: knotd on 127.0.0.1:$pport (small.test, big.test)"
t0=$EPOCHREALTIME
"$KNOTD" -c "$P/knot.conf" >"$P/stdout.log" 2>&1 &
spid[primary]=$!
if ! serials=$("$PY" "$xfr" wait-soa 127.0.0.1 "$pport" small.test,big.test "$timeout" --pid "${spid[primary]}"); then
    show_log "$P/knot.log"
    die "the primary did not load its zones"
fi
echo "  primary: serving small.test, big.test (serials $serials) after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}') s"
last=h$((big_count - 1)).big.test

busy=$("$PY" "$lib" busy 1)
echo "busy_before_s=$busy" >>"$work/meta.txt"
echo "  machine busy before the runs: $busy cores (the primary idle)"
if awk -v b="$busy" 'BEGIN { exit !(b > 0.25) }'; then
    echo "bench-xfr: WARNING: other processes are using CPU; times and qps will be noisy" >&2
fi

# ------------------------------------------------------------- AXFR-in
# Each round starts every secondary in turn with an empty data dir and
# stops it once it has answered (and its memory was read).
echo
echo "=== axfr-in: $rounds round(s), each secondary started empty"
for ((r = 1; r <= rounds; r++)); do
    for s in "${server_list[@]}"; do
        if [ "$s" = pharos ] && [ -n "$pharos_error" ]; then
            fail_row axfr-in pharos "$pharos_error"; continue
        fi
        big_serial=$(primary_serial big.test) || die "the primary stopped answering"
        empty_data "$s"
        start_secondary "$s" "axfr-$r"
        port=$phport; [ "$s" = knot ] && port=$kport
        if ! "$PY" "$xfr" axfr-in --server "$s" --port "$port" --zone big.test \
                --serial "$big_serial" --t0 "$t0" --pid "${spid[$s]}" --log "$log" \
                --out "$results" --run "$r" --timeout "$timeout" --check "$last"; then
            show_log "$log"
        fi
        stop_secondary "$s"
    done
done

# ------------------------------------------------------- notify, ixfr, qps
for s in "${server_list[@]}"; do
    if [ "$s" = pharos ] && [ -n "$pharos_error" ]; then
        for sc in notify ixfr qps-idle qps-axfr; do fail_row "$sc" pharos "$pharos_error"; done
        continue
    fi
    echo
    echo "=== $s: NOTIFY latency, IXFR apply$([ "$s" = pharos ] && echo ", qps idle and during an AXFR")"
    port=$phport; [ "$s" = knot ] && port=$kport
    primary_notify "$([ "$s" = knot ] && echo knot-secondary || echo pharos)"
    # pharos starts from its snapshots; Knot (no journal, no zone file)
    # transfers both zones again
    start_secondary "$s" main
    if ! small_serial=$(primary_serial small.test) || ! big_serial=$(primary_serial big.test); then
        die "the primary stopped answering"
    fi
    if ! "$PY" "$xfr" axfr-in --server "$s-restart" --port "$port" --zone big.test \
            --serial "$big_serial" --t0 "$t0" --pid "${spid[$s]}" --log "" \
            --out "$work/restart.tsv" --timeout "$timeout" >/dev/null; then
        echo "  $s: did not serve big.test at serial $big_serial after a restart"
        show_log "$log"
        for sc in notify ixfr; do fail_row "$sc" "$s" fail:load; done
        [ "$s" = pharos ] && for sc in qps-idle qps-axfr; do fail_row "$sc" "$s" fail:load; done
        stop_secondary "$s"
        continue
    fi
    echo "  $s: serving small.test $small_serial, big.test $big_serial"
    "$PY" "$xfr" changes --scenario notify --server "$s" --port "$port" \
        --primary-port "$pport" --zone small.test --knotc-conf "$P/knot.conf" \
        --count "$notify_count" --out "$results" --log "$log" --pid "${spid[$s]}" \
        --interval 0.001 --gap 0.2 --timeout 30
    "$PY" "$xfr" changes --scenario ixfr --server "$s" --port "$port" \
        --primary-port "$pport" --zone big.test --knotc-conf "$P/knot.conf" \
        --count "$ixfr_count" --out "$results" --log "$log" --pid "${spid[$s]}" \
        --interval 0.001 --gap 1 --timeout "$timeout"
    if [ "$s" = pharos ]; then
        "$PY" "$xfr" qps-idle --port "$port" --queries "$work/queries/small.txt" \
            --out "$results" --pid "${spid[$s]}" --log "$PH/dnsperf-idle.log" \
            --duration "$duration" --clients "$clients" --outstanding "$outstanding"
        # During: restart pharos without its big.test snapshot (small.test is
        # served from its snapshot at once), so it AXFRs big.test while
        # dnsperf asks it small.test queries.
        for ((r = 1; r <= during_rounds; r++)); do
            stop_secondary pharos
            big_serial=$(primary_serial big.test) || die "the primary stopped answering"
            rm -f "$PH"/pharos-var/zones/big.test.zone.bin*
            start_secondary pharos "during-$r"
            if ! "$PY" "$xfr" qps-during --port "$port" --queries "$work/queries/small.txt" \
                    --out "$results" --pid "${spid[pharos]}" --log "$log" --run "$r" \
                    --zone big.test --serial "$big_serial" --small small.test \
                    --dnsperf-log "$PH/dnsperf-during-$r.log" --timeout "$timeout" \
                    --clients "$clients" --outstanding "$outstanding"; then
                show_log "$log"
            fi
        done
    fi
    stop_secondary "$s"
done
stop_server primary

[ -s "$results" ] || die "no results"
"$PY" "$xfr" report "$results" "$results_json" "$work/meta.txt"
rc=$?
echo
echo "results: $results (one row per measurement)"
echo "         $results_json (rows, summaries, ratios, target verdict)"
echo "         logs and configs: $work/{primary,pharos,knot}/"
exit $rc
