#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_speedscope: pyprof's speedscope output against speedscope's schema, its app, and the input.

For each tests/golden/formats/CASE.folded:
  convert  `pyprof convert CASE.folded -o WORK/CASE.speedscope.json -f speedscope` succeeds;
  content  the checks the schema cannot express: samples/weights lengths, frame indices in range,
           weights > 0, endValue - startValue == sum of weights, and a round trip: every thread's
           samples, rendered back to folded lines, give the input's counts * period (period =
           1 / rate; 100 Hz unless the input has a "# rate: N" comment or --rate is given);
  schema   ajv against speedscope's file-format-schema.json (speedscope-validate.mjs schema);
  app      the file loads in the real speedscope app in headless Chromium, with no error, showing
           the active profile's name and its heaviest frames (speedscope-validate.mjs load);
  golden   the output, without its top-level "name" (it echoes the command line), equals
           tests/golden/speedscope/CASE.speedscope.json byte for byte (--update-golden rewrites).

Prints `PASS name`, `FAIL name: why` or `SKIP name: why`; exits 1 if anything failed. Python 3
standard library only; schema and app checks SKIP without node, node_modules or Chromium.
"""
import argparse
import collections
import json
import math
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
INPUTS = os.path.join(SRCDIR, 'tests', 'golden', 'formats')
GOLDEN = os.path.join(SRCDIR, 'tests', 'golden', 'speedscope')
VALIDATOR = os.path.join(HERE, 'speedscope-validate.mjs')
SCHEMA_URL = 'https://www.speedscope.app/file-format-schema.json'

failures = 0


def report(status, name, why=None):
    global failures
    if status == 'FAIL':
        failures += 1
    print(f'{status} speedscope/{name}' + (f': {why}' if why else ''), flush=True)


# === The input ===============================================================

from folded_input import read_folded  # shared with the other checkers


def period_ns(rate):
    """As pp_meta_period_ns(): 1e9 / rate rounded to whole nanoseconds."""
    return int(1e9 / rate + 0.5)


# === Content checks ==========================================================

def render(frame):
    """A speedscope frame back to folded text: "name (file:line)", "name (file)" or "name"."""
    name = frame['name']
    if frame.get('file'):
        if frame.get('line'):
            return f"{name} ({frame['file']}:{frame['line']})"
        return f"{name} ({frame['file']})"
    return name


def profile_thread(name, n_profiles):
    if name == 'all':
        return (0, '')
    m = re.fullmatch(r'Thread (\d+)(?: "(.*)")?', name, re.S)
    if not m:
        raise ValueError(f'profile name {name!r} is neither "all" nor Thread TID "NAME"')
    return (int(m.group(1)), m.group(2) or '')


def check_content(doc, threads, rate):
    """Returns a list of problems (empty when all is well)."""
    bad = []
    if doc.get('$schema') != SCHEMA_URL:
        bad.append(f'$schema is {doc.get("$schema")!r}')
    if doc.get('exporter') != 'pyprof':
        bad.append(f'exporter is {doc.get("exporter")!r}')
    frames = doc.get('shared', {}).get('frames', [])
    profiles = doc.get('profiles', [])
    keys = [(f.get('name'), f.get('file'), f.get('line')) for f in frames]
    if len(set(keys)) != len(keys):
        bad.append('shared.frames has duplicates')
    for i, f in enumerate(frames):
        if 'file' in f and not f['file']:
            bad.append(f'frame {i}: empty file (should be left out)')
        if 'line' in f and not (isinstance(f['line'], int) and f['line'] > 0):
            bad.append(f'frame {i}: line {f["line"]!r}')
        if any(v is None for v in f.values()):
            bad.append(f'frame {i}: null value')
    api = doc.get('activeProfileIndex', 0)
    if not (isinstance(api, int) and 0 <= api < max(len(profiles), 1)):
        bad.append(f'activeProfileIndex {api!r} out of range')
    per = period_ns(rate) / 1e9
    seen = set()
    for p in profiles:
        pname = p.get('name')
        where = f'profile {pname!r}'
        if p.get('type') != 'sampled' or p.get('unit') != 'seconds':
            bad.append(f'{where}: type {p.get("type")!r}, unit {p.get("unit")!r}')
        samples, weights = p.get('samples', []), p.get('weights', [])
        if len(samples) != len(weights):
            bad.append(f'{where}: {len(samples)} samples but {len(weights)} weights')
            continue
        if any(not isinstance(w, (int, float)) or w <= 0 for w in weights):
            bad.append(f'{where}: a weight is not positive')
        if any(not isinstance(i, int) or not 0 <= i < len(frames) for s in samples for i in s):
            bad.append(f'{where}: a frame index is out of range')
            continue
        total = math.fsum(weights)
        span = p.get('endValue', 0) - p.get('startValue', 0)
        if span < 0 or not math.isclose(span, total, rel_tol=1e-9, abs_tol=1e-9):
            bad.append(f'{where}: endValue - startValue = {span}, sum of weights = {total}')
        try:
            key = profile_thread(pname, len(profiles))
        except ValueError as e:
            bad.append(str(e))
            continue
        if key in seen:
            bad.append(f'{where}: two profiles for one thread')
        seen.add(key)
        want = threads.get(key)
        if want is None:
            bad.append(f'{where}: no such thread in the input ({sorted(threads)})')
            continue
        # Per-thread total: count * period.
        want_total = sum(want.values()) * per
        if not math.isclose(total, want_total, rel_tol=1e-9, abs_tol=1e-9):
            bad.append(f'{where}: total weight {total} s, want {want_total} s '
                       f'({sum(want.values())} samples at {rate:g} Hz)')
        # Round trip: the samples, back as folded stacks, weigh count * period each.
        got = collections.defaultdict(float)
        for s, w in zip(samples, weights):
            got[';'.join(render(frames[i]) for i in s)] += w
        for stack in set(got) | set(want):
            if not math.isclose(got.get(stack, 0.0), want.get(stack, 0) * per,
                                rel_tol=1e-9, abs_tol=1e-9):
                bad.append(f'{where}: stack {stack[:80]!r}: weight {got.get(stack, 0.0)} s, '
                           f'want {want.get(stack, 0)} x {per} s')
                break
    missing = set(threads) - seen
    if missing:
        bad.append(f'threads without a profile: {sorted(missing)}')
    return bad


def app_expectations(doc):
    """The texts the app must show: the active profile's name and its 3 heaviest frames (self)."""
    profiles = doc['profiles']
    if not profiles:
        return []
    p = profiles[doc.get('activeProfileIndex', 0)]
    frames = doc['shared']['frames']
    self_w = collections.Counter()
    for s, w in zip(p['samples'], p['weights']):
        if s:
            self_w[frames[s[-1]]['name']] += w
    return [p['name']] + [n for n, _ in self_w.most_common(3)]


