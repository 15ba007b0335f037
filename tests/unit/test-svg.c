/* SPDX-License-Identifier: MIT */
/* test-svg: exact SVG fragments: titles, layout, pruning, escaping, diff colours. */
#include <errno.h>
#include <stdarg.h>

#include "pyprof/svg.h"
#include "tests/t.h"

/* === Building aggregates ================================================= */

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

    f.origin = pp_origin_of_path(file);
    T_EQ_INT(pp_agg_intern_frame(a, &f, &fid), 0);
    return fid;
}

static uint32_t thread(struct pp_agg *a, uint64_t tid, const char *name)
{
    uint32_t t = UINT32_MAX;

    T_EQ_INT(pp_agg_intern_thread(a, tid, str(a, name, strlen(name)), &t), 0);
    return t;
}

/* A new aggregate whose thread index 0 is tid 1 "". */
static struct pp_agg *agg(void)
{
    struct pp_agg *a = NULL;

    T_EQ_INT(pp_agg_new(&a), 0);
    T_EQ_INT(thread(a, 1, ""), 0);
    return a;
}

/* Add @count samples of a stack given as frame ids, root first, ending with END. */
static void add(struct pp_agg *a, uint32_t th, uint64_t count, ...)
{
    uint32_t fids[32], n = 0, fid;
    va_list ap;

    va_start(ap, count);
    while ((fid = va_arg(ap, uint32_t)) != UINT32_MAX && n < 32)
        fids[n++] = fid;
    va_end(ap);
    T_EQ_INT(pp_agg_add(a, th, fids, n, count), 0);
}

#define END UINT32_MAX

/* === Writing ============================================================= */

/* The SVG (caller frees); *ret gets the writer's result. @before non-NULL: a diff. */
static char *svg_ex(const struct pp_agg *before, const struct pp_agg *a, bool normalize,
                    const struct pp_meta *m, const struct pp_svg_opts *o, int *ret)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return NULL;
    *ret = before ? pp_svg_write_diff(before, a, normalize, m, o, f) : pp_svg_write(a, m, o, f);
    fclose(f);
    T_EQ_INT(strlen(text), len); /* no NUL byte in the output */
    return text;
}

static char *svg(const struct pp_agg *a, const struct pp_svg_opts *o)
{
    int r = -1;
    char *s = svg_ex(NULL, a, false, NULL, o, &r);

    T_EQ_INT(r, 0);
    return s;
}

#define T_HAS(hay, needle)                                                                         \
    do {                                                                                           \
        if (!(hay) || !strstr((hay), (needle))) {                                                  \
            fprintf(stderr, "%s:%d: missing from the SVG:\n  %s\n", __FILE__, __LINE__, needle);   \
            t_failures++;                                                                          \
        }                                                                                          \
    } while (0)

#define T_HAS_NOT(hay, needle)                                                                     \
    do {                                                                                           \
        if ((hay) && strstr((hay), (needle))) {                                                    \
            fprintf(stderr, "%s:%d: unexpected in the SVG:\n  %s\n", __FILE__, __LINE__, needle);  \
            t_failures++;                                                                          \
        }                                                                                          \
    } while (0)

/* The fill (#rrggbb) of the frame whose title starts with @title, as 0xRRGGBB; -1 if none. */
static long fill_of(const char *s, const char *title)
{
    char key[512];
    const char *p, *f;

    snprintf(key, sizeof(key), "<title>%s", title);
    p = s ? strstr(s, key) : NULL;
    if (!p)
        return -1;
    f = strstr(p, "fill=\"#");
    return f ? strtol(f + 7, NULL, 16) : -1;
}

/* Offset of @needle in @s, or -1. */
static long pos(const char *s, const char *needle)
{
    const char *p = s ? strstr(s, needle) : NULL;

    return p ? p - s : -1;
}

/* === Tests =============================================================== */

/*
 * main (app.py:10) -> work 3000, parse (stdlib) 1000, get (third party) 999, and 1 sample of its
 * own: 5000 in all. Siblings sort bytewise: get, parse, work.
 */
static struct pp_agg *basic(void)
{
    struct pp_agg *a = agg();
    uint32_t m, w, p, g;

