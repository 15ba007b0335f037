/* SPDX-License-Identifier: MIT */
/* chrometrace: per-thread "B"/"E" slices from consecutive stacks, as Trace Event Format JSON. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "pyprof/chrometrace.h"
#include "pyprof/strtab.h"

/* === Tracks ============================================================== */

/*
 * A track is one tid: threads of the aggregate that share a tid (a renamed thread) share a
 * track, so that its slices nest. Tracks are numbered in order of their first thread.
 */
struct tracks {
    uint32_t *of;         /* of[thread]: track index */
    uint32_t *thread;     /* thread[track]: the thread whose tid and name label the track */
    uint32_t n;
};

static void tracks_deinit(struct tracks *tk)
{
    free(tk->of);
    free(tk->thread);
}

/* A thread keyed by tid, for sorting (no global context: writers may run concurrently). */
struct by_tid {
    uint64_t tid;
    uint32_t thread;
};

static int cmp_tid(const void *x, const void *y)
{
    const struct by_tid *p = x, *q = y;

    if (p->tid != q->tid)
        return p->tid < q->tid ? -1 : 1;
    return p->thread < q->thread ? -1 : p->thread > q->thread;
}

static int tracks_build(const struct pp_agg *a, struct tracks *tk)
{
    uint32_t nt = pp_agg_n_threads(a), *rep, i;
    struct by_tid *order;
    int r = -ENOMEM;

    tk->n = 0;
    tk->of = malloc(((size_t)nt + 1) * sizeof(*tk->of));
    tk->thread = malloc(((size_t)nt + 1) * sizeof(*tk->thread));
    order = malloc(((size_t)nt + 1) * sizeof(*order));
    rep = malloc(((size_t)nt + 1) * sizeof(*rep));
    if (!tk->of || !tk->thread || !order || !rep)
        goto out;
    for (i = 0; i < nt; i++)
        order[i] = (struct by_tid){pp_agg_thread_get(a, i)->tid, i};
    qsort(order, nt, sizeof(*order), cmp_tid);
    /* rep[thread]: the first thread (lowest index) with the same tid. */
    for (i = 0; i < nt; i++) {
        bool same = i && order[i].tid == order[i - 1].tid;

        rep[order[i].thread] = same ? rep[order[i - 1].thread] : order[i].thread;
    }
    for (i = 0; i < nt; i++) {
        if (rep[i] == i) {
            tk->thread[tk->n] = i;
            tk->of[i] = tk->n++;
            continue;
        }
        tk->of[i] = tk->of[rep[i]];
        /* Label the track with the first non-empty name among its threads. */
        if (pp_agg_thread_get(a, tk->thread[tk->of[i]])->name == 0)
            tk->thread[tk->of[i]] = i;
    }
    r = 0;
out:
    free(rep);
    free(order);
    return r;
}

/* === Runs ================================================================ */

/*
 * A stack on a track from start to end (ns from the first sample). A run that starts where the
 * previous one of its track ended continues it: the frames they share stay open.
 */
struct run {
    uint32_t stack;
    uint64_t start;
    uint64_t end;
};

/* Runs grouped by track: those of track k are runs[first[k] .. first[k + 1]). */
struct runs {
    struct run *runs;
    size_t *first;
};

static bool use_timeline(const struct pp_agg *a)
{
    size_t n = pp_agg_n_samples(a);

    return n > 0 && (uint64_t)n == pp_agg_total(a);
}

/* Per-track state while scanning. */
struct cursor {
    uint64_t last;        /* no timeline: where the next run starts; else the latest sample time */
    uint32_t stack;       /* the latest sample's stack */
    bool seen;
};

/*
 * One pass over the stacks (no timeline: laid end to end, count * period each) or the samples
 * (timeline). With @out NULL, count each track's runs into fill[track]; else write each run at
 * out[fill[track]++]. @cur holds one cursor per track.
 *
 * On the timeline a sample lasts until the next sample of its track when that comes within two
 * periods; otherwise (the thread was idle or not seen) for one period, and the next sample starts
 * a new, unconnected run. Connected samples of the same stack extend one run.
 */
static void scan(const struct pp_agg *a, const struct tracks *tk, bool timeline, uint64_t period,
                 struct cursor *cur, size_t *fill, struct run *out)
{
    struct pp_stack_view v;
    uint64_t t0;
    size_t i, n;
    uint32_t k;

