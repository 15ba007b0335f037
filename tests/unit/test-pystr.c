/* SPDX-License-Identifier: MIT */
/* Unit test: str and bytes objects laid out as CPython 3.12 does, read through our own memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "py/offsets.h"
#include "py/pystr.h"
#include "t.h"

static _Alignas(16) uint8_t obj[1 << 16];

/* Lay out a compact str of @n code points of @kind bytes each at obj. */
static uint64_t make_str(const struct py_offsets *o, unsigned kind, int ascii, int compact,
                         const void *data, int64_t n)
{
    uint32_t state = kind << o->unicode_kind_shift | (uint32_t)compact << o->unicode_compact_shift |
                     (uint32_t)ascii << o->unicode_ascii_shift;
    size_t at = ascii ? o->unicode_ascii_size : o->unicode_compact_size;

    memset(obj, 0xAB, sizeof(obj));
    memcpy(obj + o->unicode_length, &n, sizeof(n));
    memcpy(obj + o->unicode_state, &state, sizeof(state));
    if (n > 0) /* a negative length is written as is, but there is no data to copy */
        memcpy(obj + at, data, (size_t)n * kind);
    return (uint64_t)(uintptr_t)obj;
}

int main(void)
{
    const struct py_offsets *o = NULL;
    static char out[4 * PYSTR_MAX_CHARS + 1];
    struct mem m;
    size_t len = 0;
    uint8_t *bytes = NULL;

    T_EQ_INT(offsets_for_version(3, 12, &o), 0);
    if (!o)
        T_DONE();
    mem_init(&m, getpid());

    /* ASCII (kind 1, ascii bit). */
    T_EQ_INT(pystr_read(&m, o, make_str(o, 1, 1, 1, "fib", 3), out, sizeof(out), &len), 0);
    T_EQ_STR(out, "fib");
    T_EQ_INT(len, 3);
    /* Latin-1 (kind 1, not ascii): "größe" */
    {
        const uint8_t l1[] = { 'g', 'r', 0xf6, 0xdf, 'e' };
        T_EQ_INT(pystr_read(&m, o, make_str(o, 1, 0, 1, l1, 5), out, sizeof(out), &len), 0);
        T_EQ_STR(out, "gr\xc3\xb6\xc3\x9f" "e");
    }
    /* UCS-2: "函数" */
    {
        const uint16_t u2[] = { 0x51fd, 0x6570 };
        T_EQ_INT(pystr_read(&m, o, make_str(o, 2, 0, 1, u2, 2), out, sizeof(out), &len), 0);
        T_EQ_STR(out, "\xe5\x87\xbd\xe6\x95\xb0");
    }
    /* UCS-4 with a non-BMP code point and a lone surrogate (written as U+FFFD). */
    {
        const uint32_t u4[] = { 0x1d49c, 0xd800, 'x' };
        T_EQ_INT(pystr_read(&m, o, make_str(o, 4, 0, 1, u4, 3), out, sizeof(out), &len), 0);
        T_EQ_STR(out, "\xf0\x9d\x92\x9c\xef\xbf\xbdx");
    }
    /* Long strings are truncated to PYSTR_MAX_CHARS, and a small buffer is never overrun. */
    {
        static char many[PYSTR_MAX_CHARS + 100];
        char small[8];

        memset(many, 'a', sizeof(many));
        T_EQ_INT(pystr_read(&m, o, make_str(o, 1, 1, 1, many, sizeof(many)), out, sizeof(out),
                            &len), 0);
        T_EQ_INT(len, PYSTR_MAX_CHARS);
        T_EQ_INT(pystr_read(&m, o, make_str(o, 1, 1, 1, many, 100), small, sizeof(small), &len),
                 0);
        T_EQ_INT(len, 7);
        T_EQ_STR(small, "aaaaaaa");
    }
    /* Implausible objects: not compact, bad kind, negative length, ascii with kind 2. */
    T_EQ_INT(pystr_read(&m, o, make_str(o, 1, 1, 0, "x", 1), out, sizeof(out), &len), PYSTR_E_BAD);
    T_EQ_INT(pystr_read(&m, o, make_str(o, 3, 0, 1, "xyz", 1), out, sizeof(out), &len),
             PYSTR_E_BAD);
    T_EQ_INT(pystr_read(&m, o, make_str(o, 1, 1, 1, "x", -1), out, sizeof(out), &len),
             PYSTR_E_BAD);
    T_EQ_INT(pystr_read(&m, o, make_str(o, 2, 1, 1, "xx", 1), out, sizeof(out), &len),
             PYSTR_E_BAD);
    /* Unmapped address. */
    T_EQ_INT(pystr_read(&m, o, 16, out, sizeof(out), &len), PYSTR_E_BAD);

    /* A str at the very end of a mapping: the optimistic 256-byte read faults, the exact one works. */
    {
        uint8_t *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        size_t at = 8192 - 4096 - (o->unicode_ascii_size + 4);
        int64_t n = 4;
        uint32_t state = 1u << o->unicode_kind_shift | 1u << o->unicode_compact_shift |
                         1u << o->unicode_ascii_shift;

        munmap(page + 4096, 4096);
        memcpy(page + at + o->unicode_length, &n, 8);
        memcpy(page + at + o->unicode_state, &state, 4);
        memcpy(page + at + o->unicode_ascii_size, "edge", 4);
        T_EQ_INT(pystr_read(&m, o, (uintptr_t)(page + at), out, sizeof(out), &len), 0);
        T_EQ_STR(out, "edge");
        munmap(page, 4096);
    }

    /* bytes: short, long (needs a second read), and too large. */
    {
        int64_t n = 5;

        memset(obj, 0, 4096);
        memcpy(obj + o->bytes_size, &n, 8);
        memcpy(obj + o->bytes_sval, "\x01\x02\x00\x04\x05", 5);
        T_EQ_INT(pystr_read_bytes(&m, o, (uintptr_t)obj, &bytes, &len), 0);
        T_EQ_INT(len, 5);
        T_ASSERT(bytes && !memcmp(bytes, "\x01\x02\x00\x04\x05", 5));
        free(bytes);
        n = 3000;
        for (int i = 0; i < 3000; i++)
            obj[o->bytes_sval + i] = (uint8_t)(i * 7);
        memcpy(obj + o->bytes_size, &n, 8);
        T_EQ_INT(pystr_read_bytes(&m, o, (uintptr_t)obj, &bytes, &len), 0);
        T_EQ_INT(len, 3000);
        T_ASSERT(bytes && bytes[2999] == (uint8_t)(2999 * 7) && bytes[300] == (uint8_t)(300 * 7));
        free(bytes);
        n = (int64_t)PYSTR_MAX_BYTES + 1;
        memcpy(obj + o->bytes_size, &n, 8);
        T_EQ_INT(pystr_read_bytes(&m, o, (uintptr_t)obj, &bytes, &len), PYSTR_E_BAD);
        n = -1;
        memcpy(obj + o->bytes_size, &n, 8);
        T_EQ_INT(pystr_read_bytes(&m, o, (uintptr_t)obj, &bytes, &len), PYSTR_E_BAD);
    }
    T_DONE();
}
