#!/bin/bash
# selftest.sh -- checks the harness itself (needs knot + dnspython, not NSD):
#   1. offline unit tests of query parsing, comparison and ignore rules
#   2. Knot vs an identical second Knot: must report 0 differences
#   3. Knot vs a Knot serving deliberately mutated zones: must report exactly
#      the planted differences
#   4. two dead addresses: every query must count as a difference
# Prints "N passed, M failed" last; exit 0 only if everything passed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here" || exit 2
# a fresh scratch dir per run; removed if everything passed (and it was ours)
if [ -n "${DNSDIFF_WORK:-}" ]; then
    work=$DNSDIFF_WORK/selftest; rm -rf "$work"; mkdir -p "$work" || exit 2; own_work=0
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/dnsdiff-selftest.XXXXXX") || exit 2; own_work=1
fi
echo "selftest: work dir $work"
passed=0; failed=0
ok()   { echo "PASS: $*"; passed=$((passed + 1)); }
bad()  { echo "FAIL: $*"; failed=$((failed + 1)); }

echo "== 1. unit tests"
if python3 -m unittest test_dnsdiff >"$work/unit.log" 2>&1; then
    ok "unit tests ($(grep -Eo 'Ran [0-9]+ tests' "$work/unit.log"))"
else
    bad "unit tests"; tail -n 30 "$work/unit.log"
fi

echo "== 2. Knot vs Knot, same zones"
DNSDIFF_WORK=$work/same TEST_SERVER=knot ./run-pair.sh zones >"$work/same.out" 2>"$work/same.err"
rc=$?
last=$(tail -n 1 "$work/same.out")
if [ $rc -eq 0 ] && [[ $last =~ ^([0-9]+)\ queries,\ ([0-9]+)\ identical,\ 0\ differ$ ]] \
        && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]; then
    ok "identical servers: $last"
else
    bad "identical servers: rc=$rc, last line: $last"; tail -n 20 "$work/same.out" "$work/same.err"
fi

echo "== 3. Knot vs Knot with mutated zones"
mkdir -p "$work/mutated"
cp zones/*.zone "$work/mutated/"
m=$work/mutated/example.test.zone
sed -i -E 's/^www( +)A( +)192\.0\.2\.80/www 300 A 192.0.2.80/' "$m"          # TTL change
sed -i -E 's/^(mail +AAAA +)2001:db8::25/\12001:db8::26/' "$m"                # rdata change
sed -i -E '/^\*\.cw +CNAME/d' "$m"                                          # wildcard removed
sed -i -E 's/^(@ +TXT +"v=spf1 -all")/\1\n@ TXT "planted"/' "$m"              # extra record
DNSDIFF_WORK=$work/mut TEST_SERVER=knot TEST_ZONEDIR=$work/mutated ./run-pair.sh zones \
    >"$work/mut.out" 2>"$work/mut.err"
rc=$?
[ $rc -eq 1 ] && ok "mutated zones: exit status 1" || bad "mutated zones: exit status $rc (want 1)"
for want in \
    '^L[0-9]+ www\.example\.test A :: answer\.ttl: www\.example\.test\. IN A 192\.0\.2\.80 ref=\[3600\] test=\[300\]' \
    '^L[0-9]+ mail\.example\.test AAAA :: answer: only-ref=\{mail\.example\.test\. 3600 IN AAAA 2001:db8::25\} only-test=\{mail\.example\.test\. 3600 IN AAAA 2001:db8::26\}' \
    '^L[0-9]+ mail\.example\.test MX :: answer' \
    '^L[0-9]+ example\.test MX :: additional: .*2001:db8::26' \
    '^L[0-9]+ foo\.cw\.example\.test A :: rcode: ref=NOERROR test=NXDOMAIN' \
    '^L[0-9]+ example\.test TXT :: answer: only-ref=\{\} only-test=\{example\.test\. 3600 IN TXT "planted"\}'
do
    if [ "$want" = '^L[0-9]+ mail\.example\.test MX :: answer' ]; then
        # mail has no MX: the mutation must NOT show up there
        if grep -Eq "$want" "$work/mut.out"; then bad "spurious difference: $want"; else ok "no spurious difference for mail MX"; fi
        continue
    fi
    if grep -Eq "$want" "$work/mut.out"; then ok "found: $want"; else bad "missing: $want"; fi
done
# the mutations touch only example.test data: other zones and non-data
# categories (flags, EDNS, ...) must stay identical
if python3 - "$work/mut.out" <<'EOF'
import re, sys
allowed = {"rcode", "answer", "answer.ttl", "authority", "additional", "additional.ttl"}
bad = []
for line in open(sys.argv[1]):
    m = re.match(r"^L\d+ (\S+) .*? :: ([a-z.-]+):", line)
    if not m:
        continue
    name, cat = m.group(1).lower().rstrip("."), m.group(2)
    if cat not in allowed or re.search(r"(child\.example\.test|signed\.test|nsec3\.test)$", name):
        bad.append(line.rstrip()[:200])
if bad:
    print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
then
    ok "no differences outside the mutated data"
else
    bad "unexpected differences (listed above)"
fi

echo "== 4. both servers dead"
# two ports nothing listens on: bind them, note the numbers, close them
dead=$(python3 -c 'import socket
ss = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(f"127.0.0.1:{s.getsockname()[1]}" for s in ss))')
# shellcheck disable=SC2086
python3 dnsdiff.py $dead queries.txt --lines 1-90 --timeout 0.3 \
    >"$work/dead.out" 2>&1
rc=$?
last=$(tail -n 1 "$work/dead.out")
if [ $rc -eq 1 ] && [[ $last =~ ^([0-9]+)\ queries,\ 0\ identical,\ ([0-9]+)\ differ$ ]]; then
    ok "dead servers: $last"
else
    bad "dead servers: rc=$rc, last line: $last"
fi

if [ $failed -eq 0 ] && [ $own_work = 1 ]; then rm -rf "$work"; else echo "selftest: logs in $work"; fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
