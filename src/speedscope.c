/* SPDX-License-Identifier: MIT */
/* speedscope: one "sampled" profile per thread over a shared, deduplicated frame table. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "pyprof/speedscope.h"
#include "pyprof/strtab.h"

/* === Runs ================================================================ */

/* One speedscope sample: a stack and its weight; consecutive equal samples become one run. */
struct run {
    uint32_t stack;
    uint64_t weight_ns;
};

/* Runs grouped by thread: those of thread t are runs[first[t] .. first[t + 1]). */
struct runs {
    struct run *runs;
    size_t *first;        /* n_threads + 1 */
    uint32_t n_threads;
};

static void runs_deinit(struct runs *rs)
{
    free(rs->runs);
    free(rs->first);
}

/*
 * The timeline is used only when it holds every sample counted in the stacks, so that both
 * paths give the same totals.
 */
static bool use_timeline(const struct pp_agg *a)
{
    size_t n = pp_agg_n_samples(a);

    return n > 0 && (uint64_t)n == pp_agg_total(a);
}

/*
 * One pass over the stacks (no timeline) or the samples (timeline). With @out NULL, count each
 * thread's runs into @fill[thread]; else append each run at out[fill[thread]++]. @last is scratch
 * of n_threads entries.
 */
static void scan(const struct pp_agg *a, bool timeline, uint64_t period, uint32_t *last,
                 size_t *fill, struct run *out)
{
    struct pp_stack_view v;
    size_t i, n;

    if (!timeline) {
        n = pp_agg_n_stacks(a);
        for (i = 0; i < n; i++) {
            pp_agg_stack(a, i, &v);
            if (!v.count)
                continue;
            if (out)
                out[fill[v.thread]] = (struct run){(uint32_t)i, v.count * period};
            fill[v.thread]++;
        }
        return;
    }
    memset(last, 0xff, pp_agg_n_threads(a) * sizeof(*last));
    n = pp_agg_n_samples(a);
    for (i = 0; i < n; i++) {
        uint32_t s = pp_agg_sample_get(a, i)->stack;

        pp_agg_stack(a, s, &v);
        if (last[v.thread] == s) {
            if (out)
                out[fill[v.thread] - 1].weight_ns += period;
            continue;
        }
        last[v.thread] = s;
        if (out)
            out[fill[v.thread]] = (struct run){s, period};
        fill[v.thread]++;
    }
}

static int runs_build(const struct pp_agg *a, uint64_t period, struct runs *rs)
{
    bool timeline = use_timeline(a);
    uint32_t nt = pp_agg_n_threads(a), t, *last = NULL;
    size_t *fill = NULL, total = 0;
    int r = -ENOMEM;

    rs->n_threads = nt;
    rs->first = calloc((size_t)nt + 1, sizeof(*rs->first));
    fill = calloc((size_t)nt + 1, sizeof(*fill));
    last = malloc(((size_t)nt + 1) * sizeof(*last));
    if (!rs->first || !fill || !last)
        goto out;
    scan(a, timeline, period, last, fill, NULL);
    for (t = 0; t < nt; t++) {
        rs->first[t] = total;
        total += fill[t];
        fill[t] = rs->first[t];
    }
    rs->first[nt] = total;
    rs->runs = malloc((total ? total : 1) * sizeof(*rs->runs));
    if (!rs->runs)
        goto out;
    scan(a, timeline, period, last, fill, rs->runs);
    r = 0;
out:
    free(last);
    free(fill);
    return r;
}

/* === Writing ============================================================= */

/* The frame table: the frames some run uses, in frame id order; index[fid] = position + 1. */
static int frames_index(const struct pp_agg *a, const struct runs *rs, uint32_t **out_index)
{
    uint32_t nf = pp_agg_n_frames(a), *index, n = 0, fid, j;
    size_t i;

    index = calloc((size_t)nf + 1, sizeof(*index));
    if (!index)
        return -ENOMEM;
    for (i = 0; i < rs->first[rs->n_threads]; i++) {
        struct pp_stack_view v;

        pp_agg_stack(a, rs->runs[i].stack, &v);
        for (j = 0; j < v.n_fids; j++)
            index[v.fids[j]] = 1;
    }
    for (fid = 0; fid < nf; fid++) {
        if (index[fid])
            index[fid] = ++n;
    }
    *out_index = index;
    return 0;
}

static void write_strid(struct pp_json *j, const struct pp_strtab *st, uint32_t id)
{
    size_t len = 0;
    const char *s = pp_strtab_str(st, id, &len);

    pp_json_str(j, s ? s : "", s ? len : 0);
}

static void write_frames(struct pp_json *j, const struct pp_agg *a, const uint32_t *index)
{
    const struct pp_strtab *st = pp_agg_strtab_const(a);
    uint32_t nf = pp_agg_n_frames(a), fid;
    bool first = true;

    pp_json_lit(j, "\"shared\":{\"frames\":[");
    for (fid = 0; fid < nf; fid++) {
        const struct pp_frame *f = pp_agg_frame_get(a, fid);
        size_t file_len = 0;

        if (!index[fid])
            continue;
        if (!first)
            pp_json_lit(j, ",");
        first = false;
        pp_json_lit(j, "\n{\"name\":");
        write_strid(j, st, f->name);
        if (pp_strtab_str(st, f->file, &file_len) && file_len) {
            pp_json_lit(j, ",\"file\":");
            write_strid(j, st, f->file);
        }
        if (f->line) {
            pp_json_lit(j, ",\"line\":");
            pp_json_u64(j, f->line);
        }
        pp_json_lit(j, "}");
    }
    pp_json_lit(j, "]},\n");
}

