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
 *
 * Details: one Sample per distinct (thread, stack) of @a, in pp_agg_stack() order. Ids are dense
 * from 1, Functions and Locations numbered in order of first use by the stacks, each Location
 * holds one Line and no mapping (mapping_id 0; no Mapping is written). Strings are interned (no
 * duplicates); strings are written up to their first NUL. A thread with tid 0 and name "" gets no
 * labels; otherwise thread_id is always written and thread_name only when the name is not "".
 * Values saturate at INT64_MAX. @m may be NULL (100 Hz, cpu, no times). The gzip stream
 * (zlib level 6, mtime 0) is the same for the same input and zlib. @out is flushed, not closed.
 */
int pp_pprof_write(const struct pp_agg *a, const struct pp_meta *m, FILE *out);

enum {
    PP_PPROF_E_NONE = 0,
    PP_PPROF_E_FORMAT, /* not a (gzipped) Profile, or one that breaks the format's rules */
};

/* pp_pprof_read() gives up on samples deeper than this many frames (inlined lines included). */
#define PP_PPROF_MAX_DEPTH 65536

/*
 * pp_pprof_read() - add the samples of the pprof Profile in @buf (@len bytes, gzipped or not) to
 * @a: each sample adds value[0] (the first sample type) to its stack, frames named as its
 * Functions, file from Function.filename, line from Line.line; inlined lines become frames of
 * their own. thread_id / thread_name labels become threads; otherwise thread 0 "". If @m is
 * non-NULL it receives duration, start time and rate from the profile (strings it points to are
 * interned in @a). Untrusted input: bounded (max 1 GiB uncompressed), every id checked.
 * Returns 0, PP_PPROF_E_FORMAT, or -ENOMEM. On an error @a may hold part of the profile.
 *
 * Details:
 *  - gzip is recognised by its 1f 8b magic; several gzip members are read as one stream, and
 *    anything after the last member is an error.
 *  - PP_PPROF_E_FORMAT, found before anything is added to @a: not a Profile; string_table empty
 *    or [0] != ""; a string index out of range (anywhere); a Mapping, Function or Location id 0 or
 *    repeated; a reference to a missing id (sample -> location, location -> mapping, line ->
 *    function); samples without sample types; a sample whose value count differs from the sample
 *    types' or whose value[0] is negative; a sample deeper than PP_PPROF_MAX_DEPTH frames.
 *  - Stacks: root first = location_id reversed; within a Location, Line[n - 1] is the caller and
 *    Line[0] the innermost (inlined) frame. A Function with name "" is named by its system_name.
 *    A Location without lines becomes one frame named "0x<address>" with the mapping's filename.
 *    Line numbers outside 1..UINT32_MAX become 0. Origins come from pp_origin_of_path(file).
 *  - Threads: the first thread_id label (num, or a decimal str) and the first thread_name label
 *    (str); a missing one is 0 / "".
 *  - @m, only on success, only the fields the profile speaks of (so callers may preset defaults):
 *    duration_ns = duration_nanos and start_unix_ns = time_nanos when > 0; rate_hz = 1e9 / period
 *    when period_type's unit is "nanoseconds" and period > 0; wall = (period_type's type is
 *    "wall") when there is a period_type. title and command are never touched.
 *  - Memory: a multiple of the uncompressed size (protobuf-c unpacks the whole message).
 */
int pp_pprof_read(struct pp_agg *a, const void *buf, size_t len, struct pp_meta *m);
