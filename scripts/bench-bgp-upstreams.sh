#!/usr/bin/env bash
# bench-bgp-upstreams.sh: pharos against its upstreams, end to end, in
# network namespaces built by tests/bgp-peer/peer.sh (nothing leaves them).
# Measures:
#   - full-table: a BIRD peer sends ROUTES IPv4 /24s (FULL_TABLE); pharos
#                 (hold 9) reads and discards them. Reported: the peer's
#                 start-up time, the time from Established until pharos has
#                 read every prefix (its debug log counts them), pharos's CPU
#                 time (utime+stime) and VmRSS before/after, and the largest
#                 gap between two of pharos's BGP messages seen at the peer
#                 (tcpdump in the peer netns: its keepalives keep schedule
#                 if the gap stays near hold/3);
#   - link-fail:  the link dropped (peer.sh link down: every packet, both
#                 ways, nothing closed) until the peer (BIRD, FRR) has
#                 withdrawn the node's routes: hold-timer detection without
#                 BFD (hold 9, keepalive 3: expect 6..9 s), and with BFD on
#                 both sides (300 ms x 3, the defaults; target < 1.2 s).
#
# usage: scripts/bench-bgp-upstreams.sh [options]
#   --routes N      routes in the full table                      [1000000]
#   --runs N        link-failure rounds per peer kind             [3]
#   --kinds "K.."   peer kinds for link-fail                      ["bird frr"]
#   --build         run `cargo build --release` even if the binary exists
#   --keep          keep the work dir
#   -h, --help
# environment: PHAROS_BIN=path  bench this pharos binary (no build);
#              otherwise ${CARGO_TARGET_DIR:-target}/release/pharos
# needs: root, bird2, frr, nftables, tcpdump, jq, iproute2.
# exit status: 0 done, 1 a measure failed, 2 setup error.
set -uo pipefail
# shellcheck source=scripts/bench/common.sh
. "$(dirname "$0")/bench/common.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
peer_sh=$repo/tests/bgp-peer/peer.sh

routes=1000000
runs=3
kinds="bird frr"
build=0
keep=0

usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'; }
die() { echo "bench-bgp-upstreams: $*" >&2; exit 2; }
say() { echo "bench-bgp-upstreams: $*" >&2; }

while [ $# -gt 0 ]; do
    case $1 in
        --routes) routes=${2:?}; shift ;;
        --routes=*) routes=${1#*=} ;;
        --runs) runs=${2:?}; shift ;;
        --runs=*) runs=${1#*=} ;;
        --kinds) kinds=${2:?}; shift ;;
        --kinds=*) kinds=${1#*=} ;;
        --build) build=1 ;;
        --keep) keep=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done
is_uint "$routes" && [ "$routes" -gt 0 ] || die "--routes must be a positive integer"
is_uint "$runs" || die "--runs must be a non-negative integer"
for k in $kinds; do case $k in bird|frr) ;; *) die "--kinds: bird and/or frr" ;; esac; done

