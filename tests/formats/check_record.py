#!/usr/bin/env python3
"""Every format straight out of `pyprof record`, read by its third-party reader.

A real CPython (the newest pyenv 3.8-3.13, else /usr/bin/python3) runs a target whose only hot
stack is known; `pyprof record -f FORMAT` samples it for a second in each format. Checks:
flamegraph: xmllint well-formed, the spin frame present; folded: exact hot stack; speedscope:
speedscope's schema (ajv); pprof: `go tool pprof -raw` parses it and its hot stack matches;
chrometrace: JSON with balanced B/E events per thread. Prints PASS/FAIL/SKIP lines.
usage: check_record.py --pyprof PATH --work DIR
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import check_chrometrace  # noqa: E402  (balance checks)
import check_pprof  # noqa: E402  (go environment and -raw parsing)

TARGET = '''import sys
def spin():
    while True: pass
def main():
    open(sys.argv[1], "w").close()
    spin()
main()
'''


def report(status, name, why=""):
    print("%s %s%s" % (status, name, (": " + why) if why else ""), flush=True)


def find_python():
    env = os.environ.get("PYPROF_TEST_PYTHONS", "").split()
    if env:
        return env[-1]
    try:
        out = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True,
                             timeout=20).stdout.split()
        for v in sorted((v for v in out if v.startswith("3.")),
                        key=lambda v: tuple(int(x) for x in v.split(".")), reverse=True):
            minor = int(v.split(".")[1])
            if 8 <= minor <= 13:
                prefix = subprocess.run(["pyenv", "prefix", v], capture_output=True, text=True,
                                        timeout=20).stdout.strip()
                exe = os.path.join(prefix, "bin", "python3")
                if os.access(exe, os.X_OK):
                    return exe
    except (OSError, subprocess.SubprocessError):
        pass
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else None


def record(pyprof, py, work, fmt, out):
    script = work / "spin.py"
    script.write_text(TARGET)
    ready = work / ("ready-" + fmt)
    if ready.exists():
        ready.unlink()
    target = subprocess.Popen([py, str(script), str(ready)])
    try:
        deadline = time.time() + 20
        while not ready.exists() and time.time() < deadline:
            time.sleep(0.01)
        r = subprocess.run([pyprof, "record", "-p", str(target.pid), "-d", "1", "-r", "100",
                            "-f", fmt, "-o", str(out)], capture_output=True, text=True,
                           timeout=60)
        return r
    finally:
        target.kill()
        target.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyprof", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    pyprof = os.path.abspath(args.pyprof)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    py = find_python()
    if not py:
        report("SKIP", "record", "no CPython 3.8-3.13 found")
        return 0
    hot = ["<module> (spin.py:7)", "main (spin.py:6)", "spin (spin.py:3)"]
    failed = False
    outs = {}
    for fmt, ext in (("flamegraph", "svg"), ("folded", "folded"), ("speedscope", "json"),
                     ("pprof", "pb.gz"), ("chrometrace", "trace.json")):
        out = work / ("rec." + ext)
        r = record(pyprof, py, work, fmt, out)
        if r.returncode != 0 or not out.exists() or out.stat().st_size == 0:
            report("FAIL", "record-" + fmt, "rc %d: %s" % (r.returncode, r.stderr[-300:]))
            failed = True
            continue
        outs[fmt] = out
        report("PASS", "record-" + fmt, "%d bytes" % out.stat().st_size)

    if "folded" in outs:
        lines = outs["folded"].read_text().splitlines()
        total = sum(int(l.rsplit(" ", 1)[1]) for l in lines)
        top = max(lines, key=lambda l: int(l.rsplit(" ", 1)[1])) if lines else ""
        if top.rsplit(" ", 1)[0] == ";".join(hot) and 50 <= total <= 110:
            report("PASS", "folded-stack", "%d samples" % total)
        else:
            report("FAIL", "folded-stack", "top %r, %d samples" % (top, total))
            failed = True

    if "flamegraph" in outs:
        text = outs["flamegraph"].read_text()
        if not shutil.which("xmllint"):
            report("SKIP", "flamegraph-xml", "xmllint not installed (libxml2-utils)")
        else:
            r = subprocess.run(["xmllint", "--noout", str(outs["flamegraph"])],
                               capture_output=True, text=True, timeout=60)
            ok = r.returncode == 0
            report("PASS" if ok else "FAIL", "flamegraph-xml", r.stderr[-300:])
            failed |= not ok
        ok = "spin (spin.py:3)" in text
        report("PASS" if ok else "FAIL", "flamegraph-frames")
        failed |= not ok

    if "speedscope" in outs:
        node = shutil.which("node")
        if not node or not (HERE / "node_modules" / "ajv").is_dir():
            report("SKIP", "speedscope-schema", "node or tests/formats/node_modules missing")
        else:
            r = subprocess.run([node, str(HERE / "speedscope-validate.mjs"), "schema",
                                str(outs["speedscope"])], capture_output=True, text=True,
                               timeout=120)
            ok = r.returncode == 0
            report("PASS" if ok else "FAIL", "speedscope-schema", (r.stdout + r.stderr)[-300:])
            failed |= not ok
        doc = json.loads(outs["speedscope"].read_text())
        names = [f["name"] for f in doc["shared"]["frames"]]
        ok = "spin" in names and any(len(p["samples"]) > 0 for p in doc["profiles"])
        report("PASS" if ok else "FAIL", "speedscope-frames", ",".join(names[:5]))
        failed |= not ok

    if "pprof" in outs:
        go = shutil.which("go")
        if not go:
            report("SKIP", "pprof-raw", "go not installed")
        else:
            r = subprocess.run([go, "tool", "pprof", "-symbolize=none", "-raw",
                                str(outs["pprof"])], capture_output=True, text=True,
                               timeout=120, env=check_pprof.go_env(work))
            try:
                stacks = check_pprof.raw_stacks(r.stdout) if r.returncode == 0 else {}
            except ValueError as e:
                stacks = {}
                r.stderr += str(e)
            want = tuple(h.split(" (")[0] for h in hot)
            best = max(stacks.items(), key=lambda kv: kv[1])[0] if stacks else None
            names = tuple(n.split(" ")[0] for n in best[1]) if best else ()
            ok = r.returncode == 0 and names == want
            report("PASS" if ok else "FAIL", "pprof-raw",
                   "rc %d, hot stack %r" % (r.returncode, names))
            failed |= not ok

    if "chrometrace" in outs:
        doc = json.loads(outs["chrometrace"].read_text())
        problems = check_chrometrace.check_events(doc)[0]
        names = {e.get("name") for e in doc.get("traceEvents", [])}
        ok = not problems and "spin" in names
        report("PASS" if ok else "FAIL", "chrometrace-events", "; ".join(problems or [])[:300])
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
