#!/usr/bin/env python3
"""A scripted, misbehaving BGP peer for pharos's tests.

Listens on ADDR:PORT (run it in the peer netns through `peer.sh start
script`), accepts the node's connections one after another and, for each,
plays MODE. Every event goes to the log file as one JSON object per line
({"t": unix time, "conn": n, "event": ..., ...}), so a test can read when
the node (re)connected and which NOTIFICATION it sent back.

Modes (what happens after the node's OPEN arrives):
  garbage       send bytes that are not BGP at all
  bad-update    complete the OPEN exchange, then send a malformed UPDATE
  notification  complete the OPEN exchange, then send a NOTIFICATION
                (Cease / Administrative Reset) and close
  bad-as        answer with an OPEN from the wrong AS
  silent        complete the OPEN exchange, then stay silent (hold timer)

Only the standard library; every socket operation has a timeout.
"""

import argparse
import json
import socket
import struct
import sys
import time

MARKER = b"\xff" * 16


def log(f, conn, event, **kw):
    kw.update(t=time.time(), conn=conn, event=event)
    f.write(json.dumps(kw) + "\n")
    f.flush()


def message(kind, body=b""):
    return MARKER + struct.pack("!HB", 19 + len(body), kind) + body


def open_msg(asn, hold, router_id):
    # 4-octet AS capability (65) and multiprotocol IPv4/IPv6 unicast (1).
    caps = bytes([65, 4]) + struct.pack("!I", asn)
    caps += bytes([1, 4, 0, 1, 0, 1]) + bytes([1, 4, 0, 2, 0, 1])
    params = bytes([2, len(caps)]) + caps
    my_as = asn if asn < 65536 else 23456
    body = struct.pack("!BHH4sB", 4, my_as, hold, socket.inet_aton(router_id), len(params)) + params
    return message(1, body)


def read_msg(s):
    """One BGP message as (type, body), or None at EOF."""
    head = b""
    while len(head) < 19:
        chunk = s.recv(19 - len(head))
        if not chunk:
            return None
        head += chunk
    length, kind = struct.unpack("!HB", head[16:19])
    body = b""
    while len(body) < length - 19:
        chunk = s.recv(length - 19 - len(body))
        if not chunk:
            return None
        body += chunk
    return kind, body


def drain(f, n, s, until=5.0):
    """Reads until EOF (or `until` seconds), logging NOTIFICATIONs."""
    s.settimeout(until)
    try:
        while True:
            m = read_msg(s)
            if m is None:
                log(f, n, "eof")
                return
            kind, body = m
            if kind == 3 and len(body) >= 2:
                log(f, n, "notification", code=body[0], subcode=body[1], data=body[2:].hex())
            else:
                log(f, n, "message", type=kind)
    except (socket.timeout, OSError) as e:
        log(f, n, "closed", error=str(e))


def session(f, n, s, args):
    s.settimeout(5)
    m = read_msg(s)
    if m is None or m[0] != 1:
        log(f, n, "no-open")
        return
    log(f, n, "open")
    if args.mode == "garbage":
        s.sendall(b"this is not BGP\r\n" * 4)
        log(f, n, "sent-garbage")
        drain(f, n, s)
        return
    asn = args.asn + 1 if args.mode == "bad-as" else args.asn
    s.sendall(open_msg(asn, args.hold, args.router_id))
    if args.mode == "bad-as":
        drain(f, n, s)
        return
    s.sendall(message(4))
    m = read_msg(s)  # the node's KEEPALIVE
    if m is None:
        log(f, n, "eof")
        return
    log(f, n, "established")
    if args.mode == "bad-update":
        # Total path attribute length 200, but only 4 octets follow.
        s.sendall(message(2, b"\x00\x00\x00\xc8\x40\x01\x01\x00"))
        log(f, n, "sent-bad-update")
        drain(f, n, s)
    elif args.mode == "notification":
        text = b"scripted peer says goodbye"
        s.sendall(message(3, bytes([6, 4, len(text)]) + text))
        log(f, n, "sent-notification")
        time.sleep(0.1)
    elif args.mode == "silent":
        drain(f, n, s, until=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--port", type=int, default=179)
    ap.add_argument("--mode", required=True,
                    choices=["garbage", "bad-update", "notification", "bad-as", "silent"])
    ap.add_argument("--asn", type=int, default=65000)
    ap.add_argument("--hold", type=int, default=9)
    ap.add_argument("--router-id", default="10.255.255.1")
    ap.add_argument("--log", required=True)
    ap.add_argument("--lifetime", type=float, default=300, help="exit after this many seconds")
    args = ap.parse_args()
    fam = socket.AF_INET6 if ":" in args.listen else socket.AF_INET
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.listen, args.port))
    srv.listen(4)
    srv.settimeout(1)
    deadline = time.time() + args.lifetime
    n = 0
    with open(args.log, "a") as f:
        log(f, 0, "listening", mode=args.mode)
        while time.time() < deadline:
            try:
                s, addr = srv.accept()
            except socket.timeout:
                continue
            n += 1
            log(f, n, "connect", peer=addr[0])
            try:
                session(f, n, s, args)
            except (OSError, socket.timeout) as e:
                log(f, n, "error", error=str(e))
            finally:
                s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
