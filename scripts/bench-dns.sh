#!/usr/bin/env bash
# bench-dns.sh: load the same zones into pharos, Knot DNS and NSD, one after
# the other, and run dnsperf against each over UDP and TCP (loopback only).
# For every server it prints queries per second and the server's CPU time per
# answered query (from /proc, summed over the server's process tree), the time
# to load a 1,000,000-record zone and the memory it then holds, and the ratios
# pharos/Knot and NSD/Knot.  See scripts/bench/README.md.
#
# usage: scripts/bench-dns.sh [options]
#   --servers LIST     comma-separated subset of pharos,knot,nsd  [pharos,knot,nsd]
#   --skip-big         only the small zone (no 1M-record zone, no big-* scenarios)
#   --quick            3 s per dnsperf run (same as --duration 3)
#   --duration N       seconds per dnsperf run                    [10]
#   --clients N        dnsperf clients (-c) for UDP runs           [4]
#   --tcp-clients N    dnsperf clients (-c) = TCP connections      [8]
#   --tcp-per-conn N   queries per TCP connection before dnsperf reconnects
#                      (-O num-queries-per-conn); 0 = one connection for
#                      the whole run, pipelined                   [0]
#   --outstanding N    dnsperf max outstanding queries (-q)        [100]
#   --repeat N         rounds of every run; tables show medians    [1]
#   --max-qps N        dnsperf -Q (rate limit); 0 = unlimited      [0]
#   --big-count N      records in big.test                         [1000000]
#   --port N           first loopback port to try                  [53700]
#   --load-timeout N   seconds to wait for a server to load        [180]
#   --nice N           run the servers and dnsperf at this nice level (root
#                      only for N < 0), to keep a build elsewhere on the
#                      machine from skewing the figures           [0]
#   --build            run `cargo build --release` even if target/release/pharos exists
#   --keep             keep the whole work dir (zones, server data); otherwise
#                      only results, configs and logs are kept
#   -h, --help
# environment: PHAROS_BIN=path  bench this pharos binary (no build)
# exit status: 0 all runs done, 1 a server failed to build/load/answer, 2 setup error
set -uo pipefail
# shellcheck source=scripts/bench/common.sh
. "$(dirname "$0")/bench/common.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
lib=$here/bench/benchlib.py

servers=pharos,knot,nsd
skip_big=0
duration=10
clients=4
tcp_clients=8
outstanding=100
tcp_per_conn=0
repeat=1
max_qps=0
big_count=1000000
port_base=53700
load_timeout=180
nice_level=0
build=0
keep=0

usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'; }
die() { echo "bench-dns: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case $1 in
        --servers) servers=${2:?--servers needs a value}; shift ;;
        --servers=*) servers=${1#*=} ;;
        --skip-big) skip_big=1 ;;
        --quick) duration=3 ;;
        --duration) duration=${2:?}; shift ;;
        --duration=*) duration=${1#*=} ;;
        --clients) clients=${2:?}; shift ;;
        --clients=*) clients=${1#*=} ;;
        --tcp-clients) tcp_clients=${2:?}; shift ;;
        --tcp-clients=*) tcp_clients=${1#*=} ;;
        --tcp-per-conn) tcp_per_conn=${2:?}; shift ;;
        --tcp-per-conn=*) tcp_per_conn=${1#*=} ;;
        --outstanding) outstanding=${2:?}; shift ;;
        --outstanding=*) outstanding=${1#*=} ;;
        --repeat) repeat=${2:?}; shift ;;
        --repeat=*) repeat=${1#*=} ;;
        --max-qps) max_qps=${2:?}; shift ;;
        --max-qps=*) max_qps=${1#*=} ;;
        --big-count) big_count=${2:?}; shift ;;
        --big-count=*) big_count=${1#*=} ;;
        --port) port_base=${2:?}; shift ;;
        --port=*) port_base=${1#*=} ;;
        --load-timeout) load_timeout=${2:?}; shift ;;
        --load-timeout=*) load_timeout=${1#*=} ;;
        --nice) nice_level=${2:?}; shift ;;
        --nice=*) nice_level=${1#*=} ;;
        --build) build=1 ;;
        --keep) keep=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done
