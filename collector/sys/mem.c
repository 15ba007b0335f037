/* SPDX-License-Identifier: MIT */
/* mem: read another process's memory with process_vm_readv. */
#include <errno.h>
#include <limits.h>
#include <sys/uio.h>

#include "pyprof/err.h"
#include "sys/mem.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif
#define MEM_BATCH 64 /* iovecs per syscall; well under IOV_MAX and on the stack */

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

int mem_readv(struct mem *m, const struct mem_range *r, size_t n)
{
    struct iovec local[MEM_BATCH], remote[MEM_BATCH];
    size_t i = 0;

    while (i < n) {
        size_t k = 0, want = 0;
        ssize_t got;

        for (; i < n && k < MEM_BATCH; i++) {
            if (!r[i].len)
                continue;
            /* A range that wraps the address space is invalid remote memory, not our bug. */
            if (r[i].addr + r[i].len < r[i].addr)
                return MEM_E_FAULT;
            local[k].iov_base = r[i].buf;
            local[k].iov_len = r[i].len;
            remote[k].iov_base = (void *)(uintptr_t)r[i].addr;
            remote[k].iov_len = r[i].len;
            want += r[i].len;
            k++;
        }
        if (!k)
            break;
        m->n_reads++;
        m->n_bytes += want;
        got = process_vm_readv(m->pid, local, k, remote, k, 0);
        if (got < 0)
            return map_errno(errno);
        if ((size_t)got != want)
            return MEM_E_FAULT;
    }
    return 0;
}

int mem_read_u64(struct mem *m, uint64_t addr, uint64_t *out)
{
    return mem_read(m, addr, out, sizeof(*out));
}
