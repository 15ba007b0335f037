/* SPDX-License-Identifier: MIT */
/* agent: `pyprof agent`, continuous profiling that ships a pprof per target every window. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "attach.h"
#include "cli.h"
#include "config.h"
#include "pyprof/agg.h"
#include "pyprof/err.h"
#include "pyprof/log.h"
#include "pyprof/pprof.h"
#include "py/discover.h"
#include "py/walk.h"
#include "ship/spool.h"
#include "ship/upload.h"
#include "sys/mem.h"

#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define NSEC 1000000000LL
#define SCAN_EVERY NSEC          /* targets rescanned, status written, CPU checked */
#define MAX_TARGETS 1024
#define MAX_INFLIGHT 16
#define RETRY_MIN NSEC
#define YOUNG_NS (10 * NSEC)     /* a target this young is retried quickly */
#define SLOW_RETRY (30 * NSEC)
#define OTHER_NAME "[other stacks]"

static const char usage_agent[] =
    "Usage: pyprof agent --server URL --app NAME (--pid PID | --pidfile FILE | --match REGEX)\n"
    "                    [--tag k=v]... [options]\n"
    "       pyprof agent --config FILE [options]\n"
    "       pyprof agent --status [--state-dir DIR]\n"
    "\n"
    "Profile Python processes continuously and upload a gzipped pprof per process every\n"
    "window to SERVER/ingest (pyprof-server, or Grafana Pyroscope: same URL).\n"
    "\n"
    "Options (config-file keys are the same names without '--'):\n"
    "  -c, --config FILE       read `key = value` settings; SIGHUP re-reads it\n"
    "      --server URL        e.g. http://127.0.0.1:4040\n"
    "      --app NAME          application name; uploads are NAME.cpu{tags,pid=N}\n"
    "  -p, --pid PID           profile this process\n"
    "      --pidfile FILE      profile the process whose PID is in FILE (re-read every second)\n"
    "      --match REGEX       profile every process whose command line matches (rescanned\n"
    "                          every second), each labelled with its pid\n"
    "      --tag KEY=VALUE     add a label to every upload (repeatable)\n"
    "  -r, --rate HZ           samples per second (default 100)\n"
    "      --window DURATION   upload period, aligned to the wall clock (default 10s)\n"
    "  -i, --idle              keep idle threads (wall view); default: running threads only\n"
    "      --native            (not implemented yet: Python frames only)\n"
    "      --token TOKEN       send Authorization: Bearer TOKEN\n"
    "      --tenant ID         send X-Scope-OrgID: ID\n"
    "      --state-dir DIR     spool and status file (default $STATE_DIRECTORY,\n"
    "                          /var/lib/pyprof-agent as root, ~/.local/state/pyprof-agent)\n"
    "      --spool-max-size N  bytes of spooled windows at most (default 64M)\n"
    "      --spool-max-age D   spooled windows older than this are dropped (default 1h)\n"
    "      --max-cpu PERCENT   lower the rate when the agent uses more CPU (default 5%)\n"
    "      --max-stacks N      distinct stacks per target and window; the rarest beyond\n"
    "                          that are merged into \"" OTHER_NAME "\" (default 5000)\n"
    "      --timeout D         per upload (default 10s)\n"
    "      --retry-max D       longest backoff between retries (default 60s)\n"
    "      --log-level LEVEL   error, warn, info (default) or debug\n"
    "      --status            print the running agent's counters and exit\n"
    "  -h, --help              this text\n";

/* ===== Signals: the one piece of process-wide mutable state ===== */

static volatile sig_atomic_t got_stop;
static volatile sig_atomic_t got_reload;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        got_reload = 1;
    else
        got_stop = 1;
}

static int install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask); /* no SA_RESTART: sleeps end early so the loop notices */
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
        sigaction(SIGHUP, &sa, NULL) < 0)
        return pp_err_origin(-errno);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* ===== Config ===== */

void agent_defaults(struct agent_config *c)
{
    memset(c, 0, sizeof(*c));
    c->rate = 100;
    c->window_s = 10;
    c->spool_max_bytes = 64u << 20;
    c->spool_max_age = 3600;
    c->max_cpu = 5;
    c->max_stacks = 5000;
    c->timeout = 10;
    c->retry_max = 60;
    c->log_level = PP_LOG_INFO;
}

void agent_config_free(struct agent_config *c)
{
    if (!c)
        return;
    free(c->config);
    free(c->server);
    free(c->app);
    free(c->pidfile);
    free(c->match);
    for (size_t i = 0; i < c->n_tags; i++)
        free(c->tags[i]);
    free(c->token);
    free(c->tenant);
    free(c->state_dir);
    agent_defaults(c);
}

static bool parse_duration(const char *s, double *out)
{
    char *end;
    double v, mul = 1;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return false;
    if (!strcmp(end, "ms"))
        mul = 1e-3;
    else if (!strcmp(end, "m") || !strcmp(end, "min"))
        mul = 60;
    else if (!strcmp(end, "h"))
        mul = 3600;
    else if (*end && strcmp(end, "s"))
        return false;
    *out = v * mul;
    return true;
}

static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    double v, mul = 1;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return false;
    if (*end == 'K' || *end == 'k')
        mul = 1024, end++;
    else if (*end == 'M')
        mul = 1024.0 * 1024, end++;
    else if (*end == 'G')
        mul = 1024.0 * 1024 * 1024, end++;
    if (*end == 'B' || *end == 'i')
        end += *end == 'i' && end[1] == 'B' ? 2 : 1;
    if (*end)
        return false;
    *out = (uint64_t)(v * mul);
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    if (!s || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1") || !strcmp(s, "on")) {
        *out = true;
        return true;
    }
    if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0") || !strcmp(s, "off")) {
        *out = false;
        return true;
    }
    return false;
}

static bool name_ok(const char *s, const char *extra)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && !strchr(extra, *s))
            return false;
    return true;
}

static int set_str(char **dst, const char *v)
{
    char *d = strdup(v);

    if (!d)
        return pp_err_origin(-ENOMEM);
    free(*dst);
    *dst = d;
    return 0;
}

