"""Readiness signalling shared by the functional-test targets (runs on Python 3.8-3.13).

A target calls signal_ready(path, ...) once every thread is in its steady state. The file is
written atomically (temporary name, then rename), so run.py never reads half a report.
capture(frame) records a frame chain, root first, as Python itself sees it; run.py uses it only
for frames outside the target's own file (threading, asyncio), whose lines vary per version.
"""
import json
import os
import sys


def capture(frame):
    frames = []
    while frame is not None:
        code = frame.f_code
        frames.append([getattr(code, "co_qualname", code.co_name), code.co_filename,
                       frame.f_lineno, code.co_firstlineno])
        frame = frame.f_back
    frames.reverse()
    return frames


def signal_ready(path, **info):
    info.setdefault("pid", os.getpid())
    # pyprof names a thread by its `threading` name when the module is loaded, else by comm.
    info.setdefault("threading", "threading" in sys.modules)
    data = json.dumps(info).encode("utf-8")
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)
