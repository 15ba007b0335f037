/* SPDX-License-Identifier: MIT */
/* TEMPORARY STUB so the tree links while the real writer is written: replace this whole file. */
#include <errno.h>
#include "pyprof/speedscope.h"
int pp_speedscope_write(const struct pp_agg *a, const struct pp_meta *m, FILE *out) { (void)a; (void)m; (void)out; return -ENOSYS; }
