#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Integration tests of pyprof-server over HTTP (python3 stdlib only).

    python3 tests/server/run.py --server PATH [--pyprof PATH] [--node-modules DIR] [-k NAME]

Each test starts its own server on 127.0.0.1:0 with a temporary data directory, talks to it
with urllib (or raw sockets), and prints PASS/FAIL/SKIP lines; the run ends with
"N passed, N failed, N skipped" and exits 1 when something failed.
"""
import argparse
import gzip
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ARGS = None


class Skip(Exception):
    pass


# === Server process ============================================================================

class Server:
    def __init__(self, *extra, data=None):
        self.tmp = None
        if data is None:
            self.tmp = tempfile.mkdtemp(prefix="pyprof-server-test-")
            data = os.path.join(self.tmp, "data")
        self.data = data
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self):
        cmd = [ARGS.server, "--listen", "127.0.0.1:0", "--data", self.data, "--quiet"] + self.extra
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = b""
        deadline = time.time() + 15
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if line or self.proc.poll() is not None:
                break
        m = re.match(rb"listening on (http://127\.0\.0\.1:(\d+))", line)
        if not m:
            self.proc.kill()
            err = self.proc.stderr.read().decode(errors="replace")
            raise AssertionError("server did not start: %r %s" % (line, err))
        self.url = m.group(1).decode()
        self.port = int(m.group(2))

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not exit on %s" % sig)
        return self.proc.returncode

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def close(self):
        try:
            self.stop()
        finally:
            if self.tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def http(method, url, body=None, headers=None, timeout=30):
    """(status, headers, body) of one request; HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def q(**kw):
    return urllib.parse.urlencode(kw)


def ingest(srv, name, body, frm=None, until=None, headers=None, **params):
    p = {"name": name}
    if frm is not None:
        p["from"] = str(frm)
    if until is not None:
        p["until"] = str(until)
    p.update({k: str(v) for k, v in params.items()})
    return http("POST", "%s/ingest?%s" % (srv.url, q(**p)), body, headers)


def render(srv, query, frm="now-1h", until="now", fmt="folded", headers=None, **extra):
    st, h, b = http("GET", "%s/render?%s" % (srv.url, q(query=query, **{"from": frm},
                                                        until=until, format=fmt, **extra)),
                    headers=headers)
    assert st == 200, "render %s -> %d %s" % (query, st, b[:200])
    return b


def folded_total(text):
    total = 0
    for line in text.decode().splitlines():
        if line.strip():
            total += int(line.rsplit(" ", 1)[1])
    return total


def eq(got, want, what=""):
    assert got == want, "%s:\n  got:  %r\n  want: %r" % (what, got, want)


def window(age=600):
    """An aligned 10 s window `age` seconds ago, and a render range around it."""
    t = (int(time.time()) - age) // 10 * 10
    return t, t + 10, t - 10, t + 30


