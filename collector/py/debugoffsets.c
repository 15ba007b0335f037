/* SPDX-License-Identifier: MIT */
/* debugoffsets: fill struct py_offsets from a target's _Py_DebugOffsets (CPython 3.13+). */
#include <stddef.h>
#include <string.h>

#include "py/cpython/v3_13.h"
#include "py/debugoffsets.h"

#define MIB (1u << 20)
#define GIL_STATE_MAX 256 /* bytes of struct _gil_runtime_state before locked and last_holder */

/* The image must fit in what callers read (a compile-time check of DEBUGOFFSETS_READ_SIZE). */
_Static_assert(sizeof(struct py_debug_offsets_v3_13) <= DEBUGOFFSETS_READ_SIZE,
               "DEBUGOFFSETS_READ_SIZE is too small for the 3.13 _Py_DebugOffsets");

/* What PyCompactUnicodeObject adds to PyASCIIObject (utf8_length, utf8): not in the image. */
#define COMPACT_EXTRA                                                                              \
    (uint32_t)(sizeof(struct py_compact_unicode_object_v3_13) -                                    \
               sizeof(struct py_ascii_object_v3_13))

/* PY_VERSION_HEX fields */
#define HEX_MAJOR(hex) ((unsigned)((hex) >> 24) & 0xffu)
#define HEX_MINOR(hex) ((unsigned)((hex) >> 16) & 0xffu)

/* Offset of an offset-or-size member inside struct py_debug_offsets_v3_13. */
#define DO(member) offsetof(struct py_debug_offsets_v3_13, member)

/*
 * One struct described by _Py_DebugOffsets: where its size sits, and where its member offsets sit
 * (a run of consecutive uint64_t, n_offsets long, right after the size).
 */
struct described {
    size_t size_at;
    unsigned n_offsets;
};

/* How many offset members follow the size member of @group. */
#define N_OFFSETS(group)                                                                           \
    (unsigned)(sizeof(((struct py_debug_offsets_v3_13 *)0)->group) / sizeof(uint64_t) - 1)

/* Every struct of the 3.13 image, each with all its offset members. */
static const struct described described_v3_13[] = {
    {DO(runtime_state.size), N_OFFSETS(runtime_state)},
    /* gil_runtime_state_enabled is an offset in struct _gil_runtime_state (0 unless
     * free-threaded); checking it against the interpreter state size is loose but harmless. */
    {DO(interpreter_state.size), N_OFFSETS(interpreter_state)},
    {DO(thread_state.size), N_OFFSETS(thread_state)},
    {DO(interpreter_frame.size), N_OFFSETS(interpreter_frame)},
    {DO(code_object.size), N_OFFSETS(code_object)},
    {DO(pyobject.size), N_OFFSETS(pyobject)},
    {DO(type_object.size), N_OFFSETS(type_object)},
    {DO(tuple_object.size), N_OFFSETS(tuple_object)},
    {DO(list_object.size), N_OFFSETS(list_object)},
    {DO(dict_object.size), N_OFFSETS(dict_object)},
    {DO(float_object.size), N_OFFSETS(float_object)},
    {DO(long_object.size), N_OFFSETS(long_object)},
    {DO(bytes_object.size), N_OFFSETS(bytes_object)},
    /* state, length; the last member, asciiobject_size, is a size: checked on its own */
    {DO(unicode_object.size), N_OFFSETS(unicode_object) - 1},
    {DO(gc.size), N_OFFSETS(gc)},
};

static uint64_t load_u64(const unsigned char *buf, size_t at)
{
    uint64_t v;

    memcpy(&v, buf + at, sizeof(v));
    return v;
}

/*
 * Every size below 1 MiB, every offset + 8 within its struct. The 8 bytes cover every member we
 * read (at most a pointer) and hold for every member of a real 3.13 image.
 */
