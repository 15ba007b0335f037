/* SPDX-License-Identifier: MIT */
/* record: the `pyprof record` job: find the interpreter, sample it, write the profile. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pyprof/agg.h"
#include "pyprof/output.h"
#include "py/discover.h"
#include "py/walk.h"
#include "attach.h"
#include "record.h"
#include "sys/mem.h"
#include "target.h"

#define NSEC 1000000000LL
#define PROGRESS_EVERY (NSEC / 4)
#define CHILD_POLL_EVERY (NSEC / 10)
#define COST_BUCKETS 10001 /* 0 .. 9999 µs, then ">= 10 ms" */

struct recording {
    const struct pyprof_config *cfg;
    FILE *err;
    FILE *out;
    const char *out_path;     /* NULL: standard output */
    char out_default[64];     /* pyprof-PID-TIME.svg when no -o was given */
    enum pp_format format;
    uint64_t start_unix_ns;
    pid_t pid;
    bool launched;
    bool child_reaped;
    int child_status;
    struct mem mem;
    struct py_runtime rt;
    struct pp_agg *agg;
    struct walker *walker;
    int64_t started, stopped; /* monotonic ns of sampling */
    uint64_t late;            /* deadlines missed by more than one period */
    uint32_t cost_us[COST_BUCKETS]; /* histogram of sample cost, 1 µs buckets, last = overflow */
    bool progress;
    bool progress_shown;
};

static int64_t now_ns(void)
{
    return attach_mono_ns();
}

static void sleep_until(int64_t t)
{
    attach_sleep_until(t); /* EINTR returns early on purpose: the caller checks for signals */
}

/* Map a failed discovery to a message and an exit code. */
static int discovery_failed(struct recording *rc, int r)
{
    return attach_report(&rc->rt, rc->pid, r, rc->cfg->startup_timeout, rc->err);
}

/* Pass a signal on to a launched child unless the terminal already sent it to the child. */
static bool handle_signal(struct recording *rc)
{
    bool from_tty = false;
    int sig = target_signal_take(&from_tty);

    if (!sig)
        return false;
    if (rc->launched && !rc->child_reaped && !from_tty)
        kill(rc->pid, sig);
    return true;
}

static bool child_gone(struct recording *rc)
{
    if (!rc->launched || rc->child_reaped)
        return rc->child_reaped;
    rc->child_reaped = target_exited(rc->pid, &rc->child_status);
    return rc->child_reaped;
}

/*
 * Wait until the interpreter is up: retry discovery (no fixed sleep) with a short backoff until
 * it succeeds, fails for good, the launched child exits, or the start-up timeout passes.
 * Returns 0 with the interpreter head in *head, 1 when stopped by a signal or an early exit of
 * the child (nothing to sample), or an exit code > 1 after printing why.
 */
static int wait_for_interpreter(struct recording *rc, uint64_t *head)
{
    int64_t deadline = now_ns() + (int64_t)(rc->cfg->startup_timeout * NSEC), pause = NSEC / 1000;
    char notpy_why[sizeof(rc->rt.why)] = "";
    int r;

    for (;;) {
        r = discover_runtime(&rc->rt, &rc->mem, rc->pid);
        if (!r)
            r = discover_interp_head(&rc->rt, &rc->mem, head);
        if (!r)
            return 0;
        /* Keep what a live launched command ran: once it exits, /proc has nothing to say. */
        if (r == DISCOVER_E_NOTPY)
            memcpy(notpy_why, rc->rt.why, sizeof(notpy_why));
        else if (r == DISCOVER_E_GONE && notpy_why[0]) {
            memcpy(rc->rt.why, notpy_why, sizeof(notpy_why));
            r = DISCOVER_E_NOTPY;
        }
        if (r == DISCOVER_E_UNSUPPORTED || r == DISCOVER_E_PERM || r < 0)
            return discovery_failed(rc, r);
        if (r == DISCOVER_E_GONE && !rc->launched)
            return discovery_failed(rc, r);
        /* Attaching to a process that is not Python: say so at once. */
        if (r == DISCOVER_E_NOTPY && !rc->launched)
            return discovery_failed(rc, r);
        if (child_gone(rc) || r == DISCOVER_E_GONE) {
            if (r == DISCOVER_E_NOTPY)
                return discovery_failed(rc, r);
            fprintf(rc->err, "pyprof: warning: the command exited before it could be sampled\n");
            return 1;
        }
        if (handle_signal(rc))
            return 1;
        if (now_ns() >= deadline)
            return discovery_failed(rc, r);
        sleep_until(now_ns() + pause);
        if (pause < NSEC / 50)
            pause *= 2;
    }
}

static void show_progress(struct recording *rc, int64_t now, bool final)
{
    const struct walk_stats *st = walker_stats(rc->walker);
    double secs = (double)(now - rc->started) / NSEC;

    fprintf(rc->err, "\rpyprof: %" PRIu64 " samples, %.1f Hz, %" PRIu64 " errors, %.1f s%s",
            st->samples, secs > 0 ? (double)st->samples / secs : 0.0, st->torn + st->bad, secs,
            final ? "\n" : "   ");
    fflush(rc->err);
    rc->progress_shown = true;
}

