/* SPDX-License-Identifier: MIT */
/* threadinfo: which thread holds the GIL, and the `threading` names of a CPython process's threads. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyprof/err.h"
#include "py/pystr.h"
#include "py/threadinfo.h"
#include "sys/pthreadtid.h"

#define DICT_MAX_ENTRIES (1u << 16) /* entries of any dict read (sys.modules has ~10^3) */
#define DICT_MAX_LOG2 20            /* hash table slots, log2 */
#define TYPE_NAME_READ 16           /* bytes of tp_name compared ("module" is the longest) */
#define DICTOFFSET_MAX 4096         /* a plausible tp_dictoffset */
#define TYPE_CACHE 8                /* thread classes remembered per call */

/* The entry layouts, unchanged from 3.6 to 3.13 (checked by the copies in cpython/v3_X.h). */
#define ENTRY_GENERAL_SIZE 24       /* PyDictKeyEntry {me_hash, me_key, me_value} */
#define ENTRY_UNICODE_SIZE 16       /* PyDictUnicodeEntry {me_key, me_value} (3.11+) */

/* ===== Reading ===== */

/* What a call has learnt: the type objects verified by name, and the thread classes seen. */
struct ctx {
    struct mem *m;
    const struct py_offsets *o;
    uint64_t dict_type, str_type, int_type, module_type; /* 0 until verified */
    struct {
        uint64_t addr;
        uint64_t flags, basicsize, cached_keys;
        int64_t dictoffset;
    } types[TYPE_CACHE];
    size_t n_types;
};

/* A dict's live entries (key and value both set), read out of the target. */
struct items {
    uint64_t *key, *value;
    size_t n;
};

static void items_free(struct items *it)
{
    free(it->key);
    free(it->value);
    it->key = it->value = NULL;
    it->n = 0;
}

static int from_mem(int r)
{
    if (r == MEM_E_NONE)
        return 0;
    if (r == MEM_E_GONE)
        return THREADINFO_E_GONE;
    return r < 0 ? r : THREADINFO_E_UNAVAILABLE;
}

static int rd(struct ctx *c, uint64_t addr, void *buf, size_t len)
{
    if (!addr)
        return THREADINFO_E_UNAVAILABLE;
    return from_mem(mem_read(c->m, addr, buf, len));
}

static int rd_u64(struct ctx *c, uint64_t addr, uint64_t *out)
{
    return rd(c, addr, out, sizeof(*out));
}

static uint64_t get_u64(const uint8_t *buf, uint32_t at)
{
    uint64_t v;

    memcpy(&v, buf + at, sizeof(v));
    return v;
}

/*
 * Whether the object at @obj has the type called @want (an exact tp_name match); the type's
 * address is remembered in *cache, so later objects cost one read. 0, or UNAVAILABLE / GONE.
 */
static int check_type(struct ctx *c, uint64_t obj, const char *want, uint64_t *cache)
{
    char name[TYPE_NAME_READ + 1];
    uint64_t type, name_at;
    int r;

    r = rd_u64(c, obj + c->o->object_type, &type);
    if (r)
        return r;
    if (*cache)
        return type == *cache ? 0 : THREADINFO_E_UNAVAILABLE;
    r = rd_u64(c, type + c->o->type_name, &name_at);
    if (!r) {
        r = rd(c, name_at, name, sizeof(name) - 1);
        if (r == THREADINFO_E_UNAVAILABLE) /* a short name at the end of a mapping */
            r = rd(c, name_at, name, strlen(want) + 1);
    }
    if (r)
        return r;
    name[TYPE_NAME_READ] = '\0';
    if (strcmp(name, want) != 0)
        return THREADINFO_E_UNAVAILABLE;
    *cache = type;
    return 0;
}

/* ===== Dicts ===== */

/*
 * Read the entries of the keys object at @keys: with @values 0 the values are in the entries
 * (combined table), otherwise they are the pointer array at @values (split table, indexed like
 * the entries). Live entries go to *out (malloc'd; items_free()).
 */
