/* SPDX-License-Identifier: MIT */
/*
 * Unit test: the real walker over recorded memory images of real CPython processes
 * (tests/fuzz/corpus/walk/py3.X.img.gz, recorded by tools/memimage-record.sh from
 * tools/memimage_target.py) gives exactly the stacks in tests/fuzz/walk-expected/py3.X.folded:
 * frame names, base file names, lines and counts. (fuzz-walk checks that damaged images never
 * crash the walker; this checks that intact ones give exactly the right answer.)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "py/walk.h"
#define MEMIMAGE_WANT_FOLDED
#include "memimage.h"
#include "t.h"

#define SAMPLES 3 /* as tools/memimage.c */

static uint8_t *read_gz(const char *path, size_t *len)
{
    gzFile g = gzopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    int got;

    if (!g)
        return NULL;
    do {
        if (n == cap) {
            uint8_t *b = realloc(buf, cap = cap ? 2 * cap : 1 << 20);

            if (!b) {
                free(buf);
                gzclose(g);
                return NULL;
            }
            buf = b;
        }
        got = gzread(g, buf + n, (unsigned)(cap - n));
        if (got > 0)
            n += (size_t)got;
    } while (got > 0);
    gzclose(g);
    if (got < 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t cap = 0;

    if (!f)
        return NULL;
    if (getdelim(&buf, &cap, '\0', f) < 0) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Walk @mi SAMPLES times; the folded text, or NULL when a step failed (with *why set). */
static char *walk_image(const struct memimage *mi, const struct mem_image *img, const char **why)
{
    struct walk_opts wo = { .idle = true, .lineno = true, .full_filenames = true };
    struct py_runtime rt;
    struct pp_agg *agg = NULL;
    struct walker *w = NULL;
    struct mem m;
    char *out = NULL;

    mem_init_image(&m, (pid_t)mi->hdr.pid, img);
    *why = "runtime";
    if (memimage_runtime(mi, &m, &rt))
        goto out;
    *why = "walker_new";
    if (pp_agg_new(&agg) || walker_new(&w, &m, &rt, mi->hdr.interp_head, (pid_t)mi->hdr.pid, agg,
                                       &wo))
        goto out;
    *why = "walker_sample";
    for (int i = 0; i < SAMPLES; i++)
        if (walker_sample(w, (uint64_t)(i + 1) * 1000000000ull))
            goto out;
    *why = "folded";
    out = memimage_folded(agg);
out:
    walker_free(w);
    pp_agg_free(agg);
    return out;
}

static void check_image(const char *src, const char *name)
{
    char path[4096], stem[256];
    struct memimage mi;
    const char *why = "";
    char *want, *got;
    uint8_t *buf;
    size_t len = 0;

    snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(name) - strlen(".img.gz")), name);
    snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/walk/%s", src, name);
    buf = read_gz(path, &len);
    T_ASSERT(buf != NULL);
    if (!buf)
        return;
    T_EQ_INT(memimage_parse(&mi, buf, len), 0);
    snprintf(path, sizeof(path), "%s/tests/fuzz/walk-expected/%s.folded", src, stem);
    want = read_text(path);
    T_ASSERT(want != NULL);
    got = walk_image(&mi, &mi.img, &why);
    if (!got)
        fprintf(stderr, "%s: walk failed at %s\n", name, why);
    if (want && got && strcmp(want, got))
        fprintf(stderr, "%s: stacks differ\n-- want:\n%s-- got:\n%s", name, want, got);
    T_ASSERT(want && got && !strcmp(want, got));
    free(got);

    printf("%s: CPython %u.%u.%u, %zu regions, stacks as expected\n", name, mi.hdr.major,
           mi.hdr.minor, mi.hdr.micro, mi.img.n);
    memimage_free(&mi);
    free(want);
    free(buf);
}

int main(void)
{
    const char *src = getenv("PYPROF_SRCDIR");
    char dir[4096];
    struct dirent *e;
    DIR *d;
    int n = 0;

    if (!src)
        src = ".";
    snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/walk", src);
    d = opendir(dir);
    if (!d)
        T_SKIP("no tests/fuzz/corpus/walk");
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);

        if (l > 7 && !strcmp(e->d_name + l - 7, ".img.gz")) {
            check_image(src, e->d_name);
            n++;
        }
    }
    closedir(d);
    T_ASSERT(n >= 4); /* heap frames (<= 3.10), 3.11, 3.12, 3.13 */
    T_DONE();
}