/* The sampling loop: absolute deadlines on CLOCK_MONOTONIC, so late wake-ups never add up. */
static int sample_loop(struct recording *rc)
{
    const struct pyprof_config *cfg = rc->cfg;
    int64_t period = (int64_t)((double)NSEC / cfg->rate), next, end = 0, now;
    int64_t next_progress, next_child_poll;
    int r = 0;

    /* A tighter timer slack keeps high rates on schedule; harmless if refused. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    rc->started = now_ns();
    rc->start_unix_ns = (uint64_t)attach_real_ns();
    next = rc->started;
    next_progress = rc->started + PROGRESS_EVERY;
    next_child_poll = rc->started + CHILD_POLL_EVERY;
    if (cfg->duration > 0)
        end = rc->started + (int64_t)(cfg->duration * NSEC);
    for (;;) {
        if (handle_signal(rc))
            break;
        now = now_ns();
        r = walker_sample(rc->walker, (uint64_t)now);
        if (r == WALK_E_GONE) {
            r = 0;
            break;
        }
        if (r < 0)
            break;
        {
            int64_t t = now_ns(), us = (t - now) / 1000;

            rc->cost_us[us < COST_BUCKETS - 1 ? us : COST_BUCKETS - 1]++;
            now = t;
        }
        if (rc->progress && now >= next_progress) {
            show_progress(rc, now, false);
            next_progress = now + PROGRESS_EVERY;
        }
        if (rc->launched && now >= next_child_poll) {
            if (child_gone(rc))
                break;
            next_child_poll = now + CHILD_POLL_EVERY;
        }
        next += period;
        if (now > next) {
            /* Missed one or more deadlines: count them and rejoin the schedule. */
            int64_t missed = (now - next) / period + 1;

            rc->late += (uint64_t)missed;
            next += missed * period;
        }
        if (end && next >= end) {
            sleep_until(end);
            break;
        }
        sleep_until(next);
    }
    rc->stopped = now_ns();
    if (rc->progress && rc->progress_shown)
        show_progress(rc, rc->stopped, true);
    return r;
}

/*
 * Decide the output file and format (py-spy's rules: -f, else the -o extension, else an SVG;
 * without -o, pyprof-PID-TIME.svg, or standard output when -f was given) and open it.
 */
static int open_output(struct recording *rc)
{
    const struct pyprof_config *cfg = rc->cfg;
    const char *o = cfg->output;

    rc->format = cfg->format;
    if (!rc->format && o)
        rc->format = pp_format_from_path(o);
    if (!rc->format)
        rc->format = PP_FORMAT_FLAMEGRAPH;
    if (!o && !cfg->format) {
        struct tm tm;
        time_t t = time(NULL);

        localtime_r(&t, &tm);
        snprintf(rc->out_default, sizeof(rc->out_default), "pyprof-%d-%04d%02d%02dT%02d%02d%02d.svg",
                 (int)rc->pid, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
        o = rc->out_default;
    }
    if (!o || !strcmp(o, "-")) {
        rc->out = stdout;
        return 0;
    }
    rc->out = fopen(o, "we");
    if (!rc->out) {
        fprintf(rc->err, "pyprof: error: cannot write '%s': %s\n", o, strerror(errno));
        return PYPROF_EXIT_FATAL;
    }
    rc->out_path = o;
    return 0;
}

/* "python3 app.py --port 80" from argv, or from /proc/PID/cmdline when attaching. */
static void describe_command(struct recording *rc, char *buf, size_t cap)
{
    size_t n = 0;

    buf[0] = '\0';
    if (rc->cfg->argv) {
        for (char **a = rc->cfg->argv; *a && n + 1 < cap; a++)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? " " : "", *a);
    } else {
        char path[64];
        FILE *f;
        size_t got;

        n = (size_t)snprintf(buf, cap, "PID %d: ", (int)rc->pid);
        if (n >= cap)
            return;
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)rc->pid);
        f = fopen(path, "re");
        if (!f)
            return;
        got = fread(buf + n, 1, cap - n - 1, f);
        fclose(f);
        for (size_t i = n; i < n + got; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        while (got && buf[n + got - 1] == ' ')
            got--;
        buf[n + got] = '\0';
    }
    if (n >= cap)
        buf[cap - 1] = '\0';
}

static int write_output(struct recording *rc)
{
    char command[1024];
    struct pp_meta meta = {
        .title = rc->cfg->title,
        .command = command,
        .start_unix_ns = rc->start_unix_ns,
        .duration_ns = (uint64_t)(rc->stopped - rc->started),
        .rate_hz = rc->cfg->rate,
        .wall = rc->cfg->idle, /* idle threads sampled too: wall time, else CPU time */
        .pid = (uint32_t)rc->pid,
    };
    struct pp_output_opts oo = {
        .threads = rc->cfg->threads, .icicle = rc->cfg->icicle, .title = rc->cfg->title,
    };
    const char *name = rc->out_path ? rc->out_path : "standard output";
    int r;

    describe_command(rc, command, sizeof(command));
    r = pp_output_write(rc->agg, &meta, rc->format, &oo, rc->out);
    if (!r && fflush(rc->out) != 0)
        r = -EIO;
    if (rc->out != stdout) {
        if (fclose(rc->out) != 0 && !r)
            r = -EIO;
    }
    rc->out = NULL;
    if (r) {
        fprintf(rc->err, "pyprof: error: writing %s: %s\n", name, strerror(-r));
        return PYPROF_EXIT_FATAL;
    }
    return 0;
}

