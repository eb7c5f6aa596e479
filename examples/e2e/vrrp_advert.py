"""VRRP adverts from a fake peer, as raw Ethernet frames on an interface (e2e helper).

vrrp_advert.py VIP IFACE forged
    four adverts of priority 254 that a master must drop or survive (RFC 5798 section 7.1):
    a bad checksum, TTL 254, version 2 with simple-text authentication (RFC 3768), then a
    well-formed advert of priority 50 as a control.
vrrp_advert.py VIP IFACE repeat PRIORITY SECONDS
    well-formed VRRPv3 adverts of PRIORITY every 0.1 s for SECONDS.
The peer is 198.18.0.7 (MAC 02:00:00:00:aa:07), virtual router 51.
"""
import socket
import struct
import sys
import time

vip = socket.inet_aton(sys.argv[1])
iface, mode = sys.argv[2], sys.argv[3]
src, dst = socket.inet_aton("198.18.0.7"), socket.inet_aton("224.0.0.18")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def v3(prio, interval_cs, good=True):
    m = bytearray(struct.pack("!BBBBHH", 0x31, 51, prio, 1, interval_cs, 0) + vip)
    c = csum(src + dst + struct.pack("!BBH", 0, 112, len(m)) + bytes(m))
    m[6:8] = struct.pack("!H", c if good else c ^ 0x5555)
    return bytes(m)


def v2(prio):
    # type/version, vrid, priority, count, auth type 1 (simple text), advert interval 1 s
    m = bytearray(struct.pack("!BBBBBBH", 0x21, 51, prio, 1, 1, 1, 0) + vip + b"secret\0\0")
    m[6:8] = struct.pack("!H", csum(bytes(m)))
    return bytes(m)


def frame(msg, ttl=255):
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(msg), 0, 0, ttl, 112, 0, src, dst))
    ip[10:12] = struct.pack("!H", csum(bytes(ip)))
    eth = bytes.fromhex("01005e000012") + bytes.fromhex("02000000aa07") + b"\x08\x00"
    return eth + bytes(ip) + msg


s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
if mode == "forged":
    for f in (frame(v3(254, 100, good=False)), frame(v3(254, 100), ttl=254), frame(v2(254)), frame(v3(50, 100))):
        s.send(f)
elif mode == "repeat":
    prio, seconds = int(sys.argv[4]), float(sys.argv[5])
    f = frame(v3(prio, 10))
    end = time.time() + seconds
    while time.time() < end:
        s.send(f)
        time.sleep(0.1)
else:
    sys.exit("mode: forged or repeat")
