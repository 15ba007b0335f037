/* SPDX-License-Identifier: MIT */
/* record: the `pyprof record` job: find the interpreter, sample it, write the profile. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pyprof/agg.h"
#include "pyprof/output.h"
#include "py/discover.h"
#include "py/threadinfo.h"
#include "py/walk.h"
#include "sys/tracer.h"
#include "sys/unwind.h"
#include "attach.h"
#include "children.h"
#include "record.h"
#include "sys/mem.h"
#include "target.h"

#define NSEC 1000000000LL
#define PROGRESS_EVERY (NSEC / 4)
#define CHILD_POLL_EVERY (NSEC / 10)
#define WATCH_EVERY (NSEC / 50)       /* exit/exec/PID reuse checked at least this often, */
#define WATCH_AFTER_MISS (NSEC / 1000) /* and after a sample that found nothing, at most this */
#define COST_BUCKETS 10001 /* 0 .. 9999 µs, then ">= 10 ms" */
#define SUB_NOTPY_TRIES 5       /* -s: scans a non-Python descendant is retried (it may exec) */
#define SUB_NOTREADY_TRIES 100  /* -s: scans a not-yet-initialised interpreter is waited for */
#define SUB_TIMELINE_MAX 65536  /* -s: samples a per-process aggregate holds before a fresh one */
#define SUB_CMDLINE_MAX 60      /* -s: bytes of the command line in a process root frame */
#define NO_ID UINT32_MAX

/*
 * -s: one followed process. Its walker adds stacks to its own aggregate (timeline on); after
 * each sample the new timeline entries are copied into the shared aggregate with the process
 * root frame (and the thread root frame with -t) prepended, translating string, frame and
 * thread ids through the maps below. When the private timeline grows past SUB_TIMELINE_MAX
 * the walker and aggregate are replaced by fresh ones, so memory stays bounded.
 */
struct sub {
    pid_t pid;
    bool python;              /* a walker runs */
    bool gone;                /* exited or given up on */
    unsigned tries;
    struct mem mem;
    struct py_runtime rt;
    uint64_t head;
    struct pp_agg *agg;
    struct walker *walker;
    size_t merged;            /* timeline entries of agg already copied */
    uint32_t proc_fid;        /* process PID "cmdline" in the shared aggregate */
    uint32_t *fmap;           /* local frame id -> shared frame id (NO_ID: not yet) */
    size_t cap_fmap;
    uint32_t *tmap, *tfid;    /* local thread -> shared thread, and its thread root frame */
    size_t cap_tmap, cap_tfid;
    struct walk_stats base;   /* counters of the walkers replaced or freed */
};

struct recording {
    const struct pyprof_config *cfg;
    FILE *err;
    FILE *out;
    const char *out_path;     /* NULL: standard output */
    char out_default[64];     /* pyprof-PID-TIME.svg when no -o was given */
    enum pp_format format;
    uint64_t start_unix_ns;
    pid_t pid;
    bool launched;
    bool child_reaped;
    int child_status;
    struct mem mem;
    struct py_runtime rt;
    struct pp_agg *agg;
    struct walker *walker;
    struct target_watch watch; /* exit, exec and PID reuse of the target (not with -s) */
    int64_t watched;          /* monotonic ns of the last watch check */
    struct tracer *tracer;    /* -n/--native: threads stopped with ptrace, else NULL */
    struct unwinder *unwinder;
    struct tracer_stats native_stats; /* the tracer's counters, kept when it is freed */
    int64_t started, stopped; /* monotonic ns of sampling */
    uint64_t late;            /* deadlines missed by more than one period */
    uint32_t cost_us[COST_BUCKETS]; /* histogram of sample cost, 1 µs buckets, last = overflow */
    bool progress;
    bool progress_shown;
    /* -s/--subprocesses */
    struct walk_opts wo;
    struct children *children;
    struct sub **subs;        /* subs[0] is the target itself */
    size_t n_subs, cap_subs;
    size_t n_followed;        /* processes that were sampled */
    uint32_t *fbuf;           /* scratch stack for merging, WALK_MAX_DEPTH + 2 */
};

static int64_t now_ns(void)
{
    return attach_mono_ns();
}

static void sleep_until(int64_t t)
{
    attach_sleep_until(t); /* EINTR returns early on purpose: the caller checks for signals */
}

/* Map a failed discovery to a message and an exit code. */
static int discovery_failed(struct recording *rc, int r)
{
    return attach_report(&rc->rt, rc->pid, r, rc->cfg->startup_timeout, rc->err);
}

/* Pass a signal on to a launched child unless the terminal already sent it to the child. */
static bool handle_signal(struct recording *rc)
{
    bool from_tty = false;
    int sig = target_signal_take(&from_tty);

    if (!sig)
        return false;
    if (rc->launched && !rc->child_reaped && !from_tty)
        kill(rc->pid, sig);
    return true;
}