static int read_table(struct ctx *c, uint64_t keys, uint64_t values, struct items *out)
{
    const struct py_offsets *o = c->o;
    uint8_t hdr[64];
    uint64_t entries, *vals = NULL;
    uint8_t *buf = NULL;
    size_t esize, key_at, n;
    int64_t nentries;
    int r;

    memset(out, 0, sizeof(*out));
    if (o->dictkeys_indices > sizeof(hdr))
        return THREADINFO_E_UNSUPPORTED;
    r = rd(c, keys, hdr, o->dictkeys_indices);
    if (r)
        return r;
    memcpy(&nentries, hdr + o->dictkeys_nentries, sizeof(nentries));
    if (o->dictkeys_kind == PY_NO_FIELD) {
        /* <= 3.10: dk_size slots of 1, 2, 4 or 8 bytes, then {hash, key, value} entries */
        int64_t size;
        size_t width;

        memcpy(&size, hdr + o->dictkeys_size, sizeof(size));
        if (size < 8 || size > (1 << DICT_MAX_LOG2) || (size & (size - 1)))
            return THREADINFO_E_UNAVAILABLE;
        width = size <= 0xff ? 1 : size <= 0xffff ? 2 : 4;
        entries = keys + o->dictkeys_indices + (uint64_t)size * width;
        esize = ENTRY_GENERAL_SIZE;
        key_at = 8;
        if (nentries < 0 || nentries > size)
            return THREADINFO_E_UNAVAILABLE;
    } else {
        uint8_t log2_size = hdr[o->dictkeys_size], log2_bytes = hdr[o->dictkeys_index_bytes];
        uint8_t kind = hdr[o->dictkeys_kind];

        /* 3.11+: 1 << dk_log2_index_bytes bytes of slots (1..8 bytes each) */
        if (log2_size < 3 || log2_size > DICT_MAX_LOG2 || log2_bytes < log2_size ||
            log2_bytes > log2_size + 3 || kind > 2)
            return THREADINFO_E_UNAVAILABLE;
        entries = keys + o->dictkeys_indices + ((uint64_t)1 << log2_bytes);
        esize = kind == 0 ? ENTRY_GENERAL_SIZE : ENTRY_UNICODE_SIZE;
        key_at = kind == 0 ? 8 : 0;
        if (nentries < 0 || nentries > ((int64_t)1 << log2_size))
            return THREADINFO_E_UNAVAILABLE;
    }
    n = (size_t)nentries < DICT_MAX_ENTRIES ? (size_t)nentries : DICT_MAX_ENTRIES;
    if (!n)
        return 0;
    buf = malloc(n * esize);
    out->key = malloc(n * sizeof(uint64_t));
    out->value = malloc(n * sizeof(uint64_t));
    if (values)
        vals = malloc(n * sizeof(uint64_t));
    if (!buf || !out->key || !out->value || (values && !vals)) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    r = rd(c, entries, buf, n * esize);
    if (!r && values)
        r = rd(c, values, vals, n * sizeof(uint64_t));
    if (r)
        goto out;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = get_u64(buf, (uint32_t)(i * esize + key_at));
        uint64_t v = values ? vals[i] : get_u64(buf, (uint32_t)(i * esize + key_at + 8));

        /* deleted entries: NULL key (3.11+) or the dummy key with a NULL value (<= 3.10) */
        if (k && v && !(k & 7) && !(v & 7)) {
            out->key[out->n] = k;
            out->value[out->n] = v;
            out->n++;
        }
    }
out:
    free(buf);
    free(vals);
    if (r)
        items_free(out);
    return r;
}

/* The live entries of the dict object at @dict (type-checked). */
static int dict_items(struct ctx *c, uint64_t dict, struct items *out)
{
    const struct py_offsets *o = c->o;
    uint64_t keys, values;
    int r;

    memset(out, 0, sizeof(*out));
    r = check_type(c, dict, "dict", &c->dict_type);
    if (!r)
        r = rd_u64(c, dict + o->dict_keys, &keys);
    if (!r)
        r = rd_u64(c, dict + o->dict_values, &values);
    if (r)
        return r;
    return read_table(c, keys, values ? values + o->dictvalues_values : 0, out);
}

