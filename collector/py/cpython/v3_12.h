/* SPDX-License-Identifier: MIT */
/* cpython/v3_12: the CPython 3.12 structs that the walker reads, as version-suffixed copies. */
#pragma once

/*
 * Provenance: CPython v3.12.1, copied from
 *   Include/object.h                  (PyObject_HEAD, PyObject_VAR_HEAD)
 *   Include/internal/pycore_runtime.h (struct pyruntimestate)
 *   Include/internal/pycore_interp.h  (struct _is)
 *   Include/cpython/pystate.h         (_PyCFrame, _PyErr_StackItem, _PyStackChunk,
 *                                      struct _py_trashcan, struct _ts)
 *   Include/cpython/code.h            (struct PyCodeObject = _PyCode_DEF(1))
 *   Include/internal/pycore_frame.h   (_PyInterpreterFrame, enum _frameowner)
 *   Include/cpython/unicodeobject.h   (PyASCIIObject, PyCompactUnicodeObject)
 *   Include/cpython/bytesobject.h     (PyBytesObject)
 *   Include/cpython/object.h          (PyTypeObject, PyHeapTypeObject)
 *   Include/internal/pycore_interp.h, pycore_ceval_state.h, pycore_gc.h, pycore_gil.h,
 *                                      pycore_import.h (GIL holder, imports.modules),
 *                                      Include/cpython/dictobject.h,
 *                                      Include/internal/pycore_dict.h, pycore_object.h,
 *                                      pycore_moduleobject.h, Include/cpython/longintrepr.h
 *                                      (thread names)
 * Only the members up to the last one we read are copied; a struct that ends early says so.
 * Type mapping: Py_ssize_t and Py_hash_t -> intptr_t; PyObject * -> struct py_object_v3_12 *;
 * other object and function pointers -> void * (same size and alignment on every LP64 ABI);
 * _Py_CODEUNIT -> uint16_t. Release builds only (no Py_TRACE_REFS). tools/gen-offsets.py checks
 * these against the real headers.
 */

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

/* PyObject_HEAD */
struct py_object_v3_12 {
    union {
        intptr_t ob_refcnt;
        uint32_t ob_refcnt_split[2];          /* PY_BIG_ENDIAN-dependent halves, immortal bit */
    } refcnt;                                 /* anonymous in CPython */
    void *ob_type;                            /* PyTypeObject * */
};

/* PyObject_VAR_HEAD */
struct py_var_object_v3_12 {
    struct py_object_v3_12 ob_base;
    intptr_t ob_size;                         /* Number of items in variable part */
};

/* struct pyruntimestate (_PyRuntimeState): only the leading members up to interpreters. The
 * fields down to interpreters are "declared as early as possible to facilitate out-of-process
 * observability tools". */
struct py_runtime_state_v3_12 {
    int initialized_;                         /* _initialized: set to 0 right after allocation */
    int preinitializing;                      /* Is running Py_PreInitialize()? */
    int preinitialized;                       /* Is Python preinitialized? */
    int core_initialized;                     /* Is Python core initialized? */
    int initialized;                          /* Is Python fully initialized? */
    uintptr_t finalizing;                     /* _Py_atomic_address _finalizing */
    struct {
        void *mutex;                          /* PyThread_type_lock */
        /* The linked list of interpreters, newest first. */
        struct py_interpreter_state_v3_12 *head;
        struct py_interpreter_state_v3_12 *main;
        int64_t next_id;
    } interpreters;
    /* ... main_thread, ...: not read */
};

/* PyGC_Head */
struct py_gc_head_v3_12 {
    uintptr_t gc_next_, gc_prev_;             /* _gc_next, _gc_prev */
};

/* struct gc_generation */
struct py_gc_generation_v3_12 {
    struct py_gc_head_v3_12 head;
    int threshold;                            /* collection threshold */
    int count;                                /* count of allocations or collections of younger
                                                 generations */
};

/* struct gc_generation_stats */
struct py_gc_generation_stats_v3_12 {
    intptr_t collections, collected, uncollectable;
};

