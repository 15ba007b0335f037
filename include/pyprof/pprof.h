/* SPDX-License-Identifier: MIT */
/* pprof: gzipped perftools.profiles.Profile protobufs, written and read with protobuf-c. */
#pragma once

#include <stddef.h>
#include <stdio.h>

#include "pyprof/agg.h"
#include "pyprof/meta.h"

/*
 * pp_pprof_write() - write @a as a gzipped pprof Profile: sample types [samples/count,
 * cpu/nanoseconds] (wall/nanoseconds when @m->wall), period_type = the second one, period =
 * 1e9 / rate, time_nanos / duration_nanos from @m, one Function per (name, file) with start_line
 * (the smallest line seen), one Location per (function, line), samples leaf first with values
 * [count, count * period] and labels thread_id (num) and thread_name (str), string_table[0] = "".
 * Returns 0, -ENOMEM or -EIO.
 */
int pp_pprof_write(const struct pp_agg *a, const struct pp_meta *m, FILE *out);

enum {
    PP_PPROF_E_NONE = 0,
    PP_PPROF_E_FORMAT, /* not a (gzipped) Profile, or one that breaks the format's rules */
};

/*
 * pp_pprof_read() - add the samples of the pprof Profile in @buf (@len bytes, gzipped or not) to
 * @a: each sample adds value[0] (the first sample type) to its stack, frames named as its
 * Functions, file from Function.filename, line from Line.line; inlined lines become frames of
 * their own. thread_id / thread_name labels become threads; otherwise thread 0 "". If @m is
 * non-NULL it receives duration, start time and rate from the profile (strings it points to are
 * interned in @a). Untrusted input: bounded (max 1 GiB uncompressed), every id checked.
 * Returns 0, PP_PPROF_E_FORMAT, or -ENOMEM. On an error @a may hold part of the profile.
 */
int pp_pprof_read(struct pp_agg *a, const void *buf, size_t len, struct pp_meta *m);
