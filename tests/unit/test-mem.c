/* SPDX-License-Identifier: MIT */
/* Unit test: process_vm_readv reads of our own memory and of a gone process. */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys/mem.h"
#include "t.h"

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
    T_DONE();
}
