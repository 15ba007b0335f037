/* SPDX-License-Identifier: MIT */
/* test-chrometrace: exact Trace Event JSON; B/E balance, nesting and time order per thread. */
#include <errno.h>

#include "pyprof/chrometrace.h"
#include "tests/t.h"

static uint32_t str(struct pp_agg *a, const char *s)
{
    uint32_t id = UINT32_MAX;

    T_EQ_INT(pp_strtab_intern(pp_agg_strtab(a), s, strlen(s), &id), 0);
    return id;
}

static uint32_t frame(struct pp_agg *a, const char *name, const char *file, uint32_t line,
                      enum pp_origin origin)
{
    struct pp_frame f = {str(a, name), str(a, file), line, origin};
    uint32_t fid = UINT32_MAX;

    T_EQ_INT(pp_agg_intern_frame(a, &f, &fid), 0);
    return fid;
}

static uint32_t thread(struct pp_agg *a, uint64_t tid, const char *name)
{
    uint32_t t = UINT32_MAX;

    T_EQ_INT(pp_agg_intern_thread(a, tid, str(a, name), &t), 0);
    return t;
}

static char *trace(const struct pp_agg *a, const struct pp_meta *m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        abort();
    T_EQ_INT(pp_chrometrace_write(a, m, f), 0);
    fclose(f);
    T_EQ_INT(strlen(text), len);
    return text;
}

static void check(const struct pp_agg *a, const struct pp_meta *m, const char *want)
{
    char *got = trace(a, m);

    T_EQ_STR(got, want);
    free(got);
}

/* === A B/E checker over our one-event-per-line output ======================= */

#define MAX_TIDS 64

struct tid_state {
    unsigned long long tid;
    int depth;
    double last_ts;
    double open_ts;       /* when the current root slice opened */
    double root_us;       /* sum of root slice durations */
};

/*
 * Check every thread's "B"/"E" events: depth never negative and 0 at the end, ts non-decreasing.
 * Fills @st (at most MAX_TIDS) and returns the number of tids, or -1 on a violation.
 */
static int balance(const char *text, struct tid_state *st)
{
    const char *line = text;
    int n = 0, i;

    T_ASSERT(strncmp(text, "{\"traceEvents\":[\n", 17) == 0);
    T_ASSERT(strstr(text, "\n],\n\"displayTimeUnit\":\"ms\"}\n") != NULL);
    for (; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        bool b = strncmp(line, "{\"ph\":\"B\"", 9) == 0, e = strncmp(line, "{\"ph\":\"E\"", 9) == 0;
        const char *ts = strstr(line, "\"ts\":"), *tid = strstr(line, "\"tid\":");
        unsigned long long t;
        double x;

        if (!b && !e)
            continue;
        if (!ts || !tid)
            return -1;
        x = strtod(ts + 5, NULL);
        t = strtoull(tid + 6, NULL, 10);
        for (i = 0; i < n && st[i].tid != t; i++)
            ;
        if (i == n) {
            if (n == MAX_TIDS)
                return -1;
            st[n++] = (struct tid_state){t, 0, 0, 0, 0};
        }
        if (x < st[i].last_ts) {
            fprintf(stderr, "tid %llu: ts %f after %f\n", t, x, st[i].last_ts);
            return -1;
        }
        st[i].last_ts = x;
        if (b && st[i].depth++ == 0)
            st[i].open_ts = x;
        if (e && --st[i].depth == 0)
            st[i].root_us += x - st[i].open_ts;
        if (st[i].depth < 0) {
            fprintf(stderr, "tid %llu: E without B\n", t);
            return -1;
        }
    }
    for (i = 0; i < n; i++) {
        if (st[i].depth) {
            fprintf(stderr, "tid %llu: %d slices left open\n", st[i].tid, st[i].depth);
            return -1;
        }
    }
    return n;
}

/* === Cases ================================================================ */

#define HEAD "{\"traceEvents\":[\n"
#define TAIL "\n],\n\"displayTimeUnit\":\"ms\"}\n"

