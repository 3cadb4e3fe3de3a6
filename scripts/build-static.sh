#!/bin/sh
# Builds a statically linked pharos and checks it: no dynamic section (no
# NEEDED entry in `readelf -d`), runs --version (under qemu-user for a
# foreign architecture when it is installed). Prints the path on stdout.
#
# usage: scripts/build-static.sh [--musl] [--target TRIPLE] [--target-dir DIR]
#   default  glibc, statically linked (-C target-feature=+crt-static on the
#            host's *-linux-gnu target): needs only Debian's libc6-dev.
#   --musl   the *-linux-musl target instead (rustup target add ...-musl);
#            smaller, but musl's allocator makes zone loading slower.
#   --target a cross build, e.g. aarch64-unknown-linux-gnu (arm64) or
#            armv7-unknown-linux-gnueabihf (armhf, Raspberry Pi 2 and
#            later): needs `rustup target add TRIPLE` and Debian's
#            gcc-aarch64-linux-gnu libc6-dev-arm64-cross (or
#            gcc-arm-linux-gnueabihf libc6-dev-armhf-cross); the linker
#            is chosen from the triple unless CARGO_TARGET_<TRIPLE>_LINKER
#            is set. pharos has no architecture-specific code.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
libc=gnu
target=""
target_dir="$root/target"
while [ $# -gt 0 ]; do
    case "$1" in
        --musl) libc=musl ;;
        --target) target="$2"; shift ;;
        --target-dir) target_dir="$2"; shift ;;
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-static.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
host=$(rustc -vV | sed -n 's/^host: //p')
if [ -z "$target" ]; then
    target="${host%%-*}-unknown-linux-$libc"
fi
case "$target" in
    *-musl*) flags="" ;;
    # Static glibc. --target keeps the flag off build scripts and proc macros.
    *) flags="-C target-feature=+crt-static" ;;
esac
# The cross linker Debian's gcc-<triple> packages install.
case "$target" in
    aarch64-unknown-linux-gnu) cross_gcc=aarch64-linux-gnu-gcc; qemu=qemu-aarch64; sysroot=/usr/aarch64-linux-gnu ;;
    armv7-unknown-linux-gnueabihf) cross_gcc=arm-linux-gnueabihf-gcc; qemu=qemu-arm; sysroot=/usr/arm-linux-gnueabihf ;;
    *) cross_gcc=""; qemu=""; sysroot="" ;;
esac
if [ "$target" != "$host" ] && [ -n "$cross_gcc" ]; then
    var="CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_LINKER"
    if [ -z "$(eval "echo \${$var:-}")" ]; then
        if ! command -v "$cross_gcc" >/dev/null; then
            echo "build-static.sh: $target needs the linker $cross_gcc (apt-get install gcc-${cross_gcc%-gcc})" >&2
            exit 1
        fi
        eval "export $var=$cross_gcc"
    fi
fi
if ! rustc --print target-libdir --target "$target" >/dev/null 2>&1 ||
   [ ! -d "$(rustc --print target-libdir --target "$target")" ]; then
    echo "build-static.sh: the Rust standard library for $target is missing (rustup target add $target)" >&2
    exit 1
fi
# Stripped, without debug info: the binary operators copy to their nodes.
CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols \
RUSTFLAGS="${RUSTFLAGS:-} $flags" cargo build --release --locked --target "$target" \
    --target-dir "$target_dir" --bin pharos >&2
bin="$target_dir/$target/release/pharos"
# A static binary has no NEEDED entry (readelf reads any architecture).
if readelf -d "$bin" 2>/dev/null | grep -q "(NEEDED)"; then
    echo "build-static.sh: $bin is dynamically linked:" >&2
    readelf -d "$bin" | grep "(NEEDED)" >&2
    exit 1
fi
if [ "$target" = "$host" ] || [ "$target" = "${host%%-*}-unknown-linux-musl" ]; then
    "$bin" --version >&2
elif [ -n "$qemu" ] && command -v "$qemu" >/dev/null; then
    "$qemu" -L "$sysroot" "$bin" --version >&2
else
    echo "build-static.sh: $target binary not run ($qemu not installed)" >&2
fi
size=$(stat -c %s "$bin")
echo "build-static.sh: $bin: static, $size bytes ($((size / 1024 / 1024)) MiB)" >&2
echo "$bin"
