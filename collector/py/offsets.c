/* SPDX-License-Identifier: MIT */
/* offsets: where the fields the walker reads sit, per CPython minor version. */
#include <stddef.h>

#include "py/cpython/v3_10.h"
#include "py/cpython/v3_11.h"
#include "py/cpython/v3_12.h"
#include "py/cpython/v3_8.h"
#include "py/cpython/v3_9.h"
#include "py/offsets.h"

/* Offset of @member in @type, and the offset just past it. */
#define OFF(type, member) ((uint32_t)offsetof(struct type, member))
#define END(type, member) (OFF(type, member) + (uint32_t)sizeof(((struct type *)0)->member))
#define MAX2(a, b)        ((a) > (b) ? (a) : (b))
#define MAX3(a, b, c)     MAX2(MAX2(a, b), c)
#define MAX4(a, b, c, d)  MAX2(MAX3(a, b, c), d)

/*
 * Bits of the PyASCIIObject state word (see offsets.h): the same in every version here. They
 * cannot be taken with offsetof; tools/gen-offsets.py checks them against the real headers.
 */
#define UNICODE_BITS .unicode_kind_shift = 2, .unicode_compact_shift = 5, .unicode_ascii_shift = 6

/* Fields that 3.8, 3.9 and 3.10 lay out alike, from the v3_X copies with suffix @v. */
#define HEAP_FRAMES(v)                                                                             \
    .frames = PY_FRAMES_HEAP,                                                                      \
    .runtime_interpreters_head = OFF(py_runtime_state_##v, interpreters.head),                     \
    .interp_next = OFF(py_interpreter_state_##v, next),                                            \
    .interp_threads_head = OFF(py_interpreter_state_##v, tstate_head),                             \
    .tstate_read_size = MAX4(END(py_thread_state_##v, next), END(py_thread_state_##v, interp),     \
                             END(py_thread_state_##v, frame),                                      \
                             END(py_thread_state_##v, thread_id)),                                 \
    .tstate_next = OFF(py_thread_state_##v, next),                                                 \
    .tstate_interp = OFF(py_thread_state_##v, interp),                                             \
    .tstate_frame = OFF(py_thread_state_##v, frame),                                               \
    .tstate_thread_id = OFF(py_thread_state_##v, thread_id),                                       \
    .tstate_native_thread_id = PY_NO_FIELD,                                                        \
    .tstate_datastack_chunk = PY_NO_FIELD,                                                         \
    .cframe_current_frame = PY_NO_FIELD,                                                           \
    .frame_read_size = MAX3(END(py_frame_object_##v, f_back), END(py_frame_object_##v, f_code),    \
                            END(py_frame_object_##v, f_lasti)),                                    \
    .frame_previous = OFF(py_frame_object_##v, f_back),                                            \
    .frame_code = OFF(py_frame_object_##v, f_code),                                                \
    .frame_lasti = OFF(py_frame_object_##v, f_lasti),                                              \
    .frame_owner = PY_NO_FIELD,                                                                    \
    .frame_is_entry = PY_NO_FIELD,                                                                 \
    .owner_cstack = UINT8_MAX,                                                                     \
    .chunk_previous = PY_NO_FIELD,                                                                 \
    .chunk_size = PY_NO_FIELD,                                                                     \
    .chunk_data = PY_NO_FIELD,                                                                     \
    .code_filename = OFF(py_code_object_##v, co_filename),                                         \
    .code_name = OFF(py_code_object_##v, co_name),                                                 \
    .code_qualname = PY_NO_FIELD,                                                                  \
    .code_firstlineno = OFF(py_code_object_##v, co_firstlineno),                                   \
    .code_adaptive = PY_NO_FIELD,                                                                  \
    .unicode_length = OFF(py_ascii_object_##v, length),                                            \
    .unicode_state = OFF(py_ascii_object_##v, state),                                              \
    .unicode_ascii_size = sizeof(struct py_ascii_object_##v),                                      \
    .unicode_compact_size = sizeof(struct py_compact_unicode_object_##v),                          \
    UNICODE_BITS,                                                                                  \
    .bytes_size = OFF(py_bytes_object_##v, ob_base.ob_size),                                       \
    .bytes_sval = OFF(py_bytes_object_##v, ob_sval)

/* Fields that 3.11 and 3.12 lay out alike (frames in chunks, reached through a _PyCFrame). */
#define CHUNKED_FRAMES(v)                                                                          \
    .frames = PY_FRAMES_CHUNKED,                                                                   \
    .lasti = PY_LASTI_PREV_INSTR,                                                                  \
    .lines = PY_LINES_PEP657,                                                                      \
    .runtime_interpreters_head = OFF(py_runtime_state_##v, interpreters.head),                     \
    .interp_next = OFF(py_interpreter_state_##v, next),                                            \
    .interp_threads_head = OFF(py_interpreter_state_##v, threads.head),                            \
    .tstate_read_size = MAX3(MAX3(END(py_thread_state_##v, next),                                  \
                                  END(py_thread_state_##v, interp),                                \
                                  END(py_thread_state_##v, cframe)),                               \
                             MAX2(END(py_thread_state_##v, thread_id),                             \
                                  END(py_thread_state_##v, native_thread_id)),                     \
                             END(py_thread_state_##v, datastack_chunk)),                           \
    .tstate_next = OFF(py_thread_state_##v, next),                                                 \
    .tstate_interp = OFF(py_thread_state_##v, interp),                                             \
    .tstate_frame = OFF(py_thread_state_##v, cframe),                                              \
    .tstate_thread_id = OFF(py_thread_state_##v, thread_id),                                       \
    .tstate_native_thread_id = OFF(py_thread_state_##v, native_thread_id),                         \
    .tstate_datastack_chunk = OFF(py_thread_state_##v, datastack_chunk),                           \
    .cframe_current_frame = OFF(py_cframe_##v, current_frame),                                     \
    .frame_previous = OFF(py_interpreter_frame_##v, previous),                                     \
    .frame_code = OFF(py_interpreter_frame_##v, f_code),                                           \
    .frame_lasti = OFF(py_interpreter_frame_##v, prev_instr),                                      \
    .chunk_previous = OFF(py_stack_chunk_##v, previous),                                           \
    .chunk_size = OFF(py_stack_chunk_##v, size),                                                   \
    .chunk_data = OFF(py_stack_chunk_##v, data),                                                   \
    .code_read_size = MAX3(MAX3(END(py_code_object_##v, co_filename),                              \
                                END(py_code_object_##v, co_name),                                  \
                                END(py_code_object_##v, co_qualname)),                             \
                           END(py_code_object_##v, co_firstlineno),                                \
                           END(py_code_object_##v, co_linetable)),                                 \
    .code_filename = OFF(py_code_object_##v, co_filename),                                         \
    .code_name = OFF(py_code_object_##v, co_name),                                                 \
    .code_qualname = OFF(py_code_object_##v, co_qualname),                                         \
    .code_firstlineno = OFF(py_code_object_##v, co_firstlineno),                                   \
    .code_linetable = OFF(py_code_object_##v, co_linetable),                                       \
    .code_adaptive = OFF(py_code_object_##v, co_code_adaptive),                                    \
    .unicode_length = OFF(py_ascii_object_##v, length),                                            \
    .unicode_state = OFF(py_ascii_object_##v, state),                                              \
    .unicode_ascii_size = sizeof(struct py_ascii_object_##v),                                      \
    .unicode_compact_size = sizeof(struct py_compact_unicode_object_##v),                          \
    UNICODE_BITS,                                                                                  \
    .bytes_size = OFF(py_bytes_object_##v, ob_base.ob_size),                                       \
    .bytes_sval = OFF(py_bytes_object_##v, ob_sval)

/* Thread state and names (threadinfo.c): fields that every version up to 3.12 has. */
#define THREADINFO_COMMON(v)                                                                       \
    .object_type = OFF(py_object_##v, ob_type),                                                    \
    .type_name = OFF(py_type_object_##v, tp_name),                                                 \
    .type_basicsize = OFF(py_type_object_##v, tp_basicsize),                                       \
    .type_flags = OFF(py_type_object_##v, tp_flags),                                               \
    .type_dictoffset = OFF(py_type_object_##v, tp_dictoffset),                                     \
    .type_cached_keys = OFF(py_heap_type_object_##v, ht_cached_keys),                              \
    .module_dict = OFF(py_module_object_##v, md_dict),                                             \
    .dict_keys = OFF(py_dict_object_##v, ma_keys),                                                 \
    .dict_values = OFF(py_dict_object_##v, ma_values),                                             \
    .dictkeys_nentries = OFF(py_dict_keys_object_##v, dk_nentries),                                \
    .dictkeys_indices = OFF(py_dict_keys_object_##v, dk_indices),                                  \
    .dictvalues_valid = PY_NO_FIELD,                                                               \
    .tpflags_inline_values = 0

/* <= 3.11: one GIL per runtime; the current thread state is NULL while nobody holds it. */
#define GIL_PER_RUNTIME(v)                                                                         \
    .runtime_tstate_current = OFF(py_runtime_state_##v, gilstate.tstate_current),                  \
    .interp_ceval_gil = PY_NO_FIELD,                                                               \
    .gil_locked = PY_NO_FIELD,                                                                     \
    .gil_last_holder = PY_NO_FIELD

/* <= 3.10: dicts with dk_size and a tp_dictoffset instance dict; ints with a signed ob_size. */
#define THREADINFO_OLD(v)                                                                          \
    THREADINFO_COMMON(v),                                                                          \
    GIL_PER_RUNTIME(v),                                                                            \
    .interp_modules = OFF(py_interpreter_state_##v, modules),                                      \
    .instdicts = PY_INSTDICT_OFFSET,                                                               \
    .longs = PY_LONG_OB_SIZE,                                                                      \
    .tpflags_managed_dict = 0,                                                                     \
    .obj_managed_dict = PY_NO_FIELD,                                                               \
    .obj_managed_values = PY_NO_FIELD,                                                             \
    .dictkeys_size = OFF(py_dict_keys_object_##v, dk_size),                                        \
    .dictkeys_index_bytes = PY_NO_FIELD,                                                           \
    .dictkeys_kind = PY_NO_FIELD,                                                                  \
    .dictvalues_values = 0,                                                                        \
    .long_size = OFF(py_long_object_##v, ob_base.ob_size),                                         \
    .long_digits = OFF(py_long_object_##v, ob_digit)

/* 3.11, 3.12: dicts with log2 sizes and a key kind; values in a separate PyDictValues. */
#define THREADINFO_NEW_DICTS(v)                                                                    \
    THREADINFO_COMMON(v),                                                                          \
    .dictkeys_size = OFF(py_dict_keys_object_##v, dk_log2_size),                                   \
    .dictkeys_index_bytes = OFF(py_dict_keys_object_##v, dk_log2_index_bytes),                     \
    .dictkeys_kind = OFF(py_dict_keys_object_##v, dk_kind),                                        \
    .dictvalues_values = OFF(py_dict_values_##v, values)

static const struct py_offsets py_3_8 = {
    .major = 3,
    .minor = 8,
    .lasti = PY_LASTI_BYTES,
    .lines = PY_LINES_LNOTAB,
    HEAP_FRAMES(v3_8),
    THREADINFO_OLD(v3_8),
    .code_read_size = MAX3(MAX2(END(py_code_object_v3_8, co_filename),
                                END(py_code_object_v3_8, co_name)),
                           END(py_code_object_v3_8, co_firstlineno),
                           END(py_code_object_v3_8, co_lnotab)),
    .code_linetable = OFF(py_code_object_v3_8, co_lnotab),
};

static const struct py_offsets py_3_9 = {
    .major = 3,
    .minor = 9,
    .lasti = PY_LASTI_BYTES,
    .lines = PY_LINES_LNOTAB,
    HEAP_FRAMES(v3_9),
    THREADINFO_OLD(v3_9),
    .code_read_size = MAX3(MAX2(END(py_code_object_v3_9, co_filename),
                                END(py_code_object_v3_9, co_name)),
                           END(py_code_object_v3_9, co_firstlineno),
                           END(py_code_object_v3_9, co_lnotab)),
    .code_linetable = OFF(py_code_object_v3_9, co_lnotab),
};

static const struct py_offsets py_3_10 = {
    .major = 3,
    .minor = 10,
    .lasti = PY_LASTI_UNITS,
    .lines = PY_LINES_PEP626,
    HEAP_FRAMES(v3_10),
    THREADINFO_OLD(v3_10),
    .code_read_size = MAX3(MAX2(END(py_code_object_v3_10, co_filename),
                                END(py_code_object_v3_10, co_name)),
                           END(py_code_object_v3_10, co_firstlineno),
                           END(py_code_object_v3_10, co_linetable)),
    .code_linetable = OFF(py_code_object_v3_10, co_linetable),
};

/* 3.11: owner exists but has no C-stack value; is_entry marks the C -> Python boundary. */
static const struct py_offsets py_3_11 = {
    .major = 3,
    .minor = 11,
    CHUNKED_FRAMES(v3_11),
    .frame_read_size = MAX4(END(py_interpreter_frame_v3_11, previous),
                            END(py_interpreter_frame_v3_11, f_code),
                            END(py_interpreter_frame_v3_11, prev_instr),
                            END(py_interpreter_frame_v3_11, is_entry)),
    .frame_owner = PY_NO_FIELD,
    .frame_is_entry = OFF(py_interpreter_frame_v3_11, is_entry),
    .owner_cstack = UINT8_MAX,
    THREADINFO_NEW_DICTS(v3_11),
    GIL_PER_RUNTIME(v3_11),
    .interp_modules = OFF(py_interpreter_state_v3_11, modules),
    .instdicts = PY_INSTDICT_MANAGED,
    .longs = PY_LONG_OB_SIZE,
    .tpflags_managed_dict = PY_TPFLAGS_MANAGED_DICT_V3_11,
    .obj_managed_dict = PY_MANAGED_DICT_BEFORE_V3_11,
    .obj_managed_values = PY_MANAGED_VALUES_BEFORE_V3_11,
    .long_size = OFF(py_long_object_v3_11, ob_base.ob_size),
    .long_digits = OFF(py_long_object_v3_11, ob_digit),
};

/* 3.12: shim frames owned by the C stack mark the C -> Python boundary. */
static const struct py_offsets py_3_12 = {
    .major = 3,
    .minor = 12,
    CHUNKED_FRAMES(v3_12),
    .frame_read_size = MAX4(END(py_interpreter_frame_v3_12, previous),
                            END(py_interpreter_frame_v3_12, f_code),
                            END(py_interpreter_frame_v3_12, prev_instr),
                            END(py_interpreter_frame_v3_12, owner)),
    .frame_owner = OFF(py_interpreter_frame_v3_12, owner),
    .frame_is_entry = PY_NO_FIELD,
    .owner_cstack = FRAME_OWNED_BY_CSTACK_V3_12,
    THREADINFO_NEW_DICTS(v3_12),
    /* The per-interpreter GIL: ceval.gil points at this interpreter's _gil or the main one's. */
    .runtime_tstate_current = PY_NO_FIELD,
    .interp_ceval_gil = OFF(py_interpreter_state_v3_12, ceval.gil),
    .gil_locked = OFF(py_gil_runtime_state_v3_12, locked),
    .gil_last_holder = OFF(py_gil_runtime_state_v3_12, last_holder),
    .interp_modules = OFF(py_interpreter_state_v3_12, imports.modules),
    .instdicts = PY_INSTDICT_TAGGED,
    .longs = PY_LONG_LV_TAG,
    .tpflags_managed_dict = PY_TPFLAGS_MANAGED_DICT_V3_12,
    .obj_managed_dict = PY_MANAGED_DICT_BEFORE_V3_12,
    .obj_managed_values = PY_NO_FIELD,
    .long_size = OFF(py_long_object_v3_12, long_value.lv_tag),
    .long_digits = OFF(py_long_object_v3_12, long_value.ob_digit),
};

int offsets_for_version(unsigned major, unsigned minor, const struct py_offsets **out)
{
    static const struct py_offsets *const tables[] = {
        [8] = &py_3_8, [9] = &py_3_9, [10] = &py_3_10, [11] = &py_3_11, [12] = &py_3_12,
    };

    if (major != 3 || minor >= sizeof(tables) / sizeof(tables[0]) || !tables[minor])
        return OFFSETS_E_UNSUPPORTED;
    *out = tables[minor];
    return OFFSETS_E_NONE;
}
