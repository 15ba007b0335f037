/* SPDX-License-Identifier: MIT */
/* discover: find the CPython runtime in a process, its version and its layout. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pyprof/err.h"
#include "py/debugoffsets.h"
#include "py/discover.h"
#include "sys/elfsym.h"
#include "sys/procmaps.h"

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');

    return s ? s + 1 : path;
}

/* "libpython3.11.so.1.0", "libpython3.7m.so", "python3.9", "python2.7" -> major, minor. */
static bool version_from_name(const char *path, unsigned *major, unsigned *minor)
{
    const char *b = base_name(path);
    unsigned ma, mi;

    if (!strncmp(b, "lib", 3))
        b += 3;
    if (strncmp(b, "python", 6))
        return false;
    if (sscanf(b + 6, "%u.%u", &ma, &mi) != 2)
        return false;
    *major = ma;
    *minor = mi;
    return true;
}

static bool is_libpython(const char *path)
{
    const char *b = base_name(path);

    return !strncmp(b, "libpython", 9) && strstr(b, ".so");
}

/* Open @path as the target sees it: through /proc/PID/root, falling back to the plain path. */
static int open_target_file(struct elfsym **out, pid_t pid, const char *path)
{
    char buf[PATH_MAX + 64];
    int r;

    snprintf(buf, sizeof(buf), "/proc/%d/root%s", (int)pid, path);
    r = elfsym_open(out, buf);
    if (r == ELFSYM_E_OPEN)
        r = elfsym_open(out, path);
    return r;
}

static int mem_to_discover(int r)
{
    if (r == MEM_E_GONE)
        return DISCOVER_E_GONE;
    if (r == MEM_E_PERM)
        return DISCOVER_E_PERM;
    return r < 0 ? r : DISCOVER_E_NOTPY;
}

/* Work out the version and offsets for a runtime found in @e at rt->runtime_addr. */
static int identify(struct py_runtime *rt, struct mem *m, struct elfsym *e, uint64_t bias,
                    const char *path)
{
    uint8_t dbg[DEBUGOFFSETS_READ_SIZE];
    uint64_t hex = 0, addr;
    const struct py_offsets *table;
    int r;

    r = mem_read(m, rt->runtime_addr, dbg, sizeof(dbg));
    if (r)
        return mem_to_discover(r);
    if (debugoffsets_version(dbg, sizeof(dbg), &hex) == 0) {
        /* 3.13+: the target describes itself. */
    } else if (elfsym_lookup(e, "Py_Version", &addr, NULL) == 0) {
        uint32_t v;

        r = mem_read(m, addr + bias, &v, sizeof(v));
        if (r)
            return mem_to_discover(r);
        hex = v;
    } else if (version_from_name(path, &rt->major, &rt->minor)) {
        hex = (uint64_t)rt->major << 24 | (uint64_t)rt->minor << 16;
    } else {
        snprintf(rt->why, sizeof(rt->why),
                 "%s has _PyRuntime but its Python version could not be determined", path);
        return DISCOVER_E_UNSUPPORTED;
    }
    rt->major = (hex >> 24) & 0xff;
    rt->minor = (hex >> 16) & 0xff;
    rt->micro = (hex >> 8) & 0xff;
    if (rt->major == 3 && rt->minor >= 13) {
        r = debugoffsets_parse(dbg, sizeof(dbg), &rt->off);
        if (r == OFFSETS_E_BAD) {
            snprintf(rt->why, sizeof(rt->why),
                     "Python %u.%u in %s: its _Py_DebugOffsets failed a sanity check", rt->major,
                     rt->minor, path);
            return DISCOVER_E_UNSUPPORTED;
        }
    } else {
        r = offsets_for_version(rt->major, rt->minor, &table);
        if (r == 0)
            rt->off = *table;
    }
    if (r) {
        snprintf(rt->why, sizeof(rt->why),
                 "Python %u.%u (%s) is not supported: pyprof supports CPython 3.8 to 3.13",
                 rt->major, rt->minor, path);
        return DISCOVER_E_UNSUPPORTED;
    }
    if (elfsym_lookup(e, "PyCode_Type", &addr, NULL) == 0)
        rt->code_type = addr + bias;
    if (elfsym_lookup(e, "PyFrame_Type", &addr, NULL) == 0)
        rt->frame_type = addr + bias;
    return 0;
}

