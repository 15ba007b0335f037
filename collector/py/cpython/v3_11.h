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
 *   Include/cpython/object.h          (PyTypeObject, PyHeapTypeObject)
 *   Include/internal/pycore_runtime.h, pycore_interp.h, pycore_gc.h, pycore_gil.h (GIL holder,
 *                                      interp->modules), Include/cpython/dictobject.h,
 *                                      Include/internal/pycore_dict.h, pycore_object.h,
 *                                      pycore_moduleobject.h, Include/cpython/longintrepr.h
 *                                      (thread names)
 * Only the members up to the last one we read are copied; a struct that ends early says so.
 * Type mapping: Py_ssize_t and Py_hash_t -> intptr_t; PyObject * -> struct py_object_v3_11 *;
 * other object and function pointers -> void * (same size and alignment on every LP64 ABI);
 * _Py_CODEUNIT -> uint16_t. Release builds only (no Py_TRACE_REFS). tools/gen-offsets.py checks
 * these against the real headers.
 */

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
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

/* PyGC_Head */
struct py_gc_head_v3_11 {
    uintptr_t gc_next_, gc_prev_;             /* _gc_next, _gc_prev */
};

/* struct gc_generation */
struct py_gc_generation_v3_11 {
    struct py_gc_head_v3_11 head;
    int threshold;                            /* collection threshold */
    int count;                                /* count of allocations or collections of younger
                                                 generations */
};

/* struct gc_generation_stats */
struct py_gc_generation_stats_v3_11 {
    intptr_t collections, collected, uncollectable;
};

/* struct _gc_runtime_state (NUM_GENERATIONS 3) */
struct py_gc_runtime_state_v3_11 {
    struct py_object_v3_11 *trash_delete_later;
    int trash_delete_nesting;
    int enabled;
    int debug;
    struct py_gc_generation_v3_11 generations[3]; /* linked lists of container objects */
    struct py_gc_head_v3_11 *generation0;
    struct py_gc_generation_v3_11 permanent_generation;
    struct py_gc_generation_stats_v3_11 generation_stats[3];
    int collecting;                           /* true if we are currently running the collector */
    struct py_object_v3_11 *garbage;            /* list of uncollectable objects */
    struct py_object_v3_11 *callbacks;          /* callbacks invoked around a collection */
    intptr_t long_lived_total;
    intptr_t long_lived_pending;
};