static int bad(FILE *err, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(FILE *err, const char *where, const char *fmt, ...)
{
    va_list ap;

    fprintf(err, "pyprof agent: %s%s", where ? where : "", where ? ": " : "");
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fputc('\n', err);
    return AGENT_E_USAGE;
}

int agent_set(struct agent_config *c, const char *key, const char *v, const char *where,
              FILE *err)
{
    static const char *const flags[] = { "idle", "native", "status", "help" };
    bool is_flag = false;
    double d;

    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        is_flag |= !strcmp(key, flags[i]);
    if (!is_flag && (!v || !*v))
        return bad(err, where, "option '%s' needs a value", key);
    if (!strcmp(key, "config"))
        return set_str(&c->config, v);
    if (!strcmp(key, "server")) {
        if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
            return bad(err, where, "--server '%s': expected http://HOST:PORT or https://...", v);
        return set_str(&c->server, v);
    }
    if (!strcmp(key, "app")) {
        if (!name_ok(v, ".-"))
            return bad(err, where, "--app '%s': use letters, digits, '_', '.' and '-'", v);
        return set_str(&c->app, v);
    }
    if (!strcmp(key, "pid")) {
        char *end;
        long p;

        errno = 0;
        p = strtol(v, &end, 10);
        if (errno || *end || p <= 0 || p > 4194304)
            return bad(err, where, "invalid --pid '%s'", v);
        c->pid = (pid_t)p;
        return 0;
    }
    if (!strcmp(key, "pidfile"))
        return set_str(&c->pidfile, v);
    if (!strcmp(key, "match")) {
        regex_t re;
        int r = regcomp(&re, v, REG_EXTENDED | REG_NOSUB);

        if (r) {
            char msg[256];

            regerror(r, &re, msg, sizeof(msg));
            return bad(err, where, "--match '%s': %s", v, msg);
        }
        regfree(&re);
        return set_str(&c->match, v);
    }
    if (!strcmp(key, "tag")) {
        const char *eq = strchr(v, '=');
        char k[256];

        if (!eq || eq == v || (size_t)(eq - v) >= sizeof(k))
            return bad(err, where, "--tag '%s': expected KEY=VALUE", v);
        memcpy(k, v, (size_t)(eq - v));
        k[eq - v] = '\0';
        if (!name_ok(k, "") || !strcmp(k, "pid") || !strcmp(k, "__name__"))
            return bad(err, where, "--tag '%s': keys are [A-Za-z0-9_]+ (not pid, __name__)", v);
        if (!eq[1] || strpbrk(eq + 1, ",{}=\"\n"))
            return bad(err, where, "--tag '%s': the value must be non-empty, without , { } = \"",
                       v);
        if (c->n_tags == AGENT_MAX_TAGS)
            return bad(err, where, "at most %d tags", AGENT_MAX_TAGS);
        c->tags[c->n_tags] = strdup(v);
        if (!c->tags[c->n_tags])
            return pp_err_origin(-ENOMEM);
        c->n_tags++;
        return 0;
    }
    if (!strcmp(key, "rate")) {
        char *end;

        d = strtod(v, &end);
        if (*end || !(d >= 1 && d <= 10000))
            return bad(err, where, "--rate '%s': expected 1 to 10000 samples per second", v);
        c->rate = d;
        return 0;
    }
    if (!strcmp(key, "window")) {
        if (!parse_duration(v, &d) || d < 1 || d > 3600 || d != floor(d))
            return bad(err, where, "--window '%s': expected whole seconds, 1s to 1h", v);
        c->window_s = (uint32_t)d;
        return 0;
    }
    if (!strcmp(key, "idle") || !strcmp(key, "native") || !strcmp(key, "status")) {
        bool b;

        if (!parse_bool(v, &b))
            return bad(err, where, "%s: expected true or false, not '%s'", key, v);
        if (key[0] == 'i')
            c->idle = b;
        else if (key[0] == 'n')
            c->native = b;
        else
            c->status = b;
        return 0;
    }
    if (!strcmp(key, "token"))
        return set_str(&c->token, v);
    if (!strcmp(key, "tenant"))
        return set_str(&c->tenant, v);
    if (!strcmp(key, "state-dir"))
        return set_str(&c->state_dir, v);
    if (!strcmp(key, "spool-max-size")) {
        if (!parse_size(v, &c->spool_max_bytes) || c->spool_max_bytes < 1024)
            return bad(err, where, "--spool-max-size '%s': expected bytes >= 1K, e.g. 64M", v);
        return 0;
    }
    if (!strcmp(key, "spool-max-age")) {
        if (!parse_duration(v, &c->spool_max_age))
            return bad(err, where, "--spool-max-age '%s': expected a duration, e.g. 1h", v);
        return 0;
    }
    if (!strcmp(key, "max-cpu")) {
        char *end;

        d = strtod(v, &end);
        if ((*end && strcmp(end, "%")) || !(d >= 0 && d <= 100))
            return bad(err, where, "--max-cpu '%s': expected a percentage, e.g. 5%%", v);
        c->max_cpu = d;
        return 0;
    }
    if (!strcmp(key, "max-stacks")) {
        char *end;
        long n = strtol(v, &end, 10);

        if (*end || n < 16 || n > 10000000)
            return bad(err, where, "--max-stacks '%s': expected 16 or more", v);
        c->max_stacks = (uint32_t)n;
        return 0;
    }
    if (!strcmp(key, "timeout") || !strcmp(key, "retry-max")) {
        if (!parse_duration(v, &d) || d < 0.1)
            return bad(err, where, "--%s '%s': expected a duration, e.g. 10s", key, v);
        if (key[0] == 't')
            c->timeout = d;
        else
            c->retry_max = d;
        return 0;
    }
    if (!strcmp(key, "log-level")) {
        static const char *const lv[] = { "error", "warn", "info", "debug" };

        for (int i = 0; i < 4; i++) {
            if (!strcmp(v, lv[i])) {
                c->log_level = i;
                return 0;
            }
        }
        return bad(err, where, "--log-level '%s': error, warn, info or debug", v);
    }
    return bad(err, where, "unknown option '%s'; see 'pyprof agent --help'", key);
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int agent_load_file(struct agent_config *c, const char *path, FILE *err)
{
    char line[4096], where[512];
    FILE *f = fopen(path, "re");
    unsigned n = 0;
    int r = 0;

    if (!f)
        return bad(err, NULL, "cannot read config '%s': %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f)) {
        char *s = trim(line), *eq, *key, *val;
        size_t vl;

        n++;
        snprintf(where, sizeof(where), "%s:%u", path, n);
        if (!*s || *s == '#' || *s == ';')
            continue;
        eq = strchr(s, '=');
        if (!eq) {
            r = bad(err, where, "expected 'key = value'");
            break;
        }
        *eq = '\0';
        key = trim(s);
        val = trim(eq + 1);
        vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = '\0';
            val++;
        }
        if (!strcmp(key, "config") || !strcmp(key, "help")) {
            r = bad(err, where, "'%s' cannot be set in a config file", key);
            break;
        }
        r = agent_set(c, key, val, where, err);
        if (r)
            break;
    }
    fclose(f);
    return r;
}

static const struct {
    char short_name;
    const char *name;
} short_opts[] = { { 'c', "config" }, { 'p', "pid" }, { 'r', "rate" }, { 'i', "idle" },
                   { 'h', "help" } };

/* The long name for argv[i] ("--name", "--name=value", "-x"), value in *val (may stay NULL). */
static const char *option_name(const char *arg, char *buf, size_t cap, const char **val)
{
    *val = NULL;
    if (!strncmp(arg, "--", 2) && arg[2]) {
        const char *eq = strchr(arg, '=');
        size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);

        if (n >= cap)
            return NULL;
        memcpy(buf, arg + 2, n);
        buf[n] = '\0';
        if (eq)
            *val = eq + 1;
        return buf;
    }
    if (arg[0] == '-' && arg[1] && !arg[2]) {
        for (size_t i = 0; i < sizeof(short_opts) / sizeof(short_opts[0]); i++)
            if (short_opts[i].short_name == arg[1])
                return short_opts[i].name;
    }
    return NULL;
}

static bool takes_value(const char *name)
{
    return strcmp(name, "idle") && strcmp(name, "native") && strcmp(name, "status") &&
           strcmp(name, "help");
}

