#!/usr/bin/env python3
"""POST /zones once per zone, N requests in flight over kept-alive
connections (no process per request, unlike curl under xargs): the
server's cost per single call, for scripts/bench-add-zones.sh --how api.

usage: post_zones.py --url http://127.0.0.1:PORT --token T --primary ADDR
                     --zones-file FILE [--parallel 8]
Exits 1 naming the first zone that was not answered 201."""
import argparse
import http.client
import json
import sys
import threading
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--primary", required=True)
    ap.add_argument("--zones-file", required=True)
    ap.add_argument("--parallel", type=int, default=8)
    a = ap.parse_args()
    with open(a.zones_file) as f:
        names = [line.split()[0] for line in f if line.strip()]
    u = urllib.parse.urlsplit(a.url)
    lock = threading.Lock()
    todo = iter(names)
    failed = []

    def worker():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        headers = {"Authorization": "Bearer " + a.token, "Content-Type": "application/json"}
        while True:
            with lock:
                name = next(todo, None)
            if name is None:
                return
            body = json.dumps({"name": name, "primaries": [a.primary]})
            try:
                conn.request("POST", "/zones", body, headers)
                r = conn.getresponse()
                text = r.read()
                status = r.status
            except (OSError, http.client.HTTPException) as e:
                status, text = 0, str(e).encode()
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
            if status != 201:
                with lock:
                    failed.append((name, status, text[:200]))

    threads = [threading.Thread(target=worker) for _ in range(max(1, a.parallel))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        name, status, text = failed[0]
        print(f"post_zones: {len(failed)} not added; first {name}: HTTP {status} {text!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
