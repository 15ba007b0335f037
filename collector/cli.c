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
    "           a flame graph, folded stacks, speedscope, pprof or a chrome trace\n"
    "  convert  turn a folded or pprof file into another format\n"
    "  diff     a differential flame graph of two profiles\n"
    "  dump     print the current Python stack of every thread of a process\n"
    "  top      a live table of the functions a process spends its time in\n"
    "  agent    profile services continuously and upload to pyprof-server or Pyroscope\n"
    "\n"
    "Run 'pyprof <command> --help' for its options.\n";

static const char usage_record[] =
    "Usage: pyprof record [options] --pid PID\n"
    "       pyprof record [options] -- python script.py [args...]\n"
    "\n"
    "Sample the Python stacks of every thread without stopping the target.\n"
    "\n"
    "Options:\n"
    "  -p, --pid PID          attach to this running process\n"
    "  -d, --duration SECS    stop after SECS seconds (default: until the target exits\n"
    "                         or Ctrl-C)\n"
    "  -r, --rate HZ          samples per second (default 100)\n"
    "  -o, --output FILE      write here (default: pyprof-PID-TIME.svg; - = stdout)\n"
    "  -f, --format FORMAT    flamegraph, folded, speedscope, pprof, chrometrace\n"
    "                         (default: from the -o extension, else flamegraph)\n"
    "  -t, --threads          add a root frame per thread: thread (TID \"name\")\n"
    "  -s, --subprocesses     follow child processes too (any Python version), each\n"
    "                         stack under a root frame: process PID \"cmdline\"\n"
    "  -i, --idle             include idle threads (wall time); by default only threads\n"
    "                         the kernel shows running are sampled (CPU time)\n"
    "  -n, --native           native (C) frames too: each thread is stopped for a moment\n"
    "                         while its stacks are read (ptrace), and every eval-loop\n"
    "                         frame is replaced by the Python frames it ran\n"
    "      --native-all       with -n: also the interpreter's own C frames and thread\n"
    "                         start-up frames\n"
    "  -g, --gil              only the thread holding the GIL\n"
    "      --nolineno         leave line numbers out\n"
    "  -F, --function         report each function's first line instead of the current\n"
    "                         line, so samples group by function\n"
    "      --full-filenames   full paths instead of module-relative file names\n"
    "      --icicle           flame graph with the root on top\n"
    "      --title TEXT       flame graph title\n"
    "      --no-progress      no progress line on a terminal\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit codes: 0 ok, 2 fatal error, 3 no such process, 4 permission denied,\n"
    "5 not a Python process, 6 unsupported Python version, 64 usage error.\n";

static const char usage_convert[] =
    "Usage: pyprof convert INPUT [-o OUTPUT] [-f FORMAT] [options]\n"
    "\n"
    "Read folded stacks (pyprof's, py-spy's or flamegraph.pl's) or a pprof profile\n"
    "(gzipped or not) and write it in another format.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE      write here (default: standard output)\n"
    "  -f, --format FORMAT    flamegraph, folded, speedscope, pprof, chrometrace\n"
    "                         (default: from the -o extension, else flamegraph)\n"
    "  -r, --rate HZ          sampling rate of a folded input, for time units (default 100)\n"
    "  -t, --threads          keep thread root frames (folded, flamegraph)\n"
    "      --icicle           flame graph with the root on top\n"
    "      --title TEXT       flame graph title\n"
    "  -h, --help             this text\n";

static const char usage_diff[] =
    "Usage: pyprof diff BEFORE AFTER [-o OUTPUT] [options]\n"
    "\n"
    "A differential flame graph: the shape of AFTER, red where time grew since BEFORE,\n"
    "blue where it shrank. Inputs are folded or pprof files.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE      write here (default: standard output)\n"
    "      --normalize        scale BEFORE to AFTER's total sample count first\n"
    "      --icicle           root on top\n"
    "      --title TEXT       title\n"
    "  -h, --help             this text\n";

