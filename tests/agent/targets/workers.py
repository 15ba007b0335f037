"""A service with 3 busy worker processes (multiprocessing, fork); writes their pids to argv[1]."""
import multiprocessing
import os
import sys
import time


def worker_leaf():
    x = 0
    for i in range(1000):
        x += i
    return x


def worker_main():
    while True:
        worker_leaf()


def main():
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=worker_main, daemon=True) for _ in range(3)]
    for p in procs:
        p.start()
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(" ".join(str(p.pid) for p in procs) + "\n")
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
