/* SPDX-License-Identifier: MIT */
/* cpython/v3_13: CPython 3.13's _Py_DebugOffsets, and the layout facts it does not carry. */
#pragma once

/*
 * Provenance: CPython v3.13.0, copied from
 *   Include/internal/pycore_runtime.h (struct _Py_DebugOffsets, _Py_Debug_Cookie)
 *   Include/object.h                  (PyObject_HEAD, PyObject_VAR_HEAD)
 *   Include/cpython/pystate.h         (_PyStackChunk)
 *   Include/internal/pycore_frame.h   (enum _frameowner)
 *   Include/cpython/unicodeobject.h   (PyASCIIObject, PyCompactUnicodeObject)
 *   Include/cpython/bytesobject.h     (PyBytesObject)
 *   Include/cpython/object.h          (PyTypeObject, PyHeapTypeObject)
 *   Include/internal/pycore_dict.h    (struct _dictkeysobject, PyDictValues: thread names)
 *   Include/internal/pycore_object.h  (MANAGED_DICT_OFFSET, _PyObject_InlineValues)
 *   Include/internal/pycore_moduleobject.h (PyModuleObject)
 * The 3.13 walker takes every offset that _Py_DebugOffsets has from the target itself
 * (debugoffsets.c); the structs below are only for what it lacks. Type mapping: Py_ssize_t and
 * Py_hash_t -> intptr_t; PyObject * -> struct py_object_v3_13 *. Default (GIL) build only:
 * free-threaded builds (3.13t) have a different object header and are refused.
 * tools/gen-offsets.py checks these against the real headers.
 */

#include <stddef.h>
#include <stdint.h>

/* _Py_Debug_Cookie: the first 8 bytes of _PyRuntime (no NUL) */
#define PY_DEBUG_COOKIE_V3_13 "xdebugpy"

/*
 * struct _Py_DebugOffsets: the first member of _PyRuntimeState, so it sits at &_PyRuntime. Every
 * member after the cookie is a uint64_t: a struct size, or a member's offset in that struct.
 */
struct py_debug_offsets_v3_13 {
    char cookie[8];
    uint64_t version;                         /* PY_VERSION_HEX */
    uint64_t free_threaded;
    /* Runtime state offset; */
    struct {
        uint64_t size;
        uint64_t finalizing;
        uint64_t interpreters_head;
    } runtime_state;

    /* Interpreter state offset; */
    struct {
        uint64_t size;
        uint64_t id;
        uint64_t next;
        uint64_t threads_head;
        uint64_t gc;
        uint64_t imports_modules;
        uint64_t sysdict;
        uint64_t builtins;
        uint64_t ceval_gil;
        uint64_t gil_runtime_state;
        uint64_t gil_runtime_state_enabled;   /* in struct _gil_runtime_state; 0 unless
                                                 free-threaded */
        uint64_t gil_runtime_state_locked;
        uint64_t gil_runtime_state_holder;
    } interpreter_state;

    /* Thread state offset; */
    struct {
        uint64_t size;
        uint64_t prev;
        uint64_t next;
        uint64_t interp;
        uint64_t current_frame;
        uint64_t thread_id;
        uint64_t native_thread_id;
        uint64_t datastack_chunk;
        uint64_t status;
    } thread_state;

    /* InterpreterFrame offset; */
    struct {
        uint64_t size;
        uint64_t previous;
        uint64_t executable;
        uint64_t instr_ptr;
        uint64_t localsplus;
        uint64_t owner;
    } interpreter_frame;

    /* Code object offset; */
    struct {
        uint64_t size;
        uint64_t filename;
        uint64_t name;
        uint64_t qualname;
        uint64_t linetable;
        uint64_t firstlineno;
        uint64_t argcount;
        uint64_t localsplusnames;
        uint64_t localspluskinds;
        uint64_t co_code_adaptive;
    } code_object;

    /* PyObject offset; */
    struct {
        uint64_t size;
        uint64_t ob_type;
    } pyobject;

