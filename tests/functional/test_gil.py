#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pyprof record -g/--gil and thread names from `threading`.

The target runs a busy thread named "busy-α" (it holds the GIL nearly all the time), a thread
"sleepy-1" in time.sleep (GIL released) and the main thread in Thread.join (GIL released).
  - `record -g -t -i`: every sample is the busy thread's, under its root `thread (TID "busy-α")`,
    with busy_worker as the leaf; the summary counts the samples left out for not holding it.
  - `record -t -i` (wall view, all threads): the three roots carry the `threading` names
    MainThread, busy-α and sleepy-1, each with its kernel tid.
Stdlib only. Usage: test_gil.py --pyprof PATH   (interpreters: PYPROF_TEST_PYTHONS or pyenv)
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from ftest import finish, parse_folded, pythons, report

TARGET = r'''
import sys, threading, time

def busy_worker(sec):
    end = time.time() + sec
    while time.time() < end:
        sum(range(500))  # L:busy

def sleeper(sec):
    time.sleep(sec)  # L:sleep

sec = float(sys.argv[1])
ts = [threading.Thread(target=busy_worker, args=(sec,), name="busy-\u03b1"),
      threading.Thread(target=sleeper, args=(sec,), name="sleepy-1")]
for t in ts:
    t.start()
time.sleep(0.2)
open(sys.argv[2], "w").close()
for t in ts:
    t.join()
'''

THREAD_RE = re.compile(r'^thread \((\d+) "(.*)"\)$')


def test_interpreter(pyprof, tag, py, tmp):
    script = os.path.join(tmp, "gil_target.py")
    with open(script, "w", encoding="utf-8") as f:
        f.write(TARGET)
    busy_line = next(i + 1 for i, l in enumerate(TARGET.splitlines()) if "# L:busy" in l)
    safe = re.sub(r"[^\w.-]", "_", tag)
    ready = os.path.join(tmp, "ready-" + safe)
    p = subprocess.Popen([py, script, "20", ready])
    try:
        deadline = time.time() + 20
        while not os.path.exists(ready) and time.time() < deadline and p.poll() is None:
            time.sleep(0.05)
        if not os.path.exists(ready):
            raise AssertionError("target did not start")

        out = os.path.join(tmp, "gil.folded")
        r = subprocess.run([pyprof, "record", "--no-progress", "-g", "-t", "-i", "-r", "200",
                            "-d", "1", "-f", "folded", "-o", out, "--pid", str(p.pid)],
                           capture_output=True, text=True, timeout=60)
        name = f"record --gil [{tag}]"
        if r.returncode:
            report("FAIL", name, f"exit {r.returncode}: {r.stderr[-600:]}")
        else:
            stacks = parse_folded(out)
            total = sum(c for _, c in stacks)
            roots = {fr[0] for fr, _ in stacks}
            left = re.search(r"--gil: (\d+) thread samples left out", r.stderr)
            leaf_ok = sum(c for fr, c in stacks
                          if fr[-1] == f"busy_worker (gil_target.py:{busy_line})")
            m = THREAD_RE.match(next(iter(roots))) if len(roots) == 1 else None
            if not m or m.group(2) != "busy-\u03b1":
                report("FAIL", name, f"roots {sorted(roots)}: want only the busy thread's")
            elif total < 50 or leaf_ok < 0.9 * total:
                report("FAIL", name, f"{leaf_ok} of {total} samples on busy_worker's line")
            elif not left or int(left.group(1)) < total:
                # Two threads wait without the GIL in every sample: at least 2 per sample.
                report("FAIL", name, f"summary: {r.stderr.strip()[-300:]}")
            else:
                report("PASS", name, f"{total} samples, all busy-\u03b1; {left.group(1)} left out")

        out = os.path.join(tmp, "names.folded")
        r = subprocess.run([pyprof, "record", "--no-progress", "-t", "-i", "-r", "100", "-d",
                            "0.5", "-f", "folded", "-o", out, "--pid", str(p.pid)],
                           capture_output=True, text=True, timeout=60)
        name = f"thread names [{tag}]"
        if r.returncode:
            report("FAIL", name, f"exit {r.returncode}: {r.stderr[-600:]}")
        else:
            names = {}
            for fr, _ in parse_folded(out):
                m = THREAD_RE.match(fr[0])
                if m:
                    names[m.group(2)] = int(m.group(1))
            tids = set(int(t) for t in os.listdir(f"/proc/{p.pid}/task"))
            want = {"MainThread", "busy-\u03b1", "sleepy-1"}
            if set(names) != want:
                report("FAIL", name, f"thread names {sorted(names)}, want {sorted(want)}")
            elif names["MainThread"] != p.pid or not set(names.values()) <= tids:
                report("FAIL", name, f"tids {names} not the target's {sorted(tids)}")
            else:
                report("PASS", name, ", ".join(f"{k}={v}" for k, v in sorted(names.items())))
    finally:
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyprof", required=True)
    args = ap.parse_args()
    pyprof = os.path.abspath(args.pyprof)
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="pyprof-gil-")
    try:
        for tag, py in pythons("gil"):
            try:
                test_interpreter(pyprof, tag, py, tmp)
            except (AssertionError, subprocess.TimeoutExpired, OSError) as e:
                report("FAIL", f"gil [{tag}]", str(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish(started)


if __name__ == "__main__":
    sys.exit(main())
