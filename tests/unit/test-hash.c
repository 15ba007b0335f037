/* SPDX-License-Identifier: MIT */
/* test-hash: hash functions and the bounded uint64 map. */
#include <errno.h>

#include "pyprof/hash.h"
#include "tests/t.h"

static void test_hash_functions(void)
{
    /* splitmix64 seeded with 0: first output is the finaliser of the golden-ratio increment. */
    T_ASSERT(pp_hash_u64(0x9e3779b97f4a7c15ULL) == 0xe220a8397b1dcdafULL);
    T_ASSERT(pp_hash_u64(0) == 0);
    /* FNV-1a 64: "" is the offset basis, "a" is 0xaf63dc4c8601ec8c; then mixed. */
    T_ASSERT(pp_hash_bytes("", 0, 0) == pp_hash_u64(0xcbf29ce484222325ULL));
    T_ASSERT(pp_hash_bytes("a", 1, 0) == pp_hash_u64(0xaf63dc4c8601ec8cULL));
    T_ASSERT(pp_hash_bytes("foobar", 6, 0) == pp_hash_u64(0x85944171f73967e8ULL));
    T_ASSERT(pp_hash_bytes("a", 1, 1) != pp_hash_bytes("a", 1, 0));
    T_ASSERT(pp_hash_bytes("a\0b", 3, 0) != pp_hash_bytes("a\0c", 3, 0));
    T_ASSERT(pp_hash_bytes("ab", 2, 7) == pp_hash_bytes("abc", 2, 7));
}

static void test_map_basic(void)
{
    struct pp_u64map *m = NULL;
    uint64_t v = 0;

    T_EQ_INT(pp_u64map_new(&m, 0), -EINVAL);
    T_EQ_INT(pp_u64map_new(&m, 4), 0);
    T_EQ_INT(pp_u64map_count(m), 0);
    T_EQ_INT(pp_u64map_get(m, 0, &v), PP_U64MAP_E_MISSING);

    T_EQ_INT(pp_u64map_put(m, 0, 100), 0);
    T_EQ_INT(pp_u64map_put(m, UINT64_MAX - 1, 101), 0);
    T_EQ_INT(pp_u64map_put(m, 0x7fff0000deadbeefULL, 102), 0);
    T_EQ_INT(pp_u64map_put(m, 3, 103), 0);
    T_EQ_INT(pp_u64map_count(m), 4);

    /* Full: a new key is refused and nothing is stored; an existing key is still overwritten. */
    T_EQ_INT(pp_u64map_put(m, 5, 105), PP_U64MAP_E_FULL);
    T_EQ_INT(pp_u64map_count(m), 4);
    v = 42;
    T_EQ_INT(pp_u64map_get(m, 5, &v), PP_U64MAP_E_MISSING);
    T_EQ_INT(v, 42);
    T_EQ_INT(pp_u64map_put(m, 3, 203), 0);
    T_EQ_INT(pp_u64map_count(m), 4);
    T_EQ_INT(pp_u64map_get(m, 3, &v), 0);
    T_EQ_INT(v, 203);
    T_EQ_INT(pp_u64map_get(m, 0, &v), 0);
    T_EQ_INT(v, 100);
    T_EQ_INT(pp_u64map_get(m, UINT64_MAX - 1, &v), 0);
    T_EQ_INT(v, 101);
    T_EQ_INT(pp_u64map_get(m, 0x7fff0000deadbeefULL, &v), 0);
    T_EQ_INT(v, 102);

    /* The reserved key. */
    T_EQ_INT(pp_u64map_put(m, UINT64_MAX, 1), -EINVAL);
    v = 7;
    T_EQ_INT(pp_u64map_get(m, UINT64_MAX, &v), PP_U64MAP_E_MISSING);
    T_EQ_INT(v, 7);

    /* Clear keeps the capacity: the same number of new keys fits again. */
    pp_u64map_clear(m);
    T_EQ_INT(pp_u64map_count(m), 0);
    T_EQ_INT(pp_u64map_get(m, 0, &v), PP_U64MAP_E_MISSING);
    T_EQ_INT(pp_u64map_get(m, 3, &v), PP_U64MAP_E_MISSING);
    for (uint64_t k = 10; k < 14; k++)
        T_EQ_INT(pp_u64map_put(m, k, k * 2), 0);
    T_EQ_INT(pp_u64map_put(m, 14, 0), PP_U64MAP_E_FULL);
    for (uint64_t k = 10; k < 14; k++) {
        T_EQ_INT(pp_u64map_get(m, k, &v), 0);
        T_EQ_INT(v, k * 2);
    }
    pp_u64map_clear(m);
    pp_u64map_clear(m);
    T_EQ_INT(pp_u64map_count(m), 0);

    T_ASSERT(pp_u64map_free(m) == NULL);
    T_ASSERT(pp_u64map_free(NULL) == NULL);
}

/* Many keys whose low bits collide, several fill/clear rounds, values checked exactly. */
static void test_map_many(void)
{
    enum { N = 10000 };
    struct pp_u64map *m = NULL;
    uint64_t v;
    int round, bad = 0;

    T_EQ_INT(pp_u64map_new(&m, N), 0);
    for (round = 0; round < 3; round++) {
        uint64_t base = (uint64_t)round << 40;

        for (uint64_t i = 0; i < N; i++) {
            if (pp_u64map_put(m, base + (i << 20), i ^ base) != 0)
                bad++;
        }
        T_EQ_INT(pp_u64map_count(m), N);
        T_EQ_INT(pp_u64map_put(m, base + 1, 0), PP_U64MAP_E_FULL);
        for (uint64_t i = 0; i < N; i++) {
            if (pp_u64map_get(m, base + (i << 20), &v) != 0 || v != (i ^ base))
                bad++;
            if (pp_u64map_get(m, base + (i << 20) + 1, &v) != PP_U64MAP_E_MISSING)
                bad++;
        }
        pp_u64map_clear(m);
        T_EQ_INT(pp_u64map_count(m), 0);
        T_EQ_INT(pp_u64map_get(m, base, &v), PP_U64MAP_E_MISSING);
    }
    T_EQ_INT(bad, 0);
    pp_u64map_free(m);
}

int main(void)
{
    test_hash_functions();
    test_map_basic();
    test_map_many();
    T_DONE();
}
