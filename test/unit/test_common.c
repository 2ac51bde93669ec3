/* test_common.c — the bounded buffer (and its JSON strings), backoff and time parsing in common/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    /* Early years keep four digits, so what is written parses back (found by fuzzing). */
    assert_int_equal(lbp_parse_rfc3339("0070-01-02T03:04:50.1+01:30", &t), LBP_OK);
    lbp_rfc3339(t, out);
    assert_string_equal(out, "0070-01-02T01:34:50Z");
    lbp_rfc3339(-62167219200LL - 86400, out);
    assert_string_equal(out, "0000-01-01T00:00:00Z");
    lbp_rfc3339(253402300800LL, out);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
}

/* Parses a heap copy of exactly strlen(s)+1 bytes, so ASan sees any read past the NUL. */
static int parse_exact(const char *s, int64_t *t)
{
    char *c = strdup(s);
    assert_non_null(c);
    int rc = lbp_parse_rfc3339(c, t);
    free(c);
    return rc;
}

static void rfc3339_rejects_malformed(void **state)
{
    static const char *const bad[] = {
        "2026-11-26T10:00:00+1:2",
        "2026-11-26T10:00:00+01:2",
        "2026-11-26T10:00:00+1:02",
        "2026-11-26T10:00:00+01:",
        "2026-11-26T10:00:00+01",
        "2026-11-26T10:00:00+0100",
        "2026-11-26T10:00:00-",
        "2026-11-26T10:00:00+",
        "2026-11-26T10:00:00+24:00",
        "2026-11-26T10:00:00+01:60",
        "2026-11-26T10:00:00+01:00x",
        "2026-11-26T10:00:00.Z",
        "2026-11-26T10:00:00.",
        "2026-11-26T10:00:00ZZ",
        "2026-11-26T10:00:00 Z",
        "2026-13-26T10:00:00Z",
        "2026-00-26T10:00:00Z",
        "2026-11-00T10:00:00Z",
        "2026-11-31T10:00:00Z",
        "2026-02-29T10:00:00Z",
        "2026-11-26T24:00:00Z",
        "2026-11-26T10:60:00Z",
        "2026-11-26T10:00:61Z",
        "2026-11-26 10:00:00Z",
        "26-11-26T10:00:00Z",
        "2026-1-26T10:00:00Z",
        "2026-11-26T1:00:00Z",
        "+2026-11-26T10:00:00Z",
        "2026-11-26T10:00Z",
        "2026/11/26T10:00:00Z",
        "2026-11-26T10:00:00+01:00:00",
        "",
        "Z",
    };
    int64_t t = 42;
    (void)state;
    for (size_t i = 0; i < LBP_ARRAY_LEN(bad); i++) {
        if (parse_exact(bad[i], &t) != LBP_PARSE)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(t, 42); /* untouched on error */
    }
    /* Every proper prefix of valid strings: each ends at a different position. */
    static const char *const good[] = {"2026-11-26T11:00:00.123456+01:00",
                                       "2026-11-26T10:00:00-00:30", "2026-11-26T10:00:00Z"};
    for (size_t g = 0; g < LBP_ARRAY_LEN(good); g++) {
        size_t n = strlen(good[g]);
        for (size_t len = 0; len < n; len++) {
            char *c = strndup(good[g], len); /* exactly len + 1 bytes */
            assert_non_null(c);
            if (lbp_parse_rfc3339(c, &t) != LBP_PARSE)
                fail_msg("accepted the prefix \"%s\"", c);
            free(c);
        }
        assert_int_equal(parse_exact(good[g], &t), LBP_OK);
    }
    assert_int_equal(lbp_parse_rfc3339(NULL, &t), LBP_PARSE);
}

static void rfc3339_matches_timegm(void **state)
{
    int64_t t;
    char s[48];
    (void)state;
    /* Leap days, century rules, month ends, offsets both ways, year 0 and 9999. */
    static const struct {
        const char *s;
        int64_t want;
    } fixed[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01t00:00:00z", 0},
        {"2000-02-29T12:00:00Z", 951825600},
        {"2100-03-01T00:00:00Z", 4107542400},
        {"1969-12-31T23:59:59Z", -1},
        {"2026-11-26T10:00:00-00:30", 1795689000},
        {"2026-11-26T10:00:00+23:59", 1795600860},
        {"2016-12-31T23:59:60Z", 1483228800},
        {"0000-01-01T00:00:00Z", -62167219200},
        {"9999-12-31T23:59:59Z", 253402300799},
    };
    for (size_t i = 0; i < LBP_ARRAY_LEN(fixed); i++) {
        assert_int_equal(parse_exact(fixed[i].s, &t), LBP_OK);
        if (t != fixed[i].want)
            fail_msg("%s: got %lld, want %lld", fixed[i].s, (long long)t, (long long)fixed[i].want);
    }
    /* Against the C library over every day of four centuries' worth of sampled years. */
    for (int y = 1800; y <= 2400; y += 7)
        for (int m = 1; m <= 12; m++)
            for (int d = 1; d <= 31; d++) {
                struct tm tm = {.tm_year = y - 1900,
                                .tm_mon = m - 1,
                                .tm_mday = d,
                                .tm_hour = d % 24,
                                .tm_min = m * 4,
                                .tm_sec = y % 60};
                time_t want = timegm(&tm);
                snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d.5Z", y, m, d, d % 24, m * 4,
                         y % 60);
                int rc = lbp_parse_rfc3339(s, &t);
                if (tm.tm_mday != d) { /* timegm normalised an impossible date */
                    assert_int_equal(rc, LBP_PARSE);
                    continue;
                }
                assert_int_equal(rc, LBP_OK);
                if (t != (int64_t)want)
                    fail_msg("%s: got %lld, timegm %lld", s, (long long)t, (long long)want);
            }
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
        cmocka_unit_test(buf_respects_cap),       cmocka_unit_test(buf_json_str_matches_json_c),
        cmocka_unit_test(buf_addf_long),          cmocka_unit_test(backoff_doubles_and_caps),
        cmocka_unit_test(rfc3339_round_trip),     cmocka_unit_test(rfc3339_rejects_malformed),
        cmocka_unit_test(rfc3339_matches_timegm), cmocka_unit_test(parse_long_checks_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
