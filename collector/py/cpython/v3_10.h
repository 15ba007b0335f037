/* SPDX-License-Identifier: MIT */
/* cpython/v3_10: the CPython 3.10 structs that the walker reads, as version-suffixed copies. */
#pragma once

/*
 * Provenance: CPython v3.10.13, copied from
 *   Include/object.h                  (PyObject_HEAD, PyObject_VAR_HEAD)
 *   Include/internal/pycore_runtime.h (struct pyruntimestate)
 *   Include/internal/pycore_interp.h  (struct _is)
 *   Include/cpython/pystate.h         (struct _ts, _PyErr_StackItem)
 *   Include/cpython/frameobject.h     (struct _frame)
 *   Include/cpython/code.h            (struct PyCodeObject)
 *   Include/cpython/unicodeobject.h   (PyASCIIObject, PyCompactUnicodeObject)
 *   Include/cpython/bytesobject.h     (PyBytesObject)
 *   Include/cpython/object.h          (PyTypeObject, PyHeapTypeObject)
 *   Include/internal/pycore_runtime.h, pycore_interp.h, pycore_gc.h, pycore_gil.h (GIL holder,
 *                                      interp->modules), Include/cpython/dictobject.h,
 *                                      Objects/dict-common.h,
 *                                      Include/internal/pycore_moduleobject.h,
 *                                      Include/longintrepr.h (thread names)
 * Differences from 3.9: the tstate gains cframe, the frame gains f_stackdepth, co_lnotab became
 * co_linetable (PEP 626) and f_lasti counts 2-byte code units.
 * Only the members up to the last one we read are copied; a struct that ends early says so.
 * Type mapping: Py_ssize_t and Py_hash_t -> intptr_t; PyObject * -> struct py_object_v3_10 *;
 * other object and function pointers -> void * (same size and alignment on every LP64 ABI).
 * Release builds only (no Py_TRACE_REFS). tools/gen-offsets.py checks these against the real
 * headers.
 */

#include <pthread.h>
#include <stdint.h>

/* PyObject_HEAD */
struct py_object_v3_10 {
    intptr_t ob_refcnt;
    void *ob_type;                            /* struct _typeobject * */
};

/* PyObject_VAR_HEAD */
struct py_var_object_v3_10 {
    struct py_object_v3_10 ob_base;
    intptr_t ob_size;                         /* Number of items in variable part */
};

/* PyGC_Head */
struct py_gc_head_v3_10 {
    uintptr_t gc_next_, gc_prev_;             /* _gc_next, _gc_prev */
};

/* struct gc_generation */
struct py_gc_generation_v3_10 {
    struct py_gc_head_v3_10 head;
    int threshold;                            /* collection threshold */
    int count;                                /* count of allocations or collections of younger
                                                 generations */
};

/* struct gc_generation_stats */
struct py_gc_generation_stats_v3_10 {
    intptr_t collections, collected, uncollectable;
};

/* struct _gc_runtime_state (NUM_GENERATIONS 3) */
struct py_gc_runtime_state_v3_10 {
    struct py_object_v3_10 *trash_delete_later;
    int trash_delete_nesting;
    int enabled;
    int debug;
    struct py_gc_generation_v3_10 generations[3]; /* linked lists of container objects */
    struct py_gc_head_v3_10 *generation0;
    struct py_gc_generation_v3_10 permanent_generation;
    struct py_gc_generation_stats_v3_10 generation_stats[3];
    int collecting;                           /* true if we are currently running the collector */
    struct py_object_v3_10 *garbage;            /* list of uncollectable objects */
    struct py_object_v3_10 *callbacks;          /* callbacks invoked around a collection */
    intptr_t long_lived_total;
    intptr_t long_lived_pending;
};

/* struct _pending_calls (NPENDINGCALLS 32) */
struct py_pending_calls_v3_10 {
    void *lock;                               /* PyThread_type_lock */
    int calls_to_do;                          /* _Py_atomic_int: request for running pending
                                                 calls */
    int async_exc;                            /* Request for looking at tstate->async_exc */
    struct {
        void *func;                           /* int (*)(void *) */
        void *arg;
    } calls[32];
    int first;
    int last;
};

/* struct _gil_runtime_state (POSIX build: PyCOND_T pthread_cond_t, PyMUTEX_T
 * pthread_mutex_t; FORCE_SWITCHING defined) */
