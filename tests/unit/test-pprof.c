/* SPDX-License-Identifier: MIT */
/* test-pprof: the decoded Profile exactly, round trips, goldens, a Go-written profile, bad input. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <zlib.h>

#include "pyprof/folded.h"
#include "pyprof/pprof.h"
#include "src/proto/profile.pb-c.h"
#include "tests/t.h"

typedef Perftools__Profiles__Profile PbProfile;

/* === Helpers ============================================================= */

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

static uint32_t thread(struct pp_agg *a, uint64_t tid, const char *name)
{
    uint32_t t = UINT32_MAX;

    T_EQ_INT(pp_agg_intern_thread(a, tid, str(a, name), &t), 0);
    return t;
}

struct bytes {
    uint8_t *p;
    size_t len;
};

/* pp_pprof_write() into memory; *ret gets its result. */
static struct bytes write_pprof(const struct pp_agg *a, const struct pp_meta *m, int *ret)
{
    struct bytes b = {NULL, 0};
    char *p = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&p, &len);

    T_ASSERT(f != NULL);
    if (!f)
        return b;
    *ret = pp_pprof_write(a, m, f);
    fclose(f);
    b.p = (uint8_t *)p;
    b.len = len;
    return b;
}

/* An independent gunzip (one member, no bound) for checking the writer. */
static struct bytes gunzip(struct bytes in)
{
    struct bytes out = {NULL, 0};
    size_t cap = 0;
    z_stream zs;
    int zr;

    memset(&zs, 0, sizeof(zs));
    T_EQ_INT(inflateInit2(&zs, 16 + 15), Z_OK);
    zs.next_in = in.p;
    zs.avail_in = (uInt)in.len;
    do {
        if (out.len == cap) {
            cap = cap ? cap * 2 : 4096;
            out.p = realloc(out.p, cap);
            T_ASSERT(out.p != NULL);
            if (!out.p)
                break;
        }
        zs.next_out = out.p + out.len;
        zs.avail_out = (uInt)(cap - out.len);
        zr = inflate(&zs, Z_NO_FLUSH);
        out.len = cap - zs.avail_out;
    } while (zr == Z_OK);
    T_EQ_INT(zr, Z_STREAM_END);
    T_EQ_INT(zs.avail_in, 0);
    inflateEnd(&zs);
    return out;
}

/* One gzip member holding @len bytes at @p. */
static struct bytes gzip_bytes(const uint8_t *p, size_t len)
{
    struct bytes out;
    z_stream zs;

