/* SPDX-License-Identifier: MIT */
/* cli: the pyprof command line. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "cli.h"

static const char usage_main[] =
    "Usage: pyprof <command> [options]\n"
    "\n"
    "A sampling profiler for CPython 3.8 to 3.13.\n"
    "\n"
    "Commands:\n"
    "  record   sample a running process (--pid) or a command (-- python app.py) and write\n"
    "           its stacks\n"
    "\n"
    "Run 'pyprof <command> --help' for its options.\n";

static const char usage_record[] =
    "Usage: pyprof record [options] --pid PID\n"
    "       pyprof record [options] -- python script.py [args...]\n"
    "\n"
    "Sample the Python stacks of every thread without stopping the target, and write\n"
    "folded stacks (one line per distinct stack, root first, then the sample count).\n"
    "\n"
    "Options:\n"
    "  -p, --pid PID          attach to this running process\n"
    "  -d, --duration SECS    stop after SECS seconds (default: until the target exits\n"
    "                         or Ctrl-C)\n"
    "  -r, --rate HZ          samples per second (default 100)\n"
    "  -o, --output FILE      write here (default: standard output)\n"
    "  -f, --format FORMAT    folded (default)\n"
    "  -t, --threads          add a root frame per thread: thread (TID \"name\")\n"
    "      --nolineno         leave line numbers out\n"
    "  -F, --function         report each function's first line instead of the current\n"
    "                         line, so samples group by function\n"
    "      --full-filenames   full paths instead of module-relative file names\n"
    "      --no-progress      no progress line on a terminal\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit codes: 0 ok, 2 fatal error, 3 no such process, 4 permission denied,\n"
    "5 not a Python process, 6 unsupported Python version, 64 usage error.\n";

void cli_defaults(struct pyprof_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->rate = 100;
    cfg->format = PYPROF_FORMAT_FOLDED;
    cfg->lineno = true;
    cfg->startup_timeout = 10;
    cfg->progress = -1;
}

/* Parse a positive finite number. */
static bool parse_number(const char *s, double max, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > max)
        return false;
    *out = v;
    return true;
}

static int parse_record(struct pyprof_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    enum { OPT_NOLINENO = 256, OPT_FULL, OPT_NOPROGRESS };
    static const struct option opts[] = {
        { "pid", required_argument, NULL, 'p' },
        { "duration", required_argument, NULL, 'd' },
        { "rate", required_argument, NULL, 'r' },
        { "output", required_argument, NULL, 'o' },
        { "format", required_argument, NULL, 'f' },
        { "threads", no_argument, NULL, 't' },
        { "function", no_argument, NULL, 'F' },
        { "nolineno", no_argument, NULL, OPT_NOLINENO },
        { "full-filenames", no_argument, NULL, OPT_FULL },
        { "no-progress", no_argument, NULL, OPT_NOPROGRESS },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    double v;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:p:d:r:o:f:tFh", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (!parse_number(optarg, 4194304, &v) || v != (double)(pid_t)v) {
                fprintf(err, "pyprof: invalid PID '%s': expected a process id such as 4123\n",
                        optarg);
                return CLI_E_USAGE;
            }
            cfg->pid = (pid_t)v;
            break;
        case 'd':
            if (!parse_number(optarg, 1e9, &cfg->duration)) {
                fprintf(err, "pyprof: invalid duration '%s': expected seconds, e.g. -d 30\n",
                        optarg);
                return CLI_E_USAGE;
            }
            break;
        case 'r':
            if (!parse_number(optarg, 100000, &cfg->rate)) {
                fprintf(err,
                        "pyprof: invalid rate '%s': expected samples per second between 1 "
                        "and 100000, e.g. -r 100\n",
                        optarg);
                return CLI_E_USAGE;
            }
            break;
        case 'o':
            cfg->output = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "folded") != 0) {
                fprintf(err, "pyprof: unknown format '%s': this build writes 'folded'\n",
                        optarg);
                return CLI_E_USAGE;
            }
            cfg->format = PYPROF_FORMAT_FOLDED;
            break;
        case 't':
            cfg->threads = true;
            break;
        case 'F':
            cfg->function = true;
            break;
        case OPT_NOLINENO:
            cfg->lineno = false;
            break;
        case OPT_FULL:
            cfg->full_filenames = true;
            break;
        case OPT_NOPROGRESS:
            cfg->progress = 0;
            break;
        case 'h':
            fputs(usage_record, out);
            return CLI_E_EXIT;
        case ':':
            fprintf(err, "pyprof: option '%s' needs a value\n", argv[optind - 1]);
            return CLI_E_USAGE;
        default:
            fprintf(err, "pyprof: unknown option '%s'; see 'pyprof record --help'\n",
                    argv[optind - 1]);
            return CLI_E_USAGE;
        }
    }
    if (optind < argc)
        cfg->argv = argv + optind;
    if (cfg->pid && cfg->argv) {
        fprintf(err, "pyprof: give either --pid or a command to run, not both\n");
        return CLI_E_USAGE;
    }
    if (!cfg->pid && !cfg->argv) {
        fprintf(err, "pyprof: nothing to profile: give --pid PID or a command after '--'\n"
                     "  e.g. pyprof record -o out.folded -- python3 app.py\n");
        return CLI_E_USAGE;
    }
    return 0;
}

int cli_parse(struct pyprof_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    if (argc < 2) {
        fputs(usage_main, err);
        return CLI_E_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(usage_main, out);
        return CLI_E_EXIT;
    }
    if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
        fprintf(out, "pyprof %s\n", PP_VERSION);
        return CLI_E_EXIT;
    }
    if (!strcmp(argv[1], "record")) {
        cfg->command = "record";
        return parse_record(cfg, argc - 1, argv + 1, out, err);
    }
    fprintf(err, "pyprof: unknown command '%s'\n\n%s", argv[1], usage_main);
    return CLI_E_USAGE;
}
