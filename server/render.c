/* SPDX-License-Identifier: MIT */
/* render: the read side — /render, /render-diff, /api/apps, /labels, /label-values. */
#include "render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flamebearer.h"
#include "ingest.h"
#include "labels.h"
#include "pyprof/err.h"
#include "pyprof/output.h"
#include "pyprof/svg.h"
#include "store.h"

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A memstream that becomes the reply's body. */
struct body {
    char *buf;
    size_t len;
    FILE *f;
};

static int body_open(struct body *b)
{
    b->buf = NULL;
    b->len = 0;
    b->f = open_memstream(&b->buf, &b->len);
    return b->f ? 0 : pp_err_origin(-ENOMEM);
}

/* Close @b into @r (status 200, @ctype). 0 or -ENOMEM/-EIO. */
static int body_finish(struct body *b, struct http_reply *r, const char *ctype)
{
    bool bad = ferror(b->f);
    int cr = fclose(b->f);
    b->f = NULL;
    if (cr != 0 || bad) {
        free(b->buf);
        b->buf = NULL;
        return pp_err_origin(-EIO);
    }
    r->status = 200;
    r->content_type = ctype;
    r->body = b->buf;
    r->len = b->len;
    b->buf = NULL;
    return 0;
}

static void body_abort(struct body *b)
{
    if (b->f)
        fclose(b->f);
    free(b->buf);
    b->f = NULL;
    b->buf = NULL;
}

/* Parse a time argument with a default. 0 or INGEST_E_PARAM. */
static int time_arg(const struct http_args *a, const char *key, const char *def, int64_t now_s,
                    int64_t *out)
{
    const char *v = http_arg(a, key);
    return ingest_parse_time(v && *v ? v : def, now_s, out);
}

static const char *units_of(const char *app)
{
    const char *dot = app ? strrchr(app, '.') : NULL;
    if (!dot)
        return "samples";
    if (strstr(dot, "space") || !strcmp(dot, ".bytes"))
        return "bytes";
    if (strstr(dot, "objects"))
        return "objects";
    return "samples";
}

/* One side of a query: the selector, the range and the merged aggregate (with its timeline). */
struct side {
    struct selector *sel;
    const char *query;
    int64_t from_s, until_s;
    struct pp_agg *agg;
    struct store_timeline tl;
};

static void side_free(struct side *s)
{
    selector_free(s->sel);
    pp_agg_free(s->agg);
    free(s->tl.samples);
    memset(s, 0, sizeof(*s));
}

/*
 * Parse and run one query. 0, or 1 with a 400 reply already in @r, or -errno.
 */
static int side_run(struct server *srv, const struct http_args *a, const char *qkey,
                    const char *fkey, const char *ukey, const char *fallback_q, int64_t now_s,
                    bool timeline, struct side *s, struct http_reply *r)
{
    char err[256], text[400];
    int rc;
    s->query = http_arg(a, qkey);
    if ((!s->query || !*s->query) && !strcmp(qkey, "query"))
        s->query = http_arg(a, "name");
    if (!s->query || !*s->query)
        s->query = fallback_q;
    if (!s->query || !*s->query) {
        snprintf(text, sizeof(text), "invalid parameter: \"%s\" is required\n", qkey);
        rc = http_reply_text(r, 400, text);
        return rc < 0 ? rc : 1;
    }
    rc = selector_parse(s->query, &s->sel, err, sizeof(err));
    if (rc < 0)
        return rc;
    if (rc) {
        snprintf(text, sizeof(text), "invalid parameter: \"%s: %s\"\n", qkey, err);
        rc = http_reply_text(r, 400, text);
        return rc < 0 ? rc : 1;
    }
    if (time_arg(a, fkey, "now-1h", now_s, &s->from_s) ||
        time_arg(a, ukey, "now", now_s, &s->until_s) || s->until_s <= s->from_s) {
        snprintf(text, sizeof(text), "invalid parameter: \"%s\" / \"%s\"\n", fkey, ukey);
        rc = http_reply_text(r, 400, text);
        return rc < 0 ? rc : 1;
    }
    rc = pp_agg_new(&s->agg);
    if (rc < 0)
        return rc;
    return store_query(srv->store, s->sel, s->from_s, s->until_s, s->agg, timeline ? &s->tl : NULL);
}

static size_t max_nodes_arg(const struct http_args *a)
{
    const char *v = http_arg(a, "maxNodes");
    if (!v || !*v)
        v = http_arg(a, "max-nodes");
    if (!v || !*v)
        return FLAMEBEARER_MAX_NODES_DEFAULT;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    return *end ? FLAMEBEARER_MAX_NODES_DEFAULT : (size_t)n;
}

