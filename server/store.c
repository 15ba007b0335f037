/* SPDX-License-Identifier: MIT */
/* store: profiles by series and time in SQLite; 10 s buckets plus exact roll-ups (see store.h). */
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "pyprof/err.h"

#define POOL_MAX 8                 /* idle reader connections kept */
#define BLOB_MAGIC "PPB1"
#define BLOB_F_DEFLATE 1u
#define SIZE_TARGET_PCT 90         /* size retention drops down to this share of the limit */

enum {
    BLOB_E_NONE = 0,
    BLOB_E_CORRUPT, /* not a blob of ours, or one that breaks its own lengths and ids */
};

static const int64_t level_span[STORE_N_LEVELS] = {10, 60, 600, 3600};

/* A growable byte buffer. */
struct buf {
    uint8_t *p;
    size_t n, cap;
};

/*
 * Reusable (de)compression state and scratch buffers: zlib's deflate state is ~270 KiB, and
 * allocating it per call costs page faults and TLB shootdowns on every put. One codec per
 * connection (decoding) and a pool of them in the store (encoding, outside any connection).
 */
struct codec {
    z_stream z;
    int z_mode;          /* 0 none, 1 deflate, 2 inflate */
    struct buf raw;      /* the uncompressed payload */
    struct buf out;      /* the encoded blob (encoders) */
};

#define CODEC_KEEP (4u << 20) /* buffers above this are freed after use */

/* One SQLite connection and its statements; used by one thread at a time. */
struct conn {
    sqlite3 *db;
    struct codec dec;
    sqlite3_stmt *range;  /* (sid, level, a, b) -> t, id, total */
    sqlite3_stmt *blob;   /* (id) -> blob */
    sqlite3_stmt *by_app; /* (app) -> id, labels */
};

struct store {
    char *dir;
    char *path;
    char *wal_path;
    struct store_opts o;

    pthread_mutex_t wlock; /* the writer connection and everything below */
    struct conn w;
    sqlite3_stmt *series_get, *series_ins, *label_ins, *bucket_ins, *rollup_del, *dirty_up;
    sqlite3_stmt *gen_bump;

    pthread_mutex_t mlock; /* the maintenance thread's flags; taken after wlock, never before */
    pthread_cond_t mcond;
    bool want_ckpt, stop, maint_started;
    pthread_t maint;

    pthread_mutex_t plock; /* the pools */
    struct conn *pool[POOL_MAX];
    size_t n_pool;
    struct codec *encoders[POOL_MAX];
    size_t n_encoders;

    atomic_uint_fast64_t corrupt_blobs, trees_merged, compactions;
};

static int wal_hook(void *arg, sqlite3 *db, const char *name, int n_frames);
static void *maint_main(void *arg);

/* A growable id vector. */

struct idvec {
    int64_t *v;
    size_t n, cap;
};


/* === Small helpers ======================================================== */

static int64_t floor_to(int64_t x, int64_t m)
{
    int64_t q = x / m;

    if (x % m && x < 0)
        q--;
    return q * m;
}

static int64_t ceil_to(int64_t x, int64_t m)
{
    return -floor_to(-x, m);
}

static int sqlite_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_TOOBIG:
        return -E2BIG;
    default:
        return -EIO;
    }
}