/* struct _gc_runtime_state (NUM_GENERATIONS 3) */
struct py_gc_runtime_state_v3_12 {
    struct py_object_v3_12 *trash_delete_later;
    int trash_delete_nesting;
    int enabled;
    int debug;
    struct py_gc_generation_v3_12 generations[3]; /* linked lists of container objects */
    struct py_gc_head_v3_12 *generation0;
    struct py_gc_generation_v3_12 permanent_generation;
    struct py_gc_generation_stats_v3_12 generation_stats[3];
    int collecting;                           /* true if we are currently running the collector */
    struct py_object_v3_12 *garbage;            /* list of uncollectable objects */
    struct py_object_v3_12 *callbacks;          /* callbacks invoked around a collection */
    intptr_t long_lived_total;
    intptr_t long_lived_pending;
};

/* struct _pending_calls (NPENDINGCALLS 32) */
struct py_pending_calls_v3_12 {
    int busy;
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
struct py_gil_runtime_state_v3_12 {
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

/* struct _ceval_state (per interpreter) */
struct py_ceval_state_v3_12 {
    int eval_breaker;                         /* _Py_atomic_int */
    int gil_drop_request;                     /* _Py_atomic_int: request for dropping the GIL */
    int recursion_limit;
    struct py_gil_runtime_state_v3_12 *gil;     /* this interpreter's GIL, or the main one's */
    int own_gil;
    int gc_scheduled;                         /* _Py_atomic_int: the GC is ready to be executed */
    struct py_pending_calls_v3_12 pending;
};

/* struct _is (PyInterpreterState): the members up to imports.modules. */
struct py_interpreter_state_v3_12 {
    struct py_interpreter_state_v3_12 *next;

    int64_t id;
    int64_t id_refcount;
    int requires_idref;
    void *id_mutex;                           /* PyThread_type_lock */

    int initialized_;                         /* _initialized: has been initialized */
    int finalizing;

    uint64_t monitoring_version;
    uint64_t last_restart_version;
    struct {
        uint64_t next_unique_id;
        /* The linked list of threads, newest first. */
        struct py_thread_state_v3_12 *head;
        long count;                           /* Used in Modules/_threadmodule.c. */
        size_t stacksize;                     /* Used in Python/thread.c. */
    } threads;

    void *runtime;                            /* struct pyruntimestate * */
    uintptr_t finalizing_;                    /* _Py_atomic_address _finalizing */
    struct py_gc_runtime_state_v3_12 gc;
    struct py_object_v3_12 *sysdict;            /* Dictionary of the sys module */
    struct py_object_v3_12 *builtins;           /* Dictionary of the builtins module */
    struct py_ceval_state_v3_12 ceval;
    struct {                                  /* struct _import_state */
        struct py_object_v3_12 *modules;        /* cached sys.modules dictionary */
        /* ... modules_by_index, ...: not read */
    } imports;
    /* ... _gil, ...: not read */
};

/* _PyCFrame */
struct py_cframe_v3_12 {
    struct py_interpreter_frame_v3_12 *current_frame;
    struct py_cframe_v3_12 *previous;
};

/* _PyErr_StackItem */
struct py_err_stack_item_v3_12 {
    /* The exception currently being handled in this context, if any. */
    struct py_object_v3_12 *exc_value;
    struct py_err_stack_item_v3_12 *previous_item;
};

/* _PyStackChunk (complete) */
struct py_stack_chunk_v3_12 {
    struct py_stack_chunk_v3_12 *previous;
    size_t size;
    size_t top;
    struct py_object_v3_12 *data[1];          /* Variable sized */
};

/* struct _py_trashcan */
struct py_trashcan_v3_12 {
    int delete_nesting;
    struct py_object_v3_12 *delete_later;
};

/* struct _ts (PyThreadState): the members up to datastack_chunk. */
struct py_thread_state_v3_12 {
    /* See Python/ceval.c for comments explaining most fields */
    struct py_thread_state_v3_12 *prev;
    struct py_thread_state_v3_12 *next;
    struct py_interpreter_state_v3_12 *interp;

