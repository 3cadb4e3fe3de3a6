#!/usr/bin/env bash
# scripts/test.sh -- the one command that runs pharos' whole test suite,
# on a fresh Debian 12 machine as well as on a developer's.
#
#   1. installs the Debian packages the tests run against (Knot DNS, NSD,
#      BIND, kdig/dig, dnsperf, iproute2, BIRD 2 and GoBGP as BGP peers, jq,
#      Chromium for the status page), only if one is missing and only as root;
#   2. makes sure the `python3` on PATH can import dnspython (dnsdiff) and
#      prometheus_client (its parser reads /metrics in tests/mgmt.rs);
#   3. cargo fmt --check, cargo clippy -D warnings (also for 32-bit ARM),
#      cargo test --release.
#
# Stops at the first failing step and says which one.
#
# Environment:
#   PHAROS_SKIP_INSTALL=1   do not touch packages (fail later if something is missing)
#   CARGO_TEST_ARGS="..."   extra arguments for `cargo test --release` (e.g. a test name)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Keep in sync with .ci/run.
PACKAGES=(knot knot-dnsutils nsd dnsutils bind9 dnsperf python3-pip iproute2 bird2 gobgpd frr exabgp nftables jq chromium fonts-liberation libc6-dev prometheus lintian systemd man-db adduser)

current_step="start"
say()  { printf '\n==> %s\n' "$*"; }
fail() { printf '\nscripts/test.sh: %s\n' "$*" >&2; exit 1; }
step() { current_step=$1; say "$1"; }
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        printf '\nscripts/test.sh: FAILED at step "%s" (exit %s)\n' "$current_step" "$rc" >&2
    fi
}
trap on_exit EXIT

# ---------------------------------------------------------------- packages
missing_packages() {
    local p
    for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            printf '%s ' "$p"
        fi
    done
}

apt_install() {
    # Services must not start from the packages' postinst (they would all
    # want port 53): use a policy-rc.d that forbids it, unless one exists.
    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local ok=1
    export DEBIAN_FRONTEND=noninteractive
    # One retry: mirrors and the package lists are sometimes briefly inconsistent.
    if ! { apt-get update && apt-get install -y --no-install-recommends "${PACKAGES[@]}"; }; then
        echo "apt-get failed; retrying once in 10 s" >&2
        sleep 10
        if ! { apt-get update && apt-get install -y --no-install-recommends "${PACKAGES[@]}"; }; then
            ok=0
        fi
    fi
    if [ $made_policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    [ $ok = 1 ]
}

step "Debian packages"
if [ "${PHAROS_SKIP_INSTALL:-0}" = 1 ]; then
    echo "PHAROS_SKIP_INSTALL=1: not installing anything"
elif [ -z "$(missing_packages)" ]; then
    echo "all present: ${PACKAGES[*]}"
elif ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    fail "not a Debian system: install by hand: ${PACKAGES[*]}"
elif [ "$(id -u)" != 0 ]; then
    fail "missing packages: $(missing_packages)-- run as root, or: sudo apt-get install -y ${PACKAGES[*]}"
else
    echo "missing: $(missing_packages)"
    apt_install || fail "apt-get install failed twice"
    [ -z "$(missing_packages)" ] || fail "still missing after install: $(missing_packages)"
fi
for prog in knotd kdig dig nsd dnsperf bird birdc gobgpd gobgp vtysh exabgp nft jq chromium; do
    command -v "$prog" >/dev/null 2>&1 || [ -x "/usr/sbin/$prog" ] \
        || [ "${PHAROS_SKIP_INSTALL:-0}" = 1 ] || fail "$prog not found after installing packages"
done

# ---------------------------------------------------------------- python
step "python3 + dnspython"
command -v python3 >/dev/null 2>&1 || fail "python3 not found"
if ! python3 -c 'import dns.message' 2>/dev/null; then
    echo "installing dnspython for $(command -v python3)"
    python3 -m pip install --quiet dnspython \
        || python3 -m pip install --quiet --break-system-packages dnspython \
        || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-dnspython; } \
        || fail "cannot install dnspython for $(command -v python3)"
fi
python3 -c 'import dns.version; print("dnspython", dns.version.version, "for", __import__("sys").executable)' \
    || fail "python3 still cannot import dnspython"

step "python3 + prometheus_client"
if ! python3 -c 'import prometheus_client.parser, prometheus_client.openmetrics.parser' 2>/dev/null; then
    echo "installing prometheus-client for $(command -v python3)"
    python3 -m pip install --quiet prometheus-client \
        || python3 -m pip install --quiet --break-system-packages prometheus-client \
        || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-prometheus-client; } \
        || fail "cannot install prometheus-client for $(command -v python3)"
fi
python3 -c 'import prometheus_client.parser, prometheus_client.openmetrics.parser; print("prometheus_client ok")' \
    || fail "python3 still cannot import prometheus_client"

# ---------------------------------------------------------------- rust
step "toolchain"
command -v cargo >/dev/null 2>&1 || fail "cargo not found (install Rust with rustup)"
cargo --version
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt || fail "rustfmt missing"
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy || fail "clippy missing"

step "cargo fmt --all -- --check"
cargo fmt --all -- --check || fail "formatting differs: run cargo fmt --all"

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "cargo clippy --target armv7-unknown-linux-gnueabihf (32-bit ARM: the Raspberry Pi package)"
# Type-checks the armhf build (rlim_t, usize and friends are 32 bits
# there); needs no cross linker. Skipped, with a warning, only where the
# target's standard library cannot be had (no rustup or no network).
armv7=armv7-unknown-linux-gnueabihf
if rustup target list --installed 2>/dev/null | grep -qx "$armv7" || timeout 300 rustup target add "$armv7"; then
    cargo clippy --target "$armv7" --lib --bins -- -D warnings
else
    echo "WARNING: cannot add the Rust target $armv7: the 32-bit build is not checked" >&2
fi

step "cargo test --release"
# shellcheck disable=SC2086
cargo test --release ${CARGO_TEST_ARGS:-}

current_step="done"
say "all checks passed"
