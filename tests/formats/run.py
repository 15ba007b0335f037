#!/usr/bin/env python3
"""Run every tests/formats/check_*.py (third-party readers for pyprof's outputs) and sum them up.

Each checker takes --pyprof PATH --work DIR and prints one line per check:
PASS name / FAIL name: why / SKIP name: why. This prints them all and ends with
"N passed, N failed, N skipped"; the exit status is 1 if anything failed.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyprof", required=True)
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    passed = failed = skipped = 0
    for checker in sorted(glob.glob(os.path.join(here, "check_*.py"))):
        name = os.path.basename(checker)
        with tempfile.TemporaryDirectory(prefix="pyprof-fmt-") as work:
            try:
                p = subprocess.run([sys.executable, checker, "--pyprof", args.pyprof, "--work", work],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=args.timeout, text=True, errors="replace")
                out, rc = p.stdout, p.returncode
            except subprocess.TimeoutExpired as e:
                out, rc = (e.stdout or "") if isinstance(e.stdout, str) else "", -1
                out += "\nFAIL %s: timed out after %.0f s\n" % (name, args.timeout)
        seen = 0
        for line in out.splitlines():
            print(line)
            if line.startswith("PASS "):
                passed += 1
                seen += 1
            elif line.startswith("FAIL "):
                failed += 1
                seen += 1
            elif line.startswith("SKIP "):
                skipped += 1
                seen += 1
        if rc != 0 and not any(l.startswith("FAIL ") for l in out.splitlines()):
            print("FAIL %s: exited %d without reporting a failure" % (name, rc))
            failed += 1
        elif seen == 0:
            print("FAIL %s: reported no checks" % name)
            failed += 1
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
