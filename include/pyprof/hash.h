/* SPDX-License-Identifier: MIT */
/* hash: hashing helpers and a bounded open-addressing map from uint64 keys to uint64 values. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* pp_hash_bytes() - 64-bit hash of @len bytes (FNV-1a folded through a 64-bit mixer). Pure. */
uint64_t pp_hash_bytes(const void *data, size_t len, uint64_t seed);

/* pp_hash_u64() - a strong 64-bit integer mixer (splitmix64 finaliser). Pure. */
uint64_t pp_hash_u64(uint64_t x);

/*
 * struct pp_u64map - keys are arbitrary uint64 values (remote addresses, packed pairs);
 * key UINT64_MAX is reserved and cannot be stored. Capacity is a power of two fixed at creation:
 * the map never grows, so callers use it as a bounded cache and call pp_u64map_clear() when
 * pp_u64map_put() reports PP_U64MAP_E_FULL.
 */
struct pp_u64map;

enum {
    PP_U64MAP_E_NONE = 0,
    PP_U64MAP_E_FULL,    /* the map holds max_entries already; nothing was stored */
    PP_U64MAP_E_MISSING, /* pp_u64map_get(): no such key; *out unchanged */
};

/*
 * pp_u64map_new() - create a map that holds up to @max_entries keys (rounded internally so that
 * the load factor stays <= 0.5). Returns 0 and sets *out, or -ENOMEM / -EINVAL (max_entries 0).
 */
int pp_u64map_new(struct pp_u64map **out, size_t max_entries);

/* pp_u64map_free() - free @m (NULL-safe). Returns NULL. */
struct pp_u64map *pp_u64map_free(struct pp_u64map *m);

/* pp_u64map_get() - 0 and *out = value, or PP_U64MAP_E_MISSING. Never allocates. */
int pp_u64map_get(const struct pp_u64map *m, uint64_t key, uint64_t *out);

/*
 * pp_u64map_put() - insert or overwrite @key. Returns 0, PP_U64MAP_E_FULL (map unchanged) or
 * -EINVAL for the reserved key. Never allocates. A key already present is overwritten even when
 * the map is full; FULL means a new key would exceed max_entries (exactly, not the rounded size).
 */
int pp_u64map_put(struct pp_u64map *m, uint64_t key, uint64_t value);

/* pp_u64map_clear() - drop every entry; capacity is kept. */
void pp_u64map_clear(struct pp_u64map *m);

/* pp_u64map_count() - number of entries stored. */
size_t pp_u64map_count(const struct pp_u64map *m);
