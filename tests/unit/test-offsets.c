/* SPDX-License-Identifier: MIT */
/* test-offsets: the built-in 3.8 .. 3.12 tables hold the real-header values. */
#include "py/offsets.h"
#include "t.h"

#define N PY_NO_FIELD

/*
 * The values below are what tools/gen-offsets.py printed from the real headers of pyenv
 * 3.8.18, 3.9.18, 3.10.13, 3.11.7 and 3.12.1 (x86-64, release builds), not from our copies.
 */
static const struct py_offsets want_3_8 = {
    .major = 3, .minor = 8,
    .frames = PY_FRAMES_HEAP, .lasti = PY_LASTI_BYTES, .lines = PY_LINES_LNOTAB,
    .runtime_interpreters_head = 32,
    .interp_next = 0, .interp_threads_head = 8,
    .tstate_read_size = 184, .tstate_next = 8, .tstate_interp = 16, .tstate_frame = 24,
    .tstate_thread_id = 176, .tstate_native_thread_id = N, .tstate_datastack_chunk = N,
    .cframe_current_frame = N,
    .frame_read_size = 108, .frame_previous = 24, .frame_code = 32, .frame_lasti = 104,
    .frame_owner = N, .frame_is_entry = N, .owner_cstack = UINT8_MAX,
    .chunk_previous = N, .chunk_size = N, .chunk_data = N,
    .code_read_size = 128, .code_filename = 104, .code_name = 112, .code_qualname = N,
    .code_firstlineno = 40, .code_linetable = 120, .code_adaptive = N,
    .unicode_length = 16, .unicode_state = 32, .unicode_ascii_size = 48,
    .unicode_compact_size = 72,
    .unicode_kind_shift = 2, .unicode_compact_shift = 5, .unicode_ascii_shift = 6,
    .bytes_size = 16, .bytes_sval = 32,
};

static const struct py_offsets want_3_9 = {
    .major = 3, .minor = 9,
    .frames = PY_FRAMES_HEAP, .lasti = PY_LASTI_BYTES, .lines = PY_LINES_LNOTAB,
    .runtime_interpreters_head = 32,
    .interp_next = 0, .interp_threads_head = 8,
    .tstate_read_size = 184, .tstate_next = 8, .tstate_interp = 16, .tstate_frame = 24,
    .tstate_thread_id = 176, .tstate_native_thread_id = N, .tstate_datastack_chunk = N,
    .cframe_current_frame = N,
    .frame_read_size = 108, .frame_previous = 24, .frame_code = 32, .frame_lasti = 104,
    .frame_owner = N, .frame_is_entry = N, .owner_cstack = UINT8_MAX,
    .chunk_previous = N, .chunk_size = N, .chunk_data = N,
    .code_read_size = 128, .code_filename = 104, .code_name = 112, .code_qualname = N,
    .code_firstlineno = 40, .code_linetable = 120, .code_adaptive = N,
    .unicode_length = 16, .unicode_state = 32, .unicode_ascii_size = 48,
    .unicode_compact_size = 72,
    .unicode_kind_shift = 2, .unicode_compact_shift = 5, .unicode_ascii_shift = 6,
    .bytes_size = 16, .bytes_sval = 32,
};

static const struct py_offsets want_3_10 = {
    .major = 3, .minor = 10,
    .frames = PY_FRAMES_HEAP, .lasti = PY_LASTI_UNITS, .lines = PY_LINES_PEP626,
    .runtime_interpreters_head = 32,
    .interp_next = 0, .interp_threads_head = 8,
    .tstate_read_size = 184, .tstate_next = 8, .tstate_interp = 16, .tstate_frame = 24,
    .tstate_thread_id = 176, .tstate_native_thread_id = N, .tstate_datastack_chunk = N,
    .cframe_current_frame = N,
    .frame_read_size = 100, .frame_previous = 24, .frame_code = 32, .frame_lasti = 96,
    .frame_owner = N, .frame_is_entry = N, .owner_cstack = UINT8_MAX,
    .chunk_previous = N, .chunk_size = N, .chunk_data = N,
    .code_read_size = 128, .code_filename = 104, .code_name = 112, .code_qualname = N,
    .code_firstlineno = 40, .code_linetable = 120, .code_adaptive = N,
    .unicode_length = 16, .unicode_state = 32, .unicode_ascii_size = 48,
    .unicode_compact_size = 72,
    .unicode_kind_shift = 2, .unicode_compact_shift = 5, .unicode_ascii_shift = 6,
    .bytes_size = 16, .bytes_sval = 32,
};

