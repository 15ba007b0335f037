/* SPDX-License-Identifier: MIT */
/* json: a buffered JSON text writer shared by the speedscope and chrome trace writers. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define PP_JSON_BUF 16384

/*
 * struct pp_json - bytes are gathered in buf and handed to out with fwrite() when it fills, so
 * a writer makes one fwrite per PP_JSON_BUF bytes whatever its structure. Errors are sticky: the
 * first failed fwrite sets err to -EIO and every later call does nothing, so a writer may emit a
 * whole document and check once, in pp_json_finish(). Nothing here allocates.
 */
struct pp_json {
    FILE *out;
    size_t len;              /* bytes used in buf */
    int err;                 /* 0, or -EIO once a write failed */
    char buf[PP_JSON_BUF];
};

/* pp_json_init() - start writing to @out (not owned; never closed). */
void pp_json_init(struct pp_json *j, FILE *out);

/* pp_json_finish() - write out what is buffered and fflush(@j->out). 0 or -EIO (sticky). */
int pp_json_finish(struct pp_json *j);

/* pp_json_raw() - append @n bytes verbatim: JSON syntax the caller knows to be valid. */
void pp_json_raw(struct pp_json *j, const char *s, size_t n);

/* pp_json_lit() - pp_json_raw() of a string literal. */
#define pp_json_lit(j, lit) pp_json_raw((j), "" lit, sizeof(lit) - 1)

/*
 * pp_json_str_part() - append @n bytes of @s as the inside of a JSON string, without quotes.
 * '"' and '\\' are backslash-escaped; control characters (U+0000-U+001F, so NUL too) become
 * \b \f \n \r \t or \u00XX; everything else is copied, including '<', '>', '&' and DEL. Bytes
 * that are not well-formed UTF-8 (stray continuation bytes, overlong forms, surrogates, code
 * points above U+10FFFF, truncated sequences) become U+FFFD, one per maximal ill-formed
 * subpart, as Unicode 15 §3.9 and WHATWG's decoder recommend (Python's "replace" does the same).
 * The output is therefore always valid UTF-8 and valid inside a JSON string.
 */
void pp_json_str_part(struct pp_json *j, const char *s, size_t n);

/* pp_json_str() - a whole JSON string: '"', pp_json_str_part(), '"'. */
void pp_json_str(struct pp_json *j, const char *s, size_t n);

/* pp_json_cstr() - pp_json_str() of a NUL-terminated string. */
static inline void pp_json_cstr(struct pp_json *j, const char *s)
{
    pp_json_str(j, s, strlen(s));
}

/* pp_json_u64() - @v in decimal. */
void pp_json_u64(struct pp_json *j, uint64_t v);

/*
 * pp_json_fixed() - the exact decimal value of @v / 10^@scale (@scale <= 19): the integer part,
 * then '.' and the fraction digits with trailing zeros dropped (no '.' when the fraction is 0).
 * pp_json_fixed(j, 1500000, 9) writes 0.0015: nanoseconds as seconds without rounding through
 * a double, so equal inputs always print equal text and sums stay exact.
 */
void pp_json_fixed(struct pp_json *j, uint64_t v, unsigned scale);
