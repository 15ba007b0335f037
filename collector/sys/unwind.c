/* SPDX-License-Identifier: MIT */
/* unwind: remote native stacks with libunwind-ptrace, symbols with libdw, both cached. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>

#include <elfutils/libdwfl.h>
#include <libunwind-ptrace.h>

#include "pyprof/err.h"
#include "pyprof/hash.h"
#include "sys/procmaps.h"
#include "sys/unwind.h"

#define SYM_CACHE_MAX 65536           /* PCs symbolised and kept; the cache restarts when full */
#define UPT_MAX 4096                  /* per-thread handles kept */
#define REREPORT_NS 10000000LL        /* an unknown address re-reads the mappings, at most
                                         every 10 ms (addresses still unknown after that are
                                         remembered until the next re-read) */
#define UNKNOWN_MAX 4096
#define PAGE 4096u
#define PAGE_SLOTS 64                 /* pages of the target cached during one unwind */
#define PAGE_BATCH 8                  /* pages read ahead by one miss (stacks grow down, so
                                         the frames to come are at higher addresses) */
#define CTX_MAGIC 0x7079707266756e77ULL

/*
 * The argument libunwind passes to our accessors during one unwind. Memory comes from
 * process_vm_readv through a page cache, registers from one PTRACE_GETREGS: libunwind's own
 * _UPT accessors read a word (PTRACE_PEEKDATA) or a register (PTRACE_PEEKUSER) per syscall.
 * Looking up unwind tables stays with _UPT_find_proc_info, which passes the _UPT handle, not
 * this, to the memory accessor; the magic tells the two apart.
 */
struct unw_ctx {
    uint64_t magic;
    pid_t tid;
    void *upt;                       /* the thread's _UPT handle */
    struct user_regs_struct regs;
    uint64_t gen;                    /* bumped per unwind: older pages are stale */
    uint64_t page_addr[PAGE_SLOTS];
    uint64_t page_gen[PAGE_SLOTS];
    uint8_t pages[PAGE_SLOTS][PAGE];
    uint64_t reads;                  /* process_vm_readv calls */
};

struct cached_sym {
    char *name;
    const char *object;   /* owned by the objects list */
    uint64_t offset;
    uint8_t kind;
};

struct upt_slot {
    pid_t tid;
    void *upt;
};

struct unwinder {
    pid_t pid;
    char *interp_base;               /* basename of the interpreter's ELF */
    Dwfl_Module *interp;             /* its module in the Dwfl, or NULL */
    unw_addr_space_t as;
    struct unw_ctx *ctx;
    Dwfl *dwfl;
    struct procmaps maps;            /* the mappings as of the last report: the truth about
                                      * which file is at an address (Dwfl's module ranges span
                                      * the gaps between a file's segments, where the kernel
                                      * may place another library later) */
    int64_t reported_ns;

    struct upt_slot *upts;
    size_t n_upts, cap_upts;

    struct pp_u64map *sym_index;     /* pc * 2 + is_return -> index in syms */
    struct pp_u64map *unknown;       /* addresses in no module at the last re-read */
    struct cached_sym *syms;
    size_t n_syms, cap_syms;
    char **objects;                  /* object basenames, owned */
    size_t n_objects, cap_objects;
};

static const Dwfl_Callbacks dwfl_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
};

/* The cached page at @page (page-aligned), reading it and the next few on a miss. */
static const uint8_t *ctx_page(struct unw_ctx *c, uint64_t page)
{
    struct iovec local[PAGE_BATCH], remote;
    size_t slot = (page / PAGE) % PAGE_SLOTS, n = 0;
    ssize_t got;

    if (c->page_gen[slot] == c->gen && c->page_addr[slot] == page)
        return c->pages[slot];
    /* Read ahead into the slots the next pages map to (consecutive pages, consecutive slots). */
    for (; n < PAGE_BATCH; n++) {
        size_t s = (page / PAGE + n) % PAGE_SLOTS;

        if (n && c->page_gen[s] == c->gen && c->page_addr[s] == page + n * PAGE)
            break;
        local[n] = (struct iovec){ .iov_base = c->pages[s], .iov_len = PAGE };
    }
    remote = (struct iovec){ .iov_base = (void *)(uintptr_t)page, .iov_len = n * PAGE };
    got = process_vm_readv(c->tid, local, n, &remote, 1, 0);
    c->reads++;
    if (got < (ssize_t)PAGE)
        return NULL;
    for (size_t i = 0; i < (size_t)got / PAGE; i++) {
        size_t s = (page / PAGE + i) % PAGE_SLOTS;

        c->page_addr[s] = page + i * PAGE;
        c->page_gen[s] = c->gen;
    }
    return c->pages[slot];
}

