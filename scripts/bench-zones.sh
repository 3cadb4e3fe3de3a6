#!/usr/bin/env bash
# bench-zones.sh: many small secondary zones, for pharos against Knot DNS and
# NSD in the same run (loopback only).  A Knot primary serves N generated
# zones; each secondary transfers all of them once and is stopped with its
# copy on disk; then, with the primary down, each is started R times and
# measured:
#   - start time: from exec until every zone's SOA is answered NOERROR + AA
#                 (it can only serve them from disk);
#   - memory:     RSS and PSS of its process tree once all are served.
# Target (issue 5): pharos needs less memory and starts faster than both.
# See scripts/bench/zones-README.md.
#
# usage: scripts/bench-zones.sh [options]
#   --zones N          secondary zones (z00001.bench ...)            [10000]
#   --records N        records per zone (SOA, 2 NS, 2 glue, then
#                      A/AAAA/MX/TXT)                                [12]
#   --rounds N         restarts from disk per secondary (medians)    [3]
#   --servers LIST     secondaries, subset of pharos,knot,nsd        [pharos,knot,nsd]
#   --port N           first loopback port to try; keep it below the
#                      kernel's ephemeral range (see the README)     [31900]
#   --settle N         seconds between "all served" and the memory
#                      reading (the server idle, nothing polled)     [2]
#   --log-level L      info or warn, the same for every server
#                      (pharos PHAROS_LOG, Knot any:, NSD verbosity) [info]
#   --timeout N        seconds to wait for a restart to serve all    [300]
#   --xfr-timeout N    seconds to wait for the first transfers       [900]
#   --poll-window N    SOA queries in flight at most                 [256]
#   --poll-ms N        a new polling pass at most every N ms         [50]
#   --build            run `cargo build --release` even if target/release/pharos exists
#   --keep             keep the whole work dir (zones, server data); otherwise
#                      only results, configs and logs are kept
#   -h, --help
# environment: PHAROS_BIN=path  bench this pharos binary (no build)
# exit status: 0 all runs done, 1 a server failed to build/load/transfer/answer,
#              2 setup error.  Missing the target is not an error: read `target`.
set -uo pipefail
# shellcheck source=scripts/bench/common.sh
. "$(dirname "$0")/bench/common.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
zpy=$here/bench/zones.py
lib=$here/bench/benchlib.py

zones=10000
records=12
rounds=3
servers=pharos,knot,nsd
port_base=31900
settle=2
log_level=info
timeout=300
xfr_timeout=900
poll_window=256
poll_ms=50
build=0
keep=0

usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'; }
die() { echo "bench-zones: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case $1 in
        --zones) zones=${2:?--zones needs a value}; shift ;;
        --zones=*) zones=${1#*=} ;;
        --records) records=${2:?}; shift ;;
        --records=*) records=${1#*=} ;;
        --rounds) rounds=${2:?}; shift ;;
        --rounds=*) rounds=${1#*=} ;;
        --servers) servers=${2:?}; shift ;;
        --servers=*) servers=${1#*=} ;;
        --port) port_base=${2:?}; shift ;;
        --port=*) port_base=${1#*=} ;;
        --settle) settle=${2:?}; shift ;;
        --settle=*) settle=${1#*=} ;;
        --log-level) log_level=${2:?}; shift ;;
        --log-level=*) log_level=${1#*=} ;;
        --timeout) timeout=${2:?}; shift ;;
        --timeout=*) timeout=${1#*=} ;;
        --xfr-timeout) xfr_timeout=${2:?}; shift ;;
        --xfr-timeout=*) xfr_timeout=${1#*=} ;;
        --poll-window) poll_window=${2:?}; shift ;;
        --poll-window=*) poll_window=${1#*=} ;;
        --poll-ms) poll_ms=${2:?}; shift ;;
        --poll-ms=*) poll_ms=${1#*=} ;;
        --build) build=1 ;;
        --keep) keep=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done
for v in zones records rounds port_base settle timeout xfr_timeout poll_window poll_ms; do
    is_uint "${!v}" || die "--${v//_/-} must be a non-negative integer, got '${!v}'"