static const char usage_dump[] =
    "Usage: pyprof dump --pid PID [--json] [--native]\n"
    "\n"
    "Print the current Python traceback of every thread (innermost call last), with its\n"
    "thread id, name (its threading name, else the kernel's), whether the kernel shows it\n"
    "running or idle, and whether it holds the GIL.\n"
    "\n"
    "Options:\n"
    "  -p, --pid PID          the process to look at\n"
    "  -j, --json             JSON instead of text (frames innermost first)\n"
    "  -n, --native           native (C) frames too, between the Python frames (ptrace)\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit codes: 0 ok, 2 fatal error, 3 no such process, 4 permission denied,\n"
    "5 not a Python process, 6 unsupported Python version, 64 usage error.\n";

static const char usage_top[] =
    "Usage: pyprof top --pid PID [-r HZ] [-d SECS]\n"
    "\n"
    "A live table of the functions the running threads spend their time in, refreshed\n"
    "every second. Keys: 1-4 sort by %Own, %Total, OwnTime, TotalTime; c toggles the\n"
    "percentages between the last second and the whole run; q or Ctrl-C quits.\n"
    "When standard output is not a terminal, print one table after -d seconds and exit.\n"
    "\n"
    "Options:\n"
    "  -p, --pid PID          the process to watch\n"
    "  -r, --rate HZ          samples per second (default 100)\n"
    "  -d, --duration SECS    not a terminal: sample this long, then print (default 1)\n"
    "  -h, --help             this text\n";