for v in duration repeat clients tcp_clients tcp_per_conn outstanding max_qps big_count port_base load_timeout; do
    is_uint "${!v}" || die "--${v//_/-} must be a non-negative integer, got '${!v}'"
done
[[ $nice_level =~ ^-?[0-9]+$ ]] || die "--nice must be an integer, got '$nice_level'"
if [ "$nice_level" -lt 0 ] && [ "$(id -u)" != 0 ]; then
    echo "bench-dns: --nice $nice_level needs root; running at nice 0" >&2
    nice_level=0
fi
[ "$duration" -gt 0 ] || die "--duration must be > 0"
[ "$repeat" -gt 0 ] || die "--repeat must be > 0"
[ "$big_count" -gt 0 ] || die "--big-count must be > 0 (use --skip-big for no big zone)"

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

# ------------------------------------------------------------------ tools
missing=()
DNSPERF=$(find_bin dnsperf) || missing+=(dnsperf)
if has knot; then KNOTD=$(find_bin knotd) || missing+=(knot); fi
if has nsd; then NSD=$(find_bin nsd) || missing+=(nsd); fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench-dns: missing: ${missing[*]}" >&2
    echo "bench-dns: install with: apt-get install -y knot nsd dnsperf" >&2
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
        echo "bench-dns: cargo build --release (in $repo)" >&2
        if ! (cd "$repo" && cargo build --release --bin pharos) >&2; then
            pharos_error="fail:build"
            echo "bench-dns: pharos does not build; it is reported as failed" >&2
        fi
    fi
    if [ -z "$pharos_error" ] && [ ! -x "$PHAROS" ]; then
        pharos_error="fail:no-binary"
        echo "bench-dns: $PHAROS not found after the build" >&2
    fi
fi

# --------------------------------------------------------- work dir, cleanup
work=$(mktemp -d /tmp/pharos-bench.XXXXXX) || die "mktemp failed"
results=$work/results.tsv
results_json=$work/results.json
declare -A spid=() sport=()

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
        echo "bench-dns: $s (pid $pid) did not stop on TERM, sending KILL" >&2
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
        echo "bench-dns: work dir kept: $work" >&2
    elif [ -d "$work" ]; then
        # keep what is small and worth reading: results, configs, logs
        rm -rf "$work/zones" "$work/queries" "$work"/*/db "$work"/*/pharos-var \
            "$work"/*/xfr "$work"/*/run
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
    echo "dnsperf=$("$DNSPERF" -h 2>&1 | sed -n 's/^Version //p' | head -n 1)"
    if has knot; then echo "knot=$("$KNOTD" --version 2>&1 | head -n 1)"; fi
    if has nsd; then echo "nsd=$("$NSD" -v 2>&1 | head -n 1)"; fi
    if has pharos; then
        rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
        if [ -n "$(git -C "$repo" status --porcelain -- src Cargo.toml 2>/dev/null)" ]; then rev=$rev+dirty; fi
        echo "pharos=$rev"
    fi
    echo "duration_s=$duration"
    echo "repeat=$repeat"
    echo "udp_clients=$clients"
    echo "tcp_clients=$tcp_clients"
    echo "outstanding=$outstanding"
    echo "tcp_per_conn=$tcp_per_conn"
    echo "max_qps=$max_qps"
    echo "nice=$nice_level"
    echo "big_count=$([ "$skip_big" = 1 ] && echo 0 || echo "$big_count")"
    echo "servers=$(IFS=,; echo "${server_list[*]}")"
} >"$work/meta.txt"
sed 's/^/  /' "$work/meta.txt"
echo "bench-dns: work dir $work"

# ------------------------------------------------------------------- zones
zones=(bench.test)
[ "$skip_big" = 1 ] || zones+=(big.test)
echo "bench-dns: generating zones and query files..."
t=$SECONDS
gen_args=("$work")
if [ "$skip_big" = 1 ]; then gen_args+=(--skip-big); else gen_args+=(--big-count "$big_count"); fi
python3 "$lib" gen-zones "${gen_args[@]}" || die "zone generation failed"
msg="$(wc -l <"$work/queries/small.txt") small queries"
[ "$skip_big" = 1 ] || msg="$msg, $(wc -l <"$work/queries/big.txt") big queries"
echo "bench-dns: zones ready in $((SECONDS - t)) s: ${zones[*]} ($msg)"

