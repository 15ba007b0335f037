/* SPDX-License-Identifier: MIT */
/* top: `pyprof top`, a live table of where a process spends its time. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "dump.h"
#include "pyprof/agg.h"
#include "pyprof/strtab.h"
#include "py/walk.h"
#include "target.h"
#include "top.h"

#define NSEC 1000000000LL
#define REFRESH_NS NSEC          /* redraw every second */
#define EXIT_WAIT_NS (2 * NSEC)  /* after the target exits: wait this long for a key */
#define HEADER_LINES 4

enum top_sort { TOP_SORT_OWN = 0, TOP_SORT_TOTAL, TOP_SORT_OWN_TIME, TOP_SORT_TOTAL_TIME };

static const char *const sort_names[] = { "%Own", "%Total", "OwnTime", "TotalTime" };

/* One row of the table, ready to sort. */
struct top_line {
    uint64_t key, own, total, own_c, total_c;
    uint32_t fid;
};

struct top {
    const struct pyprof_config *cfg;
    FILE *out;
    struct dump_target t;
    struct pp_agg *agg;
    struct walker *w;
    /* Per stack: its count at the last refresh, so the interval is the difference. */
    uint64_t *prev;
    size_t n_prev;
    /* Per frame id: own and total samples in the last interval (_i) and in all (_c). */
    uint64_t *own_i, *total_i, *own_c, *total_c, *stamp;
    uint32_t n_fr;
    uint64_t gen;                 /* stamp generation: counts a frame once per stack */
    uint64_t rounds_i, rounds_c;  /* samples (walker_sample rounds) in the interval / in all */
    uint64_t samples_seen;
    struct top_line *lines;
    size_t n_lines_cap;
    enum top_sort sort;
    bool cumulative;              /* percentages over the whole run, not the last interval */
    bool exited;
    int64_t started;
    /* Terminal state, restored on the way out. */
    bool raw;
    bool screen;
    struct termios saved;
};


/* Grow @*p (of @*n u64s) to at least @want, zeroing the new part. 0 or -ENOMEM. */
static int grow(uint64_t **p, size_t n, size_t want)
{
    uint64_t *q;

    if (want <= n)
        return 0;
    q = realloc(*p, want * sizeof(**p));
    if (!q)
        return -ENOMEM;
    memset(q + n, 0, (want - n) * sizeof(*q));
    *p = q;
    return 0;
}

/* Fold the samples added since the last call into the per-function counters. */
static int update(struct top *tp)
{
    uint32_t n_fr = pp_agg_n_frames(tp->agg);
    size_t n_stacks = pp_agg_n_stacks(tp->agg);
    uint64_t samples = walker_stats(tp->w)->samples;
    int r = 0;

    if (n_fr > tp->n_fr) {
        size_t want = n_fr + n_fr / 2 + 16;

        r = grow(&tp->own_i, tp->n_fr, want);
        if (!r)
            r = grow(&tp->total_i, tp->n_fr, want);
        if (!r)
            r = grow(&tp->own_c, tp->n_fr, want);
        if (!r)
            r = grow(&tp->total_c, tp->n_fr, want);
        if (!r)
            r = grow(&tp->stamp, tp->n_fr, want);
        if (r)
            return r;
        tp->n_fr = (uint32_t)want;
    }
    if (n_stacks > tp->n_prev) {
        size_t want = n_stacks + n_stacks / 2 + 16;

        r = grow(&tp->prev, tp->n_prev, want);
        if (r)
            return r;
        tp->n_prev = want;
    }
    memset(tp->own_i, 0, tp->n_fr * sizeof(*tp->own_i));
    memset(tp->total_i, 0, tp->n_fr * sizeof(*tp->total_i));
    for (size_t i = 0; i < n_stacks; i++) {
        struct pp_stack_view v;
        uint64_t d;

        pp_agg_stack(tp->agg, i, &v);
        d = v.count - tp->prev[i];
        tp->prev[i] = v.count;
        if (!d || !v.n_fids)
            continue;
        tp->own_i[v.fids[v.n_fids - 1]] += d;
        tp->own_c[v.fids[v.n_fids - 1]] += d;
        tp->gen++;
        for (uint32_t k = 0; k < v.n_fids; k++) {
            uint32_t f = v.fids[k];

            if (tp->stamp[f] == tp->gen)
                continue; /* recursion: a function counts once per stack */
            tp->stamp[f] = tp->gen;
            tp->total_i[f] += d;
            tp->total_c[f] += d;
        }
    }
    tp->rounds_i = samples - tp->samples_seen;
    tp->rounds_c = samples;
    tp->samples_seen = samples;
    return 0;
}

