/* SPDX-License-Identifier: MIT */
/* test-store: SQLite profile storage: round trips, time ranges, roll-ups, retention, crashes. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "../t.h"

#define T0 1699999200 /* a multiple of 3600 */
#define FAR 4000000000 /* a "now" after everything, wall clock included */

/* === Helpers ============================================================== */

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15u;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static char *mktmp(void)
{
    char *d = strdup("/tmp/test-store-XXXXXX");

    if (!d || !mkdtemp(d)) {
        perror("mkdtemp");
        exit(1);
    }
    return d;
}

static void rm_store(char *dir)
{
    static const char *const names[] = {"pyprof.db", "pyprof.db-wal", "pyprof.db-shm"};
    char p[512];

    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    free(dir);
}

/*
 * open_store_bg() - with @background, the maintenance thread runs (checkpoints off the put path;
 * it compacts only windows STORE_COMPACT_GRACE_S after their last upload by the wall clock, so
 * not during a short test); without, everything is explicit.
 */
static struct store *open_store_bg(const char *dir, int64_t retention, uint64_t max_bytes,
                                   bool background)
{
    struct store_opts o = {.dir = dir, .retention_s = retention, .max_disk_bytes = max_bytes,
                           .manual_maintenance = !background};
    struct store *s = NULL;
    char err[256];
    int r = store_open(&s, &o, err, sizeof(err));

    if (r)
        fprintf(stderr, "store_open: %d %s\n", r, err);
    T_EQ_INT(r, 0);
    if (!s)
        exit(1);
    return s;
}

static struct store *open_store(const char *dir, int64_t retention, uint64_t max_bytes)
{
    return open_store_bg(dir, retention, max_bytes, false);
}

static struct series_key key_of(const char *name)
{
    struct series_key k;
    char err[128];

    if (labels_parse_name(name, &k, err, sizeof(err))) {
        fprintf(stderr, "bad name %s: %s\n", name, err);
        exit(1);
    }
    return k;
}

static struct selector *sel_of(const char *q)
{
    struct selector *s = NULL;
    char err[128];

    if (selector_parse(q, &s, err, sizeof(err))) {
        fprintf(stderr, "bad selector %s: %s\n", q, err);
        exit(1);
    }
    return s;
}

static uint32_t str_id(struct pp_agg *a, const char *s)
{
    uint32_t id = 0;

    if (pp_strtab_intern(pp_agg_strtab(a), s, strlen(s), &id))
        exit(1);
    return id;
}

/* add_stack() - add "f1;f2;..." (frames "name@file:line" or "name") with @count on thread @tid. */
static void add_stack(struct pp_agg *a, uint64_t tid, const char *folded, uint64_t count)
{
    uint32_t fids[4096], n = 0, th;
    char buf[65536], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", folded);
    for (char *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        struct pp_frame f = {0};
        char *at = strchr(tok, '@'), *colon;

        if (at) {
            *at = '\0';
            colon = strrchr(at + 1, ':');
            if (colon) {
                *colon = '\0';
                f.line = (uint32_t)atoi(colon + 1);
            }
            f.file = str_id(a, at + 1);
        }
        f.name = str_id(a, tok);
        if (pp_agg_intern_frame(a, &f, &fids[n++]))
            exit(1);
    }
    if (pp_agg_intern_thread(a, tid, str_id(a, tid ? "worker" : ""), &th))
        exit(1);
    if (pp_agg_add(a, th, fids, n, count))
        exit(1);
}

