/* SPDX-License-Identifier: MIT */
/* fuzz-ingest: the server's pure ingest helpers: ingest_parse_time() on the text before the first
 * NUL byte, ingest_gunzip() (bounded to 1 MiB) on the whole input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    unsigned char *out = NULL;
    size_t out_len = 0;
    int64_t t = 0;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    (void)ingest_parse_time(text, 1700000000, &t);
    (void)ingest_parse_time(text, 0, &t); /* realistic "now"s only: the server passes time(NULL) */
    free(text);

    if (ingest_gunzip(data, size, 1 << 20, &out, &out_len) == 0) {
        if (out_len > (1 << 20))
            __builtin_trap(); /* the bound must hold */
        if (out_len)
            (void)out[out_len - 1];
        free(out);
    }
    return 0;
}
