/* SPDX-License-Identifier: MIT */
/* test-linetable: linetable_line() against golden data from each CPython minor, plus edge cases. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "py/linetable.h"
#include "t.h"

/* The golden files that must exist (tools/gen-linetable-golden.py writes one per minor). */
static const unsigned required_minors[] = {8, 9, 10, 11, 12, 13};

#define N_REQUIRED (sizeof(required_minors) / sizeof(required_minors[0]))
#define MAX_REPORTED 10 /* mismatches printed per file; all are counted */

/* ===  Golden files  ========================================================================== */

struct golden_counts {
    unsigned long n_records;
    unsigned long n_offsets;
    unsigned long n_bad;      /* mismatching offsets and malformed records */
};

static enum py_linetable_model model_of(unsigned minor)
{
    if (minor <= 9)
        return PY_LINES_LNOTAB;
    if (minor == 10)
        return PY_LINES_PEP626;
    return PY_LINES_PEP657;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * Decodes the hex string @hex ("-" = empty) into a fresh buffer of exactly the table's length, so
 * that ASan/valgrind catch any read past it. Returns 0 with *out (NULL when empty), or -1.
 */
static int decode_hex(const char *hex, uint8_t **out, size_t *out_len)
{
    size_t n = strlen(hex);

    *out = NULL;
    *out_len = 0;
    if (strcmp(hex, "-") == 0)
        return 0;
    if (n == 0 || n % 2)
        return -1;
    uint8_t *buf = malloc(n / 2);
    if (!buf)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(buf);
            return -1;
        }
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = buf;
    *out_len = n / 2;
    return 0;
}

static void report(struct golden_counts *c, const char *file, unsigned long lineno,
                   const char *name, const char *what)
{
    if (c->n_bad++ < MAX_REPORTED)
        fprintf(stderr, "%s:%lu (%s): %s\n", file, lineno, name, what);
}

/*
 * Checks one record "R <version> <name> <firstlineno> <ncode> <table> <lines>" (split in place
 * from @line): every offset's expected line, and for 3.10+ that offset ncode has no line.
 */
static void check_record(struct golden_counts *c, const char *file, unsigned long lineno,
                         char *line, unsigned minor)
{
    char *save = NULL, *field[7];
    char msg[256];

    for (int i = 0; i < 7; i++) {
        field[i] = strtok_r(i ? NULL : line, " \n", &save);
        if (!field[i]) {
            report(c, file, lineno, "?", "malformed record");
            return;
        }
    }
    const char *name = field[2];
    unsigned rec_major, rec_minor;
    if (sscanf(field[1], "%u.%u", &rec_major, &rec_minor) != 2 || rec_major != 3 ||
        rec_minor != minor) {
        report(c, file, lineno, name, "record version does not match the file name");
        return;
    }

    char *end, *end_fl;
    long firstlineno = strtol(field[3], &end_fl, 10);
    unsigned long ncode = strtoul(field[4], &end, 10);
    uint8_t *table;
    size_t len;
    if (*end_fl || *end || ncode % 2 || decode_hex(field[5], &table, &len) < 0) {
        report(c, file, lineno, name, "malformed ncode or table");
        return;
    }

    enum py_linetable_model model = model_of(minor);
    unsigned long addr = 0;
    char *item = field[6];
    while (*item) {
        unsigned long want = strtoul(item, &end, 10), count = 1;
        if (*end == 'x')
            count = strtoul(end + 1, &end, 10);
        if (end == item || (*end && *end != ',') || count == 0) {
            report(c, file, lineno, name, "malformed lines");
            goto out;
        }
        item = *end ? end + 1 : end;
        for (unsigned long k = 0; k < count; k++, addr += 2) {
            uint32_t got = linetable_line(model, table, len, (int)firstlineno, (uint32_t)addr);
            c->n_offsets++;
            if (got != want) {
                snprintf(msg, sizeof(msg), "offset %lu: got line %u, want %lu", addr, got, want);
                report(c, file, lineno, name, msg);
            }
        }
    }
    if (addr != ncode) {
        snprintf(msg, sizeof(msg), "lines cover %lu bytes, code has %lu", addr, ncode);
        report(c, file, lineno, name, msg);
    }
    if (model != PY_LINES_LNOTAB &&
        linetable_line(model, table, len, (int)firstlineno, (uint32_t)ncode) != 0)
        report(c, file, lineno, name, "offset ncode (past the code) has a line");
    c->n_records++;
out:
    free(table);
}