/* merge_into() - add every stack of @src @mult times to @dst (threads dropped). */
static void merge_into(struct pp_agg *dst, const struct pp_agg *src, uint64_t mult)
{
    const struct pp_strtab *st = pp_agg_strtab_const(src);
    uint32_t th, *fids = malloc(STORE_MAX_DEPTH * sizeof(*fids));

    pp_agg_intern_thread(dst, 0, 0, &th);
    for (size_t i = 0; i < pp_agg_n_stacks(src); i++) {
        struct pp_stack_view v;

        pp_agg_stack(src, i, &v);
        for (uint32_t j = 0; j < v.n_fids; j++) {
            const struct pp_frame *f = pp_agg_frame_get(src, v.fids[j]);
            struct pp_frame g = {str_id(dst, pp_strtab_str(st, f->name, NULL)),
                                 str_id(dst, pp_strtab_str(st, f->file, NULL)), f->line,
                                 f->origin};

            pp_agg_intern_frame(dst, &g, &fids[j]);
        }
        pp_agg_add(dst, th, fids, v.n_fids, v.count * mult);
    }
    free(fids);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * canon() - the aggregate as sorted "frame;frame count" lines with equal stacks merged and
 * zero counts dropped: equal for equal profiles whatever the ids, threads or order. malloc'd.
 */
static char *canon(const struct pp_agg *a)
{
    const struct pp_strtab *st = pp_agg_strtab_const(a);
    size_t n = pp_agg_n_stacks(a), total = 1, len;
    char **lines = calloc(n + 1, sizeof(*lines)), *out, *w;
    uint64_t *counts = calloc(n + 1, sizeof(*counts));

    for (size_t i = 0; i < n; i++) {
        struct pp_stack_view v;
        size_t cap = 64, used = 0;
        char *l = malloc(cap);

        pp_agg_stack(a, i, &v);
        l[0] = '\0';
        for (uint32_t j = 0; j < v.n_fids; j++) {
            const struct pp_frame *f = pp_agg_frame_get(a, v.fids[j]);
            const char *nm = pp_strtab_str(st, f->name, NULL), *fl = pp_strtab_str(st, f->file, NULL);

            while (used + strlen(nm) + strlen(fl) + 32 > cap)
                l = realloc(l, cap *= 2);
            used += (size_t)sprintf(l + used, "%s%s@%s:%u", j ? ";" : "", nm, fl, f->line);
        }
        /* Append the count after a tab, sort, then merge equal stacks. */
        l = realloc(l, used + 32);
        sprintf(l + used, "\t%llu", (unsigned long long)v.count);
        lines[i] = l;
    }
    qsort(lines, n, sizeof(*lines), cmp_str);
    /* Merge: same text before the tab. */
    for (size_t i = 0; i < n; i++)
        total += strlen(lines[i]) + 24;
    out = malloc(total);
    w = out;
    for (size_t i = 0; i < n;) {
        char *tab = strrchr(lines[i], '\t');
        size_t klen = (size_t)(tab - lines[i]);
        unsigned long long sum = 0;
        size_t j = i;

        for (; j < n; j++) {
            char *tj = strrchr(lines[j], '\t');

            if ((size_t)(tj - lines[j]) != klen || memcmp(lines[j], lines[i], klen) != 0)
                break;
            sum += strtoull(tj + 1, NULL, 10);
        }
        if (sum) {
            memcpy(w, lines[i], klen);
            w += klen;
            w += sprintf(w, " %llu\n", sum);
        }
        i = j;
    }
    *w = '\0';
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    free(counts);
    (void)len;
    return out;
}

static void expect_same(const char *what, char *got, char *want)
{
    if (strcmp(got, want) != 0) {
        size_t i = 0;

        while (got[i] && got[i] == want[i])
            i++;
        fprintf(stderr, "%s: differ at byte %zu (got %zu bytes, want %zu)\n  got:  %.120s\n"
                        "  want: %.120s\n",
                what, i, strlen(got), strlen(want), got + (i > 40 ? i - 40 : 0),
                want + (i > 40 ? i - 40 : 0));
        t_failures++;
    }
    free(got);
    free(want);
}

/* query_canon() - store_query into a fresh aggregate and canonicalize; *total gets its total. */
static char *query_canon(struct store *s, const char *q, int64_t from, int64_t until,
                         uint64_t *total)
{
    struct selector *sel = sel_of(q);
    struct pp_agg *a = NULL;
    char *c;

    pp_agg_new(&a);
    T_EQ_INT(store_query(s, sel, from, until, a, NULL), 0);
    if (total)
        *total = pp_agg_total(a);
    c = canon(a);
    pp_agg_free(a);
    selector_free(sel);
    return c;
}

/* timed_query() - store_query alone, timed; returns ms. */
static double timed_query(struct store *s, const char *q, int64_t from, int64_t until,
                          size_t *n_stacks)
{
    struct selector *sel = sel_of(q);
    struct pp_agg *a = NULL;
    double t;

    pp_agg_new(&a);
    t = now_ms();
    T_EQ_INT(store_query(s, sel, from, until, a, NULL), 0);
    t = now_ms() - t;
    if (n_stacks)
        *n_stacks = pp_agg_n_stacks(a);
    pp_agg_free(a);
    selector_free(sel);
    return t;
}

static uint64_t query_total(struct store *s, const char *q, int64_t from, int64_t until)
{
    uint64_t t = 0;

    free(query_canon(s, q, from, until, &t));
    return t;
}

/* A one-stack profile of @count samples. */
static struct pp_agg *tiny(const char *stack, uint64_t count)
{
    struct pp_agg *a = NULL;

    pp_agg_new(&a);
    add_stack(a, 0, stack, count);
    return a;
}

static int put_tiny(struct store *s, const char *name, int64_t from, const char *stack,
                    uint64_t count)
{
    struct series_key k = key_of(name);
    struct pp_agg *a = tiny(stack, count);
    int r = store_put(s, &k, from, from + 10, a, NULL);

    pp_agg_free(a);
    return r;
}

/*
 * gen_profile() - a realistic 10 s profile: @n_stacks stacks drawn from a universe of @uniq
 * (deep, sharing prefixes, ~400 functions), counts 1..20, spread over 4 threads.
 */
static struct pp_agg *gen_profile(uint64_t seed, int n_stacks, int uniq)
{
    struct pp_agg *a = NULL;
    uint64_t rs = seed * 2654435761u + 1;
    uint32_t fids[64], th[4];
    char name[64], file[64];

    pp_agg_new(&a);
    for (int t = 0; t < 4; t++)
        pp_agg_intern_thread(a, 100 + (uint64_t)t, str_id(a, "worker"), &th[t]);
    for (int i = 0; i < n_stacks; i++) {
        uint64_t k = rnd(&rs) % (uint64_t)uniq;
        int depth = 12 + (int)(k * 7 % 25);

        for (int d = 0; d < depth; d++) {
            uint64_t h = ((k >> (d < 30 ? (30 - d) / 3 : 0)) * 1000003u + (uint64_t)d) % 400;
            struct pp_frame f = {0};

            snprintf(name, sizeof(name), "pkg%llu.mod.func_%llu", (unsigned long long)(h % 23),
                     (unsigned long long)h);
            snprintf(file, sizeof(file), "/srv/app/pkg%llu/mod.py", (unsigned long long)(h % 23));
            f.name = str_id(a, name);
            f.file = str_id(a, file);
            f.line = (uint32_t)(h * 7 % 500 + 1);
            pp_agg_intern_frame(a, &f, &fids[d]);
        }
        pp_agg_add(a, th[rnd(&rs) % 4], fids, (uint32_t)depth, 1 + rnd(&rs) % 20);
    }
    return a;
}

static uint64_t stat_merged(struct store *s)
{
    struct store_stats st;

    T_EQ_INT(store_get_stats(s, &st), 0);
    return st.trees_merged;
}

/* === Tests ================================================================ */

static void test_round_trip(void)
{
    char *dir = mktmp();
    struct store *s = open_store(dir, 0, 0);
    struct series_key k = key_of("rt.cpu{env=prod}");
    struct pp_agg *a = NULL, *b = NULL, *q = NULL;
    struct selector *sel = sel_of("rt.cpu");
    struct store_meta m = {.sample_rate = 100, .spy_name = "pyprof"};
    char deep[20000], *long_name;

    pp_agg_new(&a);
    add_stack(a, 1, "main@/app/m.py:10;work@/app/w.py:20;leaf@/app/w.py:30", 5);
    add_stack(a, 2, "main@/app/m.py:10;work@/app/w.py:20;leaf@/app/w.py:30", 7); /* other thread */
    add_stack(a, 1, "main@/app/m.py:10;work@/app/w.py:21", 3);
    add_stack(a, 1, "main@/app/m.py:10;work@/app/w.py:20", 2);
    add_stack(a, 0, "main@/app/m.py:11", 1);
    add_stack(a, 0, "unnamed", 4);
    add_stack(a, 0, "zero@/z.py:1", 0); /* count 0: not stored */
    add_stack(a, 3, "main@/app/m.py:10;work@/app/w.py:21", 0);
    T_EQ_INT(store_put(s, &k, T0, T0 + 10, a, &m), 0);

    pp_agg_new(&q);
    T_EQ_INT(store_query(s, sel, T0, T0 + 10, q, NULL), 0);
    T_EQ_INT(pp_agg_total(q), 22);
    T_EQ_INT(pp_agg_n_stacks(q), 5);
    T_EQ_INT(pp_agg_n_threads(q), 1);
    expect_same("round trip", canon(q),
                strdup("main@/app/m.py:10;work@/app/w.py:20 2\n"
                       "main@/app/m.py:10;work@/app/w.py:20;leaf@/app/w.py:30 12\n"
                       "main@/app/m.py:10;work@/app/w.py:21 3\n"
                       "main@/app/m.py:11 1\n"
                       "unnamed@:0 4\n"));
    /* Into a non-empty aggregate: adds. */
    T_EQ_INT(store_query(s, sel, T0, T0 + 10, q, NULL), 0);
    T_EQ_INT(pp_agg_total(q), 44);
    pp_agg_free(q);

    /* Two uploads in one bucket merge; an empty profile is fine. */
    T_EQ_INT(store_put(s, &k, T0 + 5, T0 + 15, a, NULL), 0);
    pp_agg_new(&b);
    T_EQ_INT(store_put(s, &k, T0, T0 + 10, b, NULL), 0);
    T_EQ_INT(query_total(s, "rt.cpu", T0, T0 + 10), 44);

    /* Limits: depth and string length give -E2BIG; bad arguments -EINVAL. */
    deep[0] = '\0';
    for (int i = 0; i <= STORE_MAX_DEPTH; i++)
        strcat(deep, i ? ";f" : "f");
    pp_agg_free(b);
    b = tiny(deep, 1);
    T_EQ_INT(store_put(s, &k, T0, T0 + 10, b, NULL), -E2BIG);
    pp_agg_free(b);
    deep[2 * STORE_MAX_DEPTH - 1] = '\0'; /* exactly STORE_MAX_DEPTH frames */
    b = tiny(deep, 1);
    T_EQ_INT(store_put(s, &k, T0 + 100, T0 + 110, b, NULL), 0);
    T_EQ_INT(query_total(s, "rt.cpu", T0 + 100, T0 + 110), 1);
    pp_agg_free(b);
    long_name = malloc(STORE_MAX_STRING + 2);
    memset(long_name, 'x', STORE_MAX_STRING + 1);
    long_name[STORE_MAX_STRING + 1] = '\0';
    b = tiny(long_name, 1);
    T_EQ_INT(store_put(s, &k, T0, T0 + 10, b, NULL), -E2BIG);
    pp_agg_free(b);
    long_name[STORE_MAX_STRING] = '\0';
    b = tiny(long_name, 1);
    T_EQ_INT(store_put(s, &k, T0 + 200, T0 + 210, b, NULL), 0);
    pp_agg_free(b);
    free(long_name);
    T_EQ_INT(store_put(s, &k, T0 + 10, T0 + 10, a, NULL), -EINVAL);
    T_EQ_INT(store_query(s, sel, T0 + 10, T0 + 10, a, NULL), -EINVAL);

    pp_agg_free(a);
    selector_free(sel);
    store_close(s);
    rm_store(dir);
}

static void test_time_edges(void)
{
    char *dir = mktmp();
    struct store *s = open_store(dir, 0, 0);

    T_EQ_INT(put_tiny(s, "e.cpu", 1000, "a", 1), 0);   /* bucket 1000 */
    T_EQ_INT(put_tiny(s, "e.cpu", 1009, "a", 2), 0);   /* bucket 1000 */
    T_EQ_INT(put_tiny(s, "e.cpu", 1010, "a", 4), 0);   /* bucket 1010 */
    T_EQ_INT(put_tiny(s, "e.cpu", 1025, "a", 8), 0);   /* bucket 1020 */
    T_EQ_INT(put_tiny(s, "e.cpu", -15, "a", 16), 0);   /* bucket -20 */

    T_EQ_INT(query_total(s, "e.cpu", 1000, 1010), 3);
    T_EQ_INT(query_total(s, "e.cpu", 1009, 1010), 3);
    T_EQ_INT(query_total(s, "e.cpu", 1009, 1011), 7);
    T_EQ_INT(query_total(s, "e.cpu", 1010, 1020), 4);
    T_EQ_INT(query_total(s, "e.cpu", 1019, 1021), 12);
    T_EQ_INT(query_total(s, "e.cpu", 990, 1000), 0);
    T_EQ_INT(query_total(s, "e.cpu", 1030, 5000), 0);
    T_EQ_INT(query_total(s, "e.cpu", 0, 1000000), 15);
    T_EQ_INT(query_total(s, "e.cpu", -20, -19), 16);
    T_EQ_INT(query_total(s, "e.cpu", -11, -10), 16);
    T_EQ_INT(query_total(s, "e.cpu", -10, 0), 0);
    store_close(s);
    rm_store(dir);
}

static void test_selectors_listing(void)
{
    char *dir = mktmp();
    struct store *s = open_store(dir, 0, 0);
    char **v = NULL;
    size_t n = 0;

    T_EQ_INT(put_tiny(s, "web.cpu{env=prod,host=web-1}", T0, "a", 1), 0);
    T_EQ_INT(put_tiny(s, "web.cpu{host=web-2,env=prod}", T0, "a", 2), 0);
    T_EQ_INT(put_tiny(s, "web.cpu{env=dev,host=web-1}", T0, "a", 4), 0);
    T_EQ_INT(put_tiny(s, "web.cpu{host=db-1,env=prod}", T0, "a", 8), 0);
    T_EQ_INT(put_tiny(s, "web.cpu", T0, "a", 16), 0);
    T_EQ_INT(put_tiny(s, "other.cpu{env=prod,zone=z}", T0, "a", 32), 0);

    T_EQ_INT(query_total(s, "web.cpu", T0, T0 + 10), 31);
    T_EQ_INT(query_total(s, "web.cpu{env=\"prod\"}", T0, T0 + 10), 11);
    T_EQ_INT(query_total(s, "web.cpu{env!=\"prod\"}", T0, T0 + 10), 20);
    T_EQ_INT(query_total(s, "web.cpu{host=~\"web-.*\"}", T0, T0 + 10), 7);
    T_EQ_INT(query_total(s, "web.cpu{host=~\"web\"}", T0, T0 + 10), 0);
    T_EQ_INT(query_total(s, "web.cpu{host!~\"web-.*\",env=\"prod\"}", T0, T0 + 10), 8);
    T_EQ_INT(query_total(s, "web.cpu{env=\"\"}", T0, T0 + 10), 16);
    T_EQ_INT(query_total(s, "other.cpu{env=\"prod\"}", T0, T0 + 10), 32);
    T_EQ_INT(query_total(s, "nope.cpu", T0, T0 + 10), 0);

    T_EQ_INT(store_apps(s, &v, &n), 0);
    T_EQ_INT(n, 2);
    if (n == 2) {
        T_EQ_STR(v[0], "other.cpu");
        T_EQ_STR(v[1], "web.cpu");
    }
    store_strv_free(v, n);
    T_EQ_INT(store_label_names(s, NULL, &v, &n), 0);
    T_EQ_INT(n, 3);
    if (n == 3) {
        T_EQ_STR(v[0], "env");
        T_EQ_STR(v[1], "host");
        T_EQ_STR(v[2], "zone");
    }
    store_strv_free(v, n);
    T_EQ_INT(store_label_names(s, "web.cpu", &v, &n), 0);
    T_EQ_INT(n, 2);
    store_strv_free(v, n);
    T_EQ_INT(store_label_values(s, "web.cpu", "host", &v, &n), 0);
    T_EQ_INT(n, 3);
    if (n == 3) {
        T_EQ_STR(v[0], "db-1");
        T_EQ_STR(v[1], "web-1");
        T_EQ_STR(v[2], "web-2");
    }
    store_strv_free(v, n);
    T_EQ_INT(store_label_values(s, NULL, "env", &v, &n), 0);
    T_EQ_INT(n, 2);
    store_strv_free(v, n);
    T_EQ_INT(store_label_values(s, "other.cpu", "host", &v, &n), 0);
    T_EQ_INT(n, 0);
    T_ASSERT(v != NULL);
    store_strv_free(v, n);
    store_close(s);
    rm_store(dir);
}

static void test_timeline(void)
{
    char *dir = mktmp();
    struct store *s = open_store(dir, 0, 0);
    struct selector *sel = sel_of("tl.cpu");
    struct store_timeline tl;
    struct pp_agg *a = NULL;
    uint64_t sum = 0;

    for (int i = 0; i < 100; i++) /* one upload per 10 s, i+1 samples */
        T_EQ_INT(put_tiny(s, "tl.cpu{i=x}", T0 + i * 10, "a;b", (uint64_t)i + 1), 0);

    /* 1000 s at step 10: one step per bucket. */
    pp_agg_new(&a);
    T_EQ_INT(store_query(s, sel, T0, T0 + 1000, a, &tl), 0);
    T_EQ_INT(tl.step_s, 10);
    T_EQ_INT(tl.start_s, T0);
    T_EQ_INT(tl.n_steps, 100);
    for (size_t i = 0; i < tl.n_steps; i++)
        T_EQ_INT(tl.samples[i], i + 1);
    free(tl.samples);
    pp_agg_free(a);

    /* Unaligned range: buckets overlapping it are counted, steps aligned to the step. */
    pp_agg_new(&a);
    T_EQ_INT(store_query(s, sel, T0 + 15, T0 + 41, a, &tl), 0);
    T_EQ_INT(tl.step_s, 10);
    T_EQ_INT(tl.start_s, T0 + 10);
    T_EQ_INT(tl.n_steps, 4);
    T_EQ_INT(tl.samples[0], 2);
    T_EQ_INT(tl.samples[1], 3);
    T_EQ_INT(tl.samples[2], 4);
    T_EQ_INT(tl.samples[3], 5);
    T_EQ_INT(pp_agg_total(a), 14);
    free(tl.samples);
    pp_agg_free(a);

    /* 1 day: step 120 (86400/60 = 1440 > 1000); totals per step; sum = merged total. */
    pp_agg_new(&a);
    T_EQ_INT(store_query(s, sel, T0 - 3600, T0 + 82800, a, &tl), 0);
    T_EQ_INT(tl.step_s, 120);
    T_EQ_INT(tl.start_s, T0 - 3600);
    T_EQ_INT(tl.n_steps, 720);
    T_EQ_INT(tl.samples[29], 0);
    T_EQ_INT(tl.samples[30], 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12);
    T_EQ_INT(tl.samples[31], 13 + 14 + 15 + 16 + 17 + 18 + 19 + 20 + 21 + 22 + 23 + 24);
    for (size_t i = 0; i < tl.n_steps; i++)
        sum += tl.samples[i];
    T_EQ_INT(sum, 5050);
    T_EQ_INT(pp_agg_total(a), 5050);
    free(tl.samples);
    pp_agg_free(a);

    /* Never more than 1000 steps, step >= 10, aligned. */
    {
        static const int64_t spans[] = {1, 10, 9999, 10000, 10001, 86400 * 7, 86400 * 365};

        for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
            pp_agg_new(&a);
            T_EQ_INT(store_query(s, sel, T0 + 3, T0 + 3 + spans[i], a, &tl), 0);
            T_ASSERT(tl.n_steps >= 1 && tl.n_steps <= 1000);
            T_ASSERT(tl.step_s >= 10 && tl.step_s % 10 == 0);
            T_EQ_INT(tl.start_s % tl.step_s, 0);
            T_ASSERT(tl.start_s <= T0 + 3);
            T_ASSERT(tl.start_s + (int64_t)tl.n_steps * tl.step_s >= T0 + 3 + spans[i]);
            free(tl.samples);
            pp_agg_free(a);
        }
    }
    selector_free(sel);
    store_close(s);
    rm_store(dir);
}

