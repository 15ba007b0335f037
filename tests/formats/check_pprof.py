#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_pprof: pyprof's pprof output, checked by Go's pprof tools (offline; stdlib only).

For each tests/golden/formats/*.folded:
  convert    pyprof convert IN -o WORK/NAME.pb.gz -f pprof succeeds
  raw        `go tool pprof -raw` lists exactly the input's stacks: the multiset of
             (thread, [frame "name file:line", root first], count) equals the folded file's,
             with threads from the thread_id / thread_name labels, and every sample's
             values are [n, n * Period]
  top        `go tool pprof -top` succeeds and accounts for the input's total
  validate   tests/formats/pprof-validate -pyprof (profile.Parse + CheckValid + the shape
             include/pyprof/pprof.h promises)
  roundtrip  pyprof convert NAME.pb.gz -o NAME.folded -f folded (-t when the input has thread
             roots) gives back the input's lines (sorted)
Plus: the validator accepts the Go-written fixture and rejects a truncated profile, and
pyprof convert rejects a truncated profile cleanly.

Prints PASS name / FAIL name: why / SKIP name: why; exits 1 if anything failed. The Go checks
are skipped when `go` or Debian's golang-github-google-pprof-dev is missing.

Usage: check_pprof.py --pyprof PATH --work DIR
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SRCDIR = Path(__file__).resolve().parents[2]
GOLDEN = SRCDIR / "tests" / "golden" / "formats"
FIXTURE = SRCDIR / "tests" / "golden" / "pprof" / "go-foreign.pb.gz"
VALIDATOR_SRC = SRCDIR / "tests" / "formats" / "pprof-validate"
GOCODE = Path("/usr/share/gocode")
PPROF_PKG = GOCODE / "src" / "github.com" / "google" / "pprof" / "profile"

failures = 0


def report(status, name, why=""):
    global failures
    if status == "FAIL":
        failures += 1
    print(f"{status} {name}" + (f": {why}" if why else ""), flush=True)


def run(cmd, env=None, timeout=120, cwd=None):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                          timeout=timeout, cwd=cwd)


def short(b, n=300):
    s = b.decode("utf-8", "replace").strip()
    return s if len(s) <= n else s[:n] + "..."


# === Folded input ============================================================

THREAD_RE = re.compile(r'^thread \((\d+)(?: "(.*)")?\)$', re.S)


def parse_frame(s):
    """Mirror of pp_folded_read(): 'name (file:line)' / 'name (file)' / 'name'."""
    name, file, line = s, "", 0
    if len(s) >= 4 and s.endswith(")"):
        i = s.rfind(" (", 0, len(s) - 1)
        if i >= 0:
            name, inner = s[:i], s[i + 2:-1]
            file = inner
            c = inner.rfind(":")
            if c >= 0 and inner[c + 1:].isdigit() and inner[c + 1:].isascii() \
                    and int(inner[c + 1:]) <= 0xFFFFFFFF:
                file, line = inner[:c], int(inner[c + 1:])
    return name, file, line


def folded_lines(path):
    out = []
    for raw in path.read_bytes().split(b"\n"):
        raw = raw.rstrip(b"\r")
        if raw and not raw.startswith(b"#"):
            out.append(raw)
    return out


def folded_stacks(path):
    """Counter of (thread or None, tuple of 'name file:line') -> count; and has-thread-roots."""
    c = collections.Counter()
    any_thread = False
    for raw in folded_lines(path):
        text = raw.decode("utf-8")
        stack, _, count = text.rpartition(" ")
        frames = [f for f in stack.split(";") if f]
        thread = None
        if frames:
            m = THREAD_RE.match(frames[0])
            if m:
                thread = (int(m.group(1)), m.group(2) or "")
                frames = frames[1:]
                any_thread = True
        key = tuple("%s %s:%d" % parse_frame(f) for f in frames)
        c[(thread, key)] += int(count)
    return c, any_thread


# === go tool pprof -raw ======================================================

SAMPLE_RE = re.compile(r"^((?:\s+-?\d+)+): ((?:\d+ )*)$")
LOC_RE = re.compile(r"^\s*(\d+): (0x[0-9a-f]+) (?:M=\d+ )?(?:\[F\] )?(.*)$")
LINE_RE = re.compile(r"^(.*):(-?\d+) s=-?\d+(?:\(.*\))?$", re.S)


def parse_raw(text):
    """-> (period, [(values, [location ids], {label: value})], {loc id: ['name file:line']})."""
    period = None
    samples, locs = [], {}
    section = None
    cur_loc = None
    lines = text.split("\n")
    for i, ln in enumerate(lines):
        if ln.startswith("Period:"):
            period = int(ln.split(":", 1)[1])
            continue
        if ln == "Samples:":
            section = "samples_header"
            continue
        if ln == "Locations":
            section = "locations"
            continue
        if ln.startswith("Mappings"):
            section = "mappings"
            continue
        if section == "samples_header":
            section = "samples"  # the "samples/count cpu/nanoseconds" line
            continue
        if section == "samples":
            m = SAMPLE_RE.match(ln)
            if m:
                values = [int(v) for v in m.group(1).split()]
                ids = [int(v) for v in m.group(2).split()]
                samples.append((values, ids, {}))
            elif ln.strip() and samples:
                body = ln.strip()
                for key in ("thread_name", "thread_id"):
                    if body.startswith(key + ":[") and body.endswith("]"):
                        samples[-1][2][key] = body[len(key) + 2:-1]
                        break
                else:
                    raise ValueError("unexpected sample line: %r" % ln)
        elif section == "locations":
            if not ln.strip():
                continue
            m = LOC_RE.match(ln)
            if m and not ln.startswith(" " * 13):
                cur_loc = int(m.group(1))
                locs[cur_loc] = []
                rest = m.group(3)
            else:
                rest = ln.strip(" ")
            if rest:
                lm = LINE_RE.match(rest)
                if not lm:
                    raise ValueError("unparsed location line: %r" % ln)
                locs[cur_loc].append("%s:%s" % (lm.group(1), lm.group(2)))
    return period, samples, locs


def raw_stacks(text):
    period, samples, locs = parse_raw(text)
    if period is None:
        raise ValueError("no Period line")
    c = collections.Counter()
    for values, ids, labels in samples:
        if len(values) != 2 or values[1] != values[0] * period:
            raise ValueError("sample values %r are not [n, n*%d]" % (values, period))
        frames = []
        for lid in reversed(ids):  # root first
            if lid not in locs:
                raise ValueError("sample refers to unknown location %d" % lid)
            frames.extend(reversed(locs[lid]))  # caller first within a location
        thread = None
        if labels:
            thread = (int(labels.get("thread_id", "0")), labels.get("thread_name", ""))
        c[(thread, tuple(frames))] += values[0]
    return c


def diff_counters(want, got, limit=3):
    msgs = []
    for k in sorted(set(want) | set(got), key=repr):
        if want.get(k, 0) != got.get(k, 0):
            msgs.append("%r: want %d got %d" % (k, want.get(k, 0), got.get(k, 0)))
    return "; ".join(msgs[:limit]) + (" (+%d more)" % (len(msgs) - limit)
                                      if len(msgs) > limit else "")


# === Main ====================================================================

def go_env(work):
    env = dict(os.environ)
    env.update(GO111MODULE="off", GOPROXY="off", GOFLAGS="", GOTOOLCHAIN="local",
               GOPATH="%s:%s" % (work / "gopath", GOCODE), GOCACHE=str(work / "gocache"),
               HOME=os.environ.get("HOME", str(work)), PPROF_TMPDIR=str(work / "pprof-tmp"))
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pyprof", required=True, help="the pyprof executable")
    ap.add_argument("--work", required=True, help="a scratch directory (created)")
    args = ap.parse_args()
    pyprof = os.path.abspath(args.pyprof)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)

    go = shutil.which("go")
    env = go_env(work)
    validator = None
    why_no_validator = None
    if not go:
        why_no_validator = "go not installed (apt-get install golang-go)"
    elif not PPROF_PKG.is_dir():
        why_no_validator = "no %s (apt-get install golang-github-google-pprof-dev)" % PPROF_PKG
    else:
        exe = work / "pprof-validate"
        r = run([go, "build", "-o", str(exe), "."], env=env, timeout=300, cwd=VALIDATOR_SRC)
        if r.returncode == 0:
            validator = str(exe)
            report("PASS", "build-validator")
        else:
            report("FAIL", "build-validator", short(r.stderr))

    cases = sorted(GOLDEN.glob("*.folded"))
    if not cases:
        report("FAIL", "inputs", "no %s/*.folded" % GOLDEN)
    for src in cases:
        name = src.stem
        pb = work / (name + ".pb.gz")
        if pb.exists():
            pb.unlink()
        r = run([pyprof, "convert", str(src), "-o", str(pb), "-f", "pprof"])
        if r.returncode != 0 or not pb.exists():
            report("FAIL", "convert-" + name, "rc %d: %s" % (r.returncode, short(r.stderr)))
            continue
        data = pb.read_bytes()
        if data[:2] != b"\x1f\x8b":
            report("FAIL", "convert-" + name, "output is not gzip")
            continue
        report("PASS", "convert-" + name, "%d bytes" % len(data))
        want, has_threads = folded_stacks(src)

        if not go:
            report("SKIP", "raw-" + name, "go not installed")
            report("SKIP", "top-" + name, "go not installed")
        else:
            r = run([go, "tool", "pprof", "-symbolize=none", "-raw", str(pb)], env=env)
            if r.returncode != 0:
                report("FAIL", "raw-" + name, "rc %d: %s" % (r.returncode, short(r.stderr)))
            else:
                try:
                    got = raw_stacks(r.stdout.decode("utf-8"))
                    if got == want:
                        report("PASS", "raw-" + name, "%d stacks, %d samples" %
                               (len(got), sum(got.values())))
                    else:
                        report("FAIL", "raw-" + name, diff_counters(want, got))
                except ValueError as e:
                    report("FAIL", "raw-" + name, str(e))
            r = run([go, "tool", "pprof", "-symbolize=none", "-top", str(pb)], env=env)
            total_ms = sum(want.values()) * 10  # convert's default rate is 100 Hz
            out = r.stdout.decode("utf-8", "replace")
            m = re.search(r"of (\S+) total", out)
            expect = {"%dms" % total_ms, "%gs" % (total_ms / 1000)}
            if r.returncode != 0:
                report("FAIL", "top-" + name, "rc %d: %s" % (r.returncode, short(r.stderr)))
            elif not m or m.group(1) not in expect:
                report("FAIL", "top-" + name, "want a total of %dms in: %s" %
                       (total_ms, short(r.stdout)))
            else:
                report("PASS", "top-" + name, "total " + m.group(1))

        if validator:
            r = run([validator, "-pyprof", str(pb)])
            if r.returncode == 0:
                report("PASS", "validate-" + name, short(r.stdout).split(": ", 2)[-1])
            else:
                report("FAIL", "validate-" + name, short(r.stdout + r.stderr))
        else:
            report("SKIP", "validate-" + name, why_no_validator)

        back = work / (name + ".back.folded")
        cmd = [pyprof, "convert", str(pb), "-o", str(back), "-f", "folded"]
        if has_threads:
            cmd.append("-t")
        r = run(cmd)
        if r.returncode != 0 or not back.exists():
            report("FAIL", "roundtrip-" + name, "rc %d: %s" % (r.returncode, short(r.stderr)))
        elif sorted(folded_lines(back)) != sorted(folded_lines(src)):
            a, b = set(folded_lines(src)), set(folded_lines(back))
            report("FAIL", "roundtrip-" + name, "missing %r; extra %r" %
                   (sorted(a - b)[:2], sorted(b - a)[:2]))
        else:
            report("PASS", "roundtrip-" + name, "%d lines" % len(folded_lines(src)))

    # The checks have teeth: truncated input is rejected by Go and by pyprof.
    demo = work / "demo.pb.gz"
    if demo.exists():
        cut = work / "truncated.pb.gz"
        cut.write_bytes(demo.read_bytes()[: demo.stat().st_size // 2])
        r = run([pyprof, "convert", str(cut), "-o", str(work / "truncated.folded"),
                 "-f", "folded"])
        if r.returncode <= 0 or not r.stderr:
            report("FAIL", "reject-truncated-pyprof", "rc %d" % r.returncode)
        else:
            report("PASS", "reject-truncated-pyprof", "rc %d" % r.returncode)
        if validator:
            r = run([validator, str(cut)])
            if r.returncode == 0:
                report("FAIL", "reject-truncated-go", "the validator accepted it")
            else:
                report("PASS", "reject-truncated-go")
    if validator:
        r = run([validator, str(FIXTURE)])
        if r.returncode == 0:
            report("PASS", "validate-go-foreign")
        else:
            report("FAIL", "validate-go-foreign", short(r.stdout + r.stderr))
        r = run([validator, "-pyprof", str(FIXTURE)])
        if r.returncode == 0:
            report("FAIL", "strict-rejects-go-foreign", "-pyprof accepted a non-pyprof shape")
        else:
            report("PASS", "strict-rejects-go-foreign")

    print("%s: %d failure(s)" % (Path(__file__).name, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
