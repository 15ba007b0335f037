/* SPDX-License-Identifier: MIT */
/* pprof: build a perftools.profiles.Profile from an aggregate (and back) with protobuf-c + zlib. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "internal.h"
#include "profile.pb-c.h"
#include "pyprof/err.h"
#include "pyprof/hash.h"
#include "pyprof/pprof.h"
#include "pyprof/strtab.h"

typedef Perftools__Profiles__Profile PbProfile;
typedef Perftools__Profiles__ValueType PbValueType;
typedef Perftools__Profiles__Sample PbSample;
typedef Perftools__Profiles__Label PbLabel;
typedef Perftools__Profiles__Mapping PbMapping;
typedef Perftools__Profiles__Location PbLocation;
typedef Perftools__Profiles__Line PbLine;
typedef Perftools__Profiles__Function PbFunction;

#define GZ_LEVEL 6
#define GZ_CHUNK (64 * 1024)
#define MAX_UNCOMPRESSED ((size_t)1 << 30) /* pp_pprof_read(): 1 GiB */

/* === Writer: tables ====================================================== */

/* Strings written ahead of the aggregate's own, in this order; index = position. */
enum {
    LIT_EMPTY = 0,
    LIT_SAMPLES,
    LIT_COUNT,
    LIT_KIND, /* "cpu" or "wall" */
    LIT_NANOSECONDS,
    LIT_THREAD_ID,   /* only when some sample has thread labels */
    LIT_THREAD_NAME, /* idem */
};

struct wfunc {
    uint32_t name;       /* aggregate string ids */
    uint32_t file;
    uint32_t start_line; /* smallest nonzero line seen, 0 when none */
};

struct wloc {
    uint32_t func;       /* index in wctx.funcs */
    uint32_t line;
};

struct wctx {
    const struct pp_agg *a;
    const struct pp_strtab *st;

    char **strs;         /* the Profile's string_table (pointers into st or literals) */
    size_t n_strs, cap_strs;
    size_t n_lits;       /* strs[0 .. n_lits) are the literals above */
    uint32_t *str_of;    /* aggregate string id -> index in strs + 1; 0 = not added yet */

    struct wfunc *funcs;
    size_t n_funcs, cap_funcs;
    struct pp_itab func_index;

    struct wloc *locs;
    size_t n_locs, cap_locs;
    uint32_t *loc_of;    /* frame id -> location index + 1; 0 = not used yet */
};

static void wctx_deinit(struct wctx *w)
{
    free(w->strs);
    free(w->str_of);
    free(w->funcs);
    pp_itab_deinit(&w->func_index);
    free(w->locs);
    free(w->loc_of);
}

static int add_str(struct wctx *w, const char *s)
{
    int r;

    r = pp_grow((void **)&w->strs, &w->cap_strs, w->n_strs + 1, sizeof(*w->strs));
    if (r < 0)
        return r;
    /* protobuf-c only reads through this pointer when packing. */
    w->strs[w->n_strs++] = (char *)(uintptr_t)s;
    return 0;
}

/* The string_table index of aggregate string @id, adding it on first use. */
static int map_str(struct wctx *w, uint32_t id, int64_t *out)
{
    const char *s;
    size_t i;
    int r;

    if (w->str_of[id]) {
        *out = (int64_t)w->str_of[id] - 1;
        return 0;
    }
    s = pp_strtab_str(w->st, id, NULL);
    if (!s)
        return -EINVAL;
    for (i = 0; i < w->n_lits; i++) {
        if (strcmp(w->strs[i], s) == 0)
            break;
    }
    if (i == w->n_lits) {
        if (w->n_strs >= UINT32_MAX - 1)
            return -ENOMEM;
        i = w->n_strs;
        r = add_str(w, s);
        if (r < 0)
            return r;
    }
    w->str_of[id] = (uint32_t)i + 1;
    *out = (int64_t)i;
    return 0;
}

struct func_key {
    const struct wctx *w;
    uint32_t name, file;
};

static bool func_eq(const void *ctx, uint32_t idx)
{
    const struct func_key *k = ctx;

    return k->w->funcs[idx].name == k->name && k->w->funcs[idx].file == k->file;
}

