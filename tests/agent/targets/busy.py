"""A busy target: N threads (argv[1], default 1) spinning in leaf_work(); writes argv[2] when up."""
import sys
import threading


def leaf_work():
    x = 0
    for i in range(1000):
        x += i
    return x


def outer_loop():
    while True:
        leaf_work()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    for _ in range(n - 1):
        threading.Thread(target=outer_loop, daemon=True).start()
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            f.write("ready\n")
    outer_loop()


main()
