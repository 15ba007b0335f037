# SPDX-License-Identifier: MIT
"""Shared pieces of the standalone functional suites (test_*.py): result lines, the interpreters to
test, folded-file parsing and the closing count line. Stdlib only.

Interpreters: PYPROF_TEST_PYTHONS (space-separated paths) when set and non-empty; otherwise the
newest pyenv CPython of each minor 3.8-3.13 (each one missing is reported as SKIP) plus Debian's
/usr/bin/python3.11.
"""
import os
import re
import signal
import subprocess
import time

results = {"passed": 0, "failed": 0, "skipped": 0}
ENV = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", LC_ALL="C.UTF-8")


class Target:
    """A target process (@argv, environment ENV) in its own session, ready once it has printed
    its first line (kept in self.line); it and its whole session are SIGKILLed on close. A target
    that exits before that line raises @error."""

    def __init__(self, argv, error=RuntimeError):
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                  env=ENV, start_new_session=True)
        self.pid = self.p.pid
        self.line = self.p.stdout.readline()
        if not self.line:
            self.close()
            raise error("target exited before it was ready")

    def close(self):
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait()
        self.p.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def report(status, name, detail=""):
    """One `PASS|FAIL|SKIP name[: detail]` line, counted."""
    key = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}[status]
    results[key] += 1
    print(f"{status} {name}" + (f": {detail}" if detail else ""), flush=True)


def tag_of(path):
    """A short tag for an interpreter given by path (it also names files): its version, prefixed
    with the file name unless it is a pyenv build."""
    try:
        ver = subprocess.run([path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                             capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        ver = ""
    ver = ver or "unknown"
    return ver if "/.pyenv/" in path else f"{os.path.basename(path)}-{ver}"


def pythons(label, newest_only=False):
    """[(tag, path)]: see the module doc. @newest_only: only the newest pyenv minor (and Debian's),
    for suites whose behaviour does not depend on the version. Missing minors are SKIPped as
    `label [3.X]` unless @newest_only."""
    env = os.environ.get("PYPROF_TEST_PYTHONS", "").split()
    if env:
        return [(tag_of(p), p) for p in env]
    try:
        out = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True,
                             timeout=20).stdout.split()
    except (OSError, subprocess.SubprocessError):
        out = []
    newest = {}
    for v in out:
        m = re.fullmatch(r"3\.(\d+)\.(\d+)", v)
        if m and 8 <= int(m.group(1)) <= 13:
            minor, patch = int(m.group(1)), int(m.group(2))
            if minor not in newest or newest[minor][0] < patch:
                newest[minor] = (patch, v)
    minors = sorted(newest)[-1:] if newest_only else range(8, 14)
    found = []
    for minor in minors:
        if minor not in newest:
            report("SKIP", f"{label} [3.{minor}]", "not installed (pyenv)")
            continue
        v = newest[minor][1]
        prefix = subprocess.run(["pyenv", "prefix", v], capture_output=True, text=True,
                                timeout=20).stdout.strip()
        exe = os.path.join(prefix, "bin", "python3")
        if os.access(exe, os.X_OK):
            found.append((v, exe))
    if os.access("/usr/bin/python3.11", os.X_OK):
        found.append(("debian-3.11", "/usr/bin/python3.11"))
    return found


def parse_folded(path):
    """[(frames, count)] of a folded file."""
    stacks = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if stack:
                stacks.append((stack.split(";"), int(count)))
    return stacks


def finish(started):
    """Print the duration and the count line; the exit status for sys.exit()."""
    print(f"({time.monotonic() - started:.1f} s)")
    print(f"{results['passed']} passed, {results['failed']} failed, {results['skipped']} skipped")
    return 1 if results["failed"] else 0
