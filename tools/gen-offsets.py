#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen-offsets: check struct py_offsets against the real CPython headers.

For every installed pyenv CPython 3.8 .. 3.13 this
  1. compiles a probe against the real headers (Python.h and internal/pycore_*.h, with
     -DPy_BUILD_CORE) that prints, for every field of struct py_offsets, the value the real
     layout implies (offsetof/sizeof, and the PyASCIIObject state bits found by setting them);
  2. compiles collector/py/offsets.c and debugoffsets.c into a tiny program that prints the same
     fields from offsets_for_version() (3.8 .. 3.12) or from debugoffsets_parse() over the
     .PyRuntime section of that Python's libpython (3.13);
  3. diffs the two, field by field.
Every field of struct py_offsets (parsed from offsets.h) must be covered by the real side; the
enum models, which no header states, come from MODELS below. Exits 1 on any mismatch or
uncovered field, 2 when nothing could be checked.

Usage: tools/gen-offsets.py [--print] [--cc gcc]
  --print   also print every value, as used for tests/unit/test-offsets.c
"""

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OFFSETS_H = os.path.join(ROOT, "collector", "py", "offsets.h")
MINORS = range(8, 14)

# Facts no header carries: how frames are linked, what lasti counts, which line table, how an
# instance finds its dict, how an int stores its size.
MODELS = {
    8: ("PY_FRAMES_HEAP", "PY_LASTI_BYTES", "PY_LINES_LNOTAB", "PY_INSTDICT_OFFSET",
        "PY_LONG_OB_SIZE"),
    9: ("PY_FRAMES_HEAP", "PY_LASTI_BYTES", "PY_LINES_LNOTAB", "PY_INSTDICT_OFFSET",
        "PY_LONG_OB_SIZE"),
    10: ("PY_FRAMES_HEAP", "PY_LASTI_UNITS", "PY_LINES_PEP626", "PY_INSTDICT_OFFSET",
         "PY_LONG_OB_SIZE"),
    11: ("PY_FRAMES_CHUNKED", "PY_LASTI_PREV_INSTR", "PY_LINES_PEP657", "PY_INSTDICT_MANAGED",
         "PY_LONG_OB_SIZE"),
    12: ("PY_FRAMES_CHUNKED", "PY_LASTI_PREV_INSTR", "PY_LINES_PEP657", "PY_INSTDICT_TAGGED",
         "PY_LONG_LV_TAG"),
    13: ("PY_FRAMES_CHUNKED", "PY_LASTI_INSTR_PTR", "PY_LINES_PEP657", "PY_INSTDICT_INLINE",
         "PY_LONG_LV_TAG"),
}

REAL_PROBE = r"""
#define Py_BUILD_CORE 1
#include <Python.h>
#include <frameobject.h>
#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_frame.h"
#endif
#include "internal/pycore_pystate.h"
#if PY_VERSION_HEX >= 0x03090000
#include "internal/pycore_interp.h"
#include "internal/pycore_runtime.h"
#endif
#if PY_VERSION_HEX >= 0x030A0000
#include "internal/pycore_moduleobject.h"
#endif
#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_dict.h"
#include "internal/pycore_object.h"
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define P(name, v) printf("%s %lld\n", name, (long long)(v))
#define NONE(name) printf("%s none\n", name)
#define OFF(T, m) offsetof(T, m)
#define END(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))
#define MAX2(a, b) ((a) > (b) ? (a) : (b))

static uint32_t state_word(const PyASCIIObject *a)
{
    uint32_t w;
    memcpy(&w, (const char *)a + offsetof(PyASCIIObject, state), sizeof(w));
    return w;
}

