#!/usr/bin/env python3
"""Helpers for scripts/bench-xfr.sh (standard library only; reuses
scripts/bench/benchlib.py read-only).  See scripts/bench/xfr-README.md.

Subcommands:
  gen-zones OUTDIR [--big-count N] [--queries N] [--seed S]
      Write OUTDIR/zones/small.test.zone (a dozen records),
      OUTDIR/zones/big.test.zone (SOA, NS, glue, tick TXT and N A records
      hN.big.test) and OUTDIR/queries/small.txt (dnsperf format).
  wait-soa HOST PORT ZONES TIMEOUT [--pid PID]
      Poll (every 20 ms) until every zone in the comma-separated ZONES has
      its SOA answered with NOERROR + AA; print the serials, one per zone.
  axfr-in --server NAME --port P --zone Z --serial S --t0 T0 --pid PID
          --log LOG --out TSV [--run N] [--timeout S] [--check NAME]
      Poll the SOA of Z every 20 ms until it is answered (AA) with serial S
      (or newer); record seconds since T0 (a Unix time taken just before the
      server was started), the server's own logged transfer time and, one
      second later, the memory of its process tree.
  changes --scenario notify|ixfr --server NAME --port P --zone Z
          --knotc-conf CONF --count N --out TSV --log LOG --pid PID
          [--interval S] [--gap S] [--timeout S]
      N times: change one record of Z on the primary (knotc zone-begin,
      zone-unset/zone-set of tick.Z TXT, then a timed zone-commit) and poll
      the secondary every --interval (UDP) until it answers a newer serial,
      also while knotc is still running.  Records the latency from just
      before the commit call and from its return, and the transfer kind and
      time the secondary logged for that serial.
  qps-idle --port P --queries FILE --duration S --out TSV --pid PID --log F
           [--clients N] [--outstanding N] [--run N]
      dnsperf against the secondary for S seconds; append a row.
  qps-during --port P --queries FILE --out TSV --pid PID --log LOG
             --zone Z --serial S --small ZONE --dnsperf-log F [--run N]
             [--clients N] [--outstanding N] [--timeout S]
      The secondary was just started with Z missing from its data dir: as
      soon as it answers SMALL, start dnsperf on SMALL queries, and stop it
      (SIGINT) when the secondary logs Z at serial S in service; append a
      row with the qps over that window.
  report TSV JSON [META] [--big-count N]
      Print the tables, ratios and target verdicts; write JSON.
      Exit 1 if any row failed.
"""
import argparse
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402  (read-only reuse: make_query, tree_mem, ...)

COLUMNS = [
    "scenario", "server", "run", "status", "ms", "notify_ms", "before_ms",
    "commit_ms",
    "logged_ms", "kind", "serial", "records", "rss_kib", "hwm_kib", "qps",
    "answered", "lost", "duration_s", "note",
]

SOA, TXT, A = 6, 16, 1


# ------------------------------------------------------------------ zones
def cmd_gen_zones(a):
    zdir = os.path.join(a.outdir, "zones")
    qdir = os.path.join(a.outdir, "queries")
    os.makedirs(zdir, exist_ok=True)
    os.makedirs(qdir, exist_ok=True)
    small = [
        "$ORIGIN small.test.",
        "$TTL 3600",
        "@ SOA ns1 hostmaster 1 7200 3600 1209600 300",
        "@ NS ns1",
        "@ NS ns2",
        "@ A 192.0.2.1",
        "@ MX 10 mail",
        "@ TXT \"v=spf1 mx -all\"",
        "ns1 A 192.0.2.2",
        "ns2 A 198.51.100.2",
        "www A 192.0.2.10",
        "www AAAA 2001:db8::10",
        "mail A 192.0.2.25",
        "api A 192.0.2.30",
        "ftp CNAME www",
        "tick TXT \"0\"",
    ]
    with open(os.path.join(zdir, "small.test.zone"), "w") as f:
        f.write("; small.test: scripts/bench-xfr.sh\n" + "\n".join(small) + "\n")
    n = a.big_count
    with open(os.path.join(zdir, "big.test.zone"), "w", buffering=1 << 20) as f:
        f.write("; big.test: %d A records for scripts/bench-xfr.sh\n"
                "$ORIGIN big.test.\n$TTL 3600\n"
                "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
                "@ NS ns1\n@ NS ns2\nns1 A 192.0.2.2\nns2 A 198.51.100.2\n"
                "tick TXT \"0\"\n" % n)
        chunk = 100000
        for start in range(0, n, chunk):
            f.write("".join(
                "h%d A 10.%d.%d.%d\n"
                % (i, (i >> 16) & 255, (i >> 8) & 255, i & 255)
                for i in range(start, min(n, start + chunk))))
    # small.test queries: mostly existing names, some NXDOMAIN
    import random
    rng = random.Random(a.seed)
    names = [("small.test", "SOA"), ("small.test", "NS"), ("small.test", "A"),
             ("small.test", "MX"), ("www.small.test", "A"),
             ("www.small.test", "AAAA"), ("mail.small.test", "A"),
             ("api.small.test", "A"), ("ftp.small.test", "A"),
             ("ns1.small.test", "A"), ("tick.small.test", "TXT")]
    out = []
    for _ in range(a.queries):
        if rng.random() < 0.8:
            n_, t = rng.choice(names)
        else:
            n_, t = "nx%d.small.test" % rng.randrange(1 << 30), "A"
        out.append("%s %s\n" % (n_, t))
    with open(os.path.join(qdir, "small.txt"), "w") as f:
        f.writelines(out)