static int cmp_line(const void *a, const void *b)
{
    const struct top_line *x = a, *y = b;

    if (x->key != y->key)
        return x->key < y->key ? 1 : -1;
    if (x->total_c != y->total_c)
        return x->total_c < y->total_c ? 1 : -1;
    return (x->fid > y->fid) - (x->fid < y->fid);
}

/* The rows of the current view, sorted. Returns how many, or -ENOMEM. */
static long collect(struct top *tp)
{
    uint32_t n_fr = pp_agg_n_frames(tp->agg);
    size_t n = 0;

    if (n_fr > tp->n_lines_cap) {
        struct top_line *l = realloc(tp->lines, n_fr * sizeof(*l));

        if (!l)
            return -ENOMEM;
        tp->lines = l;
        tp->n_lines_cap = n_fr;
    }
    for (uint32_t f = 0; f < n_fr && f < tp->n_fr; f++) {
        struct top_line *l = &tp->lines[n];

        l->own = tp->cumulative ? tp->own_c[f] : tp->own_i[f];
        l->total = tp->cumulative ? tp->total_c[f] : tp->total_i[f];
        l->own_c = tp->own_c[f];
        l->total_c = tp->total_c[f];
        l->fid = f;
        if (!l->total_c)
            continue; /* never seen running */
        switch (tp->sort) {
        case TOP_SORT_OWN:
            l->key = l->own;
            break;
        case TOP_SORT_TOTAL:
            l->key = l->total;
            break;
        case TOP_SORT_OWN_TIME:
            l->key = l->own_c;
            break;
        default:
            l->key = l->total_c;
            break;
        }
        n++;
    }
    qsort(tp->lines, n, sizeof(*tp->lines), cmp_line);
    return (long)n;
}

/* Write @s cut to @width columns (0: no limit), counting UTF-8 lead bytes only. */
static void put_cut(FILE *f, const char *s, int width)
{
    int cols = 0;

    for (; *s; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80) {
            if (width > 0 && cols >= width)
                break;
            cols++;
        }
        fputc(*s, f);
    }
}

/*
 * Draw the table on @f: at most @rows lines and @cols columns (0: unlimited, for a pipe).
 * @clear adds the escape sequences that repaint a terminal in place. @note, if non-NULL, is the
 * last line.
 */
static int render(struct top *tp, FILE *f, int rows, int cols, bool clear, const char *note)
{
    const struct pp_strtab *st = pp_agg_strtab_const(tp->agg);
    const char *eol = clear ? "\033[K\n" : "\n";
    double secs = (double)(attach_mono_ns() - tp->started) / NSEC, rate = tp->cfg->rate;
    uint64_t rounds = tp->cumulative ? tp->rounds_c : tp->rounds_i;
    char line[1024];
    long n = collect(tp);
    int max_rows;

    if (n < 0)
        return (int)n;
    if (clear)
        fputs("\033[H", f);
    snprintf(line, sizeof(line),
             "pyprof top - PID %d, Python %u.%u - %" PRIu64 " samples at %.0f Hz, %u threads, "
             "%.0f s",
             (int)tp->t.pid, tp->t.rt.major, tp->t.rt.minor, tp->rounds_c, rate,
             pp_agg_n_threads(tp->agg), secs);
    put_cut(f, line, cols);
    fputs(eol, f);
    snprintf(line, sizeof(line),
             "%%Own/%%Total over %s (c toggles), sorted by %s (keys 1-4), q quits",
             tp->cumulative ? "the whole run" : "the last second", sort_names[tp->sort]);
    put_cut(f, line, cols);
    fputs(eol, f);
    fputs(eol, f);
    snprintf(line, sizeof(line), "%7s %7s %9s %10s  %s", "%Own", "%Total", "OwnTime", "TotalTime",
             "Function (file:line)");
    put_cut(f, line, cols);
    fputs(eol, f);
    max_rows = rows > 0 ? rows - HEADER_LINES - (note ? 1 : 0) : (int)n;
    for (long i = 0; i < n && i < max_rows; i++) {
        const struct top_line *l = &tp->lines[i];
        const struct pp_frame *fr = pp_agg_frame_get(tp->agg, l->fid);
        double own = rounds ? 100.0 * (double)l->own / (double)rounds : 0.0;
        double total = rounds ? 100.0 * (double)l->total / (double)rounds : 0.0;
        int k;

        k = snprintf(line, sizeof(line), "%6.1f%% %6.1f%% %8.2fs %9.2fs  %s (%s", own, total,
                     (double)l->own_c / rate, (double)l->total_c / rate,
                     pp_strtab_str(st, fr->name, NULL), pp_strtab_str(st, fr->file, NULL));
        if (k > 0 && (size_t)k < sizeof(line) - 16) {
            if (fr->line)
                snprintf(line + k, sizeof(line) - (size_t)k, ":%" PRIu32 ")", fr->line);
            else
                snprintf(line + k, sizeof(line) - (size_t)k, ")");
        }
        put_cut(f, line, cols);
        fputs(eol, f);
    }
    if (note) {
        put_cut(f, note, cols);
        fputs(eol, f);
    }
    if (clear)
        fputs("\033[J", f);
    fflush(f);
    return 0;
}

