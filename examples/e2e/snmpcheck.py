#!/usr/bin/env python3
"""Compares an snmpwalk of lvsd's LVS-MIB subtree with the director's own listings.

    snmpcheck.py WALK LIST STATS

WALK: `snmpwalk -m '' -On -Oq ... .1.3.6.1.4.1.8225.4711` output; LIST: `lvsd ctl -L -n`;
STATS: `lvsd ctl -L -n --stats --exact`. Every service's address, port, protocol and
scheduler and every real server's address, port, weight, active and inactive connections,
and the packet and byte counters must be equal. Prints `SNMPWALK ok services=S servers=R
compared=N`; exits non-zero at the first difference.
"""
import sys

BASE = ".1.3.6.1.4.1.8225.4711"
walk = {}
for line in open(sys.argv[1]):
    oid, _, val = line.strip().partition(" ")
    if oid.startswith(BASE + "."):
        walk[tuple(int(x) for x in oid[len(BASE) + 1:].split("."))] = val.strip().strip('"')

services = []  # [proto, addr, port, sched, [[addr, port, fwd, weight, active, inactive]]]
for line in open(sys.argv[2]):
    f = line.split()
    if f and f[0] in ("TCP", "UDP", "SCTP"):
        addr, port = f[1].rsplit(":", 1)
        services.append([f[0].lower(), addr, port, f[2], []])
    elif f and f[0] == "->" and f[1] != "RemoteAddress:Port":
        addr, port = f[1].rsplit(":", 1)
        services[-1][4].append([addr, port, f[2], f[3], f[4], f[5]])
stats, rs_stats = [], []
for line in open(sys.argv[3]):
    f = line.split()
    if f and f[0] in ("TCP", "UDP", "SCTP"):
        stats.append(f[2:7])
        rs_stats.append([])
    elif f and f[0] == "->" and f[1] != "RemoteAddress:Port":
        rs_stats[-1].append(f[2:7])

n = 0


def same(key, want, what):
    global n
    got = walk.get(key)
    if got != str(want):
        raise SystemExit(f"FAIL: {what}: snmpwalk {'.'.join(map(str, key))} = {got!r}, "
                         f"the director says {want!r}")
    n += 1


same((2, 0), len(services), "lvsNumServices")
proto = {"tcp": 1, "udp": 2, "sctp": 3}
servers = 0
for s, (p, addr, port, sched, rss) in enumerate(services, 1):
    same((17, 1, 2, s), proto[p], f"service {s} protocol")
    same((17, 1, 3, s), addr, f"service {s} address")
    same((17, 1, 4, s), port, f"service {s} port")
    same((17, 1, 6, s), sched, f"service {s} scheduler")
    same((17, 1, 10, s), len(rss), f"service {s} real servers")
    for c, v in zip(range(11, 16), stats[s - 1]):
        same((17, 1, c, s), v, f"service {s} counter {c}")
    for r, (raddr, rport, fwd, weight, active, inactive) in enumerate(rss, 1):
        servers += 1
        same((18, 1, 2, s, r), raddr, f"server {raddr} address")
        same((18, 1, 3, s, r), rport, f"server {raddr} port")
        same((18, 1, 4, s, r), {"Masq": 1, "Route": 2, "Tunnel": 3}[fwd], f"server {raddr} forwarding")
        same((18, 1, 5, s, r), weight, f"server {raddr} weight")
        same((18, 1, 6, s, r), active, f"server {raddr} active")
        same((18, 1, 7, s, r), inactive, f"server {raddr} inactive")
        for c, v in zip(range(9, 14), rs_stats[s - 1][r - 1]):
            same((18, 1, c, s, r), v, f"server {raddr} counter {c}")
if not services or not servers:
    raise SystemExit("FAIL: nothing to compare")
print(f"SNMPWALK ok services={len(services)} servers={servers} compared={n}")
