#!/usr/bin/env python3
"""pyprof benchmark suite: sampler cost, achieved rate and target slowdown, side by side with
Debian's austin 1.0.1 (which works on CPython 3.8-3.10).  A measurement, never a test: it
prints PASS / FALL SHORT per goal of issue 5 and always exits 0 once the report is written.

usage: tools/bench/run.py [--quick] [--pyprof PATH] [--seed N] [--phases rate,slow,cg]
                          [--out-dir DIR] [--tag TEXT]

  --quick   one interpreter per frame model (3.9 for <=3.10, 3.12 for >=3.11), 2 repeats,
            slowdown on 3.9 (both profilers) and 3.12 (pyprof): about 7 minutes.
  default   every installed CPython 3.8-3.13 (pyenv) plus Debian's /usr/bin/python3.11,
            3 repeats, slowdown for every version in both settings: about 45 minutes.

Phases (each interleaved in a seeded random order so that pyprof/austin ratios come from
the same minutes of the same machine):
  rate  for each interpreter x rate (100, 1000, 10000 Hz) x profiler, attach to a fresh
        target for D seconds: pyprof's own cost median/p99 (austin: its avg), achieved rate,
        late share, collector CPU (os.wait4 rusage) as % of a core and per sample, max RSS,
        torn/invalid %.  Also the 100-thread target at 100 Hz and the 500-frame target at
        1 kHz.
  slow  one long-running target per interpreter and setting; windows with and without a
        profiler attached, in adjacent pairs (order alternating), >= 20 pairs per
        condition; slowdown = work rate off / work rate on per pair: median and IQR.
        Settings: idle (the second core is free) and busy (one extra busy process per
        core, so the profiler cannot hide on an idle core); rates 10 kHz and 100 Hz.
  cg    instructions per sample: valgrind --tool=callgrind on pyprof against a target the
        bench SIGSTOPs first (and always SIGCONTs in a finally block); total Ir / samples
        and the marginal Ir per sample from two durations; top functions.
Outputs tools/bench/results/<date>-<host>[-quick].{md,json,png}.
"""
import argparse
import datetime
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGET = os.path.join(HERE, "targets", "work.py")
RATES = [100, 1000, 10000]
AUSTIN_OK = ("3.8", "3.9", "3.10")
LIVE = {}  # pid -> Popen of every process we started, for cleanup


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    LIVE[p.pid] = p
    return p


def reap(p, sig=signal.SIGKILL):
    """Stop one process we started (by its pid) and collect it."""
    if p.poll() is None:
        try:
            os.kill(p.pid, signal.SIGCONT)
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
    LIVE.pop(p.pid, None)


def cleanup():
    for p in list(LIVE.values()):
        reap(p)


def vm_hwm_kb(pid):
    """Peak RSS of the current image.  (ru_maxrss from wait4 is useless here: it keeps the
    high-water mark of the forked Python parent across execve.)"""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def wait_rusage(p, timeout):
    """Wait for p with a deadline, polling lightly (50 ms) and tracking VmHWM.
    Return (exit code, rusage); rusage.ru_maxrss is replaced by the VmHWM seen."""
    end = time.monotonic() + timeout
    hwm = vm_hwm_kb(p.pid)
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            rc = os.waitstatus_to_exitcode(status)
            break
        hwm = max(hwm, vm_hwm_kb(p.pid))
        if time.monotonic() > end:
            os.kill(p.pid, signal.SIGKILL)
            pid, status, ru = os.wait4(p.pid, 0)
            rc = -9
            break
        time.sleep(0.05)
    p.returncode = rc
    LIVE.pop(p.pid, None)
    fields = {k: getattr(ru, k) for k in ("ru_utime", "ru_stime")}
    fields["ru_maxrss"] = hwm
    return rc, argparse.Namespace(**fields)


