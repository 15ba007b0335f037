/* SPDX-License-Identifier: MIT */
/* test-flamebearer: exact flamebearer JSON for small trees, single and double, with pruning. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../t.h"
#include "flamebearer.h"
#include "pyprof/folded.h"

static struct pp_agg *agg_of(const char *folded)
{
    struct pp_agg *a = NULL;
    if (pp_agg_new(&a) < 0)
        abort();
    FILE *f = fmemopen((void *)folded, strlen(folded), "r");
    if (!f || pp_folded_read(a, f, NULL) != 0)
        abort();
    fclose(f);
    return a;
}

/* The JSON for @l (and @r) as a malloc'd string. */
static char *fb(const char *l, const char *r, size_t max_nodes, struct flamebearer_info *info)
{
    struct pp_agg *la = agg_of(l), *ra = r ? agg_of(r) : NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    int rc = flamebearer_write(la, ra, max_nodes, out, info);
    fclose(out);
    T_EQ_INT(rc, 0);
    pp_agg_free(la);
    pp_agg_free(ra);
    return buf;
}

static void check(const char *l, const char *r, size_t max_nodes, const char *want)
{
    char *got = fb(l, r, max_nodes, NULL);
    T_EQ_STR(got, want);
    free(got);
}

int main(void)
{
    /* The §5.2 example: children by name, names indexed in visiting order. */
    struct flamebearer_info info;
    char *s = fb("main;foo 3\nmain;bar 1\n", NULL, 0, &info);
    T_EQ_STR(s, "{\"names\":[\"total\",\"main\",\"bar\",\"foo\"],"
                "\"levels\":[[0,4,0,0],[0,4,0,1],[0,1,1,2,0,3,3,3]],\"numTicks\":4,\"maxSelf\":3}");
    T_EQ_INT(info.left_ticks, 4);
    T_EQ_INT(info.right_ticks, 0);
    T_EQ_INT(info.n_nodes, 4);
    free(s);

    /* Self time in an inner node; a second node on a level starts where the first ends. */
    check("a 2\na;b 3\nc 1\n", NULL, 0,
          "{\"names\":[\"total\",\"a\",\"b\",\"c\"],"
          "\"levels\":[[0,6,0,0],[0,5,2,1,0,1,1,3],[0,3,3,2]],\"numTicks\":6,\"maxSelf\":3}");

    /* A non-zero delta: the first node of level 2 sits at x = 3. */
    check("a 3\nb;y 1\n", NULL, 0,
          "{\"names\":[\"total\",\"a\",\"b\",\"y\"],"
          "\"levels\":[[0,4,0,0],[0,3,3,1,0,1,0,2],[3,1,1,3]],\"numTicks\":4,\"maxSelf\":3}");

    /* Gaps between nodes of one level: delta = x - end of the previous node. */
    check("a;p 1\na 1\nb 1\nc;q 2\n", NULL, 0,
          "{\"names\":[\"total\",\"a\",\"p\",\"b\",\"c\",\"q\"],"
          "\"levels\":[[0,5,0,0],[0,2,1,1,0,1,1,3,0,2,0,4],[0,1,1,2,2,2,2,5]],"
          "\"numTicks\":5,\"maxSelf\":2}");

    /* Frame labels as the folded writer prints them; equal labels share a name index. */
    check("f (x.py:3);g (x.py) 2\ng (x.py) 1\n", NULL, 0,
          "{\"names\":[\"total\",\"f (x.py:3)\",\"g (x.py)\"],"
          "\"levels\":[[0,3,0,0],[0,2,0,1,0,1,1,2],[0,2,2,2]],\"numTicks\":3,\"maxSelf\":2}");

    /* maxNodes: below the 2nd largest total (3), c and d merge into "other" after the rest. */
    check("a 5\nb 3\nc 1\nd 1\n", NULL, 2,
          "{\"names\":[\"total\",\"a\",\"b\",\"other\"],"
          "\"levels\":[[0,10,0,0],[0,5,5,1,0,3,3,2,0,2,2,3]],\"numTicks\":10,\"maxSelf\":5}");
    /* ... and with enough room nothing is merged. */
    check("a 5\nb 3\nc 1\nd 1\n", NULL, 4,
          "{\"names\":[\"total\",\"a\",\"b\",\"c\",\"d\"],"
          "\"levels\":[[0,10,0,0],[0,5,5,1,0,3,3,2,0,1,1,3,0,1,1,4]],\"numTicks\":10,"
          "\"maxSelf\":5}");
    /* Pruning deeper in the tree: one "other" per parent. */
    check("m;a 4\nm;b 1\nn;c 3\nn;d 1\n", NULL, 4,
          "{\"names\":[\"total\",\"m\",\"a\",\"other\",\"n\",\"c\"],"
          "\"levels\":[[0,9,0,0],[0,5,0,1,0,4,0,4],[0,4,4,2,0,1,1,3,0,3,3,5,0,1,1,3]],"
          "\"numTicks\":9,\"maxSelf\":4}");

    /* Double: both sides' offsets run separately. */
    s = fb("main;foo 3\nmain;bar 1\n", "main;foo 1\nmain;baz 2\n", 0, &info);
    T_EQ_STR(s, "{\"names\":[\"total\",\"main\",\"bar\",\"baz\",\"foo\"],"
                "\"levels\":[[0,4,0,0,3,0,0],[0,4,0,0,3,0,1],"
                "[0,1,1,0,0,0,2,0,0,0,0,2,2,3,0,3,3,0,1,1,4]],\"numTicks\":7,\"maxSelf\":3}");
    T_EQ_INT(info.left_ticks, 4);
    T_EQ_INT(info.right_ticks, 3);
    free(s);

    /* Empty. */
    check("", NULL, 0,
          "{\"names\":[\"total\"],\"levels\":[[0,0,0,0]],\"numTicks\":0,\"maxSelf\":0}");

    /* JSON strings: escapes and invalid UTF-8. */
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    flamebearer_json_string(out, "a\"b\\c\n\x01 \xc3\xa9 \xff \xed\xa0\x80");
    fclose(out);
    T_EQ_STR(buf, "\"a\\\"b\\\\c\\u000a\\u0001 \xc3\xa9 \\ufffd \\ufffd\\ufffd\\ufffd\"");
    free(buf);

    T_DONE();
}
