#!/usr/bin/env python3
"""Offline unit tests for dnsdiff.py (no DNS server needed).

    python3 -m unittest -v test_dnsdiff      (or: python3 test_dnsdiff.py)
"""
import os
import random
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnsdiff  # noqa: E402

import dns.edns  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.opcode  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.rrset  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class Args:
    full = False
    max_records = 6
    check_order = False


def parse(line):
    return dnsdiff.parse_query_line(1, line, random.Random(1))


def response(qname="www.example.test.", qtype="A", answer=(), authority=(), additional=(),
             flags=dns.flags.QR | dns.flags.AA, rcode=dns.rcode.NOERROR, edns=0,
             ednsflags=0, payload=1232, options=(), qid=4242):
    """Build a wire response and wrap it like dnsdiff does."""
    m = dns.message.Message(id=qid)
    m.flags = flags
    m.question.append(dns.rrset.RRset(dns.name.from_text(qname), dns.rdataclass.IN,
                                      dns.rdatatype.from_text(qtype)))
    for section, rrs in ((m.answer, answer), (m.authority, authority), (m.additional, additional)):
        for text in rrs:
            name, ttl, rdclass, rdtype, rdata = text.split(None, 4)
            section.append(dns.rrset.from_text(name, int(ttl), rdclass, rdtype, rdata))
    if edns is not None and edns >= 0:
        m.use_edns(edns, ednsflags, payload, options=list(options))
    m.set_rcode(rcode)
    ex = dnsdiff.Exchange()
    ex.wires = [m.to_wire()]
    return dnsdiff.Response(ex)


def diffs(ref, test, q=None):
    q = q or parse("www.example.test A +id=4242")
    return dnsdiff.compare(q, ref, test, Args())


def cats(ref, test, q=None):
    return sorted(d.category for d in diffs(ref, test, q))


WWW_A = "www.example.test. 3600 IN A 192.0.2.80"
APEX_NS = "example.test. 3600 IN NS ns1.example.test."
NS1_A = "ns1.example.test. 3600 IN A 192.0.2.53"


class QueryParsing(unittest.TestCase):
    def test_defaults(self):
        q = parse("www.example.test A")
        m = dns.message.from_wire(q.wire)
        self.assertFalse(m.flags & dns.flags.RD)
        self.assertEqual(m.edns, 0)
        self.assertEqual(m.payload, 1232)
        self.assertFalse(m.ednsflags & dns.flags.DO)
        self.assertFalse(q.tcp)

    def test_flags_and_options(self):
        q = parse("WwW.example.test AAAA +rec +cd +ad +z +dnssec +bufsize=4096 +nsid +cookie +tcp @t1 @t2")
        m = dns.message.from_wire(q.wire)
        self.assertTrue(m.flags & dns.flags.RD and m.flags & dns.flags.CD and m.flags & dns.flags.AD)
        self.assertTrue(struct.unpack("!H", q.wire[2:4])[0] & 0x0040)
        self.assertTrue(m.ednsflags & dns.flags.DO)
        self.assertEqual(m.payload, 4096)
        self.assertEqual(sorted(int(o.otype) for o in m.options), [3, 10])
        self.assertEqual(m.question[0].name.to_text(), "WwW.example.test.")  # case kept
        self.assertTrue(q.tcp)
        self.assertEqual(q.tags, {"t1", "t2"})

    def test_noedns_class_opcode(self):
        q = parse("version.bind TXT CH +noedns")
        m = dns.message.from_wire(q.wire)
        self.assertEqual(m.edns, -1)
        self.assertEqual(m.question[0].rdclass, dns.rdataclass.CH)
        q = parse("example.test SOA +opcode=NOTIFY +aa")
        m = dns.message.from_wire(q.wire)
        self.assertEqual(m.opcode(), dns.opcode.NOTIFY)
        self.assertTrue(m.flags & dns.flags.AA)

    def test_edns_version_and_raw_options(self):
        q = parse("example.test SOA +edns=1 +ednsopt=65001:abcd +ednsflags=0x4000")
        m = dns.message.from_wire(q.wire)
        self.assertEqual(m.edns, 1)
        self.assertEqual([(int(o.otype), o.to_wire()) for o in m.options], [(65001, b"\xab\xcd")])
        self.assertTrue(m.ednsflags & 0x4000)

    def test_ixfr(self):
        q = parse("child.example.test IXFR +tcp +ixfr=7")
        m = dns.message.from_wire(q.wire)
        self.assertEqual(m.question[0].rdtype, dns.rdatatype.IXFR)
        self.assertEqual(m.authority[0][0].serial, 7)
        self.assertEqual(q.xfr, "IXFR")

    def test_raw(self):
        q = parse("raw 1234 0000 0000 0000 0000 0000 +tcp @malformed")
        self.assertEqual(q.wire, bytes.fromhex("123400000000000000000000"))
        self.assertEqual(q.qid, 0x1234)
        self.assertTrue(q.tcp)
        self.assertIn("malformed", q.tags)

    def test_errors(self):
        for bad in ("www.example.test", "www.example.test NOSUCHTYPE", "a A +nosuchoption",
                    "raw zz", "a A +bufsize=x"):
            with self.assertRaises(dnsdiff.QueryFileError, msg=bad):
                parse(bad)

    def test_shipped_query_file_parses(self):
        qs = dnsdiff.load_queries(os.path.join(HERE, "queries.txt"), 1)
        self.assertGreater(len(qs), 300)


