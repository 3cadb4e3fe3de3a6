#!/bin/bash
# run-pair.sh ZONEDIR [dnsdiff.py options...]
#
# Start Knot DNS (reference) and a server under test (NSD, a second Knot,
# pharos, or a server you started yourself), both loaded with every
# ZONEDIR/*.zone (origin = file name without ".zone"), wait until both
# answer the SOA of every zone, run dnsdiff.py over queries.txt, stop both
# servers and exit with dnsdiff.py's status (0 = no differences,
# 1 = differences, 2 = harness/setup error).
#
# A zone file containing the line "; dnsdiff: allow-axfr" gets AXFR/IXFR
# allowed from 127.0.0.1 on both servers; every other zone refuses transfers.
#
# Every run gets its own scratch directory (mktemp -d), so several runs can
# go at once.  It is removed afterwards if the run found no differences and
# DNSDIFF_WORK was not given; otherwise it is kept (its path is printed).
# Ports that are not given are picked free at start-up.
#
# Environment (defaults in brackets):
#   DNSDIFF_WORK  scratch dir for configs, databases, logs   [mktemp -d /tmp/dnsdiff.XXXXXX]
#   REF_PORT      port of the reference Knot                [a free port]
#   TEST_PORT     port of the server under test             [a free port]
#   TEST_SERVER   nsd | knot | pharos | external            [nsd]
#                 knot: a second Knot instance (harness self-test)
#                 pharos: the binary $PHAROS with node id "dnsdiff"
#                 external: start nothing; TEST_ADDR must already serve the zones
#   PHAROS        pharos binary for TEST_SERVER=pharos      [REPO/target/release/pharos]
#   TEST_ADDR     ADDR:PORT of an external server under test [127.0.0.1:$TEST_PORT]
#   TEST_ZONEDIR  zones for the server under test           [ZONEDIR]
#   QUERIES       query file                                [queries.txt next to this script]
#   KEEP_RUNNING  1 = leave the servers up afterwards (PIDs are printed)
#
# Knot (and pharos) run with identity "dnsdiff", NSID "dnsdiff" and version
# string "pharos", the settings tests/differential.rs uses, so CHAOS and
# NSID answers agree between Knot and pharos.
set -u

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 ZONEDIR [dnsdiff.py options...]" >&2
    exit 2
fi
zonedir=$(cd "$1" && pwd); shift
test_server=${TEST_SERVER:-nsd}
test_zonedir=$(cd "${TEST_ZONEDIR:-$zonedir}" && pwd) || exit 2
queries=${QUERIES:-$here/queries.txt}

case $test_server in nsd|knot|pharos|external) ;; *)
    echo "run-pair: TEST_SERVER must be nsd, knot, pharos or external" >&2; exit 2 ;;
esac

need() {  # binary -> absolute path, or exit 2
    local p
    p=$(command -v "$1" 2>/dev/null) || { [ -x "/usr/sbin/$1" ] && p=/usr/sbin/$1; } || {
        echo "run-pair: $1 not found ($2)" >&2; exit 2; }
    echo "$p"
}
KNOTD=$(need knotd "apt-get install knot") || exit 2
if [ "$test_server" = nsd ]; then NSD=$(need nsd "apt-get install nsd") || exit 2; fi
if [ "$test_server" = pharos ]; then
    PHAROS=${PHAROS:-$here/../../target/release/pharos}
    if [ ! -x "$PHAROS" ]; then
        echo "run-pair: pharos binary $PHAROS not found (cargo build --release, or set PHAROS)" >&2
        exit 2
    fi
    PHAROS=$(cd "$(dirname "$PHAROS")" && pwd)/$(basename "$PHAROS")
fi
python3 -c 'import dns.message' 2>/dev/null || {
    echo "run-pair: python3 with dnspython needed (pip install dnspython)" >&2; exit 2; }

