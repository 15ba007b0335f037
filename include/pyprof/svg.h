/* SPDX-License-Identifier: MIT */
/* svg: interactive flame graphs (and differential ones) as one self-contained SVG file. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "pyprof/agg.h"
#include "pyprof/meta.h"

struct pp_svg_opts {
    bool icicle;        /* root on top (default: root at the bottom, as flamegraph.pl) */
    bool threads;       /* a root frame per thread, as pp_folded_opts.threads */
    unsigned width;     /* image width in px; 0 = 1200 */
    double min_width;   /* frames narrower than this many px are pruned; < 0 = 0.1 */
    const char *title;  /* NULL: meta->title, then "Flame Graph" */
};

/*
 * pp_svg_write() - write @a as a flame graph. Frames are labelled like folded frames
 * ("name (file:line)") and merged by label among siblings, sorted by label; width is proportional
 * to samples. Interactive: tooltip "label (N samples, P%)", click to zoom (ancestors dimmed,
 * "Reset Zoom"), regex search (Ctrl-F / F3 / Search button, "Matched: X%" without double counting
 * nested matches), case toggle, zoom and search kept in the URL (#s=...&x=...). Colours: user
 * code, standard library and third-party code in distinct hues (pp_frame.origin), the same label
 * always the same colour. All text is XML-escaped; long labels are cut with "..". Subtitle from
 * @m (command, duration, rate, samples); @m may be NULL. Returns 0, -ENOMEM or -EIO.
 */
int pp_svg_write(const struct pp_agg *a, const struct pp_meta *m, const struct pp_svg_opts *o,
                 FILE *out);

/*
 * pp_svg_write_diff() - a differential flame graph: the shape and widths of @after, each frame
 * coloured by how its samples changed from @before (red: grew, blue: shrank, white: same; the
 * saturation follows the relative change); frames only in @before are not drawn. With @normalize
 * the counts of @before are scaled to @after's total first. Tooltips give both counts and the
 * change. Same returns as pp_svg_write().
 */
int pp_svg_write_diff(const struct pp_agg *before, const struct pp_agg *after, bool normalize,
                      const struct pp_meta *m, const struct pp_svg_opts *o, FILE *out);
