/* SPDX-License-Identifier: MIT */
/* metrics: counters of the server, written in the Prometheus text format for GET /metrics. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>

#include "pyprof/err.h"

static const unsigned codes[METRICS_N_CODES] = METRICS_CODES;
static const double buckets[METRICS_N_BUCKETS] = METRICS_BUCKETS;

void metrics_init(struct metrics *m)
{
    for (size_t i = 0; i <= METRICS_N_CODES; i++)
        atomic_init(&m->ingest_by_code[i], 0);
    for (size_t i = 0; i <= METRICS_N_BUCKETS; i++)
        atomic_init(&m->render_buckets[i], 0);
    atomic_init(&m->ingest_bytes, 0);
    atomic_init(&m->ingest_samples, 0);
    atomic_init(&m->render_count, 0);
    atomic_init(&m->render_usec, 0);
    atomic_init(&m->requests, 0);
    atomic_init(&m->conns_timed_out, 0);
    atomic_init(&m->conns_evicted, 0);
    atomic_init(&m->conns_open, 0);
}

void metrics_ingest(struct metrics *m, unsigned code, uint64_t bytes)
{
    size_t i = 0;
    while (i < METRICS_N_CODES && codes[i] != code)
        i++;
    atomic_fetch_add_explicit(&m->ingest_by_code[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->ingest_bytes, bytes, memory_order_relaxed);
}

void metrics_render(struct metrics *m, double seconds)
{
    size_t i = 0;
    while (i < METRICS_N_BUCKETS && seconds > buckets[i])
        i++;
    atomic_fetch_add_explicit(&m->render_buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->render_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->render_usec, (uint64_t)(seconds * 1e6 + 0.5),
                              memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *v)
{
    return (uint64_t)atomic_load_explicit(v, memory_order_relaxed);
}

int metrics_write(struct metrics *m, struct store *st, FILE *out)
{
    fputs("# HELP pyprof_ingest_requests_total Answers to POST /ingest by HTTP status code.\n"
          "# TYPE pyprof_ingest_requests_total counter\n",
          out);
    for (size_t i = 0; i < METRICS_N_CODES; i++)
        fprintf(out, "pyprof_ingest_requests_total{code=\"%u\"} %" PRIu64 "\n", codes[i],
                get(&m->ingest_by_code[i]));
    fprintf(out, "pyprof_ingest_requests_total{code=\"other\"} %" PRIu64 "\n",
            get(&m->ingest_by_code[METRICS_N_CODES]));
    fprintf(out,
            "# HELP pyprof_ingest_bytes_total Request body bytes received by /ingest.\n"
            "# TYPE pyprof_ingest_bytes_total counter\n"
            "pyprof_ingest_bytes_total %" PRIu64 "\n"
            "# HELP pyprof_ingest_samples_total Samples stored by accepted uploads.\n"
            "# TYPE pyprof_ingest_samples_total counter\n"
            "pyprof_ingest_samples_total %" PRIu64 "\n"
            "# HELP pyprof_http_requests_total HTTP requests answered.\n"
            "# TYPE pyprof_http_requests_total counter\n"
            "pyprof_http_requests_total %" PRIu64 "\n"
            "# HELP pyprof_http_connections_closed_total Connections closed by the server: request"
            " headers slower than --timeout, or idle ones closed near --max-connections.\n"
            "# TYPE pyprof_http_connections_closed_total counter\n"
            "pyprof_http_connections_closed_total{reason=\"timeout\"} %" PRIu64 "\n"
            "pyprof_http_connections_closed_total{reason=\"evicted\"} %" PRIu64 "\n"
            "# HELP pyprof_http_connections_open Connections open now.\n"
            "# TYPE pyprof_http_connections_open gauge\n"
            "pyprof_http_connections_open %" PRIu64 "\n",
            get(&m->ingest_bytes), get(&m->ingest_samples), get(&m->requests),
            get(&m->conns_timed_out), get(&m->conns_evicted), get(&m->conns_open));
    fputs("# HELP pyprof_render_duration_seconds Latency of /render and /render-diff.\n"
          "# TYPE pyprof_render_duration_seconds histogram\n",
          out);
    uint64_t cum = 0;
    for (size_t i = 0; i < METRICS_N_BUCKETS; i++) {
        cum += get(&m->render_buckets[i]);
        fprintf(out, "pyprof_render_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                buckets[i], cum);
    }
    cum += get(&m->render_buckets[METRICS_N_BUCKETS]);
    fprintf(out,
            "pyprof_render_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
            "pyprof_render_duration_seconds_sum %.6f\n"
            "pyprof_render_duration_seconds_count %" PRIu64 "\n",
            cum, (double)get(&m->render_usec) / 1e6, get(&m->render_count));
    if (st) {
        struct store_stats s = {0};
        if (store_get_stats(st, &s) == 0)
            fprintf(out,
                    "# HELP pyprof_store_disk_bytes Size of the store's database files.\n"
                    "# TYPE pyprof_store_disk_bytes gauge\n"
                    "pyprof_store_disk_bytes %" PRIu64 "\n"
                    "# HELP pyprof_store_series Series stored.\n"
                    "# TYPE pyprof_store_series gauge\n"
                    "pyprof_store_series %" PRIu64 "\n"
                    "# HELP pyprof_store_profiles Profiles (uploads or buckets) stored.\n"
                    "# TYPE pyprof_store_profiles gauge\n"
                    "pyprof_store_profiles %" PRIu64 "\n",
                    s.disk_bytes, s.series, s.profiles);
    }
    return ferror(out) ? pp_err_origin(-EIO) : 0;
}
