/* SPDX-License-Identifier: MIT */
/* attach: what every command that reads a process shares: clocks and discovery error reports. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

int64_t attach_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int64_t attach_real_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

int64_t attach_cpu_ns(void)
{
    return clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

void attach_sleep_until(int64_t mono_ns)
{
    struct timespec ts = { .tv_sec = mono_ns / NSEC_PER_SEC, .tv_nsec = mono_ns % NSEC_PER_SEC };

    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static void print_perm_help(FILE *err, pid_t pid)
{
    fprintf(err,
            "pyprof: error: permission denied reading the memory of PID %d.\n"
            "  Run pyprof as root (sudo pyprof ...) or as the target's user, or give it\n"
            "  CAP_SYS_PTRACE:\n"
            "    Docker:      docker run --cap-add SYS_PTRACE ...\n"
            "    Kubernetes:  securityContext: {capabilities: {add: [SYS_PTRACE]}}\n"
            "    a binary:    sudo setcap cap_sys_ptrace+ep $(command -v pyprof)\n",
            (int)pid);
    if (access("/proc/sys/kernel/yama/ptrace_scope", F_OK) == 0)
        fprintf(err, "  Yama is active: see /proc/sys/kernel/yama/ptrace_scope (0 = classic).\n");
}

int attach_report(const struct py_runtime *rt, pid_t pid, int r, double wait_s, FILE *err)
{
    switch (r) {
    case DISCOVER_E_GONE:
        fprintf(err, "pyprof: error: %s\n", rt->why[0] ? rt->why : "no such process");
        return PYPROF_EXIT_NOPROC;
    case DISCOVER_E_PERM:
        print_perm_help(err, pid);
        return PYPROF_EXIT_PERM;
    case DISCOVER_E_UNSUPPORTED:
        fprintf(err, "pyprof: error: %s\n", rt->why);
        return PYPROF_EXIT_UNSUPPORTED;
    case DISCOVER_E_NOTPY:
        fprintf(err, "pyprof: error: not a Python process: %s\n", rt->why);
        fprintf(err, "  If it starts Python as a child, point --pid at that child instead.\n");
        return PYPROF_EXIT_NOTPY;
    case DISCOVER_E_NOTREADY:
        fprintf(err,
                "pyprof: error: found Python %u.%u in %s, but its interpreter did not come up "
                "within %.0f s\n",
                rt->major, rt->minor, rt->binary, wait_s);
        return PYPROF_EXIT_NOTPY;
    default:
        fprintf(err, "pyprof: error: looking for Python in PID %d: %s\n", (int)pid,
                strerror(r < 0 ? -r : EIO));
        return PYPROF_EXIT_FATAL;
    }
}