static void screen_size(FILE *out, int *rows, int *cols)
{
    struct winsize ws;

    *rows = 24;
    *cols = 80;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    }
}

/* Non-canonical, no echo; keep ISIG so Ctrl-C is a SIGINT that target_signal_take() reports. */
static void terminal_enter(struct top *tp)
{
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &tp->saved) == 0) {
        struct termios raw = tp->saved;

        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
            tp->raw = true;
    }
    fputs("\033[?1049h\033[?25l\033[H\033[2J", tp->out); /* alternate screen, hide the cursor */
    fflush(tp->out);
    tp->screen = true;
}

static void terminal_leave(struct top *tp)
{
    if (tp->screen) {
        fputs("\033[?25h\033[?1049l", tp->out);
        fflush(tp->out);
        tp->screen = false;
    }
    if (tp->raw) {
        tcsetattr(STDIN_FILENO, TCSANOW, &tp->saved);
        tp->raw = false;
    }
}

/* Wait until @until (monotonic ns) for a key; returns it, 0 on timeout or a signal. */
static int wait_key(const struct top *tp, int64_t until)
{
    struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
    int64_t left = until - attach_mono_ns();
    struct timespec ts;
    unsigned char c;

    if (left < 0)
        left = 0;
    ts.tv_sec = left / NSEC;
    ts.tv_nsec = left % NSEC;
    if (!tp->raw) {
        nanosleep(&ts, NULL);
        return 0;
    }
    if (ppoll(&pfd, 1, &ts, NULL) <= 0 || !(pfd.revents & POLLIN))
        return 0;
    if (read(STDIN_FILENO, &c, 1) != 1)
        return 0;
    return c;
}

