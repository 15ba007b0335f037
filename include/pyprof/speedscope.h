/* SPDX-License-Identifier: MIT */
/* speedscope: the speedscope JSON file format (https://www.speedscope.app/file-format-schema.json). */
#pragma once

#include <stdio.h>

#include "pyprof/agg.h"
#include "pyprof/meta.h"

/*
 * pp_speedscope_write() - one "sampled" profile per thread, named "TID name" (or "all" when
 * every stack is on thread index 0 with tid 0), unit "seconds". With a timeline, samples are in
 * time order, each weighing the time to the next sample of its thread (the last one: one period);
 * without one, each distinct stack is one sample weighing count * period. shared.frames have
 * name, and file/line when known (keys left out, never null). Returns 0, -ENOMEM or -EIO.
 */
int pp_speedscope_write(const struct pp_agg *a, const struct pp_meta *m, FILE *out);