static int acc_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg)
{
    struct unw_ctx *c = arg;
    uint8_t buf[sizeof(*val)];

    if (c->magic != CTX_MAGIC)
        return _UPT_access_mem(as, addr, val, write, arg);
    if (write)
        return -UNW_EINVAL;
    for (size_t i = 0; i < sizeof(buf);) {
        uint64_t a = addr + i, off = a % PAGE;
        const uint8_t *p = ctx_page(c, a - off);
        size_t k = PAGE - off < sizeof(buf) - i ? PAGE - off : sizeof(buf) - i;

        if (!p)
            return -UNW_EINVAL;
        memcpy(buf + i, p + off, k);
        i += k;
    }
    memcpy(val, buf, sizeof(buf));
    return 0;
}

static int acc_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write, void *arg)
{
    const struct unw_ctx *c = arg;
    const struct user_regs_struct *r = &c->regs;
    unsigned long long v;

    if (write)
        return -UNW_EREADONLYREG;
    switch (reg) {
    case UNW_X86_64_RAX: v = r->rax; break;
    case UNW_X86_64_RDX: v = r->rdx; break;
    case UNW_X86_64_RCX: v = r->rcx; break;
    case UNW_X86_64_RBX: v = r->rbx; break;
    case UNW_X86_64_RSI: v = r->rsi; break;
    case UNW_X86_64_RDI: v = r->rdi; break;
    case UNW_X86_64_RBP: v = r->rbp; break;
    case UNW_X86_64_RSP: v = r->rsp; break;
    case UNW_X86_64_R8: v = r->r8; break;
    case UNW_X86_64_R9: v = r->r9; break;
    case UNW_X86_64_R10: v = r->r10; break;
    case UNW_X86_64_R11: v = r->r11; break;
    case UNW_X86_64_R12: v = r->r12; break;
    case UNW_X86_64_R13: v = r->r13; break;
    case UNW_X86_64_R14: v = r->r14; break;
    case UNW_X86_64_R15: v = r->r15; break;
    case UNW_X86_64_RIP: v = r->rip; break;
    default: return -UNW_EBADREG;
    }
    *val = (unw_word_t)v;
    return 0;
}

static int acc_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
                     void *arg)
{
    return -UNW_EBADREG;
}

static int acc_find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
                              int need_unwind_info, void *arg)
{
    return _UPT_find_proc_info(as, ip, pi, need_unwind_info, ((struct unw_ctx *)arg)->upt);
}

static void acc_put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
    _UPT_put_unwind_info(as, pi, ((struct unw_ctx *)arg)->upt);
}

static int acc_get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr, void *arg)
{
    return _UPT_get_dyn_info_list_addr(as, addr, ((struct unw_ctx *)arg)->upt);
}

static int acc_resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
    return -UNW_EINVAL;
}

static int acc_get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
                             unw_word_t *off, void *arg)
{
    return _UPT_get_proc_name(as, addr, buf, len, off, ((struct unw_ctx *)arg)->upt);
}

static unw_accessors_t accessors = {
    .find_proc_info = acc_find_proc_info,
    .put_unwind_info = acc_put_unwind_info,
    .get_dyn_info_list_addr = acc_get_dyn_info_list_addr,
    .access_mem = acc_mem,
    .access_reg = acc_reg,
    .access_fpreg = acc_fpreg,
    .resume = acc_resume,
    .get_proc_name = acc_get_proc_name,
};

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');

    return b ? b + 1 : path;
}

