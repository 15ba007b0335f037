/* SPDX-License-Identifier: MIT */
/* http: the server's configuration, its shared state, and the libmicrohttpd front end. */
#include "http.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "ingest.h"
#include "pyprof/err.h"
#include "render.h"
#include "webassets.h"

/* === Configuration ============================================================================ */

void server_config_init(struct server_config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
    c->listen_port = 4040;
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && *xdg) {
        snprintf(c->data_dir_buf, sizeof(c->data_dir_buf), "%s/pyprof", xdg);
        c->data_dir = c->data_dir_buf;
    } else {
        c->data_dir = "./pyprof-data";
    }
    c->retention_s = 7 * 86400;
    c->max_disk_bytes = 10ull * 1000 * 1000 * 1000;
    c->threads = 4;
    c->max_connections = 1000;
    c->timeout_s = 30;
    c->max_body = (size_t)16 << 20;
    c->retention_every_s = 60;
    c->drain_s = 10;
    const char *t = getenv("PYPROF_INGEST_TOKEN");
    if (t && *t)
        c->ingest_token = t;
    t = getenv("PYPROF_READ_TOKEN");
    if (t && *t)
        c->read_token = t;
}

int server_parse_duration(const char *s, int64_t *out_s)
{
    char *end;
    if (!s || !*s)
        return SERVER_CONFIG_E_USAGE;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return SERVER_CONFIG_E_USAGE;
    static const struct {
        const char *u;
        double s;
    } units[] = {{"", 1},      {"s", 1},       {"m", 60},     {"min", 60}, {"h", 3600},
                 {"d", 86400}, {"w", 604800}, {"y", 31536000}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].u) == 0) {
            if (v * units[i].s > 1e15)
                return SERVER_CONFIG_E_USAGE;
            *out_s = (int64_t)(v * units[i].s + 0.5);
            return 0;
        }
    }
    return SERVER_CONFIG_E_USAGE;
}

int server_parse_size(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s)
        return SERVER_CONFIG_E_USAGE;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return SERVER_CONFIG_E_USAGE;
    static const struct {
        const char *u;
        double m;
    } units[] = {{"", 1},         {"B", 1},          {"K", 1e3},        {"KB", 1e3},
                 {"M", 1e6},      {"MB", 1e6},       {"G", 1e9},        {"GB", 1e9},
                 {"T", 1e12},     {"TB", 1e12},      {"KiB", 1024.0},   {"MiB", 1048576.0},
                 {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(end, units[i].u) == 0 && (strlen(end) < 3 || strcmp(end, units[i].u) == 0)) {
            if (v * units[i].m > 1.8e19)
                return SERVER_CONFIG_E_USAGE;
            *out = (uint64_t)(v * units[i].m + 0.5);
            return 0;
        }
    }
    return SERVER_CONFIG_E_USAGE;
}

static int parse_listen(struct server_config *c, const char *s)
{
    const char *colon;
    char host[256];
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
            return SERVER_CONFIG_E_USAGE;
        snprintf(host, sizeof(host), "%.*s", (int)(rb - s - 1), s + 1);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            snprintf(host, sizeof(host), "%s", c->listen_host);
            colon = s - 1; /* the whole string is the port */
        } else {
            if ((size_t)(colon - s) >= sizeof(host))
                return SERVER_CONFIG_E_USAGE;
            snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
            if (!*host)
                snprintf(host, sizeof(host), "0.0.0.0");
        }
    }
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || port > 65535)
        return SERVER_CONFIG_E_USAGE;
    snprintf(c->listen_host, sizeof(c->listen_host), "%s", host);
    c->listen_port = (unsigned)port;
    return 0;
}