int agent_parse(struct agent_config *c, int argc, char **argv, FILE *out, FILE *err)
{
    const char *config = NULL;
    bool server_given = false;
    char buf[64];
    int r;

    /* Pass 1: --config and --help, so the file can be applied before the other options. */
    for (int i = 1; i < argc; i++) {
        const char *val, *name = option_name(argv[i], buf, sizeof(buf), &val);

        if (!name)
            return bad(err, NULL, "unexpected argument '%s'; see 'pyprof agent --help'",
                       argv[i]);
        if (!strcmp(name, "help")) {
            fputs(usage_agent, out);
            return AGENT_E_EXIT;
        }
        if (takes_value(name) && !val) {
            if (i + 1 >= argc)
                return bad(err, NULL, "option '%s' needs a value", argv[i]);
            val = argv[++i];
        }
        if (!strcmp(name, "config"))
            config = val;
        if (!strcmp(name, "server"))
            server_given = true;
    }
    if (!config && !server_given && getenv("INVOCATION_ID") &&
        access(AGENT_DEFAULT_CONFIG, R_OK) == 0)
        config = AGENT_DEFAULT_CONFIG; /* run by systemd without arguments */
    if (config) {
        r = set_str(&c->config, config);
        if (!r)
            r = agent_load_file(c, config, err);
        if (r)
            return r;
    }
    for (int i = 1; i < argc; i++) {
        const char *val, *name = option_name(argv[i], buf, sizeof(buf), &val);

        if (takes_value(name) && !val)
            val = argv[++i];
        if (!strcmp(name, "config"))
            continue;
        r = agent_set(c, name, val, NULL, err);
        if (r)
            return r;
    }
    if (c->status)
        return 0;
    if (!c->server)
        return bad(err, NULL, "--server URL is required (e.g. --server http://127.0.0.1:4040)");
    if (!c->app)
        return bad(err, NULL, "--app NAME is required");
    if (!c->pid && !c->pidfile && !c->match)
        return bad(err, NULL, "nothing to profile: give --pid, --pidfile or --match");
    return 0;
}

/* ===== State ===== */

enum target_state { T_PENDING, T_ACTIVE, T_GONE, T_FAILED };

struct target {
    pid_t pid;
    uint64_t start_time;     /* /proc/PID/stat field 22: tells a reused pid apart */
    enum target_state state;
    bool wanted;             /* selected by the last scan */
    bool runtime_found;      /* discover_runtime succeeded; only the interpreter is missing */
    int64_t first_seen, next_try, backoff;
    int logged;              /* last discovery code logged, to log each problem once */
    struct mem mem;
    struct py_runtime rt;
    uint64_t head;
    struct walker *w;
    struct pp_agg *agg;      /* stacks since the walker started (it holds ids into it) */
    uint64_t *prev;          /* count of each stack of @agg when the last window was shipped */
    size_t n_prev;
    bool overflow_logged;
};

struct inflight {
    uint64_t id;
    char *meta;              /* the query string */
    void *body;
    size_t len;
    char spool_name[48];     /* non-empty: a retry of this spool entry */
};

struct counters {
    uint64_t samples;        /* thread stacks added */
    uint64_t ticks;          /* sampling rounds */
    uint64_t windows;        /* profiles encoded */
    uint64_t sent;           /* delivered (fresh or from the spool) */
    uint64_t sent_bytes;
    uint64_t spooled;        /* failed uploads put in the spool */
    uint64_t retried;        /* deliveries from the spool */
    uint64_t rejected;       /* refused by the server for good */
    uint64_t lost;           /* could not even be spooled */
    uint64_t overflows;      /* windows where the stack cap merged stacks into "other" */
    uint64_t attached, detached;
    uint64_t rate_changes;
};

struct agent {
    struct agent_config cfg;
    int argc;
    char **argv;
    FILE *err;
    bool journal;            /* stderr goes to journald: no timestamps, <N> prefixes */
    regex_t re;
    bool have_re;
    struct target **t;
    size_t n_t;
    struct upload *up;
    struct spool *spool;
    char state_dir[PATH_MAX];
    struct inflight inf[MAX_INFLIGHT];
    size_t n_inf;
    uint64_t next_id;
    bool spool_busy;
    int64_t retry_at, backoff;
    bool failing;            /* uploads are failing (logged once until they work again) */
    bool rejected_logged[600];
    double rate;             /* the rate in use (lowered by --max-cpu) */
    double window_rate;      /* the rate of the current window's first sample */
    uint64_t win_start, win_end; /* unix seconds */
    int64_t last_cpu, last_cpu_wall;
    double cpu_pct;          /* agent CPU over the last window, % of one core */
    double achieved_hz;
    uint64_t ticks_at_window;
    int64_t window_mono;
    uint32_t rng;
    bool reload_pending;
    uint64_t watchdog_usec;
    int64_t next_watchdog;
    struct counters c;
};

/* ===== Logging: one line per problem ===== */

static void alog(struct agent *a, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void alog(struct agent *a, int level, const char *fmt, ...)
{
    static const char *const names[] = { "error", "warning", "info", "debug" };
    static const int prio[] = { 3, 4, 6, 7 };
    va_list ap;

    if (level > a->cfg.log_level)
        return;
    if (a->journal) {
        fprintf(a->err, "<%d>", prio[level]);
    } else {
        struct timespec ts;
        struct tm tm;
        char t[32];

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(a->err, "%s.%03ldZ pyprof agent: %s: ", t, ts.tv_nsec / 1000000, names[level]);
    }
    va_start(ap, fmt);
    vfprintf(a->err, fmt, ap);
    va_end(ap);
    fputc('\n', a->err);
    fflush(a->err);
}

static bool under_journald(FILE *err)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long dev, ino;
    struct stat sb;

    if (!js || sscanf(js, "%lu:%lu", &dev, &ino) != 2 || fstat(fileno(err), &sb) < 0)
        return false;
    return (unsigned long)sb.st_dev == dev && (unsigned long)sb.st_ino == ino;
}

/* ===== Time ===== */

/* xorshift32, for retry jitter. */
static double jitter(struct agent *a)
{
    a->rng ^= a->rng << 13;
    a->rng ^= a->rng >> 17;
    a->rng ^= a->rng << 5;
    return 0.5 + (double)(a->rng % 10000) / 10000.0; /* 0.5 .. 1.5 */
}

/* ===== Processes ===== */

/* Field 22 of /proc/PID/stat (start time in clock ticks), 0 when the process is gone. */
static uint64_t proc_start_time(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long st = 0;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* after ") ": state is field 3; start time is field 22, i.e. the 20th after the state */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
                      "%*d %llu",
               &st) != 1)
        return 0;
    return st;
}

/* The command line of @pid with NULs as spaces, "" when unreadable. */
static void proc_cmdline(pid_t pid, char *buf, size_t cap)
{
    char path[64];
    ssize_t n;
    int fd;

    buf[0] = '\0';
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    while (n > 0 && buf[n - 1] == ' ')
        n--;
    buf[n] = '\0';
}

static pid_t read_pidfile(const char *path)
{
    char buf[32];
    long p;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strtol(buf, NULL, 10);
    return p > 0 && p <= 4194304 ? (pid_t)p : 0;
}

/* ===== Targets ===== */

static struct target *find_target(struct agent *a, pid_t pid, uint64_t st)
{
    for (size_t i = 0; i < a->n_t; i++)
        if (a->t[i]->pid == pid && a->t[i]->start_time == st)
            return a->t[i];
    return NULL;
}

static void target_free(struct target *t)
{
    if (!t)
        return;
    walker_free(t->w);
    pp_agg_free(t->agg);
    free(t->prev);
    free(t);
}

