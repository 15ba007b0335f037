#!/usr/bin/env python3
"""Functional tests of `pyprof dump` and `pyprof top` against real CPython interpreters.

Usage: python3 tests/functional/test_views.py --pyprof PATH

Interpreters: the newest pyenv 3.x, plus /usr/bin/python3.11 and pyenv's 3.9 when present.
The target (written to a temporary directory) runs main -> spin on one line and a thread
sleeping in sleeper; it prints its thread ids once both are in place. Expected lines come from
`# L:name` markers in the target. Each test prints PASS/FAIL/SKIP lines; the last line is
`N passed, N failed, N skipped`; exit status 1 if anything failed. Standard library only.
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
from ftest import ENV

TARGET = r'''import os, sys, threading, time
tids = {}
def sleeper():
    tids["sleeper_name"] = threading.current_thread().name
    tids["sleeper"] = threading.get_native_id()
    while True:
        time.sleep(100)  # L:sleep
def spin():
    x = 0
    while True: x = 1  # L:spin
def main():
    threading.Thread(target=sleeper, daemon=True).start()
    while "sleeper" not in tids:
        time.sleep(0.01)
    time.sleep(0.05)
    sys.stdout.write(json.dumps({"main": threading.get_native_id(), "sleeper": tids["sleeper"],
                                 "sleeper_name": tids["sleeper_name"]}) + "\n")
    sys.stdout.flush()
    spin()  # L:main
import json
if __name__ == "__main__":
    main()  # L:module
'''

PYPROF = None
TMP = None
RESULTS = {"passed": 0, "failed": 0, "skipped": 0}
for _k in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
    ENV.pop(_k, None)


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def lines_of_markers(src):
    out = {}
    for i, line in enumerate(src.splitlines(), 1):
        m = re.search(r"# L:(\w+)", line)
        if m:
            out[m.group(1)] = i
    return out


LINES = lines_of_markers(TARGET)


class Target(ftest.Target):
    """The target under one interpreter; its first line gives its threads' ids."""

    def __init__(self, python):
        self.path = os.path.join(TMP, "views_target.py")
        with open(self.path, "w") as f:
            f.write(TARGET)
        super().__init__([python, self.path], error=Fail)
        self.tids = json.loads(self.line)
        time.sleep(0.1)  # let the main thread reach the spin line


def run(argv, timeout=20):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          env=ENV)


def report(name, fn):
    try:
        fn()
    except Skip as e:
        print("SKIP %s: %s" % (name, e))
        RESULTS["skipped"] += 1
    except Fail as e:
        print("FAIL %s: %s" % (name, e))
        RESULTS["failed"] += 1
    except Exception as e:  # a bug in the test or a timeout: a failure, with the reason
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        RESULTS["failed"] += 1
    else:
        print("PASS %s" % name)
        RESULTS["passed"] += 1
    sys.stdout.flush()


def expect(cond, why):
    if not cond:
        raise Fail(why)


def main_frames(t):
    """Innermost first, as --json gives them."""
    return [("spin", t.path, LINES["spin"]), ("main", t.path, LINES["main"]),
            ("<module>", t.path, LINES["module"])]


def test_dump_text(python):
    with Target(python) as t:
        r = run([PYPROF, "dump", "--pid", str(t.pid)])
        out = r.stdout.decode()
        expect(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr.decode()))
        blocks = {}
        for blk in out.split("\n\n")[1:]:
            head, *frames = blk.strip("\n").split("\n")
            m = re.match(r"Thread (\d+) \((.*)\) \[(running|idle)(, holds the GIL)?\]$", head)
            expect(m, "bad thread header %r" % head)
            blocks[int(m.group(1))] = (m.group(2), m.group(3), frames, bool(m.group(4)))
        mt, st = t.tids["main"], t.tids["sleeper"]
        expect(set(blocks) == {mt, st}, "threads %s, expected %s" % (sorted(blocks), [mt, st]))
        want = ['  File "%s", line %d, in %s' % (f, l, n) for n, f, l in reversed(main_frames(t))]
        expect(blocks[mt][2] == want, "main thread:\n%s\nexpected:\n%s"
               % ("\n".join(blocks[mt][2]), "\n".join(want)))
        expect(blocks[mt][1] == "running", "main thread is %s" % blocks[mt][1])
        expect(blocks[mt][0] == "MainThread", "main thread name %r" % blocks[mt][0])
        expect(blocks[st][0] == t.tids["sleeper_name"], "sleeper name %r" % blocks[st][0])
        expect(blocks[mt][3] and not blocks[st][3], "GIL marks: main %s, sleeper %s (the main "
               "thread spins)" % (blocks[mt][3], blocks[st][3]))
        last = '  File "%s", line %d, in sleeper' % (t.path, LINES["sleep"])
        expect(blocks[st][2] and blocks[st][2][-1] == last,
               "sleeper innermost %r, expected %r" % (blocks[st][2][-1:], last))
        expect(any("threading.py" in fr for fr in blocks[st][2]), "no threading frames")
        expect(blocks[st][1] == "idle", "sleeper is %s" % blocks[st][1])