# -------------------------------------------------------------------- DNS
def skip_name(data, p):
    while True:
        ln = data[p]
        if ln == 0:
            return p + 1
        if ln & 0xC0 == 0xC0:
            return p + 2
        p += ln + 1


def parse_reply(data, qid):
    """-> (qr_aa_noerror, ancount, soa_serial or None); None if not ours."""
    if len(data) < 12:
        return None
    rid, flags, qd, an = struct.unpack("!HHHH", data[:8])
    if rid != qid:
        return None
    good = bool(flags & 0x8000) and bool(flags & 0x0400) and flags & 0xF == 0
    serial = None
    try:
        p = 12
        for _ in range(qd):
            p = skip_name(data, p) + 4
        for _ in range(an):
            p = skip_name(data, p)
            rtype, _, _, rdlen = struct.unpack("!HHIH", data[p:p + 10])
            p += 10
            if rtype == SOA and serial is None:
                q = skip_name(data, p)
                q = skip_name(data, q)
                serial = struct.unpack("!I", data[q:q + 4])[0]
            p += rdlen
    except (IndexError, struct.error):
        pass
    return good, an, serial


class Prober:
    """One UDP socket; ask() sends a query and waits for its reply."""

    def __init__(self, host, port):
        self.addr = (host, port)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.qid = int(time.time() * 1000) & 0xFFFF

    def ask(self, name, qtype, timeout=0.05):
        self.qid = (self.qid + 1) & 0xFFFF
        try:
            self.s.sendto(benchlib.make_query(name, qtype, self.qid), self.addr)
            end = time.monotonic() + timeout
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.s.settimeout(left)
                data = self.s.recv(65535)
                r = parse_reply(data, self.qid)
                if r is not None:
                    return r
        except OSError:
            return None

    def serial(self, zone, timeout=0.05):
        """SOA serial if answered NOERROR + AA, else None."""
        r = self.ask(zone, SOA, timeout)
        if r and r[0] and r[2] is not None:
            return r[2]
        return None


def serial_gt(a, b):
    """RFC 1982: a newer than b (32-bit)."""
    return a != b and ((a - b) & 0xFFFFFFFF) < 0x80000000


class NotifyCapture:
    """NOTIFY messages sent on loopback to a port, over UDP or TCP (Knot 3.2
    sends them over TCP), with kernel timestamps: AF_PACKET on "lo" with a
    BPF filter (needs CAP_NET_RAW).  The time of a TCP NOTIFY is that of the
    segment carrying it (after the handshake)."""

    def __init__(self, port):
        import ctypes
        prog = [
            (0x30, 0, 0, 9),          # 0  ldb [9]           IP protocol
            (0x15, 0, 5, 6),          # 1  jeq #6 (TCP)      else 7
            (0x28, 0, 0, 6),          # 2  ldh [6]           flags+fragment
            (0x45, 12, 0, 0x1FFF),    # 3  jset #0x1fff      fragment: drop
            (0xB1, 0, 0, 0),          # 4  ldxb 4*([0]&0xf)  IP header length
            (0x48, 0, 0, 2),          # 5  ldh [x+2]         dst port
            (0x15, 10, 9, port),      # 6  jeq #port         accept, else drop
            (0x15, 0, 8, 17),         # 7  jeq #17 (UDP)     else drop
            (0x28, 0, 0, 6),          # 8  ldh [6]
            (0x45, 6, 0, 0x1FFF),     # 9  jset #0x1fff      fragment: drop
            (0xB1, 0, 0, 0),          # 10 ldxb 4*([0]&0xf)
            (0x48, 0, 0, 2),          # 11 ldh [x+2]         dst port
            (0x15, 0, 3, port),       # 12 jeq #port         else drop
            (0x50, 0, 0, 10),         # 13 ldb [x+10]        DNS flags, 1st byte
            (0x54, 0, 0, 0x78),       # 14 and #0x78         opcode bits
            (0x15, 1, 0, 0x20),       # 15 jeq #(4 << 3)     NOTIFY: accept
            (0x06, 0, 0, 0),          # 16 ret #0            drop
            (0x06, 0, 0, 0xFFFF),     # 17 ret #65535        accept
        ]
        self._buf = ctypes.create_string_buffer(
            b"".join(struct.pack("HBBI", *i) for i in prog))
        fprog = struct.pack("HL", len(prog), ctypes.addressof(self._buf))
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                               socket.htons(0x0800))
        self.s.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER
        self.s.setsockopt(socket.SOL_SOCKET, 35, 1)      # SO_TIMESTAMPNS
        self.s.bind(("lo", 0x0800))
        self.s.setblocking(False)

    def drain(self):
        """-> [(unix time sent, dns id, qname lowercase)] read so far."""
        out = []
        while True:
            try:
                data, anc, _, _ = self.s.recvmsg(65535, 64)
            except (BlockingIOError, InterruptedError):
                return out
            ts = time.time()
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == 35:
                    sec, nsec = struct.unpack("qq", cdata[:16])
                    ts = sec + nsec / 1e9
            try:
                ihl = (data[0] & 0xF) * 4
                if data[9] == 6:  # TCP: 2-byte length, then the message
                    dns = data[ihl + (data[ihl + 12] >> 4) * 4 + 2:]
                else:
                    dns = data[ihl + 8:]
                if len(dns) < 17 or dns[2] & 0xF8 != 0x20:  # query, NOTIFY
                    continue
                labels, p = [], 12
                while dns[p]:
                    labels.append(dns[p + 1:p + 1 + dns[p]].decode("ascii",
                                                                   "replace"))
                    p += dns[p] + 1
                out.append((ts, struct.unpack("!H", dns[:2])[0],
                            ".".join(labels).lower()))
            except (IndexError, struct.error):
                continue


