#!/usr/bin/env python3
"""The transfers-out benchmark for scripts/bench-xfr-out.sh (standard
library only; CPU and memory readings from scripts/bench/benchlib.py).

pharos, Knot DNS and NSD serve the same zones from files on loopback
ports, one after the other in the same run, and each is measured the same
way:

  axfr      AXFR of big.test (N records) to a framing-only client: it reads
            the TCP stream, splits it at the 2-byte length prefixes and adds
            up ANCOUNT from each header (to know where the transfer ends); it
            parses nothing else.  Wall time (first byte sent to last byte
            read) and the server's CPU time (utime+stime of its process tree,
            /proc/PID/stat, before and after); the median of --rounds.
  ixfr      One change of big.test (a record added, the serial raised: knotc
            for Knot, the zone file rewritten + SIGHUP for NSD and pharos),
            then IXFR from the previous serial: the answer must be the
            difference (a handful of records), then the time per request
            and the server's CPU per request, one client in a row, and 10
            clients at once.
  qps       dnsperf on small.test, idle and while 10 AXFRs of big.test run
            in a loop (ratio during/idle), and the server's RSS idle and the
            peak while those 10 AXFRs run (sampled every 50 ms).
  notify    The server started with --notify-zones small zones, each with
            3 NOTIFY targets (UDP listeners here that answer and count):
            the NOTIFY rate each target saw (and the busiest 100 ms),
            against pharos' configured notify-rate, and the zones a target
            never got a NOTIFY for within the wait ("missing").

A part a server cannot do yet (pharos before the hub branches) is a row
with status fail:...; the exit status is then 1.
"""
import argparse
import json
import multiprocessing
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

SERVERS = ("pharos", "knot", "nsd")


# ------------------------------------------------------------------ zones
def soa(zone, serial):
    return "$ORIGIN %s.\n$TTL 300\n@ SOA ns1 host %d 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\n" % (
        zone, serial)


def write_big(path, count, serial, extra=""):
    with open(path, "w") as f:
        f.write(soa("big.test", serial))
        chunk = []
        for i in range(count):
            chunk.append("h%d A 10.%d.%d.%d\n" % (i, (i >> 16) & 255, (i >> 8) & 255, i & 255))
            if len(chunk) == 10000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))
        f.write(extra)


def gen_zones(work, big_count, notify_zones):
    z = os.path.join(work, "zones")
    os.makedirs(z, exist_ok=True)
    if big_count:
        write_big(os.path.join(z, "big.test.zone"), big_count, 1)
    with open(os.path.join(z, "small.test.zone"), "w") as f:
        f.write(soa("small.test", 1))
        for i in range(100):
            f.write("w%d A 192.0.2.%d\n" % (i, i % 250 + 1))
    nz = os.path.join(work, "nzones")
    os.makedirs(nz, exist_ok=True)
    for i in range(notify_zones):
        with open(os.path.join(nz, "n%d.test.zone" % i), "w") as f:
            f.write(soa("n%d.test" % i, 1))
    q = os.path.join(work, "queries")
    os.makedirs(q, exist_ok=True)
    with open(os.path.join(q, "small.txt"), "w") as f:
        for i in range(100):
            f.write("w%d.small.test A\n" % i)


# ------------------------------------------------------------------ wire
def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def xfr_query(zone, qtype, serial=None, qid=0x1234):
    """AXFR (252) or IXFR (251, with the client's SOA in authority)."""
    hdr = struct.pack(">HHHHHH", qid, 0, 1, 0, 1 if serial is not None else 0, 0)
    msg = hdr + wire_name(zone) + struct.pack(">HH", qtype, 1)
    if serial is not None:
        rdata = b"\0\0" + struct.pack(">IIIII", serial, 0, 0, 0, 0)
        msg += b"\xc0\x0c" + struct.pack(">HHIH", 6, 1, 0, len(rdata)) + rdata
    return struct.pack(">H", len(msg)) + msg


