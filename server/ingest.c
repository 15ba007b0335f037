/* SPDX-License-Identifier: MIT */
/* ingest: Pyroscope's POST /ingest — parameters, body formats, and the store. */
#include "ingest.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "pyprof/err.h"
#include "pyprof/folded.h"
#include "pyprof/pprof.h"

#define DEFAULT_MAX_INFLATED ((size_t)256 << 20)
#define JSON_MAX_DEPTH 64

static int fail(int code, char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(int code, char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (msg && msglen)
        vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    return code;
}

/* === Times ==================================================================================== */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int ingest_parse_time(const char *s, int64_t now_s, int64_t *out_s)
{
    char buf[64];
    size_t n = 0;
    if (!s)
        return INGEST_E_PARAM;
    for (; *s; s++) {
        if (*s == '_' || *s == ',' || *s == ' ')
            continue;
        if (n + 1 >= sizeof(buf))
            return INGEST_E_PARAM;
        buf[n++] = *s;
    }
    buf[n] = '\0';
    if (n == 0)
        return INGEST_E_PARAM;
    if (strncmp(buf, "now", 3) == 0) {
        const char *p = buf + 3;
        if (!*p) {
            *out_s = now_s;
            return 0;
        }
        if (*p != '-' && *p != '+')
            return INGEST_E_PARAM;
        int sign = *p == '-' ? -1 : 1;
        p++;
        if (!isdigit((unsigned char)*p))
            return INGEST_E_PARAM;
        char *end;
        long long v = strtoll(p, &end, 10);
        static const struct {
            const char *u;
            int64_t s;
        } units[] = {{"s", 1},       {"m", 60},         {"min", 60},      {"h", 3600},
                     {"d", 86400},   {"w", 604800},     {"M", 2592000},   {"mon", 2592000},
                     {"y", 31536000}};
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strcmp(end, units[i].u) == 0) {
                int64_t off, t;

                if (v > INT64_MAX / units[i].s / 2)
                    return INGEST_E_PARAM;
                off = sign * v * units[i].s;
                /* A hostile or odd "now" must not overflow (found by tests/fuzz/fuzz-ingest). */
                if (__builtin_add_overflow(now_s, off, &t))
                    return INGEST_E_PARAM;
                *out_s = t;
                return 0;
            }
        }
        return INGEST_E_PARAM;
    }
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)buf[i]))
            return INGEST_E_PARAM;
    if (n > 19)
        return INGEST_E_PARAM;
    unsigned long long v = strtoull(buf, NULL, 10);
    if (n == 8) {
        unsigned y = (unsigned)(v / 10000), m = (unsigned)(v / 100 % 100), d = (unsigned)(v % 100);
        static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        if (y >= 1970 && y <= 2200 && m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1]) {
            *out_s = days_from_civil(y, m, d) * 86400;
            return 0;
        }
    }
    if (n >= 19)
        v /= 1000000000ull;
    else if (n >= 16)
        v /= 1000000ull;
    else if (n >= 13)
        v /= 1000ull;
    if (v > (unsigned long long)INT64_MAX / 2)
        return INGEST_E_PARAM;
    *out_s = (int64_t)v;
    return 0;
}

/* === gzip ===================================================================================== */

int ingest_gunzip(const unsigned char *in, size_t len, size_t max, unsigned char **out,
                  size_t *out_len)
{
    z_stream z;
    unsigned char *buf = NULL;
    size_t cap = len * 4 + 4096, n = 0;
    int r = 0;

    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 32) != Z_OK)
        return pp_err_origin(-ENOMEM);
    if (cap > max + 1)
        cap = max + 1;
    buf = malloc(cap);
    if (!buf) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                r = INGEST_E_TOO_LARGE;
                goto out;
            }
            size_t nc = cap * 2 > max + 1 ? max + 1 : cap * 2;
            unsigned char *p = realloc(buf, nc);
            if (!p) {
                r = pp_err_origin(-ENOMEM);
                goto out;
            }
            buf = p;
            cap = nc;
        }
        z.next_out = buf + n;
        z.avail_out = (uInt)(cap - n > UINT32_MAX ? UINT32_MAX : cap - n);
        size_t before = z.avail_out;
        int zr = inflate(&z, Z_NO_FLUSH);
        n += before - z.avail_out;
        if (zr == Z_STREAM_END) {
            /* Several members read as one stream; trailing zero padding is tolerated. */
            size_t left = z.avail_in;
            const unsigned char *rest = z.next_in;
            while (left && *rest == 0) {
                left--;
                rest++;
            }
            if (!left)
                break;
            if (inflateReset(&z) != Z_OK) {
                r = INGEST_E_BODY;
                goto out;
            }
            continue;
        }
        if (zr == Z_BUF_ERROR && z.avail_out == 0)
            continue;
        if (zr != Z_OK) {
            r = INGEST_E_BODY;
            goto out;
        }
        if (z.avail_in == 0 && z.avail_out != 0) {
            r = INGEST_E_BODY; /* truncated */
            goto out;
        }
    }
    if (n > max) {
        r = INGEST_E_TOO_LARGE;
        goto out;
    }
    *out = buf;
    *out_len = n;
    buf = NULL;
