#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Collector faults: pyprof against targets that exit, exec, churn threads, change memory under
the walk, outlive a killed collector, are attached 100 times, or lose their PID to another process.

Per interpreter (PYPROF_TEST_PYTHONS, else pyenv 3.8-3.13 and /usr/bin/python3.11):
  exit-mid-sample     10 runs at -r 1000, the target exiting 10-100 ms after sampling began
                      (finalization, os._exit, finalization with daemon threads; reaped at once
                      or left a zombie): exit 0, a valid output holding the target's stack,
                      "process N exited", no garbage frame, no crash, no hang
  exec-non-python     the target os.execv()s /bin/sleep, or another Python version: pyprof stops
  exec-python         sampling with "process N exec'd into PATH" within 0.5 s, exit 0; the stack
                      before the exec exact, no frame of the new program, no garbage frame
  thread-churn-1000   1000 short-lived threads, ~50 alive at a time: every frame a function/line
                      of the target or threading, the torn/unreadable counts reported, >= 100
                      samples in the worker function in >= 50 distinct threads
  recursion-churn-*   depth 1-200 changing constantly, fast (leaves return at once), paced (leaves
                      spin) and fast with -n (heap frames on 3.8-3.10, chunks after): no
                      garbage frame, no stack mixing two moments (a caller at a leaf-only line)
                      on <= 3.10 or with -n (3.11+: at most 10% fast, 1% paced), every sample
                      written or counted torn/unreadable; paced keeps >= 150 a second, native
                      >= 90% with nothing torn
  sigkill-record      pyprof record (and record --native when --help lists it) killed with
                      SIGKILL while sampling at 1 kHz: the target is not stopped, not traced
                      (TracerPid 0) and its counter keeps increasing
  attach-detach-100   dump and record -d 0.05, alternately, 100 times: each sees the exact
                      stack; afterwards no tracer, not stopped, the same fds, no pyprof left
                      (on the oldest and newest version and on non-PIE builds only: ~10 s each)
  pid-reuse           the target dies while pyprof is frozen (SIGSTOP) and its PID goes to
                      /bin/sleep, or to the same Python running another script (forced through
                      /proc/sys/kernel/ns_last_pid; SKIP when not writable): once resumed pyprof
                      ends within 1 s, "process N exited; PID N now belongs to another process
                      (PATH)", exit 0, the stacks before the death exact, never the newcomer's;
                      then `pyprof dump` on that PID: exit 5, "not a Python process", "sleep"

Faults are injected only once pyprof samples: it holds /proc/PID/stat open from right before its
first sample (its exit/exec/reuse watch), and the targets wait for a "go" file created then.
Targets run with -S: no site-packages .pth side effects (atexit handlers, threads) in the frames.
"Garbage" is checked exactly: every frame's (file, function) must be a code object of the file,
and its line one of that code object's line starts (dis.findlinestarts, plus co_firstlineno; no
line only where co_lines has instructions without one), computed by the same interpreter.
Stdlib only. Usage: test_faults.py --pyprof PATH [-k NAME]
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", LC_ALL="C.UTF-8")
for _k in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONWARNINGS"):
    ENV.pop(_k, None)

EXIT_RUNS = 10
PYPROF_TIMEOUT = 30

# Every target writes READY (atomically) once it is in its steady state. `# L:name` marks a line.
READY = r'''
import json, os
def signal_ready(path, **info):
    info["pid"] = os.getpid()
    with open(path + ".tmp", "w") as f:
        json.dump(info, f)
    os.replace(path + ".tmp", path)

def wait_go(path):
    while not os.access(path, os.F_OK): pass  # L:wait_go
'''

EXIT_TARGET = READY + r'''
import os, sys, threading, time

def leaf_exit(end):
    x = 0
    while time.perf_counter() < end: x += 1  # L:leaf_exit
    return x

def mid_exit(end):
    return leaf_exit(end)  # L:mid_exit

def daemon_exit():
    while True:
        mid_exit(time.perf_counter() + 0.001)
        time.sleep(0.009)

if __name__ == "__main__":
    ready, go, delay, kind = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    if kind == "threads":
        for _ in range(4):
            threading.Thread(target=daemon_exit, daemon=True).start()
    signal_ready(ready)
    wait_go(go)
    mid_exit(time.perf_counter() + delay)  # L:module_exit
    if kind == "_exit":
        os._exit(0)
'''

EXEC_TARGET = READY + r'''
import os, sys, time

def before_exec_spin(end):
    while time.perf_counter() < end: pass  # L:before_exec_spin

def main():
    ready, go, spin, new = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
    signal_ready(ready)
    wait_go(go)  # L:main_wait
    before_exec_spin(time.perf_counter() + spin)  # L:main_exec
    os.execv(new[0], new)

main()  # L:module_exec
'''

AFTER_EXEC_TARGET = r'''
import sys, time

def after_exec_spin(end):
    while time.perf_counter() < end:
        pass

after_exec_spin(time.perf_counter() + float(sys.argv[1]))
'''

THREADS_TARGET = READY + r'''
import sys, threading, time

def worker_churn(i):
    end = time.perf_counter() + 0.001
    while time.perf_counter() < end: pass  # L:worker_churn

def main_churn(total, alive_max):
    alive = []
    for i in range(total):
        t = threading.Thread(target=worker_churn, args=(i,))
        t.start()
        alive.append(t)
        if len(alive) >= alive_max:
            alive.pop(0).join()
    for t in alive:
        t.join()

if __name__ == "__main__":
    ready, go, total, alive_max = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    signal_ready(ready)
    wait_go(go)
    main_churn(total, alive_max)
'''

