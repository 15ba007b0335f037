#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Thread names and the GIL holder in `pyprof dump` (collector/py/threadinfo.c).

On every installed pyenv 3.8 .. 3.13 and /usr/bin/python3.11 (static, stripped), a target runs
named threads: three sleep in time.sleep (which releases the GIL), one spins in a pure-Python
loop (so it holds the GIL), the main thread waits in join(). Checks, per interpreter:
  names-json   `dump --json`: every thread's "name" is its threading name (non-ASCII, a long
               name cut to 256 bytes of UTF-8), exactly the expected set, each on the right tid
  gil-json     exactly one thread has "gil": true, and it is the busy one
  text         the text dump: "Thread TID (NAME) [running, holds the GIL]" on the busy thread,
               the sleeping threads without the GIL mark
  no-threading a target that never imports threading (-S): the main thread keeps its comm as
               name, and it holds the GIL (it spins)
A thread renamed after it started (t.name = ...) must show its new name.
Stdlib only. Usage: test_threads.py --pyprof PATH; the last line is "N passed, N failed, N skipped".
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import ftest
from ftest import ENV, finish, pythons, report

LONG = "long-" + "é" * 200  # 405 bytes of UTF-8: cut to 256 bytes at a character boundary

TARGET = r'''
import json, sys, threading, time

LONG = %r
tids = {}
ready = threading.Event()

def sleeper():
    tids[threading.current_thread().name] = threading.get_native_id()
    while True:
        time.sleep(100)

def busy():
    tids[threading.current_thread().name] = threading.get_native_id()
    while not ready.is_set():
        pass
    x = 0
    while True:
        x += 1

names = ["worker-α-1", "worker-β-2", LONG]
threads = [threading.Thread(target=sleeper, name=n, daemon=True) for n in names]
threads.append(threading.Thread(target=busy, name="busy-γ", daemon=True))
renamed = threading.Thread(target=sleeper, name="before-rename", daemon=True)
threads.append(renamed)
for t in threads:
    t.start()
while len(tids) < len(threads):
    time.sleep(0.01)
renamed.name = "after-rename"
tids["after-rename"] = tids.pop("before-rename")
tids["MainThread"] = threading.get_native_id()
ready.set()
time.sleep(0.2)
sys.stdout.write(json.dumps(tids) + "\n")
sys.stdout.flush()
threads[0].join()
''' % LONG

# No threading import at all (run with -S: some site-packages .pth files import it): the main
# thread spins (and holds the GIL). It says whether threading got imported anyway.
PLAIN_TARGET = r'''
import sys, time
sys.stdout.write("threading %s\n" % ("threading" in sys.modules))
sys.stdout.flush()
x = 0
while True:
    x += 1
'''

for _k in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
    ENV.pop(_k, None)


class Fail(Exception):
    pass


def check(name, fn):
    try:
        detail = fn()
    except Fail as e:
        report("FAIL", name, str(e))
    except Exception as e:  # a bug in the test or a timeout: a failure, with the reason
        report("FAIL", name, f"{type(e).__name__}: {e}")
    else:
        report("PASS", name, detail or "")


def Target(python, path, flags=()):
    return ftest.Target([python] + list(flags) + [path], error=Fail)


def dump(pyprof, pid, json_out):
    argv = [pyprof, "dump", "--pid", str(pid)] + (["--json"] if json_out else [])
    r = subprocess.run(argv, capture_output=True, timeout=30, env=ENV)
    if r.returncode != 0:
        raise Fail(f"dump exit {r.returncode}: {r.stderr.decode(errors='replace')[-300:]}")
    return r.stdout.decode("utf-8")


def cut_utf8(s, limit=256):
    b = s.encode()
    if len(b) <= limit:
        return s
    return b[:limit].decode("utf-8", errors="ignore")


def comm(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/comm") as f:
        return f.read().rstrip("\n")


def expected(tids):
    """{tid: name} as the dump should show them (the long name cut)."""
    return {tid: cut_utf8(name) for name, tid in tids.items()}


def test_json(pyprof, py, path):
    with Target(py, path) as t:
        tids = json.loads(t.line)
        d = json.loads(dump(pyprof, t.pid, True))
    want = expected(tids)
    got = {th["tid"]: th["name"] for th in d["threads"]}
    if got != want:
        diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want)
                if got.get(k) != want.get(k)}
        raise Fail(f"names differ (tid: got, want): {diff}")
    holders = [th for th in d["threads"] if th.get("gil") is True]
    if any(not isinstance(th.get("gil"), bool) for th in d["threads"]):
        raise Fail("a thread without a boolean \"gil\"")
    if len(holders) != 1:
        raise Fail(f"{len(holders)} GIL holders: {[th['name'] for th in holders]}")
    if holders[0]["tid"] != tids["busy-γ"]:
        raise Fail(f"GIL held by {holders[0]['name']!r}, expected busy-γ")
    return f"{len(got)} names, GIL on busy-γ"


def test_text(pyprof, py, path):
    with Target(py, path) as t:
        tids = json.loads(t.line)
        out = dump(pyprof, t.pid, False)
    heads = {}
    for line in out.splitlines():
        m = re.match(r"^Thread (\d+) \((.*)\) \[(running|idle)(, holds the GIL)?\]$", line)
        if line.startswith("Thread ") and not m:
            raise Fail(f"bad thread line {line!r}")
        if m:
            heads[int(m.group(1))] = (m.group(2), bool(m.group(4)))
    want = expected(tids)
    if {k: v[0] for k, v in heads.items()} != want:
        raise Fail(f"thread lines {heads}, expected names {want}")
    busy = tids["busy-γ"]
    if not heads[busy][1]:
        raise Fail(f"the busy thread lacks the GIL mark: {out!r}")
    marked = [k for k, v in heads.items() if v[1]]
    if marked != [busy]:
        raise Fail(f"GIL marks on {marked}")
    return "busy-γ marked"


def test_plain(pyprof, py, path):
    with Target(py, path, ["-S"]) as t:
        d = json.loads(dump(pyprof, t.pid, True))
        name = comm(t.pid, t.pid)
        if t.line.split() != [b"threading", b"False"]:
            raise Fail(f"threading was imported in the target ({t.line!r})")
    th = {x["tid"]: x for x in d["threads"]}
    if set(th) != {t.pid}:
        raise Fail(f"threads {sorted(th)}, expected [{t.pid}]")
    if th[t.pid]["name"] != name:
        raise Fail(f"name {th[t.pid]['name']!r}, expected the comm {name!r}")
    if th[t.pid]["gil"] is not True:
        raise Fail("the spinning main thread does not hold the GIL")
    return f"comm {name!r}, holds the GIL"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyprof", required=True)
    args = ap.parse_args()
    pyprof = os.path.abspath(args.pyprof)
    started = time.monotonic()
    found = pythons("threads")
    if not found:
        report("SKIP", "threads", "no Python 3.8 .. 3.13 interpreter found")
    tmp = tempfile.mkdtemp(prefix="pyprof-threads-")
    try:
        path = os.path.join(tmp, "threads_target.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(TARGET)
        plain = os.path.join(tmp, "plain_target.py")
        with open(plain, "w") as f:
            f.write(PLAIN_TARGET)
        for tag, py in found:
            check(f"names and GIL, --json [{tag}]", lambda: test_json(pyprof, py, path))
            check(f"names and GIL, text [{tag}]", lambda: test_text(pyprof, py, path))
            check(f"no threading module [{tag}]", lambda: test_plain(pyprof, py, plain))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish(started)


if __name__ == "__main__":
    sys.exit(main())
