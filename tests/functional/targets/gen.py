"""A generator chain (yield from, a generator expression) driven by a for loop."""
import sys

from _ready import signal_ready


def inner_gen(ready):  # F:inner_gen
    yield 0
    signal_ready(ready)
    while True: pass  # L:inner_gen


def outer_gen(ready):  # F:outer_gen
    yield from inner_gen(ready)  # L:outer_gen


def consume(ready):  # F:consume
    items = (x for x in outer_gen(ready))  # L:genexpr F:genexpr
    for _ in items:  # L:consume
        pass


if __name__ == "__main__":
    consume(sys.argv[1])  # L:main