def alive(pid):
    return pid is None or os.path.exists("/proc/%d" % pid)


def cmd_wait_soa(a):
    pr = Prober(a.host, a.port)
    zones = [z for z in a.zones.split(",") if z]
    got = {}
    deadline = time.monotonic() + a.timeout
    while len(got) < len(zones):
        if not alive(a.pid):
            print("  the server process (%d) exited" % a.pid, file=sys.stderr)
            return 3
        for z in zones:
            if z not in got:
                s = pr.serial(z, 0.02)
                if s is not None:
                    got[z] = s
        if len(got) == len(zones):
            break
        if time.monotonic() > deadline:
            print("  no authoritative SOA within %ds for: %s"
                  % (a.timeout, ", ".join(z for z in zones if z not in got)),
                  file=sys.stderr)
            return 1
        time.sleep(0.02)
    print(" ".join(str(got[z]) for z in zones))
    return 0


# ------------------------------------------------------------------- logs
ANSI = re.compile(r"\x1b\[[0-9;]*m")
PHAROS_DONE = re.compile(
    r"transfer complete; new version served.*?zone=(\S+?)\.? serial=(\d+)"
    r".*?kind=\"?(\w+)\"?.*?records=(\d+).*?ms=(\d+)")
KNOT_DONE = re.compile(
    r"\[(\S+?)\.\] refresh, remote [^,]+, zone updated, ([\d.]+) seconds, "
    r"serial (\S+) -> (\d+)")
KNOT_XFR = re.compile(r"\[(\S+?)\.\] (AXFR|IXFR), incoming, remote [^,]+, "
                      r"finished")


def logged_transfer(kind_of_server, path, zone, serial):
    """-> dict(kind, ms, records) the server logged for zone at serial."""
    try:
        with open(path, errors="replace") as f:
            text = ANSI.sub("", f.read())
    except OSError:
        return None
    zone = zone.rstrip(".").lower()
    found = None
    if kind_of_server == "pharos":
        for m in PHAROS_DONE.finditer(text):
            if m.group(1).lower() == zone and int(m.group(2)) == serial:
                found = {"kind": m.group(3), "records": int(m.group(4)),
                         "ms": float(m.group(5))}
    else:
        kind = ""
        for line in text.splitlines():
            m = KNOT_XFR.search(line)
            if m and m.group(1).lower() == zone:
                kind = m.group(2).lower()
            m = KNOT_DONE.search(line)
            if m and m.group(1).lower() == zone and int(m.group(4)) == serial:
                found = {"kind": kind, "records": "",
                         "ms": float(m.group(2)) * 1000}
    return found


def wait_logged(kind_of_server, path, zone, serial, timeout=3.0):
    end = time.monotonic() + timeout
    while True:
        r = logged_transfer(kind_of_server, path, zone, serial)
        if r or time.monotonic() > end:
            return r
        time.sleep(0.02)


def server_kind(name):
    return "pharos" if name.startswith("pharos") else "knot"


def append_row(path, row):
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a") as f:
        if new:
            f.write("\t".join(COLUMNS) + "\n")
        f.write("\t".join(str(row.get(c, "")) for c in COLUMNS) + "\n")


