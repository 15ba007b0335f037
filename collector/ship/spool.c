/* SPDX-License-Identifier: MIT */
/* spool: a bounded on-disk queue of profiles waiting to be uploaded again. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pyprof/err.h"
#include "ship/spool.h"

#define MAGIC "PYPROFSPOOL1\n"
#define MAGIC_LEN (sizeof(MAGIC) - 1)
#define DEFAULT_MAX_BYTES (64u << 20)
#define MAX_FILE (256u << 20) /* larger files are not ours */

struct entry {
    char name[48];
    uint64_t created_ns;
    uint64_t seq;
    uint64_t size;
};

struct spool {
    char *dir;
    int dirfd;
    uint64_t max_bytes, max_age_ns;
    struct entry *e;  /* oldest first */
    size_t n, cap;
    uint64_t next_seq;
    struct spool_stats st;
};

/* ===== Helpers ===== */

static bool parse_name(const char *name, uint64_t *created, uint64_t *seq)
{
    unsigned long long c, q;
    int used = 0;

    if (strlen(name) != 20 + 1 + 10 + 6)
        return false;
    if (sscanf(name, "%20llu-%10llu.spool%n", &c, &q, &used) != 2 || used != 37)
        return false;
    *created = c;
    *seq = q;
    return true;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    return strcmp(x->name, y->name);
}

static int push_entry(struct spool *s, const struct entry *e)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct entry *ne = realloc(s->e, cap * sizeof(*ne));

        if (!ne)
            return pp_err_origin(-ENOMEM);
        s->e = ne;
        s->cap = cap;
    }
    s->e[s->n++] = *e;
    s->st.n_files = s->n;
    s->st.bytes += e->size;
    return 0;
}

/* Delete entry @i (file and index). */
static void drop_index(struct spool *s, size_t i)
{
    unlinkat(s->dirfd, s->e[i].name, 0);
    s->st.bytes -= s->e[i].size;
    memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(s->e[0]));
    s->n--;
    s->st.n_files = s->n;
}

