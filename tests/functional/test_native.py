#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pyprof record -n/--native: native frames merged with the Python frames.

The test builds a small C extension (ppext.c below) against each interpreter's own headers. The
target's Python code calls into C, C calls back into Python, and that Python code calls C again,
which spins in a native leaf function:

    <module> -> outer -> middle -> ppext.call (C) -> inner -> ppext.leaf (C) -> busy_leaf (C)

With --native every sample of the spin must be exactly that stack, with the C frames between the
right Python frames. That checks the merge at each eval-loop boundary: every frame <= 3.10,
is_entry on 3.11, shim frames on 3.12+. --native-all must keep the interpreter's own frames
between ext_call and inner, and thread start-up frames at the root. A launched target and an
attached one must both keep running afterwards, with no tracer left (TracerPid 0).
Stdlib only. Usage: test_native.py --pyprof PATH   (interpreters: PYPROF_TEST_PYTHONS or pyenv)
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from ftest import finish, parse_folded, pythons, report

EXT_C = r'''
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static volatile unsigned long sink;

__attribute__((noinline)) static unsigned long busy_leaf(unsigned long n)
{
    unsigned long x = 1;
    for (unsigned long i = 0; i < n; i++)
        x = x * 6364136223846793005UL + (i ^ (x >> 7));
    sink = x;
    return x;
}

__attribute__((noinline)) static PyObject *ext_leaf(PyObject *self, PyObject *arg)
{
    unsigned long n = PyLong_AsUnsignedLong(arg);
    if (PyErr_Occurred())
        return NULL;
    busy_leaf(n);
    Py_RETURN_NONE;
}

__attribute__((noinline)) static PyObject *ext_call(PyObject *self, PyObject *fn)
{
    PyObject *r = PyObject_CallObject(fn, NULL);
    sink++;
    return r;
}

static PyMethodDef methods[] = {
    {"leaf", ext_leaf, METH_O, "spin in C"},
    {"call", ext_call, METH_O, "call a Python function from C"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = { PyModuleDef_HEAD_INIT, "ppext", NULL, -1, methods };

PyMODINIT_FUNC PyInit_ppext(void) { return PyModule_Create(&module); }
'''

TARGET = r'''
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppext

def inner():
    ppext.leaf(3000000)  # L:inner

def middle():
    ppext.call(inner)  # L:middle

def outer(sec):
    end = time.time() + sec
    while time.time() < end:
        middle()  # L:outer

open(sys.argv[2], "w").close()
outer(float(sys.argv[1]))  # L:module
'''



def lines_of(src):
    return {m.group(1): i + 1 for i, l in enumerate(src.splitlines())
            for m in [re.search(r"# L:(\w+)", l)] if m}


