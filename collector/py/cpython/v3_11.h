/* SPDX-License-Identifier: MIT */
/* cpython/v3_11: the CPython 3.11 structs that the walker reads, as version-suffixed copies. */
#pragma once

/*
 * Provenance: CPython v3.11.7, copied from
 *   Include/object.h                  (PyObject_HEAD, PyObject_VAR_HEAD)
 *   Include/internal/pycore_runtime.h (struct pyruntimestate)
 *   Include/internal/pycore_interp.h  (struct _is)
 *   Include/cpython/pystate.h         (_PyCFrame, _PyErr_StackItem, _PyStackChunk, PyTraceInfo,
 *                                      struct _ts)
 *   Include/cpython/code.h            (struct PyCodeObject = _PyCode_DEF(1), PyCodeAddressRange)
 *   Include/internal/pycore_frame.h   (_PyInterpreterFrame, enum _frameowner)
 *   Include/cpython/unicodeobject.h   (PyASCIIObject, PyCompactUnicodeObject)
 *   Include/cpython/bytesobject.h     (PyBytesObject)
 * Only the members up to the last one we read are copied; a struct that ends early says so.
 * Type mapping: Py_ssize_t and Py_hash_t -> intptr_t; PyObject * -> struct py_object_v3_11 *;
 * other object and function pointers -> void * (same size and alignment on every LP64 ABI);
 * _Py_CODEUNIT -> uint16_t. Release builds only (no Py_TRACE_REFS). tools/gen-offsets.py checks
 * these against the real headers.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PyObject_HEAD */
struct py_object_v3_11 {
    intptr_t ob_refcnt;
    void *ob_type;                            /* PyTypeObject * */
};

/* PyObject_VAR_HEAD */
struct py_var_object_v3_11 {
    struct py_object_v3_11 ob_base;
    intptr_t ob_size;                         /* Number of items in variable part */
};

/* struct pyruntimestate (_PyRuntimeState): only the leading members up to interpreters. */
struct py_runtime_state_v3_11 {
    int initialized_;                         /* _initialized: set to 0 right after allocation */
    int preinitializing;                      /* Is running Py_PreInitialize()? */
    int preinitialized;                       /* Is Python preinitialized? */
    int core_initialized;                     /* Is Python core initialized? */
    int initialized;                          /* Is Python fully initialized? */
    uintptr_t finalizing;                     /* _Py_atomic_address _finalizing */
    struct {
        void *mutex;                          /* PyThread_type_lock */
        /* The linked list of interpreters, newest first. */
        struct py_interpreter_state_v3_11 *head;
        struct py_interpreter_state_v3_11 *main;
        int64_t next_id;
    } interpreters;
    /* ... xidregistry, main_thread, exitfuncs, gilstate, ...: not read */
};

/* struct _is (PyInterpreterState): only the leading members. */
struct py_interpreter_state_v3_11 {
    struct py_interpreter_state_v3_11 *next;
    struct {
        uint64_t next_unique_id;
        /* The linked list of threads, newest first. */
        struct py_thread_state_v3_11 *head;
        long count;                           /* Used in Modules/_threadmodule.c. */
        size_t stacksize;                     /* Used in Python/thread.c. */
    } threads;
    /* ... runtime, id, ...: not read */
};

/* _PyCFrame */
struct py_cframe_v3_11 {
    uint8_t use_tracing;                      /* 0 or 255 (or'ed into opcode, hence 8-bit type) */
    /* Pointer to the currently executing frame (it can be NULL) */
    struct py_interpreter_frame_v3_11 *current_frame;
    struct py_cframe_v3_11 *previous;
};

/* _PyErr_StackItem */
struct py_err_stack_item_v3_11 {
    /* The exception currently being handled in this context, if any. */
    struct py_object_v3_11 *exc_value;
    struct py_err_stack_item_v3_11 *previous_item;
};

/* _PyStackChunk (complete) */
struct py_stack_chunk_v3_11 {
    struct py_stack_chunk_v3_11 *previous;
    size_t size;
    size_t top;
    struct py_object_v3_11 *data[1];          /* Variable sized */
};

