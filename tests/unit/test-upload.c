/* SPDX-License-Identifier: MIT */
/* test-upload: verdicts, URL escaping, and real transfers against a one-shot local server. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ship/upload.h"
#include "../t.h"

static void test_classify(void)
{
    T_EQ_INT(upload_classify(200), UPLOAD_DELIVERED);
    T_EQ_INT(upload_classify(204), UPLOAD_DELIVERED);
    T_EQ_INT(upload_classify(0), UPLOAD_RETRY);
    T_EQ_INT(upload_classify(500), UPLOAD_RETRY);
    T_EQ_INT(upload_classify(503), UPLOAD_RETRY);
    T_EQ_INT(upload_classify(429), UPLOAD_RETRY);
    T_EQ_INT(upload_classify(408), UPLOAD_RETRY);
    T_EQ_INT(upload_classify(400), UPLOAD_REJECTED);
    T_EQ_INT(upload_classify(401), UPLOAD_REJECTED);
    T_EQ_INT(upload_classify(413), UPLOAD_REJECTED);
    T_EQ_INT(upload_classify(422), UPLOAD_REJECTED);
}

static void test_escape(void)
{
    char buf[64];

    T_EQ_INT(upload_escape("app.cpu{env=prod,pid=12}", buf, sizeof(buf)), 34);
    T_EQ_STR(buf, "app.cpu%7Benv%3Dprod%2Cpid%3D12%7D");
    T_EQ_INT(upload_escape("a-b_c~d", buf, sizeof(buf)), 7);
    T_EQ_STR(buf, "a-b_c~d");
    T_EQ_INT(upload_escape("{{{{", buf, 12), -ENOSPC);
    T_EQ_INT(upload_escape("{{{", buf, 10), 9);
}

/*
 * Serve one request on a listening socket in a child: answer @status with @body when the request
 * has the expected line, headers and payload, 400 otherwise.
 */
static pid_t serve_once(int lfd, int status, const char *body)
{
    pid_t pid = fork();

    if (pid != 0) {
        close(lfd);
        return pid;
    }
    {
        char req[8192], resp[512];
        size_t n = 0;
        int c = accept(lfd, NULL, NULL), ok;

        while (c >= 0 && n < sizeof(req) - 1) {
            ssize_t r = read(c, req + n, sizeof(req) - 1 - n);

            if (r <= 0)
                break;
            n += (size_t)r;
            req[n] = '\0';
            if (strstr(req, "\r\n\r\n") && strstr(req, "PROFILE"))
                break;
        }
        req[n] = '\0';
        ok = strstr(req, "POST /base/ingest?format=pprof&name=x HTTP/1.1\r\n") == req &&
             strstr(req, "Authorization: Bearer tok\r\n") &&
             strstr(req, "X-Scope-OrgID: ten\r\n") &&
             strstr(req, "Content-Type: application/octet-stream\r\n") &&
             strstr(req, "\r\n\r\nPROFILE");
        if (!ok)
            status = 400;
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s", status,
                 strlen(body), body);
        if (c >= 0 && write(c, resp, strlen(resp)) < 0)
            _exit(1);
        _exit(0);
    }
}

static int listen_local(int *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

static int run_one(struct upload *u, struct upload_result *res)
{
    for (int i = 0; i < 500; i++) {
        upload_poll(u, 20);
        if (upload_next_result(u, res) == 1)
            return 1;
    }
    return 0;
}

static void test_transfer(int status, const char *answer, enum upload_verdict want,
                          const char *want_reason)
{
    char server[64];
    int port = 0, lfd = listen_local(&port);
    struct upload *u = NULL;
    struct upload_result res;
    pid_t child;

    if (lfd < 0)
        T_SKIP("no loopback socket");
    snprintf(server, sizeof(server), "http://127.0.0.1:%d/base/", port);
    child = serve_once(lfd, status, answer);
    {
        struct upload_opts o = { .server = server, .token = "tok", .tenant = "ten", .timeout = 5 };

        T_EQ_INT(upload_new(&u, &o), 0);
    }
    T_EQ_INT(upload_start(u, 42, "format=pprof&name=x", "PROFILE", 7), 0);
    T_EQ_INT(upload_in_flight(u), 1);
    T_EQ_INT(run_one(u, &res), 1);
    T_EQ_INT(res.id, 42);
    T_EQ_INT(res.status, status);
    T_EQ_INT(res.verdict, want);
    T_EQ_STR(res.reason, want_reason);
    T_EQ_INT(upload_in_flight(u), 0);
    upload_free(u);
    waitpid(child, NULL, 0);
}

static void test_refused(void)
{
    int port = 0, lfd = listen_local(&port);
    char server[64];
    struct upload *u = NULL;
    struct upload_result res;

    if (lfd < 0)
        T_SKIP("no loopback socket");
    close(lfd); /* nobody listens there now */
    snprintf(server, sizeof(server), "http://127.0.0.1:%d", port);
    {
        struct upload_opts o = { .server = server, .timeout = 2 };

        T_EQ_INT(upload_new(&u, &o), 0);
    }
    T_EQ_INT(upload_start(u, 7, "x=1", "B", 1), 0);
    T_EQ_INT(run_one(u, &res), 1);
    T_EQ_INT(res.status, 0);
    T_EQ_INT(res.verdict, UPLOAD_RETRY);
    T_ASSERT(res.reason[0] != '\0');
    upload_free(u);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_classify();
    test_escape();
    test_transfer(200, "", UPLOAD_DELIVERED, "");
    test_transfer(500, "storage error\n", UPLOAD_RETRY, "HTTP 500: storage error");
    test_transfer(422, "error happened while parsing request body\nmore", UPLOAD_REJECTED,
                  "HTTP 422: error happened while parsing request body");
    test_refused();
    T_DONE();
}
