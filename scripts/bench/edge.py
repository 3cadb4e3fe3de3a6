#!/usr/bin/env python3
"""Helpers for scripts/bench-edge.sh: response rate limiting and overload
(standard library only; the /proc readers and dnsperf parser come from
benchlib.py). See scripts/bench/edge-README.md.

Subcommands:
  gen WORK
      Write WORK/zones/edge.test.zone (big TXT answers: the amplifier) and,
      from WORK/queries/small.txt (benchlib.py gen-zones), the query files:
      flood.bin (the reflection mix) and legit.bin (the realistic mix), as
      2-octet length + message (edgeflood's input).
  config SERVER VARIANT DIR PORT WORK --rrl-rate N --slip N
      Print the config of SERVER (pharos, knot, nsd) with rate limiting
      VARIANT: limit (--rrl-rate), high (1,000,000/s, Knot 8191/s: the
      code runs, nothing is limited), exempt (high, and the flood netblock
      127.0.3.0/24 exempt where the server can: pharos, Knot) or off; DNS
      cookies on in all three.
  capacity / reflection / cost / overload --out JSONL --server NAME ...
      Run one measure against a running server (see --help of each); append
      a JSON record to JSONL.
  fail --out JSONL --measure M --server NAME --status X
      Record a failure.
Reports: edgereport.py.
"""
import argparse
import ctypes
import json
import os
import random
import socket
import string
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

COOKIE_SECRET = "5ec7e7c0ffee0123456789abcdef0042"  # the same for all three
CLIENT_COOKIE = "0102030405060708"
HIGH = 1000000   # rate limit that runs the code but never limits one source
# Knot 3.2's mod-rrl limits now and then far below a rate-limit of 16383
# or more (a bucket holds 4 seconds of tokens, in a 16-bit counter), so its
# "high" is 8191 (4 x 8191 fits a signed 16-bit counter): measure 2 spreads
# its load over 8 netblocks to stay under it
KNOT_HIGH = 8191
FLOOD_NET = "127.0.3.0/24"   # the flooder's sources (edgeflood -a 127.0.3)
UNTHROTTLED = 50000000  # flooder rate for "as fast as it can"
QTYPE = {"A": 1, "NS": 2, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28,
         "ANY": 255}