class Comparison(unittest.TestCase):
    def test_identical(self):
        self.assertEqual(cats(response(answer=[WWW_A]), response(answer=[WWW_A])), [])

    def test_order_insensitive(self):
        a = response(answer=[WWW_A, "www.example.test. 3600 IN A 192.0.2.81"])
        b = response(answer=["www.example.test. 3600 IN A 192.0.2.81", WWW_A])
        self.assertEqual(cats(a, b), [])

    def test_record_and_ttl_and_case(self):
        self.assertEqual(cats(response(answer=[WWW_A]),
                              response(answer=["www.example.test. 3600 IN A 192.0.2.99"])), ["answer"])
        self.assertEqual(cats(response(answer=[WWW_A]),
                              response(answer=["www.example.test. 60 IN A 192.0.2.80"])), ["answer.ttl"])
        q = parse("alias.example.test A +id=4242")
        self.assertEqual(cats(response(qname="alias.example.test.",
                                       answer=["alias.example.test. 3600 IN CNAME www.example.test."]),
                              response(qname="alias.example.test.",
                                       answer=["alias.example.test. 3600 IN CNAME WWW.Example.test."]), q),
                         ["answer.case"])

    def test_duplicates_are_counted(self):
        # multiset semantics: a duplicated RR is a difference
        self.assertEqual(cats(response(answer=[WWW_A]), response(answer=[WWW_A, WWW_A])), ["answer"])

    def test_header(self):
        self.assertEqual(cats(response(answer=[WWW_A]),
                              response(answer=[WWW_A], flags=dns.flags.QR)), ["flags.aa"])
        self.assertEqual(cats(response(), response(rcode=dns.rcode.NXDOMAIN)), ["rcode"])
        self.assertEqual(cats(response(rcode=dns.rcode.BADVERS), response(rcode=dns.rcode.NOERROR)), ["rcode"])
        self.assertEqual(cats(response(qname="www.example.test."), response(qname="WWW.example.test.")),
                         ["question.case"])

    def test_positive_ns(self):
        ref = response(answer=[WWW_A])
        test = response(answer=[WWW_A], authority=[APEX_NS], additional=[NS1_A])
        self.assertEqual(cats(ref, test), ["additional.positive-ns", "authority.positive-ns"])

    def test_referral_after_cname_is_not_positive_ns(self):
        cname = "tod.example.test. 3600 IN CNAME host.deleg.example.test."
        deleg = "deleg.example.test. 3600 IN NS ns1.deleg.example.test."
        ref = response(qname="tod.example.test.", answer=[cname])
        test = response(qname="tod.example.test.", answer=[cname], authority=[deleg])
        self.assertEqual(cats(ref, test), ["authority"])

    def test_edns(self):
        nsid_a = dns.edns.GenericOption(3, b"knot")
        nsid_b = dns.edns.GenericOption(3, b"nsd")
        self.assertEqual(cats(response(options=[nsid_a]), response(options=[nsid_b])), [])
        self.assertEqual(cats(response(options=[nsid_a]), response()), ["edns.nsid"])
        self.assertEqual(cats(response(), response(edns=None)), ["edns"])
        self.assertEqual(cats(response(), response(payload=4096)), ["edns.bufsize"])
        self.assertEqual(cats(response(), response(ednsflags=dns.flags.DO)), ["edns.do"])
        ck1 = dns.edns.GenericOption(10, bytes(8) + b"server01")
        ck2 = dns.edns.GenericOption(10, bytes(8) + b"server02")
        self.assertEqual(cats(response(options=[ck1]), response(options=[ck2])), [])
        self.assertEqual(cats(response(options=[ck1]), response(options=[dns.edns.GenericOption(10, bytes(8))])),
                         ["edns.cookie"])
        ede18 = dns.edns.EDEOption(18, "x")
        self.assertEqual(cats(response(options=[ede18]), response()), ["edns.ede"])
        self.assertEqual(cats(response(options=[ede18]), response(options=[dns.edns.EDEOption(18, "y")])),
                         ["edns.ede.text"])
        self.assertEqual(cats(response(options=[dns.edns.GenericOption(65001, b"a")]), response()),
                         ["edns.options"])

    def test_noanswer(self):
        silent = dnsdiff.Response(dnsdiff.Exchange())
        self.assertEqual(cats(response(), silent), ["noanswer"])
        self.assertEqual(cats(silent, silent), [])   # liveness is checked in main()

    def test_unparseable(self):
        ex = dnsdiff.Exchange()
        ex.wires = [struct.pack("!HHHHHH", 4242, 0x8180, 1, 0, 0, 0) + b"\x07example"]
        bad = dnsdiff.Response(ex)
        self.assertTrue(bad.parse_error)
        self.assertIn("parse", cats(response(), bad))


