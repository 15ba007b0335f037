/* SPDX-License-Identifier: MIT */
/* fuzz-folded: pp_folded_read() on hostile text, then every writer over what it accepted. */
#include <stdint.h>
#include <stdio.h>

#include "pyprof/folded.h"
#include "pyprof/pprof.h"
#include "pyprof/svg.h"

static FILE *devnull(void)
{
    static FILE *f;

    if (!f)
        f = fopen("/dev/null", "w");
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pp_agg *a = NULL;
    struct pp_folded_opts fo = {.threads = size & 1};
    struct pp_svg_opts so = {.icicle = size & 2, .threads = size & 1};
    struct pp_meta m = {.title = "fuzz", .rate_hz = 100};
    size_t line = 0;
    FILE *in;

    if (size == 0) /* fmemopen() refuses a 0-byte buffer */
        return 0;
    in = fmemopen((void *)data, size, "r");
    if (!in)
        return 0;
    if (pp_agg_new(&a) != 0) {
        fclose(in);
        return 0;
    }
    (void)pp_folded_read(a, in, &line); /* on error @a holds the lines before it: write those too */
    fclose(in);

    pp_folded_write(a, &fo, devnull());
    pp_svg_write(a, &m, &so, devnull());
    {
        /* Round trip through pprof: what we accept, we must be able to write and read back. */
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);

        if (mem) {
            int w = pp_pprof_write(a, &m, mem);

            fclose(mem);
            if (w == 0) {
                struct pp_agg *b = NULL;

                if (pp_agg_new(&b) == 0) {
                    int r = pp_pprof_read(b, buf, len, NULL);

                    if (r == PP_PPROF_E_FORMAT)
                        __builtin_trap(); /* our own pprof output must parse */
                    pp_agg_free(b);
                }
            }
            free(buf);
        }
    }
    pp_agg_free(a);
    return 0;
}
