/* SPDX-License-Identifier: MIT */
/* discover: find the CPython runtime in a process, its version and its layout. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "py/offsets.h"
#include "sys/mem.h"

enum {
    DISCOVER_E_NONE = 0,
    DISCOVER_E_GONE,        /* no such process, or it exited */
    DISCOVER_E_PERM,        /* not allowed to read its memory or maps */
    DISCOVER_E_NOTPY,       /* no CPython runtime found in its binaries (may appear later) */
    DISCOVER_E_UNSUPPORTED, /* CPython, but a version pyprof does not support */
    DISCOVER_E_NOTREADY,    /* the runtime is there but no interpreter is running yet */
};

struct py_runtime {
    struct py_offsets off;   /* copy: built-in table or filled from _Py_DebugOffsets */
    unsigned major, minor, micro;
    uint64_t runtime_addr;   /* &_PyRuntime in the target */
    uint64_t code_type;      /* &PyCode_Type in the target (0 if unknown: no type checks) */
    uint64_t frame_type;     /* &PyFrame_Type (0 if unknown) */
    char binary[512];        /* path (in the target's mount namespace) of the ELF holding it */
    char why[512];           /* human-readable detail for the last non-zero return */
};

/*
 * discover_runtime() - look for CPython in process @pid: scan /proc/@pid/maps for libpython*.so
 * and the executable, open them through /proc/@pid/root (so containers work) with libelf, find
 * _PyRuntime (.dynsym/.symtab, then the .PyRuntime section), add the load bias, then find the
 * version (_Py_DebugOffsets cookie, Py_Version, then the file name). Never executes anything.
 * On 0, *rt is filled. Otherwise rt->why says what was found, and the return is one of the
 * DISCOVER_E_* codes or a negative errno. Reads through @m (which must be set up for @pid).
 */
int discover_runtime(struct py_runtime *rt, struct mem *m, pid_t pid);

/*
 * discover_interp_head() - read the first interpreter's address from a discovered runtime and
 * check that its first thread points back at it. 0 and *out, DISCOVER_E_NOTREADY (not
 * initialised yet or not consistent: retry), or DISCOVER_E_GONE.
 */
int discover_interp_head(const struct py_runtime *rt, struct mem *m, uint64_t *out);
