/* SPDX-License-Identifier: MIT */
/* test-agg: frame/thread interning, stack merging, validation, deep stacks and growth. */
#include <errno.h>
#include <malloc.h>

#include "pyprof/agg.h"
#include "tests/t.h"

static uint32_t str(struct pp_agg *a, const char *s)
{
    uint32_t id = UINT32_MAX;

    T_EQ_INT(pp_strtab_intern(pp_agg_strtab(a), s, strlen(s), &id), 0);
    return id;
}

static uint32_t frame(struct pp_agg *a, const char *name, const char *file, uint32_t line)
{
    struct pp_frame f = {str(a, name), str(a, file), line, 0};
    uint32_t fid = UINT32_MAX;

    T_EQ_INT(pp_agg_intern_frame(a, &f, &fid), 0);
    return fid;
}

static void test_basic(void)
{
    struct pp_agg *a = NULL;
    struct pp_stack_view v;
    uint32_t f0, f1, f2, f3, t0, t1, t2, t, fid;
    const struct pp_frame *fr;
    const struct pp_thread *th;

    T_EQ_INT(pp_agg_new(&a), 0);
    T_EQ_INT(pp_agg_n_stacks(a), 0);
    T_EQ_INT(pp_agg_n_frames(a), 0);
    T_EQ_INT(pp_agg_n_threads(a), 0);
    T_EQ_INT(pp_agg_total(a), 0);
    T_ASSERT(pp_agg_strtab_const(a) == pp_agg_strtab(a));

    f0 = frame(a, "main", "a.py", 1);
    f1 = frame(a, "f", "a.py", 10);
    f2 = frame(a, "f", "a.py", 11); /* same function, other line: other frame */
    f3 = frame(a, "f", "b.py", 10);
    T_EQ_INT(f0, 0);
    T_EQ_INT(f1, 1);
    T_EQ_INT(f2, 2);
    T_EQ_INT(f3, 3);
    T_EQ_INT(frame(a, "f", "a.py", 10), 1);
    T_EQ_INT(frame(a, "main", "a.py", 1), 0);
    T_EQ_INT(pp_agg_n_frames(a), 4);
    fr = pp_agg_frame_get(a, f2);
    T_ASSERT(fr != NULL);
    if (fr) {
        T_EQ_STR(pp_strtab_str(pp_agg_strtab(a), fr->name, NULL), "f");
        T_EQ_STR(pp_strtab_str(pp_agg_strtab(a), fr->file, NULL), "a.py");
        T_EQ_INT(fr->line, 11);
    }
    T_ASSERT(pp_agg_frame_get(a, 4) == NULL);

    /* A frame whose string ids are not in the table. */
    {
        struct pp_frame bad = {9999, 0, 1, 0};

        T_EQ_INT(pp_agg_intern_frame(a, &bad, &fid), -EINVAL);
        T_EQ_INT(pp_agg_n_frames(a), 4);
    }

    T_EQ_INT(pp_agg_intern_thread(a, 4242, str(a, "MainThread"), &t0), 0);
    T_EQ_INT(pp_agg_intern_thread(a, 4243, str(a, "worker"), &t1), 0);
    T_EQ_INT(pp_agg_intern_thread(a, 4242, str(a, "renamed"), &t2), 0);
    T_EQ_INT(pp_agg_intern_thread(a, 4242, str(a, "MainThread"), &t), 0);
    T_EQ_INT(t0, 0);
    T_EQ_INT(t1, 1);
    T_EQ_INT(t2, 2);
    T_EQ_INT(t, 0);
    T_EQ_INT(pp_agg_n_threads(a), 3);
    th = pp_agg_thread_get(a, 1);
    T_ASSERT(th && th->tid == 4243);
    T_ASSERT(pp_agg_thread_get(a, 3) == NULL);
    T_EQ_INT(pp_agg_intern_thread(a, 1, 123456, &t), -EINVAL);

    {
        uint32_t s1[] = {f0, f1};
        uint32_t s1b[] = {f0, f1};
        uint32_t s2[] = {f0, f2};
        uint32_t s3[] = {f1, f0}; /* same frames, other order */
        uint32_t bad[] = {f0, 4};

        T_EQ_INT(pp_agg_add(a, t0, s1, 2, 3), 0);
        T_EQ_INT(pp_agg_add(a, t0, s2, 2, 1), 0);
        T_EQ_INT(pp_agg_add(a, t0, s1b, 2, 4), 0); /* merged into stack 0 */
        T_EQ_INT(pp_agg_add(a, t1, s1, 2, 5), 0);  /* other thread: new stack */
        T_EQ_INT(pp_agg_add(a, t0, s3, 2, 1), 0);
        T_EQ_INT(pp_agg_add(a, t0, s1, 1, 2), 0);  /* prefix: new stack */
        T_EQ_INT(pp_agg_add(a, t1, NULL, 0, 6), 0); /* empty stack */
        T_EQ_INT(pp_agg_add(a, t1, s1, 0, 1), 0);   /* empty again: merged */
        T_EQ_INT(pp_agg_add(a, t0, NULL, 0, 1), 0); /* empty on another thread */

        T_EQ_INT(pp_agg_add(a, t0, bad, 2, 1), -EINVAL);
        T_EQ_INT(pp_agg_add(a, 3, s1, 2, 1), -EINVAL);
        T_EQ_INT(pp_agg_add(a, t0, NULL, 1, 1), -EINVAL);
    }
    T_EQ_INT(pp_agg_n_stacks(a), 7);
    T_EQ_INT(pp_agg_total(a), 3 + 1 + 4 + 5 + 1 + 2 + 6 + 1 + 1);

    pp_agg_stack(a, 0, &v);
    T_EQ_INT(v.thread, t0);
    T_EQ_INT(v.n_fids, 2);
    T_EQ_INT(v.fids[0], f0);
    T_EQ_INT(v.fids[1], f1);
    T_EQ_INT(v.count, 7);
    pp_agg_stack(a, 1, &v);
    T_EQ_INT(v.n_fids, 2);
    T_EQ_INT(v.fids[1], f2);
    T_EQ_INT(v.count, 1);
    pp_agg_stack(a, 2, &v);
    T_EQ_INT(v.thread, t1);
    T_EQ_INT(v.count, 5);
    pp_agg_stack(a, 3, &v);
    T_EQ_INT(v.fids[0], f1);
    T_EQ_INT(v.fids[1], f0);
    pp_agg_stack(a, 4, &v);
    T_EQ_INT(v.n_fids, 1);
    T_EQ_INT(v.fids[0], f0);
    T_EQ_INT(v.count, 2);
    pp_agg_stack(a, 5, &v);
    T_EQ_INT(v.thread, t1);
    T_EQ_INT(v.n_fids, 0);
    T_EQ_INT(v.count, 7);
    pp_agg_stack(a, 6, &v);
    T_EQ_INT(v.thread, t0);
    T_EQ_INT(v.n_fids, 0);
    T_EQ_INT(v.count, 1);
    pp_agg_stack(a, 7, &v);
    T_EQ_INT(v.n_fids, 0);
    T_EQ_INT(v.count, 0);
    T_ASSERT(v.fids == NULL);

    T_ASSERT(pp_agg_free(a) == NULL);
    T_ASSERT(pp_agg_free(NULL) == NULL);
}

