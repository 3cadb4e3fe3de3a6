#!/usr/bin/env bash
# peer.sh - run a REAL BGP peer (BIRD 2, FRR, GoBGP or ExaBGP, Debian 12
# packages) inside a pair of Linux network namespaces, so that a BGP speaker
# under test can open an eBGP session to it from the "node" namespace.
#
#   peer.sh start  KIND NAME      KIND = bird | frr | gobgp | exabgp | script
#   peer.sh state  NAME [v4|v6]   session state (Established, Active, ...)
#   peer.sh states NAME           one "SESSION STATE" line per configured session
#   peer.sh routes NAME [SESSION] received prefixes, normalised, one per line
#   peer.sh exec   NAME CMD...    run CMD inside the node netns
#   peer.sh stop   NAME           kill the daemon(s) by PID, delete the netns
#   see "peer.sh help" and README.md for everything else.
#
# pharos keeps its own copy (tests/bgp-peer/): it adds KIND script, a
# scripted peer for misbehaviour tests (see scripted_peer.py). Sourced
# parts: peer-kinds.sh (the GoBGP and ExaBGP kinds), peer-ext.sh (router
# and joined topologies, link down/up, alias, BFD, full table).
#
# Topology for NAME (N = NET_ID, derived from NAME unless given):
#   netns bgpt-NAME-peer  dev bgpt-peer  10.255.N.1/30  fd00:255:N::1/64  AS 65000
#   netns bgpt-NAME-node  dev bgpt-node  10.255.N.2/30  fd00:255:N::2/64  AS 65001
set -eu
set -o pipefail

PROG=peer.sh
RUN_BASE=${BGPT_RUN_DIR:-/run/bgpt}
NS_PREFIX=bgpt
PEER_IF=bgpt-peer
NODE_IF=bgpt-node
# Every external call that could hang is wrapped in `timeout`.
CLI_TIMEOUT=${BGPT_CLI_TIMEOUT:-10}

die() { echo "$PROG: error: $*" >&2; exit 1; }
warn() { echo "$PROG: $*" >&2; }

usage() {
  cat <<'EOF'
usage:
  peer.sh start KIND NAME     start a peer (KIND: bird frr gobgp exabgp script;
                              script runs $PEER_CMD in the peer netns)
  peer.sh stop NAME           stop daemon(s) by PID and delete both netns
  peer.sh state NAME [v4|v6]  print one session state word (Established when
                              all configured sessions are Established)
  peer.sh states NAME         print "SESSION STATE" per configured session
  peer.sh routes NAME [v4|v6] print received routes (bird: of one session only
                              when SESSION is given):
     PREFIX nexthop=X aspath=A B C communities=C1 C2 med=M origin=O large=L1 L2
  peer.sh since NAME v4|v6    bird: when the session's protocol last changed
                              state (a reset shows as a new time)
  peer.sh wait NAME established|prefix P|noprefix P|count K|down [TIMEOUT_S]
                              poll (0.1 s) until the condition holds; exit 1 on
                              timeout. Prints the elapsed seconds on success.
  peer.sh exec NAME CMD...    run CMD in the node netns (speaker under test)
  peer.sh link NAME down|up   drop every packet on the veth, both ways (nftables
                              ingress drop on both ends: nothing is closed)
  peer.sh alias NAME ADDR     add ADDR on the peer's veth, routed from the node
  peer.sh bfd NAME            bird/frr: "ADDRESS STATE" per BFD session
                              (state: up, down, init, admindown)
  peer.sh exported NAME       bird: routes exported to the node (FULL_TABLE)
  peer.sh peer-exec NAME CMD  run CMD in the peer netns (debugging)
  peer.sh env NAME            print shell variables describing the instance
  peer.sh log NAME            print the daemon log(s)
  peer.sh list                list instances known under $BGPT_RUN_DIR
  peer.sh cleanup             stop every instance and delete every bgpt-* netns
  peer.sh deps                apt-get install the Debian packages needed

start options (environment variables):
  SESSIONS=v4|v6|dual|both
                       v4 (default): one session over IPv4 carrying IPv4 and
                       IPv6 unicast (MP-BGP); v6: one session over IPv6 carrying
                       both; dual: IPv4 session for IPv4 unicast + IPv6 session
                       for IPv6 unicast; both: the v4 and the v6 session, each
                       carrying FAMILIES (two peers for one node)
  FAMILIES="ipv4 ipv6" families for SESSIONS=v4|v6|both (default both)
  NET_ID=N             1..254 (default: derived from NAME)
  PEER_AS=65000 NODE_AS=65001
  HOLD=90              hold time in s (keepalive = HOLD/3 unless KEEPALIVE=)
  MD5=secret           TCP-MD5 password (RFC 2385)
  MULTIHOP=N           eBGP multihop TTL N (default: single-hop/direct)
  PASSIVE=1            1: only accept the node's connection (default);
                       0: also connect actively to the node
  BFD=1                BFD on the session(s) (bird: protocol bfd + bfd on;
                       frr: bfdd + neighbor X bfd profile bgpt)
  BFD_INTERVAL=300     BFD min rx/tx interval, ms;  BFD_MULT=3 detect multiplier
  TTL_SECURITY=1       GTSM (RFC 5082): frr ttl-security hops MULTIHOP|1,
                       bird ttl security on
  ROUTER=1             node ns -- router ns -- peer ns: one routed hop
                       (MULTIHOP defaults to 2; see peer-ext.sh for addresses)
  JOIN_NS=NS           attach to the existing node netns NS (a second
                       upstream of one node); stop leaves NS alone
  FULL_TABLE=N         bird: send N IPv4 /24 routes (1.0.0.0/24 upward) to the node
  BGP_DEBUG=1          verbose daemon logging (bird: debug all; frr: debug
                       bgp updates/neighbor-events; gobgp: -l debug)
  BGPT_RUN_DIR=/run/bgpt  where configs, logs, pids and sockets live
EOF
}

