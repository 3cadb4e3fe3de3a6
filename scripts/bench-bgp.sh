#!/usr/bin/env bash
# bench-bgp.sh: how fast the anycast prefixes follow DNS health, seen at a
# real BGP peer. BIRD 2 runs in its own network namespace, joined by a veth
# pair to a node namespace where pharos runs with a Knot primary beside it
# (tests/bgp-peer/peer.sh builds the namespaces; nothing leaves them).
# Measures, as issue 4 asks, with [health] interval 500ms, rise 2, fall 2:
#   - fail-withdraw:    the DNS failure (pharos starts answering the probe
#                       NXDOMAIN) until BIRD has withdrawn both prefixes
#                       (target: under 1.5 s);
#   - ok-announce:      healthy again (pharos answers the probe again) until
#                       BIRD has both prefixes (target: rise x interval + 0.5 s);
#   - sigterm-withdraw: SIGTERM to pharos until BIRD has withdrawn both
#                       prefixes (target: under 0.5 s).
# The failure: health.probe is "probe.bench.test A", a record of the
# secondary zone bench.test; it is removed on the Knot primary (knotc
# zone-unset + zone-commit; NOTIFY and IXFR bring the change to pharos in a
# few ms) and put back. The clock starts when pharos first answers the new
# way (polled every 5 ms), so the transfer is not counted.
# See scripts/bench/bgp-README.md.
#
# usage: scripts/bench-bgp.sh [options]
#   --runs N          rounds of the three measures                 [5]
#   --interval D      health.interval                              [500ms]
#   --rise N          health.rise                                  [2]
#   --fall N          health.fall                                  [2]
#   --drain D         health.drain (SIGTERM: withdraw, wait, stop) [1s]
#   --poll-ms N       birdc polling period, a cross-check of BIRD's log  [20]
#   --timeout N       seconds to wait for any one event            [30]
#   --build           run `cargo build --release` even if the binary exists
#   --keep            keep the work dir (configs, logs, results are kept anyway)
#   -h, --help
# environment: PHAROS_BIN=path  bench this pharos binary (no build);
#              otherwise ${CARGO_TARGET_DIR:-target}/release/pharos
# needs: root (network namespaces), bird2, knot, jq, python3, iproute2.
# exit status: 0 all runs done, 1 a run failed (timeout, bad exit), 2 setup
#              error. Missing a target is not an error: read the verdict.
set -uo pipefail
# shellcheck source=scripts/bench/common.sh
. "$(dirname "$0")/bench/common.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
helper=$here/bench/bgp.py
peer_sh=$repo/tests/bgp-peer/peer.sh

runs=5
interval=500ms
rise=2
fall=2
drain=1s
poll_ms=20
timeout=30
build=0
keep=0

usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'; }
die() { echo "bench-bgp: $*" >&2; exit 2; }
is_dur() { [[ $1 =~ ^[0-9]+(ms|s)$ ]]; }

while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=${2:?}; shift ;;
        --runs=*) runs=${1#*=} ;;
        --interval) interval=${2:?}; shift ;;
        --interval=*) interval=${1#*=} ;;
        --rise) rise=${2:?}; shift ;;
        --rise=*) rise=${1#*=} ;;
        --fall) fall=${2:?}; shift ;;
        --fall=*) fall=${1#*=} ;;
        --drain) drain=${2:?}; shift ;;
        --drain=*) drain=${1#*=} ;;
        --poll-ms) poll_ms=${2:?}; shift ;;
        --poll-ms=*) poll_ms=${1#*=} ;;
        --timeout) timeout=${2:?}; shift ;;
        --timeout=*) timeout=${1#*=} ;;
        --build) build=1 ;;
        --keep) keep=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done
for v in runs rise fall poll_ms timeout; do
    is_uint "${!v}" || die "--${v//_/-} must be a non-negative integer, got '${!v}'"
done
[ "$runs" -gt 0 ] || die "--runs must be > 0"
is_dur "$interval" || die "--interval must look like 500ms or 1s, got '$interval'"
is_dur "$drain" || die "--drain must look like 500ms or 1s, got '$drain'"
case $interval in *ms) interval_ms=${interval%ms} ;; *s) interval_ms=$(( ${interval%s} * 1000 )) ;; esac

