/* SPDX-License-Identifier: MIT */
/* record: the `pyprof record` job: find the interpreter, sample it, write the profile. */
#pragma once

#include <stdio.h>

#include "cli.h"

/*
 * record_run() - run `pyprof record` as configured: launch or attach, wait for the interpreter,
 * sample at cfg->rate until the duration ends, the target exits or a signal arrives, then write
 * the output. The output file is opened before sampling starts, so a bad path costs nothing.
 * Messages go to @err. Returns the process exit code (enum pyprof_exit). Never stops the target.
 */
int record_run(const struct pyprof_config *cfg, FILE *err);
