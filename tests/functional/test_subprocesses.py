#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pyprof record -s/--subprocesses: following descendant processes.

Launch and attach modes on a multiprocessing Pool (each stack rooted at `process PID "..."`,
the parent and 3 workers with their own spin function as the leaf), a non-Python child that is
skipped, a shell that execs Python late, and -t placing the thread root under the process root.
Stdlib only. Usage: test_subprocesses.py --pyprof PATH
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

POOL_TARGET = r'''
import multiprocessing, os, sys, time

def worker_spin_a(sec):
    end = time.time() + sec
    while time.time() < end:
        pass
    return os.getpid()

def parent_spin_b(sec):
    end = time.time() + sec
    while time.time() < end:
        pass

if __name__ == "__main__":
    sec = float(sys.argv[1])
    with multiprocessing.Pool(3) as pool:
        res = pool.map_async(worker_spin_a, [sec] * 3, chunksize=1)
        print("ready", flush=True)
        parent_spin_b(sec)
        print(sorted(res.get()), flush=True)
'''

# A non-Python child (sleep), and a shell that becomes Python only after a while (exec).
MIXED_TARGET = r'''
import subprocess, sys, time

def parent_spin_c(sec):
    end = time.time() + sec
    while time.time() < end:
        pass

if __name__ == "__main__":
    sec = float(sys.argv[1])
    sleeper = subprocess.Popen(["sleep", str(sec + 2)])
    late = subprocess.Popen(["sh", "-c", 'sleep 0.3; exec "$0" -c "$1" "$2"', sys.executable,
        "import sys, time\ndef late_spin_d(s):\n end = time.time() + s\n while time.time() < end:"
        "\n  pass\nlate_spin_d(float(sys.argv[1]))", str(sec)])
    print("ready", flush=True)
    parent_spin_c(sec)
    late.wait()
    sleeper.kill()
    sleeper.wait()
'''

PROC_RE = re.compile(r'^process (\d+) "([^"]*)"$')



def by_process(stacks):
    """{pid: {leaf function name: samples}}; None when a stack has no process root."""
    procs = {}
    for frames, count in stacks:
        m = PROC_RE.match(frames[0])
        if not m:
            return None
        leaf = frames[-1].split(" (")[0]
        d = procs.setdefault(int(m.group(1)), {})
        d[leaf] = d.get(leaf, 0) + count
    return procs


def spinners(procs, func):
    return sorted(pid for pid, leaves in procs.items() if leaves.get(func, 0) > 0)


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run_pyprof(pyprof, args, timeout=40):
    return subprocess.run([pyprof, "record", "--no-progress"] + args, capture_output=True,
                          text=True, timeout=timeout)


def check_pool(name, out, p, root_pid, extra=""):
    if p.returncode != 0:
        report("FAIL", name, f"exit {p.returncode}: {p.stderr.strip()[-400:]}")
        return
    procs = by_process(parse_folded(out))
    if procs is None:
        report("FAIL", name, "a stack without a process root frame")
        return
    parents = spinners(procs, "parent_spin_b")
    workers = spinners(procs, "worker_spin_a")
    problems = []
    if parents != [root_pid]:
        problems.append(f"parent_spin_b in {parents}, want [{root_pid}]")
    if len(workers) != 3 or root_pid in workers:
        problems.append(f"worker_spin_a in {workers}, want 3 worker pids")
    m = re.search(r"(\d+) processes followed", p.stderr)
    if not m or int(m.group(1)) < 4:
        problems.append("summary does not report >= 4 processes followed")
    if problems:
        report("FAIL", name, "; ".join(problems) + f" (processes: {procs})")
    else:
        report("PASS", name, extra or f"parent {root_pid}, workers {workers}")


def test_launch(pyprof, tag, py, tmp):
    name = f"launch pool [{tag}]"
    target = write(tmp, "pool.py", POOL_TARGET)
    out = os.path.join(tmp, f"launch-{tag}.folded")
    p = run_pyprof(pyprof, ["-s", "-d", "3", "-f", "folded", "-o", out, "--", py, target, "4"])
    # The launched command is the root: its pid is on the root frame of parent_spin_b.
    root = None
    if p.returncode == 0:
        for frames, _ in parse_folded(out):
            if frames[-1].startswith("parent_spin_b"):
                root = int(PROC_RE.match(frames[0]).group(1)) if PROC_RE.match(frames[0]) else None
                break
    if root is None:
        report("FAIL", name, f"no parent_spin_b stack; exit {p.returncode} {p.stderr[-300:]}")
        return
    m = re.search(r"followed \(PID (\d+) ", p.stderr)
    if not m or int(m.group(1)) != root:
        report("FAIL", name, f"summary PID is not the root {root}: {p.stderr[-300:]}")
        return
    check_pool(name, out, p, root)


