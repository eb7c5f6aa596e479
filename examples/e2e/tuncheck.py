#!/usr/bin/env python3
"""Capture and check tunnelled frames for the lvsd end-to-end test (standard library only).

  tuncheck.py capture IFACE SECONDS OUT   record every frame seen on IFACE (run it inside the
                                           namespace that owns IFACE) into OUT; OUT.ready
                                           appears once it listens; it stops after SECONDS
                                           or as soon as OUT.stop exists
  tuncheck.py check CLIENT_CAP VIP:PORT DIRECTOR_ADDR RS_CAP:RIP:KIND[:PORT] ...
                                           check the tunnelled frames each real server received

For each real server capture, every frame whose outer header goes from the director to RIP
with protocol 4 (IPIP) or UDP to the GUE port is decapsulated and checked: the outer header is
well formed (version, length, header checksum, protocol; for GUE the UDP length and checksum
and a version-0 GUE header carrying protocol 4), and the inner packet is intact: its IPv4 and
TCP checksums verify, it goes from the client to VIP:PORT, and it equals, byte for byte, a
packet the client sent (captured on the client's interface) except for the TTL, one lower, and
the two checksums (the client's copy still carries the pseudo-header sum its kernel left for
the veth to finish). Prints one line per real server: `RIP KIND frames=N flows=M` and exits 1
on any bad frame.
"""

import os
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003


def capture(iface, seconds, out):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.settimeout(0.05)
    end = time.monotonic() + float(seconds)
    n = 0
    open(out + ".ready", "w").close()
    with open(out, "wb") as f:
        while time.monotonic() < end and not os.path.exists(out + ".stop"):
            try:
                b = s.recv(65600)
            except socket.timeout:
                continue
            f.write(struct.pack("!I", len(b)) + b)
            n += 1
        s.setblocking(False)
        while True:  # what is still queued was seen before the stop
            try:
                b = s.recv(65600)
            except (BlockingIOError, InterruptedError):
                break
            f.write(struct.pack("!I", len(b)) + b)
            n += 1
    print(f"captured {n} frames on {iface}", file=sys.stderr)


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    i = 0
    while i + 4 <= len(data):
        (n,) = struct.unpack("!I", data[i : i + 4])
        yield data[i + 4 : i + 4 + n]
        i += 4 + n


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ipv4(b):
    """(header length, total length, proto, src, dst, ttl) of a well-formed IPv4 header."""
    if len(b) < 20 or b[0] >> 4 != 4:
        return None
    ihl = (b[0] & 15) * 4
    total = struct.unpack("!H", b[2:4])[0]
    if ihl < 20 or total < ihl or total > len(b):
        return None
    return ihl, total, b[9], b[12:16], b[16:20], b[8]


def tcp_ok(ip):
    ihl, total, proto, src, dst, _ = ipv4(ip)
    seg = ip[ihl:total]
    ph = src + dst + struct.pack("!BBH", 0, proto, len(seg))
    return proto == 6 and csum(ph + seg) == 0xFFFF


def client_packets(path, vip, port):
    """Packets the client sent to VIP:PORT, keyed by (source port, sequence number)."""
    out = {}
    for f in frames(path):
        if len(f) < 34 or f[12:14] != b"\x08\x00":
            continue
        ip = f[14:]
        h = ipv4(ip)
        if not h or h[2] != 6 or h[4] != vip:
            continue
        ihl = h[0]
        sport, dport, seq = struct.unpack("!HHI", ip[ihl : ihl + 8])
        if dport == port:
            # a retransmitted SYN has the same key and other TCP options (timestamps)
            out.setdefault((sport, seq), []).append(ip[: h[1]])
    return out


def same_but_ttl_and_sums(inner, orig):
    if len(inner) != len(orig):
        return False
    ihl = (orig[0] & 15) * 4
    a, b = bytearray(inner), bytearray(orig)
    if a[8] + 1 != b[8]:
        return False
    for x in (a, b):
        x[8] = 0
        x[10:12] = b"\0\0"
        x[ihl + 16 : ihl + 18] = b"\0\0"
    return a == b


def check(argv):
    client_cap, vipport, director = argv[0], argv[1], argv[2]
    vip_s, port_s = vipport.rsplit(":", 1)
    vip, port = socket.inet_aton(vip_s), int(port_s)
    d = socket.inet_aton(director)
    sent = client_packets(client_cap, vip, port)
    ok = True
    for spec in argv[3:]:
        parts = spec.split(":")
        cap, rip, kind = parts[0], socket.inet_aton(parts[1]), parts[2]
        gue_port = int(parts[3]) if kind == "gue" else None
        n, flows, bad = 0, set(), []
        for f in frames(cap):
            if len(f) < 34 or f[12:14] != b"\x08\x00":
                continue
            outer = f[14:]
            h = ipv4(outer)
            if not h or h[4] != rip or h[3] != d:
                continue
            ihl, total, proto = h[0], h[1], h[2]
            if proto == 4:
                if kind != "ipip":
                    bad.append("IPIP frame to a GUE server")
                    continue
                inner = outer[ihl:total]
            elif proto == 17:
                sport, dport, ulen, ucs = struct.unpack("!HHHH", outer[ihl : ihl + 8])
                if kind != "gue" or dport != gue_port:
                    continue
                udp = outer[ihl:total]
                if ulen != len(udp):
                    bad.append("GUE: bad UDP length")
                    continue
                ph = h[3] + h[4] + struct.pack("!BBH", 0, 17, ulen)
                if ucs != 0 and csum(ph + udp) != 0xFFFF:
                    bad.append("GUE: bad UDP checksum")
                    continue
                g = udp[8:12]
                if g[0] != 0 or g[1] != 4:
                    bad.append(f"GUE: bad header {g.hex()}")
                    continue
                inner = udp[12:]
            else:
                continue
            n += 1
            if csum(outer[:ihl]) != 0xFFFF:
                bad.append("outer IPv4 header checksum")
                continue
            hi = ipv4(inner)
            if not hi or hi[1] != len(inner):
                bad.append("inner packet is not one whole IPv4 packet")
                continue
            if csum(inner[: hi[0]]) != 0xFFFF or not tcp_ok(inner):
                bad.append("inner checksums do not verify")
                continue
            sport, dport, seq = struct.unpack("!HHI", inner[hi[0] : hi[0] + 8])
            if hi[4] != vip or dport != port:
                bad.append("inner packet is not for the virtual service")
                continue
            origs = sent.get((sport, seq))
            if origs is None:
                bad.append(f"inner packet {sport}/{seq} was never sent by the client")
                continue
            if not any(same_but_ttl_and_sums(inner, o) for o in origs):
                diffs = [
                    [i for i in range(min(len(inner), len(o))) if inner[i] != o[i]]
                    + ([f"len {len(inner)}/{len(o)}"] if len(inner) != len(o) else [])
                    for o in origs
                ]
                bad.append(
                    f"inner packet {sport}/{seq} differs from what the client sent "
                    f"(differing bytes against each of {len(origs)} copies: {diffs})"
                )
                continue
            flows.add(sport)
        print(f"{socket.inet_ntoa(rip)} {kind} frames={n} flows={len(flows)}")
        for b in bad:
            print(f"  BAD: {b}")
        ok = ok and not bad and n > 0
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "capture":
        capture(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) >= 5 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2:]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
