/* SPDX-License-Identifier: MIT */
/* walk: sample every thread of every interpreter of a CPython process into an aggregate. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pyprof/agg.h"
#include "py/discover.h"
#include "sys/mem.h"

#define WALK_MAX_DEPTH 2048    /* frames per stack; deeper stacks keep their innermost frames */
#define WALK_MAX_THREADS 4096  /* threads per interpreter */
#define WALK_MAX_INTERPS 256   /* interpreters per process */
#define WALK_MAX_CHUNKS 64     /* datastack chunks copied per thread (3.11+) */
#define WALK_CHUNK_GUESS 16384 /* first read of a chunk: CPython's chunk size */
#define WALK_CHUNK_MAX (1u << 20)

enum {
    WALK_E_NONE = 0,
    WALK_E_GONE, /* the process exited: stop sampling */
};

struct walk_opts {
    bool idle;            /* true: sample idle threads too (wall view, --idle); false: only
                           * threads the kernel shows running (CPU view, the default) */
    bool lineno;          /* false: no line numbers (--nolineno) */
    bool function_lines;  /* true: report each function's first line (-F/--function) */
    bool full_filenames;  /* true: full paths; false: py-spy's short names */
    bool gil_only;        /* true: only the thread holding the GIL (-g/--gil) */
};

/* Counters, cumulative since walker_new(). Never logged per sample; reported once at the end. */
struct walk_stats {
    uint64_t samples;       /* calls to walker_sample() that read the thread list */
    uint64_t stacks;        /* thread stacks added to the aggregate */
    uint64_t torn;          /* stacks dropped because the target changed under the walk twice */
    uint64_t bad;           /* stacks dropped for implausible memory (bad pointers, types) */
    uint64_t truncated;     /* stacks deeper than WALK_MAX_DEPTH (innermost frames kept) */
    uint64_t code_misses;   /* frame-cache misses that needed the code object */
    uint64_t stale_codes;   /* cached code objects found replaced by new ones (caches dropped) */
    uint64_t idle;          /* thread samples left out because the thread was not running */
    uint64_t no_gil;        /* gil_only: thread samples left out for not holding the GIL */
    uint64_t native;        /* stacks merged with their native frames (native mode) */
    uint64_t native_failed; /* native mode: stacks kept Python-only (the thread did not stop,
                             * could not be unwound, or its tid is unknown) */
};

struct walker;

/*
 * walker_new() - prepare to sample process @pid, whose runtime was discovered into @rt, adding
 * stacks to @agg. @m, @rt and @agg are borrowed and must outlive the walker. 0 or -ENOMEM.
 */
int walker_new(struct walker **out, struct mem *m, const struct py_runtime *rt,
               uint64_t interp_head, pid_t pid, struct pp_agg *agg, const struct walk_opts *opts);

/* walker_free() - NULL-safe. Returns NULL. */
struct walker *walker_free(struct walker *w);

/*
 * walker_sample() - take one sample at @time_ns: every thread of every interpreter adds one
 * stack (pp_agg_add_sample, so it is on the aggregate's timeline when that is enabled). Threads
 * with no Python frames add nothing. Per-thread problems are counted in the stats, never logged.
 * Returns 0, WALK_E_GONE (the process is gone), or a negative errno (-ENOMEM).
 */
int walker_sample(struct walker *w, uint64_t time_ns);

/*
 * Threads are named by their `threading` name where the target has one (read from
 * threading._active when a new thread shows up, at most every 100 ms), else by the kernel's
 * /proc/PID/task/TID/comm. A thread keeps the name it had when first seen.
 */

struct tracer;
struct unwinder;

/*
 * walker_set_native() - from the next sample on, stop each sampled thread with @t, read its
 * Python frames and its native stack with @u while it is stopped, resume it, and add the merged
 * stack: each eval-loop frame is replaced by the Python frames it ran (up to the entry frame of
 * that call: every frame <= 3.10, is_entry on 3.11, the frame above a C-stack shim on 3.12+), and
 * the native frames between them stay. Unless @all, native frames inside the interpreter (other
 * than the eval loop) and those outside the outermost Python frame (thread start-up) are left
 * out. @t and @u are borrowed and must outlive the walker; NULL @t turns native mode off.
 */
void walker_set_native(struct walker *w, struct tracer *t, struct unwinder *u, bool all);

/* walker_stats() - the counters so far. */
const struct walk_stats *walker_stats(const struct walker *w);