static int find_interp(Dwfl_Module *m, void **userdata, const char *name, Dwarf_Addr start,
                       void *arg)
{
    struct unwinder *u = arg;

    if (name && !strcmp(base_name(name), u->interp_base)) {
        u->interp = m;
        return DWARF_CB_ABORT;
    }
    return DWARF_CB_OK;
}

/* (Re)read the target's mappings into the Dwfl and locate the interpreter's object. */
static int report(struct unwinder *u)
{
    u->reported_ns = mono_ns();
    procmaps_free(&u->maps);
    if (procmaps_load(&u->maps, u->pid) == -ENOMEM)
        return pp_err_origin(-ENOMEM);
    dwfl_report_begin(u->dwfl);
    if (dwfl_linux_proc_report(u->dwfl, u->pid) != 0) {
        dwfl_report_end(u->dwfl, NULL, NULL);
        return UNWIND_E_GONE;
    }
    if (dwfl_report_end(u->dwfl, NULL, NULL) != 0)
        return pp_err_origin(-ENOMEM);
    u->interp = NULL;
    dwfl_getmodules(u->dwfl, find_interp, u, 0);
    return 0;
}

int unwinder_new(struct unwinder **out, pid_t pid, const char *interp_path)
{
    struct unwinder *u = calloc(1, sizeof(*u));
    int r = -ENOMEM;

    if (!u)
        return pp_err_origin(-ENOMEM);
    u->pid = pid;
    u->interp_base = strdup(base_name(interp_path));
    if (!u->interp_base)
        goto fail;
    u->ctx = calloc(1, sizeof(*u->ctx));
    if (!u->ctx)
        goto fail;
    u->ctx->magic = CTX_MAGIC;
    u->as = unw_create_addr_space(&accessors, 0);
    if (!u->as)
        goto fail;
    /* Unwind info parsed once per object, not once per sample: the biggest lever (14-19x). */
    unw_set_caching_policy(u->as, UNW_CACHE_GLOBAL);
    u->dwfl = dwfl_begin(&dwfl_callbacks);
    if (!u->dwfl)
        goto fail;
    r = pp_u64map_new(&u->sym_index, SYM_CACHE_MAX * 2);
    if (!r)
        r = pp_u64map_new(&u->unknown, UNKNOWN_MAX);
    if (r)
        goto fail;
    r = report(u);
    if (r) {
        r = r < 0 ? r : -ESRCH;
        goto fail;
    }
    *out = u;
    return 0;
fail:
    unwinder_free(u);
    return pp_err_origin(r);
}

static void clear_syms(struct unwinder *u)
{
    for (size_t i = 0; i < u->n_syms; i++)
        free(u->syms[i].name);
    u->n_syms = 0;
    pp_u64map_clear(u->sym_index);
}

struct unwinder *unwinder_free(struct unwinder *u)
{
    if (!u)
        return NULL;
    for (size_t i = 0; i < u->n_upts; i++)
        _UPT_destroy(u->upts[i].upt);
    free(u->upts);
    if (u->as)
        unw_destroy_addr_space(u->as);
    if (u->dwfl)
        dwfl_end(u->dwfl);
    clear_syms(u);
    free(u->syms);
    pp_u64map_free(u->sym_index);
    pp_u64map_free(u->unknown);
    for (size_t i = 0; i < u->n_objects; i++)
        free(u->objects[i]);
    free(u->objects);
    free(u->interp_base);
    free(u->ctx);
    procmaps_free(&u->maps);
    free(u);
    return NULL;
}

