/* SPDX-License-Identifier: MIT */
/* agg: frame, thread and stack tables; stacks live in one growing pool of frame ids. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pyprof/agg.h"
#include "pyprof/hash.h"

#define MAX_IDS (UINT32_MAX - 1) /* frames, threads or stacks: indices must fit pp_itab */

struct stack_rec {
    size_t off;       /* first frame id in pool */
    uint64_t count;
    uint32_t n_fids;
    uint32_t thread;
};

struct pp_agg {
    struct pp_strtab *strtab;

    struct pp_frame *frames;
    size_t cap_frames;
    uint32_t n_frames;
    struct pp_itab frame_index;

    struct pp_thread *threads;
    size_t cap_threads;
    uint32_t n_threads;
    struct pp_itab thread_index;

    struct stack_rec *stacks;
    size_t cap_stacks;
    size_t n_stacks;
    struct pp_itab stack_index;

    uint32_t *pool; /* frame ids of every stack, back to back */
    size_t cap_pool;
    size_t n_pool;

    uint64_t total;

    struct pp_sample *samples; /* the timeline, when enabled */
    size_t cap_samples;
    size_t n_samples;
    bool timeline_on;
};

/* === Lifecycle =========================================================== */

int pp_agg_new(struct pp_agg **out)
{
    struct pp_agg *a;
    int r;

    a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    r = pp_strtab_new(&a->strtab);
    if (r < 0) {
        free(a);
        return r;
    }
    *out = a;
    return 0;
}

struct pp_agg *pp_agg_free(struct pp_agg *a)
{
    if (!a)
        return NULL;
    pp_strtab_free(a->strtab);
    free(a->frames);
    pp_itab_deinit(&a->frame_index);
    free(a->threads);
    pp_itab_deinit(&a->thread_index);
    free(a->stacks);
    pp_itab_deinit(&a->stack_index);
    free(a->pool);
    free(a->samples);
    free(a);
    return NULL;
}

struct pp_strtab *pp_agg_strtab(struct pp_agg *a)
{
    return a->strtab;
}

const struct pp_strtab *pp_agg_strtab_const(const struct pp_agg *a)
{
    return a->strtab;
}

/* === Frames and threads ================================================== */

struct frame_key {
    const struct pp_agg *a;
    const struct pp_frame *f;
};

static bool frame_eq(const void *ctx, uint32_t fid)
{
    const struct frame_key *k = ctx;
    const struct pp_frame *f = &k->a->frames[fid];

    return f->name == k->f->name && f->file == k->f->file && f->line == k->f->line;
}

int pp_agg_intern_frame(struct pp_agg *a, const struct pp_frame *f, uint32_t *out_fid)
{
    struct frame_key k = {a, f};
    uint32_t n_str = pp_strtab_count(a->strtab);
    uint64_t h;
    uint32_t fid;
    int r;

    if (f->name >= n_str || f->file >= n_str)
        return -EINVAL;
    h = pp_hash_u64(((uint64_t)f->name << 32 | f->file) ^ pp_hash_u64(f->line));
    if (pp_itab_find(&a->frame_index, h, frame_eq, &k, &fid)) {
        *out_fid = fid;
        return 0;
    }
    if (a->n_frames >= MAX_IDS)
        return -ENOMEM;
    r = pp_grow((void **)&a->frames, &a->cap_frames, (size_t)a->n_frames + 1, sizeof(*a->frames));
    if (r < 0)
        return r;
    r = pp_itab_reserve(&a->frame_index, a->frame_index.n + 1);
    if (r < 0)
        return r;
    fid = a->n_frames++;
    a->frames[fid] = *f;
    pp_itab_insert(&a->frame_index, h, fid);
    *out_fid = fid;
    return 0;
}

struct thread_key {
    const struct pp_agg *a;
    uint64_t tid;
    uint32_t name;
};

static bool thread_eq(const void *ctx, uint32_t idx)
{
    const struct thread_key *k = ctx;
    const struct pp_thread *t = &k->a->threads[idx];

    return t->tid == k->tid && t->name == k->name;
}

int pp_agg_intern_thread(struct pp_agg *a, uint64_t tid, uint32_t name, uint32_t *out_thread)
{
    struct thread_key k = {a, tid, name};
    uint64_t h;
    uint32_t idx;
    int r;

    if (name >= pp_strtab_count(a->strtab))
        return -EINVAL;
    h = pp_hash_u64(tid ^ pp_hash_u64(name));
    if (pp_itab_find(&a->thread_index, h, thread_eq, &k, &idx)) {
        *out_thread = idx;
        return 0;
    }
    if (a->n_threads >= MAX_IDS)
        return -ENOMEM;
    r = pp_grow((void **)&a->threads, &a->cap_threads, (size_t)a->n_threads + 1,
                sizeof(*a->threads));
    if (r < 0)
        return r;
    r = pp_itab_reserve(&a->thread_index, a->thread_index.n + 1);
    if (r < 0)
        return r;
    idx = a->n_threads++;
    a->threads[idx].tid = tid;
    a->threads[idx].name = name;
    pp_itab_insert(&a->thread_index, h, idx);
    *out_thread = idx;
    return 0;
}

