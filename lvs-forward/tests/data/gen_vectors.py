#!/usr/bin/env python3
"""Generates tests/data/vectors.rs: before/after byte vectors for every rewriter, built with
scapy (an implementation independent of lvs-forward). Run: python3 gen_vectors.py > vectors.rs
(scapy 2.x; `pip install scapy`)."""
from scapy.all import (Ether, IP, IPv6, TCP, UDP, ICMP, Raw, IPOption_Router_Alert,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, ICMPv6DestUnreach,
                       ICMPv6TimeExceeded, ICMPv6PacketTooBig)
from scapy.utils import checksum
import ipaddress

CLIENT4, VIP4, RIP4, DIR4, ROUTER4 = "192.0.2.10", "198.51.100.1", "10.0.0.2", "10.0.0.1", "203.0.113.1"
CLIENT6, VIP6, RIP6, DIR6, ROUTER6 = "2001:db8:c::10", "2001:db8:100::1", "2001:db8:10::2", "2001:db8:10::1", "2001:db8:ff::1"
MAC_GW, MAC_DIR, MAC_RS = "02:00:00:00:00:0c", "02:00:00:00:00:01", "02:00:00:00:00:02"
out = []


def emit(name, before, after):
    for suffix, b in (("BEFORE", before), ("AFTER", after)):
        b = bytes(b)
        body = ", ".join("0x%02x" % x for x in b)
        out.append("pub const %s_%s: &[u8] = &[%s];" % (name, suffix, body))
    out.append("pub const %s: (&[u8], &[u8]) = (%s_BEFORE, %s_AFTER);" % (name, name, name))


def raw(p):
    return bytes(p)


def v4_fix(b):
    """Recompute the IPv4 header checksum of raw header bytes b."""
    b = bytearray(b)
    ihl = (b[0] & 15) * 4
    b[10:12] = b"\0\0"
    c = checksum(bytes(b[:ihl]))
    b[10:12] = c.to_bytes(2, "big")
    return bytes(b)


def a4(s):
    return bytes(map(int, s.split(".")))


def a6(s):
    return ipaddress.IPv6Address(s).packed


def rewrite_quote(quoted, addr_at, addr, port_at, port):
    """The quoted packet bytes with the address at addr_at and the port at port_at replaced."""
    b = bytearray(quoted)
    b[addr_at:addr_at + len(addr)] = addr
    b[port_at:port_at + 2] = port.to_bytes(2, "big")
    return bytes(b)


# --- NAT ------------------------------------------------------------------------------------
def syn_to(dport):
    return TCP(sport=40000, dport=dport, flags="S", seq=1000, window=64240, options=[("MSS", 1460)])


syn = syn_to(80)
emit("NAT_IN_TCP4",
     Ether(src=MAC_GW, dst=MAC_DIR) / IP(src=CLIENT4, dst=VIP4, id=0x1234, flags="DF", ttl=64) / syn,
     Ether(src=MAC_GW, dst=MAC_DIR) / IP(src=CLIENT4, dst=RIP4, id=0x1234, flags="DF", ttl=64) / syn_to(8080))
synack = lambda sp: TCP(sport=sp, dport=40000, flags="SA", seq=5000, ack=1001, window=65160) / Raw(b"hello")
emit("NAT_OUT_TCP4",
     IP(src=RIP4, dst=CLIENT4, id=0x0777, flags="DF", ttl=63) / synack(8080),
     IP(src=VIP4, dst=CLIENT4, id=0x0777, flags="DF", ttl=63) / synack(80))
q = Raw(b"query-payload")
emit("NAT_IN_UDP4_OPTS",
     IP(src=CLIENT4, dst=VIP4, id=7, ttl=50, tos=0x28, options=[IPOption_Router_Alert()]) / UDP(sport=40000, dport=53) / q,
     IP(src=CLIENT4, dst=RIP4, id=7, ttl=50, tos=0x28, options=[IPOption_Router_Alert()]) / UDP(sport=40000, dport=5353) / q)
