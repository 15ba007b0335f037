/* SPDX-License-Identifier: MIT */
/* pyprof: command-line entry point. The only place that exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "convert.h"
#include "record.h"

int main(int argc, char **argv)
{
    struct pyprof_config cfg;
    int r;

    cli_defaults(&cfg);
    r = cli_parse(&cfg, argc, argv, stdout, stderr);
    if (r == CLI_E_EXIT)
        return PYPROF_EXIT_OK;
    if (r)
        return PYPROF_EXIT_USAGE;
    if (!strcmp(cfg.command, "record"))
        return record_run(&cfg, stderr);
    return convert_run(&cfg, stderr);
}