    /* PyTypeObject object offset; */
    struct {
        uint64_t size;
        uint64_t tp_name;
        uint64_t tp_repr;
        uint64_t tp_flags;
    } type_object;

    /* PyTuple object offset; */
    struct {
        uint64_t size;
        uint64_t ob_item;
        uint64_t ob_size;
    } tuple_object;

    /* PyList object offset; */
    struct {
        uint64_t size;
        uint64_t ob_item;
        uint64_t ob_size;
    } list_object;

    /* PyDict object offset; */
    struct {
        uint64_t size;
        uint64_t ma_keys;
        uint64_t ma_values;
    } dict_object;

    /* PyFloat object offset; */
    struct {
        uint64_t size;
        uint64_t ob_fval;
    } float_object;

    /* PyLong object offset; */
    struct {
        uint64_t size;
        uint64_t lv_tag;
        uint64_t ob_digit;
    } long_object;

    /* PyBytes object offset; */
    struct {
        uint64_t size;
        uint64_t ob_size;
        uint64_t ob_sval;
    } bytes_object;

    /* Unicode object offset; */
    struct {
        uint64_t size;
        uint64_t state;
        uint64_t length;
        uint64_t asciiobject_size;            /* a size, not an offset */
    } unicode_object;

    /* GC runtime state offset; */
    struct {
        uint64_t size;
        uint64_t collecting;
    } gc;
};

/* PyObject_HEAD (default build) */
struct py_object_v3_13 {
    union {
        intptr_t ob_refcnt;
        uint32_t ob_refcnt_split[2];
    } refcnt;                                 /* anonymous in CPython */
    void *ob_type;                            /* PyTypeObject * */
};

/* PyObject_VAR_HEAD */
struct py_var_object_v3_13 {
    struct py_object_v3_13 ob_base;
    intptr_t ob_size;                         /* Number of items in variable part */
};

/* _PyStackChunk (complete): not described by _Py_DebugOffsets. */
struct py_stack_chunk_v3_13 {
    struct py_stack_chunk_v3_13 *previous;
    size_t size;
    size_t top;
    struct py_object_v3_13 *data[1];          /* Variable sized */
};

/* enum _frameowner: the values are not in _Py_DebugOffsets. */
enum {
    FRAME_OWNED_BY_THREAD_V3_13 = 0,
    FRAME_OWNED_BY_GENERATOR_V3_13 = 1,
    FRAME_OWNED_BY_FRAME_OBJECT_V3_13 = 2,
    FRAME_OWNED_BY_CSTACK_V3_13 = 3,
};

