#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Native-stack benchmark (`pyprof record -n`): achieved rate, cost per sample, target slowdown.

usage: tools/bench/native.py --pyprof PATH [--versions 3.9,3.12] [--pairs N] [--secs S]

For each interpreter, against targets/work.py (about 33 Python frames, ~60 native frames with
the eval loop in between):
  rate      `record -n -r 2000` for S seconds: samples/s achieved, pyprof's own median/p99
            cost per sample (its summary line), stops timed out; and the same without -n, in
            the same minutes, for the ratio.
  slowdown  windows of S seconds with and without `record -n -r 1000` attached, in adjacent
            pairs (order alternating): slowdown = work rate off / work rate on, per pair;
            median and IQR over N pairs. Also the same for Python-only sampling at 1000 Hz.
A measurement, not a test: prints a Markdown table, exits 0. Run it on a quiet machine.
"""
import argparse
import mmap
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "targets", "work.py")


def pyenv_python(ver):
    pre = subprocess.run(["pyenv", "prefix", ver], capture_output=True, text=True).stdout.strip()
    exe = os.path.join(pre, "bin", "python3")
    return exe if os.access(exe, os.X_OK) else None


class Target:
    def __init__(self, py, tmp):
        self.counter = os.path.join(tmp, "counter")
        with open(self.counter, "wb") as f:
            f.write(b"\0" * 16)
        self.p = subprocess.Popen([py, WORK, self.counter])
        f = open(self.counter, "r+b")
        self.mm = mmap.mmap(f.fileno(), 16)
        deadline = time.time() + 20
        while self.units() == 0 and time.time() < deadline:
            time.sleep(0.05)

    def units(self):
        return struct.unpack_from("<Q", self.mm, 0)[0]

    def close(self):
        self.p.kill()
        self.p.wait()


def record(pyprof, pid, args, secs):
    r = subprocess.run([pyprof, "record", "--no-progress", "-f", "folded", "-o", "/dev/null",
                        "-d", str(secs), "--pid", str(pid)] + args,
                       capture_output=True, text=True, timeout=secs + 60)
    m = re.search(r"(\d+) samples in ([\d.]+) s", r.stderr)
    c = re.search(r"median (\d+) us, p99 (\d+) us", r.stderr)
    t = re.search(r"(\d+) timed out", r.stderr)
    if r.returncode or not m or not c:
        raise RuntimeError("pyprof failed: " + r.stderr[-500:])
    return {"rate": int(m.group(1)) / float(m.group(2)), "median": int(c.group(1)),
            "p99": int(c.group(2)), "timeouts": int(t.group(1)) if t else 0}


def window(t, secs, pyprof=None, args=None):
    """Work units per second over @secs, with pyprof attached when @args is given."""
    u0, t0 = t.units(), time.monotonic()
    if args is None:
        time.sleep(secs)
    else:
        record(pyprof, t.p.pid, args, secs)
    return (t.units() - u0) / (time.monotonic() - t0)


def quartiles(v):
    v = sorted(v)
    q = statistics.quantiles(v, n=4) if len(v) >= 2 else [v[0]] * 3
    return statistics.median(v), q[0], q[2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyprof", required=True)
    ap.add_argument("--versions", default="3.9,3.12")
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--secs", type=float, default=2.0)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for ver in a.versions.split(","):
            py = pyenv_python(ver)
            if not py:
                print(f"skip {ver}: not installed", file=sys.stderr)
                continue
            t = Target(py, tmp)
            try:
                nat, plain = [], []
                for i in range(3):
                    # Interleaved: native, Python-only, in alternating order.
                    order = [("n", ["-n"]), ("p", [])]
                    for kind, extra in (order if i % 2 == 0 else order[::-1]):
                        res = record(a.pyprof, t.p.pid, extra + ["-r", "2000"], a.secs)
                        (nat if kind == "n" else plain).append(res)
                slow = {"n": [], "p": []}
                for i in range(a.pairs):
                    for kind, extra in (("n", ["-n", "-r", "1000"]), ("p", ["-r", "1000"])):
                        if i % 2 == 0:
                            off = window(t, a.secs)
                            on = window(t, a.secs, a.pyprof, extra)
                        else:
                            on = window(t, a.secs, a.pyprof, extra)
                            off = window(t, a.secs)
                        slow[kind].append(off / on if on else float("inf"))
            finally:
                t.close()
            med = lambda xs, k: statistics.median(x[k] for x in xs)
            sn, sn1, sn3 = quartiles(slow["n"])
            sp, sp1, sp3 = quartiles(slow["p"])
            rows.append((ver, med(nat, "rate"), med(nat, "median"), med(nat, "p99"),
                         sum(x["timeouts"] for x in nat), med(plain, "rate"),
                         med(plain, "median"), sn, sn1, sn3, sp, sp1, sp3))
    print("| Python | -n rate @2 kHz (samples/s) | -n cost median / p99 (µs) | stop timeouts |"
          " Python-only rate @2 kHz | Python-only cost median (µs) | target slowdown -n @1 kHz"
          " (median [IQR]) | slowdown Python-only @1 kHz |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.0f} | {r[2]:.0f} / {r[3]:.0f} | {r[4]} | {r[5]:.0f} | {r[6]:.0f} |"
              f" {r[7]:.2f}x [{r[8]:.2f}, {r[9]:.2f}] | {r[10]:.2f}x [{r[11]:.2f}, {r[12]:.2f}] |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