static int intern_func(struct wctx *w, uint32_t name, uint32_t file, uint32_t *out)
{
    struct func_key k = {w, name, file};
    uint64_t h = pp_hash_u64((uint64_t)name << 32 | file);
    uint32_t idx;
    int r;

    if (pp_itab_find(&w->func_index, h, func_eq, &k, &idx)) {
        *out = idx;
        return 0;
    }
    if (w->n_funcs >= UINT32_MAX - 1)
        return -ENOMEM;
    r = pp_grow((void **)&w->funcs, &w->cap_funcs, w->n_funcs + 1, sizeof(*w->funcs));
    if (r < 0)
        return r;
    r = pp_itab_reserve(&w->func_index, w->func_index.n + 1);
    if (r < 0)
        return r;
    idx = (uint32_t)w->n_funcs++;
    w->funcs[idx] = (struct wfunc){name, file, 0};
    pp_itab_insert(&w->func_index, h, idx);
    *out = idx;
    return 0;
}

/* Give frame @fid a location (and its function one) on first use. */
static int use_frame(struct wctx *w, uint32_t fid)
{
    const struct pp_frame *f;
    struct wfunc *fn;
    uint32_t fi;
    int r;

    if (w->loc_of[fid])
        return 0;
    f = pp_agg_frame_get(w->a, fid);
    if (!f)
        return -EINVAL;
    r = intern_func(w, f->name, f->file, &fi);
    if (r < 0)
        return r;
    fn = &w->funcs[fi];
    if (f->line && (!fn->start_line || f->line < fn->start_line))
        fn->start_line = f->line;
    r = pp_grow((void **)&w->locs, &w->cap_locs, w->n_locs + 1, sizeof(*w->locs));
    if (r < 0)
        return r;
    w->locs[w->n_locs++] = (struct wloc){fi, f->line};
    w->loc_of[fid] = (uint32_t)w->n_locs;
    return 0;
}

static bool thread_labelled(const struct pp_thread *t)
{
    return t && (t->tid != 0 || t->name != 0);
}

/* === Writer: output ====================================================== */

