/* SPDX-License-Identifier: MIT */
/*
 * fuzz-walk: the frame walker over a hostile memory image. The input is an image file
 * (tools/memimage.h; seeds: tests/fuzz/corpus/walk/py3.X.img.gz, recorded from real
 * interpreters and gunzipped by tools/fuzz.sh), so most mutations land in the recorded memory:
 * thread states, frames, code objects, strings, line tables. Inputs whose header or region table
 * do not parse are skipped. The runtime is set up as discover_runtime() does (3.13+ parses the
 * image's own _Py_DebugOffsets), then walker_sample() runs three times with idle=true (no /proc
 * reads for thread states) and the stacks are written as folded text. Must never crash, hang or
 * read outside the image.
 */
#include <stdint.h>
#include <stdio.h>

#include "py/walk.h"
#include "pyprof/folded.h"
#include "memimage.h"

static FILE *devnull(void)
{
    static FILE *f;

    if (!f)
        f = fopen("/dev/null", "w");
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct walk_opts wo = { .idle = true, .lineno = true, .full_filenames = true,
                            .function_lines = size & 1 };
    struct pp_folded_opts fo = { .threads = true };
    struct memimage mi;
    struct py_runtime rt;
    struct pp_agg *agg = NULL;
    struct walker *w = NULL;
    struct mem m;

    if (memimage_parse(&mi, data, size))
        return 0;
    mem_init_image(&m, (pid_t)mi.hdr.pid, &mi.img);
    if (memimage_runtime(&mi, &m, &rt) == 0 && pp_agg_new(&agg) == 0 &&
        walker_new(&w, &m, &rt, mi.hdr.interp_head, (pid_t)mi.hdr.pid, agg, &wo) == 0) {
        for (int i = 0; i < 3; i++)
            if (walker_sample(w, (uint64_t)(i + 1) * 1000000000ull))
                break;
        pp_folded_write(agg, &fo, devnull());
    }
    walker_free(w);
    pp_agg_free(agg);
    memimage_free(&mi);
    return 0;
}