/* The live view. Returns a PYPROF_EXIT_* code. */
static int run_live(struct top *tp, FILE *err)
{
    int64_t period = (int64_t)((double)NSEC / tp->cfg->rate), next, refresh, now;
    int rows, cols, r = 0, code = PYPROF_EXIT_OK;
    bool quit = false;

    terminal_enter(tp);
    next = refresh = attach_mono_ns();
    refresh += REFRESH_NS;
    while (!quit) {
        bool from_tty, redraw = false;
        int c;

        if (target_signal_take(&from_tty))
            break;
        now = attach_mono_ns();
        if (now >= next) {
            r = walker_sample(tp->w, (uint64_t)now);
            if (r == WALK_E_GONE) {
                tp->exited = true;
                break;
            }
            if (r < 0)
                break;
            next += period;
            if (attach_mono_ns() > next)
                next = attach_mono_ns() + period; /* missed deadlines: rejoin the schedule */
        }
        if (attach_mono_ns() >= refresh) {
            r = update(tp);
            if (r)
                break;
            refresh += REFRESH_NS;
            redraw = true;
        }
        c = wait_key(tp, next < refresh ? next : refresh);
        if (c == 'q' || c == 'Q' || c == 3)
            quit = true;
        else if (c >= '1' && c <= '4') {
            tp->sort = (enum top_sort)(c - '1');
            redraw = true;
        } else if (c == 'c' || c == 'C') {
            tp->cumulative = !tp->cumulative;
            redraw = true;
        }
        if (redraw && !quit) {
            screen_size(tp->out, &rows, &cols);
            r = render(tp, tp->out, rows, cols, true, NULL);
            if (r)
                break;
        }
    }
    if (tp->exited) {
        char note[96];
        int64_t until = attach_mono_ns() + EXIT_WAIT_NS;
        bool from_tty;

        r = update(tp);
        snprintf(note, sizeof(note), "process %d exited (press a key)", (int)tp->t.pid);
        screen_size(tp->out, &rows, &cols);
        if (!r)
            r = render(tp, tp->out, rows, cols, true, note);
        while (attach_mono_ns() < until && !target_signal_take(&from_tty)) {
            int64_t step = attach_mono_ns() + NSEC / 20;

            if (wait_key(tp, step < until ? step : until))
                break;
        }
    }
    terminal_leave(tp);
    if (tp->exited)
        fprintf(err, "pyprof: process %d exited\n", (int)tp->t.pid);
    if (r < 0) {
        fprintf(err, "pyprof: error while sampling: %s\n", strerror(-r));
        code = PYPROF_EXIT_FATAL;
    }
    return code;
}

/* Not a terminal: sample for -d seconds, print one table. Returns a PYPROF_EXIT_* code. */
static int run_snapshot(struct top *tp, FILE *err)
{
    double secs = tp->cfg->duration > 0 ? tp->cfg->duration : 1.0;
    int64_t period = (int64_t)((double)NSEC / tp->cfg->rate), next = attach_mono_ns();
    int64_t end = next + (int64_t)(secs * NSEC);
    int r = 0;

    tp->cumulative = true;
    for (;;) {
        bool from_tty;
        struct timespec ts;

        if (target_signal_take(&from_tty))
            break;
        r = walker_sample(tp->w, (uint64_t)attach_mono_ns());
        if (r == WALK_E_GONE) {
            tp->exited = true;
            r = 0;
            break;
        }
        if (r < 0)
            break;
        next += period;
        if (attach_mono_ns() > next)
            next = attach_mono_ns() + period;
        if (next >= end)
            break;
        ts.tv_sec = next / NSEC;
        ts.tv_nsec = next % NSEC;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    if (!r)
        r = update(tp);
    if (!r)
        r = render(tp, tp->out, 0, 0, false, NULL);
    if (tp->exited)
        fprintf(err, "pyprof: process %d exited\n", (int)tp->t.pid);
    if (r < 0) {
        fprintf(err, "pyprof: error: %s\n", strerror(-r));
        return PYPROF_EXIT_FATAL;
    }
    return PYPROF_EXIT_OK;
}

int top_run(const struct pyprof_config *cfg, FILE *out, FILE *err)
{
    struct walk_opts wo = { .idle = false, .lineno = true };
    struct top tp = { .cfg = cfg, .out = out };
    int code, r;

    r = target_signals_install();
    if (r) {
        fprintf(err, "pyprof: error: %s\n", strerror(-r));
        return PYPROF_EXIT_FATAL;
    }
    code = dump_attach(&tp.t, cfg->pid, err);
    if (code)
        goto out;
    r = pp_agg_new(&tp.agg);
    if (!r)
        r = walker_new(&tp.w, &tp.t.mem, &tp.t.rt, tp.t.head, tp.t.pid, tp.agg, &wo);
    if (r) {
        fprintf(err, "pyprof: error: %s\n", strerror(-r));
        code = PYPROF_EXIT_FATAL;
        goto out;
    }
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    tp.started = attach_mono_ns();
    code = isatty(fileno(out)) ? run_live(&tp, err) : run_snapshot(&tp, err);
out:
    free(tp.prev);
    free(tp.own_i);
    free(tp.total_i);
    free(tp.own_c);
    free(tp.total_c);
    free(tp.stamp);
    free(tp.lines);
    walker_free(tp.w);
    pp_agg_free(tp.agg);
    return code;
}