/*
 * Roll-ups: 5 series x 25 h of one realistic upload per 10 s. Raw and rolled-up queries must
 * agree exactly, with the expected number of trees; also prints ingest and query timings.
 */
static void rollups(int N_SERIES, int n_stacks, int uniq)
{
    enum { N_BUCKETS = 24 * 360 + 60, MAX_SERIES = 8 }; /* 24 h 10 min */
    char *dir = mktmp();
    struct store *s = open_store(dir, 0, 0);
    struct series_key keys[MAX_SERIES];
    struct pp_agg *ref1h = NULL, *ref24h = NULL, *pool[MAX_SERIES][16];
    struct store_stats st;
    double put_ms = 0, t;
    uint64_t m0, mult1h[MAX_SERIES][16] = {{0}}, mult24h[MAX_SERIES][16] = {{0}};
    int n_puts = 0;
    char name[64];

    pp_agg_new(&ref1h);
    pp_agg_new(&ref24h);
    for (int i = 0; i < N_SERIES; i++) {
        snprintf(name, sizeof(name), "big.cpu{host=h%d,env=prod}", i);
        keys[i] = key_of(name);
        for (int j = 0; j < 16; j++)
            pool[i][j] = gen_profile((uint64_t)(i * 100 + j), n_stacks, uniq);
    }
    for (int b = 0; b < N_BUCKETS; b++) {
        int64_t from = T0 + (int64_t)b * 10;

        for (int i = 0; i < N_SERIES; i++) {
            /* Varying content: a pool profile plus a per-bucket stack. */
            struct pp_agg *p = pool[i][(b * 7 + i) % 16];
            char stack[64];

            snprintf(stack, sizeof(stack), "tick@/t.py:%d;b%d", b % 97, b % 13);
            add_stack(p, 0, stack, 1);
            t = now_ms();
            T_EQ_INT(store_put(s, &keys[i], from, from + 10, p, NULL), 0);
            put_ms += now_ms() - t;
            n_puts++;
            /* The reference: what overlaps the two query ranges below. */
            if (from + 10 > T0 + 35 && from < T0 + 35 + 3600) {
                mult1h[i][(b * 7 + i) % 16]++;
                add_stack(ref1h, 0, stack, 1);
            }
            if (from + 10 > T0 + 35 && from < T0 + 35 + 86400) {
                mult24h[i][(b * 7 + i) % 16]++;
                add_stack(ref24h, 0, stack, 1);
            }
            /* Take the extra stack back out so pool profiles stay small. */
            add_stack(p, 0, stack, (uint64_t)-1);
        }
    }
    for (int i = 0; i < N_SERIES; i++) {
        for (int j = 0; j < 16; j++) {
            merge_into(ref1h, pool[i][j], mult1h[i][j]);
            merge_into(ref24h, pool[i][j], mult24h[i][j]);
        }
    }
    printf("%d series x 24 h 10 min, %d stacks per upload\n", N_SERIES, n_stacks);
    printf("ingest, 1 thread: %d puts in %.0f ms = %.0f puts/s (%.3f ms/put)\n", n_puts, put_ms,
           n_puts / put_ms * 1e3, put_ms / n_puts);

    /* Before compaction: raw buckets only. */
    m0 = stat_merged(s);
    expect_same("raw 1h", query_canon(s, "big.cpu", T0 + 35, T0 + 35 + 3600, NULL), canon(ref1h));
    T_EQ_INT(stat_merged(s) - m0, N_SERIES * 361);
    printf("query 1h raw: %.1f ms, %d trees\n",
           timed_query(s, "big.cpu", T0 + 35, T0 + 35 + 3600, NULL), N_SERIES * 361);

    t = now_ms();
    T_EQ_INT(store_compact(s, FAR), 0);
    T_EQ_INT(store_get_stats(s, &st), 0);
    printf("compaction: %.0f ms for %llu windows (%.3f ms per put amortized)\n", now_ms() - t,
           (unsigned long long)st.compactions, (now_ms() - t) / n_puts);
    T_EQ_INT(st.dirty_windows, 0);
    T_EQ_INT(st.rollups, N_SERIES * (1450 + 145 + 25));
    T_EQ_INT(st.profiles, n_puts);

    /* Roll-ups: identical results, few trees. */
    m0 = stat_merged(s);
    expect_same("rollup 1h", query_canon(s, "big.cpu", T0 + 35, T0 + 35 + 3600, NULL),
                canon(ref1h));
    T_EQ_INT(stat_merged(s) - m0, N_SERIES * (5 + 9 + 3 + 4));
    {
        size_t ns = 0;
        double ms = timed_query(s, "big.cpu", T0 + 35, T0 + 35 + 3600, &ns);

        printf("query 1h (unaligned) with roll-ups: %.1f ms, %d trees, %zu stacks\n", ms,
               N_SERIES * (5 + 9 + 3 + 4), ns);
    }

    m0 = stat_merged(s);
    expect_same("rollup 24h", query_canon(s, "big.cpu", T0 + 35, T0 + 35 + 86400, NULL),
                canon(ref24h));
    T_EQ_INT(stat_merged(s) - m0, N_SERIES * (23 + 5 + 9 + 3 + 4));
    {
        size_t ns = 0;
        double ms = timed_query(s, "big.cpu", T0 + 35, T0 + 35 + 86400, &ns);

        printf("query 24h (unaligned) with roll-ups: %.1f ms, %d trees, %zu stacks\n", ms,
               N_SERIES * (23 + 5 + 9 + 3 + 4), ns);
    }

    m0 = stat_merged(s);
    free(query_canon(s, "big.cpu", T0, T0 + 86400, NULL));
    T_EQ_INT(stat_merged(s) - m0, N_SERIES * 24);

    /* One series, with a timeline, as the HTTP layer asks. */
    {
        struct selector *sel = sel_of("big.cpu{host=\"h0\"}");
        struct store_timeline tl;
        struct pp_agg *a = NULL;
        uint64_t sum = 0;

        pp_agg_new(&a);
        t = now_ms();
        T_EQ_INT(store_query(s, sel, T0 + 35, T0 + 35 + 86400, a, &tl), 0);
        printf("query 24h one series + timeline: %.1f ms, %zu stacks\n", now_ms() - t,
               pp_agg_n_stacks(a));
        for (size_t i = 0; i < tl.n_steps; i++)
            sum += tl.samples[i];
        T_EQ_INT(sum, pp_agg_total(a));
        free(tl.samples);
        pp_agg_free(a);
        selector_free(sel);
    }

    /* A late upload into a compacted window invalidates its roll-ups; results stay exact. */
    {
        uint64_t before = query_total(s, "big.cpu", T0, T0 + 86400);

        T_EQ_INT(put_tiny(s, "big.cpu{host=h0,env=prod}", T0 + 4000, "late", 1000), 0);
        T_EQ_INT(query_total(s, "big.cpu", T0, T0 + 86400), before + 1000);
        T_EQ_INT(store_compact(s, FAR), 0);
        T_EQ_INT(query_total(s, "big.cpu", T0, T0 + 86400), before + 1000);
        T_EQ_INT(store_get_stats(s, &st), 0);
        T_EQ_INT(st.rollups, N_SERIES * (1450 + 145 + 25));
    }
    printf("disk: %.1f MB for %d uploads\n", st.disk_bytes / 1e6, n_puts + 1);

    for (int i = 0; i < N_SERIES; i++) {
        for (int j = 0; j < 16; j++)
            pp_agg_free(pool[i][j]);
    }
    pp_agg_free(ref1h);
    pp_agg_free(ref24h);
    store_close(s);
    rm_store(dir);
}