    m = frame(a, "main", "/srv/app.py", 10);
    w = frame(a, "work", "/srv/app.py", 20);
    p = frame(a, "parse", "/usr/lib/python3.11/json/decoder.py", 337);
    g = frame(a, "get", "/venv/lib/site-packages/requests/api.py", 59);
    add(a, 0, 3000, m, w, END);
    add(a, 0, 1000, m, p, END);
    add(a, 0, 999, m, g, END);
    add(a, 0, 1, m, END);
    return a;
}

static void test_titles_layout(void)
{
    struct pp_agg *a = basic();
    char *s = svg(a, NULL);
    long c;

    /* Header: 3 levels, subtitle (the sample count) => ypad1 56, height 3 * 16 + 56 + 34. */
    T_HAS(s, "<svg version=\"1.1\" width=\"1200\" height=\"138\" viewBox=\"0 0 1200 138\"");
    T_HAS(s, "<text id=\"title\" x=\"600\" y=\"24\">Flame Graph</text>");
    T_HAS(s, "<text id=\"subtitle\" x=\"600\" y=\"44\">5,000 samples</text>");
    /* Root at the bottom (depth 0: y = 138 - 34 - 16 + 1), full width. */
    T_HAS(s, "<g id=\"frames\">\n<g pp:x=\"0\" pp:w=\"5000\"><title>all (5,000 samples, "
             "100.00%)</title><rect x=\"10\" y=\"89\" width=\"1180\" height=\"15\" fill=\"#");
    T_HAS(s, "<g pp:x=\"0\" pp:w=\"5000\"><title>main (/srv/app.py:10) (5,000 samples, 100.00%)"
             "</title><rect x=\"10\" y=\"73\" width=\"1180\" height=\"15\"");
    /* Exact counts, separators, percentages rounded half up; x from the sorted siblings. */
    T_HAS(s, "<g pp:x=\"0\" pp:w=\"999\"><title>get (/venv/lib/site-packages/requests/api.py:59) "
             "(999 samples, 19.98%)</title><rect x=\"10\" y=\"57\" width=\"235.76\" height=\"15\"");
    T_HAS(s, "<g pp:x=\"999\" pp:w=\"1000\"><title>parse (/usr/lib/python3.11/json/decoder.py:"
             "337) (1,000 samples, 20.00%)</title><rect x=\"245.76\" y=\"57\" width=\"236\"");
    T_HAS(s, "<g pp:x=\"1999\" pp:w=\"3000\"><title>work (/srv/app.py:20) (3,000 samples, "
             "60.00%)</title><rect x=\"481.76\" y=\"57\" width=\"708\" height=\"15\" fill=\"#");
    T_HAS(s, "\"/><text x=\"484.76\" y=\"67.5\">work (/srv/app.py:20)</text></g>\n");
    /* Written by depth, then left to right. */
    T_ASSERT(pos(s, "<title>all ") < pos(s, "<title>main "));
    T_ASSERT(pos(s, "<title>main ") < pos(s, "<title>get "));
    T_ASSERT(pos(s, "<title>get ") < pos(s, "<title>parse "));
    T_ASSERT(pos(s, "<title>parse ") < pos(s, "<title>work "));
    /* Colours by origin: user warm, stdlib blue, third party green, root grey. */
    c = fill_of(s, "work ");
    T_ASSERT(c >= 0 && (c >> 16) >= 205 && (c & 0xff) <= 55);
    c = fill_of(s, "parse ");
    T_ASSERT(c >= 0 && (c & 0xff) >= 205 && (c >> 16) < 140);
    c = fill_of(s, "get ");
    T_ASSERT(c >= 0 && (c >> 8 & 0xff) >= 190 && (c >> 16) < 160 && (c & 0xff) < 130);
    c = fill_of(s, "all ");
    T_ASSERT(c >= 0 && (c >> 16) == (c >> 8 & 0xff) && (c & 0xff) == (c >> 16) + 5);
    /* Geometry for the script; the script and style are inline, nothing external. */
    T_HAS(s, "var P={w:1200,xp:10,base:89,step:-16,hit:'#e600e6'};");
    T_HAS(s, "<script><![CDATA[\n");
    T_HAS(s, "]]></script>\n</svg>\n");
    T_HAS_NOT(s, "href=");
    T_HAS_NOT(s, "src=");
    T_HAS_NOT(s, "]]>\n]]>");
    free(s);
    pp_agg_free(a);
}

