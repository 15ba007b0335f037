/* SPDX-License-Identifier: MIT */
/* fuzz-labels: labels_parse_name(), selector_parse() and selector_match() on hostile text.
 * The input is split at its first NUL byte: the part before is parsed both as a series name and
 * as a selector; a selector is then matched against the normalized series of the part after
 * (or of the same text). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct series_key key; /* ~90 KiB: not on the stack */
    char err[64];
    char *text, *second;
    struct selector *sel = NULL;
    size_t n;

    if (size > 16384)
        return 0; /* regcomp() on huge patterns only measures regcomp() */
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    n = strlen(text);
    second = n < size ? text + n + 1 : text;

    if (labels_parse_name(text, &key, err, sizeof(err)) == 0 && strlen(key.app) == 0)
        __builtin_trap(); /* an accepted name has an app */
    (void)labels_parse_name(second, &key, err, sizeof(err));
    (void)labels_parse_name(text, &key, NULL, 0);

    if (selector_parse(text, &sel, err, sizeof(err)) == 0) {
        (void)selector_app(sel);
        if (labels_parse_name(second, &key, err, sizeof(err)) == 0)
            (void)selector_match(sel, key.app, key.labels);
        (void)selector_match(sel, selector_app(sel), "");
        (void)selector_match(sel, selector_app(sel), second);
        sel = selector_free(sel);
    }
    free(text);
    return 0;
}