now_ms() { date +%s%3N; }
is_uint() { case ${1:-} in ''|*[!0-9]*) return 1 ;; esac; [ "${#1}" -le 10 ]; }

valid_name() {
  case $1 in ''|*[!A-Za-z0-9_-]*) return 1 ;; esac
  [ "${#1}" -le 32 ]
}

need_name() {
  [ $# -ge 1 ] || die "missing NAME"
  valid_name "$1" || die "bad NAME '$1' (use [A-Za-z0-9_-], at most 32 chars)"
}

derive_net_id() {
  # deterministic 1..250 from NAME (cksum is POSIX)
  printf '%s' "$1" | cksum | awk '{ print ($1 % 250) + 1 }'
}

inst_dir() { printf '%s/%s' "$RUN_BASE" "$1"; }

load_env() {
  NAME=$1
  D=$(inst_dir "$NAME")
  [ -f "$D/env" ] || die "no instance '$NAME' (no $D/env); start it first"
  # shellcheck disable=SC1090,SC1091
  . "$D/env"
}

netns_exists() { [ -e "/run/netns/$1" ]; }

pid_alive() {
  # alive and not a zombie
  [ -n "${1:-}" ] || return 1
  [ -d "/proc/$1" ] || return 1
  case $(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) in
    Z|X|'') return 1 ;;
  esac
  return 0
}

# wait_until TIMEOUT_S CMD... : poll CMD every 0.1 s until it succeeds.
wait_until() {
  local timeout=$1; shift
  local deadline=$(( $(now_ms) + timeout * 1000 ))
  while :; do
    if "$@"; then return 0; fi
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

in_peer() { timeout "$CLI_TIMEOUT" ip netns exec "$PEER_NS" "$@"; }

listening_179() {
  ip netns exec "$PEER_NS" ss -Hltn 'sport = :179' 2>/dev/null | grep -q .
}

write_env() {
  {
    printf 'KIND=%q\n' "$KIND"
    printf 'NAME=%q\n' "$NAME"
    printf 'NET_ID=%q\n' "$NET_ID"
    printf 'PEER_NS=%q\nNODE_NS=%q\n' "$PEER_NS" "$NODE_NS"
    printf 'PEER_IF=%q\nNODE_IF=%q\n' "$PEER_IF" "$NODE_IF"
    printf 'PEER_IP4=%q\nNODE_IP4=%q\n' "$PEER_IP4" "$NODE_IP4"
    printf 'PEER_IP6=%q\nNODE_IP6=%q\n' "$PEER_IP6" "$NODE_IP6"
    printf 'PREFIX4_LEN=30\nPREFIX6_LEN=64\n'
    printf 'PEER_AS=%q\nNODE_AS=%q\n' "$PEER_AS" "$NODE_AS"
    printf 'SESSIONS=%q\nFAMILIES=%q\n' "$SESSIONS" "$FAMILIES"
    printf 'HOLD=%q\nKEEPALIVE=%q\n' "$HOLD" "$KEEPALIVE"
    printf 'MD5=%q\nMULTIHOP=%q\nPASSIVE=%q\n' "$MD5" "$MULTIHOP" "$PASSIVE"
    printf 'BFD=%q\nBFD_INTERVAL=%q\nBFD_MULT=%q\n' "$BFD" "$BFD_INTERVAL" "$BFD_MULT"
    printf 'TTL_SECURITY=%q\nROUTER=%q\nRTR_NS=%q\n' "$TTL_SECURITY" "$ROUTER" "$RTR_NS"
    printf 'JOIN_NS=%q\nFULL_TABLE=%q\n' "$JOIN_NS" "$FULL_TABLE"
    printf 'PIDS=%q\n' "${PIDS:-}"
    printf 'RUN_DIR=%q\n' "$D"
  } >"$D/env.tmp"
  mv "$D/env.tmp" "$D/env"
}

# session_list: lines "LABEL NEIGHBOR_ADDR LOCAL_ADDR FAMILIES"
session_list() {
  case $SESSIONS in
    v4) echo "v4 $NODE_IP4 $PEER_IP4 $FAMILIES" ;;
    v6) echo "v6 $NODE_IP6 $PEER_IP6 $FAMILIES" ;;
    dual) echo "v4 $NODE_IP4 $PEER_IP4 ipv4"; echo "v6 $NODE_IP6 $PEER_IP6 ipv6" ;;
    both) echo "v4 $NODE_IP4 $PEER_IP4 $FAMILIES"; echo "v6 $NODE_IP6 $PEER_IP6 $FAMILIES" ;;
  esac
}

# ----------------------------------------------------------------- network
setup_netns() {
  local ns
  if [ "$ROUTER" = 1 ]; then setup_router; return; fi
  if [ -n "$JOIN_NS" ]; then setup_joined; return; fi
  for ns in "$PEER_NS" "$NODE_NS"; do
    ip netns add "$ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
      net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.disable_ipv6=0 \
      net.ipv6.conf.default.disable_ipv6=0 >/dev/null
    ip -n "$ns" link set lo up
  done
  # The veth pair is created directly inside the two namespaces: it never
  # exists in the root namespace, so names cannot clash across instances.
  ip link add "$PEER_IF" netns "$PEER_NS" type veth peer name "$NODE_IF" netns "$NODE_NS"
  ip -n "$PEER_NS" addr add "$PEER_IP4/30" dev "$PEER_IF"
  ip -n "$NODE_NS" addr add "$NODE_IP4/30" dev "$NODE_IF"
  ip -n "$PEER_NS" -6 addr add "$PEER_IP6/64" dev "$PEER_IF" nodad
  ip -n "$NODE_NS" -6 addr add "$NODE_IP6/64" dev "$NODE_IF" nodad
  ip -n "$PEER_NS" link set "$PEER_IF" up
  ip -n "$NODE_NS" link set "$NODE_IF" up
  wait_until 10 link_ready || die "veth $PEER_IF/$NODE_IF did not come up"
}

