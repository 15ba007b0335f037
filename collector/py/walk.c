/* SPDX-License-Identifier: MIT */
/* walk: sample every thread of every interpreter of a CPython process into an aggregate. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pyprof/err.h"
#include "pyprof/hash.h"
#include "py/linetable.h"
#include "py/pystr.h"
#include "py/threadinfo.h"
#include "py/walk.h"
#include "sys/pthreadtid.h"
#include "sys/tracer.h"
#include "sys/unwind.h"

/*
 * The per-sample path, for each thread:
 *   1. read a slice of its PyThreadState (one read);
 *   2. <= 3.10: follow f_back through heap PyFrameObjects: the frames of the thread's previous
 *      chain in one batch, the rest one read per frame; frames that returned meanwhile (reference
 *      count 0) are skipped at the top and tear the walk below it;
 *      >= 3.11: copy its datastack chunks in bulk (one read per chunk, 16 KiB guessed) and walk
 *      _PyInterpreterFrames from the local copy; frames outside the chunks (generators) are read
 *      one by one;
 *   3. re-read the top frame pointer in one batch: <= 3.10 with the top frame and every frame
 *      below it (recheck_chain: each must be alive and unchanged), 3.11+ with the current chunk
 *      (frames above the current top are dropped, they returned). If the thread moved on, the
 *      part of the walk still live is kept (keep_live_part, chunk_live_from); otherwise the walk
 *      mixed two moments of the stack (a torn read): it is walked again once, then counted;
 *   4. map each (code object, instruction) to a frame id through a cache keyed by remote address;
 *      only a miss reads the code object, its strings and its line table.
 * Caches are bounded; when one fills up, all are cleared (frame ids in the aggregate stay valid).
 */

#define CODE_CACHE_MAX 16384
#define FRAME_CACHE_MAX 65536
#define STR_CACHE_MAX 32768
#define THREAD_CACHE_MAX 8192
#define FRAME_REFCNT_MAX (1ull << 32) /* above: not a reference count (a freed frame) */
#define WALK_DEAD_TOP_MAX 8 /* <= 3.10: returned frames skipped above the live stack */
#define FRAME_BUF 512     /* largest frame_read_size / tstate_read_size accepted */
#define CODE_BUF 1024

/* Internal conditions, kept apart from the public WALK_E_* values. */
enum {
    WALK_OK = 0,
    WALK_BAD = 100, /* implausible remote memory: drop this stack */
    WALK_TORN,      /* the stack changed while it was read */
    RESOLVE_SKIP,   /* not a code object where one may legitimately be something else (3.13+) */
};

#define NATIVE_CACHE_MAX 65536 /* native PCs with their frame ids */
#define CODE_SNAP_MAX 64 /* bytes of a code object compared to detect a reused address */

struct code_entry {
    uint8_t snap[CODE_SNAP_MAX]; /* the code object's name/file/line-table pointers when cached */
    uint32_t name, file;   /* string ids in the aggregate */
    uint32_t origin;       /* enum pp_origin of the file */
    int32_t firstlineno;
    uint8_t *table;        /* line table copy (NULL when lines are not needed) */
    size_t table_len;
    bool shim;             /* CPython's own trampoline code (file "<shim>"): never shown */
};

#define TPRED_MAX 128 /* thread states read speculatively per sample (first interpreter) */
#define PREDICT_SLOTS 1024
#define PREDICT_DEPTH 256
#define PREDICT_PROBE 16
#define PREDICT_STALE 1000 /* samples after which a thread's slot may go to another thread */

struct predict {
    uint64_t tstate;
    uint64_t seen;  /* walker sample count when this thread was last walked */
    uint32_t n;
    uint64_t addrs[PREDICT_DEPTH];
};

struct chunk_copy {
    uint64_t remote;       /* remote address of the chunk */
    uint32_t len;          /* bytes copied */
    uint32_t local;        /* offset into walker.chunk_buf */
};

/* One frame as read from the target, before resolution. */
struct raw_frame {
    uint64_t code;
    int64_t addr;          /* byte offset of the instruction into the code, < 0: not started */
    uint64_t back;         /* its previous-frame pointer as read */
    bool entry;            /* first frame of its eval-loop call (native merge boundary) */
};

struct walker {
    struct mem *mem;
    const struct py_runtime *rt;
    const struct py_offsets *off;
    pid_t pid;
    uint64_t interp_head;
    struct pp_agg *agg;
    struct walk_opts opts;
    struct walk_stats stats;

    struct pp_u64map *frame_cache;  /* (code, addr) -> fid */
    struct pp_u64map *code_cache;   /* code address -> index in codes */
    struct pp_u64map *file_cache;   /* hash of a path -> string id of its displayed form, origin */
    struct pp_u64map *thread_cache; /* tid -> thread index in the aggregate */
    struct pp_u64map *stat_fds;     /* tid -> fd of /proc/PID/task/TID/stat, + 1 (idle checks) */
    struct pp_u64map *tid_by_pthread; /* <= 3.10: pthread_t -> kernel tid, for the idle check */
    uint32_t snap_off, snap_len;    /* the code object bytes compared (0 length: no check) */
    uint64_t check_code[WALK_MAX_DEPTH];
    uint8_t check_buf[WALK_MAX_DEPTH][CODE_SNAP_MAX];
    uint32_t check_idx[WALK_MAX_DEPTH];
    struct code_entry *codes;
    size_t n_codes;

    /* <= 3.10: offset of the kernel tid inside glibc's struct pthread; < 0 until found */
    long tid_offset;
    bool tid_searched;
    uint64_t stat_fd_open[16];       /* bitmap of the stat fds we hold (fds below 1024) */
    int max_stat_fd;
    int32_t batched_tid;            /* tid read along with the torn check, 0 if not read */
    pid_t ns_pid;

    /*
     * <= 3.10 prefetch: each thread's frame addresses from its previous sample (slots keyed by
     * the thread state's address). The next walk reads them all in one batch and falls back to
     * single reads only where the chain changed.
     */
    struct predict *predict;
    uint64_t pf_addr[PREDICT_DEPTH + 1];
    uint8_t *pf_buf;                 /* (PREDICT_DEPTH + 1) * frame_read_size bytes */
    size_t pf_n, pf_cursor;
    uint64_t walked_addr[PREDICT_DEPTH];

    /* The thread list of the previous sample, read ahead in one batch (read_thread_batch). */
    uint64_t tpred[TPRED_MAX], tpred_cframe[TPRED_MAX], tpred_top[TPRED_MAX];
    uint64_t tpred_next[TPRED_MAX], tpred_next_cframe[TPRED_MAX];
    uint8_t tpred_buf[TPRED_MAX][FRAME_BUF];
    size_t tpred_n, tpred_ok;
    bool cf_hint_ok;
    uint64_t cf_hint_addr, cf_hint_val;

    struct raw_frame raw[WALK_MAX_DEPTH];
    uint64_t top_back;              /* previous-frame pointer of the walk's top frame */
    uint32_t dead_top;              /* <= 3.10: returned frames skipped at the top of the walk */
    uint32_t fids[WALK_MAX_DEPTH + 1];
    bool fid_entry[WALK_MAX_DEPTH + 1];
    uint8_t ts_stopped[FRAME_BUF];  /* native mode: the thread state re-read after the stop */

    /* Thread names from threading._active (thread_index), and the GIL holder (gil_only). */
    struct threadinfo_names names;
    int64_t names_read_ns;          /* monotonic time of the last read of the names, 0: never */
    uint64_t cur_interp;            /* the interpreter being sampled */
    uint64_t gil_holder;            /* its thread state holding the GIL, 0: none or unknown */

    /* Native mode (walker_set_native): NULL tracer when off. */
    struct tracer *tracer;
    struct unwinder *unwinder;
    bool native_all;
    struct pp_u64map *native_cache;  /* ip * 2 + is_return -> fid | kind << 32 */
    uint64_t ips[UNWIND_MAX_DEPTH];
    uint32_t merged[WALK_MAX_DEPTH + 1 + UNWIND_MAX_DEPTH];
    uint8_t *chunk_buf;
    size_t chunk_cap;
    struct chunk_copy chunks[WALK_MAX_CHUNKS];
    size_t n_chunks;
    uint64_t next_chunk;            /* remote address of the next chunk not copied yet, or 0 */
    char str[4 * PYSTR_MAX_CHARS + 1];
};

/* ===== Small helpers ===== */

