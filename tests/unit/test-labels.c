/* SPDX-License-Identifier: MIT */
/* test-labels: ingest names and FlameQL selectors. */
#include <stdlib.h>
#include <string.h>

#include "labels.h"
#include "../t.h"

static struct series_key key;
static char err[256];

/* parse_ok() - parse @name and compare app and labels; returns the parser's result. */
static void parse_ok(const char *name, const char *app, const char *labels)
{
    int r = labels_parse_name(name, &key, err, sizeof(err));

    if (r)
        fprintf(stderr, "unexpected error for \"%s\": %s\n", name, err);
    T_EQ_INT(r, 0);
    T_EQ_STR(key.app, app);
    T_EQ_STR(key.labels, labels);
}

static void parse_bad(const char *name, const char *msg_part)
{
    int r = labels_parse_name(name, &key, err, sizeof(err));

    T_EQ_INT(r, LABELS_E_SYNTAX);
    if (!strstr(err, msg_part))
        fprintf(stderr, "\"%s\": error \"%s\" lacks \"%s\"\n", name, err, msg_part);
    T_ASSERT(strstr(err, msg_part) != NULL);
}

static void test_names(void)
{
    char big[8192];

    parse_ok("myapp.cpu", "myapp.cpu", "");
    parse_ok("myapp.cpu{}", "myapp.cpu", "");
    parse_ok("  myapp.cpu  {  }  ", "myapp.cpu", "");
    parse_ok("my-app/v2_x.cpu{env=prod}", "my-app/v2_x.cpu", "env=prod");
    parse_ok("a.cpu{ z = 1 , b.c=two words ,a=}", "a.cpu", "a=,b.c=two words,z=1");
    parse_ok("a.cpu{k=v,}", "a.cpu", "k=v");                 /* trailing comma */
    parse_ok("a.cpu{k=1,k=2}", "a.cpu", "k=2");              /* last wins, as Pyroscope */
    parse_ok("a.cpu{k=x=y{}", "a.cpu", "k=x=y{");            /* values may hold = and { */
    parse_ok("a.cpu{B=1,a=2,_=3,A=4}", "a.cpu", "A=4,B=1,_=3,a=2"); /* bytewise sort */

    parse_bad("", "empty app name");
    parse_bad("   {k=v}", "empty app name");
    parse_bad("my app.cpu", "invalid character ' ' in app name");
    parse_bad("app!.cpu", "invalid character '!'");
    parse_bad("app.cpu{k=v", "missing '}'");
    parse_bad("app.cpu{k}", "expected '='");
    parse_bad("app.cpu{k,j=v}", "expected '='");
    parse_bad("app.cpu{=v}", "empty label name");
    parse_bad("app.cpu{k-1=v}", "invalid character '-' in label name");
    parse_bad("app.cpu{k=v}x", "unexpected text after '}'");
    parse_bad("app.cpu{__name__=x}", "reserved");
    parse_bad("app.cpu{,}", "expected '='");
    parse_bad("app.cpu{k=a\001b}", "control character");
    T_EQ_INT(labels_parse_name("app.cpu{k=v}x", &key, err, sizeof(err)), LABELS_E_SYNTAX);
    T_EQ_STR(err, "at 12: unexpected text after '}'");

    /* LABELS_MAX labels fit, one more does not; duplicates do not count twice. */
    strcpy(big, "a.cpu{");
    for (int i = 0; i < LABELS_MAX; i++)
        sprintf(big + strlen(big), "k%02d=%d,", i, i);
    strcat(big, "k00=again}");
    T_EQ_INT(labels_parse_name(big, &key, err, sizeof(err)), 0);
    T_ASSERT(strncmp(key.labels, "k00=again,k01=1,", 16) == 0);
    big[strlen(big) - 1] = ',';
    strcat(big, "extra=1}");
    parse_bad(big, "more than 30 labels");

    /* Length limits. */
    memset(big, 'a', LABELS_NAME_MAX + 1);
    big[LABELS_NAME_MAX + 1] = '\0';
    parse_bad(big, "app name longer than");
    big[LABELS_NAME_MAX] = '\0';
    T_EQ_INT(labels_parse_name(big, &key, err, sizeof(err)), 0);
    strcpy(big, "a{k=");
    memset(big + 4, 'v', LABELS_VALUE_MAX + 1);
    strcpy(big + 4 + LABELS_VALUE_MAX + 1, "}");
    parse_bad(big, "label value longer than");

    /* A tiny error buffer truncates, never overflows. */
    {
        char small[8];

        T_EQ_INT(labels_parse_name("a b", &key, small, sizeof(small)), LABELS_E_SYNTAX);
        T_EQ_INT(strlen(small), 7);
    }
}

