/* SPDX-License-Identifier: MIT */
/* http: the server's configuration, its shared state, and the libmicrohttpd front end. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "store.h"

/*
 * Everything the command line sets, with its default. server_config_init() fills the defaults;
 * server_config_parse() applies argv on top. Strings point into argv or the environment.
 */
struct server_config {
    char listen_host[256];     /* "127.0.0.1" */
    unsigned listen_port;      /* 4040; 0 = pick a free port (printed on stdout) */
    const char *data_dir;      /* $XDG_DATA_HOME/pyprof if set, else ./pyprof-data */
    char data_dir_buf[4096];
    int64_t retention_s;       /* --retention 7d; 0 = keep forever */
    uint64_t max_disk_bytes;   /* --max-disk 10GB; 0 = no limit */
    const char *ingest_token;  /* --ingest-token: Bearer token required by /ingest; NULL = open */
    const char *read_token;    /* --read-token: token required by every other API; NULL = open */
    unsigned threads;          /* --threads 4: libmicrohttpd thread pool size (1..64) */
    unsigned max_connections;  /* --max-connections 1000; lowered to fit RLIMIT_NOFILE */
    unsigned timeout_s;        /* --timeout 30: idle connection timeout, and the longest a client
                                  may take to send a request's headers (slowloris) */
    size_t max_body;           /* --max-body 16MiB: larger request bodies get 413 */
    double ingest_rate;        /* --ingest-rate N: uploads/s over all clients, then 429; 0 = off */
    unsigned retention_every_s;/* --retention-interval 60: seconds between retention passes */
    unsigned drain_s;          /* --drain-timeout 10: how long a SIGTERM waits for requests */
    bool quiet;                /* --quiet: no request log on stderr */
    const char *cors_origin;   /* --cors-origin: the one origin allowed to call the read APIs
                                  from a browser; NULL = no CORS header anywhere */
};

enum {
    SERVER_CONFIG_E_NONE = 0,
    SERVER_CONFIG_E_USAGE, /* bad command line; the message is in @err */
    SERVER_CONFIG_E_HELP,  /* --help or --version was asked for; the text is in @err */
};

/* server_config_init() - the defaults listed above. */
void server_config_init(struct server_config *c);

/*
 * server_config_parse() - apply @argv[1..@argc) to @c. Returns 0, SERVER_CONFIG_E_USAGE or
 * SERVER_CONFIG_E_HELP with text in @err.
 */
int server_config_parse(struct server_config *c, int argc, char **argv, char *err, size_t errlen);

/*
 * Parsers for the option values, exported for tests. parse_duration: "90" (s), "30s", "15m",
 * "1h", "7d", "2w", "0"; parse_size: "123", "10KB", "10MB", "10GB", "1TB" (powers of 1000),
 * "10KiB"..."1TiB" (powers of 1024). Both return 0 or SERVER_CONFIG_E_USAGE.
 */
int server_parse_duration(const char *s, int64_t *out_s);
int server_parse_size(const char *s, uint64_t *out);

/*
 * A reply built by a handler: status, content type, a malloc'd body (freed by the HTTP layer
 * with free()), and an optional Content-Disposition file name.
 */
struct http_reply {
    unsigned status;
    const char *content_type;  /* static string */
    char *body;                /* malloc'd; may be NULL when len is 0 */
    size_t len;
    char filename[128];        /* "" = none; else attachment; filename="..." */
};

/* Query-string access for handlers: get(cls, "key") returns the decoded value or NULL. */
struct http_args {
    const char *(*get)(void *cls, const char *key);
    void *cls;
};

static inline const char *http_arg(const struct http_args *a, const char *key)
{
    return a->get(a->cls, key);
}

/* http_reply_text() - fill @r with @status and a copy of @text (text/plain). 0 or -ENOMEM. */
int http_reply_text(struct http_reply *r, unsigned status, const char *text);

/*
 * One open connection, tracked from accept to close (MHD_OPTION_NOTIFY_CONNECTION) so that the
 * watchdog can close the ones that are slow to send a request and, near the connection limit,
 * the oldest idle ones. Owned by the HTTP layer; fields under server.conn_lock.
 */
struct conn_track {
    struct conn_track *prev, *next; /* in server.idle_head list, oldest first */
    int fd;
    double since;              /* CLOCK_MONOTONIC: accepted, or its last request completed */
    bool waiting;              /* in the idle list: no request in progress */
    bool closing;              /* shut down by us; MHD closes it */
};

/* The state every handler shares. One per server; no globals. */
struct server {
    const struct server_config *cfg;
    struct store *store;
    struct metrics metrics;
    atomic_bool draining;      /* set on SIGTERM: new ingests get 503 */
    atomic_int inflight;       /* requests accepted and not yet completed */
    pthread_mutex_t rate_lock; /* guards the token bucket below */
    double rate_tokens;
    double rate_last;          /* CLOCK_MONOTONIC seconds of the last refill */
    struct MHD_Daemon *mhd;
    unsigned port;             /* the bound port, once started */
    pthread_t retention_thread;
    bool retention_started;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
    unsigned max_connections;  /* cfg->max_connections, lowered to fit RLIMIT_NOFILE */
    char too_large_text[128];  /* the 413 message, naming the limit */
    atomic_bool disk_full;     /* the last upload failed for lack of disk space (logged once) */
    pthread_mutex_t conn_lock; /* guards the connection tracking below */
    struct conn_track *idle_head, *idle_tail; /* connections waiting for a request */
    unsigned n_conns;          /* tracked connections */
    pthread_t watchdog_thread;
    bool watchdog_started;
};

/*
 * server_start() - open the store, start libmicrohttpd and the retention thread. On return
 * @srv->port holds the bound port. Returns 0 or -errno with a message in @err; on an error
 * everything started is stopped again.
 */
int server_start(struct server *srv, const struct server_config *cfg, char *err, size_t errlen);

/*
 * server_drain() - answer 503 to new ingests, wait up to cfg->drain_s for the requests in flight,
 * then stop HTTP and the retention thread and close the store. Safe after a failed start.
 */
void server_drain(struct server *srv);

/* server_rate_allow() - take one upload from the token bucket; false = answer 429. */
bool server_rate_allow(struct server *srv);