/* === Stacks ============================================================== */

struct stack_key {
    const struct pp_agg *a;
    uint32_t thread;
    const uint32_t *fids;
    uint32_t n_fids;
};

static bool stack_eq(const void *ctx, uint32_t idx)
{
    const struct stack_key *k = ctx;
    const struct stack_rec *s = &k->a->stacks[idx];

    return s->thread == k->thread && s->n_fids == k->n_fids &&
           (k->n_fids == 0 || memcmp(k->a->pool + s->off, k->fids, k->n_fids * 4ul) == 0);
}

/* FNV-1a over 32-bit words (four times fewer steps than bytes), then the 64-bit mixer. */
static uint64_t hash_stack(uint32_t thread, const uint32_t *fids, uint32_t n_fids)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ pp_hash_u64(((uint64_t)thread << 32) | n_fids);
    uint32_t i;

    for (i = 0; i < n_fids; i++) {
        h ^= fids[i];
        h *= 0x100000001b3ULL;
    }
    return pp_hash_u64(h);
}

/* pp_agg_add() with the index of the stack in *out_idx. */
static int add_stack(struct pp_agg *a, uint32_t thread, const uint32_t *fids, uint32_t n_fids,
                     uint64_t count, uint32_t *out_idx)
{
    struct stack_key k = {a, thread, fids, n_fids};
    struct stack_rec *s;
    uint64_t h;
    uint32_t i, idx;
    int r;

    if (thread >= a->n_threads || (n_fids && !fids))
        return -EINVAL;
    for (i = 0; i < n_fids; i++) {
        if (fids[i] >= a->n_frames)
            return -EINVAL;
    }
    h = hash_stack(thread, fids, n_fids);
    if (pp_itab_find(&a->stack_index, h, stack_eq, &k, &idx)) {
        a->stacks[idx].count += count;
        a->total += count;
        *out_idx = idx;
        return 0;
    }
    if (a->n_stacks >= MAX_IDS || n_fids > SIZE_MAX - a->n_pool)
        return -ENOMEM;
    /* Allocate everything first so that a failure leaves the aggregate as it was. */
    r = pp_grow((void **)&a->pool, &a->cap_pool, a->n_pool + n_fids, sizeof(*a->pool));
    if (r < 0)
        return r;
    r = pp_grow((void **)&a->stacks, &a->cap_stacks, a->n_stacks + 1, sizeof(*a->stacks));
    if (r < 0)
        return r;
    r = pp_itab_reserve(&a->stack_index, a->stack_index.n + 1);
    if (r < 0)
        return r;
    idx = (uint32_t)a->n_stacks++;
    s = &a->stacks[idx];
    s->off = a->n_pool;
    s->n_fids = n_fids;
    s->thread = thread;
    s->count = count;
    if (n_fids)
        memcpy(a->pool + a->n_pool, fids, n_fids * sizeof(*fids));
    a->n_pool += n_fids;
    a->total += count;
    pp_itab_insert(&a->stack_index, h, idx);
    *out_idx = idx;
    return 0;
}

int pp_agg_add(struct pp_agg *a, uint32_t thread, const uint32_t *fids, uint32_t n_fids,
               uint64_t count)
{
    uint32_t idx;

    return add_stack(a, thread, fids, n_fids, count, &idx);
}

/* === Origins ============================================================= */

/*
 * Top-level modules of the standard library (sys.stdlib_module_names of CPython 3.10 to 3.13,
 * without private ones), sorted bytewise: short file names such as "threading.py" or
 * "json/decoder.py", as py-spy and pyprof write them, are classified by their first component.
 */
