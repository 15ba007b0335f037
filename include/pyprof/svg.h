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
 *
 * In detail (what tests and other tools may rely on):
 * - Labels are pp_folded_write()'s frame text (';' and control characters as '_'), except that
 *   bytes that are not valid UTF-8 (and U+FFFE/U+FFFF) become U+FFFD. A root frame "all" spans
 *   the width; with @o->threads the thread roots sit on it; an empty stack is "<no frames>".
 *   Sibling order is bytewise by label; a frame's own samples are right of its children.
 * - Geometry: @o->width (0: 1200, below 100: 100) with 10 px margins; 16 px per level. A frame is
 *   drawn when it has samples and is >= @o->min_width px wide (< 0: 0.1; 0 keeps every frame).
 * - Each frame is <g pp:x="OFFSET" pp:w="SAMPLES"> (xmlns:pp="urn:pyprof:svg", offset in
 *   samples from the left edge) holding <title>, <rect> and, when 3+ characters fit (7.2 px
 *   each), <text>. The title is "label (N samples, P%)": N with thousands separators, P with two
 *   decimals rounded half up. Frames are written by depth, then left to right.
 * - URL fragment: #x=OFFSET&y=DEPTH (zoomed frame; root depth 0), s=REGEX (URI-encoded search),
 *   i=1 (case-insensitive); written with history.replaceState() and applied on load. Page
 *   functions search(re), resetSearch(), zoom(frame), unzoom() are global.
 * - "Matched: X%" is the share of the zoomed frame's (else the root's) samples covered by
 *   matching frames, nested matches counted once; one decimal rounded half up, or "100" when all.
 * - @o may be NULL (defaults); title: @o->title, else @m->title, else "Flame Graph". An aggregate
 *   without samples gives a valid SVG that says "No samples".
 * - Output depends only on the rendered labels and counts: the same input gives the same bytes.
 */
int pp_svg_write(const struct pp_agg *a, const struct pp_meta *m, const struct pp_svg_opts *o,
                 FILE *out);

/*
 * pp_svg_write_diff() - a differential flame graph: the shape and widths of @after, each frame
 * coloured by how its samples changed from @before (red: grew, blue: shrank, white: same; the
 * saturation follows the relative change); frames only in @before are not drawn. With @normalize
 * the counts of @before are scaled to @after's total first. Tooltips give both counts and the
 * change. Same returns as pp_svg_write().
 *
 * Frames are matched by label path. The title is "label (N samples, P%; was M, +D)" (M: BEFORE's
 * samples, scaled and rounded with @normalize; D = N - M, signed "+D" or "-D"). With
 * rel = (N - M) / max(N, M) and c = 250 - round(210 * |rel|): grew rgb(250,c,c), shrank
 * rgb(c,c,250), equal rgb(250,250,250). Default title "Differential Flame Graph".
 */
int pp_svg_write_diff(const struct pp_agg *before, const struct pp_agg *after, bool normalize,
                      const struct pp_meta *m, const struct pp_svg_opts *o, FILE *out);