def build_ext(py, d):
    """Build ppext for @py in @d; None on success, else why it cannot be built."""
    inc = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"],
                         capture_output=True, text=True, timeout=30).stdout.strip()
    if not os.path.exists(os.path.join(inc, "Python.h")):
        return f"no Python.h in {inc!r} (install the interpreter's -dev package)"
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        return "no C compiler"
    src = os.path.join(d, "ppext.c")
    with open(src, "w") as f:
        f.write(EXT_C)
    r = subprocess.run([cc, "-O1", "-g", "-shared", "-fPIC", "-I", inc, src, "-o",
                        os.path.join(d, "ppext.so")], capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise AssertionError("building ppext failed: " + r.stderr[-1500:])
    return None


def tracer_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return -1


def state_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def expected(tag, script, lines):
    f = os.path.basename(script)
    return [f"<module> ({f}:{lines['module']})", f"outer ({f}:{lines['outer']})",
            f"middle ({f}:{lines['middle']})", "ext_call (ppext.so)",
            f"inner ({f}:{lines['inner']})", "ext_leaf (ppext.so)", "busy_leaf (ppext.so)"]


def check_default(name, stacks, want):
    # A thread that could not be stopped or unwound in time keeps its Python-only stack (counted
    # in pyprof's summary as "without native frames"); allow a few, check the rest exactly.
    py_only = sum(c for fr, c in stacks if all(".py:" in x for x in fr))
    total = sum(c for _, c in stacks)
    if py_only > 0.1 * total:
        report("FAIL", name, f"{py_only} of {total} samples have no native frames")
        return
    stacks = [(fr, c) for fr, c in stacks if not all(".py:" in x for x in fr)]
    exact = sum(c for fr, c in stacks if fr == want)
    spin = [(fr, c) for fr, c in stacks if any(x.startswith("busy_leaf ") for x in fr)]
    wrong = [fr for fr, _ in spin if fr != want]
    if wrong:
        report("FAIL", name, "a busy_leaf stack is not the expected one:\n    got  %s\n    want %s"
               % (";".join(wrong[0]), ";".join(want)))
        return
    # Every stack through inner must have ext_call right above it (the C caller in between).
    for fr, _ in stacks:
        for i, x in enumerate(fr):
            if x.startswith("inner (") and (i == 0 or fr[i - 1] != "ext_call (ppext.so)"):
                report("FAIL", name, "inner without ext_call above it: " + ";".join(fr))
                return
    if total < 20 or exact < 0.6 * total:
        report("FAIL", name, f"the expected stack has {exact} of {total} samples (want >= 60%)")
        return
    report("PASS", name, f"{exact}/{total} samples on the exact merged stack"
                         f" ({py_only} Python-only)")


def check_all(name, stacks, py_is_static):
    spin = [(fr, c) for fr, c in stacks if fr and fr[-1] == "busy_leaf (ppext.so)"]
    if not spin:
        report("FAIL", name, "no busy_leaf stack")
        return
    fr = max(spin, key=lambda s: s[1])[0]
    i_call = fr.index("ext_call (ppext.so)") if "ext_call (ppext.so)" in fr else -1
    i_inner = next((i for i, x in enumerate(fr) if x.startswith("inner (")), -1)
    if i_call < 0 or i_inner < 0 or i_inner - i_call < 2:
        report("FAIL", name, "no interpreter frames between ext_call and inner: " + ";".join(fr))
        return
    if not any(re.match(r"(__libc_start_main|__libc_start_call_main|_start|main) ", x)
               for x in fr[:i_call]):
        report("FAIL", name, "no start-up frame at the root: " + ";".join(fr[:6]))
        return
    if any(x.startswith("_PyEval_EvalFrameDefault") for x in fr):
        report("FAIL", name, "an eval-loop frame was not replaced: " + ";".join(fr))
        return
    report("PASS", name, f"{i_inner - i_call - 1} interpreter frames between ext_call and inner")


def check_dump(pyprof, tag, pid, lines):
    """dump --native --json: the main thread's frames, innermost first, C between Python."""
    want = [("busy_leaf", "ppext.so", 0, True), ("ext_leaf", "ppext.so", 0, True),
            ("inner", "native_target.py", lines["inner"], False),
            ("ext_call", "ppext.so", 0, True),
            ("middle", "native_target.py", lines["middle"], False),
            ("outer", "native_target.py", lines["outer"], False),
            ("<module>", "native_target.py", lines["module"], False)]
    got = None
    for _ in range(5):  # the target is in busy_leaf nearly all the time; retry the rare miss
        r = subprocess.run([pyprof, "dump", "--native", "--json", "--pid", str(pid)],
                           capture_output=True, text=True, timeout=60)
        if r.returncode:
            report("FAIL", f"dump --native [{tag}]", f"exit {r.returncode}: {r.stderr[-600:]}")
            return
        doc = json.loads(r.stdout)
        main = [t for t in doc["threads"] if t["tid"] == pid]
        got = [(f["name"], os.path.basename(f["file"]), f["line"], f["native"])
               for f in (main[0]["frames"] if main else [])]
        if got == want:
            report("PASS", f"dump --native [{tag}]", "exact merged traceback")
            return
    report("FAIL", f"dump --native [{tag}]", f"got {got}, want {want}")


def run(pyprof, args, timeout=60):
    return subprocess.run([pyprof, "record", "--no-progress"] + args, capture_output=True,
                          text=True, timeout=timeout)


def test_interpreter(pyprof, tag, py, tmp):
    d = os.path.join(tmp, re.sub(r"[^\w.-]", "_", tag))
    os.makedirs(d, exist_ok=True)
    why = build_ext(py, d)
    if why:
        report("SKIP", f"native [{tag}]", why)
        return
    script = os.path.join(d, "native_target.py")
    with open(script, "w") as f:
        f.write(TARGET)
    lines = lines_of(TARGET)
    want = expected(tag, script, lines)

    # Launch mode, default merge.
    out = os.path.join(d, "launch.folded")
    ready = os.path.join(d, "ready1")
    r = run(pyprof, ["-n", "-r", "200", "-f", "folded", "-o", out, "--", py, script, "2.5", ready])
    if r.returncode:
        report("FAIL", f"native launch [{tag}]", f"exit {r.returncode}: {r.stderr[-800:]}")
    else:
        # Leave interpreter start-up (before the target is ready) out: it has no spin.
        check_default(f"native launch [{tag}]", parse_folded(out), want)

    # Attach mode: default and --native-all, then the target must run on, untraced.
    ready = os.path.join(d, "ready2")
    p = subprocess.Popen([py, script, "30", ready])
    try:
        deadline = time.time() + 20
        while not os.path.exists(ready) and time.time() < deadline and p.poll() is None:
            time.sleep(0.05)
        if not os.path.exists(ready):
            raise AssertionError("target did not start")
        out = os.path.join(d, "attach.folded")
        r = run(pyprof, ["-n", "-r", "200", "-d", "1.5", "-f", "folded", "-o", out,
                         "--pid", str(p.pid)])
        if r.returncode:
            report("FAIL", f"native attach [{tag}]", f"exit {r.returncode}: {r.stderr[-800:]}")
        else:
            check_default(f"native attach [{tag}]", parse_folded(out), want)
        out = os.path.join(d, "all.folded")
        r = run(pyprof, ["--native-all", "-r", "200", "-d", "1.5", "-f", "folded", "-o", out,
                         "--pid", str(p.pid)])
        if r.returncode:
            report("FAIL", f"native-all [{tag}]", f"exit {r.returncode}: {r.stderr[-800:]}")
        else:
            check_all(f"native-all [{tag}]", parse_folded(out), py.startswith("/usr/bin"))
        check_dump(pyprof, tag, p.pid, lines)
        time.sleep(0.1)
        tp, st = tracer_of(p.pid), state_of(p.pid)
        if p.poll() is not None or tp != 0 or st in ("t", "T"):
            report("FAIL", f"native detach [{tag}]",
                   f"target alive={p.poll() is None} TracerPid={tp} state={st}")
        else:
            report("PASS", f"native detach [{tag}]", "target running, TracerPid 0")
    finally:
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyprof", required=True)
    args = ap.parse_args()
    pyprof = os.path.abspath(args.pyprof)
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="pyprof-native-")
    try:
        for tag, py in pythons("native"):
            try:
                test_interpreter(pyprof, tag, py, tmp)
            except (AssertionError, subprocess.TimeoutExpired) as e:
                report("FAIL", f"native [{tag}]", str(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish(started)


if __name__ == "__main__":
    sys.exit(main())
