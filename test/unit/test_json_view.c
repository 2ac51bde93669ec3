/*
 * test_json_view.c — the token view: RFC 8259 strictness where jsmn alone
 * is lax (literals, punctuation, control characters, depth, trailing
 * bytes), string decoding (escapes, surrogate pairs, lone surrogates,
 * NUL, bounds), first-duplicate-wins lookups, and token growth from a
 * lent array.
 */
#include "kube/json_view.h"
#include "common/rc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int parse(const char *js)
{
    struct lbp_json_view v;
    lbp_jv_init(&v, NULL, 0);
    int rc = lbp_jv_parse(&v, js, strlen(js));
    lbp_jv_free(&v);
    return rc;
}

static void test_accepts(void **state)
{
    const char *good[] = {
        "{}",
        " [ ] ",
        "{\"a\":1,\"b\":[true,false,null,-0,0.5,1e9,-2.5E-3,12],\"c\":{\"d\":\"e\"}}\r\n",
        "\"just a string\"",
        "42",
        " -1.5e+2\n",
        "null",
        "[\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
        "{\"lone\":\"\\ud800\"}", /* grammatical; refused when decoded */
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (parse(good[i]) != LBP_OK)
            fail_msg("refused: %s", good[i]);
    }
}

/* What jsmn alone (even in strict mode) lets through. */
static void test_refuses(void **state)
{
    const char *bad[] = {
        "",
        "   ",
        "[tru]",
        "[nul]",
        "[truex]",
        "[01]",
        "[1.]",
        "[.5]",
        "[+1]",
        "[-]",
        "[1e]",
        "[0x10]",
        "[NaN]",
        "tru",
        "[1 2]",
        "[1,]",
        "[,1]",
        "[1,,2]",
        "{\"a\" \"b\"}",
        "{\"a\":1 \"b\":2}",
        "{\"a\":1,}",
        "{,}",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":\"b\":1}",
        "{1:2}",
        "{\"a\":1]",
        "[1}",
        "{}}",
        "{} {}",
        "{}x",
        "{\"a\":1}\n,",
        "[\"tab\there\"]",
        "[\"nl\nhere\"]",
        "[\"bad \\x escape\"]",
        "[\"\\u12\"]",
        "[\"open",
        "{\"a\":[1,2}",
        "'single'",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(bad[i]) != LBP_PARSE)
            fail_msg("accepted: %s", bad[i]);
    }
    /* A NUL ends the text jsmn reads: what follows is trailing garbage. */
    struct lbp_json_view v;
    lbp_jv_init(&v, NULL, 0);
    assert_int_equal(lbp_jv_parse(&v, "{\"a\":1}\0 ", 9), LBP_PARSE);
    assert_int_equal(lbp_jv_parse(&v, "{\"a\":\"x\0y\"}", 11), LBP_PARSE);
    assert_int_equal(lbp_jv_parse(&v, NULL, 0), LBP_PARSE);
    lbp_jv_free(&v);
}

static char *nested(int depth)
{
    char *s = malloc((size_t)depth * 2 + 1);
    assert_non_null(s);
    memset(s, '[', (size_t)depth);
    memset(s + depth, ']', (size_t)depth);
    s[depth * 2] = '\0';
    return s;
}

static void test_depth(void **state)
{
    char *s = nested(LBP_JV_DEPTH);
    assert_int_equal(parse(s), LBP_OK);
    free(s);
    s = nested(LBP_JV_DEPTH + 1);
    assert_int_equal(parse(s), LBP_PARSE);
    free(s);
    /* Objects count too. */
    char buf[1024];
    size_t o = 0;
    for (int i = 0; i < LBP_JV_DEPTH + 1; i++, o += 5)
        memcpy(buf + o, "{\"a\":", 5);
    buf[o++] = '1';
    memset(buf + o, '}', LBP_JV_DEPTH + 1);
    o += LBP_JV_DEPTH + 1;
    buf[o] = '\0';
    assert_int_equal(parse(buf), LBP_PARSE);
    /* The same less one level. */
    buf[o - 1] = '\0';
    assert_int_equal(parse(buf + 5), LBP_OK);
}