static void test_retention_age(void)
{
    char *dir = mktmp();
    struct store *s = open_store(dir, 1000, 0);
    struct store_stats st;
    char **v = NULL;
    size_t n = 0;
    int64_t now = T0 + 7200, cutoff = now - 1000; /* T0 + 6200 */

    /* Two series: one spans [T0, T0 + 7200), the other is entirely old. */
    for (int i = 0; i < 720; i++)
        T_EQ_INT(put_tiny(s, "ret.cpu{a=1}", T0 + i * 10, "x", 1), 0);
    T_EQ_INT(put_tiny(s, "old.cpu{gone=yes}", T0, "x", 1), 0);
    T_EQ_INT(store_compact(s, FAR), 0);
    T_EQ_INT(store_get_stats(s, &st), 0);
    T_ASSERT(st.rollups > 0);

    /* Unaligned cutoff: the bucket [6190, 6200) ends at the cutoff and goes; [6200..) stays. */
    T_EQ_INT(store_enforce_retention(s, now + 5), 0); /* cutoff T0 + 6205 */
    T_EQ_INT(store_get_stats(s, &st), 0);
    T_EQ_INT(st.profiles, 100); /* buckets T0+6200 .. T0+7190 */
    T_EQ_INT(st.series, 1);
    T_EQ_INT(query_total(s, "ret.cpu", T0, T0 + 6200), 0);
    T_EQ_INT(query_total(s, "ret.cpu", T0, T0 + 6201), 1);
    T_EQ_INT(query_total(s, "ret.cpu", 0, T0 + 100000), 100);
    T_EQ_INT(query_total(s, "old.cpu", 0, T0 + 100000), 0);
    /* Roll-ups rebuilt from what remains give the same answer. */
    T_EQ_INT(store_compact(s, FAR), 0);
    T_EQ_INT(query_total(s, "ret.cpu", 0, T0 + 100000), 100);
    T_EQ_INT(query_total(s, "ret.cpu", T0 + 3600, T0 + 7200), 100);
    T_EQ_INT(store_apps(s, &v, &n), 0);
    T_EQ_INT(n, 1);
    if (n)
        T_EQ_STR(v[0], "ret.cpu");
    store_strv_free(v, n);
    T_EQ_INT(store_label_names(s, NULL, &v, &n), 0);
    T_EQ_INT(n, 1);
    store_strv_free(v, n);
    (void)cutoff;
    store_close(s);
    rm_store(dir);
}