/* Gzip @len bytes at @p (deflate level GZ_LEVEL, gzip header with mtime 0) to @out. */
static int gzip_write(const uint8_t *p, size_t len, FILE *out)
{
    unsigned char chunk[GZ_CHUNK];
    z_stream zs;
    int r = 0, zr;

    memset(&zs, 0, sizeof(zs));
    zr = deflateInit2(&zs, GZ_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (zr != Z_OK)
        return pp_err_origin(zr == Z_MEM_ERROR ? -ENOMEM : -EINVAL);
    zs.next_in = (Bytef *)(uintptr_t)p;
    do {
        size_t take = len > UINT_MAX ? UINT_MAX : len;
        int flush = take == len ? Z_FINISH : Z_NO_FLUSH;

        zs.avail_in = (uInt)take;
        len -= take;
        do {
            size_t have;

            zs.next_out = chunk;
            zs.avail_out = sizeof(chunk);
            zr = deflate(&zs, flush);
            if (zr == Z_STREAM_ERROR) {
                r = pp_err_origin(-EINVAL);
                goto out;
            }
            have = sizeof(chunk) - zs.avail_out;
            if (have && fwrite(chunk, 1, have, out) != have) {
                r = pp_err_origin(-EIO);
                goto out;
            }
        } while (zs.avail_out == 0);
    } while (len);
    if (zr != Z_STREAM_END)
        r = pp_err_origin(-EINVAL);
out:
    deflateEnd(&zs);
    return r;
}

static int64_t sat_i64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

int pp_pprof_write(const struct pp_agg *a, const struct pp_meta *m, FILE *out)
{
    struct wctx w = {0};
    PbProfile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
    PbValueType vt[2] = {PERFTOOLS__PROFILES__VALUE_TYPE__INIT,
                         PERFTOOLS__PROFILES__VALUE_TYPE__INIT};
    PbValueType period_type = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
    PbValueType *vt_ptrs[2] = {&vt[0], &vt[1]};
    PbFunction *fn = NULL, **fn_ptrs = NULL;
    PbLocation *loc = NULL, **loc_ptrs = NULL;
    PbLine *lines = NULL, **line_ptrs = NULL;
    PbLabel *labels = NULL, **label_ptrs = NULL;
    size_t *n_labels = NULL;
    PbSample *samples = NULL, **sample_ptrs = NULL;
    uint64_t *loc_ids = NULL;
    int64_t *values = NULL;
    uint8_t *packed = NULL;
    size_t n_stacks = pp_agg_n_stacks(a), n_refs = 0, i, j, packed_len;
    uint32_t n_frames = pp_agg_n_frames(a), n_threads = pp_agg_n_threads(a);
    uint64_t period = pp_meta_period_ns(m) ? pp_meta_period_ns(m) : 1;
    bool any_labels = false;
    int r;

    w.a = a;
    w.st = pp_agg_strtab_const(a);
    w.func_index = (struct pp_itab)PP_ITAB_INIT;

    /* Strings: the literals first, then the aggregate's strings in order of first use. */
    for (i = 0; i < n_threads; i++)
        any_labels = any_labels || thread_labelled(pp_agg_thread_get(a, (uint32_t)i));
    {
        const char *lits[] = {"", "samples", "count", m && m->wall ? "wall" : "cpu",
                              "nanoseconds", "thread_id", "thread_name"};
        size_t n_lits = any_labels ? 7 : 5;

        for (i = 0; i < n_lits; i++) {
            r = add_str(&w, lits[i]);
            if (r < 0)
                goto out;
        }
        w.n_lits = n_lits;
    }
    w.str_of = calloc((size_t)pp_strtab_count(w.st) + 1, sizeof(*w.str_of));
    w.loc_of = calloc((size_t)n_frames + 1, sizeof(*w.loc_of));
    if (!w.str_of || !w.loc_of) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    w.str_of[0] = LIT_EMPTY + 1;

    /* Locations and functions, in order of first use by the stacks. */
    for (i = 0; i < n_stacks; i++) {
        struct pp_stack_view v;

        pp_agg_stack(a, i, &v);
        for (j = 0; j < v.n_fids; j++) {
            r = use_frame(&w, v.fids[j]);
            if (r < 0)
                goto out;
        }
        n_refs += v.n_fids;
    }

    fn = calloc(w.n_funcs + 1, sizeof(*fn));
    fn_ptrs = calloc(w.n_funcs + 1, sizeof(*fn_ptrs));
    loc = calloc(w.n_locs + 1, sizeof(*loc));
    loc_ptrs = calloc(w.n_locs + 1, sizeof(*loc_ptrs));
    lines = calloc(w.n_locs + 1, sizeof(*lines));
    line_ptrs = calloc(w.n_locs + 1, sizeof(*line_ptrs));
    labels = calloc(2 * (size_t)n_threads + 1, sizeof(*labels));
    label_ptrs = calloc(2 * (size_t)n_threads + 1, sizeof(*label_ptrs));
    n_labels = calloc((size_t)n_threads + 1, sizeof(*n_labels));
    samples = calloc(n_stacks + 1, sizeof(*samples));
    sample_ptrs = calloc(n_stacks + 1, sizeof(*sample_ptrs));
    loc_ids = calloc(n_refs + 1, sizeof(*loc_ids));
    values = calloc(2 * n_stacks + 1, sizeof(*values));
    if (!fn || !fn_ptrs || !loc || !loc_ptrs || !lines || !line_ptrs || !labels || !label_ptrs ||
        !n_labels || !samples || !sample_ptrs || !loc_ids || !values) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }

    for (i = 0; i < w.n_funcs; i++) {
        perftools__profiles__function__init(&fn[i]);
        fn[i].id = i + 1;
        r = map_str(&w, w.funcs[i].name, &fn[i].name);
        if (r < 0)
            goto out;
        r = map_str(&w, w.funcs[i].file, &fn[i].filename);
        if (r < 0)
            goto out;
        fn[i].start_line = w.funcs[i].start_line;
        fn_ptrs[i] = &fn[i];
    }
    for (i = 0; i < w.n_locs; i++) {
        perftools__profiles__line__init(&lines[i]);
        lines[i].function_id = (uint64_t)w.locs[i].func + 1;
        lines[i].line = w.locs[i].line;
        line_ptrs[i] = &lines[i];
        perftools__profiles__location__init(&loc[i]);
        loc[i].id = i + 1;
        loc[i].n_line = 1;
        loc[i].line = &line_ptrs[i];
        loc_ptrs[i] = &loc[i];
    }

    /* Thread labels: thread i's labels are labels[2i .. 2i + n_labels[i]). */
    for (i = 0; i < n_threads; i++) {
        const struct pp_thread *t = pp_agg_thread_get(a, (uint32_t)i);
        PbLabel *l = &labels[2 * i];

        if (!thread_labelled(t))
            continue;
        perftools__profiles__label__init(&l[0]);
        l[0].key = LIT_THREAD_ID;
        l[0].num = (int64_t)t->tid;
        label_ptrs[2 * i] = &l[0];
        n_labels[i] = 1;
        if (t->name) {
            perftools__profiles__label__init(&l[1]);
            l[1].key = LIT_THREAD_NAME;
            r = map_str(&w, t->name, &l[1].str);
            if (r < 0)
                goto out;
            label_ptrs[2 * i + 1] = &l[1];
            n_labels[i] = 2;
        }
    }

    /* Samples: one per distinct (thread, stack), locations leaf first. */
    n_refs = 0;
    for (i = 0; i < n_stacks; i++) {
        struct pp_stack_view v;
        PbSample *s = &samples[i];

        pp_agg_stack(a, i, &v);
        perftools__profiles__sample__init(s);
        s->n_location_id = v.n_fids;
        s->location_id = &loc_ids[n_refs];
        for (j = 0; j < v.n_fids; j++)
            loc_ids[n_refs + j] = w.loc_of[v.fids[v.n_fids - 1 - j]];
        n_refs += v.n_fids;
        s->n_value = 2;
        s->value = &values[2 * i];
        values[2 * i] = sat_i64(v.count);
        values[2 * i + 1] =
            v.count > (uint64_t)INT64_MAX / period ? INT64_MAX : (int64_t)(v.count * period);
        if (v.thread < n_threads && n_labels[v.thread]) {
            s->n_label = n_labels[v.thread];
            s->label = &label_ptrs[2 * (size_t)v.thread];
        }
        sample_ptrs[i] = s;
    }

    vt[0].type = LIT_SAMPLES;
    vt[0].unit = LIT_COUNT;
    vt[1].type = LIT_KIND;
    vt[1].unit = LIT_NANOSECONDS;
    period_type.type = LIT_KIND;
    period_type.unit = LIT_NANOSECONDS;
    prof.n_sample_type = 2;
    prof.sample_type = vt_ptrs;
    prof.n_sample = n_stacks;
    prof.sample = sample_ptrs;
    prof.n_location = w.n_locs;
    prof.location = loc_ptrs;
    prof.n_function = w.n_funcs;
    prof.function = fn_ptrs;
    prof.n_string_table = w.n_strs;
    prof.string_table = w.strs;
    prof.time_nanos = m ? sat_i64(m->start_unix_ns) : 0;
    prof.duration_nanos = m ? sat_i64(m->duration_ns) : 0;
    prof.period_type = &period_type;
    prof.period = sat_i64(period);

    packed_len = perftools__profiles__profile__get_packed_size(&prof);
    packed = malloc(packed_len ? packed_len : 1);
    if (!packed) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    if (perftools__profiles__profile__pack(&prof, packed) != packed_len) {
        r = pp_err_origin(-EINVAL);
        goto out;
    }
    r = gzip_write(packed, packed_len, out);
    if (r < 0)
        goto out;
    if (fflush(out) != 0 || ferror(out))
        r = pp_err_origin(-EIO);

out:
    free(packed);
    free(values);
    free(loc_ids);
    free(sample_ptrs);
    free(samples);
    free(n_labels);
    free(label_ptrs);
    free(labels);
    free(line_ptrs);
    free(lines);
    free(loc_ptrs);
    free(loc);
    free(fn_ptrs);
    free(fn);
    wctx_deinit(&w);
    return r;
}