int main(void)
{
    PyASCIIObject a;
    size_t rs;

    P("major", PY_MAJOR_VERSION);
    P("minor", PY_MINOR_VERSION);
    P("runtime_interpreters_head", OFF(_PyRuntimeState, interpreters.head));
    P("interp_next", OFF(PyInterpreterState, next));
#if PY_VERSION_HEX < 0x030B0000
    P("interp_threads_head", OFF(PyInterpreterState, tstate_head));
#else
    P("interp_threads_head", OFF(PyInterpreterState, threads.head));
#endif

    P("tstate_next", OFF(PyThreadState, next));
    P("tstate_interp", OFF(PyThreadState, interp));
    P("tstate_thread_id", OFF(PyThreadState, thread_id));
    rs = MAX2(END(PyThreadState, next), END(PyThreadState, interp));
    rs = MAX2(rs, END(PyThreadState, thread_id));
#if PY_VERSION_HEX < 0x030B0000
    P("tstate_frame", OFF(PyThreadState, frame));
    rs = MAX2(rs, END(PyThreadState, frame));
    NONE("tstate_native_thread_id");
    NONE("tstate_datastack_chunk");
    NONE("cframe_current_frame");
#else
#if PY_VERSION_HEX < 0x030D0000
    P("tstate_frame", OFF(PyThreadState, cframe));
    rs = MAX2(rs, END(PyThreadState, cframe));
    P("cframe_current_frame", OFF(_PyCFrame, current_frame));
#else
    P("tstate_frame", OFF(PyThreadState, current_frame));
    rs = MAX2(rs, END(PyThreadState, current_frame));
    NONE("cframe_current_frame");
#endif
    P("tstate_native_thread_id", OFF(PyThreadState, native_thread_id));
    P("tstate_datastack_chunk", OFF(PyThreadState, datastack_chunk));
    rs = MAX2(rs, END(PyThreadState, native_thread_id));
    rs = MAX2(rs, END(PyThreadState, datastack_chunk));
#endif
    P("tstate_read_size", rs);

#if PY_VERSION_HEX < 0x030B0000
    P("frame_previous", OFF(PyFrameObject, f_back));
    P("frame_code", OFF(PyFrameObject, f_code));
    P("frame_lasti", OFF(PyFrameObject, f_lasti));
    NONE("frame_owner");
    NONE("frame_is_entry");
    P("owner_cstack", 255);
    rs = MAX2(END(PyFrameObject, f_back), END(PyFrameObject, f_code));
    rs = MAX2(rs, END(PyFrameObject, f_lasti));
    NONE("chunk_previous");
    NONE("chunk_size");
    NONE("chunk_data");
#else
    P("frame_previous", OFF(_PyInterpreterFrame, previous));
    rs = END(_PyInterpreterFrame, previous);
#if PY_VERSION_HEX < 0x030D0000
    P("frame_code", OFF(_PyInterpreterFrame, f_code));
    P("frame_lasti", OFF(_PyInterpreterFrame, prev_instr));
    rs = MAX2(rs, END(_PyInterpreterFrame, f_code));
    rs = MAX2(rs, END(_PyInterpreterFrame, prev_instr));
#else
    P("frame_code", OFF(_PyInterpreterFrame, f_executable));
    P("frame_lasti", OFF(_PyInterpreterFrame, instr_ptr));
    rs = MAX2(rs, END(_PyInterpreterFrame, f_executable));
    rs = MAX2(rs, END(_PyInterpreterFrame, instr_ptr));
#endif
#if PY_VERSION_HEX < 0x030C0000
    /* 3.11 has owner, but no C-stack owner value: the walker uses is_entry */
    NONE("frame_owner");
    P("frame_is_entry", OFF(_PyInterpreterFrame, is_entry));
    P("owner_cstack", 255);
    rs = MAX2(rs, END(_PyInterpreterFrame, is_entry));
#else
    P("frame_owner", OFF(_PyInterpreterFrame, owner));
    NONE("frame_is_entry");
    P("owner_cstack", FRAME_OWNED_BY_CSTACK);
    rs = MAX2(rs, END(_PyInterpreterFrame, owner));
#endif
    P("chunk_previous", OFF(_PyStackChunk, previous));
    P("chunk_size", OFF(_PyStackChunk, size));
    P("chunk_data", OFF(_PyStackChunk, data));
#endif
    P("frame_read_size", rs);

    P("code_filename", OFF(PyCodeObject, co_filename));
    P("code_name", OFF(PyCodeObject, co_name));
    P("code_firstlineno", OFF(PyCodeObject, co_firstlineno));
    rs = MAX2(END(PyCodeObject, co_filename), END(PyCodeObject, co_name));
    rs = MAX2(rs, END(PyCodeObject, co_firstlineno));
#if PY_VERSION_HEX < 0x030A0000
    P("code_linetable", OFF(PyCodeObject, co_lnotab));
    rs = MAX2(rs, END(PyCodeObject, co_lnotab));
#else
    P("code_linetable", OFF(PyCodeObject, co_linetable));
    rs = MAX2(rs, END(PyCodeObject, co_linetable));
#endif
#if PY_VERSION_HEX < 0x030B0000
    NONE("code_qualname");
    NONE("code_adaptive");
#else
    P("code_qualname", OFF(PyCodeObject, co_qualname));
    P("code_adaptive", OFF(PyCodeObject, co_code_adaptive));
    rs = MAX2(rs, END(PyCodeObject, co_qualname));
#endif
    P("code_read_size", rs);

    P("unicode_length", OFF(PyASCIIObject, length));
    P("unicode_state", OFF(PyASCIIObject, state));
    P("unicode_ascii_size", sizeof(PyASCIIObject));
    P("unicode_compact_size", sizeof(PyCompactUnicodeObject));
    memset(&a, 0, sizeof(a));
    a.state.kind = 7;
    P("unicode_kind_shift", __builtin_ctz(state_word(&a)));
    printf("# kind bits %d\n", __builtin_popcount(state_word(&a)));
    memset(&a, 0, sizeof(a));
    a.state.compact = 1;
    P("unicode_compact_shift", __builtin_ctz(state_word(&a)));
    memset(&a, 0, sizeof(a));
    a.state.ascii = 1;
    P("unicode_ascii_shift", __builtin_ctz(state_word(&a)));
    memset(&a, 0, sizeof(a));
    a.state.interned = 3;
    printf("# interned bits %d at bit %d\n", __builtin_popcount(state_word(&a)),
           __builtin_ctz(state_word(&a)));

    P("bytes_size", OFF(PyBytesObject, ob_base.ob_size));
    P("bytes_sval", OFF(PyBytesObject, ob_sval));

    /* threadinfo.c: the GIL holder */
#if PY_VERSION_HEX < 0x030C0000
    P("runtime_tstate_current", OFF(_PyRuntimeState, gilstate.tstate_current));
    NONE("interp_ceval_gil");
    NONE("gil_locked");
    NONE("gil_last_holder");
#else
    NONE("runtime_tstate_current");
    P("interp_ceval_gil", OFF(PyInterpreterState, ceval.gil));
    P("gil_locked", OFF(struct _gil_runtime_state, locked));
    P("gil_last_holder", OFF(struct _gil_runtime_state, last_holder));
#endif

    /* threadinfo.c: thread names */
#if PY_VERSION_HEX < 0x030C0000
    P("interp_modules", OFF(PyInterpreterState, modules));
#else
    P("interp_modules", OFF(PyInterpreterState, imports.modules));
#endif
    P("object_type", OFF(PyObject, ob_type));
    P("type_name", OFF(PyTypeObject, tp_name));
    P("type_basicsize", OFF(PyTypeObject, tp_basicsize));
    P("type_flags", OFF(PyTypeObject, tp_flags));
    P("type_dictoffset", OFF(PyTypeObject, tp_dictoffset));
    P("type_cached_keys", OFF(PyHeapTypeObject, ht_cached_keys));
    P("dict_keys", OFF(PyDictObject, ma_keys));
    P("dict_values", OFF(PyDictObject, ma_values));
#if PY_VERSION_HEX >= 0x030A0000
    P("module_dict", OFF(PyModuleObject, md_dict));
#endif
#if PY_VERSION_HEX < 0x030B0000
    /* dk_size, dk_nentries, dk_indices: Objects/dict-common.h is not installed (live probe) */
    NONE("dictkeys_index_bytes");
    NONE("dictkeys_kind");
    NONE("dictvalues_valid");
    P("dictvalues_values", 0); /* ma_values is the PyObject ** array itself */
    P("tpflags_managed_dict", 0);
    P("tpflags_inline_values", 0);
    NONE("obj_managed_dict");
    NONE("obj_managed_values");
#else
    P("dictkeys_size", OFF(PyDictKeysObject, dk_log2_size));
    P("dictkeys_index_bytes", OFF(PyDictKeysObject, dk_log2_index_bytes));
    P("dictkeys_kind", OFF(PyDictKeysObject, dk_kind));
    P("dictkeys_nentries", OFF(PyDictKeysObject, dk_nentries));
    P("dictkeys_indices", OFF(PyDictKeysObject, dk_indices));
    P("dictvalues_values", OFF(PyDictValues, values));
    P("tpflags_managed_dict", Py_TPFLAGS_MANAGED_DICT);
    {
        /* the helpers only do pointer arithmetic (the probe is built with NDEBUG) */
        PyObject *o = (PyObject *)(uintptr_t)4096;
#if PY_VERSION_HEX < 0x030C0000
        P("obj_managed_dict", (char *)o - (char *)_PyObject_ManagedDictPointer(o));
        P("obj_managed_values", (char *)o - (char *)_PyObject_ValuesPointer(o));
#elif PY_VERSION_HEX < 0x030D0000
        P("obj_managed_dict", (char *)o - (char *)_PyObject_DictOrValuesPointer(o));
        NONE("obj_managed_values");
#else
        P("obj_managed_dict", (char *)o - (char *)_PyObject_ManagedDictPointer(o));
        NONE("obj_managed_values");
#endif
    }
#if PY_VERSION_HEX < 0x030D0000
    NONE("dictvalues_valid");
    P("tpflags_inline_values", 0);
#else
    P("dictvalues_valid", OFF(PyDictValues, valid));
    P("tpflags_inline_values", Py_TPFLAGS_INLINE_VALUES);
#endif
#endif
#if PY_VERSION_HEX < 0x030C0000
    P("long_size", OFF(PyLongObject, ob_base.ob_size));
    P("long_digits", OFF(PyLongObject, ob_digit));
#else
    P("long_size", OFF(PyLongObject, long_value.lv_tag));
    P("long_digits", OFF(PyLongObject, long_value.ob_digit));
#endif
    printf("# digit bits %d\n", (int)PyLong_SHIFT);
    return 0;
}
"""

# What the installed headers of 3.8 .. 3.10 do not define (struct _dictkeysobject lives in
# Objects/dict-common.h, PyModuleObject in Objects/moduleobject.c before 3.10): found in the
# running interpreter with ctypes, by looking for known values in known objects.
LIVE_PROBE = r"""
import ctypes, sys
ma_keys = int(sys.argv[1])
def word(addr):
    return ctypes.c_ssize_t.from_address(addr).value