static bool child_gone(struct recording *rc)
{
    if (!rc->launched || rc->child_reaped)
        return rc->child_reaped;
    /* Traced (--native): the tracer's waits may have reaped the child already. */
    if (rc->tracer && tracer_leader_exit(rc->tracer, &rc->child_status))
        rc->child_reaped = true;
    else
        rc->child_reaped = target_exited(rc->pid, &rc->child_status);
    return rc->child_reaped;
}

/*
 * -g/--gil: make sure the GIL holder of this version can be read at all, so an unsupported
 * build fails now rather than giving an empty profile. Returns 0 or an exit code.
 */
static int gil_check(struct recording *rc, uint64_t interp)
{
    uint64_t holder = 0;
    int r = threadinfo_gil_holder(&rc->mem, &rc->rt.off, rc->rt.runtime_addr, interp, &holder);

    if (r == THREADINFO_E_UNSUPPORTED) {
        fprintf(rc->err,
                "pyprof: error: --gil: pyprof cannot find the GIL state of Python %u.%u (PID %d);\n"
                "  record without --gil\n",
                rc->rt.major, rc->rt.minor, (int)rc->pid);
        return PYPROF_EXIT_UNSUPPORTED;
    }
    if (r < 0) {
        fprintf(rc->err, "pyprof: error: --gil: %s\n", strerror(-r));
        return PYPROF_EXIT_FATAL;
    }
    return 0; /* a transient failure (or nobody holding it) is fine: checked every sample */
}

/*
 * -n/--native: set up ptrace and libunwind for the target and try stopping its main thread once,
 * so a refusal is reported now, with the fix, rather than as stacks without native frames.
 * Returns 0 or an exit code (message written).
 */
static int native_init(struct recording *rc)
{
    int r = tracer_new(&rc->tracer, rc->pid);

    if (!r)
        r = unwinder_new(&rc->unwinder, rc->pid, rc->rt.binary);
    if (r) {
        fprintf(rc->err, "pyprof: error: cannot set up native unwinding: %s\n", strerror(-r));
        return PYPROF_EXIT_FATAL;
    }
    r = tracer_stop(rc->tracer, rc->pid);
    if (r == 0)
        r = tracer_resume(rc->tracer, rc->pid);
    if (r == TRACER_E_PERM || r == -EPERM) {
        fprintf(rc->err,
                "pyprof: error: --native needs ptrace, and PID %d refused it (EPERM). Run as root\n"
                "  or with CAP_SYS_PTRACE (Docker: --cap-add SYS_PTRACE; Kubernetes:\n"
                "  securityContext.capabilities.add: [SYS_PTRACE]), check that no debugger is\n"
                "  attached, or drop --native.\n",
                (int)rc->pid);
        return PYPROF_EXIT_PERM;
    }
    if (r < 0) {
        fprintf(rc->err, "pyprof: error: cannot stop PID %d for native stacks: %s\n",
                (int)rc->pid, strerror(-r));
        return PYPROF_EXIT_FATAL;
    }
    walker_set_native(rc->walker, rc->tracer, rc->unwinder, rc->cfg->native_all);
    return 0;
}

/*
 * Wait until the interpreter is up: retry discovery (no fixed sleep) with a short backoff until
 * it succeeds, fails for good, the launched child exits, or the start-up timeout passes.
 * Returns 0 with the interpreter head in *head, 1 when stopped by a signal or an early exit of
 * the child (nothing to sample), or an exit code > 1 after printing why.
 */
static int wait_for_interpreter(struct recording *rc, uint64_t *head)
{
    int64_t deadline = now_ns() + (int64_t)(rc->cfg->startup_timeout * NSEC), pause = NSEC / 1000;
    char notpy_why[sizeof(rc->rt.why)] = "";
    int r;

    for (;;) {
        r = discover_runtime(&rc->rt, &rc->mem, rc->pid);
        if (!r)
            r = discover_interp_head(&rc->rt, &rc->mem, head);
        if (!r)
            return 0;
        /* Keep what a live launched command ran: once it exits, /proc has nothing to say. */
        if (r == DISCOVER_E_NOTPY)
            memcpy(notpy_why, rc->rt.why, sizeof(notpy_why));
        else if (r == DISCOVER_E_GONE && notpy_why[0]) {
            memcpy(rc->rt.why, notpy_why, sizeof(notpy_why));
            r = DISCOVER_E_NOTPY;
        }
        if (r == DISCOVER_E_UNSUPPORTED || r == DISCOVER_E_PERM || r < 0)
            return discovery_failed(rc, r);
        if (r == DISCOVER_E_GONE && !rc->launched)
            return discovery_failed(rc, r);
        /* Attaching to a process that is not Python: say so at once. */
        if (r == DISCOVER_E_NOTPY && !rc->launched)
            return discovery_failed(rc, r);
        if (child_gone(rc) || r == DISCOVER_E_GONE) {
            if (r == DISCOVER_E_NOTPY)
                return discovery_failed(rc, r);
            fprintf(rc->err, "pyprof: warning: the command exited before it could be sampled\n");
            return 1;
        }
        if (handle_signal(rc))
            return 1;
        if (now_ns() >= deadline)
            return discovery_failed(rc, r);
        sleep_until(now_ns() + pause);
        if (pause < NSEC / 50)
            pause *= 2;
    }
}

