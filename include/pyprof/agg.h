/* SPDX-License-Identifier: MIT */
/* agg: the in-memory aggregate of sampled stacks that every output writer reads. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "pyprof/strtab.h"

/* Where a frame's code comes from, for colouring; not part of a frame's identity. */
enum pp_origin {
    PP_ORIGIN_UNKNOWN = 0,
    PP_ORIGIN_USER,        /* the application's own code */
    PP_ORIGIN_STDLIB,      /* the Python standard library (lib/pythonX.Y, <frozen ...>) */
    PP_ORIGIN_THIRD_PARTY, /* site-packages / dist-packages */
    PP_ORIGIN_NATIVE,      /* a native (C) frame: the file is the object's name, no line */
};

/*
 * One frame. name and file are ids in the aggregate's string table; line 0 means "no line".
 * Frames are equal when name, file and line are; origin is kept from the first one interned.
 */
struct pp_frame {
    uint32_t name;
    uint32_t file;
    uint32_t line;
    uint32_t origin;       /* enum pp_origin */
};

/*
 * pp_origin_of_path() - classify a source path: "site-packages/" or "dist-packages/" anywhere
 * -> THIRD_PARTY; "/lib/python3.", "<frozen " or a short (relative) name whose first component is
 * a standard-library module ("threading.py", "json/decoder.py") -> STDLIB; anything else -> USER
 * (so a short name of a third-party package reads as user code). Pure.
 */
enum pp_origin pp_origin_of_path(const char *path);

/* One thread: OS thread id (or the interpreter's id when the OS one is unknown) and a name id. */
struct pp_thread {
    uint64_t tid;
    uint32_t name;
};

/* A view of one distinct stack; pointers are owned by the aggregate and valid until it changes. */
struct pp_stack_view {
    uint32_t thread;       /* index for pp_agg_thread_get() */
    const uint32_t *fids;  /* frame ids, ROOT FIRST */
    uint32_t n_fids;
    uint64_t count;        /* number of samples */
};

struct pp_agg;

/* pp_agg_new() - an empty aggregate with its own string table. 0, or -ENOMEM. */
int pp_agg_new(struct pp_agg **out);

/* pp_agg_free() - NULL-safe. Returns NULL. */
struct pp_agg *pp_agg_free(struct pp_agg *a);

/* pp_agg_strtab() - the aggregate's string table (owned by @a): intern names and files here. */
struct pp_strtab *pp_agg_strtab(struct pp_agg *a);
const struct pp_strtab *pp_agg_strtab_const(const struct pp_agg *a);

/*
 * pp_agg_intern_frame() - the dense id of frame @f (equal frames share an id). 0 or -ENOMEM.
 * @f's string ids must come from pp_agg_strtab(@a); -EINVAL if one is not in it.
 */
int pp_agg_intern_frame(struct pp_agg *a, const struct pp_frame *f, uint32_t *out_fid);

/*
 * pp_agg_intern_thread() - the dense index of thread (@tid, @name). 0 or -ENOMEM; -EINVAL if @name
 * is not in pp_agg_strtab(@a). The same tid under another name is another thread.
 */
int pp_agg_intern_thread(struct pp_agg *a, uint64_t tid, uint32_t name, uint32_t *out_thread);

/*
 * pp_agg_add() - add @count samples of the stack @fids[0..n_fids) (root first, ids from
 * pp_agg_intern_frame) on thread @thread. Equal (thread, stack) pairs are merged. @fids is copied;
 * an empty stack (n_fids 0) is allowed. Returns 0, -ENOMEM (aggregate unchanged) or -EINVAL
 * (an id out of range, or @fids NULL with n_fids > 0). Does not allocate when the (thread, stack)
 * pair was seen before. @count 0 still records the stack; counts wrap on uint64 overflow.
 */
int pp_agg_add(struct pp_agg *a, uint32_t thread, const uint32_t *fids, uint32_t n_fids,
               uint64_t count);

/*
 * The timeline: an optional record of every sample in order, for writers that show time
 * (speedscope, chrome trace). Off by default; costs 16 bytes per sample when on.
 */
struct pp_sample {
    uint32_t stack;          /* index for pp_agg_stack() */
    uint64_t time_ns;        /* time of the sample, any epoch, non-decreasing */
};

/* pp_agg_timeline_enable() - start recording the samples passed to pp_agg_add_sample(). */
void pp_agg_timeline_enable(struct pp_agg *a);

/*
 * pp_agg_add_sample() - pp_agg_add(@a, @thread, @fids, @n_fids, 1), and, when the timeline is
 * enabled, append (stack, @time_ns) to it. Same returns as pp_agg_add(); on an error nothing
 * changes. Amortised O(1); allocates only for a new stack or when the timeline grows.
 */
int pp_agg_add_sample(struct pp_agg *a, uint32_t thread, const uint32_t *fids, uint32_t n_fids,
                      uint64_t time_ns);

/* pp_agg_n_samples() - samples in the timeline (0 when it was never enabled). */
size_t pp_agg_n_samples(const struct pp_agg *a);

/* pp_agg_sample_get() - the i-th sample of the timeline, or NULL when out of range. */
const struct pp_sample *pp_agg_sample_get(const struct pp_agg *a, size_t i);

/*
 * Accessors. Indices are dense, in order of first insertion. Out of range, pp_agg_stack() zeroes
 * *out and the _get() functions return NULL.
 */
size_t pp_agg_n_stacks(const struct pp_agg *a);
void pp_agg_stack(const struct pp_agg *a, size_t i, struct pp_stack_view *out);
uint32_t pp_agg_n_frames(const struct pp_agg *a);
const struct pp_frame *pp_agg_frame_get(const struct pp_agg *a, uint32_t fid);
uint32_t pp_agg_n_threads(const struct pp_agg *a);
const struct pp_thread *pp_agg_thread_get(const struct pp_agg *a, uint32_t thread);
uint64_t pp_agg_total(const struct pp_agg *a); /* sum of all counts */
