/* SPDX-License-Identifier: MIT */
/* Unit test: symbol, section and load-delta lookups on our own executable. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "sys/elfsym.h"
#include "sys/procmaps.h"
#include "t.h"

int main(void)
{
    struct elfsym *e = NULL;
    struct procmaps pm = { 0 };
    uint64_t addr = 0, size = 0, bias;
    char self[64];

    T_EQ_INT(elfsym_open(&e, "/nonexistent/file"), ELFSYM_E_OPEN);
    T_EQ_INT(elfsym_open(&e, "/proc/self/status"), ELFSYM_E_NOTELF);
    T_EQ_INT(elfsym_open(&e, "/proc/self/exe"), 0);
    if (!e)
        T_DONE();
    /* elfsym_lookup is linked into this test: its link-time address plus the bias is itself. */
    T_EQ_INT(elfsym_lookup(e, "elfsym_lookup", &addr, &size), 0);
    T_ASSERT(size > 0);
    T_EQ_INT(procmaps_load(&pm, getpid()), 0);
    snprintf(self, sizeof(self), "/proc/%d/exe", (int)getpid());
    {
        char path[4096];
        ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

        T_ASSERT(n > 0);
        path[n > 0 ? n : 0] = '\0';
        bias = procmaps_base(&pm, path) - elfsym_load_delta(e);
        T_EQ_INT(addr + bias, (uint64_t)(uintptr_t)&elfsym_lookup);
    }
    T_EQ_INT(elfsym_lookup(e, "no_such_symbol_anywhere", NULL, NULL), ELFSYM_E_MISSING);
    T_EQ_INT(elfsym_section(e, ".text", &addr, &size), 0);
    T_ASSERT(size > 0);
    T_EQ_INT(elfsym_section(e, ".PyRuntime", NULL, NULL), ELFSYM_E_MISSING);
    procmaps_free(&pm);
    elfsym_close(e);
    T_DONE();
}
