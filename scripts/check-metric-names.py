#!/usr/bin/env python3
"""Checks that every metric name the alert rules and dashboards use exists.

Reads the PromQL expressions of Prometheus rule files (`expr:` keys, YAML)
and Grafana dashboards (`"expr"` keys, JSON), takes the metric names out
of them, and looks each up in one or more /metrics texts of running pharos
nodes. Exits 1 listing every name that is missing (with the files using
it), 2 on a usage or read error, 0 when all are present.

    curl -s http://127.0.0.1:18053/metrics > hub.txt     # metrics-hub.toml
    curl -s http://127.0.0.1:28053/metrics > node.txt    # metrics-node.toml
    scripts/check-metric-names.py --metrics hub.txt --metrics node.txt \
        dist/prometheus/pharos-rules.yml dist/grafana/pharos.json

With --series-of FILE (a `promtool test rules` file), the series its
tests feed in must look like the real ones too: every `series:` names a
metric present in the /metrics texts, with label names that metric has
there (`job` and `instance` come from the scrape and are not checked).

A name is present when some sample line of a /metrics text has it; with
--allow-declared a `# TYPE` line is enough (a family pharos declares but
that has no series under the config the text came from: BGP without
peers, the fleet view without nodes). Histogram families declared by TYPE
give NAME_bucket, NAME_sum and NAME_count; counter families give NAME and
NAME_total. `up` and the other series Prometheus makes itself are skipped.

Python 3 standard library only; the YAML reader understands what rule
files use (`expr:` with an inline value or a `|`/`>` block), not all YAML.
"""

import argparse
import json
import re
import sys

# Series Prometheus adds at scrape time, not exported by pharos.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                 "scrape_samples_post_metric_relabeling", "scrape_series_added"}

