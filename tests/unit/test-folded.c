/* SPDX-License-Identifier: MIT */
/* test-folded: exact folded output: rendering, escaping, merging, sorting, thread roots. */
#include <errno.h>

#include "pyprof/folded.h"
#include "tests/t.h"

static uint32_t str(struct pp_agg *a, const char *s, size_t len)
{
    uint32_t id = UINT32_MAX;

    T_EQ_INT(pp_strtab_intern(pp_agg_strtab(a), s, len, &id), 0);
    return id;
}

static uint32_t frame(struct pp_agg *a, const char *name, const char *file, uint32_t line)
{
    struct pp_frame f = {str(a, name, strlen(name)), str(a, file, strlen(file)), line, 0};
    uint32_t fid = UINT32_MAX;

    T_EQ_INT(pp_agg_intern_frame(a, &f, &fid), 0);
    return fid;
}

static uint32_t thread(struct pp_agg *a, uint64_t tid, const char *name)
{
    uint32_t t = UINT32_MAX;

    T_EQ_INT(pp_agg_intern_thread(a, tid, str(a, name, strlen(name)), &t), 0);
    return t;
}

/* Returns the folded text (caller frees), or NULL; *ret gets pp_folded_write()'s result. */
static char *folded(const struct pp_agg *a, bool threads, int *ret)
{
    struct pp_folded_opts opts = {.threads = threads};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return NULL;
    *ret = pp_folded_write(a, &opts, f);
    fclose(f);
    T_EQ_INT(strlen(text), len); /* no NUL byte leaked into the output */
    return text;
}

static void check(const struct pp_agg *a, bool threads, const char *want)
{
    int r = -1;
    char *got = folded(a, threads, &r);

    T_EQ_INT(r, 0);
    T_EQ_STR(got, want);
    free(got);
}

static void test_full(void)
{
    struct pp_agg *a = NULL;
    uint32_t fa, fb, fc, fd, fe, ff, fg, t0, t1, t2;

    T_EQ_INT(pp_agg_new(&a), 0);
    fa = frame(a, "main", "app.py", 10);
    fb = frame(a, "work", "app.py", 0);      /* line 0: "name (file)" */
    fc = frame(a, "<native>", "", 5);        /* file "": "name" */
    fd = frame(a, "a;b\nc", "x;y.py", 3);    /* escaped ... */
    fe = frame(a, "a_b_c", "x_y.py", 3);     /* ... to the same text as this one: merged */
    {
        struct pp_frame f = {str(a, "tab\there\x7f", 9), str(a, "nul\0file", 8), 1, 0};

        T_EQ_INT(pp_agg_intern_frame(a, &f, &ff), 0);
    }
    fg = frame(a, "\xc3\xa9t\xc3\xa9", "z.py", 2); /* bytes >= 0x80 kept, sorted last */
    t0 = thread(a, 4242, "MainThread");
    t1 = thread(a, 4243, "");
    t2 = thread(a, 4244, "worker;1");

    {
        uint32_t ab[] = {fa, fb}, a_[] = {fa}, ad[] = {fa, fd}, ae[] = {fa, fe}, cf[] = {fc, ff};
        uint32_t g[] = {fg}, ac[] = {fa, fc};

        T_EQ_INT(pp_agg_add(a, t0, ab, 2, 3), 0);
        T_EQ_INT(pp_agg_add(a, t1, ab, 2, 2), 0);
        T_EQ_INT(pp_agg_add(a, t0, a_, 1, 1), 0);
        T_EQ_INT(pp_agg_add(a, t0, NULL, 0, 4), 0);
        T_EQ_INT(pp_agg_add(a, t2, NULL, 0, 1), 0);
        T_EQ_INT(pp_agg_add(a, t0, ad, 2, 2), 0);
        T_EQ_INT(pp_agg_add(a, t0, ae, 2, 3), 0);
        T_EQ_INT(pp_agg_add(a, t1, cf, 2, 7), 0);
        T_EQ_INT(pp_agg_add(a, t2, g, 1, 1), 0);
        T_EQ_INT(pp_agg_add(a, t0, ac, 2, 1), 0);
    }

    check(a, false,
          "<native>;tab_here_ (nul_file:1) 7\n"
          "<no frames> 5\n"
          "main (app.py:10) 1\n"
          "main (app.py:10);<native> 1\n"
          "main (app.py:10);a_b_c (x_y.py:3) 5\n"
          "main (app.py:10);work (app.py) 5\n"
          "\xc3\xa9t\xc3\xa9 (z.py:2) 1\n");

    check(a, true,
          "thread (4242 \"MainThread\");<no frames> 4\n"
          "thread (4242 \"MainThread\");main (app.py:10) 1\n"
          "thread (4242 \"MainThread\");main (app.py:10);<native> 1\n"
          "thread (4242 \"MainThread\");main (app.py:10);a_b_c (x_y.py:3) 5\n"
          "thread (4242 \"MainThread\");main (app.py:10);work (app.py) 3\n"
          "thread (4243);<native>;tab_here_ (nul_file:1) 7\n"
          "thread (4243);main (app.py:10);work (app.py) 2\n"
          "thread (4244 \"worker_1\");<no frames> 1\n"
          "thread (4244 \"worker_1\");\xc3\xa9t\xc3\xa9 (z.py:2) 1\n");

    /* Writing does not modify the aggregate: same output again, and NULL opts = no threads. */
    {
        int r = -1;
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);

        T_ASSERT(f != NULL);
        if (f) {
            r = pp_folded_write(a, NULL, f);
            fclose(f);
            T_EQ_INT(r, 0);
            T_EQ_INT(len, 181);
            free(text);
        }
    }
    T_EQ_INT(pp_agg_n_stacks(a), 10);
    pp_agg_free(a);
}

