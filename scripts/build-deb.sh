#!/bin/sh
# Builds the Debian package of pharos from this checkout, with dpkg-deb.
#
# usage: scripts/build-deb.sh [--target amd64|arm64|armhf] [--binary FILE] [--out DIR]
#   --target  the Debian architecture; default the host's. arm64 and armhf
#             are cross builds (see scripts/build-static.sh for the
#             rustup targets and Debian cross linkers they need).
#   --binary  package this static pharos instead of building one (it must
#             be of the target's architecture).
#   --out     where the .deb goes; default target/debian.
# Prints the path of the .deb on stdout.
#
# The package: /usr/bin/pharos (static), /lib/systemd/system/pharos.service
# (dist/pharos.service), the conffile /etc/pharos/pharos.toml
# (dist/pharos.toml: serves nothing until edited), /var/lib/pharos (owned
# by the pharos system user the postinst makes), the man pages pharos(8)
# and pharos.toml(5), bash and zsh completions, the Prometheus alert
# rules and the Grafana dashboard under /usr/share/pharos, the example
# config, the fleet guide and its configs under /usr/share/doc/pharos,
# the changelog and the
# copyright. Maintainer scripts: dist/debian/.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

arch=""
binary=""
out="$root/target/debian"
while [ $# -gt 0 ]; do
    case "$1" in
        --target) arch="$2"; shift ;;
        --binary) binary="$2"; shift ;;
        --out) out="$2"; shift ;;
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-deb.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$arch" ] || arch=$(dpkg --print-architecture)
case "$arch" in
    amd64) triple=x86_64-unknown-linux-gnu; strip=x86_64-linux-gnu-strip ;;
    arm64) triple=aarch64-unknown-linux-gnu; strip=aarch64-linux-gnu-strip ;;
    armhf) triple=armv7-unknown-linux-gnueabihf; strip=arm-linux-gnueabihf-strip ;;
    *) echo "build-deb.sh: unsupported --target $arch (amd64, arm64 or armhf)" >&2; exit 2 ;;
esac

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || { echo "build-deb.sh: no version in Cargo.toml" >&2; exit 1; }
# The changelog's newest entry must be this version (lintian and apt show it).
changelog_version=$(sed -n '1s/^pharos (\([^)]*\)).*/\1/p' dist/debian/changelog)
if [ "$changelog_version" != "$version" ]; then
    echo "build-deb.sh: dist/debian/changelog starts with $changelog_version, Cargo.toml says $version" >&2
    exit 1
fi

for f in dist/pharos.service dist/pharos.toml dist/man/pharos.8 dist/man/pharos.toml.5 \
         dist/completions/pharos.bash dist/completions/_pharos \
         dist/prometheus/pharos-rules.yml dist/grafana/pharos.json \
         dist/debian/control.in dist/debian/postinst dist/debian/prerm dist/debian/postrm \
         dist/debian/changelog dist/debian/copyright dist/debian/lintian-overrides; do
    [ -f "$f" ] || { echo "build-deb.sh: $f is missing" >&2; exit 1; }
done

if [ -z "$binary" ]; then
    binary=$(scripts/build-static.sh --target "$triple")
fi
[ -f "$binary" ] || { echo "build-deb.sh: $binary: no such file" >&2; exit 1; }

stage="$out/pharos_${version}_$arch"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"
# Every file 0644 and directory 0755 unless said otherwise, owned by root
# (dpkg-deb --root-owner-group), whatever the checkout's umask.
umask 022
put() { # put MODE SRC DEST
    install -D -m "$1" "$2" "$stage/$3"
}
gz() { # gz SRC DEST: compressed as Debian wants (-9n: reproducible)
    mkdir -p "$(dirname "$stage/$2")"
    gzip -9n < "$1" > "$stage/$2"
    chmod 0644 "$stage/$2"
}
put 0755 "$binary" usr/bin/pharos
# The compiler's .comment section is of no use at run time (dh_strip
# removes it too); the symbols are already stripped by build-static.sh.
if [ "$arch" = "$(dpkg --print-architecture)" ] && ! command -v "$strip" >/dev/null; then
    strip=strip
fi
"$strip" --remove-section=.comment "$stage/usr/bin/pharos"
put 0644 dist/pharos.service lib/systemd/system/pharos.service
put 0644 dist/pharos.toml etc/pharos/pharos.toml
mkdir -p "$stage/var/lib/pharos"
gz dist/man/pharos.8 usr/share/man/man8/pharos.8.gz
gz dist/man/pharos.toml.5 usr/share/man/man5/pharos.toml.5.gz
put 0644 dist/completions/pharos.bash usr/share/bash-completion/completions/pharos
put 0644 dist/completions/_pharos usr/share/zsh/vendor-completions/_pharos
put 0644 dist/prometheus/pharos-rules.yml usr/share/pharos/prometheus/pharos-rules.yml
put 0644 dist/grafana/pharos.json usr/share/pharos/grafana/pharos.json
gz dist/debian/changelog usr/share/doc/pharos/changelog.gz
put 0644 dist/debian/copyright usr/share/doc/pharos/copyright
gz docs/fleet.md usr/share/doc/pharos/fleet.md.gz
put 0644 config.example.toml usr/share/doc/pharos/examples/config.example.toml
put 0644 zones/example.com.zone usr/share/doc/pharos/examples/zones/example.com.zone
for f in docs/fleet/*.toml; do
    put 0644 "$f" "usr/share/doc/pharos/examples/fleet/$(basename "$f")"
done
put 0644 dist/debian/lintian-overrides usr/share/lintian/overrides/pharos

for s in postinst prerm postrm; do
    put 0755 "dist/debian/$s" "DEBIAN/$s"
done
echo /etc/pharos/pharos.toml > "$stage/DEBIAN/conffiles"
chmod 0644 "$stage/DEBIAN/conffiles"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"
installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
    dist/debian/control.in > "$stage/DEBIAN/control"
chmod 0644 "$stage/DEBIAN/control"

# Reproducible: every file dated from the changelog's newest entry.
epoch=$(date -d "$(sed -n 's/^ -- .*>  //p' dist/debian/changelog | head -n 1)" +%s)
find "$stage" -exec touch -h -d "@$epoch" {} +
deb="$out/pharos_${version}_$arch.deb"
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
size=$(stat -c %s "$deb")
echo "build-deb.sh: $deb: $size bytes, installed size $installed_size KiB" >&2
echo "$deb"