out:
    inflateEnd(&z);
    free(buf);
    return r;
}

/* === Minimal JSON (for speedscope) ============================================================ */

enum { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ };

struct jv {
    int type;
    double num;
    char *str;             /* JV_STR: decoded, NUL-terminated */
    struct jv *items;      /* JV_ARR / JV_OBJ values */
    char **keys;           /* JV_OBJ keys */
    size_t n;
};

struct jparse {
    const char *p, *end;
};

static void jv_free(struct jv *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        jv_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
}

static void jskip(struct jparse *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static void put_utf8(char *out, size_t *n, unsigned cp)
{
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xc0 | cp >> 6);
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xe0 | cp >> 12);
        out[(*n)++] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*n)++] = (char)(0xf0 | cp >> 18);
        out[(*n)++] = (char)(0x80 | (cp >> 12 & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* A string at j->p (the opening quote). 0, 1 (syntax) or -ENOMEM. */
static int jstring(struct jparse *j, char **out)
{
    const char *q = ++j->p;
    while (q < j->end && *q != '"') {
        if (*q == '\\')
            q++;
        q++;
    }
    if (q >= j->end)
        return 1;
    char *s = malloc((size_t)(q - j->p) + 1);
    size_t n = 0;
    if (!s)
        return pp_err_origin(-ENOMEM);
    while (j->p < q) {
        char c = *j->p++;
        if (c != '\\') {
            s[n++] = c;
            continue;
        }
        c = *j->p++;
        switch (c) {
        case 'n': s[n++] = '\n'; break;
        case 't': s[n++] = '\t'; break;
        case 'r': s[n++] = '\r'; break;
        case 'b': s[n++] = '\b'; break;
        case 'f': s[n++] = '\f'; break;
        case 'u': {
            unsigned cp, lo;
            if (q - j->p < 4 || hex4(j->p, &cp) < 0) {
                free(s);
                return 1;
            }
            j->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && q - j->p >= 6 && j->p[0] == '\\' &&
                j->p[1] == 'u' && hex4(j->p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                j->p += 6;
            } else if (cp >= 0xd800 && cp < 0xe000) {
                cp = 0xfffd;
            }
            put_utf8(s, &n, cp); /* never longer than the 6+ escape bytes it replaces */
            break;
        }
        default: s[n++] = c; break;
        }
    }
    s[n] = '\0';
    j->p = q + 1;
    *out = s;
    return 0;
}

static int jvalue(struct jparse *j, struct jv *v, int depth)
{
    int r;
    memset(v, 0, sizeof(*v));
    jskip(j);
    if (j->p >= j->end || depth > JSON_MAX_DEPTH)
        return 1;
    char c = *j->p;
    if (c == '"') {
        v->type = JV_STR;
        return jstring(j, &v->str);
    }
    if (c == '[' || c == '{') {
        bool obj = c == '{';
        size_t cap = 0;
        v->type = obj ? JV_OBJ : JV_ARR;
        j->p++;
        jskip(j);
        if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
            j->p++;
            return 0;
        }
        for (;;) {
            if (v->n == cap) {
                cap = cap ? cap * 2 : 4;
                struct jv *items = realloc(v->items, cap * sizeof(*items));
                if (!items)
                    return pp_err_origin(-ENOMEM);
                v->items = items;
                if (obj) {
                    char **keys = realloc(v->keys, cap * sizeof(*keys));
                    if (!keys)
                        return pp_err_origin(-ENOMEM);
                    v->keys = keys;
                }
            }
            if (obj) {
                jskip(j);
                if (j->p >= j->end || *j->p != '"')
                    return 1;
                v->keys[v->n] = NULL;
                memset(&v->items[v->n], 0, sizeof(v->items[v->n]));
                v->n++;
                r = jstring(j, &v->keys[v->n - 1]);
                if (r)
                    return r;
                jskip(j);
                if (j->p >= j->end || *j->p != ':')
                    return 1;
                j->p++;
                r = jvalue(j, &v->items[v->n - 1], depth + 1);
            } else {
                v->n++;
                r = jvalue(j, &v->items[v->n - 1], depth + 1);
            }
            if (r)
                return r;
            jskip(j);
            if (j->p >= j->end)
                return 1;
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            if (*j->p == (obj ? '}' : ']')) {
                j->p++;
                return 0;
            }
            return 1;
        }
    }
    if (c == 't' && j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0) {
        v->type = JV_BOOL;
        v->num = 1;
        j->p += 4;
        return 0;
    }
    if (c == 'f' && j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0) {
        v->type = JV_BOOL;
        j->p += 5;
        return 0;
    }
    if (c == 'n' && j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) {
        v->type = JV_NULL;
        j->p += 4;
        return 0;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char num[64];
        size_t n = 0;
        while (j->p < j->end && n + 1 < sizeof(num) &&
               (isdigit((unsigned char)*j->p) || strchr("+-.eE", *j->p)))
            num[n++] = *j->p++;
        num[n] = '\0';
        char *end;
        v->type = JV_NUM;
        v->num = strtod(num, &end);
        return *end ? 1 : 0;
    }
    return 1;
}

static const struct jv *jget(const struct jv *o, const char *key)
{
    if (!o || o->type != JV_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0)
            return &o->items[i];
    return NULL;
}

static const char *jstr(const struct jv *o, const char *key)
{
    const struct jv *v = jget(o, key);
    return v && v->type == JV_STR ? v->str : NULL;
}

/* === speedscope =============================================================================== */

#define SPEEDSCOPE_SCHEMA "https://www.speedscope.app/file-format-schema.json"

/* Seconds per unit, or 0 for a unit that counts things (none, bytes). */
static double unit_seconds(const char *u)
{
    if (!u)
        return 0;
    if (!strcmp(u, "seconds"))
        return 1;
    if (!strcmp(u, "milliseconds"))
        return 1e-3;
    if (!strcmp(u, "microseconds"))
        return 1e-6;
    if (!strcmp(u, "nanoseconds"))
        return 1e-9;
    return 0;
}

static int add_weighted(struct pp_agg *a, uint32_t th, const uint32_t *fids, uint32_t n,
                        double w, double unit_s, double rate)
{
    double c = unit_s > 0 ? w * unit_s * rate : w;
    if (!(c > 0))
        return 0;
    uint64_t count = (uint64_t)llround(c);
    if (!count)
        count = 1;
    return pp_agg_add(a, th, fids, n, count);
}

/*
 * Sampled profiles: each sample's weight becomes a count (weight in seconds * rate for time
 * units, the weight itself otherwise). Evented profiles: the time spent in each stack between
 * events becomes its weight. 0, INGEST_E_BODY or -errno.
 */
static int read_speedscope(struct pp_agg *a, const unsigned char *body, size_t len, double rate,
                           char *msg, size_t msglen)
{
    struct jparse j = {(const char *)body, (const char *)body + len};
    struct jv root;
    uint32_t *fmap = NULL, *stack = NULL;
    size_t n_frames = 0;
    uint32_t th;
    int r = jvalue(&j, &root, 0);
    if (r > 0) {
        r = fail(INGEST_E_BODY, msg, msglen, "speedscope: invalid JSON near byte %zu",
                 (size_t)(j.p - (const char *)body));
        goto out;
    }
    if (r < 0)
        goto out;
    const char *schema = jstr(&root, "$schema");
    if (!schema || strcmp(schema, SPEEDSCOPE_SCHEMA) != 0) {
        r = fail(INGEST_E_BODY, msg, msglen, "speedscope: $schema must be %s", SPEEDSCOPE_SCHEMA);
        goto out;
    }
    const struct jv *frames = jget(jget(&root, "shared"), "frames");
    const struct jv *profiles = jget(&root, "profiles");
    if (!frames || frames->type != JV_ARR || !profiles || profiles->type != JV_ARR) {
        r = fail(INGEST_E_BODY, msg, msglen, "speedscope: shared.frames or profiles missing");
        goto out;
    }
    n_frames = frames->n;
    fmap = malloc((n_frames + 1) * sizeof(*fmap));
    if (!fmap) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    struct pp_strtab *st = pp_agg_strtab(a);
    for (size_t i = 0; i < n_frames; i++) {
        const struct jv *f = &frames->items[i];
        const char *name = jstr(f, "name"), *file = jstr(f, "file");
        const struct jv *line = jget(f, "line");
        struct pp_frame fr = {0};
        if (!name) {
            r = fail(INGEST_E_BODY, msg, msglen, "speedscope: frame %zu has no name", i);
            goto out;
        }
        r = pp_strtab_intern(st, name, strlen(name), &fr.name);
        if (r < 0)
            goto out;
        if (file) {
            r = pp_strtab_intern(st, file, strlen(file), &fr.file);
            if (r < 0)
                goto out;
        }
        if (line && line->type == JV_NUM && line->num >= 1 && line->num <= UINT32_MAX)
            fr.line = (uint32_t)line->num;
        fr.origin = pp_origin_of_path(file ? file : "");
        r = pp_agg_intern_frame(a, &fr, &fmap[i]);
        if (r < 0)
            goto out;
    }
    r = pp_agg_intern_thread(a, 0, 0, &th);
    if (r < 0)
        goto out;
    stack = malloc((n_frames + 1) * sizeof(*stack));
    if (!stack) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    for (size_t p = 0; p < profiles->n; p++) {
        const struct jv *pr = &profiles->items[p];
        const char *type = jstr(pr, "type");
        double us = unit_seconds(jstr(pr, "unit"));
        if (type && !strcmp(type, "sampled")) {
            const struct jv *samples = jget(pr, "samples"), *weights = jget(pr, "weights");
            if (!samples || samples->type != JV_ARR || !weights || weights->type != JV_ARR ||
                weights->n != samples->n) {
                r = fail(INGEST_E_BODY, msg, msglen,
                         "speedscope: profile %zu: samples and weights differ", p);
                goto out;
            }
            for (size_t i = 0; i < samples->n; i++) {
                const struct jv *s = &samples->items[i];
                if (s->type != JV_ARR || s->n > n_frames || weights->items[i].type != JV_NUM) {
                    r = fail(INGEST_E_BODY, msg, msglen, "speedscope: bad sample %zu", i);
                    goto out;
                }
                for (size_t k = 0; k < s->n; k++) {
                    double fi = s->items[k].num;
                    if (s->items[k].type != JV_NUM || fi < 0 || fi >= (double)n_frames) {
                        r = fail(INGEST_E_BODY, msg, msglen, "speedscope: bad frame index");
                        goto out;
                    }
                    stack[k] = fmap[(size_t)fi];
                }
                r = add_weighted(a, th, stack, (uint32_t)s->n, weights->items[i].num, us, rate);
                if (r < 0)
                    goto out;
            }
        } else if (type && !strcmp(type, "evented")) {
            const struct jv *ev = jget(pr, "events");
            size_t depth = 0;
            double last = 0;
            if (!ev || ev->type != JV_ARR) {
                r = fail(INGEST_E_BODY, msg, msglen, "speedscope: profile %zu: no events", p);
                goto out;
            }
            for (size_t i = 0; i < ev->n; i++) {
                const char *et = jstr(&ev->items[i], "type");
                const struct jv *at = jget(&ev->items[i], "at"), *fr = jget(&ev->items[i], "frame");
                if (!et || !at || at->type != JV_NUM || !fr || fr->type != JV_NUM || fr->num < 0 ||
                    fr->num >= (double)n_frames || (i && at->num < last)) {
                    r = fail(INGEST_E_BODY, msg, msglen, "speedscope: bad or unordered event %zu",
                             i);
                    goto out;
                }
                if (depth) {
                    r = add_weighted(a, th, stack, (uint32_t)depth, at->num - last, us, rate);
                    if (r < 0)
                        goto out;
                }
                last = at->num;
                if (!strcmp(et, "O")) {
                    if (depth >= n_frames) {
                        r = fail(INGEST_E_BODY, msg, msglen, "speedscope: events too deep");
                        goto out;
                    }
                    stack[depth++] = fmap[(size_t)fr->num];
                } else if (!strcmp(et, "C")) {
                    if (!depth || stack[depth - 1] != fmap[(size_t)fr->num]) {
                        r = fail(INGEST_E_BODY, msg, msglen, "speedscope: unbalanced event %zu",
                                 i);
                        goto out;
                    }
                    depth--;
                } else {
                    r = fail(INGEST_E_BODY, msg, msglen, "speedscope: bad event type");
                    goto out;
                }
            }
        } else {
            r = fail(INGEST_E_BODY, msg, msglen, "speedscope: profile %zu: unknown type", p);
            goto out;
        }
    }
    r = 0;
out:
    jv_free(&root);
    free(fmap);
    free(stack);
    return r;
}

/* === Multipart form =========================================================================== */

/*
 * The content of form part @want in @body (Content-Type @ctype's boundary). 0 with *out and *out_len,
 * or INGEST_E_BODY.
 */
static int multipart_part(const char *ctype, const unsigned char *body, size_t len,
                          const char *want, const unsigned char **out, size_t *out_len)
{
    char delim[256];
    const char *b = strcasestr(ctype, "boundary=");
    if (!b)
        return INGEST_E_BODY;
    b += 9;
    size_t bl;
    if (*b == '"') {
        b++;
        bl = strcspn(b, "\"");
    } else {
        bl = strcspn(b, "; \t");
    }
    if (bl == 0 || bl > 200)
        return INGEST_E_BODY;
    int dl = snprintf(delim, sizeof(delim), "--%.*s", (int)bl, b);
    const unsigned char *end = body + len;
    const unsigned char *p = memmem(body, len, delim, (size_t)dl);
    while (p) {
        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            break; /* closing delimiter */
        const unsigned char *hdr_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hdr_end)
            break;
        const unsigned char *data = hdr_end + 4;
        char nd[300];
        int nl = snprintf(nd, sizeof(nd), "\r\n%s", delim);
        const unsigned char *next = memmem(data, (size_t)(end - data), nd, (size_t)nl);
        if (!next)
            break;
        /* Find name="..." in this part's headers. */
        size_t hl = (size_t)(hdr_end - p);
        char *hdr = strndup((const char *)p, hl);
        if (!hdr)
            return INGEST_E_BODY;
        const char *nm = strcasestr(hdr, "name=\"");
        bool match = false;
        while (nm) {
            if (nm == hdr || nm[-1] == ' ' || nm[-1] == ';') {
                nm += 6;
                size_t wl = strlen(want);
                match = strncmp(nm, want, wl) == 0 && nm[wl] == '"';
                break;
            }
            nm = strcasestr(nm + 1, "name=\"");
        }
        free(hdr);
        if (match) {
            *out = data;
            *out_len = (size_t)(next - data);
            return 0;
        }
        p = next + 2;
    }
    return INGEST_E_BODY;
}

