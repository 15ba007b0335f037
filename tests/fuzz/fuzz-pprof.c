/* SPDX-License-Identifier: MIT */
/* fuzz-pprof: pp_pprof_read() on hostile bytes (raw, and gzipped when they start 1f 8b), then the
 * folded and SVG writers over what it accepted. */
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
    struct pp_meta m = {0};
    struct pp_folded_opts fo = {.threads = true};
    struct pp_svg_opts so = {.threads = size & 1};

    if (pp_agg_new(&a) != 0)
        return 0;
    if (pp_pprof_read(a, data, size, &m) == 0) {
        pp_folded_write(a, &fo, devnull());
        pp_svg_write(a, &m, &so, devnull());
        pp_pprof_write(a, &m, devnull());
    }
    pp_agg_free(a);
    return 0;
}
