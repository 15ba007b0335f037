/* SPDX-License-Identifier: MIT */
/* metrics: counters of the server, written in the Prometheus text format for GET /metrics. */
#pragma once

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "store.h"

/* HTTP codes counted one by one; anything else is counted as "other". */
#define METRICS_CODES {200, 400, 401, 404, 405, 408, 413, 422, 429, 500, 503, 507}
#define METRICS_N_CODES 12
/* Render latency histogram upper bounds, seconds (plus +Inf). */
#define METRICS_BUCKETS {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0}
#define METRICS_N_BUCKETS 11

/* Lock-free counters; zero-initialise (metrics_init) and update from any thread. */
struct metrics {
    atomic_uint_fast64_t ingest_by_code[METRICS_N_CODES + 1]; /* last: other codes */
    atomic_uint_fast64_t ingest_bytes;        /* request body bytes received by /ingest */
    atomic_uint_fast64_t ingest_samples;      /* samples stored */
    atomic_uint_fast64_t render_buckets[METRICS_N_BUCKETS + 1]; /* non-cumulative; last: +Inf */
    atomic_uint_fast64_t render_count;
    atomic_uint_fast64_t render_usec;         /* sum of render latencies, microseconds */
    atomic_uint_fast64_t requests;            /* every request answered */
    atomic_uint_fast64_t conns_timed_out;     /* closed: request headers too slow (--timeout) */
    atomic_uint_fast64_t conns_evicted;       /* closed idle to make room (--max-connections) */
    atomic_uint_fast64_t conns_open;          /* gauge: connections open now */
};

/* metrics_init() - zero every counter. */
void metrics_init(struct metrics *m);

/* metrics_ingest() - count one /ingest answer with HTTP @code and @bytes of body. */
void metrics_ingest(struct metrics *m, unsigned code, uint64_t bytes);

/* metrics_render() - count one /render or /render-diff taking @seconds. */
void metrics_render(struct metrics *m, double seconds);

/*
 * metrics_write() - the Prometheus text exposition (version 0.0.4) of @m, and of the store's
 * sizes when @st is non-NULL: pyprof_ingest_requests_total{code}, pyprof_ingest_bytes_total,
 * pyprof_ingest_samples_total, pyprof_render_duration_seconds (histogram),
 * pyprof_http_requests_total, pyprof_http_connections_closed_total{reason},
 * pyprof_http_connections_open, pyprof_store_disk_bytes, pyprof_store_series,
 * pyprof_store_profiles. Returns 0 or -EIO.
 */
int metrics_write(struct metrics *m, struct store *st, FILE *out);
