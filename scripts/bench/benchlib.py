#!/usr/bin/env python3
"""Helpers for scripts/bench-dns.sh (standard library only).

Subcommands:
  gen-zones OUTDIR [--big-count N] [--small-queries N] [--big-queries N]
            [--seed S] [--skip-big]
      Write OUTDIR/zones/bench.test.zone, OUTDIR/zones/big.test.zone and
      OUTDIR/queries/{small,big}.txt (dnsperf format: "NAME TYPE").
  probe HOST PORT [--skip-big]
      Send a few queries (answer, CNAME, NXDOMAIN, NODATA, wildcard,
      referral, out-of-zone) and print what looks wrong; exit 1 if any.
  busy SECONDS
      Print how many CPUs the whole machine kept busy over SECONDS.
  port-free PORT
      Exit 0 if 127.0.0.1:PORT is free for both UDP and TCP, else 1.
  wait-auth HOST PORT ZONES T0 TIMEOUT PID [--also NAMES]
      Poll every 20 ms with an SOA query (UDP, RD=0) for each zone in the
      comma-separated ZONES (and an A query for each of NAMES) until every
      one gets NOERROR + AA + an answer.
      Print the seconds elapsed since T0 (a Unix time as a float, taken just
      before the server was started).  Exit 1 on timeout, 3 if PID died.
  mem PID
      Print "RSS_KIB PSS_KIB HWM_KIB NPROCS", summed over PID and all its
      descendants (VmRSS, VmHWM from status; Pss from smaps_rollup).
  cpu PID
      Print the CPU ticks (utime+stime+cutime+cstime) of PID's process tree.
  perf --out TSV --scenario S --server NAME --pid PID --log FILE [--run N]
       -- DNSPERF...
      Run dnsperf, read the server's CPU ticks before and after, the client's
      own CPU use (rusage) and the whole machine's (/proc/stat; what neither
      used is "other"), parse dnsperf's statistics and append a row to TSV.
  load-row --out TSV --server NAME --port P --load-s S --pid PID [--status X]
      Append a big-load row (load time + memory of PID's tree) to TSV.
  fail-row --out TSV --scenario S --server NAME --status X
      Append a row that records a failure.
  report TSV JSON [META]
      Print the tables with pharos/Knot and NSD/Knot ratios; write JSON.
      Exit 1 if any run failed.
"""
import argparse
import json
import os
import random
import re
import socket
import string
import struct
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

COLUMNS = [
    "scenario", "server", "run", "status", "transport", "zone", "duration_s",
    "clients", "qps", "sent", "answered", "lost", "srv_cpu_s",
    "cpu_us_per_q", "srv_cores", "client_cores", "other_cores", "rcodes",
    "load_s", "rss_kib", "pss_kib", "hwm_kib", "nprocs",
]


