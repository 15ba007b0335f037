/* SPDX-License-Identifier: MIT */
/*
 * Unit test: the native stack of a real stopped child, symbolised. The child runs
 * level_one -> level_two -> level_three, which spins; the unwind must give exactly those three
 * frames (innermost first) below main, from this test binary, and the same PCs must come back
 * from the symbol cache.
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sys/tracer.h"
#include "sys/unwind.h"
#include "t.h"

static volatile int *ready;
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

    (void)argc;
    ready = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_ASSERT(ready != MAP_FAILED);
    len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    T_ASSERT(len > 0);
    self[len > 0 ? len : 0] = '\0';
    child = fork();
    if (child == 0)
        level_one();
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