static void test_strings(void **state)
{
    struct lbp_json_view v;
    char out[16];
    size_t len;
    const char *js =
        "[\"plain\",\"\\u00e9t\\u00E9\",\"\\ud83d\\ude00\",\"\\ud800\",\"\\udc00x\","
        "\"a\\u0000b\",\"\\ud800\\u0041\",\"a\\\"b\\\\c\\/d\\n\",1,\"0123456789abcdef\"]";
    lbp_jv_init(&v, NULL, 0);
    assert_int_equal(lbp_jv_parse(&v, js, strlen(js)), LBP_OK);
    int k = lbp_jv_first(&v, 0);
    assert_int_equal(lbp_jv_str(&v, k, out, sizeof(out), &len), LBP_OK);
    assert_string_equal(out, "plain");
    assert_int_equal(len, 5);

    k = lbp_jv_next(&v, 0, k);
    assert_int_equal(lbp_jv_str(&v, k, NULL, 0, &len), LBP_OK);
    assert_int_equal(len, 5);
    assert_int_equal(lbp_jv_str(&v, k, out, sizeof(out), &len), LBP_OK);
    assert_string_equal(out, "\xc3\xa9t\xc3\xa9");

    k = lbp_jv_next(&v, 0, k); /* a surrogate pair: U+1F600 */
    assert_int_equal(lbp_jv_str(&v, k, out, sizeof(out), &len), LBP_OK);
    assert_string_equal(out, "\xf0\x9f\x98\x80");

    for (int bad = 0; bad < 4; bad++) { /* lone high, lone low, NUL, high + non-low */
        k = lbp_jv_next(&v, 0, k);
        assert_int_equal(lbp_jv_str(&v, k, NULL, 0, &len), LBP_PARSE);
        assert_int_equal(lbp_jv_str(&v, k, out, sizeof(out), &len), LBP_PARSE);
    }

    k = lbp_jv_next(&v, 0, k);
    assert_int_equal(lbp_jv_str(&v, k, out, sizeof(out), &len), LBP_OK);
    assert_string_equal(out, "a\"b\\c/d\n");

    k = lbp_jv_next(&v, 0, k); /* not a string */
    assert_int_equal(lbp_jv_str(&v, k, out, sizeof(out), &len), LBP_PARSE);

    k = lbp_jv_next(&v, 0, k); /* 16 bytes do not fit in 16 with the NUL */
    assert_int_equal(lbp_jv_str(&v, k, out, sizeof(out), &len), LBP_TOOBIG);
    assert_int_equal(lbp_jv_str(&v, k, out, 3, &len), LBP_TOOBIG);
    assert_int_equal(lbp_jv_next(&v, 0, k), -1);
    lbp_jv_free(&v);
}