/* === pprof sample types ======================================================================= */

static bool varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        unsigned char c = *(*p)++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Skip a field of wire type @wt. */
static bool skip_field(const unsigned char **p, const unsigned char *end, unsigned wt)
{
    uint64_t v;
    switch (wt) {
    case 0: return varint(p, end, &v);
    case 1: if (end - *p < 8) return false; *p += 8; return true;
    case 2:
        if (!varint(p, end, &v) || v > (uint64_t)(end - *p))
            return false;
        *p += v;
        return true;
    case 5: if (end - *p < 4) return false; *p += 4; return true;
    default: return false;
    }
}

/* The string-table index of ValueType.type in the message [p, end). */
static uint64_t value_type(const unsigned char *p, const unsigned char *end)
{
    uint64_t key, v, type = 0;
    while (p < end && varint(&p, end, &key)) {
        if (key == (1 << 3 | 0)) {
            if (!varint(&p, end, &v))
                break;
            type = v;
        } else if (!skip_field(&p, end, key & 7)) {
            break;
        }
    }
    return type;
}

/*
 * The profile type of a pprof (uncompressed @buf): from its first sample type and period type,
 * into @out ("cpu", "wall", "inuse_objects", ...), with the natural units into @units.
 */
static void pprof_kind(const unsigned char *buf, size_t len, char *out, size_t outlen,
                       const char **units)
{
    const unsigned char *p = buf, *end = buf + len;
    uint64_t key, v, idx[8] = {0}, period = 0, strno = 0;
    size_t n_types = 0;
    char first[64] = "", per[64] = "";
    bool any_wall = false;
    while (p < end && varint(&p, end, &key)) {
        unsigned f = (unsigned)(key >> 3), wt = key & 7;
        if (wt == 2 && (f == 1 || f == 11)) {
            if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
                break;
            uint64_t t = value_type(p, p + v);
            if (f == 11)
                period = t;
            else if (n_types < 8)
                idx[n_types++] = t;
            p += v;
        } else if (!skip_field(&p, end, wt)) {
            break;
        }
    }
    /* Second pass: the strings. */
    p = buf;
    while (p < end && varint(&p, end, &key)) {
        unsigned f = (unsigned)(key >> 3), wt = key & 7;
        if (f == 6 && wt == 2) {
            if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
                break;
            int sl = v > 63 ? 63 : (int)v;
            if (n_types && strno == idx[0])
                snprintf(first, sizeof(first), "%.*s", sl, (const char *)p);
            if (period && strno == period)
                snprintf(per, sizeof(per), "%.*s", sl, (const char *)p);
            for (size_t i = 0; i < n_types; i++)
                if (idx[i] && strno == idx[i] && v == 4 && !memcmp(p, "wall", 4))
                    any_wall = true;
            strno++;
            p += v;
        } else if (!skip_field(&p, end, wt)) {
            break;
        }
    }
    static const char *const keep[] = {"cpu", "wall", "inuse_objects", "inuse_space",
                                       "alloc_objects", "alloc_space", "goroutines",
                                       "mutex_count", "mutex_duration", "block_count",
                                       "block_duration", "exceptions"};
    const char *kind = "cpu";
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        if (!strcmp(first, keep[i]))
            kind = keep[i];
    if (!strcmp(first, "samples"))
        kind = !strcmp(per, "wall") || any_wall ? "wall" : "cpu";
    else if (!strcmp(first, "goroutine"))
        kind = "goroutines";
    else if (!strcmp(first, "contentions"))
        kind = "mutex_count";
    else if (!strcmp(first, "delay"))
        kind = "mutex_duration";
    else if (!strcmp(first, "space"))
        kind = "inuse_space";
    else if (!strcmp(first, "objects"))
        kind = "inuse_objects";
    snprintf(out, outlen, "%s", kind);
    *units = strstr(kind, "objects") ? "objects" : strstr(kind, "space") ? "bytes" : "samples";
}