# --------------------------------------------------------------- axfr-in
def cmd_axfr_in(a):
    pr = Prober("127.0.0.1", a.port)
    row = {"scenario": "axfr-in", "server": a.server, "run": a.run,
           "serial": a.serial}
    deadline = a.t0 + a.timeout
    while True:
        if not alive(a.pid):
            row["status"] = "fail:server-exited"
            append_row(a.out, row)
            print("  %s: the server process exited" % a.server)
            return 1
        s = pr.serial(a.zone, 0.02)
        now = time.time()
        if s is not None and (s == a.serial or serial_gt(s, a.serial)):
            break
        if now > deadline:
            row["status"] = "fail:timeout"
            append_row(a.out, row)
            print("  %s: %s not answered at serial %d within %ds"
                  % (a.server, a.zone, a.serial, a.timeout))
            return 1
        time.sleep(0.02)
    row["ms"] = "%.0f" % ((now - a.t0) * 1000)
    status = "ok"
    if a.check:  # the last record is there too
        r = pr.ask(a.check, A, 0.5)
        if not (r and r[0] and r[1] == 1):
            status = "wrong:no-%s" % a.check
    lg = wait_logged(server_kind(a.server), a.log, a.zone, s) if a.log else None
    if lg:
        row.update({"logged_ms": "%.0f" % lg["ms"], "kind": lg["kind"],
                    "records": lg["records"]})
    time.sleep(1.0)  # let it free transfer buffers before reading memory
    rss, _, hwm, _ = benchlib.tree_mem(a.pid)
    row.update({"status": status, "rss_kib": rss, "hwm_kib": hwm})
    append_row(a.out, row)
    print("  %-7s axfr-in #%s %s: serial %d answered %.2f s after start; "
          "logged %s; RSS %.1f MiB (peak %.1f MiB)"
          % (a.server, a.run, status, s, (now - a.t0),
             ("%s %.0f ms" % (lg["kind"], lg["ms"])) if lg else "nothing",
             rss / 1024, hwm / 1024))
    return 0 if status == "ok" else 1


