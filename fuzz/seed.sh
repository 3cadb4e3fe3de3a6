#!/bin/sh
# Builds the seed corpora (fuzz/corpus/ is git-ignored):
#   corpus/query/     one wire query per line of tests/dnsdiff/queries.txt
#                     (raw lines as they are, dig-like lines built by
#                     dnsdiff.py's own parser, which needs python3 + dnspython)
#   corpus/zonefile/  tests/dnsdiff/zones/*.zone and zones/*.zone
#   corpus/query_parse/  the same queries as corpus/query/
#   corpus/transfer/  AXFR/IXFR response streams
#   corpus/bgp/       BGP peer byte streams (OPEN, UPDATE, NOTIFICATION, ...)
#   corpus/config/    config.example.toml
#   corpus/api_zone/  regressions/api_zone/* (API bodies)
#   corpus/snapshot/  regressions/snapshot/* (a snapshot and its journal)
#   corpus/xfr_request/  regressions/xfr_request/* (AXFR/IXFR requests,
#                     signed and not, octet 0 the setting)
#   corpus/catalog/   regressions/catalog/* (catalog zones as record lists)
# Run from anywhere: fuzz/seed.sh
set -eu
export PYTHONDONTWRITEBYTECODE=1  # do not leave __pycache__ in tests/
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

mkdir -p "$here/corpus/query" "$here/corpus/query_parse" "$here/corpus/zonefile"

python3 - "$root/tests/dnsdiff" "$here/corpus/query" <<'PY'
import hashlib, os, sys
dnsdiff_dir, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, dnsdiff_dir)
import dnsdiff  # the harness's own query-line parser (needs dnspython)

queries = dnsdiff.load_queries(os.path.join(dnsdiff_dir, "queries.txt"), seed=1)
written = set()
for q in queries:
    if not q.wire:
        continue
    name = hashlib.sha1(q.wire).hexdigest()
    if name in written:
        continue
    written.add(name)
    with open(os.path.join(out, name), "wb") as f:
        f.write(q.wire)
