#!/usr/bin/env python3
"""Helpers for scripts/bench-zones.sh (standard library only; reuses
scripts/bench/benchlib.py and scripts/bench/xfr.py read-only).
See scripts/bench/zones-README.md.

Subcommands:
  gen-zones OUTDIR --zones N [--records R] [--serial S]
      Write OUTDIR/zones/zNNNNN.bench.zone (SOA, 2 NS, their glue, then
      A/AAAA/MX/TXT records: R records per zone in all) and
      OUTDIR/zones.txt (the zone names, one a line).
  wait --port P --zones-file F --t0 T0 [--pid PID] [--timeout S]
      Poll (see "The poller" below) until every zone in F has its SOA
      answered NOERROR + AA; print the seconds since T0.
  measure --scenario S --server NAME --port P --zones-file F --t0 T0
          --pid PID --out TSV [--run N] [--timeout S] [--settle S]
          [--log FILE] [--window W] [--interval S]
      The server was started at T0 (a Unix time taken just before the
      exec).  Poll until every zone is answered, then read its process
      tree at once (memory, CPU, threads, file descriptors, log lines),
      wait --settle seconds (the server idle, nothing polled), read it
      again, check one A answer in the first and the last zone, and append
      a row to TSV.
  report TSV JSON [META]
      Print the tables with the pharos/Knot and pharos/NSD ratios and the
      target verdict; write JSON.  Exit 1 if any row failed.

The poller: one UDP socket, connected to the server.  SOA queries for the
zones still pending go out with at most --window of them outstanding (a
reply, or 100 ms without one, frees a slot); a pass asks every pending
zone once, and a new pass starts when the last ended, at most one every
--interval.  Until the server sends its first reply (of any rcode) only a
few zones are asked each --interval, so a server still loading is not
flooded.  A zone is served at the first reply NOERROR + AA with an answer.
"""
import argparse
import json
import os
import resource
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402  (read-only reuse: tree_mem, tree_cpu_ticks, ...)
import xfr  # noqa: E402  (read-only reuse: stats, alive)

SOA, A = 6, 1

COLUMNS = [
    "scenario", "server", "run", "status", "all_s", "first_s", "reply_s",
    "last_pass_s", "queries", "passes", "poll_cpu_s", "srv_cpu_s",
    "rss_kib", "pss_kib", "hwm_kib", "nprocs", "threads", "fds",
    "rss_ready_kib", "idle_cores", "idle_queries", "log_lines",
    "log_bytes", "idle_log_lines", "note",
]


# ------------------------------------------------------------------ zones
RECORD_CYCLE = [
    ("@", "MX", "10 mail"),
    ("@", "TXT", '"v=spf1 mx -all"'),
    ("@", "A", "192.0.2.1"),
    ("@", "AAAA", "2001:db8::1"),
    ("www", "A", "192.0.2.10"),
    ("www", "AAAA", "2001:db8::10"),
    ("mail", "A", "192.0.2.25"),
    ("mail", "AAAA", "2001:db8::25"),
    ("www", "TXT", '"zone %(i)d"'),
    ("api", "A", "192.0.2.30"),
    ("api", "AAAA", "2001:db8::30"),
    ("_dmarc", "TXT", '"v=DMARC1; p=none"'),
]


def zone_names(n):
    width = max(5, len(str(n)))
    return ["z%0*d.bench" % (width, i) for i in range(1, n + 1)]


