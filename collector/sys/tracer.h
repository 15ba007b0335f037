/* SPDX-License-Identifier: MIT */
/*
 * tracer: stop and resume single threads of a running process with ptrace, for native stacks.
 *
 * A thread is seized (PTRACE_SEIZE, which does not stop it) the first time it is stopped, then
 * each sample is PTRACE_INTERRUPT -> wait for the stop -> (caller reads registers and stack) ->
 * PTRACE_CONT. Threads never stopped are never touched. Signals that arrive for a seized thread
 * are passed on at once (tracer_poll() and every wait), a group stop (SIGSTOP of the whole
 * process) is kept with PTRACE_LISTEN, and tracer_free() detaches everything. If the collector is
 * killed, the kernel detaches its tracees and resumes them: the target is never left stopped.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define TRACER_MAX_THREADS 4096
#define TRACER_STOP_TIMEOUT_NS 100000000LL /* a stop not seen after 100 ms: give up this sample */

enum {
    TRACER_E_NONE = 0,
    TRACER_E_GONE,    /* the thread exited (or the process exec'd): nothing to read */
    TRACER_E_TIMEOUT, /* the thread did not stop in time (e.g. uninterruptible sleep) */
    TRACER_E_PERM,    /* ptrace refused (EPERM): no native stacks for this process */
    TRACER_E_EXEC,    /* the process called execve: stop sampling it */
};

struct tracer_stats {
    uint64_t stops;      /* threads stopped and resumed */
    uint64_t timeouts;   /* stops given up after TRACER_STOP_TIMEOUT_NS */
    uint64_t signals;    /* signals passed on to the target */
    uint64_t exits;      /* traced threads seen exiting */
};

struct tracer;

/*
 * tracer_new() - prepare to trace threads of process @pid. Touches nothing in the target until
 * a thread is stopped. 0 or -ENOMEM.
 */
int tracer_new(struct tracer **out, pid_t pid);

/*
 * tracer_free() - detach every seized thread (each is stopped briefly and detached, or was
 * already gone) and free. A stop that was pending is consumed first. NULL-safe; returns NULL.
 */
struct tracer *tracer_free(struct tracer *t);

/*
 * tracer_stop() - stop thread @tid (seizing it first if needed) and wait until it is stopped.
 * On 0 the thread is stopped and the caller must call tracer_resume() for it. Returns
 * TRACER_E_GONE, TRACER_E_TIMEOUT, TRACER_E_PERM or TRACER_E_EXEC when it is not stopped (nothing
 * to resume), or a negative errno.
 */
int tracer_stop(struct tracer *t, pid_t tid);

/*
 * tracer_resume() - resume thread @tid after tracer_stop(), passing on any signal that arrived
 * meanwhile. A thread that exited meanwhile is not an error. 0 or a negative errno.
 */
int tracer_resume(struct tracer *t, pid_t tid);

/*
 * tracer_poll() - handle, without blocking, whatever the seized threads reported since the
 * last call: signals are passed on, exits are forgotten, a late stop is resumed. Call it once
 * per sample so a signal sent to the target is never held up longer than one period.
 * Returns 0, TRACER_E_EXEC (the process exec'd) or a negative errno.
 */
int tracer_poll(struct tracer *t);

/*
 * tracer_leader_exit() - true if the thread group leader (tid == pid) was reaped by the tracer
 * (a launched child reports its exit through here, since waits for it go through ptrace);
 * *status then holds its wait status.
 */
bool tracer_leader_exit(const struct tracer *t, int *status);

/* tracer_stats() - the counters so far. */
const struct tracer_stats *tracer_stats(const struct tracer *t);