static uint64_t get_u64(const uint8_t *buf, uint32_t at)
{
    uint64_t v;

    memcpy(&v, buf + at, sizeof(v));
    return v;
}

static int32_t get_i32(const uint8_t *buf, uint32_t at)
{
    int32_t v;

    memcpy(&v, buf + at, sizeof(v));
    return v;
}

static bool is_fatal(int r)
{
    return r < 0 || r == WALK_E_GONE;
}

/* Map a mem_read() result for the walk: GONE stops everything, anything else is bad memory. */
static int mem_fail(int r)
{
    if (r == MEM_E_GONE)
        return WALK_E_GONE;
    return r <= 0 ? r : WALK_BAD;
}

static void clear_caches(struct walker *w)
{
    for (size_t i = 0; i < w->n_codes; i++)
        free(w->codes[i].table);
    w->n_codes = 0;
    pp_u64map_clear(w->frame_cache);
    pp_u64map_clear(w->code_cache);
    pp_u64map_clear(w->file_cache);
}

/* Store in a bounded cache; a full cache clears every cache (callers re-resolve on a miss). */
static int cache_put(struct walker *w, struct pp_u64map *m, uint64_t key, uint64_t value)
{
    int r = pp_u64map_put(m, key, value);

    if (r == PP_U64MAP_E_FULL) {
        clear_caches(w);
        r = pp_u64map_put(m, key, value);
    }
    return r > 0 ? pp_err_origin(-ENOSPC) : r;
}

/* ===== Names: strings, file names, threads ===== */

/*
 * py-spy's short file name: the path relative to the first parent directory that is not a
 * package (has no __init__.py), looked up in the target's root. "<string>" and other non-paths
 * are kept as they are.
 */
static const char *short_filename(struct walker *w, const char *path)
{
    char probe[PATH_MAX];
    const char *start = path, *p;
    size_t len = strlen(path);
    struct stat st;

    if (path[0] != '/')
        return path;
    /* Walk up from the file's directory while the directory is a package. */
    p = path + len;
    while (p > path && p[-1] != '/')
        p--;
    start = p; /* the base name */
    while (start > path + 1) {
        const char *dir_end = start - 1; /* the '/' before the current component */
        int n = snprintf(probe, sizeof(probe), "/proc/%d/root%.*s/__init__.py", (int)w->pid,
                         (int)(dir_end - path), path);

        if (n < 0 || (size_t)n >= sizeof(probe) || stat(probe, &st) != 0)
            break;
        p = dir_end;
        while (p > path && p[-1] != '/')
            p--;
        start = p;
    }
    return start;
}

/*
 * The string id of the str at @addr. Strings are read every time a code object is loaded (a
 * cache miss, rare on the hot path): caching them by address would be wrong once a string dies
 * and another takes its address. For a file name (@origin non-NULL) the displayed form (short or
 * full) and the origin are cached by the path's content, so the package lookups of the short
 * name run once per file; the cache keeps the id in the low 32 bits, the origin above.
 */
static int intern_str(struct walker *w, uint64_t addr, uint32_t *out, uint32_t *origin)
{
    uint64_t v, key = 0;
    size_t len;
    const char *s;
    uint32_t kind = PP_ORIGIN_UNKNOWN;
    int r;

    r = pystr_read(w->mem, w->off, addr, w->str, sizeof(w->str), &len);
    if (r == PYSTR_E_GONE)
        return WALK_E_GONE;
    if (r)
        return r < 0 ? r : WALK_BAD;
    if (!origin)
        return pp_strtab_intern(pp_agg_strtab(w->agg), w->str, len, out);
    key = pp_hash_bytes(w->str, len, 0x9e3779b97f4a7c15ull) & ~1ull; /* never the reserved key */
    if (pp_u64map_get(w->file_cache, key, &v) == 0) {
        *out = (uint32_t)v;
        *origin = (uint32_t)(v >> 32);
        return 0;
    }
    s = w->str;
    kind = pp_origin_of_path(w->str);
    *origin = kind;
    if (!w->opts.full_filenames) {
        s = short_filename(w, w->str);
        len = strlen(s);
    }
    r = pp_strtab_intern(pp_agg_strtab(w->agg), s, len, out);
    if (r)
        return r;
    return cache_put(w, w->file_cache, key, (uint64_t)kind << 32 | *out);
}

/* The name of thread @tid: its comm (the kernel's thread name), read once per thread id. */
#define NAMES_EVERY_NS 100000000LL /* threading names re-read at most this often */

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The `threading` name of thread @ident, or NULL; re-reads the names for a new ident. */
static const char *python_thread_name(struct walker *w, uint64_t ident)
{
    const char *name = threadinfo_name_of(&w->names, ident);
    int64_t now;

    if (name)
        return name;
    now = mono_ns();
    if (w->names_read_ns && now - w->names_read_ns < NAMES_EVERY_NS)
        return NULL;
    w->names_read_ns = now;
    /* On failure the old table stays: names are a nicety, never a reason to drop a sample. */
    threadinfo_names(w->mem, w->off, w->cur_interp, &w->names);
    return threadinfo_name_of(&w->names, ident);
}

/*
 * The aggregate's index of thread @tid (@ident: its pthread_t, the key of threading._active),
 * named on first sight by its `threading` name, else its kernel name.
 */
static int thread_index(struct walker *w, uint64_t tid, uint64_t ident, uint32_t *out)
{
    char path[64], name[64] = "";
    const char *pyname;
    uint64_t v;
    uint32_t sid;
    ssize_t n = 0;
    int fd, r;

    if (pp_u64map_get(w->thread_cache, tid, &v) == 0) {
        *out = (uint32_t)v;
        return 0;
    }
    pyname = python_thread_name(w, ident);
    if (pyname) {
        r = pp_strtab_intern(pp_agg_strtab(w->agg), pyname, strlen(pyname), &sid);
        goto intern;
    }
    snprintf(path, sizeof(path), "/proc/%d/task/%llu/comm", (int)w->pid, (unsigned long long)tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, name, sizeof(name) - 1);
        close(fd);
    }
    if (n < 0)
        n = 0;
    while (n > 0 && name[n - 1] == '\n')
        n--;
    r = pp_strtab_intern(pp_agg_strtab(w->agg), name, (size_t)n, &sid);
intern:
    if (!r)
        r = pp_agg_intern_thread(w->agg, tid, sid, out);
    if (r)
        return r;
    if (pp_u64map_put(w->thread_cache, tid, *out) == PP_U64MAP_E_FULL) {
        pp_u64map_clear(w->thread_cache);
        pp_u64map_put(w->thread_cache, tid, *out);
    }
    return 0;
}

static void close_stat_fds(struct walker *w)
{
    /* The map cannot be iterated; fds are tracked in it only to find them again, so walk the
     * open range: every fd we opened is above 2 and below the highest one recorded. */
    for (int fd = 3; fd <= w->max_stat_fd; fd++)
        if (w->stat_fd_open[fd / 64] & (1ull << (fd % 64)))
            close(fd);
    memset(w->stat_fd_open, 0, sizeof(w->stat_fd_open));
    w->max_stat_fd = 0;
    pp_u64map_clear(w->stat_fds);
}

/*
 * Whether thread @tid is running (state R in /proc/PID/task/TID/stat). The file is opened once
 * per thread and re-read with pread. Returns 1 running, 0 not running, or -1 when unknown (then
 * the caller keeps the sample: better a wall-time sample than a lost one).
 */
static int thread_running(struct walker *w, uint64_t tid)
{
    char buf[512];
    const char *p;
    uint64_t v;
    ssize_t n;
    int fd = -1;

    if (pp_u64map_get(w->stat_fds, tid, &v) == 0 && v)
        fd = (int)(v - 1);
    if (fd < 0) {
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d/task/%llu/stat", (int)w->pid,
                 (unsigned long long)tid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        if (fd >= (int)(sizeof(w->stat_fd_open) * 8) ||
            pp_u64map_put(w->stat_fds, tid, (uint64_t)fd + 1) != 0) {
            close(fd); /* too many threads to keep files open for: read and close */
            fd = -2 - fd;
        } else {
            w->stat_fd_open[fd / 64] |= 1ull << (fd % 64);
            if (fd > w->max_stat_fd)
                w->max_stat_fd = fd;
        }
    }
    if (fd <= -2) {
        char path[64];
        int tmp;

        snprintf(path, sizeof(path), "/proc/%d/task/%llu/stat", (int)w->pid,
                 (unsigned long long)tid);
        tmp = open(path, O_RDONLY | O_CLOEXEC);
        if (tmp < 0)
            return -1;
        n = read(tmp, buf, sizeof(buf) - 1);
        close(tmp);
    } else {
        n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0) { /* the thread is gone; its tid may come back as another thread */
            close(fd);
            w->stat_fd_open[fd / 64] &= ~(1ull << (fd % 64));
            pp_u64map_put(w->stat_fds, tid, 0);
            return -1;
        }
    }
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* "TID (comm) S ...": comm may hold ')' itself, so take the last one. */
    p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2])
        return -1;
    return p[2] == 'R';
}

