/* SPDX-License-Identifier: MIT */
/* target: launch a command to profile, watch it, and pass our signals on to it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * target_launch() - fork and exec @argv (PATH is searched), in our process group so it keeps the
 * terminal. Returns 0 and *out_pid once exec succeeded, or a negative errno: the errno of the
 * failed exec (e.g. -ENOENT) or of fork. Nothing is left running on failure.
 */
int target_launch(char *const argv[], pid_t *out_pid);

/*
 * target_exited() - true when the launched child @pid has exited (it is reaped and its wait
 * status stored in *status). Never blocks.
 */
bool target_exited(pid_t pid, int *status);

/*
 * target_signals_install() - catch SIGINT, SIGTERM and SIGHUP so that recording stops cleanly.
 * The handler only records the signal; target_signal_take() reports it. Returns 0 or -errno.
 */
int target_signals_install(void);

/*
 * target_signal_take() - the last signal caught since the previous call (0 if none), and in
 * *from_tty whether the kernel sent it (Ctrl-C at the terminal reaches the whole foreground
 * process group, a launched child included) rather than kill(2) aimed at pyprof alone.
 */
int target_signal_take(bool *from_tty);

/* === Watching an attached process for exit, exec and PID reuse ========================== */

/* What target_watch_check() found. */
enum {
    TARGET_SAME = 0,
    TARGET_EXITED,   /* the process exited (exiting, a zombie, or reaped with its PID free) */
    TARGET_REUSED,   /* it exited and its PID now belongs to another process (named in now) */
    TARGET_EXECED,   /* it replaced its program with execve (the new one named in now) */
};

#define TARGET_IMAGE_FIELDS 5

/*
 * The identity of a process, taken once its interpreter is found. It holds /proc/PID/stat
 * open: reads of that descriptor fail with ESRCH once that very process is reaped, whoever
 * gets the PID next (the kernel ties the file to the process, not to the number), so reuse is
 * told from a live process without a start-time race. An exec keeps the PID, the descriptor
 * and the start time but maps a new program: the code, stack and heap start addresses of the
 * stat file change (with ASLR always; without it, unless the same binary runs again).
 */
struct target_watch {
    pid_t pid;
    int stat_fd;                              /* -1 when not open */
    uint64_t start_time;                      /* field 22, in clock ticks since boot */
    uint64_t image[TARGET_IMAGE_FIELDS];      /* fields 26-28, 47, 48: where the program lives */
    char now[256];                            /* after a change: the new program, or the PID's
                                               * new owner (its executable, else its name) */
};

/*
 * target_watch_open() - start watching @pid (one open and one read of /proc/PID/stat).
 * Returns 0, TARGET_EXITED when it is already gone, or a negative errno. On any return
 * target_watch_close() is safe.
 */
int target_watch_open(struct target_watch *w, pid_t pid);

/*
 * target_watch_check() - is @w's process still the same program? One pread of the held stat
 * file; more work only when something changed. Returns TARGET_SAME, TARGET_EXITED,
 * TARGET_REUSED or TARGET_EXECED (w->now says what runs now), or a negative errno.
 */
int target_watch_check(struct target_watch *w);

/* target_watch_close() - release @w's descriptor. Idempotent. */
void target_watch_close(struct target_watch *w);