static const char usage[] =
    "Usage: pyprof-server [options]\n"
    "  --listen HOST:PORT        address to serve (default 127.0.0.1:4040; port 0 = any free\n"
    "                            port, printed as \"listening on http://HOST:PORT\")\n"
    "  --data DIR                data directory (default $XDG_DATA_HOME/pyprof or ./pyprof-data)\n"
    "  --retention DURATION      drop data older than this (default 7d; 0 = keep forever)\n"
    "  --max-disk SIZE           drop the oldest data beyond this size (default 10GB; 0 = no limit)\n"
    "  --ingest-token TOKEN      require \"Authorization: Bearer TOKEN\" on /ingest\n"
    "                            (or $PYPROF_INGEST_TOKEN)\n"
    "  --read-token TOKEN        require it (header, or ?token=) on the read APIs\n"
    "                            (or $PYPROF_READ_TOKEN)\n"
    "  --threads N               HTTP worker threads (default 4)\n"
    "  --max-connections N       concurrent connections (default 1000); near the limit the\n"
    "                            oldest idle connections are closed to make room\n"
    "  --timeout SECONDS         close a connection idle this long, or slower than this to\n"
    "                            send a request's headers (default 30)\n"
    "  --max-body SIZE           largest request body, else 413 (default 16MiB)\n"
    "  --cors-origin ORIGIN      let web pages from ORIGIN (e.g. https://grafana.example.com)\n"
    "                            call the read APIs (default: no cross-origin access)\n"
    "  --ingest-rate N           uploads per second before 429 (default 0 = unlimited)\n"
    "  --retention-interval DUR  time between retention passes (default 60s)\n"
    "  --drain-timeout DUR       on SIGTERM, wait this long for requests in flight (default 10s)\n"
    "  --quiet                   do not log failed requests on stderr\n"
    "  --help, --version\n";

int server_config_parse(struct server_config *c, int argc, char **argv, char *err, size_t errlen)
{
    enum {
        O_LISTEN = 1000, O_DATA, O_RETENTION, O_MAX_DISK, O_INGEST_TOKEN, O_READ_TOKEN, O_THREADS,
        O_MAX_CONN, O_TIMEOUT, O_MAX_BODY, O_RATE, O_RET_EVERY, O_DRAIN, O_QUIET, O_HELP,
        O_VERSION, O_CORS,
    };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"data", required_argument, NULL, O_DATA},
        {"retention", required_argument, NULL, O_RETENTION},
        {"max-disk", required_argument, NULL, O_MAX_DISK},
        {"ingest-token", required_argument, NULL, O_INGEST_TOKEN},
        {"read-token", required_argument, NULL, O_READ_TOKEN},
        {"threads", required_argument, NULL, O_THREADS},
        {"max-connections", required_argument, NULL, O_MAX_CONN},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"max-body", required_argument, NULL, O_MAX_BODY},
        {"ingest-rate", required_argument, NULL, O_RATE},
        {"retention-interval", required_argument, NULL, O_RET_EVERY},
        {"drain-timeout", required_argument, NULL, O_DRAIN},
        {"quiet", no_argument, NULL, O_QUIET},
        {"cors-origin", required_argument, NULL, O_CORS},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    int o;
    int64_t d;
    uint64_t sz;
    char *end;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_LISTEN:
            if (parse_listen(c, optarg))
                goto bad;
            break;
        case O_DATA: c->data_dir = optarg; break;
        case O_RETENTION:
            if (server_parse_duration(optarg, &d))
                goto bad;
            c->retention_s = d;
            break;
        case O_MAX_DISK:
            if (server_parse_size(optarg, &sz))
                goto bad;
            c->max_disk_bytes = sz;
            break;
        case O_INGEST_TOKEN: c->ingest_token = *optarg ? optarg : NULL; break;
        case O_READ_TOKEN: c->read_token = *optarg ? optarg : NULL; break;
        case O_THREADS:
            c->threads = (unsigned)strtoul(optarg, &end, 10);
            if (*end || c->threads < 1 || c->threads > 64)
                goto bad;
            break;
        case O_MAX_CONN:
            c->max_connections = (unsigned)strtoul(optarg, &end, 10);
            if (*end || c->max_connections < 1)
                goto bad;
            break;
        case O_TIMEOUT:
            if (server_parse_duration(optarg, &d) || d < 1 || d > 86400)
                goto bad;
            c->timeout_s = (unsigned)d;
            break;
        case O_MAX_BODY:
            if (server_parse_size(optarg, &sz) || sz < 1 || sz > ((uint64_t)1 << 32))
                goto bad;
            c->max_body = (size_t)sz;
            break;
        case O_RATE:
            c->ingest_rate = strtod(optarg, &end);
            if (*end || c->ingest_rate < 0)
                goto bad;
            break;
        case O_RET_EVERY:
            if (server_parse_duration(optarg, &d) || d < 1 || d > 86400)
                goto bad;
            c->retention_every_s = (unsigned)d;
            break;
        case O_DRAIN:
            if (server_parse_duration(optarg, &d) || d > 3600)
                goto bad;
            c->drain_s = (unsigned)d;
            break;
        case O_QUIET: c->quiet = true; break;
        case O_CORS:
            /* One origin, sent back verbatim: no wildcard, no list, nothing to inject. */
            if (!*optarg || !strcmp(optarg, "*") || strpbrk(optarg, " ,\r\n\t"))
                goto bad;
            c->cors_origin = optarg;
            break;
        case O_HELP: snprintf(err, errlen, "%s", usage); return SERVER_CONFIG_E_HELP;
        case O_VERSION: snprintf(err, errlen, "pyprof-server %s\n", PP_VERSION);
            return SERVER_CONFIG_E_HELP;
        default:
            snprintf(err, errlen, "unknown option or missing value: %s\n%s",
                     argv[optind - 1], usage);
            return SERVER_CONFIG_E_USAGE;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument: %s\n%s", argv[optind], usage);
        return SERVER_CONFIG_E_USAGE;
    }
    return 0;
