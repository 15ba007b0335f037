/* SPDX-License-Identifier: MIT */
/* cpython/v3_8: the CPython 3.8 structs that the walker reads, as version-suffixed copies. */
#pragma once

/*
 * Provenance: CPython v3.8.18, copied from
 *   Include/object.h                 (PyObject_HEAD, PyObject_VAR_HEAD)
 *   Include/internal/pycore_pystate.h (struct pyruntimestate, struct _is)
 *   Include/cpython/pystate.h        (struct _ts, _PyErr_StackItem)
 *   Include/frameobject.h            (struct _frame)
 *   Include/code.h                   (PyCodeObject)
 *   Include/cpython/unicodeobject.h  (PyASCIIObject, PyCompactUnicodeObject)
 *   Include/bytesobject.h            (PyBytesObject)
 * Only the members up to the last one we read are copied; a struct that ends early says so.
 * Type mapping: Py_ssize_t and Py_hash_t -> intptr_t; PyObject * -> struct py_object_v3_8 *;
 * other object and function pointers -> void * (same size and alignment on every LP64 ABI).
 * Release builds only (no Py_TRACE_REFS). tools/gen-offsets.py checks these against the real
 * headers.
 */

#include <stdint.h>

/* PyObject_HEAD */
struct py_object_v3_8 {
    intptr_t ob_refcnt;
    void *ob_type;                            /* struct _typeobject * */
};

/* PyObject_VAR_HEAD */
struct py_var_object_v3_8 {
    struct py_object_v3_8 ob_base;
    intptr_t ob_size;                         /* Number of items in variable part */
};

/* struct pyruntimestate (_PyRuntimeState): only the leading members up to interpreters. */
struct py_runtime_state_v3_8 {
    int preinitializing;                      /* Is running Py_PreInitialize()? */
    int preinitialized;                       /* Is Python preinitialized? */
    int core_initialized;                     /* Is Python core initialized? */
    int initialized;                          /* Is Python fully initialized? */
    void *finalizing;                         /* PyThreadState *; set by Py_FinalizeEx() */
    struct {
        void *mutex;                          /* PyThread_type_lock */
        struct py_interpreter_state_v3_8 *head;
        struct py_interpreter_state_v3_8 *main;
        int64_t next_id;
    } interpreters;
    /* ... xidregistry, main_thread, exitfuncs, gilstate, ...: not read */
};

/* struct _is (PyInterpreterState): only the leading members. */
struct py_interpreter_state_v3_8 {
    struct py_interpreter_state_v3_8 *next;
    struct py_thread_state_v3_8 *tstate_head;
    /* ... id, modules, sysdict, ...: not read */
};

/* _PyErr_StackItem */
struct py_err_stack_item_v3_8 {
    struct py_object_v3_8 *exc_type, *exc_value, *exc_traceback;
    struct py_err_stack_item_v3_8 *previous_item;
};

/* struct _ts (PyThreadState): the members up to thread_id. */
struct py_thread_state_v3_8 {
    /* See Python/ceval.c for comments explaining most fields */
    struct py_thread_state_v3_8 *prev;
    struct py_thread_state_v3_8 *next;
    struct py_interpreter_state_v3_8 *interp;

    /* Borrowed reference to the current frame (it can be NULL) */
    struct py_frame_object_v3_8 *frame;
    int recursion_depth;
    char overflowed;                          /* The stack has overflowed. Allow 50 more calls
                                 to handle the runtime error. */
    char recursion_critical;                  /* The current calls must not cause
                                 a stack overflow. */
    int stackcheck_counter;

    int tracing;
    int use_tracing;

    void *c_profilefunc;                      /* Py_tracefunc */
    void *c_tracefunc;                        /* Py_tracefunc */
    struct py_object_v3_8 *c_profileobj;
    struct py_object_v3_8 *c_traceobj;

    /* The exception currently being raised */
    struct py_object_v3_8 *curexc_type;
    struct py_object_v3_8 *curexc_value;
    struct py_object_v3_8 *curexc_traceback;