/* Delete the oldest entries until @extra more bytes fit. */
static void make_room(struct spool *s, uint64_t extra)
{
    while (s->n && s->st.bytes + extra > s->max_bytes) {
        drop_index(s, 0);
        s->st.dropped_full++;
    }
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len) {
        ssize_t w = write(fd, p, len);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return pp_err_origin(-errno);
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* ===== API ===== */

int spool_open(struct spool **out, const struct spool_opts *o)
{
    struct spool *s;
    DIR *d = NULL;
    struct dirent *de;
    int r = 0, fd;

    *out = NULL;
    if (!o || !o->dir || !o->dir[0])
        return pp_err_origin(-EINVAL);
    if (mkdir(o->dir, 0700) < 0 && errno != EEXIST)
        return pp_err_origin(-errno);
    s = calloc(1, sizeof(*s));
    if (!s)
        return pp_err_origin(-ENOMEM);
    s->dirfd = -1;
    s->max_bytes = o->max_bytes ? o->max_bytes : DEFAULT_MAX_BYTES;
    s->max_age_ns = o->max_age_ns;
    s->dir = strdup(o->dir);
    if (!s->dir) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    s->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        r = pp_err_origin(-errno);
        goto out;
    }
    fd = dup(s->dirfd);
    if (fd >= 0)
        d = fdopendir(fd);
    if (!d) {
        r = pp_err_origin(-errno);
        if (fd >= 0)
            close(fd);
        goto out;
    }
    while ((de = readdir(d))) {
        struct entry e = { 0 };
        struct stat sb;

        if (!strncmp(de->d_name, ".tmp-", 5)) {
            unlinkat(s->dirfd, de->d_name, 0); /* a write interrupted by a crash */
            continue;
        }
        if (!parse_name(de->d_name, &e.created_ns, &e.seq))
            continue;
        if (fstatat(s->dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
            continue;
        snprintf(e.name, sizeof(e.name), "%s", de->d_name);
        e.size = (uint64_t)sb.st_size;
        r = push_entry(s, &e);
        if (r)
            goto out;
        if (e.seq >= s->next_seq)
            s->next_seq = e.seq + 1;
    }
    if (s->n)
        qsort(s->e, s->n, sizeof(s->e[0]), cmp_entry);
    make_room(s, 0);
out:
    if (d)
        closedir(d);
    if (r)
        spool_free(s);
    else
        *out = s;
    return r;
}

struct spool *spool_free(struct spool *s)
{
    if (!s)
        return NULL;
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s->dir);
    free(s->e);
    free(s);
    return NULL;
}

int spool_put(struct spool *s, const char *meta, const void *body, size_t len, uint64_t now_ns)
{
    struct entry e = { 0 };
    char tmp[64];
    size_t mlen = meta ? strlen(meta) : 0;
    uint64_t size;
    int fd = -1, r;

    if (!meta || mlen > SPOOL_MAX_META || strchr(meta, '\n') || (len && !body))
        return pp_err_origin(-EINVAL);
    size = MAGIC_LEN + mlen + 1 + len;
    if (size > s->max_bytes) {
        s->st.dropped_full++;
        return SPOOL_E_TOOBIG;
    }
    /* Names must sort after every queued one even if the clock stepped back. */
    if (s->n && now_ns < s->e[s->n - 1].created_ns)
        now_ns = s->e[s->n - 1].created_ns;
    e.created_ns = now_ns;
    e.seq = s->next_seq++ % 10000000000ULL;
    e.size = size;
    snprintf(e.name, sizeof(e.name), "%020" PRIu64 "-%010" PRIu64 ".spool", e.created_ns, e.seq);
    snprintf(tmp, sizeof(tmp), ".tmp-%s", e.name);
    make_room(s, size);
    fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return pp_err_origin(-errno);
    r = write_all(fd, MAGIC, MAGIC_LEN);
    if (!r)
        r = write_all(fd, meta, mlen);
    if (!r)
        r = write_all(fd, "\n", 1);
    if (!r && len)
        r = write_all(fd, body, len);
    if (!r && fsync(fd) < 0)
        r = pp_err_origin(-errno);
    if (close(fd) < 0 && !r)
        r = pp_err_origin(-errno);
    if (!r && renameat(s->dirfd, tmp, s->dirfd, e.name) < 0)
        r = pp_err_origin(-errno);
    if (r) {
        unlinkat(s->dirfd, tmp, 0);
        return r;
    }
    fsync(s->dirfd); /* make the rename itself durable; best effort */
    r = push_entry(s, &e);
    if (r) {
        unlinkat(s->dirfd, e.name, 0);
        return r;
    }
    s->st.put++;
    return 0;
}

void spool_item_free(struct spool_item *it)
{
    if (!it)
        return;
    free(it->meta);
    free(it->body);
    it->meta = NULL;
    it->body = NULL;
    it->len = 0;
}

int spool_peek(struct spool *s, struct spool_item *out)
{
    struct stat sb;
    char *buf = NULL, *nl;
    size_t got = 0;
    int fd, r = 0;

    memset(out, 0, sizeof(*out));
    if (!s->n)
        return SPOOL_E_EMPTY;
    fd = openat(s->dirfd, s->e[0].name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno != ENOENT)
            return pp_err_origin(-errno);
        goto corrupt; /* deleted behind our back */
    }
    if (fstat(fd, &sb) < 0) {
        r = pp_err_origin(-errno);
        goto out;
    }
    if ((uint64_t)sb.st_size < MAGIC_LEN + 1 || (uint64_t)sb.st_size > MAX_FILE)
        goto corrupt;
    buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = pp_err_origin(-errno);
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got < MAGIC_LEN + 1 || memcmp(buf, MAGIC, MAGIC_LEN))
        goto corrupt;
    buf[got] = '\0';
    nl = memchr(buf + MAGIC_LEN, '\n', got - MAGIC_LEN);
    if (!nl || (size_t)(nl - buf) - MAGIC_LEN > SPOOL_MAX_META)
        goto corrupt;
    *nl = '\0';
    out->meta = strdup(buf + MAGIC_LEN);
    out->len = got - (size_t)(nl + 1 - buf);
    out->body = malloc(out->len ? out->len : 1);
    if (!out->meta || !out->body) {
        spool_item_free(out);
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    memcpy(out->body, nl + 1, out->len);
    snprintf(out->name, sizeof(out->name), "%s", s->e[0].name);
    out->created_ns = s->e[0].created_ns;
    goto out;
corrupt:
    drop_index(s, 0);
    s->st.dropped_full++;
    r = SPOOL_E_CORRUPT;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return r;
}

int spool_remove(struct spool *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++) {
        if (!strcmp(s->e[i].name, name)) {
            drop_index(s, i);
            s->st.removed++;
            return 0;
        }
    }
    return 0;
}

int spool_prune(struct spool *s, uint64_t now_ns)
{
    int n = 0;

    if (!s->max_age_ns || now_ns < s->max_age_ns)
        return 0;
    while (s->n && s->e[0].created_ns < now_ns - s->max_age_ns) {
        drop_index(s, 0);
        s->st.dropped_age++;
        n++;
    }
    return n;
}

const struct spool_stats *spool_stats(const struct spool *s)
{
    return &s->st;
}
