/* SPDX-License-Identifier: MIT */
/* children: find the descendants of a process by scanning the parent pids in /proc. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

struct children;

/*
 * children_new() - follow the descendants of @root (itself never reported). 0, -ENOMEM, or
 * -ESRCH when @root does not exist.
 */
int children_new(struct children **out, pid_t root);

/* children_free() - NULL-safe. Returns NULL. */
struct children *children_free(struct children *c);

/*
 * children_scan() - one pass over /proc/[pid]/stat: every live process whose parent is @root or
 * a descendant found before (transitively, in one scan) is a descendant. Processes are told apart
 * by pid and start time, so a reused pid is not taken for an old descendant. Descendants whose
 * parent exited stay followed (they are reparented). Returns 0 with the descendants first seen in
 * this scan in *out_new[0..*n_new) (owned by @c, valid until the next scan), or -ENOMEM / a
 * negative errno from opendir.
 */
int children_scan(struct children *c, const pid_t **out_new, size_t *n_new);
