#!/usr/bin/env python3
"""Benchmark target with a fixed stack shape; counts its own work units.

usage: work.py COUNTER_FILE [--threads N] [--depth NEST] [--fib N] [--seconds S]

One work unit = nest(NEST) -> fib(FIB).  Default NEST=10, FIB=20: maximum depth is
<module> + main + worker + 11 nest + 20 fib, about 33 frames.  The deep variant uses
--depth 480 --fib 16 (about 500 frames); the threaded one --threads 100.
Every finished unit increments a 64-bit counter at offset 0 of COUNTER_FILE (an mmap,
so the bench reads the work done at any instant without talking to the target); offset
8 holds the number of worker threads that have started.  Runs until killed, or for
--seconds S.
"""
import argparse
import mmap
import os
import struct
import sys
import threading
import time


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def nest(d, n):
    if d:
        return nest(d - 1, n)
    return fib(n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("counter")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--fib", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=0)
    a = ap.parse_args()
    sys.setrecursionlimit(max(1000, a.depth + 200))
    with open(a.counter, "wb") as f:
        f.write(b"\0" * 4096)
    fd = os.open(a.counter, os.O_RDWR)
    mm = mmap.mmap(fd, 4096)
    lock = threading.Lock()
    state = {"units": 0, "started": 0}
    deadline = time.monotonic() + a.seconds if a.seconds else None

    def worker():
        with lock:
            state["started"] += 1
            struct.pack_into("<Q", mm, 8, state["started"])
        while deadline is None or time.monotonic() < deadline:
            nest(a.depth, a.fib)
            with lock:
                state["units"] += 1
                struct.pack_into("<Q", mm, 0, state["units"])

    if a.threads == 1:
        worker()
    else:
        ts = [threading.Thread(target=worker, daemon=True) for _ in range(a.threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


if __name__ == "__main__":
    main()