/* === Reader: gunzip ====================================================== */

/*
 * Inflate the gzip stream (one or more members) at @p into a new buffer of at most
 * MAX_UNCOMPRESSED bytes. 0, PP_PPROF_E_FORMAT (corrupt, truncated, trailing garbage, too big)
 * or -ENOMEM.
 */
static int gunzip(const uint8_t *p, size_t len, uint8_t **out, size_t *out_len)
{
    z_stream zs;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    int r, zr;

    memset(&zs, 0, sizeof(zs));
    zr = inflateInit2(&zs, 15 + 16);
    if (zr != Z_OK)
        return pp_err_origin(zr == Z_MEM_ERROR ? -ENOMEM : -EINVAL);
    zs.next_in = (Bytef *)(uintptr_t)p;
    for (;;) {
        size_t room;

        if (zs.avail_in == 0 && len) {
            size_t take = len > UINT_MAX ? UINT_MAX : len;

            zs.avail_in = (uInt)take;
            len -= take;
        }
        if (n == cap) {
            /* Grow by doubling up to one byte past the bound, which tells "too big" apart. */
            size_t want = cap ? cap * 2 : 64 * 1024;
            uint8_t *q;

            if (cap > MAX_UNCOMPRESSED) {
                r = PP_PPROF_E_FORMAT;
                goto out;
            }
            if (want > MAX_UNCOMPRESSED + 1)
                want = MAX_UNCOMPRESSED + 1;
            q = realloc(buf, want);
            if (!q) {
                r = pp_err_origin(-ENOMEM);
                goto out;
            }
            buf = q;
            cap = want;
        }
        room = cap - n;
        if (room > UINT_MAX)
            room = UINT_MAX;
        zs.next_out = buf + n;
        zs.avail_out = (uInt)room;
        zr = inflate(&zs, Z_NO_FLUSH);
        n += room - zs.avail_out;
        if (zr == Z_STREAM_END) {
            if (zs.avail_in == 0 && len == 0)
                break;
            /* Another gzip member (as gzip(1) and Go accept); anything else is garbage. */
            if (zs.avail_in < 2 && len) {
                r = PP_PPROF_E_FORMAT; /* a member header split across > UINT_MAX chunks */
                goto out;
            }
            if (zs.avail_in < 2 || zs.next_in[0] != 0x1f || zs.next_in[1] != 0x8b) {
                r = PP_PPROF_E_FORMAT;
                goto out;
            }
            if (inflateReset(&zs) != Z_OK) {
                r = pp_err_origin(-EINVAL);
                goto out;
            }
            continue;
        }
        if (zr == Z_MEM_ERROR) {
            r = pp_err_origin(-ENOMEM);
            goto out;
        }
        if (zr == Z_BUF_ERROR && zs.avail_out != 0 && zs.avail_in == 0 && len == 0) {
            r = PP_PPROF_E_FORMAT; /* truncated */
            goto out;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            r = PP_PPROF_E_FORMAT; /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
            goto out;
        }
        if (n > MAX_UNCOMPRESSED) {
            r = PP_PPROF_E_FORMAT;
            goto out;
        }
    }
    if (n > MAX_UNCOMPRESSED) {
        r = PP_PPROF_E_FORMAT;
        goto out;
    }
    *out = buf;
    *out_len = n;
    buf = NULL;
    r = 0;
out:
    inflateEnd(&zs);
    free(buf);
    return r;
}

