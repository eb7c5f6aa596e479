#!/usr/bin/env python3
"""Regenerates the TLS hello captures in this folder from real OpenSSL handshakes on loopback.

Runs `openssl s_server` on 127.0.0.1 and `openssl s_client` through a small TCP relay that
records both directions of each connection, then keeps, for each direction, the records that
carry the first handshake message (the ClientHello, the ServerHello) — exactly as they crossed
the wire. Files: <case>.client.bin and <case>.server.bin, plus MANIFEST.txt naming the commands.

Usage: python3 capture.py   (needs openssl on PATH; about 20 seconds)
"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Relay:
    """Accepts on a loopback port, connects each client to the upstream port, records bytes."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.conns = []  # (client bytes, server bytes) per connection
        self.stop = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            u = socket.create_connection((HOST, self.upstream))
            rec = [bytearray(), bytearray()]
            self.conns.append(rec)
            for src, dst, buf in ((c, u, rec[0]), (u, c, rec[1])):
                threading.Thread(target=self.pump, args=(src, dst, buf), daemon=True).start()

    @staticmethod
    def pump(src, dst, buf):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if len(buf) < 65536:
                    buf.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass


def hello_records(stream):
    """The leading records of `stream` that carry its first handshake message."""
    pos, hs = 0, bytearray()
    while pos + 5 <= len(stream):
        n = int.from_bytes(stream[pos + 3:pos + 5], "big")
        if stream[pos] != 22:
            raise ValueError("record type %d before the hello" % stream[pos])
        hs.extend(stream[pos + 5:pos + 5 + n])
        pos += 5 + n
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
            return bytes(stream[:pos])
    raise ValueError("hello incomplete in %d bytes" % len(stream))


def main():
    tmp = tempfile.mkdtemp(prefix="lvs-tls-capture.")
    key, cert = os.path.join(tmp, "k.pem"), os.path.join(tmp, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=www.example.com"],
                   check=True, capture_output=True)
    sess = os.path.join(tmp, "sess.pem")
    alpn = "h2,http/1.1"
    long_alpn = ",".join(["proto-%02d-%s" % (i, "x" * 20) for i in range(24)] + ["h2"])
    # (case, server options, [(client options, keep this connection as)...])
    cases = [
        ("tls12-sessionid", ["-no_ticket"], [
            (["-tls1_2", "-servername", "www.example.com", "-alpn", alpn, "-sess_out", sess], "tls12-full-noticket"),
            (["-tls1_2", "-servername", "www.example.com", "-alpn", alpn, "-sess_in", sess], "tls12-resume-sessionid"),
        ]),
        ("tls12-ticket", [], [
            (["-tls1_2", "-servername", "www.example.com", "-sess_out", sess], "tls12-full-ticket"),
            (["-tls1_2", "-servername", "www.example.com", "-sess_in", sess], "tls12-resume-ticket"),
        ]),
        ("tls13-psk", [], [
            (["-tls1_3", "-servername", "api.example.org", "-alpn", alpn, "-sess_out", sess], "tls13-full"),
            (["-tls1_3", "-servername", "api.example.org", "-alpn", alpn, "-sess_in", sess], "tls13-resume-psk"),
        ]),
        ("tls13-hrr", ["-groups", "P-256"], [
            (["-tls1_3", "-groups", "X25519:P-256", "-servername", "www.example.com"], "tls13-hrr"),
        ]),
        ("fragmented", [], [
            (["-servername", "frag.example.net", "-alpn", long_alpn, "-max_send_frag", "512"], "tls13-fragmented"),
        ]),
        ("nosni", [], [
            (["-tls1_2", "-noservername"], "tls12-nosni"),
        ]),
    ]
    manifest = ["# %s; regenerate with: python3 capture.py" % subprocess.run(
        ["openssl", "version"], capture_output=True, text=True).stdout.strip()]
    for case, sopts, clients in cases:
        port = free_port()
        server = subprocess.Popen(["openssl", "s_server", "-accept", "%s:%d" % (HOST, port), "-cert", cert,
                                   "-key", key, "-www", "-alpn", alpn] + sopts,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            relay = Relay(port)
            for copts, name in clients:
                before = len(relay.conns)
                # keep stdin open briefly so TLS 1.3 tickets arrive before the client quits
                client = subprocess.Popen(["openssl", "s_client", "-connect", "%s:%d" % (HOST, relay.port)] + copts,
                                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1.0)
                client.communicate(b"Q\n", timeout=10)
                time.sleep(0.3)
                cb, sb = relay.conns[before]
                for suffix, data in (("client", cb), ("server", sb)):
                    try:
                        out = hello_records(bytes(data))
                    except ValueError as e:
                        raise ValueError("%s %s: %s: %s" % (name, suffix, e, bytes(data[:40]).hex()))
                    with open(os.path.join(HERE, "%s.%s.bin" % (name, suffix)), "wb") as f:
                        f.write(out)
                manifest.append("%s: s_server %s | s_client %s" % (name, " ".join(sopts), " ".join(copts)))
            relay.stop = True
        finally:
            server.terminate()
            server.wait()
    with open(os.path.join(HERE, "MANIFEST.txt"), "w") as f:
        f.write("\n".join(manifest).replace(sess, "SESS").replace(long_alpn, "<24 names of 29 bytes>,h2") + "\n")
    print("wrote %d captures to %s" % (len(manifest) - 1, HERE))


if __name__ == "__main__":
    sys.exit(main())
