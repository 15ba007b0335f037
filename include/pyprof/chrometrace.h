/* SPDX-License-Identifier: MIT */
/* chrometrace: Trace Event Format JSON for chrome://tracing and Perfetto. */
#pragma once

#include <stdio.h>

#include "pyprof/agg.h"
#include "pyprof/meta.h"

/*
 * pp_chrometrace_write() - write @a as {"traceEvents":[...],"displayTimeUnit":"ms"} for
 * chrome://tracing, Perfetto and speedscope, one event per line.
 *
 * - pid: N when @m->command is "PID N ..." (the attach form), else 1.
 * - Metadata ("M"): process_name (@m->command, else @m->title, else "pyprof"); per track a
 *   thread_name (the thread's name; "Thread TID" when it is ""; "all" for a lone tid 0 with no
 *   name) and a thread_sort_index keeping tracks in order of first appearance.
 * - One track per tid: threads of the aggregate that share a tid (a renamed thread) share a
 *   track, named after the first of them with a non-empty name, so their slices nest.
 * - Slices: "B"/"E" pairs computed by diffing consecutive stacks of a track: the common prefix
 *   (root first) stays open, the rest of the old stack is closed, the rest of the new one opened.
 *   So a function that ran for 300 ms across 30 samples is one 300 ms slice. "B" carries "name"
 *   (the qualname), "cat" (the origin: "user", "stdlib", "third-party" or "unknown") and "args"
 *   {"file", "line"} when known; "E" carries only ph/ts/pid/tid. Every "B" has its "E"; per
 *   track, events are in non-decreasing ts order (tracks are written one after the other, so
 *   the file as a whole is not sorted by ts, which the format allows).
 * - ts: microseconds, exact decimals (ns precision).
 *   Without a timeline: per track, distinct stacks with a non-zero count are laid end to end
 *   from 0 in stack index order, each lasting count * pp_meta_period_ns(@m).
 *   With a timeline that covers every counted sample (pp_agg_n_samples(@a) ==
 *   pp_agg_total(@a); otherwise the stacks are used): ts counts from the first sample; a sample
 *   lasts until the next sample of its track if that comes within two periods, else for one
 *   period (the thread was idle or not seen), and then everything is closed and the next sample
 *   opens its whole stack afresh.
 *
 * Strings are escaped as JSON needs; bytes that are not UTF-8 become U+FFFD. Output is buffered;
 * time is linear in the stacks (or samples) written, plus O(T log T) for T threads. @m may be
 * NULL. Returns 0, -ENOMEM or -EIO (writing or flushing @out failed; @out is flushed, not
 * closed). @a is not modified.
 */
int pp_chrometrace_write(const struct pp_agg *a, const struct pp_meta *m, FILE *out);