/*
 * <= 3.10 keeps only the pthread_t of a thread. glibc's struct pthread holds the kernel tid at a
 * fixed offset: find it once, as the offset of the PID inside the main thread's struct pthread
 * (the main thread's tid is the PID), then read every thread's tid there.
 */
static int pthread_tid(struct walker *w, uint64_t pthread, uint64_t *out)
{
    uint8_t buf[PTHREADTID_SCAN];
    int32_t tid;
    int r;

    if (w->tid_offset < 0) {
        r = mem_read(w->mem, pthread, buf, sizeof(buf));
        if (r)
            return mem_fail(r);
        w->tid_offset = pthreadtid_offset(buf, sizeof(buf), w->ns_pid);
        if (w->tid_offset < 0)
            return WALK_BAD; /* not the main thread: try again with the next one */
    }
    r = mem_read(w->mem, pthread + (uint64_t)w->tid_offset, &tid, sizeof(tid));
    if (r)
        return mem_fail(r);
    if (tid <= 0)
        return WALK_BAD;
    *out = (uint64_t)tid;
    return 0;
}

/*
 * Find the tid offset before the first sample, so that no thread is ever shown under its
 * pthread_t: try each thread of the first interpreter until the main thread's struct turns up.
 */
static int find_tid_offset(struct walker *w)
{
    const struct py_offsets *o = w->off;
    uint8_t ts[512];
    uint64_t tstate, tid;
    int r;

    r = mem_read_u64(w->mem, w->interp_head + o->interp_threads_head, &tstate);
    for (size_t nt = 0; !r && tstate && nt < WALK_MAX_THREADS && w->tid_offset < 0; nt++) {
        r = mem_read(w->mem, tstate, ts, o->tstate_read_size);
        if (r)
            break;
        r = pthread_tid(w, get_u64(ts, o->tstate_thread_id), &tid);
        if (is_fatal(r))
            return r;
        r = 0;
        tstate = get_u64(ts, o->tstate_next);
    }
    return r == MEM_E_GONE ? WALK_E_GONE : 0;
}

/* ===== Code objects and frames ===== */


static int load_code(struct walker *w, uint64_t code, struct code_entry **out)
{
    const struct py_offsets *o = w->off;
    uint8_t buf[CODE_BUF];
    struct code_entry e = { 0 };
    uint64_t v, name_ptr;
    int r;

    if (pp_u64map_get(w->code_cache, code, &v) == 0) {
        *out = &w->codes[v];
        return 0;
    }
    w->stats.code_misses++;
    r = mem_read(w->mem, code, buf, o->code_read_size);
    if (r)
        return mem_fail(r);
    /*
     * ob_type sits right after ob_refcnt in every version we support. On 3.13+ f_executable may
     * legitimately be another object (None for C-entered frames): skip those frames.
     */
    if (w->rt->code_type && get_u64(buf, 8) != w->rt->code_type)
        return o->lasti == PY_LASTI_INSTR_PTR ? RESOLVE_SKIP : WALK_BAD;
    name_ptr = get_u64(buf, o->code_qualname != PY_NO_FIELD ? o->code_qualname : o->code_name);
    r = intern_str(w, name_ptr, &e.name, NULL);
    if (!r)
        r = intern_str(w, get_u64(buf, o->code_filename), &e.file, &e.origin);
    if (r)
        return r;
    {
        /*
         * CPython's own shim code, never shown (CPython's tracebacks skip it too): 3.12 C-stack
         * entry frames run the trampoline, file "<shim>", and a stale read of one (its C stack
         * slot already reused) can lack the owner mark walk_frames() skips it by; 3.13 pushes
         * an interpreter-owned frame of the static _Py_InitCleanup code, file "__init__",
         * between a class call and its __init__.
         */
        size_t len = 0;
        const char *file = pp_strtab_str(pp_agg_strtab_const(w->agg), e.file, &len);

        e.shim = file && ((len == 6 && !memcmp(file, "<shim>", 6)) ||
                          (len == 8 && !memcmp(file, "__init__", 8)));
    }
    e.firstlineno = get_i32(buf, o->code_firstlineno);
    if (w->snap_len)
        memcpy(e.snap, buf + w->snap_off, w->snap_len);
    if (w->opts.lineno && !w->opts.function_lines) {
        r = pystr_read_bytes(w->mem, o, get_u64(buf, o->code_linetable), &e.table, &e.table_len);
        if (r == PYSTR_E_GONE)
            return WALK_E_GONE;
        if (r)
            return r < 0 ? r : WALK_BAD;
    }
    if (w->n_codes == CODE_CACHE_MAX)
        clear_caches(w);
    r = cache_put(w, w->code_cache, code, w->n_codes);
    if (r) {
        free(e.table);
        return r;
    }
    w->codes[w->n_codes] = e;
    *out = &w->codes[w->n_codes++];
    return 0;
}

static int resolve(struct walker *w, const struct raw_frame *rf, uint32_t *out_fid)
{
    struct code_entry *ce;
    struct pp_frame f;
    uint64_t key, v;
    int64_t addr = rf->addr;
    int r;

    if (!w->opts.lineno || w->opts.function_lines)
        addr = 0;
    /* Exact key: code objects are 8-aligned and below 2^47, instructions below 2^20. */
    if (addr >= -2 && addr < (1 << 20) - 2 && rf->code < (1ull << 47)) {
        key = (rf->code >> 3) << 20 | (uint64_t)(addr + 2);
        if (pp_u64map_get(w->frame_cache, key, &v) == 0) {
            *out_fid = (uint32_t)v;
            return 0;
        }
    } else {
        key = UINT64_MAX;
    }
    r = load_code(w, rf->code, &ce);
    if (r)
        return r;
    if (ce->shim)
        return RESOLVE_SKIP;
    f.name = ce->name;
    f.file = ce->file;
    f.origin = ce->origin;
    if (!w->opts.lineno)
        f.line = 0;
    else if (w->opts.function_lines || addr < 0)
        f.line = ce->firstlineno > 0 ? (uint32_t)ce->firstlineno : 0;
    else
        f.line = linetable_line(w->off->lines, ce->table, ce->table_len, ce->firstlineno,
                                (uint32_t)addr);
    /*
     * An instruction without a line (3.11+ prologue: MAKE_CELL, COPY_FREE_VARS before RESUME)
     * belongs to a frame that has not started its body: report the function's first line, as
     * for a frame that has not started at all.
     */
    if (w->opts.lineno && !f.line && ce->firstlineno > 0)
        f.line = (uint32_t)ce->firstlineno;
    r = pp_agg_intern_frame(w->agg, &f, out_fid);
    if (r)
        return r;
    return key == UINT64_MAX ? 0 : cache_put(w, w->frame_cache, key, *out_fid);
}

static int truncated_frame(struct walker *w, uint32_t *out)
{
    static const char name[] = "[truncated]";
    struct pp_frame f = { .line = 0, .origin = PP_ORIGIN_UNKNOWN };
    int r;

    r = pp_strtab_intern(pp_agg_strtab(w->agg), name, sizeof(name) - 1, &f.name);
    if (!r)
        r = pp_strtab_intern(pp_agg_strtab(w->agg), "", 0, &f.file);
    return r ? r : pp_agg_intern_frame(w->agg, &f, out);
}

/* ===== Frame access: heap frames and datastack chunks ===== */

/*
 * Copy the chunk at @remote into chunk_buf: its first @used bytes when the caller knows how much
 * of it is live (0: unknown, guess WALK_CHUNK_GUESS and read the rest if the chunk is larger).
 * 0, WALK_BAD, WALK_E_GONE or -errno.
 */