static void test_icicle(void)
{
    struct pp_agg *a = basic();
    struct pp_svg_opts o = {.icicle = true, .min_width = -1};
    char *s = svg(a, &o);

    /* Root on top at ypad1 (56), then 16 px per level. */
    T_HAS(s, "<title>all (5,000 samples, 100.00%)</title><rect x=\"10\" y=\"56\" width=\"1180\"");
    T_HAS(s, "<title>main (/srv/app.py:10) (5,000 samples, 100.00%)</title><rect x=\"10\" "
             "y=\"72\"");
    T_HAS(s, "60.00%)</title><rect x=\"481.76\" y=\"88\" width=\"708\"");
    T_HAS(s, "<text x=\"484.76\" y=\"98.5\">work (/srv/app.py:20)</text>");
    T_HAS(s, "var P={w:1200,xp:10,base:56,step:16,");
    free(s);
    pp_agg_free(a);
}

static void test_meta_title_width(void)
{
    struct pp_agg *a = basic();
    struct pp_meta m = {.title = "T & <t>", .command = "python3 app.py 'x' \"y\"\n",
                        .duration_ns = 12345678900ULL, .rate_hz = 100, .wall = true};
    struct pp_svg_opts o = {.width = 600, .min_width = -1};
    int r = -1;
    char *s = svg_ex(NULL, a, false, &m, &o, &r);

    T_EQ_INT(r, 0);
    T_HAS(s, "width=\"600\" height=\"138\" viewBox=\"0 0 600 138\"");
    T_HAS(s, "<text id=\"title\" x=\"300\" y=\"24\">T &amp; &lt;t&gt;</text>");
    T_HAS(s, "<text id=\"subtitle\" x=\"300\" y=\"44\">python3 app.py &#39;x&#39; &quot;y&quot; "
             ", 12.35 s, 100 Hz, 5,000 samples, wall time</text>");
    /* 580 px wide: 0.116 px per sample. */
    T_HAS(s, "60.00%)</title><rect x=\"241.88\" y=\"57\" width=\"348\"");
    free(s);
    o.title = "Mine";
    s = svg_ex(NULL, a, false, &m, &o, &r);
    T_HAS(s, "<text id=\"title\" x=\"300\" y=\"24\">Mine</text>");
    free(s);
    pp_agg_free(a);
}

static void test_escaping(void)
{
    struct pp_agg *a = NULL;
    uint32_t f1, f2, f3, f4, t1, t2;
    struct pp_svg_opts o = {.threads = true, .min_width = -1};
    char *s;

    a = agg();
    f1 = frame(a, "a<b>&\"c'", "x.py", 3);
    f2 = frame(a, "semi;colon\tand\x01" "ctl", "", 0);
    {
        /* Invalid UTF-8 (a lone continuation byte, a truncated sequence, an overlong '/',
         * a surrogate and U+FFFF) becomes U+FFFD; valid UTF-8 stays. */
        static const char bad[] = "x\x80y\xc3z\xc0\xaf\xed\xa0\x80\xef\xbf\xbf\xc3\xa9";
        struct pp_frame f = {str(a, bad, sizeof(bad) - 1), str(a, "nul\0f.py", 8), 0, 0};

        T_EQ_INT(pp_agg_intern_frame(a, &f, &f3), 0);
    }
    f4 = frame(a, "gr\xc3\xb6\xc3\x9f" "e \xe5\x87\xbd\xe6\x95\xb0", "\xc3\xbc.py", 7);
    t1 = thread(a, 4242, "Main\"Thread");
    t2 = thread(a, 7, "");
    add(a, t1, 10, f1, f2, END);
    add(a, t1, 10, f3, END);
    add(a, t2, 10, f4, END);
    add(a, t2, 10, END); /* an empty stack */
    s = svg(a, &o);
    T_HAS(s, "<title>a&lt;b&gt;&amp;&quot;c&#39; (x.py:3) (10 samples, 25.00%)</title>");
    T_HAS(s, ">a&lt;b&gt;&amp;&quot;c&#39; (x.py:3)</text>");
    T_HAS(s, "<title>semi_colon_and_ctl (10 samples, 25.00%)</title>");
    T_HAS(s, "<title>x\xef\xbf\xbdy\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9 (nul_f.py) (10 samples");
    T_HAS(s, "<title>gr\xc3\xb6\xc3\x9f" "e \xe5\x87\xbd\xe6\x95\xb0 (\xc3\xbc.py:7) (10 samples");
    T_HAS(s, "<title>thread (4242 &quot;Main&quot;Thread&quot;) (20 samples, 50.00%)</title>");
    T_HAS(s, "<title>thread (7) (20 samples, 50.00%)</title>");
    T_HAS(s, "<title>&lt;no frames&gt; (10 samples, 25.00%)</title>");
    T_HAS_NOT(s, "a<b");
    T_HAS_NOT(s, "\t");
    T_HAS_NOT(s, "\x01");
    free(s);
    pp_agg_free(a);
}

