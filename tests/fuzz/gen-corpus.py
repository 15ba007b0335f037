#!/usr/bin/env python3
"""Write the seed corpora of fuzz-multipart, fuzz-speedscope and fuzz-query from the test data.

  python3 tests/fuzz/gen-corpus.py      (rewrites tests/fuzz/corpus/{multipart,speedscope,query})

Sources: the pprof seeds (tests/fuzz/corpus/pprof/, pyprof's own output and a Go profile), the
folded test files (tests/golden/formats/), the speedscope goldens (tests/golden/speedscope/),
the uploads tests/server/run.py makes, and the selectors of tests/fuzz/corpus/labels/.
fuzz-walk's seeds are recorded instead: tools/memimage-record.sh.
"""
import gzip
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def read(*p):
    with open(os.path.join(ROOT, *p), "rb") as f:
        return f.read()


def fresh(name):
    d = os.path.join(CORPUS, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def put(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, mtime=0)


def multipart(boundary, parts):
    out = b""
    for name, filename, body in parts:
        out += b"--" + boundary + b"\r\n"
        out += b'Content-Disposition: form-data; name="' + name + b'"; filename="' + filename
        out += b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + body + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


def gen_multipart():
    d = fresh("multipart")
    cfg = (b"sample_type_config", b"c.json",
           b'{"samples":{"units":"samples","display-name":"cpu"}}')
    ct = b"ct=multipart/form-data; boundary="
    small = read("tests/fuzz/corpus/pprof/small.pb.gz")
    for f in sorted(os.listdir(os.path.join(CORPUS, "pprof"))):
        pb = read("tests/fuzz/corpus/pprof", f)
        b = b"----pyprofboundary%d" % len(pb)
        put(d, "mp-" + f, ct + b + b"\n" + multipart(b, [(b"profile", b"profile.pprof", pb), cfg]))
    b = b"quoted boundary"
    put(d, "mp-quoted", ct + b'"' + b + b'"; charset=utf-8&from=now-1h&until=now\n' +
        multipart(b, [cfg, (b"profile", b"p.pprof", small)]))
    b = b"xyz"
    put(d, "mp-noprofile", ct + b + b"\n" + multipart(b, [cfg]))
    put(d, "mp-gzip", ct + b + b"&enc=gzip\n" + gz(multipart(b, [(b"profile", b"p", small)])))
    put(d, "pprof-raw", b"fmt=pprof&name=app{k=v}\n" + read("tests/fuzz/corpus/pprof/threads.pb"))
    put(d, "pprof-gz", b"fmt=pprof&rate=250\n" + small)
    folded = read("tests/golden/formats/small.folded")
    put(d, "folded", b"from=1699999990&until=1700000000\n" + folded)
    put(d, "folded-gz", b"enc=gzip&from=now-10s\n" + gz(folded))
    lines = b"".join(l.rsplit(b" ", 1)[0] + b"\n" for l in folded.splitlines())
    put(d, "lines", b"fmt=lines&until=20231114\n" + lines)
    put(d, "speedscope",
        b"fmt=speedscope\n" + read("tests/golden/speedscope/small.speedscope.json"))


def gen_speedscope():
    d = fresh("speedscope")
    for f in sorted(os.listdir(os.path.join(ROOT, "tests/golden/speedscope"))):
        put(d, f, read("tests/golden/speedscope", f))
    ev = {"$schema": "https://www.speedscope.app/file-format-schema.json",
          "shared": {"frames": [{"name": "main", "file": "a.py", "line": 3}, {"name": "foo"}]},
          "profiles": [{"type": "evented", "name": "x", "unit": "milliseconds",
                        "startValue": 0, "endValue": 40,
                        "events": [{"type": "O", "frame": 0, "at": 0},
                                   {"type": "O", "frame": 1, "at": 10},
                                   {"type": "C", "frame": 1, "at": 40},
                                   {"type": "C", "frame": 0, "at": 40}]}]}
    put(d, "evented.json", json.dumps(ev).encode())
    ev["profiles"][0]["unit"] = "nanoseconds"
    ev["shared"]["frames"][1]["name"] = "f\u00e9\\u00e9\"\n"
    put(d, "evented-ns.json", json.dumps(ev, ensure_ascii=False).encode())
    put(d, "small.json.gz", gz(read("tests/golden/speedscope/small.speedscope.json")))
    put(d, "noschema.json", b'{"profiles": []}')


def gen_query():
    d = fresh("query")
    sels = ['app.cpu', 'app.cpu{env="prod"}', 'app.cpu{env!="prod",host=~"a|b"}',
            'app.cpu{host!~"b.*"}', 'other.wall{}', 'app.alloc_space']
    for f in sorted(os.listdir(os.path.join(CORPUS, "labels"))):
        sels.append(read("tests/fuzz/corpus/labels", f).split(b"\0")[0].decode("latin-1"))
    times = [("now-1h", "now"), ("now-30m", "now-5m"), ("1699999000", "1700000000"),
             ("1699999000000", "1700000000000"), ("20231114", "now+1d"), ("now-1y", "now"),
             ("1699999000000000", "1700000000000000000")]
    fmts = ["json", "folded", "svg", "speedscope", "pprof", "collapsed"]
    n = 0
    for i, s in enumerate(sels):
        frm, until = times[i % len(times)]
        body = "query=%s\nfrom=%s\nuntil=%s\nformat=%s\n" % (s, frm, until, fmts[i % len(fmts)])
        if i % 3 == 0:
            body += "maxNodes=%d\n" % (i % 4)
        put(d, "render-%d" % n, b"\x00" + body.encode("latin-1"))
        n += 1
    put(d, "render-name", b"\x00name=app.cpu{env=\"dev\"}\nmax-nodes=1\n")
    put(d, "diff-json", b'\x01leftQuery=app.cpu{env="prod"}\nrightQuery=app.cpu{env="dev"}\n'
        b"leftFrom=now-30m\nleftUntil=now\nrightFrom=now-1h\nrightUntil=now-10m\n")
    put(d, "diff-svg", b"\x01leftQuery=app.cpu\nformat=svg\nnormalize=1\n")
    put(d, "labels", b"\x02query=app.cpu")
    put(d, "labels-all", b"\x02")
    put(d, "values", b"\x03label=env\nquery=app.cpu{host=\"a\"}")
    put(d, "values-name", b"\x03label=__name__")


gen_multipart()
gen_speedscope()
gen_query()