static const char *const stdlib_modules[] = {
    "__future__", "abc", "aifc", "antigravity", "argparse", "array", "ast", "asynchat", "asyncio",
    "asyncore", "atexit", "audioop", "base64", "bdb", "binascii", "binhex", "bisect", "builtins",
    "bz2", "cProfile", "calendar", "cgi", "cgitb", "chunk", "cmath", "cmd", "code", "codecs",
    "codeop", "collections", "colorsys", "compileall", "concurrent", "configparser", "contextlib",
    "contextvars", "copy", "copyreg", "crypt", "csv", "ctypes", "curses", "dataclasses",
    "datetime", "dbm", "decimal", "difflib", "dis", "distutils", "doctest", "email", "encodings",
    "ensurepip", "enum", "errno", "faulthandler", "fcntl", "filecmp", "fileinput", "fnmatch",
    "fractions", "ftplib", "functools", "gc", "genericpath", "getopt", "getpass", "gettext",
    "glob", "graphlib", "grp", "gzip", "hashlib", "heapq", "hmac", "html", "http", "idlelib",
    "imaplib", "imghdr", "imp", "importlib", "inspect", "io", "ipaddress", "itertools", "json",
    "keyword", "lib2to3", "linecache", "locale", "logging", "lzma", "mailbox", "mailcap",
    "marshal", "math", "mimetypes", "mmap", "modulefinder", "msilib", "msvcrt", "multiprocessing",
    "netrc", "nis", "nntplib", "nt", "ntpath", "nturl2path", "numbers", "opcode", "operator",
    "optparse", "os", "ossaudiodev", "pathlib", "pdb", "pickle", "pickletools", "pipes",
    "pkgutil", "platform", "plistlib", "poplib", "posix", "posixpath", "pprint", "profile",
    "pstats", "pty", "pwd", "py_compile", "pyclbr", "pydoc", "pydoc_data", "pyexpat", "queue",
    "quopri", "random", "re", "readline", "reprlib", "resource", "rlcompleter", "runpy", "sched",
    "secrets", "select", "selectors", "shelve", "shlex", "shutil", "signal", "site", "smtpd",
    "smtplib", "sndhdr", "socket", "socketserver", "spwd", "sqlite3", "sre_compile",
    "sre_constants", "sre_parse", "ssl", "stat", "statistics", "string", "stringprep", "struct",
    "subprocess", "sunau", "symtable", "sys", "sysconfig", "syslog", "tabnanny", "tarfile",
    "telnetlib", "tempfile", "termios", "textwrap", "this", "threading", "time", "timeit",
    "tkinter", "token", "tokenize", "tomllib", "trace", "traceback", "tracemalloc", "tty",
    "turtle", "turtledemo", "types", "typing", "unicodedata", "unittest", "urllib", "uu", "uuid",
    "venv", "warnings", "wave", "weakref", "webbrowser", "winreg", "winsound", "wsgiref",
    "xdrlib", "xml", "xmlrpc", "zipapp", "zipfile", "zipimport", "zlib", "zoneinfo",
};

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

static bool is_stdlib_short_name(const char *path)
{
    char first[64];
    size_t n = strcspn(path, "/.");

    if (path[0] == '/' || n == 0 || n >= sizeof(first))
        return false;
    memcpy(first, path, n);
    first[n] = '\0';
    return bsearch(first, stdlib_modules, sizeof(stdlib_modules) / sizeof(stdlib_modules[0]),
                   sizeof(stdlib_modules[0]), cmp_name) != NULL;
}

enum pp_origin pp_origin_of_path(const char *path)
{
    if (!path || !path[0])
        return PP_ORIGIN_UNKNOWN;
    if (strstr(path, "site-packages/") || strstr(path, "dist-packages/"))
        return PP_ORIGIN_THIRD_PARTY;
    if (strstr(path, "/lib/python3.") || !strncmp(path, "<frozen ", 8) ||
        is_stdlib_short_name(path))
        return PP_ORIGIN_STDLIB;
    return PP_ORIGIN_USER;
}

/* === Timeline ============================================================ */

void pp_agg_timeline_enable(struct pp_agg *a)
{
    a->timeline_on = true;
}

int pp_agg_add_sample(struct pp_agg *a, uint32_t thread, const uint32_t *fids, uint32_t n_fids,
                      uint64_t time_ns)
{
    uint32_t idx;
    int r;

    /* Grow first, so that a failure leaves counts and timeline in step. */
    if (a->timeline_on) {
        r = pp_grow((void **)&a->samples, &a->cap_samples, a->n_samples + 1,
                    sizeof(*a->samples));
        if (r < 0)
            return r;
    }
    r = add_stack(a, thread, fids, n_fids, 1, &idx);
    if (r || !a->timeline_on)
        return r;
    a->samples[a->n_samples].stack = idx;
    a->samples[a->n_samples].time_ns = time_ns;
    a->n_samples++;
    return 0;
}

size_t pp_agg_n_samples(const struct pp_agg *a)
{
    return a->n_samples;
}

const struct pp_sample *pp_agg_sample_get(const struct pp_agg *a, size_t i)
{
    return i < a->n_samples ? &a->samples[i] : NULL;
}

/* === Accessors =========================================================== */

size_t pp_agg_n_stacks(const struct pp_agg *a)
{
    return a->n_stacks;
}

void pp_agg_stack(const struct pp_agg *a, size_t i, struct pp_stack_view *out)
{
    const struct stack_rec *s;

    if (i >= a->n_stacks) {
        memset(out, 0, sizeof(*out));
        return;
    }
    s = &a->stacks[i];
    out->thread = s->thread;
    out->fids = a->pool ? a->pool + s->off : NULL;
    out->n_fids = s->n_fids;
    out->count = s->count;
}

uint32_t pp_agg_n_frames(const struct pp_agg *a)
{
    return a->n_frames;
}

const struct pp_frame *pp_agg_frame_get(const struct pp_agg *a, uint32_t fid)
{
    return fid < a->n_frames ? &a->frames[fid] : NULL;
}

uint32_t pp_agg_n_threads(const struct pp_agg *a)
{
    return a->n_threads;
}

const struct pp_thread *pp_agg_thread_get(const struct pp_agg *a, uint32_t thread)
{
    return thread < a->n_threads ? &a->threads[thread] : NULL;
}

uint64_t pp_agg_total(const struct pp_agg *a)
{
    return a->total;
}