static int buf_reserve(struct buf *b, size_t more)
{
    size_t want = b->n + more, cap = b->cap ? b->cap : 256;
    uint8_t *p;

    if (want <= b->cap)
        return 0;
    if (want < b->n)
        return -ENOMEM;
    while (cap < want)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_varint(struct buf *b, uint64_t v)
{
    int r = buf_reserve(b, 10);

    if (r)
        return r;
    while (v >= 0x80) {
        b->p[b->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->p[b->n++] = (uint8_t)v;
    return 0;
}

static int buf_bytes(struct buf *b, const void *p, size_t n)
{
    int r = buf_reserve(b, n);

    if (r)
        return r;
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

static int idvec_push(struct idvec *v, int64_t id)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int64_t *p = realloc(v->v, cap * sizeof(*p));

        if (!p)
            return -ENOMEM;
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = id;
    return 0;
}

/* A bounded reader over untrusted bytes: every get fails once past the end. */
struct rd {
    const uint8_t *p, *end;
};

static bool rd_varint(struct rd *r, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t c;

        if (r->p >= r->end)
            return false;
        c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static size_t rd_left(const struct rd *r)
{
    return (size_t)(r->end - r->p);
}

/* === Codecs =============================================================== */

static void codec_trim(struct codec *c)
{
    if (c->raw.cap > CODEC_KEEP) {
        free(c->raw.p);
        c->raw = (struct buf){0};
    }
    if (c->out.cap > CODEC_KEEP) {
        free(c->out.p);
        c->out = (struct buf){0};
    }
    c->raw.n = 0;
    c->out.n = 0;
}

static void codec_deinit(struct codec *c)
{
    if (c->z_mode == 1)
        deflateEnd(&c->z);
    else if (c->z_mode == 2)
        inflateEnd(&c->z);
    free(c->raw.p);
    free(c->out.p);
    memset(c, 0, sizeof(*c));
}

/* codec_zinit() - make @c->z a deflate (@mode 1) or inflate (2) stream. 0 or -ENOMEM. */
static int codec_zinit(struct codec *c, int mode)
{
    int zr;

    if (c->z_mode == mode)
        return 0;
    memset(&c->z, 0, sizeof(c->z));
    zr = mode == 1 ? deflateInit(&c->z, 1) : inflateInit(&c->z);
    if (zr != Z_OK)
        return -ENOMEM;
    c->z_mode = mode;
    return 0;
}

/* === Blob encoding ======================================================== */

/*
 * blob_encode() - encode the stacks of @a with count > 0 (threads merged away) into @c->out and
 * their total into *total. Returns 0, -E2BIG (limits in store.h) or -ENOMEM.
 */
static int blob_encode(const struct pp_agg *a, struct codec *c, uint64_t *total)
{
    struct buf *out = &c->out;
    const struct pp_strtab *st = pp_agg_strtab_const(a);
    uint32_t n_str_all = pp_strtab_count(st), n_fr_all = pp_agg_n_frames(a);
    uint32_t *smap = NULL, *fmap = NULL, *strs = NULL, *frs = NULL, *prev = NULL;
    uint32_t n_strs = 0, n_frs = 0, n_prev = 0;
    size_t n_stacks = pp_agg_n_stacks(a), n_keep = 0;
    struct buf raw = c->raw;
    uint64_t sum = 0;
    int r = -ENOMEM;

    raw.n = 0;
    smap = malloc(((size_t)n_str_all + 1) * sizeof(*smap));
    strs = malloc(((size_t)n_str_all + 1) * sizeof(*strs));
    fmap = malloc(((size_t)n_fr_all + 1) * sizeof(*fmap));
    frs = malloc(((size_t)n_fr_all + 1) * sizeof(*frs));
    prev = malloc(STORE_MAX_DEPTH * sizeof(*prev));
    if (!smap || !strs || !fmap || !frs || !prev)
        goto out;
    memset(smap, 0xff, ((size_t)n_str_all + 1) * sizeof(*smap));
    memset(fmap, 0xff, ((size_t)n_fr_all + 1) * sizeof(*fmap));
    smap[0] = 0;

    /* Pass 1: number the frames and strings the stacks use, check the limits. */
    for (size_t i = 0; i < n_stacks; i++) {
        struct pp_stack_view v;

        pp_agg_stack(a, i, &v);
        if (!v.count)
            continue;
        if (v.n_fids > STORE_MAX_DEPTH) {
            r = -E2BIG;
            goto out;
        }
        n_keep++;
        sum += v.count;
        for (uint32_t j = 0; j < v.n_fids; j++) {
            uint32_t fid = v.fids[j];
            const struct pp_frame *f;
            uint32_t ids[2];

            if (fmap[fid] != UINT32_MAX)
                continue;
            f = pp_agg_frame_get(a, fid);
            fmap[fid] = n_frs;
            frs[n_frs++] = fid;
            ids[0] = f->name;
            ids[1] = f->file;
            for (int k = 0; k < 2; k++) {
                size_t len = 0;

                if (smap[ids[k]] != UINT32_MAX)
                    continue;
                pp_strtab_str(st, ids[k], &len);
                if (len > STORE_MAX_STRING) {
                    r = -E2BIG;
                    goto out;
                }
                smap[ids[k]] = ++n_strs; /* 0 is "" */
                strs[n_strs - 1] = ids[k];
            }
        }
    }

    /* Pass 2: strings, frames, stacks (prefix-shared with the previous one). */
    r = buf_varint(&raw, n_strs);
    for (uint32_t i = 0; !r && i < n_strs; i++) {
        size_t len = 0;
        const char *s = pp_strtab_str(st, strs[i], &len);

        r = buf_varint(&raw, len);
        if (!r)
            r = buf_bytes(&raw, s, len);
    }
    if (!r)
        r = buf_varint(&raw, n_frs);
    for (uint32_t i = 0; !r && i < n_frs; i++) {
        const struct pp_frame *f = pp_agg_frame_get(a, frs[i]);

        r = buf_varint(&raw, smap[f->name]);
        if (!r)
            r = buf_varint(&raw, smap[f->file]);
        if (!r)
            r = buf_varint(&raw, f->line);
        if (!r)
            r = buf_varint(&raw, f->origin);
    }
    if (!r)
        r = buf_varint(&raw, n_keep);
    for (size_t i = 0; !r && i < n_stacks; i++) {
        struct pp_stack_view v;
        uint32_t keep = 0;

        pp_agg_stack(a, i, &v);
        if (!v.count)
            continue;
        while (keep < n_prev && keep < v.n_fids && prev[keep] == fmap[v.fids[keep]])
            keep++;
        r = buf_varint(&raw, v.count);
        if (!r)
            r = buf_varint(&raw, keep);
        if (!r)
            r = buf_varint(&raw, v.n_fids - keep);
        for (uint32_t j = keep; !r && j < v.n_fids; j++) {
            prev[j] = fmap[v.fids[j]];
            r = buf_varint(&raw, prev[j]);
        }
        n_prev = v.n_fids;
    }
    if (r)
        goto out;
    if (raw.n > STORE_MAX_BLOB) {
        r = -E2BIG;
        goto out;
    }

    /* Header, then the payload deflated when that pays. */
    out->n = 0;
    r = buf_bytes(out, BLOB_MAGIC, 4);
    if (r)
        goto out;
    if (raw.n >= 64) {
        uLongf clen = compressBound((uLong)raw.n);
        struct buf hdr = {0};
        int zr;

        r = buf_varint(&hdr, raw.n);
        if (!r)
            r = buf_reserve(out, 1 + hdr.n + clen);
        if (r) {
            free(hdr.p);
            goto out;
        }
        out->p[out->n] = BLOB_F_DEFLATE;
        memcpy(out->p + out->n + 1, hdr.p, hdr.n);
        r = codec_zinit(c, 1);
        if (r) {
            free(hdr.p);
            goto out;
        }
        deflateReset(&c->z);
        c->z.next_in = raw.p;
        c->z.avail_in = (uInt)raw.n;
        c->z.next_out = out->p + out->n + 1 + hdr.n;
        c->z.avail_out = (uInt)clen;
        zr = deflate(&c->z, Z_FINISH);
        clen = c->z.total_out;
        if (zr == Z_STREAM_END && clen < raw.n) {
            out->n += 1 + hdr.n + clen;
            free(hdr.p);
            goto done;
        }
        free(hdr.p);
    }
    r = buf_reserve(out, 1);
    if (r)
        goto out;
    out->p[out->n++] = 0;
    r = buf_varint(out, raw.n);
    if (!r)
        r = buf_bytes(out, raw.p, raw.n);
    if (r)
        goto out;
done:
    *total = sum;
    r = 0;
out:
    free(smap);
    free(strs);
    free(fmap);
    free(frs);
    free(prev);
    c->raw = raw; /* kept for the next call */
    return r;
}

/*
 * blob_decode() - add the stacks of blob @p (@len bytes, untrusted) to @out, all on thread 0.
 * Everything is checked before @out changes. Returns 0, BLOB_E_CORRUPT or -ENOMEM (@out may then
 * hold part of the blob).
 */
static int blob_decode(const void *p, size_t len, struct pp_agg *out, struct codec *c)
{
    struct rd r = {p, (const uint8_t *)p + len}, pl;
    const uint8_t **sp = NULL;
    uint32_t *slen = NULL, *smap = NULL, *fr = NULL, *fmap = NULL, *stack = NULL;
    uint64_t raw_len, n_str, n_fr, n_stacks, v;
    const uint8_t *stacks_at;
    struct pp_strtab *st = pp_agg_strtab(out);
    uint32_t thread;
    uint8_t flags;
    int rc = BLOB_E_CORRUPT;

    if (len < 5 || memcmp(p, BLOB_MAGIC, 4) != 0)
        goto out;
    r.p += 4;
    flags = *r.p++;
    if (flags & ~BLOB_F_DEFLATE || !rd_varint(&r, &raw_len) || raw_len > STORE_MAX_BLOB)
        goto out;
    if (flags & BLOB_F_DEFLATE) {
        int zr;

        c->raw.n = 0;
        if (buf_reserve(&c->raw, raw_len + 1) || codec_zinit(c, 2)) {
            rc = -ENOMEM;
            goto out;
        }
        inflateReset(&c->z);
        c->z.next_in = (Bytef *)r.p;
        c->z.avail_in = (uInt)rd_left(&r);
        c->z.next_out = c->raw.p;
        c->z.avail_out = (uInt)raw_len + 1;
        zr = inflate(&c->z, Z_FINISH);
        if (zr != Z_STREAM_END || c->z.total_out != raw_len || c->z.avail_in)
            goto out;
        pl = (struct rd){c->raw.p, c->raw.p + raw_len};
    } else {
        if (rd_left(&r) != raw_len)
            goto out;
        pl = r;
    }

    /* Strings. */
    if (!rd_varint(&pl, &n_str) || n_str > rd_left(&pl))
        goto out;
    sp = malloc((n_str + 1) * sizeof(*sp));
    slen = malloc((n_str + 1) * sizeof(*slen));
    smap = malloc((n_str + 1) * sizeof(*smap));
    if (!sp || !slen || !smap) {
        rc = -ENOMEM;
        goto out;
    }
    sp[0] = (const uint8_t *)"";
    slen[0] = 0;
    for (uint64_t i = 1; i <= n_str; i++) {
        if (!rd_varint(&pl, &v) || v > STORE_MAX_STRING || v > rd_left(&pl))
            goto out;
        sp[i] = pl.p;
        slen[i] = (uint32_t)v;
        pl.p += v;
    }

    /* Frames. */
    if (!rd_varint(&pl, &n_fr) || n_fr > rd_left(&pl) / 4)
        goto out;
    fr = malloc((n_fr + 1) * 4 * sizeof(*fr));
    fmap = malloc((n_fr + 1) * sizeof(*fmap));
    stack = malloc(STORE_MAX_DEPTH * sizeof(*stack));
    if (!fr || !fmap || !stack) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint64_t i = 0; i < n_fr; i++) {
        uint64_t f[4];

        for (int k = 0; k < 4; k++) {
            if (!rd_varint(&pl, &f[k]))
                goto out;
        }
        if (f[0] > n_str || f[1] > n_str || f[2] > UINT32_MAX || f[3] > PP_ORIGIN_NATIVE)
            goto out;
        for (int k = 0; k < 4; k++)
            fr[i * 4 + k] = (uint32_t)f[k];
    }

    /* Stacks: validate all of them first. */
    if (!rd_varint(&pl, &n_stacks) || n_stacks > rd_left(&pl) / 3)
        goto out;
    stacks_at = pl.p;
    {
        uint64_t depth = 0;

        for (uint64_t i = 0; i < n_stacks; i++) {
            uint64_t count, keep, n_new;

            if (!rd_varint(&pl, &count) || !rd_varint(&pl, &keep) || !rd_varint(&pl, &n_new))
                goto out;
            if (keep > depth || n_new > STORE_MAX_DEPTH - keep)
                goto out;
            for (uint64_t j = 0; j < n_new; j++) {
                if (!rd_varint(&pl, &v) || v >= n_fr)
                    goto out;
            }
            depth = keep + n_new;
        }
        if (pl.p != pl.end)
            goto out;
    }

    /* Apply. */
    rc = pp_agg_intern_thread(out, 0, 0, &thread);
    if (rc)
        goto out;
    smap[0] = 0;
    for (uint64_t i = 1; i <= n_str; i++) {
        rc = pp_strtab_intern(st, (const char *)sp[i], slen[i], &smap[i]);
        if (rc)
            goto out;
    }
    for (uint64_t i = 0; i < n_fr; i++) {
        struct pp_frame f = {smap[fr[i * 4]], smap[fr[i * 4 + 1]], fr[i * 4 + 2], fr[i * 4 + 3]};

        rc = pp_agg_intern_frame(out, &f, &fmap[i]);
        if (rc)
            goto out;
    }
    pl.p = stacks_at;
    for (uint64_t i = 0; i < n_stacks; i++) {
        uint64_t count, keep, n_new;

        rd_varint(&pl, &count);
        rd_varint(&pl, &keep);
        rd_varint(&pl, &n_new);
        for (uint64_t j = 0; j < n_new; j++) {
            rd_varint(&pl, &v);
            stack[keep + j] = fmap[v];
        }
        rc = pp_agg_add(out, thread, stack, (uint32_t)(keep + n_new), count);
        if (rc)
            goto out;
    }
    rc = 0;
out:
    codec_trim(c);
    free(sp);
    free(slen);
    free(smap);
    free(fr);
    free(fmap);
    free(stack);
    return rc < 0 ? pp_err_trace(rc) : rc;
}

/* === Connections ========================================================== */

static void conn_close(struct conn *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->range);
    sqlite3_finalize(c->blob);
    sqlite3_finalize(c->by_app);
    sqlite3_close(c->db);
    codec_deinit(&c->dec);
    memset(c, 0, sizeof(*c));
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
    int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);

    if (rc == SQLITE_OK)
        return 0;
    return sqlite_errno(rc) ? sqlite_errno(rc) : -EIO;
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite_errno(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

static int conn_open(struct conn *c, const char *path, char *err, size_t errlen)
{
    int rc;

    memset(c, 0, sizeof(*c));
    rc = sqlite3_open_v2(path, &c->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (err)
            snprintf(err, errlen, "%s: %s", path, c->db ? sqlite3_errmsg(c->db) : "cannot open");
        rc = sqlite_errno(rc);
        goto fail;
    }
    sqlite3_busy_timeout(c->db, 10000);
    rc = exec(c->db, "PRAGMA mmap_size=268435456; PRAGMA cache_size=-16000");
    if (rc)
        goto fail;
    return 0;
fail:
    sqlite3_close(c->db);
    c->db = NULL;
    return rc ? rc : -EIO;
}

static int conn_prepare(struct conn *c)
{
    int r = prep(c->db,
                 "SELECT t, id, total FROM bucket WHERE series_id=?1 AND level=?2 AND t>=?3 "
                 "AND t<?4 ORDER BY t",
                 &c->range);

    if (!r)
        r = prep(c->db, "SELECT blob FROM bucket WHERE id=?1", &c->blob);
    if (!r)
        r = prep(c->db, "SELECT id, labels FROM series WHERE app=?1", &c->by_app);
    return r;
}

static int reader_get(struct store *s, struct conn **out)
{
    struct conn *c = NULL;
    int r;

    pthread_mutex_lock(&s->plock);
    if (s->n_pool)
        c = s->pool[--s->n_pool];
    pthread_mutex_unlock(&s->plock);
    if (c) {
        *out = c;
        return 0;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    r = conn_open(c, s->path, NULL, 0);
    if (!r)
        r = conn_prepare(c);
    if (r) {
        conn_close(c);
        free(c);
        return r;
    }
    *out = c;
    return 0;
}

static void reader_put(struct store *s, struct conn *c)
{
    pthread_mutex_lock(&s->plock);
    if (s->n_pool < POOL_MAX) {
        s->pool[s->n_pool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->plock);
    if (c) {
        conn_close(c);
        free(c);
    }
}

static int encoder_get(struct store *s, struct codec **out)
{
    struct codec *c = NULL;

    pthread_mutex_lock(&s->plock);
    if (s->n_encoders)
        c = s->encoders[--s->n_encoders];
    pthread_mutex_unlock(&s->plock);
    if (!c)
        c = calloc(1, sizeof(*c));
    *out = c;
    return c ? 0 : -ENOMEM;
}

static void encoder_put(struct store *s, struct codec *c)
{
    if (!c)
        return;
    codec_trim(c);
    pthread_mutex_lock(&s->plock);
    if (s->n_encoders < POOL_MAX) {
        s->encoders[s->n_encoders++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->plock);
    if (c) {
        codec_deinit(c);
        free(c);
    }
}

static uint64_t disk_bytes(const struct store *s)
{
    struct stat st;
    uint64_t n = 0;

    if (stat(s->path, &st) == 0)
        n += (uint64_t)st.st_size;
    if (stat(s->wal_path, &st) == 0)
        n += (uint64_t)st.st_size;
    return n;
}

/* === Open / close ========================================================= */

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS series(id INTEGER PRIMARY KEY, app TEXT NOT NULL,"
    " labels TEXT NOT NULL, sample_rate INTEGER, spy_name TEXT, units TEXT, aggregation TEXT,"
    " UNIQUE(app, labels));"
    "CREATE TABLE IF NOT EXISTS label(key TEXT NOT NULL, value TEXT NOT NULL,"
    " series_id INTEGER NOT NULL, PRIMARY KEY(key, value, series_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS label_series ON label(series_id);"
    "CREATE TABLE IF NOT EXISTS bucket(id INTEGER PRIMARY KEY, series_id INTEGER NOT NULL,"
    " level INTEGER NOT NULL, t INTEGER NOT NULL, total INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL, blob BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS bucket_slt ON bucket(series_id, level, t, total);"
    "CREATE INDEX IF NOT EXISTS bucket_lt ON bucket(level, t);"
    "CREATE TABLE IF NOT EXISTS dirty(level INTEGER NOT NULL, t INTEGER NOT NULL,"
    " series_id INTEGER NOT NULL, since INTEGER NOT NULL, gen INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(level, t, series_id))"
    " WITHOUT ROWID;"
    "PRAGMA user_version=1;";

static int writer_open(struct store *s, char *err, size_t errlen)
{
    char sql[128];
    int r;

    r = conn_open(&s->w, s->path, err, errlen);
    if (r)
        return r;
    /* auto_vacuum only takes on a new database: before the first table. */
    r = exec(s->w.db, "PRAGMA auto_vacuum=INCREMENTAL");
    if (!r) {
        sqlite3_stmt *st = NULL;

        r = prep(s->w.db, "PRAGMA journal_mode=WAL", &st);
        if (!r && (sqlite3_step(st) != SQLITE_ROW ||
                   strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0))
            r = -EIO;
        sqlite3_finalize(st);
    }
    snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s; PRAGMA journal_size_limit=67108864",
             s->o.sync_full ? "FULL" : "NORMAL");
    if (!r)
        r = exec(s->w.db, sql);
    if (!r)
        r = exec(s->w.db, schema);
    if (!r)
        r = conn_prepare(&s->w);
    if (!r)
        r = prep(s->w.db, "SELECT id FROM series WHERE app=?1 AND labels=?2", &s->series_get);
    if (!r)
        r = prep(s->w.db,
                 "INSERT INTO series(app, labels, sample_rate, spy_name, units, aggregation)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                 &s->series_ins);
    if (!r)
        r = prep(s->w.db, "INSERT OR IGNORE INTO label(key, value, series_id) VALUES(?1, ?2, ?3)",
                 &s->label_ins);
    if (!r)
        r = prep(s->w.db,
                 "INSERT INTO bucket(series_id, level, t, total, bytes, blob)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                 &s->bucket_ins);
    if (!r)
        r = prep(s->w.db, "DELETE FROM bucket WHERE series_id=?1 AND level=?2 AND t=?3",
                 &s->rollup_del);
    if (!r)
        r = prep(s->w.db,
                 "INSERT INTO dirty(level, t, series_id, since) VALUES(?1, ?2, ?3, ?4)"
                 " ON CONFLICT DO UPDATE SET since=max(since, excluded.since), gen=gen+1",
                 &s->dirty_up);
    if (!r)
        r = prep(s->w.db,
                 "UPDATE dirty SET gen=gen+1 WHERE level=?1 AND t=?2 AND series_id=?3",
                 &s->gen_bump);
    if (!r && !s->o.manual_maintenance)
        sqlite3_wal_hook(s->w.db, wal_hook, s);
    if (r && err && !err[0])
        snprintf(err, errlen, "%s: %s", s->path, sqlite3_errmsg(s->w.db));
    return r;
}

struct store *store_close(struct store *s)
{
    if (!s)
        return NULL;
    if (s->maint_started) {
        pthread_mutex_lock(&s->mlock);
        s->stop = true;
        pthread_cond_signal(&s->mcond);
        pthread_mutex_unlock(&s->mlock);
        pthread_join(s->maint, NULL);
    }
    if (s->w.db) {
        sqlite3_finalize(s->series_get);
        sqlite3_finalize(s->series_ins);
        sqlite3_finalize(s->label_ins);
        sqlite3_finalize(s->bucket_ins);
        sqlite3_finalize(s->rollup_del);
        sqlite3_finalize(s->dirty_up);
        sqlite3_finalize(s->gen_bump);
    }
    for (size_t i = 0; i < s->n_pool; i++) {
        conn_close(s->pool[i]);
        free(s->pool[i]);
    }
    for (size_t i = 0; i < s->n_encoders; i++) {
        codec_deinit(s->encoders[i]);
        free(s->encoders[i]);
    }
    /* The last connection to close checkpoints the WAL into the main file. */
    conn_close(&s->w);
    pthread_mutex_destroy(&s->wlock);
    pthread_mutex_destroy(&s->plock);
    pthread_mutex_destroy(&s->mlock);
    pthread_cond_destroy(&s->mcond);
    free(s->dir);
    free(s->path);
    free(s->wal_path);
    free(s);
    return NULL;
}

int store_open(struct store **out, const struct store_opts *o, char *err, size_t errlen)
{
    struct store *s = NULL;
    size_t n;
    int r;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!o || !o->dir || !o->dir[0]) {
        if (err)
            snprintf(err, errlen, "no data directory");
        return -EINVAL;
    }
    if (mkdir(o->dir, 0750) < 0 && errno != EEXIST) {
        r = -errno;
        if (err)
            snprintf(err, errlen, "mkdir %s: %s", o->dir, strerror(-r));
        return pp_err_origin(r);
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->wlock, NULL);
    pthread_mutex_init(&s->plock, NULL);
    pthread_mutex_init(&s->mlock, NULL);
    pthread_cond_init(&s->mcond, NULL);
    s->o = *o;
    n = strlen(o->dir) + sizeof("/pyprof.db-wal");
    s->dir = strdup(o->dir);
    s->path = malloc(n);
    s->wal_path = malloc(n);
    if (!s->dir || !s->path || !s->wal_path) {
        r = -ENOMEM;
        goto out;
    }
    s->o.dir = s->dir;
    snprintf(s->path, n, "%s/pyprof.db", o->dir);
    snprintf(s->wal_path, n, "%s/pyprof.db-wal", o->dir);
    r = writer_open(s, err, errlen);
    if (r)
        goto out;
    if (!o->manual_maintenance) {
        r = -pthread_create(&s->maint, NULL, maint_main, s);
        if (r) {
            if (err)
                snprintf(err, errlen, "pthread_create: %s", strerror(-r));
            goto out;
        }
        s->maint_started = true;
    }
    *out = s;
    s = NULL;
out:
    store_close(s);
    return pp_err_trace(r);
}

/* === Query planning ======================================================= */

/*
 * collect() - ids of the rows that exactly cover series @sid over the 10 s buckets in [@a, @b)
 * (multiples of 10), using levels <= @level, coarsest first: a roll-up row where one exists,
 * finer levels for the gaps and the edges. With @tv non-NULL, also each row's t and total in
 * @tv and @totv (in step with @ids).
 */
static int collect(struct conn *c, int64_t sid, int level, int64_t a, int64_t b,
                   struct idvec *ids, struct idvec *tv, struct idvec *totv)
{
    struct idvec ts = {0}, rows = {0}, tots = {0};
    int64_t span = level_span[level], ia, ib, cur;
    int rc, r = 0;

    if (a >= b)
        return 0;
    ia = ceil_to(a, span);
    ib = floor_to(b, span);
    if (ia >= ib)
        return collect(c, sid, level - 1, a, b, ids, tv, totv);

    /* Read this level's rows first: the recursion reuses the statement. */
    sqlite3_bind_int64(c->range, 1, sid);
    sqlite3_bind_int(c->range, 2, level);
    sqlite3_bind_int64(c->range, 3, ia);
    sqlite3_bind_int64(c->range, 4, ib);
    while ((rc = sqlite3_step(c->range)) == SQLITE_ROW) {
        if (!level) {
            r = idvec_push(ids, sqlite3_column_int64(c->range, 1));
            if (!r && tv)
                r = idvec_push(tv, sqlite3_column_int64(c->range, 0));
            if (!r && tv)
                r = idvec_push(totv, sqlite3_column_int64(c->range, 2));
        } else {
            r = idvec_push(&ts, sqlite3_column_int64(c->range, 0));
            if (!r)
                r = idvec_push(&rows, sqlite3_column_int64(c->range, 1));
            if (!r && tv)
                r = idvec_push(&tots, sqlite3_column_int64(c->range, 2));
        }
        if (r)
            break;
    }
    sqlite3_reset(c->range);
    if (!r && rc != SQLITE_DONE)
        r = sqlite_errno(rc) ? sqlite_errno(rc) : -EIO;
    if (r || !level)
        goto out;

    r = collect(c, sid, level - 1, a, ia, ids, tv, totv);
    cur = ia;
    for (size_t i = 0; !r && i < rows.n; i++) {
        if (ts.v[i] > cur)
            r = collect(c, sid, level - 1, cur, ts.v[i], ids, tv, totv);
        if (!r)
            r = idvec_push(ids, rows.v[i]);
        if (!r && tv)
            r = idvec_push(tv, ts.v[i]);
        if (!r && tv)
            r = idvec_push(totv, tots.v[i]);
        cur = ts.v[i] + span;
    }
    if (!r)
        r = collect(c, sid, level - 1, cur, ib, ids, tv, totv);
    if (!r)
        r = collect(c, sid, level - 1, ib, b, ids, tv, totv);
out:
    free(ts.v);
    free(rows.v);
    free(tots.v);
    return r;
}

/* merge_ids() - decode the blobs of rows @ids into @out; corrupt ones are counted and skipped. */
static int merge_ids(struct store *s, struct conn *c, const struct idvec *ids, struct pp_agg *out)
{
    int r = 0;

    for (size_t i = 0; i < ids->n && !r; i++) {
        int rc;

        sqlite3_bind_int64(c->blob, 1, ids->v[i]);
        rc = sqlite3_step(c->blob);
        if (rc == SQLITE_ROW) {
            const void *p = sqlite3_column_blob(c->blob, 0);
            int len = sqlite3_column_bytes(c->blob, 0);

            r = blob_decode(p, (size_t)(len > 0 ? len : 0), out, &c->dec);
            if (r > 0) {
                atomic_fetch_add(&s->corrupt_blobs, 1);
                r = 0;
            }
            atomic_fetch_add(&s->trees_merged, 1);
        } else if (rc != SQLITE_DONE) {
            r = sqlite_errno(rc);
            if (!r)
                r = -EIO;
        }
        sqlite3_reset(c->blob);
    }
    return r;
}

/* === Put and compaction =================================================== */

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    return sqlite_errno(rc) ? sqlite_errno(rc) : -EIO;
}

static int series_id(struct store *s, const struct series_key *key, const struct store_meta *m,
                     int64_t *out)
{
    const char *p;
    int rc, r;

    sqlite3_bind_text(s->series_get, 1, key->app, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->series_get, 2, key->labels, -1, SQLITE_STATIC);
    rc = sqlite3_step(s->series_get);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s->series_get, 0);
    sqlite3_reset(s->series_get);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return sqlite_errno(rc) ? sqlite_errno(rc) : -EIO;

    sqlite3_bind_text(s->series_ins, 1, key->app, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->series_ins, 2, key->labels, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->series_ins, 3, m && m->sample_rate ? m->sample_rate : 100);
    sqlite3_bind_text(s->series_ins, 4, m && m->spy_name ? m->spy_name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s->series_ins, 5, m && m->units ? m->units : "samples", -1, SQLITE_STATIC);
    sqlite3_bind_text(s->series_ins, 6, m && m->aggregation ? m->aggregation : "sum", -1,
                      SQLITE_STATIC);
    r = step_done(s->series_ins);
    if (r)
        return r;
    *out = sqlite3_last_insert_rowid(s->w.db);

    /* Labels "k=v,k2=v2": keys hold no '=' or ','; values no ','. */
    p = key->labels;
    while (*p) {
        const char *end = strchr(p, ','), *eq;

        if (!end)
            end = p + strlen(p);
        eq = memchr(p, '=', (size_t)(end - p));
        if (eq) {
            sqlite3_bind_text(s->label_ins, 1, p, (int)(eq - p), SQLITE_STATIC);
            sqlite3_bind_text(s->label_ins, 2, eq + 1, (int)(end - eq - 1), SQLITE_STATIC);
            sqlite3_bind_int64(s->label_ins, 3, *out);
            r = step_done(s->label_ins);
            if (r)
                return r;
        }
        if (!*end)
            break;
        p = end + 1;
    }
    return 0;
}

static int insert_bucket(struct store *s, int64_t sid, int level, int64_t t, uint64_t total,
                         const struct buf *b)
{
    sqlite3_bind_int64(s->bucket_ins, 1, sid);
    sqlite3_bind_int(s->bucket_ins, 2, level);
    sqlite3_bind_int64(s->bucket_ins, 3, t);
    sqlite3_bind_int64(s->bucket_ins, 4, (int64_t)total);
    sqlite3_bind_int64(s->bucket_ins, 5, (int64_t)b->n);
    sqlite3_bind_blob(s->bucket_ins, 6, b->p, (int)b->n, SQLITE_STATIC);
    return step_done(s->bucket_ins);
}

static int mark_dirty(struct store *s, int level, int64_t t, int64_t sid, int64_t now)
{
    sqlite3_bind_int(s->dirty_up, 1, level);
    sqlite3_bind_int64(s->dirty_up, 2, t);
    sqlite3_bind_int64(s->dirty_up, 3, sid);
    sqlite3_bind_int64(s->dirty_up, 4, now);
    return step_done(s->dirty_up);
}

static int del_rollup(struct store *s, int64_t sid, int level, int64_t t)
{
    sqlite3_bind_int64(s->rollup_del, 1, sid);
    sqlite3_bind_int(s->rollup_del, 2, level);
    sqlite3_bind_int64(s->rollup_del, 3, t);
    return step_done(s->rollup_del);
}

static int dirty_gen(struct conn *c, sqlite3_stmt *st, int level, int64_t t, int64_t sid,
                     int64_t *gen)
{
    int rc;

    (void)c;
    sqlite3_bind_int(st, 1, level);
    sqlite3_bind_int64(st, 2, t);
    sqlite3_bind_int64(st, 3, sid);
    rc = sqlite3_step(st);
    *gen = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return 0;
    return sqlite_errno(rc) ? sqlite_errno(rc) : -EIO;
}

/*
 * compact_window() - rebuild roll-up (@sid, @level, @t). Optimistic: the trees are read and
 * merged on @c (a read snapshot) without the writer lock; the result is committed only if the
 * window's dirty generation did not move meanwhile (every put into the window, every roll-up
 * below it and every retention pass over it bumps it). Returns 0 (also when it lost the race:
 * the window stays dirty) or -errno.
 */
static int compact_window(struct store *s, struct conn *c, int level, int64_t t, int64_t sid)
{
    static const char gen_sql[] = "SELECT gen FROM dirty WHERE level=?1 AND t=?2 AND series_id=?3";
    struct pp_agg *agg = NULL;
    struct idvec ids = {0};
    struct codec *enc = NULL;
    uint64_t total = 0;
    sqlite3_stmt *st = NULL, *wst = NULL;
    int64_t gen, gen2;
    bool in_tx = false, locked = false;
    int r;

    r = pp_agg_new(&agg);
    if (r)
        goto out;
    r = prep(c->db, gen_sql, &st);
    if (r)
        goto out;
    r = exec(c->db, "BEGIN");
    if (r)
        goto out;
    r = dirty_gen(c, st, level, t, sid, &gen);
    if (!r && gen >= 0)
        r = collect(c, sid, level - 1, t, t + level_span[level], &ids, NULL, NULL);
    for (size_t i = 0; !r && i < ids.n; i++) {
        int rc;

        sqlite3_bind_int64(c->blob, 1, ids.v[i]);
        rc = sqlite3_step(c->blob);
        if (rc == SQLITE_ROW) {
            r = blob_decode(sqlite3_column_blob(c->blob, 0),
                            (size_t)sqlite3_column_bytes(c->blob, 0), agg, &c->dec);
            if (r > 0) {
                atomic_fetch_add(&s->corrupt_blobs, 1);
                r = 0;
            }
        }
        sqlite3_reset(c->blob);
    }
    exec(c->db, "COMMIT");
    if (r || gen < 0)
        goto out;
    if (ids.n) {
        r = encoder_get(s, &enc);
        if (!r)
            r = blob_encode(agg, enc, &total);
        if (r)
            goto out;
    }

    pthread_mutex_lock(&s->wlock);
    locked = true;
    r = exec(s->w.db, "BEGIN IMMEDIATE");
    if (r)
        goto out;
    in_tx = true;
    r = prep(s->w.db, gen_sql, &wst);
    if (!r)
        r = dirty_gen(&s->w, wst, level, t, sid, &gen2);
    if (r || gen2 != gen)
        goto out; /* raced with a put or retention: still dirty, try again later */
    r = del_rollup(s, sid, level, t);
    if (!r && ids.n)
        r = insert_bucket(s, sid, level, t, total, &enc->out);
    if (r)
        goto out;
    sqlite3_finalize(wst);
    wst = NULL;
    r = prep(s->w.db, "DELETE FROM dirty WHERE level=?1 AND t=?2 AND series_id=?3", &wst);
    if (r)
        goto out;
    sqlite3_bind_int(wst, 1, level);
    sqlite3_bind_int64(wst, 2, t);
    sqlite3_bind_int64(wst, 3, sid);
    r = step_done(wst);
    /* Levels above 1 are only marked here and by retention: no debounce (since 0). */
    if (!r && level + 1 < STORE_N_LEVELS)
        r = mark_dirty(s, level + 1, floor_to(t, level_span[level + 1]), sid, 0);
    if (r)
        goto out;
    r = exec(s->w.db, "COMMIT");
    if (r)
        goto out;
    in_tx = false;
    atomic_fetch_add(&s->compactions, 1);
out:
    if (in_tx)
        exec(s->w.db, "ROLLBACK");
    if (locked)
        pthread_mutex_unlock(&s->wlock);
    sqlite3_finalize(st);
    sqlite3_finalize(wst);
    free(ids.v);
    encoder_put(s, enc);
    pp_agg_free(agg);
    return r;
}

/*
 * compact_some() - rebuild up to @budget ready windows (0 = all), finest level first, reading on
 * @c. *more is set when ready work may be left.
 */
static int compact_some(struct store *s, struct conn *c, int64_t now, size_t budget, bool *more)
{
    enum { BATCH = 64 };
    sqlite3_stmt *st = NULL;
    size_t done = 0;
    int r;

    *more = false;
    r = prep(c->db,
             "SELECT t, series_id FROM dirty WHERE level=?1 AND t<=?2 AND since<=?3"
             " ORDER BY t LIMIT 64",
             &st);
    if (r)
        return r;
    for (int level = 1; level < STORE_N_LEVELS && !r; level++) {
        for (;;) {
            int64_t ts[BATCH], sids[BATCH];
            size_t n = 0;
            int rc;

            sqlite3_bind_int(st, 1, level);
            sqlite3_bind_int64(st, 2, now - level_span[level] - STORE_COMPACT_GRACE_S);
            sqlite3_bind_int64(st, 3, now - STORE_COMPACT_GRACE_S);
            while (n < BATCH && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                ts[n] = sqlite3_column_int64(st, 0);
                sids[n++] = sqlite3_column_int64(st, 1);
            }
            sqlite3_reset(st);
            if (n < BATCH && rc != SQLITE_DONE) {
                r = sqlite_errno(rc) ? sqlite_errno(rc) : -EIO;
                break;
            }
            if (!n)
                break;
            for (size_t i = 0; !r && i < n; i++) {
                if (budget && done == budget) {
                    *more = true;
                    goto out;
                }
                r = compact_window(s, c, level, ts[i], sids[i]);
                done++;
            }
            if (r)
                break;
        }
    }
out:
    sqlite3_finalize(st);
    return r;
}

int store_compact(struct store *s, int64_t now_s)
{
    struct conn *c = NULL;
    bool more;
    int r;

    r = reader_get(s, &c);
    if (r)
        return r;
    r = compact_some(s, c, now_s, 0, &more);
    reader_put(s, c);
    return pp_err_trace(r);
}

/* === Maintenance thread: checkpoints and compaction off the request path === */

#define CKPT_FRAMES 1000 /* WAL frames that call for a checkpoint */

static int wal_hook(void *arg, sqlite3 *db, const char *name, int n_frames)
{
    struct store *s = arg;

    (void)db;
    (void)name;
    if (n_frames >= CKPT_FRAMES) {
        pthread_mutex_lock(&s->mlock);
        if (!s->want_ckpt) {
            s->want_ckpt = true;
            pthread_cond_signal(&s->mcond);
        }
        pthread_mutex_unlock(&s->mlock);
    }
    return SQLITE_OK;
}

static void *maint_main(void *arg)
{
    struct store *s = arg;
    struct conn *c = NULL;
    bool more = false;

    if (reader_get(s, &c))
        return NULL;
    pthread_mutex_lock(&s->mlock);
    while (!s->stop) {
        bool ckpt;

        if (!s->want_ckpt && !more) {
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&s->mcond, &s->mlock, &ts);
        }
        if (s->stop)
            break;
        ckpt = s->want_ckpt;
        s->want_ckpt = false;
        pthread_mutex_unlock(&s->mlock);
        /* PASSIVE: never blocks writers or readers; the fsyncs happen here, not in a put. */
        if (ckpt)
            sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (compact_some(s, c, (int64_t)time(NULL), 16, &more))
            more = false;
        pthread_mutex_lock(&s->mlock);
    }
    pthread_mutex_unlock(&s->mlock);
    reader_put(s, c);
    return NULL;
}

static int enforce_size_locked(struct store *s, int64_t now);

int store_put(struct store *s, const struct series_key *key, int64_t from_s, int64_t until_s,
              const struct pp_agg *agg, const struct store_meta *meta)
{
    struct codec *enc = NULL;
    uint64_t total = 0;
    int64_t t, sid, now = (int64_t)time(NULL);
    bool locked = false, in_tx = false;
    int r;

    if (!s || !key || !key->app[0] || !agg || until_s <= from_s)
        return -EINVAL;
    r = encoder_get(s, &enc);
    if (!r)
        r = blob_encode(agg, enc, &total); /* outside the lock: runs in parallel */
    if (r)
        goto out;
    t = floor_to(from_s, STORE_BUCKET_S);

    pthread_mutex_lock(&s->wlock);
    locked = true;
    if (s->o.max_disk_bytes && disk_bytes(s) + enc->out.n > s->o.max_disk_bytes) {
        r = enforce_size_locked(s, now);
        if (r)
            goto out;
    }
    r = exec(s->w.db, "BEGIN IMMEDIATE");
    in_tx = !r;
    if (!r)
        r = series_id(s, key, meta, &sid);
    if (!r)
        r = insert_bucket(s, sid, 0, t, total, &enc->out);
    for (int level = 1; !r && level < STORE_N_LEVELS; level++)
        r = del_rollup(s, sid, level, floor_to(t, level_span[level]));
    if (!r)
        r = mark_dirty(s, 1, floor_to(t, level_span[1]), sid, now);
    for (int level = 2; !r && level < STORE_N_LEVELS; level++) {
        /* Fail compactions of the windows above that are in flight. */
        sqlite3_bind_int(s->gen_bump, 1, level);
        sqlite3_bind_int64(s->gen_bump, 2, floor_to(t, level_span[level]));
        sqlite3_bind_int64(s->gen_bump, 3, sid);
        r = step_done(s->gen_bump);
    }
    if (!r)
        r = exec(s->w.db, "COMMIT");
    if (r == -ENOSPC)
        r = STORE_E_DISK_FULL; /* SQLITE_FULL: the file system, not max_disk_bytes */
    if (r)
        goto out;
    in_tx = false; /* committed: the upload is durable */
out:
    if (in_tx)
        exec(s->w.db, "ROLLBACK");
    if (locked)
        pthread_mutex_unlock(&s->wlock);
    encoder_put(s, enc);
    return pp_err_trace(r);
}

/* === Query ================================================================ */

static int64_t pick_step(int64_t from, int64_t until, size_t *n_steps)
{
    static const int64_t nice[] = {10,   20,   30,    60,    120,   180,   300,  600,  900,
                                   1200, 1800, 3600,  7200,  10800, 21600, 43200, 86400};
    int64_t step = 0;

    for (size_t i = 0; i < sizeof(nice) / sizeof(nice[0]); i++) {
        int64_t start = floor_to(from, nice[i]), end = ceil_to(until, nice[i]);

        if ((end - start) / nice[i] <= 1000) {
            step = nice[i];
            break;
        }
    }
    if (!step) {
        step = ceil_to((until - from + 998) / 999, 86400);
        while ((ceil_to(until, step) - floor_to(from, step)) / step > 1000)
            step += 86400;
    }
    *n_steps = (size_t)((ceil_to(until, step) - floor_to(from, step)) / step);
    return step;
}

int store_query(struct store *s, const struct selector *sel, int64_t from_s, int64_t until_s,
                struct pp_agg *out, struct store_timeline *tl)
{
    struct conn *c = NULL;
    struct idvec sids = {0}, ids = {0}, tids = {0}, tts = {0}, ttot = {0};
    int64_t a, b;
    bool in_tx = false;
    int tl_level = 0;
    int rc, r;

    if (tl)
        memset(tl, 0, sizeof(*tl));
    if (!s || !sel || !out || until_s <= from_s)
        return -EINVAL;
    a = floor_to(from_s, STORE_BUCKET_S);
    b = ceil_to(until_s, STORE_BUCKET_S);
    if (tl) {
        tl->step_s = pick_step(from_s, until_s, &tl->n_steps);
        tl->start_s = floor_to(from_s, tl->step_s);
        tl->samples = calloc(tl->n_steps ? tl->n_steps : 1, sizeof(*tl->samples));
        if (!tl->samples)
            return -ENOMEM;
    }
    r = reader_get(s, &c);
    if (r)
        goto out;
    r = exec(c->db, "BEGIN");
    if (r)
        goto out;
    in_tx = true;

    sqlite3_bind_text(c->by_app, 1, selector_app(sel), -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(c->by_app)) == SQLITE_ROW) {
        const char *labels = (const char *)sqlite3_column_text(c->by_app, 1);

        if (selector_match(sel, selector_app(sel), labels ? labels : "")) {
            r = idvec_push(&sids, sqlite3_column_int64(c->by_app, 0));
            if (r)
                break;
        }
    }
    sqlite3_reset(c->by_app);
    if (!r && rc != SQLITE_DONE && rc != SQLITE_ROW)
        r = sqlite_errno(rc) ? sqlite_errno(rc) : -EIO;
    if (r)
        goto out;

    /*
     * The timeline comes from the coarsest rows that each fall inside one step (level spans
     * divide the step and all are aligned), not from every 10 s row: same profiles, same sums.
     */
    if (tl)
        while (tl_level + 1 < STORE_N_LEVELS && tl->step_s % level_span[tl_level + 1] == 0)
            tl_level++;
    for (size_t i = 0; i < sids.n; i++) {
        r = collect(c, sids.v[i], STORE_N_LEVELS - 1, a, b, &ids, NULL, NULL);
        if (r)
            goto out;
        if (!tl)
            continue;
        tids.n = tts.n = ttot.n = 0;
        r = collect(c, sids.v[i], tl_level, a, b, &tids, &tts, &ttot);
        if (r)
            goto out;
        for (size_t j = 0; j < tts.n; j++) {
            size_t idx = (size_t)((tts.v[j] - tl->start_s) / tl->step_s);

            if (idx < tl->n_steps)
                tl->samples[idx] += (uint64_t)ttot.v[j];
        }
    }
    r = merge_ids(s, c, &ids, out);
out:
    if (in_tx)
        exec(c->db, "COMMIT");
    if (c)
        reader_put(s, c);
    free(sids.v);
    free(ids.v);
    free(tids.v);
    free(tts.v);
    free(ttot.v);
    if (r && tl) {
        free(tl->samples);
        memset(tl, 0, sizeof(*tl));
    }
    return pp_err_trace(r);
}

/* === Listing ============================================================== */

void store_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* strv_query() - run @sql with text params @p1, @p2 (NULL = unbound) and collect column 0. */
static int strv_query(struct store *s, const char *sql, const char *p1, const char *p2,
                      char ***out, size_t *n)
{
    struct conn *c = NULL;
    sqlite3_stmt *st = NULL;
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    int rc, r;

    *out = NULL;
    *n = 0;
    r = reader_get(s, &c);
    if (r)
        return r;
    r = prep(c->db, sql, &st);
    if (r)
        goto out;
    if (p1)
        sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
    if (p2)
        sqlite3_bind_text(st, 2, p2, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);

        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nv = realloc(v, ncap * sizeof(*nv));

            if (!nv) {
                r = -ENOMEM;
                goto out;
            }
            v = nv;
            cap = ncap;
        }
        v[cnt] = strdup(t ? t : "");
        if (!v[cnt]) {
            r = -ENOMEM;
            goto out;
        }
        cnt++;
    }
    if (rc != SQLITE_DONE) {
        r = sqlite_errno(rc) ? sqlite_errno(rc) : -EIO;
        goto out;
    }
    if (!v) {
        v = malloc(sizeof(*v));
        if (!v) {
            r = -ENOMEM;
            goto out;
        }
    }
    *out = v;
    *n = cnt;
    v = NULL;
out:
    store_strv_free(v, cnt);
    sqlite3_finalize(st);
    reader_put(s, c);
    return r;
}

int store_apps(struct store *s, char ***out, size_t *n)
{
    return strv_query(s, "SELECT DISTINCT app FROM series ORDER BY app", NULL, NULL, out, n);
}

int store_label_names(struct store *s, const char *app, char ***out, size_t *n)
{
    if (!app)
        return strv_query(s, "SELECT DISTINCT key FROM label ORDER BY key", NULL, NULL, out, n);
    return strv_query(s,
                      "SELECT DISTINCT l.key FROM label l JOIN series s ON s.id = l.series_id"
                      " WHERE s.app = ?1 ORDER BY l.key",
                      app, NULL, out, n);
}

int store_label_values(struct store *s, const char *app, const char *key, char ***out, size_t *n)
{
    if (!key)
        return -EINVAL;
    if (!app)
        return strv_query(s, "SELECT DISTINCT value FROM label WHERE key = ?2 ORDER BY value",
                          NULL, key, out, n);
    return strv_query(s,
                      "SELECT DISTINCT l.value FROM label l JOIN series s ON s.id = l.series_id"
                      " WHERE s.app = ?1 AND l.key = ?2 ORDER BY l.value",
                      app, key, out, n);
}

/* === Retention ============================================================ */

/*
 * drop_before_locked() - delete every level-0 bucket ending at or before @cutoff and every roll-up
 * starting before it (marking for rebuild those reaching past it), then the series left empty.
 */
static int drop_before_locked(struct store *s, int64_t cutoff, int64_t now)
{
    sqlite3_stmt *st = NULL;
    int r;

    r = exec(s->w.db, "BEGIN IMMEDIATE");
    if (r)
        return r;
    r = prep(s->w.db, "DELETE FROM bucket WHERE level=0 AND t<=?1", &st);
    if (!r) {
        sqlite3_bind_int64(st, 1, cutoff - STORE_BUCKET_S);
        r = step_done(st);
        sqlite3_finalize(st);
        st = NULL;
    }
    for (int level = 1; !r && level < STORE_N_LEVELS; level++) {
        r = prep(s->w.db,
                 "INSERT INTO dirty(level, t, series_id, since) SELECT level, t, series_id, 0"
                 " FROM bucket WHERE level=?1 AND t<?2 AND t+?3>?2 ON CONFLICT DO NOTHING;",
                 &st);
        if (!r) {
            sqlite3_bind_int(st, 1, level);
            sqlite3_bind_int64(st, 2, cutoff);
            sqlite3_bind_int64(st, 3, level_span[level]);
            r = step_done(st);
            sqlite3_finalize(st);
            st = NULL;
        }
        if (!r)
            r = prep(s->w.db, "UPDATE dirty SET gen=gen+1 WHERE level=?1 AND t<?2", &st);
        if (!r) {
            /* Fail compactions in flight over what is being dropped. */
            sqlite3_bind_int(st, 1, level);
            sqlite3_bind_int64(st, 2, cutoff);
            r = step_done(st);
            sqlite3_finalize(st);
            st = NULL;
        }
        if (!r)
            r = prep(s->w.db, "DELETE FROM bucket WHERE level=?1 AND t<?2", &st);
        if (!r) {
            sqlite3_bind_int(st, 1, level);
            sqlite3_bind_int64(st, 2, cutoff);
            r = step_done(st);
            sqlite3_finalize(st);
            st = NULL;
        }
        if (!r)
            r = prep(s->w.db, "DELETE FROM dirty WHERE level=?1 AND t+?3<=?2", &st);
        if (!r) {
            sqlite3_bind_int(st, 1, level);
            sqlite3_bind_int64(st, 2, cutoff);
            sqlite3_bind_int64(st, 3, level_span[level]);
            r = step_done(st);
            sqlite3_finalize(st);
            st = NULL;
        }
    }
    if (!r)
        r = exec(s->w.db,
                 "DELETE FROM series WHERE NOT EXISTS"
                 " (SELECT 1 FROM bucket b WHERE b.series_id = series.id);"
                 "DELETE FROM label WHERE series_id NOT IN (SELECT id FROM series);"
                 "DELETE FROM dirty WHERE series_id NOT IN (SELECT id FROM series);");
    if (r) {
        exec(s->w.db, "ROLLBACK");
        return r;
    }
    r = exec(s->w.db, "COMMIT");
    if (r)
        exec(s->w.db, "ROLLBACK");
    return r;
}

/* reclaim_locked() - give freed pages back to the file system and truncate the WAL. */
static int reclaim_locked(struct store *s)
{
    int r = exec(s->w.db, "PRAGMA incremental_vacuum");

    if (r)
        return r;
    sqlite3_wal_checkpoint_v2(s->w.db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    return 0;
}

static int enforce_size_locked(struct store *s, int64_t now)
{
    uint64_t max = s->o.max_disk_bytes, target = max / 100 * SIZE_TARGET_PCT;

    for (int round = 0; round < 16; round++) {
        uint64_t size = disk_bytes(s), payload = 0, need, acc = 0;
        sqlite3_stmt *st = NULL;
        int64_t cutoff = INT64_MIN;
        int r, rc;

        if (size <= max && round)
            return 0;
        if (size <= target)
            return 0;
        if (round == 0) {
            /* Freed pages may already be waiting: reclaim before dropping anything. */
            r = reclaim_locked(s);
            if (r)
                return r;
            size = disk_bytes(s);
            if (size <= target)
                return 0;
        }
        r = prep(s->w.db, "SELECT t, SUM(bytes) FROM bucket GROUP BY t ORDER BY t", &st);
        if (r)
            return r;
        /* Share of the payload to drop: what the file is over the target, as a fraction. */
        {
            sqlite3_stmt *sum = NULL;

            r = prep(s->w.db, "SELECT COALESCE(SUM(bytes), 0) FROM bucket", &sum);
            if (!r && sqlite3_step(sum) == SQLITE_ROW)
                payload = (uint64_t)sqlite3_column_int64(sum, 0);
            sqlite3_finalize(sum);
            if (r) {
                sqlite3_finalize(st);
                return r;
            }
        }
        if (!payload) {
            sqlite3_finalize(st);
            r = reclaim_locked(s);
            if (r)
                return r;
            return disk_bytes(s) > max ? -ENOSPC : 0;
        }
        need = (uint64_t)((double)payload * (double)(size - target) / (double)size) + 1;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            cutoff = sqlite3_column_int64(st, 0) + STORE_BUCKET_S;
            acc += (uint64_t)sqlite3_column_int64(st, 1);
            if (acc >= need)
                break;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return sqlite_errno(rc) ? sqlite_errno(rc) : -EIO;
        r = drop_before_locked(s, cutoff, now);
        if (!r)
            r = reclaim_locked(s);
        if (r)
            return r;
    }
    return disk_bytes(s) > max ? -ENOSPC : 0;
}

int store_enforce_retention(struct store *s, int64_t now_s)
{
    int r = 0;

    pthread_mutex_lock(&s->wlock);
    if (s->o.retention_s > 0) {
        r = drop_before_locked(s, now_s - s->o.retention_s, now_s);
        if (!r)
            r = reclaim_locked(s);
    }
    if (!r && s->o.max_disk_bytes && disk_bytes(s) > s->o.max_disk_bytes)
        r = enforce_size_locked(s, now_s);
    pthread_mutex_unlock(&s->wlock);
    if (!r)
        r = store_compact(s, now_s);
    return pp_err_trace(r);
}

/* === Stats ================================================================ */

static int count(struct conn *c, const char *sql, uint64_t *out)
{
    sqlite3_stmt *st = NULL;
    int r = prep(c->db, sql, &st);

    if (r)
        return r;
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = (uint64_t)sqlite3_column_int64(st, 0);
    else
        r = -EIO;
    sqlite3_finalize(st);
    return r;
}

int store_get_stats(struct store *s, struct store_stats *out)
{
    struct conn *c = NULL;
    int r;

    memset(out, 0, sizeof(*out));
    out->disk_bytes = disk_bytes(s);
    out->corrupt_blobs = atomic_load(&s->corrupt_blobs);
    out->trees_merged = atomic_load(&s->trees_merged);
    out->compactions = atomic_load(&s->compactions);
    r = reader_get(s, &c);
    if (r)
        return r;
    r = exec(c->db, "BEGIN");
    if (!r) {
        r = count(c, "SELECT count(*) FROM series", &out->series);
        if (!r)
            r = count(c, "SELECT count(*) FROM bucket WHERE level=0", &out->profiles);
        if (!r)
            r = count(c, "SELECT count(*) FROM bucket WHERE level>0", &out->rollups);
        if (!r)
            r = count(c, "SELECT count(*) FROM dirty", &out->dirty_windows);
        exec(c->db, "COMMIT");
    }
    reader_put(s, c);
    return r;
}
