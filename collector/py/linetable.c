/* SPDX-License-Identifier: MIT */
/* linetable: map a bytecode offset to a source line, for every CPython line-table format. */
#include "py/linetable.h"

/*
 * Each decoder below is a bounded transcription of CPython's own decoder for that format, so the
 * answers match what the interpreter itself reports (co_lines(), PyCode_Addr2Line(), tracebacks):
 *   - lnotab():  PyCode_Addr2Line() of 3.8/3.9 (Objects/codeobject.c);
 *   - pep626():  PyLineTable_NextAddressRange()/advance() of 3.10 (Objects/lnotab_notes.txt);
 *   - pep657():  advance()/get_line_delta()/read_signed_varint() of 3.11+ (Objects/locations.md).
 * Where CPython trusts its table (asserts, or reads past an odd trailing byte), we stop instead.
 * The running line is kept in an int64_t clamped to +-LINE_CLAMP, so no input can overflow it; a
 * line outside [1, INT32_MAX] is reported as 0 ("no line").
 */

#define LINE_CLAMP ((int64_t)1 << 40)

/* The largest varint we accept: 5 chunks of 6 bits. CPython's 32-bit shift is UB beyond that. */
#define VARINT_MAX_CHUNKS 5

/* PEP 657 location kinds (CPython's _PyCodeLocationInfoKind). */
enum {
    LOC_ONE_LINE0 = 10,
    LOC_ONE_LINE2 = 12,
    LOC_NO_COLUMNS = 13,
    LOC_LONG = 14,
    LOC_NONE = 15,
};

static int64_t clamp_add(int64_t line, int64_t delta)
{
    line += delta;
    if (line > LINE_CLAMP)
        return LINE_CLAMP;
    if (line < -LINE_CLAMP)
        return -LINE_CLAMP;
    return line;
}

static uint32_t as_line(int64_t line)
{
    return line >= 1 && line <= INT32_MAX ? (uint32_t)line : 0;
}

/* ===  3.8 / 3.9: co_lnotab  ================================================================== */

/*
 * Pairs (unsigned byte delta, int8 line delta). The line of the last pair whose cumulative
 * address is <= @addr is in effect; a trailing odd byte is ignored (CPython uses len / 2 pairs).
 * The table does not record the code length, so the last line extends past the end, as in
 * CPython: an @addr beyond the code still gets that line, and an empty table gives firstlineno.
 */
static uint32_t lnotab(const uint8_t *table, size_t len, int firstlineno, uint32_t addr)
{
    int64_t line = firstlineno;
    uint64_t at = 0;

    for (size_t i = 0; i + 1 < len; i += 2) {
        at += table[i];
        if (at > addr)
            break;
        line = clamp_add(line, (int8_t)table[i + 1]);
    }
    return as_line(line);
}

/* ===  3.10: co_linetable (PEP 626)  ========================================================== */

/*
 * Pairs (unsigned byte delta, int8 line delta), each a range [start, start + delta) of the code;
 * line delta -128 means "no line" for that range and leaves the running line unchanged. The
 * compiler splits long ranges into (254, d), (254, 0)... and big line jumps into (0, +-127)...
 * pairs; zero-length ranges only move the running line. An @addr past the last range is 0.
 */
static uint32_t pep626(const uint8_t *table, size_t len, int firstlineno, uint32_t addr)
{
    int64_t line = firstlineno;
    uint64_t start = 0;

    for (size_t i = 0; i + 1 < len; i += 2) {
        uint64_t end = start + table[i];
        int8_t ldelta = (int8_t)table[i + 1];
        int no_line = ldelta == -128;

        if (!no_line)
            line = clamp_add(line, ldelta);
        if (addr >= start && addr < end)
            return no_line ? 0 : as_line(line);
        start = end;
    }
    return 0;
}

/* ===  3.11+: location table (PEP 657)  ======================================================= */

/*
 * Reads the unsigned varint at table[*pos..len): 6-bit chunks, least significant first, 0x40 means
 * another chunk follows. Returns 0 and sets *out, or -1 if it runs off the end or is too long.
 */
static int read_varint(const uint8_t *table, size_t len, size_t *pos, uint32_t *out)
{
    uint32_t val = 0;

    for (unsigned chunk = 0; chunk < VARINT_MAX_CHUNKS; chunk++) {
        if (*pos >= len)
            return -1;
        uint8_t b = table[(*pos)++];
        val |= (uint32_t)(b & 63) << (6 * chunk);
        if (!(b & 64)) {
            *out = val;
            return 0;
        }
    }
    return -1;
}

/*
 * Each entry starts with a byte 1KKKKLLL: it covers L + 1 code units (2 bytes each) and kind K
 * says how the line moves (kinds 0..9: same line; 10..12: +0..2; 13, 14: signed varint; 15: no
 * location). As in CPython, an entry ends at the next byte with the high bit set, whatever it
 * contains. An entry whose line delta is cut off by the end of the table stops decoding: its
 * range and everything after it are 0, as is an @addr past the last entry.
 */
static uint32_t pep657(const uint8_t *table, size_t len, int firstlineno, uint32_t addr)
{
    int64_t line = firstlineno;
    uint64_t start = 0;
    size_t pos = 0;

    while (pos < len) {
        uint8_t first = table[pos];
        unsigned kind = (first >> 3) & 15;
        uint64_t end = start + 2 * ((uint64_t)(first & 7) + 1);

        if (kind == LOC_NO_COLUMNS || kind == LOC_LONG) {
            size_t vpos = pos + 1;
            uint32_t zz;

            if (read_varint(table, len, &vpos, &zz) < 0)
                return 0;
            /* zigzag-like: the low bit is the sign, the rest the magnitude */
            line = clamp_add(line, (zz & 1) ? -(int64_t)(zz >> 1) : (int64_t)(zz >> 1));
        } else if (kind >= LOC_ONE_LINE0 && kind <= LOC_ONE_LINE2) {
            line = clamp_add(line, kind - LOC_ONE_LINE0);
        }
        if (addr >= start && addr < end)
            return kind == LOC_NONE ? 0 : as_line(line);
        start = end;
        do {
            pos++;
        } while (pos < len && !(table[pos] & 128));
    }
    return 0;
}

/* ===  Entry point  =========================================================================== */

uint32_t linetable_line(enum py_linetable_model model, const uint8_t *table, size_t len,
                        int firstlineno, uint32_t addr)
{
    if (!table)
        len = 0;
    switch (model) {
    case PY_LINES_LNOTAB:
        return lnotab(table, len, firstlineno, addr);
    case PY_LINES_PEP626:
        return pep626(table, len, firstlineno, addr);
    case PY_LINES_PEP657:
        return pep657(table, len, firstlineno, addr);
    }
    return 0;
}
