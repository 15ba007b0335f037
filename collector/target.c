/* SPDX-License-Identifier: MIT */
/* target: launch a command to profile, watch it, and pass our signals on to it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
    pid_t r = waitpid(pid, status, WNOHANG);

    return r == pid || (r < 0 && errno == ECHILD);
}