# both veth ends operationally up and no tentative (DAD) IPv6 address left
link_ready() {
  ip -n "$PEER_NS" link show dev "$PEER_IF" | grep -q 'state UP' &&
  ip -n "$NODE_NS" link show dev "$NODE_IF" | grep -q 'state UP' &&
  [ -z "$(ip -n "$PEER_NS" -6 addr show dev "$PEER_IF" tentative)" ] &&
  [ -z "$(ip -n "$NODE_NS" -6 addr show dev "$NODE_IF" tentative)" ]
}

teardown_netns() {
  local ns pids
  for ns in "$NODE_NS" "${RTR_NS:-}" "$PEER_NS"; do
    [ -n "$ns" ] || continue
    # a joined instance's node ns belongs to the instance it joined
    [ "$ns" = "$NODE_NS" ] && [ -n "${JOIN_NS:-}" ] && continue
    netns_exists "$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ' || true)
    if [ -n "${pids// /}" ]; then
      warn "processes still inside $ns (not started by peer.sh, left alone): $pids"
    fi
    ip netns del "$ns" || warn "could not delete netns $ns"
  done
}

# ----------------------------------------------------------------- daemons
# spawn LOGFILE CMD... : start CMD detached inside the peer netns, print PID.
# `setsid` and `ip netns exec` both exec(), so $! is the daemon's own PID.
spawn() {
  local logf=$1; shift
  setsid ip netns exec "$PEER_NS" "$@" </dev/null >>"$logf" 2>&1 &
  echo $!
}

check_started() {
  # $1 pid, $2 what, $3 log
  for _ in 1 2 3 4 5; do
    pid_alive "$1" || { warn "$2 (pid $1) exited; log $3:"; tail -n 30 "$3" >&2 || true; return 1; }
    sleep 0.1
  done
}

bool_on() { case ${1:-} in 1|y|yes|on|true) return 0 ;; *) return 1 ;; esac; }

# ---- BIRD 2
bird_conf() {
  local label nb la fams f proto
  echo "# generated by peer.sh for $NAME"
  echo "log stderr all;"
  echo "router id $PEER_IP4;"
  echo "timeformat protocol iso long ms;"
  echo "timeformat route iso long ms;"
  echo "timeformat log iso long ms;"
  echo "protocol device { }"
  # connected routes: needed for recursive next hops with multihop
  echo "protocol direct { ipv4; ipv6; interface \"$PEER_IF\"; }"
  if [ "$ROUTER" = 1 ]; then
    # the node's subnet through the router: resolves the routes' next hop
    echo "protocol static { ipv4; route 10.255.$NET_ID.0/30 via 10.254.$NET_ID.2; }"
    echo "protocol static { ipv6; route fd00:255:$NET_ID::/64 via fd00:254:$NET_ID::2; }"
  fi
  bird_bfd_conf
  [ "$FULL_TABLE" -gt 0 ] && echo "include \"$D/fulltable.conf\";"
  session_list | while read -r label nb la fams; do
    proto=node$label
    echo "protocol bgp $proto {"
    echo "  description \"node $nb over $label\";"
    if bool_on "${BGP_DEBUG:-}"; then echo "  debug all;"; else echo "  debug { states, events };"; fi
    echo "  local $la as $PEER_AS;"
    echo "  neighbor $nb as $NODE_AS;"
    if bool_on "$PASSIVE"; then echo "  passive on;"; else echo "  connect delay time 1;"; fi
    echo "  hold time $HOLD;"
    echo "  keepalive time $KEEPALIVE;"
    echo "  connect retry time 5;"
    echo "  error wait time 1, 10;"
    [ -n "$MD5" ] && echo "  password \"$MD5\";"
    if [ -n "$MULTIHOP" ]; then echo "  multihop $MULTIHOP;"; else echo "  direct;"; fi
    bool_on "$BFD" && echo "  bfd on;"
    bool_on "$TTL_SECURITY" && echo "  ttl security on;"
    for f in $fams; do
      if [ "$f" = ipv4 ] && [ "$FULL_TABLE" -gt 0 ]; then
        echo "  $f { import all; export where proto = \"fulltable\"; import keep filtered on; };"
      else
        echo "  $f { import all; export none; import keep filtered on; };"
      fi
    done
    echo "}"
  done
}

bird_start() {
  if [ "$FULL_TABLE" -gt 0 ]; then
    bird_fulltable_conf >"$D/fulltable.conf" || { warn "cannot write $D/fulltable.conf"; return 1; }
  fi
  bird_conf >"$D/bird.conf"
  timeout "$CLI_TIMEOUT" bird -p -c "$D/bird.conf" 2>"$D/bird.check" ||
    { cat "$D/bird.check" >&2; die "bird config check failed ($D/bird.conf)"; }
  local pid
  pid=$(spawn "$D/daemon.log" bird -f -c "$D/bird.conf" -s "$D/bird.ctl" -P "$D/bird.pid")
  PIDS=$pid
  check_started "$pid" bird "$D/daemon.log" || return 1
  wait_until 10 test -S "$D/bird.ctl" || { warn "bird control socket did not appear"; return 1; }
}

birdc_() { timeout "$CLI_TIMEOUT" birdc -s "$D/bird.ctl" "$@"; }

