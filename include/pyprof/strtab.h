/* SPDX-License-Identifier: MIT */
/* strtab: a string interner; equal byte strings get equal dense ids, id 0 is always "". */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct pp_strtab;

/* pp_strtab_new() - create an empty table holding only "" (id 0). 0, or -ENOMEM. */
int pp_strtab_new(struct pp_strtab **out);

/* pp_strtab_free() - free @t and every string in it (NULL-safe). Returns NULL. */
struct pp_strtab *pp_strtab_free(struct pp_strtab *t);

/*
 * pp_strtab_intern() - return in *out_id the id of the @len bytes at @s, copying them in on first
 * sight. @s need not be NUL-terminated and may contain any bytes. Ids are dense, in order of first
 * interning. Returns 0, or -ENOMEM / -E2BIG (more than UINT32_MAX - 1 strings or bytes) with the
 * table unchanged.
 */
int pp_strtab_intern(struct pp_strtab *t, const char *s, size_t len, uint32_t *out_id);

/*
 * pp_strtab_str() - the NUL-terminated string for @id (owned by @t, valid until pp_strtab_free),
 * with its length in *out_len if non-NULL. An id that was never returned gives NULL.
 */
const char *pp_strtab_str(const struct pp_strtab *t, uint32_t id, size_t *out_len);

/* pp_strtab_count() - number of strings, including "". */
uint32_t pp_strtab_count(const struct pp_strtab *t);