def read_stream(sock, want_records=None, one_message=False, buf_size=1 << 20):
    """Reads framed messages; stops after `want_records` answer records (sum
    of ANCOUNT) or after the first message.  Returns (messages, bytes,
    records, first message)."""
    buf = bytearray(buf_size)
    view = memoryview(buf)
    have = 0
    pos = 0
    msgs = nbytes = records = 0
    first = None
    while True:
        # complete frames in buf[pos:have]
        while have - pos >= 2:
            ln = (buf[pos] << 8) | buf[pos + 1]
            if have - pos < 2 + ln:
                break
            if ln >= 12:
                records += (buf[pos + 8] << 8) | buf[pos + 9]
                rcode = buf[pos + 5] & 15
                if rcode != 0:
                    raise RuntimeError("rcode %d in message %d" % (rcode, msgs + 1))
            if first is None:
                first = bytes(buf[pos + 2:pos + 2 + ln])
            msgs += 1
            nbytes += 2 + ln
            pos += 2 + ln
            if one_message or (want_records is not None and records >= want_records):
                return msgs, nbytes, records, first
        if pos:
            buf[0:have - pos] = buf[pos:have]
            have -= pos
            pos = 0
        n = sock.recv_into(view[have:])
        if n == 0:
            raise RuntimeError("connection closed after %d messages, %d records" % (msgs, records))
        have += n


def axfr_once(port, zone, records, timeout=120):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        t0 = time.perf_counter()
        s.sendall(xfr_query(zone, 252))
        msgs, nbytes, recs, _ = read_stream(s, want_records=records)
        return time.perf_counter() - t0, msgs, nbytes, recs
    finally:
        s.close()


def skip_name(m, p):
    while True:
        ln = m[p]
        if ln == 0:
            return p + 1
        if ln & 0xC0 == 0xC0:
            return p + 2
        p += 1 + ln


def rr_types(m, limit=3):
    """Types of the first answer records (for checking the IXFR shape only)."""
    p = skip_name(m, 12) + 4
    out = []
    for _ in range(min(limit, (m[6] << 8) | m[7])):
        p = skip_name(m, p)
        t, _, _, rdlen = struct.unpack(">HHIH", m[p:p + 10])
        out.append(t)
        p += 10 + rdlen
    return out


def ixfr_once(port, zone, serial, timeout=30):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        t0 = time.perf_counter()
        s.sendall(xfr_query(zone, 251, serial))
        msgs, nbytes, recs, first = read_stream(s, one_message=True)
        return time.perf_counter() - t0, recs, first
    finally:
        s.close()


def soa_serial(port, zone, timeout=1.0):
    q = struct.pack(">HHHHHH", 7, 0, 1, 0, 0, 0) + wire_name(zone) + struct.pack(">HH", 6, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, ("127.0.0.1", port))
        m, _ = s.recvfrom(65535)
    except OSError:
        return None
    finally:
        s.close()
    if len(m) < 12 or m[3] & 15 != 0 or not (m[2] & 4) or ((m[6] << 8) | m[7]) == 0:
        return None
    p = skip_name(m, 12) + 4
    p = skip_name(m, p)
    t, _, _, rdlen = struct.unpack(">HHIH", m[p:p + 10])
    if t != 6:
        return None
    p += 10
    p = skip_name(m, skip_name(m, p))
    return struct.unpack(">I", m[p:p + 4])[0]