/* A profile whose strings do not compress: about @kb KiB of blob. */
static struct pp_agg *fat_profile(uint64_t seed, int kb)
{
    struct pp_agg *a = NULL;
    uint64_t rs = seed + 1;
    char name[80];
    uint32_t fid, th;

    pp_agg_new(&a);
    pp_agg_intern_thread(a, 0, 0, &th);
    for (int i = 0; i < kb * 16; i++) {
        struct pp_frame f = {0};

        snprintf(name, sizeof(name), "f%016llx%016llx", (unsigned long long)rnd(&rs),
                 (unsigned long long)rnd(&rs));
        f.name = str_id(a, name);
        pp_agg_intern_frame(a, &f, &fid);
        pp_agg_add(a, th, &fid, 1, 1);
    }
    return a;
}

#define FAT_KB 64

static void test_retention_size(void)
{
    char *dir = mktmp();
    struct store *s = open_store(dir, 0, 0);
    struct store_stats st;
    uint64_t big, limit;
    int n = 200;

    for (int i = 0; i < n; i++) {
        struct series_key k = key_of(i % 2 ? "sz.cpu{s=a}" : "sz.cpu{s=b}");
        struct pp_agg *a = fat_profile((uint64_t)i, FAT_KB);

        T_EQ_INT(store_put(s, &k, T0 + i * 10, T0 + i * 10 + 10, a, NULL), 0);
        pp_agg_free(a);
    }
    T_EQ_INT(store_get_stats(s, &st), 0);
    big = st.disk_bytes;
    printf("size test: %.1f MB before\n", big / 1e6);
    T_ASSERT(big > 3000000);
    store_close(s);

    limit = big / 3;
    s = open_store(dir, 0, limit);
    T_EQ_INT(store_enforce_retention(s, T0), 0);
    T_EQ_INT(store_get_stats(s, &st), 0);
    printf("size test: %.1f MB after (limit %.1f MB), %llu uploads left\n", st.disk_bytes / 1e6,
           limit / 1e6, (unsigned long long)st.profiles);
    T_ASSERT(st.disk_bytes <= limit);
    T_ASSERT(st.profiles > 0 && st.profiles < (uint64_t)n / 2);
    /* Oldest first: what is left is exactly the newest uploads. */
    {
        int64_t first = T0 + (int64_t)(n - st.profiles) * 10;

        T_EQ_INT(query_total(s, "sz.cpu", 0, first), 0);
        T_EQ_INT(query_total(s, "sz.cpu", first, T0 + n * 10) / (FAT_KB * 16), st.profiles);
    }

    /* Puts keep working at the limit, dropping the oldest as they go. */
    for (int i = n; i < n + 100; i++) {
        struct series_key k = key_of("sz.cpu{s=a}");
        struct pp_agg *a = fat_profile((uint64_t)i, FAT_KB);

        T_EQ_INT(store_put(s, &k, T0 + i * 10, T0 + i * 10 + 10, a, NULL), 0);
        pp_agg_free(a);
    }
    T_EQ_INT(store_get_stats(s, &st), 0);
    T_ASSERT(st.disk_bytes <= limit + limit / 10);
    T_EQ_INT(query_total(s, "sz.cpu", T0 + (n + 99) * 10, T0 + (n + 100) * 10), FAT_KB * 16);
    store_close(s);

    /* A limit nothing fits under: -ENOSPC, and the store is emptied, not corrupted. */
    s = open_store(dir, 0, 1);
    {
        struct series_key k = key_of("sz.cpu{s=a}");
        struct pp_agg *a = fat_profile(9999, 1);

        T_EQ_INT(store_put(s, &k, T0, T0 + 10, a, NULL), -ENOSPC);
        pp_agg_free(a);
    }
    T_EQ_INT(store_get_stats(s, &st), 0);
    T_EQ_INT(st.profiles, 0);
    store_close(s);
    rm_store(dir);
}