done
[ "$zones" -gt 0 ] || die "--zones must be > 0"
[ "$records" -ge 5 ] || die "--records must be >= 5 (SOA, 2 NS, 2 glue A)"
[ "$rounds" -gt 0 ] || die "--rounds must be > 0"
[ "$settle" -gt 0 ] || die "--settle must be > 0"
[ "$timeout" -gt 0 ] || die "--timeout must be > 0"
[ "$xfr_timeout" -gt 0 ] || die "--xfr-timeout must be > 0"
[ "$poll_window" -gt 0 ] || die "--poll-window must be > 0"
[ "$poll_ms" -gt 0 ] || die "--poll-ms must be > 0"
case $log_level in
    info) knot_log=info; nsd_verbosity=1; pharos_log=info ;;
    warn|warning) log_level=warn; knot_log=warning; nsd_verbosity=0; pharos_log=warn ;;
    *) die "--log-level: info or warn, got '$log_level'" ;;
esac

server_list=()
IFS=, read -r -a req <<<"$servers"
for s in "${req[@]}"; do
    case $s in
        pharos|knot|nsd) [[ " ${server_list[*]} " == *" $s "* ]] || server_list+=("$s") ;;
        "") ;;
        *) die "--servers: unknown secondary '$s' (choose from pharos,knot,nsd)" ;;
    esac
