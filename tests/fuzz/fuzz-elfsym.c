/* SPDX-License-Identifier: MIT */
/* fuzz-elfsym: elfsym_open() and lookups on a hostile file (the input, written to a temp file:
 * the collector opens /proc/PID/root/... paths that a target controls). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sys/elfsym.h"

static char path[64];

static void cleanup(void)
{
    if (path[0])
        unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const syms[] = {"_PyRuntime", "Py_Version", "PyThreadState_Get", "main",
                                       "", "_PyRuntime\xff"};
    static const char *const secs[] = {".PyRuntime", ".text", ".data", ".symtab", ""};
    struct elfsym *e = NULL;
    uint64_t addr, sz;
    FILE *f;

    if (!path[0]) {
        int fd;

        snprintf(path, sizeof(path), "/tmp/fuzz-elfsym-%ld-XXXXXX", (long)getpid());
        fd = mkstemp(path);
        if (fd < 0)
            abort();
        close(fd);
        atexit(cleanup);
    }
    f = fopen(path, "w");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);

    if (elfsym_open(&e, path) == 0) {
        for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
            (void)elfsym_lookup(e, syms[i], &addr, &sz);
        for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++)
            (void)elfsym_section(e, secs[i], &addr, &sz);
        (void)elfsym_load_delta(e);
        e = elfsym_close(e);
    }
    return 0;
}
