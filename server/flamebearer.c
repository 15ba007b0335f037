/* SPDX-License-Identifier: MIT */
/* flamebearer: Pyroscope's flame-graph JSON ("single" and "double" formats) from aggregates. */
#include "flamebearer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pyprof/err.h"
#include "pyprof/strtab.h"

#define NO_NODE UINT32_MAX

struct node {
    uint32_t label;        /* id in tree.labels */
    uint32_t first_child;
    uint32_t next_sibling;
    uint64_t total[2];
    uint64_t self[2];
};

struct tree {
    struct node *nodes;
    size_t n, cap;
    struct pp_strtab *labels;
    uint64_t *slots;       /* open addressing: (parent << 32 | label) + 1, 0 = empty */
    uint32_t *slot_node;
    size_t n_slots;        /* power of two */
    size_t n_used;
};

/* A growing array of ints for one level. */
struct level {
    uint64_t *v;
    size_t n, cap;
    uint64_t end[2];       /* x + total of the last node written, per side */
};

/* === Tree building ============================================================================ */

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static int grow_slots(struct tree *t)
{
    size_t n = t->n_slots ? t->n_slots * 2 : 1024;
    uint64_t *slots = calloc(n, sizeof(*slots));
    uint32_t *nodes = calloc(n, sizeof(*nodes));
    if (!slots || !nodes) {
        free(slots);
        free(nodes);
        return pp_err_origin(-ENOMEM);
    }
    for (size_t i = 0; i < t->n_slots; i++) {
        if (!t->slots[i])
            continue;
        size_t j = mix(t->slots[i]) & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = t->slots[i];
        nodes[j] = t->slot_node[i];
    }
    free(t->slots);
    free(t->slot_node);
    t->slots = slots;
    t->slot_node = nodes;
    t->n_slots = n;
    return 0;
}

static int add_node(struct tree *t, uint32_t label, uint32_t *out)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        struct node *p = realloc(t->nodes, cap * sizeof(*p));
        if (!p)
            return pp_err_origin(-ENOMEM);
        t->nodes = p;
        t->cap = cap;
    }
    if (t->n >= NO_NODE)
        return pp_err_origin(-E2BIG);
    memset(&t->nodes[t->n], 0, sizeof(t->nodes[t->n]));
    t->nodes[t->n].label = label;
    t->nodes[t->n].first_child = NO_NODE;
    t->nodes[t->n].next_sibling = NO_NODE;
    *out = (uint32_t)t->n++;
    return 0;
}

/* The child of @parent labelled @label, created (first in the sibling list) if missing. */
static int child_of(struct tree *t, uint32_t parent, uint32_t label, uint32_t *out)
{
    int r;
    if ((t->n_used + 1) * 2 > t->n_slots) {
        r = grow_slots(t);
        if (r < 0)
            return r;
    }
    uint64_t key = ((uint64_t)parent << 32 | label) + 1;
    size_t j = mix(key) & (t->n_slots - 1);
    while (t->slots[j]) {
        if (t->slots[j] == key) {
            *out = t->slot_node[j];
            return 0;
        }
        j = (j + 1) & (t->n_slots - 1);
    }
    uint32_t c;
    r = add_node(t, label, &c);
    if (r < 0)
        return r;
    t->slots[j] = key;
    t->slot_node[j] = c;
    t->n_used++;
    t->nodes[c].next_sibling = t->nodes[parent].first_child;
    t->nodes[parent].first_child = c;
    *out = c;
    return 0;
}

/* Append @s to @buf at @pos (bounded by @cap), ';' and control characters as '_'. */
static size_t put_clean(char *buf, size_t pos, size_t cap, const char *s)
{
    for (; *s && pos + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        buf[pos++] = (c < 0x20 || c == 0x7f || c == ';') ? '_' : (char)c;
    }
    return pos;
}