bad:
    snprintf(err, errlen, "bad value for %s: %s\n", argv[optind - 1][1] == '-' &&
             strchr(argv[optind - 1], '=') ? argv[optind - 1] : argv[optind - 2], optarg);
    return SERVER_CONFIG_E_USAGE;
}

/* === Replies and helpers ====================================================================== */

int http_reply_text(struct http_reply *r, unsigned status, const char *text)
{
    r->status = status;
    r->content_type = "text/plain; charset=utf-8";
    r->len = strlen(text);
    r->body = strdup(text);
    return r->body ? 0 : pp_err_origin(-ENOMEM);
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool server_rate_allow(struct server *srv)
{
    double rate = srv->cfg->ingest_rate;
    if (rate <= 0)
        return true;
    double burst = rate < 1 ? 1 : rate;
    pthread_mutex_lock(&srv->rate_lock);
    double now = mono_now();
    srv->rate_tokens += (now - srv->rate_last) * rate;
    if (srv->rate_tokens > burst)
        srv->rate_tokens = burst;
    srv->rate_last = now;
    bool ok = srv->rate_tokens >= 1;
    if (ok)
        srv->rate_tokens -= 1;
    pthread_mutex_unlock(&srv->rate_lock);
    return ok;
}

/*
 * Constant-time comparison of a presented token with the configured one. The loop always runs
 * over the configured token's length, whatever was presented, and has no early exit: the time
 * depends only on the secret's length (fixed) and on how long the presented string is (known to
 * the client), never on where or whether they differ. Bytes past the end of @given compare
 * against 0 (a token holds no NUL), and a length mismatch is folded into the same accumulator.
 * The accumulator is volatile so that the compiler cannot turn the loop into an early exit.
 */
static bool token_eq(const char *given, const char *want)
{
    size_t gl = strlen(given), wl = strlen(want);
    volatile unsigned char d = (unsigned char)(gl != wl);
    for (size_t i = 0; i < wl; i++) {
        size_t in = (size_t)(i < gl);            /* 1 while @given lasts, else 0 */
        unsigned char g = (unsigned char)given[i * in]; /* given[0] past its end: no overread */
        d |= (unsigned char)(want[i] ^ (unsigned char)(g & (unsigned char)-(int)in));
    }
    return d == 0;
}

static bool authorized(struct MHD_Connection *c, const char *token)
{
    if (!token)
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ')
            h++;
        return token_eq(h, token);
    }
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    return q && token_eq(q, token);
}

/* The read APIs: what --read-token guards and --cors-origin opens. */
static bool read_route(const char *url)
{
    static const char *const routes[] = {
        "/render",       "/pyroscope/render", "/render-diff", "/pyroscope/render-diff",
        "/api/apps",     "/labels",           "/label-values", "/pyroscope/label-values",
        "/metrics",      NULL,
    };
    for (size_t i = 0; routes[i]; i++)
        if (!strcmp(url, routes[i]))
            return true;
    return false;
}