static void write_timeline(FILE *f, const struct store_timeline *tl, int64_t from_s)
{
    fprintf(f, "{\"startTime\":%" PRId64 ",\"samples\":[", tl->n_steps ? tl->start_s : from_s);
    for (size_t i = 0; i < tl->n_steps; i++)
        fprintf(f, i ? ",%" PRIu64 : "%" PRIu64, tl->samples[i]);
    fprintf(f, "],\"durationDelta\":%" PRId64 ",\"watermarks\":{}}",
            tl->n_steps ? tl->step_s : (int64_t)10);
}

static void write_meta(FILE *f, const char *format, const struct side *s, size_t max_nodes)
{
    const char *app = selector_app(s->sel);
    fprintf(f, "{\"format\":\"%s\",\"spyName\":\"unknown\",\"sampleRate\":100,\"units\":\"%s\","
               "\"name\":", format, units_of(app));
    flamebearer_json_string(f, s->query);
    fputs(",\"appName\":", f);
    flamebearer_json_string(f, app ? app : "");
    fprintf(f, ",\"startTime\":%" PRId64 ",\"endTime\":%" PRId64 ",\"query\":", s->from_s,
            s->until_s);
    flamebearer_json_string(f, s->query);
    fprintf(f, ",\"maxNodes\":%zu}", max_nodes);
}

/* A file name from the app name: letters, digits, '.', '-', '_' kept. */
static void file_name(char *out, size_t outlen, const char *app, const char *ext)
{
    size_t n = 0;
    for (const char *p = app ? app : "profile"; *p && n + 1 < outlen - 32; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
        out[n++] = ok ? c : '_';
    }
    snprintf(out + n, outlen - n, "%s", ext);
}

int render_handle(struct server *srv, const struct http_args *a, int64_t now_s,
                  struct http_reply *r)
{
    double t0 = mono_now();
    struct side s = {0};
    struct body b = {0};
    const char *format = http_arg(a, "format");
    if (!format || !*format)
        format = "json";
    enum pp_format pf = PP_FORMAT_NONE;
    bool json = !strcmp(format, "json");
    if (!json) {
        pf = !strcmp(format, "collapsed") ? PP_FORMAT_FOLDED : pp_format_from_name(format);
        if (pf == PP_FORMAT_NONE || pf == PP_FORMAT_CHROMETRACE)
            return http_reply_text(r, 400, "invalid parameter: \"format\": json, svg, folded, "
                                           "speedscope or pprof\n");
    }
    int rc = side_run(srv, a, "query", "from", "until", NULL, now_s, json, &s, r);
    if (rc)
        goto out;
    rc = body_open(&b);
    if (rc < 0)
        goto out;
    const char *app = selector_app(s.sel);
    if (json) {
        size_t max_nodes = max_nodes_arg(a);
        fputs("{\"version\":1,\"flamebearer\":", b.f);
        rc = flamebearer_write(s.agg, NULL, max_nodes, b.f, NULL);
        if (rc < 0)
            goto out;
        fputs(",\"metadata\":", b.f);
        write_meta(b.f, "single", &s, max_nodes);
        fputs(",\"timeline\":", b.f);
        write_timeline(b.f, &s.tl, s.from_s);
        fputs(",\"groups\":{},\"annotations\":[]}", b.f);
        rc = body_finish(&b, r, "application/json");
        goto out;
    }
    struct pp_meta meta = {
        .title = s.query,
        .start_unix_ns = (uint64_t)s.from_s * 1000000000ull,
        .duration_ns = (uint64_t)(s.until_s - s.from_s) * 1000000000ull,
        .rate_hz = 100,
        .wall = app && strstr(app, ".wall") != NULL,
    };
    struct pp_output_opts oo = {.title = s.query};
    rc = pp_output_write(s.agg, &meta, pf, &oo, b.f);
    if (rc < 0)
        goto out;
    const char *ctype = "text/plain; charset=utf-8", *ext = ".folded";
    switch (pf) {
    case PP_FORMAT_FLAMEGRAPH: ctype = "image/svg+xml"; ext = ".svg"; break;
    case PP_FORMAT_SPEEDSCOPE: ctype = "application/json"; ext = ".speedscope.json"; break;
    case PP_FORMAT_PPROF: ctype = "application/octet-stream"; ext = ".pb.gz"; break;
    default: break;
    }
    rc = body_finish(&b, r, ctype);
    if (rc == 0 && pf != PP_FORMAT_FLAMEGRAPH)
        file_name(r->filename, sizeof(r->filename), app, ext);
out:
    body_abort(&b);
    side_free(&s);
    if (rc >= 0)
        metrics_render(&srv->metrics, mono_now() - t0);
    return rc > 0 ? 0 : rc;
}

