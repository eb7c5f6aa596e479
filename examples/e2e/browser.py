#!/usr/bin/env python3
"""Drives lvsd's status page in headless Chromium through ChromeDriver's W3C WebDriver API
(plain HTTP + JSON, no client library): load the page, log in with an operator's user name
and password, check the page gets its updates from the event stream, watch the connection
count change under traffic, drain a real server with its button, and save screenshots at
desktop and phone widths.

    browser.py DRIVER_URL PAGE_URL CLIENT_NS VIP_URL SERVER USER:PASSWORD OUTDIR

Prints `BROWSER ok screenshots=N` on success (the caller then checks the director's own
listing); exits non-zero otherwise.
Every wait is bounded.
"""
import base64
import json
import subprocess
import sys
import time
import urllib.request

DRIVER, PAGE, CLIENT_NS, VIP_URL, SERVER, TOKEN, OUT = sys.argv[1:8]


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(DRIVER + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}").get("value")


def js(sid, script, *args):
    return call("POST", f"/session/{sid}/execute/sync", {"script": script, "args": list(args)})


def wait(sid, script, what, limit=15.0):
    end = time.time() + limit
    while time.time() < end:
        v = js(sid, script)
        if v:
            return v
        time.sleep(0.2)
    raise SystemExit(f"FAIL: timed out waiting for {what}")


def shot(sid, name):
    png = base64.b64decode(call("GET", f"/session/{sid}/screenshot"))
    with open(f"{OUT}/{name}", "wb") as f:
        f.write(png)
    return name


def main():
    caps = {"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--window-size=1280,800"]}}}}
    sid = call("POST", "/session", caps)["sessionId"]
    shots = []
    try:
        call("POST", f"/session/{sid}/url", {"url": PAGE})
        # this lvsd has users and tokens: nothing shows until one logs in
        wait(sid, "return document.getElementById('msg').textContent.includes('login')",
             "the page to ask for a login")
        user, password = TOKEN.split(":", 1)
        for field, text in (("#user", user), ("#password", password)):
            el = call("POST", f"/session/{sid}/element", {"using": "css selector", "value": field})
            eid = next(iter(el.values()))
            call("POST", f"/session/{sid}/element/{eid}/value", {"text": text})
        js(sid, "document.querySelector('#login button[type=submit]').click(); return true")
        wait(sid, f"return document.getElementById('tokstate').textContent === '{user} (operator)'",
             "the login")
        if js(sid, "return document.getElementById('password').value") != "":
            raise SystemExit("FAIL: the password stayed in its field")
        if js(sid, "return document.cookie") != "":
            raise SystemExit("FAIL: the page set a cookie")
        wait(sid, "return document.querySelectorAll('[data-service]').length > 0", "the services")
        # live updates from the event stream, not polling
        wait(sid, "return document.body.dataset.live === 'sse'", "the event stream")
        conns = "return document.querySelector('[data-service]').innerText.match(/([0-9.]+k?) conns total/)[1]"
        before = js(sid, conns)
        for _ in range(5):
            subprocess.run(["ip", "netns", "exec", CLIENT_NS, "curl", "-sf", "--max-time", "5",
                            "-o", "/dev/null", VIP_URL], check=True)
        wait(sid, conns + f" !== {json.dumps(before)}", "the connection count to change")
        after = js(sid, conns)
        shots.append(shot(sid, "status-page-1280.png"))
        sel = f"tr[data-server='{SERVER}'] button.drain"
        wait(sid, f"return !!document.querySelector(\"{sel}\")", "the drain button")
        js(sid, f"document.querySelector(\"{sel}\").click(); return true")
        wait(sid, f"const r = document.querySelector(\"tr[data-server='{SERVER}'] td.weight\");"
                  " return r && r.textContent === '0'", "the page to show weight 0")
        # a hostile description renders as text: no script runs, the markup shows literally
        wait(sid, "return !!document.querySelector(\"tr[data-host='xss'] td.desc\")", "the hosts table")
        shown = js(sid, "return document.querySelector(\"tr[data-host='xss'] td.desc\").textContent")
        ran = js(sid, "return window.__xss === 1")
        if ran or "<script>" not in shown:
            raise SystemExit(f"FAIL: the page did not escape a description: ran={ran} shown={shown!r}")
        shots.append(shot(sid, "status-page-drained.png"))
        call("POST", f"/session/{sid}/window/rect", {"width": 390, "height": 844})
        time.sleep(1.2)
        shots.append(shot(sid, "status-page-phone.png"))
        print(f"page conns total {before} -> {after}")
    finally:
        call("DELETE", f"/session/{sid}")
    print(f"BROWSER ok screenshots={len(shots)}")


main()
