/* SPDX-License-Identifier: MIT */
/* dump: `pyprof dump`, the current Python traceback of every thread of a process. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "dump.h"
#include "pyprof/agg.h"
#include "pyprof/strtab.h"
#include "py/threadinfo.h"
#include "py/walk.h"
#include "sys/tracer.h"
#include "sys/unwind.h"

#define DUMP_SAMPLES 5            /* 3.8-3.10 drop a thread's first sample (torn-read guard) */
#define DUMP_PAUSE_NS 2000000L    /* between samples */
#define ATTACH_WAIT_NS 1000000000LL
#define GIL_TRIES 3               /* readings of the GIL holder while nobody seems to hold it */
#define GIL_PAUSE_NS 1000000L

static void pause_ns(long ns)
{
    struct timespec ts = { .tv_sec = 0, .tv_nsec = ns };

    nanosleep(&ts, NULL);
}

int dump_attach(struct dump_target *t, pid_t pid, FILE *err)
{
    int64_t deadline = attach_mono_ns() + ATTACH_WAIT_NS;
    int r;

    memset(t, 0, sizeof(*t));
    t->pid = pid;
    mem_init(&t->mem, pid);
    for (;;) {
        r = discover_runtime(&t->rt, &t->mem, pid);
        if (!r)
            r = discover_interp_head(&t->rt, &t->mem, &t->head);
        if (!r)
            return 0;
        if (r != DISCOVER_E_NOTREADY || attach_mono_ns() >= deadline)
            return attach_report(&t->rt, t->pid, r, (double)ATTACH_WAIT_NS / NSEC_PER_SEC, err);
        pause_ns(10 * 1000 * 1000);
    }
}

/* One thread of the dump: its last stack in the aggregate and when it was taken. */
struct dump_thread {
    uint64_t tid;
    uint32_t name;   /* string id: the kernel's name (comm) */
    uint32_t stack;  /* index for pp_agg_stack() */
    bool seen;
    bool running;
    bool gil;        /* holds the GIL */
    char pyname[THREADINFO_NAME_MAX + 1]; /* the `threading` name, "" if it has none */
};

/*
 * The `threading` names and the GIL holder of every interpreter, onto the threads of the dump
 * (matched by kernel tid). Best effort: a thread whose Python name cannot be read keeps its comm,
 * and no thread is marked as holding the GIL when the holder cannot be read or nobody holds it.
 */
static void add_thread_info(struct dump_target *t, struct dump_thread *th, size_t n)
{
    struct threadinfo_thread *list = calloc(THREADINFO_MAX_THREADS, sizeof(*list));
    struct threadinfo_names names;
    uint64_t interp = t->head;

    threadinfo_names_init(&names);
    for (size_t ni = 0; list && interp && ni < WALK_MAX_INTERPS; ni++) {
        uint64_t holder = 0;
        size_t nl = 0;
        int r;

        threadinfo_threads(&t->mem, &t->rt.off, interp, t->pid, list, THREADINFO_MAX_THREADS,
                           &nl);
        if (threadinfo_names(&t->mem, &t->rt.off, interp, &names) != 0)
            threadinfo_names_deinit(&names);
        /* The GIL passes between threads: a reading with no holder may be a hand-over. */
        for (int k = 0; k < GIL_TRIES; k++) {
            r = threadinfo_gil_holder(&t->mem, &t->rt.off, t->rt.runtime_addr, interp, &holder);
            if (r || holder)
                break;
            pause_ns(GIL_PAUSE_NS);
        }
        if (r)
            holder = 0;
        for (size_t i = 0; i < n; i++) {
            for (size_t k = 0; k < nl; k++) {
                const char *name;

                if (!list[k].tid || list[k].tid != th[i].tid)
                    continue;
                name = threadinfo_name_of(&names, list[k].ident);
                if (name)
                    snprintf(th[i].pyname, sizeof(th[i].pyname), "%s", name);
                th[i].gil = holder && list[k].tstate == holder;
            }
        }
        if (mem_read_u64(&t->mem, interp + t->rt.off.interp_next, &interp) != 0)
            break;
    }
    threadinfo_names_deinit(&names);
    free(list);
}

