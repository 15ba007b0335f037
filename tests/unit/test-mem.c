/* SPDX-License-Identifier: MIT */
/* Unit test: process_vm_readv reads of our own memory and of a gone process; image reads. */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys/mem.h"
#include "t.h"

/* Every range the image backend was asked for, in order (the trace hook). */
static uint64_t traced[16];
static size_t n_traced;

static void trace(void *arg, uint64_t addr, size_t len)
{
    (void)len;
    if (n_traced < 16)
        traced[n_traced++] = addr;
    ++*(int *)arg;
}

/* The image backend: the same calls and return codes as the live one, out of recorded regions. */
static void test_image(void)
{
    static const uint8_t r0[16] = "0123456789abcdef", r1[8] = "ADJACENT", r2[8] = "far away";
    const struct mem_region regs[3] = {
        { .addr = 0x1000, .len = 16, .bytes = r0 },
        { .addr = 0x1010, .len = 8, .bytes = r1 },  /* adjacent to the first */
        { .addr = 0x8000, .len = 8, .bytes = r2 },
    };
    struct mem_image img = { .regions = regs, .n = 3 };
    char buf[32] = { 0 }, a[4], b[8];
    uint64_t word = 0;
    size_t n_ok = 99;
    struct mem m;
    int calls = 0;

    T_EQ_INT(mem_image_check(&img), 0);
    mem_init_image(&m, 4242, &img);
    T_EQ_INT(m.pid, 4242);
    T_EQ_INT(mem_read(&m, 0x1002, buf, 4), 0);
    T_ASSERT(!memcmp(buf, "2345", 4));
    T_EQ_INT(mem_read(&m, 0x100c, buf, 12), 0); /* across the two adjacent regions */
    T_ASSERT(!memcmp(buf, "cdefADJACENT", 12));
    T_EQ_INT(mem_read(&m, 0x1014, buf, 8), MEM_E_FAULT); /* runs off the end */
    T_EQ_INT(mem_read(&m, 0x0fff, buf, 2), MEM_E_FAULT); /* starts before the first region */
    T_EQ_INT(mem_read(&m, 0x2000, buf, 1), MEM_E_FAULT); /* in the gap */
    T_EQ_INT(mem_read(&m, 0x8007, buf, 1), 0);
    T_EQ_INT(buf[0], 'y');
    T_EQ_INT(mem_read(&m, 0x8008, buf, 1), MEM_E_FAULT); /* past the last region */
    T_EQ_INT(mem_read(&m, UINT64_MAX - 3, buf, 8), MEM_E_FAULT); /* wraps around */
    T_EQ_INT(mem_read(&m, 0, buf, 0), 0);
    T_EQ_INT(mem_read_u64(&m, 0x8000, &word), 0);
    T_ASSERT(!memcmp(&word, "far away", 8));

    {
        struct mem_range pr[3] = {
            { .addr = 0x1000, .buf = a, .len = 4 },
            { .addr = 0x8000, .buf = b, .len = 8 },
            { .addr = 0x9000, .buf = buf, .len = 8 },
        };

        T_EQ_INT(mem_readv(&m, pr, 2), 0);
        T_ASSERT(!memcmp(a, "0123", 4) && !memcmp(b, "far away", 8));
        T_EQ_INT(mem_readv(&m, pr, 3), MEM_E_FAULT);
        T_EQ_INT(mem_readv_prefix(&m, pr, 3, &n_ok), 0);
        T_EQ_INT(n_ok, 2);
        pr[0].addr = 8; /* the first range bad: nothing read, still not an error */
        T_EQ_INT(mem_readv_prefix(&m, pr, 3, &n_ok), 0);
        T_EQ_INT(n_ok, 0);
        pr[0].len = 0; /* an empty range is always read */
        T_EQ_INT(mem_readv_prefix(&m, pr, 2, &n_ok), 0);
        T_EQ_INT(n_ok, 2);
    }

    /* The trace hook sees every range asked for, read or not. */
    img.trace = trace;
    img.trace_arg = &calls;
    T_EQ_INT(mem_read(&m, 0x1000, buf, 4), 0);
    T_EQ_INT(mem_read(&m, 0x3000, buf, 4), MEM_E_FAULT);
    T_EQ_INT(calls, 2);
    T_EQ_INT(traced[0], 0x1000);
    T_EQ_INT(traced[1], 0x3000);

    /* Malformed images are refused. */
    {
        struct mem_region bad[2] = { regs[0], regs[0] };
        struct mem_image bi = { .regions = bad, .n = 2 };

        T_EQ_INT(mem_image_check(&bi), MEM_E_FAULT); /* overlapping */
        bad[1].addr = 0x0800;
        T_EQ_INT(mem_image_check(&bi), MEM_E_FAULT); /* unsorted */
        bad[1].addr = UINT64_MAX - 4;
        T_EQ_INT(mem_image_check(&bi), MEM_E_FAULT); /* wraps */
        bad[1].addr = 0x4000;
        bad[1].len = 0;
        T_EQ_INT(mem_image_check(&bi), MEM_E_FAULT); /* empty */
        bad[1].len = 4;
        T_EQ_INT(mem_image_check(&bi), 0);
    }
}

