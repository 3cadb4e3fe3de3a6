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
