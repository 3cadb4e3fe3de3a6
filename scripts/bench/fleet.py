#!/usr/bin/env python3
"""The fleet benchmark for scripts/bench-fleet.sh (standard library only;
memory readings from scripts/bench/benchlib.py).

One run builds each fleet in turn on loopback ports, every server its own
process, data dir and port:

  primary   a Knot customer primary serving every customer zone from a
            file (m0..mN-1.fleet, b0..b999.fleet, new.fleet), changes made
            with knotc zone-begin/zone-set/zone-commit (serial-policy
            increment, the difference kept in the journal, so the hub gets
            an IXFR) and NOTIFY to the hub;
  hub       a secondary of the primary for the member zones, which produces
            the catalog cat.fleet and sends NOTIFY to every node:
              knot:   catalog-role: generate / member, notify to the nodes;
              pharos: catalog = "producer", a [[template]] "members" with
                      primaries, allow-transfer, notify and catalog;
  nodes     --nodes secondaries of the hub that follow the catalog:
              knot:   catalog-role: interpret with a catalog-template whose
                      master is the hub;
              pharos: catalog = "consumer", member-template "from-hub"
                      whose primaries are the hub.

The bind fleet is the Knot hub with BIND 9.18 nodes (catalog-zones with
default-primaries the hub, in-memory no, min-update-interval left at its
5 s default; transfers-in, transfers-per-ns and serial-query-rate raised
to 100 / 100 / 1000, since every member comes from the one hub).

Every node stores what it transfers (Knot: journal-content: all, pharos:
its data dir).  Timings come from a poller that sends SOA queries (UDP) to
every (node, zone) pair still pending, round after round with 1 ms between
rounds, and keeps the receive time of the first answer that meets the
condition; a figure is the time from the trigger to the last pair met:

  sync      start of the nodes until every node serves all N members
            (not a target of the issue; shown for scale);
  rss       VmRSS of each node (and the hub) with N members, 2 s after sync;
  (settle)  then a wait until the servers are idle (under 5 % of a core
            over a second, 180 s at most);
  change    knotc zone-commit of a change of m0.fleet on the primary until
            every node serves the new serial: p50 and p99 (nearest rank)
            over --changes changes;
  add       a new member on the hub until every node answers NOERROR for
            its SOA (pharos: POST /zones with "catalog"; knot: knotc
            conf-begin, conf-set zone[new.fleet.], the clock starts at
            conf-commit);
  remove    that zone removed on the hub until every node answers REFUSED
            or NOTAUTH (pharos: DELETE /zones/new.fleet; knot: conf-unset
            and conf-commit);
  bulk      1,000 members added in one step until all are served on every
            node (pharos: the hub's config rewritten with 1,000 more
            [[zone]] and one SIGHUP, the clock starts at the signal; knot:
            one conf transaction, the clock starts at conf-commit).

pharos nodes that serve no catalog member within --consumer-timeout (a
build where the catalog consumer is not wired) skip the pharos fleet with a
message; the Knot figures still come out.
"""
import argparse
import json
import math
import os
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

CAT = "cat.fleet"
NEW = "new.fleet"
BULK = 1000
# bind: BIND 9.18 nodes (catalog-zones) on the Knot hub
FLEETS = ("knot", "pharos", "bind")
TOKEN = "bench-fleet-token-0123456789"


def member(i):
    return "m%d.fleet" % i


def bulk(i):
    return "b%d.fleet" % i


def log(msg):
    print(msg, flush=True)


class Skip(Exception):
    """The fleet cannot run with this build; not a failure."""


# ------------------------------------------------------------------ zones
def zone_text(zone, serial):
    return ("$ORIGIN %s.\n$TTL 300\n@ SOA ns1 hostmaster %d 3600 60 1209600 60\n"
            "@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n") % (zone, serial)


def gen_zones(zdir, members):
    os.makedirs(zdir, exist_ok=True)
    names = [member(i) for i in range(members)] + [bulk(i) for i in range(BULK)] + [NEW]
    for z in names:
        with open(os.path.join(zdir, z + ".zone"), "w") as f:
            f.write(zone_text(z, 1))
    return names