struct thr {
    struct store *s;
    int id, n;
    struct pp_agg *p[8];
    int failures;
};

static void *put_thread(void *arg)
{
    struct thr *t = arg;
    char name[64];

    for (int i = 0; i < t->n; i++) {
        struct series_key k;

        snprintf(name, sizeof(name), "conc.cpu{t=%d,s=%d}", t->id, i % 3);
        k = key_of(name);
        if (store_put(t->s, &k, T0 + i * 10, T0 + i * 10 + 10, t->p[i % 8], NULL))
            t->failures++;
        if (i % 50 == 0) { /* readers run alongside */
            struct selector *sel;

            snprintf(name, sizeof(name), "conc.cpu{t=\"%d\",s=\"0\"}", t->id);
            sel = sel_of(name);
            struct pp_agg *a = NULL;

            pp_agg_new(&a);
            if (store_query(t->s, sel, T0 + i * 10 - 300, T0 + i * 10 + 10, a, NULL))
                t->failures++;
            pp_agg_free(a);
            selector_free(sel);
        }
    }
    return NULL;
}

static void test_concurrent(void)
{
    enum { N_THREADS = 4, N = 1000 };
    char *dir = mktmp();
    struct store *s = open_store(dir, 0, 0);
    struct thr t[N_THREADS];
    pthread_t th[N_THREADS];
    struct store_stats st;
    uint64_t expect = 0;
    double t0;

    for (int i = 0; i < N_THREADS; i++) {
        t[i] = (struct thr){.s = s, .id = i, .n = N};
        for (int j = 0; j < 8; j++)
            t[i].p[j] = gen_profile((uint64_t)(1000 + i * 8 + j), 120, 1500);
        for (int j = 0; j < N; j++)
            expect += pp_agg_total(t[i].p[j % 8]);
    }
    t0 = now_ms();
    for (int i = 0; i < N_THREADS; i++)
        pthread_create(&th[i], NULL, put_thread, &t[i]);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    t0 = now_ms() - t0;
    printf("ingest, 4 threads: %d puts in %.0f ms = %.0f puts/s (with a query every 50 puts)\n",
           N_THREADS * N, t0, N_THREADS * N / t0 * 1e3);
    for (int i = 0; i < N_THREADS; i++) {
        T_EQ_INT(t[i].failures, 0);
        for (int j = 0; j < 8; j++)
            pp_agg_free(t[i].p[j]);
    }
    T_EQ_INT(store_get_stats(s, &st), 0);
    T_EQ_INT(st.profiles, N_THREADS * N);
    T_EQ_INT(st.series, N_THREADS * 3);
    T_EQ_INT(query_total(s, "conc.cpu", T0, T0 + 100000), expect);

    /* Reopen after close keeps everything. */
    store_close(s);
    s = open_store(dir, 0, 0);
    T_EQ_INT(store_get_stats(s, &st), 0);
    T_EQ_INT(st.profiles, N_THREADS * N);
    T_EQ_INT(query_total(s, "conc.cpu", T0, T0 + 100000), expect);
    T_EQ_INT(query_total(s, "conc.cpu{t=\"2\",s=\"1\"}", T0, T0 + 100000) > 0, 1);
    store_close(s);
    rm_store(dir);
}

