#!/usr/bin/env bash
# bench-xfr-out.sh: transfers OUT (pharos as a primary / hub), pharos beside
# Knot DNS and NSD in the same run, each serving the same zones from files
# on loopback ports.  Measures, as issue 11 asks:
#   - axfr:   AXFR of the 1,000,000-record big.test to a framing-only client
#             (counts messages by their length prefix, parses nothing):
#             wall time and server CPU (/proc/PID/stat), ratios vs NSD, Knot;
#   - ixfr:   IXFR of one change from big.test: time and server CPU per
#             request, one client, then 10 clients at once;
#   - qps:    dnsperf on small.test idle vs while 10 AXFRs of big.test run
#             (ratio), and the server's RSS idle vs the peak during them;
#   - notify: NOTIFY out at start-up with 10,000 zones and 3 targets (UDP
#             listeners that answer, count and timestamp): the rate seen vs
#             pharos' configured notify-rate, zones never notified.
# Driver of scripts/bench/xfrout.py (which has the details); see
# scripts/bench/xfr-out-README.md.
#
# usage: scripts/bench-xfr-out.sh [options]
#   --servers LIST     subset of pharos,knot,nsd                   [pharos,knot,nsd]
#   --parts LIST       subset of axfr,ixfr,qps,notify               [axfr,ixfr,qps,notify]
#   --quick            --big-count 200000 --rounds 2 --duration 3 --notify-zones 2000
#                      (options given explicitly still win)
#   --big-count N      A records in big.test                        [1000000]
#   --rounds N         AXFR rounds per server (median)              [3]
#   --ixfr-requests N  IXFR requests per server (one client)        [200]
#   --duration N       seconds of each dnsperf run                  [10]
#   --notify-zones N   zones for the NOTIFY start-up part           [10000]
#   --notify-rate N    pharos [transfer] notify-rate in that part   [1000]
#   --port N           first loopback port to try                   [24800]
#   --timeout N        seconds to wait for a load or a transfer     [180]
#   --keep             keep the whole work dir (zones, server data)
#   -h, --help
# environment: PHAROS_BIN=path  bench this pharos binary (default
#              target/release/pharos; built with cargo if missing)
# exit status: 0 every part ran for every server, 1 a part failed (its row
#              says fail:... and why: pharos before the hub role exists),
#              2 setup error.  Missing a target is not an error.
set -uo pipefail
# shellcheck source=scripts/bench/common.sh
. "$(dirname "$0")/bench/common.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
servers=pharos,knot,nsd
parts=axfr,ixfr,qps,notify
big_count=1000000
rounds=3
ixfr_requests=200
duration=10
notify_zones=10000
notify_rate=1000
port_base=24800
timeout=180
keep=0
quick=0
explicit=" "

usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'; }
die() { echo "bench-xfr-out: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case $1 in --*) explicit+="${1%%=*} " ;; esac
    case $1 in
        --servers) servers=${2:?--servers needs a value}; shift ;;
        --servers=*) servers=${1#*=} ;;
        --parts) parts=${2:?--parts needs a value}; shift ;;
        --parts=*) parts=${1#*=} ;;
        --quick) quick=1 ;;
        --big-count) big_count=${2:?}; shift ;;
        --big-count=*) big_count=${1#*=} ;;
        --rounds) rounds=${2:?}; shift ;;
        --rounds=*) rounds=${1#*=} ;;
        --ixfr-requests) ixfr_requests=${2:?}; shift ;;
        --ixfr-requests=*) ixfr_requests=${1#*=} ;;
        --duration) duration=${2:?}; shift ;;
        --duration=*) duration=${1#*=} ;;
        --notify-zones) notify_zones=${2:?}; shift ;;
        --notify-zones=*) notify_zones=${1#*=} ;;
        --notify-rate) notify_rate=${2:?}; shift ;;
        --notify-rate=*) notify_rate=${1#*=} ;;
        --port) port_base=${2:?}; shift ;;
        --port=*) port_base=${1#*=} ;;
        --timeout) timeout=${2:?}; shift ;;
        --timeout=*) timeout=${1#*=} ;;
        --keep) keep=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then
    [[ $explicit == *" --big-count "* ]] || big_count=200000
    [[ $explicit == *" --rounds "* ]] || rounds=2
    [[ $explicit == *" --duration "* ]] || duration=3
    [[ $explicit == *" --notify-zones "* ]] || notify_zones=2000
