/* SPDX-License-Identifier: MIT */
/* test-strtab: interning, embedded NULs, unterminated input, growth and pointer stability. */
#include <errno.h>

#include "pyprof/strtab.h"
#include "tests/t.h"

static void test_basic(void)
{
    struct pp_strtab *t = NULL;
    const char *s;
    size_t len = 99;
    uint32_t id = 99;

    T_EQ_INT(pp_strtab_new(&t), 0);
    T_EQ_INT(pp_strtab_count(t), 1);
    T_EQ_STR(pp_strtab_str(t, 0, &len), "");
    T_EQ_INT(len, 0);
    T_EQ_INT(pp_strtab_intern(t, "", 0, &id), 0);
    T_EQ_INT(id, 0);
    T_EQ_INT(pp_strtab_intern(t, NULL, 0, &id), 0);
    T_EQ_INT(id, 0);
    T_EQ_INT(pp_strtab_count(t), 1);

    T_EQ_INT(pp_strtab_intern(t, "abc", 3, &id), 0);
    T_EQ_INT(id, 1);
    T_EQ_INT(pp_strtab_intern(t, "ab", 2, &id), 0);
    T_EQ_INT(id, 2);
    T_EQ_INT(pp_strtab_intern(t, "abc", 3, &id), 0);
    T_EQ_INT(id, 1);
    /* Not NUL-terminated: only @len bytes count. */
    T_EQ_INT(pp_strtab_intern(t, "abcdef", 3, &id), 0);
    T_EQ_INT(id, 1);
    T_EQ_INT(pp_strtab_intern(t, "abcdef", 6, &id), 0);
    T_EQ_INT(id, 3);

    /* Embedded NULs are ordinary bytes. */
    T_EQ_INT(pp_strtab_intern(t, "a\0b", 3, &id), 0);
    T_EQ_INT(id, 4);
    T_EQ_INT(pp_strtab_intern(t, "a\0c", 3, &id), 0);
    T_EQ_INT(id, 5);
    T_EQ_INT(pp_strtab_intern(t, "a", 1, &id), 0);
    T_EQ_INT(id, 6);
    T_EQ_INT(pp_strtab_intern(t, "a\0", 2, &id), 0);
    T_EQ_INT(id, 7);
    T_EQ_INT(pp_strtab_intern(t, "a\0b", 3, &id), 0);
    T_EQ_INT(id, 4);
    s = pp_strtab_str(t, 4, &len);
    T_ASSERT(s && memcmp(s, "a\0b", 4) == 0); /* includes the terminating NUL */
    T_EQ_INT(len, 3);
    s = pp_strtab_str(t, 7, &len);
    T_ASSERT(s && memcmp(s, "a\0", 3) == 0);
    T_EQ_INT(len, 2);

    T_EQ_STR(pp_strtab_str(t, 1, NULL), "abc");
    T_EQ_STR(pp_strtab_str(t, 2, NULL), "ab");
    T_EQ_STR(pp_strtab_str(t, 3, NULL), "abcdef");
    T_EQ_INT(pp_strtab_count(t), 8);
    T_ASSERT(pp_strtab_str(t, 8, NULL) == NULL);
    T_ASSERT(pp_strtab_str(t, UINT32_MAX, NULL) == NULL);

    T_ASSERT(pp_strtab_free(t) == NULL);
    T_ASSERT(pp_strtab_free(NULL) == NULL);
}

/* 100k strings: ids dense in order, every earlier pointer unchanged after all the growth. */
static void test_many(void)
{
    enum { N = 100000 };
    struct pp_strtab *t = NULL;
    const char **ptrs = calloc(N + 1, sizeof(*ptrs));
    char buf[32];
    uint32_t id, i;
    size_t len;
    int bad = 0;

    T_ASSERT(ptrs != NULL);
    if (!ptrs)
        return;
    T_EQ_INT(pp_strtab_new(&t), 0);
    for (i = 1; i <= N; i++) {
        int n = snprintf(buf, sizeof(buf), "s%u", i);

        if (pp_strtab_intern(t, buf, (size_t)n, &id) != 0 || id != i)
            bad++;
        ptrs[i] = pp_strtab_str(t, id, NULL);
    }
    T_EQ_INT(bad, 0);
    T_EQ_INT(pp_strtab_count(t), N + 1);
    for (i = 1; i <= N; i++) {
        int n = snprintf(buf, sizeof(buf), "s%u", i);

        if (pp_strtab_str(t, i, &len) != ptrs[i] || len != (size_t)n || strcmp(ptrs[i], buf))
            bad++;
        if (pp_strtab_intern(t, buf, (size_t)n, &id) != 0 || id != i)
            bad++;
    }
    T_EQ_INT(bad, 0);
    T_EQ_INT(pp_strtab_count(t), N + 1);
    pp_strtab_free(t);
    free(ptrs);
}

/* Strings larger than a chunk, interleaved with small ones. */
static void test_large(void)
{
    enum { BIG = 1 << 20 };
    struct pp_strtab *t = NULL;
    char *big = malloc(BIG);
    const char *small, *s;
    uint32_t id_big, id_big2, id_small, id;
    size_t len = 0;

    T_ASSERT(big != NULL);
    if (!big)
        return;
    memset(big, 'x', BIG);
    T_EQ_INT(pp_strtab_new(&t), 0);
    T_EQ_INT(pp_strtab_intern(t, "small", 5, &id_small), 0);
    small = pp_strtab_str(t, id_small, NULL);
    T_EQ_INT(pp_strtab_intern(t, big, BIG, &id_big), 0);
    big[0] = 'y';
    T_EQ_INT(pp_strtab_intern(t, big, BIG, &id_big2), 0);
    T_EQ_INT(pp_strtab_intern(t, "after", 5, &id), 0);
    T_EQ_INT(id_small, 1);
    T_EQ_INT(id_big, 2);
    T_EQ_INT(id_big2, 3);
    T_EQ_INT(id, 4);
    s = pp_strtab_str(t, id_big, &len);
    T_EQ_INT(len, BIG);
    T_ASSERT(s && s[0] == 'x' && s[BIG - 1] == 'x' && s[BIG] == '\0');
    s = pp_strtab_str(t, id_big2, &len);
    T_ASSERT(s && memcmp(s, big, BIG) == 0 && s[BIG] == '\0');
    T_ASSERT(pp_strtab_str(t, id_small, NULL) == small);
    T_EQ_STR(pp_strtab_str(t, id, NULL), "after");
    T_EQ_INT(pp_strtab_intern(t, big, BIG, &id), 0);
    T_EQ_INT(id, id_big2);
    pp_strtab_free(t);
    free(big);
}

int main(void)
{
    test_basic();
    test_many();
    test_large();
    T_DONE();
}