/*
 * The index in @it of the str key equal to @key (ASCII, at most 64 bytes), or -1. Every key is
 * read in one batch of header + length bytes (one process_vm_readv for up to IOV_MAX keys); a
 * key that faults makes the batch fall back to one read per key. Keys that are not exact str
 * objects, compact and ASCII (every ASCII str CPython creates is) never match.
 */
static int find_str(struct ctx *c, const struct items *it, const char *key, long *index)
{
    const struct py_offsets *o = c->o;
    size_t klen = strlen(key), len = o->unicode_ascii_size + klen;
    struct mem_range *rg = NULL;
    uint8_t *buf = NULL;
    bool batch_ok;
    int r = 0;

    *index = -1;
    if (!it->n)
        return 0;
    if (klen > 64 || o->unicode_ascii_size > 128)
        return pp_err_origin(-EINVAL);
    buf = malloc(it->n * len);
    rg = malloc(it->n * sizeof(*rg));
    if (!buf || !rg) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    for (size_t i = 0; i < it->n; i++)
        rg[i] = (struct mem_range){ .addr = it->key[i], .buf = buf + i * len, .len = len };
    r = mem_readv(c->m, rg, it->n);
    if (r == MEM_E_GONE || r < 0) {
        r = from_mem(r);
        goto out;
    }
    batch_ok = r == 0;
    r = 0;
    for (size_t i = 0; i < it->n; i++) {
        const uint8_t *p = buf + i * len;
        uint64_t type;
        int64_t length;
        uint32_t state;

        if (!batch_ok) {
            int rr = mem_read(c->m, it->key[i], buf + i * len, len);

            if (rr == MEM_E_GONE || rr < 0) {
                r = from_mem(rr);
                goto out;
            }
            if (rr)
                continue;
        }
        memcpy(&length, p + o->unicode_length, sizeof(length));
        memcpy(&state, p + o->unicode_state, sizeof(state));
        if (length != (int64_t)klen || !((state >> o->unicode_compact_shift) & 1) ||
            !((state >> o->unicode_ascii_shift) & 1) || memcmp(p + o->unicode_ascii_size, key, klen))
            continue;
        type = get_u64(p, o->object_type);
        if (c->str_type ? type != c->str_type
                        : check_type(c, it->key[i], "str", &c->str_type) != 0)
            continue;
        *index = (long)i;
        break;
    }
out:
    free(buf);
    free(rg);
    return r;
}

/* d[@key] for the dict at @dict and an ASCII str @key: 0 and *value (0 if absent), or an error. */
static int dict_get_str(struct ctx *c, uint64_t dict, const char *key, uint64_t *value)
{
    struct items it;
    long ix;
    int r;

    *value = 0;
    r = dict_items(c, dict, &it);
    if (!r)
        r = find_str(c, &it, key, &ix);
    if (!r && ix >= 0)
        *value = it.value[ix];
    items_free(&it);
    return r;
}

/* ===== Objects ===== */

/* The value of an int object that fits 64 bits and is not negative, into *out. */
static int read_ident(struct ctx *c, uint64_t obj, uint64_t *out)
{
    const struct py_offsets *o = c->o;
    uint8_t buf[64];
    uint32_t digits[3];
    int64_t size;
    uint64_t v = 0;
    size_t n;
    int r;

    r = check_type(c, obj, "int", &c->int_type);
    if (r)
        return r;
    if (o->long_digits + sizeof(digits) > sizeof(buf))
        return THREADINFO_E_UNSUPPORTED;
    r = rd(c, obj, buf, o->long_digits + sizeof(digits));
    if (r == THREADINFO_E_UNAVAILABLE) /* a small int at the end of a mapping */
        r = rd(c, obj, buf, o->long_digits + sizeof(uint32_t));
    if (r)
        return r;
    memcpy(&size, buf + o->long_size, sizeof(size));
    if (o->longs == PY_LONG_LV_TAG) {
        uint64_t tag = (uint64_t)size;

        if ((tag & 3) == 2) /* negative */
            return THREADINFO_E_UNAVAILABLE;
        n = (tag & 3) == 1 ? 0 : (size_t)(tag >> 3);
    } else {
        if (size < 0)
            return THREADINFO_E_UNAVAILABLE;
        n = (size_t)size;
    }
    if (n > 3)
        return THREADINFO_E_UNAVAILABLE;
    memcpy(digits, buf + o->long_digits, n * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        if (digits[i] >> 30)
            return THREADINFO_E_UNAVAILABLE;
        if (i == 2 && digits[i] >> 4) /* bits above 64 */
            return THREADINFO_E_UNAVAILABLE;
        v |= (uint64_t)digits[i] << (30 * i);
    }
    *out = v;
    return 0;
}