/* "Thread TID \"NAME\"" ("Thread TID" when the name is ""), or "all" when @all. */
static void write_thread_name(struct pp_json *j, const struct pp_agg *a, uint32_t t, bool all)
{
    const struct pp_thread *th;
    const char *name;
    size_t len = 0;

    if (all) {
        pp_json_lit(j, "\"all\"");
        return;
    }
    th = pp_agg_thread_get(a, t);
    name = pp_strtab_str(pp_agg_strtab_const(a), th->name, &len);
    pp_json_lit(j, "\"Thread ");
    pp_json_u64(j, th->tid);
    if (name && len) {
        pp_json_lit(j, " \\\"");
        pp_json_str_part(j, name, len);
        pp_json_lit(j, "\\\"");
    }
    pp_json_lit(j, "\"");
}

/* One sampled profile for thread @t (its runs may be none), or the empty "all" for t == nt. */
static void write_profile(struct pp_json *j, const struct pp_agg *a, const struct runs *rs,
                          const uint32_t *index, uint32_t t, bool all)
{
    size_t lo = t < rs->n_threads ? rs->first[t] : 0;
    size_t hi = t < rs->n_threads ? rs->first[t + 1] : 0, i;
    uint64_t total = 0;
    uint32_t k;

    for (i = lo; i < hi; i++)
        total += rs->runs[i].weight_ns;
    pp_json_lit(j, "{\"type\":\"sampled\",\"name\":");
    write_thread_name(j, a, t, all);
    pp_json_lit(j, ",\"unit\":\"seconds\",\"startValue\":0,\"endValue\":");
    pp_json_fixed(j, total, 9);
    pp_json_lit(j, ",\n\"samples\":[");
    for (i = lo; i < hi; i++) {
        struct pp_stack_view v;

        pp_agg_stack(a, rs->runs[i].stack, &v);
        if (i > lo)
            pp_json_lit(j, ",");
        pp_json_lit(j, "\n[");
        for (k = 0; k < v.n_fids; k++) {
            if (k)
                pp_json_lit(j, ",");
            pp_json_u64(j, index[v.fids[k]] - 1);
        }
        pp_json_lit(j, "]");
    }
    pp_json_lit(j, "],\n\"weights\":[");
    for (i = lo; i < hi; i++) {
        if (i > lo)
            pp_json_lit(j, ",");
        pp_json_fixed(j, rs->runs[i].weight_ns, 9);
    }
    pp_json_lit(j, "]}");
}

int pp_speedscope_write(const struct pp_agg *a, const struct pp_meta *m, FILE *out)
{
    struct runs rs = {NULL, NULL, 0};
    struct pp_json *j = NULL;
    uint32_t *index = NULL, t, n_profiles = 0, active = 0, only = 0;
    const char *name = m && m->command && *m->command ? m->command
                       : m && m->title && *m->title ? m->title
                                                     : NULL;
    uint64_t best = 0;
    bool first = true;
    int r;

    r = runs_build(a, pp_meta_period_ns(m), &rs);
    if (r < 0)
        goto out;
    r = frames_index(a, &rs, &index);
    if (r < 0)
        goto out;
    j = malloc(sizeof(*j));
    if (!j) {
        r = -ENOMEM;
        goto out;
    }

    /* The profiles written (threads with runs), and the heaviest, shown first by speedscope. */
    for (t = 0; t < rs.n_threads; t++) {
        uint64_t w = 0;
        size_t i;

        if (rs.first[t] == rs.first[t + 1])
            continue;
        for (i = rs.first[t]; i < rs.first[t + 1]; i++)
            w += rs.runs[i].weight_ns;
        if (!n_profiles || w > best) {
            best = w;
            active = n_profiles;
        }
        only = t;
        n_profiles++;
    }

    pp_json_init(j, out);
    pp_json_lit(j, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n"
                   "\"exporter\":\"pyprof\",");
    if (name) {
        pp_json_lit(j, "\"name\":");
        pp_json_cstr(j, name);
        pp_json_lit(j, ",");
    }
    pp_json_lit(j, "\"activeProfileIndex\":");
    pp_json_u64(j, active);
    pp_json_lit(j, ",\n");
    write_frames(j, a, index);
    pp_json_lit(j, "\"profiles\":[\n");
    if (n_profiles == 0) {
        write_profile(j, a, &rs, index, rs.n_threads, true);
    } else if (n_profiles == 1 && pp_agg_thread_get(a, only)->tid == 0 &&
               pp_agg_thread_get(a, only)->name == 0) {
        write_profile(j, a, &rs, index, only, true);
    } else {
        for (t = 0; t < rs.n_threads; t++) {
            if (rs.first[t] == rs.first[t + 1])
                continue;
            if (!first)
                pp_json_lit(j, ",\n");
            first = false;
            write_profile(j, a, &rs, index, t, false);
        }
    }
    pp_json_lit(j, "]}\n");
    r = pp_json_finish(j);
out:
    free(j);
    free(index);
    runs_deinit(&rs);
    return r;
}
