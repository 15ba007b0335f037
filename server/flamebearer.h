/* SPDX-License-Identifier: MIT */
/* flamebearer: Pyroscope's flame-graph JSON ("single" and "double" formats) from aggregates. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pyprof/agg.h"

#define FLAMEBEARER_MAX_NODES_DEFAULT 8192

/* What flamebearer_write() found, for the caller's metadata. */
struct flamebearer_info {
    uint64_t left_ticks;   /* total samples of @left (the only tree in "single") */
    uint64_t right_ticks;  /* total samples of @right ("double"); 0 in "single" */
    size_t n_nodes;        /* nodes written, the root included */
};

/*
 * flamebearer_write() - write the object
 *     {"names":[...],"levels":[[...],...],"numTicks":N,"maxSelf":M}
 * for @left alone (@right NULL: the "single" format, 4 ints per node:
 * [xOffsetDelta, total, self, nameIndex]) or for @left against @right (the "double" format,
 * 7 ints per node: [lOffΔ, lTotal, lSelf, rOffΔ, rTotal, rSelf, nameIndex]).
 *
 * The tree: a root "total", then the stacks' frames merged by label (the folded writer's frame
 * text: "name", "name (file)" or "name (file:line)"; threads ignored). Children are ordered
 * bytewise by label. Nodes are visited depth first, pre-order, and each label gets its name index
 * on first visit ("total" is 0; equal labels share an index). x offsets are delta-encoded per
 * level: the stored value is the node's x minus the end (x + total) of the previous node on that
 * level (0 for the first). numTicks is the root total (left + right in "double"); maxSelf the
 * largest self (of either side).
 *
 * Pruning: when there are more than @max_nodes nodes below the root (0 = no limit), let T be the
 * @max_nodes-th largest node total (max of the two sides in "double"); children with a total
 * below T are merged into one leaf "other" per parent, placed after the kept children (totals and
 * selves summed). Nodes with a total equal to T are kept, so ties can exceed @max_nodes.
 *
 * Strings are JSON-escaped (invalid UTF-8 becomes U+FFFD). @info may be NULL. Returns 0, -ENOMEM
 * or -EIO (writing @out failed).
 */
int flamebearer_write(const struct pp_agg *left, const struct pp_agg *right, size_t max_nodes,
                      FILE *out, struct flamebearer_info *info);

/*
 * flamebearer_json_string() - write @s (NUL-terminated) as a JSON string literal, quotes
 * included: '"', '\\' and control characters escaped, invalid UTF-8 bytes as \ufffd.
 */
void flamebearer_json_string(FILE *out, const char *s);
