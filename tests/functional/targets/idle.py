"""A thread asleep in time.sleep() beside a main thread spinning on one line."""
import sys
import threading
import time

from _ready import signal_ready


def sleeper():  # F:sleeper
    while True:
        time.sleep(10)  # L:sleep


def main(ready):  # F:main
    threading.Thread(target=sleeper, daemon=True).start()
    time.sleep(0.2)
    signal_ready(ready)
    while True: pass  # L:main_spin


if __name__ == "__main__":
    main(sys.argv[1])  # L:main
