/* SPDX-License-Identifier: MIT */
/* procmaps: parse /proc/PID/maps into an array of mappings. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pyprof/err.h"
#include "sys/procmaps.h"

static const char deleted_suffix[] = " (deleted)";

void procmaps_free(struct procmaps *pm)
{
    if (!pm)
        return;
    for (size_t i = 0; i < pm->n_maps; i++)
        free(pm->maps[i].path);
    free(pm->maps);
    pm->maps = NULL;
    pm->n_maps = 0;
}

/* Parse one line "start-end perms offset dev inode   path" into *m. 0 or PROCMAPS_E_PARSE. */
static int parse_line(char *line, struct procmap *m)
{
    char perms[8];
    int path_at = 0;
    uint64_t inode;
    size_t len;

    if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %*x:%*x %" SCNu64 " %n", &m->start,
               &m->end, perms, &m->offset, &inode, &path_at) < 5)
        return PROCMAPS_E_PARSE;
    if (m->end < m->start || strlen(perms) != 4)
        return PROCMAPS_E_PARSE;
    memcpy(m->perms, perms, 5);
    len = strcspn(line + path_at, "\n");
    line[path_at + len] = '\0';
    m->deleted = false;
    if (len >= sizeof(deleted_suffix) - 1 &&
        !strcmp(line + path_at + len - (sizeof(deleted_suffix) - 1), deleted_suffix)) {
        len -= sizeof(deleted_suffix) - 1;
        line[path_at + len] = '\0';
        m->deleted = true;
    }
    m->path = strdup(line + path_at);
    return m->path ? 0 : -ENOMEM;
}

int procmaps_parse(struct procmaps *out, FILE *f)
{
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    int r = 0;

    out->maps = NULL;
    out->n_maps = 0;
    while (getline(&line, &cap, f) > 0) {
        if (out->n_maps == alloc) {
            size_t na = alloc ? alloc * 2 : 64;
            struct procmap *nm;

            if (na > PROCMAPS_MAX) {
                r = PROCMAPS_E_PARSE;
                goto out;
            }
            nm = realloc(out->maps, na * sizeof(*nm));
            if (!nm) {
                r = pp_err_origin(-ENOMEM);
                goto out;
            }
            out->maps = nm;
            alloc = na;
        }
        r = parse_line(line, &out->maps[out->n_maps]);
        if (r)
            goto out;
        out->n_maps++;
    }
out:
    free(line);
    if (r)
        procmaps_free(out);
    return r;
}

int procmaps_load(struct procmaps *out, pid_t pid)
{
    char path[64];
    FILE *f;
    int r;

    out->maps = NULL;
    out->n_maps = 0;
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT || errno == ESRCH)
            return PROCMAPS_E_GONE;
        if (errno == EACCES || errno == EPERM)
            return PROCMAPS_E_PERM;
        return pp_err_origin(-errno);
    }
    r = procmaps_parse(out, f);
    /* A process we may not ptrace shows an empty maps file rather than EACCES on some kernels. */
    if (!r && !out->n_maps && ferror(f))
        r = PROCMAPS_E_PERM;
    fclose(f);
    return r;
}

const struct procmap *procmaps_find(const struct procmaps *pm, uint64_t addr)
{
    for (size_t i = 0; i < pm->n_maps; i++)
        if (addr >= pm->maps[i].start && addr < pm->maps[i].end)
            return &pm->maps[i];
    return NULL;
}

uint64_t procmaps_base(const struct procmaps *pm, const char *path)
{
    uint64_t base = 0;

    for (size_t i = 0; i < pm->n_maps; i++)
        if (!strcmp(pm->maps[i].path, path) && (!base || pm->maps[i].start - pm->maps[i].offset < base))
            base = pm->maps[i].start - pm->maps[i].offset;
    return base;
}