class Target:
    """A work.py process; read its work-unit counter from the shared file."""

    def __init__(self, py, workdir, threads=1, depth=10, fib=20, name="t"):
        self.counter = os.path.join(workdir, "counter-%s-%d" % (name, random.getrandbits(32)))
        self.threads = threads
        self.p = spawn([py, TARGET, self.counter, "--threads", str(threads), "--depth",
                        str(depth), "--fib", str(fib)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            u, started = self.read()
            if started >= threads and u >= 1:
                return
            time.sleep(0.02)
        raise RuntimeError("target did not start: %s" % py)

    @property
    def pid(self):
        return self.p.pid

    def read(self):
        try:
            with open(self.counter, "rb") as f:
                b = f.read(16)
            return struct.unpack("<QQ", b) if len(b) == 16 else (0, 0)
        except FileNotFoundError:
            return (0, 0)

    def units(self):
        return self.read()[0], time.monotonic()

    def close(self):
        reap(self.p)
        try:
            os.unlink(self.counter)
        except FileNotFoundError:
            pass


# ---------------------------------------------------------------- profilers

PY_SUM = re.compile(r"pyprof: (\d+) samples in ([\d.]+) s \(([\d.]+) Hz\).*?: (\d+) distinct stacks, "
                    r"(\d+) thread stacks(?:, \d+ idle left out)?; (\d+) torn, (\d+) unreadable, "
                    r"(\d+) late")
PY_COST = re.compile(r"sample cost: median (\d+) us, p99 (\d+) us; (\d+) reads, (\d+) bytes")
AU_TIME = re.compile(r"Sampling time \(min/avg/max\) : (\d+)/(\d+)/(\d+) us")
AU_LONG = re.compile(r"Long sampling rate : (\d+)/(\d+)")
AU_ERR = re.compile(r"Error rate : (\d+)/(\d+)")
ROOTS = ("<module> (", "_bootstrap (")


def start_profiler(prof, pyprof, pid, hz, secs, out, err):
    if prof == "pyprof":
        argv = [pyprof, "record", "-p", str(pid), "-r", str(hz), "-o", out, "-f", "folded",
                "--no-progress"]
        if secs:
            argv += ["-d", "%.3f" % secs]
    else:
        argv = ["austin", "-i", str(max(1, round(1e6 / hz))), "-p", str(pid), "-o", out]
    return spawn(argv, stdout=subprocess.DEVNULL, stderr=err)


def stop_profiler(prof, p, secs_left):
    """pyprof ends by itself (-d); austin has no duration option, so SIGINT it."""
    if prof == "austin":
        time.sleep(max(0.0, secs_left))
        hwm = vm_hwm_kb(p.pid)
        os.kill(p.pid, signal.SIGINT)
        rc, ru = wait_rusage(p, 30)
        ru.ru_maxrss = max(ru.ru_maxrss, hwm)
        return rc, ru
    return wait_rusage(p, secs_left + 30)


def rootless_folded(path):
    """Weighted share of folded stacks whose first frame is not a thread root."""
    bad = tot = 0
    try:
        with open(path, errors="replace") as f:
            for line in f:
                stack, _, n = line.rstrip("\n").rpartition(" ")
                if not n.isdigit():
                    continue
                n = int(n)
                tot += n
                if not stack.startswith(ROOTS):
                    bad += n
    except FileNotFoundError:
        pass
    return bad, tot


def austin_lines(path):
    """(samples, rootless) of austin 1.0.1 text output: 'Thread X;<frames> <us>'."""
    n = bad = 0
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if not line.startswith("Thread "):
                    continue
                n += 1
                parts = line.split(";", 2)
                if len(parts) < 2 or not parts[1].startswith(ROOTS) or "INVALID" in line:
                    bad += 1
    except FileNotFoundError:
        pass
    return n, bad


def one_run(prof, pyprof, target, hz, secs, workdir):
    out = os.path.join(workdir, "out.%s" % prof)
    errp = os.path.join(workdir, "err.%s" % prof)
    for f in (out, errp):
        if os.path.exists(f):
            os.unlink(f)
    with open(errp, "w") as err:
        t0 = time.monotonic()
        p = start_profiler(prof, pyprof, target.pid, hz, secs, out, err)
        rc, ru = stop_profiler(prof, p, secs if prof == "austin" else secs + 10)
        wall = time.monotonic() - t0
    text = open(errp, errors="replace").read()
    cpu = ru.ru_utime + ru.ru_stime
    r = {"profiler": prof, "hz": hz, "rc": rc, "wall_s": wall, "cpu_s": cpu,
         "user_s": ru.ru_utime, "sys_s": ru.ru_stime, "maxrss_kb": ru.ru_maxrss,
         "cpu_pct": 100 * cpu / wall}
    if prof == "pyprof":
        m, c = PY_SUM.search(text), PY_COST.search(text)
        if not m:
            r["error"] = text.strip()[-300:]
            r["cpu_us_per_sample"] = float("nan")
            return r
        ticks, dur, ach, _, stacks, torn, unread, late = m.groups()
        ticks, stacks, torn, unread, late = int(ticks), int(stacks), int(torn), int(unread), int(late)
        r.update(samples=ticks, duration_s=float(dur), achieved_hz=float(ach),
                 thread_stacks=stacks, torn=torn, unreadable=unread, late=late,
                 late_pct=100 * late / max(1, ticks + late),
                 torn_pct=100 * (torn + unread) / max(1, stacks + torn + unread))
        if c:
            r.update(cost_med_us=int(c.group(1)), cost_p99_us=int(c.group(2)),
                     reads=int(c.group(3)), bytes_read=int(c.group(4)))
        bad, tot = rootless_folded(out)
        r["rootless_pct"] = 100 * bad / max(1, tot)
    else:
        n, bad = austin_lines(out)
        ticks = n // max(1, target.threads)
        r.update(samples=ticks, thread_stacks=n, duration_s=wall, achieved_hz=ticks / wall,
                 torn_pct=100 * bad / max(1, n), rootless_pct=100 * bad / max(1, n))
        m = AU_TIME.search(text)
        if m:
            r["cost_avg_us"] = int(m.group(2))
            r["cost_max_us"] = int(m.group(3))
        m = AU_LONG.search(text)
        if m:
            r["late_pct"] = 100 * int(m.group(1)) / max(1, int(m.group(2)))
        m = AU_ERR.search(text)
        if m:
            r["austin_errors"] = int(m.group(1))
        if n == 0:
            r["error"] = text.strip()[-300:]
    r["cpu_us_per_sample"] = 1e6 * cpu / max(1, r.get("samples", 0))
    return r


# ---------------------------------------------------------------- phases

def phase_rate(args, interps, workdir, rnd, runs):
    """Appends to runs as it goes, so an interrupted run still reports what it measured."""
    jobs = []
    for it in interps:
        profs = ["pyprof"] + (["austin"] if it["austin"] else [])
        for prof in profs:
            for hz in RATES:
                jobs.append((it, "depth33", hz, prof))
            jobs.append((it, "threads100", 100, prof))
            jobs.append((it, "deep500", 1000, prof))
    shapes = {"depth33": dict(), "threads100": dict(threads=100), "deep500": dict(depth=480, fib=16)}
    for rep in range(args.repeats):
        order = jobs[:]
        rnd.shuffle(order)
        for i, (it, shape, hz, prof) in enumerate(order):
            t = Target(it["python"], workdir, name=shape, **shapes[shape])
            try:
                time.sleep(0.2)
                r = one_run(prof, args.pyprof, t, hz, args.secs, workdir)
            finally:
                t.close()
            r.update(python=it["name"], shape=shape, rep=rep)
            runs.append(r)
            log("rate %d/%d rep %d: %-7s %-10s %-6s %5d Hz -> %7.0f Hz, cpu %5.1f%%, %5.1f us/sample, torn %.2f%%%s"
                % (i + 1, len(order), rep, it["name"], shape, prof, hz, r.get("achieved_hz", 0),
                   r["cpu_pct"], r["cpu_us_per_sample"], r.get("torn_pct", -1),
                   "  ERROR " + r["error"] if "error" in r else ""))
    return runs


def burners(n):
    code = "while True: pass"
    return [spawn([sys.executable, "-c", code]) for _ in range(n)]


def window(target, secs):
    u0, t0 = target.units()
    time.sleep(secs)
    u1, t1 = target.units()
    return (u1 - u0) / (t1 - t0)


def phase_slow(args, interps, workdir, rnd, out):
    """Alternating windows on one long-running target per (interpreter, setting)."""
    cells = []
    for it in interps:
        if it["name"] not in args.slow_versions:
            continue
        for setting in ("idle", "busy"):
            cells.append((it, setting))
    rnd.shuffle(cells)
    settle, w = args.settle, args.window
    for it, setting in cells:
        conds = [(prof, hz) for prof in (["pyprof"] + (["austin"] if it["austin"] else []))
                 for hz in (10000, 100)]
        if args.quick and setting == "idle":
            conds = [c for c in conds if c[1] == 10000]
        burn = burners(os.cpu_count()) if setting == "busy" else []
        t = Target(it["python"], workdir, name="slow")
        res = {c: [] for c in conds}
        flip = False
        try:
            time.sleep(1.0)
            for rnd_i in range(args.pairs):
                order = conds[:]
                rnd.shuffle(order)
                for prof, hz in order:
                    flip = not flip
                    pair = {}
                    for on in ((True, False) if flip else (False, True)):
                        if on:
                            outf = os.path.join(workdir, "slow.%s" % prof)
                            with open(os.path.join(workdir, "slow.err"), "w") as err:
                                p = start_profiler(prof, args.pyprof, t.pid, hz,
                                                   settle + w + 0.05, outf, err)
                                time.sleep(settle)
                                pair["on"] = window(t, w)
                                rc, ru = stop_profiler(prof, p, 0.05 if prof == "austin" else 30)
                            pair["prof_cpu_pct"] = 100 * (ru.ru_utime + ru.ru_stime) / (settle + w)
                        else:
                            time.sleep(settle)
                            pair["off"] = window(t, w)
                    pair["ratio"] = pair["off"] / pair["on"] if pair["on"] > 0 else float("nan")
                    pair["on_first"] = flip
                    res[(prof, hz)].append(pair)
                log("slow %-7s %-4s pair %d/%d: %s" % (
                    it["name"], setting, rnd_i + 1, args.pairs,
                    ", ".join("%s@%d %.3f" % (p, h, res[(p, h)][-1]["ratio"]) for p, h in conds)))
        finally:
            t.close()
            for b in burn:
                reap(b)
        for (prof, hz), pairs in res.items():
            ratios = [p["ratio"] for p in pairs]
            q = quantiles(ratios)
            out.append({"python": it["name"], "setting": setting, "profiler": prof, "hz": hz,
                        "pairs": len(pairs), "median_ratio": q[1], "q1": q[0], "q3": q[2],
                        "slowdown_pct": 100 * (q[1] - 1), "iqr_pct": (100 * (q[0] - 1), 100 * (q[2] - 1)),
                        "prof_cpu_pct": statistics.median(p["prof_cpu_pct"] for p in pairs),
                        "off_units_per_s": statistics.median(p["off"] for p in pairs),
                        "raw": pairs})
    return out


def quantiles(xs):
    xs = sorted(xs)
    if len(xs) < 2:
        return (xs[0], xs[0], xs[0]) if xs else (float("nan"),) * 3
    q = statistics.quantiles(xs, n=4)
    return (q[0], statistics.median(xs), q[2])


def callgrind_once(args, pid, secs, workdir, tag):
    cgo = os.path.join(workdir, "cg.%s.out" % tag)
    errp = os.path.join(workdir, "cg.%s.err" % tag)
    with open(errp, "w") as err:
        subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cgo,
                        args.pyprof, "record", "-p", str(pid), "-d", str(secs), "-r", "1000",
                        "-o", os.path.join(workdir, "cg.folded"), "-f", "folded", "--no-progress"],
                       stdout=subprocess.DEVNULL, stderr=err, timeout=600)
    text = open(errp, errors="replace").read()
    ir = None
    for line in open(cgo):
        if line.startswith(("summary:", "totals:")):
            ir = int(line.split()[1])
            if line.startswith("summary:"):
                break
    m = PY_SUM.search(text)
    return ir, int(m.group(1)) if m else 0, cgo


