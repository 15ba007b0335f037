/* SPDX-License-Identifier: MIT */
/* test-debugoffsets: parse the real 3.13 _Py_DebugOffsets, and refuse corrupt copies. */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include "py/cpython/v3_13.h"
#include "py/debugoffsets.h"
#include "t.h"

#define N PY_NO_FIELD

/* What tools/gen-offsets.py printed from the real pyenv 3.13.0 headers (x86-64, GIL build). */
static const struct py_offsets want_3_13 = {
    .major = 3, .minor = 13,
    .frames = PY_FRAMES_CHUNKED, .lasti = PY_LASTI_INSTR_PTR, .lines = PY_LINES_PEP657,
    .runtime_interpreters_head = 632,
    .interp_next = 7264, .interp_threads_head = 7344,
    .tstate_read_size = 240, .tstate_next = 8, .tstate_interp = 16, .tstate_frame = 72,
    .tstate_thread_id = 152, .tstate_native_thread_id = 160, .tstate_datastack_chunk = 232,
    .cframe_current_frame = N,
    .frame_read_size = 71, .frame_previous = 8, .frame_code = 0, .frame_lasti = 56,
    .frame_owner = 70, .frame_is_entry = N, .owner_cstack = 3,
    .chunk_previous = 0, .chunk_size = 8, .chunk_data = 24,
    .code_read_size = 144, .code_filename = 112, .code_name = 120, .code_qualname = 128,
    .code_firstlineno = 68, .code_linetable = 136, .code_adaptive = 200,
    .unicode_length = 16, .unicode_state = 32, .unicode_ascii_size = 40,
    .unicode_compact_size = 56,
    .unicode_kind_shift = 2, .unicode_compact_shift = 5, .unicode_ascii_shift = 6,
    .bytes_size = 16, .bytes_sval = 32,
};

/* Compare one field, naming it and the image on failure. */
#define CHECK(f)                                                                                   \
    do {                                                                                           \
        if ((long long)got->f != (long long)want->f) {                                             \
            fprintf(stderr, "%s: %s: got %lld, want %lld\n", what, #f, (long long)got->f,          \
                    (long long)want->f);                                                           \
            t_failures++;                                                                          \
        }                                                                                          \
    } while (0)

static void check_all(const char *what, const struct py_offsets *got,
                      const struct py_offsets *want)
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

/*
 * A synthetic image holding the values of the real 3.13.0 .PyRuntime section (measured), so the
 * parser and the corruption checks run even where that libpython is not installed.
 */
static void synth_image(unsigned char *buf)
{
    struct py_debug_offsets_v3_13 d = {
        .version = 0x030d00f0,
        .free_threaded = 0,
        .runtime_state = {0x452b8, 0x260, 0x278},
        .interpreter_state = {0x2f998, 0x1c68, 0x1c60, 0x1cb0, 0x1ce8, 0x1de8, 0x1dd8, 0x1de0,
                              0x10, 0x1e48, 0, 0x1e58, 0x1e50},
        .thread_state = {0x130, 0, 8, 0x10, 0x48, 0x98, 0xa0, 0xe8, 0x20},
        .interpreter_frame = {0x50, 8, 0, 0x38, 0x48, 0x46},
        .code_object = {0xd0, 0x70, 0x78, 0x80, 0x88, 0x44, 0x34, 0x60, 0x68, 0xc8},
        .pyobject = {0x10, 8},
        .type_object = {0x1a0, 0x18, 0x58, 0xa8},
        .tuple_object = {0x20, 0x18, 0x10},
        .list_object = {0x28, 0x18, 0x10},
        .dict_object = {0x30, 0x20, 0x28},
        .float_object = {0x18, 0x10},
        .long_object = {0x20, 0x10, 0x18},
        .bytes_object = {0x28, 0x10, 0x20},
        .unicode_object = {0x40, 0x20, 0x10, 0x28},
        .gc = {0xf0, 0xc8},
    };

    memset(buf, 0, DEBUGOFFSETS_READ_SIZE);
    memcpy(d.cookie, PY_DEBUG_COOKIE_V3_13, sizeof(d.cookie));
    memcpy(buf, &d, sizeof(d));
}