/* Checks every record of the golden file of minor @minor; returns 0 if it has >= 1 record. */
static int check_file(const char *dir, unsigned minor)
{
    struct golden_counts c = {0};
    char path[4096 + 32]; /* @dir is < 4096 bytes */
    char *line = NULL;
    size_t cap = 0;
    unsigned long lineno = 0;

    snprintf(path, sizeof(path), "%s/3.%u.txt", dir, minor);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (strncmp(line, "R ", 2) != 0) {
            report(&c, path, lineno, "?", "unknown line");
            continue;
        }
        check_record(&c, path, lineno, line, minor);
    }
    free(line);
    fclose(f);
    printf("3.%u: %lu records, %lu offsets checked, %lu bad\n", minor, c.n_records, c.n_offsets,
           c.n_bad);
    T_EQ_INT(c.n_bad, 0);
    if (c.n_records == 0) {
        fprintf(stderr, "%s: no records\n", path);
        return -1;
    }
    return 0;
}

/* Checks every 3.X.txt of the golden directory, in order; each required minor must be there. */
static void test_golden(void)
{
    const char *srcdir = getenv("PYPROF_SRCDIR");
    char dir[4096];
    uint64_t minors = 0; /* bit X: 3.X.txt exists */

    T_ASSERT(srcdir != NULL);
    if (!srcdir)
        return;
    snprintf(dir, sizeof(dir), "%s/tests/golden/linetable", srcdir);
    DIR *d = opendir(dir);
    T_ASSERT(d != NULL);
    if (!d) {
        fprintf(stderr, "%s: %s\n", dir, strerror(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        unsigned minor;
        char tail[8];
        if (sscanf(e->d_name, "3.%u%7s", &minor, tail) != 2 || strcmp(tail, ".txt") != 0)
            continue;
        T_ASSERT(minor < 64);
        if (minor < 64)
            minors |= (uint64_t)1 << minor;
    }
    closedir(d);
    for (unsigned minor = 0; minor < 64; minor++) {
        if (minors & ((uint64_t)1 << minor))
            T_EQ_INT(check_file(dir, minor), 0);
    }
    for (size_t i = 0; i < N_REQUIRED; i++) {
        unsigned minor = required_minors[i];
        if (!(minors & ((uint64_t)1 << minor)))
            fprintf(stderr, "%s/3.%u.txt: missing\n", dir, minor);
        T_ASSERT(minors & ((uint64_t)1 << minor));
    }
}

/* ===  Hand-written edge cases  =============================================================== */

#define LINE(model, tab, fl, addr) linetable_line(model, tab, sizeof(tab), fl, addr)

static void test_empty(void)
{
    static const uint8_t none[1] = {0};

    /* lnotab: no pairs means firstlineno everywhere (CPython's PyCode_Addr2Line) */
    T_EQ_INT(linetable_line(PY_LINES_LNOTAB, NULL, 0, 5, 0), 5);
    T_EQ_INT(linetable_line(PY_LINES_LNOTAB, none, 0, 5, 100), 5);
    T_EQ_INT(linetable_line(PY_LINES_PEP626, NULL, 0, 5, 0), 0);
    T_EQ_INT(linetable_line(PY_LINES_PEP626, none, 0, 5, 0), 0);
    T_EQ_INT(linetable_line(PY_LINES_PEP657, NULL, 0, 5, 0), 0);
    T_EQ_INT(linetable_line(PY_LINES_PEP657, none, 0, 5, 0), 0);
    /* a NULL table is empty whatever the length says */
    T_EQ_INT(linetable_line(PY_LINES_PEP657, NULL, 64, 5, 0), 0);
    T_EQ_INT(linetable_line((enum py_linetable_model)99, none, 1, 5, 0), 0);
}

static void test_truncated(void)
{
    /* kind 14 (long form), one code unit, whose line varint says "more follows" at the end */
    static const uint8_t long_cut[] = {0xf0, 0x41};
    T_EQ_INT(LINE(PY_LINES_PEP657, long_cut, 10, 0), 0);
    T_EQ_INT(LINE(PY_LINES_PEP657, long_cut, 10, 2), 0);

    /* a good entry (kind 13, +2), then a cut one: the bytes past len would make it valid */
    static const uint8_t cut[] = {0xe8, 0x04, 0xe8, 0x42, 0x02};
    T_EQ_INT(linetable_line(PY_LINES_PEP657, cut, 4, 10, 0), 12);
    T_EQ_INT(linetable_line(PY_LINES_PEP657, cut, 4, 10, 2), 0);
    T_EQ_INT(linetable_line(PY_LINES_PEP657, cut, 5, 10, 2), 12 + 65); /* zigzag 130 = +65 */

    /* a kind-13 entry with nothing after its first byte */
    static const uint8_t bare[] = {0xe8};
    T_EQ_INT(LINE(PY_LINES_PEP657, bare, 10, 0), 0);

    /* a varint of more chunks than any 32-bit value needs */
    static const uint8_t huge[] = {0xe8, 0x40, 0x40, 0x40, 0x40, 0x40, 0x00};
    T_EQ_INT(LINE(PY_LINES_PEP657, huge, 10, 0), 0);

    /* odd trailing byte: ignored by lnotab (len / 2 pairs) and the PEP 626 table */
    static const uint8_t odd[] = {2, 1, 5};
    T_EQ_INT(LINE(PY_LINES_LNOTAB, odd, 1, 0), 1);
    T_EQ_INT(LINE(PY_LINES_LNOTAB, odd, 1, 10), 2);
    T_EQ_INT(LINE(PY_LINES_PEP626, odd, 1, 0), 2);
    T_EQ_INT(LINE(PY_LINES_PEP626, odd, 1, 2), 0);
}

static void test_beyond_end(void)
{
    /* lnotab has no end: the last line holds for every later offset, as in CPython */
    static const uint8_t lnotab[] = {4, 1};
    T_EQ_INT(LINE(PY_LINES_LNOTAB, lnotab, 10, 0), 10);
    T_EQ_INT(LINE(PY_LINES_LNOTAB, lnotab, 10, 3), 10);
    T_EQ_INT(LINE(PY_LINES_LNOTAB, lnotab, 10, 4), 11);
    T_EQ_INT(LINE(PY_LINES_LNOTAB, lnotab, 10, UINT32_MAX), 11);

    static const uint8_t pep626[] = {2, 1};
    T_EQ_INT(LINE(PY_LINES_PEP626, pep626, 10, 0), 11);
    T_EQ_INT(LINE(PY_LINES_PEP626, pep626, 10, 1), 11);
    T_EQ_INT(LINE(PY_LINES_PEP626, pep626, 10, 2), 0);
    T_EQ_INT(LINE(PY_LINES_PEP626, pep626, 10, UINT32_MAX), 0);

    /* kind 10 (one line, +0), one code unit, columns 0..5 */
    static const uint8_t pep657[] = {0xd0, 0x00, 0x05};
    T_EQ_INT(LINE(PY_LINES_PEP657, pep657, 10, 0), 10);
    T_EQ_INT(LINE(PY_LINES_PEP657, pep657, 10, 1), 10);
    T_EQ_INT(LINE(PY_LINES_PEP657, pep657, 10, 2), 0);
    T_EQ_INT(LINE(PY_LINES_PEP657, pep657, 10, UINT32_MAX), 0);
}

static void test_negative(void)
{
    /* lnotab: +10 then -10 (0xf6), and -128 (0x80) below line 1 is no line */
    static const uint8_t lnotab[] = {2, 10, 2, 0xf6};
    T_EQ_INT(LINE(PY_LINES_LNOTAB, lnotab, 100, 0), 100);
    T_EQ_INT(LINE(PY_LINES_LNOTAB, lnotab, 100, 2), 110);
    T_EQ_INT(LINE(PY_LINES_LNOTAB, lnotab, 100, 4), 100);
    static const uint8_t below[] = {0, 0x80, 2, 0};
    T_EQ_INT(LINE(PY_LINES_LNOTAB, below, 200, 0), 72);
    T_EQ_INT(LINE(PY_LINES_LNOTAB, below, 1, 0), 0);

    /* PEP 626: +5, -3, no line (-128 leaves the running line alone), +1 */
    static const uint8_t pep626[] = {2, 5, 2, 0xfd, 2, 0x80, 2, 1};
    T_EQ_INT(LINE(PY_LINES_PEP626, pep626, 20, 0), 25);
    T_EQ_INT(LINE(PY_LINES_PEP626, pep626, 20, 2), 22);
    T_EQ_INT(LINE(PY_LINES_PEP626, pep626, 20, 4), 0);
    T_EQ_INT(LINE(PY_LINES_PEP626, pep626, 20, 6), 23);

    /* PEP 626 splits: +254 (0, 127 twice), then a 508-byte range (254, d), (254, 0) */
    static const uint8_t split[] = {0, 127, 0, 127, 254, 46, 254, 0, 2, 0x81};
    T_EQ_INT(LINE(PY_LINES_PEP626, split, 1, 0), 301);
    T_EQ_INT(LINE(PY_LINES_PEP626, split, 1, 507), 301);
    T_EQ_INT(LINE(PY_LINES_PEP626, split, 1, 508), 174);
    T_EQ_INT(LINE(PY_LINES_PEP626, split, 1, 510), 0);

    /* PEP 657: kind 13 -3 (zigzag 7), kind 13 +10 over two units (20), kind 15 (no location) */
    static const uint8_t pep657[] = {0xe8, 0x07, 0xe9, 0x14, 0xf8};
    T_EQ_INT(LINE(PY_LINES_PEP657, pep657, 50, 0), 47);
    T_EQ_INT(LINE(PY_LINES_PEP657, pep657, 50, 2), 57);
    T_EQ_INT(LINE(PY_LINES_PEP657, pep657, 50, 4), 57);
    T_EQ_INT(LINE(PY_LINES_PEP657, pep657, 50, 6), 0);
    T_EQ_INT(LINE(PY_LINES_PEP657, pep657, 50, 8), 0);

    /* a module's RESUME: line firstlineno - 1 = 0, reported as "no line" */
    static const uint8_t resume[] = {0xf0, 0x03, 0x01, 0x01, 0x01, 0xd8, 0x00, 0x05};
    T_EQ_INT(LINE(PY_LINES_PEP657, resume, 1, 0), 0);
    T_EQ_INT(LINE(PY_LINES_PEP657, resume, 1, 2), 1);
}

static void test_pep657_forms(void)
{
    /* kind 14 +5000 over 3 varint chunks (zigzag 10000 = 0x50 0x5c 0x02), end-line 0, cols;
     * kind 15; kind 0 over two units (short form); kind 12 (+2) */
    static const uint8_t t[] = {0xf0, 0x50, 0x5c, 0x02, 0x00, 0x01, 0x02,
                                0xf8, 0x81, 0x05, 0xe0, 0x01, 0x02};
    T_EQ_INT(LINE(PY_LINES_PEP657, t, 3, 0), 5003);
    T_EQ_INT(LINE(PY_LINES_PEP657, t, 3, 2), 0);
    T_EQ_INT(LINE(PY_LINES_PEP657, t, 3, 4), 5003);
    T_EQ_INT(LINE(PY_LINES_PEP657, t, 3, 6), 5003);
    T_EQ_INT(LINE(PY_LINES_PEP657, t, 3, 8), 5005);
    T_EQ_INT(LINE(PY_LINES_PEP657, t, 3, 10), 0);

    /* an entry runs to the next byte with the high bit set, whatever lies between (CPython) */
    static const uint8_t junk[] = {0xe8, 0x02, 0x13, 0x7f, 0x80, 0x00};
    T_EQ_INT(LINE(PY_LINES_PEP657, junk, 10, 0), 11);
    T_EQ_INT(LINE(PY_LINES_PEP657, junk, 10, 2), 11);
    T_EQ_INT(LINE(PY_LINES_PEP657, junk, 10, 4), 0);
}

int main(void)
{
    test_empty();
    test_truncated();
    test_beyond_end();
    test_negative();
    test_pep657_forms();
    test_golden();
    T_DONE();
}
