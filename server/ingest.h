/* SPDX-License-Identifier: MIT */
/* ingest: Pyroscope's POST /ingest — parameters, body formats, and the store. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* One upload, as the HTTP layer received it. Every string may be NULL (absent). */
struct ingest_req {
    const char *name;              /* app{k=v,...}: required */
    const char *from, *until;      /* times, see ingest_parse_time() */
    const char *format;            /* pprof, lines, speedscope, ...; else folded */
    const char *sample_rate;       /* Hz, default 100 */
    const char *spy_name;          /* default "unknown" */
    const char *units;             /* default "samples" */
    const char *aggregation;       /* aggregationType, default "sum" */
    const char *content_type;      /* header */
    const char *content_encoding;  /* header; "gzip" is decoded */
    const unsigned char *body;
    size_t len;
    int64_t now_s;                 /* the time "now" stands for */
    size_t max_inflated;           /* bound on a decompressed body; 0 = 256 MiB */
};

enum {
    INGEST_E_NONE = 0,
    INGEST_E_PARAM,     /* 400: bad name or parameter (message says which) */
    INGEST_E_BODY,      /* 422: the body does not parse as its format */
    INGEST_E_TOO_LARGE, /* 413: the body inflates beyond max_inflated */
    INGEST_E_FULL,      /* 507: the store is over max_disk even after dropping old data */
    INGEST_E_DISK_FULL, /* 507: the file system of the data directory is full (nothing stored) */
};

/* What an accepted upload became. */
struct ingest_result {
    char app[LABELS_NAME_MAX + 1]; /* the app name it was stored under (type suffix included) */
    int64_t from_s, until_s;
    uint64_t samples;
};

/*
 * ingest_run() - parse @r exactly as Pyroscope's /ingest does (formats in §2.2 order: lines,
 * pprof, speedscope, multipart form with a `profile` part, else folded; trie/tree/jfr are
 * refused with INGEST_E_PARAM) and store it with store_put(). A pprof upload whose app name does
 * not end in a known profile type (".cpu", ".wall", ".inuse_objects", ...) gets the type of its
 * first sample type appended ("app" -> "app.wall"), so that the wall and heap profiles of one
 * client are separate series. Times: until defaults to now, from to until - 10 s (or the pprof
 * duration); until <= from becomes from + 1. Returns 0 (durable), one of INGEST_E_* with a
 * message in @msg, or -errno (store or memory failure). @res may be NULL.
 */
int ingest_run(struct store *st, const struct ingest_req *r, struct ingest_result *res,
               char *msg, size_t msglen);

/*
 * ingest_parse_time() - Pyroscope's attime.Parse: '_', ',' and ' ' are ignored; "now", "now-1h"
 * (one offset; units s, m/min, h, d, w, M/mon, y; '+' allowed too); digits: 13 -> ms, 16 -> µs,
 * 19 -> ns, 8 forming a valid YYYYMMDD date -> that day 00:00 UTC, otherwise seconds. Returns 0
 * and *out_s (unix seconds), or INGEST_E_PARAM.
 */
int ingest_parse_time(const char *s, int64_t now_s, int64_t *out_s);

/*
 * ingest_gunzip() - inflate the gzip (or zlib) stream @in into a malloc'd *out of *out_len bytes,
 * at most @max. Returns 0, INGEST_E_BODY (corrupt), INGEST_E_TOO_LARGE or -ENOMEM.
 */
int ingest_gunzip(const unsigned char *in, size_t len, size_t max, unsigned char **out,
                  size_t *out_len);
