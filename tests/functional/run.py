#!/usr/bin/env python3
"""Functional tests of `pyprof record` against real CPython interpreters.

Usage: python3 tests/functional/run.py --pyprof PATH [-k SUBSTRING] [--keep-tmp]

Interpreters: PYPROF_TEST_PYTHONS (space-separated paths) when set and non-empty; otherwise every
pyenv 3.8-3.13 plus /usr/bin/python3.11 (Debian's static, stripped build). Interpreters older
than 3.8 found there, and pyenv's 2.7, 3.6 and 3.7, are checked for the "unsupported version"
exit code instead.

Targets (targets/*.py) signal readiness through a file once every thread is in its steady state
and then spin on one line, so every sample has the same exact stack: the most frequent stack must
be exactly the expected string and hold >= 90% of the samples, and the count must be plausible
for the duration and rate. Expected frames come from marker comments in the target source
(`# L:name` marks a current line, `# F:name` a definition line); frames outside the target
(threading, asyncio) come from the target's own introspection, since their lines differ per
version. Names are co_qualname on 3.11+ and co_name before. A test whose only fault is the sample
count (a loaded machine delays the sampler) runs once more; wrong stacks are never retried.
Launch-mode tests leave interpreter start-up samples (site, importlib) out of the dominance check.

Each test prints `PASS name [python]`, `FAIL name [python]: why` or `SKIP name [python]: why`;
the last line is `N passed, N failed, N skipped`; the exit status is 1 if anything failed.
Standard library only; every child process runs in its own session and is killed on the way out.
"""
import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = os.path.join(HERE, "targets")

# Supported range, and what attach-mode recordings use unless a test says otherwise.
SUPPORTED = ((3, 8), (3, 13))
DUR, RATE = "0.5", "200"              # 100 samples expected
SAMPLES_LO, SAMPLES_HI = 50, 110      # plausible total per thread for DUR x RATE (and 1 s x 100 Hz)
DOMINANT = 0.9
FOLDED = ["-f", "folded"]  # explicit: the default format follows the -o extension
READY_TIMEOUT = 30.0
PYPROF_TIMEOUT = 30.0

PYPROF = None
TMP = None
ENV = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", LC_ALL="C.UTF-8")
for _k in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONWARNINGS"):
    ENV.pop(_k, None)


class Fail(Exception):
    pass


class Skip(Exception):
    pass


class CountFail(Fail):
    """Only the number of samples was off (the stacks were right): worth one retry, since a
    loaded machine can delay the sampler."""


# ===== Processes =====

_live = []
_live_lock = threading.Lock()


def spawn(argv, **kw):
    """Start a process in a session of its own, so that it and its children can be killed."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("env", ENV)
    p = subprocess.Popen(argv, start_new_session=True, **kw)
    with _live_lock:
        _live.append(p)
    return p


def reap(p):
    """Kill a spawned process's whole session and wait for the process."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    with _live_lock:
        if p in _live:
            _live.remove(p)


def reap_all():
    with _live_lock:
        procs = list(_live)
    for p in procs:
        reap(p)


Run = collections.namedtuple("Run", "rc out err elapsed")


def run_cmd(argv, timeout=PYPROF_TIMEOUT, **kw):
    """Run to completion (killed after timeout). Returns Run(rc, stdout bytes, stderr str, secs)."""
    t0 = time.monotonic()
    p = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        reap(p)
        raise Fail("timed out after %gs: %s" % (timeout, " ".join(argv)))
    finally:
        reap(p)
    return Run(p.returncode, out, err.decode("utf-8", "replace"), time.monotonic() - t0)


def pyprof(args, timeout=PYPROF_TIMEOUT, prefix=()):
    return run_cmd(list(prefix) + [PYPROF] + list(args), timeout=timeout)


def one_line(s, limit=700):
    s = " | ".join(x.strip() for x in str(s).strip().splitlines() if x.strip())
    return s if len(s) <= limit else s[:limit] + "..."


def wait_file(path, proc, timeout, what):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc is not None and proc.poll() is not None:
            raise Fail("%s exited (status %s) before it was ready" % (what, proc.returncode))
        if time.monotonic() > deadline:
            raise Fail("%s not ready after %gs" % (what, timeout))
        time.sleep(0.01)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Target:
    """A target script started as `python script READY args...`; ready once READY is written."""

    def __init__(self, py, script, args=(), timeout=READY_TIMEOUT):
        self.py, self.script, self.args, self.timeout = py, script, [str(a) for a in args], timeout
        self.p = None

    def __enter__(self):
        d = tempfile.mkdtemp(prefix="target-", dir=TMP)
        self.ready_path = os.path.join(d, "ready.json")
        self.err_path = os.path.join(d, "stderr.txt")
        with open(self.err_path, "wb") as err:
            self.p = spawn([self.py.path, self.script, self.ready_path] + self.args,
                           stdout=subprocess.DEVNULL, stderr=err, cwd=d)
        try:
            self.info = wait_file(self.ready_path, self.p, self.timeout,
                                  "target %s" % os.path.basename(self.script))
        except Fail as e:
            reap(self.p)
            raise Fail("%s: %s" % (e, one_line(self.stderr())))
        except BaseException:
            reap(self.p)
            raise
        self.pid = self.p.pid
        if "flag" in self.info:
            self.wait_flag(self.info["flag"])
        if self.info.get("pid") != self.pid:
            reap(self.p)
            raise Fail("ready file names PID %s, expected %s" % (self.info.get("pid"), self.pid))
        return self

    def wait_flag(self, path):
        """Wait until the first byte of `path` is 1 (set by the target's spin line)."""
        deadline = time.monotonic() + self.timeout
        while True:
            with open(path, "rb") as f:
                if f.read(1) == b"\1":
                    return
            if self.p.poll() is not None or time.monotonic() > deadline:
                reap(self.p)
                raise Fail("target did not set its ready flag: %s" % one_line(self.stderr()))
            time.sleep(0.01)

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        return self.p.poll() is None

    def __exit__(self, *exc):
        if self.p is not None:
            reap(self.p)


