/*
 * test_provider_paging.c — the token pager's rules (provider/paging.c):
 * one page without a token, tokens carried forward, and the two ways a
 * broken cloud could make a walk endless. Against a local server it is
 * exercised in test_provider_rest.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/rc.h"
#include "provider/paging.h"

static void walks_until_no_token(void **st)
{
    struct lbp_pager pg;
    const char *answers[] = {"t1", "t2", ""};
    const char *sent[3];
    char seen[3][LBP_PAGE_TOKEN_MAX];
    size_t n = 0;
    lbp_pager_init(&pg, 0);
    while (lbp_pager_next(&pg)) {
        assert_true(n < 3);
        snprintf(seen[n], sizeof(seen[n]), "%s", pg.token);
        sent[n] = seen[n];
        snprintf(pg.next, sizeof(pg.next), "%s", answers[n]);
        n++;
    }
    assert_int_equal(n, 3);
    assert_int_equal(pg.rc, LBP_OK);
    assert_string_equal(sent[0], "");
    assert_string_equal(sent[1], "t1");
    assert_string_equal(sent[2], "t2");
}

static void repeated_token_stops(void **st)
{
    struct lbp_pager pg;
    unsigned n = 0;
    lbp_pager_init(&pg, 0);
    while (lbp_pager_next(&pg)) {
        snprintf(pg.next, sizeof(pg.next), "same");
        n++;
    }
    assert_int_equal(n, 2);
    assert_int_equal(pg.rc, LBP_RETRY);
}

static void page_cap_stops(void **st)
{
    struct lbp_pager pg;
    unsigned n = 0;
    lbp_pager_init(&pg, 5);
    while (lbp_pager_next(&pg)) {
        snprintf(pg.next, sizeof(pg.next), "p%u", n);
        n++;
    }
    assert_int_equal(n, 5);
    assert_int_equal(pg.rc, LBP_RETRY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(walks_until_no_token),
        cmocka_unit_test(repeated_token_stops),
        cmocka_unit_test(page_cap_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