struct py_gil_runtime_state_v3_10 {
    unsigned long interval;                   /* microseconds (the Python API uses seconds) */
    /* Last PyThreadState holding / having held the GIL. This helps us know whether anyone else
       was scheduled after we dropped the GIL. */
    uintptr_t last_holder;                    /* _Py_atomic_address */
    /* Whether the GIL is already taken (-1 if uninitialized). This is atomic because it can be
       read without any lock taken in ceval.c. */
    int locked;                               /* _Py_atomic_int */
    unsigned long switch_number;              /* Number of GIL switches since the beginning. */
    pthread_cond_t cond;
    pthread_mutex_t mutex;
    pthread_cond_t switch_cond;
    pthread_mutex_t switch_mutex;
};

/* struct _ceval_runtime_state */
struct py_ceval_runtime_state_v3_10 {
    /* Request for checking signals. It is shared by all interpreters (see bpo-40513). */
    int signals_pending;                      /* _Py_atomic_int */
    struct py_gil_runtime_state_v3_10 gil;      /* (not EXPERIMENTAL_ISOLATED_SUBINTERPRETERS) */
};

/* struct _ceval_state (per interpreter) */
struct py_ceval_state_v3_10 {
    int recursion_limit;
    int eval_breaker;                         /* _Py_atomic_int */
    int gil_drop_request;                     /* _Py_atomic_int: request for dropping the GIL */
    struct py_pending_calls_v3_10 pending;
};

/* struct _gilstate_runtime_state: the members up to tstate_current. */
struct py_gilstate_runtime_state_v3_10 {
    int check_enabled;                        /* bpo-26558: flag to disable PyGILState_Check() */
    /* Assuming the current thread holds the GIL, this is the PyThreadState for the current
       thread. */
    uintptr_t tstate_current;                 /* _Py_atomic_address */
    /* ... getframe (3.8), autoInterpreterState, autoTSSkey: not read */
};

/* struct pyruntimestate (_PyRuntimeState): the members up to gilstate. */
struct py_runtime_state_v3_10 {
    int preinitializing;                      /* Is running Py_PreInitialize()? */
    int preinitialized;                       /* Is Python preinitialized? */
    int core_initialized;                     /* Is Python core initialized? */
    int initialized;                          /* Is Python fully initialized? */
    uintptr_t finalizing;                     /* _Py_atomic_address _finalizing */
    struct {
        void *mutex;                          /* PyThread_type_lock */
        struct py_interpreter_state_v3_10 *head;
        struct py_interpreter_state_v3_10 *main;
        int64_t next_id;
    } interpreters;
    struct {
        void *mutex;                          /* PyThread_type_lock */
        void *head;                           /* struct _xidregitem * */
    } xidregistry;
    unsigned long main_thread;
    void *exitfuncs[32];                      /* void (*exitfuncs[NEXITFUNCS])(void) */
    int nexitfuncs;
    struct py_ceval_runtime_state_v3_10 ceval;
    struct py_gilstate_runtime_state_v3_10 gilstate;
    /* ... preconfig, open_code_hook, ...: not read */
};

/* struct _is (PyInterpreterState): the members up to modules. */
struct py_interpreter_state_v3_10 {
    struct py_interpreter_state_v3_10 *next;
    struct py_thread_state_v3_10 *tstate_head;
    void *runtime;                            /* struct pyruntimestate * */
    int64_t id;
    int64_t id_refcount;
    int requires_idref;
    void *id_mutex;                           /* PyThread_type_lock */
    int finalizing;
    struct py_ceval_state_v3_10 ceval;
    struct py_gc_runtime_state_v3_10 gc;
    struct py_object_v3_10 *modules;            /* sys.modules */
    /* ... modules_by_index, sysdict, ...: not read */
};

/* _PyErr_StackItem */
struct py_err_stack_item_v3_10 {
    struct py_object_v3_10 *exc_type, *exc_value, *exc_traceback;
    struct py_err_stack_item_v3_10 *previous_item;
};

/* struct _ts (PyThreadState): the members up to thread_id. */
struct py_thread_state_v3_10 {
    /* See Python/ceval.c for comments explaining most fields */
    struct py_thread_state_v3_10 *prev;
    struct py_thread_state_v3_10 *next;
    struct py_interpreter_state_v3_10 *interp;

    /* Borrowed reference to the current frame (it can be NULL) */
    struct py_frame_object_v3_10 *frame;
    int recursion_depth;
    int recursion_headroom;                   /* Allow 50 more calls to handle any errors. */
    int stackcheck_counter;

    int tracing;

    /* Pointer to current CFrame in the C stack frame of the currently,
     * or most recently, executing _PyEval_EvalFrameDefault. */
    void *cframe;                             /* CFrame * */

    void *c_profilefunc;                      /* Py_tracefunc */
    void *c_tracefunc;                        /* Py_tracefunc */
    struct py_object_v3_10 *c_profileobj;
    struct py_object_v3_10 *c_traceobj;