def phase_cg(args, interps, workdir, out):
    for it in interps:
        if it["name"] not in args.cg_versions:
            continue
        t = Target(it["python"], workdir, name="cg")
        row = {"python": it["name"]}
        try:
            os.kill(t.pid, signal.SIGSTOP)
            try:
                ir1, n1, _ = callgrind_once(args, t.pid, 1, workdir, "a")
                ir2, n2, cgo = callgrind_once(args, t.pid, 3, workdir, "b")
            finally:
                os.kill(t.pid, signal.SIGCONT)
            row.update(ir_short=ir1, samples_short=n1, ir_long=ir2, samples_long=n2,
                       ir_per_sample=ir2 / max(1, n2),
                       marginal_ir_per_sample=(ir2 - ir1) / max(1, n2 - n1))
            try:
                ann = subprocess.run(["callgrind_annotate", "--inclusive=no", cgo],
                                     capture_output=True, text=True, timeout=120).stdout
                top = []
                for line in ann.splitlines():
                    m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*)", line)
                    if m and "PROGRAM TOTALS" not in line:
                        top.append((m.group(2) + "%", m.group(3).strip()[:110]))
                row["top"] = top[:15]
            except Exception as e:  # annotate is optional
                row["top_error"] = str(e)
        except Exception as e:
            row["error"] = repr(e)
        finally:
            t.close()
        log("cg %-7s %s" % (it["name"], {k: v for k, v in row.items() if k != "top"}))
        out.append(row)
    return out


