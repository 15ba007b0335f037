/* SPDX-License-Identifier: MIT */
/* labels: Pyroscope ingest names (app{k=v}) and FlameQL selectors (app{k="v",k=~"re"}). */
#include "labels.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SELECTOR_MAX_MATCHERS 64

enum op {
    OP_EQ,
    OP_NE,
    OP_RE,
    OP_NRE,
};

struct matcher {
    char *key;
    char *value;
    enum op op;
    bool has_re;
    regex_t re;
};

struct selector {
    char app[LABELS_NAME_MAX + 1];
    struct matcher m[SELECTOR_MAX_MATCHERS];
    size_t n_m;
};

/* A borrowed span of the input. */
struct span {
    const char *p;
    size_t n;
};

static int fail(char *err, size_t errlen, size_t at, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!err || !errlen)
        return LABELS_E_SYNTAX;
    n = snprintf(err, errlen, "at %zu: ", at);
    if (n < 0 || (size_t)n >= errlen)
        return LABELS_E_SYNTAX;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return LABELS_E_SYNTAX;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_app_char(char c)
{
    return is_alnum(c) || c == '_' || c == '.' || c == '-' || c == '/';
}

static bool is_key_char(char c)
{
    return is_alnum(c) || c == '_' || c == '.';
}

static struct span trim(const char *p, size_t n)
{
    while (n && is_space(p[0])) {
        p++;
        n--;
    }
    while (n && is_space(p[n - 1]))
        n--;
    return (struct span){p, n};
}

static size_t skip_space(const char *s, size_t i)
{
    while (s[i] && is_space(s[i]))
        i++;
    return i;
}

/* check_app() - 0 when @a is a valid app name, else LABELS_E_SYNTAX (@at: its offset). */
static int check_app(struct span a, size_t at, char *err, size_t errlen)
{
    if (!a.n)
        return fail(err, errlen, at, "empty app name");
    if (a.n > LABELS_NAME_MAX)
        return fail(err, errlen, at, "app name longer than %d bytes", LABELS_NAME_MAX);
    for (size_t i = 0; i < a.n; i++) {
        if (!is_app_char(a.p[i]))
            return fail(err, errlen, at + i,
                        "invalid character '%c' in app name (allowed: A-Za-z0-9_.-/)", a.p[i]);
    }
    return 0;
}

static int check_key(struct span k, size_t at, char *err, size_t errlen)
{
    if (!k.n)
        return fail(err, errlen, at, "empty label name");
    if (k.n > LABELS_NAME_MAX)
        return fail(err, errlen, at, "label name longer than %d bytes", LABELS_NAME_MAX);
    for (size_t i = 0; i < k.n; i++) {
        if (!is_key_char(k.p[i]))
            return fail(err, errlen, at + i,
                        "invalid character '%c' in label name (allowed: A-Za-z0-9_.)", k.p[i]);
    }
    if (k.n == 8 && memcmp(k.p, "__name__", 8) == 0)
        return fail(err, errlen, at, "label name __name__ is reserved");
    return 0;
}

static int span_cmp(struct span a, struct span b)
{
    int c = memcmp(a.p, b.p, a.n < b.n ? a.n : b.n);

    if (c)
        return c;
    return a.n < b.n ? -1 : a.n > b.n;
}

struct pair {
    struct span k, v;
};

static int pair_cmp(const void *x, const void *y)
{
    return span_cmp(((const struct pair *)x)->k, ((const struct pair *)y)->k);
}