# ------------------------------------------------------------------ tools
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
missing=()
BIRD=$(find_bin bird) || missing+=(bird2)
BIRDC=$(find_bin birdc) || missing+=(bird2)
KNOTD=$(find_bin knotd) || missing+=(knot)
KNOTC=$(find_bin knotc) || missing+=(knot)
find_bin jq >/dev/null || missing+=(jq)
find_bin ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench-bgp: missing: ${missing[*]}" >&2
    echo "bench-bgp: install with: apt-get install -y ${missing[*]}" >&2
    exit 2
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed"
PY=$(python3 -c 'import sys; print(sys.executable)') || die "python3 does not run"
# the helper runs birdc and knotc by name
PATH="$(dirname "$BIRDC"):$(dirname "$KNOTC"):$PATH"
export PATH

target_dir=${CARGO_TARGET_DIR:-$repo/target}
PHAROS=${PHAROS_BIN:-$target_dir/release/pharos}
if [ -n "${PHAROS_BIN:-}" ]; then
    [ -x "$PHAROS" ] || die "PHAROS_BIN=$PHAROS is not an executable"
elif [ "$build" = 1 ] || [ ! -x "$PHAROS" ]; then
    command -v cargo >/dev/null 2>&1 || die "cargo not found (needed to build pharos)"
    echo "bench-bgp: cargo build --release (in $repo)" >&2
    (cd "$repo" && cargo build --release --bin pharos) >&2 || die "pharos does not build"
fi
[ -x "$PHAROS" ] || die "$PHAROS not found"

# --------------------------------------------------------- work dir, cleanup
work=$(mktemp -d /tmp/pharos-bench-bgp.XXXXXX) || die "mktemp failed"
chmod 711 "$work"
results=$work/results.tsv
name=pb$$
export BGPT_RUN_DIR=$work/peer
mkdir -p "$BGPT_RUN_DIR"
knot_pid=""
peer_started=0

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local pid
    # pharos: the helper kills it; if the helper itself was killed, the PID
    # it wrote (only if that process still runs our config)
    if [ -f "$work/pharos.pid" ]; then
        pid=$(cat "$work/pharos.pid")
        if [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$work/pharos.toml"; then
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    if [ -n "$knot_pid" ]; then
        kill -TERM "$knot_pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$knot_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$knot_pid" 2>/dev/null
        wait "$knot_pid" 2>/dev/null
    fi
    if [ "$peer_started" = 1 ]; then
        "$peer_sh" stop "$name" >/dev/null 2>&1 || echo "bench-bgp: peer.sh stop $name failed" >&2
    fi
    if [ "$keep" = 1 ]; then
        echo "bench-bgp: work dir kept: $work" >&2
    elif [ -d "$work" ]; then
        rm -rf "${work:?}/primary/db" "${work:?}/primary/run" "${work:?}/var"
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
    echo "bird=$("$BIRD" --version 2>&1 | head -n 1)"
    echo "knot=$("$KNOTD" --version 2>&1 | head -n 1)"
    rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git -C "$repo" status --porcelain -- src Cargo.toml 2>/dev/null)" ]; then rev=$rev+dirty; fi
    echo "pharos=$rev"
    echo "pharos_bin=$PHAROS ($(date -u -r "$PHAROS" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null))"
    echo "health=interval $interval, rise $rise, fall $fall, drain $drain"
    echo "runs=$runs"
    echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$work/meta.txt"
sed 's/^/  /' "$work/meta.txt"
echo "bench-bgp: work dir $work"

# -------------------------------------------------------------------- peer
echo "bench-bgp: starting BIRD in its namespace (peer.sh start bird $name)"
# BGP_DEBUG=1: BIRD logs every route it adds or removes, with ms timestamps
SESSIONS=v4 HOLD=9 BGP_DEBUG=1 "$peer_sh" start bird "$name" >"$work/peer-start.log" 2>&1 || {
    cat "$work/peer-start.log" >&2; die "peer.sh start failed"; }
peer_started=1
eval "$("$peer_sh" env "$name")"
: "${NODE_NS:?}" "${PEER_IP4:?}" "${NODE_IP4:?}" "${NODE_IP6:?}" "${RUN_DIR:?}"
bird_sock=$RUN_DIR/bird.ctl
bird_log=$RUN_DIR/daemon.log

