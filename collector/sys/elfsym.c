/* SPDX-License-Identifier: MIT */
/* elfsym: look up symbols, sections and the load delta of an ELF file with libelf. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pyprof/err.h"
#include "sys/elfsym.h"

struct elfsym {
    int fd;
    Elf *elf;
    size_t shstrndx;
    uint64_t load_delta;
};

struct elfsym *elfsym_close(struct elfsym *e)
{
    if (!e)
        return NULL;
    if (e->elf)
        elf_end(e->elf);
    if (e->fd >= 0)
        close(e->fd);
    free(e);
    return NULL;
}

int elfsym_open(struct elfsym **out, const char *path)
{
    struct elfsym *e;
    GElf_Ehdr ehdr;
    size_t n_phdr = 0;
    int r = 0;

    if (elf_version(EV_CURRENT) == EV_NONE)
        return pp_err_origin(-EINVAL);
    e = calloc(1, sizeof(*e));
    if (!e)
        return pp_err_origin(-ENOMEM);
    e->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (e->fd < 0) {
        r = ELFSYM_E_OPEN;
        goto out;
    }
    e->elf = elf_begin(e->fd, ELF_C_READ_MMAP, NULL);
    if (!e->elf || elf_kind(e->elf) != ELF_K_ELF || !gelf_getehdr(e->elf, &ehdr) ||
        ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_ident[EI_DATA] != ELFDATA2LSB ||
        elf_getshdrstrndx(e->elf, &e->shstrndx) != 0) {
        r = ELFSYM_E_NOTELF;
        goto out;
    }
    if (elf_getphdrnum(e->elf, &n_phdr) == 0) {
        for (size_t i = 0; i < n_phdr; i++) {
            GElf_Phdr ph;

            if (gelf_getphdr(e->elf, (int)i, &ph) && ph.p_type == PT_LOAD) {
                e->load_delta = (ph.p_vaddr - ph.p_offset) & ~(uint64_t)0xfff;
                break;
            }
        }
    }
    *out = e;
    e = NULL;
out:
    elfsym_close(e);
    return r;
}

static Elf_Scn *find_section(struct elfsym *e, const char *name, Elf64_Word type, GElf_Shdr *sh)
{
    Elf_Scn *scn = NULL;

    while ((scn = elf_nextscn(e->elf, scn))) {
        const char *n;

        if (!gelf_getshdr(scn, sh))
            continue;
        if (type != SHT_NULL && sh->sh_type != type)
            continue;
        n = elf_strptr(e->elf, e->shstrndx, sh->sh_name);
        if (n && !strcmp(n, name))
            return scn;
    }
    return NULL;
}

/* Search one symbol table section for a defined symbol named @name. */
static int lookup_in(struct elfsym *e, Elf_Scn *scn, const GElf_Shdr *sh, const char *name,
                     GElf_Sym *out)
{
    Elf_Data *data = elf_getdata(scn, NULL);
    size_t n;

    if (!data || !sh->sh_entsize)
        return ELFSYM_E_MISSING;
    n = sh->sh_size / sh->sh_entsize;
    for (size_t i = 0; i < n; i++) {
        GElf_Sym sym;
        const char *s;

        if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_value)
            continue;
        s = elf_strptr(e->elf, sh->sh_link, sym.st_name);
        if (s && !strcmp(s, name)) {
            *out = sym;
            return 0;
        }
    }
    return ELFSYM_E_MISSING;
}

int elfsym_lookup(struct elfsym *e, const char *name, uint64_t *out_addr, uint64_t *out_size)
{
    static const char *const tables[] = { ".dynsym", ".symtab" };
    static const Elf64_Word types[] = { SHT_DYNSYM, SHT_SYMTAB };

    for (size_t t = 0; t < 2; t++) {
        GElf_Shdr sh;
        GElf_Sym sym;
        Elf_Scn *scn = find_section(e, tables[t], types[t], &sh);

        if (scn && lookup_in(e, scn, &sh, name, &sym) == 0) {
            if (out_addr)
                *out_addr = sym.st_value;
            if (out_size)
                *out_size = sym.st_size;
            return 0;
        }
    }
    return ELFSYM_E_MISSING;
}

int elfsym_section(struct elfsym *e, const char *name, uint64_t *out_addr, uint64_t *out_size)
{
    GElf_Shdr sh;

    if (!find_section(e, name, SHT_NULL, &sh))
        return ELFSYM_E_MISSING;
    if (out_addr)
        *out_addr = sh.sh_addr;
    if (out_size)
        *out_size = sh.sh_size;
    return 0;
}

uint64_t elfsym_load_delta(const struct elfsym *e)
{
    return e->load_delta;
}