def test_dump_json(python, version):
    with Target(python) as t:
        r = run([PYPROF, "dump", "--pid", str(t.pid), "--json"])
        expect(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr.decode()))
        d = json.loads(r.stdout)
        expect(d["pid"] == t.pid, "pid %r" % d["pid"])
        expect(d["python"] == version, "python %r, expected %r" % (d["python"], version))
        th = {x["tid"]: x for x in d["threads"]}
        mt, st = t.tids["main"], t.tids["sleeper"]
        expect(set(th) == {mt, st}, "threads %s" % sorted(th))
        got = [(f["name"], f["file"], f["line"]) for f in th[mt]["frames"]]
        expect(got == main_frames(t), "main frames %s" % got)
        expect(th[mt]["state"] == "running", "main state %s" % th[mt]["state"])
        expect(th[st]["state"] == "idle", "sleeper state %s" % th[st]["state"])
        f0 = th[st]["frames"][0]
        expect((f0["name"], f0["file"], f0["line"]) == ("sleeper", t.path, LINES["sleep"]),
               "sleeper innermost %s" % f0)
        expect(th[st]["name"] == t.tids["sleeper_name"], "sleeper name %r" % th[st]["name"])
        expect(th[mt]["name"] == "MainThread", "main name %r" % th[mt]["name"])
        expect(th[mt]["gil"] is True and th[st]["gil"] is False,
               "gil: main %r, sleeper %r (the main thread spins)" % (th[mt]["gil"], th[st]["gil"]))


def test_dump_not_python():
    p = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        time.sleep(0.1)
        r = run([PYPROF, "dump", "--pid", str(p.pid)])
        err = r.stderr.decode()
        expect(r.returncode == 5, "exit %d, expected 5: %s" % (r.returncode, err))
        expect("not a Python process" in err, "message: %r" % err)
        expect(r.stdout == b"", "output on stdout: %r" % r.stdout)
    finally:
        p.kill()
        p.wait()


def test_top_snapshot(python):
    with Target(python) as t:
        r = run([PYPROF, "top", "--pid", str(t.pid), "-d", "0.5", "-r", "200"])
        out = r.stdout.decode()
        expect(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr.decode()))
        expect("\033" not in out, "escape sequences in non-tty output")
        expect(re.search(r"%Own\s+%Total\s+OwnTime\s+TotalTime\s+Function", out), "no header")
        row = re.search(r"^\s*([\d.]+)%\s+([\d.]+)%\s+([\d.]+)s\s+([\d.]+)s\s+spin \(views_target"
                        r"\.py:" + str(LINES["spin"]) + r"\)$", out, re.M)
        expect(row, "no spin row in:\n" + out)
        expect(float(row.group(1)) >= 80, "spin %%Own %s" % row.group(1))
        expect(not re.search(r"\bsleeper \(", out), "the idle thread shows up:\n" + out)


