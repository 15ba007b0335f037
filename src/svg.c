/* SPDX-License-Identifier: MIT */
/* svg: a merged call tree of an aggregate, pruned and laid out, written as one interactive SVG. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "label.h"
#include "pyprof/hash.h"
#include "pyprof/strtab.h"
#include "pyprof/svg.h"

/*
 * Geometry, in px. Frames are FRAME_H apart and FRAME_H - 1 tall; labels are 12 px monospace,
 * CHAR_W wide per character, inset by 3 px on each side. The title band is YPAD1 tall (plus
 * SUBTITLE_H with a subtitle), the details line below the frames YPAD2.
 */
#define DEFAULT_WIDTH 1200u
#define MIN_IMAGE_WIDTH 100u
#define XPAD 10
#define FRAME_H 16
#define YPAD1 36
#define SUBTITLE_H 20
#define YPAD2 34
#define CHAR_W 7.2
#define DEFAULT_MIN_WIDTH 0.1

/* Colour classes of labels: the enum pp_origin values, plus the synthetic frames. */
#define KIND_SYNTH (PP_ORIGIN_NATIVE + 1) /* "all", thread roots, "<no frames>" */
#define KIND_UNSET 0xff

/* === Buffered writer ===================================================== */

#define WBUF_SIZE (1u << 16)

struct w {
    FILE *f;
    char *p;
    size_t len;
    int err; /* first error: -EIO */
};

static void w_flush(struct w *w)
{
    if (w->len && !w->err && fwrite(w->p, 1, w->len, w->f) != w->len)
        w->err = -EIO;
    w->len = 0;
}