# ---------------------------------------------------------------- report

def machine():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = "%.1f GB" % (int(open("/proc/meminfo").readline().split()[1]) / 1e6)
    except Exception:
        pass

    def ver(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip() or \
                subprocess.run(cmd, capture_output=True, text=True, timeout=10).stderr.strip()
        except Exception:
            return "?"
    return {"host": socket.gethostname(), "nproc": os.cpu_count(), "cpu": model, "mem": mem,
            "kernel": os.uname().release, "austin": ver(["austin", "-V"]).splitlines()[0] if shutil.which("austin") else "missing",
            "valgrind": ver(["valgrind", "--version"]) if shutil.which("valgrind") else "missing",
            "pyprof_git": ver(["git", "-C", ROOT, "describe", "--always", "--dirty"]),
            "loadavg": open("/proc/loadavg").read().split()[:3]}


def find_interps(quick):
    its = []
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    vdir = os.path.join(pyenv_root, "versions")
    names = sorted(os.listdir(vdir)) if os.path.isdir(vdir) else []
    for n in names:
        m = re.fullmatch(r"3\.(\d+)\.(\d+)", n)
        if not m or not 8 <= int(m.group(1)) <= 13:
            continue
        py = os.path.join(vdir, n, "bin", "python3")
        if os.access(py, os.X_OK):
            its.append({"name": n, "python": py, "minor": "3." + m.group(1)})
    if os.access("/usr/bin/python3.11", os.X_OK):
        v = subprocess.run(["/usr/bin/python3.11", "-c", "import platform;print(platform.python_version())"],
                           capture_output=True, text=True).stdout.strip()
        its.append({"name": "deb-" + v, "python": "/usr/bin/python3.11", "minor": "3.11"})
    its.sort(key=lambda i: (int(i["minor"].split(".")[1]), i["name"]))
    for it in its:
        it["austin"] = it["minor"] in AUSTIN_OK and shutil.which("austin") is not None
        it["version"] = subprocess.run([it["python"], "-c", "import sys;print(sys.version.split()[0])"],
                                       capture_output=True, text=True).stdout.strip()
    if quick:
        pick = []
        for want in ("3.9", "3.12"):
            c = [i for i in its if i["minor"] == want]
            if c:
                pick.append(c[0])
        its = pick
    return its


def med(rows, key):
    xs = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return statistics.median(xs) if xs else None


def fmt(x, spec="%.1f", none="–"):
    return none if x is None else spec % x


def summarize_rate(runs):
    cells = {}
    for r in runs:
        if "error" in r:
            continue
        cells.setdefault((r["python"], r["shape"], r["hz"], r["profiler"]), []).append(r)
    out = []
    for (py, shape, hz, prof), rs in cells.items():
        s = {"python": py, "shape": shape, "hz": hz, "profiler": prof, "runs": len(rs)}
        for k in ("cost_med_us", "cost_p99_us", "cost_avg_us", "achieved_hz", "late_pct", "cpu_pct",
                  "cpu_us_per_sample", "maxrss_kb", "torn_pct", "rootless_pct", "reads", "bytes_read", "samples"):
            s[k] = med(rs, k)
        out.append(s)
    return out


def vkey(name):
    m = re.search(r"3\.(\d+)\.(\d+)", name)
    return (int(m.group(1)), name.startswith("deb"), int(m.group(2))) if m else (99, 0, 0)


def goals(rate, slow, interps):
    lines = []

    def cell(py, shape, hz, prof):
        for s in rate:
            if (s["python"], s["shape"], s["hz"], s["profiler"]) == (py, shape, hz, prof):
                return s
        return None

    def verdict(ok):
        return "PASS" if ok else "FALL SHORT"
    for it in interps:
        s = cell(it["name"], "depth33", 10000, "pyprof")
        if not s:
            continue
        lim = 10 if it["minor"] in AUSTIN_OK else 15
        lines.append((verdict(s["cpu_us_per_sample"] <= lim),
                      "CPU per sample %s at 10 kHz, depth 33: %.1f µs (goal ≤ %d µs)" % (it["name"], s["cpu_us_per_sample"], lim)))
    for it in interps:
        s = cell(it["name"], "depth33", 10000, "pyprof")
        if not s:
            continue
        lines.append((verdict(s["achieved_hz"] >= 9900 and s["cpu_pct"] <= 15),
                      "100 µs interval %s: %.0f samples/s (goal ≥ 9900), collector CPU %.1f%% (goal ≤ 15%%)"
                      % (it["name"], s["achieved_hz"], s["cpu_pct"])))
    for it in interps:
        if it["minor"] not in AUSTIN_OK:
            continue
        ts = [s["torn_pct"] for s in rate if s["python"] == it["name"] and s["profiler"] == "pyprof"
              and s["shape"] == "depth33" and s["torn_pct"] is not None]
        if ts:
            lines.append((verdict(max(ts) <= 1), "torn samples %s: max %.2f%% over rates (goal ≤ 1%%)" % (it["name"], max(ts))))
    for it in interps:
        sl = {(x["profiler"], x["hz"]): x for x in slow if x["python"] == it["name"] and x["setting"] == "busy"}
        p10, a10, p100 = sl.get(("pyprof", 10000)), sl.get(("austin", 10000)), sl.get(("pyprof", 100))
        if p10 and a10:
            ps, as_ = p10["slowdown_pct"], a10["slowdown_pct"]
            if as_ <= 0:
                lines.append(("FALL SHORT", "busy 10 kHz slowdown %s: pyprof %+.1f%%, austin %+.1f%% — inconclusive: austin's slowdown not measurable"
                              % (it["name"], ps, as_)))
            else:
                lines.append((verdict(ps <= as_ / 4), "busy 10 kHz slowdown %s: pyprof %+.1f%% (IQR %+.1f…%+.1f) vs austin %+.1f%% (goal ≤ ¼ of austin's = %.1f%%)"
                              % (it["name"], ps, p10["iqr_pct"][0], p10["iqr_pct"][1], as_, as_ / 4)))
        elif p10:
            lines.append(("INFO", "busy 10 kHz slowdown %s: pyprof %+.1f%% (no austin on this version)" % (it["name"], p10["slowdown_pct"])))
        if p100:
            lines.append((verdict(p100["slowdown_pct"] < 1), "busy 100 Hz slowdown %s: pyprof %+.1f%% (IQR %+.1f…%+.1f) (goal < 1%%)"
                          % (it["name"], p100["slowdown_pct"], p100["iqr_pct"][0], p100["iqr_pct"][1])))
    for it in interps:
        s = cell(it["name"], "threads100", 100, "pyprof")
        if s:
            lines.append((verdict(s["cpu_pct"] <= 5), "100 threads at 100 Hz %s: %.1f%% of a core (goal ≤ 5%%)" % (it["name"], s["cpu_pct"])))
    for it in interps:
        s = cell(it["name"], "deep500", 1000, "pyprof")
        if s:
            lines.append((verdict(s["cpu_pct"] <= 10), "500-frame stack at 1 kHz %s: %.1f%% of a core (goal ≤ 10%%)" % (it["name"], s["cpu_pct"])))
    # A slowdown verdict whose IQR is wider than 10 points is noise, whatever the median says.
    out = []
    for v, text in lines:
        m = re.search(r"slowdown .*IQR ([-+\d.]+)…([-+\d.]+)", text)
        if m and float(m.group(2)) - float(m.group(1)) > 10:
            text += " — not conclusive: IQR wider than 10 points"
        out.append((v, text))
    return out


def write_plot(rate, base):
    if not shutil.which("gnuplot"):
        return None
    dat = base + ".plot.dat"
    with open(dat, "w") as f:
        for prof in ("pyprof", "austin"):
            f.write("# %s\n" % prof)
            for s in sorted(rate, key=lambda s: (vkey(s["python"]), s["hz"])):
                if s["profiler"] == prof and s["shape"] == "depth33":
                    f.write("%s %d %.1f %.2f\n" % (s["python"], s["hz"], s["achieved_hz"] or 0, s["cpu_pct"] or 0))
            f.write("\n\n")
    png = base + ".png"
    script = f"""
set terminal pngcairo size 900,600 noenhanced
set output '{png}'
set title 'Achieved sample rate vs collector CPU (depth-33 target, medians)'
set xlabel 'achieved samples/s'
set ylabel 'collector CPU, % of one core'
set logscale x
set grid
set key top left
plot '{dat}' index 0 using 3:4 with points pt 7 ps 1.3 title 'pyprof', \\
     '{dat}' index 0 using 3:4:1 with labels offset 0,1 font ',7' notitle, \\
     '{dat}' index 1 using 3:4 with points pt 5 ps 1.3 title 'austin 1.0.1 (Debian)', \\
     '{dat}' index 1 using 3:4:1 with labels offset 0,-1 font ',7' notitle
"""
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        script = script.replace("pngcairo", "png")
        r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    os.unlink(dat)
    return png if r.returncode == 0 and os.path.exists(png) else None


def report(args, mach, interps, rate, slow, cg, base, elapsed, png):
    L = []
    L.append("# pyprof benchmark: %s (%s mode)\n" % (mach["host"], "quick" if args.quick else "full"))
    L.append("Generated by `tools/bench/run.sh%s` on %s in %.0f min (seed %d, %d repeats of %.0f s per rate cell, "
             "%d slowdown pairs of %.2f s windows; phases: %s).\n" % (" --quick" if args.quick else "",
             datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), elapsed / 60, args.seed, args.repeats, args.secs,
             args.pairs, args.window, getattr(args, "phases", "rate,slow,cg")))
    L.append("## Machine\n")
    L.append("- nproc %s, CPU %s, RAM %s, kernel %s, load average at start %s, at end %s%s" % (
        mach["nproc"], mach["cpu"], mach["mem"], mach["kernel"], " ".join(mach["loadavg"]),
        " ".join(mach.get("loadavg_end", [])),
        " — **the machine was not quiet** (other jobs running): the idle-core setting is not idle, "
        "and all ratios are noisier" if max(float(x) for x in mach["loadavg"] + mach.get("loadavg_end", [])) > 1.5 else ""))
    L.append("- pyprof %s (`%s`), %s, %s" % (mach["pyprof_git"], args.pyprof, mach["austin"], mach["valgrind"]))
    L.append("- interpreters: " + ", ".join("%s (%s%s)" % (i["name"], i["python"], ", austin" if i["austin"] else "")
                                           for i in interps))
    L.append("- noisy 2-vCPU VM: throughput flips between levels several times a minute (machine-facts §8.2); "
             "only paired, interleaved ratios are meaningful.\n")
    L.append("## Sampling cost, rate and CPU (depth-33 target, attach mode, medians)\n")
    L.append("cost = the profiler's own per-sample timer (pyprof: median/p99; austin 1.0.1: its avg only). "
             "CPU/sample = collector user+sys (os.wait4 rusage) ÷ samples, start-up included. "
             "late = pyprof's skipped deadlines ÷ (samples+skipped); austin: its 'long sampling' share. "
             "torn = pyprof (torn+unreadable)/(stacks+torn+unreadable); austin lines without a root frame. "
             "rootless = share of written stacks not starting at `<module>`/`_bootstrap` (cross-check).\n")
    L.append("| Python | Hz | profiler | cost µs med/p99 (avg) | CPU µs/sample | achieved Hz | late % | CPU % core | RSS MB | torn % | rootless % |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    order = sorted(rate, key=lambda s: (vkey(s["python"]), s["shape"] != "depth33", s["shape"], s["hz"], s["profiler"] != "pyprof"))
    for s in order:
        if s["shape"] != "depth33":
            continue
        cost = ("%s/%s" % (fmt(s["cost_med_us"], "%d"), fmt(s["cost_p99_us"], "%d"))) if s["profiler"] == "pyprof" \
            else "(%s)" % fmt(s["cost_avg_us"], "%d")
        L.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            s["python"], s["hz"], s["profiler"], cost, fmt(s["cpu_us_per_sample"]), fmt(s["achieved_hz"], "%.0f"),
            fmt(s["late_pct"]), fmt(s["cpu_pct"]), fmt(s["maxrss_kb"] and s["maxrss_kb"] / 1024),
            fmt(s["torn_pct"], "%.2f"), fmt(s["rootless_pct"], "%.2f")))
    L.append("\n## Other shapes: 100 threads at 100 Hz, 500 frames at 1 kHz\n")
    L.append("| Python | shape | Hz | profiler | cost µs med/p99 (avg) | achieved Hz | CPU % core | CPU µs/sample | RSS MB | torn % |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for s in order:
        if s["shape"] == "depth33":
            continue
        cost = ("%s/%s" % (fmt(s["cost_med_us"], "%d"), fmt(s["cost_p99_us"], "%d"))) if s["profiler"] == "pyprof" \
            else "(%s)" % fmt(s["cost_avg_us"], "%d")
        L.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            s["python"], s["shape"], s["hz"], s["profiler"], cost, fmt(s["achieved_hz"], "%.0f"), fmt(s["cpu_pct"]),
            fmt(s["cpu_us_per_sample"]), fmt(s["maxrss_kb"] and s["maxrss_kb"] / 1024), fmt(s["torn_pct"], "%.2f")))
    if slow:
        L.append("\n## Target slowdown: alternating windows on one long-running target\n")
        L.append("Slowdown = work rate without ÷ with the profiler, per adjacent pair (order alternating), "
                 "median and IQR over pairs; conditions interleaved in random order. busy = %d extra `while True: pass` "
                 "processes (one per core) besides the target. Profiler CPU = its rusage ÷ window.\n" % mach["nproc"])
        L.append("| Python | setting | Hz | profiler | pairs | slowdown % median | IQR % | profiler CPU % | target units/s off |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for x in sorted(slow, key=lambda x: (vkey(x["python"]), x["setting"], -x["hz"], x["profiler"] != "pyprof")):
            L.append("| %s | %s | %d | %s | %d | %+.1f | %+.1f … %+.1f | %.1f | %.0f |" % (
                x["python"], x["setting"], x["hz"], x["profiler"], x["pairs"], x["slowdown_pct"],
                x["iqr_pct"][0], x["iqr_pct"][1], x["prof_cpu_pct"], x["off_units_per_s"]))
    if cg:
        L.append("\n## Instructions per sample (callgrind, target SIGSTOPped, 1000 Hz requested)\n")
        L.append("Total Ir ÷ samples of a 3 s run, and the marginal Ir per sample between a 1 s and a 3 s run "
                 "(start-up cancelled out) — the stable regression number.\n")
        L.append("| Python | samples (1 s / 3 s) | Ir/sample (3 s run) | marginal Ir/sample |")
        L.append("|---|---|---|---|")
        for row in cg:
            if "error" in row:
                L.append("| %s | error: %s | | |" % (row["python"], row["error"]))
                continue
            L.append("| %s | %d / %d | %.0f | %.0f |" % (row["python"], row["samples_short"], row["samples_long"],
                                                       row["ir_per_sample"], row["marginal_ir_per_sample"]))
        for row in cg:
            if row.get("top"):
                L.append("\nTop self-cost functions, %s (3 s run):\n" % row["python"])
                L.append("| Ir % | function |")
                L.append("|---|---|")
                for pct, fn in row["top"][:12]:
                    L.append("| %s | `%s` |" % (pct, fn.replace("|", "/")))
                break
    L.append("\n## Goals (issue 5)\n")
    for v, text in goals(rate, slow, interps):
        L.append("- **%s** — %s" % (v, text))
    if png:
        L.append("\n![achieved rate vs collector CPU](%s)\n" % os.path.basename(png))
    return "\n".join(L) + "\n"


def main():
    # SIGTERM (pkill, a CI timeout) unwinds like ^C, so the finally blocks reap the targets and
    # the busy-setting burners instead of leaving them spinning.
    signal.signal(signal.SIGTERM, lambda signo, _frame: sys.exit(128 + signo))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pyprof", default=os.path.join(ROOT, "build", "collector", "pyprof"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--phases", default="rate,slow,cg")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--tag", default="")
    ap.add_argument("--repeats", type=int)
    ap.add_argument("--secs", type=float)
    ap.add_argument("--pairs", type=int)
    ap.add_argument("--window", type=float)
    ap.add_argument("--settle", type=float, default=0.3)
    ap.add_argument("--versions", help="comma list of interpreter names to keep (e.g. 3.9.18,3.12.1)")
    ap.add_argument("--from-json", help="re-render the .md/.png of an earlier run from its .json")
    args = ap.parse_args()
    if args.from_json:
        d = json.load(open(args.from_json))
        a = argparse.Namespace(**d["args"])
        base = args.from_json[:-len(".json")]
        rate = d["rate_summary"]
        png = write_plot(rate, base)
        md = report(a, d["machine"], d["interpreters"], rate, d["slowdown"], d["callgrind"], base,
                    d.get("elapsed_s", 0), png)
        open(base + ".md", "w").write(md)
        print(md)
        return 0
    args.pyprof = os.path.abspath(args.pyprof)
    args.repeats = args.repeats or (2 if args.quick else 3)
    args.secs = args.secs or (2.0 if args.quick else 3.0)
    args.pairs = args.pairs or 20
    args.window = args.window or (0.5 if args.quick else 0.75)
    rnd = random.Random(args.seed)
    random.seed(args.seed)
    interps = find_interps(args.quick)
    if args.versions:
        keep = set(args.versions.split(","))
        interps = [i for i in interps if i["name"] in keep]
    names = [i["name"] for i in interps]
    args.slow_versions = set(names) if not args.quick else set(names)
    args.cg_versions = set(names)
    log("interpreters: %s" % ", ".join(names))
    mach = machine()
    phases = set(args.phases.split(","))
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="pyprof-bench-")
    runs, slow, cg = [], [], []
    try:
        if "rate" in phases:
            phase_rate(args, interps, workdir, rnd, runs)
        if "slow" in phases:
            phase_slow(args, interps, workdir, rnd, slow)
        if "cg" in phases and shutil.which("valgrind"):
            phase_cg(args, interps, workdir, cg)
    except KeyboardInterrupt:
        log("interrupted: reporting what was measured")
    finally:
        cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    mach["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    rate = summarize_rate(runs)
    os.makedirs(args.out_dir, exist_ok=True)
    base = os.path.join(args.out_dir, "%s-%s%s%s" % (datetime.date.today().isoformat(), mach["host"],
                                                    "-quick" if args.quick else "", args.tag and "-" + args.tag))
    png = write_plot(rate, base)
    md = report(args, mach, interps, rate, slow, cg, base, time.monotonic() - t0, png)
    with open(base + ".md", "w") as f:
        f.write(md)
    with open(base + ".json", "w") as f:
        json.dump({"machine": mach, "args": {k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(args).items()},
                   "interpreters": interps, "rate_summary": rate, "rate_runs": runs, "slowdown": slow,
                   "callgrind": cg, "elapsed_s": time.monotonic() - t0}, f, indent=1, default=str)
    print(md)
    log("wrote %s.md, .json%s" % (base, ", .png" if png else ""))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        cleanup()