/* 2048 distinct frames; stacks of 2048 frames; then many distinct short stacks (growth). */
static void test_deep_and_many(void)
{
    enum { DEPTH = 2048, N_DEEP = 300, N_SHORT = 50000 };
    struct pp_agg *a = NULL;
    struct pp_stack_view v;
    uint32_t fids[DEPTH], t, i, d;
    char name[32];
    int bad = 0;

    T_EQ_INT(pp_agg_new(&a), 0);
    T_EQ_INT(pp_agg_intern_thread(a, 1, 0, &t), 0);
    for (d = 0; d < DEPTH; d++) {
        snprintf(name, sizeof(name), "fn%u", d);
        fids[d] = frame(a, name, "deep.py", d + 1);
    }
    T_EQ_INT(pp_agg_n_frames(a), DEPTH);

    /* Stack i: the 2048 frames rotated by i; each added twice, the second time merged. */
    for (i = 0; i < N_DEEP; i++) {
        uint32_t s[DEPTH];

        for (d = 0; d < DEPTH; d++)
            s[d] = fids[(d + i) % DEPTH];
        if (pp_agg_add(a, t, s, DEPTH, 1) != 0 || pp_agg_add(a, t, s, DEPTH, i) != 0)
            bad++;
    }
    T_EQ_INT(bad, 0);
    T_EQ_INT(pp_agg_n_stacks(a), N_DEEP);
    for (i = 0; i < N_DEEP; i++) {
        pp_agg_stack(a, i, &v);
        if (v.n_fids != DEPTH || v.count != 1 + (uint64_t)i || v.thread != t)
            bad++;
        for (d = 0; d < DEPTH && v.n_fids == DEPTH; d++) {
            if (v.fids[d] != fids[(d + i) % DEPTH])
                bad++;
        }
    }
    T_EQ_INT(bad, 0);

    /* Many distinct 3-frame stacks. */
    for (i = 0; i < N_SHORT; i++) {
        uint32_t s[3] = {fids[i % DEPTH], fids[(i / DEPTH) % DEPTH], fids[7]};

        if (pp_agg_add(a, t, s, 3, 2) != 0)
            bad++;
    }
    T_EQ_INT(bad, 0);
    T_EQ_INT(pp_agg_n_stacks(a), N_DEEP + N_SHORT);
    for (i = 0; i < N_SHORT; i++) {
        uint32_t s[3] = {fids[i % DEPTH], fids[(i / DEPTH) % DEPTH], fids[7]};

        if (pp_agg_add(a, t, s, 3, 1) != 0)
            bad++;
        pp_agg_stack(a, N_DEEP + i, &v);
        if (v.n_fids != 3 || v.count != 3 || memcmp(v.fids, s, sizeof(s)) != 0)
            bad++;
    }
    T_EQ_INT(bad, 0);
    T_EQ_INT(pp_agg_n_stacks(a), N_DEEP + N_SHORT);
    T_EQ_INT(pp_agg_total(a),
             (uint64_t)N_DEEP + (uint64_t)N_DEEP * (N_DEEP - 1) / 2 + 3ull * N_SHORT);

    pp_agg_free(a);
}