/* Corrupt blobs are skipped and counted, never crash (also random mutations). */
/* Small enough for the unit-test time limit; "bench" runs the realistic size. */
static void test_rollups(void)
{
    rollups(1, 10, 300);
}

static void bench_rollups(void)
{
    rollups(5, 120, 1500);
}

static void test_corrupt(void)
{
    char *dir = mktmp(), path[512];
    struct store *s = open_store(dir, 0, 0);
    struct store_stats st;
    sqlite3 *db = NULL;
    sqlite3_stmt *get = NULL, *set = NULL;
    uint8_t *good = NULL;
    int len = 0;
    uint64_t rs = 7;

    for (int i = 0; i < 3; i++) {
        struct series_key k = key_of("bad.cpu");
        struct pp_agg *a = gen_profile((uint64_t)i, 50, 200);

        T_EQ_INT(store_put(s, &k, T0 + i * 10, T0 + i * 10 + 10, a, NULL), 0);
        pp_agg_free(a);
    }
    snprintf(path, sizeof(path), "%s/pyprof.db", dir);
    T_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    T_EQ_INT(sqlite3_prepare_v2(db, "SELECT blob FROM bucket WHERE t=?1", -1, &get, NULL), 0);
    T_EQ_INT(sqlite3_prepare_v2(db, "UPDATE bucket SET blob=?2 WHERE t=?1", -1, &set, NULL), 0);
    sqlite3_bind_int64(get, 1, T0);
    T_EQ_INT(sqlite3_step(get), SQLITE_ROW);
    len = sqlite3_column_bytes(get, 0);
    good = malloc((size_t)len);
    memcpy(good, sqlite3_column_blob(get, 0), (size_t)len);
    sqlite3_reset(get);

    /* Garbage in bucket T0: the other two still count. */
    sqlite3_bind_int64(set, 1, T0);
    sqlite3_bind_blob(set, 2, "garbage!", 8, SQLITE_STATIC);
    T_EQ_INT(sqlite3_step(set), SQLITE_DONE);
    sqlite3_reset(set);
    {
        uint64_t tot = query_total(s, "bad.cpu", T0, T0 + 30);

        T_ASSERT(tot > 0);
        T_EQ_INT(store_get_stats(s, &st), 0);
        T_EQ_INT(st.corrupt_blobs, 1);
        T_EQ_INT(query_total(s, "bad.cpu", T0, T0 + 10), 0);
    }
    /* Random mutations and truncations of a good blob. */
    for (int it = 0; it < 300; it++) {
        uint8_t *m = malloc((size_t)len);
        int ml = len;

        memcpy(m, good, (size_t)len);
        if (it % 3 == 0)
            ml = (int)(rnd(&rs) % (uint64_t)len);
        for (int k = 0; k < 1 + it % 4; k++)
            m[rnd(&rs) % (uint64_t)len] ^= (uint8_t)(1u << (rnd(&rs) % 8));
        if (it % 5 == 0)
            m[4] = 0; /* as if not deflated: mutations hit the payload directly */
        sqlite3_bind_int64(set, 1, T0);
        sqlite3_bind_blob(set, 2, m, ml, SQLITE_TRANSIENT);
        T_EQ_INT(sqlite3_step(set), SQLITE_DONE);
        sqlite3_reset(set);
        free(m);
        {
            struct selector *sel = sel_of("bad.cpu");
            struct pp_agg *a = NULL;

            pp_agg_new(&a);
            T_EQ_INT(store_query(s, sel, T0, T0 + 10, a, NULL), 0);
            pp_agg_free(a);
            selector_free(sel);
        }
    }
    T_EQ_INT(store_get_stats(s, &st), 0);
    printf("corrupt: %llu of 300 mutated deflated blobs rejected\n",
           (unsigned long long)st.corrupt_blobs - 2);
    T_ASSERT(st.corrupt_blobs - 2 > 200);

    /* The same over a blob small enough to be stored uncompressed: the parser itself. */
    {
        struct series_key k = key_of("bad.cpu");
        struct pp_agg *a = tiny("a@f.py:1;b@f.py:2;c", 3);
        uint64_t before = st.corrupt_blobs;

        add_stack(a, 0, "a@f.py:1;d", 2);
        T_EQ_INT(store_put(s, &k, T0 + 50, T0 + 60, a, NULL), 0);
        pp_agg_free(a);
        sqlite3_bind_int64(get, 1, T0 + 50);
        T_EQ_INT(sqlite3_step(get), SQLITE_ROW);
        len = sqlite3_column_bytes(get, 0);
        memcpy(good, sqlite3_column_blob(get, 0), (size_t)len);
        sqlite3_reset(get);
        T_EQ_INT(good[4], 0); /* not deflated */
        for (int it = 0; it < 500; it++) {
            uint8_t m[256];
            int ml = it % 3 == 0 ? (int)(rnd(&rs) % (uint64_t)len) : len;

            memcpy(m, good, (size_t)len);
            for (int k2 = 0; k2 < 1 + it % 3; k2++)
                m[5 + rnd(&rs) % (uint64_t)(len - 5)] = (uint8_t)rnd(&rs);
            sqlite3_bind_int64(set, 1, T0 + 50);
            sqlite3_bind_blob(set, 2, m, ml, SQLITE_TRANSIENT);
            T_EQ_INT(sqlite3_step(set), SQLITE_DONE);
            sqlite3_reset(set);
            {
                struct selector *sel = sel_of("bad.cpu");
                struct pp_agg *q = NULL;

                pp_agg_new(&q);
                T_EQ_INT(store_query(s, sel, T0 + 50, T0 + 60, q, NULL), 0);
                pp_agg_free(q);
                selector_free(sel);
            }
        }
        T_EQ_INT(store_get_stats(s, &st), 0);
        printf("corrupt: %llu of 500 mutated plain blobs rejected\n",
               (unsigned long long)(st.corrupt_blobs - before));
        T_ASSERT(st.corrupt_blobs - before > 250);
    }
    sqlite3_finalize(get);
    sqlite3_finalize(set);
    sqlite3_close(db);
    free(good);
    store_close(s);
    rm_store(dir);
}

