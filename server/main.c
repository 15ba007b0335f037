/* SPDX-License-Identifier: MIT */
/* pyprof-server: Pyroscope-compatible ingestion, storage and flame-graph rendering. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

/*
 * Exit codes: 0 after a clean drain (SIGTERM/SIGINT), 2 when the server cannot start, 64 on a
 * bad command line.
 */
int main(int argc, char **argv)
{
    struct server_config cfg;
    struct server srv;
    char err[4096];
    sigset_t set;
    int sig = 0;

    server_config_init(&cfg);
    int r = server_config_parse(&cfg, argc, argv, err, sizeof(err));
    if (r == SERVER_CONFIG_E_HELP) {
        fputs(err, stdout);
        return 0;
    }
    if (r) {
        fprintf(stderr, "pyprof-server: %s", err);
        return 64;
    }

    /* Signals are taken synchronously by this thread; workers inherit the blocked mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    r = server_start(&srv, &cfg, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "pyprof-server: %s\n", err[0] ? err : strerror(-r));
        return 2;
    }
    const char *h = cfg.listen_host;
    bool v6 = strchr(h, ':') != NULL;
    printf("listening on http://%s%s%s:%u\n", v6 ? "[" : "", h, v6 ? "]" : "", srv.port);
    fflush(stdout);

    while (sigwait(&set, &sig) != 0)
        ;
    fprintf(stderr, "pyprof-server: %s: draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server_drain(&srv);
    return 0;
}
