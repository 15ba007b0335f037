#!/usr/bin/env python3
"""Integration tests of `pyprof agent` against a fake /ingest server (and pyprof-server).

Usage: python3 tests/agent/run.py --pyprof PATH [--server PATH] [-k SUBSTRING] [--serial]
                                  [--keep-tmp]

The fake server is an http.server in this process that records every request and answers as a
test tells it to (200, 500, 422, or never). Windows are 1-2 s here to keep the suite short; the
logic is the same at 10 s. A window is identified by its `from`; "exactly once" means exactly one
request answered 200 per `from` and pid. The outage test (60 s of it) runs in a child process
beside the others (see BESIDE), so the suite takes about 70 s; --serial runs all in order.

Each test prints `PASS name`, `FAIL name: why` or `SKIP name: why`; the last line is
`N passed, N failed, N skipped`; the exit status is 1 if anything failed. Standard library only;
every child process runs in a session of its own and is killed on the way out.
"""
import argparse
import gzip
import http.server
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
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGETS = os.path.join(HERE, "targets")
PY = sys.executable
PYPROF = None
SERVER_BIN = None
TMP = None
ENV = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", LC_ALL="C.UTF-8")


class Fail(Exception):
    pass


class Skip(Exception):
    pass


# ===== Processes =====

_live = []
_n_agents = [0]


def spawn(argv, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("env", ENV)
    p = subprocess.Popen(argv, start_new_session=True, **kw)
    _live.append(p)
    return p


def kill(p):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def kill_all():
    for p in _live:
        kill(p)
    _live.clear()


def wait_file(path, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            return
        time.sleep(0.02)
    raise Fail("%s did not appear within %.0f s" % (path, timeout))


def busy_target(threads=1, script="busy.py"):
    ready = tempfile.mktemp(dir=TMP, suffix=".ready")
    p = spawn([PY, os.path.join(TARGETS, script), str(threads), ready])
    wait_file(ready)
    return p


class Agent:
    """pyprof agent with stderr captured to a file (the log)."""

    def __init__(self, args, name="agent"):
        self.state = tempfile.mkdtemp(dir=TMP, prefix=name + "-state-")
        _n_agents[0] += 1
        self.log_path = os.path.join(TMP, name + "-%d.log" % _n_agents[0])
        self.log = open(self.log_path, "w")
        self.p = spawn([PYPROF, "agent", "--state-dir", self.state] + args,
                       stdout=self.log, stderr=self.log)

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self, timeout=15):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(self.p)
            raise Fail("agent did not exit %d s after SIGTERM" % timeout)
        self.log.close()
        return rc

    def status(self):
        out = subprocess.run([PYPROF, "agent", "--status", "--state-dir", self.state],
                             capture_output=True, text=True, timeout=10)
        st = {}
        for line in out.stdout.splitlines():
            k, _, v = line.partition(" = ")
            st[k] = v
        return st


# ===== The fake server =====

class Req:
    def __init__(self, path, headers, body, code):
        self.t = time.time()
        u = urllib.parse.urlsplit(path)
        self.path = u.path
        self.q = dict(urllib.parse.parse_qsl(u.query))
        self.headers = headers
        self.body = body
        self.code = code
        m = re.search(r"pid=(\d+)", self.q.get("name", ""))
        self.pid = int(m.group(1)) if m else None
        self.frm = int(self.q.get("from", "0"))
        self.until = int(self.q.get("until", "0"))


class FakeServer:
    """answer(req_index) -> 200, 500, 422 or "hang"."""

    def __init__(self, port=0, answer=None):
        self.reqs = []
        self.lock = threading.Lock()
        self.answer = answer or (lambda i: 200)
        self.stop_hang = threading.Event()
        self.closed = False
        fs = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                if fs.closed:  # a kept-alive connection outlived the server: act gone
                    self.close_connection = True
                    return
                with fs.lock:
                    i = len(fs.reqs)
                    code = fs.answer(i)
                    fs.reqs.append(Req(self.path, dict(self.headers), body, code))
                if code == "hang":
                    fs.stop_hang.wait(30)
                    self.close_connection = True
                    return
                msg = b"" if code == 200 else b"error happened while parsing request body\n"
                self.send_response(code)
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)

            def log_message(self, *a):
                pass

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.httpd = S(("127.0.0.1", port), H)
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.closed = True
        self.stop_hang.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def ok(self):
        with self.lock:
            return [r for r in self.reqs if r.code == 200]

    def wait_for(self, cond, timeout, what):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if cond(list(self.reqs)):
                    return
            time.sleep(0.05)
        raise Fail("timed out waiting for %s (%d requests so far)" % (what, len(self.reqs)))