bird_states() {
  local label nb la fams st
  session_list | while read -r label nb la fams; do
    st=$(birdc_ show protocols all "node$label" 2>/dev/null |
         awk '/^[ \t]+BGP state:/ { print $3; exit }')
    # BIRD says "Passive" while waiting for an incoming connection: RFC 4271 "Active"
    case $st in Passive) st=Active ;; '') st=Unknown ;; esac
    echo "$label $st"
  done
}

# ONLY_SESSION (a label): that session's routes only
bird_routes() {
  local t label
  # per protocol: a FULL_TABLE's million static routes are never listed
  for t in master4 master6; do
    for label in $(session_list | awk '{ print $1 }'); do
      birdc_ show route table "$t" all protocol "node$label" 2>/dev/null || true
    done
  done | awk -v sessions="$(session_list | awk -v only="${ONLY_SESSION:-}" \
      'only == "" || $1 == only { printf "node%s ", $1 }')" '
    function flush() {
      if (pfx != "" && keep) {
        if (nh == "") nh = "-"
        if (asp == "") asp = "-"
        if (comm == "") comm = "-"
        if (lc == "") lc = "-"
        if (med == "") med = "-"
        if (org == "") org = "-"
        printf "%s nexthop=%s aspath=%s communities=%s med=%s origin=%s large=%s\n", pfx, nh, asp, comm, med, org, lc
      }
      keep = 0; nh = ""; asp = ""; comm = ""; lc = ""; med = ""; org = ""
    }
    BEGIN { n = split(sessions, s, " "); for (i = 1; i <= n; i++) want[s[i]] = 1 }
    /^Table / { flush(); pfx = ""; next }
    /^[0-9a-fA-F:.]+\/[0-9]+[ \t]/ || /^[ \t]+(unicast|unreachable|blackhole|prohibit)[ \t]+\[/ {
      flush()
      if ($0 ~ /^[0-9a-fA-F]/) { pfx = $1; rest = $0 } else { rest = $0 }
      # protocol name is the first word after "["
      p = rest; sub(/^[^[]*\[/, "", p); split(p, w, /[ \]]/)
      keep = (w[1] in want)
      next
    }
    /^[ \t]+BGP\.next_hop:/ { sub(/^[ \t]+BGP\.next_hop:[ \t]*/, ""); split($0, a, " "); nh = a[1]; next }
    /^[ \t]+BGP\.as_path:/ { sub(/^[ \t]+BGP\.as_path:[ \t]*/, ""); asp = $0; next }
    /^[ \t]+BGP\.med:/ { sub(/^[ \t]+BGP\.med:[ \t]*/, ""); med = $0; next }
    /^[ \t]+BGP\.origin:/ { sub(/^[ \t]+BGP\.origin:[ \t]*/, ""); org = tolower($0); next }
    /^[ \t]+BGP\.community:/ {
      sub(/^[ \t]+BGP\.community:[ \t]*/, ""); gsub(/[()]/, ""); gsub(/,/, ":"); comm = $0; next }
    /^[ \t]+BGP\.large_community:/ {
      sub(/^[ \t]+BGP\.large_community:[ \t]*/, ""); gsub(/, /, ":"); gsub(/[()]/, ""); lc = $0; next }
    END { flush() }
  ' | sed 's/[[:space:]]*$//' | sort -V
}

# ---- FRR (zebra + bgpd, both in the peer netns, private sockets)
frr_conf() {
  local label nb la fams f
  echo "! generated by peer.sh for $NAME"
  echo "frr defaults traditional"
  echo "hostname $PEER_NS"
  echo "log timestamp precision 3"
  if bool_on "${BGP_DEBUG:-}"; then
    echo "debug bgp neighbor-events"
    echo "debug bgp updates in"
    echo "debug bgp keepalives"
  fi
  echo "!"
  echo "route-map BGPT-IN permit 10"
  echo "exit"
  echo "route-map BGPT-OUT deny 10"
  echo "exit"
  echo "!"
  echo "router bgp $PEER_AS"
  echo " bgp router-id $PEER_IP4"
  echo " bgp log-neighbor-changes"
  echo " no bgp ebgp-requires-policy"
  echo " no bgp default ipv4-unicast"
  echo " no bgp network import-check"
  session_list | while read -r label nb la fams; do
    echo " neighbor $nb remote-as $NODE_AS"
    echo " neighbor $nb description node-$label"
    echo " neighbor $nb update-source $la"
    echo " neighbor $nb timers $KEEPALIVE $HOLD"
    echo " neighbor $nb timers connect 5"
    bool_on "$PASSIVE" && echo " neighbor $nb passive"
    [ -n "$MD5" ] && echo " neighbor $nb password $MD5"
    # ttl-security and ebgp-multihop exclude each other in FRR
    if bool_on "$TTL_SECURITY"; then
      echo " neighbor $nb ttl-security hops ${MULTIHOP:-1}"
    elif [ -n "$MULTIHOP" ]; then
      echo " neighbor $nb ebgp-multihop $MULTIHOP"
    fi
    bool_on "$BFD" && echo " neighbor $nb bfd profile bgpt"
    :
  done
  for f in ipv4 ipv6; do
    echo " address-family $f unicast"
    session_list | while read -r label nb la fams; do
      case " $fams " in *" $f "*) ;; *) continue ;; esac
      echo "  neighbor $nb activate"
      echo "  neighbor $nb soft-reconfiguration inbound"
      echo "  neighbor $nb route-map BGPT-IN in"
      echo "  neighbor $nb route-map BGPT-OUT out"
    done
    echo " exit-address-family"
  done
  echo "exit"
  echo "!"
}