int labels_parse_name(const char *name, struct series_key *out, char *err, size_t errlen)
{
    struct pair pairs[LABELS_MAX];
    size_t n_pairs = 0, i = 0, len;
    const char *brace;
    struct span app;
    char *w;
    int r;

    if (err && errlen)
        err[0] = '\0';
    if (!name)
        return fail(err, errlen, 0, "no name");
    brace = strchr(name, '{');
    len = brace ? (size_t)(brace - name) : strlen(name);
    app = trim(name, len);
    r = check_app(app, (size_t)(app.p - name), err, errlen);
    if (r)
        return r;
    if (brace) {
        i = (size_t)(brace - name) + 1;
        for (;;) {
            size_t k0, v0;
            struct span k, v;

            i = skip_space(name, i);
            if (name[i] == '}')
                break;
            if (!name[i])
                return fail(err, errlen, i, "missing '}'");
            k0 = i;
            while (name[i] && name[i] != '=' && name[i] != ',' && name[i] != '}')
                i++;
            if (name[i] != '=')
                return fail(err, errlen, i, "expected '=' after label name");
            k = trim(name + k0, i - k0);
            r = check_key(k, (size_t)(k.p - name), err, errlen);
            if (r)
                return r;
            v0 = ++i;
            while (name[i] && name[i] != ',' && name[i] != '}') {
                if ((unsigned char)name[i] < 0x20 && !is_space(name[i]))
                    return fail(err, errlen, i, "control character in label value");
                i++;
            }
            if (!name[i])
                return fail(err, errlen, i, "missing '}'");
            v = trim(name + v0, i - v0);
            if (v.n > LABELS_VALUE_MAX)
                return fail(err, errlen, v0, "label value longer than %d bytes",
                            LABELS_VALUE_MAX);
            /* A repeated key replaces the earlier value, as Pyroscope's map does. */
            size_t j;
            for (j = 0; j < n_pairs; j++) {
                if (span_cmp(pairs[j].k, k) == 0)
                    break;
            }
            if (j == n_pairs) {
                if (n_pairs == LABELS_MAX)
                    return fail(err, errlen, k0, "more than %d labels", LABELS_MAX);
                n_pairs++;
            }
            pairs[j] = (struct pair){k, v};
            if (name[i] == '}')
                break;
            i++; /* ',' (a trailing one before '}' is allowed) */
        }
        i = skip_space(name, i + 1);
        if (name[i])
            return fail(err, errlen, i, "unexpected text after '}'");
    }

    qsort(pairs, n_pairs, sizeof(pairs[0]), pair_cmp);
    memcpy(out->app, app.p, app.n);
    out->app[app.n] = '\0';
    w = out->labels;
    for (size_t j = 0; j < n_pairs; j++) {
        if (j)
            *w++ = ',';
        memcpy(w, pairs[j].k.p, pairs[j].k.n);
        w += pairs[j].k.n;
        *w++ = '=';
        memcpy(w, pairs[j].v.p, pairs[j].v.n);
        w += pairs[j].v.n;
    }
    *w = '\0';
    return 0;
}

/* === Selectors ============================================================ */

struct selector *selector_free(struct selector *s)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->n_m; i++) {
        free(s->m[i].key);
        free(s->m[i].value);
        if (s->m[i].has_re)
            regfree(&s->m[i].re);
    }
    free(s);
    return NULL;
}

const char *selector_app(const struct selector *s)
{
    return s->app;
}

/*
 * parse_string() - a double-quoted string at @t[*i] with escapes \" \\ \n \t \r; *i ends after the
 * closing quote, *out is malloc'd.
 */
static int parse_string(const char *t, size_t *i, char **out, char *err, size_t errlen)
{
    size_t j = *i + 1, n = 0;
    char *s;

    if (t[*i] != '"')
        return fail(err, errlen, *i, "expected a double-quoted value");
    s = malloc(strlen(t + j) + 1);
    if (!s)
        return -ENOMEM;
    for (;;) {
        char c = t[j];

        if (!c) {
            free(s);
            return fail(err, errlen, *i, "unterminated string");
        }
        j++;
        if (c == '"')
            break;
        if (c == '\\') {
            char e = t[j];

            switch (e) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            default:
                free(s);
                if (!e)
                    return fail(err, errlen, j, "unterminated string");
                return fail(err, errlen, j - 1, "unknown escape '\\%c'", e);
            }
            j++;
        }
        s[n++] = c;
    }
    s[n] = '\0';
    if (n > LABELS_VALUE_MAX) {
        free(s);
        return fail(err, errlen, *i, "value longer than %d bytes", LABELS_VALUE_MAX);
    }
    *i = j;
    *out = s;
    return 0;
}

/*
 * check_parens() - reject a regex whose parentheses do not balance, so that wrapping it in
 * "^(" ... ")$" cannot change its meaning ("a)|(b").
 */