/* The type of @obj and what the instance dict lookup needs of it (cached per type). */
static int type_info(struct ctx *c, uint64_t obj, size_t *slot)
{
    const struct py_offsets *o = c->o;
    uint8_t buf[1024];
    uint64_t type;
    size_t i;
    int r;

    r = rd_u64(c, obj + o->object_type, &type);
    if (r)
        return r;
    for (i = 0; i < c->n_types; i++) {
        if (c->types[i].addr == type) {
            *slot = i;
            return 0;
        }
    }
    if (o->type_cached_keys + 8 > sizeof(buf))
        return THREADINFO_E_UNSUPPORTED;
    r = rd(c, type, buf, o->type_cached_keys + 8);
    if (r)
        return r;
    i = c->n_types < TYPE_CACHE ? c->n_types++ : TYPE_CACHE - 1;
    c->types[i].addr = type;
    c->types[i].flags = get_u64(buf, o->type_flags);
    c->types[i].basicsize = get_u64(buf, o->type_basicsize);
    c->types[i].dictoffset = (int64_t)get_u64(buf, o->type_dictoffset);
    c->types[i].cached_keys = get_u64(buf, o->type_cached_keys);
    *slot = i;
    return 0;
}

/* @key in the shared keys @keys with the values array at @values (split instance values). */
static int split_get_str(struct ctx *c, uint64_t keys, uint64_t values, const char *key,
                         uint64_t *value)
{
    struct items it;
    long ix;
    int r;

    *value = 0;
    r = read_table(c, keys, values + c->o->dictvalues_values, &it);
    if (!r)
        r = find_str(c, &it, key, &ix);
    if (!r && ix >= 0)
        *value = it.value[ix];
    items_free(&it);
    return r;
}

/*
 * The attribute @key of @obj as found in its instance dict (not its class): 0 and *value (0 if
 * the attribute is not there), or an error. Per version (offsets.h, enum py_instdict_model).
 */
static int instance_attr(struct ctx *c, uint64_t obj, const char *key, uint64_t *value)
{
    const struct py_offsets *o = c->o;
    uint64_t word, dict = 0;
    size_t t;
    int r;

    *value = 0;
    r = type_info(c, obj, &t);
    if (r)
        return r;
    if (o->tpflags_managed_dict && (c->types[t].flags & o->tpflags_managed_dict)) {
        r = rd_u64(c, obj - o->obj_managed_dict, &word);
        if (r)
            return r;
        switch (o->instdicts) {
        case PY_INSTDICT_MANAGED: { /* 3.11: values pointer apart, used while there is no dict */
            uint64_t values;

            r = rd_u64(c, obj - o->obj_managed_values, &values);
            if (r)
                return r;
            if (values)
                return split_get_str(c, c->types[t].cached_keys, values, key, value);
            dict = word;
            break;
        }
        case PY_INSTDICT_TAGGED: /* 3.12: values pointer - 1 when the low bit is set */
            if (word & 1)
                return split_get_str(c, c->types[t].cached_keys, word + 1, key, value);
            dict = word;
            break;
        case PY_INSTDICT_INLINE: { /* 3.13: a materialised dict wins over the inline values */
            uint64_t values = obj + c->types[t].basicsize;
            uint8_t valid;

            dict = word;
            if (dict || !(c->types[t].flags & o->tpflags_inline_values))
                break;
            if (c->types[t].basicsize > DICTOFFSET_MAX)
                return THREADINFO_E_UNAVAILABLE;
            r = rd(c, values + o->dictvalues_valid, &valid, sizeof(valid));
            if (r)
                return r;
            if (!valid)
                return THREADINFO_E_UNAVAILABLE;
            return split_get_str(c, c->types[t].cached_keys, values, key, value);
        }
        default:
            return THREADINFO_E_UNSUPPORTED;
        }
    } else {
        int64_t off = c->types[t].dictoffset;

        if (off <= 0 || off > DICTOFFSET_MAX)
            return THREADINFO_E_UNAVAILABLE;
        r = rd_u64(c, obj + (uint64_t)off, &dict);
        if (r)
            return r;
    }
    if (!dict)
        return 0;
    return dict_get_str(c, dict, key, value);
}

