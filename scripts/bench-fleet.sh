#!/usr/bin/env bash
# bench-fleet.sh: the fleet (issue 12, catalog zones): a Knot customer
# primary, a hub and --nodes nodes, built once with Knot as hub and nodes
# (catalog-role: generate on the hub, interpret on the nodes) and once with
# pharos (catalog = "producer" on the hub, "consumer" on the nodes), in the
# same run, every server its own process, data dir and loopback port; and
# a third time with BIND 9.18 nodes (catalog-zones) on the Knot hub.
# Measures for each fleet:
#   - a change on the customer primary (knotc zone-commit) until every node
#     serves the new serial: p50 and p99 over --changes changes;
#   - a new zone on the hub (pharos: POST /zones with "catalog"; Knot: one
#     knotc conf transaction) until its SOA is NOERROR on every node;
#   - that zone removed on the hub until REFUSED on every node;
#   - 1,000 zones added in one step (pharos: the hub's config with 1,000 more
#     member zones and one SIGHUP; Knot: one conf transaction) until all are
#     served on every node;
#   - each node's VmRSS (and the hub's) with --members member zones.
# A table shows the fleets side by side and the ratio pharos/Knot.  Timings come from
# SOA queries to every node in a tight loop (1 ms between rounds).  When the
# pharos nodes serve no catalog member within --consumer-timeout (a build
# without the catalog consumer), the pharos fleet is skipped with a message
# and the Knot figures still come out.  Driver of scripts/bench/fleet.py
# (which has the details); see scripts/bench/fleet-README.md.
#
# usage: scripts/bench-fleet.sh [options]
#   --fleets LIST      subset of knot,pharos,bind (bind: BIND nodes on a
#                      Knot hub; left out with a note when named is missing)
#                                                                   [knot,pharos,bind]
#   --nodes N          nodes per fleet                              [10]
#   --members N        member zones in the catalog at the start     [10000]
#   --changes N        changes on the primary (p50, p99 over them)  [20]
#   --quick            --members 1000 --changes 10 (explicit options still win)
#   --port N           first loopback port to try (below 32768)     [26800]
#   --timeout N        seconds to wait for a first sync or the 1,000 zones [900]
#   --consumer-timeout N  seconds for a first member on a pharos node  [60]
#   --verbose          servers log at info (default notice / pharos' own)
#   --keep             keep the whole work dir (zones, server data)
#   -h, --help
# environment: PHAROS_BIN=path  bench this pharos binary (default
#              target/release/pharos; built with cargo if missing)
# exit status: 0 every fleet ran (or pharos was skipped, as the table says),
#              1 a fleet failed (the table says why), 2 setup error.
set -uo pipefail
# shellcheck source=scripts/bench/common.sh
. "$(dirname "$0")/bench/common.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
fleets=knot,pharos,bind
nodes=10
members=10000
changes=20
port_base=26800
timeout=900
consumer_timeout=60
verbose=0
keep=0
quick=0
explicit=" "

usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'; }
die() { echo "bench-fleet: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case $1 in --*) explicit+="${1%%=*} " ;; esac
    case $1 in
        --fleets) fleets=${2:?--fleets needs a value}; shift ;;
        --fleets=*) fleets=${1#*=} ;;
        --nodes) nodes=${2:?--nodes needs a value}; shift ;;
        --nodes=*) nodes=${1#*=} ;;
        --members) members=${2:?--members needs a value}; shift ;;
        --members=*) members=${1#*=} ;;
        --changes) changes=${2:?--changes needs a value}; shift ;;
        --changes=*) changes=${1#*=} ;;
        --quick) quick=1 ;;
        --port) port_base=${2:?--port needs a value}; shift ;;
        --port=*) port_base=${1#*=} ;;
        --timeout) timeout=${2:?--timeout needs a value}; shift ;;
        --timeout=*) timeout=${1#*=} ;;
        --consumer-timeout) consumer_timeout=${2:?--consumer-timeout needs a value}; shift ;;
        --consumer-timeout=*) consumer_timeout=${1#*=} ;;
        --verbose) verbose=1 ;;
        --keep) keep=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then
    [[ $explicit == *" --members "* ]] || members=1000
    [[ $explicit == *" --changes "* ]] || changes=10