static void want_pid(struct agent *a, pid_t pid, int64_t now)
{
    uint64_t st;
    struct target *t;

    if (pid <= 0 || pid == getpid())
        return;
    st = proc_start_time(pid);
    if (!st)
        return;
    t = find_target(a, pid, st);
    if (t) {
        t->wanted = true;
        return;
    }
    if (a->n_t >= MAX_TARGETS) {
        alog(a, PP_LOG_WARN, "more than %d targets: PID %d left out", MAX_TARGETS, (int)pid);
        return;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return;
    t->pid = pid;
    t->start_time = st;
    t->state = T_PENDING;
    t->wanted = true;
    t->first_seen = now;
    t->next_try = now;
    t->backoff = 10 * 1000 * 1000;
    mem_init(&t->mem, pid);
    a->t[a->n_t++] = t;
}

/* Select the targets: --pid, --pidfile, --match. New ones start PENDING. */
static void scan_targets(struct agent *a, int64_t now)
{
    for (size_t i = 0; i < a->n_t; i++)
        a->t[i]->wanted = false;
    if (a->cfg.pid)
        want_pid(a, a->cfg.pid, now);
    if (a->cfg.pidfile)
        want_pid(a, read_pidfile(a->cfg.pidfile), now);
    if (a->have_re) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        char cmd[4096];

        while (d && (de = readdir(d))) {
            char *end;
            long pid = strtol(de->d_name, &end, 10);

            if (*end || pid <= 0 || pid == getpid())
                continue;
            proc_cmdline((pid_t)pid, cmd, sizeof(cmd));
            if (cmd[0] && regexec(&a->re, cmd, 0, NULL, 0) == 0)
                want_pid(a, (pid_t)pid, now);
        }
        if (d)
            closedir(d);
    }
    /* Forget targets never attached that are no longer selected or gone. */
    for (size_t i = 0; i < a->n_t;) {
        struct target *t = a->t[i];

        if ((t->state == T_PENDING || t->state == T_FAILED) &&
            (!t->wanted || proc_start_time(t->pid) != t->start_time)) {
            target_free(t);
            a->t[i] = a->t[--a->n_t];
            continue;
        }
        i++;
    }
}

static int start_walker(struct agent *a, struct target *t)
{
    struct walk_opts wo = { .idle = a->cfg.idle, .lineno = true };
    int r;

    t->w = walker_free(t->w);
    r = walker_new(&t->w, &t->mem, &t->rt, t->head, t->pid, t->agg, &wo);
    return r;
}

static void retry_later(struct target *t, int64_t now, int64_t cap)
{
    t->next_try = now + t->backoff;
    t->backoff *= 2;
    if (t->backoff > cap)
        t->backoff = cap;
}

static void log_once(struct agent *a, struct target *t, int code, int level, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void log_once(struct agent *a, struct target *t, int code, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (t->logged == code)
        return;
    t->logged = code;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    alog(a, level, "%s", msg);
}

/* Find the interpreter of a PENDING target; never blocks for long. */
static void try_attach(struct agent *a, struct target *t, int64_t now)
{
    bool young = now - t->first_seen < YOUNG_NS;
    int r = 0;

    if (!t->runtime_found) {
        r = discover_runtime(&t->rt, &t->mem, t->pid);
        t->runtime_found = !r;
    }
    if (!r)
        r = discover_interp_head(&t->rt, &t->mem, &t->head);
    if (!r) {
        if (!t->agg)
            r = pp_agg_new(&t->agg);
        if (!r)
            r = start_walker(a, t);
        if (r) {
            log_once(a, t, 1000, PP_LOG_ERROR, "PID %d: cannot start sampling: %s", (int)t->pid,
                     strerror(-r));
            retry_later(t, now, SLOW_RETRY);
            return;
        }
        char cmd[256];

        proc_cmdline(t->pid, cmd, sizeof(cmd));
        t->state = T_ACTIVE;
        t->logged = 0;
        a->c.attached++;
        alog(a, PP_LOG_INFO, "attached to PID %d (Python %u.%u): %s", (int)t->pid, t->rt.major,
             t->rt.minor, cmd);
        return;
    }
    alog(a, PP_LOG_DEBUG, "PID %d: discovery: %d (%s)", (int)t->pid, r, t->rt.why);
    switch (r) {
    case DISCOVER_E_GONE:
        t->state = T_FAILED;
        t->next_try = INT64_MAX;
        return;
    case DISCOVER_E_NOTREADY:
        retry_later(t, now, young ? NSEC / 4 : 2 * NSEC);
        return;
    case DISCOVER_E_NOTPY:
        t->runtime_found = false;
        if (!young)
            log_once(a, t, r, PP_LOG_INFO,
                     "PID %d is not a Python process (%s); checking again every 30 s",
                     (int)t->pid, t->rt.why);
        retry_later(t, now, young ? NSEC / 4 : SLOW_RETRY);
        return;
    case DISCOVER_E_PERM:
        log_once(a, t, r, PP_LOG_WARN,
                 "PID %d: permission denied reading its memory: run as root or with "
                 "CAP_SYS_PTRACE (AmbientCapabilities=CAP_SYS_PTRACE in the unit)",
                 (int)t->pid);
        t->runtime_found = false;
        retry_later(t, now, SLOW_RETRY);
        t->next_try = now + SLOW_RETRY;
        return;
    case DISCOVER_E_UNSUPPORTED:
        log_once(a, t, r, PP_LOG_WARN, "PID %d: %s; not profiled", (int)t->pid, t->rt.why);
        t->state = T_FAILED;
        t->next_try = INT64_MAX;
        return;
    default:
        log_once(a, t, r, PP_LOG_WARN, "PID %d: looking for Python: %s", (int)t->pid,
                 strerror(r < 0 ? -r : EIO));
        t->runtime_found = false;
        t->next_try = now + SLOW_RETRY;
        return;
    }
}

/* ===== The stack cap ===== */

struct stack_ref {
    size_t i;
    uint64_t count;
};

static int cmp_count_desc(const void *x, const void *y)
{
    const struct stack_ref *p = x, *q = y;

    return p->count < q->count ? 1 : p->count > q->count ? -1 : (p->i > q->i) - (p->i < q->i);
}

static int copy_str(struct pp_agg *dst, const struct pp_agg *src, uint32_t id, uint32_t *out)
{
    size_t len = 0;
    const char *s = pp_strtab_str(pp_agg_strtab_const(src), id, &len);

    return pp_strtab_intern(pp_agg_strtab(dst), s ? s : "", s ? len : 0, out);
}

/* Copy stack @v of @src into @dst. */
static int copy_stack(struct pp_agg *dst, const struct pp_agg *src, const struct pp_stack_view *v,
                      uint32_t *fids)
{
    const struct pp_thread *th = pp_agg_thread_get(src, v->thread);
    uint32_t thread = 0, name = 0;
    int r = 0;

    for (uint32_t k = 0; k < v->n_fids && !r; k++) {
        struct pp_frame f = *pp_agg_frame_get(src, v->fids[k]);

        r = copy_str(dst, src, f.name, &f.name);
        if (!r)
            r = copy_str(dst, src, f.file, &f.file);
        if (!r)
            r = pp_agg_intern_frame(dst, &f, &fids[k]);
    }
    if (!r && th)
        r = copy_str(dst, src, th->name, &name);
    if (!r && th)
        r = pp_agg_intern_thread(dst, th->tid, name, &thread);
    if (!r)
        r = pp_agg_add(dst, thread, fids, v->n_fids, v->count);
    return r;
}

/*
 * The window's part of @src: each stack counted count - @prev[i] (0 past @n_prev), in a new
 * aggregate. Only the @keep most frequent stacks are kept; the rest are merged into one
 * "[other stacks]" frame (thread 0, no labels) and *merged is set. 0 and *out, or -errno.
 */
static int agg_window(const struct pp_agg *src, const uint64_t *prev, size_t n_prev, size_t keep,
                      struct pp_agg **out, bool *merged)
{
    size_t n = pp_agg_n_stacks(src), m = 0;
    struct stack_ref *refs = calloc(n ? n : 1, sizeof(*refs));
    uint32_t *fids = malloc((WALK_MAX_DEPTH + 2) * sizeof(*fids));
    struct pp_agg *dst = NULL;
    uint64_t other = 0;
    int r;

    *out = NULL;
    *merged = false;
    if (!refs || !fids) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    r = pp_agg_new(&dst);
    if (r)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct pp_stack_view v;
        uint64_t before = i < n_prev ? prev[i] : 0;

        pp_agg_stack(src, i, &v);
        if (v.count > before) {
            refs[m].i = i;
            refs[m++].count = v.count - before;
        }
    }
    qsort(refs, m, sizeof(*refs), cmp_count_desc);
    for (size_t k = 0; k < m && !r; k++) {
        struct pp_stack_view v;

        pp_agg_stack(src, refs[k].i, &v);
        v.count = refs[k].count;
        if (k < keep && v.n_fids <= WALK_MAX_DEPTH + 1)
            r = copy_stack(dst, src, &v, fids);
        else
            other += v.count;
    }
    if (!r && other) {
        struct pp_frame f = { .origin = PP_ORIGIN_UNKNOWN };
        uint32_t thread = 0, empty = 0, fid = 0;

        *merged = true;
        r = pp_strtab_intern(pp_agg_strtab(dst), OTHER_NAME, sizeof(OTHER_NAME) - 1, &f.name);
        if (!r)
            r = pp_strtab_intern(pp_agg_strtab(dst), "", 0, &empty);
        f.file = empty;
        if (!r)
            r = pp_agg_intern_frame(dst, &f, &fid);
        if (!r)
            r = pp_agg_intern_thread(dst, 0, empty, &thread);
        if (!r)
            r = pp_agg_add(dst, thread, &fid, 1, other);
    }
out:
    if (r)
        dst = pp_agg_free(dst);
    *out = dst;
    free(refs);
    free(fids);
    return r;
}