# ---------------------------------------------------------- Knot primary
dns_port=5353
kport=53530
P=$work/primary
mkdir -p "$P/db" "$P/run"
cat >"$P/bench.test.zone" <<'EOF'
$ORIGIN bench.test.
$TTL 300
@ SOA ns1 hostmaster 1 3600 600 86400 60
@ NS ns1
ns1 A 192.0.2.1
probe A 192.0.2.53
EOF
cat >"$P/knot.conf" <<EOF
# Knot primary for scripts/bench-bgp.sh (in the node namespace $NODE_NS)
server:
    rundir: $P/run
    pidfile: $P/run/knot.pid
    listen: 127.0.0.1@$kport
database:
    storage: $P/db
control:
    listen: $P/run/knot.sock
log:
  - target: $P/knot.log
    any: info
remote:
  - id: pharos
    address: 127.0.0.1@$dns_port
acl:
  - id: transfer
    address: 127.0.0.1
    action: transfer
template:
  - id: default
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
    serial-policy: increment
    semantic-checks: off
zone:
  - domain: bench.test.
    file: $P/bench.test.zone
    acl: transfer
    notify: pharos
EOF
"$KNOTC" -c "$P/knot.conf" conf-check >"$P/conf-check.log" 2>&1 || {
    cat "$P/conf-check.log" >&2; die "Knot config rejected"; }
ip netns exec "$NODE_NS" "$KNOTD" -c "$P/knot.conf" >"$P/stdout.log" 2>&1 &
knot_pid=$!
for _ in $(seq 1 100); do
    "$KNOTC" -c "$P/knot.conf" zone-status bench.test. 2>/dev/null | grep -q 'serial: [1-9]' && break
    kill -0 "$knot_pid" 2>/dev/null || { cat "$P/stdout.log" >&2; die "knotd exited"; }
    sleep 0.1
done
"$KNOTC" -c "$P/knot.conf" zone-status bench.test. 2>/dev/null | grep -q 'serial: [1-9]' || die "knotd did not load bench.test"

# ------------------------------------------------------------------ pharos
cat >"$work/pharos.toml" <<EOF
# pharos for scripts/bench-bgp.sh (in the node namespace $NODE_NS)
[node]
id = "$name"
data-dir = "$work/var"

[dns]
listen = ["127.0.0.1:$dns_port"]

[[zone]]
name = "bench.test"
primaries = ["127.0.0.1:$kport"]

[bgp]
enabled = true
asn = 65001
router-id = "$NODE_IP4"
announce = ["192.0.2.0/24", "2001:db8:1::/48"]
communities = ["65001:100"]

[[bgp.peer]]
address = "$PEER_IP4"
asn = 65000
local-address = "$NODE_IP4"
families = ["ipv4", "ipv6"]
ipv6-next-hop = "$NODE_IP6"
hold-time = 9

[health]
interval = "$interval"
rise = $rise
fall = $fall
drain = "$drain"
probe = "probe.bench.test A"
maintenance-file = "$work/var/maintenance"
EOF
"$PHAROS" check-config "$work/pharos.toml" >"$work/check-config.log" 2>&1 || {
    cat "$work/check-config.log" >&2; die "pharos rejects its config"; }

echo "bench-bgp: $runs run(s): probe failure, recovery, SIGTERM (BIRD log and birdc every ${poll_ms} ms)"
ip netns exec "$NODE_NS" "$PY" "$helper" run \
    --pharos "$PHAROS" --config "$work/pharos.toml" --log-dir "$work" --pid-file "$work/pharos.pid" \
    --dns-port "$dns_port" --probe probe.bench.test --zone bench.test --knotc-conf "$P/knot.conf" \
    --birdc-sock "$bird_sock" --bird-log "$bird_log" --protocol nodev4 \
    --runs "$runs" --out "$results" --poll-ms "$poll_ms" --timeout "$timeout"
run_rc=$?
cp "$bird_log" "$work/bird.log" 2>/dev/null

[ -s "$results" ] || die "no results"
"$PY" "$helper" report "$results" --interval-ms "$interval_ms" --rise "$rise" --fall "$fall"
rc=$?
echo
echo "results: $results (one row per measure and run)"
echo "         logs and configs: $work/ (pharos-N.log, bird.log, primary/knot.log)"
[ "$run_rc" = 0 ] || rc=1
exit $rc