fi
for v in nodes members changes port_base timeout consumer_timeout; do
    is_uint "${!v}" || die "--${v//_/-} must be a non-negative integer, got '${!v}'"
done
[ "$nodes" -gt 0 ] && [ "$members" -gt 0 ] && [ "$changes" -gt 0 ] ||
    die "--nodes, --members and --changes must be > 0"
[ "$port_base" -gt 1023 ] && [ $((port_base + 3 * (nodes + 3))) -lt 32768 ] ||
    die "--port: the fleets need up to $((3 * (nodes + 3))) ports from $port_base, all below 32768 (the ephemeral range)"

server_list=()
IFS=, read -r -a req <<<"$fleets"
for s in "${req[@]}"; do
    case $s in
        pharos|knot|bind) server_list+=("$s") ;;
        "") ;;
        *) die "--fleets: unknown fleet '$s' (choose from knot,pharos,bind)" ;;
    esac
done
[ ${#server_list[@]} -gt 0 ] || die "--fleets: empty list"

# ------------------------------------------------------------------ tools
# Knot is the customer primary of every fleet: always needed.
KNOTD=$(find_bin knotd) || die "knotd not found (apt-get install -y knot)"
KNOTC=$(find_bin knotc) || die "knotc not found (apt-get install -y knot)"
command -v python3 >/dev/null 2>&1 || die "python3 is needed (apt-get install -y python3)"
[ -e /proc/self/status ] || die "/proc is needed"
PATH="$(dirname "$KNOTD"):$(dirname "$KNOTC"):$PATH"
if has bind; then
    if NAMED=$(find_bin named); then
        PATH="$(dirname "$NAMED"):$PATH"
    elif [[ $explicit == *" --fleets "* ]]; then
        die "named not found (apt-get install -y bind9; or leave bind out of --fleets)"
    else
        echo "bench-fleet: named not found: the bind fleet is left out (apt-get install -y bind9)" >&2
        mapfile -t server_list < <(printf '%s\n' "${server_list[@]}" | grep -vx bind)
    fi
fi
export PATH

PHAROS=${PHAROS_BIN:-$repo/target/release/pharos}
if has pharos; then
    if [ -n "${PHAROS_BIN:-}" ]; then
        [ -x "$PHAROS" ] || die "PHAROS_BIN=$PHAROS is not an executable"
    elif [ ! -x "$PHAROS" ]; then
        command -v cargo >/dev/null 2>&1 || die "cargo not found (needed to build pharos; or use --fleets knot)"
        echo "bench-fleet: cargo build --release (in $repo)" >&2
        (cd "$repo" && cargo build --release --bin pharos) >&2 || die "pharos does not build"
    fi
fi

work=$(mktemp -d /tmp/pharos-bench-fleet.XXXXXX) || die "mktemp failed"
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    if [ "$keep" = 1 ]; then
        echo "bench-fleet: work dir kept: $work" >&2
    elif [ -d "$work" ]; then
        # keep results, configs and logs; drop zones and server data
        rm -rf "$work/zones" "$work"/*/*/db "$work"/*/*/zones "$work"/*/*/var "$work"/*/*/run
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host=$(uname -srm) cpus=$(nproc) mem=$(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo)"
    echo "knot=$("$KNOTD" --version 2>&1 | head -n 1)"
    if has bind; then echo "bind=$(named -v 2>&1 | head -n 1)"; fi
    if has pharos; then
        echo "pharos=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown) bin=$PHAROS"
    fi
    echo "fleets=$(IFS=,; echo "${server_list[*]}") nodes=$nodes members=$members changes=$changes"
} | tee "$work/meta.txt" | sed 's/^/  /'
echo "bench-fleet: work dir $work"

args=(--work "$work" --fleets "$(IFS=,; echo "${server_list[*]}")" --pharos "$PHAROS"
      --nodes "$nodes" --members "$members" --changes "$changes" --port "$port_base"
      --timeout "$timeout" --consumer-timeout "$consumer_timeout")
[ "$verbose" = 1 ] && args+=(--verbose)
python3 "$here/bench/fleet.py" "${args[@]}"
rc=$?
echo
echo "results: $work/results.json; configs and logs: $work/{knot,pharos,bind}/{primary,hub,node*}/"
exit $rc