# ===== Expected stacks =====

Frame = collections.namedtuple("Frame", "name path short line first")


def short_name(path):
    """py-spy's short file name: path relative to the first parent without __init__.py."""
    d = os.path.dirname(path)
    while d not in ("", "/") and os.path.exists(os.path.join(d, "__init__.py")):
        d = os.path.dirname(d)
    return path[len(d):].lstrip("/") if d else path


_MARK = re.compile(r"\b([LF]):([A-Za-z0-9_]+)")


class Script:
    """A target file and its markers: `# L:name` current lines, `# F:name` definition lines."""

    def __init__(self, path, short=None):
        self.path = path
        self.short = short if short is not None else os.path.basename(path)
        self.marks = {"L": {}, "F": {}}
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if "#" not in line:
                    continue
                for kind, name in _MARK.findall(line[line.index("#"):]):
                    if name in self.marks[kind]:
                        raise Fail("%s: marker %s:%s appears twice" % (path, kind, name))
                    self.marks[kind][name] = n

    def line(self, kind, name):
        try:
            return self.marks[kind][name]
        except KeyError:
            raise Fail("%s: no marker %s:%s" % (self.path, kind, name))

    def frame(self, ver, qualname, at, defined=None):
        """The frame of function `qualname` (co_qualname on 3.11+, else co_name) at marker L:at,
        defined at marker F:defined (default: its name without <>); a module starts at line 1."""
        name = qualname if ver >= (3, 11) else qualname.rsplit(".", 1)[-1]
        if qualname == "<module>":
            first = 1
        else:
            first = self.marks["F"].get(defined or qualname.rsplit(".", 1)[-1].strip("<>"))
        return Frame(name, self.path, self.short, self.line("L", at), first)


def reported_frame(f):
    name, path, line, first = f
    return Frame(name, path, short_name(path), line, first)


def merge_frames(report, own_path, own):
    """The frames Python reported, with those of the target's own file replaced, in order, by
    the ones computed from markers (the reported ones sit on the line that wrote the report)."""
    own = list(own)
    out = []
    for f in report:
        if f[1] == own_path:
            if not own:
                raise Fail("target reported more frames of %s than expected: %s" % (own_path, f))
            mine = own.pop(0)
            if mine.name != f[0]:
                raise Fail("test oracle: expected frame %r, the target reports %r" % (mine.name, f[0]))
            out.append(mine)
        else:
            out.append(reported_frame(f))
    if own:
        raise Fail("target reported fewer frames of %s than expected (missing %s)" % (own_path, own))
    return out


def fmt_frame(f, mode="line", full=False):
    file = f.path if full else f.short
    if mode == "func" and f.first is None:
        raise Fail("test oracle: no definition-line marker for %s in %s" % (f.name, f.path))
    if mode == "noline":
        return "%s (%s)" % (f.name, file)
    return "%s (%s:%d)" % (f.name, file, f.first if mode == "func" else f.line)


def fmt_stack(frames, mode="line", full=False, root=None):
    parts = [fmt_frame(f, mode, full) for f in frames]
    if root is not None:
        parts.insert(0, root)
    return ";".join(parts)


# ===== Output checks =====

def parse_folded(data, what="output"):
    """Folded stacks -> [(stack, count)], checking the format and the bytewise order."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Fail("%s is not UTF-8: %s" % (what, e))
    if not text:
        return []
    if not text.endswith("\n"):
        raise Fail("%s does not end with a newline" % what)
    lines = text[:-1].split("\n")
    stacks = []
    for line in lines:
        m = re.match(r"^(.+) ([0-9]+)$", line)
        if not m or int(m.group(2)) <= 0:
            raise Fail("%s: malformed line %r" % (what, line[:200]))
        stacks.append((m.group(1), int(m.group(2))))
    raw = [l.encode("utf-8") for l in lines]
    if raw != sorted(raw):
        raise Fail("%s is not sorted bytewise" % what)
    if len({s for s, _ in stacks}) != len(stacks):
        raise Fail("%s has a stack on more than one line" % what)
    return stacks


def describe_diff(expected, got):
    e, g = expected.split(";"), got.split(";")
    for i, (a, b) in enumerate(zip(e, g)):
        if a != b:
            return "frame %d: expected %r, got %r (depth expected %d, got %d)" % (i, a, b, len(e), len(g))
    return "expected depth %d, got %d; first extra frame %r" % (
        len(e), len(g), (g[len(e)] if len(g) > len(e) else e[len(g)]))


class Stacks(list):
    """Parsed folded stacks, with pyprof's summary line for failure messages."""
    summary = ""


def check_dominant(stacks, expected, lo=SAMPLES_LO, hi=SAMPLES_HI, what=""):
    """The most frequent stack must be `expected`, hold >= 90% of the samples, and the total
    must be plausible for the duration and rate."""
    try:
        _check_dominant(stacks, expected, lo, hi, what + ": " if what else "")
    except Fail as e:
        summary = getattr(stacks, "summary", "")
        if summary:
            raise type(e)("%s [%s]" % (e, summary))
        raise