class IgnoreRules(unittest.TestCase):
    def test_matching(self):
        r = dnsdiff.IgnoreRule("edns")
        self.assertTrue(r.matches("edns.nsid", set()))
        self.assertTrue(r.matches("edns", set()))
        self.assertFalse(r.matches("ednsx", set()))
        r = dnsdiff.IgnoreRule("*.ttl")
        self.assertTrue(r.matches("answer.ttl", set()))
        self.assertFalse(r.matches("answer", set()))
        r = dnsdiff.IgnoreRule("answer@chaos")
        self.assertTrue(r.matches("answer", {"chaos"}))
        self.assertTrue(r.matches("answer.case", {"chaos"}))
        self.assertFalse(r.matches("answer", set()))
        r = dnsdiff.IgnoreRule("*@malformed")
        self.assertTrue(r.matches("rcode", {"malformed"}))

    def test_shipped_ignore_file_loads(self):
        class A:
            ignore = None
            ignore_file = [os.path.join(HERE, "knot-vs-nsd.ignore")]
        rules = dnsdiff.load_ignores(A())
        self.assertTrue(any(r.pattern == "*.positive-ns" for r in rules))

    def test_pharos_ignore_file_rules_have_reasons(self):
        # pharos.ignore: every rule matches a known category, carries its
        # reason after '#', and none is a catch-all.
        path = os.path.join(HERE, "pharos.ignore")
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                rule, _, reason = line.partition("#")
                rule = rule.strip()
                if not rule:
                    continue
                self.assertTrue(reason.strip(), f"pharos.ignore:{n}: rule {rule!r} has no '# reason'")
                self.assertEqual(len(rule.split()), 1, f"pharos.ignore:{n}: one pattern per line")
                r = dnsdiff.IgnoreRule(rule)
                self.assertNotIn(r.pattern, ("*", "*.*"), f"pharos.ignore:{n}: catch-all rule")
                self.assertTrue(any(r.matches(c, {r.tag}) for c in dnsdiff.CATEGORIES),
                                f"pharos.ignore:{n}: {rule!r} matches no known category")

        class A:
            ignore = None
            ignore_file = [path]
        dnsdiff.load_ignores(A())

    def test_query_file_parses(self):
        # every line of the shipped queries.txt parses (and the pharos
        # additions section is there)
        with open(os.path.join(HERE, "queries.txt"), encoding="utf-8") as f:
            text = f.read()
        self.assertIn("pharos additions", text)
        n = len(dnsdiff.load_queries(os.path.join(HERE, "queries.txt"), 53))
        self.assertGreater(n, 600)


if __name__ == "__main__":
    unittest.main()
