/* SPDX-License-Identifier: MIT */
/* mem: read another process's memory with process_vm_readv. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
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
}

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
