"""The process tools/memimage-record.sh records: two threads parked on known lines.

Runs on CPython 3.8-3.13. Writes its PID to the file named by argv[1] once both threads are
parked, then blocks until killed. The stacks a walk of it must show (tests/unit/test-walkimage.c
checks them, with lines) are marked "# L:" below:
  main thread:   <module> -> main -> Parker.park -> nested -> time.sleep
  worker thread: (threading bootstrap) -> worker -> Parker.park -> nested -> time.sleep
"""
import os
import sys
import threading
import time


class Parker:
    def park(self, depth):
        return self.nested(depth)  # L:park

    def nested(self, depth):
        if depth > 0:
            return self.nested(depth - 1)  # L:nested_recurse
        while True:
            time.sleep(1000)  # L:sleep


def worker(started):
    started.set()
    Parker().park(1)  # L:worker


def main(ready_path):
    started = threading.Event()
    t = threading.Thread(target=worker, args=(started,), name="parked-worker", daemon=True)
    t.start()
    started.wait()
    time.sleep(0.2)  # let the worker reach its sleep
    tmp = ready_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.rename(tmp, ready_path)
    Parker().park(2)  # L:main


if __name__ == "__main__":
    main(sys.argv[1])  # L:module