RECURSE_TARGET = READY + r'''
import random, sys, time

def rec_a(n):
    if n <= 0:
        for _ in range(SPIN): pass
        return 0
    return rec_b(n - 1) + 1  # L:rec_a

def rec_b(n):
    if n <= 0:
        for _ in range(SPIN): pass
        return 0
    return rec_a(n - 1) + 1  # L:rec_b

def drive(end, depths):
    while time.perf_counter() < end:
        for d in depths:
            rec_a(d)  # L:drive

if __name__ == "__main__":
    ready, secs, SPIN = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    rnd = random.Random(7)
    depths = [rnd.randrange(1, 200) for _ in range(1000)]
    signal_ready(ready)
    drive(time.perf_counter() + secs, depths)  # L:module_rec
'''

COUNTER_TARGET = READY + r'''
import os, sys

def count_progress(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    n = 0
    while True:
        n += 1
        if n % 2000 == 0:
            os.pwrite(fd, b"%20d" % n, 0)

if __name__ == "__main__":
    signal_ready(sys.argv[1])
    count_progress(sys.argv[2])
'''

SPIN_TARGET = READY + r'''
import sys, time

def attach_spin():
    while True: pass  # L:attach_spin

if __name__ == "__main__":
    signal_ready(sys.argv[1])
    attach_spin()  # L:module_spin
'''

REPLACEMENT_TARGET = READY + r'''
import sys

def replacement_spin():
    while True:
        pass

if __name__ == "__main__":
    signal_ready(sys.argv[1])
    replacement_spin()
'''

# Run by each interpreter: {file basename: {function name: [line starts]}} for the given files
# (co_name and co_qualname both map to the code object's lines; 0 when some instruction has no
# line).
CODE_TABLE = r'''
import dis, json, os, sys, types

def codes(co):
    yield co
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            yield from codes(c)

out = {}
for spec in sys.argv[1:]:
    path = __import__(spec[4:]).__file__ if spec.startswith("mod:") else spec
    with open(path, encoding="utf-8") as f:
        top = compile(f.read(), path, "exec")
    table = out.setdefault(os.path.basename(path), {})
    for c in codes(top):
        lines = {l for _, l in dis.findlinestarts(c) if l is not None}
        lines.add(c.co_firstlineno)
        if any(l is None for _, _, l in getattr(c, "co_lines", lambda: ())()):
            lines.add(0)  # instructions without a line (3.11+ prologues): shown without one
        for name in {c.co_name, getattr(c, "co_qualname", c.co_name)}:
            table.setdefault(name, set()).update(lines)
print(json.dumps({f: {n: sorted(l) for n, l in t.items()} for f, t in out.items()}))
'''

FRAME_RE = re.compile(r"^(.*) \((.*?)(?::([0-9]+))?\)$")  # no line: an instruction without one
THREAD_ROOT_RE = re.compile(r'^thread \(([0-9]+)(?: "(.*)")?\)$')

results = {"passed": 0, "failed": 0, "skipped": 0}
TMP = None
PYPROF = None


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def report(status, name, detail=""):
    key = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}[status]
    results[key] += 1
    detail = " | ".join(x.strip() for x in str(detail).splitlines() if x.strip())
    if len(detail) > 900:
        detail = detail[:900] + "..."
    print(f"{status} {name}" + (f": {detail}" if detail else ""), flush=True)


# ===== Processes =====

_live = []


def spawn(argv, **kw):
    """A process in a session of its own (killed as a group on the way out)."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    kw.setdefault("env", ENV)
    p = subprocess.Popen(argv, start_new_session=True, **kw)
    _live.append(p)
    return p


def reap(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.kill()
    except OSError:
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    if p in _live:
        _live.remove(p)


def reap_all():
    for p in list(_live):
        reap(p)


def wait_ready(path, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise Fail(f"target exited (status {proc.returncode}) before it was ready")
        if time.monotonic() > deadline:
            raise Fail(f"target not ready after {timeout}s")
        time.sleep(0.005)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Run:
    def __init__(self, rc, out, err, elapsed, pid):
        self.rc, self.out, self.err, self.elapsed, self.pid = rc, out, err, elapsed, pid


def finish(p, t0, timeout, what):
    """communicate() with a timeout; a timeout is a hang."""
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        reap(p)
        raise Fail(f"{what}: hung (still running after {timeout}s)")
    if p in _live:
        _live.remove(p)
    return Run(p.returncode, out, err.decode("utf-8", "replace"), time.monotonic() - t0, p.pid)


def pyprof_start(args):
    return spawn([PYPROF] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE), time.monotonic()


def wait_sampling(p, pid, go=None, timeout=15):
    """Wait until pyprof (Popen @p) samples @pid, then create the file @go. pyprof holds
    /proc/PID/stat open from right before its first sample (its exit, exec and PID-reuse
    watch): that is the sign, so faults are injected only once sampling is under way."""
    want, deadline = f"/proc/{pid}/stat", time.monotonic() + timeout
    while True:
        try:
            fds = os.listdir(f"/proc/{p.pid}/fd")
        except OSError:
            fds = []
        for fd in fds:
            try:
                if os.readlink(f"/proc/{p.pid}/fd/{fd}") == want:
                    if go:
                        open(go, "w").close()
                    return
            except OSError:
                pass
        if p.poll() is not None:
            raise Fail(f"pyprof exited ({p.returncode}) before sampling: "
                       f"{p.stderr.read().decode('utf-8', 'replace')[-300:]}")
        if time.monotonic() > deadline:
            raise Fail(f"pyprof did not start sampling PID {pid} within {timeout}s (it holds "
                       f"{want} open while it samples)")
        time.sleep(0.002)


def pyprof(args, timeout=PYPROF_TIMEOUT):
    p, t0 = pyprof_start(args)
    return finish(p, t0, timeout, "pyprof " + " ".join(args))


def check_rc(r, want, what):
    if r.rc is not None and r.rc < 0:
        raise Fail(f"{what}: pyprof killed by signal {-r.rc} (crash): {r.err[-400:]}")
    if r.rc != want:
        raise Fail(f"{what}: exit {r.rc}, expected {want}: {r.err[-500:]}")


def proc_status(pid):
    """(state letter, TracerPid) of a live process; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("utf-8", "replace")
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
            tracer = int(re.search(r"^TracerPid:\s*([0-9]+)", f.read(), re.M).group(1))
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat[stat.rindex(")") + 2], tracer