emit("NAT_OUT_UDP4_NOCSUM",
     IP(src=RIP4, dst=CLIENT4, id=8) / UDP(sport=5353, dport=40000, chksum=0) / q,
     IP(src=VIP4, dst=CLIENT4, id=8) / UDP(sport=53, dport=40000, chksum=0) / q)
emit("NAT_IN_TCP6",
     IPv6(src=CLIENT6, dst=VIP6, hlim=64, tc=0xb8, fl=0x12345) / syn,
     IPv6(src=CLIENT6, dst=RIP6, hlim=64, tc=0xb8, fl=0x12345) / syn_to(8080))
emit("NAT_OUT_UDP6_EXT",
     IPv6(src=RIP6, dst=CLIENT6, hlim=63) / IPv6ExtHdrDestOpt() / UDP(sport=5353, dport=40000) / q,
     IPv6(src=VIP6, dst=CLIENT6, hlim=63) / IPv6ExtHdrDestOpt() / UDP(sport=53, dport=40000) / q)
emit("NAT_IN_UDP6_HBH",
     IPv6(src=CLIENT6, dst=VIP6, hlim=64) / IPv6ExtHdrHopByHop() / UDP(sport=40000, dport=53) / q,
     IPv6(src=CLIENT6, dst=RIP6, hlim=64) / IPv6ExtHdrHopByHop() / UDP(sport=40000, dport=5353) / q)

# --- ICMP errors about NATed flows ----------------------------------------------------------
# in: a router on the client side reports the reply VIP:80 -> client:40000 unreachable
quoted = raw(IP(src=VIP4, dst=CLIENT4, id=0x0777, flags="DF", ttl=63) / synack(80))[:20 + 20 + 5]
quoted_after = v4_fix(rewrite_quote(quoted, 12, a4(RIP4), 20, 8080))
emit("ICMP_IN_V4",
     IP(src=ROUTER4, dst=VIP4, id=99, ttl=250) / ICMP(type=3, code=1) / Raw(quoted),
     IP(src=ROUTER4, dst=RIP4, id=99, ttl=250) / ICMP(type=3, code=1) / Raw(quoted_after))
# out: the real server reports port unreachable for client:40000 -> RIP:5353 (UDP)
quoted = raw(IP(src=CLIENT4, dst=RIP4, id=7, ttl=49) / UDP(sport=40000, dport=5353) / q)
quoted_after = v4_fix(rewrite_quote(quoted, 16, a4(VIP4), 22, 53))
emit("ICMP_OUT_V4",
     IP(src=RIP4, dst=CLIENT4, id=3, ttl=64) / ICMP(type=3, code=3) / Raw(quoted),
     IP(src=VIP4, dst=CLIENT4, id=3, ttl=64) / ICMP(type=3, code=3) / Raw(quoted_after))
quoted = raw(IPv6(src=VIP6, dst=CLIENT6, hlim=1) / TCP(sport=80, dport=40000, flags="A", seq=5001, ack=1001))
quoted_after = rewrite_quote(quoted, 8, a6(RIP6), 40, 8080)
emit("ICMP_IN_V6",
     IPv6(src=ROUTER6, dst=VIP6, hlim=255) / ICMPv6TimeExceeded(code=0) / Raw(quoted),
     IPv6(src=ROUTER6, dst=RIP6, hlim=255) / ICMPv6TimeExceeded(code=0) / Raw(quoted_after))
quoted = raw(IPv6(src=CLIENT6, dst=RIP6, hlim=63) / UDP(sport=40000, dport=5353) / q)
quoted_after = rewrite_quote(quoted, 24, a6(VIP6), 42, 53)
emit("ICMP_OUT_V6",
     IPv6(src=RIP6, dst=CLIENT6, hlim=64) / ICMPv6DestUnreach(code=4) / Raw(quoted),
     IPv6(src=VIP6, dst=CLIENT6, hlim=64) / ICMPv6DestUnreach(code=4) / Raw(quoted_after))