/* kill -9 mid-ingest: every upload acknowledged before the kill is there after reopening. */
static void test_crash(void)
{
    enum { N = 1000 };
    char *dir = mktmp();
    int fds[2], acked[N] = {0}, n_acked = 0, idx;
    pid_t pid;

    T_EQ_INT(pipe(fds), 0);
    pid = fork();
    if (pid == 0) {
        struct store *s;
        struct store_opts o = {.dir = dir};
        char err[128];

        close(fds[0]);
        if (store_open(&s, &o, err, sizeof(err)))
            _exit(2);
        for (int i = 0; i < N; i++) {
            struct series_key k = key_of(i % 2 ? "crash.cpu{p=odd}" : "crash.cpu{p=even}");
            struct pp_agg *a = gen_profile((uint64_t)i, 30, 100);
            char stack[32];

            snprintf(stack, sizeof(stack), "mark%d", i);
            add_stack(a, 0, stack, (uint64_t)i + 1);
            if (store_put(s, &k, T0 + i * 10, T0 + i * 10 + 10, a, NULL) == 0 &&
                write(fds[1], &i, sizeof(i)) != (ssize_t)sizeof(i))
                _exit(3);
            pp_agg_free(a);
        }
        _exit(0);
    }
    close(fds[1]);
    /* Let it get going, then kill it without warning. */
    while (n_acked < 150 && read(fds[0], &idx, sizeof(idx)) == (ssize_t)sizeof(idx)) {
        acked[idx] = 1;
        n_acked++;
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    while (read(fds[0], &idx, sizeof(idx)) == (ssize_t)sizeof(idx)) {
        acked[idx] = 1;
        n_acked++;
    }
    close(fds[0]);
    printf("crash: child killed after %d acknowledged uploads\n", n_acked);
    T_ASSERT(n_acked >= 150);
    T_ASSERT(n_acked < N); /* killed mid-way */
    {
        struct store *s = open_store(dir, 0, 0);
        struct selector *sel = sel_of("crash.cpu");
        struct store_timeline tl;
        struct pp_agg *a = NULL;
        int missing = 0;

        pp_agg_new(&a);
        T_EQ_INT(store_query(s, sel, T0, T0 + N * 10, a, &tl), 0);
        T_EQ_INT(tl.step_s, 10);
        for (int i = 0; i < N && i < (int)tl.n_steps; i++) {
            if (acked[i] && tl.samples[i] == 0)
                missing++;
        }
        /* Exact per-upload check through the marker stacks. */
        for (int i = 0; i < N; i++) {
            char want[32];
            struct pp_agg *one = NULL;
            uint64_t tot = 0;

            if (!acked[i])
                continue;
            pp_agg_new(&one);
            T_EQ_INT(store_query(s, sel, T0 + i * 10, T0 + i * 10 + 10, one, NULL), 0);
            snprintf(want, sizeof(want), "mark%d@:0 %d\n", i, i + 1);
            {
                char *c = canon(one);

                if (!strstr(c, want))
                    missing++;
                free(c);
            }
            tot = pp_agg_total(one);
            T_ASSERT(tot > (uint64_t)i);
            pp_agg_free(one);
        }
        T_EQ_INT(missing, 0);
        free(tl.samples);
        pp_agg_free(a);
        selector_free(sel);
        store_close(s);
    }
    rm_store(dir);
}

/* Optional argument: run only the test of that name. */
int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"round_trip", test_round_trip},   {"time_edges", test_time_edges},
        {"selectors", test_selectors_listing}, {"timeline", test_timeline},
        {"retention_age", test_retention_age}, {"retention_size", test_retention_size},
        {"corrupt", test_corrupt},         {"crash", test_crash},
        {"concurrent", test_concurrent},   {"rollups", test_rollups},
        {"bench", bench_rollups}, /* only on request */
    };

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        if (argc < 2 ? tests[i].fn != bench_rollups : strcmp(argv[1], tests[i].name) == 0) {
            double t = now_ms();

            tests[i].fn();
            printf("-- %s: %.0f ms\n", tests[i].name, now_ms() - t);
        }
    }
    T_DONE();
}
