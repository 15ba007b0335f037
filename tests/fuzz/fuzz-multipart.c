/* SPDX-License-Identifier: MIT */
/*
 * fuzz-multipart: ingest_run(), the whole /ingest body path, on hostile requests, aimed at
 * the multipart/form-data parser. The input's first line is the request, '&'-separated key=value
 * pairs: ct (Content-Type, boundary included), fmt (format=), enc (Content-Encoding), name,
 * from, until, rate; the rest is the body. Seeds (tests/fuzz/corpus/multipart/): the Go client's
 * multipart upload of the pprof corpus (as tests/server/run.py sends it), plain pprof (raw and
 * gzip), folded, lines and gzip-encoded bodies, so that every format ingest_run() dispatches to
 * is reached. Accepted uploads go to a scratch store (fuzz-store.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-store.h"
#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    struct ingest_req r = { .name = "fuzz.cpu{src=multipart}", .now_s = 1700000000,
                            .max_inflated = 4u << 20 };
    struct ingest_result res;
    char msg[256], *line, *save = NULL;

    if (!nl || size > (1u << 20))
        return 0;
    line = strndup((const char *)data, (size_t)(nl - data));
    if (!line)
        return 0;
    for (char *kv = strtok_r(line, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *v = strchr(kv, '=');

        if (!v)
            continue;
        *v++ = '\0';
        if (!strcmp(kv, "ct"))
            r.content_type = v;
        else if (!strcmp(kv, "fmt"))
            r.format = v;
        else if (!strcmp(kv, "enc"))
            r.content_encoding = v;
        else if (!strcmp(kv, "name"))
            r.name = v;
        else if (!strcmp(kv, "from"))
            r.from = v;
        else if (!strcmp(kv, "until"))
            r.until = v;
        else if (!strcmp(kv, "rate"))
            r.sample_rate = v;
    }
    /* An exact-size heap copy of the body, so ASan sees any read past its end. */
    r.len = size - (size_t)(nl + 1 - data);
    r.body = malloc(r.len ? r.len : 1);
    if (r.body) {
        memcpy((void *)r.body, nl + 1, r.len);
        (void)ingest_run(fuzz_store(), &r, &res, msg, sizeof(msg));
        free((void *)r.body);
    }
    free(line);
    return 0;
}