/* No timeline: stacks end to end, count * period each; a shared prefix stays open. */
static void test_stacks(void)
{
    struct pp_meta m = {.command = "PID 4123 (python3 app.py)", .pid = 4123};
    struct pp_agg *a = NULL;
    struct tid_state st[MAX_TIDS];
    uint32_t fa, fb, fc, t0;
    char *text;

    T_EQ_INT(pp_agg_new(&a), 0);
    fa = frame(a, "main", "app.py", 3, PP_ORIGIN_USER);
    fb = frame(a, "dumps", "/usr/lib/python3.11/json/__init__.py", 231, PP_ORIGIN_STDLIB);
    fc = frame(a, "get", "site-packages/requests/api.py", 0, PP_ORIGIN_THIRD_PARTY);
    t0 = thread(a, 0, "");
    {
        uint32_t ab[] = {fa, fb}, ac[] = {fa, fc}, x[] = {fa};

        T_EQ_INT(pp_agg_add(a, t0, ab, 2, 2), 0);
        T_EQ_INT(pp_agg_add(a, t0, ac, 2, 1), 0);
        T_EQ_INT(pp_agg_add(a, t0, x, 1, 0), 0);      /* count 0: nothing */
        T_EQ_INT(pp_agg_add(a, t0, NULL, 0, 1), 0);   /* empty stack: 10 ms with nothing open */
        T_EQ_INT(pp_agg_add(a, t0, x, 1, 3), 0);      /* merged into the count-0 one, before [] */
    }
    check(a, &m,
          HEAD "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":4123,\"tid\":0,"
          "\"args\":{\"name\":\"PID 4123 (python3 app.py)\"}},\n"
          "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":4123,\"tid\":0,"
          "\"args\":{\"name\":\"all\"}},\n"
          "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":4123,\"tid\":0,"
          "\"args\":{\"sort_index\":0}},\n"
          "{\"ph\":\"B\",\"name\":\"main\",\"cat\":\"user\",\"args\":{\"file\":\"app.py\","
          "\"line\":3},\"ts\":0,\"pid\":4123,\"tid\":0},\n"
          "{\"ph\":\"B\",\"name\":\"dumps\",\"cat\":\"stdlib\",\"args\":{\"file\":"
          "\"/usr/lib/python3.11/json/__init__.py\",\"line\":231},\"ts\":0,\"pid\":4123,"
          "\"tid\":0},\n"
          "{\"ph\":\"E\",\"ts\":20000,\"pid\":4123,\"tid\":0},\n"
          "{\"ph\":\"B\",\"name\":\"get\",\"cat\":\"third-party\",\"args\":{\"file\":"
          "\"site-packages/requests/api.py\"},\"ts\":20000,\"pid\":4123,\"tid\":0},\n"
          "{\"ph\":\"E\",\"ts\":30000,\"pid\":4123,\"tid\":0},\n"
          "{\"ph\":\"E\",\"ts\":60000,\"pid\":4123,\"tid\":0}" TAIL);
    text = trace(a, &m);
    T_EQ_INT(balance(text, st), 1);
    T_ASSERT(st[0].root_us == 60000.0); /* 7 samples minus the empty one, 10 ms each */
    free(text);
    pp_agg_free(a);
}

/*
 * Timeline: a sample lasts until the next one of its thread within two periods, else one
 * period; a renamed thread (same tid) shares its track; equal timestamps give empty slices.
 */
static void test_timeline(void)
{
    struct pp_agg *a = NULL;
    uint32_t fa, fb, fc, t0, t1, t2;
    const uint64_t base = 1000000000, ms = 1000000;
    struct tid_state st[MAX_TIDS];
    char *text;

    T_EQ_INT(pp_agg_new(&a), 0);
    pp_agg_timeline_enable(a);
    fa = frame(a, "a", "", 0, PP_ORIGIN_UNKNOWN);
    fb = frame(a, "b", "", 0, PP_ORIGIN_UNKNOWN);
    fc = frame(a, "c", "", 0, PP_ORIGIN_UNKNOWN);
    t0 = thread(a, 1, "");
    t1 = thread(a, 1, "main");  /* the same thread, renamed: labels the track */
    t2 = thread(a, 2, "");
    {
        uint32_t ab[] = {fa, fb}, ac[] = {fa, fc}, c[] = {fc}, x[] = {fa};

        T_EQ_INT(pp_agg_add_sample(a, t0, ab, 2, base), 0);
        T_EQ_INT(pp_agg_add_sample(a, t2, c, 1, base), 0);
        T_EQ_INT(pp_agg_add_sample(a, t0, ab, 2, base + 10 * ms), 0);
        T_EQ_INT(pp_agg_add_sample(a, t0, ac, 2, base + 20 * ms), 0);
        T_EQ_INT(pp_agg_add_sample(a, t1, ac, 2, base + 30 * ms), 0);
        T_EQ_INT(pp_agg_add_sample(a, t1, x, 1, base + 30 * ms), 0);
        T_EQ_INT(pp_agg_add_sample(a, t1, x, 1, base + 100 * ms + 500), 0);
    }
    check(a, NULL,
          HEAD "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":1,\"tid\":0,"
          "\"args\":{\"name\":\"pyprof\"}},\n"
          "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":1,"
          "\"args\":{\"name\":\"main\"}},\n"
          "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":1,\"tid\":1,"
          "\"args\":{\"sort_index\":0}},\n"
          "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,\"tid\":2,"
          "\"args\":{\"name\":\"Thread 2\"}},\n"
          "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":1,\"tid\":2,"
          "\"args\":{\"sort_index\":1}},\n"
          "{\"ph\":\"B\",\"name\":\"a\",\"cat\":\"unknown\",\"ts\":0,\"pid\":1,\"tid\":1},\n"
          "{\"ph\":\"B\",\"name\":\"b\",\"cat\":\"unknown\",\"ts\":0,\"pid\":1,\"tid\":1},\n"
          "{\"ph\":\"E\",\"ts\":20000,\"pid\":1,\"tid\":1},\n"
          "{\"ph\":\"B\",\"name\":\"c\",\"cat\":\"unknown\",\"ts\":20000,\"pid\":1,\"tid\":1},\n"
          "{\"ph\":\"E\",\"ts\":30000,\"pid\":1,\"tid\":1},\n"
          "{\"ph\":\"E\",\"ts\":40000,\"pid\":1,\"tid\":1},\n"
          "{\"ph\":\"B\",\"name\":\"a\",\"cat\":\"unknown\",\"ts\":100000.5,\"pid\":1,"
          "\"tid\":1},\n"
          "{\"ph\":\"E\",\"ts\":110000.5,\"pid\":1,\"tid\":1},\n"
          "{\"ph\":\"B\",\"name\":\"c\",\"cat\":\"unknown\",\"ts\":0,\"pid\":1,\"tid\":2},\n"
          "{\"ph\":\"E\",\"ts\":10000,\"pid\":1,\"tid\":2}" TAIL);
    text = trace(a, NULL);
    T_EQ_INT(balance(text, st), 2);
    free(text);
    pp_agg_free(a);
}