def test_attach(pyprof, tag, py, tmp):
    name = f"attach pool -p -s [{tag}]"
    target = write(tmp, "pool.py", POOL_TARGET)
    out = os.path.join(tmp, f"attach-{tag}.folded")
    # Own session, so the pool can be killed as a group; killed workers complain on stderr.
    proc = subprocess.Popen([py, target, "5"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    try:
        proc.stdout.readline()  # "ready": the pool is up
        time.sleep(0.3)
        p = run_pyprof(pyprof, ["-p", str(proc.pid), "-s", "-d", "2", "-f", "folded", "-o", out])
        check_pool(name, out, p, proc.pid)
    finally:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait()


def test_mixed(pyprof, tag, py, tmp):
    name = f"non-Python child skipped, exec'd shell followed [{tag}]"
    target = write(tmp, "mixed.py", MIXED_TARGET)
    out = os.path.join(tmp, f"mixed-{tag}.folded")
    p = run_pyprof(pyprof, ["-s", "-d", "2.5", "-f", "folded", "-o", out, "--", py, target, "3"])
    if p.returncode != 0:
        report("FAIL", name, f"exit {p.returncode}: {p.stderr.strip()[-400:]}")
        return
    if "error" in p.stderr or "warning" in p.stderr:
        report("FAIL", name, f"unexpected message: {p.stderr.strip()[-400:]}")
        return
    stacks = parse_folded(out)
    procs = by_process(stacks)
    if procs is None:
        report("FAIL", name, "a stack without a process root frame")
        return
    parents = spinners(procs, "parent_spin_c")
    late = spinners(procs, "late_spin_d")
    roots = {f[0] for f, _ in stacks}
    problems = []
    if len(parents) != 1:
        problems.append(f"parent_spin_c in {parents}")
    if len(late) != 1 or late == parents:
        problems.append(f"late_spin_d (shell that execs python) in {late}")
    if any('"sleep' in r for r in roots):
        problems.append("a sleep process got a root frame")
    m = re.search(r"(\d+) processes followed", p.stderr)
    if not m or int(m.group(1)) != 2:
        problems.append("summary does not report 2 processes followed: " + p.stderr[-300:])
    if problems:
        report("FAIL", name, "; ".join(problems))
    else:
        report("PASS", name, f"parent {parents[0]}, late python {late[0]}, sleep ignored")


def test_threads(pyprof, tag, py, tmp):
    name = f"-s -t: process root above thread root [{tag}]"
    target = write(tmp, "pool.py", POOL_TARGET)
    out = os.path.join(tmp, f"threads-{tag}.folded")
    p = run_pyprof(pyprof, ["-s", "-t", "-d", "1.5", "-f", "folded", "-o", out, "--", py,
                            target, "2"])
    if p.returncode != 0:
        report("FAIL", name, f"exit {p.returncode}: {p.stderr.strip()[-400:]}")
        return
    stacks = parse_folded(out)
    bad = [f[:2] for f, _ in stacks
           if not (PROC_RE.match(f[0]) and len(f) > 1 and f[1].startswith("thread ("))]
    if not stacks or bad:
        report("FAIL", name, f"{len(stacks)} stacks, wrong roots: {bad[:3]}")
    else:
        report("PASS", name, f"{len(stacks)} stacks")


def test_without(pyprof, tag, py, tmp):
    name = f"without -s: no process frames, workers not sampled [{tag}]"
    target = write(tmp, "pool.py", POOL_TARGET)
    out = os.path.join(tmp, f"without-{tag}.folded")
    p = run_pyprof(pyprof, ["-d", "1.5", "-f", "folded", "-o", out, "--", py, target, "2"])
    if p.returncode != 0:
        report("FAIL", name, f"exit {p.returncode}: {p.stderr.strip()[-400:]}")
        return
    stacks = parse_folded(out)
    if any(f[0].startswith("process ") for f, _ in stacks):
        report("FAIL", name, "process root frames without -s")
    elif any(f[-1].startswith("worker_spin_a") for f, _ in stacks):
        report("FAIL", name, "worker stacks without -s")
    elif not any(f[-1].startswith("parent_spin_b") for f, _ in stacks):
        report("FAIL", name, "no parent_spin_b stack")
    else:
        report("PASS", name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyprof", required=True)
    args = ap.parse_args()
    pyprof = os.path.abspath(args.pyprof)
    started = time.monotonic()
    found = pythons("subprocesses", newest_only=True)
    if not found:
        report("SKIP", "subprocesses", "no Python 3 interpreter found")
    tmp = tempfile.mkdtemp(prefix="pyprof-subp-")
    try:
        for tag, py in found:
            for test in (test_launch, test_attach, test_mixed, test_threads, test_without):
                try:
                    test(pyprof, tag, py, tmp)
                except subprocess.TimeoutExpired as e:
                    report("FAIL", f"{test.__name__} [{tag}]", f"timed out: {e}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish(started)


if __name__ == "__main__":
    sys.exit(main())