def _check_dominant(stacks, expected, lo, hi, what):
    if not stacks:
        raise Fail("%sno samples" % what)
    total = sum(c for _, c in stacks)
    top, n = max(stacks, key=lambda sc: sc[1])
    if top != expected:
        counts = dict(stacks)
        short = top if len(top) < 300 else top[:150] + " ... " + top[-150:]
        raise Fail("%sdominant stack (%d of %d samples) differs: %s; expected stack has %d samples; "
                   "dominant: %s" % (what, n, total, describe_diff(expected, top),
                                     counts.get(expected, 0), short))
    if n < DOMINANT * total:
        others = sorted(stacks, key=lambda sc: -sc[1])[1:3]
        raise Fail("%sexpected stack has only %d of %d samples; others: %s" % (
            what, n, total, "; ".join("%s %d" % (s[-200:], c) for s, c in others)))
    if not lo <= total <= hi:
        raise CountFail("%s%d samples, expected %d..%d" % (what, total, lo, hi))


def is_startup(stack):
    """A sample of interpreter start-up (site, imports), before a launched script's code runs."""
    return "(<frozen " in stack or stack.startswith("<module> (site.py:")


def check_launched(stacks, expected, lo, hi):
    """check_dominant() for a launched command, leaving out start-up samples, which depend on
    the installation (.pth files) and the machine's load; they must stay a minority."""
    startup = sum(c for s, c in stacks if is_startup(s))
    total = sum(c for _, c in stacks)
    if startup > 0.3 * total:
        raise Fail("%d of %d samples look like interpreter start-up" % (startup, total))
    check_dominant([(s, c) for s, c in stacks if not is_startup(s)], expected, lo, hi,
                   what="samples after start-up")


def record(pid, opts=(), dur=DUR, rate=RATE, stdout=False):
    """Attach for `dur` seconds; returns the parsed stacks. Checks exit 0, the summary line on
    stderr and, with -o, an empty standard output."""
    out_dir = tempfile.mkdtemp(prefix="rec-", dir=TMP)
    out = os.path.join(out_dir, "out.txt")
    args = ["record", "-p", str(pid), "-d", dur, "-r", rate] + FOLDED + list(opts)
    args += ["-o", "-" if stdout else out]
    r = pyprof(args)
    cmd = "pyprof " + " ".join(args)
    if r.rc != 0:
        raise Fail("%s: exit %d: %s" % (cmd, r.rc, one_line(r.err)))
    if "samples" not in r.err:
        raise Fail("%s: no summary line on stderr: %r" % (cmd, r.err[:300]))
    if stdout:
        stacks = Stacks(parse_folded(r.out, "standard output"))
    else:
        if r.out:
            raise Fail("%s: wrote to standard output despite -o: %r" % (cmd, r.out[:200]))
        if not os.path.exists(out):
            raise Fail("%s: exit 0 but no output file" % cmd)
        with open(out, "rb") as f:
            stacks = Stacks(parse_folded(f.read()))
    stacks.summary = summary_line(r.err)
    return stacks


def summary_line(err):
    lines = [l for l in err.splitlines() if "samples" in l]
    return lines[-1].strip() if lines else ""


def check_record(pid, expected, opts=(), what="", **kw):
    check_dominant(record(pid, opts, **kw), expected, what=what)


# ===== Per-interpreter tests =====

def deep_frames(s, v, depth):
    """deep.py's stack at a given depth: rec() calls itself depth-1 times, then spin()."""
    return ([s.frame(v, "<module>", "main")] + [s.frame(v, "rec", "rec")] * (depth - 1)
            + [s.frame(v, "rec", "rec_spin"), s.frame(v, "spin", "spin")])


def t_deep(py, depth):
    s = Script(os.path.join(TARGETS, "deep.py"))
    frames = deep_frames(s, py.ver, depth)
    with Target(py, s.path, [depth]) as t:
        check_record(t.pid, fmt_stack(frames))
        if depth <= 100:
            # -t: the main thread's root carries the PID as its thread id, and its `threading`
            # name if the target loaded threading, else its comm.
            with open("/proc/%d/task/%d/comm" % (t.pid, t.pid), encoding="utf-8") as f:
                comm = f.read().rstrip("\n")
            root = 'thread (%d "%s")' % (t.pid, "MainThread" if t.info["threading"] else comm)
            check_record(t.pid, fmt_stack(frames, root=root), ["-t"], what="-t")


def t_deep100(py):
    t_deep(py, 100)


def t_deep500(py):
    t_deep(py, 500)


THREADS = 50


def t_threads(py):
    s = Script(os.path.join(TARGETS, "threads.py"))
    v = py.ver
    with Target(py, s.path, [THREADS]) as t:
        main_frames = [s.frame(v, "<module>", "main"), s.frame(v, "main", "main_spin")]
        expected = {t.info["main_tid"]: main_frames}
        for i, th in enumerate(t.info["threads"]):
            own = ([s.frame(v, "worker", "worker")] + [s.frame(v, "rec", "rec")] * i
                   + [s.frame(v, "rec", "rec_spin"), s.frame(v, "spin", "spin")])
            expected[th["tid"]] = merge_frames(th["frames"], s.path, own)
        if len(expected) != THREADS + 1:
            raise Fail("the target reports %d distinct thread ids for %d threads" % (
                len(expected), THREADS + 1))
        if t.info["main_tid"] != t.pid:
            raise Fail("test oracle: main thread id %s is not the PID" % t.info["main_tid"])
        tasks = set(int(x) for x in os.listdir("/proc/%d/task" % t.pid))
        # Thread names: the `threading` names (the target names its threads w0, w1, ...).
        comms = {t.info["main_tid"]: "MainThread"}
        for i, th in enumerate(t.info["threads"]):
            comms[th["tid"]] = "w%d" % i

        # -t: one root per thread, each a real kernel thread of the target with its name. With 51
        # threads on a few cores most wait for the GIL or a CPU at any moment, so count them in
        # wall time (--idle); the CPU view is checked by idle-threads.
        stacks = record(t.pid, ["-t", "--idle"], dur="1", rate="100")
        by_root = collections.defaultdict(list)
        bad = []
        for stack, count in stacks:
            root, _, rest = stack.partition(";")
            m = re.match(r'^thread \(([0-9]+) "(.*)"\)$', root)
            if not m or int(m.group(1)) not in tasks or comms.get(int(m.group(1))) != m.group(2):
                bad.append("%s x%d" % (root, count))
            else:
                by_root[int(m.group(1))].append((stack, count))
        if bad:
            raise Fail("%d stack(s) have a root that is not `thread (TID \"NAME\")` of a thread "
                       "of PID %d (tasks %s..): %s" % (len(bad), t.pid, sorted(tasks)[:3],
                                                       ", ".join(sorted(set(bad))[:4])))
        missing = sorted(set(expected) - set(by_root))
        if missing:
            raise Fail("-t: %d thread(s) have no samples, e.g. tid %s; roots seen: %d" % (
                len(missing), missing[0], len(by_root)))
        extra = sorted(set(by_root) - set(expected))
        if extra:
            raise Fail("-t: samples for unexpected thread ids %s" % extra[:5])
        for tid, frames in expected.items():
            root = 'thread (%d "%s")' % (tid, comms[tid])
            check_dominant(by_root[tid], fmt_stack(frames, root=root), what="-t tid %d" % tid)

        # Without -t: the 51 distinct stacks each hold one thread's samples.
        stacks = dict(record(t.pid, ["--idle"]))
        for tid, frames in expected.items():
            exp = fmt_stack(frames)
            n = stacks.get(exp, 0)
            if not SAMPLES_LO * DOMINANT <= n <= SAMPLES_HI:
                raise Fail("without -t: stack of tid %d has %d samples (depth %d)" % (
                    tid, n, len(frames)))


