/* SPDX-License-Identifier: MIT */
/* TEMPORARY STUB so the tree links while the real writer is written: replace this whole file. */
#include <errno.h>
#include "pyprof/pprof.h"
int pp_pprof_write(const struct pp_agg *a, const struct pp_meta *m, FILE *out) { (void)a; (void)m; (void)out; return -ENOSYS; }
int pp_pprof_read(struct pp_agg *a, const void *buf, size_t len, struct pp_meta *m) { (void)a; (void)buf; (void)len; (void)m; return -ENOSYS; }
