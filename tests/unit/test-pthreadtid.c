/* SPDX-License-Identifier: MIT */
/* Unit test: finding the kernel tid in glibc's struct pthread, on this process's own threads. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "sys/mem.h"
#include "sys/pthreadtid.h"
#include "t.h"

struct seen {
    pthread_t self;
    pid_t tid;
    int go;
};

static void *thread_main(void *arg)
{
    struct seen *s = arg;

    s->self = pthread_self();
    s->tid = gettid();
    while (!__atomic_load_n(&s->go, __ATOMIC_ACQUIRE))
        usleep(1000);
    return NULL;
}

int main(void)
{
    uint8_t buf[PTHREADTID_SCAN], word[PTHREADTID_SCAN] = { 0 };
    struct seen s = { 0 };
    struct mem m;
    pthread_t th;
    int32_t tid;
    long off;

    /* Not in a nested PID namespace here, or in one: either way what getpid() says. */
    T_EQ_INT(pthreadtid_ns_pid(getpid()), getpid());
    T_EQ_INT(pthreadtid_ns_pid(0x7ffffff0), 0x7ffffff0); /* no such process: itself */

    /* The main thread's struct holds the PID (its tid) past the TCB header. */
    mem_init(&m, getpid());
    T_EQ_INT(mem_read(&m, (uint64_t)pthread_self(), buf, sizeof(buf)), 0);
    off = pthreadtid_offset(buf, sizeof(buf), getpid());
    T_ASSERT(off >= 64 && off % 4 == 0);

    /* The same offset gives another thread's own tid, read the way the walker reads it. */
    T_EQ_INT(pthread_create(&th, NULL, thread_main, &s), 0);
    while (!__atomic_load_n(&s.tid, __ATOMIC_ACQUIRE))
        usleep(1000);
    T_EQ_INT(mem_read(&m, (uint64_t)s.self + (uint64_t)off, &tid, sizeof(tid)), 0);
    T_EQ_INT(tid, s.tid);
    T_ASSERT(tid != getpid());
    __atomic_store_n(&s.go, 1, __ATOMIC_RELEASE);
    T_EQ_INT(pthread_join(th, NULL), 0);

    /* Synthetic structs: the header is skipped, the first match wins, the length is kept. */
    tid = 4242;
    memcpy(word + 8, &tid, sizeof(tid));
    T_EQ_INT(pthreadtid_offset(word, sizeof(word), 4242), -1); /* only inside the header */
    memcpy(word + 720, &tid, sizeof(tid));
    memcpy(word + 1000, &tid, sizeof(tid));
    T_EQ_INT(pthreadtid_offset(word, sizeof(word), 4242), 720);
    T_EQ_INT(pthreadtid_offset(word, 723, 4242), -1); /* the word is cut by the length */
    T_EQ_INT(pthreadtid_offset(word, 724, 4242), 720);
    T_EQ_INT(pthreadtid_offset(word, sizeof(word), 4243), -1);
    memcpy(word + PTHREADTID_SCAN - 4, &(int32_t){ 77 }, 4);
    T_EQ_INT(pthreadtid_offset(word, sizeof(word), 77), PTHREADTID_SCAN - 4);
    T_EQ_INT(pthreadtid_offset(word, 0, 77), -1);
    T_DONE();
}