def t_idle(py):
    """Default CPU view: a thread asleep in time.sleep() is left out, the spinning main thread
    stays; --idle (wall view) shows both, each in every sample."""
    s = Script(os.path.join(TARGETS, "idle.py"))
    v = py.ver
    spin = fmt_stack([s.frame(v, "<module>", "main"), s.frame(v, "main", "main_spin")])
    with Target(py, s.path) as t:
        cpu = dict(record(t.pid))
        if set(cpu) != {spin} or not SAMPLES_LO <= cpu[spin] <= SAMPLES_HI:
            raise Fail("CPU view: expected only %r, got %s" % (
                spin, ", ".join("%s x%d" % kv for kv in sorted(cpu.items()))[:400]))
        wall = dict(record(t.pid, ["--idle"]))
        sleep_leaf = fmt_stack([s.frame(v, "sleeper", "sleep")])
        sleepers = [k for k in wall if k != spin and k.endswith(";" + sleep_leaf)]
        if not SAMPLES_LO <= wall.get(spin, 0) <= SAMPLES_HI or len(sleepers) != 1 or \
                not SAMPLES_LO <= wall[sleepers[0]] <= SAMPLES_HI:
            raise Fail("--idle: expected the spinning and the sleeping thread, got %s" % (
                ", ".join("%s x%d" % kv for kv in sorted(wall.items()))[:400]))


def nested_frames(s, v):
    return [s.frame(v, "<module>", "main"),
            s.frame(v, "<lambda>", "lambda"),
            s.frame(v, "Outer.Inner.method", "method"),
            s.frame(v, "make.<locals>.inner", "inner"),
            s.frame(v, "factory.<locals>.Local.run", "run_spin", "run")]


def t_nested(py, mode="line"):
    s = Script(os.path.join(TARGETS, "nested.py"))
    opts = {"line": [], "noline": ["--nolineno"], "func": ["-F"]}[mode]
    with Target(py, s.path) as t:
        check_record(t.pid, fmt_stack(nested_frames(s, py.ver), mode), opts)


def t_nolineno(py):
    t_nested(py, "noline")


def t_function_lines(py):
    t_nested(py, "func")


def t_generators(py):
    s = Script(os.path.join(TARGETS, "gen.py"))
    v = py.ver
    frames = [s.frame(v, "<module>", "main"),
              s.frame(v, "consume", "consume"),
              s.frame(v, "consume.<locals>.<genexpr>", "genexpr"),
              s.frame(v, "outer_gen", "outer_gen"),
              s.frame(v, "inner_gen", "inner_gen")]
    with Target(py, s.path) as t:
        check_record(t.pid, fmt_stack(frames))


def t_asyncio(py):
    s = Script(os.path.join(TARGETS, "aio.py"))
    v = py.ver
    own = [s.frame(v, "<module>", "main"),
           s.frame(v, "outer", "outer"),
           s.frame(v, "Service.handle", "handle"),
           s.frame(v, "leaf", "leaf")]
    with Target(py, s.path) as t:
        frames = merge_frames(t.info["frames"], s.path, own)
        # The coroutines run under the event loop, innermost last, nothing after them.
        if [f.name for f in frames[-3:]] != [f.name for f in own[1:]]:
            raise Fail("test oracle: the coroutines are not the innermost frames: %s" % (frames,))
        if not any(f.short.startswith("asyncio/") for f in frames):
            raise Fail("test oracle: no asyncio frames between <module> and the coroutines")
        check_record(t.pid, fmt_stack(frames))


UNICODE_FILE = "ünïcødé_目标_🐍.py"


def t_unicode(py):
    d = tempfile.mkdtemp(prefix="unicode-", dir=TMP)
    path = os.path.join(d, UNICODE_FILE)
    shutil.copy(os.path.join(TARGETS, "unicode_names.py"), path)
    shutil.copy(os.path.join(TARGETS, "_ready.py"), d)
    s = Script(path)
    v = py.ver
    frames = [s.frame(v, "<module>", "main"),
              s.frame(v, "größe", "grosse", "grosse"),
              s.frame(v, "计算", "cjk", "cjk"),
              s.frame(v, "Ñandú.método", "metodo", "metodo"),
              s.frame(v, "𠀀数", "astral", "astral")]
    with Target(py, path) as t:
        check_record(t.pid, fmt_stack(frames))
        check_record(t.pid, fmt_stack(frames, full=True), ["--full-filenames"],
                     what="--full-filenames")


