/* SPDX-License-Identifier: MIT */
/* cli: the pyprof command line: subcommands, options and their defaults in one config struct. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "pyprof/output.h"

/* Documented exit codes (README "Exit codes"). Only main() exits. */
enum pyprof_exit {
    PYPROF_EXIT_OK = 0,
    PYPROF_EXIT_FATAL = 2,       /* internal or I/O error */
    PYPROF_EXIT_NOPROC = 3,      /* no such process, or the command could not be started */
    PYPROF_EXIT_PERM = 4,        /* not allowed to read the target's memory */
    PYPROF_EXIT_NOTPY = 5,       /* the target is not a CPython process */
    PYPROF_EXIT_UNSUPPORTED = 6, /* a CPython version pyprof does not support */
    PYPROF_EXIT_USAGE = 64,      /* bad command line */
    PYPROF_EXIT_DATAERR = 65,    /* convert/diff: an input file is malformed */
    PYPROF_EXIT_NOINPUT = 66,    /* convert/diff: an input file cannot be opened */
};

struct pyprof_config {
    const char *command;     /* "record", "convert", "diff", "dump" or "top" */
    pid_t pid;               /* -p/--pid, 0 when launching */
    char **argv;             /* command to launch (NULL-terminated), NULL when attaching */
    double duration;         /* -d/--duration seconds, 0 = until the target exits or Ctrl-C */
    double rate;             /* -r/--rate samples per second */
    const char *output;      /* -o/--output, "-" = stdout; NULL: see record_run / convert */
    enum pp_format format;   /* -f/--format; PP_FORMAT_NONE: from -o's extension, else SVG */
    bool threads;            /* -t/--threads */
    bool subprocesses;       /* -s/--subprocesses: follow descendant processes too */
    bool idle;               /* -i/--idle: sample idle threads too (wall time) */
    bool native;             /* -n/--native: native frames merged in (stops threads) */
    bool native_all;         /* --native-all: keep interpreter and start-up native frames */
    bool gil;                /* -g/--gil: only the thread holding the GIL */
    bool icicle;             /* --icicle: flame graph root on top */
    const char *title;       /* --title */
    const char *inputs[2];   /* convert: one input file; diff: BEFORE and AFTER */
    bool normalize;          /* diff --normalize */
    bool lineno;             /* cleared by --nolineno */
    bool function;           /* -F/--function */
    bool full_filenames;     /* --full-filenames */
    double startup_timeout;  /* seconds to wait for a launched interpreter to come up */
    int progress;            /* -1 auto (stderr is a tty), 0 never, 1 always */
    bool json;               /* dump --json */
};

enum {
    CLI_E_NONE = 0,
    CLI_E_USAGE, /* bad command line; a message was written to @err */
    CLI_E_EXIT,  /* --help or --version was answered on @out: exit 0 */
};

/* cli_defaults() - the defaults: rate 100 Hz, format from -o, line numbers on, 10 s start-up. */
void cli_defaults(struct pyprof_config *cfg);

/*
 * cli_parse() - parse @argc/@argv into @cfg (which must hold defaults). Pointers in @cfg point
 * into @argv. Returns 0, CLI_E_USAGE (message on @err) or CLI_E_EXIT (text on @out).
 */
int cli_parse(struct pyprof_config *cfg, int argc, char **argv, FILE *out, FILE *err);