/* The folded writer's frame label: "name", "name (file)" or "name (file:line)". */
static int frame_label(const struct pp_agg *a, uint32_t fid, char **buf, size_t *cap,
                       size_t *out_len)
{
    const struct pp_frame *f = pp_agg_frame_get(a, fid);
    const struct pp_strtab *st = pp_agg_strtab_const(a);
    if (!f)
        return pp_err_origin(-EINVAL);
    size_t nl = 0, fl = 0;
    const char *name = pp_strtab_str(st, f->name, &nl);
    const char *file = pp_strtab_str(st, f->file, &fl);
    if (!name)
        name = "";
    if (!file)
        file = "";
    size_t need = nl + fl + 32;
    if (need > *cap) {
        char *p = realloc(*buf, need);
        if (!p)
            return pp_err_origin(-ENOMEM);
        *buf = p;
        *cap = need;
    }
    size_t pos = put_clean(*buf, 0, *cap, name);
    if (*file) {
        (*buf)[pos++] = ' ';
        (*buf)[pos++] = '(';
        pos = put_clean(*buf, pos, *cap, file);
        if (f->line)
            pos += (size_t)snprintf(*buf + pos, *cap - pos, ":%u", f->line);
        (*buf)[pos++] = ')';
    }
    (*buf)[pos] = '\0';
    *out_len = pos;
    return 0;
}

static int tree_add_agg(struct tree *t, const struct pp_agg *a, int side)
{
    uint32_t n_frames = pp_agg_n_frames(a);
    uint32_t *lab = malloc(((size_t)n_frames + 1) * sizeof(*lab));
    char *buf = NULL;
    size_t cap = 0;
    int r = 0;
    if (!lab) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    for (uint32_t fid = 0; fid < n_frames; fid++) {
        size_t len;
        r = frame_label(a, fid, &buf, &cap, &len);
        if (r < 0)
            goto out;
        r = pp_strtab_intern(t->labels, buf, len, &lab[fid]);
        if (r < 0)
            goto out;
    }
    size_t n = pp_agg_n_stacks(a);
    for (size_t i = 0; i < n; i++) {
        struct pp_stack_view v;
        pp_agg_stack(a, i, &v);
        uint32_t cur = 0;
        t->nodes[0].total[side] += v.count;
        for (uint32_t d = 0; d < v.n_fids; d++) {
            if (v.fids[d] >= n_frames) {
                r = pp_err_origin(-EINVAL);
                goto out;
            }
            r = child_of(t, cur, lab[v.fids[d]], &cur);
            if (r < 0)
                goto out;
            t->nodes[cur].total[side] += v.count;
        }
        t->nodes[cur].self[side] += v.count;
    }
out:
    free(lab);
    free(buf);
    return r;
}

/* === Writing ================================================================================== */

static int level_push(struct level *l, const uint64_t *v, size_t n)
{
    if (l->n + n > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        while (cap < l->n + n)
            cap *= 2;
        uint64_t *p = realloc(l->v, cap * sizeof(*p));
        if (!p)
            return pp_err_origin(-ENOMEM);
        l->v = p;
        l->cap = cap;
    }
    memcpy(l->v + l->n, v, n * sizeof(*v));
    l->n += n;
    return 0;
}

static int cmp_u64_desc(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return a < b ? 1 : a > b ? -1 : 0;
}

/* A child to visit, with the string its order is decided by. */
struct kid {
    uint32_t node;
    const char *label;
};

static int cmp_kid(const void *pa, const void *pb)
{
    const struct kid *a = pa, *b = pb;
    return strcmp(a->label, b->label);
}

/* An entry of the explicit DFS stack: a node, or the synthetic "other" when node is NO_NODE. */
struct item {
    uint32_t node;
    uint32_t depth;
    uint64_t x[2];
    uint64_t total[2];
    uint64_t self[2];
};

static uint64_t weight(const struct node *n, bool dbl)
{
    return dbl && n->total[1] > n->total[0] ? n->total[1] : n->total[0];
}

void flamebearer_json_string(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    putc('"', out);
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            putc('\\', out);
            putc(c, out);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            putc(c, out);
            p++;
        } else {
            /* Validate one UTF-8 sequence (no overlongs or surrogates). */
            size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
            bool ok = n > 0;
            for (size_t i = 1; ok && i < n; i++)
                ok = (p[i] & 0xc0) == 0x80;
            if (ok && n == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0)))
                ok = false;
            if (ok && n == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90)))
                ok = false;
            if (ok) {
                fwrite(p, 1, n, out);
                p += n;
            } else {
                fputs("\\ufffd", out);
                p++;
            }
        }
    }
    putc('"', out);
}

