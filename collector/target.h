/* SPDX-License-Identifier: MIT */
/* target: launch a command to profile, watch it, and pass our signals on to it. */
#pragma once

#include <stdbool.h>
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