static void test_empty(void)
{
    struct pp_agg *a = NULL;
    uint32_t t;

    T_EQ_INT(pp_agg_new(&a), 0);
    check(a, false, "");
    check(a, true, "");
    t = thread(a, 1, "");
    T_EQ_INT(pp_agg_add(a, t, NULL, 0, 0), 0);
    check(a, false, "<no frames> 0\n");
    check(a, true, "thread (1);<no frames> 0\n");
    T_EQ_INT(pp_agg_add(a, t, NULL, 0, UINT64_MAX), 0);
    check(a, false, "<no frames> 18446744073709551615\n");
    pp_agg_free(a);
}

/*
 * Whole lines are sorted, not just stack texts: "a 1" (a name with a space) + " 3" sorts before
 * "a" + " 5" because '1' < '5'. A frame and its own prefix stack: the shorter one comes first.
 */
static void test_sort_whole_lines(void)
{
    struct pp_agg *a = NULL;
    uint32_t t, f1, f2, f3;

    T_EQ_INT(pp_agg_new(&a), 0);
    t = thread(a, 9, "t");
    f1 = frame(a, "a", "", 0);
    f2 = frame(a, "a 1", "", 0);
    f3 = frame(a, "b", "", 0);
    {
        uint32_t s1[] = {f1}, s2[] = {f2}, s3[] = {f1, f3}, s4[] = {f3, f1, f3};

        T_EQ_INT(pp_agg_add(a, t, s1, 1, 5), 0);
        T_EQ_INT(pp_agg_add(a, t, s2, 1, 3), 0);
        T_EQ_INT(pp_agg_add(a, t, s3, 2, 10), 0);
        T_EQ_INT(pp_agg_add(a, t, s4, 3, 1), 0);
        T_EQ_INT(pp_agg_add(a, t, s4, 2, 1), 0);
    }
    check(a, false,
          "a 1 3\n"
          "a 5\n"
          "a;b 10\n"
          "b;a 1\n"
          "b;a;b 1\n");
    pp_agg_free(a);
}

/* Deep stacks render fully and identical deep stacks on two threads merge. */
static void test_deep(void)
{
    enum { DEPTH = 2048 };
    struct pp_agg *a = NULL;
    uint32_t fids[DEPTH], t0, t1, d;
    char *want = malloc(DEPTH * 32), *p = want;
    char name[16];

    T_ASSERT(want != NULL);
    if (!want)
        return;
    T_EQ_INT(pp_agg_new(&a), 0);
    t0 = thread(a, 1, "x");
    t1 = thread(a, 2, "y");
    for (d = 0; d < DEPTH; d++) {
        snprintf(name, sizeof(name), "f%u", d);
        fids[d] = frame(a, name, "d.py", d + 1);
        p += sprintf(p, "%sf%u (d.py:%u)", d ? ";" : "", d, d + 1);
    }
    strcpy(p, " 3\n");
    T_EQ_INT(pp_agg_add(a, t0, fids, DEPTH, 1), 0);
    T_EQ_INT(pp_agg_add(a, t1, fids, DEPTH, 2), 0);
    check(a, false, want);
    pp_agg_free(a);
    free(want);
}

