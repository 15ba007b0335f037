/* SPDX-License-Identifier: MIT */
/*
 * fuzz-store: one scratch store per fuzzing process for the targets that drive the server's
 * handlers (fuzz-multipart, fuzz-speedscope, fuzz-query): created on first use in a fresh
 * /tmp/fuzz-store-PID-XXXXXX directory, capped at 64 MiB (the store drops its oldest data beyond
 * that), removed at exit. Header-only, static functions.
 */
#pragma once

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static char fuzz_store_dir[64];
static struct store *fuzz_store_st;

static void fuzz_store_cleanup(void)
{
    DIR *d;
    struct dirent *e;
    char path[512];

    fuzz_store_st = store_close(fuzz_store_st);
    if (!fuzz_store_dir[0] || !(d = opendir(fuzz_store_dir)))
        return;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", fuzz_store_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(fuzz_store_dir);
}

/* The scratch store (aborts if it cannot be made: the target would test nothing). */
static struct store *fuzz_store(void)
{
    struct store_opts o = { .max_disk_bytes = 64u << 20, .manual_maintenance = true };
    char err[256];

    if (fuzz_store_st)
        return fuzz_store_st;
    snprintf(fuzz_store_dir, sizeof(fuzz_store_dir), "/tmp/fuzz-store-%ld-XXXXXX", (long)getpid());
    if (!mkdtemp(fuzz_store_dir))
        abort();
    o.dir = fuzz_store_dir;
    if (store_open(&fuzz_store_st, &o, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz-store: %s\n", err);
        abort();
    }
    atexit(fuzz_store_cleanup);
    return fuzz_store_st;
}