/* PyTraceInfo = { PyCodeObject *code; PyCodeAddressRange bounds; } */
struct py_trace_info_v3_11 {
    void *code;                               /* The code object for the bounds. May be NULL. */
    struct {                                  /* PyCodeAddressRange (struct _line_offsets) */
        int ar_start;
        int ar_end;
        int ar_line;
        struct {                              /* struct _opaque */
            int computed_line;
            const uint8_t *lo_next;
            const uint8_t *limit;
        } opaque;
    } bounds;                                 /* Only valid if code != NULL. */
};

/* struct _ts (PyThreadState): the members up to datastack_chunk. */
struct py_thread_state_v3_11 {
    /* See Python/ceval.c for comments explaining most fields */
    struct py_thread_state_v3_11 *prev;
    struct py_thread_state_v3_11 *next;
    struct py_interpreter_state_v3_11 *interp;

    int initialized_;                         /* _initialized: has been initialized */
    int static_;                              /* _static: was statically allocated */

    int recursion_remaining;
    int recursion_limit;
    int recursion_headroom;                   /* Allow 50 more calls to handle any errors. */

    int tracing;
    int tracing_what;                         /* The event currently being traced, if any. */

    /* Pointer to current _PyCFrame in the C stack frame of the currently,
     * or most recently, executing _PyEval_EvalFrameDefault. */
    struct py_cframe_v3_11 *cframe;

    void *c_profilefunc;                      /* Py_tracefunc */
    void *c_tracefunc;                        /* Py_tracefunc */
    struct py_object_v3_11 *c_profileobj;
    struct py_object_v3_11 *c_traceobj;

    /* The exception currently being raised */
    struct py_object_v3_11 *curexc_type;
    struct py_object_v3_11 *curexc_value;
    struct py_object_v3_11 *curexc_traceback;

    struct py_err_stack_item_v3_11 *exc_info;

    struct py_object_v3_11 *dict;             /* Stores per-thread state */

    int gilstate_counter;

    struct py_object_v3_11 *async_exc;        /* Asynchronous exception to raise */
    unsigned long thread_id;                  /* Thread id where this tstate was created */

    /* Native thread id where this tstate was created. This will be 0 except on
     * those platforms that have the notion of native thread id, for which the
     * macro PY_HAVE_THREAD_NATIVE_ID is then defined.
     */
    unsigned long native_thread_id;

    int trash_delete_nesting;
    struct py_object_v3_11 *trash_delete_later;

    void *on_delete;                          /* void (*)(void *) */
    void *on_delete_data;

    int coroutine_origin_tracking_depth;

    struct py_object_v3_11 *async_gen_firstiter;
    struct py_object_v3_11 *async_gen_finalizer;

    struct py_object_v3_11 *context;
    uint64_t context_ver;

    /* Unique thread state id. */
    uint64_t id;

    struct py_trace_info_v3_11 trace_info;

    struct py_stack_chunk_v3_11 *datastack_chunk;
    /* ... datastack_top, datastack_limit, exc_state, root_cframe: not read */
};

/* enum _frameowner */
enum {
    FRAME_OWNED_BY_THREAD_V3_11 = 0,
    FRAME_OWNED_BY_GENERATOR_V3_11 = 1,
    FRAME_OWNED_BY_FRAME_OBJECT_V3_11 = 2,
};

/* _PyInterpreterFrame (complete) */
struct py_interpreter_frame_v3_11 {
    /* "Specials" section */
    void *f_func;                             /* PyFunctionObject *: Strong reference */
    struct py_object_v3_11 *f_globals;        /* Borrowed reference */
    struct py_object_v3_11 *f_builtins;       /* Borrowed reference */
    struct py_object_v3_11 *f_locals;         /* Strong reference, may be NULL */
    struct py_code_object_v3_11 *f_code;      /* Strong reference */
    void *frame_obj;                          /* PyFrameObject *: Strong reference, may be NULL */
    /* Linkage section */
    struct py_interpreter_frame_v3_11 *previous;
    /* NOTE: This is not necessarily the last instruction started in the given frame. Rather, it
     * is the code unit *prior to* the *next* instruction. For example, it may be an inline CACHE
     * entry, an instruction we just jumped over, or (in the case of a newly-created frame) a
     * totally invalid value. */
    uint16_t *prev_instr;                     /* _Py_CODEUNIT * */
    int stacktop;                             /* Offset of TOS from localsplus  */
    bool is_entry;                            /* Whether this is the "root" frame for the current
                                                 _PyCFrame. */
    char owner;
    /* Locals and stack */
    struct py_object_v3_11 *localsplus[1];
};