/* The name shown for a thread: its `threading` name, else its comm. */
static const char *thread_name(const struct pp_strtab *st, const struct dump_thread *th)
{
    return th->pyname[0] ? th->pyname : pp_strtab_str(st, th->name, NULL);
}

/*
 * The kernel's view of thread @tid: 1 running (state R), 0 not, -1 gone. A thread that exited
 * between the samples and now is left out of the dump.
 */
static int task_state(pid_t pid, uint64_t tid)
{
    char path[64], buf[512];
    const char *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/task/%" PRIu64 "/stat", (int)pid, tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* "TID (comm) S ...": comm may hold ')' itself */
    if (!p || p[1] != ' ' || !p[2])
        return 0;
    return p[2] == 'R';
}

/* Write @s as a JSON string (quotes included). */
static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out); /* UTF-8 passes through */
    }
    fputc('"', out);
}

static int cmp_thread(const void *a, const void *b)
{
    const struct dump_thread *x = a, *y = b;

    return (x->tid > y->tid) - (x->tid < y->tid);
}

static void print_text(const struct dump_target *t, const struct pp_agg *agg,
                       const struct dump_thread *th, size_t n, FILE *out)
{
    const struct pp_strtab *st = pp_agg_strtab_const(agg);

    fprintf(out, "Process %d: Python %u.%u (%s)\n", (int)t->pid, t->rt.major, t->rt.minor,
            t->rt.binary);
    for (size_t i = 0; i < n; i++) {
        struct pp_stack_view v;

        pp_agg_stack(agg, th[i].stack, &v);
        fprintf(out, "\nThread %" PRIu64 " (%s) [%s%s]\n", th[i].tid, thread_name(st, &th[i]),
                th[i].running ? "running" : "idle", th[i].gil ? ", holds the GIL" : "");
        for (uint32_t k = 0; k < v.n_fids; k++) {
            const struct pp_frame *f = pp_agg_frame_get(agg, v.fids[k]);
            const char *file = pp_strtab_str(st, f->file, NULL);

            if (f->origin == PP_ORIGIN_NATIVE)
                fprintf(out, "  Native \"%s\", in %s\n", file, pp_strtab_str(st, f->name, NULL));
            else if (f->line)
                fprintf(out, "  File \"%s\", line %" PRIu32 ", in %s\n", file, f->line,
                        pp_strtab_str(st, f->name, NULL));
            else
                fprintf(out, "  File \"%s\", in %s\n", file, pp_strtab_str(st, f->name, NULL));
        }
    }
}

static void print_json(const struct dump_target *t, const struct pp_agg *agg,
                       const struct dump_thread *th, size_t n, FILE *out)
{
    const struct pp_strtab *st = pp_agg_strtab_const(agg);

    fprintf(out, "{\"pid\":%d,\"python\":\"%u.%u\",\"threads\":[", (int)t->pid, t->rt.major,
            t->rt.minor);
    for (size_t i = 0; i < n; i++) {
        struct pp_stack_view v;

        pp_agg_stack(agg, th[i].stack, &v);
        fprintf(out, "%s{\"tid\":%" PRIu64 ",\"name\":", i ? "," : "", th[i].tid);
        json_str(out, thread_name(st, &th[i]));
        fprintf(out, ",\"state\":\"%s\",\"gil\":%s,\"frames\":[",
                th[i].running ? "running" : "idle", th[i].gil ? "true" : "false");
        for (uint32_t k = 0; k < v.n_fids; k++) {
            const struct pp_frame *f = pp_agg_frame_get(agg, v.fids[v.n_fids - 1 - k]);

            fputs(k ? ",{\"name\":" : "{\"name\":", out);
            json_str(out, pp_strtab_str(st, f->name, NULL));
            fputs(",\"file\":", out);
            json_str(out, pp_strtab_str(st, f->file, NULL));
            fprintf(out, ",\"line\":%" PRIu32 ",\"native\":%s}", f->line,
                    f->origin == PP_ORIGIN_NATIVE ? "true" : "false");
        }
        fputs("]}", out);
    }
    fputs("]}\n", out);
}