/* === -s/--subprocesses ==================================================== */

static void add_stats(struct walk_stats *acc, const struct walk_stats *s)
{
    acc->samples += s->samples;
    acc->stacks += s->stacks;
    acc->torn += s->torn;
    acc->bad += s->bad;
    acc->truncated += s->truncated;
    acc->code_misses += s->code_misses;
    acc->stale_codes += s->stale_codes;
    acc->idle += s->idle;
}

/* Stop sampling @s: keep its counters, free the rest. */
static void sub_stop(struct sub *s)
{
    if (s->walker)
        add_stats(&s->base, walker_stats(s->walker));
    s->walker = walker_free(s->walker);
    s->agg = pp_agg_free(s->agg);
    free(s->fmap);
    free(s->tmap);
    free(s->tfid);
    s->fmap = s->tmap = s->tfid = NULL;
    s->cap_fmap = s->cap_tmap = s->cap_tfid = 0;
    s->merged = 0;
    s->gone = true;
}

static void sub_free(struct sub *s)
{
    if (s) {
        sub_stop(s);
        free(s);
    }
}

/* A fresh private aggregate and walker for @s (at the start, or to bound the timeline). */
static int sub_restart(struct recording *rc, struct sub *s)
{
    int r;

    if (s->walker)
        add_stats(&s->base, walker_stats(s->walker));
    s->walker = walker_free(s->walker);
    s->agg = pp_agg_free(s->agg);
    s->merged = 0;
    if (s->fmap)
        memset(s->fmap, 0xff, s->cap_fmap * sizeof(*s->fmap));
    if (s->tmap)
        memset(s->tmap, 0xff, s->cap_tmap * sizeof(*s->tmap));
    r = pp_agg_new(&s->agg);
    if (r)
        return r;
    pp_agg_timeline_enable(s->agg);
    return walker_new(&s->walker, &s->mem, &s->rt, s->head, s->pid, s->agg, &rc->wo);
}

static int intern_name(struct recording *rc, const char *name, size_t len, uint32_t *out_fid)
{
    struct pp_frame f = { .origin = PP_ORIGIN_UNKNOWN };
    int r = pp_strtab_intern(pp_agg_strtab(rc->agg), name, len, &f.name);

    if (!r)
        r = pp_strtab_intern(pp_agg_strtab(rc->agg), "", 0, &f.file);
    return r ? r : pp_agg_intern_frame(rc->agg, &f, out_fid);
}

/* The root frame of @s: process PID "cmdline", NULs as spaces, cut at SUB_CMDLINE_MAX bytes. */
static int sub_root_frame(struct recording *rc, struct sub *s)
{
    char path[48], cmd[SUB_CMDLINE_MAX + 4], name[SUB_CMDLINE_MAX + 48];
    size_t got = 0;
    FILE *f;
    int n;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)s->pid);
    f = fopen(path, "re");
    if (f) {
        got = fread(cmd, 1, sizeof(cmd) - 1, f);
        fclose(f);
    }
    for (size_t i = 0; i < got; i++)
        if (cmd[i] == '\0')
            cmd[i] = ' ';
    while (got && cmd[got - 1] == ' ')
        got--;
    if (got > SUB_CMDLINE_MAX) {
        got = SUB_CMDLINE_MAX - 3;
        memcpy(cmd + got, "...", 3);
        got += 3;
    }
    cmd[got] = '\0';
    n = snprintf(name, sizeof(name), "process %d \"%s\"", (int)s->pid, cmd);
    return intern_name(rc, name, (size_t)n < sizeof(name) ? (size_t)n : sizeof(name) - 1,
                       &s->proc_fid);
}

static int grow_map(uint32_t **p, size_t *cap, size_t want)
{
    size_t n = *cap ? *cap : 256;
    uint32_t *q;

    if (want <= *cap)
        return 0;
    while (n < want)
        n *= 2;
    q = realloc(*p, n * sizeof(*q));
    if (!q)
        return -ENOMEM;
    memset(q + *cap, 0xff, (n - *cap) * sizeof(*q));
    *p = q;
    *cap = n;
    return 0;
}

/* Re-intern string @id of @s's aggregate in the shared one. */
static int map_str(struct recording *rc, struct sub *s, uint32_t id, uint32_t *out)
{
    size_t len = 0;
    const char *str = pp_strtab_str(pp_agg_strtab_const(s->agg), id, &len);

    if (!str)
        return -EINVAL;
    return pp_strtab_intern(pp_agg_strtab(rc->agg), str, len, out);
}

