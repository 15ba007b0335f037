"""Entry script for the package test: run.py places it next to pkg/sub/mod.py (pkgmod.py)."""
import sys

from pkg.sub import mod

if __name__ == "__main__":
    mod.work(sys.argv[1])  # L:main
