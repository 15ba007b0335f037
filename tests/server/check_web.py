#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_web: pyprof-server's web page in headless Chromium.

Starts the real server (`SERVER --listen 127.0.0.1:0 --data WORK/data`), checks that it serves
the page and its assets, posts folded profiles for two apps (webapp.cpu{env=test} in two time
ranges with different shapes, so the Compare view has something to show, and other.cpu), then
runs web-test.mjs (playwright-core + /usr/bin/chromium) against it: pick the app, flame graph,
click-zoom, top-functions table, label filter, diff view, download links, timeline drag, URL
state. Screenshots go to WORK/web/*.png.

Usage: check_web.py --server PATH --work DIR
Prints PASS name / FAIL name: why / SKIP name: why; exits 1 if anything failed.
"""
import argparse
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_MODULES = os.path.join(HERE, "..", "formats", "node_modules")
CHROMIUM = "/usr/bin/chromium"

failures = 0


def report(status, name, why=""):
    global failures
    if status == "FAIL":
        failures += 1
    print("%s %s%s" % (status, name, ": " + why if why else ""), flush=True)


# Two shapes of the same program: in the later range parse() got slower and render() faster.
BEFORE = """<module> (app.py:80);main (app.py:70);handle (app.py:40);parse (app.py:12);loads (json/__init__.py:346) 30
<module> (app.py:80);main (app.py:70);handle (app.py:40);parse (app.py:13) 10
<module> (app.py:80);main (app.py:70);handle (app.py:41);render (app.py:25);dumps (json/__init__.py:231) 40
<module> (app.py:80);main (app.py:70);handle (app.py:41);render (app.py:26) 15
<module> (app.py:80);main (app.py:70);handle (app.py:42);fib (app.py:5);fib (app.py:5);fib (app.py:5) 20
<module> (app.py:80);main (app.py:71);sleep (app.py:60) 5
Thread._bootstrap (threading.py:995);Thread.run (threading.py:975);worker (app.py:90);compress (zlib.py:10) 25
"""
AFTER = """<module> (app.py:80);main (app.py:70);handle (app.py:40);parse (app.py:12);loads (json/__init__.py:346) 70
<module> (app.py:80);main (app.py:70);handle (app.py:40);parse (app.py:13) 20
<module> (app.py:80);main (app.py:70);handle (app.py:41);render (app.py:25);dumps (json/__init__.py:231) 12
<module> (app.py:80);main (app.py:70);handle (app.py:41);render (app.py:26) 5
<module> (app.py:80);main (app.py:70);handle (app.py:42);fib (app.py:5);fib (app.py:5);fib (app.py:5) 22
<module> (app.py:80);main (app.py:71);sleep (app.py:60) 5
Thread._bootstrap (threading.py:995);Thread.run (threading.py:975);worker (app.py:90);compress (zlib.py:10) 28
"""
OTHER = "main (other.py:1);work (other.py:5) 7\nmain (other.py:1);idle (other.py:9) 3\n"


def start_server(server, data):
    proc = subprocess.Popen([server, "--listen", "127.0.0.1:0", "--data", data],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)
    threading.Thread(target=pump, daemon=True).start()
    seen = []
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            line = lines.get(timeout=deadline - time.time())
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        m = re.search(r"listening on (http://[\d.]+:\d+)", line)
        if m:
            return proc, m.group(1), ""
    proc.kill()
    proc.wait()
    return None, None, "".join(seen)[-2000:] or "no output"


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def ingest(base, name, frm, until, body):
    q = urllib.parse.urlencode({"name": name, "from": str(frm), "until": str(until),
                                "sampleRate": "100", "spyName": "pyprof"})
    return http("POST", "%s/ingest?%s" % (base, q), body.encode(), {"Content-Type": "text/plain"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    work = os.path.abspath(args.work)
    out = os.path.join(work, "web")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "data"))
    os.makedirs(out)

    node = shutil.which("node")
    if not node:
        report("SKIP", "web", "node not installed")
        return 0
    if not os.access(CHROMIUM, os.X_OK):
        report("SKIP", "web", "%s not installed" % CHROMIUM)
        return 0
    if not os.path.isdir(os.path.join(NODE_MODULES, "playwright-core")):
        report("SKIP", "web", "playwright-core not in tests/formats/node_modules (npm ci there)")
        return 0
    if not os.access(args.server, os.X_OK):
        report("FAIL", "web-server-start", "%s is not an executable" % args.server)
        return 1

    proc, base, why = start_server(os.path.abspath(args.server), os.path.join(work, "data"))
    if not proc:
        report("FAIL", "web-server-start", why)
        return 1
    report("PASS", "web-server-start")
    try:
        # The page and its assets are served by the server itself.
        bad = []
        for path, mime in (("/", "text/html"), ("/app.js", "javascript"), ("/style.css", "text/css")):
            code, hdrs, body = http("GET", base + path)
            ctype = hdrs.get("Content-Type", "") if hdrs else ""
            if code != 200 or mime not in ctype or not body:
                bad.append("%s: %s %r (%d bytes)" % (path, code, ctype, len(body)))
        code, _, body = http("GET", base + "/")
        if code == 200 and (b'src="/app.js"' not in body or b'href="/style.css"' not in body):
            bad.append("/ does not load /app.js and /style.css")
        report("FAIL" if bad else "PASS", "web-assets", "; ".join(bad))

        # Data: 30 ten-second profiles in each of two ranges inside the last hour
        # (now-50m..now-45m and now-20m..now-15m), and one other app.
        now = int(time.time())
        bad = []
        for start, body in ((now - 3000, BEFORE), (now - 1200, AFTER)):
            start -= start % 10
            for i in range(30):
                t = start + 10 * i
                code, _, resp = ingest(base, "webapp.cpu{env=test}", t, t + 10, body)
                if code != 200:
                    bad.append("%d: %s" % (code, resp[:200]))
        code, _, resp = ingest(base, "other.cpu{env=test}", now - 600, now - 590, OTHER)
        if code != 200:
            bad.append("other.cpu %d: %s" % (code, resp[:200]))
        report("FAIL" if bad else "PASS", "web-ingest", "; ".join(bad[:3]))
        if bad:
            return 1

        cmd = [node, os.path.join(HERE, "web-test.mjs"), base, out, "webapp.cpu"]
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=300)
        except subprocess.TimeoutExpired as e:
            report("FAIL", "web-test", "timed out after 300 s: %s" % (e.output or "")[-2000:])
            return 1
        passed = 0
        for line in r.stdout.splitlines():
            if line.startswith(("PASS ", "FAIL ", "SKIP ")):
                print(line, flush=True)
                passed += line.startswith("PASS ")
                if line.startswith("FAIL "):
                    failures_add()
        if r.returncode != 0 and not any(l.startswith("FAIL ") for l in r.stdout.splitlines()):
            report("FAIL", "web-test", "exit %d: %s" % (r.returncode, r.stdout[-2000:]))
        elif passed == 0:
            report("FAIL", "web-test", "no checks ran: %s" % r.stdout[-2000:])
        if os.path.exists(os.path.join(out, "web-flame.png")):
            print("screenshots in %s" % out, flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return 1 if failures else 0


def failures_add():
    global failures
    failures += 1


if __name__ == "__main__":
    sys.exit(main())