def t_long_path(py):
    d = os.path.join(tempfile.mkdtemp(prefix="long-", dir=TMP),
                     *["%d-%s" % (i, "long_directory_name_" * 3) for i in range(5)])
    os.makedirs(d)
    for f in ("deep.py", "_ready.py"):
        shutil.copy(os.path.join(TARGETS, f), d)
    s = Script(os.path.join(d, "deep.py"))
    if len(s.path) <= 200:
        raise Fail("test setup: path only %d characters" % len(s.path))
    frames = deep_frames(s, py.ver, 3)
    with Target(py, s.path, [3]) as t:
        check_record(t.pid, fmt_stack(frames), what="short names")
        check_record(t.pid, fmt_stack(frames, full=True), ["--full-filenames"],
                     what="--full-filenames (%d-character path)" % len(s.path))


def t_package(py):
    # outer/__init__.py exists, outer/root/ has none: the short name stops at root/.
    outer = os.path.join(tempfile.mkdtemp(prefix="pkg-", dir=TMP), "outer")
    root = os.path.join(outer, "root")
    sub = os.path.join(root, "pkg", "sub")
    os.makedirs(sub)
    for d in (outer, os.path.join(root, "pkg"), sub):
        open(os.path.join(d, "__init__.py"), "w").close()
    shutil.copy(os.path.join(TARGETS, "pkgmain.py"), root)
    shutil.copy(os.path.join(TARGETS, "_ready.py"), root)
    shutil.copy(os.path.join(TARGETS, "pkgmod.py"), os.path.join(sub, "mod.py"))
    main = Script(os.path.join(root, "pkgmain.py"), short="pkgmain.py")
    mod = Script(os.path.join(sub, "mod.py"), short="pkg/sub/mod.py")
    v = py.ver
    frames = [main.frame(v, "<module>", "main"), mod.frame(v, "work", "work"),
              mod.frame(v, "Worker.run", "run")]
    with Target(py, main.path) as t:
        check_record(t.pid, fmt_stack(frames), what="short names")
        check_record(t.pid, fmt_stack(frames, full=True), ["--full-filenames"],
                     what="--full-filenames")


def t_stdout(py):
    s = Script(os.path.join(TARGETS, "deep.py"))
    with Target(py, s.path, [1]) as t:
        check_record(t.pid, fmt_stack(deep_frames(s, py.ver, 1)), what="-o -",
                     stdout=True)


def launch_frames(py):
    s = Script(os.path.join(TARGETS, "launch.py"))
    return s, [s.frame(py.ver, "<module>", "main"), s.frame(py.ver, "work", "spin")]


def t_launch(py):
    s, frames = launch_frames(py)
    out = os.path.join(tempfile.mkdtemp(prefix="launch-", dir=TMP), "out.txt")
    r = pyprof(["record", "-r", "100"] + FOLDED + ["-o", out, "--", py.path, s.path, "-", "1.0"])
    if r.rc != 0:
        raise Fail("exit %d: %s" % (r.rc, one_line(r.err)))
    if r.elapsed > 10:
        raise Fail("took %.1fs for a 1 s command" % r.elapsed)
    with open(out, "rb") as f:
        check_launched(parse_folded(f.read()), fmt_stack(frames), lo=60, hi=120)


