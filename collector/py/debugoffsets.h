/* SPDX-License-Identifier: MIT */
/* debugoffsets: fill struct py_offsets from a target's _Py_DebugOffsets (CPython 3.13+). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "py/offsets.h"

/*
 * Bytes to read from &_PyRuntime to get the whole _Py_DebugOffsets: 584 in 3.13, with room for
 * the longer 3.14+ layouts (_PyRuntimeState is far bigger, so the read stays inside it).
 */
#define DEBUGOFFSETS_READ_SIZE 1024

/*
 * debugoffsets_version() - if @buf (@len bytes read at &_PyRuntime) starts with the "xdebugpy"
 * cookie, store PY_VERSION_HEX in *out_hex and return 0; otherwise return OFFSETS_E_BAD.
 */
int debugoffsets_version(const void *buf, size_t len, uint64_t *out_hex);

/*
 * debugoffsets_parse() - check the _Py_DebugOffsets image in @buf (@len bytes read at &_PyRuntime)
 * and fill *out. Every size must be below 1 MiB and every offset + field size within its struct's
 * size; free-threaded builds and minors without a built-in enum table are refused.
 * Returns 0, OFFSETS_E_BAD (a failed check; *out unspecified) or OFFSETS_E_UNSUPPORTED.
 */
int debugoffsets_parse(const void *buf, size_t len, struct py_offsets *out);
