/* SPDX-License-Identifier: MIT */
/* folded: render stacks as "frame;frame;... COUNT" lines, merged and sorted bytewise. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pyprof/folded.h"
#include "pyprof/strtab.h"

/* === Byte buffer ========================================================= */

struct buf {
    char *p;
    size_t len;
    size_t cap;
};

static int buf_put(struct buf *b, const void *s, size_t n)
{
    int r;

    if (n > SIZE_MAX - b->len)
        return -ENOMEM;
    r = pp_grow((void **)&b->p, &b->cap, b->len + n, 1);
    if (r < 0)
        return r;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

static int buf_putc(struct buf *b, char c)
{
    return buf_put(b, &c, 1);
}

/* Append @n bytes of @s with ';' and control characters (including NUL and DEL) as '_'. */
static int buf_put_escaped(struct buf *b, const char *s, size_t n)
{
    size_t start = b->len, i;
    int r;

    r = buf_put(b, s, n);
    if (r < 0)
        return r;
    for (i = start; i < b->len; i++) {
        unsigned char c = (unsigned char)b->p[i];

        if (c == ';' || c < 0x20 || c == 0x7f)
            b->p[i] = '_';
    }
    return 0;
}

static int buf_put_str(struct buf *b, const struct pp_strtab *st, uint32_t id)
{
    size_t len = 0;
    const char *s = pp_strtab_str(st, id, &len);

    return s ? buf_put_escaped(b, s, len) : -EINVAL;
}

/* === Rendering =========================================================== */

/* Every frame (or thread root) rendered once: text of item i is p[off[i] .. off[i + 1]). */
struct rendered {
    struct buf text;
    size_t *off;
};

static void rendered_deinit(struct rendered *r)
{
    free(r->text.p);
    free(r->off);
}

static int render_frames(const struct pp_agg *a, struct rendered *out)
{
    const struct pp_strtab *st = pp_agg_strtab_const(a);
    uint32_t n = pp_agg_n_frames(a), fid;
    char num[16];
    int r = 0;

    out->off = malloc(((size_t)n + 1) * sizeof(*out->off));
    if (!out->off)
        return -ENOMEM;
    for (fid = 0; fid < n; fid++) {
        const struct pp_frame *f = pp_agg_frame_get(a, fid);
        size_t file_len = 0;

        out->off[fid] = out->text.len;
        r = buf_put_str(&out->text, st, f->name);
        if (r < 0)
            goto out;
        if (!pp_strtab_str(st, f->file, &file_len) || file_len == 0)
            continue;
        r = buf_put(&out->text, " (", 2);
        if (r >= 0)
            r = buf_put_str(&out->text, st, f->file);
        if (r >= 0 && f->line) {
            snprintf(num, sizeof(num), ":%" PRIu32, f->line);
            r = buf_put(&out->text, num, strlen(num));
        }
        if (r >= 0)
            r = buf_putc(&out->text, ')');
        if (r < 0)
            goto out;
    }
    out->off[n] = out->text.len;
out:
    return r;
}

static int render_threads(const struct pp_agg *a, struct rendered *out)
{
    const struct pp_strtab *st = pp_agg_strtab_const(a);
    uint32_t n = pp_agg_n_threads(a), i;
    char num[32];
    int r = 0;

    out->off = malloc(((size_t)n + 1) * sizeof(*out->off));
    if (!out->off)
        return -ENOMEM;
    for (i = 0; i < n; i++) {
        const struct pp_thread *t = pp_agg_thread_get(a, i);
        size_t name_len = 0;

        out->off[i] = out->text.len;
        snprintf(num, sizeof(num), "thread (%" PRIu64, t->tid);
        r = buf_put(&out->text, num, strlen(num));
        if (r >= 0 && pp_strtab_str(st, t->name, &name_len) && name_len) {
            r = buf_put(&out->text, " \"", 2);
            if (r >= 0)
                r = buf_put_str(&out->text, st, t->name);
            if (r >= 0)
                r = buf_putc(&out->text, '"');
        }
        if (r >= 0)
            r = buf_putc(&out->text, ')');
        if (r < 0)
            goto out;
    }
    out->off[n] = out->text.len;
out:
    return r;
}

/* === Writing ============================================================= */

static int cmp_lines(const void *x, const void *y)
{
    /* strcmp() compares as unsigned char: bytewise. Lines hold no NUL (it is escaped). */
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/*
 * Stacks are merged by their rendered text: each line key is interned in a scratch string table
 * and counts are summed per key id. Then "key COUNT" lines are built and sorted as whole lines.
 */
int pp_folded_write(const struct pp_agg *a, const struct pp_folded_opts *opts, FILE *out)
{
    bool threads = opts && opts->threads;
    struct rendered frames = {{NULL, 0, 0}, NULL}, roots = {{NULL, 0, 0}, NULL};
    struct pp_strtab *keys = NULL;
    struct buf line = {NULL, 0, 0}, lines = {NULL, 0, 0};
    uint64_t *counts = NULL;
    size_t cap_counts = 0, n_stacks = pp_agg_n_stacks(a), i, *line_off = NULL;
    const char **sorted = NULL;
    uint32_t n_keys, id, j;
    char num[32];
    int r;

    r = render_frames(a, &frames);
    if (r < 0)
        goto out;
    if (threads) {
        r = render_threads(a, &roots);
        if (r < 0)
            goto out;
    }
    r = pp_strtab_new(&keys);
    if (r < 0)
        goto out;

    for (i = 0; i < n_stacks; i++) {
        struct pp_stack_view v;

        pp_agg_stack(a, i, &v);
        line.len = 0;
        if (threads) {
            r = buf_put(&line, roots.text.p + roots.off[v.thread],
                        roots.off[v.thread + 1] - roots.off[v.thread]);
            if (r >= 0)
                r = buf_putc(&line, ';');
        }
        if (r >= 0 && v.n_fids == 0)
            r = buf_put(&line, "<no frames>", 11);
        for (j = 0; r >= 0 && j < v.n_fids; j++) {
            uint32_t fid = v.fids[j];

            if (j)
                r = buf_putc(&line, ';');
            if (r >= 0)
                r = buf_put(&line, frames.text.p + frames.off[fid],
                            frames.off[fid + 1] - frames.off[fid]);
        }
        if (r < 0)
            goto out;
        r = pp_strtab_intern(keys, line.p, line.len, &id);
        if (r < 0)
            goto out;
        if (id >= cap_counts) {
            size_t old = cap_counts;

            r = pp_grow((void **)&counts, &cap_counts, (size_t)id + 1, sizeof(*counts));
            if (r < 0)
                goto out;
            memset(counts + old, 0, (cap_counts - old) * sizeof(*counts));
        }
        counts[id] += v.count;
    }

    /* Key ids are 1..n_keys - 1 (0 is "", which no line renders to). */
    n_keys = pp_strtab_count(keys);
    line_off = malloc((size_t)n_keys * sizeof(*line_off));
    sorted = malloc((size_t)n_keys * sizeof(*sorted));
    if (!line_off || !sorted) {
        r = -ENOMEM;
        goto out;
    }
    for (id = 1; id < n_keys; id++) {
        size_t len = 0;
        const char *key = pp_strtab_str(keys, id, &len);

        line_off[id] = lines.len;
        snprintf(num, sizeof(num), " %" PRIu64 "\n", counts[id]);
        r = buf_put(&lines, key, len);
        if (r >= 0)
            r = buf_put(&lines, num, strlen(num) + 1);
        if (r < 0)
            goto out;
    }
    for (id = 1; id < n_keys; id++)
        sorted[id - 1] = lines.p + line_off[id];
    qsort(sorted, n_keys - 1, sizeof(*sorted), cmp_lines);
    for (id = 1; id < n_keys; id++) {
        if (fputs(sorted[id - 1], out) == EOF) {
            r = -EIO;
            goto out;
        }
    }
    if (fflush(out) != 0 || ferror(out))
        r = -EIO;
out:
    free(sorted);
    free(line_off);
    free(lines.p);
    free(line.p);
    free(counts);
    pp_strtab_free(keys);
    rendered_deinit(&roots);
    rendered_deinit(&frames);
    return r;
}
