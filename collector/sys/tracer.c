/* SPDX-License-Identifier: MIT */
/* tracer: stop and resume single threads with PTRACE_SEIZE / PTRACE_INTERRUPT / PTRACE_CONT. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>

#include "pyprof/err.h"
#include "pyprof/hash.h"
#include "sys/tracer.h"

enum thread_state {
    T_DEAD = 0,   /* slot free: the thread exited or was detached */
    T_RUNNING,    /* seized, running */
    T_STOPPED,    /* stopped by us, waiting for tracer_resume() */
    T_PENDING,    /* interrupted, stop not seen yet (timed out): resume it when it comes */
};

struct thread {
    pid_t tid;
    uint8_t state;
    bool group_stop;   /* the stop seen is a group stop: resume with PTRACE_LISTEN */
    int signal;        /* a signal to pass on when resuming, or 0 */
};

struct tracer {
    pid_t pid;
    struct thread *threads;
    size_t n, cap;
    struct pp_u64map *index; /* tid -> slot */
    bool leader_reaped;
    int leader_status;
    struct tracer_stats stats;
};

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int tracer_new(struct tracer **out, pid_t pid)
{
    struct tracer *t = calloc(1, sizeof(*t));
    int r;

    if (!t)
        return pp_err_origin(-ENOMEM);
    t->pid = pid;
    t->cap = 64;
    t->threads = calloc(t->cap, sizeof(*t->threads));
    r = t->threads ? pp_u64map_new(&t->index, TRACER_MAX_THREADS * 2) : -ENOMEM;
    if (r) {
        free(t->threads);
        free(t);
        return pp_err_origin(r);
    }
    *out = t;
    return 0;
}

/* The slot of @tid, or NULL. */
static struct thread *find(struct tracer *t, pid_t tid)
{
    uint64_t i;

    if (pp_u64map_get(t->index, (uint64_t)tid, &i) || i >= t->n || t->threads[i].tid != tid ||
        t->threads[i].state == T_DEAD)
        return NULL;
    return &t->threads[i];
}

/* Drop dead slots and rebuild the index. */
static void compact(struct tracer *t)
{
    size_t k = 0;

    pp_u64map_clear(t->index);
    for (size_t i = 0; i < t->n; i++) {
        if (t->threads[i].state == T_DEAD)
            continue;
        t->threads[k] = t->threads[i];
        pp_u64map_put(t->index, (uint64_t)t->threads[k].tid, k);
        k++;
    }
    t->n = k;
}

/* A new slot for @tid (not seized yet). NULL on -ENOMEM or too many threads. */
static struct thread *add(struct tracer *t, pid_t tid)
{
    struct thread *th;

    if (t->n == t->cap)
        compact(t);
    if (t->n == t->cap) {
        size_t cap = t->cap * 2;
        struct thread *nt;

        if (cap > TRACER_MAX_THREADS)
            return NULL;
        nt = realloc(t->threads, cap * sizeof(*nt));
        if (!nt)
            return NULL;
        t->threads = nt;
        t->cap = cap;
    }
    if (pp_u64map_put(t->index, (uint64_t)tid, t->n)) {
        compact(t);
        if (pp_u64map_put(t->index, (uint64_t)tid, t->n))
            return NULL;
    }
    th = &t->threads[t->n++];
    *th = (struct thread){ .tid = tid, .state = T_RUNNING };
    return th;
}

static void forget(struct tracer *t, struct thread *th, int status)
{
    if (th->tid == t->pid) {
        t->leader_reaped = true;
        t->leader_status = status;
    }
    th->state = T_DEAD;
    t->stats.exits++;
}

enum report {
    R_OUR_STOP,   /* the stop PTRACE_INTERRUPT asked for (or a group stop) */
    R_SIGNAL,     /* a signal-delivery stop: th->signal is set, the thread is stopped */
    R_EXITED,
    R_EXEC,
    R_OTHER,      /* another ptrace event: the thread is stopped, resume it plainly */
};

/* Classify one wait status of @th. */
static enum report classify(struct tracer *t, struct thread *th, int status)
{
    int sig, event;

    if (WIFEXITED(status) || WIFSIGNALED(status)) {
        forget(t, th, status);
        return R_EXITED;
    }
    if (!WIFSTOPPED(status))
        return R_OTHER;
    sig = WSTOPSIG(status);
    event = (unsigned)status >> 16;
    if (event == PTRACE_EVENT_STOP) {
        /* SIGTRAP: our interrupt; SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU: a group stop. */
        th->group_stop = sig != SIGTRAP;
        return R_OUR_STOP;
    }
    if (event == PTRACE_EVENT_EXEC)
        return R_EXEC;
    if (event)
        return R_OTHER;
    th->signal = sig;
    return R_SIGNAL;
}

/* Resume a stopped thread, passing on its pending signal; a group stop stays a group stop. */
static int resume(struct tracer *t, struct thread *th)
{
    long r;
    int sig = th->signal;

    th->signal = 0;
    if (th->group_stop)
        r = ptrace(PTRACE_LISTEN, th->tid, 0, 0);
    else
        r = ptrace(PTRACE_CONT, th->tid, 0, (void *)(long)sig);
    th->group_stop = false;
    if (sig)
        t->stats.signals++;
    if (r < 0 && errno == ESRCH) {
        /* Gone meanwhile (killed): its exit is reaped by a later wait. */
        th->state = T_RUNNING;
        return 0;
    }
    if (r < 0)
        return pp_err_origin(-errno);
    th->state = T_RUNNING;
    return 0;
}