static const struct py_offsets want_3_11 = {
    .major = 3, .minor = 11,
    .frames = PY_FRAMES_CHUNKED, .lasti = PY_LASTI_PREV_INSTR, .lines = PY_LINES_PEP657,
    .runtime_interpreters_head = 40,
    .interp_next = 0, .interp_threads_head = 16,
    .tstate_read_size = 304, .tstate_next = 8, .tstate_interp = 16, .tstate_frame = 56,
    .tstate_thread_id = 152, .tstate_native_thread_id = 160, .tstate_datastack_chunk = 296,
    .cframe_current_frame = 8,
    .frame_read_size = 69, .frame_previous = 48, .frame_code = 32, .frame_lasti = 56,
    .frame_owner = N, .frame_is_entry = 68, .owner_cstack = UINT8_MAX,
    .chunk_previous = 0, .chunk_size = 8, .chunk_data = 24,
    .code_read_size = 144, .code_filename = 112, .code_name = 120, .code_qualname = 128,
    .code_firstlineno = 72, .code_linetable = 136, .code_adaptive = 184,
    .unicode_length = 16, .unicode_state = 32, .unicode_ascii_size = 48,
    .unicode_compact_size = 72,
    .unicode_kind_shift = 2, .unicode_compact_shift = 5, .unicode_ascii_shift = 6,
    .bytes_size = 16, .bytes_sval = 32,
};

static const struct py_offsets want_3_12 = {
    .major = 3, .minor = 12,
    .frames = PY_FRAMES_CHUNKED, .lasti = PY_LASTI_PREV_INSTR, .lines = PY_LINES_PEP657,
    .runtime_interpreters_head = 40,
    .interp_next = 0, .interp_threads_head = 72,
    .tstate_read_size = 240, .tstate_next = 8, .tstate_interp = 16, .tstate_frame = 56,
    .tstate_thread_id = 136, .tstate_native_thread_id = 144, .tstate_datastack_chunk = 232,
    .cframe_current_frame = 0,
    .frame_read_size = 71, .frame_previous = 8, .frame_code = 0, .frame_lasti = 56,
    .frame_owner = 70, .frame_is_entry = N, .owner_cstack = 3,
    .chunk_previous = 0, .chunk_size = 8, .chunk_data = 24,
    .code_read_size = 144, .code_filename = 112, .code_name = 120, .code_qualname = 128,
    .code_firstlineno = 68, .code_linetable = 136, .code_adaptive = 192,
    .unicode_length = 16, .unicode_state = 32, .unicode_ascii_size = 40,
    .unicode_compact_size = 56,
    .unicode_kind_shift = 2, .unicode_compact_shift = 5, .unicode_ascii_shift = 6,
    .bytes_size = 16, .bytes_sval = 32,
};

/* Compare one field, naming it and the version on failure. */
#define CHECK(f)                                                                                   \
    do {                                                                                           \
        if ((long long)got->f != (long long)want->f) {                                             \
            fprintf(stderr, "3.%u: %s: got %lld, want %lld\n", want->minor, #f,                    \
                    (long long)got->f, (long long)want->f);                                        \
            t_failures++;                                                                          \
        }                                                                                          \
    } while (0)

static void check_all(const struct py_offsets *got, const struct py_offsets *want)
{
    CHECK(major);
    CHECK(minor);
    CHECK(frames);
    CHECK(lasti);
    CHECK(lines);
    CHECK(runtime_interpreters_head);
    CHECK(interp_next);
    CHECK(interp_threads_head);
    CHECK(tstate_read_size);
    CHECK(tstate_next);
    CHECK(tstate_interp);
    CHECK(tstate_frame);
    CHECK(tstate_thread_id);
    CHECK(tstate_native_thread_id);
    CHECK(tstate_datastack_chunk);
    CHECK(cframe_current_frame);
    CHECK(frame_read_size);
    CHECK(frame_previous);
    CHECK(frame_code);
    CHECK(frame_lasti);
    CHECK(frame_owner);
    CHECK(frame_is_entry);
    CHECK(owner_cstack);
    CHECK(chunk_previous);
    CHECK(chunk_size);
    CHECK(chunk_data);
    CHECK(code_read_size);
    CHECK(code_filename);
    CHECK(code_name);
    CHECK(code_qualname);
    CHECK(code_firstlineno);
    CHECK(code_linetable);
    CHECK(code_adaptive);
    CHECK(unicode_length);
    CHECK(unicode_state);
    CHECK(unicode_ascii_size);
    CHECK(unicode_compact_size);
    CHECK(unicode_kind_shift);
    CHECK(unicode_compact_shift);
    CHECK(unicode_ascii_shift);
    CHECK(bytes_size);
    CHECK(bytes_sval);
}

