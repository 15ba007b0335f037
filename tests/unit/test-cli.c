/* SPDX-License-Identifier: MIT */
/* Unit test: command-line parsing, defaults and usage errors. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "t.h"

static int parse(struct pyprof_config *cfg, char **argv, char *errbuf, size_t errcap)
{
    int argc = 0, r;
    FILE *out = fopen("/dev/null", "w"), *err = fmemopen(errbuf, errcap, "w");

    while (argv[argc])
        argc++;
    cli_defaults(cfg);
    r = cli_parse(cfg, argc, argv, out, err);
    fclose(out);
    fclose(err);
    return r;
}

int main(void)
{
    struct pyprof_config c;
    char err[1024];

    {
        char *a[] = { "pyprof", "record", "-p", "4123", NULL };
        memset(err, 0, sizeof(err));
        T_EQ_INT(parse(&c, a, err, sizeof(err)), 0);
        T_EQ_INT(c.pid, 4123);
        T_ASSERT(c.rate == 100);
        T_ASSERT(c.duration == 0);
        T_ASSERT(c.lineno && !c.threads && !c.function && !c.full_filenames);
        T_ASSERT(c.argv == NULL && c.output == NULL);
        T_EQ_INT(c.format, PP_FORMAT_NONE);
    }
    {
        char *a[] = { "pyprof", "record", "--pid=7", "-d", "2.5", "-r", "1000", "-o", "x.txt",
                      "-t", "--nolineno", "-F", "--full-filenames", "-f", "folded", NULL };
        T_EQ_INT(parse(&c, a, err, sizeof(err)), 0);
        T_EQ_INT(c.pid, 7);
        T_ASSERT(c.duration == 2.5 && c.rate == 1000);
        T_EQ_STR(c.output, "x.txt");
        T_EQ_INT(c.format, PP_FORMAT_FOLDED);
        T_ASSERT(c.threads && !c.lineno && c.function && c.full_filenames);
    }
    {
        char *a[] = { "pyprof", "record", "-r", "50", "--", "python3", "app.py", "-p", "1", NULL };
        T_EQ_INT(parse(&c, a, err, sizeof(err)), 0);
        T_ASSERT(c.argv && !strcmp(c.argv[0], "python3") && !strcmp(c.argv[3], "1"));
        T_EQ_INT(c.pid, 0);
    }
    {
        /* Without "--" the command still starts at the first non-option. */
        char *a[] = { "pyprof", "record", "python3", "app.py", "--verbose", NULL };
        T_EQ_INT(parse(&c, a, err, sizeof(err)), 0);
        T_ASSERT(c.argv && !strcmp(c.argv[2], "--verbose"));
    }
    /* Usage errors, each with a message saying what to do. */
    {
        char *a[] = { "pyprof", "record", NULL };
        memset(err, 0, sizeof(err));
        T_EQ_INT(parse(&c, a, err, sizeof(err)), CLI_E_USAGE);
        T_ASSERT(strstr(err, "--pid") != NULL);
    }
    {
        char *a[] = { "pyprof", "record", "-p", "12", "--", "python3", NULL };
        T_EQ_INT(parse(&c, a, err, sizeof(err)), CLI_E_USAGE);
    }
    {
        char *a[] = { "pyprof", "record", "-p", "abc", NULL };
        memset(err, 0, sizeof(err));
        T_EQ_INT(parse(&c, a, err, sizeof(err)), CLI_E_USAGE);
        T_ASSERT(strstr(err, "invalid PID 'abc'") != NULL);
    }
    {
        char *bad[][6] = {
            { "pyprof", "record", "-p", "1", "-r", "0" },
            { "pyprof", "record", "-p", "1", "-r", "nan" },
            { "pyprof", "record", "-p", "1", "-d", "-3" },
            { "pyprof", "record", "-p", "1", "-f", "svgz" },
            { "pyprof", "record", "-p", "1", "--bogus", "x" },
            { "pyprof", "record", "-p", "-5", NULL, NULL },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char *a[7] = { 0 };
            memcpy(a, bad[i], sizeof(bad[i]));
            T_EQ_INT(parse(&c, a, err, sizeof(err)), CLI_E_USAGE);
        }
    }
    {
        char *a[] = { "pyprof", "record", "-p", NULL };
        memset(err, 0, sizeof(err));
        T_EQ_INT(parse(&c, a, err, sizeof(err)), CLI_E_USAGE);
        T_ASSERT(strstr(err, "needs a value") != NULL);
    }
    /* convert and diff take files. */
    {
        char *a[] = { "pyprof", "convert", "in.folded", "-o", "out.svg", "-f", "speedscope",
                      "--icicle", "--title", "T", NULL };
        T_EQ_INT(parse(&c, a, err, sizeof(err)), 0);
        T_EQ_STR(c.command, "convert");
        T_EQ_STR(c.inputs[0], "in.folded");
        T_EQ_STR(c.output, "out.svg");
        T_EQ_INT(c.format, PP_FORMAT_SPEEDSCOPE);
        T_ASSERT(c.icicle);
        T_EQ_STR(c.title, "T");
        char *d[] = { "pyprof", "diff", "a.folded", "b.pb.gz", "--normalize", "-o", "d.svg", NULL };
        T_EQ_INT(parse(&c, d, err, sizeof(err)), 0);
        T_ASSERT(c.normalize);
        T_EQ_STR(c.inputs[1], "b.pb.gz");
        char *e1[] = { "pyprof", "convert", NULL };
        T_EQ_INT(parse(&c, e1, err, sizeof(err)), CLI_E_USAGE);
        char *e2[] = { "pyprof", "convert", "a", "b", NULL };
        T_EQ_INT(parse(&c, e2, err, sizeof(err)), CLI_E_USAGE);
        char *e3[] = { "pyprof", "convert", "a", "--normalize", NULL };
        T_EQ_INT(parse(&c, e3, err, sizeof(err)), CLI_E_USAGE);
        char *e4[] = { "pyprof", "diff", "a", "b", "-f", "pprof", NULL };
        T_EQ_INT(parse(&c, e4, err, sizeof(err)), CLI_E_USAGE);
        char *e5[] = { "pyprof", "diff", "a", NULL };
        T_EQ_INT(parse(&c, e5, err, sizeof(err)), CLI_E_USAGE);
    }
    {
        char *a[] = { "pyprof", "frobnicate", NULL };
        T_EQ_INT(parse(&c, a, err, sizeof(err)), CLI_E_USAGE);
        char *b[] = { "pyprof", NULL };
        T_EQ_INT(parse(&c, b, err, sizeof(err)), CLI_E_USAGE);
        char *h[] = { "pyprof", "--help", NULL };
        T_EQ_INT(parse(&c, h, err, sizeof(err)), CLI_E_EXIT);
        char *v[] = { "pyprof", "--version", NULL };
        T_EQ_INT(parse(&c, v, err, sizeof(err)), CLI_E_EXIT);
        char *rh[] = { "pyprof", "record", "--help", NULL };
        T_EQ_INT(parse(&c, rh, err, sizeof(err)), CLI_E_EXIT);
    }
    T_DONE();
}