def check_not_stopped(pid, what):
    st = proc_status(pid)
    if st is None:
        raise Fail(f"{what}: target {pid} is gone")
    state, tracer = st
    if state in "tT":
        raise Fail(f"{what}: target {pid} left stopped (state {state})")
    if tracer != 0:
        raise Fail(f"{what}: target {pid} still traced (TracerPid {tracer})")
    if state in "ZX":
        raise Fail(f"{what}: target {pid} died (state {state})")


def pyprof_processes_on(pid):
    """PIDs of running pyprof processes (this binary) whose command line names @pid."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.path.realpath(f"/proc/{d}/exe") != os.path.realpath(PYPROF):
                continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if str(pid).encode() in args:
            found.append(int(d))
    return found


# ===== Scripts, frames and stacks =====

class Script:
    def __init__(self, name, text):
        self.path = os.path.join(TMP, name)
        self.name = name
        if not os.path.exists(self.path):
            with open(self.path, "w", encoding="utf-8") as f:
                f.write(text)
        self.marks = {}
        for n, line in enumerate(text.splitlines(), 1):
            m = re.search(r"# L:([A-Za-z_]+)", line)
            if m:
                self.marks[m.group(1)] = n

    def frame(self, func, mark):
        return f"{func} ({self.name}:{self.marks[mark]})"


_tables = {}


def code_table(py, specs):
    """{basename: {function: set(lines)}} of the given files / mod:NAME, as @py compiles them."""
    key = (py.path, tuple(specs))
    if key not in _tables:
        p = subprocess.run([py.path, "-c", CODE_TABLE] + list(specs), capture_output=True,
                           text=True, timeout=60, env=ENV)
        if p.returncode:
            raise Fail(f"test oracle: code table failed: {p.stderr[-300:]}")
        _tables[key] = {f: {n: set(l) for n, l in t.items()}
                        for f, t in json.loads(p.stdout).items()}
    return _tables[key]


def parse_folded(data, what="output"):
    """[(frames, count)] of folded text, validating every line."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as e:
        raise Fail(f"{what} is not UTF-8: {e}")
    if text and not text.endswith("\n"):
        raise Fail(f"{what} does not end with a newline (truncated?)")
    stacks = []
    for line in text.splitlines():
        m = re.match(r"^(.+) ([0-9]+)$", line)
        if not m or int(m.group(2)) <= 0:
            raise Fail(f"{what}: malformed line {line[:200]!r}")
        stacks.append((m.group(1).split(";"), int(m.group(2))))
    return stacks


def read_folded(path):
    if not os.path.exists(path):
        raise Fail("no output file written")
    with open(path, "rb") as f:
        return parse_folded(f.read())


def garbage(stacks, table, roots=False):
    """Frames that are not (file, function, line start) of a known code object: 'frame xN'."""
    bad = {}
    for frames, count in stacks:
        for i, fr in enumerate(frames):
            if roots and i == 0 and THREAD_ROOT_RE.match(fr):
                continue
            m = FRAME_RE.match(fr)
            ok = False
            if m:
                lines = table.get(m.group(2), {}).get(m.group(1))
                # No line: allowed where the code has instructions without one.
                ok = lines is not None and int(m.group(3) or 0) in lines
            if not ok:
                bad[fr] = bad.get(fr, 0) + count
    return sorted(bad.items(), key=lambda kv: -kv[1])


def check_no_garbage(stacks, table, what, roots=False):
    bad = garbage(stacks, table, roots)
    if bad:
        raise Fail(f"{what}: {len(bad)} frame(s) are no function/line of the target: " +
                   ", ".join(f"{f!r} x{c}" for f, c in bad[:5]))


def dominant(stacks):
    if not stacks:
        return None, 0, 0
    total = sum(c for _, c in stacks)
    top, n = max(stacks, key=lambda sc: sc[1])
    return ";".join(top), n, total


def summary_counts(err, what):
    """(torn, unreadable) from the summary line; fails when there is none."""
    m = re.search(r"([0-9]+) samples in .*; ([0-9]+) torn, ([0-9]+) unreadable", err)
    if not m:
        raise Fail(f"{what}: no summary with torn/unreadable counts: {err[-300:]}")
    return int(m.group(2)), int(m.group(3))


def new_dir(prefix):
    return tempfile.mkdtemp(prefix=prefix, dir=TMP)


# ===== Tests =====