int flamebearer_write(const struct pp_agg *left, const struct pp_agg *right, size_t max_nodes,
                      FILE *out, struct flamebearer_info *info)
{
    bool dbl = right != NULL;
    struct tree t = {0};
    struct level *levels = NULL;
    size_t n_levels = 0, cap_levels = 0;
    uint32_t *name_of = NULL;     /* label id -> names index, NO_NODE = not yet */
    uint32_t *names = NULL;       /* names index -> label id */
    uint32_t n_names = 0;
    uint64_t *weights = NULL;
    struct item *stack = NULL;
    size_t n_stack = 0, cap_stack = 0;
    struct kid *kids = NULL;
    size_t cap_kids = 0;
    uint64_t max_self = 0, threshold = 0;
    size_t written = 0;
    uint32_t root, other_label;
    int r;

    r = pp_strtab_new(&t.labels);
    if (r < 0)
        goto out;
    uint32_t total_label;
    r = pp_strtab_intern(t.labels, "total", 5, &total_label);
    if (r < 0)
        goto out;
    r = pp_strtab_intern(t.labels, "other", 5, &other_label);
    if (r < 0)
        goto out;
    r = add_node(&t, total_label, &root);
    if (r < 0)
        goto out;
    r = tree_add_agg(&t, left, 0);
    if (r < 0)
        goto out;
    if (dbl) {
        r = tree_add_agg(&t, right, 1);
        if (r < 0)
            goto out;
    }

    /* Pruning threshold: the max_nodes-th largest total below the root. */
    if (max_nodes && t.n - 1 > max_nodes) {
        weights = malloc((t.n - 1) * sizeof(*weights));
        if (!weights) {
            r = pp_err_origin(-ENOMEM);
            goto out;
        }
        for (size_t i = 1; i < t.n; i++)
            weights[i - 1] = weight(&t.nodes[i], dbl);
        qsort(weights, t.n - 1, sizeof(*weights), cmp_u64_desc);
        threshold = weights[max_nodes - 1];
    }

    uint32_t n_labels = pp_strtab_count(t.labels);
    name_of = malloc((size_t)n_labels * sizeof(*name_of));
    names = malloc((size_t)n_labels * sizeof(*names));
    if (!name_of || !names) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    memset(name_of, 0xff, (size_t)n_labels * sizeof(*name_of));

    /* Depth-first, pre-order, children by label; x of the first child = x of its parent. */
    cap_stack = 64;
    stack = malloc(cap_stack * sizeof(*stack));
    if (!stack) {
        r = pp_err_origin(-ENOMEM);
        goto out;
    }
    stack[n_stack++] = (struct item){.node = root,
                                     .total = {t.nodes[0].total[0], t.nodes[0].total[1]},
                                     .self = {t.nodes[0].self[0], t.nodes[0].self[1]}};
    while (n_stack) {
        struct item it = stack[--n_stack];
        uint32_t label = it.node == NO_NODE ? other_label : t.nodes[it.node].label;
        if (name_of[label] == NO_NODE) {
            name_of[label] = n_names;
            names[n_names++] = label;
        }
        if (it.depth >= n_levels) {
            if (n_levels == cap_levels) {
                size_t c = cap_levels ? cap_levels * 2 : 16;
                struct level *p = realloc(levels, c * sizeof(*p));
                if (!p) {
                    r = pp_err_origin(-ENOMEM);
                    goto out;
                }
                levels = p;
                cap_levels = c;
            }
            memset(&levels[n_levels], 0, sizeof(levels[n_levels]));
            n_levels++;
        }
        struct level *lv = &levels[it.depth];
        uint64_t v[7];
        size_t nv = 0;
        for (int s = 0; s < (dbl ? 2 : 1); s++) {
            v[nv++] = it.x[s] - lv->end[s];
            v[nv++] = it.total[s];
            v[nv++] = it.self[s];
            lv->end[s] = it.x[s] + it.total[s];
            if (it.self[s] > max_self)
                max_self = it.self[s];
        }
        v[nv++] = name_of[label];
        r = level_push(lv, v, nv);
        if (r < 0)
            goto out;
        written++;
        if (it.node == NO_NODE)
            continue;

        /* Children: the kept ones sorted by label, then "other". */
        size_t n_kids = 0;
        uint64_t other_total[2] = {0, 0};
        for (uint32_t c = t.nodes[it.node].first_child; c != NO_NODE; c = t.nodes[c].next_sibling) {
            if (weight(&t.nodes[c], dbl) < threshold) {
                other_total[0] += t.nodes[c].total[0];
                other_total[1] += t.nodes[c].total[1];
                continue;
            }
            if (n_kids == cap_kids) {
                size_t nc = cap_kids ? cap_kids * 2 : 16;
                struct kid *p = realloc(kids, nc * sizeof(*p));
                if (!p) {
                    r = pp_err_origin(-ENOMEM);
                    goto out;
                }
                kids = p;
                cap_kids = nc;
            }
            kids[n_kids].node = c;
            kids[n_kids].label = pp_strtab_str(t.labels, t.nodes[c].label, NULL);
            n_kids++;
        }
        if (n_kids > 1) /* kids is NULL while empty: qsort(NULL, 0) is undefined */
            qsort(kids, n_kids, sizeof(*kids), cmp_kid);
        bool has_other = other_total[0] || other_total[1];
        size_t need = n_stack + n_kids + 1;
        if (need > cap_stack) {
            size_t nc = cap_stack;
            while (nc < need)
                nc *= 2;
            struct item *p = realloc(stack, nc * sizeof(*p));
            if (!p) {
                r = pp_err_origin(-ENOMEM);
                goto out;
            }
            stack = p;
            cap_stack = nc;
        }
        /* x of each child, then push in reverse so that the first child is visited first. */
        uint64_t x[2] = {it.x[0], it.x[1]};
        size_t base = n_stack;
        for (size_t k = 0; k < n_kids; k++) {
            const struct node *c = &t.nodes[kids[k].node];
            stack[base + n_kids + has_other - 1 - k] = (struct item){
                .node = kids[k].node,
                .depth = it.depth + 1,
                .x = {x[0], x[1]},
                .total = {c->total[0], c->total[1]},
                .self = {c->self[0], c->self[1]},
            };
            x[0] += c->total[0];
            x[1] += c->total[1];
        }
        if (has_other)
            stack[base] = (struct item){
                .node = NO_NODE,
                .depth = it.depth + 1,
                .x = {x[0], x[1]},
                .total = {other_total[0], other_total[1]},
                .self = {other_total[0], other_total[1]},
            };
        n_stack = base + n_kids + has_other;
    }

    /* The JSON object. */
    fputs("{\"names\":[", out);
    for (uint32_t i = 0; i < n_names; i++) {
        if (i)
            putc(',', out);
        flamebearer_json_string(out, pp_strtab_str(t.labels, names[i], NULL));
    }
    fputs("],\"levels\":[", out);
    for (size_t d = 0; d < n_levels; d++) {
        putc('[', out);
        for (size_t i = 0; i < levels[d].n; i++)
            fprintf(out, i ? ",%" PRIu64 : "%" PRIu64, levels[d].v[i]);
        putc(']', out);
        if (d + 1 < n_levels)
            putc(',', out);
    }
    fprintf(out, "],\"numTicks\":%" PRIu64 ",\"maxSelf\":%" PRIu64 "}",
            t.nodes[0].total[0] + t.nodes[0].total[1], max_self);
    if (ferror(out)) {
        r = pp_err_origin(-EIO);
        goto out;
    }
    if (info) {
        info->left_ticks = t.nodes[0].total[0];
        info->right_ticks = t.nodes[0].total[1];
        info->n_nodes = written;
    }
out:
    for (size_t d = 0; d < n_levels; d++)
        free(levels[d].v);
    free(levels);
    free(name_of);
    free(names);
    free(weights);
    free(stack);
    free(kids);
    free(t.nodes);
    free(t.slots);
    free(t.slot_node);
    pp_strtab_free(t.labels);
    return r;
}