static void test_lookups(void **state)
{
    struct lbp_json_view v;
    int64_t x;
    const char *js =
        "{\"a\":{\"deep\":[1,2,{\"x\":3}]},\"n\":-7,\"big\":9223372036854775808,"
        "\"f\":1.5,\"e\":1e3,\"t\":true,\"z\":null,\"dup\":\"first\",\"dup\":\"second\","
        "\"\\u006eame\":\"escaped key\"}";
    lbp_jv_init(&v, NULL, 0);
    assert_int_equal(lbp_jv_parse(&v, js, strlen(js)), LBP_OK);
    assert_int_equal(lbp_jv_count(&v, 0), 10);

    /* Skipping "a" lands on "n" whatever "a" holds. */
    int n = lbp_jv_get(&v, 0, "n");
    assert_true(lbp_jv_int(&v, n, -10, 10, &x));
    assert_int_equal(x, -7);
    assert_false(lbp_jv_int(&v, n, 0, 10, &x));
    assert_false(lbp_jv_int(&v, lbp_jv_get(&v, 0, "big"), INT64_MIN, INT64_MAX, &x));
    assert_false(lbp_jv_int(&v, lbp_jv_get(&v, 0, "f"), INT64_MIN, INT64_MAX, &x));
    assert_false(lbp_jv_int(&v, lbp_jv_get(&v, 0, "e"), INT64_MIN, INT64_MAX, &x));
    assert_int_equal(lbp_jv_bool(&v, lbp_jv_get(&v, 0, "t")), 1);
    assert_int_equal(lbp_jv_bool(&v, lbp_jv_get(&v, 0, "z")), -1);
    assert_true(lbp_jv_null(&v, lbp_jv_get(&v, 0, "z")));
    assert_int_equal(lbp_jv_get(&v, 0, "missing"), -1);
    assert_int_equal(lbp_jv_get(&v, n, "n"), -1); /* not an object */

    /* The first of duplicate keys wins. */
    assert_true(lbp_jv_str_eq(&v, lbp_jv_get(&v, 0, "dup"), "first", 5));
    /* Keys compare decoded. */
    assert_true(lbp_jv_str_eq(&v, lbp_jv_get(&v, 0, "name"), "escaped key", 11));

    int a = lbp_jv_get(&v, 0, "a");
    int deep = lbp_jv_get(&v, a, "deep");
    assert_int_equal(lbp_jv_count(&v, deep), 3);
    int e = lbp_jv_first(&v, deep);
    e = lbp_jv_next(&v, deep, lbp_jv_next(&v, deep, e));
    assert_int_equal(lbp_jv_type(&v, e), JSMN_OBJECT);
    assert_true(lbp_jv_int(&v, lbp_jv_get(&v, e, "x"), 0, 9, &x));
    assert_int_equal(x, 3);
    assert_int_equal(lbp_jv_next(&v, deep, e), -1);
    lbp_jv_free(&v);
}

/* A lent array is used as long as it is big enough; a bigger document moves to the heap. */
static void test_growth(void **state)
{
    jsmntok_t fixed[8];
    struct lbp_json_view v;
    lbp_jv_init(&v, fixed, 8);
    assert_int_equal(lbp_jv_parse(&v, "[1,2,3]", 7), LBP_OK);
    assert_ptr_equal(v.tok, fixed);
    char big[4096];
    size_t o = 0;
    big[o++] = '[';
    for (int i = 0; i < 1000; i++)
        o += (size_t)snprintf(big + o, sizeof(big) - o, "%s%d", i ? "," : "", i % 10);
    big[o++] = ']';
    assert_int_equal(lbp_jv_parse(&v, big, o), LBP_OK);
    assert_true(v.tok != fixed);
    assert_int_equal(v.n, 1001);
    assert_int_equal(lbp_jv_count(&v, 0), 1000);
    lbp_jv_trim(&v, 8);
    assert_ptr_equal(v.tok, fixed);
    assert_int_equal(lbp_jv_parse(&v, big, o), LBP_OK);
    lbp_jv_free(&v);
}

static void test_span(void **state)
{
    const char *js = " {\"a\":\"}\\\"\",\"b\":[1,{}]} , 12 ,\"x\\\"y\"]";
    size_t s, e, len = strlen(js);
    assert_int_equal(lbp_jv_value_span(js, len, 0, &s, &e), LBP_OK);
    assert_int_equal(s, 1);
    assert_int_equal(js[e - 1], '}');
    assert_int_equal(js[e], ' ');
    assert_int_equal(lbp_jv_value_span(js, len, e + 2, &s, &e), LBP_OK);
    assert_int_equal(e - s, 2);
    assert_int_equal(lbp_jv_value_span(js, len, e + 2, &s, &e), LBP_OK);
    assert_int_equal(e - s, 6);
    assert_int_equal(lbp_jv_value_span("{\"a\":1", 6, 0, &s, &e), LBP_PARSE);
    assert_int_equal(lbp_jv_value_span("\"abc", 4, 0, &s, &e), LBP_PARSE);
    assert_int_equal(lbp_jv_value_span("   ", 3, 0, &s, &e), LBP_PARSE);
    char *deep = nested(LBP_JV_DEPTH + 1);
    assert_int_equal(lbp_jv_value_span(deep, strlen(deep), 0, &s, &e), LBP_PARSE);
    free(deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts), cmocka_unit_test(test_refuses),
        cmocka_unit_test(test_depth),   cmocka_unit_test(test_strings),
        cmocka_unit_test(test_lookups), cmocka_unit_test(test_growth),
        cmocka_unit_test(test_span),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