# PromQL words that are not metric names when not followed by "(".
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
            "and", "or", "unless", "offset", "bool", "atan2", "inf", "nan",
            "start", "end"}

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr):
    """The metric names used in one PromQL expression."""
    s = expr
    # Grafana variables ($job, ${job}, $__rate_interval, [[var]]).
    s = re.sub(r"\$\{[^}]*\}|\$[a-zA-Z_][a-zA-Z0-9_]*|\[\[[^\]]*\]\]", " 1 ", s)
    # String literals, then label matchers and range/subquery brackets.
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', ' "" ', s)
    s = re.sub(r"\{[^{}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    # Label lists of grouping modifiers: by (a, b), on(...), group_left(...).
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    # Numbers (1e-06, 0x1f, 1.5) and durations after offset / @.
    s = re.sub(r"(?<![a-zA-Z0-9_:])(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)[a-zA-Z]*", " ", s)
    names = set()
    for m in NAME.finditer(s):
        word = m.group(0)
        rest = s[m.end():].lstrip()
        if rest.startswith("("):
            continue  # a function or aggregation
        if word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def yaml_exprs(text, path):
    """The `expr:` values of a rule file (inline, quoted, or block scalars)."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*)(?:-\s+)?expr:\s*(.*?)\s*$", line)
        i += 1
        if not m:
            continue
        indent = len(m.group(1))
        value = m.group(2)
        if value[:1] in ("|", ">"):
            block = []
            while i < len(lines) and (not lines[i].strip() or
                                      len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i].strip())
                i += 1
            out.append(" ".join(block))
            continue
        if value.startswith('"'):
            try:
                value = json.loads(value)
            except ValueError:
                sys.exit(f"{path}:{i}: cannot read the quoted expr {value}")
        elif value.startswith("'"):
            value = value[1:-1].replace("''", "'")
        else:
            # A plain scalar may continue on more-indented lines.
            while i < len(lines) and lines[i].strip() and \
                    len(lines[i]) - len(lines[i].lstrip()) > indent and \
                    not re.match(r"^\s*[a-zA-Z_]+:\s", lines[i]):
                value += " " + lines[i].strip()
                i += 1
        out.append(value)
    return out


def json_exprs(obj):
    """Every "expr" string anywhere in a dashboard."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "expr" and isinstance(v, str):
                out.append(v)
            else:
                out.extend(json_exprs(v))
    elif isinstance(obj, list):
        for v in obj:
            out.extend(json_exprs(v))
    return out


def exposition_names(text, allow_declared):
    """Names present in a /metrics text (sample names; and declared ones)."""
    names = set()
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split()
            if allow_declared and len(parts) >= 4 and parts[1] == "TYPE":
                name, kind = parts[2], parts[3]
                names.add(name)
                if kind == "histogram" or kind == "summary":
                    names.update({name + "_bucket", name + "_sum", name + "_count"})
                if kind == "counter" and not name.endswith("_total"):
                    names.add(name + "_total")
            continue
        m = NAME.match(line)
        if m:
            names.add(m.group(0))
    return names


def label_names(series, start):
    """The label names of the `{...}` of `series` that opens at `start`."""
    if not series[start:].startswith("{"):
        return set()
    end = series.rfind("}")
    body = series[start + 1:end] if end > start else ""
    body = re.sub(r'"(?:[^"\\]|\\.)*"', '""', body)
    return set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*=", body))


def exposition_labels(text):
    """For each sample name of a /metrics text, the label names it has."""
    labels = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = NAME.match(line)
        if not m:
            continue
        labels.setdefault(m.group(0), set()).update(label_names(line, m.end()))
    return labels


def test_series(text):
    """(line, name, label names) of each `series:` of a promtool test file."""
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        m = re.match(r"""^\s*-?\s*series:\s*['"]?(.*?)['"]?\s*$""", line)
        if not m:
            continue
        series = m.group(1)
        n = NAME.match(series)
        if not n:
            out.append((i, series, None))
            continue
        out.append((i, n.group(0), label_names(series, n.end())))
    return out


def check_series(path, labels):
    """Problems with the input series of a promtool test file."""
    try:
        with open(path, encoding="utf-8") as f:
            series = test_series(f.read())
    except OSError as e:
        return [f"{path}: {e}"], 0
    problems = []
    for line, name, names in series:
        if names is None:
            problems.append(f"{path}:{line}: cannot read the series {name!r}")
            continue
        if name in SCRAPE_SERIES:
            continue
        if name not in labels:
            problems.append(f"{path}:{line}: {name} is not in the /metrics text")
            continue
        extra = names - {"job", "instance"} - labels[name]
        if extra:
            have = ", ".join(sorted(labels[name])) or "none"
            problems.append(f"{path}:{line}: {name} has no label {', '.join(sorted(extra))} "
                            f"in the /metrics text (it has: {have})")
    return problems, len(series)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metrics", action="append", required=True,
                    help="a /metrics text of a running node (repeat for several)")
    ap.add_argument("--allow-declared", action="store_true",
                    help="a # TYPE line is enough, no sample needed")
    ap.add_argument("--declared-ok", action="append", default=[], metavar="NAME",
                    help="for this name a # TYPE line is enough (a series that needs a live peer)")
    ap.add_argument("--series-of", action="append", default=[], metavar="FILE",
                    help="a promtool test file whose input series must match /metrics")
    ap.add_argument("files", nargs="+", help="rule files (.yml/.yaml) and dashboards (.json)")
    args = ap.parse_args()

    present = set()
    labels = {}
    for path in args.metrics:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
                present |= exposition_names(text, args.allow_declared)
                declared = exposition_names(text, True)
                present |= {n for n in args.declared_ok if n in declared}
                for name, names in exposition_labels(text).items():
                    labels.setdefault(name, set()).update(names)
        except OSError as e:
            print(f"{path}: {e}", file=sys.stderr)
            return 2
    if not present:
        print("no metric names in " + ", ".join(args.metrics), file=sys.stderr)
        return 2

    used = {}  # name -> files
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            print(f"{path}: {e}", file=sys.stderr)
            return 2
        if path.endswith(".json"):
            try:
                exprs = json_exprs(json.loads(text))
            except ValueError as e:
                print(f"{path}: not valid JSON: {e}", file=sys.stderr)
                return 2
        else:
            exprs = yaml_exprs(text, path)
        if not exprs:
            print(f"{path}: no PromQL expressions found", file=sys.stderr)
            return 2
        for e in exprs:
            for n in metric_names(e):
                used.setdefault(n, set()).add(path)

    missing = sorted(n for n in used if n not in present and n not in SCRAPE_SERIES)
    checked = len([n for n in used if n not in SCRAPE_SERIES])
    rc = 0
    if missing:
        print(f"{len(missing)} of {checked} metric names used are not in the /metrics text:")
        for n in missing:
            print(f"  {n}  (used in {', '.join(sorted(used[n]))})")
        rc = 1
    else:
        print(f"ok: all {checked} metric names used are in the /metrics text")
    for path in args.series_of:
        problems, count = check_series(path, labels)
        if problems:
            print(f"{len(problems)} input series of {path} do not match the /metrics text:")
            for p in problems:
                print(f"  {p}")
            rc = 1
        else:
            print(f"ok: all {count} input series of {path} match the /metrics text")
    return rc


if __name__ == "__main__":
    sys.exit(main())
