/* SPDX-License-Identifier: MIT */
/* elfsym: look up symbols, sections and the load delta of an ELF file with libelf. */
#pragma once

#include <stdint.h>

struct elfsym;

enum {
    ELFSYM_E_NONE = 0,
    ELFSYM_E_OPEN,    /* the file could not be opened */
    ELFSYM_E_NOTELF,  /* not an ELF file, or not a 64-bit little-endian one */
    ELFSYM_E_MISSING, /* no such symbol or section */
};

/*
 * elfsym_open() - open the ELF file at @path (read-only; the file is never executed). Returns 0
 * and *out, ELFSYM_E_OPEN, ELFSYM_E_NOTELF, or -ENOMEM.
 */
int elfsym_open(struct elfsym **out, const char *path);

/* elfsym_close() - NULL-safe. Returns NULL. */
struct elfsym *elfsym_close(struct elfsym *e);

/*
 * elfsym_lookup() - the link-time address (st_value) and size of the defined symbol @name,
 * searched in .dynsym then .symtab. 0 or ELFSYM_E_MISSING. Outputs may be NULL.
 */
int elfsym_lookup(struct elfsym *e, const char *name, uint64_t *out_addr, uint64_t *out_size);

/* elfsym_section() - link-time address and size of section @name. 0 or ELFSYM_E_MISSING. */
int elfsym_section(struct elfsym *e, const char *name, uint64_t *out_addr, uint64_t *out_size);

/*
 * elfsym_load_delta() - p_vaddr - p_offset of the first PT_LOAD segment: subtract it from
 * (mapping start - mapping file offset) to get the load bias. 0 for typical PIE/shared objects,
 * 0x400000 for classic non-PIE executables.
 */
uint64_t elfsym_load_delta(const struct elfsym *e);