/*
 * Wait for the stop of @th (PTRACE_INTERRUPT sent) until @deadline, passing on signals that come
 * first. Returns 0 (stopped), TRACER_E_GONE, TRACER_E_EXEC, TRACER_E_TIMEOUT or -errno.
 */
static int wait_stop(struct tracer *t, struct thread *th, int64_t deadline)
{
    long spin = 0;

    for (;;) {
        int status = 0, r;
        pid_t w = waitpid(th->tid, &status, __WALL | WNOHANG);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ECHILD) {
                forget(t, th, 0);
                return TRACER_E_GONE;
            }
            return pp_err_origin(-errno);
        }
        if (w == 0) {
            struct timespec ts = { 0, spin < 50 ? 0 : 20000 };

            if (mono_ns() > deadline) {
                th->state = T_PENDING;
                t->stats.timeouts++;
                return TRACER_E_TIMEOUT;
            }
            /* Stops take tens of microseconds: yield first, then sleep in small steps. */
            if (spin++ < 50)
                sched_yield();
            else
                nanosleep(&ts, NULL);
            continue;
        }
        switch (classify(t, th, status)) {
        case R_OUR_STOP:
            th->state = T_STOPPED;
            return 0;
        case R_EXITED:
            return TRACER_E_GONE;
        case R_EXEC:
            th->state = T_STOPPED;
            resume(t, th);
            return TRACER_E_EXEC;
        case R_SIGNAL:
        case R_OTHER:
            /* Pass a signal on now; our interrupt is still due and stops the thread next. */
            r = resume(t, th);
            if (r)
                return r;
            th->state = T_PENDING;
            break;
        }
    }
}

int tracer_stop(struct tracer *t, pid_t tid)
{
    struct thread *th = find(t, tid);
    int r;

    if (!th) {
        th = add(t, tid);
        if (!th)
            return pp_err_origin(-ENOMEM);
        /* TRACEEXEC: an exec reports an event instead of a SIGTRAP that would kill the target. */
        if (ptrace(PTRACE_SEIZE, tid, 0, (void *)(long)PTRACE_O_TRACEEXEC) < 0) {
            r = errno;
            th->state = T_DEAD;
            if (r == ESRCH)
                return TRACER_E_GONE;
            if (r == EPERM)
                return TRACER_E_PERM;
            return pp_err_origin(-r);
        }
    }
    if (th->state == T_STOPPED)
        return 0;
    if (th->state == T_RUNNING && ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0) {
        if (errno != ESRCH)
            return pp_err_origin(-errno);
        /* Exiting: reap it if it is already a zombie, else leave it to tracer_poll(). */
    }
    th->state = T_PENDING;
    r = wait_stop(t, th, mono_ns() + TRACER_STOP_TIMEOUT_NS);
    if (r == 0)
        t->stats.stops++;
    return r;
}

int tracer_resume(struct tracer *t, pid_t tid)
{
    struct thread *th = find(t, tid);

    if (!th || th->state != T_STOPPED)
        return 0;
    return resume(t, th);
}

int tracer_poll(struct tracer *t)
{
    int ret = 0;

    for (size_t i = 0; i < t->n; i++) {
        struct thread *th = &t->threads[i];

        for (int k = 0; th->state != T_DEAD && th->state != T_STOPPED && k < 8; k++) {
            int status = 0, r;
            pid_t w = waitpid(th->tid, &status, __WALL | WNOHANG);

            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                forget(t, th, 0);
                break;
            }
            if (w == 0)
                break;
            switch (classify(t, th, status)) {
            case R_EXITED:
                break;
            case R_EXEC:
                ret = TRACER_E_EXEC;
                /* fall through */
            case R_OUR_STOP:
            case R_SIGNAL:
            case R_OTHER:
                th->state = T_STOPPED;
                r = resume(t, th);
                if (r)
                    return r;
                break;
            }
        }
    }
    return ret;
}

struct tracer *tracer_free(struct tracer *t)
{
    if (!t)
        return NULL;
    for (size_t i = 0; i < t->n; i++) {
        struct thread *th = &t->threads[i];
        int r;

        if (th->state == T_DEAD)
            continue;
        /* PTRACE_DETACH needs a stopped tracee: stop it (bounded), then detach with its signal. */
        if (th->state == T_RUNNING && ptrace(PTRACE_INTERRUPT, th->tid, 0, 0) < 0) {
            th->state = T_DEAD;
            continue;
        }
        if (th->state != T_STOPPED) {
            th->state = T_PENDING;
            r = wait_stop(t, th, mono_ns() + TRACER_STOP_TIMEOUT_NS);
            if (r)
                continue; /* gone, or not stopping: the kernel detaches it when we exit */
        }
        ptrace(PTRACE_DETACH, th->tid, 0, (void *)(long)th->signal);
        th->state = T_DEAD;
    }
    pp_u64map_free(t->index);
    free(t->threads);
    free(t);
    return NULL;
}

bool tracer_leader_exit(const struct tracer *t, int *status)
{
    if (t->leader_reaped && status)
        *status = t->leader_status;
    return t->leader_reaped;
}

const struct tracer_stats *tracer_stats(const struct tracer *t)
{
    return &t->stats;
}
