/* SPDX-License-Identifier: MIT */
/* children: find the descendants of a process by scanning the parent pids in /proc. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "children.h"

/* One process of a scan. */
struct proc_entry {
    pid_t pid;
    pid_t ppid;
    uint64_t start;  /* start time in clock ticks after boot: pid + start names a process */
    bool known;
};

struct children {
    pid_t root;
    uint64_t root_start;
    struct proc_entry *known;  /* descendants followed, sorted by pid */
    size_t n_known, cap_known;
    struct proc_entry *scan;   /* the last scan, sorted by pid */
    size_t n_scan, cap_scan;
    pid_t *fresh;              /* the descendants new in the last scan */
    size_t n_fresh, cap_fresh;
};

static int grow(void **p, size_t *cap, size_t want, size_t size)
{
    size_t n = *cap ? *cap : 64;
    void *q;

    if (want <= *cap)
        return 0;
    while (n < want)
        n *= 2;
    q = realloc(*p, n * size);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* Read pid, ppid and start time from /proc/@pid/stat. false when it is gone or unreadable. */
static bool read_stat(pid_t pid, struct proc_entry *e)
{
    char path[40], buf[1024], *p;
    unsigned long long start;
    int fd, ppid;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold anything, so look for the last ')'. */
    p = strrchr(buf, ')');
    if (!p)
        return false;
    /* After ") ": state(3) ppid(4) pgrp session tty_nr tpgid flags minflt cminflt majflt
     * cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime(22). */
    if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
                      "%*d %llu",
               &ppid, &start) != 2)
        return false;
    e->pid = pid;
    e->ppid = (pid_t)ppid;
    e->start = start;
    e->known = false;
    return true;
}

static int cmp_pid(const void *x, const void *y)
{
    const struct proc_entry *a = x, *b = y;

    return (a->pid > b->pid) - (a->pid < b->pid);
}

static struct proc_entry *find(struct proc_entry *v, size_t n, pid_t pid)
{
    struct proc_entry key = { .pid = pid };

    return n ? bsearch(&key, v, n, sizeof(*v), cmp_pid) : NULL;
}

int children_new(struct children **out, pid_t root)
{
    struct children *c = calloc(1, sizeof(*c));
    struct proc_entry e;

    *out = NULL;
    if (!c)
        return -ENOMEM;
    if (!read_stat(root, &e)) {
        free(c);
        return -ESRCH;
    }
    c->root = root;
    c->root_start = e.start;
    *out = c;
    return 0;
}

struct children *children_free(struct children *c)
{
    if (c) {
        free(c->known);
        free(c->scan);
        free(c->fresh);
        free(c);
    }
    return NULL;
}

int children_scan(struct children *c, const pid_t **out_new, size_t *n_new)
{
    struct dirent *de;
    DIR *d;
    bool more;
    int r = 0;

    *out_new = NULL;
    *n_new = 0;
    c->n_scan = 0;
    c->n_fresh = 0;
    d = opendir("/proc");
    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);

        if (end == de->d_name || *end || pid <= 0)
            continue;
        r = grow((void **)&c->scan, &c->cap_scan, c->n_scan + 1, sizeof(*c->scan));
        if (r < 0)
            break;
        if (read_stat((pid_t)pid, &c->scan[c->n_scan]))
            c->n_scan++;
    }
    closedir(d);
    if (r < 0)
        return r;
    qsort(c->scan, c->n_scan, sizeof(*c->scan), cmp_pid);

    /* Mark what was followed before (same pid and start time), then its children until none. */
    for (size_t i = 0; i < c->n_known; i++) {
        struct proc_entry *e = find(c->scan, c->n_scan, c->known[i].pid);

        if (e && e->start == c->known[i].start)
            e->known = true;
    }
    do {
        more = false;
        for (size_t i = 0; i < c->n_scan; i++) {
            struct proc_entry *e = &c->scan[i], *parent;
            bool from_root;

            if (e->known || e->pid == c->root)
                continue;
            parent = find(c->scan, c->n_scan, e->ppid);
            from_root = parent && parent->pid == c->root && parent->start == c->root_start;
            if (!from_root && !(parent && parent->known))
                continue;
            /* A child must have started no earlier than its parent: guards against pid reuse. */
            if (e->start < parent->start)
                continue;
            r = grow((void **)&c->fresh, &c->cap_fresh, c->n_fresh + 1, sizeof(*c->fresh));
            if (r < 0)
                return r;
            c->fresh[c->n_fresh++] = e->pid;
            e->known = true;
            more = true;
        }
    } while (more);

    /* The followed set is what is alive now; scan is sorted, so known stays sorted. */
    c->n_known = 0;
    for (size_t i = 0; i < c->n_scan; i++) {
        if (!c->scan[i].known)
            continue;
        r = grow((void **)&c->known, &c->cap_known, c->n_known + 1, sizeof(*c->known));
        if (r < 0)
            return r;
        c->known[c->n_known++] = c->scan[i];
    }
    *out_new = c->fresh;
    *n_new = c->n_fresh;
    return 0;
}
