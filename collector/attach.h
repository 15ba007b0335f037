/* SPDX-License-Identifier: MIT */
/* attach: what every command that reads a process shares: clocks and discovery error reports. */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "py/discover.h"

#define NSEC_PER_SEC 1000000000LL

/* attach_mono_ns() / attach_real_ns() / attach_cpu_ns() - CLOCK_MONOTONIC, CLOCK_REALTIME and
 * this process's CPU time, in nanoseconds. */
int64_t attach_mono_ns(void);
int64_t attach_real_ns(void);
int64_t attach_cpu_ns(void);

/*
 * attach_sleep_until() - sleep until CLOCK_MONOTONIC reaches @mono_ns (absolute, so late
 * wake-ups never add up). Returns early on a signal, on purpose: callers check for signals.
 */
void attach_sleep_until(int64_t mono_ns);

/*
 * attach_report() - print why discovery of @pid failed with @r (a DISCOVER_E_* code from
 * discover_runtime / discover_interp_head, or a negative errno) and return the documented exit
 * code (enum pyprof_exit). @rt holds the details discovery found; @wait_s is how long a
 * not-yet-initialised interpreter was waited for (for DISCOVER_E_NOTREADY). Permission errors
 * print the exact fixes: root, Docker's --cap-add SYS_PTRACE, Kubernetes' securityContext, setcap.
 */
int attach_report(const struct py_runtime *rt, pid_t pid, int r, double wait_s, FILE *err);
