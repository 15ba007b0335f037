#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate golden data for collector/py/linetable.c (tests/unit/test-linetable.c).

Run once per CPython minor, with that interpreter (stdlib only, Python 3.8+):

    for v in 3.8.18 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0; do
        "$(pyenv prefix $v)/bin/python3" tools/gen-linetable-golden.py tests/golden/linetable
    done

It writes <outdir>/<major>.<minor>.txt from a fixed corpus: the hand-written snippets below, a few
generated sources (big line gaps forwards and backwards, byte spans > 255 on one line, long
functions far apart), and a few stdlib modules compiled from their source. Every code object is
visited, nested ones recursively (depth first, in co_consts order).

File format (text, one record per line, '#' starts a comment line):

    R <version> <name> <firstlineno> <ncode> <table> <lines>

  version      "3.X", the minor that produced the record; its table format follows from it:
               3.8/3.9 co_lnotab, 3.10 co_linetable (PEP 626), 3.11+ location table (PEP 657).
  name         co_qualname (3.11+) or co_name, whitespace replaced by '_'; for messages only.
  firstlineno  co_firstlineno.
  ncode        len(co_code) in bytes (co_code_adaptive has the same length on 3.11+).
  table        the raw table as lowercase hex: co_lnotab on <= 3.9, co_linetable on 3.10+;
               '-' when it is empty.
  lines        the expected line of every byte offset 0, 2, 4, ... ncode - 2, in order, run-length
               encoded as comma-separated items "L" (one offset) or "LxN" (N offsets): ncode / 2
               values in total. 0 means "no line".

Expected lines are what CPython itself reports:
  3.10+     code.co_lines(): the line of the range holding the offset; None (no line) becomes 0.
            The ranges must cover exactly [0, ncode), so an offset of ncode has no line.
  3.8/3.9   dis.findlinestarts(): the line of the last line start at or before the offset, which is
            frame-independent and the same as PyCode_Addr2Line() (the table has no end).
  A line < 1 is written as 0: on 3.11+ the RESUME of module code has line 0.