/* An empty aggregate: the process name only. A failing stream: -EIO. */
static void test_empty_eio(void)
{
    struct pp_meta m = {.title = "t\"\x01"};
    struct pp_agg *a = NULL;
    FILE *f;

    T_EQ_INT(pp_agg_new(&a), 0);
    check(a, &m,
          HEAD "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":1,\"tid\":0,"
          "\"args\":{\"name\":\"t\\\"\\u0001\"}}" TAIL);
    f = fopen("/dev/full", "w");
    if (f) {
        T_EQ_INT(pp_chrometrace_write(a, NULL, f), -EIO);
        fclose(f);
    }
    pp_agg_free(a);
}

/* Escaping in names, files and thread names (the helpers are tested in test-speedscope). */
static void test_escaping(void)
{
    struct pp_agg *a = NULL;
    uint32_t f, t;
    char *text;

    T_EQ_INT(pp_agg_new(&a), 0);
    f = frame(a, "\"\\\n\t<>&\x01", "x\xff.py", 1, PP_ORIGIN_USER);
    t = thread(a, 9, "n\xc3");
    T_EQ_INT(pp_agg_add(a, t, &f, 1, 1), 0);
    text = trace(a, NULL);
    T_ASSERT(strstr(text, "\"args\":{\"name\":\"n\xef\xbf\xbd\"}}") != NULL);
    T_ASSERT(strstr(text, "{\"ph\":\"B\",\"name\":\"\\\"\\\\\\n\\t<>&\\u0001\",\"cat\":\"user\","
                          "\"args\":{\"file\":\"x\xef\xbf\xbd.py\",\"line\":1},\"ts\":0,"
                          "\"pid\":1,\"tid\":9},\n") != NULL);
    free(text);
    pp_agg_free(a);
}

/* Random stacks and timelines: balanced and ordered; without a timeline, durations add up. */
static void test_random(void)
{
    unsigned seed = 12345;
    int round;

    for (round = 0; round < 40; round++) {
        struct pp_agg *a = NULL;
        struct tid_state st[MAX_TIDS];
        uint32_t fids[8], th[5], stack[12];
        uint64_t want_us[5] = {0}, t = 0;
        bool timeline = round % 2;
        int i, k, n;
        char *text;

        T_EQ_INT(pp_agg_new(&a), 0);
        if (timeline)
            pp_agg_timeline_enable(a);
        for (i = 0; i < 8; i++) {
            char name[8];

            snprintf(name, sizeof(name), "f%d", i);
            fids[i] = frame(a, name, "m.py", (uint32_t)i, PP_ORIGIN_USER);
        }
        for (i = 0; i < 5; i++)
            th[i] = thread(a, 100 + (uint64_t)i % 4, i == 4 ? "renamed" : "");
        for (i = 0; i < 300; i++) {
            uint32_t which = (uint32_t)(rand_r(&seed) % 5), depth = 1 + rand_r(&seed) % 12;

            for (k = 0; k < (int)depth; k++)
                stack[k] = fids[rand_r(&seed) % (k < 3 ? 2 : 8)];
            if (timeline) {
                t += (uint64_t)(rand_r(&seed) % 4) * 7000000;  /* 0, 7, 14 or 21 ms */
                T_EQ_INT(pp_agg_add_sample(a, th[which], stack, depth, t), 0);
            } else {
                uint64_t count = rand_r(&seed) % 4;

                T_EQ_INT(pp_agg_add(a, th[which], stack, depth, count), 0);
            }
        }
        for (i = 0; !timeline && i < (int)pp_agg_n_stacks(a); i++) {
            struct pp_stack_view v;

            pp_agg_stack(a, (size_t)i, &v);
            want_us[pp_agg_thread_get(a, v.thread)->tid - 100] += v.count * 10000;
        }
        text = trace(a, NULL);
        n = balance(text, st);
        T_ASSERT(n == 4);
        for (i = 0; !timeline && i < n; i++)
            T_ASSERT(st[i].root_us == (double)want_us[st[i].tid - 100]);
        free(text);
        pp_agg_free(a);
    }
}

int main(void)
{
    test_stacks();
    test_timeline();
    test_empty_eio();
    test_escaping();
    test_random();
    T_DONE();
}
