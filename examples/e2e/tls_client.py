#!/usr/bin/env python3
"""TLS client for tls.sh: identities that connect once (full handshake) and then come back
with their session (resumption attempts), through a given VIP, over TLS 1.2 or 1.3.

    tls_client.py VIP PORT VERSION IDENTS REPS WORKERS NAMES [ALLOWED] [GAP_MS]

NAMES: comma-separated server names, used in turn by the identities. ALLOWED (optional):
`name=r1+r2;name2=r2+r3`, the servers each name may reach (else misrouted). Each connection
sends `GET /` and reads the answer to the end (the server's name, `rN`), so TLS 1.3 tickets
have arrived before the session is kept. Prints one line:

    RESULT conns=.. attempts=.. resumed=.. full=.. misrouted=.. failed=.. hs_full_us=..
      hs_resumed_us=.. moved_full=..

`moved_full`: returns that landed on another server than the identity's last one with a full
handshake (the fallback after a server died). Failures are listed on stderr with their time.

TLS_CLIENT_SOURCES (environment, optional): comma-separated local addresses; identity k
connects from the k-th in turn (every connection of an identity from the same address).
"""
import os
import socket
import ssl
import sys
import threading
import time

vip, port, ver = sys.argv[1], int(sys.argv[2]), sys.argv[3]
idents, reps, workers = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
names = sys.argv[7].split(",")
allowed = {}
if len(sys.argv) > 8 and sys.argv[8]:
    for part in sys.argv[8].split(";"):
        n, s = part.split("=")
        allowed[n] = set(s.split("+"))
gap = float(sys.argv[9]) / 1000 if len(sys.argv) > 9 else 0.0
sources = [a for a in os.environ.get("TLS_CLIENT_SOURCES", "").split(",") if a]

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
v = ssl.TLSVersion.TLSv1_2 if ver == "1.2" else ssl.TLSVersion.TLSv1_3
ctx.minimum_version = v
ctx.maximum_version = v

lock = threading.Lock()
tot = dict(conns=0, attempts=0, resumed=0, full=0, misrouted=0, failed=0, moved_full=0)
hs = {"full": [], "resumed": []}


def one(name, session, src):
    t0 = time.monotonic()
    s = socket.create_connection((vip, port), timeout=5, source_address=src)
    try:
        t = ctx.wrap_socket(s, server_hostname=name, session=session)
        dt = time.monotonic() - t0
        t.sendall(b"GET / HTTP/1.0\r\nHost: " + name.encode() + b"\r\n\r\n")
        data = b""
        while True:
            b = t.recv(4096)
            if not b:
                break
            data += b
        reused = t.session_reused
        sess = t.session
        t.close()
    finally:
        s.close()
    body = data.split(b"\r\n\r\n", 1)[-1].strip().decode()
    if not (data.startswith(b"HTTP/1.1 200") and body[:1] == "r" and body[1:].isdigit()):
        raise ConnectionError(f"no complete answer ({len(data)} bytes)")
    return reused, sess, body, dt


def connect(k, st):
    """One connection of identity `k` with its state `st` = [session, last server]."""
    name = names[k % len(names)]
    session, last = st
    try:
        src = (sources[k % len(sources)], 0) if sources else None
        reused, sess, server, dt = one(name, session, src)
    except Exception as e:  # a failed connection: counted, listed, the identity goes on
        with lock:
            tot["conns"] += 1
            tot["failed"] += 1
            if session is not None:
                tot["attempts"] += 1
        print(f"FAILED t={time.time():.3f} ident={k} {type(e).__name__}: {e}", file=sys.stderr)
        return
    with lock:
        tot["conns"] += 1
        if session is not None:
            tot["attempts"] += 1
        if reused:
            tot["resumed"] += 1
            hs["resumed"].append(dt)
        else:
            tot["full"] += 1
            hs["full"].append(dt)
            if session is not None and last is not None and server != last:
                tot["moved_full"] += 1
        if allowed and server not in allowed.get(name, set()):
            tot["misrouted"] += 1
            print(f"MISROUTED {name} -> {server}", file=sys.stderr)
    st[0], st[1] = sess, server


def worker(w):
    """Worker `w` takes the identities k = w (mod workers) in turn, round after round, so
    that every identity holds a session at any time after the first round."""
    mine = {k: [None, None] for k in range(w, idents, workers)}
    for _ in range(reps + 1):
        for k, st in mine.items():
            connect(k, st)
            time.sleep(gap)


threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
for t in threads:
    t.start()
for t in threads:
    t.join()


def mean_us(xs):
    return int(1e6 * sum(xs) / len(xs)) if xs else 0


print(
    "RESULT "
    + " ".join(f"{k}={v}" for k, v in tot.items())
    + f" hs_full_us={mean_us(hs['full'])} hs_resumed_us={mean_us(hs['resumed'])}"
)