static void test_prune_and_truncate(void)
{
    struct pp_agg *a = NULL;
    uint32_t big, tiny, x, l50, l20, u50;
    struct pp_svg_opts o = {.min_width = -1};
    char *s;

    a = agg();
    big = frame(a, "big", "", 0);
    tiny = frame(a, "tiny", "", 0);
    x = frame(a, "x", "", 0);
    add(a, 0, 100000, big, x, END);
    add(a, 0, 1, big, tiny, END); /* 1180 / 100001 px: pruned at 0.1, kept at 0.01 */
    s = svg(a, &o);
    T_HAS_NOT(s, "tiny");
    /* "tiny" sorts first; pruned, it still takes its place. */
    T_HAS(s, "<g pp:x=\"1\" pp:w=\"100000\"><title>x (100,000 samples, 100.00%)</title><rect "
             "x=\"10.01\" y=\"57\" width=\"1179.99\"");
    free(s);
    o.min_width = 0.01;
    s = svg(a, &o);
    T_HAS(s, "<g pp:x=\"0\" pp:w=\"1\"><title>tiny (1 samples, 0.00%)</title><rect x=\"10\" "
             "y=\"57\" width=\"0.01\" height=\"15\" fill=\"#");
    free(s);
    pp_agg_free(a);

    /* Labels cut to floor((width - 6) / 7.2) characters ending in "..", none under 3. */
    a = agg();
    l50 = frame(a, "abcdefghijklmnopqrstuvwxyz", "long.py", 1);
    l20 = frame(a, "narrow", "", 0);
    u50 = frame(a, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "", 0);
    add(a, 0, 50, l50, END);
    add(a, 0, 20, l20, END);
    add(a, 0, 50, u50, END);
    add(a, 0, 1060, frame(a, "zzz", "", 0), END);
    o.min_width = -1;
    s = svg(a, &o);
    T_HAS(s, "<title>abcdefghijklmnopqrstuvwxyz (long.py:1) (50 samples, 4.24%)</title><rect "
             "x=\"10\" y=\"57\" width=\"50\" height=\"15\" fill=\"#");
    T_HAS(s, "<text x=\"13\" y=\"67.5\">abcd..</text></g>\n");
    T_HAS(s, "<title>narrow (20 samples, 1.69%)</title><rect x=\"60\" y=\"57\" width=\"20\" "
             "height=\"15\" fill=\"#");
    T_HAS_NOT(s, "\">narrow"); /* no <text> */
    T_HAS(s, ">\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9..</text>");
    T_HAS(s, ">zzz</text>");
    free(s);
    pp_agg_free(a);
}