def t_exit_mid_sample(py):
    """Exits at random points (normal finalization, os._exit, finalization with daemon threads
    spinning) while sampled at 1 kHz."""
    s = Script("exit_target.py", EXIT_TARGET)
    table = code_table(py, [s.path, "mod:threading"])
    expected = ";".join([s.frame("<module>", "module_exit"), s.frame("mid_exit", "mid_exit"),
                         s.frame("leaf_exit", "leaf_exit")])
    rnd = random.Random(hash(py.path) & 0xffff)
    kinds = ["return", "_exit", "threads"]
    torn = bad = samples = 0
    for i in range(EXIT_RUNS):
        kind = kinds[i % 3]
        delay = 0.01 + rnd.random() * 0.09  # 10 to 100 periods after sampling started
        d = new_dir("exit-")
        ready, go, out = (os.path.join(d, n) for n in ("ready", "go", "out.txt"))
        what = f"run {i} ({kind}, exit {delay:.4f}s after go)"
        t = spawn([py.path, "-S", s.path, ready, go, str(delay), kind])
        try:
            wait_ready(ready, t)
            if i % 2:  # reaped at once, as a real parent would; else a zombie until pyprof ends
                threading.Thread(target=t.wait, daemon=True).start()
            p, t0 = pyprof_start(["record", "-p", str(t.pid), "-r", "1000", "-d", "10", "-f",
                                  "folded", "-o", out])
            wait_sampling(p, t.pid, go)
            r = finish(p, t0, PYPROF_TIMEOUT, what)
        finally:
            reap(t)
        check_rc(r, 0, what)
        if r.elapsed > 5:
            raise Fail(f"{what}: pyprof took {r.elapsed:.1f}s to notice the exit")
        if f"process {t.pid} exited" not in r.err:
            raise Fail(f"{what}: no 'process {t.pid} exited' on stderr: {r.err[-300:]}")
        stacks = read_folded(out)
        total = sum(c for _, c in stacks)
        mine = sum(c for f, c in stacks if ";".join(f) == expected)
        if not mine:
            raise Fail(f"{what}: no sample of {expected!r} in {total}: {stacks[:3]}")
        check_no_garbage(stacks, table, what)
        a, b = summary_counts(r.err, what)
        torn, bad, samples = torn + a, bad + b, samples + total
    return f"{EXIT_RUNS} runs, {samples} samples, {torn} torn, {bad} unreadable"


def exec_case(py, new_argv, new_exe, what):
    s = Script("exec_target.py", EXEC_TARGET)
    table = code_table(py, [s.path])
    expected = ";".join([s.frame("<module>", "module_exec"), s.frame("main", "main_exec"),
                         s.frame("before_exec_spin", "before_exec_spin")])
    d = new_dir("exec-")
    ready, go, out = (os.path.join(d, n) for n in ("ready", "go", "out.txt"))
    t = spawn([py.path, "-S", s.path, ready, go, "0.2"] + new_argv)
    try:
        wait_ready(ready, t)
        old = os.path.realpath(f"/proc/{t.pid}/exe")
        p, t0 = pyprof_start(["record", "-p", str(t.pid), "-r", "1000", "-d", "20", "-f",
                              "folded", "-o", out])
        wait_sampling(p, t.pid, go)
        exe, execd = old, None
        while exe == old and time.monotonic() < t0 + 10 and t.poll() is None:
            time.sleep(0.002)
            exe = os.path.realpath(f"/proc/{t.pid}/exe")
        execd = time.monotonic()
        r = finish(p, t0, 10, what)
    finally:
        reap(t)
    check_rc(r, 0, what)
    if exe != os.path.realpath(new_exe):
        raise Fail(f"{what}: test setup: the target runs {exe}, not {new_exe}")
    msg = f"process {t.pid} exec'd into {os.path.realpath(new_exe)}"
    if msg not in r.err:
        raise Fail(f"{what}: no {msg!r} on stderr: {r.err[-400:]}")
    late = t0 + r.elapsed - execd
    if late > 0.5:
        raise Fail(f"{what}: pyprof ran on {late:.1f}s after the exec")
    stacks = read_folded(out)
    top, n, total = dominant(stacks)
    waiting = ";".join([s.frame("<module>", "module_exec"), s.frame("main", "main_wait"),
                        s.frame("wait_go", "wait_go")])
    spin = total - sum(c for f, c in stacks if ";".join(f) == waiting)
    if top != expected or n < 0.9 * spin or n < 50:
        raise Fail(f"{what}: dominant stack {top!r} ({n} of {total}), expected {expected!r}")
    check_no_garbage(stacks, table, what)
    torn, bad = summary_counts(r.err, what)
    return f"{total} samples before the exec, {torn} torn, {bad} unreadable; '{msg}'"


def t_exec_non_python(py):
    return exec_case(py, ["/bin/sleep", "5"], "/bin/sleep", "exec /bin/sleep 5")


def t_exec_python(py):
    other = [p for p in ALL_PYTHONS if p.version[:2] != py.version[:2] and p.pie]
    if not other:
        raise Skip("no other Python version installed")
    # Prefer a far-away version, so the layouts differ most.
    other = max(other, key=lambda p: abs(p.version[1] - py.version[1]))
    after = Script("after_exec.py", AFTER_EXEC_TARGET)
    return exec_case(py, [other.path, after.path, "3"], other.path,
                     f"exec Python {other.label}") + f" (into {other.label})"