frr_start() {
  local pz pb pf d=/usr/lib/frr F=$D/frr
  # FRR daemons drop privileges to user frr (zebra insists that its user is
  # in the frrvty group, so it cannot simply stay root): give them a private,
  # frr-owned directory for config, pid files, logs and vty/zserv sockets.
  mkdir -p "$F"
  frr_conf >"$F/bgpd.conf"
  printf 'hostname %s\n!\n' "$PEER_NS" >"$F/zebra.conf"
  chown -R frr:frr "$F"
  chmod 750 "$F"
  chmod 711 "$D"
  # -P 0: no TCP vty; private vty (--vty_socket) and zserv (-z) sockets
  pz=$(spawn "$D/daemon.log" "$d/zebra" -u frr -g frr -P 0 -f "$F/zebra.conf" -i "$F/zebra.pid" \
        -z "$F/zserv.api" --vty_socket "$F" --log "file:$F/zebra.log")
  PIDS=$pz
  check_started "$pz" zebra "$D/daemon.log" || return 1
  wait_until 10 test -S "$F/zserv.api" || { warn "zebra socket did not appear"; return 1; }
  # -n: do not install received routes into the peer netns' kernel FIB
  pb=$(spawn "$D/daemon.log" "$d/bgpd" -u frr -g frr -P 0 -n -f "$F/bgpd.conf" -i "$F/bgpd.pid" \
        -z "$F/zserv.api" --vty_socket "$F" --log "file:$F/bgpd.log")
  PIDS="$pz $pb"
  check_started "$pb" bgpd "$D/daemon.log" || return 1
  wait_until 10 test -S "$F/bgpd.vty" || { warn "bgpd vty socket did not appear"; return 1; }
  if bool_on "$BFD"; then
    frr_bfdd_conf >"$F/bfdd.conf"
    chown frr:frr "$F/bfdd.conf"
    pf=$(spawn "$D/daemon.log" "$d/bfdd" -u frr -g frr -P 0 -f "$F/bfdd.conf" -i "$F/bfdd.pid" \
          -z "$F/zserv.api" --vty_socket "$F" --log "file:$F/bfdd.log")
    PIDS="$pz $pb $pf"
    check_started "$pf" bfdd "$D/daemon.log" || return 1
    wait_until 10 test -S "$F/bfdd.vty" || { warn "bfdd vty socket did not appear"; return 1; }
  fi
}

vtysh_() { timeout "$CLI_TIMEOUT" vtysh --vty_socket "$D/frr" "$@" 2>/dev/null; }

frr_states() {
  local label nb la fams js
  js=$(vtysh_ -c 'show bgp neighbors json' || echo '{}')
  session_list | while read -r label nb la fams; do
    printf '%s %s\n' "$label" "$(printf '%s' "$js" | jq -r --arg n "$nb" '.[$n].bgpState // "Unknown"')"
  done
}

# jq: map well-known community names (FRR/GoBGP spellings) to numbers
JQ_COMM='
def wk: {
  "noExport":"65535:65281","no-export":"65535:65281","NO_EXPORT":"65535:65281",
  "noAdvertise":"65535:65282","no-advertise":"65535:65282","NO_ADVERTISE":"65535:65282",
  "localAs":"65535:65283","local-AS":"65535:65283","NO_EXPORT_SUBCONFED":"65535:65283",
  "noPeer":"65535:65284","no-peer":"65535:65284","NO_PEER":"65535:65284",
  "blackhole":"65535:666","BLACKHOLE":"65535:666",
  "gracefulShutdown":"65535:0","graceful-shutdown":"65535:0","GRACEFUL_SHUTDOWN":"65535:0",
  "acceptOwn":"65535:1","accept-own":"65535:1","ACCEPT_OWN":"65535:1",
  "llgrStale":"65535:6","llgr-stale":"65535:6","LLGR_STALE":"65535:6",
  "noLlgr":"65535:7","no-llgr":"65535:7","NO_LLGR":"65535:7"};
