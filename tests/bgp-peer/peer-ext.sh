# peer-ext.sh - sourced by peer.sh (not run on its own): the topologies
# beyond one veth pair, and the sub-commands that act on the link and on
# BFD. It owns:
#
#   ROUTER=1     node ns -- router ns -- peer ns (one routed hop, TTL - 1)
#   JOIN_NS=NS   a second (third...) peer attached to an existing node ns
#   FULL_TABLE=N the peer (BIRD) sends N IPv4 /24 routes to the node
#   peer.sh link  NAME down|up   drop every packet on the veth, both ways
#   peer.sh alias NAME ADDR      a second address on the peer's side
#   peer.sh bfd   NAME           "ADDRESS STATE" per BFD session
#
# Addresses with ROUTER=1 (N = NET_ID):
#   node   bgpt-node 10.255.N.2/30 fd00:255:N::2/64
#   router bgpt-rn   10.255.N.1/30 fd00:255:N::1/64
#   router bgpt-rp   10.254.N.2/30 fd00:254:N::2/64
#   peer   bgpt-peer 10.254.N.1/30 fd00:254:N::1/64
# With JOIN_NS the node end of the new pair is bgpt-nN (N this instance's
# NET_ID, moved on when the node ns has that subnet already); stopping the
# instance deletes its peer ns (and so the pair), never the node ns.

RTR_IF_NODE=bgpt-rn
RTR_IF_PEER=bgpt-rp

ns_setup_common() {
  ip netns add "$1"
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
    net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.disable_ipv6=0 \
    net.ipv6.conf.default.disable_ipv6=0 >/dev/null
  ip -n "$1" link set lo up
}

# addresses and interface names for the plan chosen by ROUTER / JOIN_NS
plan_addresses() {
  if [ -n "$JOIN_NS" ]; then
    netns_exists "$JOIN_NS" || die "JOIN_NS: no netns $JOIN_NS"
    [ "$ROUTER" = 0 ] || die "JOIN_NS and ROUTER=1 together are not supported"
    local tries=0
    while ip -n "$JOIN_NS" -4 addr show | grep -q "inet 10\.255\.$NET_ID\."; do
      NET_ID=$(( NET_ID % 254 + 1 ))
      tries=$((tries + 1))
      [ "$tries" -lt 254 ] || die "no free 10.255.N.0/30 in $JOIN_NS"
    done
    NODE_NS=$JOIN_NS
    NODE_IF=bgpt-n$NET_ID
  fi
  NODE_IP4=10.255.$NET_ID.2; NODE_IP6=fd00:255:$NET_ID::2
  if [ "$ROUTER" = 1 ]; then
    RTR_NS=$NS_PREFIX-$NAME-rtr
    PEER_IP4=10.254.$NET_ID.1; PEER_IP6=fd00:254:$NET_ID::1
    RTR_IP4_NODE=10.255.$NET_ID.1; RTR_IP6_NODE=fd00:255:$NET_ID::1
    RTR_IP4_PEER=10.254.$NET_ID.2; RTR_IP6_PEER=fd00:254:$NET_ID::2
  else
    RTR_NS=
    PEER_IP4=10.255.$NET_ID.1; PEER_IP6=fd00:255:$NET_ID::1
  fi
}

# one veth pair A(ns1) -- B(ns2) with addresses, both ends up
veth_pair() {
  local ns1=$1 if1=$2 a4=$3 a6=$4 ns2=$5 if2=$6 b4=$7 b6=$8
  ip link add "$if1" netns "$ns1" type veth peer name "$if2" netns "$ns2"
  ip -n "$ns1" addr add "$a4/30" dev "$if1"
  ip -n "$ns2" addr add "$b4/30" dev "$if2"
  ip -n "$ns1" -6 addr add "$a6/64" dev "$if1" nodad
  ip -n "$ns2" -6 addr add "$b6/64" dev "$if2" nodad
  ip -n "$ns1" link set "$if1" up
  ip -n "$ns2" link set "$if2" up
}

