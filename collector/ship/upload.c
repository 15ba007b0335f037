/* SPDX-License-Identifier: MIT */
/* upload: POST profiles to a Pyroscope-compatible /ingest endpoint with libcurl, without blocking. */
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyprof/err.h"
#include "ship/upload.h"

#define MAX_URL 8192

struct xfer {
    CURL *easy;
    struct curl_slist *hdrs;
    uint64_t id;
    char *body;
    size_t len;
    char resp[256];
    size_t resp_len;
    char errbuf[CURL_ERROR_SIZE];
    bool done;
    struct upload_result res;
};

struct upload {
    CURLM *multi;
    char *server, *token, *tenant, *user_agent;
    double timeout;
    struct xfer **x;   /* in flight, then done (done ones are returned in order) */
    size_t n, cap;
};

static void free_xfer(struct upload *u, struct xfer *x)
{
    if (!x)
        return;
    if (x->easy) {
        if (u && u->multi)
            curl_multi_remove_handle(u->multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->hdrs);
    free(x->body);
    free(x);
}

static char *dup_or_null(const char *s)
{
    return s && s[0] ? strdup(s) : NULL;
}

int upload_set_opts(struct upload *u, const struct upload_opts *o)
{
    char *server = dup_or_null(o->server), *token = dup_or_null(o->token);
    char *tenant = dup_or_null(o->tenant);
    char *ua = strdup(o->user_agent ? o->user_agent : "pyprof-agent");

    if ((o->server && o->server[0] && !server) || (o->token && o->token[0] && !token) ||
        (o->tenant && o->tenant[0] && !tenant) || !ua) {
        free(server);
        free(token);
        free(tenant);
        free(ua);
        return pp_err_origin(-ENOMEM);
    }
    if (server) {
        size_t l = strlen(server);

        while (l && server[l - 1] == '/')
            server[--l] = '\0';
    }
    free(u->server);
    free(u->token);
    free(u->tenant);
    free(u->user_agent);
    u->server = server;
    u->token = token;
    u->tenant = tenant;
    u->user_agent = ua;
    u->timeout = o->timeout > 0 ? o->timeout : 10;
    return 0;
}

int upload_new(struct upload **out, const struct upload_opts *o)
{
    struct upload *u;
    int r;

    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return pp_err_origin(-EIO);
    u = calloc(1, sizeof(*u));
    if (!u)
        return pp_err_origin(-ENOMEM);
    u->multi = curl_multi_init();
    if (!u->multi) {
        free(u);
        return pp_err_origin(-ENOMEM);
    }
    r = upload_set_opts(u, o);
    if (r) {
        upload_free(u);
        return r;
    }
    *out = u;
    return 0;
}

struct upload *upload_free(struct upload *u)
{
    if (!u)
        return NULL;
    for (size_t i = 0; i < u->n; i++)
        free_xfer(u, u->x[i]);
    free(u->x);
    if (u->multi)
        curl_multi_cleanup(u->multi);
    free(u->server);
    free(u->token);
    free(u->tenant);
    free(u->user_agent);
    free(u);
    return NULL;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb, room = sizeof(x->resp) - 1 - x->resp_len;

    memcpy(x->resp + x->resp_len, data, n < room ? n : room);
    x->resp_len += n < room ? n : room;
    return n;
}

enum upload_verdict upload_classify(long status)
{
    if (status >= 200 && status < 300)
        return UPLOAD_DELIVERED;
    if (status == 0 || status >= 500 || status == 408 || status == 429)
        return UPLOAD_RETRY;
    return UPLOAD_REJECTED;
}

int upload_escape(const char *s, char *buf, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~';

        if (n + (keep ? 1 : 3) >= cap)
            return -ENOSPC;
        if (keep) {
            buf[n++] = (char)c;
        } else {
            buf[n++] = '%';
            buf[n++] = hex[c >> 4];
            buf[n++] = hex[c & 15];
        }
    }
    if (n >= cap)
        return -ENOSPC;
    buf[n] = '\0';
    return (int)n;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *h, bool *ok)
{
    struct curl_slist *n = curl_slist_append(l, h);

    if (!n) {
        *ok = false;
        return l;
    }
    return n;
}

