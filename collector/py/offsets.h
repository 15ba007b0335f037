/* SPDX-License-Identifier: MIT */
/* offsets: where the fields the walker reads sit, per CPython minor version. */
#pragma once

#include <stdint.h>

/*
 * How the pieces fit:
 *   - 3.8 .. 3.12: py/cpython/v3_X.h hold copies of only the CPython structs we read, one
 *     version-suffixed type per layout; offsets.c turns them into one `struct py_offsets` per minor
 *     with offsetof/sizeof.
 *   - 3.13+: debugoffsets.c fills the same struct from the target's own _Py_DebugOffsets, after
 *     checking every size and offset; the enum-like facts that _Py_DebugOffsets does not carry
 *     (owner values, line-table format, lasti convention) come from a built-in table.
 * The walker reads fields only through this struct, never through #if on the version. An unknown
 * or unsupported minor is an error (OFFSETS_E_UNSUPPORTED), never a fallback to a nearby version.
 */

enum py_frame_model {
    PY_FRAMES_HEAP = 1,    /* <= 3.10: PyFrameObject linked by f_back, read one by one */
    PY_FRAMES_CHUNKED,     /* >= 3.11: _PyInterpreterFrame inside per-thread datastack chunks */
};

enum py_lasti_model {
    PY_LASTI_BYTES = 1,    /* <= 3.9: int f_lasti is a byte offset into co_code */
    PY_LASTI_UNITS,        /* 3.10: int f_lasti is an index in 2-byte code units */
    PY_LASTI_PREV_INSTR,   /* 3.11, 3.12: pointer to the current instruction in co_code_adaptive */
    PY_LASTI_INSTR_PTR,    /* 3.13+: instr_ptr, pointer into co_code_adaptive */
};

enum py_linetable_model {
    PY_LINES_LNOTAB = 1,   /* <= 3.9: co_lnotab */
    PY_LINES_PEP626,       /* 3.10: co_linetable */
    PY_LINES_PEP657,       /* 3.11+: co_linetable location table */
};

/* How an instance finds its attribute dict (threadinfo.c reads Thread._name through it). */
enum py_instdict_model {
    PY_INSTDICT_OFFSET = 1, /* <= 3.10: a dict pointer at obj + tp_dictoffset */
    PY_INSTDICT_MANAGED,    /* 3.11 Py_TPFLAGS_MANAGED_DICT: dict pointer obj_managed_dict bytes
                               before the object, values pointer obj_managed_values before it */
    PY_INSTDICT_TAGGED,     /* 3.12 Py_TPFLAGS_MANAGED_DICT: one word obj_managed_dict bytes before
                               the object, a dict pointer or (low bit set) values pointer - 1 */
    PY_INSTDICT_INLINE,     /* 3.13+: dict pointer obj_managed_dict bytes before the object; if
                               NULL and Py_TPFLAGS_INLINE_VALUES, values at obj + tp_basicsize */
};

/* How an int stores its size and sign. Digits are 30 bits in a uint32_t in every version. */
enum py_long_model {
    PY_LONG_OB_SIZE = 1,    /* <= 3.11: ob_size, negative for negative numbers, = number of digits */
    PY_LONG_LV_TAG,         /* 3.12+: lv_tag = digits << 3 | sign (0 positive, 1 zero, 2 negative) */
};

#define PY_NO_FIELD UINT32_MAX /* a field that this version does not have */

struct py_offsets {
    unsigned major, minor;
    enum py_frame_model frames;
    enum py_lasti_model lasti;
    enum py_linetable_model lines;

    /* _PyRuntimeState */
    uint32_t runtime_interpreters_head;  /* interpreters.head (PyInterpreterState *) */

    /* PyInterpreterState */
    uint32_t interp_next;
    uint32_t interp_threads_head;        /* tstate_head (<= 3.10) or threads.head */

