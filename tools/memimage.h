/* SPDX-License-Identifier: MIT */
/*
 * memimage: the file format of a recorded CPython memory image, shared by the recorder
 * (tools/memimage.c), the walk fuzz target (tests/fuzz/fuzz-walk.c) and the replay test
 * (tests/unit/test-walkimage.c). Header-only: every function is static inline.
 *
 * Layout (all integers little-endian):
 *   0   char     magic[8]      "PPMEMIM1"
 *   8   uint32   major, minor, micro   CPython version of the recorded process
 *   20  uint32   pid           its PID when recorded (only a name: never read through /proc)
 *   24  uint64   runtime       &_PyRuntime
 *   32  uint64   interp_head   the first interpreter (discover_interp_head())
 *   40  uint64   code_type     &PyCode_Type, 0 if unknown
 *   48  uint64   frame_type    &PyFrame_Type, 0 if unknown
 *   56  uint32   n_regions     at most MEMIMAGE_MAX_REGIONS
 *   60  uint32   reserved      0
 *   64  n_regions x { uint64 addr; uint64 len; }   sorted by address, disjoint
 *   ..  the regions' bytes, one after the other in table order (trailing bytes are ignored)
 * The regions are the pages a walk of the process read (the recorder drops the rest), so a walk
 * of the unmodified image reads exactly what the live walk read.
 */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "py/debugoffsets.h"
#include "py/discover.h"
#include "py/offsets.h"
#include "sys/mem.h"

#define MEMIMAGE_MAGIC "PPMEMIM1"
#define MEMIMAGE_HDR 64
#define MEMIMAGE_MAX_REGIONS 65536

struct memimage_hdr {
    uint32_t major, minor, micro, pid;
    uint64_t runtime, interp_head, code_type, frame_type;
};

/* A parsed image: the header, and the regions (malloc'd) pointing into the caller's buffer. */
struct memimage {
    struct memimage_hdr hdr;
    struct mem_region *regions;
    struct mem_image img;
};

static inline uint64_t memimage_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline void memimage_put(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* memimage_free() - release what memimage_parse() allocated. NULL-safe on a zeroed struct. */
static inline void memimage_free(struct memimage *mi)
{
    free(mi->regions);
    mi->regions = NULL;
    mi->img.regions = NULL;
    mi->img.n = 0;
}

/*
 * memimage_parse() - parse @len bytes at @buf (borrowed: the regions point into it). Returns 0
 * with *mi filled (free with memimage_free()), or -1 if it is not a well-formed image.
 */
static inline int memimage_parse(struct memimage *mi, const uint8_t *buf, size_t len)
{
    uint64_t n, off, total = 0;

    memset(mi, 0, sizeof(*mi));
    if (len < MEMIMAGE_HDR || memcmp(buf, MEMIMAGE_MAGIC, 8))
        return -1;
    mi->hdr.major = (uint32_t)memimage_le(buf + 8, 4);
    mi->hdr.minor = (uint32_t)memimage_le(buf + 12, 4);
    mi->hdr.micro = (uint32_t)memimage_le(buf + 16, 4);
    mi->hdr.pid = (uint32_t)memimage_le(buf + 20, 4);
    mi->hdr.runtime = memimage_le(buf + 24, 8);
    mi->hdr.interp_head = memimage_le(buf + 32, 8);
    mi->hdr.code_type = memimage_le(buf + 40, 8);
    mi->hdr.frame_type = memimage_le(buf + 48, 8);
    n = memimage_le(buf + 56, 4);
    if (n > MEMIMAGE_MAX_REGIONS || n * 16 > len - MEMIMAGE_HDR)
        return -1;
    mi->regions = calloc(n ? n : 1, sizeof(*mi->regions));
    if (!mi->regions)
        return -1;
    off = MEMIMAGE_HDR + n * 16;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = buf + MEMIMAGE_HDR + i * 16;

        mi->regions[i].addr = memimage_le(e, 8);
        mi->regions[i].len = memimage_le(e + 8, 8);
        if (mi->regions[i].len > len - off - total)
            goto bad;
        mi->regions[i].bytes = buf + off + total;
        total += mi->regions[i].len;
    }
    mi->img.regions = mi->regions;
    mi->img.n = (size_t)n;
    if (mem_image_check(&mi->img))
        goto bad;
    return 0;
bad:
    memimage_free(mi);
    return -1;
}

/*
 * memimage_runtime() - the py_runtime of the recorded process, the way discover_runtime() builds
 * it once it has found _PyRuntime: the built-in offset table for <= 3.12, the image's own
 * _Py_DebugOffsets (read through @m) for 3.13+. Returns 0, or -1 (unsupported or bad offsets).
 */
static inline int memimage_runtime(const struct memimage *mi, struct mem *m, struct py_runtime *rt)
{
    const struct py_offsets *table;

    memset(rt, 0, sizeof(*rt));
    rt->major = mi->hdr.major;
    rt->minor = mi->hdr.minor;
    rt->micro = mi->hdr.micro;
    rt->runtime_addr = mi->hdr.runtime;
    rt->code_type = mi->hdr.code_type;
    rt->frame_type = mi->hdr.frame_type;
    if (rt->major == 3 && rt->minor >= 13) {
        uint8_t dbg[DEBUGOFFSETS_READ_SIZE];

        if (mem_read(m, rt->runtime_addr, dbg, sizeof(dbg)) ||
            debugoffsets_parse(dbg, sizeof(dbg), &rt->off))
            return -1;
        return 0;
    }
    if (offsets_for_version(rt->major, rt->minor, &table))
        return -1;
    rt->off = *table;
    return 0;
}

#ifdef MEMIMAGE_WANT_FOLDED
#include <stdio.h>

#include "pyprof/folded.h"

/*
 * memimage_folded() - @a as folded text (no thread roots), with every file name cut to its base
 * name, so that a recording does not depend on where its target script lived. A malloc'd
 * string, or NULL on failure.
 */
static inline char *memimage_folded(const struct pp_agg *a)
{
    struct pp_folded_opts fo = { .threads = false };
    char *buf = NULL, *out;
    size_t len = 0, o = 0, paren = 0;
    bool in = false;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return NULL;
    if (pp_folded_write(a, &fo, f) != 0) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    out = malloc(len + 1);
    if (!out) {
        free(buf);
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];

        if (c == '(' && !in) {
            in = true;
            out[o++] = c;
            paren = o;
            continue;
        }
        if (in && c == ')')
            in = false;
        if (in && c == '/') {
            o = paren;
            continue;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    free(buf);
    return out;
}
#endif
