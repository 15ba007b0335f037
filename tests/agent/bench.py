#!/usr/bin/env python3
"""Agent benchmark: `pyprof agent` at 100 Hz on a busy 20-thread target with 10 s windows.

Usage: python3 tests/agent/bench.py --pyprof PATH [--seconds 40] [--threads 20]

Prints agent CPU (% of one core, from /proc/PID/stat over whole windows), peak RSS, and the
upload size per 10 s window, against the issue's budget (<= 1% CPU, <= 20 MB, <= 20 KB).
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def rss_kb(pid, key="VmHWM"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyprof", required=True)
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--threads", type=int, default=20)
    args = ap.parse_args()
    run.PYPROF = os.path.abspath(args.pyprof)
    run.TMP = tempfile.mkdtemp(prefix="pyprof-agent-bench-")
    hz = os.sysconf("SC_CLK_TCK")
    srv = run.FakeServer()
    try:
        tgt = run.busy_target(threads=args.threads)
        ag = run.Agent(["--server", srv.url, "--app", "bench", "--pid", str(tgt.pid)])
        time.sleep(2)
        c0, t0 = cpu_ticks(ag.p.pid), time.time()
        time.sleep(args.seconds)
        c1, t1 = cpu_ticks(ag.p.pid), time.time()
        st = ag.status()
        peak = rss_kb(ag.p.pid)
        ag.stop()
    finally:
        srv.close()
        run.kill_all()
    cpu = 100.0 * (c1 - c0) / hz / (t1 - t0)
    full = [r for r in srv.ok() if r.until - r.frm == 10]
    sizes = sorted(len(r.body) for r in full)
    samples = [sum(run.folded(r.body).values()) for r in full]
    print("agent benchmark: %d busy threads, 100 Hz, 10 s windows, %.0f s measured"
          % (args.threads, t1 - t0))
    print("  agent CPU      %.2f%% of one core (budget 1%%)" % cpu)
    print("  agent RSS      %.1f MB peak (budget 20 MB)" % (peak / 1024.0))
    if sizes:
        print("  upload size    %.1f KB median, %.1f KB max per 10 s window (budget 20 KB)"
              % (sizes[len(sizes) // 2] / 1024.0, sizes[-1] / 1024.0))
        print("  thread samples %s per window (~%d expected)" % (samples, args.threads * 1000))
    print("  achieved rate  %s Hz; status: sent=%s spooled=%s" % (st.get("achieved_hz"),
                                                                  st.get("sent"),
                                                                  st.get("spooled")))


if __name__ == "__main__":
    main()