    memset(cur, 0, tk->n * sizeof(*cur));
    if (!timeline) {
        n = pp_agg_n_stacks(a);
        for (i = 0; i < n; i++) {
            pp_agg_stack(a, i, &v);
            if (!v.count)
                continue;
            k = tk->of[v.thread];
            if (out)
                out[fill[k]] = (struct run){(uint32_t)i, cur[k].last,
                                            cur[k].last + v.count * period};
            fill[k]++;
            cur[k].last += v.count * period;
        }
        return;
    }
    n = pp_agg_n_samples(a);
    t0 = pp_agg_sample_get(a, 0)->time_ns;
    for (i = 0; i < n; i++) {
        const struct pp_sample *s = pp_agg_sample_get(a, i);
        uint64_t t = s->time_ns > t0 ? s->time_ns - t0 : 0;
        struct cursor *c;

        pp_agg_stack(a, s->stack, &v);
        k = tk->of[v.thread];
        c = &cur[k];
        if (c->seen) {
            bool connected;

            if (t < c->last)
                t = c->last;
            connected = t - c->last <= 2 * period;
            if (out)
                out[fill[k] - 1].end = connected ? t : c->last + period;
            if (connected && c->stack == s->stack) {
                c->last = t;
                continue;
            }
        }
        if (out)
            out[fill[k]] = (struct run){s->stack, t, t};
        fill[k]++;
        c->seen = true;
        c->last = t;
        c->stack = s->stack;
    }
    for (k = 0; out && k < tk->n; k++) {
        if (cur[k].seen)
            out[fill[k] - 1].end = cur[k].last + period;
    }
}

static int runs_build(const struct pp_agg *a, const struct tracks *tk, uint64_t period,
                      struct runs *rs)
{
    bool timeline = use_timeline(a);
    struct cursor *cur = NULL;
    size_t *fill = NULL, total = 0;
    uint32_t k;
    int r = -ENOMEM;

    rs->first = calloc((size_t)tk->n + 1, sizeof(*rs->first));
    fill = calloc((size_t)tk->n + 1, sizeof(*fill));
    cur = malloc(((size_t)tk->n + 1) * sizeof(*cur));
    if (!rs->first || !fill || !cur)
        goto out;
    scan(a, tk, timeline, period, cur, fill, NULL);
    for (k = 0; k < tk->n; k++) {
        rs->first[k] = total;
        total += fill[k];
        fill[k] = rs->first[k];
    }
    rs->first[tk->n] = total;
    rs->runs = malloc((total ? total : 1) * sizeof(*rs->runs));
    if (!rs->runs)
        goto out;
    scan(a, tk, timeline, period, cur, fill, rs->runs);
    r = 0;
out:
    free(cur);
    free(fill);
    return r;
}

/* === Writing ============================================================= */

static const char *const origin_names[] = {"unknown", "user", "stdlib", "third-party"};

struct writer {
    struct pp_json j;
    const struct pp_agg *a;
    const struct pp_strtab *st;
    uint64_t pid;
    uint64_t tid;         /* of the track being written */
};

static void write_strid(struct pp_json *j, const struct pp_strtab *st, uint32_t id)
{
    size_t len = 0;
    const char *s = pp_strtab_str(st, id, &len);

    pp_json_str(j, s ? s : "", s ? len : 0);
}

/* ,"ts":T,"pid":P,"tid":T}  with ts in microseconds. */
static void write_tail(struct writer *w, uint64_t ts_ns)
{
    pp_json_lit(&w->j, ",\"ts\":");
    pp_json_fixed(&w->j, ts_ns, 3);
    pp_json_lit(&w->j, ",\"pid\":");
    pp_json_u64(&w->j, w->pid);
    pp_json_lit(&w->j, ",\"tid\":");
    pp_json_u64(&w->j, w->tid);
    pp_json_lit(&w->j, "}");
}

static void write_begin(struct writer *w, uint32_t fid, uint64_t ts_ns)
{
    const struct pp_frame *f = pp_agg_frame_get(w->a, fid);
    size_t file_len = 0;
    bool file = pp_strtab_str(w->st, f->file, &file_len) && file_len;

    pp_json_lit(&w->j, ",\n{\"ph\":\"B\",\"name\":");
    write_strid(&w->j, w->st, f->name);
    pp_json_lit(&w->j, ",\"cat\":");
    pp_json_cstr(&w->j, origin_names[f->origin < 4 ? f->origin : 0]);
    if (file || f->line) {
        pp_json_lit(&w->j, ",\"args\":{");
        if (file) {
            pp_json_lit(&w->j, "\"file\":");
            write_strid(&w->j, w->st, f->file);
        }
        if (f->line) {
            if (file)
                pp_json_lit(&w->j, ",");
            pp_json_lit(&w->j, "\"line\":");
            pp_json_u64(&w->j, f->line);
        }
        pp_json_lit(&w->j, "}");
    }
    write_tail(w, ts_ns);
}