int upload_start(struct upload *u, uint64_t id, const char *query, const void *body, size_t len)
{
    struct xfer *x = NULL;
    char *url = NULL, hdr[1024];
    bool ok = true;
    int r = 0;

    if (!u->server)
        return pp_err_origin(-EINVAL);
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 8;
        struct xfer **nx = realloc(u->x, cap * sizeof(*nx));

        if (!nx)
            return pp_err_origin(-ENOMEM);
        u->x = nx;
        u->cap = cap;
    }
    x = calloc(1, sizeof(*x));
    url = malloc(MAX_URL);
    if (!x || !url) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    x->id = id;
    x->len = len;
    x->body = malloc(len ? len : 1);
    if (!x->body) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    if (len)
        memcpy(x->body, body, len);
    if (snprintf(url, MAX_URL, "%s/ingest?%s", u->server, query) >= MAX_URL) {
        r = pp_err_origin(-EINVAL);
        goto out;
    }
    x->hdrs = add_header(x->hdrs, "Content-Type: application/octet-stream", &ok);
    x->hdrs = add_header(x->hdrs, "Expect:", &ok);
    if (u->token) {
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", u->token);
        x->hdrs = add_header(x->hdrs, hdr, &ok);
    }
    if (u->tenant) {
        snprintf(hdr, sizeof(hdr), "X-Scope-OrgID: %s", u->tenant);
        x->hdrs = add_header(x->hdrs, hdr, &ok);
    }
    x->easy = curl_easy_init();
    if (!ok || !x->easy) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    curl_easy_setopt(x->easy, CURLOPT_URL, url);
    curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(x->easy, CURLOPT_USERAGENT, u->user_agent);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)(u->timeout * 1000));
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(u->timeout < 5 ? u->timeout * 1000 : 5000));
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(u->multi, x->easy) != CURLM_OK) {
        r = pp_err_origin(-EIO);
        goto out;
    }
    u->x[u->n++] = x;
    x = NULL;
out:
    if (x) {
        curl_slist_free_all(x->hdrs);
        if (x->easy)
            curl_easy_cleanup(x->easy);
        free(x->body);
        free(x);
    }
    free(url);
    return r;
}

/* Fill x->res from a finished transfer. */
static void finish(struct xfer *x, CURLcode code)
{
    long status = 0;
    curl_off_t sent = 0;

    x->done = true;
    x->res.id = x->id;
    if (code == CURLE_OK)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_SIZE_UPLOAD_T, &sent);
    x->res.status = status;
    x->res.bytes = (uint64_t)sent;
    x->res.verdict = upload_classify(status);
    if (code != CURLE_OK) {
        snprintf(x->res.reason, sizeof(x->res.reason), "%s",
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(code));
    } else if (x->res.verdict != UPLOAD_DELIVERED) {
        size_t n = strcspn(x->resp, "\r\n");

        x->resp[n] = '\0';
        snprintf(x->res.reason, sizeof(x->res.reason), "HTTP %ld%s%.200s", status,
                 n ? ": " : "", x->resp);
    }
}

int upload_poll(struct upload *u, int timeout_ms)
{
    CURLMsg *m;
    int running = 0, left = 0;
    bool busy = false;

    for (size_t i = 0; i < u->n; i++)
        busy |= !u->x[i]->done;
    if (!busy)
        return 0;
    if (curl_multi_perform(u->multi, &running) != CURLM_OK)
        return pp_err_origin(-EIO);
    if (running && timeout_ms > 0) {
        if (curl_multi_poll(u->multi, NULL, 0, timeout_ms, NULL) != CURLM_OK)
            return pp_err_origin(-EIO);
        if (curl_multi_perform(u->multi, &running) != CURLM_OK)
            return pp_err_origin(-EIO);
    }
    while ((m = curl_multi_info_read(u->multi, &left))) {
        struct xfer *x = NULL;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x)
            finish(x, m->data.result);
    }
    return 0;
}

int upload_next_result(struct upload *u, struct upload_result *out)
{
    for (size_t i = 0; i < u->n; i++) {
        struct xfer *x = u->x[i];

        if (!x->done)
            continue;
        *out = x->res;
        memmove(&u->x[i], &u->x[i + 1], (u->n - i - 1) * sizeof(u->x[0]));
        u->n--;
        free_xfer(u, x);
        return 1;
    }
    return 0;
}

size_t upload_in_flight(const struct upload *u)
{
    return u->n;
}