/*
 * Copy the start of the .PyRuntime section of the ELF file @path into @buf
 * (DEBUGOFFSETS_READ_SIZE bytes). Returns 0, or -1 if the file or section is not there.
 */
static int read_runtime_section(const char *path, unsigned char *buf)
{
    Elf_Scn *scn = NULL;
    Elf *elf = NULL;
    size_t shstrndx;
    int r = -1, fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (elf_version(EV_CURRENT) == EV_NONE)
        goto out;
    elf = elf_begin(fd, ELF_C_READ, NULL);
    if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0)
        goto out;
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr shdr;
        const char *name;
        Elf_Data *data;

        if (!gelf_getshdr(scn, &shdr))
            continue;
        name = elf_strptr(elf, shstrndx, shdr.sh_name);
        if (!name || strcmp(name, ".PyRuntime") != 0)
            continue;
        data = elf_getdata(scn, NULL);
        if (data && data->d_buf && data->d_size >= DEBUGOFFSETS_READ_SIZE) {
            memcpy(buf, data->d_buf, DEBUGOFFSETS_READ_SIZE);
            r = 0;
        }
        break;
    }
out:
    if (elf)
        elf_end(elf);
    close(fd);
    return r;
}

/* Where pyenv puts 3.13.0's libpython; PYPROF_LIBPYTHON313 overrides. */
static void libpython_path(char *out, size_t cap)
{
    const char *env = getenv("PYPROF_LIBPYTHON313");
    const char *root = getenv("PYENV_ROOT");
    const char *home = getenv("HOME");

    if (env && *env)
        snprintf(out, cap, "%s", env);
    else if (root && *root)
        snprintf(out, cap, "%s/versions/3.13.0/lib/libpython3.13.so.1.0", root);
    else
        snprintf(out, cap, "%s/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0",
                 home ? home : "/root");
}

static void set_u64(unsigned char *buf, size_t at, uint64_t v)
{
    memcpy(buf + at, &v, sizeof(v));
}

#define AT(member) offsetof(struct py_debug_offsets_v3_13, member)

/* Parse a copy of @image with one u64 at @at replaced by @v; expect @want. */
static void expect_patched(const char *what, const unsigned char *image, size_t at, uint64_t v,
                           int want)
{
    unsigned char copy[DEBUGOFFSETS_READ_SIZE];
    struct py_offsets out;
    int r;

    memcpy(copy, image, sizeof(copy));
    set_u64(copy, at, v);
    r = debugoffsets_parse(copy, sizeof(copy), &out);
    if (r != want) {
        fprintf(stderr, "%s: got %d, want %d\n", what, r, want);
        t_failures++;
    }
}