static int copy_chunk(struct walker *w, uint64_t remote, uint64_t live)
{
    const struct py_offsets *o = w->off;
    struct chunk_copy *c;
    size_t used = 0, got;
    uint64_t size;
    int r;

    if (w->n_chunks == WALK_MAX_CHUNKS)
        return WALK_BAD;
    if (w->n_chunks) {
        c = &w->chunks[w->n_chunks - 1];
        used = c->local + c->len;
    }
    if (used + WALK_CHUNK_GUESS > w->chunk_cap)
        return WALK_BAD;
    c = &w->chunks[w->n_chunks];
    c->remote = remote;
    c->local = (uint32_t)used;
    /* One read in the common case: CPython's chunks are 16 KiB unless a frame needed more. */
    got = live >= o->chunk_data && live <= WALK_CHUNK_GUESS ? live : WALK_CHUNK_GUESS;
    r = mem_read(w->mem, remote, w->chunk_buf + used, got);
    if (r == MEM_E_FAULT) {
        got = o->chunk_data;
        r = mem_read(w->mem, remote, w->chunk_buf + used, got);
    }
    if (r)
        return mem_fail(r);
    size = get_u64(w->chunk_buf + used, o->chunk_size);
    if (size < o->chunk_data || size > WALK_CHUNK_MAX || used + size > w->chunk_cap)
        return WALK_BAD;
    if (live >= o->chunk_data && live <= size)
        size = live; /* only the live part matters; it is what was read */
    if (size > got) {
        r = mem_read(w->mem, remote + got, w->chunk_buf + used + got, size - got);
        if (r)
            return mem_fail(r);
    }
    c->len = (uint32_t)size;
    w->next_chunk = get_u64(w->chunk_buf + used, o->chunk_previous);
    w->n_chunks++;
    return 0;
}

/*
 * Point *out at frame_read_size bytes of the frame at @addr: inside a copied chunk when it is
 * there (copying older chunks on demand), otherwise read into @buf.
 */
static int frame_bytes(struct walker *w, uint64_t addr, uint8_t *buf, const uint8_t **out)
{
    uint32_t need = w->off->frame_read_size;
    int r;

    /* Prefetched heap frames: the walk usually asks for them in order, so start at the cursor. */
    for (size_t k = 0; k < w->pf_n; k++) {
        size_t i = (w->pf_cursor + k) % w->pf_n;

        if (w->pf_addr[i] == addr) {
            *out = w->pf_buf + i * need;
            w->pf_cursor = i + 1;
            return 0;
        }
    }
    for (;;) {
        for (size_t i = 0; i < w->n_chunks; i++) {
            const struct chunk_copy *c = &w->chunks[i];

            if (addr >= c->remote + w->off->chunk_data && addr + need <= c->remote + c->len &&
                addr + need > addr) {
                *out = w->chunk_buf + c->local + (addr - c->remote);
                return 0;
            }
        }
        if (!w->next_chunk || w->off->frames != PY_FRAMES_CHUNKED)
            break;
        r = copy_chunk(w, w->next_chunk, 0);
        if (r)
            break;
    }
    r = mem_read(w->mem, addr, buf, need);
    if (r)
        return mem_fail(r);
    *out = buf;
    return 0;
}

/* The instruction offset (bytes) of a frame, from its lasti field. */
static int64_t frame_addr(const struct walker *w, const uint8_t *f, uint64_t code)
{
    const struct py_offsets *o = w->off;

    switch (o->lasti) {
    case PY_LASTI_BYTES:
        return get_i32(f, o->frame_lasti);
    case PY_LASTI_UNITS:
        return (int64_t)get_i32(f, o->frame_lasti) * 2;
    case PY_LASTI_PREV_INSTR:
    case PY_LASTI_INSTR_PTR: {
        uint64_t p = get_u64(f, o->frame_lasti), start = code + o->code_adaptive;

        if (p < start - 2 || p - start > (1u << 24))
            return -1;
        return (int64_t)(p - start);
    }
    }
    return -1;
}

/*
 * <= 3.10: whether the heap frame in @f is alive. A frame that returned keeps its type and its
 * links (it waits in its code object's zombie slot or on the frame free list, whose links reuse
 * f_back), but its reference count is 0 until it is handed out again; a frame given back to the
 * allocator has an allocator's pointer there instead. A live frame is held by its eval loop and
 * by its callee, so a count of 0, or one too large to be a count, means it returned.
 */
static bool frame_alive(const uint8_t *f)
{
    uint64_t refcnt = get_u64(f, 0);

    return refcnt && refcnt < FRAME_REFCNT_MAX;
}

/*
 * The history slot of thread state @tstate: open addressing over PREDICT_SLOTS with a short
 * probe. A slot is taken over when it is empty or its thread has not been seen for a while (a
 * thread that ended); NULL when none is free (no prediction or root check for that thread).
 */
static struct predict *predict_slot(struct walker *w, uint64_t tstate)
{
    size_t h;

    if (!w->predict)
        return NULL;
    h = pp_hash_u64(tstate);
    for (size_t i = 0; i < PREDICT_PROBE; i++) {
        struct predict *p = &w->predict[(h + i) & (PREDICT_SLOTS - 1)];

        if (p->tstate == tstate) {
            p->seen = w->stats.samples;
            return p;
        }
    }
    for (size_t i = 0; i < PREDICT_PROBE; i++) {
        struct predict *p = &w->predict[(h + i) & (PREDICT_SLOTS - 1)];

        if (!p->tstate || p->seen + PREDICT_STALE < w->stats.samples) {
            memset(p, 0, offsetof(struct predict, addrs));
            p->tstate = tstate;
            p->seen = w->stats.samples;
            return p;
        }
    }
    return NULL;
}

/*
 * <= 3.10: read the top frame and the frames of this thread's previous chain in one batch. Only
 * the leading ranges that were read in full are used (a freed frame may be unmapped).
 */
static int prefetch_chain(struct walker *w, uint64_t tstate, uint64_t top)
{
    struct mem_range rr[PREDICT_DEPTH + 1];
    const struct predict *p = predict_slot(w, tstate);
    uint32_t need = w->off->frame_read_size;
    size_t n = 0, n_ok = 0;
    int r;

    w->pf_n = 0;
    w->pf_cursor = 0;
    if (!p || !top)
        return 0;
    w->pf_addr[n++] = top;
    for (uint32_t i = 0; i < p->n && n < PREDICT_DEPTH + 1; i++)
        if (p->addrs[i] != top)
            w->pf_addr[n++] = p->addrs[i];
    for (size_t i = 0; i < n; i++)
        rr[i] = (struct mem_range){ .addr = w->pf_addr[i], .buf = w->pf_buf + i * need,
                                    .len = need };
    r = mem_readv_prefix(w->mem, rr, n, &n_ok);
    if (r)
        return mem_fail(r);
    w->pf_n = n_ok;
    return 0;
}

/* Drop the @k innermost frames of the walk (they may have returned since). */
static void drop_innermost(struct walker *w, size_t k, size_t *n)
{
    memmove(w->raw, w->raw + k, (*n - k) * sizeof(w->raw[0]));
    memmove(w->walked_addr, w->walked_addr + k,
            ((*n < PREDICT_DEPTH ? *n : PREDICT_DEPTH) - k) * sizeof(w->walked_addr[0]));
    *n -= k;
}

/* Index of @addr among the frames just walked (innermost first), or -1. */
static long chain_index(const struct walker *w, uint64_t addr, size_t n)
{
    size_t m = n < PREDICT_DEPTH ? n : PREDICT_DEPTH;

    for (size_t i = 0; i < m; i++)
        if (w->walked_addr[i] == addr)
            return (long)i;
    return -1;
}

/*
 * <= 3.10: after a walk whose top frame is unchanged (or was cut to its live part), re-read the
 * frames below the top (up to PREDICT_DEPTH, one batch) and require each to be alive and to hold
 * the same code, f_back and instruction offset as walked. The top's identity alone is not
 * enough: a recursion that returns and calls again to the same depth gets the same frame
 * addresses back from CPython's free lists, so the top can match while the frames below it were
 * replaced meanwhile (a stack of two moments). A frame below the top is waiting for its callee,
 * so nothing in it moves while the stack holds.
 * Returns WALK_OK, WALK_TORN, WALK_E_GONE or -errno.
 */
