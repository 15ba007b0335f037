/* SPDX-License-Identifier: MIT */
/* store: durable, queryable storage of profiles by series and time (SQLite). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "labels.h"
#include "pyprof/agg.h"

/*
 * Layout (SQLite file DIR/pyprof.db, WAL mode, auto_vacuum=INCREMENTAL):
 *   series(id, app, labels, sample_rate, spy_name, units, aggregation)  UNIQUE(app, labels);
 *     the meta columns come from the series' first upload.
 *   label(key, value, series_id)  for the listing functions.
 *   bucket(id, series_id, level, t, total, bytes, blob)  index (series_id, level, t, total) and
 *     (level, t). Level 0 holds one row per upload, in the 10 s bucket t = floor(from_s / 10) * 10
 *     (the whole upload goes there, however long it is). Levels 1, 2, 3 are roll-ups over windows
 *     of 60 s, 600 s, 3600 s: one row per (series, window) = the merge of everything below it.
 *     A roll-up row exists only while it is exact: a put into its window deletes it and marks the
 *     window dirty; compaction rebuilds it once the window is over (STORE_COMPACT_GRACE_S after
 *     its end and after its last change). Queries use the coarsest exact rows and fall back to
 *     finer levels for the rest, so results never depend on how far compaction got.
 *   dirty(level, t, series_id, since, gen)  roll-up windows waiting for compaction; gen moves on
 *     every change below the window, so a compaction that read an older state is not committed.
 * Maintenance: unless o->manual_maintenance, store_open() starts one thread that runs PASSIVE WAL
 * checkpoints (so fsync never happens inside a put) and compaction. Compaction reads and merges
 * outside the writer lock and holds it only to swap the roll-up row in.
 * blob: "PPB1", flags (1 = deflated), varint raw length, then (deflated) varints: strings (a
 * per-tree symbol table; "" is implicit id 0), frames (name, file, line, origin), stacks (count,
 * frames shared with the previous stack, new frame ids). Decoding checks every length and id; a
 * blob that fails is skipped and counted in store_stats.corrupt_blobs.
 */

#define STORE_BUCKET_S 10          /* finest time bucket */
#define STORE_N_LEVELS 4           /* 10 s, 60 s, 600 s, 3600 s */
#define STORE_COMPACT_GRACE_S 30
#define STORE_MAX_DEPTH 2048       /* frames per stack; store_put() fails with -E2BIG beyond */
#define STORE_MAX_STRING 4096      /* bytes of a frame name or file; -E2BIG beyond */
#define STORE_MAX_BLOB (256u << 20) /* bytes of one encoded tree (uncompressed); -E2BIG beyond */

struct store_opts {
    const char *dir;          /* data directory, created if missing (the database lives in it) */
    int64_t retention_s;      /* drop data older than this; 0 = keep forever */
    uint64_t max_disk_bytes;  /* drop the oldest data beyond this size; 0 = no limit */
    bool sync_full;           /* PRAGMA synchronous=FULL (fsync per commit: power-loss safe);
                                 default NORMAL, see store_open() */
    bool manual_maintenance;  /* no background thread: SQLite checkpoints in the committing
                                 put, roll-ups only through store_compact() (tests) */
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
    uint64_t profiles;        /* stored uploads (level-0 rows) */
    uint64_t rollups;         /* stored roll-up rows (levels 1-3) */
    uint64_t dirty_windows;   /* roll-up windows waiting for compaction */
    uint64_t corrupt_blobs;   /* undecodable trees skipped since open (counter) */
    uint64_t trees_merged;    /* stored trees decoded by store_query() since open (counter) */
    uint64_t compactions;     /* roll-up windows (re)built since open (counter) */
};

struct store;

enum {
    STORE_E_NONE = 0,
    STORE_E_DISK_FULL, /* store_put(): the file system of the data directory is full (SQLite
                          SQLITE_FULL / ENOSPC); nothing was stored, the database is intact,
                          and puts succeed again once space returns */
};

/*
 * store_open() - open or create the store in @o->dir (SQLite in WAL mode). Durability: with the
 * default synchronous=NORMAL a commit is write()n to the WAL before store_put() returns, so an
 * acknowledged upload survives kill -9 or a crash of the process; a power loss or kernel crash
 * may lose the commits since the last checkpoint (never corrupts). o->sync_full makes every
 * commit fsync the WAL (power-loss safe, slower). Returns 0 and *out, or -errno with a message in
 * @err. Thread-safe object: every function below may be called from several threads at once
 * (writes share one connection under a mutex; reads use a pool of connections and never wait for
 * writers).
 */
int store_open(struct store **out, const struct store_opts *o, char *err, size_t errlen);

/* store_close() - flush and close (NULL-safe). Returns NULL. */
struct store *store_close(struct store *s);

/*
 * store_put() - store the samples of @agg (stacks with counts; thread info is dropped) for series
 * @key over [@from_s, @until_s) (unix seconds; until > from). Durable when it returns 0.
 * Returns 0, -ENOSPC when over max_disk_bytes even after dropping the oldest data,
 * STORE_E_DISK_FULL when the file system itself is full (the caller must handle it), -EINVAL (bad
 * key or times), -E2BIG (a stack deeper than STORE_MAX_DEPTH, a string longer than
 * STORE_MAX_STRING, or a tree over STORE_MAX_BLOB), or -errno. @agg is not modified; stacks with
 * count 0 are not stored. @meta may be NULL. Cost: encoding (outside any lock) plus one small
 * transaction under the writer lock; no merging, no fsync (see store_open()).
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
 *
 * Details: a profile overlaps when its 10 s bucket [t, t+10) does (t < until, t + 10 > from).
 * All stacks go to thread 0 (tid 0, name "") of @out. The step is the smallest of 10, 20, 30,
 * 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400 s (then
 * multiples of 86400) giving at most 1000 steps; start_s = floor(from / step) * step, and step i
 * covers [start + i*step, start + (i+1)*step). The timeline counts exactly the profiles merged,
 * so the sum of its steps equals what was added to @out. The query reads one consistent snapshot.
 * Undecodable trees are skipped (store_stats.corrupt_blobs). -EINVAL when until <= from.
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
 *
 * Details: by age, cutoff = now - retention_s: level-0 buckets with t + 10 <= cutoff are deleted;
 * roll-ups that start before the cutoff are deleted too (and rebuilt from what remains when
 * their window reaches past it), so queries never see dropped data. Series left without data
 * lose their series and label rows. By size (disk_bytes = main file + WAL): when above
 * max_disk_bytes, whole oldest 10 s buckets (all series) are dropped until the estimate is below
 * 90% of the limit, then the file is shrunk (incremental_vacuum + wal_checkpoint(TRUNCATE)).
 * -ENOSPC when nothing is left to drop and the store is still too big. Then runs
 * store_compact(@now_s).
 */
int store_enforce_retention(struct store *s, int64_t now_s);

/*
 * store_compact() - rebuild every dirty roll-up window ready at @now_s (window end and last
 * upload into it at least STORE_COMPACT_GRACE_S before @now_s, by the wall clock), finest level
 * first. Returns 0 or -errno. The maintenance thread does this continuously; this is the hook
 * for tests and for manual_maintenance.
 */
int store_compact(struct store *s, int64_t now_s);

/* store_get_stats() - sizes and counts for /metrics. */
int store_get_stats(struct store *s, struct store_stats *out);