/* Re-adding a known (thread, stack) must not allocate: the heap in use does not change. */
static void test_no_alloc_on_hit(void)
{
    struct pp_agg *a = NULL;
    struct pp_stack_view v;
    uint32_t s[64], t, i;
    struct mallinfo2 before, after;
    const uint32_t *fids_before;
    int bad = 0;

    T_EQ_INT(pp_agg_new(&a), 0);
    T_EQ_INT(pp_agg_intern_thread(a, 7, 0, &t), 0);
    for (i = 0; i < 64; i++)
        s[i] = frame(a, "g", "h.py", i + 1);
    T_EQ_INT(pp_agg_add(a, t, s, 64, 1), 0);
    T_EQ_INT(pp_agg_add(a, t, NULL, 0, 1), 0);
    pp_agg_stack(a, 0, &v);
    fids_before = v.fids;

    before = mallinfo2();
    for (i = 0; i < 100000; i++) {
        if (pp_agg_add(a, t, s, 64, 1) != 0 || pp_agg_add(a, t, NULL, 0, 1) != 0)
            bad++;
    }
    after = mallinfo2();
    T_EQ_INT(bad, 0);
    T_EQ_INT(after.uordblks, before.uordblks);
    T_EQ_INT(after.hblkhd, before.hblkhd);
    pp_agg_stack(a, 0, &v);
    T_ASSERT(v.fids == fids_before);
    T_EQ_INT(v.count, 100001);
    T_EQ_INT(pp_agg_n_stacks(a), 2);
    pp_agg_free(a);
}

