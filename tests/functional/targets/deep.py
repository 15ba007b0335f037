"""Recurse to a given depth (argv[2]), then spin on one line.

Markers (# L:name for a current line, # F:name for a definition line) are read by run.py.
"""
import sys

from _ready import signal_ready


def rec(n, ready):  # F:rec
    if n > 1:
        rec(n - 1, ready)  # L:rec
    else:
        spin(ready)  # L:rec_spin


def spin(ready):  # F:spin
    signal_ready(ready)
    while True: pass  # L:spin


if __name__ == "__main__":
    sys.setrecursionlimit(5000)
    rec(int(sys.argv[2]), sys.argv[1])  # L:main