def cmd_gen_zones(a):
    if a.records < 5:
        print("--records must be at least 5 (SOA, 2 NS, 2 glue A)",
              file=sys.stderr)
        return 2
    zdir = os.path.join(a.outdir, "zones")
    os.makedirs(zdir, exist_ok=True)
    names = zone_names(a.zones)
    for i, z in enumerate(names, 1):
        lines = [
            "; %s: scripts/bench-zones.sh" % z,
            "$ORIGIN %s." % z,
            "$TTL 3600",
            "@ SOA ns1 hostmaster %d 3600 600 1209600 300" % a.serial,
            "@ NS ns1",
            "@ NS ns2",
            "ns1 A 192.0.2.2",
            "ns2 A 198.51.100.2",
        ]
        for k in range(a.records - 5):
            owner, rtype, rdata = RECORD_CYCLE[k % len(RECORD_CYCLE)]
            if k >= len(RECORD_CYCLE):   # more than the cycle: new names
                owner = "h%d" % k
            lines.append("%s %s %s" % (owner, rtype, rdata % {"i": i}
                                       if "%(" in rdata else rdata))
        with open(os.path.join(zdir, z + ".zone"), "w") as f:
            f.write("\n".join(lines) + "\n")
    with open(os.path.join(a.outdir, "zones.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    return 0


def read_zones(path):
    with open(path) as f:
        return [line.strip().rstrip(".").lower() for line in f if line.strip()]


# ----------------------------------------------------------------- poller
def qname_wire(name):
    return b"".join(bytes([len(l)]) + l.encode()
                    for l in name.rstrip(".").split(".") if l) + b"\0"


class Poller:
    """SOA of many zones over one connected UDP socket (see the module doc)."""

    def __init__(self, host, port, names, window=256, interval=0.05,
                 qtimeout=0.1, gate=8):
        self.names = names
        self.n = len(names)
        self.window, self.interval = window, interval
        self.qtimeout, self.gate = qtimeout, gate
        self.wires = [qname_wire(z) for z in names]
        self.index = {w: i for i, w in enumerate(self.wires)}
        self.queries = [None] * self.n   # built lazily (id = index & 0xFFFF)
        self.done = [None] * self.n      # unix time of the first good answer
        self.pending = self.n
        self.sent = 0
        self.passes = 0
        self.first_reply = None          # unix time of the first reply at all
        self.last_pass_start = None      # unix time the latest pass started
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for opt, force in ((socket.SO_RCVBUF, 33), (socket.SO_SNDBUF, 32)):
            try:   # SO_RCVBUFFORCE / SO_SNDBUFFORCE (root), else the capped one
                self.s.setsockopt(socket.SOL_SOCKET, force, 4 << 20)
            except OSError:
                self.s.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
        self.s.connect((host, port))
        self.s.setblocking(False)
        self.poll = select.poll()
        self.poll.register(self.s, select.POLLIN)

    def query(self, i):
        q = self.queries[i]
        if q is None:
            q = struct.pack("!HHHHHH", i & 0xFFFF, 0, 1, 0, 0, 0) + \
                self.wires[i] + struct.pack("!HH", SOA, 1)
            self.queries[i] = q
        return q

    def send(self, i):
        try:
            self.s.send(self.query(i))
        except (BlockingIOError, ConnectionRefusedError, InterruptedError):
            return False   # nobody listening yet (ICMP), or the buffer is full
        except OSError:
            return False
        self.sent += 1
        return True

    def drain(self, outstanding):
        """Read every reply waiting; -> number read."""
        got = 0
        while True:
            try:
                data = self.s.recv(4096)
            except (BlockingIOError, InterruptedError):
                return got
            except ConnectionRefusedError:
                continue   # ICMP for an earlier query: not listening then
            except OSError:
                return got
            now = time.time()
            got += 1
            if len(data) < 12:
                continue
            if self.first_reply is None:
                self.first_reply = now
            try:
                end = data.index(0, 12)
            except ValueError:
                continue
            i = self.index.get(bytes(data[12:end + 1]).lower())
            if i is None:
                continue
            outstanding.pop(i, None)
            flags, _, an = struct.unpack("!HHH", data[2:8])
            if flags & 0x8000 and flags & 0x0400 and flags & 0xF == 0 and an:
                if self.done[i] is None:
                    self.done[i] = now
                    self.pending -= 1

    def wait_readable(self, timeout):
        if timeout > 0:
            try:
                self.poll.poll(timeout * 1000)
            except InterruptedError:
                pass

    def run(self, deadline, pid=None):
        """Poll until every zone is served (True), the deadline (False) or
        the server process exits (None).  `deadline` is a Unix time."""
        outstanding = {}     # zone index -> monotonic time sent
        order = []           # the current pass: zone indexes still to ask
        pos = 0
        gate_at = 0.0        # monotonic: next gate round
        gate_pos = 0
        next_pass = 0.0
        check_pid = 0.0
        while self.pending:
            mono = time.monotonic()
            if mono >= check_pid:
                check_pid = mono + 0.05
                if time.time() > deadline:
                    return False
                if pid and not xfr.alive(pid):
                    return None
            for i, t in list(outstanding.items()):
                if mono - t > self.qtimeout:
                    del outstanding[i]
            if self.first_reply is None:
                # Gate: a few zones each interval until the server answers.
                if mono >= gate_at:
                    gate_at = mono + self.interval
                    sent = 0
                    while sent < self.gate and self.pending:
                        i = gate_pos % self.n
                        gate_pos += 1
                        if self.done[i] is None:
                            if self.send(i):
                                outstanding[i] = mono
                            sent += 1
                self.wait_readable(min(gate_at - time.monotonic(), 0.01))
                self.drain(outstanding)
                if self.first_reply is not None:
                    # the server answers: the first pass at once (the gate's
                    # queries sent before it listened are lost; their
                    # replies, if any, still count)
                    outstanding.clear()
                continue
            if pos >= len(order) and not outstanding:
                # the pass is over: the next one, at most one per interval
                if mono < next_pass:
                    self.wait_readable(next_pass - mono)
                    self.drain(outstanding)
                    continue
                order = [i for i in range(self.n) if self.done[i] is None]
                pos = 0
                self.passes += 1
                self.last_pass_start = time.time()
                next_pass = mono + self.interval
            while len(outstanding) < self.window and pos < len(order):
                i = order[pos]
                pos += 1
                if self.done[i] is None and self.send(i):
                    outstanding[i] = time.monotonic()
            self.wait_readable(0.01 if outstanding else 0)
            self.drain(outstanding)
        return True

    def ask_a(self, name, timeout=1.0):
        """-> (rcode, aa, ancount) for NAME A, or None."""
        q = struct.pack("!HHHHHH", 0xBEEF, 0, 1, 0, 0, 0) + qname_wire(name) \
            + struct.pack("!HH", A, 1)
        end = time.monotonic() + timeout
        for _ in range(3):
            try:
                self.s.send(q)
            except OSError:
                return None
            while time.monotonic() < end:
                self.wait_readable(0.2)
                try:
                    data = self.s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    return None
                if len(data) >= 12 and data[:2] == b"\xbe\xef":
                    flags, _, an = struct.unpack("!HHH", data[2:8])
                    return flags & 0xF, bool(flags & 0x0400), an
        return None


def cmd_wait(a):
    names = read_zones(a.zones_file)
    p = Poller("127.0.0.1", a.port, names)
    ok = p.run(a.t0 + a.timeout, a.pid)
    if ok is None:
        print("  the server process (%d) exited" % a.pid, file=sys.stderr)
        return 3
    if not ok:
        left = [z for z, d in zip(names, p.done) if d is None]
        print("  %d of %d zones not answered within %ds (%s%s)"
              % (len(left), len(names), a.timeout, ", ".join(left[:5]),
                 ", ..." if len(left) > 5 else ""), file=sys.stderr)
        return 1
    print("%.3f" % (max(p.done) - a.t0))
    return 0


# ------------------------------------------------------------------ /proc
def tree_info(root):
    """-> dict(threads, fds, cpu_s) over root and its descendants."""
    threads = fds = 0
    for p in benchlib.proc_tree(root):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("Threads:"):
                        threads += int(line.split()[1])
            fds += len(os.listdir("/proc/%d/fd" % p))
        except OSError:
            continue
    return {"threads": threads, "fds": fds,
            "cpu_s": benchlib.tree_cpu_ticks(root) / benchlib.CLK_TCK}


def log_size(path):
    """-> (lines, bytes) of a log file (0, 0 if there is none)."""
    if not path:
        return 0, 0
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return 0, 0
    return data.count(b"\n"), len(data)


def append_row(path, row):
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a") as f:
        if new:
            f.write("\t".join(COLUMNS) + "\n")
        f.write("\t".join(str(row.get(c, "")) for c in COLUMNS) + "\n")


def cmd_measure(a):
    names = read_zones(a.zones_file)
    row = {"scenario": a.scenario, "server": a.server, "run": a.run}
    p = Poller("127.0.0.1", a.port, names, window=a.window,
               interval=a.interval)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    ok = p.run(a.t0 + a.timeout, a.pid)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    poll_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    row.update({"queries": p.sent, "passes": p.passes,
                "poll_cpu_s": "%.2f" % poll_cpu})
    if ok is not True:
        left = [z for z, d in zip(names, p.done) if d is None]
        row["status"] = "fail:server-exited" if ok is None else "fail:timeout"
        row["note"] = "%d of %d zones not served" % (len(left), len(names))
        append_row(a.out, row)
        print("  %-7s %s #%s %s: %d of %d zones not answered (%s%s)"
              % (a.server, a.scenario, a.run, row["status"], len(left),
                 len(names), ", ".join(left[:3]),
                 ", ..." if len(left) > 3 else ""))
        return 1
    t_all = max(p.done)
    # at once: what the start cost and what it holds the moment all is served
    ready = tree_info(a.pid)
    rss_ready = benchlib.tree_mem(a.pid)[0]
    lines0, bytes0 = log_size(a.log)
    q0 = p.sent
    # settle: the server idle (nothing polled); then memory and idle cost
    time.sleep(a.settle)
    after = tree_info(a.pid)
    rss, pss, hwm, nprocs = benchlib.tree_mem(a.pid)
    lines1, _ = log_size(a.log)
    status = "ok"
    if not xfr.alive(a.pid):
        status = "fail:server-exited"
    else:
        for z in (names[0], names[-1]):
            r = p.ask_a("www." + z)
            if not (r and r[0] == 0 and r[1] and r[2] >= 1):
                status = "wrong:www.%s-A" % z
                break
    row.update({
        "status": status,
        "all_s": "%.3f" % (t_all - a.t0),
        "first_s": "%.3f" % (min(d for d in p.done) - a.t0),
        "reply_s": "%.3f" % (p.first_reply - a.t0) if p.first_reply else "",
        "last_pass_s": "%.3f" % max(0.0, t_all - p.last_pass_start)
        if p.last_pass_start else "",
        "srv_cpu_s": "%.2f" % ready["cpu_s"],
        "rss_kib": rss, "pss_kib": pss, "hwm_kib": hwm, "nprocs": nprocs,
        "threads": after["threads"], "fds": after["fds"],
        "rss_ready_kib": rss_ready,
        "idle_cores": "%.3f" % ((after["cpu_s"] - ready["cpu_s"]) / a.settle),
        "idle_queries": p.sent - q0,
        "log_lines": lines0, "log_bytes": bytes0,
        "idle_log_lines": lines1 - lines0,
    })
    append_row(a.out, row)
    print("  %-7s %s #%s %s: all %d zones served %.2f s after exec (first "
          "%.2f s); RSS %.1f MiB, PSS %.1f MiB (%d proc); CPU %.2f s; idle "
          "%.2f cores, %d log lines/%gs; poller %d queries, %.2f s CPU"
          % (a.server, a.scenario, a.run, status, len(names), t_all - a.t0,
             min(p.done) - a.t0, rss / 1024, pss / 1024, nprocs,
             ready["cpu_s"], float(row["idle_cores"]), lines1 - lines0,
             a.settle, p.sent, poll_cpu))
    return 0 if status == "ok" else 1


# ------------------------------------------------------------------ report
def cmd_report(a):
    rows = []
    with open(a.tsv) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    meta = {}
    if a.meta:
        with open(a.meta) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                if k:
                    meta[k] = v
    fnum = benchlib.fnum
    order = ["pharos", "knot", "nsd"]
    servers = [s for s in order if any(r["server"] == s for r in rows)]
    out = {"meta": meta, "columns": header, "rows": rows, "summary": {},
           "ratios": {}, "target": []}

    def sel(scn, srv, ok=True):
        return [r for r in rows if r["scenario"] == scn and r["server"] == srv
                and (not ok or r["status"] == "ok")]

    def col(rs, k):
        return [fnum(r.get(k)) for r in rs if fnum(r.get(k)) is not None]

    def f(v, spec="%.2f"):
        return "-" if v is None else spec % v

    keys = ["all_s", "first_s", "reply_s", "last_pass_s", "srv_cpu_s",
            "rss_kib", "pss_kib", "hwm_kib", "nprocs", "threads", "fds",
            "rss_ready_kib", "idle_cores", "log_lines", "log_bytes",
            "idle_log_lines", "queries", "poll_cpu_s"]
    n_zones = meta.get("zones", "?")
    for scn, title in (
            ("xfr", "first start, empty storage: every zone transferred "
                    "from the Knot primary (for information)"),
            ("start", "restart from disk, the primary down: the issue's "
                      "measurement")):
        if not any(r["scenario"] == scn for r in rows):
            continue
        print()
        print("== %s: %s zones, %s" % (scn, n_zones, title))
        if scn == "start":
            print("   all_s: exec -> every zone's SOA answered NOERROR+AA "
                  "(median of the rounds; first_s: the first zone)")
            print("   memory %s s after that, the server idle: RSS and PSS "
                  "summed over its processes" % meta.get("settle_s", "?"))
        print("%-7s %-6s %4s %8s %13s %8s %8s %8s %8s %5s %6s %6s %7s %6s"
              % ("server", "status", "runs", "all_s", "(min-max)",
                 "first_s", "rss_MiB", "pss_MiB", "peak_MiB", "procs",
                 "cpu_s", "idle", "fds", "log"))
        summ = out["summary"].setdefault(scn, {})
        for s in servers:
            rs, allr = sel(scn, s), sel(scn, s, ok=False)
            if not allr:
                continue
            sm = {"runs": len(allr), "ok": len(rs)}
            for k in keys:
                st = xfr.stats(col(rs, k))
                if st:
                    sm[k] = st
            summ[s] = sm

            def med(k, div=1.0):
                return sm[k]["median"] / div if k in sm else None
            st = sm.get("all_s")
            print("%-7s %-6s %4d %8s %13s %8s %8s %8s %8s %5s %6s %6s %7s %6s"
                  % (s, "ok" if len(rs) == len(allr) else "FAIL", len(allr),
                     f(med("all_s")),
                     "-" if not st else "%.2f-%.2f" % (st["min"], st["max"]),
                     f(med("first_s")), f(med("rss_kib", 1024), "%.1f"),
                     f(med("pss_kib", 1024), "%.1f"),
                     f(med("hwm_kib", 1024), "%.1f"), f(med("nprocs"), "%d"),
                     f(med("srv_cpu_s")), f(med("idle_cores")),
                     f(med("fds"), "%d"), f(med("log_lines"), "%d")))
            for r in allr:
                if r["status"] != "ok":
                    print("  %s round %s: %s %s" % (s, r["run"], r["status"],
                                                     r.get("note", "")))
        for ref in ("knot", "nsd"):
            if "pharos" not in summ or ref not in summ:
                continue
            q = {}
            for k in ("all_s", "rss_kib", "pss_kib", "srv_cpu_s"):
                p, r = summ["pharos"].get(k), summ[ref].get(k)
                if p and r and r["median"]:
                    q[k] = round(p["median"] / r["median"], 3)
            out["ratios"]["%s pharos/%s" % (scn, ref)] = q
            if q:
                print("  pharos/%s: %s" % (ref, ", ".join(
                    "%s %.2f" % (label, q[k]) for k, label in (
                        ("all_s", "start time" if scn == "start" else
                         "time to serve all"),
                        ("rss_kib", "RSS"), ("pss_kib", "PSS"),
                        ("srv_cpu_s", "CPU")) if k in q)))
    # details that explain the figures: threads, idle cost, log volume, poller
    st = out["summary"].get("start", {})
    if st:
        print()
        print("   per start (medians): threads, open fds; idle: server CPU "
              "(cores) and log lines during")
        print("   the %s s settle; log: lines and KiB written until all was "
              "served; poller: queries, CPU s," % meta.get("settle_s", "?"))
        print("   and last_pass: how long its last pass ran before the last "
              "zone answered (the granularity)")
        print("%-7s %7s %6s %10s %10s %9s %9s %9s %8s %9s"
              % ("server", "threads", "fds", "idle_cpu", "idle_log",
                 "log_lines", "log_KiB", "queries", "poll_cpu", "last_pass"))
        for s in servers:
            sm = st.get(s)
            if not sm:
                continue

            def med(k, div=1.0):
                return sm[k]["median"] / div if k in sm else None
            print("%-7s %7s %6s %10s %10s %9s %9s %9s %8s %9s"
                  % (s, f(med("threads"), "%d"), f(med("fds"), "%d"),
                     f(med("idle_cores"), "%.3f"),
                     f(med("idle_log_lines"), "%d"),
                     f(med("log_lines"), "%d"),
                     f(med("log_bytes", 1024), "%.0f"),
                     f(med("queries"), "%d"), f(med("poll_cpu_s")),
                     f(med("last_pass_s"))))
    # ---- the target: less memory and a faster start than both
    tg = out["target"]
    for ref in ("knot", "nsd"):
        q = out["ratios"].get("start pharos/%s" % ref)
        if q is None:
            continue
        for k, label in (("all_s", "start time"), ("rss_kib", "RSS"),
                         ("pss_kib", "PSS")):
            v = q.get(k)
            tg.append({"what": "%s, pharos/%s" % (label, ref), "metric": k,
                       "against": ref, "ratio": v,
                       "meets_target": v is not None and v < 1.0})
    if tg:
        print()
        print("== target: less memory and a faster start than Knot and NSD "
              "(pharos/other < 1.00)")
        for t in tg:
            print("  %-24s %6s  %s" % (
                t["what"], "-" if t["ratio"] is None else "%.2f" % t["ratio"],
                "ok" if t["meets_target"] else
                ("MISSED" if t["ratio"] is not None else "no result")))
        refs = {t["against"] for t in tg if t["ratio"] is not None}
        decided = refs == {"knot", "nsd"} and all(
            t["ratio"] is not None for t in tg)
        met = all(t["meets_target"] for t in tg)
        out["target_met"] = met if decided else None
        print("  overall: %s" % (
            ("met" if met else "NOT met") if decided else
            "not decided (needs results for pharos, knot and nsd)"))
    return benchlib.finish(out, rows, a.json, "FAILED or wrong")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("gen-zones")
    p.add_argument("outdir")
    p.add_argument("--zones", type=int, required=True)
    p.add_argument("--records", type=int, default=12)
    p.add_argument("--serial", type=int, default=2024010101)
    p.set_defaults(fn=cmd_gen_zones)

    p = sub.add_parser("wait")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--zones-file", required=True)
    p.add_argument("--t0", type=float, required=True)
    p.add_argument("--pid", type=int)
    p.add_argument("--timeout", type=float, default=300)
    p.set_defaults(fn=cmd_wait)

    p = sub.add_parser("measure")
    for k in ("--scenario", "--server", "--zones-file", "--out"):
        p.add_argument(k, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--t0", type=float, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--run", default="1")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--settle", type=float, default=2.0)
    p.add_argument("--log", default="")
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--interval", type=float, default=0.05)
    p.set_defaults(fn=cmd_measure)

    p = sub.add_parser("report")
    p.add_argument("tsv")
    p.add_argument("json")
    p.add_argument("meta", nargs="?")
    p.set_defaults(fn=cmd_report)
    a = ap.parse_args()
    return a.fn(a) or 0


if __name__ == "__main__":
    sys.exit(main())