/* Distinct stacks a target's aggregate may hold before it is rebuilt (memory bound). */
static size_t rebuild_at(const struct agent *a)
{
    return a->cfg.max_stacks * 2 > 10000 ? a->cfg.max_stacks * 2 : 10000;
}

static void overflowed(struct agent *a, struct target *t)
{
    a->c.overflows++;
    if (t->overflow_logged)
        return;
    t->overflow_logged = true;
    alog(a, PP_LOG_WARN,
         "PID %d: more than %u distinct stacks in a window; the rarest are merged into "
         "\"%s\" (--max-stacks)",
         (int)t->pid, a->cfg.max_stacks, OTHER_NAME);
}

/*
 * Replace the target's aggregate by a new one holding only what the current window has so far
 * (capped to --max-stacks), and restart its walker on it (the walker's caches hold ids). Keeps
 * memory bounded however many distinct stacks a target goes through.
 */
static void rebuild(struct agent *a, struct target *t)
{
    struct pp_agg *n = NULL;
    bool merged;
    int r;

    r = agg_window(t->agg, t->prev, t->n_prev, a->cfg.max_stacks, &n, &merged);
    if (r) {
        alog(a, PP_LOG_ERROR, "PID %d: %s while bounding the stacks", (int)t->pid, strerror(-r));
        return;
    }
    if (merged)
        overflowed(a, t);
    t->w = walker_free(t->w);
    pp_agg_free(t->agg);
    t->agg = n;
    free(t->prev);
    t->prev = NULL;
    t->n_prev = 0;
    if (t->state == T_ACTIVE && start_walker(a, t) < 0)
        t->state = T_GONE;
}

/* Mid-window: too many distinct stacks to keep in memory. */
static void enforce_cap(struct agent *a, struct target *t)
{
    if (pp_agg_n_stacks(t->agg) > rebuild_at(a))
        rebuild(a, t);
}

/* ===== Uploads and the spool ===== */

static void inflight_free(struct inflight *f)
{
    free(f->meta);
    free(f->body);
    memset(f, 0, sizeof(*f));
}

static void to_spool(struct agent *a, const char *meta, const void *body, size_t len)
{
    int r = a->spool ? spool_put(a->spool, meta, body, len, (uint64_t)attach_real_ns()) : -ENOENT;

    if (r == 0) {
        a->c.spooled++;
        if (!a->retry_at)
            a->retry_at = attach_mono_ns() + (int64_t)((double)a->backoff * jitter(a));
        return;
    }
    a->c.lost++;
    alog(a, PP_LOG_ERROR, "a window could not be spooled (%s); lost",
         r == SPOOL_E_TOOBIG ? "larger than --spool-max-size" : strerror(r < 0 ? -r : EIO));
}

/* Start an upload, taking ownership of @meta and @body. */
static void send_window(struct agent *a, char *meta, void *body, size_t len, const char *spooled)
{
    struct inflight *f;
    int r;

    if (a->n_inf == MAX_INFLIGHT) {
        if (!spooled)
            to_spool(a, meta, body, len);
        free(meta);
        free(body);
        return;
    }
    r = upload_start(a->up, ++a->next_id, meta, body, len);
    if (r) {
        alog(a, PP_LOG_ERROR, "cannot start an upload: %s", strerror(-r));
        if (!spooled)
            to_spool(a, meta, body, len);
        free(meta);
        free(body);
        return;
    }
    f = &a->inf[a->n_inf++];
    f->id = a->next_id;
    f->meta = meta;
    f->body = body;
    f->len = len;
    snprintf(f->spool_name, sizeof(f->spool_name), "%s", spooled ? spooled : "");
    if (spooled)
        a->spool_busy = true;
}

static void handle_result(struct agent *a, const struct upload_result *res)
{
    struct inflight *f = NULL;
    size_t i;
    bool from_spool;

    for (i = 0; i < a->n_inf; i++) {
        if (a->inf[i].id == res->id) {
            f = &a->inf[i];
            break;
        }
    }
    if (!f)
        return;
    from_spool = f->spool_name[0] != '\0';
    if (from_spool)
        a->spool_busy = false;
    switch (res->verdict) {
    case UPLOAD_DELIVERED:
        a->c.sent++;
        a->c.sent_bytes += f->len;
        if (from_spool) {
            a->c.retried++;
            spool_remove(a->spool, f->spool_name);
        }
        if (a->failing) {
            alog(a, PP_LOG_INFO, "uploads work again; %" PRIu64 " spooled window(s) to resend",
                 a->spool ? spool_stats(a->spool)->n_files : 0);
            a->failing = false;
        }
        a->backoff = RETRY_MIN;
        a->retry_at = 1; /* drain the spool now */
        break;
    case UPLOAD_RETRY:
        if (!a->failing) {
            alog(a, PP_LOG_WARN, "upload failed (%s); spooling and retrying with backoff",
                 res->reason);
            a->failing = true;
        }
        if (!from_spool) {
            to_spool(a, f->meta, f->body, f->len);
        } else {
            int64_t max = (int64_t)(a->cfg.retry_max * NSEC);

            a->backoff = a->backoff * 2 > max ? max : a->backoff * 2;
            a->retry_at = attach_mono_ns() + (int64_t)((double)a->backoff * jitter(a));
        }
        break;
    case UPLOAD_REJECTED: {
        long st = res->status >= 0 && res->status < 600 ? res->status : 0;

        a->c.rejected++;
        if (!a->rejected_logged[st]) {
            a->rejected_logged[st] = true;
            alog(a, PP_LOG_ERROR, "the server rejected a window (%s); dropped, not retried",
                 res->reason);
        }
        if (from_spool) {
            spool_remove(a->spool, f->spool_name);
            a->retry_at = 1;
        }
        break;
    }
    }
    inflight_free(f);
    a->inf[i] = a->inf[--a->n_inf];
}

