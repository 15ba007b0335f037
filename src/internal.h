/* SPDX-License-Identifier: MIT */
/* internal: helpers shared by libpyprof's sources; not part of the public API. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* === Growing arrays ====================================================== */

/*
 * pp_grow() - make the array *@p of *@cap elements of @elem bytes hold at least @need elements,
 * doubling (minimum 16). On success *@p and *@cap may change and the first *@cap elements keep
 * their contents; on -ENOMEM nothing changes. Does not allocate when @need <= *@cap.
 */
static inline int pp_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t n;
    void *q;

    if (need <= *cap)
        return 0;
    n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return -ENOMEM;
        n *= 2;
    }
    if (n > SIZE_MAX / elem)
        return -ENOMEM;
    q = realloc(*p, n * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* === Index tables ======================================================== */

/*
 * struct pp_itab - an open-addressing (linear probing) hash set of uint32 indices into an array the
 * caller owns; the caller supplies each entry's hash and an equality callback. There is no removal.
 * Load is kept <= 0.5 by pp_itab_reserve(), so probing always reaches an empty slot. At most 2^31
 * entries (the table is addressed with 32 hash bits); pp_itab_reserve() says -ENOMEM beyond that.
 */
struct pp_itab {
    uint64_t *slots; /* 0: empty; else ((uint64_t)(uint32_t)hash << 32) | (index + 1) */
    size_t mask;     /* capacity - 1; capacity is a power of two, 0 while slots is NULL */
    size_t n;        /* occupied slots */
};

/* Does entry @index equal the key described by @ctx? */
typedef bool (*pp_itab_eq_fn)(const void *ctx, uint32_t index);

#define PP_ITAB_INIT {NULL, 0, 0}

/* pp_itab_deinit() - free the slots; @t is left empty and reusable. */
void pp_itab_deinit(struct pp_itab *t);

/*
 * pp_itab_reserve() - make room for @n entries in total, rehashing if needed. 0 or -ENOMEM (then
 * @t is unchanged). Does not allocate when the room is already there.
 */
int pp_itab_reserve(struct pp_itab *t, size_t n);

/*
 * pp_itab_insert() - add @index with @hash. Requires pp_itab_reserve(@t, @t->n + 1) to have
 * succeeded and no equal entry to be present. Never allocates or fails.
 */
void pp_itab_insert(struct pp_itab *t, uint64_t hash, uint32_t index);

/*
 * pp_itab_find() - the index of the entry with @hash for which @eq(@ctx, index) holds: true and
 * *@out_index set, or false. Never allocates.
 */
static inline bool pp_itab_find(const struct pp_itab *t, uint64_t hash, pp_itab_eq_fn eq,
                                const void *ctx, uint32_t *out_index)
{
    uint32_t h32 = (uint32_t)hash;
    size_t i;

    if (!t->slots)
        return false;
    for (i = h32 & t->mask;; i = (i + 1) & t->mask) {
        uint64_t s = t->slots[i];

        if (!s)
            return false;
        if ((uint32_t)(s >> 32) == h32 && eq(ctx, (uint32_t)s - 1)) {
            *out_index = (uint32_t)s - 1;
            return true;
        }
    }
}