# ----------------------------------------------------------------- servers
next_port=$port_base

fill() {  # template dir port -> stdout
    sed -e "s|@DIR@|$2|g" -e "s|@PORT@|$3|g" -e "s|@ZONEDIR@|$work/zones|g" \
        -e "s|@NSD_SERVERS@|$(nproc)|g" "$here/bench/$1"
}

write_config() {  # server dir port -> sets $conf
    local s=$1 dir=$2 p=$3 z
    mkdir -p "$dir"
    case $s in
        knot)
            mkdir -p "$dir/db" "$dir/run"
            conf=$dir/knot.conf
            { fill knot.conf.in "$dir" "$p"
              for z in "${zones[@]}"; do echo "  - domain: $z"; done; } >"$conf"
            if command -v knotc >/dev/null 2>&1; then
                knotc -c "$conf" conf-check >"$dir/conf-check.log" 2>&1 || {
                    cat "$dir/conf-check.log" >&2; return 1; }
            fi ;;
        nsd)
            mkdir -p "$dir/xfr"
            conf=$dir/nsd.conf
            { fill nsd.conf.in "$dir" "$p"
              for z in "${zones[@]}"; do
                  printf 'zone:\n    name: "%s"\n    zonefile: "%s.zone"\n' "$z" "$z"
              done; } >"$conf"
            if command -v nsd-checkconf >/dev/null 2>&1; then
                nsd-checkconf "$conf" >"$dir/conf-check.log" 2>&1 || {
                    cat "$dir/conf-check.log" >&2; return 1; }
            fi ;;
        pharos)
            conf=$dir/pharos.toml
            { fill pharos.toml.in "$dir" "$p"
              for z in "${zones[@]}"; do
                  printf '\n[[zone]]\nname = "%s"\nfile = "%s/zones/%s.zone"\n' "$z" "$work" "$z"
              done; } >"$conf"
            # a warning only: serve is what counts (and reports its own errors)
            "$PHAROS" check-config "$conf" >"$dir/conf-check.log" 2>&1 || {
                echo "  pharos check-config $conf failed:" >&2
                sed 's/^/    /' "$dir/conf-check.log" >&2; } ;;
    esac
}

start_server() {  # server dir conf -> sets spid[server], t0
    local s=$1 dir=$2 c=$3
    t0=$EPOCHREALTIME
    case $s in  # nice execs the server: $! is the server's pid
        knot)   nice -n "$nice_level" "$KNOTD" -c "$c" >"$dir/stdout.log" 2>&1 & ;;
        nsd)    nice -n "$nice_level" "$NSD" -d -c "$c" >"$dir/stdout.log" 2>&1 & ;;
        pharos) nice -n "$nice_level" "$PHAROS" serve --config "$c" >"$dir/stdout.log" 2>&1 & ;;
    esac
    spid[$s]=$!
}