# --------------------------------------------------------------- zone files
def gen_small(zdir, qdir, nqueries, rng):
    origin = "bench.test."
    ttl = 3600
    recs = []  # (owner relative or "@", type, rdata)

    def add(owner, rtype, rdata):
        recs.append((owner, rtype, rdata))

    add("@", "SOA", "ns1.bench.test. hostmaster.bench.test. "
                    "2024010101 7200 3600 1209600 300")
    add("@", "NS", "ns1.bench.test.")
    add("@", "NS", "ns2.bench.test.")
    add("@", "A", "192.0.2.1")
    add("@", "AAAA", "2001:db8::1")
    add("@", "MX", "10 mail.bench.test.")
    add("@", "MX", "20 mail2.bench.test.")
    add("@", "TXT", '"v=spf1 mx -all"')
    add("ns1", "A", "192.0.2.2")
    add("ns1", "AAAA", "2001:db8::2")
    add("ns2", "A", "198.51.100.2")
    add("ns2", "AAAA", "2001:db8:1::2")
    add("www", "A", "192.0.2.10")
    add("www", "A", "192.0.2.11")
    add("www", "AAAA", "2001:db8::10")
    add("www", "AAAA", "2001:db8::11")
    add("www", "TXT", '"site=www"')
    add("mail", "A", "192.0.2.25")
    add("mail", "AAAA", "2001:db8::25")
    add("mail2", "A", "198.51.100.25")
    add("api", "A", "192.0.2.30")
    add("api", "A", "192.0.2.31")
    add("api", "A", "192.0.2.32")
    add("api", "AAAA", "2001:db8::30")
    add("cdn", "A", "192.0.2.40")
    add("cdn", "AAAA", "2001:db8::40")
    add("cdn", "TXT", '"edge=lon"')
    add("ftp", "CNAME", "www.bench.test.")
    add("_dmarc", "TXT", '"v=DMARC1; p=reject; rua=mailto:dmarc@bench.test"')
    add("selector1._domainkey", "TXT",
        '"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC'
        '1TaNgLlSyQMNWVLNLvyY/neDgaL2oqQE8T5illKqCgDtFHc8eHVAU+nlcaGmrKmDMw9'
        'dbgiGk1ocgZ56NR4ycfUHwQhvQPMUZw0cveel/8EAGoi/UyPmqfcPibytH81NFtTMAxU'
        'eM4Op8A6iHkvAMj5qLf4YRNsTkKAV"')
    hosts = ["host%d" % i for i in range(1, 21)]
    for i, h in enumerate(hosts, 1):
        add(h, "A", "192.0.2.%d" % (100 + i))
        if i % 2 == 0:
            add(h, "AAAA", "2001:db8::%x" % (0x100 + i))
    add("*.w", "A", "192.0.2.200")
    add("*.w", "AAAA", "2001:db8::200")
    add("*.w", "TXT", '"wildcard"')
    add("deleg", "NS", "ns1.deleg.bench.test.")
    add("deleg", "NS", "ns2.deleg.bench.test.")
    add("ns1.deleg", "A", "192.0.2.53")
    add("ns1.deleg", "AAAA", "2001:db8::53")
    add("ns2.deleg", "A", "198.51.100.53")

    def fqdn(owner):
        return origin if owner == "@" else owner + "." + origin

    with open(os.path.join(zdir, "bench.test.zone"), "w") as f:
        f.write("; bench.test: small zone for scripts/bench-dns.sh\n")
        for owner, rtype, rdata in recs:
            f.write("%s %d IN %s %s\n" % (fqdn(owner), ttl, rtype, rdata))

    # Existing (name, type) pairs, with a realistic weight (A most common).
    weight = {"A": 10, "AAAA": 5, "MX": 2, "TXT": 2, "NS": 1, "SOA": 1,
              "CNAME": 1}
    existing = []
    seen = set()
    for owner, rtype, _ in recs:
        if owner.startswith("*") or owner.endswith("deleg") \
                or owner.endswith(".deleg"):
            continue
        key = (fqdn(owner), rtype)
        if key in seen:
            continue
        seen.add(key)
        qtype = "A" if rtype == "CNAME" else rtype  # A at a CNAME: chase
        existing.append((fqdn(owner), qtype, weight[rtype]))
    ex_names = [(n, t) for n, t, _ in existing]
    ex_weights = [w for _, _, w in existing]
    letters = string.ascii_lowercase + string.digits

    def label():
        return "".join(rng.choice(letters) for _ in range(rng.randint(6, 12)))

    out = []
    for _ in range(nqueries):
        r = rng.random()
        if r < 0.60:      # existing names
            n, t = rng.choices(ex_names, ex_weights)[0]
        elif r < 0.80:    # NXDOMAIN
            n, t = label() + "." + origin, rng.choice(["A", "A", "AAAA"])
        elif r < 0.90:    # wildcard
            n, t = label() + ".w." + origin, rng.choice(["A", "A", "AAAA", "TXT"])
        else:             # referral below the delegation
            n = rng.choice([label() + ".", "www.", ""]) + "deleg." + origin
            t = rng.choice(["A", "A", "AAAA"])
        out.append("%s %s\n" % (n.rstrip("."), t))
    with open(os.path.join(qdir, "small.txt"), "w") as f:
        f.writelines(out)


