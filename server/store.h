/* SPDX-License-Identifier: MIT */
/* store: durable, queryable storage of profiles by series and time (SQLite). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "labels.h"
#include "pyprof/agg.h"

struct store_opts {
    const char *dir;          /* data directory, created if missing (the database lives in it) */
    int64_t retention_s;      /* drop data older than this; 0 = keep forever */
    uint64_t max_disk_bytes;  /* drop the oldest data beyond this size; 0 = no limit */
};

/* What one upload says about itself besides its stacks. */
struct store_meta {
    uint32_t sample_rate;     /* Hz; 100 when unknown */
    const char *spy_name;     /* "pyprof", "pyspy", "nodespy", ...; may be NULL */
    const char *units;        /* "samples" (default), "objects", "bytes", ... */
    const char *aggregation;  /* "sum" (default) or "average" */
};

struct store_timeline {
    int64_t start_s;          /* start of the first step */
    int64_t step_s;           /* >= 10 */
    uint64_t *samples;        /* n_steps sample totals (malloc'd, caller frees) */
    size_t n_steps;
};

struct store_stats {
    uint64_t disk_bytes;      /* database file sizes (main + WAL) */
    uint64_t series;
    uint64_t profiles;        /* stored uploads or buckets */
};

struct store;

/*
 * store_open() - open or create the store in @o->dir (SQLite in WAL mode, synchronous FULL or an
 * equivalent so that a returned store_put() survives kill -9 and power loss of the process).
 * Returns 0 and *out, or -errno with a message in @err. Thread-safe object: every function below
 * may be called from several threads at once.
 */
int store_open(struct store **out, const struct store_opts *o, char *err, size_t errlen);

/* store_close() - flush and close (NULL-safe). Returns NULL. */
struct store *store_close(struct store *s);

/*
 * store_put() - store the samples of @agg (stacks with counts; thread info is dropped) for series
 * @key over [@from_s, @until_s) (unix seconds; until > from). Durable when it returns 0.
 * Returns 0, -ENOSPC when over max_disk_bytes even after dropping the oldest data, or -errno.
 * @agg is not modified.
 */
int store_put(struct store *s, const struct series_key *key, int64_t from_s, int64_t until_s,
              const struct pp_agg *agg, const struct store_meta *meta);

/*
 * store_query() - merge every profile of the series selected by @sel that overlaps
 * [@from_s, @until_s) into @out (an empty aggregate the caller made; frames keep name, file,
 * line). With @tl non-NULL, also fill a timeline of sample totals over the range, with a step of
 * at least 10 s chosen so that there are at most 1000 steps. Cost grows with the number of time
 * buckets in range, not with uploads: coarser roll-ups serve long ranges (a 24-hour query merges
 * on the order of a hundred stored trees). Returns 0 or -errno.
 */
int store_query(struct store *s, const struct selector *sel, int64_t from_s, int64_t until_s,
                struct pp_agg *out, struct store_timeline *tl);

/*
 * store_apps() / store_label_names() / store_label_values() - distinct app names; label keys of
 * the series of @app (all apps when NULL); values of label @key (of @app, or all). Each returns 0
 * with a malloc'd array of malloc'd strings (sorted, *n entries; free with store_strv_free), or
 * -errno.
 */
int store_apps(struct store *s, char ***out, size_t *n);
int store_label_names(struct store *s, const char *app, char ***out, size_t *n);
int store_label_values(struct store *s, const char *app, const char *key, char ***out, size_t *n);
void store_strv_free(char **v, size_t n);

/*
 * store_enforce_retention() - delete what is older than retention_s before @now_s and, while the
 * store is larger than max_disk_bytes, the oldest remaining data; reclaim the space. Returns 0 or
 * -errno. Called by the server periodically; store_put() also enforces the size limit.
 */
int store_enforce_retention(struct store *s, int64_t now_s);

/* store_get_stats() - sizes and counts for /metrics. */
int store_get_stats(struct store *s, struct store_stats *out);