/* A field the walker reads out of a slice must lie inside that slice. */
static void check_in_slice(const struct py_offsets *o, uint32_t off, uint32_t width,
                           uint32_t slice, const char *what)
{
    if (off == PY_NO_FIELD)
        return;
    if ((uint64_t)off + width > slice) {
        fprintf(stderr, "3.%u: %s at %u + %u is outside the %u-byte slice\n", o->minor, what, off,
                width, slice);
        t_failures++;
    }
}

static void check_slices(const struct py_offsets *o)
{
    check_in_slice(o, o->tstate_next, 8, o->tstate_read_size, "tstate_next");
    check_in_slice(o, o->tstate_interp, 8, o->tstate_read_size, "tstate_interp");
    check_in_slice(o, o->tstate_frame, 8, o->tstate_read_size, "tstate_frame");
    check_in_slice(o, o->tstate_thread_id, 8, o->tstate_read_size, "tstate_thread_id");
    check_in_slice(o, o->tstate_native_thread_id, 8, o->tstate_read_size, "native_thread_id");
    check_in_slice(o, o->tstate_datastack_chunk, 8, o->tstate_read_size, "datastack_chunk");
    check_in_slice(o, o->frame_previous, 8, o->frame_read_size, "frame_previous");
    check_in_slice(o, o->frame_code, 8, o->frame_read_size, "frame_code");
    check_in_slice(o, o->frame_lasti, o->lasti <= PY_LASTI_UNITS ? 4 : 8, o->frame_read_size,
                   "frame_lasti");
    check_in_slice(o, o->frame_owner, 1, o->frame_read_size, "frame_owner");
    check_in_slice(o, o->frame_is_entry, 1, o->frame_read_size, "frame_is_entry");
    check_in_slice(o, o->code_filename, 8, o->code_read_size, "code_filename");
    check_in_slice(o, o->code_name, 8, o->code_read_size, "code_name");
    check_in_slice(o, o->code_qualname, 8, o->code_read_size, "code_qualname");
    check_in_slice(o, o->code_firstlineno, 4, o->code_read_size, "code_firstlineno");
    check_in_slice(o, o->code_linetable, 8, o->code_read_size, "code_linetable");
    /* pystr.c reads the header of a compact str in one go */
    check_in_slice(o, o->unicode_length, 8, o->unicode_ascii_size, "unicode_length");
    check_in_slice(o, o->unicode_state, 4, o->unicode_ascii_size, "unicode_state");
    T_ASSERT(o->unicode_ascii_size < o->unicode_compact_size);
    T_ASSERT(o->bytes_size + 8 <= o->bytes_sval);
}

static void test_tables(void)
{
    static const struct py_offsets *const wants[] = {
        &want_3_8, &want_3_9, &want_3_10, &want_3_11, &want_3_12,
    };

    for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
        const struct py_offsets *got = NULL;
        int r = offsets_for_version(3, wants[i]->minor, &got);

        T_EQ_INT(r, OFFSETS_E_NONE);
        if (r || !got)
            continue;
        check_all(got, wants[i]);
        check_slices(got);
    }
}

static void test_unsupported(void)
{
    static const unsigned versions[][2] = {
        {2, 7}, {3, 0}, {3, 6}, {3, 7}, {3, 13}, {3, 14}, {3, 99}, {4, 0}, {4, 8}, {0, 0},
    };

    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        const struct py_offsets *got = NULL;
        int r = offsets_for_version(versions[i][0], versions[i][1], &got);

        if (r != OFFSETS_E_UNSUPPORTED) {
            fprintf(stderr, "%u.%u: got %d, want OFFSETS_E_UNSUPPORTED\n", versions[i][0],
                    versions[i][1], r);
            t_failures++;
        }
        T_ASSERT(got == NULL);
    }
}

int main(void)
{
    test_tables();
    test_unsupported();
    T_DONE();
}
