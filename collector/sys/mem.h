/* SPDX-License-Identifier: MIT */
/* mem: read another process's memory with process_vm_readv, one range or a batch. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
    MEM_E_NONE = 0,
    MEM_E_FAULT, /* some address in the range is not mapped (EFAULT) or the read came back short */
    MEM_E_GONE,  /* the process no longer exists (ESRCH) */
    MEM_E_PERM,  /* not allowed to read it (EPERM) */
};

struct mem {
    pid_t pid;
    uint64_t n_reads;  /* process_vm_readv calls made */
    uint64_t n_bytes;  /* bytes asked for */
};

/* One range of a batch: len bytes at remote address addr into buf. */
struct mem_range {
    uint64_t addr;
    void *buf;
    size_t len;
};

/* mem_init() - prepare reads from @pid. Opens nothing, cannot fail. */
void mem_init(struct mem *m, pid_t pid);

/*
 * mem_read() - copy @len bytes at remote @addr into @buf with one syscall.
 * Returns 0 (all bytes copied), MEM_E_FAULT, MEM_E_GONE, MEM_E_PERM, or a negative errno for
 * anything unexpected. On a non-zero return @buf's content is unspecified. @len 0 returns 0.
 */
int mem_read(struct mem *m, uint64_t addr, void *buf, size_t len);

/*
 * mem_readv() - read @n ranges in as few process_vm_readv calls as possible (IOV_MAX per call).
 * Returns 0 only if every range was read in full; otherwise the first failure as for mem_read().
 * process_vm_readv stops at the first bad remote range, so on MEM_E_FAULT the ranges before it may
 * be valid but the caller cannot tell which: retry singly if that matters.
 */
int mem_readv(struct mem *m, const struct mem_range *r, size_t n);

/*
 * mem_readv_prefix() - like mem_readv(), but a fault is not an error: *n_ok is set to the number
 * of leading ranges that were read in full (process_vm_readv stops at the first bad range), and
 * the rest are to be treated as unread. Returns 0, MEM_E_GONE, MEM_E_PERM or a negative errno.
 */
int mem_readv_prefix(struct mem *m, const struct mem_range *r, size_t n, size_t *n_ok);

/* mem_read_u64() - read one little-endian 8-byte word. Same returns as mem_read(). */
int mem_read_u64(struct mem *m, uint64_t addr, uint64_t *out);