zones=()
for f in "$zonedir"/*.zone; do
    [ -e "$f" ] || continue
    zones+=("$(basename "$f" .zone)")
done
if [ ${#zones[@]} -eq 0 ]; then
    echo "run-pair: no *.zone files in $zonedir" >&2; exit 2
fi
allows_axfr() { grep -q '^; *dnsdiff: *allow-axfr' "$zonedir/$1.zone"; }

free_port() {  # print a port that is free on 127.0.0.1 for both UDP and TCP
    python3 - <<'PYEOF'
import socket
for _ in range(200):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        t.close()
        u.close()
    print(port)
    break
else:
    raise SystemExit("run-pair: no free port found")
PYEOF
}

port_busy() {  # true if 127.0.0.1:$1 is taken for UDP or TCP
    python3 - "$1" <<'PYEOF'
import socket, sys
port = int(sys.argv[1])
for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    if kind == socket.SOCK_STREAM:   # ignore TIME_WAIT leftovers, as servers do
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        sys.exit(0)
    finally:
        s.close()
sys.exit(1)
PYEOF
}

ref_port=${REF_PORT:-}
[ -n "$ref_port" ] || ref_port=$(free_port) || exit 2
test_port=${TEST_PORT:-}
if [ -z "$test_port" ]; then
    test_port=$(free_port) || exit 2
    while [ "$test_port" = "$ref_port" ]; do test_port=$(free_port) || exit 2; done
fi
test_addr=${TEST_ADDR:-127.0.0.1:$test_port}

ports=("$ref_port"); [ "$test_server" != external ] && ports+=("$test_port")
for p in "${ports[@]}"; do
    if port_busy "$p"; then
        echo "run-pair: 127.0.0.1:$p is already in use" >&2
        exit 2
    fi
done

if [ -n "${DNSDIFF_WORK:-}" ]; then
    work=$DNSDIFF_WORK; own_work=0
    mkdir -p "$work" || exit 2
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/dnsdiff.XXXXXX") || exit 2; own_work=1
fi
echo "run-pair: work dir $work" >&2

write_knot_conf() {  # dir port zonedir nsid
    local dir=$1 port=$2 zdir=$3 nsid=$4 z
    mkdir -p "$dir/db" "$dir/run"
    {
    cat <<EOF
# generated by run-pair.sh
server:
    identity: dnsdiff
    nsid: $nsid
    version: pharos
    rundir: $dir/run
    pidfile: $dir/run/knot.pid
    listen: 127.0.0.1@$port
database:
    storage: $dir/db
control:
    listen: $dir/run/knot.sock
log:
  - target: $dir/knot.log
    any: info
acl:
  - id: local_transfer
    address: 127.0.0.1
    action: transfer
template:
  - id: default
    # DNS cookies (RFC 7873) as pharos answers them; no rate limiting.
    global-module: mod-cookies
    storage: $zdir
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
EOF
    for z in "${zones[@]}"; do
        echo "  - domain: $z"
        if allows_axfr "$z"; then echo "    acl: local_transfer"; fi
    done
    } > "$dir/knot.conf"
    if command -v knotc >/dev/null 2>&1; then
        knotc -c "$dir/knot.conf" conf-check >"$dir/conf-check.log" 2>&1 || {
            echo "run-pair: knot config check failed:" >&2; cat "$dir/conf-check.log" >&2; return 1; }
    fi
}

write_nsd_conf() {  # dir port zonedir
    local dir=$1 port=$2 zdir=$3 z
    mkdir -p "$dir/xfr"
    {
    cat <<EOF
# generated by run-pair.sh
server:
    ip-address: 127.0.0.1@$port
    port: $port
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$zdir"
    database: ""
    zonelistfile: "$dir/zone.list"
    xfrdfile: "$dir/xfrd.state"
    xfrdir: "$dir/xfr"
    pidfile: "$dir/nsd.pid"
    logfile: "$dir/nsd.log"
    identity: "dnsdiff"
    nsid: "ascii_dnsdiff-nsd"
    verbosity: 1
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
EOF
    for z in "${zones[@]}"; do
        printf 'zone:\n    name: "%s"\n    zonefile: "%s.zone"\n' "$z" "$z"
        if allows_axfr "$z"; then echo "    provide-xfr: 127.0.0.1 NOKEY"; fi
    done
    } > "$dir/nsd.conf"
    if command -v nsd-checkconf >/dev/null 2>&1; then
        nsd-checkconf "$dir/nsd.conf" >"$dir/checkconf.log" 2>&1 || {
            echo "run-pair: nsd config check failed:" >&2; cat "$dir/checkconf.log" >&2; return 1; }
    fi
}

write_pharos_conf() {  # dir port zonedir
    local dir=$1 port=$2 zdir=$3 z
    mkdir -p "$dir/var"
    {
    cat <<EOF
# generated by run-pair.sh
[node]
id = "dnsdiff"
data-dir = "$dir/var"

[dns]
listen = ["127.0.0.1:$port"]
version = "pharos"
nsid = true
udp-payload = 1232
EOF
    for z in "${zones[@]}"; do
        printf '\n[[zone]]\nname = "%s"\nfile = "%s/%s.zone"\n' "$z" "$zdir" "$z"
    done
    } > "$dir/pharos.toml"
    "$PHAROS" check-config "$dir/pharos.toml" >"$dir/check-config.log" 2>&1 || {
        echo "run-pair: pharos check-config failed:" >&2; cat "$dir/check-config.log" >&2; return 1; }
}

rm -rf "$work/ref" "$work/test"
mkdir -p "$work/ref" "$work/test"
write_knot_conf "$work/ref" "$ref_port" "$zonedir" dnsdiff || exit 2
case $test_server in
    nsd)    write_nsd_conf "$work/test" "$test_port" "$test_zonedir" || exit 2 ;;
    knot)   write_knot_conf "$work/test" "$test_port" "$test_zonedir" dnsdiff || exit 2 ;;
    pharos) write_pharos_conf "$work/test" "$test_port" "$test_zonedir" || exit 2 ;;
esac

# ------------------------------------------------------------------ start/stop
pids=()
rc=2
stop_servers() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "run-pair: pid $pid did not stop on TERM, sending KILL" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    pids=()
}
cleanup() {
    stop_servers
    if [ "$own_work" = 1 ] && [ "$rc" = 0 ] && [ "${KEEP_RUNNING:-0}" != 1 ]; then
        rm -rf "$work"
    else
        echo "run-pair: configs and logs kept in $work" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$KNOTD" -c "$work/ref/knot.conf" >"$work/ref/stdout.log" 2>&1 &
pids+=($!)
echo "run-pair: reference knotd pid $! on 127.0.0.1:$ref_port" >&2
case $test_server in
    nsd)  "$NSD" -d -c "$work/test/nsd.conf" >"$work/test/stdout.log" 2>&1 &
          pids+=($!); echo "run-pair: test nsd pid $! on $test_addr" >&2 ;;
    knot) "$KNOTD" -c "$work/test/knot.conf" >"$work/test/stdout.log" 2>&1 &
          pids+=($!); echo "run-pair: test knotd pid $! on $test_addr" >&2 ;;
    pharos) "$PHAROS" serve --config "$work/test/pharos.toml" \
                >"$work/test/stdout.log" 2>"$work/test/pharos.log" &
          pids+=($!); echo "run-pair: test pharos pid $! on $test_addr" >&2 ;;
    external) echo "run-pair: using external server under test at $test_addr" >&2 ;;
esac

# wait until both answer SOA (NOERROR, AA) for every zone
if ! python3 - "127.0.0.1:$ref_port" "$test_addr" "${zones[@]}" <<'PYEOF'
import sys, time
import dns.message, dns.query, dns.rcode, dns.flags
servers = sys.argv[1:3]
zones = sys.argv[3:]
pending = {(s, z) for s in servers for z in zones}
deadline = time.time() + 30
while pending and time.time() < deadline:
    for s, z in sorted(pending):
        host, _, port = s.rpartition(":")
        q = dns.message.make_query(z, "SOA")
        q.flags &= ~dns.flags.RD
        try:
            r = dns.query.udp(q, host.strip("[]"), port=int(port), timeout=0.5)
        except Exception:
            continue
        if r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA and r.answer:
            pending.discard((s, z))
    if pending:
        time.sleep(0.2)
if pending:
    print("run-pair: no authoritative SOA answer for: "
          + ", ".join(f"{z} at {s}" for s, z in sorted(pending)), file=sys.stderr)
    sys.exit(1)
PYEOF
then
    for f in "$work"/ref/*.log "$work"/test/*.log; do
        [ -s "$f" ] && { echo "---- $f" >&2; tail -n 20 "$f" >&2; }
    done
    rc=2
    exit 2
fi
echo "run-pair: both servers answer SOA for ${#zones[@]} zones: ${zones[*]}" >&2

python3 "$here/dnsdiff.py" "127.0.0.1:$ref_port" "$test_addr" "$queries" "$@"
rc=$?
if [ "${KEEP_RUNNING:-0}" = 1 ] && [ ${#pids[@]} -gt 0 ]; then
    echo "run-pair: servers left running, PIDs: ${pids[*]} (stop them with kill PID)" >&2
    pids=()      # disarm the EXIT trap
fi
exit $rc