    struct {
        unsigned int initialized:1;           /* Has been initialized to a safe state. */
        unsigned int bound:1;                 /* Has been bound to an OS thread. */
        unsigned int unbound:1;               /* Has been unbound from its OS thread. */
        unsigned int bound_gilstate:1;        /* Has been bound aa current for the GILState API. */
        unsigned int active:1;                /* Currently in use (maybe holds the GIL). */
        unsigned int finalizing:1;            /* Currently in PyThreadState_Clear(). */
        unsigned int cleared:1;
        unsigned int finalized:1;
        unsigned int :24;
    } status;                                 /* _status */

    int py_recursion_remaining;
    int py_recursion_limit;

    int c_recursion_remaining;
    int recursion_headroom;                   /* Allow 50 more calls to handle any errors. */

    int tracing;
    int what_event;                           /* The event currently being monitored, if any. */

    /* Pointer to current _PyCFrame in the C stack frame of the currently,
     * or most recently, executing _PyEval_EvalFrameDefault. */
    struct py_cframe_v3_12 *cframe;

    void *c_profilefunc;                      /* Py_tracefunc */
    void *c_tracefunc;                        /* Py_tracefunc */
    struct py_object_v3_12 *c_profileobj;
    struct py_object_v3_12 *c_traceobj;

    /* The exception currently being raised */
    struct py_object_v3_12 *current_exception;

    struct py_err_stack_item_v3_12 *exc_info;

    struct py_object_v3_12 *dict;             /* Stores per-thread state */

    int gilstate_counter;

    struct py_object_v3_12 *async_exc;        /* Asynchronous exception to raise */
    unsigned long thread_id;                  /* Thread id where this tstate was created */

    /* Native thread id where this tstate was created. This will be 0 except on
     * those platforms that have the notion of native thread id, for which the
     * macro PY_HAVE_THREAD_NATIVE_ID is then defined.
     */
    unsigned long native_thread_id;

    struct py_trashcan_v3_12 trash;

    void *on_delete;                          /* void (*)(void *) */
    void *on_delete_data;

    int coroutine_origin_tracking_depth;

    struct py_object_v3_12 *async_gen_firstiter;
    struct py_object_v3_12 *async_gen_finalizer;

    struct py_object_v3_12 *context;
    uint64_t context_ver;

    /* Unique thread state id. */
    uint64_t id;

    struct py_stack_chunk_v3_12 *datastack_chunk;
    /* ... datastack_top, datastack_limit, exc_state, root_cframe: not read */
};

/* enum _frameowner */
enum {
    FRAME_OWNED_BY_THREAD_V3_12 = 0,
    FRAME_OWNED_BY_GENERATOR_V3_12 = 1,
    FRAME_OWNED_BY_FRAME_OBJECT_V3_12 = 2,
    FRAME_OWNED_BY_CSTACK_V3_12 = 3,
};

/* _PyInterpreterFrame (complete) */
struct py_interpreter_frame_v3_12 {
    struct py_code_object_v3_12 *f_code;      /* Strong reference */
    struct py_interpreter_frame_v3_12 *previous;
    struct py_object_v3_12 *f_funcobj;        /* Strong reference. Only valid if not on C stack */
    struct py_object_v3_12 *f_globals;        /* Borrowed reference. Only valid if not on C stack */
    struct py_object_v3_12 *f_builtins;       /* Borrowed reference. Only valid if not on C stack */
    struct py_object_v3_12 *f_locals;         /* Strong reference, may be NULL. Only valid if not on
                                                 C stack */
    void *frame_obj;                          /* PyFrameObject *: Strong reference, may be NULL.
                                                 Only valid if not on C stack */
    /* NOTE: This is not necessarily the last instruction started in the given frame. Rather, it
     * is the code unit *prior to* the *next* instruction. For example, it may be an inline CACHE
     * entry, an instruction we just jumped over, or (in the case of a newly-created frame) a
     * totally invalid value. */
    uint16_t *prev_instr;                     /* _Py_CODEUNIT * */
    int stacktop;                             /* Offset of TOS from localsplus  */
    /* The return_offset determines where a `RETURN` should go in the caller, relative to
     * `prev_instr`. It is only meaningful to the callee. */
    uint16_t return_offset;
    char owner;                               /* enum _frameowner */
    /* Locals and stack */
    struct py_object_v3_12 *localsplus[1];
};

/* struct PyCodeObject (_PyCode_DEF(1)), complete */
struct py_code_object_v3_12 {
    struct py_var_object_v3_12 ob_base;       /* PyObject_VAR_HEAD */