static int map_frame(struct recording *rc, struct sub *s, uint32_t fid, uint32_t *out)
{
    const struct pp_frame *lf;
    struct pp_frame f;
    int r;

    r = grow_map(&s->fmap, &s->cap_fmap, (size_t)fid + 1);
    if (r)
        return r;
    if (s->fmap[fid] != NO_ID) {
        *out = s->fmap[fid];
        return 0;
    }
    lf = pp_agg_frame_get(s->agg, fid);
    if (!lf)
        return -EINVAL;
    f = *lf;
    r = map_str(rc, s, lf->name, &f.name);
    if (!r)
        r = map_str(rc, s, lf->file, &f.file);
    if (!r)
        r = pp_agg_intern_frame(rc->agg, &f, &s->fmap[fid]);
    *out = s->fmap[fid];
    return r;
}

/* The shared thread for local thread @t, and with -t its root frame: thread (TID "name"). */
static int map_thread(struct recording *rc, struct sub *s, uint32_t t, uint32_t *out,
                      uint32_t *out_fid)
{
    const struct pp_thread *lt;
    size_t len = 0;
    const char *tname;
    char label[320];
    uint32_t name;
    int r, n;

    r = grow_map(&s->tmap, &s->cap_tmap, (size_t)t + 1);
    if (!r)
        r = grow_map(&s->tfid, &s->cap_tfid, (size_t)t + 1);
    if (r)
        return r;
    if (s->tmap[t] != NO_ID) {
        *out = s->tmap[t];
        *out_fid = s->tfid[t];
        return 0;
    }
    lt = pp_agg_thread_get(s->agg, t);
    if (!lt)
        return -EINVAL;
    r = map_str(rc, s, lt->name, &name);
    if (!r)
        r = pp_agg_intern_thread(rc->agg, lt->tid, name, &s->tmap[t]);
    if (!r && rc->cfg->threads) {
        tname = pp_strtab_str(pp_agg_strtab_const(s->agg), lt->name, &len);
        if (tname && len)
            n = snprintf(label, sizeof(label), "thread (%" PRIu64 " \"%s\")", lt->tid, tname);
        else
            n = snprintf(label, sizeof(label), "thread (%" PRIu64 ")", lt->tid);
        r = intern_name(rc, label, (size_t)n < sizeof(label) ? (size_t)n : sizeof(label) - 1,
                        &s->tfid[t]);
    }
    *out = s->tmap[t];
    *out_fid = s->tfid[t];
    return r;
}

/* Copy the samples @s's walker added since the last call into the shared aggregate. */
static int sub_merge(struct recording *rc, struct sub *s)
{
    size_t n = pp_agg_n_samples(s->agg);
    int r = 0;

    for (; s->merged < n; s->merged++) {
        const struct pp_sample *smp = pp_agg_sample_get(s->agg, s->merged);
        struct pp_stack_view v;
        uint32_t thread, tfid, k = 0;

        pp_agg_stack(s->agg, smp->stack, &v);
        r = map_thread(rc, s, v.thread, &thread, &tfid);
        if (r)
            return r;
        rc->fbuf[k++] = s->proc_fid;
        if (rc->cfg->threads)
            rc->fbuf[k++] = tfid;
        for (uint32_t i = 0; i < v.n_fids && i < WALK_MAX_DEPTH; i++) {
            r = map_frame(rc, s, v.fids[i], &rc->fbuf[k++]);
            if (r)
                return r;
        }
        r = pp_agg_add_sample(rc->agg, thread, rc->fbuf, k, smp->time_ns);
        if (r)
            return r;
    }
    if (s->merged >= SUB_TIMELINE_MAX)
        r = sub_restart(rc, s);
    return r;
}

