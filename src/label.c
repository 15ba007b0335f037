/* SPDX-License-Identifier: MIT */
/* label: the text of a frame or thread as every writer shows it, and a growing byte buffer. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "label.h"
#include "pyprof/strtab.h"

int pp_buf_put(struct pp_buf *b, const void *s, size_t n)
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

int pp_buf_putc(struct pp_buf *b, char c)
{
    return pp_buf_put(b, &c, 1);
}

size_t pp_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    }
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || /* overlong, surrogates */
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
        return 0;
    if (c == 0xef && s[1] == 0xbf && (s[2] == 0xbe || s[2] == 0xbf)) /* U+FFFE, U+FFFF */
        return 0;
    return len;
}

int pp_buf_put_clean(struct pp_buf *b, const char *s, size_t n, bool label, char ctl,
                     bool utf8_clean)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;
    int r;

    while (i < n) {
        unsigned char c = u[i];
        size_t len;

        if (c >= 0x20 && c < 0x7f && (c != ';' || !label)) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            len = utf8_clean ? pp_utf8_len(u + i, n - i) : 1;
            if (len) {
                i += len;
                continue;
            }
        }
        r = pp_buf_put(b, s + run, i - run);
        if (r >= 0)
            r = c < 0x80 ? pp_buf_put(b, &ctl, 1) : pp_buf_put(b, "\xef\xbf\xbd", 3);
        if (r < 0)
            return r;
        run = ++i;
    }
    return pp_buf_put(b, s + run, n - run);
}

static int put_str(struct pp_buf *b, const struct pp_strtab *st, uint32_t id, bool utf8_clean)
{
    size_t len = 0;
    const char *s = pp_strtab_str(st, id, &len);

    return s ? pp_buf_put_clean(b, s, len, true, '_', utf8_clean) : -EINVAL;
}

int pp_label_frame(struct pp_buf *b, const struct pp_agg *a, uint32_t fid, bool utf8_clean)
{
    const struct pp_strtab *st = pp_agg_strtab_const(a);
    const struct pp_frame *f = pp_agg_frame_get(a, fid);
    size_t file_len = 0;
    char num[16];
    int r;

    if (!f)
        return -EINVAL;
    r = put_str(b, st, f->name, utf8_clean);
    if (r < 0 || !pp_strtab_str(st, f->file, &file_len) || file_len == 0)
        return r;
    r = pp_buf_put(b, " (", 2);
    if (r >= 0)
        r = put_str(b, st, f->file, utf8_clean);
    if (r >= 0 && f->line) {
        snprintf(num, sizeof(num), ":%" PRIu32, f->line);
        r = pp_buf_put(b, num, strlen(num));
    }
    return r < 0 ? r : pp_buf_putc(b, ')');
}

int pp_label_thread(struct pp_buf *b, const struct pp_agg *a, uint32_t thread, bool utf8_clean)
{
    const struct pp_strtab *st = pp_agg_strtab_const(a);
    const struct pp_thread *t = pp_agg_thread_get(a, thread);
    size_t name_len = 0;
    char num[40];
    int r;

    if (!t)
        return -EINVAL;
    snprintf(num, sizeof(num), "thread (%" PRIu64, t->tid);
    r = pp_buf_put(b, num, strlen(num));
    if (r >= 0 && pp_strtab_str(st, t->name, &name_len) && name_len) {
        r = pp_buf_put(b, " \"", 2);
        if (r >= 0)
            r = put_str(b, st, t->name, utf8_clean);
        if (r >= 0)
            r = pp_buf_putc(b, '"');
    }
    return r < 0 ? r : pp_buf_putc(b, ')');
}