done
[ ${#server_list[@]} -gt 0 ] || die "--servers: empty list"

# ------------------------------------------------------------------ tools
missing=()
KNOTD=$(find_bin knotd) || missing+=(knot)      # the primary is always Knot
KNOTC=$(find_bin knotc) || missing+=(knot)
if has nsd; then
    NSD=$(find_bin nsd) || missing+=(nsd)
    NSDC=$(find_bin nsd-control) || missing+=(nsd)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench-zones: missing: ${missing[*]}" >&2
    echo "bench-zones: install with: apt-get install -y knot nsd knot-dnsutils" >&2
    exit 2
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed (apt-get install -y python3)"
# the interpreter itself, not a wrapper (a pyenv shim adds ~0.2 s per call)
PY=$(python3 -c 'import sys; print(sys.executable)') || die "python3 does not run"
[ -e /proc/self/smaps_rollup ] || die "/proc/PID/smaps_rollup is needed (Linux >= 4.14)"
# pharos opens a UDP socket per zone to ask its primaries: up to one per
# zone at once (see the README)
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt $((zones + 1024)) ]; then
    ulimit -n $((zones + 1024)) 2>/dev/null ||
        echo "bench-zones: WARNING: ulimit -n is $nofile for $zones zones" >&2
fi

PHAROS=${PHAROS_BIN:-$repo/target/release/pharos}
pharos_error=""
if has pharos; then
    if [ -n "${PHAROS_BIN:-}" ]; then
        [ -x "$PHAROS" ] || die "PHAROS_BIN=$PHAROS is not an executable"
    elif [ "$build" = 1 ] || [ ! -x "$PHAROS" ]; then
        command -v cargo >/dev/null 2>&1 || die "cargo not found (needed to build pharos; or use --servers knot,nsd)"
        echo "bench-zones: cargo build --release (in $repo)" >&2
        if ! (cd "$repo" && cargo build --release --bin pharos) >&2; then
            if [ -x "$PHAROS" ]; then
                echo "bench-zones: pharos does not build now; benching the existing $PHAROS" >&2
            else
                pharos_error="fail:build"
                echo "bench-zones: pharos does not build; it is reported as failed" >&2
            fi
        fi
    fi
    if [ -z "$pharos_error" ] && [ ! -x "$PHAROS" ]; then
        pharos_error="fail:no-binary"
        echo "bench-zones: $PHAROS not found after the build" >&2
    fi
fi

# --------------------------------------------------------- work dir, cleanup
work=$(mktemp -d /tmp/pharos-bench-zones.XXXXXX) || die "mktemp failed"
results=$work/results.tsv
results_json=$work/results.json
declare -A spid=()
helper=""   # pid of a running python helper (run in the background and
            # waited for, so that a signal is handled at once)

run_helper() {  # command...: runs it, returns its exit status
    "$@" &
    helper=$!
    wait "$helper"
    local rc=$?
    helper=""
    return $rc
}

stop_server() {  # name (primary, pharos, knot, nsd)
    local s=$1 pid=${spid[$1]:-}
    [ -n "$pid" ] || return 0
    unset "spid[$s]"
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "bench-zones: $s (pid $pid) did not stop on TERM within 30 s, sending KILL" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local s
    if [ -n "$helper" ]; then kill -TERM "$helper" 2>/dev/null; wait "$helper" 2>/dev/null; fi
    for s in "${!spid[@]}"; do stop_server "$s"; done
    if [ "$keep" = 1 ]; then
        echo "bench-zones: work dir kept: $work" >&2
    elif [ -d "$work" ]; then
        # keep what is small and worth reading: results, configs, logs
        rm -rf "${work:?}/zones" "${work:?}/bin" "$work"/*/db "$work"/*/pharos-var \
            "$work"/*/zones "$work"/*/run "$work"/*/xfr
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# pin the binary: others may rebuild target/release/pharos during the run
if has pharos && [ -z "$pharos_error" ]; then
    mkdir -p "$work/bin"
    cp "$PHAROS" "$work/bin/pharos" || die "cannot copy $PHAROS"
    PHAROS_SRC=$PHAROS
    PHAROS=$work/bin/pharos
fi

# ----------------------------------------------------------------- run info
{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host=$(uname -srm)"
    echo "cpus=$(nproc)"
    echo "cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "knot=$("$KNOTD" --version 2>&1 | head -n 1)"
    if has nsd; then echo "nsd=$("$NSD" -v 2>&1 | head -n 1)"; fi
    if has pharos; then
        rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
        if [ -n "$(git -C "$repo" status --porcelain -- src Cargo.toml 2>/dev/null)" ]; then rev=$rev+dirty; fi
        echo "pharos=$rev"
        [ -z "$pharos_error" ] &&
            echo "pharos_bin=$PHAROS_SRC ($(date -u -r "$PHAROS_SRC" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null))"
    fi
    echo "servers=$(IFS=,; echo "${server_list[*]}")"
    echo "zones=$zones"
    echo "records=$records"
    echo "rounds=$rounds"
    echo "settle_s=$settle"
    echo "log_level=$log_level"
    echo "poll=window $poll_window, a pass at most every $poll_ms ms"
    echo "ulimit_n=$(ulimit -n)"
} >"$work/meta.txt"
sed 's/^/  /' "$work/meta.txt"
echo "bench-zones: work dir $work"

echo "bench-zones: generating $zones zones ($records records each)..."
t=$SECONDS
"$PY" "$zpy" gen-zones "$work" --zones "$zones" --records "$records" || die "zone generation failed"
zlist=$work/zones.txt
echo "bench-zones: zones ready in $((SECONDS - t)) s"

# -------------------------------------------------------------------- ports
next_port=$port_base
# The secondaries open thousands of TCP connections to the primary: a port
# in the ephemeral range can be held by one of them (TIME_WAIT) when a
# server is started later, and its bind fails.
read -r eph_lo eph_hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { eph_lo=32768; eph_hi=60999; }
if [ "$port_base" -ge "$eph_lo" ] && [ "$port_base" -le "$eph_hi" ]; then
    echo "bench-zones: WARNING: --port $port_base is in the ephemeral range $eph_lo-$eph_hi; a server may find its port taken" >&2
fi
declare -A sport=()
pick_port; pport=$port
for s in "${server_list[@]}"; do pick_port; sport[$s]=$port; done

# ------------------------------------------------------------------ configs
P=$work/primary
mkdir -p "$P/db" "$P/run"
{ cat <<EOF
# Knot primary for scripts/bench-zones.sh: serves the generated zone files,
# never writes them back
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
"$KNOTC" -c "$P/knot.conf" conf-check >"$P/conf-check.log" 2>&1 || {
    cat "$P/conf-check.log" >&2; die "primary config rejected"; }

K=$work/knot
if has knot; then
    mkdir -p "$K"
    { cat <<EOF
# Knot DNS as a secondary, for scripts/bench-zones.sh.  Its defaults but
# for paths: the zone file is written right after a transfer
# (zonefile-sync: 0) and read at start (zonefile-load: whole); timers in
# its timer database.
server:
    identity: knot-secondary
    rundir: $K/run
    pidfile: $K/run/knot.pid
    listen: 127.0.0.1@${sport[knot]}
database:
    storage: $K/db
control:
    listen: $K/run/knot.sock
log:
  - target: $K/knot.log
    any: $knot_log
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
    zonefile-sync: 0
    zonefile-load: whole
    semantic-checks: off
zone:
EOF
      awk '{ printf "  - domain: %s\n", $1 }' "$zlist"; } >"$K/knot.conf"
    "$KNOTC" -c "$K/knot.conf" conf-check >"$K/conf-check.log" 2>&1 || {
        cat "$K/conf-check.log" >&2; die "Knot secondary config rejected"; }
fi

N=$work/nsd
if has nsd; then
    mkdir -p "$N/zones" "$N/xfr" "$N/run"
    { cat <<EOF
# NSD as a secondary, for scripts/bench-zones.sh: no database (zones live
# in memory and in their zone files, written by "nsd-control write" and
# every zonefiles-write seconds); one server process per core, as Knot and
# pharos have one UDP worker per core; RRL off (Knot and pharos have none),
# and so its table kept small: at the default rrl-size (1,000,000 buckets)
# NSD holds about 60 MiB of shared memory for it whatever the ratelimit.
server:
    ip-address: 127.0.0.1@${sport[nsd]}
    port: ${sport[nsd]}
    do-ip6: no
    server-count: $(nproc)
    username: ""
    chroot: ""
    zonesdir: "$N/zones"
    database: ""
    zonefiles-write: 3600
    zonelistfile: "$N/zone.list"
    xfrdfile: "$N/xfrd.state"
    xfrdir: "$N/xfr"
    pidfile: "$N/run/nsd.pid"
    logfile: "$N/nsd.log"
    identity: "nsd-secondary"
    verbosity: $nsd_verbosity
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    rrl-size: 1000
remote-control:
    control-enable: yes
    control-interface: "$N/run/nsd.ctl"
pattern:
    name: "secondary"
    zonefile: "%s.zone"
    request-xfr: 127.0.0.1@$pport NOKEY
    allow-notify: 127.0.0.1 NOKEY
EOF
      awk '{ printf "zone:\n    name: \"%s\"\n    include-pattern: \"secondary\"\n", $1 }' "$zlist"
    } >"$N/nsd.conf"
    if command -v nsd-checkconf >/dev/null 2>&1 || [ -x /usr/sbin/nsd-checkconf ]; then
        "$(find_bin nsd-checkconf)" "$N/nsd.conf" >"$N/conf-check.log" 2>&1 || {
            cat "$N/conf-check.log" >&2; die "NSD config rejected"; }
    fi
fi

PH=$work/pharos
if has pharos; then
    mkdir -p "$PH"
    { cat <<EOF
# pharos as a secondary, for scripts/bench-zones.sh (CONFIG.md: [node],
# [dns] listen, one [[zone]] with primaries per zone; everything else at
# its default)
[node]
id = "bench-zones"
data-dir = "$PH/pharos-var"

[dns]
listen = ["127.0.0.1:${sport[pharos]}"]
EOF
      awk -v p="127.0.0.1:$pport" '{ printf "\n[[zone]]\nname = \"%s\"\nprimaries = [\"%s\"]\n", $1, p }' "$zlist"
    } >"$PH/pharos.toml"
    if [ -z "$pharos_error" ]; then
        "$PHAROS" check-config "$PH/pharos.toml" >"$PH/conf-check.log" 2>&1 || {
            echo "  pharos check-config $PH/pharos.toml failed:" >&2
            sed 's/^/    /' "$PH/conf-check.log" | head -n 20 >&2
            pharos_error="fail:config"; }
    fi
fi

# ------------------------------------------------------------ start/stop
declare -A cur_tag=() slog=()
# start_secondary NAME TAG: starts it; sets t0 (Unix time just before the
# exec), spid[NAME] and slog[NAME] (its log, one file per start)
start_secondary() {
    local s=$1 tag=$2 i
    cur_tag[$s]=$tag
    # still free? (a TIME_WAIT connection ends within 60 s)
    for ((i = 0; i < 70; i++)); do
        "$PY" "$lib" port-free "${sport[$s]}" && break
        [ $i = 0 ] && echo "  $s: port ${sport[$s]} is in use; waiting for it (up to 70 s)" >&2
        sleep 1
    done
    case $s in
        pharos)
            slog[$s]=$PH/pharos-$tag.log
            t0=$EPOCHREALTIME
            PHAROS_LOG=$pharos_log "$PHAROS" serve --config "$PH/pharos.toml" >"${slog[$s]}" 2>&1 & ;;
        knot)
            slog[$s]=$K/knot.log
            rm -f "${slog[$s]}"
            mkdir -p "$K/run" "$K/db" "$K/zones"
            t0=$EPOCHREALTIME
            "$KNOTD" -c "$K/knot.conf" >"$K/stdout-$tag.log" 2>&1 & ;;
        nsd)
            slog[$s]=$N/nsd.log
            rm -f "${slog[$s]}"
            mkdir -p "$N/run" "$N/xfr" "$N/zones"
            t0=$EPOCHREALTIME
            "$NSD" -d -c "$N/nsd.conf" >"$N/stdout-$tag.log" 2>&1 & ;;
    esac
    spid[$s]=$!
}
stop_secondary() {
    local s=$1
    stop_server "$s"
    # Knot and NSD log to one file (set in their config): keep one per start
    case $s in
        knot) [ -f "$K/knot.log" ] && mv "$K/knot.log" "$K/knot-${cur_tag[$s]}.log" ;;
        nsd) [ -f "$N/nsd.log" ] && mv "$N/nsd.log" "$N/nsd-${cur_tag[$s]}.log" ;;
    esac
    return 0
}
persisted_count() {  # NAME -> number of zone copies on disk
    case $1 in
        pharos) find "$PH/pharos-var/zones" -maxdepth 1 -name '*.bench.zone.bin' 2>/dev/null | wc -l ;;
        knot) find "$K/zones" -maxdepth 1 -name '*.bench.zone' 2>/dev/null | wc -l ;;
        nsd) find "$N/zones" -maxdepth 1 -name '*.bench.zone' 2>/dev/null | wc -l ;;
    esac
}
show_log() {  # file
    [ -s "$1" ] || return 0
    echo "---- $1 (last 15 lines)" >&2
    tail -n 15 "$1" >&2
}
fail_row() {  # scenario server run status
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" | "$PY" -c '
import sys; sys.path.insert(0, sys.argv[1]); import zones
sc, srv, run, st = sys.stdin.read().rstrip("\n").split("\t")
zones.append_row(sys.argv[2], {"scenario": sc, "server": srv, "run": run, "status": st})
' "$here/bench" "$results"
}
measure() {  # scenario server run timeout poll-interval-ms
    run_helper "$PY" "$zpy" measure --scenario "$1" --server "$2" --run "$3" \
        --port "${sport[$2]}" --zones-file "$zlist" --t0 "$t0" --pid "${spid[$2]}" \
        --out "$results" --timeout "$4" --settle "$settle" --log "${slog[$2]}" \
        --window "$poll_window" --interval "$(awk -v m="$5" 'BEGIN { print m / 1000 }')"
}

# ------------------------------------------------------------------ primary
echo
echo "=== primary: knotd on 127.0.0.1:$pport, $zones zones"
t0=$EPOCHREALTIME
"$KNOTD" -c "$P/knot.conf" >"$P/stdout.log" 2>&1 &
spid[primary]=$!
if ! run_helper "$PY" "$zpy" wait --port "$pport" --zones-file "$zlist" --t0 "$t0" \
        --pid "${spid[primary]}" --timeout "$xfr_timeout" >"$P/loaded_s"; then
    show_log "$P/knot.log"
    die "the primary did not load its zones"
fi
secs=$(cat "$P/loaded_s")
echo "primary_load_s=$secs" >>"$work/meta.txt"
echo "  primary: serving all $zones zones after $secs s"

# -------------------------------------- first start: transfer everything
# Each secondary starts with empty storage, transfers every zone from the
# primary, and is stopped once all are served and its copies are on disk.
declare -A usable=()
for s in "${server_list[@]}"; do
    echo
    echo "=== $s: first start, every zone transferred from the primary"
    if [ "$s" = pharos ] && [ -n "$pharos_error" ]; then
        echo "  pharos: $pharos_error"
        fail_row xfr pharos 1 "$pharos_error"
        fail_row start pharos 1 "$pharos_error"
        continue
    fi
    start_secondary "$s" xfr
    echo "  $s: pid ${spid[$s]} on 127.0.0.1:${sport[$s]}"
    # (polled once a second: this phase is for information, and a server
    # answering SERVFAIL meanwhile should not be kept busy by the poller)
    if ! measure xfr "$s" 1 "$xfr_timeout" 1000; then
        show_log "${slog[$s]}"
        stop_secondary "$s"
        fail_row start "$s" 1 fail:first-transfer
        continue
    fi
    # make sure every copy is on disk before the stop
    case $s in
        knot) "$KNOTC" -c "$K/knot.conf" -b -t 600 zone-flush >"$K/flush.log" 2>&1 ||
                  { echo "  knot: zone-flush failed:" >&2; tail -n 5 "$K/flush.log" >&2; } ;;
        nsd) "$NSDC" -c "$N/nsd.conf" write >"$N/write.log" 2>&1 ||
                  { echo "  nsd: nsd-control write failed:" >&2; tail -n 5 "$N/write.log" >&2; } ;;
    esac
    # NSD writes in the background: wait until every file is there
    for _ in $(seq 1 600); do
        [ "$(persisted_count "$s")" -ge "$zones" ] && break
        sleep 0.1
    done
    stop_secondary "$s"
    n=$(persisted_count "$s")
    echo "  $s: $n of $zones zone copies on disk ($(du -sh "$work/$s" | cut -f1) in $work/$s)"
    if [ "$n" -lt "$zones" ]; then
        echo "  $s: not every zone was persisted; it is not restarted" >&2
        fail_row start "$s" 1 fail:not-persisted
        continue
    fi
    usable[$s]=1
done
stop_server primary
echo
echo "=== primary stopped: from now on the secondaries can only serve from disk"

busy=$("$PY" "$lib" busy 1)
echo "busy_before_s=$busy" >>"$work/meta.txt"
echo "  machine busy before the restarts: $busy cores"
if awk -v b="$busy" 'BEGIN { exit !(b > 0.25) }'; then
    echo "bench-zones: WARNING: other processes are using CPU; times will be noisy (ratios within this run still compare)" >&2
fi

# ------------------------------------------------------ restarts from disk
# Round r starts with the r-th secondary (rotating), so none is always first.
live=()
for s in "${server_list[@]}"; do [ -n "${usable[$s]:-}" ] && live+=("$s"); done
for ((r = 1; r <= rounds; r++)); do
    [ ${#live[@]} -gt 0 ] || break
    echo
    echo "=== restart round $r of $rounds"
    for ((i = 0; i < ${#live[@]}; i++)); do
        s=${live[$(((i + r - 1) % ${#live[@]}))]}
        start_secondary "$s" "start-$r"
        if ! measure start "$s" "$r" "$timeout" "$poll_ms"; then
            show_log "${slog[$s]}"
        fi
        stop_secondary "$s"
    done
done

[ -s "$results" ] || die "no results"
"$PY" "$zpy" report "$results" "$results_json" "$work/meta.txt"
rc=$?
echo
echo "results: $results (one row per start)"
echo "         $results_json (rows, medians, ratios, target verdict)"
echo "         logs and configs: $work/{primary,pharos,knot,nsd}/"
exit $rc
