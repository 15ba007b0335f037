/* SPDX-License-Identifier: MIT */
/* label: the text of a frame or thread as every writer shows it, and a growing byte buffer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pyprof/agg.h"

/* A growing byte buffer; zero-initialise, free p when done. Not NUL-terminated. */
struct pp_buf {
    char *p;
    size_t len;
    size_t cap;
};

/* pp_buf_put() - append @n bytes. 0 or -ENOMEM (buffer unchanged). */
int pp_buf_put(struct pp_buf *b, const void *s, size_t n);

/* pp_buf_putc() - append one byte. 0 or -ENOMEM. */
int pp_buf_putc(struct pp_buf *b, char c);

/*
 * pp_buf_put_clean() - append @n bytes of @s with control characters (NUL and DEL included) as
 * @ctl, and, when @label, ';' as @ctl too (so that a label stays one folded frame). With
 * @utf8_clean, bytes that do not start a valid UTF-8 character XML can hold become U+FFFD.
 * 0 or -ENOMEM.
 */
int pp_buf_put_clean(struct pp_buf *b, const char *s, size_t n, bool label, char ctl,
                     bool utf8_clean);

/*
 * pp_label_frame() - append frame @fid's label: "name (file:line)", "name (file)" when line is
 * 0, "name" when file is "". pp_label_thread() - a thread root: thread (TID "name") or
 * thread (TID). Names and files are cleaned with pp_buf_put_clean(.., true, '_', @utf8_clean).
 * 0, -ENOMEM, or -EINVAL for an id out of range.
 */
int pp_label_frame(struct pp_buf *b, const struct pp_agg *a, uint32_t fid, bool utf8_clean);
int pp_label_thread(struct pp_buf *b, const struct pp_agg *a, uint32_t thread, bool utf8_clean);

/*
 * pp_utf8_len() - length of the valid UTF-8 sequence at @s (at most @n bytes) that XML allows
 * (no overlongs, surrogates, U+FFFE/U+FFFF), or 0.
 */
size_t pp_utf8_len(const unsigned char *s, size_t n);
