/* test_health.c — heartbeats: idle is never stuck, busy past the bound is, by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/health.h"
#include "common/util.h"

/* Polls lbp_health_check until it returns want (or 2 s pass); the report lands in text. */
static bool check_becomes(bool want, char **text)
{
    uint64_t deadline = lbp_now_ms() + 2000;
    for (;;) {
        struct lbp_buf b;
        lbp_buf_init(&b, 4096);
        bool ok = lbp_health_check(&b);
        free(*text);
        *text = lbp_buf_take(&b, NULL);
        if (ok == want || lbp_now_ms() > deadline)
            return ok == want;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void busy_past_bound_is_stuck(void **state)
{
    char *text = NULL;
    (void)state;
    lbp_health_set_bound_ms(50);
    struct lbp_heartbeat *idle = lbp_heartbeat_new("idle-loop");
    struct lbp_heartbeat *hb = lbp_heartbeat_new("worker-7");
    assert_true(check_becomes(true, &text));

    lbp_heartbeat_busy(hb);
    assert_true(check_becomes(false, &text));
    assert_non_null(strstr(text, "worker-7 busy for"));
    assert_null(strstr(text, "idle-loop"));

    lbp_heartbeat_idle(hb); /* the call returned */
    assert_true(check_becomes(true, &text));

    lbp_heartbeat_busy(hb);
    lbp_heartbeat_free(hb); /* a loop that ended is not reported */
    assert_true(check_becomes(true, &text));
    lbp_heartbeat_free(idle);
    lbp_heartbeat_free(NULL);
    free(text);
}

static void default_bound_is_generous(void **state)
{
    (void)state;
    lbp_health_set_bound_ms(0);
    assert_int_equal(lbp_health_bound_ms(), LBP_HEALTH_DEFAULT_BOUND_MS);
    struct lbp_heartbeat *hb = lbp_heartbeat_new("worker-0");
    struct lbp_buf b;
    lbp_heartbeat_busy(hb);
    lbp_buf_init(&b, 4096);
    assert_true(lbp_health_check(&b));
    lbp_buf_free(&b);
    lbp_heartbeat_free(hb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(busy_past_bound_is_stuck),
        cmocka_unit_test(default_bound_is_generous),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
