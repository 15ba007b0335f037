"""Copied by run.py to pkg/sub/mod.py (pkg and pkg/sub have __init__.py)."""
from _ready import signal_ready


class Worker:
    def run(self, ready):  # F:run
        signal_ready(ready)
        while True: pass  # L:run


def work(ready):  # F:work
    Worker().run(ready)  # L:work