/* The @q quantile (0..1) of the sample-cost histogram, in µs. */
static unsigned cost_quantile(const struct recording *rc, double q)
{
    uint64_t total = 0, want, seen = 0;

    for (size_t i = 0; i < COST_BUCKETS; i++)
        total += rc->cost_us[i];
    if (!total)
        return 0;
    want = (uint64_t)(q * (double)(total - 1)) + 1;
    for (size_t i = 0; i < COST_BUCKETS; i++) {
        seen += rc->cost_us[i];
        if (seen >= want)
            return (unsigned)i;
    }
    return COST_BUCKETS - 1;
}

static void print_summary(struct recording *rc)
{
    const struct walk_stats *st = rc->walker ? walker_stats(rc->walker) : NULL;
    double secs = (double)(rc->stopped - rc->started) / NSEC;

    if (!st) {
        fprintf(rc->err, "pyprof: no samples collected\n");
        return;
    }
    fprintf(rc->err,
            "pyprof: %" PRIu64 " samples in %.2f s (%.1f Hz) of Python %u.%u, PID %d: %zu "
            "distinct stacks, %" PRIu64 " thread stacks, %" PRIu64 " idle left out; %" PRIu64
            " torn, %" PRIu64 " unreadable, %" PRIu64 " late\n",
            st->samples, secs, secs > 0 ? (double)st->samples / secs : 0.0, rc->rt.major,
            rc->rt.minor, (int)rc->pid, pp_agg_n_stacks(rc->agg), st->stacks, st->idle, st->torn,
            st->bad, rc->late);
    fprintf(rc->err,
            "pyprof: sample cost: median %u us, p99 %u us; %" PRIu64 " reads, %" PRIu64
            " bytes read\n",
            cost_quantile(rc, 0.5), cost_quantile(rc, 0.99), rc->mem.n_reads, rc->mem.n_bytes);
    if (rc->out_path)
        fprintf(rc->err, "pyprof: wrote %s (%s)\n", rc->out_path, pp_format_name(rc->format));
}

int record_run(const struct pyprof_config *cfg, FILE *err)
{
    struct recording rc = { .cfg = cfg, .err = err, .pid = cfg->pid };
    struct walk_opts wo = {
        .idle = cfg->idle,
        .lineno = cfg->lineno,
        .function_lines = cfg->function,
        .full_filenames = cfg->full_filenames,
    };
    uint64_t head = 0;
    int code = PYPROF_EXIT_OK, r;

    rc.progress = cfg->progress < 0 ? isatty(fileno(err)) : cfg->progress;
    r = target_signals_install();
    if (!r)
        r = pp_agg_new(&rc.agg);
    if (r) {
        fprintf(err, "pyprof: error: %s\n", strerror(-r));
        return PYPROF_EXIT_FATAL;
    }
    if (cfg->output || cfg->format) {
        /* Fail on a bad path before anything is started or attached. */
        code = open_output(&rc);
        if (code)
            goto out;
    }
    if (cfg->argv) {
        r = target_launch(cfg->argv, &rc.pid);
        if (r) {
            fprintf(err, "pyprof: error: cannot run '%s': %s\n", cfg->argv[0], strerror(-r));
            code = PYPROF_EXIT_NOPROC;
            goto out;
        }
        rc.launched = true;
    }
    if (!rc.out) {
        code = open_output(&rc); /* the default name carries the PID */
        if (code)
            goto out;
    }
    if (pp_format_needs_timeline(rc.format))
        pp_agg_timeline_enable(rc.agg);
    mem_init(&rc.mem, rc.pid);
    r = wait_for_interpreter(&rc, &head);
    if (r > 1) {
        code = r;
        goto out;
    }
    if (r == 0) {
        r = walker_new(&rc.walker, &rc.mem, &rc.rt, head, rc.pid, rc.agg, &wo);
        if (r) {
            fprintf(err, "pyprof: error: %s\n", strerror(-r));
            code = PYPROF_EXIT_FATAL;
            goto out;
        }
        r = sample_loop(&rc);
        if (r < 0) {
            fprintf(err, "pyprof: error while sampling: %s (writing what was collected)\n",
                    strerror(-r));
            code = PYPROF_EXIT_FATAL;
        }
    }
    r = write_output(&rc);
    if (r)
        code = r;
    print_summary(&rc);
out:
    if (rc.out && rc.out != stdout)
        fclose(rc.out);
    /* A launched command is the user's program: let it finish rather than kill it. */
    if (rc.launched && !rc.child_reaped)
        waitpid(rc.pid, &rc.child_status, 0);
    walker_free(rc.walker);
    pp_agg_free(rc.agg);
    return code;
}
