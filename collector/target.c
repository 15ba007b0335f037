/* SPDX-License-Identifier: MIT */
/* target: launch a command to profile, watch it, and pass our signals on to it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pyprof/err.h"
#include "target.h"

/*
 * The one piece of process-wide mutable state in pyprof: a signal handler can only talk to the
 * main loop through a variable. Written only by the handler, consumed by target_signal_take().
 */
static volatile sig_atomic_t caught_signal;
static volatile sig_atomic_t caught_from_kernel;

static void on_signal(int sig, siginfo_t *info, void *ctx)
{
    (void)ctx;
    caught_from_kernel = info && info->si_code == SI_KERNEL;
    caught_signal = sig;
}

int target_signals_install(void)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: sleeps return early so we notice at once */
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (sigaction(sigs[i], &sa, NULL) < 0)
            return pp_err_origin(-errno);
    return 0;
}

int target_signal_take(bool *from_tty)
{
    int sig = caught_signal;

    if (sig) {
        caught_signal = 0;
        if (from_tty)
            *from_tty = caught_from_kernel;
    }
    return sig;
}

int target_launch(char *const argv[], pid_t *out_pid)
{
    int pipefd[2], err = 0, r = 0;
    ssize_t n;
    pid_t pid;

    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return pp_err_origin(-errno);
    pid = fork();
    if (pid < 0) {
        r = pp_err_origin(-errno);
        close(pipefd[0]);
        close(pipefd[1]);
        return r;
    }
    if (pid == 0) {
        /* Child: restore default dispositions, exec, report a failed exec through the pipe. */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        close(pipefd[0]);
        execvp(argv[0], argv);
        err = errno;
        if (write(pipefd[1], &err, sizeof(err)) < 0)
            _exit(127);
        _exit(127);
    }
    close(pipefd[1]);
    do {
        n = read(pipefd[0], &err, sizeof(err));
    } while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof(err)) {
        waitpid(pid, NULL, 0);
        return -err;
    }
    *out_pid = pid;
    return 0;
}

bool target_exited(pid_t pid, int *status)
{
    siginfo_t si = { 0 };

    /*
     * Look before reaping: when the child is also traced (--native), waits report its ptrace
     * stops too, and those belong to the tracer.
     */
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno == ECHILD;
    if (si.si_pid != pid)
        return false;
    if (si.si_code != CLD_EXITED && si.si_code != CLD_KILLED && si.si_code != CLD_DUMPED)
        return false;
    return waitpid(pid, status, WNOHANG) == pid;
}

/* === Watching an attached process ======================================================= */

#define STAT_BUF 1024

/* Fields of /proc/PID/stat that an exec changes: startcode, endcode, startstack, start_brk,
 * arg_start (kernels before 3.5 lack the last two: they stay 0). */
static const int image_fields[TARGET_IMAGE_FIELDS] = { 26, 27, 28, 47, 48 };

/*
 * Parse a stat line: its state letter, start time (field 22) and image fields. Returns false
 * when the line is not in the expected shape (then nothing is decided from it).
 */
static bool parse_stat(const char *buf, char *state, uint64_t *start_time,
                       uint64_t image[TARGET_IMAGE_FIELDS])
{
    const char *p = strrchr(buf, ')'); /* "PID (comm) S ...": comm may hold ')' itself */
    int k = 0;

    if (!p || p[1] != ' ' || !p[2])
        return false;
    p += 2;
    *state = *p;
    *start_time = 0;
    memset(image, 0, TARGET_IMAGE_FIELDS * sizeof(image[0]));
    for (int field = 3; p && k < TARGET_IMAGE_FIELDS; field++) {
        uint64_t v = strtoull(p, NULL, 10);

        if (field == 22)
            *start_time = v;
        if (field == image_fields[k])
            image[k++] = v;
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return k >= 3;
}

/* Read @w's held stat file: 0, or -errno (-ESRCH once that process is reaped). */
static int read_stat(const struct target_watch *w, char *buf, size_t cap)
{
    ssize_t n = pread(w->stat_fd, buf, cap - 1, 0);

    if (n < 0)
        return -errno;
    buf[n] = '\0';
    return 0;
}

/* What runs as @pid now: its executable's path, else its name, into @out. */
static void describe_pid(pid_t pid, char *out, size_t cap)
{
    char path[64];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    n = readlink(path, out, cap - 1);
    if (n > 0) {
        out[n] = '\0';
        return;
    }
    snprintf(out, cap, "unknown");
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = read(fd, out, cap - 1);
    close(fd);
    if (n <= 0) {
        snprintf(out, cap, "unknown");
        return;
    }
    out[n] = '\0';
    out[strcspn(out, "\n")] = '\0';
}

static bool image_gone(const uint64_t image[TARGET_IMAGE_FIELDS])
{
    for (int i = 0; i < TARGET_IMAGE_FIELDS; i++)
        if (image[i])
            return false;
    return true;
}

int target_watch_open(struct target_watch *w, pid_t pid)
{
    char path[64], buf[STAT_BUF], state;
    int r;

    memset(w, 0, sizeof(*w));
    w->pid = pid;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    w->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (w->stat_fd < 0)
        return errno == ENOENT || errno == ESRCH ? TARGET_EXITED : pp_err_origin(-errno);
    r = read_stat(w, buf, sizeof(buf));
    if (r == -ESRCH)
        return TARGET_EXITED;
    if (r)
        return pp_err_origin(r);
    if (!parse_stat(buf, &state, &w->start_time, w->image)) {
        target_watch_close(w); /* an unknown stat format: nothing to compare, never a verdict */
        return 0;
    }
    if (state == 'Z' || state == 'X' || image_gone(w->image))
        return TARGET_EXITED;
    return 0;
}

int target_watch_check(struct target_watch *w)
{
    uint64_t start_time, image[TARGET_IMAGE_FIELDS];
    char path[64], buf[STAT_BUF], state;
    int r;

    if (w->stat_fd < 0)
        return TARGET_SAME;
    r = read_stat(w, buf, sizeof(buf));
    if (r == -ESRCH) {
        /* That process is reaped: the PID is free, or someone else's already. */
        snprintf(path, sizeof(path), "/proc/%d", (int)w->pid);
        if (access(path, F_OK) != 0)
            return TARGET_EXITED;
        describe_pid(w->pid, w->now, sizeof(w->now));
        return TARGET_REUSED;
    }
    if (r)
        return pp_err_origin(r);
    if (!parse_stat(buf, &state, &start_time, image))
        return TARGET_SAME;
    if (state == 'Z' || state == 'X')
        return TARGET_EXITED;
    /* No address space: exiting (the walk fails with ESRCH), or between two in an exec; the
     * next check decides. */
    if (image_gone(image))
        return TARGET_SAME;
    if (start_time != w->start_time) {
        describe_pid(w->pid, w->now, sizeof(w->now));
        return TARGET_REUSED;
    }
    if (memcmp(image, w->image, sizeof(image)) != 0) {
        describe_pid(w->pid, w->now, sizeof(w->now));
        return TARGET_EXECED;
    }
    return TARGET_SAME;
}

void target_watch_close(struct target_watch *w)
{
    if (w->stat_fd >= 0)
        close(w->stat_fd);
    w->stat_fd = -1;
}
