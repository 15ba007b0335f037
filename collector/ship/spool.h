/* SPDX-License-Identifier: MIT */
/* spool: a bounded on-disk queue of profiles waiting to be uploaded again. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * One file per entry in a directory of its own: NAME = "<created unix ns, 20 digits>-<seq, 10
 * digits>.spool", so that the names sort oldest first. A file holds "PYPROFSPOOL1\n", one line
 * of metadata (for the agent: the /ingest query string) and the body (a gzipped pprof).
 * Writes go to ".tmp-NAME" first, are fsync'ed and renamed into place, so a crash leaves either
 * a whole entry or a temporary file that the next spool_open() deletes. The spool is bounded by
 * total bytes and by age; when a new entry does not fit, the oldest entries are deleted and
 * counted as dropped.
 */

#define SPOOL_MAX_META 4096 /* bytes of metadata, newline excluded */

enum {
    SPOOL_E_NONE = 0,
    SPOOL_E_EMPTY,   /* spool_peek(): nothing queued */
    SPOOL_E_TOOBIG,  /* spool_put(): the entry alone is larger than the size bound: not stored */
    SPOOL_E_CORRUPT, /* spool_peek(): the oldest file was unreadable or malformed; it was deleted */
};

struct spool_opts {
    const char *dir;        /* created (mode 0700, one level) if missing */
    uint64_t max_bytes;     /* bound on the sum of file sizes; 0 = 64 MiB */
    uint64_t max_age_ns;    /* entries older than this are dropped by spool_prune(); 0 = never */
};

struct spool_stats {
    uint64_t n_files;       /* entries now queued */
    uint64_t bytes;         /* their total size */
    uint64_t put;           /* entries stored since spool_open() */
    uint64_t dropped_full;  /* oldest entries deleted to make room (or too big to store) */
    uint64_t dropped_age;   /* entries deleted by spool_prune() */
    uint64_t removed;       /* entries deleted by spool_remove() (delivered or rejected) */
};

/* The oldest entry, as returned by spool_peek(). Owned by the caller: free with spool_item_free. */
struct spool_item {
    char name[48];          /* file name, the entry's identity for spool_remove() */
    uint64_t created_ns;
    char *meta;             /* NUL-terminated */
    void *body;
    size_t len;
};

struct spool;

/*
 * spool_open() - open (or create) the spool in @o->dir: delete leftover ".tmp-*" files, index
 * the existing entries (oldest first) and apply the size bound to them. 0 or a negative errno.
 */
int spool_open(struct spool **out, const struct spool_opts *o);

/* spool_free() - NULL-safe; files stay on disk. Returns NULL. */
struct spool *spool_free(struct spool *s);

/*
 * spool_put() - store @meta (no newline, at most SPOOL_MAX_META bytes) and @body as a new entry
 * created at @now_ns (unix ns). Deletes the oldest entries first when the size bound requires it
 * (counted in dropped_full). Returns 0, SPOOL_E_TOOBIG (nothing stored, counted in dropped_full),
 * or a negative errno (-EINVAL for bad meta; I/O errors: nothing stored, temporary file removed).
 */
int spool_put(struct spool *s, const char *meta, const void *body, size_t len, uint64_t now_ns);

/*
 * spool_peek() - read the oldest entry into *out (release it with spool_item_free()); it stays
 * queued until spool_remove(). Returns 0, SPOOL_E_EMPTY, SPOOL_E_CORRUPT (the bad file was
 * deleted and counted in dropped_full: call again), or a negative errno.
 */
int spool_peek(struct spool *s, struct spool_item *out);

/* spool_item_free() - release what spool_peek() allocated; NULL-safe, idempotent. */
void spool_item_free(struct spool_item *it);

/*
 * spool_remove() - delete the entry called @name (delivered, or rejected for good). An entry
 * already gone (dropped meanwhile) is not an error. Returns 0 or a negative errno.
 */
int spool_remove(struct spool *s, const char *name);

/*
 * spool_prune() - delete entries created before @now_ns - max_age_ns (counted in dropped_age).
 * Returns the number deleted (>= 0).
 */
int spool_prune(struct spool *s, uint64_t now_ns);

/* spool_stats() - the counters; valid until the next call on @s. */
const struct spool_stats *spool_stats(const struct spool *s);