def tmux(*args, check=True):
    r = subprocess.run(["tmux", "-L", SOCKET] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    if check and r.returncode:
        raise Fail("tmux %s: %s" % (args[0], r.stderr.decode().strip()))
    return r.stdout.decode()


SOCKET = "pyprof-views-%d" % os.getpid()


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def test_top_tmux(python, quit_by="q"):
    if not shutil.which("tmux"):
        raise Skip("tmux not installed")
    with Target(python) as t:
        sess = "top%d" % t.pid
        # stty -a after pyprof exits shows whether the terminal modes were restored.
        cmd = "stty -a > %s/stty.before; %s top --pid %d; echo rc=$? > %s/rc; stty -a > %s/stty.after; sleep 30" % (
            TMP, PYPROF, t.pid, TMP, TMP)
        tmux("new-session", "-d", "-s", sess, "-x", "200", "-y", "50", cmd)
        try:
            time.sleep(2.5)
            screen = tmux("capture-pane", "-p", "-t", sess)
            expect("pyprof top - PID %d" % t.pid in screen, "no title:\n" + screen)
            expect(re.search(r"%Own\s+%Total\s+OwnTime\s+TotalTime\s+Function", screen),
                   "no header:\n" + screen)
            row = re.search(r"^\s*([\d.]+)%\s+([\d.]+)%.*spin \(views_target\.py:"
                            + str(LINES["spin"]) + r"\)", screen, re.M)
            expect(row and float(row.group(1)) > 0, "no spin row with %%Own > 0:\n" + screen)
            alt = tmux("display-message", "-p", "-t", sess, "#{alternate_on}#{cursor_flag}").strip()
            expect(alt == "10", "alternate screen/cursor flags %r, expected '10'" % alt)
            tmux("send-keys", "-t", sess, "2")
            time.sleep(0.3)
            screen = tmux("capture-pane", "-p", "-t", sess)
            expect("sorted by %Total" in screen, "key 2 did not sort by %Total:\n" + screen)
            if quit_by == "q":
                tmux("send-keys", "-t", sess, "q")
            else:
                shell = int(tmux("display-message", "-p", "-t", sess, "#{pane_pid}").strip())
                kids = children(shell)
                expect(len(kids) == 1, "pyprof not found under the pane's shell: %s" % kids)
                os.kill(kids[0], signal.SIGTERM)
            deadline = time.time() + 5
            while time.time() < deadline and not os.path.exists(os.path.join(TMP, "rc")):
                time.sleep(0.05)
            expect(os.path.exists(os.path.join(TMP, "rc")), "pyprof top did not quit (%s)" % quit_by)
            time.sleep(0.2)
            with open(os.path.join(TMP, "rc")) as f:
                rc = f.read().strip()
            expect(rc == "rc=0", "pyprof top %s" % rc)
            alt = tmux("display-message", "-p", "-t", sess, "#{alternate_on}#{cursor_flag}").strip()
            expect(alt == "01", "after q: alternate screen/cursor flags %r, expected '01'" % alt)
            with open(os.path.join(TMP, "stty.before")) as a, open(os.path.join(TMP, "stty.after")) as b:
                expect(a.read() == b.read(), "terminal modes not restored")
        finally:
            tmux("kill-session", "-t", sess, check=False)
            for n in ("rc", "stty.before", "stty.after"):
                try:
                    os.unlink(os.path.join(TMP, n))
                except FileNotFoundError:
                    pass


def test_top_target_exits(python):
    """The target exits under a live top: the note, then top quits by itself within ~2 s."""
    if not shutil.which("tmux"):
        raise Skip("tmux not installed")
    with Target(python) as t:
        sess = "topx%d" % t.pid
        cmd = "%s top --pid %d 2> %s/err; echo rc=$? > %s/rc; sleep 30" % (PYPROF, t.pid, TMP, TMP)
        tmux("new-session", "-d", "-s", sess, "-x", "120", "-y", "30", cmd)
        try:
            time.sleep(1.3)
            os.killpg(t.pid, signal.SIGKILL)
            time.sleep(0.8)
            screen = tmux("capture-pane", "-p", "-t", sess)
            expect("process %d exited" % t.pid in screen, "no exit note:\n" + screen)
            deadline = time.time() + 5
            while time.time() < deadline and not os.path.exists(os.path.join(TMP, "rc")):
                time.sleep(0.05)
            expect(os.path.exists(os.path.join(TMP, "rc")), "top did not quit after the exit")
            time.sleep(0.1)
            with open(os.path.join(TMP, "err")) as f:
                err = f.read()
            expect("process %d exited" % t.pid in err, "stderr %r" % err)
        finally:
            tmux("kill-session", "-t", sess, check=False)
            for n in ("rc", "err"):
                try:
                    os.unlink(os.path.join(TMP, n))
                except FileNotFoundError:
                    pass


def pythons():
    found = []
    pyenv = shutil.which("pyenv")
    vers = []
    if pyenv:
        r = subprocess.run([pyenv, "versions", "--bare"], stdout=subprocess.PIPE, timeout=30)
        vers = [v for v in r.stdout.decode().split() if re.match(r"^3\.\d+\.\d+$", v)]
        vers.sort(key=lambda v: tuple(int(x) for x in v.split(".")))

    def prefix(v):
        r = subprocess.run([pyenv, "prefix", v], stdout=subprocess.PIPE, timeout=30)
        p = os.path.join(r.stdout.decode().strip(), "bin", "python3")
        return p if os.access(p, os.X_OK) else None

    if vers:
        found.append(prefix(vers[-1]))
    if os.access("/usr/bin/python3.11", os.X_OK):
        found.append("/usr/bin/python3.11")
    nine = [v for v in vers if v.startswith("3.9.")]
    if nine:
        found.append(prefix(nine[-1]))
    out = []
    for p in found:
        if p and p not in out:
            r = subprocess.run([p, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               stdout=subprocess.PIPE, timeout=30)
            out.append((p, r.stdout.decode().strip()))
    return out


def main():
    global PYPROF, TMP
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyprof", required=True)
    args = ap.parse_args()
    PYPROF = os.path.abspath(args.pyprof)
    TMP = tempfile.mkdtemp(prefix="pyprof-views-")
    try:
        report("dump_not_python", test_dump_not_python)
        pys = pythons()
        if not pys:
            report("interpreters", lambda: (_ for _ in ()).throw(Skip("no interpreter found")))
        for py, ver in pys:
            tag = "[%s %s]" % (ver, py)
            report("dump_text " + tag, lambda: test_dump_text(py))
            report("dump_json " + tag, lambda: test_dump_json(py, ver))
            report("top_snapshot " + tag, lambda: test_top_snapshot(py))
        if pys:
            py = pys[0][0]
            report("top_tmux [%s]" % pys[0][1], lambda: test_top_tmux(py))
            report("top_tmux_sigterm [%s]" % pys[0][1], lambda: test_top_tmux(py, "TERM"))
            report("top_target_exits [%s]" % pys[0][1], lambda: test_top_target_exits(py))
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed, %d skipped"
          % (RESULTS["passed"], RESULTS["failed"], RESULTS["skipped"]))
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
