/* SPDX-License-Identifier: MIT */
/* procmaps: parse /proc/PID/maps into an array of mappings. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct procmap {
    uint64_t start, end; /* [start, end) */
    uint64_t offset;     /* file offset of start */
    char perms[5];       /* "r-xp" */
    char *path;          /* "" for anonymous maps; " (deleted)" suffix removed; owned */
    bool deleted;
};

struct procmaps {
    struct procmap *maps;
    size_t n_maps;
};

#define PROCMAPS_MAX 65536 /* more mappings than this is treated as hostile input */

enum {
    PROCMAPS_E_NONE = 0,
    PROCMAPS_E_GONE,  /* no such process */
    PROCMAPS_E_PERM,  /* not allowed to read its maps */
    PROCMAPS_E_PARSE, /* a line could not be parsed, or too many lines */
};

/*
 * procmaps_load() - read /proc/@pid/maps into *out (which must be zeroed or freed). Returns 0,
 * PROCMAPS_E_GONE, PROCMAPS_E_PERM, PROCMAPS_E_PARSE, or -ENOMEM. On error *out is empty.
 */
int procmaps_load(struct procmaps *out, pid_t pid);

/* procmaps_parse() - the same from an open stream (for tests). */
int procmaps_parse(struct procmaps *out, FILE *f);

/* procmaps_free() - release everything in @pm and zero it. NULL-safe. */
void procmaps_free(struct procmaps *pm);

/* procmaps_find() - the mapping containing @addr, or NULL. */
const struct procmap *procmaps_find(const struct procmaps *pm, uint64_t addr);

/*
 * procmaps_base() - the lowest start of all mappings of file @path (the ELF load address for
 * PIE/shared objects once the first PT_LOAD vaddr is subtracted). 0 if @path is not mapped.
 */
uint64_t procmaps_base(const struct procmaps *pm, const char *path);