    /* The exception currently being raised */
    struct py_object_v3_10 *curexc_type;
    struct py_object_v3_10 *curexc_value;
    struct py_object_v3_10 *curexc_traceback;

    struct py_err_stack_item_v3_10 exc_state;
    struct py_err_stack_item_v3_10 *exc_info;

    struct py_object_v3_10 *dict;             /* Stores per-thread state */

    int gilstate_counter;

    struct py_object_v3_10 *async_exc;        /* Asynchronous exception to raise */
    unsigned long thread_id;                  /* Thread id where this tstate was created */
    /* ... trash_delete_nesting, on_delete, context, id, root_cframe: not read */
};

/* struct _frame (PyFrameObject): the members up to f_lasti. */
struct py_frame_object_v3_10 {
    struct py_var_object_v3_10 ob_base;       /* PyObject_VAR_HEAD */
    struct py_frame_object_v3_10 *f_back;     /* previous frame, or NULL */
    struct py_code_object_v3_10 *f_code;      /* code segment */
    struct py_object_v3_10 *f_builtins;       /* builtin symbol table (PyDictObject) */
    struct py_object_v3_10 *f_globals;        /* global symbol table (PyDictObject) */
    struct py_object_v3_10 *f_locals;         /* local symbol table (any mapping) */
    struct py_object_v3_10 **f_valuestack;    /* points after the last local */
    struct py_object_v3_10 *f_trace;          /* Trace function */
    int f_stackdepth;                         /* Depth of value stack */
    char f_trace_lines;                       /* Emit per-line trace events? */
    char f_trace_opcodes;                     /* Emit per-opcode trace events? */

    /* Borrowed reference to a generator, or NULL */
    struct py_object_v3_10 *f_gen;

    int f_lasti;                              /* Last instruction if called */
    /* ... f_lineno, f_iblock, f_state, f_blockstack, f_localsplus: not read */
};

/* struct PyCodeObject: the members up to co_linetable. */
struct py_code_object_v3_10 {
    struct py_object_v3_10 ob_base;           /* PyObject_HEAD */
    int co_argcount;                          /* #arguments, except *args */
    int co_posonlyargcount;                   /* #positional only arguments */
    int co_kwonlyargcount;                    /* #keyword only arguments */
    int co_nlocals;                           /* #local variables */
    int co_stacksize;                         /* #entries needed for evaluation stack */
    int co_flags;                             /* CO_..., see below */
    int co_firstlineno;                       /* first source line number */
    struct py_object_v3_10 *co_code;          /* instruction opcodes */
    struct py_object_v3_10 *co_consts;        /* list (constants used) */
    struct py_object_v3_10 *co_names;         /* list of strings (names used) */
    struct py_object_v3_10 *co_varnames;      /* tuple of strings (local variable names) */
    struct py_object_v3_10 *co_freevars;      /* tuple of strings (free variable names) */
    struct py_object_v3_10 *co_cellvars;      /* tuple of strings (cell variable names) */
    intptr_t *co_cell2arg;                    /* Maps cell vars which are arguments. */
    struct py_object_v3_10 *co_filename;      /* unicode (where it was loaded from) */
    struct py_object_v3_10 *co_name;          /* unicode (name, for reference) */
    struct py_object_v3_10 *co_linetable;     /* string (encoding addr<->lineno mapping) */
    /* ... co_zombieframe, co_weakreflist, co_extra, co_opcache*: not read */
};