/* Start following @pid: discovery is tried at the next poll. */
static int sub_add(struct recording *rc, pid_t pid, struct sub **out)
{
    struct sub *s;

    if (rc->n_subs == rc->cap_subs) {
        size_t cap = rc->cap_subs ? rc->cap_subs * 2 : 16;
        struct sub **v = realloc(rc->subs, cap * sizeof(*v));

        if (!v)
            return -ENOMEM;
        rc->subs = v;
        rc->cap_subs = cap;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->pid = pid;
    mem_init(&s->mem, pid);
    rc->subs[rc->n_subs++] = s;
    *out = s;
    return 0;
}

/* @s's interpreter is known (rt, head): start its walker. */
static int sub_begin(struct recording *rc, struct sub *s)
{
    int r = sub_root_frame(rc, s);

    if (!r)
        r = sub_restart(rc, s);
    if (r)
        return r;
    s->python = true;
    rc->n_followed++;
    return 0;
}

/* Try discovery on a descendant once; non-Python ones are given up on after a few scans. */
static int sub_try(struct recording *rc, struct sub *s)
{
    int r = discover_runtime(&s->rt, &s->mem, s->pid);

    if (!r)
        r = discover_interp_head(&s->rt, &s->mem, &s->head);
    if (!r)
        return sub_begin(rc, s);
    s->tries++;
    if (r == DISCOVER_E_NOTPY && s->tries < SUB_NOTPY_TRIES)
        return 0;
    if (r == DISCOVER_E_NOTREADY && s->tries < SUB_NOTREADY_TRIES)
        return 0;
    /* Gone, not Python, unsupported or not readable: skipped quietly. */
    s->gone = true;
    return 0;
}

/* Every CHILD_POLL_EVERY: pick up new descendants and retry the pending ones. */
static int subs_poll(struct recording *rc)
{
    const pid_t *fresh;
    size_t n_fresh;
    struct sub *s;
    int r = children_scan(rc->children, &fresh, &n_fresh);

    if (r)
        return r;
    for (size_t i = 0; i < n_fresh; i++) {
        r = sub_add(rc, fresh[i], &s);
        if (r)
            return r;
    }
    for (size_t i = 0; i < rc->n_subs; i++) {
        s = rc->subs[i];
        if (!s->python && !s->gone) {
            r = sub_try(rc, s);
            if (r)
                return r;
        }
    }
    return 0;
}

/*
 * One sample of every followed process. Returns 0, or a negative errno. *live is set to whether
 * any followed process is still there.
 */
static int subs_sample(struct recording *rc, uint64_t time_ns, bool *live)
{
    int r;

    *live = false;
    for (size_t i = 0; i < rc->n_subs; i++) {
        struct sub *s = rc->subs[i];

        if (!s->python || s->gone)
            continue;
        r = walker_sample(s->walker, time_ns);
        if (r == WALK_E_GONE) {
            sub_stop(s); /* a descendant that exits is dropped quietly */
            continue;
        }
        if (!r)
            r = sub_merge(rc, s);
        if (r < 0)
            return r;
        *live = true;
    }
    return 0;
}

/* Set up -s with the target, whose interpreter was found in rc->rt / @head, as subs[0]. */
static int subs_init(struct recording *rc, uint64_t head)
{
    struct sub *s;
    int r;

    rc->fbuf = malloc((WALK_MAX_DEPTH + 2) * sizeof(*rc->fbuf));
    if (!rc->fbuf)
        return -ENOMEM;
    r = children_new(&rc->children, rc->pid);
    if (r)
        return r;
    r = sub_add(rc, rc->pid, &s);
    if (r)
        return r;
    s->rt = rc->rt;
    s->head = head;
    return sub_begin(rc, s);
}

static void subs_free(struct recording *rc)
{
    for (size_t i = 0; i < rc->n_subs; i++)
        sub_free(rc->subs[i]);
    free(rc->subs);
    free(rc->fbuf);
    children_free(rc->children);
}

/* The walker counters: of the one walker, or summed over every followed process. */
static void record_stats(const struct recording *rc, struct walk_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!rc->cfg->subprocesses) {
        if (rc->walker)
            *out = *walker_stats(rc->walker);
        return;
    }
    for (size_t i = 0; i < rc->n_subs; i++) {
        const struct sub *s = rc->subs[i];

        add_stats(out, &s->base);
        if (s->walker)
            add_stats(out, walker_stats(s->walker));
    }
}

static void show_progress(struct recording *rc, int64_t now, bool final)
{
    struct walk_stats stats;
    const struct walk_stats *st = &stats;
    double secs = (double)(now - rc->started) / NSEC;

    record_stats(rc, &stats);
    fprintf(rc->err, "\rpyprof: %" PRIu64 " samples, %.1f Hz, %" PRIu64 " errors, %.1f s%s",
            st->samples, secs > 0 ? (double)st->samples / secs : 0.0, st->torn + st->bad, secs,
            final ? "\n" : "   ");
    fflush(rc->err);
    rc->progress_shown = true;
}

/*
 * Is the target still the process whose interpreter was found (not exited, not exec'd, its PID
 * not reused)? Checked before a sample once WATCH_EVERY has passed since the last check, so a
 * PID reused while pyprof was not looking is caught before it is sampled, and after a sample
 * that found no stack, at most every WATCH_AFTER_MISS: an exec or a reused PID makes the walk
 * fail. Returns 0 to go on, 1 to stop sampling (the reason printed), or a negative errno.
 */
static int watch_target(struct recording *rc, int64_t now)
{
    int pid = (int)rc->pid, r = target_watch_check(&rc->watch);

    rc->watched = now;
    if (r <= 0)
        return r;
    if (rc->progress_shown)
        fputc('\n', rc->err);
    if (r == TARGET_EXECED)
        fprintf(rc->err, "pyprof: process %d exec'd into %s; sampling stopped (the new program is "
                "not sampled)\n", pid, rc->watch.now);
    else if (r == TARGET_REUSED)
        fprintf(rc->err, "pyprof: process %d exited; PID %d now belongs to another process (%s), "
                "which is not sampled\n", pid, pid, rc->watch.now);
    else if (!rc->launched)
        fprintf(rc->err, "pyprof: process %d exited\n", pid);
    return 1;
}