def proc_state(pid):
    """None if no such process, else (state letter, cmdline)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read().decode("utf-8", "replace")
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat[stat.rindex(")") + 2], cmd


def t_launch_sigint(py):
    s, frames = launch_frames(py)
    d = tempfile.mkdtemp(prefix="sigint-", dir=TMP)
    out, ready = os.path.join(d, "out.txt"), os.path.join(d, "ready.json")
    p = spawn([PYPROF, "record", "-r", "100"] + FOLDED + ["-o", out, "--", py.path, s.path, ready,
                                                        "60"],
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        child = wait_file(ready, p, READY_TIMEOUT, "launched command")["pid"]
        time.sleep(1.5)  # start-up samples stay well under 10%
        t0 = time.monotonic()
        os.kill(p.pid, signal.SIGINT)
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            raise Fail("pyprof still running 10 s after SIGINT")
        stopped = time.monotonic() - t0
        err = err.decode("utf-8", "replace")
        if p.returncode != 0:
            raise Fail("exit %s after SIGINT: %s" % (p.returncode, one_line(err)))
        if stopped > 5:
            raise Fail("took %.1fs to stop after SIGINT" % stopped)
        st = proc_state(child)
        if st is not None and (st[0] == "Z" or s.path in st[1]):
            raise Fail("launched command (PID %d) still there after pyprof exited: state %s" % (
                child, st[0]))
        if not os.path.exists(out):
            raise Fail("no output written after SIGINT")
        with open(out, "rb") as f:
            check_launched(parse_folded(f.read()), fmt_stack(frames), lo=100, hi=250)
    finally:
        reap(p)


def t_attach_exit(py, reaped=True):
    s, frames = launch_frames(py)
    with Target(py, s.path, ["1.0"]) as t:
        if reaped:  # as a real parent would
            threading.Thread(target=t.p.wait, daemon=True).start()
        out = os.path.join(tempfile.mkdtemp(prefix="exit-", dir=TMP), "out.txt")
        r = pyprof(["record", "-p", str(t.pid), "-d", "3", "-r", "100"] + FOLDED + ["-o", out])
        if r.rc != 0:
            raise Fail("exit %d: %s" % (r.rc, one_line(r.err)))
        if r.elapsed > 2.5:
            raise Fail("took %.1fs: did not stop when the target exited after ~1 s" % r.elapsed)
        with open(out, "rb") as f:
            check_dominant(parse_folded(f.read()), fmt_stack(frames), lo=30, hi=110)


CHURN_ROUNDS, CHURN_SECONDS = 40, 0.025


def t_code_reuse(py):
    s = Script(os.path.join(TARGETS, "churn.py"))
    v = py.ver
    prefix = fmt_stack([s.frame(v, "<module>", "main"), s.frame(v, "main", "loop"),
                        s.frame(v, "run_generated", "call")]) + ";"
    with Target(py, s.path, [CHURN_ROUNDS, CHURN_SECONDS]) as t:
        out = os.path.join(tempfile.mkdtemp(prefix="churn-", dir=TMP), "out.txt")
        r = pyprof(["record", "-p", str(t.pid), "-d", "10", "-r", RATE] + FOLDED + ["-o", out])
        if r.rc != 0:
            raise Fail("exit %d: %s" % (r.rc, one_line(r.err)))
        with open(out, "rb") as f:
            stacks = parse_folded(f.read())
    total = sum(c for _, c in stacks)
    per_round = collections.Counter()
    for stack, count in stacks:
        for a, b in re.findall(r"\bf_([0-9]+) \(gen_([0-9]+)\.py:", stack):
            if a != b:
                raise Fail("f_%s shown in gen_%s.py (%d samples): a stale code object cache? "
                           "%s" % (a, b, count, stack[-150:]))
        m = re.match(re.escape(prefix) + r"f_([0-9]+) \(gen_([0-9]+)\.py:3\)$", stack)
        if m:
            per_round[int(m.group(1))] += count
    steady = sum(per_round.values())
    if steady < 0.8 * total:
        raise Fail("only %d of %d samples are in a generated function on its spin line; "
                   "most frequent: %s" % (steady, total, max(stacks, key=lambda sc: sc[1])
                                          if stacks else None))
    expected = CHURN_SECONDS * float(RATE)
    merged = {n: c for n, c in per_round.items() if n != CHURN_ROUNDS - 1 and c > 2 * expected + 2}
    if merged:
        raise Fail("rounds with far too many samples (%s; about %d each expected): later code "
                   "objects reported under an earlier one's name?" % (
                       ", ".join("f_%d: %d" % nc for nc in sorted(merged.items())[:5]), expected))
    if CHURN_ROUNDS - 1 not in per_round:
        raise Fail("no samples of the last round's f_%d (rounds seen up to f_%d)" % (
            CHURN_ROUNDS - 1, max(per_round) if per_round else -1))
    first = min(per_round)
    seen = len(per_round) / float(CHURN_ROUNDS - first)
    if seen < 0.8:
        raise Fail("only %d of rounds f_%d..f_%d seen" % (len(per_round), first, CHURN_ROUNDS - 1))


def t_attach_exit_zombie(py):
    t_attach_exit(py, reaped=False)


PER_PYTHON = [
    ("deep-100", t_deep100),
    ("deep-500", t_deep500),
    ("threads-50", t_threads),
    ("idle-threads", t_idle),
    ("nested-names", t_nested),
    ("nolineno", t_nolineno),
    ("function-lines", t_function_lines),
    ("generators", t_generators),
    ("asyncio", t_asyncio),
    ("unicode", t_unicode),
    ("long-path", t_long_path),
    ("package-short-name", t_package),
    ("output-to-stdout", t_stdout),
    ("launch", t_launch),
    ("launch-sigint", t_launch_sigint),
    ("attach-target-exits", t_attach_exit),
    ("code-object-reuse", t_code_reuse),
]


# ===== Error paths =====

def expect_exit(r, code, what, must_contain=()):
    if r.rc != code:
        raise Fail("%s: exit %d, expected %d: %s" % (what, r.rc, code, one_line(r.err)))
    for s in must_contain:
        if s.lower() not in r.err.lower():
            raise Fail("%s: message does not mention %r: %s" % (what, s, one_line(r.err)))


def out_path():
    return os.path.join(tempfile.mkdtemp(prefix="err-", dir=TMP), "out.txt")


def t_no_such_pid(_):
    with open("/proc/sys/kernel/pid_max") as f:
        pid = int(f.read()) - 1
    while os.path.exists("/proc/%d" % pid):
        pid -= 1
    r = pyprof(["record", "-p", str(pid), "-d", "1", "-o", out_path()], timeout=10)
    expect_exit(r, 3, "-p %d" % pid)


def t_not_python(_):
    p = spawn(["sleep", "30"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5  # until the exec is done
        while "sleep" not in os.path.realpath("/proc/%d/exe" % p.pid):
            if time.monotonic() > deadline:
                raise Fail("sleep did not start")
            time.sleep(0.01)
        r = pyprof(["record", "-p", str(p.pid), "-d", "1", "-o", out_path()], timeout=10)
        expect_exit(r, 5, "sleep 30", ["sleep"])
    finally:
        reap(p)


def t_launch_not_python(_):
    r = pyprof(["record", "-o", out_path(), "--", "sleep", "0.5"], timeout=20)
    expect_exit(r, 5, "-- sleep 0.5", ["sleep"])


def t_unsupported_attach(py):
    d = tempfile.mkdtemp(prefix="old-", dir=TMP)
    ready = os.path.join(d, "ready")
    code = "import sys, time\nopen(sys.argv[1], 'w').close()\nwhile 1: time.sleep(0.05)\n"
    p = spawn([py.path, "-c", code, ready], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not os.path.exists(ready):
            if p.poll() is not None or time.monotonic() > deadline:
                raise Fail("python %s did not start" % py.version)
            time.sleep(0.01)
        r = pyprof(["record", "-p", str(p.pid), "-d", "1", "-o", out_path()], timeout=10)
        expect_exit(r, 6, "attach", [py.short_version])
    finally:
        reap(p)


def t_unsupported_launch(py):
    r = pyprof(["record", "-o", out_path(), "--", py.path, "-c", "import time; time.sleep(1.5)"],
               timeout=20)
    expect_exit(r, 6, "launch", [py.short_version])


def t_permission(py):
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise Skip("setpriv is missing")
    if os.geteuid() != 0:
        raise Skip("needs to run as root (to drop to nobody against a root-owned target)")
    nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    r = pyprof(["--help"], prefix=nobody, timeout=10)
    if r.rc != 0:
        raise Skip("user nobody cannot run %s (exit %d): %s" % (PYPROF, r.rc, one_line(r.err, 200)))
    d = tempfile.mkdtemp(prefix="perm-", dir=TMP)
    os.chmod(d, 0o777)
    with Target(py, os.path.join(TARGETS, "deep.py"), [2]) as t:
        r = pyprof(["record", "-p", str(t.pid), "-d", "1", "-o", os.path.join(d, "out.txt")],
                   prefix=nobody, timeout=10)
        expect_exit(r, 4, "as nobody", ["root", "SYS_PTRACE", "securityContext", "setcap"])


def t_unwritable_attach(py):
    with Target(py, os.path.join(TARGETS, "deep.py"), [2]) as t:
        r = pyprof(["record", "-p", str(t.pid), "-d", "5", "-o", "/nonexistent/dir/x"], timeout=10)
        expect_exit(r, 2, "-o /nonexistent/dir/x", ["/nonexistent/dir/x"])
        if r.elapsed > 1.5:
            raise Fail("took %.1fs: the output path must be checked before sampling" % r.elapsed)


def t_unwritable_launch(py):
    marker = os.path.join(tempfile.mkdtemp(prefix="unw-", dir=TMP), "ran")
    r = pyprof(["record", "-o", "/nonexistent/dir/x", "--", py.path, "-c",
                "open(%r, 'w').close()" % marker], timeout=10)
    expect_exit(r, 2, "-o /nonexistent/dir/x -- python", ["/nonexistent/dir/x"])
    if os.path.exists(marker):
        raise Fail("the command was run although the output cannot be written")


def t_missing_command(_):
    r = pyprof(["record", "-o", out_path(), "--", "/nonexistent/command", "x"], timeout=10)
    expect_exit(r, 3, "-- /nonexistent/command", ["/nonexistent/command"])


def t_not_executable(_):
    d = tempfile.mkdtemp(prefix="noexec-", dir=TMP)
    path = os.path.join(d, "script.py")
    with open(path, "w") as f:
        f.write("print(1)\n")
    os.chmod(path, 0o644)
    r = pyprof(["record", "-o", out_path(), "--", path], timeout=10)
    expect_exit(r, 3, "-- a non-executable file", [path])


def usage_case(args):
    def t(_):
        r = pyprof(args, timeout=10)
        expect_exit(r, 64, "pyprof %s" % " ".join(args))
        if not r.err.strip():
            raise Fail("no message on stderr")
    return t


def global_tests(me):
    """(name, function) pairs that need no particular interpreter; `me` is the pid to use
    where a live process is needed (usage errors must be reported before anything else)."""
    out = os.path.join(TMP, "never-written.txt")
    me = str(me)
    usage = [
        ("usage-no-args", []),
        ("usage-unknown-command", ["frobnicate"]),
        ("usage-record-no-target", ["record", "-d", "0.1", "-o", out]),
        ("usage-rate-zero", ["record", "-r", "0", "-p", me, "-d", "0.1", "-o", out]),
        ("usage-rate-negative", ["record", "-r", "-5", "-p", me, "-d", "0.1", "-o", out]),
        ("usage-rate-not-a-number", ["record", "-r", "fast", "-p", me, "-d", "0.1", "-o", out]),
        ("usage-duration-not-a-number", ["record", "-d", "soon", "-p", me, "-o", out]),
        ("usage-pid-not-a-number", ["record", "-p", "abc", "-d", "0.1", "-o", out]),
        ("usage-pid-and-command",
         ["record", "-p", me, "-d", "0.1", "-o", out, "--", "python3", "x.py"]),
        ("usage-unknown-option", ["record", "--bogus", "-p", me, "-d", "0.1", "-o", out]),
    ]
    tests = [(name, usage_case(args)) for name, args in usage]
    tests += [("no-such-pid", t_no_such_pid), ("not-python", t_not_python),
              ("launch-not-python", t_launch_not_python),
              ("launch-missing-command", t_missing_command),
              ("launch-not-executable", t_not_executable)]
    return tests


# With a supported interpreter (the first one), once.
WITH_ONE_PYTHON = [
    ("permission-denied", t_permission),
    ("unwritable-output-attach", t_unwritable_attach),
    ("unwritable-output-launch", t_unwritable_launch),
    ("attach-target-exits-unreaped", t_attach_exit_zombie),
]

OLD_PYTHON = [
    ("unsupported-version-attach", t_unsupported_attach),
    ("unsupported-version-launch", t_unsupported_launch),
]


# ===== Interpreters =====

class Python:
    def __init__(self, label, path):
        self.label, self.path = label, path
        self.ver = None
        self.version = None

    @property
    def short_version(self):
        return "%d.%d" % self.ver

    def probe(self):
        r = run_cmd([self.path, "-c", "import sys; print('%d.%d.%d' % tuple(sys.version_info[:3]))"],
                    timeout=30)
        if r.rc != 0:
            raise Fail("cannot run %s: exit %d: %s" % (self.path, r.rc, one_line(r.err, 200)))
        self.version = r.out.decode().strip()
        self.ver = tuple(int(x) for x in self.version.split(".")[:2])


def find_pythons():
    """([Python], [(label, why)] skipped, [Python] of unsupported versions)."""
    wanted, skipped, old = [], [], []
    env = os.environ.get("PYPROF_TEST_PYTHONS", "").split()
    if env:
        for path in env:
            if os.path.exists(path):
                wanted.append(Python(path, path))
            else:
                skipped.append((path, "listed in PYPROF_TEST_PYTHONS but missing"))
    pyenv = shutil.which("pyenv")
    versions = []
    if pyenv:
        try:
            r = run_cmd([pyenv, "versions", "--bare"], timeout=30)
            versions = r.out.decode().split() if r.rc == 0 else []
        except Fail:
            versions = []
    def pyenv_python(v):
        r = run_cmd([pyenv, "prefix", v], timeout=30)
        path = os.path.join(r.out.decode().strip(), "bin", "python3" if v[0] == "3" else "python")
        return path if r.rc == 0 and os.path.exists(path) else None
    if not env:
        for minor in range(SUPPORTED[0][1], SUPPORTED[1][1] + 1):
            mine = [v for v in versions if re.match(r"^3\.%d(\.[0-9]+)?$" % minor, v)]
            if not pyenv:
                skipped.append(("3.%d" % minor, "pyenv not found"))
            elif not mine:
                skipped.append(("3.%d" % minor, "pyenv has no 3.%d installed" % minor))
            for v in mine:
                path = pyenv_python(v)
                if path:
                    wanted.append(Python(v, path))
                else:
                    skipped.append((v, "pyenv prefix %s has no bin/python3" % v))
        if os.path.exists("/usr/bin/python3.11"):
            wanted.append(Python("/usr/bin/python3.11", "/usr/bin/python3.11"))
        else:
            skipped.append(("/usr/bin/python3.11", "not present"))
    for series in ("2.7", "3.6", "3.7"):
        mine = [v for v in versions if re.match(r"^%s(\.[0-9]+)?$" % re.escape(series), v)]
        if not pyenv:
            skipped.append((series, "unsupported-version checks: pyenv not found"))
        elif not mine:
            skipped.append((series, "unsupported-version checks: pyenv has no %s" % series))
        for v in mine:
            path = pyenv_python(v)
            if path:
                old.append(Python(v, path))
            else:
                skipped.append((v, "pyenv prefix %s has no interpreter" % v))
    return wanted, skipped, old


# ===== Runner =====

class Results:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def emit(self, status, name, label, why=""):
        if status == "PASS":
            self.passed += 1
        elif status == "FAIL":
            self.failed += 1
        else:
            self.skipped += 1
        line = "%s %s [%s]" % (status, name, label) if label else "%s %s" % (status, name)
        if why:
            line += ": " + one_line(why)
        print(line, flush=True)

    def run(self, name, label, fn, arg):
        try:
            try:
                fn(arg)
            except CountFail as e:  # a loaded machine can starve the sampler: once more
                reap_all()
                print("# %s [%s]: retrying: %s" % (name, label, one_line(e, 300)),
                      file=sys.stderr, flush=True)
                fn(arg)
            self.emit("PASS", name, label)
        except Fail as e:
            self.emit("FAIL", name, label, str(e))
        except Skip as e:
            self.emit("SKIP", name, label, str(e))
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # a bug in the test or an unexpected failure: still a failure
            self.emit("FAIL", name, label, "%s: %s" % (type(e).__name__, e))
        finally:
            reap_all()


def _terminate(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main():
    global PYPROF, TMP
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pyprof", required=True, help="the pyprof binary")
    ap.add_argument("-k", dest="only", action="append", default=[],
                    help="run only tests whose name contains this (repeatable)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    PYPROF = os.path.abspath(args.pyprof)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    def selected(name):
        return not args.only or any(k in name for k in args.only)

    res = Results()
    t_start = time.monotonic()
    TMP = os.path.realpath(tempfile.mkdtemp(prefix="pyprof-ft-"))
    os.chmod(TMP, 0o755)  # user nobody must reach its 0777 subdirectory
    try:
        if not os.access(PYPROF, os.X_OK):
            res.emit("FAIL", "pyprof-binary", "", "%s is not an executable" % PYPROF)
            return 1
        pythons, skipped, old = find_pythons()
        for label, why in skipped:
            res.emit("SKIP", "interpreter", label, why)
        usable, seen = [], set()
        for py in pythons + old:
            if os.path.realpath(py.path) in seen:
                continue
            seen.add(os.path.realpath(py.path))
            try:
                py.probe()
            except Fail as e:
                res.emit("FAIL", "interpreter", py.label, str(e))
                continue
            usable.append(py)
        supported = [p for p in usable if SUPPORTED[0] <= p.ver <= SUPPORTED[1]]
        unsupported = [p for p in usable if not SUPPORTED[0] <= p.ver <= SUPPORTED[1]]

        for name, fn in global_tests(os.getpid()):
            if selected(name):
                res.run(name, "", fn, None)
        for name, fn in WITH_ONE_PYTHON:
            if not selected(name):
                continue
            if supported:
                res.run(name, supported[0].label, fn, supported[0])
            else:
                res.emit("SKIP", name, "", "no supported interpreter to test with")
        for py in unsupported:
            for name, fn in OLD_PYTHON:
                if selected(name):
                    res.run(name, py.label, fn, py)
        for py in supported:
            for name, fn in PER_PYTHON:
                if selected(name):
                    res.run(name, py.label, fn, py)
    except KeyboardInterrupt as e:
        res.emit("FAIL", "interrupted", "", str(e) or "interrupted")
    finally:
        reap_all()
        if args.keep_tmp:
            print("scratch directory kept: %s" % TMP, file=sys.stderr)
        else:
            shutil.rmtree(TMP, ignore_errors=True)
        print("wall time %.1fs" % (time.monotonic() - t_start), file=sys.stderr)
        print("%d passed, %d failed, %d skipped" % (res.passed, res.failed, res.skipped), flush=True)
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
