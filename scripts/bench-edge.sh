#!/usr/bin/env bash
# bench-edge.sh: response rate limiting (RRL), DNS cookies and overload,
# pharos vs Knot DNS (mod-rrl, mod-cookies) vs NSD (rrl-*, answer-cookie),
# one server after the other, each with the same RRL settings (loopback
# only).  Three measures, each printed as a table with the ratios
# pharos/Knot and pharos/NSD:
#   1. reflection: a spoofed-source flood from 127.0.3.1-254 (big TXT, ANY,
#      NXDOMAIN) at twice the server's capacity: bytes out / bytes in, what
#      the victim netblock got, server CPU and peak memory, and how much of
#      a legitimate client's queries (127.0.4.1, another /24) got answers;
#   2. query cost: server CPU per query on the realistic mix of
#      bench-dns.sh with RRL on (a limit no source reaches) and cookies, with
#      RRL off, and with a valid server cookie;
#   3. overload: twice the capacity of legitimate-looking queries from
#      127.0.3.1-254 (RRL high): the server survives, its memory stays flat
#      after 5 s, and a probe client is answered again within 1 s of the end.
# See scripts/bench/edge-README.md.
#
# usage: scripts/bench-edge.sh [options]
#   --servers LIST     comma-separated subset of pharos,knot,nsd  [pharos,knot,nsd]
#   --measures LIST    subset of reflection,cost,overload          [all three]
#   --duration N       seconds of each flood (measures 1 and 3)    [60]
#   --cost-duration N  seconds of each dnsperf run of measure 2    [10]
#   --cost-rate N      offered q/s of measure 2 (8 dnsperf, -Q N/8),
#                      the same for every server; 0 = unthrottled  [100000]
#   --cap-duration N   seconds of each capacity run (dnsperf)      [5]
#   --rate N           flood rate in queries/s, instead of twice the
#                      capacity measured (no capacity runs then)   [0 = 2x capacity]
#   --rrl-rate N       responses-per-second (pharos), rate-limit (Knot),
#                      rrl-ratelimit (NSD) of measure 1            [200]
#   --slip N           slip of all three                           [2]
#   --legit-rate N     legitimate client's queries/s, measure 1    [50]
#   --probe-rate N     probe client's queries/s, measure 3         [100]
#   --port N           first loopback port to try                  [30700]
#   --quick            short runs to try it out: --duration 10
#                      --cost-duration 3 --cap-duration 3
#   --affinity         CPU-local UDP sockets: pharos socket-affinity,
#                      Knot socket-affinity, NSD reuseport         [off]
#   --nice N           run the servers at this nice level (root
#                      only for N < 0)                             [0]
#   --build            run `cargo build --release` even if target/release/pharos exists
#   --keep             keep the whole work dir (zones, query files, server data)
#   -h, --help
# environment: PHAROS_BIN=path  bench this pharos binary (no build)
# exit status: 0 all runs done, 1 a server failed to start/answer/survive,
#              2 setup error
set -uo pipefail
# shellcheck source=scripts/bench/common.sh
. "$(dirname "$0")/bench/common.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
lib=$here/bench/benchlib.py
edge=$here/bench/edge.py

servers=pharos,knot,nsd
measures=reflection,cost,overload
duration=60
cost_duration=10
cost_rate=100000
cap_duration=5
rate=0
rrl_rate=200
slip=2
legit_rate=50
probe_rate=100
port_base=30700
nice_level=0
build=0
keep=0

usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'; }
die() { echo "bench-edge: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case $1 in
        --servers) servers=${2:?--servers needs a value}; shift ;;
        --servers=*) servers=${1#*=} ;;
        --measures) measures=${2:?--measures needs a value}; shift ;;
        --measures=*) measures=${1#*=} ;;
        --duration) duration=${2:?}; shift ;;
        --duration=*) duration=${1#*=} ;;
        --cost-duration) cost_duration=${2:?}; shift ;;
        --cost-duration=*) cost_duration=${1#*=} ;;
        --cost-rate) cost_rate=${2:?}; shift ;;
        --cost-rate=*) cost_rate=${1#*=} ;;
        --cap-duration) cap_duration=${2:?}; shift ;;
        --cap-duration=*) cap_duration=${1#*=} ;;
        --rate) rate=${2:?}; shift ;;
        --rate=*) rate=${1#*=} ;;
        --rrl-rate) rrl_rate=${2:?}; shift ;;
        --rrl-rate=*) rrl_rate=${1#*=} ;;
        --slip) slip=${2:?}; shift ;;
        --slip=*) slip=${1#*=} ;;
        --legit-rate) legit_rate=${2:?}; shift ;;
        --legit-rate=*) legit_rate=${1#*=} ;;
        --probe-rate) probe_rate=${2:?}; shift ;;
        --probe-rate=*) probe_rate=${1#*=} ;;
        --port) port_base=${2:?}; shift ;;
        --port=*) port_base=${1#*=} ;;
        --quick) duration=10; cost_duration=3; cap_duration=3 ;;
        --nice) nice_level=${2:?}; shift ;;
        --nice=*) nice_level=${1#*=} ;;
        --build) build=1 ;;
        --keep) keep=1 ;;
        --affinity) export BENCH_SOCKET_AFFINITY=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done
for v in duration cost_duration cost_rate cap_duration rate rrl_rate slip legit_rate probe_rate port_base; do
    is_uint "${!v}" || die "--${v//_/-} must be a non-negative integer, got '${!v}'"
done
[[ $nice_level =~ ^-?[0-9]+$ ]] || die "--nice must be an integer, got '$nice_level'"
if [ "$nice_level" -lt 0 ] && [ "$(id -u)" != 0 ]; then
    echo "bench-edge: --nice $nice_level needs root; running at nice 0" >&2
    nice_level=0
fi
[ "$duration" -ge 6 ] || die "--duration must be >= 6 (memory is compared after the first 5 s)"
[ "$duration" -le 3600 ] || die "--duration must be <= 3600"
[ "$cost_duration" -gt 0 ] || die "--cost-duration must be > 0"
[ "$cap_duration" -gt 0 ] || die "--cap-duration must be > 0"
[ "$rrl_rate" -gt 0 ] && [ "$rrl_rate" -le 1048575 ] || die "--rrl-rate must be 1..1048575"
[ "$slip" -le 2 ] || die "--slip must be 0, 1 or 2 (NSD and pharos take no more)"
[ "$legit_rate" -gt 0 ] && [ "$probe_rate" -gt 0 ] || die "--legit-rate and --probe-rate must be > 0"
[ "$port_base" -ge 1024 ] && [ "$port_base" -lt 32768 ] || die "--port must be 1024..32767"

server_list=()
IFS=, read -r -a req <<<"$servers"
for s in "${req[@]}"; do
    case $s in
        pharos|knot|nsd) [[ " ${server_list[*]} " == *" $s "* ]] || server_list+=("$s") ;;
        "") ;;
        *) die "--servers: unknown server '$s' (choose from pharos,knot,nsd)" ;;
    esac
done
[ ${#server_list[@]} -gt 0 ] || die "--servers: empty list"
measure_list=()
IFS=, read -r -a req <<<"$measures"
for m in "${req[@]}"; do
    case $m in
        reflection|cost|overload) [[ " ${measure_list[*]} " == *" $m "* ]] || measure_list+=("$m") ;;
        "") ;;
        *) die "--measures: unknown measure '$m' (choose from reflection,cost,overload)" ;;
    esac
