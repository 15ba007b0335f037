/* SPDX-License-Identifier: MIT */
/* strtab: a string interner. Bytes live in chunks that never move; ids index an entry array. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pyprof/hash.h"
#include "pyprof/strtab.h"

#define CHUNK_SIZE  (64 * 1024)      /* bytes per ordinary chunk */
#define CHUNK_LARGE (CHUNK_SIZE / 4) /* strings above this get a chunk of their own */
#define MAX_STRINGS (UINT32_MAX - 1)
#define MAX_BYTES   (UINT32_MAX - 1)

struct chunk {
    struct chunk *next;
    size_t used;
    size_t cap;
    char data[];
};

struct entry {
    const char *s; /* NUL-terminated, in a chunk (or the literal "" for id 0) */
    uint32_t len;
};

struct pp_strtab {
    struct entry *entries; /* entries[id] */
    size_t cap_entries;
    uint32_t n;            /* number of ids, including 0 */
    uint64_t n_bytes;      /* sum of the lengths */
    struct pp_itab index;  /* every id but 0 */
    struct chunk *chunks;  /* the head is the one being filled */
};

struct key {
    const struct pp_strtab *t;
    const char *s;
    size_t len;
};

int pp_strtab_new(struct pp_strtab **out)
{
    struct pp_strtab *t;
    int r;

    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    r = pp_grow((void **)&t->entries, &t->cap_entries, 1, sizeof(*t->entries));
    if (r < 0) {
        free(t);
        return r;
    }
    t->entries[0].s = "";
    t->entries[0].len = 0;
    t->n = 1;
    *out = t;
    return 0;
}

struct pp_strtab *pp_strtab_free(struct pp_strtab *t)
{
    struct chunk *c, *next;

    if (!t)
        return NULL;
    for (c = t->chunks; c; c = next) {
        next = c->next;
        free(c);
    }
    pp_itab_deinit(&t->index);
    free(t->entries);
    free(t);
    return NULL;
}

static bool key_eq(const void *ctx, uint32_t id)
{
    const struct key *k = ctx;
    const struct entry *e = &k->t->entries[id];

    return e->len == k->len && memcmp(e->s, k->s, k->len) == 0;
}

/* Room for @size bytes that will never move, or NULL. Links a new chunk in if needed. */
static char *alloc_bytes(struct pp_strtab *t, size_t size)
{
    struct chunk *c = t->chunks;
    char *p;

    if (c && c->cap - c->used >= size) {
        p = c->data + c->used;
        c->used += size;
        return p;
    }
    if (size > SIZE_MAX - sizeof(*c) - CHUNK_SIZE)
        return NULL;
    c = malloc(sizeof(*c) + (size > CHUNK_LARGE ? size : CHUNK_SIZE));
    if (!c)
        return NULL;
    c->cap = size > CHUNK_LARGE ? size : CHUNK_SIZE;
    c->used = size;
    if (size > CHUNK_LARGE && t->chunks) {
        /* A large string fills its own chunk: keep filling the current one. */
        c->next = t->chunks->next;
        t->chunks->next = c;
    } else {
        c->next = t->chunks;
        t->chunks = c;
    }
    return c->data;
}

int pp_strtab_intern(struct pp_strtab *t, const char *s, size_t len, uint32_t *out_id)
{
    struct key k = {t, s, len};
    uint64_t h;
    uint32_t id;
    char *p;
    int r;

    if (len == 0) {
        *out_id = 0;
        return 0;
    }
    h = pp_hash_bytes(s, len, 0);
    if (pp_itab_find(&t->index, h, key_eq, &k, &id)) {
        *out_id = id;
        return 0;
    }
    if (t->n >= MAX_STRINGS || len > MAX_BYTES - t->n_bytes)
        return -E2BIG;
    /* Allocate everything first so that a failure leaves the table as it was. */
    r = pp_grow((void **)&t->entries, &t->cap_entries, (size_t)t->n + 1, sizeof(*t->entries));
    if (r < 0)
        return r;
    r = pp_itab_reserve(&t->index, t->index.n + 1);
    if (r < 0)
        return r;
    p = alloc_bytes(t, len + 1);
    if (!p)
        return -ENOMEM;
    memcpy(p, s, len);
    p[len] = '\0';
    id = t->n++;
    t->entries[id].s = p;
    t->entries[id].len = (uint32_t)len;
    t->n_bytes += len;
    pp_itab_insert(&t->index, h, id);
    *out_id = id;
    return 0;
}

const char *pp_strtab_str(const struct pp_strtab *t, uint32_t id, size_t *out_len)
{
    if (id >= t->n)
        return NULL;
    if (out_len)
        *out_len = t->entries[id].len;
    return t->entries[id].s;
}

uint32_t pp_strtab_count(const struct pp_strtab *t)
{
    return t->n;
}