static struct selector *sel_ok(const char *q)
{
    struct selector *s = NULL;
    int r = selector_parse(q, &s, err, sizeof(err));

    if (r)
        fprintf(stderr, "unexpected error for %s: %s\n", q, err);
    T_EQ_INT(r, 0);
    return s;
}

static void sel_bad(const char *q, const char *msg_part)
{
    struct selector *s = (struct selector *)1;
    int r = selector_parse(q, &s, err, sizeof(err));

    T_EQ_INT(r, LABELS_E_SYNTAX);
    T_ASSERT(s == NULL);
    if (!strstr(err, msg_part))
        fprintf(stderr, "%s: error \"%s\" lacks \"%s\"\n", q, err, msg_part);
    T_ASSERT(strstr(err, msg_part) != NULL);
}

static void test_selectors(void)
{
    struct selector *s;

    s = sel_ok("app.cpu");
    T_EQ_STR(selector_app(s), "app.cpu");
    T_ASSERT(selector_match(s, "app.cpu", ""));
    T_ASSERT(selector_match(s, "app.cpu", "env=prod"));
    T_ASSERT(!selector_match(s, "app.cpu2", ""));
    T_ASSERT(!selector_match(s, "app", ""));
    s = selector_free(s);

    s = sel_ok(" app.cpu { } ");
    T_ASSERT(selector_match(s, "app.cpu", "x=1"));
    s = selector_free(s);

    /* = and != ; absent labels read as "". */
    s = sel_ok("app.cpu{env=\"prod\"}");
    T_ASSERT(selector_match(s, "app.cpu", "env=prod"));
    T_ASSERT(selector_match(s, "app.cpu", "a=1,env=prod,z=2"));
    T_ASSERT(!selector_match(s, "app.cpu", "env=production"));
    T_ASSERT(!selector_match(s, "app.cpu", "env=pro"));
    T_ASSERT(!selector_match(s, "app.cpu", "xenv=prod"));
    T_ASSERT(!selector_match(s, "app.cpu", ""));
    s = selector_free(s);

    s = sel_ok("app.cpu{env!=\"prod\"}");
    T_ASSERT(!selector_match(s, "app.cpu", "env=prod"));
    T_ASSERT(selector_match(s, "app.cpu", "env=dev"));
    T_ASSERT(selector_match(s, "app.cpu", "")); /* absent != "prod" */
    s = selector_free(s);

    s = sel_ok("app.cpu{env=\"\"}");
    T_ASSERT(selector_match(s, "app.cpu", "host=a"));
    T_ASSERT(selector_match(s, "app.cpu", "env=,host=a"));
    T_ASSERT(!selector_match(s, "app.cpu", "env=x"));
    s = selector_free(s);

    /* =~ and !~ are anchored at both ends. */
    s = sel_ok("app.cpu{host=~\"web.*\"}");
    T_ASSERT(selector_match(s, "app.cpu", "host=web-1"));
    T_ASSERT(selector_match(s, "app.cpu", "host=web"));
    T_ASSERT(!selector_match(s, "app.cpu", "host=myweb-1"));
    T_ASSERT(!selector_match(s, "app.cpu", ""));
    s = selector_free(s);

    s = sel_ok("app.cpu{host=~\"a|b\"}");
    T_ASSERT(selector_match(s, "app.cpu", "host=a"));
    T_ASSERT(selector_match(s, "app.cpu", "host=b"));
    T_ASSERT(!selector_match(s, "app.cpu", "host=ab"));
    T_ASSERT(!selector_match(s, "app.cpu", "host=xa"));
    s = selector_free(s);

    s = sel_ok("app.cpu{host!~\"web.*\", env = \"prod\" }");
    T_ASSERT(selector_match(s, "app.cpu", "env=prod,host=db-1"));
    T_ASSERT(selector_match(s, "app.cpu", "env=prod"));
    T_ASSERT(!selector_match(s, "app.cpu", "env=prod,host=web-2"));
    T_ASSERT(!selector_match(s, "app.cpu", "env=dev,host=db-1"));
    s = selector_free(s);

    s = sel_ok("app.cpu{env=~\".*\"}"); /* matches absent too */
    T_ASSERT(selector_match(s, "app.cpu", ""));
    s = selector_free(s);
    s = sel_ok("app.cpu{env=~\".+\"}");
    T_ASSERT(!selector_match(s, "app.cpu", ""));
    T_ASSERT(selector_match(s, "app.cpu", "env=x"));
    s = selector_free(s);

    /* Quoting and escapes: \" \\ ; a regex escape must be doubled. */
    s = sel_ok("app.cpu{v=\"a\\\"b\\\\c\"}");
    T_ASSERT(selector_match(s, "app.cpu", "v=a\"b\\c"));
    T_ASSERT(!selector_match(s, "app.cpu", "v=a\\\"b\\c"));
    s = selector_free(s);
    s = sel_ok("app.cpu{v=\"x,}\"}"); /* , and } inside quotes are data */
    T_ASSERT(!selector_match(s, "app.cpu", "v=x"));
    s = selector_free(s);
    s = sel_ok("app.cpu{v=~\"1\\\\.2\"}");
    T_ASSERT(selector_match(s, "app.cpu", "v=1.2"));
    T_ASSERT(!selector_match(s, "app.cpu", "v=1x2"));
    s = selector_free(s);
    s = sel_ok("app.cpu{v=~\"[)(]\"}"); /* parens in a bracket expression do not count */
    T_ASSERT(selector_match(s, "app.cpu", "v=("));
    s = selector_free(s);

    /* Multiple matchers on the same key must all hold. */
    s = sel_ok("app.cpu{v=~\"a.*\",v!=\"ab\"}");
    T_ASSERT(selector_match(s, "app.cpu", "v=ac"));
    T_ASSERT(!selector_match(s, "app.cpu", "v=ab"));
    s = selector_free(s);

    /* Errors, with where and why. */
    sel_bad("", "empty app name");
    sel_bad("{env=\"x\"}", "empty app name");
    sel_bad("app.cpu{env=prod}", "at 12: expected a double-quoted value");
    sel_bad("app.cpu{env=\"prod}", "unterminated string");
    sel_bad("app.cpu{env=\"prod\"", "missing '}'");
    sel_bad("app.cpu{env==\"prod\"}", "expected a double-quoted value");
    sel_bad("app.cpu{env~\"prod\"}", "expected one of = != =~ !~");
    sel_bad("app.cpu{env=\"a\" host=\"b\"}", "expected ',' or '}'");
    sel_bad("app.cpu{env=\"a\",}", "expected a label name after ','");
    sel_bad("app.cpu{=\"a\"}", "expected a label name");
    sel_bad("app.cpu{__name__=\"a\"}", "reserved");
    sel_bad("app.cpu{v=\"a\\qb\"}", "unknown escape '\\q'");
    sel_bad("app.cpu{v=~\"(\"}", "unbalanced '('");
    sel_bad("app.cpu{v=~\"a)|(b\"}", "unbalanced ')'");
    sel_bad("app.cpu{v=~\"[a\"}", "unterminated '['");
    sel_bad("app.cpu{v=~\"a{1\"}", "invalid regex");
    sel_bad("app.cpu{v=~\"*a\"}", "invalid regex");
    sel_bad("app.cpu{v=\"a\"} trailing", "unexpected text after the selector");
    sel_bad("app cpu", "unexpected text after the selector");
    sel_bad("ap$p", "invalid character '$' in app name");
    T_EQ_INT(selector_parse("app.cpu{env=prod}", &s, err, sizeof(err)), LABELS_E_SYNTAX);
    T_EQ_STR(err, "at 12: expected a double-quoted value");

    T_ASSERT(selector_free(NULL) == NULL);
}

/* Regexes that would make glibc's regcomp allocate gigabytes are refused (fuzz-labels found it). */
static void test_regex_limits(void)
{
    static const char bomb[] = "app{a=~\"(a|b)*c[[:alpha:]]+++++++++++++++++++++++++\"}";
    char long_re[400];
    struct selector *s;

    sel_bad(bomb, "regex too complex");
    sel_bad("app{a=~\"x{1000}\"}", "above 100");
    sel_bad("app{a=~\"a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*q*\"}", "at most 16");
    memset(long_re, 'a', sizeof(long_re));
    memcpy(long_re, "app{a=~\"", 8);
    memcpy(long_re + sizeof(long_re) - 3, "\"}", 3);
    sel_bad(long_re, "too long");
    /* Plain characters inside brackets and escapes are not repetitions. */
    s = sel_ok("app{a=~\"[+*?]+x\\\\*y{2,3}\"}");
    T_ASSERT(selector_match(s, "app", "a=+*x*yy"));
    T_ASSERT(!selector_match(s, "app", "a=+*xyy"));
    selector_free(s);
}

int main(void)
{
    test_names();
    test_selectors();
    test_regex_limits();
    T_DONE();
}