mod = sys.modules["os"]
print("module_dict", [word(id(mod) + 8 * i) for i in range(8)].index(id(mod.__dict__)) * 8)
d = {}
for i in range(5):
    d["key%d" % i] = i
keys = word(id(d) + ma_keys)
w = [word(keys + 8 * i) for i in range(5)]
size, nentries = w.index(8) * 8, w.index(5) * 8
print("dictkeys_size", size)
print("dictkeys_nentries", nentries)
first = id(list(d)[0])
for off in range(nentries + 8, 128, 8):
    if word(keys + off + 8 + 8) == first:  # 8 one-byte indices, then {hash, key, value}
        print("dictkeys_indices", off)
        break
"""


def die(msg, code=2):
    print("gen-offsets: " + msg, file=sys.stderr)
    sys.exit(code)


def strip_comments(text):
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def parse_offsets_h():
    """Return ([(field, ctype)], {enum_type: [enumerators]}) from offsets.h."""
    text = strip_comments(open(OFFSETS_H).read())
    enums = {}
    for m in re.finditer(r"enum\s+(\w+)\s*\{(.*?)\}", text, flags=re.S):
        names = [e.split("=")[0].strip() for e in m.group(2).split(",")]
        enums[m.group(1)] = [n for n in names if n]
    m = re.search(r"struct\s+py_offsets\s*\{(.*?)\};", text, flags=re.S)
    if not m:
        die("no struct py_offsets in " + OFFSETS_H)
    fields = []
    for decl in m.group(1).split(";"):
        decl = " ".join(decl.split())
        if not decl:
            continue
        dm = re.match(r"((?:enum\s+)?\w+)\s+(.*)", decl)
        ctype, names = dm.group(1), dm.group(2)
        for name in names.split(","):
            fields.append((name.strip(), ctype))
    return fields, enums


def ours_source(fields, enums):
    """C program that prints every field of the table for argv major.minor."""
    out = [
        "#include <stdio.h>",
        "#include <stdlib.h>",
        '#include "py/debugoffsets.h"',
        '#include "py/offsets.h"',
        "",
        "static unsigned char image[1 << 20];",
        "",
        "int main(int argc, char **argv)",
        "{",
        "    const struct py_offsets *o = NULL;",
        "    struct py_offsets parsed;",
        "    int r;",
        "",
        "    if (argc == 4) {",
        '        FILE *f = fopen(argv[3], "rb");',
        "        size_t n = f ? fread(image, 1, sizeof(image), f) : 0;",
        "",
        "        if (f)",
        "            fclose(f);",
        "        r = debugoffsets_parse(image, n, &parsed);",
        "        o = &parsed;",
        "    } else {",
        "        r = offsets_for_version((unsigned)atoi(argv[1]), (unsigned)atoi(argv[2]), &o);",
        "    }",
        "    if (r) {",
        '        printf("error %d\\n", r);',
        "        return 1;",
        "    }",
    ]
    for name, ctype in fields:
        if ctype.startswith("enum "):
            chain = " : ".join(
                '(o->%s == %s) ? "%s"' % (name, e, e) for e in enums[ctype.split()[1]]
            )
            out.append('    printf("%s %%s\\n", %s : "?");' % (name, chain))
        elif ctype == "uint32_t":
            out.append(
                '    if (o->%s == PY_NO_FIELD) printf("%s none\\n");' % (name, name)
                + ' else printf("%s %%lld\\n", (long long)o->%s);' % (name, name)
            )
        else:
            out.append('    printf("%s %%lld\\n", (long long)o->%s);' % (name, name))
    out += ["    return 0;", "}", ""]
    return "\n".join(out)


def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (cmd[0], p.returncode, p.stdout, p.stderr))
    return p.stdout


def pyenv_versions():
    """{minor: (version, prefix)} for the newest default-build CPython 3.8 .. 3.13 in pyenv."""
    found = {}
    try:
        names = run(["pyenv", "versions", "--bare"]).split()
    except (OSError, RuntimeError):
        return found
    for v in names:
        m = re.fullmatch(r"3\.(\d+)\.(\d+)", v)
        if not m or int(m.group(1)) not in MINORS:
            continue
        minor, patch = int(m.group(1)), int(m.group(2))
        if minor in found and found[minor][2] > patch:
            continue
        prefix = run(["pyenv", "prefix", v]).strip()
        found[minor] = (v, prefix, patch)
    return {k: (v[0], v[1]) for k, v in found.items()}


def elf_section(path, wanted):
    """Bytes of section @wanted of the ELF64 little-endian file @path, or None."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def header(i):
        return struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)

    strtab = header(shstrndx)
    for i in range(shnum):
        name_off, _, _, _, off, size = header(i)
        start = strtab[4] + name_off
        name = data[start:data.index(b"\0", start)].decode()
        if name == wanted:
            return data[off:off + size]
    return None