# ------------------------------------------------------------- DNS wire
def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def soa_query(zone, qid):
    return struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + wire_name(zone) + struct.pack(">HH", 6, 1)


def read_name(m, p):
    """(lower-case name, offset after it) of the name at p (follows pointers)."""
    labels, end, hops = [], None, 0
    while True:
        if p >= len(m) or hops > 64:
            raise ValueError("bad name")
        n = m[p]
        if n == 0:
            p += 1
            break
        if n & 0xC0 == 0xC0:
            if end is None:
                end = p + 2
            p = ((n & 0x3F) << 8) | m[p + 1]
            hops += 1
            continue
        labels.append(m[p + 1:p + 1 + n].decode("ascii", "replace").lower())
        p += 1 + n
    return ".".join(labels), (end if end is not None else p)


def parse_soa_answer(m):
    """(qname, rcode, aa, serial or None) of an answer to an SOA query."""
    if len(m) < 12:
        raise ValueError("short")
    flags = (m[2] << 8) | m[3]
    qd, an = struct.unpack(">HH", m[4:8])
    if qd != 1:
        raise ValueError("no question")
    qname, p = read_name(m, 12)
    p += 4
    serial = None
    for _ in range(an):
        _, p = read_name(m, p)
        t, _, _, rdlen = struct.unpack(">HHIH", m[p:p + 10])
        p += 10
        if t == 6:
            q = read_name(m, read_name(m, p)[1])[1]
            serial = struct.unpack(">I", m[q:q + 4])[0]
            break
        p += rdlen
    return qname, flags & 15, bool(flags & 0x0400), serial


def serial_ge(a, b):
    return ((a - b) & 0xFFFFFFFF) < 0x80000000


def served(_rcode, _aa, _serial):
    return _rcode == 0 and _aa and _serial is not None


def serial_at_least(target):
    return lambda rcode, aa, s: rcode == 0 and aa and s is not None and serial_ge(s, target)


def not_served(rcode, aa, serial):
    return rcode in (5, 9) or (rcode == 0 and (not aa or serial is None))


class Poller:
    """SOA queries to many (port, zone) pairs at once, from one UDP socket;
    an answer is matched by its source port and question."""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.bind(("127.0.0.1", 0))
        self.s.setblocking(False)
        self.qid = 0
        self.last_met = 0.0

    def drain(self):
        while True:
            try:
                self.s.recvfrom(65535)
            except OSError:
                return

    def wait(self, pairs, cond, timeout, what, gap=0.001, window=500):
        """Poll until cond(rcode, aa, serial) holds for every pair; returns
        the perf_counter time it first held for the last one.  Raises
        TimeoutError naming a few pairs still pending."""
        self.drain()
        pending = set((p, z.lower().rstrip(".")) for p, z in pairs)
        self.last_met = time.perf_counter()
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                some = sorted(pending)[:5]
                raise TimeoutError("%s: %d of %d (port, zone) pairs not done after %d s, e.g. %s" % (
                    what, len(pending), len(pairs), timeout, some))
            todo = list(pending)
            for i in range(0, len(todo), window):
                chunk = todo[i:i + window]
                for port, zone in chunk:
                    self.qid = (self.qid + 1) & 0xFFFF
                    try:
                        self.s.sendto(soa_query(zone, self.qid), ("127.0.0.1", port))
                    except OSError:
                        pass  # buffer full or port closed: asked again next round
                self._collect(pending, cond, set(chunk), 0.05 if len(todo) > 20 else 0.02)
                if not pending:
                    break
            if pending:
                # a big set: fewer rounds, so that the poller leaves the
                # servers their CPU (its resolution stays under a round)
                time.sleep(gap if len(todo) <= 100 else 0.02 if len(todo) <= 2000 else 0.1)
        return self.last_met

    def _collect(self, pending, cond, asked, limit):
        end = time.monotonic() + limit
        answered = set()
        while answered < asked:
            left = end - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                return
            while True:
                try:
                    m, src = self.s.recvfrom(65535)
                except OSError:
                    break
                now = time.perf_counter()
                try:
                    qname, rcode, aa, serial = parse_soa_answer(m)
                except (ValueError, IndexError, struct.error):
                    continue
                key = (src[1], qname)
                answered.add(key)
                if key in pending and cond(rcode, aa, serial):
                    pending.discard(key)
                    self.last_met = now


