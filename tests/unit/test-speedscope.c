/* SPDX-License-Identifier: MIT */
/* test-speedscope: exact speedscope JSON; the JSON helpers' escaping, UTF-8 repair, numbers. */
#include <errno.h>

#include "pyprof/speedscope.h"
#include "src/json.h"
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

static void check(const struct pp_agg *a, const struct pp_meta *m, const char *want)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int r;

    T_ASSERT(f);
    if (!f)
        return;
    r = pp_speedscope_write(a, m, f);
    fclose(f);
    T_EQ_INT(r, 0);
    T_EQ_INT(strlen(text), len);
    T_EQ_STR(text, want);
    free(text);
}

#define HEAD "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n"

/* No timeline: one sample per distinct stack, weighing count * period; unused frames left out. */
static void test_stacks(void)
{
    struct pp_agg *a = NULL;
    uint32_t fa, fb, fc, t0;

    T_EQ_INT(pp_agg_new(&a), 0);
    fa = frame(a, "<module>", "app.py", 10);
    (void)frame(a, "unused", "app.py", 1);
    fb = frame(a, "Cls.meth", "", 0);          /* no file, no line: name only */
    fc = frame(a, "work", "app.py", 0);        /* no line */
    t0 = thread(a, 0, "");
    {
        uint32_t s1[] = {fa, fb}, s2[] = {fa, fb, fc}, s3[] = {fa};

        T_EQ_INT(pp_agg_add(a, t0, s1, 2, 3), 0);
        T_EQ_INT(pp_agg_add(a, t0, s2, 3, 1), 0);
        T_EQ_INT(pp_agg_add(a, t0, s3, 1, 0), 0);     /* count 0: no sample */
        T_EQ_INT(pp_agg_add(a, t0, NULL, 0, 2), 0);   /* empty stack */
    }
    check(a, NULL,
          HEAD "\"exporter\":\"pyprof\",\"activeProfileIndex\":0,\n"
          "\"shared\":{\"frames\":[\n"
          "{\"name\":\"<module>\",\"file\":\"app.py\",\"line\":10},\n"
          "{\"name\":\"Cls.meth\"},\n"
          "{\"name\":\"work\",\"file\":\"app.py\"}]},\n"
          "\"profiles\":[\n"
          "{\"type\":\"sampled\",\"name\":\"all\",\"unit\":\"seconds\",\"startValue\":0,"
          "\"endValue\":0.06,\n"
          "\"samples\":[\n"
          "[0,1],\n"
          "[0,1,2],\n"
          "[]],\n"
          "\"weights\":[0.03,0.01,0.02]}]}\n");
    pp_agg_free(a);
}

