"""Reading the folded test inputs, shared by the format checkers (check_*.py)."""
import collections
import re

THREAD_RE = re.compile(r'^thread \((\d+)(?: "(.*)")?\)$', re.S)
RATE_RE = re.compile(r'^#.*?\brate(?:_hz)?\s*[:=]?\s*([0-9]+(?:\.[0-9]+)?)', re.I)


def read_folded(path):
    """-> ({(tid, name): {stack: count}}, rate or None). Thread (0, '') when there is no root."""
    threads = collections.defaultdict(collections.Counter)
    rate = None
    with open(path, encoding='utf-8', errors='surrogateescape') as f:
        for line in f:
            line = line.rstrip('\n')
            if not line.strip():
                continue
            if line.startswith('#'):
                m = RATE_RE.match(line)
                if m:
                    rate = float(m.group(1))
                continue
            stack, _, count = line.rpartition(' ')
            frames = stack.split(';')
            key = (0, '')
            m = THREAD_RE.match(frames[0])
            if m:
                key = (int(m.group(1)), m.group(2) or '')
                frames = frames[1:]
            if int(count):
                threads[key][';'.join(frames)] += int(count)
    return threads, rate