/* === Reader: ids ========================================================= */

/* Finds the index of the entry with a given id; ids must be nonzero and unique. */
struct idmap {
    uint64_t *ids;
    size_t n;
    bool dense; /* ids[i] == i + 1 for every i: no hash table needed */
    struct pp_itab t;
};

struct id_key {
    const uint64_t *ids;
    uint64_t id;
};

static bool id_eq(const void *ctx, uint32_t idx)
{
    const struct id_key *k = ctx;

    return k->ids[idx] == k->id;
}

static void idmap_deinit(struct idmap *m)
{
    free(m->ids);
    pp_itab_deinit(&m->t);
}

static int idmap_alloc(struct idmap *m, size_t n)
{
    m->ids = calloc(n + 1, sizeof(*m->ids));
    m->n = n;
    m->t = (struct pp_itab)PP_ITAB_INIT;
    return m->ids ? 0 : pp_err_origin(-ENOMEM);
}

/* Index m->ids[0 .. m->n): 0, PP_PPROF_E_FORMAT (an id 0 or a duplicate) or -ENOMEM. */
static int idmap_index(struct idmap *m)
{
    size_t i;
    int r;

    m->dense = true;
    for (i = 0; i < m->n; i++) {
        if (m->ids[i] == 0)
            return PP_PPROF_E_FORMAT;
        if (m->ids[i] != i + 1)
            m->dense = false;
    }
    if (m->dense)
        return 0;
    if (m->n > UINT32_MAX / 2)
        return pp_err_origin(-ENOMEM);
    r = pp_itab_reserve(&m->t, m->n);
    if (r < 0)
        return r;
    for (i = 0; i < m->n; i++) {
        struct id_key k = {m->ids, m->ids[i]};
        uint64_t h = pp_hash_u64(m->ids[i]);
        uint32_t dup;

        if (pp_itab_find(&m->t, h, id_eq, &k, &dup))
            return PP_PPROF_E_FORMAT;
        pp_itab_insert(&m->t, h, (uint32_t)i);
    }
    return 0;
}

