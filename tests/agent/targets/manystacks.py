"""Many distinct stacks: 400 generated functions called in random order (for --max-stacks)."""
import random

src = "\n".join(
    "def f%d(n):\n    x = 0\n    for i in range(200):\n        x += i\n    return x\n" % i
    for i in range(400))
ns = {}
exec(compile(src, "gen.py", "exec"), ns)
funcs = [ns["f%d" % i] for i in range(400)]
while True:
    random.choice(funcs)(1)