static int recheck_chain(struct walker *w, size_t n)
{
    const struct py_offsets *o = w->off;
    struct mem_range rr[PREDICT_DEPTH];
    size_t k = n < PREDICT_DEPTH ? n : PREDICT_DEPTH, n_ok = 0;
    int r;

    if (k < 2)
        return WALK_OK;
    for (size_t i = 1; i < k; i++)
        rr[i - 1] = (struct mem_range){ .addr = w->walked_addr[i],
                                        .buf = w->pf_buf + i * o->frame_read_size,
                                        .len = o->frame_read_size };
    r = mem_readv_prefix(w->mem, rr, k - 1, &n_ok);
    if (r)
        return mem_fail(r);
    if (n_ok < k - 1)
        return WALK_TORN;
    for (size_t i = 1; i < k; i++) {
        const uint8_t *fb = w->pf_buf + i * o->frame_read_size;
        uint64_t code = get_u64(fb, o->frame_code);

        if (!frame_alive(fb) || code != w->raw[i].code ||
            get_u64(fb, o->frame_previous) != w->raw[i].back ||
            frame_addr(w, fb, code) != w->raw[i].addr)
            return WALK_TORN;
    }
    return WALK_OK;
}

/* 3.11+: the index of the copied chunk that holds the frame at @addr, or -1. */
static long chunk_of(const struct walker *w, uint64_t addr)
{
    for (size_t j = 0; j < w->n_chunks; j++) {
        const struct chunk_copy *c = &w->chunks[j];
        uint64_t size = get_u64(w->chunk_buf + c->local, w->off->chunk_size); /* checked */

        if (addr >= c->remote + w->off->chunk_data && addr < c->remote + size)
            return (long)j;
    }
    return -1;
}

/*
 * 3.11+: the index of the first frame of the walk (innermost first) still on the stack, now that
 * the thread's top frame is @now and its current chunk @chunk. Frames above @now returned (their
 * bytes stay behind when the stack shrinks), and so did every frame of a chunk copied before
 * @chunk (newer: the stack left it). -1 if @chunk was not copied (a new chunk: the stack may
 * have shrunk first), or a frame outside the copied chunks (a generator's) comes first, whose
 * liveness its address cannot tell.
 */
static long chunk_live_from(const struct walker *w, uint64_t chunk, uint64_t now, size_t n)
{
    size_t k = n < PREDICT_DEPTH ? n : PREDICT_DEPTH, cur = 0;

    while (cur < w->n_chunks && w->chunks[cur].remote != chunk)
        cur++;
    if (cur == w->n_chunks)
        return -1;
    for (size_t i = 0; i < k; i++) {
        long j = chunk_of(w, w->walked_addr[i]);

        if (j < 0)
            return -1;
        if ((size_t)j > cur || ((size_t)j == cur && w->walked_addr[i] <= now))
            return (long)i;
    }
    return -1;
}

/*
 * <= 3.10, after a walk whose top moved to @now: find the deepest frame of the walked chain that
 * is certainly still live — @now itself, or @now's caller — and keep the stack from it down.
 * Returns WALK_OK (stack trimmed), WALK_TORN, or WALK_E_GONE / -errno. @buf is scratch.
 */
static int keep_live_part(struct walker *w, uint64_t now, uint8_t *buf, size_t *n)
{
    long k;
    int r;

    k = now ? chain_index(w, now, *n) : -1;

    if (k < 0 && now) {
        r = mem_fail(mem_read(w->mem, now, buf, w->off->frame_read_size));
        if (r)
            return r == WALK_BAD ? WALK_TORN : r;
        if ((w->rt->frame_type && get_u64(buf, 8) != w->rt->frame_type) || !frame_alive(buf))
            return WALK_TORN;
        k = chain_index(w, get_u64(buf, w->off->frame_previous), *n);
    }
    if (k < 0)
        return WALK_TORN;
    drop_innermost(w, (size_t)k, n);
    /* Same addresses can be new frames (free lists): the kept frames must be unchanged too. */
    return recheck_chain(w, *n);
}

/* Remember the chain just walked for the next sample's prefetch. */
static void predict_store(struct walker *w, uint64_t tstate, size_t n)
{
    struct predict *p = predict_slot(w, tstate);

    if (!p)
        return;
    p->n = (uint32_t)(n < PREDICT_DEPTH ? n : PREDICT_DEPTH);
    memcpy(p->addrs, w->walked_addr, p->n * sizeof(p->addrs[0]));
}

/*
 * Walk the frame chain from @top into w->raw (innermost first). Returns 0 and *n_out, WALK_BAD for
 * implausible memory, or WALK_E_GONE / -errno. Stacks deeper than WALK_MAX_DEPTH keep their
 * innermost frames and set *truncated (this also ends a cycle in hostile memory).
 */
static int walk_frames(struct walker *w, uint64_t top, size_t *n_out, bool *truncated)
{
    const struct py_offsets *o = w->off;
    uint8_t buf[FRAME_BUF];
    uint64_t f = top;
    size_t n = 0;
    int r;

    *truncated = false;
    w->dead_top = 0;
    while (f) {
        const uint8_t *fb;
        uint64_t code;

        if (n == WALK_MAX_DEPTH) {
            /* A chain that loops back on itself is garbage, not a deep stack. */
            for (size_t i = 0; i < PREDICT_DEPTH && i < n; i++)
                if (w->walked_addr[i] == f)
                    return WALK_BAD;
            *truncated = true;
            break;
        }
        r = frame_bytes(w, f, buf, &fb);
        if (r)
            return r;
        if (n < PREDICT_DEPTH)
            w->walked_addr[n] = f;
        if (o->frames == PY_FRAMES_HEAP) {
            if (w->rt->frame_type && get_u64(fb, 8) != w->rt->frame_type)
                return WALK_BAD;
            /*
             * A frame that returned since the top pointer was read. Above the first live frame
             * these are the innermost calls going away: skip them (a zombie frame still points
             * at its caller; a free-list frame at other dead frames, which fail this again).
             * Below a live frame it means the chain we hold is stale.
             */
            if (!frame_alive(fb)) {
                if (n || ++w->dead_top > WALK_DEAD_TOP_MAX)
                    return WALK_TORN;
                f = get_u64(fb, o->frame_previous);
                continue;
            }
        }
        code = get_u64(fb, o->frame_code);
        f = get_u64(fb, o->frame_previous);
        if (!n)
            w->top_back = f;
        /*
         * Shim frames (3.12+) mark C-stack entries; they run no Python code, and the frame they
         * were pushed for is the first of its eval-loop call.
         */
        if (o->frame_owner != PY_NO_FIELD && fb[o->frame_owner] == o->owner_cstack) {
            if (n)
                w->raw[n - 1].entry = true;
            continue;
        }
        if (!code || (code & 7))
            return WALK_BAD;
        w->raw[n].code = code;
        w->raw[n].addr = frame_addr(w, fb, code);
        w->raw[n].back = f;
        /* <= 3.10: each frame has its own eval-loop call; 3.11: is_entry says so. */
        w->raw[n].entry = o->frames == PY_FRAMES_HEAP ||
                          (o->frame_is_entry != PY_NO_FIELD && fb[o->frame_is_entry]);
        n++;
    }
    *n_out = n;
    /*
     * 3.11+: a thread's outermost frame is an eval-loop entry (is_entry on 3.11, above a C-stack
     * shim after); a frame with no previous frame that is not one is being pushed right now (its
     * previous pointer is set after the rest).
     */
    if (o->frames == PY_FRAMES_CHUNKED && n && !*truncated && !w->raw[n - 1].entry)
        return WALK_TORN;
    return 0;
}

/*
 * Read the thread's current top frame pointer. 3.11/3.12 go through tstate->cframe; the others
 * hold it in the thread state (frame or current_frame).
 */
static int top_frame(struct walker *w, uint64_t tstate_frame_field, uint64_t *out)
{
    if (w->off->cframe_current_frame == PY_NO_FIELD) {
        *out = tstate_frame_field;
        return 0;
    }
    if (!tstate_frame_field) {
        *out = 0;
        return 0;
    }
    if (w->cf_hint_ok && tstate_frame_field == w->cf_hint_addr) {
        w->cf_hint_ok = false; /* read in the thread batch of this sample: use it once */
        *out = w->cf_hint_val;
        return 0;
    }
    return mem_fail(mem_read_u64(w->mem, tstate_frame_field + w->off->cframe_current_frame, out));
}


/*
 * Walk once from the thread's current top frame and check that the top did not move meanwhile.
 * *frame_field is the thread state's frame field the walk starts from; it is updated to the value
 * re-read at the end. Returns WALK_OK, WALK_BAD, WALK_TORN, WALK_E_GONE or -errno.
 */