    /* PyThreadState: read as one slice of tstate_read_size bytes from its start */
    uint32_t tstate_read_size;           /* max(offset + field size) over the fields below */
    uint32_t tstate_next;
    uint32_t tstate_interp;
    uint32_t tstate_frame;               /* frame (<= 3.10), cframe (3.11, 3.12), current_frame */
    uint32_t tstate_thread_id;           /* pthread_t */
    uint32_t tstate_native_thread_id;    /* PY_NO_FIELD before 3.11 */
    uint32_t tstate_datastack_chunk;     /* PY_NO_FIELD before 3.11 */

    /* _PyCFrame (3.11, 3.12 only; PY_NO_FIELD otherwise) */
    uint32_t cframe_current_frame;

    /* PyFrameObject (heap) or _PyInterpreterFrame (chunked) */
    uint32_t frame_read_size;            /* max(offset + field size) over the fields below */
    uint32_t frame_previous;             /* f_back or previous */
    uint32_t frame_code;                 /* f_code or f_executable */
    uint32_t frame_lasti;                /* f_lasti (int), prev_instr or instr_ptr (pointer) */
    uint32_t frame_owner;                /* char owner (3.12+); PY_NO_FIELD otherwise */
    uint32_t frame_is_entry;             /* bool is_entry (3.11 only: marks the first frame of a
                                            _PyEval_EvalFrameDefault call); PY_NO_FIELD otherwise */
    uint8_t owner_cstack;                /* FRAME_OWNED_BY_CSTACK (3 in 3.12/3.13); UINT8_MAX where
                                            frame_owner is PY_NO_FIELD */

    /* _PyStackChunk (3.11+) */
    uint32_t chunk_previous, chunk_size, chunk_data;

    /* PyCodeObject: read as one slice of code_read_size bytes */
    uint32_t code_read_size;             /* max(offset + field size) over the fields below, but
                                            code_adaptive, which is only used in arithmetic */
    uint32_t code_filename, code_name;
    uint32_t code_qualname;              /* PY_NO_FIELD before 3.11 */
    uint32_t code_firstlineno;           /* int */
    uint32_t code_linetable;             /* co_lnotab (<= 3.9) or co_linetable: a bytes object */
    uint32_t code_adaptive;              /* offset of co_code_adaptive (3.11+), else PY_NO_FIELD */

    /*
     * str: PyASCIIObject / PyCompactUnicodeObject. The state word is a bit-field in an unsigned
     * int; gcc and clang on little-endian ABIs allocate from bit 0 up, so (3.8 .. 3.13):
     *   bits 0-1  interned (3.8-3.11: not/mortal/immortal; 3.12+: not/interned/immortal/static)
     *   bits 2-4  kind     (1, 2 or 4 bytes a char; 0 = PyUnicode_WCHAR_KIND, <= 3.11 only)
     *   bit  5    compact  (the characters follow the struct)
     *   bit  6    ascii    (compact + ascii: data at unicode_ascii_size, else unicode_compact_size)
     *   bit  7    ready (<= 3.11) / statically_allocated (3.12+); bits 8-31 padding
     * The interned width stayed 2 bits through 3.13 (3.12 only gave value 3 a meaning). Read the
     * bits through the shifts below, never with constants: kind = (state >> kind_shift) & 7,
     * compact = (state >> compact_shift) & 1, ascii = (state >> ascii_shift) & 1.
     */
    uint32_t unicode_length;             /* Py_ssize_t length */
    uint32_t unicode_state;              /* the state bit-field word (uint32) */
    uint32_t unicode_ascii_size;         /* sizeof(PyASCIIObject): data of compact ASCII strings */
    uint32_t unicode_compact_size;       /* sizeof(PyCompactUnicodeObject): other compact data */
    uint8_t unicode_kind_shift;          /* lowest bit of the 3-bit kind field */
    uint8_t unicode_compact_shift;       /* the compact bit */
    uint8_t unicode_ascii_shift;         /* the ascii bit */

    /* bytes */
    uint32_t bytes_size;                 /* ob_size */
    uint32_t bytes_sval;                 /* ob_sval */