def numcomm: . as $c | (wk[$c] // $c);
def u32comm: "\((. / 65536) | floor):\(. % 65536)";
def orempty: if . == null or . == "" or . == [] then "-" else . end;
'

frr_routes() {
  local f
  for f in ipv4 ipv6; do
    vtysh_ -c "show bgp $f unicast json detail" || echo '{}'
  done | jq -r "$JQ_COMM"'
    (.routes // {}) | to_entries[] | .key as $pfx |
    # "json detail" lists a {prefix, version} header object before the paths
    .value[] | select(type == "object" and (has("nexthops") or has("aspath") or has("valid"))) |
    ( [ (.nexthops // [])[] | select((.scope // "global") == "global") | .ip ] | first ) as $nh |
    "\($pfx) nexthop=\($nh // "-")" +
    " aspath=\((.aspath.string // .path // "") | orempty)" +
    " communities=\(([ (.community.list // [])[] | numcomm ] | join(" ")) | orempty)" +
    " med=\((.metric // .med) | if . == null then "-" else tostring end)" +
    " origin=\((.origin // "-") | ascii_downcase)" +
    " large=\(( (.largeCommunity.list // []) | join(" ")) | orempty)"
  ' | sed 's/[[:space:]]*$//' | sort -V
}

# ---- script: any command as the peer (PEER_CMD, run in the peer netns).
# pharos's tests use it for scripted misbehaving peers. It must listen on
# port 179; it has no session state or routes to report.
script_start() {
  local pid
  # exec: the recorded PID is the command's own.
  pid=$(spawn "$D/daemon.log" sh -c "exec $PEER_CMD")
  PIDS=$pid
  check_started "$pid" "$PEER_CMD" "$D/daemon.log" || return 1
}

script_states() {
  local label
  session_list | while read -r label _; do echo "$label Unknown"; done
}

script_routes() { :; }

# ----------------------------------------------------------------- commands
start_failed() {
  warn "start failed; last lines of $D/daemon.log:"
  tail -n 40 "$D/daemon.log" >&2 2>/dev/null || true
  warn "cleaning up"
  write_env
  stop_instance "$NAME" || true
}

cmd_start() {
  [ $# -eq 2 ] || die "usage: peer.sh start KIND NAME"
  KIND=$1; NAME=$2
  case $KIND in bird|frr|gobgp|exabgp|script) ;; *) die "KIND must be bird, frr, gobgp, exabgp or script" ;; esac
  need_name "$NAME"
  PEER_NS=$NS_PREFIX-$NAME-peer
  NODE_NS=$NS_PREFIX-$NAME-node
  D=$(inst_dir "$NAME")
  if [ -e "$D/env" ] || netns_exists "$PEER_NS" || netns_exists "$NODE_NS"; then
    die "instance '$NAME' exists already (peer.sh stop $NAME first)"
  fi
  case $KIND in
    bird) command -v bird >/dev/null && command -v birdc >/dev/null || die "bird2 not installed (peer.sh deps)" ;;
    frr) [ -x /usr/lib/frr/bgpd ] && command -v vtysh >/dev/null || die "frr not installed (peer.sh deps)" ;;
    gobgp) command -v gobgpd >/dev/null && command -v gobgp >/dev/null || die "gobgpd not installed (peer.sh deps)" ;;
    exabgp) command -v exabgp >/dev/null || die "exabgp not installed (peer.sh deps)" ;;
    script) [ -n "${PEER_CMD:-}" ] || die "KIND script needs PEER_CMD (the command run in the peer netns)" ;;
  esac
  command -v jq >/dev/null || die "jq not installed (peer.sh deps)"

  NET_ID=${NET_ID:-$(derive_net_id "$NAME")}
  is_uint "$NET_ID" || die "NET_ID must be 1..254"
  [ "$NET_ID" -ge 1 ] && [ "$NET_ID" -le 254 ] || die "NET_ID must be 1..254"
  BFD=${BFD:-0}; BFD_INTERVAL=${BFD_INTERVAL:-300}; BFD_MULT=${BFD_MULT:-3}
  TTL_SECURITY=${TTL_SECURITY:-0}; ROUTER=${ROUTER:-0}; JOIN_NS=${JOIN_NS:-}
  FULL_TABLE=${FULL_TABLE:-0}
  is_uint "$BFD_INTERVAL" && [ "$BFD_INTERVAL" -ge 10 ] || die "BFD_INTERVAL: milliseconds, at least 10"
  is_uint "$BFD_MULT" && [ "$BFD_MULT" -ge 1 ] && [ "$BFD_MULT" -le 255 ] || die "BFD_MULT must be 1..255"
  case $ROUTER in 0|1) ;; *) die "ROUTER must be 0 or 1" ;; esac
  is_uint "$FULL_TABLE" || die "FULL_TABLE must be a number of routes"
  [ "$FULL_TABLE" = 0 ] || [ "$KIND" = bird ] || die "FULL_TABLE: bird only"
  [ "$FULL_TABLE" -le 3000000 ] || die "FULL_TABLE: at most 3000000"
  if bool_on "$BFD"; then case $KIND in bird|frr) ;; *) die "BFD: bird and frr only" ;; esac; fi
  if bool_on "$TTL_SECURITY"; then case $KIND in bird|frr) ;; *) die "TTL_SECURITY: bird and frr only" ;; esac; fi
  [ "$ROUTER" = 0 ] || [ -n "${MULTIHOP:-}" ] || MULTIHOP=2
  RTR_NS=
  plan_addresses
  PEER_AS=${PEER_AS:-65000}; NODE_AS=${NODE_AS:-65001}
  SESSIONS=${SESSIONS:-v4}
  case $SESSIONS in v4|v6|dual|both) ;; *) die "SESSIONS must be v4, v6, dual or both" ;; esac
  FAMILIES=${FAMILIES:-ipv4 ipv6}
  for f in $FAMILIES; do case $f in ipv4|ipv6) ;; *) die "FAMILIES: ipv4 and/or ipv6" ;; esac; done
  HOLD=${HOLD:-90}
  is_uint "$HOLD" || die "HOLD must be an integer"
  [ "$HOLD" -ge 3 ] && [ "$HOLD" -le 65535 ] || die "HOLD must be 3..65535 (0 is not supported: gobgp would read it as 'default')"
  KEEPALIVE=${KEEPALIVE:-$(( HOLD / 3 ))}
  MD5=${MD5:-}
  MULTIHOP=${MULTIHOP:-}
  PASSIVE=${PASSIVE:-1}
  is_uint "$KEEPALIVE" && [ "$KEEPALIVE" -ge 1 ] && [ "$KEEPALIVE" -lt "$HOLD" ] ||
    die "KEEPALIVE must be 1..HOLD-1"
  is_uint "$PEER_AS" && is_uint "$NODE_AS" || die "PEER_AS/NODE_AS must be numbers"
  [ "$PEER_AS" != "$NODE_AS" ] || die "PEER_AS = NODE_AS would be iBGP; this harness is eBGP only"
  [ -z "$MULTIHOP" ] || { is_uint "$MULTIHOP" && [ "$MULTIHOP" -ge 1 ] && [ "$MULTIHOP" -le 255 ]; } ||
    die "MULTIHOP must be 1..255"
  case $PASSIVE in 0|1) ;; *) die "PASSIVE must be 0 or 1" ;; esac
  case $MD5 in *[\"\\\ ]*) die "MD5 must not contain quotes, backslashes or spaces" ;; esac
  PIDS=

  mkdir -p "$D"
  chmod 700 "$D"
  write_env
  # any failure from here on: undo everything
  trap 'if [ $? -ne 0 ]; then start_failed; fi' EXIT
  setup_netns
  "${KIND}_start" || die "$KIND failed to start (see $D/daemon.log)"
  write_env
  wait_until 10 listening_179 || die "$KIND is not listening on port 179 in $PEER_NS"
  trap - EXIT
  echo "started $KIND peer '$NAME' (pid ${PIDS}) sessions=$SESSIONS"
  echo "  peer: netns $PEER_NS  $PEER_IF  $PEER_IP4/30 $PEER_IP6/64  AS $PEER_AS"
  echo "  node: netns $NODE_NS  $NODE_IF  $NODE_IP4/30 $NODE_IP6/64  AS $NODE_AS"
  echo "  hold=$HOLD keepalive=$KEEPALIVE passive=$PASSIVE md5=${MD5:+yes} multihop=${MULTIHOP:-no}"
}