# ---------------------------------------------------------------- servers
class Proc:
    """One server process, started and stopped by its PID."""

    def __init__(self, name, d, cmd):
        self.name, self.dir, self.cmd = name, d, cmd
        self.log = os.path.join(d, "server.log")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.cmd, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check(self):
        if not self.alive():
            raise RuntimeError("%s exited (status %s): %s" % (
                self.name, None if self.proc is None else self.proc.returncode, self.tail()))

    def tail(self, n=4):
        lines = []
        for f in (self.log, os.path.join(self.dir, "knot.log")):
            try:
                with open(f, errors="replace") as fh:
                    lines += [l.strip() for l in fh.read().splitlines()[-n:] if l.strip()]
            except OSError:
                pass
        return " | ".join(lines[-n:]) + " (logs in %s)" % self.dir

    def rss_kib(self):
        return benchlib.tree_mem(self.proc.pid)[0] if self.alive() else None

    def stop(self):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def knot_head(d, port, loglevel):
    for sub in ("run", "db", "zones"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    return ("server:\n    rundir: %s/run\n    pidfile: %s/run/knot.pid\n    listen: 127.0.0.1@%d\n"
            "    tcp-max-clients: 1000\n"
            "database:\n    storage: %s/db\n    journal-db-max-size: 4G\n"
            "control:\n    listen: %s/run/knot.sock\n"
            "log:\n  - target: %s/knot.log\n    any: %s\n") % (d, d, port, d, d, d, loglevel)


class Knot(Proc):
    def __init__(self, name, d, conf):
        os.makedirs(d, exist_ok=True)
        self.conf = os.path.join(d, "knot.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        super().__init__(name, d, ["knotd", "-c", self.conf])

    def knotc(self, *args, check=True):
        r = subprocess.run(["knotc", "-s", os.path.join(self.dir, "run/knot.sock"), "-t", "120"] + list(args),
                           capture_output=True, text=True)
        out = (r.stdout + r.stderr).strip()
        if check and (r.returncode != 0 or "error" in out.lower()):
            raise RuntimeError("%s: knotc %s: %s" % (self.name, " ".join(args[:3]), out[:300]))
        return out


def knot_primary(d, port, hub_port, zdir, zones, loglevel):
    c = [knot_head(d, port, loglevel),
         "remote:\n  - id: hub\n    address: 127.0.0.1@%d\n" % hub_port,
         "acl:\n  - id: xfr\n    address: 127.0.0.1\n    action: transfer\n",
         "template:\n  - id: default\n    storage: %s\n    file: \"%%s.zone\"\n    zonefile-sync: -1\n"
         "    zonefile-load: whole\n    journal-content: changes\n    serial-policy: increment\n"
         "    semantic-checks: off\n    acl: xfr\n    notify: hub\n" % zdir,
         "zone:\n"]
    c += ["  - domain: %s.\n" % z for z in zones]
    return Knot("primary", d, "".join(c))


def knot_hub(d, port, primary_port, node_ports, members, loglevel):
    nodes = ", ".join("n%d" % i for i in range(len(node_ports)))
    c = [knot_head(d, port, loglevel),
         "remote:\n  - id: primary\n    address: 127.0.0.1@%d\n" % primary_port]
    c += ["  - id: n%d\n    address: 127.0.0.1@%d\n" % (i, p) for i, p in enumerate(node_ports)]
    c += ["acl:\n  - id: xfr\n    address: 127.0.0.1\n    action: transfer\n"
          "  - id: notify_in\n    address: 127.0.0.1\n    action: notify\n",
          # the default template is the members' (so one conf-set adds a member)
          "template:\n  - id: default\n    storage: %s/zones\n    master: primary\n    acl: [xfr, notify_in]\n"
          "    notify: [%s]\n    zonefile-sync: -1\n    zonefile-load: none\n    journal-content: all\n"
          "    semantic-checks: off\n    catalog-role: member\n    catalog-zone: %s.\n" % (d, nodes, CAT),
          "  - id: catalog\n    storage: %s/zones\n    acl: xfr\n    notify: [%s]\n    zonefile-sync: -1\n"
          "    zonefile-load: none\n    journal-content: all\n    catalog-role: generate\n" % (d, nodes),
          "zone:\n  - domain: %s.\n    template: catalog\n" % CAT]
    c += ["  - domain: %s.\n" % z for z in members]
    return Knot("hub", d, "".join(c))


def knot_node(i, d, port, hub_port, loglevel):
    c = [knot_head(d, port, loglevel),
         "remote:\n  - id: hub\n    address: 127.0.0.1@%d\n" % hub_port,
         "acl:\n  - id: xfr\n    address: 127.0.0.1\n    action: transfer\n"
         "  - id: notify_in\n    address: 127.0.0.1\n    action: notify\n",
         "template:\n  - id: default\n    storage: %s/zones\n    master: hub\n    acl: [xfr, notify_in]\n"
         "    zonefile-sync: -1\n    zonefile-load: none\n    journal-content: all\n    semantic-checks: off\n"
         % d,
         "  - id: member\n    storage: %s/zones\n    master: hub\n    acl: [xfr, notify_in]\n"
         "    zonefile-sync: -1\n    zonefile-load: none\n    journal-content: all\n    semantic-checks: off\n"
         % d,
         "zone:\n  - domain: %s.\n    catalog-role: interpret\n    catalog-template: member\n" % CAT]
    return Knot("node%d" % i, d, "".join(c))


class Bind(Proc):
    """named 9.18 as a catalog consumer of the Knot hub."""

    def __init__(self, i, d, port, hub_port):
        os.makedirs(os.path.join(d, "zones"), exist_ok=True)
        self.conf = os.path.join(d, "named.conf")
        with open(self.conf, "w") as f:
            f.write(bind_node_conf(d, port, hub_port))
        super().__init__("node%d" % i, d, ["named", "-g", "-n", "2", "-c", self.conf])


def bind_node_conf(d, port, hub_port):
    # transfers-in / transfers-per-ns / serial-query-rate raised from 10 / 2 /
    # 20: every member comes from one hub; min-update-interval (the catalog's
    # own wait, 5 s by default) is left at BIND's default
    return ("options {\n    directory \"%s\";\n    pid-file \"%s/named.pid\";\n"
            "    session-keyfile \"%s/session.key\";\n    managed-keys-directory \"%s\";\n"
            "    listen-on port %d { 127.0.0.1; };\n    listen-on-v6 { none; };\n    recursion no;\n"
            "    dnssec-validation no;\n    notify no;\n    allow-transfer { 127.0.0.1; };\n"
            "    transfers-in 100;\n    transfers-per-ns 100;\n    serial-query-rate 1000;\n"
            "    allow-new-zones yes;\n"
            "    catalog-zones {\n        zone \"%s\" default-primaries port %d { 127.0.0.1; }"
            " zone-directory \"%s/zones\" in-memory no;\n    };\n};\ncontrols { };\n"
            "zone \"%s\" { type secondary; file \"%s/%s.db\"; masterfile-format text;\n"
            "    primaries port %d { 127.0.0.1; };\n    allow-notify { 127.0.0.1; }; };\n") % (
        d, d, d, d, port, CAT, hub_port, d, CAT, d, CAT, hub_port)


class Pharos(Proc):
    def __init__(self, name, d, binary, toml, mgmt_port=None):
        os.makedirs(os.path.join(d, "var"), exist_ok=True)
        self.conf = os.path.join(d, "pharos.toml")
        self.mgmt_port = mgmt_port
        with open(self.conf, "w") as f:
            f.write(toml)
        if mgmt_port:
            tok = os.path.join(d, "var", "token")
            with open(os.open(tok, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write(TOKEN + "\n")
        super().__init__(name, d, [binary, "serve", "--config", self.conf])

    def call(self, method, path, body=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.mgmt_port, path), method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + TOKEN,
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")


def pharos_hub_toml(d, port, mgmt_port, primary_port, node_ports, members):
    nodes = ", ".join('"127.0.0.1:%d"' % p for p in node_ports)
    c = ['[node]\nid = "hub"\ndata-dir = "%s/var"\n\n[dns]\nlisten = ["127.0.0.1:%d"]\n\n'
         '[mgmt]\nlisten = "127.0.0.1:%d"\n\n'
         # every node transfers from 127.0.0.1: one client address for the
         # limits; the default 4 would serialize the fleet's first transfers
         '[transfer]\nmax-out = 512\nmax-out-per-client = 512\nnotify-rate = 100000\n\n' % (d, port, mgmt_port),
         '[[template]]\nname = "members"\nprimaries = ["127.0.0.1:%d"]\nallow-transfer = ["127.0.0.0/8"]\n'
         'notify = [%s]\nnotify-source = "127.0.0.1"\ncatalog = "%s"\n\n' % (primary_port, nodes, CAT),
         '[[zone]]\nname = "%s"\ncatalog = "producer"\nallow-transfer = ["127.0.0.0/8"]\nnotify = [%s]\n'
         'notify-source = "127.0.0.1"\n' % (CAT, nodes)]
    c += ['\n[[zone]]\nname = "%s"\ntemplate = "members"\n' % z for z in members]
    return "".join(c)


def pharos_node_toml(i, d, port, hub_port):
    return ('[node]\nid = "node%d"\ndata-dir = "%s/var"\n\n[dns]\nlisten = ["127.0.0.1:%d"]\n\n'
            '[[template]]\nname = "from-hub"\nprimaries = ["127.0.0.1:%d"]\n\n'
            '[[zone]]\nname = "%s"\nprimaries = ["127.0.0.1:%d"]\ncatalog = "consumer"\n'
            'member-template = "from-hub"\n' % (i, d, port, hub_port, CAT, hub_port))


# ------------------------------------------------------------------ fleet
def percentile(xs, p):
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100.0 * len(xs)) - 1)] if xs else None


class Fleet:
    def __init__(self, kind, a, ports, zdir, all_zones):
        self.kind, self.a = kind, a
        self.work = os.path.join(a.work, kind)
        self.primary_port, self.hub_port, self.mgmt_port = ports[0], ports[1], ports[2]
        self.node_ports = ports[3:3 + a.nodes]
        self.members = [member(i) for i in range(a.members)]
        self.zdir, self.all_zones = zdir, all_zones
        self.poll = Poller()
        self.res = dict(fleet=kind, status="ok")
        self.procs = []
        self.hub = None
        self.nodes = []

    def stop(self):
        for p in reversed(self.procs):
            p.stop()

    def check_alive(self):
        for p in self.procs:
            p.check()

    def wait(self, pairs, cond, timeout, what):
        try:
            return self.poll.wait(pairs, cond, timeout, what)
        except TimeoutError:
            self.check_alive()
            raise

    def node_pairs(self, zones):
        return [(p, z) for p in self.node_ports for z in zones]

    def run(self):
        a = self.a
        lvl = "info" if a.verbose else "notice"
        prim = knot_primary(os.path.join(self.work, "primary"), self.primary_port, self.hub_port,
                            self.zdir, self.all_zones, lvl)
        self.primary = prim
        self.procs.append(prim.start())
        self.wait([(self.primary_port, z) for z in self.all_zones], served, a.timeout, "primary load")
        log("  primary serves %d zones" % len(self.all_zones))

        t = time.perf_counter()
        if self.kind in ("knot", "bind"):
            self.hub = knot_hub(os.path.join(self.work, "hub"), self.hub_port, self.primary_port,
                                self.node_ports, self.members, lvl)
        else:
            d = os.path.join(self.work, "hub")
            os.makedirs(d, exist_ok=True)
            self.hub = Pharos("hub", d, a.pharos, pharos_hub_toml(d, self.hub_port, self.mgmt_port,
                                                                  self.primary_port, self.node_ports,
                                                                  self.members), self.mgmt_port)
        self.procs.append(self.hub.start())
        # (Knot answers REFUSED to queries for a catalog zone, AXFR aside)
        self.wait([(self.hub_port, z) for z in self.members], served, a.timeout, "hub first sync")
        log("  hub serves %d members after %.1f s" % (len(self.members), time.perf_counter() - t))

        t = time.perf_counter()
        for i, p in enumerate(self.node_ports):
            d = os.path.join(self.work, "node%d" % i)
            if self.kind == "knot":
                n = knot_node(i, d, p, self.hub_port, lvl)
            elif self.kind == "bind":
                n = Bind(i, d, p, self.hub_port)
            else:
                os.makedirs(d, exist_ok=True)
                n = Pharos("node%d" % i, d, a.pharos, pharos_node_toml(i, d, p, self.hub_port))
            self.nodes.append(n)
            self.procs.append(n.start())
        if self.kind == "pharos":
            # a build without the catalog consumer: the config may be
            # refused, or the catalog served with no member ever added
            try:
                self.wait([(self.node_ports[0], self.members[0])], served, a.consumer_timeout, "consumer")
            except (TimeoutError, RuntimeError) as e:
                raise Skip("node0 serves no catalog member within %d s (is the catalog consumer wired in "
                           "this build?): %s" % (a.consumer_timeout, str(e)[:300]))
        self.wait(self.node_pairs(self.members), served, a.timeout, "nodes first sync")
        self.res["sync_s"] = time.perf_counter() - t
        log("  %d nodes serve all %d members after %.1f s" % (len(self.nodes), len(self.members),
                                                            self.res["sync_s"]))
        time.sleep(2)
        rss = [n.rss_kib() for n in self.nodes]
        self.res["node_rss_mib"] = [r / 1024.0 for r in rss if r is not None]
        self.res["hub_rss_mib"] = (self.hub.rss_kib() or 0) / 1024.0
        log("  RSS with %d members: nodes median %.1f MiB (max %.1f), hub %.1f MiB" % (
            len(self.members), statistics.median(self.res["node_rss_mib"]), max(self.res["node_rss_mib"]),
            self.res["hub_rss_mib"]))

        self.settle()
        self.changes()
        self.add_remove()
        self.bulk()

    def settle(self, limit=180):
        """Waits until the fleet is idle (its servers used under 5 % of a
        core over the last second) or `limit` seconds: a hub still retrying
        its start-up NOTIFYs would delay the first change by seconds."""
        hz = os.sysconf("SC_CLK_TCK")

        def ticks():
            return sum(benchlib.tree_cpu_ticks(p.proc.pid) for p in self.procs if p.alive())
        t, before = time.monotonic(), ticks()
        while time.monotonic() - t < limit:
            time.sleep(1)
            now = ticks()
            if (now - before) / float(hz) < 0.05:
                break
            before = now
        self.res["settle_s"] = time.monotonic() - t
        log("  fleet idle after %.0f s" % self.res["settle_s"])

    def changes(self):
        a, zone = self.a, self.members[0]
        times, hub_times = [], []
        for k in range(a.changes):
            before = soa_serial(self.primary_port, zone)
            self.primary.knotc("zone-begin", zone)
            self.primary.knotc("zone-set", zone, "c%d" % k, "300", "TXT", "change-%d" % k)
            t0 = time.perf_counter()
            self.primary.knotc("zone-commit", zone)
            target = before
            for _ in range(1000):  # the serial the commit gave (serial-policy: increment)
                target = soa_serial(self.primary_port, zone)
                if target is not None and target != before:
                    break
                time.sleep(0.001)
            if target is None or target == before:
                raise RuntimeError("the primary's serial of %s did not change after zone-commit" % zone)
            # the hub first (it cannot be later than the nodes), then the nodes
            th = self.wait([(self.hub_port, zone)], serial_at_least(target), 60, "change %d on the hub" % k)
            t1 = self.wait(self.node_pairs([zone]), serial_at_least(target), 60, "change %d" % k)
            hub_times.append(th - t0)
            times.append(t1 - t0)
            time.sleep(0.2)
        self.res["change_ms"] = [x * 1e3 for x in times]
        self.res["change_hub_ms"] = [x * 1e3 for x in hub_times]
        log("  change -> all nodes: p50 %.1f ms, p99 %.1f ms (%d changes); -> hub: p50 %.1f ms" % (
            percentile(times, 50) * 1e3, percentile(times, 99) * 1e3, len(times), percentile(hub_times, 50) * 1e3))

    def add_remove(self):
        if self.kind != "pharos":
            self.hub.knotc("conf-begin")
            self.hub.knotc("conf-set", "zone[%s.]" % NEW)
            t0 = time.perf_counter()
            self.hub.knotc("conf-commit")
        else:
            body = {"name": NEW, "primaries": ["127.0.0.1:%d" % self.primary_port], "template": "members",
                    "catalog": CAT}
            t0 = time.perf_counter()
            st, text = self.hub.call("POST", "/zones", body)
            if st // 100 != 2:
                raise RuntimeError("POST /zones on the hub: %d %s" % (st, text[:300]))
        t1 = self.wait(self.node_pairs([NEW]), served, 120, "new zone")
        self.res["add_ms"] = (t1 - t0) * 1e3
        log("  new zone -> served on all nodes: %.1f ms" % self.res["add_ms"])
        time.sleep(1)
        if self.kind != "pharos":
            self.hub.knotc("conf-begin")
            self.hub.knotc("conf-unset", "zone[%s.]" % NEW)
            t0 = time.perf_counter()
            self.hub.knotc("conf-commit")
        else:
            t0 = time.perf_counter()
            st, text = self.hub.call("DELETE", "/zones/" + NEW)
            if st // 100 != 2:
                raise RuntimeError("DELETE /zones/%s on the hub: %d %s" % (NEW, st, text[:300]))
        t1 = self.wait(self.node_pairs([NEW]), not_served, 120, "removed zone")
        self.res["remove_ms"] = (t1 - t0) * 1e3
        log("  zone removed -> REFUSED on all nodes: %.1f ms" % self.res["remove_ms"])

    def bulk(self):
        zones = [bulk(i) for i in range(BULK)]
        if self.kind != "pharos":
            self.hub.knotc("conf-begin")
            self.hub.knotc("conf-set", "zone.domain", *[z + "." for z in zones])
            t0 = time.perf_counter()
            self.hub.knotc("conf-commit")
        else:
            with open(self.hub.conf, "a") as f:
                f.write("".join('\n[[zone]]\nname = "%s"\ntemplate = "members"\n' % z for z in zones))
            t0 = time.perf_counter()
            self.hub.proc.send_signal(signal.SIGHUP)
        t1 = self.wait(self.node_pairs(zones), served, self.a.timeout, "1000 zones")
        self.res["bulk_s"] = t1 - t0
        log("  %d zones in one step -> all served on all nodes: %.2f s" % (BULK, self.res["bulk_s"]))


def soa_serial(port, zone):
    """The serial port serves for zone (authoritative NOERROR), or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    try:
        s.sendto(soa_query(zone, 7), ("127.0.0.1", port))
        m, _ = s.recvfrom(65535)
        _, rcode, aa, serial = parse_soa_answer(m)
        return serial if rcode == 0 and aa else None
    except (OSError, ValueError, IndexError, struct.error):
        return None
    finally:
        s.close()


# ----------------------------------------------------------------- report
def report(results, a):
    by = {r["fleet"]: r for r in results}
    kinds = [k for k in FLEETS if k in by]
    cols = [k for k in FLEETS if k in by or k != "bind"]

    def get(k, f):
        r = by.get(k)
        if r is None or r["status"] != "ok":
            return None
        try:
            return f(r)
        except (KeyError, ValueError, TypeError, statistics.StatisticsError):
            return None

    rows = [
        ("change -> all nodes, p50 ms", lambda r: percentile(r["change_ms"], 50), "%.1f"),
        ("change -> all nodes, p99 ms", lambda r: percentile(r["change_ms"], 99), "%.1f"),
        ("change -> hub, p50 ms", lambda r: percentile(r["change_hub_ms"], 50), "%.1f"),
        ("new zone -> served on all, ms", lambda r: r["add_ms"], "%.0f"),
        ("zone removed -> REFUSED on all, ms", lambda r: r["remove_ms"], "%.0f"),
        ("1,000 zones -> served on all, s", lambda r: r["bulk_s"], "%.2f"),
        ("node RSS, %d members, median MiB" % a.members, lambda r: statistics.median(r["node_rss_mib"]), "%.1f"),
        ("node RSS, %d members, max MiB" % a.members, lambda r: max(r["node_rss_mib"]), "%.1f"),
        ("hub RSS MiB", lambda r: r["hub_rss_mib"], "%.1f"),
        ("first sync of %d members, s" % a.members, lambda r: r["sync_s"], "%.1f"),
    ]
    head = {"knot": "knot", "pharos": "pharos", "bind": "bind@knothub"}
    lines = ["", "%d nodes, %d members, %d changes" % (a.nodes, a.members, a.changes),
             "%-38s %s %12s" % ("", " ".join("%12s" % head[k] for k in cols), "pharos/knot")]
    for label, f, fmt in rows:
        vals = {k: get(k, f) for k in cols}
        cells = ["-" if vals[k] is None else fmt % vals[k] for k in cols]
        ratio = "-" if vals["pharos"] is None or not vals["knot"] else "%.2f" % (vals["pharos"] / vals["knot"])
        lines.append("%-38s %s %12s" % (label, " ".join("%12s" % c for c in cells), ratio))
    lines.append("targets (pharos): change p50 < 50 ms, p99 < 200 ms; new zone < 1 s; "
                 "1,000 zones < 10 s; node RSS <= Knot's")
    rc = 0
    for k in kinds:
        st = by[k]["status"]
        if st.startswith("skip"):
            lines.append("SKIPPED: %s fleet: %s" % (k, st))
        elif st != "ok":
            lines.append("FAILED: %s fleet: %s" % (k, st))
            rc = 1
    print("\n".join(lines))
    return rc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--fleets", default="knot,pharos,bind")
    ap.add_argument("--pharos", default="")
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--members", type=int, default=10000)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--port", type=int, default=26800)  # below the ephemeral range (32768-60999)
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--consumer-timeout", type=int, default=60)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    fleets = [f for f in a.fleets.split(",") if f]
    if any(f not in FLEETS for f in fleets) or not fleets:
        ap.error("--fleets: a subset of %s" % ",".join(FLEETS))
    if a.nodes < 1 or a.members < 1 or a.changes < 1:
        ap.error("--nodes, --members and --changes must be > 0")
    zdir = os.path.join(a.work, "zones")
    log("fleet: writing %d zone files in %s" % (a.members + BULK + 1, zdir))
    all_zones = gen_zones(zdir, a.members)
    # each fleet its own ports (a port the other used may be in TIME_WAIT)
    need = 3 + a.nodes
    p, results = a.port, []
    for kind in fleets:
        ports = []
        while len(ports) < need:
            if p >= 32768:
                log("fleet: no free ports below 32768 from %d" % a.port)
                return 2
            if benchlib.cmd_port_free(argparse.Namespace(port=p)) == 0:
                ports.append(p)
            p += 1
        log("\n=== %s fleet: primary :%d, hub :%d, nodes :%d..%d" % (
            kind, ports[0], ports[1], ports[3], ports[-1]))
        f = Fleet(kind, a, ports, zdir, all_zones)
        try:
            f.run()
        except Skip as e:
            log("  pharos fleet SKIPPED: %s" % e)
            f.res["status"] = "skip: %s" % str(e)[:300]
        except Exception as e:  # the table says what failed
            log("  %s fleet FAILED: %s" % (kind, e))
            f.res["status"] = "fail: %s" % str(e)[:400]
        finally:
            f.stop()
        results.append(f.res)
    with open(os.path.join(a.work, "results.json"), "w") as fh:
        json.dump(results, fh, indent=1)
    return report(results, a)


if __name__ == "__main__":
    sys.exit(main())