static bool known_type(const char *app)
{
    static const char *const types[] = {
        "cpu", "itimer", "wall", "seconds", "nanoseconds", "microseconds", "milliseconds",
        "inuse_objects", "inuse_space", "alloc_objects", "alloc_space", "bytes", "live",
        "goroutines", "goroutine", "mutex_count", "mutex_duration", "block_count",
        "block_duration", "lock_count", "lock_duration", "exceptions", "objects", "space"};
    const char *dot = strrchr(app, '.');
    if (!dot)
        return false;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(dot + 1, types[i]))
            return true;
    return false;
}

/* === Folded and lines ========================================================================= */

static int read_folded(struct pp_agg *a, const unsigned char *body, size_t len, char *msg,
                       size_t msglen)
{
    if (!len)
        return 0;
    FILE *f = fmemopen((void *)body, len, "r");
    size_t line = 0;
    if (!f)
        return pp_err_origin(-errno);
    int r = pp_folded_read(a, f, &line);
    fclose(f);
    if (r == PP_FOLDED_E_FORMAT)
        return fail(INGEST_E_BODY, msg, msglen, "line %zu is not \"stack count\"", line);
    if (r == -EIO)
        return fail(INGEST_E_BODY, msg, msglen, "unreadable body");
    return r;
}

/* format=lines: each line one sample; identical lines are counted. */
static int read_lines(struct pp_agg *a, const unsigned char *body, size_t len, char *msg,
                      size_t msglen)
{
    char *buf = NULL;
    size_t blen = 0;
    FILE *m = open_memstream(&buf, &blen);
    if (!m)
        return pp_err_origin(-ENOMEM);
    const unsigned char *p = body, *end = body + len;
    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *e = nl ? nl : end;
        size_t l = (size_t)(e - p);
        if (l && p[l - 1] == '\r')
            l--;
        if (l) {
            fwrite(p, 1, l, m);
            fputs(" 1\n", m);
        }
        p = nl ? nl + 1 : end;
    }
    if (fclose(m) != 0) {
        free(buf);
        return pp_err_origin(-ENOMEM);
    }
    int r = read_folded(a, (const unsigned char *)buf, blen, msg, msglen);
    free(buf);
    return r;
}