/* ===== API ===== */

int threadinfo_gil_holder(struct mem *m, const struct py_offsets *o, uint64_t runtime_addr,
                          uint64_t interp_addr, uint64_t *tstate_out)
{
    struct ctx c = { .m = m, .o = o };
    uint64_t holder, gil;
    uint8_t buf[256];
    int32_t locked;
    int r;

    if (o->runtime_tstate_current != PY_NO_FIELD) {
        r = rd_u64(&c, runtime_addr + o->runtime_tstate_current, &holder);
    } else if (o->interp_ceval_gil != PY_NO_FIELD) {
        uint32_t len = o->gil_locked > o->gil_last_holder ? o->gil_locked + 4
                                                          : o->gil_last_holder + 8;

        if (len > sizeof(buf))
            return THREADINFO_E_UNSUPPORTED;
        r = rd_u64(&c, interp_addr + o->interp_ceval_gil, &gil);
        if (!r)
            r = rd(&c, gil, buf, len); /* both words in one read: a consistent pair */
        if (r)
            return r;
        memcpy(&locked, buf + o->gil_locked, sizeof(locked));
        holder = get_u64(buf, o->gil_last_holder);
        if (locked != 0 && locked != 1 && locked != -1)
            return THREADINFO_E_UNAVAILABLE;
        if (locked != 1)
            holder = 0;
    } else {
        return THREADINFO_E_UNSUPPORTED;
    }
    if (r)
        return r;
    if (holder & 7)
        return THREADINFO_E_UNAVAILABLE;
    *tstate_out = holder;
    return 0;
}

void threadinfo_names_init(struct threadinfo_names *t)
{
    t->v = NULL;
    t->n = 0;
}

void threadinfo_names_deinit(struct threadinfo_names *t)
{
    if (!t)
        return;
    free(t->v);
    threadinfo_names_init(t);
}

static int cmp_name(const void *a, const void *b)
{
    const struct threadinfo_name *x = a, *y = b;

    return (x->ident > y->ident) - (x->ident < y->ident);
}

int threadinfo_names(struct mem *m, const struct py_offsets *o, uint64_t interp_addr,
                     struct threadinfo_names *out)
{
    struct ctx c = { .m = m, .o = o };
    struct threadinfo_name *v = NULL;
    struct items active = { 0 };
    uint64_t modules, threading, md_dict, active_dict;
    size_t n = 0;
    int r;

