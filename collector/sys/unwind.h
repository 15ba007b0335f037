/* SPDX-License-Identifier: MIT */
/*
 * unwind: native stacks of stopped threads (libunwind-ptrace) and their symbols (libdw).
 *
 * One libunwind address space per target process with global caching, so the unwind tables of
 * each object are parsed once (a fresh _UPT_create per sample costs milliseconds); one _UPT
 * handle per thread, kept while the thread lives. Symbols come from libdw's Dwfl over the
 * target's mappings (symtab, dynsym and separate debug info where present), cached by PC.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define UNWIND_MAX_DEPTH 512  /* native frames per stack; deeper stacks keep the innermost */

enum {
    UNWIND_E_NONE = 0,
    UNWIND_E_GONE,  /* the thread is gone */
    UNWIND_E_FAIL,  /* no registers or no usable first frame */
};

/* What a native frame is, for merging with the Python stack. */
enum unwind_kind {
    UNWIND_OTHER = 0,   /* an extension module, a library, the C runtime */
    UNWIND_INTERP,      /* inside the interpreter (the python binary or libpython) */
    UNWIND_EVAL,        /* the interpreter's eval loop: one Python frame group ran here */
};

struct unwind_sym {
    const char *name;     /* symbol (demangled as written), or NULL when unknown */
    const char *object;   /* basename of the object file, or NULL when unmapped (not cached:
                           * the address may belong to a library loaded later) */
    uint64_t offset;      /* ip - symbol start, or ip - object base without a symbol */
    enum unwind_kind kind;
};

struct unwinder;

/*
 * unwinder_new() - prepare native unwinding and symbols for process @pid. @interp_path is the
 * path (as in /proc/PID/maps) of the ELF that holds the interpreter (libpython or the python
 * executable): frames in that object are UNWIND_INTERP. Reads /proc/PID/maps. 0, or a negative
 * errno (-ENOMEM, or libunwind refused). @interp_path is copied.
 */
int unwinder_new(struct unwinder **out, pid_t pid, const char *interp_path);

/* unwinder_free() - NULL-safe; returns NULL. */
struct unwinder *unwinder_free(struct unwinder *u);

/*
 * unwinder_unwind() - the native stack of thread @tid, which the caller has stopped with ptrace:
 * up to @max return addresses into @ips, innermost first (ips[0] is the current PC; the others
 * are return addresses). *n is the number stored. A walk that cannot go on (no unwind info)
 * ends the stack there. Returns 0, UNWIND_E_GONE, UNWIND_E_FAIL or a negative errno.
 */
int unwinder_unwind(struct unwinder *u, pid_t tid, uint64_t *ips, size_t max, size_t *n);

/*
 * unwinder_symbol() - describe the frame at @ip (@is_return: a return address, looked up at
 * ip - 1 so a call at the end of a function is not credited to the next one). The strings are
 * owned by @u and live until unwinder_free(). 0, or -ENOMEM.
 */
int unwinder_symbol(struct unwinder *u, uint64_t ip, bool is_return, struct unwind_sym *out);

/*
 * unwinder_forget_thread() - drop the per-thread state of @tid (call when the thread is gone,
 * as thread ids are reused). Unknown @tid is not an error.
 */
void unwinder_forget_thread(struct unwinder *u, pid_t tid);