static bool idmap_find(const struct idmap *m, uint64_t id, size_t *out)
{
    struct id_key k = {m->ids, id};
    uint32_t idx;

    if (id == 0)
        return false;
    if (m->dense) {
        if (id > m->n)
            return false;
        *out = (size_t)id - 1;
        return true;
    }
    if (!pp_itab_find(&m->t, pp_hash_u64(id), id_eq, &k, &idx))
        return false;
    *out = idx;
    return true;
}

/* === Reader: validation ================================================== */

struct rctx {
    struct pp_agg *a;
    const PbProfile *p;
    struct idmap maps, funcs, locs;

    uint32_t *str_id;    /* string_table index -> aggregate string id + 1; 0 = not yet */

    uint32_t *fids;      /* per location, its frames (caller first), back to back */
    size_t n_fids, cap_fids;
    size_t *loc_off;     /* location index -> offset in fids + 1; 0 = not built yet */
    uint32_t *loc_n;     /* location index -> number of frames */

    uint32_t *stack;     /* scratch: one sample's frames, root first */
    size_t cap_stack;
};

static bool str_ok(const PbProfile *p, int64_t idx)
{
    return idx >= 0 && (uint64_t)idx < p->n_string_table;
}

static bool value_type_ok(const PbProfile *p, const PbValueType *vt)
{
    return !vt || (str_ok(p, vt->type) && str_ok(p, vt->unit));
}

/* Check every rule this reader relies on, before anything is added to the aggregate. */
static int validate(struct rctx *c)
{
    const PbProfile *p = c->p;
    size_t i, j, idx;
    int r;

    if (p->n_string_table == 0 || p->string_table[0][0] != '\0')
        return PP_PPROF_E_FORMAT;
    if (!str_ok(p, p->drop_frames) || !str_ok(p, p->keep_frames) ||
        !value_type_ok(p, p->period_type) || !str_ok(p, p->default_sample_type))
        return PP_PPROF_E_FORMAT;
    for (i = 0; i < p->n_comment; i++) {
        if (!str_ok(p, p->comment[i]))
            return PP_PPROF_E_FORMAT;
    }
    for (i = 0; i < p->n_sample_type; i++) {
        if (!value_type_ok(p, p->sample_type[i]))
            return PP_PPROF_E_FORMAT;
    }

    /* Id tables. */
    r = idmap_alloc(&c->maps, p->n_mapping);
    if (r < 0)
        return r;
    for (i = 0; i < p->n_mapping; i++) {
        const PbMapping *mp = p->mapping[i];

        if (!str_ok(p, mp->filename) || !str_ok(p, mp->build_id))
            return PP_PPROF_E_FORMAT;
        c->maps.ids[i] = mp->id;
    }
    r = idmap_index(&c->maps);
    if (r)
        return r;
    r = idmap_alloc(&c->funcs, p->n_function);
    if (r < 0)
        return r;
    for (i = 0; i < p->n_function; i++) {
        const PbFunction *f = p->function[i];

        if (!str_ok(p, f->name) || !str_ok(p, f->system_name) || !str_ok(p, f->filename))
            return PP_PPROF_E_FORMAT;
        c->funcs.ids[i] = f->id;
    }
    r = idmap_index(&c->funcs);
    if (r)
        return r;
    r = idmap_alloc(&c->locs, p->n_location);
    if (r < 0)
        return r;
    for (i = 0; i < p->n_location; i++) {
        const PbLocation *l = p->location[i];

        if (l->mapping_id && !idmap_find(&c->maps, l->mapping_id, &idx))
            return PP_PPROF_E_FORMAT;
        for (j = 0; j < l->n_line; j++) {
            if (!idmap_find(&c->funcs, l->line[j]->function_id, &idx))
                return PP_PPROF_E_FORMAT;
        }
        c->locs.ids[i] = l->id;
    }
    r = idmap_index(&c->locs);
    if (r)
        return r;

    /* Samples. */
    if (p->n_sample && p->n_sample_type == 0)
        return PP_PPROF_E_FORMAT;
    for (i = 0; i < p->n_sample; i++) {
        const PbSample *s = p->sample[i];
        uint64_t depth = 0;

        if (s->n_value != p->n_sample_type || s->value[0] < 0)
            return PP_PPROF_E_FORMAT;
        for (j = 0; j < s->n_label; j++) {
            const PbLabel *lb = s->label[j];

            if (!str_ok(p, lb->key) || !str_ok(p, lb->str) || !str_ok(p, lb->num_unit))
                return PP_PPROF_E_FORMAT;
        }
        for (j = 0; j < s->n_location_id; j++) {
            size_t nl;

            if (!idmap_find(&c->locs, s->location_id[j], &idx))
                return PP_PPROF_E_FORMAT;
            nl = p->location[idx]->n_line;
            depth += nl ? nl : 1;
            if (depth > PP_PPROF_MAX_DEPTH)
                return PP_PPROF_E_FORMAT;
        }
    }
    return 0;
}