/* The timeline keeps every sample in order, with the index of its merged stack. */
static void test_timeline(void)
{
    struct pp_agg *a = NULL;
    struct pp_frame f = { 0 };
    uint32_t fid[2], th, name;
    const struct pp_sample *s;

    T_EQ_INT(pp_agg_new(&a), 0);
    T_EQ_INT(pp_strtab_intern(pp_agg_strtab(a), "f", 1, &f.name), 0);
    f.line = 1;
    T_EQ_INT(pp_agg_intern_frame(a, &f, &fid[0]), 0);
    f.line = 2;
    T_EQ_INT(pp_agg_intern_frame(a, &f, &fid[1]), 0);
    T_EQ_INT(pp_strtab_intern(pp_agg_strtab(a), "t", 1, &name), 0);
    T_EQ_INT(pp_agg_intern_thread(a, 7, name, &th), 0);

    /* Off by default: counts only. */
    T_EQ_INT(pp_agg_add_sample(a, th, fid, 1, 100), 0);
    T_EQ_INT(pp_agg_n_samples(a), 0);
    T_ASSERT(pp_agg_sample_get(a, 0) == NULL);

    pp_agg_timeline_enable(a);
    T_EQ_INT(pp_agg_add_sample(a, th, fid, 2, 200), 0);
    T_EQ_INT(pp_agg_add_sample(a, th, fid, 1, 300), 0);
    T_EQ_INT(pp_agg_add_sample(a, th, fid, 2, 400), 0);
    T_EQ_INT(pp_agg_add_sample(a, th + 1, fid, 2, 500), -EINVAL); /* no such thread */
    T_EQ_INT(pp_agg_n_samples(a), 3);
    s = pp_agg_sample_get(a, 0);
    T_ASSERT(s && s->stack == 1 && s->time_ns == 200);
    s = pp_agg_sample_get(a, 1);
    T_ASSERT(s && s->stack == 0 && s->time_ns == 300);
    s = pp_agg_sample_get(a, 2);
    T_ASSERT(s && s->stack == 1 && s->time_ns == 400);
    T_ASSERT(pp_agg_sample_get(a, 3) == NULL);
    T_EQ_INT(pp_agg_total(a), 4);
    pp_agg_free(a);
}

static void test_origin(void)
{
    T_EQ_INT(pp_origin_of_path("/usr/lib/python3.11/json/decoder.py"), PP_ORIGIN_STDLIB);
    T_EQ_INT(pp_origin_of_path("<frozen importlib._bootstrap>"), PP_ORIGIN_STDLIB);
    T_EQ_INT(pp_origin_of_path("/venv/lib/python3.12/site-packages/requests/api.py"),
             PP_ORIGIN_THIRD_PARTY);
    T_EQ_INT(pp_origin_of_path("/usr/lib/python3/dist-packages/yaml/__init__.py"),
             PP_ORIGIN_THIRD_PARTY);
    T_EQ_INT(pp_origin_of_path("/srv/app/handlers.py"), PP_ORIGIN_USER);
    T_EQ_INT(pp_origin_of_path("<string>"), PP_ORIGIN_USER);
    T_EQ_INT(pp_origin_of_path("threading.py"), PP_ORIGIN_STDLIB);
    T_EQ_INT(pp_origin_of_path("json/decoder.py"), PP_ORIGIN_STDLIB);
    T_EQ_INT(pp_origin_of_path("__future__.py"), PP_ORIGIN_STDLIB);
    T_EQ_INT(pp_origin_of_path("app.py"), PP_ORIGIN_USER);
    T_EQ_INT(pp_origin_of_path("requests/api.py"), PP_ORIGIN_USER);
    T_EQ_INT(pp_origin_of_path(""), PP_ORIGIN_UNKNOWN);
    T_EQ_INT(pp_origin_of_path(NULL), PP_ORIGIN_UNKNOWN);
}

int main(void)
{
    test_origin();
    test_timeline();
    test_basic();
    test_deep_and_many();
    test_no_alloc_on_hit();
    T_DONE();
}