stop_instance() {
  load_env "$1"
  local pid nsino=
  netns_exists "$PEER_NS" && nsino=$(stat -L -c %i "/run/netns/$PEER_NS" 2>/dev/null || true)
  for pid in $PIDS; do
    pid_alive "$pid" || continue
    # only signal it if it is still the process we started (inside our netns)
    if [ -n "$nsino" ] && [ "$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null)" = "$nsino" ]; then
      kill -TERM "$pid" 2>/dev/null || true
    else
      warn "pid $pid is not inside $PEER_NS; not signalling it"
    fi
  done
  for pid in $PIDS; do
    for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid" && [ "$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null)" = "$nsino" ]; then
      warn "pid $pid ignored SIGTERM for 5 s, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  # the exabgp API helper (cat) is a child of exabgp and exits with it
  # a stand-in speaker started by standin.sh for this instance (by its PID)
  if [ -f "$D/standin/pid" ] && netns_exists "$NODE_NS"; then
    pid=$(cat "$D/standin/pid")
    nsino=$(stat -L -c %i "/run/netns/$NODE_NS" 2>/dev/null || true)
    if pid_alive "$pid" && [ "$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null)" = "$nsino" ]; then
      kill -CONT "$pid" 2>/dev/null || true
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
      pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  teardown_netns
  # FRR leaves per-pid crash-log directories behind
  for pid in $PIDS; do rm -rf "/var/tmp/frr/zebra.$pid" "/var/tmp/frr/bgpd.$pid" 2>/dev/null || true; done
  rm -rf "$D"
}

cmd_stop() {
  need_name "$@"
  D=$(inst_dir "$1")
  if [ ! -f "$D/env" ]; then
    # nothing recorded; still remove stray namespaces of that name
    PEER_NS=$NS_PREFIX-$1-peer; NODE_NS=$NS_PREFIX-$1-node
    teardown_netns
    rm -rf "$D"
    return 0
  fi
  stop_instance "$1"
  echo "stopped '$1'"
}

daemon_alive() {
  local p
  for p in $PIDS; do pid_alive "$p" || return 1; done
  [ -n "$PIDS" ]
}

# per-session states; "Dead" when the daemon process(es) are gone
kind_states() {
  if daemon_alive; then
    "${KIND}_states"
  else
    session_list | while read -r label _; do echo "$label Dead"; done
  fi
}

cmd_states() {
  need_name "$@"
  load_env "$1"
  kind_states
}

cmd_state() {
  need_name "$@"
  load_env "$1"
  local want=${2:-} lines st
  lines=$(kind_states)
  if [ -n "$want" ]; then
    st=$(printf '%s\n' "$lines" | awk -v w="$want" '$1 == w { print $2 }')
    [ -n "$st" ] || die "no session '$want' (sessions: $(printf '%s\n' "$lines" | awk '{printf "%s ", $1}'))"
    echo "$st"
  else
    printf '%s\n' "$lines" | awk '
      $2 != "Established" && bad == "" { bad = $2 }
      END { print (bad == "" ? "Established" : bad) }'
  fi
}

# die unless LABEL is one of the instance's sessions
need_session() {
  session_list | awk -v w="$1" '$1 == w { f = 1 } END { exit !f }' ||
    die "no session '$1' (sessions: $(session_list | awk '{printf "%s ", $1}'))"
}

cmd_routes() {
  need_name "$@"
  load_env "$1"
  daemon_alive || die "$KIND daemon of '$1' is not running (pids $PIDS); see peer.sh log $1"
  if [ -n "${2:-}" ]; then
    need_session "$2"
    [ "$KIND" = bird ] || die "routes of one session: bird only"
    ONLY_SESSION=$2
  fi
  "${KIND}_routes"
}

cmd_since() {
  [ $# -eq 2 ] || die "usage: peer.sh since NAME v4|v6"
  need_name "$1"
  load_env "$1"
  need_session "$2"
  [ "$KIND" = bird ] || die "since: bird only"
  daemon_alive || die "bird of '$1' is not running (pids $PIDS); see peer.sh log $1"
  # Name Proto Table State Since (date and time: timeformat protocol iso long ms) Info
  birdc_ show protocols "node$2" | awk -v p="node$2" '$1 == p { print $5, $6 }'
}

cmd_wait() {
  [ $# -ge 2 ] || die "usage: peer.sh wait NAME established|down|prefix P|noprefix P|count K [TIMEOUT_S]"
  need_name "$1"
  local name=$1 what=$2 arg='' timeout t0 t1
  shift 2
  case $what in
    prefix|noprefix|count) [ $# -ge 1 ] || die "wait $what needs an argument"; arg=$1; shift ;;
    established|down) ;;
    *) die "unknown wait condition '$what'" ;;
  esac
  timeout=${1:-30}
  t0=$(now_ms)
  _cond() {
    case $what in
      established) [ "$("$0" state "$name")" = Established ] ;;
      down) [ "$("$0" state "$name")" != Established ] ;;
      prefix) "$0" routes "$name" | awk -v p="$arg" '$1 == p { f = 1 } END { exit !f }' ;;
      noprefix) "$0" routes "$name" | awk -v p="$arg" '$1 == p { f = 1 } END { exit f }' ;;
      count) [ "$("$0" routes "$name" | wc -l)" -eq "$arg" ] ;;
    esac
  }
  if wait_until "$timeout" _cond; then
    t1=$(now_ms)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", (b - a) / 1000 }'
    return 0
  fi
  warn "timeout after ${timeout}s waiting for '$what${arg:+ $arg}' on '$name'"
  return 1
}