/*
 * add_cors() - with --cors-origin, let that one origin read the answers of the read APIs (GET,
 * HEAD) and pass their preflight (OPTIONS). Nothing for other routes or methods, and nothing at
 * all without the option, so no browser page of another origin can read or write.
 */
static void add_cors(const struct server *srv, struct MHD_Response *resp, const char *method,
                     const char *url)
{
    const char *origin = srv->cfg->cors_origin;
    bool preflight = !strcmp(method, "OPTIONS");
    if (!origin || !read_route(url) ||
        (strcmp(method, "GET") && strcmp(method, "HEAD") && !preflight))
        return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
    MHD_add_response_header(resp, "Vary", "Origin");
    if (preflight) {
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, HEAD");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    }
}

static const char *get_arg(void *cls, const char *key)
{
    return MHD_lookup_connection_value(cls, MHD_GET_ARGUMENT_KIND, key);
}

/* One request's state, from its first call to its completion. */
struct request {
    bool ingest;
    unsigned early;            /* an answer decided before the body: discard the body */
    const char *early_text;
    unsigned char *body;
    size_t len, cap;
    double t0;
};

static enum MHD_Result send_reply(struct server *srv, struct MHD_Connection *c, const char *method,
                                  const char *url, struct http_reply *r, double t0)
{
    struct MHD_Response *resp;
    if (r->body && r->len)
        resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    if (!(r->body && r->len))
        free(r->body);
    r->body = NULL;
    if (r->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    if (r->filename[0]) {
        char cd[200];
        snprintf(cd, sizeof(cd), "attachment; filename=\"%s\"", r->filename);
        MHD_add_response_header(resp, "Content-Disposition", cd);
    }
    if (r->status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    add_cors(srv, resp, method, url);
    enum MHD_Result ret = MHD_queue_response(c, r->status, resp);
    MHD_destroy_response(resp);
    atomic_fetch_add_explicit(&srv->metrics.requests, 1, memory_order_relaxed);
    if (!srv->cfg->quiet && r->status >= 400)
        fprintf(stderr, "pyprof-server: %s %s -> %u (%.1f ms)\n", method, url, r->status,
                (mono_now() - t0) * 1e3);
    return ret;
}

static enum MHD_Result send_text(struct server *srv, struct MHD_Connection *c, const char *method,
                                 const char *url, unsigned status, const char *text, double t0)
{
    struct http_reply r = {0};
    if (http_reply_text(&r, status, text) < 0)
        return MHD_NO;
    return send_reply(srv, c, method, url, &r, t0);
}

/* === Connections: slow clients and the connection limit ======================================= */

/*
 * libmicrohttpd's own timeout only closes connections that are idle: a client that sends one
 * byte of its request headers every second (slowloris) keeps a slot forever, and at the
 * connection limit libmicrohttpd stops accepting, so idle connections would lock everyone else
 * out. The HTTP layer therefore tracks every connection: those waiting for a request sit in a
 * list, oldest first; the watchdog closes the ones that have waited longer than --timeout (a
 * request's headers must be complete by then), and a new connection near the limit closes the
 * oldest waiting one. A connection inside a request (headers read) is never closed here.
 * Closing is shutdown(): libmicrohttpd then sees the end of the stream and closes the socket
 * itself. The entry is freed in the CLOSED notification, which libmicrohttpd sends before it
 * closes the socket, and shutdown() is called under conn_lock while the entry is listed, so the
 * descriptor shut down is always still the connection's own.
 */

static void conn_unlink(struct server *srv, struct conn_track *t)
{
    if (!t->waiting)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        srv->idle_head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        srv->idle_tail = t->prev;
    t->prev = t->next = NULL;
    t->waiting = false;
}

static void conn_append(struct server *srv, struct conn_track *t, double now)
{
    t->since = now;
    t->prev = srv->idle_tail;
    t->next = NULL;
    if (srv->idle_tail)
        srv->idle_tail->next = t;
    else
        srv->idle_head = t;
    srv->idle_tail = t;
    t->waiting = true;
}

/* conn_close() - shut down @t's socket (conn_lock held, @t waiting). */
static void conn_close(struct server *srv, struct conn_track *t)
{
    conn_unlink(srv, t);
    t->closing = true;
    shutdown(t->fd, SHUT_RDWR);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct server *srv = cls;
    struct conn_track *t = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (!t)
            return;
        pthread_mutex_lock(&srv->conn_lock);
        conn_unlink(srv, t);
        srv->n_conns--;
        pthread_mutex_unlock(&srv->conn_lock);
        atomic_fetch_sub_explicit(&srv->metrics.conns_open, 1, memory_order_relaxed);
        free(t);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    t = ci ? calloc(1, sizeof(*t)) : NULL;
    if (!t)
        return; /* untracked: only libmicrohttpd's idle timeout applies */
    t->fd = ci->connect_fd;
    /* Keep a reserve below the limit (libmicrohttpd stops accepting at it): beyond the high
     * water mark, each new connection closes the oldest one waiting for a request. */
    unsigned limit = srv->max_connections, reserve = limit / 10;
    if (reserve < srv->cfg->threads)
        reserve = srv->cfg->threads;
    unsigned high = limit > reserve ? limit - reserve : 1;
    pthread_mutex_lock(&srv->conn_lock);
    srv->n_conns++;
    if (srv->n_conns > high && srv->idle_head) {
        conn_close(srv, srv->idle_head);
        atomic_fetch_add_explicit(&srv->metrics.conns_evicted, 1, memory_order_relaxed);
    }
    conn_append(srv, t, mono_now());
    pthread_mutex_unlock(&srv->conn_lock);
    atomic_fetch_add_explicit(&srv->metrics.conns_open, 1, memory_order_relaxed);
    *socket_context = t;
}

/* conn_busy() - @c's request headers are in: out of the waiting list until it completes. */
static void conn_busy(struct server *srv, struct MHD_Connection *c, bool busy)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_track *t = ci ? ci->socket_context : NULL;
    if (!t)
        return;
    pthread_mutex_lock(&srv->conn_lock);
    if (busy)
        conn_unlink(srv, t);
    else if (!t->closing && !t->waiting)
        conn_append(srv, t, mono_now());
    pthread_mutex_unlock(&srv->conn_lock);
}

/* The watchdog: close connections that have waited longer than --timeout for a request. */
static void *watchdog_main(void *arg)
{
    struct server *srv = arg;
    pthread_mutex_lock(&srv->stop_lock);
    while (!srv->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&srv->stop_cond, &srv->stop_lock, &ts);
        if (srv->stopping)
            break;
        pthread_mutex_unlock(&srv->stop_lock);
        double cutoff = mono_now() - srv->cfg->timeout_s;
        pthread_mutex_lock(&srv->conn_lock);
        while (srv->idle_head && srv->idle_head->since <= cutoff) {
            conn_close(srv, srv->idle_head);
            atomic_fetch_add_explicit(&srv->metrics.conns_timed_out, 1, memory_order_relaxed);
        }
        pthread_mutex_unlock(&srv->conn_lock);
        pthread_mutex_lock(&srv->stop_lock);
    }
    pthread_mutex_unlock(&srv->stop_lock);
    return NULL;
}

/* === Routing ================================================================================== */

static enum MHD_Result route_get(struct server *srv, struct MHD_Connection *c, const char *method,
                                 const char *url, double t0)
{
    struct http_reply r = {0};
    struct http_args args = {get_arg, c};
    int rc = 0;

    if (!strcmp(url, "/healthz"))
        return send_text(srv, c, method, url, 200, "ok\n", t0);
    const char *path = !strcmp(url, "/") ? "/index.html" : url;
    for (const struct web_asset *w = web_assets; w->path; w++) {
        if (!strcmp(w->path, path)) {
            struct MHD_Response *resp = MHD_create_response_from_buffer(
                w->len, (void *)w->data, MHD_RESPMEM_PERSISTENT);
            if (!resp)
                return MHD_NO;
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, w->mime);
            MHD_add_response_header(resp, "Cache-Control", "no-cache");
            enum MHD_Result ret = MHD_queue_response(c, 200, resp);
            MHD_destroy_response(resp);
            atomic_fetch_add_explicit(&srv->metrics.requests, 1, memory_order_relaxed);
            return ret;
        }
    }
    if (!read_route(url))
        return send_text(srv, c, method, url, 404, "not found\n", t0);
    if (!authorized(c, srv->cfg->read_token))
        return send_text(srv, c, method, url, 401, "unauthorized\n", t0);

    int64_t now_s = (int64_t)time(NULL);
    if (!strcmp(url, "/render") || !strcmp(url, "/pyroscope/render")) {
        rc = render_handle(srv, &args, now_s, &r);
    } else if (!strcmp(url, "/render-diff") || !strcmp(url, "/pyroscope/render-diff")) {
        rc = render_diff_handle(srv, &args, now_s, &r);
    } else if (!strcmp(url, "/api/apps")) {
        rc = render_apps(srv, &args, &r);
    } else if (!strcmp(url, "/labels")) {
        rc = render_labels(srv, &args, &r);
    } else if (!strcmp(url, "/label-values") || !strcmp(url, "/pyroscope/label-values")) {
        rc = render_label_values(srv, &args, &r);
    } else {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
            return MHD_NO;
        rc = metrics_write(&srv->metrics, srv->store, f);
        if (fclose(f) != 0 && rc == 0)
            rc = -EIO;
        r.status = 200;
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = buf;
        r.len = len;
    }
    if (rc < 0) {
        free(r.body);
        char text[128];
        snprintf(text, sizeof(text), "internal error: %s\n", strerror(-rc));
        return send_text(srv, c, method, url, 500, text, t0);
    }
    return send_reply(srv, c, method, url, &r, t0);
}