# === Golden files ============================================================

NAME_RE = re.compile(r'^("exporter":"pyprof",)"name":"(?:[^"\\]|\\.)*",', re.M)


def normalize(text):
    """The output without its top-level "name", which echoes the command line."""
    return NAME_RE.sub(r'\1', text, count=1)


# === Main ====================================================================

def run(cmd, timeout=120):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--pyprof', required=True, help='the pyprof executable')
    ap.add_argument('--work', required=True, help='scratch directory (created)')
    ap.add_argument('--rate', type=float, default=100.0,
                    help='rate convert assumes for inputs without a rate comment (default 100)')
    ap.add_argument('--update-golden', action='store_true',
                    help='rewrite tests/golden/speedscope/* from this output')
    ap.add_argument('--no-app', action='store_true', help='skip the Chromium load test')
    ap.add_argument('--screenshots', action='store_true',
                    help='save WORK/CASE.png from the app (sandwich view)')
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)

    cases = sorted(f[:-len('.folded')] for f in os.listdir(INPUTS) if f.endswith('.folded'))
    if not cases:
        report('FAIL', 'inputs', f'no *.folded in {INPUTS}')
        return 1

    node = shutil.which('node')
    have_modules = os.path.isdir(os.path.join(HERE, 'node_modules', 'ajv')) and \
        os.path.isdir(os.path.join(HERE, 'node_modules', 'speedscope'))
    outputs = {}
    docs = {}
    for case in cases:
        src = os.path.join(INPUTS, case + '.folded')
        out = os.path.join(args.work, case + '.speedscope.json')
        if os.path.exists(out):
            os.unlink(out)
        try:
            p = run([args.pyprof, 'convert', src, '-o', out, '-f', 'speedscope'])
        except (OSError, subprocess.TimeoutExpired) as e:
            report('FAIL', f'{case}/convert', str(e))
            continue
        if p.returncode != 0 or not os.path.exists(out):
            report('FAIL', f'{case}/convert',
                   f'exit {p.returncode}: {(p.stderr or p.stdout).strip()[:300]}')
            continue
        report('PASS', f'{case}/convert')
        outputs[case] = out

        with open(out, 'rb') as f:
            raw = f.read()
        try:
            text = raw.decode('utf-8')
            doc = json.loads(text)
        except (UnicodeDecodeError, ValueError) as e:
            report('FAIL', f'{case}/content', f'not UTF-8 JSON: {e}')
            continue
        docs[case] = doc
        threads, rate = read_folded(src)
        bad = check_content(doc, threads, rate or args.rate)
        report('FAIL' if bad else 'PASS', f'{case}/content', '; '.join(bad[:5]) or None)

        golden = os.path.join(GOLDEN, case + '.speedscope.json')
        if args.update_golden:
            os.makedirs(GOLDEN, exist_ok=True)
            with open(golden, 'w', encoding='utf-8', newline='') as f:
                f.write(normalize(text))
            report('PASS', f'{case}/golden', 'updated')
        elif not os.path.exists(golden):
            report('SKIP', f'{case}/golden', f'no {os.path.relpath(golden, SRCDIR)}')
        else:
            with open(golden, encoding='utf-8', newline='') as f:
                want = f.read()
            if normalize(text) == want:
                report('PASS', f'{case}/golden')
            else:
                report('FAIL', f'{case}/golden',
                       f'{out} differs from {os.path.relpath(golden, SRCDIR)} '
                       '(rerun with --update-golden if the change is intended)')

    # Schema: one node process for every file.
    if outputs:
        if not node or not have_modules:
            for case in outputs:
                report('SKIP', f'{case}/schema', 'node or tests/formats/node_modules missing')
        else:
            p = run([node, VALIDATOR, 'schema'] + list(outputs.values()))
            lines = {}
            for line in p.stdout.splitlines():
                status, _, rest = line.partition(' ')
                lines[rest.split(': ')[0]] = (status, rest)
            for case, out in outputs.items():
                status, rest = lines.get(out, ('?', p.stderr.strip()[:300]))
                if status == 'OK':
                    report('PASS', f'{case}/schema')
                else:
                    report('FAIL', f'{case}/schema', rest)

    # The real app.
    for case in docs:
        name = f'{case}/app'
        if args.no_app:
            report('SKIP', name, '--no-app')
            continue
        if not node or not os.path.isdir(os.path.join(HERE, 'node_modules', 'playwright-core')):
            report('SKIP', name, 'node or playwright-core missing')
            continue
        cmd = [node, VALIDATOR, 'load', outputs[case], '--view', 'sandwich']
        for x in app_expectations(docs[case]):
            cmd += ['--expect', x]
        if args.screenshots:
            cmd += ['--screenshot', os.path.join(args.work, case + '.png')]
        try:
            p = run(cmd, timeout=90)
        except subprocess.TimeoutExpired:
            report('FAIL', name, 'Chromium did not finish in 90 s')
            continue
        msg = (p.stdout.strip() or p.stderr.strip()).splitlines()
        msg = msg[-1] if msg else ''
        if p.returncode == 77:
            report('SKIP', name, msg.split(': ', 1)[-1])
        elif p.returncode == 0:
            report('PASS', name)
        else:
            report('FAIL', name, msg[:400])

    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