cmd_exec() {
  [ $# -ge 2 ] || die "usage: peer.sh exec NAME CMD..."
  need_name "$1"
  load_env "$1"; shift
  exec ip netns exec "$NODE_NS" "$@"
}

cmd_peer_exec() {
  [ $# -ge 2 ] || die "usage: peer.sh peer-exec NAME CMD..."
  need_name "$1"
  load_env "$1"; shift
  exec ip netns exec "$PEER_NS" "$@"
}

cmd_env() {
  need_name "$@"
  load_env "$1"
  grep -v '^PIDS=' "$D/env"
  printf 'PIDS=%q\n' "$PIDS"
}

cmd_log() {
  need_name "$@"
  load_env "$1"
  local f
  for f in "$D"/daemon.log "$D"/frr/bgpd.log "$D"/frr/zebra.log "$D"/exabgp-msgs.jsonl; do
    [ -s "$f" ] || continue
    echo "==> $f <=="
    cat "$f"
  done
}

cmd_list() {
  local e
  [ -d "$RUN_BASE" ] || return 0
  for e in "$RUN_BASE"/*/env; do
    [ -f "$e" ] || continue
    # shellcheck disable=SC1090
    ( . "$e"; alive=dead; for p in $PIDS; do pid_alive "$p" && alive=running; done
      echo "$NAME kind=$KIND net=$NET_ID sessions=$SESSIONS pids=$PIDS $alive" )
  done
}

cmd_cleanup() {
  local e n ns
  if [ -d "$RUN_BASE" ]; then
    for e in "$RUN_BASE"/*/env; do
      [ -f "$e" ] || continue
      n=$(basename "$(dirname "$e")")
      ( stop_instance "$n" ) || warn "could not stop '$n'"
    done
  fi
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NS_PREFIX-" || true); do
    warn "deleting stray netns $ns"
    ip netns del "$ns" || true
  done
  echo "cleanup done"
}

# pids of processes listening on TCP 179 in the ROOT netns
root_179_pids() {
  ss -Hltnp 'sport = :179' 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true
}

cmd_deps() {
  export DEBIAN_FRONTEND=noninteractive
  local pkgs="bird2 frr gobgpd exabgp jq iproute2 procps coreutils tcpdump"
  local units="bird frr gobgpd exabgp" u before_pids after_pids pid active_before=
  local have_systemd=0
  [ -d /run/systemd/system ] && have_systemd=1
  before_pids=$(root_179_pids)
  if [ "$have_systemd" = 1 ]; then
    for u in $units; do systemctl is-active --quiet "$u" 2>/dev/null && active_before="$active_before $u"; done
  fi
  timeout 600 apt-get update -qq || warn "apt-get update failed (continuing)"
  # shellcheck disable=SC2086
  timeout 1200 apt-get install -y --no-install-recommends $pkgs
  # Debian's maintainer scripts may start bird/frr/gobgpd/exabgp in the root
  # netns (unless a policy-rc.d forbids it). Stop exactly what this install
  # started: units that were not active before, then new port-179 listeners.
  if [ "$have_systemd" = 1 ]; then
    for u in $units; do
      case " $active_before " in *" $u "*) continue ;; esac
      if systemctl is-active --quiet "$u" 2>/dev/null; then
        warn "package install started $u.service in the root netns: stopping it"
        systemctl stop "$u" || warn "could not stop $u"
      fi
    done
  fi
  after_pids=$(root_179_pids)
  for pid in $after_pids; do
    case " $(printf "%s " $before_pids) " in *" $pid "*) continue ;; esac
    warn "new root-netns listener on port 179 after install: pid $pid ($(cat /proc/"$pid"/comm 2>/dev/null)); stopping it"
    kill -TERM "$pid" 2>/dev/null || true
  done
  echo "deps ok: $(bird --version 2>&1 | head -1); frr $(/usr/lib/frr/bgpd -v 2>/dev/null | head -1 | awk '{print $NF}'); $(gobgpd --version 2>&1); exabgp $(exabgp --version 2>/dev/null | awk '/ExaBGP/ {print $3}')"
}

# shellcheck source=tests/bgp-peer/peer-kinds.sh
. "$(dirname "${BASH_SOURCE[0]}")/peer-kinds.sh"
# shellcheck source=tests/bgp-peer/peer-ext.sh
. "$(dirname "${BASH_SOURCE[0]}")/peer-ext.sh"

[ $# -ge 1 ] || { usage >&2; exit 2; }
cmd=$1; shift
[ "$(id -u)" -eq 0 ] || case $cmd in help|-h|--help) ;; *) die "must run as root (netns)";; esac
case $cmd in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  state) cmd_state "$@" ;;
  states) cmd_states "$@" ;;
  routes) cmd_routes "$@" ;;
  since) cmd_since "$@" ;;
  wait) cmd_wait "$@" ;;
  exec) cmd_exec "$@" ;;
  link) cmd_link "$@" ;;
  alias) cmd_alias "$@" ;;
  bfd) cmd_bfd "$@" ;;
  exported) cmd_exported "$@" ;;
  peer-exec) cmd_peer_exec "$@" ;;
  env) cmd_env "$@" ;;
  log|logs) cmd_log "$@" ;;
  list) cmd_list ;;
  cleanup) cmd_cleanup ;;
  deps) cmd_deps ;;
  help|-h|--help) usage ;;
  *) usage >&2; exit 2 ;;
esac