/* The sampling loop: absolute deadlines on CLOCK_MONOTONIC, so late wake-ups never add up. */
static int sample_loop(struct recording *rc)
{
    const struct pyprof_config *cfg = rc->cfg;
    int64_t period = (int64_t)((double)NSEC / cfg->rate), next, end = 0, now;
    int64_t next_progress, next_child_poll;
    int r = 0;

    /* A tighter timer slack keeps high rates on schedule; harmless if refused. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    rc->started = now_ns();
    rc->start_unix_ns = (uint64_t)attach_real_ns();
    next = rc->started;
    next_progress = rc->started + PROGRESS_EVERY;
    next_child_poll = rc->started + CHILD_POLL_EVERY;
    if (cfg->duration > 0)
        end = rc->started + (int64_t)(cfg->duration * NSEC);
    for (;;) {
        if (handle_signal(rc))
            break;
        now = now_ns();
        if (cfg->subprocesses) {
            bool live;

            r = subs_sample(rc, (uint64_t)now, &live);
            if (r < 0)
                break;
            /* The target is Python and followed, so nothing live means it is gone too. */
            if (!live)
                break;
        } else {
            const struct walk_stats *ws = walker_stats(rc->walker);
            uint64_t found;

            if (now - rc->watched >= WATCH_EVERY) {
                r = watch_target(rc, now);
                if (r) {
                    r = r < 0 ? r : 0;
                    break;
                }
            }
            if (rc->tracer) {
                /* Pass on signals that reached the traced threads since the last sample. */
                r = tracer_poll(rc->tracer);
                if (r == TRACER_E_EXEC) {
                    /* The watch names the new program; the tracer saw the exec first. */
                    if (watch_target(rc, now) <= 0)
                        fprintf(rc->err, "pyprof: process %d exec'd; sampling stopped\n",
                                (int)rc->pid);
                    r = 0;
                    break;
                }
                if (r < 0)
                    break;
            }
            found = ws->stacks + ws->idle + ws->no_gil; /* a sample that finds none: a miss */
            r = walker_sample(rc->walker, (uint64_t)now);
            if (r == WALK_E_GONE) {
                /* Gone, exec'd (seen by the tracer) or its PID reused: the watch tells which. */
                if (watch_target(rc, now) <= 0 && !rc->launched)
                    fprintf(rc->err, "%spyprof: process %d exited\n",
                            rc->progress_shown ? "\n" : "", (int)rc->pid);
                r = 0;
                break;
            }
            if (r < 0)
                break;
            if (ws->stacks + ws->idle + ws->no_gil == found &&
                now - rc->watched >= WATCH_AFTER_MISS) {
                r = watch_target(rc, now);
                if (r) {
                    r = r < 0 ? r : 0;
                    break;
                }
            }
        }
        {
            int64_t t = now_ns(), us = (t - now) / 1000;

            rc->cost_us[us < COST_BUCKETS - 1 ? us : COST_BUCKETS - 1]++;
            now = t;
        }
        if (rc->progress && now >= next_progress) {
            show_progress(rc, now, false);
            next_progress = now + PROGRESS_EVERY;
        }
        if (cfg->subprocesses && now >= next_child_poll) {
            /* The launched command exited: stop sampling it, keep its descendants. */
            if (child_gone(rc) && !rc->subs[0]->gone)
                sub_stop(rc->subs[0]);
            r = subs_poll(rc);
            if (r < 0)
                break;
            next_child_poll = now + CHILD_POLL_EVERY;
        } else if (rc->launched && now >= next_child_poll) {
            if (child_gone(rc))
                break;
            next_child_poll = now + CHILD_POLL_EVERY;
        }
        next += period;
        if (now > next) {
            /* Missed one or more deadlines: count them and rejoin the schedule. */
            int64_t missed = (now - next) / period + 1;

            rc->late += (uint64_t)missed;
            next += missed * period;
        }
        if (end && next >= end) {
            sleep_until(end);
            break;
        }
        sleep_until(next);
    }
    rc->stopped = now_ns();
    if (rc->progress && rc->progress_shown)
        show_progress(rc, rc->stopped, true);
    return r;
}

/*
 * Decide the output file and format (py-spy's rules: -f, else the -o extension, else an SVG;
 * without -o, pyprof-PID-TIME.svg, or standard output when -f was given) and open it.
 */
static int open_output(struct recording *rc)
{
    const struct pyprof_config *cfg = rc->cfg;
    const char *o = cfg->output;

    rc->format = cfg->format;
    if (!rc->format && o)
        rc->format = pp_format_from_path(o);
    if (!rc->format)
        rc->format = PP_FORMAT_FLAMEGRAPH;
    if (!o && !cfg->format) {
        struct tm tm;
        time_t t = time(NULL);

        localtime_r(&t, &tm);
        snprintf(rc->out_default, sizeof(rc->out_default), "pyprof-%d-%04d%02d%02dT%02d%02d%02d.svg",
                 (int)rc->pid, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
        o = rc->out_default;
    }
    if (!o || !strcmp(o, "-")) {
        rc->out = stdout;
        return 0;
    }
    rc->out = fopen(o, "we");
    if (!rc->out) {
        fprintf(rc->err, "pyprof: error: cannot write '%s': %s\n", o, strerror(errno));
        return PYPROF_EXIT_FATAL;
    }
    rc->out_path = o;
    return 0;
}

/* "python3 app.py --port 80" from argv, or from /proc/PID/cmdline when attaching. */
static void describe_command(struct recording *rc, char *buf, size_t cap)
{
    size_t n = 0;

    buf[0] = '\0';
    if (rc->cfg->argv) {
        for (char **a = rc->cfg->argv; *a && n + 1 < cap; a++)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? " " : "", *a);
    } else {
        char path[64];
        FILE *f;
        size_t got;

        n = (size_t)snprintf(buf, cap, "PID %d: ", (int)rc->pid);
        if (n >= cap)
            return;
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)rc->pid);
        f = fopen(path, "re");
        if (!f)
            return;
        got = fread(buf + n, 1, cap - n - 1, f);
        fclose(f);
        for (size_t i = n; i < n + got; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        while (got && buf[n + got - 1] == ' ')
            got--;
        buf[n + got] = '\0';
    }
    if (n >= cap)
        buf[cap - 1] = '\0';
}

