/* SPDX-License-Identifier: MIT */
/* Unit test: procmaps parsing, lookup and load bases. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sys/procmaps.h"
#include "t.h"

static const char sample[] =
    "55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1234   /usr/bin/python3.11\n"
    "55d0c0a01000-55d0c0c00000 r-xp 00001000 08:01 1234   /usr/bin/python3.11\n"
    "7f0000000000-7f0000021000 rw-p 00000000 00:00 0 \n"
    "7f1000000000-7f1000100000 r--p 00000000 08:01 99     /opt/py/lib/libpython3.12.so.1.0\n"
    "7f1000100000-7f1000300000 r-xp 00100000 08:01 99     /opt/py/lib/libpython3.12.so.1.0\n"
    "7f2000000000-7f2000001000 rw-p 00000000 08:01 77     /tmp/my lib.so (deleted)\n"
    "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0      [stack]\n";

int main(void)
{
    struct procmaps pm = { 0 };
    const struct procmap *m;
    FILE *f = fmemopen((void *)sample, sizeof(sample) - 1, "r");

    T_EQ_INT(procmaps_parse(&pm, f), 0);
    fclose(f);
    T_EQ_INT(pm.n_maps, 7);
    T_EQ_INT(pm.maps[0].start, 0x55d0c0a00000ull);
    T_EQ_INT(pm.maps[1].offset, 0x1000);
    T_EQ_STR(pm.maps[1].perms, "r-xp");
    T_EQ_STR(pm.maps[2].path, "");
    T_EQ_STR(pm.maps[5].path, "/tmp/my lib.so");
    T_ASSERT(pm.maps[5].deleted);
    T_ASSERT(!pm.maps[4].deleted);
    T_EQ_STR(pm.maps[6].path, "[stack]");

    m = procmaps_find(&pm, 0x7f1000100010ull);
    T_ASSERT(m && m == &pm.maps[4]);
    T_ASSERT(procmaps_find(&pm, 0x7f1000300000ull) == NULL); /* end is exclusive */
    T_ASSERT(procmaps_find(&pm, 0x10) == NULL);
    T_EQ_INT(procmaps_base(&pm, "/opt/py/lib/libpython3.12.so.1.0"), 0x7f1000000000ull);
    T_EQ_INT(procmaps_base(&pm, "/usr/bin/python3.11"), 0x55d0c0a00000ull);
    T_EQ_INT(procmaps_base(&pm, "/nope"), 0);
    procmaps_free(&pm);
    T_EQ_INT(pm.n_maps, 0);

    /* Garbage is refused, not half-parsed. */
    {
        static const char bad[] = "55d0c0a00000-55d0c0a01000 r--p\nnot a line\n";
        f = fmemopen((void *)bad, sizeof(bad) - 1, "r");
        T_EQ_INT(procmaps_parse(&pm, f), PROCMAPS_E_PARSE);
        T_EQ_INT(pm.n_maps, 0);
        fclose(f);
    }
    {
        static const char inverted[] = "2000-1000 r--p 00000000 00:00 0\n";
        f = fmemopen((void *)inverted, sizeof(inverted) - 1, "r");
        T_EQ_INT(procmaps_parse(&pm, f), PROCMAPS_E_PARSE);
        fclose(f);
    }

    /* Our own maps: the test binary's code is mapped and found. */
    T_EQ_INT(procmaps_load(&pm, getpid()), 0);
    m = procmaps_find(&pm, (uint64_t)(uintptr_t)&main);
    T_ASSERT(m && m->perms[2] == 'x');
    procmaps_free(&pm);
    T_EQ_INT(procmaps_load(&pm, 0x3fffffff), PROCMAPS_E_GONE);
    T_DONE();
}