/* Threads: one profile each, named after tid and name; the heaviest is the active one. */
static void test_threads(void)
{
    struct pp_meta m = {.title = "pyprof record", .command = "python3 app.py", .rate_hz = 1000};
    struct pp_agg *a = NULL;
    uint32_t fa, fb, t0, t1, t2, t3;

    T_EQ_INT(pp_agg_new(&a), 0);
    fa = frame(a, "main", "app.py", 3);
    fb = frame(a, "run", "threading.py", 982);
    t0 = thread(a, 4123, "MainThread");
    t1 = thread(a, 4124, "");
    t2 = thread(a, 4125, "idle");               /* only a zero count: no profile */
    t3 = thread(a, 4126, "w\"1\"");
    {
        uint32_t s1[] = {fa}, s2[] = {fb};

        T_EQ_INT(pp_agg_add(a, t0, s1, 1, 2), 0);
        T_EQ_INT(pp_agg_add(a, t1, s2, 1, 1), 0);
        T_EQ_INT(pp_agg_add(a, t2, s2, 1, 0), 0);
        T_EQ_INT(pp_agg_add(a, t3, s2, 1, 7), 0);
    }
    check(a, &m,
          HEAD "\"exporter\":\"pyprof\",\"name\":\"python3 app.py\",\"activeProfileIndex\":2,\n"
          "\"shared\":{\"frames\":[\n"
          "{\"name\":\"main\",\"file\":\"app.py\",\"line\":3},\n"
          "{\"name\":\"run\",\"file\":\"threading.py\",\"line\":982}]},\n"
          "\"profiles\":[\n"
          "{\"type\":\"sampled\",\"name\":\"Thread 4123 \\\"MainThread\\\"\",\"unit\":\"seconds\","
          "\"startValue\":0,\"endValue\":0.002,\n"
          "\"samples\":[\n[0]],\n\"weights\":[0.002]},\n"
          "{\"type\":\"sampled\",\"name\":\"Thread 4124\",\"unit\":\"seconds\","
          "\"startValue\":0,\"endValue\":0.001,\n"
          "\"samples\":[\n[1]],\n\"weights\":[0.001]},\n"
          "{\"type\":\"sampled\",\"name\":\"Thread 4126 \\\"w\\\"1\\\"\\\"\","
          "\"unit\":\"seconds\",\"startValue\":0,\"endValue\":0.007,\n"
          "\"samples\":[\n[1]],\n\"weights\":[0.007]}]}\n");

    /* Only the title: it names the file. A lone thread with a tid is not "all". */
    {
        struct pp_meta m2 = {.title = "T", .rate_hz = 3};
        struct pp_agg *b = NULL;
        uint32_t f, t, s[1];

        T_EQ_INT(pp_agg_new(&b), 0);
        f = frame(b, "f", "", 0);
        t = thread(b, 7, "");
        s[0] = f;
        T_EQ_INT(pp_agg_add(b, t, s, 1, 2), 0);
        check(b, &m2,
              HEAD "\"exporter\":\"pyprof\",\"name\":\"T\",\"activeProfileIndex\":0,\n"
              "\"shared\":{\"frames\":[\n{\"name\":\"f\"}]},\n"
              "\"profiles\":[\n"
              "{\"type\":\"sampled\",\"name\":\"Thread 7\",\"unit\":\"seconds\","
              "\"startValue\":0,\"endValue\":0.666666666,\n"
              "\"samples\":[\n[0]],\n\"weights\":[0.666666666]}]}\n");
        pp_agg_free(b);
    }
    pp_agg_free(a);
}

/*
 * With a timeline: samples in time order per thread, one period each, consecutive equal stacks
 * of a thread merged (even when another thread's samples come between).
 */
static void test_timeline(void)
{
    struct pp_agg *a = NULL;
    uint32_t fa, fb, fc, t0, t1;

    T_EQ_INT(pp_agg_new(&a), 0);
    pp_agg_timeline_enable(a);
    fa = frame(a, "a", "", 0);
    fb = frame(a, "b", "", 0);
    fc = frame(a, "c", "", 0);
    t0 = thread(a, 1, "main");
    t1 = thread(a, 2, "w");
    {
        uint32_t ab[] = {fa, fb}, ac[] = {fa, fc}, c[] = {fc};

        T_EQ_INT(pp_agg_add_sample(a, t0, ab, 2, 1000), 0);
        T_EQ_INT(pp_agg_add_sample(a, t1, c, 1, 1000), 0);
        T_EQ_INT(pp_agg_add_sample(a, t0, ab, 2, 2000), 0);
        T_EQ_INT(pp_agg_add_sample(a, t1, c, 1, 2000), 0);
        T_EQ_INT(pp_agg_add_sample(a, t0, ac, 2, 3000), 0);
        T_EQ_INT(pp_agg_add_sample(a, t0, ab, 2, 4000), 0);
        T_EQ_INT(pp_agg_add_sample(a, t0, ab, 2, 9000), 0);
    }
    T_EQ_INT(pp_agg_n_samples(a), 7);
    check(a, NULL,
          HEAD "\"exporter\":\"pyprof\",\"activeProfileIndex\":0,\n"
          "\"shared\":{\"frames\":[\n"
          "{\"name\":\"a\"},\n{\"name\":\"b\"},\n{\"name\":\"c\"}]},\n"
          "\"profiles\":[\n"
          "{\"type\":\"sampled\",\"name\":\"Thread 1 \\\"main\\\"\",\"unit\":\"seconds\","
          "\"startValue\":0,\"endValue\":0.05,\n"
          "\"samples\":[\n[0,1],\n[0,2],\n[0,1]],\n\"weights\":[0.02,0.01,0.02]},\n"
          "{\"type\":\"sampled\",\"name\":\"Thread 2 \\\"w\\\"\",\"unit\":\"seconds\","
          "\"startValue\":0,\"endValue\":0.02,\n"
          "\"samples\":[\n[2]],\n\"weights\":[0.02]}]}\n");

    /* Counts added outside the timeline: it no longer covers them, so the stacks are used. */
    {
        uint32_t c[] = {fc};

        T_EQ_INT(pp_agg_add(a, t1, c, 1, 1), 0);
    }
    check(a, NULL,
          HEAD "\"exporter\":\"pyprof\",\"activeProfileIndex\":0,\n"
          "\"shared\":{\"frames\":[\n"
          "{\"name\":\"a\"},\n{\"name\":\"b\"},\n{\"name\":\"c\"}]},\n"
          "\"profiles\":[\n"
          "{\"type\":\"sampled\",\"name\":\"Thread 1 \\\"main\\\"\",\"unit\":\"seconds\","
          "\"startValue\":0,\"endValue\":0.05,\n"
          "\"samples\":[\n[0,1],\n[0,2]],\n\"weights\":[0.04,0.01]},\n"
          "{\"type\":\"sampled\",\"name\":\"Thread 2 \\\"w\\\"\",\"unit\":\"seconds\","
          "\"startValue\":0,\"endValue\":0.03,\n"
          "\"samples\":[\n[2]],\n\"weights\":[0.03]}]}\n");
    pp_agg_free(a);
}