/* === Reader: conversion ================================================== */

static int intern_str(struct rctx *c, int64_t idx, uint32_t *out)
{
    const char *s = c->p->string_table[idx];
    int r;

    if (c->str_id[idx]) {
        *out = c->str_id[idx] - 1;
        return 0;
    }
    r = pp_strtab_intern(pp_agg_strtab(c->a), s, strlen(s), out);
    if (r < 0)
        return r == -E2BIG ? -ENOMEM : r;
    c->str_id[idx] = *out + 1;
    return 0;
}

static int push_fid(struct rctx *c, const struct pp_frame *f)
{
    uint32_t fid;
    int r;

    r = pp_agg_intern_frame(c->a, f, &fid);
    if (r < 0)
        return r;
    r = pp_grow((void **)&c->fids, &c->cap_fids, c->n_fids + 1, sizeof(*c->fids));
    if (r < 0)
        return r;
    c->fids[c->n_fids++] = fid;
    return 0;
}

/* The frames of location @li, caller first (Line[n - 1] is the outermost), built on first use. */
static int loc_frames(struct rctx *c, size_t li, const uint32_t **out, uint32_t *out_n)
{
    const PbProfile *p = c->p;
    const PbLocation *l = p->location[li];
    size_t start = c->n_fids, j, fi;
    struct pp_frame f;
    int r;

    if (c->loc_off[li]) {
        *out = &c->fids[c->loc_off[li] - 1];
        *out_n = c->loc_n[li];
        return 0;
    }
    if (l->n_line == 0) {
        /* Not symbolised: name it by address, file from the mapping. */
        char name[32];

        snprintf(name, sizeof(name), "0x%" PRIx64, l->address);
        memset(&f, 0, sizeof(f));
        r = pp_strtab_intern(pp_agg_strtab(c->a), name, strlen(name), &f.name);
        if (r < 0)
            return r == -E2BIG ? -ENOMEM : r;
        if (l->mapping_id && idmap_find(&c->maps, l->mapping_id, &fi)) {
            r = intern_str(c, p->mapping[fi]->filename, &f.file);
            if (r < 0)
                return r;
        }
        f.origin = pp_origin_of_path(pp_strtab_str(pp_agg_strtab(c->a), f.file, NULL));
        r = push_fid(c, &f);
        if (r < 0)
            return r;
    }
    for (j = l->n_line; j-- > 0;) {
        const PbLine *ln = l->line[j];
        const PbFunction *fn;
        int64_t name_idx;

        if (!idmap_find(&c->funcs, ln->function_id, &fi))
            return PP_PPROF_E_FORMAT; /* validate() checked */
        fn = p->function[fi];
        name_idx = fn->name;
        if (p->string_table[name_idx][0] == '\0')
            name_idx = fn->system_name;
        memset(&f, 0, sizeof(f));
        r = intern_str(c, name_idx, &f.name);
        if (r < 0)
            return r;
        r = intern_str(c, fn->filename, &f.file);
        if (r < 0)
            return r;
        f.line = ln->line > 0 && ln->line <= UINT32_MAX ? (uint32_t)ln->line : 0;
        f.origin = pp_origin_of_path(p->string_table[fn->filename]);
        r = push_fid(c, &f);
        if (r < 0)
            return r;
    }
    c->loc_off[li] = start + 1;
    c->loc_n[li] = (uint32_t)(c->n_fids - start);
    *out = &c->fids[start];
    *out_n = c->loc_n[li];
    return 0;
}