raw = sum(1 for q in queries if q.raw is not None)
print(f"corpus/query: {len(written)} seeds from {len(queries)} lines ({raw} raw)")
PY
cp "$here"/corpus/query/* "$here/corpus/query_parse/"

n=0
for f in "$root"/tests/dnsdiff/zones/*.zone "$root"/zones/*.zone; do
    [ -f "$f" ] || continue
    cp "$f" "$here/corpus/zonefile/$(basename "$f")"
    n=$((n + 1))
done
echo "corpus/zonefile: $n seeds"

# Transfer streams for the `transfer` target: first octet = request ID low
# bits (bit 0: 0 = AXFR, 1 = IXFR from serial 5), then length-prefixed
# response messages, built with dnspython.
mkdir -p "$here/corpus/transfer"
python3 - "$here/corpus/transfer" <<'PY'
import os, struct, sys
import dns.message, dns.name, dns.rrset, dns.rdatatype, dns.flags
out = sys.argv[1]
origin = dns.name.from_text("example.test")
def soa(serial):
    return dns.rrset.from_text(origin, 300, "IN", "SOA", f"ns1.example.test. host.example.test. {serial} 3600 600 86400 300")
def rr(owner, t, data):
    return dns.rrset.from_text(dns.name.from_text(owner, origin), 300, "IN", t, data)
def msg(first, rrsets):
    q = dns.message.make_query(origin, "AXFR")
    q.id = 0x4200 | first
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    for s in rrsets:
        r.answer.append(s)
    w = r.to_wire()
    return struct.pack("!H", len(w)) + w
def save(name, first, messages):
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([first]) + b"".join(messages))
body = [rr("@", "NS", "ns1.example.test."), rr("ns1", "A", "192.0.2.1"), rr("www", "A", "192.0.2.2"),
        rr("*.w", "TXT", '"wild"'), rr("sub", "NS", "ns.sub.example.test."), rr("ns.sub", "A", "192.0.2.9"),
        rr("mail", "MX", "10 ns1.example.test."), rr("alias", "CNAME", "www.example.test.")]
save("axfr-one-message", 0, [msg(0, [soa(7)] + body + [soa(7)])])
save("axfr-three-messages", 2, [msg(2, [soa(7)] + body[:3]), msg(2, body[3:]), msg(2, [soa(7)])])
save("ixfr-two-diffs", 1, [msg(1, [soa(7), soa(5), rr("www", "A", "192.0.2.2"), soa(6), rr("www", "A", "192.0.2.6"),
                                     soa(6), soa(7), rr("new", "A", "192.0.2.7"), soa(7)])])
save("ixfr-up-to-date", 3, [msg(3, [soa(5)])])
save("ixfr-as-axfr", 5, [msg(5, [soa(8)] + body + [soa(8)])])
print(f"corpus/transfer: 5 seeds")
PY

# Peer byte streams for the `bgp` target: octet 0 picks the config (bit 0:
# our ASN 4-octet, bits 1-2: families, bit 3: hold 0), octet 1 a mask of
# extra events, then what the peer sends (see src/bgp/replay.rs).
mkdir -p "$here/corpus/bgp"
python3 - "$here/corpus/bgp" <<'PY'
import os, socket, struct, sys
out = sys.argv[1]
def msg(kind, body=b""):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body
def open_(asn=65000, hold=90, asn4=True, fams=((1, 1), (2, 1)), extra=b""):
    caps = b"".join(bytes([1, 4]) + struct.pack("!HBB", a, 0, s) for a, s in fams)
    if asn4:
        caps += bytes([65, 4]) + struct.pack("!I", asn)
    caps += bytes([2, 0]) + bytes([64, 2, 0x40, 0x78]) + extra  # route refresh, graceful restart
    params = bytes([2, len(caps)]) + caps
    my_as = asn if asn < 65536 else 23456
    return msg(1, struct.pack("!BHH4sB", 4, my_as, hold, socket.inet_aton("10.255.0.1"), len(params)) + params)
KA = msg(4)
def attr(flags, code, value):
    if flags & 0x10:
        return struct.pack("!BBH", flags, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value
def update(withdrawn=b"", attrs=b"", nlri=b""):
    return msg(2, struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(attrs)) + attrs + nlri)
path4 = attr(0x40, 2, bytes([2, 1]) + struct.pack("!I", 65000))
base = attr(0x40, 1, b"\x00") + path4 + attr(0x40, 3, socket.inet_aton("10.255.0.1"))
upd4 = update(attrs=base + attr(0xc0, 8, struct.pack("!I", 0xfde80064)), nlri=bytes([24, 203, 0, 113]))
mp = struct.pack("!HBB", 2, 1, 16) + socket.inet_pton(socket.AF_INET6, "fd00::1") + b"\x00" + bytes([48]) + bytes.fromhex("20010db80002")
upd6 = update(attrs=attr(0x40, 1, b"\x00") + path4 + attr(0x90, 14, mp))
wd6 = update(attrs=attr(0x90, 15, struct.pack("!HB", 2, 1) + bytes([48]) + bytes.fromhex("20010db80002")))
eor4 = update()
rr = msg(5, struct.pack("!HBB", 2, 0, 1))
notif = msg(3, bytes([6, 2, 3]) + b"bye")
seeds = {
    "established": (6, 0, open_() + KA),
    "established-updates": (6, 0x55, open_() + KA + KA + upd4 + upd6 + wd6 + eor4 + rr + KA),
    "established-notification": (6, 0, open_() + KA + notif + open_() + KA),
    "asn4-two-octet-peer": (7, 0x0f, open_(asn4=False) + KA + upd4),
    "hold-zero": (8 | 6, 0, open_(hold=0) + KA + KA),
    "ipv6-only": (2, 0xf0, open_(fams=((2, 1),)) + KA + upd6),
    "no-common-family": (0, 0, open_(fams=((2, 1),))),
    "bad-peer-as": (6, 0, open_(asn=65099)),
    "garbage": (6, 0, open_() + b"GET / HTTP/1.1\r\n\r\n"),
}
for name, (sel, mask, data) in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([sel, mask]) + data)
print(f"corpus/bgp: {len(seeds)} seeds")
PY

mkdir -p "$here/corpus/config" "$here/corpus/api_zone" "$here/corpus/snapshot" "$here/corpus/xfr_request" "$here/corpus/catalog"
cp "$root/config.example.toml" "$here/corpus/config/"
cp "$here"/regressions/api_zone/* "$here/corpus/api_zone/"
cp "$here"/regressions/snapshot/* "$here/corpus/snapshot/"
cp "$here"/regressions/xfr_request/* "$here/corpus/xfr_request/"
cp "$here"/regressions/catalog/* "$here/corpus/catalog/"
echo "corpus/config, corpus/api_zone, corpus/snapshot, corpus/xfr_request, corpus/catalog: seeded"
