#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_svg: pyprof's flame graph SVG checked by third-party readers.

For every tests/golden/formats/*.folded: `pyprof convert IN -o DIR/NAME.svg -f flamegraph`
(also with -t for inputs that have thread roots, and --icicle for one), then
  - xmllint --noout: well-formed XML;
  - self-contained: no external reference (href, src, url() other than #fragments, @import);
  - svg-interact.mjs in headless Chromium (playwright-core): the tooltip title, click to zoom
    (clicked frame full width, an ancestor dimmed, a sibling hidden), Reset Zoom, regex search
    with "Matched: X%" equal to the share of samples whose stack has a matching frame (each stack
    counted once, however many of its frames match), the Search button / Ctrl-F prompt and the
    case toggle, and zoom + search restored from the URL hash after a reload.
The expected values are computed here from the folded text. A screenshot of demo goes to
DIR/svg.png. A differential graph (`pyprof diff`) is checked with xmllint too.

Usage: check_svg.py --pyprof PATH --work DIR
Prints PASS name / FAIL name: why / SKIP name: why; exits 1 if anything failed.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden", "formats")
CHROMIUM = "/usr/bin/chromium"

failures = 0


def report(status, name, why=""):
    global failures
    if status == "FAIL":
        failures += 1
    print("%s %s%s" % (status, name, ": " + why if why else ""), flush=True)


def read_folded(path, threads):
    """[(frames, count)], root first, as `pyprof convert` sees them (thread roots only with -t)."""
    stacks = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            text, _, count = line.rpartition(" ")
            frames = text.split(";")
            if frames and re.match(r"thread \(\d+", frames[0]) and not threads:
                frames = frames[1:]
            stacks.append((frames or ["<no frames>"], int(count)))
    return stacks


class Node:
    def __init__(self, label, depth):
        self.label, self.depth, self.count, self.kids, self.x = label, depth, 0, {}, 0

    def sorted_kids(self):
        # pyprof sorts siblings bytewise; code point order of str is the same as UTF-8 byte order.
        return [self.kids[k] for k in sorted(self.kids)]


def build_tree(stacks):
    root = Node("all", 0)
    for frames, count in stacks:
        node = root
        node.count += count
        for fr in frames:
            node = node.kids.setdefault(fr, Node(fr, node.depth + 1))
            node.count += count

    def place(n, x):
        n.x = x
        for k in n.sorted_kids():
            place(k, x)
            x += k.count

    place(root, 0)
    return root


def walk(n, parents=()):
    yield n, parents
    for k in n.sorted_kids():
        yield from walk(k, parents + (n,))


def pct2(part, whole):
    """Percentage with two decimals, rounded half up (as pyprof writes titles)."""
    c = (part * 10000 * 2 + whole) // (2 * whole)
    return "%d.%02d" % (c // 100, c % 100)


def matched(stacks, regex):
    """'Matched: X%' text for @regex: samples of stacks with a matching frame, once per stack."""
    r = re.compile(regex)
    total = sum(c for _, c in stacks)
    if r.search("all"):
        m = total
    else:
        m = sum(c for frames, c in stacks if any(r.search(f) for f in frames))
    t = (2000 * m + total) // (2 * total)
    return "100" if m == total else "%d.%d" % (t // 10, t % 10)


def js_escape(s):
    """A literal for both Python re and JavaScript RegExp."""
    return re.sub(r"([\\^$.|?*+()\[\]{}/])", r"\\\1", s)


def frame_name(label):
    i = label.rfind(" (")
    return label[:i] if i > 0 else label


def spec_for(name, svg, stacks, screenshot):
    root = build_tree(stacks)
    nodes = list(walk(root))
    pick = None
    for want_depth in (2, 1):
        for n, parents in nodes:
            if n.depth >= want_depth and len(parents[-1].kids) >= 2:
                pick = (n, parents)
                break
        if pick:
            break
    if not pick:
        return None
    n, parents = pick
    anc = parents[-2] if len(parents) >= 2 else parents[-1]
    sib = next(k for k in parents[-1].sorted_kids() if k is not n)

    def ref(x):
        return {"label": x.label, "x": x.x, "w": x.count, "depth": x.depth}

    # Searches: the clicked frame's function, and the function nested most deeply in one stack.
    regexes = [js_escape(frame_name(n.label))]
    best, best_n = None, 1
    for frames, _ in stacks:
        names = [frame_name(f) for f in frames]
        for fn in set(names):
            if names.count(fn) > best_n:
                best, best_n = fn, names.count(fn)
    if best and js_escape(best) not in regexes:
        regexes.append(js_escape(best))
    return {
        "name": name, "svg": svg, "screenshot": screenshot, "total": root.count,
        "click": ref(n), "ancestor": ref(anc), "sibling": ref(sib),
        "title": "%s (%s samples, %s%%)" % (n.label, format(n.count, ","), pct2(n.count, root.count)),
        "searches": [{"regex": r, "expect": matched(stacks, r)} for r in regexes],
    }


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", **kw)


def self_contained(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    bad = re.findall(r"(?:href|src)\s*=|url\((?!#)|@import", text)
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pyprof", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)

    xmllint = shutil.which("xmllint")
    node = shutil.which("node")
    playwright = os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core"))
    browser_why = None
    if not node:
        browser_why = "node not found"
    elif not os.access(CHROMIUM, os.X_OK):
        browser_why = CHROMIUM + " not found"
    elif not playwright:
        browser_why = "playwright-core not installed in tests/formats/node_modules (npm ci)"

    cases = []
    for path in sorted(glob.glob(os.path.join(GOLDEN, "*.folded"))):
        base = os.path.splitext(os.path.basename(path))[0]
        cases.append((base, path, []))
        with open(path, encoding="utf-8") as f:
            if f.readline().startswith("thread ("):
                cases.append((base + "-t", path, ["-t"]))
        if base == "small":
            cases.append((base + "-icicle", path, ["--icicle"]))

    for name, path, opts in cases:
        svg = os.path.join(args.work, name + ".svg")
        p = run([args.pyprof, "convert", path, "-o", svg, "-f", "flamegraph"] + opts)
        if p.returncode != 0 or not os.path.exists(svg):
            report("FAIL", "svg-%s-convert" % name, "exit %d: %s" % (p.returncode, p.stdout.strip()))
            continue
        report("PASS", "svg-%s-convert" % name)
        if xmllint:
            p = run([xmllint, "--noout", svg])
            report("PASS" if p.returncode == 0 and not p.stdout.strip() else "FAIL",
                   "svg-%s-xml" % name, p.stdout.strip()[:500])
        else:
            report("SKIP", "svg-%s-xml" % name, "xmllint not found (apt install libxml2-utils)")
        bad = self_contained(svg)
        report("FAIL" if bad else "PASS", "svg-%s-self-contained" % name,
               "external references: %s" % bad if bad else "")
        if browser_why:
            report("SKIP", "svg-%s-interact" % name, browser_why)
            continue
        spec = spec_for(name, os.path.abspath(svg), read_folded(path, "-t" in opts),
                        os.path.abspath(os.path.join(args.work, "svg.png")) if name == "demo"
                        else None)
        if not spec:
            report("SKIP", "svg-%s-interact" % name, "no frame with a sibling to click")
            continue
        spec_path = os.path.join(args.work, name + ".json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(spec, f)
        try:
            p = run([node, os.path.join(HERE, "svg-interact.mjs"), spec_path], cwd=HERE,
                    timeout=180)
        except subprocess.TimeoutExpired:
            report("FAIL", "svg-%s-interact" % name, "timed out")
            continue
        lines = p.stdout.splitlines()
        for line in lines:
            if line.startswith(("PASS ", "FAIL ", "SKIP ")):
                status, _, rest = line.partition(" ")
                check, _, why = rest.partition(": ")
                report(status, check, why)
        if p.returncode != 0 and not any(l.startswith("FAIL ") for l in lines):
            report("FAIL", "svg-%s-interact" % name,
                   "node exited %d: %s" % (p.returncode, p.stdout.strip()[-2000:]))

    # A differential graph: well-formed and self-contained.
    before = os.path.join(GOLDEN, "small.folded")
    after = os.path.join(GOLDEN, "demo.folded")
    svg = os.path.join(args.work, "diff.svg")
    p = run([args.pyprof, "diff", before, after, "-o", svg, "--normalize"])
    if p.returncode != 0:
        report("FAIL", "svg-diff", "exit %d: %s" % (p.returncode, p.stdout.strip()))
    elif xmllint:
        p = run([xmllint, "--noout", svg])
        bad = self_contained(svg)
        report("PASS" if p.returncode == 0 and not bad else "FAIL", "svg-diff",
               (p.stdout.strip()[:500] + " " + str(bad or "")).strip())
    else:
        report("SKIP", "svg-diff", "xmllint not found")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
