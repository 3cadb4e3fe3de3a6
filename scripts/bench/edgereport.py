#!/usr/bin/env python3
"""Report of scripts/bench-edge.sh: reads the JSON records edge.py wrote
(one a line), prints one table per measure (pharos, Knot, NSD and the
ratios pharos/Knot and pharos/NSD) and the targets, writes a JSON summary.

usage: edgereport.py RESULTS.jsonl SUMMARY.json [META]
Exit status: 1 if any run failed (a server did not start, answer or
survive), else 0; a missed target is reported, not an error.
"""
import json
import sys

SERVERS = ["pharos", "knot", "nsd"]
MIB = 1024.0


def load(path):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    return recs


def pick(recs, measure, server, variant=None):
    """The last record of (measure, server[, variant])."""
    out = None
    for r in recs:
        if r.get("measure") == measure and r.get("server") == server \
                and (variant is None or r.get("variant") == variant):
            out = r
    return out


def ok(r):
    return r is not None and r.get("status") == "ok"


def val(r, key, scale=1.0):
    if not ok(r) or r.get(key) is None:
        return None
    v = r[key]
    return v / scale if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def table(title, rows, servers, out):
    """rows: (label, fmt, {server: value}, ratio?)."""
    print()
    print("== " + title)
    head = "%-44s" % "metric" + "".join("%12s" % s for s in servers)
    ratios = [s for s in ("knot", "nsd") if "pharos" in servers and s in servers]
    head += "".join("%13s" % ("pharos/" + s) for s in ratios)
    print(head)
    for label, fmt, vals, want_ratio in rows:
        line = "%-44s" % label
        for s in servers:
            v = vals.get(s)
            if v is None:
                line += "%12s" % "-"
            elif isinstance(v, bool):
                line += "%12s" % ("yes" if v else "NO")
            elif isinstance(v, str):
                line += "%12s" % v
            else:
                line += "%12s" % (fmt % v)
        for s in ratios:
            p, q = vals.get("pharos"), vals.get(s)
            if want_ratio and isinstance(p, (int, float)) and not isinstance(p, bool) \
                    and isinstance(q, (int, float)) and not isinstance(q, bool) and q:
                line += "%13.2f" % (p / q)
                out.setdefault(label, {})["pharos/" + s] = round(p / q, 4)
            else:
                line += "%13s" % "-"
        print(line)