[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
missing=()
for b in bird:bird2 vtysh:frr nft:nftables tcpdump:tcpdump jq:jq ip:iproute2; do
    find_bin "${b%%:*}" >/dev/null || missing+=("${b#*:}")
done
[ ${#missing[@]} -eq 0 ] || die "missing: ${missing[*]} (apt-get install -y ${missing[*]})"

target_dir=${CARGO_TARGET_DIR:-$repo/target}
PHAROS=${PHAROS_BIN:-$target_dir/release/pharos}
if [ -n "${PHAROS_BIN:-}" ]; then
    [ -x "$PHAROS" ] || die "PHAROS_BIN=$PHAROS is not an executable"
elif [ "$build" = 1 ] || [ ! -x "$PHAROS" ]; then
    say "cargo build --release (in $repo)"
    (cd "$repo" && cargo build --release --bin pharos) >&2 || die "pharos does not build"
fi

work=$(mktemp -d /tmp/pharos-bench-upstreams.XXXXXX) || die "mktemp failed"
chmod 711 "$work"
export BGPT_RUN_DIR=$work/peer
mkdir -p "$BGPT_RUN_DIR"
chmod 711 "$BGPT_RUN_DIR"
results=$work/results.tsv
printf 'measure\tkind\trun\tvalue\tunit\n' >"$results"
pharos_pid=""
dump_pid=""
peers=()

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    [ -n "$dump_pid" ] && kill "$dump_pid" 2>/dev/null
    [ -n "$pharos_pid" ] && kill -KILL "$pharos_pid" 2>/dev/null
    local p
    for p in "${peers[@]}"; do "$peer_sh" stop "$p" >/dev/null 2>&1; done
    if [ "$keep" = 1 ]; then say "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

now_ms() { date +%s%3N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1000 }'; }
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

# start_peer KIND NAME [VAR=VALUE...]
start_peer() {
    local kind=$1 name=$2; shift 2
    env HOLD=9 "$@" "$peer_sh" start "$kind" "$name" >"$work/$name.start" 2>&1 ||
        { cat "$work/$name.start" >&2; return 1; }
    peers+=("$name")
}

# start_pharos NAME [PEER_LINE]: pharos in NAME's node netns, one peer,
# hold 9, PEER_LINE added to its [[bgp.peer]]
start_pharos() {
    local name=$1 extra=${2:-} dir=$work/node-$1
    eval "$("$peer_sh" env "$name")"
    mkdir -p "$dir"
    cat >"$dir/pharos.toml" <<EOF
[node]
id = "bench-$name"
data-dir = "$dir/var"

[dns]
listen = ["127.0.0.1:5353"]

[[zone]]
name = "example.com"
file = "$repo/zones/example.com.zone"

[bgp]
enabled = true
asn = 65001
router-id = "$NODE_IP4"
announce = ["192.0.2.0/24", "2001:db8:1::/48"]

[[bgp.peer]]
address = "$PEER_IP4"
asn = 65000
local-address = "$NODE_IP4"
ipv6-next-hop = "$NODE_IP6"
hold-time = 9
families = ["ipv4", "ipv6"]
$extra

[health]
drain = "1s"
EOF
    PHAROS_LOG=info,pharos::bgp=debug ip netns exec "$NODE_NS" "$PHAROS" serve --config "$dir/pharos.toml" \
        >"$dir/pharos.log" 2>&1 &
    pharos_pid=$!
}

stop_pharos() {
    [ -n "$pharos_pid" ] || return 0
    kill -TERM "$pharos_pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pharos_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pharos_pid" 2>/dev/null
    wait "$pharos_pid" 2>/dev/null
    pharos_pid=""
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); split($0, f, " "); print (f[12] + f[13]) * 1000 / hz }' "/proc/$1/stat"; }
prefixes_read() { grep -o 'ignored UPDATE with [0-9]*' "$1" | awk '{ s += $4 } END { print s + 0 }'; }

# ------------------------------------------------------------- full table
full_table() {
    local name=bu$$ft t0 t1 rss0 rss1 cpu0 cpu1 log
    say "full table: starting BIRD with $routes routes"
    t0=$(now_ms)
    start_peer bird "$name" FULL_TABLE="$routes" || return 1
    t1=$(now_ms)
    record peer-ready bird 1 "$(secs "$t0" "$t1")" s
    "$peer_sh" link "$name" down || return 1
    start_pharos "$name"
    log=$work/node-$name/pharos.log
    sleep 2
    rss0=$(rss_kib "$pharos_pid"); cpu0=$(cpu_ms "$pharos_pid")
    eval "$("$peer_sh" env "$name")"
    # pharos's messages to the peer (payload only), with times
    ip netns exec "$PEER_NS" tcpdump -i "$PEER_IF" -n -tt -l -q \
        "src host $NODE_IP4 and tcp port 179 and (ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2)) > 0" \
        >"$work/dump.txt" 2>/dev/null &
    dump_pid=$!
    sleep 1
    "$peer_sh" link "$name" up
    "$peer_sh" wait "$name" established 60 >/dev/null || { say "full table: no session"; return 1; }
    t0=$(now_ms)
    while [ "$(prefixes_read "$log")" -lt "$routes" ]; do
        [ $(( $(now_ms) - t0 )) -lt 120000 ] || { say "full table: not all read in 120 s"; return 1; }
        sleep 0.05
    done
    t1=$(now_ms)
    cpu1=$(cpu_ms "$pharos_pid")
    sleep 10   # a hold time: keepalives go on, the session must stay up
    rss1=$(rss_kib "$pharos_pid")
    kill "$dump_pid" 2>/dev/null; wait "$dump_pid" 2>/dev/null; dump_pid=""
    record read-all pharos 1 "$(secs "$t0" "$t1")" s
    record cpu pharos 1 "$(( cpu1 - cpu0 ))" ms
    record rss-before pharos 1 "$rss0" KiB
    record rss-after pharos 1 "$rss1" KiB
    record updates pharos 1 "$(grep -c 'ignored UPDATE with' "$log")" messages
    record max-gap pharos 1 "$(awk '{ if (p != "" && $1 - p > m) m = $1 - p; p = $1 } END { printf "%.2f", m }' "$work/dump.txt")" s
    record state-after bird 1 "$("$peer_sh" state "$name")" state
    stop_pharos
    "$peer_sh" stop "$name" >/dev/null
}

# ------------------------------------------------------------- link failure
# link_fail KIND RUN hold|bfd
link_fail() {
    local kind=$1 run=$2 mode=$3 name=bu$$l$1$2$3 t0 t1
    if [ "$mode" = bfd ]; then
        start_peer "$kind" "$name" BFD=1 BFD_INTERVAL=300 BFD_MULT=3 || return 1
        start_pharos "$name" "bfd = true"
    else
        start_peer "$kind" "$name" || return 1
        start_pharos "$name"
    fi
    "$peer_sh" wait "$name" count 2 30 >/dev/null || { say "link-fail $kind: no routes"; return 1; }
    if [ "$mode" = bfd ]; then
        eval "$("$peer_sh" env "$name")"
        t0=$(now_ms)
        until "$peer_sh" bfd "$name" | grep -q "^$NODE_IP4 up$"; do
            [ $(( $(now_ms) - t0 )) -lt 30000 ] || { say "link-fail $kind: BFD not up"; return 1; }
            sleep 0.1
        done
    fi
    sleep 2
    # The clock starts once the drop rules are in (the command takes a few
    # tens of ms), and the peer's table is read back to back (no sleep): the
    # resolution is one `birdc`/`vtysh` call.
    "$peer_sh" link "$name" down
    t0=$(now_ms)
    while [ "$("$peer_sh" routes "$name" | grep -c .)" -gt 0 ]; do
        [ $(( $(now_ms) - t0 )) -lt 30000 ] || { say "link-fail $kind: routes stayed"; return 1; }
    done
    t1=$(now_ms)
    record "link-fail-$mode" "$kind" "$run" "$(secs "$t0" "$t1")" s
    stop_pharos
    "$peer_sh" stop "$name" >/dev/null
}

status=0
full_table || status=1
for kind in $kinds; do
    for run in $(seq 1 "$runs"); do
        link_fail "$kind" "$run" hold || status=1
        link_fail "$kind" "$run" bfd || status=1
    done
done

echo
column -t -s "$(printf '\t')" "$results"
echo
echo "target (issue 14): link failure to routes gone with BFD defaults < 1.2 s"
awk -F'\t' '$1 == "link-fail-bfd" { n++; if ($4 > m) m = $4; s += $4 }
    END { if (n) printf "  with BFD: worst %.2f s, mean %.2f s over %d runs: %s\n", m, s / n, n, (m < 1.2 ? "met" : "NOT met") }' "$results"
awk -F'\t' '$1 == "link-fail-hold" { n++; s += $4 } END { if (n) printf "  without BFD (hold 9): mean %.2f s over %d runs\n", s / n, n }' "$results"
exit $status