/* Move uploads on for up to @wait_ms and handle finished ones; retry the spool when due. */
static void service_uploads(struct agent *a, int wait_ms)
{
    struct upload_result res;

    if (upload_in_flight(a->up))
        upload_poll(a->up, wait_ms);
    while (upload_next_result(a->up, &res) == 1)
        handle_result(a, &res);
    if (a->spool && !a->spool_busy && a->retry_at && attach_mono_ns() >= a->retry_at &&
        a->n_inf < MAX_INFLIGHT) {
        struct spool_item it;
        int r;

        do {
            r = spool_peek(a->spool, &it);
        } while (r == SPOOL_E_CORRUPT);
        if (r == SPOOL_E_EMPTY || r < 0) {
            a->retry_at = 0;
            return;
        }
        send_window(a, it.meta, it.body, it.len, it.name);
        it.meta = NULL;
        it.body = NULL;
    }
}

/* ===== Windows ===== */

static int build_query(struct agent *a, const struct target *t, uint64_t from, uint64_t until,
                       double rate, char **out)
{
    char name[2048], esc[6144], *q;
    size_t n;
    int len;

    n = (size_t)snprintf(name, sizeof(name), "%s.%s{", a->cfg.app, a->cfg.idle ? "wall" : "cpu");
    for (size_t i = 0; i < a->cfg.n_tags && n < sizeof(name); i++)
        n += (size_t)snprintf(name + n, sizeof(name) - n, "%s,", a->cfg.tags[i]);
    if (n < sizeof(name))
        n += (size_t)snprintf(name + n, sizeof(name) - n, "pid=%d}", (int)t->pid);
    if (n >= sizeof(name) || upload_escape(name, esc, sizeof(esc)) < 0)
        return pp_err_origin(-ENAMETOOLONG);
    len = asprintf(&q,
                   "format=pprof&name=%s&from=%" PRIu64 "&until=%" PRIu64
                   "&sampleRate=%.0f&spyName=pyprof",
                   esc, from, until, rate);
    if (len < 0)
        return pp_err_origin(-ENOMEM);
    *out = q;
    return 0;
}

/* Encode @t's window [from, until) and send it. */
static void ship_target(struct agent *a, struct target *t, uint64_t from, uint64_t until)
{
    struct pp_meta meta = {
        .start_unix_ns = from * (uint64_t)NSEC,
        .duration_ns = (until - from) * (uint64_t)NSEC,
        .rate_hz = a->window_rate,
        .wall = a->cfg.idle,
        .pid = (uint32_t)t->pid,
    };
    struct pp_agg *win = NULL;
    char *buf = NULL, *q = NULL;
    size_t len = 0, n;
    bool merged = false;
    FILE *f = NULL;
    int r;

    if (!t->agg)
        return;
    r = agg_window(t->agg, t->prev, t->n_prev, a->cfg.max_stacks, &win, &merged);
    if (r)
        goto fail;
    /* What is shipped now is the baseline of the next window. */
    n = pp_agg_n_stacks(t->agg);
    if (n > t->n_prev) {
        uint64_t *np = realloc(t->prev, n * sizeof(*np));

        if (!np) {
            r = pp_err_origin(-ENOMEM);
            goto fail;
        }
        t->prev = np;
    }
    for (size_t i = 0; i < n; i++) {
        struct pp_stack_view v;

        pp_agg_stack(t->agg, i, &v);
        t->prev[i] = v.count;
    }
    t->n_prev = n;
    if (!pp_agg_total(win)) {
        pp_agg_free(win);
        return;
    }
    if (merged)
        overflowed(a, t);
    f = open_memstream(&buf, &len);
    if (!f) {
        r = pp_err_origin(-errno);
        goto fail;
    }
    r = pp_pprof_write(win, &meta, f);
    if (fclose(f) != 0 && !r)
        r = -EIO;
    if (!r)
        r = build_query(a, t, from, until, a->window_rate, &q);
    pp_agg_free(win);
    win = NULL;
    if (r)
        goto fail;
    a->c.windows++;
    send_window(a, q, buf, len, NULL);
    return;
fail:
    alog(a, PP_LOG_ERROR, "PID %d: encoding a window: %s", (int)t->pid, strerror(-r));
    pp_agg_free(win);
    free(buf);
    free(q);
    a->c.lost++;
}

/* Close the window [win_start, @until): ship every target, start the next window. */
static void end_window(struct agent *a, uint64_t until)
{
    for (size_t i = 0; i < a->n_t;) {
        struct target *t = a->t[i];

        ship_target(a, t, a->win_start, until);
        if (t->state == T_GONE) {
            target_free(t);
            a->t[i] = a->t[--a->n_t];
            continue;
        }
        /* Between windows a rebuild carries nothing over: start afresh at half the bound. */
        if (t->state == T_ACTIVE && pp_agg_n_stacks(t->agg) > rebuild_at(a) / 2)
            rebuild(a, t);
        i++;
    }
}

/* ===== Rate control (--max-cpu) ===== */

static void check_cpu(struct agent *a, int64_t now)
{
    int64_t cpu = attach_cpu_ns(), wall = now - a->last_cpu_wall;
    double pct;

    if (wall < 2 * NSEC)
        return; /* too short to judge (the first window includes start-up): keep measuring */
    pct = 100.0 * (double)(cpu - a->last_cpu) / (double)wall;
    a->cpu_pct = pct;
    a->last_cpu = cpu;
    a->last_cpu_wall = now;
    if (a->ticks_at_window && now > a->window_mono)
        a->achieved_hz = (double)(a->c.ticks - a->ticks_at_window) * NSEC /
                         (double)(now - a->window_mono);
    if (a->cfg.max_cpu <= 0)
        return;
    if (pct > a->cfg.max_cpu && a->rate > 1) {
        double nr = a->rate * a->cfg.max_cpu / pct * 0.9;

        nr = nr < 1 ? 1 : floor(nr);
        alog(a, PP_LOG_WARN, "agent CPU %.1f%% is over --max-cpu %.1f%%: rate lowered from %.0f "
             "to %.0f Hz", pct, a->cfg.max_cpu, a->rate, nr);
        a->rate = nr;
        a->c.rate_changes++;
    } else if (pct < a->cfg.max_cpu / 3 && a->rate < a->cfg.rate) {
        double nr = a->rate * 1.5 > a->cfg.rate ? a->cfg.rate : ceil(a->rate * 1.5);

        alog(a, PP_LOG_INFO, "agent CPU %.1f%%: rate raised from %.0f to %.0f Hz", pct, a->rate,
             nr);
        a->rate = nr;
        a->c.rate_changes++;
    }
}

