/* SPDX-License-Identifier: MIT */
/* speedscope: the speedscope JSON file format (sampled profiles, one per thread). */
#pragma once

#include <stdio.h>

#include "pyprof/agg.h"
#include "pyprof/meta.h"

/*
 * pp_speedscope_write() - write @a as a speedscope file (https://www.speedscope.app/file-format-
 * schema.json; validated against speedscope's own schema and app by tests/formats).
 *
 * - Top level: "$schema", "exporter":"pyprof", "name" = @m->command, else @m->title (left out
 *   when both are NULL or ""), "activeProfileIndex" = the heaviest profile (the first on ties).
 * - shared.frames: the frames some written sample uses, in frame id order (so deduplicated as
 *   the aggregate's frames are): "name" (the qualname), "file" unless it is "", "line" unless it
 *   is 0. Optional keys are left out, never null.
 * - profiles: one "sampled" profile per thread that has a sample with a non-zero count, in
 *   thread index order, named `Thread TID "NAME"` (`Thread TID` when the name is ""), or "all"
 *   when the only such thread is tid 0 with name "". An aggregate with no samples gets one empty
 *   "all" profile. unit "seconds", startValue 0, endValue = the sum of the profile's weights.
 * - samples: frame index arrays, ROOT FIRST (an empty stack is []); weights are positive: a
 *   sample of count c weighs c * pp_meta_period_ns(@m), written as exact decimal seconds.
 *   Without a timeline each distinct stack of the thread is one sample (count 0 stacks are left
 *   out), in stack index order. With a timeline that covers every counted sample
 *   (pp_agg_n_samples(@a) == pp_agg_total(@a); otherwise the stacks are used), samples are in
 *   time order, each weighing one period, and consecutive samples of a thread with the same
 *   stack are merged into one. Gaps between samples are not weighed, so every writer agrees on
 *   a thread's total; the chrome trace writer is the one that shows wall-clock time.
 *
 * Strings are escaped as JSON needs; bytes that are not UTF-8 become U+FFFD. Output is buffered;
 * time and memory are linear in frames, stacks and samples. @m may be NULL (100 Hz, no name).
 * Returns 0, -ENOMEM or -EIO (writing or flushing @out failed; @out is flushed, not closed).
 * @a is not modified.
 */
int pp_speedscope_write(const struct pp_agg *a, const struct pp_meta *m, FILE *out);
