#!/usr/bin/env python3
"""Checks of lvsd's HTTP API for mgmt.sh (standard library only, every wait bounded).

    mgmt_api.py openapi API TOKEN
        Fetches /api/v1/openapi.json and sends every operation it lists (a harmless body,
        `{name}` as a name that does not exist); prints `OPENAPI ops=N unanswered=M` where an
        unanswered operation got 405 or 404 "no such resource" (the server does not route it).

    mgmt_api.py sse API VIEWER OPERATOR COMMAND SERVER WEIGHT
        Opens /api/v1/events with the viewer token, waits for the first `status` event, runs
        COMMAND through /api/v1/command with the operator token, and measures how long until a
        `change` event for it and a `status` event showing SERVER (ADDRESS:PORT) at WEIGHT
        arrive; prints `SSE ok change_ms=A status_ms=B`.
"""
import http.client
import json
import sys
import time
import urllib.parse


def conn(api):
    u = urllib.parse.urlsplit(api)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=5)


def openapi(api, token):
    c = conn(api)
    c.request("GET", "/api/v1/openapi.json")
    r = c.getresponse()
    doc = json.loads(r.read())
    assert r.status == 200, r.status
    ops = unanswered = 0
    for path, item in doc["paths"].items():
        for method in item:
            ops += 1
            p = path.replace("{name}", "nosuch-probe")
            c = conn(api)
            c.request(method.upper(), p, body=b"{}" if method != "get" else None,
                      headers={"Authorization": "Bearer " + token,
                               "Content-Type": "application/json"})
            r = c.getresponse()
            # an event stream never ends: the head is the answer
            body = b"" if r.getheader("Content-Type", "").startswith("text/event-stream") \
                else r.read()
            c.close()
            if r.status == 405 or (r.status == 404 and b"no such resource" in body):
                unanswered += 1
                print(f"unanswered: {method.upper()} {p}: {r.status}", file=sys.stderr)
    print(f"OPENAPI ops={ops} unanswered={unanswered}")


def events(resp):
    """Yields (event, data) from an SSE response, line by line."""
    ev, data = "message", ""
    while True:
        line = resp.readline()
        if not line:
            return
        line = line.decode().rstrip("\n")
        if line == "":
            if data:
                yield ev, data
            ev, data = "message", ""
        elif line.startswith("event: "):
            ev = line[7:]
        elif line.startswith("data: "):
            data += line[6:]


def weight_of(status, server):
    for svc in status["services"]:
        for rs in svc["real_servers"]:
            if f"{rs['address']}:{rs['port']}" == server:
                return rs["weight"]
    return None


def sse(api, viewer, operator, command, server, weight):
    c = conn(api)
    c.request("GET", "/api/v1/events", headers={"Authorization": "Bearer " + viewer})
    r = c.getresponse()
    assert r.status == 200, f"events: {r.status}"
    assert r.getheader("Content-Type") == "text/event-stream", r.getheader("Content-Type")
    stream = events(r)
    for ev, _ in stream:
        if ev == "status":
            break
    w = conn(api)
    t0 = time.monotonic()
    w.request("POST", "/api/v1/command", body=command.encode(),
              headers={"Authorization": "Bearer " + operator})
    wr = w.getresponse()
    assert wr.status == 200, f"command: {wr.status} {wr.read()!r}"
    change_ms = status_ms = None
    deadline = t0 + 10
    for ev, data in stream:
        now = time.monotonic()
        if now > deadline:
            break
        d = json.loads(data)
        if ev == "change" and d.get("path") == "/api/v1/command" and change_ms is None:
            assert d.get("who") == "ops", d
            assert set(d) == {"method", "path", "who", "status"}, d
            change_ms = (now - t0) * 1000
        elif ev == "status" and change_ms is not None and weight_of(d, server) == int(weight):
            status_ms = (now - t0) * 1000
            break
    if change_ms is None or status_ms is None:
        raise SystemExit(f"FAIL: change event {change_ms}, status event {status_ms}")
    print(f"SSE ok change_ms={change_ms:.0f} status_ms={status_ms:.0f}")


if __name__ == "__main__":
    {"openapi": openapi, "sse": sse}[sys.argv[1]](*sys.argv[2:])
