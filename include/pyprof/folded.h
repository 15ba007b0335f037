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
