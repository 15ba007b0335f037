/* SPDX-License-Identifier: MIT */
/* folded: render stacks as "frame;frame;... COUNT" lines, merged and sorted bytewise. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "label.h"
#include "pyprof/folded.h"
#include "pyprof/strtab.h"

/* === Rendering =========================================================== */

/* Every frame (or thread root) rendered once: text of item i is p[off[i] .. off[i + 1]). */
struct rendered {
    struct pp_buf text;
    size_t *off;
};

static void rendered_deinit(struct rendered *r)
{
    free(r->text.p);
    free(r->off);
}

static int render_frames(const struct pp_agg *a, struct rendered *out)
{
    uint32_t n = pp_agg_n_frames(a), fid;
    int r = 0;

    out->off = malloc(((size_t)n + 1) * sizeof(*out->off));
    if (!out->off)
        return -ENOMEM;
    for (fid = 0; fid < n && r >= 0; fid++) {
        out->off[fid] = out->text.len;
        r = pp_label_frame(&out->text, a, fid, false);
    }
    out->off[n] = out->text.len;
    return r < 0 ? r : 0;
}

static int render_threads(const struct pp_agg *a, struct rendered *out)
{
    uint32_t n = pp_agg_n_threads(a), i;
    int r = 0;

    out->off = malloc(((size_t)n + 1) * sizeof(*out->off));
    if (!out->off)
        return -ENOMEM;
    for (i = 0; i < n && r >= 0; i++) {
        out->off[i] = out->text.len;
        r = pp_label_thread(&out->text, a, i, false);
    }
    out->off[n] = out->text.len;
    return r < 0 ? r : 0;
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
    struct pp_buf line = {NULL, 0, 0}, lines = {NULL, 0, 0};
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
            r = pp_buf_put(&line, roots.text.p + roots.off[v.thread],
                        roots.off[v.thread + 1] - roots.off[v.thread]);
            if (r >= 0)
                r = pp_buf_putc(&line, ';');
        }
        if (r >= 0 && v.n_fids == 0)
            r = pp_buf_put(&line, "<no frames>", 11);
        for (j = 0; r >= 0 && j < v.n_fids; j++) {
            uint32_t fid = v.fids[j];

            if (j)
                r = pp_buf_putc(&line, ';');
            /* Frames that all render empty leave frames.text.p NULL: no NULL + 0. */
            if (r >= 0 && frames.off[fid + 1] > frames.off[fid])
                r = pp_buf_put(&line, frames.text.p + frames.off[fid],
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
        r = pp_buf_put(&lines, key, len);
        if (r >= 0)
            r = pp_buf_put(&lines, num, strlen(num) + 1);
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

/* === Reading ============================================================= */

#define READ_MAX_DEPTH 65536 /* frames per line; deeper lines are refused as malformed */

struct reader {
    struct pp_agg *a;
    uint32_t *fids;
    size_t cap_fids;
    uint32_t empty;          /* string id of "" */
    uint32_t anon_thread;    /* thread index for lines without a thread frame, or UINT32_MAX */
};

static int intern(struct reader *rd, const char *s, size_t n, uint32_t *out)
{
    return pp_strtab_intern(pp_agg_strtab(rd->a), s, n, out);
}

/* Parse a decimal uint64 in [s, s+n); false on anything else or overflow. */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (!n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/*
 * "thread (TID "name")" or "thread (TID)" -> thread index. Returns 1 if @s is not such a frame.
 */
static int parse_thread(struct reader *rd, const char *s, size_t n, uint32_t *out)
{
    const char *p = s + 8, *end = s + n, *q;
    uint64_t tid;
    uint32_t name = rd->empty;
    int r;

    if (n < 10 || memcmp(s, "thread (", 8) || end[-1] != ')')
        return 1;
    for (q = p; q < end - 1 && *q >= '0' && *q <= '9'; q++)
        ;
    if (!parse_u64(p, (size_t)(q - p), &tid))
        return 1;
    if (q == end - 1) {
        /* "thread (TID)" */
    } else if (end - q >= 4 && q[0] == ' ' && q[1] == '"' && end[-2] == '"') {
        r = intern(rd, q + 2, (size_t)(end - 2 - (q + 2)), &name);
        if (r)
            return r;
    } else {
        return 1;
    }
    return pp_agg_intern_thread(rd->a, tid, name, out);
}

/* "name (file:line)" / "name (file)" / "name" -> frame id. */
static int parse_frame(struct reader *rd, const char *s, size_t n, uint32_t *out)
{
    struct pp_frame f = { .name = rd->empty, .file = rd->empty, .line = 0 };
    size_t name_len = n, file_at = 0, file_len = 0;
    char path[4096];
    int r;

    if (n >= 4 && s[n - 1] == ')') {
        /* The file part starts at the last " (" whose closing paren ends the frame. */
        for (size_t i = n - 1; i-- > 1;) {
            if (s[i] == '(' && s[i - 1] == ' ') {
                name_len = i - 1;
                file_at = i + 1;
                file_len = n - 1 - file_at;
                break;
            }
        }
    }
    if (file_len) {
        const char *colon = memrchr(s + file_at, ':', file_len);
        uint64_t line;

        if (colon && parse_u64(colon + 1, (size_t)(s + file_at + file_len - colon - 1), &line) &&
            line <= UINT32_MAX) {
            f.line = (uint32_t)line;
            file_len = (size_t)(colon - (s + file_at));
        }
        r = intern(rd, s + file_at, file_len, &f.file);
        if (r)
            return r;
        if (file_len < sizeof(path)) {
            memcpy(path, s + file_at, file_len);
            path[file_len] = '\0';
            f.origin = pp_origin_of_path(path);
        }
    } else {
        name_len = n;
    }
    r = intern(rd, s, name_len, &f.name);
    if (r)
        return r;
    return pp_agg_intern_frame(rd->a, &f, out);
}

static int read_line(struct reader *rd, char *line, size_t len)
{
    const char *sp, *p, *end;
    uint64_t count;
    uint32_t thread = UINT32_MAX, n = 0;
    int r;

    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (!len || line[0] == '#')
        return 0;
    sp = memrchr(line, ' ', len);
    if (!sp || !parse_u64(sp + 1, (size_t)(line + len - sp - 1), &count))
        return PP_FOLDED_E_FORMAT;
    end = sp;
    for (p = line; p <= end;) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *fe = semi ? semi : end;

        if (fe > p) {
            if (n == 0 && thread == UINT32_MAX) {
                r = parse_thread(rd, p, (size_t)(fe - p), &thread);
                if (r < 0)
                    return r;
                if (r == 0)
                    goto next;
                thread = UINT32_MAX;
            }
            if (n == READ_MAX_DEPTH)
                return PP_FOLDED_E_FORMAT;
            r = pp_grow((void **)&rd->fids, &rd->cap_fids, (size_t)n + 1, sizeof(*rd->fids));
            if (r < 0)
                return r;
            r = parse_frame(rd, p, (size_t)(fe - p), &rd->fids[n]);
            if (r)
                return r;
            n++;
        }
next:
        if (!semi)
            break;
        p = semi + 1;
    }
    if (thread == UINT32_MAX) {
        if (rd->anon_thread == UINT32_MAX) {
            r = pp_agg_intern_thread(rd->a, 0, rd->empty, &rd->anon_thread);
            if (r)
                return r;
        }
        thread = rd->anon_thread;
    }
    return pp_agg_add(rd->a, thread, rd->fids, n, count);
}

int pp_folded_read(struct pp_agg *a, FILE *in, size_t *out_line)
{
    struct reader rd = { .a = a, .anon_thread = UINT32_MAX };
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int r;

    r = intern(&rd, "", 0, &rd.empty);
    while (!r && (len = getline(&line, &cap, in)) > 0) {
        lineno++;
        r = read_line(&rd, line, (size_t)len);
    }
    if (!r && ferror(in))
        r = -EIO;
    if (r == PP_FOLDED_E_FORMAT && out_line)
        *out_line = lineno;
    free(line);
    free(rd.fids);
    return r;
}