static int walk_once(struct walker *w, uint64_t tstate, const uint8_t *ts, uint64_t *frame_field,
                     size_t *n, bool *truncated)
{
    const struct py_offsets *o = w->off;
    uint64_t top, field;
    uint8_t buf[FRAME_BUF];
    int r, walked;

    r = top_frame(w, *frame_field, &top);
    if (r)
        return r;
    w->n_chunks = 0;
    w->next_chunk = 0;
    if (o->frames == PY_FRAMES_CHUNKED && top) {
        uint64_t chunk = get_u64(ts, o->tstate_datastack_chunk);

        /*
         * Frames are pushed upwards in a chunk, so when the top frame is in the current chunk
         * only the bytes up to its end are live: copy just those.
         */
        r = copy_chunk(w, chunk, top > chunk && top - chunk < WALK_CHUNK_MAX
                                     ? top - chunk + o->frame_read_size : 0);
        if (r < 0 || r == WALK_E_GONE)
            return r;
    } else {
        r = prefetch_chain(w, tstate, top);
        if (r)
            return r;
    }
    walked = walk_frames(w, top, n, truncated);
    w->pf_n = 0;
    if (walked < 0 || walked == WALK_E_GONE)
        return walked;
    if (!walked && o->frames == PY_FRAMES_HEAP)
        predict_store(w, tstate, *n);
    /*
     * 3.11+: the thread's top frame and current chunk are re-read after the walk (one batch).
     * Frames above the current top returned while we read: their bytes stay behind when the
     * stack shrinks, so the walk from the old top went through dead frames. Only the part at
     * and below the current top is kept (also after the stack went back to an older chunk); a
     * moved cframe or a chunk not copied tears the walk. The frames kept are not compared with
     * a second read: a stack that changes between the copy and such a read (ordinary code
     * calling small functions) is far more common than a copy that mixes two moments, and
     * dropping those samples would under-count that code (measured: 14-27% of the samples of
     * a 33-frame fib target torn, against 0; stacks mixing two moments: 0-4.5% of the samples
     * of a recursion that changes every ~0.1 us, 0-0.4% when its leaves spin).
     */
    if (o->frames == PY_FRAMES_CHUNKED) {
        uint64_t now = 0, chunk = 0;
        bool cframe = o->cframe_current_frame != PY_NO_FIELD;
        struct mem_range rr[3] = {
            { .addr = tstate + o->tstate_datastack_chunk, .buf = &chunk, .len = sizeof(chunk) },
            { .addr = tstate + o->tstate_frame, .buf = &field, .len = sizeof(field) },
            { .addr = *frame_field + o->cframe_current_frame, .buf = &now, .len = sizeof(now) },
        };
        long k;

        if (walked || !*n)
            return walked;
        r = mem_fail(mem_readv(w->mem, rr, cframe ? 3 : 2));
        if (r)
            return r;
        if (!cframe)
            now = field;
        else if (field != *frame_field)
            return WALK_TORN; /* it entered or left an eval loop (C-stack frame) */
        if (now == top)
            return WALK_OK;
        k = chunk_live_from(w, chunk, now, *n);
        if (k < 0)
            return WALK_TORN;
        drop_innermost(w, (size_t)k, n);
        return WALK_OK;
    }
    /*
     * <= 3.10 torn-read check. The frames below the top are kept alive by the top (f_back is a
     * strong reference), so the walk is consistent if the top frame is still the same frame: the
     * same address, code and f_back (frames are freed and their memory reused). Both re-reads go
     * in one batch.
     */
    {
        /* Once its offset is known, the kernel tid of the thread comes in the same batch. */
        struct mem_range rr[3] = {
            { .addr = tstate + o->tstate_frame, .buf = &field, .len = sizeof(field) },
            { .addr = top, .buf = buf, .len = top && *n ? o->frame_read_size : 0 },
            { .addr = get_u64(ts, o->tstate_thread_id) + (uint64_t)w->tid_offset,
              .buf = &w->batched_tid, .len = w->tid_offset >= 0 ? sizeof(w->batched_tid) : 0 },
        };

        w->batched_tid = 0;
        r = mem_fail(mem_readv(w->mem, rr, 3));
        if (r)
            return r;
    }
    if (walked) {
        *frame_field = field;
        return WALK_TORN;
    }
    if (field != *frame_field || w->dead_top) {
        /*
         * The thread moved on. If it returned to a frame of our chain, or called from one, that
         * frame and its ancestors were alive throughout: keep the stack from there down.
         */
        r = keep_live_part(w, field, buf, n);
        if (r == WALK_TORN)
            *frame_field = field;
        return r;
    }
    if (top && *n &&
        (!frame_alive(buf) || get_u64(buf, o->frame_code) != w->raw[0].code ||
         get_u64(buf, o->frame_previous) != w->top_back))
        return WALK_TORN;
    return recheck_chain(w, *n);
}

/*
 * Code objects die and new ones take their addresses (exec, generated code, reloads), and the
 * caches are keyed by address. Before trusting them, re-read the name, file and line-table
 * pointers of every distinct cached code object on this stack (one batched read) and compare
 * them with what was cached; on a mismatch, drop the caches so this stack resolves afresh.
 */
static int check_codes(struct walker *w, size_t n)
{
    struct mem_range rr[WALK_MAX_DEPTH];
    size_t k = 0, n_ok = 0;
    uint64_t v;
    int r;

    if (!w->snap_len)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t code = w->raw[i].code;
        bool seen = false;

        /* Recursion repeats codes: skip those already queued (look back a little). */
        for (size_t j = k; j-- > 0 && j + 8 >= k;)
            if (w->check_code[j] == code)
                seen = true;
        if (seen || pp_u64map_get(w->code_cache, code, &v) != 0)
            continue;
        w->check_code[k] = code;
        w->check_idx[k] = (uint32_t)v;
        rr[k] = (struct mem_range){ .addr = code + w->snap_off, .buf = w->check_buf[k],
                                    .len = w->snap_len };
        k++;
    }
    if (!k)
        return 0;
    r = mem_readv_prefix(w->mem, rr, k, &n_ok);
    if (r)
        return mem_fail(r);
    for (size_t i = 0; i < k; i++) {
        if (i >= n_ok || memcmp(w->check_buf[i], w->codes[w->check_idx[i]].snap, w->snap_len)) {
            w->stats.stale_codes++;
            clear_caches(w);
            break;
        }
    }
    return 0;
}

/* The frame id and kind of the native frame at @ip, interned on first sight. */
static int native_frame(struct walker *w, uint64_t ip, bool is_return, uint32_t *fid,
                        enum unwind_kind *kind)
{
    uint64_t key = ip * 2 + (is_return ? 1 : 0), v;
    struct unwind_sym sym;
    struct pp_frame f = { .line = 0, .origin = PP_ORIGIN_NATIVE };
    struct pp_strtab *st = pp_agg_strtab(w->agg);
    char hex[32];
    const char *name;
    int r;

    if (!pp_u64map_get(w->native_cache, key, &v)) {
        *fid = (uint32_t)v;
        *kind = (enum unwind_kind)(v >> 32);
        return 0;
    }
    r = unwinder_symbol(w->unwinder, ip, is_return, &sym);
    if (r)
        return r;
    name = sym.name;
    if (!name) {
        /* No symbol: the offset into the object, as perf and py-spy show it. */
        snprintf(hex, sizeof(hex), "0x%" PRIx64, sym.object ? sym.offset : ip);
        name = hex;
    }
    r = pp_strtab_intern(st, name, strlen(name), &f.name);
    if (!r)
        r = pp_strtab_intern(st, sym.object ? sym.object : "[unknown]",
                             strlen(sym.object ? sym.object : "[unknown]"), &f.file);
    if (!r)
        r = pp_agg_intern_frame(w->agg, &f, fid);
    if (r)
        return r;
    *kind = sym.kind;
    if (!sym.object)
        return 0; /* unknown object: perhaps one loaded later, ask again next time */
    return cache_put(w, w->native_cache, key, (uint64_t)*fid | (uint64_t)sym.kind << 32);
}

/*
 * Merge the native stack w->ips[0..n_ips) (innermost first) with the Python stack
 * w->fids[0..kept) (outermost first) into w->merged, outermost first; *n_out its length. Works
 * from the innermost frame out, so a native walk cut short keeps the inner part right and the
 * Python frames it did not reach go on top, at the root.
 */