def runtime_image(prefix, minor):
    """The .PyRuntime section of the libpython (or python binary) under @prefix."""
    for rel in ("lib/libpython3.%d.so.1.0" % minor, "bin/python3.%d" % minor):
        path = os.path.join(prefix, rel)
        if os.path.exists(path):
            sec = elf_section(path, ".PyRuntime")
            if sec is not None:
                return sec, path
    return None, None


def parse_lines(text):
    vals = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        k, v = line.split(None, 1)
        vals[k] = v
    return vals


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--print", action="store_true", help="print every value")
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    args = ap.parse_args()

    fields, enums = parse_offsets_h()
    versions = pyenv_versions()
    if not versions:
        die("no pyenv CPython 3.8 .. 3.13 found")

    failures = 0
    with tempfile.TemporaryDirectory(prefix="gen-offsets-") as tmp:
        real_c = os.path.join(tmp, "real.c")
        with open(real_c, "w") as f:
            f.write(REAL_PROBE)
        ours_c = os.path.join(tmp, "ours.c")
        with open(ours_c, "w") as f:
            f.write(ours_source(fields, enums))
        ours = os.path.join(tmp, "ours")
        run([args.cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-O0",
             "-I", os.path.join(ROOT, "collector"), "-I", os.path.join(ROOT, "include"),
             ours_c, os.path.join(ROOT, "collector", "py", "offsets.c"),
             os.path.join(ROOT, "collector", "py", "debugoffsets.c"), "-o", ours])

        for minor in MINORS:
            if minor not in versions:
                print("3.%d: not installed, skipped" % minor)
                continue
            version, prefix = versions[minor]
            inc = os.path.join(prefix, "include", "python3.%d" % minor)
            real = os.path.join(tmp, "real-3.%d" % minor)
            run([args.cc, "-std=gnu11", "-w", "-DNDEBUG", "-I", inc, "-I",
                 os.path.join(inc, "internal"), real_c, "-o", real])
            real_out = run([real])
            want = parse_lines(real_out)
            frames, lasti, lines, instdicts, longs = MODELS[minor]
            want.update(frames=frames, lasti=lasti, lines=lines, instdicts=instdicts, longs=longs)
            missing = [k for k in ("module_dict", "dictkeys_size", "dictkeys_nentries",
                                   "dictkeys_indices") if k not in want]
            if missing:
                python = os.path.join(prefix, "bin", "python3.%d" % minor)
                live = parse_lines(run([python, "-c", LIVE_PROBE, want["dict_keys"]]))
                for k in missing:
                    if k in live:
                        want[k] = live[k]
                print("3.%d: %s from the running interpreter (ctypes)" % (minor, ", ".join(missing)))

            cmd = [ours, "3", str(minor)]
            source = "offsets_for_version"
            if minor >= 13:
                image, path = runtime_image(prefix, minor)
                if image is None:
                    print("3.%d: no .PyRuntime section under %s" % (minor, prefix))
                    failures += 1
                    continue
                img = os.path.join(tmp, "runtime-3.%d.bin" % minor)
                with open(img, "wb") as f:
                    f.write(image)
                cmd.append(img)
                source = "debugoffsets_parse(%s)" % os.path.relpath(path, prefix)
            p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            got = parse_lines(p.stdout)
            if p.returncode != 0:
                print("3.%d: %s: %s" % (minor, source, p.stdout.strip()))
                failures += 1
                continue

            bad = []
            for name, _ in fields:
                if name not in want:
                    bad.append("%s: not covered by the real-header probe" % name)
                elif got.get(name) != want[name]:
                    bad.append("%s: ours %s, real headers %s" % (name, got.get(name), want[name]))
            status = "OK" if not bad else "MISMATCH"
            print("3.%d (%s, %s): %s, %d fields" % (minor, version, source, status, len(fields)))
            for line in real_out.splitlines():
                if line.startswith("#"):
                    print("    " + line)
            for b in bad:
                print("    " + b)
            failures += len(bad)
            if args.print:
                for name, _ in fields:
                    print("    %-28s %s" % (name, want.get(name)))
    if failures:
        print("gen-offsets: %d problem(s)" % failures)
        return 1
    print("gen-offsets: all match")
    return 0


if __name__ == "__main__":
    if not shutil.which("pyenv"):
        die("pyenv not found")
    sys.exit(main())
