#!/bin/sh
# Builds the seed corpora (fuzz/corpus/ is git-ignored):
#   corpus/query/     one wire query per line of tests/dnsdiff/queries.txt
#                     (raw lines as they are, dig-like lines built by
#                     dnsdiff.py's own parser, which needs python3 + dnspython)
#   corpus/zonefile/  tests/dnsdiff/zones/*.zone and zones/*.zone
#   corpus/query_parse/  the same queries as corpus/query/
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
