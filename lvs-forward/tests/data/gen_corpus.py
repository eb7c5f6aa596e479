#!/usr/bin/env python3
"""Writes the fuzz seed corpora (fuzz/corpus/<target>/) from tests/data/vectors.rs and a few
extra frames. Run from the repository root: python3 lvs-forward/tests/data/gen_corpus.py"""
import os, re, hashlib
src = open("lvs-forward/tests/data/vectors.rs").read()
vec = {m.group(1): bytes(int(x, 16) for x in m.group(2).split(", ") if x)
       for m in re.finditer(r"pub const (\w+): &\[u8\] = &\[([^\]]*)\];", src)}
ETH = {"NAT_IN_TCP4_BEFORE", "NAT_IN_TCP4_AFTER", "DR_TCP4_BEFORE", "DR_TCP4_AFTER"}
# ARP who-has 198.18.0.1 and an NDP solicitation for 2001:db8::1 (see the wire unit tests)
arp = bytes.fromhex("ffffffffffff020000000064080600010800060400010200000000" "64c6120064000000000000c6120001")
vec["ARP_REQUEST"] = arp
ETH.add("ARP_REQUEST")

def put(target, name, data):
    d = os.path.join("fuzz/corpus", target)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)

for name, b in vec.items():
    put("parse_packet", name.lower(), b)
    if name in ETH:
        continue
    for ctl in (0, 1, 2, 3):
        if name.startswith("NAT_") or name.startswith("TUNNEL") and name.endswith("BEFORE"):
            put("rewrite_nat", "%s_%d" % (name.lower(), ctl), bytes([ctl]) + b)
    if name.startswith("TUNNEL") and name.endswith("BEFORE"):
        for ctl, head in ((0, 20), (1, 40), (2, 32), (3, 52), (6, 32), (8, 20), (9, 40), (0x18, 20), (0, 19)):
            put("rewrite_tunnel", "%s_%02x_%d" % (name.lower(), ctl, head), bytes([ctl, head]) + b)
    if name.startswith("TUNNEL") and name.endswith("AFTER"):
        put("rewrite_tunnel", name.lower(), b)
    if name.startswith("ICMP_") or name.startswith("FRAG") or name.startswith("TOO_BIG") or name.startswith("NAT_"):
        for ctl in (0x00, 0x01, 0x40 | 100, 0x80 | 250, 0xc1):
            put("icmp_nat", "%s_%02x" % (name.lower(), ctl), bytes([ctl]) + b)
