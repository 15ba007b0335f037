/* SPDX-License-Identifier: MIT */
/* agent: `pyprof agent`, continuous profiling that ships a pprof per target every window. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/*
 * What the agent does
 * -------------------
 * Targets come from --pid, --pidfile (re-read every second) and --match (an extended regex over
 * each process's command line, NULs read as spaces, rescanned every second; the agent itself is
 * never a match). Each target gets its own walker and aggregate. Windows are aligned to wall-clock
 * multiples of --window; at each boundary every target with samples is encoded as a gzipped pprof
 * and POSTed to
 *
 *   SERVER/ingest?format=pprof&name=APP.cpu{TAGS,pid=N}&from=S&until=S&sampleRate=HZ&spyName=pyprof
 *
 * (APP.wall with --idle; from/until in unix seconds). The same URL works against pyprof-server,
 * Pyroscope v0.37 and Grafana Pyroscope v1 (with --tenant for X-Scope-OrgID, --token for a bearer
 * token), which is how one scales past a single server. Windows without samples are not sent.
 *
 * Failures (no answer, timeout, 5xx, 408, 429) put the window in the spool (STATE_DIR/spool,
 * bounded by --spool-max-size and --spool-max-age, oldest dropped first and counted), retried
 * with exponential backoff (1 s doubling to --retry-max) and +-50% jitter. Other 4xx answers are
 * logged once per status code and dropped. SIGTERM/SIGINT send the partial window (until = now,
 * rounded up to the second), wait up to --timeout for the uploads and exit; SIGHUP re-reads
 * --config at the next window boundary (the command line still wins). Every second the counters
 * go to STATE_DIR/status, which `pyprof agent --status` prints.
 *
 * Config file
 * -----------
 * One `key = value` per line; keys are the long options without "--"; '#' starts a comment
 * line; blank lines are ignored; values run to the end of the line (surrounding spaces and one
 * pair of double quotes are removed). Boolean keys take true/false/yes/no/1/0. `tag` may be
 * repeated. Command-line options are applied after the file and win. Example:
 *
 *   server = http://127.0.0.1:4040
 *   app = checkout
 *   match = gunicorn: worker
 *   tag = env=prod
 *   tag = region=eu-west-1
 *   rate = 100
 *   window = 10s
 *
 * Durations take a unit: ms, s, m, h (a bare number is seconds); sizes take K, M, G (bytes).
 */

#define AGENT_MAX_TAGS 32
#define AGENT_DEFAULT_CONFIG "/etc/pyprof/agent.conf"

struct agent_config {
    char *config;           /* --config FILE; also the file SIGHUP re-reads */
    char *server;           /* --server URL (required) */
    char *app;              /* --app NAME (required): [A-Za-z0-9_.-]+, no ".cpu" suffix */
    pid_t pid;              /* --pid PID, 0 = none */
    char *pidfile;          /* --pidfile FILE */
    char *match;            /* --match REGEX (POSIX extended) */
    char *tags[AGENT_MAX_TAGS]; /* --tag k=v, repeatable */
    size_t n_tags;
    double rate;            /* --rate HZ, default 100 */
    uint32_t window_s;      /* --window, whole seconds, default 10 */
    bool idle;              /* --idle: keep idle threads (wall view) */
    bool native;            /* --native: accepted; native frames are not implemented yet */
    char *token;            /* --token: Authorization: Bearer */
    char *tenant;           /* --tenant: X-Scope-OrgID */
    char *state_dir;        /* --state-dir, default $STATE_DIRECTORY, /var/lib/pyprof-agent as
                               root, else ~/.local/state/pyprof-agent */
    uint64_t spool_max_bytes; /* --spool-max-size, default 64M */
    double spool_max_age;   /* --spool-max-age seconds, default 1h (Pyroscope rejects older) */
    double max_cpu;         /* --max-cpu percent of one core, default 5; 0 = no cap */
    uint32_t max_stacks;    /* --max-stacks distinct stacks per target and window, default 5000 */
    double timeout;         /* --timeout seconds per upload, default 10 */
    double retry_max;       /* --retry-max seconds of backoff at most, default 60 */
    int log_level;          /* --log-level error|warn|info|debug (enum pp_log_level), default info */
    bool status;            /* --status: print STATE_DIR/status and exit */
};

enum {
    AGENT_E_NONE = 0,
    AGENT_E_USAGE, /* bad option or config file: a message was written */
    AGENT_E_EXIT,  /* --help answered: exit 0 */
};

/* agent_defaults() - the defaults listed above; strings NULL. */
void agent_defaults(struct agent_config *c);

/* agent_config_free() - free the strings of @c (NULL-safe) and reset it to the defaults. */
void agent_config_free(struct agent_config *c);

/*
 * agent_set() - apply option @key (long name without "--") = @value (NULL for a flag given
 * without a value) to @c. Used for both the command line and the config file. Returns 0,
 * AGENT_E_USAGE (message on @err, prefixed by @where when not NULL) or -ENOMEM.
 */
int agent_set(struct agent_config *c, const char *key, const char *value, const char *where,
              FILE *err);

/*
 * agent_load_file() - apply every `key = value` line of @path to @c. Returns 0, AGENT_E_USAGE
 * (message with file:line on @err; @c may be partly changed) or -ENOMEM.
 */
int agent_load_file(struct agent_config *c, const char *path, FILE *err);

/*
 * agent_parse() - build @c (which must hold defaults) from @argv (argv[0] = "agent"): first the
 * --config file if given (or AGENT_DEFAULT_CONFIG when running under systemd with no --server),
 * then the options. Checks required settings. Returns 0, AGENT_E_USAGE, AGENT_E_EXIT (help on
 * @out) or -ENOMEM.
 */
int agent_parse(struct agent_config *c, int argc, char **argv, FILE *out, FILE *err);

/*
 * agent_main() - `pyprof agent ...`: parse, then run until SIGTERM/SIGINT. Only returns an exit
 * code (enum pyprof_exit): 0 after a clean stop, 64 for usage errors, 2 for fatal errors (state
 * directory unusable). A target exiting is never a reason to stop.
 */
int agent_main(int argc, char **argv, FILE *out, FILE *err);
