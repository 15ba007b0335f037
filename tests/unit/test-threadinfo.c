/* SPDX-License-Identifier: MIT */
/* test-threadinfo: GIL holder and thread names over hand-built CPython memory images. */
#include <stdint.h>
#include <string.h>

#include "../t.h"
#include "py/offsets.h"
#include "py/threadinfo.h"
#include "sys/mem.h"

#define BASE 0x10000000ull
#define ARENA (1u << 16)

static uint8_t arena[ARENA];
static size_t used;

/* A zeroed, 16-byte aligned block of the image; its remote address. */
static uint64_t alloc(size_t n)
{
    uint64_t at = BASE + used;

    used += (n + 15) & ~(size_t)15;
    if (used > ARENA) {
        fprintf(stderr, "arena full\n");
        exit(1);
    }
    return at;
}

static void put(uint64_t addr, const void *v, size_t n)
{
    memcpy(arena + (addr - BASE), v, n);
}

static void put_u64(uint64_t addr, uint64_t v)
{
    put(addr, &v, sizeof(v));
}

static void put_u32(uint64_t addr, uint32_t v)
{
    put(addr, &v, sizeof(v));
}

static const struct py_offsets *o;

static uint64_t new_type(const char *name, uint64_t flags, int64_t dictoffset)
{
    uint64_t t = alloc(1024), s = alloc(strlen(name) + 1);

    put(s, name, strlen(name) + 1);
    put_u64(t + o->type_name, s);
    put_u64(t + o->type_flags, flags);
    put_u64(t + o->type_dictoffset, (uint64_t)dictoffset);
    return t;
}

static uint64_t str_type, dict_type, int_type, module_type, thread_type;

static uint64_t new_str(const char *s)
{
    size_t n = strlen(s);
    uint64_t a = alloc(o->unicode_ascii_size + n + 1);

    put_u64(a + o->object_type, str_type);
    put_u64(a + o->unicode_length, n);
    put_u32(a + o->unicode_state, (1u << o->unicode_kind_shift) |
                                      (1u << o->unicode_compact_shift) |
                                      (1u << o->unicode_ascii_shift));
    put(a + o->unicode_ascii_size, s, n);
    return a;
}

static uint64_t new_int(uint64_t v)
{
    uint64_t a = alloc(64);
    uint32_t d[3] = { (uint32_t)(v & 0x3fffffff), (uint32_t)((v >> 30) & 0x3fffffff),
                      (uint32_t)(v >> 60) };
    int64_t n = d[2] ? 3 : d[1] ? 2 : d[0] ? 1 : 0;

    put_u64(a + o->object_type, int_type);
    put_u64(a + o->long_size, (uint64_t)n); /* <= 3.11 layout: ob_size */
    put(a + o->long_digits, d, sizeof(d));
    return a;
}

/* A combined <= 3.10 dict of @n entries (dk_size 8: 1-byte indices, then the entries). */
static uint64_t new_dict(size_t n, const uint64_t *keys, const uint64_t *values)
{
    uint64_t d = alloc(64), k = alloc(o->dictkeys_indices + 8 + 8 * 24);

    put_u64(d + o->object_type, dict_type);
    put_u64(d + o->dict_keys, k);
    put_u64(k + o->dictkeys_size, 8);
    put_u64(k + o->dictkeys_nentries, n);
    for (size_t i = 0; i < n; i++) {
        uint64_t e = k + o->dictkeys_indices + 8 + i * 24;

        put_u64(e + 8, keys[i]);
        put_u64(e + 16, values[i]);
    }
    return d;
}

static uint64_t new_thread(const char *name)
{
    uint64_t t = alloc(64), k = new_str("_name"), v = new_str(name), dict;

    dict = new_dict(1, &k, &v);
    put_u64(t + o->object_type, thread_type);
    put_u64(t + 16, dict); /* tp_dictoffset 16 */
    return t;
}

