/* SPDX-License-Identifier: MIT */
/* test-spool: ordering, size and age bounds, crash-safe writes and recovery of the spool. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ship/spool.h"
#include "../t.h"

#define SEC 1000000000ULL

static char dir[256];

static size_t count_files(const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    while (d && (de = readdir(d)))
        if (!strncmp(de->d_name, prefix, strlen(prefix)))
            n++;
    if (d)
        closedir(d);
    return n;
}

static void rm_all(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[600];

    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
}

static void test_order_and_remove(void)
{
    struct spool_opts o = { .dir = dir };
    struct spool *s = NULL;
    struct spool_item it;

    T_EQ_INT(spool_open(&s, &o), 0);
    T_EQ_INT(spool_put(s, "from=1", "aaa", 3, 100 * SEC), 0);
    T_EQ_INT(spool_put(s, "from=2", "bbbb", 4, 100 * SEC), 0); /* same time: seq orders */
    T_EQ_INT(spool_put(s, "from=3", "", 0, 99 * SEC), 0);      /* clock stepped back */
    T_EQ_INT(spool_stats(s)->n_files, 3);
    T_EQ_INT(spool_peek(s, &it), 0);
    T_EQ_STR(it.meta, "from=1");
    T_EQ_INT(it.len, 3);
    T_ASSERT(!memcmp(it.body, "aaa", 3));
    /* peek does not consume */
    spool_item_free(&it);
    T_EQ_INT(spool_peek(s, &it), 0);
    T_EQ_STR(it.meta, "from=1");
    T_EQ_INT(spool_remove(s, it.name), 0);
    T_EQ_INT(spool_remove(s, it.name), 0); /* already gone: fine */
    spool_item_free(&it);
    T_EQ_INT(spool_peek(s, &it), 0);
    T_EQ_STR(it.meta, "from=2");
    T_EQ_INT(spool_remove(s, it.name), 0);
    spool_item_free(&it);
    T_EQ_INT(spool_peek(s, &it), 0);
    T_EQ_STR(it.meta, "from=3");
    T_EQ_INT(it.len, 0);
    T_EQ_INT(spool_remove(s, it.name), 0);
    spool_item_free(&it);
    T_EQ_INT(spool_peek(s, &it), SPOOL_E_EMPTY);
    T_EQ_INT(spool_stats(s)->removed, 3);
    T_EQ_INT(count_files("0"), 0);
    /* bad metadata */
    T_EQ_INT(spool_put(s, "a\nb", "x", 1, SEC), -EINVAL);
    spool_free(s);
    rm_all();
}

static void test_size_bound(void)
{
    struct spool_opts o = { .dir = dir, .max_bytes = 1000 };
    struct spool *s = NULL;
    struct spool_item it;
    char body[300], meta[32];

    memset(body, 'x', sizeof(body));
    T_EQ_INT(spool_open(&s, &o), 0);
    /* each entry: 13 magic + 4 meta + 1 + 300 = 318 bytes: 3 fit in 1000 */
    for (int i = 0; i < 5; i++) {
        snprintf(meta, sizeof(meta), "w=%d", i);
        T_EQ_INT(spool_put(s, meta, body, sizeof(body), (uint64_t)(10 + i) * SEC), 0);
        T_ASSERT(spool_stats(s)->bytes <= 1000);
    }
    T_EQ_INT(spool_stats(s)->n_files, 3);
    T_EQ_INT(spool_stats(s)->dropped_full, 2);
    T_EQ_INT(count_files("0"), 3);
    T_EQ_INT(spool_peek(s, &it), 0);
    T_EQ_STR(it.meta, "w=2"); /* the two oldest were dropped */
    spool_item_free(&it);
    /* larger than the bound alone: refused, nothing dropped for it */
    {
        char *big = calloc(1, 2000);

        T_EQ_INT(spool_put(s, "big", big, 2000, 20 * SEC), SPOOL_E_TOOBIG);
        free(big);
    }
    T_EQ_INT(spool_stats(s)->n_files, 3);
    T_EQ_INT(spool_stats(s)->dropped_full, 3);
    spool_free(s);
    rm_all();
}