static void test_write_error(void)
{
    struct pp_agg *a = NULL;
    struct pp_folded_opts opts = {.threads = false};
    uint32_t t, f;
    FILE *full;

    T_EQ_INT(pp_agg_new(&a), 0);
    t = thread(a, 1, "");
    f = frame(a, "f", "g.py", 1);
    T_EQ_INT(pp_agg_add(a, t, &f, 1, 1), 0);
    full = fopen("/dev/full", "w");
    if (full) {
        T_EQ_INT(pp_folded_write(a, &opts, full), -EIO);
        fclose(full);
    }
    pp_agg_free(a);
}

/* Read folded text, write it back: ours with and without thread roots, py-spy's, flamegraph.pl's. */
static void roundtrip(const char *in, bool threads, const char *want)
{
    struct pp_agg *a = NULL;
    struct pp_folded_opts o = { .threads = threads };
    char *buf = NULL;
    size_t len = 0, line = 0;
    FILE *f = fmemopen((void *)in, strlen(in), "r"), *out;

    T_EQ_INT(pp_agg_new(&a), 0);
    T_EQ_INT(pp_folded_read(a, f, &line), 0);
    fclose(f);
    out = open_memstream(&buf, &len);
    T_EQ_INT(pp_folded_write(a, &o, out), 0);
    fclose(out);
    T_EQ_STR(buf, want);
    free(buf);
    pp_agg_free(a);
}

static void test_read(void)
{
    static const char ours[] =
        "thread (100 \"MainThread\");<module> (srv.py:40);serve (srv.py:30) 50\n"
        "thread (101 \"w \"1\"\");run (threading.py:982);job <&> (x) (jobs.py:7) 25\n"
        "thread (102);<frozen> (<frozen importlib._bootstrap>:1360) 2\n";
    static const char plain[] = "# comment\n\nmain;work;leaf 3\nmain;work;leaf 4\r\nmain 1\n";
    struct pp_agg *a = NULL;
    const struct pp_frame *fr;
    struct pp_stack_view v;
    size_t line = 0;
    FILE *f;

    roundtrip(ours, true, ours);
    roundtrip(ours, false,
              "<frozen> (<frozen importlib._bootstrap>:1360) 2\n"
              "<module> (srv.py:40);serve (srv.py:30) 50\n"
              "run (threading.py:982);job <&> (x) (jobs.py:7) 25\n");
    roundtrip(plain, false, "main 1\nmain;work;leaf 7\n");
    roundtrip("a (f.py) 2\na (f.py:0) 3\n", false, "a (f.py) 5\n");

    /* Frames are split into name, file and line; origins follow the path. */
    T_EQ_INT(pp_agg_new(&a), 0);
    f = fmemopen((void *)ours, sizeof(ours) - 1, "r");
    T_EQ_INT(pp_folded_read(a, f, NULL), 0);
    fclose(f);
    T_EQ_INT(pp_agg_n_threads(a), 3);
    T_EQ_INT(pp_agg_thread_get(a, 1)->tid, 101);
    T_EQ_STR(pp_strtab_str(pp_agg_strtab(a), pp_agg_thread_get(a, 1)->name, NULL), "w \"1\"");
    pp_agg_stack(a, 1, &v);
    T_EQ_INT(v.n_fids, 2);
    T_EQ_INT(v.count, 25);
    fr = pp_agg_frame_get(a, v.fids[1]);
    T_EQ_STR(pp_strtab_str(pp_agg_strtab(a), fr->name, NULL), "job <&> (x)");
    T_EQ_STR(pp_strtab_str(pp_agg_strtab(a), fr->file, NULL), "jobs.py");
    T_EQ_INT(fr->line, 7);
    pp_agg_stack(a, 2, &v);
    fr = pp_agg_frame_get(a, v.fids[0]);
    T_EQ_INT(fr->origin, PP_ORIGIN_STDLIB);
    pp_agg_free(a);

    /* Malformed lines are reported with their number. */
    T_EQ_INT(pp_agg_new(&a), 0);
    f = fmemopen((void *)"a;b 1\na;b x\n", 12, "r");
    T_EQ_INT(pp_folded_read(a, f, &line), PP_FOLDED_E_FORMAT);
    T_EQ_INT(line, 2);
    fclose(f);
    f = fmemopen((void *)"a;b 99999999999999999999\n", 25, "r");
    T_EQ_INT(pp_folded_read(a, f, &line), PP_FOLDED_E_FORMAT);
    fclose(f);
    f = fmemopen((void *)"nocount\n", 8, "r");
    T_EQ_INT(pp_folded_read(a, f, &line), PP_FOLDED_E_FORMAT);
    fclose(f);
    pp_agg_free(a);
}

int main(void)
{
    test_read();
    test_full();
    test_empty();
    test_sort_whole_lines();
    test_deep();
    test_write_error();
    T_DONE();
}
