/* SPDX-License-Identifier: MIT */
/* linetable: map a bytecode offset to a source line, for every CPython line-table format. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "py/offsets.h"

/*
 * linetable_line() - the source line of the instruction at byte offset @addr (into co_code; for
 * 3.11+ co_code_adaptive, whose layout matches) in a code object whose first line is @firstlineno
 * and whose line table bytes are @table[0..len) in format @model.
 *   PY_LINES_LNOTAB: co_lnotab of 3.8/3.9 (signed line deltas);
 *   PY_LINES_PEP626: co_linetable of 3.10 (-128 = no line);
 *   PY_LINES_PEP657: the 3.11+ location table (varint / zigzag, kinds 0..15).
 * The table is untrusted: decoding never reads outside [table, table+len) and stops at the end.
 * Returns the line (>= 1), or 0 when the instruction has no line or, on 3.10+, @addr is past the
 * table. co_lnotab (3.8/3.9) does not record the code length, so there an @addr past the end gets
 * the last line, as CPython's own decoder does. Module code on 3.11+ starts with a line-0 RESUME.
 * Pure function: no allocation, no state.
 */
uint32_t linetable_line(enum py_linetable_model model, const uint8_t *table, size_t len,
                        int firstlineno, uint32_t addr);
