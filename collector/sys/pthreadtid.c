/* SPDX-License-Identifier: MIT */
/* pthreadtid: the kernel tid inside glibc's struct pthread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sys/pthreadtid.h"

#define TCB_HEADER 64 /* tcbhead_t: tcb, dtv, self pointers; the tid lies well past it */

pid_t pthreadtid_ns_pid(pid_t pid)
{
    char path[64], line[256];
    pid_t ns = pid;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return pid;
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "NSpid:", 6)) {
            char *p = line + 6, *end;

            for (;;) {
                long v = strtol(p, &end, 10);

                if (end == p)
                    break;
                ns = (pid_t)v;
                p = end;
            }
            break;
        }
    }
    fclose(f);
    return ns;
}

long pthreadtid_offset(const void *buf, size_t len, pid_t tid)
{
    const uint8_t *b = buf;
    int32_t v;

    if (len > PTHREADTID_SCAN)
        len = PTHREADTID_SCAN;
    for (size_t at = TCB_HEADER; at + sizeof(v) <= len; at += sizeof(v)) {
        memcpy(&v, b + at, sizeof(v));
        if (v == tid)
            return (long)at;
    }
    return -1;
}
