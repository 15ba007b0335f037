/* SPDX-License-Identifier: MIT */
/* labels: Pyroscope's series names (app{k=v,...}) and query selectors (app{k="v",k=~"re"}). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define LABELS_MAX 30          /* label pairs per series */
#define LABELS_NAME_MAX 1024   /* bytes of an app name or label key */
#define LABELS_VALUE_MAX 2048  /* bytes of a label value */

/*
 * A normalized series key. app is "myapp.cpu"; labels is "k1=v1,k2=v2" with keys sorted bytewise
 * and unique ("" when there are none). Both NUL-terminated, owned by the struct.
 */
struct series_key {
    char app[LABELS_NAME_MAX + 1];
    char labels[LABELS_MAX * (LABELS_NAME_MAX + LABELS_VALUE_MAX + 2) + 1];
};

enum {
    LABELS_E_NONE = 0,
    LABELS_E_SYNTAX, /* not a valid name or selector; the error text says where and why */
};

/*
 * labels_parse_name() - parse an ingest name as Pyroscope does: "app{k=v,k2=v2}" (app matches
 * [A-Za-z0-9_.\-/]+, keys [A-Za-z0-9_.]+, values unquoted and trimmed, no ',' or '}'; "{}" and no
 * braces allowed). Fills @out normalized. Returns 0 or LABELS_E_SYNTAX with a message in @err.
 *
 * Details: white space around the app, keys and values is trimmed; a value may be empty and may
 * hold '=' and '{' but no control characters; a trailing ',' before '}' is allowed; a repeated
 * key keeps the last value (Pyroscope's map); the key __name__ is reserved; more than LABELS_MAX
 * distinct keys, an app or key over LABELS_NAME_MAX or a value over LABELS_VALUE_MAX bytes, a key
 * without '=', a missing '}' or text after it are errors. @err (any size, may be NULL) gets
 * "at <byte offset>: <why>", truncated to fit.
 */
int labels_parse_name(const char *name, struct series_key *out, char *err, size_t errlen);

struct selector;

/*
 * selector_parse() - parse a FlameQL query: app{k="v",k!="v",k=~"re",k!~"re"} (values
 * double-quoted, regexes POSIX extended and anchored at both ends, as Prometheus does); the braces
 * may be left out. Returns 0 and *out (free with selector_free), LABELS_E_SYNTAX with a message
 * in @err, or -ENOMEM.
 *
 * Details: escapes in values are \" \\ \n \t \r (others are errors, so a regex's "\." is
 * written "\\."); a regex is compiled as "^(re)$" with REG_EXTENDED, and one whose parentheses do
 * not balance (outside bracket expressions and escapes) is rejected, so anchoring cannot change
 * its meaning. Keys follow labels_parse_name(); __name__ is reserved; at most 64 matchers; white
 * space between tokens is ignored; "{}" and a missing brace part both mean "every series of app".
 * Errors read "at <byte offset>: <why>".
 */
int selector_parse(const char *text, struct selector **out, char *err, size_t errlen);

/* selector_free() - NULL-safe. Returns NULL. */
struct selector *selector_free(struct selector *s);

/* selector_app() - the app name the selector asks for (owned by @s). */
const char *selector_app(const struct selector *s);

/*
 * selector_match() - true if the series (@app, normalized @labels) is selected by @s: same app,
 * every matcher satisfied (a label that is absent has the value ""). Thread-safe for a shared @s.
 * Allocates only for a regex test of a value over 255 bytes; if that fails, returns false.
 */
bool selector_match(const struct selector *s, const char *app, const char *labels);
