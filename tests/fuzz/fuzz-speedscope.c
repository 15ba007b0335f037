/* SPDX-License-Identifier: MIT */
/*
 * fuzz-speedscope: ingest_run() with format=speedscope on a hostile JSON body (the server's own
 * JSON parser and the sampled/evented profile readers). A body that starts 1f 8b is sent with
 * Content-Encoding: gzip. Seeds: the speedscope files in tests/golden/speedscope/ and the
 * evented profiles of tests/server/run.py. Accepted uploads go to a scratch store (fuzz-store.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-store.h"
#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ingest_req r = { .name = "fuzz.cpu{src=speedscope}", .format = "speedscope",
                            .sample_rate = size & 1 ? "97" : NULL, .now_s = 1700000000,
                            .max_inflated = 4u << 20, .len = size };
    struct ingest_result res;
    char msg[256];
    unsigned char *body;

    if (size > (1u << 20))
        return 0;
    body = malloc(size ? size : 1); /* exact size: ASan sees reads past the end */
    if (!body)
        return 0;
    memcpy(body, data, size);
    r.body = body;
    if (size >= 2 && body[0] == 0x1f && body[1] == 0x8b)
        r.content_encoding = "gzip";
    (void)ingest_run(fuzz_store(), &r, &res, msg, sizeof(msg));
    free(body);
    return 0;
}