def t_thread_churn(py):
    s = Script("threads_target.py", THREADS_TARGET)
    table = code_table(py, [s.path, "mod:threading", "mod:_weakrefset"])
    d = new_dir("threads-")
    ready, go, out = (os.path.join(d, n) for n in ("ready", "go", "out.txt"))
    t = spawn([py.path, "-S", s.path, ready, go, "1000", "50"])
    try:
        wait_ready(ready, t)
        p, t0 = pyprof_start(["record", "-p", str(t.pid), "-r", "1000", "-d", "30", "-t", "-f",
                              "folded", "-o", out])
        wait_sampling(p, t.pid, go)
        r = finish(p, t0, 40, "1000 threads")
        status = t.wait(timeout=10)
    finally:
        reap(t)
    check_rc(r, 0, "1000 threads")
    if status != 0:
        raise Fail(f"the target exited with status {status}")
    if f"process {t.pid} exited" not in r.err:
        raise Fail(f"no 'process {t.pid} exited' on stderr: {r.err[-300:]}")
    stacks = read_folded(out)
    check_no_garbage(stacks, table, "1000 threads", roots=True)
    worker = [(f, c) for f, c in stacks if f[-1].startswith("worker_churn (")]
    n_worker = sum(c for _, c in worker)
    tids = {f[0] for f, _ in worker}
    torn, bad = summary_counts(r.err, "1000 threads")
    total = sum(c for _, c in stacks)
    if n_worker < 100 or len(tids) < 50:
        raise Fail(f"only {n_worker} samples in worker_churn, in {len(tids)} threads, of {total} "
                   f"(want >= 100 in >= 50 threads): {r.err[-300:]}")
    return f"{total} thread stacks, {n_worker} in worker_churn in {len(tids)} threads; " \
           f"{torn} torn, {bad} unreadable"


# recursion-churn: depth 1-200, changing constantly.
#   fast    the leaves return at once: the stack changes every ~0.1 us, faster than a walk
#           can follow without stopping the thread. Most samples may be torn and dropped; what
#           matters is that nothing kept is garbage or mixes two moments (a caller at a line it
#           only reaches as a leaf), and that every dropped sample is counted.
#   paced   each leaf spins 20,000 loop iterations (~0.5 ms): the stack changes under some walks;
#           the walker must keep >= 150 samples a second, deep ones among them.
# No stack mixing two moments is tolerated on <= 3.10 or with -n; on 3.11+ see MIXED_MAX_CHUNKS.
#   native  the fast churn with -n: each thread is stopped while it is read, so nothing tears:
#           >= 90% kept. C frames may only be leaves (libc's mmap for a new datastack chunk).
CHURN = {  # name: (leaf spin, extra pyprof args, minimum share of samples kept, or None)
    "fast": (0, [], None),
    "paced": (20000, [], 0.0),
    "native": (0, ["-n"], 0.9),
}
# 3.11+ without -n: a datastack chunk is copied in one read while the target runs on, and the
# frames kept are not compared with a second read (that would drop 14-27% of the samples of
# ordinary fast-changing code); a stack that changed during the copy can mix two moments.
# Measured on this machine: 0-4.5% of the samples of the fast churn, 0-0.4% of the paced one.
MIXED_MAX_CHUNKS = {"fast": 0.10, "paced": 0.01, "native": 0.0}
NATIVE_FRAME = re.compile(r" \([^():]+\)$")  # "name (object)"; Python frames have file:line


def t_recursion_churn(py, mode):
    try:
        return recursion_churn(py, mode)
    except Starved as e:  # a loaded machine can starve the sampler: once more, for longer
        print(f"# recursion-churn-{mode} [{py.label}]: retrying: {e}", file=sys.stderr, flush=True)
        return recursion_churn(py, mode, secs=3)


class Starved(Fail):
    pass


