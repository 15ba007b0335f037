"""Code objects that die and are replaced by new ones, likely at the same addresses.

Round i compiles a fresh module gen_<i>.py defining f_<i>, spins in f_<i> for argv[3] seconds
and drops it all, so the next round's code objects and names tend to reuse the freed memory.
A profiler that caches code objects by address alone then names f_<i+1> as f_<i>. Every sample
must name f_<N> in gen_<N>.py with the same N. The target exits after argv[2] rounds; the last
round spins four times as long, so that it is surely sampled.
"""
import sys
import time

from _ready import signal_ready

SOURCE = "import time\ndef f_%d(end):\n    while time.monotonic() < end: pass\n"


def run_generated(i, seconds):  # F:run_generated
    namespace = {}
    exec(compile(SOURCE % i, "gen_%d.py" % i, "exec"), namespace)
    namespace["f_%d" % i](time.monotonic() + seconds)  # L:call


def main(ready, rounds, seconds):  # F:main
    signal_ready(ready)
    for i in range(rounds):
        run_generated(i, seconds * (4 if i == rounds - 1 else 1))  # L:loop


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))  # L:main