static enum MHD_Result finish_ingest(struct server *srv, struct MHD_Connection *c,
                                     const char *method, const char *url, struct request *q)
{
    if (q->early) {
        metrics_ingest(&srv->metrics, q->early, q->len);
        return send_text(srv, c, method, url, q->early, q->early_text, q->t0);
    }
    struct ingest_req ir = {
        .name = get_arg(c, "name"),
        .from = get_arg(c, "from"),
        .until = get_arg(c, "until"),
        .format = get_arg(c, "format"),
        .sample_rate = get_arg(c, "sampleRate"),
        .spy_name = get_arg(c, "spyName"),
        .units = get_arg(c, "units"),
        .aggregation = get_arg(c, "aggregationType"),
        .content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"),
        .content_encoding = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding"),
        .body = q->body,
        .len = q->len,
        .now_s = (int64_t)time(NULL),
        .max_inflated = (size_t)256 << 20,
    };
    struct ingest_result res;
    char msg[512];
    int rc = ingest_run(srv->store, &ir, &res, msg, sizeof(msg) - 1);
    unsigned status;
    switch (rc) {
    case 0: status = 200; break;
    case INGEST_E_PARAM: status = 400; break;
    case INGEST_E_BODY: status = 422; break;
    case INGEST_E_TOO_LARGE: status = 413; break;
    case INGEST_E_FULL: status = 507; break;
    case INGEST_E_DISK_FULL: status = 507; break;
    default:
        status = 500;
        snprintf(msg, sizeof(msg) - 1, "internal error: %s", strerror(rc < 0 ? -rc : EINVAL));
        break;
    }
    metrics_ingest(&srv->metrics, status, q->len);
    /* One line when the disk fills up and one when space is back, not one per upload. */
    bool was_full = atomic_load(&srv->disk_full);
    if (rc == INGEST_E_DISK_FULL && !was_full &&
        !atomic_exchange(&srv->disk_full, true))
        fprintf(stderr, "pyprof-server: disk full: no space left on the file system of the data "
                "directory %s; uploads are answered 507 until space is freed\n",
                srv->cfg->data_dir);
    else if (status == 200 && was_full && atomic_exchange(&srv->disk_full, false))
        fprintf(stderr, "pyprof-server: disk space available again in %s; uploads resumed\n",
                srv->cfg->data_dir);
    if (status == 200) {
        atomic_fetch_add_explicit(&srv->metrics.ingest_samples, res.samples,
                                  memory_order_relaxed);
        struct http_reply r = {.status = 200};
        return send_reply(srv, c, method, url, &r, q->t0);
    }
    strcat(msg, "\n");
    return send_text(srv, c, method, url, status, msg, q->t0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct server *srv = cls;
    struct request *q = *con_cls;

    if (!q) {
        q = calloc(1, sizeof(*q));
        if (!q)
            return MHD_NO;
        q->t0 = mono_now();
        *con_cls = q;
        atomic_fetch_add(&srv->inflight, 1);
        conn_busy(srv, c, true);
        q->ingest = !strcmp(url, "/ingest") || !strcmp(url, "/pyroscope/ingest");
        if (!q->ingest) {
            if (!strcmp(method, "OPTIONS") && srv->cfg->cors_origin && read_route(url)) {
                q->early = 204; /* CORS preflight; add_cors() adds the headers */
                q->early_text = "";
                return MHD_YES;
            }
            if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
                q->early = 405;
                q->early_text = "method not allowed\n";
                return MHD_YES; /* answered once the body (if any) is read */
            }
            return route_get(srv, c, method, url, q->t0);
        }
        if (strcmp(method, "POST") != 0) {
            q->early = 405;
            q->early_text = "method not allowed: POST /ingest\n";
        } else if (atomic_load(&srv->draining)) {
            q->early = 503;
            q->early_text = "shutting down\n";
        } else if (!authorized(c, srv->cfg->ingest_token)) {
            q->early = 401;
            q->early_text = "unauthorized\n";
        } else {
            const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
            const char *ex = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect");
            if (cl && strtoull(cl, NULL, 10) > srv->cfg->max_body) {
                if (ex && strcasestr(ex, "100-continue")) {
                    /* Refuse before the body is sent (curl waits for 100 Continue). */
                    metrics_ingest(&srv->metrics, 413, 0);
                    return send_text(srv, c, method, url, 413, srv->too_large_text, q->t0);
                }
                /* The client sends the body anyway: read and drop it, then answer, so that
                 * the answer is not lost to a reset connection. */
                q->early = 413;
                q->early_text = srv->too_large_text;
            } else if (!server_rate_allow(srv)) {
                q->early = 429;
                q->early_text = "rate limit exceeded\n";
            }
        }
        return MHD_YES;
    }

    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (q->early || !q->ingest) {
            q->len += n; /* counted, not kept */
            return MHD_YES;
        }
        if (q->len + n > srv->cfg->max_body) {
            q->early = 413;
            q->early_text = srv->too_large_text;
            q->len += n;
            free(q->body);
            q->body = NULL;
            return MHD_YES;
        }
        if (q->len + n > q->cap) {
            size_t cap = q->cap ? q->cap : 65536;
            while (cap < q->len + n)
                cap *= 2;
            if (cap > srv->cfg->max_body)
                cap = srv->cfg->max_body;
            unsigned char *p = realloc(q->body, cap);
            if (!p)
                return MHD_NO;
            q->body = p;
            q->cap = cap;
        }
        memcpy(q->body + q->len, upload, n);
        q->len += n;
        return MHD_YES;
    }
    if (!q->ingest)
        return send_text(srv, c, method, url, q->early, q->early_text, q->t0);
    return finish_ingest(srv, c, method, url, q);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct server *srv = cls;
    struct request *q = *con_cls;
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        conn_busy(srv, c, false); /* keep-alive: now waiting for the next request */
    if (!q)
        return;
    free(q->body);
    free(q);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    const struct server *srv = cls;
    if (srv->cfg->quiet)
        return;
    fputs("pyprof-server: libmicrohttpd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* === Lifecycle ================================================================================ */

static void *retention_main(void *arg)
{
    struct server *srv = arg;
    pthread_mutex_lock(&srv->stop_lock);
    while (!srv->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += srv->cfg->retention_every_s;
        while (!srv->stopping &&
               pthread_cond_timedwait(&srv->stop_cond, &srv->stop_lock, &ts) != ETIMEDOUT)
            ;
        if (srv->stopping)
            break;
        pthread_mutex_unlock(&srv->stop_lock);
        int r = store_enforce_retention(srv->store, (int64_t)time(NULL));
        if (r < 0 && !srv->cfg->quiet)
            fprintf(stderr, "pyprof-server: retention: %s\n", strerror(-r));
        pthread_mutex_lock(&srv->stop_lock);
    }
    pthread_mutex_unlock(&srv->stop_lock);
    return NULL;
}

int server_start(struct server *srv, const struct server_config *cfg, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char port[16];
    int r;

    memset(srv, 0, sizeof(*srv));
    srv->cfg = cfg;
    metrics_init(&srv->metrics);
    atomic_init(&srv->draining, false);
    atomic_init(&srv->inflight, 0);
    pthread_mutex_init(&srv->rate_lock, NULL);
    pthread_mutex_init(&srv->stop_lock, NULL);
    pthread_cond_init(&srv->stop_cond, NULL);
    pthread_mutex_init(&srv->conn_lock, NULL);
    atomic_init(&srv->disk_full, false);
    snprintf(srv->too_large_text, sizeof(srv->too_large_text),
             "request body too large: the limit is %zu bytes (--max-body)\n", cfg->max_body);
    srv->rate_tokens = cfg->ingest_rate < 1 ? 1 : cfg->ingest_rate;
    srv->rate_last = mono_now();

    /* Each connection is a descriptor: take the hard limit, and fit the connection limit under
     * it (with room for the store, the listening sockets and the backlog being accepted). */
    srv->max_connections = cfg->max_connections;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        rlim_t room = rl.rlim_cur > 128 ? rl.rlim_cur - 128 : 1;
        if (rl.rlim_cur != RLIM_INFINITY && srv->max_connections > room) {
            srv->max_connections = (unsigned)room;
            fprintf(stderr, "pyprof-server: --max-connections %u lowered to %u to fit the open "
                    "file limit (RLIMIT_NOFILE %llu)\n", cfg->max_connections,
                    srv->max_connections, (unsigned long long)rl.rlim_cur);
        }
    }

    struct store_opts so = {
        .dir = cfg->data_dir,
        .retention_s = cfg->retention_s,
        .max_disk_bytes = cfg->max_disk_bytes,
    };
    r = store_open(&srv->store, &so, err, errlen);
    if (r < 0)
        goto fail;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u", cfg->listen_port);
    int gr = getaddrinfo(cfg->listen_host, port, &hints, &ai);
    if (gr != 0) {
        snprintf(err, errlen, "--listen %s: %s", cfg->listen_host, gai_strerror(gr));
        r = -EINVAL;
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->mhd = MHD_start_daemon(
        flags, (uint16_t)cfg->listen_port, NULL, NULL, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)srv->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_END);
    if (!srv->mhd) {
        snprintf(err, errlen, "cannot listen on %s:%u", cfg->listen_host, cfg->listen_port);
        r = -EADDRNOTAVAIL;
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    srv->port = cfg->listen_port;
    if (di && getsockname(di->listen_fd, (struct sockaddr *)&ss, &sl) == 0)
        srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    r = -pthread_create(&srv->retention_thread, NULL, retention_main, srv);
    if (r < 0) {
        snprintf(err, errlen, "retention thread: %s", strerror(-r));
        goto fail;
    }
    srv->retention_started = true;
    r = -pthread_create(&srv->watchdog_thread, NULL, watchdog_main, srv);
    if (r < 0) {
        snprintf(err, errlen, "watchdog thread: %s", strerror(-r));
        goto fail;
    }
    srv->watchdog_started = true;
    freeaddrinfo(ai);
    return 0;
fail:
    if (ai)
        freeaddrinfo(ai);
    server_drain(srv);
    return r;
}

void server_drain(struct server *srv)
{
    atomic_store(&srv->draining, true);
    if (srv->mhd) {
        double deadline = mono_now() + (srv->cfg ? srv->cfg->drain_s : 0);
        while (atomic_load(&srv->inflight) > 0 && mono_now() < deadline) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(srv->mhd);
        srv->mhd = NULL;
    }
    pthread_mutex_lock(&srv->stop_lock);
    srv->stopping = true;
    pthread_cond_broadcast(&srv->stop_cond);
    pthread_mutex_unlock(&srv->stop_lock);
    if (srv->retention_started) {
        pthread_join(srv->retention_thread, NULL);
        srv->retention_started = false;
    }
    if (srv->watchdog_started) {
        pthread_join(srv->watchdog_thread, NULL);
        srv->watchdog_started = false;
    }
    srv->store = store_close(srv->store);
}