/* Any bytes in names, files and thread names give valid JSON and valid UTF-8. */
static void test_escaping(void)
{
    static const char name[] = "\"\\\n\t<>&\x01\x1f\x7f\r\b\f/\0z";
    struct pp_meta m = {.command = "cmd \"q\"\n"};
    struct pp_agg *a = NULL;
    struct pp_frame f;
    uint32_t fid, t, s[1];

    T_EQ_INT(pp_agg_new(&a), 0);
    f.name = str(a, name, sizeof(name) - 1);
    f.file = str(a, "bad\xff\xc3(\xe2\x82.py", 11);
    f.line = 1;
    f.origin = 0;
    T_EQ_INT(pp_agg_intern_frame(a, &f, &fid), 0);
    T_EQ_INT(pp_agg_intern_thread(a, 5, str(a, "t\xc0\xaf\xed\xa0\x80", 6), &t), 0);
    s[0] = fid;
    T_EQ_INT(pp_agg_add(a, t, s, 1, 1), 0);
    check(a, &m,
          HEAD "\"exporter\":\"pyprof\",\"name\":\"cmd \\\"q\\\"\\n\",\"activeProfileIndex\":0,\n"
          "\"shared\":{\"frames\":[\n"
          "{\"name\":\"\\\"\\\\\\n\\t<>&\\u0001\\u001f\x7f\\r\\b\\f/\\u0000z\","
          "\"file\":\"bad\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd.py\",\"line\":1}]},\n"
          "\"profiles\":[\n"
          "{\"type\":\"sampled\",\"name\":\"Thread 5 \\\"t"
          "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\\\"\",\"unit\":\"seconds\","
          "\"startValue\":0,\"endValue\":0.01,\n"
          "\"samples\":[\n[0]],\n\"weights\":[0.01]}]}\n");
    pp_agg_free(a);
}

/* An empty aggregate still gives a loadable file: no frames, one empty profile. */
static void test_empty(void)
{
    struct pp_agg *a = NULL;

    T_EQ_INT(pp_agg_new(&a), 0);
    check(a, NULL,
          HEAD "\"exporter\":\"pyprof\",\"activeProfileIndex\":0,\n"
          "\"shared\":{\"frames\":[]},\n"
          "\"profiles\":[\n"
          "{\"type\":\"sampled\",\"name\":\"all\",\"unit\":\"seconds\",\"startValue\":0,"
          "\"endValue\":0,\n"
          "\"samples\":[],\n"
          "\"weights\":[]}]}\n");
    pp_agg_free(a);
}

/* A failing stream gives -EIO. */
static void test_eio(void)
{
    FILE *f = fopen("/dev/full", "w");
    struct pp_agg *a = NULL;

    if (!f)
        return;
    T_EQ_INT(pp_agg_new(&a), 0);
    T_EQ_INT(pp_speedscope_write(a, NULL, f), -EIO);
    fclose(f);
    pp_agg_free(a);
}

/* === JSON helpers ========================================================= */

static char *json_of(const char *s, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    struct pp_json *j = malloc(sizeof(*j));

    if (!f || !j)
        abort();
    pp_json_init(j, f);
    pp_json_str_part(j, s, n);
    T_EQ_INT(pp_json_finish(j), 0);
    fclose(f);
    free(j);
    return text;
}