def gen_big(zdir, qdir, count, nqueries, rng):
    origin = "big.test."
    path = os.path.join(zdir, "big.test.zone")
    with open(path, "w", buffering=1 << 20) as f:
        f.write("; big.test: %d A records for scripts/bench-dns.sh\n" % count)
        f.write("big.test. 3600 IN SOA ns1.big.test. hostmaster.big.test. "
                "2024010101 7200 3600 1209600 300\n")
        f.write("big.test. 3600 IN NS ns1.big.test.\n")
        f.write("big.test. 3600 IN NS ns2.big.test.\n")
        f.write("ns1.big.test. 3600 IN A 192.0.2.2\n")
        f.write("ns2.big.test. 3600 IN A 198.51.100.2\n")
        chunk = 50000
        for start in range(0, count, chunk):
            f.write("".join(
                "h%d.big.test. 3600 IN A 10.%d.%d.%d\n"
                % (i, (i >> 16) & 255, (i >> 8) & 255, i & 255)
                for i in range(start, min(count, start + chunk))))
    with open(os.path.join(qdir, "big.txt"), "w", buffering=1 << 20) as f:
        rr = rng.randrange
        f.write("".join("h%d.%s A\n" % (rr(count), origin.rstrip("."))
                        for _ in range(nqueries)))


def cmd_gen_zones(a):
    zdir = os.path.join(a.outdir, "zones")
    qdir = os.path.join(a.outdir, "queries")
    os.makedirs(zdir, exist_ok=True)
    os.makedirs(qdir, exist_ok=True)
    rng = random.Random(a.seed)
    gen_small(zdir, qdir, a.small_queries, rng)
    if not a.skip_big:
        gen_big(zdir, qdir, a.big_count, a.big_queries, rng)


# ---------------------------------------------------------------- sockets
def cmd_port_free(a):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        if kind == socket.SOCK_STREAM:  # ignore TIME_WAIT leftovers
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", a.port))
        except OSError:
            return 1
        finally:
            s.close()
    return 0


def make_query(name, qtype, qid):
    wire = b"".join(bytes([len(l)]) + l.encode()
                    for l in name.rstrip(".").split(".") if l) + b"\0"
    return struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + wire + \
        struct.pack("!HH", qtype, 1)


RCODES = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

# name, qtype, (rcode, aa, answer, authority, additional), what.  A count is
# an exact number, "N+" (at least N) or "*" (any: NSD adds NS records to the
# authority section of answers, Knot does not; both are right).
PROBES = [
    ("www.bench.test", 1, ("NOERROR", True, "1+", "*", "*"), "answer"),
    ("ftp.bench.test", 1, ("NOERROR", True, 3, "*", "*"), "CNAME + chased A"),
    ("no-such-name-x1.bench.test", 1, ("NXDOMAIN", True, 0, "1+", "*"),
     "NXDOMAIN"),
    ("www.bench.test", 15, ("NOERROR", True, 0, "1+", "*"), "NODATA"),
    ("anything.w.bench.test", 1, ("NOERROR", True, 1, "*", "*"), "wildcard"),
    ("host.deleg.bench.test", 1, ("NOERROR", False, 0, 2, "2+"), "referral"),
    ("h4242.big.test", 1, ("NOERROR", True, 1, "*", "*"), "big zone answer"),
    ("example.org", 1, ("REFUSED", False, 0, 0, "*"), "outside every zone"),
]


def count_ok(got, want):
    if want == "*":
        return True
    if isinstance(want, str) and want.endswith("+"):
        return got >= int(want[:-1])
    return got == want