# ---------------------------------------------------------------- servers
class Server:
    """One server under test, started and stopped by PID."""

    def __init__(self, name, work, port, pharos_bin, zones, notify=None, notify_rate=None):
        self.name, self.port, self.pharos = name, port, pharos_bin
        self.dir = os.path.join(work, name + ("-notify" if notify else ""))
        os.makedirs(self.dir, exist_ok=True)
        self.zones = zones  # [(name, file)]
        self.notify = notify or []
        self.notify_rate = notify_rate
        self.proc = None
        self.log = os.path.join(self.dir, "server.log")
        self.write_config()

    def write_config(self):
        d, p = self.dir, self.port
        if self.name == "pharos":
            c = ['[node]\nid = "bench"\ndata-dir = "%s/var"\n\n[dns]\nlisten = ["127.0.0.1:%d"]\n'
                 '# rate limiting off: dnsperf asks from one address\n[dns.rrl]\nresponses-per-second = 0\n' % (d, p)]
            if self.notify_rate:
                c.append("\n[transfer]\nnotify-rate = %d\nmax-out = 64\nmax-out-per-client = 32\n" % self.notify_rate)
            else:
                c.append("\n[transfer]\nmax-out = 64\nmax-out-per-client = 32\n")
            targets = ", ".join('"127.0.0.1:%d"' % t for t in self.notify)
            for z, f in self.zones:
                c.append('\n[[zone]]\nname = "%s"\nfile = "%s"\nallow-transfer = ["127.0.0.1/32"]\n' % (z, f))
                if self.notify:
                    c.append('notify = [%s]\nnotify-source = "127.0.0.1"\n' % targets)
            self.config = os.path.join(d, "pharos.toml")
        elif self.name == "knot":
            c = ["server:\n    rundir: %s/run\n    listen: 127.0.0.1@%d\n    tcp-max-clients: 200\n" % (d, p),
                 "database:\n    storage: %s/db\ncontrol:\n    listen: %s/run/knot.sock\n" % (d, d),
                 "log:\n  - target: %s/knot.log\n    any: info\n" % d]
            if self.notify:
                c.append("remote:\n")
                for i, t in enumerate(self.notify):
                    c.append("  - id: t%d\n    address: 127.0.0.1@%d\n" % (i, t))
            c.append("acl:\n  - id: xfr\n    address: 127.0.0.1\n    action: transfer\n"
                     "template:\n  - id: default\n    zonefile-sync: -1\n    zonefile-load: whole\n"
                     "    journal-content: changes\n    serial-policy: increment\n    semantic-checks: off\n"
                     "    acl: xfr\n")
            if self.notify:
                c.append("    notify: [%s]\n" % ", ".join("t%d" % i for i in range(len(self.notify))))
            c.append("zone:\n")
            for z, f in self.zones:
                c.append('  - domain: %s.\n    file: "%s"\n' % (z, f))
            for sub in ("run", "db"):
                os.makedirs(os.path.join(d, sub), exist_ok=True)
            self.config = os.path.join(d, "knot.conf")
        else:
            c = ['server:\n    ip-address: 127.0.0.1@%d\n    port: %d\n    do-ip6: no\n    server-count: 1\n'
                 '    username: ""\n    chroot: ""\n    database: ""\n    zonelistfile: "%s/zone.list"\n'
                 '    xfrdfile: "%s/xfrd.state"\n    xfrdir: "%s"\n    pidfile: "%s/nsd.pid"\n'
                 '    logfile: "%s/nsd.log"\n    verbosity: 1\n    rrl-ratelimit: 0\n'
                 '    tcp-count: 200\n    xfrd-reload-timeout: 0\n'
                 'remote-control:\n    control-enable: no\n' % (p, p, d, d, d, d, d)]
            for z, f in self.zones:
                c.append('zone:\n    name: "%s"\n    zonefile: "%s"\n    provide-xfr: 127.0.0.1 NOKEY\n'
                         '    store-ixfr: yes\n    create-ixfr: yes\n' % (z, f))
                for t in self.notify:
                    c.append("    notify: 127.0.0.1@%d NOKEY\n" % t)
            self.config = os.path.join(d, "nsd.conf")
        with open(self.config, "w") as f:
            f.write("".join(c))

    def start(self):
        if self.name == "pharos":
            cmd = [self.pharos, "serve", "--config", self.config]
        elif self.name == "knot":
            cmd = ["knotd", "-c", self.config]
        else:
            cmd = ["nsd", "-d", "-c", self.config]
        self.t0 = time.time()
        self.proc = subprocess.Popen(cmd, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)

    def wait(self, zone, timeout, serial=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited (status %s): %s" % (self.name, self.proc.returncode, self.log_tail()))
            s = soa_serial(self.port, zone, 0.3)
            if s is not None and (serial is None or s == serial):
                return time.time() - self.t0
            time.sleep(0.05)
        raise RuntimeError("%s did not serve %s%s within %d s" % (
            self.name, zone, "" if serial is None else " serial %d" % serial, timeout))

    def log_tail(self, n=3):
        try:
            with open(self.log, errors="replace") as f:
                lines = [l.strip() for l in f.read().splitlines() if l.strip()]
        except OSError:
            lines = []
        return "%s (last lines of %s)" % (" | ".join(lines[-n:]), self.log)

    def stop(self):
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def cpu(self):
        """CPU seconds of the server's process tree, to the nanosecond
        (the sum of /proc/PID/task/TID/schedstat; clock ticks are too coarse
        for one IXFR)."""
        total = 0
        for pid in benchlib.proc_tree(self.proc.pid):
            try:
                tasks = os.listdir("/proc/%d/task" % pid)
            except OSError:
                continue
            for tid in tasks:
                try:
                    with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                        total += int(f.read().split()[0])
                except (OSError, ValueError, IndexError):
                    continue
        return total / 1e9

    def rss_kib(self):
        return benchlib.tree_mem(self.proc.pid)[0]


# ------------------------------------------------------------------ parts
def part_axfr(srv, a, rows):
    want = a.big_count + 4  # SOA NS ns1-A + N, and the closing SOA
    for r in range(1, a.rounds + 1):
        c0 = srv.cpu()
        wall, msgs, nbytes, recs = axfr_once(srv.port, "big.test", want)
        time.sleep(0.2)  # let the server finish its accounting
        cpu = srv.cpu() - c0
        rows.append(dict(part="axfr", server=srv.name, run=r, wall_s=wall, cpu_s=cpu,
                         messages=msgs, bytes=nbytes, records=recs, status="ok"))
        print("  %-6s axfr round %d: %.3f s wall, %.3f s server CPU, %d messages, %.1f MB"
              % (srv.name, r, wall, cpu, msgs, nbytes / 1e6))


def make_change(srv, a, work):
    """One record added to big.test, serial 1 -> 2."""
    if srv.name == "knot":
        knotc = ["knotc", "-s", os.path.join(srv.dir, "run/knot.sock")]
        for args in (["zone-begin", "big.test."], ["zone-set", "big.test.", "added", "300", "A", "192.0.2.99"],
                     ["zone-commit", "big.test."]):
            subprocess.run(knotc + args, check=True, stdout=subprocess.DEVNULL)
    else:
        path = os.path.join(srv.dir, "big.test.zone")
        write_big(path, a.big_count, 2, "added A 192.0.2.99\n")
        st = os.stat(path)
        os.utime(path, (st.st_atime + 2, st.st_mtime + 2))
        srv.proc.send_signal(signal.SIGHUP)
    srv.wait("big.test", a.timeout, serial=2)
    # NSD reloads in a forked process: let it exit before CPU is read (the
    # CPU of a process that exits mid-measurement would be lost)
    n = len(benchlib.proc_tree(srv.proc.pid))
    for _ in range(100):
        time.sleep(0.2)
        m = len(benchlib.proc_tree(srv.proc.pid))
        if m == n:
            break
        n = m
    time.sleep(1)


def part_ixfr(srv, a, rows, work):
    make_change(srv, a, work)
    wall, recs, first = ixfr_once(srv.port, "big.test", 1)
    types = rr_types(first, 3)
    if recs > 50 or types[:2] != [6, 6]:
        raise RuntimeError("IXFR from serial 1 is not a difference: %d records, first types %s" % (recs, types))
    n = a.ixfr_requests
    c0 = srv.cpu()
    times = [ixfr_once(srv.port, "big.test", 1)[0] for _ in range(n)]
    cpu = (srv.cpu() - c0) / n
    rows.append(dict(part="ixfr-1", server=srv.name, run=1, wall_s=statistics.median(times),
                     p99_s=sorted(times)[int(0.99 * (n - 1))], cpu_s=cpu, requests=n, status="ok"))
    print("  %-6s ixfr, 1 client: median %.3f ms, server CPU %.3f ms per request (%d records)"
          % (srv.name, statistics.median(times) * 1e3, cpu * 1e3, recs))
    per = max(1, n // 10)
    res = []
    errors = []

    def client():
        try:
            for _ in range(per):
                res.append(ixfr_once(srv.port, "big.test", 1)[0])
        except Exception as e:  # counted below
            errors.append(str(e))
    c0 = srv.cpu()
    t0 = time.perf_counter()
    th = [threading.Thread(target=client) for _ in range(10)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall = time.perf_counter() - t0
    cpu = (srv.cpu() - c0) / max(1, len(res))
    status = "ok" if not errors else "fail:%d-errors(%s)" % (len(errors), errors[0][:60])
    rows.append(dict(part="ixfr-10", server=srv.name, run=1, wall_s=statistics.median(res) if res else None,
                     total_s=wall, cpu_s=cpu, requests=len(res), status=status))
    print("  %-6s ixfr, 10 clients: %d requests in %.3f s, median %.3f ms, server CPU %.3f ms per request%s"
          % (srv.name, len(res), wall, (statistics.median(res) if res else 0) * 1e3, cpu * 1e3,
             "" if not errors else ", %d errors" % len(errors)))


def dnsperf(srv, a, log):
    out = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(srv.port), "-d",
                          os.path.join(a.work, "queries/small.txt"), "-l", str(a.duration),
                          "-c", "4", "-q", "100"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text = out.stdout.decode(errors="replace")
    with open(log, "w") as f:
        f.write(text)
    return benchlib.parse_dnsperf(text)


def part_qps(srv, a, rows):
    time.sleep(0.5)
    rss_idle = srv.rss_kib()
    idle = dnsperf(srv, a, os.path.join(srv.dir, "dnsperf-idle.log"))
    stop = threading.Event()
    errors, peak = [], [rss_idle]
    # The 10 AXFR clients stand for secondaries on other machines: they run
    # in a child process at nice 19, so that on this 2-core box their own
    # CPU (reading 24 MB per transfer) does not stand in for the server's
    # and dnsperf's. The same for every server.
    mp = multiprocessing.get_context("fork")
    mp_stop, mp_done, mp_errors = mp.Event(), mp.Value("i", 0), mp.Value("i", 0)

    def clients():
        os.nice(19)

        def one():
            while not mp_stop.is_set():
                try:
                    axfr_once(srv.port, "big.test", a.big_count + 4)
                    with mp_done.get_lock():
                        mp_done.value += 1
                except Exception:
                    with mp_errors.get_lock():
                        mp_errors.value += 1
                    time.sleep(0.1)
        ts = [threading.Thread(target=one) for _ in range(10)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    child = mp.Process(target=clients)

    def sample():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], srv.rss_kib())
            except OSError:
                pass
            time.sleep(0.05)
    th = [threading.Thread(target=sample)]
    child.start()
    for t in th:
        t.start()
    time.sleep(0.5)
    during = dnsperf(srv, a, os.path.join(srv.dir, "dnsperf-during.log"))
    stop.set()
    mp_stop.set()
    child.join()
    for t in th:
        t.join()
    done = [mp_done.value]
    if mp_errors.value:
        errors.append("%d AXFRs failed" % mp_errors.value)
    ratio = during["qps"] / idle["qps"] if idle.get("qps") and during.get("qps") else None
    status = "ok" if not errors else "fail:%d-axfr-errors(%s)" % (len(errors), errors[0][:60])
    rows.append(dict(part="qps", server=srv.name, run=1, qps_idle=idle.get("qps"), qps_during=during.get("qps"),
                     ratio=ratio, axfrs_during=done[0], rss_idle_mib=rss_idle / 1024,
                     rss_peak_mib=peak[0] / 1024, rss_delta_mib=(peak[0] - rss_idle) / 1024, status=status))
    print("  %-6s qps idle %s, during 10 AXFRs %s (ratio %s, %d AXFRs done); RSS idle %.1f MiB, peak %.1f MiB (+%.1f)"
          % (srv.name, idle.get("qps"), during.get("qps"), "%.2f" % ratio if ratio else "-", done[0],
             rss_idle / 1024, peak[0] / 1024, (peak[0] - rss_idle) / 1024))


class Listener:
    """A NOTIFY target on one port: answers each NOTIFY, over UDP (pharos
    and NSD send them so) and over TCP (Knot 3.2 does), and records (time,
    zone, transport)."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", port))
        self.tcp.listen(256)
        self.tcp.settimeout(0.2)
        self.seen = []
        self.lock = threading.Lock()
        self.stop = False
        self.threads = [threading.Thread(target=self.run_udp), threading.Thread(target=self.run_tcp)]
        for t in self.threads:
            t.start()

    def handle(self, m, transport):
        """The reply to NOTIFY `m` (None if it is not one); records it."""
        if len(m) < 12 or (m[2] >> 3) & 15 != 4 or m[2] & 0x80:
            return None
        p = 12
        labels = []
        try:
            while m[p]:
                labels.append(m[p + 1:p + 1 + m[p]].decode(errors="replace").lower())
                p += 1 + m[p]
        except IndexError:
            return None
        with self.lock:
            self.seen.append((time.time(), ".".join(labels), transport))
        reply = bytearray(m[:p + 5])
        reply[2] |= 0x80 | 0x04
        reply[6:12] = b"\0\0\0\0\0\0"
        return bytes(reply)

    def run_udp(self):
        while not self.stop:
            try:
                m, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self.handle(m, "udp")
            if reply:
                try:
                    self.sock.sendto(reply, peer)
                except OSError:
                    pass

    def run_tcp(self):
        while not self.stop:
            try:
                c, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.serve_tcp, args=(c,), daemon=True).start()

    def serve_tcp(self, c):
        c.settimeout(5)
        buf = b""
        try:
            while not self.stop:
                data = c.recv(65535)
                if not data:
                    return
                buf += data
                while len(buf) >= 2 and len(buf) >= 2 + ((buf[0] << 8) | buf[1]):
                    ln = (buf[0] << 8) | buf[1]
                    reply = self.handle(buf[2:2 + ln], "tcp")
                    buf = buf[2 + ln:]
                    if reply:
                        c.sendall(struct.pack(">H", len(reply)) + reply)
        except OSError:
            return
        finally:
            c.close()

    def close(self):
        self.stop = True
        for t in self.threads:
            t.join()
        self.sock.close()
        self.tcp.close()


def part_notify(name, a, rows, listen_ports, port):
    zones = [("n%d.test" % i, os.path.join(a.work, "nzones/n%d.test.zone" % i)) for i in range(a.notify_zones)]
    listeners = [Listener(p) for p in listen_ports]
    srv = Server(name, a.work, port, a.pharos, zones, notify=listen_ports,
                 notify_rate=a.notify_rate if name == "pharos" else None)
    try:
        srv.start()
        expected = a.notify_zones / a.notify_rate if name == "pharos" else 0
        deadline = time.time() + a.timeout + expected * 1.5
        while time.time() < deadline:
            if srv.proc.poll() is not None:
                raise RuntimeError("%s exited: %s" % (name, srv.log_tail()))
            if all(len({z for _, z, _ in l.seen}) >= a.notify_zones for l in listeners):
                break
            time.sleep(0.2)
        time.sleep(1.0)  # late duplicates (retries) still counted
    finally:
        srv.stop()
        for l in listeners:
            l.close()
    every = sorted(t for l in listeners for t, _, _ in l.seen)
    if len(every) > 1 and every[-1] > every[0]:
        total = (len(every) - 1) / (every[-1] - every[0])
        rows.append(dict(part="notify-total", server=name, run=1, rate=total, notifies=len(every),
                         configured=a.notify_rate if name == "pharos" else None, status="ok"))
        print("  %-6s notify, all targets: %d NOTIFYs, %.0f/s%s" % (
            name, len(every), total, " (configured notify-rate %d/s)" % a.notify_rate if name == "pharos" else ""))
    for i, l in enumerate(listeners):
        zones_seen = {z for _, z, _ in l.seen}
        missing = a.notify_zones - len(zones_seen & {z for z, _ in zones})
        ts = sorted(t for t, _, _ in l.seen)
        tcp = sum(1 for _, _, tr in l.seen if tr == "tcp")
        span = ts[-1] - ts[0] if len(ts) > 1 else 0
        rate = (len(ts) - 1) / span if span > 0 else None
        peak = 0
        j = 0
        for k, t in enumerate(ts):
            while ts[j] < t - 0.1:
                j += 1
            peak = max(peak, k - j + 1)
        status = "ok" if missing == 0 else "fail:missing-%d" % missing
        rows.append(dict(part="notify", server=name, run=i + 1, notifies=len(ts), zones=len(zones_seen),
                         missing=missing, span_s=span, rate=rate, peak_rate=peak * 10,
                         configured=a.notify_rate if name == "pharos" else None, status=status))
        print("  %-6s notify target %d: %d NOTIFYs (%d over TCP) for %d zones over %.1f s (%s/s, busiest 100 ms %d/s), "
              "missing %d%s"
              % (name, i + 1, len(ts), tcp, len(zones_seen), span, "%.0f" % rate if rate else "-", peak * 10, missing,
                 " (configured notify-rate %d/s)" % a.notify_rate if name == "pharos" else ""))


# ----------------------------------------------------------------- report
def med(rows, part, server, key):
    xs = [r[key] for r in rows if r["part"] == part and r["server"] == server and r.get(key) is not None
          and r["status"] == "ok"]
    return statistics.median(xs) if xs else None


def report(rows, servers, a):
    def f(v, scale=1.0, fmt="%.3f"):
        return "-" if v is None else fmt % (v * scale)

    def ratio(x, y):
        return "-" if x is None or y is None or y == 0 else "%.2f" % (x / y)
    lines = ["", "%-34s %s" % ("", " ".join("%12s" % s for s in servers))]

    def line(label, part, key, scale=1.0, fmt="%.3f"):
        lines.append("%-34s %s" % (label, " ".join("%12s" % f(med(rows, part, s, key), scale, fmt) for s in servers)))
    line("axfr big.test: wall s (median)", "axfr", "wall_s")
    line("axfr big.test: server CPU s", "axfr", "cpu_s")
    line("axfr big.test: messages", "axfr", "messages", fmt="%.0f")
    line("ixfr 1 change, 1 client: ms", "ixfr-1", "wall_s", 1e3)
    line("ixfr: server CPU ms per request", "ixfr-1", "cpu_s", 1e3)
    line("ixfr, 10 clients: median ms", "ixfr-10", "wall_s", 1e3)
    line("ixfr, 10 clients: CPU ms/request", "ixfr-10", "cpu_s", 1e3)
    line("qps idle", "qps", "qps_idle", fmt="%.0f")
    line("qps during 10 AXFRs", "qps", "qps_during", fmt="%.0f")
    line("qps ratio during/idle", "qps", "ratio", fmt="%.2f")
    line("RSS idle MiB", "qps", "rss_idle_mib", fmt="%.1f")
    line("RSS peak during 10 AXFRs MiB", "qps", "rss_peak_mib", fmt="%.1f")
    line("RSS delta MiB", "qps", "rss_delta_mib", fmt="%.1f")
    line("notify: rate, all targets /s", "notify-total", "rate", fmt="%.0f")
    line("notify: rate per target /s", "notify", "rate", fmt="%.0f")
    line("notify: busiest 100 ms, /s", "notify", "peak_rate", fmt="%.0f")
    line("notify: zones missing", "notify", "missing", fmt="%.0f")
    if "pharos" in servers:
        lines.append("")
        for other in ("nsd", "knot"):
            if other in servers:
                lines.append("pharos/%s axfr wall %s, axfr CPU %s" % (
                    other, ratio(med(rows, "axfr", "pharos", "wall_s"), med(rows, "axfr", other, "wall_s")),
                    ratio(med(rows, "axfr", "pharos", "cpu_s"), med(rows, "axfr", other, "cpu_s"))))
        lines.append("targets: axfr no slower than NSD; ixfr < 1 ms; qps ratio >= 0.8; RSS delta <= 10 MiB; "
                     "notify at the configured rate (%d/s), none missing" % a.notify_rate)
    fails = [r for r in rows if r["status"] != "ok"]
    for r in fails:
        lines.append("FAILED: %s %s run %s: %s" % (r["server"], r["part"], r.get("run"), r["status"]))
    print("\n".join(lines))
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--servers", default="pharos,knot,nsd")
    ap.add_argument("--parts", default="axfr,ixfr,qps,notify")
    ap.add_argument("--pharos", default="")
    ap.add_argument("--big-count", type=int, default=1000000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ixfr-requests", type=int, default=200)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--notify-zones", type=int, default=10000)
    ap.add_argument("--notify-rate", type=int, default=1000)
    ap.add_argument("--port", type=int, default=24800)  # below the ephemeral range (32768-60999): a client port cannot take it
    ap.add_argument("--timeout", type=int, default=180)
    a = ap.parse_args()
    servers = [s for s in a.servers.split(",") if s]
    parts = [p for p in a.parts.split(",") if p]
    for s in servers:
        if s not in SERVERS:
            ap.error("unknown server %s" % s)
    ports, p = [], a.port
    while len(ports) < 10:
        if benchlib.cmd_port_free(argparse.Namespace(port=p)) == 0:
            ports.append(p)
        p += 1
    print("xfrout: generating zones in %s" % a.work)
    needs_big = any(p in parts for p in ("axfr", "ixfr", "qps"))
    gen_zones(a.work, a.big_count if needs_big else 0, a.notify_zones if "notify" in parts else 0)
    rows = []
    # each server its own ports: a port the previous server used can still
    # have connections in TIME_WAIT, which NSD cannot bind over
    for idx, name in enumerate(servers):
        if any(p in parts for p in ("axfr", "ixfr", "qps")):
            print("\n=== %s" % name)
            d = os.path.join(a.work, name)
            os.makedirs(d, exist_ok=True)
            # each server gets its own copy of big.test (the IXFR part edits it)
            big = os.path.join(d, "big.test.zone")
            subprocess.run(["cp", os.path.join(a.work, "zones/big.test.zone"), big], check=True)
            zones = [("big.test", big), ("small.test", os.path.join(a.work, "zones/small.test.zone"))]
            srv = Server(name, a.work, ports[idx], a.pharos, zones)
            try:
                srv.start()
                t = srv.wait("big.test", a.timeout)
                srv.wait("small.test", a.timeout)
                print("  %-6s serves big.test after %.1f s, RSS %.0f MiB" % (name, t, srv.rss_kib() / 1024))
                for part, fn in (("axfr", lambda: part_axfr(srv, a, rows)), ("qps", lambda: part_qps(srv, a, rows)),
                                 ("ixfr", lambda: part_ixfr(srv, a, rows, a.work))):
                    if part not in parts:
                        continue
                    try:
                        fn()
                    except Exception as e:  # the row says what failed
                        print("  %-6s %s FAILED: %s" % (name, part, e))
                        rows.append(dict(part=part if part != "ixfr" else "ixfr-1", server=name, run=1,
                                         status="fail:%s" % str(e)[:120]))
                        if srv.proc is None or srv.proc.poll() is not None:
                            raise RuntimeError("%s is not running any more" % name)
            except Exception as e:
                print("  %-6s FAILED: %s" % (name, e))
                rows.append(dict(part="start", server=name, run=1, status="fail:%s" % str(e)[:300]))
            finally:
                srv.stop()
        if "notify" in parts:
            print("\n=== %s: NOTIFY out at start-up, %d zones, 3 targets" % (name, a.notify_zones))
            try:
                part_notify(name, a, rows, ports[3:6], ports[6 + idx])
            except Exception as e:
                print("  %-6s notify FAILED: %s" % (name, e))
                rows.append(dict(part="notify", server=name, run=1, status="fail:%s" % str(e)[:300]))
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)
    return report(rows, servers, a)


if __name__ == "__main__":
    sys.exit(main())
