/* test_kube_lines.c — the watch-stream line splitter in kube/lines.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "kube/kube_int.h"

/* Collects delivered lines joined by '|' so a test compares one string. */
struct sink {
    char out[4096];
    size_t n;
    int stop_after; /* stop the stream after this many lines; 0: never */
};

static int collect(void *ctx, const char *line, size_t len)
{
    struct sink *s = ctx;
    assert_int_equal(strlen(line), len); /* NUL-terminated at len */
    size_t used = strlen(s->out);
    snprintf(s->out + used, sizeof(s->out) - used, "%s%.*s", s->n ? "|" : "", (int)len, line);
    s->n++;
    if (s->stop_after && s->n == (size_t)s->stop_after)
        return 42;
    return 0;
}

static int feed(struct lbp_line_splitter *sp, struct sink *s, const char *data)
{
    return lbp_line_splitter_feed(sp, data, strlen(data), collect, s);
}

/* One chunk fed whole: what it delivers and what feed returns. */
static void whole_chunks(void **state)
{
    static const struct {
        const char *in, *out;
        size_t n;
        int stop_after, rc;
    } cases[] = {
        /* many lines in one chunk */
        {"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n", "{\"a\":1}|{\"b\":2}|{\"c\":3}", 3, 0, LBP_OK},
        /* the final line needs its newline; the held fragment is freed (ASan checks) */
        {"one\ntwo", "one", 1, 0, LBP_OK},
        /* garbage is still a line */
        {"not json at all }{\n{\"ok\":true}\n", "not json at all }{|{\"ok\":true}", 2, 0, LBP_OK},
        /* the callback's non-zero return stops the stream and is returned */
        {"a\nb\nc\n", "a|b", 2, 2, 42},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lbp_line_splitter sp;
        struct sink s = {.stop_after = cases[i].stop_after};
        lbp_line_splitter_init(&sp, 64);
        assert_int_equal(feed(&sp, &s, cases[i].in), cases[i].rc);
        assert_string_equal(s.out, cases[i].out);
        assert_int_equal(s.n, cases[i].n);
        lbp_line_splitter_free(&sp);
    }
}

static void line_split_across_chunks(void **state)
{
    struct lbp_line_splitter sp;
    struct sink s = {0};
    lbp_line_splitter_init(&sp, 64);
    assert_int_equal(feed(&sp, &s, "{\"type\":\"ADD"), LBP_OK);
    assert_int_equal(s.n, 0);
    assert_int_equal(feed(&sp, &s, "ED\"}\n{\"ty"), LBP_OK);
    assert_string_equal(s.out, "{\"type\":\"ADDED\"}");
    assert_int_equal(feed(&sp, &s, "pe\":\"X\"}\n"), LBP_OK);
    assert_string_equal(s.out, "{\"type\":\"ADDED\"}|{\"type\":\"X\"}");
    lbp_line_splitter_free(&sp);
}

static void byte_at_a_time(void **state)
{
    const char *text = "alpha\r\nbeta\n\ngamma\ndelta-unfinished";
    struct lbp_line_splitter sp;
    struct sink s = {0};
    lbp_line_splitter_init(&sp, 16);
    for (const char *p = text; *p; p++)
        assert_int_equal(lbp_line_splitter_feed(&sp, p, 1, collect, &s), LBP_OK);
    /* CRLF tolerated, empty line skipped, the unterminated tail is held back. */
    assert_string_equal(s.out, "alpha|beta|gamma");
    assert_int_equal(s.n, 3);
    assert_int_equal(feed(&sp, &s, "\n"), LBP_OK);
    assert_string_equal(s.out, "alpha|beta|gamma|delta-unfinished");
    lbp_line_splitter_free(&sp);
}

static void overlong_line_dropped_and_resynced(void **state)
{
    struct lbp_line_splitter sp;
    struct sink s = {0};
    lbp_line_splitter_init(&sp, 8);
    /* Exactly at the cap is fine. */
    assert_int_equal(feed(&sp, &s, "12345678\n"), LBP_OK);
    /* Over the cap inside one chunk: dropped, the next line survives. */
    assert_int_equal(feed(&sp, &s, "123456789\nok\n"), LBP_TOOBIG);
    assert_int_equal(sp.overlong, 1);
    /* Over the cap across chunks: the rest of it is skipped up to the newline. */
    assert_int_equal(feed(&sp, &s, "abcdef"), LBP_OK);
    assert_int_equal(feed(&sp, &s, "ghijk"), LBP_TOOBIG);
    assert_true(sp.skipping);
    assert_int_equal(feed(&sp, &s, "lmnopqrstuvwxyz"), LBP_OK);
    assert_int_equal(feed(&sp, &s, "zz\nafter\n"), LBP_OK);
    assert_false(sp.skipping);
    assert_int_equal(sp.overlong, 2);
    assert_string_equal(s.out, "12345678|ok|after");
    lbp_line_splitter_free(&sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_chunks),
        cmocka_unit_test(line_split_across_chunks),
        cmocka_unit_test(byte_at_a_time),
        cmocka_unit_test(overlong_line_dropped_and_resynced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
