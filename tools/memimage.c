/* SPDX-License-Identifier: MIT */
/*
 * memimage: record the memory a walk of a live CPython process reads, as an image file
 * (tools/memimage.h) that the walker can replay through mem_init_image().
 *
 *   memimage --pid PID -o OUT[.gz] [--samples N]
 *
 * Steps: discover the runtime (as `pyprof record` does); SIGSTOP the target; walk it live N times
 * (default 3); copy every readable mapping of at most 64 MiB (not [vvar]/[vsyscall]); SIGCONT;
 * walk that full copy N times, tracing every read; keep only the pages those reads touched; walk
 * the trimmed image once more. All three walks must give the same stacks, or nothing is written.
 * Prints the stacks (folded, base names) on stdout. OUT ending in .gz is written gzipped.
 * Exit: 0 written, 1 the walks differ or the target could not be read, 64 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "py/walk.h"
#include "sys/procmaps.h"
#define MEMIMAGE_WANT_FOLDED
#include "memimage.h"

#define PAGE 4096ull
#define MAX_MAP (64ull << 20)

/* A growable image under construction: regions own their bytes. */
struct build {
    struct mem_region *regions;
    size_t n, cap;
};

static int build_add(struct build *b, uint64_t addr, const uint8_t *bytes, uint64_t len)
{
    uint8_t *copy;

    if (b->n && b->regions[b->n - 1].addr + b->regions[b->n - 1].len == addr) {
        /* Extend the previous region: contiguous pages become one. */
        struct mem_region *g = &b->regions[b->n - 1];

        copy = realloc((void *)g->bytes, g->len + len);
        if (!copy)
            return -1;
        memcpy(copy + g->len, bytes, len);
        g->bytes = copy;
        g->len += len;
        return 0;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        struct mem_region *r = realloc(b->regions, cap * sizeof(*r));

        if (!r)
            return -1;
        b->regions = r;
        b->cap = cap;
    }
    copy = malloc(len);
    if (!copy)
        return -1;
    memcpy(copy, bytes, len);
    b->regions[b->n++] = (struct mem_region){ .addr = addr, .len = len, .bytes = copy };
    return 0;
}

static void build_free(struct build *b)
{
    for (size_t i = 0; i < b->n; i++)
        free((void *)b->regions[i].bytes);
    free(b->regions);
    memset(b, 0, sizeof(*b));
}

/* Pages touched by traced reads. */
struct pages {
    uint64_t *v;
    size_t n, cap;
};

static void trace_pages(void *arg, uint64_t addr, size_t len)
{
    struct pages *p = arg;

    if (!len || addr + len < addr || len > (64u << 20))
        return;
    for (uint64_t pg = addr & ~(PAGE - 1); pg < addr + len; pg += PAGE) {
        if (p->n == p->cap) {
            size_t cap = p->cap ? 2 * p->cap : 1024;
            uint64_t *v = realloc(p->v, cap * sizeof(*v));

            if (!v)
                abort();
            p->v = v;
            p->cap = cap;
        }
        p->v[p->n++] = pg;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Walk @m @samples times; the stacks as memimage_folded() text (malloc'd), or NULL. */
static char *walk(struct mem *m, const struct py_runtime *rt, uint64_t head, pid_t pid,
                  int samples)
{
    struct walk_opts wo = { .idle = true, .lineno = true, .full_filenames = true };
    struct pp_agg *agg = NULL;
    struct walker *w = NULL;
    char *out = NULL;

    if (pp_agg_new(&agg) || walker_new(&w, m, rt, head, pid, agg, &wo))
        goto out;
    for (int i = 0; i < samples; i++)
        if (walker_sample(w, (uint64_t)(i + 1) * 1000000000ull))
            goto out;
    out = memimage_folded(agg);
out:
    walker_free(w);
    pp_agg_free(agg);
    return out;
}

/* Copy the readable mappings of @pid (page by page where a whole mapping cannot be read). */
static int capture(struct build *b, struct mem *m, pid_t pid)
{
    struct procmaps pm = { 0 };
    int r = procmaps_load(&pm, pid);

    if (r)
        return -1;
    for (size_t i = 0; i < pm.n_maps && !r; i++) {
        const struct procmap *mp = &pm.maps[i];
        uint64_t len = mp->end - mp->start;
        uint8_t *buf;

        if (mp->perms[0] != 'r' || len > MAX_MAP || !strcmp(mp->path, "[vvar]") ||
            !strcmp(mp->path, "[vsyscall]") || !strcmp(mp->path, "[vvar_vclock]"))
            continue;
        buf = malloc(len);
        if (!buf) {
            r = -1;
            break;
        }
        if (mem_read(m, mp->start, buf, len) == 0) {
            r = build_add(b, mp->start, buf, len);
        } else {
            for (uint64_t off = 0; off < len && !r; off += PAGE)
                if (mem_read(m, mp->start + off, buf + off, PAGE) == 0)
                    r = build_add(b, mp->start + off, buf + off, PAGE);
        }
        free(buf);
    }
    procmaps_free(&pm);
    return r;
}

/* Wait (up to 2 s) until @pid shows state T (stopped). */
static bool wait_stopped(pid_t pid)
{
    char path[64], buf[512];

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(path, "re");
        size_t n;
        char *p;

        if (!f)
            return false;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')');
        if (p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't'))
            return true;
        nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
    }
    return false;
}

