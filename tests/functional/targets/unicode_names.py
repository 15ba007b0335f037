# -*- coding: utf-8 -*-
"""Non-ASCII identifiers: Latin-1 (größe), CJK (计算) and beyond the BMP (𠀀数).

run.py copies this file to a non-ASCII file name before running it.
"""
import sys

from _ready import signal_ready


def größe(ready):  # F:grosse
    计算(ready)  # L:grosse


def 计算(ready):  # F:cjk
    Ñandú().método(ready)  # L:cjk


class Ñandú:
    def método(self, ready):  # F:metodo
        𠀀数(ready)  # L:metodo


def 𠀀数(ready):  # F:astral
    signal_ready(ready)
    while True: pass  # L:astral


if __name__ == "__main__":
    größe(sys.argv[1])  # L:main
