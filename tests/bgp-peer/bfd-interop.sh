#!/usr/bin/env bash
# bfd-interop.sh - pharos BFD (examples/bfd_probe) against a real daemon.
#
#   tests/bgp-peer/bfd-interop.sh bird|frr [PROBE]     (root; PROBE defaults
#   to target/debug/examples/bfd_probe: cargo build --example bfd_probe)
#
# Two network namespaces joined by a veth pair: pharos on 10.254.0.1, the
# daemon (BIRD 2 `protocol bfd` or FRR bfdd alone) on 10.254.0.2, both at
# 300 ms x 3. Checks: both sides Up; then 100 % loss (netem on both ends):
# both Down (detection time 900 ms, plus polling slack); loss removed: Up
# again. Prints the times; exits 1 on any failure. Everything it creates
# (namespaces, daemons, the temp dir) is removed on exit.
set -eu
set -o pipefail

KIND=${1:?usage: bfd-interop.sh bird|frr [PROBE]}
PROBE=$(realpath "${2:-target/debug/examples/bfd_probe}")
T=bfdt$$
NSN=${T}n
NSP=${T}p
IFN=${T}a
IFP=${T}b
D=$(mktemp -d /tmp/bfd-interop.XXXXXX)
PIDS=""
FAIL=0

cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$NSN" 2>/dev/null || true
  ip netns del "$NSP" 2>/dev/null || true
  rm -rf "$D"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
fail() { echo "FAIL: $*"; FAIL=1; }

ip netns add "$NSN"
ip netns add "$NSP"
ip link add "$IFN" netns "$NSN" type veth peer name "$IFP" netns "$NSP"
ip -n "$NSN" addr add 10.254.0.1/30 dev "$IFN"
ip -n "$NSP" addr add 10.254.0.2/30 dev "$IFP"
for ns in "$NSN" "$NSP"; do ip -n "$ns" link set lo up; done
ip -n "$NSN" link set "$IFN" up
ip -n "$NSP" link set "$IFP" up

case $KIND in
bird)
  cat >"$D/bird.conf" <<EOF
router id 10.254.0.2;
protocol device { }
protocol bfd {
  interface "$IFP" { interval 300 ms; multiplier 3; };
  neighbor 10.254.0.1 dev "$IFP";
}
EOF
  ip netns exec "$NSP" bird -f -c "$D/bird.conf" -s "$D/bird.ctl" -P "$D/bird.pid" >"$D/bird.log" 2>&1 &
  PIDS="$PIDS $!"
  peer_state() {
    timeout 5 birdc -s "$D/bird.ctl" show bfd sessions 2>/dev/null |
      awk '$1 == "10.254.0.1" { print $3 }' | tr '[:upper:]' '[:lower:]'
  }
  peer_show() { timeout 5 birdc -s "$D/bird.ctl" show bfd sessions 2>/dev/null || true; }
  ;;
frr)
  F=$D/frr
  mkdir -p "$F"
  # bfdd runs alone (no zebra): a peer bound to an interface needs zebra to
  # learn the interface and stays in Init without sending, so the peer is
  # given by addresses only.
  cat >"$F/bfdd.conf" <<EOF
bfd
 peer 10.254.0.1 local-address 10.254.0.2
  receive-interval 300
  transmit-interval 300
  detect-multiplier 3
  no shutdown
 !
!
EOF
  chown -R frr:frr "$F"
  chmod 750 "$F"
  chmod 711 "$D"
  ip netns exec "$NSP" /usr/lib/frr/bfdd -u frr -g frr -P 0 -f "$F/bfdd.conf" -i "$F/bfdd.pid" \
    -z "$F/zserv.api" --vty_socket "$F" --bfdctl "$F/bfdd.sock" --log "file:$F/bfdd.log" >"$D/bfdd.out" 2>&1 &
  PIDS="$PIDS $!"
  peer_state() {
    timeout 5 vtysh --vty_socket "$F" -c 'show bfd peers' 2>/dev/null | awk '/Status:/ { print $2; exit }'
  }
  peer_show() { timeout 5 vtysh --vty_socket "$F" -c 'show bfd peers' 2>/dev/null || true; }
  ;;
*) echo "unknown kind $KIND"; exit 2 ;;
esac

T0=$(now)
ip netns exec "$NSN" "$PROBE" 10.254.0.2 10.254.0.1 --interval 300 --multiplier 3 >"$D/probe.log" 2>&1 &
PIDS="$PIDS $!"
probe_state() { tail -n 1 "$D/probe.log" 2>/dev/null | sed -n 's/.* state=\([A-Za-z]*\) .*/\1/p' | tr '[:upper:]' '[:lower:]'; }

# wait_both STATE LIMIT_S: prints "pharos X s, KIND Y s" (since the call)
wait_both() {
  local want=$1 limit=$2 t p="" k="" s
  t=$(now)
  while :; do
    [ -n "$p" ] || { [ "$(probe_state)" = "$want" ] && p=$(since "$t"); }
    [ -n "$k" ] || { s=$(peer_state); [ "$s" = "$want" ] && k=$(since "$t"); }
    [ -n "$p" ] && [ -n "$k" ] && break
    if awk -v a="$(since "$t")" -v l="$limit" 'BEGIN { exit !(a > l) }'; then
      fail "not $want within ${limit}s: pharos ${p:-no}, $KIND ${k:-no}"
      return 0
    fi
    sleep 0.02
  done
  echo "  $want: pharos after ${p}s, $KIND after ${k}s"
}

echo "== $KIND: session up"
wait_both up 10
sleep 3
peer_show
tail -n 2 "$D/probe.log"

echo "== BFD dropped both ways"
for ns in "$NSN" "$NSP"; do
  ip netns exec "$ns" nft -f - <<EOF
table inet bfdtest {
  chain in { type filter hook input priority 0; udp dport { 3784, 4784 } drop; }
  chain out { type filter hook output priority 0; udp dport { 3784, 4784 } drop; }
}
EOF
done
wait_both down 5
tail -n 1 "$D/probe.log"

echo "== drop removed"
for ns in "$NSN" "$NSP"; do ip netns exec "$ns" nft delete table inet bfdtest; done
wait_both up 10
sleep 2
tail -n 1 "$D/probe.log"
peer_show
echo "probe log (seconds since start $(since "$T0") ago):"
cat "$D/probe.log"
[ "$FAIL" = 0 ] && echo "PASS $KIND" || { echo "FAILED $KIND"; exit 1; }
