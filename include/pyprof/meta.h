/* SPDX-License-Identifier: MIT */
/* meta: what every output writer may say about a profile besides its stacks. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* All fields are optional: NULL / 0 mean "unknown" and writers leave them out. */
struct pp_meta {
    const char *title;       /* e.g. "pyprof record"; writers default to "Flame Graph" etc. */
    const char *command;     /* the profiled command line, or "PID 4123 (python3 app.py)" */
    uint64_t start_unix_ns;  /* wall-clock start of the recording */
    uint64_t duration_ns;    /* length of the recording */
    double rate_hz;          /* nominal sampling rate; a sample weighs 1e9 / rate_hz ns */
    bool wall;               /* idle threads kept: time is wall time, not CPU time */
    uint32_t pid;            /* the profiled process */
};

/* pp_meta_period_ns() - nanoseconds one sample stands for: 1e9 / rate_hz, or 1e7 (100 Hz). */
static inline uint64_t pp_meta_period_ns(const struct pp_meta *m)
{
    return m && m->rate_hz > 0 ? (uint64_t)(1e9 / m->rate_hz + 0.5) : 10000000u;
}
