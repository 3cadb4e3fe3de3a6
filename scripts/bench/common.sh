# shellcheck shell=bash disable=SC2154,SC2034  # globals of the sourcing script
# Shell helpers shared by the scripts/bench-*.sh drivers (sourced, not run).
# pick_port needs the caller's $lib (scripts/bench/benchlib.py), $next_port
# and $port_base, and its die().

find_bin() {  # name -> path on stdout, or nothing
    local p
    p=$(command -v "$1" 2>/dev/null) && { echo "$p"; return 0; }
    for p in /usr/sbin/"$1" /usr/local/sbin/"$1"; do
        [ -x "$p" ] && { echo "$p"; return 0; }
    done
    return 1
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

has() { [[ " ${server_list[*]} " == *" $1 "* ]]; }

pick_port() {  # -> sets $port to the next free loopback port
    local tries=0
    while ! "${PY:-python3}" "$lib" port-free "$next_port"; do
        next_port=$((next_port + 1)); tries=$((tries + 1))
        [ $tries -lt 50 ] || die "no free port from $port_base on"
    done
    port=$next_port
    next_port=$((next_port + 1))
}