def pyprof_convert(src, fmt, dst):
    if not ARGS.pyprof:
        raise Skip("--pyprof not given")
    subprocess.run([ARGS.pyprof, "convert", src, "-f", fmt, "-o", dst], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(dst, "rb") as f:
        return f.read()


FOLDED = b"main;foo 3\nmain;bar 1\n"
FOLDED_SORTED = b"main;bar 1\nmain;foo 3\n"


# === Tests =====================================================================================

def test_basics(tmp):
    with Server() as s:
        eq(http("GET", s.url + "/healthz")[0], 200, "healthz")
        st, h, b = http("GET", s.url + "/")
        eq(st, 200, "/")
        assert "text/html" in h.get("Content-Type", ""), h
        eq(http("GET", s.url + "/app.js")[0], 200, "/app.js")
        eq(http("GET", s.url + "/style.css")[0], 200, "/style.css")
        eq(http("GET", s.url + "/nope")[0], 404, "unknown path")
        eq(http("GET", s.url + "/ingest")[0], 405, "GET /ingest")
        eq(http("POST", s.url + "/render", b"x")[0], 405, "POST /render")
        st, h, b = http("GET", s.url + "/api/apps")
        eq((st, json.loads(b)), (200, []), "no apps")


def test_folded(tmp):
    with Server() as s:
        frm, until, a, b = window()
        st, h, body = ingest(s, "fold.cpu", FOLDED, frm, until)
        eq((st, body), (200, b""), "ingest folded")
        eq(render(s, "fold.cpu", a, b), FOLDED_SORTED, "folded read back")
        # format=folded is not special: it falls through to folded, as in Pyroscope.
        eq(ingest(s, "fold2.cpu", FOLDED, frm, until, format="folded")[0], 200, "format=folded")
        eq(render(s, "fold2.cpu", a, b), FOLDED_SORTED, "format=folded read back")
        # Frame names with spaces: the count is after the last space; file:line split and kept.
        body = b"run (app.py:10);do work (lib/x.py:3) 5\n"
        eq(ingest(s, "fold3.cpu", body, frm, until)[0], 200, "spaces")
        eq(render(s, "fold3.cpu", a, b), body, "spaces read back")
        # ms, us and ns timestamps name the same window.
        for i, scale in enumerate((1000, 1000000, 1000000000)):
            eq(ingest(s, "fold-t%d.cpu" % i, b"x 1\n", frm * scale, until * scale)[0], 200,
               "time scale %d" % scale)
            eq(render(s, "fold-t%d.cpu" % i, a, b), b"x 1\n", "time scale %d read back" % scale)
        # No from/until: the last 10 s.
        eq(ingest(s, "fold-now.cpu", b"y 2\n")[0], 200, "no from/until")
        eq(render(s, "fold-now.cpu", "now-5m", "now+1m"), b"y 2\n", "now read back")
        eq(ingest(s, "fold-rel.cpu", b"z 2\n", "now-30m", "now-29m")[0], 200, "relative")
        eq(render(s, "fold-rel.cpu", "now-31m", "now-28m"), b"z 2\n", "relative read back")
        eq(render(s, "fold-rel.cpu", "now-20m", "now"), b"", "relative outside range")


def test_lines(tmp):
    with Server() as s:
        frm, until, a, b = window()
        eq(ingest(s, "lines.cpu", b"a;b\na;b\n\na;c\r\n", frm, until, format="lines")[0], 200,
           "lines")
        eq(render(s, "lines.cpu", a, b), b"a;b 2\na;c 1\n", "lines read back")


def test_gzip_encoding(tmp):
    with Server() as s:
        frm, until, a, b = window()
        st, _, body = ingest(s, "gz.cpu", gzip.compress(FOLDED), frm, until,
                             headers={"Content-Encoding": "gzip"})
        eq(st, 200, "gzip folded %s" % body)
        eq(render(s, "gz.cpu", a, b), FOLDED_SORTED, "gzip read back")
        eq(ingest(s, "gz2.cpu", b"not gzip", frm, until,
                  headers={"Content-Encoding": "gzip"})[0], 422, "bad gzip")


def test_pprof(tmp):
    src = os.path.join(tmp, "in.folded")
    with open(src, "wb") as f:
        f.write(FOLDED)
    pb = pyprof_convert(src, "pprof", os.path.join(tmp, "out.pb.gz"))
    assert pb[:2] == b"\x1f\x8b"
    with Server() as s:
        frm, until, a, b = window()
        eq(ingest(s, "pp.cpu", pb, frm, until, format="pprof")[0], 200, "gzipped pprof")
        eq(render(s, "pp.cpu", a, b), FOLDED_SORTED, "gzipped pprof read back")
        eq(ingest(s, "ppraw.cpu", gzip.decompress(pb), frm, until, format="pprof")[0], 200,
           "raw pprof")
        eq(render(s, "ppraw.cpu", a, b), FOLDED_SORTED, "raw pprof read back")
        # No type in the name: the profile's sample type names it (cpu here).
        eq(ingest(s, "pptyped", pb, frm, until, format="pprof")[0], 200, "untyped name")
        apps = json.loads(http("GET", s.url + "/api/apps")[2])
        assert "pptyped.cpu" in apps, apps
        # The Go client / docs example: multipart form with a `profile` file part.
        boundary = "----pyprofboundary%d" % random.randrange(1 << 30)
        parts = [
            b"--" + boundary.encode() + b"\r\n"
            b'Content-Disposition: form-data; name="profile"; filename="profile.pprof"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n" + pb + b"\r\n",
            b"--" + boundary.encode() + b"\r\n"
            b'Content-Disposition: form-data; name="sample_type_config"; filename="c.json"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n"
            b'{"samples":{"units":"samples","display-name":"cpu"}}\r\n',
            b"--" + boundary.encode() + b"--\r\n",
        ]
        st, _, body = ingest(s, "mp.cpu", b"".join(parts), frm, until,
                             headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        eq(st, 200, "multipart %s" % body)
        eq(render(s, "mp.cpu", a, b), FOLDED_SORTED, "multipart read back")
        st, _, _ = ingest(s, "mp2.cpu", parts[1] + parts[2], frm, until,
                          headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        eq(st, 422, "multipart without profile")


def test_speedscope(tmp):
    src = os.path.join(tmp, "in.folded")
    with open(src, "wb") as f:
        f.write(FOLDED)
    ss = pyprof_convert(src, "speedscope", os.path.join(tmp, "out.speedscope.json"))
    with Server() as s:
        frm, until, a, b = window()
        st, _, body = ingest(s, "ss.cpu", ss, frm, until, format="speedscope")
        eq(st, 200, "speedscope %s" % body)
        eq(render(s, "ss.cpu", a, b), FOLDED_SORTED, "speedscope read back")
        # Evented, in milliseconds at 100 Hz: 30 ms in main;foo = 3 samples.
        ev = {"$schema": "https://www.speedscope.app/file-format-schema.json",
              "shared": {"frames": [{"name": "main"}, {"name": "foo"}]},
              "profiles": [{"type": "evented", "name": "x", "unit": "milliseconds",
                            "startValue": 0, "endValue": 40,
                            "events": [{"type": "O", "frame": 0, "at": 0},
                                       {"type": "O", "frame": 1, "at": 10},
                                       {"type": "C", "frame": 1, "at": 40},
                                       {"type": "C", "frame": 0, "at": 40}]}]}
        eq(ingest(s, "ssev.cpu", json.dumps(ev).encode(), frm, until,
                  format="speedscope")[0], 200, "evented")
        eq(render(s, "ssev.cpu", a, b), b"main 1\nmain;foo 3\n", "evented read back")
        eq(ingest(s, "ssbad.cpu", b'{"profiles": []}', frm, until, format="speedscope")[0],
           422, "speedscope without $schema")


def test_errors(tmp):
    with Server("--max-body", "1MiB") as s:
        frm, until, a, b = window()
        eq(ingest(s, "", FOLDED)[0], 400, "empty name")
        eq(http("POST", s.url + "/ingest", FOLDED)[0], 400, "missing name")
        eq(ingest(s, "bad name{", FOLDED)[0], 400, "bad name")
        eq(ingest(s, "app.cpu{k=v", FOLDED)[0], 400, "unclosed braces")
        eq(ingest(s, "ok.cpu", FOLDED, "yesterday")[0], 400, "bad from")
        eq(ingest(s, "ok.cpu", FOLDED, until="now-1x")[0], 400, "bad until")
        eq(ingest(s, "ok.cpu", FOLDED, format="trie")[0], 400, "trie")
        eq(ingest(s, "ok.cpu", b"a;b notanumber\n")[0], 422, "bad folded")
        eq(ingest(s, "ok.cpu", b"\x00\x01garbage", format="pprof")[0], 422, "bad pprof")
        eq(ingest(s, "ok.cpu", b"{", format="speedscope")[0], 422, "bad speedscope")
        st, _, _ = ingest(s, "big.cpu", b"a 1\n" * (300 * 1024))  # 1.2 MB > 1 MiB
        eq(st, 413, "body too large")
        # Chunked upload over the limit (no Content-Length): 413 at the end.
        eq(chunked_post(s, "/ingest?name=big2.cpu", [b"a 1\n" * 100000] * 4), 413, "chunked 413")
        eq(chunked_post(s, "/ingest?name=chunk.cpu&" + q(**{"from": frm, "until": until}),
                        [b"main;foo 3\n", b"main;bar 1\n"]), 200, "chunked ok")
        eq(render(s, "chunk.cpu", a, b), FOLDED_SORTED, "chunked read back")
        # Nothing of the refused uploads was stored.
        apps = json.loads(http("GET", s.url + "/api/apps")[2])
        eq(apps, ["chunk.cpu"], "apps after errors")
        # Render-side 400s.
        eq(http("GET", s.url + "/render?format=folded")[0], 400, "render without query")
        eq(http("GET", s.url + "/render?" + q(query='x{a="b"'))[0], 400, "bad selector")
        eq(http("GET", s.url + "/render?" + q(query="x.cpu", format="gif"))[0], 400, "bad format")
        eq(http("GET", s.url + "/render?" + q(query="x.cpu", **{"from": "bad"}))[0], 400,
           "bad render from")
        eq(http("GET", s.url + "/label-values")[0], 400, "label-values without label")
        eq(http("GET", s.url + "/render-diff?format=folded&leftQuery=x.cpu")[0], 400,
           "render-diff bad format")
        m = http("GET", s.url + "/metrics")[2].decode()
        for code, n in (("200", 1), ("400", 7), ("413", 2), ("422", 3)):
            assert 'pyprof_ingest_requests_total{code="%s"} %d' % (code, n) in m, (code, m)


def chunked_post(s, path, chunks):
    c = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    c.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               "Connection: close\r\n\r\n" % path).encode())
    for ch in chunks:
        c.sendall(b"%x\r\n%s\r\n" % (len(ch), ch))
    c.sendall(b"0\r\n\r\n")
    resp = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        resp += d
    c.close()
    return int(resp.split(b" ", 2)[1])


def test_rate_limit(tmp):
    with Server("--ingest-rate", "2") as s:
        codes = [ingest(s, "rl.cpu", b"a 1\n")[0] for _ in range(8)]
        assert 429 in codes and 200 in codes, codes
        time.sleep(1.1)
        eq(ingest(s, "rl.cpu", b"a 1\n")[0], 200, "after the bucket refills")


def test_drain(tmp):
    """SIGTERM: new ingests get 503, the upload in flight completes, exit 0."""
    s = Server("--drain-timeout", "10")
    try:
        frm, until, a, b = window()
        body = b"main;slow 7\n"
        c = socket.create_connection(("127.0.0.1", s.port), timeout=30)
        c.sendall(("POST /ingest?name=slow.cpu&from=%d&until=%d HTTP/1.1\r\nHost: x\r\n"
                   "Content-Length: %d\r\nConnection: close\r\n\r\n" % (frm, until, len(body))
                   ).encode() + body[:4])
        time.sleep(0.3)
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        eq(ingest(s, "late.cpu", b"a 1\n")[0], 503, "ingest while draining")
        c.sendall(body[4:])
        resp = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            resp += d
        c.close()
        eq(int(resp.split(b" ", 2)[1]), 200, "in-flight upload")
        eq(s.stop(), 0, "exit code after drain")
        s.start()
        eq(render(s, "slow.cpu", a, b), b"main;slow 7\n", "drained upload is stored")
    finally:
        s.close()


def test_selectors(tmp):
    with Server() as s:
        frm, until, a, b = window()
        for name, body in (("sel.cpu{env=prod,host=web1}", b"a 1\n"),
                           ("sel.cpu{host=web2, env=prod}", b"b 2\n"),
                           ("sel.cpu{env=dev,host=db1}", b"c 4\n"),
                           ("other.cpu{env=prod}", b"z 8\n")):
            eq(ingest(s, name, body, frm, until)[0], 200, name)
        cases = [
            ("sel.cpu", b"a 1\nb 2\nc 4\n"),
            ("sel.cpu{}", b"a 1\nb 2\nc 4\n"),
            ('sel.cpu{env="prod"}', b"a 1\nb 2\n"),
            ('sel.cpu{env!="prod"}', b"c 4\n"),
            ('sel.cpu{host=~"web.*"}', b"a 1\nb 2\n"),
            ('sel.cpu{host!~"web.*"}', b"c 4\n"),
            ('sel.cpu{env="prod",host="web2"}', b"b 2\n"),
            ('sel.cpu{host=~"web"}', b""),  # anchored
            ('sel.cpu{nope="x"}', b""),
            ('sel.cpu{nope=""}', b"a 1\nb 2\nc 4\n"),
        ]
        for query, want in cases:
            eq(render(s, query, a, b), want, query)
        eq(json.loads(http("GET", s.url + "/api/apps")[2]), ["other.cpu", "sel.cpu"], "apps")
        eq(json.loads(http("GET", s.url + "/labels?" + q(query="sel.cpu"))[2]),
           ["env", "host"], "labels")
        eq(json.loads(http("GET", s.url + "/label-values?" + q(label="env", query="sel.cpu"))[2]),
           ["dev", "prod"], "label-values")
        eq(json.loads(http("GET", s.url + "/label-values?" + q(label="host"))[2]),
           ["db1", "web1", "web2"], "label-values, all apps")
        eq(json.loads(http("GET", s.url + "/label-values?" + q(label="__name__"))[2]),
           ["other.cpu", "sel.cpu"], "label-values __name__")


def test_render_formats(tmp):
    with Server() as s:
        frm, until, a, b = window()
        eq(ingest(s, "fmt.cpu", FOLDED, frm, until)[0], 200, "ingest")
        j = json.loads(render(s, "fmt.cpu", a, b, "json"))
        fb = j["flamebearer"]
        eq(fb["names"], ["total", "main", "bar", "foo"], "names")
        eq(fb["levels"], [[0, 4, 0, 0], [0, 4, 0, 1], [0, 1, 1, 2, 0, 3, 3, 3]], "levels")
        eq((fb["numTicks"], fb["maxSelf"]), (4, 3), "ticks")
        eq(j["metadata"]["format"], "single", "metadata.format")
        eq(j["metadata"]["appName"], "fmt.cpu", "metadata.appName")
        tl = j["timeline"]
        eq(sum(tl["samples"]), 4, "timeline total")
        assert tl["durationDelta"] >= 10 and tl["startTime"] <= frm, tl
        idx = (frm - tl["startTime"]) // tl["durationDelta"]
        eq(tl["samples"][idx], 4, "timeline step of the upload")
        j = json.loads(render(s, "fmt.cpu", a, b, "json", maxNodes="1"))
        eq(j["flamebearer"]["names"], ["total", "main", "other"], "maxNodes=1 names")
        svg = render(s, "fmt.cpu", a, b, "svg")
        assert svg.lstrip().startswith(b"<?xml") or svg.lstrip().startswith(b"<svg"), svg[:80]
        assert b"foo" in svg
        ss = json.loads(render(s, "fmt.cpu", a, b, "speedscope"))
        assert ss["$schema"].startswith("https://www.speedscope.app/"), ss
        pb = render(s, "fmt.cpu", a, b, "pprof")
        eq(pb[:2], b"\x1f\x8b", "pprof magic")
        eq(render(s, "fmt.cpu", a, b, "collapsed"), FOLDED_SORTED, "collapsed")
        # render-diff: json in the double format, and svg.
        frm2 = frm + 60
        eq(ingest(s, "fmt.cpu", b"main;foo 1\nmain;baz 2\n", frm2, frm2 + 10)[0], 200, "right")
        u = s.url + "/render-diff?" + q(leftQuery="fmt.cpu", leftFrom=a, leftUntil=b,
                                        rightQuery="fmt.cpu", rightFrom=frm2, rightUntil=frm2 + 10,
                                        format="json")
        st, _, body = http("GET", u)
        eq(st, 200, "render-diff json")
        d = json.loads(body)
        eq(d["metadata"]["format"], "double", "diff format")
        eq((d["leftTicks"], d["rightTicks"]), (4, 3), "diff ticks")
        eq(d["flamebearer"]["names"], ["total", "main", "bar", "baz", "foo"], "diff names")
        eq(d["flamebearer"]["levels"][2],
           [0, 1, 1, 0, 0, 0, 2, 0, 0, 0, 0, 2, 2, 3, 0, 3, 3, 0, 1, 1, 4], "diff level 2")
        st, _, body = http("GET", u.replace("format=json", "format=svg"))
        eq(st, 200, "render-diff svg")
        assert b"<svg" in body
        m = http("GET", s.url + "/metrics")[2].decode()
        assert re.search(r"pyprof_render_duration_seconds_count (\d+)", m).group(1) != "0", m
        assert "pyprof_store_disk_bytes" in m, m


def test_auth(tmp):
    with Server("--ingest-token", "in-secret", "--read-token", "read-secret") as s:
        frm, until, a, b = window()
        eq(ingest(s, "auth.cpu", FOLDED, frm, until)[0], 401, "no token")
        eq(ingest(s, "auth.cpu", FOLDED, frm, until,
                  headers={"Authorization": "Bearer wrong"})[0], 401, "wrong token")
        eq(ingest(s, "auth.cpu", FOLDED, frm, until,
                  headers={"Authorization": "Bearer read-secret"})[0], 401, "read token")
        eq(ingest(s, "auth.cpu", FOLDED, frm, until,
                  headers={"Authorization": "Bearer in-secret"})[0], 200, "ingest token")
        u = s.url + "/render?" + q(query="auth.cpu", format="folded", **{"from": a}, until=b)
        eq(http("GET", u)[0], 401, "render without token")
        eq(http("GET", u, headers={"Authorization": "Bearer in-secret"})[0], 401,
           "render with the ingest token")
        st, _, body = http("GET", u, headers={"Authorization": "Bearer read-secret"})
        eq((st, body), (200, FOLDED_SORTED), "render with the read token")
        eq(http("GET", u + "&token=read-secret")[0], 200, "token in the query")
        for path in ("/api/apps", "/labels", "/label-values?label=x", "/metrics",
                     "/render-diff?leftQuery=auth.cpu"):
            eq(http("GET", s.url + path)[0], 401, path)
        eq(http("GET", s.url + "/healthz")[0], 200, "healthz is open")
        eq(http("GET", s.url + "/")[0], 200, "the page is open")


def test_nodejs(tmp):
    mods = ARGS.node_modules
    if not shutil.which("node"):
        raise Skip("node not installed")
    if not os.path.isdir(os.path.join(mods, "@pyroscope", "nodejs")):
        raise Skip("@pyroscope/nodejs not in %s" % mods)
    with Server() as s:
        t0 = int(time.time())
        r = subprocess.run(["node", os.path.join(HERE, "node-client.js"), mods, s.url,
                            "nodetest", "4"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
        apps = json.loads(http("GET", s.url + "/api/apps")[2])
        assert "nodetest.wall" in apps, apps
        m = http("GET", s.url + "/metrics")[2].decode()
        n200 = int(re.search(r'pyprof_ingest_requests_total\{code="200"\} (\d+)', m).group(1))
        assert n200 >= 3, m
        body = render(s, 'nodetest.wall{env="test"}', t0 - 60, int(time.time()) + 60)
        assert folded_total(body) > 0, body[:300]
        assert b"busy" in body, body[:2000]
        labels = json.loads(http("GET", s.url + "/labels?" + q(query="nodetest.wall"))[2])
        assert "env" in labels, labels
        if "nodetest.inuse_objects" in apps:
            heap = render(s, "nodetest.inuse_objects", t0 - 60, int(time.time()) + 60)
            assert folded_total(heap) > 0


def test_pyprof_record(tmp):
    if not ARGS.pyprof:
        raise Skip("--pyprof not given")
    if not shutil.which("curl"):
        raise Skip("curl not installed")
    out = os.path.join(tmp, "rec.pb.gz")
    script = ("import time\n"
              "def spin():\n"
              "    t = time.time()\n"
              "    while time.time() - t < 1.0: sum(range(1000))\n"
              "spin()\n")
    r = subprocess.run([ARGS.pyprof, "record", "--no-progress", "-f", "pprof", "-o", out, "--",
                        sys.executable, "-c", script], capture_output=True, timeout=60)
    if r.returncode in (2, 4) and b"ermission" in r.stderr:
        raise Skip("ptrace not permitted: " + r.stderr.decode(errors="replace")[-200:])
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    want = pyprof_convert(out, "folded", os.path.join(tmp, "rec.folded"))
    with Server() as s:
        frm, until, a, b = window()
        url = "%s/ingest?%s" % (s.url, q(name="rec.cpu{host=test}", format="pprof",
                                          **{"from": frm}, until=until, spyName="pyprof"))
        c = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                            "--data-binary", "@" + out, "-H",
                            "Content-Type: application/octet-stream", url],
                           capture_output=True, timeout=30)
        eq(c.stdout, b"200", "curl upload")
        got = render(s, "rec.cpu", a, b)
        eq(got, want, "record -> server -> folded equals record -> convert -> folded")
        assert b"spin" in got
        svg = render(s, "rec.cpu", a, b, "svg")
        assert b"spin" in svg


def test_crash(tmp):
    """kill -9 while clients upload; every upload that got 200 is there after a restart."""
    data = os.path.join(tmp, "data")
    s = Server(data=data)
    try:
        frm, until, a, b = window(300)
        acked = {}
        lock = threading.Lock()
        stop = threading.Event()

        def client(ci):
            k = 0
            while not stop.is_set():
                uid = "c%d-%d" % (ci, k)
                n = 1 + (k * 7 + ci) % 13
                body = b"".join(b"main;f%d;g%d %d\n" % (ci, j, n) for j in range(20))
                try:
                    st, _, _ = ingest(s, "crash.cpu{uid=%s}" % uid, body, frm, until,
                                      timeout=10)
                except Exception:
                    st = None  # the server died mid-request: not acknowledged
                if st == 200:
                    with lock:
                        acked[uid] = 20 * n
                elif st is None:
                    return
                k += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        s.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        assert len(acked) >= 10, "only %d uploads acknowledged before the kill" % len(acked)
        s.start()
        uids = set(json.loads(http("GET", s.url + "/label-values?" +
                                   q(label="uid", query="crash.cpu"))[2]))
        missing = sorted(set(acked) - uids)
        assert not missing, "acknowledged uploads missing after kill -9: %s" % missing[:10]
        for uid, n in sorted(acked.items()):
            got = folded_total(render(s, 'crash.cpu{uid="%s"}' % uid, a, b))
            eq(got, n, "samples of upload %s" % uid)
        print("    %d acknowledged uploads all present after kill -9" % len(acked))
    finally:
        s.close()


def test_retention_age(tmp):
    with Server("--retention", "1h", "--retention-interval", "1") as s:
        old = (int(time.time()) - 3 * 3600) // 10 * 10
        new = (int(time.time()) - 600) // 10 * 10
        eq(ingest(s, "ret.cpu", b"old 5\n", old, old + 10)[0], 200, "old upload")
        eq(ingest(s, "ret.cpu", b"new 3\n", new, new + 10)[0], 200, "new upload")
        deadline = time.time() + 10
        while time.time() < deadline:
            if render(s, "ret.cpu", old - 60, new + 60) == b"new 3\n":
                break
            time.sleep(0.5)
        eq(render(s, "ret.cpu", old - 60, new + 60), b"new 3\n", "old data dropped by age")


def test_retention_size(tmp):
    limit = 3 * 1000 * 1000
    with Server("--retention", "0", "--max-disk", "3MB", "--retention-interval", "1") as s:
        rnd = random.Random(1)
        t0 = (int(time.time()) - 6 * 3600) // 10 * 10
        n = 60
        for i in range(n):
            body = b"".join(b"f%016x;g%016x 1\n" % (rnd.getrandbits(64), rnd.getrandbits(64))
                            for _ in range(3000))
            st, _, msg = ingest(s, "size.cpu", body, t0 + 60 * i, t0 + 60 * i + 10)
            assert st in (200, 507), (st, msg)
        deadline = time.time() + 15
        while time.time() < deadline:
            m = http("GET", s.url + "/metrics")[2].decode()
            disk = int(re.search(r"pyprof_store_disk_bytes (\d+)", m).group(1))
            if disk <= limit:
                break
            time.sleep(0.5)
        assert disk <= limit, "store is %d bytes, limit %d" % (disk, limit)
        first = folded_total(render(s, "size.cpu", t0 - 10, t0 + 20))
        last = folded_total(render(s, "size.cpu", t0 + 60 * (n - 1) - 10, t0 + 60 * (n - 1) + 20))
        eq(first, 0, "the oldest upload was dropped")
        eq(last, 3000, "the newest upload is kept")


TESTS = [test_basics, test_folded, test_lines, test_gzip_encoding, test_pprof, test_speedscope,
         test_errors, test_rate_limit, test_drain, test_selectors, test_render_formats,
         test_auth, test_nodejs, test_pyprof_record, test_crash, test_retention_age,
         test_retention_size]


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--pyprof")
    ap.add_argument("--node-modules", default=os.path.join(ROOT, "tests", "formats",
                                                           "node_modules"))
    ap.add_argument("-k", help="run only tests whose name contains this")
    ARGS = ap.parse_args()
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for t in TESTS:
        name = t.__name__[5:]
        if ARGS.k and ARGS.k not in name:
            continue
        tmp = tempfile.mkdtemp(prefix="pyprof-server-%s-" % name)
        t0 = time.time()
        try:
            t(tmp)
            res, why = "PASS", ""
        except Skip as e:
            res, why = "SKIP", ": %s" % e
        except Exception as e:
            res, why = "FAIL", ": %s" % e
            traceback.print_exc()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        counts[res] += 1
        print("%s: %s (%.1f s)%s" % (res, name, time.time() - t0, why), flush=True)
    print("%d passed, %d failed, %d skipped" % (counts["PASS"], counts["FAIL"], counts["SKIP"]))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