static int check_v3_13(const unsigned char *buf)
{
    for (size_t i = 0; i < sizeof(described_v3_13) / sizeof(described_v3_13[0]); i++) {
        const struct described *d = &described_v3_13[i];
        uint64_t size = load_u64(buf, d->size_at);

        if (size == 0 || size >= MIB)
            return OFFSETS_E_BAD;
        for (unsigned k = 1; k <= d->n_offsets; k++) {
            uint64_t off = load_u64(buf, d->size_at + k * sizeof(uint64_t));

            if (off >= MIB || off + sizeof(uint64_t) > size)
                return OFFSETS_E_BAD;
        }
    }
    return OFFSETS_E_NONE;
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

/* Fill *out from a checked 3.13 image @d (all values below 1 MiB, so they fit uint32_t). */
static void fill_v3_13(const struct py_debug_offsets_v3_13 *d, struct py_offsets *out)
{
    const uint32_t ptr = sizeof(uint64_t); /* pointer, unsigned long and Py_ssize_t members */

    memset(out, 0, sizeof(*out));
    out->major = 3;
    out->minor = 13;
    out->frames = PY_FRAMES_CHUNKED;
    out->lasti = PY_LASTI_INSTR_PTR;
    out->lines = PY_LINES_PEP657;

    out->runtime_interpreters_head = (uint32_t)d->runtime_state.interpreters_head;
    out->interp_next = (uint32_t)d->interpreter_state.next;
    out->interp_threads_head = (uint32_t)d->interpreter_state.threads_head;

    out->tstate_next = (uint32_t)d->thread_state.next;
    out->tstate_interp = (uint32_t)d->thread_state.interp;
    out->tstate_frame = (uint32_t)d->thread_state.current_frame;
    out->tstate_thread_id = (uint32_t)d->thread_state.thread_id;
    out->tstate_native_thread_id = (uint32_t)d->thread_state.native_thread_id;
    out->tstate_datastack_chunk = (uint32_t)d->thread_state.datastack_chunk;
    out->tstate_read_size = max_u32(max_u32(max_u32(out->tstate_next, out->tstate_interp),
                                            max_u32(out->tstate_frame, out->tstate_thread_id)),
                                    max_u32(out->tstate_native_thread_id,
                                            out->tstate_datastack_chunk)) + ptr;
    out->cframe_current_frame = PY_NO_FIELD;

    out->frame_previous = (uint32_t)d->interpreter_frame.previous;
    out->frame_code = (uint32_t)d->interpreter_frame.executable;
    out->frame_lasti = (uint32_t)d->interpreter_frame.instr_ptr;
    out->frame_owner = (uint32_t)d->interpreter_frame.owner;
    out->frame_is_entry = PY_NO_FIELD;
    out->owner_cstack = FRAME_OWNED_BY_CSTACK_V3_13;
    out->frame_read_size = max_u32(max_u32(out->frame_previous, out->frame_code),
                                   out->frame_lasti) + ptr;
    out->frame_read_size = max_u32(out->frame_read_size, out->frame_owner + 1); /* char owner */

    out->chunk_previous = offsetof(struct py_stack_chunk_v3_13, previous);
    out->chunk_size = offsetof(struct py_stack_chunk_v3_13, size);
    out->chunk_data = offsetof(struct py_stack_chunk_v3_13, data);

    out->code_filename = (uint32_t)d->code_object.filename;
    out->code_name = (uint32_t)d->code_object.name;
    out->code_qualname = (uint32_t)d->code_object.qualname;
    out->code_firstlineno = (uint32_t)d->code_object.firstlineno;
    out->code_linetable = (uint32_t)d->code_object.linetable;
    out->code_adaptive = (uint32_t)d->code_object.co_code_adaptive;
    out->code_read_size = max_u32(max_u32(max_u32(out->code_filename, out->code_name),
                                          max_u32(out->code_qualname, out->code_linetable)) + ptr,
                                  out->code_firstlineno + (uint32_t)sizeof(int));

    out->unicode_length = (uint32_t)d->unicode_object.length;
    out->unicode_state = (uint32_t)d->unicode_object.state;
    out->unicode_ascii_size = (uint32_t)d->unicode_object.asciiobject_size;
    out->unicode_compact_size = out->unicode_ascii_size + COMPACT_EXTRA;
    /* The state bits (offsets.h): the same as in 3.8 .. 3.12. */
    out->unicode_kind_shift = 2;
    out->unicode_compact_shift = 5;
    out->unicode_ascii_shift = 6;

    out->bytes_size = (uint32_t)d->bytes_object.ob_size;
    out->bytes_sval = (uint32_t)d->bytes_object.ob_sval;

    /*
     * The GIL holder: the image gives the interpreter's own _gil (gil_runtime_state) and its
     * locked / last_holder members as offsets in PyInterpreterState, but a subinterpreter that
     * shares the main GIL points ceval.gil elsewhere; keep the members relative to the struct
     * (checked in debugoffsets_parse()) and follow ceval.gil.
     */
    out->runtime_tstate_current = PY_NO_FIELD;
    out->interp_ceval_gil = (uint32_t)d->interpreter_state.ceval_gil;
    out->gil_locked = (uint32_t)(d->interpreter_state.gil_runtime_state_locked -
                                 d->interpreter_state.gil_runtime_state);
    out->gil_last_holder = (uint32_t)(d->interpreter_state.gil_runtime_state_holder -
                                      d->interpreter_state.gil_runtime_state);

    /* Thread names: the image has sys.modules, tp_name, tp_flags, ma_keys, ma_values and the
     * int layout; keys objects, values, modules and heap types come from the v3_13 copies. */
    out->instdicts = PY_INSTDICT_INLINE;
    out->longs = PY_LONG_LV_TAG;
    out->interp_modules = (uint32_t)d->interpreter_state.imports_modules;
    out->object_type = (uint32_t)d->pyobject.ob_type;
    out->type_name = (uint32_t)d->type_object.tp_name;
    out->type_basicsize = offsetof(struct py_type_object_v3_13, tp_basicsize);
    out->type_flags = (uint32_t)d->type_object.tp_flags;
    out->type_dictoffset = offsetof(struct py_type_object_v3_13, tp_dictoffset);
    out->type_cached_keys = offsetof(struct py_heap_type_object_v3_13, ht_cached_keys);
    out->tpflags_managed_dict = PY_TPFLAGS_MANAGED_DICT_V3_13;
    out->tpflags_inline_values = PY_TPFLAGS_INLINE_VALUES_V3_13;
    out->obj_managed_dict = PY_MANAGED_DICT_BEFORE_V3_13;
    out->obj_managed_values = PY_NO_FIELD;
    out->module_dict = offsetof(struct py_module_object_v3_13, md_dict);
    out->dict_keys = (uint32_t)d->dict_object.ma_keys;
    out->dict_values = (uint32_t)d->dict_object.ma_values;
    out->dictkeys_size = offsetof(struct py_dict_keys_object_v3_13, dk_log2_size);
    out->dictkeys_index_bytes = offsetof(struct py_dict_keys_object_v3_13, dk_log2_index_bytes);
    out->dictkeys_kind = offsetof(struct py_dict_keys_object_v3_13, dk_kind);
    out->dictkeys_nentries = offsetof(struct py_dict_keys_object_v3_13, dk_nentries);
    out->dictkeys_indices = offsetof(struct py_dict_keys_object_v3_13, dk_indices);
    out->dictvalues_valid = offsetof(struct py_dict_values_v3_13, valid);
    out->dictvalues_values = offsetof(struct py_dict_values_v3_13, values);
    out->long_size = (uint32_t)d->long_object.lv_tag;
    out->long_digits = (uint32_t)d->long_object.ob_digit;
}

int debugoffsets_version(const void *buf, size_t len, uint64_t *out_hex)
{
    if (!buf || len < offsetof(struct py_debug_offsets_v3_13, free_threaded))
        return OFFSETS_E_BAD;
    if (memcmp(buf, PY_DEBUG_COOKIE_V3_13, sizeof(PY_DEBUG_COOKIE_V3_13) - 1) != 0)
        return OFFSETS_E_BAD;
    *out_hex = load_u64(buf, offsetof(struct py_debug_offsets_v3_13, version));
    return OFFSETS_E_NONE;
}

int debugoffsets_parse(const void *buf, size_t len, struct py_offsets *out)
{
    struct py_debug_offsets_v3_13 d;
    uint64_t hex;
    int r;

    r = debugoffsets_version(buf, len, &hex);
    if (r)
        return r;
    if (HEX_MAJOR(hex) != 3)
        return OFFSETS_E_BAD;
    if (HEX_MINOR(hex) < 13)
        return OFFSETS_E_BAD; /* 3.12 and older carry no cookie: the image is corrupt */
    if (HEX_MINOR(hex) > 13)
        return OFFSETS_E_UNSUPPORTED; /* no built-in enum table (owner values...) for it yet */
    if (len < sizeof(d))
        return OFFSETS_E_BAD;
    memcpy(&d, buf, sizeof(d));
    if (d.free_threaded > 1)
        return OFFSETS_E_BAD;
    if (d.free_threaded)
        return OFFSETS_E_UNSUPPORTED; /* another object header and tagged references */
    r = check_v3_13(buf);
    if (r)
        return r;
    /* PyUnicodeObject = PyCompactUnicodeObject + data pointer = PyASCIIObject + 3 words */
    if (d.unicode_object.asciiobject_size < d.unicode_object.state + sizeof(uint32_t) ||
        d.unicode_object.asciiobject_size + COMPACT_EXTRA + sizeof(void *) > d.unicode_object.size)
        return OFFSETS_E_BAD;
    /* locked (int) and last_holder (pointer) inside the interpreter's own struct _gil_runtime_state */
    if (d.interpreter_state.gil_runtime_state_locked < d.interpreter_state.gil_runtime_state ||
        d.interpreter_state.gil_runtime_state_holder < d.interpreter_state.gil_runtime_state ||
        d.interpreter_state.gil_runtime_state_locked - d.interpreter_state.gil_runtime_state >=
            GIL_STATE_MAX ||
        d.interpreter_state.gil_runtime_state_holder - d.interpreter_state.gil_runtime_state >=
            GIL_STATE_MAX)
        return OFFSETS_E_BAD;
    fill_v3_13(&d, out);
    return OFFSETS_E_NONE;
}