/* PyASCIIObject (complete) */
struct py_ascii_object_v3_10 {
    struct py_object_v3_10 ob_base;           /* PyObject_HEAD */
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
struct py_compact_unicode_object_v3_10 {
    struct py_ascii_object_v3_10 base;        /* _base */
    intptr_t utf8_length;                     /* Number of bytes in utf8, excluding the \0 */
    char *utf8;                               /* UTF-8 representation (null-terminated) */
    intptr_t wstr_length;                     /* Number of code points in wstr */
};

/* PyBytesObject (complete) */
struct py_bytes_object_v3_10 {
    struct py_var_object_v3_10 ob_base;       /* PyObject_VAR_HEAD */
    intptr_t ob_shash;
    char ob_sval[1];
};

/* ===== Thread state: the GIL holder and `threading` thread names (threadinfo.c) ===== */

/* PyTypeObject (struct _typeobject, complete): function pointers as void *. */
struct py_type_object_v3_10 {
    struct py_var_object_v3_10 ob_base;        /* PyObject_VAR_HEAD */
    const char *tp_name;                      /* For printing, in format "<module>.<name>" */
    intptr_t tp_basicsize, tp_itemsize;       /* For allocation */
    void *tp_dealloc;                         /* destructor */
    intptr_t tp_vectorcall_offset;
    void *tp_getattr, *tp_setattr;            /* getattrfunc, setattrfunc */
    void *tp_as_async;                        /* PyAsyncMethods * */
    void *tp_repr;                            /* reprfunc */
    void *tp_as_number, *tp_as_sequence, *tp_as_mapping; /* method suites */
    void *tp_hash, *tp_call, *tp_str, *tp_getattro, *tp_setattro;
    void *tp_as_buffer;                       /* PyBufferProcs * */
    unsigned long tp_flags;                   /* Flags to define presence of optional/expanded
                                                 features */
    const char *tp_doc;                       /* Documentation string */
    void *tp_traverse, *tp_clear, *tp_richcompare;
    intptr_t tp_weaklistoffset;               /* weak reference enabler */
    void *tp_iter, *tp_iternext;
    void *tp_methods, *tp_members, *tp_getset; /* struct PyMethodDef/PyMemberDef/PyGetSetDef * */
    struct py_type_object_v3_10 *tp_base;
    struct py_object_v3_10 *tp_dict;
    void *tp_descr_get, *tp_descr_set;
    intptr_t tp_dictoffset;
    void *tp_init, *tp_alloc, *tp_new, *tp_free, *tp_is_gc;
    struct py_object_v3_10 *tp_bases, *tp_mro, *tp_cache, *tp_subclasses, *tp_weaklist;
    void *tp_del;                             /* destructor */
    unsigned int tp_version_tag;              /* Type attribute cache version tag. */
    void *tp_finalize;                        /* destructor */
    void *tp_vectorcall;                      /* vectorcallfunc */
};

/* PyHeapTypeObject (struct _heaptypeobject): the members up to ht_cached_keys. The method
 * suites are embedded structs of function pointers, copied as arrays of that many pointers. */
struct py_heap_type_object_v3_10 {
    struct py_type_object_v3_10 ht_type;
    void *as_async[4];                        /* PyAsyncMethods (am_send since 3.10) */
    void *as_number[36];                      /* PyNumberMethods */
    void *as_mapping[3];                      /* PyMappingMethods */
    void *as_sequence[10];                    /* PySequenceMethods */
    void *as_buffer[2];                       /* PyBufferProcs */
    struct py_object_v3_10 *ht_name, *ht_slots, *ht_qualname;
    void *ht_cached_keys;                     /* struct _dictkeysobject *: shared instance keys */
    /* ... ht_module, ...: not read */
};

/* PyDictObject (complete) */
struct py_dict_object_v3_10 {
    struct py_object_v3_10 ob_base;             /* PyObject_HEAD */
    intptr_t ma_used;                         /* Number of items in the dictionary */
    uint64_t ma_version_tag;                  /* Dictionary version */
    void *ma_keys;                            /* PyDictKeysObject * */
    /* If ma_values is NULL, the table is "combined": keys and values are stored in ma_keys.
       If ma_values is not NULL, the table is split: keys are stored in ma_keys and values are
       stored in ma_values */
    void *ma_values;                          /* PyObject **: the values of a split table */
};

/* struct _dictkeysobject (Objects/dict-common.h, not installed): followed by the dk_size
 * indices (1, 2, 4 or 8 bytes each, by dk_size), then the PyDictKeyEntry array. */
struct py_dict_keys_object_v3_10 {
    intptr_t dk_refcnt;
    intptr_t dk_size;                         /* Size of the hash table (dk_indices): a power of 2 */
    void *dk_lookup;                          /* dict_lookup_func */
    intptr_t dk_usable;                       /* Number of usable entries in dk_entries. */
    intptr_t dk_nentries;                     /* Number of used entries in dk_entries. */
    char dk_indices[];                        /* char is required to avoid strict aliasing. */
};

/* PyDictKeyEntry (Objects/dict-common.h) */
struct py_dict_key_entry_v3_10 {
    intptr_t me_hash;                         /* Cached hash code of me_key. */
    struct py_object_v3_10 *me_key;
    struct py_object_v3_10 *me_value;           /* only meaningful for combined tables */
};

/* PyModuleObject (Include/internal/pycore_moduleobject.h): the members up to md_dict. */
struct py_module_object_v3_10 {
    struct py_object_v3_10 ob_base;             /* PyObject_HEAD */
    struct py_object_v3_10 *md_dict;
    /* ... md_def, md_state, md_weaklist, md_name: not read */
};

/* struct _longobject (PyLongObject): the sign of ob_size is the sign of the number, its
 * absolute value the number of 30-bit digits (PYLONG_BITS_IN_DIGIT 30 on every 64-bit build). */
struct py_long_object_v3_10 {
    struct py_var_object_v3_10 ob_base;         /* PyObject_VAR_HEAD */
    uint32_t ob_digit[1];                     /* digit */
};