def append(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")


# ------------------------------------------------------------------ gen
def wire_query(name, qtype, qid=0, edns=None, cookie=None):
    q = benchlib.make_query(name, qtype, qid)
    if edns is None:
        return q
    opt = b""
    if cookie:
        c = bytes.fromhex(cookie)
        opt = struct.pack("!HH", 10, len(c)) + c
    q = q[:10] + struct.pack("!H", 1) + q[12:]          # ARCOUNT = 1
    return q + b"\0" + struct.pack("!HHIH", 41, edns, 0, len(opt)) + opt


def write_bin(path, msgs):
    with open(path, "wb") as f:
        for m in msgs:
            f.write(struct.pack("!H", len(m)) + m)


def cmd_gen(a):
    rng = random.Random(7)
    zdir = os.path.join(a.work, "zones")
    qdir = os.path.join(a.work, "queries")
    o = "edge.test."
    alnum = string.ascii_letters + string.digits + "+/"
    with open(os.path.join(zdir, "edge.test.zone"), "w") as f:
        f.write("; edge.test: big answers for scripts/bench-edge.sh\n")
        for line in (
                "@ SOA ns1 hostmaster 2024010101 7200 3600 1209600 300",
                "@ NS ns1", "@ NS ns2", "@ A 192.0.2.1", "@ AAAA 2001:db8::1",
                "@ MX 10 mail", '@ TXT "v=spf1 -all"', "ns1 A 192.0.2.2",
                "ns2 A 198.51.100.2", "mail A 192.0.2.25"):
            owner, rest = line.split(" ", 1)
            f.write("%s 3600 IN %s\n" % (o if owner == "@" else owner + "." + o,
                                         _fq(rest, o)))
        # four names, each one TXT RRset of 4 x 250 octets: an answer of
        # about 1,060 octets to a query of about 45 (DNSKEY-sized)
        for i in range(1, 5):
            strs = " ".join('"%s"' % "".join(rng.choice(alnum) for _ in range(250))
                            for _ in range(4))
            f.write("big%d.%s 3600 IN TXT %s\n" % (i, o, strs))
    # reflection mix: 70% big TXT, 10% ANY at the apex, 20% NXDOMAIN
    letters = string.ascii_lowercase + string.digits
    flood = []
    for _ in range(20000):
        r = rng.random()
        if r < 0.70:
            flood.append(("big%d.edge.test" % rng.randint(1, 4), "TXT"))
        elif r < 0.80:
            flood.append(("edge.test", "ANY"))
        else:
            flood.append(("".join(rng.choice(letters) for _ in range(10))
                          + ".edge.test", "A"))
    write_bin(os.path.join(qdir, "flood.bin"),
              [wire_query(n, QTYPE[t], 0, edns=4096) for n, t in flood])
    legit = []
    with open(os.path.join(qdir, "small.txt")) as f:
        for line in f:
            n, t = line.split()
            legit.append(wire_query(n, QTYPE[t], 0, edns=1232))
    write_bin(os.path.join(qdir, "legit.bin"), legit)
    print("  edge.test zone, %d reflection queries (flood.bin), "
          "%d realistic queries (legit.bin)" % (len(flood), len(legit)))


def _fq(rest, origin):
    """Makes the relative names in a record's data absolute."""
    out = []
    for w in rest.split(" "):
        out.append(w + "." + origin if w in ("ns1", "ns2", "hostmaster", "mail")
                   else w)
    return " ".join(out)


# --------------------------------------------------------------- configs
def cmd_config(a):
    d, port, zdir = a.dir, a.port, os.path.join(a.work, "zones")
    zones = ["bench.test", "edge.test"]
    high = KNOT_HIGH if a.server == "knot" else HIGH
    rate = {"limit": a.rrl_rate, "high": high, "exempt": high,
            "off": 0}[a.variant]
    exempt = a.variant == "exempt"
    # bench-edge.sh --affinity: CPU-local UDP steering in all three
    affinity = os.environ.get("BENCH_SOCKET_AFFINITY") == "1"
    out = []
    if a.server == "pharos":
        out += ["# pharos, rate limiting %s (scripts/bench-edge.sh)" % a.variant,
                "[node]", 'id = "bench"', 'data-dir = "%s/pharos-var"' % d, "",
                "[dns]", 'listen = ["127.0.0.1:%d"]' % port,
                'cookie-secret = "%s"' % COOKIE_SECRET,
                "socket-affinity = %s" % ("true" if affinity else "false"), "",
                "[dns.rrl]", "responses-per-second = %d" % rate,
                "slip = %d" % a.slip, "ipv4-prefix = 24", "ipv6-prefix = 56",
                "exempt = [%s]" % ('"%s"' % FLOOD_NET if exempt else "")]
        for z in zones:
            out += ["", "[[zone]]", 'name = "%s"' % z,
                    'file = "%s/%s.zone"' % (zdir, z)]
    elif a.server == "knot":
        mods = "mod-cookies/bench" + (", mod-rrl/bench" if rate else "")
        out += ["# Knot DNS, rate limiting %s (scripts/bench-edge.sh)" % a.variant,
                "server:", "    identity: bench", "    rundir: %s/run" % d,
                "    pidfile: %s/run/knot.pid" % d,
                "    listen: 127.0.0.1@%d" % port,
                "    socket-affinity: %s" % ("on" if affinity else "off"),
                "database:", "    storage: %s/db" % d,
                "control:", "    listen: %s/run/knot.sock" % d,
                "log:", "  - target: %s/knot.log" % d, "    any: info",
                "mod-cookies:", "  - id: bench", "    secret: 0x%s" % COOKIE_SECRET,
                "mod-rrl:", "  - id: bench", "    rate-limit: %d" % max(rate, 1),
                "    slip: %d" % a.slip]
        if exempt:
            out += ["    whitelist: %s" % FLOOD_NET]
        out += ["template:", "  - id: default",
                "    global-module: [%s]" % mods,
                "    storage: %s" % zdir, '    file: "%s.zone"',
                "    zonefile-sync: -1", "    zonefile-load: whole",
                "    journal-content: none", "    semantic-checks: off",
                "zone:"]
        out += ["  - domain: %s" % z for z in zones]
    else:
        out += ["# NSD, rate limiting %s (scripts/bench-edge.sh)" % a.variant,
                "server:", "    ip-address: 127.0.0.1@%d" % port,
                "    port: %d" % port, "    do-ip6: no",
                "    server-count: %d" % os.cpu_count(),
                "    reuseport: %s" % ("yes" if affinity else "no"),
                '    username: ""', '    chroot: ""',
                '    zonesdir: "%s"' % zdir, '    database: ""',
                '    zonelistfile: "%s/zone.list"' % d,
                '    xfrdfile: "%s/xfrd.state"' % d, '    xfrdir: "%s/xfr"' % d,
                '    pidfile: "%s/nsd.pid"' % d, '    logfile: "%s/nsd.log"' % d,
                '    identity: "bench"', "    verbosity: 1",
                "    answer-cookie: yes",
                '    cookie-secret: "%s"' % COOKIE_SECRET,
                # no exemption by address in NSD: "exempt" is the high rate
                "    rrl-ratelimit: %d" % rate,
                "    rrl-whitelist-ratelimit: %d" % rate,
                "    rrl-slip: %d" % a.slip,
                "    rrl-ipv4-prefix-length: 24", "    rrl-ipv6-prefix-length: 56",
                "remote-control:", "    control-enable: no"]
        for z in zones:
            out += ["zone:", '    name: "%s"' % z, '    zonefile: "%s.zone"' % z]
    print("\n".join(out))


# -------------------------------------------------------------- sampling
def pdeathsig():
    """preexec_fn: the child gets SIGTERM when this helper dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, 15)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Sampler(threading.Thread):
    """Samples the server tree's RSS (summed VmRSS) and VmHWM every second."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            rss, _, hwm, n = benchlib.tree_mem(self.pid)
            if n:
                self.samples.append((time.time(), rss, hwm))
            self.stop.wait(1.0)

    def hwm(self):
        """Peak resident memory (VmHWM summed over the tree) seen."""
        now = benchlib.tree_mem(self.pid)[2]
        return max([now] + [s[2] for s in self.samples])


class Prober:
    """A client at SRC sending RATE queries a second (names from NAMES,
    in turn) and recording, per query, its send time and whether a full
    answer (not truncated, NOERROR/NXDOMAIN) came back within TIMEOUT."""

    def __init__(self, server, port, src, names, rate, timeout=2.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((src, 0))
        self.sock.connect((server, port))
        self.sock.settimeout(0.2)
        self.names, self.rate, self.timeout = names, rate, timeout
        self.sent = []          # [send time, answer time or None, size]
        self.ids = {}
        self.out_bytes = self.in_bytes = self.tc = 0
        self.stopping = threading.Event()
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.tx = threading.Thread(target=self._send, daemon=True)
        self.rx = threading.Thread(target=self._recv, daemon=True)

    def start(self):
        self.t0 = time.time()
        self.rx.start()
        self.tx.start()

    def _send(self):
        i = 0
        while not self.stopping.is_set():
            due = self.t0 + i / self.rate
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            name, qtype = self.names[i % len(self.names)]
            qid = i & 0xFFFF
            msg = wire_query(name, qtype, qid)
            with self.lock:
                self.ids[qid] = len(self.sent)
                self.sent.append([time.time(), None, len(msg)])
            try:
                self.sock.send(msg)
                self.out_bytes += len(msg)
            except OSError:
                pass
            i += 1

    def _recv(self):
        while not self.done.is_set():
            try:
                data = self.sock.recv(4096)
            except (socket.timeout, OSError):
                continue
            if len(data) < 12:
                continue
            now = time.time()
            qid, flags = struct.unpack("!HH", data[:4])
            self.in_bytes += len(data)
            if flags & 0x0200:
                self.tc += 1
                continue
            with self.lock:
                k = self.ids.get(qid)
                if k is None:
                    continue
                rec = self.sent[k]
                if rec[1] is None and now - rec[0] <= self.timeout \
                        and (flags & 0xF) in (0, 3):
                    rec[1] = now

    def stop(self):
        self.stopping.set()
        self.tx.join()
        time.sleep(self.timeout)
        self.done.set()
        self.rx.join()
        self.sock.close()

    def answered(self, t_from=0.0, t_to=1e18):
        recs = [r for r in self.sent if t_from <= r[0] < t_to]
        return len(recs), sum(1 for r in recs if r[1] is not None)


def legit_names(work):
    out = []
    with open(os.path.join(work, "queries", "small.txt")) as f:
        for line in f:
            n, t = line.split()
            out.append((n, QTYPE[t]))
            if len(out) >= 5000:
                break
    random.Random(3).shuffle(out)
    return out


def pct(n, d):
    return round(100.0 * n / d, 2) if d else None


def run_flooder(a, packets, rate, duration):
    cmd = [a.flooder, "-s", "127.0.0.1", "-p", str(a.port), "-a", "127.0.3",
           "-f", "1", "-n", "254", "-P", packets, "-r", "%d" % rate,
           "-d", "%g" % duration]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, preexec_fn=pdeathsig)
    with open(a.log, "a") as f:
        f.write("$ %s\n%s%s\n" % (" ".join(cmd), p.stdout, p.stderr))
    if p.returncode != 0:
        raise RuntimeError("edgeflood exited %d: %s" % (p.returncode,
                                                       p.stderr.strip()))
    res, secs = {}, []
    for line in p.stdout.splitlines():
        if line.startswith("sec="):
            secs.append({k: float(v) for k, v in
                         (kv.split("=") for kv in line.split())})
        elif "=" in line:
            k, v = line.split("=", 1)
            res[k] = float(v)
    res["timeline"] = secs
    return res


def udp_drops(port):
    """Datagrams the kernel dropped at the server's UDP sockets on
    127.0.0.1:PORT (receive buffer full), summed over its sockets."""
    want = "0100007F:%04X" % port
    total = 0
    try:
        with open("/proc/net/udp") as f:
            next(f)
            for line in f:
                t = line.split()
                if len(t) >= 13 and t[1] == want:
                    total += int(t[12])
    except (OSError, ValueError):
        return None
    return total


LIMIT_LOG = ("enters limiting",          # Knot mod-rrl
             "ratelimit block",          # NSD
             "rate-limited")             # pharos


def limit_log_lines(logdir):
    """Lines in the server's logs saying it started limiting someone."""
    n = 0
    for name in ("knot.log", "nsd.log", "stdout.log"):
        try:
            with open(os.path.join(logdir, name), errors="replace") as f:
                n += sum(1 for line in f if any(k in line for k in LIMIT_LOG))
        except OSError:
            pass
    return n


def alive(pid):
    return os.path.exists("/proc/%d" % pid)


def base(a, measure):
    return {"measure": measure, "server": a.server, "status": "ok"}


def record(a, rec):
    """Appends REC, with the count of "now limiting" lines in the logs."""
    rec["limit_log_lines"] = limit_log_lines(os.path.dirname(a.log))
    append(a.out, rec)


# --------------------------------------------------------------- measures
def cmd_capacity(a):
    """The flooder as fast as it can go (open loop, from the 254 sources,
    rate limit high): the replies a second the server keeps up."""
    rec = base(a, "capacity-" + a.mix)
    cpu0, w0 = benchlib.tree_cpu_ticks(a.pid), time.time()
    try:
        fl = run_flooder(a, os.path.join(a.work, "queries", a.mix + ".bin"),
                         UNTHROTTLED, a.duration)
    except RuntimeError as e:
        print("  %s" % e, file=sys.stderr)
        fl = None
        rec["status"] = "fail:flooder"
    if fl:
        cpu = (benchlib.tree_cpu_ticks(a.pid) - cpu0) / benchlib.CLK_TCK
        wall = time.time() - w0
        # the replies of the seconds the flooder was sending at full speed
        secs = [x for x in fl["timeline"] if x["sec"] < int(fl["send_s"])]
        qps = sum(x["recv"] for x in secs) / len(secs) if secs else 0
        rec.update(qps=round(qps), sent_qps=round(fl["sent"] / fl["send_s"]),
                   srv_cores=round(cpu / wall, 2),
                   # octets out per octet in, per answered query: the
                   # amplification a reflector gives when nothing limits it
                   amplification=round(fl["recv_bytes"] / fl["recv"] * fl["sent"]
                                       / fl["sent_bytes"], 2)
                   if fl["recv"] and fl["sent_bytes"] else None)
        if not qps:
            rec["status"] = "fail:no-answers"
    if not alive(a.pid):
        rec["status"] = "fail:server-died"
    record(a, rec)
    print("  %-7s capacity (%s mix): %s replies/s to %s queries/s, server %s "
          "cores  %s" % (a.server, a.mix, rec.get("qps", "-"),
                         rec.get("sent_qps", "-"), rec.get("srv_cores", "-"),
                         rec["status"]))
    if rec["status"] == "ok" and a.qps_file:
        with open(a.qps_file, "w") as f:
            f.write("%d\n" % rec["qps"])
    return 0 if rec["status"] == "ok" else 1


def flood_or_record(a, rec, queries, client, sampler):
    """Runs the flooder with WORK/queries/QUERIES at a.rate for a.duration;
    if it fails, stops CLIENT and SAMPLER, records the failure and returns
    None."""
    try:
        return run_flooder(a, os.path.join(a.work, "queries", queries),
                           a.rate, a.duration)
    except RuntimeError as e:
        print("  %s" % e, file=sys.stderr)
        client.stop()
        sampler.stop.set()
        rec["status"] = "fail:flooder"
        append(a.out, rec)
        return None


def cmd_reflection(a):
    rec = base(a, "reflection")
    rec.update(capacity=a.capacity or None, target_rate=a.rate,
               duration=a.duration)
    sampler = Sampler(a.pid)
    sampler.start()
    legit = Prober("127.0.0.1", a.port, "127.0.4.1", legit_names(a.work),
                   a.legit_rate)
    legit.start()
    time.sleep(0.5)
    cpu0, w0 = benchlib.tree_cpu_ticks(a.pid), time.time()
    drops0 = udp_drops(a.port)
    fl = flood_or_record(a, rec, "flood.bin", legit, sampler)
    if fl is None:
        return 1
    cpu = (benchlib.tree_cpu_ticks(a.pid) - cpu0) / benchlib.CLK_TCK
    wall = time.time() - w0
    drops1 = udp_drops(a.port)
    sampler.stop.set()
    legit.stop()
    ls, la = legit.answered(fl["t_start"], fl["t_end"])
    sent = fl["sent"] + legit.answered()[0]
    bytes_in = fl["sent_bytes"] + legit.out_bytes
    bytes_out = fl["recv_bytes"] + legit.in_bytes
    full = fl["recv"] - fl["recv_tc"]
    steady = [s for s in fl["timeline"] if 1 <= s["sec"] < fl["send_s"] - 1]
    rec.update(
        sent=int(fl["sent"]), sent_qps=round(fl["sent"] / fl["send_s"]),
        send_errors=int(fl["send_errors"]),
        bytes_in=int(bytes_in), bytes_out=int(bytes_out),
        out_in=round(bytes_out / bytes_in, 3) if bytes_in else None,
        victim_bytes=int(fl["recv_bytes"]), victim_replies=int(fl["recv"]),
        victim_full=int(full), victim_tc=int(fl["recv_tc"]),
        victim_drops=int(fl["rcv_drops"]),
        full_per_s=round(full / fl["send_s"], 1),
        full_per_s_steady=round(sum(s["recv"] - s["tc"] for s in steady)
                                / len(steady), 1) if steady else None,
        cpu_s=round(cpu, 2), cpu_cores=round(cpu / wall, 2),
        cpu_us_per_q=round(cpu * 1e6 / sent, 3) if sent else None,
        hwm_kib=sampler.hwm(),
        legit_sent=ls, legit_answered=la, legit_pct=pct(la, ls),
        legit_tc=legit.tc,
        server_drops=drops1 - drops0 if drops0 is not None
        and drops1 is not None else None)
    if not fl["recv"] and not la:
        rec["status"] = "fail:no-answers"
    if not alive(a.pid):
        rec["status"] = "fail:server-died"
    record(a, rec)
    print("  %-7s reflection: %d q/s (target %d) for %.1f s; out/in %.3f; "
          "victim got %.1f MB (%d full answers, %d truncated, %.0f full/s "
          "steady); server %.2f cores, %.2f us/q, peak %.1f MiB; "
          "legit %s%% answered  %s"
          % (a.server, rec["sent_qps"], a.rate, fl["send_s"],
             rec["out_in"] or 0, rec["victim_bytes"] / 1e6, full,
             fl["recv_tc"], rec["full_per_s_steady"] or 0, rec["cpu_cores"],
             rec["cpu_us_per_q"] or 0, rec["hwm_kib"] / 1024,
             rec["legit_pct"], rec["status"]))
    return 0 if rec["status"] == "ok" else 1


def fetch_cookie(port, src):
    """A valid client+server cookie for SRC (hex), or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(1.0)
    for attempt in range(5):
        s.sendto(wire_query("bench.test", 6, 77 + attempt, edns=1232,
                            cookie=CLIENT_COOKIE), ("127.0.0.1", port))
        try:
            data = s.recv(4096)
        except OSError:
            continue
        i = data.find(b"\x00\x0a", 12)
        while i >= 0:
            ln = struct.unpack("!H", data[i + 2:i + 4])[0]
            v = data[i + 4:i + 4 + ln]
            if 16 <= ln <= 40 and v[:8].hex() == CLIENT_COOKIE:
                return v.hex()
            i = data.find(b"\x00\x0a", i + 1)
    return None


# measure 2's clients: one dnsperf per /24, so that no netblock's bucket
# nears Knot's highest rate-limit (KNOT_HIGH): at 300,000 q/s in all, the
# NXDOMAIN bucket of each (20% of the mix) fills at 7,500/s
COST_SOURCES = ["127.0.%d.1" % n for n in range(10, 18)]


def cmd_cost(a):
    rec = base(a, "cost")
    rec["variant"] = a.variant
    cmds = []
    # The same offered load for every server (-Q per client): CPU per query
    # depends on the rate (at low rates every query pays a wake-up), so
    # servers are compared at one rate, not at whatever rate each reached.
    per_client = ["-Q", str(max(1, int(a.rate / len(COST_SOURCES))))] if a.rate else []
    for src in COST_SOURCES:
        cmd = [a.dnsperf, "-s", "127.0.0.1", "-a", src, "-p", str(a.port),
               "-d", a.queries, "-l", str(a.duration), "-c", "1", "-q", "64",
               "-t", "2"] + per_client
        if a.variant == "valid-cookie":
            cookie = fetch_cookie(a.port, src)
            if not cookie:
                rec["status"] = "fail:no-server-cookie"
                append(a.out, rec)
                print("  %-7s cost %s: no server cookie in the reply to %s"
                      % (a.server, a.variant, src))
                return 1
            cmd += ["-E", "10:" + cookie]
        else:
            cmd += ["-e"]
        cmds.append(cmd)
    # Warm-up, not counted: the first seconds after a start (or after the
    # previous measure's flood) cost more on every server.
    subprocess.run([x if x != str(a.duration) else "2" for x in cmds[0]],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   preexec_fn=pdeathsig)
    cpu0, t0 = benchlib.tree_cpu_ticks(a.pid), time.time()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, preexec_fn=pdeathsig) for c in cmds]
    outs = [p.communicate()[0] for p in procs]
    wall = time.time() - t0
    cpu = (benchlib.tree_cpu_ticks(a.pid) - cpu0) / benchlib.CLK_TCK
    with open(a.log, "a") as f:
        for c, o in zip(cmds, outs):
            f.write("$ %s\n%s\n" % (" ".join(c), o))
    res = [benchlib.parse_dnsperf(o) for o in outs]
    if any(p.returncode != 0 or not r.get("answered") or r.get("qps") is None
           for p, r in zip(procs, res)):
        rec["status"] = "fail:dnsperf"
    else:
        answered = sum(r["answered"] for r in res)
        good = sum(r["answered"] * sum(
            float(x.split("=")[1].rstrip("%"))
            for x in r["rcodes"].split(",")
            if x.startswith(("NOERROR=", "NXDOMAIN="))) for r in res) / answered
        rec.update(qps=round(sum(r["qps"] for r in res)), answered=answered,
                   lost=sum(r["lost"] for r in res), rcodes=res[0]["rcodes"],
                   cpu_s=round(cpu, 2), srv_cores=round(cpu / wall, 2),
                   cpu_us_per_q=round(cpu * 1e6 / answered, 3))
        if good < 99.0:
            # e.g. BADCOOKIE to every query: the figure would mean nothing
            rec["status"] = "fail:wrong-rcodes"
    if not alive(a.pid):
        rec["status"] = "fail:server-died"
    record(a, rec)
    print("  %-7s cost %-12s %s qps, %s us/q, lost %s, server %s cores  %s  %s"
          % (a.server, a.variant, rec.get("qps", "-"),
             rec.get("cpu_us_per_q", "-"), rec.get("lost", "-"),
             rec.get("srv_cores", "-"), rec.get("rcodes", ""), rec["status"]))
    return 0 if rec["status"] == "ok" else 1


def recovery(probe, t_end, horizon, step=0.1, window=1.0, need=99.0):
    """Seconds from t_end until the first WINDOW-long stretch of probe
    queries (sliding by STEP) with at least NEED % answered; None if none
    starts within HORIZON."""
    k = 0
    while k * step + window <= horizon + 1e-9:
        t = t_end + k * step
        n, ok = probe.answered(t, t + window)
        if n and 100.0 * ok / n >= need:
            return round(k * step, 2)
        k += 1
    return None


def cmd_overload(a):
    rec = base(a, "overload")
    rec.update(capacity=a.capacity or None, target_rate=a.rate,
               duration=a.duration)
    probe = Prober("127.0.0.1", a.port, "127.0.4.2", legit_names(a.work),
                   a.probe_rate)
    probe.start()
    time.sleep(a.before)
    sampler = Sampler(a.pid)
    sampler.start()
    drops0 = udp_drops(a.port)
    fl = flood_or_record(a, rec, "legit.bin", probe, sampler)
    if fl is None:
        return 1
    sampler.stop.set()
    drops1 = udp_drops(a.port)
    rest = fl["t_end"] + a.after - time.time()
    if rest > 0:
        time.sleep(rest)
    probe.stop()
    t0, t1 = fl["t_start"], fl["t_end"]
    early = [s[1] for s in sampler.samples if s[0] - t0 <= 5.0]
    late = [s[1] for s in sampler.samples if s[0] - t0 > 5.0]
    nb, ob = probe.answered(probe.t0, t0)
    nd, od = probe.answered(t0, t1)
    na, oa = probe.answered(t1, t1 + a.after)
    is_alive = alive(a.pid)
    rec.update(
        sent=int(fl["sent"]), sent_qps=round(fl["sent"] / fl["send_s"]),
        answered_qps=round((fl["recv"] - fl["recv_tc"]) / fl["send_s"]),
        answered_pct=pct(fl["recv"] - fl["recv_tc"], fl["sent"]),
        alive=is_alive,
        rss_first5_kib=max(early) if early else None,
        rss_later_kib=max(late) if late else None,
        rss_samples=[s[1] for s in sampler.samples],
        probe_before_pct=pct(ob, nb), probe_during_pct=pct(od, nd),
        probe_after_pct=pct(oa, na),
        recovery_s=recovery(probe, t1, a.after),
        server_drops=drops1 - drops0 if drops0 is not None
        and drops1 is not None else None)
    if early and late:
        rec["rss_growth_kib"] = max(late) - max(early)
    if not fl["recv"]:
        rec["status"] = "fail:no-answers"
    if not is_alive:
        rec["status"] = "fail:server-died"
    record(a, rec)
    print("  %-7s overload: %d q/s (target %d) for %.1f s, %s q/s answered; "
          "alive %s; RSS first 5 s %.1f MiB, later %.1f MiB; probe %s%% "
          "before, %s%% during, %s%% after; back to 99%% in %s s  %s"
          % (a.server, rec["sent_qps"], a.rate, fl["send_s"],
             rec["answered_qps"], is_alive,
             (rec["rss_first5_kib"] or 0) / 1024,
             (rec["rss_later_kib"] or 0) / 1024, rec["probe_before_pct"],
             rec["probe_during_pct"], rec["probe_after_pct"],
             rec["recovery_s"], rec["status"]))
    return 0 if rec["status"] == "ok" else 1


def cmd_fail(a):
    rec = {"measure": a.measure, "server": a.server, "status": a.status}
    if a.variant:
        rec["variant"] = a.variant
    append(a.out, rec)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("gen")
    p.add_argument("work")
    p.set_defaults(fn=cmd_gen)
    p = sub.add_parser("config")
    p.add_argument("server", choices=["pharos", "knot", "nsd"])
    p.add_argument("variant", choices=["limit", "high", "exempt", "off"])
    p.add_argument("dir")
    p.add_argument("port", type=int)
    p.add_argument("work")
    p.add_argument("--rrl-rate", type=int, default=200)
    p.add_argument("--slip", type=int, default=2)
    p.set_defaults(fn=cmd_config)

    def common(p):
        p.add_argument("--out", required=True)
        p.add_argument("--server", required=True)
        p.add_argument("--pid", type=int, required=True)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--work", required=True)
        p.add_argument("--log", required=True)
        p.add_argument("--duration", type=float, required=True)

    p = sub.add_parser("capacity")
    common(p)
    p.add_argument("--flooder", required=True)
    p.add_argument("--mix", choices=["flood", "legit"], required=True)
    p.add_argument("--qps-file", default="")
    p.set_defaults(fn=cmd_capacity)
    for name, fn in (("reflection", cmd_reflection), ("overload", cmd_overload)):
        p = sub.add_parser(name)
        common(p)
        p.add_argument("--flooder", required=True)
        p.add_argument("--rate", type=int, required=True)
        p.add_argument("--capacity", type=int, default=0)
        p.add_argument("--legit-rate", type=float, default=50)
        p.add_argument("--probe-rate", type=float, default=100)
        p.add_argument("--before", type=float, default=3)
        p.add_argument("--after", type=float, default=5)
        p.set_defaults(fn=fn)
    p = sub.add_parser("cost")
    common(p)
    p.add_argument("--dnsperf", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--variant", required=True,
                   choices=["rrl-on", "rrl-off", "valid-cookie"])
    p.add_argument("--rate", type=float, default=0,
                   help="offered q/s, all clients together (0: as fast as they go)")
    p.set_defaults(fn=cmd_cost)
    p = sub.add_parser("fail")
    p.add_argument("--out", required=True)
    p.add_argument("--measure", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--status", required=True)
    p.add_argument("--variant", default="")
    p.set_defaults(fn=cmd_fail)
    a = ap.parse_args()
    return a.fn(a) or 0


if __name__ == "__main__":
    sys.exit(main())