/* ===== Status ===== */

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    long pages = 0, res = 0;

    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &res) != 2)
        res = 0;
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void format_status(struct agent *a, char *buf, size_t cap)
{
    const struct spool_stats *ss = a->spool ? spool_stats(a->spool) : NULL;
    size_t active = 0;

    for (size_t i = 0; i < a->n_t; i++)
        active += a->t[i]->state == T_ACTIVE;
    snprintf(buf, cap,
             "pid = %d\n"
             "server = %s\n"
             "app = %s\n"
             "targets = %zu\n"
             "targets_active = %zu\n"
             "attached = %" PRIu64 "\n"
             "samples = %" PRIu64 "\n"
             "rate_hz = %.0f\n"
             "achieved_hz = %.1f\n"
             "cpu_percent = %.2f\n"
             "rss_kb = %ld\n"
             "windows = %" PRIu64 "\n"
             "sent = %" PRIu64 "\n"
             "sent_bytes = %" PRIu64 "\n"
             "spooled = %" PRIu64 "\n"
             "resent_from_spool = %" PRIu64 "\n"
             "rejected = %" PRIu64 "\n"
             "lost = %" PRIu64 "\n"
             "spool_files = %" PRIu64 "\n"
             "spool_bytes = %" PRIu64 "\n"
             "spool_dropped = %" PRIu64 "\n"
             "stack_overflows = %" PRIu64 "\n"
             "rate_changes = %" PRIu64 "\n",
             (int)getpid(), a->cfg.server, a->cfg.app, a->n_t, active, a->c.attached,
             a->c.samples, a->rate, a->achieved_hz, a->cpu_pct, rss_kb(), a->c.windows,
             a->c.sent, a->c.sent_bytes, a->c.spooled, a->c.retried, a->c.rejected, a->c.lost,
             ss ? ss->n_files : 0, ss ? ss->bytes : 0,
             ss ? ss->dropped_full + ss->dropped_age : 0, a->c.overflows, a->c.rate_changes);
}

static void write_status(struct agent *a)
{
    char buf[2048], path[PATH_MAX + 16], tmp[PATH_MAX + 16];
    FILE *f;

    format_status(a, buf, sizeof(buf));
    snprintf(path, sizeof(path), "%s/status", a->state_dir);
    snprintf(tmp, sizeof(tmp), "%s/.status.tmp", a->state_dir);
    f = fopen(tmp, "we");
    if (!f)
        return;
    fputs(buf, f);
    if (fclose(f) == 0)
        rename(tmp, path);
}

static void notify(struct agent *a, bool ready)
{
#if HAVE_LIBSYSTEMD
    char msg[512];
    const struct spool_stats *ss = a->spool ? spool_stats(a->spool) : NULL;

    snprintf(msg, sizeof(msg),
             "%sSTATUS=%zu target(s), %" PRIu64 " samples, %" PRIu64 " windows sent, %" PRIu64
             " spooled, rate %.0f Hz, CPU %.1f%%",
             ready ? "READY=1\n" : "", a->n_t, a->c.samples, a->c.sent,
             ss ? ss->n_files : 0, a->rate, a->cpu_pct);
    sd_notify(0, msg);
#else
    (void)a;
    (void)ready;
#endif
}

static void watchdog(struct agent *a, int64_t now)
{
#if HAVE_LIBSYSTEMD
    if (a->watchdog_usec && now >= a->next_watchdog) {
        sd_notify(0, "WATCHDOG=1");
        a->next_watchdog = now + (int64_t)a->watchdog_usec * 1000 / 2;
    }
#else
    (void)a;
    (void)now;
#endif
}

static void default_state_dir(const struct agent_config *c, char *buf, size_t cap)
{
    const char *s = getenv("STATE_DIRECTORY"), *home = getenv("HOME");
    const char *xdg = getenv("XDG_STATE_HOME");

    if (c->state_dir)
        snprintf(buf, cap, "%s", c->state_dir);
    else if (s && *s)
        snprintf(buf, cap, "%.*s", (int)strcspn(s, ":"), s); /* the first of a list */
    else if (geteuid() == 0)
        snprintf(buf, cap, "/var/lib/pyprof-agent");
    else if (xdg && *xdg)
        snprintf(buf, cap, "%s/pyprof-agent", xdg);
    else
        snprintf(buf, cap, "%s/.local/state/pyprof-agent", home ? home : "/tmp");
}