done
[ ${#measure_list[@]} -gt 0 ] || die "--measures: empty list"

# ------------------------------------------------------------------ tools
missing=()
DNSPERF=$(find_bin dnsperf) || missing+=(dnsperf)
if has knot; then KNOTD=$(find_bin knotd) || missing+=(knot); fi
if has nsd; then NSD=$(find_bin nsd) || missing+=(nsd); fi
command -v cc >/dev/null 2>&1 || missing+=(gcc)
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench-edge: missing: ${missing[*]}" >&2
    echo "bench-edge: install with: apt-get install -y knot nsd dnsperf gcc" >&2
    exit 2
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed (apt-get install -y python3)"
[ -e /proc/self/stat ] || die "/proc is needed"

PHAROS=${PHAROS_BIN:-$repo/target/release/pharos}
pharos_error=""
if has pharos; then
    if [ -n "${PHAROS_BIN:-}" ]; then
        [ -x "$PHAROS" ] || die "PHAROS_BIN=$PHAROS is not an executable"
    elif [ "$build" = 1 ] || [ ! -x "$PHAROS" ]; then
        command -v cargo >/dev/null 2>&1 || die "cargo not found (needed to build pharos; or drop it with --servers knot,nsd)"
        echo "bench-edge: cargo build --release (in $repo)" >&2
        if ! (cd "$repo" && cargo build --release --bin pharos) >&2; then
            pharos_error="fail:build"
            echo "bench-edge: pharos does not build; it is reported as failed" >&2
        fi
    fi
    if [ -z "$pharos_error" ] && [ ! -x "$PHAROS" ]; then
        pharos_error="fail:no-binary"
        echo "bench-edge: $PHAROS not found after the build" >&2
    fi
fi

# --------------------------------------------------------- work dir, cleanup
work=$(mktemp -d /tmp/pharos-bench-edge.XXXXXX) || die "mktemp failed"
results=$work/results.jsonl
summary=$work/results.json
declare -A spid=()
helper_pid=""

stop_server() {  # server
    local s=$1 pid=${spid[$1]:-}
    [ -n "$pid" ] || return 0
    unset "spid[$s]"
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "bench-edge: $s (pid $pid) did not stop on TERM, sending KILL" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local s
    if [ -n "$helper_pid" ]; then  # its flooder and dnsperf die with it
        kill -TERM "$helper_pid" 2>/dev/null
        wait "$helper_pid" 2>/dev/null
        helper_pid=""
    fi
    for s in "${!spid[@]}"; do stop_server "$s"; done
    if [ "$keep" = 1 ]; then
        echo "bench-edge: work dir kept: $work" >&2
    elif [ -d "$work" ]; then
        # keep what is small and worth reading: results, configs, logs
        rm -rf "$work/zones" "$work/queries" "$work/edgeflood" "$work"/*/*/db \
            "$work"/*/*/pharos-var "$work"/*/*/xfr "$work"/*/*/run
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A helper runs in the background and is waited for, so that a signal
# reaches the trap at once (and the trap can kill it) during a long flood.
helper() {  # args... -> the helper's exit status
    python3 "$@" &
    helper_pid=$!
    wait "$helper_pid"
    local rc=$?
    helper_pid=""
    return $rc
}

# ----------------------------------------------------------------- run info
{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host=$(uname -srm)"
    echo "cpus=$(nproc)"
    echo "cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "dnsperf=$("$DNSPERF" -h 2>&1 | sed -n 's/^Version //p' | head -n 1)"
    if has knot; then echo "knot=$("$KNOTD" --version 2>&1 | head -n 1)"; fi
    if has nsd; then echo "nsd=$("$NSD" -v 2>&1 | head -n 1)"; fi
    if has pharos; then
        rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
        if [ -n "$(git -C "$repo" status --porcelain -- src Cargo.toml 2>/dev/null)" ]; then rev=$rev+dirty; fi
        echo "pharos=$rev"
    fi
    echo "measures=$(IFS=,; echo "${measure_list[*]}")"
    echo "duration_s=$duration"
    echo "cost_duration=$cost_duration"
    echo "cost_rate=$cost_rate"
    echo "cap_duration=$cap_duration"
    echo "rate=$rate"
    echo "rrl_rate=$rrl_rate"
    echo "slip=$slip"
    echo "legit_rate=$legit_rate"
    echo "probe_rate=$probe_rate"
    echo "nice=$nice_level"
    echo "servers=$(IFS=,; echo "${server_list[*]}")"
} >"$work/meta.txt"
sed 's/^/  /' "$work/meta.txt"
echo "bench-edge: work dir $work"

# ------------------------------------------------------ zones, queries, flooder
echo "bench-edge: generating zones and query files..."
python3 "$lib" gen-zones "$work" --skip-big || die "zone generation failed"
python3 "$edge" gen "$work" || die "query generation failed"
cc -O2 -Wall -pthread -o "$work/edgeflood" "$here/bench/edgeflood.c" 2>"$work/edgeflood-build.log" || {
    cat "$work/edgeflood-build.log" >&2; die "cannot build scripts/bench/edgeflood.c"; }
FLOODER=$work/edgeflood

# ----------------------------------------------------------------- servers
next_port=$port_base

show_logs() {  # dir
    local f
    for f in "$1"/*.log; do
        [ -s "$f" ] || continue
        echo "---- $f (last 15 lines)" >&2
        tail -n 15 "$f" >&2
    done
}

# start server variant tag -> sets $port, $dir, spid[server]; 1 if it does
# not come up (logs shown)
start_cfg() {
    local s=$1 variant=$2 tag=$3 conf t0
    dir=$work/$s/$tag
    mkdir -p "$dir"
    pick_port
    case $s in
        knot) mkdir -p "$dir/db" "$dir/run"; conf=$dir/knot.conf ;;
        nsd) mkdir -p "$dir/xfr"; conf=$dir/nsd.conf ;;
        pharos) conf=$dir/pharos.toml ;;
    esac
    python3 "$edge" config "$s" "$variant" "$dir" "$port" "$work" \
        --rrl-rate "$rrl_rate" --slip "$slip" >"$conf" || return 1
    case $s in
        knot) if command -v knotc >/dev/null 2>&1; then
                  knotc -c "$conf" conf-check >"$dir/conf-check.log" 2>&1 || {
                      cat "$dir/conf-check.log" >&2; return 1; }
              fi ;;
        nsd) if command -v nsd-checkconf >/dev/null 2>&1; then
                 nsd-checkconf "$conf" >"$dir/conf-check.log" 2>&1 || {
                     cat "$dir/conf-check.log" >&2; return 1; }
             fi ;;
    esac
    t0=$EPOCHREALTIME
    case $s in  # nice execs the server: $! is the server's pid
        knot)   nice -n "$nice_level" "$KNOTD" -c "$conf" >"$dir/stdout.log" 2>&1 & ;;
        nsd)    nice -n "$nice_level" "$NSD" -d -c "$conf" >"$dir/stdout.log" 2>&1 & ;;
        pharos) nice -n "$nice_level" "$PHAROS" serve --config "$conf" >"$dir/stdout.log" 2>&1 & ;;
    esac
    spid[$s]=$!
    if ! python3 "$lib" wait-auth 127.0.0.1 "$port" bench.test,edge.test "$t0" 60 "${spid[$s]}" \
            --also mail.edge.test >/dev/null; then
        echo "  $s: did not answer the SOA of bench.test and edge.test authoritatively" >&2
        show_logs "$dir"
        stop_server "$s"
        return 1
    fi
    echo "  $s ($variant): pid ${spid[$s]} on 127.0.0.1:$port"
}

finish_server() {  # server
    local s=$1
    if [ -n "${spid[$s]:-}" ] && ! kill -0 "${spid[$s]}" 2>/dev/null; then
        echo "bench-edge: $s exited during the run" >&2
        show_logs "$dir"
    fi
    stop_server "$s"
}

fail() {  # measure server status [variant]
    python3 "$edge" fail --out "$results" --measure "$1" --server "$2" --status "$3" \
        --variant "${4:-}"
}

common_args() {  # server -> the arguments every measure takes
    printf '%s\n' --out "$results" --server "$1" --pid "${spid[$1]}" --port "$port" \
        --work "$work" --log "$dir/measure.log"
}

# capacity server mix -> sets $cap (0 if it failed)
capacity() {
    local s=$1 mix=$2 args
    cap=0
    mapfile -t args < <(common_args "$s")
    rm -f "$dir/capacity"
    helper "$edge" capacity "${args[@]}" --duration "$cap_duration" --flooder "$FLOODER" \
        --mix "$mix" --qps-file "$dir/capacity" || return 1
    cap=$(cat "$dir/capacity")
}

busy=$(python3 "$lib" busy 1)
echo "bench-edge: machine busy before the runs: $busy cores"
if awk -v b="$busy" 'BEGIN { exit !(b > 0.25) }'; then
    echo "bench-edge: WARNING: other processes are using CPU; the figures will be noisy" >&2
fi

for m in "${measure_list[@]}"; do
    echo
    case $m in
        reflection) echo "=== 1. reflection: spoofed flood at 2x capacity, ${duration} s, RRL ${rrl_rate}/s slip $slip" ;;
        cost) echo "=== 2. query cost with RRL and cookies, ${cost_duration} s per run" ;;
        overload) echo "=== 3. overload: realistic mix at 2x capacity from 254 sources, ${duration} s, RRL high" ;;
    esac
    for s in "${server_list[@]}"; do
        if [ "$s" = pharos ] && [ -n "$pharos_error" ]; then
            echo "  pharos: $pharos_error"
            fail "$m" pharos "$pharos_error"
            continue
        fi
        case $m in
        reflection)
            flood_rate=$rate; cap=0
            if [ "$rate" = 0 ]; then
                # capacity without limiting, then the flood with RRL on
                if ! start_cfg "$s" exempt cap-flood; then fail capacity-flood "$s" fail:start; fail "$m" "$s" fail:start; continue; fi
                capacity "$s" flood
                finish_server "$s"
                if [ "$cap" = 0 ]; then fail "$m" "$s" fail:capacity; continue; fi
                flood_rate=$((2 * cap))
            fi
            if ! start_cfg "$s" limit reflection; then fail "$m" "$s" fail:start; continue; fi
            mapfile -t args < <(common_args "$s")
            helper "$edge" reflection "${args[@]}" --duration "$duration" --flooder "$FLOODER" \
                --rate "$flood_rate" --capacity "$cap" --legit-rate "$legit_rate" || true
            finish_server "$s"
            ;;
        cost)
            for variant in rrl-on rrl-off valid-cookie; do
                cfg=high; [ "$variant" = rrl-off ] && cfg=off
                if ! start_cfg "$s" "$cfg" "cost-$variant"; then fail "$m" "$s" fail:start "$variant"; continue; fi
                mapfile -t args < <(common_args "$s")
                helper "$edge" cost "${args[@]}" --duration "$cost_duration" --rate "$cost_rate" --dnsperf "$DNSPERF" \
                    --queries "$work/queries/small.txt" --variant "$variant" || true
                finish_server "$s"
                sleep 1
            done
            ;;
        overload)
            if ! start_cfg "$s" exempt overload; then fail capacity-legit "$s" fail:start; fail "$m" "$s" fail:start; continue; fi
            flood_rate=$rate; cap=0
            if [ "$rate" = 0 ]; then
                capacity "$s" legit
                if [ "$cap" = 0 ]; then fail "$m" "$s" fail:capacity; finish_server "$s"; continue; fi
                flood_rate=$((2 * cap))
                sleep 1
            fi
            mapfile -t args < <(common_args "$s")
            helper "$edge" overload "${args[@]}" --duration "$duration" --flooder "$FLOODER" \
                --rate "$flood_rate" --capacity "$cap" --probe-rate "$probe_rate" || true
            finish_server "$s"
            ;;
        esac
        sleep 1
    done
done

[ -s "$results" ] || die "no results"
python3 "$here/bench/edgereport.py" "$results" "$summary" "$work/meta.txt"
rc=$?
echo
echo "results: $results (one JSON record per run)"
echo "         $summary (records, ratios, targets, the run's settings and versions)"
echo "         $work/<server>/<run>/ (configs, server logs, measure.log: dnsperf and flooder output)"
exit $rc