/* PyASCIIObject (complete): the state bits are not in _Py_DebugOffsets. */
struct py_ascii_object_v3_13 {
    struct py_object_v3_13 ob_base;           /* PyObject_HEAD */
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

/* PyCompactUnicodeObject (complete): its size is not in _Py_DebugOffsets. */
struct py_compact_unicode_object_v3_13 {
    struct py_ascii_object_v3_13 base;        /* _base */
    intptr_t utf8_length;                     /* Number of bytes in utf8, excluding the \0 */
    char *utf8;                               /* UTF-8 representation (null-terminated) */
};

/* PyBytesObject (complete): cross-checks bytes_object from _Py_DebugOffsets. */
struct py_bytes_object_v3_13 {
    struct py_var_object_v3_13 ob_base;       /* PyObject_VAR_HEAD */
    intptr_t ob_shash;                        /* Py_DEPRECATED(3.11) */
    char ob_sval[1];
};

/* ===== Thread state: the GIL holder and `threading` thread names (threadinfo.c) ===== */

/* The GIL holder, the interpreter's sys.modules, tp_name, tp_flags, ma_keys, ma_values and the
 * PyLongObject layout come from _Py_DebugOffsets; the rest from the copies below. */

/* PyTypeObject (struct _typeobject, complete): function pointers as void *. */
struct py_type_object_v3_13 {
    struct py_var_object_v3_13 ob_base;        /* PyObject_VAR_HEAD */
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
    struct py_type_object_v3_13 *tp_base;
    struct py_object_v3_13 *tp_dict;
    void *tp_descr_get, *tp_descr_set;
    intptr_t tp_dictoffset;
    void *tp_init, *tp_alloc, *tp_new, *tp_free, *tp_is_gc;
    struct py_object_v3_13 *tp_bases, *tp_mro, *tp_cache, *tp_subclasses, *tp_weaklist;
    void *tp_del;                             /* destructor */
    unsigned int tp_version_tag;              /* Type attribute cache version tag. */
    void *tp_finalize;                        /* destructor */
    void *tp_vectorcall;                      /* vectorcallfunc */
    unsigned char tp_watched;                 /* bitset of which type-watchers care about this type */
    uint16_t tp_versions_used;
};

/* PyHeapTypeObject (struct _heaptypeobject): the members up to ht_cached_keys. The method
 * suites are embedded structs of function pointers, copied as arrays of that many pointers. */
struct py_heap_type_object_v3_13 {
    struct py_type_object_v3_13 ht_type;
    void *as_async[4];                        /* PyAsyncMethods (am_send since 3.10) */
    void *as_number[36];                      /* PyNumberMethods */
    void *as_mapping[3];                      /* PyMappingMethods */
    void *as_sequence[10];                    /* PySequenceMethods */
    void *as_buffer[2];                       /* PyBufferProcs */
    struct py_object_v3_13 *ht_name, *ht_slots, *ht_qualname;
    void *ht_cached_keys;                     /* struct _dictkeysobject *: shared instance keys */
    /* ... ht_module, ...: not read */
};

/* enum DictKeysKind */
enum {
    DICT_KEYS_GENERAL_V3_13 = 0,
    DICT_KEYS_UNICODE_V3_13 = 1,
    DICT_KEYS_SPLIT_V3_13 = 2,
};

/* struct _dictkeysobject (default build): followed by 1 << dk_log2_index_bytes bytes of
 * indices, then PyDictKeyEntry (GENERAL) or PyDictUnicodeEntry (UNICODE, SPLIT) entries. */
struct py_dict_keys_object_v3_13 {
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
struct py_dict_key_entry_v3_13 {
    intptr_t me_hash;
    struct py_object_v3_13 *me_key;
    struct py_object_v3_13 *me_value;           /* only meaningful for combined tables */
};

/* PyDictUnicodeEntry */
struct py_dict_unicode_entry_v3_13 {
    struct py_object_v3_13 *me_key;             /* The key must be Unicode and have hash. */
    struct py_object_v3_13 *me_value;           /* only meaningful for combined tables */
};

/* struct _dictvalues (PyDictValues) */
struct py_dict_values_v3_13 {
    uint8_t capacity;
    uint8_t size;
    uint8_t embedded;
    uint8_t valid;
    struct py_object_v3_13 *values[1];
};

/* PyModuleObject (Include/internal/pycore_moduleobject.h): the members up to md_dict. */
struct py_module_object_v3_13 {
    struct py_object_v3_13 ob_base;             /* PyObject_HEAD */
    struct py_object_v3_13 *md_dict;
    /* ... md_def, md_state, md_weaklist, md_name: not read */
};

/* Instances of Py_TPFLAGS_MANAGED_DICT types keep their dict pointer 3 words before the object
 * (MANAGED_DICT_OFFSET, default build); Py_TPFLAGS_INLINE_VALUES types keep their values inline
 * right after the object (_PyObject_InlineValues: tp_basicsize bytes in). */
#define PY_TPFLAGS_INLINE_VALUES_V3_13 (1ul << 2)
#define PY_TPFLAGS_MANAGED_DICT_V3_13 (1ul << 4)
#define PY_MANAGED_DICT_BEFORE_V3_13 (3 * sizeof(void *))