    /* The hottest fields (in the eval loop) are grouped here at the top. */
    struct py_object_v3_12 *co_consts;        /* list (constants used) */
    struct py_object_v3_12 *co_names;         /* list of strings (names used) */
    struct py_object_v3_12 *co_exceptiontable; /* Byte string encoding exception handling table */
    int co_flags;                             /* CO_..., see below */

    /* The rest are not so impactful on performance. */
    int co_argcount;                          /* #arguments, except *args */
    int co_posonlyargcount;                   /* #positional only arguments */
    int co_kwonlyargcount;                    /* #keyword only arguments */
    int co_stacksize;                         /* #entries needed for evaluation stack */
    int co_firstlineno;                       /* first source line number */

    /* redundant values (derived from co_localsplusnames and co_localspluskinds) */
    int co_nlocalsplus;                       /* number of local + cell + free variables */
    int co_framesize;                         /* Size of frame in words */
    int co_nlocals;                           /* number of local variables */
    int co_ncellvars;                         /* total number of cell variables */
    int co_nfreevars;                         /* number of free variables */
    uint32_t co_version;                      /* version number */

    struct py_object_v3_12 *co_localsplusnames; /* tuple mapping offsets to names */
    struct py_object_v3_12 *co_localspluskinds; /* Bytes mapping to local kinds */
    struct py_object_v3_12 *co_filename;      /* unicode (where it was loaded from) */
    struct py_object_v3_12 *co_name;          /* unicode (name, for reference) */
    struct py_object_v3_12 *co_qualname;      /* unicode (qualname, for reference) */
    struct py_object_v3_12 *co_linetable;     /* bytes object that holds location info */
    struct py_object_v3_12 *co_weakreflist;   /* to support weakrefs to code objects */
    void *co_cached_;                         /* _PyCoCached *_co_cached */
    uint64_t co_instrumentation_version_;     /* _co_instrumentation_version */
    void *co_monitoring_;                     /* _PyCoMonitoringData *_co_monitoring */
    int co_firsttraceable_;                   /* _co_firsttraceable */
    void *co_extra;                           /* Scratch space for extra data */
    char co_code_adaptive[1];
};

/* PyASCIIObject (complete). 3.12 removed wstr and the ready bit (now statically_allocated). */
struct py_ascii_object_v3_12 {
    struct py_object_v3_12 ob_base;           /* PyObject_HEAD */
    intptr_t length;                          /* Number of code points in the string */
    intptr_t hash;                            /* Hash value; -1 if not set */
    struct {
        unsigned int interned:2;              /* 0 not, 1 interned, 2 +immortal, 3 +static */
        unsigned int kind:3;                  /* PyUnicode_1BYTE/2BYTE/4BYTE_KIND (1, 2, 4) */
        unsigned int compact:1;               /* data follows the struct */
        unsigned int ascii:1;                 /* only ASCII; with compact: PyASCIIObject */
        unsigned int statically_allocated:1;  /* The object is statically allocated. */
        unsigned int :24;                     /* padding to 4 bytes (issue #19537, m68k) */
    } state;
};

/* PyCompactUnicodeObject (complete) */
struct py_compact_unicode_object_v3_12 {
    struct py_ascii_object_v3_12 base;        /* _base */
    intptr_t utf8_length;                     /* Number of bytes in utf8, excluding the \0 */
    char *utf8;                               /* UTF-8 representation (null-terminated) */
};

/* PyBytesObject (complete) */
struct py_bytes_object_v3_12 {
    struct py_var_object_v3_12 ob_base;       /* PyObject_VAR_HEAD */
    intptr_t ob_shash;                        /* Py_DEPRECATED(3.11) */
    char ob_sval[1];
};

/* ===== Thread state: the GIL holder and `threading` thread names (threadinfo.c) ===== */

/* PyTypeObject (struct _typeobject, complete): function pointers as void *. */
struct py_type_object_v3_12 {
    struct py_var_object_v3_12 ob_base;        /* PyObject_VAR_HEAD */
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
    struct py_type_object_v3_12 *tp_base;
    struct py_object_v3_12 *tp_dict;
    void *tp_descr_get, *tp_descr_set;
    intptr_t tp_dictoffset;
    void *tp_init, *tp_alloc, *tp_new, *tp_free, *tp_is_gc;
    struct py_object_v3_12 *tp_bases, *tp_mro, *tp_cache, *tp_subclasses, *tp_weaklist;
    void *tp_del;                             /* destructor */
    unsigned int tp_version_tag;              /* Type attribute cache version tag. */
    void *tp_finalize;                        /* destructor */
    void *tp_vectorcall;                      /* vectorcallfunc */
    unsigned char tp_watched;                 /* bitset of which type-watchers care about this type */
};

/* PyHeapTypeObject (struct _heaptypeobject): the members up to ht_cached_keys. The method
 * suites are embedded structs of function pointers, copied as arrays of that many pointers. */
struct py_heap_type_object_v3_12 {
    struct py_type_object_v3_12 ht_type;
    void *as_async[4];                        /* PyAsyncMethods (am_send since 3.10) */
    void *as_number[36];                      /* PyNumberMethods */
    void *as_mapping[3];                      /* PyMappingMethods */
    void *as_sequence[10];                    /* PySequenceMethods */
    void *as_buffer[2];                       /* PyBufferProcs */
    struct py_object_v3_12 *ht_name, *ht_slots, *ht_qualname;
    void *ht_cached_keys;                     /* struct _dictkeysobject *: shared instance keys */
    /* ... ht_module, ...: not read */
};

/* PyDictObject (complete) */
struct py_dict_object_v3_12 {
    struct py_object_v3_12 ob_base;             /* PyObject_HEAD */
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
    DICT_KEYS_GENERAL_V3_12 = 0,
    DICT_KEYS_UNICODE_V3_12 = 1,
    DICT_KEYS_SPLIT_V3_12 = 2,
};

/* struct _dictkeysobject (default build): followed by 1 << dk_log2_index_bytes bytes of
 * indices, then PyDictKeyEntry (GENERAL) or PyDictUnicodeEntry (UNICODE, SPLIT) entries. */
struct py_dict_keys_object_v3_12 {
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
struct py_dict_key_entry_v3_12 {
    intptr_t me_hash;
    struct py_object_v3_12 *me_key;
    struct py_object_v3_12 *me_value;           /* only meaningful for combined tables */
};

/* PyDictUnicodeEntry */
struct py_dict_unicode_entry_v3_12 {
    struct py_object_v3_12 *me_key;             /* The key must be Unicode and have hash. */
    struct py_object_v3_12 *me_value;           /* only meaningful for combined tables */
};

/* struct _dictvalues (PyDictValues) */
struct py_dict_values_v3_12 {
    struct py_object_v3_12 *values[1];
};

/* PyModuleObject (Include/internal/pycore_moduleobject.h): the members up to md_dict. */
struct py_module_object_v3_12 {
    struct py_object_v3_12 ob_base;             /* PyObject_HEAD */
    struct py_object_v3_12 *md_dict;
    /* ... md_def, md_state, md_weaklist, md_name: not read */
};

/* struct _longobject (PyLongObject) with _PyLongValue inlined: lv_tag holds the number of
 * 30-bit digits << 3 and the sign in its low 2 bits (0 positive, 1 zero, 2 negative). */
struct py_long_object_v3_12 {
    struct py_object_v3_12 ob_base;             /* PyObject_HEAD */
    struct {
        uintptr_t lv_tag;                     /* Number of digits, sign and flags */
        uint32_t ob_digit[1];                 /* digit */
    } long_value;
};

/* Instances of Py_TPFLAGS_MANAGED_DICT types keep a PyDictOrValues 3 words before the object:
 * a dict pointer, or (low bit set) a PyDictValues pointer minus 1 (_PyObject_DictOrValuesPointer,
 * _PyDictOrValues_GetValues). */
#define PY_TPFLAGS_MANAGED_DICT_V3_12 (1ul << 4)
#define PY_MANAGED_DICT_BEFORE_V3_12 (3 * sizeof(void *))