/* The _UPT handle of @tid, created on first use. NULL on -ENOMEM. */
static void *thread_upt(struct unwinder *u, pid_t tid)
{
    void *upt;

    for (size_t i = 0; i < u->n_upts; i++)
        if (u->upts[i].tid == tid)
            return u->upts[i].upt;
    if (u->n_upts == u->cap_upts) {
        size_t cap = u->cap_upts ? u->cap_upts * 2 : 16;
        struct upt_slot *n;

        if (cap > UPT_MAX) {
            /* Many short-lived threads: start over rather than grow without bound. */
            for (size_t i = 0; i < u->n_upts; i++)
                _UPT_destroy(u->upts[i].upt);
            u->n_upts = 0;
        } else {
            n = realloc(u->upts, cap * sizeof(*n));
            if (!n)
                return NULL;
            u->upts = n;
            u->cap_upts = cap;
        }
    }
    upt = _UPT_create(tid);
    if (!upt)
        return NULL;
    u->upts[u->n_upts++] = (struct upt_slot){ .tid = tid, .upt = upt };
    return upt;
}

void unwinder_forget_thread(struct unwinder *u, pid_t tid)
{
    for (size_t i = 0; i < u->n_upts; i++) {
        if (u->upts[i].tid != tid)
            continue;
        _UPT_destroy(u->upts[i].upt);
        u->upts[i] = u->upts[--u->n_upts];
        return;
    }
}

int unwinder_unwind(struct unwinder *u, pid_t tid, uint64_t *ips, size_t max, size_t *n)
{
    unw_cursor_t cursor;
    void *upt = thread_upt(u, tid);
    size_t k = 0;
    int r;

    *n = 0;
    if (!upt)
        return pp_err_origin(-ENOMEM);
    u->ctx->tid = tid;
    u->ctx->upt = upt;
    u->ctx->gen++;
    if (ptrace(PTRACE_GETREGS, tid, 0, &u->ctx->regs) < 0)
        return errno == ESRCH ? UNWIND_E_GONE : UNWIND_E_FAIL;
    r = unw_init_remote(&cursor, u->as, u->ctx);
    if (r < 0)
        return r == -UNW_EBADREG || r == -UNW_EUNSPEC ? UNWIND_E_GONE : UNWIND_E_FAIL;
    while (k < max) {
        unw_word_t ip = 0;

        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || !ip)
            break;
        /* A repeated frame (same IP and stack pointer) means the unwinder is stuck. */
        ips[k++] = ip;
        if (unw_step(&cursor) <= 0)
            break;
    }
    *n = k;
    return k ? 0 : UNWIND_E_FAIL;
}

/* The owned copy of an object basename, shared by every symbol of that object. */
static const char *object_name(struct unwinder *u, const char *path)
{
    const char *base;

    if (!path)
        return NULL;
    base = base_name(path);
    for (size_t i = u->n_objects; i-- > 0;)
        if (!strcmp(u->objects[i], base))
            return u->objects[i];
    if (u->n_objects == u->cap_objects) {
        size_t cap = u->cap_objects ? u->cap_objects * 2 : 32;
        char **n = realloc(u->objects, cap * sizeof(*n));

        if (!n)
            return NULL;
        u->objects = n;
        u->cap_objects = cap;
    }
    u->objects[u->n_objects] = strdup(base);
    return u->objects[u->n_objects] ? u->objects[u->n_objects++] : NULL;
}

struct by_name {
    const char *base;
    Dwfl_Module *found;
};

static int match_name(Dwfl_Module *m, void **userdata, const char *name, Dwarf_Addr start,
                      void *arg)
{
    struct by_name *b = arg;
    const char *mainfile = NULL;

    dwfl_module_info(m, NULL, NULL, NULL, NULL, NULL, &mainfile, NULL);
    if ((mainfile && !strcmp(base_name(mainfile), b->base)) ||
        (name && !strcmp(base_name(name), b->base))) {
        b->found = m;
        return DWARF_CB_ABORT;
    }
    return DWARF_CB_OK;
}

/*
 * The module of the file mapped at @addr. Dwfl's own lookup can answer with a neighbour whose
 * range covers a gap @addr sits in, so the answer is checked against /proc/PID/maps and, when
 * it differs, the module is looked up by the file's name. NULL when @addr is in no file mapping
 * Dwfl knows.
 */