void cli_defaults(struct pyprof_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->rate = 100;
    cfg->format = PP_FORMAT_NONE;
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

/* The values several commands take, checked the same way everywhere: 0 or CLI_E_USAGE. */
static int parse_pid(struct pyprof_config *cfg, const char *arg, FILE *err)
{
    double v;

    if (!parse_number(arg, 4194304, &v) || v != (double)(pid_t)v) {
        fprintf(err, "pyprof: invalid PID '%s': expected a process id such as 4123\n", arg);
        return CLI_E_USAGE;
    }
    cfg->pid = (pid_t)v;
    return 0;
}

static int parse_rate(struct pyprof_config *cfg, const char *arg, FILE *err)
{
    if (!parse_number(arg, 100000, &cfg->rate)) {
        fprintf(err,
                "pyprof: invalid rate '%s': expected samples per second between 1 and 100000, "
                "e.g. -r 100\n",
                arg);
        return CLI_E_USAGE;
    }
    return 0;
}

static int parse_duration(struct pyprof_config *cfg, const char *arg, FILE *err)
{
    if (!parse_number(arg, 1e9, &cfg->duration)) {
        fprintf(err, "pyprof: invalid duration '%s': expected seconds, e.g. -d 30\n", arg);
        return CLI_E_USAGE;
    }
    return 0;
}

static int parse_format(struct pyprof_config *cfg, const char *name, FILE *err)
{
    cfg->format = pp_format_from_name(name);
    if (cfg->format == PP_FORMAT_NONE) {
        fprintf(err,
                "pyprof: unknown format '%s': use flamegraph, folded, speedscope, pprof or "
                "chrometrace\n",
                name);
        return CLI_E_USAGE;
    }
    return 0;
}

static int parse_record(struct pyprof_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    enum { OPT_NOLINENO = 256, OPT_FULL, OPT_NOPROGRESS, OPT_ICICLE, OPT_TITLE, OPT_NATIVE_ALL };
    static const struct option opts[] = {
        { "pid", required_argument, NULL, 'p' },
        { "duration", required_argument, NULL, 'd' },
        { "rate", required_argument, NULL, 'r' },
        { "output", required_argument, NULL, 'o' },
        { "format", required_argument, NULL, 'f' },
        { "threads", no_argument, NULL, 't' },
        { "subprocesses", no_argument, NULL, 's' },
        { "idle", no_argument, NULL, 'i' },
        { "native", no_argument, NULL, 'n' },
        { "native-all", no_argument, NULL, OPT_NATIVE_ALL },
        { "gil", no_argument, NULL, 'g' },
        { "function", no_argument, NULL, 'F' },
        { "nolineno", no_argument, NULL, OPT_NOLINENO },
        { "full-filenames", no_argument, NULL, OPT_FULL },
        { "no-progress", no_argument, NULL, OPT_NOPROGRESS },
        { "icicle", no_argument, NULL, OPT_ICICLE },
        { "title", required_argument, NULL, OPT_TITLE },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    int c;

    optind = 0; /* 0, not 1: makes glibc reinitialise its state between parses */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:p:d:r:o:f:tsingFh", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (parse_pid(cfg, optarg, err))
                return CLI_E_USAGE;
            break;
        case 'd':
            if (parse_duration(cfg, optarg, err))
                return CLI_E_USAGE;
            break;
        case 'r':
            if (parse_rate(cfg, optarg, err))
                return CLI_E_USAGE;
            break;
        case 'o':
            cfg->output = optarg;
            break;
        case 'f':
            if (parse_format(cfg, optarg, err))
                return CLI_E_USAGE;
            break;
        case 't':
            cfg->threads = true;
            break;
        case 's':
            cfg->subprocesses = true;
            break;
        case 'F':
            cfg->function = true;
            break;
        case 'i':
            cfg->idle = true;
            break;
        case 'n':
            cfg->native = true;
            break;
        case OPT_NATIVE_ALL:
            cfg->native = cfg->native_all = true;
            break;
        case 'g':
            cfg->gil = true;
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
        case OPT_ICICLE:
            cfg->icicle = true;
            break;
        case OPT_TITLE:
            cfg->title = optarg;
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
    if (cfg->native && cfg->subprocesses) {
        fprintf(err, "pyprof: --native cannot be combined with --subprocesses yet; profile the\n"
                     "  child of interest with --pid and --native instead\n");
        return CLI_E_USAGE;
    }
    if (!cfg->pid && !cfg->argv) {
        fprintf(err, "pyprof: nothing to profile: give --pid PID or a command after '--'\n"
                     "  e.g. pyprof record -o out.folded -- python3 app.py\n");
        return CLI_E_USAGE;
    }
    return 0;
}

/* Options of dump and top: both look at a running process. */
static int parse_view(struct pyprof_config *cfg, int argc, char **argv, const char *usage,
                      FILE *out, FILE *err)
{
    static const struct option opts[] = {
        { "pid", required_argument, NULL, 'p' },
        { "json", no_argument, NULL, 'j' },
        { "rate", required_argument, NULL, 'r' },
        { "duration", required_argument, NULL, 'd' },
        { "native", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    bool is_top = !strcmp(cfg->command, "top");
    int c;

    optind = 0; /* 0, not 1: makes glibc reinitialise its state between parses */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:jr:d:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (parse_pid(cfg, optarg, err))
                return CLI_E_USAGE;
            break;
        case 'j':
            if (is_top)
                goto unknown;
            cfg->json = true;
            break;
        case 'n':
            if (is_top)
                goto unknown;
            cfg->native = true;
            break;
        case 'r':
            if (!is_top)
                goto unknown;
            if (parse_rate(cfg, optarg, err))
                return CLI_E_USAGE;
            break;
        case 'd':
            if (!is_top)
                goto unknown;
            if (parse_duration(cfg, optarg, err))
                return CLI_E_USAGE;
            break;
        case 'h':
            fputs(usage, out);
            return CLI_E_EXIT;
        case ':':
            fprintf(err, "pyprof: option '%s' needs a value\n", argv[optind - 1]);
            return CLI_E_USAGE;
        default:
        unknown:
            fprintf(err, "pyprof: unknown option '%s'; see 'pyprof %s --help'\n",
                    argv[optind - 1], cfg->command);
            return CLI_E_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(err, "pyprof: unexpected argument '%s'; see 'pyprof %s --help'\n", argv[optind],
                cfg->command);
        return CLI_E_USAGE;
    }
    if (!cfg->pid) {
        fprintf(err, "pyprof: give the process to look at: pyprof %s --pid PID\n", cfg->command);
        return CLI_E_USAGE;
    }
    return 0;
}

/* Options of convert and diff; positional arguments are the input files. */
static int parse_files(struct pyprof_config *cfg, int argc, char **argv, size_t n_inputs,
                       const char *usage, FILE *out, FILE *err)
{
    enum { OPT_ICICLE = 256, OPT_TITLE, OPT_NORMALIZE };
    static const struct option opts[] = {
        { "output", required_argument, NULL, 'o' },
        { "format", required_argument, NULL, 'f' },
        { "rate", required_argument, NULL, 'r' },
        { "threads", no_argument, NULL, 't' },
        { "icicle", no_argument, NULL, OPT_ICICLE },
        { "title", required_argument, NULL, OPT_TITLE },
        { "normalize", no_argument, NULL, OPT_NORMALIZE },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    size_t n = 0;
    int c;

    optind = 0; /* 0, not 1: makes glibc reinitialise its state between parses */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:f:r:th", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            cfg->output = optarg;
            break;
        case 'f':
            if (parse_format(cfg, optarg, err))
                return CLI_E_USAGE;
            break;
        case 'r':
            if (parse_rate(cfg, optarg, err))
                return CLI_E_USAGE;
            break;
        case 't':
            cfg->threads = true;
            break;
        case OPT_ICICLE:
            cfg->icicle = true;
            break;
        case OPT_TITLE:
            cfg->title = optarg;
            break;
        case OPT_NORMALIZE:
            if (n_inputs != 2)
                goto unknown;
            cfg->normalize = true;
            break;
        case 'h':
            fputs(usage, out);
            return CLI_E_EXIT;
        case ':':
            fprintf(err, "pyprof: option '%s' needs a value\n", argv[optind - 1]);
            return CLI_E_USAGE;
        default:
        unknown:
            fprintf(err, "pyprof: unknown option '%s'; see 'pyprof %s --help'\n",
                    argv[optind - 1], cfg->command);
            return CLI_E_USAGE;
        }
    }
    for (; optind < argc; optind++) {
        if (n == n_inputs) {
            fprintf(err, "pyprof: too many input files ('%s'); see 'pyprof %s --help'\n",
                    argv[optind], cfg->command);
            return CLI_E_USAGE;
        }
        cfg->inputs[n++] = argv[optind];
    }
    if (n != n_inputs) {
        fputs(usage, err);
        return CLI_E_USAGE;
    }
    if (n_inputs == 2 && cfg->format != PP_FORMAT_NONE && cfg->format != PP_FORMAT_FLAMEGRAPH) {
        fprintf(err, "pyprof: diff writes a flame graph (SVG) only\n");
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
    if (!strcmp(argv[1], "convert")) {
        cfg->command = "convert";
        return parse_files(cfg, argc - 1, argv + 1, 1, usage_convert, out, err);
    }
    if (!strcmp(argv[1], "diff")) {
        cfg->command = "diff";
        return parse_files(cfg, argc - 1, argv + 1, 2, usage_diff, out, err);
    }
    if (!strcmp(argv[1], "dump") || !strcmp(argv[1], "top")) {
        cfg->command = !strcmp(argv[1], "dump") ? "dump" : "top";
        return parse_view(cfg, argc - 1, argv + 1, argv[1][0] == 'd' ? usage_dump : usage_top,
                          out, err);
    }
    fprintf(err, "pyprof: unknown command '%s'\n\n%s", argv[1], usage_main);
    return CLI_E_USAGE;
}
