#!/usr/bin/env python3
"""Write a large, deterministic folded-stacks file for render benchmarks.

usage: gen-folded.py OUT [--stacks N] [--seed S]
Stacks look like a Python service: a shared root, a few hundred handlers, then random call
chains 8-14 frames deep (about 70 MB for the default 120,000 stacks) over a vocabulary of 4000 functions in 600 files (user code, stdlib and
site-packages), so that the flame graph has realistic sharing. Every line is distinct.
"""
import argparse
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--stacks", type=int, default=120000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    files = []
    for i in range(600):
        kind = i % 3
        if kind == 0:
            files.append("app/module_%d.py" % i)
        elif kind == 1:
            files.append("json/lib_%d.py" % i)
        else:
            files.append("/venv/lib/python3.12/site-packages/pkg%d/core.py" % i)
    funcs = ["%s.method_%d" % (rnd.choice(["Handler", "Session", "Parser", "Cache"]), i)
             for i in range(4000)]
    frames = ["%s (%s:%d)" % (funcs[i], files[i % 600], 10 + (i * 7) % 900) for i in range(4000)]
    root = "<module> (server.py:120);serve_forever (socketserver.py:232);_handle_request (server.py:88)"
    handlers = [rnd.sample(range(4000), 4) for _ in range(300)]
    seen = set()
    with open(args.out, "w") as out:
        while len(seen) < args.stacks:
            h = rnd.choice(handlers)
            depth = rnd.randint(8, 14)
            chain = h + [rnd.randrange(4000) for _ in range(depth - len(h))]
            key = tuple(chain)
            if key in seen:
                continue
            seen.add(key)
            out.write("%s;%s %d\n" % (root, ";".join(frames[i] for i in chain), rnd.randint(1, 50)))


if __name__ == "__main__":
    main()