    memset(&zs, 0, sizeof(zs));
    T_EQ_INT(deflateInit2(&zs, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    out.len = deflateBound(&zs, (uLong)len);
    out.p = malloc(out.len);
    zs.next_in = (Bytef *)(uintptr_t)p;
    zs.avail_in = (uInt)len;
    zs.next_out = out.p;
    zs.avail_out = (uInt)out.len;
    T_EQ_INT(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static PbProfile *decode(struct bytes gz)
{
    struct bytes raw;
    PbProfile *p;

    T_ASSERT(gz.len >= 10 && gz.p[0] == 0x1f && gz.p[1] == 0x8b && gz.p[2] == 8);
    raw = gunzip(gz);
    p = perftools__profiles__profile__unpack(NULL, raw.len, raw.p);
    T_ASSERT(p != NULL);
    free(raw.p);
    return p;
}

static const char *s_of(const PbProfile *p, int64_t i)
{
    T_ASSERT(i >= 0 && (size_t)i < p->n_string_table);
    return i >= 0 && (size_t)i < p->n_string_table ? p->string_table[i] : "(bad index)";
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/*
 * Every stack of @a as one line `TID "NAME": name@file:line;... COUNT`, root first, lines sorted
 * and joined: the exact content of an aggregate, independent of any writer.
 */
static char *canon(const struct pp_agg *a)
{
    const struct pp_strtab *st = pp_agg_strtab_const(a);
    size_t n = pp_agg_n_stacks(a), i, j, total = 1;
    char **lines = calloc(n + 1, sizeof(*lines));
    char *out;

    for (i = 0; i < n; i++) {
        struct pp_stack_view v;
        const struct pp_thread *t;
        char *p = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&p, &len);

        pp_agg_stack(a, i, &v);
        t = pp_agg_thread_get(a, v.thread);
        fprintf(f, "%" PRIu64 " \"%s\":", t->tid, pp_strtab_str(st, t->name, NULL));
        for (j = 0; j < v.n_fids; j++) {
            const struct pp_frame *fr = pp_agg_frame_get(a, v.fids[j]);

            fprintf(f, "%s%s@%s:%u", j ? ";" : " ", pp_strtab_str(st, fr->name, NULL),
                    pp_strtab_str(st, fr->file, NULL), fr->line);
        }
        fprintf(f, " %" PRIu64 "\n", v.count);
        fclose(f);
        lines[i] = p;
        total += len;
    }
    qsort(lines, n, sizeof(*lines), cmp_str);
    out = calloc(1, total);
    for (i = 0; i < n; i++) {
        strcat(out, lines[i]);
        free(lines[i]);
    }
    free(lines);
    return out;
}

/* A two-thread aggregate with repeated functions, shared frames and an empty stack. */
static struct pp_agg *sample_agg(void)
{
    struct pp_agg *a = NULL;
    uint32_t m, w15, w16, w0, lib, ext, t0, t1, t2;

    T_EQ_INT(pp_agg_new(&a), 0);
    m = frame(a, "<module>", "app.py", 48);
    w16 = frame(a, "work", "app.py", 16);
    w15 = frame(a, "work", "app.py", 15);
    w0 = frame(a, "work", "app.py", 0);
    lib = frame(a, "dumps", "/usr/lib/python3.11/json/__init__.py", 231);
    ext = frame(a, "count", "", 0); /* a name equal to a literal of the string table */
    t0 = thread(a, 0, "");
    t1 = thread(a, 4242, "MainThread");
    t2 = thread(a, 4243, "");
    {
        uint32_t s1[] = {m, w16, w15};
        uint32_t s2[] = {m, w16, w16, lib};
        uint32_t s3[] = {m, w0, ext};

        T_EQ_INT(pp_agg_add(a, t1, s1, 3, 7), 0);
        T_EQ_INT(pp_agg_add(a, t1, s2, 4, 2), 0);
        T_EQ_INT(pp_agg_add(a, t2, s1, 3, 1), 0);
        T_EQ_INT(pp_agg_add(a, t0, s3, 3, 5), 0);
        T_EQ_INT(pp_agg_add(a, t0, NULL, 0, 3), 0);
        T_EQ_INT(pp_agg_add(a, t1, s1, 3, 1), 0); /* merged: 8 */
    }
    return a;
}

/* === The decoded Profile, exactly ======================================== */

static void test_profile_exact(void)
{
    struct pp_agg *a = sample_agg();
    struct pp_meta m = {.rate_hz = 250, .start_unix_ns = 1700000000000000000ull,
                        .duration_ns = 3000000000ull};
    const int64_t period = 4000000;
    PbProfile *p;
    struct bytes gz;
    size_t i, j;
    int r = -1;

    gz = write_pprof(a, &m, &r);
    T_EQ_INT(r, 0);
    p = decode(gz);
    if (!p)
        return;

    /* String table: the literals, then first use; no duplicates. */
    {
        const char *want[] = {"", "samples", "count", "cpu", "nanoseconds", "thread_id",
                              "thread_name", "<module>", "app.py", "work", "dumps",
                              "/usr/lib/python3.11/json/__init__.py", "MainThread"};

        T_EQ_INT(p->n_string_table, sizeof(want) / sizeof(want[0]));
        for (i = 0; i < p->n_string_table && i < sizeof(want) / sizeof(want[0]); i++)
            T_EQ_STR(p->string_table[i], want[i]);
        for (i = 0; i < p->n_string_table; i++) {
            for (j = i + 1; j < p->n_string_table; j++)
                T_ASSERT(strcmp(p->string_table[i], p->string_table[j]) != 0);
        }
    }
    T_EQ_INT(p->n_sample_type, 2);
    T_EQ_STR(s_of(p, p->sample_type[0]->type), "samples");
    T_EQ_STR(s_of(p, p->sample_type[0]->unit), "count");
    T_EQ_STR(s_of(p, p->sample_type[1]->type), "cpu");
    T_EQ_STR(s_of(p, p->sample_type[1]->unit), "nanoseconds");
    T_ASSERT(p->period_type != NULL);
    T_EQ_STR(s_of(p, p->period_type->type), "cpu");
    T_EQ_STR(s_of(p, p->period_type->unit), "nanoseconds");
    T_EQ_INT(p->period, period);
    T_EQ_INT(p->time_nanos, 1700000000000000000ll);
    T_EQ_INT(p->duration_nanos, 3000000000ll);
    T_EQ_INT(p->n_mapping, 0);
    T_EQ_INT(p->n_comment, 0);
    T_EQ_INT(p->drop_frames, 0);
    T_EQ_INT(p->default_sample_type, 0);

    /* Functions: one per (name, file), dense ids, start_line = smallest nonzero line. */
    T_EQ_INT(p->n_function, 4);
    {
        const char *names[] = {"<module>", "work", "dumps", "count"};
        const char *files[] = {"app.py", "app.py", "/usr/lib/python3.11/json/__init__.py", ""};
        const int64_t start[] = {48, 15, 231, 0};

        for (i = 0; i < p->n_function && i < 4; i++) {
            T_EQ_INT(p->function[i]->id, i + 1);
            T_EQ_STR(s_of(p, p->function[i]->name), names[i]);
            T_EQ_STR(s_of(p, p->function[i]->filename), files[i]);
            T_EQ_INT(p->function[i]->system_name, 0);
            T_EQ_INT(p->function[i]->start_line, start[i]);
        }
        T_EQ_INT(p->function[3]->name, 2); /* "count" shares the literal's index */
    }

    /* Locations: one per (function, line), in order of first use, one Line each. */
    {
        const uint64_t fn[] = {1, 2, 2, 3, 2, 4};
        const int64_t line[] = {48, 16, 15, 231, 0, 0};

        T_EQ_INT(p->n_location, 6);
        for (i = 0; i < p->n_location && i < 6; i++) {
            const Perftools__Profiles__Location *l = p->location[i];

            T_EQ_INT(l->id, i + 1);
            T_EQ_INT(l->mapping_id, 0);
            T_EQ_INT(l->address, 0);
            T_EQ_INT(l->n_line, 1);
            if (l->n_line == 1) {
                T_EQ_INT(l->line[0]->function_id, fn[i]);
                T_EQ_INT(l->line[0]->line, line[i]);
            }
        }
    }

    /* Samples: pp_agg_stack() order, leaf first, values [n, n * period], thread labels. */
    {
        struct {
            size_t n;
            uint64_t loc[4];
            int64_t count;
            int64_t tid;       /* -1: no labels */
            const char *name;  /* NULL: no thread_name */
        } want[] = {
            {3, {3, 2, 1}, 8, 4242, "MainThread"},
            {4, {4, 2, 2, 1}, 2, 4242, "MainThread"},
            {3, {3, 2, 1}, 1, 4243, NULL},
            {3, {6, 5, 1}, 5, -1, NULL},
            {0, {0}, 3, -1, NULL},
        };

        T_EQ_INT(p->n_sample, 5);
        for (i = 0; i < p->n_sample && i < 5; i++) {
            const Perftools__Profiles__Sample *s = p->sample[i];
            size_t n_labels = want[i].tid < 0 ? 0 : want[i].name ? 2 : 1;

            T_EQ_INT(s->n_location_id, want[i].n);
            for (j = 0; j < s->n_location_id && j < want[i].n; j++)
                T_EQ_INT(s->location_id[j], want[i].loc[j]);
            T_EQ_INT(s->n_value, 2);
            if (s->n_value == 2) {
                T_EQ_INT(s->value[0], want[i].count);
                T_EQ_INT(s->value[1], want[i].count * period);
            }
            T_EQ_INT(s->n_label, n_labels);
            if (s->n_label >= 1 && n_labels >= 1) {
                T_EQ_STR(s_of(p, s->label[0]->key), "thread_id");
                T_EQ_INT(s->label[0]->num, want[i].tid);
                T_EQ_INT(s->label[0]->str, 0);
            }
            if (s->n_label == 2 && n_labels == 2) {
                T_EQ_STR(s_of(p, s->label[1]->key), "thread_name");
                T_EQ_STR(s_of(p, s->label[1]->str), want[i].name);
                T_EQ_INT(s->label[1]->num, 0);
            }
        }
    }
    perftools__profiles__profile__free_unpacked(p, NULL);
    free(gz.p);
    pp_agg_free(a);
}

/* Defaults (no meta), wall time, no thread literals when no thread is labelled. */
static void test_profile_defaults(void)
{
    struct pp_agg *a = NULL;
    struct pp_meta wall = {.wall = true, .rate_hz = 1000};
    PbProfile *p;
    struct bytes gz;
    uint32_t f;
    int r = -1;

    T_EQ_INT(pp_agg_new(&a), 0);
    f = frame(a, "f", "f.py", 1);
    T_EQ_INT(pp_agg_add(a, thread(a, 0, ""), &f, 1, UINT64_MAX), 0);

    gz = write_pprof(a, NULL, &r);
    T_EQ_INT(r, 0);
    p = decode(gz);
    if (p) {
        T_EQ_INT(p->period, 10000000);
        T_EQ_INT(p->time_nanos, 0);
        T_EQ_INT(p->duration_nanos, 0);
        T_EQ_INT(p->n_string_table, 7); /* 5 literals, "f", "f.py" */
        T_EQ_INT(p->sample[0]->n_label, 0);
        T_EQ_INT(p->sample[0]->value[0], INT64_MAX); /* saturated */
        T_EQ_INT(p->sample[0]->value[1], INT64_MAX);
        perftools__profiles__profile__free_unpacked(p, NULL);
    }
    free(gz.p);

    gz = write_pprof(a, &wall, &r);
    T_EQ_INT(r, 0);
    p = decode(gz);
    if (p) {
        T_EQ_STR(s_of(p, p->sample_type[1]->type), "wall");
        T_EQ_STR(s_of(p, p->period_type->type), "wall");
        T_EQ_INT(p->period, 1000000);
        perftools__profiles__profile__free_unpacked(p, NULL);
    }
    {
        struct pp_agg *b = NULL;
        struct pp_meta got = {.rate_hz = 1, .duration_ns = 9, .start_unix_ns = 8};

        T_EQ_INT(pp_agg_new(&b), 0);
        T_EQ_INT(pp_pprof_read(b, gz.p, gz.len, &got), 0);
        T_ASSERT(got.wall && got.rate_hz == 1000);
        T_EQ_INT(got.duration_ns, 9); /* 0 in the profile: left alone */
        T_EQ_INT(got.start_unix_ns, 8);
        pp_agg_free(b);
    }
    free(gz.p);

    /* An empty aggregate is a valid, empty profile. */
    {
        struct pp_agg *e = NULL, *b = NULL;

        T_EQ_INT(pp_agg_new(&e), 0);
        T_EQ_INT(pp_agg_new(&b), 0);
        gz = write_pprof(e, NULL, &r);
        T_EQ_INT(r, 0);
        T_EQ_INT(pp_pprof_read(b, gz.p, gz.len, NULL), 0);
        T_EQ_INT(pp_agg_n_stacks(b), 0);
        free(gz.p);
        pp_agg_free(b);
        pp_agg_free(e);
    }
    /* The output is deterministic. */
    {
        struct bytes g1 = write_pprof(a, &wall, &r), g2 = write_pprof(a, &wall, &r);

        T_EQ_INT(g1.len, g2.len);
        T_ASSERT(g1.len == g2.len && memcmp(g1.p, g2.p, g1.len) == 0);
        free(g1.p);
        free(g2.p);
    }
    /* A write error is -EIO. */
    {
        FILE *full = fopen("/dev/full", "w");

        if (full) {
            T_EQ_INT(pp_pprof_write(a, NULL, full), -EIO);
            fclose(full);
        }
    }
    pp_agg_free(a);
}

/* === Round trips ========================================================= */

static void test_round_trip(void)
{
    struct pp_agg *a = sample_agg(), *b = NULL;
    struct pp_meta m = {.rate_hz = 97, .start_unix_ns = 1234567890123456789ull,
                        .duration_ns = 42}, got = {.title = "kept"};
    struct bytes gz;
    char *ca, *cb;
    int r = -1;

    gz = write_pprof(a, &m, &r);
    T_EQ_INT(r, 0);
    T_EQ_INT(pp_agg_new(&b), 0);
    T_EQ_INT(pp_pprof_read(b, gz.p, gz.len, &got), 0);
    ca = canon(a);
    cb = canon(b);
    T_EQ_STR(cb, ca);
    T_EQ_INT(pp_agg_n_stacks(b), pp_agg_n_stacks(a));
    T_EQ_INT(pp_agg_total(b), pp_agg_total(a));
    T_EQ_INT(pp_agg_total(b), 19);
    T_EQ_INT(got.start_unix_ns, m.start_unix_ns);
    T_EQ_INT(got.duration_ns, 42);
    T_ASSERT(got.rate_hz > 96.999 && got.rate_hz < 97.001); /* period 10309278 ns */
    T_ASSERT(!got.wall);
    T_EQ_STR(got.title, "kept");
    /* Origins come from the file. */
    {
        const struct pp_strtab *st = pp_agg_strtab_const(b);
        uint32_t i;

        for (i = 0; i < pp_agg_n_frames(b); i++) {
            const struct pp_frame *f = pp_agg_frame_get(b, i);

            T_EQ_INT(f->origin, pp_origin_of_path(pp_strtab_str(st, f->file, NULL)));
        }
    }
    /* Reading twice adds the counts. */
    T_EQ_INT(pp_pprof_read(b, gz.p, gz.len, NULL), 0);
    T_EQ_INT(pp_agg_total(b), 38);
    T_EQ_INT(pp_agg_n_stacks(b), pp_agg_n_stacks(a));

    /* The ungzipped Profile reads the same. */
    {
        struct bytes raw = gunzip(gz);
        struct pp_agg *c = NULL;
        char *cc;

        T_EQ_INT(pp_agg_new(&c), 0);
        T_EQ_INT(pp_pprof_read(c, raw.p, raw.len, NULL), 0);
        cc = canon(c);
        T_EQ_STR(cc, ca);
        free(cc);
        pp_agg_free(c);
        free(raw.p);
    }
    /* A Profile split over two gzip members reads as one (gzip(1) and Go do the same). */
    {
        struct bytes raw = gunzip(gz), g1, g2, two;
        struct pp_agg *c = NULL;
        char *cc;

        g1 = gzip_bytes(raw.p, raw.len / 2);
        g2 = gzip_bytes(raw.p + raw.len / 2, raw.len - raw.len / 2);
        two.len = g1.len + g2.len;
        two.p = malloc(two.len);
        memcpy(two.p, g1.p, g1.len);
        memcpy(two.p + g1.len, g2.p, g2.len);
        T_EQ_INT(pp_agg_new(&c), 0);
        T_EQ_INT(pp_pprof_read(c, two.p, two.len, NULL), 0);
        cc = canon(c);
        T_EQ_STR(cc, ca);
        free(cc);
        pp_agg_free(c);
        free(two.p);
        /* Two whole Profiles concatenated repeat every id: rejected. */
        two.len = 2 * gz.len;
        two.p = malloc(two.len);
        memcpy(two.p, gz.p, gz.len);
        memcpy(two.p + gz.len, gz.p, gz.len);
        T_EQ_INT(pp_agg_new(&c), 0);
        T_EQ_INT(pp_pprof_read(c, two.p, two.len, NULL), PP_PPROF_E_FORMAT);
        T_EQ_INT(pp_agg_n_stacks(c), 0);
        pp_agg_free(c);
        free(two.p);
        free(g1.p);
        free(g2.p);
        free(raw.p);
    }
    free(ca);
    free(cb);
    free(gz.p);
    pp_agg_free(b);
    pp_agg_free(a);
}

/* === Goldens: tests/golden/formats/X.folded -> tests/golden/pprof/X.pb.txt ===== */

static void dump_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\%03o", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

#define FIELD(ind, name, v)                                                                        \
    do {                                                                                           \
        if (v)                                                                                     \
            fprintf(f, "%s" name ": %lld\n", ind, (long long)(v));                                 \
    } while (0)

/* The Profile in protobuf text format (zero scalars omitted, as protoc prints proto3). */
static void dump(const PbProfile *p, FILE *f)
{
    size_t i, j;

    for (i = 0; i < p->n_sample_type; i++) {
        fprintf(f, "sample_type {\n");
        FIELD("  ", "type", p->sample_type[i]->type);
        FIELD("  ", "unit", p->sample_type[i]->unit);
        fprintf(f, "}\n");
    }
    for (i = 0; i < p->n_sample; i++) {
        const Perftools__Profiles__Sample *s = p->sample[i];

        fprintf(f, "sample {\n");
        for (j = 0; j < s->n_location_id; j++)
            fprintf(f, "  location_id: %llu\n", (unsigned long long)s->location_id[j]);
        for (j = 0; j < s->n_value; j++)
            fprintf(f, "  value: %lld\n", (long long)s->value[j]);
        for (j = 0; j < s->n_label; j++) {
            fprintf(f, "  label {\n");
            FIELD("    ", "key", s->label[j]->key);
            FIELD("    ", "str", s->label[j]->str);
            FIELD("    ", "num", s->label[j]->num);
            FIELD("    ", "num_unit", s->label[j]->num_unit);
            fprintf(f, "  }\n");
        }
        fprintf(f, "}\n");
    }
    T_EQ_INT(p->n_mapping, 0);
    for (i = 0; i < p->n_location; i++) {
        const Perftools__Profiles__Location *l = p->location[i];

        fprintf(f, "location {\n");
        FIELD("  ", "id", l->id);
        FIELD("  ", "mapping_id", l->mapping_id);
        FIELD("  ", "address", l->address);
        for (j = 0; j < l->n_line; j++) {
            fprintf(f, "  line {\n");
            FIELD("    ", "function_id", l->line[j]->function_id);
            FIELD("    ", "line", l->line[j]->line);
            fprintf(f, "  }\n");
        }
        fprintf(f, "}\n");
    }
    for (i = 0; i < p->n_function; i++) {
        const Perftools__Profiles__Function *fn = p->function[i];

        fprintf(f, "function {\n");
        FIELD("  ", "id", fn->id);
        FIELD("  ", "name", fn->name);
        FIELD("  ", "system_name", fn->system_name);
        FIELD("  ", "filename", fn->filename);
        FIELD("  ", "start_line", fn->start_line);
        fprintf(f, "}\n");
    }
    for (i = 0; i < p->n_string_table; i++) {
        fprintf(f, "string_table: ");
        dump_str(f, p->string_table[i]);
        fputc('\n', f);
    }
    FIELD("", "drop_frames", p->drop_frames);
    FIELD("", "keep_frames", p->keep_frames);
    FIELD("", "time_nanos", p->time_nanos);
    FIELD("", "duration_nanos", p->duration_nanos);
    if (p->period_type) {
        fprintf(f, "period_type {\n");
        FIELD("  ", "type", p->period_type->type);
        FIELD("  ", "unit", p->period_type->unit);
        fprintf(f, "}\n");
    }
    FIELD("", "period", p->period);
    T_EQ_INT(p->n_comment, 0);
    FIELD("", "default_sample_type", p->default_sample_type);
}

static char *slurp(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    size_t cap = 0, n = 0, got;

    if (!f)
        return NULL;
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            p = realloc(p, cap + 1);
        }
        got = fread(p + n, 1, cap - n, f);
        n += got;
    } while (got);
    fclose(f);
    p[n] = '\0';
    if (out_len)
        *out_len = n;
    return p;
}

static void test_golden(const char *srcdir, const char *name)
{
    char in_path[4096], gold_path[4096];
    struct pp_meta m = {.rate_hz = 100, .start_unix_ns = 1700000000000000000ull,
                        .duration_ns = 5000000000ull};
    struct pp_agg *a = NULL, *b = NULL;
    struct bytes gz;
    PbProfile *p;
    char *text = NULL, *want, *ca, *cb;
    size_t len = 0;
    FILE *f;
    int r = -1;

    snprintf(in_path, sizeof(in_path), "%s/tests/golden/formats/%s.folded", srcdir, name);
    snprintf(gold_path, sizeof(gold_path), "%s/tests/golden/pprof/%s.pb.txt", srcdir, name);
    T_EQ_INT(pp_agg_new(&a), 0);
    f = fopen(in_path, "r");
    T_ASSERT(f != NULL);
    if (!f) {
        pp_agg_free(a);
        return;
    }
    T_EQ_INT(pp_folded_read(a, f, NULL), 0);
    fclose(f);

    gz = write_pprof(a, &m, &r);
    T_EQ_INT(r, 0);
    printf("%s: %zu stacks -> %zu bytes of pprof\n", name, pp_agg_n_stacks(a), gz.len);
    p = decode(gz);
    if (p) {
        f = open_memstream(&text, &len);
        dump(p, f);
        fclose(f);
        perftools__profiles__profile__free_unpacked(p, NULL);
    }
    if (getenv("PYPROF_UPDATE_GOLDEN")) {
        f = fopen(gold_path, "w");
        T_ASSERT(f != NULL);
        if (f) {
            fputs(text, f);
            fclose(f);
        }
    }
    want = slurp(gold_path, NULL);
    T_ASSERT(want != NULL);
    if (want && text && strcmp(want, text) != 0) {
        fprintf(stderr, "%s: differs from %s (PYPROF_UPDATE_GOLDEN=1 rewrites it)\n", name,
                gold_path);
        t_failures++;
    }

    /* And back: the same stacks, frames and counts. */
    T_EQ_INT(pp_agg_new(&b), 0);
    T_EQ_INT(pp_pprof_read(b, gz.p, gz.len, NULL), 0);
    ca = canon(a);
    cb = canon(b);
    T_EQ_STR(cb, ca);
    free(ca);
    free(cb);
    free(want);
    free(text);
    free(gz.p);
    pp_agg_free(b);
    pp_agg_free(a);
}

/* === Reading a profile written by Go (tests/golden/pprof/go-foreign.pb.gz) ===== */

static void test_go_foreign(const char *srcdir)
{
    char path[4096];
    struct pp_agg *a = NULL;
    struct pp_meta m = {0};
    size_t len = 0;
    char *buf, *got;
    const char *want =
        "0 \"\": main@app.py:3;_PyEval_EvalFrameDefault@ceval.c:1000;"
        "0x401234@/usr/bin/python3.11:0 2\n"
        "0 \"worker\": main@app.py:3 4\n"
        "42 \"MainThread\": main@app.py:3 3\n"
        "42 \"MainThread\": main@app.py:3;helper@app.py:6;"
        "inlined_fn@/usr/lib/python3.11/json/x.py:7 5\n"
        "43 \"\": main@app.py:3 1\n";

    snprintf(path, sizeof(path), "%s/tests/golden/pprof/go-foreign.pb.gz", srcdir);
    buf = slurp(path, &len);
    T_ASSERT(buf != NULL);
    if (!buf)
        return;
    T_EQ_INT(pp_agg_new(&a), 0);
    T_EQ_INT(pp_pprof_read(a, buf, len, &m), 0);
    got = canon(a);
    T_EQ_STR(got, want);
    /* The fixture does exercise sparse ids, a mapping and Go's encoding. */
    {
        struct bytes gz = {(uint8_t *)buf, len};
        PbProfile *p = decode(gz);

        if (p) {
            T_EQ_INT(p->n_location, 4);
            T_EQ_INT(p->location[0]->id, 100);
            T_EQ_INT(p->location[1]->id, 205);
            T_EQ_INT(p->location[1]->n_line, 2);
            T_EQ_INT(p->location[3]->id, 7);
            T_EQ_INT(p->function[0]->id, 10);
            T_EQ_INT(p->n_mapping, 1);
            T_EQ_INT(p->mapping[0]->id, 3);
            perftools__profiles__profile__free_unpacked(p, NULL);
        }
    }
    T_EQ_INT(m.duration_ns, 2500000000ull);
    T_EQ_INT(m.start_unix_ns, 1700000000123456789ull);
    T_ASSERT(m.rate_hz == 250);
    free(got);
    free(buf);
    pp_agg_free(a);
}

/* === Bad input =========================================================== */

/* Pack @p (no gzip) and read it: the result of pp_pprof_read(). */
static int read_packed(const PbProfile *p)
{
    size_t len = perftools__profiles__profile__get_packed_size(p);
    uint8_t *buf = malloc(len + 1);
    struct pp_agg *a = NULL;
    int r;

    perftools__profiles__profile__pack(p, buf);
    T_EQ_INT(pp_agg_new(&a), 0);
    r = pp_pprof_read(a, buf, len, NULL);
    pp_agg_free(a);
    free(buf);
    return r;
}

/* A small valid Profile built by hand, ids sparse, one inlined location; then broken. */
static void test_hand_built(void)
{
    char *strs[] = {"", "samples", "count", "f", "g.py", "inl", "thread_name", "T", "thread_id",
                    "77"};
    Perftools__Profiles__ValueType vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT, *vtp = &vt;
    Perftools__Profiles__Function fn[2] = {PERFTOOLS__PROFILES__FUNCTION__INIT,
                                           PERFTOOLS__PROFILES__FUNCTION__INIT};
    Perftools__Profiles__Function *fnp[2] = {&fn[0], &fn[1]};
    Perftools__Profiles__Line ln[3] = {PERFTOOLS__PROFILES__LINE__INIT,
                                       PERFTOOLS__PROFILES__LINE__INIT,
                                       PERFTOOLS__PROFILES__LINE__INIT};
    Perftools__Profiles__Line *l0[1] = {&ln[0]}, *l1[2] = {&ln[1], &ln[2]};
    Perftools__Profiles__Location loc[2] = {PERFTOOLS__PROFILES__LOCATION__INIT,
                                            PERFTOOLS__PROFILES__LOCATION__INIT};
    Perftools__Profiles__Location *locp[2] = {&loc[0], &loc[1]};
    Perftools__Profiles__Label lb[2] = {PERFTOOLS__PROFILES__LABEL__INIT,
                                        PERFTOOLS__PROFILES__LABEL__INIT};
    Perftools__Profiles__Label *lbp[2] = {&lb[0], &lb[1]};
    Perftools__Profiles__Sample s = PERFTOOLS__PROFILES__SAMPLE__INIT, *sp = &s;
    uint64_t ids[2] = {900, 5}; /* leaf (inlined) first */
    int64_t val[1] = {6};
    PbProfile p = PERFTOOLS__PROFILES__PROFILE__INIT;

    vt.type = 1;
    vt.unit = 2;
    fn[0].id = 1000;
    fn[0].name = 3;
    fn[0].filename = 4;
    fn[1].id = 2;
    fn[1].name = 5;
    fn[1].filename = 4;
    ln[0].function_id = 1000;
    ln[0].line = 10;
    ln[1].function_id = 2; /* inlined into ... */
    ln[1].line = 20;
    ln[2].function_id = 1000; /* ... this caller */
    ln[2].line = 11;
    loc[0].id = 5;
    loc[0].n_line = 1;
    loc[0].line = l0;
    loc[1].id = 900;
    loc[1].n_line = 2;
    loc[1].line = l1;
    lb[0].key = 6;
    lb[0].str = 7;
    lb[1].key = 8;
    lb[1].str = 9; /* thread_id as a decimal string */
    s.n_location_id = 2;
    s.location_id = ids;
    s.n_value = 1;
    s.value = val;
    s.n_label = 2;
    s.label = lbp;
    p.n_sample_type = 1;
    p.sample_type = &vtp;
    p.n_sample = 1;
    p.sample = &sp;
    p.n_location = 2;
    p.location = locp;
    p.n_function = 2;
    p.function = fnp;
    p.n_string_table = sizeof(strs) / sizeof(strs[0]);
    p.string_table = strs;

    /* Valid: root first = f:10 (location 5), then the inlined location caller first. */
    {
        size_t len = perftools__profiles__profile__get_packed_size(&p);
        uint8_t *buf = malloc(len);
        struct pp_agg *a = NULL;
        struct pp_meta m = {.rate_hz = 5, .wall = true};
        char *got;

        perftools__profiles__profile__pack(&p, buf);
        T_EQ_INT(pp_agg_new(&a), 0);
        T_EQ_INT(pp_pprof_read(a, buf, len, &m), 0);
        got = canon(a);
        T_EQ_STR(got, "77 \"T\": f@g.py:10;f@g.py:11;inl@g.py:20 6\n");
        T_ASSERT(m.rate_hz == 5 && m.wall); /* no period_type: left as they were */
        free(got);
        pp_agg_free(a);
        free(buf);
    }
    T_EQ_INT(read_packed(&p), 0);

    /* Each broken rule is PP_PPROF_E_FORMAT. */
    ids[0] = 901; /* dangling sample location id */
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    ids[0] = 0;
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    ids[0] = 900;
    ln[2].function_id = 3; /* dangling function id */
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    ln[2].function_id = 0;
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    ln[2].function_id = 1000;
    loc[0].mapping_id = 1; /* no mappings */
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    loc[0].mapping_id = 0;
    loc[1].id = 5; /* duplicate location id */
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    loc[1].id = 0;
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    loc[1].id = 900;
    fn[1].id = 1000; /* duplicate function id */
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    fn[1].id = 2;
    fn[1].name = 10; /* string index out of range */
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    fn[1].name = -1;
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    fn[1].name = 5;
    lb[1].str = 99;
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    lb[1].str = 9;
    vt.unit = 10;
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    vt.unit = 2;
    val[0] = -1; /* negative count */
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    val[0] = 6;
    s.n_value = 0; /* value count != sample types */
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    s.n_value = 1;
    p.n_sample_type = 0;
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    p.n_sample_type = 1;
    strs[0] = "x"; /* string_table[0] != "" */
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    strs[0] = "";
    p.n_string_table = 0; /* and every index out of range */
    T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
    p.n_string_table = sizeof(strs) / sizeof(strs[0]);
    T_EQ_INT(read_packed(&p), 0);

    /* Depth: PP_PPROF_MAX_DEPTH frames are fine, one more is not. */
    {
        size_t n = PP_PPROF_MAX_DEPTH / 2;
        uint64_t *deep = malloc((n + 1) * sizeof(*deep));
        size_t i;

        for (i = 0; i <= n; i++)
            deep[i] = 900; /* two frames each */
        s.location_id = deep;
        s.n_location_id = n;
        T_EQ_INT(read_packed(&p), 0);
        s.n_location_id = n + 1;
        T_EQ_INT(read_packed(&p), PP_PPROF_E_FORMAT);
        s.location_id = ids;
        s.n_location_id = 2;
        free(deep);
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void expect_format(const void *buf, size_t len, const char *what)
{
    struct pp_agg *a = NULL;
    int r;

    T_EQ_INT(pp_agg_new(&a), 0);
    r = pp_pprof_read(a, buf, len, NULL);
    if (r != PP_PPROF_E_FORMAT) {
        fprintf(stderr, "%s: got %d, want PP_PPROF_E_FORMAT\n", what, r);
        t_failures++;
    }
    pp_agg_free(a);
}

static void test_garbage(void)
{
    struct pp_agg *a = sample_agg();
    struct bytes gz, raw;
    uint8_t junk[4096];
    size_t i, k;
    int r = -1;

    gz = write_pprof(a, NULL, &r);
    T_EQ_INT(r, 0);
    raw = gunzip(gz);

    expect_format("", 0, "empty");
    expect_format("\x1f", 1, "one byte");
    expect_format("\x1f\x8b", 2, "gzip magic only");
    /* Truncated gzip, at every length. */
    for (i = 2; i < gz.len; i++) {
        char what[64];

        snprintf(what, sizeof(what), "gzip truncated to %zu of %zu", i, gz.len);
        expect_format(gz.p, i, what);
    }
    /* Trailing garbage after the gzip stream. */
    {
        uint8_t *t = malloc(gz.len + 3);

        memcpy(t, gz.p, gz.len);
        memcpy(t + gz.len, "xyz", 3);
        expect_format(t, gz.len + 3, "trailing garbage");
        free(t);
    }
    /* Random bytes, gzip-looking or not. */
    for (k = 0; k < 200; k++) {
        for (i = 0; i < sizeof(junk); i++)
            junk[i] = (uint8_t)rnd();
        if (k & 1) {
            junk[0] = 0x1f;
            junk[1] = 0x8b;
        }
        expect_format(junk, 1 + rnd() % sizeof(junk), "random bytes");
    }
    /* Mutations of a valid Profile: any result but a crash (valgrind / ASan watch this). */
    for (k = 0; k < 3000; k++) {
        uint8_t *m = malloc(raw.len);
        struct pp_agg *b = NULL;
        size_t n = raw.len, flips = 1 + rnd() % 4;

        memcpy(m, raw.p, raw.len);
        for (i = 0; i < flips; i++)
            m[rnd() % raw.len] ^= (uint8_t)(1u << (rnd() % 8));
        if (k % 3 == 0)
            n = rnd() % raw.len;
        T_EQ_INT(pp_agg_new(&b), 0);
        r = pp_pprof_read(b, m, n, NULL);
        T_ASSERT(r == 0 || r == PP_PPROF_E_FORMAT);
        pp_agg_free(b);
        free(m);
    }
    free(raw.p);
    free(gz.p);
    pp_agg_free(a);
}

int main(void)
{
    const char *srcdir = getenv("PYPROF_SRCDIR");

    if (!srcdir)
        srcdir = ".";
    test_profile_exact();
    test_profile_defaults();
    test_round_trip();
    test_golden(srcdir, "demo");
    test_golden(srcdir, "small");
    test_golden(srcdir, "threads");
    test_go_foreign(srcdir);
    test_hand_built();
    test_garbage();
    T_DONE();
}