# --------------------------------------------------------------- changes
def knotc(conf, *args, check=True):
    p = subprocess.run(["knotc", "-c", conf] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if check and p.returncode != 0:
        raise RuntimeError("knotc %s: %s" % (" ".join(args), p.stdout.strip()))
    return p


def cmd_changes(a):
    pr = Prober("127.0.0.1", a.port)
    primary = Prober("127.0.0.1", a.primary_port)
    kind_of = server_kind(a.server)
    rc = 0
    try:
        cap = NotifyCapture(a.port)
    except OSError as e:
        cap = None
        print("  (no NOTIFY capture, so no 'notify->' figures: %s)" % e)
    for i in range(1, a.count + 1):
        row = {"scenario": a.scenario, "server": a.server, "run": i}
        if not alive(a.pid):
            row["status"] = "fail:server-exited"
            append_row(a.out, row)
            print("  %s: the server process exited" % a.server)
            return 1
        pre = primary.serial(a.zone, 1.0)
        held = pr.serial(a.zone, 1.0)
        if pre is None or held != pre:
            # wait (a little) for the secondary to catch up first
            end = time.monotonic() + a.timeout
            while time.monotonic() < end:
                held = pr.serial(a.zone, 0.2)
                if pre is not None and held == pre:
                    break
                time.sleep(0.05)
            if pre is None or held != pre:
                row["status"] = "fail:not-in-sync"
                row["note"] = "primary %s secondary %s" % (pre, held)
                append_row(a.out, row)
                print("  %s %s #%d: secondary not at the primary's serial "
                      "(%s vs %s)" % (a.server, a.scenario, i, held, pre))
                rc = 1
                continue
        try:
            knotc(a.knotc_conf, "zone-abort", a.zone, check=False)
            knotc(a.knotc_conf, "zone-begin", a.zone)
            knotc(a.knotc_conf, "zone-unset", a.zone, "tick", "TXT")
            knotc(a.knotc_conf, "zone-set", a.zone, "tick", "3600", "TXT",
                  '"%s-%d"' % (a.server, i))
        except RuntimeError as e:
            knotc(a.knotc_conf, "zone-abort", a.zone, check=False)
            row["status"] = "fail:knotc"
            append_row(a.out, row)
            print("  %s" % e)
            return 1
        if cap:
            cap.drain()  # forget earlier NOTIFYs
        t_before = time.perf_counter()
        proc = subprocess.Popen(
            ["knotc", "-c", a.knotc_conf, "zone-commit", a.zone],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        t_after = t_ans = None
        got = None
        deadline = t_before + a.timeout
        tick = t_before
        while t_after is None or t_ans is None:
            if t_after is None and proc.poll() is not None:
                t_after = time.perf_counter()
            if t_ans is None:
                s = pr.serial(a.zone, 0.05)
                if s is not None and serial_gt(s, pre):
                    t_ans = time.perf_counter()
                    t_ans_wall = time.time()
                    got = s
            now = time.perf_counter()
            if now > deadline:
                break
            if t_ans is None:  # 1 ms between queries (not while waiting knotc)
                tick += a.interval
                if tick > now:
                    time.sleep(tick - now)
                else:
                    tick = now
            elif t_after is None:
                time.sleep(0.0005)
        out = proc.communicate()[0] if proc.poll() is not None else ""
        if t_after is None:
            proc.kill()
            proc.wait()
        if proc.returncode not in (0, None) or t_after is None:
            row["status"] = "fail:knotc-commit"
            row["note"] = out.strip().replace("\t", " ")[:80]
            append_row(a.out, row)
            print("  knotc zone-commit %s failed: %s" % (a.zone, out.strip()))
            return 1
        row["commit_ms"] = "%.1f" % ((t_after - t_before) * 1000)
        if t_ans is None:
            row["status"] = "fail:timeout"
            append_row(a.out, row)
            print("  %-7s %-6s #%d: no newer serial than %d within %ds"
                  % (a.server, a.scenario, i, pre, a.timeout))
            rc = 1
            continue
        row.update({"status": "ok", "serial": got,
                    "ms": "%.1f" % ((t_ans - t_after) * 1000),
                    "before_ms": "%.1f" % ((t_ans - t_before) * 1000)})
        sent = [ts for ts, _, qn in (cap.drain() if cap else [])
                if qn == a.zone.rstrip(".").lower()]
        notify_ms = None
        if sent:
            notify_ms = (t_ans_wall - min(sent)) * 1000
            row["notify_ms"] = "%.1f" % notify_ms
        lg = wait_logged(kind_of, a.log, a.zone, got)
        if lg:
            row.update({"logged_ms": "%.0f" % lg["ms"], "kind": lg["kind"],
                        "records": lg["records"]})
        append_row(a.out, row)
        print("  %-7s %-6s #%-2d serial %d answered %s ms after the NOTIFY, "
              "%.1f ms after the commit returned, %.1f ms after it was "
              "called (commit took %.1f ms); logged %s"
              % (a.server, a.scenario, i, got,
                 "-" if notify_ms is None else "%.1f" % notify_ms,
                 (t_ans - t_after) * 1000,
                 (t_ans - t_before) * 1000, (t_after - t_before) * 1000,
                 ("%s %.0f ms" % (lg["kind"], lg["ms"])) if lg else "nothing"))
        time.sleep(a.gap)
    return rc


# ------------------------------------------------------------------- qps
def dnsperf_cmd(a, limit):
    return ["dnsperf", "-s", "127.0.0.1", "-p", str(a.port), "-d", a.queries,
            "-l", "%g" % limit, "-c", str(a.clients), "-q", str(a.outstanding),
            "-t", "2"]


def perf_row(a, scenario, text, rc, note=""):
    res = benchlib.parse_dnsperf(text)
    row = {"scenario": scenario, "server": "pharos", "run": a.run,
           "note": note}
    if rc == 0 and res.get("qps") is not None and res.get("answered"):
        row.update({"status": "ok", "qps": "%.0f" % res["qps"],
                    "answered": res["answered"], "lost": res["lost"],
                    "duration_s": "%.3f" % (res["runtime"] or 0)})
        if res.get("rcodes"):
            row["note"] = (note + " " if note else "") + res["rcodes"]
    else:
        row["status"] = "fail:dnsperf-exit-%d" % rc
    return row


def cmd_qps_idle(a):
    cmd = dnsperf_cmd(a, a.duration)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    with open(a.log, "w") as f:
        f.write(" ".join(cmd) + "\n" + p.stdout)
    row = perf_row(a, "qps-idle", p.stdout, p.returncode)
    if not alive(a.pid):
        row["status"] = "fail:server-died"
    append_row(a.out, row)
    print("  pharos  qps-idle   #%s %s: %s qps over %s s, %s answered, %s lost"
          % (a.run, row["status"], row.get("qps", "-"),
             row.get("duration_s", "-"), row.get("answered", "-"),
             row.get("lost", "-")))
    return 0 if row["status"] == "ok" else 1


def cmd_qps_during(a):
    pr = Prober("127.0.0.1", a.port)
    row = {"scenario": "qps-axfr", "server": "pharos", "run": a.run}
    deadline = time.monotonic() + a.timeout
    while pr.serial(a.small, 0.02) is None:
        if not alive(a.pid) or time.monotonic() > deadline:
            row["status"] = "fail:no-small-zone"
            append_row(a.out, row)
            print("  pharos did not serve %s after the restart" % a.small)
            return 1
        time.sleep(0.005)
    if logged_transfer("pharos", a.log, a.zone, a.serial):
        row["status"] = "fail:transfer-done-before-dnsperf"
        append_row(a.out, row)
        print("  the AXFR of %s was over before dnsperf started" % a.zone)
        return 1
    cmd = dnsperf_cmd(a, a.timeout)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lg = None
    while proc.poll() is None:
        lg = logged_transfer("pharos", a.log, a.zone, a.serial)
        if lg or not alive(a.pid):
            break
        time.sleep(0.005)
    window = time.monotonic() - t0
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    text = proc.communicate()[0]
    with open(a.dnsperf_log, "w") as f:
        f.write(" ".join(cmd) + "\n" + text)
    rc = proc.returncode
    if lg is None:
        row["status"] = "fail:no-transfer" if alive(a.pid) else \
            "fail:server-died"
        append_row(a.out, row)
        print("  pharos  qps-axfr #%s: %s" % (a.run, row["status"]))
        return 1
    row = perf_row(a, "qps-axfr", text, 0 if rc in (0, 1) else rc,
                   "axfr %s ms" % "%.0f" % lg["ms"])
    row.update({"logged_ms": "%.0f" % lg["ms"], "kind": lg["kind"],
                "records": lg["records"], "serial": a.serial})
    if not alive(a.pid):
        row["status"] = "fail:server-died"
    append_row(a.out, row)
    print("  pharos  qps-axfr   #%s %s: %s qps over %s s (the %s of %s records "
          "took %.0f ms; dnsperf ran %.0f ms of it), %s answered, %s lost"
          % (a.run, row["status"], row.get("qps", "-"),
             row.get("duration_s", "-"), lg["kind"], lg["records"], lg["ms"],
             window * 1000, row.get("answered", "-"), row.get("lost", "-")))
    return 0 if row["status"] == "ok" else 1


# ----------------------------------------------------------------- report
def fnum(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def pct(xs, p):
    """Nearest-rank percentile."""
    xs = sorted(xs)
    if not xs:
        return None
    k = max(1, -(-p * len(xs) // 100))  # ceil
    return xs[int(k) - 1]


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"n": len(xs), "min": min(xs), "median": benchlib.median(xs),
            "p90": pct(xs, 90), "max": max(xs)}


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
    servers = [s for s in ("pharos", "knot")
               if any(r["server"] == s for r in rows)]

    def sel(scn, srv, ok=True):
        return [r for r in rows if r["scenario"] == scn and r["server"] == srv
                and (not ok or r["status"] == "ok")]

    def col(rs, k):
        return [fnum(r.get(k)) for r in rs if fnum(r.get(k)) is not None]

    def f(v, spec="%.1f"):
        return "-" if v is None else spec % v

    out = {"meta": meta, "columns": header, "rows": rows, "summary": {},
           "ratios": {}, "target": []}
    summ = out["summary"]

    # ---- axfr-in
    print()
    print("== axfr-in: big.test (%s records) from the Knot primary into an "
          "empty secondary" % meta.get("big_count", "?"))
    print("   answered_s: process start -> big.test SOA answered (AA) with "
          "the primary's serial (20 ms polls)")
    print("   logged_s: the transfer time the server logs itself (pharos ms=, "
          "Knot 'zone updated, N seconds')")
    print("%-7s %-6s %6s %10s %13s %9s %8s %9s"
          % ("server", "status", "rounds", "answered_s", "(min-max)",
             "logged_s", "rss_MiB", "peak_MiB"))
    for s in servers:
        rs, allr = sel("axfr-in", s), sel("axfr-in", s, ok=False)
        if not allr:
            continue
        st = stats(col(rs, "ms"))
        lg = stats(col(rs, "logged_ms"))
        rss = stats(col(rs, "rss_kib"))
        hwm = stats(col(rs, "hwm_kib"))
        summ.setdefault("axfr-in", {})[s] = {
            "rounds": len(allr), "ok": len(rs), "answered_ms": st,
            "logged_ms": lg, "rss_kib": rss, "hwm_kib": hwm}
        print("%-7s %-6s %6d %10s %13s %9s %8s %9s"
              % (s, "ok" if len(rs) == len(allr) else "FAIL", len(allr),
                 f(st and st["median"] / 1000, "%.2f"),
                 "-" if not st else "%.2f-%.2f" % (st["min"] / 1000,
                                                   st["max"] / 1000),
                 f(lg and lg["median"] / 1000, "%.2f"),
                 f(rss and rss["median"] / 1024), f(hwm and hwm["median"] / 1024)))
        for r in allr:
            if r["status"] != "ok":
                print("  %s round %s: %s" % (s, r["run"], r["status"]))
    ax = summ.get("axfr-in", {})
    ratios = {}
    if "pharos" in ax and "knot" in ax:
        for key, label in (("answered_ms", "time to answer"),
                           ("logged_ms", "logged transfer time"),
                           ("rss_kib", "RSS"), ("hwm_kib", "peak RSS")):
            p, k = ax["pharos"].get(key), ax["knot"].get(key)
            if p and k and k["median"]:
                ratios[key] = round(p["median"] / k["median"], 3)
        out["ratios"]["axfr-in pharos/knot"] = ratios
        print("  pharos/knot: " + ", ".join(
            "%s %.2f" % (label, ratios[key]) for key, label in (
                ("answered_ms", "time to answer"),
                ("logged_ms", "logged transfer time"), ("rss_kib", "RSS"),
                ("hwm_kib", "peak RSS")) if key in ratios))

    # ---- notify / ixfr
    for scn, title in (
            ("notify", "NOTIFY latency: one record changed in small.test "
                       "(knotc zone-commit on the primary)"),
            ("ixfr", "IXFR apply: one record changed in big.test "
                     "(knotc zone-commit on the primary)")):
        if not any(r["scenario"] == scn for r in rows):
            continue
        print()
        print("== %s" % title)
        print("   ms until the secondary answers the new serial (UDP polls "
              "every 1 ms, also while knotc runs), from:")
        print("   'notify->' the primary's NOTIFY to it on the wire (AF_PACKET "
              "capture on lo, kernel timestamp);")
        print("   'commit->' knotc zone-commit returning; 'call->' just before "
              "knotc was started;")
        print("   'logged': the transfer time the secondary logs; '(knotc)': "
              "how long zone-commit took")
        print("%-7s %-6s %4s %-9s %8s %8s %8s %8s   %s"
              % ("server", "status", "n", "from", "min", "median", "p90",
                 "max", "kinds"))
        for s in servers:
            rs, allr = sel(scn, s), sel(scn, s, ok=False)
            if not allr:
                continue
            kinds = {}
            for r in rs:
                kinds[r.get("kind") or "?"] = kinds.get(r.get("kind") or "?", 0) + 1
            sm = {"n": len(allr), "ok": len(rs),
                  "from_notify_ms": stats(col(rs, "notify_ms")),
                  "from_commit_ms": stats(col(rs, "ms")),
                  "from_call_ms": stats(col(rs, "before_ms")),
                  "logged_ms": stats(col(rs, "logged_ms")),
                  "commit_ms": stats(col(rs, "commit_ms")), "kinds": kinds}
            summ.setdefault(scn, {})[s] = sm
            first = True
            for key, label in (("from_notify_ms", "notify->"),
                               ("from_commit_ms", "commit->"),
                               ("from_call_ms", "call->"),
                               ("logged_ms", "logged"),
                               ("commit_ms", "(knotc)")):
                st = sm[key]
                print("%-7s %-6s %4s %-9s %8s %8s %8s %8s   %s"
                      % (s if first else "",
                         ("ok" if len(rs) == len(allr) else "FAIL")
                         if first else "",
                         len(allr) if first else "", label,
                         f(st and st["min"]), f(st and st["median"]),
                         f(st and st["p90"]), f(st and st["max"]),
                         ",".join("%s=%d" % kv for kv in sorted(kinds.items()))
                         if first else ""))
                first = False
            bad = [r for r in allr if r["status"] != "ok"]
            for r in bad:
                print("  %s #%s: %s %s" % (s, r["run"], r["status"],
                                           r.get("note", "")))
        d = summ.get(scn, {})
        if "pharos" in d and "knot" in d:
            parts = []
            for key, label in (("from_notify_ms", "notify->"),
                               ("from_commit_ms", "commit->"),
                               ("logged_ms", "logged")):
                p, k = d["pharos"][key], d["knot"][key]
                if p and k and k["median"] > 0:
                    q = round(p["median"] / k["median"], 3)
                    out["ratios"].setdefault("%s pharos/knot" % scn, {})[key] = q
                    parts.append("%s %.2f" % (label, q))
            if parts:
                print("  pharos/knot (medians): " + ", ".join(parts))

    # ---- qps
    idle, during = sel("qps-idle", "pharos"), sel("qps-axfr", "pharos")
    if sel("qps-idle", "pharos", False) or sel("qps-axfr", "pharos", False):
        print()
        print("== qps: pharos answering small.test (dnsperf %s) idle, and "
              "while it AXFRs big.test"
              % meta.get("dnsperf_args", ""))
        print("   'during' runs: pharos restarted without its big.test "
              "snapshot; dnsperf runs from the")
        print("   moment small.test is served until pharos logs big.test in "
              "service (SIGINT)")
        print("   ('covered': the share of the transfers' logged time "
              "that dnsperf ran)")
        print("%-7s %-9s %-6s %4s %9s %10s %7s %9s %9s %8s"
              % ("server", "state", "status", "runs", "qps", "answered",
                 "lost", "seconds", "axfr_ms", "covered"))
        res = {}
        for scn, label in (("qps-idle", "idle"), ("qps-axfr", "in-axfr")):
            rs, allr = sel(scn, "pharos"), sel(scn, "pharos", False)
            ans = sum(int(fnum(r["answered"]) or 0) for r in rs)
            secs = sum(fnum(r["duration_s"]) or 0 for r in rs)
            lost = sum(int(fnum(r["lost"]) or 0) for r in rs)
            qps = ans / secs if secs else None  # pooled over the runs
            lg = stats(col(rs, "logged_ms"))
            xfr_s = sum(col(rs, "logged_ms")) / 1000
            cov = secs / xfr_s if xfr_s else None
            res[scn] = {"runs": len(allr), "ok": len(rs), "qps": qps,
                        "answered": ans, "lost": lost, "seconds": secs,
                        "axfr_logged_ms": lg, "covered": cov}
            print("%-7s %-9s %-6s %4d %9s %10d %7d %9.2f %9s %8s"
                  % ("pharos", label,
                     "ok" if rs and len(rs) == len(allr) else "FAIL",
                     len(allr), f(qps, "%.0f"), ans, lost, secs,
                     f(lg and lg["median"], "%.0f"),
                     "-" if cov is None else "%.0f%%" % (cov * 100)))
            for r in allr:
                if r["status"] != "ok":
                    print("  %s #%s: %s" % (label, r["run"], r["status"]))
        summ["qps"] = res
        qi, qd = res["qps-idle"]["qps"], res["qps-axfr"]["qps"]
        if qi and qd:
            out["ratios"]["qps during-axfr/idle"] = round(qd / qi, 3)
            print("  during-axfr/idle: %.2f" % (qd / qi))

    # ---- targets
    tg = out["target"]

    def med(scn, srv, key):
        v = summ.get(scn, {}).get(srv, {}).get(key)
        return v and v["median"]

    def best(scn):
        """median from the NOTIFY on the wire, else from the commit return"""
        v = med(scn, "pharos", "from_notify_ms")
        if v is not None:
            return v, "from NOTIFY sent"
        return med(scn, "pharos", "from_commit_ms"), "from commit return"

    v, frm = best("notify")
    if "notify" in summ and "pharos" in summ["notify"]:
        tg.append({"what": "NOTIFY -> new serial answered, small zone, "
                           "median (%s)" % frm,
                   "value": v, "unit": "ms", "target": "< 50",
                   "meets_target": v is not None and v < 50})
    if ratios.get("answered_ms") is not None:
        q = ratios["answered_ms"]
        tg.append({"what": "AXFR-in of big.test, pharos/knot (time to answer)",
                   "value": q, "unit": "ratio", "target": "<= 1.00",
                   "meets_target": q <= 1.0})
    v, frm = best("ixfr")
    if "ixfr" in summ and "pharos" in summ["ixfr"]:
        tg.append({"what": "one-record IXFR applied to big.test, median "
                           "(%s)" % frm,
                   "value": v, "unit": "ms", "target": "< 10",
                   "meets_target": v is not None and v < 10})
    q = out["ratios"].get("qps during-axfr/idle")
    if "qps" in summ:
        tg.append({"what": "qps during a big.test AXFR / idle (no number in "
                           "the issue: reported)",
                   "value": q, "unit": "ratio", "target": None,
                   "meets_target": None})
    if tg:
        print()
        print("== target (the issue's goals for pharos)")
        for t in tg:
            val = "-" if t["value"] is None else (
                "%.2f" % t["value"] if t["unit"] == "ratio"
                else "%.1f ms" % t["value"])
            verdict = ("info" if t["target"] is None else
                       "ok" if t["meets_target"] else
                       "MISSED" if t["value"] is not None else "no result")
            print("  %-66s %10s  %-7s %s" % (t["what"], val,
                                             t["target"] or "", verdict))
    return benchlib.finish(out, rows, a.json, "FAILED or wrong")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("gen-zones")
    p.add_argument("outdir")
    p.add_argument("--big-count", type=int, default=1000000)
    p.add_argument("--queries", type=int, default=20000)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(fn=cmd_gen_zones)

    p = sub.add_parser("wait-soa")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("zones")
    p.add_argument("timeout", type=float)
    p.add_argument("--pid", type=int)
    p.set_defaults(fn=cmd_wait_soa)

    p = sub.add_parser("axfr-in")
    for k in ("--server", "--zone", "--log", "--out"):
        p.add_argument(k, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--serial", type=int, required=True)
    p.add_argument("--t0", type=float, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--run", default="1")
    p.add_argument("--timeout", type=float, default=180)
    p.add_argument("--check", default="")
    p.set_defaults(fn=cmd_axfr_in)

    p = sub.add_parser("changes")
    for k in ("--scenario", "--server", "--zone", "--knotc-conf", "--out",
              "--log"):
        p.add_argument(k, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--primary-port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--interval", type=float, default=0.001)
    p.add_argument("--gap", type=float, default=0.2)
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(fn=cmd_changes)

    for name, fn in (("qps-idle", cmd_qps_idle), ("qps-during", cmd_qps_during)):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--queries", required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--pid", type=int, required=True)
        p.add_argument("--log", required=True)
        p.add_argument("--run", default="1")
        p.add_argument("--clients", type=int, default=4)
        p.add_argument("--outstanding", type=int, default=100)
        if name == "qps-idle":
            p.add_argument("--duration", type=float, default=10)
        else:
            p.add_argument("--zone", required=True)
            p.add_argument("--serial", type=int, required=True)
            p.add_argument("--small", required=True)
            p.add_argument("--dnsperf-log", required=True)
            p.add_argument("--timeout", type=float, default=180)
        p.set_defaults(fn=fn)

    p = sub.add_parser("report")
    p.add_argument("tsv")
    p.add_argument("json")
    p.add_argument("meta", nargs="?")
    p.set_defaults(fn=cmd_report)
    a = ap.parse_args()
    return a.fn(a) or 0


if __name__ == "__main__":
    sys.exit(main())
