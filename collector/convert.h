/* SPDX-License-Identifier: MIT */
/* convert: `pyprof convert` and `pyprof diff` over profile files. */
#pragma once

#include <stdio.h>

#include "cli.h"

/*
 * convert_run() - run `pyprof convert` (cfg->inputs[0] to cfg->output in cfg->format) or
 * `pyprof diff` (cfg->inputs[0] = BEFORE, [1] = AFTER, written as a differential flame graph).
 * Inputs are folded text (read as a stream: memory follows distinct stacks, not file size) or
 * pprof (gzipped or not, told apart by content). Messages go to @err. Returns an exit code:
 * 0, PYPROF_EXIT_NOINPUT, PYPROF_EXIT_DATAERR or PYPROF_EXIT_FATAL.
 */
int convert_run(const struct pyprof_config *cfg, FILE *err);
