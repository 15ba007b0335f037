/* SPDX-License-Identifier: MIT */
/* output: pick an output format by name or file name, and write an aggregate in it. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "pyprof/agg.h"
#include "pyprof/meta.h"

enum pp_format {
    PP_FORMAT_NONE = 0,
    PP_FORMAT_FLAMEGRAPH, /* interactive SVG (the default) */
    PP_FORMAT_FOLDED,
    PP_FORMAT_SPEEDSCOPE,
    PP_FORMAT_PPROF,      /* gzipped protobuf */
    PP_FORMAT_CHROMETRACE,
};

struct pp_output_opts {
    bool threads;          /* a root frame per thread (folded, flame graph) */
    bool icicle;           /* flame graph root on top */
    const char *title;     /* flame graph title; NULL: default */
};

/* pp_format_from_name() - "flamegraph" (or "svg"), "folded", "speedscope", "pprof",
 * "chrometrace"; PP_FORMAT_NONE for anything else. */
enum pp_format pp_format_from_name(const char *name);

/*
 * pp_format_from_path() - guess from a file name: .svg -> flamegraph, .folded/.collapsed/.txt ->
 * folded, .speedscope.json -> speedscope, .trace.json/.chrometrace.json -> chrometrace,
 * .pb.gz/.pprof/.pb -> pprof; PP_FORMAT_NONE when the name says nothing.
 */
enum pp_format pp_format_from_path(const char *path);

/* pp_format_name() - the canonical name of @f ("flamegraph", ...), or "none". */
const char *pp_format_name(enum pp_format f);

/* pp_format_needs_timeline() - true for the formats that show samples in time order. */
bool pp_format_needs_timeline(enum pp_format f);

/*
 * pp_output_write() - write @a in format @f to @out with the matching writer (pp_svg_write,
 * pp_folded_write, ...). @m and @o may be NULL. Returns the writer's result, or -EINVAL for
 * PP_FORMAT_NONE.
 */
int pp_output_write(const struct pp_agg *a, const struct pp_meta *m, enum pp_format f,
                    const struct pp_output_opts *o, FILE *out);