/* mkdir -p */
static int make_dirs(const char *path)
{
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s", path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int print_status(const struct agent_config *c, FILE *out, FILE *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], line[512];
    struct stat sb;
    FILE *f;

    default_state_dir(c, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/status", dir);
    f = fopen(path, "re");
    if (!f) {
        fprintf(err, "pyprof agent: no status in %s: %s (is the agent running? --state-dir)\n",
                path, strerror(errno));
        return PYPROF_EXIT_NOINPUT;
    }
    while (fgets(line, sizeof(line), f))
        fputs(line, out);
    if (fstat(fileno(f), &sb) == 0)
        fprintf(out, "updated = %lds ago\n", (long)(time(NULL) - sb.st_mtime));
    fclose(f);
    return PYPROF_EXIT_OK;
}

/* ===== Setup and reload ===== */

static int apply_config(struct agent *a)
{
    struct upload_opts uo = {
        .server = a->cfg.server,
        .token = a->cfg.token,
        .tenant = a->cfg.tenant,
        .timeout = a->cfg.timeout,
        .user_agent = "pyprof-agent/" PP_VERSION,
    };
    int r;

    if (a->have_re)
        regfree(&a->re);
    a->have_re = false;
    if (a->cfg.match) {
        if (regcomp(&a->re, a->cfg.match, REG_EXTENDED | REG_NOSUB))
            return pp_err_origin(-EINVAL);
        a->have_re = true;
    }
    r = a->up ? upload_set_opts(a->up, &uo) : upload_new(&a->up, &uo);
    if (r)
        return r;
    a->rate = a->cfg.rate;
    return 0;
}

static void reload(struct agent *a)
{
    struct agent_config nc;
    FILE *devnull = NULL;
    char *msg = NULL;
    size_t msg_len = 0;
    int r;

    a->reload_pending = false;
    agent_defaults(&nc);
    devnull = open_memstream(&msg, &msg_len);
    if (!devnull)
        return;
    r = agent_parse(&nc, a->argc, a->argv, devnull, devnull);
    fclose(devnull);
    if (r) {
        size_t l = msg ? strcspn(msg, "\n") : 0;

        alog(a, PP_LOG_ERROR, "SIGHUP: config not reloaded: %.*s", (int)l, msg ? msg : "");
        free(msg);
        agent_config_free(&nc);
        return;
    }
    free(msg);
    if (nc.state_dir && a->cfg.state_dir && strcmp(nc.state_dir, a->cfg.state_dir))
        alog(a, PP_LOG_WARN, "SIGHUP: a new state-dir takes effect after a restart");
    agent_config_free(&a->cfg);
    a->cfg = nc;
    if (apply_config(a) < 0)
        alog(a, PP_LOG_ERROR, "SIGHUP: applying the new config failed");
    /* Targets no longer selected are let go at once; their window so far is not sent. */
    for (size_t i = 0; i < a->n_t; i++)
        a->t[i]->wanted = false;
    scan_targets(a, attach_mono_ns());
    for (size_t i = 0; i < a->n_t;) {
        if (!a->t[i]->wanted) {
            alog(a, PP_LOG_INFO, "PID %d is no longer selected", (int)a->t[i]->pid);
            target_free(a->t[i]);
            a->t[i] = a->t[--a->n_t];
            continue;
        }
        /* idle may have changed: the walker takes it at creation */
        if (a->t[i]->state == T_ACTIVE)
            start_walker(a, a->t[i]);
        i++;
    }
    alog(a, PP_LOG_INFO, "config reloaded from %s", a->cfg.config ? a->cfg.config : "(none)");
}

/* ===== The loop ===== */

static void new_window_bounds(struct agent *a, int64_t real)
{
    uint64_t w = a->cfg.window_s, s = (uint64_t)(real / NSEC);

    a->win_start = s - s % w;
    a->win_end = a->win_start + w;
    a->window_rate = a->rate;
    a->ticks_at_window = a->c.ticks ? a->c.ticks : 1;
    a->window_mono = attach_mono_ns();
}

static void sample_all(struct agent *a, int64_t now)
{
    for (size_t i = 0; i < a->n_t; i++) {
        struct target *t = a->t[i];
        uint64_t before;
        int r;

        if (t->state == T_PENDING && now >= t->next_try)
            try_attach(a, t, now);
        if (t->state != T_ACTIVE)
            continue;
        before = walker_stats(t->w)->stacks;
        r = walker_sample(t->w, (uint64_t)attach_real_ns());
        a->c.samples += walker_stats(t->w)->stacks - before;
        if (r == WALK_E_GONE || r < 0) {
            t->w = walker_free(t->w);
            t->state = T_GONE;
            a->c.detached++;
            if (r < 0)
                alog(a, PP_LOG_ERROR, "PID %d: sampling failed (%s); detached", (int)t->pid,
                     strerror(-r));
            else
                alog(a, PP_LOG_INFO, "PID %d exited; detached", (int)t->pid);
            continue;
        }
        enforce_cap(a, t);
    }
    a->c.ticks++;
}

static void flush_and_wait(struct agent *a)
{
    int64_t real = attach_real_ns(), deadline;
    uint64_t until = (uint64_t)((real + NSEC - 1) / NSEC);

    if (until <= a->win_start)
        until = a->win_start + 1;
    if (until > a->win_end)
        until = a->win_end;
    end_window(a, until);
    deadline = attach_mono_ns() + (int64_t)((a->cfg.timeout + 1) * NSEC);
    while (a->n_inf) {
        bool spool_only = true;

        for (size_t i = 0; i < a->n_inf; i++)
            spool_only &= a->inf[i].spool_name[0] != '\0';
        if (spool_only || attach_mono_ns() >= deadline)
            break;
        upload_poll(a->up, 100);
        struct upload_result res;

        while (upload_next_result(a->up, &res) == 1)
            handle_result(a, &res);
    }
    /* Whatever is still in flight goes to the spool for the next run. */
    for (size_t i = 0; i < a->n_inf; i++) {
        if (!a->inf[i].spool_name[0])
            to_spool(a, a->inf[i].meta, a->inf[i].body, a->inf[i].len);
        inflight_free(&a->inf[i]);
    }
    a->n_inf = 0;
}

static int run(struct agent *a)
{
    int64_t now = attach_mono_ns(), next = now, next_scan = now, period;
    struct spool_opts so = {
        .max_bytes = a->cfg.spool_max_bytes,
        .max_age_ns = (uint64_t)(a->cfg.spool_max_age * NSEC),
    };
    char spool_dir[PATH_MAX + 8];
    int r;

    default_state_dir(&a->cfg, a->state_dir, sizeof(a->state_dir));
    r = make_dirs(a->state_dir);
    if (r) {
        fprintf(a->err, "pyprof agent: error: state directory %s: %s\n", a->state_dir,
                strerror(-r));
        return PYPROF_EXIT_FATAL;
    }
    snprintf(spool_dir, sizeof(spool_dir), "%s/spool", a->state_dir);
    so.dir = spool_dir;
    r = spool_open(&a->spool, &so);
    if (r) {
        fprintf(a->err, "pyprof agent: error: spool %s: %s\n", spool_dir, strerror(-r));
        return PYPROF_EXIT_FATAL;
    }
    r = apply_config(a);
    if (r) {
        fprintf(a->err, "pyprof agent: error: %s\n", strerror(-r));
        return PYPROF_EXIT_FATAL;
    }
    if (a->cfg.native)
        alog(a, PP_LOG_WARN, "--native: native frames are not implemented yet; Python only");
    if (spool_stats(a->spool)->n_files)
        a->retry_at = 1;
    a->backoff = RETRY_MIN;
    a->rng = (uint32_t)getpid() * 2654435761u ^ (uint32_t)attach_real_ns();
    if (!a->rng)
        a->rng = 1;
#if HAVE_LIBSYSTEMD
    if (sd_watchdog_enabled(0, &a->watchdog_usec) <= 0)
        a->watchdog_usec = 0;
#endif
    prctl(PR_SET_TIMERSLACK, 50000UL, 0, 0, 0);
    a->last_cpu = attach_cpu_ns();
    a->last_cpu_wall = now;
    a->rate = a->cfg.rate;
    new_window_bounds(a, attach_real_ns());
    scan_targets(a, now);
    alog(a, PP_LOG_INFO,
         "started: %s -> %s, %.0f Hz, %u s windows, state in %s, %zu target(s) so far",
         a->cfg.app, a->cfg.server, a->rate, a->cfg.window_s, a->state_dir, a->n_t);
    notify(a, true);
    write_status(a);
    while (!got_stop) {
        int64_t real = attach_real_ns();

        now = attach_mono_ns();
        if (real >= (int64_t)a->win_end * NSEC) {
            check_cpu(a, now);
            end_window(a, a->win_end);
            if (got_reload || a->reload_pending) {
                got_reload = 0;
                reload(a);
            }
            new_window_bounds(a, real);
            notify(a, false);
        }
        if (got_reload) {
            got_reload = 0;
            a->reload_pending = true;
            alog(a, PP_LOG_INFO, "SIGHUP: the config is re-read at the next window boundary");
        }
        if (now >= next_scan) {
            scan_targets(a, now);
            spool_prune(a->spool, (uint64_t)real);
            write_status(a);
            watchdog(a, now);
            next_scan = now + SCAN_EVERY;
        }
        sample_all(a, now);
        period = (int64_t)((double)NSEC / a->rate);
        next += period;
        now = attach_mono_ns();
        if (now > next)
            next += ((now - next) / period + 1) * period; /* missed deadlines: rejoin */
        /* Wait for the network until shortly before the next sample, then sleep exactly. */
        service_uploads(a, (int)((next - now) / 1000000) - 1);
        attach_sleep_until(next);
    }
    alog(a, PP_LOG_INFO, "stopping: sending the partial window");
#if HAVE_LIBSYSTEMD
    sd_notify(0, "STOPPING=1");
#endif
    flush_and_wait(a);
    write_status(a);
    alog(a, PP_LOG_INFO,
         "stopped: %" PRIu64 " samples, %" PRIu64 " windows sent, %" PRIu64 " spooled, %" PRIu64
         " rejected",
         a->c.samples, a->c.sent, a->c.spooled, a->c.rejected);
    return PYPROF_EXIT_OK;
}

int agent_main(int argc, char **argv, FILE *out, FILE *err)
{
    struct agent *a = calloc(1, sizeof(*a));
    int code, r;

    if (!a)
        return PYPROF_EXIT_FATAL;
    agent_defaults(&a->cfg);
    a->argc = argc;
    a->argv = argv;
    a->err = err;
    r = agent_parse(&a->cfg, argc, argv, out, err);
    if (r == AGENT_E_EXIT) {
        code = PYPROF_EXIT_OK;
        goto out;
    }
    if (r) {
        code = r < 0 ? PYPROF_EXIT_FATAL : PYPROF_EXIT_USAGE;
        goto out;
    }
    if (a->cfg.status) {
        code = print_status(&a->cfg, out, err);
        goto out;
    }
    a->journal = under_journald(err);
    a->t = calloc(MAX_TARGETS, sizeof(*a->t));
    if (!a->t || install_signals() < 0) {
        code = PYPROF_EXIT_FATAL;
        goto out;
    }
    code = run(a);
out:
    if (a->t) {
        for (size_t i = 0; i < a->n_t; i++)
            target_free(a->t[i]);
        free(a->t);
    }
    for (size_t i = 0; i < a->n_inf; i++)
        inflight_free(&a->inf[i]);
    upload_free(a->up);
    spool_free(a->spool);
    if (a->have_re)
        regfree(&a->re);
    agent_config_free(&a->cfg);
    free(a);
    return code;
}
