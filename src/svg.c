/* SPDX-License-Identifier: MIT */
/* TEMPORARY STUB so the tree links while the real writer is written: replace this whole file. */
#include <errno.h>
#include "pyprof/svg.h"
int pp_svg_write(const struct pp_agg *a, const struct pp_meta *m, const struct pp_svg_opts *o, FILE *out) { (void)a; (void)m; (void)o; (void)out; return -ENOSYS; }
int pp_svg_write_diff(const struct pp_agg *b, const struct pp_agg *a, bool n, const struct pp_meta *m, const struct pp_svg_opts *o, FILE *out) { (void)b; (void)a; (void)n; (void)m; (void)o; (void)out; return -ENOSYS; }