/* The sample's thread from its thread_id (num, or a decimal str) and thread_name labels. */
static int sample_thread(struct rctx *c, const PbSample *s, uint32_t *out)
{
    const PbProfile *p = c->p;
    uint64_t tid = 0;
    int64_t name_idx = 0;
    bool have_tid = false, have_name = false;
    uint32_t name = 0;
    size_t j;
    int r;

    for (j = 0; j < s->n_label; j++) {
        const PbLabel *lb = s->label[j];
        const char *key = p->string_table[lb->key];

        if (!have_tid && strcmp(key, "thread_id") == 0) {
            const char *v = p->string_table[lb->str];

            have_tid = true;
            if (lb->str == 0) {
                tid = (uint64_t)lb->num;
            } else if (*v >= '0' && *v <= '9') {
                char *end;

                errno = 0;
                tid = strtoull(v, &end, 10);
                if (*end || errno)
                    tid = 0;
            }
        } else if (!have_name && strcmp(key, "thread_name") == 0) {
            have_name = true;
            name_idx = lb->str;
        }
    }
    r = intern_str(c, name_idx, &name);
    if (r < 0)
        return r;
    return pp_agg_intern_thread(c->a, tid, name, out);
}

static int add_samples(struct rctx *c)
{
    const PbProfile *p = c->p;
    size_t i, j, idx;
    int r;

    for (i = 0; i < p->n_sample; i++) {
        const PbSample *s = p->sample[i];
        size_t depth = 0;
        uint32_t thread;

        /* Root first: the last location id is the root; each location's frames are caller
         * first already. validate() bounded the depth. */
        for (j = s->n_location_id; j-- > 0;) {
            const uint32_t *lf;
            uint32_t n;

            if (!idmap_find(&c->locs, s->location_id[j], &idx))
                return PP_PPROF_E_FORMAT;
            r = loc_frames(c, idx, &lf, &n);
            if (r)
                return r;
            r = pp_grow((void **)&c->stack, &c->cap_stack, depth + n, sizeof(*c->stack));
            if (r < 0)
                return r;
            memcpy(&c->stack[depth], lf, n * sizeof(*lf));
            depth += n;
        }
        r = sample_thread(c, s, &thread);
        if (r < 0)
            return r;
        r = pp_agg_add(c->a, thread, c->stack, (uint32_t)depth, (uint64_t)s->value[0]);
        if (r < 0)
            return r;
    }
    return 0;
}

/* What the profile says about time; fields it says nothing about are left as they are. */
static void read_meta(const PbProfile *p, struct pp_meta *m)
{
    const PbValueType *pt = p->period_type;

    if (p->duration_nanos > 0)
        m->duration_ns = (uint64_t)p->duration_nanos;
    if (p->time_nanos > 0)
        m->start_unix_ns = (uint64_t)p->time_nanos;
    if (!pt)
        return;
    if (strcmp(p->string_table[pt->unit], "nanoseconds") == 0 && p->period > 0)
        m->rate_hz = 1e9 / (double)p->period;
    m->wall = strcmp(p->string_table[pt->type], "wall") == 0;
}

int pp_pprof_read(struct pp_agg *a, const void *buf, size_t len, struct pp_meta *m)
{
    const uint8_t *b = buf;
    uint8_t *raw = NULL;
    size_t raw_len = len;
    PbProfile *p = NULL;
    struct rctx c;
    int r;

    memset(&c, 0, sizeof(c));
    c.a = a;
    if (len && !buf)
        return pp_err_origin(-EINVAL);
    if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
        r = gunzip(b, len, &raw, &raw_len);
        if (r)
            goto out;
        b = raw;
    }
    if (raw_len > MAX_UNCOMPRESSED) {
        r = PP_PPROF_E_FORMAT;
        goto out;
    }
    p = perftools__profiles__profile__unpack(NULL, raw_len, b);
    if (!p) {
        r = PP_PPROF_E_FORMAT; /* not a Profile (or out of memory: protobuf-c cannot tell) */
        goto out;
    }
    free(raw);
    raw = NULL;
    c.p = p;
    r = validate(&c);
    if (r)
        goto out;

    c.str_id = calloc(p->n_string_table, sizeof(*c.str_id));
    c.loc_off = calloc(p->n_location + 1, sizeof(*c.loc_off));
    c.loc_n = calloc(p->n_location + 1, sizeof(*c.loc_n));
    if (!c.str_id || !c.loc_off || !c.loc_n) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    r = add_samples(&c);
    if (r)
        goto out;
    if (m)
        read_meta(p, m);
out:
    free(c.stack);
    free(c.fids);
    free(c.loc_n);
    free(c.loc_off);
    free(c.str_id);
    idmap_deinit(&c.locs);
    idmap_deinit(&c.funcs);
    idmap_deinit(&c.maps);
    if (p)
        perftools__profiles__profile__free_unpacked(p, NULL);
    free(raw);
    return r;
}