def recursion_churn(py, mode, secs=1):
    spin, extra, keep_min = CHURN[mode]
    s = Script("recurse_target.py", RECURSE_TARGET)
    table = code_table(py, [s.path])
    d = new_dir("rec-")
    ready, out = os.path.join(d, "ready"), os.path.join(d, "out.txt")
    t = spawn([py.path, "-S", s.path, ready, "30", str(spin)])
    try:
        wait_ready(ready, t)
        r = pyprof(["record", "-p", str(t.pid), "-r", "1000", "-d", str(secs), "-f", "folded",
                    "-o", out] + extra)
    finally:
        reap(t)
    check_rc(r, 0, "recursion")
    stacks = read_folded(out)
    if "-n" in extra:  # C leaves (libc, the clock behind time.perf_counter) are dropped here
        trimmed = []
        for f, c in stacks:
            while f and NATIVE_FRAME.search(f[-1]):
                f = f[:-1]
            trimmed.append((f, c))
        stacks = trimmed
    check_no_garbage(stacks, table, "recursion")
    # Exact shape: <module>;drive;rec_a;rec_b;rec_a;... with every caller on its call line.
    head = [s.frame("<module>", "module_rec"), s.frame("drive", "drive")]
    call = {"rec_a": s.frame("rec_a", "rec_a"), "rec_b": s.frame("rec_b", "rec_b")}
    wrong = {}  # stack -> (count, where it goes wrong)
    for frames, count in stacks:
        bad = None
        if len(frames) < 2 or frames[0] != head[0] or not frames[1].startswith("drive ("):
            bad = "not <module>;drive at the root"
        elif len(frames) > 2 and frames[1] != head[1]:
            bad = f"drive at {frames[1]}"  # drive calls rec_a from one line only
        for i, fr in enumerate(frames[2:]):
            func = "rec_a" if i % 2 == 0 else "rec_b"
            if bad:
                break
            if not fr.startswith(func + " ("):
                bad = f"frame {2 + i} is {fr}, not {func}"  # frames of two moments mixed
            elif 2 + i < len(frames) - 1 and fr != call[func]:
                bad = f"caller {2 + i} of {len(frames)} at {fr}"  # not on its call line
        if bad:
            wrong[";".join(frames)] = (count, bad)
    kept = sum(c for _, c in stacks)
    deep = sum(c for f, c in stacks if len(f) > 60)
    m = re.search(r"([0-9]+) samples in .*?([0-9]+) thread stacks, ([0-9]+) idle left out; "
                  r"([0-9]+) torn, ([0-9]+) unreadable", r.err)
    if not m:
        raise Fail(f"no summary with torn/unreadable counts: {r.err[-300:]}")
    samples, thread_stacks, idle, torn, bad = map(int, m.groups())
    # One Python thread: every sample is a stack written, or counted as torn or unreadable.
    if thread_stacks != kept or kept + idle + torn + bad != samples:
        raise Fail(f"counts do not add up: {kept} stacks in the output, summary: {m.group(0)}")
    if keep_min is not None and (kept < keep_min * samples or kept < 150 or deep == 0):
        raise Starved(f"{kept} of {samples} samples kept ({deep} deeper than 60 frames), want "
                      f">= {keep_min:.0%} and >= 150 with some deeper than 60: {m.group(0)}")
    # More than 10% torn: the summary says that fast code is under-counted, and what helps.
    note = re.search(r"note: ([0-9]+)% of thread samples were torn .* -n/--native", r.err)
    if (torn * 10 > kept + torn + bad) != bool(note) or \
            (note and int(note.group(1)) != round(100 * torn / (kept + torn + bad))):
        raise Fail(f"{torn} torn of {kept + torn + bad}, but the torn note is "
                   f"{note.group(0) if note else 'missing'}: {r.err[-400:]}")
    n_wrong = sum(c for c, _ in wrong.values())
    if n_wrong > (MIXED_MAX_CHUNKS[mode] * kept if py.version >= (3, 11) else 0):
        k = max(wrong, key=lambda x: wrong[x][0])
        raise Fail(f"{len(wrong)} stacks ({n_wrong} of {kept} samples) are not an exact "
                   f"rec_a/rec_b chain; x{wrong[k][0]} {wrong[k][1]}: {k[:100]} ... {k[-150:]}")
    return f"{kept} of {samples} samples kept ({deep} deeper than 60 frames), {torn} torn, " \
           f"{bad} unreadable, {n_wrong} mixing two moments"


def read_counter(path):
    try:
        with open(path, "rb") as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def sigkill_case(py, opts, what):
    s = Script("counter_target.py", COUNTER_TARGET)
    d = new_dir("kill-")
    ready, counter, out = (os.path.join(d, n) for n in ("ready", "counter", "out.txt"))
    t = spawn([py.path, "-S", s.path, ready, counter])
    try:
        wait_ready(ready, t)
        p, _ = pyprof_start(["record", "-p", str(t.pid), "-r", "1000", "-d", "60", "-o", out]
                            + opts)
        wait_sampling(p, t.pid)
        time.sleep(0.3)
        if p.poll() is not None:
            err = p.stderr.read().decode("utf-8", "replace")
            raise Fail(f"{what}: pyprof exited ({p.returncode}) before the kill: {err[-300:]}")
        if t.poll() is not None:
            raise Fail(f"{what}: the target died while sampled (status {t.returncode})")
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        _live.remove(p)
        p.stdout.close()
        p.stderr.close()
        if p.returncode != -signal.SIGKILL:
            raise Fail(f"{what}: pyprof exit {p.returncode} instead of being killed")
        time.sleep(0.05)
        check_not_stopped(t.pid, what)
        c1 = read_counter(counter)
        time.sleep(0.3)
        c2 = read_counter(counter)
        check_not_stopped(t.pid, what)
        if c2 <= c1:
            raise Fail(f"{what}: the target made no progress after the kill ({c1} -> {c2})")
        if pyprof_processes_on(t.pid):
            raise Fail(f"{what}: pyprof processes left: {pyprof_processes_on(t.pid)}")
    finally:
        reap(t)
    return f"counter {c1} -> {c2} in 0.3 s after SIGKILL"


def t_sigkill(py):
    return sigkill_case(py, [], "record --pid")


def t_sigkill_native(py):
    h = pyprof(["record", "--help"], timeout=10)
    if "--native" not in h.out.decode("utf-8", "replace") + h.err:
        raise Skip("`pyprof record --help` lists no --native (being added): variant not run")
    return sigkill_case(py, ["--native"], "record --pid --native")