static void check_part(const char *in, size_t n, const char *want)
{
    char *got = json_of(in, n);

    T_EQ_STR(got, want);
    free(got);
}

#define FFFD "\xef\xbf\xbd"

/* Ill-formed UTF-8: one U+FFFD per maximal ill-formed subpart (as Python's "replace"). */
static void test_utf8(void)
{
    check_part("\xf0\x9f\x98\x80 \xe2\x82\xac \xc3\xa9 \xf4\x8f\xbf\xbf", 16,
               "\xf0\x9f\x98\x80 \xe2\x82\xac \xc3\xa9 \xf4\x8f\xbf\xbf");
    check_part("\x80", 1, FFFD);                                /* lone continuation */
    check_part("\xbf\x80", 2, FFFD FFFD);
    check_part("\xc0\xaf", 2, FFFD FFFD);                       /* overlong '/' */
    check_part("\xc1\xbf", 2, FFFD FFFD);
    check_part("\xe0\x80\xaf", 3, FFFD FFFD FFFD);              /* overlong 3 bytes */
    check_part("\xed\xa0\x80", 3, FFFD FFFD FFFD);              /* surrogate D800 */
    check_part("\xed\x9f\xbf", 3, "\xed\x9f\xbf");              /* U+D7FF is fine */
    check_part("\xf0\x80\x80\x80", 4, FFFD FFFD FFFD FFFD);     /* overlong 4 bytes */
    check_part("\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);     /* above U+10FFFF */
    check_part("\xf5\xbf", 2, FFFD FFFD);
    check_part("\xff\xfe", 2, FFFD FFFD);
    check_part("\xe2\x82x", 3, FFFD "x");                       /* truncated, then ASCII */
    check_part("\xe2\x82", 2, FFFD);                            /* truncated at the end */
    check_part("\xf0\x9f\x98", 3, FFFD);
    check_part("\xf0\x9f\x98\xc3\xa9", 5, FFFD "\xc3\xa9");
    check_part("\xc3\"", 2, FFFD "\\\"");
}

/* Output larger than the buffer, escapes straddling its end, numbers. */
static void test_buffer_numbers(void)
{
    size_t n = 6 * (PP_JSON_BUF / 2 + 1), i, k = 0; /* > 3 buffers of output, 3 of input */
    char *in = malloc(n), *want = malloc(3 * n + 1), *got;
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    struct pp_json *j = malloc(sizeof(*j));

    if (!in || !want || !j)
        abort();
    for (i = 0; i < n; i++) {
        in[i] = "ab\n\x01\xc3\xa9"[i % 6];
        if (i % 6 == 2) {
            memcpy(want + k, "\\n", 2);
            k += 2;
        } else if (i % 6 == 3) {
            memcpy(want + k, "\\u0001", 6);
            k += 6;
        } else {
            want[k++] = in[i];
        }
    }
    want[k] = '\0';
    got = json_of(in, n);
    T_EQ_INT(strlen(got), k);
    T_ASSERT(strcmp(got, want) == 0);
    free(got);
    free(in);
    free(want);

    f = open_memstream(&text, &len);
    pp_json_init(j, f);
    pp_json_u64(j, 0);
    pp_json_lit(j, " ");
    pp_json_u64(j, UINT64_MAX);
    pp_json_lit(j, " ");
    pp_json_fixed(j, 0, 9);
    pp_json_lit(j, " ");
    pp_json_fixed(j, 10000000, 9);
    pp_json_lit(j, " ");
    pp_json_fixed(j, 1500000001, 9);
    pp_json_lit(j, " ");
    pp_json_fixed(j, 1234567, 3);
    pp_json_lit(j, " ");
    pp_json_fixed(j, 1200, 3);
    pp_json_lit(j, " ");
    pp_json_fixed(j, 42, 0);
    pp_json_lit(j, " ");
    pp_json_fixed(j, UINT64_MAX, 19);
    T_EQ_INT(pp_json_finish(j), 0);
    fclose(f);
    T_EQ_STR(text, "0 18446744073709551615 0 0.01 1.500000001 1234.567 1.2 42 "
                   "1.8446744073709551615");
    free(text);
    free(j);
}

int main(void)
{
    test_stacks();
    test_threads();
    test_timeline();
    test_escaping();
    test_empty();
    test_eio();
    test_utf8();
    test_buffer_numbers();
    T_DONE();
}
