#!/bin/sh
# Builds a statically linked pharos for this machine's architecture and
# checks it: no dynamic section (ldd says "not a dynamic executable"), runs
# --version. Prints the path and size.
#
# usage: scripts/build-static.sh [--musl] [--target-dir DIR]
#   default  glibc, statically linked (-C target-feature=+crt-static on the
#            host's *-linux-gnu target): needs only Debian's libc6-dev.
#   --musl   the *-linux-musl target instead (rustup target add ...-musl);
#            smaller, but musl's allocator makes zone loading slower.
# Cross builds for a Raspberry Pi work the same way with
#   --target aarch64-unknown-linux-musl / armv7-unknown-linux-musleabihf
# and a cross linker; pharos has no architecture-specific code.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
libc=gnu
target_dir="$root/target"
while [ $# -gt 0 ]; do
    case "$1" in
        --musl) libc=musl ;;
        --target-dir) target_dir="$2"; shift ;;
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-static.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
host=$(rustc -vV | sed -n 's/^host: //p')
arch=${host%%-*}
if [ "$libc" = musl ]; then
    target="$arch-unknown-linux-musl"
    flags=""
else
    target="$arch-unknown-linux-gnu"
    # Static glibc. --target keeps the flag off build scripts and proc macros.
    flags="-C target-feature=+crt-static"
fi
# Stripped, without debug info: the binary operators copy to their nodes.
CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols \
RUSTFLAGS="${RUSTFLAGS:-} $flags" cargo build --release --locked --target "$target" \
    --target-dir "$target_dir" --bin pharos >&2
bin="$target_dir/$target/release/pharos"
# A static binary lists no libraries: ldd says "not a dynamic executable"
# (static) or "statically linked" (static-pie).
if ldd "$bin" 2>&1 | grep -q "=>"; then
    echo "build-static.sh: $bin is dynamically linked:" >&2
    ldd "$bin" >&2
    exit 1
fi
"$bin" --version >&2
size=$(stat -c %s "$bin")
echo "build-static.sh: $bin: static, $size bytes ($((size / 1024 / 1024)) MiB)" >&2
echo "$bin"
