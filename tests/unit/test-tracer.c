/* SPDX-License-Identifier: MIT */
/*
 * Unit test: stop and resume a real child process with the tracer. The child counts in a loop and
 * counts SIGUSR1 deliveries; every stop must really stop it (its counter does not move while
 * stopped), every resume must let it run on, a signal sent while it is traced must reach its
 * handler, and after tracer_free() the child is untraced and running. The child is this binary
 * exec'd again in its "child" role, so under valgrind (which does not follow exec) the tracer is
 * checked while the child runs natively.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sys/tracer.h"
#include "t.h"

struct shared {
    volatile uint64_t counter;
    volatile int signals;
};

static struct shared *sh;

static void on_usr1(int sig)
{
    (void)sig;
    sh->signals++;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* Field 3 of /proc/PID/stat: the state letter. */
static char state_of(pid_t pid)
{
    char path[64], buf[512], *p;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return '?';
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    return p && p[1] && p[2] ? p[2] : '?';
}

static int tracer_pid_of(pid_t pid)
{
    char path[64], line[256];
    int tp = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "TracerPid: %d", &tp) == 1)
            break;
    fclose(f);
    return tp;
}

int main(int argc, char **argv)
{
    struct tracer *t = NULL;
    char fdarg[16];
    pid_t child;
    int status, fd;

    if (argc == 3 && !strcmp(argv[1], "child")) {
        sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED, atoi(argv[2]), 0);
        if (sh == MAP_FAILED)
            return 2;
        signal(SIGUSR1, on_usr1);
        for (;;)
            sh->counter++;
    }
    fd = memfd_create("test-tracer", 0);
    T_ASSERT(fd >= 0 && ftruncate(fd, sizeof(*sh)) == 0);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    T_ASSERT(sh != MAP_FAILED);
    snprintf(fdarg, sizeof(fdarg), "%d", fd);
    child = fork();
    if (child == 0) {
        execl(argv[0], argv[0], "child", fdarg, (char *)NULL);
        _exit(127);
    }
    while (sh->counter == 0)
        sleep_ms(1);

    T_EQ_INT(tracer_new(&t, child), 0);
    {
        int r = tracer_stop(t, child);

        if (r == TRACER_E_PERM) {
            kill(child, SIGKILL);
            waitpid(child, NULL, 0);
            tracer_free(t);
            T_SKIP("ptrace not permitted here");
        }
        T_EQ_INT(r, 0);
    }
    /* Stopped: the counter stands still and the kernel shows a tracing stop. */
    {
        uint64_t c0 = sh->counter;

        sleep_ms(20);
        T_EQ_INT(sh->counter, c0);
        T_EQ_INT(state_of(child), 't');
        T_EQ_INT(tracer_pid_of(child), getpid());
    }
    T_EQ_INT(tracer_resume(t, child), 0);
    {
        uint64_t c0 = sh->counter;

        sleep_ms(20);
        T_ASSERT(sh->counter > c0);
    }
    /* Many cycles, as sampling does. */
    for (int i = 0; i < 200; i++) {
        T_EQ_INT(tracer_stop(t, child), 0);
        T_EQ_INT(tracer_resume(t, child), 0);
    }
    T_EQ_INT((int64_t)tracer_stats(t)->stops, 201);

    /* A signal sent while traced is passed on (by tracer_poll or the next stop). */
    kill(child, SIGUSR1);
    for (int i = 0; i < 100 && sh->signals == 0; i++) {
        T_EQ_INT(tracer_poll(t), 0);
        sleep_ms(2);
    }
    T_EQ_INT(sh->signals, 1);
    kill(child, SIGUSR1);
    sleep_ms(5);
    T_EQ_INT(tracer_stop(t, child), 0); /* the signal stop comes first: passed on, then ours */
    T_EQ_INT(tracer_resume(t, child), 0);
    for (int i = 0; i < 100 && sh->signals < 2; i++) {
        tracer_poll(t);
        sleep_ms(2);
    }
    T_EQ_INT(sh->signals, 2);
    T_ASSERT(tracer_stats(t)->signals >= 2);

    /* Stop it and free the tracer while it is stopped: detached and running again. */
    T_EQ_INT(tracer_stop(t, child), 0);
    t = tracer_free(t);
    T_EQ_INT(tracer_pid_of(child), 0);
    {
        uint64_t c0 = sh->counter;

        sleep_ms(20);
        T_ASSERT(sh->counter > c0);
        T_ASSERT(state_of(child) != 't' && state_of(child) != 'T');
    }

    /* A thread that is gone. */
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    T_EQ_INT(tracer_new(&t, child), 0);
    T_EQ_INT(tracer_stop(t, child), TRACER_E_GONE);
    tracer_free(t);
    T_DONE();
}