fi
for v in big_count rounds ixfr_requests duration notify_zones notify_rate port_base timeout; do
    is_uint "${!v}" || die "--${v//_/-} must be a non-negative integer, got '${!v}'"
done
[ "$big_count" -gt 0 ] && [ "$rounds" -gt 0 ] && [ "$notify_rate" -gt 0 ] ||
    die "--big-count, --rounds and --notify-rate must be > 0"

server_list=()
IFS=, read -r -a req <<<"$servers"
for s in "${req[@]}"; do
    case $s in
        pharos|knot|nsd) server_list+=("$s") ;;
        "") ;;
        *) die "--servers: unknown server '$s' (choose from pharos,knot,nsd)" ;;
    esac
done
[ ${#server_list[@]} -gt 0 ] || die "--servers: empty list"

# ------------------------------------------------------------------ tools
missing=()
KNOTD=$(find_bin knotd) || missing+=(knot)
KNOTC=$(find_bin knotc) || missing+=(knot)
NSD=$(find_bin nsd) || missing+=(nsd)
DNSPERF=$(find_bin dnsperf) || missing+=(dnsperf)
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench-xfr-out: missing: ${missing[*]}" >&2
    echo "bench-xfr-out: install with: apt-get install -y knot nsd dnsperf" >&2
    exit 2
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed (apt-get install -y python3)"
[ -e /proc/self/stat ] || die "/proc is needed"
PATH="$(dirname "$KNOTD"):$(dirname "$KNOTC"):$(dirname "$NSD"):$(dirname "$DNSPERF"):$PATH"
export PATH

PHAROS=${PHAROS_BIN:-$repo/target/release/pharos}
if has pharos; then
    if [ -n "${PHAROS_BIN:-}" ]; then
        [ -x "$PHAROS" ] || die "PHAROS_BIN=$PHAROS is not an executable"
    elif [ ! -x "$PHAROS" ]; then
        command -v cargo >/dev/null 2>&1 || die "cargo not found (needed to build pharos; or use --servers knot,nsd)"
        echo "bench-xfr-out: cargo build --release (in $repo)" >&2
        (cd "$repo" && cargo build --release --bin pharos) >&2 || die "pharos does not build"
    fi
fi

work=$(mktemp -d /tmp/pharos-bench-xfr-out.XXXXXX) || die "mktemp failed"
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    if [ "$keep" = 1 ]; then
        echo "bench-xfr-out: work dir kept: $work" >&2
    elif [ -d "$work" ]; then
        # keep results, configs and logs; drop zones and server data
        rm -rf "$work/zones" "$work/nzones" "$work"/*/db "$work"/*/var "$work"/*/*.zone* \
            "$work"/*/run "$work"/*/xfr.*
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host=$(uname -srm) cpus=$(nproc)"
    echo "knot=$("$KNOTD" --version 2>&1 | head -n 1)"
    echo "nsd=$("$NSD" -v 2>&1 | head -n 1)"
    if has pharos; then
        echo "pharos=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown) bin=$PHAROS"
    fi
    echo "servers=$(IFS=,; echo "${server_list[*]}") parts=$parts big_count=$big_count rounds=$rounds"
} | tee "$work/meta.txt" | sed 's/^/  /'
echo "bench-xfr-out: work dir $work"

python3 "$here/bench/xfrout.py" --work "$work" --servers "$(IFS=,; echo "${server_list[*]}")" \
    --parts "$parts" --pharos "$PHAROS" --big-count "$big_count" --rounds "$rounds" \
    --ixfr-requests "$ixfr_requests" --duration "$duration" --notify-zones "$notify_zones" \
    --notify-rate "$notify_rate" --port "$port_base" --timeout "$timeout"
rc=$?
echo
echo "results: $work/results.json; logs and configs: $work/{pharos,knot,nsd}*/"
exit $rc
