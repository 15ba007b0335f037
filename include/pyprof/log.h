/* SPDX-License-Identifier: MIT */
/* log: levelled logging through a settable sink; libpyprof never writes to stderr itself. */
#pragma once

#include <stdarg.h>

enum pp_log_level {
    PP_LOG_ERROR = 0,
    PP_LOG_WARN,
    PP_LOG_INFO,
    PP_LOG_DEBUG,
};

typedef void (*pp_log_fn)(enum pp_log_level level, const char *fmt, va_list ap);

struct pp_log {
    enum pp_log_level level; /* messages above this level are dropped before formatting */
    pp_log_fn sink;          /* NULL: drop everything */
};

/*
 * pp_log_printf() - format and send one message to @log's sink if @level is enabled.
 * @log may be NULL (message dropped). Never fails; never allocates.
 */
void pp_log_printf(const struct pp_log *log, enum pp_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks the level first so that the arguments are not evaluated when the message is dropped. */
#define pp_log(log, lvl, ...)                                                                      \
    do {                                                                                           \
        if ((log) && (lvl) <= (log)->level)                                                        \
            pp_log_printf((log), (lvl), __VA_ARGS__);                                              \
    } while (0)

/* pp_log_stderr() - a sink that writes "pyprof: <level>: message\n" to stderr. */
void pp_log_stderr(enum pp_log_level level, const char *fmt, va_list ap);