static void test_image(const char *what, const unsigned char *image)
{
    unsigned char copy[DEBUGOFFSETS_READ_SIZE];
    struct py_offsets out;
    uint64_t hex = 0;
    int r;

    T_EQ_INT(debugoffsets_version(image, DEBUGOFFSETS_READ_SIZE, &hex), OFFSETS_E_NONE);
    T_EQ_INT(hex, 0x030d00f0);
    r = debugoffsets_parse(image, DEBUGOFFSETS_READ_SIZE, &out);
    T_EQ_INT(r, OFFSETS_E_NONE);
    if (r == OFFSETS_E_NONE)
        check_all(what, &out, &want_3_13);
    /* exactly sizeof(struct py_debug_offsets_v3_13) is enough; one byte less is not */
    T_EQ_INT(debugoffsets_parse(image, sizeof(struct py_debug_offsets_v3_13), &out),
             OFFSETS_E_NONE);
    T_EQ_INT(debugoffsets_parse(image, sizeof(struct py_debug_offsets_v3_13) - 1, &out),
             OFFSETS_E_BAD);
    T_EQ_INT(debugoffsets_version(image, 15, &hex), OFFSETS_E_BAD);
    T_EQ_INT(debugoffsets_parse(image, 8, &out), OFFSETS_E_BAD);

    /* bad cookie */
    memcpy(copy, image, sizeof(copy));
    copy[0] = 'y';
    T_EQ_INT(debugoffsets_version(copy, sizeof(copy), &hex), OFFSETS_E_BAD);
    T_EQ_INT(debugoffsets_parse(copy, sizeof(copy), &out), OFFSETS_E_BAD);
    memcpy(copy, image, sizeof(copy));
    copy[7] = 'Y';
    T_EQ_INT(debugoffsets_parse(copy, sizeof(copy), &out), OFFSETS_E_BAD);

    /* versions */
    expect_patched("minor 14", image, AT(version), 0x030e00f0, OFFSETS_E_UNSUPPORTED);
    expect_patched("minor 12", image, AT(version), 0x030c01f0, OFFSETS_E_BAD);
    expect_patched("major 4", image, AT(version), 0x040d00f0, OFFSETS_E_BAD);
    expect_patched("3.13.9", image, AT(version), 0x030d09f0, OFFSETS_E_NONE);

    /* free-threaded */
    expect_patched("free_threaded 1", image, AT(free_threaded), 1, OFFSETS_E_UNSUPPORTED);
    expect_patched("free_threaded 2", image, AT(free_threaded), 2, OFFSETS_E_BAD);

    /* sizes */
    expect_patched("runtime size 2 MiB", image, AT(runtime_state.size), 2u << 20, OFFSETS_E_BAD);
    expect_patched("tstate size 2 MiB", image, AT(thread_state.size), 2u << 20, OFFSETS_E_BAD);
    expect_patched("gc size 1 MiB", image, AT(gc.size), 1u << 20, OFFSETS_E_BAD);
    expect_patched("frame size 0", image, AT(interpreter_frame.size), 0, OFFSETS_E_BAD);
    expect_patched("huge size", image, AT(code_object.size), UINT64_MAX, OFFSETS_E_BAD);

    /* offsets beyond their struct */
    expect_patched("current_frame = size", image, AT(thread_state.current_frame), 0x130,
                   OFFSETS_E_BAD);
    expect_patched("current_frame = size - 4", image, AT(thread_state.current_frame), 0x12c,
                   OFFSETS_E_BAD);
    expect_patched("current_frame = size - 8", image, AT(thread_state.current_frame), 0x128,
                   OFFSETS_E_NONE);
    expect_patched("interpreters_head beyond", image, AT(runtime_state.interpreters_head),
                   0x452b8, OFFSETS_E_BAD);
    expect_patched("owner beyond", image, AT(interpreter_frame.owner), 0x4c, OFFSETS_E_BAD);
    expect_patched("co_code_adaptive beyond", image, AT(code_object.co_code_adaptive), 0xd0,
                   OFFSETS_E_BAD);
    expect_patched("unicode state huge", image, AT(unicode_object.state), UINT64_MAX,
                   OFFSETS_E_BAD);
    expect_patched("ob_sval beyond", image, AT(bytes_object.ob_sval), 0x28, OFFSETS_E_BAD);
    expect_patched("gc collecting beyond", image, AT(gc.collecting), 0xf0, OFFSETS_E_BAD);
    expect_patched("ascii size > unicode size", image, AT(unicode_object.asciiobject_size), 0x40,
                   OFFSETS_E_BAD);
    expect_patched("ascii size before state", image, AT(unicode_object.asciiobject_size), 0x20,
                   OFFSETS_E_BAD);
}

int main(void)
{
    static unsigned char synth[DEBUGOFFSETS_READ_SIZE], real[DEBUGOFFSETS_READ_SIZE];
    char path[4096];

    synth_image(synth);
    test_image("synthetic", synth);

    libpython_path(path, sizeof(path));
    if (read_runtime_section(path, real) != 0) {
        if (t_failures)
            T_DONE();
        printf("no .PyRuntime section in %s (set PYPROF_LIBPYTHON313): real image not tested\n",
               path);
        T_SKIP("pyenv 3.13.0 libpython not found");
    }
    printf("real image: %s\n", path);
    T_ASSERT(memcmp(real, synth, sizeof(struct py_debug_offsets_v3_13)) == 0);
    test_image(path, real);
    T_DONE();
}