/* struct _pending_calls (NPENDINGCALLS 32) */
struct py_pending_calls_v3_11 {
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
struct py_gil_runtime_state_v3_11 {
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
struct py_ceval_runtime_state_v3_11 {
    /* Request for checking signals. It is shared by all interpreters (see bpo-40513). */
    int signals_pending;                      /* _Py_atomic_int */
    struct py_gil_runtime_state_v3_11 gil;
};

/* struct _ceval_state (per interpreter) */
struct py_ceval_state_v3_11 {
    int recursion_limit;
    int eval_breaker;                         /* _Py_atomic_int */
    int gil_drop_request;                     /* _Py_atomic_int: request for dropping the GIL */
    struct py_pending_calls_v3_11 pending;
};

/* struct _gilstate_runtime_state: the members up to tstate_current. */
struct py_gilstate_runtime_state_v3_11 {
    int check_enabled;                        /* bpo-26558: flag to disable PyGILState_Check() */
    /* Assuming the current thread holds the GIL, this is the PyThreadState for the current
       thread. */
    uintptr_t tstate_current;                 /* _Py_atomic_address */
    /* ... getframe (3.8), autoInterpreterState, autoTSSkey: not read */
};

/* struct pyruntimestate (_PyRuntimeState): the members up to gilstate. */
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
    struct {
        void *mutex;                          /* PyThread_type_lock */
        void *head;                           /* struct _xidregitem * */
    } xidregistry;
    unsigned long main_thread;
    void *exitfuncs[32];                      /* void (*exitfuncs[NEXITFUNCS])(void) */
    int nexitfuncs;
    struct py_ceval_runtime_state_v3_11 ceval;
    struct py_gilstate_runtime_state_v3_11 gilstate;
    /* ... preconfig, open_code_hook, ...: not read */
};

/* struct _is (PyInterpreterState): the members up to modules. */
struct py_interpreter_state_v3_11 {
    struct py_interpreter_state_v3_11 *next;
    struct {
        uint64_t next_unique_id;
        /* The linked list of threads, newest first. */
        struct py_thread_state_v3_11 *head;
        long count;                           /* Used in Modules/_threadmodule.c. */
        size_t stacksize;                     /* Used in Python/thread.c. */
    } threads;
    void *runtime;                            /* struct pyruntimestate * */
    int64_t id;
    int64_t id_refcount;
    int requires_idref;
    void *id_mutex;                           /* PyThread_type_lock */
    int initialized_;                         /* _initialized */
    int finalizing;
    bool static_;                             /* _static */
    struct py_ceval_state_v3_11 ceval;
    struct py_gc_runtime_state_v3_11 gc;
    struct py_object_v3_11 *modules;            /* sys.modules */
    /* ... modules_by_index, sysdict, ...: not read */
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

/* ===== Thread state: the GIL holder and `threading` thread names (threadinfo.c) ===== */

/* PyTypeObject (struct _typeobject, complete): function pointers as void *. */
struct py_type_object_v3_11 {
    struct py_var_object_v3_11 ob_base;        /* PyObject_VAR_HEAD */
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
    struct py_type_object_v3_11 *tp_base;
    struct py_object_v3_11 *tp_dict;
    void *tp_descr_get, *tp_descr_set;
    intptr_t tp_dictoffset;
    void *tp_init, *tp_alloc, *tp_new, *tp_free, *tp_is_gc;
    struct py_object_v3_11 *tp_bases, *tp_mro, *tp_cache, *tp_subclasses, *tp_weaklist;
    void *tp_del;                             /* destructor */
    unsigned int tp_version_tag;              /* Type attribute cache version tag. */
    void *tp_finalize;                        /* destructor */
    void *tp_vectorcall;                      /* vectorcallfunc */
};

/* PyHeapTypeObject (struct _heaptypeobject): the members up to ht_cached_keys. The method
 * suites are embedded structs of function pointers, copied as arrays of that many pointers. */
struct py_heap_type_object_v3_11 {
    struct py_type_object_v3_11 ht_type;
    void *as_async[4];                        /* PyAsyncMethods (am_send since 3.10) */
    void *as_number[36];                      /* PyNumberMethods */
    void *as_mapping[3];                      /* PyMappingMethods */
    void *as_sequence[10];                    /* PySequenceMethods */
    void *as_buffer[2];                       /* PyBufferProcs */
    struct py_object_v3_11 *ht_name, *ht_slots, *ht_qualname;
    void *ht_cached_keys;                     /* struct _dictkeysobject *: shared instance keys */
    /* ... ht_module, ...: not read */
};

/* PyDictObject (complete) */
struct py_dict_object_v3_11 {
    struct py_object_v3_11 ob_base;             /* PyObject_HEAD */
    intptr_t ma_used;                         /* Number of items in the dictionary */
    uint64_t ma_version_tag;                  /* Dictionary version */
    void *ma_keys;                            /* PyDictKeysObject * */
    /* If ma_values is NULL, the table is "combined": keys and values are stored in ma_keys.
       If ma_values is not NULL, the table is split: keys are stored in ma_keys and values are
       stored in ma_values */
    void *ma_values;                          /* PyDictValues *: the values of a split table */
};

/* enum DictKeysKind */
enum {
    DICT_KEYS_GENERAL_V3_11 = 0,
    DICT_KEYS_UNICODE_V3_11 = 1,
    DICT_KEYS_SPLIT_V3_11 = 2,
};

/* struct _dictkeysobject (default build): followed by 1 << dk_log2_index_bytes bytes of
 * indices, then PyDictKeyEntry (GENERAL) or PyDictUnicodeEntry (UNICODE, SPLIT) entries. */
struct py_dict_keys_object_v3_11 {
    intptr_t dk_refcnt;
    uint8_t dk_log2_size;                     /* Size of the hash table (dk_indices) by bits */
    uint8_t dk_log2_index_bytes;              /* Size of the hash table (dk_indices) by bytes */
    uint8_t dk_kind;                          /* Kind of keys */
    uint32_t dk_version;                      /* Version number -- Reset to 0 by any modification */
    intptr_t dk_usable;                       /* Number of usable entries in dk_entries. */
    intptr_t dk_nentries;                     /* Number of used entries in dk_entries. */
    char dk_indices[];                        /* char is required to avoid strict aliasing. */
};

/* PyDictKeyEntry */
struct py_dict_key_entry_v3_11 {
    intptr_t me_hash;
    struct py_object_v3_11 *me_key;
    struct py_object_v3_11 *me_value;           /* only meaningful for combined tables */
};

/* PyDictUnicodeEntry */
struct py_dict_unicode_entry_v3_11 {
    struct py_object_v3_11 *me_key;             /* The key must be Unicode and have hash. */
    struct py_object_v3_11 *me_value;           /* only meaningful for combined tables */
};

/* struct _dictvalues (PyDictValues) */
struct py_dict_values_v3_11 {
    struct py_object_v3_11 *values[1];
};

/* PyModuleObject (Include/internal/pycore_moduleobject.h): the members up to md_dict. */
struct py_module_object_v3_11 {
    struct py_object_v3_11 ob_base;             /* PyObject_HEAD */
    struct py_object_v3_11 *md_dict;
    /* ... md_def, md_state, md_weaklist, md_name: not read */
};

/* struct _longobject (PyLongObject): the sign of ob_size is the sign of the number, its
 * absolute value the number of 30-bit digits (PYLONG_BITS_IN_DIGIT 30 on every 64-bit build). */
struct py_long_object_v3_11 {
    struct py_var_object_v3_11 ob_base;         /* PyObject_VAR_HEAD */
    uint32_t ob_digit[1];                     /* digit */
};

/* Instances of Py_TPFLAGS_MANAGED_DICT types keep their dict pointer 3 words and their values
 * pointer 4 words before the object (_PyObject_ManagedDictPointer, _PyObject_ValuesPointer). */
#define PY_TPFLAGS_MANAGED_DICT_V3_11 (1ul << 4)
#define PY_MANAGED_DICT_BEFORE_V3_11 (3 * sizeof(void *))
#define PY_MANAGED_VALUES_BEFORE_V3_11 (4 * sizeof(void *))