int main(void)
{
    static const char text[] = "remote memory is hostile";
    char buf[64] = { 0 }, a[4], b[8];
    uint64_t word = 0x1122334455667788ull, got = 0;
    struct mem m;
    struct mem_range r[2];
    char *page;
    pid_t child;

    mem_init(&m, getpid());
    T_EQ_INT(mem_read(&m, (uintptr_t)text, buf, sizeof(text)), 0);
    T_EQ_STR(buf, text);
    T_EQ_INT(mem_read_u64(&m, (uintptr_t)&word, &got), 0);
    T_EQ_INT(got, 0x1122334455667788ull);
    T_EQ_INT(mem_read(&m, (uintptr_t)text, buf, 0), 0);

    /* A batch of two ranges, one call. */
    r[0] = (struct mem_range){ .addr = (uintptr_t)text, .buf = a, .len = 4 };
    r[1] = (struct mem_range){ .addr = (uintptr_t)text + 7, .buf = b, .len = 6 };
    m.n_reads = 0;
    T_EQ_INT(mem_readv(&m, r, 2), 0);
    T_EQ_INT(m.n_reads, 1);
    T_ASSERT(!memcmp(a, "remo", 4) && !memcmp(b, "memory", 6));

    /* Unmapped memory and a range that runs off the end of a mapping are faults. */
    page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    T_ASSERT(page != MAP_FAILED);
    munmap(page + 4096, 4096);
    T_EQ_INT(mem_read(&m, (uintptr_t)page + 4096, buf, 8), MEM_E_FAULT);
    T_EQ_INT(mem_read(&m, (uintptr_t)page + 4090, buf, 16), MEM_E_FAULT);
    T_EQ_INT(mem_read(&m, 8, buf, 8), MEM_E_FAULT);
    T_EQ_INT(mem_read(&m, UINT64_MAX - 3, buf, 8), MEM_E_FAULT); /* wraps around */

    /* A batch that runs into unmapped memory: the leading ranges still count. */
    {
        struct mem_range pr[3] = {
            { .addr = (uintptr_t)text, .buf = a, .len = 4 },
            { .addr = (uintptr_t)page, .buf = b, .len = 8 },
            { .addr = (uintptr_t)page + 4096, .buf = buf, .len = 8 },
        };
        size_t n_ok = 99;

        memcpy(page, "pagedata", 8);
        T_EQ_INT(mem_readv_prefix(&m, pr, 3, &n_ok), 0);
        T_EQ_INT(n_ok, 2);
        T_ASSERT(!memcmp(b, "pagedata", 8));
        T_EQ_INT(mem_readv(&m, pr, 3), MEM_E_FAULT);
        pr[0].addr = 8; /* the first range bad: nothing read, still not an error */
        T_EQ_INT(mem_readv_prefix(&m, pr, 3, &n_ok), 0);
        T_EQ_INT(n_ok, 0);
        pr[0].addr = (uintptr_t)text;
        T_EQ_INT(mem_readv_prefix(&m, pr, 2, &n_ok), 0);
        T_EQ_INT(n_ok, 2);
    }
    munmap(page, 4096);

    /* A process that is gone. */
    child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    mem_init(&m, child);
    T_EQ_INT(mem_read(&m, (uintptr_t)text, buf, 8), MEM_E_GONE);

    test_image();
    T_DONE();
}
