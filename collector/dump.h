/* SPDX-License-Identifier: MIT */
/* dump: `pyprof dump`, the current Python traceback of every thread of a process. */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "cli.h"
#include "py/discover.h"
#include "sys/mem.h"

/* A running process whose interpreter was found: what walker_new() needs. */
struct dump_target {
    pid_t pid;
    struct mem mem;
    struct py_runtime rt;
    uint64_t head; /* first interpreter */
};

/*
 * dump_attach() - find the interpreter of running process @pid into @t, retrying for up to a
 * second while it is not initialised yet. Returns 0, or after printing why on @err (the same
 * messages as `pyprof record`), the PYPROF_EXIT_* code to exit with. Shared with top.
 */
int dump_attach(struct dump_target *t, pid_t pid, FILE *err);

/*
 * dump_run() - `pyprof dump`: a few quick samples of every thread (idle ones included), then
 * each thread's last stack, as text (innermost call last) or --json (innermost first), on @out.
 * Each thread is named by its `threading` name (its comm when it has none or it cannot be read)
 * and the one holding the GIL right after the samples is marked ("holds the GIL", "gil": true).
 * Returns a PYPROF_EXIT_* code; errors are explained on @err.
 */
int dump_run(const struct pyprof_config *cfg, FILE *out, FILE *err);
