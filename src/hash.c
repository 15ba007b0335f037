/* SPDX-License-Identifier: MIT */
/* hash: FNV-1a, the splitmix64 finaliser, a bounded uint64 map, and the internal index table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pyprof/hash.h"
#include "internal.h"

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

/* === Hash functions ====================================================== */

/* FNV-1a with the offset basis XORed with @seed (seed 0 is plain FNV-1a), then mixed. */
uint64_t pp_hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = FNV_OFFSET ^ seed;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return pp_hash_u64(h);
}

uint64_t pp_hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* === Bounded uint64 map ================================================== */

#define EMPTY_KEY UINT64_MAX

struct pp_u64map {
    size_t mask;        /* capacity - 1, capacity a power of two >= 2 * max_entries */
    size_t max_entries; /* pp_u64map_put() reports PP_U64MAP_E_FULL beyond this */
    size_t count;       /* keys stored */
    uint64_t *vals;     /* == keys + capacity */
    uint64_t keys[];    /* EMPTY_KEY marks a free slot; values follow in the same block */
};

int pp_u64map_new(struct pp_u64map **out, size_t max_entries)
{
    struct pp_u64map *m;
    size_t cap = 2;

    if (max_entries == 0)
        return -EINVAL;
    while (cap / 2 < max_entries) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    if (cap > (SIZE_MAX - sizeof(*m)) / (2 * sizeof(uint64_t)))
        return -ENOMEM;
    m = malloc(sizeof(*m) + 2 * cap * sizeof(uint64_t));
    if (!m)
        return -ENOMEM;
    m->mask = cap - 1;
    m->max_entries = max_entries;
    m->count = 0;
    m->vals = m->keys + cap;
    memset(m->keys, 0xff, cap * sizeof(uint64_t));
    *out = m;
    return 0;
}

struct pp_u64map *pp_u64map_free(struct pp_u64map *m)
{
    free(m);
    return NULL;
}

/* The slot holding @key, or the empty slot where it would go. */
static size_t probe(const struct pp_u64map *m, uint64_t key)
{
    size_t i;

    for (i = pp_hash_u64(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->keys[i] == key || m->keys[i] == EMPTY_KEY)
            return i;
    }
}

int pp_u64map_get(const struct pp_u64map *m, uint64_t key, uint64_t *out)
{
    size_t i;

    if (key == EMPTY_KEY)
        return PP_U64MAP_E_MISSING;
    i = probe(m, key);
    if (m->keys[i] == EMPTY_KEY)
        return PP_U64MAP_E_MISSING;
    *out = m->vals[i];
    return 0;
}

int pp_u64map_put(struct pp_u64map *m, uint64_t key, uint64_t value)
{
    size_t i;

    if (key == EMPTY_KEY)
        return -EINVAL;
    i = probe(m, key);
    if (m->keys[i] == EMPTY_KEY) {
        if (m->count >= m->max_entries)
            return PP_U64MAP_E_FULL;
        m->keys[i] = key;
        m->count++;
    }
    m->vals[i] = value;
    return 0;
}

void pp_u64map_clear(struct pp_u64map *m)
{
    if (m->count == 0)
        return;
    /* Only the keys need resetting: a value is never read from a free slot. */
    memset(m->keys, 0xff, (m->mask + 1) * sizeof(uint64_t));
    m->count = 0;
}

size_t pp_u64map_count(const struct pp_u64map *m)
{
    return m ? m->count : 0;
}

/* === Index tables (internal.h) =========================================== */

void pp_itab_deinit(struct pp_itab *t)
{
    free(t->slots);
    t->slots = NULL;
    t->mask = 0;
    t->n = 0;
}

static void itab_place(uint64_t *slots, size_t mask, uint64_t slot)
{
    size_t i;

    for (i = (uint32_t)(slot >> 32) & mask; slots[i]; i = (i + 1) & mask)
        ;
    slots[i] = slot;
}

int pp_itab_reserve(struct pp_itab *t, size_t n)
{
    size_t cap = t->slots ? t->mask + 1 : 0;
    size_t new_cap = cap ? cap : 16;
    uint64_t *slots;
    size_t i;

    if (t->slots && n <= cap / 2)
        return 0;
    while (new_cap / 2 < n) {
        /* 32 hash bits address at most 2^32 slots. */
        if ((uint64_t)new_cap >= ((uint64_t)1 << 32) || new_cap > SIZE_MAX / 2)
            return -ENOMEM;
        new_cap *= 2;
    }
    if (new_cap > SIZE_MAX / sizeof(uint64_t))
        return -ENOMEM;
    slots = calloc(new_cap, sizeof(uint64_t));
    if (!slots)
        return -ENOMEM;
    for (i = 0; i < cap; i++) {
        if (t->slots[i])
            itab_place(slots, new_cap - 1, t->slots[i]);
    }
    free(t->slots);
    t->slots = slots;
    t->mask = new_cap - 1;
    return 0;
}

void pp_itab_insert(struct pp_itab *t, uint64_t hash, uint32_t index)
{
    itab_place(t->slots, t->mask, ((uint64_t)(uint32_t)hash << 32) | ((uint64_t)index + 1));
    t->n++;
}