static void test_names_v3_8(void)
{
    struct mem_region rg = { .addr = BASE, .len = ARENA, .bytes = arena };
    struct mem_image img = { .regions = &rg, .n = 1 };
    struct threadinfo_names names;
    struct mem m;
    uint64_t interp, modules, module, md, active, k[3], v[3];
    const uint64_t idents[3] = { 0x7f0011223344ull, 0x7f00aabbccddull, 5 };

    T_EQ_INT(offsets_for_version(3, 8, &o), 0);
    memset(arena, 0, sizeof(arena));
    used = 0;
    str_type = new_type("str", 0, 0);
    dict_type = new_type("dict", 0, 0);
    int_type = new_type("int", 0, 0);
    module_type = new_type("module", 0, 0);
    thread_type = new_type("Thread", 0, 16);

    for (int i = 0; i < 3; i++)
        k[i] = new_int(idents[i]);
    v[0] = new_thread("MainThread");
    v[1] = new_thread("worker-1");
    v[2] = new_thread("x");
    active = new_dict(3, k, v);
    k[0] = new_str("_shutdown");
    v[0] = new_str("whatever");
    k[1] = new_str("_active");
    v[1] = active;
    md = new_dict(2, k, v);
    module = alloc(64);
    put_u64(module + o->object_type, module_type);
    put_u64(module + o->module_dict, md);
    k[0] = new_str("sys");
    v[0] = alloc(64);
    k[1] = new_str("threadinG"); /* same length, different: must not match */
    v[1] = alloc(64);
    k[2] = new_str("threading");
    v[2] = module;
    modules = new_dict(3, k, v);
    interp = alloc(1024);
    put_u64(interp + o->interp_modules, modules);

    mem_init_image(&m, 1, &img);
    threadinfo_names_init(&names);
    T_EQ_INT(threadinfo_names(&m, o, interp, &names), 0);
    T_EQ_INT(names.n, 3);
    T_EQ_STR(threadinfo_name_of(&names, idents[0]), "MainThread");
    T_EQ_STR(threadinfo_name_of(&names, idents[1]), "worker-1");
    T_EQ_STR(threadinfo_name_of(&names, 5), "x");
    T_ASSERT(threadinfo_name_of(&names, 6) == NULL);
    T_ASSERT(names.v[0].ident < names.v[1].ident && names.v[1].ident < names.v[2].ident);

    /* _active of the wrong type: not available, and the table is left as it was */
    put_u64(active + o->object_type, str_type);
    T_EQ_INT(threadinfo_names(&m, o, interp, &names), THREADINFO_E_UNAVAILABLE);
    T_EQ_INT(names.n, 3);
    T_EQ_STR(threadinfo_name_of(&names, idents[1]), "worker-1");
    put_u64(active + o->object_type, dict_type);

    /* an implausible table size in sys.modules' keys */
    {
        uint64_t keys;

        memcpy(&keys, arena + (modules + o->dict_keys - BASE), 8);
        put_u64(keys + o->dictkeys_size, 12); /* not a power of 2 */
        T_EQ_INT(threadinfo_names(&m, o, interp, &names), THREADINFO_E_UNAVAILABLE);
        put_u64(keys + o->dictkeys_size, 8);
        put_u64(keys + o->dictkeys_nentries, 9); /* more entries than slots */
        T_EQ_INT(threadinfo_names(&m, o, interp, &names), THREADINFO_E_UNAVAILABLE);
        put_u64(keys + o->dictkeys_nentries, 3);
    }

    /* a pointer out of the image (torn read): not available */
    put_u64(interp + o->interp_modules, 0xdead0000ull);
    T_EQ_INT(threadinfo_names(&m, o, interp, &names), THREADINFO_E_UNAVAILABLE);

    /* no "threading" in sys.modules: an empty table, no error */
    put_u64(interp + o->interp_modules, modules);
    put(k[2] + o->unicode_ascii_size, "threadinX", 9);
    T_EQ_INT(threadinfo_names(&m, o, interp, &names), 0);
    T_EQ_INT(names.n, 0);
    T_ASSERT(threadinfo_name_of(&names, idents[0]) == NULL);
    threadinfo_names_deinit(&names);
    threadinfo_names_deinit(NULL);
}

static void test_gil(void)
{
    struct mem_region rg = { .addr = BASE, .len = ARENA, .bytes = arena };
    struct mem_image img = { .regions = &rg, .n = 1 };
    struct mem m;
    uint64_t runtime, interp, gil, holder = 1;

    memset(arena, 0, sizeof(arena));
    used = 0;
    mem_init_image(&m, 1, &img);

    /* <= 3.11: the runtime's current thread state */
    T_EQ_INT(offsets_for_version(3, 11, &o), 0);
    runtime = alloc(4096);
    put_u64(runtime + o->runtime_tstate_current, 0x5550);
    T_EQ_INT(threadinfo_gil_holder(&m, o, runtime, 0, &holder), 0);
    T_EQ_INT(holder, 0x5550);
    put_u64(runtime + o->runtime_tstate_current, 0);
    T_EQ_INT(threadinfo_gil_holder(&m, o, runtime, 0, &holder), 0);
    T_EQ_INT(holder, 0);
    put_u64(runtime + o->runtime_tstate_current, 0x5553); /* unaligned */
    holder = 7;
    T_EQ_INT(threadinfo_gil_holder(&m, o, runtime, 0, &holder), THREADINFO_E_UNAVAILABLE);
    T_EQ_INT(holder, 7); /* untouched */

    /* 3.12: interp->ceval.gil -> {locked, last_holder} */
    T_EQ_INT(offsets_for_version(3, 12, &o), 0);
    T_EQ_INT(o->runtime_tstate_current, PY_NO_FIELD);
    interp = alloc(4096);
    gil = alloc(256);
    put_u64(interp + o->interp_ceval_gil, gil);
    put_u64(gil + o->gil_last_holder, 0x7770);
    put_u32(gil + o->gil_locked, 1);
    T_EQ_INT(threadinfo_gil_holder(&m, o, 0, interp, &holder), 0);
    T_EQ_INT(holder, 0x7770);
    put_u32(gil + o->gil_locked, 0); /* released: last_holder is only the last one */
    T_EQ_INT(threadinfo_gil_holder(&m, o, 0, interp, &holder), 0);
    T_EQ_INT(holder, 0);
    put_u32(gil + o->gil_locked, 0xffffffffu); /* -1: not created yet */
    T_EQ_INT(threadinfo_gil_holder(&m, o, 0, interp, &holder), 0);
    T_EQ_INT(holder, 0);
    put_u32(gil + o->gil_locked, 7); /* garbage */
    T_EQ_INT(threadinfo_gil_holder(&m, o, 0, interp, &holder), THREADINFO_E_UNAVAILABLE);
    put_u64(interp + o->interp_ceval_gil, 0); /* no GIL pointer */
    T_EQ_INT(threadinfo_gil_holder(&m, o, 0, interp, &holder), THREADINFO_E_UNAVAILABLE);
}

int main(void)
{
    test_names_v3_8();
    test_gil();
    T_DONE();
}