def cmd_probe(a):
    """Check the server answers the mix the way Knot does; print problems."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    bad = []
    for i, (name, qtype, exp, what) in enumerate(PROBES):
        if name.endswith("big.test") and a.skip_big:
            continue
        try:
            s.sendto(make_query(name, qtype, 4000 + i), (a.host, a.port))
            data = s.recv(65535)
        except OSError as e:
            bad.append("%s (%s): no answer (%s)" % (what, name, e))
            continue
        rid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", data[:12])
        got = (RCODES.get(flags & 0xF, str(flags & 0xF)), bool(flags & 0x400),
               an, ns, ar)
        rcode, aa, ean, ens, ear = exp
        ok = (got[0] == rcode and got[1] == aa and count_ok(an, ean)
              and count_ok(ns, ens) and count_ok(ar, ear))
        if not ok:
            bad.append("%s (%s type %d): got %s aa=%d an=%d ns=%d ar=%d, "
                       "want %s aa=%d an=%s ns=%s ar=%s"
                       % (what, name, qtype, got[0], got[1], an, ns, ar,
                          rcode, aa, ean, ens, ear))
    for b in bad:
        print("  probe: " + b)
    print("  probe: %s" % ("ok: answers, CNAME, NXDOMAIN, NODATA, wildcard, "
                           "referral, REFUSED look right"
                           if not bad else "%d of the answers above look wrong"
                           % len(bad)))
    return 1 if bad else 0


def cmd_wait_auth(a):
    # (name, qtype): the SOA of every zone, plus --also names (type A)
    pending = {(z, 6) for z in a.zones.split(",") if z}
    pending |= {(n, 1) for n in a.also.split(",") if n}
    deadline = a.t0 + a.timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.02)
    qid = 0
    while pending:
        if not os.path.exists("/proc/%d" % a.pid):
            print("  the server process (%d) exited" % a.pid, file=sys.stderr)
            return 3
        for z in sorted(pending):
            qid = (qid + 1) & 0xFFFF
            try:
                s.sendto(make_query(z[0], z[1], qid), (a.host, a.port))
                end = time.time() + 0.02
                while True:
                    data = s.recv(4096)
                    if len(data) >= 12:
                        rid, flags, _, an = struct.unpack("!HHHH", data[:8])
                        if rid == qid:
                            break
                    if time.time() > end:
                        raise socket.timeout
            except (socket.timeout, ConnectionRefusedError, OSError):
                continue
            rcode, aa, qr = flags & 0xF, flags & 0x0400, flags & 0x8000
            if qr and aa and rcode == 0 and an > 0:
                pending.discard(z)
        now = time.time()
        if not pending:
            print("%.3f" % (now - a.t0))
            return 0
        if now > deadline:
            print("  no authoritative answer within %ds for: %s"
                  % (a.timeout, ", ".join("%s %s" % (n, "SOA" if t == 6 else "A")
                                          for n, t in sorted(pending))),
                  file=sys.stderr)
            return 1
        time.sleep(0.02)
    return 0


# ------------------------------------------------------------------ /proc
def read_stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    rest = data[data.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); field n is rest[n - 3]
    return {"ppid": int(rest[1]), "utime": int(rest[11]),
            "stime": int(rest[12]), "cutime": int(rest[13]),
            "cstime": int(rest[14])}


def proc_tree(root):
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = read_stat(int(d))["ppid"]
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if os.path.exists("/proc/%d" % p):
            out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu_ticks(root):
    total = 0
    for p in proc_tree(root):
        try:
            st = read_stat(p)
        except OSError:
            continue
        total += st["utime"] + st["stime"] + st["cutime"] + st["cstime"]
    return total


def machine_busy_ticks():
    """CPU ticks spent not idle, all CPUs (user..steal, minus idle/iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice
    return sum(v[:8]) - v[3] - v[4]


def cmd_busy(a):
    b0, t0 = machine_busy_ticks(), time.time()
    time.sleep(a.seconds)
    b1, t1 = machine_busy_ticks(), time.time()
    print("%.2f" % ((b1 - b0) / CLK_TCK / (t1 - t0)))


def tree_mem(root):
    rss = pss = hwm = n = 0
    for p in proc_tree(root):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
            n += 1
        except OSError:
            continue
    return rss, pss, hwm, n


def cmd_mem(a):
    print("%d %d %d %d" % tree_mem(a.pid))


def cmd_cpu(a):
    print(tree_cpu_ticks(a.pid))


# ------------------------------------------------------------- result rows
def append_row(path, row):
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a") as f:
        if new:
            f.write("\t".join(COLUMNS) + "\n")
        f.write("\t".join(str(row.get(c, "")) for c in COLUMNS) + "\n")


def parse_dnsperf(text):
    res = {}
    m = re.search(r"Queries sent:\s+(\d+)", text)
    res["sent"] = int(m.group(1)) if m else None
    m = re.search(r"Queries completed:\s+(\d+)", text)
    res["answered"] = int(m.group(1)) if m else None
    m = re.search(r"Queries lost:\s+(\d+)", text)
    res["lost"] = int(m.group(1)) if m else None
    m = re.search(r"Queries per second:\s+([\d.]+)", text)
    res["qps"] = float(m.group(1)) if m else None
    m = re.search(r"Run time \(s\):\s+([\d.]+)", text)
    res["runtime"] = float(m.group(1)) if m else None
    m = re.search(r"Response codes:\s+(.*)", text)
    codes = []
    if m:
        for name, pct in re.findall(r"([A-Z]+) \d+ \(([\d.]+)%\)", m.group(1)):
            codes.append("%s=%s%%" % (name, pct))
    res["rcodes"] = ",".join(codes)
    return res


def cmd_perf(a):
    cmd = a.dnsperf
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    transport = "tcp" if "tcp" in cmd else "udp"
    row = {"scenario": a.scenario, "server": a.server, "run": a.run,
           "transport": transport,
           "zone": a.zone, "clients": a.clients}
    if not os.path.exists("/proc/%d" % a.pid):
        row["status"] = "fail:server-not-running"
        append_row(a.out, row)
        print("  %-7s %s: server is not running" % (a.server, a.scenario))
        return 1
    cpu0 = tree_cpu_ticks(a.pid)
    busy0 = machine_busy_ticks()
    t0 = time.time()
    with open(a.log, "w") as logf:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        text = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        logf.write(" ".join(cmd) + "\n" + text)
    wall = time.time() - t0
    busy1 = machine_busy_ticks()
    cpu1 = tree_cpu_ticks(a.pid)
    rc = os.waitstatus_to_exitcode(status)
    res = parse_dnsperf(text)
    srv_s = (cpu1 - cpu0) / CLK_TCK
    cli_s = ru.ru_utime + ru.ru_stime
    other = (busy1 - busy0) / CLK_TCK - srv_s - cli_s
    run = res.get("runtime") or wall
    row.update({
        "duration_s": "%.2f" % run,
        "srv_cpu_s": "%.2f" % srv_s,
        "srv_cores": "%.2f" % (srv_s / run if run else 0),
        "client_cores": "%.2f" % (cli_s / wall),
        "other_cores": "%.2f" % max(0.0, other / wall),
        "rcodes": res["rcodes"],
    })
    ok = rc == 0 and res["answered"] is not None and res["qps"] is not None
    if ok:
        row.update({
            "status": "ok" if res["answered"] > 0 else "fail:no-answers",
            "qps": "%.0f" % res["qps"], "sent": res["sent"],
            "answered": res["answered"], "lost": res["lost"],
            "cpu_us_per_q": "%.2f" % (srv_s * 1e6 / res["answered"])
            if res["answered"] else "",
        })
    else:
        row["status"] = "fail:dnsperf-exit-%d" % rc
    if not os.path.exists("/proc/%d" % a.pid):
        row["status"] = "fail:server-died"
    append_row(a.out, row)
    print("  %-7s %-10s #%s %s qps=%s answered=%s lost=%s cpu/q=%sus "
          "cores: server=%s client=%s other=%s  %s"
          % (a.server, a.scenario, a.run, row.get("status"),
             row.get("qps", "-"), row.get("answered", "-"),
             row.get("lost", "-"), row.get("cpu_us_per_q", "-"),
             row["srv_cores"], row["client_cores"], row["other_cores"],
             row["rcodes"]))
    return 0 if row["status"] == "ok" else 1


def cmd_load_row(a):
    rss, pss, hwm, n = tree_mem(a.pid)
    row = {"scenario": "big-load", "server": a.server, "status": a.status,
           "zone": "big.test", "load_s": a.load_s, "rss_kib": rss,
           "pss_kib": pss, "hwm_kib": hwm, "nprocs": n}
    append_row(a.out, row)
    print("  %-7s big-load   %s load=%ss rss=%.1f MiB pss=%.1f MiB "
          "peak=%.1f MiB (%d processes)"
          % (a.server, a.status, a.load_s, rss / 1024, pss / 1024,
             hwm / 1024, n))


def cmd_fail_row(a):
    append_row(a.out, {"scenario": a.scenario, "server": a.server,
                       "status": a.status})


# ------------------------------------------------------------------ report
def fnum(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def ratio(a, b):
    a, b = fnum(a), fnum(b)
    if a is None or b is None or b == 0:
        return None
    return a / b


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    if not n:
        return None
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def summarize(rows):
    """One summary per (scenario, server): medians over the ok runs."""
    groups = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["server"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        ok = [r for r in rs if r.get("status") == "ok"]
        if not ok:
            out[key] = {"scenario": key[0], "server": key[1],
                        "status": rs[0].get("status") or "fail",
                        "runs": len(rs)}
            continue
        sm = {"scenario": key[0], "server": key[1], "status": "ok",
              "runs": len(ok), "failed_runs": len(rs) - len(ok)}
        for k in ("transport", "zone", "clients", "duration_s", "rcodes"):
            sm[k] = ok[0].get(k, "")
        for k in ("qps", "cpu_us_per_q", "srv_cores", "client_cores",
                  "load_s", "rss_kib", "pss_kib", "hwm_kib", "nprocs"):
            vals = [fnum(r.get(k)) for r in ok]
            vals = [v for v in vals if v is not None]
            if vals:
                sm[k] = median(vals)
                if k == "cpu_us_per_q" and len(vals) > 1:
                    sm["cpu_us_per_q_min"] = min(vals)
                    sm["cpu_us_per_q_max"] = max(vals)
        for k in ("answered", "lost", "sent"):
            vals = [fnum(r.get(k)) for r in ok]
            if all(v is not None for v in vals):
                sm[k] = int(sum(vals))
        others = [fnum(r.get("other_cores")) for r in ok]
        others = [v for v in others if v is not None]
        if others:
            sm["other_cores_max"] = max(others)
        out[key] = sm
    return out


def cmd_report(a):
    rows = []
    with open(a.tsv) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    summ = summarize(rows)
    order = ["small-udp", "small-tcp", "big-udp", "big-tcp", "big-load"]
    allsc = {s for s, _ in summ}
    scen = [s for s in order if s in allsc] + sorted(allsc - set(order))
    srv_order = ["pharos", "knot", "nsd"]
    allsrv = {v for _, v in summ}
    servers = [v for v in srv_order if v in allsrv] + sorted(allsrv - set(srv_order))
    out = {"meta": {}, "columns": header, "rows": rows,
           "summary": [summ[(s, v)] for s in scen for v in servers
                       if (s, v) in summ],
           "ratios": {}}
    if a.meta:
        with open(a.meta) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                if k:
                    out["meta"][k] = v

    def fmt(v, spec):
        return "-" if v is None else spec % v

    noisy = 0.0
    for s in scen:
        print()
        srows = [summ[(s, v)] for v in servers if (s, v) in summ]
        if s == "big-load":
            print("== big-load: seconds from start until big.test SOA is "
                  "answered authoritatively;")
            print("   memory of the server's process tree once loaded "
                  "(RSS summed; PSS counts shared pages once)")
            print("%-8s %-6s %8s %9s %9s %9s %6s"
                  % ("server", "status", "load_s", "rss_MiB", "pss_MiB",
                     "peak_MiB", "procs"))
            for r in srows:
                mib = lambda k: fmt(r.get(k) and r[k] / 1024, "%.1f")
                print("%-8s %-6s %8s %9s %9s %9s %6s"
                      % (r["server"], "ok" if r["status"] == "ok" else "FAIL",
                         fmt(r.get("load_s"), "%.2f"), mib("rss_kib"),
                         mib("pss_kib"), mib("hwm_kib"),
                         fmt(r.get("nprocs"), "%d")))
            metrics = [("load_s", "load time"), ("rss_kib", "RSS"),
                       ("pss_kib", "PSS")]
        else:
            first = next((r for r in srows if r["status"] == "ok"), {})
            zone = first.get("zone") or (
                "bench.test" if s.startswith("small") else "big.test")
            transport = first.get("transport") or s.rpartition("-")[2]
            head = "== %s: %s zone over %s" % (s, zone, transport)
            if first:
                head += ", %s clients, %s s per run" % (
                    first.get("clients", "?"), first.get("duration_s", "?"))
            print(head)
            print("%-8s %-6s %4s %8s %10s %7s %9s %13s %6s %6s %6s  %s"
                  % ("server", "status", "runs", "qps", "answered", "lost",
                     "cpu_us/q", "(min-max)", "srv", "client", "other",
                     "rcodes"))
            for r in srows:
                rng = ""
                if "cpu_us_per_q_min" in r:
                    rng = "%.2f-%.2f" % (r["cpu_us_per_q_min"],
                                         r["cpu_us_per_q_max"])
                print("%-8s %-6s %4s %8s %10s %7s %9s %13s %6s %6s %6s  %s"
                      % (r["server"], "ok" if r["status"] == "ok" else "FAIL",
                         r.get("runs", "-"),
                         fmt(r.get("qps"), "%.0f"), fmt(r.get("answered"), "%d"),
                         fmt(r.get("lost"), "%d"),
                         fmt(r.get("cpu_us_per_q"), "%.2f"), rng,
                         fmt(r.get("srv_cores"), "%.2f"),
                         fmt(r.get("client_cores"), "%.2f"),
                         fmt(r.get("other_cores_max"), "%.2f"),
                         r.get("rcodes", "")))
                noisy = max(noisy, r.get("other_cores_max") or 0.0)
            metrics = [("cpu_us_per_q", "CPU/query"), ("qps", "qps")]
        for r in srows:
            if r["status"] != "ok":
                print("  %s: %s" % (r["server"], r["status"]))
            elif r.get("failed_runs"):
                print("  %s: %d of %d runs failed"
                      % (r["server"], r["failed_runs"],
                         r["failed_runs"] + r["runs"]))
        knot = summ.get((s, "knot"))
        for srv in ("pharos", "nsd"):
            me = summ.get((s, srv))
            if not knot or not me or knot["status"] != "ok" \
                    or me["status"] != "ok":
                continue
            parts = []
            for key, label in metrics:
                q = ratio(me.get(key), knot.get(key))
                if q is not None:
                    parts.append("%s %.2f" % (label, q))
                    out["ratios"].setdefault(s, {}).setdefault(
                        "%s/knot" % srv, {})[key] = round(q, 4)
            if parts:
                print("  %s/knot: %s" % (srv, ", ".join(parts)))
    if noisy > 0.25:
        print()
        print("NOTE: other processes kept up to %.2f cores busy during some "
              "runs (column 'other');" % noisy)
        print("      CPU/query and qps are less reliable then: rerun on an idle "
              "machine, or use")
        print("      --repeat 3 (medians) and, as root, --nice -10.")
    # the targets: pharos needs no more than Knot
    verdict = []
    for s, key in (("small-udp", "cpu_us_per_q"), ("small-tcp", "cpu_us_per_q"),
                   ("big-udp", "cpu_us_per_q"), ("big-tcp", "cpu_us_per_q"),
                   ("big-load", "load_s"), ("big-load", "rss_kib")):
        if (s, "pharos") not in summ or (s, "knot") not in summ:
            continue
        q = out["ratios"].get(s, {}).get("pharos/knot", {}).get(key)
        verdict.append({"scenario": s, "metric": key, "ratio": q,
                        "meets_target": q is not None and q <= 1.0})
    out["target"] = verdict
    if verdict:
        print()
        print("== target: pharos needs no more than Knot (pharos/knot <= 1.00)")
        for v in verdict:
            print("  %-10s %-13s %5s  %s" % (
                v["scenario"], v["metric"],
                "-" if v["ratio"] is None else "%.2f" % v["ratio"],
                "ok" if v["meets_target"] else
                ("MISSED" if v["ratio"] is not None else "no result")))
    return finish(out, rows, a.json, "FAILED runs")


def finish(out, rows, path, label):
    """Writes the JSON summary; lists the runs not ok. Exit status: 1 if any."""
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    failed = sorted({"%s %s" % (r["server"], r["scenario"]) for r in rows
                     if r.get("status") != "ok"})
    if failed:
        print()
        print("%s: %s" % (label, ", ".join(failed)))
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("gen-zones")
    p.add_argument("outdir")
    p.add_argument("--big-count", type=int, default=1000000)
    p.add_argument("--small-queries", type=int, default=100000)
    p.add_argument("--big-queries", type=int, default=200000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip-big", action="store_true")
    p.set_defaults(fn=cmd_gen_zones)
    p = sub.add_parser("probe")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--skip-big", action="store_true")
    p.set_defaults(fn=cmd_probe)
    p = sub.add_parser("busy")
    p.add_argument("seconds", type=float)
    p.set_defaults(fn=cmd_busy)
    p = sub.add_parser("port-free")
    p.add_argument("port", type=int)
    p.set_defaults(fn=cmd_port_free)
    p = sub.add_parser("wait-auth")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("zones")
    p.add_argument("t0", type=float)
    p.add_argument("timeout", type=float)
    p.add_argument("pid", type=int)
    p.add_argument("--also", default="",
                   help="comma-separated names whose A must be answered too")
    p.set_defaults(fn=cmd_wait_auth)
    for name, fn in (("mem", cmd_mem), ("cpu", cmd_cpu)):
        p = sub.add_parser(name)
        p.add_argument("pid", type=int)
        p.set_defaults(fn=fn)
    p = sub.add_parser("perf")
    p.add_argument("--out", required=True)
    p.add_argument("--scenario", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--zone", default="")
    p.add_argument("--clients", default="")
    p.add_argument("--run", default="1")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("dnsperf", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_perf)
    p = sub.add_parser("load-row")
    p.add_argument("--out", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--load-s", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--status", default="ok")
    p.set_defaults(fn=cmd_load_row)
    p = sub.add_parser("fail-row")
    p.add_argument("--out", required=True)
    p.add_argument("--scenario", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--status", required=True)
    p.set_defaults(fn=cmd_fail_row)
    p = sub.add_parser("report")
    p.add_argument("tsv")
    p.add_argument("json")
    p.add_argument("meta", nargs="?")
    p.set_defaults(fn=cmd_report)
    a = ap.parse_args()
    return a.fn(a) or 0


if __name__ == "__main__":
    sys.exit(main())