setup_router() {
  ns_setup_common "$PEER_NS"
  ns_setup_common "$NODE_NS"
  ns_setup_common "$RTR_NS"
  ip netns exec "$RTR_NS" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null
  veth_pair "$NODE_NS" "$NODE_IF" "$NODE_IP4" "$NODE_IP6" "$RTR_NS" "$RTR_IF_NODE" "$RTR_IP4_NODE" "$RTR_IP6_NODE"
  veth_pair "$PEER_NS" "$PEER_IF" "$PEER_IP4" "$PEER_IP6" "$RTR_NS" "$RTR_IF_PEER" "$RTR_IP4_PEER" "$RTR_IP6_PEER"
  ip -n "$NODE_NS" route add "10.254.$NET_ID.0/30" via "$RTR_IP4_NODE"
  ip -n "$NODE_NS" -6 route add "fd00:254:$NET_ID::/64" via "$RTR_IP6_NODE"
  ip -n "$PEER_NS" route add "10.255.$NET_ID.0/30" via "$RTR_IP4_PEER"
  ip -n "$PEER_NS" -6 route add "fd00:255:$NET_ID::/64" via "$RTR_IP6_PEER"
  wait_until 10 router_ready || die "router veths did not come up"
}

router_ready() {
  link_ready &&
  ip -n "$RTR_NS" link show dev "$RTR_IF_NODE" | grep -q 'state UP' &&
  ip -n "$RTR_NS" link show dev "$RTR_IF_PEER" | grep -q 'state UP' &&
  [ -z "$(ip -n "$RTR_NS" -6 addr show tentative)" ]
}

setup_joined() {
  ns_setup_common "$PEER_NS"
  veth_pair "$PEER_NS" "$PEER_IF" "$PEER_IP4" "$PEER_IP6" "$NODE_NS" "$NODE_IF" "$NODE_IP4" "$NODE_IP6"
  wait_until 10 link_ready || die "veth $PEER_IF/$NODE_IF did not come up"
}

# ----------------------------------------------------------------- link
# A netdev ingress chain with policy drop on each end of the path: every
# frame is dropped as it arrives (ARP, TCP, BFD alike), nothing is closed,
# the senders see no error. Instantaneous; `up` deletes the tables.
link_table() { printf 'bgptlink%s' "$NET_ID"; }

link_down_on() {
  local ns=$1 dev=$2 t
  t=$(link_table)
  ip netns exec "$ns" nft delete table netdev "$t" 2>/dev/null || true
  ip netns exec "$ns" nft -f - <<EOF
table netdev $t {
  chain in {
    type filter hook ingress device "$dev" priority -500; policy drop;
  }
}
EOF
}

link_up_on() {
  ip netns exec "$1" nft delete table netdev "$(link_table)" 2>/dev/null || true
}

cmd_link() {
  [ $# -eq 2 ] || die "usage: peer.sh link NAME down|up"
  need_name "$1"
  load_env "$1"
  command -v nft >/dev/null || die "nft not installed (Debian package nftables)"
  case $2 in
    down) link_down_on "$PEER_NS" "$PEER_IF" && link_down_on "$NODE_NS" "$NODE_IF" ||
            die "could not install the drop rules" ;;
    up) link_up_on "$PEER_NS"; link_up_on "$NODE_NS" ;;
    *) die "link: down or up" ;;
  esac
}

