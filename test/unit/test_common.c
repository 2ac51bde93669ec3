/* test_common.c — the bounded buffer (and its JSON strings), backoff and time parsing in common/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/rc.h"
#include "common/util.h"

/* The hand-written JSON string is byte for byte what json-c writes, and reads back. */
static void buf_json_str_matches_json_c(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "",     "plain", "a\"b\\c", "line\nbreak\r\ttab\b\f", "\x01\x1f ctl\x7f", "k8s.io/x é ✓",
        "\"\"", "end\\",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lbp_buf b;
        lbp_buf_init(&b, 1024);
        assert_int_equal(lbp_buf_add_json_str(&b, cases[i]), LBP_OK);
        struct json_object *o = json_object_new_string(cases[i]);
        assert_string_equal(b.data,
                            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        o = json_tokener_parse(b.data);
        assert_non_null(o);
        assert_string_equal(json_object_get_string(o), cases[i]);
        json_object_put(o);
        lbp_buf_free(&b);
    }
    /* The cap holds for the escaped form. */
    struct lbp_buf b;
    lbp_buf_init(&b, 8);
    assert_int_equal(lbp_buf_add_json_str(&b, "\n\n\n\n"), LBP_TOOBIG);
    lbp_buf_free(&b);
}

static void buf_respects_cap(void **state)
{
    struct lbp_buf b;
    lbp_buf_init(&b, 8);
    assert_int_equal(lbp_buf_adds(&b, "12345"), LBP_OK);
    assert_int_equal(lbp_buf_adds(&b, "678"), LBP_OK);
    assert_int_equal(lbp_buf_adds(&b, "9"), LBP_TOOBIG);
    assert_string_equal(b.data, "12345678");
    lbp_buf_consume(&b, 3);
    assert_string_equal(b.data, "45678");
    assert_int_equal(lbp_buf_addf(&b, "%d", 123), LBP_OK);
    assert_string_equal(b.data, "45678123");
    size_t n;
    char *s = lbp_buf_take(&b, &n);
    assert_int_equal(n, 8);
    assert_null(b.data);
    free(s);
}

static void buf_addf_long(void **state)
{
    struct lbp_buf b;
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    lbp_buf_init(&b, 4096);
    assert_int_equal(lbp_buf_addf(&b, "<%s>", big), LBP_OK);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.data[1000], '>');
    lbp_buf_free(&b);
}

static void backoff_doubles_and_caps(void **state)
{
    assert_int_equal(lbp_backoff_ms(5000, 300000, 0), 5000);
    assert_int_equal(lbp_backoff_ms(5000, 300000, 1), 10000);
    assert_int_equal(lbp_backoff_ms(5000, 300000, 5), 160000);
    assert_int_equal(lbp_backoff_ms(5000, 300000, 6), 300000);
    assert_int_equal(lbp_backoff_ms(5000, 300000, 200), 300000);
    for (int i = 0; i < 100; i++) {
        uint64_t j = lbp_jitter_ms(1000, 0.2);
        assert_true(j >= 800 && j <= 1200);
    }
}

static void rfc3339_round_trip(void **state)
{
    int64_t t;
    char out[32];
    assert_int_equal(lbp_parse_rfc3339("2026-11-26T10:00:00Z", &t), LBP_OK);
    lbp_rfc3339(t, out);
    assert_string_equal(out, "2026-11-26T10:00:00Z");
    assert_int_equal(lbp_parse_rfc3339("2026-11-26T11:00:00.123456+01:00", &t), LBP_OK);
    lbp_rfc3339(t, out);
    assert_string_equal(out, "2026-11-26T10:00:00Z");
    assert_int_equal(lbp_parse_rfc3339("yesterday", &t), LBP_PARSE);
    assert_int_equal(lbp_parse_rfc3339("2026-11-26T10:00:00", &t), LBP_PARSE);
}

static void parse_long_checks_everything(void **state)
{
    long v;
    assert_int_equal(lbp_parse_long("42", 0, 100, &v), LBP_OK);
    assert_int_equal(v, 42);
    assert_int_equal(lbp_parse_long("42x", 0, 100, &v), LBP_PARSE);
    assert_int_equal(lbp_parse_long("101", 0, 100, &v), LBP_PARSE);
    assert_int_equal(lbp_parse_long("", 0, 100, &v), LBP_PARSE);
    assert_int_equal(lbp_parse_long(NULL, 0, 100, &v), LBP_PARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_respects_cap),   cmocka_unit_test(buf_json_str_matches_json_c),
        cmocka_unit_test(buf_addf_long),      cmocka_unit_test(backoff_doubles_and_caps),
        cmocka_unit_test(rfc3339_round_trip), cmocka_unit_test(parse_long_checks_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