static int check_parens(const char *re, size_t at, char *err, size_t errlen)
{
    long depth = 0;

    for (size_t i = 0; re[i]; i++) {
        if (re[i] == '\\' && re[i + 1]) {
            i++;
        } else if (re[i] == '[') {
            size_t j = i + 1;

            if (re[j] == '^')
                j++;
            if (re[j] == ']')
                j++;
            while (re[j] && re[j] != ']') {
                if (re[j] == '[' && (re[j + 1] == ':' || re[j + 1] == '.' || re[j + 1] == '=')) {
                    char d = re[j + 1];
                    const char *e = strchr(re + j + 2, d);

                    if (e && e[1] == ']') {
                        j = (size_t)(e - re) + 2;
                        continue;
                    }
                }
                j++;
            }
            if (!re[j])
                return fail(err, errlen, at, "invalid regex: unterminated '['");
            i = j;
        } else if (re[i] == '(') {
            depth++;
        } else if (re[i] == ')') {
            if (--depth < 0)
                return fail(err, errlen, at, "invalid regex: unbalanced ')'");
        }
    }
    if (depth)
        return fail(err, errlen, at, "invalid regex: unbalanced '('");
    return 0;
}

#define RE_MAX_LEN 256 /* bytes of a selector regex */
#define RE_MAX_REPEAT 16 /* repetition operators (* + ? {) in one regex */

/*
 * glibc's regcomp() builds its automaton eagerly: stacked or numerous repetitions ("(a|b)*c+++")
 * make it allocate gigabytes (found by tests/fuzz/fuzz-labels). A query is untrusted input, so
 * refuse regexes that are long, have many repetitions, stacked ones, or large {n,m} bounds.
 */
static int check_complexity(const char *re, size_t at, char *err, size_t errlen)
{
    size_t n = strlen(re), reps = 0;

    if (n > RE_MAX_LEN)
        return fail(err, errlen, at, "regex too long (at most 256 bytes)");
    for (size_t i = 0; i < n; i++) {
        char c = re[i];

        if (c == '\\' && re[i + 1]) {
            i++;
            continue;
        }
        if (c == '[') { /* a bracket expression: its '*' '+' '?' are plain characters */
            size_t j = i + 1;

            if (re[j] == '^')
                j++;
            if (re[j] == ']')
                j++;
            while (re[j] && re[j] != ']')
                j++;
            i = re[j] ? j : n;
            continue;
        }
        if (c != '*' && c != '+' && c != '?' && c != '{')
            continue;
        if (++reps > RE_MAX_REPEAT)
            return fail(err, errlen, at, "regex too complex (at most 16 repetition operators)");
        if (i > 0 && (re[i - 1] == '*' || re[i - 1] == '+' || re[i - 1] == '?' || re[i - 1] == '}'))
            return fail(err, errlen, at, "regex too complex (stacked repetition operators)");
        if (c == '{') {
            for (size_t j = i + 1; re[j] && re[j] != '}'; j++) {
                if (re[j] >= '0' && re[j] <= '9' && strtoul(re + j, NULL, 10) > 100)
                    return fail(err, errlen, at, "regex too complex ({n,m} above 100)");
            }
        }
    }
    return 0;
}

