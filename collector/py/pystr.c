/* SPDX-License-Identifier: MIT */
/* pystr: read str and bytes objects out of a CPython process. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pyprof/err.h"
#include "py/pystr.h"

/* One read covers the header and the first bytes of the data of most names and paths. */
#define FIRST_READ 256

static int from_mem(int r)
{
    if (r == MEM_E_GONE)
        return PYSTR_E_GONE;
    return r < 0 ? r : PYSTR_E_BAD;
}

/*
 * Read the start of the object at @addr into @buf (FIRST_READ bytes). The read is optimistic: if
 * it faults because the object sits at the end of a mapping, read just the @hdr header bytes.
 * Returns the mem_read() result, and in *got how many bytes of @buf are valid.
 */
static int read_head(struct mem *m, uint64_t addr, uint8_t *buf, size_t hdr, size_t *got)
{
    int r = mem_read(m, addr, buf, FIRST_READ);

    *got = FIRST_READ;
    if (r == MEM_E_FAULT) {
        r = mem_read(m, addr, buf, hdr);
        *got = hdr;
    }
    return r;
}

static size_t put_utf8(char *out, uint32_t c)
{
    if (c >= 0xd800 && c <= 0xdfff)
        c = 0xfffd;
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    if (c > 0x10ffff)
        c = 0xfffd;
    out[0] = (char)(0xf0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

int pystr_read(struct mem *m, const struct py_offsets *off, uint64_t addr, char *out, size_t cap,
               size_t *out_len)
{
    uint8_t buf[FIRST_READ + 4 * PYSTR_MAX_CHARS];
    size_t data_at, n, o = 0, got;
    uint32_t state, kind;
    int64_t length;
    int r;

    if (!cap)
        return pp_err_origin(-EINVAL);
    r = read_head(m, addr, buf, off->unicode_ascii_size, &got);
    if (r)
        return from_mem(r);
    memcpy(&length, buf + off->unicode_length, sizeof(length));
    memcpy(&state, buf + off->unicode_state, sizeof(state));
    kind = (state >> off->unicode_kind_shift) & 7;
    if (!((state >> off->unicode_compact_shift) & 1) || length < 0 ||
        (kind != 1 && kind != 2 && kind != 4))
        return PYSTR_E_BAD;
    if ((state >> off->unicode_ascii_shift) & 1) {
        if (kind != 1)
            return PYSTR_E_BAD;
        data_at = off->unicode_ascii_size;
    } else {
        data_at = off->unicode_compact_size;
    }
    n = (size_t)length < PYSTR_MAX_CHARS ? (size_t)length : PYSTR_MAX_CHARS;
    if (data_at + n * kind > got) {
        r = mem_read(m, addr + data_at, buf + data_at, n * kind);
        if (r)
            return from_mem(r);
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = buf + data_at + i * kind;
        uint32_t c = kind == 1 ? p[0] : kind == 2 ? (uint32_t)(p[0] | p[1] << 8)
                                                  : (uint32_t)(p[0] | p[1] << 8 | p[2] << 16 |
                                                               (uint32_t)p[3] << 24);
        char enc[4];
        size_t k = put_utf8(enc, c);

        if (o + k + 1 > cap)
            break;
        memcpy(out + o, enc, k);
        o += k;
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return 0;
}

int pystr_read_bytes(struct mem *m, const struct py_offsets *off, uint64_t addr, uint8_t **out,
                     size_t *out_len)
{
    uint8_t buf[FIRST_READ];
    size_t hdr = off->bytes_sval, first, got;
    int64_t size;
    uint8_t *data;
    int r;

    r = read_head(m, addr, buf, hdr, &got);
    if (r)
        return from_mem(r);
    memcpy(&size, buf + off->bytes_size, sizeof(size));
    if (size < 0 || size > PYSTR_MAX_BYTES)
        return PYSTR_E_BAD;
    data = malloc(size ? (size_t)size : 1);
    if (!data)
        return pp_err_origin(-ENOMEM);
    first = got - hdr < (size_t)size ? got - hdr : (size_t)size;
    memcpy(data, buf + hdr, first);
    if ((size_t)size > first) {
        r = mem_read(m, addr + hdr + first, data + first, (size_t)size - first);
        if (r) {
            free(data);
            return from_mem(r);
        }
    }
    *out = data;
    *out_len = (size_t)size;
    return 0;
}