When ctypes is available, every value is cross-checked against the interpreter's own
PyCode_Addr2Line() and any disagreement is reported on stderr (and makes the exit status 1).
"""

import dis
import importlib.util
import os
import sys

# Stdlib modules compiled from source: varied, and small enough to keep each file near 1 MB.
STDLIB_MODULES = ["textwrap", "json.decoder", "dis", "contextlib", "shlex", "fnmatch", "argparse",
                  "tokenize", "ast", "collections", "string", "functools"]

# Hand-written snippets: (minimum version, source). Leading blank lines are kept on purpose, so
# code objects do not all start on line 1.
SNIPPETS = [
    ((3, 8), '''
import os
x = 1
y = (x +
     2 +
     3)
def f(a, b=2, *args, **kw):
    """doc"""
    s = 0
    for i in range(a):
        if i % 2:
            continue
        elif i > 10:
            break
        s += i
    else:
        s = -1
    while s > 0:
        s -= 1
        if s == 3:
            break
    else:
        pass
    return s
'''),
    ((3, 8), '''


def comprehensions(data):
    a = [x * 2 for x in data if x]
    b = {k: v
         for k, v in data.items()
         if k}
    c = {x
         for x in data}
    d = (x for x in data
         if x > 1)
    e = [[y for y in range(x)]
         for x in data]
    return a, b, c, d, e
'''),
    ((3, 8), '''
def exceptions(p):
    try:
        v = int(p)
    except ValueError as e:
        v = 0
        raise RuntimeError("bad") from e
    except (TypeError,
            KeyError):
        v = -1
    else:
        v += 1
    finally:
        print("done")
    try:
        try:
            return v / 0
        finally:
            v = 2
    except ZeroDivisionError:
        pass
    with open(p) as fh, \\
            open(p) as gh:
        data = fh.read() + gh.read()
    for i in range(3):
        try:
            continue
        finally:
            v += i
    return v
'''),
    ((3, 8), '''
import functools

def deco(arg):
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*a, **k):
            return fn(*a, **k)
        return inner
    return wrap

@deco(
    1)
@deco(2)
def decorated(x):
    return x + 1

class K(object):
    attr = [1,
            2]

    @staticmethod
    def s(): return 1

    @property
    def p(self):
        return (lambda q:
                q + self.attr[0])(3)

    class Inner:
        def m(self):
            def closure():
                nonlocal self
                return self
            return closure
'''),
    ((3, 8), '''
def multiline(a, b, c):
    r = call(a,
             b,
             c)
    s = (a
         if b else
         c)
    t = a[
        b:c
    ]
    u = a.b.c.d(
        x=1,
        y=[2,
           3],
    ).e
    assert a, (
        "message")
    v = {
        "k1": a,
        "k2": b,
        "k3": c,
    }
    w = f"{a}-{b}" \\
        f"{c}"
    z = a < b < c
    del a, b
    global G
    G = lambda: (yield)
    return r, s, t, u, v, w, z
'''),
    ((3, 8), '''
def gen(n):
    yield 1
    yield from range(n)
    x = yield
    return x

async def coro(aw):
    await aw
    async with aw as v:
        pass
    async for i in aw:
        if i:
            break
    return [i async for i in aw]
'''),
    ((3, 8), '''
if True:
    a = 1
else:
    a = 2
try:
    import nonexistent
except ImportError:
    nonexistent = None
for q in range(3): pass
while False: pass
x = [i for i in range(3)]; y = 2; z = 3
'''),
    ((3, 10), '''
def matcher(cmd):
    match cmd:
        case ["go", direction]:
            return direction
        case {"x": x,
              "y": y}:
            return x + y
        case Point(x=0) | Point(y=0):
            return 0
        case int() if cmd > 5:
            return cmd
        case _:
            return None
'''),
    ((3, 11), '''
def groups():
    try:
        raise ExceptionGroup("g", [ValueError(1)])
    except* ValueError as eg:
        handled = eg
    except* TypeError:
        pass
    return handled
'''),
    ((3, 12), '''
type Alias[T] = list[T]
def generic[T](x: T) -> T:
    return x
class Box[T]:
    def get(self) -> T:
        return self.v
'''),
]


def gen_gaps():
    """A function with line gaps of 130, 300 and 5000 lines (forwards and backwards), statements
    whose bytecode spans > 255 bytes on one line, and a long loop body jumping back."""
    names = ", ".join("a%d" % i for i in range(160))
    big = " + ".join("a%d" % i for i in range(160))
    src = ["", "def gaps(%s):" % names]
    src.append("    x = 1")
    src += [""] * 130
    src.append("    y = 2")
    src += [""] * 300
    src.append("    z = [%s]" % names)              # > 255 bytes on one line, after a gap
    src.append("    w = %s" % big)                  # ~ 640 bytes on one line
    src.append("    v = call(x,")                   # a call whose args are far below
    src += [""] * 300
    src.append("             y)")                   # then back up 300 lines for the call
    src.append("    u = call(x,")
    src += [""] * 5000
    src.append("             z)")                   # 5000 lines apart: 3-chunk varint
    src.append("    while x < 10:")                 # a long loop body jumping back
    src.append("        x += 1")
    src += [""] * 200
    src.append("        y += [%s]" % names)
    src += [""] * 140
    src.append("        if x == 5:")
    src.append("            continue")
    src.append("    return (x,")
    src += [""] * 129
    src.append("            y)")
    src.append("")
    return "\n".join(src)


def gen_long_functions():
    """Long functions (> 256 lines, > 256 lines apart), long single lines with columns > 255."""
    src = []
    for f in range(4):
        src += [""] * (300 * f + 7)
        src.append("def long%d(v0):" % f)
        for i in range(1, 280):
            if i % 37 == 0:
                src += [""] * (i % 5)
            src.append("    v%d = v%d + %d" % (i, i - 1, i))
        src.append("    return v279")
    pad = " + ".join("v%d" % i for i in range(80))
    src.append("def wide(%s):" % ", ".join("v%d" % i for i in range(80)))
    src.append("    return call(%s, (%s)," % (pad, pad))
    src.append("                %s)" % pad)
    src.append("")
    return "\n".join(src)


def corpus():
    """Yields (label, source) in a fixed order."""
    for i, (minver, src) in enumerate(SNIPPETS):
        if sys.version_info[:2] >= minver:
            yield "snippet%d" % i, src
    yield "gaps", gen_gaps()
    yield "long", gen_long_functions()
    for mod in STDLIB_MODULES:
        spec = importlib.util.find_spec(mod)
        with open(spec.origin, encoding="utf-8") as fh:
            yield mod, fh.read()


def walk(code):
    yield code
    for c in code.co_consts:
        if hasattr(c, "co_code"):
            yield from walk(c)


def expected_lines(code):
    """The expected line of every even byte offset of code, as CPython reports it."""
    n = len(code.co_code)
    if sys.version_info >= (3, 10):
        out = [None] * (n // 2)
        last_end = 0
        for start, end, line in code.co_lines():
            assert start == last_end and start < end <= n, (code, start, end, n)
            last_end = end
            for a in range(start, end, 2):
                out[a // 2] = 0 if line is None or line < 1 else line
        assert last_end == n, (code, last_end, n)
        return out
    starts = list(dis.findlinestarts(code))
    out = []
    k = -1
    for a in range(0, n, 2):
        while k + 1 < len(starts) and starts[k + 1][0] <= a:
            k += 1
        line = starts[k][1] if k >= 0 else code.co_firstlineno
        out.append(line if line >= 1 else 0)
    return out


def addr2line_oracle():
    try:
        import ctypes
        fn = ctypes.pythonapi.PyCode_Addr2Line
    except (ImportError, AttributeError):
        return None
    fn.argtypes = [ctypes.py_object, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def rle(values):
    items = []
    i = 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i]:
            j += 1
        items.append(str(values[i]) if j - i == 1 else "%dx%d" % (values[i], j - i))
        i = j
    return ",".join(items)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen-linetable-golden.py OUTDIR")
    ver = "%d.%d" % sys.version_info[:2]
    oracle = addr2line_oracle()
    records = []
    n_offsets = n_mismatch = 0
    for label, src in corpus():
        top = compile(src, "<%s>" % label, "exec", dont_inherit=True)
        for code in walk(top):
            table = code.co_lnotab if sys.version_info < (3, 10) else code.co_linetable
            lines = expected_lines(code)
            if oracle is not None:
                for i, want in enumerate(lines):
                    got = oracle(code, 2 * i)
                    got = got if got >= 1 else 0
                    if got != want:
                        n_mismatch += 1
                        if n_mismatch <= 20:
                            print("%s: %s offset %d: expected %d, PyCode_Addr2Line %d"
                                  % (ver, code.co_name, 2 * i, want, got), file=sys.stderr)
            name = getattr(code, "co_qualname", code.co_name)
            name = "".join("_" if ch.isspace() else ch for ch in name) or "_"
            records.append("R %s %s %d %d %s %s" % (ver, name, code.co_firstlineno,
                                                     len(code.co_code), table.hex() or "-",
                                                     rle(lines)))
            n_offsets += len(lines)
    path = os.path.join(sys.argv[1], ver + ".txt")
    with open(path, "w", encoding="ascii", newline="\n") as out:
        out.write("# linetable golden data: generated by tools/gen-linetable-golden.py "
                  "under CPython %s; do not edit.\n" % sys.version.split()[0])
        out.write("# R <version> <name> <firstlineno> <ncode> <table hex|-> "
                  "<lines of offsets 0,2,..: L or LxN, comma-separated>\n")
        for r in records:
            out.write(r + "\n")
    print("%s: %d records, %d offsets, %d PyCode_Addr2Line mismatches%s"
          % (path, len(records), n_offsets, n_mismatch,
             "" if oracle is not None else " (no ctypes: not checked)"))
    return 1 if n_mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