# ----------------------------------------------------------------- alias
# ADDR/32 (or /128) on the peer's veth, and a route to it in the node ns
# (and the router's), so the peer can connect from it.
cmd_alias() {
  [ $# -eq 2 ] || die "usage: peer.sh alias NAME ADDR"
  need_name "$1"
  load_env "$1"
  local a=$2 len=32 fam=-4
  case $a in *:*) len=128; fam=-6 ;; esac
  case $a in *[!0-9a-fA-F:.]*|'') die "alias: bad address '$a'" ;; esac
  ip -n "$PEER_NS" $fam addr add "$a/$len" dev "$PEER_IF" nodad 2>/dev/null ||
    ip -n "$PEER_NS" $fam addr add "$a/$len" dev "$PEER_IF" || die "cannot add $a in $PEER_NS"
  if [ -n "${RTR_NS:-}" ]; then
    ip -n "$RTR_NS" $fam route add "$a/$len" dev "$RTR_IF_PEER" || die "cannot route $a in $RTR_NS"
    if [ $fam = -4 ]; then
      ip -n "$NODE_NS" route add "$a/$len" via "10.255.$NET_ID.1" || die "cannot route $a in $NODE_NS"
    else
      ip -n "$NODE_NS" -6 route add "$a/$len" via "fd00:255:$NET_ID::1" || die "cannot route $a in $NODE_NS"
    fi
  else
    ip -n "$NODE_NS" $fam route add "$a/$len" dev "$NODE_IF" || die "cannot route $a in $NODE_NS"
  fi
  echo "$a"
}

# ----------------------------------------------------------------- BFD
bird_bfd_conf() {
  bool_on "$BFD" || return 0
  echo "protocol bfd {"
  echo "  interface \"*\" { min rx interval $BFD_INTERVAL ms; min tx interval $BFD_INTERVAL ms; multiplier $BFD_MULT; };"
  echo "  multihop { min rx interval $BFD_INTERVAL ms; min tx interval $BFD_INTERVAL ms; multiplier $BFD_MULT; };"
  echo "}"
}

frr_bfdd_conf() {
  echo "! generated by peer.sh for $NAME"
  echo "hostname $PEER_NS"
  echo "log timestamp precision 3"
  echo "bfd"
  echo " profile bgpt"
  echo "  receive-interval $BFD_INTERVAL"
  echo "  transmit-interval $BFD_INTERVAL"
  echo "  detect-multiplier $BFD_MULT"
  echo " exit"
  echo "exit"
  echo "!"
}

# normalised: "ADDRESS STATE", state up|down|init|admindown
bird_bfd() {
  birdc_ show bfd sessions 2>/dev/null | awk '
    $1 ~ /^[0-9a-fA-F]*[.:][0-9a-fA-F.:]*$/ && NF >= 3 { print $1, tolower($3) }'
}

frr_bfd() {
  vtysh_ -c 'show bfd peers json' | jq -r '
    .[]? | "\(.peer) \(.status | ascii_downcase | if . == "shutdown" then "admindown" else . end)"'
}

cmd_bfd() {
  need_name "$@"
  load_env "$1"
  daemon_alive || die "$KIND daemon of '$1' is not running (pids $PIDS); see peer.sh log $1"
  case $KIND in
    bird|frr) "${KIND}_bfd" | sort ;;
    *) die "bfd: bird and frr only" ;;
  esac
}

# ----------------------------------------------------------------- full table
# N IPv4 /24s from 1.0.0.0 upward, skipping 10/8 and 127/8, as a BIRD
# static protocol `fulltable` (unreachable routes: they only need exporting).
bird_fulltable_conf() {
  awk -v n="$FULL_TABLE" 'BEGIN {
    print "protocol static fulltable {"
    print "  ipv4;"
    i = 0; a = 1; b = 0; c = 0
    while (i < n) {
      if (a != 10 && a != 127) {
        printf "  route %d.%d.%d.0/24 unreachable;\n", a, b, c
        i++
      }
      c++
      if (c == 256) { c = 0; b++ }
      if (b == 256) { b = 0; a++; if (a == 224) { print "too many routes" > "/dev/stderr"; exit 1 } }
    }
    print "}"
  }'
}

# the routes the peer has exported to the node (BIRD: its channel counter)
cmd_exported() {
  need_name "$@"
  load_env "$1"
  [ "$KIND" = bird ] || die "exported: bird only"
  birdc_ show protocols all nodev4 2>/dev/null |
    awk '/^[ \t]+Routes:/ { for (i = 2; i < NF; i++) if ($(i+1) ~ /^exported/) { s += $i } } END { print s + 0 }'
}
