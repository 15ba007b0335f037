/* SPDX-License-Identifier: MIT */
/*
 * pthreadtid: the kernel thread id of a thread known only by its pthread_t (CPython <= 3.10
 * keeps nothing else). glibc's struct pthread holds the tid at a fixed offset, which is found
 * once as the place where the main thread's struct holds the PID.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PTHREADTID_SCAN 4096 /* bytes of struct pthread searched for the tid */

/*
 * pthreadtid_ns_pid() - the PID of process @pid as its own PID namespace numbers it (the last
 * NSpid field of /proc/PID/status), which is what its struct pthread holds; @pid itself when
 * the status cannot be read or has no NSpid line. Reads /proc only; changes nothing.
 */
pid_t pthreadtid_ns_pid(pid_t pid);

/*
 * pthreadtid_offset() - the byte offset of the tid in a copy @buf of @len bytes (at most
 * PTHREADTID_SCAN used) of the struct pthread that @tid belongs to: the first 32-bit word equal
 * to @tid past the TCB header (self pointers and dtv, 64 bytes). Returns the offset, or -1 when
 * there is none (not that thread's struct, or not glibc). Pure: reads @buf only.
 */
long pthreadtid_offset(const void *buf, size_t len, pid_t tid);