# --- tunnels --------------------------------------------------------------------------------
inner4 = raw(IP(src=CLIENT4, dst=VIP4, id=0x1234, flags="DF", ttl=63, tos=0x2b) / syn)  # ECN CE
emit("TUNNEL_IPIP_TCP4", inner4,
     raw(IP(src=DIR4, dst=RIP4, proto=4, tos=0x2a, ttl=63, flags="DF", id=0) / Raw(inner4)))
inner4_nodf = raw(IP(src=CLIENT4, dst=VIP4, id=0x1235, ttl=63, tos=0x10) / UDP(sport=40000, dport=53) / q)
emit("TUNNEL_IPIP_UDP4_NODF", inner4_nodf,
     raw(IP(src=DIR4, dst=RIP4, proto=4, tos=0x10, ttl=63, id=0x4242) / Raw(inner4_nodf)))
inner6 = raw(IPv6(src=CLIENT6, dst=VIP6, hlim=63, tc=0x2a, fl=0xabcde) / syn)
emit("TUNNEL_IPIP_TCP6", inner6,
     raw(IPv6(src=DIR6, dst=RIP6, nh=41, hlim=63, tc=0x2a, fl=0, plen=len(inner6))) + inner6)
FLOW_HASH = 0x12345678
def gue_sport(h):
    h = (h ^ (h << 16)) & 0xffffffff
    return ((h * (60999 - 32768)) >> 32) + 32768
gue4 = IP(src=DIR4, dst=RIP4, tos=0x2a, ttl=63, flags="DF", id=0) / UDP(sport=gue_sport(FLOW_HASH), dport=6080) / Raw(b"\x00\x04\x00\x00" + inner4)
emit("TUNNEL_GUE_TCP4", inner4, raw(gue4))
gue6 = IPv6(src=DIR6, dst=RIP6, hlim=63, tc=0x2a) / UDP(sport=gue_sport(FLOW_HASH), dport=6080, chksum=0) / Raw(b"\x00\x29\x00\x00" + inner6)
emit("TUNNEL_GUE_TCP6_NOCSUM", inner6, raw(gue6))

# --- direct routing -------------------------------------------------------------------------
dr_ip = IP(src=CLIENT4, dst=VIP4, id=0x1234, flags="DF", ttl=64) / syn
emit("DR_TCP4", Ether(src=MAC_GW, dst=MAC_DIR) / dr_ip, Ether(src=MAC_DIR, dst=MAC_RS) / dr_ip)

# --- MTU errors -----------------------------------------------------------------------------
big4 = raw(IP(src=CLIENT4, dst=VIP4, id=0x2222, flags="DF", ttl=64, tos=0x2a) / TCP(sport=40000, dport=80, flags="PA", seq=1, ack=1) / Raw((bytes(range(256)) * 6)[:1460]))
hdr = bytes([3, 4, 0, 0, 0, 0]) + (1380).to_bytes(2, "big")
body = hdr + big4[:548]
c = checksum(body)
icmp = body[:2] + c.to_bytes(2, "big") + body[4:]
emit("FRAG_NEEDED_V4", big4, raw(IP(src=VIP4, dst=CLIENT4, ttl=64, id=0, tos=0xc0 | (0x2a & 0x1e), proto=1) / Raw(icmp)))
big6 = raw(IPv6(src=CLIENT6, dst=VIP6, hlim=64) / TCP(sport=40000, dport=80, flags="PA", seq=1, ack=1) / Raw((bytes(range(256)) * 6)[:1440]))
emit("TOO_BIG_V6", big6, raw(IPv6(src=VIP6, dst=CLIENT6, hlim=64) / ICMPv6PacketTooBig(mtu=1280) / Raw(big6[:1232])))

print("// @generated by tests/data/gen_vectors.py with scapy; do not edit by hand.")
print("#![allow(dead_code)]")
print("\n".join(out))
