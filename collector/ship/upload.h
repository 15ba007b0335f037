/* SPDX-License-Identifier: MIT */
/* upload: POST profiles to a Pyroscope-compatible /ingest endpoint with libcurl, without blocking. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * The transfers run on a curl multi handle driven by upload_poll(), so the caller's sampling
 * loop never blocks on the network. The URL is SERVER + "/ingest?" + query, which works the same
 * against pyprof-server, Pyroscope v0.37 and Grafana Pyroscope v1 (and Grafana Cloud with a token).
 */

/* What to do with a finished transfer. */
enum upload_verdict {
    UPLOAD_DELIVERED = 0, /* 2xx */
    UPLOAD_RETRY,         /* worth trying again later: no answer, timeout, 5xx, 408, 429 */
    UPLOAD_REJECTED,      /* the server refused this body for good (other 4xx, 3xx): drop it */
};

struct upload_opts {
    const char *server;    /* "http://host:4040" (a trailing '/' is ignored); copied */
    const char *token;     /* Authorization: Bearer TOKEN, or NULL; copied */
    const char *tenant;    /* X-Scope-OrgID: TENANT, or NULL; copied */
    double timeout;        /* seconds for a whole transfer; 0 = 10 */
    const char *user_agent; /* NULL: "pyprof-agent" */
};

struct upload_result {
    uint64_t id;           /* as given to upload_start() */
    enum upload_verdict verdict;
    long status;           /* HTTP status, 0 when there was no answer */
    char reason[256];      /* curl's error, or the first line of the answer body for a non-2xx */
    uint64_t bytes;        /* body bytes sent */
};

struct upload;

/* upload_new() - an idle uploader (calls curl_global_init once). 0, -ENOMEM or -EIO. */
int upload_new(struct upload **out, const struct upload_opts *o);

/* upload_free() - abort transfers in flight (no results for them). NULL-safe. Returns NULL. */
struct upload *upload_free(struct upload *u);

/* upload_set_opts() - use @o for transfers started from now on (config reload). 0 or -ENOMEM. */
int upload_set_opts(struct upload *u, const struct upload_opts *o);

/*
 * upload_start() - begin POSTing @body (@len bytes, copied) to SERVER/ingest?@query with
 * Content-Type application/octet-stream. @query must already be URL-encoded. The result comes
 * later from upload_next_result() under @id. 0, -ENOMEM or -EIO.
 */
int upload_start(struct upload *u, uint64_t id, const char *query, const void *body, size_t len);

/*
 * upload_poll() - move the transfers on, waiting at most @timeout_ms for network activity
 * (0: do not wait). Returns at once when nothing is in flight. 0 or -EIO.
 */
int upload_poll(struct upload *u, int timeout_ms);

/* upload_next_result() - 1 and *out for a finished transfer, or 0 when there is none. */
int upload_next_result(struct upload *u, struct upload_result *out);

/* upload_in_flight() - transfers started and not yet returned by upload_next_result(). */
size_t upload_in_flight(const struct upload *u);

/* upload_classify() - the verdict for HTTP @status (0 = no answer). Pure. */
enum upload_verdict upload_classify(long status);

/*
 * upload_escape() - percent-encode @s (RFC 3986 unreserved characters kept) into @buf of @cap
 * bytes. Returns the length, or -ENOSPC when it does not fit. Pure.
 */
int upload_escape(const char *s, char *buf, size_t cap);
