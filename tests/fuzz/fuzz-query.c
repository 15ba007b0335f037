/* SPDX-License-Identifier: MIT */
/*
 * fuzz-query: the read side's parameter handling end to end: the FlameQL selector grammar, the
 * time parameters (from/until: "now-1h", unix s/ms/µs/ns, YYYYMMDD), format, maxNodes, and the
 * diff/labels/label-values variants, run by the real handlers (render.c) against a small store
 * of fixed series. Input: byte 0 picks the handler (mod 4: render, render-diff, labels,
 * label-values); the rest is the decoded query string, one key=value per line. fuzz-labels
 * covers the selector and name parsers alone; this target covers how the handlers combine them
 * with the times and the store (time ranges, timeline steps, label lookups).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-store.h"
#include "http.h"
#include "ingest.h"
#include "render.h"

#define NOW 1700000000

struct kv {
    char *text;          /* the input, NUL-terminated lines */
    const char *key[32], *val[32];
    size_t n;
};

static const char *get(void *cls, const char *key)
{
    const struct kv *a = cls;

    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->key[i], key))
            return a->val[i];
    return NULL;
}

/* A few series over the last 20 minutes: what the selectors and time ranges pick from. */
static void populate(struct store *st)
{
    static const char *const names[] = { "app.cpu{env=prod,host=a}", "app.cpu{env=dev,host=b}",
                                         "other.wall", "app.alloc_space{env=prod}" };
    static const char body[] = "main;work;leaf 3\nmain;idle 2\n<module>;a;b;c 1\n";
    char msg[128];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        for (int t = 0; t < 1200; t += 70) {
            char from[32];
            struct ingest_req r = { .name = names[i], .from = from, .body = (const void *)body,
                                    .len = sizeof(body) - 1, .now_s = NOW - 1200 + t };

            snprintf(from, sizeof(from), "%d", NOW - 1200 + t);
            if (ingest_run(st, &r, NULL, msg, sizeof(msg)) != 0)
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct server srv;
    struct http_reply r = { 0 };
    struct kv a = { 0 };
    char *save = NULL;

    if (size < 1 || size > 8192)
        return 0;
    if (!srv.store) {
        metrics_init(&srv.metrics);
        srv.store = fuzz_store();
        populate(srv.store);
    }
    a.text = malloc(size);
    if (!a.text)
        return 0;
    memcpy(a.text, data + 1, size - 1);
    a.text[size - 1] = '\0';
    for (char *l = strtok_r(a.text, "\n", &save); l && a.n < 32; l = strtok_r(NULL, "\n", &save)) {
        char *v = strchr(l, '=');

        if (!v)
            continue;
        *v++ = '\0';
        a.key[a.n] = l;
        a.val[a.n++] = v;
    }
    struct http_args args = { .get = get, .cls = &a };
    switch (data[0] % 4) {
    case 0: (void)render_handle(&srv, &args, NOW, &r); break;
    case 1: (void)render_diff_handle(&srv, &args, NOW, &r); break;
    case 2: (void)render_labels(&srv, &args, &r); break;
    default: (void)render_label_values(&srv, &args, &r); break;
    }
    if (r.status == 200 && !r.body && r.len)
        __builtin_trap(); /* a 200 with a length has a body */
    free(r.body);
    free(a.text);
    return 0;
}
