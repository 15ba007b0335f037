/* SPDX-License-Identifier: MIT */
/* threadinfo: which thread holds the GIL, and the `threading` names of a CPython process's threads. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "py/offsets.h"
#include "sys/mem.h"

/*
 * Everything here reads the target without stopping it, so every pointer is a guess: each size,
 * loop and string is bounded, each object whose type can be known is checked by its type's
 * tp_name ("dict", "str", "int", "module"), and anything implausible gives the positive
 * THREADINFO_E_UNAVAILABLE rather than garbage. None of it is meant for the per-sample path:
 * threadinfo_names() costs tens of reads (more with many threads or modules); call it at attach,
 * then at most about once a second or when a new thread ident shows up.
 */

#define THREADINFO_NAME_MAX 256      /* bytes of UTF-8 kept of a name (NUL not counted) */
#define THREADINFO_MAX_THREADS 4096  /* threads named / listed per interpreter */

enum {
    THREADINFO_E_NONE = 0,
    THREADINFO_E_GONE,        /* the process is gone */
    THREADINFO_E_UNAVAILABLE, /* the structures were unreadable, implausible or changing */
    THREADINFO_E_UNSUPPORTED, /* this version has no such information (no field in its table) */
};

/* One named thread: its ident (PyThreadState.thread_id, threading.get_ident()) and name. */
struct threadinfo_name {
    uint64_t ident;
    char name[THREADINFO_NAME_MAX + 1]; /* UTF-8, NUL-terminated, cut at a character boundary */
};

/* A table of thread names, sorted by ident. Zero-initialise (or threadinfo_names_init()). */
struct threadinfo_names {
    struct threadinfo_name *v; /* owned; n entries */
    size_t n;
};

/* One thread of an interpreter, as threadinfo_threads() lists it. */
struct threadinfo_thread {
    uint64_t tstate; /* remote PyThreadState * */
    uint64_t ident;  /* thread_id: pthread_t, the key of threading._active */
    uint64_t tid;    /* kernel thread id (native_thread_id; <= 3.10 found in struct pthread);
                        0 if unknown */
};

/*
 * threadinfo_gil_holder() - the remote PyThreadState * holding the GIL of interpreter @interp_addr
 * of the runtime at @runtime_addr, into *tstate_out (0 if no thread holds it right now).
 *   <= 3.11: _PyRuntime.gilstate.tstate_current. There is one GIL for the whole runtime, so the
 *            holder may belong to another interpreter; @interp_addr is not read.
 *   3.12+:   interp->ceval.gil -> {locked, last_holder}: last_holder if locked, else 0 (follows
 *            ceval.gil, so a subinterpreter sharing the main GIL reports the main GIL's holder).
 * One or two remote reads. Returns 0, THREADINFO_E_GONE, THREADINFO_E_UNAVAILABLE (unreadable,
 * or a lock word other than 0/1/-1, or an unaligned holder), THREADINFO_E_UNSUPPORTED (no field
 * in @o), or a negative errno. *tstate_out is only written on 0.
 */
int threadinfo_gil_holder(struct mem *m, const struct py_offsets *o, uint64_t runtime_addr,
                          uint64_t interp_addr, uint64_t *tstate_out);

/* threadinfo_names_init() - an empty table. */
void threadinfo_names_init(struct threadinfo_names *t);

/* threadinfo_names_deinit() - free the entries and leave an empty table. NULL-safe. */
void threadinfo_names_deinit(struct threadinfo_names *t);

/*
 * threadinfo_names() - read sys.modules['threading']._active of interpreter @interp_addr: for
 * each thread ident (an int key), the thread object's `_name` attribute (a str, cut to
 * THREADINFO_NAME_MAX bytes of UTF-8), at most THREADINFO_MAX_THREADS entries.
 * On 0, *out is replaced by the new table (the old entries are freed). A process that never
 * imported threading gives 0 and an empty table; an entry whose ident or name cannot be read is
 * left out. On any other return *out is left unchanged, so a caller can keep the names it had:
 * THREADINFO_E_GONE, THREADINFO_E_UNAVAILABLE (sys.modules, the module or _active unreadable or
 * of the wrong type: often a torn read while the target changes them; retry later),
 * THREADINFO_E_UNSUPPORTED, or a negative errno (-ENOMEM).
 */
int threadinfo_names(struct mem *m, const struct py_offsets *o, uint64_t interp_addr,
                     struct threadinfo_names *out);

/*
 * threadinfo_name_of() - the name of thread @ident in @t, or NULL if it has none. The string
 * belongs to @t and lives until the next threadinfo_names() or threadinfo_names_deinit() on it.
 * Binary search: cheap enough per sample.
 */
const char *threadinfo_name_of(const struct threadinfo_names *t, uint64_t ident);

/*
 * threadinfo_threads() - list up to @cap threads of interpreter @interp_addr in process @pid
 * (for the <= 3.10 kernel tid search) into @out, newest first as CPython links them, and their
 * count in *n. Stops at THREADINFO_MAX_THREADS or on a cycle-length list. The kernel tid comes
 * from native_thread_id (3.11+) or, <= 3.10, from glibc's struct pthread, at the offset where the
 * main thread's holds the PID; it is 0 when that fails. Returns 0, THREADINFO_E_GONE,
 * THREADINFO_E_UNAVAILABLE (the list could not be read to its end: *n holds the threads read so
 * far), or a negative errno.
 */
int threadinfo_threads(struct mem *m, const struct py_offsets *o, uint64_t interp_addr, pid_t pid,
                       struct threadinfo_thread *out, size_t cap, size_t *n);
