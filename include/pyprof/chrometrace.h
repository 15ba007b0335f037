/* SPDX-License-Identifier: MIT */
/* chrometrace: Trace Event Format JSON for chrome://tracing and Perfetto. */
#pragma once

#include <stdio.h>

#include "pyprof/agg.h"
#include "pyprof/meta.h"

/*
 * pp_chrometrace_write() - {"traceEvents": [...]} with one track per thread (tid = thread id,
 * thread_name metadata events), and "B"/"E" duration events: consecutive samples of a thread
 * that share a frame prefix extend the same events, so a function that ran for 300 ms across 30
 * samples is one 300 ms slice. Timestamps in microseconds from the first sample. Without a
 * timeline, distinct stacks are laid end to end, each lasting count * period. Every "B" has its
 * "E". Returns 0, -ENOMEM or -EIO.
 */
int pp_chrometrace_write(const struct pp_agg *a, const struct pp_meta *m, FILE *out);