static void test_age_bound(void)
{
    struct spool_opts o = { .dir = dir, .max_age_ns = 60 * SEC };
    struct spool *s = NULL;
    struct spool_item it;

    T_EQ_INT(spool_open(&s, &o), 0);
    T_EQ_INT(spool_put(s, "old", "1", 1, 1000 * SEC), 0);
    T_EQ_INT(spool_put(s, "mid", "2", 1, 1050 * SEC), 0);
    T_EQ_INT(spool_put(s, "new", "3", 1, 1100 * SEC), 0);
    T_EQ_INT(spool_prune(s, 1055 * SEC), 0);
    T_EQ_INT(spool_prune(s, 1100 * SEC), 1); /* "old" is 100 s old */
    T_EQ_INT(spool_stats(s)->dropped_age, 1);
    T_EQ_INT(spool_peek(s, &it), 0);
    T_EQ_STR(it.meta, "mid");
    spool_item_free(&it);
    T_EQ_INT(spool_prune(s, 1200 * SEC), 2);
    T_EQ_INT(spool_peek(s, &it), SPOOL_E_EMPTY);
    spool_free(s);
    rm_all();
}

static void write_file(const char *name, const char *content)
{
    char p[600];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    f = fopen(p, "w");
    T_ASSERT(f != NULL);
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

static void test_recovery(void)
{
    struct spool_opts o = { .dir = dir };
    struct spool *s = NULL;
    struct spool_item it;

    /* A first run leaves two entries behind. */
    T_EQ_INT(spool_open(&s, &o), 0);
    T_EQ_INT(spool_put(s, "first", "A", 1, 500 * SEC), 0);
    T_EQ_INT(spool_put(s, "second", "B", 1, 600 * SEC), 0);
    spool_free(s);
    /* A crash mid-write leaves a temporary file; a torn or foreign file may be there too. */
    write_file(".tmp-00000000000000000700-0000000009.spool", "PYPROFSPOOL1\nhalf");
    write_file("00000000000000000100-0000000005.spool", "not a spool file");
    write_file("README", "ignored");
    T_EQ_INT(count_files(".tmp-"), 1);

    T_EQ_INT(spool_open(&s, &o), 0);
    T_EQ_INT(count_files(".tmp-"), 0); /* the interrupted write is gone */
    T_EQ_INT(spool_stats(s)->n_files, 3);
    /* the corrupt entry sorts first: reported, deleted, counted */
    T_EQ_INT(spool_peek(s, &it), SPOOL_E_CORRUPT);
    T_EQ_INT(spool_stats(s)->n_files, 2);
    T_EQ_INT(spool_peek(s, &it), 0);
    T_EQ_STR(it.meta, "first");
    T_EQ_INT(spool_remove(s, it.name), 0);
    spool_item_free(&it);
    /* new entries sort after the old ones (sequence numbers continue) */
    T_EQ_INT(spool_put(s, "third", "C", 1, 600 * SEC), 0);
    T_EQ_INT(spool_peek(s, &it), 0);
    T_EQ_STR(it.meta, "second");
    T_EQ_INT(spool_remove(s, it.name), 0);
    spool_item_free(&it);
    T_EQ_INT(spool_peek(s, &it), 0);
    T_EQ_STR(it.meta, "third");
    T_ASSERT(!memcmp(it.body, "C", 1));
    spool_item_free(&it);
    T_EQ_INT(count_files("README"), 1);
    spool_free(s);
    rm_all();
}

static void test_size_bound_on_open(void)
{
    struct spool_opts o = { .dir = dir };
    struct spool *s = NULL;
    char body[600];

    memset(body, 'y', sizeof(body));
    T_EQ_INT(spool_open(&s, &o), 0);
    for (int i = 0; i < 4; i++)
        T_EQ_INT(spool_put(s, "m", body, sizeof(body), (uint64_t)(i + 1) * SEC), 0);
    spool_free(s);
    o.max_bytes = 1300; /* a smaller bound after a restart: the oldest go at once */
    T_EQ_INT(spool_open(&s, &o), 0);
    T_EQ_INT(spool_stats(s)->n_files, 2);
    T_EQ_INT(spool_stats(s)->dropped_full, 2);
    spool_free(s);
    rm_all();
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test-spool-XXXXXX");
    if (!mkdtemp(dir))
        T_SKIP("no temporary directory");
    test_order_and_remove();
    test_size_bound();
    test_age_bound();
    test_recovery();
    test_size_bound_on_open();
    rmdir(dir);
    T_DONE();
}
