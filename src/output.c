/* SPDX-License-Identifier: MIT */
/* output: pick an output format by name or file name, and write an aggregate in it. */
#include <errno.h>
#include <string.h>

#include "pyprof/chrometrace.h"
#include "pyprof/folded.h"
#include "pyprof/output.h"
#include "pyprof/pprof.h"
#include "pyprof/speedscope.h"
#include "pyprof/svg.h"

static const struct {
    const char *name;
    enum pp_format format;
} names[] = {
    { "flamegraph", PP_FORMAT_FLAMEGRAPH }, { "svg", PP_FORMAT_FLAMEGRAPH },
    { "folded", PP_FORMAT_FOLDED },         { "collapsed", PP_FORMAT_FOLDED },
    { "speedscope", PP_FORMAT_SPEEDSCOPE }, { "pprof", PP_FORMAT_PPROF },
    { "chrometrace", PP_FORMAT_CHROMETRACE },
};

/* Longest suffixes first, so ".speedscope.json" wins over ".json". */
static const struct {
    const char *suffix;
    enum pp_format format;
} suffixes[] = {
    { ".speedscope.json", PP_FORMAT_SPEEDSCOPE }, { ".chrometrace.json", PP_FORMAT_CHROMETRACE },
    { ".trace.json", PP_FORMAT_CHROMETRACE },     { ".pb.gz", PP_FORMAT_PPROF },
    { ".pprof", PP_FORMAT_PPROF },                { ".pb", PP_FORMAT_PPROF },
    { ".svg", PP_FORMAT_FLAMEGRAPH },             { ".folded", PP_FORMAT_FOLDED },
    { ".collapsed", PP_FORMAT_FOLDED },           { ".txt", PP_FORMAT_FOLDED },
};

enum pp_format pp_format_from_name(const char *name)
{
    for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(name, names[i].name))
            return names[i].format;
    return PP_FORMAT_NONE;
}

enum pp_format pp_format_from_path(const char *path)
{
    size_t len = path ? strlen(path) : 0;

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t n = strlen(suffixes[i].suffix);

        if (len > n && !strcmp(path + len - n, suffixes[i].suffix))
            return suffixes[i].format;
    }
    return PP_FORMAT_NONE;
}

const char *pp_format_name(enum pp_format f)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].format == f)
            return names[i].name;
    return "none";
}

bool pp_format_needs_timeline(enum pp_format f)
{
    return f == PP_FORMAT_SPEEDSCOPE || f == PP_FORMAT_CHROMETRACE;
}

int pp_output_write(const struct pp_agg *a, const struct pp_meta *m, enum pp_format f,
                    const struct pp_output_opts *o, FILE *out)
{
    struct pp_output_opts none = { 0 };

    if (!o)
        o = &none;
    switch (f) {
    case PP_FORMAT_FLAMEGRAPH: {
        struct pp_svg_opts so = {
            .icicle = o->icicle, .threads = o->threads, .min_width = -1, .title = o->title,
        };
        return pp_svg_write(a, m, &so, out);
    }
    case PP_FORMAT_FOLDED: {
        struct pp_folded_opts fo = { .threads = o->threads };
        return pp_folded_write(a, &fo, out);
    }
    case PP_FORMAT_SPEEDSCOPE:
        return pp_speedscope_write(a, m, out);
    case PP_FORMAT_PPROF:
        return pp_pprof_write(a, m, out);
    case PP_FORMAT_CHROMETRACE:
        return pp_chrometrace_write(a, m, out);
    case PP_FORMAT_NONE:
        break;
    }
    return -EINVAL;
}