int render_diff_handle(struct server *srv, const struct http_args *a, int64_t now_s,
                       struct http_reply *r)
{
    double t0 = mono_now();
    struct side left = {0}, right = {0};
    struct body b = {0};
    const char *format = http_arg(a, "format");
    if (!format || !*format)
        format = "json";
    bool json = !strcmp(format, "json");
    if (!json && strcmp(format, "svg") != 0 && strcmp(format, "flamegraph") != 0)
        return http_reply_text(r, 400, "invalid parameter: \"format\": json or svg\n");
    int rc = side_run(srv, a, "leftQuery", "leftFrom", "leftUntil", NULL, now_s, false, &left, r);
    if (rc)
        goto out;
    rc = side_run(srv, a, "rightQuery", "rightFrom", "rightUntil", left.query, now_s, false,
                  &right, r);
    if (rc)
        goto out;
    rc = body_open(&b);
    if (rc < 0)
        goto out;
    if (json) {
        size_t max_nodes = max_nodes_arg(a);
        struct flamebearer_info info;
        fputs("{\"version\":1,\"flamebearer\":", b.f);
        rc = flamebearer_write(left.agg, right.agg, max_nodes, b.f, &info);
        if (rc < 0)
            goto out;
        fputs(",\"metadata\":", b.f);
        write_meta(b.f, "double", &right, max_nodes);
        fprintf(b.f, ",\"leftTicks\":%" PRIu64 ",\"rightTicks\":%" PRIu64 "}", info.left_ticks,
                info.right_ticks);
        rc = body_finish(&b, r, "application/json");
        goto out;
    }
    const char *norm = http_arg(a, "normalize");
    bool normalize = norm && (!strcmp(norm, "1") || !strcmp(norm, "true"));
    struct pp_meta meta = {.rate_hz = 100};
    rc = pp_svg_write_diff(left.agg, right.agg, normalize, &meta, NULL, b.f);
    if (rc < 0)
        goto out;
    rc = body_finish(&b, r, "image/svg+xml");
out:
    body_abort(&b);
    side_free(&left);
    side_free(&right);
    if (rc >= 0)
        metrics_render(&srv->metrics, mono_now() - t0);
    return rc > 0 ? 0 : rc;
}

static int reply_strv(struct http_reply *r, char **v, size_t n)
{
    struct body b;
    int rc = body_open(&b);
    if (rc < 0)
        return rc;
    putc('[', b.f);
    for (size_t i = 0; i < n; i++) {
        if (i)
            putc(',', b.f);
        flamebearer_json_string(b.f, v[i]);
    }
    putc(']', b.f);
    rc = body_finish(&b, r, "application/json");
    body_abort(&b);
    return rc;
}

int render_apps(struct server *srv, const struct http_args *a, struct http_reply *r)
{
    char **v = NULL;
    size_t n = 0;
    int rc = store_apps(srv->store, &v, &n);
    if (rc < 0)
        return rc;
    rc = reply_strv(r, v, n);
    if (v)
        store_strv_free(v, n);
    return rc;
}

/* The app of the optional query= argument: 0 with *out (NULL when absent), or 1 (400 in @r). */
static int query_app(const struct http_args *a, struct selector **sel, struct http_reply *r)
{
    char err[256], text[400];
    const char *q = http_arg(a, "query");
    *sel = NULL;
    if (!q || !*q)
        return 0;
    int rc = selector_parse(q, sel, err, sizeof(err));
    if (rc > 0) {
        snprintf(text, sizeof(text), "invalid parameter: \"query: %s\"\n", err);
        rc = http_reply_text(r, 400, text);
        return rc < 0 ? rc : 1;
    }
    return rc;
}

int render_labels(struct server *srv, const struct http_args *a, struct http_reply *r)
{
    struct selector *sel;
    char **v = NULL;
    size_t n = 0;
    int rc = query_app(a, &sel, r);
    if (rc)
        return rc > 0 ? 0 : rc;
    rc = store_label_names(srv->store, sel ? selector_app(sel) : NULL, &v, &n);
    if (rc == 0)
        rc = reply_strv(r, v, n);
    if (v)
        store_strv_free(v, n);
    selector_free(sel);
    return rc;
}

int render_label_values(struct server *srv, const struct http_args *a, struct http_reply *r)
{
    struct selector *sel;
    char **v = NULL;
    size_t n = 0;
    const char *label = http_arg(a, "label");
    if (!label || !*label)
        return http_reply_text(r, 400, "invalid parameter: \"label\" is required\n");
    int rc = query_app(a, &sel, r);
    if (rc)
        return rc > 0 ? 0 : rc;
    if (!strcmp(label, "__name__"))
        rc = store_apps(srv->store, &v, &n);
    else
        rc = store_label_values(srv->store, sel ? selector_app(sel) : NULL, label, &v, &n);
    if (rc == 0)
        rc = reply_strv(r, v, n);
    if (v)
        store_strv_free(v, n);
    selector_free(sel);
    return rc;
}