static Dwfl_Module *module_at(struct unwinder *u, uint64_t addr)
{
    const struct procmap *pm = procmaps_find(&u->maps, addr);
    Dwfl_Module *m = dwfl_addrmodule(u->dwfl, addr);
    const char *mainfile = NULL, *name;
    struct by_name b;

    if (!pm || !pm->path || !pm->path[0])
        return m; /* not in the maps read at the last report: Dwfl's answer or none */
    b.base = base_name(pm->path);
    if (m) {
        name = dwfl_module_info(m, NULL, NULL, NULL, NULL, NULL, &mainfile, NULL);
        if ((mainfile && !strcmp(base_name(mainfile), b.base)) ||
            (name && !strcmp(base_name(name), b.base)))
            return m;
    }
    b.found = NULL;
    dwfl_getmodules(u->dwfl, match_name, &b, 0);
    return b.found;
}

static bool is_eval_name(const char *name)
{
    static const char eval[] = "_PyEval_EvalFrameDefault";
    size_t n = sizeof(eval) - 1;

    /* gcc may split the function: "_PyEval_EvalFrameDefault.cold" is the same frame. */
    return name && !strncmp(name, eval, n) && (name[n] == '\0' || name[n] == '.');
}

int unwinder_symbol(struct unwinder *u, uint64_t ip, bool is_return, struct unwind_sym *out)
{
    uint64_t key = ip * 2 + (is_return ? 1 : 0), idx, addr = is_return && ip ? ip - 1 : ip;
    struct cached_sym cs = { 0 };
    Dwfl_Module *m;

    if (!pp_u64map_get(u->sym_index, key, &idx)) {
        const struct cached_sym *c = &u->syms[idx];

        *out = (struct unwind_sym){ .name = c->name, .object = c->object, .offset = c->offset,
                                    .kind = c->kind };
        return 0;
    }
    m = procmaps_find(&u->maps, addr) ? module_at(u, addr) : NULL;
    if (!m && pp_u64map_get(u->unknown, addr, &idx) && mono_ns() - u->reported_ns > REREPORT_NS) {
        /* Perhaps a library loaded since: read the mappings again. */
        if (report(u) < 0)
            return pp_err_origin(-ENOMEM);
        pp_u64map_clear(u->unknown);
        m = module_at(u, addr);
    }
    if (!m && pp_u64map_put(u->unknown, addr, 1) == PP_U64MAP_E_FULL)
        pp_u64map_clear(u->unknown);
    if (m) {
        Dwarf_Addr lo = 0;
        const char *mainfile = NULL, *mname, *sname;
        GElf_Off off = 0;
        GElf_Sym sym;

        mname = dwfl_module_info(m, NULL, &lo, NULL, NULL, NULL, &mainfile, NULL);
        cs.object = object_name(u, mainfile ? mainfile : mname);
        sname = dwfl_module_addrinfo(m, addr, &off, &sym, NULL, NULL, NULL);
        if (sname) {
            cs.name = strdup(sname);
            if (!cs.name)
                return pp_err_origin(-ENOMEM);
            cs.offset = off;
        } else {
            cs.offset = addr - lo;
        }
        if (is_eval_name(sname))
            cs.kind = UNWIND_EVAL;
        else if (m == u->interp)
            cs.kind = UNWIND_INTERP;
    } else {
        /* Not mapped as far as we know: perhaps loaded later. Answer, but do not cache. */
        *out = (struct unwind_sym){ .offset = ip };
        return 0;
    }
    if (u->n_syms == SYM_CACHE_MAX)
        clear_syms(u);
    if (u->n_syms == u->cap_syms) {
        size_t cap = u->cap_syms ? u->cap_syms * 2 : 256;
        struct cached_sym *n = realloc(u->syms, cap * sizeof(*n));

        if (!n) {
            free(cs.name);
            return pp_err_origin(-ENOMEM);
        }
        u->syms = n;
        u->cap_syms = cap;
    }
    u->syms[u->n_syms] = cs;
    pp_u64map_put(u->sym_index, key, u->n_syms);
    u->n_syms++;
    *out = (struct unwind_sym){ .name = cs.name, .object = cs.object, .offset = cs.offset,
                                .kind = cs.kind };
    return 0;
}