ATTACH_CYCLES = 100


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def t_attach_100(py):
    s = Script("spin_target.py", SPIN_TARGET)
    expected = ";".join([s.frame("<module>", "module_spin"),
                         s.frame("attach_spin", "attach_spin")])
    d = new_dir("attach-")
    ready = os.path.join(d, "ready")
    t = spawn([py.path, "-S", s.path, ready])
    try:
        wait_ready(ready, t)
        check_not_stopped(t.pid, "before")
        fds = fd_count(t.pid)
        spin_line = (f'  File "{s.path}", line {s.marks["attach_spin"]}, in attach_spin')
        mod_line = (f'  File "{s.path}", line {s.marks["module_spin"]}, in <module>')
        for i in range(ATTACH_CYCLES):
            if i % 2 == 0:
                r = pyprof(["dump", "-p", str(t.pid)])
                check_rc(r, 0, f"dump #{i}")
                lines = r.out.decode("utf-8", "replace").splitlines()
                want = [f"Thread {t.pid} ", mod_line, spin_line]
                try:
                    k = next(j for j, l in enumerate(lines) if l.startswith(want[0]))
                except StopIteration:
                    raise Fail(f"dump #{i}: no thread {t.pid}: {lines[:6]}")
                if lines[k + 1:k + 3] != want[1:] or (len(lines) > k + 3 and lines[k + 3]):
                    raise Fail(f"dump #{i}: stack {lines[k:k + 4]}, expected {want}")
            else:
                r = pyprof(["record", "-p", str(t.pid), "-d", "0.05", "-r", "200", "-f", "folded",
                            "-o", "-"])
                check_rc(r, 0, f"record #{i}")
                top, n, total = dominant(parse_folded(r.out, f"record #{i}"))
                if top != expected or n < 0.9 * total:
                    raise Fail(f"record #{i}: {top!r} ({n} of {total}), expected {expected!r}")
        time.sleep(0.05)
        check_not_stopped(t.pid, f"after {ATTACH_CYCLES} attaches")
        after = fd_count(t.pid)
        if after != fds:
            raise Fail(f"the target had {fds} fds before and {after} after")
        left = pyprof_processes_on(t.pid)
        if left:
            raise Fail(f"pyprof processes left: {left}")
    finally:
        reap(t)
    return f"{ATTACH_CYCLES // 2} dumps + {ATTACH_CYCLES // 2} records, {fds} fds before and after"


def take_pid(pid, argv, **kw):
    """Start @argv as PID @pid through ns_last_pid; None if another process won every race."""
    for _ in range(30):
        if os.path.exists(f"/proc/{pid}"):
            return None
        try:
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(pid - 1))
        except OSError as e:
            raise Skip(f"cannot write /proc/sys/kernel/ns_last_pid ({e.strerror}): needs root "
                       f"in the initial PID namespace")
        p = spawn(argv, **kw)
        if p.pid == pid:
            return p
        reap(p)
    return None


def t_pid_reuse(py):
    if not os.access("/proc/sys/kernel/ns_last_pid", os.W_OK):
        raise Skip("/proc/sys/kernel/ns_last_pid is not writable (needs root): PID reuse "
                   "cannot be forced")
    s = Script("spin_target.py", SPIN_TARGET)
    repl = Script("replacement.py", REPLACEMENT_TARGET)
    table = code_table(py, [s.path])
    expected = ";".join([s.frame("<module>", "module_spin"),
                         s.frame("attach_spin", "attach_spin")])
    notes = []
    for newcomer in ("sleep", "python"):
        for attempt in range(3):  # a busy machine's forks can win the PID: start over
            try:
                notes.append(reuse_case(py, newcomer, s, repl, table, expected))
                break
            except Stolen as e:
                if attempt == 2:
                    raise Skip(str(e))
    return "; ".join(notes) + "; dump: exit 5, not a Python process (sleep)"


class Stolen(Skip):
    pass


