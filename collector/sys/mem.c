/* SPDX-License-Identifier: MIT */
/* mem: read another process's memory with process_vm_readv, or a recorded memory image. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/uio.h>

#include "pyprof/err.h"
#include "sys/mem.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif
#define MEM_BATCH 512 /* iovecs per syscall; under IOV_MAX, 16 KiB of stack */

void mem_init(struct mem *m, pid_t pid)
{
    m->pid = pid;
    m->n_reads = 0;
    m->n_bytes = 0;
    m->image = NULL;
}

void mem_init_image(struct mem *m, pid_t pid, const struct mem_image *img)
{
    mem_init(m, pid);
    m->image = img;
}

int mem_image_check(const struct mem_image *img)
{
    uint64_t end = 0;

    for (size_t i = 0; i < img->n; i++) {
        const struct mem_region *g = &img->regions[i];

        if (!g->len || g->addr + g->len < g->addr || (i && g->addr < end) || !g->bytes)
            return MEM_E_FAULT;
        end = g->addr + g->len;
    }
    return 0;
}

/* ===== Image backend ===== */

/* The index of the last region starting at or below @addr, or img->n if there is none. */
static size_t image_find(const struct mem_image *img, uint64_t addr)
{
    size_t lo = 0, hi = img->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (img->regions[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? lo - 1 : img->n;
}

/* Copy @len bytes at @addr out of @img, across adjacent regions. true if all were there. */
static bool image_copy(const struct mem_image *img, uint64_t addr, uint8_t *buf, size_t len)
{
    size_t i = image_find(img, addr);

    if (img->trace)
        img->trace(img->trace_arg, addr, len);
    if (addr + len < addr)
        return false;
    while (len) {
        const struct mem_region *g;
        uint64_t off, n;

        if (i >= img->n)
            return false;
        g = &img->regions[i];
        if (addr < g->addr || addr - g->addr >= g->len)
            return false;
        off = addr - g->addr;
        n = g->len - off < len ? g->len - off : len;
        memcpy(buf, g->bytes + off, n);
        buf += n;
        addr += n;
        len -= n;
        i++;
    }
    return true;
}

/* readv_ranges() over an image: the same results as process_vm_readv would give. */
static int image_readv(struct mem *m, const struct mem_range *r, size_t n, bool prefix,
                       size_t *n_ok)
{
    m->n_reads++;
    for (size_t i = 0; i < n; i++) {
        if (!r[i].len)
            continue;
        m->n_bytes += r[i].len;
        if (!image_copy(m->image, r[i].addr, r[i].buf, r[i].len)) {
            *n_ok = i;
            return prefix ? 0 : MEM_E_FAULT;
        }
    }
    *n_ok = n;
    return 0;
}

/* ===== Live process ===== */

static int map_errno(int e)
{
    switch (e) {
    case EFAULT:
    case EIO:
        return MEM_E_FAULT;
    case ESRCH:
        return MEM_E_GONE;
    case EPERM:
    case EACCES:
        return MEM_E_PERM;
    default:
        return pp_err_origin(-e);
    }
}

int mem_read(struct mem *m, uint64_t addr, void *buf, size_t len)
{
    struct mem_range r = { .addr = addr, .buf = buf, .len = len };

    return mem_readv(m, &r, 1);
}

/*
 * Read ranges from @r in batches. With @prefix, stop quietly at the first range not read in full
 * and report how many leading ranges were; without it, that is MEM_E_FAULT.
 */
static int readv_ranges(struct mem *m, const struct mem_range *r, size_t n, bool prefix,
                        size_t *n_ok)
{
    struct iovec local[MEM_BATCH], remote[MEM_BATCH];
    size_t idx[MEM_BATCH];
    size_t i = 0;

    *n_ok = 0;
    if (m->image)
        return image_readv(m, r, n, prefix, n_ok);
    while (i < n) {
        size_t k = 0, want = 0, done = 0;
        ssize_t got;

        for (; i < n && k < MEM_BATCH; i++) {
            if (!r[i].len)
                continue;
            /* A range that wraps the address space is invalid remote memory, not our bug. */
            if (r[i].addr + r[i].len < r[i].addr)
                break;
            local[k].iov_base = r[i].buf;
            local[k].iov_len = r[i].len;
            remote[k].iov_base = (void *)(uintptr_t)r[i].addr;
            remote[k].iov_len = r[i].len;
            idx[k] = i;
            want += r[i].len;
            k++;
        }
        if (!k && i < n) /* a wrapping range first in its batch */
            return prefix ? 0 : MEM_E_FAULT;
        if (!k)
            break;
        m->n_reads++;
        m->n_bytes += want;
        got = process_vm_readv(m->pid, local, k, remote, k, 0);
        if (got < 0) {
            int e = map_errno(errno);

            return prefix && e == MEM_E_FAULT ? 0 : e;
        }
        if ((size_t)got != want) {
            if (!prefix)
                return MEM_E_FAULT;
            for (size_t j = 0; j < k && done + local[j].iov_len <= (size_t)got; j++) {
                done += local[j].iov_len;
                *n_ok = idx[j] + 1;
            }
            return 0;
        }
        *n_ok = idx[k - 1] + 1;
        if (i < n && r[i].addr + r[i].len < r[i].addr && r[i].len)
            return prefix ? 0 : MEM_E_FAULT;
    }
    *n_ok = n;
    return 0;
}

int mem_readv(struct mem *m, const struct mem_range *r, size_t n)
{
    size_t n_ok;

    return readv_ranges(m, r, n, false, &n_ok);
}

int mem_readv_prefix(struct mem *m, const struct mem_range *r, size_t n, size_t *n_ok)
{
    return readv_ranges(m, r, n, true, n_ok);
}

int mem_read_u64(struct mem *m, uint64_t addr, uint64_t *out)
{
    return mem_read(m, addr, out, sizeof(*out));
}