static int write_image(const char *path, const struct memimage_hdr *h, const struct build *b)
{
    uint8_t hdr[MEMIMAGE_HDR] = { 0 }, ent[16];
    bool gz = strlen(path) > 3 && !strcmp(path + strlen(path) - 3, ".gz");
    gzFile g = NULL;
    FILE *f = NULL;
    int ok = 1;

#define PUT(p, n) (gz ? gzwrite(g, (p), (unsigned)(n)) == (int)(n) : fwrite((p), 1, (n), f) == (n))
    memcpy(hdr, MEMIMAGE_MAGIC, 8);
    memimage_put(hdr + 8, h->major, 4);
    memimage_put(hdr + 12, h->minor, 4);
    memimage_put(hdr + 16, h->micro, 4);
    memimage_put(hdr + 20, h->pid, 4);
    memimage_put(hdr + 24, h->runtime, 8);
    memimage_put(hdr + 32, h->interp_head, 8);
    memimage_put(hdr + 40, h->code_type, 8);
    memimage_put(hdr + 48, h->frame_type, 8);
    memimage_put(hdr + 56, b->n, 4);
    if (gz)
        g = gzopen(path, "wb9");
    else
        f = fopen(path, "wb");
    if (!g && !f)
        return -1;
    ok = PUT(hdr, sizeof(hdr));
    for (size_t i = 0; ok && i < b->n; i++) {
        memimage_put(ent, b->regions[i].addr, 8);
        memimage_put(ent + 8, b->regions[i].len, 8);
        ok = PUT(ent, sizeof(ent));
    }
    for (size_t i = 0; ok && i < b->n; i++)
        ok = PUT(b->regions[i].bytes, b->regions[i].len);
#undef PUT
    if (gz)
        ok = gzclose(g) == Z_OK && ok;
    else
        ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "pid", required_argument, NULL, 'p' },
        { "output", required_argument, NULL, 'o' },
        { "samples", required_argument, NULL, 'n' },
        { 0 },
    };
    struct py_runtime rt;
    struct build full = { 0 }, trim = { 0 };
    struct pages pages = { 0 };
    struct mem live, img;
    struct mem_image fi = { 0 }, ti = { 0 };
    struct memimage_hdr h = { 0 };
    const char *out = NULL;
    char *s_live = NULL, *s_full = NULL, *s_trim = NULL;
    pid_t pid = 0;
    uint64_t head = 0, bytes = 0;
    int samples = 3, c, rc = 1;
    bool stopped = false;

    while ((c = getopt_long(argc, argv, "p:o:n:", lo, NULL)) != -1) {
        switch (c) {
        case 'p': pid = (pid_t)atoi(optarg); break;
        case 'o': out = optarg; break;
        case 'n': samples = atoi(optarg); break;
        default: return 64;
        }
    }
    if (pid <= 0 || !out || samples < 1 || samples > 100) {
        fprintf(stderr, "usage: memimage --pid PID -o OUT[.gz] [--samples N]\n");
        return 64;
    }
    mem_init(&live, pid);
    if (discover_runtime(&rt, &live, pid) || discover_interp_head(&rt, &live, &head)) {
        fprintf(stderr, "memimage: no CPython runtime in %d: %s\n", (int)pid, rt.why);
        return 1;
    }
    if (kill(pid, SIGSTOP) || !wait_stopped(pid)) {
        fprintf(stderr, "memimage: cannot stop %d: %s\n", (int)pid, strerror(errno));
        goto out;
    }
    stopped = true;
    s_live = walk(&live, &rt, head, pid, samples);
    if (!s_live || capture(&full, &live, pid)) {
        fprintf(stderr, "memimage: cannot walk or copy %d\n", (int)pid);
        goto out;
    }
    kill(pid, SIGCONT);
    stopped = false;

    h = (struct memimage_hdr){ .major = rt.major, .minor = rt.minor, .micro = rt.micro,
                               .pid = (uint32_t)pid, .runtime = rt.runtime_addr,
                               .interp_head = head, .code_type = rt.code_type,
                               .frame_type = rt.frame_type };
    fi = (struct mem_image){ .regions = full.regions, .n = full.n, .trace = trace_pages,
                             .trace_arg = &pages };
    mem_init_image(&img, pid, &fi);
    {
        /* What a replay reads first (3.13+: _Py_DebugOffsets) must be kept too. */
        struct memimage mi = { .hdr = h };
        struct py_runtime rt2;

        if (memimage_runtime(&mi, &img, &rt2) || memcmp(&rt2.off, &rt.off, sizeof(rt.off))) {
            fprintf(stderr, "memimage: the offsets do not replay from the image\n");
            goto out;
        }
    }
    s_full = walk(&img, &rt, head, pid, samples);
    qsort(pages.v, pages.n, sizeof(*pages.v), cmp_u64);
    for (size_t i = 0, j = 0; i < pages.n; i++) {
        const uint8_t *p = NULL;

        if (i && pages.v[i] == pages.v[i - 1])
            continue;
        while (j < full.n && full.regions[j].addr + full.regions[j].len <= pages.v[i])
            j++;
        if (j < full.n && full.regions[j].addr <= pages.v[i])
            p = full.regions[j].bytes + (pages.v[i] - full.regions[j].addr);
        if (p && build_add(&trim, pages.v[i], p, PAGE))
            goto out;
    }
    ti = (struct mem_image){ .regions = trim.regions, .n = trim.n };
    mem_init_image(&img, pid, &ti);
    s_trim = walk(&img, &rt, head, pid, samples);
    if (!s_full || !s_trim || strcmp(s_live, s_full) || strcmp(s_live, s_trim)) {
        fprintf(stderr, "memimage: the walks differ\n-- live:\n%s-- full image:\n%s-- trimmed:\n%s",
                s_live, s_full ? s_full : "(failed)\n", s_trim ? s_trim : "(failed)\n");
        goto out;
    }
    if (write_image(out, &h, &trim)) {
        fprintf(stderr, "memimage: cannot write %s: %s\n", out, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < trim.n; i++)
        bytes += trim.regions[i].len;
    fprintf(stderr, "memimage: CPython %u.%u.%u, %zu regions, %llu bytes of the walk's pages\n",
            rt.major, rt.minor, rt.micro, trim.n, (unsigned long long)bytes);
    fputs(s_live, stdout);
    rc = 0;
out:
    if (stopped)
        kill(pid, SIGCONT);
    free(s_live);
    free(s_full);
    free(s_trim);
    free(pages.v);
    build_free(&full);
    build_free(&trim);
    return rc;
}
