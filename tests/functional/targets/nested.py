"""Nested classes, closures, a lambda and a class defined inside a function."""
import sys

from _ready import signal_ready


class Outer:
    class Inner:
        def method(self, ready):  # F:method
            f = make()
            f(ready)  # L:method


def make():
    def inner(ready):  # F:inner
        factory()().run(ready)  # L:inner
    return inner


def factory():
    class Local:
        def run(self, ready):  # F:run
            signal_ready(ready)
            while True: pass  # L:run_spin
    return Local


main = lambda ready: Outer.Inner().method(ready)  # L:lambda F:lambda

if __name__ == "__main__":
    main(sys.argv[1])  # L:main
