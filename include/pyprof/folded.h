/* SPDX-License-Identifier: MIT */
/* folded: the collapsed-stack text format (flamegraph.pl, py-spy, speedscope, Pyroscope). */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "pyprof/agg.h"

struct pp_folded_opts {
    bool threads; /* prepend a root frame: thread (TID "name") */
};

/*
 * pp_folded_write() - write one line per distinct stack of @a:
 *     frame;frame;...;frame COUNT\n
 * root first, each frame "name (file:line)", or "name (file)" when line is 0, or just "name" when
 * file is "". Stacks that differ only by thread are merged unless @opts->threads. Lines are sorted
 * bytewise so output is deterministic. ';' and control characters inside names and files are
 * written as '_' so that the line stays parseable. An empty stack is written as "<no frames>"
 * (after the thread root when @opts->threads). The thread root is `thread (TID "NAME")`, or
 * `thread (TID)` when the name is "". Stacks are merged when their rendered text is equal (so
 * escaping can merge distinct frames). Whole lines, count included, are sorted bytewise. @opts may
 * be NULL (all false). Returns 0, -ENOMEM, or -EIO when writing to or flushing @out failed; @out
 * is flushed, not closed. @a is not modified.
 */
int pp_folded_write(const struct pp_agg *a, const struct pp_folded_opts *opts, FILE *out);

enum {
    PP_FOLDED_E_NONE = 0,
    PP_FOLDED_E_FORMAT, /* a line is not "stack count"; *out_line says which */
};

/*
 * pp_folded_read() - add every line of folded text from @in to @a. Accepts ours, py-spy's and
 * flamegraph.pl's: "frame;frame;... COUNT" (COUNT a non-negative integer after the last space;
 * blank lines and lines starting with '#' skipped). A frame "name (file:line)" or "name (file)"
 * is split into name, file and line; any other text is a name alone. A leading frame
 * "thread (TID ...)" (ours with -t) becomes the sample's thread; otherwise thread 0 "". Origins
 * come from pp_origin_of_path(file). Returns 0, PP_FOLDED_E_FORMAT (with the 1-based line number
 * in *out_line if non-NULL), -ENOMEM or -EIO. On an error @a may hold the lines before it.
 */
int pp_folded_read(struct pp_agg *a, FILE *in, size_t *out_line);