def reuse_case(py, newcomer, s, repl, table, expected):
    """One PID reuse: the target dies while pyprof is frozen, @newcomer takes its PID."""
    what = f"PID taken by {newcomer}"
    d = new_dir("reuse-")
    ready, out, ready2 = (os.path.join(d, n) for n in ("ready", "out.txt", "ready2"))
    t = spawn([py.path, "-S", s.path, ready])
    p = q = None
    try:
        wait_ready(ready, t)
        pid = t.pid
        p, _ = pyprof_start(["record", "-p", str(pid), "-r", "200", "-d", "5", "-f",
                             "folded", "-o", out])
        wait_sampling(p, pid)
        time.sleep(0.3)
        if p.poll() is not None:
            raise Fail(f"{what}: pyprof exited early: {p.stderr.read()[-300:]}")
        # Freeze pyprof, so that the death and the reuse happen between two of its samples.
        os.kill(p.pid, signal.SIGSTOP)
        reap(t)
        if newcomer == "sleep":
            q = take_pid(pid, ["/bin/sleep", "30"])
        else:
            q = take_pid(pid, [py.path, repl.path, ready2])
        if q is None:
            raise Stolen(f"{what}: another process took PID {pid} first, 30 times")
        if newcomer == "python":
            wait_ready(ready2, q)
        else:
            deadline = time.monotonic() + 5
            while "sleep" not in os.path.realpath(f"/proc/{pid}/exe"):
                if time.monotonic() > deadline:
                    raise Fail("sleep did not start")
                time.sleep(0.005)
        t0 = time.monotonic()
        os.kill(p.pid, signal.SIGCONT)
        r = finish(p, t0, 10, f"pyprof record ({what})")
        check_rc(r, 0, what)
        if r.elapsed > 1.0:
            raise Fail(f"{what}: pyprof took {r.elapsed:.1f}s after SIGCONT to notice")
        m = re.search(r"process %d exited[^\n]*" % pid, r.err)
        if not m or "another process" not in m.group(0):
            raise Fail(f"{what}: stderr does not say process {pid} exited and its PID went "
                       f"to another process: {r.err[-400:]}")
        stacks = read_folded(out)
        top, n, total = dominant(stacks)
        if top != expected or n < 0.9 * total or total < 20:
            raise Fail(f"{what}: dominant stack {top!r} ({n} of {total}), expected "
                       f"{expected!r}")
        check_no_garbage(stacks, table, what)
        if newcomer == "sleep":
            # (b) dump on the PID now held by sleep: "not a Python process", exit 5.
            r2 = pyprof(["dump", "-p", str(pid)], timeout=10)
            check_rc(r2, 5, "dump on the reused PID")
            if "not a Python process" not in r2.err or "sleep" not in r2.err:
                raise Fail(f"dump on the reused PID: message lacks 'not a Python process' "
                           f"or 'sleep': {r2.err[-300:]}")
        return f"{newcomer}: {total} samples; {m.group(0)!r}"
    finally:
        if p is not None:
            try:
                os.kill(p.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            reap(p)
        if q is not None:
            reap(q)
        reap(t)


PER_PYTHON = [
    ("exit-mid-sample", t_exit_mid_sample),
    ("exec-non-python", t_exec_non_python),
    ("exec-python", t_exec_python),
    ("thread-churn-1000", t_thread_churn),
    ("recursion-churn-fast", lambda py: t_recursion_churn(py, "fast")),
    ("recursion-churn-paced", lambda py: t_recursion_churn(py, "paced")),
    ("recursion-churn-native", lambda py: t_recursion_churn(py, "native")),
    ("sigkill-record", t_sigkill),
    ("sigkill-record-native", t_sigkill_native),
    ("attach-detach-100", t_attach_100),
    ("pid-reuse", t_pid_reuse),
]
SOME_PYTHONS = {t_attach_100}


# ===== Interpreters =====

class Python:
    def __init__(self, label, path):
        self.label, self.path = label, path
        self.version = None
        self.pie = True

    def probe(self):
        p = subprocess.run([self.path, "-c", "import sys; print(*sys.version_info[:2])"],
                           capture_output=True, text=True, timeout=30, env=ENV)
        if p.returncode:
            raise Fail(f"cannot run {self.path}: {p.stderr[-200:]}")
        self.version = tuple(int(x) for x in p.stdout.split())
        with open(os.path.realpath(self.path), "rb") as f:
            head = f.read(18)
        self.pie = head[16] == 3  # e_type ET_DYN


ALL_PYTHONS = []


def find_pythons():
    """[Python], [(label, why)] skipped: PYPROF_TEST_PYTHONS, else pyenv 3.8-3.13 (the newest
    of each minor) and /usr/bin/python3.11."""
    found, skipped = [], []
    env = os.environ.get("PYPROF_TEST_PYTHONS", "").split()
    if env:
        for path in env:
            (found.append(Python(path, path)) if os.path.exists(path)
             else skipped.append((path, "listed in PYPROF_TEST_PYTHONS but missing")))
        return found, skipped
    versions = []
    try:
        versions = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True,
                                  text=True, timeout=20).stdout.split()
    except (OSError, subprocess.SubprocessError):
        skipped.append(("pyenv", "not found"))
    for minor in range(8, 14):
        mine = [v for v in versions if re.fullmatch(r"3\.%d\.[0-9]+" % minor, v)]
        if not mine:
            skipped.append((f"3.{minor}", "pyenv has no 3.%d" % minor))
            continue
        v = max(mine, key=lambda x: int(x.split(".")[2]))
        prefix = subprocess.run(["pyenv", "prefix", v], capture_output=True, text=True,
                                timeout=20).stdout.strip()
        exe = os.path.join(prefix, "bin", "python3")
        (found.append(Python(v, exe)) if os.access(exe, os.X_OK)
         else skipped.append((v, f"{exe} missing")))
    if os.access("/usr/bin/python3.11", os.X_OK):
        found.append(Python("debian-3.11", "/usr/bin/python3.11"))
    else:
        skipped.append(("debian-3.11", "/usr/bin/python3.11 not present"))
    return found, skipped


def main():
    global TMP, PYPROF
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pyprof", required=True)
    ap.add_argument("-k", dest="only", action="append", default=[],
                    help="run only tests whose name contains this (repeatable)")
    args = ap.parse_args()
    PYPROF = os.path.abspath(args.pyprof)
    started = time.monotonic()
    TMP = os.path.realpath(tempfile.mkdtemp(prefix="pyprof-faults-"))
    try:
        found, skipped = find_pythons()
        for label, why in skipped:
            report("SKIP", f"interpreter [{label}]", why)
        for py in found:
            try:
                py.probe()
            except (Fail, OSError, subprocess.SubprocessError) as e:
                report("FAIL", f"interpreter [{py.label}]", str(e))
                continue
            if (3, 8) <= py.version <= (3, 13):
                ALL_PYTHONS.append(py)
            else:
                report("SKIP", f"interpreter [{py.label}]", f"{py.version} is not 3.8-3.13")
        if not ALL_PYTHONS:
            report("SKIP", "faults", "no Python 3.8-3.13 interpreter found")
        # attach-detach-100 costs ~0.1 s per cycle: it runs on the oldest and newest versions and
        # on non-PIE (Debian's static) builds, which cover the three discovery paths.
        versions = [p.version for p in ALL_PYTHONS]
        few = [p for p in ALL_PYTHONS if not p.pie or p.version in (min(versions), max(versions))]
        for py in ALL_PYTHONS:
            for name, test in PER_PYTHON:
                if args.only and not any(k in name for k in args.only):
                    continue
                if test in SOME_PYTHONS and py not in few:
                    continue
                full = f"{name} [{py.label}]"
                t0 = time.monotonic()
                try:
                    detail = test(py)
                    report("PASS", full, f"{detail} ({time.monotonic() - t0:.1f}s)")
                except Skip as e:
                    report("SKIP", full, str(e))
                except Fail as e:
                    report("FAIL", full, str(e))
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as e:  # a bug in the test or an unexpected failure
                    report("FAIL", full, f"{type(e).__name__}: {e}")
                finally:
                    reap_all()
    finally:
        reap_all()
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"({time.monotonic() - started:.1f} s)")
    print(f"{results['passed']} passed, {results['failed']} failed, {results['skipped']} skipped")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