/* === The upload =============================================================================== */

int ingest_run(struct store *st, const struct ingest_req *r, struct ingest_result *res,
               char *msg, size_t msglen)
{
    struct series_key *key = NULL;
    struct pp_agg *agg = NULL;
    unsigned char *inflated = NULL, *raw_pprof = NULL;
    const unsigned char *body = r->body;
    size_t len = r->len, max = r->max_inflated ? r->max_inflated : DEFAULT_MAX_INFLATED;
    char err[256];
    const char *fmt = r->format ? r->format : "";
    const char *units = r->units && *r->units ? r->units : NULL;
    struct pp_meta pm = {0};
    int64_t from_s = 0, until_s = 0;
    bool have_from = r->from && *r->from, have_until = r->until && *r->until;
    double rate = 100;
    int rc;

    if (msg && msglen)
        msg[0] = '\0';
    if (!r->name || !*r->name) {
        rc = fail(INGEST_E_PARAM, msg, msglen, "invalid parameter: \"name: missing\"");
        goto out;
    }
    key = malloc(sizeof(*key));
    if (!key) {
        rc = pp_err_origin(-ENOMEM);
        goto out;
    }
    rc = labels_parse_name(r->name, key, err, sizeof(err));
    if (rc < 0)
        goto out;
    if (rc) {
        rc = fail(INGEST_E_PARAM, msg, msglen, "invalid parameter: \"name: %s\"", err);
        goto out;
    }
    if (have_from && ingest_parse_time(r->from, r->now_s, &from_s)) {
        rc = fail(INGEST_E_PARAM, msg, msglen, "invalid parameter: \"from\"");
        goto out;
    }
    if (have_until && ingest_parse_time(r->until, r->now_s, &until_s)) {
        rc = fail(INGEST_E_PARAM, msg, msglen, "invalid parameter: \"until\"");
        goto out;
    }
    if (r->sample_rate && *r->sample_rate) {
        char *end;
        double v = strtod(r->sample_rate, &end);
        if (!*end && v > 0 && v <= 1e9)
            rate = v; /* a bad value means 100, as in Pyroscope */
    }
    if (!strcmp(fmt, "trie") || !strcmp(fmt, "tree") || !strcmp(fmt, "jfr") ||
        (r->content_type && (strstr(r->content_type, "octet-stream+trie") ||
                             strstr(r->content_type, "octet-stream+tree")))) {
        rc = fail(INGEST_E_PARAM, msg, msglen, "invalid parameter: \"format: %s not supported\"",
                  *fmt ? fmt : "trie/tree");
        goto out;
    }

    /* Content-Encoding: gzip. */
    if (r->content_encoding && strcasestr(r->content_encoding, "gzip")) {
        size_t n;
        rc = ingest_gunzip(body, len, max, &inflated, &n);
        if (rc == INGEST_E_BODY)
            rc = fail(rc, msg, msglen, "Content-Encoding: gzip, but the body is not gzip");
        if (rc)
            goto out;
        body = inflated;
        len = n;
    }

    rc = pp_agg_new(&agg);
    if (rc < 0)
        goto out;

    bool multipart = r->content_type && strcasestr(r->content_type, "multipart/form-data");
    bool is_pprof = false;
    if (!strcmp(fmt, "lines")) {
        rc = read_lines(agg, body, len, msg, msglen);
    } else if (!strcmp(fmt, "pprof") || (multipart && strcmp(fmt, "speedscope") != 0)) {
        const unsigned char *pb = body;
        size_t pl = len;
        if (strcmp(fmt, "pprof") != 0 &&
            multipart_part(r->content_type, body, len, "profile", &pb, &pl)) {
            rc = fail(INGEST_E_BODY, msg, msglen, "multipart form without a \"profile\" part");
            goto out;
        }
        is_pprof = true;
        /* Inflate once here, for both the reader and the sample-type sniffing below. */
        if (pl >= 2 && pb[0] == 0x1f && pb[1] == 0x8b) {
            size_t ul;
            rc = ingest_gunzip(pb, pl, max, &raw_pprof, &ul);
            if (rc < 0 || rc == INGEST_E_TOO_LARGE)
                goto out;
            if (rc) {
                rc = fail(INGEST_E_BODY, msg, msglen, "not a valid pprof profile (bad gzip)");
                goto out;
            }
            pb = raw_pprof;
            pl = ul;
        }
        rc = pp_pprof_read(agg, pb, pl, &pm);
        if (rc == PP_PPROF_E_FORMAT) {
            rc = fail(INGEST_E_BODY, msg, msglen, "not a valid pprof profile");
            goto out;
        }
        if (rc == 0) {
            /* Name the series by the profile's type unless the name already does. */
            char kind[64];
            const char *kunits;
            pprof_kind(pb, pl, kind, sizeof(kind), &kunits);
            if (!units)
                units = kunits;
            if (!known_type(key->app)) {
                size_t al = strlen(key->app);
                if (al + 1 + strlen(kind) > LABELS_NAME_MAX) {
                    rc = fail(INGEST_E_PARAM, msg, msglen, "invalid parameter: \"name: too long\"");
                    goto out;
                }
                snprintf(key->app + al, sizeof(key->app) - al, ".%s", kind);
            }
            if (!(r->sample_rate && *r->sample_rate) && pm.rate_hz > 0)
                rate = pm.rate_hz;
        }
    } else if (!strcmp(fmt, "speedscope")) {
        rc = read_speedscope(agg, body, len, rate, msg, msglen);
    } else {
        rc = read_folded(agg, body, len, msg, msglen);
    }
    if (rc)
        goto out;

    /* The window. */
    if (!have_until)
        until_s = have_from && from_s > r->now_s ? from_s + 10 : r->now_s;
    if (!have_from) {
        int64_t d = is_pprof && pm.duration_ns >= 1000000000ull
                        ? (int64_t)(pm.duration_ns / 1000000000ull)
                        : 10;
        from_s = until_s - d;
    }
    if (until_s <= from_s)
        until_s = from_s + 1;

    struct store_meta meta = {
        .sample_rate = (uint32_t)(rate + 0.5),
        .spy_name = r->spy_name && *r->spy_name ? r->spy_name : "unknown",
        .units = units ? units : "samples",
        .aggregation = r->aggregation && *r->aggregation ? r->aggregation : "sum",
    };
    uint64_t total = pp_agg_total(agg);
    if (pp_agg_n_stacks(agg) > 0) {
        rc = store_put(st, key, from_s, until_s, agg, &meta);
        if (rc == -ENOSPC) {
            rc = fail(INGEST_E_FULL, msg, msglen, "the store is full (--max-disk)");
            goto out;
        }
        if (rc == STORE_E_DISK_FULL) {
            rc = fail(INGEST_E_DISK_FULL, msg, msglen,
                      "disk full: no space left for the data directory; retry later");
            goto out;
        }
        if (rc < 0)
            goto out;
    }
    if (res) {
        snprintf(res->app, sizeof(res->app), "%s", key->app);
        res->from_s = from_s;
        res->until_s = until_s;
        res->samples = total;
    }
    rc = 0;
out:
    pp_agg_free(agg);
    free(key);
    free(inflated);
    free(raw_pprof);
    return rc;
}