static int merge_native(struct walker *w, size_t n_ips, size_t kept, size_t *n_out)
{
    size_t p = kept, k = 0, cap = sizeof(w->merged) / sizeof(w->merged[0]);

    for (size_t i = 0; i < n_ips && k < cap; i++) {
        enum unwind_kind kind;
        uint32_t fid;
        int r = native_frame(w, w->ips[i], i > 0, &fid, &kind);

        if (r)
            return r;
        if (kind == UNWIND_EVAL) {
            /* This eval-loop call ran the Python frames up to the next entry frame. */
            while (p > 0 && k < cap) {
                p--;
                w->merged[k++] = w->fids[p];
                if (w->fid_entry[p])
                    break;
            }
            continue;
        }
        /* Without --native-all: no interpreter plumbing, no thread start-up around Python. */
        if (!w->native_all && (kind == UNWIND_INTERP || (p == 0 && kept)))
            continue;
        w->merged[k++] = fid;
    }
    while (p > 0 && k < cap)
        w->merged[k++] = w->fids[--p];
    /* Outermost first, as the aggregate wants. */
    for (size_t i = 0; i < k / 2; i++) {
        uint32_t t = w->merged[i];

        w->merged[i] = w->merged[k - 1 - i];
        w->merged[k - 1 - i] = t;
    }
    *n_out = k;
    return 0;
}

/* The kernel tid of a thread, or 0 if unknown (<= 3.10 before the pthread scan succeeds). */
static int thread_tid(struct walker *w, const uint8_t *ts, uint64_t *tid)
{
    const struct py_offsets *o = w->off;
    int r;

    *tid = 0;
    if (o->tstate_native_thread_id != PY_NO_FIELD) {
        *tid = get_u64(ts, o->tstate_native_thread_id);
        return 0;
    }
    if (!pp_u64map_get(w->tid_by_pthread, get_u64(ts, o->tstate_thread_id), tid))
        return 0;
    r = pthread_tid(w, get_u64(ts, o->tstate_thread_id), tid);
    if (is_fatal(r))
        return r;
    if (r)
        *tid = 0;
    return 0;
}

static int sample_thread(struct walker *w, uint64_t tstate, const uint8_t *ts, uint64_t time_ns)
{
    const struct py_offsets *o = w->off;
    uint64_t frame_field = get_u64(ts, o->tstate_frame), tid = 0;
    uint32_t thread;
    size_t n = 0, kept = 0, n_ips = 0, n_merged = 0;
    bool truncated = false, stopped = false;
    int r;

    /* CPU view: a thread the kernel does not show running is left out before any walking. */
    if (!w->opts.idle || w->tracer) {
        /* <= 3.10: the tid as last seen (re-read after the walk, in the torn-check batch) */
        r = thread_tid(w, ts, &tid);
        if (r)
            return r;
        if (!w->opts.idle && tid && thread_running(w, tid) == 0) {
            w->stats.idle++;
            return 0;
        }
    }
    /* Native mode: the thread stays stopped while both of its stacks are read. */
    if (w->tracer && tid && w->ns_pid == w->pid) {
        r = tracer_stop(w->tracer, (pid_t)tid);
        if (r < 0)
            return r;
        if (r == TRACER_E_EXEC)
            return WALK_E_GONE;
        if (r == TRACER_E_GONE) {
            unwinder_forget_thread(w->unwinder, (pid_t)tid);
            return 0;
        }
        stopped = r == 0;
        if (stopped) {
            /* The thread state read earlier (ahead, in a batch) predates the stop: read it anew. */
            r = mem_read(w->mem, tstate, w->ts_stopped, o->tstate_read_size);
            if (r) {
                tracer_resume(w->tracer, (pid_t)tid);
                w->stats.bad++;
                return r == MEM_E_GONE ? WALK_E_GONE : 0;
            }
            ts = w->ts_stopped;
            frame_field = get_u64(ts, o->tstate_frame);
            w->cf_hint_ok = false;
        }
    }

    r = walk_once(w, tstate, ts, &frame_field, &n, &truncated);
    if (r == WALK_TORN)
        r = walk_once(w, tstate, ts, &frame_field, &n, &truncated);
    if (stopped) {
        int ru = unwinder_unwind(w->unwinder, (pid_t)tid, w->ips, UNWIND_MAX_DEPTH, &n_ips);
        int rr = tracer_resume(w->tracer, (pid_t)tid);

        if (ru < 0)
            return ru;
        if (rr < 0)
            return rr;
        if (ru)
            n_ips = 0;
    }
    if (w->tracer && !n_ips)
        w->stats.native_failed++;
    if (is_fatal(r))
        return r;
    if (r) {
        if (r == WALK_TORN)
            w->stats.torn++;
        else
            w->stats.bad++;
        return 0;
    }

    r = check_codes(w, n);
    if (r)
        return r;
    /* Resolve, root first. A truncated stack gets a "[truncated]" root so it is not misread. */
    if (truncated) {
        r = truncated_frame(w, &w->fids[kept]);
        if (r)
            return r;
        w->fid_entry[kept] = false;
        kept++;
    }
    {
        /* An entry mark on a frame left out moves to the next frame kept inside it. */
        bool entry = false;

        for (size_t i = 0; i < n; i++) {
            entry = entry || w->raw[n - 1 - i].entry;
            r = resolve(w, &w->raw[n - 1 - i], &w->fids[kept]);
            if (is_fatal(r))
                return r;
            if (r == RESOLVE_SKIP)
                continue;
            if (r) {
                w->stats.bad++;
                return 0;
            }
            w->fid_entry[kept] = entry;
            entry = false;
            kept++;
        }
    }
    if (o->tstate_native_thread_id != PY_NO_FIELD) {
        tid = get_u64(ts, o->tstate_native_thread_id);
    } else if (w->batched_tid > 0) {
        tid = (uint64_t)w->batched_tid; /* fresh: read after the walk */
        if (pp_u64map_put(w->tid_by_pthread, get_u64(ts, o->tstate_thread_id), tid) ==
            PP_U64MAP_E_FULL)
            pp_u64map_clear(w->tid_by_pthread);
    } else if (!tid) {
        r = pthread_tid(w, get_u64(ts, o->tstate_thread_id), &tid);
        if (is_fatal(r))
            return r;
        if (r)
            tid = get_u64(ts, o->tstate_thread_id); /* unknown: show the pthread_t */
    }
    if (!kept)
        return 0; /* a thread with no Python frames (not started, or only in C) */
    if (n_ips) {
        r = merge_native(w, n_ips, kept, &n_merged);
        if (r)
            return r;
        w->stats.native++;
    }
    r = thread_index(w, tid, get_u64(ts, o->tstate_thread_id), &thread);
    if (!r)
        r = n_ips ? pp_agg_add_sample(w->agg, thread, w->merged, (uint32_t)n_merged, time_ns)
                  : pp_agg_add_sample(w->agg, thread, w->fids, (uint32_t)kept, time_ns);
    if (r)
        return r;
    w->stats.stacks++;
    if (truncated)
        w->stats.truncated++;
    return 0;
}

/* ===== Public API ===== */

/*
 * Read the first interpreter's thread list for this sample. Thread states live as long as their
 * threads, so the list of the previous sample is read speculatively in the same batch as the
 * interpreter's fields: a predicted thread state (and, on 3.11/3.12, the current frame behind
 * its cframe) costs no syscall of its own while the list is unchanged. Entries are trusted only
 * where the list read now agrees with the prediction.
 */
static int read_thread_batch(struct walker *w, uint64_t interp, uint64_t *head, uint64_t *next)
{
    const struct py_offsets *o = w->off;
    struct mem_range rr[2 + 2 * TPRED_MAX];
    bool cframes = o->cframe_current_frame != PY_NO_FIELD;
    size_t n = 2, n_ok = 0, k = w->tpred_n;
    int r;

    /*
     * 3.11+: a thread's top pointer must be read right before its chunk is copied (a stale top
     * can name a frame that has returned), so only the first thread, walked at once, is read
     * ahead. <= 3.10 re-checks every top after the walk, so every thread state can be.
     */
    if (o->frames == PY_FRAMES_CHUNKED && k > 1)
        k = 1;
    rr[0] = (struct mem_range){ .addr = interp + o->interp_threads_head, .buf = head,
                                .len = sizeof(*head) };
    rr[1] = (struct mem_range){ .addr = interp + o->interp_next, .buf = next,
                                .len = sizeof(*next) };
    for (size_t i = 0; i < k; i++) {
        rr[n++] = (struct mem_range){ .addr = w->tpred[i], .buf = w->tpred_buf[i],
                                      .len = o->tstate_read_size };
        rr[n++] = (struct mem_range){ .addr = w->tpred_cframe[i] + o->cframe_current_frame,
                                      .buf = &w->tpred_top[i],
                                      .len = cframes && w->tpred_cframe[i] ? 8 : 0 };
    }
    r = mem_readv_prefix(w->mem, rr, n, &n_ok);
    if (r)
        return r == MEM_E_GONE ? WALK_E_GONE : WALK_BAD;
    if (n_ok < 2)
        return WALK_BAD;
    /* Entry i is usable only when both of its ranges were read in full. */
    w->tpred_ok = (n_ok - 2) / 2;
    return 0;
}

