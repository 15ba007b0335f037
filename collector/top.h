/* SPDX-License-Identifier: MIT */
/* top: `pyprof top`, a live table of where a process spends its time. */
#pragma once

#include <stdio.h>

#include "cli.h"

/*
 * top_run() - `pyprof top`: sample the running threads of cfg->pid at cfg->rate and, when @out
 * is a terminal, redraw a table every second on the alternate screen (keys: 1-4 sort, c view,
 * q quit; the terminal is always restored). Otherwise sample for cfg->duration seconds (1 when
 * 0), print one table and return. Returns a PYPROF_EXIT_* code; errors are explained on @err.
 */
int top_run(const struct pyprof_config *cfg, FILE *out, FILE *err);