def failures(recs):
    return sorted({"%s %s%s" % (r["server"], r["measure"],
                                " " + r["variant"] if r.get("variant") else "")
                   + " (%s)" % r.get("status")
                   for r in recs if r.get("status") != "ok"})


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    recs = load(sys.argv[1])
    meta = {}
    if len(sys.argv) > 3:
        with open(sys.argv[3]) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                if k:
                    meta[k] = v
    servers = [s for s in SERVERS if any(r.get("server") == s for r in recs)]
    summary = {"meta": meta, "records": recs, "ratios": {}, "targets": []}
    targets = summary["targets"]

    def col(measure, key, scale=1.0, variant=None):
        return {s: val(pick(recs, measure, s, variant), key, scale) for s in servers}

    measures = {r["measure"] for r in recs}
    if "reflection" in measures:
        r0 = next((pick(recs, "reflection", s) for s in servers
                   if ok(pick(recs, "reflection", s))), {}) or {}
        title = ("1. reflection: spoofed flood from 127.0.3.1-254 (70%% big TXT, "
                 "10%% ANY, 20%% NXDOMAIN), %s s, RRL %s/s slip %s; "
                 "legit client 127.0.4.1 at %s q/s"
                 % (r0.get("duration", "?"), meta.get("rrl_rate", "?"),
                    meta.get("slip", "?"), meta.get("legit_rate", "?")))
        rows = [
            ("capacity: replies/s at full load, flood exempt", "%.0f",
             col("capacity-flood", "qps"), True),
            ("flood target (q/s)", "%.0f", col("reflection", "target_rate"), False),
            ("flood sent (q/s)", "%.0f", col("reflection", "sent_qps"), False),
            ("amplification unlimited (reply/query octets)", "%.2f",
             col("capacity-flood", "amplification"), True),
            ("bytes out / bytes in", "%.3f", col("reflection", "out_in"), True),
            ("victim netblock received (MB)", "%.2f",
             col("reflection", "victim_bytes", 1e6), True),
            ("full answers to victim (/s, steady)", "%.0f",
             col("reflection", "full_per_s_steady"), True),
            ("truncated (slipped) replies to victim", "%.0f",
             col("reflection", "victim_tc"), True),
            ("replies lost in the victim's socket buffers", "%.0f",
             col("reflection", "victim_drops"), False),
            ("queries dropped at the server's sockets", "%.0f",
             col("reflection", "server_drops"), False),
            ("server CPU (cores)", "%.2f", col("reflection", "cpu_cores"), True),
            ("server CPU (us/query)", "%.3f", col("reflection", "cpu_us_per_q"), True),
            ("peak RSS, VmHWM (MiB)", "%.1f", col("reflection", "hwm_kib", MIB), True),
            ("legit client answered (%)", "%.2f", col("reflection", "legit_pct"), False),
            ("'now limiting' log lines (> 0: RRL engaged)", "%.0f",
             col("reflection", "limit_log_lines"), False),
            ("same, in the capacity run (0: exempt worked)", "%.0f",
             col("capacity-flood", "limit_log_lines"), False),
        ]
        table(title, rows, servers, summary["ratios"].setdefault("reflection", {}))
        for s in servers:
            r = pick(recs, "reflection", s)
            if ok(r):
                targets.append({"server": s, "target": "reflection bytes out/in <= 1.0",
                                "value": r.get("out_in"),
                                "met": r.get("out_in") is not None and r["out_in"] <= 1.0})
                targets.append({"server": s, "target": "legit client answered >= 99%",
                                "value": r.get("legit_pct"),
                                "met": (r.get("legit_pct") or 0) >= 99.0})
    if "cost" in measures:
        on = col("cost", "cpu_us_per_q", variant="rrl-on")
        off = col("cost", "cpu_us_per_q", variant="rrl-off")
        delta = {s: (on[s] - off[s]) if on.get(s) is not None and off.get(s) is not None
                 else None for s in servers}
        c0 = next((pick(recs, "cost", s, "rrl-on") for s in servers
                   if ok(pick(recs, "cost", s, "rrl-on"))), {}) or {}
        rows = [
            ("us/query, RRL on (limit high)", "%.3f", on, True),
            ("us/query, RRL off", "%.3f", off, True),
            ("cost of RRL (us/query, on - off)", "%.3f", delta, False),
            ("us/query, RRL on, queries with a valid cookie", "%.3f",
             col("cost", "cpu_us_per_q", variant="valid-cookie"), True),
            ("q/s, RRL on", "%.0f", col("cost", "qps", variant="rrl-on"), True),
            ("q/s, RRL off", "%.0f", col("cost", "qps", variant="rrl-off"), True),
            ("lost, RRL on (must be 0: nothing limited)", "%.0f",
             col("cost", "lost", variant="rrl-on"), False),
            ("'now limiting' log lines, RRL on (must be 0)", "%.0f",
             col("cost", "limit_log_lines", variant="rrl-on"), False),
            ("server cores, RRL on", "%.2f",
             col("cost", "srv_cores", variant="rrl-on"), False),
        ]
        table("2. query cost: realistic mix (bench.test), 8 dnsperf from 8 /24s, "
              "%s s per run, EDNS; cookies on; rcodes %s"
              % (meta.get("cost_duration", "?"), c0.get("rcodes", "?")),
              rows, servers, summary["ratios"].setdefault("cost", {}))
        p, k = on.get("pharos"), on.get("knot")
        if p is not None and k:
            targets.append({"server": "pharos", "target": "RRL-on CPU/query pharos/knot <= 0.8",
                            "value": round(p / k, 3), "met": p / k <= 0.8})
    if "overload" in measures:
        o0 = next((pick(recs, "overload", s) for s in servers
                   if ok(pick(recs, "overload", s))), {}) or {}
        rows = [
            ("capacity: replies/s at full load, flood exempt", "%.0f",
             col("capacity-legit", "qps"), True),
            ("flood target (q/s)", "%.0f", col("overload", "target_rate"), False),
            ("flood sent (q/s)", "%.0f", col("overload", "sent_qps"), False),
            ("answered during the flood (q/s)", "%.0f",
             col("overload", "answered_qps"), True),
            ("queries dropped at the server's sockets", "%.0f",
             col("overload", "server_drops"), False),
            ("alive after the flood", "%s", col("overload", "alive"), False),
            ("RSS max, first 5 s (MiB)", "%.1f", col("overload", "rss_first5_kib", MIB), True),
            ("RSS max, after 5 s (MiB)", "%.1f", col("overload", "rss_later_kib", MIB), True),
            ("RSS growth after 5 s (MiB)", "%.2f", col("overload", "rss_growth_kib", MIB), False),
            ("probe answered before (%)", "%.2f", col("overload", "probe_before_pct"), False),
            ("probe answered during (%)", "%.2f", col("overload", "probe_during_pct"), False),
            ("probe answered after (%)", "%.2f", col("overload", "probe_after_pct"), False),
            ("flood end to probe >= 99% (s)", "%.2f", col("overload", "recovery_s"), False),
            ("'now limiting' log lines (0: exempt worked)", "%.0f",
             col("overload", "limit_log_lines"), False),
        ]
        table("3. overload: realistic mix from 127.0.3.1-254 at 2x capacity, %s s, "
              "RRL on, flood exempt; probe 127.0.4.2 at %s q/s"
              % (o0.get("duration", "?"), meta.get("probe_rate", "?")),
              rows, servers, summary["ratios"].setdefault("overload", {}))
        for s in servers:
            r = pick(recs, "overload", s)
            if not ok(r):
                continue
            g, f5 = r.get("rss_growth_kib"), r.get("rss_first5_kib") or 0
            targets.append({"server": s, "target": "overload: alive",
                            "value": r.get("alive"), "met": bool(r.get("alive"))})
            targets.append({"server": s,
                            "target": "overload: RSS growth after 5 s <= 1 MiB or 2% (MiB)",
                            "value": None if g is None else round(g / MIB, 2),
                            "met": g is not None and g <= max(1024, 0.02 * f5)})
            rs = r.get("recovery_s")
            targets.append({"server": s, "target": "overload: probe back to 99% within 1 s",
                            "value": rs, "met": rs is not None and rs <= 1.0})
    notes = []
    for m in ("reflection", "overload"):
        for s in servers:
            r = pick(recs, m, s)
            if ok(r) and r.get("target_rate") and r.get("sent_qps", 0) < 0.9 * r["target_rate"]:
                notes.append("%s %s: the flooder sent %d q/s of the %d asked (the "
                             "machine's limit, not the server's)"
                             % (s, m, r["sent_qps"], r["target_rate"]))
    if notes:
        print()
        for n in notes:
            print("NOTE: " + n)
    if targets:
        print()
        print("== targets")
        for t in targets:
            v = t["value"]
            print("  %-8s %-56s %8s  %s" % (
                t["server"], t["target"], "-" if v is None else v,
                "ok" if t["met"] else "MISSED"))
    with open(sys.argv[2], "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    bad = failures(recs)
    if bad:
        print()
        print("FAILED: " + ", ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
