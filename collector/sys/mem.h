/* SPDX-License-Identifier: MIT */
/*
 * mem: read another process's memory with process_vm_readv, one range or a batch; or, for tests
 * and fuzzing, read a recorded memory image with the same calls and the same return codes.
 */
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

/* One recorded range of a memory image: @len bytes that were at remote address @addr. */
struct mem_region {
    uint64_t addr;
    uint64_t len;
    const uint8_t *bytes;  /* borrowed */
};

/*
 * A memory image: regions sorted by address, not overlapping, none wrapping the address space
 * (mem_image_check()). Everything outside them reads as unmapped (MEM_E_FAULT). Optional @trace
 * is called with every range asked for, before it is copied (the recorder uses it to keep only
 * the pages a walk touches).
 */
struct mem_image {
    const struct mem_region *regions;  /* borrowed */
    size_t n;
    void (*trace)(void *arg, uint64_t addr, size_t len);
    void *trace_arg;
};

struct mem {
    pid_t pid;
    uint64_t n_reads;  /* process_vm_readv calls made (image: batches read) */
    uint64_t n_bytes;  /* bytes asked for */
    const struct mem_image *image;  /* NULL: the live process @pid; else read only this */
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
 * mem_init_image() - prepare reads from @img (borrowed; must outlive @m) instead of a process.
 * Every function below then copies out of the image: a range not wholly inside one region is
 * MEM_E_FAULT (a range spanning two adjacent regions is read across them), nothing is GONE or
 * PERM. @pid is only recorded (callers use it to name the process). @img must pass
 * mem_image_check().
 */
void mem_init_image(struct mem *m, pid_t pid, const struct mem_image *img);

/*
 * mem_image_check() - whether @img's regions are sorted, disjoint, non-empty and do not wrap.
 * Returns 0 or MEM_E_FAULT.
 */
int mem_image_check(const struct mem_image *img);

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
