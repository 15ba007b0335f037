/* SPDX-License-Identifier: MIT */
/* pyprof: command-line entry point. The only place that exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if PP_HAVE_AGENT
#include "agent.h"
#endif
#include "cli.h"
#include "convert.h"
#include "dump.h"
#include "record.h"
#include "top.h"

int main(int argc, char **argv)
{
    struct pyprof_config cfg;
    int r;

    /* The agent has its own option table, shared with its config file (agent.h). */
    if (argc >= 2 && !strcmp(argv[1], "agent")) {
#if PP_HAVE_AGENT
        return agent_main(argc - 1, argv + 1, stdout, stderr);
#else
        fprintf(stderr, "pyprof: this build has no agent (meson -Dupload: libcurl missing)\n");
        return PYPROF_EXIT_USAGE;
#endif
    }
    cli_defaults(&cfg);
    r = cli_parse(&cfg, argc, argv, stdout, stderr);
    if (r == CLI_E_EXIT)
        return PYPROF_EXIT_OK;
    if (r)
        return PYPROF_EXIT_USAGE;
    if (!strcmp(cfg.command, "record"))
        return record_run(&cfg, stderr);
    if (!strcmp(cfg.command, "dump"))
        return dump_run(&cfg, stdout, stderr);
    if (!strcmp(cfg.command, "top"))
        return top_run(&cfg, stdout, stderr);
    return convert_run(&cfg, stderr);
}