int dump_run(const struct pyprof_config *cfg, FILE *out, FILE *err)
{
    struct walk_opts wo = { .idle = true, .lineno = true, .full_filenames = true };
    struct dump_target t;
    struct pp_agg *agg = NULL;
    struct walker *w = NULL;
    struct tracer *tr = NULL;
    struct unwinder *uw = NULL;
    struct dump_thread *th = NULL;
    size_t n = 0, n_samples;
    uint32_t n_threads;
    int code = PYPROF_EXIT_OK, r;

    code = dump_attach(&t, cfg->pid, err);
    if (code)
        goto out;
    r = pp_agg_new(&agg);
    if (!r) {
        pp_agg_timeline_enable(agg);
        r = walker_new(&w, &t.mem, &t.rt, t.head, t.pid, agg, &wo);
    }
    if (r) {
        fprintf(err, "pyprof: error: %s\n", strerror(-r));
        code = PYPROF_EXIT_FATAL;
        goto out;
    }
    if (cfg->native) {
        /* Each thread is stopped for a moment while both of its stacks are read. */
        r = tracer_new(&tr, t.pid);
        if (!r)
            r = unwinder_new(&uw, t.pid, t.rt.binary);
        if (!r)
            r = tracer_stop(tr, t.pid);
        if (r == TRACER_E_PERM) {
            fprintf(err, "pyprof: error: --native needs ptrace and PID %d refused it (EPERM); run\n"
                         "  as root or with CAP_SYS_PTRACE, or drop --native\n", (int)t.pid);
            code = PYPROF_EXIT_PERM;
            goto out;
        }
        if (!r)
            r = tracer_resume(tr, t.pid);
        if (r < 0) {
            fprintf(err, "pyprof: error: native stacks: %s\n", strerror(-r));
            code = PYPROF_EXIT_FATAL;
            goto out;
        }
        walker_set_native(w, tr, uw, false);
    }
    for (int i = 0; i < DUMP_SAMPLES; i++) {
        if (i)
            pause_ns(DUMP_PAUSE_NS);
        r = walker_sample(w, (uint64_t)attach_mono_ns());
        if (r == WALK_E_GONE) {
            fprintf(err, "pyprof: error: process %d exited\n", (int)t.pid);
            code = PYPROF_EXIT_NOPROC;
            goto out;
        }
        if (r < 0) {
            fprintf(err, "pyprof: error while sampling: %s\n", strerror(-r));
            code = PYPROF_EXIT_FATAL;
            goto out;
        }
    }
    /* Each thread's last good stack: the last timeline entry of its thread. */
    n_threads = pp_agg_n_threads(agg);
    th = calloc(n_threads ? n_threads : 1, sizeof(*th));
    if (!th) {
        fprintf(err, "pyprof: error: %s\n", strerror(ENOMEM));
        code = PYPROF_EXIT_FATAL;
        goto out;
    }
    n_samples = pp_agg_n_samples(agg);
    for (size_t i = 0; i < n_samples; i++) {
        const struct pp_sample *s = pp_agg_sample_get(agg, i);
        struct pp_stack_view v;

        pp_agg_stack(agg, s->stack, &v);
        if (v.thread < n_threads) {
            th[v.thread].stack = s->stack;
            th[v.thread].seen = true;
        }
    }
    for (uint32_t i = 0; i < n_threads; i++) {
        const struct pp_thread *pt = pp_agg_thread_get(agg, i);
        int state;

        if (!th[i].seen || !pt)
            continue;
        state = task_state(t.pid, pt->tid);
        if (state < 0)
            continue;
        th[n] = th[i];
        th[n].tid = pt->tid;
        th[n].name = pt->name;
        th[n].running = state == 1;
        n++;
    }
    /* By thread id: the main thread (tid == pid) is normally the lowest. */
    qsort(th, n, sizeof(*th), cmp_thread);
    add_thread_info(&t, th, n);
    if (cfg->json)
        print_json(&t, agg, th, n, out);
    else
        print_text(&t, agg, th, n, out);
    if (fflush(out) != 0) {
        fprintf(err, "pyprof: error: writing the dump: %s\n", strerror(errno));
        code = PYPROF_EXIT_FATAL;
    }
out:
    free(th);
    tracer_free(tr);
    unwinder_free(uw);
    walker_free(w);
    pp_agg_free(agg);
    return code;
}
