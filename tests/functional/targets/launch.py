"""Spin for argv[2] seconds, then exit by itself. argv[1] is a ready file, or - for none.

Launch-mode tests sample start-up too, so this imports nothing beyond what the interpreter has
loaded already (no json, unlike _ready.py) to keep start-up samples few.
"""
import os
import sys
import time


def signal_ready(path):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, ('{"pid": %d}' % os.getpid()).encode())
    os.close(fd)
    os.replace(tmp, path)


def work(ready, seconds):  # F:work
    end = time.monotonic() + seconds
    if ready != "-":
        signal_ready(ready)
    while time.monotonic() < end: pass  # L:spin


if __name__ == "__main__":
    work(sys.argv[1], float(sys.argv[2]))  # L:main
