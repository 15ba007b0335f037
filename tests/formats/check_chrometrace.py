#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_chrometrace: pyprof's Trace Event Format output against the format's rules and the input.

For each tests/golden/formats/CASE.folded:
  convert  `pyprof convert CASE.folded -o WORK/CASE.trace.json -f chrometrace` succeeds;
  events   {"traceEvents": [...], "displayTimeUnit": "ms"}; every event has ph/pid/tid (and name
           and ts where the format needs them); "M" process_name and one thread_name per tid;
           per (pid, tid): every "B" closed by an "E", never an "E" without a "B", timestamps
           non-decreasing in file order;
  totals   per thread, the root slices last count * period in all (period = 1 / rate; 100 Hz
           unless the input has a "# rate: N" comment or --rate is given), and a round trip: the
           time each open stack lasts, rendered back to folded text, is the input's count *
           period for that stack; thread names are the input's;
  golden   the output, with the process name (it echoes the command line) set to "pyprof", equals
           tests/golden/chrometrace/CASE.json byte for byte (--update-golden rewrites).

Prints `PASS name`, `FAIL name: why` or `SKIP name: why`; exits 1 if anything failed. Python 3
standard library only.
"""
import argparse
import collections
import json
import math
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
INPUTS = os.path.join(SRCDIR, 'tests', 'golden', 'formats')
GOLDEN = os.path.join(SRCDIR, 'tests', 'golden', 'chrometrace')

failures = 0


def report(status, name, why=None):
    global failures
    if status == 'FAIL':
        failures += 1
    print(f'{status} chrometrace/{name}' + (f': {why}' if why else ''), flush=True)


# === The input ===============================================================

from folded_input import read_folded  # shared with the other checkers


def period_us(rate):
    """As pp_meta_period_ns(), in microseconds."""
    return int(1e9 / rate + 0.5) / 1000.0


# === Checks ==================================================================

def render(ev):
    """A "B" event back to folded frame text: "name (file:line)", "name (file)" or "name"."""
    args = ev.get('args') or {}
    if args.get('file'):
        if args.get('line'):
            return f"{ev['name']} ({args['file']}:{args['line']})"
        return f"{ev['name']} ({args['file']})"
    return ev['name']


def check_events(doc):
    """Structure, balance, nesting and order. -> (problems, {tid: [events]}, {tid: name})."""
    bad = []
    if not isinstance(doc, dict) or not isinstance(doc.get('traceEvents'), list):
        return ['no traceEvents list'], {}, {}
    if doc.get('displayTimeUnit') != 'ms':
        bad.append(f'displayTimeUnit is {doc.get("displayTimeUnit")!r}')
    per_tid = collections.defaultdict(list)
    names = {}
    pids = set()
    process_named = False
    for i, ev in enumerate(doc['traceEvents']):
        ph = ev.get('ph')
        if not isinstance(ev.get('pid'), int) or not isinstance(ev.get('tid'), int):
            bad.append(f'event {i}: pid/tid missing or not integers')
            continue
        pids.add(ev['pid'])
        if ph == 'M':
            if ev.get('name') == 'process_name':
                process_named = isinstance(ev.get('args', {}).get('name'), str)
            elif ev.get('name') == 'thread_name':
                if ev['tid'] in names:
                    bad.append(f'tid {ev["tid"]}: two thread_name events')
                names[ev['tid']] = ev.get('args', {}).get('name')
            continue
        if ph not in ('B', 'E'):
            bad.append(f'event {i}: unexpected ph {ph!r}')
            continue
        if not isinstance(ev.get('ts'), (int, float)) or ev['ts'] < 0:
            bad.append(f'event {i}: ts {ev.get("ts")!r}')
            continue
        if ph == 'B' and not isinstance(ev.get('name'), str):
            bad.append(f'event {i}: a B event without a name')
            continue
        per_tid[ev['tid']].append(ev)
    if not process_named:
        bad.append('no process_name metadata')
    if len(pids) > 1:
        bad.append(f'several pids: {sorted(pids)}')
    for tid, evs in per_tid.items():
        if tid not in names:
            bad.append(f'tid {tid}: no thread_name metadata')
        open_ = []
        last = -math.inf
        for ev in evs:
            if ev['ts'] < last:
                bad.append(f'tid {tid}: ts {ev["ts"]} after {last}')
                break
            last = ev['ts']
            if ev['ph'] == 'B':
                open_.append(ev)
            elif not open_:
                bad.append(f'tid {tid}: E at {ev["ts"]} without a B')
                break
            else:
                b = open_.pop()
                if 'name' in ev and ev['name'] != b['name']:
                    bad.append(f'tid {tid}: E {ev["name"]!r} closes B {b["name"]!r}')
                    break
        else:
            if open_:
                bad.append(f'tid {tid}: {len(open_)} B events never closed')
    return bad, per_tid, names


def stack_times(evs):
    """-> ({folded stack: microseconds it was the open stack}, microseconds in root slices)."""
    times = collections.defaultdict(float)
    open_ = []
    root = 0.0
    prev = None
    for ev in evs:
        if prev is not None and open_ and ev['ts'] > prev:
            times[';'.join(render(b) for b in open_)] += ev['ts'] - prev
        prev = ev['ts']
        if ev['ph'] == 'B':
            if not open_:
                root_start = ev['ts']
            open_.append(ev)
        else:
            open_.pop()
            if not open_:
                root += ev['ts'] - root_start
    return times, root


def check_totals(per_tid, names, threads, rate):
    bad = []
    per = period_us(rate)
    by_tid = {}
    for (tid, name), stacks in threads.items():
        if tid in by_tid:
            bad.append(f'input: tid {tid} has two names; cannot map it to one track')
        by_tid[tid] = (name, stacks)
    for tid in set(per_tid) | set(by_tid):
        if tid not in by_tid:
            bad.append(f'tid {tid}: not in the input')
            continue
        name, want = by_tid[tid]
        want_name = name or ('all' if len(by_tid) == 1 and tid == 0 else f'Thread {tid}')
        if names.get(tid) != want_name:
            bad.append(f'tid {tid}: thread_name {names.get(tid)!r}, want {want_name!r}')
        times, root = stack_times(per_tid.get(tid, []))
        want_total = sum(want.values()) * per
        if not math.isclose(root, want_total, rel_tol=1e-9, abs_tol=1e-3):
            bad.append(f'tid {tid}: root slices last {root} us, want {want_total} us '
                       f'({sum(want.values())} samples at {rate:g} Hz)')
        for stack in set(times) | set(want):
            got_t, want_t = times.get(stack, 0.0), want.get(stack, 0) * per
            if not math.isclose(got_t, want_t, rel_tol=1e-9, abs_tol=1e-3):
                bad.append(f'tid {tid}: stack {stack[:80]!r} lasts {got_t} us, want {want_t} us')
                break
    return bad


# === Golden files ============================================================

PROCESS_RE = re.compile(r'^(\{"ph":"M","name":"process_name",.*?"args":\{"name":)'
                        r'"(?:[^"\\]|\\.)*"\}\}', re.M)


def normalize(text):
    """The output with the process name, which echoes the command line, set to "pyprof"."""
    return PROCESS_RE.sub(r'\1"pyprof"}}', text, count=1)


# === Main ====================================================================

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--pyprof', required=True, help='the pyprof executable')
    ap.add_argument('--work', required=True, help='scratch directory (created)')
    ap.add_argument('--rate', type=float, default=100.0,
                    help='rate convert assumes for inputs without a rate comment (default 100)')
    ap.add_argument('--update-golden', action='store_true',
                    help='rewrite tests/golden/chrometrace/* from this output')
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)

    cases = sorted(f[:-len('.folded')] for f in os.listdir(INPUTS) if f.endswith('.folded'))
    if not cases:
        report('FAIL', 'inputs', f'no *.folded in {INPUTS}')
        return 1
    for case in cases:
        src = os.path.join(INPUTS, case + '.folded')
        out = os.path.join(args.work, case + '.trace.json')
        if os.path.exists(out):
            os.unlink(out)
        try:
            p = subprocess.run([args.pyprof, 'convert', src, '-o', out, '-f', 'chrometrace'],
                               capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            report('FAIL', f'{case}/convert', str(e))
            continue
        if p.returncode != 0 or not os.path.exists(out):
            report('FAIL', f'{case}/convert',
                   f'exit {p.returncode}: {(p.stderr or p.stdout).strip()[:300]}')
            continue
        report('PASS', f'{case}/convert')

        with open(out, 'rb') as f:
            raw = f.read()
        try:
            text = raw.decode('utf-8')
            doc = json.loads(text)
        except (UnicodeDecodeError, ValueError) as e:
            report('FAIL', f'{case}/events', f'not UTF-8 JSON: {e}')
            continue
        bad, per_tid, names = check_events(doc)
        report('FAIL' if bad else 'PASS', f'{case}/events', '; '.join(bad[:5]) or None)
        if not bad:
            threads, rate = read_folded(src)
            bad = check_totals(per_tid, names, threads, rate or args.rate)
            report('FAIL' if bad else 'PASS', f'{case}/totals', '; '.join(bad[:5]) or None)

        golden = os.path.join(GOLDEN, case + '.json')
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
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