/* Try one mapped binary. 0 (found), DISCOVER_E_NOTPY (not in this one), or another error. */
static int try_binary(struct py_runtime *rt, struct mem *m, const struct procmaps *pm, pid_t pid,
                      const char *path)
{
    struct elfsym *e = NULL;
    uint64_t addr, bias;
    unsigned major, minor;
    int r;

    r = open_target_file(&e, pid, path);
    if (r > 0)
        return DISCOVER_E_NOTPY;
    if (r < 0)
        return r;
    bias = procmaps_base(pm, path) - elfsym_load_delta(e);
    if (elfsym_lookup(e, "_PyRuntime", &addr, NULL) != 0 &&
        elfsym_section(e, ".PyRuntime", &addr, NULL) != 0) {
        /* 2.7 and 3.6 have no _PyRuntime: name them so the user learns why. */
        if (version_from_name(path, &major, &minor) &&
            (elfsym_lookup(e, "PyEval_EvalFrameEx", NULL, NULL) == 0 ||
             elfsym_lookup(e, "Py_Initialize", NULL, NULL) == 0)) {
            snprintf(rt->why, sizeof(rt->why),
                     "Python %u.%u (%s) is not supported: pyprof supports CPython 3.8 to 3.13",
                     major, minor, path);
            r = DISCOVER_E_UNSUPPORTED;
        } else {
            r = DISCOVER_E_NOTPY;
        }
        goto out;
    }
    rt->runtime_addr = addr + bias;
    snprintf(rt->binary, sizeof(rt->binary), "%s", path);
    r = identify(rt, m, e, bias, path);
out:
    elfsym_close(e);
    return r;
}

int discover_runtime(struct py_runtime *rt, struct mem *m, pid_t pid)
{
    struct procmaps pm = { 0 };
    char exe[PATH_MAX], link[64];
    ssize_t n;
    int r;

    memset(rt, 0, sizeof(*rt));
    r = procmaps_load(&pm, pid);
    if (r == PROCMAPS_E_GONE) {
        snprintf(rt->why, sizeof(rt->why), "no process with PID %d", (int)pid);
        return DISCOVER_E_GONE;
    }
    if (r == PROCMAPS_E_PERM) {
        snprintf(rt->why, sizeof(rt->why), "cannot read /proc/%d/maps", (int)pid);
        return DISCOVER_E_PERM;
    }
    if (r)
        return r < 0 ? r : DISCOVER_E_NOTPY;

    /* libpython first (shared builds keep the runtime there), then the executable. */
    for (size_t i = 0; i < pm.n_maps; i++) {
        const struct procmap *mp = &pm.maps[i];

        if (mp->offset != 0 || !is_libpython(mp->path))
            continue;
        r = try_binary(rt, m, &pm, pid, mp->path);
        if (r != DISCOVER_E_NOTPY)
            goto out;
    }
    snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
    n = readlink(link, exe, sizeof(exe) - 1);
    if (n < 0) {
        r = errno == ENOENT ? DISCOVER_E_GONE : DISCOVER_E_PERM;
        snprintf(rt->why, sizeof(rt->why), "cannot read %s", link);
        goto out;
    }
    exe[n] = '\0';
    if (n > 10 && !strcmp(exe + n - 10, " (deleted)"))
        exe[n - 10] = '\0';
    r = try_binary(rt, m, &pm, pid, exe);
    if (r == DISCOVER_E_NOTPY && !rt->why[0])
        snprintf(rt->why, sizeof(rt->why),
                 "PID %d runs %.300s, which has no CPython runtime (no _PyRuntime symbol or "
                 ".PyRuntime section, and no libpython mapped)",
                 (int)pid, exe);
out:
    if (r == DISCOVER_E_PERM && !rt->why[0])
        snprintf(rt->why, sizeof(rt->why), "cannot read the memory of PID %d", (int)pid);
    if (r == DISCOVER_E_GONE && !rt->why[0])
        snprintf(rt->why, sizeof(rt->why), "process %d exited", (int)pid);
    procmaps_free(&pm);
    return r;
}

int discover_interp_head(const struct py_runtime *rt, struct mem *m, uint64_t *out)
{
    const struct py_offsets *o = &rt->off;
    uint64_t interp = 0, tstate = 0, back = 0;
    int r;

    r = mem_read_u64(m, rt->runtime_addr + o->runtime_interpreters_head, &interp);
    if (!r && interp)
        r = mem_read_u64(m, interp + o->interp_threads_head, &tstate);
    if (!r && tstate)
        r = mem_read_u64(m, tstate + o->tstate_interp, &back);
    if (r == MEM_E_GONE)
        return DISCOVER_E_GONE;
    if (r < 0)
        return r;
    if (r || !interp || !tstate || back != interp)
        return DISCOVER_E_NOTREADY;
    *out = interp;
    return 0;
}