PORT_BAND = [0]  # 1 in a child running a test beside the others


def free_port():
    """A free port for a server that goes away and comes back on it. It lies below the kernel's
    ephemeral range, so while it is unbound no `bind(port 0)` (the fake servers and pyprof-server
    of the tests running beside) and no outgoing connection is handed it; and a child running a
    test beside the others draws from another quarter of the ports than this process."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        lo = 32768
    lo = max(lo, 2048)
    first = lo // 2 + PORT_BAND[0] * (lo // 4)
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(first, first + lo // 4)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise Fail("no free port in %d-%d" % (first, first + lo // 4 - 1))


def folded(body):
    """Decode a gzipped pprof with `pyprof convert` into {stack: count}."""
    if body[:2] != b"\x1f\x8b":
        raise Fail("body is not gzip (starts with %r)" % body[:4])
    gzip.decompress(body)
    path = tempfile.mktemp(dir=TMP, suffix=".pb.gz")
    with open(path, "wb") as f:
        f.write(body)
    out = subprocess.run([PYPROF, "convert", path, "-f", "folded"], capture_output=True,
                         text=True, timeout=30)
    if out.returncode:
        raise Fail("pyprof convert failed: %s" % out.stderr.strip())
    stacks = {}
    for line in out.stdout.splitlines():
        stack, _, n = line.rpartition(" ")
        stacks[stack] = stacks.get(stack, 0) + int(n)
    return stacks


def exactly_once(reqs, pid=None):
    """{from: count of 200 answers} over requests (optionally for one pid)."""
    seen = {}
    for r in reqs:
        if r.code == 200 and (pid is None or r.pid == pid):
            seen[r.frm] = seen.get(r.frm, 0) + 1
    dup = {k: v for k, v in seen.items() if v != 1}
    if dup:
        raise Fail("windows delivered more than once: %s" % dup)
    return sorted(seen)


def contiguous(froms, step, what):
    for a, b in zip(froms, froms[1:]):
        if b - a != step:
            raise Fail("%s: gap between windows %d and %d (step %d): %s" % (what, a, b, step,
                                                                           froms))


# ===== Tests =====

def test_windows_aligned():
    srv = FakeServer()
    tgt = busy_target()
    ag = Agent(["--server", srv.url, "--app", "demo", "--pid", str(tgt.pid), "--window", "2s",
                "--tag", "env=test", "--token", "s3cret", "--tenant", "team-a"])
    try:
        srv.wait_for(lambda rs: len(rs) >= 3, 12, "3 windows")
    finally:
        rc = ag.stop()
        srv.close()
    if rc != 0:
        raise Fail("agent exit code %d" % rc)
    reqs = srv.ok()
    froms = exactly_once(reqs)
    contiguous(froms, 2, "windows")
    for r in reqs:
        if r.path != "/ingest":
            raise Fail("path %s" % r.path)
        want = {"format": "pprof", "name": "demo.cpu{env=test,pid=%d}" % tgt.pid,
                "sampleRate": "100", "spyName": "pyprof"}
        for k, v in want.items():
            if r.q.get(k) != v:
                raise Fail("query %s=%r, want %r (%s)" % (k, r.q.get(k), v, r.q))
        if r.frm % 2:
            raise Fail("from %d is not aligned to the 2 s window" % r.frm)
        if r.headers.get("Authorization") != "Bearer s3cret":
            raise Fail("Authorization header %r" % r.headers.get("Authorization"))
        if r.headers.get("X-Scope-OrgID") != "team-a":
            raise Fail("X-Scope-OrgID header %r" % r.headers.get("X-Scope-OrgID"))
    full = [r for r in reqs if r.until - r.frm == 2][1:]  # the first may have started late
    if not full:
        raise Fail("no complete 2 s window among %s" % [(r.frm, r.until) for r in reqs])
    for r in full:
        st = folded(r.body)
        total = sum(st.values())
        if not any("outer_loop" in s and "leaf_work" in s for s in st):
            raise Fail("the target's functions are missing: %s" % list(st)[:5])
        if not 120 <= total <= 230:
            raise Fail("%d samples in a 2 s window at 100 Hz" % total)


def test_retry_after_500_and_hang():
    # 2 x 500, then one that hangs (timeout), then 200 forever.
    answers = {0: 500, 1: 500, 2: "hang"}
    srv = FakeServer(answer=lambda i: answers.get(i, 200))
    tgt = busy_target()
    ag = Agent(["--server", srv.url, "--app", "demo", "--pid", str(tgt.pid), "--window", "1s",
                "--timeout", "1s", "--retry-max", "1s"])
    try:
        # Until the three failed requests are answered, every window they carried has been
        # delivered and the status counts the spooling (about 4 s; 20 s at most), then one more
        # retry period so that a window sent twice would show.
        st = {}
        end = time.time() + 20
        while time.time() < end:
            with srv.lock:
                reqs = list(srv.reqs)
            bad = {r.frm for r in reqs if r.code != 200}
            if sum(r.code != 200 for r in reqs) >= 3 and bad <= {r.frm for r in reqs
                                                                  if r.code == 200}:
                st = ag.status()
                if int(st.get("spooled", 0)) >= 2 and int(st.get("resent_from_spool", 0)) >= 2:
                    break
            time.sleep(0.1)
        time.sleep(1.5)
    finally:
        rc = ag.stop()
        srv.close()
    if rc != 0:
        raise Fail("agent exit code %d" % rc)
    failed = {r.frm for r in srv.reqs if r.code != 200}
    froms = exactly_once(srv.reqs)
    missing = failed - set(froms)
    if missing:
        raise Fail("windows that failed were never delivered: %s" % sorted(missing))
    contiguous(froms, 1, "windows")
    # the two 500s are spooled; the hung request is a retry from the spool (backoff, no copy)
    if int(st.get("spooled", 0)) < 2 or int(st.get("resent_from_spool", 0)) < 2:
        raise Fail("status: spooled=%s resent=%s" % (st.get("spooled"),
                                                     st.get("resent_from_spool")))


def test_422_not_retried():
    srv = FakeServer(answer=lambda i: 422)
    tgt = busy_target()
    ag = Agent(["--server", srv.url, "--app", "demo", "--pid", str(tgt.pid), "--window", "1s",
                "--retry-max", "1s"])
    try:
        time.sleep(4.5)
    finally:
        rc = ag.stop()
        srv.close()
    counts = {}
    for r in srv.reqs:
        counts[r.frm] = counts.get(r.frm, 0) + 1
    if len(counts) < 3:
        raise Fail("only %d windows sent" % len(counts))
    if any(v != 1 for v in counts.values()):
        raise Fail("a rejected window was sent again: %s" % counts)
    log = ag.text()
    n = log.count("rejected a window")
    if n != 1 or "HTTP 422" not in log:
        raise Fail("want the rejection logged once with its reason, got %d lines:\n%s" % (n, log))
    if rc != 0:
        raise Fail("agent exit code %d" % rc)


OUTAGE = float(os.environ.get('PYPROF_TEST_OUTAGE', '60'))


def test_server_down_then_up():
    """The issue's outage: the server answers, goes away for 60 s in the middle, comes back;
    every window of the whole run arrives exactly once, in order, with no gap."""
    port = free_port()
    tgt = busy_target()
    srv = FakeServer(port=port)
    ag = Agent(["--server", "http://127.0.0.1:%d" % port, "--app", "demo", "--pid",
                str(tgt.pid), "--window", "2s", "--retry-max", "2s", "--timeout", "1s"])
    t0 = time.time()
    try:
        time.sleep(5)
        before = list(srv.reqs)
        srv.close()
        time.sleep(OUTAGE)
        srv = FakeServer(port=port)
        try:
            srv.wait_for(lambda rs: any(r.code == 200 and r.frm >= int(time.time()) - 4
                                        for r in rs), 20, "fresh windows after the outage")
        except Fail as e:
            raise Fail("%s; agent log:\n%s" % (e, ag.text()[-1500:]))
        time.sleep(3)
    finally:
        rc = ag.stop()
        srv.close()
    froms = exactly_once(before + srv.reqs)
    if not before or not froms or froms[0] > int(t0) + 3:
        raise Fail("no windows before the outage, or the first is late: %s, agent start %d"
                   % (froms[:1], int(t0)))
    contiguous(froms, 2, "windows")
    if len(froms) < (OUTAGE + 8) / 2 - 2:
        raise Fail("only %d windows delivered over about %.0f s" % (len(froms), OUTAGE + 10))
    if rc != 0:
        raise Fail("agent exit code %d" % rc)


def test_spool_full_drops_oldest():
    port = free_port()
    tgt = busy_target()
    ag = Agent(["--server", "http://127.0.0.1:%d" % port, "--app", "demo", "--pid",
                str(tgt.pid), "--window", "1s", "--retry-max", "1s", "--timeout", "1s",
                "--spool-max-size", "2K"])
    t0 = time.time()
    time.sleep(8)
    st = ag.status()
    srv = FakeServer(port=port)
    try:
        srv.wait_for(lambda rs: any(r.code == 200 and r.frm >= int(time.time()) - 2 for r in rs),
                     8, "fresh windows after the outage")
        time.sleep(1.5)
    finally:
        ag.stop()
        srv.close()
    dropped = int(st.get("spool_dropped", 0))
    if dropped < 1 or int(st.get("spool_bytes", 0)) > 2048:
        raise Fail("spool not bounded: %s" % st)
    froms = exactly_once(srv.reqs)
    if froms[0] <= int(t0) + 1:
        raise Fail("the oldest windows should have been dropped, got from %d (start %d)"
                   % (froms[0], int(t0)))
    contiguous(froms, 1, "the kept windows")


def test_match_workers():
    srv = FakeServer()
    pids_file = os.path.join(TMP, "workers.pids")
    svc = spawn([PY, os.path.join(TARGETS, "workers.py"), pids_file])
    wait_file(pids_file)
    with open(pids_file) as f:
        workers = [int(x) for x in f.read().split()]
    ag = Agent(["--server", srv.url, "--app", "svc", "--match", r"targets/workers\.py",
                "--window", "1s"])
    try:
        srv.wait_for(lambda rs: {r.pid for r in rs} >= set(workers), 8, "a window per worker")
        time.sleep(1.2)
    finally:
        ag.stop()
        srv.close()
        kill(svc)
    for pid in workers:
        reqs = [r for r in srv.ok() if r.pid == pid]
        exactly_once(reqs)
        st = folded(reqs[-1].body)
        if not any("worker_main" in s and "worker_leaf" in s for s in st):
            raise Fail("pid %d: worker frames missing: %s" % (pid, list(st)[:3]))
    if svc.pid in {r.pid for r in srv.reqs}:
        pass  # the idle parent may show up with an occasional sample; not an error


def test_restart_reattached():
    srv = FakeServer()
    pidfile = os.path.join(TMP, "svc.pid")
    tgt = busy_target()
    with open(pidfile, "w") as f:
        f.write("%d\n" % tgt.pid)
    ag = Agent(["--server", srv.url, "--app", "demo", "--pidfile", pidfile, "--window", "1s"])
    try:
        srv.wait_for(lambda rs: any(r.pid == tgt.pid for r in rs), 6, "the first target")
        kill(tgt)
        time.sleep(0.5)
        t_start = time.time()
        tgt2 = busy_target()
        with open(pidfile, "w") as f:
            f.write("%d\n" % tgt2.pid)
        end = time.time() + 5
        while time.time() < end and "attached to PID %d " % tgt2.pid not in ag.text():
            time.sleep(0.02)
        took = time.time() - t_start
        if took > 2.0:
            raise Fail("re-attached after %.2f s (log:\n%s)" % (took, ag.text()))
        srv.wait_for(lambda rs: any(r.pid == tgt2.pid for r in rs), 4, "the restarted target")
        if ag.p.poll() is not None:
            raise Fail("the agent exited with its target")
    finally:
        ag.stop()
        srv.close()
    if "PID %d exited" % tgt.pid not in ag.text():
        raise Fail("the exit of the first target was not logged")


def test_sigterm_partial_window():
    srv = FakeServer()
    tgt = busy_target()
    # The ~3 s run must sit inside one 10 s window (so that the partial window is all of it):
    # past 5 s into one, wait for the next boundary.
    if time.time() % 10 > 5:
        time.sleep((10 - time.time() % 10) + 0.2)
    ag = Agent(["--server", srv.url, "--app", "demo", "--pid", str(tgt.pid)])
    time.sleep(3)
    t_stop = time.time()
    rc = ag.stop()
    srv.close()
    took = time.time() - t_stop
    if rc != 0:
        raise Fail("exit code %d" % rc)
    reqs = srv.ok()
    if len(reqs) != 1:
        raise Fail("want 1 upload (the partial window), got %d" % len(reqs))
    r = reqs[0]
    if r.frm % 10 or not r.frm < r.until <= r.frm + 10 or r.until < int(t_stop):
        raise Fail("partial window from=%d until=%d (stopped at %.1f)" % (r.frm, r.until, t_stop))
    total = sum(folded(r.body).values())
    if not 150 <= total <= 350:
        raise Fail("%d samples in the ~3 s partial window" % total)
    if took > 5:
        raise Fail("stopping took %.1f s" % took)


def test_config_and_sighup():
    srv = FakeServer()
    tgt = busy_target()
    conf = os.path.join(TMP, "agent.conf")
    base = ("# test config\nserver = %s\napp = cfgapp\npid = %d\nwindow = 1s\n"
            % (srv.url, tgt.pid))
    with open(conf, "w") as f:
        f.write(base + "tag = env=a\n")
    ag = Agent(["--config", conf])
    try:
        srv.wait_for(lambda rs: any("env=a" in r.q["name"] for r in rs), 6, "a window with env=a")
        with open(conf, "w") as f:
            f.write(base + "tag = env=b\n")
        ag.p.send_signal(signal.SIGHUP)
        srv.wait_for(lambda rs: any("env=b" in r.q["name"] for r in rs), 6, "a window with env=b")
        st = ag.status()
    finally:
        ag.stop()
        srv.close()
    if not all(r.q["name"].startswith("cfgapp.cpu{") for r in srv.reqs):
        raise Fail("app name from the config file not used")
    for k in ("samples", "sent", "spooled", "spool_dropped", "sent_bytes", "achieved_hz",
              "cpu_percent", "rss_kb"):
        if k not in st:
            raise Fail("--status lacks %s: %s" % (k, st))


def test_stack_cap():
    srv = FakeServer()
    p = spawn([PY, os.path.join(TARGETS, "manystacks.py")])
    time.sleep(0.5)
    ag = Agent(["--server", srv.url, "--app", "demo", "--pid", str(p.pid), "--window", "2s",
                "--max-stacks", "16"])
    try:
        srv.wait_for(lambda rs: len(rs) >= 2, 8, "2 windows")
    finally:
        ag.stop()
        srv.close()
    full = [r for r in srv.ok() if r.until - r.frm == 2]
    st = folded(max(full, key=lambda r: len(r.body)).body)  # a whole window, not the last bit
    if len(st) > 17:
        raise Fail("%d distinct stacks with --max-stacks 16" % len(st))
    if not any("[other stacks]" in s for s in st):
        raise Fail("no [other stacks] bucket: %s" % list(st)[:5])


def test_end_to_end_server():
    if not SERVER_BIN or not os.access(SERVER_BIN, os.X_OK):
        raise Skip("pyprof-server not built")
    data = tempfile.mkdtemp(dir=TMP, prefix="server-data-")
    log = open(os.path.join(TMP, "server.log"), "w+")
    srv = spawn([SERVER_BIN, "--listen", "127.0.0.1:0", "--data", data], stdout=log,
                stderr=subprocess.STDOUT)
    url = None
    end = time.time() + 10
    while time.time() < end and not url and srv.poll() is None:
        log.seek(0)
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read())
        url = m.group(1) if m else None
        time.sleep(0.05)
    if not url:
        kill(srv)
        raise Skip("pyprof-server did not start")
    try:
        urllib.request.urlopen(url + "/healthz", timeout=5).read()
    except Exception as e:  # noqa: BLE001
        kill(srv)
        raise Skip("pyprof-server does not answer /healthz: %s" % e)
    pids_file = os.path.join(TMP, "e2e-workers.pids")
    svc = spawn([PY, os.path.join(TARGETS, "workers.py"), pids_file])
    wait_file(pids_file)
    with open(pids_file) as f:
        workers = [int(x) for x in f.read().split()]
    t0 = int(time.time()) - 20
    ag = Agent(["--server", url, "--app", "e2e", "--match", r"e2e-workers\.pids",
                "--window", "1s"])
    time.sleep(4)
    rc = ag.stop()
    kill(svc)
    try:
        if rc != 0:
            raise Fail("agent exit code %d" % rc)
        t1 = int(time.time()) + 20
        for pid in workers:
            q = urllib.parse.urlencode({"query": 'e2e.cpu{pid="%d"}' % pid, "from": t0,
                                        "until": t1, "format": "folded"})
            try:
                body = urllib.request.urlopen(url + "/render?" + q, timeout=10).read().decode()
            except Exception as e:  # noqa: BLE001
                raise Fail("render for pid %d: %s" % (pid, e))
            if "worker_leaf" not in body:
                raise Fail("server has no worker_leaf for pid %d: %r" % (pid, body[:300]))
    finally:
        kill(srv)


def test_systemd_unit():
    unit = os.path.join(ROOT, "tools", "systemd", "pyprof-agent@.service")
    sa = shutil.which("systemd-analyze")
    if not sa:
        raise Skip("systemd-analyze is not installed")
    # verify checks that ExecStart exists: point it at this build for the check.
    d = tempfile.mkdtemp(dir=TMP, prefix="unit-")
    with open(unit) as f:
        text = f.read().replace("/usr/local/bin/pyprof", os.path.abspath(PYPROF))
    with open(os.path.join(d, "pyprof-agent@.service"), "w") as f:
        f.write(text)
    with open(os.path.join(d, "myapp.service"), "w") as f:
        f.write("[Unit]\nDescription=app\n[Service]\nExecStart=/bin/true\n")
    out = subprocess.run([sa, "verify", os.path.join(d, "pyprof-agent@myapp.service")],
                         capture_output=True, text=True, timeout=60, cwd=d,
                         env=dict(ENV, SYSTEMD_LOG_LEVEL="notice"))
    msgs = [l for l in (out.stdout + out.stderr).splitlines() if "pyprof-agent" in l]
    if out.returncode != 0 or msgs:
        raise Fail("systemd-analyze verify (exit %d):\n%s" % (out.returncode,
                                                             out.stdout + out.stderr))


TESTS = [
    test_windows_aligned,
    test_retry_after_500_and_hang,
    test_422_not_retried,
    test_server_down_then_up,
    test_spool_full_drops_oldest,
    test_match_workers,
    test_restart_reattached,
    test_sigterm_partial_window,
    test_config_and_sighup,
    test_stack_cap,
    test_end_to_end_server,
    test_systemd_unit,
]


# Tests that mostly wait (the outage lasts 60 s): unless --serial, each runs in a child process of
# its own (this script with --run NAME) beside the others, so that the suite takes about as long
# as the outage rather than the sum. They share nothing with the others: own temporary directory,
# own targets and agents, own port (see free_port). Their result lines come at the end.
BESIDE = ["server_down_then_up"]


def run_test(t):
    """Run one test; print its result line; return "PASS", "FAIL" or "SKIP"."""
    name = t.__name__[5:]
    try:
        t()
        print("PASS %s" % name, flush=True)
        return "PASS"
    except Skip as e:
        print("SKIP %s: %s" % (name, e), flush=True)
        return "SKIP"
    except Fail as e:
        print("FAIL %s: %s" % (name, e), flush=True)
    except Exception as e:  # noqa: BLE001
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
    finally:
        kill_all()
    return "FAIL"


def start_beside(name, keep_tmp):
    out = tempfile.TemporaryFile(mode="w+")
    argv = [PY, os.path.abspath(__file__), "--pyprof", PYPROF, "--server", SERVER_BIN,
            "--run", name] + (["--keep-tmp"] if keep_tmp else [])
    return name, subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, env=ENV), out


def finish_beside(name, p, out, timeout):
    """Wait for a child of start_beside; print its lines; return their statuses."""
    try:
        p.wait(timeout=timeout)
        why = "exit %d without a result line" % p.returncode
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)  # its finally kills the targets and agents it started
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        why = "did not finish within %.0f s" % timeout
    out.seek(0)
    res = []
    for line in out.read().splitlines():
        if re.match(r"\d+ passed, \d+ failed", line):
            continue
        print(line, flush=True)
        if line.startswith(("PASS ", "FAIL ", "SKIP ")):
            res.append(line[:4])
    out.close()
    if not res:
        print("FAIL %s: %s" % (name, why), flush=True)
        res.append("FAIL")
    return res


def main():
    global PYPROF, SERVER_BIN, TMP
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyprof", required=True)
    ap.add_argument("--server", help="pyprof-server binary (default: next to pyprof's build)")
    ap.add_argument("-k", default="")
    ap.add_argument("--serial", action="store_true",
                    help="run every test in this process, one after the other")
    ap.add_argument("--run", help=argparse.SUPPRESS)  # the one test (exact name) a child runs
    ap.add_argument("--keep-tmp", action="store_true")
    args = ap.parse_args()
    PYPROF = os.path.abspath(args.pyprof)
    SERVER_BIN = args.server or os.path.join(os.path.dirname(os.path.dirname(PYPROF)), "server",
                                             "pyprof-server")
    SERVER_BIN = os.path.abspath(SERVER_BIN)
    if args.run:
        tests = [t for t in TESTS if t.__name__[5:] == args.run]
        PORT_BAND[0] = 1
    else:
        tests = [t for t in TESTS if args.k in t.__name__[5:]]
    beside = []
    if not args.serial and not args.run and len(tests) > 1:
        beside = [t for t in tests if t.__name__[5:] in BESIDE]
        tests = [t for t in tests if t not in beside]
    TMP = tempfile.mkdtemp(prefix="pyprof-agent-tests-")
    results = []
    children = []
    try:
        children = [start_beside(t.__name__[5:], args.keep_tmp) for t in beside]
        for t in tests:
            results.append(run_test(t))
        for c in children:
            results += finish_beside(*c, timeout=300)
        children = []
    finally:
        for _, p, out in children:  # interrupted: stop them too
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
            out.close()
        kill_all()
        if args.keep_tmp:
            print("kept %s" % TMP)
        else:
            shutil.rmtree(TMP, ignore_errors=True)
    passed, failed, skipped = (results.count(k) for k in ("PASS", "FAIL", "SKIP"))
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
