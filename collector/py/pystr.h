/* SPDX-License-Identifier: MIT */
/* pystr: read str and bytes objects out of a CPython process. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "py/offsets.h"
#include "sys/mem.h"

#define PYSTR_MAX_CHARS 4096      /* longer names and paths are truncated to this many chars */
#define PYSTR_MAX_BYTES (1 << 20) /* bytes objects (line tables) larger than this are refused */

enum {
    PYSTR_E_NONE = 0,
    PYSTR_E_BAD,  /* not a plausible compact str / bytes object (or unreadable memory) */
    PYSTR_E_GONE, /* the process is gone */
};

/*
 * pystr_read() - decode the str object at remote @addr into UTF-8 in @out (@cap bytes, at least
 * 4 * PYSTR_MAX_CHARS + 1 to never truncate below the char limit), NUL-terminated, length in
 * *out_len. Kinds 1, 2 and 4 are handled; only compact strings (all that code objects hold) are
 * accepted. Lone surrogates are written as U+FFFD. At most two remote reads.
 * Returns 0, PYSTR_E_BAD, PYSTR_E_GONE, or a negative errno.
 */
int pystr_read(struct mem *m, const struct py_offsets *off, uint64_t addr, char *out, size_t cap,
               size_t *out_len);

/*
 * pystr_read_bytes() - copy the contents of the bytes object at @addr into a new malloc'd buffer
 * (*out, owned by the caller; *out_len bytes). Size is bounded by PYSTR_MAX_BYTES.
 * Returns 0, PYSTR_E_BAD, PYSTR_E_GONE, or -ENOMEM. At most two remote reads.
 */
int pystr_read_bytes(struct mem *m, const struct py_offsets *off, uint64_t addr, uint8_t **out,
                     size_t *out_len);