static int write_output(struct recording *rc)
{
    char command[1024];
    struct pp_meta meta = {
        .title = rc->cfg->title,
        .command = command,
        .start_unix_ns = rc->start_unix_ns,
        .duration_ns = (uint64_t)(rc->stopped - rc->started),
        .rate_hz = rc->cfg->rate,
        .wall = rc->cfg->idle, /* idle threads sampled too: wall time, else CPU time */
        .pid = (uint32_t)rc->pid,
    };
    struct pp_output_opts oo = {
        /* With -s the thread root is a frame under the process root, not the writer's. */
        .threads = rc->cfg->threads && !rc->cfg->subprocesses, .icicle = rc->cfg->icicle, .title = rc->cfg->title,
    };
    const char *name = rc->out_path ? rc->out_path : "standard output";
    int r;

    describe_command(rc, command, sizeof(command));
    r = pp_output_write(rc->agg, &meta, rc->format, &oo, rc->out);
    if (!r && fflush(rc->out) != 0)
        r = -EIO;
    if (rc->out != stdout) {
        if (fclose(rc->out) != 0 && !r)
            r = -EIO;
    }
    rc->out = NULL;
    if (r) {
        fprintf(rc->err, "pyprof: error: writing %s: %s\n", name, strerror(-r));
        return PYPROF_EXIT_FATAL;
    }
    return 0;
}

/* The @q quantile (0..1) of the sample-cost histogram, in µs. */
static unsigned cost_quantile(const struct recording *rc, double q)
{
    uint64_t total = 0, want, seen = 0;

    for (size_t i = 0; i < COST_BUCKETS; i++)
        total += rc->cost_us[i];
    if (!total)
        return 0;
    want = (uint64_t)(q * (double)(total - 1)) + 1;
    for (size_t i = 0; i < COST_BUCKETS; i++) {
        seen += rc->cost_us[i];
        if (seen >= want)
            return (unsigned)i;
    }
    return COST_BUCKETS - 1;
}

static void print_summary(struct recording *rc)
{
    struct walk_stats stats;
    const struct walk_stats *st = &stats;
    double secs = (double)(rc->stopped - rc->started) / NSEC;
    uint64_t n_reads = rc->mem.n_reads, n_bytes = rc->mem.n_bytes;

    if (!rc->walker && !rc->n_followed) {
        fprintf(rc->err, "pyprof: no samples collected\n");
        return;
    }
    record_stats(rc, &stats);
    if (rc->cfg->subprocesses) {
        /* samples: one per process per round, summed over the processes followed */
        for (size_t i = 0; i < rc->n_subs; i++) {
            n_reads += rc->subs[i]->mem.n_reads;
            n_bytes += rc->subs[i]->mem.n_bytes;
        }
        fprintf(rc->err,
                "pyprof: %" PRIu64 " process samples in %.2f s, %zu processes followed (PID %d "
                "and its descendants, Python %u.%u at the root): %zu distinct stacks, %" PRIu64
                " thread stacks, %" PRIu64 " idle left out; %" PRIu64 " torn, %" PRIu64
                " unreadable, %" PRIu64 " late\n",
                st->samples, secs, rc->n_followed, (int)rc->pid, rc->rt.major, rc->rt.minor,
                pp_agg_n_stacks(rc->agg), st->stacks, st->idle, st->torn, st->bad, rc->late);
    } else {
        fprintf(rc->err,
                "pyprof: %" PRIu64 " samples in %.2f s (%.1f Hz) of Python %u.%u, PID %d: %zu "
                "distinct stacks, %" PRIu64 " thread stacks, %" PRIu64 " idle left out; %" PRIu64
                " torn, %" PRIu64 " unreadable, %" PRIu64 " late\n",
                st->samples, secs, secs > 0 ? (double)st->samples / secs : 0.0, rc->rt.major,
                rc->rt.minor, (int)rc->pid, pp_agg_n_stacks(rc->agg), st->stacks, st->idle,
                st->torn, st->bad, rc->late);
    }
    fprintf(rc->err,
            "pyprof: sample cost: median %u us, p99 %u us; %" PRIu64 " reads, %" PRIu64
            " bytes read\n",
            cost_quantile(rc, 0.5), cost_quantile(rc, 0.99), n_reads, n_bytes);
    if (rc->cfg->gil)
        fprintf(rc->err, "pyprof: --gil: %" PRIu64 " thread samples left out (not holding the GIL)\n",
                st->no_gil);
    if (rc->cfg->native)
        fprintf(rc->err,
                "pyprof: native: %" PRIu64 " stacks merged with native frames, %" PRIu64
                " kept Python-only; %" PRIu64 " thread stops, %" PRIu64 " timed out, %" PRIu64
                " signals passed on\n",
                st->native, st->native_failed, rc->native_stats.stops, rc->native_stats.timeouts,
                rc->native_stats.signals);
    /* Torn samples are dropped, so code whose stack changes fastest is under-counted: say so. */
    if (!rc->cfg->native && st->torn * 10 > st->stacks + st->torn + st->bad)
        fprintf(rc->err,
                "pyprof: note: %.0f%% of thread samples were torn (the stack changed while it "
                "was read) and left out, so the fastest-changing code is under-counted; "
                "-n/--native stops each thread while it is read (the target runs slower)\n",
                100.0 * (double)st->torn / (double)(st->stacks + st->torn + st->bad));
    if (rc->out_path)
        fprintf(rc->err, "pyprof: wrote %s (%s)\n", rc->out_path, pp_format_name(rc->format));
}