static void w_put(struct w *w, const char *s, size_t n)
{
    if (w->len + n > WBUF_SIZE) {
        w_flush(w);
        if (n > WBUF_SIZE) {
            if (!w->err && fwrite(s, 1, n, w->f) != n)
                w->err = -EIO;
            return;
        }
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void w_str(struct w *w, const char *s)
{
    w_put(w, s, strlen(s));
}

static void w_u64(struct w *w, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    w_put(w, tmp + i, sizeof(tmp) - i);
}

/* @v with thousands separators: 1,234,567. */
static void w_u64_sep(struct w *w, uint64_t v)
{
    char tmp[32];
    size_t i = sizeof(tmp);
    unsigned digits = 0;

    do {
        if (digits && digits % 3 == 0)
            tmp[--i] = ',';
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
        digits++;
    } while (v);
    w_put(w, tmp + i, sizeof(tmp) - i);
}

/* @v >= 0 rounded to two decimals, without trailing zeros: 12, 12.5, 12.25. */
static void w_fix2(struct w *w, double v)
{
    uint64_t c = v > 0 ? (uint64_t)llround(v * 100) : 0;
    char frac[2] = {(char)('0' + c / 10 % 10), (char)('0' + c % 10)};

    w_u64(w, c / 100);
    if (c % 100) {
        w_put(w, ".", 1);
        w_put(w, frac, c % 10 ? 2 : 1);
    }
}

/* @part / @whole as a percentage with two decimals, rounded half up (@whole > 0). */
static void w_pct(struct w *w, uint64_t part, uint64_t whole)
{
    uint64_t c;

    if (part <= (UINT64_MAX - whole / 2) / 10000)
        c = (part * 10000 + whole / 2) / whole;
    else
        c = (uint64_t)llround((double)part / (double)whole * 10000);
    w_u64(w, c / 100);
    w_put(w, ".", 1);
    w_put(w, (char[2]){(char)('0' + c / 10 % 10), (char)('0' + c % 10)}, 2);
}

/* @n bytes of @s with & < > " ' as entities (the text is valid UTF-8 without controls). */
static void w_esc(struct w *w, const char *s, size_t n)
{
    size_t i, run = 0;

    for (i = 0; i < n; i++) {
        const char *ent;

        switch (s[i]) {
        case '&':
            ent = "&amp;";
            break;
        case '<':
            ent = "&lt;";
            break;
        case '>':
            ent = "&gt;";
            break;
        case '"':
            ent = "&quot;";
            break;
        case '\'':
            ent = "&#39;";
            break;
        default:
            continue;
        }
        w_put(w, s + run, i - run);
        w_str(w, ent);
        run = i + 1;
    }
    w_put(w, s + run, n - run);
}

/* === Labels ============================================================== */

/*
 * Every distinct label once, with its colour class and its rank in bytewise order. A frame is
 * labelled "name (file:line)", "name (file)" or "name"; a thread root thread (TID "name") or
 * thread (TID).
 */
struct labels {
    struct pp_strtab *st;
    unsigned char *kind; /* per label: enum pp_origin, KIND_SYNTH or KIND_UNSET */
    size_t cap_kind;
    uint32_t *rank;      /* per label: position in bytewise order */
    uint32_t *by_rank;   /* the inverse of rank */
    uint32_t all;        /* "all", the root */
    uint32_t nofr;       /* "<no frames>" */
    struct pp_buf scratch;
};

static void labels_deinit(struct labels *l)
{
    pp_strtab_free(l->st);
    free(l->kind);
    free(l->rank);
    free(l->by_rank);
    free(l->scratch.p);
}

/* Intern @len bytes of label text; on first sight its colour class is @kind. */
static int label_intern(struct labels *l, const char *s, size_t len, unsigned kind, uint32_t *out)
{
    size_t old = l->cap_kind;
    int r;

    r = pp_strtab_intern(l->st, s, len, out);
    if (r < 0)
        return r;
    r = pp_grow((void **)&l->kind, &l->cap_kind, (size_t)*out + 1, 1);
    if (r < 0)
        return r;
    if (l->cap_kind > old)
        memset(l->kind + old, KIND_UNSET, l->cap_kind - old);
    if (l->kind[*out] == KIND_UNSET)
        l->kind[*out] = (unsigned char)kind;
    return 0;
}

static int labels_init(struct labels *l)
{
    int r;

    memset(l, 0, sizeof(*l));
    r = pp_strtab_new(&l->st);
    if (r >= 0) /* the root's label, interned first so that it is grey */
        r = label_intern(l, "all", 3, KIND_SYNTH, &l->all);
    if (r >= 0)
        r = label_intern(l, "<no frames>", 11, KIND_SYNTH, &l->nofr);
    return r;
}

/* The label of every frame of @a, in *@out (frame id -> label id). */
static int frame_labels(struct labels *l, const struct pp_agg *a, uint32_t **out)
{
    uint32_t n = pp_agg_n_frames(a), fid, *lab;
    struct pp_buf *b = &l->scratch;
    int r = 0;

    lab = malloc(((size_t)n + 1) * sizeof(*lab));
    if (!lab)
        return -ENOMEM;
    for (fid = 0; fid < n && r >= 0; fid++) {
        const struct pp_frame *f = pp_agg_frame_get(a, fid);

        b->len = 0;
        r = pp_label_frame(b, a, fid, true);
        if (r >= 0)
            r = label_intern(l, b->p, b->len, f->origin <= PP_ORIGIN_NATIVE ? f->origin : 0,
                             &lab[fid]);
    }
    if (r < 0) {
        free(lab);
        return r;
    }
    *out = lab;
    return 0;
}

/* The label of every thread of @a, in *@out (thread index -> label id). */
static int thread_labels(struct labels *l, const struct pp_agg *a, uint32_t **out)
{
    uint32_t n = pp_agg_n_threads(a), i, *lab;
    struct pp_buf *b = &l->scratch;
    int r = 0;

    lab = malloc(((size_t)n + 1) * sizeof(*lab));
    if (!lab)
        return -ENOMEM;
    for (i = 0; i < n && r >= 0; i++) {
        b->len = 0;
        r = pp_label_thread(b, a, i, true);
        if (r >= 0)
            r = label_intern(l, b->p, b->len, KIND_SYNTH, &lab[i]);
    }
    if (r < 0) {
        free(lab);
        return r;
    }
    *out = lab;
    return 0;
}

struct label_ref {
    const char *s;
    size_t len;
    uint32_t id;
};

static int cmp_label_ref(const void *x, const void *y)
{
    const struct label_ref *a = x, *b = y;
    int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);

    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* Rank every label: its position when all are sorted bytewise. */
static int labels_rank(struct labels *l)
{
    uint32_t n = pp_strtab_count(l->st), i;
    struct label_ref *refs = malloc((size_t)n * sizeof(*refs));

    l->rank = malloc((size_t)n * sizeof(*l->rank));
    l->by_rank = malloc((size_t)n * sizeof(*l->by_rank));
    if (!refs || !l->rank || !l->by_rank) {
        free(refs);
        return -ENOMEM;
    }
    for (i = 0; i < n; i++) {
        refs[i].s = pp_strtab_str(l->st, i, &refs[i].len);
        refs[i].id = i;
    }
    qsort(refs, n, sizeof(*refs), cmp_label_ref);
    for (i = 0; i < n; i++) {
        l->rank[refs[i].id] = i;
        l->by_rank[i] = refs[i].id;
    }
    free(refs);
    return 0;
}

/* === Stacks ============================================================== */

/*
 * Every stack as a sequence of label ranks, root first (after its thread root with threads).
 * In a diff, AFTER's stacks carry count and BEFORE's before. Sorted, stacks that share a prefix
 * are contiguous, so the call tree falls out of one pass (flow()) without any lookup.
 */
struct seq {
    union {
        size_t off;          /* while the pool grows: offset of the first rank */
        const uint32_t *r;   /* then: the ranks */
    } u;
    uint32_t n;
    uint64_t count;
    uint64_t before;
};

struct stacks {
    uint32_t *pool;
    size_t n_pool, cap_pool;
    struct seq *seqs;
    size_t n_seqs, cap_seqs;
    uint32_t max_len;
    uint64_t total, before_total;
};

static void stacks_deinit(struct stacks *s)
{
    free(s->pool);
    free(s->seqs);
}

/* Labels of @a's frames and threads, interned into @l; *@flab and *@tlab to be freed. */
static int agg_labels(struct labels *l, const struct pp_agg *a, bool threads, uint32_t **flab,
                      uint32_t **tlab)
{
    int r;

    *flab = *tlab = NULL;
    r = frame_labels(l, a, flab);
    if (r >= 0 && threads)
        r = thread_labels(l, a, tlab);
    return r;
}

static int stacks_add(struct stacks *s, const struct labels *l, const struct pp_agg *a,
                      const uint32_t *flab, const uint32_t *tlab, bool before)
{
    size_t n = pp_agg_n_stacks(a), i;
    int r;

    r = pp_grow((void **)&s->seqs, &s->cap_seqs, s->n_seqs + n, sizeof(*s->seqs));
    if (r < 0)
        return r;
    for (i = 0; i < n; i++) {
        struct pp_stack_view v;
        struct seq *q = &s->seqs[s->n_seqs++];
        size_t len, j;
        uint32_t *p;

        pp_agg_stack(a, i, &v);
        len = (size_t)v.n_fids + (v.n_fids == 0) + (tlab != NULL);
        if (len > UINT32_MAX)
            return -ENOMEM;
        r = pp_grow((void **)&s->pool, &s->cap_pool, s->n_pool + len, sizeof(*s->pool));
        if (r < 0)
            return r;
        p = s->pool + s->n_pool;
        if (tlab)
            *p++ = l->rank[tlab[v.thread]];
        if (v.n_fids == 0)
            *p++ = l->rank[l->nofr];
        for (j = 0; j < v.n_fids; j++)
            p[j] = l->rank[flab[v.fids[j]]];
        q->u.off = s->n_pool;
        q->n = (uint32_t)len;
        q->count = before ? 0 : v.count;
        q->before = before ? v.count : 0;
        s->n_pool += len;
        if (q->n > s->max_len)
            s->max_len = q->n;
        if (before)
            s->before_total += v.count;
        else
            s->total += v.count;
    }
    return 0;
}

/* Lexicographic by rank, where a sequence that ends sorts after every longer one sharing it. */
static int cmp_seq(const void *x, const void *y)
{
    const struct seq *a = x, *b = y;
    uint32_t n = a->n < b->n ? a->n : b->n, i;

    for (i = 0; i < n; i++) {
        if (a->u.r[i] != b->u.r[i])
            return a->u.r[i] < b->u.r[i] ? -1 : 1;
    }
    return a->n > b->n ? -1 : a->n < b->n;
}

static void stacks_sort(struct stacks *s)
{
    size_t i;

    for (i = 0; i < s->n_seqs; i++)
        s->seqs[i].u.r = s->pool + s->seqs[i].u.off;
    if (s->n_seqs > 1)
        qsort(s->seqs, s->n_seqs, sizeof(*s->seqs), cmp_seq);
}

/* === Layout ============================================================== */

/* A frame to draw. */
struct item {
    uint64_t x;      /* offset from the left edge, in samples */
    uint64_t count;  /* samples (AFTER's in a diff) */
    uint64_t before; /* diff: BEFORE's samples, unscaled */
    uint32_t label;
    uint32_t depth;  /* root 0 */
};

struct level {
    uint64_t x, count, before;
    uint32_t rank;
};

struct layout {
    struct item *items;
    size_t n, cap;
    uint32_t max_depth;
    double scale, min_px;
};

/* Keep a closed frame when it has samples and is at least min_px wide. */
static int keep(struct layout *lo, const struct labels *l, const struct level *v, uint32_t depth)
{
    int r;

    if (!v->count || (double)v->count * lo->scale < lo->min_px)
        return 0;
    r = pp_grow((void **)&lo->items, &lo->cap, lo->n + 1, sizeof(*lo->items));
    if (r < 0)
        return r;
    lo->items[lo->n++] = (struct item){v->x, v->count, v->before, l->by_rank[v->rank], depth};
    if (depth > lo->max_depth)
        lo->max_depth = depth;
    return 0;
}

/*
 * Walk the sorted stacks once: frames open where a stack leaves the previous one's path and close
 * where it diverges, each at the running sample offset; siblings come out in label order. Children
 * are never wider than their parent, so pruning each frame on its own width prunes whole subtrees.
 * The kept frames are then ordered by depth, then offset (a stable counting sort).
 */
static int flow(const struct stacks *s, const struct labels *l, struct layout *lo)
{
    struct level *open = malloc(((size_t)s->max_len + 1) * sizeof(*open));
    struct level root = {0, s->total, s->before_total, l->rank[l->all]};
    struct item *sorted = NULL;
    size_t *at = NULL, i, d;
    uint32_t n_open = 0;
    uint64_t x = 0;
    int r = 0;

    if (!open)
        return -ENOMEM;
    for (i = 0; i < s->n_seqs; i++) {
        const struct seq *q = &s->seqs[i];
        uint32_t common = 0;

        while (common < n_open && common < q->n && open[common].rank == q->u.r[common])
            common++;
        while (n_open > common) {
            n_open--;
            r = keep(lo, l, &open[n_open], n_open + 1);
            if (r < 0)
                goto out;
        }
        for (; n_open < q->n; n_open++)
            open[n_open] = (struct level){x, 0, 0, q->u.r[n_open]};
        for (d = 0; d < q->n; d++) {
            open[d].count += q->count;
            open[d].before += q->before;
        }
        x += q->count;
    }
    while (n_open > 0) {
        n_open--;
        r = keep(lo, l, &open[n_open], n_open + 1);
        if (r < 0)
            goto out;
    }
    r = keep(lo, l, &root, 0);
    if (r < 0 || lo->n < 2)
        goto out;

    at = calloc((size_t)lo->max_depth + 2, sizeof(*at));
    sorted = malloc(lo->n * sizeof(*sorted));
    if (!at || !sorted) {
        r = -ENOMEM;
        goto out;
    }
    for (i = 0; i < lo->n; i++)
        at[lo->items[i].depth + 1]++;
    for (d = 1; d <= lo->max_depth; d++)
        at[d] += at[d - 1];
    for (i = 0; i < lo->n; i++)
        sorted[at[lo->items[i].depth]++] = lo->items[i];
    free(lo->items);
    lo->items = sorted;
    lo->cap = lo->n;
    sorted = NULL;
out:
    free(open);
    free(at);
    free(sorted);
    return r;
}

/* === Colours ============================================================= */

struct rgb {
    unsigned r, g, b;
};

/* base + range * byte / 255, rounded down: integer-only, so the same on every machine. */
static unsigned vary(unsigned base, unsigned range, uint64_t h, unsigned byte)
{
    return base + range * (unsigned)((h >> (8 * byte)) & 0xff) / 255;
}

/*
 * The palette: a hue per origin, shade from a hash of the label. User code warm (orange-red),
 * standard library blue/aqua, third-party green, native (C) frames violet, unknown yellow,
 * synthetic frames grey.
 */
static struct rgb frame_colour(unsigned kind, const char *label, size_t len)
{
    uint64_t h = pp_hash_bytes(label, len, 0);

    switch (kind) {
    case PP_ORIGIN_USER:
        return (struct rgb){vary(205, 50, h, 0), vary(50, 150, h, 1), vary(0, 55, h, 2)};
    case PP_ORIGIN_STDLIB:
        return (struct rgb){vary(70, 60, h, 0), vary(160, 60, h, 1), vary(205, 50, h, 2)};
    case PP_ORIGIN_THIRD_PARTY:
        return (struct rgb){vary(80, 70, h, 0), vary(190, 55, h, 1), vary(60, 60, h, 2)};
    case PP_ORIGIN_NATIVE:
        return (struct rgb){vary(150, 50, h, 0), vary(120, 40, h, 1), vary(200, 45, h, 2)};
    case KIND_SYNTH: {
        unsigned v = vary(185, 40, h, 0);

        return (struct rgb){v, v, v + 5};
    }
    default:
        return (struct rgb){vary(205, 40, h, 0), vary(190, 40, h, 1), vary(60, 60, h, 2)};
    }
}

/*
 * Diff colour from AFTER's @now against BEFORE's (scaled) @was: red when it grew, blue when it
 * shrank, near-white when equal; the strength is the change relative to the larger of the two.
 */
static struct rgb diff_colour(double now, double was)
{
    double big = now > was ? now : was, rel = big > 0 ? (now - was) / big : 0;
    unsigned c;

    if (fabs(rel) < 1e-9)
        return (struct rgb){250, 250, 250};
    c = 250 - (unsigned)lround(210 * fmin(fabs(rel), 1.0));
    return rel > 0 ? (struct rgb){250, c, c} : (struct rgb){c, c, 250};
}

static void w_rgb(struct w *w, struct rgb c)
{
    static const char hex[] = "0123456789abcdef";
    char s[7] = {'#',
                 hex[(c.r >> 4) & 15], hex[c.r & 15],
                 hex[(c.g >> 4) & 15], hex[c.g & 15],
                 hex[(c.b >> 4) & 15], hex[c.b & 15]};

    w_put(w, s, 7);
}

/* === Document ============================================================ */

/*
 * The viewer, written from the behaviour flamegraph.pl documents (no code of it). P (geometry) is
 * written before it; it lives in a CDATA section, so it must never contain "]]>".
 */
static const char script[] =
    "var F=[],root=null,zoomed=null,term=null,ic=false,CW=7.2,NS='http://www.w3.org/2000/svg';\n"
    "var frames,details,unzoomBtn,searchBtn,icBtn,matched;\n"
    "function $(id){return document.getElementById(id);}\n"
    "function fx(v){return String(Math.round(v*100)/100);}\n"
    "function fit(s,w){var n=Math.floor((w-6)/CW);if(n<3)return '';if(s.length<=n)return s;\n"
    " var a=Array.from(s);return a.length<=n?s:a.slice(0,n-2).join('')+'..';}\n"
    "function init(){\n"
    " frames=$('frames');details=$('details');unzoomBtn=$('unzoom');searchBtn=$('search');\n"
    " icBtn=$('ic');matched=$('matched');\n"
    " for(var g=frames.firstElementChild;g;g=g.nextElementSibling){\n"
    "  var ti=g.firstElementChild,r=ti.nextElementSibling,t=r.nextElementSibling;\n"
    "  var s=ti.textContent,y=+r.getAttribute('y');\n"
    "  var f={g:g,r:r,t:t,title:s,label:s.slice(0,s.lastIndexOf(' (')),x:+g.getAttribute('pp:x'),\n"
    "   w:+g.getAttribute('pp:w'),d:Math.round((y-P.base)/P.step),px:r.getAttribute('x'),\n"
    "   pw:r.getAttribute('width'),fill:r.getAttribute('fill'),txt:t?t.textContent:'',\n"
    "   tx:t?t.getAttribute('x'):''};\n"
    "  g.pf=f;F.push(f);if(f.d===0)root=f;\n"
    " }\n"
    " function pick(e){for(var n=e.target;n&&n!==frames;n=n.parentNode)if(n.pf)return n.pf;\n"
    "  return null;}\n"
    " frames.addEventListener('click',function(e){var f=pick(e);if(f)zoom(f);});\n"
    " frames.addEventListener('mouseover',function(e){var f=pick(e);\n"
    "  if(f)details.textContent='Function: '+f.title;});\n"
    " frames.addEventListener('mouseout',function(){details.textContent=' ';});\n"
    " unzoomBtn.addEventListener('click',function(){unzoom();});\n"
    " searchBtn.addEventListener('click',function(){\n"
    "  if(term!==null)resetSearch();else askSearch();});\n"
    " icBtn.addEventListener('click',toggleIc);\n"
    " window.addEventListener('keydown',function(e){\n"
    "  if(e.key==='F3'||(e.ctrlKey&&(e.key==='f'||e.key==='F'))){e.preventDefault();askSearch();}\n"
    "  else if(e.ctrlKey&&(e.key==='i'||e.key==='I')){e.preventDefault();toggleIc();}});\n"
    " restore();\n"
    "}\n"
    "function label(f,x,w){var s=fit(f.label,w),t=f.t;\n"
    " if(!t){if(!s)return;t=f.t=document.createElementNS(NS,'text');f.g.appendChild(t);}\n"
    " t.setAttribute('x',fx(x+3));t.setAttribute('y',+f.r.getAttribute('y')+10.5);\n"
    " t.textContent=s;}\n"
    "function place(f,x,w){f.r.setAttribute('x',fx(x));f.r.setAttribute('width',fx(w));\n"
    " label(f,x,w);}\n"
    "function zoom(f){\n"
    " if(!f||f===root){unzoom();return;}\n"
    " zoomed=f;var full=P.w-2*P.xp,sc=full/f.w,x0=f.x,x1=f.x+f.w;\n"
    " F.forEach(function(e){var c='';\n"
    "  if(e.d<f.d&&e.x<=x0&&e.x+e.w>=x1){place(e,P.xp,full);c='parent';}\n"
    "  else if(e.d>=f.d&&e.x>=x0&&e.x+e.w<=x1)place(e,P.xp+(e.x-x0)*sc,e.w*sc);\n"
    "  else c='hide';\n"
    "  e.g.setAttribute('class',c);});\n"
    " unzoomBtn.setAttribute('class','btn');\n"
    " if(term!==null)search(term);else save();\n"
    "}\n"
    "function unzoom(){\n"
    " zoomed=null;\n"
    " F.forEach(function(e){e.g.removeAttribute('class');e.r.setAttribute('x',e.px);\n"
    "  e.r.setAttribute('width',e.pw);if(e.t){e.t.setAttribute('x',e.tx||fx(+e.px+3));\n"
    "  e.t.textContent=e.txt;}});\n"
    " unzoomBtn.setAttribute('class','btn hide');\n"
    " if(term!==null)search(term);else save();\n"
    "}\n"
    "function search(s){\n"
    " var re;try{re=new RegExp(s,ic?'i':'');}catch(err){return false;}\n"
    " term=s;var z=zoomed||root,m=[];\n"
    " F.forEach(function(e){if(re.test(e.label)){e.r.setAttribute('fill',P.hit);m.push(e);}\n"
    "  else e.r.setAttribute('fill',e.fill);});\n"
    " searchBtn.textContent='Reset Search';\n"
    " if(z){\n"
    "  m.sort(function(a,b){return a.x-b.x||b.w-a.w;});\n"
    "  var sum=0,end=-1,z0=z.x,z1=z.x+z.w;\n"
    "  m.forEach(function(e){var a=Math.max(e.x,z0),b=Math.min(e.x+e.w,z1);\n"
    "   if(b>a&&a>=end){sum+=b-a;end=b;}});\n"
    "  var t=Math.floor((2000*sum+z.w)/(2*z.w));\n"
    "  matched.textContent='Matched: '+(sum===z.w?'100':Math.floor(t/10)+'.'+t%10)+'%';\n"
    "  matched.removeAttribute('class');\n"
    " }\n"
    " save();return true;\n"
    "}\n"
    "function resetSearch(){\n"
    " term=null;F.forEach(function(e){e.r.setAttribute('fill',e.fill);});\n"
    " searchBtn.textContent='Search';matched.setAttribute('class','hide');save();\n"
    "}\n"
    "function askSearch(){\n"
    " var s=prompt('Enter a search term (regexp allowed, eg: ^main)',term===null?'':term);\n"
    " if(s)search(s);\n"
    "}\n"
    "function toggleIc(){\n"
    " ic=!ic;icBtn.setAttribute('class',ic?'btn on':'btn');\n"
    " if(term!==null)search(term);else save();\n"
    "}\n"
    "function save(){\n"
    " var p=[];if(zoomed)p.push('x='+zoomed.x,'y='+zoomed.d);\n"
    " if(term!==null)p.push('s='+encodeURIComponent(term));if(ic)p.push('i=1');\n"
    " var u=location.href.split('#')[0]+(p.length?'#'+p.join('&'):'');\n"
    " if(u===location.href)return;\n"
    " try{history.replaceState(null,'',u);}catch(err){location.replace(u);}\n"
    "}\n"
    "function restore(){\n"
    " var q={};location.hash.slice(1).split('&').forEach(function(kv){var i=kv.indexOf('=');\n"
    "  if(i>0)try{q[kv.slice(0,i)]=decodeURIComponent(kv.slice(i+1));}catch(err){}});\n"
    " if(q.i==='1'){ic=true;icBtn.setAttribute('class','btn on');}\n"
    " if(q.x!==undefined&&q.y!==undefined){for(var i=0;i<F.length;i++)\n"
    "  if(F[i].x===+q.x&&F[i].d===+q.y){zoom(F[i]);break;}}\n"
    " if(q.s)search(q.s);\n"
    "}\n"
    "init();\n";

static const char style[] =
    "text{font-family:monospace;font-size:12px;fill:#000}\n"
    "#title{font-size:17px;text-anchor:middle}\n"
    "#subtitle{text-anchor:middle;fill:#555}\n"
    "#frames>g{cursor:pointer}\n"
    "#frames>g:hover>rect{stroke:#000;stroke-width:.5}\n"
    "#frames rect{rx:2px;ry:2px}\n"
    ".btn{cursor:pointer;fill:#333}\n"
    "#ic{fill:#aaa}#ic.on{fill:#000;font-weight:bold}\n"
    ".hide{display:none}\n"
    ".parent{opacity:.5}\n";

struct doc {
    const struct labels *l;
    const struct pp_meta *m;
    bool icicle, diff, normalize;
    unsigned width;
    double scale;          /* px per sample */
    double before_scale;   /* diff: BEFORE samples -> comparable counts */
    uint64_t total;        /* samples of the root (AFTER's in a diff) */
    uint64_t before_total; /* diff: BEFORE's samples */
    unsigned height, ypad1;
};

/* One meta string, cleaned (controls as spaces) and escaped. */
static int w_meta_str(struct w *w, struct pp_buf *b, const char *s)
{
    int r;

    b->len = 0;
    r = pp_buf_put_clean(b, s, strlen(s), false, ' ', true);
    if (r < 0)
        return r;
    w_esc(w, b->p, b->len);
    return 0;
}

/* Subtitle parts joined by ", "; returns 1 when anything was written. */
static int w_subtitle(struct w *w, struct pp_buf *b, const struct doc *d, bool dry)
{
    const struct pp_meta *m = d->m;
    bool any = false;
    char num[64];
    int r;

    if (m && m->command && *m->command) {
        if (dry)
            return 1;
        r = w_meta_str(w, b, m->command);
        if (r < 0)
            return r;
        any = true;
    }
    if (m && m->duration_ns) {
        if (dry)
            return 1;
        snprintf(num, sizeof(num), "%s%.2f s", any ? ", " : "", (double)m->duration_ns / 1e9);
        w_str(w, num);
        any = true;
    }
    if (m && m->rate_hz > 0) {
        if (dry)
            return 1;
        snprintf(num, sizeof(num), "%s%g Hz", any ? ", " : "", m->rate_hz);
        w_str(w, num);
        any = true;
    }
    if (d->total || d->diff) {
        if (dry)
            return 1;
        if (any)
            w_str(w, ", ");
        w_u64_sep(w, d->total);
        w_str(w, " samples");
        if (d->diff) {
            w_str(w, " (before: ");
            w_u64_sep(w, d->before_total);
            w_str(w, d->normalize ? ", normalized)" : ")");
        }
        any = true;
    }
    if (m && m->wall) {
        if (dry)
            return 1;
        w_str(w, any ? ", wall time" : "wall time");
        any = true;
    }
    return any;
}

static void w_attr_u(struct w *w, const char *name, unsigned long v)
{
    w_str(w, name);
    w_u64(w, v);
    w_put(w, "\"", 1);
}

static int w_header(struct w *w, struct pp_buf *b, const struct doc *d, const char *title,
                    bool has_sub)
{
    unsigned W = d->width, H = d->height;
    int r;

    w_str(w, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
             "<svg version=\"1.1\"");
    w_attr_u(w, " width=\"", W);
    w_attr_u(w, " height=\"", H);
    w_str(w, " viewBox=\"0 0 ");
    w_u64(w, W);
    w_put(w, " ", 1);
    w_u64(w, H);
    w_str(w, "\" xmlns=\"http://www.w3.org/2000/svg\" xmlns:pp=\"urn:pyprof:svg\">\n<style>"
             "<![CDATA[\n");
    w_str(w, style);
    w_str(w, "]]></style>\n<defs><linearGradient id=\"bg\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">");
    w_str(w, d->diff ? "<stop stop-color=\"#eee\" offset=\"5%\"/><stop stop-color=\"#e0e0ff\" "
                       "offset=\"95%\"/>"
                     : "<stop stop-color=\"#eee\" offset=\"5%\"/><stop stop-color=\"#eeeeb0\" "
                       "offset=\"95%\"/>");
    w_str(w, "</linearGradient></defs>\n"
             "<rect width=\"100%\" height=\"100%\" fill=\"url(#bg)\"/>\n");
    w_attr_u(w, "<text id=\"title\" x=\"", W / 2);
    w_str(w, " y=\"24\">");
    r = w_meta_str(w, b, title);
    if (r < 0)
        return r;
    w_str(w, "</text>\n");
    if (has_sub) {
        w_attr_u(w, "<text id=\"subtitle\" x=\"", W / 2);
        w_str(w, " y=\"44\">");
        r = w_subtitle(w, b, d, false);
        if (r < 0)
            return r;
        w_str(w, "</text>\n");
    }
    w_str(w, "<text id=\"unzoom\" class=\"btn hide\" x=\"10\" y=\"24\">Reset Zoom</text>\n");
    w_attr_u(w, "<text id=\"search\" class=\"btn\" text-anchor=\"end\" x=\"", W - XPAD);
    w_str(w, " y=\"24\">Search</text>\n");
    w_attr_u(w, "<text id=\"ic\" class=\"btn\" text-anchor=\"end\" x=\"", W - XPAD - 100);
    w_str(w, " y=\"24\">ic</text>\n");
    w_attr_u(w, "<text id=\"details\" x=\"10\" y=\"", H - 12);
    w_str(w, "> </text>\n");
    w_attr_u(w, "<text id=\"matched\" class=\"hide\" text-anchor=\"end\" x=\"", W - XPAD);
    w_attr_u(w, " y=\"", H - 12);
    w_str(w, "> </text>\n");
    if (!d->total) {
        w_attr_u(w, "<text x=\"", W / 2);
        w_attr_u(w, " y=\"", d->ypad1 + FRAME_H);
        w_str(w, " text-anchor=\"middle\">No samples</text>\n");
    }
    return 0;
}

/* Byte length of the label text that fits @px: all of it, or a prefix to end with "..". */
static size_t fit_label(const char *s, size_t len, double px, bool *cut)
{
    double fits = floor((px - 6) / CHAR_W);
    size_t n, cps = 0, i;

    *cut = false;
    if (fits < 3)
        return 0;
    n = fits > (double)len ? len : (size_t)fits;
    if (len <= n)
        return len;
    for (i = 0; i < len; i++)
        cps += ((unsigned char)s[i] & 0xc0) != 0x80;
    if (cps <= n)
        return len;
    *cut = true;
    for (i = 0, cps = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80 && cps++ == n - 2)
            break;
    }
    return i;
}

static void w_frame(struct w *w, const struct doc *d, const struct item *it)
{
    size_t len = 0, show;
    const char *s = pp_strtab_str(d->l->st, it->label, &len);
    double px = XPAD + (double)it->x * d->scale, pw = (double)it->count * d->scale;
    unsigned y = d->icicle ? d->ypad1 + it->depth * FRAME_H
                           : d->height - YPAD2 - (it->depth + 1) * FRAME_H + 1;
    bool cut;

    w_str(w, "<g pp:x=\"");
    w_u64(w, it->x);
    w_str(w, "\" pp:w=\"");
    w_u64(w, it->count);
    w_str(w, "\"><title>");
    w_esc(w, s, len);
    w_str(w, " (");
    w_u64_sep(w, it->count);
    w_str(w, " samples, ");
    w_pct(w, it->count, d->total);
    if (d->diff) {
        uint64_t was = (uint64_t)llround((double)it->before * d->before_scale);

        w_str(w, "%; was ");
        w_u64_sep(w, was);
        w_str(w, it->count >= was ? ", +" : ", -");
        w_u64_sep(w, it->count >= was ? it->count - was : was - it->count);
        w_str(w, ")</title><rect x=\"");
    } else {
        w_str(w, "%)</title><rect x=\"");
    }
    w_fix2(w, px);
    w_str(w, "\" y=\"");
    w_u64(w, y);
    w_str(w, "\" width=\"");
    w_fix2(w, pw);
    w_str(w, "\" height=\"15\" fill=\"");
    if (d->diff)
        w_rgb(w, diff_colour((double)it->count, (double)it->before * d->before_scale));
    else
        w_rgb(w, frame_colour(d->l->kind[it->label], s, len));
    w_str(w, "\"/>");
    show = fit_label(s, len, pw, &cut);
    if (show) {
        w_str(w, "<text x=\"");
        w_fix2(w, px + 3);
        w_str(w, "\" y=\"");
        w_u64(w, y + 10);
        w_str(w, ".5\">");
        w_esc(w, s, show);
        if (cut)
            w_str(w, "..");
        w_str(w, "</text>");
    }
    w_str(w, "</g>\n");
}

/* Lay out the sorted stacks @s and write the document. */
static int write_doc(const struct labels *l, const struct stacks *s, const struct pp_meta *m,
                     const struct pp_svg_opts *o, bool diff, bool normalize, FILE *out)
{
    struct doc d = {0};
    struct w w = {out, NULL, 0, 0};
    struct pp_buf b = {NULL, 0, 0};
    struct layout lo = {NULL, 0, 0, 0, 0, 0};
    const char *title;
    char num[96];
    bool has_sub;
    size_t i;
    int r;

    d.l = l;
    d.m = m;
    d.icicle = o && o->icicle;
    d.diff = diff;
    d.normalize = normalize;
    d.width = o && o->width ? o->width : DEFAULT_WIDTH;
    if (d.width < MIN_IMAGE_WIDTH)
        d.width = MIN_IMAGE_WIDTH;
    d.total = s->total;
    d.before_total = s->before_total;
    d.before_scale = normalize && d.before_total ? (double)d.total / (double)d.before_total : 1.0;
    d.scale = d.total ? (double)(d.width - 2 * XPAD) / (double)d.total : 0;

    title = o && o->title ? o->title
            : m && m->title ? m->title
            : diff ? "Differential Flame Graph"
                   : "Flame Graph";
    has_sub = w_subtitle(NULL, NULL, &d, true) > 0;
    d.ypad1 = YPAD1 + (has_sub ? SUBTITLE_H : 0);

    lo.scale = d.scale;
    lo.min_px = o && o->min_width >= 0 ? o->min_width : DEFAULT_MIN_WIDTH;
    r = flow(s, l, &lo);
    if (r < 0)
        goto out;
    d.height = (lo.max_depth + 1) * FRAME_H + d.ypad1 + YPAD2;

    w.p = malloc(WBUF_SIZE);
    if (!w.p) {
        r = -ENOMEM;
        goto out;
    }
    r = w_header(&w, &b, &d, title, has_sub);
    if (r < 0)
        goto out;
    w_str(&w, "<g id=\"frames\">\n");
    for (i = 0; i < lo.n; i++)
        w_frame(&w, &d, &lo.items[i]);
    w_str(&w, "</g>\n<script><![CDATA[\n\"use strict\";\n");
    snprintf(num, sizeof(num), "var P={w:%u,xp:%d,base:%d,step:%d,hit:'#e600e6'};\n", d.width,
             XPAD, d.icicle ? (int)d.ypad1 : (int)(d.height - YPAD2 - FRAME_H + 1),
             d.icicle ? FRAME_H : -FRAME_H);
    w_str(&w, num);
    w_str(&w, script);
    w_str(&w, "]]></script>\n</svg>\n");
    w_flush(&w);
    r = w.err;
    if (!r && fflush(out) != 0)
        r = -EIO;
out:
    free(w.p);
    free(b.p);
    free(lo.items);
    return r;
}

/* === API ================================================================= */

int pp_svg_write(const struct pp_agg *a, const struct pp_meta *m, const struct pp_svg_opts *o,
                 FILE *out)
{
    bool threads = o && o->threads;
    struct stacks s = {0};
    struct labels l;
    uint32_t *flab = NULL, *tlab = NULL;
    int r;

    r = labels_init(&l);
    if (r >= 0)
        r = agg_labels(&l, a, threads, &flab, &tlab);
    if (r >= 0)
        r = labels_rank(&l);
    if (r >= 0)
        r = stacks_add(&s, &l, a, flab, tlab, false);
    if (r >= 0) {
        stacks_sort(&s);
        r = write_doc(&l, &s, m, o, false, false, out);
    }
    free(flab);
    free(tlab);
    stacks_deinit(&s);
    labels_deinit(&l);
    return r;
}

int pp_svg_write_diff(const struct pp_agg *before, const struct pp_agg *after, bool normalize,
                      const struct pp_meta *m, const struct pp_svg_opts *o, FILE *out)
{
    bool threads = o && o->threads;
    struct stacks s = {0};
    struct labels l;
    uint32_t *flab_a = NULL, *tlab_a = NULL, *flab_b = NULL, *tlab_b = NULL;
    int r;

    r = labels_init(&l);
    if (r >= 0) /* AFTER first: a label's colour class comes from the frames that are drawn */
        r = agg_labels(&l, after, threads, &flab_a, &tlab_a);
    if (r >= 0)
        r = agg_labels(&l, before, threads, &flab_b, &tlab_b);
    if (r >= 0)
        r = labels_rank(&l);
    if (r >= 0)
        r = stacks_add(&s, &l, after, flab_a, tlab_a, false);
    if (r >= 0)
        r = stacks_add(&s, &l, before, flab_b, tlab_b, true);
    if (r >= 0) {
        stacks_sort(&s);
        r = write_doc(&l, &s, m, o, true, normalize, out);
    }
    free(flab_a);
    free(tlab_a);
    free(flab_b);
    free(tlab_b);
    stacks_deinit(&s);
    labels_deinit(&l);
    return r;
}
