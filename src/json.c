/* SPDX-License-Identifier: MIT */
/* json: buffered JSON output; string escaping with UTF-8 repair, exact decimal numbers. */
#include <errno.h>

#include "json.h"

/* === Buffer ============================================================== */

void pp_json_init(struct pp_json *j, FILE *out)
{
    j->out = out;
    j->len = 0;
    j->err = 0;
}

static void drain(struct pp_json *j)
{
    if (!j->err && j->len && fwrite(j->buf, 1, j->len, j->out) != j->len)
        j->err = -EIO;
    j->len = 0;
}

int pp_json_finish(struct pp_json *j)
{
    drain(j);
    if (!j->err && (fflush(j->out) != 0 || ferror(j->out)))
        j->err = -EIO;
    return j->err;
}

void pp_json_raw(struct pp_json *j, const char *s, size_t n)
{
    while (n) {
        size_t room, k;

        if (j->err)
            return;
        if (j->len == sizeof(j->buf))
            drain(j);
        room = sizeof(j->buf) - j->len;
        k = n < room ? n : room;
        memcpy(j->buf + j->len, s, k);
        j->len += k;
        s += k;
        n -= k;
    }
}

/* Room for @n more bytes (n <= PP_JSON_BUF); false after an error. */
static int reserve(struct pp_json *j, size_t n)
{
    if (sizeof(j->buf) - j->len < n)
        drain(j);
    return !j->err;
}

/* === Strings ============================================================= */

/* Copied as is inside a JSON string: printable ASCII other than '"' and '\\', and DEL. */
static inline int plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/*
 * Length of the well-formed UTF-8 sequence at @s (at most @n bytes), 1 to 4; or 0 when it is
 * ill-formed, with *@bad set to the length of its maximal ill-formed subpart (>= 1): the lead
 * byte and the continuation bytes that were still acceptable (Unicode Table 3-7).
 */
static size_t utf8_len(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t need, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0;      /* no overlongs */
        else if (c == 0xed)
            hi = 0x9f;      /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90;      /* no overlongs */
        else if (c == 0xf4)
            hi = 0x8f;      /* nothing above U+10FFFF */
    } else {
        *bad = 1;           /* continuation byte, C0, C1, F5-FF */
        return 0;
    }
    for (i = 1; i < need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xbf;
    }
    return need;
}

/* Write the escape for ASCII @c ('"', '\\' or a control character) at @o; returns 2 or 6. */
static size_t escape_ascii(unsigned char c, char *o)
{
    static const char hex[] = "0123456789abcdef";
    char letter;

    switch (c) {
    case '"':
        letter = '"';
        break;
    case '\\':
        letter = '\\';
        break;
    case '\b':
        letter = 'b';
        break;
    case '\f':
        letter = 'f';
        break;
    case '\n':
        letter = 'n';
        break;
    case '\r':
        letter = 'r';
        break;
    case '\t':
        letter = 't';
        break;
    default:
        memcpy(o, "\\u00", 4);
        o[4] = hex[c >> 4];
        o[5] = hex[c & 15];
        return 6;
    }
    o[0] = '\\';
    o[1] = letter;
    return 2;
}

void pp_json_str_part(struct pp_json *j, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n && !j->err) {
        size_t run = i, k, bad = 0;
        unsigned char c;

        while (run < n && plain(s[run]))
            run++;
        pp_json_raw(j, (const char *)s + i, run - i);
        i = run;
        if (i == n || !reserve(j, 6))
            break;
        c = s[i];
        if (c < 0x80) {
            j->len += escape_ascii(c, j->buf + j->len);
            i++;
            continue;
        }
        k = utf8_len(s + i, n - i, &bad);
        if (k) {
            memcpy(j->buf + j->len, s + i, k);
            j->len += k;
            i += k;
        } else {
            memcpy(j->buf + j->len, "\xef\xbf\xbd", 3);     /* U+FFFD */
            j->len += 3;
            i += bad;
        }
    }
}

void pp_json_str(struct pp_json *j, const char *s, size_t n)
{
    pp_json_lit(j, "\"");
    pp_json_str_part(j, s, n);
    pp_json_lit(j, "\"");
}

/* === Numbers ============================================================= */

void pp_json_u64(struct pp_json *j, uint64_t v)
{
    char tmp[20];
    size_t k = sizeof(tmp);

    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    pp_json_raw(j, tmp + k, sizeof(tmp) - k);
}

void pp_json_fixed(struct pp_json *j, uint64_t v, unsigned scale)
{
    uint64_t p = 1, frac;
    char tmp[20];
    unsigned i, digits;

    if (scale > 19)
        scale = 19;
    for (i = 0; i < scale; i++)
        p *= 10;
    pp_json_u64(j, v / p);
    frac = v % p;
    if (!frac)
        return;
    for (digits = scale; frac % 10 == 0; digits--)
        frac /= 10;
    for (i = digits; i > 0; i--) {
        tmp[i - 1] = (char)('0' + frac % 10);
        frac /= 10;
    }
    pp_json_lit(j, ".");
    pp_json_raw(j, tmp, digits);
}