int record_run(const struct pyprof_config *cfg, FILE *err)
{
    struct recording rc = { .cfg = cfg, .err = err, .pid = cfg->pid, .watch = { .stat_fd = -1 } };
    struct walk_opts wo = {
        .idle = cfg->idle,
        .lineno = cfg->lineno,
        .function_lines = cfg->function,
        .full_filenames = cfg->full_filenames,
        .gil_only = cfg->gil,
    };
    uint64_t head = 0;
    int code = PYPROF_EXIT_OK, r;

    rc.wo = wo;
    rc.progress = cfg->progress < 0 ? isatty(fileno(err)) : cfg->progress;
    r = target_signals_install();
    if (!r)
        r = pp_agg_new(&rc.agg);
    if (r) {
        fprintf(err, "pyprof: error: %s\n", strerror(-r));
        return PYPROF_EXIT_FATAL;
    }
    if (cfg->output || cfg->format) {
        /* Fail on a bad path before anything is started or attached. */
        code = open_output(&rc);
        if (code)
            goto out;
    }
    if (cfg->argv) {
        r = target_launch(cfg->argv, &rc.pid);
        if (r) {
            fprintf(err, "pyprof: error: cannot run '%s': %s\n", cfg->argv[0], strerror(-r));
            code = PYPROF_EXIT_NOPROC;
            goto out;
        }
        rc.launched = true;
    }
    if (!rc.out) {
        code = open_output(&rc); /* the default name carries the PID */
        if (code)
            goto out;
    }
    if (pp_format_needs_timeline(rc.format))
        pp_agg_timeline_enable(rc.agg);
    mem_init(&rc.mem, rc.pid);
    r = wait_for_interpreter(&rc, &head);
    if (r > 1) {
        code = r;
        goto out;
    }
    if (r == 0) {
        if (cfg->subprocesses)
            r = subs_init(&rc, head);
        else
            r = walker_new(&rc.walker, &rc.mem, &rc.rt, head, rc.pid, rc.agg, &wo);
        if (!r && !cfg->subprocesses) {
            r = target_watch_open(&rc.watch, rc.pid);
            r = r < 0 ? r : 0; /* already gone: the first sample says so */
            rc.watched = now_ns();
        }
        if (r) {
            fprintf(err, "pyprof: error: %s\n", strerror(-r));
            code = PYPROF_EXIT_FATAL;
            goto out;
        }
        if (cfg->native) {
            code = native_init(&rc);
            if (code)
                goto out;
        }
        if (cfg->gil) {
            code = gil_check(&rc, head);
            if (code)
                goto out;
        }
        r = sample_loop(&rc);
        /* Detach before writing: the target runs on at full speed. */
        child_gone(&rc);
        if (rc.tracer)
            rc.native_stats = *tracer_stats(rc.tracer);
        rc.tracer = tracer_free(rc.tracer);
        if (r < 0) {
            fprintf(err, "pyprof: error while sampling: %s (writing what was collected)\n",
                    strerror(-r));
            code = PYPROF_EXIT_FATAL;
        }
    }
    r = write_output(&rc);
    if (r)
        code = r;
    print_summary(&rc);
out:
    child_gone(&rc);
    rc.tracer = tracer_free(rc.tracer);
    rc.unwinder = unwinder_free(rc.unwinder);
    if (rc.out && rc.out != stdout)
        fclose(rc.out);
    /* A launched command is the user's program: let it finish rather than kill it. */
    if (rc.launched && !rc.child_reaped)
        waitpid(rc.pid, &rc.child_status, 0);
    target_watch_close(&rc.watch);
    walker_free(rc.walker);
    subs_free(&rc);
    pp_agg_free(rc.agg);
    return code;
}
