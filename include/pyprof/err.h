/* SPDX-License-Identifier: MIT */
/* err: the error convention shared by libpyprof, the collector and the server. */
#pragma once

/*
 * Every fallible function returns int:
 *   0    success;
 *   < 0  a negative errno: fatal for the operation. Forward it unchanged; never match on it,
 *        except straight after a libc call or syscall.
 *   > 0  a condition listed in the module's header (FOO_E_*), which the direct caller must handle
 *        and must never forward as is.
 *
 * pp_err_origin(r) marks where an error is raised, pp_err_trace(r) where it passes through. With
 * -Dtrace_errors=true they print "ERROR func @ file +line" to stderr for each hop; otherwise they
 * expand to r. Both are no-ops for r >= 0.
 */
#include <stdio.h>

#include "config.h"

#if PP_TRACE_ERRORS
static inline int pp_err_log(int r, const char *func, const char *file, int line, int origin)
{
    if (r < 0)
        fprintf(stderr, "%s %s @ %s +%d\n", origin ? "ERROR" : "      ", func, file, line);
    return r;
}
#define pp_err_origin(r) pp_err_log((r), __func__, __FILE__, __LINE__, 1)
#define pp_err_trace(r)  pp_err_log((r), __func__, __FILE__, __LINE__, 0)
#else
#define pp_err_origin(r) (r)
#define pp_err_trace(r)  (r)
#endif