/* Diff: a grew 10 -> 20, b shrank 10 -> 5, c stayed 10, d is new (5), e vanished (7). */
static void test_diff(void)
{
    struct pp_agg *b = NULL, *a = NULL;
    struct pp_svg_opts o = {.min_width = -1};
    uint32_t mb, ma;
    int r = -1;
    char *s;

    b = agg();
    a = agg();
    mb = frame(b, "m", "", 0);
    add(b, 0, 10, mb, frame(b, "a", "x.py", 1), END);
    add(b, 0, 10, mb, frame(b, "b", "x.py", 2), END);
    add(b, 0, 10, mb, frame(b, "c", "x.py", 3), END);
    add(b, 0, 7, mb, frame(b, "e", "x.py", 5), END);
    ma = frame(a, "m", "", 0);
    add(a, 0, 5, ma, frame(a, "d", "x.py", 4), END);
    add(a, 0, 10, ma, frame(a, "c", "x.py", 3), END);
    add(a, 0, 5, ma, frame(a, "b", "x.py", 2), END);
    add(a, 0, 20, ma, frame(a, "a", "x.py", 1), END);

    s = svg_ex(b, a, false, NULL, &o, &r);
    T_EQ_INT(r, 0);
    T_HAS(s, "<text id=\"title\" x=\"600\" y=\"24\">Differential Flame Graph</text>");
    T_HAS(s, ">40 samples (before: 37)</text>");
    /* rel = (now - was) / max: c = 250 - round(210 * |rel|). */
    T_HAS(s, "<g pp:x=\"0\" pp:w=\"20\"><title>a (x.py:1) (20 samples, 50.00%; was 10, +10)"
             "</title><rect x=\"10\" y=\"57\" width=\"590\" height=\"15\" fill=\"#fa9191\"/>");
    T_HAS(s, "<g pp:x=\"20\" pp:w=\"5\"><title>b (x.py:2) (5 samples, 12.50%; was 10, -5)"
             "</title><rect x=\"600\" y=\"57\" width=\"147.5\" height=\"15\" fill=\"#9191fa\"/>");
    T_HAS(s, "<title>c (x.py:3) (10 samples, 25.00%; was 10, +0)</title><rect x=\"747.5\" "
             "y=\"57\" width=\"295\" height=\"15\" fill=\"#fafafa\"/>");
    T_HAS(s, "<title>d (x.py:4) (5 samples, 12.50%; was 0, +5)</title><rect x=\"1042.5\" "
             "y=\"57\" width=\"147.5\" height=\"15\" fill=\"#fa2828\"/>");
    T_HAS(s, "<title>all (40 samples, 100.00%; was 37, +3)</title><rect x=\"10\" y=\"89\" "
             "width=\"1180\" height=\"15\" fill=\"#faeaea\"/>");
    T_HAS_NOT(s, "<title>e ");
    free(s);

    /* Normalized: BEFORE scaled by 40 / 37. */
    s = svg_ex(b, a, true, NULL, &o, &r);
    T_EQ_INT(r, 0);
    T_HAS(s, ">40 samples (before: 37, normalized)</text>");
    T_HAS(s, "<title>all (40 samples, 100.00%; was 40, +0)</title><rect x=\"10\" y=\"89\" "
             "width=\"1180\" height=\"15\" fill=\"#fafafa\"/>");
    T_HAS(s, "<title>a (x.py:1) (20 samples, 50.00%; was 11, +9)</title>");
    T_HAS(s, "<title>c (x.py:3) (10 samples, 25.00%; was 11, -1)</title>");
    free(s);
    pp_agg_free(a);
    pp_agg_free(b);
}

/* The same stacks in another insertion order (and frame id order) give the same bytes. */
static void test_deterministic(void)
{
    struct pp_agg *a = basic(), *b = NULL;
    struct pp_svg_opts o = {.min_width = -1};
    uint32_t m, w, p, g;
    char *s1, *s2, *s3;

    b = agg();
    g = frame(b, "get", "/venv/lib/site-packages/requests/api.py", 59);
    p = frame(b, "parse", "/usr/lib/python3.11/json/decoder.py", 337);
    w = frame(b, "work", "/srv/app.py", 20);
    m = frame(b, "main", "/srv/app.py", 10);
    add(b, 0, 1, m, END);
    add(b, 0, 999, m, g, END);
    add(b, 0, 500, m, w, END);
    add(b, 0, 1000, m, p, END);
    add(b, thread(b, 99, "other"), 2500, m, w, END); /* merged with thread 0's without threads */
    s1 = svg(a, &o);
    s2 = svg(a, &o);
    s3 = svg(b, &o);
    T_ASSERT(s1 && s2 && s3);
    T_EQ_STR(s1, s2);
    T_EQ_STR(s1, s3);
    free(s1);
    free(s2);
    free(s3);
    pp_agg_free(a);
    pp_agg_free(b);
}

static void test_empty_and_errors(void)
{
    struct pp_agg *a = NULL;
    FILE *full;
    char *s;
    int r;

    T_EQ_INT(pp_agg_new(&a), 0);
    s = svg(a, NULL);
    T_HAS(s, "No samples</text>");
    T_HAS(s, "<g id=\"frames\">\n</g>\n");
    T_HAS(s, "</svg>\n");
    free(s);
    pp_agg_free(a);

    a = basic();
    full = fopen("/dev/full", "w");
    if (full) {
        r = pp_svg_write(a, NULL, NULL, full);
        T_EQ_INT(r, -EIO);
        fclose(full);
    }
    pp_agg_free(a);
}

int main(void)
{
    test_titles_layout();
    test_icicle();
    test_meta_title_width();
    test_escaping();
    test_prune_and_truncate();
    test_diff();
    test_deterministic();
    test_empty_and_errors();
    T_DONE();
}