static void write_end(struct writer *w, uint64_t ts_ns)
{
    pp_json_lit(&w->j, ",\n{\"ph\":\"E\"");
    write_tail(w, ts_ns);
}

/* A metadata event: {"ph":"M","name":@what,"pid":P,"tid":T,"args":{"name":...}}; no comma. */
static void write_meta_head(struct writer *w, const char *what, uint64_t tid)
{
    pp_json_lit(&w->j, "{\"ph\":\"M\",\"name\":\"");
    pp_json_raw(&w->j, what, strlen(what));
    pp_json_lit(&w->j, "\",\"pid\":");
    pp_json_u64(&w->j, w->pid);
    pp_json_lit(&w->j, ",\"tid\":");
    pp_json_u64(&w->j, tid);
    pp_json_lit(&w->j, ",\"args\":{");
}

static void write_track_name(struct writer *w, const struct tracks *tk, uint32_t k)
{
    const struct pp_thread *th = pp_agg_thread_get(w->a, tk->thread[k]);

    pp_json_lit(&w->j, ",\n");
    write_meta_head(w, "thread_name", th->tid);
    pp_json_lit(&w->j, "\"name\":");
    if (th->name) {
        write_strid(&w->j, w->st, th->name);
    } else if (tk->n == 1 && th->tid == 0) {
        pp_json_lit(&w->j, "\"all\"");
    } else {
        pp_json_lit(&w->j, "\"Thread ");
        pp_json_u64(&w->j, th->tid);
        pp_json_lit(&w->j, "\"");
    }
    pp_json_lit(&w->j, "}},\n");
    write_meta_head(w, "thread_sort_index", th->tid);
    pp_json_lit(&w->j, "\"sort_index\":");
    pp_json_u64(&w->j, k);
    pp_json_lit(&w->j, "}}");
}

/* The slices of one track: close what the next run does not share, open what it adds. */
static void write_track(struct writer *w, const struct run *runs, size_t n)
{
    const uint32_t *open = NULL;   /* frames open, root first: a prefix of the last stack */
    uint32_t n_open = 0, common, d;
    uint64_t end = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        const struct run *r = &runs[i];
        struct pp_stack_view v;

        pp_agg_stack(w->a, r->stack, &v);
        common = 0;
        if (i && end == r->start) {
            while (common < n_open && common < v.n_fids && open[common] == v.fids[common])
                common++;
        }
        for (d = n_open; d > common; d--)
            write_end(w, end);
        for (d = common; d < v.n_fids; d++)
            write_begin(w, v.fids[d], r->start);
        open = v.fids;
        n_open = v.n_fids;
        end = r->end;
    }
    for (d = n_open; d > 0; d--)
        write_end(w, end);
}

/* The profiled process's pid from @m, else 1 (trace viewers need some pid). */
static uint64_t meta_pid(const struct pp_meta *m)
{
    return m && m->pid ? m->pid : 1;
}

int pp_chrometrace_write(const struct pp_agg *a, const struct pp_meta *m, FILE *out)
{
    struct tracks tk = {NULL, NULL, 0};
    struct runs rs = {NULL, NULL};
    struct writer *w = NULL;
    const char *name = m && m->command && *m->command ? m->command
                       : m && m->title && *m->title ? m->title
                                                     : "pyprof";
    uint64_t period = pp_meta_period_ns(m);
    uint32_t k;
    int r;

    r = tracks_build(a, &tk);
    if (r < 0)
        goto out;
    r = runs_build(a, &tk, period ? period : 1, &rs);
    if (r < 0)
        goto out;
    w = malloc(sizeof(*w));
    if (!w) {
        r = -ENOMEM;
        goto out;
    }
    w->a = a;
    w->st = pp_agg_strtab_const(a);
    w->pid = meta_pid(m);
    pp_json_init(&w->j, out);
    pp_json_lit(&w->j, "{\"traceEvents\":[\n");
    write_meta_head(w, "process_name", 0);
    pp_json_lit(&w->j, "\"name\":");
    pp_json_cstr(&w->j, name);
    pp_json_lit(&w->j, "}}");
    for (k = 0; k < tk.n; k++)
        write_track_name(w, &tk, k);
    for (k = 0; k < tk.n; k++) {
        w->tid = pp_agg_thread_get(a, tk.thread[k])->tid;
        write_track(w, rs.runs + rs.first[k], rs.first[k + 1] - rs.first[k]);
    }
    pp_json_lit(&w->j, "\n],\n\"displayTimeUnit\":\"ms\"}\n");
    r = pp_json_finish(&w->j);
out:
    free(w);
    free(rs.runs);
    free(rs.first);
    tracks_deinit(&tk);
    return r;
}
