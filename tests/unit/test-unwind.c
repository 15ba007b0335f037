/* SPDX-License-Identifier: MIT */
/*
 * Unit test: the native stack of a real stopped child, symbolised. The child runs
 * level_one -> level_two -> level_three, which spins; the unwind must give exactly those three
 * frames (innermost first) below main, from this test binary, and the same PCs must come back
 * from the symbol cache. The child is this binary exec'd again in its "child" role, so under
 * valgrind (which does not follow exec) the tracer and unwinder are checked while the child
 * runs natively.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sys/tracer.h"
#include "sys/unwind.h"
#include "t.h"

static volatile int *ready;

/* A shared page both processes map: a memfd inherited across exec (its number in argv[2]). */
static volatile int *shared_page(int fd)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

    return p == MAP_FAILED ? NULL : p;
}
static volatile unsigned long sink;

__attribute__((noinline)) static void level_three(void)
{
    *ready = 1;
    for (;;)
        sink++;
}

__attribute__((noinline)) static void level_two(void)
{
    level_three();
    sink += 2;
}

__attribute__((noinline)) static void level_one(void)
{
    level_two();
    sink += 3;
}

int main(int argc, char **argv)
{
    struct tracer *t = NULL;
    struct unwinder *u = NULL;
    uint64_t ips[UNWIND_MAX_DEPTH];
    const char *want[] = { "level_three", "level_two", "level_one", "main" };
    char self[4096];
    ssize_t len;
    size_t n = 0;
    pid_t child;
    int r;

    int fd;
    char fdarg[16];

    if (argc == 3 && !strcmp(argv[1], "child")) {
        ready = shared_page(atoi(argv[2]));
        if (!ready)
            return 2;
        level_one();
    }
    fd = memfd_create("test-unwind", 0);
    T_ASSERT(fd >= 0 && ftruncate(fd, 4096) == 0);
    ready = shared_page(fd);
    T_ASSERT(ready != NULL);
    snprintf(fdarg, sizeof(fdarg), "%d", fd);
    len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    T_ASSERT(len > 0);
    self[len > 0 ? len : 0] = '\0';
    child = fork();
    if (child == 0) {
        execl(argv[0], argv[0], "child", fdarg, (char *)NULL);
        _exit(127);
    }
    while (!*ready)
        usleep(1000);

    T_EQ_INT(tracer_new(&t, child), 0);
    r = tracer_stop(t, child);
    if (r == TRACER_E_PERM) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        T_SKIP("ptrace not permitted here");
    }
    T_EQ_INT(r, 0);
    T_EQ_INT(unwinder_new(&u, child, argv[0]), 0);
    for (int round = 0; round < 2; round++) {
        T_EQ_INT(unwinder_unwind(u, child, ips, UNWIND_MAX_DEPTH, &n), 0);
        T_ASSERT(n >= 4);
        for (size_t i = 0; i < 4 && i < n; i++) {
            struct unwind_sym s;

            T_EQ_INT(unwinder_symbol(u, ips[i], i > 0, &s), 0);
            T_EQ_STR(s.name, want[i]);
            /* The test binary is the "interpreter" object here. */
            T_EQ_STR(s.object, strrchr(self, '/') + 1);
            T_EQ_INT(s.kind, UNWIND_INTERP);
        }
        /* Below main: the C runtime, from libc. */
        if (n > 4) {
            struct unwind_sym s;

            T_EQ_INT(unwinder_symbol(u, ips[4], true, &s), 0);
            T_ASSERT(s.object && !strncmp(s.object, "libc", 4));
            T_EQ_INT(s.kind, UNWIND_OTHER);
        }
        T_EQ_INT(tracer_resume(t, child), 0);
        usleep(2000);
        T_EQ_INT(tracer_stop(t, child), 0);
    }
    tracer_resume(t, child);
    tracer_free(t);
    unwinder_free(u);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    T_DONE();
}
