/* SPDX-License-Identifier: MIT */
/* fuzz-linetable: linetable_line() on hostile tables. Input: byte 0 picks the model (mod 3),
 * bytes 1..4 the address (LE), bytes 5..6 firstlineno (LE, signed), the rest is the table.
 * Every even address up to a bound is decoded too, as the walker may ask for any of them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "py/linetable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum py_linetable_model models[] = {PY_LINES_LNOTAB, PY_LINES_PEP626,
                                                     PY_LINES_PEP657};
    enum py_linetable_model model;
    uint32_t addr;
    int16_t first;
    uint8_t *table;
    size_t len;

    if (size < 7)
        return 0;
    model = models[data[0] % 3];
    addr = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
           (uint32_t)data[4] << 24;
    first = (int16_t)((uint16_t)data[5] | (uint16_t)data[6] << 8);
    len = size - 7;
    /* An exact-size heap copy, so ASan sees any read past the end of the table. */
    table = malloc(len ? len : 1);
    if (!table)
        return 0;
    memcpy(table, data + 7, len);
    (void)linetable_line(model, table, len, first, addr);
    (void)linetable_line(model, table, len, INT32_MAX, addr);
    (void)linetable_line(model, table, len, INT32_MIN, addr);
    for (uint32_t a = 0; a < 512; a += 2)
        (void)linetable_line(model, table, len, first, a);
    free(table);
    return 0;
}
