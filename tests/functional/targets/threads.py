"""N threads (argv[2]); thread i recurses to depth i, then spins. The main thread spins too.

The ready report holds, per thread, its kernel thread id and the frame chain Python sees; the
target is ready once the flag file it names holds 1. Threads wait for "go" before spinning so
that starting them does not fight spinners for the GIL.
"""
import mmap
import sys
import threading
import time

from _ready import capture, signal_ready

lock = threading.Lock()
go = threading.Event()
reports = {}
spinning = []


def rec(n, i):  # F:rec
    if n > 0:
        rec(n - 1, i)  # L:rec
    else:
        spin(i)  # L:rec_spin


def spin(i):  # F:spin
    frames = capture(sys._getframe())
    with lock:
        reports[i] = {"tid": threading.get_native_id(), "frames": frames}
    go.wait()
    while True: spinning[i] = 1  # L:spin


def worker(i):  # F:worker
    rec(i, i)  # L:worker


def wait_until(cond):
    while not cond():
        time.sleep(0.002)


def main(ready, n):  # F:main
    spinning.extend([0] * n)  # each thread's spin line sets its entry
    for i in range(n):
        threading.Thread(target=worker, args=(i,), name="w%d" % i, daemon=True).start()
    wait_until(lambda: len(reports) == n)
    # Readiness is a byte in a shared mapping that the spin line itself sets: any system call
    # after the threads spin (writing a file) would leave this thread waiting for the GIL
    # on another line, behind 50 spinners, for a long while.
    flag_path = ready + ".flag"
    with open(flag_path, "wb") as f:
        f.write(b"\0")
    with open(flag_path, "r+b") as f:
        flag = mmap.mmap(f.fileno(), 1)
    signal_ready(ready, flag=flag_path, main_tid=threading.get_native_id(),
                 threads=[reports[i] for i in range(n)])
    # A short switch interval lets every thread get the GIL soon after go.
    sys.setswitchinterval(0.0002)
    go.set()
    wait_until(lambda: all(spinning))
    while True: flag[0] = 1  # L:main_spin


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))  # L:main