show_logs() {  # dir
    local f
    for f in "$1"/*.log; do
        [ -s "$f" ] || continue
        echo "---- $f (last 15 lines)" >&2
        tail -n 15 "$f" >&2
    done
}

scenarios=(small-udp small-tcp)
[ "$skip_big" = 1 ] || scenarios+=(big-udp big-tcp)
all_scenarios=("${scenarios[@]}")
[ "$skip_big" = 1 ] || all_scenarios+=(big-load)

fail_all() {  # server status
    local sc
    for sc in "${all_scenarios[@]}"; do
        python3 "$lib" fail-row --out "$results" --scenario "$sc" --server "$1" --status "$2"
    done
}

# Load phase: start the servers one at a time (each loads alone, the ones
# before it idle), measure load time and memory, and leave them running.
live=()
zlist=$(IFS=,; echo "${zones[*]}")
# the last record of big.test too, in case a server answers before it is all in
also=""; [ "$skip_big" = 1 ] || also=h$((big_count - 1)).big.test
for s in "${server_list[@]}"; do
    echo
    echo "=== load: $s"
    if [ "$s" = pharos ] && [ -n "$pharos_error" ]; then
        echo "  pharos: $pharos_error"
        fail_all pharos "$pharos_error"
        continue
    fi
    dir=$work/$s
    pick_port
    if ! write_config "$s" "$dir" "$port"; then
        echo "  $s: config rejected" >&2
        fail_all "$s" fail:config
        continue
    fi
    start_server "$s" "$dir" "$conf"
    sport[$s]=$port
    echo "  $s: pid ${spid[$s]} on 127.0.0.1:$port, loading ${zones[*]}..."
    if ! load_s=$(python3 "$lib" wait-auth 127.0.0.1 "$port" "$zlist" "$t0" "$load_timeout" "${spid[$s]}" --also "$also"); then
        echo "  $s: did not answer the SOA of every zone${also:+ (and $also A)} authoritatively" >&2
        show_logs "$dir"
        fail_all "$s" fail:load
        stop_server "$s"
        continue
    fi
    echo "  $s: every zone answered authoritatively after ${load_s} s"
    probe_args=(127.0.0.1 "$port"); [ "$skip_big" = 0 ] || probe_args+=(--skip-big)
    if python3 "$lib" probe "${probe_args[@]}"; then
        echo "probe_$s=ok" >>"$work/meta.txt"
    else
        echo "probe_$s=wrong answers (see the run's output)" >>"$work/meta.txt"
    fi
    if [ "$skip_big" = 0 ]; then
        sleep 1   # let the server settle (free load buffers) before reading memory
        python3 "$lib" load-row --out "$results" --server "$s" --load-s "$load_s" --pid "${spid[$s]}"
    fi
    live+=("$s")
done

# Query phase: every scenario against every live server in turn, --repeat
# rounds, so that background noise hits all servers alike.
[ ${#live[@]} -gt 0 ] || repeat=0
if [ ${#live[@]} -gt 0 ]; then
    busy=$(python3 "$lib" busy 1)
    echo
    echo "bench-dns: machine busy before the runs: $busy cores (servers idle)"
    if awk -v b="$busy" 'BEGIN { exit !(b > 0.25) }'; then
        echo "bench-dns: WARNING: other processes are using CPU; CPU/query and qps will be noisy" >&2
    fi
fi
run_perf() {  # server scenario round
    local s=$1 sc=$2 r=$3 zone qfile mode c
    case $sc in small-*) zone=bench.test; qfile=$work/queries/small.txt ;;
                *)       zone=big.test;   qfile=$work/queries/big.txt ;; esac
    case $sc in *-tcp) mode=tcp; c=$tcp_clients ;; *) mode=udp; c=$clients ;; esac
    local args=(-s 127.0.0.1 -p "${sport[$s]}" -m "$mode" -d "$qfile" -l "$duration"
                -c "$c" -q "$outstanding" -t 2)
    [ "$max_qps" = 0 ] || args+=(-Q "$max_qps")
    if [ "$mode" = tcp ] && [ "$tcp_per_conn" != 0 ]; then
        args+=(-O "num-queries-per-conn=$tcp_per_conn")
    fi
    python3 "$lib" perf --out "$results" --scenario "$sc" --server "$s" --run "$r" \
        --zone "$zone" --clients "$c" --pid "${spid[$s]}" \
        --log "$work/$s/dnsperf-$sc-$r.log" -- nice -n "$nice_level" "$DNSPERF" "${args[@]}"
}
for ((r = 1; r <= repeat; r++)); do
    for sc in "${scenarios[@]}"; do
        echo
        echo "=== $sc$([ "$repeat" -gt 1 ] && echo " (round $r of $repeat)")"
        for s in "${live[@]}"; do
            if [ -z "${spid[$s]:-}" ] || ! kill -0 "${spid[$s]}" 2>/dev/null; then
                echo "  $s: server is not running"
                python3 "$lib" fail-row --out "$results" --scenario "$sc" --server "$s" --status fail:server-died
                continue
            fi
            run_perf "$s" "$sc" "$r" || true
            sleep 1   # let TCP connections close before the next run
        done
    done
done
for s in "${live[@]}"; do
    if [ -n "${spid[$s]:-}" ] && ! kill -0 "${spid[$s]}" 2>/dev/null; then
        echo "bench-dns: $s exited during the runs" >&2
        show_logs "$work/$s"
    fi
    stop_server "$s"
done

[ -s "$results" ] || die "no results"
python3 "$lib" report "$results" "$results_json" "$work/meta.txt"
rc=$?
echo
echo "results: $results (one row per run)"
echo "         $results_json (runs, medians, ratios, target verdict)"
exit $rc