int walker_sample(struct walker *w, uint64_t time_ns)
{
    const struct py_offsets *o = w->off;
    uint8_t ts[FRAME_BUF];
    uint64_t interp = w->interp_head;
    int r;

    if (o->tstate_native_thread_id == PY_NO_FIELD && w->tid_offset < 0 && !w->tid_searched) {
        w->tid_searched = true;
        r = find_tid_offset(w);
        if (r)
            return r;
    }

    for (size_t ni = 0; interp && ni < WALK_MAX_INTERPS; ni++) {
        uint64_t tstate = 0, next = 0;
        size_t nt;

        /* Only the first interpreter's threads are predicted (sub-interpreters are rare). */
        if (ni == 0) {
            r = read_thread_batch(w, interp, &tstate, &next);
        } else {
            struct mem_range rr[2] = {
                { .addr = interp + o->interp_threads_head, .buf = &tstate, .len = 8 },
                { .addr = interp + o->interp_next, .buf = &next, .len = 8 },
            };

            r = mem_readv(w->mem, rr, 2);
            r = r == MEM_E_GONE ? WALK_E_GONE : r ? WALK_BAD : 0;
        }
        if (r == WALK_E_GONE)
            return r;
        if (r)
            break;
        w->cur_interp = interp;
        if (w->opts.gil_only) {
            r = threadinfo_gil_holder(w->mem, w->off, w->rt->runtime_addr, interp, &w->gil_holder);
            if (r == THREADINFO_E_GONE)
                return WALK_E_GONE;
            if (r < 0)
                return r;
            if (r)
                w->gil_holder = 0;
        }
        for (nt = 0; tstate && nt < WALK_MAX_THREADS; nt++) {
            const uint8_t *tb = ts;
            bool predicted = ni == 0 && nt < w->tpred_ok && w->tpred[nt] == tstate;

            if (predicted) {
                tb = w->tpred_buf[nt];
            } else {
                r = mem_read(w->mem, tstate, ts, o->tstate_read_size);
                if (r == MEM_E_GONE)
                    return WALK_E_GONE;
                if (r) {
                    w->stats.bad++;
                    break;
                }
            }
            if (get_u64(tb, o->tstate_interp) != interp) {
                w->stats.bad++;
                break;
            }
            /* The current frame read in the batch counts only if the cframe is the same. */
            w->cf_hint_ok = predicted && o->cframe_current_frame != PY_NO_FIELD &&
                            w->tpred_cframe[nt] &&
                            get_u64(tb, o->tstate_frame) == w->tpred_cframe[nt];
            if (w->cf_hint_ok) {
                w->cf_hint_addr = w->tpred_cframe[nt];
                w->cf_hint_val = w->tpred_top[nt];
            }
            if (ni == 0 && nt < TPRED_MAX) {
                w->tpred_next[nt] = tstate;
                w->tpred_next_cframe[nt] = o->cframe_current_frame != PY_NO_FIELD
                                               ? get_u64(tb, o->tstate_frame) : 0;
            }
            r = 0;
            if (w->opts.gil_only && tstate != w->gil_holder)
                w->stats.no_gil++;
            else
                r = sample_thread(w, tstate, tb, time_ns);
            w->cf_hint_ok = false;
            if (r)
                return r;
            tstate = get_u64(tb, o->tstate_next);
        }
        if (ni == 0) {
            /* Next sample's prediction: this sample's list (the buffers are refilled then). */
            w->tpred_n = nt < TPRED_MAX ? nt : TPRED_MAX;
            memcpy(w->tpred, w->tpred_next, w->tpred_n * sizeof(w->tpred[0]));
            memcpy(w->tpred_cframe, w->tpred_next_cframe, w->tpred_n * sizeof(w->tpred[0]));
            w->tpred_ok = 0;
        }
        interp = next;
    }
    w->stats.samples++;
    return 0;
}

int walker_new(struct walker **out, struct mem *m, const struct py_runtime *rt,
               uint64_t interp_head, pid_t pid, struct pp_agg *agg, const struct walk_opts *opts)
{
    struct walker *w;
    int r;

    if (rt->off.tstate_read_size > FRAME_BUF || rt->off.frame_read_size > FRAME_BUF ||
        rt->off.code_read_size > CODE_BUF)
        return pp_err_origin(-EINVAL);
    w = calloc(1, sizeof(*w));
    if (!w)
        return pp_err_origin(-ENOMEM);
    w->mem = m;
    w->rt = rt;
    w->off = &rt->off;
    w->pid = pid;
    w->interp_head = interp_head;
    w->agg = agg;
    w->opts = *opts;
    w->tid_offset = -1;
    {
        const struct py_offsets *o = &rt->off;
        uint32_t f[4] = { o->code_filename, o->code_name, o->code_qualname, o->code_linetable };
        uint32_t lo = UINT32_MAX, hi = 0;

        for (size_t i = 0; i < 4; i++) {
            if (f[i] == PY_NO_FIELD)
                continue;
            lo = f[i] < lo ? f[i] : lo;
            hi = f[i] + 8 > hi ? f[i] + 8 : hi;
        }
        if (lo < hi && hi - lo <= CODE_SNAP_MAX && hi <= o->code_read_size) {
            w->snap_off = lo;
            w->snap_len = hi - lo;
        }
    }
    w->ns_pid = pthreadtid_ns_pid(pid);
    w->chunk_cap = rt->off.frames == PY_FRAMES_CHUNKED ? 8u << 20 : 0;
    r = pp_u64map_new(&w->frame_cache, FRAME_CACHE_MAX);
    if (!r)
        r = pp_u64map_new(&w->code_cache, CODE_CACHE_MAX);
    if (!r)
        r = pp_u64map_new(&w->file_cache, STR_CACHE_MAX);
    if (!r)
        r = pp_u64map_new(&w->thread_cache, THREAD_CACHE_MAX);
    if (!r)
        r = pp_u64map_new(&w->stat_fds, THREAD_CACHE_MAX);
    if (!r)
        r = pp_u64map_new(&w->tid_by_pthread, THREAD_CACHE_MAX);
    if (!r)
        r = pp_u64map_new(&w->native_cache, NATIVE_CACHE_MAX);
    if (r)
        goto out;
    w->codes = calloc(CODE_CACHE_MAX, sizeof(*w->codes));
    if (rt->off.frames == PY_FRAMES_HEAP) {
        w->predict = calloc(PREDICT_SLOTS, sizeof(*w->predict));
        w->pf_buf = malloc((size_t)(PREDICT_DEPTH + 1) * rt->off.frame_read_size);
        if (!w->predict || !w->pf_buf) {
            r = pp_err_origin(-ENOMEM);
            goto out;
        }
    }
    if (w->chunk_cap)
        w->chunk_buf = malloc(w->chunk_cap);
    if (!w->codes || (w->chunk_cap && !w->chunk_buf)) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    *out = w;
    w = NULL;
out:
    walker_free(w);
    return r;
}

struct walker *walker_free(struct walker *w)
{
    if (!w)
        return NULL;
    if (w->codes)
        clear_caches(w);
    free(w->codes);
    free(w->chunk_buf);
    free(w->predict);
    free(w->pf_buf);
    pp_u64map_free(w->frame_cache);
    pp_u64map_free(w->code_cache);
    pp_u64map_free(w->file_cache);
    if (w->stat_fds)
        close_stat_fds(w);
    pp_u64map_free(w->stat_fds);
    pp_u64map_free(w->tid_by_pthread);
    pp_u64map_free(w->native_cache);
    threadinfo_names_deinit(&w->names);
    pp_u64map_free(w->thread_cache);
    free(w);
    return NULL;
}

void walker_set_native(struct walker *w, struct tracer *t, struct unwinder *u, bool all)
{
    w->tracer = u ? t : NULL;
    w->unwinder = u;
    w->native_all = all;
}

const struct walk_stats *walker_stats(const struct walker *w)
{
    return &w->stats;
}