/* struct PyCodeObject (_PyCode_DEF(1)), complete */
struct py_code_object_v3_11 {
    struct py_var_object_v3_11 ob_base;       /* PyObject_VAR_HEAD */

    /* The hottest fields (in the eval loop) are grouped here at the top. */
    struct py_object_v3_11 *co_consts;        /* list (constants used) */
    struct py_object_v3_11 *co_names;         /* list of strings (names used) */
    struct py_object_v3_11 *co_exceptiontable; /* Byte string encoding exception handling table */
    int co_flags;                             /* CO_..., see below */
    short co_warmup;                          /* Warmup counter for quickening */
    short co_linearray_entry_size_;           /* _co_linearray_entry_size */

    /* The rest are not so impactful on performance. */
    int co_argcount;                          /* #arguments, except *args */
    int co_posonlyargcount;                   /* #positional only arguments */
    int co_kwonlyargcount;                    /* #keyword only arguments */
    int co_stacksize;                         /* #entries needed for evaluation stack */
    int co_firstlineno;                       /* first source line number */

    /* redundant values (derived from co_localsplusnames and co_localspluskinds) */
    int co_nlocalsplus;                       /* number of local + cell + free variables */
    int co_nlocals;                           /* number of local variables */
    int co_nplaincellvars;                    /* number of non-arg cell variables */
    int co_ncellvars;                         /* total number of cell variables */
    int co_nfreevars;                         /* number of free variables */

    struct py_object_v3_11 *co_localsplusnames; /* tuple mapping offsets to names */
    struct py_object_v3_11 *co_localspluskinds; /* Bytes mapping to local kinds */
    struct py_object_v3_11 *co_filename;      /* unicode (where it was loaded from) */
    struct py_object_v3_11 *co_name;          /* unicode (name, for reference) */
    struct py_object_v3_11 *co_qualname;      /* unicode (qualname, for reference) */
    struct py_object_v3_11 *co_linetable;     /* bytes object that holds location info */
    struct py_object_v3_11 *co_weakreflist;   /* to support weakrefs to code objects */
    struct py_object_v3_11 *co_code_;         /* _co_code: cached co_code object/attribute */
    char *co_linearray_;                      /* _co_linearray: array of line offsets */
    int co_firsttraceable_;                   /* _co_firsttraceable */
    void *co_extra;                           /* Scratch space for extra data */
    char co_code_adaptive[1];
};

/* PyASCIIObject (complete) */
struct py_ascii_object_v3_11 {
    struct py_object_v3_11 ob_base;           /* PyObject_HEAD */
    intptr_t length;                          /* Number of code points in the string */
    intptr_t hash;                            /* Hash value; -1 if not set */
    struct {
        unsigned int interned:2;              /* SSTATE_NOT_INTERNED/INTERNED_MORTAL/IMMORTAL */
        unsigned int kind:3;                  /* PyUnicode_WCHAR_KIND (0) or 1, 2, 4 */
        unsigned int compact:1;               /* data follows the struct */
        unsigned int ascii:1;                 /* only ASCII; with compact: PyASCIIObject */
        unsigned int ready:1;                 /* the data pointer is filled out */
        unsigned int :24;                     /* padding to 4 bytes (issue #19537, m68k) */
    } state;
    void *wstr;                               /* wchar_t representation (null-terminated) */
};

/* PyCompactUnicodeObject (complete) */
struct py_compact_unicode_object_v3_11 {
    struct py_ascii_object_v3_11 base;        /* _base */
    intptr_t utf8_length;                     /* Number of bytes in utf8, excluding the \0 */
    char *utf8;                               /* UTF-8 representation (null-terminated) */
    intptr_t wstr_length;                     /* Number of code points in wstr */
};

/* PyBytesObject (complete) */
struct py_bytes_object_v3_11 {
    struct py_var_object_v3_11 ob_base;       /* PyObject_VAR_HEAD */
    intptr_t ob_shash;                        /* Py_DEPRECATED(3.11) */
    char ob_sval[1];
};
