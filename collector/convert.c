/* SPDX-License-Identifier: MIT */
/* convert: `pyprof convert` and `pyprof diff` over profile files. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "pyprof/agg.h"
#include "pyprof/folded.h"
#include "pyprof/output.h"
#include "pyprof/pprof.h"
#include "pyprof/svg.h"

#define PEEK 4096
#define PPROF_FILE_MAX (1024L * 1024 * 1024) /* larger pprof files are refused */

/* pprof is binary: gzip magic, or a NUL byte early on. Folded text has neither. */
static bool looks_binary(const unsigned char *p, size_t n)
{
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
        return true;
    return memchr(p, '\0', n) != NULL;
}

static int read_pprof(struct pp_agg *a, FILE *f, const char *path, struct pp_meta *m, FILE *err)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int code = 0, r;

    for (;;) {
        size_t got;

        if (len == cap) {
            char *nb;

            cap = cap ? cap * 2 : 1 << 20;
            if (cap > (size_t)PPROF_FILE_MAX + 1)
                cap = (size_t)PPROF_FILE_MAX + 1;
            if (len == cap) {
                fprintf(err, "pyprof: error: %s: larger than 1 GiB\n", path);
                code = PYPROF_EXIT_DATAERR;
                goto out;
            }
            nb = realloc(buf, cap);
            if (!nb) {
                fprintf(err, "pyprof: error: out of memory reading %s\n", path);
                code = PYPROF_EXIT_FATAL;
                goto out;
            }
            buf = nb;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(err, "pyprof: error: reading %s: %s\n", path, strerror(errno));
        code = PYPROF_EXIT_NOINPUT;
        goto out;
    }
    r = pp_pprof_read(a, buf, len, m);
    if (r == PP_PPROF_E_FORMAT) {
        fprintf(err, "pyprof: error: %s is neither folded stacks nor a valid pprof profile\n",
                path);
        code = PYPROF_EXIT_DATAERR;
    } else if (r) {
        fprintf(err, "pyprof: error: reading %s: %s\n", path, strerror(-r));
        code = PYPROF_EXIT_FATAL;
    }
out:
    free(buf);
    return code;
}

/* Load @path (folded or pprof) into a new aggregate. Returns an exit code. */
static int load(const char *path, bool timeline, struct pp_agg **out, struct pp_meta *m,
                FILE *err)
{
    unsigned char peek[PEEK];
    struct pp_agg *a = NULL;
    size_t n, line = 0;
    FILE *f;
    int code = 0, r;

    if (!strcmp(path, "-")) {
        fprintf(err, "pyprof: error: reading standard input is not supported; give a file\n");
        return PYPROF_EXIT_NOINPUT;
    }
    f = fopen(path, "re");
    if (!f) {
        fprintf(err, "pyprof: error: cannot open '%s': %s\n", path, strerror(errno));
        return PYPROF_EXIT_NOINPUT;
    }
    r = pp_agg_new(&a);
    if (r) {
        code = PYPROF_EXIT_FATAL;
        goto out;
    }
    if (timeline)
        pp_agg_timeline_enable(a);
    n = fread(peek, 1, sizeof(peek), f);
    if (fseek(f, 0, SEEK_SET) != 0) {
        fprintf(err, "pyprof: error: '%s' is not a regular file\n", path);
        code = PYPROF_EXIT_NOINPUT;
        goto out;
    }
    if (looks_binary(peek, n)) {
        code = read_pprof(a, f, path, m, err);
        goto out;
    }
    r = pp_folded_read(a, f, &line);
    if (r == PP_FOLDED_E_FORMAT) {
        fprintf(err,
                "pyprof: error: %s:%zu: not a folded stack line (expected "
                "\"frame;frame;... COUNT\")\n",
                path, line);
        code = PYPROF_EXIT_DATAERR;
    } else if (r) {
        fprintf(err, "pyprof: error: reading %s: %s\n", path, strerror(-r));
        code = PYPROF_EXIT_FATAL;
    }
out:
    fclose(f);
    if (code) {
        pp_agg_free(a);
        return code;
    }
    *out = a;
    return 0;
}

int convert_run(const struct pyprof_config *cfg, FILE *err)
{
    bool diff = !strcmp(cfg->command, "diff");
    enum pp_format format = cfg->format;
    struct pp_agg *a = NULL, *b = NULL;
    struct pp_meta meta = { .title = cfg->title, .rate_hz = cfg->rate };
    struct pp_meta before_meta = { 0 };
    struct pp_output_opts oo = { .threads = cfg->threads, .icicle = cfg->icicle,
                                 .title = cfg->title };
    const char *o = cfg->output;
    FILE *out = stdout;
    int code, r;

    if (!format && o)
        format = pp_format_from_path(o);
    if (!format || diff)
        format = PP_FORMAT_FLAMEGRAPH;
    meta.command = cfg->inputs[diff ? 1 : 0];
    code = load(cfg->inputs[0], pp_format_needs_timeline(format), &a,
                diff ? &before_meta : &meta, err);
    if (!code && diff)
        code = load(cfg->inputs[1], false, &b, &meta, err);
    if (code)
        goto out;
    if (o && strcmp(o, "-")) {
        out = fopen(o, "we");
        if (!out) {
            fprintf(err, "pyprof: error: cannot write '%s': %s\n", o, strerror(errno));
            code = PYPROF_EXIT_FATAL;
            goto out;
        }
    }
    if (diff) {
        struct pp_svg_opts so = { .icicle = cfg->icicle, .min_width = -1, .title = cfg->title };

        r = pp_svg_write_diff(a, b, cfg->normalize, &meta, &so, out);
    } else {
        r = pp_output_write(a, &meta, format, &oo, out);
    }
    if (!r && fflush(out) != 0)
        r = -EIO;
    if (out != stdout && fclose(out) != 0 && !r)
        r = -EIO;
    if (r) {
        fprintf(err, "pyprof: error: writing %s: %s\n", o ? o : "standard output", strerror(-r));
        code = PYPROF_EXIT_FATAL;
    }
out:
    pp_agg_free(a);
    pp_agg_free(b);
    return code;
}