    /* The GIL holder (threadinfo.c): one GIL per runtime up to 3.11, per interpreter from 3.12 */
    uint32_t runtime_tstate_current;     /* gilstate.tstate_current (<= 3.11; NULL while no thread
                                            holds the GIL); PY_NO_FIELD from 3.12 */
    uint32_t interp_ceval_gil;           /* ceval.gil, struct _gil_runtime_state * (3.12+) */
    uint32_t gil_locked;                 /* int locked in struct _gil_runtime_state (3.12+) */
    uint32_t gil_last_holder;            /* PyThreadState *last_holder in it (3.12+) */

    /*
     * Thread names (threadinfo.c): sys.modules['threading']._active[ident]._name. Dicts: with
     * dictkeys_kind PY_NO_FIELD (<= 3.10) the keys object holds dk_size indices of
     * 1/2/4/8 bytes by dk_size, then {hash, key, value} entries; from 3.11 it holds
     * 1 << dk_log2_index_bytes bytes of indices, then {key, value} entries if dk_kind is not 0
     * (DICT_KEYS_GENERAL), else {hash, key, value}. Split tables keep the values apart.
     */
    enum py_instdict_model instdicts;
    enum py_long_model longs;
    uint32_t interp_modules;             /* modules (<= 3.11) or imports.modules: sys.modules */
    uint32_t object_type;                /* ob_type */
    uint32_t type_name;                  /* tp_name (const char *) */
    uint32_t type_basicsize;             /* tp_basicsize */
    uint32_t type_flags;                 /* tp_flags (unsigned long) */
    uint32_t type_dictoffset;            /* tp_dictoffset (Py_ssize_t) */
    uint32_t type_cached_keys;           /* PyHeapTypeObject.ht_cached_keys */
    uint32_t tpflags_managed_dict;       /* Py_TPFLAGS_MANAGED_DICT (3.11+), 0 before */
    uint32_t tpflags_inline_values;      /* Py_TPFLAGS_INLINE_VALUES (3.13+), 0 before */
    uint32_t obj_managed_dict;           /* bytes before an object of its managed dict word
                                            (3.11+); PY_NO_FIELD before */
    uint32_t obj_managed_values;         /* bytes before an object of its values pointer (3.11
                                            only); PY_NO_FIELD otherwise */
    uint32_t module_dict;                /* md_dict */
    uint32_t dict_keys;                  /* ma_keys */
    uint32_t dict_values;                /* ma_values */
    uint32_t dictkeys_size;              /* Py_ssize_t dk_size (<= 3.10), uint8_t dk_log2_size */
    uint32_t dictkeys_index_bytes;       /* uint8_t dk_log2_index_bytes (3.11+) */
    uint32_t dictkeys_kind;              /* uint8_t dk_kind (3.11+) */
    uint32_t dictkeys_nentries;          /* dk_nentries */
    uint32_t dictkeys_indices;           /* dk_indices */
    uint32_t dictvalues_valid;           /* uint8_t valid of PyDictValues (3.13+) */
    uint32_t dictvalues_values;          /* values[] of PyDictValues (<= 3.10: ma_values is the
                                            PyObject ** array itself, 0) */
    uint32_t long_size;                  /* ob_size (<= 3.11) or lv_tag */
    uint32_t long_digits;                /* ob_digit */
};

enum {
    OFFSETS_E_NONE = 0,
    OFFSETS_E_UNSUPPORTED, /* no table for this minor version */
    OFFSETS_E_BAD,         /* _Py_DebugOffsets failed a sanity check */
};

/*
 * offsets_for_version() - the built-in table for CPython @major.@minor (3.8 .. 3.12).
 * Returns 0 and sets *out to a static table, or OFFSETS_E_UNSUPPORTED (3.13+ needs
 * debugoffsets_parse(); anything else is not supported).
 */
int offsets_for_version(unsigned major, unsigned minor, const struct py_offsets **out);