static int compile_re(struct matcher *m, size_t at, char *err, size_t errlen)
{
    size_t n = strlen(m->value);
    char *anchored;
    int rc;

    rc = check_parens(m->value, at, err, errlen);
    if (!rc)
        rc = check_complexity(m->value, at, err, errlen);
    if (rc)
        return rc;
    anchored = malloc(n + 5);
    if (!anchored)
        return -ENOMEM;
    memcpy(anchored, "^(", 2);
    memcpy(anchored + 2, m->value, n);
    memcpy(anchored + 2 + n, ")$", 3);
    rc = regcomp(&m->re, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (rc == REG_ESPACE)
        return -ENOMEM;
    if (rc) {
        char msg[128];

        regerror(rc, NULL, msg, sizeof(msg));
        return fail(err, errlen, at, "invalid regex: %s", msg);
    }
    m->has_re = true;
    return 0;
}

int selector_parse(const char *text, struct selector **out, char *err, size_t errlen)
{
    struct selector *s = NULL;
    size_t i = 0, a0;
    struct span app;
    int r;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!text)
        return fail(err, errlen, 0, "no query");
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;

    i = skip_space(text, 0);
    a0 = i;
    while (text[i] && text[i] != '{' && !is_space(text[i]))
        i++;
    app = (struct span){text + a0, i - a0};
    r = check_app(app, a0, err, errlen);
    if (r)
        goto out;
    memcpy(s->app, app.p, app.n);
    s->app[app.n] = '\0';
    i = skip_space(text, i);
    if (text[i] == '{') {
        i = skip_space(text, i + 1);
        while (text[i] != '}') {
            struct matcher *m;
            size_t k0 = i, at;

            if (!text[i]) {
                r = fail(err, errlen, i, "missing '}'");
                goto out;
            }
            while (is_key_char(text[i]))
                i++;
            if (i == k0) {
                r = fail(err, errlen, i, "expected a label name");
                goto out;
            }
            r = check_key((struct span){text + k0, i - k0}, k0, err, errlen);
            if (r)
                goto out;
            if (s->n_m == SELECTOR_MAX_MATCHERS) {
                r = fail(err, errlen, k0, "more than %d matchers", SELECTOR_MAX_MATCHERS);
                goto out;
            }
            m = &s->m[s->n_m];
            m->key = strndup(text + k0, i - k0);
            if (!m->key) {
                r = -ENOMEM;
                goto out;
            }
            s->n_m++;
            i = skip_space(text, i);
            if (text[i] == '=' && text[i + 1] == '~') {
                m->op = OP_RE;
                i += 2;
            } else if (text[i] == '!' && text[i + 1] == '~') {
                m->op = OP_NRE;
                i += 2;
            } else if (text[i] == '!' && text[i + 1] == '=') {
                m->op = OP_NE;
                i += 2;
            } else if (text[i] == '=') {
                m->op = OP_EQ;
                i += 1;
            } else {
                r = fail(err, errlen, i, "expected one of = != =~ !~ after label name");
                goto out;
            }
            i = skip_space(text, i);
            at = i;
            r = parse_string(text, &i, &m->value, err, errlen);
            if (r)
                goto out;
            if (m->op == OP_RE || m->op == OP_NRE) {
                r = compile_re(m, at, err, errlen);
                if (r)
                    goto out;
            }
            i = skip_space(text, i);
            if (text[i] == ',') {
                i = skip_space(text, i + 1);
                if (text[i] == '}') {
                    r = fail(err, errlen, i, "expected a label name after ','");
                    goto out;
                }
            } else if (!text[i]) {
                r = fail(err, errlen, i, "missing '}'");
                goto out;
            } else if (text[i] != '}') {
                r = fail(err, errlen, i, "expected ',' or '}'");
                goto out;
            }
        }
        i = skip_space(text, i + 1);
    }
    if (text[i]) {
        r = fail(err, errlen, i, "unexpected text after the selector");
        goto out;
    }
    *out = s;
    s = NULL;
    r = 0;
out:
    selector_free(s);
    return r;
}

/* label_value() - the value of @key in normalized @labels ("" when absent), as a span. */
static struct span label_value(const char *labels, const char *key)
{
    size_t kn = strlen(key);
    const char *p = labels;

    while (*p) {
        const char *end = strchr(p, ',');
        const char *eq = strchr(p, '=');

        if (!end)
            end = p + strlen(p);
        if (eq && eq < end && (size_t)(eq - p) == kn && memcmp(p, key, kn) == 0)
            return (struct span){eq + 1, (size_t)(end - eq - 1)};
        if (!*end)
            break;
        p = end + 1;
    }
    return (struct span){"", 0};
}

bool selector_match(const struct selector *s, const char *app, const char *labels)
{
    char small[256];

    if (strcmp(s->app, app) != 0)
        return false;
    for (size_t i = 0; i < s->n_m; i++) {
        const struct matcher *m = &s->m[i];
        struct span v = label_value(labels ? labels : "", m->key);
        bool hit;

        if (m->op == OP_EQ || m->op == OP_NE) {
            hit = strlen(m->value) == v.n && memcmp(m->value, v.p, v.n) == 0;
        } else {
            char *buf = small;

            if (v.n >= sizeof(small)) {
                buf = malloc(v.n + 1);
                if (!buf)
                    return false;
            }
            memcpy(buf, v.p, v.n);
            buf[v.n] = '\0';
            hit = regexec(&m->re, buf, 0, NULL, 0) == 0;
            if (buf != small)
                free(buf);
        }
        if (m->op == OP_NE || m->op == OP_NRE)
            hit = !hit;
        if (!hit)
            return false;
    }
    return true;
}