    if (o->interp_modules == PY_NO_FIELD || o->dictkeys_indices == PY_NO_FIELD)
        return THREADINFO_E_UNSUPPORTED;
    r = rd_u64(&c, interp_addr + o->interp_modules, &modules);
    if (!r)
        r = dict_get_str(&c, modules, "threading", &threading);
    if (r)
        goto out;
    if (!threading) /* never imported: no names, and no error */
        goto done;
    r = check_type(&c, threading, "module", &c.module_type);
    if (!r)
        r = rd_u64(&c, threading + o->module_dict, &md_dict);
    if (!r)
        r = dict_get_str(&c, md_dict, "_active", &active_dict);
    if (!r && !active_dict)
        r = THREADINFO_E_UNAVAILABLE;
    if (!r)
        r = dict_items(&c, active_dict, &active);
    if (r)
        goto out;
    if (active.n > THREADINFO_MAX_THREADS)
        active.n = THREADINFO_MAX_THREADS;
    v = calloc(active.n ? active.n : 1, sizeof(*v));
    if (!v) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    for (size_t i = 0; i < active.n; i++) {
        uint64_t ident, name;
        size_t len;
        int rr;

        /* A thread that cannot be read (torn, exiting) is left out; the process gone is not. */
        rr = read_ident(&c, active.key[i], &ident);
        if (!rr)
            rr = instance_attr(&c, active.value[i], "_name", &name);
        if (!rr && name)
            rr = check_type(&c, name, "str", &c.str_type);
        if (!rr && name) {
            rr = pystr_read(m, o, name, v[n].name, sizeof(v[n].name), &len);
            rr = rr == PYSTR_E_GONE ? THREADINFO_E_GONE : rr == PYSTR_E_BAD ? THREADINFO_E_UNAVAILABLE
                                                                             : rr;
        }
        if (rr == THREADINFO_E_GONE || rr < 0) {
            r = rr;
            goto out;
        }
        if (rr || !name)
            continue;
        v[n].ident = ident;
        n++;
    }
    qsort(v, n, sizeof(*v), cmp_name);
done:
    free(out->v);
    out->v = v;
    out->n = n;
    v = NULL;
    r = 0;
out:
    free(v);
    items_free(&active);
    return r;
}

const char *threadinfo_name_of(const struct threadinfo_names *t, uint64_t ident)
{
    size_t lo = 0, hi = t ? t->n : 0;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (t->v[mid].ident == ident)
            return t->v[mid].name;
        if (t->v[mid].ident < ident)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/*
 * <= 3.10: the kernel tid of each thread from glibc's struct pthread (thread_id is its address).
 * The tid sits at a fixed offset: the one where the main thread's struct holds the PID.
 */
static int pthread_tids(struct ctx *c, pid_t pid, struct threadinfo_thread *t, size_t n)
{
    uint8_t buf[PTHREADTID_SCAN];
    int32_t tid;
    pid_t ns_pid = pthreadtid_ns_pid(pid);
    long off = -1;
    int r;

    for (size_t k = 0; k < n && off < 0; k++) {
        r = rd(c, t[k].ident, buf, sizeof(buf));
        if (r == THREADINFO_E_GONE || r < 0)
            return r;
        if (r)
            continue;
        off = pthreadtid_offset(buf, sizeof(buf), ns_pid);
    }
    for (size_t k = 0; off >= 0 && k < n; k++) {
        r = rd(c, t[k].ident + (uint64_t)off, &tid, sizeof(tid));
        if (r == THREADINFO_E_GONE || r < 0)
            return r;
        t[k].tid = !r && tid > 0 ? (uint64_t)tid : 0;
    }
    return 0;
}

int threadinfo_threads(struct mem *m, const struct py_offsets *o, uint64_t interp_addr, pid_t pid,
                       struct threadinfo_thread *out, size_t cap, size_t *n)
{
    struct ctx c = { .m = m, .o = o };
    uint8_t ts[1024];
    uint64_t tstate;
    size_t count = 0;
    int r;

    *n = 0;
    if (o->tstate_read_size > sizeof(ts))
        return THREADINFO_E_UNSUPPORTED;
    r = rd_u64(&c, interp_addr + o->interp_threads_head, &tstate);
    while (!r && tstate && count < cap && count < THREADINFO_MAX_THREADS) {
        r = rd(&c, tstate, ts, o->tstate_read_size);
        if (r)
            break;
        if (get_u64(ts, o->tstate_interp) != interp_addr) {
            r = THREADINFO_E_UNAVAILABLE; /* not a thread of this interpreter: torn */
            break;
        }
        out[count].tstate = tstate;
        out[count].ident = get_u64(ts, o->tstate_thread_id);
        out[count].tid = o->tstate_native_thread_id != PY_NO_FIELD
                             ? get_u64(ts, o->tstate_native_thread_id) : 0;
        count++;
        tstate = get_u64(ts, o->tstate_next);
    }
    *n = count;
    if (r)
        return r;
    if (o->tstate_native_thread_id == PY_NO_FIELD)
        return pthread_tids(&c, pid, out, count);
    return 0;
}
