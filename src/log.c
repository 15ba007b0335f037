/* SPDX-License-Identifier: MIT */
/* log: levelled logging through a settable sink. */
#include <stdio.h>

#include "pyprof/log.h"

void pp_log_printf(const struct pp_log *log, enum pp_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (!log || !log->sink || level > log->level)
        return;
    va_start(ap, fmt);
    log->sink(level, fmt, ap);
    va_end(ap);
}

static const char *level_name(enum pp_log_level level)
{
    switch (level) {
    case PP_LOG_ERROR:
        return "error";
    case PP_LOG_WARN:
        return "warning";
    case PP_LOG_INFO:
        return "info";
    case PP_LOG_DEBUG:
        return "debug";
    }
    return "?";
}

void pp_log_stderr(enum pp_log_level level, const char *fmt, va_list ap)
{
    /* One locked sequence so that messages from concurrent threads do not interleave. */
    flockfile(stderr);
    fprintf(stderr, "pyprof: %s: ", level_name(level));
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}