    struct py_err_stack_item_v3_8 exc_state;
    struct py_err_stack_item_v3_8 *exc_info;

    struct py_object_v3_8 *dict;              /* Stores per-thread state */

    int gilstate_counter;

    struct py_object_v3_8 *async_exc;         /* Asynchronous exception to raise */
    unsigned long thread_id;                  /* Thread id where this tstate was created */
    /* ... trash_delete_nesting, on_delete, context, id: not read */
};

/* struct _frame (PyFrameObject): the members up to f_lasti. */
struct py_frame_object_v3_8 {
    struct py_var_object_v3_8 ob_base;        /* PyObject_VAR_HEAD */
    struct py_frame_object_v3_8 *f_back;      /* previous frame, or NULL */
    struct py_code_object_v3_8 *f_code;       /* code segment */
    struct py_object_v3_8 *f_builtins;        /* builtin symbol table (PyDictObject) */
    struct py_object_v3_8 *f_globals;         /* global symbol table (PyDictObject) */
    struct py_object_v3_8 *f_locals;          /* local symbol table (any mapping) */
    struct py_object_v3_8 **f_valuestack;     /* points after the last local */
    struct py_object_v3_8 **f_stacktop;       /* Next free slot in f_valuestack */
    struct py_object_v3_8 *f_trace;           /* Trace function */
    char f_trace_lines;                       /* Emit per-line trace events? */
    char f_trace_opcodes;                     /* Emit per-opcode trace events? */

    /* Borrowed reference to a generator, or NULL */
    struct py_object_v3_8 *f_gen;

    int f_lasti;                              /* Last instruction if called */
    /* ... f_lineno, f_iblock, f_executing, f_blockstack, f_localsplus: not read */
};

/* PyCodeObject: the members up to co_lnotab. */
struct py_code_object_v3_8 {
    struct py_object_v3_8 ob_base;            /* PyObject_HEAD */
    int co_argcount;                          /* #arguments, except *args */
    int co_posonlyargcount;                   /* #positional only arguments */
    int co_kwonlyargcount;                    /* #keyword only arguments */
    int co_nlocals;                           /* #local variables */
    int co_stacksize;                         /* #entries needed for evaluation stack */
    int co_flags;                             /* CO_..., see below */
    int co_firstlineno;                       /* first source line number */
    struct py_object_v3_8 *co_code;           /* instruction opcodes */
    struct py_object_v3_8 *co_consts;         /* list (constants used) */
    struct py_object_v3_8 *co_names;          /* list of strings (names used) */
    struct py_object_v3_8 *co_varnames;       /* tuple of strings (local variable names) */
    struct py_object_v3_8 *co_freevars;       /* tuple of strings (free variable names) */
    struct py_object_v3_8 *co_cellvars;       /* tuple of strings (cell variable names) */
    intptr_t *co_cell2arg;                    /* Maps cell vars which are arguments. */
    struct py_object_v3_8 *co_filename;       /* unicode (where it was loaded from) */
    struct py_object_v3_8 *co_name;           /* unicode (name, for reference) */
    struct py_object_v3_8 *co_lnotab;         /* string (encoding addr<->lineno mapping) */
    /* ... co_zombieframe, co_weakreflist, co_extra, co_opcache*: not read */
};

/* PyASCIIObject (complete) */
struct py_ascii_object_v3_8 {
    struct py_object_v3_8 ob_base;            /* PyObject_HEAD */
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
struct py_compact_unicode_object_v3_8 {
    struct py_ascii_object_v3_8 base;         /* _base */
    intptr_t utf8_length;                     /* Number of bytes in utf8, excluding the \0 */
    char *utf8;                               /* UTF-8 representation (null-terminated) */
    intptr_t wstr_length;                     /* Number of code points in wstr */
};

/* PyBytesObject (complete) */
struct py_bytes_object_v3_8 {
    struct py_var_object_v3_8 ob_base;        /* PyObject_VAR_HEAD */
    intptr_t ob_shash;
    char ob_sval[1];
};
